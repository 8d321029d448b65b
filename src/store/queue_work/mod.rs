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

pub use crate::domain::QueueWorkKind;

pub(super) mod agents;
pub(super) mod claims;
pub(super) mod hosts;
mod records;
pub(super) mod setups;

pub use records::{
    AgentRecord, BindingConnectivity, NewAgent, NewTask, QueueWork, RegisterOutcome, SERVES_POOL,
    SERVES_QUEUE, SetupOutcome, SetupWork, TaskRecord, TaskResult,
};
pub(in crate::store) use records::{ServerClaimQuery, online_agent_serves};

pub use agents::{AgentRegistry, AgentSeen, QuietAgent};
pub use claims::{AgentWorkWaiting, QueueClaims};
pub use hosts::{QueueHosts, QueueHostsStore, hosts_version};
pub use setups::SetupClaims;

/// The store's half of queues in other networks, one trait per room.
pub trait QueueWorkStore: AgentRegistry + QueueClaims + SetupClaims + QueueHostsStore {}

impl<T: AgentRegistry + QueueClaims + SetupClaims + QueueHostsStore> QueueWorkStore for T {}

/// Writes the queue-work traits for `$store`, as [`super::shared::impl_store`] does.
macro_rules! impl_queue_work_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use $crate::domain::ProjectId;
            use $crate::store::Result;
            use $crate::store::shared::Backend;

            /// What the rooms' claims share.
            impl $store {
                /// The rows of an agent's queues its claim may lease: `select` binds $1
                /// the project, $2 the agent, $3 now and $4 the claim's limit.
                async fn agent_claim_rows<R>(
                    connection: &mut <$db as sqlx::Database>::Connection,
                    select: &str,
                    project: &ProjectId,
                    agent_id: &str,
                    claim: &$crate::store::shared::Claim<'_>,
                ) -> Result<Vec<R>>
                where
                    R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                {
                    Ok(sqlx::query_as(select)
                        .bind(project.as_str())
                        .bind(agent_id)
                        .bind(claim.now)
                        .bind(claim.limit)
                        .fetch_all(&mut *connection)
                        .await?)
                }

                /// The rows a server's claim takes by `select` ($1 now, $2 online since,
                /// $3 limit), in the transaction that leases them; None when `any_due`
                /// ($1 now) finds nothing due: most rounds of the worker find nothing, and
                /// a read says so without taking the one writer.
                async fn server_claim_rows<R>(
                    &self,
                    query: &$crate::store::queue_work::ServerClaimQuery,
                    claim: &$crate::store::shared::Claim<'_>,
                    online_since: i64,
                ) -> Result<Option<(sqlx::Transaction<'static, $db>, Vec<R>)>>
                where
                    R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                {
                    let due = sqlx::query(query.any_due)
                        .bind(claim.now)
                        .fetch_optional(self.reader())
                        .await?;
                    if due.is_none() {
                        return Ok(None);
                    }
                    let mut transaction = self.begin_write().await?;
                    let rows: Vec<R> = sqlx::query_as(&query.select)
                        .bind(claim.now)
                        .bind(online_since)
                        .bind(claim.limit)
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
