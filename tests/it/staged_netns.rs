//! A credentialed check from another network (issue 26): PostgreSQL with a SCRAM user
//! runs inside a network namespace the test makes (reachable from there only), and real
//! agents inside check it. Over TLS (`serve --tls-cert`) the agent gets the server's copy
//! of the auth info; an agent with `--auth-info NAME=FILE` uses its own; an agent that
//! reaches the server over plain HTTP to another host takes no credentials and says why;
//! the same test from the server fails at `connect`. The password appears in no log line
//! and no answer.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::agent::{AgentProcess, AgentSpec};
use crate::helpers::netns::VethNamespace;
use crate::helpers::project_api::{ProjectApi, says, stage};
use crate::helpers::{ServerProcess, cli_token, new_project, token_client};
use crate::pg_cluster::PgCluster;
use crate::serve_tls::Certificates;

const PASSWORD: &str = "Scram-pw-51c2e0";
const DEADLINE: Duration = Duration::from_secs(30);

/// A `dsconn serve` on the host's veth address, and a client of one project.
struct Server {
    _process: ServerProcess,
    api: ProjectApi,
    token: String,
    _data: tempfile::TempDir,
}

impl Server {
    /// Plain HTTP, or TLS with `certificates`, on `namespace`'s host address.
    fn start(namespace: &VethNamespace, certificates: Option<&Certificates>) -> Self {
        let data = tempfile::tempdir().expect("data dir");
        let token = cli_token(data.path());
        let mut serve = Command::new(env!("CARGO_BIN_EXE_dsconn"));
        serve
            .arg("serve")
            .args(["--listen", &format!("{}:0", namespace.host_ip)])
            .args(["--allow-cidr", "127.0.0.0/8", "--probe-mode", "full"])
            .args(["--check-timeout", "2s", "--agent-timeout", "5s"])
            .args(["--queue", "q_tls", "--queue", "q_own", "--queue", "q_plain"])
            .args(["--queue", "q_none"])
            .arg("--data-dir")
            .arg(data.path());
        let mut client = token_client(&token).timeout(Duration::from_secs(10));
        if let Some(certificates) = certificates {
            serve
                .arg("--tls-cert")
                .arg(certificates.path("server.pem"))
                .arg("--tls-key")
                .arg(certificates.path("server.key"));
            let pem = std::fs::read(certificates.ca()).expect("ca.pem");
            client = client
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA"));
        }
        let process = ServerProcess::start_command(serve);
        let scheme = if certificates.is_some() {
            "https"
        } else {
            "http"
        };
        Self {
            api: ProjectApi {
                base: format!("{scheme}://{}", process.address),
                client: client.build().expect("client"),
                project: new_project(),
            },
            _process: process,
            token,
            _data: data,
        }
    }

    async fn auth_info(&self, name: &str, password: &str) {
        self.api.auth_info(name, "app", password).await;
    }

    async fn online(&self, name: &str) {
        let started = Instant::now();
        loop {
            let listed = self
                .api
                .ok(
                    reqwest::Method::GET,
                    &format!("/dsconn/v1/{}/agents", self.api.project),
                    None,
                )
                .await;
            if listed.to_string().contains(&format!("\"name\":\"{name}\"")) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{name} never online: {listed}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn queue_test(&self, queue: &str, body: &Value) -> Value {
        let answer = self.api.queue_test(queue, body).await;
        assert!(!answer.to_string().contains(PASSWORD), "{answer}");
        answer
    }

    /// A real agent inside `namespace` for `queue`, with `extra` flags.
    fn agent_inside(
        &self,
        namespace: &VethNamespace,
        queue: &'static str,
        home: &std::path::Path,
        extra: &[&str],
    ) -> AgentProcess {
        let mut args = vec!["--probe-mode", "full"];
        args.extend_from_slice(extra);
        let spec = AgentSpec {
            endpoint: self.api.base.clone(),
            project: &self.api.project,
            token: &self.token,
            name: Some(queue),
            queues: &[queue],
            config_home: home,
            extra_args: &args,
        };
        AgentProcess::start(namespace.command(env!("CARGO_BIN_EXE_dsconn")), &spec)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_in_another_network_logs_in_where_the_server_cannot_reach() {
    let Some(namespace) = VethNamespace::create() else {
        return;
    };
    let Some(postgres) = PgCluster::start_in_namespace(&namespace.name) else {
        return;
    };
    postgres.psql(
        "postgres",
        &format!("CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'"),
    );
    postgres.psql("postgres", "CREATE DATABASE shop");
    postgres.psql("shop", "CREATE TABLE orders (id int)");
    let destination = format!("127.0.0.1:{}", postgres.port);
    let host_ip = namespace.host_ip.to_string();
    let certificates = Certificates::for_names(&[host_ip.as_str()]);
    let tls = Server::start(&namespace, Some(&certificates));
    let plain = Server::start(&namespace, None);
    for server in [&tls, &plain] {
        server.auth_info("shop_app", PASSWORD).await;
        // The server's copy is wrong; the agent of q_own holds the right one.
        server.auth_info("shop_own", "wrong-password").await;
    }
    let home = tempfile::tempdir().expect("config home");
    let own_file = home.path().join("shop_own.json");
    std::fs::write(
        &own_file,
        json!({"user_name": "app", "password": PASSWORD}).to_string(),
    )
    .expect("auth info file");
    let ca = certificates.ca().display().to_string();
    let own_flag = format!("shop_own={}", own_file.display());
    let mut agents = vec![
        tls.agent_inside(&namespace, "q_tls", home.path(), &["--ca-cert", &ca]),
        tls.agent_inside(
            &namespace,
            "q_own",
            home.path(),
            &["--ca-cert", &ca, "--auth-info", &own_flag],
        ),
        plain.agent_inside(&namespace, "q_plain", home.path(), &[]),
    ];
    tls.online("q_tls").await;
    tls.online("q_own").await;
    plain.online("q_plain").await;
    let body = |auth_info: &str| {
        json!({"address": destination, "service": "DWS", "auth_info_name": auth_info,
               "database": "shop",
               "privileges": [{"privilege": "SELECT", "table": "orders"}]})
    };

    // Over TLS: the server's copy; logged in, queried, the missing privilege named.
    let answer = tls.queue_test("q_tls", &body("shop_app")).await;
    assert_eq!(answer["checked_from"], "agent:q_tls", "{answer}");
    assert_eq!(stage(&answer, "login")["verdict"], "PASSED", "{answer}");
    assert!(
        says(stage(&answer, "login"), "the server's copy"),
        "{answer}"
    );
    assert_eq!(stage(&answer, "query")["verdict"], "PASSED", "{answer}");
    let privileges = stage(&answer, "privileges");
    assert_eq!(privileges["verdict"], "FAILED", "{answer}");
    assert!(says(privileges, "SELECT on public.orders"), "{answer}");

    // The agent's own copy wins over the server's (wrong) one.
    let answer = tls.queue_test("q_own", &body("shop_own")).await;
    assert_eq!(stage(&answer, "login")["verdict"], "PASSED", "{answer}");
    assert!(
        says(stage(&answer, "login"), "the agent's own copy"),
        "{answer}"
    );

    // Plain HTTP to another host: no credentials travel; the agent says why.
    let answer = plain.queue_test("q_plain", &body("shop_app")).await;
    assert_eq!(stage(&answer, "connect")["verdict"], "PASSED", "{answer}");
    let login = stage(&answer, "login");
    assert_eq!(
        (&login["verdict"], &login["reason"]),
        (&json!("SKIPPED"), &json!("CREDENTIALS_WITHHELD")),
        "{answer}"
    );
    assert!(says(login, "TLS"), "{answer}");
    assert!(
        agents[2]
            .log()
            .iter()
            .any(|line| line.contains("credentials are sent only over TLS or loopback")),
        "the plain agent says why at start-up"
    );

    // An inline password comes only over TLS or from loopback: this client reaches the
    // plain server at its veth address.
    let inline = json!({"address": destination, "service": "DWS", "database": "shop",
                        "auth_info": {"user_name": "app", "password": PASSWORD}});
    let refused = plain
        .api
        .client
        .post(format!(
            "{}/v1.0/{}/queues/q_plain/connection-test",
            plain.api.base, plain.api.project
        ))
        .json(&inline)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 400);
    let refusal = refused.text().await.expect("body");
    assert!(
        refusal.contains("only over TLS or from loopback"),
        "{refusal}"
    );
    assert!(!refusal.contains(PASSWORD), "{refusal}");
    let answer = tls.queue_test("q_tls", &inline).await;
    assert_eq!(answer["verified"], true, "over TLS it is taken: {answer}");

    // From the server (a queue without an agent): the namespace's loopback is not its own.
    let answer = tls.queue_test("q_none", &body("shop_app")).await;
    assert_eq!(answer["checked_from"], "server", "{answer}");
    assert_eq!(stage(&answer, "connect")["verdict"], "FAILED", "{answer}");
    assert_eq!(stage(&answer, "login")["verdict"], "SKIPPED", "{answer}");

    // One login per test that logged in (three), none where none was sent or reached.
    let authorized = postgres
        .log()
        .matches("connection authorized: user=app")
        .count();
    assert_eq!(authorized, 3, "{}", postgres.log());
    for mut agent in agents.drain(..) {
        agent.terminate(DEADLINE);
        for line in agent.log() {
            assert!(
                !line.contains(PASSWORD),
                "an agent logged the password: {line}"
            );
        }
    }
}
