//! Wire types of the DLI classic datasource-connection API, shared by the server, the
//! CLI client and the tests. Field names and order follow DLI's documentation.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::openapi::schemas;
use crate::domain::Tag;
use crate::probe::{AddressCheck, CheckReport, MAX_ADDRESSES_PER_CHECK, MAX_DETAIL_CHARS, shorten};
use crate::store::{ConnectionRecord, QueueBinding};

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
    #[schema(value_type = schemas::Service, required = true)]
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
    #[schema(value_type = Vec<schemas::QueueName>, max_items = 100)]
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
    #[schema(value_type = schemas::QueueStatus)]
    pub status: String,
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
    #[schema(value_type = Option<schemas::FailureReason>, required = true)]
    pub failure_reason: Option<String>,
    /// After the binding's last check; null before the first.
    #[serde(default)]
    #[schema(value_type = Option<schemas::Connectivity>, required = true)]
    pub connectivity: Option<String>,
    /// Epoch milliseconds of the last check; null before the first.
    #[serde(default)]
    #[schema(required = true)]
    pub last_checked_at: Option<i64>,
}

/// Longest message answered for a connection or binding, in characters: rows stored
/// before messages were summarised can hold one clause per address.
const MAX_MESSAGE_CHARS: usize = 4096;

impl From<QueueBinding> for QueueInfo {
    fn from(binding: QueueBinding) -> Self {
        Self {
            uuid: binding.peer_id.clone(),
            peer_id: binding.peer_id,
            status: binding.status,
            name: binding.queue_name,
            err_msg: shorten(&binding.err_msg, MAX_MESSAGE_CHARS),
            update_time: binding.update_time,
            failure_reason: binding.failure_reason,
            connectivity: binding.connectivity,
            last_checked_at: binding.last_checked_at,
        }
    }
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
    #[schema(value_type = schemas::Connectivity)]
    pub outcome: String,
    /// DNS_FAILED, CONNECTION_REFUSED, TIMEOUT, PROTOCOL_MISMATCH, TLS_ERROR,
    /// DENIED_BY_POLICY or NETWORK_UNREACHABLE; null when reachable.
    #[schema(value_type = Option<schemas::FailureReason>, required = true)]
    pub reason: Option<String>,
    /// What happened, for people.
    pub message: String,
    pub latency_ms: u64,
}

impl From<&AddressCheck> for EndpointCheck {
    fn from(check: &AddressCheck) -> Self {
        Self {
            endpoint: check.endpoint.clone(),
            address: check.address.map(|address| address.to_string()),
            outcome: if check.reachable {
                "REACHABLE"
            } else {
                "UNREACHABLE"
            }
            .to_owned(),
            reason: check.reason.map(|reason| reason.as_str().to_owned()),
            message: shorten(&check.detail, MAX_DETAIL_CHARS),
            latency_ms: check.latency_ms,
        }
    }
}

/// Per-endpoint results of a report, as answered: never more than a check dials, also
/// for reports stored before checks were capped.
pub fn endpoint_checks(report: &CheckReport) -> Vec<EndpointCheck> {
    report
        .checks
        .iter()
        .take(MAX_ADDRESSES_PER_CHECK)
        .map(EndpointCheck::from)
        .collect()
}

/// `{"queues": [...]}` of associate-queue and disassociate-queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"queues": ["etl_queue"]}))]
pub struct QueuesRequest {
    /// 1-100 queue names; repeats count once. `default` is refused (DLI.0007).
    #[serde(default)]
    #[schema(value_type = Vec<schemas::QueueName>, required = true, min_items = 1, max_items = 100)]
    pub queues: Option<Vec<String>>,
}

/// `POST /v2.0/{project_id}/datasource-connection/test`: a definition to try.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"service": "RDS", "url": "db.example.com:3306"}))]
pub struct TestDefinitionRequest {
    /// The peer service, matched case-insensitively.
    #[serde(default)]
    #[schema(value_type = schemas::Service, required = true)]
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
    #[schema(value_type = schemas::Connectivity)]
    pub connectivity: String,
    /// The first failing address's reason when nothing was reachable; null otherwise.
    #[schema(value_type = Option<schemas::FailureReason>, required = true)]
    pub failure_reason: Option<String>,
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
    #[schema(value_type = schemas::ConnectionState)]
    pub state: String,
    /// Share of the check done: 0.0 to 1.0 (DELETED: 0.0, FAILED: 1.0).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub process: f64,
    pub name: String,
    /// The normalised endpoint list (default ports filled in) once ACTIVE; empty before.
    pub connection_url: String,
    /// Always empty.
    pub cluster_name: String,
    #[schema(value_type = schemas::Service)]
    pub service: String,
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
    #[schema(value_type = Vec<schemas::Tag>, required = true)]
    pub tags: Vec<Tag>,
    /// Epoch milliseconds of the last change.
    #[serde(default)]
    #[schema(required = true)]
    pub update_time: i64,
    /// Why the connection FAILED, machine-readable (see `EndpointCheck.reason`).
    #[serde(default)]
    #[schema(value_type = Option<schemas::FailureReason>, required = true)]
    pub failure_reason: Option<String>,
    /// REACHABLE or UNREACHABLE after the last check; null before the first.
    #[serde(default)]
    #[schema(value_type = Option<schemas::Connectivity>, required = true)]
    pub connectivity: Option<String>,
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

impl ConnectionResponse {
    /// The show form: with the last check's per-address results.
    pub fn with_endpoints(mut self, report: Option<&str>) -> Self {
        let report: CheckReport = report
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        self.endpoints = Some(endpoint_checks(&report));
        self.not_checked = Some(report.not_checked);
        self
    }
}

impl From<ConnectionRecord> for ConnectionResponse {
    fn from(record: ConnectionRecord) -> Self {
        let queue_list = record.queues.iter().map(|q| q.queue_name.clone()).collect();
        Self {
            is_success: true,
            message: shorten(&record.message, MAX_MESSAGE_CHARS),
            connection_id: record.id.to_string(),
            destination: record.destination,
            state: record.state.as_str().to_owned(),
            process: record.process,
            name: record.name,
            connection_url: record.connection_url,
            cluster_name: String::new(),
            service: record.service.as_str().to_owned(),
            create_time: record.create_time,
            available_queue_info: record.queues.into_iter().map(QueueInfo::from).collect(),
            queue_list,
            security_group_id: record.security_group_id,
            network_id: record.network_id,
            tags: record.tags,
            update_time: record.update_time,
            failure_reason: record.failure_reason,
            connectivity: record.connectivity,
            last_checked_at: record.last_checked_at,
            endpoints: None,
            not_checked: None,
        }
    }
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
    #[param(value_type = Option<schemas::Service>)]
    pub service: Option<String>,
    /// By `create_time`, then `connection_id` (extension; default `desc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<schemas::SortOrder>)]
    pub order: Option<String>,
}
