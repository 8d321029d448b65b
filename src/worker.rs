//! The lifecycle worker: claims work with a lease, checks, records the outcome. Work is
//! new connections (CREATING), new queue bindings (CREATING), and health re-checks of
//! ACTIVE connections that are due; plus purging DELETED connections past retention.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::check::{self, CheckPipeline, Job, Place};
use crate::domain::now_millis;
use crate::store::{ClaimTerms, DynStore, PendingBinding, PendingCheck, QueueWork, SetupWork};
use crate::telemetry::metrics;

/// How often the worker looks for work nobody announced (due re-checks, expired leases).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How many items one claim takes at most.
const CLAIM_BATCH: u32 = 64;
/// Most stored hosts (bytes of their JSON) the set-ups of one claim carry: a connection
/// has up to 20,000 hosts (about 1-3 MB), and each connection's are read and parsed once
/// per claim however many of its bindings the claim takes (issue 24).
const SETUP_HOSTS_BYTES: usize = 4 << 20;
/// How often DELETED connections past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a finished queue connection test can be read (DLI's ShowConnectivityTask).
pub const QUEUE_TEST_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How long an agent not heard from stays registered (it is offline long before).
const OFFLINE_AGENT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Back-off after a store error, so a sick database is not hammered.
const ERROR_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct WorkerSettings {
    /// Runs each claimed check: probe, outcome, record, and tells the API what changed.
    /// Creates and bindings charge the addresses they dial beyond the one their request
    /// paid, without ever being refused; re-checks are the server's own schedule and
    /// charge nothing.
    pub pipeline: Arc<CheckPipeline>,
    pub deleted_retention: Duration,
    /// How long audit events are kept.
    pub event_retention: Duration,
    /// Checks running at once; their dials share the prober's limit of the same size.
    pub max_concurrent_checks: usize,
}

/// One unit of claimed work.
enum Work {
    Create(PendingCheck),
    Bind(PendingBinding),
    Recheck(PendingCheck),
    /// A queue connection test of a queue without an online agent.
    QueueTest(QueueWork),
    /// The set-up of an enhanced connection's binding of a queue or pool without an
    /// online agent: dials nothing, judged by the server's policy (the pipeline's
    /// checker's).
    Setup(SetupWork),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkKind {
    Create,
    Bind,
    Recheck,
    QueueTest,
    Setup,
}

impl Work {
    #[cfg(test)]
    fn kind(&self) -> WorkKind {
        match self {
            Work::Create(_) => WorkKind::Create,
            Work::Bind(_) => WorkKind::Bind,
            Work::Recheck(_) => WorkKind::Recheck,
            Work::QueueTest(_) => WorkKind::QueueTest,
            Work::Setup(_) => WorkKind::Setup,
        }
    }

    /// The check it is, under this worker's claim.
    fn job(&self, owner: &str) -> Job {
        match self {
            Work::Create(pending) => Job::create(pending, owner),
            Work::Bind(binding) => Job::bind(binding, owner),
            Work::Recheck(pending) => Job::recheck(pending, owner),
            Work::QueueTest(work) => Job::queue_work(work, owner),
            Work::Setup(setup) => Job::setup(setup, owner),
        }
    }
}

/// One kind's claimed work as [`Work`]; a store error is logged (the claim backs off).
fn claimed<T>(
    claimed: crate::store::Result<Vec<T>>,
    work: impl Fn(T) -> Work,
) -> Result<Vec<Work>, ()> {
    match claimed {
        Ok(claimed) => Ok(claimed.into_iter().map(work).collect()),
        Err(error) => {
            warn!(error = %error, "claiming work failed");
            Err(())
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

pub struct LifecycleWorker {
    store: DynStore,
    settings: WorkerSettings,
    /// Identifies this process's claims.
    owner: String,
    wake: Arc<Notify>,
    /// Which kind of work a claim offers first, turning at each claim (see
    /// [`crate::domain::fair_split`]).
    rotation: std::sync::atomic::AtomicUsize,
}

impl LifecycleWorker {
    pub fn new(store: DynStore, settings: WorkerSettings, wake: Arc<Notify>) -> Self {
        Self {
            store,
            settings,
            owner: uuid::Uuid::new_v4().to_string(),
            wake,
            rotation: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Runs until cancelled. Checks in flight are finished before returning, so that a
    /// graceful stop leaves no claim behind.
    pub async fn run(self, shutdown: CancellationToken) {
        let worker = Arc::new(self);
        let mut in_flight = JoinSet::new();
        let mut next_purge = tokio::time::Instant::now();
        loop {
            while in_flight.try_join_next().is_some() {}
            if tokio::time::Instant::now() >= next_purge {
                worker.purge().await;
                next_purge = tokio::time::Instant::now() + PURGE_INTERVAL;
            }
            // Claim only what can start now, so no lease ticks away while queued here.
            let free = worker
                .settings
                .max_concurrent_checks
                .saturating_sub(in_flight.len());
            if free == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = in_flight.join_next() => continue,
                }
            }
            let limit = u32::try_from(free).unwrap_or(CLAIM_BATCH).min(CLAIM_BATCH);
            match worker.claim(limit, now_millis()).await {
                Ok(batch) if !batch.is_empty() => {
                    for work in batch {
                        let worker = Arc::clone(&worker);
                        in_flight.spawn(async move { worker.perform(work).await });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(()) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(ERROR_BACKOFF) => continue,
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = worker.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Claims and performs everything due now (new connections, bindings, re-checks),
    /// then purges: one deterministic step for tests. Returns how much work it did.
    pub async fn run_once(&self) -> usize {
        let mut done = 0;
        // Re-checks due by the start only: a re-check reschedules its connection, and a
        // short interval must not keep this step going forever.
        let started = now_millis();
        loop {
            let Ok(batch) = self.claim(CLAIM_BATCH, started).await else {
                break;
            };
            if batch.is_empty() {
                break;
            }
            done += batch.len();
            futures::future::join_all(batch.into_iter().map(|work| self.perform(work))).await;
        }
        self.purge().await;
        done
    }

    /// Claims up to `limit` items of five kinds (new connections, bindings, queue tests,
    /// re-checks due by `rechecks_due_by`, set-ups) by the rule of
    /// [`crate::domain::fair_split`]: each kind first up to its share (a fifth, at least
    /// one), the first kind turning at each claim; then what is left is offered in turn
    /// to the kinds that filled their share, so no backlog of one kind starves another.
    async fn claim(&self, limit: u32, rechecks_due_by: i64) -> Result<Vec<Work>, ()> {
        const KINDS: [WorkKind; 5] = [
            WorkKind::Create,
            WorkKind::Bind,
            WorkKind::QueueTest,
            WorkKind::Recheck,
            WorkKind::Setup,
        ];
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let start = self
            .rotation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let order: Vec<WorkKind> = (0..KINDS.len())
            .map(|n| KINDS[(start + n) % KINDS.len()])
            .collect();
        let mut work = Vec::new();
        // A kind that returned less than it asked for has nothing more: it is not asked
        // again for what the others left.
        let mut exhausted = Vec::new();
        // Queues without an online agent wait for one: their work is not claimed here,
        // and says so.
        let pipeline = &self.settings.pipeline;
        if pipeline.requires_agents() {
            exhausted.extend([WorkKind::Bind, WorkKind::QueueTest, WorkKind::Setup]);
            let now = now_millis();
            match self
                .store
                .mark_waiting_for_agents(pipeline.online_since(now), now)
                .await
            {
                Ok(_) => {}
                Err(error) => warn!(error = %error, "marking work that waits for agents failed"),
            }
        }
        let mut share = (limit / KINDS.len()).max(1);
        loop {
            let before = work.len();
            for &kind in &order {
                let take = share.min(limit.saturating_sub(work.len()));
                if take == 0 || exhausted.contains(&kind) {
                    continue;
                }
                let asked = u32::try_from(take).unwrap_or(u32::MAX);
                let claimed = self.claim_kind(kind, asked, rechecks_due_by).await?;
                if claimed.len() < take {
                    exhausted.push(kind);
                }
                work.extend(claimed);
            }
            let left = limit.saturating_sub(work.len());
            let open = KINDS.len().saturating_sub(exhausted.len());
            if left == 0 || open == 0 || work.len() == before {
                break;
            }
            // What is left, shared among the kinds that have more.
            share = (left / open).max(1);
        }
        Ok(work)
    }

    async fn claim_kind(
        &self,
        kind: WorkKind,
        limit: u32,
        rechecks_due_by: i64,
    ) -> Result<Vec<Work>, ()> {
        let lease = self.settings.pipeline.lease();
        let now = now_millis();
        let online_since = self.settings.pipeline.online_since(now);
        let (store, owner) = (&self.store, self.owner.as_str());
        let terms = ClaimTerms::new(owner, lease, limit, now);
        // A binding's check and a queue test may run the credentialed stages: a test's lease.
        let test_terms = ClaimTerms {
            lease: self.settings.pipeline.test_lease(),
            ..terms
        };
        match kind {
            WorkKind::Create => claimed(store.claim_pending_checks(terms).await, Work::Create),
            WorkKind::Bind => claimed(
                store.claim_pending_bindings(test_terms, online_since).await,
                Work::Bind,
            ),
            WorkKind::QueueTest => claimed(
                store.claim_server_tests(test_terms, online_since).await,
                Work::QueueTest,
            ),
            WorkKind::Recheck => claimed(
                store
                    .claim_due_rechecks(ClaimTerms {
                        now: rechecks_due_by,
                        ..terms
                    })
                    .await,
                Work::Recheck,
            ),
            WorkKind::Setup => claimed(
                store
                    .claim_server_setups(terms, SETUP_HOSTS_BYTES, online_since)
                    .await,
                Work::Setup,
            ),
        }
    }

    /// Performs one claimed piece of work. A check that panics is contained here: it is
    /// logged with what it was about, counted, and its claim given back with a result
    /// that says so, instead of vanishing silently and holding its lease until it expires.
    async fn perform(&self, work: Work) {
        let mut job = work.job(&self.owner);
        match &work {
            Work::QueueTest(test) => job = self.settings.pipeline.with_session(job, test).await,
            Work::Bind(binding) => {
                job = self
                    .settings
                    .pipeline
                    .with_binding_session(job, binding)
                    .await
            }
            _ => {}
        }
        let subject = job.clone();
        self.contain_panic(&subject, self.perform_unguarded(job))
            .await;
    }

    async fn contain_panic(&self, subject: &Job, check: impl Future<Output = ()>) {
        let outcome = std::panic::AssertUnwindSafe(check).catch_unwind().await;
        if let Err(panic) = outcome {
            self.after_panic(subject, panic_message(panic.as_ref()))
                .await;
        }
    }

    async fn after_panic(&self, subject: &Job, panic: String) {
        let kind = subject.purpose.label();
        tracing::error!(
            subject = ?subject.purpose,
            project.id = %subject.project,
            kind,
            panic = %panic,
            "a check panicked; its claim is given back"
        );
        metrics::record_check_panic(kind);
        let pipeline = &self.settings.pipeline;
        let record = check::after_panic(&subject.purpose, &pipeline.circumstances(Place::Server));
        // Written once, without retry: the lease is the fallback.
        let recorded = pipeline.record(&record, Duration::ZERO).await;
        if let Err(error) = recorded {
            warn!(subject = ?subject.purpose, error = %error,
                  "giving back the claim of a panicked check failed; it lapses with its lease");
        }
    }

    async fn perform_unguarded(&self, job: Job) {
        // Accepted work is never refused by the budget: it drains what is left.
        if let Err(error) = self.settings.pipeline.run(job).await {
            warn!(error = ?error, "a claimed check was refused");
        }
    }

    /// Deletes the events older than `before` in small batches, each its own short
    /// write, so that writers (whose events go in the same table) never wait long.
    async fn purge_events(&self, before: i64) {
        const BATCH: u32 = 1_000;
        const MOST_BATCHES: u32 = 100;
        let mut purged = 0;
        for _ in 0..MOST_BATCHES {
            match self.store.purge_events(before, BATCH).await {
                Ok(count) => {
                    purged += count;
                    if count < u64::from(BATCH) {
                        break;
                    }
                }
                Err(error) => {
                    warn!(error = %error, "purging events past retention failed");
                    break;
                }
            }
            tokio::task::yield_now().await;
        }
        if purged > 0 {
            info!(purged, "purged events past retention");
        }
    }

    async fn purge(&self) {
        let now = now_millis();
        let kept = |retention: Duration| {
            now.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
        };
        if let Err(error) = self
            .store
            .purge_queue_work(kept(QUEUE_TEST_RETENTION), kept(OFFLINE_AGENT_RETENTION))
            .await
        {
            warn!(error = %error, "purging finished queue tests and gone agents failed");
        }
        let retention =
            i64::try_from(self.settings.deleted_retention.as_millis()).unwrap_or(i64::MAX);
        match self
            .store
            .purge_deleted(now_millis().saturating_sub(retention))
            .await
        {
            Ok(0) => {}
            // The store's commit point has told the read cache.
            Ok(purged) => info!(purged, "purged deleted connections past retention"),
            Err(error) => warn!(error = %error, "purging deleted connections failed"),
        }
        self.purge_events(kept(self.settings.event_retention)).await;
        match self
            .store
            .purge_deleted_enhanced(now_millis().saturating_sub(retention))
            .await
        {
            Ok(0) => {}
            Ok(purged) => info!(purged, "purged deleted enhanced connections past retention"),
            Err(error) => warn!(error = %error, "purging deleted enhanced connections failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Purpose;
    use crate::domain::{ConnectionId, ConnectionState, ProjectId, QueueName, Service, Tags};
    use crate::probe::{OutboundPolicy, ProbeMode, Prober, Resolver, Simulator};
    use crate::rate_limit::CheckBudget;
    use crate::store::{
        CheckResult, ConnectionKey, HeldCheck, NewConnection, QueuesToBind, SqliteStore,
    };

    async fn worker_on(dir: &std::path::Path) -> LifecycleWorker {
        let store: DynStore = Arc::new(SqliteStore::open(dir).await.expect("store"));
        let checker = check::InProcess {
            prober: Prober::new(
                ProbeMode::Simulate,
                Resolver::System,
                Duration::from_secs(1),
                OutboundPolicy::default(),
                Simulator::default(),
                8,
            ),
            budget: Arc::new(CheckBudget::per_minute(600)),
        };
        let pipeline = CheckPipeline::new(
            store.clone(),
            Arc::new(checker),
            check::PipelineSettings {
                recheck_interval: Duration::from_secs(300),
                lease_grace: Duration::from_secs(5),
                agent_timeout: Duration::from_secs(30),
                require_agents: false,
            },
        );
        let settings = WorkerSettings {
            pipeline: Arc::new(pipeline),
            deleted_retention: Duration::from_secs(60),
            event_retention: Duration::from_secs(60),
            max_concurrent_checks: 8,
        };
        LifecycleWorker::new(store, settings, Arc::new(Notify::new()))
    }

    async fn create(worker: &LifecycleWorker, project: &ProjectId, name: &str) -> ConnectionId {
        let new = NewConnection {
            id: ConnectionId::generate(),
            project_id: project.clone(),
            name: name.to_owned(),
            service: Service::Rds,
            destination: "127.0.0.1:3306".to_owned(),
            security_group_id: "sg".to_owned(),
            network_id: "net".to_owned(),
            tags: Tags::parse(&[]).expect("no tags"),
            queues: Vec::new(),
            declared_queues: Vec::new(),
            create_time: now_millis(),
            session: None,
        };
        worker
            .store
            .create_connection(&new, 1_000)
            .await
            .expect("created");
        new.id
    }

    /// A check's result that makes a connection ACTIVE and due for a re-check now.
    fn active_and_due() -> CheckResult {
        CheckResult {
            state: ConnectionState::Active,
            process: 1.0,
            connection_url: "127.0.0.1:3306".into(),
            message: String::new(),
            failure_reason: None,
            report: "{}".into(),
            next_check_at: Some(now_millis() - 1),
            normalized_url: "127.0.0.1:3306".into(),
        }
    }

    fn kinds(work: &[Work]) -> (usize, usize, usize) {
        let count = |kind| work.iter().filter(|work| work.kind() == kind).count();
        (
            count(WorkKind::Create),
            count(WorkKind::Bind),
            count(WorkKind::Recheck),
        )
    }

    #[tokio::test]
    async fn a_stream_of_creates_does_not_starve_bindings_and_rechecks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let worker = worker_on(dir.path()).await;
        let project = ProjectId::parse("fairness").expect("project");
        // One ACTIVE connection that is due for a re-check and has a new binding.
        let active = create(&worker, &project, "active").await;
        let claimed = worker.claim(1, now_millis()).await.expect("claim");
        assert_eq!(kinds(&claimed), (1, 0, 0));
        let result = active_and_due();
        let recorded = worker
            .store
            .record_check_result(
                HeldCheck {
                    id: active,
                    owner: &worker.owner,
                },
                &result,
                now_millis(),
            )
            .await;
        assert!(recorded.expect("recorded"));
        let queue = [QueueName::parse("q1").expect("queue")];
        worker
            .store
            .associate_queues(
                ConnectionKey::new(&project, active),
                QueuesToBind {
                    queues: &queue,
                    declared: &queue,
                },
                now_millis(),
            )
            .await
            .expect("bound");
        // Then many new connections arrive.
        for index in 0..20 {
            create(&worker, &project, &format!("new-{index}")).await;
        }
        let claimed = worker.claim(6, now_millis()).await.expect("claim");
        assert_eq!(kinds(&claimed), (4, 1, 1), "each kind gets its share");
    }

    /// Issue 24: with every kind backlogged at once (new connections, new bindings,
    /// queue tests, due re-checks and set-ups), a claim of 16 gives each kind at least
    /// its share of 3; before, creates, bindings and tests took 6+6+4 and re-checks none.
    #[tokio::test]
    async fn with_every_kind_backlogged_each_gets_its_share_of_a_claim() {
        use crate::store::{EnhancedLimits, HostEntry, NewEnhancedConnection, NewTask};
        let dir = tempfile::tempdir().expect("temp dir");
        let worker = worker_on(dir.path()).await;
        let project = ProjectId::parse("backlog").expect("project");
        // Ten ACTIVE connections due for a re-check.
        let mut active = Vec::new();
        for index in 0..10 {
            active.push(create(&worker, &project, &format!("active-{index}")).await);
        }
        let claimed = worker.claim(10, now_millis()).await.expect("claim");
        assert_eq!(kinds(&claimed), (10, 0, 0));
        for id in &active {
            let result = active_and_due();
            let recorded = worker
                .store
                .record_check_result(
                    HeldCheck {
                        id: *id,
                        owner: &worker.owner,
                    },
                    &result,
                    now_millis(),
                )
                .await;
            assert!(recorded.expect("recorded"));
        }
        // Ten new bindings, ten queue tests, ten set-ups, twenty new connections.
        let queues: Vec<QueueName> = (0..10)
            .map(|n| QueueName::parse(&format!("q{n}")).expect("queue"))
            .collect();
        worker
            .store
            .associate_queues(
                ConnectionKey::new(&project, active[0]),
                QueuesToBind {
                    queues: &queues,
                    declared: &queues,
                },
                now_millis(),
            )
            .await
            .expect("bound");
        for task_id in 0..10 {
            let task = NewTask {
                task_id: 9_000 + task_id,
                project_id: project.clone(),
                queue_name: "q1".into(),
                address: "127.0.0.1:9".into(),
                now: now_millis(),
                service: None,
                session: None,
                hosts: None,
            };
            worker.store.create_task(&task).await.expect("task");
        }
        let new = NewEnhancedConnection {
            id: ConnectionId::generate(),
            project_id: project.clone(),
            name: "enhanced".into(),
            dest_vpc_id: "vpc-1".into(),
            dest_network_id: "subnet-1".into(),
            routetable_id: None,
            hosts: vec![HostEntry {
                name: "db".into(),
                ip: "127.0.0.1".into(),
            }],
            tags: Tags::parse(&[]).expect("no tags"),
            queues: queues.clone(),
            pools: Vec::new(),
            now: now_millis(),
        };
        let limits = EnhancedLimits {
            connections_per_project: 10,
            bindings_per_connection: 100,
            routes_per_connection: 100,
        };
        let _refusal = worker
            .store
            .create_enhanced(&new, &queues, &limits)
            .await
            .expect("enhanced connection");
        for index in 0..20 {
            create(&worker, &project, &format!("new-{index}")).await;
        }
        let claimed = worker.claim(16, now_millis()).await.expect("claim");
        let count = |kind| claimed.iter().filter(|work| work.kind() == kind).count();
        let counts: Vec<(WorkKind, usize)> = [
            WorkKind::Create,
            WorkKind::Bind,
            WorkKind::QueueTest,
            WorkKind::Recheck,
            WorkKind::Setup,
        ]
        .into_iter()
        .map(|kind| (kind, count(kind)))
        .collect();
        assert_eq!(claimed.len(), 16, "{counts:?}");
        assert!(
            counts.iter().all(|(_, n)| *n >= 3),
            "every kind gets its share: {counts:?}"
        );
    }

    #[tokio::test]
    async fn a_panicking_check_is_recorded_and_gives_its_claim_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let worker = worker_on(dir.path()).await;
        let project = ProjectId::parse("panics").expect("project");
        let id = create(&worker, &project, "doomed").await;
        let claimed = worker.claim(1, now_millis()).await.expect("claim");
        let subject = claimed[0].job(&worker.owner);
        assert!(
            matches!(subject.purpose, Purpose::Create { id: claimed, .. } if claimed == id),
            "{:?}",
            subject.purpose
        );
        // The containment `perform` wraps every check in, around one that panics.
        worker
            .contain_panic(&subject, async { panic!("probe bug") })
            .await;
        let record = worker
            .store
            .get_connection(&project, id)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(record.state, ConnectionState::Failed);
        assert!(
            record.message.contains("internal error"),
            "{}",
            record.message
        );
        assert!(
            worker
                .claim(1, now_millis())
                .await
                .expect("claim")
                .is_empty(),
            "nothing left to claim: the connection has its result"
        );
    }
}
