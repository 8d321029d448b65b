//! The store's half of queues in other networks: agents and what they serve, the work of
//! a queue (its bindings' checks and re-checks, DLI's queue connection tests) claimed by
//! the queue's agents or, for a queue without an online agent, by the server's worker.
//!
//! Claims here read the rows to take with the dialect's row lock (`FOR UPDATE OF w SKIP
//! LOCKED` on PostgreSQL; SQLite's one writer needs none) and mark them in the same
//! transaction, so one statement set serves both backends.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::Digest;

use super::Result;
use crate::domain::{ConnectionId, ProjectId, Service};

/// Which of an agent's names a row of `agent_queues` is.
pub const SERVES_QUEUE: &str = "queue";
pub const SERVES_POOL: &str = "pool";

/// A registration, as an agent asks for it.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub agent_id: String,
    pub project_id: ProjectId,
    pub name: String,
    pub version: String,
    pub address: String,
    pub queues: Vec<String>,
    pub pools: Vec<String>,
    pub now: i64,
    /// Registrations heard from at this time or later are online: one of the same name
    /// that serves other queues or pools is not replaced.
    pub online_since: i64,
}

/// An agent as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub agent_id: String,
    pub name: String,
    pub version: String,
    pub address: String,
    pub queues: Vec<String>,
    pub pools: Vec<String>,
    pub registered_at: i64,
    pub last_seen: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    Registered,
    /// The project has this many registrations already.
    TooManyAgents(u32),
    /// An online registration of the same name serves other queues or pools: another
    /// agent, not a restart of this one. It was last heard from at `last_seen`.
    NameInUse {
        last_seen: i64,
    },
}

pub use crate::domain::QueueWorkKind;

/// One claimed piece of queue work, with everything needed to check it anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueWork {
    pub kind: QueueWorkKind,
    /// The binding's peer id, or the task id in decimal.
    pub key: String,
    pub project_id: String,
    pub queue_name: String,
    /// The connection's service; None for a test (TCP reachability only).
    pub service: Option<Service>,
    /// The connection's url, or the tested `host:port`.
    pub destination: String,
    /// The binding's connection; None for a test.
    pub connection_id: Option<ConnectionId>,
}

impl QueueWork {
    /// The id an agent names the work by: `<kind>:<key>`.
    pub fn work_id(&self) -> String {
        format!("{}:{}", self.kind, self.key)
    }
}

/// A queue connection test to run.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub task_id: i64,
    pub project_id: ProjectId,
    pub queue_name: String,
    pub address: String,
    pub now: i64,
}

/// A queue connection test as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub task_id: i64,
    pub queue_name: String,
    pub address: String,
    /// CHECKING, REACHABLE or UNREACHABLE.
    pub status: String,
    pub message: String,
    pub checked_from: Option<String>,
    pub create_time: i64,
    pub update_time: i64,
}

/// The end of a queue connection test.
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub reachable: bool,
    pub message: String,
    pub checked_from: String,
}

/// The end of an agent's re-check of a binding.
#[derive(Debug, Clone)]
pub struct BindingConnectivity {
    pub reachable: bool,
    pub checked_from: String,
    pub next_check_at: i64,
}

/// A CREATING binding of an enhanced connection to set up: the queue's (or pool's) side
/// takes the connection's hosts and routes. Claimed like the rest of a queue's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupWork {
    pub peer_id: String,
    /// The bound queue's (or pool's) project.
    pub project_id: String,
    /// [`SERVES_QUEUE`] or [`SERVES_POOL`].
    pub kind: String,
    pub name: String,
    pub connection_id: String,
    /// The connection's hosts, `(name, ip)` as stored: one parsed list per connection,
    /// shared by every set-up of it a claim takes (a connection bound to 100 queues is
    /// not 100 copies of up to 20,000 hosts).
    pub hosts: Arc<Vec<(String, String)>>,
    /// The connection's routes' CIDRs, by route name (shared the same way).
    pub routes: Arc<Vec<String>>,
}

impl SetupWork {
    /// The id an agent names the work by: `<kind>:<peer id>`, as [`QueueWork::work_id`].
    pub fn work_id(&self) -> String {
        format!("{}:{}", QueueWorkKind::Setup, self.peer_id)
    }
}

/// The end of a binding's set-up.
#[derive(Debug, Clone)]
pub struct SetupOutcome {
    /// ACTIVE, or FAILED with `message`.
    pub active: bool,
    pub message: String,
    pub checked_from: String,
}

/// A queue's hosts file as read in one snapshot: its version and its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueHosts {
    /// [`hosts_version`] of the file; None when it is empty.
    pub version: Option<String>,
    /// `(name, ip)` as stored, oldest connection first, at most
    /// [`crate::domain::MAX_HOSTS_FILE_ENTRIES`].
    pub entries: Vec<(String, String)>,
}

/// The version of a queue's hosts file, from the `(id, update_time)` of the connections
/// it is merged from, in their order: the file is a function of those (a change of a
/// connection's hosts moves its `update_time` forward, see [`super::enhanced`]), so equal
/// versions are equal files, in any project, and any change gives a new version. None for
/// an empty file. A hash, so that it is short and says nothing of the connections.
pub fn hosts_version(stamps: &[(String, i64)]) -> Option<String> {
    if stamps.is_empty() {
        return None;
    }
    let mut hash = sha2::Sha256::new();
    for (id, update_time) in stamps {
        hash.update(id.as_bytes());
        hash.update(b":");
        hash.update(update_time.to_be_bytes());
        hash.update(b";");
    }
    Some(hex::encode(&hash.finalize()[..12]))
}

/// One stored host entry, as enhanced_connections.hosts holds them.
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct StoredHost {
    pub name: String,
    pub ip: String,
}

/// The entries of a stored hosts column; a corrupt one counts as none (and is logged).
pub(super) fn stored_hosts(raw: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<Vec<StoredHost>>(raw) {
        Ok(hosts) => hosts.into_iter().map(|host| (host.name, host.ip)).collect(),
        Err(error) => {
            tracing::error!(error = %error, "an enhanced connection's stored hosts do not parse");
            Vec::new()
        }
    }
}

#[async_trait]
pub trait QueueWorkStore: Send + Sync {
    /// Registers an agent for its queues and pools, replacing the project's registration
    /// of the same name (its leases are given back) when that one is offline or serves
    /// the same queues and pools (a restart of the same agent), unless the project has
    /// `max` others. An online one serving others is kept: [`RegisterOutcome::NameInUse`].
    async fn register_agent(&self, agent: &NewAgent, max: u32) -> Result<RegisterOutcome>;

    /// Records that an agent was heard from: its name, or None if it is not registered
    /// (any more).
    async fn touch_agent(
        &self,
        project: &ProjectId,
        agent_id: &str,
        address: &str,
        now: i64,
    ) -> Result<Option<String>>;

    /// Removes a registration (an agent stopping); false if there was none.
    async fn deregister_agent(&self, project: &ProjectId, agent_id: &str) -> Result<bool>;

    /// The project's agents heard from at `online_since` or later, by name.
    async fn online_agents(
        &self,
        project: &ProjectId,
        online_since: i64,
    ) -> Result<Vec<AgentRecord>>;

    /// (project, queue, online agents) of every queue an agent heard from since
    /// `online_since` serves, for the metrics.
    async fn online_agents_by_queue(&self, online_since: i64)
    -> Result<Vec<(String, String, u64)>>;

    /// Claims up to `limit` pieces of work of the agent's queues: CREATING bindings, ACTIVE
    /// bindings due for a re-check, and tests, shared among the three kinds by
    /// [`crate::domain::fair_split`]; the agent is heard from. None if it is not
    /// registered.
    async fn claim_agent_work(
        &self,
        project: &ProjectId,
        agent_id: &str,
        address: &str,
        lease: Duration,
        limit: u32,
        now: i64,
    ) -> Result<Option<Vec<QueueWork>>>;

    /// Whether the agent's queues have work to claim now: a read, so that a waiting claim
    /// polls without writing.
    async fn agent_has_work(&self, project: &ProjectId, agent_id: &str, now: i64) -> Result<bool>;

    /// Claims tests of queues without an agent heard from since `online_since`, for the
    /// server's worker.
    async fn claim_server_tests(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        now: i64,
        online_since: i64,
    ) -> Result<Vec<QueueWork>>;

    /// Records an agent's re-check of an ACTIVE binding while `owner`'s claim holds.
    async fn record_binding_connectivity(
        &self,
        peer_id: &str,
        queue: &str,
        owner: &str,
        result: &BindingConnectivity,
        now: i64,
    ) -> Result<bool>;

    async fn create_task(&self, task: &NewTask) -> Result<()>;

    async fn get_task(
        &self,
        project: &ProjectId,
        queue: &str,
        task_id: i64,
    ) -> Result<Option<TaskRecord>>;

    /// Records a test's end while `owner`'s claim holds.
    async fn record_task_result(
        &self,
        task_id: i64,
        queue: &str,
        owner: &str,
        result: &TaskResult,
        now: i64,
    ) -> Result<bool>;

    /// Gives back the claims of `owner` on these pieces of work (a claim that could not
    /// send them).
    async fn release_queue_work(&self, owner: &str, work: &[QueueWork]) -> Result<()>;

    /// The hosts file of a queue's checks with its version, read in one snapshot: the
    /// hosts of the live enhanced connections with an ACTIVE binding of the queue, oldest
    /// connection first, at most [`crate::domain::MAX_HOSTS_FILE_ENTRIES`] of them.
    async fn queue_hosts(&self, project: &ProjectId, queue: &str) -> Result<QueueHosts>;

    /// The version of a queue's hosts file (None: empty), without reading the hosts.
    async fn queue_hosts_version(&self, project: &ProjectId, queue: &str)
    -> Result<Option<String>>;

    /// Claims up to `limit` set-ups of CREATING enhanced bindings of the queues and pools
    /// the agent serves, oldest first, while their connections' stored hosts, counted
    /// once per set-up (an agent's answer carries them with each), add up to at most
    /// `hosts_bytes` (the first one is always taken).
    async fn claim_agent_setups(
        &self,
        project: &ProjectId,
        agent_id: &str,
        lease: Duration,
        limit: u32,
        hosts_bytes: usize,
        now: i64,
    ) -> Result<Vec<SetupWork>>;

    /// Whether the agent's queues and pools have a set-up to claim now (a read).
    async fn agent_has_setups(&self, project: &ProjectId, agent_id: &str, now: i64)
    -> Result<bool>;

    /// Claims set-ups of queues and pools without an agent heard from since
    /// `online_since`, for the server's worker, while their connections' stored hosts,
    /// counted once per connection (its set-ups share one parsed copy), add up to at most
    /// `hosts_bytes` (the first one is always taken).
    async fn claim_server_setups(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        hosts_bytes: usize,
        now: i64,
        online_since: i64,
    ) -> Result<Vec<SetupWork>>;

    /// Records a set-up's end while `owner`'s claim holds (and the binding still names
    /// `name`); false if it does not any more.
    async fn record_setup(
        &self,
        peer_id: &str,
        name: &str,
        owner: &str,
        outcome: &SetupOutcome,
        now: i64,
    ) -> Result<bool>;

    /// Says on CREATING bindings and tests of queues without an online agent that they
    /// wait for one (with `--require-agents`); how many rows it marked.
    async fn mark_waiting_for_agents(&self, online_since: i64, now: i64) -> Result<u64>;

    /// Removes tests finished before `tests_before` and agents not heard from since
    /// `agents_before`.
    async fn purge_queue_work(&self, tests_before: i64, agents_before: i64) -> Result<u64>;
}

/// `a` online agent serves the queue or pool of `queue_column` (of kind `kind`, a SQL
/// expression: `'queue'`, or a column) in `project_column`'s project; `$online` is the
/// parameter holding the online threshold.
pub(super) fn online_agent_serves(
    project_column: &str,
    kind: &str,
    queue_column: &str,
    online: &str,
) -> String {
    format!(
        "EXISTS (SELECT 1 FROM agent_queues aq JOIN agents a ON a.agent_id = aq.agent_id \
         WHERE aq.project_id = {project_column} AND aq.kind = {kind} \
           AND aq.queue_name = {queue_column} AND a.last_seen >= {online})"
    )
}

pub(super) const INSERT_AGENT: &str = "INSERT INTO agents (agent_id, project_id, name, version, \
     address, registered_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $6)";

pub(super) const INSERT_AGENT_QUEUE: &str =
    "INSERT INTO agent_queues (agent_id, project_id, kind, queue_name) VALUES ($1, $2, $3, $4)";

pub(super) const SELECT_AGENTS_BY_NAME: &str =
    "SELECT agent_id, last_seen FROM agents WHERE project_id = $1 AND name = $2";

/// What a registration serves, as `kind:name` (sorted by the caller).
pub(super) const SELECT_SERVED_BY: &str =
    "SELECT kind, queue_name FROM agent_queues WHERE agent_id = $1";

/// Gives back the claims of an agent that stopped or was replaced ($1 its lease owner),
/// so its queues' work need not wait for the leases to lapse.
pub(super) const RELEASE_BINDING_LEASES: &str =
    "UPDATE queue_bindings SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1";
pub(super) const RELEASE_TEST_LEASES: &str =
    "UPDATE connectivity_tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1";

pub(super) const COUNT_AGENTS: &str = "SELECT COUNT(*) FROM agents WHERE project_id = $1";

pub(super) const TOUCH_AGENT: &str =
    "UPDATE agents SET last_seen = $1, address = $2 WHERE agent_id = $3 AND project_id = $4";

pub(super) const DELETE_AGENT: &str = "DELETE FROM agents WHERE agent_id = $1 AND project_id = $2";

pub(super) const SELECT_ONLINE_AGENTS: &str = "SELECT agent_id, name, version, address, \
     registered_at, last_seen FROM agents WHERE project_id = $1 AND last_seen >= $2 \
     ORDER BY name, agent_id";

pub(super) const COUNT_ONLINE_BY_QUEUE: &str = "SELECT aq.project_id, aq.queue_name, \
     COUNT(*) FROM agent_queues aq JOIN agents a ON a.agent_id = aq.agent_id \
     WHERE aq.kind = 'queue' AND a.last_seen >= $1 \
     GROUP BY aq.project_id, aq.queue_name ORDER BY aq.project_id, aq.queue_name";

pub(super) const SELECT_AGENT_QUEUES: &str = "SELECT aq.agent_id, aq.kind, aq.queue_name \
     FROM agent_queues aq JOIN agents a ON a.agent_id = aq.agent_id \
     WHERE a.project_id = $1 AND a.last_seen >= $2 ORDER BY aq.queue_name";

/// The agent's bindings to check of status $5: CREATING ones, or ACTIVE ones due ($3
/// now), oldest first; $1 project, $2 agent, $4 limit.
pub(super) const SELECT_AGENT_BINDINGS: &str = "SELECT w.peer_id, w.queue_name, w.status, \
         c.id, c.service, c.destination \
     FROM queue_bindings w JOIN connections c ON c.id = w.connection_id \
     WHERE c.project_id = $1 AND c.state <> 'DELETED' \
       AND w.queue_name IN (SELECT queue_name FROM agent_queues \
                            WHERE agent_id = $2 AND kind = 'queue') \
       AND w.status = $5 \
       AND (w.status = 'CREATING' OR COALESCE(w.next_check_at, 0) <= $3) \
       AND (w.lease_until IS NULL OR w.lease_until < $3) \
     ORDER BY w.update_time, w.peer_id LIMIT $4";

/// The agent's tests to run; parameters as [`SELECT_AGENT_BINDINGS`].
pub(super) const SELECT_AGENT_TESTS: &str = "SELECT w.task_id, w.queue_name, w.address \
     FROM connectivity_tasks w \
     WHERE w.project_id = $1 AND w.status = 'CHECKING' \
       AND w.queue_name IN (SELECT queue_name FROM agent_queues \
                            WHERE agent_id = $2 AND kind = 'queue') \
       AND (w.lease_until IS NULL OR w.lease_until < $3) \
     ORDER BY w.create_time, w.task_id LIMIT $4";

/// Whether any test waits for a claim ($1 now): the cheap first look of the server's claim.
pub(super) const ANY_TEST_DUE: &str = "SELECT task_id FROM connectivity_tasks \
     WHERE status = 'CHECKING' AND (lease_until IS NULL OR lease_until < $1) LIMIT 1";

pub(super) const LEASE_BINDING: &str =
    "UPDATE queue_bindings SET lease_owner = $1, lease_until = $2 WHERE peer_id = $3";

pub(super) const LEASE_TASK: &str =
    "UPDATE connectivity_tasks SET lease_owner = $1, lease_until = $2 WHERE task_id = $3";

pub(super) const RELEASE_BINDING_LEASE: &str = "UPDATE queue_bindings \
     SET lease_owner = NULL, lease_until = NULL WHERE peer_id = $1 AND lease_owner = $2";
pub(super) const RELEASE_TASK_LEASE: &str = "UPDATE connectivity_tasks \
     SET lease_owner = NULL, lease_until = NULL WHERE task_id = $1 AND lease_owner = $2";
pub(super) const RELEASE_SETUP_LEASE: &str = "UPDATE enhanced_bindings \
     SET lease_owner = NULL, lease_until = NULL WHERE peer_id = $1 AND lease_owner = $2";

pub(super) const RECORD_BINDING_CONNECTIVITY: &str = "UPDATE queue_bindings \
     SET connectivity = $1, checked_from = $2, next_check_at = $3, last_checked_at = $4, \
         lease_owner = NULL, lease_until = NULL \
     WHERE peer_id = $5 AND status = 'ACTIVE' AND lease_owner = $6 AND queue_name = $7";

pub(super) const INSERT_TASK: &str = "INSERT INTO connectivity_tasks (task_id, project_id, \
     queue_name, address, status, create_time, update_time) \
     VALUES ($1, $2, $3, $4, 'CHECKING', $5, $5)";

pub(super) const SELECT_TASK: &str = "SELECT task_id, queue_name, address, status, message, \
     checked_from, create_time, update_time FROM connectivity_tasks \
     WHERE task_id = $1 AND project_id = $2 AND queue_name = $3";

pub(super) const RECORD_TASK_RESULT: &str = "UPDATE connectivity_tasks \
     SET status = $1, message = $2, checked_from = $3, update_time = $4, \
         lease_owner = NULL, lease_until = NULL \
     WHERE task_id = $5 AND status = 'CHECKING' AND lease_owner = $6 AND queue_name = $7";

pub(super) const RELEASE_SETUP_LEASES: &str =
    "UPDATE enhanced_bindings SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1";

/// The connections a queue's hosts file is merged from: $1 project, $2 queue.
const QUEUE_HOSTS_FROM: &str = "FROM enhanced_bindings b \
     JOIN enhanced_connections c ON c.id = b.connection_id \
     WHERE b.project_id = $1 AND b.kind = 'queue' AND b.name = $2 AND b.status = 'ACTIVE' \
       AND c.status = 'ACTIVE' AND c.hosts <> '[]' \
     ORDER BY c.create_time, c.id";

/// The hosts columns of a queue's ACTIVE enhanced bindings: $1 project, $2 queue.
pub(super) static SELECT_QUEUE_HOSTS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT c.hosts {QUEUE_HOSTS_FROM}"));

/// What [`hosts_version`] is computed from: $1 project, $2 queue.
pub(super) static SELECT_QUEUE_HOSTS_STAMPS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT c.id, c.update_time {QUEUE_HOSTS_FROM}"));

/// A connection's stored hosts, read once per connection by a claim of its set-ups.
pub(super) const SELECT_CONNECTION_HOSTS: &str =
    "SELECT hosts FROM enhanced_connections WHERE id = $1";

/// The agent's set-ups: $1 project, $2 agent, $3 now, $4 limit; without the
/// connection's hosts (read once per connection when leased: a sort of rows that each
/// carry up to 3 MB of hosts is what made claims slow).
pub(super) const SELECT_AGENT_SETUPS: &str = "SELECT w.peer_id, w.project_id, w.kind, w.name, \
         c.id \
     FROM enhanced_bindings w JOIN enhanced_connections c ON c.id = w.connection_id \
     WHERE w.project_id = $1 AND w.status = 'CREATING' AND c.status = 'ACTIVE' \
       AND EXISTS (SELECT 1 FROM agent_queues aq WHERE aq.agent_id = $2 \
                   AND aq.kind = w.kind AND aq.queue_name = w.name) \
       AND (w.lease_until IS NULL OR w.lease_until < $3) \
     ORDER BY w.update_time, w.peer_id LIMIT $4";

/// Whether any set-up waits for a claim ($1 now): the server's cheap first look.
pub(super) const ANY_SETUP_DUE: &str = "SELECT peer_id FROM enhanced_bindings \
     WHERE status = 'CREATING' AND (lease_until IS NULL OR lease_until < $1) LIMIT 1";

pub(super) const SELECT_ROUTE_CIDRS: &str =
    "SELECT cidr FROM enhanced_routes WHERE connection_id = $1 ORDER BY name";

pub(super) const LEASE_SETUP: &str =
    "UPDATE enhanced_bindings SET lease_owner = $1, lease_until = $2 WHERE peer_id = $3";

pub(super) const RECORD_SETUP: &str = "UPDATE enhanced_bindings \
     SET status = $1, err_msg = $2, checked_from = $3, update_time = $4, \
         lease_owner = NULL, lease_until = NULL \
     WHERE peer_id = $5 AND status = 'CREATING' AND lease_owner = $6 AND name = $7";

pub(super) const PURGE_TASKS: &str =
    "DELETE FROM connectivity_tasks WHERE status <> 'CHECKING' AND update_time < $1";

pub(super) const PURGE_AGENTS: &str = "DELETE FROM agents WHERE last_seen < $1";

/// Writes `impl QueueWorkStore for $store`, as [`super::shared::impl_store`] does.
macro_rules! impl_queue_work_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use std::sync::LazyLock;
            use std::time::Duration;

            use $crate::domain::{ConnectionId, ProjectId, Service};
            use $crate::store::queue_work::{
                self as work, AgentRecord, BindingConnectivity, NewAgent, NewTask, QueueHosts,
                QueueWork, QueueWorkKind, QueueWorkStore, RegisterOutcome, SetupOutcome, SetupWork,
                TaskRecord, TaskResult,
            };
            use $crate::store::shared::{Backend, Claim, Dialect};
            use $crate::store::{Result, StoreError};

            fn service_of(raw: &str) -> Result<Service> {
                Service::parse(raw).map_err(|error| StoreError::Corrupt(error.to_string()))
            }

            fn connection_id_of(raw: &str) -> Result<ConnectionId> {
                ConnectionId::parse(raw).ok_or_else(|| {
                    StoreError::Corrupt(format!("connection id {raw:?} is not a UUID"))
                })
            }

            /// A set-up row as the claims read it: the binding and its connection's id.
            type SetupRow = (String, String, String, String, String);

            impl $store {
                /// Leases the set-ups read, oldest first, while their connections' stored
                /// hosts add up to at most `hosts_bytes` (the first always; counted once
                /// per connection, or once per set-up when `per_item`, as an agent's
                /// answer carries them), and completes them with their hosts and routes,
                /// read and parsed once per connection.
                async fn lease_setups(
                    connection: &mut <$db as sqlx::Database>::Connection,
                    rows: Vec<SetupRow>,
                    claim: &Claim<'_>,
                    hosts_bytes: usize,
                    per_item: bool,
                ) -> Result<Vec<SetupWork>> {
                    type Shared = (
                        std::sync::Arc<Vec<(String, String)>>,
                        std::sync::Arc<Vec<String>>,
                        usize,
                    );
                    let mut read: std::collections::HashMap<String, Shared> =
                        std::collections::HashMap::new();
                    let mut claimed = Vec::with_capacity(rows.len());
                    let mut bytes = 0_usize;
                    for (peer_id, project_id, kind, name, connection_id) in rows {
                        let (hosts, routes, _) = match read.get(&connection_id) {
                            Some((hosts, routes, size)) => {
                                // An agent's answer carries the hosts with every set-up.
                                if per_item {
                                    if bytes.saturating_add(*size) > hosts_bytes {
                                        break;
                                    }
                                    bytes = bytes.saturating_add(*size);
                                }
                                (hosts.clone(), routes.clone(), *size)
                            }
                            None => {
                                let raw: String = sqlx::query_scalar(work::SELECT_CONNECTION_HOSTS)
                                    .bind(&connection_id)
                                    .fetch_one(&mut *connection)
                                    .await?;
                                // Its stored size is about its size in a claim's answer.
                                let size = raw.len();
                                if !claimed.is_empty() && bytes.saturating_add(size) > hosts_bytes {
                                    break;
                                }
                                bytes = bytes.saturating_add(size);
                                let routes: Vec<String> =
                                    sqlx::query_scalar(work::SELECT_ROUTE_CIDRS)
                                        .bind(&connection_id)
                                        .fetch_all(&mut *connection)
                                        .await?;
                                let shared = (
                                    std::sync::Arc::new(work::stored_hosts(&raw)),
                                    std::sync::Arc::new(routes),
                                    size,
                                );
                                read.insert(connection_id.clone(), shared.clone());
                                shared
                            }
                        };
                        sqlx::query(work::LEASE_SETUP)
                            .bind(claim.owner)
                            .bind(claim.lease_until)
                            .bind(&peer_id)
                            .execute(&mut *connection)
                            .await?;
                        claimed.push(SetupWork {
                            peer_id,
                            project_id,
                            kind,
                            name,
                            connection_id,
                            hosts,
                            routes,
                        });
                    }
                    Ok(claimed)
                }

                /// Gives back every claim of the agent registered as `agent_id`.
                async fn release_leases(
                    connection: &mut <$db as sqlx::Database>::Connection,
                    agent_id: &str,
                ) -> Result<()> {
                    let owner = format!("agent:{agent_id}");
                    sqlx::query(work::RELEASE_BINDING_LEASES)
                        .bind(&owner)
                        .execute(&mut *connection)
                        .await?;
                    sqlx::query(work::RELEASE_TEST_LEASES)
                        .bind(&owner)
                        .execute(&mut *connection)
                        .await?;
                    sqlx::query(work::RELEASE_SETUP_LEASES)
                        .bind(&owner)
                        .execute(&mut *connection)
                        .await?;
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl QueueWorkStore for $store {
                async fn register_agent(
                    &self,
                    agent: &NewAgent,
                    max: u32,
                ) -> Result<RegisterOutcome> {
                    let project = agent.project_id.as_str();
                    // Registrations in one project take turns (on every replica), so two
                    // of one name cannot both see none, nor two the last free place.
                    let mut transaction = self.begin_create(&agent.project_id).await?;
                    let same_name: Vec<(String, i64)> = sqlx::query_as(work::SELECT_AGENTS_BY_NAME)
                        .bind(project)
                        .bind(&agent.name)
                        .fetch_all(&mut *transaction)
                        .await?;
                    let mut serves: Vec<(String, String)> = agent
                        .queues
                        .iter()
                        .map(|name| (work::SERVES_QUEUE.to_owned(), name.clone()))
                        .chain(
                            agent
                                .pools
                                .iter()
                                .map(|name| (work::SERVES_POOL.to_owned(), name.clone())),
                        )
                        .collect();
                    serves.sort();
                    for (agent_id, last_seen) in &same_name {
                        if *last_seen < agent.online_since {
                            continue;
                        }
                        let mut served: Vec<(String, String)> =
                            sqlx::query_as(work::SELECT_SERVED_BY)
                                .bind(agent_id)
                                .fetch_all(&mut *transaction)
                                .await?;
                        served.sort();
                        if served != serves {
                            transaction.rollback().await?;
                            return Ok(RegisterOutcome::NameInUse {
                                last_seen: *last_seen,
                            });
                        }
                    }
                    for (agent_id, _) in &same_name {
                        sqlx::query(work::DELETE_AGENT)
                            .bind(agent_id)
                            .bind(project)
                            .execute(&mut *transaction)
                            .await?;
                        Self::release_leases(&mut transaction, agent_id).await?;
                    }
                    let others: i64 = sqlx::query_scalar(work::COUNT_AGENTS)
                        .bind(project)
                        .fetch_one(&mut *transaction)
                        .await?;
                    if others >= i64::from(max) {
                        transaction.rollback().await?;
                        return Ok(RegisterOutcome::TooManyAgents(max));
                    }
                    sqlx::query(work::INSERT_AGENT)
                        .bind(&agent.agent_id)
                        .bind(project)
                        .bind(&agent.name)
                        .bind(&agent.version)
                        .bind(&agent.address)
                        .bind(agent.now)
                        .execute(&mut *transaction)
                        .await?;
                    let served = agent
                        .queues
                        .iter()
                        .map(|name| (work::SERVES_QUEUE, name))
                        .chain(agent.pools.iter().map(|name| (work::SERVES_POOL, name)));
                    for (kind, name) in served {
                        sqlx::query(work::INSERT_AGENT_QUEUE)
                            .bind(&agent.agent_id)
                            .bind(project)
                            .bind(kind)
                            .bind(name)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    transaction.commit().await?;
                    Ok(RegisterOutcome::Registered)
                }

                async fn touch_agent(
                    &self,
                    project: &ProjectId,
                    agent_id: &str,
                    address: &str,
                    now: i64,
                ) -> Result<Option<String>> {
                    static TOUCH: LazyLock<String> =
                        LazyLock::new(|| format!("{} RETURNING name", work::TOUCH_AGENT));
                    Ok(sqlx::query_scalar(&TOUCH)
                        .bind(now)
                        .bind(address)
                        .bind(agent_id)
                        .bind(project.as_str())
                        .fetch_optional(self.writer())
                        .await?)
                }

                async fn deregister_agent(
                    &self,
                    project: &ProjectId,
                    agent_id: &str,
                ) -> Result<bool> {
                    let mut transaction = self.begin_write().await?;
                    let deleted = sqlx::query(work::DELETE_AGENT)
                        .bind(agent_id)
                        .bind(project.as_str())
                        .execute(&mut *transaction)
                        .await?;
                    if deleted.rows_affected() == 0 {
                        transaction.rollback().await?;
                        return Ok(false);
                    }
                    Self::release_leases(&mut transaction, agent_id).await?;
                    transaction.commit().await?;
                    Ok(true)
                }

                async fn online_agents(
                    &self,
                    project: &ProjectId,
                    online_since: i64,
                ) -> Result<Vec<AgentRecord>> {
                    let mut transaction = self.begin_snapshot().await?;
                    let agents: Vec<(String, String, String, String, i64, i64)> =
                        sqlx::query_as(work::SELECT_ONLINE_AGENTS)
                            .bind(project.as_str())
                            .bind(online_since)
                            .fetch_all(&mut *transaction)
                            .await?;
                    let served: Vec<(String, String, String)> =
                        sqlx::query_as(work::SELECT_AGENT_QUEUES)
                            .bind(project.as_str())
                            .bind(online_since)
                            .fetch_all(&mut *transaction)
                            .await?;
                    transaction.commit().await?;
                    Ok(agents
                        .into_iter()
                        .map(
                            |(agent_id, name, version, address, registered_at, last_seen)| {
                                let names = |kind: &str| {
                                    served
                                        .iter()
                                        .filter(|(id, k, _)| *id == agent_id && k == kind)
                                        .map(|(_, _, name)| name.clone())
                                        .collect()
                                };
                                AgentRecord {
                                    queues: names(work::SERVES_QUEUE),
                                    pools: names(work::SERVES_POOL),
                                    agent_id,
                                    name,
                                    version,
                                    address,
                                    registered_at,
                                    last_seen,
                                }
                            },
                        )
                        .collect())
                }

                async fn online_agents_by_queue(
                    &self,
                    online_since: i64,
                ) -> Result<Vec<(String, String, u64)>> {
                    let rows: Vec<(String, String, i64)> =
                        sqlx::query_as(work::COUNT_ONLINE_BY_QUEUE)
                            .bind(online_since)
                            .fetch_all(self.reader())
                            .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(project, queue, count)| {
                            (project, queue, u64::try_from(count).unwrap_or(0))
                        })
                        .collect())
                }

                async fn claim_agent_work(
                    &self,
                    project: &ProjectId,
                    agent_id: &str,
                    address: &str,
                    lease: Duration,
                    limit: u32,
                    now: i64,
                ) -> Result<Option<Vec<QueueWork>>> {
                    static BINDINGS: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", work::SELECT_AGENT_BINDINGS, $store::CLAIM_LOCK)
                    });
                    static TESTS: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", work::SELECT_AGENT_TESTS, $store::CLAIM_LOCK)
                    });
                    let owner = format!("agent:{agent_id}");
                    let claim = Claim::new(&owner, lease, limit, now);
                    let mut transaction = self.begin_write().await?;
                    let heard = sqlx::query(work::TOUCH_AGENT)
                        .bind(now)
                        .bind(address)
                        .bind(agent_id)
                        .bind(project.as_str())
                        .execute(&mut *transaction)
                        .await?;
                    if heard.rows_affected() == 0 {
                        transaction.rollback().await?;
                        return Ok(None);
                    }
                    type BindingRow = (String, String, String, String, String, String);
                    let mut kinds: Vec<Vec<BindingRow>> = Vec::with_capacity(2);
                    for status in ["CREATING", "ACTIVE"] {
                        kinds.push(
                            sqlx::query_as(&BINDINGS)
                                .bind(project.as_str())
                                .bind(agent_id)
                                .bind(now)
                                .bind(claim.limit)
                                .bind(status)
                                .fetch_all(&mut *transaction)
                                .await?,
                        );
                    }
                    let mut tests: Vec<(i64, String, String)> = sqlx::query_as(&TESTS)
                        .bind(project.as_str())
                        .bind(agent_id)
                        .bind(now)
                        .bind(claim.limit)
                        .fetch_all(&mut *transaction)
                        .await?;
                    // Each kind its share first (issue 24): new bindings, re-checks, tests.
                    let taken = $crate::domain::fair_split(
                        &[kinds[0].len(), kinds[1].len(), tests.len()],
                        usize::try_from(claim.limit).unwrap_or(0),
                        usize::try_from(now.rem_euclid(3)).unwrap_or(0),
                    );
                    tests.truncate(taken[2]);
                    let mut claimed = Vec::with_capacity(taken.iter().sum());
                    let bindings = kinds
                        .into_iter()
                        .zip(&taken)
                        .flat_map(|(rows, &take)| rows.into_iter().take(take));
                    for (peer_id, queue_name, status, id, service, destination) in bindings {
                        sqlx::query(work::LEASE_BINDING)
                            .bind(claim.owner)
                            .bind(claim.lease_until)
                            .bind(&peer_id)
                            .execute(&mut *transaction)
                            .await?;
                        claimed.push(QueueWork {
                            kind: if status == "CREATING" {
                                QueueWorkKind::Bind
                            } else {
                                QueueWorkKind::RecheckBinding
                            },
                            key: peer_id,
                            project_id: project.as_str().to_owned(),
                            queue_name,
                            service: Some(service_of(&service)?),
                            destination,
                            connection_id: Some(connection_id_of(&id)?),
                        });
                    }
                    for (task_id, queue_name, address) in tests {
                        sqlx::query(work::LEASE_TASK)
                            .bind(claim.owner)
                            .bind(claim.lease_until)
                            .bind(task_id)
                            .execute(&mut *transaction)
                            .await?;
                        claimed.push(QueueWork {
                            kind: QueueWorkKind::Test,
                            key: task_id.to_string(),
                            project_id: project.as_str().to_owned(),
                            queue_name,
                            service: None,
                            destination: address,
                            connection_id: None,
                        });
                    }
                    transaction.commit().await?;
                    Ok(Some(claimed))
                }

                async fn agent_has_work(
                    &self,
                    project: &ProjectId,
                    agent_id: &str,
                    now: i64,
                ) -> Result<bool> {
                    for status in ["CREATING", "ACTIVE"] {
                        let found = sqlx::query(work::SELECT_AGENT_BINDINGS)
                            .bind(project.as_str())
                            .bind(agent_id)
                            .bind(now)
                            .bind(1_i64)
                            .bind(status)
                            .fetch_optional(self.reader())
                            .await?;
                        if found.is_some() {
                            return Ok(true);
                        }
                    }
                    let found = sqlx::query(work::SELECT_AGENT_TESTS)
                        .bind(project.as_str())
                        .bind(agent_id)
                        .bind(now)
                        .bind(1_i64)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(found.is_some())
                }

                async fn claim_server_tests(
                    &self,
                    owner: &str,
                    lease: Duration,
                    limit: u32,
                    now: i64,
                    online_since: i64,
                ) -> Result<Vec<QueueWork>> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT w.task_id, w.project_id, w.queue_name, w.address \
                             FROM connectivity_tasks w \
                             WHERE w.status = 'CHECKING' \
                               AND (w.lease_until IS NULL OR w.lease_until < $1) \
                               AND NOT {} \
                             ORDER BY w.create_time, w.task_id LIMIT $3{}",
                            work::online_agent_serves(
                                "w.project_id",
                                "'queue'",
                                "w.queue_name",
                                "$2"
                            ),
                            $store::CLAIM_LOCK
                        )
                    });
                    // Most rounds of the worker find no test: a read says so without
                    // taking the one writer.
                    let any_due: Option<i64> = sqlx::query_scalar(work::ANY_TEST_DUE)
                        .bind(now)
                        .fetch_optional(self.reader())
                        .await?;
                    if any_due.is_none() {
                        return Ok(Vec::new());
                    }
                    let claim = Claim::new(owner, lease, limit, now);
                    let mut transaction = self.begin_write().await?;
                    let due: Vec<(i64, String, String, String)> = sqlx::query_as(&SELECT)
                        .bind(now)
                        .bind(online_since)
                        .bind(claim.limit)
                        .fetch_all(&mut *transaction)
                        .await?;
                    let mut claimed = Vec::with_capacity(due.len());
                    for (task_id, project_id, queue_name, address) in due {
                        sqlx::query(work::LEASE_TASK)
                            .bind(claim.owner)
                            .bind(claim.lease_until)
                            .bind(task_id)
                            .execute(&mut *transaction)
                            .await?;
                        claimed.push(QueueWork {
                            kind: QueueWorkKind::Test,
                            key: task_id.to_string(),
                            project_id,
                            queue_name,
                            service: None,
                            destination: address,
                            connection_id: None,
                        });
                    }
                    transaction.commit().await?;
                    Ok(claimed)
                }

                async fn record_binding_connectivity(
                    &self,
                    peer_id: &str,
                    queue: &str,
                    owner: &str,
                    result: &BindingConnectivity,
                    now: i64,
                ) -> Result<bool> {
                    let connectivity =
                        $crate::domain::Reachability::from_reachable(result.reachable).as_str();
                    let statement = sqlx::query(work::RECORD_BINDING_CONNECTIVITY)
                        .bind(connectivity)
                        .bind(&result.checked_from)
                        .bind(result.next_check_at)
                        .bind(now)
                        .bind(peer_id)
                        .bind(owner)
                        .bind(queue);
                    Ok(self.write(statement).await? > 0)
                }

                async fn create_task(&self, task: &NewTask) -> Result<()> {
                    let statement = sqlx::query(work::INSERT_TASK)
                        .bind(task.task_id)
                        .bind(task.project_id.as_str())
                        .bind(&task.queue_name)
                        .bind(&task.address)
                        .bind(task.now);
                    self.write(statement).await?;
                    Ok(())
                }

                async fn get_task(
                    &self,
                    project: &ProjectId,
                    queue: &str,
                    task_id: i64,
                ) -> Result<Option<TaskRecord>> {
                    type TaskRow = (
                        i64,
                        String,
                        String,
                        String,
                        String,
                        Option<String>,
                        i64,
                        i64,
                    );
                    let row: Option<TaskRow> = sqlx::query_as(work::SELECT_TASK)
                        .bind(task_id)
                        .bind(project.as_str())
                        .bind(queue)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(row.map(
                        |(
                            task_id,
                            queue_name,
                            address,
                            status,
                            message,
                            checked_from,
                            create_time,
                            update_time,
                        )| TaskRecord {
                            task_id,
                            queue_name,
                            address,
                            status,
                            message,
                            checked_from,
                            create_time,
                            update_time,
                        },
                    ))
                }

                async fn record_task_result(
                    &self,
                    task_id: i64,
                    queue: &str,
                    owner: &str,
                    result: &TaskResult,
                    now: i64,
                ) -> Result<bool> {
                    let status =
                        $crate::domain::Reachability::from_reachable(result.reachable).as_str();
                    let statement = sqlx::query(work::RECORD_TASK_RESULT)
                        .bind(status)
                        .bind(&result.message)
                        .bind(&result.checked_from)
                        .bind(now)
                        .bind(task_id)
                        .bind(owner)
                        .bind(queue);
                    Ok(self.write(statement).await? > 0)
                }

                async fn release_queue_work(&self, owner: &str, work: &[QueueWork]) -> Result<()> {
                    let mut transaction = self.begin_write().await?;
                    for piece in work {
                        let release = match piece.kind {
                            QueueWorkKind::Test => sqlx::query(work::RELEASE_TASK_LEASE)
                                .bind(piece.key.parse::<i64>().unwrap_or_default()),
                            QueueWorkKind::Bind | QueueWorkKind::RecheckBinding => {
                                sqlx::query(work::RELEASE_BINDING_LEASE).bind(&piece.key)
                            }
                            QueueWorkKind::Setup => {
                                sqlx::query(work::RELEASE_SETUP_LEASE).bind(&piece.key)
                            }
                        };
                        release.bind(owner).execute(&mut *transaction).await?;
                    }
                    transaction.commit().await?;
                    Ok(())
                }

                async fn queue_hosts(
                    &self,
                    project: &ProjectId,
                    queue: &str,
                ) -> Result<QueueHosts> {
                    use futures::TryStreamExt;
                    let cap = $crate::domain::MAX_HOSTS_FILE_ENTRIES;
                    let mut transaction = self.begin_snapshot().await?;
                    let stamps: Vec<(String, i64)> =
                        sqlx::query_as(&work::SELECT_QUEUE_HOSTS_STAMPS)
                            .bind(project.as_str())
                            .bind(queue)
                            .fetch_all(&mut *transaction)
                            .await?;
                    let mut entries = Vec::new();
                    if !stamps.is_empty() {
                        let mut rows = sqlx::query_scalar::<_, String>(&work::SELECT_QUEUE_HOSTS)
                            .bind(project.as_str())
                            .bind(queue)
                            .fetch(&mut *transaction);
                        while let Some(raw) = rows.try_next().await? {
                            entries.extend(work::stored_hosts(&raw));
                            if entries.len() >= cap {
                                entries.truncate(cap);
                                break;
                            }
                        }
                    }
                    transaction.commit().await?;
                    Ok(QueueHosts {
                        version: work::hosts_version(&stamps),
                        entries,
                    })
                }

                async fn queue_hosts_version(
                    &self,
                    project: &ProjectId,
                    queue: &str,
                ) -> Result<Option<String>> {
                    let stamps: Vec<(String, i64)> =
                        sqlx::query_as(&work::SELECT_QUEUE_HOSTS_STAMPS)
                            .bind(project.as_str())
                            .bind(queue)
                            .fetch_all(self.reader())
                            .await?;
                    Ok(work::hosts_version(&stamps))
                }

                async fn claim_agent_setups(
                    &self,
                    project: &ProjectId,
                    agent_id: &str,
                    lease: Duration,
                    limit: u32,
                    hosts_bytes: usize,
                    now: i64,
                ) -> Result<Vec<SetupWork>> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", work::SELECT_AGENT_SETUPS, $store::CLAIM_LOCK)
                    });
                    let owner = format!("agent:{agent_id}");
                    let claim = Claim::new(&owner, lease, limit, now);
                    let mut transaction = self.begin_write().await?;
                    let rows: Vec<SetupRow> = sqlx::query_as(&SELECT)
                        .bind(project.as_str())
                        .bind(agent_id)
                        .bind(now)
                        .bind(claim.limit)
                        .fetch_all(&mut *transaction)
                        .await?;
                    let claimed =
                        Self::lease_setups(&mut transaction, rows, &claim, hosts_bytes, true)
                            .await?;
                    transaction.commit().await?;
                    Ok(claimed)
                }

                async fn agent_has_setups(
                    &self,
                    project: &ProjectId,
                    agent_id: &str,
                    now: i64,
                ) -> Result<bool> {
                    let found = sqlx::query(work::SELECT_AGENT_SETUPS)
                        .bind(project.as_str())
                        .bind(agent_id)
                        .bind(now)
                        .bind(1_i64)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(found.is_some())
                }

                async fn claim_server_setups(
                    &self,
                    owner: &str,
                    lease: Duration,
                    limit: u32,
                    hosts_bytes: usize,
                    now: i64,
                    online_since: i64,
                ) -> Result<Vec<SetupWork>> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT w.peer_id, w.project_id, w.kind, w.name, c.id \
                             FROM enhanced_bindings w \
                             JOIN enhanced_connections c ON c.id = w.connection_id \
                             WHERE w.status = 'CREATING' AND c.status = 'ACTIVE' \
                               AND (w.lease_until IS NULL OR w.lease_until < $1) \
                               AND NOT {} \
                             ORDER BY w.update_time, w.peer_id LIMIT $3{}",
                            work::online_agent_serves("w.project_id", "w.kind", "w.name", "$2"),
                            $store::CLAIM_LOCK
                        )
                    });
                    // Most rounds find nothing to set up: a read says so without taking
                    // the one writer.
                    let any_due: Option<String> = sqlx::query_scalar(work::ANY_SETUP_DUE)
                        .bind(now)
                        .fetch_optional(self.reader())
                        .await?;
                    if any_due.is_none() {
                        return Ok(Vec::new());
                    }
                    let claim = Claim::new(owner, lease, limit, now);
                    let mut transaction = self.begin_write().await?;
                    let rows: Vec<SetupRow> = sqlx::query_as(&SELECT)
                        .bind(now)
                        .bind(online_since)
                        .bind(claim.limit)
                        .fetch_all(&mut *transaction)
                        .await?;
                    let claimed =
                        Self::lease_setups(&mut transaction, rows, &claim, hosts_bytes, false)
                            .await?;
                    transaction.commit().await?;
                    Ok(claimed)
                }

                async fn record_setup(
                    &self,
                    peer_id: &str,
                    name: &str,
                    owner: &str,
                    outcome: &SetupOutcome,
                    now: i64,
                ) -> Result<bool> {
                    let (status, message) = if outcome.active {
                        ("ACTIVE", "")
                    } else {
                        ("FAILED", outcome.message.as_str())
                    };
                    let statement = sqlx::query(work::RECORD_SETUP)
                        .bind(status)
                        .bind(message)
                        .bind(&outcome.checked_from)
                        .bind(now)
                        .bind(peer_id)
                        .bind(owner)
                        .bind(name);
                    Ok(self.write(statement).await? > 0)
                }

                async fn mark_waiting_for_agents(
                    &self,
                    online_since: i64,
                    now: i64,
                ) -> Result<u64> {
                    static BINDINGS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "UPDATE queue_bindings \
                             SET err_msg = 'waiting for an agent of queue ' || queue_name, \
                                 update_time = $2 \
                             WHERE status = 'CREATING' AND err_msg = '' AND NOT {}",
                            work::online_agent_serves(
                                "(SELECT c.project_id FROM connections c \
                                  WHERE c.id = queue_bindings.connection_id)",
                                "'queue'",
                                "queue_bindings.queue_name",
                                "$1"
                            )
                        )
                    });
                    static TESTS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "UPDATE connectivity_tasks \
                             SET message = 'waiting for an agent of queue ' || queue_name, \
                                 update_time = $2 \
                             WHERE status = 'CHECKING' AND message = '' AND NOT {}",
                            work::online_agent_serves(
                                "connectivity_tasks.project_id",
                                "'queue'",
                                "connectivity_tasks.queue_name",
                                "$1"
                            )
                        )
                    });
                    let bindings = self
                        .write(sqlx::query(&BINDINGS).bind(online_since).bind(now))
                        .await?;
                    static SETUPS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "UPDATE enhanced_bindings AS w \
                             SET err_msg = 'waiting for an agent of ' || \
                                     CASE w.kind WHEN 'pool' THEN 'elastic resource pool ' \
                                     ELSE 'queue ' END || w.name, \
                                 update_time = $2 \
                             WHERE w.status = 'CREATING' AND w.err_msg = '' AND NOT {}",
                            work::online_agent_serves("w.project_id", "w.kind", "w.name", "$1")
                        )
                    });
                    let tests = self
                        .write(sqlx::query(&TESTS).bind(online_since).bind(now))
                        .await?;
                    let setups = self
                        .write(sqlx::query(&SETUPS).bind(online_since).bind(now))
                        .await?;
                    Ok(bindings + tests + setups)
                }

                async fn purge_queue_work(
                    &self,
                    tests_before: i64,
                    agents_before: i64,
                ) -> Result<u64> {
                    let tests = self
                        .write(sqlx::query(work::PURGE_TASKS).bind(tests_before))
                        .await?;
                    let agents = self
                        .write(sqlx::query(work::PURGE_AGENTS).bind(agents_before))
                        .await?;
                    Ok(tests + agents)
                }
            }
        };
    };
}

pub(super) use impl_queue_work_store;
