//! Wire types of DLI's classic datasource-connection API, shared by the server, the
//! CLI client and the tests. Field names and order follow DLI's documentation.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::types::{EndpointCheck, TagInput};
use crate::domain::{
    BindingStatus, ConnectionState, FailureReason, PrivilegeRequest, QueueName, Reachability,
    Service, StageResult, Tag,
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
    /// An auth info of the project (extension, issue 26): every check of the connection
    /// from its queues then logs in, queries and checks `privileges`, and a binding whose
    /// login, query or privileges FAILED is FAILED. RDS, DWS and CSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info_name: Option<String>,
    /// The database those checks log in to (with `auth_info_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// What the jobs need, checked in the source's own catalog (with `auth_info_name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<PrivilegeRequest>,
}

/// `PUT .../datasource-connection/{connection_id}/auth-info` (extension, issue 26): the
/// auth info a connection's checks from its queues log in with; null clears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConnectionAuthInfoRequest {
    #[serde(default)]
    pub auth_info_name: Option<String>,
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub privileges: Vec<PrivilegeRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateConnectionResponse {
    pub is_success: bool,
    pub message: String,
    /// The new connection's id (or, for a retried create, the existing one's).
    #[schema(format = Uuid)]
    pub connection_id: String,
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
    /// What each stage of the last check found, when the connection names an auth info
    /// (issue 26); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageResult>>,
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
    /// The auth info every check of it from its queues logs in with (issue 26); absent:
    /// reachability only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info_name: Option<String>,
    /// The database those checks log in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The privileges those checks verify.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<PrivilegeRequest>,
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
