//! Reachability checks, in small stages with typed outcomes: resolve every endpoint to
//! all of its addresses, then open a TCP connection to each, each bounded by a timeout.

mod resolve;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::domain::{Endpoint, EndpointList};

pub use resolve::Resolver;

/// Why one address (or a whole endpoint, for DNS) could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureReason {
    DnsFailed,
    ConnectionRefused,
    Timeout,
    NetworkUnreachable,
    ConnectFailed,
}

/// The outcome of checking one address of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressCheck {
    pub endpoint: String,
    /// None when the name did not resolve.
    pub address: Option<SocketAddr>,
    pub reachable: bool,
    pub reason: Option<FailureReason>,
    /// What went wrong, in words a person can act on.
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub checks: Vec<AddressCheck>,
}

impl CheckReport {
    pub fn any_reachable(&self) -> bool {
        self.checks.iter().any(|check| check.reachable)
    }

    /// One line per failure, for the FAILED message.
    pub fn failure_summary(&self) -> String {
        let failures: Vec<String> = self
            .checks
            .iter()
            .filter(|check| !check.reachable)
            .map(ToString::to_string)
            .collect();
        format!("no endpoint is reachable: {}", failures.join("; "))
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Stage 2: a TCP connect to one address.
async fn connect(endpoint: &Endpoint, address: SocketAddr, timeout: Duration) -> AddressCheck {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, TcpStream::connect(address)).await;
    let (reachable, reason, detail) = match outcome {
        Ok(Ok(_stream)) => (true, None, "reachable".to_owned()),
        Err(_) => (
            false,
            Some(FailureReason::Timeout),
            format!(
                "no answer within {} (a firewall or security group may drop the traffic)",
                humantime::format_duration(timeout)
            ),
        ),
        Ok(Err(error)) => classify_connect_error(&error),
    };
    AddressCheck {
        endpoint: endpoint.to_string(),
        address: Some(address),
        reachable,
        reason,
        detail,
        latency_ms: elapsed_ms(started),
    }
}

fn classify_connect_error(error: &std::io::Error) -> (bool, Option<FailureReason>, String) {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => (
            false,
            Some(FailureReason::ConnectionRefused),
            "connection refused (nothing listens on that port)".to_owned(),
        ),
        ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => (
            false,
            Some(FailureReason::NetworkUnreachable),
            format!("no route to the address ({error})"),
        ),
        _ => (
            false,
            Some(FailureReason::ConnectFailed),
            format!("connect failed: {error}"),
        ),
    }
}

/// Runs reachability checks with one resolver and one timeout per stage.
#[derive(Clone)]
pub struct Prober {
    resolver: Resolver,
    timeout: Duration,
}

impl Prober {
    pub fn new(resolver: Resolver, timeout: Duration) -> Self {
        Self { resolver, timeout }
    }

    /// Checks one endpoint: resolve it, then connect to all of its addresses at once.
    pub async fn check_endpoint(&self, endpoint: &Endpoint) -> Vec<AddressCheck> {
        let timeout = self.timeout;
        let started = Instant::now();
        match self.resolver.resolve(endpoint, timeout).await {
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
                        .map(|address| connect(endpoint, address, timeout)),
                )
                .await
            }
        }
    }

    /// Checks every endpoint of a url concurrently, calling `on_progress` with the share
    /// of endpoints done (0.0-1.0) as each one finishes. Results keep the url's order.
    pub async fn check_endpoints<F, Fut>(
        &self,
        endpoints: &EndpointList,
        mut on_progress: F,
    ) -> CheckReport
    where
        F: FnMut(f64) -> Fut,
        Fut: Future<Output = ()>,
    {
        let total = endpoints.endpoints().len();
        let mut pending: FuturesUnordered<_> = endpoints
            .endpoints()
            .iter()
            .enumerate()
            .map(|(index, endpoint)| async move { (index, self.check_endpoint(endpoint).await) })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Service;

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
        let prober = Prober::new(Resolver::System, Duration::from_secs(2));
        let report = prober.check_endpoints(&endpoints, |_| async {}).await;
        assert_eq!(report.checks.len(), 2);
        assert!(report.checks[0].reachable);
        assert_eq!(
            report.checks[1].reason,
            Some(FailureReason::ConnectionRefused)
        );
        assert!(report.any_reachable());
    }
}
