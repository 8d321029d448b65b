//! Wire types of DLI's elastic resource pools: create, list, update, and a pool's queues
//! with their scaling policies.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::Tag;

use crate::api::types::TagInput;

/// `POST /v3/{project_id}/elastic-resource-pools` body; fields as in
/// [`CreateQueueRequest`], optional here so that errors name them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"elastic_resource_pool_name": "pool_a", "min_cu": 64, "max_cu": 64}))]
pub struct CreatePoolRequest {
    /// The queue name's rules; folded to lower case. Unique in the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128,
             pattern = r"^(?!_)(?![0-9]+$)[A-Za-z0-9_]{1,128}$")]
    pub elastic_resource_pool_name: Option<serde_json::Value>,
    /// 16-32000, at least `min_cu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i32, required = true, minimum = 16, maximum = 32000)]
    pub max_cu: Option<serde_json::Value>,
    /// 16-32000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i32, required = true, minimum = 16, maximum = 32000)]
    pub min_cu: Option<serde_json::Value>,
    /// At most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub description: Option<serde_json::Value>,
    /// An IPv4 CIDR; default `172.16.0.0/12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "172.16.0.0/12")]
    pub cidr_in_vpc: Option<serde_json::Value>,
    /// Only 1 (pay per use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 1)]
    pub charging_mode: Option<serde_json::Value>,
    /// Up to 128 letters, digits, `_` and `-`; default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 128, pattern = "^[A-Za-z0-9_-]*$")]
    pub enterprise_project_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<TagInput>>, max_items = 20)]
    pub tags: Option<serde_json::Value>,
    /// At most 10 string entries; keys up to 128, values up to 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub label: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub ipv6_enable: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatePoolResponse {
    pub is_success: bool,
    pub message: String,
    pub elastic_resource_pool_name: String,
}

/// One pool of `ListElasticResourcePools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PoolItem {
    pub elastic_resource_pool_name: String,
    /// `dsconn`.
    pub owner: String,
    pub resource_id: String,
    /// Always `AVAILABLE`: a pool has no life of its own here.
    pub status: String,
    pub create_time: i64,
    pub update_time: i64,
    pub max_cu: i32,
    pub min_cu: i32,
    pub cidr_in_vpc: String,
    pub charging_mode: i32,
    pub enterprise_project_id: String,
    pub ipv6_enable: bool,
    pub label: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The project's stored queues that name this pool.
    pub queues: Vec<String>,
    /// Extension: the tags given at create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// `GET /v3/{project_id}/elastic-resource-pools`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListPoolsResponse {
    pub is_success: bool,
    pub message: String,
    /// Pools matching the filters, before `limit` and `offset`.
    pub count: u64,
    pub elastic_resource_pools: Vec<PoolItem>,
}

/// `GET /v3/{project_id}/elastic-resource-pools` query, kept as text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListPoolsQuery {
    /// Page size, 1-100 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Matches to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i32>, minimum = 0)]
    pub offset: Option<String>,
    /// Case-insensitive substring of the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only pools in this status (every pool is `AVAILABLE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Tag filter `k1=v1,k2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
}

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
