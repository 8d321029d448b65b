//! The real `dsconn agent` in another network, end to end: a namespace joined to the
//! host by a veth pair, the destination on the namespace's own loopback (the host's
//! 127.0.0.1 refuses that port), a real `dsconn serve` on the host's veth address, and
//! one real agent inside and one on the host. A queue is checked where its agent runs,
//! an agent-less queue by the server; a SIGKILLed agent goes offline and its queue falls
//! back to the server; a SIGTERMed one deregisters at once. Traffic goes only to
//! loopback and to the namespace's veth pair.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use dsconn::api::connections::types::{ConnectionResponse, QueueInfo};
use serde_json::{Value, json};

use crate::helpers::agent::{AgentProcess, AgentSpec};
use crate::helpers::netns::VethNamespace;
use crate::helpers::{ServerProcess, cli_token, create_body, new_project, token_client};

/// The server's `--agent-timeout`: short, so a killed agent is offline soon.
const AGENT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long any step may take before the test gives up (generous: not a timing test).
const DEADLINE: Duration = Duration::from_secs(30);
/// New bindings timed for the note (printed, not asserted).
const TIMED_BINDINGS: usize = 100;

/// The server and a client for it, speaking to its veth address.
struct Server {
    process: ServerProcess,
    client: reqwest::Client,
    project: String,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.process.address)
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.expect("sent");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("sent");
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert!(status.is_success(), "POST {path} {body}: {status} {answer}");
        answer
    }

    fn connections(&self) -> String {
        format!("/v2.0/{}/datasource-connection", self.project)
    }

    /// The names of the project's online agents.
    async fn online_agents(&self) -> Vec<String> {
        let listed = self
            .get(&format!("/dsconn/v1/{}/agents", self.project))
            .await;
        listed["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .map(|agent| agent["name"].as_str().expect("name").to_owned())
            .collect()
    }

    /// Waits until exactly `names` are online; how long that took.
    async fn wait_for_agents(&self, names: &[&str]) -> Duration {
        let started = Instant::now();
        loop {
            let mut online = self.online_agents().await;
            online.sort();
            let mut wanted: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            wanted.sort();
            if online == wanted {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < DEADLINE,
                "online agents {online:?}, wanted {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn show(&self, id: &str) -> ConnectionResponse {
        serde_json::from_value(self.get(&format!("{}/{id}", self.connections())).await)
            .expect("a connection")
    }

    /// Waits until the connection and every binding have left CREATING.
    async fn settled(&self, id: &str) -> ConnectionResponse {
        let started = Instant::now();
        loop {
            let shown = self.show(id).await;
            if shown.state != "CREATING"
                && shown
                    .available_queue_info
                    .iter()
                    .all(|binding| binding.status.as_str() != "CREATING")
            {
                return shown;
            }
            assert!(started.elapsed() < DEADLINE, "never settled: {shown:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs DLI's queue connection test to its answer.
    async fn connection_test(&self, queue: &str, address: &str) -> Value {
        let base = format!("/v1.0/{}/queues/{queue}/connection-test", self.project);
        let created = self.post(&base, &json!({"address": address})).await;
        let task = created["task_id"].as_i64().expect("task id");
        let started = Instant::now();
        loop {
            let answer = self.get(&format!("{base}/{task}")).await;
            if answer["connectivity"] != "CHECKING" {
                return answer;
            }
            assert!(started.elapsed() < DEADLINE, "still checking: {answer}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn binding<'a>(shown: &'a ConnectionResponse, queue: &str) -> &'a QueueInfo {
    shown
        .available_queue_info
        .iter()
        .find(|binding| binding.name == queue)
        .unwrap_or_else(|| panic!("no binding of {queue}: {shown:?}"))
}

/// Asserts a queue connection test's answer and where it ran.
fn assert_tested(answer: &Value, connectivity: &str, checked_from: &str) {
    assert_eq!(answer["connectivity"], connectivity, "{answer}");
    assert_eq!(answer["checked_from"], checked_from, "{answer}");
}

/// The median and the worst of some durations.
fn median_and_worst(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

/// `TIMED_BINDINGS` times: a fresh binding of `queue` on connection `id` (disassociate,
/// then associate), timed from the associate request until the binding is ACTIVE.
async fn time_new_bindings(server: &Server, id: &str, queue: &str) -> Vec<Duration> {
    let path = |action: &str| format!("{}/{id}/{action}", server.connections());
    let mut samples = Vec::with_capacity(TIMED_BINDINGS);
    for _ in 0..TIMED_BINDINGS {
        server
            .post(&path("disassociate-queue"), &json!({"queues": [queue]}))
            .await;
        let shown = server.show(id).await;
        assert!(
            shown.available_queue_info.iter().all(|b| b.name != queue),
            "the old binding is gone before the new one is timed: {shown:?}"
        );
        let started = Instant::now();
        server
            .post(&path("associate-queue"), &json!({"queues": [queue]}))
            .await;
        loop {
            let shown = server.show(id).await;
            let status = binding(&shown, queue).status.as_str();
            assert_ne!(status, "FAILED", "{shown:?}");
            if status == "ACTIVE" {
                samples.push(started.elapsed());
                break;
            }
            assert!(started.elapsed() < DEADLINE, "never ACTIVE: {shown:?}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    samples
}

#[tokio::test]
async fn each_queue_is_checked_from_its_agents_network_and_falls_back_to_the_server() {
    let Some(namespace) = VethNamespace::create() else {
        return;
    };
    let listener = namespace.loopback_listener();
    let destination = format!("127.0.0.1:{}", listener.port);
    // Only the namespace can reach it: the host's own 127.0.0.1 refuses that port.
    let from_host = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, listener.port)),
        Duration::from_secs(1),
    );
    assert!(
        from_host.is_err(),
        "port {} is taken on the host too; rerun",
        listener.port
    );

    let data = tempfile::tempdir().expect("temp dir");
    let config_home = tempfile::tempdir().expect("temp dir");
    let token = cli_token(data.path());
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_dsconn"));
    serve
        .arg("serve")
        .args(["--listen", &format!("{}:0", namespace.host_ip)])
        // Listening beyond loopback, the server refuses its own host unless allowed.
        .args(["--allow-cidr", "127.0.0.0/8", "--probe-mode", "tcp"])
        .args(["--check-timeout", "1s", "--agent-timeout"])
        .arg(format!("{}s", AGENT_TIMEOUT.as_secs()))
        .args([
            "--queue", "q_inside", "--queue", "q_host", "--queue", "q_none",
        ])
        .arg("--data-dir")
        .arg(data.path());
    let server = Server {
        process: ServerProcess::start_command(serve),
        client: token_client(&token)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        project: new_project(),
    };
    let spec = |name: &'static str, queue: &'static [&'static str]| AgentSpec {
        endpoint: format!("http://{}", server.process.address),
        project: &server.project,
        token: &token,
        name: Some(name),
        queues: queue,
        config_home: config_home.path(),
        extra_args: &[],
    };
    let inside_spec = spec("inside", &["q_inside"]);
    let host_spec = spec("host-agent", &["q_host"]);
    let start_inside = || {
        AgentProcess::start(
            namespace.command(env!("CARGO_BIN_EXE_dsconn")),
            &inside_spec,
        )
    };
    let mut inside = start_inside();
    let mut host_agent = AgentProcess::start(
        std::process::Command::new(env!("CARGO_BIN_EXE_dsconn")),
        &host_spec,
    );

    // Both online; the server sees the inside agent from the namespace's address.
    server.wait_for_agents(&["host-agent", "inside"]).await;
    // `ip netns exec` execs the agent: the pid is the agent's own (for its RSS).
    assert_eq!(inside.program(), "dsconn");
    let queue = server
        .get(&format!("/v1.0/{}/queues/q_inside", server.project))
        .await;
    assert_eq!(queue["agents"][0]["name"], "inside", "{queue}");
    assert_eq!(
        queue["agents"][0]["address"],
        namespace.inside_ip.to_string(),
        "{queue}"
    );
    let queue = server
        .get(&format!("/v1.0/{}/queues/q_none", server.project))
        .await;
    assert_eq!(queue["agents"], json!([]), "{queue}");

    // Each binding is checked where its queue is.
    let mut body = create_body("split", "RDS", &destination);
    body["queues"] = json!(["q_inside", "q_host", "q_none"]);
    let created = server.post(&server.connections(), &body).await;
    let id = created["connection_id"].as_str().expect("id").to_owned();
    let shown = server.settled(&id).await;
    assert_eq!(shown.state, "ACTIVE", "reached from q_inside: {shown:?}");
    let q_inside = binding(&shown, "q_inside");
    assert_eq!(q_inside.status.as_str(), "ACTIVE", "{q_inside:?}");
    assert_eq!(q_inside.checked_from.as_deref(), Some("agent:inside"));
    let q_host = binding(&shown, "q_host");
    assert_eq!(q_host.status.as_str(), "FAILED", "{q_host:?}");
    assert_eq!(q_host.checked_from.as_deref(), Some("agent:host-agent"));
    assert!(
        q_host.err_msg.contains("agent host-agent"),
        "the reason names the agent: {}",
        q_host.err_msg
    );
    let q_none = binding(&shown, "q_none");
    assert_eq!(q_none.status.as_str(), "FAILED", "{q_none:?}");
    assert_eq!(q_none.checked_from.as_deref(), Some("server"));
    assert!(
        q_none.err_msg.contains("checked from the server"),
        "the reason names the place: {}",
        q_none.err_msg
    );

    // DLI's queue connection test answers from the same places.
    let answer = server.connection_test("q_inside", &destination).await;
    assert_tested(&answer, "REACHABLE", "agent:inside");
    let answer = server.connection_test("q_host", &destination).await;
    assert_tested(&answer, "UNREACHABLE", "agent:host-agent");
    let answer = server.connection_test("q_none", &destination).await;
    assert_tested(&answer, "UNREACHABLE", "server");

    // An enhanced connection bound to q_inside is set up by the inside agent, and its
    // hosts are what that queue's checks resolve first: a name only the hosts know (the
    // namespace has no route to any DNS server).
    let enhanced = format!("/v2.0/{}/datasource/enhanced-connections", server.project);
    let created = server
        .post(
            &enhanced,
            &json!({"name": "inside_hosts", "dest_vpc_id": "v", "dest_network_id": "n",
                    "queues": ["q_inside"],
                    "hosts": [{"name": "warehouse.inside", "ip": "127.0.0.1"}]}),
        )
        .await;
    let enhanced_id = created["connection_id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + DEADLINE;
    let set_up = loop {
        let shown = server.get(&format!("{enhanced}/{enhanced_id}")).await;
        let binding = shown["available_queue_info"][0].clone();
        if binding["status"] != "CREATING" {
            break binding;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never set up: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(set_up["status"], "ACTIVE", "{set_up}");
    assert_eq!(set_up["checked_from"], "agent:inside", "{set_up}");
    let by_name = format!("warehouse.inside:{}", listener.port);
    let answer = server.connection_test("q_inside", &by_name).await;
    assert_tested(&answer, "REACHABLE", "agent:inside");

    // For the note: how fast an agent checks a new binding, and its idle size.
    let mut timed = create_body("timed", "RDS", &destination);
    timed["queues"] = json!(["q_inside"]);
    let created = server.post(&server.connections(), &timed).await;
    let timed_id = created["connection_id"].as_str().expect("id").to_owned();
    server.settled(&timed_id).await;
    let (median, worst) = median_and_worst(time_new_bindings(&server, &timed_id, "q_inside").await);
    eprintln!(
        "new binding to ACTIVE, checked by the agent, over {TIMED_BINDINGS}: \
         median {median:?}, worst {worst:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = inside.rss_kib().expect("the agent's VmRSS");
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    eprintln!("the inside agent's idle RSS ({profile} build): {rss} KiB");

    // SIGKILL: the agent cannot say goodbye; it goes offline by the agent timeout...
    inside.kill();
    let offline_after = server.wait_for_agents(&["host-agent"]).await;
    eprintln!(
        "a SIGKILLed agent dropped from the list after {offline_after:?} (timeout {AGENT_TIMEOUT:?})"
    );
    // ...and its queue's checks run on the server again.
    let answer = server.connection_test("q_inside", &destination).await;
    assert_tested(&answer, "UNREACHABLE", "server");

    // Started again, it is used again.
    let _inside_again = start_inside();
    server.wait_for_agents(&["host-agent", "inside"]).await;
    let answer = server.connection_test("q_inside", &destination).await;
    assert_tested(&answer, "REACHABLE", "agent:inside");

    // SIGTERM: the agent deregisters before it exits, so it is gone from the list the
    // moment it has stopped, though it was seen within the last heartbeat (a third of
    // the agent timeout) and would otherwise stay online for seconds.
    let status = host_agent.terminate(DEADLINE);
    assert!(status.success(), "a stopped agent exits 0: {status}");
    assert_eq!(server.online_agents().await, ["inside"]);
    assert!(
        host_agent
            .log()
            .iter()
            .any(|line| line.contains("deregistered")),
        "{}",
        host_agent.log().join("\n")
    );
}
