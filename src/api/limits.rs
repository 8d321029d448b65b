//! Per-credential request rate limits and the per-address limit on failed
//! authentication (the middleware that applies them is in `middleware`).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::Quota;

use super::error::ApiError;
use crate::rate_limit::KeyedLimiter;

/// Above this many tracked callers, idle ones are forgotten.
const MAX_TRACKED_CALLERS: usize = 100_000;

/// A token bucket per credential or token; disabled at 0 requests per second.
pub struct RequestLimiter {
    limiter: Option<KeyedLimiter<String>>,
}

impl RequestLimiter {
    pub fn per_second(requests: u32) -> Self {
        let limiter = NonZeroU32::new(requests).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            KeyedLimiter::new(
                Quota::per_second(rate).allow_burst(burst),
                MAX_TRACKED_CALLERS,
            )
        });
        Self { limiter }
    }

    /// Counts one request of `caller`, or says how long it must wait.
    pub fn check(&self, caller: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .spend_one(&caller.to_owned())
            .map_err(|retry_after| ApiError::TooManyRequests {
                message: format!("{caller} is sending requests faster than allowed; slow down"),
                retry_after,
            })
    }
}

/// A token bucket per client address (see [`crate::server::client_key`]) that only
/// failed authentication attempts spend. It replaces the lockout of access keys, which
/// let anyone who knew an access key lock its owner out: here a stranger's failures cost
/// only the stranger's address, and a correctly authenticated request never consults it.
pub struct AuthFailureLimiter {
    limiter: Option<KeyedLimiter<IpAddr>>,
}

impl AuthFailureLimiter {
    /// `per_second` failures per second after a burst of `burst`; disabled at 0 per second.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            KeyedLimiter::new(
                Quota::per_second(rate).allow_burst(burst),
                MAX_TRACKED_CALLERS,
            )
        });
        Self { limiter }
    }

    /// Counts one failed attempt of `client`, or (over its budget) says how long it must
    /// wait; the attempt is then answered with 429 instead of 401.
    pub fn charge(&self, client: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .spend_one(&client)
            .map_err(|retry_after| ApiError::TooManyRequests {
                message: "too many failed authentication attempts from this address; \
                          check the credentials and retry later"
                    .to_owned(),
                retry_after,
            })
    }
}
