//! Show and delete: the states a connection passes through.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    HangingTarget, TcpTarget, assert_dli_error, create_body, new_project, spawn_app, spawn_app_with,
};

#[tokio::test]
async fn a_new_connection_is_creating_with_zero_progress() {
    let app = spawn_app_with(|config| config.probe.check_timeout = Duration::from_secs(2)).await;
    let hanging = HangingTarget::start();
    let project = new_project();
    let before = dsconn::domain::now_millis();
    let id = app
        .create_ok(
            &project,
            &create_body("slow", "rds", &hanging.address.to_string()),
        )
        .await;
    assert!(uuid::Uuid::parse_str(&id).is_ok_and(|uuid| uuid.get_version_num() == 4));
    let connection = app.show(&project, &id).await;
    assert_eq!(connection.state, "CREATING");
    assert_eq!(connection.process, 0.0);
    assert_eq!(connection.connection_url, "");
    assert_eq!(connection.cluster_name, "");
    assert_eq!(connection.service, "RDS");
    assert!(
        connection.create_time >= before && connection.create_time <= dsconn::domain::now_millis()
    );
    assert!(connection.is_success);
    assert!(connection.available_queue_info.is_empty());
    assert!(connection.queue_list.is_empty());
}

#[tokio::test]
async fn show_answers_the_dli_fields_with_their_types() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("typed", "CloudTable", &target.address.to_string()),
        )
        .await;
    app.settled(&project, &id).await;
    let response = app.show_raw(&project, &id).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("json");
    for field in [
        "message",
        "connection_id",
        "destination",
        "state",
        "name",
        "connection_url",
        "cluster_name",
        "service",
    ] {
        assert!(body[field].is_string(), "{field} is a string: {body}");
    }
    assert!(body["is_success"].is_boolean());
    assert!(body["process"].is_f64());
    assert!(body["create_time"].is_i64());
    assert!(body["available_queue_info"].is_array());
    assert!(body["queue_list"].is_array());
}

#[tokio::test]
async fn deleting_an_active_connection_soft_deletes_it_and_is_idempotent() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("gone", "RDS", &target.address.to_string()),
        )
        .await;
    assert_eq!(app.settled(&project, &id).await.state, "ACTIVE");

    for _ in 0..2 {
        let response = app.delete(&project, &id).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-request-id"));
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body,
            serde_json::json!({"is_success": true, "message": "Deleted"})
        );
    }
    let connection = app.show(&project, &id).await;
    assert_eq!(connection.state, "DELETED");
    assert_eq!(connection.process, 0.0);
    assert_eq!(connection.connection_url, "");
    let listed = app.list(&project, "").await;
    assert_eq!(
        listed.count, 1,
        "deleted connections stay listed until purged"
    );
    assert_eq!(listed.connections[0].state, "DELETED");
}

#[tokio::test]
async fn deleting_a_creating_connection_is_refused() {
    let app = spawn_app_with(|config| config.probe.check_timeout = Duration::from_secs(3)).await;
    let hanging = HangingTarget::start();
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("busy", "RDS", &hanging.address.to_string()),
        )
        .await;
    let message = assert_dli_error(app.delete(&project, &id).await, 400, "DLI.0007").await;
    assert!(message.contains("CREATING"), "{message}");
    assert_eq!(app.show(&project, &id).await.state, "CREATING");
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_answered_as_not_found() {
    let app = spawn_app().await;
    let project = new_project();
    let unknown = uuid::Uuid::new_v4().to_string();
    for id in [unknown.as_str(), "not-a-uuid"] {
        let message = assert_dli_error(app.show_raw(&project, id).await, 400, "DLI.0002").await;
        assert!(message.contains(id), "{message}");
        assert_dli_error(app.delete(&project, id).await, 400, "DLI.0002").await;
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_the_gateway_404() {
    let app = spawn_app().await;
    let project = new_project();
    let response = app
        .get(app.url("/v2.0/nothing-here"))
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 404, "APIG.0101").await;
    let response = app
        .put(app.collection(&project))
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 404, "APIG.0101").await;
}

#[tokio::test]
async fn deleted_connections_are_purged_after_the_retention() {
    let app = spawn_app_with(|config| config.deleted_retention = Duration::from_millis(1)).await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let kept = app
        .create_ok(
            &project,
            &create_body("kept", "RDS", &target.address.to_string()),
        )
        .await;
    let purged = app
        .create_ok(
            &project,
            &create_body("purged", "RDS", &target.address.to_string()),
        )
        .await;
    app.settled(&project, &kept).await;
    app.settled(&project, &purged).await;
    assert_eq!(app.delete(&project, &purged).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.worker.run_once().await;
    let listed = app.list(&project, "").await;
    assert_eq!(listed.count, 1);
    assert_eq!(listed.connections[0].connection_id, kept);
    assert_dli_error(app.show_raw(&project, &purged).await, 400, "DLI.0002").await;
}
