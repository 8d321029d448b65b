//! RDS: a MySQL/MariaDB server speaks first. On accept it sends its initial handshake
//! packet (protocol version 10 and its version string) or, when it refuses the client
//! (e.g. "host not allowed"), an error packet. Either proves a MySQL server is there.
//!
//! Nothing is sent to a server that greets. Only when nothing at all has arrived after
//! half the timeout does the check send a PostgreSQL SSLRequest, to tell a silent
//! listener from a server that waits for its client to speak first; a PostgreSQL port
//! answers it with one byte and so is named as such.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::describe;
use super::io::read_more;
use super::outcome::ProtocolOutcome;
use super::text;
use super::wire::{
    Greeting, MAX_GREETING_PAYLOAD, SSL_REQUEST, parse_greeting, product_and_version,
};

pub(super) async fn check(
    mut stream: TcpStream,
    started: Instant,
    deadline: Instant,
) -> ProtocolOutcome {
    let timeout = deadline.saturating_duration_since(started);
    let nudge_at = started + timeout / 2;
    let mut buf = Vec::new();
    let mut nudged = false;
    loop {
        match parse_greeting(&buf) {
            Greeting::Server { version } => {
                let product = product_and_version(&version);
                return ProtocolOutcome::verified(format!(
                    "{product} greeting (server version \"{version}\")"
                ));
            }
            Greeting::Error { code, message } => {
                return ProtocolOutcome::verified(format!(
                    "MySQL/MariaDB answered with error {code} in place of a greeting: {message}"
                ));
            }
            Greeting::Foreign { why } => {
                return ProtocolOutcome::mismatch(format!(
                    "expected a MySQL/MariaDB greeting, got {}",
                    describe::reply_because(&buf, &why)
                ));
            }
            Greeting::Incomplete => {}
        }
        if nudged && matches!(buf.as_slice(), [b'S' | b'N']) {
            return ProtocolOutcome::mismatch(format!(
                "expected a MySQL/MariaDB greeting, but nothing came within {}; the port then \
                 answered a PostgreSQL SSLRequest with '{}', so it speaks PostgreSQL (a DWS or \
                 PostgreSQL port?)",
                text::duration(timeout / 2),
                String::from_utf8_lossy(&buf)
            ));
        }
        let wake = if nudged || !buf.is_empty() {
            deadline
        } else {
            nudge_at
        };
        match timeout_at(
            wake,
            read_more(&mut stream, &mut buf, 4 + MAX_GREETING_PAYLOAD),
        )
        .await
        {
            Ok(Ok(0)) => return closed(&buf, nudged),
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                return ProtocolOutcome::mismatch(format!(
                    "the connection failed before a MySQL/MariaDB greeting arrived: {error}"
                ));
            }
            Err(_) if wake == nudge_at && !nudged => {
                nudged = true;
                // A write error shows up as a failed or closed read just after.
                let _ = timeout_at(deadline, stream.write_all(&SSL_REQUEST)).await;
            }
            Err(_) => return silent(&buf, nudged, timeout),
        }
    }
}

fn closed(buf: &[u8], nudged: bool) -> ProtocolOutcome {
    let detail = if buf.is_empty() && nudged {
        "the server sent no MySQL/MariaDB greeting and closed the connection when sent a \
         PostgreSQL SSLRequest"
            .to_owned()
    } else if buf.is_empty() {
        "the server closed the connection without a MySQL/MariaDB greeting (a TCP proxy or \
         load balancer whose backend is down does this)"
            .to_owned()
    } else {
        format!(
            "the server closed the connection after {} bytes of what should have been a \
             MySQL/MariaDB greeting: {}",
            buf.len(),
            describe::reply(buf)
        )
    };
    ProtocolOutcome::mismatch(detail)
}

fn silent(buf: &[u8], nudged: bool, timeout: std::time::Duration) -> ProtocolOutcome {
    let within = text::duration(timeout);
    let detail = if !buf.is_empty() {
        format!(
            "connected, but only {} bytes of a MySQL/MariaDB greeting arrived within {within}",
            buf.len()
        )
    } else if nudged {
        format!(
            "connected, but no MySQL/MariaDB greeting within {within} (a MySQL server greets \
             at once), and no answer to a PostgreSQL SSLRequest either"
        )
    } else {
        format!("connected, but no MySQL/MariaDB greeting within {within}")
    };
    ProtocolOutcome::timeout(detail)
}

#[cfg(test)]
mod tests;
