//! DWS: GaussDB(DWS) speaks the PostgreSQL frontend/backend protocol. The check sends an
//! SSLRequest, the 8 bytes a client sends before a startup message, and expects exactly
//! one byte back: 'S' (SSL offered) or 'N' (not offered). A very old server that does
//! not know SSLRequest answers with an error message, which also proves PostgreSQL. The
//! connection is closed right after, before any startup message or login.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::describe;
use super::io::read_more;
use super::outcome::ProtocolOutcome;
use super::wire::{MAX_ERROR_REPLY, SSL_REQUEST, error_message};

pub(super) async fn check(mut stream: TcpStream, deadline: Instant) -> ProtocolOutcome {
    match timeout_at(deadline, stream.write_all(&SSL_REQUEST)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            return ProtocolOutcome::mismatch(format!(
                "the connection failed while sending a PostgreSQL SSLRequest: {error}"
            ));
        }
        Err(_) => {
            return ProtocolOutcome::timeout(
                "connected, but could not even send a PostgreSQL SSLRequest before the timeout",
            );
        }
    }
    let mut buf = Vec::new();
    loop {
        match timeout_at(deadline, read_more(&mut stream, &mut buf, MAX_ERROR_REPLY)).await {
            Ok(Ok(0)) if buf.is_empty() => {
                return ProtocolOutcome::mismatch(
                    "the server closed the connection when sent a PostgreSQL SSLRequest (a \
                     PostgreSQL server answers it with one byte)",
                );
            }
            Ok(Err(error)) if buf.is_empty() => {
                return ProtocolOutcome::mismatch(format!(
                    "the connection failed when sent a PostgreSQL SSLRequest: {error}"
                ));
            }
            Ok(Ok(0)) | Ok(Err(_)) => return judge(&buf),
            Ok(Ok(_)) => {
                if let Some(outcome) = judge_so_far(&buf) {
                    return outcome;
                }
            }
            Err(_) if buf.is_empty() => {
                return ProtocolOutcome::timeout(
                    "connected, but no answer to a PostgreSQL SSLRequest before the timeout",
                );
            }
            Err(_) => return judge(&buf),
        }
    }
}

/// None while an error reply is still coming in.
fn judge_so_far(buf: &[u8]) -> Option<ProtocolOutcome> {
    if buf.first() == Some(&b'E') && error_message(buf).is_none() {
        return None;
    }
    Some(judge(buf))
}

fn judge(buf: &[u8]) -> ProtocolOutcome {
    match buf {
        [b'S'] => ProtocolOutcome::verified("PostgreSQL (SSL offered)"),
        [b'N'] => ProtocolOutcome::verified("PostgreSQL (SSL not offered)"),
        [b'E', ..] if error_message(buf).is_some() => {
            let message = error_message(buf).unwrap_or_default();
            ProtocolOutcome::verified(format!(
                "PostgreSQL (an old server that answered the SSLRequest with an error: {message})"
            ))
        }
        _ => ProtocolOutcome::mismatch(format!(
            "expected a one-byte answer ('S' or 'N') to a PostgreSQL SSLRequest, got {}",
            describe::reply(buf)
        )),
    }
}

#[cfg(test)]
mod tests;
