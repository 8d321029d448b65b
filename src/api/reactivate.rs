//! Reactivation (extension): a FAILED connection starts over with a new check, which
//! spends one unit of the project's check budget.

use axum::Json;
use axum::extract::State;

use super::error::{ApiError, ApiResult, ErrorResponses};
use super::extract::ConnectionTarget;
use super::extract::params::{ConnectionPath, ProjectPath};
use super::state::AppState;
use super::types::SuccessResponse;
use crate::domain::now_millis;
use crate::store::ReactivateOutcome;

/// `POST /v2.0/{project_id}/datasource-connection/{id}/reactivate`
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/reactivate",
    operation_id = "ReactivateDatasourceConnection",
    tag = "extensions",
    summary = "Start a FAILED connection over: FAILED -> CREATING and a new check",
    params(ProjectPath, ConnectionPath),
    responses(
        (status = 200, description = "`Reactivated`", body = SuccessResponse),
        ErrorResponses,
    ),
)]
pub async fn reactivate(
    State(state): State<AppState>,
    ConnectionTarget { project, id }: ConnectionTarget,
) -> ApiResult<Json<SuccessResponse>> {
    state.checks.budget.spend(project.as_str(), 1)?;
    match state
        .store
        .reactivate_connection(&project, id, now_millis())
        .await?
    {
        ReactivateOutcome::Reactivated => {
            state.work_arrived_in(project.as_str());
            tracing::info!(connection.id = %id, "connection reactivated");
            Ok(Json(SuccessResponse {
                is_success: true,
                message: "Reactivated".into(),
            }))
        }
        ReactivateOutcome::NotFailed(current) => Err(ApiError::StateConflict(format!(
            "connection {id} is {current}; only a FAILED connection can be reactivated"
        ))),
        ReactivateOutcome::NotFound => Err(ApiError::ConnectionNotFound(id.to_string())),
    }
}
