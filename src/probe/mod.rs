//! Reachability checks, in small stages with typed outcomes: resolve every endpoint to
//! all of its addresses, refuse addresses the outbound policy forbids, open a TCP
//! connection to each, then make sure the peer speaks the service's protocol. Each stage
//! is bounded by the check timeout.

pub mod policy;
pub mod protocol;
mod resolve;
pub mod simulate;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::domain::{Endpoint, EndpointList, Service};

pub use policy::OutboundPolicy;
pub use protocol::ProtocolOutcome;
pub use resolve::Resolver;
pub use simulate::Simulator;

/// Why one address (or a whole endpoint, for DNS) could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureReason {
    DnsFailed,
    ConnectionRefused,
    Timeout,
    ProtocolMismatch,
    TlsError,
    DeniedByPolicy,
    /// No route to the address (EHOSTUNREACH, ENETUNREACH) or another connect error.
    NetworkUnreachable,
}

impl FailureReason {
    pub const ALL: [FailureReason; 7] = [
        FailureReason::DnsFailed,
        FailureReason::ConnectionRefused,
        FailureReason::Timeout,
        FailureReason::ProtocolMismatch,
        FailureReason::TlsError,
        FailureReason::DeniedByPolicy,
        FailureReason::NetworkUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::DnsFailed => "DNS_FAILED",
            FailureReason::ConnectionRefused => "CONNECTION_REFUSED",
            FailureReason::Timeout => "TIMEOUT",
            FailureReason::ProtocolMismatch => "PROTOCOL_MISMATCH",
            FailureReason::TlsError => "TLS_ERROR",
            FailureReason::DeniedByPolicy => "DENIED_BY_POLICY",
            FailureReason::NetworkUnreachable => "NETWORK_UNREACHABLE",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

impl CheckReport {
    pub fn any_reachable(&self) -> bool {
        self.checks.iter().any(|check| check.reachable)
    }

    /// One clause per failure, for the FAILED message.
    pub fn failure_summary(&self) -> String {
        let failures: Vec<String> = self
            .checks
            .iter()
            .filter(|check| !check.reachable)
            .map(ToString::to_string)
            .collect();
        format!("no endpoint is reachable: {}", failures.join("; "))
    }

    /// The machine-readable reason of a failed check: the first failure's, in url order.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.checks.iter().find_map(|check| check.reason)
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

/// Runs reachability checks.
#[derive(Clone)]
pub struct Prober {
    mode: ProbeMode,
    resolver: Resolver,
    timeout: Duration,
    policy: OutboundPolicy,
    simulator: Simulator,
}

impl Prober {
    pub fn new(
        mode: ProbeMode,
        resolver: Resolver,
        timeout: Duration,
        policy: OutboundPolicy,
        simulator: Simulator,
    ) -> Self {
        Self {
            mode,
            resolver,
            timeout,
            policy,
            simulator,
        }
    }

    /// The longest a check of one connection can take.
    pub fn worst_case(&self) -> Duration {
        match self.mode {
            ProbeMode::Simulate => self.simulator.worst_case(),
            // Resolve, connect, protocol: each bounded by the timeout.
            ProbeMode::Full => self.timeout * 3,
            ProbeMode::Tcp => self.timeout * 2,
        }
    }

    /// Checks one endpoint: resolve it, then check all of its addresses at once.
    pub async fn check_endpoint(&self, service: Service, endpoint: &Endpoint) -> Vec<AddressCheck> {
        let started = Instant::now();
        match self.resolver.resolve(endpoint, self.timeout).await {
            Err(detail) => vec![AddressCheck {
                endpoint: endpoint.to_string(),
                address: None,
                reachable: false,
                reason: Some(FailureReason::DnsFailed),
                detail,
                latency_ms: elapsed_ms(started),
            }],
            Ok(addresses) => {
                futures::future::join_all(
                    addresses
                        .into_iter()
                        .map(|address| self.check_address(service, endpoint, address)),
                )
                .await
            }
        }
    }

    async fn check_address(
        &self,
        service: Service,
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
                detail,
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
        if self.mode == ProbeMode::Tcp {
            return result(true, None, "TCP connect succeeded".to_owned());
        }
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

    /// Checks every endpoint of a url concurrently, calling `on_progress` with the share
    /// of endpoints done (0.0-1.0) as each one finishes. Results keep the url's order.
    pub async fn check_endpoints<F, Fut>(
        &self,
        service: Service,
        endpoints: &EndpointList,
        mut on_progress: F,
    ) -> CheckReport
    where
        F: FnMut(f64) -> Fut,
        Fut: Future<Output = ()>,
    {
        if self.mode == ProbeMode::Simulate {
            return self
                .simulator
                .check_endpoints(endpoints, &self.policy, on_progress)
                .await;
        }
        let total = endpoints.endpoints().len();
        let mut pending: FuturesUnordered<_> = endpoints
            .endpoints()
            .iter()
            .enumerate()
            .map(|(index, endpoint)| async move {
                (index, self.check_endpoint(service, endpoint).await)
            })
            .collect();
        let mut results: Vec<Option<Vec<AddressCheck>>> = vec![None; total];
        let mut done = 0usize;
        while let Some((index, checks)) = pending.next().await {
            results[index] = Some(checks);
            done += 1;
            if done < total {
                on_progress(done as f64 / total as f64).await;
            }
        }
        CheckReport {
            checks: results.into_iter().flatten().flatten().collect(),
        }
    }
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
            .check_endpoints(Service::Rds, &endpoints, |_| async {})
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
        );
        let endpoints =
            EndpointList::parse(&format!("127.0.0.1:{port}"), Service::Rds).expect("valid url");
        let report = prober
            .check_endpoints(Service::Rds, &endpoints, |_| async {})
            .await;
        assert_eq!(report.checks[0].reason, Some(FailureReason::DeniedByPolicy));
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "no connection may reach a denied address"
        );
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
