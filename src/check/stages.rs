//! The stages of a check and their runner. A [`Target`]'s plan is an ordered list
//! of [`Stage`]s; [`run_stages`] runs them through a [`Checker`], one [`StageReport`]
//! each, stopping at the first that fails (the rest are skipped). Store-free, so the
//! server's pipeline and an agent run the same code. A new stage (TLS details, login,
//! query, privileges) is a variant here, its function below, and its place in a plan.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checker::{Charging, CheckRequest, Checker, Progress};
use super::session::{SessionTarget, run_session};
use crate::domain::{EndpointList, FailureReason, Service};
use crate::probe::session::{SessionStageReport, SessionVerdict};
use crate::probe::{CheckReport, HostsFile, OutboundPolicy};
use crate::rate_limit::CheckRefusal;

/// One step of a check, in the order a plan runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The url reads as endpoints (a stored one may no longer parse).
    Endpoints,
    /// Resolve, policy, connect and protocol of every endpoint: the prober's own steps,
    /// one stage here for now.
    Probe,
    /// A set-up's verdict: the place's outbound policy allows the connection's hosts and
    /// routes.
    Policy,
    /// With an auth info: tls, login, query and privileges against the first address the
    /// probe reached (see [`super::session`]).
    Session,
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// Not run: an earlier stage failed.
    Skipped,
}

/// What one stage found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    pub stage: Stage,
    pub verdict: Verdict,
    /// Why a probe failed, when the prober says.
    pub reason: Option<FailureReason>,
    /// Why it failed; empty when it passed.
    pub message: String,
    pub duration: Duration,
}

impl StageReport {
    fn passed(stage: Stage) -> Self {
        Self {
            stage,
            verdict: Verdict::Passed,
            reason: None,
            message: String::new(),
            duration: Duration::ZERO,
        }
    }

    fn failed(stage: Stage, message: String) -> Self {
        Self {
            verdict: Verdict::Failed,
            message,
            ..Self::passed(stage)
        }
    }

    fn skipped(stage: Stage) -> Self {
        Self {
            verdict: Verdict::Skipped,
            ..Self::passed(stage)
        }
    }
}

/// What a job's stages found.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// One per stage of the plan, in order.
    pub stages: Vec<StageReport>,
    /// The probe's report (empty when it did not run).
    pub report: CheckReport,
    /// Why the job could not be checked at all (a url that does not parse) or a set-up
    /// is refused: the message of the stage that stopped it. A probe that reaches
    /// nothing is not that: its report says what happened.
    pub stopped: Option<String>,
    /// What the credentialed stages found (empty when they did not run).
    pub session: Vec<SessionStageReport>,
    /// The probe connected only (`--probe-mode tcp`): no protocol was verified.
    pub protocol_unchecked: bool,
}

impl Findings {
    /// As the pure outcome reads it: the report, or why there is none.
    pub fn checked(&self) -> Result<&CheckReport, &str> {
        match &self.stopped {
            Some(why) => Err(why),
            None => Ok(&self.report),
        }
    }

    /// Whether `stage` ran (was neither skipped nor absent from the plan).
    pub fn ran(&self, stage: Stage) -> bool {
        self.stages
            .iter()
            .any(|report| report.stage == stage && report.verdict != Verdict::Skipped)
    }

    fn failed(&self) -> bool {
        self.stages
            .iter()
            .any(|report| report.verdict == Verdict::Failed)
    }
}

/// What the stages need besides the target: where they run, and what a probe is told.
pub struct StageInputs<'a> {
    pub checker: &'a dyn Checker,
    pub project: &'a str,
    /// The queue the check is for, if any.
    pub queue: Option<String>,
    pub charging: Charging,
    /// Names resolved before DNS: the queue's hosts file (empty without a queue).
    pub hosts: Arc<HostsFile>,
    pub progress: &'a dyn Progress,
}

/// Runs `target`'s plan in order, stopping at the first stage that fails. Err only when
/// the budget refuses a [`Charging::Upfront`] probe (nothing was dialled then).
pub async fn run_stages(
    target: &Target,
    inputs: &StageInputs<'_>,
) -> Result<Findings, CheckRefusal> {
    let mut findings = Findings::default();
    for &stage in target.plan() {
        if findings.failed() {
            findings.stages.push(StageReport::skipped(stage));
            continue;
        }
        let started = Instant::now();
        let mut report = match (stage, target) {
            (Stage::Endpoints, Target::Endpoints { endpoints, .. }) => match endpoints {
                Ok(_) => StageReport::passed(stage),
                Err(why) => {
                    findings.stopped = Some(why.clone());
                    StageReport::failed(stage, why.clone())
                }
            },
            (
                Stage::Probe,
                Target::Endpoints {
                    service, endpoints, ..
                },
            ) => {
                let Ok(endpoints) = endpoints else {
                    // Unreachable in a plan: the endpoints stage stopped it.
                    findings.stages.push(StageReport::skipped(stage));
                    continue;
                };
                let request = CheckRequest {
                    project: inputs.project.to_owned(),
                    service: *service,
                    endpoints: endpoints.clone(),
                    queue: inputs.queue.clone(),
                    charging: inputs.charging,
                    hosts: Arc::clone(&inputs.hosts),
                };
                findings.report = inputs.checker.check(&request, inputs.progress).await?;
                findings.protocol_unchecked = !inputs.checker.checks_protocols();
                probe_report(&findings.report)
            }
            (Stage::Policy, Target::Setup(setup)) => {
                match policy_verdict(inputs.checker.policy(), setup) {
                    Ok(()) => StageReport::passed(stage),
                    Err(why) => {
                        findings.stopped = Some(why.clone());
                        StageReport::failed(stage, why)
                    }
                }
            }
            (
                Stage::Session,
                Target::Endpoints {
                    service,
                    session: Some(session),
                    ..
                },
            ) => {
                // The stages' connections count against the outbound limit, as dials do.
                findings.session = match inputs.checker.session_socket().await {
                    Some(_socket) => {
                        run_session(
                            *service,
                            &findings.report,
                            session,
                            inputs.checker.stage_timeout(),
                        )
                        .await
                    }
                    None => vec![super::session::skipped(
                        crate::probe::session::SessionStage::Login,
                        "TIMEOUT",
                        "not checked: the outbound limit (--max-concurrent-checks) stayed busy"
                            .to_owned(),
                    )],
                };
                session_report(&findings.session)
            }
            // A stage that does not apply to the target is not in its plan.
            _ => StageReport::skipped(stage),
        };
        report.duration = started.elapsed();
        findings.stages.push(report);
    }
    Ok(findings)
}

/// The session stage fails when one of its stages failed.
fn session_report(reports: &[SessionStageReport]) -> StageReport {
    match reports
        .iter()
        .find(|report| report.verdict == SessionVerdict::Failed)
    {
        Some(failed) => StageReport::failed(Stage::Session, failed.message.clone()),
        None => StageReport::passed(Stage::Session),
    }
}

/// The probe stage passes when any address answered as its service should.
fn probe_report(report: &CheckReport) -> StageReport {
    if report.any_reachable() {
        StageReport::passed(Stage::Probe)
    } else {
        StageReport {
            reason: report.failure_reason(),
            ..StageReport::failed(Stage::Probe, report.failure_summary())
        }
    }
}

fn policy_verdict(policy: &OutboundPolicy, setup: &SetupTarget) -> Result<(), String> {
    let hosts = setup
        .hosts
        .iter()
        .map(|(name, ip)| (name.as_str(), ip.as_str()));
    setup_verdict(policy, hosts, &setup.routes)
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

/// What a job checks, which decides its stages ([`Target::plan`]).
#[derive(Debug, Clone)]
pub enum Target {
    /// Endpoints to reach.
    Endpoints {
        /// None: TCP reachability only (a queue connection test).
        service: Option<Service>,
        /// The endpoints, or why the stored url no longer parses.
        endpoints: Result<EndpointList, String>,
        /// With an auth info: the credentialed stages to run after the probe.
        session: Option<Arc<SessionTarget>>,
    },
    /// Hosts and routes a queue's (or pool's) side of an enhanced connection takes.
    Setup(SetupTarget),
}

/// An enhanced connection's hosts and routes, as a binding's set-up judges them.
#[derive(Debug, Clone, Default)]
pub struct SetupTarget {
    /// `(name, ip)` as stored: shared by every set-up of the connection a claim takes.
    pub hosts: Arc<Vec<(String, String)>>,
    /// The routes' CIDRs.
    pub routes: Arc<Vec<String>>,
}

impl Target {
    /// The url of a claimed piece of work (a connection's url, or a test's `host:port`
    /// when there is no service) as endpoints to check.
    pub fn endpoints(service: Option<Service>, url: &str) -> Self {
        let endpoints = match service {
            Some(service) => EndpointList::parse(url, service),
            None => EndpointList::parse_address(url),
        };
        Target::Endpoints {
            service,
            endpoints: endpoints.map_err(|error| error.to_string()),
            session: None,
        }
    }

    /// This target with credentialed stages after its probe (endpoints only).
    pub fn with_session(self, session: Option<Arc<SessionTarget>>) -> Self {
        match self {
            Target::Endpoints {
                service, endpoints, ..
            } => Target::Endpoints {
                service,
                endpoints,
                session,
            },
            setup @ Target::Setup(_) => setup,
        }
    }

    /// The stages it runs, in order: adding a stage is a change here and in
    /// [`run_stages`], not at any caller.
    pub fn plan(&self) -> &'static [Stage] {
        match self {
            Target::Endpoints { session: None, .. } => &[Stage::Endpoints, Stage::Probe],
            Target::Endpoints {
                session: Some(_), ..
            } => &[Stage::Endpoints, Stage::Probe, Stage::Session],
            Target::Setup(_) => &[Stage::Policy],
        }
    }
}
