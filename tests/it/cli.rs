//! The real `dsconn` binary as a client of a spawned server.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    HangingTarget, TcpTarget, TestApp, closed_port, create_body, new_project, spawn_app,
    spawn_app_with,
};

/// A client command with a clean environment: no settings leak in from the machine.
pub(crate) fn dsconn(config_home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dsconn"));
    for name in [
        "DSCONN_ENDPOINT",
        "DSCONN_TOKEN",
        "DSCONN_PROFILE",
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_PROJECT_ID",
    ] {
        command.env_remove(name);
    }
    command.env("XDG_CONFIG_HOME", config_home);
    command
}

pub(crate) async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("dsconn runs"))
        .await
        .expect("joined")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `dsconn` pointed at the app with the test token and a project.
pub(crate) fn client(app: &TestApp, config_home: &Path, project: &str) -> Command {
    let mut command = dsconn(config_home);
    command
        .env("DSCONN_ENDPOINT", format!("http://{}", app.address))
        .env("DSCONN_TOKEN", &app.token)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", project);
    command
}

#[tokio::test]
async fn create_list_show_wait_and_delete_work_end_to_end() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();

    let mut create = client(&app, home.path(), &project);
    create.args(["create", "--name", "orders", "--service", "rds", "--url"]);
    create.arg(target.address.to_string());
    create.args([
        "--security-group-id",
        "sg-1",
        "--network-id",
        "net-1",
        "--tag",
        "env=prod",
    ]);
    let output = run(create).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let created = stdout(&output);
    assert!(created.starts_with("created orders ("), "{created}");
    let id = created
        .trim()
        .trim_start_matches("created orders (")
        .trim_end_matches(')')
        .to_owned();
    app.settled(&project, &id).await;

    let mut list = client(&app, home.path(), &project);
    list.arg("list");
    let output = run(list).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let header: Vec<&str> = table
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "ID",
            "NAME",
            "STATE",
            "SERVICE",
            "DESTINATION",
            "QUEUES",
            "PROGRESS",
            "CREATED"
        ]
    );
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..7],
        [
            &id,
            "orders",
            "ACTIVE",
            "RDS",
            &target.address.to_string(),
            "-",
            "100%"
        ]
    );

    let mut wide = client(&app, home.path(), &project);
    wide.args(["list", "-o", "wide", "--tag", "env=prod"]);
    let wide_table = stdout(&run(wide).await);
    assert!(
        wide_table.contains(&id) && wide_table.contains("env=prod"),
        "{wide_table}"
    );

    let mut json = client(&app, home.path(), &project);
    json.args(["list", "--output", "json", "--state", "ACTIVE"]);
    let listed: Value = serde_json::from_slice(&run(json).await.stdout).expect("json list");
    let server: Value = app
        .list_raw(&project, "state=ACTIVE")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed, server, "--output json is the server's JSON");

    let mut show = client(&app, home.path(), &project);
    show.args(["show", &id]);
    let details = stdout(&run(show).await);
    assert!(
        details.contains("State:") && details.contains("ACTIVE"),
        "{details}"
    );
    assert!(details.contains("Connection URL:"), "{details}");

    let mut delete = client(&app, home.path(), &project);
    delete.args(["delete", &id]);
    let output = run(delete).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), format!("deleted {id}"));

    let mut wait = client(&app, home.path(), &project);
    wait.args(["wait", &id, "--for", "deleted", "--timeout", "5s"]);
    let output = run(wait).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "orders: DELETED");
}

#[tokio::test]
async fn create_wait_reports_progress_as_plain_lines_and_ends_active() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let mut create = client(&app, home.path(), &project);
    create.args(["create", "--name", "live", "--service", "CSS", "--url"]);
    create.arg(target.address.to_string());
    create.args(["--security-group-id", "sg", "--network-id", "net", "--wait"]);
    let output = run(create).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "live: ACTIVE");
    let progress = stderr(&output);
    assert!(progress.contains("live: ACTIVE 100%"), "{progress}");
    assert!(
        !progress.contains('\u{1b}'),
        "no terminal escapes when not a terminal: {progress:?}"
    );
}

#[tokio::test]
async fn create_wait_on_a_closed_port_ends_failed_with_the_reason_and_exit_code_1() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let port = closed_port();
    let mut create = client(&app, home.path(), &project);
    create.args(["create", "--name", "dead", "--service", "DWS", "--url"]);
    create.arg(format!("127.0.0.1:{port}"));
    create.args(["--security-group-id", "sg", "--network-id", "net", "--wait"]);
    let output = run(create).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let last = stdout(&output);
    assert!(last.starts_with("dead: FAILED: "), "{last}");
    assert!(
        last.contains(&format!("127.0.0.1:{port}")) && last.contains("refused"),
        "{last}"
    );
}

#[tokio::test]
async fn a_wait_that_runs_out_of_time_exits_with_4() {
    let app = spawn_app_with(|config| config.probe.check_timeout = Duration::from_secs(3)).await;
    let hanging = HangingTarget::start();
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("slow", "RDS", &hanging.address.to_string()),
        )
        .await;
    let mut wait = client(&app, home.path(), &project);
    wait.args(["wait", &id, "--timeout", "300ms"]);
    let output = run(wait).await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("timed out after 300ms"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn server_refusals_exit_1_with_the_dli_code_and_unreachable_servers_exit_3() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();

    let mut show = client(&app, home.path(), &project);
    show.args(["show", "5f0c1e2d-3b4a-4958-8776-655443322110"]);
    let output = run(show).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("DLI.0002"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("request id: "),
        "{}",
        stderr(&output)
    );

    let port = closed_port();
    let mut list = client(&app, home.path(), &project);
    list.args(["list", "--endpoint", &format!("http://127.0.0.1:{port}")]);
    let output = run(list).await;
    assert_eq!(output.status.code(), Some(3));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("http://127.0.0.1:{port}/")),
        "names the endpoint: {message}"
    );
    assert!(message.contains("refused"), "{message}");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let home = tempfile::tempdir().expect("temp dir");
    let mut no_project = dsconn(home.path());
    no_project.arg("list");
    let output = run(no_project).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no project"),
        "{}",
        stderr(&output)
    );

    let mut bad_flag = dsconn(home.path());
    bad_flag.args(["list", "--no-such-flag"]);
    assert_eq!(run(bad_flag).await.status.code(), Some(2));

    let mut half_key = dsconn(home.path());
    half_key.args(["list", "--project", "p", "--ak", "AK"]);
    let output = run(half_key).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("without its secret key"),
        "{}",
        stderr(&output)
    );

    let mut missing_profile = dsconn(home.path());
    missing_profile.args(["list", "--project", "p", "--profile", "nope"]);
    assert_eq!(run(missing_profile).await.status.code(), Some(2));
}

#[tokio::test]
async fn flags_beat_environment_which_beats_the_profile() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let home = tempfile::tempdir().expect("temp dir");
    let (profile_project, env_project, flag_project) =
        (new_project(), new_project(), new_project());
    for (project, count) in [(&profile_project, 1), (&env_project, 2), (&flag_project, 3)] {
        for index in 0..count {
            let body = create_body(&format!("c{index}"), "RDS", &target.address.to_string());
            app.create_ok(project, &body).await;
        }
    }
    let credential = app
        .issue_credential(dsconn::domain::ProjectScope::All)
        .await;
    let config_dir = home.path().join("dsconn");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "[profiles.default]\nendpoint = \"http://{}\"\nproject = \"{profile_project}\"\n\
             ak = \"{}\"\nsk = \"{}\"\n\n[profiles.other]\nendpoint = \"http://127.0.0.1:{}\"\n",
            app.address,
            credential.access_key,
            credential.secret_key,
            closed_port()
        ),
    )
    .expect("config written");
    let count = |output: &Output| -> u64 {
        let list: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("json: {}", stderr(output)));
        list["count"].as_u64().expect("count")
    };

    let mut from_profile = dsconn(home.path());
    from_profile.args(["list", "-o", "json"]);
    assert_eq!(
        count(&run(from_profile).await),
        1,
        "the profile's project and AK/SK"
    );

    let mut from_env = dsconn(home.path());
    from_env
        .args(["list", "-o", "json"])
        .env("HUAWEICLOUD_SDK_PROJECT_ID", &env_project);
    assert_eq!(
        count(&run(from_env).await),
        2,
        "the environment's project wins"
    );

    let mut from_flag = dsconn(home.path());
    from_flag
        .args(["list", "-o", "json", "--project", &flag_project])
        .env("HUAWEICLOUD_SDK_PROJECT_ID", &env_project);
    assert_eq!(count(&run(from_flag).await), 3, "the flag wins");

    let mut bad_env_key = dsconn(home.path());
    bad_env_key
        .args(["list"])
        .env("HUAWEICLOUD_SDK_AK", "NOSUCHKEY00000000000")
        .env("HUAWEICLOUD_SDK_SK", "x".repeat(40));
    let output = run(bad_env_key).await;
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("APIG.0301"), "{message}");
    assert!(
        message.contains("credentials used: access key NOSUCHKEY00000000000 from DSCONN_TOKEN/HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK"),
        "a 401 names the credential source: {message}"
    );

    let mut flag_token = dsconn(home.path());
    flag_token
        .args(["list", "-o", "json", "--token", &app.token])
        .env("HUAWEICLOUD_SDK_AK", "NOSUCHKEY00000000000")
        .env("HUAWEICLOUD_SDK_SK", "x".repeat(40));
    assert_eq!(
        count(&run(flag_token).await),
        1,
        "a flag token beats env keys"
    );

    let mut other_profile = dsconn(home.path());
    other_profile.args(["list", "--profile", "other", "--project", "p"]);
    assert_eq!(
        run(other_profile).await.status.code(),
        Some(3),
        "the named profile's endpoint"
    );
}

#[tokio::test]
async fn shell_completions_are_printed() {
    let home = tempfile::tempdir().expect("temp dir");
    let mut completions = dsconn(home.path());
    completions.args(["completions", "bash"]);
    let output = run(completions).await;
    assert!(output.status.success());
    let script = stdout(&output);
    assert!(
        script.contains("complete") && script.contains("dsconn"),
        "{script}"
    );
}

#[tokio::test]
async fn dsconn_test_checks_a_definition_or_a_saved_connection_and_exits_by_outcome() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();

    let mut definition = client(&app, home.path(), &project);
    definition.args(["test", "--service", "RDS", "--url"]);
    definition.arg(format!("{},127.0.0.1:{}", target.address, closed_port()));
    let output = run(definition).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.contains("REACHABLE") && table.contains("CONNECTION_REFUSED"),
        "{table}"
    );

    let port = closed_port();
    let id = app
        .create_ok(
            &project,
            &create_body("down", "RDS", &format!("127.0.0.1:{port}")),
        )
        .await;
    app.settled(&project, &id).await;
    let mut saved = client(&app, home.path(), &project);
    saved.args(["test", &id, "-o", "json"]);
    let output = run(saved).await;
    assert_eq!(output.status.code(), Some(1), "unreachable exits 1");
    let body: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(body["failure_reason"], "CONNECTION_REFUSED");
}

#[tokio::test]
async fn queue_create_list_show_and_delete_work_end_to_end() {
    let app = spawn_app_with(|config| {
        config.queues = vec![dsconn::domain::QueueName::parse("declared_q").expect("name")];
    })
    .await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let queue = |args: &[&str]| {
        let mut command = client(&app, home.path(), &project);
        command.arg("queue").args(args);
        run(command)
    };

    let output = queue(&[
        "create",
        "ETL",
        "--type",
        "general",
        "--description",
        "loads",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "created queue etl");
    let output = queue(&["create", "etl"]).await;
    assert_eq!(output.status.code(), Some(1), "refused by the server");
    assert!(stderr(&output).contains("DLI.0006"), "{}", stderr(&output));

    let output = queue(&["list"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    // The table's cells are padded by a space on the left.
    let table: String = stdout(&output)
        .lines()
        .map(|line| format!("{}\n", line.trim_start()))
        .collect();
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|header| header.starts_with("NAME")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|line| line.trim_start().starts_with("declared_q") && line.contains("yes")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|line| line.trim_start().starts_with("etl") && line.contains("general")),
        "{table}"
    );
    let output = queue(&["list", "--type", "general", "--output", "json"]).await;
    let listed: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(
        listed["queues"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    let output = queue(&["show", "etl"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("loads"), "{}", stdout(&output));
    let output = queue(&["show", "etl", "--output", "json"]).await;
    let shown: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(shown["queueName"], "etl");

    let output = queue(&["delete", "etl", "declared_q"]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "the declared queue is refused"
    );
    assert!(
        stdout(&output).contains("deleted queue etl"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("declared_q"),
        "{}",
        stderr(&output)
    );
    let output = queue(&["show", "etl"]).await;
    assert!(
        stderr(&output).contains("There is no queue named etl"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn queue_test_waits_for_the_answer_and_show_says_where_bindings_were_checked() {
    let app = spawn_app_with(|config| {
        config.queues = vec![dsconn::domain::QueueName::parse("etl").expect("name")];
    })
    .await;
    let target = TcpTarget::start().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let dsconn_client = |args: &[&str]| {
        let mut command = client(&app, home.path(), &project);
        command.args(args);
        run(command)
    };
    let address = target.address.to_string();
    let output = dsconn_client(&["queue", "test", "etl", &address]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("REACHABLE (server)"),
        "{}",
        stdout(&output)
    );
    let refused = format!("127.0.0.1:{}", closed_port());
    let output = dsconn_client(&["queue", "test", "etl", &refused, "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(1), "unreachable is exit 1");
    let answer: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(answer["connectivity"], "UNREACHABLE", "{answer}");
    let output = dsconn_client(&["queue", "test", "nope", &address]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("There is no queue named nope"),
        "{}",
        stderr(&output)
    );

    let output = dsconn_client(&[
        "create",
        "--name",
        "bound",
        "--service",
        "RDS",
        "--url",
        &address,
        "--security-group-id",
        "sg",
        "--network-id",
        "net",
        "--queue",
        "etl",
        "--wait",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = dsconn_client(&["list", "--output", "json"]).await;
    let listed: Value = serde_json::from_str(&stdout(&listed)).expect("json");
    let id = listed["connections"][0]["connection_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let output = dsconn_client(&["show", &id]).await;
        let text = stdout(&output);
        if text.contains("CHECKED FROM") && text.contains("server") {
            assert!(text.contains("ACTIVE"), "{text}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

/// A pipe whose reading end is already closed: every write to it fails with EPIPE, as
/// when `| head -1` has read its line and gone. Deterministic, unlike racing a reader.
fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

/// Issue 24: `dsconn completions bash | head -1` exited 101 with a panic. A command whose
/// output is closed ends quietly: exit 0 when the output was its product, its usual code
/// otherwise, never a panic.
#[tokio::test]
async fn a_closed_output_ends_each_command_quietly_with_its_usual_code() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    app.create_ok(
        &project,
        &create_body("piped", "RDS", &target.address.to_string()),
    )
    .await;
    crate::helpers::create_queues(&app, &project, &["q_piped"]).await;

    let mut completions = dsconn(home.path());
    completions
        .args(["completions", "bash"])
        .stdout(closed_pipe());
    let mut list = client(&app, home.path(), &project);
    list.arg("list").stdout(closed_pipe());
    let mut queues = client(&app, home.path(), &project);
    queues.args(["queue", "list"]).stdout(closed_pipe());
    for (what, command) in [
        ("completions", completions),
        ("list", list),
        ("queue list", queues),
    ] {
        let output = run(command).await;
        assert_eq!(output.status.code(), Some(0), "{what}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{what}: nothing said");
    }

    // A refusal keeps its exit code when even standard error is closed.
    let mut show = client(&app, home.path(), &project);
    show.args(["show", "5f0c1e2d-3b4a-4958-8776-655443322110"])
        .stdout(closed_pipe())
        .stderr(closed_pipe());
    assert_eq!(run(show).await.status.code(), Some(1));
}

/// Issue 24: the agent exited 101 when its standard error closed (tracing-subscriber
/// reported the failed log write with `eprintln!`, which panicked). It works on without
/// its log, and still stops cleanly on SIGTERM.
#[tokio::test]
async fn an_agent_whose_log_pipe_closes_keeps_serving_its_queue() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    crate::helpers::create_queues(&app, &project, &["q_quiet"]).await;
    let mut agent = dsconn(home.path());
    agent
        .env_remove("DSCONN_AGENT_NAME")
        .env("DSCONN_LOG", "info")
        .args(["agent", "--endpoint", &format!("http://{}", app.address)])
        .args(["--project", &project, "--token", &app.token])
        .args(["--name", "quiet", "--queue", "q_quiet"])
        .args(["--probe-mode", "tcp", "--check-timeout", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(closed_pipe());
    let mut child = agent.spawn().expect("agent starts");
    let listed = async || -> Value {
        app.get(app.url(&format!("/dsconn/v1/{project}/agents")))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("agent polled") {
            panic!("the agent exited ({status}) when its log pipe was closed");
        }
        if listed().await["agents"][0]["name"] == "quiet" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never registered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    kill(pid, Signal::SIGTERM).expect("SIGTERM sent");
    let status = tokio::task::spawn_blocking(move || child.wait().expect("agent reaped"))
        .await
        .expect("joined");
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A `dsconn` admin command run in `dir` with no data dir setting from the environment.
fn admin_in(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dsconn"));
    for name in [
        "DSCONN_DATA_DIR",
        "DSCONN_DATABASE_URL",
        "DSCONN_SECRET_KEY_FILE",
    ] {
        command.env_remove(name);
    }
    command
        .current_dir(dir)
        .args(args)
        .output()
        .expect("dsconn runs")
}

/// Issue 24: `dsconn token create` run from another directory created `./dsconn-data`
/// and printed a token the running server had never heard of.
#[test]
fn admin_commands_never_create_a_data_dir_and_say_where_they_looked() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let default = cwd.path().join("dsconn-data");
    let missing = cwd.path().join("missing");
    let missing_flag = missing.to_str().expect("utf-8 path");
    for args in [
        vec!["token", "create", "--all-projects"],
        vec!["token", "list"],
        vec!["token", "revoke", "some-id"],
        vec!["credential", "create", "--all-projects"],
        vec!["credential", "list"],
        vec!["credential", "revoke", "AK"],
        vec!["migrate"],
        vec![
            "token",
            "create",
            "--all-projects",
            "--data-dir",
            missing_flag,
        ],
    ] {
        let output = admin_in(cwd.path(), &args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert_eq!(stdout(&output), "", "{args:?}: no token or key printed");
        let looked_at = if args.contains(&"--data-dir") {
            &missing
        } else {
            &default
        };
        assert!(
            message.contains(&looked_at.display().to_string())
                && message.contains("does not exist")
                && message.contains("--data-dir")
                && message.contains("DSCONN_DATA_DIR"),
            "{args:?}: {message}"
        );
        assert!(
            !default.exists() && !missing.exists(),
            "{args:?} made a dir"
        );
    }

    // A named directory that exists, even empty (made by a set-up script before the
    // first serve), keeps working, by flag or by environment.
    let prepared = cwd.path().join("prepared");
    std::fs::create_dir(&prepared).expect("empty data dir");
    let output = admin_in(
        cwd.path(),
        &[
            "token",
            "create",
            "--all-projects",
            "--data-dir",
            prepared.to_str().expect("utf-8 path"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // Piped, `token create` prints the bare token (issue 30).
    assert!(
        stdout(&output).trim().starts_with("dsct_"),
        "{}",
        stdout(&output)
    );
    let listed = Command::new(env!("CARGO_BIN_EXE_dsconn"))
        .current_dir(cwd.path())
        .env("DSCONN_DATA_DIR", &prepared)
        .env_remove("DSCONN_DATABASE_URL")
        .args(["token", "list", "--output", "json"])
        .output()
        .expect("dsconn runs");
    assert!(listed.status.success(), "{}", stderr(&listed));
    let tokens: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "{tokens}");
}
