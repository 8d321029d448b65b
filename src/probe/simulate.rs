//! Simulation: a connection lifecycle without any destination, for teams testing DLI
//! client code. Checks send nothing; they take a configured time, report progress, and
//! end as the rules say (ACTIVE unless a rule fails every endpoint).

use std::str::FromStr;
use std::time::Duration;

use globset::{Glob, GlobMatcher};

use super::{AddressCheck, CheckReport, FailureReason, OutboundPolicy};
use crate::domain::{EndpointList, Host};

/// How many progress steps a simulated check reports.
const PROGRESS_STEPS: u32 = 4;

#[derive(Debug, Clone)]
pub enum RuleAction {
    Fail {
        reason: FailureReason,
        message: String,
    },
    Delay(Duration),
}

/// `GLOB=fail:REASON[:message]` or `GLOB=delay:DURATION`, matched against endpoint hosts.
#[derive(Debug, Clone)]
pub struct SimulationRule {
    pattern: String,
    matcher: GlobMatcher,
    pub action: RuleAction,
}

impl SimulationRule {
    pub fn matches(&self, host: &str) -> bool {
        self.matcher.is_match(host)
    }
}

impl FromStr for SimulationRule {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let usage = "write GLOB=fail:REASON[:message] or GLOB=delay:DURATION, e.g. \
                     '*.bad.example=fail:CONNECTION_REFUSED' or 'slow-*=delay:10s'";
        let (pattern, action) = raw
            .split_once('=')
            .ok_or_else(|| format!("simulation rule {raw:?}: {usage}"))?;
        let matcher = Glob::new(&pattern.to_ascii_lowercase())
            .map_err(|error| format!("simulation rule {raw:?}: bad pattern: {error}"))?
            .compile_matcher();
        let action = match action.split_once(':') {
            Some(("fail", rest)) => {
                let (reason, message) = match rest.split_once(':') {
                    Some((reason, message)) => (reason, Some(message)),
                    None => (rest, None),
                };
                let reason = FailureReason::parse(reason).ok_or_else(|| {
                    let known: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
                    format!(
                        "simulation rule {raw:?}: reason must be one of {}",
                        known.join(", ")
                    )
                })?;
                RuleAction::Fail {
                    reason,
                    message: message
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("simulated {reason}")),
                }
            }
            Some(("delay", duration)) => RuleAction::Delay(
                humantime::parse_duration(duration)
                    .map_err(|error| format!("simulation rule {raw:?}: {error}"))?,
            ),
            _ => return Err(format!("simulation rule {raw:?}: {usage}")),
        };
        Ok(Self {
            pattern: pattern.to_owned(),
            matcher,
            action,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Simulator {
    /// How long a check takes before any delay rule.
    pub duration: Duration,
    pub rules: Vec<SimulationRule>,
}

impl Default for Simulator {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(2),
            rules: Vec::new(),
        }
    }
}

impl Simulator {
    pub fn worst_case(&self) -> Duration {
        let delays = self
            .rules
            .iter()
            .filter_map(|rule| match rule.action {
                RuleAction::Delay(delay) => Some(delay),
                RuleAction::Fail { .. } => None,
            })
            .max()
            .unwrap_or_default();
        self.duration + delays
    }

    /// The first rule matching the host, if any.
    fn rule_for(&self, host: &str) -> Option<&SimulationRule> {
        let host = host.to_ascii_lowercase();
        self.rules.iter().find(|rule| rule.matches(&host))
    }

    pub async fn check_endpoints<F, Fut>(
        &self,
        endpoints: &EndpointList,
        policy: &OutboundPolicy,
        mut on_progress: F,
    ) -> CheckReport
    where
        F: FnMut(f64) -> Fut,
        Fut: Future<Output = ()>,
    {
        let delay = endpoints
            .endpoints()
            .iter()
            .filter_map(
                |endpoint| match self.rule_for(&endpoint.host_for_lookup()) {
                    Some(SimulationRule {
                        action: RuleAction::Delay(delay),
                        ..
                    }) => Some(*delay),
                    _ => None,
                },
            )
            .max()
            .unwrap_or_default();
        let total = self.duration + delay;
        let step = total / PROGRESS_STEPS;
        for done in 1..PROGRESS_STEPS {
            tokio::time::sleep(step).await;
            on_progress(f64::from(done) / f64::from(PROGRESS_STEPS)).await;
        }
        tokio::time::sleep(step).await;
        let latency_ms = u64::try_from(total.as_millis()).unwrap_or(u64::MAX);
        let checks = endpoints
            .endpoints()
            .iter()
            .map(|endpoint| {
                let host = endpoint.host_for_lookup();
                let literal_ip = match &endpoint.host {
                    Host::Ipv4(ip) => Some(std::net::IpAddr::V4(*ip)),
                    Host::Ipv6(ip) => Some(std::net::IpAddr::V6(*ip)),
                    Host::Name(_) => None,
                };
                let denied = literal_ip.and_then(|ip| policy.check(ip).err());
                let (reachable, reason, detail) = match (denied, self.rule_for(&host)) {
                    (Some(why), _) => (
                        false,
                        Some(FailureReason::DeniedByPolicy),
                        format!("not checked: {why}"),
                    ),
                    (
                        None,
                        Some(SimulationRule {
                            action: RuleAction::Fail { reason, message },
                            ..
                        }),
                    ) => (false, Some(*reason), message.clone()),
                    (None, rule) => (
                        true,
                        None,
                        match rule {
                            Some(rule) => format!(
                                "simulated: reachable after the delay of rule {:?}",
                                rule.pattern
                            ),
                            None => "simulated: reachable".to_owned(),
                        },
                    ),
                };
                AddressCheck {
                    connected: reachable
                        || matches!(
                            reason,
                            Some(FailureReason::ProtocolMismatch | FailureReason::TlsError)
                        ),
                    endpoint: endpoint.to_string(),
                    address: None,
                    reachable,
                    reason,
                    detail,
                    latency_ms,
                }
            })
            .collect();
        CheckReport {
            checks,
            not_checked: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Service;

    fn simulator(rules: &[&str]) -> Simulator {
        Simulator {
            duration: Duration::from_millis(40),
            rules: rules.iter().map(|r| r.parse().expect("rule")).collect(),
        }
    }

    #[tokio::test]
    async fn without_rules_every_endpoint_is_reachable_after_the_duration_with_progress() {
        let endpoints =
            EndpointList::parse("zk1.cloudtable.com,zk2.cloudtable.com", Service::CloudTable)
                .expect("url");
        let seen = std::sync::Mutex::new(Vec::new());
        let started = std::time::Instant::now();
        let report = simulator(&[])
            .check_endpoints(&endpoints, &OutboundPolicy::default(), |p| {
                seen.lock().expect("lock").push(p);
                async {}
            })
            .await;
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert!(report.checks.iter().all(|c| c.reachable));
        assert_eq!(*seen.lock().expect("lock"), vec![0.25, 0.5, 0.75]);
    }

    #[tokio::test]
    async fn fail_rules_set_the_reason_and_message_and_delay_rules_slow_the_check() {
        let sim = simulator(&[
            "*.bad.example=fail:CONNECTION_REFUSED:port 3306 is closed",
            "slow-*=delay:100ms",
        ]);
        let bad = EndpointList::parse("db.bad.example", Service::Rds).expect("url");
        let report = sim
            .check_endpoints(&bad, &OutboundPolicy::default(), |_| async {})
            .await;
        assert_eq!(
            report.checks[0].reason,
            Some(FailureReason::ConnectionRefused)
        );
        assert_eq!(report.checks[0].detail, "port 3306 is closed");

        let slow = EndpointList::parse("slow-db.example", Service::Rds).expect("url");
        let started = std::time::Instant::now();
        let report = sim
            .check_endpoints(&slow, &OutboundPolicy::default(), |_| async {})
            .await;
        assert!(started.elapsed() >= Duration::from_millis(140));
        assert!(report.checks[0].reachable);
    }

    #[test]
    fn bad_rules_are_refused_with_the_syntax() {
        for raw in [
            "nopattern",
            "*=explode:now",
            "*=fail:NOT_A_REASON",
            "*=delay:soon",
        ] {
            assert!(raw.parse::<SimulationRule>().is_err(), "{raw}");
        }
    }
}
