//! `dsconn enhanced ...`: the real binary against a spawned server.

use serde_json::{Value, json};

use crate::cli::{client, run, stderr, stdout};
use crate::helpers::{TestApp, create_queues, new_project, post_json, spawn_app};

/// The connection as the API shows it (E3).
async fn show_api(app: &TestApp, project: &str, id: &str) -> Value {
    let response = app
        .get(app.url(&format!(
            "/v2.0/{project}/datasource/enhanced-connections/{id}"
        )))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json body")
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| item["name"].as_str().expect("a name"))
        .collect()
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[tokio::test]
async fn every_enhanced_command_works_against_the_server_in_tables_and_json() {
    let app = spawn_app().await;
    let home = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let cli = |args: &[&str]| {
        let mut command = client(&app, home.path(), &project);
        command.arg("enhanced").args(args);
        command
    };
    create_queues(&app, &project, &["q_etl", "q_rep"]).await;
    let pool = post_json(
        &app,
        &format!("/v3/{project}/elastic-resource-pools"),
        &json!({"elastic_resource_pool_name": "pool_a", "min_cu": 64, "max_cu": 64}),
    )
    .await;
    assert_eq!(pool.status(), 200);

    // create: the connection is made, then each route is added; a refused route is named
    // and makes the exit code 1, the others are still added.
    let output = run(cli(&[
        "create",
        "orders_vpc",
        "--vpc",
        "vpc-1",
        "--subnet",
        "net-1",
        "--queue",
        "q_etl",
        "--pool",
        "pool_a",
        "--host",
        "db-primary=192.168.0.10",
        "--route",
        "r1=10.169.0.0/24",
        "--route",
        "bad=not-a-cidr",
        "--tag",
        "team=data",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let created = stdout(&output);
    let first = created.lines().next().expect("a line");
    assert!(first.starts_with("created orders_vpc ("), "{created}");
    let id = first
        .trim_start_matches("created orders_vpc (")
        .trim_end_matches(')')
        .to_owned();
    assert!(
        created.contains("added route r1 (10.169.0.0/24)"),
        "{created}"
    );
    let errors = stderr(&output);
    assert!(
        errors.contains("dsconn: route bad: DLI.")
            && errors.contains("1 of 2 route(s) were not added: bad"),
        "{errors}"
    );

    // list: the table's columns, bindings as name:status.
    let output = run(cli(&["list"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let mut lines = table.lines();
    assert_eq!(
        words(lines.next().expect("header")),
        [
            "ID", "NAME", "STATUS", "QUEUES", "POOLS", "HOSTS", "ROUTES", "CREATED"
        ]
    );
    let row = words(lines.next().expect("a row"));
    assert_eq!(&row[..3], [id.as_str(), "orders_vpc", "ACTIVE"], "{table}");
    // The server's set-up may already have moved them on from CREATING.
    assert!(
        row[3].starts_with("q_etl:") && row[4].starts_with("pool_a:"),
        "{table}"
    );
    assert_eq!(&row[5..7], ["1", "1"], "{table}");

    // list --output json: the API's JSON, with the filters sent as E2's query.
    let output = run(cli(&["list", "--output", "json", "--tag", "team=data"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let listed: Value = serde_json::from_slice(&output.stdout).expect("json list");
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["connections"][0]["id"], id.as_str());
    let output = run(cli(&["list", "-o", "json", "--tag", "team=other"])).await;
    let listed: Value = serde_json::from_slice(&output.stdout).expect("json list");
    assert_eq!(listed["count"], 0, "{listed}");
    let output = run(cli(&["list", "--status", "deleted"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).is_empty()
            && stderr(&output).contains("no enhanced connections in project"),
        "{}",
        stderr(&output)
    );

    // show: details, then bindings, hosts and routes.
    let output = run(cli(&["show", &id])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    let lines: Vec<Vec<&str>> = shown.lines().map(words).collect();
    for expected in [
        vec!["Name:", "orders_vpc"],
        vec!["Status:", "ACTIVE"],
        vec!["VPC:", "vpc-1"],
        vec!["Subnet:", "net-1"],
        vec!["Shared:", "no"],
        vec!["KIND", "NAME", "STATUS", "CHECKED", "FROM", "ERROR"],
        vec!["HOST", "IP"],
        vec!["db-primary", "192.168.0.10"],
        vec!["ROUTE", "CIDR", "CREATED"],
    ] {
        assert!(lines.contains(&expected), "{expected:?} in\n{shown}");
    }
    for prefix in [
        ["queue", "q_etl"],
        ["pool", "pool_a"],
        ["r1", "10.169.0.0/24"],
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(&prefix)),
            "{prefix:?} in\n{shown}"
        );
    }
    let output = run(cli(&["show", &id, "-o", "json"])).await;
    let json_show: Value = serde_json::from_slice(&output.stdout).expect("json show");
    assert_eq!(json_show["id"], id.as_str());
    assert_eq!(
        json_show["hosts"],
        json!([{"name": "db-primary", "ip": "192.168.0.10"}])
    );

    // bind and unbind.
    let output = run(cli(&["bind", &id, "--queue", "q_rep"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), format!("bound queue q_rep to {id}"));
    let shown = show_api(&app, &project, &id).await;
    assert_eq!(names(&shown["available_queue_info"]), ["q_etl", "q_rep"]);
    let output = run(cli(&["unbind", &id, "--queue", "q_rep", "-o", "json"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_slice(&output.stdout).expect("json answer");
    assert_eq!(answer["is_success"], true);
    let shown = show_api(&app, &project, &id).await;
    assert_eq!(names(&shown["available_queue_info"]), ["q_etl"]);
    // Neither --queue nor --pool: the server's refusal, exit 1.
    let output = run(cli(&["bind", &id])).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("DLI.0001: queues or elastic_resource_pools is required"),
        "{}",
        stderr(&output)
    );

    // hosts: replaces, and no --host clears.
    let output = run(cli(&[
        "hosts",
        &id,
        "--host",
        "a=10.0.0.1",
        "--host",
        "b=10.0.0.2",
    ]))
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        format!("{id} now has 2 host entries")
    );
    assert_eq!(
        names(&show_api(&app, &project, &id).await["hosts"]),
        ["a", "b"]
    );
    let output = run(cli(&["hosts", &id])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(show_api(&app, &project, &id).await["hosts"], json!([]));
    // A malformed --host is a usage error, and nothing is sent.
    let output = run(cli(&["hosts", &id, "--host", "just-a-name"])).await;
    assert_eq!(output.status.code(), Some(2));

    // route add and delete.
    let output = run(cli(&["route", "add", &id, "r2", "10.170.0.0/16"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(cli(&["route", "delete", &id, "r1"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), format!("deleted route r1 of {id}"));
    let routes = show_api(&app, &project, &id).await["routes"].clone();
    assert_eq!(names(&routes), ["r2"]);
    assert_eq!(routes[0]["cidr"], "10.170.0.0/16");

    // An unknown id: DLI's own text, exit 1.
    let unknown = "7b0fdd0c-0d3c-4a4e-9d39-1f7c3a0b2d5e";
    let output = run(cli(&["show", unknown])).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("DLI.0001: Connection {unknown} is not exist.")),
        "{}",
        stderr(&output)
    );

    // delete: DELETED, still shown until purged.
    let output = run(cli(&["delete", &id])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), format!("deleted {id}"));
    let shown = show_api(&app, &project, &id).await;
    assert_eq!(shown["status"], "DELETED");
    let output = run(cli(&["list", "--status", "DELETED", "-o", "json"])).await;
    let listed: Value = serde_json::from_slice(&output.stdout).expect("json list");
    assert_eq!(listed["connections"][0]["id"], id.as_str());
}
