//! A saved connection that names an auth info (issue 26): every check of it from its
//! queues logs in, from the server (a queue without an agent) and from a real agent of
//! the queue; a binding whose login, query or privileges FAILED is FAILED with that
//! reason; a re-check does not repeat a FAILED login until the auth info changes; and
//! the bindings heal when the auth info and the grants are fixed. Against a PostgreSQL
//! of the test's own with SCRAM logins, so that its log counts every login attempt.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::agent::{AgentProcess, AgentSpec};
use crate::helpers::project_api::{ProjectApi, stage};
use crate::helpers::{LoggedServer, cli_token, new_project, token_client};
use crate::pg_cluster::PgCluster;

const PASSWORD: &str = "Conn-pw-5d1e8b";
const WRONG: &str = "not-the-password-either";
const DEADLINE: Duration = Duration::from_secs(45);

/// The connection `id` as shown.
async fn connection(api: &ProjectApi, id: &str) -> Value {
    let path = format!("/v2.0/{}/datasource-connection/{id}", api.project);
    api.ok(reqwest::Method::GET, &path, None).await
}

/// The connection once every binding satisfies `done`, or a panic naming `what`.
async fn until(api: &ProjectApi, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let answer = connection(api, id).await;
        let bindings = answer["available_queue_info"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !bindings.is_empty() && bindings.iter().all(&done) {
            return answer;
        }
        assert!(started.elapsed() < DEADLINE, "never {what}: {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn verdict(binding: &Value, name: &str) -> String {
    stage(binding, name)["verdict"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Failed password logins of `user` in the cluster's log so far.
fn failed_logins(postgres: &PgCluster, user: &str) -> usize {
    postgres
        .log()
        .matches(&format!(
            "password authentication failed for user \"{user}\""
        ))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connections_checks_log_in_from_each_queue_and_never_repeat_a_failed_login() {
    let Some(postgres) = PgCluster::start_with_passwords() else {
        return;
    };
    postgres.psql(
        "postgres",
        &format!("CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'"),
    );
    postgres.psql("postgres", "CREATE DATABASE shop");
    postgres.psql("shop", "CREATE TABLE orders (id int)");
    let data = tempfile::tempdir().expect("data dir");
    let server = LoggedServer::start(
        "info,dsconn=debug",
        &[
            "--data-dir".as_ref(),
            data.path().as_os_str(),
            "--probe-mode".as_ref(),
            "full".as_ref(),
            // Re-checks come quickly, so that one that would repeat a login would show.
            "--recheck-interval".as_ref(),
            "300ms".as_ref(),
        ],
    );
    let token = cli_token(data.path());
    let project = new_project();
    let api = ProjectApi {
        client: token_client(&token).build().expect("client"),
        base: format!("http://{}", server.address),
        project: project.clone(),
    };
    for queue in ["etl", "edge"] {
        api.ok(
            reqwest::Method::POST,
            &format!("/v1.0/{project}/queues"),
            Some(&json!({"queue_name": queue, "cu_count": 16})),
        )
        .await;
    }
    let auth_infos = format!("/v3/{project}/datasource/auth-infos");
    api.ok(
        reqwest::Method::POST,
        &auth_infos,
        Some(
            &json!({"auth_info_name": "shop", "datasource_type": "passwd",
                "user_name": "app", "password": WRONG}),
        ),
    )
    .await;
    // `edge` has an agent of its own; `etl` is checked by the server.
    let config_home = tempfile::tempdir().expect("config home");
    let spec = AgentSpec {
        endpoint: format!("http://{}", server.address),
        project: &project,
        token: &token,
        name: Some("edge"),
        queues: &["edge"],
        config_home: config_home.path(),
        extra_args: &["--probe-mode", "full"],
    };
    let mut agent = AgentProcess::start(Command::new(env!("CARGO_BIN_EXE_dsconn")), &spec);
    agent.wait_for_lines("registered", 1);

    let connections = format!("/v2.0/{project}/datasource-connection");
    let definition = |name: &str, service: &str, auth_info: &str| {
        json!({"name": name, "service": service, "url": format!("127.0.0.1:{}", postgres.port),
               "security_group_id": "sg-1", "network_id": "net-1", "queues": ["etl", "edge"],
               "auth_info_name": auth_info, "database": "shop",
               "privileges": [{"privilege": "SELECT", "table": "orders"}]})
    };
    // Refused, and nothing stored: an unknown auth info, a service dsconn logs in to not.
    for (body, says) in [
        (
            definition("orders", "DWS", "nope"),
            "no auth info named nope",
        ),
        (
            definition("orders", "CloudTable", "shop"),
            "checks no login",
        ),
    ] {
        let (status, answer) = api
            .send(reqwest::Method::POST, &connections, Some(&body))
            .await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error_msg"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{answer}"
        );
    }
    let created = api
        .ok(
            reqwest::Method::POST,
            &connections,
            Some(&definition("orders", "DWS", "shop")),
        )
        .await;
    let id = created["connection_id"].as_str().expect("id").to_owned();

    // The wrong password: each binding's login FAILED, so the binding is FAILED, reached.
    let shown = until(&api, &id, "checked", |binding| {
        binding["status"] != "CREATING"
    })
    .await;
    assert_eq!(shown["auth_info_name"], "shop", "{shown}");
    assert_eq!(shown["database"], "shop", "{shown}");
    for binding in shown["available_queue_info"].as_array().expect("bindings") {
        assert_eq!(binding["status"], "FAILED", "{binding}");
        assert_eq!(binding["connectivity"], "REACHABLE", "{binding}");
        assert_eq!(verdict(binding, "login"), "FAILED", "{binding}");
        assert_eq!(
            stage(binding, "login")["reason"],
            "AUTH_FAILED",
            "{binding}"
        );
        assert!(
            binding["err_msg"]
                .as_str()
                .unwrap_or_default()
                .contains("login failed"),
            "{binding}"
        );
    }
    let from: Vec<&str> = shown["available_queue_info"]
        .as_array()
        .expect("bindings")
        .iter()
        .map(|binding| binding["checked_from"].as_str().unwrap_or_default())
        .collect();
    assert!(
        from.contains(&"server") && from.contains(&"agent:edge"),
        "{shown}"
    );

    // Re-checks come and skip the login: one attempt per binding, however many re-checks.
    let skipped = until(&api, &id, "re-checked without a login", |binding| {
        stage(binding, "login")["reason"] == "LAST_LOGIN_FAILED"
    })
    .await;
    for binding in skipped["available_queue_info"]
        .as_array()
        .expect("bindings")
    {
        assert_eq!(binding["status"], "FAILED", "{binding}");
        assert_eq!(verdict(binding, "login"), "SKIPPED", "{binding}");
        let message = stage(binding, "login")["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains("last login failed at"), "{message}");
        assert!(
            message.contains("update the auth info or test again"),
            "{message}"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(failed_logins(&postgres, "app"), 2, "{}", postgres.log());

    // A test asked for logs in all the same (once).
    let tested = api
        .ok(
            reqwest::Method::POST,
            &format!("{connections}/{id}/test"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(verdict(&tested, "login"), "FAILED", "{tested}");
    assert_eq!(tested["verified"], false, "{tested}");
    // ... and a failed one changes nothing: the re-checks still skip theirs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(failed_logins(&postgres, "app"), 3, "{}", postgres.log());

    // Fixed on the source's side (the user's password is now the auth info's): a test
    // asked for logs in, and the bindings' re-checks log in again at once.
    postgres.psql("postgres", &format!("ALTER ROLE app PASSWORD '{WRONG}'"));
    let tested = api
        .ok(
            reqwest::Method::POST,
            &format!("{connections}/{id}/test"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(verdict(&tested, "login"), "PASSED", "{tested}");
    until(
        &api,
        &id,
        "logged in after the source was fixed",
        |binding| verdict(binding, "login") == "PASSED",
    )
    .await;

    // Changed back on the source's side: one failed login per binding, then skips again.
    postgres.psql("postgres", &format!("ALTER ROLE app PASSWORD '{PASSWORD}'"));
    until(&api, &id, "skipping the login again", |binding| {
        stage(binding, "login")["reason"] == "LAST_LOGIN_FAILED"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(failed_logins(&postgres, "app"), 5, "{}", postgres.log());

    // The right password: the next re-checks log in, query, and name the missing grant.
    api.ok(
        reqwest::Method::PUT,
        &auth_infos,
        Some(&json!({"auth_info_name": "shop", "password": PASSWORD})),
    )
    .await;
    let ungranted = until(&api, &id, "checked with the new password", |binding| {
        verdict(binding, "privileges") == "FAILED"
    })
    .await;
    for binding in ungranted["available_queue_info"]
        .as_array()
        .expect("bindings")
    {
        assert_eq!(binding["status"], "FAILED", "{binding}");
        assert_eq!(verdict(binding, "login"), "PASSED", "{binding}");
        assert_eq!(verdict(binding, "query"), "PASSED", "{binding}");
        let message = stage(binding, "privileges")["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains("orders"), "{message}");
    }

    // The grant: every stage passes and the bindings are ACTIVE again.
    postgres.psql("shop", "GRANT SELECT ON orders TO app");
    let healed = until(&api, &id, "ACTIVE", |binding| binding["status"] == "ACTIVE").await;
    for binding in healed["available_queue_info"].as_array().expect("bindings") {
        let stages = binding["stages"].as_array().expect("stages");
        assert!(
            stages.iter().all(|stage| stage["verdict"] == "PASSED"),
            "{binding}"
        );
        assert_eq!(binding["err_msg"], "", "{binding}");
    }

    // Unnamed, the checks are reachability only again; the bindings stay ACTIVE.
    api.ok(
        reqwest::Method::PUT,
        &format!("{connections}/{id}/auth-info"),
        Some(&json!({"auth_info_name": null})),
    )
    .await;
    let plain = connection(&api, &id).await;
    assert!(plain.get("auth_info_name").is_none(), "{plain}");
    for binding in plain["available_queue_info"].as_array().expect("bindings") {
        assert_eq!(binding["status"], "ACTIVE", "{binding}");
    }

    // The password is in no log line of the server or the agent, and in no answer.
    agent.terminate(DEADLINE);
    for line in server.log().into_iter().chain(agent.log()) {
        assert!(!line.contains(PASSWORD) && !line.contains(WRONG), "{line}");
    }
    assert!(!healed.to_string().contains(PASSWORD));
}
