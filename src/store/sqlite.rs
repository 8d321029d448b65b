//! The embedded default: one SQLite file in the data dir, in WAL mode.
//!
//! Transactions that read before they write begin with `BEGIN IMMEDIATE`: upgrading a
//! reader to a writer in WAL mode fails at once (SQLITE_BUSY, no busy wait) when another
//! writer got in first.
//!
//! Every write goes through one dedicated connection (`writer`), so this process's
//! writers wait their turn in the pool's queue instead of racing for SQLite's lock: the
//! busy handler retries by sleeping, not in order, and under many concurrent writers one
//! could starve past the busy timeout and answer "database is locked". Reads use the
//! other connections and never wait for writers (WAL).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{
    BindingOutcome, BindingResult, CheckResult, ConnectionPage, ConnectionRecord, Connectivity,
    CredentialRecord, DeleteOutcome, ListQuery, NewConnection, NewCredential, NewToken,
    PendingBinding, PendingCheck, QueueBinding, ReactivateOutcome, Result, SortOrder, Store,
    StoreError, StoreStats, TokenRecord,
};
use crate::domain::{
    ConnectionId, ConnectionState, ProjectId, ProjectScope, QueueName, Service, Tag,
};

pub const DATABASE_FILE: &str = "dsconn.db";
const LOCK_FILE: &str = "dsconn.lock";
const MAX_POOL_CONNECTIONS: u32 = 8;
/// How long a statement waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Each connection's page cache, in KiB (SQLite's default is 2,000). A reader's cache
/// is dropped whenever another connection commits, so under writes a large one buys
/// little; nine 2 MiB caches refilling as the data grew made the server's memory climb
/// with the database (the soak's RSS growth). The OS page cache holds the file anyway.
const PAGE_CACHE_KIB: u32 = 512;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

const CONNECTION_COLUMNS: &str = "id, project_id, name, service, destination, \
    security_group_id, network_id, tags, state, process, connection_url, message, \
    create_time, update_time, failure_reason, connectivity, last_checked_at";
const BINDING_COLUMNS: &str = "peer_id, connection_id, queue_name, status, err_msg, \
    failure_reason, connectivity, last_checked_at, update_time";

/// What an acknowledged SQLite commit survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// The process being killed and the machine losing power (synchronous=FULL).
    PowerLoss,
    /// The process being killed, not a power loss (synchronous=NORMAL): faster commits.
    ProcessCrash,
}

pub struct SqliteStore {
    /// Readers.
    pool: SqlitePool,
    /// The one connection every write uses.
    writer: SqlitePool,
    /// Held open for the life of a server's store: the OS lock on it keeps a second
    /// server off the same data dir, whose leases this process assumes it owns.
    _lock: Option<File>,
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` for the server: takes the
    /// data dir's lock, applies migrations and frees the claims a previous process left,
    /// so pending checks resume at once.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with(data_dir, Durability::PowerLoss).await
    }

    /// [`open`](Self::open) with a chosen commit durability.
    pub async fn open_with(data_dir: &Path, durability: Durability) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(io_error(format!(
            "cannot create data dir {}",
            data_dir.display()
        )))?;
        let lock_path = data_dir.join(LOCK_FILE);
        let lock = File::create(&lock_path)
            .map_err(io_error(format!("cannot create {}", lock_path.display())))?;
        lock.try_lock().map_err(|_| StoreError::Io {
            context: format!(
                "data dir {} is in use by another dsconn process",
                data_dir.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
        })?;
        let (pool, writer) = Self::connect(data_dir, durability).await?;
        // Frees every claim a previous process left: new checks, re-checks, bindings.
        sqlx::query(
            "UPDATE connections SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner IS NOT NULL",
        )
        .execute(&writer)
        .await?;
        sqlx::query(
            "UPDATE queue_bindings SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner IS NOT NULL",
        )
        .execute(&writer)
        .await?;
        Ok(Self {
            pool,
            writer,
            _lock: Some(lock),
        })
    }

    /// Opens the database for administration (credentials, tokens) beside a running
    /// server: no lock, no lease changes. SQLite's WAL lets both write safely.
    pub async fn open_for_admin(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(io_error(format!(
            "cannot create data dir {}",
            data_dir.display()
        )))?;
        let (pool, writer) = Self::connect(data_dir, Durability::PowerLoss).await?;
        Ok(Self {
            pool,
            writer,
            _lock: None,
        })
    }

    /// The readers' pool and the one-connection writer's pool, migrated.
    async fn connect(data_dir: &Path, durability: Durability) -> Result<(SqlitePool, SqlitePool)> {
        let database_path: PathBuf = data_dir.join(DATABASE_FILE);
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&database_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                // A commit is on disk before the client hears 201, even across power loss.
                Durability::PowerLoss => SqliteSynchronous::Full,
                // In WAL mode a commit survives the process being killed (it is in the OS
                // page cache), not a power loss; in exchange commits need no fsync each.
                Durability::ProcessCrash => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .pragma("cache_size", format!("-{PAGE_CACHE_KIB}"))
            .busy_timeout(BUSY_TIMEOUT);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(MAX_POOL_CONNECTIONS)
            .connect_with(options)
            .await?;
        Ok((readers, writer))
    }
}

/// The bindings of these connections, in one query, by connection id.
async fn bindings_for(
    executor: &mut sqlx::SqliteConnection,
    connection_ids: &[String],
) -> Result<super::BindingsByConnection> {
    if connection_ids.is_empty() {
        return Ok(super::BindingsByConnection::new());
    }
    // One query per page, never one per row. The ids travel as one JSON array, so every
    // page size is the same statement: a list of n placeholders would prepare (and keep
    // in each connection's statement cache) a new statement per page size.
    let ids = serde_json::Value::from(connection_ids).to_string();
    let rows = sqlx::query(&format!(
        "SELECT {BINDING_COLUMNS} FROM queue_bindings \
         WHERE connection_id IN (SELECT value FROM json_each(?)) ORDER BY queue_name"
    ))
    .bind(ids)
    .fetch_all(&mut *executor)
    .await?;
    super::group_bindings(rows.iter().map(parse_binding))
}

/// A scope as two columns: `all_projects` and a JSON array of projects.
fn scope_columns(scope: &ProjectScope) -> (i64, String) {
    match scope {
        ProjectScope::All => (1, "[]".to_owned()),
        ProjectScope::Projects(projects) => (
            0,
            serde_json::to_string(projects).unwrap_or_else(|_| "[]".to_owned()),
        ),
    }
}

fn parse_scope(row: &sqlx::sqlite::SqliteRow) -> Result<ProjectScope> {
    let all: i64 = row.try_get("all_projects")?;
    if all != 0 {
        return Ok(ProjectScope::All);
    }
    let projects: String = row.try_get("projects")?;
    serde_json::from_str(&projects)
        .map(ProjectScope::Projects)
        .map_err(|error| StoreError::Corrupt(format!("scope projects: {error}")))
}

fn parse_credential(row: &sqlx::sqlite::SqliteRow) -> Result<CredentialRecord> {
    Ok(CredentialRecord {
        access_key: row.try_get("access_key")?,
        sealed_secret_key: row.try_get("sealed_secret_key")?,
        scope: parse_scope(row)?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn parse_token(row: &sqlx::sqlite::SqliteRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        scope: parse_scope(row)?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

// The columns consecutive_failures and locked_until (migration 0002) are no longer read
// or written: the lockout they served is gone. They stay so that a replica of an older
// build keeps working against this schema during a rolling upgrade.
const CREDENTIAL_COLUMNS: &str = "access_key, sealed_secret_key, all_projects, projects, \
    created_at, revoked_at";
const TOKEN_COLUMNS: &str = "id, all_projects, projects, created_at, expires_at, revoked_at";

fn parse_record(row: &sqlx::sqlite::SqliteRow) -> Result<ConnectionRecord> {
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

fn parse_binding(row: &sqlx::sqlite::SqliteRow) -> Result<(String, QueueBinding)> {
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

fn parse_pending(row: &sqlx::sqlite::SqliteRow, id_column: &str) -> Result<PendingCheck> {
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

/// Appends the WHERE clause of a list query (project scope first, so the project index
/// serves every filter).
fn push_list_filters<'q>(
    builder: &mut QueryBuilder<'q, Sqlite>,
    project: &'q ProjectId,
    query: &'q ListQuery,
) {
    builder
        .push(" WHERE project_id = ")
        .push_bind(project.as_str());
    if let Some(name) = &query.name_contains {
        builder
            .push(" AND instr(lower(name), lower(")
            .push_bind(name.as_str())
            .push(")) > 0");
    }
    if !query.states.is_empty() {
        builder.push(" AND state IN (");
        let mut states = builder.separated(", ");
        for state in &query.states {
            states.push_bind(state.as_str());
        }
        builder.push(")");
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

#[async_trait]
impl Store for SqliteStore {
    /// Closes the pool, checkpointing the WAL.
    async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    async fn create_connection(&self, new: &NewConnection, quota: u32) -> Result<()> {
        let tags_json = serde_json::to_string(new.tags.as_slice())
            .map_err(|error| StoreError::Corrupt(format!("tags do not serialise: {error}")))?;
        let id = new.id.to_string();
        let mut transaction = self.writer.begin().await?;
        // One statement checks the quota and inserts, so two creates cannot both take
        // the last free place.
        let inserted = sqlx::query(
            "INSERT INTO connections (id, project_id, name, service, destination, \
                 security_group_id, network_id, tags, state, process, create_time, update_time) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'CREATING', 0.0, ?9, ?9 \
             WHERE (SELECT COUNT(*) FROM connections \
                    WHERE project_id = ?2 AND state <> 'DELETED') < ?10",
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
        .bind(i64::from(quota))
        .execute(&mut *transaction)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateName,
            _ => StoreError::Database(error),
        })?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::QuotaExceeded { quota });
        }
        for tag in new.tags.as_slice() {
            sqlx::query(
                "INSERT INTO connection_tags (connection_id, project_id, key, value) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(&id)
            .bind(new.project_id.as_str())
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *transaction)
            .await?;
        }
        for queue in &new.queues {
            sqlx::query(
                "INSERT OR IGNORE INTO queue_bindings \
                     (peer_id, connection_id, queue_name, status, update_time) \
                 VALUES (?, ?, ?, 'CREATING', ?)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&id)
            .bind(queue.as_str())
            .bind(new.create_time)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn get_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>> {
        // One read transaction: the row and its bindings are one snapshot (WAL), so a
        // delete in between cannot show a live row without its bindings.
        let mut transaction = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS}, check_report FROM connections \
             WHERE id = ? AND project_id = ?"
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
             WHERE project_id = ? AND name = ? AND state <> 'DELETED'"
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
                  AND (lease_until IS NULL OR lease_until < ?1)) \
             + (SELECT COUNT(*) FROM queue_bindings WHERE status = 'CREATING' \
                  AND (lease_until IS NULL OR lease_until < ?1)) AS pending, \
               (SELECT COUNT(*) FROM connections WHERE lease_until >= ?1) \
             + (SELECT COUNT(*) FROM queue_bindings WHERE lease_until >= ?1) AS leased",
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

    async fn list_connections(
        &self,
        project: &ProjectId,
        query: &ListQuery,
    ) -> Result<ConnectionPage> {
        let mut select = QueryBuilder::new(format!("SELECT {CONNECTION_COLUMNS} FROM connections"));
        push_list_filters(&mut select, project, query);
        let direction = match query.order {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        };
        select.push(format!(
            " ORDER BY create_time {direction}, id {direction} LIMIT "
        ));
        // SQLite reads a negative LIMIT as "no limit".
        select.push_bind(query.limit.map_or(-1, i64::from));
        select.push(" OFFSET ").push_bind(i64::from(query.offset));
        // One read transaction: the page, its bindings and the count are one snapshot
        // (WAL), so the count never disagrees with the page beside it.
        let mut transaction = self.pool.begin().await?;
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
        // A check may finish between the update and the look-up; one retry covers it,
        // since a finished connection stays finished until deleted.
        for _ in 0..2 {
            let mut transaction = self.writer.begin_with("BEGIN IMMEDIATE").await?;
            let deleted = sqlx::query(
                "UPDATE connections SET state = 'DELETED', process = 0.0, connection_url = '', \
                     deleted_at = ?1, update_time = ?1, next_check_at = NULL \
                 WHERE id = ?2 AND project_id = ?3 AND state IN ('ACTIVE', 'FAILED')",
            )
            .bind(now)
            .bind(&id)
            .bind(project.as_str())
            .execute(&mut *transaction)
            .await?;
            if deleted.rows_affected() > 0 {
                sqlx::query("DELETE FROM queue_bindings WHERE connection_id = ?")
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                return Ok(DeleteOutcome::Deleted);
            }
            transaction.rollback().await?;
            let state: Option<String> =
                sqlx::query_scalar("SELECT state FROM connections WHERE id = ? AND project_id = ?")
                    .bind(&id)
                    .bind(project.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
            match state.as_deref() {
                None => return Ok(DeleteOutcome::NotFound),
                Some("CREATING") => return Ok(DeleteOutcome::StillCreating),
                Some("DELETED") => return Ok(DeleteOutcome::AlreadyDeleted),
                Some(_) => continue,
            }
        }
        Ok(DeleteOutcome::StillCreating)
    }

    async fn claim_pending_checks(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        now: i64,
    ) -> Result<Vec<PendingCheck>> {
        let rows = sqlx::query(
            "UPDATE connections SET lease_owner = ?1, lease_until = ?2 \
             WHERE id IN (SELECT id FROM connections \
                          WHERE state = 'CREATING' AND (lease_until IS NULL OR lease_until < ?3) \
                          ORDER BY create_time LIMIT ?4) \
             RETURNING id, project_id, service, destination",
        )
        .bind(owner)
        .bind(lease_end(now, lease))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
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
            "UPDATE connections SET process = ?, update_time = ? \
             WHERE id = ? AND state = 'CREATING' AND lease_owner = ?",
        )
        .bind(process)
        .bind(now)
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.writer)
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
            "UPDATE connections SET state = ?1, process = ?2, connection_url = ?3, message = ?4, \
                 check_report = ?5, update_time = ?6, failure_reason = ?7, connectivity = ?8, \
                 last_checked_at = ?6, next_check_at = ?9, lease_owner = NULL, lease_until = NULL \
             WHERE id = ?10 AND state = 'CREATING' AND lease_owner = ?11",
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
        .execute(&self.writer)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn purge_deleted(&self, deleted_before: i64) -> Result<u64> {
        let purged =
            sqlx::query("DELETE FROM connections WHERE state = 'DELETED' AND deleted_at < ?")
                .bind(deleted_before)
                .execute(&self.writer)
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
        // One statement claims and returns each binding with its connection (RETURNING
        // may read other tables through subqueries): no read per binding afterwards.
        let rows = sqlx::query(
            "UPDATE queue_bindings SET lease_owner = ?1, lease_until = ?2 \
             WHERE peer_id IN (SELECT b.peer_id FROM queue_bindings b \
                               JOIN connections c ON c.id = b.connection_id \
                               WHERE b.status = 'CREATING' AND c.state <> 'DELETED' \
                                 AND (b.lease_until IS NULL OR b.lease_until < ?3) \
                               ORDER BY b.update_time LIMIT ?4) \
             RETURNING peer_id, queue_name, update_time, connection_id, \
                 (SELECT c.project_id FROM connections c \
                  WHERE c.id = queue_bindings.connection_id) AS project_id, \
                 (SELECT c.service FROM connections c \
                  WHERE c.id = queue_bindings.connection_id) AS service, \
                 (SELECT c.destination FROM connections c \
                  WHERE c.id = queue_bindings.connection_id) AS destination",
        )
        .bind(owner)
        .bind(lease_end(now, lease))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await?;
        let mut pending = rows
            .iter()
            .map(|row| {
                let update_time: i64 = row.try_get("update_time")?;
                let binding = PendingBinding {
                    peer_id: row.try_get("peer_id")?,
                    queue_name: row.try_get("queue_name")?,
                    check: parse_pending(row, "connection_id")?,
                };
                Ok((update_time, binding))
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING has no order: oldest first, as PostgreSQL answers.
        pending.sort_by(|(a_time, a), (b_time, b)| (a_time, &a.peer_id).cmp(&(b_time, &b.peer_id)));
        Ok(pending.into_iter().map(|(_, binding)| binding).collect())
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
            "UPDATE queue_bindings SET status = ?1, err_msg = ?2, failure_reason = ?3, \
                 connectivity = ?4, last_checked_at = ?5, update_time = ?5, \
                 lease_owner = NULL, lease_until = NULL \
             WHERE peer_id = ?6 AND status = 'CREATING' AND lease_owner = ?7",
        )
        .bind(status)
        .bind(&result.err_msg)
        .bind(result.failure_reason.as_deref())
        .bind(connectivity)
        .bind(now)
        .bind(peer_id)
        .bind(owner)
        .execute(&self.writer)
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
            "UPDATE connections SET lease_owner = ?1, lease_until = ?2 \
             WHERE id IN (SELECT id FROM connections \
                          WHERE state = 'ACTIVE' AND next_check_at <= ?3 \
                            AND (lease_until IS NULL OR lease_until < ?3) \
                          ORDER BY next_check_at LIMIT ?4) \
             RETURNING id, project_id, service, destination",
        )
        .bind(owner)
        .bind(lease_end(now, lease))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
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
        let mut transaction = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let updated = sqlx::query(
            "UPDATE connections SET connectivity = ?1, last_checked_at = ?2, check_report = ?3, \
                 next_check_at = COALESCE(?4, next_check_at), \
                 lease_owner = CASE WHEN ?6 IS NULL THEN lease_owner ELSE NULL END, \
                 lease_until = CASE WHEN ?6 IS NULL THEN lease_until ELSE NULL END \
             WHERE id = ?5 AND state = 'ACTIVE' AND (?6 IS NULL OR lease_owner = ?6)",
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
            "UPDATE queue_bindings SET connectivity = ?, last_checked_at = ? \
             WHERE connection_id = ? AND status = 'ACTIVE'",
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
        let updated = sqlx::query(
            "UPDATE connections SET state = 'CREATING', process = 0.0, message = '', \
                 failure_reason = NULL, connection_url = '', update_time = ?1, \
                 lease_owner = NULL, lease_until = NULL \
             WHERE id = ?2 AND project_id = ?3 AND state = 'FAILED'",
        )
        .bind(now)
        .bind(&id)
        .bind(project.as_str())
        .execute(&self.writer)
        .await?;
        if updated.rows_affected() > 0 {
            return Ok(ReactivateOutcome::Reactivated);
        }
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM connections WHERE id = ? AND project_id = ?")
                .bind(&id)
                .bind(project.as_str())
                .fetch_optional(&self.pool)
                .await?;
        match state {
            None => Ok(ReactivateOutcome::NotFound),
            Some(state) => Ok(ReactivateOutcome::NotFailed(
                ConnectionState::from_str(&state)
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?,
            )),
        }
    }

    async fn associate_queues(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        queues: &[QueueName],
        now: i64,
    ) -> Result<BindingOutcome> {
        let id = id.to_string();
        let mut transaction = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM connections WHERE id = ? AND project_id = ?")
                .bind(&id)
                .bind(project.as_str())
                .fetch_optional(&mut *transaction)
                .await?;
        match state.as_deref() {
            None => return Ok(BindingOutcome::NotFound),
            Some("DELETED") => return Ok(BindingOutcome::Deleted),
            Some(_) => {}
        }
        let mut added = 0;
        for queue in queues {
            let inserted = sqlx::query(
                "INSERT OR IGNORE INTO queue_bindings \
                     (peer_id, connection_id, queue_name, status, update_time) \
                 VALUES (?, ?, ?, 'CREATING', ?)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&id)
            .bind(queue.as_str())
            .bind(now)
            .execute(&mut *transaction)
            .await?;
            added += usize::try_from(inserted.rows_affected()).unwrap_or_default();
        }
        transaction.commit().await?;
        Ok(BindingOutcome::Changed(added))
    }

    async fn disassociate_queues(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        queues: &[QueueName],
        _now: i64,
    ) -> Result<BindingOutcome> {
        let id = id.to_string();
        let mut transaction = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM connections WHERE id = ? AND project_id = ?")
                .bind(&id)
                .bind(project.as_str())
                .fetch_optional(&mut *transaction)
                .await?;
        match state.as_deref() {
            None => return Ok(BindingOutcome::NotFound),
            Some("DELETED") => return Ok(BindingOutcome::Deleted),
            Some(_) => {}
        }
        let mut removed = 0;
        for queue in queues {
            let deleted = sqlx::query(
                "DELETE FROM queue_bindings WHERE connection_id = ? AND queue_name = ?",
            )
            .bind(&id)
            .bind(queue.as_str())
            .execute(&mut *transaction)
            .await?;
            removed += usize::try_from(deleted.rows_affected()).unwrap_or_default();
        }
        transaction.commit().await?;
        Ok(BindingOutcome::Changed(removed))
    }

    async fn insert_credential(&self, credential: &NewCredential) -> Result<()> {
        let (all_projects, projects) = scope_columns(&credential.scope);
        sqlx::query(
            "INSERT INTO credentials (access_key, sealed_secret_key, all_projects, projects, \
                 created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&credential.access_key)
        .bind(&credential.sealed_secret_key)
        .bind(all_projects)
        .bind(projects)
        .bind(credential.created_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn find_credential(&self, access_key: &str) -> Result<Option<CredentialRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE access_key = ?"
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
            "UPDATE credentials SET revoked_at = ? WHERE access_key = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(access_key)
        .execute(&self.writer)
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
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(&token.token_hash)
        .bind(all_projects)
        .bind(projects)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?"
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
            sqlx::query("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.writer)
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
            "UPDATE connections SET next_check_at = ?, lease_owner = NULL, lease_until = NULL \
             WHERE id = ? AND lease_owner = ?",
        )
        .bind(next_check_at)
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(released.rows_affected() > 0)
    }

    async fn key_check(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        sqlx::query("INSERT INTO key_check (id, sealed) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
            .bind(candidate)
            .execute(&self.writer)
            .await?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM key_check WHERE id = 1")
            .fetch_one(&self.writer)
            .await?;
        Ok(stored)
    }
}
