//! One keyed token-bucket limiter (governor) for every per-key budget dsconn keeps:
//! requests per caller and failed authentication per address (`api::limits`), and checks
//! per project ([`CheckBudget`], spent by the API and drained by the worker).

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Why a [`KeyedLimiter`] refused to spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key's bucket has not enough left now; it will after this long (at least one
    /// second, the unit of `Retry-After`).
    Wait(Duration),
    /// More than the bucket can ever hold at once.
    NeverFits,
}

/// A token bucket per key. Above `max_tracked_keys` keys, idle ones are forgotten, so
/// that a stream of new keys cannot grow it without bound.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    max_tracked_keys: usize,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(quota: Quota, max_tracked_keys: usize) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            max_tracked_keys,
        }
    }

    /// Spends `cells` of `key`'s bucket, or says why not.
    pub fn spend(&self, key: &K, cells: NonZeroU32) -> Result<(), Refusal> {
        if self.limiter.len() > self.max_tracked_keys {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key_n(key, cells) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Refusal::Wait(
                not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_secs(1)),
            )),
            Err(_) => Err(Refusal::NeverFits),
        }
    }

    /// Spends one cell of `key`'s bucket, or says how long to wait.
    pub fn spend_one(&self, key: &K) -> Result<(), Duration> {
        match self.spend(key, NonZeroU32::MIN) {
            Ok(()) => Ok(()),
            Err(Refusal::Wait(wait)) => Err(wait),
            // A bucket always holds at least one cell.
            Err(Refusal::NeverFits) => Err(Duration::from_secs(1)),
        }
    }

    /// Spends up to `cells` of `key`'s bucket, as much as is left, and never refuses.
    pub fn drain(&self, key: &K, cells: u32) {
        let mut left = cells;
        let mut chunk = cells;
        while left > 0 && chunk > 0 {
            let Some(amount) = NonZeroU32::new(chunk.min(left)) else {
                break;
            };
            match self.spend(key, amount) {
                Ok(()) => left -= amount.get(),
                Err(_) => chunk /= 2,
            }
        }
    }
}

/// Above this many tracked projects, idle ones are forgotten.
const MAX_TRACKED_PROJECTS: usize = 10_000;

/// Why a project may not start checks now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRefusal {
    /// The project has spent its budget; it may again after `retry_after`.
    TooFast {
        project: String,
        retry_after: Duration,
    },
    /// One request asked for more checks than the budget holds in a minute.
    MoreThanBudget { checks: u32 },
}

/// How many checks (addresses dialled) each project may start per minute.
pub struct CheckBudget {
    limiter: KeyedLimiter<String>,
}

impl CheckBudget {
    pub fn per_minute(checks: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(checks).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: KeyedLimiter::new(quota, MAX_TRACKED_PROJECTS),
        }
    }

    /// Spends `checks` of the project's budget, or says why not.
    pub fn spend(&self, project: &str, checks: u32) -> Result<(), CheckRefusal> {
        let Some(cells) = NonZeroU32::new(checks) else {
            return Ok(());
        };
        self.limiter
            .spend(&project.to_owned(), cells)
            .map_err(|refusal| match refusal {
                Refusal::Wait(retry_after) => CheckRefusal::TooFast {
                    project: project.to_owned(),
                    retry_after,
                },
                Refusal::NeverFits => CheckRefusal::MoreThanBudget { checks },
            })
    }

    /// Spends up to `checks` of the project's budget, as much as is left, and never
    /// refuses: for work already accepted (the worker's checks of a create or binding),
    /// so that the project's next requests pay for the addresses it dialled.
    pub fn drain(&self, project: &str, checks: u32) {
        self.limiter.drain(&project.to_owned(), checks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_once_spent_and_keeps_keys_apart() {
        let limiter = KeyedLimiter::new(Quota::per_minute(NonZeroU32::MIN), 10);
        assert_eq!(limiter.spend_one(&"a"), Ok(()));
        let wait = limiter.spend_one(&"a").expect_err("spent");
        assert!(wait >= Duration::from_secs(1), "{wait:?}");
        assert_eq!(limiter.spend_one(&"b"), Ok(()));
    }

    #[test]
    fn the_budget_refuses_more_than_it_holds_and_drain_takes_what_is_left() {
        let budget = CheckBudget::per_minute(4);
        assert_eq!(
            budget.spend("p", 5),
            Err(CheckRefusal::MoreThanBudget { checks: 5 })
        );
        assert_eq!(budget.spend("p", 0), Ok(()));
        budget.drain("p", 3);
        assert_eq!(budget.spend("p", 1), Ok(()));
        assert!(matches!(
            budget.spend("p", 1),
            Err(CheckRefusal::TooFast { .. })
        ));
        // Draining an empty bucket neither blocks nor refuses.
        budget.drain("p", 10);
    }
}
