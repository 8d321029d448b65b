//! The service's own endpoints: who the caller is, liveness, readiness, metrics.

pub mod types;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, CallerErrorResponses, ServiceErrorResponses};
use crate::api::service::types::{
    HealthResponse, HealthStatus, PrincipalKind, ProjectsResponse, ReadyResponse, ReadyStatus,
    WhoamiResponse,
};
use crate::api::state::AppState;
use crate::domain::ProjectScope;

/// Who the caller is and which projects it may use: for consoles and CLIs to offer a
/// project picker.
#[utoipa::path(
    get,
    path = "/dsconn/v1/whoami",
    operation_id = "Whoami",
    tag = "service",
    summary = "The caller's identity and the projects it may use",
    responses((status = 200, description = "The caller", body = WhoamiResponse), CallerErrorResponses),
)]
pub async fn whoami(principal: Principal) -> Json<WhoamiResponse> {
    use crate::api::auth::PrincipalKind as Authenticated;
    let (kind, id) = match &principal.kind {
        Authenticated::Anonymous => (PrincipalKind::Anonymous, None),
        Authenticated::AccessKey(access_key) => {
            (PrincipalKind::AccessKey, Some(access_key.clone()))
        }
        Authenticated::Token(id) => (PrincipalKind::Token, Some(id.clone())),
    };
    let (all_projects, projects) = match &principal.scope {
        ProjectScope::All => (true, Vec::new()),
        ProjectScope::Projects(projects) => (false, projects.clone()),
    };
    Json(WhoamiResponse {
        is_success: true,
        message: String::new(),
        kind,
        id,
        all_projects,
        projects,
    })
}

/// Most projects [`projects`] answers.
const MAX_PROJECTS_LISTED: u32 = 1_000;

/// The projects the caller may pick from: its own, or (for an all-projects caller) those
/// that hold something on this server.
#[utoipa::path(
    get,
    path = "/dsconn/v1/projects",
    operation_id = "ListProjects",
    tag = "service",
    summary = "The projects the caller may pick from",
    responses((status = 200, description = "The projects", body = ProjectsResponse), CallerErrorResponses),
)]
pub async fn projects(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<ProjectsResponse>> {
    let (mut projects, truncated) = match &principal.scope {
        ProjectScope::Projects(projects) => (projects.clone(), false),
        ProjectScope::All => {
            let mut known = state.store.known_projects(MAX_PROJECTS_LISTED + 1).await?;
            let truncated = known.len() > MAX_PROJECTS_LISTED as usize;
            known.truncate(MAX_PROJECTS_LISTED as usize);
            (known, truncated)
        }
    };
    projects.sort();
    Ok(Json(ProjectsResponse {
        is_success: true,
        message: String::new(),
        projects,
        truncated,
    }))
}

/// Prometheus text exposition. Stored-state gauges are read from the store per scrape.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "Metrics",
    tag = "service",
    summary = "Prometheus metrics; no credentials needed",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4",
            content_type = "text/plain", body = String),
        ServiceErrorResponses,
    ),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = crate::telemetry::metrics::handle() else {
        return ApiError::Internal(anyhow::anyhow!("another metrics recorder is installed"))
            .into_response();
    };
    match state.store.stats().await {
        Ok(stats) => crate::telemetry::metrics::record_store_stats(
            &crate::telemetry::metrics::StoredCounts {
                connections: &stats.connections,
                pending_checks: stats.pending_checks,
                leased_checks: stats.leased_checks,
            },
        ),
        Err(error) => tracing::warn!(error = %error, "metrics: the store did not answer"),
    }
    let online_since = state
        .checks
        .pipeline
        .online_since(crate::domain::now_millis());
    match state.store.online_agents_by_queue(online_since).await {
        Ok(counts) => crate::telemetry::metrics::record_online_agents(&counts),
        Err(error) => tracing::warn!(error = %error, "metrics: the store did not answer"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
        .into_response()
}

/// Ready when the store answers and its schema has exactly this build's migrations: a
/// load balancer stops sending traffic otherwise (e.g. to an older replica after a newer
/// one migrated).
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "Readyz",
    tag = "service",
    summary = "Readiness: the store answers and its migrations are this build's; no credentials needed",
    responses((status = 200, description = "Ready", body = ReadyResponse), ServiceErrorResponses),
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyResponse>, ApiError> {
    state.store.ping().await.map_err(|error| {
        tracing::warn!(error = %error, "readiness check failed");
        ApiError::NotReady
    })?;
    Ok(Json(ReadyResponse {
        status: ReadyStatus::Ready,
    }))
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "Healthz",
    tag = "service",
    summary = "Liveness: the process answers; no credentials needed",
    responses((status = 200, description = "Alive", body = HealthResponse), ServiceErrorResponses),
)]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: HealthStatus::Ok,
    })
}
