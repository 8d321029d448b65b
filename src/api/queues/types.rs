//! Wire types of DLI's queues: create, list and show, the calls that change a queue
//! after its create (action, CIDR) and its properties. Fields dsconn gives no meaning
//! are validated, stored and echoed; request bodies of the changes keep their fields as
//! JSON values so that a missing or mistyped one gets a DLI error that names it.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::Tag;

use crate::api::types::TagInput;

/// `POST /v1.0/{project_id}/queues` body. Every field is optional here so that a missing
/// or mistyped one gets a DLI error that names it; the schema gives the types.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"queue_name": "etl_queue", "cu_count": 16, "queue_type": "general"}))]
pub struct CreateQueueRequest {
    /// 1-128 letters, digits and `_`, not only digits, not starting with `_`; folded to
    /// lower case. Unique in the project, declared queues included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128,
             pattern = r"^(?!_)(?![0-9]+$)[A-Za-z0-9_]{1,128}$")]
    pub queue_name: Option<serde_json::Value>,
    /// 1-32000 (stored and echoed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i32, required = true, minimum = 1, maximum = 32000)]
    pub cu_count: Option<serde_json::Value>,
    /// `sql` (the default) or `general`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(sql|general)$")]
    pub queue_type: Option<serde_json::Value>,
    /// At most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub description: Option<serde_json::Value>,
    /// 1 or 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 2)]
    pub charging_mode: Option<serde_json::Value>,
    /// Up to 128 letters, digits, `_` and `-`; default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 128, pattern = "^[A-Za-z0-9_-]*$")]
    pub enterprise_project_id: Option<serde_json::Value>,
    /// CPU architecture, e.g. `x86_64`: up to 64 letters, digits, `_`, `.` and `-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub platform: Option<serde_json::Value>,
    /// 0 (shared) or 1 (dedicated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1)]
    pub resource_mode: Option<serde_json::Value>,
    /// At most 10 items, each at most 256 characters as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>, max_items = 10)]
    pub labels: Option<serde_json::Value>,
    /// Up to 64 letters, digits, `_` and `-`, e.g. `basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub feature: Option<serde_json::Value>,
    /// At most 20 tags with distinct keys (the rules of a connection's tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<TagInput>>, max_items = 20)]
    pub tags: Option<serde_json::Value>,
    /// A pool name (1-128 letters, digits and `_`); stored and echoed, not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 128)]
    pub elastic_resource_pool_name: Option<serde_json::Value>,
    /// At most 20 string properties; keys up to 128, values up to 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
    /// `spark` or `hetuEngine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(spark|hetuEngine)$")]
    pub engine: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateQueueResponse {
    pub is_success: bool,
    pub message: String,
    /// The new queue's name, lower case.
    pub queue_name: String,
}

/// The fields a queue echoes; absent ones are left out (not null).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueEcho {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_mode: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_mode: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elastic_resource_pool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The labels given at create, as a JSON text (DLI answers them as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    /// Extension: the tags given at create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Extension: the properties given at create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One queue of `ListQueues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueItem {
    pub queue_name: String,
    /// `dsconn`: queues have no owning user here.
    pub owner: String,
    /// Epoch milliseconds; 0 for a declared queue.
    pub create_time: i64,
    /// `sql` or `general`.
    pub queue_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cu_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The queue's network: its own CIDR, else its pool's, else DLI's default
    /// 172.16.0.0/12 (what a bind's CIDR check uses).
    #[serde(default)]
    pub cidr_in_vpc: String,
    #[serde(flatten)]
    pub echo: QueueEcho,
    /// Extension: declared by the server's configuration (`serve --queue`); cannot be
    /// deleted.
    pub declared: bool,
    /// Extension: the queue's online agents, which run its checks from its own network
    /// (empty: the server checks it).
    pub agents: Vec<crate::api::agent_types::QueueAgent>,
}

/// `GET /v1.0/{project_id}/queues`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListQueuesResponse {
    pub is_success: bool,
    pub message: String,
    pub queues: Vec<QueueItem>,
}

/// `GET /v1.0/{project_id}/queues/{queue_name}`: DLI spells four of these fields in
/// camelCase (`queueName`, `queueType`, `cuCount`, `chargingMode`), as the SDK reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShowQueueResponse {
    pub is_success: bool,
    pub message: String,
    #[serde(rename = "queueName")]
    pub queue_name: String,
    pub owner: String,
    pub create_time: i64,
    #[serde(rename = "queueType")]
    pub queue_type: String,
    #[serde(rename = "cuCount", default, skip_serializing_if = "Option::is_none")]
    pub cu_count: Option<i32>,
    #[serde(
        rename = "chargingMode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub charging_mode: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_mode: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elastic_resource_pool_name: Option<String>,
    // Extensions (snake case, as in the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// Declared by the server's configuration; cannot be deleted.
    pub declared: bool,
    /// Extension: the queue's online agents, which run its checks from its own network
    /// (empty: the server checks it).
    pub agents: Vec<crate::api::agent_types::QueueAgent>,
}

/// `GET /v1.0/{project_id}/queues` query, kept as text so that bad values get a DLI error.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQueuesQuery {
    /// `sql` (the default, as in DLI), `general` or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, pattern = "^(sql|general|all)$")]
    pub queue_type: Option<String>,
    /// Tag filter `k1=v1,k2`: every term must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// Accepted and ignored (dsconn has no charging).
    #[serde(
        rename = "with-charge-info",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[param(rename = "with-charge-info", value_type = Option<bool>)]
    pub with_charge_info: Option<String>,
    /// Accepted and ignored (dsconn has no per-queue privileges).
    #[serde(rename = "with-priv", default, skip_serializing_if = "Option::is_none")]
    #[param(rename = "with-priv", value_type = Option<bool>)]
    pub with_priv: Option<String>,
    /// Page size, 1-1000; without it every queue is answered (Terraform's data source
    /// sends 100 and reads pages until one is short).
    #[serde(rename = "page-size", default, skip_serializing_if = "Option::is_none")]
    #[param(rename = "page-size", value_type = Option<i32>, minimum = 1, maximum = 1000)]
    pub page_size: Option<String>,
    /// The page to answer, from 1 (default 1); only with `page-size`.
    #[serde(
        rename = "current-page",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[param(rename = "current-page", value_type = Option<i32>, minimum = 1)]
    pub current_page: Option<String>,
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
