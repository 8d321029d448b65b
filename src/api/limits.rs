//! Per-credential request rate limits and the request deadline.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use super::state::AppState;

/// Above this many tracked callers, idle ones are forgotten.
const MAX_TRACKED_CALLERS: usize = 100_000;

/// A token bucket per credential or token; disabled at 0 requests per second.
pub struct RequestLimiter {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl RequestLimiter {
    pub fn per_second(requests: u32) -> Self {
        let limiter = NonZeroU32::new(requests).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of `caller`, or says how long it must wait.
    pub fn check(&self, caller: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED_CALLERS {
            limiter.retain_recent();
        }
        limiter
            .check_key(&caller.to_owned())
            .map_err(|not_until| ApiError::TooManyRequests {
                message: format!("{caller} is sending requests faster than allowed; slow down"),
                retry_after: not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_secs(1)),
            })
    }
}

/// Answers a request that runs longer than the configured deadline with an error.
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.settings.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout(limit).into_response(),
    }
}
