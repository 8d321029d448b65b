//! What the queue-work rooms share: the records of agents, tasks and set-ups, and the SQL
//! test of an online agent serving a queue.

use std::sync::Arc;

use crate::domain::{ConnectionId, ProjectId, QueueWorkKind, Service};

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
    /// The credentialed stages, as the API stored them (JSON): a test's, or a binding's
    /// connection's; None: reachability only.
    pub session: Option<String>,
    /// A binding's last FAILED login (see [`crate::store::PendingBinding`]).
    pub login_failed_at: Option<i64>,
    /// A test's own host entries (JSON `[{"name", "ip"}]`), resolved before the queue's
    /// hosts file; None for the rest.
    pub hosts: Option<String>,
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
    /// The protocol to verify; None: TCP reachability only.
    pub service: Option<Service>,
    /// The credentialed stages asked for, as JSON (never a secret).
    pub session: Option<String>,
    /// The test's own host entries, as JSON `[{"name", "ip"}]`; None: none.
    pub hosts: Option<String>,
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
    pub service: Option<String>,
    pub session: Option<String>,
    /// What each stage found, as JSON, once ended.
    pub stages: Option<String>,
}

/// The end of a queue connection test.
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub reachable: bool,
    pub message: String,
    pub checked_from: String,
    /// What each stage found, as JSON.
    pub stages: Option<String>,
}

/// The end of an agent's re-check of a binding.
#[derive(Debug, Clone)]
pub struct BindingConnectivity {
    pub reachable: bool,
    pub checked_from: String,
    pub next_check_at: i64,
    pub credentials: crate::store::BindingCredentials,
    /// The binding's new status when its credentialed stages decided one; None keeps it.
    pub verdict: Option<crate::store::BindingVerdict>,
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

/// A server claim's two statements: the cheap look whether anything is due at all ($1
/// now), then the select of the due rows ($1 now, $2 online since, $3 limit).
pub(in crate::store) struct ServerClaimQuery {
    pub any_due: &'static str,
    pub select: String,
}
