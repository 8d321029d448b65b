//! The real binary, stopped by signals: SIGKILL mid-check loses nothing and leaves nothing
//! stuck in CREATING; SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dsconn::api::types::ConnectionResponse;

use crate::helpers::{HangingTarget, TcpTarget, create_body, new_project};

/// A `dsconn serve` child process and the address it reported.
struct ServerProcess {
    child: Child,
    address: SocketAddr,
}

impl ServerProcess {
    fn start(data_dir: &Path, check_timeout: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dsconn"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--check-timeout",
                check_timeout,
                "--probe-mode",
                "tcp",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env("DSCONN_LOG_FORMAT", "json")
            .env("DSCONN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dsconn starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        // Reads the log until the server says where it listens, then keeps draining it
        // so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut waiting = Some(sender);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if waiting.is_some() {
                    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                    if let Some(listen) = parsed["listen"].as_str()
                        && let Some(sender) = waiting.take()
                    {
                        let _ = sender.send(listen.to_owned());
                    }
                }
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("{line}");
                }
            }
        });
        let listen = receiver
            .recv_timeout(Duration::from_secs(20))
            .expect("dsconn reported its address");
        Self {
            child,
            address: listen.parse().expect("listen address"),
        }
    }

    fn collection(&self, project: &str) -> String {
        format!(
            "http://{}/v2.0/{project}/datasource-connection",
            self.address
        )
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issues an all-projects token with the CLI, as an operator would.
fn cli_token(data_dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_dsconn"))
        .args([
            "token",
            "create",
            "--all-projects",
            "--ttl",
            "1h",
            "--output",
            "json",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("dsconn token create runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let issued: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    issued["token"].as_str().expect("token").to_owned()
}

/// An HTTP client that sends the token on every request.
fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-auth-token",
        reqwest::header::HeaderValue::from_str(token).expect("token is a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

async fn show(client: &reqwest::Client, url: &str) -> ConnectionResponse {
    let response = client.get(url).send().await.expect("show sent");
    assert_eq!(response.status(), 200);
    response.json().await.expect("show body")
}

#[tokio::test]
async fn sigkill_while_checks_run_loses_no_acknowledged_create_and_leaves_none_creating() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let live = TcpTarget::start().await;
    let hanging = HangingTarget::start();
    let project = new_project();
    let client = client_with_token(&cli_token(data_dir.path()));

    let mut server = ServerProcess::start(data_dir.path(), "3s");
    let mut acknowledged = Vec::new();
    for index in 0..30 {
        // Even: a live and a silent endpoint (ACTIVE once the silent one times out);
        // odd: only the silent one (FAILED). Both stay CREATING for 3 s.
        let url = if index % 2 == 0 {
            format!("{},{}", live.address, hanging.address)
        } else {
            hanging.address.to_string()
        };
        let response = client
            .post(server.collection(&project))
            .json(&create_body(&format!("c{index}"), "RDS", &url))
            .send()
            .await
            .expect("create sent");
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.expect("create body");
        let id = body["connection_id"].as_str().expect("id").to_owned();
        acknowledged.push((id, index % 2 == 0));
    }
    let before: dsconn::api::types::ListConnectionsResponse = client
        .get(server.collection(&project))
        .send()
        .await
        .expect("list sent")
        .json()
        .await
        .expect("list body");
    let creating = before
        .connections
        .iter()
        .filter(|c| c.state == "CREATING")
        .count();
    assert!(creating > 0, "the kill must land while checks are running");

    server.child.kill().expect("SIGKILL sent");
    server.child.wait().expect("child reaped");
    drop(server);

    let server = ServerProcess::start(data_dir.path(), "3s");
    let deadline = Instant::now() + Duration::from_secs(30);
    for (id, expect_active) in &acknowledged {
        let url = format!("{}/{id}", server.collection(&project));
        let connection = loop {
            let connection = show(&client, &url).await;
            if connection.state != "CREATING" {
                break connection;
            }
            assert!(
                Instant::now() < deadline,
                "{id} stuck in CREATING after restart"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let expected = if *expect_active { "ACTIVE" } else { "FAILED" };
        assert_eq!(connection.state, expected, "{connection:?}");
    }
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut server = ServerProcess::start(data_dir.path(), "1s");
    let pid = Pid::from_raw(i32::try_from(server.child.id()).expect("pid fits"));
    kill(pid, Signal::SIGTERM).expect("SIGTERM sent");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "dsconn did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    // The data dir is free again: a new server can open it.
    let restarted = ServerProcess::start(data_dir.path(), "1s");
    drop(restarted);
}
