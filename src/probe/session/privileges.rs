//! The `privileges` stage's verdict, the same words for every engine: each requested
//! privilege is held, missing, on a table that does not exist, or could not be checked.

use super::stages::{Step, Verdict};

/// What the catalog said about one requested privilege; the text names it, e.g.
/// "SELECT on public.orders".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Finding {
    Held(String),
    Missing(String),
    UnknownTable(String),
    /// The catalog query failed; the text says what and why.
    NotChecked(String),
}

/// FAILED naming every privilege missing (PRIVILEGE_MISSING), else every unknown table
/// (UNKNOWN_TABLE), else every check that could not run (QUERY_FAILED); PASSED naming
/// what is held.
pub(super) fn verdict(findings: &[Finding]) -> Step<()> {
    let list = |pick: fn(&Finding) -> Option<&String>| -> Vec<&str> {
        findings
            .iter()
            .filter_map(pick)
            .map(String::as_str)
            .collect()
    };
    let held = list(|finding| match finding {
        Finding::Held(text) => Some(text),
        _ => None,
    });
    let missing = list(|finding| match finding {
        Finding::Missing(text) => Some(text),
        _ => None,
    });
    let unknown = list(|finding| match finding {
        Finding::UnknownTable(text) => Some(text),
        _ => None,
    });
    let not_checked = list(|finding| match finding {
        Finding::NotChecked(text) => Some(text),
        _ => None,
    });
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing: {}", missing.join(", ")));
    }
    if !unknown.is_empty() {
        parts.push(format!("unknown table: {}", unknown.join(", ")));
    }
    if !not_checked.is_empty() {
        parts.push(format!("not checked: {}", not_checked.join("; ")));
    }
    if !held.is_empty() {
        parts.push(format!("held: {}", held.join(", ")));
    }
    let message = parts.join("; ");
    let reason = if !missing.is_empty() {
        "PRIVILEGE_MISSING"
    } else if !unknown.is_empty() {
        "UNKNOWN_TABLE"
    } else if !not_checked.is_empty() {
        "QUERY_FAILED"
    } else {
        return Step::Done((), Verdict::passed(message));
    };
    Step::fail(
        reason,
        format!("{message}; grant what is missing to the auth info's user or name the right table"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(step: Step<()>) -> (&'static str, String) {
        match step {
            Step::Failed(verdict) => (verdict.reason(), verdict.message().to_owned()),
            _ => panic!("expected FAILED"),
        }
    }

    #[test]
    fn every_missing_privilege_is_named_before_what_is_held() {
        let (reason, message) = failed(verdict(&[
            Finding::Held("SELECT on public.a".into()),
            Finding::Missing("SELECT on public.b".into()),
            Finding::Missing("INSERT on public.a".into()),
            Finding::UnknownTable("public.nope".into()),
        ]));
        assert_eq!(reason, "PRIVILEGE_MISSING");
        assert!(
            message.starts_with(
                "missing: SELECT on public.b, INSERT on public.a; unknown table: public.nope; \
                 held: SELECT on public.a"
            ),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_table_alone_is_its_own_reason() {
        let (reason, message) = failed(verdict(&[Finding::UnknownTable("shop.nope".into())]));
        assert_eq!(reason, "UNKNOWN_TABLE");
        assert!(message.contains("shop.nope"), "{message}");
    }

    #[test]
    fn all_held_passes_naming_them() {
        let Step::Done((), verdict) = verdict(&[Finding::Held("CREATE in schema app".into())])
        else {
            panic!("expected PASSED");
        };
        assert_eq!(verdict.message(), "held: CREATE in schema app");
    }
}
