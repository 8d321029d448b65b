//! Wire types of the service's own endpoints: whoami, liveness and readiness.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// `--auth none`: local emulation.
    Anonymous,
    AccessKey,
    Token,
}

/// `GET /dsconn/v1/whoami`: who the caller is and which projects it may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WhoamiResponse {
    pub is_success: bool,
    pub message: String,
    pub kind: PrincipalKind,
    /// The access key or the token's id; null when anonymous.
    #[schema(required = true)]
    pub id: Option<String>,
    /// Whether every project is open to the caller; `projects` is then empty.
    pub all_projects: bool,
    /// The projects the caller may use, unless `all_projects`.
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
}

/// `GET /healthz`: the process is alive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    #[schema(inline)]
    pub status: HealthStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadyStatus {
    Ready,
}

/// `GET /readyz`: the store answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReadyResponse {
    #[schema(inline)]
    pub status: ReadyStatus,
}
