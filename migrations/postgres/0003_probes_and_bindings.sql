-- Health re-checks, machine-readable failure reasons, and queue bindings.
ALTER TABLE connections ADD COLUMN failure_reason TEXT;
-- REACHABLE or UNREACHABLE after the last check; NULL before the first.
ALTER TABLE connections ADD COLUMN connectivity TEXT;
ALTER TABLE connections ADD COLUMN last_checked_at BIGINT;
-- When an ACTIVE connection is re-checked next.
ALTER TABLE connections ADD COLUMN next_check_at BIGINT;

CREATE INDEX connections_recheck
    ON connections (next_check_at) WHERE state = 'ACTIVE';

CREATE TABLE queue_bindings (
    peer_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    connection_id   TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    queue_name      TEXT COLLATE "C" NOT NULL,
    -- CREATING, ACTIVE or FAILED.
    status          TEXT   NOT NULL,
    err_msg         TEXT   NOT NULL DEFAULT '',
    failure_reason  TEXT,
    connectivity    TEXT,
    last_checked_at BIGINT,
    update_time     BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    UNIQUE (connection_id, queue_name)
);

CREATE INDEX queue_bindings_pending
    ON queue_bindings (update_time) WHERE status = 'CREATING';
