-- Live (not DELETED) connections per project, kept in the transaction of every create
-- and delete, so that a create's quota check reads one row instead of counting the
-- project's connections (issue 19). Purge removes only DELETED rows: no change here.
CREATE TABLE project_counts (
    project_id       TEXT   NOT NULL PRIMARY KEY,
    live_connections BIGINT NOT NULL CHECK (live_connections >= 0)
);

-- The migration runs in one transaction; creates wait on the table lock, so none is
-- counted twice or missed while the counts are filled in.
LOCK TABLE connections IN SHARE MODE;
INSERT INTO project_counts (project_id, live_connections)
SELECT project_id, COUNT(*) FROM connections WHERE state <> 'DELETED' GROUP BY project_id;
