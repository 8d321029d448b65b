//! What is stored survives a restart on the same data dir.

use crate::helpers::{TcpTarget, closed_port, create_body, new_project, spawn_app_in};

#[tokio::test]
async fn a_restart_on_the_same_data_dir_lists_the_same_connections() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let target = TcpTarget::start().await;
    let project = new_project();
    let app = spawn_app_in(data_dir.path(), |_| {}).await;
    let mut body = create_body("kept", "RDS", &target.address.to_string());
    body["tags"] = serde_json::json!([{"key": "env", "value": "prod"}]);
    let active = app.create_ok(&project, &body).await;
    let failed = app
        .create_ok(
            &project,
            &create_body("broken", "DWS", &format!("127.0.0.1:{}", closed_port())),
        )
        .await;
    app.settled(&project, &active).await;
    app.settled(&project, &failed).await;
    assert_eq!(app.delete(&project, &failed).await.status(), 200);
    let before = app.list(&project, "").await;
    app.stop().await;

    let app = spawn_app_in(data_dir.path(), |_| {}).await;
    let after = app.list(&project, "").await;
    assert_eq!(before, after);
    assert_eq!(after.count, 2);
    assert_eq!(app.list(&project, "tags=env%3Dprod").await.count, 1);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let _first = spawn_app_in(data_dir.path(), |_| {}).await;
    let config = dsconn::config::ServeConfig::for_data_dir(data_dir.path());
    let error = dsconn::app::Application::build(&config)
        .await
        .err()
        .expect("second server refused");
    assert!(
        format!("{error:#}").contains("in use by another dsconn process"),
        "{error:#}"
    );
}
