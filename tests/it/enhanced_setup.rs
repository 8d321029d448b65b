//! Where an enhanced connection's bindings are set up, and what their hosts do: a queue
//! without an agent is set up by the server under the server's check policy, a queue
//! with agents by one of them (under the agent's policy), `--require-agents` makes it
//! wait; once ACTIVE, the connection's hosts are what the queue's checks resolve first.
//! Every address a check dials here is loopback; host names never reach DNS.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    DnsServer, TcpTarget, TestApp, create_queues, new_project, post_json, spawn_app_with,
};

const AGENT_TIMEOUT: Duration = Duration::from_secs(2);

fn enhanced(project: &str) -> String {
    format!("/v2.0/{project}/datasource/enhanced-connections")
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app.get(app.url(path)).send().await.expect("sent");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn create_pool(app: &TestApp, project: &str, name: &str) {
    let response = post_json(
        app,
        &format!("/v3/{project}/elastic-resource-pools"),
        &json!({"elastic_resource_pool_name": name, "max_cu": 64, "min_cu": 16}),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// Creates an enhanced connection; its id.
async fn create(app: &TestApp, project: &str, body: Value) -> String {
    let response = post_json(app, &enhanced(project), &body).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body["connection_id"].as_str().expect("id").to_owned()
}

/// The binding of `name` in `list` (`available_queue_info` or `elastic_resource_pools`)
/// once it is no longer CREATING (generous deadline; not a timing test).
async fn settled(app: &TestApp, project: &str, id: &str, list: &str, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = get_json(app, &format!("{}/{id}", enhanced(project))).await;
        let binding = shown[list]
            .as_array()
            .and_then(|bindings| bindings.iter().find(|b| b["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in {list}: {shown}"));
        if binding["status"] != "CREATING" {
            return binding;
        }
        assert!(Instant::now() < deadline, "never set up: {shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs a queue connection test to its end; its `connectivity`.
async fn queue_test(app: &TestApp, project: &str, queue: &str, address: &str) -> Value {
    let path = format!("/v1.0/{project}/queues/{queue}/connection-test");
    let response = post_json(app, &path, &json!({"address": address})).await;
    let body: Value = response.json().await.expect("json");
    let task = body["task_id"].as_i64().unwrap_or_else(|| panic!("{body}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = get_json(app, &format!("{path}/{task}")).await;
        if shown["connectivity"] != "CHECKING" {
            return shown;
        }
        assert!(Instant::now() < deadline, "test never ended: {shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_queue_without_an_agent_is_set_up_by_the_server_and_its_checks_resolve_the_hosts_first() {
    // The name's DNS answer is another loopback address where nothing listens: a check
    // reaches the target only through the connection's hosts.
    let name = "warehouse-db.dsconn.test";
    let elsewhere: [IpAddr; 1] = ["127.0.0.9".parse().expect("ip")];
    let dns = DnsServer::start(&[(name, elsewhere.as_slice())]).await;
    let app = spawn_app_with(|config| {
        config.agent_timeout = AGENT_TIMEOUT;
        config.probe.dns_server = Some(dns.address);
    })
    .await;
    let project = new_project();
    create_queues(&app, &project, &["etl"]).await;
    create_pool(&app, &project, "pool1").await;
    let target = TcpTarget::start().await;
    let port = target.address.port();

    let id = create(
        &app,
        &project,
        json!({"name": "hosts_first", "dest_vpc_id": "vpc-1", "dest_network_id": "subnet-1",
               "queues": ["etl"], "elastic_resource_pools": ["pool1"],
               "hosts": [{"name": name, "ip": "127.0.0.1"}]}),
    )
    .await;
    let queue = settled(&app, &project, &id, "available_queue_info", "etl").await;
    assert_eq!(queue["status"], "ACTIVE", "{queue}");
    assert_eq!(queue["err_msg"], "");
    assert_eq!(queue["checked_from"], "server");
    let pool = settled(&app, &project, &id, "elastic_resource_pools", "pool1").await;
    assert_eq!(pool["status"], "ACTIVE", "{pool}");

    // The queue's test resolves the name from the hosts; the target sees the dial.
    let shown = queue_test(&app, &project, "etl", &format!("{name}:{port}")).await;
    assert_eq!(shown["connectivity"], "REACHABLE", "{shown}");
    assert!(target.accepted() >= 1);

    // A classic connection bound to the queue is checked with the same hosts.
    let classic = crate::helpers::create_body("classic_by_name", "RDS", &format!("{name}:{port}"));
    let mut classic = classic;
    classic["queues"] = json!(["etl"]);
    let classic_id = app.create_ok(&project, &classic).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown: Value = app
            .show_raw(&project, &classic_id)
            .await
            .json()
            .await
            .expect("json");
        let binding = &shown["available_queue_info"][0];
        if binding["status"] != "CREATING" {
            assert_eq!(binding["status"], "ACTIVE", "{shown}");
            break;
        }
        assert!(Instant::now() < deadline, "never checked: {shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Once the connection is deleted, its hosts are no longer the queue's: DNS answers.
    let response = app
        .delete_request(app.url(&format!("{}/{id}", enhanced(&project))))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let shown = queue_test(&app, &project, "etl", &format!("{name}:{port}")).await;
    assert_eq!(shown["connectivity"], "UNREACHABLE", "{shown}");
    app.stop().await;
}

#[tokio::test]
async fn a_host_or_route_the_servers_policy_denies_fails_the_set_up_with_the_reason() {
    let app = spawn_app_with(|config| {
        config.agent_timeout = AGENT_TIMEOUT;
        config.probe.deny_cidrs = vec!["127.0.0.2/32".parse().expect("cidr")];
    })
    .await;
    let project = new_project();
    create_queues(&app, &project, &["etl", "etl2"]).await;
    let id = create(
        &app,
        &project,
        json!({"name": "denied_host", "dest_vpc_id": "v", "dest_network_id": "n",
               "queues": ["etl"], "hosts": [{"name": "db1", "ip": "127.0.0.2"}]}),
    )
    .await;
    let binding = settled(&app, &project, &id, "available_queue_info", "etl").await;
    assert_eq!(binding["status"], "FAILED", "{binding}");
    let message = binding["err_msg"].as_str().expect("text");
    assert!(
        message.contains("the server") && message.contains("db1") && message.contains("127.0.0.2"),
        "{message}"
    );
    assert_eq!(binding["checked_from"], "server");

    // A route the policy wholly denies fails it too.
    let id = create(
        &app,
        &project,
        json!({"name": "denied_route", "dest_vpc_id": "v", "dest_network_id": "n"}),
    )
    .await;
    let response = post_json(
        &app,
        &format!("/v3/{project}/datasource/enhanced-connections/{id}/routes"),
        &json!({"name": "r1", "cidr": "127.0.0.2/32"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = post_json(
        &app,
        &format!("{}/{id}/associate-queue", enhanced(&project)),
        &json!({"queues": ["etl2"]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let binding = settled(&app, &project, &id, "available_queue_info", "etl2").await;
    assert_eq!(binding["status"], "FAILED", "{binding}");
    assert!(
        binding["err_msg"]
            .as_str()
            .expect("text")
            .contains("route 127.0.0.2/32"),
        "{binding}"
    );
    app.stop().await;
}

async fn register(
    app: &TestApp,
    project: &str,
    name: &str,
    queues: &[&str],
    pools: &[&str],
) -> String {
    let response = post_json(
        app,
        &format!("/dsconn/v1/{project}/agents"),
        &json!({"name": name, "version": "test", "queues": queues,
                "elastic_resource_pools": pools}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body["agent_id"].as_str().expect("agent id").to_owned()
}

async fn claim(app: &TestApp, project: &str, agent: &str, setups: bool) -> Vec<Value> {
    claim_answer(app, project, agent, setups).await["work"]
        .as_array()
        .expect("work")
        .clone()
}

async fn claim_answer(app: &TestApp, project: &str, agent: &str, setups: bool) -> Value {
    let response = post_json(
        app,
        &format!("/dsconn/v1/{project}/agents/{agent}/claim"),
        &json!({"max": 8, "wait_ms": 300, "lease_ms": 60_000, "setups": setups}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

async fn report_setup(
    app: &TestApp,
    project: &str,
    agent: &str,
    work: &Value,
    setup_error: Option<&str>,
) -> reqwest::Response {
    post_json(
        app,
        &format!("/dsconn/v1/{project}/agents/{agent}/results"),
        &json!({"work_id": work["work_id"], "queue": work["queue"], "setup_error": setup_error}),
    )
    .await
}

#[tokio::test]
async fn a_queue_with_an_agent_is_set_up_by_the_agent_which_gets_the_hosts_and_routes() {
    let app = spawn_app_with(|config| config.agent_timeout = AGENT_TIMEOUT).await;
    let project = new_project();
    create_queues(&app, &project, &["vpcq", "other"]).await;
    create_pool(&app, &project, "vpcpool").await;
    let agent = register(&app, &project, "in-vpc", &["vpcq"], &["vpcpool"]).await;

    let id = create(
        &app,
        &project,
        json!({"name": "by_agent", "dest_vpc_id": "v", "dest_network_id": "n",
               "queues": ["vpcq", "other"], "elastic_resource_pools": ["vpcpool"],
               "hosts": [{"name": "db1", "ip": "127.0.0.1"}]}),
    )
    .await;
    let response = post_json(
        &app,
        &format!("/v3/{project}/datasource/enhanced-connections/{id}/routes"),
        &json!({"name": "r1", "cidr": "127.0.0.0/8"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    // The agent-less queue is the server's at once.
    let other = settled(&app, &project, &id, "available_queue_info", "other").await;
    assert_eq!(other["checked_from"], "server", "{other}");

    // An agent that does not take set-ups (an older one) gets none; the binding waits.
    assert!(claim(&app, &project, &agent, false).await.is_empty());
    let shown = get_json(&app, &format!("{}/{id}", enhanced(&project))).await;
    let vpcq = shown["available_queue_info"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"] == "vpcq"))
        .expect("bound");
    assert_eq!(vpcq["status"], "CREATING", "{shown}");

    let work = claim(&app, &project, &agent, true).await;
    assert_eq!(work.len(), 2, "{work:?}");
    for item in &work {
        assert_eq!(item["kind"], "setup");
        assert_eq!(
            item["hosts"],
            json!([{"name": "db1", "ip": "127.0.0.1"}]),
            "{item}"
        );
        assert_eq!(item["routes"], json!(["127.0.0.0/8"]), "{item}");
    }
    let queue_work = work
        .iter()
        .find(|w| w["bound_as"] == "queue")
        .expect("queue");
    let pool_work = work.iter().find(|w| w["bound_as"] == "pool").expect("pool");
    assert_eq!(queue_work["queue"], "vpcq");
    assert_eq!(pool_work["queue"], "vpcpool");

    // A result for another queue than the claimed one is refused.
    let mut wrong = queue_work.clone();
    wrong["queue"] = json!("other");
    let response = report_setup(&app, &project, &agent, &wrong, None).await;
    crate::helpers::assert_dli_error(response, 400, "DLI.0007").await;

    let response = report_setup(&app, &project, &agent, queue_work, None).await;
    assert_eq!(response.status(), 200);
    let response = report_setup(
        &app,
        &project,
        &agent,
        pool_work,
        Some("route 127.0.0.0/8 is not routable here"),
    )
    .await;
    assert_eq!(response.status(), 200);
    // A second result for finished work is refused.
    let response = report_setup(&app, &project, &agent, queue_work, None).await;
    crate::helpers::assert_dli_error(response, 400, "DLI.0007").await;

    let vpcq = settled(&app, &project, &id, "available_queue_info", "vpcq").await;
    assert_eq!(vpcq["status"], "ACTIVE", "{vpcq}");
    assert_eq!(vpcq["checked_from"], "agent:in-vpc");
    let pool = settled(&app, &project, &id, "elastic_resource_pools", "vpcpool").await;
    assert_eq!(pool["status"], "FAILED", "{pool}");
    let message = pool["err_msg"].as_str().expect("text");
    assert!(
        message.contains("agent in-vpc") && message.contains("not routable"),
        "{message}"
    );

    // The queue's checks now carry its hosts file to the agent.
    let path = format!("/v1.0/{project}/queues/vpcq/connection-test");
    let response = post_json(&app, &path, &json!({"address": "db1:3306"})).await;
    assert_eq!(response.status(), 200);
    let answer = claim_answer(&app, &project, &agent, true).await;
    let work = answer["work"].as_array().expect("work");
    assert_eq!(work.len(), 1, "{answer}");
    assert_eq!(work[0]["kind"], "test");
    assert_eq!(
        answer["hosts_files"],
        json!({"vpcq": [{"name": "db1", "ip": "127.0.0.1"}]}),
        "{answer}"
    );

    // Binding the failed pool again retries its set-up.
    let response = post_json(
        &app,
        &format!("{}/{id}/associate-queue", enhanced(&project)),
        &json!({"elastic_resource_pools": ["vpcpool"]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let work = claim(&app, &project, &agent, true).await;
    assert_eq!(work.len(), 1, "{work:?}");
    assert_eq!(work[0]["bound_as"], "pool");
    app.stop().await;
}

#[tokio::test]
async fn with_require_agents_a_binding_of_an_agentless_queue_waits_and_says_so() {
    let app = spawn_app_with(|config| {
        config.agent_timeout = AGENT_TIMEOUT;
        config.require_agents = true;
    })
    .await;
    let project = new_project();
    create_queues(&app, &project, &["waits"]).await;
    let id = create(
        &app,
        &project,
        json!({"name": "waiting", "dest_vpc_id": "v", "dest_network_id": "n", "queues": ["waits"]}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = get_json(&app, &format!("{}/{id}", enhanced(&project))).await;
        let binding = &shown["available_queue_info"][0];
        assert_eq!(binding["status"], "CREATING", "{shown}");
        if binding["err_msg"] == "waiting for an agent of queue waits" {
            break;
        }
        assert!(Instant::now() < deadline, "never said it waits: {shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An agent that comes takes it.
    let agent = register(&app, &project, "late", &["waits"], &[]).await;
    let work = claim(&app, &project, &agent, true).await;
    assert_eq!(work.len(), 1, "{work:?}");
    let response = report_setup(&app, &project, &agent, &work[0], None).await;
    assert_eq!(response.status(), 200);
    let binding = settled(&app, &project, &id, "available_queue_info", "waits").await;
    assert_eq!(binding["status"], "ACTIVE");
    assert_eq!(binding["err_msg"], "");
    app.stop().await;
}
