//! Against an HTTP server on loopback that answers as an Elasticsearch node with basic
//! auth does, over plain http and over TLS with a test-made certificate.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use tokio::net::TcpListener;

use super::super::test_support::{
    TestPki, assert_no_secret, checked, failed, passed, request, skipped, test_pki,
};
use super::super::{Engine, SessionRequest, SessionStage, check_session};
use crate::probe::protocol::test_support::tls_http_server_with;

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

async fn tls_server(pki: &TestPki) -> SocketAddr {
    tls_http_server_with(elasticsearch(), pki.server_config()).await
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
    let reports = checked(&request, "login:PASSED query:PASSED privileges:FAILED").await;
    let login = passed(&reports, SessionStage::Login);
    assert_eq!(
        login,
        "logged in as elastic to Elasticsearch 8.11.0 (cluster shop)"
    );
    let query = passed(&reports, SessionStage::Query);
    assert_eq!(
        query,
        "cluster health yellow (some replica shards are not assigned), 1 nodes"
    );
    let privileges = failed(&reports, SessionStage::Privileges, "PRIVILEGE_MISSING");
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
    let reports = checked(&request, "login:FAILED query:SKIPPED privileges:SKIPPED").await;
    let login = failed(&reports, SessionStage::Login, "AUTH_FAILED");
    assert!(login.contains("refused (HTTP 401)"), "{login}");
    assert_no_secret(&reports, &request, "wrong-Pass-word");
}

#[tokio::test]
async fn https_gets_a_tls_stage_and_unchecked_privileges_are_said() {
    let pki = test_pki("dsconn test CA");
    let address = tls_server(&pki).await;
    let mut request = search_request(address, PASSWORD, &["SELECT:logs", "INSERT:logs"]);
    request.ca_pem = Some(pki.ca_pem.clone().into_bytes());
    let reports = checked(
        &request,
        "tls:PASSED login:PASSED query:PASSED privileges:SKIPPED",
    )
    .await;
    let tls = passed(&reports, SessionStage::Tls);
    assert!(
        tls.contains("chain trusted by the given CA, host name matches"),
        "{tls}"
    );
    let privileges = skipped(&reports, SessionStage::Privileges, "NOT_CHECKED");
    assert_eq!(
        privileges,
        "held: SELECT on index logs; not checked: INSERT:logs (on CSS only SELECT on a named \
         index is checked)"
    );
    request.ca_pem = Some(test_pki("another CA").ca_pem.into_bytes());
    let reports = check_session(&request).await;
    failed(&reports, SessionStage::Tls, "TLS_UNTRUSTED");
    assert_no_secret(&reports, &request, PASSWORD);
}
