//! The agent API (extension): agents in queues' own networks register, claim their
//! queues' checks with a lease (a long poll, so new work starts within about a second),
//! run them, and report. A credential reaches only agents and work of its own projects;
//! a result is accepted only from the agent holding the work's lease and only for the
//! work's own queue, and can change nothing but that binding's or test's outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

mod answer_bytes;
pub mod heard;
mod sessions;
pub mod waiting;

use answer_bytes::{
    CLAIM_CHECKS_BYTES, CLAIM_SETUP_HOSTS_BYTES, MAX_CLAIM_ANSWER_BYTES, MAX_CLAIM_BATCH,
    setup_bytes, split_off_beyond,
};
pub mod presence;
pub mod types;

use self::types::{
    AgentItem, AgentResultRequest, AgentResultResponse, AgentSession, AgentWorkItem, ClaimRequest,
    ClaimResponse, HostEntry, HostsFileResponse, ListAgentsResponse, QueueAgent,
    RegisterAgentRequest, RegisterAgentResponse,
};
use super::auth::Principal;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::extract::params::ProjectPath;
use super::extract::{ClientAddress, DliPath, JsonBody, Transported};
use super::state::AppState;
use crate::check::{Charging, Place, Purpose};
use crate::domain::{ProjectId, QueueName, QueueWorkKind, fair_split, now_millis};
use crate::probe::CheckReport;
use crate::store::{
    Actor, AgentClaim, AgentKey, AgentRecord, NewAgent, QueueWork, RegisterOutcome, SetupWork,
    agent_owner,
};
use crate::telemetry::metrics;

/// Most registrations one project may have.
pub const MAX_AGENTS_PER_PROJECT: u32 = 100;
/// Longest a claim waits for work; below any sane `--request-timeout`.
const MAX_CLAIM_WAIT: Duration = Duration::from_secs(20);
const DEFAULT_CLAIM_BATCH: u32 = 8;
/// How often the server looks for agents that went offline.
pub(super) const OFFLINE_WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// The lease an agent may ask for on each piece of work.
const LEASE_RANGE: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(30 * 60));

/// `/dsconn/v1/{project_id}/agents/{agent_id}`
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AgentPath {
    /// The id its registration answered.
    pub agent_id: String,
}

fn valid_agent_name(name: &str) -> ApiResult<()> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidRequest(format!(
            "name must be 1 to 64 letters, digits, '.', '_' and '-', got {}",
            super::error::bounded(name)
        )))
    }
}

fn valid_version(version: &str) -> ApiResult<()> {
    let valid = (1..=64).contains(&version.len()) && version.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidRequest(
            "version must be 1 to 64 visible ASCII characters".into(),
        ))
    }
}

fn agent_item(agent: AgentRecord) -> AgentItem {
    AgentItem {
        agent: QueueAgent {
            name: agent.name,
            version: agent.version,
            address: agent.address,
            last_seen: agent.last_seen,
        },
        queues: agent.queues,
        elastic_resource_pools: agent.pools,
        registered_at: agent.registered_at,
    }
}

/// The agents of `agents` that serve `queue`, as a queue shows them.
pub fn agents_of(agents: &[AgentRecord], queue: &str) -> Vec<QueueAgent> {
    agents
        .iter()
        .filter(|agent| agent.queues.iter().any(|name| name == queue))
        .map(|agent| QueueAgent {
            name: agent.name.clone(),
            version: agent.version.clone(),
            address: agent.address.clone(),
            last_seen: agent.last_seen,
        })
        .collect()
}

/// `POST /dsconn/v1/{project_id}/agents`
#[utoipa::path(
    post,
    path = "/dsconn/v1/{project_id}/agents",
    operation_id = "RegisterAgent",
    tag = "agents",
    summary = "Register an agent that runs its queues' checks from their own network",
    params(ProjectPath),
    request_body(content = RegisterAgentRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered; the same name's earlier registration is replaced when it is offline or serves the same queues and pools (a restart); an online one serving others is kept and this one refused with 400 DLI.0006", body = RegisterAgentResponse),
        ErrorResponses,
    ),
)]
pub async fn register(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    DliPath(project): DliPath<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<RegisterAgentResponse>)> {
    let project = principal.authorize(&project)?;
    let body: RegisterAgentRequest = body.parse()?;
    valid_agent_name(&body.name)?;
    valid_version(&body.version)?;
    // Validated as bindings' queue names are: at most 100, never `default`, each once.
    let queues = super::queue_lookup::parse_queues(Some(&body.queues))?;
    if queues.is_empty() {
        return Err(ApiError::InvalidRequest(
            "queues must list at least one queue name".into(),
        ));
    }
    let pools = super::queue_lookup::parse_queues(Some(&body.elastic_resource_pools))?;
    super::queue_lookup::require_existing(&state, &project, &queues).await?;
    let names = |list: Vec<QueueName>| list.iter().map(|q| q.as_str().to_owned()).collect();
    let now = now_millis();
    let agent = NewAgent {
        agent_id: uuid::Uuid::new_v4().to_string(),
        project_id: project.clone(),
        name: body.name,
        version: body.version,
        address: address.to_string(),
        queues: names(queues),
        pools: names(pools),
        now,
        online_since: state.checks.pipeline.online_since(now),
    };
    match state
        .store
        .register_agent(&agent, MAX_AGENTS_PER_PROJECT)
        .await?
    {
        // Earlier registrations of its name are gone from the store.
        RegisterOutcome::Registered => state.presence.forget_name(project.as_str(), &agent.name),
        RegisterOutcome::TooManyAgents(max) => {
            return Err(ApiError::StateConflict(format!(
                "the project already has the maximum of {max} agents; stop some first"
            )));
        }
        RegisterOutcome::NameInUse { last_seen } => {
            let silent = Duration::from_millis(u64::try_from(now - last_seen).unwrap_or(0));
            return Err(ApiError::NameTaken(format!(
                "agent name {} is in use by another online agent, which serves other queues or \
                 pools (heard from {} ago); give this agent its own --name, or wait until that \
                 one has not been heard from for {} (--agent-timeout)",
                agent.name,
                humantime::format_duration(Duration::from_secs(silent.as_secs())),
                humantime::format_duration(state.checks.pipeline.agent_timeout()),
            )));
        }
    }
    // Work of its queues that the server's worker would otherwise take now waits for it.
    state.claims.wake_project(project.as_str());
    tracing::info!(agent.name = %agent.name, agent.id = %agent.agent_id, queues = ?agent.queues,
                   "agent registered");
    let timeout = state.checks.pipeline.agent_timeout();
    Ok((
        StatusCode::CREATED,
        Json(RegisterAgentResponse {
            is_success: true,
            message: format!(
                "registered agent {} for {} queue(s)",
                agent.name,
                agent.queues.len()
            ),
            agent_id: agent.agent_id,
            heartbeat_interval_ms: millis(heartbeat_interval(timeout, &state.settings)),
            agent_timeout_ms: millis(timeout),
        }),
    ))
}

/// Three heartbeats per `--agent-timeout`, and sooner than the server closes an idle
/// keep-alive connection: a heartbeat that finds its connection closed pays a new one
/// (and, over TLS, a handshake), which for a thousand agents was most of their cost.
fn heartbeat_interval(agent_timeout: Duration, settings: &super::state::ApiSettings) -> Duration {
    (agent_timeout / 3).min(settings.keep_alive_idle * 4 / 5)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `GET /dsconn/v1/{project_id}/agents`
#[utoipa::path(
    get,
    path = "/dsconn/v1/{project_id}/agents",
    operation_id = "ListAgents",
    tag = "agents",
    summary = "The project's online agents",
    params(ProjectPath),
    responses((status = 200, body = ListAgentsResponse), ErrorResponses),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(project): DliPath<String>,
) -> ApiResult<Json<ListAgentsResponse>> {
    let project = principal.authorize(&project)?;
    let agents: Vec<AgentItem> = super::queue_lookup::online_agents(&state, &project)
        .await?
        .into_iter()
        .map(agent_item)
        .collect();
    Ok(Json(ListAgentsResponse {
        is_success: true,
        message: String::new(),
        agents,
    }))
}

/// `POST /dsconn/v1/{project_id}/agents/{agent_id}/heartbeat`
#[utoipa::path(
    post,
    path = "/dsconn/v1/{project_id}/agents/{agent_id}/heartbeat",
    operation_id = "AgentHeartbeat",
    tag = "agents",
    summary = "Tell the server the agent is alive (a claim does too)",
    params(ProjectPath, AgentPath),
    responses((status = 200, body = AgentResultResponse), ErrorResponses),
)]
pub async fn heartbeat(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    DliPath((project, agent_id)): DliPath<(String, String)>,
) -> ApiResult<Json<AgentResultResponse>> {
    let project = principal.authorize(&project)?;
    heard_from(&state, &project, &agent_id, &address.to_string()).await?;
    Ok(Json(AgentResultResponse {
        is_success: true,
        message: String::new(),
    }))
}

fn not_held(work_id: &str, queue: &str) -> ApiError {
    ApiError::StateConflict(format!(
        "work {} is not held by this agent for queue {}: its lease expired and it was \
         claimed again, or it is done",
        super::error::bounded(work_id),
        super::error::bounded(queue)
    ))
}

fn not_registered(agent_id: &str) -> ApiError {
    ApiError::AgentNotRegistered(agent_id.chars().take(64).collect())
}

/// Records that the agent was heard from (from `address`, now): its name and queues, or
/// an error if it is not registered (any more). Written to the store with the others'
/// words every little while ([`heard::Presence`]), at once when it is new here.
async fn heard_from(
    state: &AppState,
    project: &ProjectId,
    agent_id: &str,
    address: &str,
) -> ApiResult<heard::Known> {
    let now = now_millis();
    let presence = &state.presence;
    if let Some(known) = presence.recall(project.as_str(), agent_id, address, now) {
        return Ok(known);
    }
    let agent = AgentKey::new(project, agent_id);
    let Some(name) = state.store.touch_agent(agent, address, now).await? else {
        presence.forget(project.as_str(), agent_id);
        return Err(not_registered(agent_id));
    };
    let queues = state.store.agent_serves(agent).await?;
    let known = heard::Known {
        name,
        queues: queues.into(),
    };
    presence.remember(project.as_str(), agent_id, address, now, known.clone());
    Ok(known)
}

/// `DELETE /dsconn/v1/{project_id}/agents/{agent_id}`
#[utoipa::path(
    delete,
    path = "/dsconn/v1/{project_id}/agents/{agent_id}",
    operation_id = "DeregisterAgent",
    tag = "agents",
    summary = "Take an agent offline at once (it stops); its queues fall back to the server",
    params(ProjectPath, AgentPath),
    responses((status = 200, body = AgentResultResponse), ErrorResponses),
)]
pub async fn deregister(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, agent_id)): DliPath<(String, String)>,
) -> ApiResult<Json<AgentResultResponse>> {
    let project = principal.authorize(&project)?;
    let deregistered = state.store.deregister_agent(&project, &agent_id).await?;
    state.presence.forget(project.as_str(), &agent_id);
    if !deregistered {
        return Err(not_registered(&agent_id));
    }
    // Its queues' waiting work is the server's again.
    state.wake_worker.notify_one();
    tracing::info!(agent.id = %agent_id, "agent deregistered");
    Ok(Json(AgentResultResponse {
        is_success: true,
        message: "deregistered".into(),
    }))
}

fn work_item(work: QueueWork, lease_until: i64, session: Option<AgentSession>) -> AgentWorkItem {
    // A test's own host entries travel with it (a set-up's are its connection's).
    let hosts = crate::check::own_hosts(work.hosts.as_deref())
        .into_iter()
        .map(|(name, ip)| HostEntry { name, ip })
        .collect();
    AgentWorkItem {
        session,
        work_id: work.work_id(),
        kind: work.kind,
        queue: work.queue_name,
        bound_as: None,
        service: work.service,
        url: work.destination,
        lease_until,
        hosts,
        routes: Vec::new(),
    }
}

fn setup_item(work: SetupWork, lease_until: i64) -> AgentWorkItem {
    AgentWorkItem {
        work_id: work.work_id(),
        kind: QueueWorkKind::Setup,
        hosts: work
            .hosts
            .iter()
            .map(|(name, ip)| HostEntry {
                name: name.clone(),
                ip: ip.clone(),
            })
            .collect(),
        queue: work.name,
        bound_as: Some(work.kind),
        service: None,
        url: String::new(),
        lease_until,
        routes: work.routes.to_vec(),
        session: None,
    }
}

/// The claimed checks' queues, each once, in order.
fn queues_of(claimed: &[QueueWork]) -> Vec<&str> {
    let mut queues: Vec<&str> = claimed
        .iter()
        .map(|work| work.queue_name.as_str())
        .collect();
    queues.sort_unstable();
    queues.dedup();
    queues
}

/// The version of the hosts file of each queue of the claimed checks, by queue.
async fn hosts_versions(
    state: &AppState,
    project: &ProjectId,
    claimed: &[QueueWork],
) -> ApiResult<BTreeMap<String, String>> {
    let mut versions = BTreeMap::new();
    for queue in queues_of(claimed) {
        let version = state
            .checks
            .pipeline
            .queue_hosts_version(project, queue)
            .await?;
        if let Some(version) = version {
            versions.insert(queue.to_owned(), version);
        }
    }
    Ok(versions)
}

/// For an agent that does not take hosts files by version: the file of each queue of
/// the claimed checks, by queue, while they fit in `room` bytes (as JSON); the work of a
/// queue whose file does not fit is given back (its lease released) and left out of
/// `claimed`. At least one queue's work is kept: a full file (about 3.3 MB) fits.
async fn inline_hosts_files(
    state: &AppState,
    project: &ProjectId,
    owner: &str,
    claimed: &mut Vec<QueueWork>,
    room: usize,
) -> ApiResult<BTreeMap<String, Vec<HostEntry>>> {
    let mut files = BTreeMap::new();
    let mut left_out = std::collections::HashSet::new();
    let mut used = 0_usize;
    for queue in queues_of(claimed) {
        let file = state
            .checks
            .pipeline
            .queue_hosts(project.as_str(), queue)
            .await;
        if file.is_empty() {
            continue;
        }
        let size: usize = file
            .entries()
            .map(|(name, ip)| name.len() + ip.to_string().len() + 20)
            .sum();
        if used.saturating_add(size) > room {
            left_out.insert(queue.to_owned());
            continue;
        }
        used += size;
        let entries = file
            .entries()
            .map(|(name, ip)| HostEntry {
                name: name.to_owned(),
                ip: ip.to_string(),
            })
            .collect();
        files.insert(queue.to_owned(), entries);
    }
    if !left_out.is_empty() {
        let (give_back, keep): (Vec<QueueWork>, Vec<QueueWork>) = std::mem::take(claimed)
            .into_iter()
            .partition(|work| left_out.contains(&work.queue_name));
        *claimed = keep;
        state.store.release_queue_work(owner, &give_back).await?;
    }
    Ok(files)
}

/// `POST /dsconn/v1/{project_id}/agents/{agent_id}/claim`
#[utoipa::path(
    post,
    path = "/dsconn/v1/{project_id}/agents/{agent_id}/claim",
    operation_id = "ClaimAgentWork",
    tag = "agents",
    summary = "Take checks of the agent's queues, waiting for some (a long poll)",
    params(ProjectPath, AgentPath),
    request_body(content = ClaimRequest, content_type = "application/json"),
    responses((status = 200, description = "The work taken; empty when none came within `wait_ms`", body = ClaimResponse), ErrorResponses),
)]
pub async fn claim(
    State(state): State<AppState>,
    principal: Principal,
    transported: Transported,
    DliPath((project, agent_id)): DliPath<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<ClaimResponse>> {
    let project = principal.authorize(&project)?;
    let request: ClaimRequest = body.parse()?;
    let max = request
        .max
        .unwrap_or(DEFAULT_CLAIM_BATCH)
        .clamp(1, MAX_CLAIM_BATCH);
    // Answered well before the request deadline, so a long poll never times out.
    let longest = MAX_CLAIM_WAIT.min(state.settings.request_timeout / 2);
    let wait = request
        .wait_ms
        .map_or(longest, Duration::from_millis)
        .min(longest);
    let lease = request
        .lease_ms
        .map_or_else(|| state.checks.pipeline.test_lease(), Duration::from_millis)
        .clamp(LEASE_RANGE.0, LEASE_RANGE.1);
    let address = transported.peer.to_string();
    let give_up = tokio::time::Instant::now() + wait;
    // Heard from now; while it waits, the store is only read when work of its queues
    // may have come ([`waiting`]).
    let agent = heard_from(&state, &project, &agent_id, &address).await?;
    let listening = state.claims.listen(project.as_str(), agent.queues);
    loop {
        // A stopping server hands out nothing more: "no work", and the agent claims
        // again (from another replica, or this server once it is back).
        if state.stopping.is_cancelled() {
            return Ok(Json(ClaimResponse {
                is_success: true,
                message: String::new(),
                work: Vec::new(),
                hosts_files: BTreeMap::new(),
                hosts_versions: BTreeMap::new(),
            }));
        }
        let now = now_millis();
        let waiting = state
            .store
            .agent_has_work(&project, &agent_id, now, request.setups)
            .await?;
        let (has_checks, has_setups) = (waiting.checks, waiting.setups);
        // Set-ups are a fourth kind of work beside new bindings, re-checks and tests
        // (which the store shares among themselves): first their share by
        // [`fair_split`] (offered first, so a claim of one takes a set-up), then what the
        // checks leave (issue 24). Their hosts are bounded by bytes, not by count.
        let backlog = |has: bool| if has { max as usize } else { 0 };
        let checks = backlog(has_checks);
        let shares = fair_split(
            &[checks, checks, checks, backlog(has_setups)],
            max as usize,
            3,
        );
        let setup_share = u32::try_from(shares[3]).unwrap_or(max);
        let terms = |limit| AgentClaim {
            agent: AgentKey::new(&project, &agent_id),
            lease,
            limit,
            now,
        };
        let mut setups = if setup_share > 0 {
            state
                .store
                .claim_agent_setups(terms(setup_share), CLAIM_SETUP_HOSTS_BYTES)
                .await?
        } else {
            Vec::new()
        };
        let taken = |n: usize| u32::try_from(n).unwrap_or(max);
        let room = max.saturating_sub(taken(setups.len()));
        let mut claimed = if has_checks && room > 0 {
            state
                .store
                .claim_agent_work(terms(room), &address)
                .await?
                .ok_or_else(|| not_registered(&agent_id))?
        } else {
            Vec::new()
        };
        // A test brings its own hosts and credentialed stages: what does not fit the
        // checks' share of the answer is given back for the next claim.
        let excess = split_off_beyond(&mut claimed, CLAIM_CHECKS_BYTES);
        if !excess.is_empty() {
            state
                .store
                .release_queue_work(&agent_owner(&agent_id), &excess)
                .await?;
        }
        let room = room.saturating_sub(taken(claimed.len()));
        let setup_bytes_used: usize = setups.iter().map(setup_bytes).sum();
        if has_setups && room > 0 && taken(setups.len()) == setup_share {
            let hosts_room = CLAIM_SETUP_HOSTS_BYTES.saturating_sub(setup_bytes_used);
            if hosts_room > 0 {
                let more = state
                    .store
                    .claim_agent_setups(terms(room), hosts_room)
                    .await?;
                setups.extend(more);
            }
        }
        let none = claimed.is_empty() && setups.is_empty();
        if !none || tokio::time::Instant::now() >= give_up {
            let lease_until = now.saturating_add(i64::try_from(millis(lease)).unwrap_or(0));
            let (hosts_versions, hosts_files) = if request.hosts_by_version {
                (
                    hosts_versions(&state, &project, &claimed).await?,
                    BTreeMap::new(),
                )
            } else {
                let used: usize = setups.iter().map(setup_bytes).sum();
                let room = MAX_CLAIM_ANSWER_BYTES
                    .saturating_sub(CLAIM_CHECKS_BYTES)
                    .saturating_sub(used);
                let owner = agent_owner(&agent_id);
                let files =
                    inline_hosts_files(&state, &project, &owner, &mut claimed, room).await?;
                (BTreeMap::new(), files)
            };
            let sending = sessions::Sending::new(&request, &transported);
            let mut work = Vec::with_capacity(claimed.len() + setups.len());
            for piece in claimed {
                let session = sending.session(&state, &project, &piece).await;
                work.push(work_item(piece, lease_until, session));
            }
            work.extend(setups.into_iter().map(|work| setup_item(work, lease_until)));
            return Ok(Json(ClaimResponse {
                is_success: true,
                message: String::new(),
                work,
                hosts_versions,
                hosts_files,
            }));
        }
        // Listening since before the look: work announced in between is not missed.
        tokio::select! {
            () = listening.notified() => {}
            () = state.stopping.cancelled() => {}
            () = tokio::time::sleep_until(give_up) => {}
        }
    }
}

/// `GET /dsconn/v1/{project_id}/agents/{agent_id}/hosts-files/{queue_name}`
#[utoipa::path(
    get,
    path = "/dsconn/v1/{project_id}/agents/{agent_id}/hosts-files/{queue_name}",
    operation_id = "ShowAgentHostsFile",
    tag = "agents",
    summary = "A queue's hosts file and its version, for an agent that lacks the version a claim named",
    params(ProjectPath, AgentPath, ("queue_name" = String, Path, description = "The queue")),
    responses((status = 200, body = HostsFileResponse), ErrorResponses),
)]
pub async fn hosts_file(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    DliPath((project, agent_id, queue)): DliPath<(String, String, String)>,
) -> ApiResult<Json<HostsFileResponse>> {
    let project = principal.authorize(&project)?;
    let queue = QueueName::parse(&queue)?;
    heard_from(&state, &project, &agent_id, &address.to_string()).await?;
    let (version, file) = state
        .checks
        .pipeline
        .versioned_queue_hosts(project.as_str(), queue.as_str())
        .await?;
    Ok(Json(HostsFileResponse {
        is_success: true,
        message: String::new(),
        queue: queue.as_str().to_owned(),
        version: version.unwrap_or_default(),
        hosts: file
            .entries()
            .map(|(name, ip)| HostEntry {
                name: name.to_owned(),
                ip: ip.to_string(),
            })
            .collect(),
    }))
}

/// What a result names: the work's kind (its `kind`; from agents before that field, the
/// kind its id starts with) and key, the part of its id after the kind.
fn work_of(work_id: &str, kind: Option<QueueWorkKind>) -> ApiResult<(QueueWorkKind, &str)> {
    work_id
        .split_once(':')
        .and_then(|(named, key)| {
            let named = named.parse::<QueueWorkKind>().ok()?;
            // A kind is one the id was claimed with.
            (kind.is_none() || kind == Some(named)).then_some((named, key))
        })
        .filter(|(kind, key)| match kind {
            QueueWorkKind::Test => key.parse::<i64>().is_ok(),
            QueueWorkKind::Setup => uuid::Uuid::parse_str(key).is_ok(),
            QueueWorkKind::Bind | QueueWorkKind::RecheckBinding => {
                !key.is_empty() && key.len() <= 64
            }
        })
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "work_id must be one a claim answered, got {}",
                super::error::bounded(work_id)
            ))
        })
}

/// `POST /dsconn/v1/{project_id}/agents/{agent_id}/results`
#[utoipa::path(
    post,
    path = "/dsconn/v1/{project_id}/agents/{agent_id}/results",
    operation_id = "ReportAgentResult",
    tag = "agents",
    summary = "Report a claimed check's result",
    params(ProjectPath, AgentPath),
    request_body(content = AgentResultRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded", body = AgentResultResponse),
        ErrorResponses,
    ),
)]
pub async fn report(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    DliPath((project, agent_id)): DliPath<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<AgentResultResponse>> {
    let project = principal.authorize(&project)?;
    let request: AgentResultRequest = body.parse()?;
    let (kind, key) = work_of(&request.work_id, request.kind)?;
    let queue = QueueName::parse(&request.queue)?.as_str().to_owned();
    let name = heard_from(&state, &project, &agent_id, &address.to_string())
        .await?
        .name;
    let owner = agent_owner(&agent_id);
    let purpose = Purpose::of_queue_work(kind, key, queue, owner, None);
    let report: CheckReport = request.report.bounded();
    // A set-up reports the verdict of its policy stage; a check, its probe's report.
    let refused = match (kind, &request.setup_error) {
        (QueueWorkKind::Setup, Some(why)) => Some(super::error::bounded(why)),
        _ => None,
    };
    let checked = refused.as_deref().map_or(Ok(&report), Err);
    let took = Duration::from_millis(request.elapsed_ms.min(millis(LEASE_RANGE.1)));
    let stages = if kind == QueueWorkKind::Test && request.stages.is_empty() {
        sessions::old_agents_stages(&state, &project, &request.queue, key, &report).await?
    } else {
        crate::check::bounded_stages(request.stages)
    };
    let pipeline = &state.checks.pipeline;
    // What the result changes is the agent's doing, from the request's address.
    let actor = Actor {
        name: format!("agent:{name}"),
        ..(*Actor::current()).clone()
    };
    let recorded = actor
        .act(pipeline.record_reported(&purpose, checked, stages, Place::Agent(name), took))
        .await?;
    if !recorded {
        return Err(not_held(&request.work_id, &request.queue));
    }
    // The claim paid one dial for new bindings and tests; the rest drain the budget.
    if purpose.charging() == Charging::Drain {
        let extra = report.dials().saturating_sub(1);
        state
            .checks
            .budget
            .drain(project.as_str(), u32::try_from(extra).unwrap_or(u32::MAX));
    }
    // A set-up checks nothing: its time is not a check's.
    if kind != QueueWorkKind::Setup {
        metrics::record_agent_claim_to_result(took);
    }
    Ok(Json(AgentResultResponse {
        is_success: true,
        message: "recorded".into(),
    }))
}
