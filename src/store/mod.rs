//! Durable state behind an async [`Store`] trait, so that the API and the workers do not
//! care which database holds it. The backend is chosen from the configuration.

pub mod auth_infos;
pub mod enhanced;
pub mod enhanced_sharing;
mod group_commit;
mod postgres;
pub mod queue_settings;
pub mod queue_work;
mod rows;
mod shared;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{
    ConnectionId, ConnectionState, EndpointList, ProjectId, ProjectScope, QueueName, Service, Tag,
    TagFilter, Tags,
};

pub use auth_infos::{
    AuthInfoChange, AuthInfoPage, AuthInfoQuery, AuthInfoRecord, AuthInfoStore,
    AuthInfoUpdateOutcome, NewAuthInfo,
};
pub use enhanced::{
    BindingKind, EnhancedAccess, EnhancedBinding, EnhancedConnectionRecord, EnhancedLimits,
    EnhancedListQuery, EnhancedOutcome, EnhancedRoute, EnhancedStatus, EnhancedStore, EnhancedView,
    HostEntry, NewEnhancedConnection, NewRoute,
};
pub use enhanced_sharing::EnhancedSharingStore;
pub use postgres::PgStore;
pub use queue_settings::{AgencyRecord, NamedTable, ProjectUsage, QueueSettingsStore};
pub use queue_work::{
    AgentRecord, BindingConnectivity, NewAgent, NewTask, QueueHosts, QueueWork, QueueWorkKind,
    QueueWorkStore, RegisterOutcome, SERVES_POOL, SERVES_QUEUE, SetupOutcome, SetupWork,
    TaskRecord, TaskResult, hosts_version,
};
pub use sqlite::{DATABASE_FILE, Durability, SqliteStore};

/// Where the state lives. Shared by `serve`, `migrate` and the admin commands.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// Directory for the SQLite database and the secret-key file. `serve` creates it if
    /// missing; the admin commands (credential, token, migrate) need it to exist.
    #[arg(long, env = "DSCONN_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// `postgres://...` to keep the state in PostgreSQL (several replicas can share it);
    /// unset or `sqlite://DIR` for the embedded SQLite in a data dir.
    #[arg(long, env = "DSCONN_DATABASE_URL")]
    pub database_url: Option<String>,

    /// PostgreSQL: most pooled connections per process.
    #[arg(long, env = "DSCONN_DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// PostgreSQL: how long a request waits for a pooled connection before failing
    /// (keeps requests failing fast while the database is down).
    #[arg(long, env = "DSCONN_DATABASE_ACQUIRE_TIMEOUT", default_value = "3s",
          value_parser = humantime::parse_duration)]
    pub database_acquire_timeout: Duration,

    /// SQLite: what an acknowledged write survives. `power-loss` fsyncs every commit;
    /// `process-crash` survives a killed process but not a power cut, and is faster.
    #[arg(
        long,
        env = "DSCONN_SQLITE_DURABILITY",
        value_enum,
        default_value = "power-loss"
    )]
    pub sqlite_durability: Durability,

    /// The key file encrypting secret keys at rest [default: <data-dir>/secret.key].
    /// Every replica sharing a database needs the same file.
    #[arg(long, env = "DSCONN_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
}

/// Which database a configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Who opens the store: the server owns a SQLite data dir; admin commands share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFor {
    Server,
    Admin,
}

impl StorageArgs {
    pub fn backend(&self) -> std::result::Result<Backend, String> {
        match self.database_url.as_deref().map(str::trim) {
            None | Some("") => Ok(Backend::Sqlite(self.data_dir.clone())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Backend::Postgres(url.to_owned()))
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(dir) if !dir.is_empty() => Ok(Backend::Sqlite(PathBuf::from(dir))),
                _ => Err(format!(
                    "--database-url must be postgres://... or sqlite://DIR, got {:?}",
                    redact_url(url)
                )),
            },
        }
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::credentials::SECRET_KEY_FILE))
    }

    /// Opens (and migrates) the configured store.
    pub async fn open(&self, purpose: OpenFor) -> Result<DynStore> {
        match self.backend().map_err(StoreError::Config)? {
            Backend::Sqlite(dir) => Ok(match purpose {
                OpenFor::Server => {
                    Arc::new(SqliteStore::open_with(&dir, self.sqlite_durability).await?)
                }
                OpenFor::Admin => {
                    require_data_dir(&dir)?;
                    Arc::new(SqliteStore::open_for_admin(&dir).await?)
                }
            }),
            Backend::Postgres(url) => {
                let store = PgStore::connect(
                    &url,
                    self.database_max_connections,
                    self.database_acquire_timeout,
                )
                .await?;
                // Safe when several replicas start at once: sqlx serialises migrations
                // with an advisory lock.
                store.migrate().await?;
                Ok(Arc::new(store))
            }
        }
    }
}

/// The default `--data-dir`, relative to the current directory.
pub const DEFAULT_DATA_DIR: &str = "dsconn-data";

/// Admin commands work on an existing data dir only (issue 24): one run from another
/// directory would otherwise create a new, empty `./dsconn-data` and, say, print a token
/// the running server has never heard of. An existing directory, even an empty one that
/// a set-up script made before the first `serve`, is used as it is.
fn require_data_dir(dir: &std::path::Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let default = if dir == std::path::Path::new(DEFAULT_DATA_DIR) {
        " (the default: dsconn-data in the current directory)"
    } else {
        ""
    };
    Err(StoreError::Config(format!(
        "the data dir {}{default} does not exist, and admin commands never create one. \
         Point at the server's data dir with --data-dir DIR or DSCONN_DATA_DIR=DIR (or its \
         database with --database-url); to prepare a new one before the first serve, \
         create the directory first",
        shown.display()
    )))
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Queue bindings by connection id.
type BindingsByConnection = std::collections::HashMap<String, Vec<QueueBinding>>;

/// Groups `(connection id, binding)` rows by connection, keeping their order.
fn group_bindings(
    rows: impl IntoIterator<Item = Result<(String, QueueBinding)>>,
) -> Result<BindingsByConnection> {
    let mut by_connection = BindingsByConnection::new();
    for row in rows {
        let (connection_id, binding) = row?;
        by_connection
            .entry(connection_id)
            .or_default()
            .push(binding);
    }
    Ok(by_connection)
}

/// The query that lists a database's applied migrations (sqlx's own table).
const APPLIED_MIGRATIONS: &str = "SELECT version, success FROM _sqlx_migrations ORDER BY version";

/// Checks that the applied migrations (`version`, `success`) are exactly the ones this
/// build knows: none missing, none failed, none from a newer build.
fn check_migrations(known: &sqlx::migrate::Migrator, applied: &[(i64, bool)]) -> Result<()> {
    let expected: std::collections::BTreeSet<i64> = known
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .map(|migration| migration.version)
        .collect();
    if let Some((version, _)) = applied.iter().find(|(_, success)| !success) {
        return Err(StoreError::SchemaNotCurrent(format!(
            "migration {version} failed part-way; fix the database, then restart"
        )));
    }
    let present: std::collections::BTreeSet<i64> =
        applied.iter().map(|(version, _)| *version).collect();
    if let Some(unknown) = present.difference(&expected).next() {
        return Err(StoreError::SchemaNotCurrent(format!(
            "migration {unknown} was applied by a newer dsconn; upgrade this replica"
        )));
    }
    if let Some(missing) = expected.difference(&present).next() {
        return Err(StoreError::SchemaNotCurrent(format!(
            "migration {missing} is not applied; run `dsconn migrate` or restart"
        )));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a live connection with this name already exists in the project")]
    DuplicateName,
    #[error("the project has reached its connection quota of {quota}")]
    QuotaExceeded { quota: u32 },
    #[error("{0}")]
    Config(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("the database schema does not match this build: {0}")]
    SchemaNotCurrent(String),
    /// A queue to bind is neither stored in the project nor declared.
    #[error("There is no queue named {0}")]
    UnknownQueue(String),
    /// A grouped SQLite commit failed: the write is not stored.
    #[error("the commit holding this write failed: {0}")]
    GroupCommit(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// What a create stores: every field already validated.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub id: ConnectionId,
    pub project_id: ProjectId,
    pub name: String,
    pub service: Service,
    pub destination: String,
    pub security_group_id: String,
    pub network_id: String,
    pub tags: Tags,
    /// Queues to bind at once, each checked on its own. Each must be a stored queue of
    /// the project or one of `declared_queues`.
    pub queues: Vec<QueueName>,
    /// Queues declared by configuration (`serve --queue`): present in every project
    /// without being stored.
    pub declared_queues: Vec<QueueName>,
    pub create_time: i64,
}

/// A queue bound to a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBinding {
    pub peer_id: String,
    pub queue_name: String,
    /// CREATING, ACTIVE or FAILED.
    pub status: String,
    pub err_msg: String,
    pub failure_reason: Option<String>,
    pub connectivity: Option<String>,
    pub last_checked_at: Option<i64>,
    pub update_time: i64,
    /// Where its last check ran: `server` or `agent:<name>`; None before the first.
    pub checked_from: Option<String>,
}

/// A connection's tags as the store keeps them: the JSON array dsconn wrote at create,
/// checked to be JSON when read, and answered as it is (no parse and re-serialisation
/// per row on the read path).
#[derive(Debug, Clone)]
pub struct StoredTags(String);

impl StoredTags {
    /// Stored tags text, checked to be a JSON array of objects of strings (what a create
    /// stores): the answers copy it into their JSON, so anything else would make them
    /// invalid. A scan, not a parse: it runs for every row read.
    pub fn from_stored(json: String) -> std::result::Result<Self, String> {
        if is_array_of_string_objects(json.as_bytes()) {
            Ok(Self(json))
        } else {
            Err("not a JSON array of {key, value} objects".to_owned())
        }
    }

    /// The text of `tags`, as a create stores it.
    pub fn of(tags: &[Tag]) -> Self {
        Self(serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned()))
    }

    /// The JSON text, to be written into an answer as it is.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// The tags themselves (validated when read, so this does not fail on a record the
    /// store returned; an empty list if it ever did).
    pub fn parsed(&self) -> Vec<Tag> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

impl PartialEq for StoredTags {
    fn eq(&self, other: &Self) -> bool {
        self.parsed() == other.parsed()
    }
}

/// Whether `json` is a JSON array of objects whose values are strings, e.g.
/// `[{"key":"env","value":"prod"}]`, with JSON whitespace anywhere between tokens.
fn is_array_of_string_objects(json: &[u8]) -> bool {
    struct Scan<'a> {
        bytes: &'a [u8],
        at: usize,
    }
    impl Scan<'_> {
        fn peek(&mut self) -> Option<u8> {
            while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.at += 1;
            }
            self.bytes.get(self.at).copied()
        }
        fn eat(&mut self, expected: u8) -> bool {
            let found = self.peek() == Some(expected);
            self.at += usize::from(found);
            found
        }
        fn string(&mut self) -> bool {
            if !self.eat(b'"') {
                return false;
            }
            while let Some(&byte) = self.bytes.get(self.at) {
                self.at += 1;
                match byte {
                    b'"' => return true,
                    0..=0x1f => return false,
                    b'\\' => {
                        let escape = self.bytes.get(self.at).copied();
                        self.at += 1;
                        match escape {
                            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                            Some(b'u') => {
                                let hex = self.bytes.get(self.at..self.at + 4);
                                if !hex.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                                    return false;
                                }
                                self.at += 4;
                            }
                            _ => return false,
                        }
                    }
                    _ => {}
                }
            }
            false
        }
        fn object(&mut self) -> bool {
            if !self.eat(b'{') {
                return false;
            }
            if self.eat(b'}') {
                return true;
            }
            loop {
                if !(self.string() && self.eat(b':') && self.string()) {
                    return false;
                }
                if self.eat(b'}') {
                    return true;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }
    }
    // The text was valid UTF-8 (a Rust string), so the bytes of strings need no check.
    let mut scan = Scan { bytes: json, at: 0 };
    if !scan.eat(b'[') {
        return false;
    }
    if !scan.eat(b']') {
        loop {
            if !scan.object() {
                return false;
            }
            if scan.eat(b']') {
                break;
            }
            if !scan.eat(b',') {
                return false;
            }
        }
    }
    scan.peek().is_none()
}

/// A connection as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub project_id: String,
    pub name: String,
    pub service: Service,
    pub destination: String,
    pub security_group_id: String,
    pub network_id: String,
    pub tags: StoredTags,
    pub state: ConnectionState,
    pub process: f64,
    pub connection_url: String,
    /// Why the connection failed, per endpoint; empty unless FAILED.
    pub message: String,
    pub create_time: i64,
    pub update_time: i64,
    pub failure_reason: Option<String>,
    pub connectivity: Option<String>,
    pub last_checked_at: Option<i64>,
    pub queues: Vec<QueueBinding>,
    /// JSON of the last check's per-address outcomes (read by `show` only).
    pub check_report: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    #[default]
    Descending,
}

/// Filters and paging for a list. The defaults list everything, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub tags: TagFilter,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Any of these states; empty means all.
    pub states: Vec<ConnectionState>,
    pub service: Option<Service>,
    pub order: SortOrder,
    pub limit: Option<u32>,
    pub offset: u32,
}

#[derive(Debug, Clone)]
pub struct ConnectionPage {
    /// How many connections match the filters, before limit and offset.
    pub total: u64,
    pub connections: Vec<ConnectionRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    AlreadyDeleted,
    StillCreating,
    NotFound,
}

/// A CREATING connection claimed by one worker for checking.
#[derive(Debug, Clone)]
pub struct PendingCheck {
    pub id: ConnectionId,
    pub project_id: String,
    pub service: Service,
    pub destination: String,
}

impl PendingCheck {
    /// The endpoints to check. The url was validated at create, so a failure here means
    /// the stored row was changed behind our back.
    pub fn endpoints(&self) -> Result<EndpointList> {
        EndpointList::parse(&self.destination, self.service)
            .map_err(|error| StoreError::Corrupt(format!("connection {}: {error}", self.id)))
    }
}

/// The end of a check: the state it leads to and what to tell the user.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub state: ConnectionState,
    pub process: f64,
    pub connection_url: String,
    pub message: String,
    pub failure_reason: Option<String>,
    /// JSON of the per-endpoint outcomes, kept for diagnostics.
    pub report: String,
    /// When to re-check, should the connection be or become ACTIVE.
    pub next_check_at: Option<i64>,
    /// The url as an ACTIVE connection shows it, for a FAILED check that one of the
    /// connection's queues' checks turns ACTIVE.
    pub normalized_url: String,
}

/// The outcome of a health re-check or an on-demand test of a live connection.
#[derive(Debug, Clone)]
pub struct Connectivity {
    pub reachable: bool,
    pub report: String,
    /// When to re-check next; None leaves the schedule as it is.
    pub next_check_at: Option<i64>,
    /// Some(t): the result also stands for the ACTIVE bindings of queues without an
    /// agent heard from since t (the server checks those); None: for no binding.
    pub server_bindings: Option<i64>,
}

impl Connectivity {
    pub fn label(&self) -> &'static str {
        crate::domain::Reachability::from_reachable(self.reachable).as_str()
    }
}

/// A CREATING queue binding claimed for checking.
#[derive(Debug, Clone)]
pub struct PendingBinding {
    pub peer_id: String,
    pub queue_name: String,
    pub check: PendingCheck,
}

/// The end of a binding's check.
#[derive(Debug, Clone)]
pub struct BindingResult {
    pub active: bool,
    pub err_msg: String,
    pub failure_reason: Option<String>,
    /// `server` or `agent:<name>`.
    pub checked_from: String,
    /// When an agent re-checks it (and when its connection is re-checked, if the
    /// binding turns the connection ACTIVE).
    pub next_check_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactivateOutcome {
    Reactivated,
    /// Only FAILED connections can be reactivated.
    NotFailed(ConnectionState),
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingOutcome {
    /// Bindings changed (new peer ids for associate, count for disassociate).
    Changed(usize),
    Deleted,
    NotFound,
}

/// A DLI queue as stored. `attributes` is the JSON object of the DLI fields dsconn
/// validates, stores and echoes without giving them a meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRecord {
    pub name: String,
    pub resource_id: String,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub create_time: i64,
}

/// What CreateQueue stores: every field already validated.
#[derive(Debug, Clone)]
pub struct NewQueue {
    pub project_id: ProjectId,
    pub name: QueueName,
    pub resource_id: String,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub create_time: i64,
}

/// A DLI elastic resource pool as stored; `attributes` as for [`QueueRecord`].
pub type PoolRecord = QueueRecord;

/// What CreateElasticResourcePool stores; the name follows the queue name's rules.
pub type NewPool = NewQueue;

/// The end of a queue's or pool's create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateNamedOutcome {
    Created,
    /// The project already has one with this name.
    AlreadyExists,
    /// The project has reached the cap given to the create.
    CapReached,
}

/// The end of a queue's or pool's delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteNamedOutcome {
    Deleted,
    NotFound,
    /// Refused: this many live connections have the queue bound.
    Bound(u64),
}

/// What `/metrics` reports about the stored state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// (state, service, count) for every combination that has connections.
    pub connections: Vec<(String, String, u64)>,
    /// CREATING connections and bindings that no worker has claimed.
    pub pending_checks: u64,
    /// Connections and bindings a worker holds a live claim on.
    pub leased_checks: u64,
}

/// A new AK/SK credential; the secret key is already sealed.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub access_key: String,
    pub sealed_secret_key: Vec<u8>,
    pub scope: ProjectScope,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CredentialRecord {
    pub access_key: String,
    pub sealed_secret_key: Vec<u8>,
    pub scope: ProjectScope,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub token_hash: String,
    pub scope: ProjectScope,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: String,
    pub scope: ProjectScope,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[async_trait]
pub trait Store:
    QueueWorkStore
    + EnhancedStore
    + EnhancedSharingStore
    + AuthInfoStore
    + QueueSettingsStore
    + Send
    + Sync
    + 'static
{
    /// Lets in-flight work finish and closes the connections.
    async fn close(&self) {}

    /// Stores a new CREATING connection, unless the name is taken or the project's quota
    /// of live connections is full.
    async fn create_connection(&self, new: &NewConnection, quota: u32) -> Result<()>;

    async fn get_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>>;

    /// The project's live (not DELETED) connection with this name, if any, with its tags
    /// (for recognising a retried create).
    async fn find_live_connection_by_name(
        &self,
        project: &ProjectId,
        name: &str,
    ) -> Result<Option<ConnectionRecord>>;

    /// Whether the database answers and has exactly the migrations this build knows
    /// (for readiness: a replica of an older build beside a newer schema is not ready).
    async fn ping(&self) -> Result<()>;

    /// Counts for the metrics: connections by state and service, and check work.
    async fn stats(&self) -> Result<StoreStats>;

    async fn list_connections(
        &self,
        project: &ProjectId,
        query: &ListQuery,
    ) -> Result<ConnectionPage>;

    /// Soft-deletes an ACTIVE or FAILED connection.
    async fn delete_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        now: i64,
    ) -> Result<DeleteOutcome>;

    /// Claims up to `limit` CREATING connections whose lease is free or expired.
    async fn claim_pending_checks(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        now: i64,
    ) -> Result<Vec<PendingCheck>>;

    /// Records how far a claimed check has got. Ignored if the claim was lost.
    async fn record_progress(
        &self,
        id: ConnectionId,
        owner: &str,
        process: f64,
        now: i64,
    ) -> Result<()>;

    /// Records the end of a claimed check; false if the claim was lost meanwhile.
    async fn record_check_result(
        &self,
        id: ConnectionId,
        owner: &str,
        result: &CheckResult,
        now: i64,
    ) -> Result<bool>;

    /// Removes DELETED connections deleted before the given time.
    async fn purge_deleted(&self, deleted_before: i64) -> Result<u64>;

    /// Claims CREATING queue bindings of live connections whose queue has no agent heard
    /// from since `online_since` (the agents check those).
    async fn claim_pending_bindings(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        now: i64,
        online_since: i64,
    ) -> Result<Vec<PendingBinding>>;

    /// Records a binding's check (of `queue`: a result for another is refused); false
    /// if the claim was lost or the binding is gone.
    async fn record_binding_result(
        &self,
        peer_id: &str,
        queue: &str,
        owner: &str,
        result: &BindingResult,
        now: i64,
    ) -> Result<bool>;

    /// Claims ACTIVE connections whose re-check is due.
    async fn claim_due_rechecks(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        now: i64,
    ) -> Result<Vec<PendingCheck>>;

    /// Records the connectivity of an ACTIVE connection and its ACTIVE bindings. With an
    /// owner, only while that claim holds (and releases it); without, unconditionally.
    async fn record_connectivity(
        &self,
        id: ConnectionId,
        owner: Option<&str>,
        connectivity: &Connectivity,
        now: i64,
    ) -> Result<bool>;

    /// Moves a FAILED connection back to CREATING, to be checked again.
    async fn reactivate_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        now: i64,
    ) -> Result<ReactivateOutcome>;

    /// Binds queues (already bound ones are left as they are) as CREATING. Each must be
    /// a stored queue of the project or one of `declared` ([`StoreError::UnknownQueue`]
    /// otherwise, binding none).
    async fn associate_queues(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        queues: &[QueueName],
        declared: &[QueueName],
        now: i64,
    ) -> Result<BindingOutcome>;

    /// Unbinds queues (ones not bound are ignored).
    async fn disassociate_queues(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        queues: &[QueueName],
        now: i64,
    ) -> Result<BindingOutcome>;

    /// Stores a new queue unless the project has one of that name or already has `cap`.
    async fn create_queue(&self, new: &NewQueue, cap: u32) -> Result<CreateNamedOutcome>;

    /// The project's stored queues, by name.
    async fn list_queues(&self, project: &ProjectId) -> Result<Vec<QueueRecord>>;

    async fn get_queue(&self, project: &ProjectId, name: &str) -> Result<Option<QueueRecord>>;

    /// Whether the project has this stored queue (declared queues are not stored: the
    /// caller checks those first).
    async fn queue_exists(&self, project: &ProjectId, name: &str) -> Result<bool>;

    /// Deletes a queue no live connection (classic or enhanced) has bound. Atomic with binding: a bind that
    /// commits first makes the delete refused, one that commits after finds no queue.
    async fn delete_queue(&self, project: &ProjectId, name: &str) -> Result<DeleteNamedOutcome>;

    /// Stores a new elastic resource pool, as [`Store::create_queue`].
    async fn create_pool(&self, new: &NewPool, cap: u32) -> Result<CreateNamedOutcome>;

    /// The project's elastic resource pools, by name.
    async fn list_pools(&self, project: &ProjectId) -> Result<Vec<PoolRecord>>;

    /// Deletes a pool no live enhanced connection has bound, atomic with binding as
    /// [`Store::delete_queue`].
    async fn delete_pool(&self, project: &ProjectId, name: &str) -> Result<DeleteNamedOutcome>;

    async fn insert_credential(&self, credential: &NewCredential) -> Result<()>;

    /// A credential by access key, revoked or not.
    async fn find_credential(&self, access_key: &str) -> Result<Option<CredentialRecord>>;

    async fn list_credentials(&self) -> Result<Vec<CredentialRecord>>;

    /// Revokes a live credential; false if there is none with that key.
    async fn revoke_credential(&self, access_key: &str, now: i64) -> Result<bool>;

    /// Every credential ever created, revoked ones included.
    async fn count_credentials(&self) -> Result<u64>;

    async fn insert_token(&self, token: &NewToken) -> Result<()>;

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>>;

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>>;

    /// Revokes a live token; false if there is none with that id.
    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool>;

    /// Gives a claimed re-check back without a result (its check could not finish): the
    /// connection keeps its connectivity and is due again at `next_check_at`. False if
    /// the claim is no longer `owner`'s.
    async fn release_recheck(
        &self,
        id: ConnectionId,
        owner: &str,
        next_check_at: i64,
    ) -> Result<bool>;

    /// The database's key check: stores `candidate` if there is none yet (the first
    /// process to ask wins), and returns the stored one.
    async fn key_check(&self, candidate: &[u8]) -> Result<Vec<u8>>;
}

pub type DynStore = Arc<dyn Store>;

#[cfg(test)]
mod tests {
    use super::*;

    static KNOWN: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

    #[test]
    fn stored_tags_are_taken_as_written_and_anything_else_refused() {
        let tags = [
            Tag {
                key: "env".to_owned(),
                value: "prod".to_owned(),
            },
            Tag {
                key: "clé :=+-@.".to_owned(),
                value: String::new(),
            },
        ];
        for written in [&tags[..0], &tags[..1], &tags[..]] {
            let json = serde_json::to_string(written).expect("serialises");
            let stored = StoredTags::from_stored(json.clone()).expect("as written");
            assert_eq!(
                (stored.json(), stored.parsed()),
                (json.as_str(), written.to_vec())
            );
        }
        for valid in [
            " [ ] ",
            "[{}]",
            r#"[ {"key" : "a\"\\\/\b\f\n\r\t\u00e9", "value":"x"} , {"key":"b","value":""} ]"#,
        ] {
            assert!(StoredTags::from_stored(valid.to_owned()).is_ok(), "{valid}");
        }
        for broken in [
            "",
            "[",
            "]",
            "{}",
            "[{]",
            "[{}",
            "[{},]",
            "[,{}]",
            "[{}{}]",
            r#"[{"key":1}]"#,
            r#"[{"key":null}]"#,
            r#"[{"key":"a",}]"#,
            r#"[{"key":"a" "value":"b"}]"#,
            r#"[{"key":"a\x"}]"#,
            r#"[{"key":"a\u12g4"}]"#,
            r#"[{"key":"a\u12"}]"#,
            "[{\"key\":\"a\u{1}\"}]",
            r#"[{"key":"unterminated}]"#,
            r#"[{"key":"a"}] x"#,
            r#"[{"key":"a"}]]"#,
        ] {
            assert!(
                StoredTags::from_stored(broken.to_owned()).is_err(),
                "{broken}"
            );
        }
    }

    fn all_applied() -> Vec<(i64, bool)> {
        KNOWN.iter().map(|m| (m.version, true)).collect()
    }

    #[test]
    fn the_schema_is_current_only_with_exactly_the_known_migrations() {
        check_migrations(&KNOWN, &all_applied()).expect("current");

        let mut missing = all_applied();
        missing.pop();
        let error = check_migrations(&KNOWN, &missing).expect_err("one missing");
        assert!(error.to_string().contains("is not applied"), "{error}");

        let mut newer = all_applied();
        newer.push((99_990_101_000_000, true));
        let error = check_migrations(&KNOWN, &newer).expect_err("one unknown");
        assert!(error.to_string().contains("newer dsconn"), "{error}");

        let mut failed = all_applied();
        failed[0].1 = false;
        let error = check_migrations(&KNOWN, &failed).expect_err("one failed");
        assert!(error.to_string().contains("failed part-way"), "{error}");
    }
}
