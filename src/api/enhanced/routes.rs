//! E8/E9 (v3) and their deprecated v2.0 twins E8'/E9' (what Terraform calls): custom
//! routes of an enhanced connection. Only the owner changes them: a route steers every
//! binding's traffic, so a project granted BIND_QUEUE gets 403 APIG.0302 (issue 24).

use axum::Json;
use axum::extract::State;

use super::connections::{EnhancedConnectionPath, parse_simple_name};
use super::types::CreateEnhancedRouteRequest;
use super::{EnhancedTarget, LIMITS, echo, outcome_error};
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::JsonBody;
use crate::api::extract::params::ProjectPath;
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{NetworkError, ValidationError, now_millis, parse_exact_network};
use crate::store::{ConnectionKey, EnhancedRefusal, NewRoute};

/// `{name}` path parameter of a route.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RoutePath {
    /// The route's name (percent-encoded in the path).
    pub name: String,
}

/// A route's cidr: an IPv4 or IPv6 network whose host bits are zero, normalised; a bare
/// address is a /32 (or /128). Read by the one address parser ([`parse_exact_network`]),
/// so it refuses what hosts and urls refuse: spaces, leading-zero octets and prefixes.
pub fn parse_cidr(raw: &str) -> Result<String, ValidationError> {
    parse_exact_network(raw)
        .map(|net| net.to_string())
        .map_err(|why| match why {
            NetworkError::HostBits(meant) => {
                ValidationError::new(format!("cidr {raw} has host bits set: write {meant}"))
            }
            NetworkError::Syntax(why) => ValidationError::new(format!(
                "cidr {:?} must be a network such as 10.169.0.0/24: {why}",
                echo(raw)
            )),
        })
}

async fn create(
    state: AppState,
    target: EnhancedTarget,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let id = target.id()?;
    let body: CreateEnhancedRouteRequest = body.parse_or_empty()?;
    let name = body
        .name
        .as_deref()
        .ok_or_else(|| ApiError::InvalidRequest("name is required".into()))?;
    let name = parse_simple_name("name", name)?;
    let cidr = body
        .cidr
        .as_deref()
        .ok_or_else(|| ApiError::InvalidRequest("cidr is required".into()))?;
    let route = NewRoute {
        name,
        cidr: parse_cidr(cidr)?,
        now: now_millis(),
    };
    crate::api::queues::cidr_preflight::check_route(
        &state,
        &target.project,
        id,
        &route.name,
        &route.cidr,
    )
    .await?;
    let outcome = state
        .store
        .add_enhanced_route(ConnectionKey::new(&target.project, id), &route, &LIMITS)
        .await?;
    if let Err(refusal) = outcome {
        return Err(outcome_error(refusal, &target.raw_id, None));
    }
    tracing::info!(project.id = %target.project, connection.id = %id, route = route.name, "route added");
    Ok(Json(SuccessResponse::ok()))
}

async fn delete(state: AppState, target: EnhancedTarget) -> ApiResult<Json<SuccessResponse>> {
    let id = target.id()?;
    let name = target.rest.get("name").cloned().unwrap_or_default();
    // A name no route can have names no route, but the store still answers whose the
    // connection is (a grantee is refused whatever the name).
    let outcome = state
        .store
        .delete_enhanced_route(&target.project, id, &name)
        .await?;
    if let Err(refusal) = outcome {
        // The connection must be visible before "no such route" is said.
        if let EnhancedRefusal::UnknownRoute(_) = refusal
            && state
                .store
                .get_enhanced(&target.project, id)
                .await?
                .is_none()
        {
            return Err(target.not_found());
        }
        return Err(outcome_error(refusal, &target.raw_id, None));
    }
    tracing::info!(project.id = %target.project, connection.id = %id, route = name, "route deleted");
    Ok(Json(SuccessResponse::new("Deleted")))
}

/// `POST /v3/{project_id}/datasource/enhanced-connections/{connection_id}/routes` (E8)
#[utoipa::path(
    post,
    path = "/v3/{project_id}/datasource/enhanced-connections/{connection_id}/routes",
    operation_id = "CreateRouteToEnhancedConnection",
    tag = "enhanced",
    summary = "Add a custom route",
    params(ProjectPath, EnhancedConnectionPath),
    request_body(content = CreateEnhancedRouteRequest, content_type = "application/json"),
    responses((status = 200, description = "Added", body = SuccessResponse), ErrorResponses),
)]
pub async fn create_v3(
    State(state): State<AppState>,
    target: EnhancedTarget,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    create(state, target, body).await
}

twin! {
    /// `POST /v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/routes` (E8')
    #[utoipa::path(
        post,
        path = "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/routes",
        operation_id = "CreateEnhancedConnectionRoutes",
        tag = "enhanced",
        summary = "Add a custom route (deprecated v2.0 twin of E8, used by Terraform)",
        params(ProjectPath, EnhancedConnectionPath),
        request_body(content = CreateEnhancedRouteRequest, content_type = "application/json"),
        responses((status = 200, description = "Added", body = SuccessResponse), ErrorResponses),
    )]
    pub async fn create_v2 = create_v3(
        state: State<AppState>,
        target: EnhancedTarget,
        body: JsonBody,
    ) -> ApiResult<Json<SuccessResponse>>;
}

/// `DELETE /v3/{project_id}/datasource/enhanced-connections/{connection_id}/routes/{name}` (E9)
#[utoipa::path(
    delete,
    path = "/v3/{project_id}/datasource/enhanced-connections/{connection_id}/routes/{name}",
    operation_id = "DeleteRouteFromEnhancedConnection",
    tag = "enhanced",
    summary = "Remove a custom route",
    params(ProjectPath, EnhancedConnectionPath, RoutePath),
    responses((status = 200, description = "`Deleted`", body = SuccessResponse), ErrorResponses),
)]
pub async fn delete_v3(
    State(state): State<AppState>,
    target: EnhancedTarget,
) -> ApiResult<Json<SuccessResponse>> {
    delete(state, target).await
}

twin! {
    /// `DELETE /v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/routes/{name}` (E9')
    #[utoipa::path(
        delete,
        path = "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/routes/{name}",
        operation_id = "DeleteEnhancedConnectionRoutes",
        tag = "enhanced",
        summary = "Remove a custom route (deprecated v2.0 twin of E9, used by Terraform)",
        params(ProjectPath, EnhancedConnectionPath, RoutePath),
        responses((status = 200, description = "`Deleted`", body = SuccessResponse), ErrorResponses),
    )]
    pub async fn delete_v2 = delete_v3(
        state: State<AppState>,
        target: EnhancedTarget,
    ) -> ApiResult<Json<SuccessResponse>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("10.169.0.0/24", "10.169.0.0/24")]
    #[case("127.0.0.0", "127.0.0.0/32")]
    #[case("2407:c080:802:be7::/64", "2407:c080:802:be7::/64")]
    #[case("::1", "::1/128")]
    fn cidrs_are_normalised(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(parse_cidr(raw).expect("valid"), expected);
    }

    #[rstest]
    #[case("10.169.0.1/24")]
    #[case("10.169.0.0/33")]
    #[case("not-a-net")]
    #[case("")]
    #[case(" 127.0.0.0/8")]
    #[case("127.0.0.0/8 ")]
    #[case("127.000.0.0/8")]
    #[case("127.0.0.0/08")]
    fn bad_cidrs_are_refused(#[case] raw: &str) {
        parse_cidr(raw).expect_err("invalid");
    }
}
