-- AK/SK credentials and bearer tokens.
CREATE TABLE credentials (
    access_key           TEXT    NOT NULL PRIMARY KEY,
    -- XChaCha20-Poly1305 nonce and ciphertext of the secret key, bound to access_key.
    sealed_secret_key    BLOB    NOT NULL,
    all_projects         INTEGER NOT NULL,
    -- JSON array of project ids; empty when all_projects.
    projects             TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    revoked_at           INTEGER,
    -- Signature failures in a row, and the lock they caused.
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER
) STRICT;

CREATE TABLE tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash   TEXT    NOT NULL UNIQUE,
    all_projects INTEGER NOT NULL,
    projects     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
