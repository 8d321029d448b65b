//! The HTTP API: DLI's classic datasource-connection operations, and its queues and
//! elastic resource pools.

pub mod agency;
pub mod agents;
/// The agent API's wire types, under the name the document and the client know.
pub use agents::types as agent_types;
pub mod auth;
pub mod auth_infos;
pub mod bindings;
pub mod checks;
pub mod cidr_preflight;
mod connection_json;
pub mod connections;
pub mod console;
pub mod enhanced;
pub mod error;
pub mod extract;
pub mod limits;
pub mod middleware;
pub mod openapi;
pub mod pool_queues;
pub mod pools;
pub mod queue_changes;
pub mod queue_lookup;
pub mod queue_pool_types;
pub mod queue_properties;
pub mod queue_tests;
pub mod queues;
pub mod quotas;
pub mod reactivate;
pub mod resource_tags;
pub mod router;
pub mod service;
pub mod sharing;
pub mod sharing_types;
pub mod state;
pub mod types;

pub use error::{ApiError, ApiResult};
pub use router::router;
pub use state::{ApiSettings, AppState};
