use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::auth::Authenticator;
use super::limits::{AuthFailureLimiter, RequestLimiter};
use crate::rate_limit::CheckBudget;
use crate::read_cache::ReadCache;
use crate::store::DynStore;

/// What request handlers share: one `Arc`, so that the clones axum makes of it for
/// every request (the router and each layer with state) are one counter increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: DynStore,
    /// Wakes the lifecycle worker when a connection starts CREATING.
    pub wake_worker: Arc<Notify>,
    /// Wakes the agents' waiting claims when queue work arrives.
    pub agent_wake: Arc<Notify>,
    pub settings: Arc<ApiSettings>,
    pub auth: Arc<Authenticator>,
    pub checks: Arc<CheckService>,
    pub request_limiter: Arc<RequestLimiter>,
    /// Failed authentication attempts per client address.
    pub auth_failures: Arc<AuthFailureLimiter>,
    pub read_cache: Arc<ReadCache>,
    /// The event streams' wake-up and bounds.
    pub events: Arc<super::events::feed::EventFeed>,
    /// Cancelled when the server starts to stop: long polls (agents' claims) answer
    /// "no work" at once instead of holding the stop up.
    pub stopping: CancellationToken,
}

impl Shared {
    /// New checks are waiting: the worker and the agents' claims look at once.
    pub fn work_arrived(&self) {
        self.wake_worker.notify_one();
        self.agent_wake.notify_waiters();
    }
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub connection_quota: u32,
    pub max_body_bytes: u32,
    pub request_timeout: std::time::Duration,
    /// Deadline for reading a body before the request is authenticated.
    pub body_read_timeout: std::time::Duration,
    /// Queues present in every project without being stored (`serve --queue`).
    pub declared_queues: Vec<crate::domain::QueueName>,
}

/// What the API needs to run checks itself.
pub struct CheckService {
    /// Runs the tests: probe, outcome, record, as the worker's checks do.
    pub pipeline: Arc<crate::check::CheckPipeline>,
    /// Shared with the worker, which charges the addresses its checks dial.
    pub budget: Arc<CheckBudget>,
}
