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
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::backends::impl_stores;
use super::events::insert_each_event;
use super::sql::{Backend, Commits, Dialect, Event, GroupCommit, select_due_server_bindings};
use super::{Result, StoreError};
use crate::domain::ProjectId;

pub const DATABASE_FILE: &str = "dsconn.db";
const LOCK_FILE: &str = "dsconn.lock";
const MAX_POOL_CONNECTIONS: u32 = 8;
/// How long a statement waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Each connection's page cache, in KiB (SQLite's default is 2,000). A reader's cache
/// is dropped whenever another connection commits, so under writes a large one buys
/// little and makes the server's memory grow with the database; the OS page cache holds
/// the file anyway (figures: BENCHMARKS.md, "History").
const PAGE_CACHE_KIB: u32 = 512;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// How write transactions begin: the write lock at once (see the module's comment).
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

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
    /// Creates and check writes, grouped into shared commits on `writer`.
    group: GroupCommit<Sqlite>,
    /// Who hears of committed changes.
    commits: Commits,
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
        create_private_dir(data_dir)?;
        let lock_path = data_dir.join(LOCK_FILE);
        let lock = private_file_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_error(format!("cannot create {}", lock_path.display())))?;
        lock.try_lock().map_err(|_| StoreError::Io {
            context: format!(
                "data dir {} is in use by another dsconn process",
                data_dir.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
        })?;
        let (pool, writer) = Self::connect(data_dir, durability).await?;
        warn_if_readable_by_others(data_dir);
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
            group: GroupCommit::start(writer.clone(), BEGIN_IMMEDIATE, flush_events),
            writer,
            commits: Commits::default(),
            _lock: Some(lock),
        })
    }

    /// Opens the database for administration (credentials, tokens) beside a running
    /// server: no lock, no lease changes. SQLite's WAL lets both write safely. The data
    /// dir must exist (the caller says so clearly when it does not); the database is
    /// created in it if missing.
    pub async fn open_for_admin(data_dir: &Path) -> Result<Self> {
        let (pool, writer) = Self::connect(data_dir, Durability::PowerLoss).await?;
        Ok(Self {
            pool,
            group: GroupCommit::start(writer.clone(), BEGIN_IMMEDIATE, flush_events),
            writer,
            commits: Commits::default(),
            _lock: None,
        })
    }

    /// The readers' pool and the one-connection writer's pool, migrated.
    async fn connect(data_dir: &Path, durability: Durability) -> Result<(SqlitePool, SqlitePool)> {
        let database_path: PathBuf = data_dir.join(DATABASE_FILE);
        // SQLite would create the file 0644 (less the umask), and gives its -wal and -shm
        // the database file's mode: an empty file made 0600 first keeps all three private.
        match private_file_options()
            .write(true)
            .create_new(true)
            .open(&database_path)
        {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(io_error(format!(
                    "cannot create {}",
                    database_path.display()
                ))(error));
            }
        }
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

/// Creates the data dir (and missing parents) readable by its owner only: the database
/// holds every project's urls, hosts and routes, credentials' sealed keys and token hashes.
fn create_private_dir(data_dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(io_error(format!(
            "cannot create data dir {}",
            data_dir.display()
        )))
}

/// Options that create a file readable and writable by its owner only (as the key file).
fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.mode(0o600);
    options
}

/// The database's files, which SQLite keeps beside it in WAL mode.
const DATABASE_FILES: [&str; 3] = [DATABASE_FILE, "dsconn.db-wal", "dsconn.db-shm"];

/// Warns at start-up about a data dir or database file that its group or other users
/// may open: made by an older dsconn, or loosened by hand. Their modes are not changed
/// behind the operator's back; the warning says how.
fn warn_if_readable_by_others(data_dir: &Path) {
    let paths = std::iter::once((data_dir.to_path_buf(), 0o700)).chain(
        DATABASE_FILES
            .iter()
            .map(|file| (data_dir.join(file), 0o600)),
    );
    for (path, wanted) in paths {
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:04o}"),
                "open to other users, though the database holds every project's connections \
                 and the credentials' sealed keys: run chmod {wanted:o} {}",
                path.display(),
            );
        }
    }
}

impl Dialect for SqliteStore {
    type Db = Sqlite;
    /// A JSON array, read back with `json_each`.
    type TextList = String;

    fn text_list<S: AsRef<str>>(values: &[S]) -> String {
        serde_json::Value::from_iter(values.iter().map(|value| value.as_ref())).to_string()
    }

    const IN_TEXT_LIST: (&'static str, &'static str) = ("IN (SELECT value FROM json_each(", "))");
    const NAME_CONTAINS: (&'static str, &'static str) =
        (" AND instr(lower(name), lower(", ")) > 0");
    /// SQLite reads a negative LIMIT as "no limit".
    const NO_LIMIT: Option<i64> = Some(-1);
    /// Every write transaction begins IMMEDIATE on the one writer: nothing else writes
    /// until it ends.
    const LOCK_FOR_SHARE: &'static str = "";
    const CLAIM_LOCK: &'static str = "";
    const LOCK_FOR_UPDATE: &'static str = "";
    const INSERT_BINDINGS: &'static str = "INSERT OR IGNORE INTO queue_bindings \
             (peer_id, connection_id, queue_name, status, update_time) \
         SELECT p.value, $1, q.value, 'CREATING', $2 \
         FROM json_each($3) AS p JOIN json_each($4) AS q ON q.key = p.key";
    const INSERT_TAGS: &'static str = "INSERT INTO connection_tags \
             (connection_id, project_id, key, value) \
         SELECT $1, $2, k.value, v.value \
         FROM json_each($3) AS k JOIN json_each($4) AS v ON v.key = k.key";

    // The one writer runs claims one at a time.
    const CLAIM_CREATING: &'static str = "UPDATE connections \
         SET lease_owner = $1, lease_until = $2 \
         WHERE id IN (SELECT id FROM connections \
                      WHERE state = 'CREATING' AND awaiting_queues = 0 \
                        AND (lease_until IS NULL OR lease_until < $3) \
                      ORDER BY create_time LIMIT $4) \
         RETURNING id, project_id, service, destination";
    /// RETURNING may read other tables through subqueries: no read per binding
    /// afterwards. It has no order; the shared code sorts.
    const CLAIM_BINDINGS: &'static str = concat!(
        "UPDATE queue_bindings \
         SET lease_owner = $1, lease_until = $2 \
         WHERE peer_id IN (",
        select_due_server_bindings!(),
        ") \
         RETURNING peer_id, queue_name, update_time, status, login_failed_at, \
             connection_id AS id, \
             (SELECT c.session FROM connections c \
              WHERE c.id = queue_bindings.connection_id) AS session, \
             (SELECT c.project_id FROM connections c \
              WHERE c.id = queue_bindings.connection_id) AS project_id, \
             (SELECT c.service FROM connections c \
              WHERE c.id = queue_bindings.connection_id) AS service, \
             (SELECT c.destination FROM connections c \
              WHERE c.id = queue_bindings.connection_id) AS destination"
    );
    const CLAIM_RECHECKS: &'static str = "UPDATE connections \
         SET lease_owner = $1, lease_until = $2 \
         WHERE id IN (SELECT id FROM connections \
                      WHERE state = 'ACTIVE' AND next_check_at <= $3 \
                        AND (lease_until IS NULL OR lease_until < $3) \
                      ORDER BY next_check_at LIMIT $4) \
         RETURNING id, project_id, service, destination";

    fn is_duplicate_name(error: &dyn sqlx::error::DatabaseError) -> bool {
        // Ids are random UUIDs: the live-name index is the one that can clash.
        error.is_unique_violation()
    }
}

/// Inserts a grouped batch's events in one statement (in chunks within SQLite's limit on
/// parameters), not cached: its text depends on the count.
fn flush_events(
    connection: &mut sqlx::SqliteConnection,
    events: Vec<Event>,
) -> futures::future::BoxFuture<'_, std::result::Result<(), sqlx::Error>> {
    /// Rows per statement: 9 parameters each, well within SQLite's 32,766.
    const ROWS: usize = 1_000;
    Box::pin(async move {
        for chunk in events.chunks(ROWS) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (time, project_id, actor, client, request_id, \
                 resource_type, resource_id, action, changes) ",
            );
            insert.push_values(chunk, |mut row, event| {
                row.push_bind(event.time)
                    .push_bind(event.project.clone())
                    .push_bind(event.actor.name.clone())
                    .push_bind(event.actor.client.clone())
                    .push_bind(event.actor.request_id.clone())
                    .push_bind(event.resource_type)
                    .push_bind(event.resource_id.clone())
                    .push_bind(event.action)
                    .push_bind(event.changes_json());
            });
            insert
                .build()
                .persistent(false)
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    })
}

#[async_trait]
impl Backend for SqliteStore {
    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn reader(&self) -> &SqlitePool {
        &self.pool
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Closes the pools, checkpointing the WAL.
    async fn close_pools(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with(BEGIN_IMMEDIATE).await?)
    }

    /// A read transaction sees one snapshot (WAL).
    async fn begin_snapshot(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin().await?)
    }

    fn group_commit(&self) -> Option<&GroupCommit<Sqlite>> {
        Some(&self.group)
    }

    async fn insert_events(
        connection: &mut <Sqlite as sqlx::Database>::Connection,
        events: &[Event],
    ) -> Result<()> {
        if events.is_empty() || !super::events::recording() {
            return Ok(());
        }
        // A grouped write's events go in with its batch's (see group_commit).
        if super::group_commit::defer_events(events) {
            crate::telemetry::metrics::record_events_written(events.len());
            return Ok(());
        }
        // The one writer commits in id order.
        insert_each_event!(connection, events);
        Ok(())
    }

    fn subscribers(&self) -> &Commits {
        &self.commits
    }

    /// The one writer serialises creates.
    async fn begin_create(&self, _project: &ProjectId) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin().await?)
    }
}

impl_stores!(SqliteStore, Sqlite);
