//! Real peers for the protocol tests, all on loopback: the machine's MariaDB and
//! PostgreSQL (started by `scripts/ensure-services`), HTTP servers (axum, optionally
//! behind rustls with a certificate made here), silent and closing TCP listeners, and a
//! ZooKeeper from Debian's package, started per test on a free port.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::outcome::ProtocolOutcome;
use super::verify;
use crate::domain::Service;

pub(crate) const MARIADB: &str = "127.0.0.1:3306";
pub(crate) const POSTGRES: &str = "127.0.0.1:5432";

/// Set to 1 (scripts/test does) to make a missing service a failure instead of a skip.
const REQUIRE_SERVICES: &str = "DSCONN_REQUIRE_SERVICES";

/// Reports that a service a test needs is missing: a failure under
/// `DSCONN_REQUIRE_SERVICES=1`, else a skip line naming the command that starts it.
fn missing_service(what: &str, why: &str) {
    assert!(
        std::env::var(REQUIRE_SERVICES).as_deref() != Ok("1"),
        "{what} is needed and not available ({why}); run scripts/ensure-services \
         ({REQUIRE_SERVICES}=1 is set, so this is a failure, not a skip)"
    );
    eprintln!(
        "SKIPPED: {what} is not available ({why}); run scripts/ensure-services to start it, \
         {REQUIRE_SERVICES}=1 makes this a failure"
    );
}

/// Connects to one of the machine's database servers; None (a skip, said on stderr)
/// when it is down and services are not required.
pub(crate) async fn connect_to_service(address: &str, what: &str) -> Option<TcpStream> {
    match TcpStream::connect(address).await {
        Ok(stream) => Some(stream),
        Err(error) => {
            missing_service(what, &format!("nothing listens on {address}: {error}"));
            None
        }
    }
}

pub(crate) async fn connect(address: SocketAddr) -> TcpStream {
    TcpStream::connect(address)
        .await
        .unwrap_or_else(|error| panic!("connect to {address}: {error}"))
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback")
}

/// Accepts connections and holds them open without ever sending a byte.
pub(crate) async fn silent_listener() -> SocketAddr {
    let listener = bind().await;
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    address
}

/// Accepts connections and closes them at once.
pub(crate) async fn closing_listener() -> SocketAddr {
    let listener = bind().await;
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    address
}

/// Runs `service`'s check against a silent listener; returns the outcome and how long
/// the check took.
pub(crate) async fn verify_silent(
    service: Service,
    timeout: Duration,
) -> (ProtocolOutcome, Duration) {
    let address = silent_listener().await;
    let stream = connect(address).await;
    let started = Instant::now();
    let outcome = verify(service, stream, "127.0.0.1", timeout).await;
    (outcome, started.elapsed())
}

/// A timed-out check waits the whole timeout, and not more than 10 % longer.
pub(crate) fn assert_within_timeout(elapsed: Duration, timeout: Duration) {
    assert!(
        elapsed >= timeout,
        "gave up early: {elapsed:?} < {timeout:?}"
    );
    assert!(
        elapsed <= timeout + timeout / 10,
        "took {elapsed:?}, more than {timeout:?} + 10 %"
    );
}

// ---- HTTP ----------------------------------------------------------------------------

pub(crate) const ELASTICSEARCH_ROOT: &str = r#"{"name":"node-1","cluster_name":"docker-cluster","version":{"number":"8.11.0","build_flavor":"default"},"tagline":"You Know, for Search"}"#;

/// Answers `GET /` as an Elasticsearch 8.11 node does.
pub(crate) fn elasticsearch_router() -> Router {
    json_router("/", ELASTICSEARCH_ROOT)
}

/// Answers `GET path` with 200 and a JSON body.
pub(crate) fn json_router(path: &str, body: &'static str) -> Router {
    Router::new().route(
        path,
        get(move || async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }),
    )
}

/// Serves `router` over plain HTTP on a free loopback port.
pub(crate) async fn http_server(router: Router) -> SocketAddr {
    let listener = bind().await;
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// How a TLS test server treats its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// TLS only, with a self-signed certificate for "localhost".
    Only,
    /// As nginx on an HTTPS port: TLS, but a plain request gets HTTP 400 "The plain HTTP
    /// request was sent to HTTPS port".
    OrPlain400,
    /// Offers only the "h2" application protocol, so a client that asks for http/1.1
    /// fails the handshake with a no_application_protocol alert.
    OnlyH2,
}

/// Serves `router` over TLS on a free loopback port.
pub(crate) async fn tls_http_server(router: Router, mode: TlsMode) -> SocketAddr {
    serve_tls(router, self_signed_config(mode), mode).await
}

/// Serves `router` over TLS with this server configuration (its certificate and key) on
/// a free loopback port.
pub(crate) async fn tls_http_server_with(router: Router, config: ServerConfig) -> SocketAddr {
    serve_tls(router, config, TlsMode::Only).await
}

async fn serve_tls(router: Router, config: ServerConfig, mode: TlsMode) -> SocketAddr {
    let tcp = bind().await;
    let address = tcp.local_addr().expect("address");
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
        mode,
    };
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

fn self_signed_config(mode: TlsMode) -> ServerConfig {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("self-signed certificate");
    let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
    if mode == TlsMode::OnlyH2 {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    config
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    mode: TlsMode,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else {
                continue;
            };
            if self.mode == TlsMode::OrPlain400 {
                let mut first = [0u8; 1];
                if stream.peek(&mut first).await.is_ok_and(|read| read == 1) && first[0] != 0x16 {
                    tokio::spawn(answer_plain_request_on_tls_port(stream));
                    continue;
                }
            }
            // A failed handshake is the client's problem, not the listener's.
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

async fn answer_plain_request_on_tls_port(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 16_384 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&chunk[..read]),
        }
    }
    let body = "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n</body>\r\n</html>\r\n";
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

// ---- ZooKeeper -----------------------------------------------------------------------

const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
const ZOOKEEPER_START_LIMIT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZooKeeperMode {
    /// A standalone server that serves clients.
    Standalone,
    /// Member 1 of a two-member ensemble whose other member does not exist: it listens
    /// on its client port but, without a quorum, serves no one.
    WithoutQuorum,
}

/// A ZooKeeper from Debian's `zookeeper` package, on a free loopback port with its own
/// data directory; killed when dropped.
pub(crate) struct ZooKeeper {
    pub(crate) address: SocketAddr,
    child: Child,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl ZooKeeper {
    /// Starts one and waits until it answers. None when `DSCONN_SKIP_ZOOKEEPER=1`, or
    /// when ZooKeeper is not installed and services are not required (a skip).
    pub(crate) async fn start(mode: ZooKeeperMode) -> Option<ZooKeeper> {
        if std::env::var("DSCONN_SKIP_ZOOKEEPER").as_deref() == Ok("1") {
            eprintln!("DSCONN_SKIP_ZOOKEEPER=1: skipping a test that needs ZooKeeper");
            return None;
        }
        if !Path::new(ZOOKEEPER_JAR).exists() {
            missing_service(
                "ZooKeeper",
                &format!(
                    "{ZOOKEEPER_JAR} is missing; scripts/ensure-services installs Debian's zookeeper package"
                ),
            );
            return None;
        }
        // A port picked free may be taken before ZooKeeper binds it; try again then.
        let mut last_log = String::new();
        for _ in 0..3 {
            match Self::try_start(mode).await {
                Ok(zookeeper) => return Some(zookeeper),
                Err(log) if log.contains("Address already in use") => last_log = log,
                Err(log) => panic!("ZooKeeper ({mode:?}) did not start; its log:\n{log}"),
            }
        }
        panic!("ZooKeeper ({mode:?}) found its ports taken three times; last log:\n{last_log}");
    }

    async fn try_start(mode: ZooKeeperMode) -> Result<ZooKeeper, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        let client_port = free_port().await;
        let mut config = format!(
            "tickTime=2000\ninitLimit=5\nsyncLimit=2\ndataDir={}\nclientPort={client_port}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
             4lw.commands.whitelist=srvr,mntr\n",
            data.display()
        );
        let main_class = match mode {
            ZooKeeperMode::Standalone => "org.apache.zookeeper.server.ZooKeeperServerMain",
            ZooKeeperMode::WithoutQuorum => {
                std::fs::write(data.join("myid"), "1\n").expect("myid");
                for member in 1..=2 {
                    let (quorum, election) = (free_port().await, free_port().await);
                    config.push_str(&format!("server.{member}=127.0.0.1:{quorum}:{election}\n"));
                }
                "org.apache.zookeeper.server.quorum.QuorumPeerMain"
            }
        };
        let config_path = dir.path().join("zoo.cfg");
        std::fs::write(&config_path, config).expect("zoo.cfg");
        let log_path = dir.path().join("zookeeper.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut classpath = ZOOKEEPER_JAR.to_owned();
        if Path::new(SLF4J_SIMPLE_JAR).exists() {
            classpath.push(':');
            classpath.push_str(SLF4J_SIMPLE_JAR);
        }
        let started = Instant::now();
        let child = Command::new("java")
            // A small heap and the quick JIT: this server lives for one test.
            .args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg("-cp")
            .arg(&classpath)
            .arg(main_class)
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("could not run java for ZooKeeper: {error}"));
        let mut zookeeper = ZooKeeper {
            address: SocketAddr::from(([127, 0, 0, 1], client_port)),
            child,
            _dir: dir,
        };
        let ready_when = match mode {
            ZooKeeperMode::Standalone => "Mode: standalone",
            ZooKeeperMode::WithoutQuorum => "not currently serving requests",
        };
        loop {
            if zookeeper
                .four_letter("srvr")
                .await
                .is_some_and(|answer| answer.contains(ready_when))
            {
                eprintln!(
                    "ZooKeeper ({mode:?}) answered after {} ms",
                    started.elapsed().as_millis()
                );
                return Ok(zookeeper);
            }
            if let Ok(Some(status)) = zookeeper.child.try_wait() {
                return Err(format!("exited with {status}\n{}", read_log(&log_path)));
            }
            if started.elapsed() > ZOOKEEPER_START_LIMIT {
                return Err(format!(
                    "not ready after {ZOOKEEPER_START_LIMIT:?}\n{}",
                    read_log(&log_path)
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Sends a four-letter command and reads the answer; None while it cannot answer.
    pub(crate) async fn four_letter(&self, word: &str) -> Option<String> {
        let exchange = async {
            let mut stream = TcpStream::connect(self.address).await.ok()?;
            stream.write_all(word.as_bytes()).await.ok()?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.ok()?;
            Some(answer)
        };
        tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .ok()
            .flatten()
    }

    /// `zk_global_sessions` from `mntr`: how many sessions the server holds.
    pub(crate) async fn global_sessions(&self) -> u64 {
        let answer = self.four_letter("mntr").await.expect("mntr answers");
        answer
            .lines()
            .find_map(|line| line.strip_prefix("zk_global_sessions"))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("no zk_global_sessions in mntr:\n{answer}"))
    }

    /// Polls until the server holds `count` sessions, for at most five seconds.
    pub(crate) async fn wait_for_global_sessions(&self, count: u64) {
        let started = Instant::now();
        loop {
            let now = self.global_sessions().await;
            if now == count {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "ZooKeeper holds {now} sessions, expected {count}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn free_port() -> u16 {
    bind().await.local_addr().expect("address").port()
}

fn read_log(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| format!("(no log: {error})"))
}
