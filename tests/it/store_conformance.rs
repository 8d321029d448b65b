//! One story of store operations, written once and run against every backend: SQLite in
//! a temp dir and PostgreSQL in a database of its own (created, then dropped). Each story
//! opens two handles on the same database, as two replicas would, so that claims, leases,
//! quotas and lockout counters are shown to hold across processes and not only within one.
//!
//! PostgreSQL comes from `DSCONN_TEST_POSTGRES_URL` (see `helpers::services`); when it
//! is not reachable the PostgreSQL cases are skipped with a message, or fail under
//! `DSCONN_REQUIRE_SERVICES=1` (as in scripts/test).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsconn::domain::{
    ConnectionId, ConnectionState, ProjectId, ProjectScope, QueueName, Service, TagFilter, Tags,
};
use dsconn::store::{
    AgentClaim, AgentKey, BindingConnectivity, ClaimTerms, ConnectionKey, ConnectivityOf,
    EnhancedBind, HeldCheck, HeldWork, NewAgent, NewTask, QueueWorkKind, QueuesToBind,
    RegisterOutcome, TaskResult,
};
use dsconn::store::{
    BindingOutcome, BindingResult, CheckResult, ConnectionRecord, Connectivity, CreateNamedOutcome,
    DATABASE_FILE, DeleteNamedOutcome, DeleteOutcome, DynStore, ListQuery, NewConnection,
    NewCredential, NewQueue, NewToken, PgStore, ReactivateOutcome, SortOrder, SqliteStore,
    StoreError,
};
use rstest::rstest;
use sqlx::{Connection, Executor, PgConnection};
use tokio::task::JoinSet;

use crate::helpers::services::{TestDatabase, admin_connection, fresh_postgres_database};

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Two handles on one fresh database, as two replicas (or a server and an admin command)
/// would hold.
struct Stores {
    first: DynStore,
    second: DynStore,
    _dir: Option<tempfile::TempDir>,
    database: Option<TestDatabase>,
}

/// A held piece of queue work, as its claimer reports on it.
fn held<'a, K>(key: K, queue: &'a str, owner: &'a str) -> HeldWork<'a, K> {
    HeldWork { key, queue, owner }
}

/// An agent's claim of up to `limit` pieces of its queues' work.
fn agent_claim<'a>(
    project: &'a ProjectId,
    agent_id: &'a str,
    lease: Duration,
    limit: u32,
    now: i64,
) -> AgentClaim<'a> {
    AgentClaim {
        agent: AgentKey::new(project, agent_id),
        lease,
        limit,
        now,
    }
}

const TEST_POOL_SIZE: u32 = 5;
const TEST_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// None when the backend's server is missing and services are not required (a skip).
async fn open(backend: Backend) -> Option<Stores> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let first = SqliteStore::open(dir.path()).await.expect("sqlite opens");
            let second = SqliteStore::open_for_admin(dir.path())
                .await
                .expect("sqlite opens a second time");
            Some(Stores {
                first: Arc::new(first),
                second: Arc::new(second),
                _dir: Some(dir),
                database: None,
            })
        }
        Backend::Postgres => {
            let database = fresh_postgres_database().await?;
            let connect = || PgStore::connect(database.url(), TEST_POOL_SIZE, TEST_ACQUIRE_TIMEOUT);
            let (first, second) = tokio::join!(connect(), connect());
            let first = first.expect("postgres connects");
            let second = second.expect("postgres connects again");
            // Both migrate at once, as two replicas starting together do.
            let (migrated_first, migrated_second) = tokio::join!(first.migrate(), second.migrate());
            migrated_first.expect("first migration");
            migrated_second.expect("second migration");
            Some(Stores {
                first: Arc::new(first),
                second: Arc::new(second),
                _dir: None,
                database: Some(database),
            })
        }
    }
}

impl Stores {
    async fn finish(self) {
        self.first.close().await;
        self.second.close().await;
        if let Some(database) = self.database {
            database.drop_now().await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

/// An arbitrary epoch-ms origin; every time in a story is an offset from it.
const T0: i64 = 1_700_000_000_000;
const LEASE: Duration = Duration::from_secs(30);
const LEASE_MS: i64 = 30_000;

fn project(raw: &str) -> ProjectId {
    ProjectId::parse(raw).expect("valid project id")
}

fn queues(names: &[&str]) -> Vec<QueueName> {
    names
        .iter()
        .map(|name| QueueName::parse(name).expect("valid queue"))
        .collect()
}

fn connection(
    project: &ProjectId,
    name: &str,
    service: Service,
    tags: &[(&str, &str)],
    queue_names: &[&str],
    create_time: i64,
) -> NewConnection {
    let pairs: Vec<(String, String)> = tags
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    NewConnection {
        id: ConnectionId::generate(),
        project_id: project.clone(),
        name: name.to_owned(),
        service,
        destination: format!("10.0.0.{}:{}", create_time % 200, service.default_port()),
        security_group_id: "sg-0123".to_owned(),
        network_id: "net-0123".to_owned(),
        tags: Tags::parse(&pairs).expect("valid tags"),
        queues: queues(queue_names),
        // The stories of bindings bind declared queues; `queue_story` binds stored ones.
        declared_queues: queues(queue_names),
        create_time,
        session: None,
    }
}

fn active(next_check_at: Option<i64>) -> CheckResult {
    CheckResult {
        state: ConnectionState::Active,
        process: 1.0,
        connection_url: "10.0.0.1:3306".to_owned(),
        message: String::new(),
        failure_reason: None,
        report: r#"{"outcome":"reachable"}"#.to_owned(),
        next_check_at,
        normalized_url: "10.0.0.1:3306".to_owned(),
    }
}

fn failed() -> CheckResult {
    CheckResult {
        state: ConnectionState::Failed,
        process: 1.0,
        connection_url: String::new(),
        message: "10.0.0.2:8000: connection refused".to_owned(),
        failure_reason: Some("CONNECTION_REFUSED".to_owned()),
        report: r#"{"outcome":"refused"}"#.to_owned(),
        next_check_at: None,
        normalized_url: "10.0.0.2:8000".to_owned(),
    }
}

fn connectivity(reachable: bool, next_check_at: Option<i64>) -> Connectivity {
    Connectivity {
        reachable,
        report: format!(r#"{{"reachable":{reachable}}}"#),
        next_check_at,
        server_bindings: Some(NO_AGENT_ONLINE),
    }
}

fn binding_result(active: bool) -> BindingResult {
    BindingResult {
        active,
        err_msg: if active {
            String::new()
        } else {
            "queue cannot reach it".to_owned()
        },
        failure_reason: (!active).then(|| "CONNECTION_REFUSED".to_owned()),
        checked_from: "server".to_owned(),
        next_check_at: T0 + 3_600_000,
        reachable: active,
        credentials: Default::default(),
    }
}

/// An online threshold no agent meets: every queue's work is the server's.
const NO_AGENT_ONLINE: i64 = i64::MAX;

fn list_query(adjust: impl FnOnce(&mut ListQuery)) -> ListQuery {
    let mut query = ListQuery::default();
    adjust(&mut query);
    query
}

async fn get(store: &DynStore, project: &ProjectId, id: ConnectionId) -> ConnectionRecord {
    store
        .get_connection(project, id)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("connection {id} exists"))
}

/// Names of a list's page, in order, and the total.
async fn names(store: &DynStore, project: &ProjectId, query: &ListQuery) -> (Vec<String>, u64) {
    let page = store.list_connections(project, query).await.expect("list");
    (
        page.connections.into_iter().map(|c| c.name).collect(),
        page.total,
    )
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> ConnectionId) -> Vec<ConnectionId> {
    items.iter().map(id).collect()
}

// ---------------------------------------------------------------------------------------
// Stories
// ---------------------------------------------------------------------------------------

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn connections_are_created_listed_deleted_and_purged_alike(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    connection_story(&stores.first).await;
    stores.finish().await;
}

async fn connection_story(store: &DynStore) {
    let pa = project("proj-a");
    let pb = project("proj-b");
    store.ping().await.expect("ping");

    // Create, with tags and queues; the same name in another project is another name.
    let alpha = connection(
        &pa,
        "alpha",
        Service::Rds,
        &[("env", "prod"), ("team", "data")],
        &["q_two", "q_one"],
        T0 + 1,
    );
    let beta = connection(&pa, "beta", Service::Dws, &[("env", "dev")], &[], T0 + 2);
    let gamma = connection(&pa, "Gamma_DB", Service::Rds, &[], &[], T0 + 3);
    let other = connection(&pb, "alpha", Service::Css, &[], &[], T0 + 4);
    for new in [&alpha, &beta, &gamma, &other] {
        store.create_connection(new, 3).await.expect("create");
    }

    // A live name cannot be taken twice; a full project refuses before looking at names.
    let again = connection(&pa, "alpha", Service::Rds, &[], &[], T0 + 5);
    assert!(matches!(
        store.create_connection(&again, 10).await,
        Err(StoreError::DuplicateName)
    ));
    assert!(matches!(
        store.create_connection(&again, 3).await,
        Err(StoreError::QuotaExceeded { quota: 3 })
    ));
    let fresh = connection(&pa, "delta", Service::Rds, &[], &[], T0 + 5);
    assert!(matches!(
        store.create_connection(&fresh, 3).await,
        Err(StoreError::QuotaExceeded { quota: 3 })
    ));
    assert!(matches!(
        store
            .create_connection(
                &connection(&project("proj-empty"), "x", Service::Rds, &[], &[], T0),
                0
            )
            .await,
        Err(StoreError::QuotaExceeded { quota: 0 })
    ));
    assert!(
        store
            .get_connection(&pa, fresh.id)
            .await
            .expect("get")
            .is_none()
    );

    // Get: every field as created, bindings sorted by queue name.
    let got = get(store, &pa, alpha.id).await;
    assert_eq!(got.id, alpha.id);
    assert_eq!(got.project_id, "proj-a");
    assert_eq!(got.name, "alpha");
    assert_eq!(got.service, Service::Rds);
    assert_eq!(got.destination, alpha.destination);
    assert_eq!(got.security_group_id, "sg-0123");
    assert_eq!(got.network_id, "net-0123");
    assert_eq!(got.tags.parsed(), alpha.tags.as_slice());
    assert_eq!(got.state, ConnectionState::Creating);
    assert_eq!(got.process, 0.0);
    assert_eq!(
        (got.connection_url.as_str(), got.message.as_str()),
        ("", "")
    );
    assert_eq!((got.create_time, got.update_time), (T0 + 1, T0 + 1));
    assert_eq!(
        (got.failure_reason, got.connectivity, got.last_checked_at),
        (None, None, None)
    );
    assert_eq!(got.check_report, None);
    let bound: Vec<(&str, &str)> = got
        .queues
        .iter()
        .map(|q| (q.queue_name.as_str(), q.status.as_str()))
        .collect();
    assert_eq!(bound, [("q_one", "CREATING"), ("q_two", "CREATING")]);
    assert!(
        got.queues
            .iter()
            .all(|q| q.err_msg.is_empty() && q.connectivity.is_none() && q.update_time == T0 + 1)
    );
    assert_ne!(got.queues[0].peer_id, got.queues[1].peer_id);
    // Another project's id, and an unknown id, are not found.
    assert!(
        store
            .get_connection(&pb, alpha.id)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        store
            .get_connection(&pa, ConnectionId::generate())
            .await
            .expect("get")
            .is_none()
    );

    // Find a live connection by its exact name.
    let found = store
        .find_live_connection_by_name(&pa, "alpha")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(
        (found.id, found.tags.parsed().as_slice()),
        (alpha.id, alpha.tags.as_slice())
    );
    assert_eq!(
        store
            .find_live_connection_by_name(&pb, "alpha")
            .await
            .expect("find")
            .map(|c| c.id),
        Some(other.id)
    );
    for (project, name) in [(&pa, "ALPHA"), (&pa, "nope"), (&pb, "beta")] {
        assert!(
            store
                .find_live_connection_by_name(project, name)
                .await
                .expect("find")
                .is_none()
        );
    }

    // List: newest first by default, every filter, paging and totals.
    let all = store
        .list_connections(&pa, &ListQuery::default())
        .await
        .expect("list");
    assert_eq!(all.total, 3);
    assert_eq!(
        ids(&all.connections, |c| c.id),
        [gamma.id, beta.id, alpha.id]
    );
    assert_eq!(
        all.connections[2].queues.len(),
        2,
        "a page carries its bindings"
    );
    assert!(
        all.connections[2].check_report.is_none(),
        "a page carries no check report"
    );
    let cases: Vec<(ListQuery, Vec<&str>, u64)> = vec![
        (
            list_query(|q| q.order = SortOrder::Ascending),
            vec!["alpha", "beta", "Gamma_DB"],
            3,
        ),
        (
            list_query(|q| q.limit = Some(2)),
            vec!["Gamma_DB", "beta"],
            3,
        ),
        (
            list_query(|q| {
                q.limit = Some(2);
                q.offset = 2;
            }),
            vec!["alpha"],
            3,
        ),
        (list_query(|q| q.offset = 1), vec!["beta", "alpha"], 3),
        (list_query(|q| q.offset = 5), vec![], 3),
        (list_query(|q| q.limit = Some(0)), vec![], 3),
        (
            list_query(|q| q.name_contains = Some("ALP".to_owned())),
            vec!["alpha"],
            1,
        ),
        (
            list_query(|q| q.name_contains = Some("db".to_owned())),
            vec!["Gamma_DB"],
            1,
        ),
        (
            list_query(|q| q.name_contains = Some(String::new())),
            vec!["Gamma_DB", "beta", "alpha"],
            3,
        ),
        (
            list_query(|q| q.name_contains = Some("%".to_owned())),
            vec![],
            0,
        ),
        (
            list_query(|q| q.states = vec![ConnectionState::Creating]),
            vec!["Gamma_DB", "beta", "alpha"],
            3,
        ),
        (
            list_query(|q| q.states = vec![ConnectionState::Active, ConnectionState::Failed]),
            vec![],
            0,
        ),
        (
            list_query(|q| q.service = Some(Service::Rds)),
            vec!["Gamma_DB", "alpha"],
            2,
        ),
        (list_query(|q| q.service = Some(Service::Css)), vec![], 0),
        (
            list_query(|q| q.tags = TagFilter::parse("env=prod").expect("filter")),
            vec!["alpha"],
            1,
        ),
        (
            list_query(|q| q.tags = TagFilter::parse("env").expect("filter")),
            vec!["beta", "alpha"],
            2,
        ),
        (
            list_query(|q| q.tags = TagFilter::parse("env,team=data").expect("filter")),
            vec!["alpha"],
            1,
        ),
        (
            list_query(|q| q.tags = TagFilter::parse("env=prod,team=x").expect("filter")),
            vec![],
            0,
        ),
        (
            list_query(|q| {
                q.tags = TagFilter::parse("env").expect("filter");
                q.service = Some(Service::Rds);
                q.order = SortOrder::Ascending;
                q.limit = Some(1);
            }),
            vec!["alpha"],
            1,
        ),
    ];
    for (query, expected, total) in cases {
        assert_eq!(
            names(store, &pa, &query).await,
            (owned(&expected), total),
            "{query:?}"
        );
    }
    assert_eq!(
        names(store, &pb, &ListQuery::default()).await,
        (owned(&["alpha"]), 1)
    );
    assert_eq!(
        names(store, &project("proj-none"), &ListQuery::default()).await,
        (vec![], 0)
    );

    // Checks end: alpha ACTIVE, beta FAILED.
    let claimed = store
        .claim_pending_checks(ClaimTerms::new("w1", LEASE, 10, T0 + 10))
        .await
        .expect("claim");
    assert_eq!(
        ids(&claimed, |c| c.id),
        [alpha.id, beta.id, gamma.id, other.id]
    );
    assert_eq!(
        (claimed[0].project_id.as_str(), claimed[0].service),
        ("proj-a", Service::Rds)
    );
    assert_eq!(claimed[0].destination, alpha.destination);
    assert!(claimed[0].endpoints().is_ok());
    assert!(
        store
            .record_check_result(
                HeldCheck {
                    id: alpha.id,
                    owner: "w1"
                },
                &active(Some(T0 + 100_000)),
                T0 + 11
            )
            .await
            .expect("record")
    );
    assert!(
        store
            .record_check_result(
                HeldCheck {
                    id: beta.id,
                    owner: "w1"
                },
                &failed(),
                T0 + 12
            )
            .await
            .expect("record")
    );
    assert!(
        !store
            .record_check_result(
                HeldCheck {
                    id: alpha.id,
                    owner: "w1"
                },
                &failed(),
                T0 + 13
            )
            .await
            .expect("record"),
        "a finished check cannot be recorded again"
    );
    let alpha_now = get(store, &pa, alpha.id).await;
    assert_eq!(alpha_now.state, ConnectionState::Active);
    assert_eq!(
        (alpha_now.process, alpha_now.connection_url.as_str()),
        (1.0, "10.0.0.1:3306")
    );
    assert_eq!(
        (alpha_now.update_time, alpha_now.last_checked_at),
        (T0 + 11, Some(T0 + 11))
    );
    assert_eq!(alpha_now.connectivity.as_deref(), Some("REACHABLE"));
    assert_eq!(
        alpha_now.check_report.as_deref(),
        Some(r#"{"outcome":"reachable"}"#)
    );
    assert_eq!(
        alpha_now.queues.len(),
        2,
        "connection checks leave bindings as they are"
    );
    let beta_now = get(store, &pa, beta.id).await;
    assert_eq!(beta_now.state, ConnectionState::Failed);
    assert_eq!(beta_now.message, "10.0.0.2:8000: connection refused");
    assert_eq!(
        beta_now.failure_reason.as_deref(),
        Some("CONNECTION_REFUSED")
    );
    assert_eq!(beta_now.connectivity.as_deref(), Some("UNREACHABLE"));
    let finished =
        list_query(|q| q.states = vec![ConnectionState::Active, ConnectionState::Failed]);
    assert_eq!(
        names(store, &pa, &finished).await,
        (owned(&["beta", "alpha"]), 2)
    );

    // Delete: CREATING is refused, unknown is not found, a finished one is soft-deleted
    // with its bindings, and deleting again says so.
    let delete = |project: ProjectId, id: ConnectionId, now: i64| {
        let store = store.clone();
        async move {
            store
                .delete_connection(&project, id, now)
                .await
                .expect("delete")
        }
    };
    assert_eq!(
        delete(pa.clone(), gamma.id, T0 + 20).await,
        DeleteOutcome::StillCreating
    );
    assert_eq!(
        delete(pa.clone(), ConnectionId::generate(), T0 + 20).await,
        DeleteOutcome::NotFound
    );
    assert_eq!(
        delete(pb.clone(), alpha.id, T0 + 20).await,
        DeleteOutcome::NotFound
    );
    assert_eq!(
        delete(pa.clone(), alpha.id, T0 + 20).await,
        DeleteOutcome::Deleted
    );
    assert_eq!(
        delete(pa.clone(), alpha.id, T0 + 21).await,
        DeleteOutcome::AlreadyDeleted
    );
    let deleted = get(store, &pa, alpha.id).await;
    assert_eq!(deleted.state, ConnectionState::Deleted);
    assert_eq!(
        (deleted.process, deleted.connection_url.as_str()),
        (0.0, "")
    );
    assert_eq!(deleted.update_time, T0 + 20);
    assert!(deleted.queues.is_empty(), "deleting removes the bindings");
    assert!(
        store
            .find_live_connection_by_name(&pa, "alpha")
            .await
            .expect("find")
            .is_none()
    );
    // A deleted connection frees its name and its place in the quota.
    let alpha2 = connection(&pa, "alpha", Service::Rds, &[], &[], T0 + 22);
    store
        .create_connection(&alpha2, 3)
        .await
        .expect("the name is free again");
    assert_eq!(
        store
            .find_live_connection_by_name(&pa, "alpha")
            .await
            .expect("find")
            .map(|c| c.id),
        Some(alpha2.id)
    );
    let deleted_only = list_query(|q| q.states = vec![ConnectionState::Deleted]);
    assert_eq!(
        names(store, &pa, &deleted_only).await,
        (owned(&["alpha"]), 1)
    );
    assert_eq!(
        names(store, &pa, &ListQuery::default()).await.1,
        4,
        "lists include DELETED"
    );

    // Reactivate: only FAILED goes back to CREATING, fresh for a new claim.
    let reactivate = |id: ConnectionId, now: i64| {
        let store = store.clone();
        let pa = pa.clone();
        async move {
            store
                .reactivate_connection(&pa, id, now)
                .await
                .expect("reactivate")
        }
    };
    assert_eq!(
        reactivate(ConnectionId::generate(), T0 + 30).await,
        ReactivateOutcome::NotFound
    );
    assert_eq!(
        store
            .reactivate_connection(&pb, beta.id, T0 + 30)
            .await
            .expect("reactivate"),
        ReactivateOutcome::NotFound
    );
    assert_eq!(
        reactivate(gamma.id, T0 + 30).await,
        ReactivateOutcome::NotFailed(ConnectionState::Creating)
    );
    assert_eq!(
        reactivate(alpha.id, T0 + 30).await,
        ReactivateOutcome::NotFailed(ConnectionState::Deleted)
    );
    assert_eq!(
        reactivate(beta.id, T0 + 30).await,
        ReactivateOutcome::Reactivated
    );
    assert_eq!(
        reactivate(beta.id, T0 + 31).await,
        ReactivateOutcome::NotFailed(ConnectionState::Creating)
    );
    let beta_again = get(store, &pa, beta.id).await;
    assert_eq!(beta_again.state, ConnectionState::Creating);
    assert_eq!(
        (
            beta_again.process,
            beta_again.message.as_str(),
            beta_again.connection_url.as_str()
        ),
        (0.0, "", "")
    );
    assert_eq!(
        (beta_again.failure_reason, beta_again.update_time),
        (None, T0 + 30)
    );
    // Its old lease is gone; gamma and other are still leased to w1.
    let reclaimed = store
        .claim_pending_checks(ClaimTerms::new("w2", LEASE, 10, T0 + 32))
        .await
        .expect("claim");
    assert_eq!(ids(&reclaimed, |c| c.id), [beta.id, alpha2.id]);

    // Associate and disassociate queues.
    let associate = |id: ConnectionId, names: &[&str]| {
        let store = store.clone();
        let pa = pa.clone();
        let names = queues(names);
        async move {
            store
                .associate_queues(
                    ConnectionKey::new(&pa, id),
                    QueuesToBind {
                        queues: &names,
                        declared: &names,
                    },
                    T0 + 40,
                )
                .await
                .expect("associate")
        }
    };
    let disassociate = |id: ConnectionId, names: &[&str]| {
        let store = store.clone();
        let pa = pa.clone();
        let names = queues(names);
        async move {
            store
                .disassociate_queues(ConnectionKey::new(&pa, id), &names, T0 + 41)
                .await
                .expect("disassociate")
        }
    };
    assert_eq!(
        associate(ConnectionId::generate(), &["q_one"]).await,
        BindingOutcome::NotFound
    );
    assert_eq!(
        associate(alpha.id, &["q_one"]).await,
        BindingOutcome::Deleted
    );
    assert_eq!(
        associate(beta.id, &["q_one", "q_three", "q_one"]).await,
        BindingOutcome::Changed(2)
    );
    assert_eq!(
        associate(beta.id, &["q_one"]).await,
        BindingOutcome::Changed(0)
    );
    assert_eq!(associate(beta.id, &[]).await, BindingOutcome::Changed(0));
    assert_eq!(
        store
            .associate_queues(
                ConnectionKey::new(&pb, beta.id),
                QueuesToBind {
                    queues: &queues(&["q_one"]),
                    declared: &queues(&["q_one"])
                },
                T0 + 40
            )
            .await
            .expect("associate"),
        BindingOutcome::NotFound
    );
    let bound = get(store, &pa, beta.id).await.queues;
    assert_eq!(
        bound
            .iter()
            .map(|q| q.queue_name.as_str())
            .collect::<Vec<_>>(),
        ["q_one", "q_three"]
    );
    assert!(
        bound
            .iter()
            .all(|q| q.status == "CREATING" && q.update_time == T0 + 40)
    );
    assert_eq!(
        disassociate(beta.id, &["q_three", "q_absent"]).await,
        BindingOutcome::Changed(1)
    );
    assert_eq!(
        disassociate(beta.id, &["q_three"]).await,
        BindingOutcome::Changed(0)
    );
    assert_eq!(
        disassociate(ConnectionId::generate(), &["q_one"]).await,
        BindingOutcome::NotFound
    );
    assert_eq!(
        disassociate(alpha.id, &["q_one"]).await,
        BindingOutcome::Deleted
    );
    assert_eq!(get(store, &pa, beta.id).await.queues.len(), 1);

    // Purge removes DELETED connections deleted strictly before the cut-off, with tags.
    assert_eq!(store.purge_deleted(T0 + 20).await.expect("purge"), 0);
    assert_eq!(store.purge_deleted(T0 + 21).await.expect("purge"), 1);
    assert!(
        store
            .get_connection(&pa, alpha.id)
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        store.purge_deleted(T0 + 1_000_000).await.expect("purge"),
        0,
        "live ones stay"
    );
    let prod = list_query(|q| q.tags = TagFilter::parse("env=prod").expect("filter"));
    assert_eq!(names(store, &pa, &prod).await, (vec![], 0));
    assert_eq!(names(store, &pa, &ListQuery::default()).await.1, 3);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn claims_and_leases_give_each_piece_of_work_to_one_owner(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    lease_story(&stores.first, &stores.second).await;
    stores.finish().await;
}

async fn lease_story(first: &DynStore, second: &DynStore) {
    let p = project("proj-leases");
    let c1 = connection(&p, "c1", Service::Rds, &[], &["q_a"], T0 + 1);
    let c2 = connection(&p, "c2", Service::Dws, &[], &[], T0 + 2);
    let c3 = connection(&p, "c3", Service::Css, &[], &[], T0 + 3);
    for new in [&c1, &c2, &c3] {
        first.create_connection(new, 10).await.expect("create");
    }

    // Pending checks: oldest first, up to the limit; the other replica gets the rest.
    let one = first
        .claim_pending_checks(ClaimTerms::new("one", LEASE, 2, T0 + 10))
        .await
        .expect("claim");
    assert_eq!(ids(&one, |c| c.id), [c1.id, c2.id]);
    let two = second
        .claim_pending_checks(ClaimTerms::new("two", LEASE, 10, T0 + 10))
        .await
        .expect("claim");
    assert_eq!(ids(&two, |c| c.id), [c3.id]);
    assert!(
        first
            .claim_pending_checks(ClaimTerms::new("one", LEASE, 10, T0 + 11))
            .await
            .expect("claim")
            .is_empty()
    );
    assert!(
        first
            .claim_pending_checks(ClaimTerms::new("one", LEASE, 0, T0 + 100_000))
            .await
            .expect("claim")
            .is_empty()
    );

    // Progress is recorded only by the owner.
    second
        .record_progress(
            HeldCheck {
                id: c1.id,
                owner: "two",
            },
            0.5,
            T0 + 12,
        )
        .await
        .expect("progress");
    assert_eq!(get(first, &p, c1.id).await.process, 0.0);
    first
        .record_progress(
            HeldCheck {
                id: c1.id,
                owner: "one",
            },
            0.5,
            T0 + 12,
        )
        .await
        .expect("progress");
    let progressed = get(second, &p, c1.id).await;
    assert_eq!((progressed.process, progressed.update_time), (0.5, T0 + 12));

    // A lease holds up to and including its end; after that anyone takes it over.
    let lease_end = T0 + 10 + LEASE_MS;
    assert!(
        second
            .claim_pending_checks(ClaimTerms::new("two", LEASE, 10, lease_end))
            .await
            .expect("claim")
            .is_empty()
    );
    let taken = second
        .claim_pending_checks(ClaimTerms::new("two", LEASE, 10, lease_end + 1))
        .await
        .expect("claim");
    assert_eq!(ids(&taken, |c| c.id), [c1.id, c2.id, c3.id]);
    // The first owner lost its claim: its progress and its result are ignored.
    first
        .record_progress(
            HeldCheck {
                id: c1.id,
                owner: "one",
            },
            0.9,
            lease_end + 2,
        )
        .await
        .expect("progress");
    assert_eq!(get(first, &p, c1.id).await.process, 0.5);
    assert!(
        !first
            .record_check_result(
                HeldCheck {
                    id: c1.id,
                    owner: "one"
                },
                &active(None),
                lease_end + 2
            )
            .await
            .expect("record")
    );
    assert_eq!(get(first, &p, c1.id).await.state, ConnectionState::Creating);
    let recheck_at = T0 + 1_000_000;
    assert!(
        second
            .record_check_result(
                HeldCheck {
                    id: c1.id,
                    owner: "two"
                },
                &active(Some(recheck_at)),
                lease_end + 3
            )
            .await
            .expect("record")
    );
    assert!(
        second
            .record_check_result(
                HeldCheck {
                    id: c2.id,
                    owner: "two"
                },
                &failed(),
                lease_end + 3
            )
            .await
            .expect("record")
    );
    // A recorded result releases the claim: nothing finished is claimed again.
    let much_later = lease_end + 10 * LEASE_MS;
    let still = first
        .claim_pending_checks(ClaimTerms::new("one", LEASE, 10, much_later))
        .await
        .expect("claim");
    assert_eq!(ids(&still, |c| c.id), [c3.id]);

    // Bindings: the same discipline.
    let t = T0 + 500_000;
    let bindings = first
        .claim_pending_bindings(ClaimTerms::new("one", LEASE, 10, t), NO_AGENT_ONLINE)
        .await
        .expect("claim bindings");
    assert_eq!(bindings.len(), 1);
    let peer = bindings[0].peer_id.clone();
    assert_eq!(bindings[0].queue_name, "q_a");
    assert_eq!(
        (bindings[0].check.id, bindings[0].check.service),
        (c1.id, Service::Rds)
    );
    assert_eq!(
        (
            bindings[0].check.project_id.as_str(),
            bindings[0].check.destination.as_str()
        ),
        ("proj-leases", c1.destination.as_str())
    );
    assert!(
        second
            .claim_pending_bindings(ClaimTerms::new("two", LEASE, 10, t), NO_AGENT_ONLINE)
            .await
            .expect("claim bindings")
            .is_empty()
    );
    assert!(
        second
            .claim_pending_bindings(
                ClaimTerms::new("two", LEASE, 10, t + LEASE_MS),
                NO_AGENT_ONLINE
            )
            .await
            .expect("claim bindings")
            .is_empty()
    );
    assert!(
        !second
            .record_binding_result(held(&peer, "q_a", "two"), &binding_result(true), t + 1)
            .await
            .expect("record binding")
    );
    let taken = second
        .claim_pending_bindings(
            ClaimTerms::new("two", LEASE, 10, t + LEASE_MS + 1),
            NO_AGENT_ONLINE,
        )
        .await
        .expect("claim bindings");
    assert_eq!(
        taken.iter().map(|b| b.peer_id.as_str()).collect::<Vec<_>>(),
        [peer.as_str()]
    );
    assert!(
        !first
            .record_binding_result(
                held(&peer, "q_a", "one"),
                &binding_result(true),
                t + LEASE_MS + 2
            )
            .await
            .expect("record binding")
    );
    assert!(
        second
            .record_binding_result(
                held(&peer, "q_a", "two"),
                &binding_result(true),
                t + LEASE_MS + 3
            )
            .await
            .expect("record binding")
    );
    assert!(
        !second
            .record_binding_result(
                held(&peer, "q_a", "two"),
                &binding_result(false),
                t + LEASE_MS + 4
            )
            .await
            .expect("record binding"),
        "a finished binding is not recorded again"
    );
    assert!(
        !second
            .record_binding_result(held("no-such-peer", "q_a", "two"), &binding_result(true), t)
            .await
            .expect("record binding")
    );
    let bound = get(first, &p, c1.id).await.queues;
    assert_eq!(bound[0].status, "ACTIVE");
    assert_eq!(bound[0].connectivity.as_deref(), Some("REACHABLE"));
    assert_eq!(
        (bound[0].last_checked_at, bound[0].update_time),
        (Some(t + LEASE_MS + 3), t + LEASE_MS + 3)
    );
    // A failing binding.
    assert_eq!(
        first
            .associate_queues(
                ConnectionKey::new(&p, c1.id),
                QueuesToBind {
                    queues: &queues(&["q_b"]),
                    declared: &queues(&["q_b"])
                },
                t + 100
            )
            .await
            .expect("associate"),
        BindingOutcome::Changed(1)
    );
    let q_b = first
        .claim_pending_bindings(ClaimTerms::new("one", LEASE, 10, t + 101), NO_AGENT_ONLINE)
        .await
        .expect("claim bindings");
    assert_eq!(
        q_b.iter()
            .map(|b| b.queue_name.as_str())
            .collect::<Vec<_>>(),
        ["q_b"]
    );
    assert!(
        first
            .record_binding_result(
                held(&q_b[0].peer_id, "q_b", "one"),
                &binding_result(false),
                t + 102
            )
            .await
            .expect("record binding")
    );
    let bound = get(first, &p, c1.id).await.queues;
    assert_eq!(
        (bound[1].queue_name.as_str(), bound[1].status.as_str()),
        ("q_b", "FAILED")
    );
    assert_eq!(bound[1].err_msg, "queue cannot reach it");
    assert_eq!(
        bound[1].failure_reason.as_deref(),
        Some("CONNECTION_REFUSED")
    );
    assert_eq!(bound[1].connectivity.as_deref(), Some("UNREACHABLE"));
    // A deleted connection's bindings go with it and are never claimed.
    first
        .associate_queues(
            ConnectionKey::new(&p, c2.id),
            QueuesToBind {
                queues: &queues(&["q_c"]),
                declared: &queues(&["q_c"]),
            },
            t + 200,
        )
        .await
        .expect("associate");
    assert_eq!(
        first
            .delete_connection(&p, c2.id, t + 201)
            .await
            .expect("delete"),
        DeleteOutcome::Deleted
    );
    assert!(
        first
            .claim_pending_bindings(ClaimTerms::new("one", LEASE, 10, t + 202), NO_AGENT_ONLINE)
            .await
            .expect("claim bindings")
            .is_empty()
    );

    // Re-checks: due at next_check_at, one owner at a time, expired leases taken over.
    assert!(
        first
            .claim_due_rechecks(ClaimTerms::new("one", LEASE, 10, recheck_at - 1))
            .await
            .expect("rechecks")
            .is_empty()
    );
    let due = first
        .claim_due_rechecks(ClaimTerms::new("one", LEASE, 10, recheck_at))
        .await
        .expect("rechecks");
    assert_eq!(ids(&due, |c| c.id), [c1.id]);
    assert_eq!(
        (due[0].service, due[0].destination.as_str()),
        (Service::Rds, c1.destination.as_str())
    );
    assert!(
        second
            .claim_due_rechecks(ClaimTerms::new("two", LEASE, 10, recheck_at + LEASE_MS))
            .await
            .expect("rechecks")
            .is_empty()
    );
    assert!(
        !second
            .record_connectivity(
                ConnectivityOf::Held(HeldCheck {
                    id: c1.id,
                    owner: "two"
                }),
                &connectivity(true, None),
                recheck_at + 1
            )
            .await
            .expect("connectivity")
    );
    let taken = second
        .claim_due_rechecks(ClaimTerms::new("two", LEASE, 10, recheck_at + LEASE_MS + 1))
        .await
        .expect("rechecks");
    assert_eq!(ids(&taken, |c| c.id), [c1.id]);
    assert!(
        !first
            .record_connectivity(
                ConnectivityOf::Held(HeldCheck {
                    id: c1.id,
                    owner: "one"
                }),
                &connectivity(true, None),
                recheck_at + LEASE_MS + 2
            )
            .await
            .expect("connectivity")
    );
    let next = recheck_at + 1_000_000;
    let checked_at = recheck_at + LEASE_MS + 3;
    assert!(
        second
            .record_connectivity(
                ConnectivityOf::Held(HeldCheck {
                    id: c1.id,
                    owner: "two"
                }),
                &connectivity(false, Some(next)),
                checked_at
            )
            .await
            .expect("connectivity")
    );
    let rechecked = get(first, &p, c1.id).await;
    assert_eq!(rechecked.connectivity.as_deref(), Some("UNREACHABLE"));
    assert_eq!(rechecked.last_checked_at, Some(checked_at));
    assert_eq!(
        rechecked.check_report.as_deref(),
        Some(r#"{"reachable":false}"#)
    );
    assert_eq!(
        rechecked.state,
        ConnectionState::Active,
        "a re-check changes connectivity only"
    );
    assert_eq!(
        rechecked.update_time,
        lease_end + 3,
        "a re-check leaves update_time"
    );
    // ACTIVE bindings follow the connection; FAILED ones keep their own result.
    assert_eq!(
        (
            rechecked.queues[0].connectivity.as_deref(),
            rechecked.queues[0].last_checked_at
        ),
        (Some("UNREACHABLE"), Some(checked_at))
    );
    assert_eq!(
        (
            rechecked.queues[1].status.as_str(),
            rechecked.queues[1].last_checked_at
        ),
        ("FAILED", Some(t + 102))
    );
    // Recording released the claim and moved the schedule.
    assert!(
        first
            .claim_due_rechecks(ClaimTerms::new("one", LEASE, 10, next - 1))
            .await
            .expect("rechecks")
            .is_empty()
    );
    let due = first
        .claim_due_rechecks(ClaimTerms::new("one", LEASE, 10, next))
        .await
        .expect("rechecks");
    assert_eq!(ids(&due, |c| c.id), [c1.id]);
    // Without an owner (an on-demand test) the record is unconditional, leaves the
    // schedule and the claim as they are.
    assert!(
        second
            .record_connectivity(
                ConnectivityOf::Unheld(c1.id),
                &connectivity(true, None),
                next + 1
            )
            .await
            .expect("connectivity")
    );
    assert_eq!(
        get(first, &p, c1.id).await.connectivity.as_deref(),
        Some("REACHABLE")
    );
    assert!(
        second
            .claim_due_rechecks(ClaimTerms::new("two", LEASE, 10, next + 2))
            .await
            .expect("rechecks")
            .is_empty(),
        "one's claim still holds"
    );
    assert!(
        first
            .record_connectivity(
                ConnectivityOf::Held(HeldCheck {
                    id: c1.id,
                    owner: "one"
                }),
                &connectivity(true, Some(next * 2)),
                next + 3
            )
            .await
            .expect("connectivity")
    );
    // Only ACTIVE connections have connectivity recorded or re-checks claimed.
    assert!(
        !first
            .record_connectivity(
                ConnectivityOf::Unheld(c3.id),
                &connectivity(true, None),
                next
            )
            .await
            .expect("connectivity")
    );
    assert!(
        !first
            .record_connectivity(
                ConnectivityOf::Unheld(c2.id),
                &connectivity(true, None),
                next
            )
            .await
            .expect("connectivity")
    );
    assert!(
        !first
            .record_connectivity(
                ConnectivityOf::Unheld(ConnectionId::generate()),
                &connectivity(true, None),
                next
            )
            .await
            .expect("connectivity")
    );
    let later = next * 2 + LEASE_MS * 10;
    let due = second
        .claim_due_rechecks(ClaimTerms::new("two", LEASE, 10, later))
        .await
        .expect("rechecks");
    assert_eq!(ids(&due, |c| c.id), [c1.id]);
    // A deleted connection is no longer re-checked.
    assert!(
        second
            .record_connectivity(
                ConnectivityOf::Held(HeldCheck {
                    id: c1.id,
                    owner: "two"
                }),
                &connectivity(true, None),
                later + 1
            )
            .await
            .expect("connectivity")
    );
    assert_eq!(
        second
            .delete_connection(&p, c1.id, later + 2)
            .await
            .expect("delete"),
        DeleteOutcome::Deleted
    );
    assert!(
        first
            .claim_due_rechecks(ClaimTerms::new("one", LEASE, 10, i64::MAX - 1))
            .await
            .expect("rechecks")
            .is_empty()
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_exceed_the_quota(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let p = project("proj-quota");
    let mut creates = JoinSet::new();
    for n in 0..20 {
        let store = if n % 2 == 0 {
            stores.first.clone()
        } else {
            stores.second.clone()
        };
        let new = connection(
            &p,
            &format!("conn{n}"),
            Service::Rds,
            &[("n", "v")],
            &["q_x"],
            T0 + n,
        );
        creates.spawn(async move { store.create_connection(&new, 5).await });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(outcome) = creates.join_next().await {
        match outcome.expect("task") {
            Ok(()) => created += 1,
            Err(StoreError::QuotaExceeded { quota: 5 }) => refused += 1,
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    assert_eq!((created, refused), (5, 15));
    let page = stores
        .first
        .list_connections(&p, &ListQuery::default())
        .await
        .expect("list");
    assert_eq!((page.total, page.connections.len()), (5, 5));
    assert!(
        page.connections
            .iter()
            .all(|c| c.queues.len() == 1 && c.tags.parsed().len() == 1)
    );
    stores.finish().await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_name_admit_exactly_one(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let p = project("proj-names");
    let mut creates = JoinSet::new();
    for n in 0..10 {
        let store = if n % 2 == 0 {
            stores.first.clone()
        } else {
            stores.second.clone()
        };
        let new = connection(&p, "same", Service::Rds, &[], &[], T0 + n);
        creates.spawn(async move { store.create_connection(&new, 100).await });
    }
    let (mut created, mut duplicates) = (0, 0);
    while let Some(outcome) = creates.join_next().await {
        match outcome.expect("task") {
            Ok(()) => created += 1,
            Err(StoreError::DuplicateName) => duplicates += 1,
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    assert_eq!((created, duplicates), (1, 9));
    assert_eq!(
        stores
            .second
            .list_connections(&p, &ListQuery::default())
            .await
            .expect("list")
            .total,
        1
    );
    stores.finish().await;
}

/// Creates connections named `{prefix}{n}` until the quota refuses one; how many it took.
async fn fill_to_quota(store: &DynStore, p: &ProjectId, prefix: &str, quota: u32) -> u32 {
    for n in 0..=quota {
        let new = connection(p, &format!("{prefix}{n}"), Service::Rds, &[], &[], T0 + 100);
        match store.create_connection(&new, quota).await {
            Ok(()) => {}
            Err(StoreError::QuotaExceeded { .. }) => return n,
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    panic!("the quota of {quota} admitted more than {quota}");
}

/// Claims every CREATING connection and records it ACTIVE, so that it can be deleted.
async fn finish_all_checks(store: &DynStore) {
    let claimed = store
        .claim_pending_checks(ClaimTerms::new("finisher", LEASE, 1000, T0 + 10))
        .await
        .expect("claim");
    for check in claimed {
        assert!(
            store
                .record_check_result(
                    HeldCheck {
                        id: check.id,
                        owner: "finisher"
                    },
                    &active(None),
                    T0 + 11
                )
                .await
                .expect("record")
        );
    }
}

async fn live_count(store: &DynStore, p: &ProjectId) -> u64 {
    let live = list_query(|q| {
        q.states = vec![
            ConnectionState::Creating,
            ConnectionState::Active,
            ConnectionState::Failed,
        ]
    });
    names(store, p, &live).await.1
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_quota_counts_live_connections_across_deletes_purges_and_replicas(
    #[case] backend: Backend,
) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let (first, second) = (&stores.first, &stores.second);
    let p = project("proj-counted");
    assert_eq!(fill_to_quota(first, &p, "a", 2).await, 2);
    finish_all_checks(first).await;
    let page = second
        .list_connections(&p, &ListQuery::default())
        .await
        .expect("list");
    let victim = page.connections[0].id;
    assert_eq!(
        second
            .delete_connection(&p, victim, T0 + 20)
            .await
            .expect("delete"),
        DeleteOutcome::Deleted
    );
    // Deleting again, and purging the DELETED row, free no further place.
    assert_eq!(
        first
            .delete_connection(&p, victim, T0 + 21)
            .await
            .expect("delete"),
        DeleteOutcome::AlreadyDeleted
    );
    assert_eq!(second.purge_deleted(T0 + 1_000).await.expect("purge"), 1);
    assert_eq!(fill_to_quota(second, &p, "b", 2).await, 1);
    // Another project's count is its own.
    assert_eq!(
        fill_to_quota(first, &project("proj-other"), "c", 1).await,
        1
    );
    assert_eq!(live_count(first, &p).await, 2);
    stores.finish().await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_deletes_keep_the_live_count_exact(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    const QUOTA: u32 = 10;
    let p = project("proj-churn");
    assert_eq!(fill_to_quota(&stores.first, &p, "seed", QUOTA).await, QUOTA);
    finish_all_checks(&stores.first).await;
    let page = stores
        .first
        .list_connections(&p, &ListQuery::default())
        .await
        .expect("list");
    let mut work = JoinSet::new();
    for (n, victim) in page.connections.iter().take(5).enumerate() {
        let store = [&stores.first, &stores.second][n % 2].clone();
        let (p, id) = (p.clone(), victim.id);
        work.spawn(async move {
            let outcome = store.delete_connection(&p, id, T0 + 30).await;
            assert_eq!(outcome.expect("delete"), DeleteOutcome::Deleted);
            false
        });
    }
    for n in 0..20 {
        let store = [&stores.first, &stores.second][n % 2].clone();
        let new = connection(&p, &format!("churn{n}"), Service::Rds, &[], &[], T0 + 40);
        work.spawn(async move {
            match store.create_connection(&new, QUOTA).await {
                Ok(()) => true,
                Err(StoreError::QuotaExceeded { .. }) => false,
                Err(error) => panic!("unexpected error: {error}"),
            }
        });
    }
    let mut created = 0;
    while let Some(outcome) = work.join_next().await {
        created += u32::from(outcome.expect("task"));
    }
    assert!(created <= 5, "{created} creates took the 5 freed places");
    // Whatever the interleaving, the count now matches the rows: exactly the places
    // left are free.
    let free = fill_to_quota(&stores.second, &p, "after", QUOTA).await;
    assert_eq!(created + free, 5);
    assert_eq!(live_count(&stores.first, &p).await, u64::from(QUOTA));
    stores.finish().await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_share_a_row(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let p = project("proj-claims");
    let all_queues: Vec<String> = (0..20).map(|n| format!("q_{n}")).collect();
    let queue_refs: Vec<&str> = all_queues.iter().map(String::as_str).collect();
    let mut expected = HashSet::new();
    for n in 0..40 {
        let new = connection(
            &p,
            &format!("c{n}"),
            Service::Rds,
            &[],
            if n == 0 { &queue_refs } else { &[] },
            T0 + n,
        );
        expected.insert(new.id);
        stores
            .first
            .create_connection(&new, 100)
            .await
            .expect("create");
    }

    // Six claimers on two handles race until nothing is left.
    let mut claimers = JoinSet::new();
    for n in 0..6 {
        let store = if n % 2 == 0 {
            stores.first.clone()
        } else {
            stores.second.clone()
        };
        claimers.spawn(async move {
            let owner = format!("owner-{n}");
            let (mut checks, mut bindings) = (Vec::new(), Vec::new());
            loop {
                let claimed = store
                    .claim_pending_checks(ClaimTerms::new(&owner, LEASE, 3, T0 + 1_000))
                    .await
                    .expect("claim");
                let claimed_bindings = store
                    .claim_pending_bindings(
                        ClaimTerms::new(&owner, LEASE, 3, T0 + 1_000),
                        NO_AGENT_ONLINE,
                    )
                    .await
                    .expect("claim bindings");
                if claimed.is_empty() && claimed_bindings.is_empty() {
                    return (checks, bindings);
                }
                checks.extend(claimed.into_iter().map(|c| (c.id, owner.clone())));
                bindings.extend(
                    claimed_bindings
                        .into_iter()
                        .map(|b| (b.peer_id, owner.clone())),
                );
                tokio::task::yield_now().await;
            }
        });
    }
    let (mut checks, mut bindings) = (Vec::new(), Vec::new());
    while let Some(outcome) = claimers.join_next().await {
        let (claimed, claimed_bindings) = outcome.expect("task");
        checks.extend(claimed);
        bindings.extend(claimed_bindings);
    }
    let distinct: HashSet<ConnectionId> = checks.iter().map(|(id, _)| *id).collect();
    assert_eq!(checks.len(), 40, "every pending check claimed exactly once");
    assert_eq!(distinct, expected);
    let distinct_bindings: HashSet<&String> = bindings.iter().map(|(peer, _)| peer).collect();
    assert_eq!((bindings.len(), distinct_bindings.len()), (20, 20));
    // Each claim belongs to the owner that got it: only that owner can record.
    for (id, owner) in &checks {
        let stranger = if owner == "owner-0" {
            "owner-1"
        } else {
            "owner-0"
        };
        assert!(
            !stores
                .second
                .record_check_result(
                    HeldCheck {
                        id: *id,
                        owner: stranger
                    },
                    &failed(),
                    T0 + 2_000
                )
                .await
                .expect("record")
        );
        assert!(
            stores
                .first
                .record_check_result(HeldCheck { id: *id, owner }, &failed(), T0 + 2_000)
                .await
                .expect("record")
        );
    }
    stores.finish().await;
}

/// Connections read while they are deleted: a delete removes the row's bindings in the
/// same transaction, so a read in one snapshot sees either a live connection with all its
/// bindings or a DELETED one with none. Reading the row and the bindings apart can see a
/// live connection without its bindings.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_is_read_with_its_bindings_in_one_snapshot(#[case] backend: Backend) {
    use std::sync::atomic::{AtomicUsize, Ordering};

    const ROUNDS: i64 = 60;
    const READERS: usize = 3;
    let Some(stores) = open(backend).await else {
        return;
    };
    let p = project("proj-snapshot");
    let mut ids = Vec::new();
    for n in 0..ROUNDS {
        let new = connection(
            &p,
            &format!("c{n}"),
            Service::Rds,
            &[],
            &["q_a", "q_b"],
            T0 + n,
        );
        ids.push(new.id);
        stores
            .first
            .create_connection(&new, 1000)
            .await
            .expect("create");
    }
    let claimed = stores
        .first
        .claim_pending_checks(ClaimTerms::new("owner", LEASE, 1000, T0 + 1_000))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), ids.len());
    for id in &ids {
        assert!(
            stores
                .first
                .record_check_result(
                    HeldCheck {
                        id: *id,
                        owner: "owner"
                    },
                    &active(None),
                    T0 + 2_000
                )
                .await
                .expect("record")
        );
    }

    let mut torn = Vec::new();
    for id in ids {
        let reads = Arc::new(AtomicUsize::new(0));
        let mut readers = JoinSet::new();
        for _ in 0..READERS {
            let (store, reads, p) = (stores.first.clone(), Arc::clone(&reads), p.clone());
            readers.spawn(async move {
                let mut torn = Vec::new();
                loop {
                    let record = get(&store, &p, id).await;
                    reads.fetch_add(1, Ordering::SeqCst);
                    let deleted = record.state == ConnectionState::Deleted;
                    let expected = if deleted { 0 } else { 2 };
                    if record.queues.len() != expected {
                        torn.push((record.state, record.queues.len()));
                    }
                    if deleted {
                        return torn;
                    }
                }
            });
        }
        // Delete while the readers are mid-loop.
        while reads.load(Ordering::SeqCst) < 3 * READERS {
            tokio::task::yield_now().await;
        }
        let outcome = stores
            .second
            .delete_connection(&p, id, T0 + 3_000)
            .await
            .expect("delete");
        assert_eq!(outcome, DeleteOutcome::Deleted);
        while let Some(found) = readers.join_next().await {
            torn.extend(found.expect("reader"));
        }
    }
    assert_eq!(
        torn,
        Vec::new(),
        "reads that saw (state, bindings) of two different moments"
    );
    stores.finish().await;
}

/// Claimed bindings come back oldest first, each with its connection, from one claim.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn claimed_bindings_come_back_oldest_first_with_their_connection(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let p = project("proj-binding-claims");
    let new = connection(&p, "bound", Service::Dws, &[], &[], T0);
    let id = new.id;
    stores
        .first
        .create_connection(&new, 10)
        .await
        .expect("create");
    // Queues bound one by one: their age order is unrelated to their (random) peer ids.
    let names: Vec<String> = (0..12).map(|n| format!("q_{n:02}")).collect();
    for (n, name) in names.iter().enumerate() {
        let added = stores
            .first
            .associate_queues(
                ConnectionKey::new(&p, id),
                QueuesToBind {
                    queues: &queues(&[name]),
                    declared: &queues(&[name]),
                },
                T0 + 10 + n as i64,
            )
            .await
            .expect("associate");
        assert_eq!(added, BindingOutcome::Changed(1));
    }
    let claimed = stores
        .second
        .claim_pending_bindings(
            ClaimTerms::new("owner", LEASE, 100, T0 + 1_000),
            NO_AGENT_ONLINE,
        )
        .await
        .expect("claim");
    let claimed_names: Vec<&str> = claimed.iter().map(|b| b.queue_name.as_str()).collect();
    assert_eq!(
        claimed_names,
        names.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for binding in &claimed {
        assert_eq!(binding.check.id, id);
        assert_eq!(binding.check.project_id, p.as_str());
        assert_eq!(binding.check.service, Service::Dws);
        assert_eq!(binding.check.destination, new.destination);
    }
    stores.finish().await;
}

fn credential(access_key: &str, scope: ProjectScope, created_at: i64) -> NewCredential {
    NewCredential {
        access_key: access_key.to_owned(),
        sealed_secret_key: vec![0, 1, 2, 255, 254, 42],
        scope,
        created_at,
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn credentials_and_tokens_are_kept_alike(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    credential_story(&stores.first, &stores.second).await;
    stores.finish().await;
}

async fn credential_story(store: &DynStore, other: &DynStore) {
    // Credentials: insert, find, list, revoke, count.
    assert_eq!(store.count_credentials().await.expect("count"), 0);
    assert!(store.list_credentials().await.expect("list").is_empty());
    let scoped = ProjectScope::Projects(vec!["proj-a".to_owned(), "proj-b".to_owned()]);
    store
        .insert_credential(&credential("AKZ", ProjectScope::All, T0 + 1))
        .await
        .expect("insert");
    store
        .insert_credential(&credential("AKB", scoped.clone(), T0 + 2))
        .await
        .expect("insert");
    store
        .insert_credential(&credential("AKA", ProjectScope::All, T0 + 2))
        .await
        .expect("insert");
    assert!(
        matches!(
            store
                .insert_credential(&credential("AKZ", ProjectScope::All, T0 + 3))
                .await,
            Err(StoreError::Database(_))
        ),
        "an access key is unique"
    );
    let found = other
        .find_credential("AKB")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.access_key, "AKB");
    assert_eq!(found.sealed_secret_key, [0, 1, 2, 255, 254, 42]);
    assert_eq!(found.scope, scoped);
    assert_eq!((found.created_at, found.revoked_at), (T0 + 2, None));
    assert!(
        store
            .find_credential("AKNONE")
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        store.find_credential("akb").await.expect("find").is_none(),
        "access keys match exactly"
    );
    let listed: Vec<String> = store
        .list_credentials()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.access_key)
        .collect();
    assert_eq!(
        listed,
        ["AKZ", "AKA", "AKB"],
        "by creation, then access key"
    );
    assert!(
        store
            .revoke_credential("AKA", T0 + 10)
            .await
            .expect("revoke")
    );
    assert!(
        !other
            .revoke_credential("AKA", T0 + 11)
            .await
            .expect("revoke"),
        "already revoked"
    );
    assert!(
        !store
            .revoke_credential("AKNONE", T0 + 11)
            .await
            .expect("revoke")
    );
    let revoked = other
        .find_credential("AKA")
        .await
        .expect("find")
        .expect("a revoked credential is still found");
    assert_eq!(revoked.revoked_at, Some(T0 + 10));
    assert_eq!(revoked.scope, ProjectScope::All);
    assert_eq!(
        store.count_credentials().await.expect("count"),
        3,
        "revoked ones count"
    );

    // Tokens: insert, find by hash, list, revoke.
    let token = |id: &str, hash: &str, scope: ProjectScope, created_at: i64| NewToken {
        id: id.to_owned(),
        token_hash: hash.to_owned(),
        scope,
        created_at,
        expires_at: created_at + 3_600_000,
    };
    assert!(store.list_tokens().await.expect("list").is_empty());
    store
        .insert_token(&token("tok-b", "hash-b", ProjectScope::All, T0 + 1))
        .await
        .expect("insert");
    store
        .insert_token(&token("tok-a", "hash-a", scoped.clone(), T0 + 1))
        .await
        .expect("insert");
    store
        .insert_token(&token("tok-c", "hash-c", ProjectScope::All, T0))
        .await
        .expect("insert");
    assert!(
        store
            .insert_token(&token("tok-d", "hash-a", ProjectScope::All, T0))
            .await
            .is_err(),
        "a hash is unique"
    );
    assert!(
        store
            .insert_token(&token("tok-a", "hash-z", ProjectScope::All, T0))
            .await
            .is_err(),
        "an id is unique"
    );
    let found = other
        .find_token("hash-a")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.id, "tok-a");
    assert_eq!(found.scope, scoped);
    assert_eq!(
        (found.created_at, found.expires_at, found.revoked_at),
        (T0 + 1, T0 + 1 + 3_600_000, None)
    );
    assert!(store.find_token("hash-none").await.expect("find").is_none());
    let listed: Vec<String> = store
        .list_tokens()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, ["tok-c", "tok-a", "tok-b"], "by creation, then id");
    assert!(store.revoke_token("tok-a", T0 + 50).await.expect("revoke"));
    assert!(
        !other.revoke_token("tok-a", T0 + 51).await.expect("revoke"),
        "already revoked"
    );
    assert!(
        !store
            .revoke_token("tok-none", T0 + 51)
            .await
            .expect("revoke")
    );
    let revoked = other
        .find_token("hash-a")
        .await
        .expect("find")
        .expect("a revoked token is still found");
    assert_eq!(revoked.revoked_at, Some(T0 + 50));
    store.ping().await.expect("ping");
    other.ping().await.expect("ping");
}

#[tokio::test]
async fn an_unreachable_postgres_fails_fast() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let started = Instant::now();
    let outcome = PgStore::connect(
        &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        2,
        Duration::from_millis(500),
    )
    .await;
    assert!(outcome.is_err(), "nothing listens on port {port}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_test_database_is_created_and_dropped() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let name = database.name().to_owned();
    let store = PgStore::connect(database.url(), 1, TEST_ACQUIRE_TIMEOUT)
        .await
        .expect("connects");
    store.migrate().await.expect("migrates");
    store
        .migrate()
        .await
        .expect("migrating again changes nothing");
    // Sessions are named, and one frozen inside a transaction is ended by the server.
    let (application, idle_timeout): (String, String) = sqlx::query_as(
        "SELECT current_setting('application_name'), \
             current_setting('idle_in_transaction_session_timeout')",
    )
    .fetch_one(store.pool())
    .await
    .expect("settings");
    assert_eq!(
        (application.as_str(), idle_timeout.as_str()),
        ("dsconn", "1min")
    );
    store.close().await;
    database.drop_now().await;
    let (mut admin, _) = admin_connection()
        .await
        .expect("PostgreSQL answered a moment ago");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("pg_database");
    assert_eq!(left, 0, "{name} was dropped");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn a_schema_migrated_by_a_newer_build_is_not_ready(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    stores.first.ping().await.expect("current schema");
    let newer = "INSERT INTO _sqlx_migrations \
                     (version, description, success, checksum, execution_time) \
                 VALUES (99990101000000, 'from a newer build', TRUE, '\\x00', 0)";
    match (&stores._dir, &stores.database) {
        (Some(dir), _) => {
            let url = format!("sqlite://{}", dir.path().join(DATABASE_FILE).display());
            let mut raw = sqlx::SqliteConnection::connect(&url).await.expect("opens");
            raw.execute(newer.replace("'\\x00'", "x'00'").as_str())
                .await
                .expect("row inserted");
        }
        (None, Some(database)) => {
            let mut raw = PgConnection::connect(database.url())
                .await
                .expect("connects");
            raw.execute(newer).await.expect("row inserted");
        }
        (None, None) => unreachable!("every backend has a database"),
    }
    for store in [&stores.first, &stores.second] {
        let error = store.ping().await.expect_err("a newer schema");
        assert!(matches!(error, StoreError::SchemaNotCurrent(_)), "{error}");
    }
    stores.finish().await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn the_first_key_check_stored_wins_for_every_process(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    // Two processes starting together with different keys: one value is kept, and both
    // read that same one back (so the one with the other key refuses to start).
    let (first, second) = tokio::join!(
        stores.first.key_check(b"sealed by key A"),
        stores.second.key_check(b"sealed by key B")
    );
    let (first, second) = (first.expect("key check"), second.expect("key check"));
    assert_eq!(first, second);
    assert!(first == b"sealed by key A" || first == b"sealed by key B");
    let later = stores.first.key_check(b"sealed by key C").await;
    assert_eq!(
        later.expect("key check"),
        first,
        "a stored check never changes"
    );
    stores.finish().await;
}

// ---------------------------------------------------------------------------------------
// Queues and elastic resource pools
// ---------------------------------------------------------------------------------------

fn new_queue(project: &ProjectId, name: &str, create_time: i64) -> NewQueue {
    let mut attributes = serde_json::Map::new();
    attributes.insert("cu_count".into(), 16.into());
    attributes.insert("queue_type".into(), "general".into());
    NewQueue {
        project_id: project.clone(),
        name: QueueName::parse_new(name).expect("valid queue"),
        resource_id: uuid::Uuid::new_v4().to_string(),
        attributes,
        create_time,
    }
}

/// A connection binding `queue_names`, none of them declared: each must be stored.
fn binding_stored(project: &ProjectId, name: &str, queue_names: &[&str], t: i64) -> NewConnection {
    let mut new = connection(project, name, Service::Rds, &[], queue_names, t);
    new.declared_queues.clear();
    new
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn queues_and_pools_are_created_listed_bound_and_deleted_alike(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    queue_story(&stores.first, &stores.second).await;
    stores.finish().await;
}

async fn queue_story(first: &DynStore, second: &DynStore) {
    let pa = project("proj-queues-a");
    let pb = project("proj-queues-b");

    // Create: a duplicate (also through the other handle) and a full project are refused.
    let etl = new_queue(&pa, "etl", T0);
    assert_eq!(
        first.create_queue(&etl, 3).await.expect("create"),
        CreateNamedOutcome::Created
    );
    assert_eq!(
        second
            .create_queue(&new_queue(&pa, "etl", T0 + 1), 3)
            .await
            .expect("create"),
        CreateNamedOutcome::AlreadyExists
    );
    for name in ["adhoc", "zeta"] {
        let created = first.create_queue(&new_queue(&pa, name, T0 + 2), 3).await;
        assert_eq!(created.expect("create"), CreateNamedOutcome::Created);
    }
    assert_eq!(
        first
            .create_queue(&new_queue(&pa, "fourth", T0 + 3), 3)
            .await
            .expect("create"),
        CreateNamedOutcome::CapReached
    );
    // Per project: the same name is free in another project, which has its own cap.
    assert_eq!(
        second
            .create_queue(&new_queue(&pb, "etl", T0 + 4), 3)
            .await
            .expect("create"),
        CreateNamedOutcome::Created
    );

    // List and get: by name, with every stored field.
    let listed = second.list_queues(&pa).await.expect("list");
    let listed_names: Vec<&str> = listed.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(listed_names, ["adhoc", "etl", "zeta"]);
    let got = first
        .get_queue(&pa, "etl")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.resource_id, etl.resource_id);
    assert_eq!(got.attributes, etl.attributes);
    assert_eq!(got.create_time, T0);
    assert!(first.get_queue(&pb, "adhoc").await.expect("get").is_none());
    assert!(first.queue_exists(&pa, "etl").await.expect("exists"));
    assert!(
        !first.queue_exists(&pb, "zeta").await.expect("exists"),
        "per project"
    );

    // Binding an unknown queue (or another project's) binds nothing.
    let refused = first
        .create_connection(&binding_stored(&pb, "c-b", &["adhoc"], T0 + 10), 10)
        .await;
    assert!(
        matches!(refused, Err(StoreError::UnknownQueue(ref q)) if q == "adhoc"),
        "{refused:?}"
    );
    assert!(
        first
            .find_live_connection_by_name(&pb, "c-b")
            .await
            .expect("find")
            .is_none(),
        "the refused create stored nothing"
    );
    let bound = binding_stored(&pa, "c-a", &["etl"], T0 + 11);
    first
        .create_connection(&bound, 10)
        .await
        .expect("create with a stored queue");
    let refused = second
        .associate_queues(
            ConnectionKey::new(&pa, bound.id),
            QueuesToBind {
                queues: &queues(&["adhoc", "ghost"]),
                declared: &[],
            },
            T0 + 12,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::UnknownQueue(ref q)) if q == "ghost"),
        "{refused:?}"
    );
    assert_eq!(
        get(first, &pa, bound.id).await.queues.len(),
        1,
        "nothing more was bound"
    );
    // A declared queue needs no row.
    let declared = queues(&["declared_q"]);
    let added = second
        .associate_queues(
            ConnectionKey::new(&pa, bound.id),
            QueuesToBind {
                queues: &queues(&["adhoc", "declared_q"]),
                declared: &declared,
            },
            T0 + 13,
        )
        .await
        .expect("associate");
    assert_eq!(added, BindingOutcome::Changed(2));

    // Delete: refused while a live connection has it bound, counting connections.
    let other = binding_stored(&pa, "c-a2", &["etl"], T0 + 14);
    first.create_connection(&other, 10).await.expect("create");
    assert_eq!(
        first.delete_queue(&pa, "etl").await.expect("delete"),
        DeleteNamedOutcome::Bound(2)
    );
    assert_eq!(
        first.delete_queue(&pa, "ghost").await.expect("delete"),
        DeleteNamedOutcome::NotFound
    );
    assert_eq!(
        first.delete_queue(&pb, "adhoc").await.expect("delete"),
        DeleteNamedOutcome::NotFound
    );
    first
        .disassociate_queues(
            ConnectionKey::new(&pa, bound.id),
            &queues(&["etl"]),
            T0 + 15,
        )
        .await
        .expect("disassociate");
    assert_eq!(
        second.delete_queue(&pa, "etl").await.expect("delete"),
        DeleteNamedOutcome::Bound(1)
    );
    // Finish the checks, so that the connection can be deleted.
    let claimed = first
        .claim_pending_checks(ClaimTerms::new("owner", LEASE, 10, T0 + 16))
        .await
        .expect("claim");
    for check in &claimed {
        first
            .record_check_result(
                HeldCheck {
                    id: check.id,
                    owner: "owner",
                },
                &failed(),
                T0 + 17,
            )
            .await
            .expect("record");
    }
    assert_eq!(
        first
            .delete_connection(&pa, other.id, T0 + 18)
            .await
            .expect("delete"),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        second.delete_queue(&pa, "etl").await.expect("delete"),
        DeleteNamedOutcome::Deleted
    );
    assert!(!first.queue_exists(&pa, "etl").await.expect("exists"));
    assert!(
        second.queue_exists(&pb, "etl").await.expect("exists"),
        "the other project's stays"
    );

    // Pools: the same life, without bindings.
    let pool = new_queue(&pa, "pool_a", T0 + 20);
    assert_eq!(
        first.create_pool(&pool, 2).await.expect("create"),
        CreateNamedOutcome::Created
    );
    assert_eq!(
        second
            .create_pool(&new_queue(&pa, "pool_a", T0 + 21), 2)
            .await
            .expect("create"),
        CreateNamedOutcome::AlreadyExists
    );
    assert_eq!(
        first
            .create_pool(&new_queue(&pa, "pool_b", T0 + 22), 2)
            .await
            .expect("create"),
        CreateNamedOutcome::Created
    );
    assert_eq!(
        first
            .create_pool(&new_queue(&pa, "pool_c", T0 + 23), 2)
            .await
            .expect("create"),
        CreateNamedOutcome::CapReached
    );
    let pools = second.list_pools(&pa).await.expect("list");
    assert_eq!(pools.len(), 2);
    assert_eq!(pools[0].name, "pool_a");
    assert_eq!(pools[0].attributes, pool.attributes);
    assert!(second.list_pools(&pb).await.expect("list").is_empty());
    assert_eq!(
        first.delete_pool(&pb, "pool_a").await.expect("delete"),
        DeleteNamedOutcome::NotFound
    );
    assert_eq!(
        first.delete_pool(&pa, "pool_a").await.expect("delete"),
        DeleteNamedOutcome::Deleted
    );
    assert_eq!(
        first.delete_pool(&pa, "pool_a").await.expect("delete"),
        DeleteNamedOutcome::NotFound
    );
}

/// Binds racing a delete of the same queue, through two handles: every bind that
/// succeeded holds a binding of a queue that still exists, and a queue that was deleted
/// has no binding.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn a_bind_and_a_delete_of_one_queue_never_both_succeed(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let p = project("proj-queue-race");
    for round in 0..20 {
        let queue = format!("race_{round}");
        stores
            .first
            .create_queue(&new_queue(&p, &queue, T0 + round), 1000)
            .await
            .expect("create queue");
        let new = connection(&p, &format!("c{round}"), Service::Rds, &[], &[], T0 + round);
        stores
            .first
            .create_connection(&new, 1000)
            .await
            .expect("create");
        let (binder, deleter) = (Arc::clone(&stores.first), Arc::clone(&stores.second));
        let names = queues(&[&queue]);
        let (p1, p2, q) = (p.clone(), p.clone(), queue.clone());
        let bind = tokio::spawn(async move {
            binder
                .associate_queues(
                    ConnectionKey::new(&p1, new.id),
                    QueuesToBind {
                        queues: &names,
                        declared: &[],
                    },
                    T0 + 100,
                )
                .await
        });
        let delete = tokio::spawn(async move { deleter.delete_queue(&p2, &q).await });
        let bound = bind.await.expect("bind task");
        let deleted = delete.await.expect("delete task").expect("delete");
        let bindings = get(&stores.first, &p, new.id).await.queues.len();
        let exists = stores.first.queue_exists(&p, &queue).await.expect("exists");
        match (&bound, deleted) {
            (Ok(BindingOutcome::Changed(1)), DeleteNamedOutcome::Bound(1)) => {
                assert!(exists && bindings == 1, "round {round}");
            }
            (Err(StoreError::UnknownQueue(_)), DeleteNamedOutcome::Deleted) => {
                assert!(!exists && bindings == 0, "round {round}");
            }
            other => panic!("round {round}: bind and delete disagree: {other:?}"),
        }
    }
    stores.finish().await;
}

/// A database of the build before queues existed, with a binding: migration 0005 makes
/// the bound queue a stored queue of its project, so the binding still names one.
#[tokio::test]
async fn upgrading_keeps_every_bound_queue_as_a_queue_of_its_project() {
    let dir = tempfile::tempdir().expect("temp dir");
    let before = tempfile::tempdir().expect("migrations dir");
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .expect("migrations")
    {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, before.path().join(&name)).expect("copy");
        }
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join(DATABASE_FILE))
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
    let old = sqlx::migrate::Migrator::new(before.path())
        .await
        .expect("old migrator");
    old.run(&pool).await.expect("old schema");
    pool.execute(
        "INSERT INTO connections (id, project_id, name, service, destination, \
             security_group_id, network_id, state, create_time, update_time) \
         VALUES ('6f1c1b8e-0c1f-4a43-9f55-4b8b3f0f6b11', 'proj-old', 'c', 'RDS', \
             '10.0.0.1:3306', 'sg', 'net', 'ACTIVE', 1, 1); \
         INSERT INTO queue_bindings (peer_id, connection_id, queue_name, status, update_time) \
         VALUES ('p1', '6f1c1b8e-0c1f-4a43-9f55-4b8b3f0f6b11', 'old_q', 'ACTIVE', 5);",
    )
    .await
    .expect("old rows");
    pool.close().await;

    let store: DynStore = Arc::new(SqliteStore::open(dir.path()).await.expect("upgraded"));
    let p = project("proj-old");
    let queue = store
        .get_queue(&p, "old_q")
        .await
        .expect("get")
        .expect("backfilled");
    assert_eq!(queue.create_time, 5, "created when first bound");
    assert!(
        uuid::Uuid::parse_str(&queue.resource_id).is_ok(),
        "{}",
        queue.resource_id
    );
    assert!(queue.attributes.is_empty());
    assert_eq!(
        store.delete_queue(&p, "old_q").await.expect("delete"),
        DeleteNamedOutcome::Bound(1)
    );
    assert!(
        !store
            .queue_exists(&project("proj-other"), "old_q")
            .await
            .expect("exists")
    );
    store.close().await;
}

// ---------------------------------------------------------------------------------------
// Queues in other networks: agents, their claims, queue connection tests
// ---------------------------------------------------------------------------------------

fn agent(p: &ProjectId, name: &str, queue_names: &[&str], now: i64) -> NewAgent {
    NewAgent {
        agent_id: uuid::Uuid::new_v4().to_string(),
        project_id: p.clone(),
        name: name.to_owned(),
        version: "test".to_owned(),
        address: "127.0.0.1".to_owned(),
        queues: queue_names.iter().map(|q| (*q).to_owned()).collect(),
        pools: Vec::new(),
        now,
        online_since: now.saturating_sub(60_000),
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn an_online_agent_keeps_its_name_from_an_agent_of_other_queues(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let (store, p) = (&stores.first, project("proj-agent-names"));
    let ids = |agents: Vec<dsconn::store::AgentRecord>| -> Vec<(String, Vec<String>)> {
        agents
            .into_iter()
            .map(|agent| (agent.agent_id, agent.queues))
            .collect()
    };
    let first = agent(&p, "same", &["q_a"], T0 + 1);
    assert_eq!(
        store.register_agent(&first, 10).await.expect("register"),
        RegisterOutcome::Registered
    );
    // Another agent of the name, for other queues, while the first is online: refused,
    // and the first stays.
    let other = agent(&p, "same", &["q_b"], T0 + 2);
    assert_eq!(
        store.register_agent(&other, 10).await.expect("register"),
        RegisterOutcome::NameInUse { last_seen: T0 + 1 }
    );
    assert_eq!(
        ids(store.online_agents(&p, T0).await.expect("list")),
        [(first.agent_id.clone(), vec!["q_a".to_owned()])]
    );
    // Words heard are written together: each says whether its agent is registered, and
    // an earlier word (another replica's, written late) never moves last_seen back.
    let seen = |agent_id: &str, last_seen: i64| dsconn::store::queue_work::AgentSeen {
        project_id: p.as_str().to_owned(),
        agent_id: agent_id.to_owned(),
        address: "10.9.9.9".to_owned(),
        last_seen,
    };
    assert_eq!(
        store
            .touch_agents(&[
                seen(&first.agent_id, T0 + 50),
                seen("no-such-agent", T0 + 50)
            ])
            .await
            .expect("touch"),
        [true, false]
    );
    assert_eq!(
        store
            .touch_agents(&[seen(&first.agent_id, T0 + 20)])
            .await
            .expect("touch"),
        [true]
    );
    let listed = store.online_agents(&p, T0 + 40).await.expect("list");
    assert_eq!(
        (listed[0].last_seen, listed[0].address.as_str()),
        (T0 + 50, "10.9.9.9")
    );
    assert_eq!(
        store
            .agent_serves(AgentKey::new(&p, &first.agent_id))
            .await
            .expect("serves"),
        ["q_a"]
    );
    // The same queues again (a restart of the first): it replaces the first.
    let restarted = agent(&p, "same", &["q_a"], T0 + 3);
    assert_eq!(
        store
            .register_agent(&restarted, 10)
            .await
            .expect("register"),
        RegisterOutcome::Registered
    );
    assert_eq!(
        ids(store.online_agents(&p, T0).await.expect("list")),
        [(restarted.agent_id.clone(), vec!["q_a".to_owned()])]
    );
    // Once it is offline, the name is free for other queues.
    let mut later = agent(&p, "same", &["q_b"], T0 + 10);
    later.online_since = T0 + 4;
    assert_eq!(
        store.register_agent(&later, 10).await.expect("register"),
        RegisterOutcome::Registered
    );
    assert_eq!(
        ids(store.online_agents(&p, T0).await.expect("list")),
        [(later.agent_id.clone(), vec!["q_b".to_owned()])]
    );
    stores.finish().await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn agents_take_only_their_queues_work_and_the_server_only_the_rest(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    agent_story(&stores.first, &stores.second).await;
    stores.finish().await;
}

async fn agent_story(first: &DynStore, second: &DynStore) {
    let (p, other) = (project("proj-agents"), project("proj-other"));
    let online = T0; // agents heard from at T0 or later are online
    let a1 = agent(&p, "a1", &["q_a"], T0 + 1);
    assert_eq!(
        first.register_agent(&a1, 2).await.expect("register"),
        RegisterOutcome::Registered
    );
    // The same queue name in another project is not a1's.
    let c_other = connection(&other, "o", Service::Rds, &[], &["q_a"], T0 + 2);
    first.create_connection(&c_other, 10).await.expect("create");
    let c1 = connection(&p, "c1", Service::Rds, &[], &["q_a", "q_b"], T0 + 3);
    first.create_connection(&c1, 10).await.expect("create");

    // Waiting claims look for their queues' work in one read, whoever's it is.
    let claimable = |now| async move {
        first
            .queues_with_claimable_work(now, 100)
            .await
            .expect("look")
    };
    let pair = |p: &ProjectId, q: &str| (p.as_str().to_owned(), q.to_owned());
    assert_eq!(
        claimable(T0 + 5).await,
        [pair(&p, "q_a"), pair(&p, "q_b"), pair(&other, "q_a")]
    );

    // The server's worker leaves q_a (a1 is online) and takes q_b and the other project's.
    let server = second
        .claim_pending_bindings(ClaimTerms::new("server", LEASE, 10, T0 + 10), online)
        .await
        .expect("claim");
    let mut taken: Vec<(String, String)> = server
        .iter()
        .map(|b| (b.check.project_id.clone(), b.queue_name.clone()))
        .collect();
    taken.sort();
    assert_eq!(
        taken,
        [
            ("proj-agents".to_owned(), "q_b".to_owned()),
            ("proj-other".to_owned(), "q_a".to_owned())
        ]
    );
    // a1 gets its queue's binding, with what it needs to check it; another agent of the
    // queue gets nothing while a1's lease holds, and an unknown agent is None.
    assert!(
        first
            .agent_has_work(&p, &a1.agent_id, T0 + 11, true)
            .await
            .expect("read")
            .checks
    );
    let work = second
        .claim_agent_work(
            agent_claim(&p, &a1.agent_id, LEASE, 10, T0 + 11),
            "10.1.1.1",
        )
        .await
        .expect("claim")
        .expect("registered");
    assert_eq!(work.len(), 1, "{work:?}");
    // All of it leased now: nothing for a waiting claim until a lease lapses.
    assert_eq!(claimable(T0 + 12).await, []);
    assert_eq!(
        first
            .agent_has_work(&p, &a1.agent_id, T0 + 12, true)
            .await
            .expect("read"),
        dsconn::store::queue_work::AgentWorkWaiting::default()
    );
    assert_eq!(
        (
            work[0].kind,
            work[0].queue_name.as_str(),
            work[0].connection_id
        ),
        (QueueWorkKind::Bind, "q_a", Some(c1.id))
    );
    assert_eq!(work[0].destination, c1.destination);
    let a2 = agent(&p, "a2", &["q_a"], T0 + 12);
    first.register_agent(&a2, 2).await.expect("register");
    assert!(
        first
            .claim_agent_work(agent_claim(&p, &a2.agent_id, LEASE, 10, T0 + 13), "x")
            .await
            .expect("claim")
            .expect("registered")
            .is_empty()
    );
    assert_eq!(
        first
            .claim_agent_work(agent_claim(&other, &a1.agent_id, LEASE, 10, T0 + 13), "x")
            .await
            .expect("claim"),
        None,
        "an agent id of another project names no agent"
    );
    // A third registration is over the cap of 2.
    assert_eq!(
        first
            .register_agent(&agent(&p, "a3", &["q_a"], T0 + 14), 2)
            .await
            .expect("register"),
        RegisterOutcome::TooManyAgents(2)
    );
    // The result: only the lease holder, only for the work's queue.
    let owner1 = format!("agent:{}", a1.agent_id);
    let owner2 = format!("agent:{}", a2.agent_id);
    let peer = work[0].key.clone();
    let mut result = binding_result(true);
    result.checked_from = "agent:a1".to_owned();
    assert!(
        !first
            .record_binding_result(held(&peer, "q_a", &owner2), &result, T0 + 15)
            .await
            .expect("record")
    );
    assert!(
        !first
            .record_binding_result(held(&peer, "q_b", &owner1), &result, T0 + 15)
            .await
            .expect("record")
    );
    // Deregistering a1 gives its lease back: a2 takes the work over at once.
    assert!(
        first
            .deregister_agent(&p, &a1.agent_id)
            .await
            .expect("deregister")
    );
    assert!(
        !first
            .deregister_agent(&p, &a1.agent_id)
            .await
            .expect("deregister")
    );
    let taken = second
        .claim_agent_work(agent_claim(&p, &a2.agent_id, LEASE, 10, T0 + 16), "x")
        .await
        .expect("claim")
        .expect("registered");
    assert_eq!(
        taken.iter().map(|w| w.key.as_str()).collect::<Vec<_>>(),
        [peer.as_str()]
    );
    result.checked_from = "agent:a2".to_owned();
    assert!(
        first
            .record_binding_result(held(&peer, "q_a", &owner2), &result, T0 + 17)
            .await
            .expect("record")
    );
    let shown = get(first, &p, c1.id).await;
    let q_a = shown
        .queues
        .iter()
        .find(|b| b.queue_name == "q_a")
        .expect("q_a");
    assert_eq!(
        (q_a.status.as_str(), q_a.checked_from.as_deref()),
        ("ACTIVE", Some("agent:a2"))
    );

    // Due, the ACTIVE binding is a2's to re-check; its record keeps it ACTIVE.
    let due = result.next_check_at;
    let rechecks = first
        .claim_agent_work(agent_claim(&p, &a2.agent_id, LEASE, 10, due), "x")
        .await
        .expect("claim")
        .expect("registered");
    assert_eq!(rechecks.len(), 1);
    assert_eq!(rechecks[0].kind, QueueWorkKind::RecheckBinding);
    let reachable = BindingConnectivity {
        reachable: false,
        checked_from: "agent:a2".to_owned(),
        next_check_at: due + 300_000,
        credentials: Default::default(),
        verdict: None,
    };
    assert!(
        first
            .record_binding_connectivity(held(&peer, "q_a", &owner2), &reachable, due + 1)
            .await
            .expect("record")
    );
    let q_a = get(first, &p, c1.id)
        .await
        .queues
        .into_iter()
        .find(|b| b.queue_name == "q_a")
        .expect("q_a");
    assert_eq!(
        (q_a.status.as_str(), q_a.connectivity.as_deref()),
        ("ACTIVE", Some("UNREACHABLE"))
    );

    // Queue connection tests: a2's queue is a2's; another queue's is the server's.
    // a2's is a staged one: its service and session come back with the claim.
    let session = r#"{"auth_info_name":"db_app","database":"shop"}"#;
    for (task_id, queue, service, asked) in [
        (11_i64, "q_a", Some(Service::Rds), Some(session)),
        (12, "q_b", None, None),
    ] {
        first
            .create_task(&NewTask {
                task_id,
                project_id: p.clone(),
                queue_name: queue.to_owned(),
                address: "127.0.0.1:9".to_owned(),
                now: T0 + 20,
                service,
                session: asked.map(str::to_owned),
                // Each test's own host entries come back with its claim.
                hosts: Some(format!(r#"[{{"name":"db-{task_id}","ip":"127.0.0.9"}}]"#)),
            })
            .await
            .expect("task");
    }
    let server_tests = second
        .claim_server_tests(ClaimTerms::new("server", LEASE, 10, T0 + 21), online)
        .await
        .expect("claim");
    assert_eq!(
        server_tests
            .iter()
            .map(|w| w.key.as_str())
            .collect::<Vec<_>>(),
        ["12"]
    );
    let agent_tests = first
        .claim_agent_work(agent_claim(&p, &a2.agent_id, LEASE, 10, T0 + 21), "x")
        .await
        .expect("claim")
        .expect("registered");
    assert_eq!(agent_tests.len(), 1);
    assert_eq!(
        (
            agent_tests[0].kind,
            agent_tests[0].service,
            agent_tests[0].session.as_deref()
        ),
        (QueueWorkKind::Test, Some(Service::Rds), Some(session))
    );
    assert_eq!(server_tests[0].session, None);
    assert_eq!(
        server_tests[0].hosts.as_deref(),
        Some(r#"[{"name":"db-12","ip":"127.0.0.9"}]"#)
    );
    assert_eq!(
        agent_tests[0].hosts.as_deref(),
        Some(r#"[{"name":"db-11","ip":"127.0.0.9"}]"#)
    );
    let stages = r#"[{"stage":"login","verdict":"FAILED","reason":"AUTH_FAILED"}]"#;
    let answer = TaskResult {
        reachable: true,
        message: "reached".to_owned(),
        checked_from: "agent:a2".to_owned(),
        stages: Some(stages.to_owned()),
    };
    assert!(
        !first
            .record_task_result(held(11, "q_a", "server"), &answer, T0 + 22)
            .await
            .expect("record"),
        "not the holder"
    );
    assert!(
        first
            .record_task_result(held(11, "q_a", &owner2), &answer, T0 + 22)
            .await
            .expect("record")
    );
    let task = second
        .get_task(&p, "q_a", 11)
        .await
        .expect("read")
        .expect("task");
    assert_eq!(
        (task.status.as_str(), task.checked_from.as_deref()),
        ("REACHABLE", Some("agent:a2"))
    );
    assert_eq!(
        (
            task.service.as_deref(),
            task.session.as_deref(),
            task.stages.as_deref()
        ),
        (Some("RDS"), Some(session), Some(stages))
    );
    assert_eq!(second.get_task(&p, "q_b", 11).await.expect("read"), None);
    assert_eq!(
        second.get_task(&other, "q_a", 11).await.expect("read"),
        None
    );

    // Online agents and their queues; offline ones are not listed.
    let listed = first.online_agents(&p, online).await.expect("agents");
    assert_eq!(
        listed
            .iter()
            .map(|a| (a.name.as_str(), a.queues.clone()))
            .collect::<Vec<_>>(),
        [("a2", vec!["q_a".to_owned()])]
    );
    assert!(
        first
            .online_agents(&p, due + 10_000)
            .await
            .expect("agents")
            .is_empty()
    );
    let counts = first.online_agents_by_queue(online).await.expect("counts");
    assert!(
        counts.contains(&("proj-agents".to_owned(), "q_a".to_owned(), 1)),
        "{counts:?}"
    );

    // Nothing waits for an agent while q_b's work is done; a new test of q_b says it
    // waits, once marked.
    first
        .create_task(&NewTask {
            task_id: 13,
            project_id: p.clone(),
            queue_name: "q_b".to_owned(),
            address: "127.0.0.1:9".to_owned(),
            now: T0 + 30,
            service: None,
            session: None,
            hosts: None,
        })
        .await
        .expect("task");
    assert!(
        first
            .mark_waiting_for_agents(online, T0 + 31)
            .await
            .expect("mark")
            >= 1
    );
    let waiting = first
        .get_task(&p, "q_b", 13)
        .await
        .expect("read")
        .expect("task");
    assert_eq!(waiting.message, "waiting for an agent of queue q_b");

    // Finished tests and long-gone agents are purged; a test still checking is kept.
    let purged = first
        .purge_queue_work(i64::MAX, i64::MAX)
        .await
        .expect("purge");
    assert!(purged >= 2, "{purged}");
    assert_eq!(first.get_task(&p, "q_a", 11).await.expect("read"), None);
    assert!(first.get_task(&p, "q_b", 13).await.expect("read").is_some());
    assert!(first.online_agents(&p, 0).await.expect("agents").is_empty());
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn a_connection_whose_own_check_failed_is_active_once_a_queue_reaches_it(
    #[case] backend: Backend,
) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let (store, p) = (&stores.first, project("proj-awaiting"));
    let c = connection(&p, "c", Service::Rds, &[], &["q1", "q2"], T0);
    store.create_connection(&c, 10).await.expect("create");
    let claimed = store
        .claim_pending_checks(ClaimTerms::new("w", LEASE, 10, T0 + 1))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    // The server's own check fails while both queues are still being checked: waits.
    assert!(
        store
            .record_check_result(
                HeldCheck {
                    id: c.id,
                    owner: "w"
                },
                &failed(),
                T0 + 2
            )
            .await
            .expect("record")
    );
    let waiting = get(store, &p, c.id).await;
    assert_eq!(waiting.state, ConnectionState::Creating);
    assert!(
        store
            .claim_pending_checks(ClaimTerms::new("w2", LEASE, 10, T0 + 2 + LEASE_MS * 10))
            .await
            .expect("claim")
            .is_empty(),
        "a connection waiting for its queues is not checked again"
    );
    let bindings = store
        .claim_pending_bindings(ClaimTerms::new("w", LEASE, 10, T0 + 3), NO_AGENT_ONLINE)
        .await
        .expect("claim");
    let peer = |queue: &str| {
        bindings
            .iter()
            .find(|b| b.queue_name == queue)
            .expect("binding")
            .peer_id
            .clone()
    };
    // One queue fails: still waiting for the other. It reaches the destination: ACTIVE.
    store
        .record_binding_result(held(&peer("q1"), "q1", "w"), &binding_result(false), T0 + 4)
        .await
        .expect("record");
    assert_eq!(get(store, &p, c.id).await.state, ConnectionState::Creating);
    store
        .record_binding_result(held(&peer("q2"), "q2", "w"), &binding_result(true), T0 + 5)
        .await
        .expect("record");
    let reached = get(store, &p, c.id).await;
    assert_eq!(reached.state, ConnectionState::Active);
    assert_eq!(reached.connection_url, c.destination);
    assert_eq!(reached.message, "");

    // Another connection, whose queues all fail: FAILED with every place's reason.
    let d = connection(&p, "d", Service::Rds, &[], &["q1"], T0 + 10);
    store.create_connection(&d, 10).await.expect("create");
    store
        .claim_pending_checks(ClaimTerms::new("w", LEASE, 10, T0 + 11))
        .await
        .expect("claim");
    store
        .record_check_result(
            HeldCheck {
                id: d.id,
                owner: "w",
            },
            &failed(),
            T0 + 12,
        )
        .await
        .expect("record");
    let binding = store
        .claim_pending_bindings(ClaimTerms::new("w", LEASE, 10, T0 + 13), NO_AGENT_ONLINE)
        .await
        .expect("claim");
    store
        .record_binding_result(
            held(&binding[0].peer_id, "q1", "w"),
            &binding_result(false),
            T0 + 14,
        )
        .await
        .expect("record");
    let unreached = get(store, &p, d.id).await;
    assert_eq!(unreached.state, ConnectionState::Failed);
    assert!(
        unreached.message.contains("not reached from the server")
            && unreached.message.contains("queue cannot reach it"),
        "{}",
        unreached.message
    );
    stores.finish().await;
}

/// Copies the migrations of `backend_dir` older than `before` into a temp dir.
fn migrations_before(backend_dir: &str, before: &str) -> tempfile::TempDir {
    let old = tempfile::tempdir().expect("migrations dir");
    let source = format!("{}/migrations/{backend_dir}", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.as_str() < before {
            std::fs::copy(&path, old.path().join(&name)).expect("copy");
        }
    }
    old
}

/// Two live connections and a DELETED one in proj-old, as a build before 0007 left them.
const ROWS_BEFORE_COUNTS: &str = "INSERT INTO connections (id, project_id, name, service, \
         destination, security_group_id, network_id, state, create_time, update_time) \
     VALUES ('6f1c1b8e-0c1f-4a43-9f55-4b8b3f0f6b21', 'proj-old', 'c1', 'RDS', \
             '10.0.0.1:3306', 'sg', 'net', 'ACTIVE', 1, 1), \
            ('6f1c1b8e-0c1f-4a43-9f55-4b8b3f0f6b22', 'proj-old', 'c2', 'RDS', \
             '10.0.0.1:3306', 'sg', 'net', 'CREATING', 2, 2), \
            ('6f1c1b8e-0c1f-4a43-9f55-4b8b3f0f6b23', 'proj-old', 'c3', 'RDS', \
             '10.0.0.1:3306', 'sg', 'net', 'DELETED', 3, 3)";

/// Migration 0007 fills in the live count of every project that already has connections:
/// an upgraded project's quota counts the connections made before the upgrade.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn upgrading_counts_the_live_connections_made_before(#[case] backend: Backend) {
    let p = project("proj-old");
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let old = migrations_before("sqlite", "0007");
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.path().join(DATABASE_FILE))
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
            let migrator = sqlx::migrate::Migrator::new(old.path()).await.expect("old");
            migrator.run(&pool).await.expect("old schema");
            pool.execute(ROWS_BEFORE_COUNTS).await.expect("old rows");
            pool.close().await;
            let store: DynStore = Arc::new(SqliteStore::open(dir.path()).await.expect("upgraded"));
            assert_eq!(fill_to_quota(&store, &p, "new", 3).await, 1);
            store.close().await;
        }
        Backend::Postgres => {
            let Some(database) = fresh_postgres_database().await else {
                return;
            };
            let old = migrations_before("postgres", "0007");
            let pool = sqlx::PgPool::connect(database.url())
                .await
                .expect("connect");
            let migrator = sqlx::migrate::Migrator::new(old.path()).await.expect("old");
            migrator.run(&pool).await.expect("old schema");
            pool.execute(ROWS_BEFORE_COUNTS).await.expect("old rows");
            pool.close().await;
            let store = PgStore::connect(database.url(), TEST_POOL_SIZE, TEST_ACQUIRE_TIMEOUT)
                .await
                .expect("connect");
            store.migrate().await.expect("upgraded");
            let store: DynStore = Arc::new(store);
            assert_eq!(fill_to_quota(&store, &p, "new", 3).await, 1);
            store.close().await;
            database.drop_now().await;
        }
    }
}

/// The count of a paged list: without filters it comes from the project's live count
/// and its DELETED rows (issue 19), and it must equal the rows there are, through
/// creates, deletes, purges and from either replica; with filters it counts the matches.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn a_paged_list_counts_every_stored_row_of_the_project(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let (first, second) = (&stores.first, &stores.second);
    let p = project("proj-paged-count");
    let other = project("proj-paged-other");
    fill_to_quota(first, &other, "o", 3).await;
    assert_eq!(fill_to_quota(first, &p, "c", 6).await, 6);
    finish_all_checks(first).await;
    let paged = list_query(|q| q.limit = Some(2));
    let past_the_end = list_query(|q| {
        q.limit = Some(2);
        q.offset = 50;
    });
    let everything = |store: &DynStore| {
        let store = store.clone();
        let p = p.clone();
        async move { names(&store, &p, &ListQuery::default()).await.0.len() as u64 }
    };
    for store in [first, second] {
        assert_eq!(names(store, &p, &paged).await.1, 6);
        assert_eq!(names(store, &p, &past_the_end).await, (Vec::new(), 6));
    }
    let page = first
        .list_connections(&p, &ListQuery::default())
        .await
        .expect("list");
    // Two deleted (one of them twice): DELETED rows are listed, so still counted.
    for (victim, at) in [(0, 20), (1, 21), (1, 22)] {
        second
            .delete_connection(&p, page.connections[victim].id, T0 + at)
            .await
            .expect("delete");
    }
    for store in [first, second] {
        assert_eq!(names(store, &p, &paged).await.1, 6);
        assert_eq!(everything(store).await, 6);
    }
    let live = list_query(|q| {
        q.limit = Some(2);
        q.states = vec![ConnectionState::Active];
    });
    assert_eq!(names(first, &p, &live).await.1, 4);
    // Purged rows are no longer listed, nor counted.
    assert_eq!(first.purge_deleted(T0 + 1_000).await.expect("purge"), 2);
    for store in [first, second] {
        assert_eq!(names(store, &p, &paged).await.1, 4);
        assert_eq!(names(store, &p, &past_the_end).await, (Vec::new(), 4));
        assert_eq!(everything(store).await, 4);
    }
    assert_eq!(names(first, &other, &paged).await.1, 3);
    assert_eq!(names(first, &project("proj-none"), &paged).await.1, 0);
    stores.finish().await;
}

/// A page's rows and their bindings come from one snapshot: a page read while
/// connections are deleted never shows a live row without its bindings, nor a DELETED
/// one with them. Pages whose rows have no binding skip the bindings statement, so this
/// also shows the re-read that pages with bindings take.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_is_read_with_its_bindings_in_one_snapshot(#[case] backend: Backend) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const CONNECTIONS: i64 = 30;
    const READERS: usize = 3;
    let Some(stores) = open(backend).await else {
        return;
    };
    let p = project("proj-page-snapshot");
    let mut ids = Vec::new();
    for n in 0..CONNECTIONS {
        let queue_names: &[&str] = if n % 3 == 0 { &[] } else { &["q_a", "q_b"] };
        let new = connection(&p, &format!("c{n}"), Service::Rds, &[], queue_names, T0 + n);
        ids.push((new.id, !queue_names.is_empty()));
        stores
            .first
            .create_connection(&new, 1000)
            .await
            .expect("create");
    }
    finish_all_checks(&stores.first).await;

    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = JoinSet::new();
    for reader in 0..READERS {
        let (store, p) = (stores.first.clone(), p.clone());
        let (done, reads, ids) = (Arc::clone(&done), Arc::clone(&reads), ids.clone());
        readers.spawn(async move {
            let mut torn = Vec::new();
            let query = list_query(|q| q.limit = (reader > 0).then_some(12));
            while !done.load(Ordering::SeqCst) {
                let page = store.list_connections(&p, &query).await.expect("list");
                reads.fetch_add(1, Ordering::SeqCst);
                for record in page.connections {
                    let bound = ids.iter().any(|(id, bound)| *id == record.id && *bound);
                    let expected = if bound && record.state != ConnectionState::Deleted {
                        2
                    } else {
                        0
                    };
                    if record.queues.len() != expected {
                        torn.push((record.name, record.state, record.queues.len()));
                    }
                }
            }
            torn
        });
    }
    for (id, _) in ids.iter().rev() {
        let seen = reads.load(Ordering::SeqCst);
        while reads.load(Ordering::SeqCst) < seen + READERS {
            tokio::task::yield_now().await;
        }
        let outcome = stores
            .second
            .delete_connection(&p, *id, T0 + 3_000)
            .await
            .expect("delete");
        assert_eq!(outcome, DeleteOutcome::Deleted);
    }
    done.store(true, Ordering::SeqCst);
    let mut torn = Vec::new();
    while let Some(found) = readers.join_next().await {
        torn.extend(found.expect("reader"));
    }
    assert_eq!(
        torn,
        Vec::new(),
        "rows that showed (state, bindings) of two different moments"
    );
    stores.finish().await;
}

mod auth_infos;
mod credentials;
mod grouped_creates;
mod sharing;

// ---------------------------------------------------------------------------------------
// Enhanced connections (issue 17)
// ---------------------------------------------------------------------------------------

mod enhanced {
    use super::*;
    use dsconn::store::{
        BindingKind, EnhancedAccess, EnhancedLimits, EnhancedListQuery, EnhancedRefusal,
        EnhancedStatus, HostEntry, NewEnhancedConnection, NewRoute,
    };

    const LIMITS: EnhancedLimits = EnhancedLimits {
        connections_per_project: 3,
        bindings_per_connection: 3,
        routes_per_connection: 2,
    };

    fn new_enhanced(
        project: &ProjectId,
        name: &str,
        tags: &[(&str, &str)],
        queue_names: &[&str],
        pool_names: &[&str],
        now: i64,
    ) -> NewEnhancedConnection {
        let pairs: Vec<(String, String)> = tags
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        NewEnhancedConnection {
            id: ConnectionId::generate(),
            project_id: project.clone(),
            name: name.to_owned(),
            dest_vpc_id: "vpc-1".into(),
            dest_network_id: "subnet-1".into(),
            routetable_id: Some("rt-1".into()),
            hosts: vec![HostEntry {
                name: "db".into(),
                ip: "10.0.0.1".into(),
            }],
            tags: Tags::parse(&pairs).expect("tags"),
            queues: queues(queue_names),
            pools: queues(pool_names),
            now,
        }
    }

    fn listing(
        status: EnhancedStatus,
        adjust: impl FnOnce(&mut EnhancedListQuery),
    ) -> EnhancedListQuery {
        let mut query = EnhancedListQuery {
            status,
            limit: 100,
            ..EnhancedListQuery::default()
        };
        adjust(&mut query);
        query
    }

    async fn listed_names(
        store: &DynStore,
        p: &ProjectId,
        query: &EnhancedListQuery,
    ) -> Vec<String> {
        store
            .list_enhanced(p, query)
            .await
            .expect("list")
            .into_iter()
            .map(|record| record.name)
            .collect()
    }

    fn route(name: &str, cidr: &str, now: i64) -> NewRoute {
        NewRoute {
            name: name.into(),
            cidr: cidr.into(),
            now,
        }
    }

    #[rstest]
    #[case::sqlite(Backend::Sqlite)]
    #[case::postgres(Backend::Postgres)]
    #[tokio::test]
    async fn enhanced_connections_live_alike(#[case] backend: Backend) {
        let Some(stores) = open(backend).await else {
            return;
        };
        story(&stores.first, &stores.second).await;
        stores.finish().await;
    }

    async fn story(first: &DynStore, second: &DynStore) {
        let pa = project("enh-a");
        let pb = project("enh-b");
        first
            .create_queue(&new_queue(&pa, "q1", T0), 100)
            .await
            .expect("queue");
        first
            .create_queue(&new_queue(&pa, "q2", T0), 100)
            .await
            .expect("queue");
        first
            .create_pool(&new_queue(&pa, "pool1", T0), 100)
            .await
            .expect("pool");
        first
            .create_queue(&new_queue(&pb, "qb", T0), 100)
            .await
            .expect("queue");

        // Create: bindings of existing queues and pools, refused whole otherwise.
        let c1 = new_enhanced(&pa, "c1", &[("env", "prod")], &["q1"], &["pool1"], T0 + 1);
        assert_eq!(
            first
                .create_enhanced(&c1, &[], &LIMITS)
                .await
                .expect("create"),
            Ok(())
        );
        let missing = new_enhanced(&pa, "c2", &[], &["q1", "ghost"], &[], T0 + 2);
        assert_eq!(
            second
                .create_enhanced(&missing, &[], &LIMITS)
                .await
                .expect("create"),
            Err(EnhancedRefusal::UnknownQueue("ghost".into()))
        );
        let missing = new_enhanced(&pa, "c2", &[], &[], &["nopool"], T0 + 2);
        assert_eq!(
            second
                .create_enhanced(&missing, &[], &LIMITS)
                .await
                .expect("create"),
            Err(EnhancedRefusal::UnknownPool("nopool".into()))
        );
        // Another project's queue is not the caller's.
        let theirs = new_enhanced(&pa, "c2", &[], &["qb"], &[], T0 + 2);
        assert_eq!(
            second
                .create_enhanced(&theirs, &[], &LIMITS)
                .await
                .expect("create"),
            Err(EnhancedRefusal::UnknownQueue("qb".into()))
        );
        // A declared queue needs no row.
        let declared = new_enhanced(&pa, "c2", &[("env", "dev")], &["declared_q"], &[], T0 + 3);
        assert_eq!(
            second
                .create_enhanced(&declared, &queues(&["declared_q"]), &LIMITS)
                .await
                .expect("create"),
            Ok(())
        );
        let duplicate = new_enhanced(&pa, "c1", &[], &[], &[], T0 + 4);
        assert_eq!(
            second
                .create_enhanced(&duplicate, &[], &LIMITS)
                .await
                .expect("create"),
            Err(EnhancedRefusal::NameTaken)
        );
        let c3 = new_enhanced(&pa, "c3", &[], &[], &[], T0 + 5);
        assert_eq!(
            first
                .create_enhanced(&c3, &[], &LIMITS)
                .await
                .expect("create"),
            Ok(())
        );
        assert_eq!(
            first
                .create_enhanced(
                    &new_enhanced(&pa, "c4", &[], &[], &[], T0 + 6),
                    &[],
                    &LIMITS
                )
                .await
                .expect("create"),
            Err(EnhancedRefusal::QuotaReached(3))
        );

        // Show: the owner sees everything; another project sees nothing.
        let view = second
            .get_enhanced(&pa, c1.id)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(view.access, EnhancedAccess::Owner);
        let record = view.connection;
        assert_eq!(record.status, "ACTIVE");
        assert_eq!(record.routetable_id.as_deref(), Some("rt-1"));
        assert_eq!(record.hosts, c1.hosts);
        assert_eq!(record.tags, c1.tags.as_slice());
        assert!(record.is_privis);
        assert_eq!(record.create_time, T0 + 1);
        let bound: Vec<(BindingKind, &str, &str)> = record
            .bindings
            .iter()
            .map(|b| (b.kind, b.name.as_str(), b.status.as_str()))
            .collect();
        assert_eq!(
            bound,
            [
                (BindingKind::Queue, "q1", "CREATING"),
                (BindingKind::Pool, "pool1", "CREATING")
            ]
        );
        assert!(
            record
                .bindings
                .iter()
                .all(|b| b.project_id == "enh-a" && b.err_msg.is_empty())
        );
        let q1_peer = record.bindings[0].peer_id.clone();
        assert!(
            second
                .get_enhanced(&pb, c1.id)
                .await
                .expect("get")
                .is_none()
        );
        assert!(
            first
                .get_enhanced(&pa, ConnectionId::generate())
                .await
                .expect("get")
                .is_none()
        );

        // List: own, ACTIVE, oldest first; exact name; tags; paging.
        let active = listing(EnhancedStatus::Active, |_| {});
        assert_eq!(listed_names(first, &pa, &active).await, ["c1", "c2", "c3"]);
        assert!(listed_names(first, &pb, &active).await.is_empty());
        let page = listing(EnhancedStatus::Active, |q| {
            q.limit = 2;
            q.offset = 1;
        });
        assert_eq!(listed_names(second, &pa, &page).await, ["c2", "c3"]);
        let past = listing(EnhancedStatus::Active, |q| q.offset = 3);
        assert!(listed_names(second, &pa, &past).await.is_empty());
        let named = listing(EnhancedStatus::Active, |q| q.name = Some("c".into()));
        assert!(listed_names(first, &pa, &named).await.is_empty());
        let tagged = listing(EnhancedStatus::Active, |q| {
            q.tags = TagFilter::parse("env=prod").expect("filter");
        });
        assert_eq!(listed_names(first, &pa, &tagged).await, ["c1"]);
        let listed = first.list_enhanced(&pa, &active).await.expect("list");
        assert_eq!(listed[0].bindings.len(), 2, "the page carries its bindings");

        // Bind: idempotent for CREATING, counted against the connection's limit.
        assert_eq!(
            second
                .bind_enhanced(
                    ConnectionKey::new(&pa, c1.id),
                    EnhancedBind {
                        queues: &queues(&["q1", "q2"]),
                        pools: &[],
                        declared: &[],
                        limits: &LIMITS,
                        now: T0 + 10
                    }
                )
                .await
                .expect("bind"),
            Ok(())
        );
        let record = first
            .get_enhanced(&pa, c1.id)
            .await
            .expect("get")
            .expect("found")
            .connection;
        assert_eq!(record.bindings.len(), 3);
        assert_eq!(
            record.bindings[0].peer_id, q1_peer,
            "a re-bind keeps the binding"
        );
        assert_eq!(
            first
                .bind_enhanced(
                    ConnectionKey::new(&pa, c1.id),
                    EnhancedBind {
                        queues: &queues(&["declared_q"]),
                        pools: &[],
                        declared: &queues(&["declared_q"]),
                        limits: &LIMITS,
                        now: T0 + 11
                    }
                )
                .await
                .expect("bind"),
            Err(EnhancedRefusal::TooManyBindings(3))
        );
        assert_eq!(
            first
                .bind_enhanced(
                    ConnectionKey::new(&pa, c1.id),
                    EnhancedBind {
                        queues: &queues(&["ghost"]),
                        pools: &[],
                        declared: &[],
                        limits: &LIMITS,
                        now: T0 + 11
                    }
                )
                .await
                .expect("bind"),
            Err(EnhancedRefusal::UnknownQueue("ghost".into()))
        );
        assert_eq!(
            first
                .bind_enhanced(
                    ConnectionKey::new(&pb, c1.id),
                    EnhancedBind {
                        queues: &queues(&["qb"]),
                        pools: &[],
                        declared: &[],
                        limits: &LIMITS,
                        now: T0 + 11
                    }
                )
                .await
                .expect("bind"),
            Err(EnhancedRefusal::NotFound)
        );
        assert_eq!(
            first
                .get_enhanced(&pa, c1.id)
                .await
                .expect("get")
                .expect("found")
                .connection
                .bindings
                .len(),
            3,
            "refused binds bound nothing"
        );

        // A bound queue or pool cannot be deleted.
        assert_eq!(
            second.delete_queue(&pa, "q2").await.expect("delete"),
            DeleteNamedOutcome::Bound(1)
        );
        assert_eq!(
            second.delete_pool(&pa, "pool1").await.expect("delete"),
            DeleteNamedOutcome::Bound(1)
        );

        // Unbind: all or nothing.
        assert_eq!(
            first
                .unbind_enhanced(
                    ConnectionKey::new(&pa, c1.id),
                    &queues(&["q2"]),
                    &queues(&["nopool"])
                )
                .await
                .expect("unbind"),
            Err(EnhancedRefusal::NotBound {
                kind: BindingKind::Pool,
                name: "nopool".into()
            })
        );
        assert_eq!(
            first
                .unbind_enhanced(
                    ConnectionKey::new(&pa, c1.id),
                    &queues(&["q2"]),
                    &queues(&["pool1"])
                )
                .await
                .expect("unbind"),
            Ok(())
        );
        assert_eq!(
            second.delete_pool(&pa, "pool1").await.expect("delete"),
            DeleteNamedOutcome::Deleted
        );

        // Hosts.
        let hosts = vec![
            HostEntry {
                name: "a".into(),
                ip: "10.0.0.2".into(),
            },
            HostEntry {
                name: "b".into(),
                ip: "10.0.0.3".into(),
            },
        ];
        assert_eq!(
            second
                .replace_enhanced_hosts(ConnectionKey::new(&pa, c1.id), &hosts, T0 + 20)
                .await
                .expect("hosts"),
            Ok(())
        );
        assert_eq!(
            first
                .get_enhanced(&pa, c1.id)
                .await
                .expect("get")
                .expect("found")
                .connection
                .hosts,
            hosts
        );
        assert_eq!(
            second
                .replace_enhanced_hosts(ConnectionKey::new(&pb, c1.id), &[], T0 + 20)
                .await
                .expect("hosts"),
            Err(EnhancedRefusal::NotFound)
        );

        // Routes.
        assert_eq!(
            first
                .add_enhanced_route(
                    ConnectionKey::new(&pa, c1.id),
                    &route("r1", "10.1.0.0/16", T0 + 21),
                    &LIMITS
                )
                .await
                .expect("route"),
            Ok(())
        );
        assert_eq!(
            second
                .add_enhanced_route(
                    ConnectionKey::new(&pa, c1.id),
                    &route("r1", "10.2.0.0/16", T0 + 22),
                    &LIMITS
                )
                .await
                .expect("route"),
            Err(EnhancedRefusal::RouteNameTaken("r1".into()))
        );
        assert_eq!(
            second
                .add_enhanced_route(
                    ConnectionKey::new(&pa, c1.id),
                    &route("r2", "10.1.0.0/16", T0 + 22),
                    &LIMITS
                )
                .await
                .expect("route"),
            Err(EnhancedRefusal::RouteCidrTaken {
                cidr: "10.1.0.0/16".into(),
                route: "r1".into()
            })
        );
        assert_eq!(
            second
                .add_enhanced_route(
                    ConnectionKey::new(&pa, c1.id),
                    &route("r2", "10.2.0.0/16", T0 + 23),
                    &LIMITS
                )
                .await
                .expect("route"),
            Ok(())
        );
        assert_eq!(
            second
                .add_enhanced_route(
                    ConnectionKey::new(&pa, c1.id),
                    &route("r3", "10.3.0.0/16", T0 + 24),
                    &LIMITS
                )
                .await
                .expect("route"),
            Err(EnhancedRefusal::TooManyRoutes(2))
        );
        let routes: Vec<(String, String, i64)> = first
            .get_enhanced(&pa, c1.id)
            .await
            .expect("get")
            .expect("found")
            .connection
            .routes
            .into_iter()
            .map(|r| (r.name, r.cidr, r.create_time))
            .collect();
        assert_eq!(
            routes,
            [
                ("r1".to_owned(), "10.1.0.0/16".to_owned(), T0 + 21),
                ("r2".to_owned(), "10.2.0.0/16".to_owned(), T0 + 23)
            ]
        );
        assert_eq!(
            first
                .delete_enhanced_route(&pa, c1.id, "r9")
                .await
                .expect("route"),
            Err(EnhancedRefusal::UnknownRoute("r9".into()))
        );
        assert_eq!(
            first
                .delete_enhanced_route(&pa, c1.id, "r1")
                .await
                .expect("route"),
            Ok(())
        );

        // Delete: soft, idempotent, removes the bindings; DELETED changes nothing more.
        assert_eq!(
            first
                .delete_enhanced(&pb, c1.id, T0 + 30)
                .await
                .expect("delete"),
            Err(EnhancedRefusal::NotFound)
        );
        assert_eq!(
            first
                .delete_enhanced(&pa, c1.id, T0 + 30)
                .await
                .expect("delete"),
            Ok(())
        );
        assert_eq!(
            second
                .delete_enhanced(&pa, c1.id, T0 + 31)
                .await
                .expect("delete"),
            Ok(())
        );
        let record = second
            .get_enhanced(&pa, c1.id)
            .await
            .expect("get")
            .expect("found")
            .connection;
        assert_eq!(record.status, "DELETED");
        assert_eq!(record.deleted_at, Some(T0 + 30));
        assert!(record.bindings.is_empty());
        assert_eq!(
            first
                .bind_enhanced(
                    ConnectionKey::new(&pa, c1.id),
                    EnhancedBind {
                        queues: &queues(&["q1"]),
                        pools: &[],
                        declared: &[],
                        limits: &LIMITS,
                        now: T0 + 32
                    }
                )
                .await
                .expect("bind"),
            Err(EnhancedRefusal::Deleted)
        );
        assert_eq!(
            first
                .add_enhanced_route(
                    ConnectionKey::new(&pa, c1.id),
                    &route("r5", "10.5.0.0/16", T0 + 32),
                    &LIMITS
                )
                .await
                .expect("route"),
            Err(EnhancedRefusal::Deleted)
        );
        assert_eq!(
            first
                .replace_enhanced_hosts(ConnectionKey::new(&pa, c1.id), &[], T0 + 32)
                .await
                .expect("hosts"),
            Err(EnhancedRefusal::Deleted)
        );
        let deleted = listing(EnhancedStatus::Deleted, |_| {});
        assert_eq!(listed_names(first, &pa, &deleted).await, ["c1"]);
        assert_eq!(listed_names(first, &pa, &active).await, ["c2", "c3"]);
        // The tag filter no longer finds it: its tags rows went with the delete.
        let tagged_deleted = listing(EnhancedStatus::Deleted, |q| {
            q.tags = TagFilter::parse("env=prod").expect("filter");
        });
        assert!(listed_names(first, &pa, &tagged_deleted).await.is_empty());
        assert_eq!(
            second.delete_queue(&pa, "q1").await.expect("delete"),
            DeleteNamedOutcome::Deleted,
            "the delete freed the queue"
        );
        // The name is free again, and the quota counts live ones only.
        assert_eq!(
            first
                .create_enhanced(
                    &new_enhanced(&pa, "c1", &[], &[], &[], T0 + 33),
                    &[],
                    &LIMITS
                )
                .await
                .expect("create"),
            Ok(())
        );

        // Purge: only DELETED ones deleted before the time.
        assert_eq!(
            first.purge_deleted_enhanced(T0 + 30).await.expect("purge"),
            0
        );
        assert_eq!(
            second.purge_deleted_enhanced(T0 + 31).await.expect("purge"),
            1
        );
        assert!(first.get_enhanced(&pa, c1.id).await.expect("get").is_none());
        assert_eq!(listed_names(first, &pa, &active).await, ["c2", "c3", "c1"]);
    }

    /// Binds racing deletes of the same queue or pool, and of the connection, through
    /// two handles: either the bind commits first and the delete is refused (or removes
    /// the binding), or the delete wins and the bind finds nothing to bind.
    #[rstest]
    #[case::sqlite(Backend::Sqlite)]
    #[case::postgres(Backend::Postgres)]
    #[tokio::test]
    async fn an_enhanced_bind_and_a_delete_never_both_leave_a_dangling_binding(
        #[case] backend: Backend,
    ) {
        let Some(stores) = open(backend).await else {
            return;
        };
        let p = project("enh-race");
        let limits = EnhancedLimits {
            connections_per_project: 1000,
            bindings_per_connection: 100,
            routes_per_connection: 100,
        };
        for round in 0..15_i64 {
            let queue = format!("race_q{round}");
            let pool = format!("race_p{round}");
            stores
                .first
                .create_queue(&new_queue(&p, &queue, T0), 1000)
                .await
                .expect("queue");
            stores
                .first
                .create_pool(&new_queue(&p, &pool, T0), 1000)
                .await
                .expect("pool");
            let new = new_enhanced(&p, &format!("c{round}"), &[], &[], &[], T0 + round);
            assert_eq!(
                stores
                    .first
                    .create_enhanced(&new, &[], &limits)
                    .await
                    .expect("create"),
                Ok(())
            );
            let (binder, deleter) = (Arc::clone(&stores.first), Arc::clone(&stores.second));
            let (queue_names, pool_names) = (queues(&[&queue]), queues(&[&pool]));
            let (p1, p2, q, pl) = (p.clone(), p.clone(), queue.clone(), pool.clone());
            let bind = tokio::spawn(async move {
                binder
                    .bind_enhanced(
                        ConnectionKey::new(&p1, new.id),
                        EnhancedBind {
                            queues: &queue_names,
                            pools: &pool_names,
                            declared: &[],
                            limits: &limits,
                            now: T0 + 100,
                        },
                    )
                    .await
            });
            let delete = tokio::spawn(async move {
                let queue = deleter.delete_queue(&p2, &q).await.expect("delete queue");
                let pool = deleter.delete_pool(&p2, &pl).await.expect("delete pool");
                (queue, pool)
            });
            let bound = bind.await.expect("bind task").expect("bind");
            let (queue_deleted, pool_deleted) = delete.await.expect("delete task");
            let record = stores
                .first
                .get_enhanced(&p, new.id)
                .await
                .expect("get")
                .expect("found")
                .connection;
            let queue_exists = stores.first.queue_exists(&p, &queue).await.expect("exists");
            let pools = stores.first.list_pools(&p).await.expect("pools");
            let pool_exists = pools.iter().any(|stored| stored.name == pool);
            // Every binding names a queue or pool that still exists.
            for binding in &record.bindings {
                match binding.kind {
                    BindingKind::Queue => assert!(queue_exists, "round {round}: {record:?}"),
                    BindingKind::Pool => assert!(pool_exists, "round {round}: {record:?}"),
                }
            }
            match bound {
                Ok(()) => {
                    assert_eq!(record.bindings.len(), 2, "round {round}");
                    assert_eq!(queue_deleted, DeleteNamedOutcome::Bound(1), "round {round}");
                    assert_eq!(pool_deleted, DeleteNamedOutcome::Bound(1), "round {round}");
                }
                Err(EnhancedRefusal::UnknownQueue(_)) | Err(EnhancedRefusal::UnknownPool(_)) => {
                    assert!(record.bindings.is_empty(), "round {round}");
                }
                other => panic!("round {round}: unexpected bind outcome {other:?}"),
            }

            // A bind racing the connection's delete: never a binding on a DELETED one.
            let extra = format!("race_x{round}");
            stores
                .first
                .create_queue(&new_queue(&p, &extra, T0), 1000)
                .await
                .expect("queue");
            let (binder, deleter) = (Arc::clone(&stores.first), Arc::clone(&stores.second));
            let (p1, p2, names) = (p.clone(), p.clone(), queues(&[&extra]));
            let bind = tokio::spawn(async move {
                binder
                    .bind_enhanced(
                        ConnectionKey::new(&p1, new.id),
                        EnhancedBind {
                            queues: &names,
                            pools: &[],
                            declared: &[],
                            limits: &limits,
                            now: T0 + 200,
                        },
                    )
                    .await
            });
            let delete =
                tokio::spawn(async move { deleter.delete_enhanced(&p2, new.id, T0 + 200).await });
            let bound = bind.await.expect("bind task").expect("bind");
            assert_eq!(delete.await.expect("delete task").expect("delete"), Ok(()));
            assert!(
                matches!(bound, Ok(()) | Err(EnhancedRefusal::Deleted)),
                "round {round}: {bound:?}"
            );
            let record = stores
                .first
                .get_enhanced(&p, new.id)
                .await
                .expect("get")
                .expect("found")
                .connection;
            assert_eq!(record.status, "DELETED");
            assert!(record.bindings.is_empty(), "round {round}: {record:?}");
        }
        stores.finish().await;
    }
}
