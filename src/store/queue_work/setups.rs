//! The set-ups of CREATING enhanced bindings: claimed like the rest of a queue's work
//! (bounded by the bytes of the connections' hosts they carry), and their ends.

use async_trait::async_trait;

pub(in crate::store) use super::hosts::stored_hosts;
pub(in crate::store) use super::online_agent_serves;
use super::{SetupOutcome, SetupWork};
use crate::store::Result;
use crate::store::terms::{AgentClaim, ClaimTerms, HeldWork};

/// A set-up as the claims read it: the binding and its connection's id.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct SetupRow {
    pub peer_id: String,
    pub project_id: String,
    /// What `name` is: a queue or a pool.
    pub kind: String,
    pub name: String,
    #[sqlx(rename = "id")]
    pub connection_id: String,
}

/// The set-ups of enhanced bindings, claimed like the rest of a queue's work, and their
/// ends.
#[async_trait]
pub trait SetupClaims: Send + Sync {
    /// Claims up to the claim's limit of set-ups of CREATING enhanced bindings of the queues and pools
    /// the agent serves, oldest first, while their connections' stored hosts, counted
    /// once per set-up (an agent's answer carries them with each), add up to at most
    /// `hosts_bytes` (the first one is always taken).
    async fn claim_agent_setups(
        &self,
        agent: AgentClaim<'_>,
        hosts_bytes: usize,
    ) -> Result<Vec<SetupWork>>;

    /// Claims set-ups of queues and pools without an agent heard from since
    /// `online_since`, for the server's worker, while their connections' stored hosts,
    /// counted once per connection (its set-ups share one parsed copy), add up to at most
    /// `hosts_bytes` (the first one is always taken).
    async fn claim_server_setups(
        &self,
        terms: ClaimTerms<'_>,
        hosts_bytes: usize,
        online_since: i64,
    ) -> Result<Vec<SetupWork>>;

    /// Records a set-up's end while its claim holds (and the binding still names its queue
    /// or pool); false if it does not any more.
    async fn record_setup(
        &self,
        held: HeldWork<'_, &str>,
        outcome: &SetupOutcome,
        now: i64,
    ) -> Result<bool>;
}

/// A connection's stored hosts, read once per connection by a claim of its set-ups.
pub(in crate::store) const SELECT_CONNECTION_HOSTS: &str =
    "SELECT hosts FROM enhanced_connections WHERE id = $1";

/// The agent's set-ups: $1 project, $2 agent, $3 now, $4 limit; without the
/// connection's hosts (read once per connection when leased: a sort of rows that each
/// carry up to 3 MB of hosts is what made claims slow).
pub(in crate::store) const SELECT_AGENT_SETUPS: &str = "SELECT w.peer_id, w.project_id, w.kind, w.name, \
         c.id \
     FROM enhanced_bindings w JOIN enhanced_connections c ON c.id = w.connection_id \
     WHERE w.project_id = $1 AND w.status = 'CREATING' AND c.status = 'ACTIVE' \
       AND EXISTS (SELECT 1 FROM agent_queues aq WHERE aq.agent_id = $2 \
                   AND aq.kind = w.kind AND aq.queue_name = w.name) \
       AND (w.lease_until IS NULL OR w.lease_until < $3) \
     ORDER BY w.update_time, w.peer_id LIMIT $4";

/// Whether any set-up waits for a claim ($1 now): the server's cheap first look.
pub(in crate::store) const ANY_SETUP_DUE: &str = "SELECT peer_id FROM enhanced_bindings \
     WHERE status = 'CREATING' AND (lease_until IS NULL OR lease_until < $1) LIMIT 1";

pub(in crate::store) const SELECT_ROUTE_CIDRS: &str =
    "SELECT cidr FROM enhanced_routes WHERE connection_id = $1 ORDER BY name";

pub(in crate::store) const LEASE_SETUP: &str =
    "UPDATE enhanced_bindings SET lease_owner = $1, lease_until = $2 WHERE peer_id = $3";

pub(in crate::store) const RECORD_SETUP: &str = "UPDATE enhanced_bindings \
     SET status = $1, err_msg = $2, checked_from = $3, update_time = $4, \
         lease_owner = NULL, lease_until = NULL \
     WHERE peer_id = $5 AND status = 'CREATING' AND lease_owner = $6 AND name = $7 \
     RETURNING project_id, connection_id, kind";

/// Writes `impl SetupClaims for $store`, as [`crate::store::shared::impl_store`] does.
macro_rules! impl_setups {
    ($store:ident, $db:ty) => {
        const _: () = {
            use std::sync::LazyLock;

            use $crate::store::Result;
            use $crate::store::queue_work::setups::{self as work, SetupClaims};
            use $crate::store::queue_work::{ServerClaimQuery, SetupOutcome, SetupWork};
            use $crate::store::shared::{Backend, Change, Claim, Dialect};
            use $crate::store::terms::{AgentClaim, ClaimTerms, HeldWork};

            use $crate::store::queue_work::setups::SetupRow;

            impl $store {
                /// Leases the set-ups read, oldest first, while their connections' stored
                /// hosts add up to at most `hosts_bytes` (the first always; counted once
                /// per connection, or once per set-up when `per_item`, as an agent's
                /// answer carries them), and completes them with their hosts and routes,
                /// read and parsed once per connection; then commits the claim.
                async fn lease_setups(
                    mut transaction: sqlx::Transaction<'static, $db>,
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
                    for SetupRow {
                        peer_id,
                        project_id,
                        kind,
                        name,
                        connection_id,
                    } in rows
                    {
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
                                    .fetch_one(&mut *transaction)
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
                                        .fetch_all(&mut *transaction)
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
                            .execute(&mut *transaction)
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
                    transaction.commit().await?;
                    Ok(claimed)
                }
            }

            #[async_trait::async_trait]
            impl SetupClaims for $store {
                async fn claim_agent_setups(
                    &self,
                    agent: AgentClaim<'_>,
                    hosts_bytes: usize,
                ) -> Result<Vec<SetupWork>> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", work::SELECT_AGENT_SETUPS, $store::CLAIM_LOCK)
                    });
                    let owner = agent.owner();
                    let terms = ClaimTerms::new(&owner, agent.lease, agent.limit, agent.now);
                    let claim = Claim::from(terms);
                    let mut transaction = self.begin_write().await?;
                    let rows: Vec<SetupRow> = Self::agent_claim_rows(
                        &mut transaction,
                        &SELECT,
                        agent.agent.project,
                        agent.agent.agent_id,
                        &claim,
                    )
                    .await?;
                    let claimed =
                        Self::lease_setups(transaction, rows, &claim, hosts_bytes, true).await?;
                    if !claimed.is_empty() {
                        // As a claim of its queues' other work.
                        self.announce(Change::Project(agent.agent.project.as_str()));
                    }
                    Ok(claimed)
                }

                async fn claim_server_setups(
                    &self,
                    terms: ClaimTerms<'_>,
                    hosts_bytes: usize,
                    online_since: i64,
                ) -> Result<Vec<SetupWork>> {
                    static QUERY: LazyLock<ServerClaimQuery> = LazyLock::new(|| ServerClaimQuery {
                        any_due: work::ANY_SETUP_DUE,
                        select: format!(
                            "SELECT w.peer_id, w.project_id, w.kind, w.name, c.id \
                             FROM enhanced_bindings w \
                             JOIN enhanced_connections c ON c.id = w.connection_id \
                             WHERE w.status = 'CREATING' AND c.status = 'ACTIVE' \
                               AND (w.lease_until IS NULL OR w.lease_until < $1) \
                               AND NOT {} \
                             ORDER BY w.update_time, w.peer_id LIMIT $3{}",
                            work::online_agent_serves("w.project_id", "w.kind", "w.name", "$2"),
                            $store::CLAIM_LOCK
                        ),
                    });
                    let claim = Claim::from(terms);
                    let Some((transaction, rows)) = self
                        .server_claim_rows::<SetupRow>(&QUERY, &claim, online_since)
                        .await?
                    else {
                        return Ok(Vec::new());
                    };
                    Self::lease_setups(transaction, rows, &claim, hosts_bytes, false).await
                }

                async fn record_setup(
                    &self,
                    held: HeldWork<'_, &str>,
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
                        .bind(held.key)
                        .bind(held.owner)
                        .bind(held.queue);
                    self.write_in_project(statement, |project, row| {
                        use sqlx::Row as _;
                        let connection: String = row.try_get(1).ok()?;
                        let kind: String = row.try_get(2).ok()?;
                        Some(
                            $crate::store::Event::new(
                                Some(project),
                                "enhanced_binding",
                                format!("{connection}/{}", held.queue),
                                "status",
                            )
                            .after("kind", kind)
                            .changed("status", "CREATING", status)
                            .after("err_msg", message),
                        )
                    })
                    .await
                }
            }
        };
    };
}

pub(in crate::store) use impl_setups;
