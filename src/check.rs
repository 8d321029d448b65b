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
use crate::probe::{CheckPlan, CheckReport, HostsFile, OutboundPolicy, Prober};
use crate::rate_limit::{CheckBudget, CheckRefusal};
use crate::store::{
    BindingConnectivity, BindingResult, CheckResult, Connectivity, DynStore, PendingBinding,
    PendingCheck, QueueWork, QueueWorkKind, SetupOutcome, StoreError, TaskResult,
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

/// Where a check ran, as bindings and tests tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The dsconn server's own host.
    Server,
    /// An agent in the queue's network, by its name.
    Agent(String),
}

impl Place {
    /// `server` or `agent:<name>`, as `checked_from` says it.
    pub fn label(&self) -> String {
        match self {
            Place::Server => "server".to_owned(),
            Place::Agent(name) => format!("agent:{name}"),
        }
    }

    /// The `place` label of metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Place::Server => "server",
            Place::Agent(_) => "agent",
        }
    }

    /// How a message names it.
    fn described(&self) -> String {
        match self {
            Place::Server => "the server".to_owned(),
            Place::Agent(name) => format!("agent {name}"),
        }
    }
}

/// One check, as a [`Checker`] gets it: everything needed to run it anywhere.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub project: String,
    /// The protocol to verify; None: TCP reachability only (a queue connection test).
    pub service: Option<Service>,
    pub endpoints: EndpointList,
    /// The queue the check is for (a binding's, a queue test's); None for the
    /// connection itself.
    /// Where a check runs may depend on it.
    pub queue: Option<String>,
    pub charging: Charging,
    /// Names resolved before DNS: the queue's hosts file (empty without a queue).
    pub hosts: Arc<HostsFile>,
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
        let with_hosts;
        let prober = if request.hosts.is_empty() {
            &self.prober
        } else {
            with_hosts = self.prober.with_hosts(Arc::clone(&request.hosts));
            &with_hosts
        };
        Ok(match request.charging {
            Charging::Free => {
                prober
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
                prober
                    .check_endpoints_charged(service, endpoints, charge, on_progress)
                    .await
            }
            Charging::Upfront => {
                self.budget.spend(&request.project, 1)?;
                let plan = prober.plan(service, endpoints).await;
                self.budget.spend(&request.project, extra_dials(&plan))?;
                prober.run(plan, on_progress).await
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
    /// An agent's re-check of an ACTIVE binding of its queue.
    RecheckBinding {
        peer_id: String,
        queue: String,
        owner: String,
    },
    /// DLI's queue connection test of one `host:port`.
    QueueTest {
        task_id: i64,
        queue: String,
        owner: String,
    },
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
            Purpose::Recheck { .. } | Purpose::RecheckBinding { .. } => "recheck",
            Purpose::Test { .. } | Purpose::TestDefinition | Purpose::QueueTest { .. } => "test",
        }
    }

    pub fn charging(&self) -> Charging {
        match self {
            // A queue test's request paid its first dial, as a create's did.
            Purpose::Create { .. } | Purpose::Bind { .. } | Purpose::QueueTest { .. } => {
                Charging::Drain
            }
            Purpose::Recheck { .. } | Purpose::RecheckBinding { .. } => Charging::Free,
            Purpose::Test { .. } | Purpose::TestDefinition => Charging::Upfront,
        }
    }

    /// The claim a write must hold: work the worker claimed; None for requests.
    fn owner(&self) -> Option<&str> {
        match self {
            Purpose::Create { owner, .. }
            | Purpose::Bind { owner, .. }
            | Purpose::Recheck { owner, .. }
            | Purpose::RecheckBinding { owner, .. }
            | Purpose::QueueTest { owner, .. } => Some(owner),
            Purpose::Test { .. } | Purpose::TestDefinition => None,
        }
    }

    fn queue(&self) -> Option<String> {
        match self {
            Purpose::Bind { queue, .. }
            | Purpose::RecheckBinding { queue, .. }
            | Purpose::QueueTest { queue, .. } => Some(queue.clone()),
            _ => None,
        }
    }
}

/// One check to run through the pipeline.
#[derive(Debug, Clone)]
pub struct Job {
    pub purpose: Purpose,
    pub project: String,
    /// None: TCP reachability only (a queue connection test).
    pub service: Option<Service>,
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
            service: Some(pending.service),
            endpoints: pending.endpoints().map_err(|error| error.to_string()),
        }
    }

    /// A queue's claimed work (by an agent, or by the server for a queue without one).
    pub fn queue_work(work: &QueueWork, owner: &str) -> Self {
        let (owner, queue) = (owner.to_owned(), work.queue_name.clone());
        let purpose = match work.kind {
            QueueWorkKind::Bind => Purpose::Bind {
                id: work.connection_id.unwrap_or_else(ConnectionId::nil),
                peer_id: work.key.clone(),
                queue,
                owner,
            },
            QueueWorkKind::RecheckBinding => Purpose::RecheckBinding {
                peer_id: work.key.clone(),
                queue,
                owner,
            },
            QueueWorkKind::Test => Purpose::QueueTest {
                task_id: work.key.parse().unwrap_or_default(),
                queue,
                owner,
            },
        };
        let endpoints = match work.service {
            Some(service) => EndpointList::parse(&work.destination, service),
            None => EndpointList::parse_address(&work.destination),
        };
        Self {
            purpose,
            project: work.project_id.clone(),
            service: work.service,
            endpoints: endpoints.map_err(|error| error.to_string()),
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
            service: Some(service),
            endpoints: Ok(endpoints),
        }
    }

    /// A definition tested before it is saved.
    pub fn test_definition(project: &ProjectId, service: Service, endpoints: EndpointList) -> Self {
        Self {
            purpose: Purpose::TestDefinition,
            project: project.as_str().to_owned(),
            service: Some(service),
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
                service = self.service.map(Service::as_str),
            ),
            Purpose::Bind {
                id, peer_id, queue, ..
            } => info_span!("bind", connection.id = %id, queue = %queue, peer.id = %peer_id),
            Purpose::Recheck { id, .. } => info_span!("recheck", connection.id = %id),
            Purpose::RecheckBinding { peer_id, queue, .. } => {
                info_span!("recheck", queue = %queue, peer.id = %peer_id)
            }
            Purpose::QueueTest { task_id, queue, .. } => {
                info_span!("queue_test", queue = %queue, task.id = task_id)
            }
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
        queue: String,
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
    /// An agent's re-check of a binding.
    BindingConnectivity {
        peer_id: String,
        queue: String,
        owner: String,
        result: BindingConnectivity,
    },
    /// A queue connection test's end.
    Task {
        task_id: i64,
        queue: String,
        owner: String,
        result: TaskResult,
    },
    /// A claimed re-check given back without a result: nothing was learnt.
    ReleaseRecheck {
        id: ConnectionId,
        owner: String,
        next_check_at: i64,
    },
    Nothing,
}

/// What a check's end is recorded with, besides its report: when an ACTIVE connection
/// or binding is due again, where the check ran, and which bindings a server check of
/// the connection stands for.
#[derive(Debug, Clone)]
pub struct Circumstances {
    pub next_check_at: i64,
    pub place: Place,
    /// See [`Connectivity::server_bindings`].
    pub server_bindings: Option<i64>,
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
            connection_url: normalized_url.clone(),
            message: String::new(),
            failure_reason: None,
            report: report_json,
            next_check_at: Some(next_check_at),
            normalized_url,
        }
    } else {
        CheckResult {
            state: ConnectionState::Failed,
            process: 1.0,
            connection_url: String::new(),
            message: report.failure_summary(),
            failure_reason: report.failure_reason().map(|r| r.as_str().to_owned()),
            report: report_json,
            // Used only if one of the connection's queues reaches it.
            next_check_at: Some(next_check_at),
            normalized_url,
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
        normalized_url: String::new(),
    }
}

/// A binding's result: ACTIVE, or FAILED with a message naming its queue and the place.
fn binding_result(
    queue: &str,
    checked: Result<&CheckReport, &str>,
    circumstances: &Circumstances,
) -> BindingResult {
    let place = &circumstances.place;
    let (active, err_msg, failure_reason) = match checked {
        Ok(report) if report.any_reachable() => (true, String::new(), None),
        Ok(report) => (
            false,
            format!(
                "queue {queue}, checked from {}: {}",
                place.described(),
                report.failure_summary()
            ),
            report.failure_reason().map(|r| r.as_str().to_owned()),
        ),
        Err(message) => (false, message.to_owned(), None),
    };
    BindingResult {
        active,
        err_msg,
        failure_reason,
        checked_from: place.label(),
        next_check_at: circumstances.next_check_at,
    }
}

/// A queue test's answer: what was reached and from where, or why not.
fn task_result(checked: Result<&CheckReport, &str>, place: &Place) -> TaskResult {
    let (reachable, message) = match checked {
        Ok(report) if report.any_reachable() => {
            let detail = report
                .checks
                .iter()
                .find(|check| check.reachable)
                .map(|check| check.detail.as_str())
                .unwrap_or_default();
            (
                true,
                format!("reached from {}: {detail}", place.described()),
            )
        }
        Ok(report) => (
            false,
            format!(
                "not reached from {}: {}",
                place.described(),
                report.failure_summary()
            ),
        ),
        Err(message) => (false, message.to_owned()),
    };
    TaskResult {
        reachable,
        message,
        checked_from: place.label(),
    }
}

/// What a check's end records, by its purpose: `checked` is the report, or why the
/// stored url could not be checked; `normalized_url` is the url it covered, as an ACTIVE
/// connection shows it. Pure: no clock, no store.
pub fn outcome(
    purpose: &Purpose,
    checked: Result<&CheckReport, &str>,
    normalized_url: &str,
    circumstances: &Circumstances,
) -> Record {
    let next_check_at = circumstances.next_check_at;
    let report_only = checked;
    match purpose {
        Purpose::Create { id, owner } => Record::Check {
            id: *id,
            owner: owner.clone(),
            result: match checked {
                Ok(report) => check_result(report, normalized_url.to_owned(), next_check_at),
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
            queue: queue.clone(),
            owner: owner.clone(),
            result: binding_result(queue, report_only, circumstances),
        },
        Purpose::RecheckBinding {
            peer_id,
            queue,
            owner,
        } => Record::BindingConnectivity {
            peer_id: peer_id.clone(),
            queue: queue.clone(),
            owner: owner.clone(),
            result: BindingConnectivity {
                reachable: report_only.is_ok_and(CheckReport::any_reachable),
                checked_from: circumstances.place.label(),
                next_check_at,
            },
        },
        Purpose::QueueTest {
            task_id,
            queue,
            owner,
        } => Record::Task {
            task_id: *task_id,
            queue: queue.clone(),
            owner: owner.clone(),
            result: task_result(report_only, &circumstances.place),
        },
        Purpose::Recheck { id, owner } => {
            // A url that no longer parses reaches nothing.
            let nothing = CheckReport::default();
            let report = report_only.unwrap_or(&nothing);
            Record::Connectivity {
                id: *id,
                owner: Some(owner.clone()),
                connectivity: Connectivity {
                    reachable: report.any_reachable(),
                    report: report_json(report),
                    next_check_at: Some(next_check_at),
                    server_bindings: circumstances.server_bindings,
                },
            }
        }
        Purpose::Test { id } => match report_only {
            Ok(report) => Record::Connectivity {
                id: *id,
                owner: None,
                connectivity: Connectivity {
                    reachable: report.any_reachable(),
                    report: report_json(report),
                    // A test leaves the schedule as it is.
                    next_check_at: None,
                    server_bindings: circumstances.server_bindings,
                },
            },
            Err(_) => Record::Nothing,
        },
        Purpose::TestDefinition => Record::Nothing,
    }
}

/// What a check that panicked records, so its claim is given back at once instead of
/// lapsing with its lease. Pure.
pub fn after_panic(purpose: &Purpose, circumstances: &Circumstances) -> Record {
    let message = |subject: &dyn std::fmt::Display| {
        format!(
            "the check stopped on an internal error (logged with {subject}); \
             check it again"
        )
    };
    let next_check_at = circumstances.next_check_at;
    match purpose {
        Purpose::Create { id, owner } => Record::Check {
            id: *id,
            owner: owner.clone(),
            result: failed(message(&format_args!("connection id {id}"))),
        },
        Purpose::Bind {
            id,
            peer_id,
            queue,
            owner,
        } => Record::Binding {
            peer_id: peer_id.clone(),
            queue: queue.clone(),
            owner: owner.clone(),
            result: binding_result(
                queue,
                Err(&message(&format_args!("connection id {id}"))),
                circumstances,
            ),
        },
        Purpose::QueueTest {
            task_id,
            queue,
            owner,
        } => Record::Task {
            task_id: *task_id,
            queue: queue.clone(),
            owner: owner.clone(),
            result: task_result(
                Err(&message(&format_args!("task id {task_id}"))),
                &circumstances.place,
            ),
        },
        // Nothing was learnt about the destination: keep its connectivity.
        Purpose::Recheck { id, owner } => Record::ReleaseRecheck {
            id: *id,
            owner: owner.clone(),
            next_check_at,
        },
        // Its lease lapses and an agent of the queue checks it again.
        Purpose::RecheckBinding { .. } | Purpose::Test { .. } | Purpose::TestDefinition => {
            Record::Nothing
        }
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

/// Whether a queue's (or pool's) side of an enhanced connection can be set up under
/// `policy` (an agent's, or the server's for a queue without one): every host's address
/// may be dialled, and every route leads somewhere checks may go. Err: why not, naming
/// the entry. Pure.
pub fn setup_verdict<'a>(
    policy: &OutboundPolicy,
    hosts: impl IntoIterator<Item = (&'a str, &'a str)>,
    routes: &[String],
) -> Result<(), String> {
    for (name, ip) in hosts {
        let address: std::net::IpAddr = ip
            .parse()
            .map_err(|_| format!("host {name} has the invalid address {ip:?}"))?;
        policy
            .check(address)
            .map_err(|why| format!("host {name} ({ip}) may not be checked: {why}"))?;
    }
    for cidr in routes {
        let range: ipnet::IpNet = cidr
            .parse()
            .map_err(|_| format!("route {cidr:?} is not a CIDR"))?;
        policy
            .check_range(range)
            .map_err(|why| format!("route {cidr} leads nowhere checks may go: {why}"))?;
    }
    Ok(())
}

/// How the pipeline schedules and retries.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    /// How often an ACTIVE connection is re-checked (spread by a jitter).
    pub recheck_interval: Duration,
    /// How long a claim outlives the slowest possible check: the time a claimed
    /// result's write is retried for.
    pub lease_grace: Duration,
    /// An agent not heard from for this long is offline: its queues' checks fall back
    /// to the server (or wait, with `require_agents`).
    pub agent_timeout: Duration,
    /// Queues without an online agent wait for one instead of being checked here.
    pub require_agents: bool,
}

/// Probe -> outcome -> record, for every kind of check.
pub struct CheckPipeline {
    store: DynStore,
    checker: Arc<dyn Checker>,
    on_change: OnChange,
    settings: PipelineSettings,
    /// The hosts files in use, by version: every check (and agent fetch) of any queue
    /// whose file has the same version shares one parsed copy, kept only while in use.
    hosts_files: std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<HostsFile>>>,
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
            hosts_files: std::sync::Mutex::default(),
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

    /// Agents heard from at this time or later are online.
    pub fn online_since(&self, now: i64) -> i64 {
        now.saturating_sub(i64::try_from(self.settings.agent_timeout.as_millis()).unwrap_or(0))
    }

    /// Not heard from for this long, an agent is offline.
    pub fn agent_timeout(&self) -> Duration {
        self.settings.agent_timeout
    }

    /// Whether queues without an online agent wait for one.
    pub fn requires_agents(&self) -> bool {
        self.settings.require_agents
    }

    /// What a check ending now from `place` is recorded with.
    pub fn circumstances(&self, place: Place) -> Circumstances {
        let now = now_millis();
        Circumstances {
            next_check_at: self.next_check_at(now),
            place,
            server_bindings: (!self.settings.require_agents).then(|| self.online_since(now)),
        }
    }

    /// Records the report of a check that ran elsewhere (an agent's) for `purpose`, as
    /// [`Self::run`] records its own: false if the claim in it is no longer held.
    pub async fn record_reported(
        &self,
        project: &str,
        purpose: &Purpose,
        report: &CheckReport,
        place: Place,
        took: Duration,
    ) -> crate::store::Result<bool> {
        metrics::record_check(purpose.label(), report, took);
        metrics::record_check_place(place.kind());
        let started = Instant::now()
            .checked_sub(took)
            .unwrap_or_else(Instant::now);
        self.conclude(
            project,
            purpose,
            Ok(report),
            "",
            place,
            Duration::ZERO,
            started,
        )
        .await
    }

    /// The end every check shares, wherever it ran: the pure outcome, its record
    /// (retried for `retry_for`) and the log line.
    #[allow(clippy::too_many_arguments)]
    async fn conclude(
        &self,
        project: &str,
        purpose: &Purpose,
        checked: Result<&CheckReport, &str>,
        normalized_url: &str,
        place: Place,
        retry_for: Duration,
        started: Instant,
    ) -> crate::store::Result<bool> {
        let record = outcome(purpose, checked, normalized_url, &self.circumstances(place));
        let recorded = self.record(project, &record, retry_for).await;
        log_recorded(&record, &recorded, started);
        recorded
    }

    /// The hosts file of `queue`'s checks; without one (logged) when the store fails,
    /// as a check that looks its names up in DNS is still a check.
    pub async fn queue_hosts(&self, project: &str, queue: &str) -> Arc<HostsFile> {
        match self.versioned_queue_hosts(project, queue).await {
            Ok((_, file)) => file,
            Err(error) => {
                warn!(error = %error, queue = %queue, "reading the queue's hosts failed; checking with DNS only");
                Arc::default()
            }
        }
    }

    /// The hosts file of `queue`'s checks with its version (None: empty). A file whose
    /// version is in use already is shared, not read again: reading its version is one
    /// small query, and 64 checks of queues bound to one connection with 20,000 hosts hold
    /// one parsed copy, not 64.
    pub async fn versioned_queue_hosts(
        &self,
        project: &str,
        queue: &str,
    ) -> crate::store::Result<(Option<String>, Arc<HostsFile>)> {
        let Ok(project_id) = ProjectId::parse(project) else {
            return Ok((None, Arc::default()));
        };
        let Some(version) = self.store.queue_hosts_version(&project_id, queue).await? else {
            return Ok((None, Arc::default()));
        };
        if let Some(file) = self.cached_hosts_file(&version) {
            return Ok((Some(version), file));
        }
        let read = self.store.queue_hosts(&project_id, queue).await?;
        let Some(version) = read.version else {
            return Ok((None, Arc::default()));
        };
        // Another check may have read the same version meanwhile: keep one copy.
        if let Some(file) = self.cached_hosts_file(&version) {
            return Ok((Some(version), file));
        }
        let file = Arc::new(HostsFile::from_entries(
            read.entries
                .iter()
                .map(|(name, ip)| (name.as_str(), ip.as_str())),
        ));
        let mut files = self
            .hosts_files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        files.retain(|_, file| file.strong_count() > 0);
        files.insert(version.clone(), Arc::downgrade(&file));
        Ok((Some(version), file))
    }

    fn cached_hosts_file(&self, version: &str) -> Option<Arc<HostsFile>> {
        self.hosts_files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(version)
            .and_then(std::sync::Weak::upgrade)
    }

    /// The version of `queue`'s hosts file (None: empty), as an agent's claim names it.
    pub async fn queue_hosts_version(
        &self,
        project: &ProjectId,
        queue: &str,
    ) -> crate::store::Result<Option<String>> {
        self.store.queue_hosts_version(project, queue).await
    }

    /// Records the end of the set-up of binding `peer_id` (of queue or pool `name` in
    /// `project`) from `place` under `owner`'s claim, and tells the API: false if the
    /// claim is no longer held.
    pub async fn record_setup(
        &self,
        project: &str,
        peer_id: &str,
        name: &str,
        owner: &str,
        verdict: Result<(), String>,
        place: Place,
    ) -> crate::store::Result<bool> {
        let outcome = SetupOutcome {
            active: verdict.is_ok(),
            message: verdict
                .err()
                .map(|why| {
                    format!(
                        "{} cannot take this connection's hosts and routes: {why}",
                        place.described()
                    )
                })
                .unwrap_or_default(),
            checked_from: place.label(),
        };
        let recorded = self
            .store
            .record_setup(peer_id, name, owner, &outcome, now_millis())
            .await;
        metrics::record_check_place(place.kind());
        match &recorded {
            Ok(true) => {
                info!(peer.id = %peer_id, name = %name, active = outcome.active,
                      checked_from = %outcome.checked_from, "binding set up");
                self.changed(Changed::Project(project));
            }
            Ok(false) => info!(peer.id = %peer_id, "a set-up's claim was lost; not recorded"),
            Err(error) => warn!(peer.id = %peer_id, error = %error, "recording a set-up failed"),
        }
        recorded
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
        let normalized = checked
            .as_ref()
            .map(|(_, endpoints)| endpoints.normalized())
            .unwrap_or_default();
        let retry_for = match job.purpose.owner() {
            Some(_) => self.settings.lease_grace,
            None => Duration::ZERO,
        };
        let report = checked
            .as_ref()
            .map(|(report, _)| report)
            .map_err(|error| *error);
        let recorded = self
            .conclude(
                &job.project,
                &job.purpose,
                report,
                &normalized,
                Place::Server,
                retry_for,
                started,
            )
            .await;
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
        let queue = job.purpose.queue();
        let hosts = match &queue {
            Some(queue) => self.queue_hosts(&job.project, queue).await,
            None => Arc::default(),
        };
        let request = CheckRequest {
            project: job.project.clone(),
            service: job.service,
            endpoints: endpoints.clone(),
            queue,
            charging: job.purpose.charging(),
            hosts,
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
        metrics::record_check_place(Place::Server.kind());
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
                queue,
                owner,
                result,
            } => {
                retrying(retry_for, || {
                    store.record_binding_result(peer_id, queue, owner, result, now_millis())
                })
                .await
            }
            Record::BindingConnectivity {
                peer_id,
                queue,
                owner,
                result,
            } => {
                retrying(retry_for, || {
                    store.record_binding_connectivity(peer_id, queue, owner, result, now_millis())
                })
                .await
            }
            Record::Task {
                task_id,
                queue,
                owner,
                result,
            } => {
                retrying(retry_for, || {
                    store.record_task_result(*task_id, queue, owner, result, now_millis())
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

    fn at_server() -> Circumstances {
        Circumstances {
            next_check_at: NEXT,
            place: Place::Server,
            server_bindings: Some(7),
        }
    }

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
        } = outcome(
            &create(),
            Ok(&report),
            &endpoints.normalized(),
            &at_server(),
        )
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
    fn an_unreachable_create_fails_with_the_summary_and_reason_and_no_url() {
        let (report, endpoints) = (report(false), endpoints());
        let Record::Check { result, .. } = outcome(
            &create(),
            Ok(&report),
            &endpoints.normalized(),
            &at_server(),
        ) else {
            panic!("a create records a check result");
        };
        assert_eq!(result.state, ConnectionState::Failed);
        assert_eq!(result.message, report.failure_summary());
        assert_eq!(result.failure_reason.as_deref(), Some("CONNECTION_REFUSED"));
        assert_eq!(result.connection_url, "");
        // Kept for a queue's check that turns the connection ACTIVE after all.
        assert_eq!(result.next_check_at, Some(NEXT));
        assert_eq!(result.normalized_url, endpoints.normalized());
    }

    #[test]
    fn a_create_whose_stored_url_no_longer_parses_fails_with_advice() {
        let Record::Check { result, .. } = outcome(&create(), Err("corrupt row"), "", &at_server())
        else {
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
        } = outcome(
            &bind(),
            Ok(&report(true)),
            &endpoints.normalized(),
            &at_server(),
        )
        else {
            panic!("a binding records a binding result");
        };
        assert_eq!(peer_id, "peer-1");
        assert!(result.active);
        assert_eq!(result.err_msg, "");

        let failed = report(false);
        let Record::Binding { result, .. } =
            outcome(&bind(), Ok(&failed), &endpoints.normalized(), &at_server())
        else {
            panic!("a binding records a binding result");
        };
        assert!(!result.active);
        assert_eq!(
            result.err_msg,
            format!(
                "queue q1, checked from the server: {}",
                failed.failure_summary()
            )
        );
        assert_eq!(result.failure_reason.as_deref(), Some("CONNECTION_REFUSED"));

        let Record::Binding { result, .. } =
            outcome(&bind(), Err("connection x: bad url"), "", &at_server())
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
        } = outcome(
            &recheck(),
            Ok(&report),
            &endpoints.normalized(),
            &at_server(),
        )
        else {
            panic!("a re-check records connectivity");
        };
        assert_eq!((written, owner.as_deref()), (id(), Some("w1")));
        assert!(!connectivity.reachable);
        assert_eq!(connectivity.report, report_json(&report));
        assert_eq!(connectivity.next_check_at, Some(NEXT));

        let Record::Connectivity { connectivity, .. } =
            outcome(&recheck(), Err("bad"), "", &at_server())
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
        } = outcome(
            &Purpose::Test { id: id() },
            Ok(&report),
            &endpoints.normalized(),
            &at_server(),
        )
        else {
            panic!("a test records connectivity");
        };
        assert_eq!(owner, None);
        assert!(connectivity.reachable);
        assert_eq!(connectivity.next_check_at, None);
        assert!(matches!(
            outcome(
                &Purpose::TestDefinition,
                Ok(&report),
                &endpoints.normalized(),
                &at_server()
            ),
            Record::Nothing
        ));
    }

    #[test]
    fn a_panic_fails_a_create_or_binding_and_gives_a_recheck_back_untouched() {
        let Record::Check { result, .. } = after_panic(&create(), &at_server()) else {
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

        let Record::Binding { result, .. } = after_panic(&bind(), &at_server()) else {
            panic!("a binding records a binding result");
        };
        assert!(!result.active);
        assert!(
            result.err_msg.contains("internal error"),
            "{}",
            result.err_msg
        );

        let Record::ReleaseRecheck { next_check_at, .. } = after_panic(&recheck(), &at_server())
        else {
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
