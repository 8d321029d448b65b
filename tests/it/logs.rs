//! What clients send cannot forge log fields or log lines.

use std::ffi::OsStr;

use crate::helpers::{LoggedServer, new_project};

#[tokio::test]
async fn client_values_cannot_forge_log_fields_or_lines() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = LoggedServer::start(
        "debug",
        &[
            OsStr::new("--auth"),
            OsStr::new("none"),
            OsStr::new("--data-dir"),
            data.path().as_os_str(),
        ],
    );
    let client = reqwest::Client::new();

    let forged = client
        .get(server.url("/healthz"))
        .header("x-request-id", "x request.id=forged")
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 200);
    let echoed = forged.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&echoed).is_ok(),
        "an unsafe id is replaced by a generated one: {echoed:?}"
    );

    let kept = client
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-42_a.b")
        .send()
        .await
        .expect("sent");
    assert_eq!(kept.headers()["x-request-id"], "trace-42_a.b");
    let too_long = "a".repeat(65);
    let replaced = client
        .get(server.url("/healthz"))
        .header("x-request-id", &too_long)
        .send()
        .await
        .expect("sent");
    assert_ne!(replaced.headers()["x-request-id"], too_long.as_str());

    // A connection id whose %0a decodes to a newline, logged at debug when refused.
    let project = new_project();
    let refused = client
        .get(server.url(&format!(
            "/v2.0/{project}/datasource-connection/abc%0aFORGED%20level=ERROR"
        )))
        .header("x-request-id", "last-request")
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 400);
    server.wait_for_line("request refused");
    server.wait_for_line("last-request");

    let log = server.log();
    assert!(
        log.iter().any(|line| line.contains(&echoed)),
        "the generated id is logged: {log:#?}"
    );
    assert!(
        !log.iter().any(|line| line.contains("request.id=forged")),
        "a forged field: {log:#?}"
    );
    assert!(
        !log.iter().any(|line| line.starts_with("FORGED")),
        "a forged line: {log:#?}"
    );
}

#[tokio::test]
async fn the_start_up_log_says_when_signatures_for_any_host_are_accepted() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = LoggedServer::start("info", &[OsStr::new("--data-dir"), data.path().as_os_str()]);
    server.wait_for_line("--allowed-hosts is not set");
}
