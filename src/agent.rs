//! `dsconn agent`: runs its queues' checks from the queue's own network. It needs no
//! database and no inbound port: it registers with the server, claims its queues' work
//! with a lease (a long poll), checks with the same prober as the server, and reports.
//! It rides out a server restart or a network blip (retries with back-off; work whose
//! lease lapses is claimed again), and on SIGTERM stops claiming, finishes or gives back
//! what it holds, and deregisters, so its queues fall back to the server at once.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use http::Method;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::agent_types::{
    AgentResultRequest, AgentResultResponse, AgentWorkItem, ClaimRequest, ClaimResponse,
    RegisterAgentRequest, RegisterAgentResponse,
};
use crate::cli::settings::ConnectionArgs;
use crate::client::{Client, ClientError};
use crate::config::{LogFormat, ProbeArgs};
use crate::domain::{EndpointList, now_millis};
use crate::probe::{CheckReport, HostsFile, OutboundPolicy, Prober};
use crate::signing;
use crate::store::SETUP_WORK;

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

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// A queue whose checks this agent runs (repeat for more; each must exist).
    #[arg(long = "queue", value_name = "QUEUE", required = true)]
    pub queues: Vec<String>,
    /// An elastic resource pool this agent serves (repeat for more).
    #[arg(long = "pool", value_name = "POOL")]
    pub pools: Vec<String>,
    /// The agent's name in the project [default: the host name]. A registration of the
    /// same name replaces the last one.
    #[arg(long, env = "DSCONN_AGENT_NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Log format: `auto` is `human` on a terminal and `json` otherwise (services).
    #[arg(long, env = "DSCONN_LOG_FORMAT", value_enum, default_value = "auto")]
    pub log_format: LogFormat,
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
    let shutdown = crate::cli::serve::cancelled_on_signal()?;
    args.probe.validate().map_err(anyhow::Error::msg)?;
    let settings = args.connection.resolve()?;
    let client = Client::new(&settings.endpoint, &settings.project, settings.auth)?;
    // An agent is a queue's node: its own host is as fair a destination as any other
    // there, so only the flags' ranges and the fixed deny list apply.
    let policy = OutboundPolicy::new(
        args.probe.allow_cidrs.clone(),
        args.probe.deny_cidrs.clone(),
    );
    let prober = args.probe.prober(policy).map_err(anyhow::Error::msg)?;
    let agent = Arc::new(Agent {
        client,
        lease: prober.worst_case() + LEASE_MARGIN,
        prober,
        slots: Arc::new(Semaphore::new(args.probe.max_open_sockets())),
        registration: RegisterAgentRequest {
            name: args.name.unwrap_or_else(host_name),
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
        "dsconn agent starting"
    );
    agent.run(shutdown).await;
    info!("dsconn agent stopped");
    Ok(())
}

struct Agent {
    client: Client,
    prober: Prober,
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
}

/// Whether the server says this registration is unknown.
fn not_registered(error: &ClientError) -> bool {
    matches!(error, ClientError::Api { code, message, .. }
        if code == "DLI.0002" && message.contains("is not registered"))
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

    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut in_flight = JoinSet::new();
        loop {
            let Some(registered) = self.register(&shutdown).await else {
                break;
            };
            let agent_id = registered.agent_id.clone();
            info!(agent.id = %agent_id, "registered");
            let session = CancellationToken::new();
            let heartbeat = tokio::spawn(Arc::clone(&self).heartbeat(
                agent_id.clone(),
                Duration::from_millis(registered.heartbeat_interval_ms.max(1_000)),
                session.clone(),
            ));
            let end = self
                .claim_loop(&agent_id, &shutdown, &session, &mut in_flight)
                .await;
            session.cancel();
            let _ = heartbeat.await;
            match end {
                SessionEnd::NotRegistered => {
                    warn!("the server no longer knows this agent; registering again");
                }
                SessionEnd::Stopping => {
                    self.stop(&agent_id, &mut in_flight).await;
                    break;
                }
            }
        }
    }

    /// Registers, retrying with back-off; None when stopping.
    async fn register(&self, shutdown: &CancellationToken) -> Option<RegisterAgentResponse> {
        let mut backoff = BACKOFF.0;
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
                Ok(answer) => return Some(answer.value),
                Err(error) => warn!(error = %error, retry_in = ?backoff, "registering failed"),
            }
            if !sleep_or_stop(backoff, shutdown).await {
                return None;
            }
            backoff = (backoff * 2).min(BACKOFF.1);
        }
    }

    async fn heartbeat(
        self: Arc<Self>,
        agent_id: String,
        interval: Duration,
        session: CancellationToken,
    ) {
        while sleep_or_stop(interval, &session).await {
            let path = self.agent_path(&agent_id, "heartbeat");
            let answer = self
                .client
                .request::<AgentResultResponse, ()>(Method::POST, &path, None)
                .await;
            if let Err(error) = answer {
                warn!(error = %error, "heartbeat failed");
            }
        }
    }

    /// Claims and starts work until stopping or the registration is gone.
    async fn claim_loop(
        self: &Arc<Self>,
        agent_id: &str,
        shutdown: &CancellationToken,
        session: &CancellationToken,
        in_flight: &mut JoinSet<()>,
    ) -> SessionEnd {
        let mut backoff = BACKOFF.0;
        loop {
            while in_flight.try_join_next().is_some() {}
            // Claim only what can start now, so no lease ticks away while queued here.
            let free = tokio::select! {
                _ = shutdown.cancelled() => return SessionEnd::Stopping,
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
            };
            let path = self.agent_path(agent_id, "claim");
            let claimed = tokio::select! {
                _ = shutdown.cancelled() => return SessionEnd::Stopping,
                answer = self.client.request::<ClaimResponse, _>(Method::POST, &path, Some(&request)) => answer,
            };
            match claimed {
                Ok(answer) => {
                    backoff = BACKOFF.0;
                    let hosts_files: std::collections::HashMap<String, Arc<HostsFile>> = answer
                        .value
                        .hosts_files
                        .iter()
                        .map(|(queue, entries)| {
                            let file = HostsFile::from_entries(
                                entries
                                    .iter()
                                    .map(|host| (host.name.as_str(), host.ip.as_str())),
                            );
                            (queue.clone(), Arc::new(file))
                        })
                        .collect();
                    for work in answer.value.work {
                        let hosts = hosts_files.get(&work.queue).cloned().unwrap_or_default();
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
                Err(error) if not_registered(&error) => return SessionEnd::NotRegistered,
                Err(error) => {
                    warn!(error = %error, retry_in = ?backoff, "claiming work failed");
                    if !sleep_or_stop(backoff, shutdown).await {
                        return SessionEnd::Stopping;
                    }
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        }
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
        let (report, setup_error) = if work.kind == SETUP_WORK {
            (CheckReport::default(), self.set_up(&work).err())
        } else {
            (self.check(&work, hosts).await, None)
        };
        let result = AgentResultRequest {
            work_id: work.work_id.clone(),
            queue: work.queue.clone(),
            report,
            setup_error,
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

    /// Takes an enhanced connection's hosts and routes for a queue (or pool) of this
    /// network: they must be within this agent's own check policy, as the queue's checks
    /// will use them.
    fn set_up(&self, work: &AgentWorkItem) -> Result<(), String> {
        let hosts = work
            .hosts
            .iter()
            .map(|host| (host.name.as_str(), host.ip.as_str()));
        crate::check::setup_verdict(self.prober.policy(), hosts, &work.routes)
    }

    /// The check itself, with the server's prober code, resolving the queue's hosts
    /// file before DNS.
    async fn check(&self, work: &AgentWorkItem, hosts: Arc<HostsFile>) -> CheckReport {
        let endpoints = match work.service {
            Some(service) => EndpointList::parse(&work.url, service),
            None => EndpointList::parse_address(&work.url),
        };
        match endpoints {
            Ok(endpoints) => {
                self.prober
                    .with_hosts(hosts)
                    .check_endpoints(work.service, &endpoints, |_| async {})
                    .await
            }
            Err(error) => {
                warn!(work.id = %work.work_id, error = %error, "the work's url does not parse");
                CheckReport::default()
            }
        }
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

/// Sleeps, unless `stop` is cancelled first: false then.
async fn sleep_or_stop(duration: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(duration) => true,
    }
}
