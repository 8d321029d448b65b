//! Sharing an enhanced connection with another project (RunAuthorizationAction, E10, P2),
//! each project calling with a token of its own: what the grantee may do before, during
//! and after a grant.

use std::time::Duration;

use dsconn::domain::ProjectScope;
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_queues, new_project, spawn_app};

/// One project's caller: a token for that project only.
pub struct Caller<'a> {
    pub app: &'a TestApp,
    pub project: String,
    token: String,
}

impl<'a> Caller<'a> {
    pub async fn new(app: &'a TestApp) -> Caller<'a> {
        let project = new_project();
        let token = dsconn::issuing::create_token(
            &app.store,
            ProjectScope::Projects(vec![project.clone()]),
            Duration::from_secs(3600),
        )
        .await
        .expect("project token")
        .token
        .expose()
        .to_owned();
        Caller {
            app,
            project,
            token,
        }
    }

    /// Sends `method path` (`{p}` is this caller's project) with an optional JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = self.app.url(&path.replace("{p}", &self.project));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .app
            .client
            .request(method, url)
            .header("X-Auth-Token", &self.token)
            .header("Content-Type", "application/json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// Creates an enhanced connection, asserting 201; its id.
    pub async fn create_connection(&self, name: &str, extra: Value) -> String {
        let mut body = json!({"name": name, "dest_vpc_id": "vpc-1", "dest_network_id": "net-1"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let (status, answer) = self
            .call(
                "POST",
                "/v2.0/{p}/datasource/enhanced-connections",
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
        answer["connection_id"]
            .as_str()
            .expect("connection_id")
            .to_owned()
    }

    /// RunAuthorizationAction on these connections for `grantee`.
    pub async fn authorize(
        &self,
        action: &str,
        grantee: &str,
        ids: &[&str],
        privileges: Value,
    ) -> (u16, Value) {
        let objects: Vec<Value> = ids
            .iter()
            .map(|id| json!({"object": format!("edsconnections.{id}"), "privileges": privileges}))
            .collect();
        let body = json!({"projectId": grantee, "action": action, "privileges": objects});
        self.call("PUT", "/v1.0/{p}/authorization", Some(body))
            .await
    }
}

pub fn not_exist(id: &str) -> Value {
    json!({"error_code": "DLI.0001", "error_msg": format!("Connection {id} is not exist.")})
}

/// The error pair of a body (the error body also carries is_success/message).
pub fn error_pair(body: &Value) -> Value {
    json!({"error_code": body["error_code"], "error_msg": body["error_msg"]})
}

fn shared_only(id: &str) -> Value {
    json!({"error_code": "APIG.0302",
        "error_msg": format!("connection {id} is shared with this project for BIND_QUEUE only")})
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn listed_ids(body: &Value) -> Vec<String> {
    body["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

/// Every call a grantee might make on the connection, with what it answers for a
/// connection it cannot see.
async fn grantee_sees_nothing(grantee: &Caller<'_>, id: &str) {
    let random = uuid::Uuid::new_v4().to_string();
    let base = "/v2.0/{p}/datasource/enhanced-connections";
    for target in [id, random.as_str()] {
        let calls: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("{base}/{target}"), None),
            (
                "POST",
                format!("{base}/{target}/associate-queue"),
                Some(json!({"queues": ["gq"]})),
            ),
            (
                "POST",
                format!("{base}/{target}/disassociate-queue"),
                Some(json!({"queues": ["gq"]})),
            ),
            (
                "PUT",
                format!("{base}/{target}"),
                Some(json!({"hosts": []})),
            ),
            ("DELETE", format!("{base}/{target}"), None),
            (
                "POST",
                format!("/v3/{{p}}/datasource/enhanced-connections/{target}/routes"),
                Some(json!({"name": "r1", "cidr": "10.0.0.0/24"})),
            ),
            ("GET", format!("{base}/{target}/privileges"), None),
            (
                "GET",
                format!("/v3/{{p}}/dli_enhanced_datasource/{target}/tags"),
                None,
            ),
        ];
        for (method, path, body) in calls {
            let (status, answer) = grantee.call(method, &path, body).await;
            assert_eq!(
                (status, error_pair(&answer)),
                (400, not_exist(target)),
                "{method} {path}"
            );
        }
    }
    let (status, list) = grantee.call("GET", base, None).await;
    assert_eq!(status, 200);
    assert!(!listed_ids(&list).contains(&id.to_owned()), "{list}");
}

#[tokio::test]
async fn a_grantee_sees_exactly_what_the_grant_allows_before_during_and_after() {
    let app = spawn_app().await;
    let owner = Caller::new(&app).await;
    let grantee = Caller::new(&app).await;
    create_queues(&app, &owner.project, &["oq"]).await;
    create_queues(&app, &grantee.project, &["gq"]).await;
    let id = owner
        .create_connection(
            "shared",
            json!({"queues": ["oq"], "tags": [{"key": "env", "value": "prod"}]}),
        )
        .await;
    let base = format!("/v2.0/{{p}}/datasource/enhanced-connections/{id}");

    // Before: nothing, exactly like an unknown id.
    grantee_sees_nothing(&grantee, &id).await;

    let (status, answer) = owner
        .authorize("grant", &grantee.project, &[&id], json!(["BIND_QUEUE"]))
        .await;
    assert_eq!(
        (status, answer),
        (200, json!({"is_success": true, "message": ""}))
    );

    // During: show with only its own bindings, no tags, no isPrivis.
    let (status, shown) = grantee.call("GET", &base, None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["name"], "shared");
    assert!(names(&shown["available_queue_info"]).is_empty(), "{shown}");
    assert!(shown.get("isPrivis").is_none(), "{shown}");
    assert!(
        shown.get("tags").is_none_or(|tags| tags == &json!([])),
        "{shown}"
    );
    let (status, answer) = grantee
        .call(
            "POST",
            &format!("{base}/associate-queue"),
            Some(json!({"queues": ["gq"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, shown) = grantee.call("GET", &base, None).await;
    assert_eq!(names(&shown["available_queue_info"]), ["gq"]);
    let (_, owners) = owner.call("GET", &base, None).await;
    assert_eq!(
        names(&owners["available_queue_info"]),
        ["gq", "oq"],
        "{owners}"
    );
    // The owner's route, which the grantee must not touch (issue 24).
    let (status, answer) = owner
        .call(
            "POST",
            &format!("/v3/{{p}}/datasource/enhanced-connections/{id}/routes"),
            Some(json!({"name": "owners", "cidr": "10.1.0.0/24"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // What only the owner may do.
    let mut forbidden: Vec<(&str, String, Option<Value>)> = vec![
        ("DELETE", base.clone(), None),
        ("PUT", base.clone(), Some(json!({"hosts": []}))),
        ("GET", format!("{base}/privileges"), None),
        (
            "GET",
            format!("/v1.0/{{p}}/authorization/privileges?object=edsconnections.{id}"),
            None,
        ),
        (
            "PUT",
            "/v1.0/{p}/authorization".to_owned(),
            Some(json!({"projectId": new_project(), "action": "grant",
            "privileges": [{"object": format!("edsconnections.{id}"), "privileges": ["BIND_QUEUE"]}]})),
        ),
        (
            "GET",
            format!("/v3/{{p}}/dli_enhanced_datasource/{id}/tags"),
            None,
        ),
        (
            "POST",
            format!("/v3/{{p}}/dli_enhanced_datasource/{id}/tags/create"),
            Some(json!({"tags": [{"key": "k", "value": "v"}]})),
        ),
        (
            "POST",
            format!("/v3/{{p}}/dli_enhanced_datasource/{id}/tags/delete"),
            Some(json!({"tags": [{"key": "env"}]})),
        ),
    ];
    // Routes are the owner's, in both versions: a grantee may neither add one (nor fill
    // the connection's 100) nor remove one, whatever the name.
    for version in ["v3", "v2.0"] {
        let routes = format!("/{version}/{{p}}/datasource/enhanced-connections/{id}/routes");
        forbidden.extend([
            (
                "POST",
                routes.clone(),
                Some(json!({"name": "by_grantee", "cidr": "10.2.0.0/24"})),
            ),
            ("DELETE", format!("{routes}/owners"), None),
            ("DELETE", format!("{routes}/no_such_route"), None),
            ("DELETE", format!("{routes}/not%20a%20name"), None),
        ]);
    }
    for (method, path, body) in forbidden {
        let (status, answer) = grantee.call(method, &path, body).await;
        assert_eq!(
            (status, error_pair(&answer)),
            (403, shared_only(&id)),
            "{method} {path}"
        );
    }
    let (_, list) = grantee
        .call("GET", "/v2.0/{p}/datasource/enhanced-connections", None)
        .await;
    assert!(listed_ids(&list).is_empty(), "{list}");
    let (_, list) = owner
        .call("GET", "/v2.0/{p}/datasource/enhanced-connections", None)
        .await;
    assert_eq!(list["connections"][0]["isPrivis"], false, "{list}");
    // The owner reads the grant (E10 and P2).
    let (status, privileges) = owner.call("GET", &format!("{base}/privileges"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        privileges,
        json!({"is_success": true, "message": "", "connection_id": id, "privileges": [{
            "object": format!("edsconnections.{id}"), "applicant_project_id": grantee.project,
            "project_id": grantee.project, "privileges": ["BIND_QUEUE"]}]})
    );
    let (status, listed) = owner
        .call(
            "GET",
            &format!("/v1.0/{{p}}/authorization/privileges?object=edsconnections.{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed,
        json!({"is_success": true, "message": "", "object_name": id, "object_type": "edsconnections",
            "count": 1, "privileges": [{"object": format!("edsconnections.{id}"), "is_admin": false,
            "user_name": "", "project_id": grantee.project, "privileges": ["BIND_QUEUE"]}]})
    );

    // After revoke: nothing again, its bindings gone, isPrivis true.
    let (status, _) = owner
        .authorize("revoke", &grantee.project, &[&id], json!(["BIND_QUEUE"]))
        .await;
    assert_eq!(status, 200);
    grantee_sees_nothing(&grantee, &id).await;
    let (_, owners) = owner.call("GET", &base, None).await;
    assert_eq!(names(&owners["available_queue_info"]), ["oq"], "{owners}");
    assert_eq!(names(&owners["routes"]), ["owners"], "{owners}");
    let (_, list) = owner
        .call("GET", "/v2.0/{p}/datasource/enhanced-connections", None)
        .await;
    assert_eq!(list["connections"][0]["isPrivis"], true, "{list}");
    let (_, privileges) = owner.call("GET", &format!("{base}/privileges"), None).await;
    assert_eq!(privileges["privileges"], json!([]));
}

#[tokio::test]
async fn bad_grants_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let owner = Caller::new(&app).await;
    let grantee = new_project();
    let first = owner.create_connection("first", json!({})).await;
    let second = owner.create_connection("second", json!({})).await;
    let object = format!("edsconnections.{first}");
    let privileges_of =
        |id: &str| format!("/v2.0/{{p}}/datasource/enhanced-connections/{id}/privileges");
    let refusals: Vec<(Value, &str)> = vec![
        (
            json!({"user_name": "alice", "action": "grant", "privileges": [{"object": object, "privileges": ["BIND_QUEUE"]}]}),
            "grants to users are not supported; grant to a project with projectId",
        ),
        (
            json!({"projectId": owner.project, "action": "grant", "privileges": [{"object": object, "privileges": ["BIND_QUEUE"]}]}),
            "a connection cannot be granted to its own project",
        ),
        (
            json!({"projectId": grantee, "action": "grant", "privileges": [{"object": object, "privileges": ["SELECT"]}]}),
            "privilege SELECT is not supported on edsconnections: the only privilege is BIND_QUEUE",
        ),
        (
            json!({"projectId": grantee, "action": "grant", "privileges": [{"object": "jobs.flink.12", "privileges": ["BIND_QUEUE"]}]}),
            "object type jobs is not supported by dsconn",
        ),
        (
            json!({"projectId": grantee, "action": "grant", "privileges": [{"object": "groups.g1", "privileges": ["BIND_QUEUE"]}]}),
            "object type groups is not supported by dsconn",
        ),
        (
            json!({"projectId": grantee, "action": "grant", "privileges": [{"object": "resources.r1", "privileges": ["BIND_QUEUE"]}]}),
            "object type resources is not supported by dsconn",
        ),
        (
            json!({"projectId": grantee, "action": "give", "privileges": [{"object": object, "privileges": ["BIND_QUEUE"]}]}),
            "action give is not one of grant, revoke and update",
        ),
        (
            json!({"projectId": "not/a/project", "action": "grant", "privileges": [{"object": object, "privileges": ["BIND_QUEUE"]}]}),
            "projectId not/a/project is not a project id: use 1 to 64 letters, digits, '_' and '-'",
        ),
        (
            json!({"projectId": grantee, "action": "grant"}),
            "privileges is required: list the objects to change",
        ),
    ];
    for (body, message) in refusals {
        let (status, answer) = owner
            .call("PUT", "/v1.0/{p}/authorization", Some(body.clone()))
            .await;
        assert_eq!(
            (status, error_pair(&answer)),
            (400, json!({"error_code": "DLI.0001", "error_msg": message})),
            "{body}"
        );
    }
    // All or nothing: an unknown object among known ones changes none of them.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, answer) = owner
        .authorize(
            "grant",
            &grantee,
            &[&first, &unknown, &second],
            json!(["BIND_QUEUE"]),
        )
        .await;
    assert_eq!((status, error_pair(&answer)), (400, not_exist(&unknown)));
    for id in [&first, &second] {
        let (_, privileges) = owner.call("GET", &privileges_of(id), None).await;
        assert_eq!(privileges["privileges"], json!([]), "{id}");
    }
    // Both at once, then an update replaces (with nothing: revoked).
    let (status, _) = owner
        .authorize("grant", &grantee, &[&first, &second], json!(["BIND_QUEUE"]))
        .await;
    assert_eq!(status, 200);
    let (status, _) = owner
        .authorize("update", &grantee, &[&first], json!([]))
        .await;
    assert_eq!(status, 200);
    let (_, privileges) = owner.call("GET", &privileges_of(&first), None).await;
    assert_eq!(privileges["privileges"], json!([]));
    let (_, privileges) = owner.call("GET", &privileges_of(&second), None).await;
    assert_eq!(privileges["privileges"][0]["project_id"], grantee.as_str());
    // Another project's connection is unknown to this one.
    let stranger = Caller::new(&app).await;
    let (status, answer) = stranger
        .authorize("grant", &grantee, &[&first], json!(["BIND_QUEUE"]))
        .await;
    assert_eq!((status, error_pair(&answer)), (400, not_exist(&first)));
    // P2 knows only edsconnections objects.
    let (status, answer) = owner
        .call(
            "GET",
            "/v1.0/{p}/authorization/privileges?object=jobs.flink.1",
            None,
        )
        .await;
    assert_eq!(
        (status, error_pair(&answer)),
        (
            400,
            json!({"error_code": "DLI.0001", "error_msg": "object type jobs is not supported by dsconn"})
        )
    );
}
