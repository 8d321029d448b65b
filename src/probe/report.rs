//! What a check found: one result per address, and the report they make, with the
//! FAILED message a person reads and the reason a machine reads.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::caps::{MAX_ADDRESSES_PER_CHECK, MAX_ADDRESSES_PER_NAME};
use crate::domain::FailureReason;

/// Longest detail kept per address, in characters.
pub const MAX_DETAIL_CHARS: usize = 240;

/// Failures named in a FAILED message; the rest are counted.
const MAX_FAILURES_IN_MESSAGE: usize = 8;

/// The outcome of checking one address of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressCheck {
    pub endpoint: String,
    /// None when the name did not resolve (or in simulation).
    pub address: Option<SocketAddr>,
    pub reachable: bool,
    /// The TCP connect succeeded (whatever the protocol check then found): tells a
    /// `connect` stage's failure from a `protocol` one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub connected: bool,
    pub reason: Option<FailureReason>,
    /// What was found, in words a person can act on.
    pub detail: String,
    pub latency_ms: u64,
}

impl fmt::Display for AddressCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(address) if address.to_string() != self.endpoint => {
                write!(f, "{} ({address}): {}", self.endpoint, self.detail)
            }
            _ => write!(f, "{}: {}", self.endpoint, self.detail),
        }
    }
}

/// Every address checked for one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub checks: Vec<AddressCheck>,
    /// Addresses left undialled by the per-name and per-check caps; an endpoint that was
    /// not looked up at all counts as one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_checked: u64,
}

impl CheckReport {
    /// A report made elsewhere (an agent's), cut to what a check here could produce:
    /// at most [`MAX_ADDRESSES_PER_CHECK`] entries with bounded, cleaned texts.
    pub fn bounded(mut self) -> Self {
        let dropped = self.checks.len().saturating_sub(MAX_ADDRESSES_PER_CHECK);
        self.checks.truncate(MAX_ADDRESSES_PER_CHECK);
        // Stored and shown as any other text: no control or bidi characters.
        for check in &mut self.checks {
            check.endpoint = crate::domain::text::clean(&check.endpoint, MAX_DETAIL_CHARS);
            check.detail = crate::domain::text::clean(&check.detail, MAX_DETAIL_CHARS);
        }
        self.not_checked = self
            .not_checked
            .saturating_add(u64::try_from(dropped).unwrap_or(u64::MAX));
        self
    }

    /// The addresses it dialled (what the check budget counts).
    pub fn dials(&self) -> usize {
        self.checks
            .iter()
            .filter(|check| {
                check.address.is_some() && check.reason != Some(FailureReason::DeniedByPolicy)
            })
            .count()
    }
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}...", &text[..end]),
    }
}

impl CheckReport {
    pub fn any_reachable(&self) -> bool {
        self.checks.iter().any(|check| check.reachable)
    }

    /// The FAILED message: the first failures in url order, then counts of the rest and
    /// of the addresses not checked, so its length does not grow with the answers.
    pub fn failure_summary(&self) -> String {
        let failures: Vec<&AddressCheck> = self
            .checks
            .iter()
            .filter(|check| !check.reachable)
            .collect();
        let mut clauses: Vec<String> = failures
            .iter()
            .take(MAX_FAILURES_IN_MESSAGE)
            .map(|check| shorten(&check.to_string(), MAX_DETAIL_CHARS))
            .collect();
        let unnamed = failures.len().saturating_sub(MAX_FAILURES_IN_MESSAGE);
        if unnamed > 0 {
            clauses.push(format!("and {unnamed} more failures"));
        }
        let mut message = format!("no endpoint is reachable: {}", clauses.join("; "));
        if let Some(skipped) = self.not_checked_summary() {
            message.push_str("; ");
            message.push_str(&skipped);
        }
        message
    }

    /// "and N more addresses not checked (...)", when the caps left any out.
    pub fn not_checked_summary(&self) -> Option<String> {
        (self.not_checked > 0).then(|| {
            format!(
                "and {} more addresses not checked (a check dials at most \
                 {MAX_ADDRESSES_PER_NAME} addresses per name, {MAX_ADDRESSES_PER_CHECK} in all)",
                self.not_checked
            )
        })
    }

    /// The machine-readable reason of a failed check: the first failure's, in url order.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.checks.iter().find_map(|check| check.reason)
    }
}

impl crate::telemetry::metrics::CheckLabels for CheckReport {
    fn reachable(&self) -> bool {
        self.any_reachable()
    }

    fn failure_label(&self) -> Option<&'static str> {
        self.failure_reason().map(FailureReason::as_str)
    }
}
