//! The HTTP server loop, with the limits that keep slow or greedy clients from holding
//! the service: a cap on open connections, overall and per client address, a deadline
//! for request headers, and a bound on their size. (axum::serve offers none of these
//! knobs.) Each request carries its peer's address as `ConnectInfo<SocketAddr>`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tracing::{debug, warn};

/// How a request's connection reached the server, as a request extension: handlers that
/// would send a secret check it (see `api::agents`).
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub tls: bool,
}

/// Whether `ip` is a loopback address, also when written as `::ffff:127.x.y.z`.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub max_connections: usize,
    /// Open connections one client (see [`client_key`]) may hold.
    pub max_connections_per_client: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    /// How long a graceful stop waits for open connections.
    pub drain_timeout: Duration,
}

/// hyper refuses read buffers smaller than this.
const MIN_HEADER_BUFFER: usize = 8192;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves until `shutdown` is cancelled, then lets open connections finish their
/// requests (up to `drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_client = ClientSlots::new(limits.max_connections_per_client.max(1));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BUFFER))
        .keep_alive(true);
    loop {
        // Wait for a free slot before accepting: excess clients queue in the backlog.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(error = %error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Some(slot) = per_client.try_take(peer.ip()) else {
            // Closed at once (not queued): queuing would let this client hold the
            // backlog instead of the slots.
            debug!(peer = %peer, "connection refused: the client holds its maximum of connections");
            crate::telemetry::metrics::record_refused_connection("per_client_limit");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(peer = %peer, error = %error, "connection ended with an error");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("open connections did not finish within the drain timeout");
    }
}

/// Whose share of the limits an address spends: an IPv4 address (also when written as
/// `::ffff:a.b.c.d`) or an IPv6 /64, the smallest block one subscriber usually gets, so
/// that a client cannot escape a per-address limit by rotating through its own /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
        },
    }
}

/// Open connections per client, bounded.
#[derive(Clone)]
struct ClientSlots {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of a client; gives its slot back when dropped.
struct ClientSlot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientSlots {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn try_take(&self, ip: IpAddr) -> Option<ClientSlot> {
        let key = client_key(ip);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            key,
            open: Arc::clone(&self.open),
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Forget idle clients, so the map holds only clients with open connections.
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_limit_and_gets_slots_back() {
        let slots = ClientSlots::new(2);
        let one: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "127.0.0.2".parse().expect("ip");
        let first = slots.try_take(one).expect("first");
        let _second = slots.try_take(one).expect("second");
        assert!(slots.try_take(one).is_none());
        assert!(
            slots.try_take(other).is_some(),
            "another client is not affected"
        );
        drop(first);
        assert!(slots.try_take(one).is_some());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let key = |raw: &str| client_key(raw.parse().expect("ip"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:127.0.0.1"), key("127.0.0.1"));
    }
}
