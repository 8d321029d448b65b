//! How a write that can be refused ended, when the refusal is not an error.

use crate::domain::ConnectionState;

/// The answer of a write the request can be refused: `Ok(Ok(done))`, `Ok(Err(refusal))`
/// (nothing changed; the request's fault, not the store's), or a store error.
pub type Refusable<T, R> = super::Result<std::result::Result<T, R>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    AlreadyDeleted,
    StillCreating,
    NotFound,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactivateOutcome {
    Reactivated,
    /// Only FAILED connections can be reactivated.
    NotFailed(ConnectionState),
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingOutcome {
    /// Bindings changed (new peer ids for associate, count for disassociate).
    Changed(usize),
    Deleted,
    NotFound,
}

/// The end of a queue's or pool's create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateNamedOutcome {
    Created,
    /// The project already has one with this name.
    AlreadyExists,
    /// The project has reached the cap given to the create.
    CapReached,
}

/// The end of a queue's or pool's delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteNamedOutcome {
    Deleted,
    NotFound,
    /// Refused: this many live connections have the queue bound.
    Bound(u64),
}
