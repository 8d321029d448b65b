use std::time::Duration;

use super::super::test_support::{self, MARIADB, POSTGRES};
use super::super::verify;
use super::*;
use crate::domain::Service;

#[test]
fn only_a_lone_s_or_n_is_an_sslrequest_answer() {
    assert!(judge(b"N").is_verified());
    assert!(judge(b"S").is_verified());
    assert!(!judge(b"NO").is_verified());
    assert!(!judge(b"E").is_verified());
}

#[tokio::test]
async fn dws_against_the_real_postgresql_is_verified() {
    let Some(stream) = test_support::connect_to_service(POSTGRES, "PostgreSQL").await else {
        return;
    };
    let outcome = verify(Service::Dws, stream, "127.0.0.1", Duration::from_secs(5)).await;
    let ProtocolOutcome::Verified { detail } = &outcome else {
        panic!("expected Verified, got {outcome:?}");
    };
    assert!(detail.starts_with("PostgreSQL (SSL"), "{detail}");
}

#[tokio::test]
async fn dws_against_the_real_mariadb_is_a_mismatch_naming_mariadb() {
    let Some(stream) = test_support::connect_to_service(MARIADB, "MariaDB").await else {
        return;
    };
    let outcome = verify(Service::Dws, stream, "127.0.0.1", Duration::from_secs(5)).await;
    let ProtocolOutcome::Mismatch { detail } = &outcome else {
        panic!("expected Mismatch, got {outcome:?}");
    };
    assert!(
        detail.contains("a MySQL/MariaDB greeting (MariaDB"),
        "{detail}"
    );
}

#[tokio::test]
async fn dws_against_an_http_server_is_a_mismatch_naming_http() {
    let address = test_support::http_server(test_support::elasticsearch_router()).await;
    let stream = test_support::connect(address).await;
    let outcome = verify(Service::Dws, stream, "127.0.0.1", Duration::from_secs(2)).await;
    let ProtocolOutcome::Mismatch { detail } = &outcome else {
        panic!("expected Mismatch, got {outcome:?}");
    };
    assert!(detail.contains("an HTTP response"), "{detail}");
}

#[tokio::test]
async fn dws_against_a_silent_listener_times_out_within_the_timeout() {
    let timeout = Duration::from_secs(2);
    let (outcome, elapsed) = test_support::verify_silent(Service::Dws, timeout).await;
    assert!(
        matches!(outcome, ProtocolOutcome::Timeout { .. }),
        "expected Timeout, got {outcome:?}"
    );
    test_support::assert_within_timeout(elapsed, timeout);
}
