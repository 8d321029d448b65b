//! The pure rules of a check's end: what the stages found and what the check is for ->
//! the [`Record`] to write. No clock, no store (a record writes itself, see
//! [`Record::write`]).

use super::credentials::credential_finding;
use super::job::{Place, Purpose};
use crate::domain::{ConnectionId, ConnectionState, StageName, StageResult, StageVerdict};
use crate::probe::CheckReport;
use crate::store::{
    BindingConnectivity, BindingResult, CheckResult, Connectivity, ConnectivityOf, DynStore,
    HeldCheck, HeldWork, SetupOutcome, TaskResult,
};

/// What a connection whose stored url no longer parses is told.
pub(super) const INVALID_STORED_URL: &str =
    "the stored url is invalid; delete and create the connection again";

/// A write the pipeline makes, with the claim it must hold.
#[derive(Debug, Clone)]
pub enum Record {
    /// A CREATING connection's end: ACTIVE or FAILED.
    Check {
        id: ConnectionId,
        owner: String,
        result: CheckResult,
    },
    /// A binding's end.
    Binding {
        held: Held<String>,
        result: BindingResult,
    },
    /// An ACTIVE connection's connectivity (and its bindings'); without an owner it is
    /// written whatever holds the claim.
    Connectivity {
        id: ConnectionId,
        owner: Option<String>,
        connectivity: Connectivity,
    },
    /// An agent's re-check of a binding.
    BindingConnectivity {
        held: Held<String>,
        result: BindingConnectivity,
    },
    /// A queue connection test's end.
    Task {
        held: Held<i64>,
        result: TaskResult,
    },
    /// A binding's set-up's end (its `queue` is the bound queue or pool: the binding must
    /// still name it).
    Setup {
        held: Held<String>,
        outcome: SetupOutcome,
    },
    /// A claimed re-check given back without a result: nothing was learnt.
    ReleaseRecheck {
        id: ConnectionId,
        owner: String,
        next_check_at: i64,
    },
    Nothing,
}

impl Record {
    /// Writes it at `now`: false if its claim is no longer held (or nothing to write).
    pub async fn write(&self, store: &DynStore, now: i64) -> crate::store::Result<bool> {
        match self {
            Record::Nothing => Ok(false),
            Record::Check { id, owner, result } => {
                let held = HeldCheck { id: *id, owner };
                store.record_check_result(held, result, now).await
            }
            Record::Binding { held, result } => {
                store.record_binding_result(held.work(), result, now).await
            }
            Record::BindingConnectivity { held, result } => {
                store
                    .record_binding_connectivity(held.work(), result, now)
                    .await
            }
            Record::Task { held, result } => {
                store.record_task_result(held.work(), result, now).await
            }
            Record::Setup { held, outcome } => store.record_setup(held.work(), outcome, now).await,
            Record::Connectivity {
                id,
                owner,
                connectivity,
            } => {
                let of = match owner {
                    Some(owner) => ConnectivityOf::Held(HeldCheck { id: *id, owner }),
                    None => ConnectivityOf::Unheld(*id),
                };
                store.record_connectivity(of, connectivity, now).await
            }
            Record::ReleaseRecheck {
                id,
                owner,
                next_check_at,
            } => store.release_recheck(*id, owner, *next_check_at).await,
        }
    }
}

/// A claimed piece of queue work as its record names it: a binding's peer id (its first
/// check, re-check or set-up) or a test's task id, the queue (for a set-up, the queue or
/// pool) it is of, and the claim's owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Held<K> {
    pub key: K,
    pub queue: String,
    pub owner: String,
}

impl<K> Held<K> {
    fn of(key: K, queue: &str, owner: &str) -> Self {
        Self {
            key,
            queue: queue.to_owned(),
            owner: owner.to_owned(),
        }
    }
}

impl Held<String> {
    fn work(&self) -> HeldWork<'_, &str> {
        HeldWork {
            key: &self.key,
            queue: &self.queue,
            owner: &self.owner,
        }
    }
}

impl Held<i64> {
    fn work(&self) -> HeldWork<'_, i64> {
        HeldWork {
            key: self.key,
            queue: &self.queue,
            owner: &self.owner,
        }
    }
}

/// What a check's end is recorded with, besides its report: when an ACTIVE connection
/// or binding is due again, where the check ran, and which bindings a server check of
/// the connection stands for.
#[derive(Debug, Clone)]
pub struct Circumstances {
    pub next_check_at: i64,
    pub place: Place,
    /// See [`Connectivity::server_bindings`].
    pub server_bindings: Option<i64>,
    /// What each stage found, as answers show it (see [`super::stage_results`]); a queue
    /// test keeps it, and a binding whose connection names an auth info.
    pub stages: Vec<StageResult>,
    /// When the check started (a login that FAILED is marked with it).
    pub checked_at: i64,
}

/// Turns a check report into the connection's new state: ACTIVE if any address answered.
pub fn check_result(
    report: &CheckReport,
    normalized_url: String,
    next_check_at: i64,
) -> CheckResult {
    let report_json = report_json(report);
    if report.any_reachable() {
        CheckResult {
            state: ConnectionState::Active,
            process: 1.0,
            connection_url: normalized_url.clone(),
            message: String::new(),
            failure_reason: None,
            report: report_json,
            next_check_at: Some(next_check_at),
            normalized_url,
        }
    } else {
        CheckResult {
            state: ConnectionState::Failed,
            process: 1.0,
            connection_url: String::new(),
            message: report.failure_summary(),
            failure_reason: report.failure_reason().map(|r| r.as_str().to_owned()),
            report: report_json,
            // Used only if one of the connection's queues reaches it.
            next_check_at: Some(next_check_at),
            normalized_url,
        }
    }
}

fn report_json(report: &CheckReport) -> String {
    serde_json::to_string(report).unwrap_or_else(|_| "{}".into())
}

/// A FAILED result that carries no report.
fn failed(message: String) -> CheckResult {
    CheckResult {
        state: ConnectionState::Failed,
        process: 1.0,
        connection_url: String::new(),
        message,
        failure_reason: None,
        report: "{}".into(),
        next_check_at: None,
        normalized_url: String::new(),
    }
}

/// A binding's result: ACTIVE, or FAILED with a message naming its queue and the place.
fn binding_result(
    queue: &str,
    checked: Result<&CheckReport, &str>,
    circumstances: &Circumstances,
) -> BindingResult {
    let place = &circumstances.place;
    let finding = credential_finding(
        &circumstances.stages,
        queue,
        place,
        circumstances.checked_at,
    );
    let reachable = checked.is_ok_and(CheckReport::any_reachable);
    let (active, err_msg, failure_reason) = match (checked, finding.verdict) {
        (Ok(report), Some(verdict)) if report.any_reachable() => {
            (verdict.active, verdict.err_msg, verdict.failure_reason)
        }
        (Ok(report), _) if report.any_reachable() => (true, String::new(), None),
        (Ok(report), _) => (
            false,
            format!(
                "queue {queue}, checked from {}: {}",
                place.described(),
                report.failure_summary()
            ),
            report.failure_reason().map(|r| r.as_str().to_owned()),
        ),
        (Err(message), _) => (false, message.to_owned(), None),
    };
    BindingResult {
        active,
        reachable,
        credentials: finding.credentials,
        err_msg,
        failure_reason,
        checked_from: place.label(),
        next_check_at: circumstances.next_check_at,
    }
}

/// A queue test's answer: what was reached and from where, or why not. With stages,
/// REACHABLE keeps DLI's meaning (the `connect` stage passed) and the message leads with
/// the first stage that failed.
fn task_result(
    checked: Result<&CheckReport, &str>,
    place: &Place,
    stages: &[StageResult],
) -> TaskResult {
    if !stages.is_empty() {
        let connected = stages.iter().any(|stage| {
            stage.stage == StageName::Connect && stage.verdict == StageVerdict::Passed
        });
        let message = match stages
            .iter()
            .find(|stage| stage.verdict == StageVerdict::Failed)
        {
            Some(failed) => format!(
                "{} failed from {}: {}",
                failed.stage.as_str(),
                place.described(),
                failed.message
            ),
            None if crate::domain::verified(stages) => {
                format!("every stage passed from {}", place.described())
            }
            None => format!(
                "checked from {}; some stages were not run (see stages)",
                place.described()
            ),
        };
        return TaskResult {
            reachable: connected,
            message,
            checked_from: place.label(),
            stages: serde_json::to_string(stages).ok(),
        };
    }
    let (reachable, message) = match checked {
        Ok(report) if report.any_reachable() => {
            let detail = report
                .checks
                .iter()
                .find(|check| check.reachable)
                .map(|check| check.detail.as_str())
                .unwrap_or_default();
            (
                true,
                format!("reached from {}: {detail}", place.described()),
            )
        }
        Ok(report) => (
            false,
            format!(
                "not reached from {}: {}",
                place.described(),
                report.failure_summary()
            ),
        ),
        Err(message) => (false, message.to_owned()),
    };
    TaskResult {
        reachable,
        message,
        checked_from: place.label(),
        stages: None,
    }
}

/// A set-up's end: ACTIVE, or FAILED saying why the place cannot take the connection.
fn setup_outcome(verdict: Result<&CheckReport, &str>, place: &Place) -> SetupOutcome {
    SetupOutcome {
        active: verdict.is_ok(),
        message: verdict
            .err()
            .map(|why| {
                format!(
                    "{} cannot take this connection's hosts and routes: {why}",
                    place.described()
                )
            })
            .unwrap_or_default(),
        checked_from: place.label(),
    }
}

/// What a check's end records, by its purpose: `checked` is the report, or why there is
/// none (the stored url does not parse; a set-up's policy refuses it); `normalized_url`
/// is the url it covered, as an ACTIVE connection shows it. Pure: no clock, no store.
pub fn outcome(
    purpose: &Purpose,
    checked: Result<&CheckReport, &str>,
    normalized_url: &str,
    circumstances: &Circumstances,
) -> Record {
    let next_check_at = circumstances.next_check_at;
    let report_only = checked;
    match purpose {
        Purpose::Create { id, owner } => Record::Check {
            id: *id,
            owner: owner.clone(),
            result: match checked {
                Ok(report) => check_result(report, normalized_url.to_owned(), next_check_at),
                Err(_) => failed(INVALID_STORED_URL.to_owned()),
            },
        },
        Purpose::Bind {
            peer_id,
            queue,
            owner,
            ..
        } => Record::Binding {
            held: Held::of(peer_id.clone(), queue, owner),
            result: binding_result(queue, report_only, circumstances),
        },
        Purpose::RecheckBinding {
            peer_id,
            queue,
            owner,
        } => Record::BindingConnectivity {
            held: Held::of(peer_id.clone(), queue, owner),
            result: {
                let finding = credential_finding(
                    &circumstances.stages,
                    queue,
                    &circumstances.place,
                    circumstances.checked_at,
                );
                BindingConnectivity {
                    reachable: report_only.is_ok_and(CheckReport::any_reachable),
                    checked_from: circumstances.place.label(),
                    next_check_at,
                    credentials: finding.credentials,
                    verdict: finding.verdict,
                }
            },
        },
        Purpose::QueueTest {
            task_id,
            queue,
            owner,
        } => Record::Task {
            held: Held::of(*task_id, queue, owner),
            result: task_result(report_only, &circumstances.place, &circumstances.stages),
        },
        Purpose::Recheck { id, owner } => {
            // A url that no longer parses reaches nothing.
            let nothing = CheckReport::default();
            let report = report_only.unwrap_or(&nothing);
            Record::Connectivity {
                id: *id,
                owner: Some(owner.clone()),
                connectivity: Connectivity {
                    reachable: report.any_reachable(),
                    report: report_json(report),
                    next_check_at: Some(next_check_at),
                    server_bindings: circumstances.server_bindings,
                },
            }
        }
        Purpose::Test { id } => match report_only {
            Ok(report) => Record::Connectivity {
                id: *id,
                owner: None,
                connectivity: Connectivity {
                    reachable: report.any_reachable(),
                    report: report_json(report),
                    // A test leaves the schedule as it is.
                    next_check_at: None,
                    server_bindings: circumstances.server_bindings,
                },
            },
            Err(_) => Record::Nothing,
        },
        Purpose::Setup {
            peer_id,
            name,
            owner,
        } => Record::Setup {
            held: Held::of(peer_id.clone(), name, owner),
            outcome: setup_outcome(checked, &circumstances.place),
        },
        Purpose::TestDefinition => Record::Nothing,
    }
}

/// What a check that panicked records, so its claim is given back at once instead of
/// lapsing with its lease. Pure.
pub fn after_panic(purpose: &Purpose, circumstances: &Circumstances) -> Record {
    let message = |subject: &dyn std::fmt::Display| {
        format!(
            "the check stopped on an internal error (logged with {subject}); \
             check it again"
        )
    };
    let next_check_at = circumstances.next_check_at;
    match purpose {
        Purpose::Create { id, owner } => Record::Check {
            id: *id,
            owner: owner.clone(),
            result: failed(message(&format_args!("connection id {id}"))),
        },
        // As a check that failed with that message.
        Purpose::Bind { id, .. } => {
            let stopped = message(&format_args!("connection id {id}"));
            outcome(purpose, Err(&stopped), "", circumstances)
        }
        Purpose::QueueTest { task_id, .. } => {
            let stopped = message(&format_args!("task id {task_id}"));
            let found_nothing = Circumstances {
                stages: Vec::new(),
                ..circumstances.clone()
            };
            outcome(purpose, Err(&stopped), "", &found_nothing)
        }
        // Nothing was learnt about the destination: keep its connectivity.
        Purpose::Recheck { id, owner } => Record::ReleaseRecheck {
            id: *id,
            owner: owner.clone(),
            next_check_at,
        },
        // Its lease lapses and it is checked (or set up) again.
        Purpose::RecheckBinding { .. }
        | Purpose::Setup { .. }
        | Purpose::Test { .. }
        | Purpose::TestDefinition => Record::Nothing,
    }
}

#[cfg(test)]
mod tests;
