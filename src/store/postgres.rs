//! PostgreSQL, for several replicas sharing one database. Every method has the semantics
//! of the SQLite store; where SQLite gets atomicity from its single writer, this store
//! gets it from row locks, `FOR UPDATE SKIP LOCKED` claims and a per-project advisory
//! lock, so that any number of processes can run the same operations at once.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use super::{
    BindingOutcome, BindingResult, CheckResult, ConnectionPage, ConnectionRecord, Connectivity,
    CredentialRecord, DeleteOutcome, ListQuery, NewConnection, NewCredential, NewToken,
    PendingBinding, PendingCheck, QueueBinding, ReactivateOutcome, Result, SortOrder, Store,
    StoreError, StoreStats, TokenRecord,
};
use crate::domain::{
    ConnectionId, ConnectionState, ProjectId, ProjectScope, QueueName, Service, Tag,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The first key of the advisory lock that serialises creates within a project (the
/// second is the project's hash). Two-key advisory locks live in a key space of their
/// own, apart from the one-bigint lock sqlx's migrator takes.
const CREATE_LOCK_CLASS: i32 = 0x6473_6331; // "dsc1"

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

const CONNECTION_COLUMNS: &str = "id, project_id, name, service, destination, \
    security_group_id, network_id, tags, state, process, connection_url, message, \
    create_time, update_time, failure_reason, connectivity, last_checked_at";
const BINDING_COLUMNS: &str = "peer_id, connection_id, queue_name, status, err_msg, \
    failure_reason, connectivity, last_checked_at, update_time";
// The columns consecutive_failures and locked_until (migration 0002) are no longer read
// or written: the lockout they served is gone. They stay so that a replica of an older
// build keeps working against this schema during a rolling upgrade.
const CREDENTIAL_COLUMNS: &str = "access_key, sealed_secret_key, all_projects, projects, \
    created_at, revoked_at";
const TOKEN_COLUMNS: &str = "id, all_projects, projects, created_at, expires_at, revoked_at";

/// A pool of connections to a PostgreSQL database that other replicas may share.
pub struct PgStore {
    pool: PgPool,
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
        Ok(Self { pool })
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

/// The bindings of these connections, in one query, by connection id.
async fn bindings_for(
    executor: &mut sqlx::PgConnection,
    connection_ids: &[String],
) -> Result<super::BindingsByConnection> {
    if connection_ids.is_empty() {
        return Ok(super::BindingsByConnection::new());
    }
    // One query per page, never one per row: the ids travel as one array parameter.
    let rows = sqlx::query(&format!(
        "SELECT {BINDING_COLUMNS} FROM queue_bindings \
         WHERE connection_id = ANY($1) ORDER BY queue_name"
    ))
    .bind(connection_ids)
    .fetch_all(executor)
    .await?;
    super::group_bindings(rows.iter().map(parse_binding))
}

/// A scope as two columns: `all_projects` and a JSON array of projects.
fn scope_columns(scope: &ProjectScope) -> (bool, String) {
    match scope {
        ProjectScope::All => (true, "[]".to_owned()),
        ProjectScope::Projects(projects) => (
            false,
            serde_json::to_string(projects).unwrap_or_else(|_| "[]".to_owned()),
        ),
    }
}

fn parse_scope(row: &PgRow) -> Result<ProjectScope> {
    let all: bool = row.try_get("all_projects")?;
    if all {
        return Ok(ProjectScope::All);
    }
    let projects: String = row.try_get("projects")?;
    serde_json::from_str(&projects)
        .map(ProjectScope::Projects)
        .map_err(|error| StoreError::Corrupt(format!("scope projects: {error}")))
}

fn parse_credential(row: &PgRow) -> Result<CredentialRecord> {
    Ok(CredentialRecord {
        access_key: row.try_get("access_key")?,
        sealed_secret_key: row.try_get("sealed_secret_key")?,
        scope: parse_scope(row)?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn parse_token(row: &PgRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        scope: parse_scope(row)?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn parse_state(raw: &str) -> Result<ConnectionState> {
    ConnectionState::from_str(raw).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn parse_record(row: &PgRow) -> Result<ConnectionRecord> {
    let id: String = row.try_get("id")?;
    let id = ConnectionId::parse(&id)
        .ok_or_else(|| StoreError::Corrupt(format!("connection id {id:?} is not a UUID")))?;
    let service: String = row.try_get("service")?;
    let service = Service::parse(&service)
        .map_err(|error| StoreError::Corrupt(format!("connection {id}: {error}")))?;
    let state: String = row.try_get("state")?;
    let state = ConnectionState::from_str(&state)
        .map_err(|error| StoreError::Corrupt(format!("connection {id}: {error}")))?;
    let tags: String = row.try_get("tags")?;
    let tags: Vec<Tag> = serde_json::from_str(&tags)
        .map_err(|error| StoreError::Corrupt(format!("connection {id} tags: {error}")))?;
    Ok(ConnectionRecord {
        id,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        service,
        destination: row.try_get("destination")?,
        security_group_id: row.try_get("security_group_id")?,
        network_id: row.try_get("network_id")?,
        tags,
        state,
        process: row.try_get("process")?,
        connection_url: row.try_get("connection_url")?,
        message: row.try_get("message")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
        failure_reason: row.try_get("failure_reason")?,
        connectivity: row.try_get("connectivity")?,
        last_checked_at: row.try_get("last_checked_at")?,
        queues: Vec::new(),
        check_report: None,
    })
}

fn parse_binding(row: &PgRow) -> Result<(String, QueueBinding)> {
    Ok((
        row.try_get("connection_id")?,
        QueueBinding {
            peer_id: row.try_get("peer_id")?,
            queue_name: row.try_get("queue_name")?,
            status: row.try_get("status")?,
            err_msg: row.try_get("err_msg")?,
            failure_reason: row.try_get("failure_reason")?,
            connectivity: row.try_get("connectivity")?,
            last_checked_at: row.try_get("last_checked_at")?,
            update_time: row.try_get("update_time")?,
        },
    ))
}

fn parse_pending(row: &PgRow, id_column: &str) -> Result<PendingCheck> {
    let id: String = row.try_get(id_column)?;
    let service: String = row.try_get("service")?;
    Ok(PendingCheck {
        id: ConnectionId::parse(&id)
            .ok_or_else(|| StoreError::Corrupt(format!("connection id {id:?} is not a UUID")))?,
        project_id: row.try_get("project_id")?,
        service: Service::parse(&service)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?,
        destination: row.try_get("destination")?,
    })
}

fn lease_end(now: i64, lease: Duration) -> i64 {
    now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

/// Rows affected as a count of queues.
fn affected(rows: u64) -> usize {
    usize::try_from(rows).unwrap_or(usize::MAX)
}

/// Appends the WHERE clause of a list query (project scope first, so the project index
/// serves every filter).
fn push_list_filters<'q>(
    builder: &mut QueryBuilder<'q, Postgres>,
    project: &'q ProjectId,
    query: &'q ListQuery,
) {
    builder
        .push(" WHERE project_id = ")
        .push_bind(project.as_str());
    if let Some(name) = &query.name_contains {
        // ASCII-only case folding on both sides ("C" collation), as SQLite's lower().
        builder
            .push(" AND strpos(lower(name), lower(")
            .push_bind(name.as_str())
            .push(" COLLATE \"C\")) > 0");
    }
    if !query.states.is_empty() {
        let states: Vec<&str> = query.states.iter().map(|state| state.as_str()).collect();
        builder
            .push(" AND state = ANY(")
            .push_bind(states)
            .push(")");
    }
    if let Some(service) = query.service {
        builder.push(" AND service = ").push_bind(service.as_str());
    }
    for term in query.tags.terms() {
        builder
            .push(
                " AND EXISTS (SELECT 1 FROM connection_tags t \
                 WHERE t.connection_id = connections.id AND t.key = ",
            )
            .push_bind(term.key.as_str());
        if let Some(value) = &term.value {
            builder.push(" AND t.value = ").push_bind(value.as_str());
        }
        builder.push(")");
    }
}

/// A connection's state, its row locked until the transaction ends, so that the
/// outcome decided from it cannot be overtaken by a concurrent change.
async fn lock_state(
    transaction: &mut Transaction<'static, Postgres>,
    project: &ProjectId,
    id: &str,
    lock: &str,
) -> Result<Option<ConnectionState>> {
    let state: Option<String> = sqlx::query_scalar(&format!(
        "SELECT state FROM connections WHERE id = $1 AND project_id = $2 {lock}"
    ))
    .bind(id)
    .bind(project.as_str())
    .fetch_optional(&mut **transaction)
    .await?;
    state.as_deref().map(parse_state).transpose()
}

/// Inserts CREATING bindings for the queues not yet bound; how many were new.
async fn insert_bindings(
    transaction: &mut Transaction<'static, Postgres>,
    connection_id: &str,
    queues: &[QueueName],
    now: i64,
) -> Result<usize> {
    if queues.is_empty() {
        return Ok(0);
    }
    let peer_ids: Vec<String> = queues
        .iter()
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let names: Vec<&str> = queues.iter().map(QueueName::as_str).collect();
    // ON CONFLICT DO NOTHING also skips a queue listed twice, as SQLite's INSERT OR IGNORE.
    let inserted = sqlx::query(
        "INSERT INTO queue_bindings (peer_id, connection_id, queue_name, status, update_time) \
         SELECT q.peer_id, $1, q.queue_name, 'CREATING', $2 \
         FROM UNNEST($3::text[], $4::text[]) AS q (peer_id, queue_name) \
         ON CONFLICT DO NOTHING",
    )
    .bind(connection_id)
    .bind(now)
    .bind(&peer_ids)
    .bind(&names)
    .execute(&mut **transaction)
    .await?;
    Ok(affected(inserted.rows_affected()))
}

#[async_trait]
impl Store for PgStore {
    async fn stats(&self) -> Result<StoreStats> {
        let now = crate::domain::now_millis();
        let rows = sqlx::query(
            "SELECT state, service, COUNT(*) AS n FROM connections GROUP BY state, service",
        )
        .fetch_all(&self.pool)
        .await?;
        let connections = rows
            .iter()
            .map(|row| {
                let count: i64 = row.try_get("n")?;
                Ok((
                    row.try_get("state")?,
                    row.try_get("service")?,
                    u64::try_from(count).unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let work = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM connections WHERE state = 'CREATING' \
                  AND (lease_until IS NULL OR lease_until < $1)) \
             + (SELECT COUNT(*) FROM queue_bindings WHERE status = 'CREATING' \
                  AND (lease_until IS NULL OR lease_until < $1)) AS pending, \
               (SELECT COUNT(*) FROM connections WHERE lease_until >= $1) \
             + (SELECT COUNT(*) FROM queue_bindings WHERE lease_until >= $1) AS leased",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let pending: i64 = work.try_get("pending")?;
        let leased: i64 = work.try_get("leased")?;
        Ok(StoreStats {
            connections,
            pending_checks: u64::try_from(pending).unwrap_or_default(),
            leased_checks: u64::try_from(leased).unwrap_or_default(),
        })
    }

    async fn close(&self) {
        PgStore::close(self).await;
    }

    async fn create_connection(&self, new: &NewConnection, quota: u32) -> Result<()> {
        let tags_json = serde_json::to_string(new.tags.as_slice())
            .map_err(|error| StoreError::Corrupt(format!("tags do not serialise: {error}")))?;
        let id = new.id.to_string();
        let mut transaction = self.pool.begin_with(BEGIN_READ_COMMITTED).await?;
        // Creates in one project take turns (on every replica), so the count below and
        // the insert cannot both see the same last free place. The lock goes with the
        // transaction.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(CREATE_LOCK_CLASS)
            .bind(new.project_id.as_str())
            .execute(&mut *transaction)
            .await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM connections WHERE project_id = $1 AND state <> 'DELETED'",
        )
        .bind(new.project_id.as_str())
        .fetch_one(&mut *transaction)
        .await?;
        // A full project is refused before the name is looked at, as in SQLite.
        if live >= i64::from(quota) {
            return Err(StoreError::QuotaExceeded { quota });
        }
        sqlx::query(
            "INSERT INTO connections (id, project_id, name, service, destination, \
                 security_group_id, network_id, tags, state, process, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'CREATING', 0.0, $9, $9)",
        )
        .bind(&id)
        .bind(new.project_id.as_str())
        .bind(&new.name)
        .bind(new.service.as_str())
        .bind(&new.destination)
        .bind(&new.security_group_id)
        .bind(&new.network_id)
        .bind(&tags_json)
        .bind(new.create_time)
        .execute(&mut *transaction)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db)
                if db.is_unique_violation() && db.constraint() == Some(LIVE_NAME_INDEX) =>
            {
                StoreError::DuplicateName
            }
            _ => StoreError::Database(error),
        })?;
        if !new.tags.as_slice().is_empty() {
            let keys: Vec<&str> = new.tags.as_slice().iter().map(|t| t.key.as_str()).collect();
            let values: Vec<&str> = new
                .tags
                .as_slice()
                .iter()
                .map(|t| t.value.as_str())
                .collect();
            sqlx::query(
                "INSERT INTO connection_tags (connection_id, project_id, key, value) \
                 SELECT $1, $2, t.key, t.value FROM UNNEST($3::text[], $4::text[]) AS t (key, value)",
            )
            .bind(&id)
            .bind(new.project_id.as_str())
            .bind(&keys)
            .bind(&values)
            .execute(&mut *transaction)
            .await?;
        }
        insert_bindings(&mut transaction, &id, &new.queues, new.create_time).await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn get_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>> {
        // The row and its bindings from one snapshot: under read committed each statement
        // has its own, and a delete in between showed a live row without its bindings.
        let mut transaction = self.pool.begin_with(BEGIN_SNAPSHOT).await?;
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS}, check_report FROM connections \
             WHERE id = $1 AND project_id = $2"
        ))
        .bind(id.to_string())
        .bind(project.as_str())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            transaction.commit().await?;
            return Ok(None);
        };
        let mut record = parse_record(&row)?;
        record.check_report = row.try_get("check_report")?;
        let id = record.id.to_string();
        record.queues = bindings_for(&mut transaction, std::slice::from_ref(&id))
            .await?
            .remove(&id)
            .unwrap_or_default();
        transaction.commit().await?;
        Ok(Some(record))
    }

    async fn find_live_connection_by_name(
        &self,
        project: &ProjectId,
        name: &str,
    ) -> Result<Option<ConnectionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections \
             WHERE project_id = $1 AND name = $2 AND state <> 'DELETED'"
        ))
        .bind(project.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(parse_record).transpose()
    }

    async fn ping(&self) -> Result<()> {
        let applied: Vec<(i64, bool)> = sqlx::query_as(super::APPLIED_MIGRATIONS)
            .fetch_all(&self.pool)
            .await?;
        super::check_migrations(&MIGRATOR, &applied)
    }

    async fn list_connections(
        &self,
        project: &ProjectId,
        query: &ListQuery,
    ) -> Result<ConnectionPage> {
        let mut transaction = self.pool.begin_with(BEGIN_SNAPSHOT).await?;
        let mut select = QueryBuilder::new(format!("SELECT {CONNECTION_COLUMNS} FROM connections"));
        push_list_filters(&mut select, project, query);
        let direction = match query.order {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        };
        select.push(format!(
            " ORDER BY create_time {direction}, id {direction} LIMIT "
        ));
        // PostgreSQL reads LIMIT NULL as "no limit".
        select.push_bind(query.limit.map(i64::from));
        select.push(" OFFSET ").push_bind(i64::from(query.offset));
        let rows = select.build().fetch_all(&mut *transaction).await?;
        let mut connections = rows.iter().map(parse_record).collect::<Result<Vec<_>>>()?;
        let ids: Vec<String> = connections.iter().map(|c| c.id.to_string()).collect();
        let mut bindings = bindings_for(&mut transaction, &ids).await?;
        for connection in &mut connections {
            if let Some(queues) = bindings.remove(&connection.id.to_string()) {
                connection.queues = queues;
            }
        }

        let unpaged = query.limit.is_none() && query.offset == 0;
        let total = if unpaged {
            connections.len() as u64
        } else {
            let mut count = QueryBuilder::new("SELECT COUNT(*) FROM connections");
            push_list_filters(&mut count, project, query);
            let total: i64 = count
                .build_query_scalar()
                .fetch_one(&mut *transaction)
                .await?;
            u64::try_from(total).unwrap_or_default()
        };
        transaction.commit().await?;
        Ok(ConnectionPage { total, connections })
    }

    async fn delete_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        now: i64,
    ) -> Result<DeleteOutcome> {
        let id = id.to_string();
        let mut transaction = self.pool.begin_with(BEGIN_READ_COMMITTED).await?;
        // The row lock waits for a check that is recording its result, then decides on
        // the state it left.
        let outcome = match lock_state(&mut transaction, project, &id, "FOR UPDATE").await? {
            None => DeleteOutcome::NotFound,
            Some(ConnectionState::Creating) => DeleteOutcome::StillCreating,
            Some(ConnectionState::Deleted) => DeleteOutcome::AlreadyDeleted,
            Some(ConnectionState::Active | ConnectionState::Failed) => {
                sqlx::query(
                    "UPDATE connections SET state = 'DELETED', process = 0.0, \
                         connection_url = '', deleted_at = $1, update_time = $1, \
                         next_check_at = NULL \
                     WHERE id = $2",
                )
                .bind(now)
                .bind(&id)
                .execute(&mut *transaction)
                .await?;
                sqlx::query("DELETE FROM queue_bindings WHERE connection_id = $1")
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await?;
                DeleteOutcome::Deleted
            }
        };
        transaction.commit().await?;
        Ok(outcome)
    }

    async fn claim_pending_checks(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        now: i64,
    ) -> Result<Vec<PendingCheck>> {
        // SKIP LOCKED: replicas claiming at once take disjoint rows. A row another
        // claimer has just committed is re-checked against its new lease and left out.
        let rows = sqlx::query(
            "WITH due AS MATERIALIZED ( \
                 SELECT id FROM connections \
                 WHERE state = 'CREATING' AND (lease_until IS NULL OR lease_until < $3) \
                 ORDER BY create_time LIMIT $4 \
                 FOR UPDATE SKIP LOCKED), \
             claimed AS ( \
                 UPDATE connections c SET lease_owner = $1, lease_until = $2 \
                 FROM due WHERE c.id = due.id \
                 RETURNING c.id, c.project_id, c.service, c.destination, c.create_time) \
             SELECT id, project_id, service, destination FROM claimed \
             ORDER BY create_time, id",
        )
        .bind(owner)
        .bind(lease_end(now, lease))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| parse_pending(row, "id")).collect()
    }

    async fn record_progress(
        &self,
        id: ConnectionId,
        owner: &str,
        process: f64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET process = $1, update_time = $2 \
             WHERE id = $3 AND state = 'CREATING' AND lease_owner = $4",
        )
        .bind(process)
        .bind(now)
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_check_result(
        &self,
        id: ConnectionId,
        owner: &str,
        result: &CheckResult,
        now: i64,
    ) -> Result<bool> {
        let connectivity = if result.state == ConnectionState::Active {
            "REACHABLE"
        } else {
            "UNREACHABLE"
        };
        let updated = sqlx::query(
            "UPDATE connections SET state = $1, process = $2, connection_url = $3, message = $4, \
                 check_report = $5, update_time = $6, failure_reason = $7, connectivity = $8, \
                 last_checked_at = $6, next_check_at = $9, lease_owner = NULL, lease_until = NULL \
             WHERE id = $10 AND state = 'CREATING' AND lease_owner = $11",
        )
        .bind(result.state.as_str())
        .bind(result.process)
        .bind(&result.connection_url)
        .bind(&result.message)
        .bind(&result.report)
        .bind(now)
        .bind(result.failure_reason.as_deref())
        .bind(connectivity)
        .bind(result.next_check_at)
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn purge_deleted(&self, deleted_before: i64) -> Result<u64> {
        let purged =
            sqlx::query("DELETE FROM connections WHERE state = 'DELETED' AND deleted_at < $1")
                .bind(deleted_before)
                .execute(&self.pool)
                .await?;
        Ok(purged.rows_affected())
    }

    async fn claim_pending_bindings(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        now: i64,
    ) -> Result<Vec<PendingBinding>> {
        // One statement claims and returns each binding with its connection.
        let rows = sqlx::query(
            "WITH due AS MATERIALIZED ( \
                 SELECT b.peer_id FROM queue_bindings b \
                 JOIN connections c ON c.id = b.connection_id \
                 WHERE b.status = 'CREATING' AND c.state <> 'DELETED' \
                   AND (b.lease_until IS NULL OR b.lease_until < $3) \
                 ORDER BY b.update_time LIMIT $4 \
                 FOR UPDATE OF b SKIP LOCKED), \
             claimed AS ( \
                 UPDATE queue_bindings b SET lease_owner = $1, lease_until = $2 \
                 FROM due WHERE b.peer_id = due.peer_id \
                 RETURNING b.peer_id, b.queue_name, b.connection_id, b.update_time) \
             SELECT claimed.peer_id, claimed.queue_name, c.id AS connection_id, c.project_id, \
                 c.service, c.destination \
             FROM claimed JOIN connections c ON c.id = claimed.connection_id \
             ORDER BY claimed.update_time, claimed.peer_id",
        )
        .bind(owner)
        .bind(lease_end(now, lease))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingBinding {
                    peer_id: row.try_get("peer_id")?,
                    queue_name: row.try_get("queue_name")?,
                    check: parse_pending(row, "connection_id")?,
                })
            })
            .collect()
    }

    async fn record_binding_result(
        &self,
        peer_id: &str,
        owner: &str,
        result: &BindingResult,
        now: i64,
    ) -> Result<bool> {
        let (status, connectivity) = if result.active {
            ("ACTIVE", "REACHABLE")
        } else {
            ("FAILED", "UNREACHABLE")
        };
        let updated = sqlx::query(
            "UPDATE queue_bindings SET status = $1, err_msg = $2, failure_reason = $3, \
                 connectivity = $4, last_checked_at = $5, update_time = $5, \
                 lease_owner = NULL, lease_until = NULL \
             WHERE peer_id = $6 AND status = 'CREATING' AND lease_owner = $7",
        )
        .bind(status)
        .bind(&result.err_msg)
        .bind(result.failure_reason.as_deref())
        .bind(connectivity)
        .bind(now)
        .bind(peer_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn claim_due_rechecks(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        now: i64,
    ) -> Result<Vec<PendingCheck>> {
        let rows = sqlx::query(
            "WITH due AS MATERIALIZED ( \
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
             ORDER BY next_check_at, id",
        )
        .bind(owner)
        .bind(lease_end(now, lease))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| parse_pending(row, "id")).collect()
    }

    async fn record_connectivity(
        &self,
        id: ConnectionId,
        owner: Option<&str>,
        connectivity: &Connectivity,
        now: i64,
    ) -> Result<bool> {
        let id = id.to_string();
        let mut transaction = self.pool.begin_with(BEGIN_READ_COMMITTED).await?;
        let updated = sqlx::query(
            "UPDATE connections SET connectivity = $1, last_checked_at = $2, check_report = $3, \
                 next_check_at = COALESCE($4, next_check_at), \
                 lease_owner = CASE WHEN $6::text IS NULL THEN lease_owner ELSE NULL END, \
                 lease_until = CASE WHEN $6::text IS NULL THEN lease_until ELSE NULL END \
             WHERE id = $5 AND state = 'ACTIVE' AND ($6::text IS NULL OR lease_owner = $6)",
        )
        .bind(connectivity.label())
        .bind(now)
        .bind(&connectivity.report)
        .bind(connectivity.next_check_at)
        .bind(&id)
        .bind(owner)
        .execute(&mut *transaction)
        .await?;
        if updated.rows_affected() == 0 {
            transaction.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE queue_bindings SET connectivity = $1, last_checked_at = $2 \
             WHERE connection_id = $3 AND status = 'ACTIVE'",
        )
        .bind(connectivity.label())
        .bind(now)
        .bind(&id)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(true)
    }

    async fn reactivate_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        now: i64,
    ) -> Result<ReactivateOutcome> {
        let id = id.to_string();
        let mut transaction = self.pool.begin_with(BEGIN_READ_COMMITTED).await?;
        let outcome = match lock_state(&mut transaction, project, &id, "FOR UPDATE").await? {
            None => ReactivateOutcome::NotFound,
            Some(ConnectionState::Failed) => {
                sqlx::query(
                    "UPDATE connections SET state = 'CREATING', process = 0.0, message = '', \
                         failure_reason = NULL, connection_url = '', update_time = $1, \
                         lease_owner = NULL, lease_until = NULL \
                     WHERE id = $2",
                )
                .bind(now)
                .bind(&id)
                .execute(&mut *transaction)
                .await?;
                ReactivateOutcome::Reactivated
            }
            Some(state) => ReactivateOutcome::NotFailed(state),
        };
        transaction.commit().await?;
        Ok(outcome)
    }

    async fn associate_queues(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        queues: &[QueueName],
        now: i64,
    ) -> Result<BindingOutcome> {
        let id = id.to_string();
        let mut transaction = self.pool.begin_with(BEGIN_READ_COMMITTED).await?;
        // FOR SHARE holds off a delete until the new bindings are in, so a delete never
        // leaves bindings behind on a DELETED connection.
        let outcome = match lock_state(&mut transaction, project, &id, "FOR SHARE").await? {
            None => BindingOutcome::NotFound,
            Some(ConnectionState::Deleted) => BindingOutcome::Deleted,
            Some(_) => {
                BindingOutcome::Changed(insert_bindings(&mut transaction, &id, queues, now).await?)
            }
        };
        transaction.commit().await?;
        Ok(outcome)
    }

    async fn disassociate_queues(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        queues: &[QueueName],
        _now: i64,
    ) -> Result<BindingOutcome> {
        let id = id.to_string();
        let mut transaction = self.pool.begin_with(BEGIN_READ_COMMITTED).await?;
        let outcome = match lock_state(&mut transaction, project, &id, "FOR SHARE").await? {
            None => BindingOutcome::NotFound,
            Some(ConnectionState::Deleted) => BindingOutcome::Deleted,
            Some(_) => {
                let names: Vec<&str> = queues.iter().map(QueueName::as_str).collect();
                let deleted = sqlx::query(
                    "DELETE FROM queue_bindings WHERE connection_id = $1 AND queue_name = ANY($2)",
                )
                .bind(&id)
                .bind(&names)
                .execute(&mut *transaction)
                .await?;
                BindingOutcome::Changed(affected(deleted.rows_affected()))
            }
        };
        transaction.commit().await?;
        Ok(outcome)
    }

    async fn insert_credential(&self, credential: &NewCredential) -> Result<()> {
        let (all_projects, projects) = scope_columns(&credential.scope);
        sqlx::query(
            "INSERT INTO credentials (access_key, sealed_secret_key, all_projects, projects, \
                 created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&credential.access_key)
        .bind(&credential.sealed_secret_key)
        .bind(all_projects)
        .bind(projects)
        .bind(credential.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_credential(&self, access_key: &str) -> Result<Option<CredentialRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE access_key = $1"
        ))
        .bind(access_key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(parse_credential).transpose()
    }

    async fn list_credentials(&self) -> Result<Vec<CredentialRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials ORDER BY created_at, access_key"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(parse_credential).collect()
    }

    async fn revoke_credential(&self, access_key: &str, now: i64) -> Result<bool> {
        let revoked = sqlx::query(
            "UPDATE credentials SET revoked_at = $1 \
             WHERE access_key = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(access_key)
        .execute(&self.pool)
        .await?;
        Ok(revoked.rows_affected() > 0)
    }

    async fn count_credentials(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn insert_token(&self, token: &NewToken) -> Result<()> {
        let (all_projects, projects) = scope_columns(&token.scope);
        sqlx::query(
            "INSERT INTO tokens (id, token_hash, all_projects, projects, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.token_hash)
        .bind(all_projects)
        .bind(projects)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(parse_token).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(parse_token).collect()
    }

    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool> {
        let revoked =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(revoked.rows_affected() > 0)
    }

    async fn release_recheck(
        &self,
        id: ConnectionId,
        owner: &str,
        next_check_at: i64,
    ) -> Result<bool> {
        let released = sqlx::query(
            "UPDATE connections SET next_check_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3",
        )
        .bind(next_check_at)
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(released.rows_affected() > 0)
    }

    async fn key_check(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        sqlx::query(
            "INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(candidate)
        .execute(&self.pool)
        .await?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM key_check WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(stored)
    }
}
