-- DLI queues and elastic resource pools, per project. A queue must exist to be bound.
-- `attributes` holds, as a JSON object, the DLI fields dsconn validates, stores and
-- echoes without giving them a meaning (CU counts, charging, engine, tags, ...).
CREATE TABLE queues (
    project_id  TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    resource_id TEXT   NOT NULL,
    attributes  TEXT   NOT NULL DEFAULT '{}',
    create_time BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE elastic_resource_pools (
    project_id  TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    resource_id TEXT   NOT NULL,
    attributes  TEXT   NOT NULL DEFAULT '{}',
    create_time BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- Bindings made before queues existed keep working: each distinct queue they name
-- becomes a queue of its project (with no echoed fields), created when first bound.
INSERT INTO queues (project_id, name, resource_id, create_time)
SELECT c.project_id, b.queue_name, md5(c.project_id || '/' || b.queue_name)::uuid::text,
       MIN(b.update_time)
FROM queue_bindings b JOIN connections c ON c.id = b.connection_id
GROUP BY c.project_id, b.queue_name;

-- Bindings by queue name, for refusing to delete a bound queue.
CREATE INDEX queue_bindings_by_queue ON queue_bindings (queue_name);
