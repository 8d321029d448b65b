//! The lifecycle worker: claims CREATING connections, checks them, records the result;
//! and purges DELETED connections past their retention.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::domain::{ConnectionState, now_millis};
use crate::probe::{CheckReport, Prober, Resolver};
use crate::store::{CheckResult, DynStore, PendingCheck};

/// How often the worker looks for work nobody announced (e.g. an expired lease).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How many connections one claim takes.
const CLAIM_BATCH: u32 = 64;
/// How many connections are checked at once.
const MAX_CONCURRENT_CHECKS: usize = 64;
/// How often DELETED connections past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// Back-off after a store error, so a sick database is not hammered.
const ERROR_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct WorkerSettings {
    pub check_timeout: Duration,
    pub deleted_retention: Duration,
    pub resolver: Resolver,
}

impl WorkerSettings {
    /// A claim outlives the slowest possible check (resolve then connect, each bounded
    /// by the timeout) with room to write the result.
    fn lease(&self) -> Duration {
        self.check_timeout * 2 + Duration::from_secs(30)
    }
}

pub struct LifecycleWorker {
    store: DynStore,
    settings: WorkerSettings,
    prober: Prober,
    /// Identifies this process's claims.
    owner: String,
    wake: Arc<Notify>,
}

impl LifecycleWorker {
    pub fn new(store: DynStore, settings: WorkerSettings, wake: Arc<Notify>) -> Self {
        let prober = Prober::new(settings.resolver.clone(), settings.check_timeout);
        Self {
            store,
            prober,
            settings,
            owner: uuid::Uuid::new_v4().to_string(),
            wake,
        }
    }

    /// Runs until cancelled. Checks in flight are finished before returning, so that a
    /// graceful stop leaves no connection claimed.
    pub async fn run(self, shutdown: CancellationToken) {
        let worker = Arc::new(self);
        let mut in_flight = JoinSet::new();
        let mut next_purge = tokio::time::Instant::now();
        loop {
            while in_flight.try_join_next().is_some() {}
            if tokio::time::Instant::now() >= next_purge {
                worker.purge().await;
                next_purge = tokio::time::Instant::now() + PURGE_INTERVAL;
            }
            // Claim only what can start now, so no lease ticks away while queued here.
            let free = MAX_CONCURRENT_CHECKS.saturating_sub(in_flight.len());
            if free == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = in_flight.join_next() => continue,
                }
            }
            let limit = u32::try_from(free).unwrap_or(CLAIM_BATCH).min(CLAIM_BATCH);
            match worker.claim(limit).await {
                Ok(batch) if !batch.is_empty() => {
                    for pending in batch {
                        let worker = Arc::clone(&worker);
                        in_flight.spawn(async move { worker.check(pending).await });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(()) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(ERROR_BACKOFF) => continue,
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = worker.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Claims and checks everything pending now, then purges: one deterministic step
    /// for tests.
    pub async fn run_once(&self) -> usize {
        let mut checked = 0;
        while let Ok(batch) = self.claim(CLAIM_BATCH).await {
            if batch.is_empty() {
                break;
            }
            checked += batch.len();
            futures::future::join_all(batch.into_iter().map(|pending| self.check(pending))).await;
        }
        self.purge().await;
        checked
    }

    async fn claim(&self, limit: u32) -> Result<Vec<PendingCheck>, ()> {
        self.store
            .claim_pending_checks(&self.owner, self.settings.lease(), limit, now_millis())
            .await
            .map_err(|error| warn!(error = %error, "claiming pending checks failed"))
    }

    async fn check(&self, pending: PendingCheck) {
        let span = info_span!(
            "check",
            connection.id = %pending.id,
            project.id = %pending.project_id,
            service = %pending.service,
        );
        async {
            let started = std::time::Instant::now();
            let result = match pending.endpoints() {
                Ok(endpoints) => {
                    let report = self
                        .prober
                        .check_endpoints(&endpoints, |process| {
                            self.record_progress(&pending, process)
                        })
                        .await;
                    check_result(&report, endpoints.normalized())
                }
                Err(error) => {
                    warn!(error = %error, "stored url no longer parses");
                    CheckResult {
                        state: ConnectionState::Failed,
                        process: 1.0,
                        connection_url: String::new(),
                        message:
                            "the stored url is invalid; delete and create the connection again"
                                .into(),
                        report: "{}".into(),
                    }
                }
            };
            match self
                .store
                .record_check_result(pending.id, &self.owner, &result, now_millis())
                .await
            {
                Ok(true) => info!(
                    state = %result.state,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "connection checked"
                ),
                Ok(false) => {
                    info!("claim lost before the result was written; another worker owns it")
                }
                // The lease expires and the check runs again: results are idempotent.
                Err(error) => warn!(error = %error, "recording a check result failed"),
            }
        }
        .instrument(span)
        .await;
    }

    async fn record_progress(&self, pending: &PendingCheck, process: f64) {
        if let Err(error) = self
            .store
            .record_progress(pending.id, &self.owner, process, now_millis())
            .await
        {
            warn!(connection.id = %pending.id, error = %error, "recording progress failed");
        }
    }

    async fn purge(&self) {
        let retention =
            i64::try_from(self.settings.deleted_retention.as_millis()).unwrap_or(i64::MAX);
        match self
            .store
            .purge_deleted(now_millis().saturating_sub(retention))
            .await
        {
            Ok(0) => {}
            Ok(purged) => info!(purged, "purged deleted connections past retention"),
            Err(error) => warn!(error = %error, "purging deleted connections failed"),
        }
    }
}

/// Turns a check report into the connection's new state: ACTIVE if any address answered.
pub fn check_result(report: &CheckReport, normalized_url: String) -> CheckResult {
    let report_json = serde_json::to_string(report).unwrap_or_else(|_| "{}".into());
    if report.any_reachable() {
        CheckResult {
            state: ConnectionState::Active,
            process: 1.0,
            connection_url: normalized_url,
            message: String::new(),
            report: report_json,
        }
    } else {
        CheckResult {
            state: ConnectionState::Failed,
            process: 1.0,
            connection_url: String::new(),
            message: report.failure_summary(),
            report: report_json,
        }
    }
}
