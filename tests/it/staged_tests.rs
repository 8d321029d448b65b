//! Staged, credentialed queue connection tests end to end (issue 26), against the real
//! MariaDB: a user of the test's own with a real password and SELECT on one table only.
//! From the server (a queue without an agent) and from a real agent of the queue, with an
//! auth info of the project and with an inline one (a test before saving). The password
//! must appear in no answer, no log line and not in the database file in clear.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::agent::{AgentProcess, AgentSpec};
use crate::helpers::project_api::{ProjectApi, says, stage};
use crate::helpers::services::{MARIADB, missing};
use crate::helpers::{LoggedServer, TestApp, cli_token, new_project, spawn_app_with, token_client};

const PASSWORD: &str = "Stg-pw-7f3a9c";
const WRONG: &str = "not-the-password";
const DEADLINE: Duration = Duration::from_secs(30);

fn root_sql(sql: &str) -> Result<String, String> {
    let output = Command::new("mysql")
        .args(["-h127.0.0.1", "-P3306", "-uroot", "-N", "-B", "-e", sql])
        .output()
        .map_err(|error| format!("mysql client: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A database with tables `orders` and `items`, and a user with SELECT on `items` only;
/// dropped with it.
struct Shop {
    database: String,
    user: String,
}

impl Shop {
    fn create() -> Option<Self> {
        if let Err(error) = std::net::TcpStream::connect(MARIADB) {
            missing("MariaDB", &format!("nothing listens on {MARIADB}: {error}"));
            return None;
        }
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let shop = Self {
            database: format!("dsconn_st_{}", &unique[..12]),
            user: format!("dsconn_st_{}", &unique[12..24]),
        };
        let (database, user) = (&shop.database, &shop.user);
        root_sql(&format!(
            "CREATE DATABASE {database}; \
             CREATE TABLE {database}.orders (id int); CREATE TABLE {database}.items (id int); \
             CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
             GRANT SELECT ON {database}.items TO '{user}'@'127.0.0.1';"
        ))
        .unwrap_or_else(|error| panic!("setting up MariaDB: {error}"));
        Some(shop)
    }

    /// Failed logins of this user so far, from the server's own counter.
    fn access_denied_errors() -> u64 {
        root_sql("SHOW GLOBAL STATUS LIKE 'Access_denied_errors'")
            .ok()
            .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or_default()
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = root_sql(&format!(
            "DROP USER IF EXISTS '{}'@'127.0.0.1'; DROP DATABASE IF EXISTS {};",
            self.user, self.database
        ));
    }
}

/// The stages of an answer as `(stage, verdict)`.
fn verdicts(answer: &Value) -> Vec<(String, String)> {
    answer["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("no stages: {answer}"))
        .iter()
        .map(|stage| {
            (
                stage["stage"].as_str().unwrap_or_default().to_owned(),
                stage["verdict"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn app_api(app: &TestApp, project: &str) -> ProjectApi {
    ProjectApi {
        client: token_client(&app.token).build().expect("client"),
        base: format!("http://{}", app.address),
        project: project.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_test_logs_in_with_an_auth_info_and_names_the_missing_privilege() {
    let Some(shop) = Shop::create() else {
        return;
    };
    // Full protocol checks: the protocol stage is MySQL's greeting.
    let app =
        spawn_app_with(|config| config.probe.probe_mode = dsconn::probe::ProbeMode::Full).await;
    let project = new_project();
    let api = app_api(&app, &project);
    api.post_ok(
        &format!("/v1.0/{project}/queues"),
        &json!({"queue_name": "etl", "cu_count": 16}),
    )
    .await;
    api.auth_info("shop_app", &shop.user, PASSWORD).await;
    api.auth_info("shop_wrong", &shop.user, WRONG).await;
    let asked = |auth_info: &str| {
        json!({"address": MARIADB, "service": "RDS", "auth_info_name": auth_info,
               "database": shop.database,
               "privileges": [{"privilege": "SELECT", "table": "items"},
                              {"privilege": "SELECT", "table": "orders"}]})
    };

    // The right password: in, queried, and the missing privilege named.
    let answer = api.queue_test("etl", &asked("shop_app")).await;
    assert_eq!(
        verdicts(&answer),
        pairs(&[
            ("resolve", "PASSED"),
            ("connect", "PASSED"),
            ("protocol", "PASSED"),
            ("login", "PASSED"),
            ("query", "PASSED"),
            ("privileges", "FAILED"),
        ]),
        "{answer}"
    );
    let privileges = stage(&answer, "privileges");
    assert_eq!(privileges["reason"], "PRIVILEGE_MISSING", "{answer}");
    let message = privileges["message"].as_str().unwrap_or_default();
    assert!(message.contains("orders"), "{message}");
    assert_eq!(answer["verified"], false);
    // DLI's meaning of connectivity is kept: connect passed.
    assert_eq!(answer["connectivity"], "REACHABLE");
    assert_eq!(answer["checked_from"], "server");
    assert_eq!(answer["auth_info_name"], "shop_app");
    assert!(
        says(stage(&answer, "login"), "the server's copy"),
        "{answer}"
    );

    // The wrong password: one failed login, the rest skipped.
    let denied_before = Shop::access_denied_errors();
    let answer = api.queue_test("etl", &asked("shop_wrong")).await;
    let login = stage(&answer, "login");
    assert_eq!(
        (&login["verdict"], &login["reason"]),
        (&json!("FAILED"), &json!("AUTH_FAILED")),
        "{answer}"
    );
    assert_eq!(stage(&answer, "query")["verdict"], "SKIPPED");
    assert_eq!(stage(&answer, "query")["reason"], "EARLIER_STAGE_FAILED");
    assert_eq!(
        Shop::access_denied_errors() - denied_before,
        1,
        "one login attempt"
    );
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("login failed"),
        "{answer}"
    );

    // A route tried before it is saved: a name only the test's own hosts resolve.
    let mut routed = asked("shop_app");
    routed["address"] = json!("shop-db.dsconn-test.internal:3306");
    routed["privileges"] = json!([{"privilege": "SELECT", "table": "items"}]);
    routed["hosts"] = json!([{"name": "shop-db.dsconn-test.internal", "ip": "127.0.0.1"}]);
    let answer = api.queue_test("etl", &routed).await;
    assert_eq!(answer["verified"], true, "{answer}");
    assert!(says(stage(&answer, "resolve"), "127.0.0.1"), "{answer}");

    // An unknown database is named.
    let mut unknown = asked("shop_app");
    unknown["database"] = json!("dsconn_no_such_db");
    unknown["privileges"] = json!([]);
    let answer = api.queue_test("etl", &unknown).await;
    let login = stage(&answer, "login");
    assert_eq!(login["reason"], "UNKNOWN_DATABASE", "{answer}");
    assert!(
        login["message"]
            .as_str()
            .unwrap_or_default()
            .contains("dsconn_no_such_db"),
        "{answer}"
    );

    // Test before saving: a wrong password, then the right one, nothing stored between.
    let auth_infos_before = api
        .send(
            reqwest::Method::GET,
            &format!("/v3/{project}/datasource/auth-infos"),
            None,
        )
        .await
        .1["count"]
        .clone();
    for (password, verified) in [(WRONG, false), (PASSWORD, true)] {
        let answer = api
            .queue_test(
                "etl",
                &json!({"address": MARIADB, "service": "RDS", "database": shop.database,
                        "auth_info": {"user_name": shop.user, "password": password}}),
            )
            .await;
        assert_eq!(answer["verified"], verified, "{answer}");
        assert!(!answer.to_string().contains(password), "{answer}");
    }
    let auth_infos_after = api
        .send(
            reqwest::Method::GET,
            &format!("/v3/{project}/datasource/auth-infos"),
            None,
        )
        .await
        .1["count"]
        .clone();
    assert_eq!(auth_infos_before, auth_infos_after);
    // The unsaved test from the server says so, as every result says where it ran.
    let answer = api
        .post_ok(
            &format!("/v2.0/{project}/datasource-connection/test"),
            &json!({"service": "RDS", "url": MARIADB}),
        )
        .await;
    assert_eq!(
        (&answer["checked_from"], &answer["connectivity"]),
        (&json!("server"), &json!("REACHABLE")),
        "{answer}"
    );

    // Refusals: an auth info without a service, an unknown one, both kinds at once.
    for (body, says) in [
        (
            json!({"address": MARIADB, "auth_info_name": "shop_app"}),
            "service is required",
        ),
        (
            json!({"address": MARIADB, "service": "RDS", "auth_info_name": "nope"}),
            "no auth info named nope",
        ),
        (
            json!({"address": MARIADB, "service": "RDS", "auth_info_name": "shop_app",
                   "auth_info": {"user_name": "a", "password": "b"}}),
            "not both",
        ),
        (
            json!({"address": MARIADB, "database": "x"}),
            "need an auth info",
        ),
        (
            json!({"address": MARIADB, "hosts": [{"name": "db", "ip": "db.example"}]}),
            "must be an IPv4 address",
        ),
        (
            json!({"address": MARIADB, "hosts": (0..101)
                .map(|n| json!({"name": format!("h{n}"), "ip": "127.0.0.1"}))
                .collect::<Vec<_>>()}),
            "at most 100 entries",
        ),
    ] {
        let (status, answer) = api
            .send(
                reqwest::Method::POST,
                &format!("/v1.0/{project}/queues/etl/connection-test"),
                Some(&body),
            )
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error_msg"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{body}: {answer}"
        );
    }
    app.stop().await;
}

/// Every file under `dir`, read as bytes: whether any holds `needle`.
fn any_file_holds(dir: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = any_file_holds(&path, needle) {
                return Some(found);
            }
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|window| window == needle)
        {
            return Some(path);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queues_agent_logs_in_with_the_servers_copy_or_its_own_and_no_password_is_logged() {
    let Some(shop) = Shop::create() else {
        return;
    };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().as_os_str();
    let server = LoggedServer::start(
        "info,dsconn=debug",
        &[
            "--data-dir".as_ref(),
            data_dir,
            "--probe-mode".as_ref(),
            "full".as_ref(),
        ],
    );
    let token = cli_token(data.path());
    let project = new_project();
    let api = ProjectApi {
        client: token_client(&token).build().expect("client"),
        base: format!("http://{}", server.address),
        project: project.clone(),
    };
    for queue in ["etl", "local"] {
        api.post_ok(
            &format!("/v1.0/{project}/queues"),
            &json!({"queue_name": queue, "cu_count": 16}),
        )
        .await;
    }
    api.auth_info("shop_app", &shop.user, PASSWORD).await;
    // The agent of `local` holds its own copy of `shop_app`; the server's is wrong there.
    api.auth_info("shop_local", &shop.user, WRONG).await;
    let own = data.path().join("shop_local.json");
    std::fs::write(
        &own,
        json!({"user_name": shop.user, "password": PASSWORD}).to_string(),
    )
    .expect("auth info file");
    let config_home = tempfile::tempdir().expect("config home");
    let endpoint = format!("http://{}", server.address);
    let auth_info_flag = format!("shop_local={}", own.display());
    let mut agents = Vec::new();
    for (queue, extra) in [
        ("etl", vec!["--probe-mode", "full"]),
        (
            "local",
            vec![
                "--probe-mode",
                "full",
                "--auth-info",
                auth_info_flag.as_str(),
            ],
        ),
    ] {
        let base = Command::new(env!("CARGO_BIN_EXE_dsconn"));
        let spec = AgentSpec {
            endpoint: endpoint.clone(),
            project: &project,
            token: &token,
            name: Some(queue),
            queues: &[queue],
            config_home: config_home.path(),
            extra_args: &extra,
        };
        agents.push(AgentProcess::start(base, &spec));
    }
    for agent in &agents {
        agent.wait_for_lines("registered", 1);
    }
    let body = |auth_info: &str| {
        json!({"address": MARIADB, "service": "RDS", "auth_info_name": auth_info,
               "database": shop.database})
    };
    let answer = api.queue_test("etl", &body("shop_app")).await;
    assert_eq!(answer["checked_from"], "agent:etl", "{answer}");
    assert_eq!(answer["verified"], true, "{answer}");
    assert!(
        says(stage(&answer, "login"), "the server's copy"),
        "{answer}"
    );
    // The test's own hosts reach the agent with its claim.
    let mut routed = body("shop_app");
    routed["address"] = json!("shop-db.dsconn-test.internal:3306");
    routed["hosts"] = json!([{"name": "shop-db.dsconn-test.internal", "ip": "127.0.0.1"}]);
    let answer = api.queue_test("etl", &routed).await;
    assert_eq!(
        (&answer["checked_from"], &answer["verified"]),
        (&json!("agent:etl"), &json!(true)),
        "{answer}"
    );
    let answer = api.queue_test("local", &body("shop_local")).await;
    assert_eq!(answer["checked_from"], "agent:local", "{answer}");
    assert_eq!(
        answer["verified"], true,
        "the agent's own copy is right: {answer}"
    );
    assert!(
        says(stage(&answer, "login"), "the agent's own copy"),
        "{answer}"
    );
    // Test before saving from the queue's agent: a wrong password, then the right one;
    // each inline auth info reaches the agent inside its claim, once, and nothing is
    // stored in between.
    let auth_infos = format!("/v3/{project}/datasource/auth-infos");
    let stored_before = api.send(reqwest::Method::GET, &auth_infos, None).await.1["count"].clone();
    for (password, verified) in [(WRONG, false), (PASSWORD, true)] {
        let answer = api
            .queue_test(
                "etl",
                &json!({"address": MARIADB, "service": "RDS", "database": shop.database,
                        "auth_info": {"user_name": shop.user, "password": password}}),
            )
            .await;
        assert_eq!(answer["checked_from"], "agent:etl", "{answer}");
        assert_eq!(answer["verified"], verified, "{answer}");
        assert!(
            says(stage(&answer, "login"), "given with the request"),
            "{answer}"
        );
    }
    // The unsaved test, run from the queue's agent: a whole proposed definition (with a
    // route of its own), a wrong password and then the right one.
    let unsaved = format!("/v2.0/{project}/datasource-connection/test");
    for (password, verified) in [(WRONG, false), (PASSWORD, true)] {
        let answer = api
            .post_ok(
                &unsaved,
                &json!({"service": "RDS", "url": "shop-db.dsconn-test.internal:3306",
                        "database": shop.database, "queues": ["etl"],
                        "hosts": [{"name": "shop-db.dsconn-test.internal", "ip": "127.0.0.1"}],
                        "auth_info": {"user_name": shop.user, "password": password}}),
            )
            .await;
        let from_etl = &answer["queues"][0];
        assert_eq!(
            (&from_etl["queue"], &from_etl["checked_from"]),
            (&json!("etl"), &json!("agent:etl")),
            "{answer}"
        );
        assert_eq!(from_etl["verified"], verified, "{answer}");
        assert_eq!(answer["verified"], verified, "{answer}");
        assert!(!answer.to_string().contains(password), "{answer}");
    }
    let stored_after = api.send(reqwest::Method::GET, &auth_infos, None).await.1["count"].clone();
    assert_eq!(stored_before, stored_after);

    // The same from the command line, naming the stored auth info: exit 0, verified.
    let output = crate::cli::dsconn(config_home.path())
        .env("DSCONN_ENDPOINT", &endpoint)
        .env("DSCONN_TOKEN", &token)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", &project)
        .args([
            "test",
            "--service",
            "RDS",
            "--url",
            MARIADB,
            "--auth-info",
            "shop_app",
        ])
        .args([
            "--database",
            shop.database.as_str(),
            "--queue",
            "etl",
            "-o",
            "json",
        ])
        .output()
        .expect("dsconn test runs");
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert!(
        output.status.success(),
        "{printed} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        printed["queues"][0]["checked_from"], "agent:etl",
        "{printed}"
    );

    // A saved connection that names the auth info, made and shown with the CLI: its
    // binding's check from the queue's agent logs in.
    let cli = |args: &[&str]| {
        crate::cli::dsconn(config_home.path())
            .env("DSCONN_ENDPOINT", &endpoint)
            .env("DSCONN_TOKEN", &token)
            .env("HUAWEICLOUD_SDK_PROJECT_ID", &project)
            .args(args)
            .output()
            .expect("dsconn runs")
    };
    let created = cli(&[
        "create",
        "--name",
        "shop",
        "--service",
        "RDS",
        "--url",
        MARIADB,
        "--security-group-id",
        "sg-1",
        "--network-id",
        "net-1",
        "--queue",
        "etl",
        "--auth-info",
        "shop_app",
        "--database",
        shop.database.as_str(),
        "-o",
        "json",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let shown = cli(&["show", "shop"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&format!("shop_app (database {})", shop.database)),
        "{shown}"
    );
    let started = std::time::Instant::now();
    let binding = loop {
        let listed = api
            .ok(
                reqwest::Method::GET,
                &format!("/v2.0/{project}/datasource-connection?name=shop"),
                None,
            )
            .await;
        let binding = listed["connections"][0]["available_queue_info"][0].clone();
        if binding["status"] != "CREATING" && binding["status"] != Value::Null {
            break binding;
        }
        assert!(started.elapsed() < DEADLINE, "never checked: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (&binding["status"], &binding["checked_from"]),
        (&json!("ACTIVE"), &json!("agent:etl")),
        "{binding}"
    );
    assert_eq!(stage(&binding, "login")["verdict"], "PASSED", "{binding}");

    // Named no more, then again, with the CLI: show follows.
    let unnamed = cli(&["set-auth-info", "shop", "--none"]);
    assert!(
        unnamed.status.success(),
        "{}",
        String::from_utf8_lossy(&unnamed.stderr)
    );
    let shown = cli(&["show", "shop"]);
    assert!(!String::from_utf8_lossy(&shown.stdout).contains("Auth info"));
    let named = cli(&[
        "set-auth-info",
        "shop",
        "--auth-info",
        "shop_app",
        "--database",
        shop.database.as_str(),
        "-o",
        "json",
    ]);
    let answer: Value = serde_json::from_slice(&named.stdout).unwrap_or_default();
    assert_eq!(answer["message"], "Updated", "{answer}");
    let shown = cli(&["show", "shop"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("shop_app (database"));

    // The password is in no log line of the server or the agents, nor in the data dir
    // (the database file and its WAL) in clear.
    let logs = server
        .log()
        .into_iter()
        .chain(agents.iter().flat_map(AgentProcess::log));
    for line in logs {
        assert!(
            !line.contains(PASSWORD),
            "a log line holds the password: {line}"
        );
    }
    std::fs::remove_file(&own).expect("the agent's file goes");
    assert_eq!(any_file_holds(data.path(), PASSWORD.as_bytes()), None);
    for mut agent in agents {
        agent.terminate(DEADLINE);
    }
}
