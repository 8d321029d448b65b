-- DLI's service agency per project (issue 27): the roles granted to DLI, as a JSON list,
-- and a version that counts the updates. dsconn grants nothing with it; it is stored and
-- echoed so that `huaweicloud_dli_agency` can be applied.
CREATE TABLE dli_agencies (
    project_id  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    roles       TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
