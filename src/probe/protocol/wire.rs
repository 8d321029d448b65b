//! The byte formats that both the protocol checks and [`super::describe`] read: a
//! MySQL/MariaDB first packet and a PostgreSQL error reply. Kept apart from the checks
//! so that naming what a peer sent does not depend on the checks that ask for it.

use super::text::shorten;

// MySQL/MariaDB

/// A greeting is some 100 bytes; a first packet claiming more is not a greeting.
pub(super) const MAX_GREETING_PAYLOAD: usize = 4096;
pub(super) const PROTOCOL_VERSION_10: u8 = 10;
pub(super) const ERROR_PACKET: u8 = 0xff;

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
                message: shorten(&String::from_utf8_lossy(message)),
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

// PostgreSQL

/// Int32 length 8, then the SSLRequest code 80877103 (1234 << 16 | 5679), big-endian.
pub(super) const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// An error reply is short; more than this is not one.
pub(super) const MAX_ERROR_REPLY: usize = 8192;

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
    printable.then(|| shorten(&String::from_utf8_lossy(text)))
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
            message = Some(shorten(&String::from_utf8_lossy(&rest[..end])));
        }
        fields = rest.get(end + 1..)?;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

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

    proptest! {
        #[test]
        fn the_error_reply_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut with_e = b"E".to_vec();
            with_e.extend_from_slice(&bytes);
            let _ = error_message(&bytes);
            let _ = error_message(&with_e);
        }
    }
}
