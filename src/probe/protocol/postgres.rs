//! DWS: GaussDB(DWS) speaks the PostgreSQL frontend/backend protocol. The check sends an
//! SSLRequest, the 8 bytes a client sends before a startup message, and expects exactly
//! one byte back: 'S' (SSL offered) or 'N' (not offered). A very old server that does
//! not know SSLRequest answers with an error message, which also proves PostgreSQL. The
//! connection is closed right after, before any startup message or login.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::ProtocolOutcome;
use super::describe;
use super::io::read_more;

/// Int32 length 8, then the SSLRequest code 80877103 (1234 << 16 | 5679), big-endian.
pub(super) const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// An error reply is short; more than this is not one.
const MAX_ERROR_REPLY: usize = 8192;

/// The message of a PostgreSQL error reply: protocol 3 (`E`, int32 length, fields of a
/// type byte and a NUL-terminated string, a closing NUL) or protocol 2 (`E` and one
/// NUL-terminated string). None when `bytes` is not one, or not all there. Never panics.
pub(super) fn error_message(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(b"E")?;
    if let [l0, l1, l2, l3, ..] = rest {
        let length = u32::from_be_bytes([*l0, *l1, *l2, *l3]);
        if (5..=MAX_ERROR_REPLY as u32).contains(&length) {
            let fields = rest.get(4..usize::try_from(length).ok()?)?;
            return v3_message(fields);
        }
    }
    // Protocol 2: printable text up to a NUL.
    let end = rest.iter().position(|&b| b == 0)?;
    let text = &rest[..end];
    let printable = !text.is_empty()
        && text
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    printable.then(|| describe::shorten(&String::from_utf8_lossy(text)))
}

fn v3_message(mut fields: &[u8]) -> Option<String> {
    let mut message = None;
    loop {
        let (&kind, rest) = fields.split_first()?;
        if kind == 0 {
            return message;
        }
        let end = rest.iter().position(|&b| b == 0)?;
        if kind == b'M' {
            message = Some(describe::shorten(&String::from_utf8_lossy(&rest[..end])));
        }
        fields = rest.get(end + 1..)?;
    }
}

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
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::super::test_support::{self, MARIADB, POSTGRES};
    use super::super::verify;
    use super::*;
    use crate::domain::Service;

    #[test]
    fn protocol_3_and_protocol_2_error_replies_are_read() {
        let mut v3 = b"E\0\0\0\0SFATAL\0C0A000\0Munsupported frontend protocol\0\0".to_vec();
        let length = u32::try_from(v3.len() - 1).expect("small");
        v3[1..5].copy_from_slice(&length.to_be_bytes());
        assert_eq!(
            error_message(&v3).as_deref(),
            Some("unsupported frontend protocol")
        );
        assert_eq!(
            error_message(&v3[..v3.len() - 1]),
            None,
            "not all there yet"
        );
        assert_eq!(
            error_message(b"EFATAL: unsupported frontend protocol\n\0").as_deref(),
            Some("FATAL: unsupported frontend protocol")
        );
        assert_eq!(error_message(b"HTTP/1.1 400"), None);
    }

    #[test]
    fn only_a_lone_s_or_n_is_an_sslrequest_answer() {
        assert!(judge(b"N").is_verified());
        assert!(judge(b"S").is_verified());
        assert!(!judge(b"NO").is_verified());
        assert!(!judge(b"E").is_verified());
    }

    proptest! {
        #[test]
        fn the_error_reply_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut with_e = b"E".to_vec();
            with_e.extend_from_slice(&bytes);
            let _ = error_message(&bytes);
            let _ = error_message(&with_e);
        }
    }

    #[tokio::test]
    async fn dws_against_the_real_postgresql_is_verified() {
        let Some(stream) = test_support::connect_to_service(POSTGRES, "PostgreSQL").await else {
            return;
        };
        let outcome = verify(Service::Dws, stream, "127.0.0.1", Duration::from_secs(5)).await;
        let ProtocolOutcome::Verified { detail } = &outcome else {
            panic!("expected Verified, got {outcome:?}");
        };
        assert!(detail.starts_with("PostgreSQL (SSL"), "{detail}");
    }

    #[tokio::test]
    async fn dws_against_the_real_mariadb_is_a_mismatch_naming_mariadb() {
        let Some(stream) = test_support::connect_to_service(MARIADB, "MariaDB").await else {
            return;
        };
        let outcome = verify(Service::Dws, stream, "127.0.0.1", Duration::from_secs(5)).await;
        let ProtocolOutcome::Mismatch { detail } = &outcome else {
            panic!("expected Mismatch, got {outcome:?}");
        };
        assert!(
            detail.contains("a MySQL/MariaDB greeting (MariaDB"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn dws_against_an_http_server_is_a_mismatch_naming_http() {
        let address = test_support::http_server(test_support::elasticsearch_router()).await;
        let stream = test_support::connect(address).await;
        let outcome = verify(Service::Dws, stream, "127.0.0.1", Duration::from_secs(2)).await;
        let ProtocolOutcome::Mismatch { detail } = &outcome else {
            panic!("expected Mismatch, got {outcome:?}");
        };
        assert!(detail.contains("an HTTP response"), "{detail}");
    }

    #[tokio::test]
    async fn dws_against_a_silent_listener_times_out_within_the_timeout() {
        let timeout = Duration::from_secs(2);
        let (outcome, elapsed) = test_support::verify_silent(Service::Dws, timeout).await;
        assert!(
            matches!(outcome, ProtocolOutcome::Timeout { .. }),
            "expected Timeout, got {outcome:?}"
        );
        test_support::assert_within_timeout(elapsed, timeout);
    }
}
