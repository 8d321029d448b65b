//! The records the stores take and answer: every field validated on the way in, every
//! status an enum on the way out.

use crate::domain::{
    BindingStatus, ConnectionId, ConnectionState, EndpointList, ProjectId, ProjectScope, QueueName,
    Service, TagFilter, Tags,
};

use super::{Result, StoreError, StoredTags};

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
    /// The credentialed stages its checks from queues run (the
    /// [`crate::domain::SessionCheck`] JSON); None: reachability only.
    pub session: Option<String>,
}

/// A queue bound to a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBinding {
    pub peer_id: String,
    pub queue_name: String,
    pub status: BindingStatus,
    pub err_msg: String,
    pub failure_reason: Option<String>,
    pub connectivity: Option<String>,
    pub last_checked_at: Option<i64>,
    pub update_time: i64,
    /// Where its last check ran: `server` or `agent:<name>`; None before the first.
    pub checked_from: Option<String>,
    /// JSON of what each stage of its last check found, when its connection names an
    /// auth info.
    pub stages: Option<String>,
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
    /// The credentialed stages of its checks from queues (the
    /// [`crate::domain::SessionCheck`] JSON); None: reachability only.
    pub session: Option<String>,
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

/// A CREATING connection claimed by one worker for checking.
#[derive(Debug, Clone)]
pub struct PendingCheck {
    pub id: ConnectionId,
    pub project_id: String,
    pub service: Service,
    pub destination: String,
    /// The credentialed stages its checks from queues run (the stored
    /// [`crate::domain::SessionCheck`] JSON); None: reachability only.
    pub session: Option<String>,
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

/// A queue binding claimed for checking: a CREATING one (its first check) or, of a
/// connection with credentialed stages, one due for its re-check.
#[derive(Debug, Clone)]
pub struct PendingBinding {
    pub peer_id: String,
    pub queue_name: String,
    /// CREATING: its first check; ACTIVE or FAILED (for its credentials): a re-check.
    pub status: crate::domain::BindingStatus,
    /// When its last login FAILED (re-checks skip the login until the auth info is
    /// updated after it).
    pub login_failed_at: Option<i64>,
    pub check: PendingCheck,
}

/// What a binding's login did at its last check, as its record keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoginMark {
    /// No login ran (none asked, or skipped): the last failure, if any, stands.
    #[default]
    Keep,
    /// It FAILED in the check that started at this time.
    Failed(i64),
    /// It PASSED: no failure stands.
    Passed,
}

impl LoginMark {
    /// The columns' values: whether the stored time is kept, and the new one.
    pub fn columns(self) -> (i64, Option<i64>) {
        match self {
            LoginMark::Keep => (1, None),
            LoginMark::Failed(at) => (0, Some(at)),
            LoginMark::Passed => (0, None),
        }
    }
}

/// What a binding's credentialed stages found (issue 26), as its record keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingCredentials {
    /// JSON of every stage of the check; None: its connection names no auth info.
    pub stages: Option<String>,
    /// FAILED for its credentials: its login, query or privileges FAILED, or its login
    /// was skipped after one that FAILED. Such a binding is still re-checked.
    pub failed: bool,
    pub login: LoginMark,
}

/// A binding's status as a re-check with credentialed stages decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingVerdict {
    pub active: bool,
    pub err_msg: String,
    pub failure_reason: Option<String>,
}

/// The end of a binding's check.
#[derive(Debug, Clone)]
pub struct BindingResult {
    pub active: bool,
    /// Reached from the queue (a binding FAILED for its credentials was).
    pub reachable: bool,
    pub err_msg: String,
    pub failure_reason: Option<String>,
    /// `server` or `agent:<name>`.
    pub checked_from: String,
    /// When an agent re-checks it (and when its connection is re-checked, if the
    /// binding turns the connection ACTIVE).
    pub next_check_at: i64,
    pub credentials: BindingCredentials,
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
