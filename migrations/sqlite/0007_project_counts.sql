-- Live (not DELETED) connections per project, kept in the transaction of every create
-- and delete, so that a create's quota check reads one row instead of counting the
-- project's connections (issue 19). Purge removes only DELETED rows: no change here.
CREATE TABLE project_counts (
    project_id       TEXT    NOT NULL PRIMARY KEY,
    live_connections INTEGER NOT NULL CHECK (live_connections >= 0)
) STRICT, WITHOUT ROWID;

INSERT INTO project_counts (project_id, live_connections)
SELECT project_id, COUNT(*) FROM connections WHERE state <> 'DELETED' GROUP BY project_id;
