//! Text that came from elsewhere (an agent's report, a server's answer), made safe to
//! store, answer and print: no C0/C1 control characters (ANSI escapes, newlines, NUL)
//! and no bidirectional formatting characters (which make a line read differently from
//! what it holds), and bounded in length.
//!
//! Whitespace controls (tab, newline, carriage return, line and paragraph separators)
//! become one space, so words stay apart; every other one becomes U+FFFD, so a reader
//! sees that something was there. Markup such as HTML is left as text: it is inert in
//! JSON and in a terminal, and the console escapes everything it shows.

/// Whether `c` may not be shown as it is: a C0 or C1 control character (Unicode
/// category Cc), a bidirectional formatting character, or a line or paragraph separator.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Arabic letter mark, left-to-right and right-to-left marks.
            '\u{061C}' | '\u{200E}' | '\u{200F}'
            // Embeddings, overrides and their pop; isolates and their pop.
            | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
        )
}

/// What `c` is shown as: itself, a space, or U+FFFD.
fn shown_as(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => ' ',
        c if is_unsafe_char(c) => char::REPLACEMENT_CHARACTER,
        c => c,
    }
}

/// Whether `text` needs [`clean`] to change anything but its length.
pub fn is_clean(text: &str) -> bool {
    !text.chars().any(is_unsafe_char)
}

/// `text` with every unsafe character replaced (see the module), cut to at most
/// `max_chars` characters and then marked with `...`.
pub fn clean(text: &str, max_chars: usize) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(max_chars).map(shown_as).collect();
    if chars.next().is_some() {
        out.push_str("...");
    }
    out
}

/// [`clean`] without a length bound, borrowing `text` when it is already clean (the
/// usual case).
pub fn clean_unbounded(text: &str) -> std::borrow::Cow<'_, str> {
    if is_clean(text) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.chars().map(shown_as).collect())
    }
}

/// Cleans, in place, every string (keys included) of a JSON value, without a length
/// bound: what a client shows of an answer. A `password` is left as sent: a client
/// never shows one, and an agent logs in with it (a changed one is a failed login).
pub fn clean_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) => {
            if !is_clean(text) {
                *text = clean_unbounded(text).into_owned();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_json),
        Value::Object(map) => {
            if map.keys().all(|key| is_clean(key)) {
                map.iter_mut()
                    .filter(|(key, _)| key.as_str() != "password")
                    .for_each(|(_, item)| clean_json(item));
            } else {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    clean_json(&mut item);
                    map.insert(clean_unbounded(&key).into_owned(), item);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_left_as_sent() {
        let mut answer =
            serde_json::json!({"login": {"user_name": "a\u{200e}b", "password": "p\tw\u{200e}"}});
        clean_json(&mut answer);
        assert_eq!(answer["login"]["password"], "p\tw\u{200e}");
        assert_ne!(answer["login"]["user_name"], "a\u{200e}b");
    }

    #[test]
    fn escapes_bidi_and_newlines_are_neutralised_and_markup_is_kept_as_text() {
        let raw = "\u{1b}[31mred\u{1b}[0m\nnext\u{202E}txt.exe\u{9b}2J\0<b>x</b>";
        let shown = clean(raw, 1_000);
        assert!(is_clean(&shown), "{shown:?}");
        assert_eq!(
            shown,
            "\u{FFFD}[31mred\u{FFFD}[0m next\u{FFFD}txt.exe\u{FFFD}2J\u{FFFD}<b>x</b>"
        );
    }

    #[test]
    fn length_is_bounded_in_characters_and_marked() {
        assert_eq!(clean("ééééé", 3), "ééé...");
        assert_eq!(clean("abc", 3), "abc");
        assert_eq!(clean("", 3), "");
    }

    #[test]
    fn json_strings_and_keys_are_cleaned_everywhere() {
        let mut value = serde_json::json!({
            "a\u{1b}": ["x\u{2066}y", {"b": "line\r\nnext"}],
            "n": 1
        });
        clean_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a\u{FFFD}": ["x\u{FFFD}y", {"b": "line  next"}], "n": 1})
        );
    }

    proptest::proptest! {
        #[test]
        fn cleaned_text_is_always_clean_and_bounded(raw in ".*", max in 0usize..50) {
            let shown = clean(&raw, max);
            proptest::prop_assert!(is_clean(&shown));
            proptest::prop_assert!(shown.chars().count() <= max + 3);
        }
    }
}
