//! Wire types of the DLI classic datasource-connection API, shared by the server, the
//! CLI client and the tests. Field names and order follow DLI's documentation.

use serde::{Deserialize, Serialize};

use crate::domain::Tag;
use crate::probe::{AddressCheck, CheckReport};
use crate::store::{ConnectionRecord, QueueBinding};

/// `POST /v2.0/{project_id}/datasource-connection` body. Every field is optional here so
/// that a missing one gets a DLI error that names it, rather than a parser message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateConnectionRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagInput>>,
    /// Queues to bind at once (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TagInput {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateConnectionResponse {
    pub is_success: bool,
    pub message: String,
    pub connection_id: String,
}

/// DLI's plain success body, e.g. of a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuccessResponse {
    pub is_success: bool,
    pub message: String,
}

/// One queue's binding, as in DLI's `available_queue_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueInfo {
    pub peer_id: String,
    /// CREATING, ACTIVE or FAILED.
    pub status: String,
    pub name: String,
    pub err_msg: String,
    pub update_time: i64,
    /// The SDK's name for `peer_id`.
    pub uuid: String,
    // Extensions.
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub connectivity: Option<String>,
    #[serde(default)]
    pub last_checked_at: Option<i64>,
}

impl From<QueueBinding> for QueueInfo {
    fn from(binding: QueueBinding) -> Self {
        Self {
            uuid: binding.peer_id.clone(),
            peer_id: binding.peer_id,
            status: binding.status,
            name: binding.queue_name,
            err_msg: binding.err_msg,
            update_time: binding.update_time,
            failure_reason: binding.failure_reason,
            connectivity: binding.connectivity,
            last_checked_at: binding.last_checked_at,
        }
    }
}

/// The outcome of checking one address of an endpoint (extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointCheck {
    pub endpoint: String,
    /// `ip:port`, or null when the name did not resolve (or in simulation).
    pub address: Option<String>,
    /// REACHABLE or UNREACHABLE.
    pub outcome: String,
    /// DNS_FAILED, CONNECTION_REFUSED, TIMEOUT, PROTOCOL_MISMATCH, TLS_ERROR,
    /// DENIED_BY_POLICY or NETWORK_UNREACHABLE; null when reachable.
    pub reason: Option<String>,
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
            message: check.detail.clone(),
            latency_ms: check.latency_ms,
        }
    }
}

/// Per-endpoint results of a report, as answered.
pub fn endpoint_checks(report: &CheckReport) -> Vec<EndpointCheck> {
    report.checks.iter().map(EndpointCheck::from).collect()
}

/// `{"queues": [...]}` of associate-queue and disassociate-queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueuesRequest {
    #[serde(default)]
    pub queues: Option<Vec<String>>,
}

/// `POST /v2.0/{project_id}/datasource-connection/test`: a definition to try.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TestDefinitionRequest {
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The answer of a check run on demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResponse {
    pub is_success: bool,
    pub message: String,
    /// REACHABLE if any address answered as the service should.
    pub connectivity: String,
    pub failure_reason: Option<String>,
    pub endpoints: Vec<EndpointCheck>,
}

/// A connection as listed and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionResponse {
    pub is_success: bool,
    /// Empty unless the connection FAILED: then why, per endpoint.
    pub message: String,
    pub connection_id: String,
    pub destination: String,
    pub state: String,
    pub process: f64,
    pub name: String,
    pub connection_url: String,
    pub cluster_name: String,
    pub service: String,
    pub create_time: i64,
    pub available_queue_info: Vec<QueueInfo>,
    pub queue_list: Vec<String>,
    // Extensions: extra fields DLI clients ignore.
    #[serde(default)]
    pub security_group_id: String,
    #[serde(default)]
    pub network_id: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub update_time: i64,
    /// Why the connection FAILED, machine-readable (see `EndpointCheck::reason`).
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// REACHABLE or UNREACHABLE after the last check; null before the first.
    #[serde(default)]
    pub connectivity: Option<String>,
    #[serde(default)]
    pub last_checked_at: Option<i64>,
    /// Per-address results of the last check; on `show` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<EndpointCheck>>,
}

impl ConnectionResponse {
    /// The show form: with the last check's per-address results.
    pub fn with_endpoints(mut self, report: Option<&str>) -> Self {
        let report: CheckReport = report
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        self.endpoints = Some(endpoint_checks(&report));
        self
    }
}

impl From<ConnectionRecord> for ConnectionResponse {
    fn from(record: ConnectionRecord) -> Self {
        let queue_list = record.queues.iter().map(|q| q.queue_name.clone()).collect();
        Self {
            is_success: true,
            message: record.message,
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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListConnectionsResponse {
    pub is_success: bool,
    pub message: String,
    /// Connections matching the filters, before `limit` and `offset`.
    pub count: u64,
    pub connections: Vec<ConnectionResponse>,
}

/// `GET /v2.0/{project_id}/datasource-connection` query. `tags` is DLI's; the rest are
/// dsconn extensions. Kept as text so that bad values get a DLI error naming them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListConnectionsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}
