//! Wire types of the agent API (a dsconn extension under `/dsconn/v1/`), shared by the
//! server's handlers and `dsconn agent`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{QueueWorkKind, Service};
use crate::probe::CheckReport;

/// `POST /dsconn/v1/{project_id}/agents`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterAgentRequest {
    /// Unique in the project: a registration of the same name replaces the last one if
    /// that is offline or serves the same queues and pools (a restart of the agent);
    /// else it is refused (400 DLI.0006). 1-64 letters, digits, `.`, `_` and `-`.
    #[schema(example = "etl-vpc-1")]
    pub name: String,
    /// The agent's dsconn version (shown with the queue).
    #[schema(example = "0.1.0")]
    pub version: String,
    /// The queues whose checks it runs (1-100; each must exist).
    pub queues: Vec<String>,
    /// The elastic resource pools it serves (0-100).
    #[serde(default)]
    pub elastic_resource_pools: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterAgentResponse {
    pub is_success: bool,
    pub message: String,
    /// Names this registration in the agent's further calls.
    pub agent_id: String,
    /// How often to send a heartbeat while no claim is waiting.
    pub heartbeat_interval_ms: u64,
    /// Not heard from for this long, the agent is offline (`--agent-timeout`).
    pub agent_timeout_ms: u64,
}

/// `POST /dsconn/v1/{project_id}/agents/{agent_id}/claim`: waits up to `wait_ms` for
/// work of the agent's queues (a long poll), and answers as soon as there is some.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ClaimRequest {
    /// Most pieces of work to take (1-64, default 8).
    #[serde(default)]
    pub max: Option<u32>,
    /// How long to wait for work when there is none (0-20,000 ms, default 20,000).
    #[serde(default)]
    pub wait_ms: Option<u64>,
    /// How long the agent needs for one check, its result sent (5,000-1,800,000 ms):
    /// the lease it gets on each piece of work.
    #[serde(default)]
    pub lease_ms: Option<u64>,
    /// Whether the agent sets up enhanced connections' bindings (`setup` work); agents
    /// before this field existed do not, and get none.
    #[serde(default)]
    pub setups: bool,
    /// Whether the agent takes hosts files by version (`hosts_versions`, and
    /// `GET .../hosts-files/{queue}` for a version it does not hold). Agents before this
    /// field existed do not: their claims carry the files themselves (`hosts_files`),
    /// within the same answer size, which takes fewer checks per claim.
    #[serde(default)]
    pub hosts_by_version: bool,
    /// Whether the agent takes credentials from the server for credentialed checks.
    /// An agent that reaches the server over plain HTTP to another host says false, and
    /// the server sends none to a peer that is neither on loopback nor on TLS anyway.
    #[serde(default)]
    pub credentials: bool,
    /// The auth infos the agent holds itself (`--auth-info`): their passwords are not
    /// sent (at most 64 names are read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_auth_infos: Vec<String>,
}

/// One check for an agent to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentWorkItem {
    /// Names the work in the result.
    #[schema(example = "bind:1f0c6e3e-54a4-4d83-a2c3-1f5d2b7e9a10")]
    pub work_id: String,
    /// `bind` (a new binding), `recheck` (an ACTIVE binding's re-check), `test` (a
    /// queue connection test) or `setup` (an enhanced connection's binding to set up).
    pub kind: QueueWorkKind,
    /// The queue, or for a pool's `setup` the elastic resource pool.
    pub queue: String,
    /// What `queue` names for `setup` work: `queue` or `pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_as: Option<String>,
    /// `setup` only: the connection's hosts to take. (A check's hosts file is the
    /// claim's `hosts_files` entry of its queue.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostEntry>,
    /// `setup` only: the connection's routes (CIDRs) to take.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// The protocol to verify; null for a test (TCP reachability only).
    #[schema(required = true)]
    pub service: Option<Service>,
    /// The connection's url, or the tested `host:port`.
    pub url: String,
    /// Until when (epoch milliseconds) the agent holds the work.
    pub lease_until: i64,
    /// A credentialed test's login, database and privileges to check after the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<AgentSession>,
}

/// What a credentialed check asks of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentSession {
    /// The auth info it names (an agent's own copy of that name is used first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<crate::domain::PrivilegeRequest>,
    /// The login, when the server may send it: the agent asked for credentials and
    /// reaches the server over TLS or loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<AgentLogin>,
    /// Why no login was sent, when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
    /// The same, machine-readable: `CREDENTIALS_WITHHELD`, `CREDENTIALS_UNAVAILABLE`,
    /// `UNKNOWN_AUTH_INFO` or `NOT_CHECKED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld_reason: Option<String>,
}

/// A login sent to an agent inside the claim of the work that needs it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentLogin {
    /// `passwd`, `CSS`, `KRB` or `Kafka_SSL`.
    pub datasource_type: String,
    pub user_name: String,
    pub password: String,
    /// `server` (the project's auth info) or `inline` (given with the test).
    pub source: String,
}

impl std::fmt::Debug for AgentLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentLogin")
            .field("datasource_type", &self.datasource_type)
            .field("user_name", &self.user_name)
            .field("password", &"[redacted]")
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimResponse {
    pub is_success: bool,
    pub message: String,
    pub work: Vec<AgentWorkItem>,
    /// The version of the hosts file of each queue with claimed checks, by queue name
    /// (queues whose file is empty are left out): the names its checks resolve before
    /// DNS. Equal versions are equal files (for any queue); an agent keeps the files it
    /// has by version and fetches another with `GET .../hosts-files/{queue}`. Only for
    /// an agent that asked with `hosts_by_version`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hosts_versions: std::collections::BTreeMap<String, String>,
    /// For an agent that did not ask with `hosts_by_version`: the hosts file of each
    /// queue with claimed checks, by queue name, once per queue (queues whose file is
    /// empty are left out).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hosts_files: std::collections::BTreeMap<String, Vec<HostEntry>>,
}

/// `GET /dsconn/v1/{project_id}/agents/{agent_id}/hosts-files/{queue_name}`: a queue's
/// hosts file as it is now (at most 20,000 entries, about 3.3 MB at most).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HostsFileResponse {
    pub is_success: bool,
    pub message: String,
    pub queue: String,
    /// The file's version, as claims name it; `""` for an empty file.
    pub version: String,
    /// Names in lower case, the first entry of a name only, oldest connection first.
    pub hosts: Vec<HostEntry>,
}

/// A hosts-file entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HostEntry {
    pub name: String,
    pub ip: String,
}

/// `POST /dsconn/v1/{project_id}/agents/{agent_id}/results`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentResultRequest {
    pub work_id: String,
    /// The work's `kind`, as claimed. Agents before this field send none: the kind
    /// their `work_id` starts with is taken then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<QueueWorkKind>,
    /// The work's queue (or a pool's `setup`, its pool), as claimed: a result for
    /// another is refused.
    pub queue: String,
    /// Per address checked, as the server's own checks report (empty for `setup`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub report: CheckReport,
    /// `setup` only: why the agent cannot take the connection's hosts and routes; none
    /// when it took them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<String>,
    /// What each stage found, in order (agents before this field send none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<crate::domain::StageResult>,
    /// How long the check took from the claim, for the metrics.
    #[serde(default)]
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentResultResponse {
    pub is_success: bool,
    pub message: String,
}

/// An online agent, as a queue (and `GET .../agents`) lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueAgent {
    pub name: String,
    pub version: String,
    /// The client address the server saw at its last contact.
    pub address: String,
    /// Epoch milliseconds.
    pub last_seen: i64,
}

/// An online agent with what it serves.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentItem {
    #[serde(flatten)]
    pub agent: QueueAgent,
    pub queues: Vec<String>,
    pub elastic_resource_pools: Vec<String>,
    /// Epoch milliseconds.
    pub registered_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListAgentsResponse {
    pub is_success: bool,
    pub message: String,
    pub agents: Vec<AgentItem>,
}
