//! Wire types of the calls that change queues and pools after their create, and of the
//! calls around them (issue 27): a pool's queues and their scaling policies, pool update,
//! queue action and CIDR, queue properties, quotas and DLI's agency. Request bodies keep
//! their fields as JSON values so that a missing or mistyped one gets a DLI error that
//! names it; the schema gives the types.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One scaling policy of a queue in a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueScalingPolicy {
    /// 1-100.
    pub priority: i32,
    /// `HH:MM`, 00:00-23:59 (a whole hour in DLI's console).
    pub impact_start_time: String,
    /// `HH:MM`, 00:00-24:00.
    pub impact_stop_time: String,
    pub min_cu: i32,
    pub max_cu: i32,
    /// Whether the queue may grow to the pool's `max_cu` (stored and echoed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit_elastic_resource_pool_max_cu: Option<bool>,
}

/// One queue of `GET /v3/{project_id}/elastic-resource-pools/{pool}/queues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PoolQueueItem {
    pub queue_name: String,
    pub enterprise_project_id: String,
    /// `sql` or `general`.
    pub queue_type: String,
    pub queue_scaling_policies: Vec<QueueScalingPolicy>,
    /// `dsconn`.
    pub owner: String,
    /// Epoch milliseconds.
    pub create_time: i64,
    /// `spark` unless the queue was created with another.
    pub engine: String,
}

/// `GET /v3/{project_id}/elastic-resource-pools/{pool}/queues`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListPoolQueuesResponse {
    pub is_success: bool,
    pub message: String,
    /// Matching queues, before `offset` and `limit`.
    pub count: u64,
    pub queues: Vec<PoolQueueItem>,
}

/// `GET /v3/{project_id}/elastic-resource-pools/{pool}/queues` query, kept as text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListPoolQueuesQuery {
    /// Only this queue (case-insensitive, exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    /// Matches to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i32>, minimum = 0)]
    pub offset: Option<String>,
    /// Page size, 1-100 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// `POST /v3/{project_id}/elastic-resource-pools/{pool}/queues` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AssociatePoolQueueRequest {
    /// A stored queue of the project that is in no pool yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, max_length = 128)]
    pub queue_name: Option<serde_json::Value>,
}

/// `PUT /v3/{project_id}/elastic-resource-pools/{pool}/queues/{queue}` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdatePoolQueueRequest {
    /// The queue's policies, replacing the stored ones (at most 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<QueueScalingPolicy>, required = true, max_items = 24)]
    pub queue_scaling_policies: Option<serde_json::Value>,
}

/// `PUT /v3/{project_id}/elastic-resource-pools/{pool}` body: what is given replaces
/// the stored value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdatePoolRequest {
    /// At most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub description: Option<serde_json::Value>,
    /// 16-32000, at least `min_cu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i32>, minimum = 16, maximum = 32000)]
    pub max_cu: Option<serde_json::Value>,
    /// 16-32000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i32>, minimum = 16, maximum = 32000)]
    pub min_cu: Option<serde_json::Value>,
    /// At most 10 string entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub label: Option<serde_json::Value>,
}

/// `PUT /v1.0/{project_id}/queues/{queue_name}/action` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct QueueActionRequest {
    /// `restart`, `scale_out` or `scale_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, pattern = "^(restart|scale_out|scale_in)$")]
    pub action: Option<serde_json::Value>,
    /// Restart even with running jobs (accepted, no effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub force: Option<serde_json::Value>,
    /// CUs to add (`scale_out`) or remove (`scale_in`); required for those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 32000)]
    pub cu_count: Option<serde_json::Value>,
}

/// `PUT /v1.0/{project_id}/queues/{queue_name}/action` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueActionResponse {
    pub is_success: bool,
    pub message: String,
    pub queue_name: String,
    /// A new id for each action (no job runs behind it here).
    pub job_id: String,
    /// Always true: the stored count changes at once.
    pub result: bool,
}

/// `PUT /v1.0/{project_id}/queues/{queue_name}` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateQueueCidrRequest {
    /// An IPv4 CIDR inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, example = "172.16.0.0/12")]
    pub cidr_in_vpc: Option<serde_json::Value>,
}

/// One queue property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueProperty {
    pub key: String,
    pub value: String,
}

/// `GET /v3/{project_id}/queues/{queue_name}/properties`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListQueuePropertiesResponse {
    pub is_success: bool,
    pub message: String,
    /// Properties before `offset` and `limit`.
    pub count: u64,
    pub properties: Vec<QueueProperty>,
}

/// `GET .../properties` query, kept as text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQueuePropertiesQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i32>, minimum = 0)]
    pub offset: Option<String>,
    /// 1-100 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// `POST`/`PUT /v3/{project_id}/queues/{queue_name}/properties` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PutQueuePropertiesRequest {
    /// DLI's keys with their values (numbers or strings): `computeEngine.maxInstance`,
    /// `job.maxConcurrent`, `computeEngine.maxPrefetchInstance`, `network.cidrInVpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, required = true)]
    pub properties: Option<serde_json::Value>,
}

/// `DELETE /v3/{project_id}/queues/{queue_name}/properties` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DeleteQueuePropertiesRequest {
    /// Keys to remove (unknown or unset ones are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<String>, required = true)]
    pub keys: Option<serde_json::Value>,
}

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
