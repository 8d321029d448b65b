//! `GET /v3/{project_id}/quotas` (issue 27): DLI's resource types, with what dsconn has
//! of each, and three extension types for the caps dsconn enforces that DLI has no type
//! for (classic and enhanced connections, auth infos). DLI's compute types (CU, JOB_CU,
//! SL_*) count nothing here: used 0, quota the largest a create accepts.

pub mod types;

use axum::Json;
use axum::extract::{RawQuery, State};

use crate::api::error::{ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{ProjectTarget, parse_query};
use crate::api::quotas::types::{QuotaResource, Quotas, ShowQuotaQuery, ShowQuotaResponse};
use crate::api::state::AppState;
use crate::domain::ValidationError;

/// The extension type of classic datasource connections (DLI.1028 when full).
pub const CONNECTION_TYPE: &str = "DSCONN_CONNECTION";
/// The extension type of enhanced connections.
pub const ENHANCED_CONNECTION_TYPE: &str = "DSCONN_ENHANCED_CONNECTION";
/// The extension type of datasource auth infos.
pub const AUTH_INFO_TYPE: &str = "DSCONN_AUTH_INFO";

/// DLI's types that count nothing here, with the largest value a create accepts.
const UNCOUNTED: [(&str, i64); 8] = [
    ("CU", 32000),
    ("DATABASE", 0),
    ("TABLE", 0),
    ("TEMPLATE", 0),
    ("SL_PKG_RESOURCE", 0),
    ("SL_SESSION", 0),
    ("JOB_CU", 32000),
    ("IAM_USER", 0),
];

fn resource(kind: &str, quota: u64, used: u64) -> QuotaResource {
    let quota = i64::try_from(quota).unwrap_or(i64::MAX);
    QuotaResource {
        kind: kind.to_owned(),
        min: 0,
        max: quota,
        quota,
        used: i64::try_from(used).unwrap_or(i64::MAX),
    }
}

/// `GET /v3/{project_id}/quotas`
#[utoipa::path(
    get,
    path = "/v3/{project_id}/quotas",
    operation_id = "ShowQuota",
    tag = "queues",
    summary = "The project's quotas: DLI's types and dsconn's own caps (DSCONN_*)",
    params(ProjectPath, ShowQuotaQuery),
    responses((status = 200, description = "The quotas", body = ShowQuotaResponse), ErrorResponses),
)]
pub async fn show(
    State(state): State<AppState>,
    ProjectTarget { project, .. }: ProjectTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ShowQuotaResponse>> {
    let query: ShowQuotaQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let usage = state.store.project_usage(&project).await?;
    let mut resources = vec![
        resource(
            "QUEUE",
            u64::from(crate::api::queues::MAX_QUEUES_PER_PROJECT),
            usage.queues,
        ),
        resource(
            "ELASTIC_RESOURCE_POOL",
            u64::from(crate::api::pools::MAX_POOLS_PER_PROJECT),
            usage.pools,
        ),
        resource(
            CONNECTION_TYPE,
            u64::from(state.settings.connection_quota),
            usage.connections,
        ),
        resource(
            ENHANCED_CONNECTION_TYPE,
            u64::from(crate::api::enhanced::MAX_CONNECTIONS_PER_PROJECT),
            usage.enhanced_connections,
        ),
        resource(
            AUTH_INFO_TYPE,
            u64::from(crate::api::auth_infos::MAX_AUTH_INFOS_PER_PROJECT),
            usage.auth_infos,
        ),
    ];
    resources.extend(UNCOUNTED.iter().map(|(kind, quota)| QuotaResource {
        kind: (*kind).to_owned(),
        min: 0,
        max: *quota,
        quota: *quota,
        used: 0,
    }));
    if let Some(kind) = query.kind.as_deref().filter(|kind| !kind.is_empty()) {
        if !resources.iter().any(|resource| resource.kind == kind) {
            let known: Vec<&str> = resources.iter().map(|r| r.kind.as_str()).collect();
            return Err(
                ValidationError::new(format!("type must be one of {}", known.join(", "))).into(),
            );
        }
        resources.retain(|resource| resource.kind == kind);
    }
    Ok(Json(ShowQuotaResponse {
        is_success: true,
        message: String::new(),
        quotas: Quotas { resources },
    }))
}
