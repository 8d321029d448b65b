//! The stages of a check as answers show them and the store keeps them (issue 26):
//! `resolve` -> `connect` -> `tls` -> `protocol` -> `login` -> `query` -> `privileges`,
//! each with a verdict, a machine-readable reason, a message a person can act on and its
//! duration; and what a credentialed check asks for ([`SessionCheck`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::privilege::PrivilegeRequest;

/// One step of a check, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    /// The hosts file, then DNS.
    Resolve,
    /// TCP, per address, under the outbound policy.
    Connect,
    /// The TLS handshake, chain, host name and expiry (when the source uses TLS).
    Tls,
    /// The service's own handshake.
    Protocol,
    /// A login with the auth info's user and password.
    Login,
    /// `SELECT 1` (a database) or the cluster's health (CSS).
    Query,
    /// The privileges the job needs, from the server's own catalog.
    Privileges,
}

impl StageName {
    pub fn as_str(self) -> &'static str {
        match self {
            StageName::Resolve => "resolve",
            StageName::Connect => "connect",
            StageName::Tls => "tls",
            StageName::Protocol => "protocol",
            StageName::Login => "login",
            StageName::Query => "query",
            StageName::Privileges => "privileges",
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StageVerdict {
    Passed,
    Failed,
    /// Not run: an earlier stage failed, or it cannot be checked (the reason says why).
    Skipped,
}

impl StageVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            StageVerdict::Passed => "PASSED",
            StageVerdict::Failed => "FAILED",
            StageVerdict::Skipped => "SKIPPED",
        }
    }
}

/// What one stage found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StageResult {
    pub stage: StageName,
    pub verdict: StageVerdict,
    /// Machine-readable (e.g. `AUTH_FAILED`, `CONNECTION_REFUSED`, `EARLIER_STAGE_FAILED`);
    /// empty when there is nothing to say.
    #[serde(default)]
    pub reason: String,
    /// What was found, in words a person can act on.
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// Most stages a result holds (there are seven); more from an agent are cut.
pub const MAX_STAGES: usize = 7;

/// True only when there are stages and every one PASSED.
pub fn verified(stages: &[StageResult]) -> bool {
    !stages.is_empty()
        && stages
            .iter()
            .all(|stage| stage.verdict == StageVerdict::Passed)
}

/// What a credentialed check asks for besides reachability: whose login, into which
/// database, and which privileges. Stored with a test (never with a secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCheck {
    /// The project's auth info to log in with; None with an inline auth info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info_name: Option<String>,
    /// An auth info given with the request, used once and never stored: the server holds
    /// it in memory until the test ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<PrivilegeRequest>,
}

/// Most privileges one check may ask for.
pub const MAX_PRIVILEGE_REQUESTS: usize = 32;
/// Longest database name accepted (PostgreSQL's limit is 63 bytes, MySQL's 64).
pub const MAX_DATABASE_CHARS: usize = 64;

/// A database name as a check may name it: 1-64 printable characters, no quotes or
/// backslashes (it is passed to drivers, never spliced into SQL). Err: why not.
pub fn parse_database(raw: &str) -> Result<String, String> {
    let fits = !raw.is_empty()
        && raw.chars().count() <= MAX_DATABASE_CHARS
        && raw
            .chars()
            .all(|c| !c.is_control() && !matches!(c, '\'' | '"' | '`' | '\\'));
    if fits {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "database must be 1-{MAX_DATABASE_CHARS} characters without quotes, backslashes \
             or control characters"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(verdict: StageVerdict) -> StageResult {
        StageResult {
            stage: StageName::Login,
            verdict,
            reason: String::new(),
            message: String::new(),
            elapsed_ms: 0,
        }
    }

    #[test]
    fn verified_needs_every_stage_passed() {
        assert!(!verified(&[]));
        assert!(verified(&[stage(StageVerdict::Passed)]));
        assert!(!verified(&[
            stage(StageVerdict::Passed),
            stage(StageVerdict::Skipped)
        ]));
        assert!(!verified(&[stage(StageVerdict::Failed)]));
    }

    #[test]
    fn stage_results_read_as_the_issue_spells_them() {
        let json = serde_json::to_value(stage(StageVerdict::Skipped)).unwrap_or_default();
        assert_eq!(json["stage"], "login");
        assert_eq!(json["verdict"], "SKIPPED");
    }

    #[test]
    fn database_names_are_bounded_and_unquoted() {
        assert_eq!(parse_database("shop_1").as_deref(), Ok("shop_1"));
        assert!(parse_database("").is_err());
        assert!(parse_database("a'b").is_err());
        assert!(parse_database(&"d".repeat(65)).is_err());
    }
}
