//! The enhanced store's rows as both databases return them (`FromRow` derived generic
//! over the row type), checked into records by `TryFrom`: statuses and kinds become
//! enums here, and a stored text that is none of them is [`StoreError::Corrupt`].

use super::{
    BindingKind, EnhancedBinding, EnhancedConnectionRecord, EnhancedRoute, EnhancedStatus,
    HostEntry,
};
use crate::domain::{BindingStatus, ConnectionId, Tag};
use crate::store::{Result, StoreError};

/// A connection row, as [`super::CONNECTION_COLUMNS`] reads it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ConnectionRow {
    id: String,
    project_id: String,
    name: String,
    status: String,
    dest_vpc_id: String,
    dest_network_id: String,
    routetable_id: Option<String>,
    hosts: String,
    tags: String,
    create_time: i64,
    update_time: i64,
    deleted_at: Option<i64>,
    is_privis: bool,
}

/// A connection row of a list page ([`super::LIST_CONNECTION_COLUMNS`]): how many hosts
/// it has, whether or not they were read.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ListedConnectionRow {
    #[sqlx(flatten)]
    pub row: ConnectionRow,
    pub hosts_count: i64,
}

/// A binding row, as [`super::BINDING_COLUMNS`] reads it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct BindingRow {
    connection_id: String,
    kind: String,
    project_id: String,
    name: String,
    peer_id: String,
    status: String,
    err_msg: String,
    checked_from: Option<String>,
    create_time: i64,
    update_time: i64,
}

/// A route row.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct RouteRow {
    connection_id: String,
    name: String,
    cidr: String,
    create_time: i64,
}

impl TryFrom<ConnectionRow> for EnhancedConnectionRecord {
    type Error = StoreError;

    /// The record without its bindings and routes (the caller adds them).
    fn try_from(row: ConnectionRow) -> Result<Self> {
        let id = ConnectionId::parse(&row.id)
            .ok_or_else(|| StoreError::Corrupt(format!("enhanced connection id {:?}", row.id)))?;
        let status = EnhancedStatus::parse(&row.status).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "status {:?} of enhanced connection {id}",
                row.status
            ))
        })?;
        let hosts: Vec<HostEntry> = serde_json::from_str(&row.hosts)
            .map_err(|error| StoreError::Corrupt(format!("hosts of {id}: {error}")))?;
        let tags: Vec<Tag> = serde_json::from_str(&row.tags)
            .map_err(|error| StoreError::Corrupt(format!("tags of {id}: {error}")))?;
        Ok(EnhancedConnectionRecord {
            id,
            project_id: row.project_id,
            name: row.name,
            status,
            dest_vpc_id: row.dest_vpc_id,
            dest_network_id: row.dest_network_id,
            routetable_id: row.routetable_id,
            hosts,
            tags,
            create_time: row.create_time,
            update_time: row.update_time,
            deleted_at: row.deleted_at,
            bindings: Vec::new(),
            routes: Vec::new(),
            is_privis: row.is_privis,
            hosts_left_out: None,
        })
    }
}

impl BindingRow {
    /// The binding, and the id of its connection.
    fn into_binding(self) -> Result<(String, EnhancedBinding)> {
        let kind = BindingKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("binding kind {:?}", self.kind)))?;
        let status = BindingStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Corrupt(format!("binding status {:?}", self.status)))?;
        Ok((
            self.connection_id,
            EnhancedBinding {
                kind,
                project_id: self.project_id,
                name: self.name,
                peer_id: self.peer_id,
                status,
                err_msg: self.err_msg,
                checked_from: self.checked_from,
                create_time: self.create_time,
                update_time: self.update_time,
            },
        ))
    }
}

/// Gives each record its bindings and routes from rows read for the whole page.
pub(in crate::store) fn attach(
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
        let (connection_id, binding) = row.into_binding()?;
        if let Some(&index) = by_id.get(&connection_id) {
            records[index].bindings.push(binding);
        }
    }
    for route in routes {
        if let Some(&index) = by_id.get(&route.connection_id) {
            records[index].routes.push(EnhancedRoute {
                name: route.name,
                cidr: route.cidr,
                create_time: route.create_time,
            });
        }
    }
    Ok(())
}

/// Whose a connection is and its status, as [`super::SELECT_STATUS_OWNER`] reads them.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct OwnerRow {
    status: String,
    pub project_id: String,
}

impl OwnerRow {
    pub fn status(&self) -> Result<EnhancedStatus> {
        EnhancedStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Corrupt(format!("enhanced status {:?}", self.status)))
    }
}

/// A queue or pool bound, as [`super::SELECT_BOUND_NAMES`] reads it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct BoundNameRow {
    pub kind: String,
    pub name: String,
}

/// A route's name and cidr, as [`super::SELECT_ROUTES_OF`] reads them.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct RouteCidrRow {
    pub name: String,
    pub cidr: String,
}
