//! Issue 27: DLI's network rules as a pre-flight. A queue's or pool's `cidr_in_vpc` must
//! not overlap the routes and host addresses of the enhanced connections it is bound to,
//! nor the reserved ranges; a bound queue's CIDR cannot change. Each refusal is a DLI
//! error naming both networks, and changes nothing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_dli_error, create_queues, new_project, post_json, spawn_app};

fn enhanced(project: &str) -> String {
    format!("/v2.0/{project}/datasource/enhanced-connections")
}

async fn connection(app: &TestApp, project: &str, body: Value) -> String {
    let response = post_json(app, &enhanced(project), &body).await;
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.expect("json");
    answer["connection_id"].as_str().expect("id").to_owned()
}

async fn set_cidr(app: &TestApp, project: &str, queue: &str, cidr: &str) -> reqwest::Response {
    app.put(app.url(&format!("/v1.0/{project}/queues/{queue}")))
        .json(&json!({"cidr_in_vpc": cidr}))
        .send()
        .await
        .expect("sent")
}

async fn shown(app: &TestApp, project: &str, id: &str) -> Value {
    let response = app
        .get(app.url(&format!("{}/{id}", enhanced(project))))
        .send()
        .await
        .expect("sent");
    response.json().await.expect("json")
}

fn names_both(message: &str, a: &str, b: &str) {
    assert!(message.contains(a) && message.contains(b), "{message}");
}

#[tokio::test]
async fn an_overlapping_bind_route_or_cidr_change_is_refused_naming_both_networks() {
    let app = spawn_app().await;
    let project = new_project();
    create_queues(&app, &project, &["q_ten", "q_default"]).await;
    let response = set_cidr(&app, &project, "q_ten", "10.1.0.0/16").await;
    assert_eq!(response.status(), 200);

    // Bind: a connection with a route inside the queue's network refuses the queue.
    let id = connection(
        &app,
        &project,
        json!({"name": "c1", "dest_vpc_id": "v", "dest_network_id": "n"}),
    )
    .await;
    let response = post_json(
        &app,
        &format!("{}/{id}/routes", enhanced(&project)),
        &json!({"name": "r1", "cidr": "10.1.2.0/24"}),
    )
    .await;
    assert_eq!(response.status(), 200, "nothing is bound yet");
    let response = post_json(
        &app,
        &format!("{}/{id}/associate-queue", enhanced(&project)),
        &json!({"queues": ["q_ten"]}),
    )
    .await;
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    names_both(&message, "10.1.0.0/16", "10.1.2.0/24");
    assert!(
        message.contains("q_ten") && message.contains("r1"),
        "{message}"
    );
    assert_eq!(
        shown(&app, &project, &id).await["available_queue_info"],
        json!([])
    );

    // A create with an overlapping host and queue is refused as a whole.
    let response = post_json(
        &app,
        &enhanced(&project),
        &json!({"name": "c2", "dest_vpc_id": "v", "dest_network_id": "n", "queues": ["q_default"],
                "hosts": [{"name": "db", "ip": "172.20.0.5"}]}),
    )
    .await;
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    names_both(&message, "172.16.0.0/12", "172.20.0.5/32");

    // Route add: a bound queue (default network) refuses a route into it.
    let response = post_json(
        &app,
        &format!("{}/{id}/associate-queue", enhanced(&project)),
        &json!({"queues": ["q_default"]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = post_json(
        &app,
        &format!("{}/{id}/routes", enhanced(&project)),
        &json!({"name": "r2", "cidr": "172.31.0.0/16"}),
    )
    .await;
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    names_both(&message, "172.16.0.0/12", "172.31.0.0/16");
    assert_eq!(
        shown(&app, &project, &id).await["routes"]
            .as_array()
            .expect("routes")
            .len(),
        1
    );
    // Host update: the same rule.
    let response = app
        .put(app.url(&format!("{}/{id}", enhanced(&project))))
        .json(&json!({"hosts": [{"name": "db", "ip": "172.17.1.1"}]}))
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    names_both(&message, "172.16.0.0/12", "172.17.1.1/32");

    // CIDR change: refused for a bound queue (DLI's rule), whatever the new range.
    let response = set_cidr(&app, &project, "q_default", "192.168.0.0/16").await;
    let message = assert_dli_error(response, 400, "DLI.0007").await;
    assert!(message.contains("bound"), "{message}");
    // ... and outside DLI's private ranges for any queue.
    let response = set_cidr(&app, &project, "q_ten", "100.64.0.0/16").await;
    assert_dli_error(response, 400, "DLI.0001").await;
    let listed: Value = app
        .get(app.url(&format!("/v1.0/{project}/queues?queue_type=all")))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let cidrs: Vec<(&str, &str)> = listed["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| {
            (
                q["queue_name"].as_str().expect("name"),
                q["cidr_in_vpc"].as_str().expect("cidr"),
            )
        })
        .collect();
    assert_eq!(
        cidrs,
        [("q_default", "172.16.0.0/12"), ("q_ten", "10.1.0.0/16")]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_pool_in_a_reserved_range_or_a_queue_in_a_bound_pool_is_checked_too() {
    let app = spawn_app().await;
    let project = new_project();
    let pools = format!("/v3/{project}/elastic-resource-pools");
    let response = post_json(
        &app,
        &pools,
        &json!({"elastic_resource_pool_name": "bad", "min_cu": 16, "max_cu": 16,
                "cidr_in_vpc": "100.64.0.0/16"}),
    )
    .await;
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    names_both(&message, "100.64.0.0/16", "100.64.0.0/10");
    let response = post_json(
        &app,
        &pools,
        &json!({"elastic_resource_pool_name": "pool_a", "min_cu": 16, "max_cu": 16,
                "cidr_in_vpc": "192.168.0.0/20"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    create_queues(&app, &project, &["in_pool"]).await;
    let response = post_json(
        &app,
        &format!("{pools}/pool_a/queues"),
        &json!({"queue_name": "in_pool"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let id = connection(
        &app,
        &project,
        json!({"name": "c", "dest_vpc_id": "v", "dest_network_id": "n",
               "hosts": [{"name": "db", "ip": "10.5.0.9"}]}),
    )
    .await;
    let response = post_json(
        &app,
        &format!("{}/{id}/associate-queue", enhanced(&project)),
        &json!({"elastic_resource_pools": ["pool_a"]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    // The queue is not bound itself, but its pool is: its new range meets the host.
    let response = set_cidr(&app, &project, "in_pool", "10.5.0.0/16").await;
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    names_both(&message, "10.5.0.0/16", "10.5.0.9/32");
    let response = set_cidr(&app, &project, "in_pool", "10.6.0.0/16").await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}
