//! The one check pipeline, for every check dsconn runs: the worker's (a new connection, a
//! queue binding, a health re-check) and the API's tests. A check is: probe, through a
//! [`Checker`] (where the check runs: today only in this process), then the pure
//! [`outcome`] (report and purpose -> what to record), then [`CheckPipeline::record`],
//! which writes it (retrying claimed work while its lease lasts) and tells the API what
//! changed. Metrics and logs are written here too, once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use tracing::{Instrument, Span, info, info_span, warn};

use crate::domain::{ConnectionId, ConnectionState, EndpointList, ProjectId, Service, now_millis};
use crate::probe::{CheckPlan, CheckReport, Prober};
use crate::rate_limit::{CheckBudget, CheckRefusal};
use crate::store::{
    BindingResult, CheckResult, Connectivity, DynStore, PendingBinding, PendingCheck, StoreError,
};
use crate::telemetry::metrics;

/// Wait between attempts to write a result while the store is unavailable.
const WRITE_RETRY_BACKOFF: Duration = Duration::from_secs(2);
/// Re-check times are spread by up to this share of the interval either way, so that
/// connections created together are not re-checked together forever.
const RECHECK_JITTER: f64 = 0.1;
/// What a connection whose stored url no longer parses is told.
const INVALID_STORED_URL: &str =
    "the stored url is invalid; delete and create the connection again";

/// What the pipeline changed, for whoever caches answers (the API's read cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed<'a> {
    /// The answers about this project's connections.
    Project(&'a str),
    /// Any project's (e.g. after a purge).
    Everything,
}

/// Called after every write that changes what the API answers.
pub type OnChange = Arc<dyn Fn(Changed<'_>) + Send + Sync>;

/// How a check pays the project's check budget for the addresses it dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charging {
    /// The server's own schedule (re-checks): nothing.
    Free,
    /// Accepted work whose request paid one dial (a create, a binding): each further
    /// address is charged as its endpoint resolves, as much as is left, never refused.
    Drain,
    /// A check inside a request: one unit before the lookups, the further addresses
    /// after them, refused (429) when the project has not that many left.
    Upfront,
}

/// One check, as a [`Checker`] gets it: everything needed to run it anywhere.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub project: String,
    pub service: Service,
    pub endpoints: EndpointList,
    /// The queue the check is for (a binding's); None for the connection itself.
    /// Where a check runs may depend on it.
    pub queue: Option<String>,
    pub charging: Charging,
}

/// Told the share (0.0-1.0) of a check's endpoints done, as each finishes.
#[async_trait]
pub trait Progress: Send + Sync {
    async fn report(&self, share: f64);
}

/// For checks whose progress nobody reads.
pub struct NoProgress;

#[async_trait]
impl Progress for NoProgress {
    async fn report(&self, _share: f64) {}
}

/// Where and how a check's probing runs. [`InProcess`] is the server's own prober; a
/// remote agent in a queue's network is another implementation of the same seam.
#[async_trait]
pub trait Checker: Send + Sync {
    /// The longest one check can take, from the call to its report: claims last this
    /// long plus a grace.
    fn worst_case(&self) -> Duration;

    /// Runs the check and reports per address. Err only when the budget refuses a
    /// [`Charging::Upfront`] check (nothing was dialled then).
    async fn check(
        &self,
        request: &CheckRequest,
        progress: &dyn Progress,
    ) -> Result<CheckReport, CheckRefusal>;
}

/// Checks from this process, charging the project's budget as the request says.
pub struct InProcess {
    pub prober: Prober,
    pub budget: Arc<CheckBudget>,
}

/// What a check costs beyond the one unit its request paid: the further addresses.
pub fn extra_dials(plan: &CheckPlan) -> u32 {
    u32::try_from(plan.dials().saturating_sub(1)).unwrap_or(u32::MAX)
}

#[async_trait]
impl Checker for InProcess {
    fn worst_case(&self) -> Duration {
        self.prober.worst_case()
    }

    async fn check(
        &self,
        request: &CheckRequest,
        progress: &dyn Progress,
    ) -> Result<CheckReport, CheckRefusal> {
        let (service, endpoints) = (request.service, &request.endpoints);
        let on_progress = |share| progress.report(share);
        Ok(match request.charging {
            Charging::Free => {
                self.prober
                    .check_endpoints(service, endpoints, on_progress)
                    .await
            }
            Charging::Drain => {
                // The request that made this work paid for one dial; the rest are
                // charged as each endpoint resolves.
                let first_dial_paid = AtomicBool::new(true);
                let charge = |dials: usize| {
                    let paid = dials > 0 && first_dial_paid.swap(false, Ordering::Relaxed);
                    let extra = dials.saturating_sub(usize::from(paid));
                    self.budget
                        .drain(&request.project, u32::try_from(extra).unwrap_or(u32::MAX));
                };
                self.prober
                    .check_endpoints_charged(service, endpoints, charge, on_progress)
                    .await
            }
            Charging::Upfront => {
                self.budget.spend(&request.project, 1)?;
                let plan = self.prober.plan(service, endpoints).await;
                self.budget.spend(&request.project, extra_dials(&plan))?;
                self.prober.run(plan, on_progress).await
            }
        })
    }
}

/// What a check is for, which decides what its result changes. The worker's kinds carry
/// the claim (`owner`) that their write must still hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A new (or reactivated) connection in CREATING.
    Create { id: ConnectionId, owner: String },
    /// A queue binding in CREATING; its check is its own.
    Bind {
        id: ConnectionId,
        peer_id: String,
        queue: String,
        owner: String,
    },
    /// The health re-check of an ACTIVE connection.
    Recheck { id: ConnectionId, owner: String },
    /// A test of a stored connection on request: an ACTIVE one takes the result.
    Test { id: ConnectionId },
    /// A test of a definition before it is saved: nothing is recorded.
    TestDefinition,
}

impl Purpose {
    /// The `kind` label of metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Purpose::Create { .. } => "create",
            Purpose::Bind { .. } => "bind",
            Purpose::Recheck { .. } => "recheck",
            Purpose::Test { .. } | Purpose::TestDefinition => "test",
        }
    }

    pub fn charging(&self) -> Charging {
        match self {
            Purpose::Create { .. } | Purpose::Bind { .. } => Charging::Drain,
            Purpose::Recheck { .. } => Charging::Free,
            Purpose::Test { .. } | Purpose::TestDefinition => Charging::Upfront,
        }
    }

    /// The claim a write must hold: work the worker claimed; None for requests.
    fn owner(&self) -> Option<&str> {
        match self {
            Purpose::Create { owner, .. }
            | Purpose::Bind { owner, .. }
            | Purpose::Recheck { owner, .. } => Some(owner),
            Purpose::Test { .. } | Purpose::TestDefinition => None,
        }
    }

    fn queue(&self) -> Option<String> {
        match self {
            Purpose::Bind { queue, .. } => Some(queue.clone()),
            _ => None,
        }
    }
}

/// One check to run through the pipeline.
#[derive(Debug, Clone)]
pub struct Job {
    pub purpose: Purpose,
    pub project: String,
    pub service: Service,
    /// The endpoints to check, or why the stored url no longer parses.
    pub endpoints: Result<EndpointList, String>,
}

impl Job {
    pub fn create(pending: &PendingCheck, owner: &str) -> Self {
        Self::claimed(
            pending,
            Purpose::Create {
                id: pending.id,
                owner: owner.to_owned(),
            },
        )
    }

    pub fn bind(binding: &PendingBinding, owner: &str) -> Self {
        Self::claimed(
            &binding.check,
            Purpose::Bind {
                id: binding.check.id,
                peer_id: binding.peer_id.clone(),
                queue: binding.queue_name.clone(),
                owner: owner.to_owned(),
            },
        )
    }

    pub fn recheck(pending: &PendingCheck, owner: &str) -> Self {
        Self::claimed(
            pending,
            Purpose::Recheck {
                id: pending.id,
                owner: owner.to_owned(),
            },
        )
    }

    fn claimed(pending: &PendingCheck, purpose: Purpose) -> Self {
        Self {
            purpose,
            project: pending.project_id.clone(),
            service: pending.service,
            endpoints: pending.endpoints().map_err(|error| error.to_string()),
        }
    }

    /// A stored connection tested on request.
    pub fn test(
        id: ConnectionId,
        project: &ProjectId,
        service: Service,
        endpoints: EndpointList,
    ) -> Self {
        Self {
            purpose: Purpose::Test { id },
            project: project.as_str().to_owned(),
            service,
            endpoints: Ok(endpoints),
        }
    }

    /// A definition tested before it is saved.
    pub fn test_definition(project: &ProjectId, service: Service, endpoints: EndpointList) -> Self {
        Self {
            purpose: Purpose::TestDefinition,
            project: project.as_str().to_owned(),
            service,
            endpoints: Ok(endpoints),
        }
    }

    /// The span the worker's checks log in; requests have their own.
    fn span(&self) -> Span {
        match &self.purpose {
            Purpose::Create { id, .. } => info_span!(
                "check",
                connection.id = %id,
                project.id = %self.project,
                service = %self.service,
            ),
            Purpose::Bind {
                id, peer_id, queue, ..
            } => info_span!("bind", connection.id = %id, queue = %queue, peer.id = %peer_id),
            Purpose::Recheck { id, .. } => info_span!("recheck", connection.id = %id),
            Purpose::Test { .. } | Purpose::TestDefinition => Span::none(),
        }
    }
}

/// A write the pipeline makes, with the claim it must hold.
#[derive(Debug, Clone)]
pub enum Record {
    /// A CREATING connection's end: ACTIVE or FAILED.
    Check {
        id: ConnectionId,
        owner: String,
        result: CheckResult,
    },
    /// A binding's end.
    Binding {
        peer_id: String,
        owner: String,
        result: BindingResult,
    },
    /// An ACTIVE connection's connectivity (and its bindings'); without an owner it is
    /// written whatever holds the claim.
    Connectivity {
        id: ConnectionId,
        owner: Option<String>,
        connectivity: Connectivity,
    },
    /// A claimed re-check given back without a result: nothing was learnt.
    ReleaseRecheck {
        id: ConnectionId,
        owner: String,
        next_check_at: i64,
    },
    Nothing,
}

/// Turns a check report into the connection's new state: ACTIVE if any address answered.
pub fn check_result(
    report: &CheckReport,
    normalized_url: String,
    next_check_at: i64,
) -> CheckResult {
    let report_json = report_json(report);
    if report.any_reachable() {
        CheckResult {
            state: ConnectionState::Active,
            process: 1.0,
            connection_url: normalized_url,
            message: String::new(),
            failure_reason: None,
            report: report_json,
            next_check_at: Some(next_check_at),
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

fn report_json(report: &CheckReport) -> String {
    serde_json::to_string(report).unwrap_or_else(|_| "{}".into())
}

/// A FAILED result that carries no report.
fn failed(message: String) -> CheckResult {
    CheckResult {
        state: ConnectionState::Failed,
        process: 1.0,
        connection_url: String::new(),
        message,
        failure_reason: None,
        report: "{}".into(),
        next_check_at: None,
    }
}

/// What a check's end records, by its purpose: `checked` is the report with the
/// endpoints it covered, or why the stored url could not be checked; `next_check_at` is
/// when an ACTIVE connection is due again. Pure: no clock, no store.
pub fn outcome(
    purpose: &Purpose,
    checked: Result<(&CheckReport, &EndpointList), &str>,
    next_check_at: i64,
) -> Record {
    match purpose {
        Purpose::Create { id, owner } => Record::Check {
            id: *id,
            owner: owner.clone(),
            result: match checked {
                Ok((report, endpoints)) => {
                    check_result(report, endpoints.normalized(), next_check_at)
                }
                Err(_) => failed(INVALID_STORED_URL.to_owned()),
            },
        },
        Purpose::Bind {
            peer_id,
            queue,
            owner,
            ..
        } => Record::Binding {
            peer_id: peer_id.clone(),
            owner: owner.clone(),
            result: match checked {
                Ok((report, _)) if report.any_reachable() => BindingResult {
                    active: true,
                    err_msg: String::new(),
                    failure_reason: None,
                },
                Ok((report, _)) => BindingResult {
                    active: false,
                    err_msg: format!("queue {queue}: {}", report.failure_summary()),
                    failure_reason: report.failure_reason().map(|r| r.as_str().to_owned()),
                },
                Err(message) => BindingResult {
                    active: false,
                    err_msg: message.to_owned(),
                    failure_reason: None,
                },
            },
        },
        Purpose::Recheck { id, owner } => {
            // A url that no longer parses reaches nothing.
            let nothing = CheckReport::default();
            let report = checked.map_or(&nothing, |(report, _)| report);
            Record::Connectivity {
                id: *id,
                owner: Some(owner.clone()),
                connectivity: Connectivity {
                    reachable: report.any_reachable(),
                    report: report_json(report),
                    next_check_at: Some(next_check_at),
                },
            }
        }
        Purpose::Test { id } => match checked {
            Ok((report, _)) => Record::Connectivity {
                id: *id,
                owner: None,
                connectivity: Connectivity {
                    reachable: report.any_reachable(),
                    report: report_json(report),
                    // A test leaves the schedule as it is.
                    next_check_at: None,
                },
            },
            Err(_) => Record::Nothing,
        },
        Purpose::TestDefinition => Record::Nothing,
    }
}

/// What a check that panicked records, so its claim is given back at once instead of
/// lapsing with its lease. Pure.
pub fn after_panic(purpose: &Purpose, next_check_at: i64) -> Record {
    let message = |id: &ConnectionId| {
        format!(
            "the check stopped on an internal error (logged with connection id {id}); \
             reactivate the connection to check it again"
        )
    };
    match purpose {
        Purpose::Create { id, owner } => Record::Check {
            id: *id,
            owner: owner.clone(),
            result: failed(message(id)),
        },
        Purpose::Bind {
            id, peer_id, owner, ..
        } => Record::Binding {
            peer_id: peer_id.clone(),
            owner: owner.clone(),
            result: BindingResult {
                active: false,
                err_msg: message(id),
                failure_reason: None,
            },
        },
        // Nothing was learnt about the destination: keep its connectivity.
        Purpose::Recheck { id, owner } => Record::ReleaseRecheck {
            id: *id,
            owner: owner.clone(),
            next_check_at,
        },
        Purpose::Test { .. } | Purpose::TestDefinition => Record::Nothing,
    }
}

/// The end of a check run through the pipeline.
#[derive(Debug)]
pub struct Finished {
    pub report: CheckReport,
    /// Whether the record was written: false if the claim was lost meanwhile or there
    /// was nothing to write.
    pub recorded: crate::store::Result<bool>,
}

/// How the pipeline schedules and retries.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    /// How often an ACTIVE connection is re-checked (spread by a jitter).
    pub recheck_interval: Duration,
    /// How long a claim outlives the slowest possible check: the time a claimed
    /// result's write is retried for.
    pub lease_grace: Duration,
}

/// Probe -> outcome -> record, for every kind of check.
pub struct CheckPipeline {
    store: DynStore,
    checker: Arc<dyn Checker>,
    on_change: OnChange,
    settings: PipelineSettings,
}

impl CheckPipeline {
    pub fn new(
        store: DynStore,
        checker: Arc<dyn Checker>,
        on_change: OnChange,
        settings: PipelineSettings,
    ) -> Self {
        Self {
            store,
            checker,
            on_change,
            settings,
        }
    }

    /// How long a claim lasts: the slowest possible check with room to write the result.
    pub fn lease(&self) -> Duration {
        self.checker.worst_case() + self.settings.lease_grace
    }

    /// When an ACTIVE connection checked now is re-checked.
    pub fn next_check_at(&self, now: i64) -> i64 {
        let interval = self.settings.recheck_interval.as_millis() as f64;
        let jitter = rand::thread_rng().gen_range(-RECHECK_JITTER..=RECHECK_JITTER);
        now.saturating_add((interval * (1.0 + jitter)) as i64)
    }

    /// Tells the API that answers changed.
    pub fn changed(&self, what: Changed<'_>) {
        (self.on_change)(what);
    }

    /// Runs one check to its end. Err only when a request's check is refused by the
    /// budget; everything after the probe (its record included) is in [`Finished`].
    pub async fn run(&self, job: Job) -> Result<Finished, CheckRefusal> {
        let span = job.span();
        self.run_in_span(job).instrument(span).await
    }

    async fn run_in_span(&self, job: Job) -> Result<Finished, CheckRefusal> {
        let started = Instant::now();
        let checked = match &job.endpoints {
            Ok(endpoints) => Ok((self.probe(&job, endpoints, started).await?, endpoints)),
            Err(error) => {
                if matches!(
                    job.purpose,
                    Purpose::Create { .. } | Purpose::Recheck { .. }
                ) {
                    warn!(error = %error, "stored url no longer parses");
                }
                Err(error.as_str())
            }
        };
        let record = outcome(
            &job.purpose,
            checked
                .as_ref()
                .map(|(report, endpoints)| (report, *endpoints))
                .map_err(|error| *error),
            self.next_check_at(now_millis()),
        );
        let retry_for = match job.purpose.owner() {
            Some(_) => self.settings.lease_grace,
            None => Duration::ZERO,
        };
        let recorded = self.record(&job.project, &record, retry_for).await;
        log_recorded(&record, &recorded, started);
        Ok(Finished {
            report: checked.map(|(report, _)| report).unwrap_or_default(),
            recorded,
        })
    }

    /// The probing step, through the checker, counted in the metrics.
    async fn probe(
        &self,
        job: &Job,
        endpoints: &EndpointList,
        started: Instant,
    ) -> Result<CheckReport, CheckRefusal> {
        let request = CheckRequest {
            project: job.project.clone(),
            service: job.service,
            endpoints: endpoints.clone(),
            queue: job.purpose.queue(),
            charging: job.purpose.charging(),
        };
        let report = match &job.purpose {
            // Only a connection's own check reports progress.
            Purpose::Create { id, owner } => {
                let progress = StoreProgress {
                    pipeline: self,
                    id: *id,
                    owner,
                    project: &job.project,
                };
                self.checker.check(&request, &progress).await?
            }
            _ => self.checker.check(&request, &NoProgress).await?,
        };
        metrics::record_check(job.purpose.label(), &report, started.elapsed());
        Ok(report)
    }

    /// Writes `record`, retrying while the store is unavailable (e.g. a database
    /// restart) for up to `retry_for`, so a finished check need not run again; then
    /// tells the API the project changed. False if the claim was lost meanwhile.
    pub async fn record(
        &self,
        project: &str,
        record: &Record,
        retry_for: Duration,
    ) -> crate::store::Result<bool> {
        let store = &self.store;
        let recorded = match record {
            Record::Nothing => return Ok(false),
            Record::Check { id, owner, result } => {
                retrying(retry_for, || {
                    store.record_check_result(*id, owner, result, now_millis())
                })
                .await
            }
            Record::Binding {
                peer_id,
                owner,
                result,
            } => {
                retrying(retry_for, || {
                    store.record_binding_result(peer_id, owner, result, now_millis())
                })
                .await
            }
            Record::Connectivity {
                id,
                owner,
                connectivity,
            } => {
                retrying(retry_for, || {
                    store.record_connectivity(*id, owner.as_deref(), connectivity, now_millis())
                })
                .await
            }
            Record::ReleaseRecheck {
                id,
                owner,
                next_check_at,
            } => {
                retrying(retry_for, || {
                    store.release_recheck(*id, owner, *next_check_at)
                })
                .await
            }
        };
        self.changed(Changed::Project(project));
        recorded
    }
}

/// Writes a claimed connection check's progress as its endpoints finish.
struct StoreProgress<'a> {
    pipeline: &'a CheckPipeline,
    id: ConnectionId,
    owner: &'a str,
    project: &'a str,
}

#[async_trait]
impl Progress for StoreProgress<'_> {
    async fn report(&self, share: f64) {
        let recorded = self
            .pipeline
            .store
            .record_progress(self.id, self.owner, share, now_millis())
            .await;
        self.pipeline.changed(Changed::Project(self.project));
        if let Err(error) = recorded {
            warn!(connection.id = %self.id, error = %error, "recording progress failed");
        }
    }
}

/// Runs `write` until it succeeds, fails for a reason other than the database, or the
/// next attempt would start after `retry_for` from now.
async fn retrying<T, F, Fut>(retry_for: Duration, mut write: F) -> crate::store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::store::Result<T>>,
{
    let give_up = tokio::time::Instant::now() + retry_for;
    loop {
        match write().await {
            Err(StoreError::Database(error))
                if tokio::time::Instant::now() + WRITE_RETRY_BACKOFF < give_up =>
            {
                warn!(error = %error, "writing a check result failed; retrying");
                tokio::time::sleep(WRITE_RETRY_BACKOFF).await;
            }
            outcome => return outcome,
        }
    }
}

/// The worker's log line for a written result (requests answer instead).
fn log_recorded(record: &Record, recorded: &crate::store::Result<bool>, started: Instant) {
    match (record, recorded) {
        (Record::Check { result, .. }, Ok(true)) => info!(
            state = %result.state,
            duration_ms = started.elapsed().as_millis() as u64,
            "connection checked"
        ),
        (Record::Check { .. }, Ok(false)) => {
            info!("claim lost before the result was written; another worker owns it")
        }
        // The lease expires and the check runs again: results are idempotent.
        (Record::Check { .. }, Err(error)) => {
            warn!(error = %error, "recording a check result failed")
        }
        (Record::Binding { result, .. }, Ok(true)) => {
            info!(active = result.active, "queue binding checked")
        }
        (Record::Binding { .. }, Ok(false)) => {
            info!("binding claim lost or binding removed meanwhile")
        }
        (Record::Binding { .. }, Err(error)) => {
            warn!(error = %error, "recording a binding result failed")
        }
        (
            Record::Connectivity {
                owner: Some(_),
                connectivity,
                ..
            },
            Ok(true),
        ) => info!(connectivity = connectivity.label(), "connection re-checked"),
        (Record::Connectivity { owner: Some(_), .. }, Ok(false)) => {
            info!("re-check claim lost, or the connection changed meanwhile")
        }
        (Record::Connectivity { owner: Some(_), .. }, Err(error)) => {
            warn!(error = %error, "recording a re-check failed")
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{AddressCheck, FailureReason};

    const NEXT: i64 = 42_000;

    fn id() -> ConnectionId {
        ConnectionId::parse("3f2c1e0a-8b7d-4c6e-9a5f-1b2c3d4e5f60").expect("id")
    }

    fn endpoints() -> EndpointList {
        EndpointList::parse("db.example:3306, 127.0.0.1:3306", Service::Rds).expect("url")
    }

    fn report(reachable: bool) -> CheckReport {
        CheckReport {
            checks: vec![AddressCheck {
                endpoint: "db.example:3306".into(),
                address: None,
                reachable,
                reason: (!reachable).then_some(FailureReason::ConnectionRefused),
                detail: if reachable {
                    "MariaDB greeting"
                } else {
                    "refused"
                }
                .into(),
                latency_ms: 1,
            }],
            not_checked: 0,
        }
    }

    fn create() -> Purpose {
        Purpose::Create {
            id: id(),
            owner: "w1".into(),
        }
    }

    fn bind() -> Purpose {
        Purpose::Bind {
            id: id(),
            peer_id: "peer-1".into(),
            queue: "q1".into(),
            owner: "w1".into(),
        }
    }

    fn recheck() -> Purpose {
        Purpose::Recheck {
            id: id(),
            owner: "w1".into(),
        }
    }

    #[test]
    fn a_reachable_create_is_active_with_its_normalized_url_and_a_recheck_time() {
        let (report, endpoints) = (report(true), endpoints());
        let Record::Check {
            id: written,
            owner,
            result,
        } = outcome(&create(), Ok((&report, &endpoints)), NEXT)
        else {
            panic!("a create records a check result");
        };
        assert_eq!((written, owner.as_str()), (id(), "w1"));
        assert_eq!(result.state, ConnectionState::Active);
        assert_eq!(result.connection_url, endpoints.normalized());
        assert_eq!(result.next_check_at, Some(NEXT));
        assert_eq!(result.message, "");
        assert_eq!(result.report, report_json(&report));
    }

    #[test]
    fn an_unreachable_create_fails_with_the_summary_and_reason_and_no_schedule() {
        let (report, endpoints) = (report(false), endpoints());
        let Record::Check { result, .. } = outcome(&create(), Ok((&report, &endpoints)), NEXT)
        else {
            panic!("a create records a check result");
        };
        assert_eq!(result.state, ConnectionState::Failed);
        assert_eq!(result.message, report.failure_summary());
        assert_eq!(result.failure_reason.as_deref(), Some("CONNECTION_REFUSED"));
        assert_eq!(result.connection_url, "");
        assert_eq!(result.next_check_at, None);
    }

    #[test]
    fn a_create_whose_stored_url_no_longer_parses_fails_with_advice() {
        let Record::Check { result, .. } = outcome(&create(), Err("corrupt row"), NEXT) else {
            panic!("a create records a check result");
        };
        assert_eq!(result.state, ConnectionState::Failed);
        assert_eq!(result.message, INVALID_STORED_URL);
        assert_eq!(result.report, "{}");
    }

    #[test]
    fn a_binding_is_active_or_names_its_queue_in_the_failure() {
        let endpoints = endpoints();
        let Record::Binding {
            peer_id, result, ..
        } = outcome(&bind(), Ok((&report(true), &endpoints)), NEXT)
        else {
            panic!("a binding records a binding result");
        };
        assert_eq!(peer_id, "peer-1");
        assert!(result.active);
        assert_eq!(result.err_msg, "");

        let failed = report(false);
        let Record::Binding { result, .. } = outcome(&bind(), Ok((&failed, &endpoints)), NEXT)
        else {
            panic!("a binding records a binding result");
        };
        assert!(!result.active);
        assert_eq!(
            result.err_msg,
            format!("queue q1: {}", failed.failure_summary())
        );
        assert_eq!(result.failure_reason.as_deref(), Some("CONNECTION_REFUSED"));

        let Record::Binding { result, .. } = outcome(&bind(), Err("connection x: bad url"), NEXT)
        else {
            panic!("a binding records a binding result");
        };
        assert!(!result.active);
        assert_eq!(result.err_msg, "connection x: bad url");
    }

    #[test]
    fn a_recheck_records_connectivity_under_its_claim_and_reschedules() {
        let (report, endpoints) = (report(false), endpoints());
        let Record::Connectivity {
            id: written,
            owner,
            connectivity,
        } = outcome(&recheck(), Ok((&report, &endpoints)), NEXT)
        else {
            panic!("a re-check records connectivity");
        };
        assert_eq!((written, owner.as_deref()), (id(), Some("w1")));
        assert!(!connectivity.reachable);
        assert_eq!(connectivity.report, report_json(&report));
        assert_eq!(connectivity.next_check_at, Some(NEXT));

        let Record::Connectivity { connectivity, .. } = outcome(&recheck(), Err("bad"), NEXT)
        else {
            panic!("a re-check records connectivity");
        };
        assert!(
            !connectivity.reachable,
            "a url that does not parse reaches nothing"
        );
        assert_eq!(connectivity.report, report_json(&CheckReport::default()));
    }

    #[test]
    fn a_test_records_connectivity_without_a_claim_or_schedule_and_a_definition_nothing() {
        let (report, endpoints) = (report(true), endpoints());
        let Record::Connectivity {
            owner,
            connectivity,
            ..
        } = outcome(&Purpose::Test { id: id() }, Ok((&report, &endpoints)), NEXT)
        else {
            panic!("a test records connectivity");
        };
        assert_eq!(owner, None);
        assert!(connectivity.reachable);
        assert_eq!(connectivity.next_check_at, None);
        assert!(matches!(
            outcome(&Purpose::TestDefinition, Ok((&report, &endpoints)), NEXT),
            Record::Nothing
        ));
    }

    #[test]
    fn a_panic_fails_a_create_or_binding_and_gives_a_recheck_back_untouched() {
        let Record::Check { result, .. } = after_panic(&create(), NEXT) else {
            panic!("a create records a check result");
        };
        assert_eq!(result.state, ConnectionState::Failed);
        assert!(
            result.message.contains("internal error"),
            "{}",
            result.message
        );
        assert!(
            result.message.contains(&id().to_string()),
            "{}",
            result.message
        );

        let Record::Binding { result, .. } = after_panic(&bind(), NEXT) else {
            panic!("a binding records a binding result");
        };
        assert!(!result.active);
        assert!(
            result.err_msg.contains("internal error"),
            "{}",
            result.err_msg
        );

        let Record::ReleaseRecheck { next_check_at, .. } = after_panic(&recheck(), NEXT) else {
            panic!("a re-check is released");
        };
        assert_eq!(next_check_at, NEXT);
    }

    #[test]
    fn each_purpose_pays_as_its_origin_requires() {
        assert_eq!(create().charging(), Charging::Drain);
        assert_eq!(bind().charging(), Charging::Drain);
        assert_eq!(recheck().charging(), Charging::Free);
        assert_eq!(Purpose::Test { id: id() }.charging(), Charging::Upfront);
        assert_eq!(Purpose::TestDefinition.charging(), Charging::Upfront);
        let labels: Vec<_> = [create(), bind(), recheck(), Purpose::TestDefinition]
            .iter()
            .map(Purpose::label)
            .collect();
        assert_eq!(labels, ["create", "bind", "recheck", "test"]);
    }
}
