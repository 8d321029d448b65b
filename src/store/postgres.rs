//! PostgreSQL, for several replicas sharing one database. Every method has the semantics
//! of the SQLite store; where SQLite gets atomicity from its single writer, this store
//! gets it from row locks, `FOR UPDATE SKIP LOCKED` claims and a per-project advisory
//! lock, so that any number of processes can run the same operations at once.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::backends::impl_stores;
use super::events::insert_each_event;
use super::sql::{Backend, Commits, Dialect, Event, GroupCommit, select_due_server_bindings};
use super::{Result, StoreError};
use crate::domain::ProjectId;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The first key of the advisory lock that serialises creates within a project (the
/// second is the project's hash). Two-key advisory locks live in a key space of their
/// own, apart from the one-bigint lock sqlx's migrator takes.
const CREATE_LOCK_CLASS: i32 = 0x6473_6331; // "dsc1"
/// The advisory lock that orders the events' ids (one for the deployment).
const EVENT_ORDER_LOCK: i64 = 0x6473_6576_656e_7473; // "dsevents"

/// How sessions show in `pg_stat_activity`, unless the URL names them.
const APPLICATION_NAME: &str = "dsconn";

/// The server ends a session that idles this long inside a transaction (a replica cut
/// off or frozen mid-transaction), releasing its row and advisory locks so the other
/// replicas do not wait on them for the length of a TCP timeout. Every transaction here
/// runs its statements back to back, so a live one never comes near it.
const IDLE_IN_TRANSACTION_SETTING: &str = "idle_in_transaction_session_timeout";
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "60s";

/// The unique index that keeps live names unique within a project.
const LIVE_NAME_INDEX: &str = "connections_live_name";

/// Explicit, whatever the server's `default_transaction_isolation`: the create's count
/// must see every create committed before it took the project lock, which needs a
/// snapshot per statement.
const BEGIN_READ_COMMITTED: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
/// A list's page, total and bindings come from one snapshot, so they agree.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// A pool of connections to a PostgreSQL database that other replicas may share.
pub struct PgStore {
    pool: PgPool,
    /// Where connection creates share transactions (see [`lock_projects`]).
    creates: GroupCommit<Postgres>,
    /// Who hears of committed changes.
    commits: Commits,
}

impl PgStore {
    /// Opens a pool and one connection to check the URL. A request waits at most
    /// `acquire_timeout` for a pooled connection, so a database outage makes requests
    /// fail fast instead of queueing; each connection is tested before it is handed out,
    /// so connections broken by an outage are replaced without a restart.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?;
        if options.get_application_name().is_none() {
            options = options.application_name(APPLICATION_NAME);
        }
        if !options
            .get_options()
            .is_some_and(|set| set.contains(IDLE_IN_TRANSACTION_SETTING))
        {
            options = options.options([(IDLE_IN_TRANSACTION_SETTING, IDLE_IN_TRANSACTION_TIMEOUT)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(true)
            .connect_with(options)
            .await?;
        Ok(Self {
            creates: GroupCommit::start_locking(
                pool.clone(),
                BEGIN_READ_COMMITTED,
                flush_events,
                lock_projects,
            ),
            pool,
            commits: Commits::default(),
        })
    }

    /// Applies pending migrations. Safe when several replicas start at once: sqlx 0.8's
    /// PostgreSQL migrator (`sqlx-postgres` `migrate.rs`, `lock()`) takes the session
    /// advisory lock `pg_advisory_lock(<hash of the database name>)` before it creates
    /// `_sqlx_migrations` or reads the applied versions, so a second replica waits and
    /// then finds everything applied; each migration and its bookkeeping row commit in
    /// one transaction.
    pub async fn migrate(&self) -> Result<()> {
        let mut connection = self.pool.acquire().await?;
        let outcome = MIGRATOR.run(&mut *connection).await;
        if outcome.is_err() {
            // On failure sqlx returns before `pg_advisory_unlock`; closing the session
            // releases the lock instead of parking it in the pool, where it would block
            // every other replica's migration.
            connection.close_on_drop();
        }
        outcome.map_err(StoreError::from)
    }

    /// Waits for in-flight queries and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests and diagnostics.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Dialect for PgStore {
    type Db = Postgres;
    /// A `text[]`.
    type TextList = Vec<String>;

    fn text_list<S: AsRef<str>>(values: &[S]) -> Vec<String> {
        values
            .iter()
            .map(|value| value.as_ref().to_owned())
            .collect()
    }

    const IN_TEXT_LIST: (&'static str, &'static str) = ("= ANY(", ")");
    /// ASCII-only case folding on both sides ("C" collation), as SQLite's lower().
    const NAME_CONTAINS: (&'static str, &'static str) =
        (" AND strpos(lower(name), lower(", " COLLATE \"C\")) > 0");
    /// PostgreSQL reads LIMIT NULL as "no limit".
    const NO_LIMIT: Option<i64> = None;
    /// Holds off a delete until the new bindings are in, so a delete never leaves
    /// bindings behind on a DELETED connection.
    const LOCK_FOR_SHARE: &'static str = " FOR SHARE";
    const CLAIM_LOCK: &'static str = " FOR UPDATE OF w SKIP LOCKED";
    const LOCK_FOR_UPDATE: &'static str = " FOR UPDATE";
    /// ON CONFLICT DO NOTHING also skips a queue listed twice, as SQLite's INSERT OR IGNORE.
    const INSERT_BINDINGS: &'static str = "INSERT INTO queue_bindings \
             (peer_id, connection_id, queue_name, status, update_time) \
         SELECT q.peer_id, $1, q.queue_name, 'CREATING', $2 \
         FROM UNNEST($3::text[], $4::text[]) AS q (peer_id, queue_name) \
         ON CONFLICT DO NOTHING";
    const INSERT_TAGS: &'static str = "INSERT INTO connection_tags \
             (connection_id, project_id, key, value) \
         SELECT $1, $2, t.key, t.value FROM UNNEST($3::text[], $4::text[]) AS t (key, value)";

    // SKIP LOCKED: replicas claiming at once take disjoint rows. A row another claimer
    // has just committed is re-checked against its new lease and left out.
    const CLAIM_CREATING: &'static str = "WITH due AS MATERIALIZED ( \
             SELECT id FROM connections \
             WHERE state = 'CREATING' AND awaiting_queues = 0 \
               AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY create_time LIMIT $4 \
             FOR UPDATE SKIP LOCKED), \
         claimed AS ( \
             UPDATE connections c SET lease_owner = $1, lease_until = $2 \
             FROM due WHERE c.id = due.id \
             RETURNING c.id, c.project_id, c.service, c.destination, c.create_time) \
         SELECT id, project_id, service, destination FROM claimed \
         ORDER BY create_time, id";
    const CLAIM_BINDINGS: &'static str = concat!(
        "WITH due AS MATERIALIZED ( ",
        select_due_server_bindings!(),
        " FOR UPDATE OF b SKIP LOCKED), \
         claimed AS ( \
             UPDATE queue_bindings b SET lease_owner = $1, lease_until = $2 \
             FROM due WHERE b.peer_id = due.peer_id \
             RETURNING b.peer_id, b.queue_name, b.connection_id, b.update_time, b.status, \
                 b.login_failed_at) \
         SELECT claimed.peer_id, claimed.queue_name, claimed.update_time, claimed.status, \
             claimed.login_failed_at, c.id, c.project_id, c.service, c.destination, c.session \
         FROM claimed JOIN connections c ON c.id = claimed.connection_id \
         ORDER BY claimed.update_time, claimed.peer_id"
    );
    const CLAIM_RECHECKS: &'static str = "WITH due AS MATERIALIZED ( \
             SELECT id FROM connections \
             WHERE state = 'ACTIVE' AND next_check_at <= $3 \
               AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY next_check_at LIMIT $4 \
             FOR UPDATE SKIP LOCKED), \
         claimed AS ( \
             UPDATE connections c SET lease_owner = $1, lease_until = $2 \
             FROM due WHERE c.id = due.id \
             RETURNING c.id, c.project_id, c.service, c.destination, c.next_check_at) \
         SELECT id, project_id, service, destination FROM claimed \
         ORDER BY next_check_at, id";

    fn is_duplicate_name(error: &dyn sqlx::error::DatabaseError) -> bool {
        error.is_unique_violation() && error.constraint() == Some(LIVE_NAME_INDEX)
    }
}

#[async_trait]
impl Backend for PgStore {
    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Writers take turns from here to their commit (a transaction-scoped lock), so ids
    /// commit in order and a follower that read id n never later finds a lower one.
    async fn order_events(connection: &mut PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENT_ORDER_LOCK)
            .execute(connection)
            .await?;
        Ok(())
    }

    async fn insert_events(
        connection: &mut <Postgres as sqlx::Database>::Connection,
        events: &[Event],
    ) -> Result<()> {
        if events.is_empty() || !super::events::recording() {
            return Ok(());
        }
        // A grouped create's events go in with its batch's (see group_commit).
        if super::group_commit::defer_events(events) {
            crate::telemetry::metrics::record_events_written(events.len());
            return Ok(());
        }
        Self::order_events(&mut *connection).await?;
        insert_each_event!(connection, events);
        Ok(())
    }

    /// Creates only: they are what contends (on their project's lock, each holding it
    /// through its own fsync when alone). Other writes keep their own transactions: in a
    /// batch, their row locks would be taken in no order shared across replicas.
    fn create_group(&self) -> Option<&GroupCommit<Postgres>> {
        Some(&self.creates)
    }

    fn subscribers(&self) -> &Commits {
        &self.commits
    }

    async fn close_pools(&self) {
        PgStore::close(self).await;
    }

    /// Row locks (an UPDATE's, or FOR SHARE) order the writers.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin_with(BEGIN_READ_COMMITTED).await?)
    }

    async fn begin_snapshot(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin_with(BEGIN_SNAPSHOT).await?)
    }

    /// Creates in one project take turns (on every replica), so the quota's count and
    /// the insert cannot both see the same last free place. The lock goes with the
    /// transaction.
    async fn begin_create(&self, project: &ProjectId) -> Result<Transaction<'static, Postgres>> {
        let mut transaction = self.pool.begin_with(BEGIN_READ_COMMITTED).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(CREATE_LOCK_CLASS)
            .bind(project.as_str())
            .execute(&mut *transaction)
            .await?;
        Ok(transaction)
    }
}

/// Takes the create locks of a grouped batch's projects (see [`Backend::begin_create`]),
/// right after its BEGIN and before any of its creates runs, in ascending order of the
/// lock's key (the project's hash: projects sharing one share the lock), the one order
/// every replica's batches use. A batch waiting for a lock holds only the locks before
/// it and nothing else (no row lock yet, and the event-order lock comes last, in
/// [`flush_events`]); a one-project transaction holds at most one of these locks, taken
/// first. So no two of them can wait on each other in a cycle: a deadlock between two
/// replicas' batches would fail both batches' creates after `deadlock_timeout`.
fn lock_projects(
    connection: &mut PgConnection,
    projects: Vec<String>,
) -> BoxFuture<'_, std::result::Result<(), sqlx::Error>> {
    Box::pin(async move {
        if let [project] = projects.as_slice() {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind(CREATE_LOCK_CLASS)
                .bind(project.as_str())
                .execute(&mut *connection)
                .await?;
            return Ok(());
        }
        let mut keys: Vec<i32> =
            sqlx::query_scalar("SELECT DISTINCT hashtext(p) FROM UNNEST($1::text[]) AS p")
                .bind(&projects)
                .fetch_all(&mut *connection)
                .await?;
        // Sorted here, not by the query: the order the locks are taken in is the point.
        keys.sort_unstable();
        for key in keys {
            sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                .bind(CREATE_LOCK_CLASS)
                .bind(key)
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    })
}

/// Inserts a grouped batch's events in one statement, its ids in order (the event-order
/// lock, held to the commit, is the last lock the batch takes).
fn flush_events(
    connection: &mut PgConnection,
    events: Vec<Event>,
) -> BoxFuture<'_, std::result::Result<(), sqlx::Error>> {
    Box::pin(async move {
        if events.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENT_ORDER_LOCK)
            .execute(&mut *connection)
            .await?;
        let mut times = Vec::with_capacity(events.len());
        let mut projects = Vec::with_capacity(events.len());
        let mut actors = Vec::with_capacity(events.len());
        let mut clients = Vec::with_capacity(events.len());
        let mut request_ids = Vec::with_capacity(events.len());
        let mut resource_types = Vec::with_capacity(events.len());
        let mut resource_ids = Vec::with_capacity(events.len());
        let mut actions = Vec::with_capacity(events.len());
        let mut changes = Vec::with_capacity(events.len());
        for event in &events {
            times.push(event.time);
            projects.push(event.project.as_deref());
            actors.push(event.actor.name.as_str());
            clients.push(event.actor.client.as_deref());
            request_ids.push(event.actor.request_id.as_deref());
            resource_types.push(event.resource_type);
            resource_ids.push(event.resource_id.as_str());
            actions.push(event.action);
            changes.push(event.changes_json());
        }
        sqlx::query(
            "INSERT INTO events (time, project_id, actor, client, request_id, \
                 resource_type, resource_id, action, changes) \
             SELECT time, project_id, actor, client, request_id, resource_type, \
                 resource_id, action, changes \
             FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) \
             WITH ORDINALITY AS e (time, project_id, actor, client, request_id, \
                 resource_type, resource_id, action, changes, n) ORDER BY n",
        )
        .bind(times)
        .bind(projects)
        .bind(actors)
        .bind(clients)
        .bind(request_ids)
        .bind(resource_types)
        .bind(resource_ids)
        .bind(actions)
        .bind(changes)
        .execute(&mut *connection)
        .await?;
        Ok(())
    })
}

impl_stores!(PgStore, Postgres);
