//! The CLI for every resource (issue 30): classic bind/unbind, auth infos, sharing,
//! names for ids, tags and wide tables, and the secret-only output of `token create`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::cli::{client, dsconn, run, stderr, stdout};
use crate::helpers::{
    TcpTarget, TestApp, closed_port, create_body, create_queues, new_project, spawn_app,
};

/// Runs `command` with `input` on its standard input.
async fn run_with_stdin(mut command: Command, input: &'static str) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dsconn runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("written");
        child.wait_with_output().expect("output")
    })
    .await
    .expect("joined")
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "-o json must print JSON ({error}): {}\n{}",
            stdout(output),
            stderr(output)
        )
    })
}

/// `first` followed by `rest`.
fn sub<'a>(first: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![first];
    all.extend_from_slice(rest);
    all
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

struct Cli<'a> {
    app: &'a TestApp,
    home: &'a Path,
    project: String,
}

impl Cli<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = client(self.app, self.home, &self.project);
        command.args(args);
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        run(self.command(args)).await
    }

    /// Runs, asserts success, answers stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    }

    /// Runs with `-o json`, asserts success, answers the JSON.
    async fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        let output = self.run(&args).await;
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        json_of(&output)
    }
}

#[tokio::test]
async fn classic_connections_bind_unbind_and_are_found_by_name_with_an_id_column() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let home = tempfile::tempdir().expect("temp dir");
    let cli = Cli {
        app: &app,
        home: home.path(),
        project: new_project(),
    };
    create_queues(&app, &cli.project, &["q_etl", "q_rep"]).await;
    let address = target.address.to_string();
    let id = app
        .create_ok(&cli.project, &create_body("orders", "RDS", &address))
        .await;
    app.settled(&cli.project, &id).await;

    // The default list has an id column, first.
    let table = cli.ok(&["list"]).await;
    let mut lines = table.lines();
    assert_eq!(
        words(lines.next().expect("header"))[..3],
        ["ID", "NAME", "STATE"]
    );
    assert_eq!(
        words(lines.next().expect("row"))[..3],
        [id.as_str(), "orders", "ACTIVE"]
    );

    // bind and unbind by name; -o json is the server's answer.
    let bound = cli.ok(&["bind", "orders", "--queue", "q_etl"]).await;
    assert_eq!(
        bound.trim(),
        "bound q_etl to orders (associated 1 queue(s))"
    );
    let answer = cli.json(&["bind", &id, "--queue", "q_rep"]).await;
    assert_eq!(answer["is_success"], true, "{answer}");
    assert_eq!(
        app.show(&cli.project, &id).await.queue_list,
        ["q_etl", "q_rep"]
    );
    let answer = cli.json(&["unbind", "orders", "--queue", "q_rep"]).await;
    assert_eq!(answer["message"], "disassociated 1 queue(s)", "{answer}");
    assert_eq!(app.show(&cli.project, &id).await.queue_list, ["q_etl"]);
    let output = cli.run(&["bind", "orders", "--queue", "nope"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let output = cli.run(&["bind", "orders"]).await;
    assert_eq!(output.status.code(), Some(2), "--queue is required");

    // show by name, with the server's view of connectivity and the tags.
    let shown = cli.ok(&["show", "orders"]).await;
    assert!(
        shown.contains("Connectivity:") && shown.contains("REACHABLE, as the server sees it"),
        "{shown}"
    );
    assert!(shown.contains("Tags:"), "{shown}");
    let wide = cli.ok(&["show", "orders", "-o", "wide"]).await;
    assert_ne!(wide, shown, "-o wide shows more than the table");
    assert!(
        wide.contains("Last checked:") && wide.contains("CHECKED FROM"),
        "{wide}"
    );
    assert_eq!(cli.json(&["show", "orders"]).await["connection_id"], id);
    assert_eq!(cli.json(&["wait", "orders"]).await["connection_id"], id);

    // Names are unique among live connections only: a live one wins over DELETED ones,
    // and a name several DELETED ones have is an error listing their ids.
    assert_eq!(
        cli.ok(&["delete", "orders"]).await.trim(),
        format!("deleted {id}")
    );
    let second = app
        .create_ok(&cli.project, &create_body("orders", "RDS", &address))
        .await;
    app.settled(&cli.project, &second).await;
    assert_eq!(cli.json(&["show", "orders"]).await["connection_id"], second);
    let deleted = cli.json(&["delete", &second]).await;
    assert_eq!(deleted[0]["is_success"], true, "{deleted}");
    let output = cli.run(&["show", "orders"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("2 connections are named \"orders\"")
            && message.contains(&id)
            && message.contains(&second),
        "{message}"
    );
    let output = cli.run(&["show", "missing"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no connection has the id or name \"missing\""),
        "{}",
        stderr(&output)
    );

    // DELETED rows show no progress, and the wide table is not padded to the longest
    // message.
    let dead = app
        .create_ok(
            &cli.project,
            &create_body("dead", "RDS", &format!("127.0.0.1:{}", closed_port())),
        )
        .await;
    app.settled(&cli.project, &dead).await;
    let table = cli.ok(&["list", "--state", "deleted"]).await;
    for row in table.lines().skip(1) {
        assert_eq!(words(row)[6], "-", "no progress for DELETED: {table}");
    }
    let wide = cli.ok(&["list", "-o", "wide"]).await;
    assert!(
        wide.lines().all(|line| !line.ends_with(' ')),
        "no trailing padding: {wide:?}"
    );
    let dead_row = wide
        .lines()
        .find(|line| line.contains(&dead))
        .expect("the FAILED row");
    assert!(dead_row.contains("CONNECTION_REFUSED"), "{wide}");

    // A bad --state is a usage error before anything is sent.
    let output = cli
        .run(&[
            "list",
            "--state",
            "bogus",
            "--endpoint",
            &format!("http://127.0.0.1:{}", closed_port()),
        ])
        .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("CREATING, ACTIVE, FAILED or DELETED"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn create_wait_says_failed_once() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let cli = Cli {
        app: &app,
        home: home.path(),
        project: new_project(),
    };
    let url = format!("127.0.0.1:{}", closed_port());
    let output = cli
        .run(&[
            "create",
            "--name",
            "dead",
            "--service",
            "RDS",
            "--url",
            &url,
            "--security-group-id",
            "sg",
            "--network-id",
            "net",
            "--wait",
        ])
        .await;
    assert_eq!(output.status.code(), Some(1));
    // stdout has the result once; stderr only the progress lines (a bar, cleared, on a
    // terminal), not the result again as an error.
    assert_eq!(
        stdout(&output).matches("FAILED").count(),
        1,
        "{}",
        stdout(&output)
    );
    let progress = stderr(&output);
    assert!(
        progress
            .lines()
            .all(|line| !line.starts_with("dsconn:") && !line.contains("refused")),
        "{progress}"
    );
}

#[tokio::test]
async fn auth_infos_are_managed_with_passwords_from_stdin_or_a_file_never_argv() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let cli = Cli {
        app: &app,
        home: home.path(),
        project: new_project(),
    };

    // create: the password from standard input.
    let mut create = cli.command(&sub(
        "auth-info",
        &[
            "create",
            "orders_login",
            "--type",
            "passwd",
            "--user-name",
            "etl",
            "--password-stdin",
        ],
    ));
    create.arg("-o").arg("json");
    let output = run_with_stdin(create, "s3cret-from-stdin\n").await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json_of(&output)["is_success"], true);

    // create: the password from a file; without any source (stdin not a terminal) it is
    // a usage error and nothing is created.
    let file = home.path().join("kafka-password");
    std::fs::write(&file, "s3cret-from-file\n").expect("written");
    let file = file.to_str().expect("utf-8 path");
    let created = cli
        .ok(&sub(
            "auth-info",
            &[
                "create",
                "css_login",
                "--type",
                "css",
                "--user-name",
                "admin",
                "--password-file",
                file,
                "--certificate-location",
                "obs://bucket/css.cer",
            ],
        ))
        .await;
    assert_eq!(created.trim(), "created auth info css_login");
    let output = cli
        .run(&sub(
            "auth-info",
            &[
                "create",
                "no_password",
                "--type",
                "passwd",
                "--user-name",
                "u",
            ],
        ))
        .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--password-stdin"),
        "{}",
        stderr(&output)
    );
    let output = cli
        .run(&sub(
            "auth-info",
            &["create", "x", "--type", "passwd", "--password", "p"],
        ))
        .await;
    assert_eq!(output.status.code(), Some(2), "no --password flag");

    // list, show: never the passwords.
    let listed = cli.json(&sub("auth-info", &["list"])).await;
    assert_eq!(listed["count"], 2, "{listed}");
    let table = cli.ok(&sub("auth-info", &["list", "-o", "wide"])).await;
    assert!(
        table.contains("orders_login") && table.contains("obs://bucket/css.cer"),
        "{table}"
    );
    let shown = cli.ok(&sub("auth-info", &["show", "css_login"])).await;
    assert!(shown.contains("CSS") && shown.contains("admin"), "{shown}");
    let shown_json = cli.json(&sub("auth-info", &["show", "orders_login"])).await;
    assert_eq!(shown_json["user_name"], "etl", "{shown_json}");
    for text in [listed.to_string(), table, shown, shown_json.to_string()] {
        assert!(!text.contains("s3cret"), "{text}");
    }
    let output = cli.run(&sub("auth-info", &["show", "nope"])).await;
    assert_eq!(output.status.code(), Some(1));

    // update: a field, and a new password from stdin; nothing given is a usage error.
    let answer = cli
        .json(&sub(
            "auth-info",
            &["update", "orders_login", "--user-name", "loader"],
        ))
        .await;
    assert_eq!(answer["message"], "Update success.", "{answer}");
    let mut update = cli.command(&sub(
        "auth-info",
        &["update", "orders_login", "--password-stdin"],
    ));
    update.arg("-o").arg("json");
    let output = run_with_stdin(update, "n3w\n").await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        cli.json(&sub("auth-info", &["show", "orders_login"])).await["user_name"],
        "loader"
    );
    let output = cli
        .run(&sub("auth-info", &["update", "orders_login"]))
        .await;
    assert_eq!(output.status.code(), Some(2));

    // delete.
    let deleted = cli
        .json(&sub("auth-info", &["delete", "orders_login", "css_login"]))
        .await;
    assert_eq!(deleted.as_array().map(Vec::len), Some(2), "{deleted}");
    assert_eq!(cli.json(&sub("auth-info", &["list"])).await["count"], 0);
}

#[tokio::test]
async fn enhanced_connections_are_shared_found_by_name_and_show_their_tags() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let cli = Cli {
        app: &app,
        home: home.path(),
        project: new_project(),
    };
    let grantee = new_project();
    cli.ok(&sub(
        "enhanced",
        &[
            "create",
            "vpc_a",
            "--vpc",
            "vpc-1",
            "--subnet",
            "net-1",
            "--tag",
            "team=data",
        ],
    ))
    .await;
    let id = cli.json(&sub("enhanced", &["show", "vpc_a"])).await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // show by name has the tags; the wide list has them too, and more columns.
    let shown = cli.ok(&sub("enhanced", &["show", "vpc_a"])).await;
    assert!(
        shown
            .lines()
            .any(|line| words(line) == ["Tags:", "team=data"]),
        "{shown}"
    );
    let table = cli.ok(&sub("enhanced", &["list"])).await;
    let wide = cli.ok(&sub("enhanced", &["list", "-o", "wide"])).await;
    assert_ne!(table, wide);
    assert_eq!(
        words(wide.lines().next().expect("header"))[8..],
        ["VPC", "SUBNET", "SHARED", "TAGS"]
    );
    assert!(wide.contains("team=data"), "{wide}");

    // share, privileges, unshare, each by name.
    let shared = cli
        .ok(&sub(
            "enhanced",
            &["share", "vpc_a", "--project-id", &grantee],
        ))
        .await;
    assert_eq!(
        shared.trim(),
        format!("shared vpc_a with project {grantee}")
    );
    let privileges = cli.json(&sub("enhanced", &["privileges", "vpc_a"])).await;
    assert_eq!(privileges["privileges"][0]["project_id"], grantee.as_str());
    let table = cli.ok(&sub("enhanced", &["privileges", &id])).await;
    assert!(
        table.contains(&grantee) && table.contains("BIND_QUEUE"),
        "{table}"
    );
    let answer = cli
        .json(&sub(
            "enhanced",
            &["unshare", "vpc_a", "--project-id", &grantee],
        ))
        .await;
    assert_eq!(answer[0]["is_success"], true, "{answer}");
    assert_eq!(
        cli.json(&sub("enhanced", &["privileges", "vpc_a"])).await["count"],
        0
    );

    // --status DELETED with --tag could never match: refused before anything is sent.
    let output = cli
        .run(&sub(
            "enhanced",
            &["list", "--status", "deleted", "--tag", "team=data"],
        ))
        .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("deleted with it"),
        "{}",
        stderr(&output)
    );
    let output = cli
        .run(&sub("enhanced", &["list", "--status", "bogus"]))
        .await;
    assert_eq!(output.status.code(), Some(2));

    // delete by name.
    assert_eq!(
        cli.ok(&sub("enhanced", &["delete", "vpc_a"])).await.trim(),
        format!("deleted {id}")
    );
    let output = cli.run(&sub("enhanced", &["show", "vpc_a"])).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}

#[tokio::test]
async fn token_and_credential_create_print_only_the_secret_when_piped_and_take_dash_o() {
    let data = tempfile::tempdir().expect("temp dir");
    let dir = data.path().to_str().expect("utf-8 path");
    let admin = |args: &[&str]| {
        let mut command = dsconn(data.path());
        command.args(args).args(["--data-dir", dir]);
        command
    };
    // stdout is a pipe here: the bare token, the labels on stderr.
    let output = run(admin(&["token", "create", "--all-projects"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output);
    assert_eq!(token.lines().count(), 1, "{token}");
    assert!(!token.contains(' '), "{token}");
    assert!(
        stderr(&output).contains("X-Auth-Token"),
        "{}",
        stderr(&output)
    );
    let output = run(admin(&["token", "create", "--all-projects", "--quiet"])).await;
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 1);

    let output = run(admin(&["credential", "create", "--all-projects"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let pair = words(stdout(&output).trim()).len();
    assert_eq!(pair, 2, "ACCESS_KEY SECRET_KEY: {}", stdout(&output));

    // -o json on every admin command.
    let issued = json_of(&run(admin(&["token", "create", "--all-projects", "-o", "json"])).await);
    let id = issued["id"].as_str().expect("id").to_owned();
    let credential = json_of(
        &run(admin(&[
            "credential",
            "create",
            "--all-projects",
            "-o",
            "json",
        ]))
        .await,
    );
    let access_key = credential["access_key"].as_str().expect("ak").to_owned();
    assert!(json_of(&run(admin(&["token", "list", "-o", "json"])).await).is_array());
    assert!(json_of(&run(admin(&["credential", "list", "-o", "json"])).await).is_array());
    assert_eq!(
        json_of(&run(admin(&["token", "revoke", &id, "-o", "json"])).await)["status"],
        "revoked"
    );
    assert_eq!(
        json_of(&run(admin(&["credential", "revoke", &access_key, "-o", "json"])).await)["status"],
        "revoked"
    );
}

/// Runs `command` with a terminal (a pseudo-terminal) as its standard input and error,
/// answers `answer` once the command has turned echo off, and returns its exit status
/// with everything the terminal showed.
async fn run_on_terminal(
    mut command: Command,
    answer: &'static str,
) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    use std::time::{Duration, Instant};

    use nix::sys::termios::{LocalFlags, tcgetattr};

    tokio::task::spawn_blocking(move || {
        let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
        let slave_for_stdin = pty.slave.try_clone().expect("slave fd");
        let mut child = command
            .stdin(Stdio::from(slave_for_stdin))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(pty.slave))
            .spawn()
            .expect("dsconn runs");
        // The parent's copies of the slave go with the command, so that the master reads
        // end of file (EIO) once the child has exited.
        drop(command);
        let mut master = std::fs::File::from(pty.master);
        // Wait for the prompt, then for echo to be off: text typed before that would be
        // echoed by the terminal itself, whatever the command does.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut shown = Vec::new();
        let mut buffer = [0u8; 256];
        while !String::from_utf8_lossy(&shown).contains("password: ") {
            assert!(Instant::now() < deadline, "no prompt: {shown:?}");
            let read = master.read(&mut buffer).expect("terminal output");
            assert!(read > 0, "the command ended before it asked");
            shown.extend_from_slice(&buffer[..read]);
        }
        while tcgetattr(&master)
            .expect("terminal settings")
            .local_flags
            .contains(LocalFlags::ECHO)
        {
            assert!(Instant::now() < deadline, "echo stayed on");
            std::thread::sleep(Duration::from_millis(10));
        }
        master.write_all(answer.as_bytes()).expect("typed");
        let status = child.wait().expect("exit status");
        // Whatever the terminal showed after the answer (EIO once the child is gone).
        loop {
            match master.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => shown.extend_from_slice(&buffer[..read]),
            }
        }
        (status, String::from_utf8_lossy(&shown).into_owned())
    })
    .await
    .expect("joined")
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_info_create_asks_for_the_password_on_a_terminal_without_echoing_it() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let cli = Cli {
        app: &app,
        home: home.path(),
        project: new_project(),
    };
    let create = cli.command(&sub(
        "auth-info",
        &[
            "create",
            "typed_login",
            "--type",
            "passwd",
            "--user-name",
            "etl",
        ],
    ));
    let (status, shown) = run_on_terminal(create, "typed-pw-7731\n").await;
    assert!(status.success(), "{shown}");
    assert!(shown.contains("password: "), "{shown:?}");
    assert!(
        !shown.contains("typed-pw-7731"),
        "the password was echoed: {shown:?}"
    );
    let secrets = crate::auth_infos::opened_secrets(&app, &cli.project, "typed_login").await;
    assert_eq!(secrets["password"], "typed-pw-7731", "{secrets}");
}
