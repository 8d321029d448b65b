//! Several dsconn processes on one PostgreSQL: every check runs exactly once, a dead
//! replica's work is taken over, and a database outage loses nothing acknowledged.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use dsconn::api::connections::types::ListConnectionsResponse;
use serde_json::Value;

use crate::helpers::services::fresh_postgres_database;
use crate::helpers::{
    self, HangingTarget, ServerProcess, TcpTarget, create_body, new_project, token_client,
};
use crate::pg_cluster::PgCluster;

/// A `dsconn serve` process on PostgreSQL, with its own scratch data dir.
struct Replica {
    server: ServerProcess,
    _work: tempfile::TempDir,
}

impl Replica {
    fn start(database_url: &str, secret_key: &Path, extra: &[&str]) -> Self {
        let work = tempfile::tempdir().expect("temp dir");
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--probe-mode".as_ref(),
            "tcp".as_ref(),
            "--database-url".as_ref(),
            database_url.as_ref(),
            "--secret-key-file".as_ref(),
            secret_key.as_os_str(),
            "--data-dir".as_ref(),
            work.path().as_os_str(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        Self {
            server: ServerProcess::start(&args),
            _work: work,
        }
    }

    fn collection(&self, project: &str) -> String {
        self.server.collection(project)
    }
}

/// An all-projects token issued on the shared database with the CLI.
fn issue_token(database_url: &str, secret_key: &Path) -> String {
    helpers::issue_token(&[
        "--database-url".as_ref(),
        database_url.as_ref(),
        "--secret-key-file".as_ref(),
        secret_key.as_os_str(),
    ])
}

fn client(token: &str) -> reqwest::Client {
    token_client(token)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn list(
    client: &reqwest::Client,
    replica: &Replica,
    project: &str,
) -> ListConnectionsResponse {
    client
        .get(replica.collection(project))
        .send()
        .await
        .expect("list sent")
        .json()
        .await
        .expect("list body")
}

/// Waits until no connection of the project is CREATING.
async fn all_settled(
    client: &reqwest::Client,
    replica: &Replica,
    project: &str,
    deadline: Duration,
) -> ListConnectionsResponse {
    let until = Instant::now() + deadline;
    loop {
        let listed = list(client, replica, project).await;
        if listed.connections.iter().all(|c| c.state != "CREATING") {
            return listed;
        }
        assert!(
            Instant::now() < until,
            "connections still CREATING after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_replicas_check_every_connection_exactly_once() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let keys = tempfile::tempdir().expect("temp dir");
    let secret_key = keys.path().join("secret.key");
    let token = issue_token(database.url(), &secret_key);
    // 100 concurrent creates per replica, all from 127.0.0.1: more than the default
    // per-client connection cap.
    let many_connections = ["--max-connections-per-client", "1024"];
    let first = Replica::start(database.url(), &secret_key, &many_connections);
    let second = Replica::start(database.url(), &secret_key, &many_connections);
    let target = TcpTarget::start().await;
    let client = client(&token);
    let project = new_project();

    let creates = (0..200).map(|index| {
        let replica = if index % 2 == 0 { &first } else { &second };
        let body = create_body(&format!("c{index}"), "RDS", &target.address.to_string());
        let client = &client;
        let url = replica.collection(&project);
        async move {
            let response = client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("create sent");
            assert_eq!(response.status(), 201);
        }
    });
    futures::future::join_all(creates).await;

    let listed = all_settled(&client, &first, &project, Duration::from_secs(60)).await;
    assert_eq!(listed.count, 200);
    assert!(listed.connections.iter().all(|c| c.state == "ACTIVE"));
    // Each check opens exactly one TCP connection to the target.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        target.accepted(),
        200,
        "every connection was checked exactly once"
    );
    database.drop_now().await;
}

#[tokio::test]
async fn a_replica_killed_while_holding_leases_has_its_work_finished_by_another() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let keys = tempfile::tempdir().expect("temp dir");
    let secret_key = keys.path().join("secret.key");
    let token = issue_token(database.url(), &secret_key);
    let live = TcpTarget::start().await;
    let hanging = HangingTarget::start();
    let client = client(&token);
    let project = new_project();
    let quick_takeover = ["--check-timeout", "2s", "--lease-grace", "1s"];

    let mut doomed = Replica::start(database.url(), &secret_key, &quick_takeover);
    let url = format!("{},{}", live.address, hanging.address);
    for index in 0..10 {
        let response = client
            .post(doomed.collection(&project))
            .json(&create_body(&format!("c{index}"), "RDS", &url))
            .send()
            .await
            .expect("create sent");
        assert_eq!(response.status(), 201);
    }
    // The doomed replica has claimed the checks (they hang on the silent endpoint).
    tokio::time::sleep(Duration::from_millis(300)).await;
    doomed.server.child.kill().expect("SIGKILL");
    doomed.server.child.wait().expect("reaped");

    let survivor = Replica::start(database.url(), &secret_key, &quick_takeover);
    let listed = all_settled(&client, &survivor, &project, Duration::from_secs(30)).await;
    assert_eq!(listed.count, 10);
    assert!(
        listed.connections.iter().all(|c| c.state == "ACTIVE"),
        "the survivor finished every check: {:?}",
        listed
            .connections
            .iter()
            .map(|c| &c.state)
            .collect::<Vec<_>>()
    );
    database.drop_now().await;
}

/// One create, with its status, body and how long it took.
async fn timed_create(
    client: &reqwest::Client,
    url: String,
    index: usize,
    target: &str,
) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = client
        .post(url)
        .json(&create_body(&format!("c{index}"), "RDS", target))
        .send()
        .await
        .expect("the server itself stays up");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_fast_loses_nothing_acknowledged_and_heals_itself() {
    let Some(cluster) = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .expect("cluster started")
    else {
        return;
    };
    let url = cluster.url();
    let keys = tempfile::tempdir().expect("temp dir");
    let secret_key = keys.path().join("secret.key");
    let token = issue_token(&url, &secret_key);
    let replica = Replica::start(
        &url,
        &secret_key,
        &[
            "--database-acquire-timeout",
            "1s",
            "--check-timeout",
            "1s",
            "--lease-grace",
            "5s",
        ],
    );
    let target = TcpTarget::start().await;
    let client = client(&token);
    let project = new_project();

    let mut acknowledged = HashSet::new();
    let mut failures = 0;
    let mut index = 0;
    let target_address = target.address.to_string();
    for phase in ["before", "during", "after"] {
        if phase == "during" {
            tokio::task::block_in_place(|| cluster.stop_server());
        }
        if phase == "after" {
            tokio::task::block_in_place(|| cluster.start_server());
        }
        let phase_end = Instant::now() + Duration::from_secs(if phase == "after" { 15 } else { 2 });
        let mut recovered = false;
        while Instant::now() < phase_end {
            index += 1;
            let (status, body, elapsed) = timed_create(
                &client,
                replica.collection(&project),
                index,
                &target_address,
            )
            .await;
            match status {
                201 => {
                    acknowledged.insert(body["connection_id"].as_str().expect("id").to_owned());
                    if phase == "after" {
                        recovered = true;
                    }
                }
                500 => {
                    failures += 1;
                    assert_eq!(body["error_code"], "DLI.0999", "{body}");
                    let message = body["error_msg"].as_str().unwrap_or_default();
                    assert!(
                        !message.contains("postgres") && !message.contains("connection refused"),
                        "no detail leaks: {message}"
                    );
                    assert!(
                        elapsed < Duration::from_secs(4),
                        "fails fast, not after {elapsed:?}"
                    );
                }
                other => panic!("unexpected status {other} in phase {phase}: {body}"),
            }
            if phase == "after" && recovered && acknowledged.len() > 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if phase == "after" {
            assert!(recovered, "the service recovered without a restart");
        }
    }
    assert!(failures > 0, "the outage was noticed");
    let listed = all_settled(&client, &replica, &project, Duration::from_secs(30)).await;
    let stored: HashSet<String> = listed
        .connections
        .iter()
        .map(|c| c.connection_id.clone())
        .collect();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
}

/// Polls `GET url` until `done` holds for its JSON (generous deadline; not a timing test).
async fn poll_json(client: &reqwest::Client, url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let answer: Value = client
            .get(url)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < until, "never reached: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post_ok(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    let response = client.post(url).json(body).send().await.expect("sent");
    let status = response.status();
    let answer: Value = response.json().await.expect("json");
    assert!(status.is_success(), "POST {url}: {status} {answer}");
    answer
}

#[tokio::test]
async fn an_agent_of_one_replica_serves_work_created_through_the_other() {
    use crate::helpers::agent::{AgentProcess, AgentSpec};

    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let keys = tempfile::tempdir().expect("temp dir");
    let config_home = tempfile::tempdir().expect("temp dir");
    let secret_key = keys.path().join("secret.key");
    let token = issue_token(database.url(), &secret_key);
    let quick = ["--check-timeout", "1s"];
    let through = Replica::start(database.url(), &secret_key, &quick);
    let agents_side = Replica::start(database.url(), &secret_key, &quick);
    let client = client(&token);
    let project = new_project();
    let base = |replica: &Replica, path: &str| format!("http://{}{path}", replica.server.address);

    // The queue is stored through A; the agent registers with B.
    post_ok(
        &client,
        &base(&through, &format!("/v1.0/{project}/queues")),
        &serde_json::json!({"queue_name": "qa", "cu_count": 16}),
    )
    .await;
    let _agent = AgentProcess::start(
        std::process::Command::new(env!("CARGO_BIN_EXE_dsconn")),
        &AgentSpec {
            endpoint: format!("http://{}", agents_side.server.address),
            project: &project,
            token: &token,
            name: Some("pg-agent"),
            queues: &["qa"],
            config_home: config_home.path(),
            extra_args: &[],
        },
    );
    // A sees B's agent online: registrations live in the shared store.
    poll_json(
        &client,
        &base(&through, &format!("/v1.0/{project}/queues/qa")),
        |queue| queue["agents"][0]["name"] == "pg-agent",
    )
    .await;

    // A binding created through A is claimed through B and checked by the agent.
    let target = TcpTarget::start().await;
    let mut body = create_body("across", "RDS", &target.address.to_string());
    body["queues"] = serde_json::json!(["qa"]);
    let created = post_ok(&client, &through.collection(&project), &body).await;
    let id = created["connection_id"].as_str().expect("id").to_owned();
    let shown = poll_json(
        &client,
        &format!("{}/{id}", through.collection(&project)),
        |shown| shown["available_queue_info"][0]["status"] != "CREATING",
    )
    .await;
    let binding = &shown["available_queue_info"][0];
    assert_eq!(binding["name"], "qa", "{shown}");
    assert_eq!(binding["status"], "ACTIVE", "{shown}");
    assert_eq!(binding["checked_from"], "agent:pg-agent", "{shown}");

    // DLI's queue connection test, created and read through A, answered by the agent.
    let tests = base(
        &through,
        &format!("/v1.0/{project}/queues/qa/connection-test"),
    );
    let created = post_ok(
        &client,
        &tests,
        &serde_json::json!({"address": target.address.to_string()}),
    )
    .await;
    let task = created["task_id"].as_i64().expect("task id");
    let answer = poll_json(&client, &format!("{tests}/{task}"), |answer| {
        answer["connectivity"] != "CHECKING"
    })
    .await;
    assert_eq!(answer["connectivity"], "REACHABLE", "{answer}");
    assert_eq!(answer["checked_from"], "agent:pg-agent", "{answer}");
    database.drop_now().await;
}

/// How long a stream on one replica may take to show another replica's change: the
/// other replica's commit is found by the poll of the newest id (`--event-poll`, 250 ms
/// by default), then read at once (docs/OPERATIONS.md).
const CROSS_REPLICA_DELIVERY: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_stream_on_one_replica_sees_every_replicas_events_in_id_order() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let keys = tempfile::tempdir().expect("temp dir");
    let secret_key = keys.path().join("secret.key");
    let token = issue_token(database.url(), &secret_key);
    let writer = Replica::start(database.url(), &secret_key, &[]);
    let reader = Replica::start(database.url(), &secret_key, &[]);
    let target = TcpTarget::start().await;
    let client = client(&token);
    let project = new_project();
    let stream_url = format!(
        "http://{}/dsconn/v1/{project}/events/stream",
        reader.server.address
    );
    let stream = crate::events::Stream::open_url(&client, &stream_url, &token, None).await;

    let mut made = Vec::new();
    for index in 0..5 {
        // Alternately through each replica: the stream shows both, in id order.
        let through = if index % 2 == 0 { &writer } else { &reader };
        let body = create_body(&format!("c{index}"), "RDS", &target.address.to_string());
        let created = post_ok(&client, &through.collection(&project), &body).await;
        let id = created["connection_id"].as_str().expect("id").to_owned();
        let acknowledged = Instant::now();
        stream
            .wait_until("the other replica's create", |_, events| {
                events
                    .iter()
                    .any(|event| event["resource_id"] == id.as_str())
            })
            .await;
        assert!(
            acknowledged.elapsed() < CROSS_REPLICA_DELIVERY,
            "{:?}",
            acknowledged.elapsed()
        );
        made.push(id);
    }
    all_settled(&client, &writer, &project, Duration::from_secs(30)).await;
    let listed = poll_json(
        &client,
        &format!(
            "http://{}/dsconn/v1/{project}/events?order=asc&limit=1000",
            writer.server.address
        ),
        |answer| answer["count"].as_u64().unwrap_or(0) >= 10,
    )
    .await;
    let listed = listed["events"].as_array().expect("events").clone();
    stream
        .wait_until("every event", |_, events| events.len() >= listed.len())
        .await;
    // Every event once, in id order: the list's.
    assert_eq!(
        crate::events::ids(&stream.events()),
        crate::events::ids(&listed)
    );
    database.drop_now().await;
}
