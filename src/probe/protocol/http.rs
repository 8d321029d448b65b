//! CSS (Elasticsearch/OpenSearch) and OpenTSDB: one HTTP/1.1 GET, first over plain TCP,
//! then, when the endpoint shows that it demands TLS, over TLS on a second connection to
//! the same address. HTTP itself is hyper's client connection API over the given stream.
//!
//! A plain request counts as "TLS demanded" when it gets a TLS alert or handshake record
//! back, a close or reset without any answer (Elasticsearch with TLS on does this), or an
//! HTTP 400 whose body talks about HTTPS, SSL or TLS (nginx: "The plain HTTP request was
//! sent to HTTPS port").

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{ACCEPT, CONNECTION, HOST, SERVER, USER_AGENT, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::ProtocolOutcome;
use super::describe;
use super::io::Recorded;
use super::tls::{self, HandshakeFailure};

/// Enough for any root or version answer; a longer body is cut, not an error.
const MAX_BODY: usize = 64 * 1024;
const USER_AGENT_VALUE: &str = concat!("dsconn-probe/", env!("CARGO_PKG_VERSION"));

/// Which HTTP API the destination should serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    /// Elasticsearch or OpenSearch: `GET /`.
    Search,
    /// OpenTSDB: `GET /api/version`.
    OpenTsdb,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::Search => "/",
            Api::OpenTsdb => "/api/version",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Api::Search => "an Elasticsearch/OpenSearch answer to GET /",
            Api::OpenTsdb => "an OpenTSDB answer to GET /api/version",
        }
    }
}

/// An HTTP answer, with at most [`MAX_BODY`] bytes of its body.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    /// "HTTP 404 Not Found from nginx/1.24.0"
    fn summary(&self) -> String {
        let mut text = format!("HTTP {}", self.status.as_u16());
        if let Some(reason) = self.status.canonical_reason() {
            text.push(' ');
            text.push_str(reason);
        }
        if let Some(server) = self.header(SERVER.as_str()) {
            text.push_str(" from ");
            text.push_str(&describe::shorten(server));
        }
        text
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// An HTTP server on a TLS port telling the client so, as nginx and Apache do.
    fn demands_tls(&self) -> bool {
        if self.status != StatusCode::BAD_REQUEST {
            return false;
        }
        let body = String::from_utf8_lossy(&self.body).to_ascii_lowercase();
        ["https", "ssl", "tls"]
            .iter()
            .any(|word| body.contains(word))
    }
}

/// How one HTTP exchange ended.
enum Exchange {
    Reply(Reply),
    /// No HTTP answer: `seen` is what came instead (maybe nothing), `error` hyper's words.
    Failed {
        seen: Vec<u8>,
        error: String,
    },
    TimedOut,
}

pub(super) async fn check(
    api: Api,
    stream: TcpStream,
    server_name: &str,
    deadline: Instant,
) -> ProtocolOutcome {
    let peer = stream.peer_addr().ok();
    let port = peer.map(|address| address.port());
    // Why the check goes on over TLS, and whether the plain answer already showed TLS.
    let (why_tls, tls_shown) =
        match exchange(stream, api, host_header(server_name, port, false), deadline).await {
            Exchange::TimedOut => {
                return ProtocolOutcome::timeout(format!(
                    "connected, but no HTTP answer to GET {} before the timeout",
                    api.path()
                ));
            }
            Exchange::Reply(reply) if reply.demands_tls() => (
                format!(
                    "plain HTTP got {} (\"{}\")",
                    reply.summary(),
                    describe::first_line(&reply.body)
                ),
                true,
            ),
            Exchange::Reply(reply) => return judge(api, &reply, ""),
            Exchange::Failed { seen, error } if seen.is_empty() => {
                (format!("plain HTTP got no answer ({error})"), false)
            }
            Exchange::Failed { seen, .. }
                if seen.starts_with(&[0x15, 0x03]) || seen.starts_with(&[0x16, 0x03]) =>
            {
                (format!("plain HTTP got {}", describe::reply(&seen)), true)
            }
            Exchange::Failed { seen, .. } => {
                return ProtocolOutcome::mismatch(format!(
                    "expected {}, got {}",
                    api.expected(),
                    describe::reply(&seen)
                ));
            }
        };
    let Some(peer) = peer else {
        return ProtocolOutcome::mismatch(format!(
            "{why_tls}, and the address to retry over TLS is unknown"
        ));
    };
    over_tls(api, peer, server_name, deadline, &why_tls, tls_shown).await
}

async fn over_tls(
    api: Api,
    peer: SocketAddr,
    server_name: &str,
    deadline: Instant,
    why_tls: &str,
    tls_shown: bool,
) -> ProtocolOutcome {
    let stream = match timeout_at(deadline, TcpStream::connect(peer)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            return ProtocolOutcome::tls_error(format!(
                "{why_tls}; reconnecting to try TLS failed: {error}"
            ));
        }
        Err(_) => {
            return ProtocolOutcome::timeout(format!(
                "{why_tls}; reconnecting to try TLS took until the timeout"
            ));
        }
    };
    let name = tls::server_name(server_name, peer.ip());
    let (io, seen) = Recorded::new(stream);
    let tls_stream = match timeout_at(deadline, tls::connect(io, name.clone())).await {
        Ok(Ok(tls_stream)) => tls_stream,
        Ok(Err(error)) => {
            return match tls::classify(&error) {
                HandshakeFailure::Alert(alert) => ProtocolOutcome::tls_error(format!(
                    "{why_tls}; the TLS handshake failed: {alert}"
                )),
                HandshakeFailure::NotTls if tls_shown => ProtocolOutcome::tls_error(format!(
                    "{why_tls}; the TLS handshake got {} back",
                    describe::reply(&seen.bytes())
                )),
                HandshakeFailure::NotTls => ProtocolOutcome::mismatch(format!(
                    "expected {}; {why_tls}, and a TLS handshake got {}: this speaks neither \
                     HTTP nor TLS",
                    api.expected(),
                    describe::reply(&seen.bytes())
                )),
                HandshakeFailure::Closed if tls_shown => ProtocolOutcome::tls_error(format!(
                    "{why_tls}; the server closed the connection during the TLS handshake"
                )),
                HandshakeFailure::Closed => ProtocolOutcome::mismatch(format!(
                    "expected {}; {why_tls}, and the server closed the connection on a TLS \
                     handshake too",
                    api.expected()
                )),
                HandshakeFailure::Other(other) => ProtocolOutcome::tls_error(format!(
                    "{why_tls}; the TLS handshake failed: {other}"
                )),
            };
        }
        Err(_) => {
            return ProtocolOutcome::timeout(format!(
                "{why_tls}; the TLS handshake did not finish before the timeout"
            ));
        }
    };
    let trust = tls::trust_note(&tls_stream, &name);
    match exchange(
        tls_stream,
        api,
        host_header(server_name, Some(peer.port()), true),
        deadline,
    )
    .await
    {
        Exchange::Reply(reply) => judge(api, &reply, &format!(" (over TLS; {trust})")),
        Exchange::Failed { seen, error } => ProtocolOutcome::mismatch(format!(
            "expected {} over TLS, got {} ({error})",
            api.expected(),
            describe::reply(&seen)
        )),
        Exchange::TimedOut => ProtocolOutcome::timeout(format!(
            "the TLS handshake succeeded, but no HTTP answer to GET {} before the timeout",
            api.path()
        )),
    }
}

/// `Host` as a browser would send it: brackets around IPv6, the port unless default.
fn host_header(server_name: &str, port: Option<u16>, tls: bool) -> HeaderValue {
    let bare = server_name.trim_start_matches('[').trim_end_matches(']');
    let host = if bare.contains(':') {
        format!("[{bare}]")
    } else {
        bare.to_owned()
    };
    let default_port = if tls { 443 } else { 80 };
    let value = match port {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host,
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("localhost"))
}

async fn exchange<S>(io: S, api: Api, host: HeaderValue, deadline: Instant) -> Exchange
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (io, seen) = Recorded::new(io);
    match timeout_at(deadline, get(io, api, host)).await {
        Ok(Ok(reply)) => Exchange::Reply(reply),
        Ok(Err(error)) => Exchange::Failed {
            seen: seen.bytes(),
            error: describe::error_chain(&error),
        },
        Err(_) => Exchange::TimedOut,
    }
}

/// One `GET` on a fresh HTTP/1.1 connection over `io`, with `Connection: close`.
async fn get<S>(io: S, api: Api, host: HeaderValue) -> Result<Reply, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io)).await?;
    let mut request = Request::new(Empty::new());
    *request.uri_mut() = Uri::from_static(api.path());
    let headers = request.headers_mut();
    headers.insert(HOST, host);
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));

    let send = async move {
        let response = sender.send_request(request).await?;
        let (parts, mut body) = response.into_parts();
        let mut collected = Vec::new();
        while collected.len() < MAX_BODY {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        collected.extend_from_slice(&data);
                    }
                }
                // A body cut short still leaves the status to judge by.
                Some(Err(_)) | None => break,
            }
        }
        collected.truncate(MAX_BODY);
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body: collected,
        })
    };
    // The connection future does the I/O; drive it next to the request, not in a task, so
    // that nothing outlives the check.
    let mut send = std::pin::pin!(send);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        reply = &mut send => reply,
        done = &mut connection => match done {
            Err(error) => Err(error),
            // Closed cleanly: the request future has the reply or the error.
            Ok(()) => send.await,
        },
    }
}

fn judge(api: Api, reply: &Reply, over: &str) -> ProtocolOutcome {
    match api {
        Api::Search => judge_search(reply, over),
        Api::OpenTsdb => judge_opentsdb(reply, over),
    }
}

fn judge_search(reply: &Reply, over: &str) -> ProtocolOutcome {
    match reply.status {
        StatusCode::OK => {
            let json = reply.json();
            let field = |pointer: &str| {
                json.as_ref()
                    .and_then(|json| json.pointer(pointer))
                    .and_then(Value::as_str)
                    .map(describe::shorten)
            };
            let number = field("/version/number");
            let tagline = field("/tagline").unwrap_or_default();
            let opensearch = field("/version/distribution").as_deref() == Some("opensearch")
                || tagline.contains("OpenSearch");
            let elasticsearch_tagline = tagline == "You Know, for Search";
            if number.is_none() && !elasticsearch_tagline {
                let why = if json.is_some() {
                    "a JSON body without version.number"
                } else {
                    "a body that is not JSON"
                };
                return ProtocolOutcome::mismatch(format!(
                    "expected {}, got {} with {why}{over}",
                    Api::Search.expected(),
                    reply.summary()
                ));
            }
            let product = if opensearch {
                "OpenSearch"
            } else {
                "Elasticsearch"
            };
            let version = number.unwrap_or_else(|| "(version not reported)".to_owned());
            let cluster = field("/cluster_name")
                .map(|name| format!(", cluster \"{name}\""))
                .unwrap_or_default();
            ProtocolOutcome::verified(format!("{product} {version}{cluster}{over}"))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            let product = guess_search_product(reply);
            let what = if reply.status == StatusCode::UNAUTHORIZED {
                "authentication required"
            } else {
                "authentication required or access denied"
            };
            ProtocolOutcome::verified(format!(
                "{product} ({what}: HTTP {}){over}",
                reply.status.as_u16()
            ))
        }
        _ => ProtocolOutcome::mismatch(format!(
            "expected {}, got {}{over}",
            Api::Search.expected(),
            reply.summary()
        )),
    }
}

/// Which search engine sent a 401/403, from what it shows without credentials.
fn guess_search_product(reply: &Reply) -> &'static str {
    let realm = reply.header(WWW_AUTHENTICATE.as_str()).unwrap_or_default();
    let body = String::from_utf8_lossy(&reply.body);
    if reply.header("x-elastic-product") == Some("Elasticsearch")
        || realm.contains("realm=\"security\"")
        || body.contains("security_exception")
    {
        "Elasticsearch"
    } else if realm.contains("OpenSearch") || body.contains("OpenSearch") {
        "OpenSearch"
    } else {
        "Elasticsearch/OpenSearch (not identified without credentials)"
    }
}

fn judge_opentsdb(reply: &Reply, over: &str) -> ProtocolOutcome {
    if reply.status != StatusCode::OK {
        return ProtocolOutcome::mismatch(format!(
            "expected {}, got {}{over}",
            Api::OpenTsdb.expected(),
            reply.summary()
        ));
    }
    let version = reply.json().and_then(|json| {
        json.get("version")
            .and_then(Value::as_str)
            .map(describe::shorten)
    });
    match version {
        Some(version) => ProtocolOutcome::verified(format!("OpenTSDB {version}{over}")),
        None => ProtocolOutcome::mismatch(format!(
            "expected {}, got {} without a \"version\" string in a JSON body{over}",
            Api::OpenTsdb.expected(),
            reply.summary()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;

    use super::super::test_support::{self, MARIADB, TlsMode, json_router};
    use super::super::verify;
    use super::*;
    use crate::domain::Service;

    const TIMEOUT: Duration = Duration::from_secs(5);

    async fn check_css(address: SocketAddr, server_name: &str) -> ProtocolOutcome {
        verify(
            Service::Css,
            test_support::connect(address).await,
            server_name,
            TIMEOUT,
        )
        .await
    }

    fn expect_verified(outcome: &ProtocolOutcome) -> &str {
        match outcome {
            ProtocolOutcome::Verified { detail } => detail,
            other => panic!("expected Verified, got {other:?}"),
        }
    }

    fn expect_mismatch(outcome: &ProtocolOutcome) -> &str {
        match outcome {
            ProtocolOutcome::Mismatch { detail } => detail,
            other => panic!("expected Mismatch, got {other:?}"),
        }
    }

    fn unauthorized_router() -> Router {
        // As Elasticsearch 8 answers without credentials.
        Router::new().route(
            "/",
            get(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    [
                        (header::WWW_AUTHENTICATE, "Basic realm=\"security\" charset=\"UTF-8\""),
                        (header::CONTENT_TYPE, "application/json"),
                    ],
                    r#"{"error":{"type":"security_exception","reason":"missing authentication credentials for REST request [/]"},"status":401}"#,
                )
                    .into_response()
            }),
        )
    }

    #[test]
    fn the_host_header_carries_brackets_and_a_non_default_port() {
        assert_eq!(
            host_header("es.example.com", Some(9200), false),
            "es.example.com:9200"
        );
        assert_eq!(
            host_header("es.example.com", Some(443), true),
            "es.example.com"
        );
        assert_eq!(host_header("::1", Some(9200), false), "[::1]:9200");
        assert_eq!(host_header("[::1]", Some(80), false), "[::1]");
    }

    #[tokio::test]
    async fn css_against_an_elasticsearch_root_is_verified_with_its_version() {
        let address = test_support::http_server(test_support::elasticsearch_router()).await;
        let outcome = check_css(address, "127.0.0.1").await;
        assert_eq!(
            expect_verified(&outcome),
            "Elasticsearch 8.11.0, cluster \"docker-cluster\""
        );
    }

    #[tokio::test]
    async fn css_against_an_opensearch_root_names_opensearch() {
        let body = r#"{"name":"n","cluster_name":"c","version":{"distribution":"opensearch","number":"2.11.1"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#;
        let address = test_support::http_server(json_router("/", body)).await;
        let outcome = check_css(address, "127.0.0.1").await;
        assert_eq!(
            expect_verified(&outcome),
            "OpenSearch 2.11.1, cluster \"c\""
        );
    }

    #[tokio::test]
    async fn css_answered_with_401_is_verified_as_authentication_required() {
        let address = test_support::http_server(unauthorized_router()).await;
        let outcome = check_css(address, "127.0.0.1").await;
        assert_eq!(
            expect_verified(&outcome),
            "Elasticsearch (authentication required: HTTP 401)"
        );
    }

    #[tokio::test]
    async fn css_against_a_json_200_that_is_not_elasticsearch_is_a_mismatch() {
        let address = test_support::http_server(json_router("/", r#"{"status":"ok"}"#)).await;
        let outcome = check_css(address, "127.0.0.1").await;
        let detail = expect_mismatch(&outcome);
        assert!(
            detail.contains("HTTP 200 OK with a JSON body without version.number"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn css_against_a_404_is_a_mismatch_naming_the_status() {
        let address = test_support::http_server(json_router("/other", "{}")).await;
        let outcome = check_css(address, "127.0.0.1").await;
        let detail = expect_mismatch(&outcome);
        assert!(detail.contains("got HTTP 404 Not Found"), "{detail}");
    }

    #[tokio::test]
    async fn css_against_the_real_mariadb_is_a_mismatch_naming_mariadb() {
        let Some(stream) = test_support::connect_to_service(MARIADB, "MariaDB").await else {
            return;
        };
        let outcome = verify(Service::Css, stream, "127.0.0.1", TIMEOUT).await;
        let detail = expect_mismatch(&outcome);
        assert!(
            detail.contains("a MySQL/MariaDB greeting (MariaDB"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn css_against_a_listener_that_closes_at_once_is_a_mismatch() {
        let address = test_support::closing_listener().await;
        let outcome = check_css(address, "127.0.0.1").await;
        let detail = expect_mismatch(&outcome);
        assert!(
            detail.contains("closed the connection on a TLS handshake too"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn css_against_a_silent_listener_times_out_within_the_timeout() {
        let timeout = Duration::from_secs(2);
        let (outcome, elapsed) = test_support::verify_silent(Service::Css, timeout).await;
        assert!(
            matches!(outcome, ProtocolOutcome::Timeout { .. }),
            "expected Timeout, got {outcome:?}"
        );
        test_support::assert_within_timeout(elapsed, timeout);
    }

    #[tokio::test]
    async fn css_on_a_tls_only_port_is_retried_over_tls_and_says_the_certificate_is_not_trusted() {
        let address =
            test_support::tls_http_server(test_support::elasticsearch_router(), TlsMode::Only)
                .await;
        let outcome = check_css(address, "localhost").await;
        assert_eq!(
            expect_verified(&outcome),
            "Elasticsearch 8.11.0, cluster \"docker-cluster\" (over TLS; certificate not \
             trusted: issued by an unknown authority (self-signed or a private CA))"
        );
    }

    #[tokio::test]
    async fn css_behind_an_nginx_style_https_port_is_retried_over_tls() {
        let address =
            test_support::tls_http_server(unauthorized_router(), TlsMode::OrPlain400).await;
        let outcome = check_css(address, "localhost").await;
        let detail = expect_verified(&outcome);
        assert!(
            detail.starts_with("Elasticsearch (authentication required: HTTP 401) (over TLS;"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn css_whose_tls_handshake_fails_is_a_tls_error() {
        let address =
            test_support::tls_http_server(test_support::elasticsearch_router(), TlsMode::OnlyH2)
                .await;
        let outcome = check_css(address, "localhost").await;
        let ProtocolOutcome::TlsError { detail } = &outcome else {
            panic!("expected TlsError, got {outcome:?}");
        };
        assert!(detail.contains("NoApplicationProtocol"), "{detail}");
    }

    #[tokio::test]
    async fn opentsdb_version_answer_is_verified_for_both_services() {
        let body = r#"{"short_revision":"","repo":"/opentsdb","host":"h","version":"2.4.1","full_revision":"","repo_status":"MODIFIED","user":"u","branch":"","timestamp":"1"}"#;
        let address = test_support::http_server(json_router("/api/version", body)).await;
        for service in [Service::CloudTableOpenTsdb, Service::MrsOpenTsdb] {
            let stream = test_support::connect(address).await;
            let outcome = verify(service, stream, "127.0.0.1", TIMEOUT).await;
            assert_eq!(expect_verified(&outcome), "OpenTSDB 2.4.1", "{service:?}");
        }
    }

    #[tokio::test]
    async fn opentsdb_against_an_elasticsearch_root_is_a_mismatch() {
        let address = test_support::http_server(test_support::elasticsearch_router()).await;
        let stream = test_support::connect(address).await;
        let outcome = verify(Service::MrsOpenTsdb, stream, "127.0.0.1", TIMEOUT).await;
        let detail = expect_mismatch(&outcome);
        assert!(detail.contains("got HTTP 404 Not Found"), "{detail}");
    }

    #[tokio::test]
    async fn opentsdb_over_tls_is_verified() {
        let body = r#"{"version":"2.4.1"}"#;
        let address =
            test_support::tls_http_server(json_router("/api/version", body), TlsMode::Only).await;
        let stream = test_support::connect(address).await;
        let outcome = verify(Service::CloudTableOpenTsdb, stream, "localhost", TIMEOUT).await;
        let detail = expect_verified(&outcome);
        assert!(detail.starts_with("OpenTSDB 2.4.1 (over TLS;"), "{detail}");
    }
}
