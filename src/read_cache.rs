//! A short-lived cache of serialized list and show answers, the API's hot path.
//!
//! Answers are kept in a `moka` cache (time to live, a byte budget, and one computation
//! per key for concurrent misses), keyed by the project's *generation*: every write this
//! process makes to a project bumps it, so a read after a write asks for a key that no
//! earlier answer was stored under and always sees the write. Writes made by another
//! replica become visible within the time to live. A zero time to live turns the cache
//! off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

/// Cached bytes beyond which the oldest answers are evicted (bounds memory).
const MAX_CACHED_BYTES: u64 = 64 * 1024 * 1024;
/// Answers larger than this are not cached.
const MAX_ENTRY_BYTES: usize = 16 * 1024 * 1024;
/// Projects whose generation is tracked; past this the older half is forgotten.
const MAX_TRACKED_PROJECTS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    project: String,
    key: String,
    generation: u64,
}

/// Which generation each project's answers belong to.
///
/// Generations come from one counter, so a bump always yields a value no answer was
/// stored under. An untracked project is at `floor`, which is at least the generation of
/// every project forgotten so far: a key from before a forgotten project's last write
/// can never be asked for again, so forgetting loses no correctness (only cached
/// answers).
#[derive(Debug, Default)]
struct Generations {
    by_project: HashMap<String, u64>,
    last: u64,
    floor: u64,
}

impl Generations {
    fn current(&self, project: &str) -> u64 {
        self.by_project.get(project).copied().unwrap_or(self.floor)
    }

    fn bump(&mut self, project: &str) {
        self.last += 1;
        self.by_project.insert(project.to_owned(), self.last);
        if self.by_project.len() > MAX_TRACKED_PROJECTS {
            self.forget_older_half();
        }
    }

    fn forget_older_half(&mut self) {
        let mut generations: Vec<u64> = self.by_project.values().copied().collect();
        let middle = generations.len() / 2;
        let (_, &mut threshold, _) = generations.select_nth_unstable(middle);
        self.by_project
            .retain(|_, generation| *generation > threshold);
        self.floor = self.floor.max(threshold);
    }

    fn bump_all(&mut self) {
        self.last += 1;
        self.floor = self.last;
        self.by_project.clear();
    }
}

pub struct ReadCache {
    /// None when the time to live is zero.
    answers: Option<moka::future::Cache<AnswerKey, Bytes>>,
    generations: Mutex<Generations>,
}

/// Why a computed answer was not stored: the caller that computed it keeps it.
#[derive(Debug, Clone, Copy)]
struct NotStored;

impl ReadCache {
    pub fn new(ttl: Duration) -> Self {
        let answers = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(MAX_CACHED_BYTES)
                .weigher(|key: &AnswerKey, body: &Bytes| {
                    u32::try_from(key.project.len() + key.key.len() + body.len())
                        .unwrap_or(u32::MAX)
                })
                .build()
        });
        Self {
            answers,
            generations: Mutex::new(Generations::default()),
        }
    }

    fn generations(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached answer, or the one `compute` makes (then cached). Concurrent misses of
    /// one key wait for the first computation (and are woken by it) instead of each
    /// running the query. `compute` runs again only for a caller whose leader failed.
    pub async fn get_or_compute<E, F, Fut>(
        &self,
        project: &str,
        key: &str,
        compute: F,
    ) -> Result<Bytes, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        let Some(answers) = &self.answers else {
            return compute().await;
        };
        let answer_key = AnswerKey {
            project: project.to_owned(),
            key: key.to_owned(),
            generation: self.generations().current(project),
        };
        // What this caller computed but could not store (an error, or a body too large).
        let mut kept: Option<Result<Bytes, E>> = None;
        let stored = answers
            .try_get_with(answer_key, async {
                match compute().await {
                    Ok(body) if body.len() <= MAX_ENTRY_BYTES => Ok(body),
                    outcome => {
                        kept = Some(outcome);
                        Err(NotStored)
                    }
                }
            })
            .await;
        match (stored, kept) {
            (Ok(body), _) => Ok(body),
            (Err(_), Some(outcome)) => outcome,
            // The computation this caller waited for stored nothing: compute its own.
            (Err(_), None) => compute().await,
        }
    }

    /// Forgets the project's answers (a write to it committed).
    fn invalidate(&self, project: &str) {
        self.generations().bump(project);
    }

    /// Learns of a change a store committed (its commit point's subscriber).
    pub fn committed(&self, change: crate::store::Change<'_>) {
        match change {
            crate::store::Change::Project(project) => self.invalidate(project),
            crate::store::Change::Everything => self.invalidate_all(),
            // Who may ask changed, not what is answered.
            crate::store::Change::Access => {}
        }
    }

    /// Forgets everything (e.g. after a purge across projects).
    fn invalidate_all(&self) {
        self.generations().bump_all();
        if let Some(answers) = &self.answers {
            answers.invalidate_all();
        }
    }

    /// Projects whose generation is tracked (bounded by MAX_TRACKED_PROJECTS).
    #[cfg(test)]
    fn tracked_projects(&self) -> usize {
        self.generations().by_project.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// Reads `key` through the cache, counting computations; the answer is `version`.
    async fn read(
        cache: &ReadCache,
        project: &str,
        computed: &AtomicUsize,
        version: &str,
    ) -> Bytes {
        let version = Bytes::copy_from_slice(version.as_bytes());
        cache
            .get_or_compute(project, "list", || async {
                computed.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(version.clone())
            })
            .await
            .expect("computed")
    }

    #[tokio::test]
    async fn an_answer_is_served_until_its_project_changes() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let computed = AtomicUsize::new(0);
        assert_eq!(read(&cache, "p", &computed, "v1").await, "v1");
        assert_eq!(read(&cache, "p", &computed, "v2").await, "v1", "cached");
        cache.invalidate("other");
        assert_eq!(
            read(&cache, "p", &computed, "v2").await,
            "v1",
            "other projects' writes do not matter"
        );
        cache.invalidate("p");
        assert_eq!(
            read(&cache, "p", &computed, "v2").await,
            "v2",
            "a read after a write sees it"
        );
        assert_eq!(computed.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_answer_computed_across_a_write_is_never_served_after_it() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let stale = cache.get_or_compute("p", "list", || async {
            // The write lands while this answer is being computed from older data.
            cache.invalidate("p");
            Ok::<_, ()>(Bytes::from_static(b"stale"))
        });
        assert_eq!(stale.await.expect("computed"), "stale");
        let computed = AtomicUsize::new(0);
        assert_eq!(read(&cache, "p", &computed, "fresh").await, "fresh");
    }

    #[tokio::test]
    async fn past_the_tracked_projects_limit_old_ones_are_forgotten_without_stale_reads() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let computed = AtomicUsize::new(0);
        assert_eq!(read(&cache, "old", &computed, "v1").await, "v1");
        // Many projects are written; "old" is among the first, so it is forgotten.
        cache.invalidate("old");
        assert_eq!(read(&cache, "old", &computed, "v2").await, "v2");
        for project in 0..MAX_TRACKED_PROJECTS + 10 {
            cache.invalidate(&format!("p{project}"));
        }
        assert!(cache.tracked_projects() <= MAX_TRACKED_PROJECTS);
        // Whatever was forgotten, a write is always seen by the next read.
        cache.invalidate("old");
        assert_eq!(read(&cache, "old", &computed, "v3").await, "v3");
        for project in 0..3 * MAX_TRACKED_PROJECTS {
            cache.invalidate(&format!("q{project}"));
        }
        assert!(cache.tracked_projects() <= MAX_TRACKED_PROJECTS);
        assert_eq!(
            read(&cache, "old", &computed, "v4").await,
            "v4",
            "forgotten: computed again"
        );
        // A recently written project keeps its cached answers: a write elsewhere no longer
        // clears everything.
        cache.invalidate("recent");
        assert_eq!(read(&cache, "recent", &computed, "r1").await, "r1");
        cache.invalidate("q0");
        assert_eq!(read(&cache, "recent", &computed, "r2").await, "r1");
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_compute_it_once() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let computed = AtomicUsize::new(0);
        let answers = futures::future::join_all((0..10).map(|_| {
            cache.get_or_compute("p", "list", || async {
                computed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok::<_, ()>(Bytes::from_static(b"body"))
            })
        }))
        .await;
        assert!(answers.iter().all(|a| a.as_deref() == Ok(&b"body"[..])));
        assert_eq!(computed.load(Ordering::SeqCst), 1);
    }

    // Paused time: the clock moves only when every task waits, so the figure is exact.
    #[tokio::test(start_paused = true)]
    async fn followers_are_woken_as_soon_as_the_leader_finishes() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let leader_took = Duration::from_millis(20);
        let started = tokio::time::Instant::now();
        let answers = futures::future::join_all((0..8).map(|_| {
            cache.get_or_compute("p", "list", || async {
                tokio::time::sleep(leader_took).await;
                Ok::<_, ()>(Bytes::from_static(b"body"))
            })
        }))
        .await;
        assert!(answers.iter().all(|a| a.as_deref() == Ok(&b"body"[..])));
        // Polling followers wake 100 ms later; woken ones right after the leader.
        assert!(
            started.elapsed() < Duration::from_millis(90),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_failed_computation_is_not_cached_and_each_caller_gets_an_answer() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let attempts = AtomicUsize::new(0);
        let failing = cache
            .get_or_compute("p", "show", || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err::<Bytes, _>("not found")
            })
            .await;
        assert_eq!(failing, Err("not found"));
        let computed = AtomicUsize::new(0);
        let later = cache
            .get_or_compute("p", "show", || async {
                computed.fetch_add(1, Ordering::SeqCst);
                Ok::<_, &str>(Bytes::from_static(b"found"))
            })
            .await;
        assert_eq!(later.as_deref(), Ok(&b"found"[..]));
        assert_eq!(
            (
                attempts.load(Ordering::SeqCst),
                computed.load(Ordering::SeqCst)
            ),
            (1, 1)
        );
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
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "waited on a gone leader"
        );
    }

    #[tokio::test]
    async fn answers_expire_and_a_zero_ttl_caches_nothing() {
        let cache = ReadCache::new(Duration::from_millis(20));
        let computed = AtomicUsize::new(0);
        read(&cache, "p", &computed, "v").await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        read(&cache, "p", &computed, "v").await;
        assert_eq!(computed.load(Ordering::SeqCst), 2, "expired");

        let off = ReadCache::new(Duration::ZERO);
        let computed = AtomicUsize::new(0);
        read(&off, "p", &computed, "v").await;
        read(&off, "p", &computed, "v").await;
        assert_eq!(computed.load(Ordering::SeqCst), 2, "nothing cached");
    }
}
