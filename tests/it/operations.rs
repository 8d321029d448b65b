//! What operators see: metrics, health and readiness.

use std::time::{Duration, Instant};

use crate::helpers::{
    HangingTarget, ServerProcess, TcpTarget, cli_token, create_body, new_project, spawn_app,
};

#[tokio::test]
async fn metrics_count_requests_by_route_and_checks_by_outcome() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("metered", "RDS", &target.address.to_string()),
        )
        .await;
    app.settled(&project, &id).await;
    app.list(&project, "").await;
    let invented = reqwest::Method::from_bytes(b"BREWCOFFEE").expect("a valid token");
    let brewed = app
        .client
        .request(invented, app.url("/v2.0/any/datasource-connection"))
        .send()
        .await
        .expect("sent");
    assert!(brewed.status().is_client_error());

    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");
    let has = |needle: &str| text.lines().any(|line| line.contains(needle));
    assert!(
        has(
            r#"dsconn_http_requests_total{method="GET",route="/v2.0/{project_id}/datasource-connection",status="200"}"#
        ),
        "{text}"
    );
    assert!(has(
        r#"dsconn_http_requests_total{method="POST",route="/v2.0/{project_id}/datasource-connection",status="201"}"#
    ));
    assert!(
        has(r#"dsconn_checks_total{kind="create",outcome="reachable",reason="none"}"#),
        "{text}"
    );
    assert!(has("dsconn_http_request_duration_seconds_bucket"));
    assert!(has("dsconn_check_duration_seconds_bucket"));
    assert!(
        has(r#"dsconn_connections{state="ACTIVE",service="RDS"}"#),
        "{text}"
    );
    assert!(has("dsconn_pending_checks"));
    assert!(has("dsconn_leased_checks"));
    assert!(has(r#"method="OTHER""#), "{text}");
    assert!(
        !text.contains("BREWCOFFEE"),
        "invented methods never become labels"
    );
    assert!(!text.contains(&id), "ids never become labels");
    assert!(!text.contains(&project), "projects never become labels");
}

/// The `dsconn_connections` sample for a state and service, if rendered.
fn connections_gauge(metrics: &str, state: &str, service: &str) -> Option<f64> {
    let series = format!(r#"dsconn_connections{{state="{state}",service="{service}"}} "#);
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn a_connection_gauge_drops_to_zero_when_its_pair_is_gone() {
    // A process of its own: the metrics recorder is global to a process.
    let data = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(&[
        "--check-timeout".as_ref(),
        "1s".as_ref(),
        "--probe-mode".as_ref(),
        "tcp".as_ref(),
        "--data-dir".as_ref(),
        data.path().as_os_str(),
    ]);
    let client = reqwest::Client::new();
    let token = cli_token(data.path());
    let metrics_url = format!("http://{}/metrics", server.address);
    let scrape = || async {
        client
            .get(&metrics_url)
            .send()
            .await
            .expect("scraped")
            .text()
            .await
            .expect("text")
    };
    let hanging = HangingTarget::start();
    let project = new_project();
    let created = client
        .post(server.collection(&project))
        .header("X-Auth-Token", &token)
        .json(&create_body("gauged", "DWS", &hanging.address.to_string()))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    let creating = scrape().await;
    assert_eq!(
        connections_gauge(&creating, "CREATING", "DWS"),
        Some(1.0),
        "{creating}"
    );

    // The check times out after 1 s; the connection becomes FAILED.
    let deadline = Instant::now() + Duration::from_secs(20);
    let settled = loop {
        let text = scrape().await;
        if connections_gauge(&text, "FAILED", "DWS") == Some(1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "never FAILED: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        connections_gauge(&settled, "CREATING", "DWS"),
        Some(0.0),
        "no connection is CREATING any more: {settled}"
    );
}
