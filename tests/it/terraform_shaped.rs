//! What terraform-provider-huaweicloud does with enhanced connections (contract §9),
//! as raw AK/SK-signed requests with its `Content-Type: application/json;charset=utf8`:
//! `huaweicloud_dli_datasource_connection` (E1 -> 201, E8' per route, E3, E7, E5/E6 with
//! queues, E9', E4), `huaweicloud_dli_datasource_connection_associate` (E5/E6 with pools)
//! and the `huaweicloud_dli_datasource_connections` data source (E2 with offset paging).
//! Every success must carry the exact OkCode and `is_success: true`.

use serde_json::{Value, json};

use crate::helpers::{
    SignedRequest, TestApp, TestCredential, create_queues, new_project, spawn_app,
};

const TERRAFORM_CONTENT_TYPE: &str = "application/json;charset=utf8";

struct Terraform<'a> {
    app: &'a TestApp,
    credential: TestCredential,
    project: String,
}

impl Terraform<'_> {
    /// Sends a signed request and asserts the OkCode and `is_success`; the body.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        ok_code: u16,
    ) -> Value {
        let request = SignedRequest {
            method,
            target: path.to_owned(),
            body: body
                .map(|b| serde_json::to_vec(&b).expect("json"))
                .unwrap_or_default(),
            credential: &self.credential,
            sdk_date: None,
            extra_headers: vec![("content-type", TERRAFORM_CONTENT_TYPE.to_owned())],
        };
        let response = self.app.signed(&request).await;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.expect("json");
        assert_eq!(status, ok_code, "{path}: {answer}");
        // Terraform treats a missing is_success as true; dsconn always sends it.
        assert_eq!(answer["is_success"], true, "{path}: {answer}");
        answer
    }

    fn base(&self) -> String {
        format!("/v2.0/{}/datasource/enhanced-connections", self.project)
    }
}

async fn terraform(app: &TestApp) -> Terraform<'_> {
    let project = new_project();
    let scope = dsconn::domain::ProjectScope::Projects(vec![project.clone()]);
    Terraform {
        credential: app.issue_credential(scope).await,
        app,
        project,
    }
}

#[tokio::test]
async fn the_datasource_connection_resource_lives_as_terraform_drives_it() {
    let app = spawn_app().await;
    let tf = terraform(&app).await;
    create_queues(&app, &tf.project, &["tf_queue1", "tf_queue2"]).await;

    // Create: exactly 201, the body Terraform builds (queues [], tags null, hosts).
    let created = tf
        .call(
            reqwest::Method::POST,
            &tf.base(),
            Some(json!({
                "name": "tf_conn",
                "dest_vpc_id": "vpc-0123",
                "dest_network_id": "subnet-0123",
                "queues": ["tf_queue1"],
                "tags": null,
                "hosts": [{"name": "test.test.com", "ip": "192.168.0.1"}],
            })),
            201,
        )
        .await;
    let id = created["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_owned();
    let item = format!("{}/{id}", tf.base());

    // Routes right after create, one v2.0 call each.
    for (name, cidr) in [("route_1", "10.0.0.0/24"), ("route_2", "10.0.1.0/24")] {
        tf.call(
            reqwest::Method::POST,
            &format!("{item}/routes"),
            Some(json!({"name": name, "cidr": cidr})),
            200,
        )
        .await;
    }

    // Read: what the resource's read keeps.
    let read = tf.call(reqwest::Method::GET, &item, None, 200).await;
    assert_eq!(read["name"], "tf_conn");
    assert_eq!(read["status"], "ACTIVE");
    assert_eq!(read["dest_vpc_id"], "vpc-0123");
    assert_eq!(read["dest_network_id"], "subnet-0123");
    let queues: Vec<&str> = read["available_queue_info"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| q["name"].as_str().expect("name"))
        .collect();
    assert_eq!(queues, ["tf_queue1"]);
    assert_eq!(
        read["hosts"],
        json!([{"name": "test.test.com", "ip": "192.168.0.1"}])
    );
    let routes: Vec<(&str, &str)> = read["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name"),
                r["cidr"].as_str().expect("cidr"),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [("route_1", "10.0.0.0/24"), ("route_2", "10.0.1.0/24")]
    );

    // Update: hosts replaced, then cleared with `{}`; queues added and removed; a route
    // replaced.
    tf.call(
        reqwest::Method::PUT,
        &item,
        Some(json!({"hosts": [{"name": "db", "ip": "192.168.0.2"}]})),
        200,
    )
    .await;
    tf.call(reqwest::Method::PUT, &item, Some(json!({})), 200)
        .await;
    tf.call(
        reqwest::Method::POST,
        &format!("{item}/associate-queue"),
        Some(json!({"queues": ["tf_queue2"]})),
        200,
    )
    .await;
    tf.call(
        reqwest::Method::POST,
        &format!("{item}/disassociate-queue"),
        Some(json!({"queues": ["tf_queue1"]})),
        200,
    )
    .await;
    tf.call(
        reqwest::Method::DELETE,
        &format!("{item}/routes/route_1"),
        None,
        200,
    )
    .await;
    let read = tf.call(reqwest::Method::GET, &item, None, 200).await;
    assert_eq!(read["hosts"], json!([]));
    assert_eq!(read["available_queue_info"][0]["name"], "tf_queue2");
    assert_eq!(
        read["available_queue_info"]
            .as_array()
            .expect("queues")
            .len(),
        1
    );
    assert_eq!(read["routes"].as_array().expect("routes").len(), 1);

    // Destroy, then the read that follows: 200 with DELETED is "gone".
    tf.call(reqwest::Method::DELETE, &item, None, 200).await;
    let gone = tf.call(reqwest::Method::GET, &item, None, 200).await;
    assert_eq!(gone["status"], "DELETED");
    app.stop().await;
}

#[tokio::test]
async fn the_pool_association_resource_binds_reads_and_unbinds_pools() {
    let app = spawn_app().await;
    let tf = terraform(&app).await;
    for pool in ["pool_a", "pool_b"] {
        let response = app
            .post(app.url(&format!("/v3/{}/elastic-resource-pools", tf.project)))
            .json(&json!({"elastic_resource_pool_name": pool, "max_cu": 64, "min_cu": 16}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
    }
    let created = tf
        .call(
            reqwest::Method::POST,
            &tf.base(),
            Some(json!({"name": "assoc", "dest_vpc_id": "vpc", "dest_network_id": "subnet", "queues": [], "tags": null})),
            201,
        )
        .await;
    let item = format!(
        "{}/{}",
        tf.base(),
        created["connection_id"].as_str().expect("id")
    );
    // Default OkCodes 200/201/202: dsconn answers 200.
    tf.call(
        reqwest::Method::POST,
        &format!("{item}/associate-queue"),
        Some(json!({"elastic_resource_pools": ["pool_a", "pool_b"]})),
        200,
    )
    .await;
    let read = tf.call(reqwest::Method::GET, &item, None, 200).await;
    let pools: Vec<&str> = read["elastic_resource_pools"]
        .as_array()
        .expect("pools")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(pools, ["pool_a", "pool_b"]);
    assert_eq!(read["available_queue_info"], json!([]));
    tf.call(
        reqwest::Method::POST,
        &format!("{item}/disassociate-queue"),
        Some(json!({"elastic_resource_pools": ["pool_a", "pool_b"]})),
        200,
    )
    .await;
    let read = tf.call(reqwest::Method::GET, &item, None, 200).await;
    assert_eq!(read["elastic_resource_pools"], json!([]), "empty = gone");
    app.stop().await;
}

#[tokio::test]
async fn the_connections_data_source_pages_with_offset_until_an_empty_page() {
    let app = spawn_app().await;
    let tf = terraform(&app).await;
    create_queues(&app, &tf.project, &["dsq"]).await;
    let mut created = Vec::new();
    for index in 0..5 {
        let tags = if index == 4 {
            json!([{"key": "k", "value": "other"}])
        } else {
            json!([{"key": "k", "value": "v"}, {"key": "k2", "value": "v2"}])
        };
        let answer = tf
            .call(
                reqwest::Method::POST,
                &tf.base(),
                Some(json!({"name": format!("ds_{index}"), "dest_vpc_id": "vpc", "dest_network_id": "subnet", "queues": if index == 0 { json!(["dsq"]) } else { json!([]) }, "tags": tags})),
                201,
            )
            .await;
        let id = answer["connection_id"].as_str().expect("id").to_owned();
        tf.call(
            reqwest::Method::POST,
            &format!("{}/{id}/routes", tf.base()),
            Some(json!({"name": "r", "cidr": format!("10.{index}.0.0/16")})),
            200,
        )
        .await;
        created.push(id);
    }
    // First page raw (`tags=k=v,k2=v2`), later pages re-encoded as Go does.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let query = if offset == 0 {
            "status=ACTIVE&tags=k=v,k2=v2".to_owned()
        } else {
            format!("offset={offset}&status=ACTIVE&tags=k%3Dv%2Ck2%3Dv2")
        };
        let page = tf
            .call(
                reqwest::Method::GET,
                &format!("{}?{query}", tf.base()),
                None,
                200,
            )
            .await;
        let connections = page["connections"]
            .as_array()
            .expect("connections array on every page")
            .clone();
        if connections.is_empty() {
            break;
        }
        for connection in &connections {
            assert_eq!(connection["isPrivis"], true);
            assert_eq!(connection["routes"][0]["name"], "r");
            assert!(connection["routes"][0]["create_time"].as_i64().expect("ms") > 0);
            if connection["name"] == "ds_0" {
                let binding = &connection["available_queue_info"][0];
                for key in ["peer_id", "status", "name", "err_msg", "update_time"] {
                    assert!(binding.get(key).is_some(), "{key} in {binding}");
                }
            }
        }
        offset += connections.len();
        seen.extend(
            connections
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned()),
        );
        assert!(offset <= 100, "paging must end");
    }
    assert_eq!(seen, created[..4]);
    let named = tf
        .call(
            reqwest::Method::GET,
            &format!("{}?status=ACTIVE&name=ds_4", tf.base()),
            None,
            200,
        )
        .await;
    assert_eq!(named["count"], 1);
    assert_eq!(named["connections"][0]["id"], created[4].as_str());
    app.stop().await;
}
