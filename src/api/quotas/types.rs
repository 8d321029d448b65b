//! Wire types of DLI's quotas.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One resource type of `GET /v3/{project_id}/quotas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaResource {
    /// DLI's types (`CU`, `QUEUE`, `ELASTIC_RESOURCE_POOL`, ...) and dsconn's own
    /// (`DSCONN_CONNECTION`, `DSCONN_ENHANCED_CONNECTION`, `DSCONN_AUTH_INFO`).
    #[serde(rename = "type")]
    pub kind: String,
    pub min: i64,
    pub max: i64,
    pub quota: i64,
    pub used: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quotas {
    pub resources: Vec<QuotaResource>,
}

/// `GET /v3/{project_id}/quotas`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShowQuotaResponse {
    pub is_success: bool,
    pub message: String,
    pub quotas: Quotas,
}

/// `GET /v3/{project_id}/quotas` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShowQuotaQuery {
    /// Only this resource type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
}
