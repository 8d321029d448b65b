//! Puts into words what a peer sent when it was not what the check expected, so that a
//! mismatch names the protocol that is really there.

use super::text::first_line;
use super::wire::{self, Greeting};

/// What `bytes`, the start of a peer's reply, looks like: "an HTTP response (HTTP/1.1 400
/// Bad Request)", "a TLS alert", "a MySQL/MariaDB greeting (MariaDB 10.11.19)", ...
pub(super) fn reply(bytes: &[u8]) -> String {
    known(bytes).unwrap_or_else(|| unknown(bytes))
}

/// Like [`reply`], adding the parser's `why` when the bytes are of no protocol known here.
pub(super) fn reply_because(bytes: &[u8], why: &str) -> String {
    known(bytes).unwrap_or_else(|| format!("{} ({why})", unknown(bytes)))
}

fn known(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return Some("nothing".to_owned());
    }
    if bytes.starts_with(b"HTTP/") {
        return Some(format!("an HTTP response ({})", first_line(bytes)));
    }
    match wire::parse_greeting(bytes) {
        Greeting::Server { version } => {
            return Some(format!(
                "a MySQL/MariaDB greeting ({})",
                wire::product_and_version(&version)
            ));
        }
        Greeting::Error { code, message } => {
            return Some(format!("a MySQL/MariaDB error packet ({code}: {message})"));
        }
        Greeting::Incomplete | Greeting::Foreign { .. } => {}
    }
    let named = match bytes {
        [0x15, 0x03, ..] => "a TLS alert".to_owned(),
        [0x16, 0x03, ..] => "a TLS handshake record".to_owned(),
        [reply @ (b'S' | b'N')] => format!(
            "the one-byte PostgreSQL SSLRequest reply '{}'",
            char::from(*reply)
        ),
        _ if bytes.starts_with(b"SSH-") => format!("an SSH banner ({})", first_line(bytes)),
        _ if bytes.starts_with(b"AMQP") => {
            "an AMQP protocol header (a message broker such as RabbitMQ)".to_owned()
        }
        _ if bytes.starts_with(b"-ERR") || bytes.starts_with(b"-NOAUTH") => {
            format!("a Redis error reply ({})", first_line(bytes))
        }
        _ if bytes.starts_with(b"INFO {") => "a NATS INFO line".to_owned(),
        _ if bytes.starts_with(b"220") => {
            format!("an SMTP or FTP banner ({})", first_line(bytes))
        }
        _ => {
            let message = wire::error_message(bytes)?;
            format!("a PostgreSQL error message ({message})")
        }
    };
    Some(named)
}

fn unknown(bytes: &[u8]) -> String {
    let printable = bytes
        .iter()
        .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n' || b == b'\t');
    if printable {
        return format!("text \"{}\"", first_line(bytes));
    }
    format!(
        "{} bytes of unrecognised binary data ({})",
        bytes.len(),
        hex_prefix(bytes)
    )
}

fn hex_prefix(bytes: &[u8]) -> String {
    const SHOWN: usize = 16;
    let hex: Vec<String> = bytes
        .iter()
        .take(SHOWN)
        .map(|b| format!("{b:02x}"))
        .collect();
    let more = if bytes.len() > SHOWN { " ..." } else { "" };
    format!("hex {}{more}", hex.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n",
        "an HTTP response (HTTP/1.1 400 Bad Request)"
    )]
    #[case(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28], "a TLS alert")]
    #[case(b"N", "the one-byte PostgreSQL SSLRequest reply 'N'")]
    #[case(b"SSH-2.0-OpenSSH_9.2\r\n", "an SSH banner (SSH-2.0-OpenSSH_9.2)")]
    #[case(
        b"-ERR unknown command\r\n",
        "a Redis error reply (-ERR unknown command)"
    )]
    #[case(b"hello there\n", "text \"hello there\"")]
    #[case(&[0x00, 0x01, 0xfe], "3 bytes of unrecognised binary data (hex 00 01 fe)")]
    fn replies_are_named_by_what_they_look_like(#[case] bytes: &[u8], #[case] expected: &str) {
        assert_eq!(reply(bytes), expected);
    }

    #[test]
    fn the_parser_reason_is_added_only_for_unknown_bytes() {
        assert_eq!(
            reply_because(b"HTTP/1.1 200 OK\r\n", "why"),
            "an HTTP response (HTTP/1.1 200 OK)"
        );
        assert_eq!(reply_because(b"hello", "why"), "text \"hello\" (why)");
    }
}
