//! Rows as both databases return them, decoded once (`FromRow` is derived generic over
//! the row type) and checked into the records by `TryFrom`.

use std::str::FromStr;

use super::{
    ConnectionRecord, CredentialRecord, PendingBinding, PendingCheck, QueueBinding, QueueRecord,
    StoreError, TokenRecord,
};
use crate::domain::{ConnectionId, ConnectionState, ProjectScope, Service, Tag};

// Column lists as macros, so that statements can be `concat!`ed into constants.
macro_rules! connection_columns {
    () => {
        "id, project_id, name, service, destination, security_group_id, network_id, tags, \
         state, process, connection_url, message, create_time, update_time, failure_reason, \
         connectivity, last_checked_at"
    };
}
macro_rules! binding_columns {
    () => {
        "peer_id, connection_id, queue_name, status, err_msg, failure_reason, connectivity, \
         last_checked_at, update_time, checked_from"
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
pub(super) use {binding_columns, connection_columns, credential_columns, token_columns};

fn parse_id(raw: &str) -> Result<ConnectionId, StoreError> {
    ConnectionId::parse(raw)
        .ok_or_else(|| StoreError::Corrupt(format!("connection id {raw:?} is not a UUID")))
}

/// A stored state name as a [`ConnectionState`].
pub(super) fn parse_state(raw: &str) -> Result<ConnectionState, StoreError> {
    ConnectionState::from_str(raw).map_err(|error| StoreError::Corrupt(error.to_string()))
}

#[derive(sqlx::FromRow)]
pub(super) struct ConnectionRow {
    id: String,
    project_id: String,
    name: String,
    service: String,
    destination: String,
    security_group_id: String,
    network_id: String,
    tags: String,
    state: String,
    process: f64,
    connection_url: String,
    message: String,
    create_time: i64,
    update_time: i64,
    failure_reason: Option<String>,
    connectivity: Option<String>,
    last_checked_at: Option<i64>,
    /// Selected by `show` only.
    #[sqlx(default)]
    check_report: Option<String>,
}

impl TryFrom<ConnectionRow> for ConnectionRecord {
    type Error = StoreError;

    fn try_from(row: ConnectionRow) -> Result<Self, StoreError> {
        let id = parse_id(&row.id)?;
        let corrupt = |error: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("connection {id}: {error}"))
        };
        let service = Service::parse(&row.service).map_err(|error| corrupt(&error))?;
        let state = ConnectionState::from_str(&row.state).map_err(|error| corrupt(&error))?;
        let tags: Vec<Tag> = serde_json::from_str(&row.tags)
            .map_err(|error| StoreError::Corrupt(format!("connection {id} tags: {error}")))?;
        Ok(ConnectionRecord {
            id,
            project_id: row.project_id,
            name: row.name,
            service,
            destination: row.destination,
            security_group_id: row.security_group_id,
            network_id: row.network_id,
            tags,
            state,
            process: row.process,
            connection_url: row.connection_url,
            message: row.message,
            create_time: row.create_time,
            update_time: row.update_time,
            failure_reason: row.failure_reason,
            connectivity: row.connectivity,
            last_checked_at: row.last_checked_at,
            queues: Vec::new(),
            check_report: row.check_report,
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
}

impl From<QueueBindingColumns> for QueueBinding {
    fn from(row: QueueBindingColumns) -> Self {
        QueueBinding {
            peer_id: row.peer_id,
            queue_name: row.queue_name,
            status: row.status,
            err_msg: row.err_msg,
            failure_reason: row.failure_reason,
            connectivity: row.connectivity,
            last_checked_at: row.last_checked_at,
            update_time: row.update_time,
            checked_from: row.checked_from,
        }
    }
}

/// A claimed connection: `id, project_id, service, destination`.
#[derive(sqlx::FromRow)]
pub(super) struct PendingRow {
    id: String,
    project_id: String,
    service: String,
    destination: String,
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
    #[sqlx(flatten)]
    check: PendingRow,
}

impl TryFrom<PendingBindingRow> for PendingBinding {
    type Error = StoreError;

    fn try_from(row: PendingBindingRow) -> Result<Self, StoreError> {
        Ok(PendingBinding {
            peer_id: row.peer_id,
            queue_name: row.queue_name,
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
