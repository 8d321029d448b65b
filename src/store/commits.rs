//! The one point where the stores announce a committed change.
//!
//! Every write that commits calls [`Backend::commit`](super::sql::Backend::commit) with
//! its transaction (or, for a single statement or a grouped commit, announces once the
//! commit is done) and names what it changed. Subscribers hear of a change after it is
//! durable and before the write returns to its caller, so a read cache that subscribes
//! never serves an answer from before a write to the request that made it. The audit
//! trail of a later issue hooks in at the same place: a per-change record written into
//! the transaction just before it commits.

use std::sync::RwLock;

/// What a committed write changed: whose answers may now differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// The answers about this project (its connections, bindings, queues, pools...).
    Project(&'a str),
    /// Any project's (a purge across projects).
    Everything,
    /// Credentials or tokens: no project's answers, only who may ask.
    Access,
}

type Subscriber = Box<dyn Fn(Change<'_>) + Send + Sync>;

/// Who hears of a store's committed changes. Each store holds one.
#[derive(Default)]
pub struct Commits {
    subscribers: RwLock<Vec<Subscriber>>,
}

impl std::fmt::Debug for Commits {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Commits").finish_non_exhaustive()
    }
}

impl Commits {
    /// Calls `subscriber` after every committed change, in the writer's task (so it must
    /// be quick and must not block).
    pub fn subscribe(&self, subscriber: impl Fn(Change<'_>) + Send + Sync + 'static) {
        self.subscribers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Box::new(subscriber));
    }

    /// Tells every subscriber of a committed change.
    pub(super) fn announce(&self, change: Change<'_>) {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for subscriber in subscribers.iter() {
            subscriber(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn every_subscriber_hears_every_announced_change_in_order() {
        let commits = Commits::default();
        let heard = Arc::new(Mutex::new(Vec::new()));
        for name in ["cache", "audit"] {
            let heard = Arc::clone(&heard);
            commits.subscribe(move |change| {
                let change = match change {
                    Change::Project(project) => format!("project {project}"),
                    Change::Everything => "everything".to_owned(),
                    Change::Access => "access".to_owned(),
                };
                heard
                    .lock()
                    .expect("not poisoned")
                    .push(format!("{name}: {change}"));
            });
        }
        commits.announce(Change::Project("p1"));
        commits.announce(Change::Everything);
        assert_eq!(
            *heard.lock().expect("not poisoned"),
            [
                "cache: project p1",
                "audit: project p1",
                "cache: everything",
                "audit: everything"
            ]
        );
    }
}
