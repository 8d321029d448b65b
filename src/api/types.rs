//! Wire types of the DLI classic datasource-connection API, shared by the server, the
//! CLI client and the tests. Field names and order follow DLI's documentation.

use serde::{Deserialize, Serialize};

use crate::domain::Tag;
use crate::store::ConnectionRecord;

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

/// One queue's binding. dsconn has no queues bound until queue binding lands, but the
/// array is always present, as in DLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueInfo {
    pub peer_id: String,
    pub status: String,
    pub name: String,
    pub err_msg: String,
    pub update_time: i64,
    /// The SDK's name for `peer_id`.
    pub uuid: String,
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
}

impl From<ConnectionRecord> for ConnectionResponse {
    fn from(record: ConnectionRecord) -> Self {
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
            available_queue_info: Vec::new(),
            queue_list: Vec::new(),
            security_group_id: record.security_group_id,
            network_id: record.network_id,
            tags: record.tags,
            update_time: record.update_time,
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
