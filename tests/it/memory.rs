//! Issue 24, items 1 and 2: what one request may cost the real server process, whatever
//! the project holds. One enhanced connection with 20,000 hosts bound to 100 queues:
//! its create (and the 100 set-ups the server's worker runs) stays within 64 MiB of
//! memory above idle; an E2 list answers without its hosts (E3 whole); then an agent
//! serving the 100 queues claims 64 queue tests at once: the answer is at most 4 MiB (the
//! queues' hosts files by version, not inline) and the server grows by at most 32 MiB.
//! Memory is the server's peak resident set (`VmHWM`, reset through `clear_refs`).
//! Every address here is loopback.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ServerProcess, cli_token, new_project, token_client};

const QUEUES: usize = 100;
const HOSTS: usize = 20_000;
const MIB: u64 = 1024;

/// A `/proc/<pid>/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

/// Starts a new peak (`VmHWM`) from the present resident set.
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");
}

fn queue_names() -> Vec<String> {
    (0..QUEUES).map(|n| format!("mq{n}")).collect()
}

fn start(data: &Path) -> ServerProcess {
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_dsconn"));
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(["--probe-mode", "tcp", "--check-timeout", "1s"])
        .args(["--max-body-bytes", "4194304"])
        .env("DSCONN_QUEUES", queue_names().join(","));
    ServerProcess::start_command(serve)
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Vec<u8>) {
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("json")
}

#[tokio::test]
async fn large_hosts_files_cost_a_bounded_answer_and_bounded_memory() {
    let data = tempfile::tempdir().expect("data dir");
    let token = cli_token(data.path());
    let server = start(data.path());
    let pid = server.child.id();
    let client = token_client(&token).build().expect("client");
    let project = new_project();
    let base = format!("http://{}", server.address);
    let enhanced = format!("{base}/v2.0/{project}/datasource/enhanced-connections");

    // Idle: a few requests served, so the first-request allocations are behind us.
    for _ in 0..3 {
        let (status, _) = send(client.get(&enhanced)).await;
        assert_eq!(status, 200);
    }
    let idle = status_kib(pid, "VmRSS:");

    // Item 2: one create of 20,000 hosts bound to 100 queues, set up by the server.
    let hosts: Vec<Value> = (0..HOSTS)
        .map(|n| {
            let ip = format!("127.0.{}.{}", n / 250, n % 250 + 1);
            json!({"name": format!("host-{n}.example"), "ip": ip})
        })
        .collect();
    let body = json!({
        "name": "large", "dest_vpc_id": "vpc-1", "dest_network_id": "subnet-1",
        "queues": queue_names(), "hosts": hosts,
    });
    reset_peak(pid);
    let started = Instant::now();
    let (status, created) = send(client.post(&enhanced).json(&body)).await;
    eprintln!("create answered in {:?}", started.elapsed());
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&created));
    let id = json_of(&created)["connection_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Polled with E2, which lists the connection without its hosts (cheap).
    loop {
        let (status, listed) = send(client.get(&enhanced)).await;
        assert_eq!(status, 200);
        let listed = json_of(&listed);
        let bindings = listed["connections"][0]["available_queue_info"]
            .as_array()
            .expect("bindings");
        if bindings.iter().all(|binding| binding["status"] == "ACTIVE") {
            break;
        }
        assert!(
            bindings.iter().all(|binding| binding["status"] != "FAILED"),
            "{bindings:?}"
        );
        assert!(Instant::now() < deadline, "never all set up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let create_peak = status_kib(pid, "VmHWM:");
    eprintln!("all set up after {:?}", started.elapsed());
    eprintln!(
        "create of {HOSTS} hosts x {QUEUES} queues and its set-ups: idle {} MiB, peak {} MiB",
        idle / MIB,
        create_peak / MIB
    );
    assert!(
        create_peak <= idle + 64 * MIB,
        "the create and its set-ups took the server from {idle} KiB to {create_peak} KiB"
    );
    // E3 shows the hosts whole; E2 lists the connection without them, saying how many.
    let (status, shown) = send(client.get(format!("{enhanced}/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        json_of(&shown)["hosts"].as_array().expect("hosts").len(),
        HOSTS
    );
    let (status, listed) = send(client.get(&enhanced)).await;
    assert_eq!(status, 200);
    assert!(
        listed.len() < 64 * 1024,
        "E2 answered {} bytes",
        listed.len()
    );
    let listed = json_of(&listed);
    let item = &listed["connections"][0];
    assert_eq!(item["hosts"], json!([]), "{item}");
    assert_eq!(item["hosts_omitted"], HOSTS, "{item}");

    // Item 1: an agent serving the 100 queues claims 64 queue tests at once.
    let (status, registered) = send(
        client
            .post(format!("{base}/dsconn/v1/{project}/agents"))
            .json(&json!({"name": "memory-agent", "version": "test", "queues": queue_names()})),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&registered));
    let agent_id = json_of(&registered)["agent_id"]
        .as_str()
        .expect("agent id")
        .to_owned();
    for queue in queue_names().iter().take(64) {
        let (status, body) = send(
            client
                .post(format!(
                    "{base}/v1.0/{project}/queues/{queue}/connection-test"
                ))
                .json(&json!({"address": "host-1.example:9"})),
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let agent = format!("{base}/dsconn/v1/{project}/agents/{agent_id}");
    let before = status_kib(pid, "VmRSS:");
    reset_peak(pid);
    let (status, answer) = send(
        client
            .post(format!("{agent}/claim"))
            .json(&json!({"max": 64, "wait_ms": 0, "setups": true, "hosts_by_version": true})),
    )
    .await;
    let claim_peak = status_kib(pid, "VmHWM:");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    eprintln!(
        "claim of 64 tests of queues with {HOSTS}-entry hosts files: {} bytes; \
         RSS before {} MiB, peak {} MiB",
        answer.len(),
        before / MIB,
        claim_peak / MIB
    );
    assert!(
        answer.len() <= 4 << 20,
        "the claim answered {} bytes",
        answer.len()
    );
    assert!(
        claim_peak <= before + 32 * MIB,
        "one claim took the server from {before} KiB to {claim_peak} KiB"
    );
    let answer = json_of(&answer);
    assert_eq!(
        answer["work"].as_array().expect("work").len(),
        64,
        "{answer}"
    );
    let versions = answer["hosts_versions"].as_object().expect("versions");
    assert_eq!(versions.len(), 64, "{answer}");
    let version = versions["mq0"].as_str().expect("version").to_owned();
    assert!(
        versions.values().all(|v| *v == version.as_str()),
        "one file, one version"
    );

    // The file itself, fetched once by version: whole, and within any answer's bound.
    let (status, file) = send(client.get(format!("{agent}/hosts-files/mq0"))).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&file));
    assert!(file.len() <= 16 << 20, "{} bytes", file.len());
    let file = json_of(&file);
    assert_eq!(file["version"], version.as_str());
    assert_eq!(file["hosts"].as_array().expect("hosts").len(), HOSTS);
    assert_eq!(
        file["hosts"][1],
        json!({"name": "host-1.example", "ip": "127.0.0.2"})
    );

    // A change of the hosts is a new version.
    let (status, body) = send(
        client
            .put(format!("{enhanced}/{id}"))
            .json(&json!({"hosts": [{"name": "only", "ip": "127.0.0.9"}]})),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (_, file) = send(client.get(format!("{agent}/hosts-files/mq0"))).await;
    let file = json_of(&file);
    assert_ne!(file["version"], version.as_str());
    assert_eq!(file["hosts"], json!([{"name": "only", "ip": "127.0.0.9"}]));
    server.kill();
}
