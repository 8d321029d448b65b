//! What keeps greedy or slow clients from holding the server.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    HangingTarget, assert_dli_error, client_from, new_project, post_json, spawn_app, spawn_app_in,
    spawn_app_with,
};

#[tokio::test]
async fn a_credential_over_its_rate_gets_429_with_retry_after() {
    let app = spawn_app_with(|config| config.rate_limit = 2).await;
    let project = new_project();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = app.list_raw(&project, "").await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_dli_error(response, 429, "APIG.0308").await;
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 4,
        "a burst of twice the rate passes: {statuses:?}"
    );
}

#[tokio::test]
async fn a_request_over_the_deadline_is_answered_with_an_error() {
    let app = spawn_app_with(|config| {
        config.probe.check_timeout = Duration::from_secs(3);
        config.request_timeout = Duration::from_millis(400);
    })
    .await;
    let hanging = HangingTarget::start();
    let project = new_project();
    let started = Instant::now();
    let response = post_json(
        &app,
        &format!("/v2.0/{project}/datasource-connection/test"),
        &json!({"service": "RDS", "url": hanging.address.to_string()}),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let message = assert_dli_error(response, 503, "DLI.0999").await;
    assert!(message.contains("400ms"), "{message}");
}

#[tokio::test]
async fn a_client_that_sends_headers_too_slowly_is_disconnected() {
    let app =
        spawn_app_with(|config| config.header_read_timeout = Duration::from_millis(300)).await;
    let address = app.address;
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .expect("partial head");
        let started = Instant::now();
        let mut buffer = [0u8; 512];
        // The server gives up on the unfinished head and closes (possibly after a 408).
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break started.elapsed(),
                Ok(_) => continue,
            }
        }
    })
    .await
    .expect("joined");
    assert!(closed_after < Duration::from_secs(2), "{closed_after:?}");
    assert_eq!(
        app.get(app.url("/healthz"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
}

#[tokio::test]
async fn oversized_request_headers_are_refused() {
    let app = spawn_app_with(|config| config.max_header_bytes = 8192).await;
    let response = app
        .get(app.url("/healthz"))
        .header("x-padding", "p".repeat(20_000))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 431);
    assert_eq!(
        app.get(app.url("/healthz"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|config| {
        config.max_connections = 2;
        config.header_read_timeout = Duration::from_secs(10);
    })
    .await;
    let idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(app.address).expect("connect"))
        .collect();
    // Let the server accept both idle connections.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::time::timeout(
        Duration::from_millis(300),
        reqwest::Client::new().get(app.url("/healthz")).send(),
    )
    .await;
    assert!(
        waiting.is_err(),
        "a third connection is not served while two are open"
    );
    drop(idle);
    let served = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::Client::new().get(app.url("/healthz")).send(),
    )
    .await
    .expect("served once a slot is free")
    .expect("sent");
    assert_eq!(served.status(), 200);
}

#[tokio::test]
async fn readiness_reports_a_reachable_store() {
    let app = spawn_app_with(|_| {}).await;
    let response = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn readiness_fails_while_the_schema_is_not_this_builds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app_in(dir.path(), |_| {}).await;
    let ready = || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("sent")
            .status()
    };
    assert_eq!(ready().await, 200);

    // What a newer replica's migration leaves behind, written beside the running server.
    let database = dir.path().join(dsconn::store::DATABASE_FILE);
    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        database.display()
    ))
    .await
    .expect("database opens");
    sqlx::query(
        "INSERT INTO _sqlx_migrations \
             (version, description, installed_on, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer build', CURRENT_TIMESTAMP, 1, x'00', 0)",
    )
    .execute(&mut raw)
    .await
    .expect("row inserted");
    assert_eq!(ready().await, 503);

    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 99990101000000")
        .execute(&mut raw)
        .await
        .expect("row deleted");
    assert_eq!(ready().await, 200);
}

/// Sends `head` and then `body` on a raw connection (then, if `half_close`, ends the
/// sending side) and returns the status line of the answer and how long it took.
fn raw_exchange(
    address: std::net::SocketAddr,
    head: &str,
    body: &[u8],
    half_close: bool,
) -> (String, String, Duration) {
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(body).expect("body");
    if half_close {
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("half close");
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                answer.extend_from_slice(&buffer[..read]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    (status, answer, started.elapsed())
}

#[tokio::test]
async fn a_body_that_trickles_gets_408_within_the_body_read_timeout() {
    let app = spawn_app_with(|config| {
        config.body_read_timeout = Duration::from_millis(300);
        config.request_timeout = Duration::from_secs(5);
    })
    .await;
    let address = app.address;
    let head = format!(
        "POST /v2.0/{}/datasource-connection HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        new_project()
    );
    let (status, answer, elapsed) =
        tokio::task::spawn_blocking(move || raw_exchange(address, &head, b"{\"name\":", false))
            .await
            .expect("joined");
    assert!(status.contains(" 408 "), "{answer}");
    assert!(answer.contains("APIG.0201"), "{answer}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[rstest::rstest]
#[case::ends_early(
    "Content-Length: 100\r\n\r\n",
    b"{\"name\":".as_slice(),
    true
)]
#[case::malformed_chunks("Transfer-Encoding: chunked\r\n\r\n", b"zz\r\nnot a chunk\r\n".as_slice(), false)]
#[tokio::test]
async fn a_body_that_cannot_be_read_is_400_not_413(
    #[case] framing: &str,
    #[case] body: &'static [u8],
    #[case] half_close: bool,
) {
    let app = spawn_app().await;
    let address = app.address;
    let head = format!(
        "POST /v2.0/{}/datasource-connection HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\n{framing}",
        new_project()
    );
    let (status, answer, _) =
        tokio::task::spawn_blocking(move || raw_exchange(address, &head, body, half_close))
            .await
            .expect("joined");
    assert!(status.contains(" 400 "), "{answer}");
    assert!(answer.contains("APIG.0201"), "{answer}");
}

#[tokio::test]
async fn one_client_address_cannot_hold_more_than_its_share_of_connections() {
    let app = spawn_app_with(|config| {
        config.max_connections_per_client = 4;
        config.header_read_timeout = Duration::from_secs(10);
    })
    .await;
    let address = app.address;
    let idle: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(address).expect("connect"))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A fifth from the same address is closed at once, not served and not queued.
    let (status, answer, elapsed) = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let started = Instant::now();
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        (
            answer.lines().next().unwrap_or_default().to_owned(),
            answer,
            started.elapsed(),
        )
    })
    .await
    .expect("joined");
    assert!(
        status.is_empty(),
        "the fifth connection was served: {answer}"
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    // Another loopback address is served meanwhile.
    let other = client_from("127.0.0.2")
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("served from 127.0.0.2");
    assert_eq!(other.status(), 200);

    // Once the idle ones close, the first address is served again.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match reqwest::Client::new().get(app.url("/healthz")).send().await {
            Ok(response) if response.status() == 200 => break,
            _ => {
                assert!(Instant::now() < deadline, "127.0.0.1 not served again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("dsconn_connections_refused_total{reason=\"per_client_limit\"}"),
        "{metrics}"
    );
}
