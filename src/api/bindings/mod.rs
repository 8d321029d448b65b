//! Queue bindings (extension): bind queues to a connection, each binding then checked
//! in the background, and unbind them. Binding spends one unit of the project's check
//! budget per queue.

pub mod types;

use axum::Json;
use axum::extract::State;

use crate::api::bindings::types::QueuesRequest;
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::{ConnectionPath, ProjectPath};
use crate::api::extract::{ConnectionTarget, JsonBody};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{ConnectionId, QueueName, now_millis};
use crate::store::{BindingOutcome, ConnectionKey, QueuesToBind};

use super::queue_lookup::parse_queues;

fn queues_required(body: &QueuesRequest) -> ApiResult<Vec<QueueName>> {
    let queues = parse_queues(body.queues.as_ref())?;
    if queues.is_empty() {
        return Err(ApiError::InvalidRequest(
            "queues must list at least one queue name".into(),
        ));
    }
    Ok(queues)
}

fn binding_outcome(outcome: BindingOutcome, id: ConnectionId) -> ApiResult<usize> {
    match outcome {
        BindingOutcome::Changed(count) => Ok(count),
        BindingOutcome::NotFound => Err(ApiError::ConnectionNotFound(id.to_string())),
        BindingOutcome::Deleted => Err(ApiError::StateConflict(format!(
            "connection {id} is DELETED; its queues cannot change"
        ))),
    }
}

/// `POST /v2.0/{project_id}/datasource-connection/{id}/associate-queue`
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/associate-queue",
    operation_id = "AssociateQueuesToDatasourceConnection",
    tag = "extensions",
    summary = "Bind queues to a connection; each binding is checked in the background",
    params(ProjectPath, ConnectionPath),
    request_body(content = QueuesRequest, content_type = "application/json"),
    responses((status = 200, description = "`associated N queue(s)`, N counting the new bindings", body = SuccessResponse), ErrorResponses),
)]
pub async fn associate(
    State(state): State<AppState>,
    ConnectionTarget { project, id }: ConnectionTarget,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let queues = queues_required(&body.parse()?)?;
    crate::api::queue_lookup::require_existing(&state, &project, &queues).await?;
    state.checks.budget.spend(
        project.as_str(),
        u32::try_from(queues.len()).unwrap_or(u32::MAX),
    )?;
    let outcome = state
        .store
        .associate_queues(
            ConnectionKey::new(&project, id),
            QueuesToBind {
                queues: &queues,
                declared: &state.settings.declared_queues,
            },
            now_millis(),
        )
        .await?;
    let added = binding_outcome(outcome, id)?;
    state.work_arrived_for(project.as_str(), queues.iter().map(QueueName::as_str));
    tracing::info!(connection.id = %id, added, "queues associated");
    Ok(Json(SuccessResponse::new(format!(
        "associated {added} queue(s)"
    ))))
}

/// `POST /v2.0/{project_id}/datasource-connection/{id}/disassociate-queue`
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/disassociate-queue",
    operation_id = "DisassociateQueuesFromDatasourceConnection",
    tag = "extensions",
    summary = "Unbind queues from a connection",
    params(ProjectPath, ConnectionPath),
    request_body(content = QueuesRequest, content_type = "application/json"),
    responses((status = 200, description = "`disassociated N queue(s)`, N counting the removed bindings", body = SuccessResponse), ErrorResponses),
)]
pub async fn disassociate(
    State(state): State<AppState>,
    ConnectionTarget { project, id }: ConnectionTarget,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let queues = queues_required(&body.parse()?)?;
    let outcome = state
        .store
        .disassociate_queues(ConnectionKey::new(&project, id), &queues, now_millis())
        .await?;
    let removed = binding_outcome(outcome, id)?;
    tracing::info!(connection.id = %id, removed, "queues disassociated");
    Ok(Json(SuccessResponse::new(format!(
        "disassociated {removed} queue(s)"
    ))))
}
