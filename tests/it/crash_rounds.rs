//! Twenty rounds of SIGKILL in the middle of a create/delete storm against the real
//! binary: after each restart the SQLite file passes `PRAGMA integrity_check`, every
//! create the server acknowledged is there, and every acknowledged delete is DELETED.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsconn::api::connections::types::ListConnectionsResponse;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::helpers::{
    ServerProcess, TcpTarget, cli_token, closed_port, create_body, new_project, token_client,
};

const ROUNDS: usize = 20;
const WORKERS: usize = 4;
/// Each round's storm runs this long (uniformly at random) before the kill.
const STORM_MS: std::ops::RangeInclusive<u64> = 100..=400;
/// A worker sends at most this many requests per round, whatever the timing.
const MAX_REQUESTS_PER_WORKER: usize = 500;
/// The SQLite file in the data dir (`store::sqlite::DATABASE_FILE`, which is private).
const DATABASE_FILE: &str = "dsconn.db";

/// A `dsconn serve` on the data dir, checking with plain TCP connects.
fn start_server(data_dir: &Path) -> ServerProcess {
    ServerProcess::start(&[
        "--probe-mode".as_ref(),
        "tcp".as_ref(),
        "--check-timeout".as_ref(),
        "1s".as_ref(),
        // The storm creates far more than the default per-project budgets allow.
        "--checks-per-minute".as_ref(),
        "1000000".as_ref(),
        "--connection-quota".as_ref(),
        "100000".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
}

/// What the client was told, across all rounds.
#[derive(Default)]
struct Ledger {
    /// Acknowledged creates (201) not known to be deleted: id -> name.
    live: BTreeMap<String, String>,
    /// Acknowledged deletes (200).
    deleted: BTreeSet<String>,
    /// Deletes sent but not answered before the kill: either state is right.
    in_doubt: BTreeSet<String>,
    /// Requests that got no answer because the server died under them.
    lost: usize,
    /// Deletes refused because the connection was still CREATING (DLI.0007).
    refused_creating: usize,
    /// Statuses or transport errors no request should see.
    unexpected: Vec<String>,
}

struct Storm {
    client: reqwest::Client,
    collection: String,
    round: usize,
    live_url: String,
    refused_url: String,
    ledger: Arc<Mutex<Ledger>>,
    killed: Arc<AtomicBool>,
}

impl Storm {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().expect("ledger lock")
    }

    /// Records a transport error: expected only once the kill has been decided.
    fn lost(&self, what: &str, error: &reqwest::Error) {
        let mut ledger = self.ledger();
        if self.killed.load(Ordering::SeqCst) {
            ledger.lost += 1;
        } else {
            ledger
                .unexpected
                .push(format!("{what}: no answer before the kill: {error}"));
        }
    }

    async fn worker(self: Arc<Self>, worker: usize, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        for sequence in 0..MAX_REQUESTS_PER_WORKER {
            if self.killed.load(Ordering::SeqCst) {
                return;
            }
            let victim = {
                let ledger = self.ledger();
                (rng.gen_bool(0.4) && !ledger.live.is_empty()).then(|| {
                    let index = rng.gen_range(0..ledger.live.len());
                    ledger.live.keys().nth(index).cloned().unwrap_or_default()
                })
            };
            match victim {
                Some(id) => self.delete(&id).await,
                None => {
                    let name = format!("r{}w{worker}n{sequence}", self.round);
                    let url = if rng.gen_bool(0.5) {
                        &self.live_url
                    } else {
                        &self.refused_url
                    };
                    self.create(&name, url).await;
                }
            }
        }
    }

    async fn create(&self, name: &str, url: &str) {
        let sent = self
            .client
            .post(&self.collection)
            .json(&create_body(name, "RDS", url))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return self.lost(&format!("create {name}"), &error),
        };
        let status = response.status().as_u16();
        let body: serde_json::Value = match response.json().await {
            Ok(body) => body,
            Err(error) => return self.lost(&format!("create {name} body"), &error),
        };
        let mut ledger = self.ledger();
        match body["connection_id"].as_str() {
            Some(id) if status == 201 => {
                ledger.live.insert(id.to_owned(), name.to_owned());
            }
            _ => ledger
                .unexpected
                .push(format!("create {name}: {status} {body}")),
        }
    }

    async fn delete(&self, id: &str) {
        let sent = self
            .client
            .delete(format!("{}/{id}", self.collection))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                self.ledger().in_doubt.insert(id.to_owned());
                return self.lost(&format!("delete {id}"), &error);
            }
        };
        let status = response.status().as_u16();
        let body: serde_json::Value = match response.json().await {
            Ok(body) => body,
            Err(error) => {
                self.ledger().in_doubt.insert(id.to_owned());
                return self.lost(&format!("delete {id} body"), &error);
            }
        };
        let mut ledger = self.ledger();
        match (status, body["error_code"].as_str()) {
            (200, _) => {
                ledger.live.remove(id);
                ledger.in_doubt.remove(id);
                ledger.deleted.insert(id.to_owned());
            }
            (400, Some("DLI.0007")) => ledger.refused_creating += 1,
            _ => ledger
                .unexpected
                .push(format!("delete {id}: {status} {body}")),
        }
    }
}

/// Opens the database file beside the running server and runs SQLite's own check.
async fn integrity_check(data_dir: &Path) -> Vec<String> {
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    let options = SqliteConnectOptions::new()
        .filename(data_dir.join(DATABASE_FILE))
        .create_if_missing(false);
    let mut connection = SqliteConnection::connect_with(&options)
        .await
        .expect("the database opens");
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut connection)
        .await
        .expect("integrity_check runs");
    connection.close().await.expect("closed");
    rows
}

async fn list_all(client: &reqwest::Client, collection: &str) -> ListConnectionsResponse {
    let response = client.get(collection).send().await.expect("list sent");
    assert_eq!(response.status(), 200, "list after restart");
    response.json().await.expect("list body")
}

/// Checks the listed data against the ledger, and settles deletes that were in doubt.
fn check_against_ledger(round: usize, listed: &ListConnectionsResponse, ledger: &mut Ledger) {
    let states: BTreeMap<&str, &str> = listed
        .connections
        .iter()
        .map(|c| (c.connection_id.as_str(), c.state.as_str()))
        .collect();
    assert_eq!(
        usize::try_from(listed.count).expect("count fits"),
        listed.connections.len(),
        "round {round}: count differs from the listed connections"
    );
    for id in &ledger.deleted {
        assert_eq!(
            states.get(id.as_str()).copied(),
            Some("DELETED"),
            "round {round}: acknowledged delete of {id} lost"
        );
    }
    let mut settled = Vec::new();
    for (id, name) in &ledger.live {
        let state = states.get(id.as_str()).copied();
        assert!(
            state.is_some(),
            "round {round}: acknowledged create {id} ({name}) is gone"
        );
        if state == Some("DELETED") {
            assert!(
                ledger.in_doubt.contains(id),
                "round {round}: {id} ({name}) is DELETED but no delete was sent"
            );
            settled.push(id.clone());
        }
    }
    for id in settled {
        ledger.live.remove(&id);
        ledger.deleted.insert(id);
    }
    ledger.in_doubt.clear();

    let mut names = HashSet::new();
    for connection in listed.connections.iter().filter(|c| c.state != "DELETED") {
        assert!(
            names.insert(connection.name.as_str()),
            "round {round}: two live connections are named {}",
            connection.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sigkills_during_a_create_delete_storm_lose_no_acknowledged_change() {
    let started = Instant::now();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let live = TcpTarget::start().await;
    let refused = closed_port();
    let project = new_project();
    let client = token_client(&cli_token(data_dir.path()))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let seed: u64 = rand::random();
    eprintln!("crash rounds: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut server = start_server(data_dir.path());
    for round in 0..ROUNDS {
        let killed = Arc::new(AtomicBool::new(false));
        let storm = Arc::new(Storm {
            client: client.clone(),
            collection: server.collection(&project),
            round,
            live_url: live.address.to_string(),
            refused_url: format!("127.0.0.1:{refused}"),
            ledger: Arc::clone(&ledger),
            killed: Arc::clone(&killed),
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let seed = rng.r#gen::<u64>();
                tokio::spawn(Arc::clone(&storm).worker(worker, seed))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(STORM_MS))).await;
        killed.store(true, Ordering::SeqCst);
        server.kill();
        for worker in workers {
            worker.await.expect("storm worker");
        }

        server = start_server(data_dir.path());
        let rows = integrity_check(data_dir.path()).await;
        assert_eq!(rows, ["ok"], "round {round}: integrity_check");
        let listed = list_all(&client, &server.collection(&project)).await;
        let mut ledger = ledger.lock().expect("ledger lock");
        assert!(
            ledger.unexpected.is_empty(),
            "round {round}: unexpected answers:\n{}",
            ledger.unexpected.join("\n")
        );
        check_against_ledger(round, &listed, &mut ledger);
    }

    // Checks interrupted by a kill are taken up again: nothing stays CREATING.
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let listed = list_all(&client, &server.collection(&project)).await;
        if listed.connections.iter().all(|c| c.state != "CREATING") {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "connections still CREATING 20 s after the last restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ledger = ledger.lock().expect("ledger lock");
    eprintln!(
        "crash rounds: {ROUNDS} kills in {:.1?}; acknowledged {} live + {} deleted; {} listed; \
         {} requests cut off by a kill; {} deletes refused while CREATING",
        started.elapsed(),
        ledger.live.len(),
        ledger.deleted.len(),
        listed.connections.len(),
        ledger.lost,
        ledger.refused_creating,
    );
    assert!(
        ledger.live.len() + ledger.deleted.len() >= ROUNDS,
        "the storm acknowledged too few creates to prove anything"
    );
    assert!(!ledger.deleted.is_empty(), "no delete was acknowledged");
    drop(ledger);
    drop(server);
}
