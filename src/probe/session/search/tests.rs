//! Against an HTTP server on loopback that answers as an Elasticsearch node with basic
//! auth does, over plain http and over TLS with a test-made certificate.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};

use super::super::test_support::{
    TestPki, assert_no_secret, assert_stage, request, shape, test_pki,
};
use super::super::{Engine, SessionRequest, SessionStage, SessionVerdict, check_session};

const USER: &str = "elastic";
const PASSWORD: &str = "Search-S3cret!pw";
/// `elastic:Search-S3cret!pw` in base64.
const AUTHORIZATION: &str = "Basic ZWxhc3RpYzpTZWFyY2gtUzNjcmV0IXB3";

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value == AUTHORIZATION)
}

/// `/` and `/_cluster/health` for the right user; the index `logs` may be searched,
/// `secret` is forbidden, any other does not exist.
fn elasticsearch() -> Router {
    let json = |body: &'static str| ([(header::CONTENT_TYPE, "application/json")], body);
    Router::new()
        .route(
            "/",
            get(move |headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return Err(StatusCode::UNAUTHORIZED);
                }
                Ok(json(
                    r#"{"name":"node-1","cluster_name":"shop","version":{"number":"8.11.0"}}"#,
                ))
            }),
        )
        .route(
            "/_cluster/health",
            get(move |headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return Err(StatusCode::UNAUTHORIZED);
                }
                Ok(json(
                    r#"{"cluster_name":"shop","status":"yellow","number_of_nodes":1}"#,
                ))
            }),
        )
        .route(
            "/{index}/_search",
            get(|Path(index): Path<String>| async move {
                match index.as_str() {
                    "logs" => StatusCode::OK,
                    "secret" => StatusCode::FORBIDDEN,
                    _ => StatusCode::NOT_FOUND,
                }
            }),
        )
}

async fn plain_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, elasticsearch()).await });
    address
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

async fn tls_server(pki: &TestPki) -> SocketAddr {
    let chain = vec![CertificateDer::from_pem_slice(pki.server_pem.as_bytes()).expect("cert")];
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = tcp.local_addr().expect("address");
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, elasticsearch()).await });
    address
}

fn search_request(address: SocketAddr, password: &str, privileges: &[&str]) -> SessionRequest {
    request(Engine::Search, address, USER, password, None, privileges)
}

#[tokio::test]
async fn plain_http_logs_in_reads_health_and_names_the_missing_index_privilege() {
    let address = plain_server().await;
    let request = search_request(
        address,
        PASSWORD,
        &["SELECT:logs", "SELECT:secret", "SELECT:nope"],
    );
    let reports = check_session(&request).await;
    assert_eq!(
        shape(&reports),
        ["login:PASSED", "query:PASSED", "privileges:FAILED"],
        "{reports:#?}"
    );
    let login = assert_stage(&reports, SessionStage::Login, SessionVerdict::Passed, "");
    assert_eq!(
        login,
        "logged in as elastic to Elasticsearch 8.11.0 (cluster shop)"
    );
    let query = assert_stage(&reports, SessionStage::Query, SessionVerdict::Passed, "");
    assert_eq!(
        query,
        "cluster health yellow (some replica shards are not assigned), 1 nodes"
    );
    let privileges = assert_stage(
        &reports,
        SessionStage::Privileges,
        SessionVerdict::Failed,
        "PRIVILEGE_MISSING",
    );
    assert!(
        privileges.starts_with(
            "missing: SELECT on index secret; unknown table: index nope; held: SELECT on \
             index logs"
        ),
        "{privileges}"
    );
    assert_no_secret(&reports, &request, PASSWORD);
}

#[tokio::test]
async fn a_wrong_password_is_refused_once_and_the_rest_skipped() {
    let address = plain_server().await;
    let request = search_request(address, "wrong-Pass-word", &["SELECT:logs"]);
    let reports = check_session(&request).await;
    assert_eq!(
        shape(&reports),
        ["login:FAILED", "query:SKIPPED", "privileges:SKIPPED"]
    );
    let login = assert_stage(
        &reports,
        SessionStage::Login,
        SessionVerdict::Failed,
        "AUTH_FAILED",
    );
    assert!(login.contains("refused (HTTP 401)"), "{login}");
    assert_no_secret(&reports, &request, "wrong-Pass-word");
}

#[tokio::test]
async fn https_gets_a_tls_stage_and_unchecked_privileges_are_said() {
    let pki = test_pki("dsconn test CA");
    let address = tls_server(&pki).await;
    let mut request = search_request(address, PASSWORD, &["SELECT:logs", "INSERT:logs"]);
    request.ca_pem = Some(pki.ca_pem.clone().into_bytes());
    let reports = check_session(&request).await;
    assert_eq!(
        shape(&reports),
        [
            "tls:PASSED",
            "login:PASSED",
            "query:PASSED",
            "privileges:SKIPPED"
        ],
        "{reports:#?}"
    );
    let tls = assert_stage(&reports, SessionStage::Tls, SessionVerdict::Passed, "");
    assert!(
        tls.contains("chain trusted by the given CA, host name matches"),
        "{tls}"
    );
    let privileges = assert_stage(
        &reports,
        SessionStage::Privileges,
        SessionVerdict::Skipped,
        "NOT_CHECKED",
    );
    assert_eq!(
        privileges,
        "held: SELECT on index logs; not checked: INSERT:logs (on CSS only SELECT on a named \
         index is checked)"
    );
    request.ca_pem = Some(test_pki("another CA").ca_pem.into_bytes());
    let reports = check_session(&request).await;
    assert_stage(
        &reports,
        SessionStage::Tls,
        SessionVerdict::Failed,
        "TLS_UNTRUSTED",
    );
    assert_no_secret(&reports, &request, PASSWORD);
}
