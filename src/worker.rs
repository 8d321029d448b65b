//! The lifecycle worker: claims work with a lease, checks, records the outcome. Work is
//! new connections (CREATING), new queue bindings (CREATING), and health re-checks of
//! ACTIVE connections that are due; plus purging DELETED connections past retention.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::domain::{ConnectionState, EndpointList, Service, now_millis};
use crate::probe::{CheckReport, Prober};
use crate::rate_limit::CheckBudget;
use crate::read_cache::ReadCache;
use crate::store::{
    BindingResult, CheckResult, Connectivity, DynStore, PendingBinding, PendingCheck,
};
use crate::telemetry::metrics;

/// How often the worker looks for work nobody announced (due re-checks, expired leases).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How many items one claim takes at most.
const CLAIM_BATCH: u32 = 64;
/// How often DELETED connections past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// Back-off after a store error, so a sick database is not hammered.
const ERROR_BACKOFF: Duration = Duration::from_secs(2);
/// Re-check times are spread by up to this share of the interval either way, so that
/// connections created together are not re-checked together forever.
const RECHECK_JITTER: f64 = 0.1;

#[derive(Clone)]
pub struct WorkerSettings {
    pub prober: Prober,
    pub deleted_retention: Duration,
    pub recheck_interval: Duration,
    /// Checks running at once; their dials share the prober's limit of the same size.
    pub max_concurrent_checks: usize,
    /// The projects' check budget: checks of creates and bindings charge the addresses
    /// they dial beyond the one their request paid, without ever being refused.
    /// Re-checks are the server's own schedule and charge nothing.
    pub check_budget: Arc<CheckBudget>,
    /// How long a claim outlives the slowest possible check.
    pub lease_grace: Duration,
    /// Answers to forget when the worker changes a connection.
    pub read_cache: Arc<ReadCache>,
}

impl WorkerSettings {
    /// A claim outlives the slowest possible check with room to write the result.
    fn lease(&self) -> Duration {
        self.prober.worst_case() + self.lease_grace
    }

    /// When an ACTIVE connection checked now is re-checked.
    pub fn next_check_at(&self, now: i64) -> i64 {
        let interval = self.recheck_interval.as_millis() as f64;
        let jitter = rand::thread_rng().gen_range(-RECHECK_JITTER..=RECHECK_JITTER);
        now.saturating_add((interval * (1.0 + jitter)) as i64)
    }
}

/// One unit of claimed work.
enum Work {
    Create(PendingCheck),
    Bind(PendingBinding),
    Recheck(PendingCheck),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkKind {
    Create,
    Bind,
    Recheck,
}

impl WorkKind {
    fn label(self) -> &'static str {
        match self {
            WorkKind::Create => "create",
            WorkKind::Bind => "bind",
            WorkKind::Recheck => "recheck",
        }
    }
}

/// What a piece of work is about, kept aside in case its check panics.
struct Subject {
    kind: WorkKind,
    connection: PendingCheck,
    peer_id: Option<String>,
}

impl Subject {
    fn of(work: &Work) -> Self {
        match work {
            Work::Create(pending) => Self {
                kind: WorkKind::Create,
                connection: pending.clone(),
                peer_id: None,
            },
            Work::Bind(binding) => Self {
                kind: WorkKind::Bind,
                connection: binding.check.clone(),
                peer_id: Some(binding.peer_id.clone()),
            },
            Work::Recheck(pending) => Self {
                kind: WorkKind::Recheck,
                connection: pending.clone(),
                peer_id: None,
            },
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
}

impl LifecycleWorker {
    pub fn new(store: DynStore, settings: WorkerSettings, wake: Arc<Notify>) -> Self {
        Self {
            store,
            settings,
            owner: uuid::Uuid::new_v4().to_string(),
            wake,
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
        while let Ok(batch) = self.claim(CLAIM_BATCH, started).await {
            if batch.is_empty() {
                break;
            }
            done += batch.len();
            futures::future::join_all(batch.into_iter().map(|work| self.perform(work))).await;
        }
        self.purge().await;
        done
    }

    /// Claims up to `limit` items, each kind (new connections, bindings, re-checks due
    /// by `rechecks_due_by`) first up to a third of them, so a steady stream of creates
    /// cannot starve bindings and re-checks; what one kind leaves is offered to the others.
    async fn claim(&self, limit: u32, rechecks_due_by: i64) -> Result<Vec<Work>, ()> {
        let share = limit.div_ceil(3).max(1);
        let mut work = Vec::new();
        for (kind, cap) in [
            (WorkKind::Create, share),
            (WorkKind::Bind, share),
            (WorkKind::Recheck, limit),
            (WorkKind::Create, limit),
            (WorkKind::Bind, limit),
        ] {
            let left = limit.saturating_sub(u32::try_from(work.len()).unwrap_or(limit));
            let take = cap.min(left);
            if take > 0 {
                work.extend(self.claim_kind(kind, take, rechecks_due_by).await?);
            }
        }
        Ok(work)
    }

    async fn claim_kind(
        &self,
        kind: WorkKind,
        limit: u32,
        rechecks_due_by: i64,
    ) -> Result<Vec<Work>, ()> {
        let lease = self.settings.lease();
        let now = now_millis();
        let log = |error: crate::store::StoreError| warn!(error = %error, "claiming work failed");
        let store = &self.store;
        Ok(match kind {
            WorkKind::Create => store
                .claim_pending_checks(&self.owner, lease, limit, now)
                .await
                .map_err(log)?
                .into_iter()
                .map(Work::Create)
                .collect(),
            WorkKind::Bind => store
                .claim_pending_bindings(&self.owner, lease, limit, now)
                .await
                .map_err(log)?
                .into_iter()
                .map(Work::Bind)
                .collect(),
            WorkKind::Recheck => store
                .claim_due_rechecks(&self.owner, lease, limit, rechecks_due_by)
                .await
                .map_err(log)?
                .into_iter()
                .map(Work::Recheck)
                .collect(),
        })
    }

    /// Performs one claimed piece of work. A check that panics is contained here: it is
    /// logged with its connection, counted, and its claim given back with a result that
    /// says so, instead of vanishing silently and holding its lease until it expires.
    async fn perform(&self, work: Work) {
        let subject = Subject::of(&work);
        self.contain_panic(&subject, self.perform_unguarded(work))
            .await;
    }

    async fn contain_panic(&self, subject: &Subject, check: impl Future<Output = ()>) {
        let outcome = std::panic::AssertUnwindSafe(check).catch_unwind().await;
        if let Err(panic) = outcome {
            self.after_panic(subject, panic_message(panic.as_ref()))
                .await;
        }
    }

    async fn after_panic(&self, subject: &Subject, panic: String) {
        tracing::error!(
            connection.id = %subject.connection.id,
            project.id = %subject.connection.project_id,
            kind = subject.kind.label(),
            panic = %panic,
            "a check panicked; its claim is given back"
        );
        metrics::record_check_panic(subject.kind.label());
        let now = now_millis();
        let message = format!(
            "the check stopped on an internal error (logged with connection id {}); \
             reactivate the connection to check it again",
            subject.connection.id
        );
        let recorded = match (&subject.kind, &subject.peer_id) {
            (WorkKind::Bind, Some(peer_id)) => {
                let result = BindingResult {
                    active: false,
                    err_msg: message,
                    failure_reason: None,
                };
                self.store
                    .record_binding_result(peer_id, &self.owner, &result, now)
                    .await
            }
            (WorkKind::Recheck, _) => {
                // Nothing was learnt about the destination: keep its connectivity.
                self.store
                    .release_recheck(
                        subject.connection.id,
                        &self.owner,
                        self.settings.next_check_at(now),
                    )
                    .await
            }
            _ => {
                let result = CheckResult {
                    state: ConnectionState::Failed,
                    process: 1.0,
                    connection_url: String::new(),
                    message,
                    failure_reason: None,
                    report: "{}".into(),
                    next_check_at: None,
                };
                self.store
                    .record_check_result(subject.connection.id, &self.owner, &result, now)
                    .await
            }
        };
        self.settings
            .read_cache
            .invalidate(&subject.connection.project_id);
        if let Err(error) = recorded {
            warn!(connection.id = %subject.connection.id, error = %error,
                  "giving back the claim of a panicked check failed; it lapses with its lease");
        }
    }

    async fn perform_unguarded(&self, work: Work) {
        match work {
            Work::Create(pending) => self.check_new(pending).await,
            Work::Bind(binding) => self.check_binding(binding).await,
            Work::Recheck(pending) => self.recheck(pending).await,
        }
    }

    /// Runs the check of a connection's destination, or explains why it cannot.
    async fn run_check(&self, pending: &PendingCheck) -> Result<(CheckReport, String), String> {
        let endpoints = pending.endpoints().map_err(|error| {
            warn!(error = %error, "stored url no longer parses");
            "the stored url is invalid; delete and create the connection again".to_owned()
        })?;
        let report = self
            .charged_check(
                &pending.project_id,
                pending.service,
                &endpoints,
                |process| self.record_progress(pending, process),
            )
            .await;
        Ok((report, endpoints.normalized()))
    }

    /// Resolves, charges the project for the further addresses, then dials.
    async fn charged_check<F, Fut>(
        &self,
        project: &str,
        service: Service,
        endpoints: &EndpointList,
        on_progress: F,
    ) -> CheckReport
    where
        F: FnMut(f64) -> Fut,
        Fut: Future<Output = ()>,
    {
        // The request that made this work paid for one dial; the rest are charged as
        // each endpoint resolves.
        let first_dial_paid = std::sync::atomic::AtomicBool::new(true);
        let charge = |dials: usize| {
            let paid =
                dials > 0 && first_dial_paid.swap(false, std::sync::atomic::Ordering::Relaxed);
            let paid = usize::from(paid);
            let extra = u32::try_from(dials.saturating_sub(paid)).unwrap_or(u32::MAX);
            self.settings.check_budget.drain(project, extra);
        };
        self.settings
            .prober
            .check_endpoints_charged(service, endpoints, charge, on_progress)
            .await
    }

    async fn check_new(&self, pending: PendingCheck) {
        let span = info_span!(
            "check",
            connection.id = %pending.id,
            project.id = %pending.project_id,
            service = %pending.service,
        );
        async {
            let started = std::time::Instant::now();
            let result = match self.run_check(&pending).await {
                Ok((report, normalized)) => {
                    metrics::record_check("create", &report, started.elapsed());
                    check_result(&report, normalized, &self.settings, now_millis())
                }
                Err(message) => CheckResult {
                    state: ConnectionState::Failed,
                    process: 1.0,
                    connection_url: String::new(),
                    message,
                    failure_reason: None,
                    report: "{}".into(),
                    next_check_at: None,
                },
            };
            let recorded = self
                .retrying(|| {
                    self.store
                        .record_check_result(pending.id, &self.owner, &result, now_millis())
                })
                .await;
            self.settings.read_cache.invalidate(&pending.project_id);
            match recorded {
                Ok(true) => info!(
                    state = %result.state,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "connection checked"
                ),
                Ok(false) => {
                    info!("claim lost before the result was written; another worker owns it")
                }
                // The lease expires and the check runs again: results are idempotent.
                Err(error) => warn!(error = %error, "recording a check result failed"),
            }
        }
        .instrument(span)
        .await;
    }

    async fn check_binding(&self, binding: PendingBinding) {
        let span = info_span!(
            "bind",
            connection.id = %binding.check.id,
            queue = %binding.queue_name,
            peer.id = %binding.peer_id,
        );
        async {
            let started = std::time::Instant::now();
            // A binding's check is its own, so it reports no connection progress.
            let outcome = match binding.check.endpoints() {
                Ok(endpoints) => {
                    let report = self
                        .charged_check(
                            &binding.check.project_id,
                            binding.check.service,
                            &endpoints,
                            |_| async {},
                        )
                        .await;
                    metrics::record_check("bind", &report, started.elapsed());
                    Ok(report)
                }
                Err(error) => Err(error.to_string()),
            };
            let result = match outcome {
                Ok(report) if report.any_reachable() => BindingResult {
                    active: true,
                    err_msg: String::new(),
                    failure_reason: None,
                },
                Ok(report) => BindingResult {
                    active: false,
                    err_msg: format!("queue {}: {}", binding.queue_name, report.failure_summary()),
                    failure_reason: report.failure_reason().map(|r| r.as_str().to_owned()),
                },
                Err(message) => BindingResult {
                    active: false,
                    err_msg: message,
                    failure_reason: None,
                },
            };
            let recorded = self
                .retrying(|| {
                    self.store.record_binding_result(
                        &binding.peer_id,
                        &self.owner,
                        &result,
                        now_millis(),
                    )
                })
                .await;
            self.settings
                .read_cache
                .invalidate(&binding.check.project_id);
            match recorded {
                Ok(true) => info!(active = result.active, "queue binding checked"),
                Ok(false) => info!("binding claim lost or binding removed meanwhile"),
                Err(error) => warn!(error = %error, "recording a binding result failed"),
            }
        }
        .instrument(span)
        .await;
    }

    async fn recheck(&self, pending: PendingCheck) {
        let span = info_span!("recheck", connection.id = %pending.id);
        async {
            let started = std::time::Instant::now();
            let report = match pending.endpoints() {
                Ok(endpoints) => {
                    let report = self
                        .settings
                        .prober
                        .check_endpoints(pending.service, &endpoints, |_| async {})
                        .await;
                    metrics::record_check("recheck", &report, started.elapsed());
                    report
                }
                Err(error) => {
                    warn!(error = %error, "stored url no longer parses");
                    CheckReport::default()
                }
            };
            let now = now_millis();
            let connectivity = Connectivity {
                reachable: report.any_reachable(),
                report: serde_json::to_string(&report).unwrap_or_else(|_| "{}".into()),
                next_check_at: Some(self.settings.next_check_at(now)),
            };
            let recorded = self
                .retrying(|| {
                    self.store.record_connectivity(
                        pending.id,
                        Some(&self.owner),
                        &connectivity,
                        now,
                    )
                })
                .await;
            self.settings.read_cache.invalidate(&pending.project_id);
            match recorded {
                Ok(true) => info!(connectivity = connectivity.label(), "connection re-checked"),
                Ok(false) => info!("re-check claim lost, or the connection changed meanwhile"),
                Err(error) => warn!(error = %error, "recording a re-check failed"),
            }
        }
        .instrument(span)
        .await;
    }

    /// Writes a finished check's result, retrying while the store is unavailable (e.g.
    /// a database restart) for as long as the claim lasts: the check itself need not
    /// run again.
    async fn retrying<T, F, Fut>(&self, mut write: F) -> crate::store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = crate::store::Result<T>>,
    {
        let give_up = tokio::time::Instant::now() + self.settings.lease_grace;
        loop {
            match write().await {
                Err(crate::store::StoreError::Database(error))
                    if tokio::time::Instant::now() + ERROR_BACKOFF < give_up =>
                {
                    warn!(error = %error, "writing a check result failed; retrying");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn record_progress(&self, pending: &PendingCheck, process: f64) {
        let recorded = self
            .store
            .record_progress(pending.id, &self.owner, process, now_millis())
            .await;
        self.settings.read_cache.invalidate(&pending.project_id);
        if let Err(error) = recorded {
            warn!(connection.id = %pending.id, error = %error, "recording progress failed");
        }
    }

    async fn purge(&self) {
        let retention =
            i64::try_from(self.settings.deleted_retention.as_millis()).unwrap_or(i64::MAX);
        match self
            .store
            .purge_deleted(now_millis().saturating_sub(retention))
            .await
        {
            Ok(0) => {}
            Ok(purged) => {
                self.settings.read_cache.invalidate_all();
                info!(purged, "purged deleted connections past retention");
            }
            Err(error) => warn!(error = %error, "purging deleted connections failed"),
        }
    }
}

/// Turns a check report into the connection's new state: ACTIVE if any address answered.
pub fn check_result(
    report: &CheckReport,
    normalized_url: String,
    settings: &WorkerSettings,
    now: i64,
) -> CheckResult {
    let report_json = serde_json::to_string(report).unwrap_or_else(|_| "{}".into());
    if report.any_reachable() {
        CheckResult {
            state: ConnectionState::Active,
            process: 1.0,
            connection_url: normalized_url,
            message: String::new(),
            failure_reason: None,
            report: report_json,
            next_check_at: Some(settings.next_check_at(now)),
        }
    } else {
        CheckResult {
            state: ConnectionState::Failed,
            process: 1.0,
            connection_url: String::new(),
            message: report.failure_summary(),
            failure_reason: report.failure_reason().map(|r| r.as_str().to_owned()),
            report: report_json,
            next_check_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionId, ProjectId, QueueName, Tags};
    use crate::probe::{OutboundPolicy, ProbeMode, Resolver, Simulator};
    use crate::store::{NewConnection, SqliteStore};

    async fn worker_on(dir: &std::path::Path) -> LifecycleWorker {
        let store: DynStore = Arc::new(SqliteStore::open(dir).await.expect("store"));
        let settings = WorkerSettings {
            prober: Prober::new(
                ProbeMode::Simulate,
                Resolver::System,
                Duration::from_secs(1),
                OutboundPolicy::default(),
                Simulator::default(),
                8,
            ),
            deleted_retention: Duration::from_secs(60),
            recheck_interval: Duration::from_secs(300),
            max_concurrent_checks: 8,
            check_budget: Arc::new(CheckBudget::per_minute(600)),
            lease_grace: Duration::from_secs(5),
            read_cache: Arc::new(ReadCache::new(Duration::ZERO)),
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
            create_time: now_millis(),
        };
        worker
            .store
            .create_connection(&new, 1_000)
            .await
            .expect("created");
        new.id
    }

    fn kinds(work: &[Work]) -> (usize, usize, usize) {
        let count = |kind| {
            work.iter()
                .filter(|work| Subject::of(work).kind == kind)
                .count()
        };
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
        let result = CheckResult {
            state: ConnectionState::Active,
            process: 1.0,
            connection_url: "127.0.0.1:3306".into(),
            message: String::new(),
            failure_reason: None,
            report: "{}".into(),
            next_check_at: Some(now_millis() - 1),
        };
        let recorded = worker
            .store
            .record_check_result(active, &worker.owner, &result, now_millis())
            .await;
        assert!(recorded.expect("recorded"));
        let queue = QueueName::parse("q1").expect("queue");
        worker
            .store
            .associate_queues(&project, active, &[queue], now_millis())
            .await
            .expect("bound");
        // Then many new connections arrive.
        for index in 0..20 {
            create(&worker, &project, &format!("new-{index}")).await;
        }
        let claimed = worker.claim(6, now_millis()).await.expect("claim");
        assert_eq!(kinds(&claimed), (4, 1, 1), "each kind gets its share");
    }

    #[tokio::test]
    async fn a_panicking_check_is_recorded_and_gives_its_claim_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let worker = worker_on(dir.path()).await;
        let project = ProjectId::parse("panics").expect("project");
        let id = create(&worker, &project, "doomed").await;
        let claimed = worker.claim(1, now_millis()).await.expect("claim");
        let subject = Subject::of(&claimed[0]);
        assert_eq!(subject.connection.id, id);
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
