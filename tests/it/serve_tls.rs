//! `dsconn serve --tls-cert/--tls-key`: the CLI and an agent trusting the test's CA with
//! `--ca-cert`/`DSCONN_CA_CERT`, a clear error without it, no answer to plain HTTP, and
//! a client that never starts its handshake dropped after the header read timeout.

use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{dsconn, run, stderr, stdout};
use crate::helpers::ServerProcess;
use crate::helpers::agent::{AgentProcess, AgentSpec};

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost, as PEM files.
pub struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn new() -> Self {
        Self::for_names(&["127.0.0.1", "localhost"])
    }

    /// A CA and a server certificate for `names` (host names or IP addresses).
    pub fn for_names(names: &[&str]) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dsconn test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server = rcgen::CertificateParams::new(
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>(),
        )
        .expect("server")
        .signed_by(&server_key, &ca, &ca_key)
        .expect("server certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, pem: String| std::fs::write(dir.path().join(name), pem);
        write("ca.pem", ca.pem()).expect("ca.pem");
        write("server.pem", server.pem()).expect("server.pem");
        write("server.key", server_key.serialize_pem()).expect("server.key");
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A reqwest client that trusts only the test CA.
    fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(self.ca()).expect("ca.pem");
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA"))
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    }
}

/// `dsconn serve` with TLS on a free loopback port, a data dir and `extra` flags.
struct TlsServer {
    process: ServerProcess,
    certificates: Certificates,
    _data: tempfile::TempDir,
}

impl TlsServer {
    fn start(extra: &[&str]) -> Self {
        let certificates = Certificates::new();
        let data = tempfile::tempdir().expect("temp dir");
        let (cert, key) = (
            certificates.path("server.pem"),
            certificates.path("server.key"),
        );
        let mut args: Vec<&OsStr> = vec![
            "--data-dir".as_ref(),
            data.path().as_os_str(),
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        Self {
            process: ServerProcess::start(&args),
            certificates,
            _data: data,
        }
    }

    fn address(&self) -> SocketAddr {
        self.process.address
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.address())
    }

    async fn healthy(&self) -> bool {
        let response = self
            .certificates
            .client()
            .get(format!("{}/healthz", self.endpoint()))
            .send()
            .await;
        matches!(response, Ok(response) if response.status() == 200)
    }
}

/// Everything the server sends to one raw TCP connection until it closes it (or 10 s
/// pass), and how long that took; `request` is sent first.
fn raw_exchange(address: SocketAddr, request: &[u8]) -> (Vec<u8>, Duration) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream.write_all(request).expect("sent");
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
    (received, started.elapsed())
}

#[tokio::test]
async fn the_cli_reaches_a_tls_server_with_its_ca_and_says_what_to_do_without_it() {
    let data = tempfile::tempdir().expect("temp dir");
    let token = crate::helpers::cli_token(data.path());
    let certificates = Certificates::new();
    let (cert, key) = (
        certificates.path("server.pem"),
        certificates.path("server.key"),
    );
    let server = ServerProcess::start(&[
        "--data-dir".as_ref(),
        data.path().as_os_str(),
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        key.as_os_str(),
        "--queue".as_ref(),
        "q_tls".as_ref(),
    ]);
    let home = tempfile::tempdir().expect("temp dir");
    let queue_list = |endpoint: String, ca_cert: Option<&Path>| {
        let mut command = dsconn(home.path());
        command
            .env_remove("DSCONN_CA_CERT")
            .args(["queue", "list", "--output", "json", "--endpoint", &endpoint])
            .args([
                "--project",
                &crate::helpers::new_project(),
                "--token",
                &token,
            ]);
        if let Some(ca_cert) = ca_cert {
            command.arg("--ca-cert").arg(ca_cert);
        }
        run(command)
    };

    let listed = queue_list(
        format!("https://{}", server.address),
        Some(&certificates.ca()),
    )
    .await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    let queues: Value = serde_json::from_str(&stdout(&listed)).expect("json");
    assert!(queues.to_string().contains("q_tls"), "{queues}");
    // The certificate names localhost too.
    let port = server.address.port();
    let by_name = queue_list(
        format!("https://localhost:{port}"),
        Some(&certificates.ca()),
    )
    .await;
    assert!(by_name.status.success(), "{}", stderr(&by_name));

    let untrusted = queue_list(format!("https://{}", server.address), None).await;
    assert_eq!(untrusted.status.code(), Some(2), "{}", stderr(&untrusted));
    let message = stderr(&untrusted);
    assert!(
        message.contains("is not trusted")
            && message.contains("pass the CA with --ca-cert or DSCONN_CA_CERT"),
        "{message}"
    );

    let missing = certificates.path("missing.pem");
    let unreadable = queue_list(format!("https://{}", server.address), Some(&missing)).await;
    assert_eq!(unreadable.status.code(), Some(2), "{}", stderr(&unreadable));
    assert!(
        stderr(&unreadable).contains("cannot read the CA file"),
        "{}",
        stderr(&unreadable)
    );
}

#[tokio::test]
async fn plain_http_gets_no_answer_and_a_silent_client_is_dropped_after_the_header_timeout() {
    // One connection per client: a connection whose slot were never given back would
    // keep every later one out.
    let server = TlsServer::start(&[
        "--auth",
        "none",
        "--header-read-timeout",
        "1s",
        "--max-connections-per-client",
        "1",
    ]);
    assert!(server.healthy().await, "HTTPS answers");
    let address = server.address();

    let (answer, _) = tokio::task::spawn_blocking(move || {
        raw_exchange(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    })
    .await
    .expect("joined");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&answer)
    );

    // The one slot of this address is given back when the server has seen the last
    // connection close, which can take a moment on a loaded machine: until then a new
    // connection is refused at once. Such a refusal is retried; a slow drop is not.
    let mut attempts = 0;
    let (answer, held) = loop {
        let (answer, held) = tokio::task::spawn_blocking(move || raw_exchange(address, b""))
            .await
            .expect("joined");
        attempts += 1;
        if held >= Duration::from_millis(100) || attempts == 50 {
            break (answer, held);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(answer.is_empty(), "{answer:?}");
    assert!(
        held >= Duration::from_millis(500) && held < Duration::from_secs(5),
        "a silent client was dropped after {held:?}, not after about 1 s"
    );
    assert!(server.healthy().await, "the slot was given back");
}

#[tokio::test]
async fn an_agent_registers_with_a_tls_server_whose_ca_it_is_given() {
    let data = tempfile::tempdir().expect("temp dir");
    let token = crate::helpers::cli_token(data.path());
    let certificates = Certificates::new();
    let (cert, key) = (
        certificates.path("server.pem"),
        certificates.path("server.key"),
    );
    let server = ServerProcess::start(&[
        "--data-dir".as_ref(),
        data.path().as_os_str(),
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        key.as_os_str(),
        "--queue".as_ref(),
        "q_tls".as_ref(),
    ]);
    let project = crate::helpers::new_project();
    let home = tempfile::tempdir().expect("temp dir");
    let endpoint = format!("https://{}", server.address);
    // By the environment variable, as a service unit would set it.
    let mut base = Command::new(env!("CARGO_BIN_EXE_dsconn"));
    base.env("DSCONN_CA_CERT", certificates.ca());
    let agent = AgentProcess::start(
        base,
        &AgentSpec {
            endpoint: endpoint.clone(),
            project: &project,
            token: &token,
            name: Some("tls-agent"),
            queues: &["q_tls"],
            config_home: home.path(),
            extra_args: &[],
        },
    );
    agent.wait_for_lines("registered", 1);

    let listed: Value = crate::helpers::token_client(&token)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(certificates.ca()).expect("ca.pem"))
                .expect("CA"),
        )
        .build()
        .expect("client")
        .get(format!("{endpoint}/dsconn/v1/{project}/agents"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["agents"][0]["name"], "tls-agent", "{listed}");
    assert_eq!(listed["agents"][0]["queues"], serde_json::json!(["q_tls"]));
}

/// `dsconn serve <args>` on an OS-chosen port: its exit code and standard error, or a
/// failure if it is still running after 20 s (it started serving).
fn serve_exit(args: &[&OsStr]) -> (Option<i32>, String) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsconn"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(args)
        .env_remove("DSCONN_TLS_CERT")
        .env_remove("DSCONN_TLS_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dsconn starts");
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waited for") {
            break status;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dsconn serve {args:?} did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut error = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut error)
        .expect("stderr read");
    (status.code(), error)
}

#[test]
fn serve_stops_at_start_up_naming_a_tls_file_that_is_missing_or_wrong() {
    let certificates = Certificates::new();
    let (cert, key) = (
        certificates.path("server.pem"),
        certificates.path("server.key"),
    );
    let missing = certificates.path("missing.pem");
    let other_key = certificates.path("other.key");
    std::fs::write(
        &other_key,
        rcgen::KeyPair::generate().expect("key").serialize_pem(),
    )
    .expect("other.key");
    let tls = |cert: &Path, key: &Path| -> Vec<std::ffi::OsString> {
        vec![
            "--tls-cert".into(),
            cert.into(),
            "--tls-key".into(),
            key.into(),
        ]
    };
    let cases: [(Vec<std::ffi::OsString>, Vec<String>); 5] = [
        (
            vec!["--tls-cert".into(), cert.clone().into()],
            vec!["--tls-key".into()],
        ),
        (
            tls(&missing, &key),
            vec![format!("cannot read {}", missing.display())],
        ),
        (
            tls(&key, &key),
            vec![format!("{} holds no certificate", key.display())],
        ),
        (
            tls(&cert, &cert),
            vec![format!("{} holds no PEM private key", cert.display())],
        ),
        (
            tls(&cert, &other_key),
            vec![format!(
                "the key {} does not fit the certificate {}",
                other_key.display(),
                cert.display()
            )],
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&OsStr> = args.iter().map(|arg| arg.as_os_str()).collect();
        let (code, error) = serve_exit(&args);
        assert!(code.is_some_and(|code| code != 0), "{args:?}: {code:?}");
        for needle in expected {
            assert!(error.contains(&needle), "{args:?}: {error}");
        }
    }
}
