//! The CIDR pre-flight (issue 27): before a bind, a route add or a queue's CIDR change,
//! the networks of the queues and pools involved are checked against the networks of the
//! enhanced connections involved, with the pure rule of [`crate::domain::first_overlap`].
//! The check reads, then the change commits in its own transaction: two concurrent
//! changes (a route add racing a bind) can each pass alone. DLI checks no more than this.
//!
//! A queue's network is its `cidr_in_vpc`; without one, its pool's; without a pool,
//! DLI's default 172.16.0.0/12. A declared queue (`serve --queue`) has the default.

use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::api::state::AppState;
use crate::domain::{
    ComputeNetwork, DEFAULT_COMPUTE_CIDR, PeerNetwork, ProjectId, QueueName, first_overlap,
    reserved_overlap,
};
use crate::store::{
    BindingKind, EnhancedConnectionRecord, EnhancedListQuery, HostEntry, PoolRecord, QueueRecord,
};

/// The `cidr_in_vpc` of stored fields, if any.
pub fn stored_cidr(attributes: &serde_json::Map<String, Value>) -> Option<Ipv4Net> {
    attributes
        .get("cidr_in_vpc")
        .and_then(Value::as_str)
        .and_then(|raw| raw.parse().ok())
}

fn pool_of(pools: &[PoolRecord], name: &str) -> Option<Ipv4Net> {
    pools
        .iter()
        .find(|pool| pool.name == name)
        .and_then(|pool| stored_cidr(&pool.attributes))
}

/// A stored queue's network (own, else its pool's, else the default).
pub fn queue_network(queue: &QueueRecord, pools: &[PoolRecord]) -> Ipv4Net {
    stored_cidr(&queue.attributes)
        .or_else(|| {
            queue
                .attributes
                .get("elastic_resource_pool_name")
                .and_then(Value::as_str)
                .and_then(|pool| pool_of(pools, pool))
        })
        .unwrap_or(DEFAULT_COMPUTE_CIDR)
}

/// The network of a queue or pool of `project`; None for one that does not exist (the
/// store refuses it with its own error).
async fn compute_of(
    state: &AppState,
    project: &ProjectId,
    kind: BindingKind,
    name: &str,
) -> ApiResult<Option<ComputeNetwork>> {
    let pools = state.store.list_pools(project).await?;
    let net = match kind {
        BindingKind::Pool => pools
            .iter()
            .find(|pool| pool.name == name)
            .map(|pool| stored_cidr(&pool.attributes).unwrap_or(DEFAULT_COMPUTE_CIDR)),
        BindingKind::Queue => {
            if state
                .settings
                .declared_queues
                .iter()
                .any(|queue| queue.as_str() == name)
            {
                Some(DEFAULT_COMPUTE_CIDR)
            } else {
                state
                    .store
                    .get_queue(project, name)
                    .await?
                    .map(|queue| queue_network(&queue, &pools))
            }
        }
    };
    Ok(net.map(|net| ComputeNetwork {
        net,
        label: label(kind, name),
    }))
}

fn label(kind: BindingKind, name: &str) -> String {
    match kind {
        BindingKind::Queue => format!("queue {name}"),
        BindingKind::Pool => format!("elastic resource pool {name}"),
    }
}

/// A connection's routes and host addresses.
fn peers(connection: &str, hosts: &[HostEntry], routes: &[(String, String)]) -> Vec<PeerNetwork> {
    let routes = routes.iter().filter_map(|(name, cidr)| {
        let net: IpNet = cidr.parse().ok()?;
        Some(PeerNetwork::route(net, name, connection))
    });
    let hosts = hosts.iter().filter_map(|host| {
        let ip = host.ip.parse().ok()?;
        Some(PeerNetwork::host(ip, &host.name, connection))
    });
    routes.chain(hosts).collect()
}

fn record_peers(record: &EnhancedConnectionRecord) -> Vec<PeerNetwork> {
    let routes: Vec<(String, String)> = record
        .routes
        .iter()
        .map(|route| (route.name.clone(), route.cidr.clone()))
        .collect();
    peers(&record.name, &record.hosts, &routes)
}

fn refuse(overlap: crate::domain::Overlap) -> ApiError {
    ApiError::InvalidRequest(overlap.to_string())
}

/// Before binding `queues` and `pools` of `project` to a connection with these hosts
/// and routes (a create's or an associate's).
pub async fn check_bind(
    state: &AppState,
    project: &ProjectId,
    connection: &str,
    hosts: &[HostEntry],
    routes: &[(String, String)],
    queues: &[QueueName],
    pools: &[QueueName],
) -> ApiResult<()> {
    let peers = peers(connection, hosts, routes);
    if peers.is_empty() {
        return Ok(());
    }
    let named = queues
        .iter()
        .map(|queue| (BindingKind::Queue, queue))
        .chain(pools.iter().map(|pool| (BindingKind::Pool, pool)));
    for (kind, name) in named {
        if let Some(compute) = compute_of(state, project, kind, name.as_str()).await?
            && let Some(overlap) = first_overlap(&[compute], &peers)
        {
            return Err(refuse(overlap));
        }
    }
    Ok(())
}

/// Before an associate: the connection as `viewer` sees it (none: the store answers).
pub async fn check_associate(
    state: &AppState,
    viewer: &ProjectId,
    id: crate::domain::ConnectionId,
    queues: &[QueueName],
    pools: &[QueueName],
) -> ApiResult<()> {
    let Some(view) = state.store.get_enhanced(viewer, id).await? else {
        return Ok(());
    };
    let record = &view.connection;
    let routes: Vec<(String, String)> = record
        .routes
        .iter()
        .map(|route| (route.name.clone(), route.cidr.clone()))
        .collect();
    check_bind(
        state,
        viewer,
        &record.name,
        &record.hosts,
        &routes,
        queues,
        pools,
    )
    .await
}

/// Before adding a route (`cidr`, already normalised) to a connection: every bound queue
/// and pool, of whichever project, against it.
pub async fn check_route(
    state: &AppState,
    viewer: &ProjectId,
    id: crate::domain::ConnectionId,
    route: &str,
    cidr: &str,
) -> ApiResult<()> {
    let Ok(net) = cidr.parse::<IpNet>() else {
        return Ok(());
    };
    check_added(state, viewer, id, |connection| {
        vec![PeerNetwork::route(net, route, connection)]
    })
    .await
}

/// Before replacing a connection's hosts: every bound queue and pool against them.
pub async fn check_hosts(
    state: &AppState,
    viewer: &ProjectId,
    id: crate::domain::ConnectionId,
    hosts: &[HostEntry],
) -> ApiResult<()> {
    check_added(state, viewer, id, |connection| {
        peers(connection, hosts, &[])
    })
    .await
}

/// Networks about to be added to a connection (made from its name) against every queue
/// and pool it binds, of whichever project.
async fn check_added(
    state: &AppState,
    viewer: &ProjectId,
    id: crate::domain::ConnectionId,
    added: impl Fn(&str) -> Vec<PeerNetwork>,
) -> ApiResult<()> {
    let Some(view) = state.store.get_enhanced(viewer, id).await? else {
        return Ok(());
    };
    let record = &view.connection;
    let added = added(&record.name);
    if added.is_empty() {
        return Ok(());
    }
    for binding in &record.bindings {
        let Ok(project) = ProjectId::parse(&binding.project_id) else {
            continue;
        };
        if let Some(compute) = compute_of(state, &project, binding.kind, &binding.name).await?
            && let Some(overlap) = first_overlap(&[compute], &added)
        {
            return Err(refuse(overlap));
        }
    }
    Ok(())
}

/// A queue's or pool's own CIDR against the reserved ranges.
pub fn check_reserved(kind: BindingKind, name: &str, net: Ipv4Net) -> ApiResult<()> {
    match reserved_overlap(&ComputeNetwork {
        net,
        label: label(kind, name),
    }) {
        Some(overlap) => Err(refuse(overlap)),
        None => Ok(()),
    }
}

/// Before a queue's CIDR change: refused while an enhanced connection binds the queue
/// (DLI's rule); then the new range against the reserved ones and, for a queue in a
/// pool, against the connections that bind the pool.
pub async fn check_queue_cidr_change(
    state: &AppState,
    project: &ProjectId,
    queue: &QueueRecord,
    new: Ipv4Net,
) -> ApiResult<()> {
    let bound = state
        .store
        .count_enhanced_bound(project, crate::store::enhanced::KIND_QUEUE, &queue.name)
        .await?;
    if bound > 0 {
        return Err(ApiError::StateConflict(format!(
            "queue {} is bound to {bound} enhanced connection(s): the CIDR of a bound queue \
             cannot be changed; disassociate it first",
            queue.name
        )));
    }
    check_reserved(BindingKind::Queue, &queue.name, new)?;
    let Some(pool) = queue
        .attributes
        .get("elastic_resource_pool_name")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    let query = EnhancedListQuery {
        limit: crate::api::enhanced::MAX_CONNECTIONS_PER_PROJECT,
        ..EnhancedListQuery::default()
    };
    let compute = [ComputeNetwork {
        net: new,
        label: label(BindingKind::Queue, &queue.name),
    }];
    for record in state.store.list_enhanced(project, &query).await? {
        let binds_pool = record.bindings.iter().any(|binding| {
            binding.kind == BindingKind::Pool
                && binding.name == pool
                && binding.project_id == project.as_str()
        });
        if binds_pool && let Some(overlap) = first_overlap(&compute, &record_peers(&record)) {
            return Err(refuse(overlap));
        }
    }
    Ok(())
}
