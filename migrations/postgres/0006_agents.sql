-- Agents that check a queue's work from the queue's own network, where each binding was
-- checked, per-binding re-checks, and DLI's queue connection tests.
CREATE TABLE agents (
    -- Random per registration: the lease owner of the work it claims.
    agent_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id    TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    -- The client address the server saw at the last contact.
    address       TEXT    NOT NULL,
    registered_at BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL
);

CREATE INDEX agents_by_project ON agents (project_id, last_seen);

-- The queues (kind 'queue') and elastic resource pools (kind 'pool') an agent serves.
CREATE TABLE agent_queues (
    agent_id   TEXT NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    queue_name TEXT NOT NULL,
    PRIMARY KEY (agent_id, kind, queue_name)
);

CREATE INDEX agent_queues_by_queue ON agent_queues (project_id, queue_name, agent_id);

-- 'server' or 'agent:<name>'; NULL before the first check.
ALTER TABLE queue_bindings ADD COLUMN checked_from TEXT;
-- When an agent re-checks an ACTIVE binding next (the server's re-check of the
-- connection covers the bindings of queues without an online agent).
ALTER TABLE queue_bindings ADD COLUMN next_check_at BIGINT;

CREATE INDEX queue_bindings_recheck
    ON queue_bindings (next_check_at) WHERE status = 'ACTIVE';

-- A CREATING connection whose own check from the server failed and that waits for its
-- queues' checks: not claimed again; the message keeps the server's failure.
ALTER TABLE connections ADD COLUMN awaiting_queues INTEGER NOT NULL DEFAULT 0;

CREATE TABLE connectivity_tasks (
    task_id      BIGINT NOT NULL PRIMARY KEY,
    project_id   TEXT    NOT NULL,
    queue_name   TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    -- CHECKING, REACHABLE or UNREACHABLE.
    status       TEXT    NOT NULL,
    message      TEXT    NOT NULL DEFAULT '',
    checked_from TEXT,
    create_time  BIGINT NOT NULL,
    update_time  BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT
);

CREATE INDEX connectivity_tasks_pending
    ON connectivity_tasks (create_time) WHERE status = 'CHECKING';
CREATE INDEX connectivity_tasks_by_time ON connectivity_tasks (update_time);
