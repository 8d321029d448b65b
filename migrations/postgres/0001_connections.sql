-- Classic datasource connections and their tags.
-- Keys and names use the "C" collation so that ordering and comparison are bytewise,
-- as in SQLite, whatever the database's locale.
CREATE TABLE connections (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id        TEXT COLLATE "C" NOT NULL,
    name              TEXT COLLATE "C" NOT NULL,
    service           TEXT             NOT NULL,
    destination       TEXT             NOT NULL,
    security_group_id TEXT             NOT NULL,
    network_id        TEXT             NOT NULL,
    -- A JSON copy of the tags so that answering never needs a second query per row;
    -- connection_tags is the indexed form used for filtering.
    tags              TEXT             NOT NULL DEFAULT '[]',
    state             TEXT             NOT NULL,
    process           DOUBLE PRECISION NOT NULL DEFAULT 0,
    connection_url    TEXT             NOT NULL DEFAULT '',
    message           TEXT             NOT NULL DEFAULT '',
    -- JSON: per-endpoint outcome of the last reachability check.
    check_report      TEXT,
    -- Times are milliseconds since the Unix epoch.
    create_time       BIGINT           NOT NULL,
    update_time       BIGINT           NOT NULL,
    deleted_at        BIGINT,
    -- Who is checking a CREATING connection, and until when the claim holds.
    lease_owner       TEXT,
    lease_until       BIGINT
);

CREATE UNIQUE INDEX connections_live_name
    ON connections (project_id, name) WHERE state <> 'DELETED';
CREATE INDEX connections_by_project_time
    ON connections (project_id, create_time, id);
CREATE INDEX connections_pending
    ON connections (create_time) WHERE state = 'CREATING';
CREATE INDEX connections_deleted
    ON connections (deleted_at) WHERE state = 'DELETED';

CREATE TABLE connection_tags (
    connection_id TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    project_id    TEXT COLLATE "C" NOT NULL,
    key           TEXT             NOT NULL,
    value         TEXT             NOT NULL,
    PRIMARY KEY (connection_id, key)
);

CREATE INDEX connection_tags_lookup ON connection_tags (project_id, key, value);
