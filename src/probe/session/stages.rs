//! Runs a check's stages in order, each under its bound, and writes their reports:
//! the first FAILED one stops the rest, which are reported SKIPPED.

use std::future::Future;
use std::time::Instant;

use super::{SessionRequest, SessionStage, SessionStageReport, SessionVerdict};

/// What a stage concluded, before its report is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    verdict: SessionVerdict,
    reason: &'static str,
    message: String,
}

impl Verdict {
    pub(super) fn passed(message: impl Into<String>) -> Self {
        Self {
            verdict: SessionVerdict::Passed,
            reason: "",
            message: message.into(),
        }
    }

    pub(super) fn failed(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            verdict: SessionVerdict::Failed,
            reason,
            message: message.into(),
        }
    }

    /// Not run, but not a failure either: the stages after it go on.
    pub(super) fn skipped(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            verdict: SessionVerdict::Skipped,
            reason,
            message: message.into(),
        }
    }
}

#[cfg(test)]
impl Verdict {
    pub(super) fn reason(&self) -> &'static str {
        self.reason
    }

    pub(super) fn message(&self) -> &str {
        &self.message
    }
}

/// How a stage's work ended.
pub(super) enum Step<T> {
    /// Reported with this verdict (PASSED or SKIPPED); the check goes on with `T`.
    Done(T, Verdict),
    /// Reported FAILED; the check stops.
    Failed(Verdict),
    /// The stage does not apply (TLS the server does not offer): no report; go on.
    Absent(T),
}

impl<T> Step<T> {
    pub(super) fn fail(reason: &'static str, message: impl Into<String>) -> Self {
        Step::Failed(Verdict::failed(reason, message))
    }

    /// The same step carrying `to(value)` instead.
    pub(super) fn map<U>(self, to: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Done(value, verdict) => Step::Done(to(value), verdict),
            Step::Failed(verdict) => Step::Failed(verdict),
            Step::Absent(value) => Step::Absent(to(value)),
        }
    }
}

/// Returned when a stage failed: its report is written, the check stops.
#[derive(Debug)]
pub(super) struct Stopped;

pub(super) struct Stages<'a> {
    request: &'a SessionRequest,
    reports: Vec<SessionStageReport>,
}

impl<'a> Stages<'a> {
    pub(super) fn new(request: &'a SessionRequest) -> Self {
        Self {
            request,
            reports: Vec::new(),
        }
    }

    /// Runs one stage's work under the request's bound and reports it.
    pub(super) async fn run<T>(
        &mut self,
        stage: SessionStage,
        work: impl Future<Output = Step<T>>,
    ) -> Result<T, Stopped> {
        let started = Instant::now();
        let step = match tokio::time::timeout(self.request.timeout, work).await {
            Ok(step) => step,
            Err(_) => Step::fail(
                "TIMEOUT",
                format!(
                    "the {stage} stage got no answer within {}; the server or the network \
                     in between is too slow or drops the traffic",
                    humantime::format_duration(self.request.timeout)
                ),
            ),
        };
        let (value, verdict) = match step {
            Step::Done(value, verdict) => (Ok(value), verdict),
            Step::Failed(verdict) => (Err(Stopped), verdict),
            Step::Absent(value) => return Ok(value),
        };
        self.reports.push(SessionStageReport {
            stage,
            verdict: verdict.verdict,
            reason: verdict.reason,
            message: redact(&verdict.message, self.request.password.expose()),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        value
    }

    /// The reports, with every stage the request asked for and no stage reached
    /// reported SKIPPED.
    pub(super) fn finish(mut self) -> Vec<SessionStageReport> {
        let mut planned = vec![SessionStage::Login, SessionStage::Query];
        if !self.request.privileges.is_empty() {
            planned.push(SessionStage::Privileges);
        }
        let failed = self
            .reports
            .iter()
            .find(|report| report.verdict == SessionVerdict::Failed)
            .map(|report| report.stage);
        for stage in planned {
            if self.reports.iter().any(|report| report.stage == stage) {
                continue;
            }
            let message = match failed {
                Some(failed) => format!("not run: the {failed} stage failed"),
                None => "not run".to_owned(),
            };
            self.reports.push(SessionStageReport {
                stage,
                verdict: SessionVerdict::Skipped,
                reason: "EARLIER_STAGE_FAILED",
                message,
                elapsed_ms: 0,
            });
        }
        self.reports
    }
}

/// `message` with every occurrence of the password replaced, whatever a driver or a
/// server put in it.
pub(super) fn redact(message: &str, password: &str) -> String {
    if password.is_empty() {
        return message.to_owned();
    }
    message.replace(password, "[redacted]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_scrubbed_from_a_message() {
        assert_eq!(
            redact("login as app with s3cret! failed: s3cret!", "s3cret!"),
            "login as app with [redacted] failed: [redacted]"
        );
        assert_eq!(redact("nothing here", ""), "nothing here");
    }
}
