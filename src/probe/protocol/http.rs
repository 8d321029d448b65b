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

use super::describe;
use super::io::Recorded;
use super::outcome::ProtocolOutcome;
use super::text;
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
            text.push_str(&text::shorten(server));
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
                    text::first_line(&reply.body)
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
            error: text::error_chain(&error),
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
                    .map(text::shorten)
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
            .map(text::shorten)
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
mod tests;
