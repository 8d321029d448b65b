-- Classic datasource connections and their tags.
CREATE TABLE connections (
    id                TEXT    NOT NULL PRIMARY KEY,
    project_id        TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    service           TEXT    NOT NULL,
    destination       TEXT    NOT NULL,
    security_group_id TEXT    NOT NULL,
    network_id        TEXT    NOT NULL,
    -- A JSON copy of the tags so that answering never needs a second query per row;
    -- connection_tags is the indexed form used for filtering.
    tags              TEXT    NOT NULL DEFAULT '[]',
    state             TEXT    NOT NULL,
    process           REAL    NOT NULL DEFAULT 0,
    connection_url    TEXT    NOT NULL DEFAULT '',
    message           TEXT    NOT NULL DEFAULT '',
    -- JSON: per-endpoint outcome of the last reachability check.
    check_report      TEXT,
    create_time       INTEGER NOT NULL,
    update_time       INTEGER NOT NULL,
    deleted_at        INTEGER,
    -- Who is checking a CREATING connection, and until when the claim holds.
    lease_owner       TEXT,
    lease_until       INTEGER
) STRICT;

CREATE UNIQUE INDEX connections_live_name
    ON connections (project_id, name) WHERE state <> 'DELETED';
CREATE INDEX connections_by_project_time
    ON connections (project_id, create_time, id);
CREATE INDEX connections_pending
    ON connections (create_time) WHERE state = 'CREATING';
CREATE INDEX connections_deleted
    ON connections (deleted_at) WHERE state = 'DELETED';

CREATE TABLE connection_tags (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    project_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (connection_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX connection_tags_lookup ON connection_tags (project_id, key, value);
