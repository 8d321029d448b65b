//! Creates that share a grouped commit (issue 29: PostgreSQL groups its creates as SQLite
//! does): many projects at once, from two replicas, each batch holding the create locks
//! of several projects. Every quota and name stays exact, no batch waits on another's
//! locks in a cycle, and each create's event is recorded with it, in id order.

use std::collections::HashMap;

use dsconn::domain::{ProjectId, Service};
use dsconn::store::{EventQuery, ListQuery, StoreError};
use rstest::rstest;
use tokio::task::JoinSet;

use super::{Backend, T0, connection, open, project};

const PROJECTS: usize = 8;
const QUOTA: u32 = 6;
/// Distinct names per project: more than the quota takes.
const NAMES: usize = 9;
/// Creates per project of a name another create of the project also takes.
const SECOND_TRIES: usize = 3;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_of_many_projects_at_once_keep_every_quota_and_name_exact(
    #[case] backend: Backend,
) {
    let Some(stores) = open(backend).await else {
        return;
    };
    let projects: Vec<ProjectId> = (0..PROJECTS)
        .map(|n| project(&format!("proj-grouped-{n}")))
        .collect();
    let mut creates = JoinSet::new();
    let mut n = 0_i64;
    // Interleaved across projects and replicas, so batches hold several projects each.
    for round in 0..NAMES + SECOND_TRIES {
        for (index, p) in projects.iter().enumerate() {
            n += 1;
            let store = if (round + index) % 2 == 0 {
                stores.first.clone()
            } else {
                stores.second.clone()
            };
            // The last rounds take names the first rounds took.
            let name = format!("conn{}", round % NAMES);
            let new = connection(p, &name, Service::Rds, &[], &[], T0 + n);
            let p = p.clone();
            creates.spawn(async move { (p, store.create_connection(&new, QUOTA).await) });
        }
    }
    let mut created: HashMap<ProjectId, u32> = HashMap::new();
    while let Some(outcome) = creates.join_next().await {
        let (p, outcome) = outcome.expect("task");
        match outcome {
            Ok(()) => *created.entry(p).or_default() += 1,
            Err(StoreError::QuotaExceeded { quota: QUOTA } | StoreError::DuplicateName) => {}
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    for p in &projects {
        assert_eq!(created.get(p), Some(&QUOTA), "{p}");
        let page = stores
            .second
            .list_connections(p, &ListQuery::default())
            .await
            .expect("list");
        assert_eq!(page.total, u64::from(QUOTA), "{p}");
        let mut names: Vec<&str> = page.connections.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), page.connections.len(), "{p}: a name twice");
        let events = stores
            .first
            .list_events(&EventQuery {
                project: Some(p.clone()),
                action: Some("create".to_owned()),
                limit: 1000,
                oldest_first: true,
                ..EventQuery::default()
            })
            .await
            .expect("events");
        assert_eq!(
            events.len(),
            page.connections.len(),
            "{p}: one event per create"
        );
        assert!(events.windows(2).all(|pair| pair[0].id < pair[1].id));
    }
    stores.finish().await;
}
