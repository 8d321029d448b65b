//! Where checks may connect, end to end: a server reachable beyond loopback keeps checks
//! off its own host, and IPv6 forms that embed an IPv4 address meet the IPv4 rules. The
//! embedded forms are not loopback, so they are only ever aimed at from inside a network
//! namespace that has nothing but loopback up: a wrong policy cannot send a packet away.

use std::net::SocketAddr;
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::{
    ServerProcess, TcpTarget, cli_token, create_body, new_project, spawn_app_with,
};

/// An app listening on every address (port 0), driven over 127.0.0.1 only.
async fn app_on_every_address(allow: &[&str]) -> crate::helpers::TestApp {
    let allow: Vec<ipnet::IpNet> = allow.iter().map(|r| r.parse().expect("range")).collect();
    let mut app = spawn_app_with(|config| {
        config.listen = SocketAddr::from(([0, 0, 0, 0], 0));
        config.probe.allow_cidrs = allow;
    })
    .await;
    assert!(app.address.ip().is_unspecified(), "{}", app.address);
    app.address = SocketAddr::from(([127, 0, 0, 1], app.address.port()));
    app
}

#[tokio::test]
async fn a_server_listening_beyond_loopback_refuses_to_check_loopback() {
    let app = app_on_every_address(&[]).await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("own-host", "RDS", &target.address.to_string()),
        )
        .await;
    let connection = app.settled(&project, &id).await;
    assert_eq!(connection.state, "FAILED");
    assert_eq!(
        connection.failure_reason.as_deref(),
        Some("DENIED_BY_POLICY")
    );
    assert!(
        connection.message.contains("own host") && connection.message.contains("--allow-cidr"),
        "the refusal says how to allow it: {}",
        connection.message
    );
    assert_eq!(target.accepted(), 0, "no connection reached the target");
    app.stop().await;
}

#[tokio::test]
async fn allow_cidr_lets_a_server_beyond_loopback_check_loopback() {
    let app = app_on_every_address(&["127.0.0.0/8"]).await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("allowed", "RDS", &target.address.to_string()),
        )
        .await;
    let connection = app.settled(&project, &id).await;
    assert_eq!(connection.state, "ACTIVE", "{}", connection.message);
    assert_eq!(target.accepted(), 1);
    app.stop().await;
}

/// A network namespace with only loopback up, deleted when dropped (also on a panic).
struct LoopbackOnlyNamespace {
    name: String,
}

impl LoopbackOnlyNamespace {
    /// None when `ip netns` cannot be used here and the test is not required to run
    /// (neither `CI` nor `DSCONN_REQUIRE_NETNS` set).
    fn create() -> Option<Self> {
        let name = format!(
            "dsconn-test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let required =
            std::env::var_os("CI").is_some() || std::env::var_os("DSCONN_REQUIRE_NETNS").is_some();
        let added = Command::new("ip").args(["netns", "add", &name]).output();
        match added {
            Ok(output) if output.status.success() => {}
            outcome => {
                let why = match outcome {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                    Err(error) => error.to_string(),
                };
                assert!(
                    !required,
                    "`ip netns add` failed and CI or DSCONN_REQUIRE_NETNS is set: {why}"
                );
                eprintln!("SKIPPED: `ip netns add` is not available here ({why})");
                return None;
            }
        }
        let namespace = Self { name };
        let lo_up = Command::new("ip")
            .args(["-n", &namespace.name, "link", "set", "lo", "up"])
            .output()
            .expect("ip runs");
        assert!(
            lo_up.status.success(),
            "{}",
            String::from_utf8_lossy(&lo_up.stderr)
        );
        Some(namespace)
    }

    /// `program` run inside the namespace.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Interfaces that are up, besides loopback: there must be none.
    fn links_up_besides_loopback(&self) -> Vec<String> {
        let output = Command::new("ip")
            .args(["-n", &self.name, "-o", "link", "show", "up"])
            .output()
            .expect("ip runs");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.contains(": lo:"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for LoopbackOnlyNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .output();
    }
}

#[test]
fn ipv6_forms_of_denied_ipv4_addresses_are_refused_before_any_packet() {
    let Some(namespace) = LoopbackOnlyNamespace::create() else {
        return;
    };
    assert_eq!(namespace.links_up_besides_loopback(), Vec::<String>::new());
    let data = tempfile::tempdir().expect("temp dir");
    let config_home = tempfile::tempdir().expect("temp dir");
    let token = cli_token(data.path());
    let mut serve = namespace.command(env!("CARGO_BIN_EXE_dsconn"));
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--probe-mode", "tcp"])
        .args(["--check-timeout", "2s", "--deny-cidr", "127.0.0.0/8"])
        .arg("--data-dir")
        .arg(data.path());
    let server = ServerProcess::start_command(serve);
    let port = server.address.port();
    let project = new_project();

    // Loopback (denied here by --deny-cidr) and 169.254.169.254 (denied by default).
    for (n, url) in [
        format!("[64:ff9b::7f00:1]:{port}"),
        format!("[2002:7f00:1::]:{port}"),
        format!("[::127.0.0.1]:{port}"),
        "[64:ff9b::a9fe:a9fe]:80".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("embedded-{n}");
        let mut create = namespace.command(env!("CARGO_BIN_EXE_dsconn"));
        for name in ["DSCONN_PROFILE", "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"] {
            create.env_remove(name);
        }
        create
            .env("XDG_CONFIG_HOME", config_home.path())
            .env("DSCONN_ENDPOINT", format!("http://{}", server.address))
            .env("DSCONN_TOKEN", &token)
            .env("HUAWEICLOUD_SDK_PROJECT_ID", &project)
            .args(["create", "--name", &name, "--service", "RDS", "--url", &url])
            .args(["--security-group-id", "sg-1", "--network-id", "net-1"])
            .args(["--wait", "--timeout", "15s", "--output", "json"]);
        let output: Output = create.output().expect("dsconn create runs");
        let shown: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            panic!(
                "{url}: no JSON from create: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert_eq!(shown["state"], "FAILED", "{url}: {shown}");
        assert_eq!(
            shown["failure_reason"], "DENIED_BY_POLICY",
            "{url}: {shown}"
        );
        assert_eq!(
            shown["endpoints"][0]["reason"], "DENIED_BY_POLICY",
            "{url}: {shown}"
        );
        // A FAILED connection exits 1, as the CLI documents.
        assert_eq!(output.status.code(), Some(1), "{url}");
    }
    drop(server);
}
