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
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::extract::params::ProjectPath;
use super::extract::{DliPath, JsonBody};
use super::queues::QueuePath;
use super::state::AppState;
use crate::domain::{EndpointList, ProjectId, now_millis};
use crate::store::NewTask;

/// What a test still running answers as `connectivity` (extension: DLI documents only
/// REACHABLE and UNREACHABLE).
pub const CHECKING: &str = "CHECKING";

/// Task ids stay below 2^53, so JavaScript clients read them exactly.
const MAX_TASK_ID: i64 = 1 << 53;

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
}

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
    DliPath((project, queue)): DliPath<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<CreateConnectivityTaskResponse>> {
    let project = principal.authorize(&project)?;
    let queue = existing_queue(&state, &project, &queue).await?;
    let body: CreateConnectivityTaskRequest = body.parse()?;
    let address = EndpointList::parse_address(&body.address)?;
    // The test's first dial is paid here; further addresses of a name drain the rest.
    state.checks.budget.spend(project.as_str(), 1)?;
    let task_id = rand::thread_rng().gen_range(1..MAX_TASK_ID);
    let endpoint = &address.endpoints()[0];
    state
        .store
        .create_task(&NewTask {
            task_id,
            project_id: project.clone(),
            queue_name: queue.clone(),
            address: address.normalized(),
            now: now_millis(),
        })
        .await?;
    state.work_arrived();
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
    let connectivity = if task.status == "CHECKING" {
        CHECKING.to_owned()
    } else {
        task.status
    };
    Ok(Json(ShowConnectivityTaskResponse {
        is_success: true,
        message: format!("Get node connectivity status successfully for addressId:{id}"),
        connectivity,
        address: task.address,
        detail: task.message,
        checked_from: task.checked_from,
    }))
}
