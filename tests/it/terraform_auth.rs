//! The calls terraform-provider-huaweicloud makes for `huaweicloud_dli_datasource_auth`
//! and the `huaweicloud_dli_datasource_auths` data source, as it makes them: its header,
//! bodies without empty fields, exact success codes (A1 201, A3 and A4 200), A2 read by
//! `?auth_info_name=<id>` through `auth_infos[0]`, an empty list meaning gone, and the
//! data source's offset paging until an empty page.

use serde_json::{Value, json};

use crate::helpers::{TestApp, new_project, spawn_app};

/// What Terraform's client sends on every call.
const TERRAFORM_CONTENT_TYPE: &str = "application/json;charset=utf8";

fn auth_infos(app: &TestApp, project: &str) -> String {
    app.url(&format!("/v3/{project}/datasource/auth-infos"))
}

async fn terraform(
    app: &TestApp,
    method: reqwest::Method,
    url: String,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app
        .request(method, url)
        .header("content-type", TERRAFORM_CONTENT_TYPE);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// The resource's read: `auth_infos[0]` of an exact-name list, None when gone.
async fn read(app: &TestApp, project: &str, id: &str) -> Option<Value> {
    let url = format!("{}?auth_info_name={id}", auth_infos(app, project));
    let (status, body) = terraform(app, reqwest::Method::GET, url, None).await;
    assert_eq!(status, 200, "OkCodes [200]: {body}");
    assert_ne!(body["is_success"], false);
    body["auth_infos"].get(0).cloned()
}

fn is_epoch_ms(value: &Value) -> bool {
    // Terraform divides by 1000 to format them: 13 digits, not seconds.
    value
        .as_i64()
        .is_some_and(|ms| (1_000_000_000_000..10_000_000_000_000).contains(&ms))
}

#[tokio::test]
async fn the_datasource_auth_resource_is_created_read_updated_and_destroyed() {
    let app = spawn_app().await;
    let project = new_project();
    let id = "tf_test_passwd";

    // A1: utils.RemoveNil drops the fields the configuration leaves empty.
    let create = json!({
        "auth_info_name": id, "datasource_type": "passwd",
        "user_name": "admin", "password": "Terraform-pw-1",
    });
    let (status, body) = terraform(
        &app,
        reqwest::Method::POST,
        auth_infos(&app, &project),
        Some(&create),
    )
    .await;
    assert_eq!(status, 201, "OkCodes [201], exactly: {body}");
    assert_eq!(body["is_success"], true);

    let item = read(&app, &project, id).await.expect("created");
    assert_eq!(item["auth_info_name"], id);
    assert_eq!(item["datasource_type"], "passwd");
    assert_eq!(item["user_name"], "admin");
    assert!(item["owner"].is_string());
    assert!(is_epoch_ms(&item["create_time"]), "{item}");
    assert!(is_epoch_ms(&item["update_time"]), "{item}");
    assert!(item.get("password").is_none());

    // A3: the update body carries every non-empty updatable field it holds.
    let update = json!({"auth_info_name": id, "user_name": "admin2", "password": "Terraform-pw-2"});
    let (status, body) = terraform(
        &app,
        reqwest::Method::PUT,
        auth_infos(&app, &project),
        Some(&update),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_success"], true);
    let item = read(&app, &project, id).await.expect("still there");
    assert_eq!(item["user_name"], "admin2");

    // A4, then the read finds an empty list: gone.
    let (status, body) = terraform(
        &app,
        reqwest::Method::DELETE,
        format!("{}/{id}", auth_infos(&app, &project)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_success"], true);
    assert_eq!(read(&app, &project, id).await, None);
}

#[tokio::test]
async fn a_kafka_ssl_auth_is_updated_with_the_fields_terraform_sends() {
    let app = spawn_app().await;
    let project = new_project();
    let id = "tf_test_kafka";
    let create = json!({
        "auth_info_name": id, "datasource_type": "Kafka_SSL",
        "truststore_location": "obs://tf-bucket/truststore.jks", "truststore_password": "t1",
        "keystore_location": "obs://tf-bucket/keystore.jks", "keystore_password": "k1",
        "key_password": "kp1",
    });
    let (status, _) = terraform(
        &app,
        reqwest::Method::POST,
        auth_infos(&app, &project),
        Some(&create),
    )
    .await;
    assert_eq!(status, 201);
    // Terraform's update never sends key_password (it forces a replacement instead).
    let update = json!({
        "auth_info_name": id,
        "truststore_location": "obs://tf-bucket/truststore-v2.jks", "truststore_password": "t2",
        "keystore_location": "obs://tf-bucket/keystore.jks", "keystore_password": "k1",
    });
    let (status, body) = terraform(
        &app,
        reqwest::Method::PUT,
        auth_infos(&app, &project),
        Some(&update),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let item = read(&app, &project, id).await.expect("there");
    assert_eq!(
        item["truststore_location"],
        "obs://tf-bucket/truststore-v2.jks"
    );
    assert_eq!(item["keystore_location"], "obs://tf-bucket/keystore.jks");
    assert!(item.get("user_name").is_none());
}

#[tokio::test]
async fn the_datasource_auths_data_source_pages_by_offset_until_an_empty_page() {
    let app = spawn_app().await;
    let project = new_project();
    let names: Vec<String> = (0..5).map(|n| format!("tf_auths_{n}")).collect();
    for name in &names {
        let body = json!({"auth_info_name": name, "datasource_type": "passwd",
                          "user_name": "u", "password": "p"});
        let (status, _) = terraform(
            &app,
            reqwest::Method::POST,
            auth_infos(&app, &project),
            Some(&body),
        )
        .await;
        assert_eq!(status, 201);
    }
    // pagination.ListAllItems: offset moves by what each page held, until one is empty.
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let url = format!(
            "{}?limit=2&offset={}",
            auth_infos(&app, &project),
            seen.len()
        );
        let (status, body) = terraform(&app, reqwest::Method::GET, url, None).await;
        assert_eq!(status, 200);
        let items = body["auth_infos"].as_array().expect("auth_infos").clone();
        pages += 1;
        if items.is_empty() {
            break;
        }
        assert!(pages < 10, "paging ends");
        seen.extend(items.iter().map(|item| item["auth_info_name"].clone()));
    }
    assert_eq!(seen, names.iter().map(|n| json!(n)).collect::<Vec<_>>());
    assert_eq!(pages, 4);

    // Without limit (the data source sends none) one page holds them all.
    let url = format!("{}?offset=0", auth_infos(&app, &project));
    let (_, body) = terraform(&app, reqwest::Method::GET, url, None).await;
    assert_eq!(body["auth_infos"].as_array().map(Vec::len), Some(5));
    // The data source's `name` filter.
    let url = format!("{}?auth_info_name=tf_auths_3", auth_infos(&app, &project));
    let (_, body) = terraform(&app, reqwest::Method::GET, url, None).await;
    assert_eq!(body["auth_infos"][0]["auth_info_name"], "tf_auths_3");
    assert_eq!(body["auth_infos"].as_array().map(Vec::len), Some(1));
}
