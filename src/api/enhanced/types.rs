//! Wire types of DLI's enhanced datasource-connection API (E1-E9 and the v2.0 route
//! twins), shared by the server, the CLI client and the tests. Field names follow the
//! official definitions (`isPrivis` is camelCase there).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// The host entry is shared with tests' own hosts (api/types.rs), so it lives there.
pub use crate::api::types::EnhancedConnectionHost;
use crate::api::types::TagInput;

/// `POST /v2.0/{project_id}/datasource/enhanced-connections` body. Fields are optional
/// here so that a missing one gets a DLI error that names it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(
    description = "An enhanced connection to create. Unknown fields are ignored; \
        `\"queues\": []` and `\"tags\": null` (what Terraform sends) are accepted.",
    example = json!({
        "name": "orders_vpc",
        "dest_vpc_id": "22094d8f-c310-4621-913d-4c4d655d8495",
        "dest_network_id": "78f2562a-36e4-4b39-95b9-f5aab22e1281",
        "elastic_resource_pools": ["pool_1"],
        "hosts": [{"name": "db-primary", "ip": "192.168.0.10"}],
        "tags": [{"key": "team", "value": "data"}]
    })
)]
pub struct CreateEnhancedConnectionRequest {
    /// 1-64 letters, digits, `_` and `-`; unique among the project's live enhanced
    /// connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    /// The data source's VPC id: 1-64 characters, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64)]
    pub dest_vpc_id: Option<String>,
    /// The data source's subnet id: 1-64 characters, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64)]
    pub dest_network_id: Option<String>,
    /// Pools of the project to bind at once (at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub elastic_resource_pools: Option<Vec<String>>,
    /// Queues of the project to bind at once (at most 100; not `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub queues: Option<Vec<String>>,
    /// The route table of the data source's subnet (stored, echoed nowhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub routetable_id: Option<String>,
    /// Custom host entries (at most 20,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20000)]
    pub hosts: Option<Vec<EnhancedConnectionHost>>,
    /// At most 20 tags with distinct keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub tags: Option<Vec<TagInput>>,
}

/// E1's answer (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"is_success": true, "message": "", "connection_id": "2a620c33-5609-40c9-affd-2b6453071b0f"}))]
pub struct CreateEnhancedConnectionResponse {
    pub is_success: bool,
    pub message: String,
    pub connection_id: String,
}

/// A custom route of a connection (read by Terraform from E2 and E3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnhancedConnectionRoute {
    pub name: String,
    /// Normalised CIDR, e.g. `10.169.0.0/24`.
    pub cidr: String,
    /// Epoch ms.
    pub create_time: i64,
}

/// One bound queue or pool ("peer connection").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnhancedConnectionResource {
    /// The binding's id (UUID).
    pub peer_id: String,
    /// CREATING, ACTIVE or FAILED.
    pub status: String,
    /// The queue's or pool's name.
    pub name: String,
    /// Why it FAILED; `""` otherwise.
    pub err_msg: String,
    /// Epoch ms of the last change.
    pub update_time: i64,
    /// Extension: where the binding was set up (`server` or `agent:<name>`), once set up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_from: Option<String>,
}

/// An enhanced connection as E2 lists it and E3 shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnhancedConnection {
    pub id: String,
    pub name: String,
    /// ACTIVE or DELETED.
    pub status: String,
    /// Bound queues.
    pub available_queue_info: Vec<EnhancedConnectionResource>,
    /// Bound elastic resource pools.
    pub elastic_resource_pools: Vec<EnhancedConnectionResource>,
    pub dest_vpc_id: String,
    pub dest_network_id: String,
    /// Epoch ms.
    pub create_time: i64,
    pub hosts: Vec<EnhancedConnectionHost>,
    /// Extension, E2 only: the connection has this many hosts and `hosts` is empty; a
    /// list shows at most 100 hosts of a connection and 10,000 per page (E3 shows them
    /// whole). Absent when `hosts` is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_omitted: Option<u64>,
    pub routes: Vec<EnhancedConnectionRoute>,
    /// True while the connection is granted to no other project; omitted for a grantee.
    #[serde(rename = "isPrivis", default, skip_serializing_if = "Option::is_none")]
    pub is_privis: Option<bool>,
    /// Always false: dsconn has no subnets.
    pub ipv6_enable: bool,
}

/// E2's answer: `count` is the number of connections in this page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListEnhancedConnectionsResponse {
    pub is_success: bool,
    pub message: String,
    pub count: u64,
    pub connections: Vec<EnhancedConnection>,
}

/// E3's answer: the connection, flat, with `is_success` and `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShowEnhancedConnectionResponse {
    pub is_success: bool,
    pub message: String,
    #[serde(flatten)]
    pub connection: EnhancedConnection,
}

/// E5/E6 body: queues and/or pools of the caller's project. An empty body is `{}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"elastic_resource_pools": ["pool_1"]}))]
pub struct EnhancedBindingsRequest {
    /// At most 100 queue names; `default` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub queues: Option<Vec<String>>,
    /// At most 100 pool names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub elastic_resource_pools: Option<Vec<String>>,
}

/// E7 body: the full new host list; a missing `hosts` (Terraform's `{}`) clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"hosts": [{"name": "db-primary", "ip": "192.168.0.10"}]}))]
pub struct UpdateEnhancedConnectionRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20000)]
    pub hosts: Option<Vec<EnhancedConnectionHost>>,
}

/// E8/E8' body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "route_1", "cidr": "10.169.0.0/24"}))]
pub struct CreateEnhancedRouteRequest {
    /// 1-64 letters, digits, `_` and `-`; unique within the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    /// An IPv4 or IPv6 network with its host bits zero; a bare address is a /32 (/128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, example = "10.169.0.0/24")]
    pub cidr: Option<String>,
}
