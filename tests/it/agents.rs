//! The agent API against a real server: where a queue's checks run (its agents, else the
//! server), leases (a result only from the holder, an expired lease taken over by
//! another agent of the queue), `--require-agents`, DLI's queue connection test, and the
//! same isolation as every other resource. The agents here are the test itself speaking
//! the agent API, so every step is deterministic; `agent_netns` runs the real agent in
//! another network.

use std::time::{Duration, Instant};

use dsconn::api::connections::types::ConnectionResponse;
use serde_json::{Value, json};

use crate::helpers::{
    TcpTarget, TestApp, assert_dli_error, closed_port, create_body, create_queues, new_project,
    post_json, spawn_app_with,
};

/// How long the apps here wait before an agent not heard from is offline.
const AGENT_TIMEOUT: Duration = Duration::from_secs(2);

async fn app() -> TestApp {
    spawn_app_with(|config| config.agent_timeout = AGENT_TIMEOUT).await
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    app.get(app.url(path))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json")
}

/// Registers an agent named `name` for `queues`; its id.
async fn register(app: &TestApp, project: &str, name: &str, queues: &[&str]) -> String {
    let response = post_json(
        app,
        &format!("/dsconn/v1/{project}/agents"),
        &json!({"name": name, "version": "test", "queues": queues}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["agent_timeout_ms"],
        u64::try_from(AGENT_TIMEOUT.as_millis()).expect("ms")
    );
    // Three heartbeats per timeout (the idle keep-alive, 10 s, is longer).
    assert_eq!(body["heartbeat_interval_ms"], 666, "{body}");
    body["agent_id"].as_str().expect("agent id").to_owned()
}

#[tokio::test]
async fn heartbeats_come_before_the_server_closes_an_idle_connection() {
    // With a 30 s timeout a third is 10 s, past a 5 s idle keep-alive: a heartbeat
    // would find its connection closed each time and open another.
    let app = spawn_app_with(|config| {
        config.agent_timeout = Duration::from_secs(30);
        config.header_read_timeout = Duration::from_secs(5);
    })
    .await;
    let project = new_project();
    create_queues(&app, &project, &["q_keep"]).await;
    let response = post_json(
        &app,
        &format!("/dsconn/v1/{project}/agents"),
        &json!({"name": "keep", "version": "test", "queues": ["q_keep"]}),
    )
    .await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (&body["heartbeat_interval_ms"], &body["agent_timeout_ms"]),
        (&json!(4_000), &json!(30_000)),
        "{body}"
    );
    app.stop().await;
}

/// One claim of an agent: the work it got.
async fn claim(
    app: &TestApp,
    project: &str,
    agent: &str,
    wait_ms: u64,
    lease_ms: u64,
) -> Vec<Value> {
    let response = post_json(
        app,
        &format!("/dsconn/v1/{project}/agents/{agent}/claim"),
        &json!({"max": 8, "wait_ms": wait_ms, "lease_ms": lease_ms}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body["work"].as_array().expect("work").clone()
}

/// A report of one address, reachable or refused.
fn report(endpoint: &str, reachable: bool) -> Value {
    json!({
        "checks": [{
            "endpoint": endpoint,
            "address": endpoint,
            "reachable": reachable,
            "reason": if reachable { Value::Null } else { json!("CONNECTION_REFUSED") },
            "detail": if reachable { "TCP connect succeeded" } else { "connection refused" },
            "latency_ms": 1
        }]
    })
}

async fn send_result(
    app: &TestApp,
    project: &str,
    agent: &str,
    work: &Value,
    reachable: bool,
) -> reqwest::Response {
    post_json(
        app,
        &format!("/dsconn/v1/{project}/agents/{agent}/results"),
        &json!({
            "work_id": work["work_id"],
            "queue": work["queue"],
            "report": report(work["url"].as_str().unwrap_or_default(), reachable),
            "elapsed_ms": 5
        }),
    )
    .await
}

/// Waits until `done` holds for the connection (generous deadline; not a timing test).
async fn wait_for(
    app: &TestApp,
    project: &str,
    id: &str,
    done: impl Fn(&ConnectionResponse) -> bool,
) -> ConnectionResponse {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = app.show(project, id).await;
        if done(&shown) {
            return shown;
        }
        assert!(Instant::now() < deadline, "never reached: {shown:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn binding<'a>(
    shown: &'a ConnectionResponse,
    queue: &str,
) -> &'a dsconn::api::connections::types::QueueInfo {
    shown
        .available_queue_info
        .iter()
        .find(|binding| binding.name == queue)
        .unwrap_or_else(|| panic!("no binding of {queue}: {shown:?}"))
}

fn with_queues(name: &str, url: &str, queues: &[&str]) -> Value {
    let mut body = create_body(name, "RDS", url);
    body["queues"] = json!(queues);
    body
}

#[tokio::test]
async fn a_queue_with_an_online_agent_is_checked_by_it_and_nowhere_else() {
    let app = app().await;
    let project = new_project();
    create_queues(&app, &project, &["q_agent", "q_server"]).await;
    let agent = register(&app, &project, "vpc-1", &["q_agent"]).await;
    // The destination refuses the server: only the agent's report can make q_agent ACTIVE.
    let url = format!("127.0.0.1:{}", closed_port());
    let id = app
        .create_ok(
            &project,
            &with_queues("split", &url, &["q_agent", "q_server"]),
        )
        .await;

    let work = claim(&app, &project, &agent, 5_000, 10_000).await;
    assert_eq!(work.len(), 1, "only its queue's binding: {work:?}");
    assert_eq!(
        (
            work[0]["kind"].as_str(),
            work[0]["queue"].as_str(),
            work[0]["url"].as_str()
        ),
        (Some("bind"), Some("q_agent"), Some(url.as_str()))
    );
    assert_eq!(work[0]["service"], "RDS");
    // The server checks the agent-less queue and the connection itself meanwhile; the
    // connection waits for the agent's binding, which the server never claims.
    let shown = wait_for(&app, &project, &id, |c| {
        binding(c, "q_server").status.as_str() != "CREATING"
    })
    .await;
    assert_eq!(shown.state, "CREATING", "waiting for q_agent: {shown:?}");
    assert_eq!(binding(&shown, "q_agent").status.as_str(), "CREATING");
    let server_side = binding(&shown, "q_server");
    assert_eq!(server_side.status.as_str(), "FAILED");
    assert_eq!(server_side.checked_from.as_deref(), Some("server"));
    assert!(
        server_side.err_msg.contains("checked from the server"),
        "{}",
        server_side.err_msg
    );

    let sent = send_result(&app, &project, &agent, &work[0], true).await;
    assert_eq!(sent.status(), 200);
    let shown = wait_for(&app, &project, &id, |c| c.state != "CREATING").await;
    assert_eq!(shown.state, "ACTIVE", "reached from one place: {shown:?}");
    assert_eq!(shown.connection_url, url);
    let agent_side = binding(&shown, "q_agent");
    assert_eq!(agent_side.status.as_str(), "ACTIVE");
    assert_eq!(agent_side.checked_from.as_deref(), Some("agent:vpc-1"));

    // The online agent is listed with its queue.
    let listed: Value = get_json(&app, &format!("/dsconn/v1/{project}/agents")).await;
    assert_eq!(listed["agents"][0]["name"], "vpc-1");
    assert_eq!(listed["agents"][0]["queues"], json!(["q_agent"]));
    assert_eq!(listed["agents"][0]["address"], "127.0.0.1");
    // ShowQueue lists it too; the metrics count it and the check it made.
    let queue: Value = get_json(&app, &format!("/v1.0/{project}/queues/q_agent")).await;
    assert_eq!(queue["agents"][0]["name"], "vpc-1", "{queue}");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    let online = format!("dsconn_online_agents{{project=\"{project}\",queue=\"q_agent\"}} 1");
    assert!(metrics.contains(&online), "{online} missing");
    assert!(
        metrics.contains("dsconn_checks_by_place_total{place=\"agent\"}"),
        "checks by place"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_result_counts_only_from_the_lease_holder_and_an_expired_lease_is_taken_over() {
    let app = app().await;
    let project = new_project();
    create_queues(&app, &project, &["q1", "q2"]).await;
    let first = register(&app, &project, "first", &["q1"]).await;
    let second = register(&app, &project, "second", &["q1"]).await;
    let url = format!("127.0.0.1:{}", closed_port());
    let id = app
        .create_ok(&project, &with_queues("leased", &url, &["q1"]))
        .await;

    let held = claim(&app, &project, &first, 5_000, 5_000).await;
    assert_eq!(held.len(), 1, "{held:?}");
    // While the first agent holds it, the second gets nothing, and cannot report it.
    assert!(claim(&app, &project, &second, 500, 5_000).await.is_empty());
    let refused = send_result(&app, &project, &second, &held[0], true).await;
    assert_dli_error(refused, 400, "DLI.0007").await;

    // The first agent goes silent; its lease lapses and the second takes the work over.
    let deadline = Instant::now() + Duration::from_secs(20);
    let taken = loop {
        let taken = claim(&app, &project, &second, 1_000, 5_000).await;
        if !taken.is_empty() {
            break taken;
        }
        assert!(
            Instant::now() < deadline,
            "the expired lease was never taken over"
        );
    };
    assert_eq!(taken[0]["work_id"], held[0]["work_id"]);
    let late = send_result(&app, &project, &first, &held[0], true).await;
    assert_dli_error(late, 400, "DLI.0007").await;
    // A result names the work's own queue, or is refused.
    let mut other_queue = taken[0].clone();
    other_queue["queue"] = json!("q2");
    let refused = send_result(&app, &project, &second, &other_queue, true).await;
    assert_dli_error(refused, 400, "DLI.0007").await;
    assert_eq!(
        send_result(&app, &project, &second, &taken[0], false)
            .await
            .status(),
        200
    );
    let shown = wait_for(&app, &project, &id, |c| c.state != "CREATING").await;
    let q1 = binding(&shown, "q1");
    assert_eq!(q1.status.as_str(), "FAILED");
    assert_eq!(q1.checked_from.as_deref(), Some("agent:second"));
    assert!(q1.err_msg.contains("agent second"), "{}", q1.err_msg);
    assert_eq!(shown.state, "FAILED", "reached from nowhere: {shown:?}");
    assert!(
        shown.message.contains("not reached from the server") && shown.message.contains("q1"),
        "the message names every place: {}",
        shown.message
    );
    app.stop().await;
}

#[tokio::test]
async fn when_its_agents_go_offline_a_queue_falls_back_to_the_server() {
    let app = app().await;
    let project = new_project();
    create_queues(&app, &project, &["q1"]).await;
    let agent = register(&app, &project, "short-lived", &["q1"]).await;
    let target = TcpTarget::start().await;
    // Not heard from for the agent timeout, the agent is offline...
    tokio::time::sleep(AGENT_TIMEOUT + Duration::from_millis(500)).await;
    let listed: Value = get_json(&app, &format!("/dsconn/v1/{project}/agents")).await;
    assert_eq!(listed["agents"], json!([]), "{listed}");
    // ...and the server checks the queue's new binding itself.
    let id = app
        .create_ok(
            &project,
            &with_queues("fallback", &target.address.to_string(), &["q1"]),
        )
        .await;
    let shown = wait_for(&app, &project, &id, |c| {
        binding(c, "q1").status.as_str() != "CREATING"
    })
    .await;
    assert_eq!(binding(&shown, "q1").status.as_str(), "ACTIVE");
    assert_eq!(
        binding(&shown, "q1").checked_from.as_deref(),
        Some("server")
    );
    // An agent that stops gives its registration back at once.
    let path = app.url(&format!("/dsconn/v1/{project}/agents/{agent}"));
    assert_eq!(
        app.delete_request(&path)
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
    let again = app.delete_request(&path).send().await.expect("sent");
    assert_dli_error(again, 400, "DLI.0002").await;
    app.stop().await;
}

#[tokio::test]
async fn with_require_agents_an_agentless_queue_waits_and_says_so() {
    let app = spawn_app_with(|config| {
        config.agent_timeout = AGENT_TIMEOUT;
        config.require_agents = true;
    })
    .await;
    let project = new_project();
    create_queues(&app, &project, &["q1"]).await;
    let url = format!("127.0.0.1:{}", closed_port());
    let id = app
        .create_ok(&project, &with_queues("waits", &url, &["q1"]))
        .await;
    // Both ends: the binding says it waits, and the server's own check is recorded (its
    // failure is the connection's message), so the connection waits for q1 alone.
    let shown = wait_for(&app, &project, &id, |c| {
        binding(c, "q1").err_msg.contains("waiting for an agent") && !c.message.is_empty()
    })
    .await;
    assert_eq!(
        binding(&shown, "q1").err_msg,
        "waiting for an agent of queue q1"
    );
    assert!(
        shown.message.contains("refused"),
        "the server's failure is kept: {}",
        shown.message
    );
    assert_eq!(binding(&shown, "q1").status.as_str(), "CREATING");
    assert_eq!(
        shown.state, "CREATING",
        "the server's own check failed; q1 waits"
    );
    // A connection that waits for its queues can still be deleted.
    assert_eq!(app.delete(&project, &id).await.status(), 200);
    app.stop().await;
}

/// Creates a queue connection test; its task id.
async fn start_test(app: &TestApp, project: &str, queue: &str, address: &str) -> i64 {
    let response = post_json(
        app,
        &format!("/v1.0/{project}/queues/{queue}/connection-test"),
        &json!({"address": address}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_success"], true);
    body["task_id"].as_i64().expect("task id")
}

/// Reads a queue connection test until it is no longer CHECKING.
async fn finished_test(app: &TestApp, project: &str, queue: &str, task: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = read_test(app, project, queue, task).await;
        if answer["connectivity"] != "CHECKING" {
            return answer;
        }
        assert!(Instant::now() < deadline, "{answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn read_test(app: &TestApp, project: &str, queue: &str, task: i64) -> Value {
    let response = app
        .get(app.url(&format!(
            "/v1.0/{project}/queues/{queue}/connection-test/{task}"
        )))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[tokio::test]
async fn the_queue_connection_test_runs_where_the_queue_is_checked() {
    let app = app().await;
    let project = new_project();
    create_queues(&app, &project, &["q_server", "q_agent"]).await;
    let target = TcpTarget::start().await;
    let address = target.address.to_string();

    // No agent: the server runs it.
    let task = start_test(&app, &project, "q_server", &address).await;
    let answer = finished_test(&app, &project, "q_server", task).await;
    assert_eq!(answer["connectivity"], "REACHABLE", "{answer}");
    assert_eq!(answer["checked_from"], "server");
    assert_eq!(target.accepted(), 1);

    // An agent's queue: the agent gets it (TCP only), the answer is the agent's.
    let agent = register(&app, &project, "tester", &["q_agent"]).await;
    let task = start_test(&app, &project, "q_agent", &address).await;
    assert_eq!(
        read_test(&app, &project, "q_agent", task).await["connectivity"],
        "CHECKING"
    );
    let work = claim(&app, &project, &agent, 5_000, 10_000).await;
    assert_eq!(work.len(), 1, "{work:?}");
    assert_eq!(work[0]["kind"], "test");
    assert_eq!(work[0]["service"], Value::Null);
    assert_eq!(
        send_result(&app, &project, &agent, &work[0], false)
            .await
            .status(),
        200
    );
    let answer = read_test(&app, &project, "q_agent", task).await;
    assert_eq!(answer["connectivity"], "UNREACHABLE", "{answer}");
    assert_eq!(answer["checked_from"], "agent:tester");
    // The audit trail names the agent as who recorded the result; the server's own
    // result is the system's.
    let results = get_json(
        &app,
        &format!("/dsconn/v1/{project}/events?resource_type=queue_test&action=result&order=asc"),
    )
    .await;
    let actors: Vec<&str> = results["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["actor"].as_str().expect("actor"))
        .collect();
    assert_eq!(actors, ["system", "agent:tester"], "{results}");
    assert_eq!(
        target.accepted(),
        1,
        "the server did not dial for the agent's queue"
    );

    // A task is read through its own queue only.
    let response = app
        .get(app.url(&format!(
            "/v1.0/{project}/queues/q_server/connection-test/{task}"
        )))
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 400, "DLI.0001").await;
    app.stop().await;
}

#[tokio::test]
async fn queue_connection_tests_refuse_unknown_queues_and_addresses_without_a_port() {
    let app = app().await;
    let project = new_project();
    create_queues(&app, &project, &["q1"]).await;
    let path = format!("/v1.0/{project}/queues/nope/connection-test");
    let response = post_json(&app, &path, &json!({"address": "127.0.0.1:80"})).await;
    let message = assert_dli_error(response, 400, "DLI.0002").await;
    assert_eq!(message, "There is no queue named nope");
    let path = format!("/v1.0/{project}/queues/q1/connection-test");
    for address in ["example.com", "", "a:1,b:2", "http://x:1"] {
        let response = post_json(&app, &path, &json!({"address": address})).await;
        assert_dli_error(response, 400, "DLI.0001").await;
    }
    let response = app
        .get(app.url(&format!("/v1.0/{project}/queues/q1/connection-test/12345")))
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 400, "DLI.0001").await;
    app.stop().await;
}

#[tokio::test]
async fn another_projects_credential_reaches_no_agent_and_no_work() {
    let app = app().await;
    let (mine, theirs) = (new_project(), new_project());
    create_queues(&app, &mine, &["q1"]).await;
    create_queues(&app, &theirs, &["q1"]).await;
    let agent = register(&app, &mine, "mine", &["q1"]).await;
    let url = format!("127.0.0.1:{}", closed_port());
    app.create_ok(&mine, &with_queues("private", &url, &["q1"]))
        .await;
    let token = dsconn::issuing::create_token(
        &app.store,
        dsconn::domain::ProjectScope::Projects(vec![theirs.clone()]),
        Duration::from_secs(600),
    )
    .await
    .expect("token")
    .token
    .expose()
    .to_owned();
    let as_them = |method: reqwest::Method, path: String| {
        app.client
            .request(method, app.url(&path))
            .header("X-Auth-Token", &token)
    };
    // Their credential on my project's paths: 403 for every agent operation.
    for (method, path) in [
        (reqwest::Method::POST, format!("/dsconn/v1/{mine}/agents")),
        (reqwest::Method::GET, format!("/dsconn/v1/{mine}/agents")),
        (
            reqwest::Method::POST,
            format!("/dsconn/v1/{mine}/agents/{agent}/claim"),
        ),
        (
            reqwest::Method::POST,
            format!("/dsconn/v1/{mine}/agents/{agent}/results"),
        ),
        (
            reqwest::Method::POST,
            format!("/dsconn/v1/{mine}/agents/{agent}/heartbeat"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/dsconn/v1/{mine}/agents/{agent}"),
        ),
    ] {
        let response = as_them(method.clone(), path.clone())
            .json(&json!({"name": "x", "version": "1", "queues": ["q1"]}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 403, "{method} {path}");
    }
    // My agent's id under their project names no agent there, and claims nothing.
    let response = as_them(
        reqwest::Method::POST,
        format!("/dsconn/v1/{theirs}/agents/{agent}/claim"),
    )
    .json(&json!({"wait_ms": 0}))
    .send()
    .await
    .expect("sent");
    assert_dli_error(response, 400, "DLI.0002").await;
    // Their own agent of their q1 never sees my q1's work.
    let response = as_them(reqwest::Method::POST, format!("/dsconn/v1/{theirs}/agents"))
        .json(&json!({"name": "theirs", "version": "1", "queues": ["q1"]}))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("json");
    let their_agent = body["agent_id"].as_str().expect("agent id").to_owned();
    let response = as_them(
        reqwest::Method::POST,
        format!("/dsconn/v1/{theirs}/agents/{their_agent}/claim"),
    )
    .json(&json!({"wait_ms": 300}))
    .send()
    .await
    .expect("sent");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["work"], json!([]), "{body}");
    // And my agent still has it.
    assert_eq!(claim(&app, &mine, &agent, 1_000, 10_000).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn registering_refuses_unknown_queues_and_bad_names() {
    let app = app().await;
    let project = new_project();
    create_queues(&app, &project, &["q1"]).await;
    let path = format!("/dsconn/v1/{project}/agents");
    let response = post_json(
        &app,
        &path,
        &json!({"name": "a", "version": "1", "queues": ["q1", "missing"]}),
    )
    .await;
    let message = assert_dli_error(response, 400, "DLI.0002").await;
    assert_eq!(message, "There is no queue named missing");
    for body in [
        json!({"name": "has space", "version": "1", "queues": ["q1"]}),
        json!({"name": "a", "version": "1", "queues": []}),
        json!({"name": "a", "version": "", "queues": ["q1"]}),
        json!({"name": "a", "version": "1", "queues": ["bad name!"]}),
    ] {
        let response = post_json(&app, &path, &body).await;
        assert_dli_error(response, 400, "DLI.0001").await;
    }
    let response = post_json(
        &app,
        &path,
        &json!({"name": "a", "version": "1", "queues": ["default"]}),
    )
    .await;
    assert_dli_error(response, 400, "DLI.0007").await;
    let listed: Value = get_json(&app, &path).await;
    assert_eq!(
        listed["agents"],
        json!([]),
        "nothing was registered: {listed}"
    );
    app.stop().await;
}

#[tokio::test]
async fn in_simulation_a_queue_connection_test_obeys_the_simulation_rules() {
    let app = spawn_app_with(|config| {
        config.probe.probe_mode = dsconn::probe::ProbeMode::Simulate;
        config.probe.simulate_duration = Duration::from_millis(100);
        config.probe.simulate_rules = vec![
            "*.broken.example=fail:CONNECTION_REFUSED:simulated refusal"
                .parse()
                .expect("rule"),
        ];
    })
    .await;
    let project = new_project();
    create_queues(&app, &project, &["q1"]).await;
    for (address, expected) in [
        ("db.broken.example:3306", "UNREACHABLE"),
        ("db.fine.example:3306", "REACHABLE"),
    ] {
        let task = start_test(&app, &project, "q1", address).await;
        let answer = finished_test(&app, &project, "q1", task).await;
        assert_eq!(answer["connectivity"], expected, "{address}: {answer}");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// Issue 24: agents' names, permanent errors, agent-supplied text, stopping with agents.
// ---------------------------------------------------------------------------------------

/// Text as an attacker-controlled agent (or server) might send it: ANSI escapes, a C1
/// CSI, a right-to-left override, an isolate, newlines, NUL, BEL and HTML.
const HOSTILE: &str = "\u{1b}[31mred\u{1b}[0m\r\nnext\u{9b}2J\u{202E}gpj.exe\u{2066}x\u{0}\u{7}<script>alert(1)</script>";

/// Whether a character must never be stored, answered or printed as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Asserts one stored or answered text holds no unsafe character.
fn assert_clean(what: &str, text: &str) {
    assert!(!text.chars().any(unsafe_char), "{what} holds {text:?}");
}

/// The online agents' (name, queues).
async fn listed_names(app: &TestApp, path: &str) -> Vec<(Value, Value)> {
    let listed = get_json(app, path).await;
    listed["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|agent| (agent["name"].clone(), agent["queues"].clone()))
        .collect()
}

#[tokio::test]
async fn an_online_agents_name_is_not_taken_over_by_an_agent_of_other_queues() {
    let app = app().await;
    let project = new_project();
    create_queues(&app, &project, &["q_a", "q_b"]).await;
    let path = format!("/dsconn/v1/{project}/agents");
    let first = register(&app, &project, "shared-host", &["q_a"]).await;

    // Another agent of that name serving another queue: refused, the first untouched.
    let response = post_json(
        &app,
        &path,
        &json!({"name": "shared-host", "version": "test", "queues": ["q_b"]}),
    )
    .await;
    let message = assert_dli_error(response, 400, "DLI.0006").await;
    assert!(
        message.contains("shared-host") && message.contains("--name"),
        "{message}"
    );
    assert_eq!(
        listed_names(&app, &path).await,
        [(json!("shared-host"), json!(["q_a"]))]
    );
    let heartbeat = post_json(&app, &format!("{path}/{first}/heartbeat"), &Value::Null).await;
    assert_eq!(heartbeat.status(), 200, "the first registration lives on");

    // A restart of the first (same name, same queues) replaces it.
    let restarted = register(&app, &project, "shared-host", &["q_a"]).await;
    assert_ne!(restarted, first);
    let heartbeat = post_json(&app, &format!("{path}/{first}/heartbeat"), &Value::Null).await;
    assert_dli_error(heartbeat, 400, "DLI.0002").await;

    // Once that one is gone, the name is free for other queues.
    let response = app
        .delete_request(app.url(&format!("{path}/{restarted}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    register(&app, &project, "shared-host", &["q_b"]).await;
    assert_eq!(
        listed_names(&app, &path).await,
        [(json!("shared-host"), json!(["q_b"]))]
    );
    app.stop().await;
}

#[tokio::test]
async fn an_agents_words_are_stored_and_answered_without_control_or_bidi_characters() {
    let app = app().await;
    let project = new_project();
    create_queues(&app, &project, &["q_words"]).await;
    let agent = register(&app, &project, "words", &["q_words"]).await;
    let results = format!("/dsconn/v1/{project}/agents/{agent}/results");
    let long = format!("{HOSTILE}{}", "y".repeat(5_000));
    let hostile_report = |url: &str| {
        json!({"checks": [{
            "endpoint": format!("{url}{HOSTILE}"),
            "address": url,
            "reachable": false,
            "reason": "CONNECTION_REFUSED",
            "detail": long,
            "latency_ms": 1
        }]})
    };

    // A queue connection test and a binding, each failed with hostile words.
    let task = start_test(&app, &project, "q_words", "127.0.0.1:9").await;
    let created = post_json(
        &app,
        &format!("/v2.0/{project}/datasource-connection"),
        &with_queues("words", "127.0.0.1:9", &["q_words"]),
    )
    .await;
    let created: Value = created.json().await.expect("json");
    let id = created["connection_id"].as_str().expect("id").to_owned();
    let mut work = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while work.len() < 2 {
        work.extend(claim(&app, &project, &agent, 1_000, 60_000).await);
        assert!(Instant::now() < deadline, "claimed only {work:?}");
    }
    for item in &work {
        let url = item["url"].as_str().expect("url");
        let response = post_json(
            &app,
            &results,
            &json!({"work_id": item["work_id"], "queue": item["queue"],
                    "report": hostile_report(url), "elapsed_ms": 5}),
        )
        .await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }
    let answer = finished_test(&app, &project, "q_words", task).await;
    let detail = answer["detail"].as_str().expect("detail");
    assert_clean("the test's detail", detail);
    assert!(detail.contains("<script>"), "markup stays text: {detail}");
    assert!(detail.chars().count() < 1_000, "bounded: {detail}");
    let shown = wait_for(&app, &project, &id, |shown| {
        binding(shown, "q_words").status.as_str() != "CREATING"
    })
    .await;
    let err_msg = &binding(&shown, "q_words").err_msg;
    assert_clean("the binding's err_msg", err_msg);
    assert!(err_msg.chars().count() < 1_000, "bounded: {err_msg}");
    assert_clean("the connection's message", &shown.message);

    // An enhanced connection's set-up refused with hostile words.
    let created = post_json(
        &app,
        &format!("/v2.0/{project}/datasource/enhanced-connections"),
        &json!({"name": "words_setup", "dest_vpc_id": "v", "dest_network_id": "n",
                "queues": ["q_words"]}),
    )
    .await;
    let created: Value = created.json().await.expect("json");
    let enhanced_id = created["connection_id"].as_str().expect("id").to_owned();
    let setup = loop {
        let response = post_json(
            &app,
            &format!("/dsconn/v1/{project}/agents/{agent}/claim"),
            &json!({"max": 8, "wait_ms": 1_000, "lease_ms": 60_000, "setups": true}),
        )
        .await;
        let body: Value = response.json().await.expect("json");
        if let Some(setup) = body["work"].as_array().and_then(|work| work.first()) {
            break setup.clone();
        }
        assert!(Instant::now() < deadline, "no set-up claimed");
    };
    let response = post_json(
        &app,
        &results,
        &json!({"work_id": setup["work_id"], "queue": setup["queue"], "setup_error": long}),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let shown = get_json(
        &app,
        &format!("/v2.0/{project}/datasource/enhanced-connections/{enhanced_id}"),
    )
    .await;
    let err_msg = shown["available_queue_info"][0]["err_msg"]
        .as_str()
        .expect("err_msg");
    assert_clean("the set-up's err_msg", err_msg);
    assert!(
        err_msg.contains("red") && err_msg.chars().count() < 1_000,
        "{err_msg}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_cli_prints_no_control_or_bidi_characters_whatever_the_server_sends() {
    use crate::cli::{dsconn, run, stderr, stdout};
    // A server (or anything at the endpoint) whose every answer is hostile text: a
    // queue test's creation and its answer both read from this one body.
    let hostile = serde_json::to_string(&json!({
        "is_success": true, "message": HOSTILE, "task_id": 1,
        "connectivity": format!("UNREACHABLE{HOSTILE}"), "address": HOSTILE,
        "detail": HOSTILE, "checked_from": HOSTILE
    }))
    .expect("json");
    let refusal = serde_json::to_string(&json!({
        "error_code": "DLI.0001", "error_msg": HOSTILE, "is_success": false, "message": HOSTILE
    }))
    .expect("json");
    let home = tempfile::tempdir().expect("temp dir");
    for (status, body) in [(200, hostile), (400, refusal)] {
        let target =
            crate::helpers::HttpTarget::start(status, Box::leak(body.into_boxed_str())).await;
        for output_format in ["table", "json"] {
            let mut command = dsconn(home.path());
            command
                .args(["queue", "test", "q1", "127.0.0.1:9", "--timeout", "5s"])
                .args(["--endpoint", &format!("http://{}", target.address)])
                .args(["--token", "t", "--project", "p", "--output", output_format]);
            let output = run(command).await;
            assert!(!output.status.success());
            for (stream, text) in [("stdout", stdout(&output)), ("stderr", stderr(&output))] {
                assert!(
                    !text.chars().any(|c| c != '\n' && unsafe_char(c)),
                    "{status} {output_format} {stream}: {text:?}"
                );
            }
            assert!(
                stdout(&output).contains("red") || stderr(&output).contains("red"),
                "the words are shown, neutralised: {output:?}"
            );
        }
    }
}

/// A real `dsconn serve` on loopback with a short agent timeout and request timeout
/// (so heartbeats come every second and claims wait at most a second), the queues
/// declared, and a token for it.
struct AgentServer {
    process: crate::helpers::ServerProcess,
    data: tempfile::TempDir,
    config_home: tempfile::TempDir,
    token: String,
    project: String,
    client: reqwest::Client,
}

impl AgentServer {
    fn start(extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let token = crate::helpers::cli_token(data.path());
        let process = Self::serve(data.path(), extra);
        Self {
            process,
            config_home: tempfile::tempdir().expect("temp dir"),
            client: crate::helpers::token_client(&token)
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            token,
            project: new_project(),
            data,
        }
    }

    fn serve(data_dir: &std::path::Path, extra: &[&str]) -> crate::helpers::ServerProcess {
        let mut args: Vec<&std::ffi::OsStr> = vec!["--data-dir".as_ref(), data_dir.as_os_str()];
        args.extend(["--queue", "q_one", "--queue", "q_two"].map(std::ffi::OsStr::new));
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        crate::helpers::ServerProcess::start(&args)
    }

    fn agent(&self, name: Option<&str>, queues: &[&str]) -> crate::helpers::agent::AgentProcess {
        crate::helpers::agent::AgentProcess::start(
            std::process::Command::new(env!("CARGO_BIN_EXE_dsconn")),
            &crate::helpers::agent::AgentSpec {
                endpoint: format!("http://{}", self.process.address),
                project: &self.project,
                token: &self.token,
                name,
                queues,
                config_home: self.config_home.path(),
                extra_args: &[],
            },
        )
    }

    /// The online agents: (name, queues), by name.
    async fn online(&self) -> Vec<(String, Vec<String>)> {
        let url = format!(
            "http://{}/dsconn/v1/{}/agents",
            self.process.address, self.project
        );
        let listed: Value = self
            .client
            .get(url)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        let mut online: Vec<(String, Vec<String>)> = listed["agents"]
            .as_array()
            .unwrap_or_else(|| panic!("{listed}"))
            .iter()
            .map(|agent| {
                let queues = agent["queues"]
                    .as_array()
                    .expect("queues")
                    .iter()
                    .map(|queue| queue.as_str().expect("name").to_owned())
                    .collect();
                (agent["name"].as_str().expect("name").to_owned(), queues)
            })
            .collect();
        online.sort();
        online
    }

    /// Waits until `count` agents are online.
    async fn wait_for_online(&self, count: usize) -> Vec<(String, Vec<String>)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let online = self.online().await;
            if online.len() == count {
                return online;
            }
            assert!(Instant::now() < deadline, "online: {online:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn two_agents_on_one_host_for_two_queues_both_stay_listed_under_their_default_names() {
    // Heartbeats every second (a third of the agent timeout); claims wait at most a
    // second (half the request timeout): the window below sees several of each, where
    // the issue needed 60 s at the defaults.
    let server = AgentServer::start(&["--agent-timeout", "3s", "--request-timeout", "2s"]);
    let one = server.agent(None, &["q_one"]);
    let two = server.agent(None, &["q_two"]);
    let online = server.wait_for_online(2).await;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    let prefix: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    for (name, _) in &online {
        assert!(name.starts_with(&prefix), "{name} names the host {prefix}");
    }
    assert_ne!(online[0].0, online[1].0, "{online:?}");

    // Both stay listed, each with its queue, through heartbeats and claims.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(6) {
        let now = server.online().await;
        assert_eq!(now, online, "after {:?}", watched.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for agent in [&one, &two] {
        let log = agent.log();
        let registered = log
            .iter()
            .filter(|line| line.contains("registered"))
            .count();
        assert_eq!(registered, 1, "{}", log.join("\n"));
        assert!(
            !log.iter()
                .any(|line| line.contains("registering again") || line.contains("WARN")),
            "{}",
            log.join("\n")
        );
    }
}

// Multi-threaded: the loopback HTTP targets answer while the test waits on the agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_exits_non_zero_at_once_for_what_waiting_cannot_mend() {
    let server = AgentServer::start(&[]);
    let exits_with = |mut agent: crate::helpers::agent::AgentProcess, why: &str| {
        let started = Instant::now();
        let status = agent.exited_within(Duration::from_secs(10));
        let log = agent.log();
        let status = status
            .unwrap_or_else(|| panic!("still running after 10 s ({why}):\n{}", log.join("\n")));
        assert_eq!(status.code(), Some(1), "{why}: {}", log.join("\n"));
        let last = log.last().cloned().unwrap_or_default();
        assert!(
            last.starts_with("dsconn: ") && last.contains(why),
            "{why}: the last line says why: {}",
            log.join("\n")
        );
        eprintln!("exited after {:?}: {last}", started.elapsed());
    };

    exits_with(
        server.agent(Some("a"), &["q_one", "q_unknown"]),
        "There is no queue named q_unknown",
    );
    let wrong_token = crate::helpers::agent::AgentProcess::start(
        std::process::Command::new(env!("CARGO_BIN_EXE_dsconn")),
        &crate::helpers::agent::AgentSpec {
            endpoint: format!("http://{}", server.process.address),
            project: &server.project,
            token: "not-a-token",
            name: None,
            queues: &["q_one"],
            config_home: server.config_home.path(),
            extra_args: &[],
        },
    );
    exits_with(wrong_token, "refused the credential");

    // Not a dsconn at all (404): nothing to wait for.
    let not_dsconn = crate::helpers::HttpTarget::start(404, r#"{"error":"no such path"}"#).await;
    let agent_at = |target: &crate::helpers::HttpTarget| {
        crate::helpers::agent::AgentProcess::start(
            std::process::Command::new(env!("CARGO_BIN_EXE_dsconn")),
            &crate::helpers::agent::AgentSpec {
                endpoint: format!("http://{}", target.address),
                project: &server.project,
                token: &server.token,
                name: None,
                queues: &["q_one"],
                config_home: server.config_home.path(),
                extra_args: &[],
            },
        )
    };
    exits_with(agent_at(&not_dsconn), "does not serve the agent API");

    // A server answering 503 may come back: the agent keeps trying until stopped.
    let unavailable =
        crate::helpers::HttpTarget::start(503, r#"{"error_code":"DLI.0999","error_msg":"x"}"#)
            .await;
    let mut patient = agent_at(&unavailable);
    patient.wait_for_lines("registering failed", 2);
    assert!(patient.exited_within(Duration::ZERO).is_none());
    let status = patient.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_server_with_agents_attached_stops_at_once_and_restarts_on_its_data_dir() {
    // The default request timeout: an agent's claim waits 15 s for work.
    let mut server = AgentServer::start(&[]);
    let _agent = server.agent(Some("attached"), &["q_one"]);
    server.wait_for_online(1).await;
    // Its first claim follows the registration at once; let it reach the server.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid =
        nix::unistd::Pid::from_raw(i32::try_from(server.process.child.id()).expect("pid fits"));
    let signalled = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM sent");
    let status = loop {
        if let Some(status) = server.process.child.try_wait().expect("waited for") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = signalled.elapsed();
    eprintln!("a server with an agent's claim in flight stopped in {took:?}");
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(1),
        "stopping took {took:?} with a claim in flight"
    );
    // Started again on the same data dir at once: not "in use".
    server.process = AgentServer::serve(server.data.path(), &[]);
    let response = server
        .client
        .get(format!("http://{}/readyz", server.process.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}
