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

use super::ProtocolOutcome;
use super::describe;
use super::io::read_more;
use super::postgres::SSL_REQUEST;

/// A greeting is some 100 bytes; a first packet claiming more is not a greeting.
const MAX_GREETING_PAYLOAD: usize = 4096;
const PROTOCOL_VERSION_10: u8 = 10;
const ERROR_PACKET: u8 = 0xff;

/// What the first bytes from a server say, as far as they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Greeting {
    /// Too few bytes to tell yet.
    Incomplete,
    /// A protocol-10 initial handshake packet.
    Server { version: String },
    /// An error packet in place of the greeting, e.g. 1130 "Host ... is not allowed".
    Error { code: u16, message: String },
    /// Not a MySQL first packet; `why` names the first thing that did not fit.
    Foreign { why: String },
}

/// Reads a MySQL first packet: a 3-byte little-endian payload length, sequence id 0,
/// then a payload starting with 10 (greeting) or 0xff (error). Never panics.
pub(super) fn parse_greeting(bytes: &[u8]) -> Greeting {
    let foreign = |why: String| Greeting::Foreign { why };
    let [b0, b1, b2, sequence, rest @ ..] = bytes else {
        return Greeting::Incomplete;
    };
    let length = usize::from(*b0) | usize::from(*b1) << 8 | usize::from(*b2) << 16;
    if *sequence != 0 {
        return foreign(format!("sequence id {sequence} where a greeting has 0"));
    }
    if length == 0 || length > MAX_GREETING_PAYLOAD {
        return foreign(format!("a first packet of {length} bytes"));
    }
    match rest.first() {
        None => return Greeting::Incomplete,
        Some(&PROTOCOL_VERSION_10 | &ERROR_PACKET) => {}
        Some(other) => {
            return foreign(format!(
                "a first packet of type 0x{other:02x} where a greeting has protocol version 10"
            ));
        }
    }
    let Some(payload) = rest.get(..length) else {
        return Greeting::Incomplete;
    };
    match payload {
        [PROTOCOL_VERSION_10, after @ ..] => parse_handshake_v10(after),
        [ERROR_PACKET, code_low, code_high, message @ ..] => {
            // Before capabilities are agreed the server omits the "#" + SQLSTATE marker,
            // but some versions send it anyway.
            let message = match message {
                [b'#', _, _, _, _, _, text @ ..] => text,
                text => text,
            };
            Greeting::Error {
                code: u16::from_le_bytes([*code_low, *code_high]),
                message: describe::shorten(&String::from_utf8_lossy(message)),
            }
        }
        _ => foreign("a truncated error packet".to_owned()),
    }
}

fn parse_handshake_v10(after_version_byte: &[u8]) -> Greeting {
    let foreign = |why: &str| Greeting::Foreign {
        why: why.to_owned(),
    };
    let Some(end) = after_version_byte.iter().position(|&b| b == 0) else {
        return foreign("a greeting without a terminated server version");
    };
    let (version, rest) = after_version_byte.split_at(end);
    if version.is_empty() || !version.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return foreign("a greeting whose server version is not text");
    }
    // NUL, connection id (4), first auth-plugin-data part (8), filler (1).
    if rest.len() < 1 + 4 + 8 + 1 {
        return foreign("a greeting cut short after the server version");
    }
    Greeting::Server {
        version: String::from_utf8_lossy(version).into_owned(),
    }
}

/// "MariaDB 10.11.19" from "5.5.5-10.11.19-MariaDB-0+deb12u1", "MySQL 8.0.36" from
/// "8.0.36-0ubuntu0.22.04.1".
pub(super) fn product_and_version(version: &str) -> String {
    if version.contains("MariaDB") {
        // MariaDB prefixes "5.5.5-" so that old MySQL clients accept it.
        let bare = version.strip_prefix("5.5.5-").unwrap_or(version);
        let number = bare.split('-').next().unwrap_or(bare);
        format!("MariaDB {number}")
    } else {
        let number = version.split('-').next().unwrap_or(version);
        format!("MySQL {number}")
    }
}

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
                describe::duration(timeout / 2),
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
    let within = describe::duration(timeout);
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
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::super::test_support::{self, MARIADB, POSTGRES};
    use super::super::verify;
    use super::*;
    use crate::domain::Service;

    /// A greeting packet as MariaDB 10.11 sends it, cut to the fields the parser reads.
    fn greeting(version: &str) -> Vec<u8> {
        let mut payload = vec![PROTOCOL_VERSION_10];
        payload.extend_from_slice(version.as_bytes());
        payload.push(0);
        payload.extend_from_slice(&[7, 0, 0, 0]); // connection id
        payload.extend_from_slice(b"abcdefgh"); // auth plugin data, part 1
        payload.push(0); // filler
        payload.extend_from_slice(&[0xfe, 0xf7, 0x2d, 0x02, 0x00]);
        packet(&payload)
    }

    fn packet(payload: &[u8]) -> Vec<u8> {
        let length = u32::try_from(payload.len()).expect("small");
        let mut bytes = length.to_le_bytes()[..3].to_vec();
        bytes.push(0);
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn a_mariadb_greeting_is_read_whole_and_not_before() {
        let bytes = greeting("5.5.5-10.11.19-MariaDB-0+deb12u1");
        for cut in 0..bytes.len() {
            assert_eq!(
                parse_greeting(&bytes[..cut]),
                Greeting::Incomplete,
                "cut at {cut}"
            );
        }
        let Greeting::Server { version } = parse_greeting(&bytes) else {
            panic!("not a greeting: {:?}", parse_greeting(&bytes));
        };
        assert_eq!(product_and_version(&version), "MariaDB 10.11.19");
        assert_eq!(
            product_and_version("8.0.36-0ubuntu0.22.04.1"),
            "MySQL 8.0.36"
        );
    }

    #[test]
    fn a_host_not_allowed_error_packet_is_a_mysql_answer() {
        let mut payload = vec![ERROR_PACKET, 0x6a, 0x04];
        payload
            .extend_from_slice(b"Host '10.0.0.9' is not allowed to connect to this MariaDB server");
        assert_eq!(
            parse_greeting(&packet(&payload)),
            Greeting::Error {
                code: 1130,
                message: "Host '10.0.0.9' is not allowed to connect to this MariaDB server"
                    .to_owned()
            }
        );
    }

    #[test]
    fn other_first_bytes_are_foreign_as_soon_as_they_show_it() {
        assert!(matches!(
            parse_greeting(b"HTTP/1.1 400"),
            Greeting::Foreign { .. }
        ));
        assert!(matches!(
            parse_greeting(&[5, 0, 0, 0, 9]),
            Greeting::Foreign { .. }
        ));
        assert!(matches!(
            parse_greeting(&[5, 0, 0, 1]),
            Greeting::Foreign { .. }
        ));
        assert!(matches!(
            parse_greeting(&[0, 0, 0, 0]),
            Greeting::Foreign { .. }
        ));
    }

    proptest! {
        #[test]
        fn the_greeting_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_greeting(&bytes);
        }

        #[test]
        fn the_greeting_parser_never_panics_on_plausible_headers(
            length in 0usize..64,
            kind in prop_oneof![Just(10u8), Just(0xffu8), any::<u8>()],
            body in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut bytes = vec![u8::try_from(length).expect("small"), 0, 0, 0, kind];
            bytes.extend_from_slice(&body);
            let _ = parse_greeting(&bytes);
        }
    }

    #[tokio::test]
    async fn rds_against_the_real_mariadb_is_verified() {
        let Some(stream) = test_support::connect_to_service(MARIADB, "MariaDB").await else {
            return;
        };
        let outcome = verify(Service::Rds, stream, "127.0.0.1", Duration::from_secs(5)).await;
        let ProtocolOutcome::Verified { detail } = &outcome else {
            panic!("expected Verified, got {outcome:?}");
        };
        assert!(detail.starts_with("MariaDB "), "{detail}");
        assert!(detail.contains("greeting"), "{detail}");
    }

    #[tokio::test]
    async fn rds_against_the_real_postgresql_is_a_mismatch_naming_postgresql() {
        let Some(stream) = test_support::connect_to_service(POSTGRES, "PostgreSQL").await else {
            return;
        };
        let outcome = verify(Service::Rds, stream, "127.0.0.1", Duration::from_secs(2)).await;
        let ProtocolOutcome::Mismatch { detail } = &outcome else {
            panic!("expected Mismatch, got {outcome:?}");
        };
        assert!(detail.contains("speaks PostgreSQL"), "{detail}");
    }

    #[tokio::test]
    async fn rds_against_an_http_server_is_a_mismatch_naming_http() {
        let address = test_support::http_server(test_support::elasticsearch_router()).await;
        let stream = test_support::connect(address).await;
        let outcome = verify(Service::Rds, stream, "127.0.0.1", Duration::from_secs(2)).await;
        let ProtocolOutcome::Mismatch { detail } = &outcome else {
            panic!("expected Mismatch, got {outcome:?}");
        };
        assert!(detail.contains("an HTTP response"), "{detail}");
    }

    #[tokio::test]
    async fn rds_against_a_listener_that_closes_at_once_is_a_mismatch() {
        let address = test_support::closing_listener().await;
        let stream = test_support::connect(address).await;
        let outcome = verify(Service::Rds, stream, "127.0.0.1", Duration::from_secs(2)).await;
        let ProtocolOutcome::Mismatch { detail } = &outcome else {
            panic!("expected Mismatch, got {outcome:?}");
        };
        assert!(detail.contains("closed the connection"), "{detail}");
    }

    #[tokio::test]
    async fn rds_against_a_silent_listener_times_out_within_the_timeout() {
        let timeout = Duration::from_secs(2);
        let (outcome, elapsed) = test_support::verify_silent(Service::Rds, timeout).await;
        assert!(
            matches!(outcome, ProtocolOutcome::Timeout { .. }),
            "expected Timeout, got {outcome:?}"
        );
        test_support::assert_within_timeout(elapsed, timeout);
    }
}
