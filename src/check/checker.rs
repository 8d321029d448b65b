//! Where a check's probing runs: the [`Checker`] seam, and [`InProcess`], the server's
//! own prober charging the project's check budget as the job's origin requires.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{EndpointList, Service};
use crate::probe::{CheckPlan, CheckReport, HostsFile, OutboundPolicy, Prober};
use crate::rate_limit::{CheckBudget, CheckRefusal};

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

/// Where and how a check's stages run. [`InProcess`] is the server's own prober; an
/// agent in a queue's network runs the same stages with its own (see `cli::agent`).
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

    /// The outbound policy of where it runs: what a set-up's hosts and routes are judged
    /// by ([`super::Stage::Policy`]).
    fn policy(&self) -> &OutboundPolicy;

    /// How long each credentialed stage (tls, login, query, privileges) may take.
    fn stage_timeout(&self) -> Duration;

    /// What credentialed stages add to [`Self::worst_case`]: the wait for a socket, tls,
    /// login, query, privileges and the connection's close, each bounded by the stage
    /// timeout. A lease of a test shorter than both could let it be claimed again after
    /// a login, and log in twice.
    fn session_worst_case(&self) -> Duration {
        self.stage_timeout() * 6
    }

    /// Whether a probe verifies the service's protocol (false: TCP connect only).
    fn checks_protocols(&self) -> bool;

    /// A socket of the place's outbound limit for the credentialed stages; None when
    /// none is free within a stage timeout.
    async fn session_socket(&self) -> Option<tokio::sync::OwnedSemaphorePermit>;
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

    fn checks_protocols(&self) -> bool {
        self.prober.mode() != crate::probe::ProbeMode::Tcp
    }

    async fn session_socket(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.prober.session_socket(self.stage_timeout()).await
    }

    fn policy(&self) -> &OutboundPolicy {
        self.prober.policy()
    }

    fn stage_timeout(&self) -> Duration {
        self.prober.timeout()
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
