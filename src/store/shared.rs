//! The half of the stores that SQLite and PostgreSQL share, written once.
//!
//! Statements use `$N` placeholders, which both drivers bind by position. What really
//! differs is behind two small traits each backend implements: [`Dialect`] (SQL that is
//! spelled differently, the claims among it) and [`Backend`] (pools, and how transactions
//! begin, where the locking differs). [`impl_store!`]
//! then writes the [`Store`](super::Store) implementation for a backend: generic code
//! over sqlx's `Database` needs a bound per bound type, per statement, so one macro
//! expanding the same code for each backend's concrete types reads better.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Pool, Transaction};

pub(super) use super::group_commit::GroupCommit;
use super::rows::{binding_columns, connection_columns, credential_columns, token_columns};
use super::{DeleteOutcome, Result};
use crate::domain::{ConnectionState, ProjectId};

/// SQL that the two databases spell differently.
pub(super) trait Dialect {
    type Db: sqlx::Database;
    /// A list of text values travelling as one parameter, so that every length is the
    /// same statement (a list of n placeholders would prepare, and cache in every
    /// connection, one statement per length).
    type TextList: Send;
    fn text_list<S: AsRef<str>>(values: &[S]) -> Self::TextList;
    /// What goes around a text-list parameter to test `column` for membership.
    const IN_TEXT_LIST: (&'static str, &'static str);
    /// What goes around a parameter to test whether `name` contains it, ignoring ASCII
    /// case.
    const NAME_CONTAINS: (&'static str, &'static str);
    /// What LIMIT is bound to for "no limit".
    const NO_LIMIT: Option<i64>;
    /// Appended to the read of a connection's state before its bindings change: holds
    /// off a concurrent delete until the transaction ends ("" where the one writer
    /// already does).
    const LOCK_FOR_SHARE: &'static str;
    /// Appended to a claim's read of the rows it takes (aliased `w`): locks them and
    /// skips those another claimer holds ("" where the one writer already serialises).
    const CLAIM_LOCK: &'static str;
    /// Appended to the read of a queue before it is deleted: holds off concurrent binds
    /// (which read it [`Self::LOCK_FOR_SHARE`]) until the delete ends.
    const LOCK_FOR_UPDATE: &'static str;
    /// Inserts CREATING bindings, skipping queues already bound (or listed twice):
    /// $1 connection id, $2 time, $3 peer ids and $4 queue names as text lists.
    const INSERT_BINDINGS: &'static str;
    /// Inserts a connection's tags: $1 connection id, $2 project, $3 keys and $4 values
    /// as text lists.
    const INSERT_TAGS: &'static str;

    // The claims bind $1 owner, $2 lease end, $3 now and $4 limit, and each takes its
    // rows in one statement, so that two claimers never take the same one.

    /// Claims CREATING connections, oldest first: `id, project_id, service, destination`.
    const CLAIM_CREATING: &'static str;
    /// Claims CREATING bindings of live connections whose queue has no agent heard from
    /// since $5: `peer_id, queue_name, update_time` and their connection's `id,
    /// project_id, service, destination`.
    const CLAIM_BINDINGS: &'static str;
    /// Claims ACTIVE connections whose re-check is due, as [`Self::CLAIM_CREATING`].
    const CLAIM_RECHECKS: &'static str;

    /// Whether a unique violation is the one of a live name taken.
    fn is_duplicate_name(error: &dyn sqlx::error::DatabaseError) -> bool;

    /// `IN` a text list given as `parameter` (`$1`).
    fn in_text_list(parameter: &str) -> String {
        let (open, close) = Self::IN_TEXT_LIST;
        format!("{open}{parameter}{close}")
    }
}

/// What each backend does its own way: its pools and how its transactions begin.
#[async_trait]
pub(super) trait Backend: Dialect + Send + Sync + 'static {
    fn migrator() -> &'static sqlx::migrate::Migrator;
    /// Where reads go.
    fn reader(&self) -> &Pool<Self::Db>;
    /// Where writes go.
    fn writer(&self) -> &Pool<Self::Db>;
    async fn close_pools(&self);
    /// A transaction that reads, then writes on what it read.
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>>;
    /// A read-only transaction whose statements see one snapshot.
    async fn begin_snapshot(&self) -> Result<Transaction<'static, Self::Db>>;
    /// The transaction of a create in `project`: the quota's count and the insert must
    /// not interleave with another create's.
    async fn begin_create(&self, project: &ProjectId) -> Result<Transaction<'static, Self::Db>>;
    /// Where the hot writes (creates, check progress and results) are grouped into
    /// shared commits; None: each commits on its own.
    fn group_commit(&self) -> Option<&GroupCommit<Self::Db>> {
        None
    }
}

/// What every claim binds.
pub(super) struct Claim<'a> {
    pub owner: &'a str,
    pub lease_until: i64,
    pub now: i64,
    pub limit: i64,
}

impl<'a> Claim<'a> {
    pub fn new(owner: &'a str, lease: Duration, limit: u32, now: i64) -> Self {
        Self {
            owner,
            lease_until: now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)),
            now,
            limit: i64::from(limit),
        }
    }
}

/// Rows affected as a count of queues.
pub(super) fn affected(rows: u64) -> usize {
    usize::try_from(rows).unwrap_or(usize::MAX)
}

/// States as an SQL list, `('ACTIVE', 'FAILED')`. The names are fixed upper-case words,
/// so they need no escaping.
pub(super) fn sql_states(states: &[ConnectionState]) -> String {
    let quoted: Vec<String> = states
        .iter()
        .map(|state| format!("'{}'", state.as_str()))
        .collect();
    format!("({})", quoted.join(", "))
}

/// Why a delete did nothing, from the state read after it; None if the connection has
/// meanwhile become deletable (its check finished), so the delete should be tried again.
pub(super) fn delete_refused(state: Option<ConnectionState>) -> Option<DeleteOutcome> {
    match state {
        None => Some(DeleteOutcome::NotFound),
        Some(ConnectionState::Deleted) => Some(DeleteOutcome::AlreadyDeleted),
        Some(state) if state.is_deletable() => None,
        Some(_) => Some(DeleteOutcome::StillCreating),
    }
}

/// The url as an ACTIVE connection shows it; the stored text if it no longer parses.
pub(super) fn normalized_url(service: &str, destination: &str) -> String {
    crate::domain::Service::parse(service)
        .ok()
        .and_then(|service| crate::domain::EndpointList::parse(destination, service).ok())
        .map_or_else(
            || destination.to_owned(),
            |endpoints| endpoints.normalized(),
        )
}

/// Most characters of a connection's message (as show caps it).
const MAX_MESSAGE_CHARS: usize = 4096;

/// The message of a connection reached neither from the server nor from its queues.
pub(super) fn unreached_message(server_message: &str, queue_failures: &[String]) -> String {
    if queue_failures.is_empty() {
        return server_message.to_owned();
    }
    let message = format!(
        "not reached from the server ({server_message}) nor from its queues: {}",
        queue_failures.join("; ")
    );
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &message[..cut]),
        None => message,
    }
}

/// One statement checks the quota and inserts, so two creates cannot both take the last
/// free place (and a full project is refused before the name is looked at). The quota
/// reads the project's live count (one row), never the project's connections: creates
/// in a project take turns (the one writer, or the advisory lock), and each one's
/// [`COUNT_CREATED`] commits with it.
pub(super) const INSERT_CONNECTION: &str = "INSERT INTO connections (id, project_id, name, \
         service, destination, security_group_id, network_id, tags, state, process, \
         create_time, update_time) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'CREATING', 0.0, $9, $9 \
     WHERE COALESCE((SELECT live_connections FROM project_counts \
                     WHERE project_id = $2), 0) < $10";

/// A connection of project $1 became live (in the create's transaction).
pub(super) const COUNT_CREATED: &str = "INSERT INTO project_counts \
         (project_id, live_connections) VALUES ($1, 1) \
     ON CONFLICT (project_id) \
     DO UPDATE SET live_connections = project_counts.live_connections + 1";

/// A connection of project $1 became DELETED (in the delete's transaction).
pub(super) const COUNT_DELETED: &str = "UPDATE project_counts \
     SET live_connections = live_connections - 1 WHERE project_id = $1";

pub(super) static MARK_DELETED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE connections SET state = 'DELETED', process = 0.0, connection_url = '', \
             deleted_at = $1, update_time = $1, next_check_at = NULL, awaiting_queues = 0 \
         WHERE id = $2 AND project_id = $3 \
           AND (state IN {} OR (state = 'CREATING' AND awaiting_queues = 1))",
        sql_states(ConnectionState::DELETABLE)
    )
});

pub(super) static REACTIVATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE connections SET state = 'CREATING', process = 0.0, message = '', \
             failure_reason = NULL, connection_url = '', update_time = $1, \
             lease_owner = NULL, lease_until = NULL, awaiting_queues = 0 \
         WHERE id = $2 AND project_id = $3 AND state IN {}",
        sql_states(ConnectionState::REACTIVATABLE)
    )
});

pub(super) const SELECT_CONNECTION: &str = concat!(
    "SELECT ",
    connection_columns!(),
    ", check_report FROM connections WHERE id = $1 AND project_id = $2"
);

pub(super) const SELECT_LIVE_BY_NAME: &str = concat!(
    "SELECT ",
    connection_columns!(),
    " FROM connections WHERE project_id = $1 AND name = $2 AND state <> 'DELETED'"
);

pub(super) const SELECT_CONNECTIONS: &str =
    concat!("SELECT ", connection_columns!(), " FROM connections");

pub(super) const SELECT_BINDINGS: &str =
    concat!("SELECT ", binding_columns!(), " FROM queue_bindings");

pub(super) const SELECT_CONNECTION_STATE: &str =
    "SELECT state FROM connections WHERE id = $1 AND project_id = $2";

pub(super) const SELECT_CREDENTIAL: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials WHERE access_key = $1"
);

pub(super) const SELECT_CREDENTIALS: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials ORDER BY created_at, access_key"
);

pub(super) const SELECT_TOKEN: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE token_hash = $1"
);

pub(super) const SELECT_TOKENS: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens ORDER BY created_at, id"
);

pub(super) const STATS_BY_STATE: &str =
    "SELECT state, service, COUNT(*) AS n FROM connections GROUP BY state, service";

pub(super) const STATS_WORK: &str = "SELECT \
       (SELECT COUNT(*) FROM connections WHERE state = 'CREATING' \
          AND (lease_until IS NULL OR lease_until < $1)) \
     + (SELECT COUNT(*) FROM queue_bindings WHERE status = 'CREATING' \
          AND (lease_until IS NULL OR lease_until < $1)) AS pending, \
       (SELECT COUNT(*) FROM connections WHERE lease_until >= $1) \
     + (SELECT COUNT(*) FROM queue_bindings WHERE lease_until >= $1) AS leased";

pub(super) const RECORD_PROGRESS: &str = "UPDATE connections SET process = $1, update_time = $2 \
     WHERE id = $3 AND state = 'CREATING' AND lease_owner = $4";

pub(super) const RECORD_CHECK_RESULT: &str = "UPDATE connections SET state = $1, process = $2, \
         connection_url = $3, message = $4, check_report = $5, update_time = $6, \
         failure_reason = $7, connectivity = $8, last_checked_at = $6, next_check_at = $9, \
         lease_owner = NULL, lease_until = NULL \
     WHERE id = $10 AND state = 'CREATING' AND lease_owner = $11";

pub(super) const RECORD_BINDING_RESULT: &str = "UPDATE queue_bindings SET status = $1, \
         err_msg = $2, failure_reason = $3, connectivity = $4, last_checked_at = $5, \
         update_time = $5, lease_owner = NULL, lease_until = NULL, checked_from = $8, \
         next_check_at = $9 \
     WHERE peer_id = $6 AND status = 'CREATING' AND lease_owner = $7 AND queue_name = $10 \
     RETURNING connection_id";

/// What decides the state of a connection that waits for its queues' checks.
pub(super) const SELECT_AWAITING: &str = "SELECT service, destination, message FROM connections \
     WHERE id = $1 AND state = 'CREATING' AND awaiting_queues = 1";

/// How many of a connection's bindings are ACTIVE and CREATING.
pub(super) const COUNT_BINDINGS_BY_STATUS: &str = "SELECT \
       COALESCE(SUM(CASE WHEN status = 'ACTIVE' THEN 1 ELSE 0 END), 0), \
       COALESCE(SUM(CASE WHEN status = 'CREATING' THEN 1 ELSE 0 END), 0) \
     FROM queue_bindings WHERE connection_id = $1";

/// The failures of a connection's bindings, for its message.
pub(super) const SELECT_BINDING_FAILURES: &str = "SELECT err_msg FROM queue_bindings \
     WHERE connection_id = $1 AND status = 'FAILED' ORDER BY queue_name LIMIT 8";

/// A connection reached from one of its queues: $1 url, $2 now, $3 next check, $4 id.
pub(super) const SETTLE_ACTIVE: &str = "UPDATE connections SET state = 'ACTIVE', \
         process = 1.0, connection_url = $1, message = '', failure_reason = NULL, \
         awaiting_queues = 0, update_time = $2, next_check_at = $3, \
         lease_owner = NULL, lease_until = NULL \
     WHERE id = $4 AND state = 'CREATING'";

/// A connection reached from nowhere: $1 message, $2 now, $3 id.
pub(super) const SETTLE_FAILED: &str = "UPDATE connections SET state = 'FAILED', \
         process = 1.0, connection_url = '', message = $1, awaiting_queues = 0, \
         update_time = $2, next_check_at = NULL, lease_owner = NULL, lease_until = NULL \
     WHERE id = $3 AND state = 'CREATING'";

/// A connection whose own check failed waits for its CREATING bindings: the server's
/// result is kept, and the connection is not claimed again.
pub(super) const RECORD_AWAITING_QUEUES: &str = "UPDATE connections SET process = $1, \
         message = $2, check_report = $3, update_time = $4, failure_reason = $5, \
         connectivity = 'UNREACHABLE', last_checked_at = $4, awaiting_queues = 1, \
         lease_owner = NULL, lease_until = NULL \
     WHERE id = $6 AND state = 'CREATING' AND lease_owner = $7";

/// With an owner ($6), only while that claim holds, and releases it.
pub(super) const RECORD_CONNECTIVITY: &str = "UPDATE connections SET connectivity = $1, \
         last_checked_at = $2, check_report = $3, next_check_at = COALESCE($4, next_check_at), \
         lease_owner = CASE WHEN CAST($6 AS TEXT) IS NULL THEN lease_owner ELSE NULL END, \
         lease_until = CASE WHEN CAST($6 AS TEXT) IS NULL THEN lease_until ELSE NULL END \
     WHERE id = $5 AND state = 'ACTIVE' AND (CAST($6 AS TEXT) IS NULL OR lease_owner = $6)";

/// The server's re-check also stands for the ACTIVE bindings of queues without an agent
/// heard from since $4 (whose checks the server runs).
pub(super) const RECORD_BINDINGS_CONNECTIVITY: &str = "UPDATE queue_bindings \
     SET connectivity = $1, last_checked_at = $2, checked_from = 'server' \
     WHERE connection_id = $3 AND status = 'ACTIVE' \
       AND NOT EXISTS (SELECT 1 FROM agent_queues aq \
                       JOIN agents a ON a.agent_id = aq.agent_id \
                       JOIN connections c ON c.id = queue_bindings.connection_id \
                       WHERE aq.project_id = c.project_id AND aq.kind = 'queue' \
                         AND aq.queue_name = queue_bindings.queue_name \
                         AND a.last_seen >= $4)";

pub(super) const PURGE_DELETED: &str =
    "DELETE FROM connections WHERE state = 'DELETED' AND deleted_at < $1";

/// A reactivated connection's failed bindings are checked again too.
pub(super) const RECHECK_FAILED_BINDINGS: &str = "UPDATE queue_bindings \
     SET status = 'CREATING', err_msg = '', failure_reason = NULL, update_time = $1, \
         lease_owner = NULL, lease_until = NULL \
     WHERE connection_id = $2 AND status = 'FAILED'";

pub(super) const DELETE_BINDINGS_OF: &str = "DELETE FROM queue_bindings WHERE connection_id = $1";

pub(super) const RELEASE_RECHECK: &str = "UPDATE connections \
     SET next_check_at = $1, lease_owner = NULL, lease_until = NULL \
     WHERE id = $2 AND lease_owner = $3";

pub(super) const INSERT_CREDENTIAL: &str = "INSERT INTO credentials (access_key, \
     sealed_secret_key, all_projects, projects, created_at) VALUES ($1, $2, $3, $4, $5)";

pub(super) const REVOKE_CREDENTIAL: &str =
    "UPDATE credentials SET revoked_at = $1 WHERE access_key = $2 AND revoked_at IS NULL";

pub(super) const INSERT_TOKEN: &str = "INSERT INTO tokens (id, token_hash, all_projects, \
     projects, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";

pub(super) const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

pub(super) const INSERT_KEY_CHECK: &str =
    "INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";

/// One statement checks the cap and inserts ($1 project, $2 name, $3 resource id,
/// $4 attributes, $5 time, $6 cap), as [`INSERT_CONNECTION`] does.
pub(super) const INSERT_QUEUE: &str = "INSERT INTO queues \
         (project_id, name, resource_id, attributes, create_time) \
     SELECT $1, $2, $3, $4, $5 \
     WHERE (SELECT COUNT(*) FROM queues WHERE project_id = $1) < $6";

pub(super) const INSERT_POOL: &str = "INSERT INTO elastic_resource_pools \
         (project_id, name, resource_id, attributes, create_time) \
     SELECT $1, $2, $3, $4, $5 \
     WHERE (SELECT COUNT(*) FROM elastic_resource_pools WHERE project_id = $1) < $6";

pub(super) const SELECT_QUEUES: &str = "SELECT name, resource_id, attributes, create_time \
     FROM queues WHERE project_id = $1 ORDER BY name";

pub(super) const SELECT_QUEUE: &str = "SELECT name, resource_id, attributes, create_time \
     FROM queues WHERE project_id = $1 AND name = $2";

pub(super) const SELECT_POOLS: &str = "SELECT name, resource_id, attributes, create_time \
     FROM elastic_resource_pools WHERE project_id = $1 ORDER BY name";

/// Live connections of the project ($1) that have the queue ($2) bound.
pub(super) const COUNT_BOUND_CONNECTIONS: &str = "SELECT COUNT(DISTINCT b.connection_id) \
     FROM queue_bindings b JOIN connections c ON c.id = b.connection_id \
     WHERE c.project_id = $1 AND b.queue_name = $2 AND c.state <> 'DELETED'";

pub(super) const DELETE_QUEUE: &str = "DELETE FROM queues WHERE project_id = $1 AND name = $2";

pub(super) const DELETE_POOL: &str =
    "DELETE FROM elastic_resource_pools WHERE project_id = $1 AND name = $2";

/// Writes `impl Store for $store` from the statements above and the backend's
/// [`Dialect`] and [`Backend`]; `$db` is its sqlx database.
macro_rules! impl_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use std::sync::LazyLock;
            use std::time::Duration;

            use sqlx::QueryBuilder;
            use sqlx::query::{Query, QueryAs};

            use $crate::domain::{ConnectionId, ConnectionState, ProjectId, QueueName};
            use $crate::store::rows::{
                self, BindingRow, ConnectionRow, CredentialRow, PendingBindingRow, PendingRow,
                QueueRow, TokenRow,
            };
            use $crate::store::shared::{self, Backend, Claim, Dialect};
            use $crate::store::{
                BindingOutcome, BindingResult, BindingsByConnection, CheckResult, ConnectionPage,
                ConnectionRecord, Connectivity, CreateNamedOutcome, CredentialRecord,
                DeleteNamedOutcome, DeleteOutcome, ListQuery, NewConnection, NewCredential,
                NewPool, NewQueue, NewToken, PendingBinding, PendingCheck, PoolRecord, QueueRecord,
                ReactivateOutcome, Result, SortOrder, Store, StoreError, StoreStats, TokenRecord,
            };

            type Connection = <$db as sqlx::Database>::Connection;
            type Arguments<'q> = <$db as sqlx::Database>::Arguments<'q>;
            type Row = <$db as sqlx::Database>::Row;

            impl $store {
                /// Runs a write on its own; how many rows it changed.
                async fn write<'q>(&self, statement: Query<'q, $db, Arguments<'q>>) -> Result<u64> {
                    Ok(statement.execute(self.writer()).await?.rows_affected())
                }

                /// Reads at most one row, as a record.
                async fn read_one<'q, R, T>(
                    &self,
                    statement: QueryAs<'q, $db, R, Arguments<'q>>,
                ) -> Result<Option<T>>
                where
                    R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                    T: TryFrom<R, Error = StoreError>,
                {
                    let row = statement.fetch_optional(self.reader()).await?;
                    row.map(T::try_from).transpose()
                }

                /// Reads every row, as records.
                async fn read_all<'q, R, T>(
                    &self,
                    statement: QueryAs<'q, $db, R, Arguments<'q>>,
                ) -> Result<Vec<T>>
                where
                    R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                    T: TryFrom<R, Error = StoreError>,
                {
                    let rows = statement.fetch_all(self.reader()).await?;
                    rows.into_iter().map(T::try_from).collect()
                }

                /// Runs one of the dialect's claim statements.
                async fn claim<R>(
                    &self,
                    statement: &'static str,
                    claim: Claim<'_>,
                ) -> Result<Vec<R>>
                where
                    R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                {
                    Ok(sqlx::query_as(statement)
                        .bind(claim.owner)
                        .bind(claim.lease_until)
                        .bind(claim.now)
                        .bind(claim.limit)
                        .fetch_all(self.writer())
                        .await?)
                }

                /// The bindings of these connections, in one query, by connection id.
                async fn bindings_for(
                    connection: &mut Connection,
                    connection_ids: &[String],
                ) -> Result<BindingsByConnection> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        let ids = $store::in_text_list("$1");
                        let select = shared::SELECT_BINDINGS;
                        format!("{select} WHERE connection_id {ids} ORDER BY queue_name")
                    });
                    if connection_ids.is_empty() {
                        return Ok(BindingsByConnection::new());
                    }
                    // One query per page, never one per row.
                    let rows: Vec<BindingRow> = sqlx::query_as(&SELECT)
                        .bind(Self::text_list(connection_ids))
                        .fetch_all(connection)
                        .await?;
                    let rows = rows
                        .into_iter()
                        .map(|row| Ok((row.connection_id, row.binding.into())));
                    $crate::store::group_bindings(rows)
                }

                /// A connection's state (None: no such connection in the project),
                /// read with `lock`.
                async fn state_of<'e>(
                    executor: impl sqlx::Executor<'e, Database = $db>,
                    project: &ProjectId,
                    id: &str,
                    lock: &str,
                ) -> Result<Option<ConnectionState>> {
                    let select = format!("{}{lock}", shared::SELECT_CONNECTION_STATE);
                    let state: Option<String> = sqlx::query_scalar(&select)
                        .bind(id)
                        .bind(project.as_str())
                        .fetch_optional(executor)
                        .await?;
                    state.as_deref().map(rows::parse_state).transpose()
                }

                /// Inserts CREATING bindings for the queues not yet bound; how many were new.
                async fn insert_bindings(
                    connection: &mut Connection,
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
                    let inserted = sqlx::query(Self::INSERT_BINDINGS)
                        .bind(connection_id)
                        .bind(now)
                        .bind(Self::text_list(&peer_ids))
                        .bind(Self::text_list(&names))
                        .execute(connection)
                        .await?;
                    Ok(shared::affected(inserted.rows_affected()))
                }

                /// Appends the WHERE clause of a list query (project scope first, so the
                /// project index serves every filter).
                fn push_list_filters<'q>(
                    builder: &mut QueryBuilder<'q, $db>,
                    project: &'q ProjectId,
                    query: &'q ListQuery,
                ) {
                    builder
                        .push(" WHERE project_id = ")
                        .push_bind(project.as_str());
                    if let Some(name) = &query.name_contains {
                        let (open, close) = Self::NAME_CONTAINS;
                        builder.push(open).push_bind(name.as_str()).push(close);
                    }
                    if !query.states.is_empty() {
                        let states: Vec<&str> = query.states.iter().map(|s| s.as_str()).collect();
                        let (open, close) = Self::IN_TEXT_LIST;
                        builder.push(" AND state ").push(open);
                        builder.push_bind(Self::text_list(&states)).push(close);
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

                /// A FAILED check of a connection's own: ACTIVE after all if one of its
                /// queues reached the destination, waiting while some are still being
                /// checked, FAILED (with their reasons) otherwise.
                async fn record_failed_check(
                    &self,
                    id: ConnectionId,
                    owner: &str,
                    result: &CheckResult,
                    now: i64,
                ) -> Result<bool> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    let (active, creating) = Self::binding_counts(&mut transaction, &id).await?;
                    let (state, url, message) = if active > 0 {
                        (
                            ConnectionState::Active,
                            result.normalized_url.clone(),
                            String::new(),
                        )
                    } else if creating > 0 {
                        let updated = sqlx::query(shared::RECORD_AWAITING_QUEUES)
                            .bind(result.process)
                            .bind(&result.message)
                            .bind(&result.report)
                            .bind(now)
                            .bind(result.failure_reason.as_deref())
                            .bind(&id)
                            .bind(owner)
                            .execute(&mut *transaction)
                            .await?;
                        transaction.commit().await?;
                        return Ok(updated.rows_affected() > 0);
                    } else {
                        let message =
                            Self::failed_everywhere(&mut transaction, &id, &result.message).await?;
                        (ConnectionState::Failed, String::new(), message)
                    };
                    let reached = state == ConnectionState::Active;
                    let updated = sqlx::query(shared::RECORD_CHECK_RESULT)
                        .bind(state.as_str())
                        .bind(result.process)
                        .bind(url)
                        .bind(message)
                        .bind(&result.report)
                        .bind(now)
                        .bind(if reached {
                            None
                        } else {
                            result.failure_reason.as_deref()
                        })
                        .bind("UNREACHABLE")
                        .bind(if reached { result.next_check_at } else { None })
                        .bind(&id)
                        .bind(owner)
                        .execute(&mut *transaction)
                        .await?;
                    transaction.commit().await?;
                    Ok(updated.rows_affected() > 0)
                }

                /// How many of a connection's bindings are (ACTIVE, CREATING).
                async fn binding_counts(
                    connection: &mut Connection,
                    connection_id: &str,
                ) -> Result<(i64, i64)> {
                    Ok(sqlx::query_as(shared::COUNT_BINDINGS_BY_STATUS)
                        .bind(connection_id)
                        .fetch_one(connection)
                        .await?)
                }

                /// The message of a connection reached from nowhere: the server's own
                /// check's, then its queues'.
                async fn failed_everywhere(
                    connection: &mut Connection,
                    connection_id: &str,
                    server_message: &str,
                ) -> Result<String> {
                    let failures: Vec<String> = sqlx::query_scalar(shared::SELECT_BINDING_FAILURES)
                        .bind(connection_id)
                        .fetch_all(connection)
                        .await?;
                    Ok(shared::unreached_message(server_message, &failures))
                }

                /// Decides a connection that waits for its queues' checks, once one is
                /// ACTIVE (ACTIVE) or none is left CREATING (FAILED).
                async fn settle_awaiting(
                    connection: &mut Connection,
                    connection_id: &str,
                    now: i64,
                    next_check_at: i64,
                ) -> Result<()> {
                    let waiting: Option<(String, String, String)> =
                        sqlx::query_as(shared::SELECT_AWAITING)
                            .bind(connection_id)
                            .fetch_optional(&mut *connection)
                            .await?;
                    let Some((service, destination, message)) = waiting else {
                        return Ok(());
                    };
                    let (active, creating) =
                        Self::binding_counts(connection, connection_id).await?;
                    if active > 0 {
                        let url = shared::normalized_url(&service, &destination);
                        sqlx::query(shared::SETTLE_ACTIVE)
                            .bind(url)
                            .bind(now)
                            .bind(next_check_at)
                            .bind(connection_id)
                            .execute(connection)
                            .await?;
                    } else if creating == 0 {
                        let message =
                            Self::failed_everywhere(connection, connection_id, &message).await?;
                        sqlx::query(shared::SETTLE_FAILED)
                            .bind(message)
                            .bind(now)
                            .bind(connection_id)
                            .execute(connection)
                            .await?;
                    }
                    Ok(())
                }

                /// Fails with [`StoreError::UnknownQueue`] (the first in `queues` order)
                /// unless every queue is declared or a stored queue of the project; the
                /// stored ones are read with [`Dialect::LOCK_FOR_SHARE`], so that a
                /// concurrent delete waits for this transaction.
                async fn require_queues(
                    connection: &mut Connection,
                    project: &ProjectId,
                    queues: &[QueueName],
                    declared: &[QueueName],
                ) -> Result<()> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        let names = $store::in_text_list("$2");
                        let lock = $store::LOCK_FOR_SHARE;
                        format!(
                            "SELECT name FROM queues WHERE project_id = $1 AND name {names}{lock}"
                        )
                    });
                    let wanted: Vec<&str> = queues
                        .iter()
                        .filter(|queue| !declared.contains(queue))
                        .map(QueueName::as_str)
                        .collect();
                    if wanted.is_empty() {
                        return Ok(());
                    }
                    let found: Vec<String> = sqlx::query_scalar(&SELECT)
                        .bind(project.as_str())
                        .bind(Self::text_list(&wanted))
                        .fetch_all(connection)
                        .await?;
                    match wanted.iter().find(|name| !found.iter().any(|f| f == *name)) {
                        Some(missing) => Err(StoreError::UnknownQueue((*missing).to_owned())),
                        None => Ok(()),
                    }
                }

                /// Inserts a queue or pool with `insert` ([`shared::INSERT_QUEUE`] or
                /// [`shared::INSERT_POOL`]) in the project's create transaction.
                async fn insert_named(
                    &self,
                    insert: &'static str,
                    new: &NewQueue,
                    cap: u32,
                ) -> Result<CreateNamedOutcome> {
                    let attributes = serde_json::Value::Object(new.attributes.clone()).to_string();
                    let mut transaction = self.begin_create(&new.project_id).await?;
                    let inserted = sqlx::query(insert)
                        .bind(new.project_id.as_str())
                        .bind(new.name.as_str())
                        .bind(&new.resource_id)
                        .bind(&attributes)
                        .bind(new.create_time)
                        .bind(i64::from(cap))
                        .execute(&mut *transaction)
                        .await;
                    let outcome = match inserted {
                        Ok(done) if done.rows_affected() == 0 => CreateNamedOutcome::CapReached,
                        Ok(_) => CreateNamedOutcome::Created,
                        // The primary key is (project, name): the only unique one.
                        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                            CreateNamedOutcome::AlreadyExists
                        }
                        Err(error) => return Err(error.into()),
                    };
                    if outcome == CreateNamedOutcome::Created {
                        transaction.commit().await?;
                    } else {
                        transaction.rollback().await?;
                    }
                    Ok(outcome)
                }

                /// A create's writes, in the caller's transaction: the quota, the row, its
                /// count, tags and bindings.
                async fn insert_connection(
                    connection: &mut Connection,
                    new: &NewConnection,
                    quota: u32,
                ) -> Result<()> {
                    let tags_json =
                        serde_json::to_string(new.tags.as_slice()).map_err(|error| {
                            StoreError::Corrupt(format!("tags do not serialise: {error}"))
                        })?;
                    let id = new.id.to_string();
                    let project = new.project_id.as_str();
                    let inserted = sqlx::query(shared::INSERT_CONNECTION)
                        .bind(&id)
                        .bind(project)
                        .bind(&new.name)
                        .bind(new.service.as_str())
                        .bind(&new.destination)
                        .bind(&new.security_group_id)
                        .bind(&new.network_id)
                        .bind(&tags_json)
                        .bind(new.create_time)
                        .bind(i64::from(quota))
                        .execute(&mut *connection)
                        .await
                        .map_err(|error| match &error {
                            sqlx::Error::Database(db) if Self::is_duplicate_name(&**db) => {
                                StoreError::DuplicateName
                            }
                            _ => StoreError::Database(error),
                        })?;
                    if inserted.rows_affected() == 0 {
                        return Err(StoreError::QuotaExceeded { quota });
                    }
                    sqlx::query(shared::COUNT_CREATED)
                        .bind(project)
                        .execute(&mut *connection)
                        .await?;
                    // After the insert, which took the write lock on SQLite's writer.
                    Self::require_queues(
                        &mut *connection,
                        &new.project_id,
                        &new.queues,
                        &new.declared_queues,
                    )
                    .await?;
                    let tags = new.tags.as_slice();
                    if !tags.is_empty() {
                        let keys: Vec<&str> = tags.iter().map(|tag| tag.key.as_str()).collect();
                        let values: Vec<&str> = tags.iter().map(|tag| tag.value.as_str()).collect();
                        sqlx::query(Self::INSERT_TAGS)
                            .bind(&id)
                            .bind(project)
                            .bind(Self::text_list(&keys))
                            .bind(Self::text_list(&values))
                            .execute(&mut *connection)
                            .await?;
                    }
                    Self::insert_bindings(connection, &id, &new.queues, new.create_time).await?;
                    Ok(())
                }

                /// Records a claimed check's progress (nothing if the claim was lost).
                async fn update_progress(
                    connection: &mut Connection,
                    id: &str,
                    owner: &str,
                    process: f64,
                    now: i64,
                ) -> Result<()> {
                    sqlx::query(shared::RECORD_PROGRESS)
                        .bind(process)
                        .bind(now)
                        .bind(id)
                        .bind(owner)
                        .execute(connection)
                        .await?;
                    Ok(())
                }

                /// Records the end of a claimed check that did not fail; false if the
                /// claim was lost.
                async fn update_check_result(
                    connection: &mut Connection,
                    id: &str,
                    owner: &str,
                    result: &CheckResult,
                    now: i64,
                ) -> Result<bool> {
                    let connectivity = crate::domain::Reachability::from_reachable(
                        result.state == ConnectionState::Active,
                    )
                    .as_str();
                    let updated = sqlx::query(shared::RECORD_CHECK_RESULT)
                        .bind(result.state.as_str())
                        .bind(result.process)
                        .bind(&result.connection_url)
                        .bind(&result.message)
                        .bind(&result.report)
                        .bind(now)
                        .bind(result.failure_reason.as_deref())
                        .bind(connectivity)
                        .bind(result.next_check_at)
                        .bind(id)
                        .bind(owner)
                        .execute(connection)
                        .await?;
                    Ok(updated.rows_affected() > 0)
                }

                /// Begins the transaction that changes a connection's bindings, its state
                /// read with [`Dialect::LOCK_FOR_SHARE`]; the outcome instead if the
                /// connection takes no bindings.
                async fn begin_binding_change(
                    &self,
                    project: &ProjectId,
                    id: &str,
                ) -> Result<std::result::Result<sqlx::Transaction<'static, $db>, BindingOutcome>>
                {
                    let mut transaction = self.begin_write().await?;
                    let lock = Self::LOCK_FOR_SHARE;
                    Ok(
                        match Self::state_of(&mut *transaction, project, id, lock).await? {
                            None => Err(BindingOutcome::NotFound),
                            Some(state) if !state.is_bindable() => Err(BindingOutcome::Deleted),
                            Some(_) => Ok(transaction),
                        },
                    )
                }
            }

            #[async_trait::async_trait]
            impl Store for $store {
                async fn close(&self) {
                    self.close_pools().await;
                }

                async fn create_connection(&self, new: &NewConnection, quota: u32) -> Result<()> {
                    if let Some(group) = self.group_commit() {
                        let new = new.clone();
                        return group
                            .run(move |connection| {
                                Box::pin(async move {
                                    Self::insert_connection(connection, &new, quota).await
                                })
                            })
                            .await;
                    }
                    let mut transaction = self.begin_create(&new.project_id).await?;
                    Self::insert_connection(&mut transaction, new, quota).await?;
                    transaction.commit().await?;
                    Ok(())
                }

                async fn get_connection(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                ) -> Result<Option<ConnectionRecord>> {
                    // The row and its bindings from one snapshot, so a delete in between
                    // cannot show a live row without its bindings.
                    let mut transaction = self.begin_snapshot().await?;
                    let row: Option<ConnectionRow> = sqlx::query_as(shared::SELECT_CONNECTION)
                        .bind(id.to_string())
                        .bind(project.as_str())
                        .fetch_optional(&mut *transaction)
                        .await?;
                    let Some(row) = row else {
                        transaction.commit().await?;
                        return Ok(None);
                    };
                    let mut record = ConnectionRecord::try_from(row)?;
                    let id = record.id.to_string();
                    let ids = std::slice::from_ref(&id);
                    let mut bindings = Self::bindings_for(&mut transaction, ids).await?;
                    record.queues = bindings.remove(&id).unwrap_or_default();
                    transaction.commit().await?;
                    Ok(Some(record))
                }

                async fn find_live_connection_by_name(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<Option<ConnectionRecord>> {
                    let select = sqlx::query_as::<_, ConnectionRow>(shared::SELECT_LIVE_BY_NAME);
                    self.read_one(select.bind(project.as_str()).bind(name))
                        .await
                }

                async fn ping(&self) -> Result<()> {
                    let applied: Vec<(i64, bool)> =
                        sqlx::query_as($crate::store::APPLIED_MIGRATIONS)
                            .fetch_all(self.reader())
                            .await?;
                    $crate::store::check_migrations(Self::migrator(), &applied)
                }

                async fn stats(&self) -> Result<StoreStats> {
                    let now = $crate::domain::now_millis();
                    let counts: Vec<(String, String, i64)> = sqlx::query_as(shared::STATS_BY_STATE)
                        .fetch_all(self.reader())
                        .await?;
                    let (pending, leased): (i64, i64) = sqlx::query_as(shared::STATS_WORK)
                        .bind(now)
                        .fetch_one(self.reader())
                        .await?;
                    let count = |n: i64| u64::try_from(n).unwrap_or_default();
                    Ok(StoreStats {
                        connections: counts
                            .into_iter()
                            .map(|(state, service, n)| (state, service, count(n)))
                            .collect(),
                        pending_checks: count(pending),
                        leased_checks: count(leased),
                    })
                }

                async fn list_connections(
                    &self,
                    project: &ProjectId,
                    query: &ListQuery,
                ) -> Result<ConnectionPage> {
                    let mut select = QueryBuilder::new(shared::SELECT_CONNECTIONS);
                    Self::push_list_filters(&mut select, project, query);
                    let direction = match query.order {
                        SortOrder::Ascending => "ASC",
                        SortOrder::Descending => "DESC",
                    };
                    select.push(format!(
                        " ORDER BY create_time {direction}, id {direction} LIMIT "
                    ));
                    select.push_bind(query.limit.map(i64::from).or(Self::NO_LIMIT));
                    select.push(" OFFSET ").push_bind(i64::from(query.offset));
                    // The page, its bindings and the count are one snapshot, so the count
                    // never disagrees with the page beside it.
                    let mut transaction = self.begin_snapshot().await?;
                    let rows: Vec<ConnectionRow> =
                        select.build_query_as().fetch_all(&mut *transaction).await?;
                    let mut connections = rows
                        .into_iter()
                        .map(ConnectionRecord::try_from)
                        .collect::<Result<Vec<_>>>()?;
                    let ids: Vec<String> = connections.iter().map(|c| c.id.to_string()).collect();
                    let mut bindings = Self::bindings_for(&mut transaction, &ids).await?;
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
                        Self::push_list_filters(&mut count, project, query);
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
                    // A check may finish between the update and the look-up; one retry
                    // covers it, since a finished connection stays finished until deleted.
                    for _ in 0..2 {
                        let mut transaction = self.begin_write().await?;
                        // The update waits for a check that is recording its result (the
                        // row lock, or the one writer), then decides on the state it left.
                        let deleted = sqlx::query(&shared::MARK_DELETED)
                            .bind(now)
                            .bind(&id)
                            .bind(project.as_str())
                            .execute(&mut *transaction)
                            .await?;
                        if deleted.rows_affected() > 0 {
                            sqlx::query(shared::DELETE_BINDINGS_OF)
                                .bind(&id)
                                .execute(&mut *transaction)
                                .await?;
                            sqlx::query(shared::COUNT_DELETED)
                                .bind(project.as_str())
                                .execute(&mut *transaction)
                                .await?;
                            transaction.commit().await?;
                            return Ok(DeleteOutcome::Deleted);
                        }
                        transaction.rollback().await?;
                        let state = Self::state_of(self.reader(), project, &id, "").await?;
                        if let Some(outcome) = shared::delete_refused(state) {
                            return Ok(outcome);
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
                    let claim = Claim::new(owner, lease, limit, now);
                    let rows: Vec<PendingRow> = self.claim(Self::CLAIM_CREATING, claim).await?;
                    rows.into_iter().map(PendingCheck::try_from).collect()
                }

                async fn record_progress(
                    &self,
                    id: ConnectionId,
                    owner: &str,
                    process: f64,
                    now: i64,
                ) -> Result<()> {
                    let (id, owner) = (id.to_string(), owner.to_owned());
                    match self.group_commit() {
                        Some(group) => {
                            group
                                .run(move |c| {
                                    Box::pin(async move {
                                        Self::update_progress(c, &id, &owner, process, now).await
                                    })
                                })
                                .await
                        }
                        None => {
                            let mut connection = self.writer().acquire().await?;
                            Self::update_progress(&mut connection, &id, &owner, process, now).await
                        }
                    }
                }

                async fn record_check_result(
                    &self,
                    id: ConnectionId,
                    owner: &str,
                    result: &CheckResult,
                    now: i64,
                ) -> Result<bool> {
                    if result.state == ConnectionState::Failed {
                        return self.record_failed_check(id, owner, result, now).await;
                    }
                    let (id, owner) = (id.to_string(), owner.to_owned());
                    match self.group_commit() {
                        Some(group) => {
                            let result = result.clone();
                            group
                                .run(move |c| {
                                    Box::pin(async move {
                                        Self::update_check_result(c, &id, &owner, &result, now)
                                            .await
                                    })
                                })
                                .await
                        }
                        None => {
                            let mut connection = self.writer().acquire().await?;
                            Self::update_check_result(&mut connection, &id, &owner, result, now)
                                .await
                        }
                    }
                }

                async fn purge_deleted(&self, deleted_before: i64) -> Result<u64> {
                    self.write(sqlx::query(shared::PURGE_DELETED).bind(deleted_before))
                        .await
                }

                async fn claim_pending_bindings(
                    &self,
                    owner: &str,
                    lease: Duration,
                    limit: u32,
                    now: i64,
                    online_since: i64,
                ) -> Result<Vec<PendingBinding>> {
                    let claim = Claim::new(owner, lease, limit, now);
                    let mut rows: Vec<PendingBindingRow> = sqlx::query_as(Self::CLAIM_BINDINGS)
                        .bind(claim.owner)
                        .bind(claim.lease_until)
                        .bind(claim.now)
                        .bind(claim.limit)
                        .bind(online_since)
                        .fetch_all(self.writer())
                        .await?;
                    // Oldest first (SQLite's RETURNING has no order).
                    rows.sort_by(|a, b| {
                        (a.update_time, &a.peer_id).cmp(&(b.update_time, &b.peer_id))
                    });
                    rows.into_iter().map(PendingBinding::try_from).collect()
                }

                async fn record_binding_result(
                    &self,
                    peer_id: &str,
                    queue: &str,
                    owner: &str,
                    result: &BindingResult,
                    now: i64,
                ) -> Result<bool> {
                    let status = if result.active {
                        crate::domain::BindingStatus::Active
                    } else {
                        crate::domain::BindingStatus::Failed
                    };
                    let connectivity =
                        crate::domain::Reachability::from_reachable(result.active).as_str();
                    let mut transaction = self.begin_write().await?;
                    let connection_id: Option<String> =
                        sqlx::query_scalar(shared::RECORD_BINDING_RESULT)
                            .bind(status.as_str())
                            .bind(&result.err_msg)
                            .bind(result.failure_reason.as_deref())
                            .bind(connectivity)
                            .bind(now)
                            .bind(peer_id)
                            .bind(owner)
                            .bind(&result.checked_from)
                            .bind(result.next_check_at)
                            .bind(queue)
                            .fetch_optional(&mut *transaction)
                            .await?;
                    let Some(connection_id) = connection_id else {
                        transaction.rollback().await?;
                        return Ok(false);
                    };
                    Self::settle_awaiting(
                        &mut transaction,
                        &connection_id,
                        now,
                        result.next_check_at,
                    )
                    .await?;
                    transaction.commit().await?;
                    Ok(true)
                }

                async fn claim_due_rechecks(
                    &self,
                    owner: &str,
                    lease: Duration,
                    limit: u32,
                    now: i64,
                ) -> Result<Vec<PendingCheck>> {
                    let claim = Claim::new(owner, lease, limit, now);
                    let due: Vec<PendingRow> = self.claim(Self::CLAIM_RECHECKS, claim).await?;
                    due.into_iter().map(PendingCheck::try_from).collect()
                }

                async fn record_connectivity(
                    &self,
                    id: ConnectionId,
                    owner: Option<&str>,
                    connectivity: &Connectivity,
                    now: i64,
                ) -> Result<bool> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    let updated = sqlx::query(shared::RECORD_CONNECTIVITY)
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
                    if let Some(online_since) = connectivity.server_bindings {
                        sqlx::query(shared::RECORD_BINDINGS_CONNECTIVITY)
                            .bind(connectivity.label())
                            .bind(now)
                            .bind(&id)
                            .bind(online_since)
                            .execute(&mut *transaction)
                            .await?;
                    }
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
                    let mut transaction = self.begin_write().await?;
                    let reactivated = sqlx::query(&shared::REACTIVATE)
                        .bind(now)
                        .bind(&id)
                        .bind(project.as_str())
                        .execute(&mut *transaction)
                        .await?;
                    if reactivated.rows_affected() > 0 {
                        sqlx::query(shared::RECHECK_FAILED_BINDINGS)
                            .bind(now)
                            .bind(&id)
                            .execute(&mut *transaction)
                            .await?;
                        transaction.commit().await?;
                        return Ok(ReactivateOutcome::Reactivated);
                    }
                    transaction.rollback().await?;
                    Ok(
                        match Self::state_of(self.reader(), project, &id, "").await? {
                            None => ReactivateOutcome::NotFound,
                            Some(state) => ReactivateOutcome::NotFailed(state),
                        },
                    )
                }

                async fn associate_queues(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                    queues: &[QueueName],
                    declared: &[QueueName],
                    now: i64,
                ) -> Result<BindingOutcome> {
                    let id = id.to_string();
                    let mut transaction = match self.begin_binding_change(project, &id).await? {
                        Ok(transaction) => transaction,
                        Err(outcome) => return Ok(outcome),
                    };
                    Self::require_queues(&mut transaction, project, queues, declared).await?;
                    let added = Self::insert_bindings(&mut transaction, &id, queues, now).await?;
                    transaction.commit().await?;
                    Ok(BindingOutcome::Changed(added))
                }

                async fn disassociate_queues(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                    queues: &[QueueName],
                    now: i64,
                ) -> Result<BindingOutcome> {
                    static DELETE: LazyLock<String> = LazyLock::new(|| {
                        let names = $store::in_text_list("$2");
                        format!(
                            "DELETE FROM queue_bindings \
                             WHERE connection_id = $1 AND queue_name {names}"
                        )
                    });
                    let id = id.to_string();
                    let mut transaction = match self.begin_binding_change(project, &id).await? {
                        Ok(transaction) => transaction,
                        Err(outcome) => return Ok(outcome),
                    };
                    let names: Vec<&str> = queues.iter().map(QueueName::as_str).collect();
                    let deleted = sqlx::query(&DELETE)
                        .bind(&id)
                        .bind(Self::text_list(&names))
                        .execute(&mut *transaction)
                        .await?;
                    // A connection waiting for the unbound queues waits no more.
                    Self::settle_awaiting(&mut transaction, &id, now, now).await?;
                    transaction.commit().await?;
                    Ok(BindingOutcome::Changed(shared::affected(
                        deleted.rows_affected(),
                    )))
                }

                async fn create_queue(
                    &self,
                    new: &NewQueue,
                    cap: u32,
                ) -> Result<CreateNamedOutcome> {
                    self.insert_named(shared::INSERT_QUEUE, new, cap).await
                }

                async fn list_queues(&self, project: &ProjectId) -> Result<Vec<QueueRecord>> {
                    let select = sqlx::query_as::<_, QueueRow>(shared::SELECT_QUEUES);
                    self.read_all(select.bind(project.as_str())).await
                }

                async fn get_queue(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<Option<QueueRecord>> {
                    let select = sqlx::query_as::<_, QueueRow>(shared::SELECT_QUEUE);
                    self.read_one(select.bind(project.as_str()).bind(name))
                        .await
                }

                async fn queue_exists(&self, project: &ProjectId, name: &str) -> Result<bool> {
                    let found: Option<i32> = sqlx::query_scalar(
                        "SELECT 1 FROM queues WHERE project_id = $1 AND name = $2",
                    )
                    .bind(project.as_str())
                    .bind(name)
                    .fetch_optional(self.reader())
                    .await?;
                    Ok(found.is_some())
                }

                async fn delete_queue(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<DeleteNamedOutcome> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        let lock = $store::LOCK_FOR_UPDATE;
                        format!("SELECT name FROM queues WHERE project_id = $1 AND name = $2{lock}")
                    });
                    let mut transaction = self.begin_write().await?;
                    let found: Option<String> = sqlx::query_scalar(&SELECT)
                        .bind(project.as_str())
                        .bind(name)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    if found.is_none() {
                        transaction.rollback().await?;
                        return Ok(DeleteNamedOutcome::NotFound);
                    }
                    // Read after the lock: sees every bind committed before it.
                    let bound: i64 = sqlx::query_scalar(shared::COUNT_BOUND_CONNECTIONS)
                        .bind(project.as_str())
                        .bind(name)
                        .fetch_one(&mut *transaction)
                        .await?;
                    let enhanced_bound: i64 =
                        sqlx::query_scalar($crate::store::enhanced::COUNT_ENHANCED_BOUND)
                            .bind(project.as_str())
                            .bind($crate::store::enhanced::KIND_QUEUE)
                            .bind(name)
                            .fetch_one(&mut *transaction)
                            .await?;
                    let bound = bound.saturating_add(enhanced_bound);
                    if bound > 0 {
                        transaction.rollback().await?;
                        return Ok(DeleteNamedOutcome::Bound(
                            u64::try_from(bound).unwrap_or_default(),
                        ));
                    }
                    sqlx::query(shared::DELETE_QUEUE)
                        .bind(project.as_str())
                        .bind(name)
                        .execute(&mut *transaction)
                        .await?;
                    transaction.commit().await?;
                    Ok(DeleteNamedOutcome::Deleted)
                }

                async fn create_pool(&self, new: &NewPool, cap: u32) -> Result<CreateNamedOutcome> {
                    self.insert_named(shared::INSERT_POOL, new, cap).await
                }

                async fn list_pools(&self, project: &ProjectId) -> Result<Vec<PoolRecord>> {
                    let select = sqlx::query_as::<_, QueueRow>(shared::SELECT_POOLS);
                    self.read_all(select.bind(project.as_str())).await
                }

                async fn delete_pool(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<DeleteNamedOutcome> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        let lock = $store::LOCK_FOR_UPDATE;
                        format!(
                            "SELECT name FROM elastic_resource_pools \
                             WHERE project_id = $1 AND name = $2{lock}"
                        )
                    });
                    let mut transaction = self.begin_write().await?;
                    let found: Option<String> = sqlx::query_scalar(&SELECT)
                        .bind(project.as_str())
                        .bind(name)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    if found.is_none() {
                        transaction.rollback().await?;
                        return Ok(DeleteNamedOutcome::NotFound);
                    }
                    // Read after the lock: sees every bind committed before it.
                    let bound: i64 =
                        sqlx::query_scalar($crate::store::enhanced::COUNT_ENHANCED_BOUND)
                            .bind(project.as_str())
                            .bind($crate::store::enhanced::KIND_POOL)
                            .bind(name)
                            .fetch_one(&mut *transaction)
                            .await?;
                    if bound > 0 {
                        transaction.rollback().await?;
                        return Ok(DeleteNamedOutcome::Bound(
                            u64::try_from(bound).unwrap_or_default(),
                        ));
                    }
                    sqlx::query(shared::DELETE_POOL)
                        .bind(project.as_str())
                        .bind(name)
                        .execute(&mut *transaction)
                        .await?;
                    transaction.commit().await?;
                    Ok(DeleteNamedOutcome::Deleted)
                }

                async fn insert_credential(&self, credential: &NewCredential) -> Result<()> {
                    let (all_projects, projects) = rows::scope_columns(&credential.scope);
                    let statement = sqlx::query(shared::INSERT_CREDENTIAL)
                        .bind(&credential.access_key)
                        .bind(&credential.sealed_secret_key)
                        .bind(all_projects)
                        .bind(projects)
                        .bind(credential.created_at);
                    self.write(statement).await?;
                    Ok(())
                }

                async fn find_credential(
                    &self,
                    access_key: &str,
                ) -> Result<Option<CredentialRecord>> {
                    let select = sqlx::query_as::<_, CredentialRow>(shared::SELECT_CREDENTIAL);
                    self.read_one(select.bind(access_key)).await
                }

                async fn list_credentials(&self) -> Result<Vec<CredentialRecord>> {
                    self.read_all(sqlx::query_as::<_, CredentialRow>(
                        shared::SELECT_CREDENTIALS,
                    ))
                    .await
                }

                async fn revoke_credential(&self, access_key: &str, now: i64) -> Result<bool> {
                    let revoke = sqlx::query(shared::REVOKE_CREDENTIAL).bind(now);
                    Ok(self.write(revoke.bind(access_key)).await? > 0)
                }

                async fn count_credentials(&self) -> Result<u64> {
                    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials")
                        .fetch_one(self.reader())
                        .await?;
                    Ok(u64::try_from(count).unwrap_or_default())
                }

                async fn insert_token(&self, token: &NewToken) -> Result<()> {
                    let (all_projects, projects) = rows::scope_columns(&token.scope);
                    let statement = sqlx::query(shared::INSERT_TOKEN)
                        .bind(&token.id)
                        .bind(&token.token_hash)
                        .bind(all_projects)
                        .bind(projects)
                        .bind(token.created_at)
                        .bind(token.expires_at);
                    self.write(statement).await?;
                    Ok(())
                }

                async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
                    let select = sqlx::query_as::<_, TokenRow>(shared::SELECT_TOKEN);
                    self.read_one(select.bind(token_hash)).await
                }

                async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
                    self.read_all(sqlx::query_as::<_, TokenRow>(shared::SELECT_TOKENS))
                        .await
                }

                async fn revoke_token(&self, id: &str, now: i64) -> Result<bool> {
                    let revoke = sqlx::query(shared::REVOKE_TOKEN).bind(now).bind(id);
                    Ok(self.write(revoke).await? > 0)
                }

                async fn release_recheck(
                    &self,
                    id: ConnectionId,
                    owner: &str,
                    next_check_at: i64,
                ) -> Result<bool> {
                    let release = sqlx::query(shared::RELEASE_RECHECK).bind(next_check_at);
                    Ok(self.write(release.bind(id.to_string()).bind(owner)).await? > 0)
                }

                async fn key_check(&self, candidate: &[u8]) -> Result<Vec<u8>> {
                    self.write(sqlx::query(shared::INSERT_KEY_CHECK).bind(candidate))
                        .await?;
                    let stored: Vec<u8> =
                        sqlx::query_scalar("SELECT sealed FROM key_check WHERE id = 1")
                            .fetch_one(self.writer())
                            .await?;
                    Ok(stored)
                }
            }
        };
    };
}

pub(super) use impl_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_rules_become_sql_lists() {
        assert_eq!(
            sql_states(ConnectionState::DELETABLE),
            "('ACTIVE', 'FAILED')"
        );
        assert!(MARK_DELETED.contains("state IN ('ACTIVE', 'FAILED')"));
        assert!(REACTIVATE.ends_with("state IN ('FAILED')"));
    }

    #[test]
    fn a_delete_is_refused_only_for_a_connection_that_cannot_become_deleted() {
        assert_eq!(delete_refused(None), Some(DeleteOutcome::NotFound));
        assert_eq!(
            delete_refused(Some(ConnectionState::Creating)),
            Some(DeleteOutcome::StillCreating)
        );
        assert_eq!(
            delete_refused(Some(ConnectionState::Deleted)),
            Some(DeleteOutcome::AlreadyDeleted)
        );
        assert_eq!(delete_refused(Some(ConnectionState::Active)), None);
        assert_eq!(delete_refused(Some(ConnectionState::Failed)), None);
    }
}
