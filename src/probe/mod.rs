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

pub mod policy;
pub mod protocol;
mod resolve;
pub mod simulate;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};

pub use crate::domain::FailureReason;
use crate::domain::{Endpoint, EndpointList, Host, Service};

pub use policy::OutboundPolicy;
pub use protocol::ProtocolOutcome;
pub use resolve::{HostsFile, Resolver};
pub use simulate::Simulator;

/// Most addresses of one name a check dials: the first of its answers, in address order.
pub const MAX_ADDRESSES_PER_NAME: usize = 16;
/// Most addresses one check dials over all its endpoints; a name that does not resolve
/// takes one place too. Endpoints past this are not even looked up.
pub const MAX_ADDRESSES_PER_CHECK: usize = 64;
/// Most lookups or dials one check has in flight, so that concurrent checks share the
/// process-wide limit instead of one of them taking every permit.
pub const MAX_DIALS_IN_FLIGHT_PER_CHECK: usize = 16;
/// Rounds of lookups, then of dials, that the caps allow in one check: the time a check
/// may take, waiting for permits included.
const ROUNDS: u32 = MAX_ADDRESSES_PER_CHECK.div_ceil(MAX_DIALS_IN_FLIGHT_PER_CHECK) as u32;
/// Sockets one name lookup may hold at once (A and AAAA queries side by side).
const SOCKETS_PER_LOOKUP: u32 = 2;
/// Longest detail kept per address, in characters.
pub const MAX_DETAIL_CHARS: usize = 240;
/// Failures named in a FAILED message; the rest are counted.
const MAX_FAILURES_IN_MESSAGE: usize = 8;

/// The outcome of checking one address of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressCheck {
    pub endpoint: String,
    /// None when the name did not resolve (or in simulation).
    pub address: Option<SocketAddr>,
    pub reachable: bool,
    pub reason: Option<FailureReason>,
    /// What was found, in words a person can act on.
    pub detail: String,
    pub latency_ms: u64,
}

impl fmt::Display for AddressCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(address) if address.to_string() != self.endpoint => {
                write!(f, "{} ({address}): {}", self.endpoint, self.detail)
            }
            _ => write!(f, "{}: {}", self.endpoint, self.detail),
        }
    }
}

/// Every address checked for one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub checks: Vec<AddressCheck>,
    /// Addresses left undialled by the per-name and per-check caps; an endpoint that was
    /// not looked up at all counts as one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_checked: u64,
}

impl CheckReport {
    /// A report made elsewhere (an agent's), cut to what a check here could produce:
    /// at most [`MAX_ADDRESSES_PER_CHECK`] entries with bounded, cleaned texts.
    pub fn bounded(mut self) -> Self {
        let dropped = self.checks.len().saturating_sub(MAX_ADDRESSES_PER_CHECK);
        self.checks.truncate(MAX_ADDRESSES_PER_CHECK);
        // Stored and shown as any other text: no control or bidi characters.
        for check in &mut self.checks {
            check.endpoint = crate::domain::text::clean(&check.endpoint, MAX_DETAIL_CHARS);
            check.detail = crate::domain::text::clean(&check.detail, MAX_DETAIL_CHARS);
        }
        self.not_checked = self
            .not_checked
            .saturating_add(u64::try_from(dropped).unwrap_or(u64::MAX));
        self
    }

    /// The addresses it dialled (what the check budget counts).
    pub fn dials(&self) -> usize {
        self.checks
            .iter()
            .filter(|check| {
                check.address.is_some() && check.reason != Some(FailureReason::DeniedByPolicy)
            })
            .count()
    }
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}...", &text[..end]),
    }
}

impl CheckReport {
    pub fn any_reachable(&self) -> bool {
        self.checks.iter().any(|check| check.reachable)
    }

    /// The FAILED message: the first failures in url order, then counts of the rest and
    /// of the addresses not checked, so its length does not grow with the answers.
    pub fn failure_summary(&self) -> String {
        let failures: Vec<&AddressCheck> = self
            .checks
            .iter()
            .filter(|check| !check.reachable)
            .collect();
        let mut clauses: Vec<String> = failures
            .iter()
            .take(MAX_FAILURES_IN_MESSAGE)
            .map(|check| shorten(&check.to_string(), MAX_DETAIL_CHARS))
            .collect();
        let unnamed = failures.len().saturating_sub(MAX_FAILURES_IN_MESSAGE);
        if unnamed > 0 {
            clauses.push(format!("and {unnamed} more failures"));
        }
        let mut message = format!("no endpoint is reachable: {}", clauses.join("; "));
        if let Some(skipped) = self.not_checked_summary() {
            message.push_str("; ");
            message.push_str(&skipped);
        }
        message
    }

    /// "and N more addresses not checked (...)", when the caps left any out.
    pub fn not_checked_summary(&self) -> Option<String> {
        (self.not_checked > 0).then(|| {
            format!(
                "and {} more addresses not checked (a check dials at most \
                 {MAX_ADDRESSES_PER_NAME} addresses per name, {MAX_ADDRESSES_PER_CHECK} in all)",
                self.not_checked
            )
        })
    }

    /// The machine-readable reason of a failed check: the first failure's, in url order.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.checks.iter().find_map(|check| check.reason)
    }
}

impl crate::telemetry::metrics::CheckLabels for CheckReport {
    fn reachable(&self) -> bool {
        self.any_reachable()
    }

    fn failure_label(&self) -> Option<&'static str> {
        self.failure_reason().map(FailureReason::as_str)
    }
}

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
            ProtocolOutcome::Timeout { detail } => {
                result(false, Some(FailureReason::Timeout), detail)
            }
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
mod tests {
    use super::*;

    fn tcp_prober() -> Prober {
        Prober::new(
            ProbeMode::Tcp,
            Resolver::System,
            Duration::from_secs(2),
            OutboundPolicy::default(),
            Simulator::default(),
            64,
        )
    }

    #[tokio::test]
    async fn a_listening_port_is_reachable_and_a_closed_one_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let open = listener.local_addr().expect("address").port();
        let closed = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            socket.local_addr().expect("address").port()
        };
        let url = format!("127.0.0.1:{open},127.0.0.1:{closed}");
        let endpoints = EndpointList::parse(&url, Service::Rds).expect("valid url");
        let report = tcp_prober()
            .check_endpoints(Some(Service::Rds), &endpoints, |_| async {})
            .await;
        assert_eq!(report.checks.len(), 2);
        assert!(report.checks[0].reachable);
        assert_eq!(
            report.checks[1].reason,
            Some(FailureReason::ConnectionRefused)
        );
        assert!(report.any_reachable());
    }

    #[tokio::test]
    async fn a_denied_address_is_refused_without_a_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let policy = OutboundPolicy::new(Vec::new(), vec!["127.0.0.1/32".parse().expect("net")]);
        let prober = Prober::new(
            ProbeMode::Full,
            Resolver::System,
            Duration::from_secs(2),
            policy,
            Simulator::default(),
            64,
        );
        let endpoints =
            EndpointList::parse(&format!("127.0.0.1:{port}"), Service::Rds).expect("valid url");
        let report = prober
            .check_endpoints(Some(Service::Rds), &endpoints, |_| async {})
            .await;
        assert_eq!(report.checks[0].reason, Some(FailureReason::DeniedByPolicy));
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "no connection may reach a denied address"
        );
    }

    #[test]
    fn a_failure_summary_names_a_few_failures_and_counts_the_rest() {
        let failure = |index: usize| AddressCheck {
            endpoint: format!("db{index}.example:3306"),
            address: None,
            reachable: false,
            reason: Some(FailureReason::Timeout),
            detail: "x".repeat(10_000),
            latency_ms: 1,
        };
        let report = CheckReport {
            checks: (0..1000).map(failure).collect(),
            not_checked: 5000,
        };
        let summary = report.failure_summary();
        assert!(summary.contains("and 992 more failures"), "{summary}");
        assert!(
            summary.contains("and 5000 more addresses not checked"),
            "{summary}"
        );
        assert!(summary.len() < 4096, "{} characters", summary.len());
    }

    #[test]
    fn reasons_round_trip_through_their_names() {
        for reason in FailureReason::ALL {
            assert_eq!(FailureReason::parse(reason.as_str()), Some(reason));
            let json = serde_json::to_string(&reason).expect("json");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
    }
}
