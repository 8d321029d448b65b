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
        test_support::tls_http_server(test_support::elasticsearch_router(), TlsMode::Only).await;
    let outcome = check_css(address, "localhost").await;
    assert_eq!(
        expect_verified(&outcome),
        "Elasticsearch 8.11.0, cluster \"docker-cluster\" (over TLS; certificate not \
         trusted: issued by an unknown authority (self-signed or a private CA))"
    );
}

#[tokio::test]
async fn css_behind_an_nginx_style_https_port_is_retried_over_tls() {
    let address = test_support::tls_http_server(unauthorized_router(), TlsMode::OrPlain400).await;
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
        test_support::tls_http_server(test_support::elasticsearch_router(), TlsMode::OnlyH2).await;
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
