-- DLI's service agency per project (issue 27): the roles granted to DLI, as a JSON list,
-- and a version that counts the updates. dsconn grants nothing with it; it is stored and
-- echoed so that `huaweicloud_dli_agency` can be applied.
CREATE TABLE dli_agencies (
    project_id  TEXT    NOT NULL PRIMARY KEY,
    roles       TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    update_time INTEGER NOT NULL
) STRICT;
