//! Reachability checks, in small stages with typed outcomes: resolve every endpoint to
//! its addresses, refuse addresses the outbound policy forbids, open a TCP connection to
//! each, then make sure the peer speaks the service's protocol. Each stage is bounded by
//! the check timeout.
//!
//! Fan-out is bounded three ways, whatever the url and whatever DNS answers: a check
//! covers at most [`MAX_ADDRESSES_PER_NAME`] addresses of one name and
//! [`MAX_ADDRESSES_PER_CHECK`] in all (the rest are counted as not checked); it has at
//! most [`MAX_DIALS_IN_FLIGHT_PER_CHECK`] lookups or dials in flight; and every lookup
//! and dial of every check in the process holds a permit of one shared semaphore
//! (`--max-concurrent-checks`) while its socket is open.

mod caps;
pub mod policy;
pub mod protocol;
mod report;
mod resolve;
pub mod session;
pub mod simulate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};

pub use crate::domain::FailureReason;
use crate::domain::{Endpoint, EndpointList, Host, Service};

pub use caps::{MAX_ADDRESSES_PER_CHECK, MAX_ADDRESSES_PER_NAME, MAX_DIALS_IN_FLIGHT_PER_CHECK};
use caps::{ROUNDS, SOCKETS_PER_LOOKUP};
pub use policy::OutboundPolicy;
pub use protocol::ProtocolOutcome;
pub use report::{AddressCheck, CheckReport, MAX_DETAIL_CHARS, shorten};
pub use resolve::{HostsFile, Resolver};
pub use simulate::Simulator;

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How checks reach destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeMode {
    /// TCP connect, then the service's protocol handshake.
    Full,
    /// TCP connect only.
    Tcp,
    /// No network traffic at all: outcomes come from the simulation rules.
    Simulate,
}

/// What one check will do, once its endpoints are resolved: the caller can charge the
/// dials before any is made.
pub struct CheckPlan {
    /// The protocol to verify; None: TCP reachability only.
    protocol: Option<Service>,
    kind: PlanKind,
}

enum PlanKind {
    Simulated(EndpointList),
    Network {
        /// Per endpoint looked up, in url order.
        endpoints: Vec<PlannedEndpoint>,
        scope: CheckScope,
    },
}

struct PlannedEndpoint {
    endpoint: Endpoint,
    steps: Vec<Planned>,
}

impl PlannedEndpoint {
    fn dials(&self) -> usize {
        self.steps
            .iter()
            .filter(|step| matches!(step, Planned::Dial(_)))
            .count()
    }
}

enum Planned {
    Dial(SocketAddr),
    /// Settled without a dial: the name did not resolve, or the policy forbids it.
    Settled(AddressCheck),
}

impl CheckPlan {
    /// The connections the check will open; simulation opens none.
    pub fn dials(&self) -> usize {
        match &self.kind {
            PlanKind::Simulated(_) => 0,
            PlanKind::Network { endpoints, .. } => {
                endpoints.iter().map(PlannedEndpoint::dials).sum()
            }
        }
    }
}

/// Runs reachability checks.
#[derive(Clone)]
pub struct Prober {
    mode: ProbeMode,
    resolver: Resolver,
    timeout: Duration,
    policy: OutboundPolicy,
    simulator: Simulator,
    /// One permit per open outbound socket, shared by every check of the process.
    sockets: Arc<Semaphore>,
    /// Permits a name lookup takes: never more than exist.
    lookup_permits: u32,
    /// Names resolved before DNS (a queue's hosts file); empty for most checks.
    hosts: Arc<HostsFile>,
}

impl Prober {
    /// `max_open_sockets` bounds the lookups and dials in flight over all checks.
    pub fn new(
        mode: ProbeMode,
        resolver: Resolver,
        timeout: Duration,
        policy: OutboundPolicy,
        simulator: Simulator,
        max_open_sockets: usize,
    ) -> Self {
        let max_open_sockets = max_open_sockets.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            mode,
            resolver,
            timeout,
            policy,
            simulator,
            sockets: Arc::new(Semaphore::new(max_open_sockets)),
            lookup_permits: u32::try_from(max_open_sockets)
                .unwrap_or(u32::MAX)
                .min(SOCKETS_PER_LOOKUP),
            hosts: Arc::default(),
        }
    }

    /// This prober, resolving the names of `hosts` from it before asking DNS (the same
    /// socket limit is shared).
    pub fn with_hosts(&self, hosts: Arc<HostsFile>) -> Self {
        Self {
            hosts,
            ..self.clone()
        }
    }

    /// How it reaches destinations.
    pub fn mode(&self) -> ProbeMode {
        self.mode
    }

    /// How long one lookup, connect or protocol check may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The policy every dial obeys.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// How long one dial may hold its socket: connect, then the protocol check.
    fn dial_time(&self) -> Duration {
        match self.mode {
            ProbeMode::Full => self.timeout * 2,
            ProbeMode::Tcp | ProbeMode::Simulate => self.timeout,
        }
    }

    /// The longest a check of one connection can take: lookups, then dials, each in
    /// rounds of [`MAX_DIALS_IN_FLIGHT_PER_CHECK`]. A lookup or dial that cannot get a
    /// permit in time is reported instead of waiting past this.
    pub fn worst_case(&self) -> Duration {
        match self.mode {
            ProbeMode::Simulate => self.simulator.worst_case(),
            ProbeMode::Full | ProbeMode::Tcp => (self.timeout + self.dial_time()) * ROUNDS,
        }
    }

    /// One socket of the process-wide limit for a check's credentialed stages (which
    /// open one connection at a time), held until dropped; None if none is free within
    /// `wait`.
    pub async fn session_socket(
        &self,
        wait: Duration,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(wait, Arc::clone(&self.sockets).acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// A permit for `permits` sockets, or None if none is free before `latest`.
    async fn socket_permit(
        &self,
        permits: u32,
        latest: tokio::time::Instant,
    ) -> Option<SemaphorePermit<'_>> {
        tokio::time::timeout_at(latest, self.sockets.acquire_many(permits))
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The result of a lookup or dial that got no permit in time.
    fn busy(
        &self,
        endpoint: &Endpoint,
        address: Option<SocketAddr>,
        waited: Instant,
    ) -> AddressCheck {
        AddressCheck {
            connected: false,
            endpoint: endpoint.to_string(),
            address,
            reachable: false,
            reason: Some(FailureReason::Timeout),
            detail: format!(
                "not checked: the server's outbound limit (--max-concurrent-checks) stayed \
                 busy for {}",
                humantime::format_duration(Duration::from_millis(elapsed_ms(waited)))
            ),
            latency_ms: elapsed_ms(waited),
        }
    }

    /// Addresses of one endpoint, or the check that says why there are none.
    async fn lookup(
        &self,
        endpoint: &Endpoint,
        latest_start: tokio::time::Instant,
    ) -> Result<Vec<SocketAddr>, AddressCheck> {
        let started = Instant::now();
        if let Host::Name(name) = &endpoint.host
            && let Some(ip) = self.hosts.lookup(name.as_str())
        {
            return Ok(vec![SocketAddr::new(ip, endpoint.port)]);
        }
        // A literal address needs no lookup and opens nothing.
        let _permit = match endpoint.host {
            Host::Name(_) => Some(
                self.socket_permit(self.lookup_permits, latest_start)
                    .await
                    .ok_or_else(|| self.busy(endpoint, None, started))?,
            ),
            Host::Ipv4(_) | Host::Ipv6(_) => None,
        };
        self.resolver
            .resolve(endpoint, self.timeout)
            .await
            .map_err(|detail| AddressCheck {
                connected: false,
                endpoint: endpoint.to_string(),
                address: None,
                reachable: false,
                reason: Some(FailureReason::DnsFailed),
                detail: shorten(&detail, MAX_DETAIL_CHARS),
                latency_ms: elapsed_ms(started),
            })
    }

    /// Stage 1: resolves the endpoints and decides what to dial, within the caps, so
    /// that a caller can charge the dials before any is made.
    pub async fn plan(&self, protocol: Option<Service>, endpoints: &EndpointList) -> CheckPlan {
        if self.mode == ProbeMode::Simulate {
            return CheckPlan {
                protocol,
                kind: PlanKind::Simulated(endpoints.clone()),
            };
        }
        let (looked_up, scope) = self.scope(endpoints);
        let planned = futures::future::join_all(
            looked_up
                .iter()
                .map(|endpoint| self.plan_endpoint(endpoint, &scope)),
        )
        .await;
        CheckPlan {
            protocol,
            kind: PlanKind::Network {
                endpoints: planned,
                scope,
            },
        }
    }

    /// The endpoints a check looks up, and what its endpoints share.
    fn scope<'a>(&self, endpoints: &'a EndpointList) -> (&'a [Endpoint], CheckScope) {
        let all = endpoints.endpoints();
        let looked_up = &all[..all.len().min(MAX_ADDRESSES_PER_CHECK)];
        let now = tokio::time::Instant::now();
        let scope = CheckScope {
            places: std::sync::Mutex::new(MAX_ADDRESSES_PER_CHECK),
            not_checked: std::sync::atomic::AtomicU64::new(
                u64::try_from(all.len() - looked_up.len()).unwrap_or(u64::MAX),
            ),
            lookups: Semaphore::new(MAX_DIALS_IN_FLIGHT_PER_CHECK),
            dials: Semaphore::new(MAX_DIALS_IN_FLIGHT_PER_CHECK),
            // Lookups that wait for a permit may start this late and still end in time;
            // dials likewise, after the last lookup could have ended.
            lookups_start_by: now + self.timeout * (ROUNDS - 1),
            dials_start_by: now + self.timeout * ROUNDS + self.dial_time() * (ROUNDS - 1),
        };
        (looked_up, scope)
    }

    /// Resolves one endpoint and decides which of its addresses to dial, taking its
    /// places from what the check has left (in the order lookups finish).
    async fn plan_endpoint(&self, endpoint: &Endpoint, scope: &CheckScope) -> PlannedEndpoint {
        let started = Instant::now();
        let answer = match scope.slot(&scope.lookups, scope.lookups_start_by).await {
            Some(_slot) => self.lookup(endpoint, scope.lookups_start_by).await,
            None => Err(self.busy(endpoint, None, started)),
        };
        let steps = match answer {
            Err(check) => {
                scope.take_places(1);
                vec![Planned::Settled(check)]
            }
            Ok(addresses) => {
                let take = scope.take_places(addresses.len().min(MAX_ADDRESSES_PER_NAME));
                scope.skip(addresses.len() - take);
                addresses
                    .into_iter()
                    .take(take)
                    .map(|address| match self.denied(endpoint, address) {
                        Some(check) => Planned::Settled(check),
                        None => Planned::Dial(address),
                    })
                    .collect()
            }
        };
        PlannedEndpoint {
            endpoint: endpoint.clone(),
            steps,
        }
    }

    /// Dials the planned addresses of one endpoint; results keep the plan's order.
    async fn run_endpoint(
        &self,
        protocol: Option<Service>,
        planned: &PlannedEndpoint,
        scope: &CheckScope,
    ) -> Vec<AddressCheck> {
        let endpoint = &planned.endpoint;
        futures::future::join_all(planned.steps.iter().map(|step| async move {
            match step {
                Planned::Settled(check) => check.clone(),
                Planned::Dial(address) => {
                    let waited = Instant::now();
                    let Some(_slot) = scope.slot(&scope.dials, scope.dials_start_by).await else {
                        return self.busy(endpoint, Some(*address), waited);
                    };
                    match self.socket_permit(1, scope.dials_start_by).await {
                        // Held until the address's check, connect and protocol, is over.
                        Some(_permit) => self.check_address(protocol, endpoint, *address).await,
                        None => self.busy(endpoint, Some(*address), waited),
                    }
                }
            }
        }))
        .await
    }

    /// The check of an address the outbound policy forbids; None if it may be dialled.
    fn denied(&self, endpoint: &Endpoint, address: SocketAddr) -> Option<AddressCheck> {
        self.policy
            .check(address.ip())
            .err()
            .map(|why| AddressCheck {
                connected: false,
                endpoint: endpoint.to_string(),
                address: Some(address),
                reachable: false,
                reason: Some(FailureReason::DeniedByPolicy),
                detail: format!("not checked: {why}"),
                latency_ms: 0,
            })
    }

    async fn check_address(
        &self,
        protocol: Option<Service>,
        endpoint: &Endpoint,
        address: SocketAddr,
    ) -> AddressCheck {
        let started = Instant::now();
        let result =
            |reachable: bool, reason: Option<FailureReason>, detail: String| AddressCheck {
                connected: reachable
                    || matches!(
                        reason,
                        Some(FailureReason::ProtocolMismatch | FailureReason::TlsError)
                    ),
                endpoint: endpoint.to_string(),
                address: Some(address),
                reachable,
                reason,
                detail: shorten(&detail, MAX_DETAIL_CHARS),
                latency_ms: elapsed_ms(started),
            };
        if let Err(why) = self.policy.check(address.ip()) {
            return result(
                false,
                Some(FailureReason::DeniedByPolicy),
                format!("not checked: {why}"),
            );
        }
        let stream = match tokio::time::timeout(self.timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => stream,
            Err(_) => {
                return result(
                    false,
                    Some(FailureReason::Timeout),
                    format!(
                        "no answer within {} (a firewall or security group may drop the traffic)",
                        humantime::format_duration(self.timeout)
                    ),
                );
            }
            Ok(Err(error)) => {
                let (reason, detail) = classify_connect_error(&error);
                return result(false, Some(reason), detail);
            }
        };
        let Some(service) = protocol.filter(|_| self.mode != ProbeMode::Tcp) else {
            return result(true, None, "TCP connect succeeded".to_owned());
        };
        let server_name = endpoint.host_for_lookup();
        match protocol::verify(service, stream, &server_name, self.timeout).await {
            ProtocolOutcome::Verified { detail } => result(true, None, detail),
            ProtocolOutcome::Mismatch { detail } => {
                result(false, Some(FailureReason::ProtocolMismatch), detail)
            }
            ProtocolOutcome::TlsError { detail } => {
                result(false, Some(FailureReason::TlsError), detail)
            }
            // Connected, then no complete answer: the protocol stage's timeout.
            ProtocolOutcome::Timeout { detail } => AddressCheck {
                connected: true,
                ..result(false, Some(FailureReason::Timeout), detail)
            },
        }
    }

    /// Resolves and checks every endpoint of a url, with nothing to charge.
    pub async fn check_endpoints<F, Fut>(
        &self,
        protocol: Option<Service>,
        endpoints: &EndpointList,
        on_progress: F,
    ) -> CheckReport
    where
        F: FnMut(f64) -> Fut,
        Fut: Future<Output = ()>,
    {
        self.check_endpoints_charged(protocol, endpoints, |_| {}, on_progress)
            .await
    }

    /// Resolves and checks every endpoint of a url, each endpoint on its own: its
    /// addresses are dialled as soon as its name resolves (a slow name holds back only
    /// itself), after `charge` is told how many dials it will make. `on_progress` gets
    /// the share of endpoints done (0.0-1.0) as each one finishes. Results keep the
    /// url's order.
    pub async fn check_endpoints_charged<C, F, Fut>(
        &self,
        protocol: Option<Service>,
        endpoints: &EndpointList,
        charge: C,
        on_progress: F,
    ) -> CheckReport
    where
        C: Fn(usize),
        F: FnMut(f64) -> Fut,
        Fut: Future<Output = ()>,
    {
        if self.mode == ProbeMode::Simulate {
            return self
                .simulator
                .check_endpoints(endpoints, &self.policy, on_progress)
                .await;
        }
        let (looked_up, scope) = self.scope(endpoints);
        let scope = &scope;
        let charge = &charge;
        let checks = looked_up.iter().map(|endpoint| async move {
            let planned = self.plan_endpoint(endpoint, scope).await;
            charge(planned.dials());
            self.run_endpoint(protocol, &planned, scope).await
        });
        let checks = collect_in_order(checks, on_progress).await;
        scope.report(checks)
    }

    /// Stage 2: dials what the plan says, calling `on_progress` with the share of
    /// endpoints done (0.0-1.0) as each one finishes. Results keep the url's order.
    pub async fn run<F, Fut>(&self, plan: CheckPlan, on_progress: F) -> CheckReport
    where
        F: FnMut(f64) -> Fut,
        Fut: Future<Output = ()>,
    {
        let (endpoints, scope) = match plan.kind {
            PlanKind::Simulated(endpoints) => {
                return self
                    .simulator
                    .check_endpoints(&endpoints, &self.policy, on_progress)
                    .await;
            }
            PlanKind::Network { endpoints, scope } => (endpoints, scope),
        };
        let protocol = plan.protocol;
        let scope = &scope;
        let checks = endpoints
            .iter()
            .map(|planned| self.run_endpoint(protocol, planned, scope));
        let checks = collect_in_order(checks, on_progress).await;
        scope.report(checks)
    }
}

/// What one check's endpoints share: the places left under [`MAX_ADDRESSES_PER_CHECK`],
/// the count of what was left out, at most [`MAX_DIALS_IN_FLIGHT_PER_CHECK`] lookups and
/// as many dials at once, and the latest start of each so the check ends within
/// [`Prober::worst_case`].
pub struct CheckScope {
    places: std::sync::Mutex<usize>,
    not_checked: std::sync::atomic::AtomicU64,
    lookups: Semaphore,
    dials: Semaphore,
    lookups_start_by: tokio::time::Instant,
    dials_start_by: tokio::time::Instant,
}

impl CheckScope {
    /// Takes up to `wanted` places; returns how many it got.
    fn take_places(&self, wanted: usize) -> usize {
        let mut places = self
            .places
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let take = wanted.min(*places);
        *places -= take;
        take
    }

    fn skip(&self, addresses: usize) {
        self.not_checked.fetch_add(
            u64::try_from(addresses).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// One of this check's slots, or None if none is free before `latest`.
    async fn slot<'a>(
        &self,
        slots: &'a Semaphore,
        latest: tokio::time::Instant,
    ) -> Option<SemaphorePermit<'a>> {
        tokio::time::timeout_at(latest, slots.acquire())
            .await
            .ok()
            .and_then(Result::ok)
    }

    fn report(&self, checks: Vec<Vec<AddressCheck>>) -> CheckReport {
        CheckReport {
            checks: checks.into_iter().flatten().collect(),
            not_checked: self.not_checked.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// Runs every endpoint's future at once, reporting progress as each finishes, and
/// returns their results in the endpoints' order.
async fn collect_in_order<T, Check, F, Fut>(
    checks: impl IntoIterator<Item = Check>,
    mut on_progress: F,
) -> Vec<T>
where
    Check: Future<Output = T>,
    F: FnMut(f64) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut pending: futures::stream::FuturesUnordered<_> = checks
        .into_iter()
        .enumerate()
        .map(|(index, check)| async move { (index, check.await) })
        .collect();
    let total = pending.len();
    let mut results: Vec<Option<T>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    while let Some((index, result)) = pending.next().await {
        results[index] = Some(result);
        done += 1;
        if done < total {
            on_progress(done as f64 / total as f64).await;
        }
    }
    results.into_iter().flatten().collect()
}

fn classify_connect_error(error: &std::io::Error) -> (FailureReason, String) {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => (
            FailureReason::ConnectionRefused,
            "connection refused (nothing listens on that port)".to_owned(),
        ),
        ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => (
            FailureReason::NetworkUnreachable,
            format!("no route to the address ({error})"),
        ),
        _ => (
            FailureReason::NetworkUnreachable,
            format!("connect failed: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests;
