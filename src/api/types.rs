//! Wire types of the DLI classic datasource-connection API, shared by the server, the
//! CLI client and the tests. Field names and order follow DLI's documentation.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{
    BindingStatus, ConnectionState, FailureReason, QueueName, Reachability, Service, Tag,
};

/// `POST /v2.0/{project_id}/datasource-connection` body. Every field is optional here so
/// that a missing one gets a DLI error that names it, rather than a parser message; the
/// OpenAPI document describes the body a client must send.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(
    description = "A connection to create. Unknown fields are ignored.",
    example = json!({
        "name": "orders_db",
        "service": "RDS",
        "security_group_id": "sg-0123",
        "network_id": "net-0123",
        "url": "db.example.com:3306",
        "tags": [{"key": "team", "value": "data"}]
    })
)]
pub struct CreateConnectionRequest {
    /// 1-64 letters, digits, `_` and `-`; unique among the project's live connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    /// The peer service, matched case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Service, required = true)]
    pub service: Option<String>,
    /// Non-empty (not only spaces), at most 64 characters, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64, example = "sg-0123")]
    pub security_group_id: Option<String>,
    /// Non-empty (not only spaces), at most 64 characters, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64, example = "net-0123")]
    pub network_id: Option<String>,
    /// Comma-separated endpoints `host[:port]` (DNS name, IPv4 or bracketed IPv6; no
    /// scheme); a missing port is the service's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 512, example = "db.example.com:3306,10.0.0.7")]
    pub url: Option<String>,
    /// At most 20 tags with distinct keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<TagInput>, max_items = 20)]
    pub tags: Option<Vec<TagInput>>,
    /// Queues to bind at once (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<QueueName>, max_items = 100)]
    pub queues: Option<Vec<String>>,
}

/// A tag of a create body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TagInput {
    /// 1-128 letters, digits, spaces and `_ . : = + - @`, not starting or ending with a
    /// space; must not start with `_sys_`.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128)]
    pub key: Option<String>,
    /// 0-255 characters of the same set.
    #[serde(default)]
    #[schema(value_type = String, required = true, max_length = 255)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateConnectionResponse {
    pub is_success: bool,
    pub message: String,
    /// The new connection's id (or, for a retried create, the existing one's).
    #[schema(format = Uuid)]
    pub connection_id: String,
}

/// DLI's plain success body, e.g. of a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SuccessResponse {
    pub is_success: bool,
    pub message: String,
}

/// One queue's binding, as in DLI's `available_queue_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueInfo {
    pub peer_id: String,
    /// CREATING, ACTIVE or FAILED.
    pub status: BindingStatus,
    /// The queue's name.
    pub name: String,
    /// Why the binding FAILED; empty otherwise.
    pub err_msg: String,
    /// Epoch milliseconds.
    pub update_time: i64,
    /// The SDK's name for `peer_id`.
    pub uuid: String,
    // Extensions.
    /// Why the binding FAILED, machine-readable; null otherwise.
    #[serde(default)]
    #[schema(required = true)]
    pub failure_reason: Option<FailureReason>,
    /// After the binding's last check; null before the first.
    #[serde(default)]
    #[schema(required = true)]
    pub connectivity: Option<Reachability>,
    /// Epoch milliseconds of the last check; null before the first.
    #[serde(default)]
    #[schema(required = true)]
    pub last_checked_at: Option<i64>,
    /// Where the last check ran: `server` (dsconn's own host) or `agent:<name>` (an
    /// agent in the queue's network); null before the first.
    #[serde(default)]
    #[schema(required = true, example = "agent:etl-vpc-1")]
    pub checked_from: Option<String>,
}

/// The outcome of checking one address of an endpoint (extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EndpointCheck {
    /// The endpoint as normalised, `host:port`.
    pub endpoint: String,
    /// `ip:port`, or null when the name did not resolve (or in simulation).
    #[schema(required = true)]
    pub address: Option<String>,
    /// REACHABLE or UNREACHABLE.
    pub outcome: Reachability,
    /// DNS_FAILED, CONNECTION_REFUSED, TIMEOUT, PROTOCOL_MISMATCH, TLS_ERROR,
    /// DENIED_BY_POLICY or NETWORK_UNREACHABLE; null when reachable.
    #[schema(required = true)]
    pub reason: Option<FailureReason>,
    /// What happened, for people.
    pub message: String,
    pub latency_ms: u64,
}

/// `{"queues": [...]}` of associate-queue and disassociate-queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"queues": ["etl_queue"]}))]
pub struct QueuesRequest {
    /// 1-100 queue names; repeats count once. `default` is refused (DLI.0007).
    #[serde(default)]
    #[schema(value_type = Vec<QueueName>, required = true, min_items = 1, max_items = 100)]
    pub queues: Option<Vec<String>>,
}

/// `POST /v2.0/{project_id}/datasource-connection/test`: a definition to try.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"service": "RDS", "url": "db.example.com:3306"}))]
pub struct TestDefinitionRequest {
    /// The peer service, matched case-insensitively.
    #[serde(default)]
    #[schema(value_type = Service, required = true)]
    pub service: Option<String>,
    /// Comma-separated endpoints, as in a create.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 512, example = "db.example.com:3306")]
    pub url: Option<String>,
}

/// The answer of a check run on demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TestResponse {
    pub is_success: bool,
    /// Empty, or how many addresses the per-name and per-check caps left out.
    pub message: String,
    /// REACHABLE if any address answered as the service should.
    pub connectivity: Reachability,
    /// The first failing address's reason when nothing was reachable; null otherwise.
    #[schema(required = true)]
    pub failure_reason: Option<FailureReason>,
    /// One entry per address checked (per endpoint when DNS failed).
    pub endpoints: Vec<EndpointCheck>,
    /// Addresses not dialled because of the caps (at most 16 per name, 64 per check); a
    /// name not looked up at all counts as one.
    #[serde(default)]
    #[schema(required = true)]
    pub not_checked: u64,
}

/// A connection as listed and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionResponse {
    pub is_success: bool,
    /// Empty unless the connection FAILED: then why, per endpoint.
    pub message: String,
    #[schema(format = Uuid)]
    pub connection_id: String,
    /// The `url` as given at create.
    pub destination: String,
    pub state: ConnectionState,
    /// Share of the check done: 0.0 to 1.0 (DELETED: 0.0, FAILED: 1.0).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub process: f64,
    pub name: String,
    /// The normalised endpoint list (default ports filled in) once ACTIVE; empty before.
    pub connection_url: String,
    /// Always empty.
    pub cluster_name: String,
    pub service: Service,
    /// Epoch milliseconds.
    pub create_time: i64,
    /// One entry per bound queue.
    pub available_queue_info: Vec<QueueInfo>,
    /// The bound queues' names.
    pub queue_list: Vec<String>,
    // Extensions: extra fields DLI clients ignore.
    #[serde(default)]
    #[schema(required = true)]
    pub security_group_id: String,
    #[serde(default)]
    #[schema(required = true)]
    pub network_id: String,
    /// The tags given at create, as given.
    #[serde(default)]
    #[schema(required = true)]
    pub tags: Vec<Tag>,
    /// Epoch milliseconds of the last change.
    #[serde(default)]
    #[schema(required = true)]
    pub update_time: i64,
    /// Why the connection FAILED, machine-readable (see `EndpointCheck.reason`).
    #[serde(default)]
    #[schema(required = true)]
    pub failure_reason: Option<FailureReason>,
    /// REACHABLE or UNREACHABLE after the last check; null before the first.
    #[serde(default)]
    #[schema(required = true)]
    pub connectivity: Option<Reachability>,
    /// Epoch milliseconds of the last check; null before the first.
    #[serde(default)]
    #[schema(required = true)]
    pub last_checked_at: Option<i64>,
    /// Per-address results of the last check; on `show` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<EndpointCheck>)]
    pub endpoints: Option<Vec<EndpointCheck>>,
    /// Addresses the last check left out because of the caps (see `TestResponse`); on
    /// `show` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = u64)]
    pub not_checked: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListConnectionsResponse {
    pub is_success: bool,
    pub message: String,
    /// Connections matching the filters, before `limit` and `offset`.
    pub count: u64,
    pub connections: Vec<ConnectionResponse>,
}

/// `GET /v2.0/{project_id}/datasource-connection` query. `tags` is DLI's; the rest are
/// dsconn extensions. Kept as text so that bad values get a DLI error naming them; the
/// OpenAPI document gives the types the values must have.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListConnectionsQuery {
    /// DLI's tag filter `k1=v1,k2`: every term must match; a bare key matches any value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "team=data")]
    pub tags: Option<String>,
    /// Page size (extension). Without it the whole list is answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Matches to skip (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    pub offset: Option<String>,
    /// Case-insensitive substring of the name (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Comma-separated states, any of which matches, e.g. `ACTIVE,FAILED` (extension;
    /// case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(
        pattern = r"^(?:CREATING|ACTIVE|FAILED|DELETED)(?:,(?:CREATING|ACTIVE|FAILED|DELETED))*$"
    )]
    pub state: Option<String>,
    /// Only connections to this service (extension; case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<Service>)]
    pub service: Option<String>,
    /// By `create_time`, then `connection_id` (extension; default `desc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<SortOrder>)]
    pub order: Option<String>,
}

/// List order by `create_time`, then `connection_id`; matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

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

// ---- Queues and elastic resource pools (DLI's API; fields dsconn gives no meaning are
// validated, stored and echoed) ----

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
