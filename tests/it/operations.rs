//! What operators see: metrics, health and readiness.

use crate::helpers::{TcpTarget, create_body, new_project, spawn_app};

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
