//! Agents and what they serve: registration (a restart replaces its own name), heartbeats,
//! deregistration (giving back its leases), the online ones.

use async_trait::async_trait;

use super::{AgentRecord, NewAgent, RegisterOutcome};
pub(in crate::store) use super::{SERVES_POOL, SERVES_QUEUE};
use crate::domain::ProjectId;
use crate::store::Result;
use crate::store::terms::AgentKey;

/// An agent as [`SELECT_ONLINE_AGENTS`] reads it (what it serves is read beside).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct AgentRow {
    pub agent_id: String,
    pub name: String,
    pub version: String,
    pub address: String,
    pub registered_at: i64,
    pub last_seen: i64,
}

/// A registration of a name, as [`SELECT_AGENTS_BY_NAME`] reads it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct NamedAgentRow {
    pub agent_id: String,
    pub last_seen: i64,
}

/// One queue or pool a registration serves ([`SELECT_SERVED_BY`]); ordered so that two
/// registrations' lists compare after a sort.
#[derive(sqlx::FromRow, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::store) struct ServedRow {
    pub kind: String,
    pub queue_name: String,
}

/// One queue or pool an online agent serves ([`SELECT_AGENT_QUEUES`]).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct AgentQueueRow {
    pub agent_id: String,
    pub kind: String,
    pub queue_name: String,
}

/// How many online agents serve one queue ([`COUNT_ONLINE_BY_QUEUE`]).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct OnlineCountRow {
    pub project_id: String,
    pub queue_name: String,
    pub n: i64,
}

/// A registration last heard from in a given span of time: an agent that went quiet.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QuietAgent {
    pub project_id: String,
    pub agent_id: String,
    pub name: String,
    pub last_seen: i64,
}

/// An agent heard from since its last write, as [`AgentRegistry::touch_agents`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSeen {
    pub project_id: String,
    pub agent_id: String,
    pub address: String,
    pub last_seen: i64,
}

/// The registrations last heard from in `[$1, $2)`, oldest first.
pub(in crate::store) const SELECT_QUIET_AGENTS: &str = "SELECT project_id, agent_id, name, last_seen \
     FROM agents WHERE last_seen >= $1 AND last_seen < $2 ORDER BY last_seen, agent_id";

/// Agents and what they serve: registrations, heartbeats, the online ones.
#[async_trait]
pub trait AgentRegistry: Send + Sync {
    /// Registers an agent for its queues and pools, replacing the project's registration
    /// of the same name (its leases are given back) when that one is offline or serves
    /// the same queues and pools (a restart of the same agent), unless the project has
    /// `max` others. An online one serving others is kept: [`RegisterOutcome::NameInUse`].
    async fn register_agent(&self, agent: &NewAgent, max: u32) -> Result<RegisterOutcome>;

    /// Records that an agent was heard from: its name, or None if it is not registered
    /// (any more).
    async fn touch_agent(
        &self,
        agent: AgentKey<'_>,
        address: &str,
        now: i64,
    ) -> Result<Option<String>>;

    /// Records what agents were heard from, in one transaction: for each, whether it is
    /// still registered. A later word already stored (another replica's) is kept.
    async fn touch_agents(&self, seen: &[AgentSeen]) -> Result<Vec<bool>>;

    /// The names of the queues and pools a registration serves.
    async fn agent_serves(&self, agent: AgentKey<'_>) -> Result<Vec<String>>;

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

    /// The registrations (of every project) last heard from at or after `heard_from`
    /// and before `heard_before`: with `heard_before` the online threshold, the agents
    /// that went offline since the threshold was `heard_from`.
    async fn quiet_agents(&self, heard_from: i64, heard_before: i64) -> Result<Vec<QuietAgent>>;
}

pub(in crate::store) const INSERT_AGENT: &str = "INSERT INTO agents (agent_id, project_id, name, version, \
     address, registered_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $6)";

pub(in crate::store) const INSERT_AGENT_QUEUE: &str =
    "INSERT INTO agent_queues (agent_id, project_id, kind, queue_name) VALUES ($1, $2, $3, $4)";

pub(in crate::store) const SELECT_AGENTS_BY_NAME: &str =
    "SELECT agent_id, last_seen FROM agents WHERE project_id = $1 AND name = $2";

/// What a registration serves, as `kind:name` (sorted by the caller).
pub(in crate::store) const SELECT_SERVED_BY: &str =
    "SELECT kind, queue_name FROM agent_queues WHERE agent_id = $1";

/// Gives back the claims of an agent that stopped or was replaced ($1 its lease owner),
/// so its queues' work need not wait for the leases to lapse: one statement per table
/// of leased work (bindings, tests, set-ups).
pub(in crate::store) const RELEASE_AGENT_LEASES: [&str; 3] = [
    "UPDATE queue_bindings SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
    "UPDATE connectivity_tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
    "UPDATE enhanced_bindings SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
];

pub(in crate::store) const COUNT_AGENTS: &str = "SELECT COUNT(*) FROM agents WHERE project_id = $1";

pub(in crate::store) const TOUCH_AGENT: &str =
    "UPDATE agents SET last_seen = $1, address = $2 WHERE agent_id = $3 AND project_id = $4";

/// [`TOUCH_AGENT`] for a word that may come after another replica's: last_seen never
/// goes back.
pub(in crate::store) const TOUCH_AGENT_LATER: &str = "UPDATE agents \
     SET last_seen = CASE WHEN last_seen < $1 THEN $1 ELSE last_seen END, address = $2 \
     WHERE agent_id = $3 AND project_id = $4";

/// Most agents one transaction of [`AgentRegistry::touch_agents`] writes, so that the
/// writer is never held long.
pub(in crate::store) const TOUCH_BATCH: usize = 256;

pub(in crate::store) const SELECT_AGENT_SERVES: &str = "SELECT queue_name FROM agent_queues WHERE agent_id = $1 AND project_id = $2 ORDER BY queue_name";

pub(in crate::store) const DELETE_AGENT: &str =
    "DELETE FROM agents WHERE agent_id = $1 AND project_id = $2";

pub(in crate::store) const SELECT_ONLINE_AGENTS: &str = "SELECT agent_id, name, version, address, \
     registered_at, last_seen FROM agents WHERE project_id = $1 AND last_seen >= $2 \
     ORDER BY name, agent_id";

pub(in crate::store) const COUNT_ONLINE_BY_QUEUE: &str = "SELECT aq.project_id, aq.queue_name, \
     COUNT(*) AS n FROM agent_queues aq JOIN agents a ON a.agent_id = aq.agent_id \
     WHERE aq.kind = 'queue' AND a.last_seen >= $1 \
     GROUP BY aq.project_id, aq.queue_name ORDER BY aq.project_id, aq.queue_name";

pub(in crate::store) const SELECT_AGENT_QUEUES: &str = "SELECT aq.agent_id, aq.kind, aq.queue_name \
     FROM agent_queues aq JOIN agents a ON a.agent_id = aq.agent_id \
     WHERE a.project_id = $1 AND a.last_seen >= $2 ORDER BY aq.queue_name";

/// Writes `impl AgentRegistry for $store`, as [`crate::store::shared::impl_store`] does.
macro_rules! impl_agents {
    ($store:ident, $db:ty) => {
        const _: () = {
            use std::sync::LazyLock;

            use $crate::domain::ProjectId;
            use $crate::store::Result;
            use $crate::store::queue_work::agents::{self as work, AgentRegistry};
            use $crate::store::queue_work::{AgentRecord, NewAgent, RegisterOutcome};
            use $crate::store::shared::{Backend, Change};
            use $crate::store::terms::AgentKey;

            impl $store {
                /// Gives back every claim of the agent registered as `agent_id`.
                async fn release_leases(
                    connection: &mut <$db as sqlx::Database>::Connection,
                    agent_id: &str,
                ) -> Result<()> {
                    let owner = format!("agent:{agent_id}");
                    for statement in work::RELEASE_AGENT_LEASES {
                        sqlx::query(statement)
                            .bind(&owner)
                            .execute(&mut *connection)
                            .await?;
                    }
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl AgentRegistry for $store {
                async fn register_agent(
                    &self,
                    agent: &NewAgent,
                    max: u32,
                ) -> Result<RegisterOutcome> {
                    let project = agent.project_id.as_str();
                    // Registrations in one project take turns (on every replica), so two
                    // of one name cannot both see none, nor two the last free place.
                    let mut transaction = self.begin_create(&agent.project_id).await?;
                    let same_name: Vec<work::NamedAgentRow> =
                        sqlx::query_as(work::SELECT_AGENTS_BY_NAME)
                            .bind(project)
                            .bind(&agent.name)
                            .fetch_all(&mut *transaction)
                            .await?;
                    let served_as = |kind: &str, name: &String| work::ServedRow {
                        kind: kind.to_owned(),
                        queue_name: name.clone(),
                    };
                    let mut serves: Vec<work::ServedRow> = agent
                        .queues
                        .iter()
                        .map(|name| served_as(work::SERVES_QUEUE, name))
                        .chain(
                            agent
                                .pools
                                .iter()
                                .map(|name| served_as(work::SERVES_POOL, name)),
                        )
                        .collect();
                    serves.sort();
                    for named in &same_name {
                        if named.last_seen < agent.online_since {
                            continue;
                        }
                        let mut served: Vec<work::ServedRow> =
                            sqlx::query_as(work::SELECT_SERVED_BY)
                                .bind(&named.agent_id)
                                .fetch_all(&mut *transaction)
                                .await?;
                        served.sort();
                        if served != serves {
                            transaction.rollback().await?;
                            return Ok(RegisterOutcome::NameInUse {
                                last_seen: named.last_seen,
                            });
                        }
                    }
                    for work::NamedAgentRow { agent_id, .. } in &same_name {
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
                    let event = $crate::store::Event::in_project(
                        &agent.project_id,
                        "agent",
                        &agent.agent_id,
                        "register",
                    )
                    .after("name", &agent.name)
                    .after("version", &agent.version)
                    .after("address", &agent.address)
                    .after("queues", &agent.queues)
                    .after("pools", &agent.pools);
                    self.commit(transaction, Change::Project(project), &[event])
                        .await?;
                    Ok(RegisterOutcome::Registered)
                }

                async fn touch_agent(
                    &self,
                    agent: AgentKey<'_>,
                    address: &str,
                    now: i64,
                ) -> Result<Option<String>> {
                    static TOUCH: LazyLock<String> =
                        LazyLock::new(|| format!("{} RETURNING name", work::TOUCH_AGENT));
                    Ok(sqlx::query_scalar(&TOUCH)
                        .bind(now)
                        .bind(address)
                        .bind(agent.agent_id)
                        .bind(agent.project.as_str())
                        .fetch_optional(self.writer())
                        .await?)
                }

                async fn touch_agents(&self, seen: &[work::AgentSeen]) -> Result<Vec<bool>> {
                    let mut registered = Vec::with_capacity(seen.len());
                    for batch in seen.chunks(work::TOUCH_BATCH) {
                        let mut transaction = self.begin_write().await?;
                        for agent in batch {
                            let touched = sqlx::query(work::TOUCH_AGENT_LATER)
                                .bind(agent.last_seen)
                                .bind(&agent.address)
                                .bind(&agent.agent_id)
                                .bind(&agent.project_id)
                                .execute(&mut *transaction)
                                .await?;
                            registered.push(touched.rows_affected() > 0);
                        }
                        transaction.commit().await?;
                    }
                    Ok(registered)
                }

                async fn agent_serves(&self, agent: AgentKey<'_>) -> Result<Vec<String>> {
                    Ok(sqlx::query_scalar(work::SELECT_AGENT_SERVES)
                        .bind(agent.agent_id)
                        .bind(agent.project.as_str())
                        .fetch_all(self.reader())
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
                    let event =
                        $crate::store::Event::in_project(project, "agent", agent_id, "deregister");
                    self.commit(transaction, Change::Project(project.as_str()), &[event])
                        .await?;
                    Ok(true)
                }

                async fn online_agents(
                    &self,
                    project: &ProjectId,
                    online_since: i64,
                ) -> Result<Vec<AgentRecord>> {
                    let mut transaction = self.begin_snapshot().await?;
                    let agents: Vec<work::AgentRow> = sqlx::query_as(work::SELECT_ONLINE_AGENTS)
                        .bind(project.as_str())
                        .bind(online_since)
                        .fetch_all(&mut *transaction)
                        .await?;
                    let served: Vec<work::AgentQueueRow> =
                        sqlx::query_as(work::SELECT_AGENT_QUEUES)
                            .bind(project.as_str())
                            .bind(online_since)
                            .fetch_all(&mut *transaction)
                            .await?;
                    transaction.commit().await?;
                    Ok(agents
                        .into_iter()
                        .map(|agent| {
                            let names = |kind: &str| {
                                served
                                    .iter()
                                    .filter(|row| {
                                        row.agent_id == agent.agent_id && row.kind == kind
                                    })
                                    .map(|row| row.queue_name.clone())
                                    .collect()
                            };
                            AgentRecord {
                                queues: names(work::SERVES_QUEUE),
                                pools: names(work::SERVES_POOL),
                                agent_id: agent.agent_id,
                                name: agent.name,
                                version: agent.version,
                                address: agent.address,
                                registered_at: agent.registered_at,
                                last_seen: agent.last_seen,
                            }
                        })
                        .collect())
                }

                async fn quiet_agents(
                    &self,
                    heard_from: i64,
                    heard_before: i64,
                ) -> Result<Vec<work::QuietAgent>> {
                    Ok(sqlx::query_as(work::SELECT_QUIET_AGENTS)
                        .bind(heard_from)
                        .bind(heard_before)
                        .fetch_all(self.reader())
                        .await?)
                }

                async fn online_agents_by_queue(
                    &self,
                    online_since: i64,
                ) -> Result<Vec<(String, String, u64)>> {
                    let rows: Vec<work::OnlineCountRow> =
                        sqlx::query_as(work::COUNT_ONLINE_BY_QUEUE)
                            .bind(online_since)
                            .fetch_all(self.reader())
                            .await?;
                    Ok(rows
                        .into_iter()
                        .map(|row| {
                            (
                                row.project_id,
                                row.queue_name,
                                u64::try_from(row.n).unwrap_or(0),
                            )
                        })
                        .collect())
                }
            }
        };
    };
}

pub(in crate::store) use impl_agents;
