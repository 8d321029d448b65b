//! DLI's enhanced datasource connections (E1-E9) through the API: lifecycle, listing and
//! paging, hosts, routes (v3 and v2.0), bindings of queues and pools, soft delete, and
//! the errors of every refusal (which change nothing).

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_dli_error, create_queues, new_project, post_json, spawn_app};

const VPC: &str = "22094d8f-c310-4621-913d-4c4d655d8495";
const SUBNET: &str = "78f2562a-36e4-4b39-95b9-f5aab22e1281";

pub fn enhanced_collection(app: &TestApp, project: &str) -> String {
    app.url(&format!("/v2.0/{project}/datasource/enhanced-connections"))
}

pub fn enhanced_item(app: &TestApp, project: &str, id: &str) -> String {
    format!("{}/{id}", enhanced_collection(app, project))
}

pub fn enhanced_body(name: &str) -> Value {
    json!({"name": name, "dest_vpc_id": VPC, "dest_network_id": SUBNET})
}

/// E1, asserting 201 and DLI's body; the new id.
pub async fn create_enhanced(app: &TestApp, project: &str, body: &Value) -> String {
    let response = app
        .post(enhanced_collection(app, project))
        .json(body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let answer: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["is_success"], true);
    assert_eq!(answer["message"], "");
    answer["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_owned()
}

pub async fn show_enhanced(app: &TestApp, project: &str, id: &str) -> Value {
    let response = app
        .get(enhanced_item(app, project, id))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_success"], true);
    body
}

pub async fn list_enhanced(app: &TestApp, project: &str, query: &str) -> Value {
    let response = app
        .get(format!("{}{query}", enhanced_collection(app, project)))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_success"], true);
    body
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    url: String,
    body: Option<&Value>,
) -> reqwest::Response {
    let request = app.request(method, url);
    let request = match body {
        Some(body) => request.json(body),
        None => request,
    };
    request.send().await.expect("sent")
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_success"], true, "{body}");
    body
}

async fn create_pools(app: &TestApp, project: &str, names: &[&str]) {
    for name in names {
        let response = post_json(
            app,
            &format!("/v3/{project}/elastic-resource-pools"),
            &json!({"elastic_resource_pool_name": name, "max_cu": 64, "min_cu": 16}),
        )
        .await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "pool {name}: {body}");
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|item| item["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn a_connection_is_created_active_shown_listed_and_soft_deleted() {
    let app = spawn_app().await;
    let project = new_project();
    // What Terraform sends: empty queues, null tags.
    let mut body = enhanced_body("conn_1");
    body["queues"] = json!([]);
    body["tags"] = Value::Null;
    body["hosts"] = json!([{"name": "test.test.com", "ip": "192.168.0.1"}]);
    let id = create_enhanced(&app, &project, &body).await;
    uuid::Uuid::parse_str(&id).expect("a UUID");

    let shown = show_enhanced(&app, &project, &id).await;
    assert_eq!(shown["message"], "");
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["name"], "conn_1");
    assert_eq!(shown["status"], "ACTIVE");
    assert_eq!(shown["dest_vpc_id"], VPC);
    assert_eq!(shown["dest_network_id"], SUBNET);
    assert_eq!(shown["available_queue_info"], json!([]));
    assert_eq!(shown["elastic_resource_pools"], json!([]));
    assert_eq!(shown["routes"], json!([]));
    assert_eq!(
        shown["hosts"],
        json!([{"name": "test.test.com", "ip": "192.168.0.1"}])
    );
    assert_eq!(shown["isPrivis"], true);
    assert_eq!(shown["ipv6_enable"], false);
    assert!(shown["create_time"].as_i64().expect("ms") > 1_600_000_000_000);

    let listed = list_enhanced(&app, &project, "").await;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["connections"][0]["id"], id.as_str());
    assert_eq!(listed["connections"][0]["isPrivis"], true);

    let deleted = ok(send(
        &app,
        reqwest::Method::DELETE,
        enhanced_item(&app, &project, &id),
        None,
    )
    .await)
    .await;
    assert_eq!(deleted["message"], "Deleted");
    // Again: idempotent.
    let again = ok(send(
        &app,
        reqwest::Method::DELETE,
        enhanced_item(&app, &project, &id),
        None,
    )
    .await)
    .await;
    assert_eq!(again["message"], "Deleted");

    let shown = show_enhanced(&app, &project, &id).await;
    assert_eq!(shown["status"], "DELETED");
    assert_eq!(shown["available_queue_info"], json!([]));
    assert_eq!(list_enhanced(&app, &project, "").await["count"], 0);
    let deleted_list = list_enhanced(&app, &project, "?status=deleted").await;
    assert_eq!(deleted_list["count"], 1);
    assert_eq!(deleted_list["connections"][0]["status"], "DELETED");

    // The name is free again.
    create_enhanced(&app, &project, &enhanced_body("conn_1")).await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_malformed_and_other_projects_ids_are_all_not_exist() {
    let app = spawn_app().await;
    let project = new_project();
    let other = new_project();
    let id = create_enhanced(&app, &other, &enhanced_body("theirs")).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let long = "x".repeat(100);
    for raw in [unknown.as_str(), "not-a-uuid", id.as_str(), long.as_str()] {
        let shown: String = raw.chars().take(64).collect();
        let expected = format!("Connection {shown} is not exist.");
        for (method, suffix, body) in [
            (reqwest::Method::GET, "", None),
            (reqwest::Method::DELETE, "", None),
            (reqwest::Method::PUT, "", Some(json!({"hosts": []}))),
            (
                reqwest::Method::POST,
                "/associate-queue",
                Some(json!({"queues": ["q1"]})),
            ),
            (
                reqwest::Method::POST,
                "/disassociate-queue",
                Some(json!({"queues": ["q1"]})),
            ),
        ] {
            let url = format!("{}{suffix}", enhanced_item(&app, &project, raw));
            let response = send(&app, method.clone(), url, body.as_ref()).await;
            let message = assert_dli_error(response, 400, "DLI.0001").await;
            assert_eq!(message, expected, "{method} {suffix}");
        }
        let url = app.url(&format!(
            "/v3/{project}/datasource/enhanced-connections/{raw}/routes"
        ));
        let response = send(
            &app,
            reqwest::Method::POST,
            url,
            Some(&json!({"name": "r1", "cidr": "10.0.0.0/8"})),
        )
        .await;
        assert_eq!(assert_dli_error(response, 400, "DLI.0001").await, expected);
        let url = app.url(&format!(
            "/v2.0/{project}/datasource/enhanced-connections/{raw}/routes/r1"
        ));
        let response = send(&app, reqwest::Method::DELETE, url, None).await;
        assert_eq!(assert_dli_error(response, 400, "DLI.0001").await, expected);
    }
    // The other project's connection is untouched.
    assert_eq!(show_enhanced(&app, &other, &id).await["status"], "ACTIVE");
    app.stop().await;
}

#[tokio::test]
async fn invalid_creates_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let project = new_project();
    create_queues(&app, &project, &["q1"]).await;
    let cases = [
        (json!({}), "DLI.0001"),
        (
            json!({"name": "a b", "dest_vpc_id": VPC, "dest_network_id": SUBNET}),
            "DLI.0001",
        ),
        (
            json!({"name": "x".repeat(65), "dest_vpc_id": VPC, "dest_network_id": SUBNET}),
            "DLI.0001",
        ),
        (json!({"name": "ok", "dest_network_id": SUBNET}), "DLI.0001"),
        (json!({"name": "ok", "dest_vpc_id": VPC}), "DLI.0001"),
        (
            json!({"name": "ok", "dest_vpc_id": "", "dest_network_id": SUBNET}),
            "DLI.0001",
        ),
        (
            json!({"name": "ok", "dest_vpc_id": VPC, "dest_network_id": SUBNET, "queues": ["default"]}),
            "DLI.0001",
        ),
        (
            json!({"name": "ok", "dest_vpc_id": VPC, "dest_network_id": SUBNET, "queues": ["q1", "nope"]}),
            "DLI.0002",
        ),
        (
            json!({"name": "ok", "dest_vpc_id": VPC, "dest_network_id": SUBNET, "elastic_resource_pools": ["nopool"]}),
            "DLI.0002",
        ),
        (
            json!({"name": "ok", "dest_vpc_id": VPC, "dest_network_id": SUBNET, "hosts": [{"name": "9bad", "ip": "10.0.0.1"}]}),
            "DLI.0001",
        ),
        (
            json!({"name": "ok", "dest_vpc_id": VPC, "dest_network_id": SUBNET, "hosts": [{"name": "h", "ip": "10.0.0"}]}),
            "DLI.0001",
        ),
        (
            json!({"name": "ok", "dest_vpc_id": VPC, "dest_network_id": SUBNET, "hosts": [{"name": "h", "ip": "10.0.0.1"}, {"name": "H", "ip": "10.0.0.2"}]}),
            "DLI.0001",
        ),
        (
            json!({"name": "ok", "dest_vpc_id": VPC, "dest_network_id": SUBNET, "tags": [{"key": "_sys_x", "value": "v"}]}),
            "DLI.0001",
        ),
        (
            json!({"name": "ok", "dest_vpc_id": VPC, "dest_network_id": SUBNET, "queues": "q1"}),
            "DLI.0001",
        ),
    ];
    for (body, code) in cases {
        let response = app
            .post(enhanced_collection(&app, &project))
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_dli_error(response, 400, code).await;
    }
    let response = app
        .post(enhanced_collection(&app, &project))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 400, "DLI.0001").await;
    assert_eq!(list_enhanced(&app, &project, "").await["count"], 0);
    assert_eq!(
        list_enhanced(&app, &project, "?status=DELETED").await["count"],
        0
    );
    // The queue named in a refused create is not bound anywhere: it can be deleted.
    let response = send(
        &app,
        reqwest::Method::DELETE,
        app.url(&format!("/v1.0/{project}/queues/q1")),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_live_name_is_dli_0006() {
    let app = spawn_app().await;
    let project = new_project();
    create_enhanced(&app, &project, &enhanced_body("same-name")).await;
    let response = app
        .post(enhanced_collection(&app, &project))
        .json(&enhanced_body("same-name"))
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(response, 400, "DLI.0006").await;
    assert_eq!(
        message,
        "an enhanced connection named same-name already exists"
    );
    // Another project may use the name; so may a classic connection.
    create_enhanced(&app, &new_project(), &enhanced_body("same-name")).await;
    assert_eq!(list_enhanced(&app, &project, "").await["count"], 1);
    app.stop().await;
}

#[tokio::test]
async fn listing_filters_sorts_and_pages_to_an_empty_page() {
    let app = spawn_app().await;
    let project = new_project();
    let mut ids = Vec::new();
    for (index, name) in ["c0", "c1", "c2", "c3", "c4"].iter().enumerate() {
        let mut body = enhanced_body(name);
        body["tags"] = json!([{"key": "env", "value": if index % 2 == 0 { "prod" } else { "dev" }}, {"key": "team", "value": "data"}]);
        ids.push(create_enhanced(&app, &project, &body).await);
    }
    let all = list_enhanced(&app, &project, "").await;
    assert_eq!(all["count"], 5);
    let listed: Vec<&str> = all["connections"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        listed,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "oldest first"
    );

    // Paging with offset, as Terraform does, until an empty page.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = list_enhanced(&app, &project, &format!("?limit=2&offset={offset}")).await;
        let items = page["connections"].as_array().expect("array").clone();
        assert_eq!(page["count"], items.len());
        if items.is_empty() {
            break;
        }
        offset += items.len();
        seen.extend(
            items
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned()),
        );
    }
    assert_eq!(seen, ids);
    assert_eq!(list_enhanced(&app, &project, "?limit=0").await["count"], 5);

    let named = list_enhanced(&app, &project, "?name=c3").await;
    assert_eq!(names(&named["connections"]), ["c3"]);
    assert_eq!(
        list_enhanced(&app, &project, "?name=c").await["count"],
        0,
        "exact match"
    );
    let prod = list_enhanced(&app, &project, "?tags=env=prod,team=data").await;
    assert_eq!(names(&prod["connections"]), ["c0", "c2", "c4"]);
    let encoded = list_enhanced(
        &app,
        &project,
        "?tags=env%3Ddev%2Cteam%3Ddata&status=active",
    )
    .await;
    assert_eq!(names(&encoded["connections"]), ["c1", "c3"]);

    for bad in [
        "?limit=1001",
        "?limit=-1",
        "?limit=x",
        "?offset=-1",
        "?status=CREATING",
        "?tags==v",
    ] {
        let response = app
            .get(format!("{}{bad}", enhanced_collection(&app, &project)))
            .send()
            .await
            .expect("sent");
        assert_dli_error(response, 400, "DLI.0001").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn hosts_are_replaced_and_cleared_by_empty_object_or_list() {
    let app = spawn_app().await;
    let project = new_project();
    let mut body = enhanced_body("hosts");
    body["hosts"] = json!([{"name": "a", "ip": "10.0.0.1"}]);
    let id = create_enhanced(&app, &project, &body).await;
    let url = enhanced_item(&app, &project, &id);

    let hosts = json!([{"name": "db-1", "ip": "10.0.0.2"}, {"name": "db.2", "ip": "10.0.0.3"}]);
    let answer = ok(send(
        &app,
        reqwest::Method::PUT,
        url.clone(),
        Some(&json!({"hosts": hosts})),
    )
    .await)
    .await;
    assert_eq!(answer["message"], "");
    assert_eq!(show_enhanced(&app, &project, &id).await["hosts"], hosts);

    // A bad list changes nothing.
    let bad =
        json!({"hosts": [{"name": "ok", "ip": "10.0.0.1"}, {"name": "-bad", "ip": "10.0.0.1"}]});
    let response = send(&app, reqwest::Method::PUT, url.clone(), Some(&bad)).await;
    assert_dli_error(response, 400, "DLI.0001").await;
    assert_eq!(show_enhanced(&app, &project, &id).await["hosts"], hosts);

    ok(send(&app, reqwest::Method::PUT, url.clone(), Some(&json!({}))).await).await;
    assert_eq!(show_enhanced(&app, &project, &id).await["hosts"], json!([]));
    ok(send(
        &app,
        reqwest::Method::PUT,
        url.clone(),
        Some(&json!({"hosts": hosts})),
    )
    .await)
    .await;
    ok(send(
        &app,
        reqwest::Method::PUT,
        url.clone(),
        Some(&json!({"hosts": []})),
    )
    .await)
    .await;
    assert_eq!(show_enhanced(&app, &project, &id).await["hosts"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn routes_are_added_and_removed_on_v3_and_v2_paths() {
    let app = spawn_app().await;
    let project = new_project();
    let id = create_enhanced(&app, &project, &enhanced_body("routes")).await;
    let routes = |version: &str| {
        app.url(&format!(
            "/{version}/{project}/datasource/enhanced-connections/{id}/routes"
        ))
    };
    let add = |version: &str, body: Value| {
        let url = routes(version);
        let app = &app;
        async move { send(app, reqwest::Method::POST, url, Some(&body)).await }
    };
    let answer = ok(add("v3", json!({"name": "route_1", "cidr": "10.169.0.0/24"})).await).await;
    assert_eq!(answer["message"], "");
    ok(add("v2.0", json!({"name": "route-2", "cidr": "127.0.0.0"})).await).await;
    ok(add(
        "v3",
        json!({"name": "r6", "cidr": "2407:c080:802:be7::/64"}),
    )
    .await)
    .await;

    let shown = show_enhanced(&app, &project, &id).await;
    let stored: Vec<(String, String)> = shown["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            assert!(r["create_time"].as_i64().expect("ms") > 0);
            (
                r["name"].as_str().expect("name").to_owned(),
                r["cidr"].as_str().expect("cidr").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        stored,
        [
            ("route_1".to_owned(), "10.169.0.0/24".to_owned()),
            ("route-2".to_owned(), "127.0.0.0/32".to_owned()),
            ("r6".to_owned(), "2407:c080:802:be7::/64".to_owned()),
        ]
    );

    let duplicate = add("v2.0", json!({"name": "route_1", "cidr": "10.1.0.0/16"})).await;
    let message = assert_dli_error(duplicate, 400, "DLI.0006").await;
    assert_eq!(
        message,
        format!("route route_1 already exists in connection {id}")
    );
    let same_cidr = add("v3", json!({"name": "other", "cidr": "10.169.0.0/24"})).await;
    assert_dli_error(same_cidr, 400, "DLI.0006").await;
    for bad in [
        json!({"name": "r", "cidr": "10.169.0.1/24"}),
        json!({"name": "r", "cidr": "nonsense"}),
        json!({"name": "r"}),
        json!({"cidr": "10.0.0.0/8"}),
        json!({"name": "a/b", "cidr": "10.0.0.0/8"}),
        // What hosts and urls refuse, routes refuse (issue 24): one address parser.
        json!({"name": "r", "cidr": " 127.0.0.0/8"}),
        json!({"name": "r", "cidr": "127.0.0.0/8 "}),
        json!({"name": "r", "cidr": "127.000.0.0/8"}),
        json!({"name": "r", "cidr": "127.0.0.0/08"}),
    ] {
        assert_dli_error(add("v3", bad).await, 400, "DLI.0001").await;
    }
    assert_eq!(
        show_enhanced(&app, &project, &id).await["routes"]
            .as_array()
            .expect("routes")
            .len(),
        3
    );

    // Delete: v3 and v2.0, names percent-encoded as the SDK sends them.
    let deleted = ok(send(
        &app,
        reqwest::Method::DELETE,
        format!("{}/route%2D2", routes("v3")),
        None,
    )
    .await)
    .await;
    assert_eq!(deleted["message"], "Deleted");
    ok(send(
        &app,
        reqwest::Method::DELETE,
        format!("{}/route_1", routes("v2.0")),
        None,
    )
    .await)
    .await;
    let unknown = send(
        &app,
        reqwest::Method::DELETE,
        format!("{}/route_1", routes("v3")),
        None,
    )
    .await;
    let message = assert_dli_error(unknown, 400, "DLI.0001").await;
    assert_eq!(
        message,
        format!("route route_1 does not exist in connection {id}")
    );
    let encoded = send(
        &app,
        reqwest::Method::DELETE,
        format!("{}/route%201%2Fx", routes("v3")),
        None,
    )
    .await;
    let message = assert_dli_error(encoded, 400, "DLI.0001").await;
    assert_eq!(
        message,
        format!("route route 1/x does not exist in connection {id}")
    );
    assert_eq!(
        names(&show_enhanced(&app, &project, &id).await["routes"]),
        ["r6"]
    );
    app.stop().await;
}

#[tokio::test]
async fn queues_and_pools_are_bound_where_they_were_bound_and_unbound() {
    let app = spawn_app().await;
    let project = new_project();
    create_queues(&app, &project, &["q1", "q2"]).await;
    create_pools(&app, &project, &["pool_1"]).await;
    let mut body = enhanced_body("bound");
    body["queues"] = json!(["q1"]);
    let id = create_enhanced(&app, &project, &body).await;
    let url = |action: &str| format!("{}/{action}", enhanced_item(&app, &project, &id));

    let shown = show_enhanced(&app, &project, &id).await;
    let queue = &shown["available_queue_info"][0];
    assert_eq!(queue["name"], "q1");
    assert!(["CREATING", "ACTIVE"].contains(&queue["status"].as_str().expect("status")));
    assert_eq!(queue["err_msg"], "");
    uuid::Uuid::parse_str(queue["peer_id"].as_str().expect("peer_id")).expect("UUID");
    assert!(queue["update_time"].as_i64().expect("ms") > 0);
    let first_peer = queue["peer_id"].clone();

    let answer = ok(send(
        &app,
        reqwest::Method::POST,
        url("associate-queue"),
        Some(&json!({"queues": ["q2", "q1"], "elastic_resource_pools": ["pool_1"]})),
    )
    .await)
    .await;
    assert_eq!(
        answer["message"],
        "associated peer connection for queues: {q2,q1,pool_1}."
    );
    let shown = show_enhanced(&app, &project, &id).await;
    assert_eq!(names(&shown["available_queue_info"]), ["q1", "q2"]);
    assert_eq!(names(&shown["elastic_resource_pools"]), ["pool_1"]);
    assert_eq!(
        shown["available_queue_info"][0]["peer_id"], first_peer,
        "a re-bind keeps the binding"
    );

    // Refusals change nothing.
    for (body, code, text) in [
        (
            json!({"queues": ["nope"]}),
            "DLI.0002",
            "There is no queue named nope".to_owned(),
        ),
        (
            json!({"elastic_resource_pools": ["nopool"]}),
            "DLI.0002",
            "There is no elastic resource pool named nopool".to_owned(),
        ),
        (
            json!({"queues": ["default"]}),
            "DLI.0001",
            "queue default cannot be bound to an enhanced connection".to_owned(),
        ),
        (
            json!({}),
            "DLI.0001",
            "queues or elastic_resource_pools is required".to_owned(),
        ),
        (
            json!({"queues": [], "elastic_resource_pools": []}),
            "DLI.0001",
            "queues or elastic_resource_pools is required".to_owned(),
        ),
    ] {
        let response = send(
            &app,
            reqwest::Method::POST,
            url("associate-queue"),
            Some(&body),
        )
        .await;
        assert_eq!(assert_dli_error(response, 400, code).await, text);
    }
    // No body at all (the SDK with an unset body) is `{}`.
    let response = app
        .post(url("associate-queue"))
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 400, "DLI.0001").await;

    // A bound queue or pool cannot be deleted.
    let response = send(
        &app,
        reqwest::Method::DELETE,
        app.url(&format!("/v1.0/{project}/queues/q2")),
        None,
    )
    .await;
    assert_dli_error(response, 400, "DLI.0007").await;
    let response = send(
        &app,
        reqwest::Method::DELETE,
        app.url(&format!("/v3/{project}/elastic-resource-pools/pool_1")),
        None,
    )
    .await;
    assert_dli_error(response, 400, "DLI.0007").await;

    let not_bound = send(
        &app,
        reqwest::Method::POST,
        url("disassociate-queue"),
        Some(&json!({"queues": ["q2", "zz"]})),
    )
    .await;
    assert_eq!(
        assert_dli_error(not_bound, 400, "DLI.0001").await,
        format!("queue zz is not bound to connection {id}")
    );
    assert_eq!(
        names(&show_enhanced(&app, &project, &id).await["available_queue_info"]),
        ["q1", "q2"]
    );

    let answer = ok(send(
        &app,
        reqwest::Method::POST,
        url("disassociate-queue"),
        Some(&json!({"queues": ["q2"], "elastic_resource_pools": ["pool_1"]})),
    )
    .await)
    .await;
    assert_eq!(
        answer["message"],
        "Disassociated peer connection for queues:{q2,pool_1}."
    );
    let shown = show_enhanced(&app, &project, &id).await;
    assert_eq!(names(&shown["available_queue_info"]), ["q1"]);
    assert_eq!(shown["elastic_resource_pools"], json!([]));
    // Unbound: deletable again.
    let response = send(
        &app,
        reqwest::Method::DELETE,
        app.url(&format!("/v3/{project}/elastic-resource-pools/pool_1")),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);

    // A delete removes the bindings: the queue is free, binding a DELETED one is refused.
    ok(send(
        &app,
        reqwest::Method::DELETE,
        enhanced_item(&app, &project, &id),
        None,
    )
    .await)
    .await;
    let response = send(
        &app,
        reqwest::Method::POST,
        url("associate-queue"),
        Some(&json!({"queues": ["q1"]})),
    )
    .await;
    assert_dli_error(response, 400, "DLI.0007").await;
    let response = send(
        &app,
        reqwest::Method::DELETE,
        app.url(&format!("/v1.0/{project}/queues/q1")),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn terraform_content_type_and_bodiless_sdk_calls_are_accepted() {
    let app = spawn_app().await;
    let project = new_project();
    let response = app
        .post(enhanced_collection(&app, &project))
        .header("content-type", "application/json;charset=utf8")
        .body(enhanced_body("tf").to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let id: Value = response.json().await.expect("json");
    let id = id["connection_id"].as_str().expect("id").to_owned();
    // GET and DELETE with a content type and no body, as the SDK sends them.
    let response = app
        .get(enhanced_item(&app, &project, &id))
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    // E7 with no body clears the hosts (`{}`).
    let response = app
        .put(enhanced_item(&app, &project, &id))
        .header("content-type", "application/json;charset=utf8")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let response = app
        .delete_request(enhanced_item(&app, &project, &id))
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_quota_of_live_connections_is_dli_1028_and_deleted_ones_do_not_count() {
    let app = spawn_app().await;
    let project = dsconn::domain::ProjectId::parse(&new_project()).expect("project");
    // Fill the quota through the store (1,000 API round trips would only be slower).
    for index in 0..dsconn::api::enhanced::MAX_CONNECTIONS_PER_PROJECT {
        let new = dsconn::store::NewEnhancedConnection {
            id: dsconn::domain::ConnectionId::generate(),
            project_id: project.clone(),
            name: format!("c{index}"),
            dest_vpc_id: VPC.into(),
            dest_network_id: SUBNET.into(),
            routetable_id: None,
            hosts: Vec::new(),
            tags: dsconn::domain::Tags::default(),
            queues: Vec::new(),
            pools: Vec::new(),
            now: dsconn::domain::now_millis(),
        };
        let outcome = app
            .store
            .create_enhanced(&new, &[], &dsconn::api::enhanced::LIMITS)
            .await
            .expect("stored");
        assert_eq!(outcome, Ok(()));
    }
    let response = app
        .post(enhanced_collection(&app, project.as_str()))
        .json(&enhanced_body("one_more"))
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 400, "DLI.1028").await;
    // limit=0 is "all", bounded by the quota.
    assert_eq!(
        list_enhanced(&app, project.as_str(), "?limit=0").await["count"],
        1000
    );
    let first = list_enhanced(&app, project.as_str(), "?limit=1").await;
    let first = first["connections"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    ok(send(
        &app,
        reqwest::Method::DELETE,
        enhanced_item(&app, project.as_str(), &first),
        None,
    )
    .await)
    .await;
    create_enhanced(&app, project.as_str(), &enhanced_body("one_more")).await;
    app.stop().await;
}

#[tokio::test]
async fn deleted_connections_are_purged_after_the_retention() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.deleted_retention = std::time::Duration::ZERO;
    })
    .await;
    let project = new_project();
    let id = create_enhanced(&app, &project, &enhanced_body("purged")).await;
    ok(send(
        &app,
        reqwest::Method::DELETE,
        enhanced_item(&app, &project, &id),
        None,
    )
    .await)
    .await;
    // Retention zero: the next purge round removes it (deleted_at < now).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.worker.run_once().await;
    let response = app
        .get(enhanced_item(&app, &project, &id))
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 400, "DLI.0001").await;
    app.stop().await;
}
