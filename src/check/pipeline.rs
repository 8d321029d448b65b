//! [`CheckPipeline`]: runs a [`Job`]'s stages (paying the budget as its purpose says),
//! the pure outcome, and the record with retries; tells the API what changed; writes the
//! metrics and the log line, once for every kind of check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use tracing::{Instrument, info, warn};

use super::checker::{Checker, NoProgress, Progress};
use super::hosts::SharedHostsFiles;
use super::job::{Job, Place, Purpose};
use super::logins::Logins;
use super::outcome::{Circumstances, Record, outcome};
use super::stage_results::{Asked, stage_results};
use super::stages::{Findings, Stage, StageInputs, StageReport, Target, run_stages};
use crate::domain::{ProjectId, StageResult, now_millis};
use crate::probe::{CheckReport, HostsFile};
use crate::rate_limit::CheckRefusal;
use crate::store::{DynStore, HeldCheck, PendingBinding, QueueWork, StoreError};
use crate::telemetry::metrics;

/// Wait between attempts to write a result while the store is unavailable.
const WRITE_RETRY_BACKOFF: Duration = Duration::from_secs(2);
/// Re-check times are spread by up to this share of the interval either way, so that
/// connections created together are not re-checked together forever.
const RECHECK_JITTER: f64 = 0.1;

/// The end of a check run through the pipeline.
#[derive(Debug)]
pub struct Finished {
    /// The probe's report (empty when it did not run).
    pub report: CheckReport,
    /// What each stage of the plan found, in order.
    pub stages: Vec<StageReport>,
    /// The same as answers show it (resolve ... privileges); empty for a set-up.
    pub results: Vec<StageResult>,
    /// Whether the record was written: false if the claim was lost meanwhile or there
    /// was nothing to write.
    pub recorded: crate::store::Result<bool>,
}

/// How the pipeline schedules and retries.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    /// How often an ACTIVE connection is re-checked (spread by a jitter).
    pub recheck_interval: Duration,
    /// How long a claim outlives the slowest possible check: the time a claimed
    /// result's write is retried for.
    pub lease_grace: Duration,
    /// An agent not heard from for this long is offline: its queues' checks fall back
    /// to the server (or wait, with `require_agents`).
    pub agent_timeout: Duration,
    /// Queues without an online agent wait for one instead of being checked here.
    pub require_agents: bool,
}

/// Stages -> outcome -> record, for every kind of check.
pub struct CheckPipeline {
    store: DynStore,
    checker: Arc<dyn Checker>,
    settings: PipelineSettings,
    hosts_files: SharedHostsFiles,
    logins: Logins,
}

impl CheckPipeline {
    pub fn new(store: DynStore, checker: Arc<dyn Checker>, settings: PipelineSettings) -> Self {
        Self {
            store,
            checker,
            settings,
            hosts_files: SharedHostsFiles::default(),
            logins: Logins::default(),
        }
    }

    /// This pipeline, opening credentialed checks' logins with `logins`.
    pub fn with_logins(self, logins: Logins) -> Self {
        Self { logins, ..self }
    }

    /// Where credentialed checks' logins come from.
    pub fn logins(&self) -> &Logins {
        &self.logins
    }

    /// `job` (a queue's claimed work) with the credentialed stages its stored session
    /// asks for, opening the login here (the server runs it).
    pub async fn with_session(&self, job: Job, work: &QueueWork) -> Job {
        let task_id = work.key.parse().ok();
        self.with_stored_session(job, task_id, work.session.as_deref(), None)
            .await
    }

    /// `job` (a claimed binding's check) with the credentialed stages its connection
    /// names; its login skipped while the last one FAILED and the auth info is unchanged.
    pub async fn with_binding_session(&self, job: Job, binding: &PendingBinding) -> Job {
        let last_failed = binding.login_failed_at;
        self.with_stored_session(job, None, binding.check.session.as_deref(), last_failed)
            .await
    }

    /// `job` (a test of a saved connection, asked for explicitly) with the credentialed
    /// stages the connection names: its login is always tried.
    pub async fn with_connection_session(&self, job: Job, session: Option<&str>) -> Job {
        self.with_stored_session(job, None, session, None).await
    }

    async fn with_stored_session(
        &self,
        mut job: Job,
        task_id: Option<i64>,
        session: Option<&str>,
        last_failed: Option<i64>,
    ) -> Job {
        if session.is_some() {
            let session = self
                .logins
                .session_target(&self.store, &job.project, task_id, session, last_failed)
                .await;
            job.target = job.target.with_session(session);
        }
        job
    }

    /// How long a claim lasts: the slowest possible check with room to write the result.
    pub fn lease(&self) -> Duration {
        self.checker.worst_case() + self.settings.lease_grace
    }

    /// How long a queue test's claim lasts: it may run the credentialed stages too.
    pub fn test_lease(&self) -> Duration {
        self.lease() + self.checker.session_worst_case()
    }

    /// When an ACTIVE connection checked now is re-checked.
    pub fn next_check_at(&self, now: i64) -> i64 {
        let interval = self.settings.recheck_interval.as_millis() as f64;
        let jitter = rand::thread_rng().gen_range(-RECHECK_JITTER..=RECHECK_JITTER);
        now.saturating_add((interval * (1.0 + jitter)) as i64)
    }

    /// Agents heard from at this time or later are online.
    pub fn online_since(&self, now: i64) -> i64 {
        now.saturating_sub(i64::try_from(self.settings.agent_timeout.as_millis()).unwrap_or(0))
    }

    /// Not heard from for this long, an agent is offline.
    pub fn agent_timeout(&self) -> Duration {
        self.settings.agent_timeout
    }

    /// Whether queues without an online agent wait for one.
    pub fn requires_agents(&self) -> bool {
        self.settings.require_agents
    }

    /// What a check ending now from `place` is recorded with.
    pub fn circumstances(&self, place: Place) -> Circumstances {
        let now = now_millis();
        Circumstances {
            next_check_at: self.next_check_at(now),
            place,
            server_bindings: (!self.settings.require_agents).then(|| self.online_since(now)),
            stages: Vec::new(),
            checked_at: now,
        }
    }

    /// Records what a check that ran elsewhere (an agent's) found for `purpose` (its
    /// report, or why it found none: a set-up's refusal), as [`Self::run`] records its
    /// own: false if the claim in it is no longer held.
    pub async fn record_reported(
        &self,
        purpose: &Purpose,
        checked: Result<&CheckReport, &str>,
        stages: Vec<StageResult>,
        place: Place,
        took: Duration,
    ) -> crate::store::Result<bool> {
        // A set-up probes nothing: only where it ran is counted.
        if let (Ok(report), false) = (checked, matches!(purpose, Purpose::Setup { .. })) {
            metrics::record_check(purpose.label(), report, took);
        }
        metrics::record_check_place(place.kind());
        let started = Instant::now()
            .checked_sub(took)
            .unwrap_or_else(Instant::now);
        self.conclude(purpose, checked, stages, "", place, Duration::ZERO, started)
            .await
    }

    /// The end every check shares, wherever it ran: the pure outcome, its record
    /// (retried for `retry_for`) and the log line.
    #[allow(clippy::too_many_arguments)]
    async fn conclude(
        &self,
        purpose: &Purpose,
        checked: Result<&CheckReport, &str>,
        stages: Vec<StageResult>,
        normalized_url: &str,
        place: Place,
        retry_for: Duration,
        started: Instant,
    ) -> crate::store::Result<bool> {
        let took = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let now = self.circumstances(place);
        let circumstances = Circumstances {
            stages,
            checked_at: now.checked_at.saturating_sub(took),
            ..now
        };
        let record = outcome(purpose, checked, normalized_url, &circumstances);
        let recorded = self.record(&record, retry_for).await;
        // A test's inline auth info is used once.
        if let (Purpose::QueueTest { task_id, .. }, Ok(true)) = (purpose, &recorded) {
            self.logins.forget_inline(*task_id);
        }
        log_recorded(&record, &recorded, started);
        recorded
    }

    /// The hosts file of `queue`'s checks; without one (logged) when the store fails,
    /// as a check that looks its names up in DNS is still a check.
    pub async fn queue_hosts(&self, project: &str, queue: &str) -> Arc<HostsFile> {
        match self.versioned_queue_hosts(project, queue).await {
            Ok((_, file)) => file,
            Err(error) => {
                warn!(error = %error, queue = %queue, "reading the queue's hosts failed; checking with DNS only");
                Arc::default()
            }
        }
    }

    /// The hosts file of `queue`'s checks with its version (None: empty), shared with
    /// every check of the same version (see [`SharedHostsFiles::versioned`]).
    pub async fn versioned_queue_hosts(
        &self,
        project: &str,
        queue: &str,
    ) -> crate::store::Result<(Option<String>, Arc<HostsFile>)> {
        self.hosts_files
            .versioned(&self.store, project, queue)
            .await
    }

    /// The version of `queue`'s hosts file (None: empty), as an agent's claim names it.
    pub async fn queue_hosts_version(
        &self,
        project: &ProjectId,
        queue: &str,
    ) -> crate::store::Result<Option<String>> {
        self.store.queue_hosts_version(project, queue).await
    }

    /// Runs one check to its end. Err only when a request's check is refused by the
    /// budget; everything after the stages (the record included) is in [`Finished`].
    pub async fn run(&self, job: Job) -> Result<Finished, CheckRefusal> {
        let span = job.span();
        self.run_in_span(job).instrument(span).await
    }

    async fn run_in_span(&self, job: Job) -> Result<Finished, CheckRefusal> {
        let started = Instant::now();
        let findings = self.run_stages(&job).await?;
        if findings.ran(Stage::Probe) {
            metrics::record_check(job.purpose.label(), &findings.report, started.elapsed());
        }
        if findings.ran(Stage::Probe) || findings.ran(Stage::Policy) {
            metrics::record_check_place(Place::Server.kind());
        }
        if let (
            Target::Endpoints {
                endpoints: Err(error),
                ..
            },
            Purpose::Create { .. } | Purpose::Recheck { .. },
        ) = (&job.target, &job.purpose)
        {
            warn!(error = %error, "stored url no longer parses");
        }
        let normalized = match &job.target {
            Target::Endpoints {
                endpoints: Ok(endpoints),
                ..
            } => endpoints.normalized(),
            _ => String::new(),
        };
        let retry_for = match job.purpose.owner() {
            Some(_) => self.settings.lease_grace,
            None => Duration::ZERO,
        };
        let results = match &job.target {
            Target::Endpoints {
                service, session, ..
            } => stage_results(&findings, *service, asked(session.as_deref())),
            Target::Setup(_) => Vec::new(),
        };
        // A queue test keeps its stages, and a binding (whose connection may name an auth
        // info); the rest keep their reports for now.
        let stages = match &job.purpose {
            Purpose::QueueTest { .. } | Purpose::Bind { .. } | Purpose::RecheckBinding { .. } => {
                results.clone()
            }
            _ => Vec::new(),
        };
        let recorded = self
            .conclude(
                &job.purpose,
                findings.checked(),
                stages,
                &normalized,
                Place::Server,
                retry_for,
                started,
            )
            .await;
        Ok(Finished {
            report: findings.report,
            stages: findings.stages,
            results,
            recorded,
        })
    }

    /// The job's stages, through the checker, with the queue's hosts file for a probe
    /// and progress for a connection's own check.
    async fn run_stages(&self, job: &Job) -> Result<Findings, CheckRefusal> {
        let queue = job.purpose.queue();
        let probes = matches!(
            job.target,
            Target::Endpoints {
                endpoints: Ok(_),
                ..
            }
        );
        let hosts = match &queue {
            Some(queue) if probes => self.queue_hosts(&job.project, queue).await,
            _ => Arc::default(),
        };
        let hosts = with_own_hosts(&job.own_hosts, hosts);
        let store_progress;
        let progress: &dyn Progress = match &job.purpose {
            // Only a connection's own check reports progress.
            Purpose::Create { id, owner } => {
                store_progress = StoreProgress {
                    pipeline: self,
                    held: HeldCheck { id: *id, owner },
                };
                &store_progress
            }
            _ => &NoProgress,
        };
        let inputs = StageInputs {
            checker: self.checker.as_ref(),
            project: &job.project,
            queue,
            charging: job.purpose.charging(),
            hosts,
            progress,
        };
        run_stages(&job.target, &inputs).await
    }

    /// Writes `record`, retrying while the store is unavailable (e.g. a database
    /// restart) for up to `retry_for`, so a finished check need not run again. The read
    /// cache hears of it from the store's commit point. False if the claim was lost
    /// meanwhile.
    pub async fn record(&self, record: &Record, retry_for: Duration) -> crate::store::Result<bool> {
        if matches!(record, Record::Nothing) {
            return Ok(false);
        }
        retrying(retry_for, || record.write(&self.store, now_millis())).await
    }
}

/// Writes a claimed connection check's progress as its endpoints finish.
struct StoreProgress<'a> {
    pipeline: &'a CheckPipeline,
    held: HeldCheck<'a>,
}

#[async_trait]
impl Progress for StoreProgress<'_> {
    async fn report(&self, share: f64) {
        let recorded = self
            .pipeline
            .store
            .record_progress(self.held, share, now_millis())
            .await;
        if let Err(error) = recorded {
            warn!(connection.id = %self.held.id, error = %error, "recording progress failed");
        }
    }
}

/// Runs `write` until it succeeds, fails for a reason other than the database, or the
/// next attempt would start after `retry_for` from now.
async fn retrying<T, F, Fut>(retry_for: Duration, mut write: F) -> crate::store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::store::Result<T>>,
{
    let give_up = tokio::time::Instant::now() + retry_for;
    loop {
        match write().await {
            Err(StoreError::Database(error))
                if tokio::time::Instant::now() + WRITE_RETRY_BACKOFF < give_up =>
            {
                warn!(error = %error, "writing a check result failed; retrying");
                tokio::time::sleep(WRITE_RETRY_BACKOFF).await;
            }
            outcome => return outcome,
        }
    }
}

/// The worker's log line for a written result (requests answer instead).
fn log_recorded(record: &Record, recorded: &crate::store::Result<bool>, started: Instant) {
    match (record, recorded) {
        (Record::Check { result, .. }, Ok(true)) => info!(
            state = %result.state,
            duration_ms = started.elapsed().as_millis() as u64,
            "connection checked"
        ),
        (Record::Check { .. }, Ok(false)) => {
            info!("claim lost before the result was written; another worker owns it")
        }
        // The lease expires and the check runs again: results are idempotent.
        (Record::Check { .. }, Err(error)) => {
            warn!(error = %error, "recording a check result failed")
        }
        (Record::Binding { result, .. }, Ok(true)) => {
            info!(active = result.active, "queue binding checked")
        }
        (Record::Binding { .. }, Ok(false)) => {
            info!("binding claim lost or binding removed meanwhile")
        }
        (Record::Binding { .. }, Err(error)) => {
            warn!(error = %error, "recording a binding result failed")
        }
        (
            Record::Connectivity {
                owner: Some(_),
                connectivity,
                ..
            },
            Ok(true),
        ) => info!(connectivity = connectivity.label(), "connection re-checked"),
        (Record::Connectivity { owner: Some(_), .. }, Ok(false)) => {
            info!("re-check claim lost, or the connection changed meanwhile")
        }
        (Record::Connectivity { owner: Some(_), .. }, Err(error)) => {
            warn!(error = %error, "recording a re-check failed")
        }
        (Record::Setup { held, outcome }, Ok(true)) => {
            info!(peer.id = %held.key, name = %held.queue, active = outcome.active,
                   checked_from = %outcome.checked_from, "binding set up")
        }
        (Record::Setup { held, .. }, Ok(false)) => {
            info!(peer.id = %held.key, "a set-up's claim was lost; not recorded")
        }
        (Record::Setup { held, .. }, Err(error)) => {
            warn!(peer.id = %held.key, error = %error, "recording a set-up failed")
        }
        _ => {}
    }
}

/// `queue_hosts` with a test's own entries first (an entry of the same name wins).
pub fn with_own_hosts(own: &[(String, String)], queue_hosts: Arc<HostsFile>) -> Arc<HostsFile> {
    if own.is_empty() {
        return queue_hosts;
    }
    let queue_entries: Vec<(&str, String)> = queue_hosts
        .entries()
        .map(|(name, ip)| (name, ip.to_string()))
        .collect();
    let entries = own
        .iter()
        .map(|(name, ip)| (name.as_str(), ip.as_str()))
        .chain(queue_entries.iter().map(|(name, ip)| (*name, ip.as_str())));
    Arc::new(HostsFile::from_entries(entries))
}

/// What a target's session asks for.
fn asked(session: Option<&super::session::SessionTarget>) -> Asked {
    Asked {
        session: session.is_some(),
        privileges: session.is_some_and(|session| !session.check.privileges.is_empty()),
    }
}
