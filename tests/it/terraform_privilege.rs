//! What terraform-provider-huaweicloud's `huaweicloud_dli_datasource_connection_privilege`
//! does, as it does it: AK/SK-signed requests with `Content-Type:
//! application/json;charset=utf8`, P1 grant/update/revoke accepted only as exactly 200
//! with `is_success: true`, E10 read through `privileges[?project_id=='<p>']`, and E10's
//! 400 DLI.0001 taken as "gone" once the connection is deleted.

use dsconn::domain::ProjectScope;
use serde_json::{Value, json};

use crate::helpers::{SignedRequest, TestApp, TestCredential, new_project, spawn_app};

const TERRAFORM_CONTENT_TYPE: &str = "application/json;charset=utf8";

async fn terraform(
    app: &TestApp,
    credential: &TestCredential,
    method: reqwest::Method,
    target: String,
    body: Option<Value>,
) -> (u16, Value) {
    let request = SignedRequest {
        method,
        target,
        body: body
            .map(|body| body.to_string().into_bytes())
            .unwrap_or_default(),
        credential,
        sdk_date: None,
        extra_headers: vec![("content-type", TERRAFORM_CONTENT_TYPE.to_owned())],
    };
    let response = app.signed(&request).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// The provider's body for create (grant), update and delete (revoke).
fn privilege_body(action: &str, grantee: &str, id: &str) -> Value {
    json!({"projectId": grantee, "action": action,
        "privileges": [{"object": format!("edsconnections.{id}"), "privileges": ["BIND_QUEUE"]}]})
}

/// `privileges[?project_id=='<grantee>']` of E10.
fn grants_of<'a>(privileges: &'a Value, grantee: &str) -> Vec<&'a Value> {
    privileges["privileges"]
        .as_array()
        .expect("privileges array")
        .iter()
        .filter(|item| item["project_id"] == grantee)
        .collect()
}

#[tokio::test]
async fn the_privilege_resource_is_created_read_updated_and_destroyed() {
    let app = spawn_app().await;
    let owner = new_project();
    let grantee = new_project();
    let credential = app
        .issue_credential(ProjectScope::Projects(vec![owner.clone()]))
        .await;
    let (status, created) = terraform(
        &app,
        &credential,
        reqwest::Method::POST,
        format!("/v2.0/{owner}/datasource/enhanced-connections"),
        Some(
            json!({"name": "tf_conn", "dest_vpc_id": "vpc-1", "dest_network_id": "net-1",
            "queues": [], "tags": null}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_owned();
    let authorization = format!("/v1.0/{owner}/authorization");
    let privileges = format!("/v2.0/{owner}/datasource/enhanced-connections/{id}/privileges");

    for action in ["grant", "update"] {
        let (status, answer) = terraform(
            &app,
            &credential,
            reqwest::Method::PUT,
            authorization.clone(),
            Some(privilege_body(action, &grantee, &id)),
        )
        .await;
        assert_eq!(status, 200, "{action}: {answer}");
        assert_eq!(answer["is_success"], true, "{action}: {answer}");
        let (status, read) = terraform(
            &app,
            &credential,
            reqwest::Method::GET,
            privileges.clone(),
            None,
        )
        .await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["connection_id"], id.as_str());
        let grants = grants_of(&read, &grantee);
        assert_eq!(grants.len(), 1, "{read}");
        assert_eq!(grants[0]["privileges"], json!(["BIND_QUEUE"]));
        assert_eq!(grants[0]["object"], format!("edsconnections.{id}"));
    }

    let (status, answer) = terraform(
        &app,
        &credential,
        reqwest::Method::PUT,
        authorization.clone(),
        Some(privilege_body("revoke", &grantee, &id)),
    )
    .await;
    assert_eq!(
        (status, &answer["is_success"]),
        (200, &json!(true)),
        "{answer}"
    );
    let (_, read) = terraform(
        &app,
        &credential,
        reqwest::Method::GET,
        privileges.clone(),
        None,
    )
    .await;
    assert!(grants_of(&read, &grantee).is_empty(), "{read}");

    // Granted again, then the connection is destroyed: E10 says "gone" the way the
    // provider expects.
    let (status, _) = terraform(
        &app,
        &credential,
        reqwest::Method::PUT,
        authorization,
        Some(privilege_body("grant", &grantee, &id)),
    )
    .await;
    assert_eq!(status, 200);
    let (status, deleted) = terraform(
        &app,
        &credential,
        reqwest::Method::DELETE,
        format!("/v2.0/{owner}/datasource/enhanced-connections/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    let (status, gone) = terraform(&app, &credential, reqwest::Method::GET, privileges, None).await;
    assert_eq!(status, 400);
    assert_eq!(gone["error_code"], "DLI.0001");
    assert_eq!(gone["error_msg"], format!("Connection {id} is not exist."));
}
