//! The enhanced store's statements and column lists.

use super::LIST_HOSTS_PER_CONNECTION;

/// The number of entries of a stored hosts column `c.hosts`, without parsing it: every
/// entry has one `"ip"` key, and names and addresses cannot contain a `"`.
const HOSTS_COUNT: &str = "((LENGTH(c.hosts) - LENGTH(REPLACE(c.hosts, '\"ip\"', ''))) / 4)";

/// [`CONNECTION_COLUMNS`] for a list: hosts only when there are at most
/// [`LIST_HOSTS_PER_CONNECTION`] of them (`'[]'` otherwise, so a large column is never
/// read), then their count.
pub(in crate::store) static LIST_CONNECTION_COLUMNS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        CONNECTION_COLUMNS.replacen(
            "c.hosts,",
            &format!(
                "CASE WHEN {HOSTS_COUNT} <= {LIST_HOSTS_PER_CONNECTION} THEN c.hosts \
                 ELSE '[]' END AS hosts,"
            ),
            1,
        ) + &format!(", CAST({HOSTS_COUNT} AS BIGINT) AS hosts_count")
    });

/// The columns of a [`super::rows::ConnectionRow`]; `c` is the connection,
/// `$1` the project whose grants count for `is_privis`-free reading.
pub(in crate::store) const CONNECTION_COLUMNS: &str = "c.id, c.project_id, c.name, c.status, \
     c.dest_vpc_id, c.dest_network_id, c.routetable_id, c.hosts, c.tags, c.create_time, \
     c.update_time, c.deleted_at, \
     NOT EXISTS (SELECT 1 FROM enhanced_grants g WHERE g.connection_id = c.id) AS is_privis";

pub(in crate::store) const BINDING_COLUMNS: &str = "connection_id, kind, project_id, name, peer_id, \
     status, err_msg, checked_from, create_time, update_time";

pub(in crate::store) const INSERT_CONNECTION: &str = "INSERT INTO enhanced_connections (id, project_id, \
     name, status, dest_vpc_id, dest_network_id, routetable_id, hosts, tags, create_time, \
     update_time) VALUES ($1, $2, $3, 'ACTIVE', $4, $5, $6, $7, $8, $9, $9)";

pub(in crate::store) const COUNT_LIVE: &str =
    "SELECT COUNT(*) FROM enhanced_connections WHERE project_id = $1 AND status <> 'DELETED'";

pub(in crate::store) const SELECT_LIVE_NAME: &str = "SELECT id FROM enhanced_connections \
     WHERE project_id = $1 AND name = $2 AND status <> 'DELETED'";

pub(in crate::store) const INSERT_TAG: &str = "INSERT INTO enhanced_tags (connection_id, project_id, \
     key, value) VALUES ($1, $2, $3, $4)";

/// A new binding, or a FAILED one retried; CREATING and ACTIVE ones stay as they are.
/// `excluded` and `ON CONFLICT ... DO UPDATE ... WHERE` read the same on both backends.
pub(in crate::store) const UPSERT_BINDING: &str = "INSERT INTO enhanced_bindings (connection_id, kind, \
     project_id, name, peer_id, status, err_msg, create_time, update_time) \
     VALUES ($1, $2, $3, $4, $5, 'CREATING', '', $6, $6) \
     ON CONFLICT (connection_id, kind, project_id, name) DO UPDATE \
     SET status = 'CREATING', err_msg = '', update_time = excluded.update_time, \
         checked_from = NULL, lease_owner = NULL, lease_until = NULL \
     WHERE enhanced_bindings.status = 'FAILED'";

pub(in crate::store) const COUNT_BINDINGS: &str =
    "SELECT COUNT(*) FROM enhanced_bindings WHERE connection_id = $1";

pub(in crate::store) const SELECT_BOUND_NAMES: &str = "SELECT kind, name FROM enhanced_bindings \
     WHERE connection_id = $1 AND project_id = $2";

pub(in crate::store) const DELETE_BINDING: &str = "DELETE FROM enhanced_bindings \
     WHERE connection_id = $1 AND kind = $2 AND project_id = $3 AND name = $4";

pub(in crate::store) const SELECT_STATUS_OWNER: &str =
    "SELECT status, project_id FROM enhanced_connections WHERE id = $1";

pub(in crate::store) const SELECT_GRANT: &str = "SELECT grantee_project_id FROM enhanced_grants \
     WHERE connection_id = $1 AND grantee_project_id = $2";

pub(in crate::store) const MARK_DELETED: &str = "UPDATE enhanced_connections \
     SET status = 'DELETED', deleted_at = $2, update_time = $2 WHERE id = $1";

pub(in crate::store) const DELETE_BINDINGS_OF: &str =
    "DELETE FROM enhanced_bindings WHERE connection_id = $1";
pub(in crate::store) const DELETE_GRANTS_OF: &str =
    "DELETE FROM enhanced_grants WHERE connection_id = $1";
pub(in crate::store) const DELETE_TAGS_OF: &str =
    "DELETE FROM enhanced_tags WHERE connection_id = $1";

/// `update_time` only moves forward, by at least 1 ms: it stamps the hosts, and a queue's
/// hosts file version ([`crate::store::queue_work::hosts_version`]) must change with them even
/// when two changes fall in one millisecond.
pub(in crate::store) const UPDATE_HOSTS: &str = "UPDATE enhanced_connections SET hosts = $2, \
     update_time = CASE WHEN $3 > update_time THEN $3 ELSE update_time + 1 END WHERE id = $1";

pub(in crate::store) const SELECT_ROUTES_OF: &str =
    "SELECT name, cidr FROM enhanced_routes WHERE connection_id = $1";

pub(in crate::store) const INSERT_ROUTE: &str = "INSERT INTO enhanced_routes (connection_id, name, cidr, \
     create_time) VALUES ($1, $2, $3, $4)";

pub(in crate::store) const DELETE_ROUTE: &str =
    "DELETE FROM enhanced_routes WHERE connection_id = $1 AND name = $2";

pub(in crate::store) const PURGE_DELETED: &str = "DELETE FROM enhanced_connections \
     WHERE status = 'DELETED' AND deleted_at < $1";

/// Live enhanced connections with the project's ($1) queue or pool of kind $2 named $3
/// bound: what refuses DeleteQueue/DeletePool (a DELETED connection has no bindings).
pub(in crate::store) const COUNT_ENHANCED_BOUND: &str = "SELECT COUNT(DISTINCT connection_id) \
     FROM enhanced_bindings WHERE project_id = $1 AND kind = $2 AND name = $3";
