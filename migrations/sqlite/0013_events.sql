-- The audit trail (issue 28): one row per accepted write or state change, written in the
-- transaction of the change it describes. `id` is the deployment's event order (the one
-- writer assigns it in commit order). No AUTOINCREMENT, whose sequence row would be one
-- more page written by every commit: the purge never deletes the newest event, so the
-- next id is always above every id given out.
-- `project_id` is NULL for changes outside any project (credentials, tokens). `changes`
-- is JSON: {"field": {"before": ..., "after": ...}}, secrets already masked.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    project_id TEXT,
    actor TEXT NOT NULL,
    client TEXT,
    request_id TEXT,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX events_by_project ON events (project_id, id);
