//! What holds for every engine: the password never prints.

use std::net::SocketAddr;

use super::test_support::{assert_no_secret, request};
use super::{Engine, Secret, check_session};

#[test]
fn a_secret_prints_as_redacted() {
    let secret = Secret::new("hunter2-Pw".to_owned());
    assert_eq!(format!("{secret:?}"), "[redacted]");
    assert_eq!(format!("{secret}"), "[redacted]");
    assert_eq!(secret.expose(), "hunter2-Pw");
}

#[tokio::test]
async fn a_refused_connection_reports_no_password() {
    // A loopback port nothing listens on.
    let address: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port");
    for engine in [Engine::Postgres, Engine::MySql, Engine::Search] {
        let password = "refused-Pw-123";
        let request = request(
            engine,
            address,
            "app",
            password,
            Some("shop"),
            &["SELECT:t"],
        );
        let reports = check_session(&request).await;
        assert!(
            reports
                .iter()
                .any(|report| report.verdict == super::SessionVerdict::Failed),
            "{engine:?}: {reports:#?}"
        );
        assert_no_secret(&reports, &request, password);
    }
}
