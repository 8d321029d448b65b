//! Elasticsearch/OpenSearch (CSS) over HTTP(S) with basic auth.
//!
//! - **Scheme.** The `tls` stage tries a TLS handshake on its own connection: a server
//!   that completes one is spoken to over https (and its certificate judged); one that
//!   does not is spoken to over plain http, with no tls stage.
//! - **No DNS, no detours.** The client pins the written host name to the checked
//!   address (`resolve`), uses no proxy and follows no redirect; certificates are not
//!   verified again (the `tls` stage judged them).
//! - `login` is `GET /` (401/403: AUTH_FAILED); `query` is `GET /_cluster/health`, whose
//!   status (green/yellow/red) the message gives; a user not allowed to read it gets
//!   SKIPPED with NOT_PERMITTED. `privileges`: SELECT on an index is
//!   `GET /{index}/_search?size=0` (403: missing, 404: unknown index); other privileges
//!   are not checked (SKIPPED with NOT_CHECKED when nothing failed). Every request
//!   carries the credentials, but the check stops at the first refusal, so a wrong
//!   password is tried once.

use std::net::IpAddr;

use reqwest::{Client, Response, StatusCode};
use tokio::net::TcpStream;

use super::privileges::{self, Finding};
use super::stages::{Stages, Step, Stopped, Verdict};
use super::{SessionRequest, SessionStage, tls};
use crate::domain::Privilege;

/// Most of an answer read: the stages need only a little JSON.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub(super) async fn run(request: &SessionRequest, stages: &mut Stages<'_>) -> Result<(), Stopped> {
    let scheme = stages.run(SessionStage::Tls, tls_stage(request)).await?;
    let session = stages
        .run(SessionStage::Login, login(request, scheme))
        .await?;
    stages.run(SessionStage::Query, health(&session)).await?;
    if !request.privileges.is_empty() {
        stages
            .run(
                SessionStage::Privileges,
                check_privileges(&session, request),
            )
            .await?;
    }
    Ok(())
}

/// How the server is spoken to, as the tls stage found.
#[derive(Debug, Clone)]
enum Scheme {
    Https,
    /// Plain http; the handshake's error, said when plain http fails too.
    Http {
        tls_error: String,
    },
}

async fn tls_stage(request: &SessionRequest) -> Step<Scheme> {
    let stream = match TcpStream::connect(request.address).await {
        Ok(stream) => stream,
        Err(error) => {
            return Step::fail(
                "TLS_FAILED",
                format!("connecting to {} failed: {error}", request.address),
            );
        }
    };
    match tls::handshake(stream, request).await {
        Ok(presented) => match tls::judge(&presented, request) {
            Step::Done((), verdict) => Step::Done(Scheme::Https, verdict),
            Step::Failed(verdict) => Step::Failed(verdict),
            Step::Absent(()) => Step::Absent(Scheme::Https),
        },
        // Plain http only when the server answers plain HTTP without credentials: a
        // handshake that fails for another reason (an old protocol, a reset) must not
        // turn into basic auth in clear.
        Err(tls_error) => {
            if speaks_plain_http(request).await {
                Step::Absent(Scheme::Http { tls_error })
            } else {
                Step::fail(
                    "TLS_FAILED",
                    format!(
                        "the TLS handshake failed ({tls_error}) and the server does not answer \
                         plain HTTP either; no credentials were sent"
                    ),
                )
            }
        }
    }
}

/// Whether the server answers a credential-less `GET /` over plain HTTP with an HTTP
/// status line, within the stage's bound.
async fn speaks_plain_http(request: &SessionRequest) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = TcpStream::connect(request.address).await.ok()?;
        stream
            .write_all(b"GET / HTTP/1.0\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/")
    };
    matches!(
        tokio::time::timeout(request.timeout, probe).await,
        Ok(Some(true))
    )
}

/// A logged-in client and where it points.
struct Session<'a> {
    client: Client,
    base: String,
    request: &'a SessionRequest,
}

impl Session<'_> {
    async fn get(&self, path: &str) -> Result<Response, reqwest::Error> {
        self.client
            .get(format!("{}{path}", self.base))
            .basic_auth(&self.request.user, Some(self.request.password.expose()))
            .send()
            .await
    }
}

fn client_for(request: &SessionRequest, scheme: &Scheme) -> Result<(Client, String), String> {
    let host = request
        .server_name
        .trim_start_matches('[')
        .trim_end_matches(']');
    let mut builder = Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .timeout(request.timeout);
    // A written address is the address; a name is pinned to the checked one.
    let url_host = match host.parse::<IpAddr>() {
        Ok(_) => match request.address.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        },
        Err(_) => {
            builder = builder.resolve(host, request.address);
            host.to_owned()
        }
    };
    let scheme = match scheme {
        Scheme::Https => "https",
        Scheme::Http { .. } => "http",
    };
    let client = builder
        .build()
        .map_err(|error| format!("the HTTP client could not be set up: {error}"))?;
    Ok((
        client,
        format!("{scheme}://{url_host}:{}", request.address.port()),
    ))
}

async fn login<'a>(request: &'a SessionRequest, scheme: Scheme) -> Step<Session<'a>> {
    let (client, base) = match client_for(request, &scheme) {
        Ok(built) => built,
        Err(message) => return Step::fail("LOGIN_FAILED", message),
    };
    let session = Session {
        client,
        base,
        request,
    };
    let user = &request.user;
    let response = match session.get("/").await {
        Ok(response) => response,
        Err(error) => {
            let tls_note = match &scheme {
                Scheme::Http { tls_error } => {
                    format!(" (over plain http; TLS was tried first: {tls_error})")
                }
                Scheme::Https => String::new(),
            };
            return Step::fail(
                "LOGIN_FAILED",
                format!("GET / as {user} failed: {}{tls_note}", describe(&error)),
            );
        }
    };
    match response.status() {
        StatusCode::OK => {
            let body = read_json(response).await;
            let product = body
                .as_ref()
                .map(product_of)
                .unwrap_or_else(|| "the server".to_owned());
            Step::Done(
                session,
                Verdict::passed(format!("logged in as {user} to {product}")),
            )
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Step::fail(
            "AUTH_FAILED",
            format!(
                "GET / as {user} was refused (HTTP {}); check the auth info's user name and \
                 password",
                response.status().as_u16()
            ),
        ),
        status => Step::fail(
            "LOGIN_FAILED",
            format!("GET / as {user} answered HTTP {}", status.as_u16()),
        ),
    }
}

/// "Elasticsearch 8.11.0 (cluster docker-cluster)" from the answer to `GET /`.
fn product_of(root: &serde_json::Value) -> String {
    let version = root.pointer("/version/number").and_then(|v| v.as_str());
    let distribution = root
        .pointer("/version/distribution")
        .and_then(|v| v.as_str());
    let product = match distribution {
        Some("opensearch") => "OpenSearch",
        _ => "Elasticsearch",
    };
    let cluster = root
        .get("cluster_name")
        .and_then(|v| v.as_str())
        .map(|name| format!(" (cluster {name})"))
        .unwrap_or_default();
    match version {
        Some(version) => format!("{product} {version}{cluster}"),
        None => format!("{product}{cluster}"),
    }
}

async fn health(session: &Session<'_>) -> Step<()> {
    let response = match session.get("/_cluster/health").await {
        Ok(response) => response,
        Err(error) => {
            return Step::fail(
                "QUERY_FAILED",
                format!("GET /_cluster/health failed: {}", describe(&error)),
            );
        }
    };
    match response.status() {
        StatusCode::OK => {}
        StatusCode::FORBIDDEN => {
            return Step::Done(
                (),
                Verdict::skipped(
                    "NOT_PERMITTED",
                    format!(
                        "user {} may not read the cluster's health (cluster:monitor/health); \
                         the privileges stage still checks the indices",
                        session.request.user
                    ),
                ),
            );
        }
        status => {
            return Step::fail(
                "QUERY_FAILED",
                format!("GET /_cluster/health answered HTTP {}", status.as_u16()),
            );
        }
    }
    let Some(body) = read_json(response).await else {
        return Step::fail("QUERY_FAILED", "GET /_cluster/health answered no JSON");
    };
    let status = body
        .get("status")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown");
    let nodes = body
        .get("number_of_nodes")
        .and_then(serde_json::Value::as_u64)
        .map(|nodes| format!(", {nodes} nodes"))
        .unwrap_or_default();
    let meaning = match status {
        "green" => "",
        "yellow" => " (some replica shards are not assigned)",
        "red" => " (some primary shards are not assigned: some data cannot be read)",
        _ => "",
    };
    Step::Done(
        (),
        Verdict::passed(format!("cluster health {status}{meaning}{nodes}")),
    )
}

async fn check_privileges(session: &Session<'_>, request: &SessionRequest) -> Step<()> {
    let mut findings = Vec::new();
    let mut not_checked = Vec::new();
    for wanted in &request.privileges {
        match (wanted.privilege, wanted.table.as_deref()) {
            (Privilege::Select, Some(index)) => findings.push(can_search(session, index).await),
            _ => not_checked.push(wanted.to_string()),
        }
    }
    let failed = findings
        .iter()
        .any(|finding| !matches!(finding, Finding::Held(_)));
    if failed || not_checked.is_empty() {
        return privileges::verdict(&findings);
    }
    let held: Vec<String> = findings
        .into_iter()
        .filter_map(|finding| match finding {
            Finding::Held(text) => Some(text),
            _ => None,
        })
        .collect();
    let held = if held.is_empty() {
        String::new()
    } else {
        format!("held: {}; ", held.join(", "))
    };
    Step::Done(
        (),
        Verdict::skipped(
            "NOT_CHECKED",
            format!(
                "{held}not checked: {} (on CSS only SELECT on a named index is checked)",
                not_checked.join(", ")
            ),
        ),
    )
}

async fn can_search(session: &Session<'_>, index: &str) -> Finding {
    let place = format!("SELECT on index {index}");
    match session.get(&format!("/{index}/_search?size=0")).await {
        Ok(response) => match response.status() {
            status if status.is_success() => Finding::Held(place),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Finding::Missing(place),
            StatusCode::NOT_FOUND => Finding::UnknownTable(format!("index {index}")),
            status => Finding::NotChecked(format!("{place}: HTTP {}", status.as_u16())),
        },
        Err(error) => Finding::NotChecked(format!("{place}: {}", describe(&error))),
    }
}

/// At most [`MAX_BODY_BYTES`] of an answer, as JSON.
async fn read_json(mut response: Response) -> Option<serde_json::Value> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY_BYTES {
            return None;
        }
    }
    serde_json::from_slice(&body).ok()
}

/// reqwest's error with its causes, which hold the useful part.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
