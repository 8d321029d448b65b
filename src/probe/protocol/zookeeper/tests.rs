use std::time::Duration;

use proptest::prelude::*;

use super::super::test_support::{self, ZooKeeper, ZooKeeperMode};
use super::super::verify;
use super::*;
use crate::domain::Service;

fn response(timeout_ms: i32, session_id: i64, read_only: Option<bool>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&timeout_ms.to_be_bytes());
    body.extend_from_slice(&session_id.to_be_bytes());
    body.extend_from_slice(&16i32.to_be_bytes());
    body.extend_from_slice(&[7; 16]);
    if let Some(read_only) = read_only {
        body.push(u8::from(read_only));
    }
    framed(&body)
}

#[test]
fn the_connect_request_has_the_documented_layout() {
    let request = connect_request();
    assert_eq!(request.len(), 49);
    assert_eq!(&request[..4], &45i32.to_be_bytes());
    assert_eq!(&request[16..20], &10_000i32.to_be_bytes());
    assert_eq!(&request[28..32], &16i32.to_be_bytes());
    assert_eq!(request[48], 0, "readOnly = false");
    assert_eq!(
        close_session_request(),
        [0, 0, 0, 8, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf5]
    );
}

#[test]
fn a_connect_response_is_read_whole_and_not_before() {
    let bytes = response(10_000, 0x1000_0000_0000_0001, Some(false));
    for cut in 0..bytes.len() {
        assert_eq!(
            parse_connect_response(&bytes[..cut]),
            Handshake::Incomplete,
            "cut at {cut}"
        );
    }
    assert_eq!(
        parse_connect_response(&bytes),
        Handshake::Session {
            timeout_ms: 10_000,
            session_id: 0x1000_0000_0000_0001,
            read_only: false
        }
    );
    // Servers before 3.4 send no readOnly flag.
    assert!(matches!(
        parse_connect_response(&response(4000, 9, None)),
        Handshake::Session {
            read_only: false,
            ..
        }
    ));
}

#[test]
fn other_first_bytes_are_foreign() {
    assert!(matches!(
        parse_connect_response(b"HTTP/1.1 400 Bad Request\r\n"),
        Handshake::Foreign { .. }
    ));
    let mut bad_password = response(10_000, 1, Some(false));
    bad_password[20..24].copy_from_slice(&(-1i32).to_be_bytes());
    assert!(matches!(
        parse_connect_response(&bad_password),
        Handshake::Foreign { .. }
    ));
}

proptest! {
    #[test]
    fn the_connect_response_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_connect_response(&bytes);
        let _ = parse_close_reply(&bytes);
    }

    #[test]
    fn the_connect_response_parser_never_panics_on_plausible_lengths(
        length in 0i32..80,
        password_length in any::<i32>(),
        body in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        if bytes.len() >= 24 {
            bytes[20..24].copy_from_slice(&password_length.to_be_bytes());
        }
        let _ = parse_connect_response(&bytes);
    }
}

/// Starts a real ZooKeeper in `mode` (None, after a skip message, where there is none)
/// and checks it as CloudTable.
async fn check_real_zookeeper(mode: ZooKeeperMode) -> Option<(ZooKeeper, ProtocolOutcome)> {
    let zookeeper = ZooKeeper::start(mode).await?;
    let stream = test_support::connect(zookeeper.address).await;
    let outcome = verify(
        Service::CloudTable,
        stream,
        "127.0.0.1",
        Duration::from_secs(5),
    )
    .await;
    Some((zookeeper, outcome))
}

#[tokio::test]
async fn cloudtable_against_a_real_zookeeper_is_verified_and_leaves_no_session() {
    let Some((zookeeper, outcome)) = check_real_zookeeper(ZooKeeperMode::Standalone).await else {
        return;
    };
    let ProtocolOutcome::Verified { detail } = &outcome else {
        panic!("expected Verified, got {outcome:?}");
    };
    assert!(detail.contains("closed at once"), "{detail}");
    assert_eq!(zookeeper.global_sessions().await, 0, "the session lingers");

    // The metric does count sessions: one left open shows up in it.
    let mut open = test_support::connect(zookeeper.address).await;
    open.write_all(&connect_request()).await.expect("write");
    let mut reply = Vec::new();
    while matches!(parse_connect_response(&reply), Handshake::Incomplete) {
        assert!(read_more(&mut open, &mut reply, 128).await.expect("read") > 0);
    }
    zookeeper.wait_for_global_sessions(1).await;
}

#[tokio::test]
async fn cloudtable_against_a_zookeeper_without_quorum_is_a_mismatch() {
    let Some((_zookeeper, outcome)) = check_real_zookeeper(ZooKeeperMode::WithoutQuorum).await
    else {
        return;
    };
    let ProtocolOutcome::Mismatch { detail } = &outcome else {
        panic!("expected Mismatch, got {outcome:?}");
    };
    assert!(detail.contains("without a quorum"), "{detail}");
}

#[tokio::test]
async fn cloudtable_against_an_http_server_is_a_mismatch_naming_http() {
    let address = test_support::http_server(test_support::elasticsearch_router()).await;
    let stream = test_support::connect(address).await;
    let outcome = verify(
        Service::CloudTable,
        stream,
        "127.0.0.1",
        Duration::from_secs(2),
    )
    .await;
    let ProtocolOutcome::Mismatch { detail } = &outcome else {
        panic!("expected Mismatch, got {outcome:?}");
    };
    assert!(detail.contains("an HTTP response"), "{detail}");
}

#[tokio::test]
async fn cloudtable_against_a_silent_listener_times_out_within_the_timeout() {
    let timeout = Duration::from_secs(2);
    let (outcome, elapsed) = test_support::verify_silent(Service::CloudTable, timeout).await;
    assert!(
        matches!(outcome, ProtocolOutcome::Timeout { .. }),
        "expected Timeout, got {outcome:?}"
    );
    test_support::assert_within_timeout(elapsed, timeout);
}
