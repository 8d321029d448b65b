-- AK/SK credentials and bearer tokens.
CREATE TABLE credentials (
    access_key           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    -- XChaCha20-Poly1305 nonce and ciphertext of the secret key, bound to access_key.
    sealed_secret_key    BYTEA   NOT NULL,
    all_projects         BOOLEAN NOT NULL,
    -- JSON array of project ids; empty when all_projects.
    projects             TEXT    NOT NULL,
    created_at           BIGINT  NOT NULL,
    revoked_at           BIGINT,
    -- Signature failures in a row, and the lock they caused.
    consecutive_failures BIGINT  NOT NULL DEFAULT 0,
    locked_until         BIGINT
);

CREATE TABLE tokens (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash   TEXT    NOT NULL UNIQUE,
    all_projects BOOLEAN NOT NULL,
    projects     TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT
);
