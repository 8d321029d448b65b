//! The store's half of DLI's enhanced datasource connections (issue 17): connections of
//! their own (names and quota apart from classic ones), their per-queue and per-pool
//! bindings, host entries, custom routes and tags, and their visibility to other
//! projects through grants.
//!
//! Every operation that changes something does it in one transaction. A bind reads the
//! connection row (and the queues or pools it binds) with the dialect's
//! `LOCK_FOR_SHARE`, so a concurrent connection delete or DeleteQueue/DeletePool (which
//! lock with `LOCK_FOR_UPDATE` or update the row) either sees the new binding or makes
//! the bind find nothing.

pub(in crate::store) mod rows;
mod statements;
mod store;

pub(in crate::store) use rows::{BindingRow, ConnectionRow, ListedConnectionRow, RouteRow, attach};
pub(in crate::store) use statements::*;
pub(in crate::store) use store::{impl_enhanced_store, owner_change};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::terms::ConnectionKey;
use super::{Refusable, Result};
use crate::domain::{BindingStatus, ConnectionId, ProjectId, QueueName, Tag, TagFilter, Tags};

/// `enhanced_bindings.kind` of a bound queue.
pub const KIND_QUEUE: &str = "queue";
/// `enhanced_bindings.kind` of a bound elastic resource pool.
pub const KIND_POOL: &str = "pool";

/// A connection's status (DLI has no other at this level).
pub const STATUS_ACTIVE: &str = "ACTIVE";
pub const STATUS_DELETED: &str = "DELETED";

/// What a binding binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindingKind {
    Queue,
    Pool,
}

impl BindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BindingKind::Queue => KIND_QUEUE,
            BindingKind::Pool => KIND_POOL,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            KIND_QUEUE => Some(BindingKind::Queue),
            KIND_POOL => Some(BindingKind::Pool),
            _ => None,
        }
    }
}

/// Which connections a list asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnhancedStatus {
    #[default]
    Active,
    Deleted,
}

impl EnhancedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EnhancedStatus::Active => STATUS_ACTIVE,
            EnhancedStatus::Deleted => STATUS_DELETED,
        }
    }

    /// The status a stored text names, exactly as stored.
    pub fn parse(raw: &str) -> Option<Self> {
        [EnhancedStatus::Active, EnhancedStatus::Deleted]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }
}

impl std::fmt::Display for EnhancedStatus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Compares with the wire text (`"ACTIVE"`), as callers holding a string do.
impl PartialEq<&str> for EnhancedStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A custom host entry: what the bound queues resolve a name to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub ip: String,
}

/// Per-connection and per-project bounds the store enforces inside its transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedLimits {
    /// Live (not DELETED) enhanced connections per project.
    pub connections_per_project: u32,
    /// Bindings (queues and pools, of every project) per connection.
    pub bindings_per_connection: u32,
    /// Custom routes per connection.
    pub routes_per_connection: u32,
}

/// What a bind (of a create, or of [`EnhancedStore::bind_enhanced`]) asks for: queues and
/// pools of the binding project (each stored, or declared by configuration), within the
/// limits, at `now`.
#[derive(Debug, Clone, Copy)]
pub struct EnhancedBind<'a> {
    pub queues: &'a [QueueName],
    pub pools: &'a [QueueName],
    /// Queues declared by configuration (`serve --queue`), present without being stored.
    pub declared: &'a [QueueName],
    pub limits: &'a EnhancedLimits,
    pub now: i64,
}

/// What E1 stores: every field already validated.
#[derive(Debug, Clone)]
pub struct NewEnhancedConnection {
    pub id: ConnectionId,
    pub project_id: ProjectId,
    pub name: String,
    pub dest_vpc_id: String,
    pub dest_network_id: String,
    pub routetable_id: Option<String>,
    pub hosts: Vec<HostEntry>,
    pub tags: Tags,
    /// Queues of the project to bind at once (each must exist: stored or declared).
    pub queues: Vec<QueueName>,
    /// Elastic resource pools of the project to bind at once (each must be stored).
    pub pools: Vec<QueueName>,
    pub now: i64,
}

/// One queue or pool bound to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancedBinding {
    pub kind: BindingKind,
    /// The project the queue or pool belongs to (the owner's or a grantee's).
    pub project_id: String,
    pub name: String,
    pub peer_id: String,
    pub status: BindingStatus,
    pub err_msg: String,
    /// `server` or `agent:<name>` once set up.
    pub checked_from: Option<String>,
    pub create_time: i64,
    pub update_time: i64,
}

/// A custom route of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancedRoute {
    pub name: String,
    /// Normalised `a.b.c.d/len` (or IPv6 `addr/len`).
    pub cidr: String,
    pub create_time: i64,
}

/// An enhanced connection as stored, with its bindings (as the reader may see them) and
/// routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancedConnectionRecord {
    pub id: ConnectionId,
    /// The owner project.
    pub project_id: String,
    pub name: String,
    pub status: EnhancedStatus,
    pub dest_vpc_id: String,
    pub dest_network_id: String,
    pub routetable_id: Option<String>,
    pub hosts: Vec<HostEntry>,
    pub tags: Vec<Tag>,
    pub create_time: i64,
    pub update_time: i64,
    pub deleted_at: Option<i64>,
    /// Sorted by kind, project, name.
    pub bindings: Vec<EnhancedBinding>,
    /// Sorted by create time, then name.
    pub routes: Vec<EnhancedRoute>,
    /// DLI's `isPrivis`: no grant to another project exists.
    pub is_privis: bool,
    /// A list only: how many hosts the connection has when they were left out of the
    /// list (`hosts` is then empty); see [`LIST_HOSTS_PER_CONNECTION`].
    pub hosts_left_out: Option<u64>,
}

impl EnhancedConnectionRecord {
    /// The bindings of one kind, in order.
    pub fn bindings_of(&self, kind: BindingKind) -> impl Iterator<Item = &EnhancedBinding> {
        self.bindings.iter().filter(move |b| b.kind == kind)
    }
}

/// How the reader of a connection relates to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnhancedAccess {
    /// The connection is the reader's project's own.
    Owner,
    /// The connection is another project's, shared with the reader's by a grant.
    Grantee,
}

/// A connection as one project sees it: a grantee sees only its own bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancedView {
    pub access: EnhancedAccess,
    pub connection: EnhancedConnectionRecord,
}

/// E2's filters, already validated; the list is the project's own connections only.
#[derive(Debug, Clone, Default)]
pub struct EnhancedListQuery {
    pub status: EnhancedStatus,
    /// Exact name.
    pub name: Option<String>,
    pub tags: TagFilter,
    /// Page size (already bounded).
    pub limit: u32,
    pub offset: u32,
}

/// A route to add, already validated and normalised.
#[derive(Debug, Clone)]
pub struct NewRoute {
    pub name: String,
    pub cidr: String,
    pub now: i64,
}

/// Why a change to an enhanced connection was refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnhancedRefusal {
    /// No such connection visible to the project.
    NotFound,
    /// Visible through a grant, but only the owner may do this.
    OwnerOnly,
    /// The connection is DELETED: nothing about it changes any more.
    Deleted,
    /// E1: the project has a live enhanced connection of this name.
    NameTaken,
    /// E1: the project has its quota of live enhanced connections.
    QuotaReached(u32),
    /// A queue to bind is not a queue of the caller's project.
    UnknownQueue(String),
    /// A pool to bind is not a pool of the caller's project.
    UnknownPool(String),
    /// The binding would exceed the connection's bindings.
    TooManyBindings(u32),
    /// An unbind names something not bound (by the caller's project).
    NotBound {
        kind: BindingKind,
        name: String,
    },
    /// A route of this name exists in the connection.
    RouteNameTaken(String),
    /// A route with this cidr exists in the connection (its name).
    RouteCidrTaken {
        cidr: String,
        route: String,
    },
    TooManyRoutes(u32),
    /// A route delete names no route of the connection.
    UnknownRoute(String),
}

#[async_trait]
pub trait EnhancedStore: Send + Sync {
    /// Stores a new ACTIVE connection with its tags, hosts and CREATING bindings, unless
    /// the name is taken, the quota full, or a queue/pool does not exist in the project
    /// (`declared` queues exist everywhere).
    async fn create_enhanced(
        &self,
        new: &NewEnhancedConnection,
        declared: &[QueueName],
        limits: &EnhancedLimits,
    ) -> Refusable<(), EnhancedRefusal>;

    /// A page of the project's own connections of one status, by create time then id,
    /// with their bindings and routes (two more statements for the whole page).
    async fn list_enhanced(
        &self,
        project: &ProjectId,
        query: &EnhancedListQuery,
    ) -> Result<Vec<EnhancedConnectionRecord>>;

    /// A connection visible to `viewer` (owner, or a grant to it), with what it sees.
    async fn get_enhanced(
        &self,
        viewer: &ProjectId,
        id: ConnectionId,
    ) -> Result<Option<EnhancedView>>;

    /// Soft-deletes an owner's connection, removing its bindings, grants and tags; a
    /// DELETED one is deleted again (idempotent).
    async fn delete_enhanced(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        now: i64,
    ) -> Refusable<(), EnhancedRefusal>;

    /// Binds queues and pools of the key's project (the owner's or a grantee's): new
    /// ones CREATING, FAILED ones back to CREATING, CREATING/ACTIVE ones unchanged.
    async fn bind_enhanced(
        &self,
        key: ConnectionKey<'_>,
        bind: EnhancedBind<'_>,
    ) -> Refusable<(), EnhancedRefusal>;

    /// Removes the key's project's bindings of these queues and pools, whatever their
    /// status; `NotBound` (changing nothing) if one is not bound.
    async fn unbind_enhanced(
        &self,
        key: ConnectionKey<'_>,
        queues: &[QueueName],
        pools: &[QueueName],
    ) -> Refusable<(), EnhancedRefusal>;

    /// Replaces an owner's connection's host entries.
    async fn replace_enhanced_hosts(
        &self,
        key: ConnectionKey<'_>,
        hosts: &[HostEntry],
        now: i64,
    ) -> Refusable<(), EnhancedRefusal>;

    /// Adds a route (the owner only: a grantee gets [`EnhancedRefusal::OwnerOnly`]).
    async fn add_enhanced_route(
        &self,
        key: ConnectionKey<'_>,
        route: &NewRoute,
        limits: &EnhancedLimits,
    ) -> Refusable<(), EnhancedRefusal>;

    /// Removes a route by name (the owner only, as [`add_enhanced_route`](Self::add_enhanced_route)).
    async fn delete_enhanced_route(
        &self,
        viewer: &ProjectId,
        id: ConnectionId,
        name: &str,
    ) -> Refusable<(), EnhancedRefusal>;

    /// Removes DELETED connections deleted before the given time (with their routes).
    async fn purge_deleted_enhanced(&self, deleted_before: i64) -> Result<u64>;
}

/// Most hosts of a connection an E2 list shows; a connection with more lists none, and
/// says how many it has (E3 shows them whole), so a page of 1,000 connections is not
/// 1,000 times 20,000 hosts (issue 24).
pub const LIST_HOSTS_PER_CONNECTION: u64 = 100;
/// Most hosts one E2 page shows in all (about 1.6 MB at most); the connections after are
/// listed without their hosts, as above.
pub const LIST_HOSTS_PER_PAGE: u64 = 10_000;
