//! The classic store's statements, and the pure rules its writes follow.

use std::sync::LazyLock;

use super::super::DeleteOutcome;
use super::super::rows::{
    binding_columns, connection_columns, credential_columns, has_bindings_column, token_columns,
};
use super::super::sql::sql_states;
use crate::domain::ConnectionState;

/// Why a delete did nothing, from the state read after it; None if the connection has
/// meanwhile become deletable (its check finished), so the delete should be tried again.
pub(in crate::store) fn delete_refused(state: Option<ConnectionState>) -> Option<DeleteOutcome> {
    match state {
        None => Some(DeleteOutcome::NotFound),
        Some(ConnectionState::Deleted) => Some(DeleteOutcome::AlreadyDeleted),
        Some(state) if state.is_deletable() => None,
        Some(_) => Some(DeleteOutcome::StillCreating),
    }
}

/// The url as an ACTIVE connection shows it; the stored text if it no longer parses.
pub(in crate::store) fn normalized_url(service: &str, destination: &str) -> String {
    crate::domain::Service::parse(service)
        .ok()
        .and_then(|service| crate::domain::EndpointList::parse(destination, service).ok())
        .map_or_else(
            || destination.to_owned(),
            |endpoints| endpoints.normalized(),
        )
}

/// Most characters of a connection's message (as show caps it).
const MAX_MESSAGE_CHARS: usize = 4096;

/// The message of a connection reached neither from the server nor from its queues.
pub(in crate::store) fn unreached_message(
    server_message: &str,
    queue_failures: &[String],
) -> String {
    if queue_failures.is_empty() {
        return server_message.to_owned();
    }
    let message = format!(
        "not reached from the server ({server_message}) nor from its queues: {}",
        queue_failures.join("; ")
    );
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &message[..cut]),
        None => message,
    }
}

/// One statement checks the quota and inserts, so two creates cannot both take the last
/// free place (and a full project is refused before the name is looked at). The quota
/// reads the project's live count (one row), never the project's connections: creates
/// in a project take turns (the one writer, or the advisory lock), and each one's
/// [`COUNT_CREATED`] commits with it.
pub(in crate::store) const INSERT_CONNECTION: &str = "INSERT INTO connections (id, project_id, name, \
         service, destination, security_group_id, network_id, tags, state, process, \
         create_time, update_time, session) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'CREATING', 0.0, $9, $9, $11 \
     WHERE COALESCE((SELECT live_connections FROM project_counts \
                     WHERE project_id = $2), 0) < $10";

/// A connection of project $1 became live (in the create's transaction).
pub(in crate::store) const COUNT_CREATED: &str = "INSERT INTO project_counts \
         (project_id, live_connections) VALUES ($1, 1) \
     ON CONFLICT (project_id) \
     DO UPDATE SET live_connections = project_counts.live_connections + 1";

/// A connection of project $1 became DELETED (in the delete's transaction).
pub(in crate::store) const COUNT_DELETED: &str = "UPDATE project_counts \
     SET live_connections = live_connections - 1 WHERE project_id = $1";

pub(in crate::store) static MARK_DELETED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE connections SET state = 'DELETED', process = 0.0, connection_url = '', \
             deleted_at = $1, update_time = $1, next_check_at = NULL, awaiting_queues = 0 \
         WHERE id = $2 AND project_id = $3 \
           AND (state IN {} OR (state = 'CREATING' AND awaiting_queues = 1))",
        sql_states(ConnectionState::DELETABLE)
    )
});

pub(in crate::store) static REACTIVATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE connections SET state = 'CREATING', process = 0.0, message = '', \
             failure_reason = NULL, connection_url = '', update_time = $1, \
             lease_owner = NULL, lease_until = NULL, awaiting_queues = 0 \
         WHERE id = $2 AND project_id = $3 AND state IN {}",
        sql_states(ConnectionState::REACTIVATABLE)
    )
});

pub(in crate::store) const SELECT_CONNECTION: &str = concat!(
    "SELECT ",
    connection_columns!(),
    ", ",
    has_bindings_column!(),
    ", check_report FROM connections WHERE id = $1 AND project_id = $2"
);

pub(in crate::store) const SELECT_LIVE_BY_NAME: &str = concat!(
    "SELECT ",
    connection_columns!(),
    ", ",
    has_bindings_column!(),
    " FROM connections WHERE project_id = $1 AND name = $2 AND state <> 'DELETED'"
);

/// A page's rows, then (pushed after it) the count of the list's matches.
pub(in crate::store) const SELECT_CONNECTIONS: &str = concat!(
    "SELECT ",
    connection_columns!(),
    ", ",
    has_bindings_column!(),
    ", "
);

pub(in crate::store) const SELECT_BINDINGS: &str =
    concat!("SELECT ", binding_columns!(), " FROM queue_bindings");

pub(in crate::store) const SELECT_CONNECTION_STATE: &str =
    "SELECT state FROM connections WHERE id = $1 AND project_id = $2";

pub(in crate::store) const SELECT_CREDENTIAL: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials WHERE access_key = $1"
);

pub(in crate::store) const SELECT_CREDENTIALS: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials ORDER BY created_at, access_key"
);

pub(in crate::store) const SELECT_TOKEN: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE token_hash = $1"
);

pub(in crate::store) const SELECT_TOKENS: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens ORDER BY created_at, id"
);

pub(in crate::store) const STATS_BY_STATE: &str =
    "SELECT state, service, COUNT(*) AS n FROM connections GROUP BY state, service";

pub(in crate::store) const STATS_WORK: &str = "SELECT \
       (SELECT COUNT(*) FROM connections WHERE state = 'CREATING' \
          AND (lease_until IS NULL OR lease_until < $1)) \
     + (SELECT COUNT(*) FROM queue_bindings WHERE status = 'CREATING' \
          AND (lease_until IS NULL OR lease_until < $1)) AS pending, \
       (SELECT COUNT(*) FROM connections WHERE lease_until >= $1) \
     + (SELECT COUNT(*) FROM queue_bindings WHERE lease_until >= $1) AS leased";

pub(in crate::store) const RECORD_PROGRESS: &str = "UPDATE connections SET process = $1, update_time = $2 \
     WHERE id = $3 AND state = 'CREATING' AND lease_owner = $4 \
     RETURNING project_id";

pub(in crate::store) const RECORD_CHECK_RESULT: &str = "UPDATE connections SET state = $1, process = $2, \
         connection_url = $3, message = $4, check_report = $5, update_time = $6, \
         failure_reason = $7, connectivity = $8, last_checked_at = $6, next_check_at = $9, \
         lease_owner = NULL, lease_until = NULL \
     WHERE id = $10 AND state = 'CREATING' AND lease_owner = $11 \
     RETURNING project_id";

pub(in crate::store) const RECORD_BINDING_RESULT: &str = "UPDATE queue_bindings SET status = $1, \
         err_msg = $2, failure_reason = $3, connectivity = $4, last_checked_at = $5, \
         update_time = $5, lease_owner = NULL, lease_until = NULL, checked_from = $8, \
         next_check_at = $9, stages = $11, credentials_failed = $12, \
         login_failed_at = COALESCE($14, CASE WHEN $13 = 1 THEN login_failed_at END) \
     WHERE peer_id = $6 AND status = 'CREATING' AND lease_owner = $7 AND queue_name = $10 \
     RETURNING connection_id";

/// Sets the credentialed stages of connection $3 of project $4 ($1 the session JSON or
/// NULL, $2 now); its bindings are re-checked at once by [`RESCHEDULE_BINDINGS`].
pub(in crate::store) const SET_SESSION: &str = "UPDATE connections SET session = $1, \
     update_time = $2 WHERE id = $3 AND project_id = $4 AND state <> 'DELETED' \
     RETURNING project_id";

/// A connection's bindings ($1) forget their last login failure and their stages and
/// are due ($2 now): a new auth info is tried at once, by the re-checks.
pub(in crate::store) const RESCHEDULE_BINDINGS: &str = "UPDATE queue_bindings \
     SET login_failed_at = NULL, next_check_at = $2, \
         stages = CASE WHEN $3 = 1 THEN stages END, \
         credentials_failed = CASE WHEN $3 = 1 THEN credentials_failed ELSE 0 END, \
         status = CASE WHEN $3 = 0 AND credentials_failed = 1 THEN 'ACTIVE' ELSE status END, \
         err_msg = CASE WHEN $3 = 0 AND credentials_failed = 1 THEN '' ELSE err_msg END, \
         failure_reason = CASE WHEN $3 = 0 AND credentials_failed = 1 THEN NULL \
             ELSE failure_reason END \
     WHERE connection_id = $1";

/// The project of a connection, for the change its binding's result makes.
pub(in crate::store) const SELECT_PROJECT_OF: &str =
    "SELECT project_id FROM connections WHERE id = $1";

/// What decides the state of a connection that waits for its queues' checks.
pub(in crate::store) const SELECT_AWAITING: &str = "SELECT service, destination, message FROM connections \
     WHERE id = $1 AND state = 'CREATING' AND awaiting_queues = 1";

/// How many of a connection's bindings are ACTIVE and CREATING.
pub(in crate::store) const COUNT_BINDINGS_BY_STATUS: &str = "SELECT \
       COALESCE(SUM(CASE WHEN status = 'ACTIVE' THEN 1 ELSE 0 END), 0) AS active, \
       COALESCE(SUM(CASE WHEN status = 'CREATING' THEN 1 ELSE 0 END), 0) AS creating \
     FROM queue_bindings WHERE connection_id = $1";

/// The failures of a connection's bindings, for its message.
pub(in crate::store) const SELECT_BINDING_FAILURES: &str = "SELECT err_msg FROM queue_bindings \
     WHERE connection_id = $1 AND status = 'FAILED' ORDER BY queue_name LIMIT 8";

/// A connection reached from one of its queues: $1 url, $2 now, $3 next check, $4 id.
pub(in crate::store) const SETTLE_ACTIVE: &str = "UPDATE connections SET state = 'ACTIVE', \
         process = 1.0, connection_url = $1, message = '', failure_reason = NULL, \
         awaiting_queues = 0, update_time = $2, next_check_at = $3, \
         lease_owner = NULL, lease_until = NULL \
     WHERE id = $4 AND state = 'CREATING'";

/// A connection reached from nowhere: $1 message, $2 now, $3 id.
pub(in crate::store) const SETTLE_FAILED: &str = "UPDATE connections SET state = 'FAILED', \
         process = 1.0, connection_url = '', message = $1, awaiting_queues = 0, \
         update_time = $2, next_check_at = NULL, lease_owner = NULL, lease_until = NULL \
     WHERE id = $3 AND state = 'CREATING'";

/// A connection whose own check failed waits for its CREATING bindings: the server's
/// result is kept, and the connection is not claimed again.
pub(in crate::store) const RECORD_AWAITING_QUEUES: &str = "UPDATE connections SET process = $1, \
         message = $2, check_report = $3, update_time = $4, failure_reason = $5, \
         connectivity = 'UNREACHABLE', last_checked_at = $4, awaiting_queues = 1, \
         lease_owner = NULL, lease_until = NULL \
     WHERE id = $6 AND state = 'CREATING' AND lease_owner = $7 \
     RETURNING project_id";

/// With an owner ($6), only while that claim holds, and releases it.
pub(in crate::store) const RECORD_CONNECTIVITY: &str = "UPDATE connections SET connectivity = $1, \
         last_checked_at = $2, check_report = $3, next_check_at = COALESCE($4, next_check_at), \
         lease_owner = CASE WHEN CAST($6 AS TEXT) IS NULL THEN lease_owner ELSE NULL END, \
         lease_until = CASE WHEN CAST($6 AS TEXT) IS NULL THEN lease_until ELSE NULL END \
     WHERE id = $5 AND state = 'ACTIVE' AND (CAST($6 AS TEXT) IS NULL OR lease_owner = $6) \
     RETURNING project_id";

/// The server's re-check also stands for the ACTIVE bindings of queues without an agent
/// heard from since $4 (whose checks the server runs).
pub(in crate::store) const RECORD_BINDINGS_CONNECTIVITY: &str = "UPDATE queue_bindings \
     SET connectivity = $1, last_checked_at = $2, checked_from = 'server' \
     WHERE connection_id = $3 AND status = 'ACTIVE' \
       AND NOT EXISTS (SELECT 1 FROM agent_queues aq \
                       JOIN agents a ON a.agent_id = aq.agent_id \
                       JOIN connections c ON c.id = queue_bindings.connection_id \
                       WHERE aq.project_id = c.project_id AND aq.kind = 'queue' \
                         AND aq.queue_name = queue_bindings.queue_name \
                         AND a.last_seen >= $4)";

pub(in crate::store) const PURGE_DELETED: &str =
    "DELETE FROM connections WHERE state = 'DELETED' AND deleted_at < $1";

/// A reactivated connection's failed bindings are checked again too.
pub(in crate::store) const RECHECK_FAILED_BINDINGS: &str = "UPDATE queue_bindings \
     SET status = 'CREATING', err_msg = '', failure_reason = NULL, update_time = $1, \
         lease_owner = NULL, lease_until = NULL \
     WHERE connection_id = $2 AND status = 'FAILED'";

pub(in crate::store) const DELETE_BINDINGS_OF: &str =
    "DELETE FROM queue_bindings WHERE connection_id = $1";

pub(in crate::store) const RELEASE_RECHECK: &str = "UPDATE connections \
     SET next_check_at = $1, lease_owner = NULL, lease_until = NULL \
     WHERE id = $2 AND lease_owner = $3 \
     RETURNING project_id";

pub(in crate::store) const INSERT_CREDENTIAL: &str = "INSERT INTO credentials (access_key, \
     sealed_secret_key, all_projects, projects, created_at) VALUES ($1, $2, $3, $4, $5)";

pub(in crate::store) const REVOKE_CREDENTIAL: &str =
    "UPDATE credentials SET revoked_at = $1 WHERE access_key = $2 AND revoked_at IS NULL";

pub(in crate::store) const INSERT_TOKEN: &str = "INSERT INTO tokens (id, token_hash, all_projects, \
     projects, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";

pub(in crate::store) const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

pub(in crate::store) const INSERT_KEY_CHECK: &str =
    "INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";

/// One statement checks the cap and inserts ($1 project, $2 name, $3 resource id,
/// $4 attributes, $5 time, $6 cap), as [`INSERT_CONNECTION`] does.
pub(in crate::store) const INSERT_QUEUE: &str = "INSERT INTO queues \
         (project_id, name, resource_id, attributes, create_time) \
     SELECT $1, $2, $3, $4, $5 \
     WHERE (SELECT COUNT(*) FROM queues WHERE project_id = $1) < $6";

pub(in crate::store) const INSERT_POOL: &str = "INSERT INTO elastic_resource_pools \
         (project_id, name, resource_id, attributes, create_time) \
     SELECT $1, $2, $3, $4, $5 \
     WHERE (SELECT COUNT(*) FROM elastic_resource_pools WHERE project_id = $1) < $6";

pub(in crate::store) const SELECT_QUEUES: &str = "SELECT name, resource_id, attributes, create_time \
     FROM queues WHERE project_id = $1 ORDER BY name";

pub(in crate::store) const SELECT_QUEUE: &str = "SELECT name, resource_id, attributes, create_time \
     FROM queues WHERE project_id = $1 AND name = $2";

pub(in crate::store) const SELECT_POOLS: &str = "SELECT name, resource_id, attributes, create_time \
     FROM elastic_resource_pools WHERE project_id = $1 ORDER BY name";

/// Live connections of the project ($1) that have the queue ($2) bound.
pub(in crate::store) const COUNT_BOUND_CONNECTIONS: &str = "SELECT COUNT(DISTINCT b.connection_id) \
     FROM queue_bindings b JOIN connections c ON c.id = b.connection_id \
     WHERE c.project_id = $1 AND b.queue_name = $2 AND c.state <> 'DELETED'";

pub(in crate::store) const DELETE_QUEUE: &str =
    "DELETE FROM queues WHERE project_id = $1 AND name = $2";

pub(in crate::store) const DELETE_POOL: &str =
    "DELETE FROM elastic_resource_pools WHERE project_id = $1 AND name = $2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_rules_become_sql_lists() {
        assert_eq!(
            sql_states(ConnectionState::DELETABLE),
            "('ACTIVE', 'FAILED')"
        );
        assert!(MARK_DELETED.contains("state IN ('ACTIVE', 'FAILED')"));
        assert!(REACTIVATE.ends_with("state IN ('FAILED')"));
    }

    #[test]
    fn a_delete_is_refused_only_for_a_connection_that_cannot_become_deleted() {
        assert_eq!(delete_refused(None), Some(DeleteOutcome::NotFound));
        assert_eq!(
            delete_refused(Some(ConnectionState::Creating)),
            Some(DeleteOutcome::StillCreating)
        );
        assert_eq!(
            delete_refused(Some(ConnectionState::Deleted)),
            Some(DeleteOutcome::AlreadyDeleted)
        );
        assert_eq!(delete_refused(Some(ConnectionState::Active)), None);
        assert_eq!(delete_refused(Some(ConnectionState::Failed)), None);
    }
}
