//! The store's half of queues in other networks: agents and what they serve, the work of
//! a queue (its bindings' checks and re-checks, DLI's queue connection tests) claimed by
//! the queue's agents or, for a queue without an online agent, by the server's worker.
//!
//! Claims here read the rows to take with the dialect's row lock (`FOR UPDATE OF w SKIP
//! LOCKED` on PostgreSQL; SQLite's one writer needs none) and mark them in the same
//! transaction, so one statement set serves both backends.
//!
//! Rooms, one trait each (their sum is [`QueueWorkStore`]): `agents` (the registry),
//! `claims` (bindings' checks and queue tests), `setups` (enhanced bindings' set-ups),
//! `hosts` (queues' hosts files). Each writes its impl with a macro, as the classic store
//! does; [`impl_queue_work_store`] writes all four.

use std::sync::Arc;

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

pub(super) mod agents;
pub(super) mod claims;
pub(super) mod hosts;
pub(super) mod setups;

pub use agents::AgentRegistry;
pub use claims::QueueClaims;
pub use hosts::{QueueHosts, QueueHostsStore, hosts_version};
pub use setups::SetupClaims;

/// The store's half of queues in other networks, one trait per room.
pub trait QueueWorkStore: AgentRegistry + QueueClaims + SetupClaims + QueueHostsStore {}

impl<T: AgentRegistry + QueueClaims + SetupClaims + QueueHostsStore> QueueWorkStore for T {}

/// `a` online agent serves the queue or pool of `queue_column` (of kind `kind`, a SQL
/// expression: `'queue'`, or a column) in `project_column`'s project; `$online` is the
/// parameter holding the online threshold.
pub(in crate::store) fn online_agent_serves(
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

/// Writes the queue-work traits for `$store`, as [`super::shared::impl_store`] does.
macro_rules! impl_queue_work_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use $crate::domain::ProjectId;
            use $crate::store::Result;
            use $crate::store::shared::Backend;

            /// What the rooms' claims share.
            impl $store {
                /// Whether an agent's claim statement ($1 project, $2 agent, $3 now, $4
                /// limit, and `status` as $5 when given) finds a row: a read, so that a
                /// waiting claim polls without writing.
                async fn agent_finds(
                    &self,
                    statement: &str,
                    project: &ProjectId,
                    agent_id: &str,
                    now: i64,
                    status: Option<&str>,
                ) -> Result<bool> {
                    let mut query = sqlx::query(statement)
                        .bind(project.as_str())
                        .bind(agent_id)
                        .bind(now)
                        .bind(1_i64);
                    if let Some(status) = status {
                        query = query.bind(status);
                    }
                    Ok(query.fetch_optional(self.reader()).await?.is_some())
                }

                /// The rows a server's claim takes by `select` ($1 now, $2 online since,
                /// $3 limit), in the transaction that leases them; None when `any_due`
                /// ($1 now) finds nothing due: most rounds of the worker find nothing, and
                /// a read says so without taking the one writer.
                async fn server_claim_rows<R>(
                    &self,
                    any_due: &str,
                    select: &str,
                    now: i64,
                    online_since: i64,
                    limit: i64,
                ) -> Result<Option<(sqlx::Transaction<'static, $db>, Vec<R>)>>
                where
                    R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                {
                    let due = sqlx::query(any_due)
                        .bind(now)
                        .fetch_optional(self.reader())
                        .await?;
                    if due.is_none() {
                        return Ok(None);
                    }
                    let mut transaction = self.begin_write().await?;
                    let rows: Vec<R> = sqlx::query_as(select)
                        .bind(now)
                        .bind(online_since)
                        .bind(limit)
                        .fetch_all(&mut *transaction)
                        .await?;
                    Ok(Some((transaction, rows)))
                }
            }
        };
        $crate::store::queue_work::agents::impl_agents!($store, $db);
        $crate::store::queue_work::claims::impl_claims!($store, $db);
        $crate::store::queue_work::setups::impl_setups!($store, $db);
        $crate::store::queue_work::hosts::impl_hosts!($store, $db);
    };
}

pub(super) use impl_queue_work_store;
