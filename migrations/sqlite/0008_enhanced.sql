-- DLI's current connection API (issue 17): enhanced datasource connections, their
-- per-queue/pool bindings, custom routes, tags, grants to other projects, and
-- datasource authentication records. Enhanced connections are a resource of their own:
-- names and quotas are separate from classic connections'.
CREATE TABLE enhanced_connections (
    id              TEXT    NOT NULL PRIMARY KEY,
    project_id      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    -- ACTIVE or DELETED (DLI has no other state at this level).
    status          TEXT    NOT NULL,
    dest_vpc_id     TEXT    NOT NULL,
    dest_network_id TEXT    NOT NULL,
    routetable_id   TEXT,
    -- JSON [{"name", "ip"}]: what the bound queues' checks resolve first.
    hosts           TEXT    NOT NULL DEFAULT '[]',
    -- JSON copy of the tags for answering; enhanced_tags is the indexed form.
    tags            TEXT    NOT NULL DEFAULT '[]',
    create_time     INTEGER NOT NULL,
    update_time     INTEGER NOT NULL,
    deleted_at      INTEGER
) STRICT;

CREATE UNIQUE INDEX enhanced_connections_live_name
    ON enhanced_connections (project_id, name) WHERE status <> 'DELETED';
CREATE INDEX enhanced_connections_by_project_time
    ON enhanced_connections (project_id, create_time, id);
CREATE INDEX enhanced_connections_deleted
    ON enhanced_connections (deleted_at) WHERE status = 'DELETED';

-- One row per bound queue (kind 'queue') or elastic resource pool (kind 'pool'). The
-- queue belongs to `project_id`: the owner's, or a project the connection is granted to.
CREATE TABLE enhanced_bindings (
    connection_id TEXT    NOT NULL REFERENCES enhanced_connections (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    project_id    TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    peer_id       TEXT    NOT NULL,
    -- CREATING, ACTIVE or FAILED.
    status        TEXT    NOT NULL,
    err_msg       TEXT    NOT NULL DEFAULT '',
    -- 'server' or 'agent:<name>'; NULL until set up.
    checked_from  TEXT,
    create_time   INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    -- Who is setting a CREATING binding up, and until when the claim holds.
    lease_owner   TEXT,
    lease_until   INTEGER,
    PRIMARY KEY (connection_id, kind, project_id, name)
) STRICT, WITHOUT ROWID;

CREATE INDEX enhanced_bindings_pending
    ON enhanced_bindings (update_time) WHERE status = 'CREATING';
-- A binding's set-up is claimed and reported by its peer id.
CREATE UNIQUE INDEX enhanced_bindings_by_peer ON enhanced_bindings (peer_id);
CREATE INDEX enhanced_bindings_by_queue
    ON enhanced_bindings (project_id, kind, name, connection_id);

CREATE TABLE enhanced_routes (
    connection_id TEXT    NOT NULL REFERENCES enhanced_connections (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    cidr          TEXT    NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (connection_id, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE enhanced_tags (
    connection_id TEXT NOT NULL REFERENCES enhanced_connections (id) ON DELETE CASCADE,
    project_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (connection_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX enhanced_tags_lookup ON enhanced_tags (project_id, key, value);

-- What another project may do with a connection (DLI's `edsconnections.<id>` object).
CREATE TABLE enhanced_grants (
    connection_id      TEXT    NOT NULL REFERENCES enhanced_connections (id) ON DELETE CASCADE,
    grantee_project_id TEXT    NOT NULL,
    -- JSON array of privilege names (only BIND_QUEUE exists).
    privileges         TEXT    NOT NULL,
    create_time        INTEGER NOT NULL,
    update_time        INTEGER NOT NULL,
    PRIMARY KEY (connection_id, grantee_project_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX enhanced_grants_by_grantee ON enhanced_grants (grantee_project_id, connection_id);

-- Datasource authentication (DLI auth-infos). `attributes` is a JSON object of the
-- fields that are not secret; `sealed_secrets` the secret ones (passwords), as one JSON
-- object sealed with the server's key file, bound to the project and name.
CREATE TABLE auth_infos (
    project_id      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    datasource_type TEXT    NOT NULL,
    attributes      TEXT    NOT NULL DEFAULT '{}',
    sealed_secrets  BLOB,
    owner           TEXT    NOT NULL,
    create_time     INTEGER NOT NULL,
    update_time     INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
) STRICT, WITHOUT ROWID;
