//! Wire types of sharing enhanced connections (RunAuthorizationAction,
//! ListAuthorizationPrivileges, ShowEnhancedConnectionPrivilege), as DLI's definitions
//! name their fields.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One object of a RunAuthorizationAction body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PrivilegeInput {
    /// `edsconnections.<connection_id>`; other object types are not supported.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "edsconnections.2a620c33-5609-40c9-affd-2b6453071b0f")]
    pub object: Option<String>,
    /// `["BIND_QUEUE"]`, the only privilege of a connection; `[]` with `update` revokes.
    #[serde(default)]
    #[schema(value_type = Vec<String>, required = true, max_items = 10, example = json!(["BIND_QUEUE"]))]
    pub privileges: Option<Vec<String>>,
}

/// `PUT /v1.0/{project_id}/authorization`'s body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationRequest {
    /// The project the connections are granted to (not the caller's own).
    #[serde(default, rename = "projectId", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, example = "330e068af1334c9782f4226acc00a2e2")]
    pub project_id: Option<String>,
    /// Refused: dsconn grants to projects only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub user_name: Option<serde_json::Value>,
    /// `grant`, `revoke` or `update`.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "grant")]
    pub action: Option<String>,
    /// 1-100 objects; all are changed or none.
    #[serde(default)]
    #[schema(value_type = Vec<PrivilegeInput>, required = true, max_items = 100)]
    pub privileges: Option<Vec<PrivilegeInput>>,
}

/// One project's grant, as ShowEnhancedConnectionPrivilege lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionPrivilege {
    /// `edsconnections.<connection_id>`.
    pub object: String,
    /// The grantee project.
    pub applicant_project_id: String,
    /// The same value as `applicant_project_id` (what Terraform reads).
    pub project_id: String,
    pub privileges: Vec<String>,
}

/// `GET .../enhanced-connections/{connection_id}/privileges`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionPrivilegesResponse {
    pub is_success: bool,
    pub message: String,
    pub connection_id: String,
    pub privileges: Vec<ConnectionPrivilege>,
}

/// `GET /v1.0/{project_id}/authorization/privileges`'s query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizationPrivilegesQuery {
    /// `edsconnections.<connection_id>`: the only object type dsconn has.
    #[param(required = true)]
    pub object: Option<String>,
}

/// One grantee of an object, as ListAuthorizationPrivileges lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationPrivilege {
    /// `edsconnections.<connection_id>`.
    pub object: String,
    /// Always false: grants are to projects, never to users or administrators.
    pub is_admin: bool,
    /// Always `""`: grants are to projects.
    pub user_name: String,
    /// The grantee project (an extension of the definition).
    pub project_id: String,
    pub privileges: Vec<String>,
}

/// `GET /v1.0/{project_id}/authorization/privileges`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationPrivilegesResponse {
    pub is_success: bool,
    pub message: String,
    /// The connection id.
    pub object_name: String,
    /// `edsconnections`.
    pub object_type: String,
    /// How many grantees `privileges` lists.
    pub count: u64,
    pub privileges: Vec<AuthorizationPrivilege>,
}
