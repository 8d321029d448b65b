//! DLI's queue connection test (CreateConnectivityTask, ShowConnectivityTask): is a
//! `host:port` reachable from a queue? The test runs where the queue's checks run (one of
//! its online agents, else the server), under the same outbound policy and check budget,
//! and its answer is kept for [`QUEUE_TEST_RETENTION`](crate::worker::QUEUE_TEST_RETENTION).

use axum::Json;
use axum::extract::State;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Principal;
use super::enhanced::types::EnhancedConnectionHost;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::extract::params::ProjectPath;
use super::extract::{DliPath, JsonBody, Transported};
use super::queues::QueuePath;
use super::state::AppState;
pub use super::types::InlineAuthInfo;
use crate::check::InlineLogin;
use crate::credentials::Secret;
use crate::domain::auth_info::{self, DatasourceType};
use crate::domain::{
    EndpointList, MAX_PRIVILEGE_REQUESTS, PrivilegeRequest, ProjectId, Service, SessionCheck,
    StageResult, now_millis, parse_database,
};
use crate::store::{NewTask, TaskRecord};

/// What a test still running answers as `connectivity` (extension: DLI documents only
/// REACHABLE and UNREACHABLE).
pub const CHECKING: &str = "CHECKING";

/// Task ids stay below 2^53, so JavaScript clients read them exactly.
pub(super) const MAX_TASK_ID: i64 = 1 << 53;

/// `.../connection-test/{task_id}`
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskPath {
    /// The `task_id` the test's creation answered.
    pub task_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateConnectivityTaskRequest {
    /// `host:port`: an IPv4 address, a domain name or `[IPv6]`, with its port.
    #[schema(example = "example.com:8080")]
    pub address: String,
    // Extensions (issue 26): a staged, credentialed test.
    /// The source's service (RDS, DWS, CSS, CloudTable, ...): adds the `protocol` stage.
    /// Required with an auth info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// An auth info of the project to log in with: adds `login`, `query` (and with
    /// `privileges`, `privileges`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info_name: Option<String>,
    /// An auth info used for this test only and never stored (test before saving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info: Option<InlineAuthInfo>,
    /// The database to log in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// What the job needs, checked in the server's own catalog.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<PrivilegeRequest>,
    /// Names this test resolves before the queue's hosts file and DNS (a route tried
    /// before it is saved, e.g. a new enhanced connection's hosts): at most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub hosts: Vec<EnhancedConnectionHost>,
}

/// Most host entries one test may bring.
pub const MAX_TEST_HOSTS: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateConnectivityTaskResponse {
    pub is_success: bool,
    pub message: String,
    pub task_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShowConnectivityTaskResponse {
    pub is_success: bool,
    pub message: String,
    /// REACHABLE or UNREACHABLE; CHECKING (extension) while the test runs.
    #[schema(example = "REACHABLE")]
    pub connectivity: String,
    // Extensions.
    /// The tested `host:port`.
    pub address: String,
    /// What the test found, in words a person can act on; empty while it runs (or why
    /// it waits).
    pub detail: String,
    /// Where it ran: `server` or `agent:<name>`; null while it runs.
    #[schema(required = true)]
    pub checked_from: Option<String>,
    /// What each stage found, in order (empty while it runs).
    pub stages: Vec<StageResult>,
    /// True only when every stage PASSED.
    pub verified: bool,
    /// The service the test verified, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The auth info it logged in with, if one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info_name: Option<String>,
}

/// The path's queue, if the project has it (declared or stored); an invalid name names
/// no queue.
async fn existing_queue(state: &AppState, project: &ProjectId, raw: &str) -> ApiResult<String> {
    let queue = super::queues::path_queue(raw)?;
    super::queue_lookup::require_existing(state, project, std::slice::from_ref(&queue)).await?;
    Ok(queue.as_str().to_owned())
}

/// `POST /v1.0/{project_id}/queues/{queue_name}/connection-test`
#[utoipa::path(
    post,
    path = "/v1.0/{project_id}/queues/{queue_name}/connection-test",
    operation_id = "CreateConnectivityTask",
    tag = "queues",
    summary = "Test whether an address is reachable from a queue (where its checks run)",
    params(ProjectPath, QueuePath),
    request_body(content = CreateConnectivityTaskRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The test was submitted; read it with its task_id", body = CreateConnectivityTaskResponse),
        ErrorResponses,
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    transported: Transported,
    DliPath((project, queue)): DliPath<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<CreateConnectivityTaskResponse>> {
    let project = principal.authorize(&project)?;
    let queue = existing_queue(&state, &project, &queue).await?;
    let body: CreateConnectivityTaskRequest = body.parse()?;
    let address = EndpointList::parse_address(&body.address)?;
    let hosts = test_hosts(&body.hosts)?;
    let asked = session_of(
        &state,
        &project,
        SessionFields::from(&body),
        transported.carries_secrets(),
    )
    .await?;
    // The test's first dial is paid here; further addresses of a name drain the rest.
    state.checks.budget.spend(project.as_str(), 1)?;
    let task_id = rand::thread_rng().gen_range(1..MAX_TASK_ID);
    let endpoint = &address.endpoints()[0];
    if let Some(login) = asked.inline {
        state.checks.pipeline.logins().hold_inline(task_id, login);
    }
    let created = state
        .store
        .create_task(&NewTask {
            task_id,
            project_id: project.clone(),
            queue_name: queue.clone(),
            address: address.normalized(),
            now: now_millis(),
            service: asked.service,
            session: asked.session,
            hosts,
        })
        .await;
    if let Err(error) = created {
        state.checks.pipeline.logins().forget_inline(task_id);
        return Err(error.into());
    }
    state.work_arrived_for(project.as_str(), [queue.as_str()]);
    tracing::info!(queue = %queue, task.id = task_id, "queue connection test created");
    Ok(Json(CreateConnectivityTaskResponse {
        is_success: true,
        message: format!(
            "check connectivity to address:{} with port: {} successfully",
            endpoint.host, endpoint.port
        ),
        task_id,
    }))
}

/// `GET /v1.0/{project_id}/queues/{queue_name}/connection-test/{task_id}`
#[utoipa::path(
    get,
    path = "/v1.0/{project_id}/queues/{queue_name}/connection-test/{task_id}",
    operation_id = "ShowConnectivityTask",
    tag = "queues",
    summary = "A queue connection test's answer",
    params(ProjectPath, QueuePath, TaskPath),
    responses((status = 200, body = ShowConnectivityTaskResponse), ErrorResponses),
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, queue, task_id)): DliPath<(String, String, String)>,
) -> ApiResult<Json<ShowConnectivityTaskResponse>> {
    let project = principal.authorize(&project)?;
    let queue = existing_queue(&state, &project, &queue).await?;
    let unknown = || {
        ApiError::InvalidRequest(format!(
            "there is no connection test {} of queue {queue}",
            super::error::bounded(&task_id)
        ))
    };
    let id: i64 = task_id.parse().map_err(|_| unknown())?;
    let task = state
        .store
        .get_task(&project, &queue, id)
        .await?
        .ok_or_else(unknown)?;
    Ok(Json(task_answer(task, id)))
}

/// A stored test as ShowConnectivityTask answers it.
pub(super) fn task_answer(task: TaskRecord, id: i64) -> ShowConnectivityTaskResponse {
    let connectivity = if task.status == "CHECKING" {
        CHECKING.to_owned()
    } else {
        task.status
    };
    let stages: Vec<StageResult> = task
        .stages
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    let session: Option<SessionCheck> = task
        .session
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    ShowConnectivityTaskResponse {
        is_success: true,
        message: format!("Get node connectivity status successfully for addressId:{id}"),
        connectivity,
        address: task.address,
        detail: task.message,
        checked_from: task.checked_from,
        verified: crate::domain::verified(&stages),
        stages,
        service: task.service,
        auth_info_name: session.and_then(|session| session.auth_info_name),
    }
}

/// A test's own host entries, validated as an enhanced connection's are, as the stored
/// JSON; None without any.
pub(super) fn test_hosts(raw: &[EnhancedConnectionHost]) -> ApiResult<Option<String>> {
    if raw.len() > MAX_TEST_HOSTS {
        return Err(ApiError::InvalidRequest(format!(
            "hosts may have at most {MAX_TEST_HOSTS} entries in a test, got {}",
            raw.len()
        )));
    }
    let hosts = super::enhanced::connections::parse_hosts(Some(&raw.to_vec()))?;
    if hosts.is_empty() {
        return Ok(None);
    }
    let json = serde_json::to_string(&hosts).map_err(|error| {
        ApiError::Internal(anyhow::anyhow!("a test's hosts did not serialize: {error}"))
    })?;
    Ok(Some(json))
}

/// The credentialed fields of a test's request (a queue test's, an unsaved test's).
pub(super) struct SessionFields<'a> {
    pub service: Option<&'a str>,
    pub auth_info_name: Option<&'a str>,
    pub auth_info: Option<&'a InlineAuthInfo>,
    pub database: Option<&'a str>,
    pub privileges: &'a [PrivilegeRequest],
}

impl<'a> From<&'a CreateConnectivityTaskRequest> for SessionFields<'a> {
    fn from(body: &'a CreateConnectivityTaskRequest) -> Self {
        Self {
            service: body.service.as_deref(),
            auth_info_name: body.auth_info_name.as_deref(),
            auth_info: body.auth_info.as_ref(),
            database: body.database.as_deref(),
            privileges: &body.privileges,
        }
    }
}

/// What a test asks for besides reachability, validated: the service, the session (no
/// secret; also as stored JSON) and an inline login to hold until the test ends.
pub(super) struct AskedSession {
    pub service: Option<Service>,
    pub check: Option<SessionCheck>,
    pub session: Option<String>,
    pub inline: Option<InlineLogin>,
}

pub(super) async fn session_of(
    state: &AppState,
    project: &ProjectId,
    body: SessionFields<'_>,
    carries_secrets: bool,
) -> ApiResult<AskedSession> {
    let invalid = |message: String| ApiError::InvalidRequest(message);
    if body.auth_info.is_some() && !carries_secrets {
        return Err(invalid(
            "an inline auth_info (with its password) is accepted only over TLS or from \
             loopback: serve with --tls-cert/--tls-key and use https://, or name a stored \
             auth info with auth_info_name"
                .to_owned(),
        ));
    }
    let service = body.service.map(Service::parse).transpose()?;
    let credentialed = body.auth_info_name.is_some() || body.auth_info.is_some();
    if body.auth_info_name.is_some() && body.auth_info.is_some() {
        return Err(invalid(
            "give either auth_info_name or auth_info, not both".to_owned(),
        ));
    }
    if !credentialed {
        if body.database.is_some() || !body.privileges.is_empty() {
            return Err(invalid(
                "database and privileges need an auth info (auth_info_name or auth_info)"
                    .to_owned(),
            ));
        }
        return Ok(AskedSession {
            service,
            check: None,
            session: None,
            inline: None,
        });
    }
    if service.is_none() {
        return Err(invalid(
            "service is required with an auth info (RDS, DWS or CSS)".to_owned(),
        ));
    }
    if body.privileges.len() > MAX_PRIVILEGE_REQUESTS {
        return Err(invalid(format!(
            "at most {MAX_PRIVILEGE_REQUESTS} privileges may be checked at once"
        )));
    }
    let database = body
        .database
        .map(parse_database)
        .transpose()
        .map_err(invalid)?;
    if let Some(name) = body.auth_info_name {
        let known = match auth_info::valid_name(name) {
            Some(name) => state.store.get_auth_info(project, name).await?.is_some(),
            None => false,
        };
        if !known {
            return Err(invalid(format!(
                "the project has no auth info named {}",
                super::error::bounded(name)
            )));
        }
    }
    let inline = body.auth_info.map(inline_login).transpose()?;
    let check = SessionCheck {
        auth_info_name: body.auth_info_name.map(str::to_owned),
        inline: inline.is_some(),
        database,
        privileges: body.privileges.to_vec(),
    };
    Ok(AskedSession {
        service,
        session: Some(serde_json::to_string(&check).map_err(|error| {
            ApiError::Internal(anyhow::anyhow!(
                "a test's session did not serialize: {error}"
            ))
        })?),
        check: Some(check),
        inline,
    })
}

/// An inline auth info as a login: a user name and password within the auth infos'
/// limits, of a type that has them.
fn inline_login(given: &InlineAuthInfo) -> ApiResult<InlineLogin> {
    let invalid = |message: &str| ApiError::InvalidRequest(format!("auth_info: {message}"));
    let kind = match given.datasource_type.as_deref() {
        None => DatasourceType::Passwd,
        Some(raw) => match DatasourceType::parse(raw) {
            Some(kind @ (DatasourceType::Passwd | DatasourceType::Css)) => kind,
            _ => return Err(invalid("datasource_type must be passwd or CSS")),
        },
    };
    let fits = |text: &str| !text.is_empty() && text.chars().count() <= auth_info::MAX_FIELD_CHARS;
    if !fits(&given.user_name) {
        return Err(invalid("user_name must be 1-1024 characters"));
    }
    if !fits(&given.password) {
        return Err(invalid("password must be 1-1024 characters"));
    }
    Ok(InlineLogin {
        kind,
        user: given.user_name.clone(),
        password: Secret::new(given.password.clone()),
    })
}
