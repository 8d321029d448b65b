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

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Refusable, Result};
use crate::domain::{ConnectionId, ProjectId, QueueName, Tag, TagFilter, Tags};

/// `enhanced_bindings.kind` of a bound queue.
pub const KIND_QUEUE: &str = "queue";
/// `enhanced_bindings.kind` of a bound elastic resource pool.
pub const KIND_POOL: &str = "pool";

/// A connection's status (DLI has no other at this level).
pub const STATUS_ACTIVE: &str = "ACTIVE";
pub const STATUS_DELETED: &str = "DELETED";

/// A binding's status right after it is made (or retried after FAILED).
pub const BINDING_CREATING: &str = "CREATING";

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
    /// CREATING, ACTIVE or FAILED.
    pub status: String,
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
    /// ACTIVE or DELETED.
    pub status: String,
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
    pub fn is_deleted(&self) -> bool {
        self.status == STATUS_DELETED
    }

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

    /// Binds queues and pools of `viewer`'s project: new ones CREATING, FAILED ones back
    /// to CREATING, CREATING/ACTIVE ones unchanged.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a distinct input of a bind"
    )]
    async fn bind_enhanced(
        &self,
        viewer: &ProjectId,
        id: ConnectionId,
        queues: &[QueueName],
        pools: &[QueueName],
        declared: &[QueueName],
        limits: &EnhancedLimits,
        now: i64,
    ) -> Refusable<(), EnhancedRefusal>;

    /// Removes `viewer`'s project's bindings of these queues and pools, whatever their
    /// status; `NotBound` (changing nothing) if one is not bound.
    async fn unbind_enhanced(
        &self,
        viewer: &ProjectId,
        id: ConnectionId,
        queues: &[QueueName],
        pools: &[QueueName],
    ) -> Refusable<(), EnhancedRefusal>;

    /// Replaces an owner's connection's host entries.
    async fn replace_enhanced_hosts(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        hosts: &[HostEntry],
        now: i64,
    ) -> Refusable<(), EnhancedRefusal>;

    /// Adds a route (the owner only: a grantee gets [`EnhancedRefusal::OwnerOnly`]).
    async fn add_enhanced_route(
        &self,
        viewer: &ProjectId,
        id: ConnectionId,
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

/// The number of entries of a stored hosts column `c.hosts`, without parsing it: every
/// entry has one `"ip"` key, and names and addresses cannot contain a `"`.
const HOSTS_COUNT: &str = "((LENGTH(c.hosts) - LENGTH(REPLACE(c.hosts, '\"ip\"', ''))) / 4)";

/// [`CONNECTION_COLUMNS`] for a list: hosts only when there are at most
/// [`LIST_HOSTS_PER_CONNECTION`] of them (`'[]'` otherwise, so a large column is never
/// read), then their count.
pub(super) static LIST_CONNECTION_COLUMNS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        CONNECTION_COLUMNS.replacen(
            "c.hosts,",
            &format!(
                "CASE WHEN {HOSTS_COUNT} <= {LIST_HOSTS_PER_CONNECTION} THEN c.hosts \
                 ELSE '[]' END,"
            ),
            1,
        ) + &format!(", CAST({HOSTS_COUNT} AS BIGINT) AS hosts_count")
    });

/// The columns of a connection row, in [`ConnectionRow`] order; `c` is the connection,
/// `$1` the project whose grants count for `is_privis`-free reading.
pub(super) const CONNECTION_COLUMNS: &str = "c.id, c.project_id, c.name, c.status, \
     c.dest_vpc_id, c.dest_network_id, c.routetable_id, c.hosts, c.tags, c.create_time, \
     c.update_time, c.deleted_at, \
     NOT EXISTS (SELECT 1 FROM enhanced_grants g WHERE g.connection_id = c.id) AS is_privis";

/// A connection row as read.
pub(super) type ConnectionRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    bool,
);

/// A binding row: connection id, then the binding.
pub(super) type BindingRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
);

pub(super) const BINDING_COLUMNS: &str = "connection_id, kind, project_id, name, peer_id, \
     status, err_msg, checked_from, create_time, update_time";

/// A route row: connection id, name, cidr, create time.
pub(super) type RouteRow = (String, String, String, i64);

pub(super) const INSERT_CONNECTION: &str = "INSERT INTO enhanced_connections (id, project_id, \
     name, status, dest_vpc_id, dest_network_id, routetable_id, hosts, tags, create_time, \
     update_time) VALUES ($1, $2, $3, 'ACTIVE', $4, $5, $6, $7, $8, $9, $9)";

pub(super) const COUNT_LIVE: &str =
    "SELECT COUNT(*) FROM enhanced_connections WHERE project_id = $1 AND status <> 'DELETED'";

pub(super) const SELECT_LIVE_NAME: &str = "SELECT id FROM enhanced_connections \
     WHERE project_id = $1 AND name = $2 AND status <> 'DELETED'";

pub(super) const INSERT_TAG: &str = "INSERT INTO enhanced_tags (connection_id, project_id, \
     key, value) VALUES ($1, $2, $3, $4)";

/// A new binding, or a FAILED one retried; CREATING and ACTIVE ones stay as they are.
/// `excluded` and `ON CONFLICT ... DO UPDATE ... WHERE` read the same on both backends.
pub(super) const UPSERT_BINDING: &str = "INSERT INTO enhanced_bindings (connection_id, kind, \
     project_id, name, peer_id, status, err_msg, create_time, update_time) \
     VALUES ($1, $2, $3, $4, $5, 'CREATING', '', $6, $6) \
     ON CONFLICT (connection_id, kind, project_id, name) DO UPDATE \
     SET status = 'CREATING', err_msg = '', update_time = excluded.update_time, \
         checked_from = NULL, lease_owner = NULL, lease_until = NULL \
     WHERE enhanced_bindings.status = 'FAILED'";

pub(super) const COUNT_BINDINGS: &str =
    "SELECT COUNT(*) FROM enhanced_bindings WHERE connection_id = $1";

pub(super) const SELECT_BOUND_NAMES: &str = "SELECT kind, name FROM enhanced_bindings \
     WHERE connection_id = $1 AND project_id = $2";

pub(super) const DELETE_BINDING: &str = "DELETE FROM enhanced_bindings \
     WHERE connection_id = $1 AND kind = $2 AND project_id = $3 AND name = $4";

pub(super) const SELECT_STATUS_OWNER: &str =
    "SELECT status, project_id FROM enhanced_connections WHERE id = $1";

pub(super) const SELECT_GRANT: &str = "SELECT grantee_project_id FROM enhanced_grants \
     WHERE connection_id = $1 AND grantee_project_id = $2";

pub(super) const MARK_DELETED: &str = "UPDATE enhanced_connections \
     SET status = 'DELETED', deleted_at = $2, update_time = $2 WHERE id = $1";

pub(super) const DELETE_BINDINGS_OF: &str =
    "DELETE FROM enhanced_bindings WHERE connection_id = $1";
pub(super) const DELETE_GRANTS_OF: &str = "DELETE FROM enhanced_grants WHERE connection_id = $1";
pub(super) const DELETE_TAGS_OF: &str = "DELETE FROM enhanced_tags WHERE connection_id = $1";

/// `update_time` only moves forward, by at least 1 ms: it stamps the hosts, and a queue's
/// hosts file version ([`super::queue_work::hosts_version`]) must change with them even
/// when two changes fall in one millisecond.
pub(super) const UPDATE_HOSTS: &str = "UPDATE enhanced_connections SET hosts = $2, \
     update_time = CASE WHEN $3 > update_time THEN $3 ELSE update_time + 1 END WHERE id = $1";

pub(super) const SELECT_ROUTES_OF: &str =
    "SELECT name, cidr FROM enhanced_routes WHERE connection_id = $1";

pub(super) const INSERT_ROUTE: &str = "INSERT INTO enhanced_routes (connection_id, name, cidr, \
     create_time) VALUES ($1, $2, $3, $4)";

pub(super) const DELETE_ROUTE: &str =
    "DELETE FROM enhanced_routes WHERE connection_id = $1 AND name = $2";

pub(super) const PURGE_DELETED: &str = "DELETE FROM enhanced_connections \
     WHERE status = 'DELETED' AND deleted_at < $1";

/// Live enhanced connections with the project's ($1) queue or pool of kind $2 named $3
/// bound: what refuses DeleteQueue/DeletePool (a DELETED connection has no bindings).
pub(super) const COUNT_ENHANCED_BOUND: &str = "SELECT COUNT(DISTINCT connection_id) \
     FROM enhanced_bindings WHERE project_id = $1 AND kind = $2 AND name = $3";

/// A stored connection row as a record (bindings and routes added by the caller).
pub(super) fn connection_of(row: ConnectionRow) -> Result<EnhancedConnectionRecord> {
    use super::StoreError;
    let (
        id,
        project_id,
        name,
        status,
        dest_vpc_id,
        dest_network_id,
        routetable_id,
        hosts,
        tags,
        create_time,
        update_time,
        deleted_at,
        is_privis,
    ) = row;
    let id = ConnectionId::parse(&id)
        .ok_or_else(|| StoreError::Corrupt(format!("enhanced connection id {id:?}")))?;
    let hosts: Vec<HostEntry> = serde_json::from_str(&hosts)
        .map_err(|error| StoreError::Corrupt(format!("hosts of {id}: {error}")))?;
    let tags: Vec<Tag> = serde_json::from_str(&tags)
        .map_err(|error| StoreError::Corrupt(format!("tags of {id}: {error}")))?;
    Ok(EnhancedConnectionRecord {
        id,
        project_id,
        name,
        status,
        dest_vpc_id,
        dest_network_id,
        routetable_id,
        hosts,
        tags,
        create_time,
        update_time,
        deleted_at,
        bindings: Vec::new(),
        routes: Vec::new(),
        is_privis,
        hosts_left_out: None,
    })
}

/// A binding row as (connection id, binding).
pub(super) fn binding_of(row: BindingRow) -> Result<(String, EnhancedBinding)> {
    let (
        connection_id,
        kind,
        project_id,
        name,
        peer_id,
        status,
        err_msg,
        checked_from,
        create_time,
        update_time,
    ) = row;
    let kind = BindingKind::parse(&kind)
        .ok_or_else(|| super::StoreError::Corrupt(format!("binding kind {kind:?}")))?;
    Ok((
        connection_id,
        EnhancedBinding {
            kind,
            project_id,
            name,
            peer_id,
            status,
            err_msg,
            checked_from,
            create_time,
            update_time,
        },
    ))
}

/// Gives each record its bindings and routes from rows read for the whole page.
pub(super) fn attach(
    records: &mut [EnhancedConnectionRecord],
    bindings: Vec<BindingRow>,
    routes: Vec<RouteRow>,
) -> Result<()> {
    let by_id: std::collections::HashMap<String, usize> = records
        .iter()
        .enumerate()
        .map(|(index, record)| (record.id.to_string(), index))
        .collect();
    for row in bindings {
        let (connection_id, binding) = binding_of(row)?;
        if let Some(&index) = by_id.get(&connection_id) {
            records[index].bindings.push(binding);
        }
    }
    for (connection_id, name, cidr, create_time) in routes {
        if let Some(&index) = by_id.get(&connection_id) {
            records[index].routes.push(EnhancedRoute {
                name,
                cidr,
                create_time,
            });
        }
    }
    Ok(())
}

/// Writes `impl EnhancedStore for $store`, as [`super::classic::impl_store`] does.
macro_rules! impl_enhanced_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use std::sync::LazyLock;

            use sqlx::{FromRow, QueryBuilder};

            use $crate::domain::{ConnectionId, ProjectId, QueueName};
            use $crate::store::enhanced::{
                self as enhanced, BindingKind, BindingRow, ConnectionRow, EnhancedAccess,
                EnhancedConnectionRecord, EnhancedLimits, EnhancedListQuery, EnhancedRefusal,
                EnhancedStore, EnhancedView, HostEntry, NewEnhancedConnection, NewRoute,
                RouteRow,
            };
            use $crate::store::sql::{Backend, Change, Dialect};
            use $crate::store::{Refusable, Result, StoreError};

            type Connection = <$db as sqlx::Database>::Connection;

            /// How a project may reach a connection, read with the dialect's share lock.
            enum Reach {
                Missing,
                Reached {
                    access: EnhancedAccess,
                    deleted: bool,
                },
            }

            impl $store {
                /// Commits a change that was done; any other outcome is a refusal, which
                /// leaves nothing behind.
                async fn settle(
                    &self,
                    transaction: sqlx::Transaction<'static, $db>,
                    change: Change<'_>,
                    outcome: std::result::Result<(), EnhancedRefusal>,
                ) -> Refusable<(), EnhancedRefusal> {
                    if outcome.is_ok() {
                        self.commit(transaction, change).await?;
                    } else {
                        transaction.rollback().await?;
                    }
                    Ok(outcome)
                }

                /// Reads the connection row with `LOCK_FOR_UPDATE` (changes to one
                /// connection take turns, so counts against its limits hold) and, for a
                /// grantee, its grant row with `LOCK_FOR_SHARE` (a concurrent revoke
                /// waits for this transaction, or this one sees its end).
                async fn enhanced_reach(
                    connection: &mut Connection,
                    viewer: &ProjectId,
                    id: &str,
                ) -> Result<Reach> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", enhanced::SELECT_STATUS_OWNER, $store::LOCK_FOR_UPDATE)
                    });
                    static GRANT: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", enhanced::SELECT_GRANT, $store::LOCK_FOR_SHARE)
                    });
                    let row: Option<(String, String)> = sqlx::query_as(&SELECT)
                        .bind(id)
                        .fetch_optional(&mut *connection)
                        .await?;
                    let Some((status, owner)) = row else {
                        return Ok(Reach::Missing);
                    };
                    let deleted = status == enhanced::STATUS_DELETED;
                    if owner == viewer.as_str() {
                        return Ok(Reach::Reached {
                            access: EnhancedAccess::Owner,
                            deleted,
                        });
                    }
                    let grant: Option<String> = sqlx::query_scalar(&GRANT)
                        .bind(id)
                        .bind(viewer.as_str())
                        .fetch_optional(&mut *connection)
                        .await?;
                    Ok(match grant {
                        Some(_) => Reach::Reached {
                            access: EnhancedAccess::Grantee,
                            deleted,
                        },
                        None => Reach::Missing,
                    })
                }

                /// The first of `names` that is not a stored queue (kind queue) or pool
                /// of the project, reading the found ones with `LOCK_FOR_SHARE` so that
                /// a concurrent DeleteQueue/DeletePool waits for this transaction.
                async fn enhanced_missing(
                    connection: &mut Connection,
                    project: &ProjectId,
                    kind: BindingKind,
                    names: &[QueueName],
                    declared: &[QueueName],
                ) -> Result<Option<String>> {
                    static QUEUES: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT name FROM queues WHERE project_id = $1 AND name {}{}",
                            $store::in_text_list("$2"),
                            $store::LOCK_FOR_SHARE
                        )
                    });
                    static POOLS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT name FROM elastic_resource_pools \
                             WHERE project_id = $1 AND name {}{}",
                            $store::in_text_list("$2"),
                            $store::LOCK_FOR_SHARE
                        )
                    });
                    let wanted: Vec<&str> = names
                        .iter()
                        .filter(|name| kind == BindingKind::Pool || !declared.contains(name))
                        .map(QueueName::as_str)
                        .collect();
                    if wanted.is_empty() {
                        return Ok(None);
                    }
                    let select = match kind {
                        BindingKind::Queue => &*QUEUES,
                        BindingKind::Pool => &*POOLS,
                    };
                    let found: Vec<String> = sqlx::query_scalar(select)
                        .bind(project.as_str())
                        .bind(Self::text_list(&wanted))
                        .fetch_all(&mut *connection)
                        .await?;
                    Ok(wanted
                        .iter()
                        .find(|name| !found.iter().any(|f| f == *name))
                        .map(|name| (*name).to_owned()))
                }

                /// Checks the queues and pools exist, then binds them all; an outcome
                /// other than `Done` means nothing may be committed.
                #[expect(clippy::too_many_arguments, reason = "a bind's inputs")]
                async fn enhanced_bind_in(
                    connection: &mut Connection,
                    project: &ProjectId,
                    id: &str,
                    queues: &[QueueName],
                    pools: &[QueueName],
                    declared: &[QueueName],
                    limits: &EnhancedLimits,
                    now: i64,
                ) -> Refusable<(), EnhancedRefusal> {
                    if let Some(missing) = Self::enhanced_missing(
                        connection,
                        project,
                        BindingKind::Queue,
                        queues,
                        declared,
                    )
                    .await?
                    {
                        return Ok(Err(EnhancedRefusal::UnknownQueue(missing)));
                    }
                    if let Some(missing) =
                        Self::enhanced_missing(connection, project, BindingKind::Pool, pools, &[])
                            .await?
                    {
                        return Ok(Err(EnhancedRefusal::UnknownPool(missing)));
                    }
                    let wanted = queues
                        .iter()
                        .map(|name| (BindingKind::Queue, name))
                        .chain(pools.iter().map(|name| (BindingKind::Pool, name)));
                    for (kind, name) in wanted {
                        sqlx::query(enhanced::UPSERT_BINDING)
                            .bind(id)
                            .bind(kind.as_str())
                            .bind(project.as_str())
                            .bind(name.as_str())
                            .bind(uuid::Uuid::new_v4().to_string())
                            .bind(now)
                            .execute(&mut *connection)
                            .await?;
                    }
                    // Counted after the inserts: re-binding what is bound adds nothing.
                    let bound: i64 = sqlx::query_scalar(enhanced::COUNT_BINDINGS)
                        .bind(id)
                        .fetch_one(&mut *connection)
                        .await?;
                    if bound > i64::from(limits.bindings_per_connection) {
                        return Ok(Err(EnhancedRefusal::TooManyBindings(
                            limits.bindings_per_connection,
                        )));
                    }
                    Ok(Ok(()))
                }

                /// Bindings and routes of these connections, each in one statement.
                async fn enhanced_details(
                    connection: &mut Connection,
                    records: &mut [EnhancedConnectionRecord],
                    only_project: Option<&ProjectId>,
                ) -> Result<()> {
                    static BINDINGS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT {} FROM enhanced_bindings WHERE connection_id {} \
                             ORDER BY kind DESC, project_id, name",
                            enhanced::BINDING_COLUMNS,
                            $store::in_text_list("$1")
                        )
                    });
                    static OWN_BINDINGS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT {} FROM enhanced_bindings WHERE connection_id {} \
                             AND project_id = $2 ORDER BY kind DESC, project_id, name",
                            enhanced::BINDING_COLUMNS,
                            $store::in_text_list("$1")
                        )
                    });
                    static ROUTES: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT connection_id, name, cidr, create_time FROM enhanced_routes \
                             WHERE connection_id {} ORDER BY create_time, name",
                            $store::in_text_list("$1")
                        )
                    });
                    if records.is_empty() {
                        return Ok(());
                    }
                    let ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
                    let bindings: Vec<BindingRow> = match only_project {
                        None => {
                            sqlx::query_as(&BINDINGS)
                                .bind(Self::text_list(&ids))
                                .fetch_all(&mut *connection)
                                .await?
                        }
                        Some(project) => {
                            sqlx::query_as(&OWN_BINDINGS)
                                .bind(Self::text_list(&ids))
                                .bind(project.as_str())
                                .fetch_all(&mut *connection)
                                .await?
                        }
                    };
                    let routes: Vec<RouteRow> = sqlx::query_as(&ROUTES)
                        .bind(Self::text_list(&ids))
                        .fetch_all(&mut *connection)
                        .await?;
                    enhanced::attach(records, bindings, routes)
                }
            }

            #[async_trait::async_trait]
            impl EnhancedStore for $store {
                async fn create_enhanced(
                    &self,
                    new: &NewEnhancedConnection,
                    declared: &[QueueName],
                    limits: &EnhancedLimits,
                ) -> Refusable<(), EnhancedRefusal> {
                    let project = &new.project_id;
                    let id = new.id.to_string();
                    let hosts = serde_json::to_string(&new.hosts)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    let tags = serde_json::to_string(new.tags.as_slice())
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    let mut transaction = self.begin_create(project).await?;
                    let live: i64 = sqlx::query_scalar(enhanced::COUNT_LIVE)
                        .bind(project.as_str())
                        .fetch_one(&mut *transaction)
                        .await?;
                    if live >= i64::from(limits.connections_per_project) {
                        transaction.rollback().await?;
                        return Ok(Err(EnhancedRefusal::QuotaReached(
                            limits.connections_per_project,
                        )));
                    }
                    let taken: Option<String> = sqlx::query_scalar(enhanced::SELECT_LIVE_NAME)
                        .bind(project.as_str())
                        .bind(&new.name)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    if taken.is_some() {
                        transaction.rollback().await?;
                        return Ok(Err(EnhancedRefusal::NameTaken));
                    }
                    let inserted = sqlx::query(enhanced::INSERT_CONNECTION)
                        .bind(&id)
                        .bind(project.as_str())
                        .bind(&new.name)
                        .bind(&new.dest_vpc_id)
                        .bind(&new.dest_network_id)
                        .bind(new.routetable_id.as_deref())
                        .bind(&hosts)
                        .bind(&tags)
                        .bind(new.now)
                        .execute(&mut *transaction)
                        .await;
                    match inserted {
                        Ok(_) => {}
                        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::NameTaken));
                        }
                        Err(error) => return Err(error.into()),
                    }
                    for tag in new.tags.as_slice() {
                        sqlx::query(enhanced::INSERT_TAG)
                            .bind(&id)
                            .bind(project.as_str())
                            .bind(&tag.key)
                            .bind(&tag.value)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    let outcome = Self::enhanced_bind_in(
                        &mut transaction,
                        project,
                        &id,
                        &new.queues,
                        &new.pools,
                        declared,
                        limits,
                        new.now,
                    )
                    .await?;
                    self.settle(transaction, Change::Project(project.as_str()), outcome)
                        .await
                }

                async fn list_enhanced(
                    &self,
                    project: &ProjectId,
                    query: &EnhancedListQuery,
                ) -> Result<Vec<EnhancedConnectionRecord>> {
                    let mut builder: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "SELECT {} FROM enhanced_connections c WHERE c.project_id = ",
                        *enhanced::LIST_CONNECTION_COLUMNS
                    ));
                    builder.push_bind(project.as_str());
                    builder
                        .push(" AND c.status = ")
                        .push_bind(query.status.as_str());
                    if let Some(name) = &query.name {
                        builder.push(" AND c.name = ").push_bind(name.as_str());
                    }
                    for term in query.tags.terms() {
                        builder
                            .push(
                                " AND EXISTS (SELECT 1 FROM enhanced_tags t \
                                 WHERE t.connection_id = c.id AND t.key = ",
                            )
                            .push_bind(term.key.as_str());
                        if let Some(value) = &term.value {
                            builder.push(" AND t.value = ").push_bind(value.as_str());
                        }
                        builder.push(")");
                    }
                    builder
                        .push(" ORDER BY c.create_time, c.id LIMIT ")
                        .push_bind(i64::from(query.limit))
                        .push(" OFFSET ")
                        .push_bind(i64::from(query.offset));
                    let mut transaction = self.begin_snapshot().await?;
                    let rows: Vec<<$db as sqlx::Database>::Row> =
                        builder.build().fetch_all(&mut *transaction).await?;
                    let mut records = Vec::with_capacity(rows.len());
                    let mut listed = 0_u64;
                    for row in &rows {
                        use sqlx::Row;
                        let count: i64 = row.try_get("hosts_count")?;
                        let count = u64::try_from(count).unwrap_or(0);
                        let mut record = enhanced::connection_of(ConnectionRow::from_row(row)?)?;
                        let fits = count <= enhanced::LIST_HOSTS_PER_CONNECTION
                            && listed + count <= enhanced::LIST_HOSTS_PER_PAGE;
                        if fits {
                            listed += count;
                        } else if count > 0 {
                            record.hosts = Vec::new();
                            record.hosts_left_out = Some(count);
                        }
                        records.push(record);
                    }
                    drop(rows);
                    Self::enhanced_details(&mut transaction, &mut records, None).await?;
                    transaction.commit().await?;
                    Ok(records)
                }

                async fn get_enhanced(
                    &self,
                    viewer: &ProjectId,
                    id: ConnectionId,
                ) -> Result<Option<EnhancedView>> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT {} FROM enhanced_connections c WHERE c.id = $1 \
                             AND (c.project_id = $2 OR EXISTS (SELECT 1 FROM enhanced_grants g \
                                  WHERE g.connection_id = c.id AND g.grantee_project_id = $2))",
                            enhanced::CONNECTION_COLUMNS
                        )
                    });
                    let mut transaction = self.begin_snapshot().await?;
                    let row: Option<ConnectionRow> = sqlx::query_as(&SELECT)
                        .bind(id.to_string())
                        .bind(viewer.as_str())
                        .fetch_optional(&mut *transaction)
                        .await?;
                    let Some(row) = row else {
                        transaction.commit().await?;
                        return Ok(None);
                    };
                    let record = enhanced::connection_of(row)?;
                    let access = if record.project_id == viewer.as_str() {
                        EnhancedAccess::Owner
                    } else {
                        EnhancedAccess::Grantee
                    };
                    let mut records = [record];
                    let only = (access == EnhancedAccess::Grantee).then_some(viewer);
                    Self::enhanced_details(&mut transaction, &mut records, only).await?;
                    transaction.commit().await?;
                    let [connection] = records;
                    Ok(Some(EnhancedView { access, connection }))
                }

                async fn delete_enhanced(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                    now: i64,
                ) -> Refusable<(), EnhancedRefusal> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    match Self::enhanced_reach(&mut transaction, project, &id).await? {
                        Reach::Missing => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::NotFound));
                        }
                        Reach::Reached {
                            access: EnhancedAccess::Grantee,
                            ..
                        } => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::OwnerOnly));
                        }
                        Reach::Reached { deleted: true, .. } => {
                            transaction.rollback().await?;
                            return Ok(Ok(()));
                        }
                        Reach::Reached { .. } => {}
                    }
                    for statement in [
                        enhanced::DELETE_BINDINGS_OF,
                        enhanced::DELETE_GRANTS_OF,
                        enhanced::DELETE_TAGS_OF,
                    ] {
                        sqlx::query(statement)
                            .bind(&id)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    sqlx::query(enhanced::MARK_DELETED)
                        .bind(&id)
                        .bind(now)
                        .execute(&mut *transaction)
                        .await?;
                    self.commit(transaction, Change::Project(project.as_str()))
                        .await?;
                    Ok(Ok(()))
                }

                async fn bind_enhanced(
                    &self,
                    viewer: &ProjectId,
                    id: ConnectionId,
                    queues: &[QueueName],
                    pools: &[QueueName],
                    declared: &[QueueName],
                    limits: &EnhancedLimits,
                    now: i64,
                ) -> Refusable<(), EnhancedRefusal> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    let outcome = match Self::enhanced_reach(&mut transaction, viewer, &id).await?
                    {
                        Reach::Missing => Err(EnhancedRefusal::NotFound),
                        Reach::Reached { deleted: true, .. } => Err(EnhancedRefusal::Deleted),
                        Reach::Reached { .. } => {
                            Self::enhanced_bind_in(
                                &mut transaction,
                                viewer,
                                &id,
                                queues,
                                pools,
                                declared,
                                limits,
                                now,
                            )
                            .await?
                        }
                    };
                    self.settle(transaction, Change::Project(viewer.as_str()), outcome)
                        .await
                }

                async fn unbind_enhanced(
                    &self,
                    viewer: &ProjectId,
                    id: ConnectionId,
                    queues: &[QueueName],
                    pools: &[QueueName],
                ) -> Refusable<(), EnhancedRefusal> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    match Self::enhanced_reach(&mut transaction, viewer, &id).await? {
                        Reach::Missing => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::NotFound));
                        }
                        Reach::Reached { deleted: true, .. } => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::Deleted));
                        }
                        Reach::Reached { .. } => {}
                    }
                    let bound: Vec<(String, String)> =
                        sqlx::query_as(enhanced::SELECT_BOUND_NAMES)
                            .bind(&id)
                            .bind(viewer.as_str())
                            .fetch_all(&mut *transaction)
                            .await?;
                    let wanted: Vec<(BindingKind, &QueueName)> = queues
                        .iter()
                        .map(|name| (BindingKind::Queue, name))
                        .chain(pools.iter().map(|name| (BindingKind::Pool, name)))
                        .collect();
                    let not_bound = wanted.iter().find(|(kind, name)| {
                        !bound
                            .iter()
                            .any(|(k, n)| k == kind.as_str() && n == name.as_str())
                    });
                    if let Some((kind, name)) = not_bound {
                        transaction.rollback().await?;
                        return Ok(Err(EnhancedRefusal::NotBound {
                            kind: *kind,
                            name: name.as_str().to_owned(),
                        }));
                    }
                    for (kind, name) in wanted {
                        sqlx::query(enhanced::DELETE_BINDING)
                            .bind(&id)
                            .bind(kind.as_str())
                            .bind(viewer.as_str())
                            .bind(name.as_str())
                            .execute(&mut *transaction)
                            .await?;
                    }
                    self.commit(transaction, Change::Project(viewer.as_str()))
                        .await?;
                    Ok(Ok(()))
                }

                async fn replace_enhanced_hosts(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                    hosts: &[HostEntry],
                    now: i64,
                ) -> Refusable<(), EnhancedRefusal> {
                    let id = id.to_string();
                    let hosts = serde_json::to_string(hosts)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    let mut transaction = self.begin_write().await?;
                    let outcome = match Self::enhanced_reach(&mut transaction, project, &id).await?
                    {
                        Reach::Missing => Err(EnhancedRefusal::NotFound),
                        Reach::Reached {
                            access: EnhancedAccess::Grantee,
                            ..
                        } => Err(EnhancedRefusal::OwnerOnly),
                        Reach::Reached { deleted: true, .. } => Err(EnhancedRefusal::Deleted),
                        Reach::Reached { .. } => {
                            sqlx::query(enhanced::UPDATE_HOSTS)
                                .bind(&id)
                                .bind(&hosts)
                                .bind(now)
                                .execute(&mut *transaction)
                                .await?;
                            Ok(())
                        }
                    };
                    self.settle(transaction, Change::Project(project.as_str()), outcome)
                        .await
                }

                async fn add_enhanced_route(
                    &self,
                    viewer: &ProjectId,
                    id: ConnectionId,
                    route: &NewRoute,
                    limits: &EnhancedLimits,
                ) -> Refusable<(), EnhancedRefusal> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    let reach = Self::enhanced_reach(&mut transaction, viewer, &id).await?;
                    let outcome = match reach {
                        Reach::Missing => Err(EnhancedRefusal::NotFound),
                        // Routes are the owner's: BIND_QUEUE lets a grantee bind its own
                        // queues and pools, not steer the owner's traffic.
                        Reach::Reached {
                            access: EnhancedAccess::Grantee,
                            ..
                        } => Err(EnhancedRefusal::OwnerOnly),
                        Reach::Reached { deleted: true, .. } => Err(EnhancedRefusal::Deleted),
                        Reach::Reached { .. } => {
                            let routes: Vec<(String, String)> =
                                sqlx::query_as(enhanced::SELECT_ROUTES_OF)
                                    .bind(&id)
                                    .fetch_all(&mut *transaction)
                                    .await?;
                            if routes.iter().any(|(name, _)| *name == route.name) {
                                Err(EnhancedRefusal::RouteNameTaken(route.name.clone()))
                            } else if let Some((name, _)) =
                                routes.iter().find(|(_, cidr)| *cidr == route.cidr)
                            {
                                Err(EnhancedRefusal::RouteCidrTaken {
                                    cidr: route.cidr.clone(),
                                    route: name.clone(),
                                })
                            } else if routes.len() >= limits.routes_per_connection as usize {
                                Err(EnhancedRefusal::TooManyRoutes(limits.routes_per_connection))
                            } else {
                                sqlx::query(enhanced::INSERT_ROUTE)
                                    .bind(&id)
                                    .bind(&route.name)
                                    .bind(&route.cidr)
                                    .bind(route.now)
                                    .execute(&mut *transaction)
                                    .await?;
                                Ok(())
                            }
                        }
                    };
                    self.settle(transaction, Change::Project(viewer.as_str()), outcome)
                        .await
                }

                async fn delete_enhanced_route(
                    &self,
                    viewer: &ProjectId,
                    id: ConnectionId,
                    name: &str,
                ) -> Refusable<(), EnhancedRefusal> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    let outcome = match Self::enhanced_reach(&mut transaction, viewer, &id).await?
                    {
                        Reach::Missing => Err(EnhancedRefusal::NotFound),
                        Reach::Reached {
                            access: EnhancedAccess::Grantee,
                            ..
                        } => Err(EnhancedRefusal::OwnerOnly),
                        Reach::Reached { deleted: true, .. } => Err(EnhancedRefusal::Deleted),
                        Reach::Reached { .. } => {
                            let deleted = sqlx::query(enhanced::DELETE_ROUTE)
                                .bind(&id)
                                .bind(name)
                                .execute(&mut *transaction)
                                .await?;
                            if deleted.rows_affected() == 0 {
                                Err(EnhancedRefusal::UnknownRoute(name.to_owned()))
                            } else {
                                Ok(())
                            }
                        }
                    };
                    self.settle(transaction, Change::Project(viewer.as_str()), outcome)
                        .await
                }

                async fn purge_deleted_enhanced(&self, deleted_before: i64) -> Result<u64> {
                    let purged = sqlx::query(enhanced::PURGE_DELETED)
                        .bind(deleted_before)
                        .execute(self.writer())
                        .await?
                        .rows_affected();
                    if purged > 0 {
                        self.announce(Change::Everything);
                    }
                    Ok(purged)
                }
            }
        };
    };
}

pub(super) use impl_enhanced_store;
