//! The real binary, stopped by signals: SIGKILL mid-check loses nothing and leaves nothing
//! stuck in CREATING; SIGTERM stops it cleanly.

use std::path::Path;
use std::time::{Duration, Instant};

use dsconn::api::types::ConnectionResponse;

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
    let before: dsconn::api::types::ListConnectionsResponse = client
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
