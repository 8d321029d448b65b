//! A short-lived cache of serialized list and show answers, the API's hot path.
//!
//! Every write this process makes invalidates the project's entries at once, so a
//! client always reads its own writes; writes made by another replica become visible
//! within the time to live. A zero time to live turns the cache off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Notify;

/// Cached bytes beyond which the cache starts over (bounds memory).
const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;
/// Answers larger than this are not cached.
const MAX_ENTRY_BYTES: usize = 16 * 1024 * 1024;
/// Projects tracked before the cache starts over.
const MAX_PROJECTS: usize = 10_000;

#[derive(Default)]
struct Entries {
    /// Bumped by every invalidation, so an answer computed before one is not stored.
    generations: HashMap<String, u64>,
    bodies: HashMap<(String, String), (Instant, Bytes)>,
    bytes: usize,
}

pub struct ReadCache {
    ttl: Duration,
    entries: Mutex<Entries>,
    /// Answers being computed, so concurrent misses of one key compute it once.
    in_flight: Mutex<HashMap<(String, String), Arc<Notify>>>,
}

/// How long a request waits for another's computation before looking again.
const FOLLOWER_WAIT: Duration = Duration::from_millis(100);
/// How many times it looks before computing the answer itself (about 10 s).
const FOLLOWER_ROUNDS: usize = 100;

/// A leader's claim on a key: released, and its followers woken, when dropped.
struct Leading<'a> {
    in_flight: &'a Mutex<HashMap<(String, String), Arc<Notify>>>,
    slot: &'a (String, String),
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let notify = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(self.slot);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }
}

/// Where an answer was computed, to store it only if nothing changed meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl ReadCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(Entries::default()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A cached answer, or a ticket to store the one about to be computed.
    pub fn get(&self, project: &str, key: &str) -> Result<Bytes, Ticket> {
        let entries = self.lock();
        let generation = entries
            .generations
            .get(project)
            .copied()
            .unwrap_or_default();
        if self.ttl.is_zero() {
            return Err(Ticket(generation));
        }
        match entries.bodies.get(&(project.to_owned(), key.to_owned())) {
            Some((filled, body)) if filled.elapsed() < self.ttl => Ok(body.clone()),
            _ => Err(Ticket(generation)),
        }
    }

    /// Stores an answer unless the project changed since the ticket was taken.
    pub fn put(&self, project: &str, key: &str, ticket: Ticket, body: Bytes) {
        if self.ttl.is_zero() || body.len() > MAX_ENTRY_BYTES {
            return;
        }
        let mut entries = self.lock();
        let generation = entries
            .generations
            .get(project)
            .copied()
            .unwrap_or_default();
        if generation != ticket.0 {
            return;
        }
        if entries.bytes + body.len() > MAX_CACHED_BYTES || entries.generations.len() > MAX_PROJECTS
        {
            entries.bodies.clear();
            entries.bytes = 0;
        }
        entries.bytes += body.len();
        if let Some((_, old)) = entries
            .bodies
            .insert((project.to_owned(), key.to_owned()), (Instant::now(), body))
        {
            entries.bytes -= old.len();
        }
    }

    /// The cached answer, or the one `compute` makes (then cached). Concurrent misses of
    /// one key wait for the first computation instead of each running the query.
    pub async fn get_or_compute<E, F, Fut>(
        &self,
        project: &str,
        key: &str,
        compute: F,
    ) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        if self.ttl.is_zero() {
            return compute().await;
        }
        let slot = (project.to_owned(), key.to_owned());
        // Followers keep waiting while a leader computes (a 10,000-row answer takes longer
        // than one wait), up to FOLLOWER_ROUNDS waits; then they compute themselves.
        for _ in 0..FOLLOWER_ROUNDS {
            let ticket = match self.get(project, key) {
                Ok(body) => return Ok(body),
                Err(ticket) => ticket,
            };
            let leader = {
                let mut in_flight = self
                    .in_flight
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                match in_flight.get(&slot) {
                    Some(notify) => Err(Arc::clone(notify)),
                    None => {
                        in_flight.insert(slot.clone(), Arc::new(Notify::new()));
                        Ok(ticket)
                    }
                }
            };
            match leader {
                Err(notify) => {
                    // Bounded: a missed wake-up only costs this wait.
                    let _ = tokio::time::timeout(FOLLOWER_WAIT, notify.notified()).await;
                }
                Ok(ticket) => {
                    // Dropped also when this request is cancelled mid-computation, so
                    // followers never wait on a leader that is gone.
                    let _leading = Leading {
                        in_flight: &self.in_flight,
                        slot: &slot,
                    };
                    let outcome = compute().await;
                    if let Ok(body) = &outcome {
                        self.put(project, key, ticket, body.clone());
                    }
                    return outcome;
                }
            }
        }
        compute().await
    }

    /// Forgets the project's answers: call after every write to it.
    pub fn invalidate(&self, project: &str) {
        let mut entries = self.lock();
        *entries.generations.entry(project.to_owned()).or_default() += 1;
        let mut freed = 0;
        entries.bodies.retain(|(owner, _), (_, body)| {
            let keep = owner != project;
            if !keep {
                freed += body.len();
            }
            keep
        });
        entries.bytes -= freed;
    }

    /// Forgets everything (e.g. after a purge across projects).
    pub fn invalidate_all(&self) {
        let mut entries = self.lock();
        for generation in entries.generations.values_mut() {
            *generation += 1;
        }
        entries.bodies.clear();
        entries.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_until_its_project_changes() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let ticket = cache.get("p", "list").expect_err("empty");
        cache.put("p", "list", ticket, Bytes::from_static(b"v1"));
        assert_eq!(cache.get("p", "list").ok(), Some(Bytes::from_static(b"v1")));
        cache.invalidate("other");
        assert!(
            cache.get("p", "list").is_ok(),
            "other projects' writes do not matter"
        );
        cache.invalidate("p");
        assert!(cache.get("p", "list").is_err());
    }

    #[test]
    fn an_answer_computed_across_a_write_is_not_stored() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let ticket = cache.get("p", "list").expect_err("empty");
        cache.invalidate("p");
        cache.put("p", "list", ticket, Bytes::from_static(b"stale"));
        assert!(cache.get("p", "list").is_err());
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_compute_it_once() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let computed = std::sync::atomic::AtomicUsize::new(0);
        let answers = futures::future::join_all((0..10).map(|_| {
            cache.get_or_compute("p", "list", || async {
                computed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok::<_, ()>(Bytes::from_static(b"body"))
            })
        }))
        .await;
        assert!(answers.iter().all(|a| a.as_deref() == Ok(&b"body"[..])));
        assert_eq!(computed.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn followers_outwait_a_leader_slower_than_one_wait() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let computed = std::sync::atomic::AtomicUsize::new(0);
        let answers = futures::future::join_all((0..4).map(|_| {
            cache.get_or_compute("p", "list", || async {
                computed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(FOLLOWER_WAIT * 4).await;
                Ok::<_, ()>(Bytes::from_static(b"body"))
            })
        }))
        .await;
        assert!(answers.iter().all(|a| a.as_deref() == Ok(&b"body"[..])));
        assert_eq!(computed.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_cancelled_leader_releases_its_followers() {
        let cache = ReadCache::new(Duration::from_secs(60));
        // The leader never finishes: it is cancelled by the timeout.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(10),
            cache.get_or_compute("p", "list", || async {
                std::future::pending::<Result<Bytes, ()>>().await
            }),
        )
        .await;
        assert!(abandoned.is_err());
        let started = Instant::now();
        let answer = cache
            .get_or_compute("p", "list", || async {
                Ok::<_, ()>(Bytes::from_static(b"b"))
            })
            .await;
        assert_eq!(answer.as_deref(), Ok(&b"b"[..]));
        assert!(started.elapsed() < FOLLOWER_WAIT, "waited on a gone leader");
    }

    #[test]
    fn answers_expire_and_a_zero_ttl_caches_nothing() {
        let cache = ReadCache::new(Duration::from_millis(20));
        let ticket = cache.get("p", "k").expect_err("empty");
        cache.put("p", "k", ticket, Bytes::from_static(b"v"));
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get("p", "k").is_err());

        let off = ReadCache::new(Duration::ZERO);
        let ticket = off.get("p", "k").expect_err("empty");
        off.put("p", "k", ticket, Bytes::from_static(b"v"));
        assert!(off.get("p", "k").is_err());
    }
}
