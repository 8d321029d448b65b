//! A classic connection's auth info (issue 26): named at create or set later, it makes
//! every check of the connection from its queues, and their re-checks, log in.

use axum::Json;
use axum::extract::State;

use super::types::SetConnectionAuthInfoRequest;
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::{ConnectionPath, ProjectPath};
use crate::api::extract::{ConnectionTarget, JsonBody};
use crate::api::queue_tests::{SessionFields, session_of};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{PrivilegeRequest, ProjectId, Service, now_millis};
use crate::store::ConnectionKey;

/// The credentialed stages a connection names, validated (the auth info must be the
/// project's, the service one dsconn logs in to), as the stored JSON; None when it names
/// no auth info.
pub(super) async fn connection_session(
    state: &AppState,
    project: &ProjectId,
    service: Service,
    auth_info_name: Option<&str>,
    database: Option<&str>,
    privileges: &[PrivilegeRequest],
) -> ApiResult<Option<String>> {
    if auth_info_name.is_some() && !crate::check::logs_in(service) {
        return Err(ApiError::InvalidRequest(format!(
            "auth_info_name: dsconn checks no login for {} sources (only RDS, DWS and CSS)",
            service.as_str()
        )));
    }
    let asked = session_of(
        state,
        project,
        SessionFields {
            service: Some(service.as_str()),
            auth_info_name,
            auth_info: None,
            database,
            privileges,
        },
        // No inline auth info: a connection names a stored one.
        false,
    )
    .await?;
    Ok(asked.session)
}

/// `PUT /v2.0/{project_id}/datasource-connection/{connection_id}/auth-info`
#[utoipa::path(
    put,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/auth-info",
    operation_id = "SetDatasourceConnectionAuthInfo",
    tag = "extensions",
    summary = "Name the auth info a connection's checks from its queues log in with (null: none)",
    description = "Every check of the connection from its queues, and their re-checks, then \
        run the login, query and privileges stages; a binding whose login, query or \
        privileges FAILED is FAILED. Setting it again lets re-checks try a login that \
        FAILED; the bindings are re-checked at once.",
    params(ProjectPath, ConnectionPath),
    request_body(content = SetConnectionAuthInfoRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "`Updated`", body = SuccessResponse),
        ErrorResponses,
    ),
)]
pub async fn set_auth_info(
    State(state): State<AppState>,
    ConnectionTarget { project, id }: ConnectionTarget,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let body: SetConnectionAuthInfoRequest = body.parse()?;
    let record = state
        .store
        .get_connection(&project, id)
        .await?
        .filter(|record| record.state != crate::domain::ConnectionState::Deleted)
        .ok_or_else(|| ApiError::ConnectionNotFound(id.to_string()))?;
    let session = connection_session(
        &state,
        &project,
        record.service,
        body.auth_info_name.as_deref(),
        body.database.as_deref(),
        &body.privileges,
    )
    .await?;
    // Each binding is re-checked at once, logging in: paid as that many checks (429 when
    // the project's budget is short), so no client can drive logins faster than tests.
    let checks = u32::try_from(record.queues.len().max(1)).unwrap_or(u32::MAX);
    state.checks.budget.spend(project.as_str(), checks)?;
    if !state
        .store
        .set_connection_session(
            ConnectionKey::new(&project, id),
            session.as_deref(),
            now_millis(),
        )
        .await?
    {
        return Err(ApiError::ConnectionNotFound(id.to_string()));
    }
    state.work_arrived_in(project.as_str());
    tracing::info!(connection.id = %id, auth_info = ?body.auth_info_name, "connection auth info set");
    Ok(Json(SuccessResponse {
        is_success: true,
        message: "Updated".into(),
    }))
}
