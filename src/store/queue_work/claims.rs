//! The checks of a queue: its bindings' first checks and re-checks (by an agent of the
//! queue) and DLI's queue connection tests, claimed with a lease by the queue's agent or,
//! for a queue without one, by the server's worker; their ends; and what waits for an agent.

use async_trait::async_trait;

pub(in crate::store) use super::agents::TOUCH_AGENT;
pub(in crate::store) use super::online_agent_serves;
use super::{BindingConnectivity, NewTask, QueueWork, TaskRecord, TaskResult};
use crate::domain::{BindingStatus, ConnectionId, ProjectId, QueueWorkKind, Service};
use crate::store::terms::{AgentClaim, ClaimTerms, HeldWork};
use crate::store::{Result, StoreError};

/// A binding to check as [`SELECT_AGENT_BINDINGS`] reads it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct BindingRow {
    peer_id: String,
    project_id: String,
    queue_name: String,
    /// CREATING (its first check) or ACTIVE (a re-check).
    status: String,
    id: String,
    service: String,
    destination: String,
    session: Option<String>,
    login_failed_at: Option<i64>,
}

impl TryFrom<BindingRow> for QueueWork {
    type Error = StoreError;

    fn try_from(row: BindingRow) -> Result<Self> {
        let kind = match BindingStatus::parse(&row.status) {
            Some(BindingStatus::Creating) => QueueWorkKind::Bind,
            // A FAILED one is claimed only when FAILED for its credentials.
            Some(BindingStatus::Active | BindingStatus::Failed) => QueueWorkKind::RecheckBinding,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "binding {} to check has the status {:?}",
                    row.peer_id, row.status
                )));
            }
        };
        let service =
            Service::parse(&row.service).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let connection_id = ConnectionId::parse(&row.id).ok_or_else(|| {
            StoreError::Corrupt(format!("connection id {:?} is not a UUID", row.id))
        })?;
        Ok(QueueWork {
            kind,
            key: row.peer_id,
            project_id: row.project_id,
            queue_name: row.queue_name,
            service: Some(service),
            destination: row.destination,
            connection_id: Some(connection_id),
            session: row.session,
            login_failed_at: row.login_failed_at,
            hosts: None,
        })
    }
}

/// A queue connection test to run, as the claims read it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct TestRow {
    pub task_id: i64,
    project_id: String,
    queue_name: String,
    address: String,
    service: Option<String>,
    session: Option<String>,
    hosts: Option<String>,
}

impl From<TestRow> for QueueWork {
    fn from(row: TestRow) -> Self {
        QueueWork {
            kind: QueueWorkKind::Test,
            key: row.task_id.to_string(),
            project_id: row.project_id,
            queue_name: row.queue_name,
            // A service the API accepted; one that no longer parses tests TCP only.
            service: row
                .service
                .as_deref()
                .and_then(|raw| Service::parse(raw).ok()),
            destination: row.address,
            connection_id: None,
            session: row.session,
            login_failed_at: None,
            hosts: row.hosts,
        }
    }
}

/// A queue connection test as [`SELECT_TASK`] reads it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct TaskRow {
    task_id: i64,
    queue_name: String,
    address: String,
    status: String,
    message: String,
    checked_from: Option<String>,
    create_time: i64,
    update_time: i64,
    service: Option<String>,
    session: Option<String>,
    stages: Option<String>,
}

impl From<TaskRow> for TaskRecord {
    fn from(row: TaskRow) -> Self {
        TaskRecord {
            task_id: row.task_id,
            queue_name: row.queue_name,
            address: row.address,
            status: row.status,
            message: row.message,
            checked_from: row.checked_from,
            create_time: row.create_time,
            update_time: row.update_time,
            service: row.service,
            session: row.session,
            stages: row.stages,
        }
    }
}

/// The checks of a queue: its bindings' first checks and re-checks and its connection
/// tests, claimed by its agents or the server, and their ends.
#[async_trait]
pub trait QueueClaims: Send + Sync {
    /// Claims up to the claim's limit of pieces of work of the agent's queues: CREATING bindings, ACTIVE
    /// bindings due for a re-check, and tests, shared among the three kinds by
    /// [`crate::domain::fair_split`]; the agent is heard from. None if it is not
    /// registered.
    async fn claim_agent_work(
        &self,
        agent: AgentClaim<'_>,
        address: &str,
    ) -> Result<Option<Vec<QueueWork>>>;

    /// Whether the agent's queues have checks to claim now, and (when `setups`) set-ups:
    /// one read, so that a claim looks without writing and in one round trip.
    async fn agent_has_work(
        &self,
        project: &ProjectId,
        agent_id: &str,
        now: i64,
        setups: bool,
    ) -> Result<AgentWorkWaiting>;

    /// Claims tests of queues without an agent heard from since `online_since`, for the
    /// server's worker.
    async fn claim_server_tests(
        &self,
        terms: ClaimTerms<'_>,
        online_since: i64,
    ) -> Result<Vec<QueueWork>>;

    /// Records an agent's re-check of an ACTIVE binding while the held claim holds.
    async fn record_binding_connectivity(
        &self,
        held: HeldWork<'_, &str>,
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

    /// Records a test's end while the held claim holds.
    async fn record_task_result(
        &self,
        held: HeldWork<'_, i64>,
        result: &TaskResult,
        now: i64,
    ) -> Result<bool>;

    /// (project, queue or pool) of work an agent could claim now ($1): new bindings, due
    /// re-checks of ACTIVE ones, tests and set-ups not under a lease; at most `limit` of
    /// each kind. Waiting claims look through this, once for all of them.
    async fn queues_with_claimable_work(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<(String, String)>>;

    /// Gives back the claims of `owner` on these pieces of work (a claim that could not
    /// send them).
    async fn release_queue_work(&self, owner: &str, work: &[QueueWork]) -> Result<()>;

    /// Says on CREATING bindings and tests of queues without an online agent that they
    /// wait for one (with `--require-agents`); how many rows it marked.
    async fn mark_waiting_for_agents(&self, online_since: i64, now: i64) -> Result<u64>;

    /// Removes tests finished before `tests_before` and agents not heard from since
    /// `agents_before`.
    async fn purge_queue_work(&self, tests_before: i64, agents_before: i64) -> Result<u64>;
}

/// The agent's bindings to check of status $5: CREATING ones, or ACTIVE ones due ($3
/// now) with those FAILED for their credentials, oldest first; $1 project, $2 agent, $4
/// limit.
pub(in crate::store) const SELECT_AGENT_BINDINGS: &str = "SELECT w.peer_id, c.project_id, w.queue_name, \
         w.status, c.id, c.service, c.destination, c.session, w.login_failed_at \
     FROM queue_bindings w JOIN connections c ON c.id = w.connection_id \
     WHERE c.project_id = $1 AND c.state <> 'DELETED' \
       AND w.queue_name IN (SELECT queue_name FROM agent_queues \
                            WHERE agent_id = $2 AND kind = 'queue') \
       AND (w.status = $5 OR ($5 = 'ACTIVE' AND w.status = 'FAILED' \
                              AND w.credentials_failed = 1)) \
       AND (w.status = 'CREATING' OR COALESCE(w.next_check_at, 0) <= $3) \
       AND (w.lease_until IS NULL OR w.lease_until < $3) \
     ORDER BY w.update_time, w.peer_id LIMIT $4";

/// The agent's tests to run; parameters as [`SELECT_AGENT_BINDINGS`].
pub(in crate::store) const SELECT_AGENT_TESTS: &str = "SELECT w.task_id, w.project_id, w.queue_name, \
     w.address, w.service, w.session, w.hosts \
     FROM connectivity_tasks w \
     WHERE w.project_id = $1 AND w.status = 'CHECKING' \
       AND w.queue_name IN (SELECT queue_name FROM agent_queues \
                            WHERE agent_id = $2 AND kind = 'queue') \
       AND (w.lease_until IS NULL OR w.lease_until < $3) \
     ORDER BY w.create_time, w.task_id LIMIT $4";

/// [`QueueClaims::queues_with_claimable_work`]: one statement per kind of work, each on
/// its partial index ($1 now, $2 limit). A binding FAILED for its credentials is left to
/// its agent's next claim.
pub(in crate::store) const SELECT_QUEUES_WITH_WORK: [&str; 4] = [
    "SELECT DISTINCT c.project_id, w.queue_name FROM queue_bindings w \
     JOIN connections c ON c.id = w.connection_id \
     WHERE w.status = 'CREATING' AND c.state <> 'DELETED' \
       AND (w.lease_until IS NULL OR w.lease_until < $1) LIMIT $2",
    "SELECT DISTINCT c.project_id, w.queue_name FROM queue_bindings w \
     JOIN connections c ON c.id = w.connection_id \
     WHERE w.status = 'ACTIVE' AND w.next_check_at <= $1 AND c.state <> 'DELETED' \
       AND (w.lease_until IS NULL OR w.lease_until < $1) LIMIT $2",
    "SELECT DISTINCT project_id, queue_name FROM connectivity_tasks \
     WHERE status = 'CHECKING' AND (lease_until IS NULL OR lease_until < $1) LIMIT $2",
    "SELECT DISTINCT w.project_id, w.name FROM enhanced_bindings w \
     JOIN enhanced_connections c ON c.id = w.connection_id \
     WHERE w.status = 'CREATING' AND c.status = 'ACTIVE' \
       AND (w.lease_until IS NULL OR w.lease_until < $1) LIMIT $2",
];

/// What an agent's queues have to claim, as [`QueueClaims::agent_has_work`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct AgentWorkWaiting {
    /// New bindings, due re-checks, tests.
    pub checks: bool,
    pub setups: bool,
}

/// [`QueueClaims::agent_has_work`]: what [`SELECT_AGENT_BINDINGS`] (both statuses),
/// [`SELECT_AGENT_TESTS`] and, with $4 = 1, `SELECT_AGENT_SETUPS` would find, as two
/// flags ($1 project, $2 agent, $3 now). Bindings are read from the agent's queues.
pub(in crate::store) const SELECT_AGENT_HAS_WORK: &str = "SELECT EXISTS (\
         SELECT 1 FROM agent_queues aq \
         JOIN queue_bindings w ON w.queue_name = aq.queue_name \
         JOIN connections c ON c.id = w.connection_id \
         WHERE aq.agent_id = $2 AND aq.kind = 'queue' \
           AND c.project_id = $1 AND c.state <> 'DELETED' \
           AND (w.status = 'CREATING' \
                OR ((w.status = 'ACTIVE' OR (w.status = 'FAILED' AND w.credentials_failed = 1)) \
                    AND COALESCE(w.next_check_at, 0) <= $3)) \
           AND (w.lease_until IS NULL OR w.lease_until < $3)) \
     OR EXISTS (\
         SELECT 1 FROM agent_queues aq \
         JOIN connectivity_tasks w \
           ON w.project_id = aq.project_id AND w.queue_name = aq.queue_name \
         WHERE aq.agent_id = $2 AND aq.kind = 'queue' AND aq.project_id = $1 \
           AND w.status = 'CHECKING' \
           AND (w.lease_until IS NULL OR w.lease_until < $3)) AS checks, \
     ($4 = 1 AND EXISTS (\
         SELECT 1 FROM enhanced_bindings w \
         JOIN enhanced_connections c ON c.id = w.connection_id \
         WHERE w.project_id = $1 AND w.status = 'CREATING' AND c.status = 'ACTIVE' \
           AND EXISTS (SELECT 1 FROM agent_queues aq WHERE aq.agent_id = $2 \
                       AND aq.kind = w.kind AND aq.queue_name = w.name) \
           AND (w.lease_until IS NULL OR w.lease_until < $3))) AS setups";

/// Whether any test waits for a claim ($1 now): the cheap first look of the server's claim.
pub(in crate::store) const ANY_TEST_DUE: &str = "SELECT task_id FROM connectivity_tasks \
     WHERE status = 'CHECKING' AND (lease_until IS NULL OR lease_until < $1) LIMIT 1";

pub(in crate::store) const LEASE_BINDING: &str =
    "UPDATE queue_bindings SET lease_owner = $1, lease_until = $2 WHERE peer_id = $3";

pub(in crate::store) const LEASE_TASK: &str =
    "UPDATE connectivity_tasks SET lease_owner = $1, lease_until = $2 WHERE task_id = $3";

pub(in crate::store) const RELEASE_BINDING_LEASE: &str = "UPDATE queue_bindings \
     SET lease_owner = NULL, lease_until = NULL WHERE peer_id = $1 AND lease_owner = $2";
pub(in crate::store) const RELEASE_TASK_LEASE: &str = "UPDATE connectivity_tasks \
     SET lease_owner = NULL, lease_until = NULL WHERE task_id = $1 AND lease_owner = $2";
pub(in crate::store) const RELEASE_SETUP_LEASE: &str = "UPDATE enhanced_bindings \
     SET lease_owner = NULL, lease_until = NULL WHERE peer_id = $1 AND lease_owner = $2";

/// A re-check's end: $8 the new status (NULL keeps it) with $9 its message and $10 its
/// reason; $11 the stages (NULL keeps them), $12 FAILED for its credentials, $13 keep
/// the last login failure, $14 a new one. Answers the project, the connection and the
/// update time (which is $4 only where the status changed).
pub(in crate::store) const RECORD_BINDING_CONNECTIVITY: &str = "UPDATE queue_bindings \
     SET connectivity = $1, checked_from = $2, next_check_at = $3, last_checked_at = $4, \
         lease_owner = NULL, lease_until = NULL, \
         status = COALESCE($8, status), \
         err_msg = CASE WHEN $8 IS NULL THEN err_msg ELSE $9 END, \
         failure_reason = CASE WHEN $8 IS NULL THEN failure_reason ELSE $10 END, \
         update_time = CASE WHEN $8 IS NULL OR $8 = status THEN update_time ELSE $4 END, \
         stages = COALESCE($11, stages), \
         credentials_failed = CASE WHEN $8 IS NULL THEN credentials_failed ELSE $12 END, \
         login_failed_at = COALESCE($14, CASE WHEN $13 = 1 THEN login_failed_at END) \
     WHERE peer_id = $5 AND (status = 'ACTIVE' OR credentials_failed = 1) \
       AND lease_owner = $6 AND queue_name = $7 \
     RETURNING (SELECT c.project_id FROM connections c \
                WHERE c.id = queue_bindings.connection_id), connection_id, update_time";

pub(in crate::store) const INSERT_TASK: &str = "INSERT INTO connectivity_tasks (task_id, project_id, \
     queue_name, address, status, create_time, update_time, service, session, hosts) \
     VALUES ($1, $2, $3, $4, 'CHECKING', $5, $5, $6, $7, $8)";

pub(in crate::store) const SELECT_TASK: &str = "SELECT task_id, queue_name, address, status, message, \
     checked_from, create_time, update_time, service, session, stages FROM connectivity_tasks \
     WHERE task_id = $1 AND project_id = $2 AND queue_name = $3";

pub(in crate::store) const RECORD_TASK_RESULT: &str = "UPDATE connectivity_tasks \
     SET status = $1, message = $2, checked_from = $3, update_time = $4, \
         lease_owner = NULL, lease_until = NULL, stages = $8 \
     WHERE task_id = $5 AND status = 'CHECKING' AND lease_owner = $6 AND queue_name = $7 \
     RETURNING project_id";

pub(in crate::store) const PURGE_TASKS: &str =
    "DELETE FROM connectivity_tasks WHERE status <> 'CHECKING' AND update_time < $1";

pub(in crate::store) const PURGE_AGENTS: &str = "DELETE FROM agents WHERE last_seen < $1";

/// Writes `impl QueueClaims for $store`, as [`crate::store::shared::impl_store`] does.
macro_rules! impl_claims {
    ($store:ident, $db:ty) => {
        const _: () = {
            use std::sync::LazyLock;

            use $crate::domain::{ProjectId, QueueWorkKind};
            use $crate::store::Result;
            use $crate::store::queue_work::claims::{self as work, QueueClaims};
            use $crate::store::queue_work::{
                BindingConnectivity, NewTask, QueueWork, ServerClaimQuery, TaskRecord, TaskResult,
            };
            use $crate::store::shared::{Backend, Change, Claim, Dialect};
            use $crate::store::terms::{AgentClaim, ClaimTerms, HeldWork};

            impl $store {
                /// Leases the tests read to the claim: the work they are.
                async fn lease_tests(
                    connection: &mut <$db as sqlx::Database>::Connection,
                    rows: Vec<work::TestRow>,
                    claim: &Claim<'_>,
                ) -> Result<Vec<QueueWork>> {
                    let mut claimed = Vec::with_capacity(rows.len());
                    for row in rows {
                        sqlx::query(work::LEASE_TASK)
                            .bind(claim.owner)
                            .bind(claim.lease_until)
                            .bind(row.task_id)
                            .execute(&mut *connection)
                            .await?;
                        claimed.push(QueueWork::from(row));
                    }
                    Ok(claimed)
                }
            }

            #[async_trait::async_trait]
            impl QueueClaims for $store {
                async fn claim_agent_work(
                    &self,
                    agent: AgentClaim<'_>,
                    address: &str,
                ) -> Result<Option<Vec<QueueWork>>> {
                    let (project, agent_id, now) =
                        (agent.agent.project, agent.agent.agent_id, agent.now);
                    static BINDINGS: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", work::SELECT_AGENT_BINDINGS, $store::CLAIM_LOCK)
                    });
                    static TESTS: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", work::SELECT_AGENT_TESTS, $store::CLAIM_LOCK)
                    });
                    let owner = agent.owner();
                    let claim = Claim::from(ClaimTerms::new(&owner, agent.lease, agent.limit, now));
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
                    let mut kinds: Vec<Vec<work::BindingRow>> = Vec::with_capacity(2);
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
                    let mut tests: Vec<work::TestRow> =
                        Self::agent_claim_rows(&mut transaction, &TESTS, project, agent_id, &claim)
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
                    for row in bindings {
                        let work = QueueWork::try_from(row)?;
                        sqlx::query(work::LEASE_BINDING)
                            .bind(claim.owner)
                            .bind(claim.lease_until)
                            .bind(&work.key)
                            .execute(&mut *transaction)
                            .await?;
                        claimed.push(work);
                    }
                    claimed.extend(Self::lease_tests(&mut transaction, tests, &claim).await?);
                    if claimed.is_empty() {
                        transaction.commit().await?;
                    } else {
                        // Its queues' work is leased: the project's answers (their
                        // waiting texts) may differ.
                        // A lease is not a change the audit trail records.
                        self.commit(transaction, Change::Project(project.as_str()), &[])
                            .await?;
                    }
                    Ok(Some(claimed))
                }

                async fn agent_has_work(
                    &self,
                    project: &ProjectId,
                    agent_id: &str,
                    now: i64,
                    setups: bool,
                ) -> Result<work::AgentWorkWaiting> {
                    Ok(sqlx::query_as(work::SELECT_AGENT_HAS_WORK)
                        .bind(project.as_str())
                        .bind(agent_id)
                        .bind(now)
                        .bind(i64::from(setups))
                        .fetch_one(self.reader())
                        .await?)
                }

                async fn queues_with_claimable_work(
                    &self,
                    now: i64,
                    limit: u32,
                ) -> Result<Vec<(String, String)>> {
                    let mut queues = Vec::new();
                    for statement in work::SELECT_QUEUES_WITH_WORK {
                        let rows: Vec<(String, String)> = sqlx::query_as(statement)
                            .bind(now)
                            .bind(i64::from(limit))
                            .fetch_all(self.reader())
                            .await?;
                        queues.extend(rows);
                    }
                    queues.sort_unstable();
                    queues.dedup();
                    Ok(queues)
                }

                async fn claim_server_tests(
                    &self,
                    terms: ClaimTerms<'_>,
                    online_since: i64,
                ) -> Result<Vec<QueueWork>> {
                    static QUERY: LazyLock<ServerClaimQuery> = LazyLock::new(|| ServerClaimQuery {
                        any_due: work::ANY_TEST_DUE,
                        select: format!(
                            "SELECT w.task_id, w.project_id, w.queue_name, w.address, \
                             w.service, w.session, w.hosts \
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
                        ),
                    });
                    let claim = Claim::from(terms);
                    let Some((mut transaction, due)) = self
                        .server_claim_rows::<work::TestRow>(&QUERY, &claim, online_since)
                        .await?
                    else {
                        return Ok(Vec::new());
                    };
                    let claimed = Self::lease_tests(&mut transaction, due, &claim).await?;
                    transaction.commit().await?;
                    Ok(claimed)
                }

                async fn record_binding_connectivity(
                    &self,
                    held: HeldWork<'_, &str>,
                    result: &BindingConnectivity,
                    now: i64,
                ) -> Result<bool> {
                    let connectivity =
                        $crate::domain::Reachability::from_reachable(result.reachable).as_str();
                    let verdict = result.verdict.as_ref();
                    let status =
                        verdict.map(|verdict| if verdict.active { "ACTIVE" } else { "FAILED" });
                    let (keep_failure, failed_at) = result.credentials.login.columns();
                    let statement = sqlx::query(work::RECORD_BINDING_CONNECTIVITY)
                        .bind(connectivity)
                        .bind(&result.checked_from)
                        .bind(result.next_check_at)
                        .bind(now)
                        .bind(held.key)
                        .bind(held.owner)
                        .bind(held.queue)
                        .bind(status)
                        .bind(verdict.map(|verdict| verdict.err_msg.as_str()))
                        .bind(verdict.and_then(|verdict| verdict.failure_reason.as_deref()))
                        .bind(result.credentials.stages.as_deref())
                        .bind(i64::from(result.credentials.failed))
                        .bind(keep_failure)
                        .bind(failed_at);
                    // Only a verdict that differs from the status changes it (the row's
                    // update time moves only then): ACTIVE and FAILED, one to the other.
                    let queue = held.queue.to_owned();
                    let event = verdict.map(|verdict| (verdict.active, verdict.err_msg.clone()));
                    self.write_in_project(statement, move |project, row| {
                        use sqlx::Row as _;
                        let (active, err_msg) = event?;
                        let changed_at: i64 = row.try_get(2).ok()?;
                        if changed_at != now {
                            return None;
                        }
                        let connection: String = row.try_get(1).ok()?;
                        let (before, after) = if active {
                            ("FAILED", "ACTIVE")
                        } else {
                            ("ACTIVE", "FAILED")
                        };
                        Some(
                            $crate::store::Event::new(
                                Some(project),
                                "binding",
                                format!("{connection}/{queue}"),
                                "status",
                            )
                            .changed("status", before, after)
                            .after("err_msg", err_msg),
                        )
                    })
                    .await
                }

                async fn create_task(&self, task: &NewTask) -> Result<()> {
                    let statement = sqlx::query(work::INSERT_TASK)
                        .bind(task.task_id)
                        .bind(task.project_id.as_str())
                        .bind(&task.queue_name)
                        .bind(&task.address)
                        .bind(task.now)
                        .bind(task.service.map($crate::domain::Service::as_str))
                        .bind(&task.session)
                        .bind(&task.hosts);
                    let event = $crate::store::Event::in_project(
                        &task.project_id,
                        "queue_test",
                        task.task_id.to_string(),
                        "create",
                    )
                    .after("queue", &task.queue_name)
                    .after("address", &task.address)
                    .after("service", task.service.map($crate::domain::Service::as_str));
                    let change = Change::Project(task.project_id.as_str());
                    self.write_recorded(statement, change, &[event]).await?;
                    Ok(())
                }

                async fn get_task(
                    &self,
                    project: &ProjectId,
                    queue: &str,
                    task_id: i64,
                ) -> Result<Option<TaskRecord>> {
                    let row: Option<work::TaskRow> = sqlx::query_as(work::SELECT_TASK)
                        .bind(task_id)
                        .bind(project.as_str())
                        .bind(queue)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(row.map(TaskRecord::from))
                }

                async fn record_task_result(
                    &self,
                    held: HeldWork<'_, i64>,
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
                        .bind(held.key)
                        .bind(held.owner)
                        .bind(held.queue)
                        .bind(&result.stages);
                    self.write_in_project(statement, |project, _| {
                        Some(
                            $crate::store::Event::new(
                                Some(project),
                                "queue_test",
                                held.key.to_string(),
                                "result",
                            )
                            .after("status", status)
                            .after("message", &result.message)
                            .after("checked_from", &result.checked_from),
                        )
                    })
                    .await
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
                    let marked = bindings + tests + setups;
                    if marked > 0 {
                        self.announce(Change::Everything);
                    }
                    Ok(marked)
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

pub(in crate::store) use impl_claims;
