//! What clients send cannot forge log fields or log lines.

use std::ffi::OsStr;

use crate::helpers::{LoggedServer, new_project};

#[tokio::test]
async fn client_values_cannot_forge_log_fields_or_lines() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = LoggedServer::start(
        "debug",
        &[
            OsStr::new("--auth"),
            OsStr::new("none"),
            OsStr::new("--data-dir"),
            data.path().as_os_str(),
        ],
    );
    let client = reqwest::Client::new();

    let forged = client
        .get(server.url("/healthz"))
        .header("x-request-id", "x request.id=forged")
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 200);
    let echoed = forged.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&echoed).is_ok(),
        "an unsafe id is replaced by a generated one: {echoed:?}"
    );

    let kept = client
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-42_a.b")
        .send()
        .await
        .expect("sent");
    assert_eq!(kept.headers()["x-request-id"], "trace-42_a.b");
    let too_long = "a".repeat(65);
    let replaced = client
        .get(server.url("/healthz"))
        .header("x-request-id", &too_long)
        .send()
        .await
        .expect("sent");
    assert_ne!(replaced.headers()["x-request-id"], too_long.as_str());

    // A connection id whose %0a decodes to a newline, logged at debug when refused.
    let project = new_project();
    let refused = client
        .get(server.url(&format!(
            "/v2.0/{project}/datasource-connection/abc%0aFORGED%20level=ERROR"
        )))
        .header("x-request-id", "last-request")
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 400);
    server.wait_for_line("request refused");
    server.wait_for_line("last-request");

    let log = server.log();
    assert!(
        log.iter().any(|line| line.contains(&echoed)),
        "the generated id is logged: {log:#?}"
    );
    assert!(
        !log.iter().any(|line| line.contains("request.id=forged")),
        "a forged field: {log:#?}"
    );
    assert!(
        !log.iter().any(|line| line.starts_with("FORGED")),
        "a forged line: {log:#?}"
    );
}

#[tokio::test]
async fn the_start_up_log_says_when_signatures_for_any_host_are_accepted() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = LoggedServer::start("info", &[OsStr::new("--data-dir"), data.path().as_os_str()]);
    server.wait_for_line("--allowed-hosts is not set");
}

/// `dsconn serve` with `args`, its stderr lines sent to a channel as they come.
fn serve_with_log(args: &[&OsStr]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsconn"))
        .args(["serve", "--listen", "127.0.0.1:0", "--auth", "none"])
        .args(args)
        .env_remove("DSCONN_LOG")
        .env_remove("RUST_LOG")
        .env_remove("DSCONN_LOG_FORMAT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dsconn starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

fn next_line(lines: &std::sync::mpsc::Receiver<String>) -> String {
    lines
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("a log line")
}

#[tokio::test]
async fn the_human_log_has_a_line_per_event_worth_attention_and_none_per_request() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut child, lines) = serve_with_log(&[
        OsStr::new("--log-format"),
        OsStr::new("human"),
        OsStr::new("--agent-timeout"),
        OsStr::new("2s"),
        OsStr::new("--data-dir"),
        data.path().as_os_str(),
    ]);
    let mut seen = Vec::new();
    let serving = loop {
        let line = next_line(&lines);
        seen.push(line.clone());
        if line.contains("dsconn is serving") {
            break line;
        }
    };
    assert!(
        seen.iter()
            .any(|line| line.contains("WARN") && line.contains("authentication is off")),
        "warnings are shown: {seen:?}"
    );
    let listen = serving
        .split_whitespace()
        .find_map(|field| field.strip_prefix("listen="))
        .expect("listen=")
        .to_owned();
    assert!(
        serving.contains(&format!("console=http://{listen}/console/")),
        "the start-up line names the console: {serving}"
    );
    assert!(!serving.contains("request"), "{serving}");

    // GET / leads to the console; requests add no lines, an agent joining and leaving do.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let root = client
        .get(format!("http://{listen}/"))
        .send()
        .await
        .expect("sent");
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/console/");
    let project = new_project();
    for _ in 0..5 {
        let listed = client
            .get(format!(
                "http://{listen}/v2.0/{project}/datasource-connection"
            ))
            .send()
            .await
            .expect("sent");
        assert_eq!(listed.status(), 200);
    }
    let queue = client
        .post(format!("http://{listen}/v1.0/{project}/queues"))
        .json(&serde_json::json!({"queue_name": "etl", "cu_count": 16}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        queue.status(),
        200,
        "CreateQueue answers 200, as Terraform's provider expects"
    );
    let registered: serde_json::Value = client
        .post(format!("http://{listen}/dsconn/v1/{project}/agents"))
        .json(&serde_json::json!({"name": "etl-1", "version": "0", "queues": ["etl"]}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let agent = registered["agent_id"].as_str().expect("agent id");
    let joined = next_line(&lines);
    assert!(
        joined.contains("INFO agent registered") && joined.contains("agent.name=etl-1"),
        "the next line is the agent's, no request's: {joined}"
    );
    let left = client
        .delete(format!(
            "http://{listen}/dsconn/v1/{project}/agents/{agent}"
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(left.status(), 200);
    let line = next_line(&lines);
    assert!(line.contains("agent deregistered"), "{line}");

    // An agent that goes quiet is logged once, when it crosses --agent-timeout.
    let quiet = client
        .post(format!("http://{listen}/dsconn/v1/{project}/agents"))
        .json(&serde_json::json!({"name": "etl-2", "version": "0", "queues": ["etl"]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(quiet.status(), 201);
    let joined = next_line(&lines);
    assert!(joined.contains("agent.name=etl-2"), "{joined}");
    let offline = next_line(&lines);
    assert!(
        offline.contains("agent offline") && offline.contains("agent.name=etl-2"),
        "{offline}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM sent");
    let mut rest = Vec::new();
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(30)) {
        rest.push(line);
    }
    child.wait().expect("reaped");
    assert!(
        rest.iter().any(|line| line.contains("dsconn stopped")),
        "{rest:?}"
    );
    assert!(
        rest.iter()
            .all(|line| !line.contains("finished processing request")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn the_default_log_format_is_json_when_stderr_is_not_a_terminal() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut child, lines) = serve_with_log(&[OsStr::new("--data-dir"), data.path().as_os_str()]);
    let first = next_line(&lines);
    let _ = child.kill();
    let _ = child.wait();
    let parsed: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|error| panic!("not JSON ({error}): {first}"));
    assert!(parsed["level"].is_string(), "{parsed}");
}
