//! Wire types of DLI's agency (the permissions DLI is given).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v2/{project_id}/agency` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateAgencyRequest {
    /// The roles granted to DLI (replacing the stored ones); `[]` removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<String>, required = true, max_items = 32)]
    pub roles: Option<serde_json::Value>,
}

/// `GET /v2/{project_id}/agency`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShowAgencyResponse {
    pub is_success: bool,
    pub message: String,
    pub current_roles: Vec<String>,
    /// `v2`: DLI's agency version (dsconn keeps an update count apart).
    pub version: String,
}
