//! `dsconn pool ...` (issue 27), and README's enhanced example run as written.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::cli::{client, run, stderr, stdout};
use crate::helpers::{TestApp, new_project, spawn_app};

#[tokio::test]
async fn every_pool_command_works_against_the_server() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let cli = |args: &[&str]| {
        let mut command = client(&app, home.path(), &project);
        command.args(args);
        command
    };
    let output = run(cli(&[
        "pool",
        "create",
        "Pool_A",
        "--min-cu",
        "16",
        "--max-cu",
        "64",
        "--cidr",
        "192.168.0.0/20",
        "--description",
        "nightly",
    ]))
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "created elastic resource pool pool_a"
    );
    let output = run(cli(&[
        "pool", "create", "bad", "--min-cu", "64", "--max-cu", "16",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("min_cu"), "{}", stderr(&output));

    assert!(run(cli(&["queue", "create", "q1"])).await.status.success());
    let output = run(cli(&["pool", "add-queue", "pool_a", "q1"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "queue q1 is in elastic resource pool pool_a"
    );

    let output = run(cli(&["pool", "list"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATUS", "CU", "CIDR", "QUEUES", "CREATED"]
    );
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert_eq!(
        row[..5],
        ["pool_a", "AVAILABLE", "16-64", "192.168.0.0/20", "q1"]
    );

    let output = run(cli(&["pool", "show", "POOL_A"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(shown.contains("q1 (no scaling policies)"), "{shown}");
    let output = run(cli(&["pool", "show", "pool_a", "-o", "json"])).await;
    let shown: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(shown["pool_queues"][0]["queue_name"], "q1");

    // An unknown pool is named and makes the exit code 1; the others are deleted.
    let output = run(cli(&["pool", "delete", "pool_a", "missing"])).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("deleted elastic resource pool pool_a"));
    assert!(
        stderr(&output).contains("1 of 2 pool(s) not deleted"),
        "{}",
        stderr(&output)
    );
    let output = run(cli(&["pool", "list", "-o", "json"])).await;
    assert_eq!(stdout(&output).trim(), "[]");
    app.stop().await;
}

/// The shell lines of README's `sh` block that holds `dsconn enhanced create`:
/// continuations joined, comments dropped.
fn readme_enhanced_example() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let block = readme
        .split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.contains("dsconn enhanced create"))
        .expect("README has the enhanced example");
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim_end();
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            continue;
        }
        pending.push_str(line);
        if !pending.trim().is_empty() {
            lines.push(pending.trim().to_owned());
        }
        pending.clear();
    }
    lines
}

fn shell(app: &TestApp, home: &Path, project: &str, line: &str) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_dsconn"))
        .parent()
        .expect("the binary's directory")
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The environment `client` gives the binary, for a shell that finds it on PATH.
    let template = client(app, home, project);
    let mut command = Command::new("sh");
    command.args(["-c", line]).env("PATH", path);
    for (name, value) in template.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
}

#[tokio::test]
async fn the_readme_enhanced_example_runs_as_written_on_a_fresh_server() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let lines = readme_enhanced_example();
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("dsconn pool create")),
        "{lines:?}"
    );
    let mut id = String::new();
    for line in &lines {
        let line = line.replace("<id>", &id);
        let output = run(shell(&app, home.path(), &project, &line)).await;
        assert!(
            output.status.success(),
            "{line}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        if line.starts_with("dsconn enhanced create") {
            let out = stdout(&output);
            id = out
                .lines()
                .next()
                .and_then(|first| first.strip_prefix("created orders_vpc ("))
                .and_then(|rest| rest.strip_suffix(')'))
                .unwrap_or_else(|| panic!("the id in {out}"))
                .to_owned();
        }
    }
    assert!(!id.is_empty());
    app.stop().await;
}
