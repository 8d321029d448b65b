//! Real servers for the credentialed stages' tests, all on loopback: a private
//! PostgreSQL cluster (md5 and SCRAM users, TLS with a certificate made here, every
//! connection logged), and the machine's MariaDB. Each test makes its own users and
//! databases and removes them on drop, also when it fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

use super::{Engine, Secret, SessionRequest, SessionStage, SessionStageReport, SessionVerdict};
use crate::domain::PrivilegeRequest;

/// Set to 1 (scripts/test does) to make a missing service a failure instead of a skip.
const REQUIRE_SERVICES: &str = "DSCONN_REQUIRE_SERVICES";

pub(super) fn missing_service(what: &str, why: &str) {
    assert!(
        std::env::var(REQUIRE_SERVICES).as_deref() != Ok("1"),
        "{what} is needed and not available ({why}); {REQUIRE_SERVICES}=1 is set, so this is \
         a failure, not a skip"
    );
    eprintln!(
        "SKIPPED: {what} is not available ({why}); {REQUIRE_SERVICES}=1 makes this a failure"
    );
}

/// A CA and a certificate it issued for `localhost` and 127.0.0.1.
pub(super) struct TestPki {
    pub(super) ca_pem: String,
    pub(super) server_pem: String,
    pub(super) server_key_pem: String,
    /// When the server certificate expires: 1 January of next year.
    pub(super) not_after: chrono::NaiveDate,
}

impl TestPki {
    /// A TLS server's configuration with the server certificate (for "localhost" and
    /// 127.0.0.1) and its key.
    pub(super) fn server_config(&self) -> rustls::ServerConfig {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let chain = vec![CertificateDer::from_pem_slice(self.server_pem.as_bytes()).expect("cert")];
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("key");
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config")
    }
}

pub(super) fn test_pki(ca_name: &str) -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params
        .distinguished_name
        .push(DnType::CommonName, "dsconn test server");
    let next_year = chrono::Datelike::year(&chrono::Utc::now()) + 1;
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(next_year, 1, 1);
    let key = KeyPair::generate().expect("server key");
    let server = params
        .signed_by(&key, &ca, &ca_key)
        .expect("server certificate");
    TestPki {
        ca_pem: ca.pem(),
        server_pem: server.pem(),
        server_key_pem: key.serialize_pem(),
        not_after: chrono::NaiveDate::from_ymd_opt(next_year, 1, 1).expect("date"),
    }
}

/// A throwaway PostgreSQL cluster on a free loopback port: `postgres` trusted, the
/// user `md5_app` by md5, every other user by SCRAM-SHA-256; TLS on with a certificate
/// of [`TestPki`]; `log_connections=on` into `server.log`. Stopped and removed on drop.
pub(super) struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    pub(super) port: u16,
    pub(super) pki: TestPki,
    _root: tempfile::TempDir,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user.
fn as_postgres(program: &Path) -> Command {
    if nix::unistd::geteuid().is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

const PG_HBA: &str = "local all all trust\n\
                      host all postgres 127.0.0.1/32 trust\n\
                      host all md5_app 127.0.0.1/32 md5\n\
                      host all all 127.0.0.1/32 scram-sha-256\n";

impl PgCluster {
    /// None (a skip, said on stderr) when PostgreSQL's binaries are missing and services
    /// are not required.
    pub(super) fn start() -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            missing_service(
                "PostgreSQL's server binaries",
                "no initdb under /usr/lib/postgresql/*/bin",
            );
            return None;
        };
        let root = tempfile::Builder::new()
            .prefix("dsconn-session-pg-")
            .tempdir()
            .expect("temp dir");
        let data = root.path().join("data");
        let pki = test_pki("dsconn test CA");
        std::fs::write(root.path().join("server.crt"), &pki.server_pem).expect("cert");
        std::fs::write(root.path().join("server.key"), &pki.server_key_pem).expect("key");
        std::fs::write(root.path().join("pg_hba.conf"), PG_HBA).expect("pg_hba");
        let status = Command::new("chmod")
            .arg("600")
            .arg(root.path().join("server.key"))
            .status()
            .expect("chmod runs");
        assert!(status.success(), "chmod of the key");
        if nix::unistd::geteuid().is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(root.path())
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown of the cluster dir");
        }
        let mut initdb = as_postgres(&bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        run(initdb, "initdb");
        let cluster = Self {
            bin,
            log: root.path().join("server.log"),
            data,
            port: free_port(),
            pki,
            _root: root,
        };
        let dir = cluster
            .data
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off -c ssl=on \
             -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key \
             -c hba_file={dir}/pg_hba.conf -c log_connections=on",
            port = cluster.port,
            data = cluster.data.display(),
            dir = dir.display(),
        );
        let mut pg_ctl = as_postgres(&cluster.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&cluster.data)
            .args(["-o", &options, "-w", "-t", "30", "-l"])
            .arg(&cluster.log)
            .arg("start");
        run(pg_ctl, "pg_ctl start");
        Some(cluster)
    }

    pub(super) fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Runs SQL as the superuser with psql over the cluster's socket.
    pub(super) fn sql(&self, database: &str, sql: &str) {
        let mut psql = as_postgres(&self.bin.join("psql"));
        psql.arg("-h")
            .arg(&self.data)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql]);
        run(psql, "psql");
    }

    /// The server's log so far.
    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 5 s) until `line` occurs `count` times in the log, then returns how
    /// often it occurs; the server writes the log a little after the client is told.
    pub(super) async fn count_in_log(&self, line: &str, count: usize) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = self.log().matches(line).count();
            if found >= count || tokio::time::Instant::now() > deadline {
                // A moment more, so a line too many would be seen.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return self.log().matches(line).count();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut pg_ctl = as_postgres(&self.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", "10", "stop"]);
        let _ = pg_ctl.output();
    }
}

/// A request with the usual test settings.
pub(super) fn request(
    engine: Engine,
    address: SocketAddr,
    user: &str,
    password: &str,
    database: Option<&str>,
    privileges: &[&str],
) -> SessionRequest {
    SessionRequest {
        engine,
        address,
        server_name: "localhost".to_owned(),
        user: user.to_owned(),
        password: Secret::new(password.to_owned()),
        database: database.map(str::to_owned),
        privileges: privileges
            .iter()
            .map(|text| PrivilegeRequest::parse(text).expect("privilege"))
            .collect(),
        ca_pem: None,
        timeout: Duration::from_secs(10),
    }
}

/// The report of `stage`; fails the test naming every report when absent.
pub(super) fn stage(reports: &[SessionStageReport], stage: SessionStage) -> &SessionStageReport {
    reports
        .iter()
        .find(|report| report.stage == stage)
        .unwrap_or_else(|| panic!("no {stage} stage in {reports:#?}"))
}

/// Runs the check and asserts its stages, in order, as `stage:VERDICT` words
/// ("login:PASSED query:PASSED"); answers the reports.
pub(super) async fn checked(request: &SessionRequest, expected: &str) -> Vec<SessionStageReport> {
    let reports = super::check_session(request).await;
    assert_eq!(
        shape(&reports).join(" "),
        expected,
        "{}: {reports:#?}",
        request.user
    );
    reports
}

/// The message of a stage that PASSED (asserted).
pub(super) fn passed(reports: &[SessionStageReport], which: SessionStage) -> String {
    assert_stage(reports, which, SessionVerdict::Passed, "")
}

/// The message of a stage that FAILED for this reason (asserted).
pub(super) fn failed(reports: &[SessionStageReport], which: SessionStage, reason: &str) -> String {
    assert_stage(reports, which, SessionVerdict::Failed, reason)
}

/// The message of a stage SKIPPED for this reason (asserted).
pub(super) fn skipped(reports: &[SessionStageReport], which: SessionStage, reason: &str) -> String {
    assert_stage(reports, which, SessionVerdict::Skipped, reason)
}

/// Asserts a stage's verdict and reason, showing every report when they differ.
pub(super) fn assert_stage(
    reports: &[SessionStageReport],
    which: SessionStage,
    verdict: SessionVerdict,
    reason: &str,
) -> String {
    let report = stage(reports, which);
    assert_eq!(
        (report.verdict, report.reason),
        (verdict, reason),
        "{which}: {reports:#?}"
    );
    report.message.clone()
}

/// The stages in order, as `stage:VERDICT` pairs.
pub(super) fn shape(reports: &[SessionStageReport]) -> Vec<String> {
    reports
        .iter()
        .map(|report| format!("{}:{}", report.stage, report.verdict))
        .collect()
}

/// The password in no message and no Debug output, of the reports or the request.
pub(super) fn assert_no_secret(
    reports: &[SessionStageReport],
    request: &SessionRequest,
    password: &str,
) {
    let everything = format!("{reports:?} {reports:#?} {request:?} {request:#?}");
    assert!(
        !everything.contains(password),
        "the password leaked: {everything}"
    );
    for report in reports {
        assert!(!report.message.contains(password), "{report:?}");
    }
}
