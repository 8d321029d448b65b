//! The HTTP server loop, with the limits that keep slow or greedy clients from holding
//! the service: a cap on open connections, overall and per client address, a deadline
//! for request headers, and a bound on their size. (axum::serve offers none of these
//! knobs.) Optionally TLS (rustls, ring provider). Each request carries its peer's
//! address as `ConnectInfo<SocketAddr>` and how it came as [`Transport`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tracing::{debug, warn};

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

/// How a request reached the server, in every request's extensions: handlers can tell
/// a TLS connection from a plain one (e.g. to send secrets only over TLS or loopback).
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub tls: bool,
}

/// The TLS acceptor for a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, RSA or SEC1). The error names the file and what is wrong with it.
pub fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, String> {
    let read = |file: &Path| {
        std::fs::read(file).map_err(|error| format!("cannot read {}: {error}", file.display()))
    };
    let cert_pem = read(cert_file)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            format!(
                "{} is not a PEM certificate chain: {error}",
                cert_file.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate (no -----BEGIN CERTIFICATE----- block)",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?).map_err(|error| {
        format!(
            "{} holds no PEM private key (PKCS#8, RSA or SEC1): {error}",
            key_file.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| format!("TLS set-up failed: {error}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|error| {
        format!(
            "the key {} does not fit the certificate {}: {error}",
            key_file.display(),
            cert_file.display()
        )
    })?;
    // Only HTTP/1.1 is served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// hyper refuses read buffers smaller than this.
const MIN_HEADER_BUFFER: usize = 8192;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves until `shutdown` is cancelled, then lets open connections finish their
/// requests (up to `drain_timeout`). With `tls`, every connection is TLS.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    tls: Option<TlsAcceptor>,
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
        let connection = Connection {
            http: http.clone(),
            watcher: graceful.watcher(),
            router: router.clone(),
            peer,
        };
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Some(acceptor) = tls else {
                connection.serve(stream, Transport { tls: false }).await;
                drop((slot, permit));
                return;
            };
            // In the task, so a slow handshake holds no one else up; bounded like the
            // headers, so a client that never finishes it does not keep its slot.
            let handshake = tokio::select! {
                _ = shutdown.cancelled() => None,
                handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)) => Some(handshake),
            };
            match handshake {
                Some(Ok(Ok(stream))) => connection.serve(stream, Transport { tls: true }).await,
                Some(Ok(Err(error))) => {
                    debug!(peer = %peer, error = %error, "TLS handshake failed");
                }
                Some(Err(_)) => {
                    debug!(peer = %peer, "TLS handshake not finished within the header read timeout");
                }
                None => {}
            }
            drop((slot, permit));
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

/// What serving one accepted connection needs.
struct Connection {
    http: http1::Builder,
    watcher: Watcher,
    router: Router,
    peer: SocketAddr,
}

impl Connection {
    /// Serves HTTP/1.1 on `io` until the client closes or a graceful stop.
    async fn serve<I>(self, io: I, transport: Transport)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let service = TowerToHyperService::new(self.router.map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(transport);
                request
            },
        ));
        let connection = self.http.serve_connection(TokioIo::new(io), service);
        if let Err(error) = self.watcher.watch(connection).await {
            debug!(peer = %peer, error = %error, "connection ended with an error");
        }
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

    /// Serves a router that answers with the request's `Transport` and peer; the
    /// address and the token that stops it.
    async fn serve_transport(tls: Option<TlsAcceptor>) -> (SocketAddr, CancellationToken) {
        use axum::Extension;
        let router = Router::new().route(
            "/",
            axum::routing::get(
                |Extension(transport): Extension<Transport>,
                 ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    format!("tls={} loopback={}", transport.tls, peer.ip().is_loopback())
                },
            ),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let shutdown = CancellationToken::new();
        let limits = ServerLimits {
            max_connections: 8,
            max_connections_per_client: 8,
            header_read_timeout: Duration::from_secs(5),
            max_header_bytes: 16 * 1024,
            drain_timeout: Duration::from_secs(1),
        };
        tokio::spawn(serve(listener, router, limits, tls, shutdown.clone()));
        (address, shutdown)
    }

    #[tokio::test]
    async fn handlers_tell_a_tls_connection_from_a_plain_one() {
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let dir = tempfile::tempdir().expect("dir");
        let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_file, certificate.pem()).expect("cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("key");
        let acceptor = tls_acceptor(&cert_file, &key_file).expect("acceptor");

        let (plain, stop_plain) = serve_transport(None).await;
        let body = reqwest::get(format!("http://{plain}/"))
            .await
            .expect("sent")
            .text()
            .await
            .expect("body");
        assert_eq!(body, "tls=false loopback=true");
        stop_plain.cancel();

        let (secure, stop_secure) = serve_transport(Some(acceptor)).await;
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(certificate.pem().as_bytes()).expect("root"),
            )
            .build()
            .expect("client");
        let body = client
            .get(format!("https://localhost:{}/", secure.port()))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("body");
        assert_eq!(body, "tls=true loopback=true");
        stop_secure.cancel();
    }
}
