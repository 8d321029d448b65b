//! The vocabulary of a check's outcome, shared by the prober, the stores and the wire.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why one address (or a whole endpoint, for DNS) could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureReason {
    DnsFailed,
    ConnectionRefused,
    Timeout,
    ProtocolMismatch,
    TlsError,
    DeniedByPolicy,
    /// No route to the address (EHOSTUNREACH, ENETUNREACH) or another connect error.
    NetworkUnreachable,
}

impl FailureReason {
    pub const ALL: [FailureReason; 7] = [
        FailureReason::DnsFailed,
        FailureReason::ConnectionRefused,
        FailureReason::Timeout,
        FailureReason::ProtocolMismatch,
        FailureReason::TlsError,
        FailureReason::DeniedByPolicy,
        FailureReason::NetworkUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::DnsFailed => "DNS_FAILED",
            FailureReason::ConnectionRefused => "CONNECTION_REFUSED",
            FailureReason::Timeout => "TIMEOUT",
            FailureReason::ProtocolMismatch => "PROTOCOL_MISMATCH",
            FailureReason::TlsError => "TLS_ERROR",
            FailureReason::DeniedByPolicy => "DENIED_BY_POLICY",
            FailureReason::NetworkUnreachable => "NETWORK_UNREACHABLE",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

super::string_enum_schema!(
    FailureReason,
    "FailureReason",
    "Why an address (and so a connection or binding) failed its check: no route or\n\
     another connect error is NETWORK_UNREACHABLE."
);

/// Whether a check reached the destination as its service should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reachability {
    Reachable,
    Unreachable,
}

impl Reachability {
    pub const ALL: [Reachability; 2] = [Reachability::Reachable, Reachability::Unreachable];

    pub fn from_reachable(reachable: bool) -> Self {
        if reachable {
            Reachability::Reachable
        } else {
            Reachability::Unreachable
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Reachable => "REACHABLE",
            Reachability::Unreachable => "UNREACHABLE",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reachability| reachability.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl fmt::Display for Reachability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Named `Connectivity` in the document, as the wire fields that carry it are.
super::string_enum_schema!(
    Reachability,
    "Connectivity",
    "Whether a check reached the destination as the service should answer."
);

/// A queue binding's status: CREATING until its first check, then ACTIVE or FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BindingStatus {
    Creating,
    Active,
    Failed,
}

impl BindingStatus {
    pub const ALL: [BindingStatus; 3] = [
        BindingStatus::Creating,
        BindingStatus::Active,
        BindingStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BindingStatus::Creating => "CREATING",
            BindingStatus::Active => "ACTIVE",
            BindingStatus::Failed => "FAILED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl fmt::Display for BindingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Named `QueueStatus` in the document, as DLI calls a queue's binding status.
super::string_enum_schema!(BindingStatus, "QueueStatus", "A queue binding's status.");

super::reads_as_str!(FailureReason);
super::reads_as_str!(Reachability);
super::reads_as_str!(BindingStatus);

/// What a piece of a queue's work is: `bind` (a CREATING binding's first check),
/// `recheck` (an ACTIVE binding's re-check), `test` (a queue connection test) or `setup`
/// (an enhanced connection's binding to set up). Claimed by the queue's agent or, for a
/// queue without an online agent, by the server's worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueWorkKind {
    /// A CREATING binding's first check.
    Bind,
    /// An ACTIVE binding's re-check, by an agent of its queue.
    #[serde(rename = "recheck")]
    RecheckBinding,
    /// A queue connection test (DLI's CreateConnectivityTask).
    Test,
    /// The set-up of an enhanced connection's binding of a queue or pool: the place's
    /// policy verdict on the connection's hosts and routes.
    Setup,
}

impl fmt::Display for QueueWorkKind {
    /// Its wire spelling: serde's, so there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(spelling)) => f.write_str(&spelling),
            _ => Err(fmt::Error),
        }
    }
}

impl std::str::FromStr for QueueWorkKind {
    type Err = serde_json::Error;

    /// Reads its wire spelling.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(raw.to_owned()))
    }
}

/// How a claim of `limit` pieces of work is shared among kinds of work, given how many of
/// each are `available` (in the same order): first every kind gets up to its share
/// (`limit / kinds`, at least 1), then what is left is shared among the kinds with more,
/// one piece each in turn, so no backlog of one kind starves another. The first round
/// starts at kind `start` (mod the number of kinds): with fewer pieces than kinds,
/// rotating the start lets every kind go first in turn. Pure; the agents' claims use it,
/// and the worker's claim follows the same rule one store call per kind.
pub fn fair_split(available: &[usize], limit: usize, start: usize) -> Vec<usize> {
    let kinds = available.len();
    let mut taken = vec![0; kinds];
    if kinds == 0 {
        return taken;
    }
    let share = (limit / kinds).max(1);
    let mut left = limit;
    let order: Vec<usize> = (0..kinds).map(|n| (start + n) % kinds).collect();
    for &kind in &order {
        let take = available[kind].min(share).min(left);
        taken[kind] = take;
        left -= take;
    }
    // What is left, one piece at a time to each kind that has more.
    while left > 0 {
        let before = left;
        for &kind in &order {
            if left > 0 && taken[kind] < available[kind] {
                taken[kind] += 1;
                left -= 1;
            }
        }
        if left == before {
            break;
        }
    }
    taken
}

#[cfg(test)]
mod tests {

    use super::fair_split;

    #[test]
    fn every_backlogged_kind_gets_its_share_and_leftovers_go_to_the_rest() {
        // Issue 24: a claim of 16 with five kinds backlogged gives each at least 3.
        assert_eq!(
            fair_split(&[100, 100, 100, 100, 100], 16, 0),
            [4, 3, 3, 3, 3]
        );
        // Three backlogged kinds, one nearly idle, one idle: leftovers go to the others.
        assert_eq!(fair_split(&[100, 100, 1, 0, 100], 16, 0), [5, 5, 1, 0, 5]);
        // Fewer pieces than kinds: the start decides who goes first.
        assert_eq!(fair_split(&[5, 5, 5], 1, 0), [1, 0, 0]);
        assert_eq!(fair_split(&[5, 5, 5], 1, 2), [0, 0, 1]);
        assert_eq!(fair_split(&[0, 0, 0], 8, 1), [0, 0, 0]);
        assert_eq!(fair_split(&[], 8, 0), Vec::<usize>::new());
    }

    use super::*;

    #[test]
    fn serde_names_are_the_canonical_spellings() {
        for reason in FailureReason::ALL {
            assert_eq!(
                serde_json::to_value(reason).ok(),
                Some(reason.as_str().into())
            );
            assert_eq!(FailureReason::parse(reason.as_str()), Some(reason));
        }
        for reachability in Reachability::ALL {
            assert_eq!(
                serde_json::to_value(reachability).ok(),
                Some(reachability.as_str().into())
            );
            assert_eq!(
                Reachability::parse(reachability.as_str()),
                Some(reachability)
            );
        }
        for status in BindingStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
            assert_eq!(BindingStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(BindingStatus::parse("DELETED"), None);
    }

    #[test]
    fn a_work_kind_reads_and_writes_the_spelling_agents_know() {
        let kinds = [
            QueueWorkKind::Bind,
            QueueWorkKind::RecheckBinding,
            QueueWorkKind::Test,
            QueueWorkKind::Setup,
        ];
        // The spellings agents before the enum already sent.
        assert_eq!(QueueWorkKind::Bind.to_string(), "bind");
        assert_eq!(QueueWorkKind::RecheckBinding.to_string(), "recheck");
        for kind in kinds {
            assert_eq!(kind.to_string().parse::<QueueWorkKind>().ok(), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(kind.to_string().into())
            );
        }
        assert!("recheck_binding".parse::<QueueWorkKind>().is_err());
    }
}
