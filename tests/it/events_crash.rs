//! The audit trail under SIGKILL (issue 28): during a concurrent load of creates, binds,
//! grants and auth-info updates the server is killed, then restarted; every acknowledged
//! change has exactly one event and no event lacks its change, on SQLite and on
//! PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::services::fresh_postgres_database;
use crate::helpers::{ServerProcess, TcpTarget, cli_token, issue_token, new_project, token_client};

/// Concurrent writers of the load.
const WRITERS: usize = 4;
/// How long the load runs before the SIGKILL.
const LOAD_FOR: Duration = Duration::from_millis(1500);

/// What the load asked for and what the server acknowledged, per kind of change.
#[derive(Default)]
struct Ledger {
    /// Connection ids whose create was acknowledged.
    created: BTreeSet<String>,
    /// `(connection id, queue)` binds acknowledged.
    bound: BTreeSet<(String, String)>,
    /// Grantee projects granted, acknowledged.
    granted: BTreeSet<String>,
    /// Auth info name to the user names its acknowledged updates set.
    updated: BTreeMap<String, BTreeSet<String>>,
    /// Every user name an update was sent with (acknowledged or not).
    attempted_users: BTreeSet<String>,
}

struct Load {
    client: reqwest::Client,
    base: String,
    project: String,
    enhanced: String,
    target: String,
    ledger: Mutex<Ledger>,
}

impl Load {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a write; whether it was acknowledged (2xx), and its answer.
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Option<Value> {
        let response = self
            .client
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// One writer: creates a connection, binds it a queue, grants the enhanced
    /// connection to a new project, updates its auth info; again, until refused.
    async fn writer(self: Arc<Self>, writer: usize) {
        let p = self.project.clone();
        let auth_info = format!("login_{writer}");
        for round in 0.. {
            let body = json!({"name": format!("w{writer}r{round}"), "service": "RDS",
                "url": self.target, "security_group_id": "sg", "network_id": "net"});
            let Some(created) = self
                .send(
                    reqwest::Method::POST,
                    &format!("/v2.0/{p}/datasource-connection"),
                    body,
                )
                .await
            else {
                return;
            };
            let id = created["connection_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.ledger
                .lock()
                .expect("ledger")
                .created
                .insert(id.clone());
            let queue = format!("q{}", round % 4);
            let bind = self
                .send(
                    reqwest::Method::POST,
                    &format!("/v2.0/{p}/datasource-connection/{id}/associate-queue"),
                    json!({"queues": [queue]}),
                )
                .await;
            if bind.is_none() {
                return;
            }
            self.ledger
                .lock()
                .expect("ledger")
                .bound
                .insert((id, queue));
            let grantee = new_project();
            let grant = self
                .send(
                    reqwest::Method::PUT,
                    &format!("/v1.0/{p}/authorization"),
                    json!({"projectId": grantee, "action": "grant", "privileges": [{
                        "object": format!("edsconnections.{}", self.enhanced),
                        "privileges": ["BIND_QUEUE"]}]}),
                )
                .await;
            if grant.is_none() {
                return;
            }
            self.ledger.lock().expect("ledger").granted.insert(grantee);
            let user = format!("u{writer}x{round}");
            self.ledger
                .lock()
                .expect("ledger")
                .attempted_users
                .insert(user.clone());
            let update = self
                .send(
                    reqwest::Method::PUT,
                    &format!("/v3/{p}/datasource/auth-infos"),
                    json!({"auth_info_name": auth_info, "user_name": user,
                        "password": "crash-pw-31c9"}),
                )
                .await;
            if update.is_none() {
                return;
            }
            self.ledger
                .lock()
                .expect("ledger")
                .updated
                .entry(auth_info.clone())
                .or_default()
                .insert(user);
        }
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("sent");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.expect("json")
}

async fn write_ok(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> Value {
    let response = client
        .request(method, url)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{url}: {status} {answer}");
    answer
}

/// Runs the load against a server started with `serve_args`, SIGKILLs it, restarts it
/// and compares what is stored with the events.
async fn sigkill_keeps_every_change_and_its_event_together(
    serve_args: Vec<OsString>,
    token: String,
) {
    let start = || {
        let args: Vec<&std::ffi::OsStr> = serve_args.iter().map(OsString::as_os_str).collect();
        ServerProcess::start(&args)
    };
    let client = token_client(&token)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let target = TcpTarget::start().await;
    let project = new_project();
    let server = start();
    let base = format!("http://{}", server.address);
    let p = &project;
    for queue in 0..4 {
        write_ok(
            &client,
            reqwest::Method::POST,
            &format!("{base}/v1.0/{p}/queues"),
            json!({"queue_name": format!("q{queue}"), "cu_count": 16}),
        )
        .await;
    }
    for writer in 0..WRITERS {
        write_ok(
            &client,
            reqwest::Method::POST,
            &format!("{base}/v3/{p}/datasource/auth-infos"),
            json!({"auth_info_name": format!("login_{writer}"), "datasource_type": "passwd",
                "user_name": "first", "password": "crash-pw-0"}),
        )
        .await;
    }
    let enhanced = write_ok(
        &client,
        reqwest::Method::POST,
        &format!("{base}/v2.0/{p}/datasource/enhanced-connections"),
        json!({"name": "shared", "dest_vpc_id": "22094d8f-c310-4621-913d-4c4d655d8495",
            "dest_network_id": "78f2562a-36e4-4b39-95b9-f5aab22e1281"}),
    )
    .await;
    let load = Arc::new(Load {
        client: client.clone(),
        base: base.clone(),
        project: project.clone(),
        enhanced: enhanced["connection_id"].as_str().expect("id").to_owned(),
        target: target.address.to_string(),
        ledger: Mutex::new(Ledger::default()),
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(Arc::clone(&load).writer(writer)))
        .collect();
    tokio::time::sleep(LOAD_FOR).await;
    server.kill();
    for writer in writers {
        writer.await.expect("writer");
    }

    let server = start();
    let base = format!("http://{}", server.address);
    let ledger = std::mem::take(&mut *load.ledger.lock().expect("ledger"));
    assert!(
        ledger.created.len() >= WRITERS,
        "the load made too little: {}",
        ledger.created.len()
    );
    // The checks the kill interrupted run again: wait for every one to end, so that
    // each state change is in what is compared below.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let listed = get(
            &client,
            &format!("{base}/v2.0/{p}/datasource-connection?limit=1000"),
        )
        .await;
        let creating = listed["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .any(|c| c["state"] == "CREATING");
        if !creating {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "checks never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = get(
            &client,
            &format!("{base}/dsconn/v1/{p}/events?order=asc&limit=1000&after={after}"),
        )
        .await;
        events.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let of = |kind: &str, action: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["resource_type"] == kind && e["action"] == action)
            .collect()
    };

    // Creates: the events name exactly the stored connections, once each.
    let listed = get(
        &client,
        &format!("{base}/v2.0/{p}/datasource-connection?limit=1000"),
    )
    .await;
    let stored: BTreeSet<String> = listed["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| c["connection_id"].as_str().expect("id").to_owned())
        .collect();
    let create_events: Vec<String> = of("connection", "create")
        .iter()
        .map(|e| e["resource_id"].as_str().expect("id").to_owned())
        .collect();
    let create_set: BTreeSet<String> = create_events.iter().cloned().collect();
    assert_eq!(
        create_events.len(),
        create_set.len(),
        "a create recorded twice"
    );
    assert_eq!(create_set, stored, "creates and their events differ");
    assert!(
        ledger.created.is_subset(&stored),
        "an acknowledged create was lost"
    );

    // Check results: each connection's end is one state event, saying its state.
    for connection in listed["connections"].as_array().expect("connections") {
        let id = connection["connection_id"].as_str().expect("id");
        let ends: Vec<&Value> = of("connection", "state")
            .into_iter()
            .filter(|e| e["resource_id"] == id)
            .collect();
        assert_eq!(ends.len(), 1, "{id}: {ends:?}");
        assert_eq!(
            ends[0]["changes"]["state"]["after"], connection["state"],
            "{id}: {connection}"
        );
    }

    // Binds: the events name exactly the stored bindings.
    let mut bindings = BTreeSet::new();
    for connection in listed["connections"].as_array().expect("connections") {
        for queue in connection["available_queue_info"]
            .as_array()
            .into_iter()
            .flatten()
        {
            bindings.insert((
                connection["connection_id"].as_str().expect("id").to_owned(),
                queue["name"].as_str().expect("queue").to_owned(),
            ));
        }
    }
    let bind_events: Vec<(String, String)> = of("connection", "bind")
        .iter()
        .flat_map(|e| {
            let id = e["resource_id"].as_str().expect("id").to_owned();
            e["changes"]["queues"]["after"]
                .as_array()
                .expect("queues")
                .iter()
                .map(move |q| (id.clone(), q.as_str().expect("queue").to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    let bind_set: BTreeSet<_> = bind_events.iter().cloned().collect();
    assert_eq!(bind_events.len(), bind_set.len(), "a bind recorded twice");
    assert_eq!(bind_set, bindings, "binds and their events differ");
    assert!(
        ledger.bound.is_subset(&bindings),
        "an acknowledged bind was lost"
    );

    // Grants: the events name exactly the stored grantees.
    let privileges = get(
        &client,
        &format!(
            "{base}/v1.0/{p}/authorization/privileges?object=edsconnections.{}",
            load.enhanced
        ),
    )
    .await;
    let grantees: BTreeSet<String> = privileges["privileges"]
        .as_array()
        .expect("privileges")
        .iter()
        .map(|g| g["project_id"].as_str().expect("project").to_owned())
        .collect();
    let grant_events: Vec<String> = of("enhanced_connection", "grant")
        .iter()
        .map(|e| {
            e["changes"]["grantee"]["after"]
                .as_str()
                .expect("grantee")
                .to_owned()
        })
        .collect();
    let grant_set: BTreeSet<String> = grant_events.iter().cloned().collect();
    assert_eq!(
        grant_events.len(),
        grant_set.len(),
        "a grant recorded twice"
    );
    assert_eq!(grant_set, grantees, "grants and their events differ");
    assert!(
        ledger.granted.is_subset(&grantees),
        "an acknowledged grant was lost"
    );

    // Auth-info updates: each acknowledged one has one event; the stored user name is
    // the last event's; no event for an update never sent.
    for writer in 0..WRITERS {
        let name = format!("login_{writer}");
        let users: Vec<String> = of("auth_info", "update")
            .iter()
            .filter(|e| e["resource_id"] == name.as_str())
            .map(|e| {
                e["changes"]["attributes"]["after"]["user_name"]
                    .as_str()
                    .expect("user")
                    .to_owned()
            })
            .collect();
        let user_set: BTreeSet<String> = users.iter().cloned().collect();
        assert_eq!(users.len(), user_set.len(), "an update recorded twice");
        assert!(
            user_set.is_subset(&ledger.attempted_users),
            "an event for an update never sent"
        );
        if let Some(acknowledged) = ledger.updated.get(&name) {
            assert!(
                acknowledged.is_subset(&user_set),
                "an acknowledged update has no event"
            );
        }
        let shown = get(
            &client,
            &format!("{base}/v3/{p}/datasource/auth-infos?auth_info_name={name}"),
        )
        .await;
        let stored_user = shown["auth_infos"][0]["user_name"]
            .as_str()
            .expect("user")
            .to_owned();
        let last = users.last().cloned().unwrap_or_else(|| "first".to_owned());
        assert_eq!(
            stored_user, last,
            "the stored auth info is not its last event's"
        );
    }
    server.kill();
}

#[tokio::test]
async fn sigkill_during_writes_keeps_changes_and_events_equal_on_sqlite() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let token = cli_token(data_dir.path());
    let args = vec![
        OsString::from("--probe-mode"),
        "tcp".into(),
        "--max-connections-per-client".into(),
        "256".into(),
        "--data-dir".into(),
        data_dir.path().into(),
    ];
    sigkill_keeps_every_change_and_its_event_together(args, token).await;
}

#[tokio::test]
async fn sigkill_during_writes_keeps_changes_and_events_equal_on_postgres() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let keys = tempfile::tempdir().expect("temp dir");
    let secret_key = keys.path().join("secret.key");
    let store_args = [
        "--database-url".as_ref(),
        std::ffi::OsStr::new(database.url()),
        "--secret-key-file".as_ref(),
        secret_key.as_os_str(),
    ];
    let token = issue_token(&store_args);
    let mut args: Vec<OsString> = store_args.iter().map(|arg| arg.to_os_string()).collect();
    args.extend([
        // The killed server's claims on checks lapse quickly: the restarted one (another
        // process on the same database) takes them over.
        OsString::from("--lease-grace"),
        "1s".into(),
        "--check-timeout".into(),
        "2s".into(),
        "--probe-mode".into(),
        "tcp".into(),
        "--max-connections-per-client".into(),
        "256".into(),
        "--data-dir".into(),
        keys.path().into(),
    ]);
    sigkill_keeps_every_change_and_its_event_together(args, token).await;
    database.drop_now().await;
}
