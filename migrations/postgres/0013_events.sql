-- The audit trail (issue 28): one row per accepted write or state change, written in the
-- transaction of the change it describes. `id` is the deployment's event order: writers
-- take a transaction-scoped advisory lock before they insert theirs, so ids commit in
-- order and a reader that saw id n never later finds an id below it. `project_id` is NULL
-- for changes outside any project (credentials, tokens). `changes` is JSON:
-- {"field": {"before": ..., "after": ...}}, secrets already masked.
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time BIGINT NOT NULL,
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
