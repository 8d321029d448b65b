//! DLI's queues and elastic resource pools over HTTP: a queue must exist to be bound,
//! a bound queue cannot be deleted, declared queues (`serve --queue`) are present in every
//! project, and each project sees only its own.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    TcpTarget, TestApp, assert_dli_error, create_body, create_queues, new_project, post_json,
    spawn_app, spawn_app_with,
};

fn queues_url(app: &TestApp, project: &str) -> String {
    app.url(&format!("/v1.0/{project}/queues"))
}

fn queue_url(app: &TestApp, project: &str, name: &str) -> String {
    app.url(&format!("/v1.0/{project}/queues/{name}"))
}

fn associate_path(project: &str, id: &str, action: &str) -> String {
    format!("/v2.0/{project}/datasource-connection/{id}/{action}")
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}

async fn list_queues(app: &TestApp, project: &str, query: &str) -> Vec<Value> {
    let response = app
        .get(format!("{}?{query}", queues_url(app, project)))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    body["queues"].as_array().expect("queues").clone()
}

fn names(queues: &[Value]) -> Vec<&str> {
    queues
        .iter()
        .map(|queue| queue["queue_name"].as_str().expect("queue_name"))
        .collect()
}

#[tokio::test]
async fn a_queue_is_created_listed_shown_and_deleted_with_its_fields_echoed() {
    let app = spawn_app().await;
    let project = new_project();
    let body = json!({
        "queue_name": "ETL_Queue",
        "cu_count": 16,
        "queue_type": "general",
        "description": "nightly loads",
        "charging_mode": 1,
        "enterprise_project_id": "0",
        "platform": "x86_64",
        "resource_mode": 1,
        "labels": ["multi_az=2"],
        "feature": "basic",
        "tags": [{"key": "team", "value": "data"}],
        "elastic_resource_pool_name": "pool_a",
        "properties": {"computeEngine.spark.nativeEnabled": "true"},
        "engine": "spark",
        "unknown_field": "ignored"
    });
    let response = post_json(&app, &format!("/v1.0/{project}/queues"), &body).await;
    assert_eq!(response.status(), 200);
    let created = json_of(response).await;
    assert_eq!(
        created["queue_name"], "etl_queue",
        "names fold to lower case"
    );
    assert_eq!(created["is_success"], true);

    // DLI lists `sql` queues unless asked for another type.
    assert!(list_queues(&app, &project, "").await.is_empty());
    let listed = list_queues(&app, &project, "queue_type=all").await;
    assert_eq!(names(&listed), ["etl_queue"]);
    let item = &listed[0];
    assert_eq!(item["queue_type"], "general");
    assert_eq!(item["cu_count"], 16);
    assert_eq!(item["owner"], "dsconn");
    assert_eq!(item["labels"], r#"["multi_az=2"]"#);
    assert_eq!(item["tags"], json!([{"key": "team", "value": "data"}]));
    assert_eq!(item["engine"], "spark");
    assert_eq!(item["declared"], false);
    assert!(item.get("unknown_field").is_none());
    assert_eq!(
        names(&list_queues(&app, &project, "queue_type=general&tags=team=data").await),
        ["etl_queue"]
    );
    assert!(
        list_queues(&app, &project, "queue_type=all&tags=team=ops")
            .await
            .is_empty()
    );

    let shown = json_of(
        app.get(queue_url(&app, &project, "ETL_QUEUE"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(shown["queueName"], "etl_queue");
    assert_eq!(shown["queueType"], "general");
    assert_eq!(shown["cuCount"], 16);
    assert_eq!(shown["chargingMode"], 1);
    assert_eq!(shown["resource_id"], item["resource_id"]);

    let again = post_json(
        &app,
        &format!("/v1.0/{project}/queues"),
        &json!({"queue_name": "etl_queue", "cu_count": 16}),
    )
    .await;
    let message = assert_dli_error(again, 400, "DLI.0006").await;
    assert!(message.contains("etl_queue"), "{message}");

    let deleted = app
        .delete_request(queue_url(&app, &project, "etl_queue"))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 200);
    let gone = app
        .get(queue_url(&app, &project, "etl_queue"))
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(gone, 400, "DLI.0002").await;
    assert_eq!(message, "There is no queue named etl_queue");
    let again = app
        .delete_request(queue_url(&app, &project, "etl_queue"))
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(again, 400, "DLI.0002").await;
    assert_eq!(message, "There is no queue named etl_queue");
}

#[tokio::test]
async fn bad_queue_fields_are_refused_with_the_field_named_and_nothing_stored() {
    let app = spawn_app().await;
    let project = new_project();
    let path = format!("/v1.0/{project}/queues");
    let cases = [
        (json!({"cu_count": 16}), "queue_name"),
        (json!({"queue_name": "q1"}), "cu_count"),
        (json!({"queue_name": "q1", "cu_count": "16"}), "cu_count"),
        (json!({"queue_name": "q1", "cu_count": 0}), "cu_count"),
        (json!({"queue_name": "_q", "cu_count": 16}), "queue_name"),
        (json!({"queue_name": "123", "cu_count": 16}), "queue_name"),
        (json!({"queue_name": "a-b", "cu_count": 16}), "queue_name"),
        (
            json!({"queue_name": "q".repeat(129), "cu_count": 16}),
            "queue_name",
        ),
        (
            json!({"queue_name": "q1", "cu_count": 16, "queue_type": "spark"}),
            "queue_type",
        ),
        (
            json!({"queue_name": "q1", "cu_count": 16, "engine": "flink"}),
            "engine",
        ),
        (
            json!({"queue_name": "q1", "cu_count": 16, "description": "d".repeat(257)}),
            "description",
        ),
        (
            json!({"queue_name": "q1", "cu_count": 16, "labels": "multi_az=2"}),
            "labels",
        ),
        (
            json!({"queue_name": "q1", "cu_count": 16, "labels": vec!["x"; 11]}),
            "labels",
        ),
        (
            json!({"queue_name": "q1", "cu_count": 16, "tags": [{"key": "_sys_x", "value": "v"}]}),
            "_sys_",
        ),
        (
            json!({"queue_name": "q1", "cu_count": 16, "properties": {"k": 1}}),
            "properties",
        ),
        (
            json!({"queue_name": "q1", "cu_count": 16, "resource_mode": 3}),
            "resource_mode",
        ),
    ];
    for (body, named) in cases {
        let message = assert_dli_error(post_json(&app, &path, &body).await, 400, "DLI.0001").await;
        assert!(message.contains(named), "{body}: {message}");
    }
    assert!(
        list_queues(&app, &project, "queue_type=all")
            .await
            .is_empty()
    );
    let bad_filter = app
        .get(format!("{}?queue_type=spark", queues_url(&app, &project)))
        .send()
        .await
        .expect("sent");
    assert_dli_error(bad_filter, 400, "DLI.0001").await;
}

#[tokio::test]
async fn binding_an_unknown_queue_is_dli_0002_and_changes_nothing() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    create_queues(&app, &project, &["known"]).await;

    let mut body = create_body("bound", "RDS", &target.address.to_string());
    body["queues"] = json!(["known", "ghost"]);
    let refused = app.create(&project, &body).await;
    let message = assert_dli_error(refused, 400, "DLI.0002").await;
    assert_eq!(message, "There is no queue named ghost");
    assert_eq!(
        app.list(&project, "").await.count,
        0,
        "no connection was created"
    );

    let id = app
        .create_ok(
            &project,
            &create_body("plain", "RDS", &target.address.to_string()),
        )
        .await;
    let path = associate_path(&project, &id, "associate-queue");
    let refused = post_json(&app, &path, &json!({"queues": ["known", "ghost"]})).await;
    let message = assert_dli_error(refused, 400, "DLI.0002").await;
    assert_eq!(message, "There is no queue named ghost");
    let shown = app.show(&project, &id).await;
    assert!(shown.available_queue_info.is_empty(), "nothing was bound");

    let bound = post_json(&app, &path, &json!({"queues": ["KNOWN"]})).await;
    assert_eq!(bound.status(), 200);
    assert_eq!(app.show(&project, &id).await.queue_list, ["known"]);
}

#[tokio::test]
async fn a_bound_queue_cannot_be_deleted_until_every_connection_lets_it_go() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    create_queues(&app, &project, &["etl"]).await;
    let mut body = create_body("first", "RDS", &target.address.to_string());
    body["queues"] = json!(["etl"]);
    let first = app.create_ok(&project, &body).await;
    body["name"] = json!("second");
    let second = app.create_ok(&project, &body).await;

    let refused = app
        .delete_request(queue_url(&app, &project, "etl"))
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(refused, 400, "DLI.0007").await;
    assert!(message.contains("bound to 2 connection(s)"), "{message}");

    let unbind = associate_path(&project, &first, "disassociate-queue");
    assert_eq!(
        post_json(&app, &unbind, &json!({"queues": ["etl"]}))
            .await
            .status(),
        200
    );
    app.settled(&project, &second).await;
    assert_eq!(app.delete(&project, &second).await.status(), 200);
    // A DELETED connection's bindings hold nothing.
    let deleted = app
        .delete_request(queue_url(&app, &project, "etl"))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 200);
}

#[tokio::test]
async fn declared_queues_are_in_every_project_bindable_and_never_deleted() {
    let app = spawn_app_with(|config| {
        config.queues = vec![dsconn::domain::QueueName::parse("shared_q").expect("name")];
    })
    .await;
    let target = TcpTarget::start().await;
    for project in [new_project(), new_project()] {
        let listed = list_queues(&app, &project, "").await;
        assert_eq!(names(&listed), ["shared_q"]);
        assert_eq!(listed[0]["declared"], true);
        assert_eq!(listed[0]["owner"], "dsconn");
        assert_eq!(listed[0]["queue_type"], "sql");
        let shown = json_of(
            app.get(queue_url(&app, &project, "shared_q"))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(shown["queueName"], "shared_q");
        assert_eq!(shown["declared"], true);

        let mut body = create_body("uses-declared", "RDS", &target.address.to_string());
        body["queues"] = json!(["shared_q"]);
        let id = app.create_ok(&project, &body).await;
        assert_eq!(app.show(&project, &id).await.queue_list, ["shared_q"]);

        let refused = app
            .delete_request(queue_url(&app, &project, "shared_q"))
            .send()
            .await
            .expect("sent");
        let message = assert_dli_error(refused, 400, "DLI.0007").await;
        assert!(message.contains("--queue"), "{message}");
        let duplicate = post_json(
            &app,
            &format!("/v1.0/{project}/queues"),
            &json!({"queue_name": "Shared_Q", "cu_count": 16}),
        )
        .await;
        assert_dli_error(duplicate, 400, "DLI.0006").await;
    }
}

#[tokio::test]
async fn another_projects_queues_and_pools_are_invisible_and_untouchable() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let owner = new_project();
    let stranger = new_project();
    create_queues(&app, &owner, &["private_q"]).await;
    let pool = post_json(
        &app,
        &format!("/v3/{owner}/elastic-resource-pools"),
        &json!({"elastic_resource_pool_name": "private_pool", "min_cu": 64, "max_cu": 64}),
    )
    .await;
    assert_eq!(pool.status(), 200);

    // A credential of the stranger's project only.
    let token = dsconn::issuing::create_token(
        &app.store,
        dsconn::domain::ProjectScope::Projects(vec![stranger.clone()]),
        Duration::from_secs(600),
    )
    .await
    .expect("token")
    .token
    .expose()
    .to_owned();
    let as_stranger = |method: reqwest::Method, path: String| {
        app.client
            .request(method, app.url(&path))
            .header("X-Auth-Token", &token)
    };
    let listed = json_of(
        as_stranger(
            reqwest::Method::GET,
            format!("/v1.0/{stranger}/queues?queue_type=all"),
        )
        .send()
        .await
        .expect("sent"),
    )
    .await;
    assert_eq!(listed["queues"], json!([]));
    let pools = json_of(
        as_stranger(
            reqwest::Method::GET,
            format!("/v3/{stranger}/elastic-resource-pools"),
        )
        .send()
        .await
        .expect("sent"),
    )
    .await;
    assert_eq!(pools["count"], 0);
    let shown = as_stranger(
        reqwest::Method::GET,
        format!("/v1.0/{stranger}/queues/private_q"),
    )
    .send()
    .await
    .expect("sent");
    assert_eq!(
        assert_dli_error(shown, 400, "DLI.0002").await,
        "There is no queue named private_q"
    );
    let deleted = as_stranger(
        reqwest::Method::DELETE,
        format!("/v1.0/{stranger}/queues/private_q"),
    )
    .send()
    .await
    .expect("sent");
    assert_dli_error(deleted, 400, "DLI.0002").await;
    let deleted = as_stranger(
        reqwest::Method::DELETE,
        format!("/v3/{stranger}/elastic-resource-pools/private_pool"),
    )
    .send()
    .await
    .expect("sent");
    assert_dli_error(deleted, 400, "DLI.0002").await;
    // The owner's project is forbidden to the stranger's credential.
    let forbidden = as_stranger(reqwest::Method::GET, format!("/v1.0/{owner}/queues"))
        .send()
        .await
        .expect("sent");
    assert_dli_error(forbidden, 403, "APIG.0302").await;
    let forbidden = as_stranger(
        reqwest::Method::DELETE,
        format!("/v1.0/{owner}/queues/private_q"),
    )
    .send()
    .await
    .expect("sent");
    assert_dli_error(forbidden, 403, "APIG.0302").await;
    // Nor can the stranger bind the owner's queue in its own project.
    let mut body = create_body("borrow", "RDS", &target.address.to_string());
    body["queues"] = json!(["private_q"]);
    let borrowed = as_stranger(
        reqwest::Method::POST,
        format!("/v2.0/{stranger}/datasource-connection"),
    )
    .json(&body)
    .send()
    .await
    .expect("sent");
    assert_dli_error(borrowed, 400, "DLI.0002").await;

    assert_eq!(names(&list_queues(&app, &owner, "").await), ["private_q"]);
    let pools = json_of(
        app.get(app.url(&format!("/v3/{owner}/elastic-resource-pools")))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(pools["count"], 1, "the stranger's delete changed nothing");
}

#[tokio::test]
async fn pools_are_created_listed_paged_and_deleted() {
    let app = spawn_app().await;
    let project = new_project();
    let path = format!("/v3/{project}/elastic-resource-pools");
    for name in ["pool_b", "Pool_A"] {
        let created = post_json(
            &app,
            &path,
            &json!({"elastic_resource_pool_name": name, "min_cu": 64, "max_cu": 128,
                    "description": "d", "label": {"spec": "basic"},
                    "tags": [{"key": "team", "value": "data"}]}),
        )
        .await;
        assert_eq!(created.status(), 200);
        let created = json_of(created).await;
        assert_eq!(
            created["elastic_resource_pool_name"],
            name.to_ascii_lowercase()
        );
    }
    let duplicate = post_json(
        &app,
        &path,
        &json!({"elastic_resource_pool_name": "pool_a", "min_cu": 64, "max_cu": 64}),
    )
    .await;
    assert_dli_error(duplicate, 400, "DLI.0006").await;
    let inverted = post_json(
        &app,
        &path,
        &json!({"elastic_resource_pool_name": "pool_c", "min_cu": 128, "max_cu": 64}),
    )
    .await;
    assert!(
        assert_dli_error(inverted, 400, "DLI.0001")
            .await
            .contains("min_cu")
    );
    let small = post_json(
        &app,
        &path,
        &json!({"elastic_resource_pool_name": "pool_c", "min_cu": 8, "max_cu": 64}),
    )
    .await;
    assert!(
        assert_dli_error(small, 400, "DLI.0001")
            .await
            .contains("min_cu")
    );
    // A queue naming a pool is listed among its queues.
    let queue = post_json(
        &app,
        &format!("/v1.0/{project}/queues"),
        &json!({"queue_name": "in_pool", "cu_count": 16, "elastic_resource_pool_name": "pool_a"}),
    )
    .await;
    assert_eq!(queue.status(), 200);

    let all = json_of(app.get(app.url(&path)).send().await.expect("sent")).await;
    assert_eq!(all["count"], 2);
    let pools = all["elastic_resource_pools"].as_array().expect("pools");
    assert_eq!(pools[0]["elastic_resource_pool_name"], "pool_a");
    assert_eq!(pools[0]["queues"], json!(["in_pool"]));
    assert_eq!(pools[0]["label"], json!({"spec": "basic"}));
    assert_eq!(pools[0]["status"], "AVAILABLE");
    assert_eq!(pools[1]["queues"], json!([]));
    let page = json_of(
        app.get(app.url(&format!("{path}?limit=1&offset=1")))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(page["count"], 2);
    assert_eq!(
        page["elastic_resource_pools"][0]["elastic_resource_pool_name"],
        "pool_b"
    );
    let named = json_of(
        app.get(app.url(&format!("{path}?name=B")))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(named["count"], 1);
    let bad = app
        .get(app.url(&format!("{path}?limit=0")))
        .send()
        .await
        .expect("sent");
    assert_dli_error(bad, 400, "DLI.0001").await;

    let deleted = app
        .delete_request(app.url(&format!("{path}/POOL_A")))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 200);
    let again = app
        .delete_request(app.url(&format!("{path}/pool_a")))
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(again, 400, "DLI.0002").await;
    assert_eq!(message, "There is no elastic resource pool named pool_a");
}
