//! The stage list every answer shows (issue 26): what a check's stages found, as
//! `resolve` -> `connect` -> `tls` -> `protocol` -> `login` -> `query` -> `privileges`,
//! the list the API answers and the store keeps. Pure.

use super::stages::Findings;
use crate::domain::text::clean;
use crate::domain::{FailureReason, Service, StageName, StageResult, StageVerdict};
use crate::probe::session::{SessionStage, SessionStageReport, SessionVerdict};
use crate::probe::{AddressCheck, CheckReport, MAX_DETAIL_CHARS};

/// Longest message of a stage.
const MAX_STAGE_MESSAGE_CHARS: usize = MAX_DETAIL_CHARS * 2;
/// Longest reason: reasons are short SCREAMING_SNAKE words.
const MAX_REASON_CHARS: usize = 64;

/// What a check asked for besides reachability, which decides the stages planned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    /// Login and query (an auth info was named or given).
    pub session: bool,
    /// Privileges too.
    pub privileges: bool,
}

/// A reason as kept: SCREAMING_SNAKE of at most 64 characters, else none (an agent's
/// free text is not machine-readable).
fn reason_word(reason: &str) -> String {
    let word = reason.len() <= MAX_REASON_CHARS
        && reason
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if word {
        reason.to_owned()
    } else {
        String::new()
    }
}

/// Every text a stage keeps (a data source's error, an agent's report) is cleaned of
/// control and bidi characters and bounded, as reports are.
fn result(stage: StageName, verdict: StageVerdict, reason: &str, message: String) -> StageResult {
    StageResult {
        stage,
        verdict,
        reason: reason_word(reason),
        message: clean(&message, MAX_STAGE_MESSAGE_CHARS),
        elapsed_ms: 0,
    }
}

/// The address check a failing probe is told by: the one that got furthest (connected,
/// then dialled, then looked up).
fn furthest(report: &CheckReport) -> Option<&AddressCheck> {
    report
        .checks
        .iter()
        .find(|check| check.reachable)
        .or_else(|| report.checks.iter().find(|check| connected(check)))
        .or_else(|| report.checks.iter().find(|check| check.address.is_some()))
        .or_else(|| report.checks.first())
}

/// Whether the TCP connect succeeded; reports from before `connected` existed say so
/// only by being reachable.
fn connected(check: &AddressCheck) -> bool {
    check.connected || check.reachable
}

fn reason_of(check: &AddressCheck) -> &'static str {
    check.reason.map(FailureReason::as_str).unwrap_or_default()
}

/// What every stage of `findings` found, in order, for a check of `service` (None: TCP
/// reachability only, so no protocol stage) that `asked` for credentialed stages. A stage
/// after the first FAILED one is SKIPPED with `EARLIER_STAGE_FAILED`.
pub fn stage_results(
    findings: &Findings,
    service: Option<Service>,
    asked: Asked,
) -> Vec<StageResult> {
    let mut stages = Vec::new();
    let mut planned = vec![StageName::Resolve, StageName::Connect];
    if service.is_some() {
        planned.push(StageName::Protocol);
    }
    if asked.session {
        planned.extend([StageName::Login, StageName::Query]);
    }
    if asked.session && asked.privileges {
        planned.push(StageName::Privileges);
    }
    match &findings.stopped {
        Some(why) => stages.push(result(
            StageName::Resolve,
            StageVerdict::Failed,
            "INVALID_ADDRESS",
            why.clone(),
        )),
        None => probe_stages(
            &findings.report,
            service.filter(|_| !findings.protocol_unchecked),
            &mut stages,
        ),
    }
    if service.is_some() && findings.protocol_unchecked && findings.stopped.is_none() {
        stages.push(result(
            StageName::Protocol,
            StageVerdict::Skipped,
            "NOT_CHECKED",
            "not checked: the prober runs with --probe-mode tcp".to_owned(),
        ));
    }
    for report in &findings.session {
        stages.push(session_result(report));
    }
    // Stages planned but not run: skipped after a failure.
    let failed = stages
        .iter()
        .any(|stage| stage.verdict == StageVerdict::Failed);
    let skipped = stages
        .iter()
        .any(|stage| stage.verdict == StageVerdict::Skipped);
    for name in planned {
        if !stages.iter().any(|stage| stage.stage == name) {
            let (reason, message) = if failed {
                ("EARLIER_STAGE_FAILED", "not run: an earlier stage failed")
            } else if skipped {
                (
                    "EARLIER_STAGE_SKIPPED",
                    "not run: an earlier stage was skipped (its reason says why)",
                )
            } else {
                ("NOT_CHECKED", "not run")
            };
            stages.push(result(
                name,
                StageVerdict::Skipped,
                reason,
                message.to_owned(),
            ));
        }
    }
    stages.sort_by_key(|stage| stage.stage as u8);
    stages
}

/// `resolve`, `connect`, `tls` (when the protocol's TLS failed) and `protocol` from the
/// probe's report.
fn probe_stages(report: &CheckReport, service: Option<Service>, stages: &mut Vec<StageResult>) {
    let Some(check) = furthest(report) else {
        stages.push(result(
            StageName::Resolve,
            StageVerdict::Failed,
            "NOT_CHECKED",
            report
                .not_checked_summary()
                .unwrap_or_else(|| "no address was checked".to_owned()),
        ));
        return;
    };
    let summary = || report.failure_summary();
    let unresolved =
        check.address.is_none() && !check.reachable && !check.detail.starts_with("simulated");
    if check.reason == Some(FailureReason::DnsFailed) || unresolved {
        stages.push(result(
            StageName::Resolve,
            StageVerdict::Failed,
            reason_of(check),
            summary(),
        ));
        return;
    }
    // A simulated check has no address.
    let address = check
        .address
        .map_or_else(|| check.endpoint.clone(), |address| address.to_string());
    let resolved = match check.address {
        Some(address) => format!("{} resolved to {}", check.endpoint, address.ip()),
        None => format!("{}: no lookup (simulated)", check.endpoint),
    };
    stages.push(result(
        StageName::Resolve,
        StageVerdict::Passed,
        "",
        resolved,
    ));
    // The address's time: its connect and (with a service) its protocol check.
    let took = |stage: StageResult| StageResult {
        elapsed_ms: check.latency_ms,
        ..stage
    };
    if !connected(check) {
        stages.push(took(result(
            StageName::Connect,
            StageVerdict::Failed,
            reason_of(check),
            summary(),
        )));
        return;
    }
    stages.push(took(result(
        StageName::Connect,
        StageVerdict::Passed,
        "",
        format!("TCP connect to {address} succeeded"),
    )));
    if service.is_none() {
        return;
    }
    if check.reachable {
        stages.push(result(
            StageName::Protocol,
            StageVerdict::Passed,
            "",
            check.detail.clone(),
        ));
    } else if check.reason == Some(FailureReason::TlsError) {
        stages.push(result(
            StageName::Tls,
            StageVerdict::Failed,
            "TLS_FAILED",
            summary(),
        ));
    } else {
        stages.push(result(
            StageName::Protocol,
            StageVerdict::Failed,
            reason_of(check),
            summary(),
        ));
    }
}

fn session_result(report: &SessionStageReport) -> StageResult {
    let stage = match report.stage {
        SessionStage::Tls => StageName::Tls,
        SessionStage::Login => StageName::Login,
        SessionStage::Query => StageName::Query,
        SessionStage::Privileges => StageName::Privileges,
    };
    let verdict = match report.verdict {
        SessionVerdict::Passed => StageVerdict::Passed,
        SessionVerdict::Failed => StageVerdict::Failed,
        SessionVerdict::Skipped => StageVerdict::Skipped,
    };
    StageResult {
        elapsed_ms: report.elapsed_ms,
        ..result(stage, verdict, report.reason, report.message.clone())
    }
}

/// An agent's stage list as the server keeps it: at most one per stage, messages cut.
/// Cleaned and bounded like the server's own: one per stage (the first), in order.
pub fn bounded(stages: Vec<StageResult>) -> Vec<StageResult> {
    let mut kept: Vec<StageResult> = Vec::with_capacity(crate::domain::MAX_STAGES);
    for stage in stages {
        if kept.iter().any(|known| known.stage == stage.stage) {
            continue;
        }
        kept.push(StageResult {
            elapsed_ms: stage.elapsed_ms,
            ..result(stage.stage, stage.verdict, &stage.reason, stage.message)
        });
    }
    kept.sort_by_key(|stage| stage.stage as u8);
    kept
}

/// The stages of a test an agent from before stages ran: from its report, with the
/// login SKIPPED when one was asked (that agent cannot log in).
pub fn stages_of_old_agent(
    report: &CheckReport,
    service: Option<Service>,
    asked: Asked,
) -> Vec<StageResult> {
    let mut findings = Findings {
        report: report.clone(),
        ..Findings::default()
    };
    if asked.session {
        findings.session = vec![super::session::skipped(
            SessionStage::Login,
            "AGENT_TOO_OLD",
            "the agent that ran this test predates credentialed checks; upgrade it".to_owned(),
        )];
    }
    stage_results(&findings, service, asked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::session::skipped;
    use std::net::SocketAddr;

    fn check(reachable: bool, connected: bool, reason: Option<FailureReason>) -> AddressCheck {
        AddressCheck {
            endpoint: "db.example:3306".to_owned(),
            address: Some(
                "127.0.0.1:3306"
                    .parse()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 1))),
            ),
            reachable,
            connected,
            reason,
            detail: "detail".to_owned(),
            latency_ms: 1,
        }
    }

    fn findings(checks: Vec<AddressCheck>) -> Findings {
        Findings {
            report: CheckReport {
                checks,
                not_checked: 0,
            },
            ..Findings::default()
        }
    }

    fn verdicts(stages: &[StageResult]) -> Vec<(StageName, StageVerdict)> {
        stages.iter().map(|s| (s.stage, s.verdict)).collect()
    }

    #[test]
    fn a_refused_connect_fails_connect_and_skips_the_rest() {
        let stages = stage_results(
            &findings(vec![check(
                false,
                false,
                Some(FailureReason::ConnectionRefused),
            )]),
            Some(Service::Rds),
            Asked {
                session: true,
                privileges: false,
            },
        );
        assert_eq!(
            verdicts(&stages),
            vec![
                (StageName::Resolve, StageVerdict::Passed),
                (StageName::Connect, StageVerdict::Failed),
                (StageName::Protocol, StageVerdict::Skipped),
                (StageName::Login, StageVerdict::Skipped),
                (StageName::Query, StageVerdict::Skipped),
            ]
        );
        assert_eq!(stages[1].reason, "CONNECTION_REFUSED");
        assert_eq!(stages[4].reason, "EARLIER_STAGE_FAILED");
    }

    #[test]
    fn a_protocol_timeout_after_connect_is_the_protocol_stage() {
        let stages = stage_results(
            &findings(vec![check(false, true, Some(FailureReason::Timeout))]),
            Some(Service::Dws),
            Asked::default(),
        );
        assert_eq!(
            verdicts(&stages),
            vec![
                (StageName::Resolve, StageVerdict::Passed),
                (StageName::Connect, StageVerdict::Passed),
                (StageName::Protocol, StageVerdict::Failed),
            ]
        );
    }

    #[test]
    fn a_tcp_only_test_has_no_protocol_stage_and_dns_failures_fail_resolve() {
        let mut dns = check(false, false, Some(FailureReason::DnsFailed));
        dns.address = None;
        let stages = stage_results(&findings(vec![dns]), None, Asked::default());
        assert_eq!(
            verdicts(&stages),
            vec![
                (StageName::Resolve, StageVerdict::Failed),
                (StageName::Connect, StageVerdict::Skipped),
            ]
        );
        assert_eq!(stages[0].reason, "DNS_FAILED");
    }

    #[test]
    fn in_tcp_mode_the_protocol_is_not_checked_and_nothing_is_verified() {
        let mut found = findings(vec![check(true, true, None)]);
        found.protocol_unchecked = true;
        let stages = stage_results(&found, Some(Service::Rds), Asked::default());
        assert_eq!(
            verdicts(&stages),
            vec![
                (StageName::Resolve, StageVerdict::Passed),
                (StageName::Connect, StageVerdict::Passed),
                (StageName::Protocol, StageVerdict::Skipped),
            ]
        );
        assert!(!crate::domain::verified(&stages));
    }

    #[test]
    fn an_old_agents_report_reads_as_connected_and_its_login_as_skipped() {
        let mut old = check(true, false, None);
        old.connected = false;
        let report = CheckReport {
            checks: vec![old],
            not_checked: 0,
        };
        let asked = Asked {
            session: true,
            privileges: true,
        };
        let stages = stages_of_old_agent(&report, None, asked);
        assert_eq!(
            verdicts(&stages),
            vec![
                (StageName::Resolve, StageVerdict::Passed),
                (StageName::Connect, StageVerdict::Passed),
                (StageName::Login, StageVerdict::Skipped),
                (StageName::Query, StageVerdict::Skipped),
                (StageName::Privileges, StageVerdict::Skipped),
            ]
        );
        assert_eq!(stages[2].reason, "AGENT_TOO_OLD");
    }

    #[test]
    fn an_agents_stages_are_cleaned_deduplicated_and_ordered() {
        let sent = vec![
            StageResult {
                stage: StageName::Login,
                verdict: StageVerdict::Failed,
                reason: "AUTH_FAILED".to_owned(),
                message: "bad\u{1b}[31m \u{202e}pw".to_owned(),
                elapsed_ms: 3,
            },
            StageResult {
                reason: "free text, not a word".to_owned(),
                ..result(StageName::Connect, StageVerdict::Passed, "", String::new())
            },
            result(StageName::Login, StageVerdict::Passed, "", String::new()),
        ];
        let kept = bounded(sent);
        assert_eq!(
            verdicts(&kept),
            vec![
                (StageName::Connect, StageVerdict::Passed),
                (StageName::Login, StageVerdict::Failed),
            ]
        );
        assert_eq!(kept[0].reason, "");
        assert!(!kept[1].message.contains('\u{1b}') && !kept[1].message.contains('\u{202e}'));
    }

    #[test]
    fn session_reports_follow_the_protocol_stage() {
        let mut found = findings(vec![check(true, true, None)]);
        found.session = vec![
            SessionStageReport {
                stage: SessionStage::Login,
                verdict: SessionVerdict::Failed,
                reason: "AUTH_FAILED",
                message: "wrong password".to_owned(),
                elapsed_ms: 3,
            },
            skipped(SessionStage::Query, "EARLIER_STAGE_FAILED", String::new()),
        ];
        let stages = stage_results(
            &found,
            Some(Service::Rds),
            Asked {
                session: true,
                privileges: false,
            },
        );
        assert_eq!(stages[3].stage, StageName::Login);
        assert_eq!(stages[3].reason, "AUTH_FAILED");
        assert_eq!(stages[3].elapsed_ms, 3);
        assert!(!crate::domain::verified(&stages));
    }
}
