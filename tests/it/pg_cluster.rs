//! A throwaway PostgreSQL cluster on a free loopback port, made with the machine's own
//! PostgreSQL binaries: for tests that stop and start the database, which must never
//! touch the machine's shared server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::helpers::{free_port, services};

pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    /// The network namespace the server runs in (its 127.0.0.1), if not the host's.
    namespace: Option<String>,
    _root: tempfile::TempDir,
}

/// The newest PostgreSQL's binaries; None (after saying so) when none is installed.
fn postgres_bin() -> Option<PathBuf> {
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    let newest = versions.pop();
    if newest.is_none() {
        services::missing(
            "PostgreSQL's server binaries",
            "no initdb under /usr/lib/postgresql/*/bin",
        );
    }
    newest
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

impl PgCluster {
    /// initdb and start; trust authentication, listening on 127.0.0.1 only. None when
    /// PostgreSQL is not installed and services are not required (a skip).
    pub fn start() -> Option<Self> {
        Self::start_with(None, None)
    }

    /// initdb and start on loopback with TCP logins by `scram-sha-256` password (the unix
    /// socket trusts, for [`Self::psql`]): the machine's own PostgreSQL trusts every
    /// password, so a login test needs its own.
    pub fn start_with_passwords() -> Option<Self> {
        Self::start_with(
            None,
            Some("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"),
        )
    }

    /// initdb and start inside network namespace `namespace` (listening on its own
    /// 127.0.0.1: reachable from there only), with TCP logins by `scram-sha-256`
    /// password; the unix socket (in the data dir) trusts, for [`Self::psql`].
    pub fn start_in_namespace(namespace: &str) -> Option<Self> {
        Self::start_with(
            Some(namespace.to_owned()),
            Some("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"),
        )
    }

    fn start_with(namespace: Option<String>, hba: Option<&str>) -> Option<Self> {
        let bin = postgres_bin()?;
        let root = tempfile::Builder::new()
            .prefix("dsconn-pg-")
            .tempdir()
            .expect("temp dir");
        let data = root.path().join("data");
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
        if let Some(hba) = hba {
            std::fs::write(data.join("pg_hba.conf"), hba).expect("pg_hba.conf");
        }
        let cluster = Self {
            bin,
            data,
            port: free_port(),
            namespace,
            _root: root,
        };
        cluster.start_server();
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c log_connections=on",
            self.port,
            self.data.display()
        );
        let mut pg_ctl = match &self.namespace {
            // `ip netns exec` runs runuser, which runs pg_ctl, whose server stays there.
            Some(namespace) => {
                let mut wrapped = Command::new("ip");
                wrapped.args(["netns", "exec", namespace]);
                let inner = as_postgres(&self.bin.join("pg_ctl"));
                wrapped.arg(inner.get_program()).args(inner.get_args());
                wrapped
            }
            None => as_postgres(&self.bin.join("pg_ctl")),
        };
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-w", "-t", "30", "-l"])
            .arg(self.data.join("server.log"))
            .arg("start");
        run(pg_ctl, "pg_ctl start");
    }

    /// Stops the server: connections are cut, as in an outage.
    pub fn stop_server(&self) {
        let mut pg_ctl = as_postgres(&self.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "30", "stop"]);
        run(pg_ctl, "pg_ctl stop");
    }
}

impl PgCluster {
    /// Runs `sql` as the superuser over the unix socket (no network, whatever the
    /// namespace); panics with psql's message when it fails.
    pub fn psql(&self, database: &str, sql: &str) {
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
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql]);
        run(psql, "psql");
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
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
        std::thread::sleep(Duration::from_millis(50));
    }
}
