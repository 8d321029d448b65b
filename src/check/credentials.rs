//! The pure rules of a binding's credentialed stages (issue 26): a connection that names
//! an auth info makes its bindings' checks log in, and a binding whose login, query or
//! privileges FAILED is FAILED with that reason. No clock, no store.

use super::job::Place;
use crate::domain::{StageName, StageResult, StageVerdict};
use crate::store::{BindingCredentials, BindingVerdict, LoginMark};

/// The reason of a login a re-check skips because the last one FAILED (no lockouts:
/// one failed login is not repeated until the auth info changes or a test asks).
pub const LAST_LOGIN_FAILED: &str = "LAST_LOGIN_FAILED";

/// The stages after `protocol`, which only a check with credentials runs.
const CREDENTIAL_STAGES: [StageName; 3] =
    [StageName::Login, StageName::Query, StageName::Privileges];

/// What a binding's check with credentialed stages decides, besides reachability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFinding {
    pub credentials: BindingCredentials,
    /// Some: the binding's status by its credentials (FAILED with why, or ACTIVE when
    /// each credential stage PASSED); None: they decided nothing (not run, or skipped
    /// for an earlier stage or a missing credential).
    pub verdict: Option<BindingVerdict>,
}

/// What `stages` (every stage of a binding's check of `queue` from `place`, that
/// started at `checked_at`) say of its credentials; nothing when no login was asked.
pub fn credential_finding(
    stages: &[StageResult],
    queue: &str,
    place: &Place,
    checked_at: i64,
) -> CredentialFinding {
    let Some(login) = stages.iter().find(|stage| stage.stage == StageName::Login) else {
        return CredentialFinding {
            credentials: BindingCredentials::default(),
            verdict: None,
        };
    };
    let login_mark = match login.verdict {
        StageVerdict::Failed => LoginMark::Failed(checked_at),
        StageVerdict::Passed => LoginMark::Passed,
        StageVerdict::Skipped => LoginMark::Keep,
    };
    let failing = stages.iter().find(|stage| {
        CREDENTIAL_STAGES.contains(&stage.stage)
            && (stage.verdict == StageVerdict::Failed
                || (stage.stage == StageName::Login && stage.reason == LAST_LOGIN_FAILED))
    });
    let credential_stages = || {
        stages
            .iter()
            .filter(|stage| CREDENTIAL_STAGES.contains(&stage.stage))
    };
    let verdict = match failing {
        Some(stage) => Some(BindingVerdict {
            active: false,
            err_msg: format!(
                "queue {queue}, checked from {}: {} {}: {}",
                place.described(),
                stage.stage.as_str(),
                match stage.verdict {
                    StageVerdict::Failed => "failed",
                    _ => "skipped",
                },
                stage.message
            ),
            // `failure_reason` names why an address failed; the stage says why a login did.
            failure_reason: None,
        }),
        None if credential_stages().all(|stage| stage.verdict == StageVerdict::Passed) => {
            Some(BindingVerdict {
                active: true,
                err_msg: String::new(),
                failure_reason: None,
            })
        }
        None => None,
    };
    CredentialFinding {
        credentials: BindingCredentials {
            stages: serde_json::to_string(stages).ok(),
            failed: verdict.as_ref().is_some_and(|verdict| !verdict.active),
            login: login_mark,
        },
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(stage: StageName, verdict: StageVerdict, reason: &str) -> StageResult {
        StageResult {
            stage,
            verdict,
            reason: reason.to_owned(),
            message: format!("{} {reason}", stage.as_str()),
            elapsed_ms: 1,
        }
    }

    fn reached(rest: Vec<StageResult>) -> Vec<StageResult> {
        let mut stages = vec![
            stage(StageName::Resolve, StageVerdict::Passed, ""),
            stage(StageName::Connect, StageVerdict::Passed, ""),
            stage(StageName::Protocol, StageVerdict::Passed, ""),
        ];
        stages.extend(rest);
        stages
    }

    fn at_agent() -> Place {
        Place::Agent("a1".to_owned())
    }

    #[test]
    fn without_a_login_stage_nothing_is_decided_or_kept() {
        let finding = credential_finding(&reached(Vec::new()), "q1", &at_agent(), 5);
        assert_eq!(finding.verdict, None);
        assert_eq!(finding.credentials, BindingCredentials::default());
    }

    #[test]
    fn a_failed_login_fails_the_binding_naming_the_stage_and_marks_when() {
        let stages = reached(vec![
            stage(StageName::Login, StageVerdict::Failed, "AUTH_FAILED"),
            stage(
                StageName::Query,
                StageVerdict::Skipped,
                "EARLIER_STAGE_FAILED",
            ),
        ]);
        let finding = credential_finding(&stages, "q1", &at_agent(), 5);
        let verdict = finding.verdict.expect("a verdict");
        assert!(!verdict.active);
        assert_eq!(
            verdict.err_msg,
            "queue q1, checked from agent a1: login failed: login AUTH_FAILED"
        );
        assert_eq!(verdict.failure_reason, None);
        assert!(finding.credentials.failed);
        assert_eq!(finding.credentials.login, LoginMark::Failed(5));
        let kept: Vec<StageResult> =
            serde_json::from_str(finding.credentials.stages.as_deref().expect("stages"))
                .expect("stages JSON");
        assert_eq!(kept, stages);
    }

    #[test]
    fn a_missing_privilege_fails_the_binding_after_a_login_that_passed() {
        let stages = reached(vec![
            stage(StageName::Login, StageVerdict::Passed, ""),
            stage(StageName::Query, StageVerdict::Passed, ""),
            stage(
                StageName::Privileges,
                StageVerdict::Failed,
                "PRIVILEGE_MISSING",
            ),
        ]);
        let finding = credential_finding(&stages, "q1", &Place::Server, 5);
        let verdict = finding.verdict.expect("a verdict");
        assert!(!verdict.active);
        assert!(
            verdict
                .err_msg
                .starts_with("queue q1, checked from the server: privileges failed")
        );
        assert_eq!(finding.credentials.login, LoginMark::Passed);
    }

    #[test]
    fn a_login_skipped_after_a_failed_one_keeps_the_binding_failed_and_the_mark() {
        let stages = reached(vec![
            stage(StageName::Login, StageVerdict::Skipped, LAST_LOGIN_FAILED),
            stage(
                StageName::Query,
                StageVerdict::Skipped,
                "EARLIER_STAGE_SKIPPED",
            ),
        ]);
        let finding = credential_finding(&stages, "q1", &at_agent(), 9);
        let verdict = finding.verdict.expect("a verdict");
        assert!(!verdict.active);
        assert!(
            verdict.err_msg.contains("login skipped"),
            "{}",
            verdict.err_msg
        );
        assert!(finding.credentials.failed);
        assert_eq!(finding.credentials.login, LoginMark::Keep);
    }

    #[test]
    fn every_credential_stage_passing_makes_the_binding_active() {
        let stages = reached(vec![
            stage(StageName::Login, StageVerdict::Passed, ""),
            stage(StageName::Query, StageVerdict::Passed, ""),
        ]);
        let finding = credential_finding(&stages, "q1", &at_agent(), 5);
        assert_eq!(finding.verdict.map(|verdict| verdict.active), Some(true));
        assert!(!finding.credentials.failed);
    }

    #[test]
    fn a_login_skipped_for_an_earlier_stage_or_a_missing_credential_decides_nothing() {
        for reason in ["EARLIER_STAGE_FAILED", "CREDENTIALS_WITHHELD"] {
            let stages = reached(vec![stage(StageName::Login, StageVerdict::Skipped, reason)]);
            let finding = credential_finding(&stages, "q1", &at_agent(), 5);
            assert_eq!(finding.verdict, None, "{reason}");
            assert_eq!(finding.credentials.login, LoginMark::Keep);
            assert!(finding.credentials.stages.is_some());
        }
    }
}
