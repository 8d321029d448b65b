//! Spawning dsconn and real probe targets for the integration tests.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener as StdTcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use dsconn::api::connections::types::{ConnectionResponse, ListConnectionsResponse};
use dsconn::app::Application;
use dsconn::config::ServeConfig;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod agent;
pub mod netns;
pub mod project_api;
pub mod services;

/// How long a test waits for a connection to leave CREATING.
pub const SETTLE_DEADLINE: Duration = Duration::from_secs(20);

static TRACING: Once = Once::new();

/// Logs only when `TEST_LOG` is set, so a failing test can be rerun with them.
fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            // Kept for the whole test process.
            std::mem::forget(dsconn::telemetry::init(dsconn::config::LogFormat::Pretty));
        }
    });
}

/// A running in-process dsconn on an OS-chosen port with its own data dir.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    /// An all-projects token that the request helpers send.
    pub token: String,
    /// The application's store, for issuing credentials in tests.
    pub store: dsconn::store::DynStore,
    pub secrets: dsconn::credentials::SecretBox,
    /// Where its database files are.
    pub data_dir: std::path::PathBuf,
    /// A second worker over the same store, to step deterministically with `run_once()`.
    pub worker: dsconn::worker::LifecycleWorker,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _temp: Option<tempfile::TempDir>,
}

/// Starts dsconn with a fresh data dir and a 1 s check timeout.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts dsconn with a fresh data dir after `adjust` has changed the configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut app = spawn_app_in(temp.path(), adjust).await;
    app._temp = Some(temp);
    app
}

/// Starts dsconn on an existing data dir (e.g. to test a restart).
pub async fn spawn_app_in(data_dir: &Path, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    init_tracing();
    let mut config = ServeConfig::for_data_dir(data_dir);
    config.probe.check_timeout = Duration::from_secs(1);
    // Most tests probe plain TCP listeners; protocol checks have their own tests.
    config.probe.probe_mode = dsconn::probe::ProbeMode::Tcp;
    adjust(&mut config);
    let application = Application::build(&config).await.expect("app builds");
    let address = application.local_addr().expect("bound address");
    let worker = application.worker();
    let store = application.store();
    let secrets = application.secrets().clone();
    let token = dsconn::issuing::create_token(
        &store,
        dsconn::domain::ProjectScope::All,
        Duration::from_secs(3600),
    )
    .await
    .expect("test token")
    .token
    .expose()
    .to_owned();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(application.run(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        token,
        store,
        secrets,
        data_dir: data_dir.to_path_buf(),
        worker,
        shutdown,
        server: Some(server),
        _temp: None,
    }
}

/// A valid create body; tests override single fields.
pub fn create_body(name: &str, service: &str, url: &str) -> Value {
    json!({
        "name": name,
        "service": service,
        "url": url,
        "security_group_id": "sg-0123",
        "network_id": "net-0123",
    })
}

/// A random project id, so tests never share data by accident.
pub fn new_project() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A request carrying the test's all-projects token.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .header("X-Auth-Token", &self.token)
    }

    pub fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, url)
    }

    pub fn post(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, url)
    }

    pub fn put(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::PUT, url)
    }

    pub fn delete_request(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, url)
    }

    pub fn collection(&self, project: &str) -> String {
        self.url(&format!("/v2.0/{project}/datasource-connection"))
    }

    pub async fn create(&self, project: &str, body: &Value) -> reqwest::Response {
        self.post(self.collection(project))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates and returns the new id, asserting the 201.
    pub async fn create_ok(&self, project: &str, body: &Value) -> String {
        let response = self.create(project, body).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json body");
        assert_eq!(status, 201, "create refused: {body}");
        body["connection_id"]
            .as_str()
            .expect("connection_id")
            .to_owned()
    }

    pub async fn list_raw(&self, project: &str, query: &str) -> reqwest::Response {
        let url = if query.is_empty() {
            self.collection(project)
        } else {
            format!("{}?{query}", self.collection(project))
        };
        self.get(url).send().await.expect("request sent")
    }

    pub async fn list(&self, project: &str, query: &str) -> ListConnectionsResponse {
        let response = self.list_raw(project, query).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("list body")
    }

    pub async fn show_raw(&self, project: &str, id: &str) -> reqwest::Response {
        self.get(format!("{}/{id}", self.collection(project)))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn show(&self, project: &str, id: &str) -> ConnectionResponse {
        let response = self.show_raw(project, id).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("show body")
    }

    pub async fn delete(&self, project: &str, id: &str) -> reqwest::Response {
        self.delete_request(format!("{}/{id}", self.collection(project)))
            .send()
            .await
            .expect("request sent")
    }

    /// Polls until the connection has left CREATING.
    pub async fn settled(&self, project: &str, id: &str) -> ConnectionResponse {
        let deadline = tokio::time::Instant::now() + SETTLE_DEADLINE;
        loop {
            let connection = self.show(project, id).await;
            if connection.state != "CREATING" {
                return connection;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "connection {id} still CREATING after {SETTLE_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task joins")
                .expect("server stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Asserts a DLI error: status, code, both message keys and a request id.
pub async fn assert_dli_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("json error body");
    assert_eq!(body["error_code"], code, "{body}");
    assert_eq!(body["is_success"], false, "{body}");
    let message = body["error_msg"].as_str().expect("error_msg").to_owned();
    assert!(!message.is_empty());
    assert_eq!(body["message"], body["error_msg"]);
    message
}

/// A loopback TCP server that accepts and closes every connection, counting them.
pub struct TcpTarget {
    pub address: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TcpTarget {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(address: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("bind target");
        let address = listener.local_addr().expect("target address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self {
            address,
            accepted,
            task,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port with nothing listening on it, free for a server to bind.
pub fn free_port() -> u16 {
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
    // Dropped here: the port is free and refuses connections.
}

/// A loopback port with nothing listening on it: connects are refused.
pub fn closed_port() -> u16 {
    free_port()
}

/// A loopback listener whose backlog is full, so new connects hang until they time out:
/// the loopback stand-in for a firewall that drops packets.
pub struct HangingTarget {
    pub address: SocketAddr,
    _listener: socket2::Socket,
    _queued: Vec<std::net::TcpStream>,
}

impl HangingTarget {
    pub fn start() -> Self {
        Self::start_bound("127.0.0.1:0")
    }

    fn start_bound(bind: &str) -> Self {
        use socket2::{Domain, Protocol, Socket, Type};
        let listener =
            Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        let bind: SocketAddr = bind.parse().expect("address");
        listener.bind(&bind.into()).expect("bind");
        listener.listen(0).expect("listen");
        let port = listener
            .local_addr()
            .expect("address")
            .as_socket()
            .expect("inet address")
            .port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut queued = Vec::new();
        // Fill the accept queue; once a connect times out, the queue is full.
        for _ in 0..8 {
            match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)) {
                Ok(stream) => queued.push(stream),
                Err(_) => break,
            }
        }
        Self {
            address,
            _listener: listener,
            _queued: queued,
        }
    }

    /// A port on which every loopback address (127.0.0.0/8) hangs: the listener is bound
    /// to the wildcard address, so one full accept queue stands for any number of
    /// loopback destinations. Only loopback addresses are ever dialled at it.
    pub fn start_for_all_loopback() -> Self {
        Self::start_bound("0.0.0.0:0")
    }
}

/// A loopback DNS server answering A/AAAA queries from a fixed table and NXDOMAIN for
/// every other name, so DNS behaviour is tested without leaving the machine. An answer
/// too long for the client's UDP payload is sent truncated, and in full over TCP on the
/// same port, as real servers do: names may have hundreds of addresses.
pub struct DnsServer {
    pub address: SocketAddr,
    task: JoinHandle<()>,
    tcp_task: JoinHandle<()>,
}

type DnsTable = Arc<HashMap<String, Vec<IpAddr>>>;

/// The answer to one query message, or None for a message that is not a query.
fn dns_answer(table: &DnsTable, request: &[u8]) -> Option<hickory_proto::op::Message> {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::{A, AAAA};
    use hickory_proto::rr::{RData, Record, RecordType};

    let request = Message::from_vec(request).ok()?;
    let mut response = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.authoritative = true;
    let query = request.queries.first().cloned()?;
    let name = query.name().to_ascii().to_ascii_lowercase();
    match table.get(&name) {
        None => response.metadata.response_code = ResponseCode::NXDomain,
        Some(ips) => {
            for ip in ips {
                let rdata = match (ip, query.query_type()) {
                    (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                    _ => continue,
                };
                response.add_answer(Record::from_rdata(query.name().clone(), 1, rdata));
            }
        }
    }
    response.add_query(query);
    Some(response)
}

/// A TCP listener on the UDP socket's port. The port was free for UDP only: when
/// something (another test, another process) holds it for TCP, a new UDP port is tried.
pub async fn udp_and_tcp_on_one_port(
    mut udp: tokio::net::UdpSocket,
) -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    const ATTEMPTS: usize = 20;
    for attempt in 1..=ATTEMPTS {
        let address = udp.local_addr().expect("udp address");
        match tokio::net::TcpListener::bind(address).await {
            Ok(tcp) => return (udp, tcp),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse && attempt < ATTEMPTS => {
                udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
                    .await
                    .expect("bind udp");
            }
            Err(error) => panic!("bind tcp on udp port {address}: {error}"),
        }
    }
    unreachable!("the last attempt returns or panics")
}

impl DnsServer {
    pub async fn start(records: &[(&str, &[IpAddr])]) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        /// The classic UDP limit: longer answers go truncated, then over TCP.
        const UDP_PAYLOAD: usize = 512;

        let table: DnsTable = Arc::new(
            records
                .iter()
                .map(|(name, ips)| (format!("{}.", name.trim_end_matches('.')), ips.to_vec()))
                .collect(),
        );
        let first = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind dns");
        let (socket, tcp) = udp_and_tcp_on_one_port(first).await;
        let address = socket.local_addr().expect("dns address");
        let udp_table = Arc::clone(&table);
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
                let Some(mut response) = dns_answer(&udp_table, &buffer[..length]) else {
                    continue;
                };
                let mut bytes = response.to_vec().unwrap_or_default();
                if bytes.len() > UDP_PAYLOAD {
                    response.answers.clear();
                    response.metadata.truncation = true;
                    bytes = response.to_vec().unwrap_or_default();
                }
                let _ = socket.send_to(&bytes, peer).await;
            }
        });
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let table = Arc::clone(&table);
                tokio::spawn(async move {
                    loop {
                        let mut length = [0u8; 2];
                        if stream.read_exact(&mut length).await.is_err() {
                            return;
                        }
                        let mut request = vec![0u8; usize::from(u16::from_be_bytes(length))];
                        if stream.read_exact(&mut request).await.is_err() {
                            return;
                        }
                        let Some(response) = dns_answer(&table, &request) else {
                            return;
                        };
                        let bytes = response.to_vec().unwrap_or_default();
                        let Ok(length) = u16::try_from(bytes.len()) else {
                            return;
                        };
                        if stream.write_all(&length.to_be_bytes()).await.is_err()
                            || stream.write_all(&bytes).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            address,
            task,
            tcp_task,
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
        self.tcp_task.abort();
    }
}

/// An AK/SK pair issued for a test.
pub struct TestCredential {
    pub access_key: String,
    pub secret_key: String,
}

/// How a signed request is built, so tests can tamper with any part of it.
pub struct SignedRequest<'a> {
    pub method: reqwest::Method,
    /// Path and query as sent, e.g. `/v2.0/p/datasource-connection?tags=a`.
    pub target: String,
    pub body: Vec<u8>,
    pub credential: &'a TestCredential,
    /// Changes headers after signing (e.g. to tamper with the date).
    pub sdk_date: Option<String>,
    pub extra_headers: Vec<(&'static str, String)>,
}

impl<'a> SignedRequest<'a> {
    /// A plain signed `GET target`.
    pub fn get(target: &str, credential: &'a TestCredential) -> Self {
        Self {
            method: reqwest::Method::GET,
            target: target.to_owned(),
            body: Vec::new(),
            credential,
            sdk_date: None,
            extra_headers: vec![],
        }
    }
}

impl TestApp {
    pub async fn issue_credential(&self, scope: dsconn::domain::ProjectScope) -> TestCredential {
        let issued = dsconn::issuing::create_credential(&self.store, &self.secrets, scope)
            .await
            .expect("credential issued");
        TestCredential {
            access_key: issued.access_key,
            secret_key: issued.secret_key.expose().to_owned(),
        }
    }

    /// Signs a request as the official SDK does, returning the headers to send.
    pub fn sign(&self, request: &SignedRequest<'_>) -> reqwest::header::HeaderMap {
        self.sign_with(request, dsconn::signing::SigningMode::default())
    }

    /// [`TestApp::sign`] with another of the SDKs' signing algorithms.
    pub fn sign_with(
        &self,
        request: &SignedRequest<'_>,
        mode: dsconn::signing::SigningMode<'_>,
    ) -> reqwest::header::HeaderMap {
        let mut headers = http::HeaderMap::new();
        let host = self.address.to_string();
        headers.insert("host", host.parse().expect("host header"));
        headers.insert("content-type", "application/json".parse().expect("header"));
        headers.insert(
            "user-agent",
            "huaweicloud-usdk-python/3.0".parse().expect("header"),
        );
        for (name, value) in &request.extra_headers {
            headers.insert(*name, value.parse().expect("header"));
        }
        if let Some(date) = &request.sdk_date {
            headers.insert("x-sdk-date", date.parse().expect("header"));
        }
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((request.target.as_str(), ""));
        dsconn::signing::sign(
            dsconn::signing::KeyPair {
                access_key: &request.credential.access_key,
                secret_key: &request.credential.secret_key,
            },
            mode,
            &request.method,
            path,
            query,
            &mut headers,
            &request.body,
            chrono::Utc::now(),
        )
        .expect("signed");
        headers
    }

    pub async fn send_signed(
        &self,
        request: &SignedRequest<'_>,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .request(request.method.clone(), self.url(&request.target))
            .headers(headers)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Signs and sends unchanged through `client` (e.g. one bound to another loopback
    /// address).
    pub async fn signed_via(
        &self,
        client: &reqwest::Client,
        request: &SignedRequest<'_>,
    ) -> reqwest::Response {
        let headers = self.sign(request);
        client
            .request(request.method.clone(), self.url(&request.target))
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await
            .expect("request sent")
    }

    /// Signs and sends unchanged.
    pub async fn signed(&self, request: &SignedRequest<'_>) -> reqwest::Response {
        let headers = self.sign(request);
        self.send_signed(request, headers, request.body.clone())
            .await
    }
}

/// A loopback HTTP server answering every GET with a fixed status and JSON body.
pub struct HttpTarget {
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpTarget {
    pub async fn start(status: u16, body: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind http target");
        let address = listener.local_addr().expect("address");
        let status = axum::http::StatusCode::from_u16(status).expect("status");
        let app = axum::Router::new().fallback(move || async move {
            (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { address, task }
    }
}

impl Drop for HttpTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Posts a JSON body with the test token.
pub async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.post(app.url(path))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// Creates queues in a project through CreateQueue, asserting each 200 (Terraform's
/// provider accepts only 200, issue 27): a queue must
/// exist to be bound.
pub async fn create_queues(app: &TestApp, project: &str, names: &[&str]) {
    for name in names {
        let response = post_json(
            app,
            &format!("/v1.0/{project}/queues"),
            &json!({"queue_name": name, "cu_count": 16}),
        )
        .await;
        let status = response.status();
        let body: Value = response.json().await.expect("json body");
        assert_eq!(status, 200, "queue {name} not created: {body}");
    }
}

/// A real `dsconn serve` child process and the address it reported in its JSON log.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub address: SocketAddr,
}

/// A reqwest client whose connections come from `local` (e.g. 127.0.0.2), to test
/// per-address limits from a second loopback address.
pub fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().expect("local address"))
        .build()
        .expect("client")
}

/// A real `dsconn serve` child process logging in the default (pretty) format, with
/// every log line kept for the test to read.
pub struct LoggedServer {
    pub child: std::process::Child,
    pub address: SocketAddr,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl LoggedServer {
    /// Starts `dsconn serve --listen 127.0.0.1:0 <args>` with `DSCONN_LOG=<level>`.
    pub fn start(level: &str, args: &[&std::ffi::OsStr]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsconn"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "pretty"])
            .args(args)
            .env("DSCONN_LOG", level)
            .env_remove("DSCONN_LOG_FORMAT")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("dsconn starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut waiting = Some(sender);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(listen) = line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("listen="))
                    && let Some(sender) = waiting.take()
                {
                    let _ = sender.send(listen.to_owned());
                }
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("{line}");
                }
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let listen = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("dsconn reported its address");
        Self {
            child,
            address: listen.parse().expect("listen address"),
            lines,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The log so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until a log line contains `needle` (lines are read on another thread).
    pub fn wait_for_line(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.log().into_iter().find(|line| line.contains(needle)) {
                return line;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line contains {needle:?}:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts `dsconn serve --listen 127.0.0.1:0 <args>`, and waits for its address.
    /// The log keeps being drained so the child never blocks on a full pipe.
    pub fn start(args: &[&std::ffi::OsStr]) -> Self {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dsconn"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        Self::start_command(command)
    }

    /// Starts a prepared `dsconn serve` command (e.g. wrapped in `ip netns exec`) that
    /// listens on a loopback address, and waits for its address.
    pub fn start_command(mut command: std::process::Command) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = command
            .env("DSCONN_LOG_FORMAT", "json")
            .env("DSCONN_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("dsconn starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut waiting = Some(sender);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if waiting.is_some() {
                    let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
                    // Other lines carry a bare `listen` IP (e.g. the outbound policy's
                    // note on a server beyond loopback); the address has a port.
                    if let Some(listen) = parsed["listen"].as_str()
                        && listen.parse::<SocketAddr>().is_ok()
                        && let Some(sender) = waiting.take()
                    {
                        let _ = sender.send(listen.to_owned());
                    }
                }
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("{line}");
                }
            }
        });
        let listen = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("dsconn reported its address");
        Self {
            child,
            address: listen.parse().expect("listen address"),
        }
    }

    pub fn collection(&self, project: &str) -> String {
        format!(
            "http://{}/v2.0/{project}/datasource-connection",
            self.address
        )
    }
}

impl ServerProcess {
    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("child reaped");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An all-projects token issued with the CLI, as an operator would, on the store that
/// `store_args` select (`--data-dir DIR`, or `--database-url URL --secret-key-file F`).
pub fn issue_token(store_args: &[&std::ffi::OsStr]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dsconn"))
        .args(["token", "create", "--all-projects", "--ttl", "1h"])
        .args(["--output", "json"])
        .args(store_args)
        .output()
        .expect("dsconn token create runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let issued: Value = serde_json::from_slice(&output.stdout).expect("json");
    issued["token"].as_str().expect("token").to_owned()
}

/// An all-projects token issued on a data dir with the CLI.
pub fn cli_token(data_dir: &Path) -> String {
    issue_token(&["--data-dir".as_ref(), data_dir.as_os_str()])
}

/// A client builder that sends `token` as `X-Auth-Token` on every request.
pub fn token_client(token: &str) -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-auth-token",
        reqwest::header::HeaderValue::from_str(token).expect("token is a header value"),
    );
    reqwest::Client::builder().default_headers(headers)
}

#[tokio::test]
async fn the_dns_server_moves_on_when_its_udp_port_is_taken_for_tcp() {
    // A TCP listener holds a port that is free for UDP, as another process's may.
    let held = StdTcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let port = held.local_addr().expect("address").port();
    let udp = tokio::net::UdpSocket::bind(("127.0.0.1", port))
        .await
        .expect("udp on the port held for tcp");
    let (udp, tcp) = udp_and_tcp_on_one_port(udp).await;
    let udp_port = udp.local_addr().expect("udp address").port();
    assert_eq!(udp_port, tcp.local_addr().expect("tcp address").port());
    assert_ne!(udp_port, port);
}
