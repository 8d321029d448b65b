-- A value sealed with the key file the database's secrets are sealed with, so that a
-- process started with another key file refuses to start instead of failing every
-- signed request.
CREATE TABLE key_check (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    sealed BYTEA   NOT NULL
);
