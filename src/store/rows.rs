//! Rows as both databases return them, decoded once (`FromRow` is derived generic over
//! the row type) and checked into the records by `TryFrom`.

use std::str::FromStr;

use super::{
    ConnectionRecord, CredentialRecord, PendingBinding, PendingCheck, QueueBinding, QueueRecord,
    StoreError, StoredTags, TokenRecord,
};
use crate::domain::{ConnectionId, ConnectionState, ProjectScope, Service};

// Column lists as macros, so that statements can be `concat!`ed into constants.
macro_rules! connection_columns {
    () => {
        "id, project_id, name, service, destination, security_group_id, network_id, tags, \
         state, process, connection_url, message, create_time, update_time, failure_reason, \
         connectivity, last_checked_at, session"
    };
}
/// Whether the row's connection has queue bindings, 0 or 1: a page without any skips
/// the bindings statement. An index probe per row (`UNIQUE (connection_id, queue_name)`).
macro_rules! has_bindings_column {
    () => {
        "CAST(CASE WHEN EXISTS (SELECT 1 FROM queue_bindings hb \
         WHERE hb.connection_id = connections.id) THEN 1 ELSE 0 END AS BIGINT)"
    };
}
macro_rules! binding_columns {
    () => {
        "peer_id, connection_id, queue_name, status, err_msg, failure_reason, connectivity, \
         last_checked_at, update_time, checked_from, stages"
    };
}
// The columns consecutive_failures and locked_until (migration 0002) are no longer read
// or written: the lockout they served is gone. They stay so that a replica of an older
// build keeps working against this schema during a rolling upgrade.
macro_rules! credential_columns {
    () => {
        "access_key, sealed_secret_key, all_projects, projects, created_at, revoked_at"
    };
}
macro_rules! token_columns {
    () => {
        "id, all_projects, projects, created_at, expires_at, revoked_at"
    };
}
pub(super) use {
    binding_columns, connection_columns, credential_columns, has_bindings_column, token_columns,
};

fn parse_id(raw: &str) -> Result<ConnectionId, StoreError> {
    ConnectionId::parse(raw)
        .ok_or_else(|| StoreError::Corrupt(format!("connection id {raw:?} is not a UUID")))
}

/// A stored state name as a [`ConnectionState`].
pub(super) fn parse_state(raw: &str) -> Result<ConnectionState, StoreError> {
    ConnectionState::from_str(raw).map_err(|error| StoreError::Corrupt(error.to_string()))
}

/// A connection's row: the [`connection_columns!`] in their order, then
/// [`has_bindings_column!`]. Decoded by position, not by name (a name is a hash look-up
/// per column per row, a visible share of a list's cost), borrowing the columns that are
/// only parsed.
pub(super) struct ConnectionRow {
    record: ConnectionRecord,
    /// Whether the connection has queue bindings (so whether they need reading).
    pub has_bindings: bool,
}

/// Columns of a [`ConnectionRow`]; what a statement selects after them starts here.
pub(super) const CONNECTION_ROW_COLUMNS: usize = 19;

impl<'r, R> sqlx::FromRow<'r, R> for ConnectionRow
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let corrupt = |column: &str, error: String| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: error.into(),
        };
        let id: &str = row.try_get(0)?;
        let id = ConnectionId::parse(id)
            .ok_or_else(|| corrupt("id", format!("connection id {id:?} is not a UUID")))?;
        let service: &str = row.try_get(3)?;
        let service = Service::parse(service)
            .map_err(|error| corrupt("service", format!("connection {id}: {error}")))?;
        let tags: String = row.try_get(7)?;
        let tags = StoredTags::from_stored(tags)
            .map_err(|error| corrupt("tags", format!("connection {id} tags: {error}")))?;
        let state: &str = row.try_get(8)?;
        let state = ConnectionState::from_str(state)
            .map_err(|error| corrupt("state", format!("connection {id}: {error}")))?;
        let has_bindings: i64 = row.try_get(18)?;
        Ok(ConnectionRow {
            record: ConnectionRecord {
                id,
                project_id: row.try_get(1)?,
                name: row.try_get(2)?,
                service,
                destination: row.try_get(4)?,
                security_group_id: row.try_get(5)?,
                network_id: row.try_get(6)?,
                tags,
                state,
                process: row.try_get(9)?,
                connection_url: row.try_get(10)?,
                message: row.try_get(11)?,
                create_time: row.try_get(12)?,
                update_time: row.try_get(13)?,
                failure_reason: row.try_get(14)?,
                connectivity: row.try_get(15)?,
                last_checked_at: row.try_get(16)?,
                queues: Vec::new(),
                check_report: None,
                session: row.try_get(17)?,
            },
            has_bindings: has_bindings != 0,
        })
    }
}

impl ConnectionRow {
    pub fn id(&self) -> ConnectionId {
        self.record.id
    }
}

impl From<ConnectionRow> for ConnectionRecord {
    fn from(row: ConnectionRow) -> Self {
        row.record
    }
}

/// A connection's row followed by one more column: its `check_report` (show) or the
/// count of the list's matches (a page).
pub(super) struct ConnectionRowWith<T> {
    pub row: ConnectionRow,
    pub extra: T,
}

impl<'r, R, T> sqlx::FromRow<'r, R> for ConnectionRowWith<T>
where
    R: sqlx::Row,
    ConnectionRow: sqlx::FromRow<'r, R>,
    usize: sqlx::ColumnIndex<R>,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            row: ConnectionRow::from_row(row)?,
            extra: row.try_get(CONNECTION_ROW_COLUMNS)?,
        })
    }
}

/// A queue binding with the id of its connection.
#[derive(sqlx::FromRow)]
pub(super) struct BindingRow {
    pub connection_id: String,
    #[sqlx(flatten)]
    pub binding: QueueBindingColumns,
}

#[derive(sqlx::FromRow)]
pub(super) struct QueueBindingColumns {
    peer_id: String,
    queue_name: String,
    status: String,
    err_msg: String,
    failure_reason: Option<String>,
    connectivity: Option<String>,
    last_checked_at: Option<i64>,
    update_time: i64,
    checked_from: Option<String>,
    stages: Option<String>,
}

impl TryFrom<QueueBindingColumns> for QueueBinding {
    type Error = StoreError;

    fn try_from(row: QueueBindingColumns) -> Result<Self, StoreError> {
        let status = crate::domain::BindingStatus::parse(&row.status).ok_or_else(|| {
            StoreError::Corrupt(format!("binding {}: status {:?}", row.peer_id, row.status))
        })?;
        Ok(QueueBinding {
            peer_id: row.peer_id,
            queue_name: row.queue_name,
            status,
            err_msg: row.err_msg,
            failure_reason: row.failure_reason,
            connectivity: row.connectivity,
            last_checked_at: row.last_checked_at,
            update_time: row.update_time,
            checked_from: row.checked_from,
            stages: row.stages,
        })
    }
}

/// A claimed connection: `id, project_id, service, destination` (and a binding's claim,
/// its `session`).
#[derive(sqlx::FromRow)]
pub(super) struct PendingRow {
    id: String,
    project_id: String,
    service: String,
    destination: String,
    /// Read by bindings' claims only: a connection's own check runs no credentialed stages.
    #[sqlx(default)]
    session: Option<String>,
}

impl TryFrom<PendingRow> for PendingCheck {
    type Error = StoreError;

    fn try_from(row: PendingRow) -> Result<Self, StoreError> {
        Ok(PendingCheck {
            id: parse_id(&row.id)?,
            project_id: row.project_id,
            service: Service::parse(&row.service)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?,
            destination: row.destination,
            session: row.session,
        })
    }
}

/// A claimed binding with its connection (whose id comes as `id`).
#[derive(sqlx::FromRow)]
pub(super) struct PendingBindingRow {
    pub peer_id: String,
    queue_name: String,
    /// For ordering where the claim itself cannot (SQLite's RETURNING).
    pub update_time: i64,
    status: String,
    login_failed_at: Option<i64>,
    #[sqlx(flatten)]
    check: PendingRow,
}

impl TryFrom<PendingBindingRow> for PendingBinding {
    type Error = StoreError;

    fn try_from(row: PendingBindingRow) -> Result<Self, StoreError> {
        let status = crate::domain::BindingStatus::parse(&row.status).ok_or_else(|| {
            StoreError::Corrupt(format!("binding {}: status {:?}", row.peer_id, row.status))
        })?;
        Ok(PendingBinding {
            peer_id: row.peer_id,
            queue_name: row.queue_name,
            status,
            login_failed_at: row.login_failed_at,
            check: row.check.try_into()?,
        })
    }
}

/// A scope as two columns: `all_projects` and a JSON array of projects.
pub(super) fn scope_columns(scope: &ProjectScope) -> (bool, String) {
    match scope {
        ProjectScope::All => (true, "[]".to_owned()),
        ProjectScope::Projects(projects) => (
            false,
            serde_json::to_string(projects).unwrap_or_else(|_| "[]".to_owned()),
        ),
    }
}

fn parse_scope(all_projects: bool, projects: &str) -> Result<ProjectScope, StoreError> {
    if all_projects {
        return Ok(ProjectScope::All);
    }
    serde_json::from_str(projects)
        .map(ProjectScope::Projects)
        .map_err(|error| StoreError::Corrupt(format!("scope projects: {error}")))
}

#[derive(sqlx::FromRow)]
pub(super) struct CredentialRow {
    access_key: String,
    sealed_secret_key: Vec<u8>,
    all_projects: bool,
    projects: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<CredentialRow> for CredentialRecord {
    type Error = StoreError;

    fn try_from(row: CredentialRow) -> Result<Self, StoreError> {
        Ok(CredentialRecord {
            scope: parse_scope(row.all_projects, &row.projects)?,
            access_key: row.access_key,
            sealed_secret_key: row.sealed_secret_key,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    id: String,
    all_projects: bool,
    projects: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(TokenRecord {
            scope: parse_scope(row.all_projects, &row.projects)?,
            id: row.id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A queue or an elastic resource pool: `name, resource_id, attributes, create_time`.
#[derive(sqlx::FromRow)]
pub(super) struct QueueRow {
    name: String,
    resource_id: String,
    attributes: String,
    create_time: i64,
}

impl TryFrom<QueueRow> for QueueRecord {
    type Error = StoreError;

    fn try_from(row: QueueRow) -> Result<Self, StoreError> {
        let attributes = match serde_json::from_str(&row.attributes) {
            Ok(serde_json::Value::Object(attributes)) => attributes,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "queue or pool {:?}: attributes are not a JSON object",
                    row.name
                )));
            }
        };
        Ok(QueueRecord {
            name: row.name,
            resource_id: row.resource_id,
            attributes,
            create_time: row.create_time,
        })
    }
}

#[cfg(test)]
mod binding_tests {
    use super::*;

    #[test]
    fn a_damaged_binding_status_is_refused_as_corrupt_when_read() {
        let row = |status: &str| QueueBindingColumns {
            peer_id: "peer-q1".to_owned(),
            queue_name: "q1".to_owned(),
            status: status.to_owned(),
            err_msg: String::new(),
            failure_reason: None,
            connectivity: None,
            last_checked_at: None,
            update_time: 1,
            checked_from: None,
            stages: None,
        };
        let read = QueueBinding::try_from(row("ACTIVE")).expect("a stored status");
        assert_eq!(read.status, crate::domain::BindingStatus::Active);
        assert!(matches!(
            QueueBinding::try_from(row("LOST")),
            Err(StoreError::Corrupt(_))
        ));
    }
}

/// One applied migration, as sqlx's own table records it.
#[derive(sqlx::FromRow)]
pub(super) struct MigrationRow {
    pub version: i64,
    pub success: bool,
}

/// How many connections have one state and service (the metrics' gauges).
#[derive(sqlx::FromRow)]
pub(super) struct StateCountRow {
    pub state: String,
    pub service: String,
    pub n: i64,
}

/// Checks waiting for a worker, and checks a worker holds.
#[derive(sqlx::FromRow)]
pub(super) struct WorkCountsRow {
    pub pending: i64,
    pub leased: i64,
}

/// How many of a connection's bindings are ACTIVE and CREATING.
#[derive(sqlx::FromRow)]
pub(super) struct BindingCountsRow {
    pub active: i64,
    pub creating: i64,
}

/// What settles a connection that waited for its queues' checks.
#[derive(sqlx::FromRow)]
pub(super) struct AwaitingRow {
    pub service: String,
    pub destination: String,
    pub message: String,
}
