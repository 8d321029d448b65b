//! Waiting claims and their wake-ups: a claim waits on its agent's queues, and is woken
//! when work of one of them arrives. Work this process creates wakes the claims of its
//! own queues at once; work that comes due with time (a re-check, a lapsed lease) or from
//! another replica is found by one look for all waiting claims every [`CLAIM_LOOK`].
//! A thousand idle agents thus cost a few queries a second, not thousands.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::now_millis;
use crate::store::DynStore;

/// How often the waiting claims' one look runs (while any claim waits).
pub const CLAIM_LOOK: Duration = Duration::from_secs(1);
/// Most (project, queue) pairs of each kind of work one look reads.
const LOOK_LIMIT: u32 = 2_000;

type ClaimId = u64;
/// The claims waiting on each queue (or pool) of one project.
type ByQueue = HashMap<String, Vec<(ClaimId, Arc<Notify>)>>;

/// The claims waiting, by project and queue (or pool) name.
#[derive(Default)]
struct Waiting {
    next_id: ClaimId,
    by_project: HashMap<String, ByQueue>,
}

/// Where claims wait for their queues' work.
#[derive(Default)]
pub struct ClaimWake {
    waiting: Mutex<Waiting>,
}

/// One waiting claim: woken by [`ClaimWake::wake`] of one of its queues. A wake-up that
/// comes while the claim is not yet waiting is kept for it, so none is lost between a
/// look in the store and the wait.
pub struct Listening<'a> {
    wake: &'a ClaimWake,
    id: ClaimId,
    project: String,
    queues: Arc<[String]>,
    notify: Arc<Notify>,
}

impl Listening<'_> {
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        let mut waiting = self.wake.lock();
        let Some(queues) = waiting.by_project.get_mut(&self.project) else {
            return;
        };
        for queue in self.queues.iter() {
            if let Some(claims) = queues.get_mut(queue) {
                claims.retain(|(id, _)| *id != self.id);
                if claims.is_empty() {
                    queues.remove(queue);
                }
            }
        }
        if queues.is_empty() {
            waiting.by_project.remove(&self.project);
        }
    }
}

impl ClaimWake {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // Nothing here panics while holding the lock; a poisoned one is still whole.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A claim of `project` waiting for work of `queues` (its agent's queues and pools).
    pub fn listen(&self, project: &str, queues: Arc<[String]>) -> Listening<'_> {
        let notify = Arc::new(Notify::new());
        let mut waiting = self.lock();
        waiting.next_id += 1;
        let id = waiting.next_id;
        let by_queue = waiting.by_project.entry(project.to_owned()).or_default();
        for queue in queues.iter() {
            by_queue
                .entry(queue.clone())
                .or_default()
                .push((id, Arc::clone(&notify)));
        }
        Listening {
            wake: self,
            id,
            project: project.to_owned(),
            queues,
            notify,
        }
    }

    /// Work of these queues of `project` arrived: their waiting claims look.
    pub fn wake<'q>(&self, project: &str, queues: impl IntoIterator<Item = &'q str>) {
        let waiting = self.lock();
        let Some(by_queue) = waiting.by_project.get(project) else {
            return;
        };
        for queue in queues {
            for (_, notify) in by_queue.get(queue).into_iter().flatten() {
                notify.notify_one();
            }
        }
    }

    /// Work of some queues of `project` arrived: all its waiting claims look.
    pub fn wake_project(&self, project: &str) {
        let waiting = self.lock();
        let claims = waiting
            .by_project
            .get(project)
            .into_iter()
            .flat_map(|q| q.values());
        for (_, notify) in claims.flatten() {
            notify.notify_one();
        }
    }

    fn anyone_waiting(&self) -> bool {
        !self.lock().by_project.is_empty()
    }

    /// Every [`CLAIM_LOOK`] while claims wait: reads which queues have work to claim and
    /// wakes their claims. Until `stopping`.
    pub async fn look_for_work(self: Arc<Self>, store: DynStore, stopping: CancellationToken) {
        loop {
            tokio::select! {
                _ = stopping.cancelled() => return,
                _ = tokio::time::sleep(CLAIM_LOOK) => {}
            }
            if !self.anyone_waiting() {
                continue;
            }
            match store
                .queues_with_claimable_work(now_millis(), LOOK_LIMIT)
                .await
            {
                Ok(queues) => {
                    for (project, queue) in &queues {
                        self.wake(project, [queue.as_str()]);
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "the waiting claims' look for work failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(names: &[&str]) -> Arc<[String]> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[tokio::test]
    async fn a_wake_reaches_only_the_claims_of_its_queue_and_is_kept_until_waited_for() {
        let wake = ClaimWake::default();
        let first = wake.listen("p1", queues(&["q1", "q2"]));
        let second = wake.listen("p1", queues(&["q3"]));
        let other_project = wake.listen("p2", queues(&["q1"]));
        // Woken before waiting: the wake-up is kept.
        wake.wake("p1", ["q2"]);
        let soon = Duration::from_millis(50);
        assert!(tokio::time::timeout(soon, first.notified()).await.is_ok());
        assert!(tokio::time::timeout(soon, second.notified()).await.is_err());
        assert!(
            tokio::time::timeout(soon, other_project.notified())
                .await
                .is_err()
        );
        wake.wake_project("p1");
        assert!(tokio::time::timeout(soon, second.notified()).await.is_ok());
        assert!(
            tokio::time::timeout(soon, other_project.notified())
                .await
                .is_err()
        );
    }

    #[test]
    fn a_claim_that_stops_waiting_leaves_nothing_behind() {
        let wake = ClaimWake::default();
        let first = wake.listen("p1", queues(&["q1", "q2"]));
        let second = wake.listen("p1", queues(&["q1"]));
        drop(first);
        assert_eq!(wake.lock().by_project["p1"].len(), 1);
        drop(second);
        assert!(!wake.anyone_waiting());
        // Waking a queue nobody waits on is nothing.
        wake.wake("p1", ["q1"]);
        wake.wake_project("p9");
    }
}
