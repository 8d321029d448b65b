//! `dsconn pool ...` (issue 27). README's examples, the enhanced one included, are run as
//! written by `tests/readme/run`.

use serde_json::Value;

use crate::cli::{client, run, stderr, stdout};
use crate::helpers::{new_project, spawn_app};

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
