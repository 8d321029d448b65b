//! Sharing enhanced connections with other projects: DLI's RunAuthorizationAction (P1)
//! and ListAuthorizationPrivileges (P2) on `edsconnections.<id>` objects, and
//! ShowEnhancedConnectionPrivilege (E10). Only the owner project may read or change a
//! connection's grants; a project it is granted to is refused with 403, anything else is
//! answered like an unknown connection.

pub mod types;

use axum::Json;
use axum::extract::{RawQuery, State};

use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{NamedTarget, ProjectRequest, ProjectTarget, parse_query};
use crate::api::sharing::types::{
    AuthorizationPrivilege, AuthorizationPrivilegesQuery, AuthorizationPrivilegesResponse,
    AuthorizationRequest, ConnectionPrivilege, ConnectionPrivilegesResponse, PrivilegeInput,
};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{ConnectionId, ProjectId, ValidationError, now_millis};
use crate::store::enhanced_sharing::{
    BIND_QUEUE, ConnectionAccess, GrantAction, GrantChange, GrantOutcome, GrantRequest,
    MAX_GRANTEES_PER_CONNECTION,
};

/// DLI's object type of enhanced connections.
pub const OBJECT_TYPE: &str = "edsconnections";

/// Most objects one RunAuthorizationAction may change.
const MAX_OBJECTS_PER_REQUEST: usize = 100;

/// Most privilege names one object of a request may list.
const MAX_PRIVILEGES_PER_OBJECT: usize = 10;

/// Longest piece of client input echoed in an error.
const MAX_ECHO_CHARS: usize = 64;

fn echo(raw: &str) -> String {
    raw.chars().take(MAX_ECHO_CHARS).collect()
}

/// DLI's answer for an enhanced connection the caller cannot see: the id as given (at
/// most 64 characters of it).
pub fn connection_not_exist(raw_id: &str) -> ApiError {
    ApiError::InvalidRequest(format!("Connection {} is not exist.", echo(raw_id)))
}

/// The refusal of what only the owner may do, to a project the connection is granted to.
pub fn shared_only(id: ConnectionId) -> ApiError {
    ApiError::Forbidden(format!(
        "connection {id} is shared with this project for {BIND_QUEUE} only"
    ))
}

/// The connection of a path, for what only its owner may do on a live connection.
pub async fn owned_live_connection(
    state: &AppState,
    project: &ProjectId,
    raw_id: &str,
) -> ApiResult<ConnectionId> {
    let id = ConnectionId::parse(raw_id).ok_or_else(|| connection_not_exist(raw_id))?;
    match state.store.enhanced_access(project, id).await? {
        Some(ConnectionAccess::OwnerLive) => Ok(id),
        Some(ConnectionAccess::Grantee) => Err(shared_only(id)),
        Some(ConnectionAccess::OwnerDeleted) | None => Err(connection_not_exist(raw_id)),
    }
}

/// Splits `edsconnections.<id>` into the connection id (as given), refusing other types.
fn object_connection(object: &str) -> Result<&str, ValidationError> {
    let (object_type, name) = object.split_once('.').unwrap_or((object, ""));
    if object_type != OBJECT_TYPE {
        return Err(ValidationError::new(format!(
            "object type {} is not supported by dsconn",
            echo(object_type)
        )));
    }
    Ok(name)
}

/// A validated RunAuthorizationAction, before the connections are looked up.
struct ParsedGrant {
    grantee: ProjectId,
    action: GrantAction,
    /// (connection id as given, privileges).
    objects: Vec<(String, Vec<String>)>,
}

fn parse_privileges(
    action: GrantAction,
    object: &str,
    input: &PrivilegeInput,
) -> Result<Vec<String>, ValidationError> {
    let listed = input.privileges.as_ref().ok_or_else(|| {
        ValidationError::new(format!("privileges of {} are required", echo(object)))
    })?;
    if listed.len() > MAX_PRIVILEGES_PER_OBJECT {
        return Err(ValidationError::new(format!(
            "at most {MAX_PRIVILEGES_PER_OBJECT} privileges per object are allowed"
        )));
    }
    if listed.is_empty() && action != GrantAction::Update {
        return Err(ValidationError::new(format!(
            "privileges of {} must not be empty (update with [] revokes everything)",
            echo(object)
        )));
    }
    let mut privileges: Vec<String> = Vec::new();
    for privilege in listed {
        if privilege != BIND_QUEUE {
            return Err(ValidationError::new(format!(
                "privilege {} is not supported on {OBJECT_TYPE}: the only privilege is {BIND_QUEUE}",
                echo(privilege)
            )));
        }
        if !privileges.contains(privilege) {
            privileges.push(privilege.clone());
        }
    }
    Ok(privileges)
}

fn validate_grant(
    owner: &ProjectId,
    body: &AuthorizationRequest,
) -> Result<ParsedGrant, ValidationError> {
    let raw_action = body
        .action
        .as_deref()
        .ok_or_else(|| ValidationError::new("action is required: grant, revoke or update"))?;
    let action = GrantAction::parse(raw_action).ok_or_else(|| {
        ValidationError::new(format!(
            "action {} is not one of grant, revoke and update",
            echo(raw_action)
        ))
    })?;
    if body.user_name.as_ref().is_some_and(|name| !name.is_null()) {
        return Err(ValidationError::new(
            "grants to users are not supported; grant to a project with projectId",
        ));
    }
    let raw_grantee = body
        .project_id
        .as_deref()
        .ok_or_else(|| ValidationError::new("projectId is required"))?;
    let grantee = ProjectId::parse(raw_grantee).map_err(|_| {
        ValidationError::new(format!(
            "projectId {} is not a project id: use 1 to 64 letters, digits, '_' and '-'",
            echo(raw_grantee)
        ))
    })?;
    if &grantee == owner {
        return Err(ValidationError::new(
            "a connection cannot be granted to its own project",
        ));
    }
    let inputs = body
        .privileges
        .as_ref()
        .filter(|inputs| !inputs.is_empty())
        .ok_or_else(|| {
            ValidationError::new("privileges is required: list the objects to change")
        })?;
    if inputs.len() > MAX_OBJECTS_PER_REQUEST {
        return Err(ValidationError::new(format!(
            "at most {MAX_OBJECTS_PER_REQUEST} objects per request are allowed, got {}",
            inputs.len()
        )));
    }
    let mut objects: Vec<(String, Vec<String>)> = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let object = input.object.as_deref().ok_or_else(|| {
            ValidationError::new(format!("privileges[{index}].object is required"))
        })?;
        let raw_id = object_connection(object)?;
        let privileges = parse_privileges(action, object, input)?;
        if objects.iter().any(|(seen, _)| seen == raw_id) {
            return Err(ValidationError::new(format!(
                "object {} appears more than once",
                echo(object)
            )));
        }
        objects.push((raw_id.to_owned(), privileges));
    }
    Ok(ParsedGrant {
        grantee,
        action,
        objects,
    })
}

/// `PUT /v1.0/{project_id}/authorization`
#[utoipa::path(
    put,
    path = "/v1.0/{project_id}/authorization",
    operation_id = "RunAuthorizationAction",
    tag = "sharing",
    summary = "Grant, revoke or replace another project's BIND_QUEUE on enhanced connections (all objects or none)",
    params(ProjectPath),
    request_body(content = AuthorizationRequest, content_type = "application/json"),
    responses((status = 200, description = "Applied to every object", body = SuccessResponse), ErrorResponses),
)]
pub async fn run_authorization_action(
    State(state): State<AppState>,
    ProjectRequest {
        project: owner,
        body,
        ..
    }: ProjectRequest,
) -> ApiResult<Json<SuccessResponse>> {
    let parsed = validate_grant(&owner, &body.parse_or_empty()?)?;
    let mut changes = Vec::with_capacity(parsed.objects.len());
    // Every object is checked before anything changes: all or nothing.
    for (raw_id, privileges) in parsed.objects {
        let connection_id = owned_live_connection(&state, &owner, &raw_id).await?;
        changes.push(GrantChange {
            connection_id,
            privileges,
        });
    }
    let request = GrantRequest {
        owner,
        grantee: parsed.grantee,
        action: parsed.action,
        changes,
        now: now_millis(),
    };
    match state.store.apply_grants(&request).await? {
        GrantOutcome::Applied => {}
        // Deleted between the check and the change.
        GrantOutcome::NotFound(id) => return Err(connection_not_exist(&id.to_string())),
        GrantOutcome::TooManyGrantees(id) => {
            return Err(ApiError::CapReached(format!(
                "connection {id} is already granted to the maximum of \
                 {MAX_GRANTEES_PER_CONNECTION} projects; revoke some first"
            )));
        }
    }
    Ok(Json(SuccessResponse::ok()))
}

/// `{connection_id}` of the privileges path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EnhancedConnectionPath {
    /// The enhanced connection's id (a UUID; anything else is answered like an unknown id).
    pub connection_id: String,
}

/// `GET /v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/privileges`
#[utoipa::path(
    get,
    path = "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/privileges",
    operation_id = "ShowEnhancedConnectionPrivilege",
    tag = "sharing",
    summary = "The projects an enhanced connection is granted to (its owner only)",
    params(ProjectPath, EnhancedConnectionPath),
    responses((status = 200, description = "The grants", body = ConnectionPrivilegesResponse), ErrorResponses),
)]
pub async fn show_connection_privileges(
    State(state): State<AppState>,
    NamedTarget {
        project: owner,
        name: raw_id,
    }: NamedTarget,
) -> ApiResult<Json<ConnectionPrivilegesResponse>> {
    let id = owned_live_connection(&state, &owner, &raw_id).await?;
    let grants = state
        .store
        .list_grants(&owner, id)
        .await?
        .ok_or_else(|| connection_not_exist(&raw_id))?;
    let object = format!("{OBJECT_TYPE}.{id}");
    Ok(Json(ConnectionPrivilegesResponse {
        is_success: true,
        message: String::new(),
        connection_id: id.to_string(),
        privileges: grants
            .into_iter()
            .map(|grant| ConnectionPrivilege {
                object: object.clone(),
                applicant_project_id: grant.grantee_project_id.clone(),
                project_id: grant.grantee_project_id,
                privileges: grant.privileges,
            })
            .collect(),
    }))
}

/// `GET /v1.0/{project_id}/authorization/privileges?object=edsconnections.<id>`
#[utoipa::path(
    get,
    path = "/v1.0/{project_id}/authorization/privileges",
    operation_id = "ListAuthorizationPrivileges",
    tag = "sharing",
    summary = "The grantees of an object; dsconn has only edsconnections.<id> objects",
    params(ProjectPath, AuthorizationPrivilegesQuery),
    responses((status = 200, description = "The grantees", body = AuthorizationPrivilegesResponse), ErrorResponses),
)]
pub async fn list_authorization_privileges(
    State(state): State<AppState>,
    ProjectTarget { project: owner, .. }: ProjectTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<AuthorizationPrivilegesResponse>> {
    let query: AuthorizationPrivilegesQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let object = query
        .object
        .ok_or_else(|| ApiError::InvalidRequest("object is required".into()))?;
    let raw_id = object_connection(&object)?;
    let id = owned_live_connection(&state, &owner, raw_id).await?;
    let grants = state
        .store
        .list_grants(&owner, id)
        .await?
        .ok_or_else(|| connection_not_exist(raw_id))?;
    let object = format!("{OBJECT_TYPE}.{id}");
    let privileges: Vec<AuthorizationPrivilege> = grants
        .into_iter()
        .map(|grant| AuthorizationPrivilege {
            object: object.clone(),
            is_admin: false,
            user_name: String::new(),
            project_id: grant.grantee_project_id,
            privileges: grant.privileges,
        })
        .collect();
    Ok(Json(AuthorizationPrivilegesResponse {
        is_success: true,
        message: String::new(),
        object_name: id.to_string(),
        object_type: OBJECT_TYPE.to_owned(),
        count: u64::try_from(privileges.len()).unwrap_or(u64::MAX),
        privileges,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> ProjectId {
        ProjectId::parse("owner").expect("valid")
    }

    fn body(value: serde_json::Value) -> AuthorizationRequest {
        serde_json::from_value(value).expect("shape")
    }

    fn refusal(value: serde_json::Value) -> String {
        match validate_grant(&owner(), &body(value)) {
            Ok(_) => panic!("must be refused"),
            Err(error) => error.0,
        }
    }

    #[test]
    fn objects_of_other_types_are_refused_by_type() {
        let error = refusal(serde_json::json!({
            "projectId": "other", "action": "grant",
            "privileges": [{"object": "jobs.flink.1", "privileges": ["BIND_QUEUE"]}]
        }));
        assert_eq!(error, "object type jobs is not supported by dsconn");
    }

    #[test]
    fn users_self_grants_and_unknown_privileges_are_refused() {
        let object = "edsconnections.2a620c33-5609-40c9-affd-2b6453071b0f";
        assert!(
            refusal(serde_json::json!({"user_name": "u", "action": "grant",
            "privileges": [{"object": object, "privileges": ["BIND_QUEUE"]}]}))
            .starts_with("grants to users are not supported")
        );
        assert!(
            refusal(serde_json::json!({"projectId": "owner", "action": "grant",
            "privileges": [{"object": object, "privileges": ["BIND_QUEUE"]}]}))
            .contains("own project")
        );
        assert!(
            refusal(serde_json::json!({"projectId": "other", "action": "grant",
            "privileges": [{"object": object, "privileges": ["SELECT"]}]}))
            .starts_with("privilege SELECT is not supported")
        );
        assert!(
            refusal(serde_json::json!({"projectId": "other", "action": "grant",
            "privileges": [{"object": object, "privileges": []}]}))
            .contains("must not be empty")
        );
    }

    #[test]
    fn an_update_may_empty_the_privileges_and_duplicates_collapse() {
        let object = "edsconnections.2a620c33-5609-40c9-affd-2b6453071b0f";
        let parsed = validate_grant(
            &owner(),
            &body(serde_json::json!({"projectId": "other", "action": "update",
                "privileges": [{"object": object, "privileges": []}]})),
        )
        .expect("valid");
        assert!(parsed.objects[0].1.is_empty());
        let parsed = validate_grant(
            &owner(),
            &body(serde_json::json!({"projectId": "other", "action": "grant",
                "privileges": [{"object": object, "privileges": ["BIND_QUEUE", "BIND_QUEUE"]}]})),
        )
        .expect("valid");
        assert_eq!(parsed.objects[0].1, vec![BIND_QUEUE.to_owned()]);
    }
}
