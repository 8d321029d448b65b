-- The DELETED connections of a project, for the count of an unfiltered list (issue 19):
-- the project's live count (project_counts) plus these, instead of counting every row of
-- the project. DELETED rows are few (purged after their retention).
CREATE INDEX connections_deleted_by_project
    ON connections (project_id) WHERE state = 'DELETED';
