//! Text for detail messages: durations, errors and peers' replies as a person reads them.

use std::time::Duration;

/// A timeout as a person reads it: "5s", "1s 500ms".
pub(super) fn duration(duration: Duration) -> String {
    // Whole milliseconds: nobody acts on microseconds.
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    humantime::format_duration(Duration::from_millis(millis)).to_string()
}

/// An error and its sources, e.g. "connection error: Connection reset by peer (os error
/// 104)".
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The first line of a text reply, trimmed and cut to a readable length.
pub(super) fn first_line(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    shorten(text.trim())
}

/// Cuts text for a detail message and drops control characters.
pub(super) fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 120;
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().count() > MAX_CHARS {
        let cut: String = cleaned.chars().take(MAX_CHARS).collect();
        format!("{cut}...")
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut() {
        let long = "x".repeat(500);
        assert_eq!(shorten(&long).chars().count(), 123);
    }
}
