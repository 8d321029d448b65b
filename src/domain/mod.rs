//! Validated domain types and pure policy. Nothing here knows about HTTP, SQL or sockets,
//! so every rule can be unit-tested on its own.

mod connection;
mod endpoint;
mod scope;
mod tag;

pub use connection::{
    ConnectionId, ConnectionName, ConnectionState, NetworkRef, ProjectId, QueueName, Service,
    ValidationError,
};
pub use endpoint::{Endpoint, EndpointList, Host};
pub use scope::ProjectScope;
pub use tag::{Tag, TagFilter, TagFilterTerm, Tags};

/// Milliseconds since the Unix epoch, UTC: the unit of every time on the wire.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
