//! CloudTable: a ZooKeeper session handshake. The check sends a ConnectRequest for a new
//! session, reads the ConnectResponse, and closes the session at once with a
//! closeSession request, so nothing lingers on the ensemble. No znode is read or written.
//!
//! Wire format (jute, big-endian, every message prefixed by an int32 length):
//! ConnectRequest  = protocolVersion:int32 lastZxidSeen:int64 timeOut:int32
//!                   sessionId:int64 passwd:buffer readOnly:bool
//! ConnectResponse = protocolVersion:int32 timeOut:int32 sessionId:int64 passwd:buffer
//!                   [readOnly:bool]
//! closeSession    = RequestHeader(xid:int32, type:int32 = -11)
//! reply           = ReplyHeader(xid:int32, zxid:int64, err:int32)

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::describe;
use super::io::read_more;
use super::outcome::ProtocolOutcome;

/// The session timeout asked for; the server clamps it to its own bounds.
const REQUESTED_SESSION_TIMEOUT_MS: i32 = 10_000;
const PASSWORD_LENGTH: i32 = 16;
/// A ConnectResponse is 36 or 37 bytes; the bound leaves room for longer passwords.
const MIN_RESPONSE: i32 = 20;
const MAX_RESPONSE: i32 = 1024;
const CLOSE_SESSION_XID: i32 = 1;
const OP_CLOSE_SESSION: i32 = -11;
const REPLY_HEADER_LENGTH: usize = 16;

/// The length-prefixed ConnectRequest for a new session (49 bytes).
pub(super) fn connect_request() -> Vec<u8> {
    let mut body = Vec::with_capacity(45);
    body.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
    body.extend_from_slice(&0i64.to_be_bytes()); // lastZxidSeen
    body.extend_from_slice(&REQUESTED_SESSION_TIMEOUT_MS.to_be_bytes());
    body.extend_from_slice(&0i64.to_be_bytes()); // sessionId: 0 asks for a new one
    body.extend_from_slice(&PASSWORD_LENGTH.to_be_bytes());
    body.extend_from_slice(&[0; 16]); // passwd
    body.push(0); // readOnly = false
    framed(&body)
}

/// The length-prefixed closeSession request.
pub(super) fn close_session_request() -> Vec<u8> {
    let mut body = Vec::with_capacity(8);
    body.extend_from_slice(&CLOSE_SESSION_XID.to_be_bytes());
    body.extend_from_slice(&OP_CLOSE_SESSION.to_be_bytes());
    framed(&body)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let length = i32::try_from(body.len()).unwrap_or(i32::MAX);
    let mut bytes = length.to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

/// What the server's first bytes say, as far as they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Handshake {
    /// Too few bytes to tell yet.
    Incomplete,
    /// A well-formed ConnectResponse.
    Session {
        timeout_ms: i32,
        session_id: i64,
        read_only: bool,
    },
    /// Not a ConnectResponse; `why` names the first thing that did not fit.
    Foreign { why: String },
}

fn be_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes(field.try_into().ok()?))
}

fn be_i64(bytes: &[u8], at: usize) -> Option<i64> {
    let field = bytes.get(at..at.checked_add(8)?)?;
    Some(i64::from_be_bytes(field.try_into().ok()?))
}

/// Reads a length-prefixed ConnectResponse. Never panics.
pub(super) fn parse_connect_response(bytes: &[u8]) -> Handshake {
    let foreign = |why: String| Handshake::Foreign { why };
    let Some(length) = be_i32(bytes, 0) else {
        return Handshake::Incomplete;
    };
    if !(MIN_RESPONSE..=MAX_RESPONSE).contains(&length) {
        return foreign(format!(
            "a first message of {length} bytes where a ConnectResponse has about 37"
        ));
    }
    // In range 20..=1024, so the conversion cannot fail.
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    let Some(body) = bytes.get(4..4 + length) else {
        return Handshake::Incomplete;
    };
    let fields = (|| {
        let _protocol_version = be_i32(body, 0)?;
        let timeout_ms = be_i32(body, 4)?;
        let session_id = be_i64(body, 8)?;
        let password_length = usize::try_from(be_i32(body, 16)?).ok()?;
        let after_password = 20usize.checked_add(password_length)?;
        body.get(20..after_password)?;
        let read_only = body.get(after_password) == Some(&1);
        Some((timeout_ms, session_id, read_only))
    })();
    match fields {
        Some((timeout_ms, session_id, read_only)) => Handshake::Session {
            timeout_ms,
            session_id,
            read_only,
        },
        None => foreign("a malformed ConnectResponse".to_owned()),
    }
}

/// Whether a closeSession reply confirms the close. Never panics.
fn parse_close_reply(bytes: &[u8]) -> Option<bool> {
    let length = usize::try_from(be_i32(bytes, 0)?).ok()?;
    if length < REPLY_HEADER_LENGTH {
        return Some(false);
    }
    let xid = be_i32(bytes, 4)?;
    let error = be_i32(bytes, 16)?;
    Some(xid == CLOSE_SESSION_XID && error == 0)
}

pub(super) async fn check(mut stream: TcpStream, deadline: Instant) -> ProtocolOutcome {
    if timeout_at(deadline, stream.write_all(&connect_request()))
        .await
        .is_err()
    {
        return ProtocolOutcome::timeout(
            "connected, but could not even send a ZooKeeper ConnectRequest before the timeout",
        );
    }
    // A write error shows up as a failed or closed read just after.
    let mut buf = Vec::new();
    loop {
        match parse_connect_response(&buf) {
            Handshake::Incomplete => {}
            Handshake::Foreign { why } => {
                return ProtocolOutcome::mismatch(format!(
                    "expected a ZooKeeper ConnectResponse, got {}",
                    describe::reply_because(&buf, &why)
                ));
            }
            Handshake::Session {
                timeout_ms,
                session_id,
                read_only,
            } => {
                if session_id == 0 || timeout_ms <= 0 {
                    return ProtocolOutcome::mismatch(format!(
                        "ZooKeeper answered the session handshake but granted no session \
                         (session id {session_id:#x}, timeout {timeout_ms} ms)"
                    ));
                }
                let closed = close_session(&mut stream, deadline).await;
                let mode = if read_only { ", read-only server" } else { "" };
                let close_note = if closed {
                    "closed at once".to_owned()
                } else {
                    format!(
                        "closeSession sent but not confirmed; the server expires it after \
                         {timeout_ms} ms"
                    )
                };
                return ProtocolOutcome::verified(format!(
                    "ZooKeeper session handshake (session {session_id:#x}, timeout \
                     {timeout_ms} ms{mode}; {close_note})"
                ));
            }
        }
        match timeout_at(
            deadline,
            read_more(&mut stream, &mut buf, 4 + MAX_RESPONSE as usize),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) if buf.is_empty() => {
                return ProtocolOutcome::mismatch(
                    "the server closed the connection without answering a ZooKeeper session \
                     handshake (a ZooKeeper that is not serving, such as an ensemble member \
                     without a quorum, does this; so does a server of another protocol)",
                );
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                return ProtocolOutcome::mismatch(format!(
                    "the server closed the connection after {} bytes of what should have been \
                     a ZooKeeper ConnectResponse: {}",
                    buf.len(),
                    describe::reply(&buf)
                ));
            }
            Ok(Ok(_)) => {}
            Err(_) => {
                return ProtocolOutcome::timeout(
                    "connected, but no answer to a ZooKeeper session handshake before the \
                     timeout",
                );
            }
        }
    }
}

/// Sends closeSession and waits for its reply, at most until `deadline`. True when the
/// server confirmed the close.
async fn close_session(stream: &mut TcpStream, deadline: Instant) -> bool {
    match timeout_at(deadline, stream.write_all(&close_session_request())).await {
        Ok(Ok(())) => {}
        _ => return false,
    }
    let mut buf = Vec::new();
    loop {
        if let Some(confirmed) = parse_close_reply(&buf) {
            return confirmed;
        }
        match timeout_at(deadline, read_more(stream, &mut buf, 64)).await {
            Ok(Ok(read)) if read > 0 => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests;
