//! DLI's enhanced datasource connections (issue 17): E1-E9 and the v2.0 route twins.
//! A resource of its own, apart from the classic connections: own names, quota, ids.
//!
//! Every handler of one connection starts from [`EnhancedTarget`]: the caller's project
//! (403 if the caller may not use it) and the id as given. An id that is not a UUID, an
//! unknown one, another project's and one not granted to the caller are all answered
//! alike: 400 DLI.0001 `Connection <id> is not exist.`.

pub mod connections;
pub mod routes;
pub mod types;

use std::collections::HashMap;

use super::error::ApiError;
use super::extract::{ProjectTarget, extract_from};
use crate::domain::{ConnectionId, ProjectId};
use crate::store::{BindingKind, EnhancedLimits, EnhancedRefusal};

/// Most live enhanced connections per project.
pub const MAX_CONNECTIONS_PER_PROJECT: u32 = 1000;
/// Most bound queues and pools (of every project) per connection.
pub const MAX_BINDINGS_PER_CONNECTION: u32 = 100;
/// Most custom routes per connection.
pub const MAX_ROUTES_PER_CONNECTION: u32 = 100;

/// The bounds the store enforces.
pub const LIMITS: EnhancedLimits = EnhancedLimits {
    connections_per_project: MAX_CONNECTIONS_PER_PROJECT,
    bindings_per_connection: MAX_BINDINGS_PER_CONNECTION,
    routes_per_connection: MAX_ROUTES_PER_CONNECTION,
};

/// Longest piece of a client's id or name echoed in an error.
const MAX_ECHO_CHARS: usize = 64;

/// The project and connection of an `.../enhanced-connections/{connection_id}[/...]` path.
pub struct EnhancedTarget {
    pub project: ProjectId,
    /// The id as given (at most 64 characters of it), for messages.
    pub raw_id: String,
    parsed: Option<ConnectionId>,
    /// The other path parameters (a route's `name`).
    pub rest: HashMap<String, String>,
}

impl EnhancedTarget {
    /// The connection's id; anything that is not a UUID names no connection.
    pub fn id(&self) -> Result<ConnectionId, ApiError> {
        self.parsed.ok_or_else(|| self.not_found())
    }

    /// DLI's answer for an id the caller cannot see.
    pub fn not_found(&self) -> ApiError {
        not_found(&self.raw_id)
    }
}

/// `Connection <id> is not exist.` (DLI's grammar, as Terraform keys on DLI.0001).
pub fn not_found(raw_id: &str) -> ApiError {
    ApiError::InvalidRequest(format!("Connection {raw_id} is not exist."))
}

/// At most [`MAX_ECHO_CHARS`] of a client's text.
pub fn echo(raw: &str) -> String {
    raw.chars().take(MAX_ECHO_CHARS).collect()
}

extract_from!(parts EnhancedTarget = ProjectTarget, |mut target, _| {
    let raw = target.take("connection_id");
    Ok(Self {
        project: target.project,
        parsed: ConnectionId::parse(&raw),
        raw_id: echo(&raw),
        rest: target.rest,
    })
});

/// The DLI error of a change that did not happen, for connection `id` (as given).
pub fn outcome_error(outcome: EnhancedRefusal, id: &str, name: Option<&str>) -> ApiError {
    match outcome {
        EnhancedRefusal::NotFound => not_found(id),
        EnhancedRefusal::OwnerOnly => ApiError::Forbidden(format!(
            "connection {id} is shared with this project for BIND_QUEUE only"
        )),
        EnhancedRefusal::Deleted => {
            ApiError::StateConflict(format!("connection {id} is DELETED; it cannot change"))
        }
        EnhancedRefusal::NameTaken => ApiError::NameTaken(format!(
            "an enhanced connection named {} already exists",
            name.unwrap_or_default()
        )),
        EnhancedRefusal::QuotaReached(quota) => ApiError::CapReached(format!(
            "the project already has the maximum of {quota} enhanced connections; delete some \
             first"
        )),
        EnhancedRefusal::UnknownQueue(queue) => ApiError::QueueNotFound(queue),
        EnhancedRefusal::UnknownPool(pool) => ApiError::PoolNotFound(pool),
        EnhancedRefusal::TooManyBindings(max) => ApiError::CapReached(format!(
            "connection {id} may have at most {max} bound queues and elastic resource pools"
        )),
        EnhancedRefusal::NotBound { kind, name } => ApiError::InvalidRequest(match kind {
            BindingKind::Queue => format!("queue {name} is not bound to connection {id}"),
            BindingKind::Pool => {
                format!("elastic resource pool {name} is not bound to connection {id}")
            }
        }),
        EnhancedRefusal::RouteNameTaken(route) => {
            ApiError::NameTaken(format!("route {route} already exists in connection {id}"))
        }
        EnhancedRefusal::RouteCidrTaken { cidr, route } => ApiError::NameTaken(format!(
            "route {route} of connection {id} already has cidr {cidr}"
        )),
        EnhancedRefusal::TooManyRoutes(max) => {
            ApiError::CapReached(format!("connection {id} may have at most {max} routes"))
        }
        EnhancedRefusal::UnknownRoute(route) => ApiError::InvalidRequest(format!(
            "route {} does not exist in connection {id}",
            echo(&route)
        )),
    }
}
