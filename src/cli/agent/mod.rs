//! `dsconn agent`: runs its queues' checks from the queue's own network. It needs no
//! database and no inbound port: it registers with the server, claims its queues' work
//! with a lease (a long poll), checks with the same prober as the server, and reports.
//! It rides out a server restart or a network blip (retries with back-off; work whose
//! lease lapses is claimed again), and on SIGTERM stops claiming, finishes or gives back
//! what it holds, and deregisters, so its queues fall back to the server at once.
//!
//! What waiting cannot mend ends it instead, with one line and exit code 1: an unknown
//! queue or project, a refused credential, a server without the agent API (see
//! [`Verdict`]). Only an unreachable server, 5xx and 429 are retried, and a name held
//! by another online agent for a while (it may be this agent's own crashed run).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use http::Method;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

mod logins;

use self::logins::LocalLogins;
use super::exit::{self, CliError};
use super::settings::ConnectionArgs;
use crate::api::agents::types::{
    AgentResultRequest, AgentResultResponse, AgentWorkItem, ClaimRequest, ClaimResponse,
    HostsFileResponse, RegisterAgentRequest, RegisterAgentResponse,
};
use crate::check::{
    Asked, Charging, Checker as _, Findings, InProcess, NoProgress, SetupTarget, StageInputs,
    Target, run_stages, stage_results,
};
use crate::client::{Client, ClientError};
use crate::config::{LogFormat, ProbeArgs};
use crate::domain::{QueueWorkKind, now_millis};
use crate::probe::{HostsFile, OutboundPolicy};
use crate::rate_limit::CheckBudget;
use crate::signing;

/// How long a claim waits on the server for work.
const CLAIM_WAIT: Duration = Duration::from_secs(20);
/// Most pieces of work one claim takes.
const CLAIM_BATCH: u32 = 16;
/// Back-off between failed calls: doubles from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(15));
/// How long a stopping agent lets its checks in flight finish before giving them back.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// What a claim adds to the prober's slowest check for the lease it asks for: the
/// result's way back to the server, with retries.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// How long a registration refused because another online agent holds the name is
/// retried: long enough for a crashed run of this agent (with other queues) to go
/// offline at the default `--agent-timeout` of 30 s; then it is a second agent.
const NAME_IN_USE_PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// A queue whose checks this agent runs (repeat for more; each must exist).
    #[arg(long = "queue", value_name = "QUEUE", required = true)]
    pub queues: Vec<String>,
    /// An elastic resource pool this agent serves (repeat for more).
    #[arg(long = "pool", value_name = "POOL")]
    pub pools: Vec<String>,
    /// The agent's name in the project [default: the host name, '-' and 8 hex digits
    /// naming its queues and pools, e.g. db-host-3f2a9c1e: stable across restarts, and
    /// distinct for agents of other queues on one host]. A registration of the same name
    /// replaces the last one when that is offline or serves the same queues and pools;
    /// an online one serving others keeps the name.
    #[arg(long, env = "DSCONN_AGENT_NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Log format: `auto` is `human` on a terminal and `json` otherwise (services).
    #[arg(long, env = "DSCONN_LOG_FORMAT", value_enum, default_value = "auto")]
    pub log_format: LogFormat,
    /// An auth info this agent holds itself, `NAME=FILE` (a JSON file with `user_name`
    /// and `password`; repeatable): credentialed checks naming it log in with this copy,
    /// which never leaves the agent's network, instead of the server's.
    #[arg(long = "auth-info", value_name = "NAME=FILE")]
    pub auth_infos: Vec<String>,
}

/// The default agent name: the host name and a digest of what the agent serves, so
/// that two agents on one host (e.g. one in a network namespace) for other queues do
/// not share a name, and a restart of one keeps its name.
fn default_name(queues: &[String], pools: &[String]) -> String {
    use sha2::Digest as _;
    let mut served: Vec<String> = queues
        .iter()
        .map(|queue| format!("queue:{queue}"))
        .chain(pools.iter().map(|pool| format!("pool:{pool}")))
        .collect();
    served.sort();
    served.dedup();
    let digest = sha2::Sha256::digest(served.join("\n").as_bytes());
    let suffix = hex::encode(&digest[..4]);
    let host: String = host_name().chars().take(64 - 1 - suffix.len()).collect();
    format!("{host}-{suffix}")
}

/// This machine's host name, as an agent name (`.`, `_`, `-`, letters and digits).
fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "dsconn-agent".to_owned()
    } else {
        name
    }
}

/// Runs the agent until SIGINT or SIGTERM.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let shutdown = super::serve::cancelled_on_signal()?;
    args.probe.validate().map_err(CliError::usage)?;
    let settings = args.connection.resolve()?;
    let client = Client::new(
        &settings.endpoint,
        &settings.project,
        settings.auth,
        settings.ca_cert.as_deref(),
    )
    .map_err(|error| CliError::usage(error.to_string()))?;
    // An agent is a queue's node: its own host is as fair a destination as any other
    // there, so only the flags' ranges and the fixed deny list apply.
    let policy = OutboundPolicy::new(
        args.probe.allow_cidrs.clone(),
        args.probe.deny_cidrs.clone(),
    );
    let prober = args.probe.prober(policy).map_err(CliError::usage)?;
    let logins = LocalLogins::load(&args.auth_infos).map_err(CliError::usage)?;
    let credentials = reqwest::Url::parse(client.endpoint())
        .map_err(|error| error.to_string())
        .and_then(|url| crate::client::secrets_may_travel(&url));
    if let Err(why) = &credentials {
        // Not a fault: checks without credentials are unaffected.
        info!("{why}");
    }
    let checker = InProcess {
        prober,
        // Never charged: the agent's checks are [`Charging::Free`] here, and the
        // server drains the project's budget when their results come.
        budget: Arc::new(CheckBudget::per_minute(1)),
    };
    let agent = Arc::new(Agent {
        client,
        // Any piece may be a credentialed test.
        lease: checker.worst_case() + checker.session_worst_case() + LEASE_MARGIN,
        checker,
        logins,
        takes_credentials: credentials.is_ok(),
        slots: Arc::new(Semaphore::new(args.probe.max_open_sockets())),
        registration: RegisterAgentRequest {
            name: args
                .name
                .unwrap_or_else(|| default_name(&args.queues, &args.pools)),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            queues: args.queues,
            elastic_resource_pools: args.pools,
        },
    });
    info!(
        endpoint = %agent.client.endpoint(),
        project = %agent.client.project(),
        name = %agent.registration.name,
        queues = ?agent.registration.queues,
        auth_infos = ?agent.logins.names().collect::<Vec<_>>(),
        "dsconn agent starting"
    );
    let outcome = agent.run(shutdown).await;
    match &outcome {
        Ok(()) => info!("dsconn agent stopped"),
        Err(error) => error!(error = %error, "dsconn agent gave up"),
    }
    outcome.map_err(|refused| CliError::new(exit::SERVER_REFUSED, refused).into())
}

struct Agent {
    client: Client,
    /// Runs the stages of its work with the agent's own prober and policy.
    checker: InProcess,
    /// The auth infos it holds itself.
    logins: LocalLogins,
    /// Whether it asks the server for credentials (TLS or a loopback server).
    takes_credentials: bool,
    /// One per check in flight, so a claim takes only what can start now.
    slots: Arc<Semaphore>,
    /// The lease each claimed piece of work asks for.
    lease: Duration,
    registration: RegisterAgentRequest,
}

/// Why a session with the server ended.
enum SessionEnd {
    Stopping,
    /// The server no longer knows this registration (e.g. replaced, or its store reset).
    NotRegistered,
    /// The server refused for good: the one line to exit with.
    Refused(String),
}

/// What an error of a call to the server means for the agent.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It may heal by waiting: the server unreachable, a 5xx, a 429, a name held by
    /// another online agent, the project's agent cap reached.
    Retry,
    /// The server no longer knows this registration: register again.
    NotRegistered,
    /// Waiting cannot mend it; the line to exit with.
    Refused(String),
}

impl Verdict {
    fn of(error: &ClientError, endpoint: &str) -> Self {
        match error {
            ClientError::Unreachable { .. } => Verdict::Retry,
            ClientError::Api {
                status,
                code,
                message,
                ..
            } => match (*status, code.as_str()) {
                (429 | 500.., _) => Verdict::Retry,
                (_, "DLI.0002") if message.contains("is not registered") => Verdict::NotRegistered,
                // Another online agent has the name (maybe this agent's own crashed
                // run), or the project has its maximum of agents: both can pass.
                (400, "DLI.0006" | "DLI.0007") => Verdict::Retry,
                (401, _) => Verdict::Refused(format!(
                    "the server refused the credential ({error}); check --token or the \
                     access and secret keys"
                )),
                (403, _) => Verdict::Refused(format!(
                    "the credential may not use this project ({error}); check --project"
                )),
                (404, _) => Verdict::Refused(unsupported(endpoint, &error.to_string())),
                _ => Verdict::Refused(format!("the server refused this agent: {error}")),
            },
            ClientError::Protocol { status, .. } if *status == 429 || *status >= 500 => {
                Verdict::Retry
            }
            ClientError::Protocol { .. } => {
                Verdict::Refused(unsupported(endpoint, &error.to_string()))
            }
            ClientError::Settings(_) => Verdict::Refused(error.to_string()),
        }
    }
}

fn unsupported(endpoint: &str, error: &str) -> String {
    format!(
        "{endpoint} does not serve the agent API of dsconn {} ({error}): it is not dsconn, \
         or a version without agents; check --endpoint",
        env!("CARGO_PKG_VERSION")
    )
}

/// Whether an error says another online agent holds this agent's name.
fn name_in_use(error: &ClientError) -> bool {
    matches!(error, ClientError::Api { status: 400, code, .. } if code == "DLI.0006")
}

impl Agent {
    fn agents_path(&self) -> String {
        format!(
            "dsconn/v1/{}/agents",
            signing::encode(self.client.project())
        )
    }

    fn agent_path(&self, agent_id: &str, action: &str) -> String {
        let base = format!("{}/{}", self.agents_path(), signing::encode(agent_id));
        if action.is_empty() {
            base
        } else {
            format!("{base}/{action}")
        }
    }

    /// Serves until stopping (Ok) or refused for good (Err: the one line saying why).
    async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), String> {
        let mut in_flight = JoinSet::new();
        loop {
            let registered = match self.register(&shutdown).await {
                Ok(Some(registered)) => registered,
                Ok(None) => return Ok(()),
                Err(refused) => return Err(refused),
            };
            let agent_id = registered.agent_id.clone();
            info!(agent.id = %agent_id, "registered");
            let session = CancellationToken::new();
            // Cancelled by the heartbeat when the server says the session is over.
            let lost = CancellationToken::new();
            let heartbeat = tokio::spawn(Arc::clone(&self).heartbeat(
                agent_id.clone(),
                Duration::from_millis(registered.heartbeat_interval_ms.max(1_000)),
                session.clone(),
                lost.clone(),
            ));
            let mut end = self
                .claim_loop(&agent_id, &shutdown, &session, &lost, &mut in_flight)
                .await;
            session.cancel();
            if let Ok(Some(heard)) = heartbeat.await
                && lost.is_cancelled()
            {
                end = heard;
            }
            match end {
                SessionEnd::NotRegistered => {
                    warn!("the server no longer knows this agent; registering again");
                }
                SessionEnd::Stopping => {
                    self.stop(&agent_id, &mut in_flight).await;
                    return Ok(());
                }
                SessionEnd::Refused(refused) => {
                    in_flight.abort_all();
                    return Err(refused);
                }
            }
        }
    }

    /// Registers, retrying what may heal with back-off: None when stopping, Err when
    /// the server refuses for good.
    async fn register(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<RegisterAgentResponse>, String> {
        let mut backoff = BACKOFF.0;
        let mut name_refused_since = None;
        loop {
            let answer = self
                .client
                .request::<RegisterAgentResponse, _>(
                    Method::POST,
                    &self.agents_path(),
                    Some(&self.registration),
                )
                .await;
            match answer {
                Ok(answer) => return Ok(Some(answer.value)),
                Err(error) => match Verdict::of(&error, self.client.endpoint()) {
                    Verdict::Refused(refused) => return Err(refused),
                    _ if name_in_use(&error) => {
                        let since = *name_refused_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= NAME_IN_USE_PATIENCE {
                            return Err(format!(
                                "the name stayed in use for {}: {error}",
                                humantime::format_duration(NAME_IN_USE_PATIENCE)
                            ));
                        }
                        warn!(error = %error, retry_in = ?backoff, "registering failed");
                    }
                    _ => warn!(error = %error, retry_in = ?backoff, "registering failed"),
                },
            }
            if !sleep_or_stop(backoff, shutdown).await {
                return Ok(None);
            }
            backoff = (backoff * 2).min(BACKOFF.1);
        }
    }

    /// Sends heartbeats until the session ends; when the server says it is over (the
    /// registration is gone, or refused for good), cancels `lost` and says why.
    async fn heartbeat(
        self: Arc<Self>,
        agent_id: String,
        interval: Duration,
        session: CancellationToken,
        lost: CancellationToken,
    ) -> Option<SessionEnd> {
        while sleep_or_stop(interval, &session).await {
            let path = self.agent_path(&agent_id, "heartbeat");
            let answer = self
                .client
                .request::<AgentResultResponse, ()>(Method::POST, &path, None)
                .await;
            if let Err(error) = answer {
                let end = match Verdict::of(&error, self.client.endpoint()) {
                    Verdict::Retry => {
                        warn!(error = %error, "heartbeat failed");
                        continue;
                    }
                    Verdict::NotRegistered => SessionEnd::NotRegistered,
                    Verdict::Refused(refused) => SessionEnd::Refused(refused),
                };
                lost.cancel();
                return Some(end);
            }
        }
        None
    }

    /// Claims and starts work until stopping or the registration is gone.
    async fn claim_loop(
        self: &Arc<Self>,
        agent_id: &str,
        shutdown: &CancellationToken,
        session: &CancellationToken,
        lost: &CancellationToken,
        in_flight: &mut JoinSet<()>,
    ) -> SessionEnd {
        let mut backoff = BACKOFF.0;
        let mut hosts_files = HostsFiles::default();
        loop {
            while in_flight.try_join_next().is_some() {}
            // Claim only what can start now, so no lease ticks away while queued here.
            let free = tokio::select! {
                _ = shutdown.cancelled() => return SessionEnd::Stopping,
                // The heartbeat's reason replaces this one.
                _ = lost.cancelled() => return SessionEnd::NotRegistered,
                permit = Arc::clone(&self.slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return SessionEnd::Stopping,
                },
            };
            let room = u32::try_from(self.slots.available_permits() + 1)
                .unwrap_or(CLAIM_BATCH)
                .min(CLAIM_BATCH);
            drop(free);
            let request = ClaimRequest {
                max: Some(room),
                wait_ms: Some(u64::try_from(CLAIM_WAIT.as_millis()).unwrap_or(20_000)),
                lease_ms: Some(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX)),
                setups: true,
                hosts_by_version: true,
                credentials: self.takes_credentials,
                held_auth_infos: self.logins.names().map(str::to_owned).collect(),
            };
            let path = self.agent_path(agent_id, "claim");
            let claimed = tokio::select! {
                _ = shutdown.cancelled() => return SessionEnd::Stopping,
                _ = lost.cancelled() => return SessionEnd::NotRegistered,
                answer = self.client.request::<ClaimResponse, _>(Method::POST, &path, Some(&request)) => answer,
            };
            match claimed {
                Ok(answer) => {
                    backoff = BACKOFF.0;
                    let answer = answer.value;
                    let unavailable = self
                        .hosts_files_for(agent_id, &answer, &mut hosts_files)
                        .await;
                    for work in answer.work {
                        let hosts = if work.kind == QueueWorkKind::Setup {
                            Arc::default()
                        } else if unavailable.contains(&work.queue) {
                            // Checked without its hosts it could fail wrongly: its lease
                            // lapses and it is claimed again.
                            continue;
                        } else {
                            hosts_files.of(&work.queue)
                        };
                        let Ok(permit) = Arc::clone(&self.slots).acquire_owned().await else {
                            return SessionEnd::Stopping;
                        };
                        let agent = Arc::clone(self);
                        let agent_id = agent_id.to_owned();
                        let session = session.clone();
                        in_flight.spawn(async move {
                            agent.perform(&agent_id, work, hosts, &session).await;
                            drop(permit);
                        });
                    }
                }
                Err(error) => match Verdict::of(&error, self.client.endpoint()) {
                    Verdict::NotRegistered => return SessionEnd::NotRegistered,
                    Verdict::Refused(refused) => return SessionEnd::Refused(refused),
                    Verdict::Retry => {
                        warn!(error = %error, retry_in = ?backoff, "claiming work failed");
                        if !sleep_or_stop(backoff, shutdown).await {
                            return SessionEnd::Stopping;
                        }
                        backoff = (backoff * 2).min(BACKOFF.1);
                    }
                },
            }
        }
    }

    /// Brings `files` up to the claim's hosts versions: a version held already (for any
    /// queue) is used as it is, another is fetched once. The queues whose file could not
    /// be fetched (logged).
    async fn hosts_files_for(
        &self,
        agent_id: &str,
        answer: &ClaimResponse,
        files: &mut HostsFiles,
    ) -> std::collections::HashSet<String> {
        let mut unavailable = std::collections::HashSet::new();
        let claimed: std::collections::BTreeSet<&str> = answer
            .work
            .iter()
            .filter(|work| work.kind != QueueWorkKind::Setup)
            .map(|work| work.queue.as_str())
            .collect();
        for queue in claimed {
            let Some(version) = answer.hosts_versions.get(queue) else {
                files.by_queue.remove(queue);
                continue;
            };
            if files.by_version.contains_key(version) {
                files.by_queue.insert(queue.to_owned(), version.clone());
                continue;
            }
            let path =
                self.agent_path(agent_id, &format!("hosts-files/{}", signing::encode(queue)));
            let fetched = self
                .client
                .request::<HostsFileResponse, ()>(Method::GET, &path, None)
                .await;
            match fetched {
                Ok(fetched) => {
                    let fetched = fetched.value;
                    let file = HostsFile::from_entries(
                        fetched
                            .hosts
                            .iter()
                            .map(|host| (host.name.as_str(), host.ip.as_str())),
                    );
                    info!(queue = %queue, version = %fetched.version, entries = file.len(),
                          "hosts file fetched");
                    files
                        .by_queue
                        .insert(queue.to_owned(), fetched.version.clone());
                    files.by_version.insert(fetched.version, Arc::new(file));
                }
                Err(error) => {
                    warn!(queue = %queue, error = %error, "fetching a queue's hosts file failed");
                    unavailable.insert(queue.to_owned());
                }
            }
        }
        files.forget_unused();
        unavailable
    }

    /// Checks one piece of work and reports it, retrying the report while its lease
    /// lasts.
    async fn perform(
        &self,
        agent_id: &str,
        work: AgentWorkItem,
        hosts: Arc<HostsFile>,
        session: &CancellationToken,
    ) {
        let started = tokio::time::Instant::now();
        let findings = self.run_stages(&work, hosts).await;
        let asked = Asked {
            session: work.session.is_some(),
            privileges: work
                .session
                .as_ref()
                .is_some_and(|session| !session.privileges.is_empty()),
        };
        // A test reports its stages, and a binding's check whose connection names an
        // auth info.
        let stages = match work.kind {
            QueueWorkKind::Test => stage_results(&findings, work.service, asked),
            QueueWorkKind::Bind | QueueWorkKind::RecheckBinding if asked.session => {
                stage_results(&findings, work.service, asked)
            }
            _ => Vec::new(),
        };
        let Findings {
            report, stopped, ..
        } = findings;
        let setup_error = match (work.kind, stopped) {
            (_, None) => None,
            (QueueWorkKind::Setup, refused) => refused,
            (_, Some(error)) => {
                warn!(work.id = %work.work_id, error = %error, "the work's url does not parse");
                None
            }
        };
        let result = AgentResultRequest {
            work_id: work.work_id.clone(),
            kind: Some(work.kind),
            queue: work.queue.clone(),
            report,
            setup_error,
            stages,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let path = self.agent_path(agent_id, "results");
        let mut backoff = BACKOFF.0;
        loop {
            let answer = self
                .client
                .request::<AgentResultResponse, _>(Method::POST, &path, Some(&result))
                .await;
            match answer {
                Ok(_) => {
                    info!(work.id = %work.work_id, queue = %work.queue,
                          reachable = result.report.any_reachable(), "checked");
                    return;
                }
                // Refused for good (lease lost, registration replaced): drop it.
                Err(error @ ClientError::Api { .. }) => {
                    warn!(work.id = %work.work_id, error = %error, "the server refused a result");
                    return;
                }
                Err(error) => {
                    let lease_left = work.lease_until.saturating_sub(now_millis());
                    if lease_left <= 0 || session.is_cancelled() && lease_left < 1_000 {
                        warn!(work.id = %work.work_id, error = %error,
                              "giving up a result: its lease is over and the work will be claimed again");
                        return;
                    }
                    warn!(work.id = %work.work_id, error = %error, retry_in = ?backoff,
                          "sending a result failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        }
    }

    /// Runs the work's stages as the server would: a check's probe with the server's
    /// prober code, resolving the queue's hosts file before DNS; a set-up's policy
    /// verdict on the connection's hosts and routes, by this agent's own check policy,
    /// as the queue's checks will use them.
    async fn run_stages(&self, work: &AgentWorkItem, hosts: Arc<HostsFile>) -> Findings {
        let target = match work.kind {
            QueueWorkKind::Setup => Target::Setup(SetupTarget {
                hosts: Arc::new(
                    work.hosts
                        .iter()
                        .map(|host| (host.name.clone(), host.ip.clone()))
                        .collect(),
                ),
                routes: Arc::new(work.routes.clone()),
            }),
            _ => Target::endpoints(work.service, &work.url).with_session(
                self.logins
                    .session_target(work.session.as_ref(), self.takes_credentials),
            ),
        };
        // A test's own host entries come before the queue's file (a set-up's are its
        // connection's, judged above).
        let hosts = match work.kind {
            QueueWorkKind::Test => {
                let own: Vec<(String, String)> = work
                    .hosts
                    .iter()
                    .map(|host| (host.name.clone(), host.ip.clone()))
                    .collect();
                crate::check::with_own_hosts(&own, hosts)
            }
            _ => hosts,
        };
        let inputs = StageInputs {
            checker: &self.checker,
            project: self.client.project(),
            queue: Some(work.queue.clone()),
            charging: Charging::Free,
            hosts,
            progress: &NoProgress,
        };
        // Charging nothing, no stage is refused by a budget.
        run_stages(&target, &inputs).await.unwrap_or_default()
    }

    /// Lets checks in flight finish for a while, then deregisters: the server gives
    /// back whatever this agent still holds.
    async fn stop(&self, agent_id: &str, in_flight: &mut JoinSet<()>) {
        let finished = tokio::time::timeout(STOP_GRACE, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            warn!(
                left = in_flight.len(),
                "checks still running at the stop; their work is given back"
            );
            in_flight.abort_all();
        }
        let path = self.agent_path(agent_id, "");
        match self
            .client
            .request::<AgentResultResponse, ()>(Method::DELETE, &path, None)
            .await
        {
            Ok(_) => info!("deregistered"),
            Err(error) => {
                warn!(error = %error, "deregistering failed; the agent goes offline by its timeout")
            }
        }
    }
}

/// The hosts files an agent holds: one per version, shared by every queue whose claim
/// named that version, kept while a queue uses it.
#[derive(Default)]
struct HostsFiles {
    by_queue: std::collections::HashMap<String, String>,
    by_version: std::collections::HashMap<String, Arc<HostsFile>>,
}

impl HostsFiles {
    /// The file of `queue` (empty when its last claim named none).
    fn of(&self, queue: &str) -> Arc<HostsFile> {
        self.by_queue
            .get(queue)
            .and_then(|version| self.by_version.get(version))
            .cloned()
            .unwrap_or_default()
    }

    fn forget_unused(&mut self) {
        let used: std::collections::HashSet<&String> = self.by_queue.values().collect();
        self.by_version.retain(|version, _| used.contains(version));
    }
}

/// Sleeps, unless `stop` is cancelled first: false then.
async fn sleep_or_stop(duration: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(duration) => true,
    }
}
