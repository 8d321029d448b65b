//! The audit trail (issue 28): every accepted write and every state change is one event
//! with its actor, resource, action and changed fields, secrets masked; the list and the
//! live stream show them, a stream resumes with `Last-Event-ID` without gaps or
//! duplicates, and another project's credential sees none of them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::enhanced::{create_enhanced, enhanced_body};
use crate::helpers::{
    TcpTarget, TestApp, closed_port, create_body, create_queues, new_project, spawn_app,
    spawn_app_with,
};

/// How long a stream may take to show a change made by another client (issue 28).
const DELIVERY_BOUND: Duration = Duration::from_secs(1);

/// Sends `method path` with the app's token and a JSON body; the status and the answer.
async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `call`, which must answer 2xx.
async fn ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = call(app, method.clone(), path, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    answer
}

/// Every event of `project` oldest first, as the list API answers them, and its text.
async fn all_events(app: &TestApp, project: &str) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut texts = String::new();
    let mut after = 0;
    loop {
        let path = format!("/dsconn/v1/{project}/events?order=asc&limit=50&after={after}");
        let response = app.get(app.url(&path)).send().await.expect("sent");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("body");
        let page: Value = serde_json::from_str(&text).expect("json");
        texts.push_str(&text);
        events.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next"].as_i64() {
            Some(next) => after = next,
            None => return (events, texts),
        }
    }
}

/// A stream's received text, read by a task of its own.
pub struct Stream {
    received: Arc<Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Stream {
    /// Opens `project`'s stream with `token` (resuming after `last_event_id`) and waits
    /// for its `ready` frame.
    async fn open(app: &TestApp, project: &str, token: &str, last_event_id: Option<i64>) -> Self {
        let url = app.url(&format!("/dsconn/v1/{project}/events/stream"));
        Self::open_url(&app.client, &url, token, last_event_id).await
    }

    /// [`Stream::open`] of a stream's URL on any server.
    pub async fn open_url(
        client: &reqwest::Client,
        url: &str,
        token: &str,
        last_event_id: Option<i64>,
    ) -> Self {
        let mut request = client.get(url).header("X-Auth-Token", token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let mut response = request.send().await.expect("sent");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let received = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&received);
        let reader = tokio::spawn(async move {
            while let Ok(Some(chunk)) = response.chunk().await {
                sink.lock()
                    .expect("not poisoned")
                    .push_str(&String::from_utf8_lossy(&chunk));
            }
        });
        let stream = Self { received, reader };
        stream
            .wait_until("the ready frame", |text, _| text.contains("event: ready"))
            .await;
        stream
    }

    pub fn text(&self) -> String {
        self.received.lock().expect("not poisoned").clone()
    }

    /// The `change` events received so far, in order.
    pub fn events(&self) -> Vec<Value> {
        self.text()
            .split("\n\n")
            .filter(|frame| frame.contains("event: change"))
            .filter_map(|frame| frame.lines().find_map(|line| line.strip_prefix("data: ")))
            .map(|data| serde_json::from_str(data).expect("event JSON"))
            .collect()
    }

    /// Waits (up to 10 s) until `done` holds of the text and events received.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&str, &[Value]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text();
            if done(&text, &self.events()) {
                return;
            }
            assert!(Instant::now() < deadline, "no {what} in: {text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub fn ids(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|event| event["id"].as_i64().expect("id"))
        .collect()
}

/// `(resource_type, action)` of each event.
fn kinds(events: &[&Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|event| {
            (
                event["resource_type"].as_str().expect("type").to_owned(),
                event["action"].as_str().expect("action").to_owned(),
            )
        })
        .collect()
}

async fn token_id(app: &TestApp) -> String {
    let whoami = ok(app, Method::GET, "/dsconn/v1/whoami", None).await;
    whoami["id"].as_str().expect("token id").to_owned()
}

/// Waits until a classic connection has left CREATING.
async fn settled(app: &TestApp, project: &str, id: &str) {
    app.settled(project, id).await;
}

/// Waits until none of a classic connection's bindings is CREATING.
async fn bindings_settled(app: &TestApp, project: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown = ok(
            app,
            Method::GET,
            &format!("/v2.0/{project}/datasource-connection/{id}"),
            None,
        )
        .await;
        let queues = shown["available_queue_info"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !queues.is_empty() && queues.iter().all(|queue| queue["status"] != "CREATING") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bindings still CREATING: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_write_and_state_change_is_one_event_with_its_actor_and_no_secret() {
    let app = spawn_app().await;
    let project = new_project();
    let grantee = new_project();
    let actor = format!("token:{}", token_id(&app).await);
    let target = TcpTarget::start().await;
    let first_password = "first-pw-7c1e9a0d";
    let second_password = "second-pw-4b8f2e61";
    let stream = Stream::open(&app, &project, &app.token, None).await;
    let p = &project;

    // Queues and pools.
    create_queues(&app, p, &["q1"]).await;
    ok(
        &app,
        Method::POST,
        &format!("/v3/{p}/elastic-resource-pools"),
        Some(json!({"elastic_resource_pool_name": "pool1", "min_cu": 64, "max_cu": 64})),
    )
    .await;
    // A classic connection, its check (the worker's state change), a bind and an unbind.
    let id = app
        .create_ok(p, &create_body("shop", "RDS", &target.address.to_string()))
        .await;
    settled(&app, p, &id).await;
    ok(
        &app,
        Method::POST,
        &format!("/v2.0/{p}/datasource-connection/{id}/associate-queue"),
        Some(json!({"queues": ["q1"]})),
    )
    .await;
    bindings_settled(&app, p, &id).await;
    ok(
        &app,
        Method::POST,
        &format!("/v2.0/{p}/datasource-connection/{id}/disassociate-queue"),
        Some(json!({"queues": ["q1"]})),
    )
    .await;
    // An auth info, created and updated with passwords, then deleted.
    let auth_infos = format!("/v3/{p}/datasource/auth-infos");
    ok(
        &app,
        Method::POST,
        &auth_infos,
        Some(json!({"auth_info_name": "etl_login",
        "datasource_type": "passwd", "user_name": "etl", "password": first_password})),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        &auth_infos,
        Some(json!({"auth_info_name": "etl_login",
        "user_name": "etl2", "password": second_password})),
    )
    .await;
    // The connection's checks log in with it, then no longer.
    let credentials = format!("/v2.0/{p}/datasource-connection/{id}/auth-info");
    ok(
        &app,
        Method::PUT,
        &credentials,
        Some(json!({"auth_info_name": "etl_login"})),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        &credentials,
        Some(json!({"auth_info_name": null})),
    )
    .await;
    // A queue's properties, and DLI's queue connection test (its result is the server's).
    ok(
        &app,
        Method::PUT,
        &format!("/v3/{p}/queues/q1/properties"),
        Some(json!({"properties": {"job.maxConcurrent": 2}})),
    )
    .await;
    let task = ok(
        &app,
        Method::POST,
        &format!("/v1.0/{p}/queues/q1/connection-test"),
        Some(json!({"address": target.address.to_string()})),
    )
    .await;
    let task = task["task_id"].as_i64().expect("task id");
    // A connection that FAILED, reactivated.
    let failing = app
        .create_ok(
            p,
            &create_body("gone", "RDS", &format!("127.0.0.1:{}", closed_port())),
        )
        .await;
    settled(&app, p, &failing).await;
    ok(
        &app,
        Method::POST,
        &format!("/v2.0/{p}/datasource-connection/{failing}/reactivate"),
        Some(json!({})),
    )
    .await;
    // An enhanced connection: tags, a grant, hosts, a route, then its delete.
    let enhanced = create_enhanced(&app, p, &enhanced_body("lake")).await;
    ok(
        &app,
        Method::POST,
        &format!("/v3/{p}/dli_enhanced_datasource/{enhanced}/tags/create"),
        Some(json!({"tags": [{"key": "env", "value": "prod"}]})),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        &format!("/v1.0/{p}/authorization"),
        Some(json!({"projectId": grantee,
        "action": "grant", "privileges": [{"object": format!("edsconnections.{enhanced}"),
        "privileges": ["BIND_QUEUE"]}]})),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        &format!("/v2.0/{p}/datasource/enhanced-connections/{enhanced}"),
        Some(json!({"hosts": [{"name": "db1", "ip": "10.0.0.5"}]})),
    )
    .await;
    let routes = format!("/v3/{p}/datasource/enhanced-connections/{enhanced}/routes");
    ok(
        &app,
        Method::POST,
        &routes,
        Some(json!({"name": "r1", "cidr": "10.9.0.0/24"})),
    )
    .await;
    ok(&app, Method::DELETE, &format!("{routes}/r1"), None).await;
    ok(
        &app,
        Method::DELETE,
        &format!("/v2.0/{p}/datasource/enhanced-connections/{enhanced}"),
        None,
    )
    .await;
    // The agency, then the deletes.
    ok(
        &app,
        Method::POST,
        &format!("/v2/{p}/agency"),
        Some(json!({"roles": ["obs_adm"]})),
    )
    .await;
    // An agent comes and goes.
    let agent = ok(
        &app,
        Method::POST,
        &format!("/dsconn/v1/{p}/agents"),
        Some(json!({"name": "edge1", "version": "test", "queues": ["q1"]})),
    )
    .await;
    let agent = agent["agent_id"].as_str().expect("agent id").to_owned();
    ok(
        &app,
        Method::DELETE,
        &format!("/dsconn/v1/{p}/agents/{agent}"),
        None,
    )
    .await;
    ok(
        &app,
        Method::DELETE,
        &format!("/v2.0/{p}/datasource-connection/{id}"),
        None,
    )
    .await;
    ok(
        &app,
        Method::DELETE,
        &format!("{auth_infos}/etl_login"),
        None,
    )
    .await;
    ok(
        &app,
        Method::DELETE,
        &format!("/v3/{p}/elastic-resource-pools/pool1"),
        None,
    )
    .await;
    ok(&app, Method::DELETE, &format!("/v1.0/{p}/queues/q1"), None).await;
    // A refused request is not an event.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/v1.0/{p}/queues"),
        Some(json!({"queue_name": "bad name!", "cu_count": 16})),
    )
    .await;
    assert_eq!(status, 400);

    let (events, listed_text) = all_events(&app, p).await;
    let by_request: Vec<&Value> = events
        .iter()
        .filter(|event| event["actor"] == actor)
        .collect();
    let expected = [
        ("queue", "create"),
        ("pool", "create"),
        ("connection", "create"),
        ("connection", "bind"),
        ("connection", "unbind"),
        ("auth_info", "create"),
        ("auth_info", "update"),
        ("connection", "update"),
        ("connection", "update"),
        ("queue", "update"),
        ("queue_test", "create"),
        ("connection", "create"),
        ("connection", "reactivate"),
        ("enhanced_connection", "create"),
        ("enhanced_connection", "tag"),
        ("enhanced_connection", "grant"),
        ("enhanced_connection", "update"),
        ("enhanced_connection", "add_route"),
        ("enhanced_connection", "delete_route"),
        ("enhanced_connection", "delete"),
        ("agency", "update"),
        ("agent", "register"),
        ("agent", "deregister"),
        ("connection", "delete"),
        ("auth_info", "delete"),
        ("pool", "delete"),
        ("queue", "delete"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(kind, action)| ((*kind).to_owned(), (*action).to_owned()))
        .collect();
    assert_eq!(kinds(&by_request), expected, "{events:#?}");
    for event in &by_request {
        assert_eq!(event["project_id"], project.as_str());
        assert_eq!(event["client"], "127.0.0.1");
        assert!(
            event["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{event}"
        );
    }
    // What changed, field by field.
    let find = |kind: &str, action: &str| -> &Value {
        events
            .iter()
            .find(|event| event["resource_type"] == kind && event["action"] == action)
            .unwrap_or_else(|| panic!("no {kind} {action} in {events:#?}"))
    };
    let created = find("connection", "create");
    assert_eq!(created["resource_id"], id.as_str());
    assert_eq!(created["changes"]["name"], json!({"after": "shop"}));
    assert_eq!(created["changes"]["state"], json!({"after": "CREATING"}));
    let checked = find("connection", "state");
    assert_eq!(checked["actor"], "system");
    assert_eq!(
        checked["changes"]["state"],
        json!({"before": "CREATING", "after": "ACTIVE"})
    );
    let bound = find("binding", "status");
    assert_eq!(bound["actor"], "system");
    assert_eq!(bound["resource_id"], format!("{id}/q1"));
    assert_eq!(bound["changes"]["status"]["before"], "CREATING");
    assert_eq!(
        find("connection", "bind")["changes"]["queues"],
        json!({"after": ["q1"]})
    );
    let updated = find("auth_info", "update");
    assert_eq!(
        updated["changes"]["attributes"]["after"]["user_name"],
        "etl2"
    );
    assert_eq!(updated["changes"]["secrets"], json!({"after": "***"}));
    assert_eq!(
        find("auth_info", "create")["changes"]["secrets"],
        json!({"after": "***"})
    );
    let granted = find("enhanced_connection", "grant");
    assert_eq!(granted["changes"]["grantee"], json!({"after": grantee}));
    assert_eq!(
        granted["changes"]["privileges"],
        json!({"before": [], "after": ["BIND_QUEUE"]})
    );
    assert_eq!(
        find("enhanced_connection", "tag")["changes"]["tags"]["after"],
        json!([{"key": "env", "value": "prod"}])
    );
    assert_eq!(
        find("connection", "reactivate")["changes"]["state"],
        json!({"before": "FAILED", "after": "CREATING"})
    );
    let failed = events
        .iter()
        .find(|event| event["resource_id"] == failing.as_str() && event["action"] == "state");
    assert_eq!(
        failed.expect("the failed check")["changes"]["state"]["after"],
        "FAILED"
    );
    let tested = find("queue_test", "result");
    assert_eq!(tested["resource_id"], task.to_string());
    assert_eq!(tested["actor"], "system");
    assert_eq!(tested["changes"]["status"], json!({"after": "REACHABLE"}));
    assert_eq!(
        find("queue", "update")["changes"]["attributes"]["after"]["properties"]["job.maxConcurrent"],
        "2",
        "{events:#?}"
    );
    assert_eq!(
        find("agent", "register")["changes"]["name"],
        json!({"after": "edge1"})
    );
    assert!(
        !events
            .iter()
            .any(|event| event["changes"].to_string().contains("bad name!")),
        "a refused request left an event"
    );

    // The stream saw exactly the same events, once each, in id order.
    stream
        .wait_until("every listed event", |_, streamed| {
            ids(streamed) == ids(&events)
        })
        .await;

    // No password anywhere: the list, the stream, the database files.
    let mut stored = Vec::new();
    for file in std::fs::read_dir(&app.data_dir).expect("data dir") {
        let path = file.expect("entry").path();
        if path.is_file() {
            stored.extend(std::fs::read(&path).expect("read"));
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    for password in [first_password, second_password] {
        assert!(!listed_text.contains(password), "the list shows a password");
        assert!(
            !stream.text().contains(password),
            "the stream shows a password"
        );
        assert!(
            !stored.contains(password),
            "the database holds a password in clear"
        );
    }

    // Credentials and tokens belong to no project: an all-projects caller reads them,
    // their secrets masked.
    let credential = app
        .issue_credential(dsconn::domain::ProjectScope::Projects(vec![
            project.clone(),
        ]))
        .await;
    app.store
        .revoke_credential(&credential.access_key, dsconn::domain::now_millis())
        .await
        .expect("revoked");
    let outside = ok(
        &app,
        Method::GET,
        &format!("/dsconn/v1/{p}/events?all_projects=true&resource_type=credential&order=asc"),
        None,
    )
    .await;
    let outside: Vec<&Value> = outside["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["resource_id"] == credential.access_key.as_str())
        .collect();
    assert_eq!(
        kinds(&outside),
        [("credential", "create"), ("credential", "revoke")]
            .map(|(kind, action)| (kind.to_owned(), action.to_owned()))
    );
    assert!(outside[0].get("project_id").is_none(), "{}", outside[0]);
    assert_eq!(outside[0]["changes"]["secret_key"], json!({"after": "***"}));
    assert_eq!(outside[0]["changes"]["scope"], json!({"after": [project]}));
    assert!(!outside[0].to_string().contains(&credential.secret_key));
    app.stop().await;
}

#[tokio::test]
async fn an_agent_going_quiet_is_recorded_once_as_offline() {
    let app = spawn_app_with(|config| {
        config.agent_timeout = Duration::from_secs(1);
    })
    .await;
    let project = new_project();
    let p = &project;
    create_queues(&app, p, &["q1"]).await;
    let agent = ok(
        &app,
        Method::POST,
        &format!("/dsconn/v1/{p}/agents"),
        Some(json!({"name": "quiet1", "version": "test", "queues": ["q1"]})),
    )
    .await;
    let agent = agent["agent_id"].as_str().expect("agent id").to_owned();
    // Never heard from again: offline after the timeout, noticed within the watch.
    let deadline = Instant::now() + Duration::from_secs(10);
    let offline = loop {
        let (events, _) = all_events(&app, p).await;
        let offline: Vec<Value> = events
            .into_iter()
            .filter(|event| event["action"] == "offline")
            .collect();
        if !offline.is_empty() {
            break offline;
        }
        assert!(Instant::now() < deadline, "the agent never went offline");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (events, _) = all_events(&app, p).await;
    let again = events
        .iter()
        .filter(|event| event["action"] == "offline")
        .count();
    assert_eq!(again, 1, "{events:#?}");
    let event = &offline[0];
    assert_eq!(event["resource_id"], agent.as_str());
    assert_eq!(event["actor"], "system");
    assert_eq!(
        event["changes"]["online"],
        json!({"before": true, "after": false})
    );
    assert_eq!(event["changes"]["name"], json!({"after": "quiet1"}));
    app.stop().await;
}

#[tokio::test]
async fn a_stream_delivers_within_a_second_resumes_without_gaps_and_keeps_to_its_project() {
    let app = spawn_app_with(|config| {
        config.event_heartbeat = Duration::from_millis(200);
    })
    .await;
    let project = new_project();
    let other = new_project();
    let scoped = |project: &str| {
        let project = project.to_owned();
        let store = app.store.clone();
        async move {
            dsconn::issuing::create_token(
                &store,
                dsconn::domain::ProjectScope::Projects(vec![project]),
                Duration::from_secs(600),
            )
            .await
            .expect("token")
            .token
            .expose()
            .to_owned()
        }
    };
    let own_token = scoped(&project).await;
    let other_token = scoped(&other).await;
    let watcher = Stream::open(&app, &project, &own_token, None).await;
    let outsider = Stream::open(&app, &other, &other_token, None).await;

    // Delivered to a stream within the bound after the change is acknowledged.
    let target = TcpTarget::start().await;
    let url = target.address.to_string();
    let mut made = Vec::new();
    for index in 0..3 {
        let id = app
            .create_ok(&project, &create_body(&format!("c{index}"), "RDS", &url))
            .await;
        let acknowledged = Instant::now();
        watcher
            .wait_until("the create", |_, events| {
                events
                    .iter()
                    .any(|event| event["resource_id"] == id.as_str())
            })
            .await;
        assert!(
            acknowledged.elapsed() < DELIVERY_BOUND,
            "{:?}",
            acknowledged.elapsed()
        );
        made.push(id);
    }
    // Heartbeats keep an idle stream alive.
    watcher
        .wait_until("a heartbeat", |text, _| text.contains(": heartbeat"))
        .await;

    // Another project's credential sees none of it, and may not open this stream.
    assert!(outsider.events().is_empty(), "{}", outsider.text());
    let refused = app
        .client
        .get(app.url(&format!("/dsconn/v1/{project}/events/stream")))
        .header("X-Auth-Token", &other_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 403);
    let refused = app
        .client
        .get(app.url(&format!("/dsconn/v1/{project}/events")))
        .header("X-Auth-Token", &other_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 403);

    // Resume: disconnect, changes happen meanwhile, reconnect with Last-Event-ID.
    let seen = watcher.events();
    let last_seen = *ids(&seen).last().expect("some events");
    drop(watcher);
    for id in &made {
        settled(&app, &project, id).await;
        ok(
            &app,
            Method::DELETE,
            &format!("/v2.0/{project}/datasource-connection/{id}"),
            None,
        )
        .await;
    }
    let (listed, _) = all_events(&app, &project).await;
    let resumed = Stream::open(&app, &project, &own_token, Some(last_seen)).await;
    let missed: Vec<i64> = ids(&listed)
        .into_iter()
        .filter(|id| *id > last_seen)
        .collect();
    assert!(
        missed.len() >= made.len(),
        "the deletes are missing from {listed:#?}"
    );
    resumed
        .wait_until("the missed events", |_, events| {
            ids(events).len() >= missed.len()
        })
        .await;
    // Exactly the missed ones, once each, in order: together with what was seen, the
    // whole list.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ids(&resumed.events()), missed);
    let mut whole = ids(&seen);
    whole.extend(missed);
    assert_eq!(whole, ids(&listed));
    assert!(outsider.events().is_empty(), "{}", outsider.text());
    app.stop().await;
}

/// A loopback TCP relay in front of a server that counts the request lines its clients
/// send (HTTP/1.1, so each request starts with its method and path).
struct CountingRelay {
    address: std::net::SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingRelay {
    async fn start(server: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let address = listener.local_addr().expect("relay address");
        let sent = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sent);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let Ok(upstream) = tokio::net::TcpStream::connect(server).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut upstream_read, mut upstream_write) = upstream.into_split();
                    let requests = async {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buffer = [0_u8; 8192];
                        while let Ok(read) = client_read.read(&mut buffer).await {
                            if read == 0 {
                                break;
                            }
                            seen.lock().expect("not poisoned").extend(&buffer[..read]);
                            if upstream_write.write_all(&buffer[..read]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let answers = tokio::io::copy(&mut upstream_read, &mut client_write);
                    let _ = tokio::join!(requests, answers);
                });
            }
        });
        Self {
            address,
            sent,
            task,
        }
    }

    /// The request lines sent so far that start with `prefix` (e.g. `GET /v2.0/`).
    fn requests(&self, prefix: &str) -> usize {
        let sent = self.sent.lock().expect("not poisoned");
        String::from_utf8_lossy(&sent)
            .lines()
            .filter(|line| line.starts_with(prefix))
            .count()
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn dsconn_wait_follows_the_stream_and_makes_no_polling_requests() {
    let app = spawn_app_with(|config| {
        // The check stays CREATING for 3 s: polling every 200 ms would show it 15 times.
        config.probe.check_timeout = Duration::from_secs(3);
    })
    .await;
    let project = new_project();
    let hanging = crate::helpers::HangingTarget::start();
    let id = app
        .create_ok(
            &project,
            &create_body("slow", "RDS", &hanging.address.to_string()),
        )
        .await;
    let relay = CountingRelay::start(app.address).await;
    let home = tempfile::tempdir().expect("temp dir");
    let mut command = crate::cli::dsconn(home.path());
    command
        .env("DSCONN_ENDPOINT", format!("http://{}", relay.address))
        .env("DSCONN_TOKEN", &app.token)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", &project)
        .args(["wait", &id, "--for", "settled", "--timeout", "30s"]);
    let started = Instant::now();
    let output = crate::cli::run(command).await;
    // FAILED (the target never answers): exit 1, after the check's 3 s.
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        crate::cli::stderr(&output)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let show = format!("GET /v2.0/{project}/datasource-connection/{id} ");
    let shows = relay.requests(&show);
    let streams = relay.requests(&format!("GET /dsconn/v1/{project}/events/stream"));
    assert_eq!(
        streams,
        1,
        "{}",
        String::from_utf8_lossy(&relay.sent.lock().expect("lock"))
    );
    // One look at the start, one after the state change (and the final report's).
    assert!(
        (1..=3).contains(&shows),
        "{shows} shows: wait polled while the stream was up"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_grouped_write_that_fails_leaves_no_event_and_its_batch_keeps_theirs() {
    let app = spawn_app().await;
    let project = new_project();
    let target = TcpTarget::start().await;
    let url = target.address.to_string();
    // Sent together, so they share grouped commits: every other one takes a name
    // another create also takes, and one of each pair is refused.
    let creates = (0..40).map(|index| {
        let mut body = create_body(&format!("c{}", index / 2), "RDS", &url);
        // Not a retry of the other (which would answer its id): a different definition.
        body["network_id"] = json!(format!("net-{index}"));
        let app = &app;
        let project = &project;
        async move { app.create(project, &body).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(creates).await;
    assert_eq!(statuses.iter().filter(|status| **status == 201).count(), 20);
    let listed = app.list(&project, "").await;
    let stored: std::collections::BTreeSet<String> = listed
        .connections
        .iter()
        .map(|connection| connection.connection_id.clone())
        .collect();
    let (events, _) = all_events(&app, &project).await;
    let created: Vec<String> = events
        .iter()
        .filter(|event| event["action"] == "create")
        .map(|event| event["resource_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(created.len(), 20, "{events:#?}");
    assert_eq!(
        created
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        stored
    );
    app.stop().await;
}

#[tokio::test]
async fn dsconn_events_lists_the_newest_and_follows_new_ones() {
    let app = spawn_app().await;
    let project = new_project();
    let target = TcpTarget::start().await;
    let first = app
        .create_ok(
            &project,
            &create_body("first", "RDS", &target.address.to_string()),
        )
        .await;
    app.settled(&project, &first).await;
    let home = tempfile::tempdir().expect("temp dir");

    // The newest, as the server's JSON.
    let mut command = crate::cli::client(&app, home.path(), &project);
    command.args(["events", "--limit", "5", "-o", "json"]);
    let output = crate::cli::run(command).await;
    assert!(output.status.success(), "{}", crate::cli::stderr(&output));
    let listed: Value = serde_json::from_str(&crate::cli::stdout(&output)).expect("json");
    let actions: Vec<&str> = listed["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["state", "create"], "{listed}");

    // --follow: the table of what is there, then each new event as a line.
    let mut command = crate::cli::client(&app, home.path(), &project);
    command
        .args(["events", "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().expect("dsconn events --follow starts");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    // Polled without blocking: the server under test runs on this thread's runtime.
    let wait_for = async |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            match received.try_recv() {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(_) => panic!("no line with {needle} in {seen:#?}"),
            }
        }
    };
    wait_for(&first).await;
    let second = app
        .create_ok(
            &project,
            &create_body("second", "RDS", &target.address.to_string()),
        )
        .await;
    let line = wait_for(&second).await;
    assert!(
        line.contains("create") && line.contains("name: second"),
        "{line}"
    );
    let _ = child.kill();
    let _ = child.wait();
    app.stop().await;
}
