//! Stage 3 of a reachability check: after the TCP connect, make sure the destination
//! speaks the service's protocol. An open port is not a working datasource: a MySQL url
//! that points at a PostgreSQL port, or a ZooKeeper address that is really an HTTP proxy,
//! passes a plain connect and fails hours later inside a Spark job.
//!
//! Each check is bounded by one timeout in total and sends nothing that changes the
//! destination; `docs/PROBES.md` says byte by byte what each one sends and expects.

mod describe;
mod http;
mod io;
mod mysql;
mod outcome;
mod postgres;
mod text;
pub(crate) mod tls;
mod wire;
mod zookeeper;

#[cfg(test)]
pub(crate) mod test_support;

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::domain::Service;

pub use outcome::ProtocolOutcome;

/// Checks that the peer of `stream`, a freshly connected TCP stream, speaks `service`'s
/// protocol, within `timeout` in total.
///
/// `server_name` is the endpoint's host as written (a DNS name or a literal address,
/// IPv6 with or without brackets); it goes into the HTTP `Host` header and the TLS SNI.
/// The HTTP checks (CSS, OpenTSDB) may open a second connection to the same address,
/// taken from `stream.peer_addr()`, to retry over TLS when the endpoint demands it; that
/// second connect counts against the same `timeout`. The stream is closed on return.
pub async fn verify(
    service: Service,
    stream: TcpStream,
    server_name: &str,
    timeout: Duration,
) -> ProtocolOutcome {
    let started = Instant::now();
    let deadline = started + timeout;
    let check = async {
        match service {
            Service::Rds => mysql::check(stream, started, deadline).await,
            Service::Dws => postgres::check(stream, deadline).await,
            Service::CloudTable => zookeeper::check(stream, deadline).await,
            Service::Css => http::check(http::Api::Search, stream, server_name, deadline).await,
            Service::CloudTableOpenTsdb | Service::MrsOpenTsdb => {
                http::check(http::Api::OpenTsdb, stream, server_name, deadline).await
            }
        }
    };
    // Every step inside bounds itself by `deadline` with its own words; this is only a
    // safety net. At a shared instant `timeout_at` polls the check first, so its own
    // verdict wins.
    match tokio::time::timeout_at(deadline, check).await {
        Ok(outcome) => outcome,
        Err(_) => ProtocolOutcome::timeout(format!(
            "connected, but the {} check got no complete answer within {}",
            service.as_str(),
            text::duration(timeout)
        )),
    }
}
