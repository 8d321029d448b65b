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
    /// Where agents' claims wait for their queues' work.
    pub claims: Arc<super::agents::waiting::ClaimWake>,
    /// The agents heard from, written to the store together.
    pub presence: Arc<super::agents::heard::Presence>,
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
    /// New checks of these queues (or pools) of `project` are waiting: the worker and
    /// the claims of the queues' agents look at once.
    pub fn work_arrived_for<'q>(&self, project: &str, queues: impl IntoIterator<Item = &'q str>) {
        self.wake_worker.notify_one();
        self.claims.wake(project, queues);
    }

    /// New checks of some of `project`'s queues are waiting: the worker and the claims of
    /// the project's agents look at once.
    pub fn work_arrived_in(&self, project: &str) {
        self.wake_worker.notify_one();
        self.claims.wake_project(project);
    }
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub connection_quota: u32,
    pub max_body_bytes: u32,
    pub request_timeout: std::time::Duration,
    /// How long an idle keep-alive connection is kept (`--header-read-timeout`).
    pub keep_alive_idle: std::time::Duration,
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
