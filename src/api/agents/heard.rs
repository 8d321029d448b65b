//! Agents heard from: every heartbeat and claim says an agent is alive, but writing each
//! to the store costs a commit (an fsync on SQLite), 150 a second for a thousand idle
//! agents. Words are kept here and written together, in one transaction every
//! [`Presence::flush_every`] (a sixth of `--agent-timeout`, at most 5 s), so the stored
//! last word, which every replica reads to tell who is online, lags by no more than that.
//!
//! An agent is looked up in the store the first time it is heard from here, when its
//! address changes, and whenever the store has not confirmed it for `--agent-timeout`;
//! each write confirms it again. An agent deregistered on this replica is forgotten at
//! once; one deregistered on another is forgotten at this replica's next write, until
//! which its heartbeats are still answered (its claims are not: a claim's lease checks
//! the registration).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::DynStore;
use crate::store::queue_work::AgentSeen;

/// Longest the stored last word may lag behind the last one heard.
const LONGEST_FLUSH: Duration = Duration::from_secs(5);
const SHORTEST_FLUSH: Duration = Duration::from_millis(100);

/// What a request learns of the agent it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub name: String,
    /// The queues and pools it serves, by name.
    pub queues: Arc<[String]>,
}

#[derive(Debug)]
struct Heard {
    known: Known,
    address: String,
    /// The last word heard.
    seen: i64,
    /// The last word the store holds.
    stored: i64,
    /// When the store last said the agent is registered.
    confirmed: i64,
}

/// The agents heard from, by (project, agent id).
pub struct Presence {
    agents: Mutex<HashMap<(String, String), Heard>>,
    flush_every: Duration,
    /// How long a confirmation is trusted: `--agent-timeout`.
    trust_ms: i64,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Presence {
    pub fn new(agent_timeout: Duration) -> Self {
        Self {
            agents: Mutex::default(),
            flush_every: (agent_timeout / 6).clamp(SHORTEST_FLUSH, LONGEST_FLUSH),
            trust_ms: millis(agent_timeout),
        }
    }

    pub fn flush_every(&self) -> Duration {
        self.flush_every
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Heard>> {
        // Nothing here panics while holding the lock; a poisoned map is still whole.
        self.agents.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent, heard from now at `address`, if it is known here and still trusted;
    /// None sends the caller to the store (then [`Presence::remember`]).
    pub fn recall(&self, project: &str, agent_id: &str, address: &str, now: i64) -> Option<Known> {
        let mut agents = self.lock();
        let heard = agents.get_mut(&(project.to_owned(), agent_id.to_owned()))?;
        if heard.address != address || now.saturating_sub(heard.confirmed) > self.trust_ms {
            return None;
        }
        heard.seen = heard.seen.max(now);
        Some(heard.known.clone())
    }

    /// The agent as the store just answered, with its word of `now` stored.
    pub fn remember(&self, project: &str, agent_id: &str, address: &str, now: i64, known: Known) {
        self.lock().insert(
            (project.to_owned(), agent_id.to_owned()),
            Heard {
                known,
                address: address.to_owned(),
                seen: now,
                stored: now,
                confirmed: now,
            },
        );
    }

    /// The agent is not registered (any more).
    pub fn forget(&self, project: &str, agent_id: &str) {
        self.lock()
            .remove(&(project.to_owned(), agent_id.to_owned()));
    }

    /// A registration of `name` in `project` replaced the ones of that name before it.
    pub fn forget_name(&self, project: &str, name: &str) {
        self.lock()
            .retain(|(of, _), heard| !(of == project && heard.known.name == name));
    }

    /// The words not yet stored; agents not heard from for long are let go.
    fn unstored(&self, now: i64) -> Vec<AgentSeen> {
        let mut agents = self.lock();
        let long_ago = now.saturating_sub(self.trust_ms.saturating_mul(2));
        agents.retain(|_, heard| heard.seen > heard.stored || heard.seen >= long_ago);
        agents
            .iter()
            .filter(|(_, heard)| heard.seen > heard.stored)
            .map(|((project, agent_id), heard)| AgentSeen {
                project_id: project.clone(),
                agent_id: agent_id.clone(),
                address: heard.address.clone(),
                last_seen: heard.seen,
            })
            .collect()
    }

    /// Writes the words not yet stored, in one transaction.
    pub async fn flush(&self, store: &DynStore) {
        let now = crate::domain::now_millis();
        let unstored = self.unstored(now);
        if unstored.is_empty() {
            return;
        }
        match store.touch_agents(&unstored).await {
            Ok(registered) => {
                let mut agents = self.lock();
                for (seen, registered) in unstored.into_iter().zip(registered) {
                    let key = (seen.project_id, seen.agent_id);
                    if !registered {
                        agents.remove(&key);
                    } else if let Some(heard) = agents.get_mut(&key) {
                        heard.stored = heard.stored.max(seen.last_seen);
                        heard.confirmed = now;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, agents = unstored.len(),
                               "the agents' last words could not be stored; trying again");
            }
        }
    }

    /// Writes the words heard every [`Presence::flush_every`], and a last time when
    /// `stopping`.
    pub async fn keep_storing(self: Arc<Self>, store: DynStore, stopping: CancellationToken) {
        loop {
            tokio::select! {
                _ = stopping.cancelled() => {
                    self.flush(&store).await;
                    return;
                }
                _ = tokio::time::sleep(self.flush_every) => self.flush(&store).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> Known {
        Known {
            name: name.to_owned(),
            queues: Arc::from(vec!["q1".to_owned()]),
        }
    }

    #[test]
    fn a_known_agent_is_recalled_until_its_address_changes_or_its_confirmation_is_old() {
        let presence = Presence::new(Duration::from_secs(30));
        assert_eq!(presence.flush_every(), Duration::from_secs(5));
        assert_eq!(presence.recall("p", "a", "10.0.0.1", 1_000), None);
        presence.remember("p", "a", "10.0.0.1", 1_000, known("one"));
        assert_eq!(
            presence.recall("p", "a", "10.0.0.1", 2_000),
            Some(known("one"))
        );
        // Another address is written at once; so is an agent not confirmed for 30 s.
        assert_eq!(presence.recall("p", "a", "10.0.0.2", 2_000), None);
        assert_eq!(presence.recall("p", "a", "10.0.0.1", 31_001), None);
        // Other projects' agents of the same id are others.
        assert_eq!(presence.recall("q", "a", "10.0.0.1", 2_000), None);
        presence.forget("p", "a");
        assert_eq!(presence.recall("p", "a", "10.0.0.1", 2_000), None);
        // A new registration of a name replaces the earlier ones of that name.
        presence.remember("p", "b", "10.0.0.1", 1_000, known("two"));
        presence.remember("q", "c", "10.0.0.1", 1_000, known("two"));
        presence.forget_name("p", "two");
        assert_eq!(presence.recall("p", "b", "10.0.0.1", 2_000), None);
        assert_eq!(
            presence.recall("q", "c", "10.0.0.1", 2_000),
            Some(known("two"))
        );
    }

    #[test]
    fn only_words_not_yet_stored_are_written_and_the_long_quiet_are_let_go() {
        let presence = Presence::new(Duration::from_secs(3));
        assert_eq!(presence.flush_every(), Duration::from_millis(500));
        presence.remember("p", "a", "addr", 1_000, known("a"));
        presence.remember("p", "b", "addr", 1_000, known("b"));
        assert!(presence.unstored(1_500).is_empty());
        presence.recall("p", "b", "addr", 2_000);
        let unstored = presence.unstored(2_000);
        assert_eq!(
            unstored,
            vec![AgentSeen {
                project_id: "p".into(),
                agent_id: "b".into(),
                address: "addr".into(),
                last_seen: 2_000,
            }]
        );
        // Twice the timeout after its last word, a stored agent is let go.
        presence.unstored(7_001);
        assert_eq!(presence.lock().len(), 1);
    }
}
