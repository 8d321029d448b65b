//! The real binary, stopped by signals: SIGKILL mid-check loses nothing and leaves nothing
//! stuck in CREATING; SIGTERM stops it cleanly.

use std::path::Path;
use std::time::{Duration, Instant};

use dsconn::api::connections::types::ConnectionResponse;

use crate::helpers::{
    HangingTarget, ServerProcess, TcpTarget, cli_token, create_body, new_project, token_client,
};

/// A `dsconn serve` on a data dir, checking with plain TCP connects.
fn start_server(data_dir: &Path, check_timeout: &str) -> ServerProcess {
    ServerProcess::start(&[
        "--check-timeout".as_ref(),
        check_timeout.as_ref(),
        "--probe-mode".as_ref(),
        "tcp".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
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
    let client = token_client(&cli_token(data_dir.path()))
        .build()
        .expect("client");

    let mut server = start_server(data_dir.path(), "3s");
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
    let before: dsconn::api::connections::types::ListConnectionsResponse = client
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

    let server = start_server(data_dir.path(), "3s");
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
    let mut server = start_server(data_dir.path(), "1s");
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
    let restarted = start_server(data_dir.path(), "1s");
    drop(restarted);
}

/// Group commit acknowledges a create only after the commit that holds it: a SIGKILL
/// amid many concurrent creates loses none of the acknowledged ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_amid_concurrent_creates_loses_no_acknowledged_one() {
    const CLIENTS: usize = 32;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let live = TcpTarget::start().await;
    let project = new_project();
    let client = token_client(&cli_token(data_dir.path()))
        .build()
        .expect("client");
    let mut server = start_server(data_dir.path(), "3s");
    let collection = server.collection(&project);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for client_index in 0..CLIENTS {
        let (client, collection, stop) = (client.clone(), collection.clone(), stop.clone());
        let url = live.address.to_string();
        clients.spawn(async move {
            let mut acknowledged = Vec::new();
            // Bounded: at most 200 creates per client, and the kill stops them sooner.
            for n in 0..200 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let body = create_body(&format!("c{client_index}-{n}"), "RDS", &url);
                let Ok(response) = client.post(&collection).json(&body).send().await else {
                    break; // the server is gone
                };
                if response.status() != 201 {
                    break;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    break;
                };
                acknowledged.push(body["connection_id"].as_str().expect("id").to_owned());
            }
            acknowledged
        });
    }
    // Kill while creates are in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().expect("SIGKILL sent");
    server.child.wait().expect("child reaped");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(server);
    let mut acknowledged = Vec::new();
    while let Some(ids) = clients.join_next().await {
        acknowledged.extend(ids.expect("client task"));
    }
    assert!(
        acknowledged.len() >= CLIENTS,
        "only {} creates acknowledged before the kill",
        acknowledged.len()
    );

    let server = start_server(data_dir.path(), "3s");
    for id in &acknowledged {
        let response = client
            .get(format!("{}/{id}", server.collection(&project)))
            .send()
            .await
            .expect("show sent");
        assert_eq!(response.status(), 200, "acknowledged create {id} was lost");
    }
}

/// What one client of an enhanced connection got acknowledged before the kill.
#[derive(Default)]
struct EnhancedAcks {
    bound: Vec<String>,
    routes_added: Vec<(String, String)>,
    routes_deleted: Vec<String>,
}

/// Associates, route creates and route deletes answered 200 before a SIGKILL are all
/// there after the restart (and the routes with the CIDRs they were given).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_amid_associates_and_route_changes_loses_no_acknowledged_one() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CONNECTIONS: usize = 8;
    const QUEUES: usize = 60;
    const NEW_ROUTES: usize = 60;
    const OLD_ROUTES: usize = 30;
    const KILL_AFTER: usize = 150;

    let data_dir = tempfile::tempdir().expect("temp dir");
    let project = new_project();
    let client = token_client(&cli_token(data_dir.path()))
        .build()
        .expect("client");
    let queue_args: Vec<String> = (0..QUEUES)
        .flat_map(|n| ["--queue".to_owned(), format!("q{n}")])
        .collect();
    let start = || {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--probe-mode".as_ref(),
            "tcp".as_ref(),
            "--data-dir".as_ref(),
            data_dir.path().as_os_str(),
        ];
        args.extend(queue_args.iter().map(std::ffi::OsStr::new));
        ServerProcess::start(&args)
    };
    let mut server = start();
    let base = format!(
        "http://{}/v2.0/{project}/datasource/enhanced-connections",
        server.address
    );
    let mut ids = Vec::new();
    for n in 0..CONNECTIONS {
        let response = client
            .post(&base)
            .json(
                &serde_json::json!({"name": format!("crash_{n}"), "dest_vpc_id": "v",
                                      "dest_network_id": "s"}),
            )
            .send()
            .await
            .expect("create sent");
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.expect("body");
        let id = body["connection_id"].as_str().expect("id").to_owned();
        for r in 0..OLD_ROUTES {
            let response = client
                .post(format!("{base}/{id}/routes"))
                .json(&serde_json::json!({"name": format!("old{r}"), "cidr": format!("10.200.{r}.0/24")}))
                .send()
                .await
                .expect("route sent");
            assert_eq!(response.status(), 200);
        }
        ids.push(id);
    }

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for (n, id) in ids.iter().enumerate() {
        let (client, base, id, acknowledged) = (
            client.clone(),
            base.clone(),
            id.clone(),
            Arc::clone(&acknowledged),
        );
        clients.spawn(async move {
            let mut acks = EnhancedAcks::default();
            let ok = |response: Result<reqwest::Response, reqwest::Error>| {
                matches!(response, Ok(response) if response.status() == 200)
            };
            // Interleaved so that every kind is in flight when the kill lands.
            for step in 0..QUEUES.max(NEW_ROUTES) {
                if step < QUEUES {
                    let queue = format!("q{step}");
                    let sent = client
                        .post(format!("{base}/{id}/associate-queue"))
                        .json(&serde_json::json!({"queues": [queue]}))
                        .send()
                        .await;
                    if !ok(sent) {
                        break;
                    }
                    acks.bound.push(queue);
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
                if step < NEW_ROUTES {
                    let (name, cidr) = (format!("new{step}"), format!("10.{n}.{step}.0/24"));
                    let sent = client
                        .post(format!("{base}/{id}/routes"))
                        .json(&serde_json::json!({"name": name, "cidr": cidr}))
                        .send()
                        .await;
                    if !ok(sent) {
                        break;
                    }
                    acks.routes_added.push((name, cidr));
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
                if step < OLD_ROUTES {
                    let sent = client
                        .delete(format!("{base}/{id}/routes/old{step}"))
                        .send()
                        .await;
                    if !ok(sent) {
                        break;
                    }
                    acks.routes_deleted.push(format!("old{step}"));
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
            }
            (id, acks)
        });
    }
    // Killed once enough is acknowledged: far from all of it (8 x 150 changes).
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(Instant::now() < deadline, "the changes never got going");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.child.kill().expect("SIGKILL sent");
    server.child.wait().expect("child reaped");
    drop(server);
    let mut results = Vec::new();
    while let Some(result) = clients.join_next().await {
        results.push(result.expect("client task"));
    }
    let total: usize = results
        .iter()
        .map(|(_, acks)| acks.bound.len() + acks.routes_added.len() + acks.routes_deleted.len())
        .sum();
    assert!(total >= KILL_AFTER);
    assert!(
        total < CONNECTIONS * (QUEUES + NEW_ROUTES + OLD_ROUTES),
        "the kill landed after every change was done"
    );

    let server = start();
    let base = format!(
        "http://{}/v2.0/{project}/datasource/enhanced-connections",
        server.address
    );
    for (id, acks) in &results {
        let response = client
            .get(format!("{base}/{id}"))
            .send()
            .await
            .expect("show sent");
        assert_eq!(response.status(), 200);
        let shown: serde_json::Value = response.json().await.expect("body");
        let bound: Vec<&str> = shown["available_queue_info"]
            .as_array()
            .expect("bindings")
            .iter()
            .filter_map(|binding| binding["name"].as_str())
            .collect();
        for queue in &acks.bound {
            assert!(
                bound.contains(&queue.as_str()),
                "acknowledged bind of {queue} lost: {shown}"
            );
        }
        let routes = shown["routes"].as_array().expect("routes");
        let route = |name: &str| routes.iter().find(|route| route["name"] == name);
        for (name, cidr) in &acks.routes_added {
            let found =
                route(name).unwrap_or_else(|| panic!("acknowledged route {name} lost: {shown}"));
            assert_eq!(found["cidr"], cidr.as_str(), "{shown}");
        }
        for name in &acks.routes_deleted {
            assert!(
                route(name).is_none(),
                "acknowledged delete of {name} undone: {shown}"
            );
        }
    }
}
