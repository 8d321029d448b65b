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

/// `GET /dsconn/v1/projects`: the projects a caller may pick from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectsResponse {
    pub is_success: bool,
    pub message: String,
    /// A caller bound to projects: those. An all-projects caller: every project that
    /// holds a live resource on this server (a connection, an enhanced connection, a
    /// queue, a pool, an auth info or an agent), in order, at most 1,000; any other
    /// project id may still be used.
    pub projects: Vec<String>,
    /// True when there were more than were answered.
    pub truncated: bool,
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
