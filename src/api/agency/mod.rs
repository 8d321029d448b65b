//! DLI's service agency (issue 27): `POST/GET /v2/{project_id}/agency`. In DLI it grants
//! DLI roles on the user's cloud resources (VPC, OBS, ...); dsconn uses no cloud, so the
//! roles are stored and echoed only, which lets `huaweicloud_dli_agency` (create, read,
//! update, and delete as `{"roles": []}`) be applied.

pub mod types;

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::api::agency::types::{CreateAgencyRequest, ShowAgencyResponse};
use crate::api::error::{ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{ProjectRequest, ProjectTarget};
use crate::api::queues::present;
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{ValidationError, now_millis};

/// Most roles one agency has.
const MAX_ROLES: usize = 32;
/// Longest role name.
const MAX_ROLE_CHARS: usize = 64;

/// DLI's agency version, as `GET` answers it.
const AGENCY_VERSION: &str = "v2";

fn parse_roles(value: Option<&Value>) -> Result<Vec<String>, ValidationError> {
    let refused = || {
        ValidationError::new(format!(
            "roles is required: an array of at most {MAX_ROLES} role names of 1-{MAX_ROLE_CHARS} \
             letters, digits, '_', '-' and '.'"
        ))
    };
    let items = value.and_then(Value::as_array).ok_or_else(refused)?;
    if items.len() > MAX_ROLES {
        return Err(refused());
    }
    let mut roles: Vec<String> = Vec::new();
    for item in items {
        let role = item
            .as_str()
            .filter(|role| {
                !role.is_empty()
                    && role.chars().count() <= MAX_ROLE_CHARS
                    && role
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            })
            .ok_or_else(refused)?;
        if !roles.iter().any(|known| known == role) {
            roles.push(role.to_owned());
        }
    }
    Ok(roles)
}

/// `POST /v2/{project_id}/agency`
#[utoipa::path(
    post,
    path = "/v2/{project_id}/agency",
    operation_id = "CreateDliAgency",
    tag = "queues",
    summary = "Set the roles of DLI's service agency (stored and echoed; `[]` removes them)",
    params(ProjectPath),
    request_body(content = CreateAgencyRequest, content_type = "application/json"),
    responses((status = 200, description = "Set", body = SuccessResponse), ErrorResponses),
)]
pub async fn create(
    State(state): State<AppState>,
    ProjectRequest { project, body, .. }: ProjectRequest,
) -> ApiResult<Json<SuccessResponse>> {
    let body: CreateAgencyRequest = body.parse()?;
    let roles = parse_roles(present(&body.roles))?;
    let stored = state
        .store
        .put_agency(&project, &roles, now_millis())
        .await?;
    tracing::info!(project.id = %project, roles = stored.roles.len(), version = stored.version, "agency set");
    Ok(Json(SuccessResponse::ok()))
}

/// `GET /v2/{project_id}/agency`
#[utoipa::path(
    get,
    path = "/v2/{project_id}/agency",
    operation_id = "ShowDliAgency",
    tag = "queues",
    summary = "The roles of DLI's service agency (none before the first POST)",
    params(ProjectPath),
    responses((status = 200, description = "The agency", body = ShowAgencyResponse), ErrorResponses),
)]
pub async fn show(
    State(state): State<AppState>,
    ProjectTarget { project, .. }: ProjectTarget,
) -> ApiResult<Json<ShowAgencyResponse>> {
    let roles = state
        .store
        .get_agency(&project)
        .await?
        .map(|agency| agency.roles)
        .unwrap_or_default();
    Ok(Json(ShowAgencyResponse {
        is_success: true,
        message: String::new(),
        current_roles: roles,
        version: AGENCY_VERSION.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_are_deduplicated_in_order() {
        let roles = parse_roles(Some(&json!(["obs_adm", "vpc_netadm", "obs_adm"])));
        assert_eq!(roles.expect("valid"), ["obs_adm", "vpc_netadm"]);
    }

    #[rstest::rstest]
    #[case(None)]
    #[case(Some(json!("obs_adm")))]
    #[case(Some(json!([""])))]
    #[case(Some(json!(["a b"])))]
    #[case(Some(json!([1])))]
    fn bad_roles_are_refused(#[case] value: Option<Value>) {
        assert!(parse_roles(value.as_ref()).is_err());
    }
}
