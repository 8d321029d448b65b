//! What a claim asks for, and which claimed piece of work its holder reports on: small
//! records, so that the stores' claim and record methods say what they do in two or
//! three arguments, and the trait and its two implementations do not repeat long lists.

use std::time::Duration;

use crate::domain::{ConnectionId, ProjectId, QueueName};

/// A claim by the server's worker: who leases, for how long, how many pieces at most, and
/// the time it is.
#[derive(Debug, Clone, Copy)]
pub struct ClaimTerms<'a> {
    pub owner: &'a str,
    pub lease: Duration,
    pub limit: u32,
    pub now: i64,
}

impl<'a> ClaimTerms<'a> {
    pub fn new(owner: &'a str, lease: Duration, limit: u32, now: i64) -> Self {
        Self {
            owner,
            lease,
            limit,
            now,
        }
    }
}

/// A registered agent: its project and the id its registration answered.
#[derive(Debug, Clone, Copy)]
pub struct AgentKey<'a> {
    pub project: &'a ProjectId,
    pub agent_id: &'a str,
}

impl<'a> AgentKey<'a> {
    pub fn new(project: &'a ProjectId, agent_id: &'a str) -> Self {
        Self { project, agent_id }
    }
}

/// A claim by a registered agent, for the queues and pools it serves. Its leases are held
/// by [`AgentClaim::owner`].
#[derive(Debug, Clone, Copy)]
pub struct AgentClaim<'a> {
    pub agent: AgentKey<'a>,
    pub lease: Duration,
    pub limit: u32,
    pub now: i64,
}

impl AgentClaim<'_> {
    /// The owner its leases carry: `agent:<id>`.
    pub fn owner(&self) -> String {
        agent_owner(self.agent.agent_id)
    }
}

/// The owner the leases of the agent with this id carry.
pub fn agent_owner(agent_id: &str) -> String {
    format!("agent:{agent_id}")
}

/// A claimed check of a connection, as its holder reports on it.
#[derive(Debug, Clone, Copy)]
pub struct HeldCheck<'a> {
    pub id: ConnectionId,
    pub owner: &'a str,
}

/// A claimed piece of a queue's (or pool's) work, as its holder reports on it: which one
/// (a binding's peer id, a test's task id), of which queue or pool, and the claim's owner.
/// A report for another queue than the one claimed is refused.
#[derive(Debug, Clone, Copy)]
pub struct HeldWork<'a, K> {
    pub key: K,
    pub queue: &'a str,
    pub owner: &'a str,
}

/// A connection as a project reaches it: its owner's (or, for an enhanced one, also a
/// grantee's).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionKey<'a> {
    pub project: &'a ProjectId,
    pub id: ConnectionId,
}

impl<'a> ConnectionKey<'a> {
    pub fn new(project: &'a ProjectId, id: ConnectionId) -> Self {
        Self { project, id }
    }
}

/// Which connection a connectivity record is for, and whether a claim must hold.
#[derive(Debug, Clone, Copy)]
pub enum ConnectivityOf<'a> {
    /// A claimed re-check's: written only while the claim holds (and it releases it).
    Held(HeldCheck<'a>),
    /// A test's: written whatever holds the claim.
    Unheld(ConnectionId),
}

impl ConnectivityOf<'_> {
    pub fn id(&self) -> ConnectionId {
        match self {
            ConnectivityOf::Held(held) => held.id,
            ConnectivityOf::Unheld(id) => *id,
        }
    }

    /// The claim that must hold, if any.
    pub fn owner(&self) -> Option<&str> {
        match self {
            ConnectivityOf::Held(held) => Some(held.owner),
            ConnectivityOf::Unheld(_) => None,
        }
    }
}

/// The queues a bind of a classic connection names: each a stored queue of the project or
/// one declared by configuration (`serve --queue`).
#[derive(Debug, Clone, Copy)]
pub struct QueuesToBind<'a> {
    pub queues: &'a [QueueName],
    pub declared: &'a [QueueName],
}
