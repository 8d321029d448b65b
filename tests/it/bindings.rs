//! Queue bindings, health re-checks, reactivation, simulation and the check budget.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    TcpTarget, TestApp, assert_dli_error, closed_port, create_body, create_queues, new_project,
    post_json, spawn_app, spawn_app_with,
};

fn queues_path(project: &str, id: &str, action: &str) -> String {
    format!("/v2.0/{project}/datasource-connection/{id}/{action}")
}

/// Waits until every binding has left CREATING.
async fn bindings_settled(app: &TestApp, project: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + crate::helpers::SETTLE_DEADLINE;
    loop {
        let body: Value = app.show_raw(project, id).await.json().await.expect("json");
        let pending = body["available_queue_info"]
            .as_array()
            .expect("queue info")
            .iter()
            .any(|queue| queue["status"] == "CREATING");
        if !pending && body["state"] != "CREATING" {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bindings still CREATING: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn queue<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["available_queue_info"]
        .as_array()
        .expect("queue info")
        .iter()
        .find(|queue| queue["name"] == name)
        .unwrap_or_else(|| panic!("queue {name} not bound: {body}"))
}

#[tokio::test]
async fn queues_bound_at_create_and_later_each_get_their_own_checked_entry() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    create_queues(&app, &project, &["etl", "adhoc", "nightly"]).await;
    let mut body = create_body("bound", "RDS", &target.address.to_string());
    body["queues"] = json!(["etl", "adhoc"]);
    let id = app.create_ok(&project, &body).await;
    let shown = bindings_settled(&app, &project, &id).await;
    assert_eq!(shown["queue_list"], json!(["adhoc", "etl"]));
    for name in ["etl", "adhoc"] {
        let entry = queue(&shown, name);
        assert_eq!(entry["status"], "ACTIVE", "{entry}");
        assert_eq!(entry["peer_id"], entry["uuid"]);
        assert!(uuid::Uuid::parse_str(entry["peer_id"].as_str().expect("peer id")).is_ok());
        assert!(entry["update_time"].as_i64().is_some_and(|t| t > 0));
        assert_eq!(entry["err_msg"], "");
    }

    let response = post_json(
        &app,
        &queues_path(&project, &id, "associate-queue"),
        &json!({"queues": ["nightly", "etl"]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let shown = bindings_settled(&app, &project, &id).await;
    assert_eq!(shown["queue_list"], json!(["adhoc", "etl", "nightly"]));
    assert_eq!(queue(&shown, "nightly")["status"], "ACTIVE");

    let listed = app.list(&project, "").await;
    assert_eq!(
        listed.connections[0].queue_list,
        ["adhoc", "etl", "nightly"]
    );
    assert_eq!(listed.connections[0].available_queue_info.len(), 3);

    let response = post_json(
        &app,
        &queues_path(&project, &id, "disassociate-queue"),
        &json!({"queues": ["etl"]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let shown: Value = app
        .show_raw(&project, &id)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown["queue_list"], json!(["adhoc", "nightly"]));
}

#[tokio::test]
async fn the_default_queue_and_bad_names_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("strict", "RDS", &target.address.to_string()),
        )
        .await;
    let path = queues_path(&project, &id, "associate-queue");
    let message = assert_dli_error(
        post_json(&app, &path, &json!({"queues": ["default"]})).await,
        400,
        "DLI.0007",
    )
    .await;
    assert!(message.contains("default"), "{message}");
    assert_dli_error(
        post_json(&app, &path, &json!({"queues": ["Bad Name"]})).await,
        400,
        "DLI.0001",
    )
    .await;
    assert_dli_error(
        post_json(&app, &path, &json!({"queues": []})).await,
        400,
        "DLI.0001",
    )
    .await;
    assert_dli_error(post_json(&app, &path, &json!({})).await, 400, "DLI.0001").await;
    let mut body = create_body("with-default", "RDS", &target.address.to_string());
    body["queues"] = json!(["default"]);
    assert_dli_error(app.create(&project, &body).await, 400, "DLI.0007").await;
    // An existing queue, so that the unknown connection is what is refused.
    create_queues(&app, &project, &["q"]).await;
    let unknown = queues_path(
        &project,
        &uuid::Uuid::new_v4().to_string(),
        "associate-queue",
    );
    assert_dli_error(
        post_json(&app, &unknown, &json!({"queues": ["q"]})).await,
        400,
        "DLI.0002",
    )
    .await;
    let shown: Value = app
        .show_raw(&project, &id)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown["queue_list"], json!([]));
    assert_eq!(app.list(&project, "").await.count, 1);
}

#[tokio::test]
async fn a_failing_destination_fails_each_binding_with_its_reason() {
    let app = spawn_app().await;
    let project = new_project();
    let port = closed_port();
    create_queues(&app, &project, &["etl"]).await;
    let mut body = create_body("down", "RDS", &format!("127.0.0.1:{port}"));
    body["queues"] = json!(["etl"]);
    let id = app.create_ok(&project, &body).await;
    let shown = bindings_settled(&app, &project, &id).await;
    assert_eq!(shown["state"], "FAILED");
    let entry = queue(&shown, "etl");
    assert_eq!(entry["status"], "FAILED");
    assert_eq!(entry["failure_reason"], "CONNECTION_REFUSED");
    assert!(
        entry["err_msg"]
            .as_str()
            .expect("err_msg")
            .contains(&port.to_string())
    );
}

#[tokio::test]
async fn deleting_a_connection_removes_its_bindings_for_good() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    create_queues(&app, &project, &["etl"]).await;
    let mut body = create_body("temporary", "RDS", &target.address.to_string());
    body["queues"] = json!(["etl"]);
    let id = app.create_ok(&project, &body).await;
    bindings_settled(&app, &project, &id).await;
    assert_eq!(app.delete(&project, &id).await.status(), 200);
    let shown: Value = app
        .show_raw(&project, &id)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown["available_queue_info"], json!([]));
    assert_eq!(shown["queue_list"], json!([]));
    let path = queues_path(&project, &id, "associate-queue");
    assert_dli_error(
        post_json(&app, &path, &json!({"queues": ["etl"]})).await,
        400,
        "DLI.0007",
    )
    .await;
}

#[tokio::test]
async fn a_recheck_flips_connectivity_when_the_target_goes_down_and_comes_back() {
    let app = spawn_app_with(|config| {
        config.role = dsconn::config::Role::Api;
        config.recheck_interval = Duration::from_millis(1);
    })
    .await;
    let target = TcpTarget::start().await;
    let address = target.address;
    let project = new_project();
    create_queues(&app, &project, &["etl"]).await;
    let mut body = create_body("watched", "RDS", &address.to_string());
    body["queues"] = json!(["etl"]);
    let id = app.create_ok(&project, &body).await;
    assert!(
        app.worker.run_once().await >= 2,
        "the check and the binding ran"
    );
    let shown = app.show(&project, &id).await;
    assert_eq!(
        (shown.state.as_str(), shown.connectivity.as_deref()),
        ("ACTIVE", Some("REACHABLE"))
    );
    let first_check = shown.last_checked_at.expect("checked");

    drop(target);
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.worker.run_once().await;
    let shown = app.show(&project, &id).await;
    assert_eq!(shown.state, "ACTIVE", "state keeps DLI's meaning");
    assert_eq!(shown.connectivity.as_deref(), Some("UNREACHABLE"));
    assert!(shown.last_checked_at.expect("checked") > first_check);
    assert_eq!(
        shown.available_queue_info[0].connectivity.as_deref(),
        Some("UNREACHABLE")
    );

    let _back = TcpTarget::start_on(&address.to_string()).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.worker.run_once().await;
    let shown = app.show(&project, &id).await;
    assert_eq!(shown.connectivity.as_deref(), Some("REACHABLE"));
    assert_eq!(
        shown.available_queue_info[0].connectivity.as_deref(),
        Some("REACHABLE")
    );
}

#[tokio::test]
async fn reactivating_a_failed_connection_checks_it_again() {
    let app = spawn_app_with(|config| config.role = dsconn::config::Role::Api).await;
    let port = closed_port();
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("retry", "RDS", &format!("127.0.0.1:{port}")),
        )
        .await;
    app.worker.run_once().await;
    assert_eq!(app.show(&project, &id).await.state, "FAILED");

    let _listener = TcpTarget::start_on(&format!("127.0.0.1:{port}")).await;
    let path = queues_path(&project, &id, "reactivate");
    let response = post_json(&app, &path, &json!({})).await;
    assert_eq!(response.status(), 200);
    let shown = app.show(&project, &id).await;
    assert_eq!(
        (shown.state.as_str(), shown.process, shown.message.as_str()),
        ("CREATING", 0.0, "")
    );
    app.worker.run_once().await;
    assert_eq!(app.show(&project, &id).await.state, "ACTIVE");

    let message = assert_dli_error(post_json(&app, &path, &json!({})).await, 400, "DLI.0007").await;
    assert!(message.contains("only a FAILED connection"), "{message}");
}

#[tokio::test]
async fn simulation_walks_dli_style_hosts_through_creating_and_applies_its_rules() {
    let app = spawn_app_with(|config| {
        config.probe.probe_mode = dsconn::probe::ProbeMode::Simulate;
        config.probe.simulate_duration = Duration::from_millis(400);
        config.probe.simulate_rules = vec![
            "*.broken.example=fail:CONNECTION_REFUSED:simulated refusal"
                .parse()
                .expect("rule"),
        ];
    })
    .await;
    let project = new_project();
    let url = "cloudtable-c172-zk3-WBFt4fr2.mycloudtable.com:2181,cloudtable-c172-zk2-LHZEWNau.mycloudtable.com:2181";
    let id = app
        .create_ok(&project, &create_body("sim", "CloudTable", url))
        .await;
    let mut saw_progress = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let done = loop {
        let shown = app.show(&project, &id).await;
        if shown.state == "CREATING" && shown.process > 0.0 && shown.process < 1.0 {
            saw_progress = true;
        }
        if shown.state != "CREATING" {
            break shown;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(saw_progress, "progress was visible while CREATING");
    assert_eq!(done.state, "ACTIVE");
    assert_eq!(done.connection_url, url);

    let broken = app
        .create_ok(
            &project,
            &create_body("broken", "RDS", "db.broken.example:3306"),
        )
        .await;
    let failed = app.settled(&project, &broken).await;
    assert_eq!(failed.state, "FAILED");
    assert_eq!(failed.failure_reason.as_deref(), Some("CONNECTION_REFUSED"));
    assert!(
        failed.message.contains("simulated refusal"),
        "{}",
        failed.message
    );
}

#[tokio::test]
async fn a_project_starting_checks_too_fast_gets_429_with_retry_after() {
    let app = spawn_app_with(|config| config.checks_per_minute = 3).await;
    let project = new_project();
    let url = format!("127.0.0.1:{}", closed_port());
    for index in 0..3 {
        app.create_ok(&project, &create_body(&format!("c{index}"), "RDS", &url))
            .await;
    }
    let response = app.create(&project, &create_body("c3", "RDS", &url)).await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .expect("Retry-After seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_dli_error(response, 429, "APIG.0308").await;
    assert_eq!(
        app.list(&project, "").await.count,
        3,
        "the refused create stored nothing"
    );
    app.create_ok(&new_project(), &create_body("other", "RDS", &url))
        .await;
}
