//! The HTTP API: DLI's classic datasource-connection operations, and its queues and
//! elastic resource pools.

/// Declares a handler served on a second path (DLI's deprecated v2.0 twin of a v3
/// operation): its own attributes (its `#[utoipa::path]` entry), and the extractors and
/// answer of `$original`, which it calls. Used before the modules that declare twins.
macro_rules! twin {
    (
        $(#[$attribute:meta])*
        pub async fn $twin:ident = $original:ident(
            $($argument:ident: $extractor:ty),* $(,)?
        ) -> $answer:ty;
    ) => {
        $(#[$attribute])*
        pub async fn $twin($($argument: $extractor),*) -> $answer {
            $original($($argument),*).await
        }
    };
}

pub mod agency;
pub mod agents;
/// The agent API's wire types, under the name the document and the client know.
pub use agents::types as agent_types;
pub mod auth;
pub mod auth_infos;
pub mod bindings;
pub mod checks;
pub mod connections;
pub mod console;
pub mod endpoints;
pub mod enhanced;
pub mod error;
pub mod events;
pub mod extract;
pub mod limits;
pub mod middleware;
pub mod openapi;
pub mod pools;
pub mod queue_fanout;
pub mod queue_lookup;
pub mod queue_tests;
pub mod queues;
pub mod quotas;
pub mod reactivate;
pub mod resource_tags;
pub mod router;
pub mod service;
pub mod sharing;
pub mod state;
pub mod types;

pub use error::{ApiError, ApiResult};
pub use router::router;
pub use state::{ApiSettings, AppState};
