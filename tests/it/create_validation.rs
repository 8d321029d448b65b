use rstest::rstest;
use serde_json::{Value, json};

use crate::helpers::{assert_dli_error, create_body, new_project, spawn_app, spawn_app_with};

fn with(field: &str, value: Value) -> Value {
    let mut body = create_body("conn", "RDS", "db.example.com:3306");
    body[field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = create_body("conn", "RDS", "db.example.com:3306");
    body.as_object_mut().expect("object").remove(field);
    body
}

fn tags(items: Value) -> Value {
    with("tags", items)
}

#[rstest]
#[case::name_missing(without("name"), "name is required")]
#[case::name_null(with("name", Value::Null), "name is required")]
#[case::name_empty(with("name", json!("")), "must not be empty")]
#[case::name_with_space(with("name", json!("bad name")), "letters, digits")]
#[case::name_too_long(with("name", json!("n".repeat(65))), "at most 64")]
#[case::name_not_a_string(with("name", json!(5)), "invalid type")]
#[case::service_missing(without("service"), "service is required")]
#[case::service_unknown(with("service", json!("MongoDB")), "service must be one of")]
#[case::security_group_missing(without("security_group_id"), "security_group_id is required")]
#[case::security_group_empty(with("security_group_id", json!("")), "must not be empty")]
#[case::security_group_too_long(with("security_group_id", json!("s".repeat(65))), "at most 64")]
#[case::network_missing(without("network_id"), "network_id is required")]
#[case::network_empty(with("network_id", json!(" ")), "must not be empty")]
#[case::network_too_long(with("network_id", json!("n".repeat(65))), "at most 64")]
#[case::url_missing(without("url"), "url is required")]
#[case::url_empty(with("url", json!("")), "at least one endpoint")]
#[case::url_too_long(with("url", json!(format!("{}.example.com", "a".repeat(60)).repeat(1) + &",b.example.com".repeat(40))), "at most 512")]
#[case::url_with_scheme(with("url", json!("mysql://db:3306")), "without a scheme")]
#[case::url_bad_port(with("url", json!("db:99999")), "port")]
#[case::url_empty_endpoint(with("url", json!("a:1,,b:2")), "empty endpoint")]
#[case::url_bad_ipv6(with("url", json!("[::zz]:1")), "IPv6")]
#[case::url_bad_ipv4(with("url", json!("256.0.0.1")), "IPv4")]
#[case::url_bad_host(with("url", json!("db_1.example")), "labels")]
#[case::tags_not_a_list(tags(json!("env=prod")), "invalid type")]
#[case::tag_key_missing(tags(json!([{"value": "v"}])), "tags[0].key is required")]
#[case::tag_value_missing(tags(json!([{"key": "k"}])), "tags[0].value is required")]
#[case::tag_key_empty(tags(json!([{"key": "", "value": "v"}])), "1 to 128")]
#[case::tag_key_too_long(tags(json!([{"key": "k".repeat(129), "value": "v"}])), "1 to 128")]
#[case::tag_value_too_long(tags(json!([{"key": "k", "value": "v".repeat(256)}])), "0 to 255")]
#[case::tag_bad_char(tags(json!([{"key": "k#", "value": "v"}])), "contains '#'")]
#[case::tag_leading_space(tags(json!([{"key": " k", "value": "v"}])), "space")]
#[case::tag_reserved(tags(json!([{"key": "_sys_x", "value": "v"}])), "reserved")]
#[case::tag_duplicate(tags(json!([{"key": "k", "value": "1"}, {"key": "k", "value": "2"}])), "more than once")]
#[case::too_many_tags(tags(Value::Array((0..21).map(|i| json!({"key": format!("k{i}"), "value": ""})).collect())), "at most 20")]
#[case::body_not_an_object(json!([1, 2]), "invalid type")]
#[tokio::test]
async fn an_invalid_create_is_refused_and_changes_nothing(
    #[case] body: Value,
    #[case] reason: &str,
) {
    let app = spawn_app().await;
    let project = new_project();
    let message = assert_dli_error(app.create(&project, &body).await, 400, "DLI.0001").await;
    assert!(
        message.contains(reason),
        "{message:?} should mention {reason:?}"
    );
    assert_eq!(app.list(&project, "").await.count, 0);
}

#[tokio::test]
async fn malformed_json_is_refused_with_a_dli_error() {
    let app = spawn_app().await;
    let project = new_project();
    let response = app
        .post(app.collection(&project))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    assert!(message.contains("not valid JSON"), "{message}");
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_refused() {
    let app = spawn_app().await;
    let project = new_project();
    let body = create_body("conn", "RDS", "db:3306").to_string();
    let response = app
        .post(app.collection(&project))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    assert!(message.contains("Content-Type"), "{message}");
    assert_eq!(app.list(&project, "").await.count, 0);
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_refused_with_413() {
    let app = spawn_app_with(|config| config.max_body_bytes = 4096).await;
    let project = new_project();
    let mut body = create_body("conn", "RDS", "db:3306");
    body["padding"] = json!("x".repeat(8192));
    let message = assert_dli_error(app.create(&project, &body).await, 413, "APIG.0201").await;
    assert!(message.contains("4096"), "{message}");
    assert_eq!(app.list(&project, "").await.count, 0);
}

#[tokio::test]
async fn an_invalid_project_id_is_refused() {
    let app = spawn_app().await;
    let project = "p".repeat(65);
    let body = create_body("conn", "RDS", "db:3306");
    let message = assert_dli_error(app.create(&project, &body).await, 400, "DLI.0001").await;
    assert!(message.contains("project_id"), "{message}");
    assert_dli_error(app.list_raw("bad.project", "").await, 400, "DLI.0001").await;
}

#[tokio::test]
async fn unknown_fields_are_ignored_and_the_service_is_stored_canonically() {
    let app = spawn_app().await;
    let project = new_project();
    let mut body = create_body(
        "tsdb",
        "cloudtable.opentsdb",
        "tsdb-1.example,tsdb-2.example:4343",
    );
    body["something_new"] = json!({"nested": true});
    let id = app.create_ok(&project, &body).await;
    let connection = app.show(&project, &id).await;
    assert_eq!(connection.service, "CloudTable.OpenTSDB");
    assert_eq!(connection.destination, "tsdb-1.example,tsdb-2.example:4343");
    assert_eq!(connection.name, "tsdb");
    assert_eq!(connection.security_group_id, "sg-0123");
    assert_eq!(connection.network_id, "net-0123");
}

#[tokio::test]
async fn a_duplicate_name_is_refused_but_other_projects_and_deleted_names_are_free() {
    let app = spawn_app().await;
    let project = new_project();
    let url = format!("127.0.0.1:{}", crate::helpers::closed_port());
    let first = app
        .create_ok(&project, &create_body("orders", "RDS", &url))
        .await;
    let message = assert_dli_error(
        app.create(&project, &create_body("orders", "DWS", &url))
            .await,
        400,
        "DLI.0006",
    )
    .await;
    assert!(message.contains("orders"), "{message}");
    assert_eq!(app.list(&project, "").await.count, 1);

    app.create_ok(&new_project(), &create_body("orders", "RDS", &url))
        .await;

    app.settled(&project, &first).await;
    assert_eq!(app.delete(&project, &first).await.status(), 200);
    app.create_ok(&project, &create_body("orders", "RDS", &url))
        .await;
}

#[tokio::test]
async fn the_connection_quota_is_enforced_per_project_and_freed_by_deletes() {
    let app = spawn_app_with(|config| config.connection_quota = 2).await;
    let project = new_project();
    let url = format!("127.0.0.1:{}", crate::helpers::closed_port());
    let first = app
        .create_ok(&project, &create_body("c1", "RDS", &url))
        .await;
    app.create_ok(&project, &create_body("c2", "RDS", &url))
        .await;
    let message = assert_dli_error(
        app.create(&project, &create_body("c3", "RDS", &url)).await,
        400,
        "DLI.1028",
    )
    .await;
    assert!(message.contains('2'), "{message}");
    assert_eq!(app.list(&project, "").await.count, 2);

    app.create_ok(&new_project(), &create_body("c3", "RDS", &url))
        .await;

    app.settled(&project, &first).await;
    assert_eq!(app.delete(&project, &first).await.status(), 200);
    app.create_ok(&project, &create_body("c3", "RDS", &url))
        .await;
}

#[tokio::test]
async fn concurrent_creates_never_exceed_the_quota() {
    let app = spawn_app_with(|config| config.connection_quota = 5).await;
    let project = new_project();
    let url = format!("127.0.0.1:{}", crate::helpers::closed_port());
    let creates = (0..20).map(|i| {
        let body = create_body(&format!("c{i}"), "RDS", &url);
        let app = &app;
        let project = &project;
        async move { app.create(project, &body).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(creates).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        15,
        "{statuses:?}"
    );
    assert_eq!(app.list(&project, "").await.count, 5);
}

#[tokio::test]
async fn an_identical_create_retried_answers_the_same_connection_and_a_different_one_is_refused() {
    let app = spawn_app().await;
    let project = new_project();
    let url = format!("127.0.0.1:{}", crate::helpers::closed_port());
    let mut body = create_body("retried", "RDS", &url);
    body["tags"] = json!([{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]);
    let first = app.create_ok(&project, &body).await;
    body["tags"] = json!([{"key": "b", "value": "2"}, {"key": "a", "value": "1"}]);
    let again = app.create_ok(&project, &body).await;
    assert_eq!(first, again, "a retry gets the connection it made");
    body["network_id"] = json!("another-network");
    assert_dli_error(app.create(&project, &body).await, 400, "DLI.0006").await;
    assert_eq!(app.list(&project, "").await.count, 1);
}

#[rstest]
#[case::at_the_quota("quota")]
#[case::out_of_check_budget("budget")]
#[tokio::test]
async fn a_retry_of_the_create_that_took_the_last_place_answers_that_connection(
    #[case] limit: &str,
) {
    let app = spawn_app_with(|config| match limit {
        "quota" => config.connection_quota = 1,
        _ => config.checks_per_minute = 1,
    })
    .await;
    let project = new_project();
    let url = format!("127.0.0.1:{}", crate::helpers::closed_port());
    let body = create_body("last-place", "RDS", &url);
    let first = app.create_ok(&project, &body).await;
    let again = app.create_ok(&project, &body).await;
    assert_eq!(
        first, again,
        "the retry is recognised before the {limit} refuses it"
    );
    let other = create_body("another", "RDS", &url);
    let code = if limit == "quota" { 400 } else { 429 };
    let expected = if limit == "quota" {
        "DLI.1028"
    } else {
        "APIG.0308"
    };
    assert_dli_error(app.create(&project, &other).await, code, expected).await;
    assert_eq!(app.list(&project, "").await.count, 1);
}
