-- Why: usage and traceability. API calls are kept as daily aggregates, never one row a call:
-- storage grows with the distinct (client, day, context, type, interaction, outcome)
-- combinations, not with the number of calls. Token events are the log of every issuance,
-- refresh, scope change and revocation; token ids and subjects are fingerprints only.

-- One row per imported file; the content hash (BLAKE3) makes a re-import a no-op.
CREATE TABLE usage_import (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('audit', 'tokens')),
    file        TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('sandbox', 'staging', 'production')),
    records     INTEGER NOT NULL,
    malformed   INTEGER NOT NULL,
    imported_at TEXT NOT NULL,
    UNIQUE (kind, content_hash, environment)
);

-- identity_id is NULL for a client the inventory does not know: kept and surfaced.
CREATE TABLE usage_daily (
    client_id     TEXT NOT NULL,
    environment   TEXT NOT NULL CHECK (environment IN ('sandbox', 'staging', 'production')),
    day           TEXT NOT NULL,
    context       TEXT NOT NULL CHECK (context IN ('patient', 'user', 'system')),
    resource_type TEXT NOT NULL,
    interaction   TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    identity_id   INTEGER REFERENCES identity (id),
    calls         INTEGER NOT NULL CHECK (calls > 0),
    first_seen    TEXT NOT NULL,
    last_seen     TEXT NOT NULL,
    PRIMARY KEY (client_id, environment, day, context, resource_type, interaction, outcome)
) WITHOUT ROWID;
CREATE INDEX usage_daily_identity ON usage_daily (identity_id, day);

CREATE TABLE token_event (
    id                INTEGER PRIMARY KEY,
    import_id         INTEGER NOT NULL REFERENCES usage_import (id),
    identity_id       INTEGER REFERENCES identity (id),
    client_id         TEXT NOT NULL,
    environment       TEXT NOT NULL CHECK (environment IN ('sandbox', 'staging', 'production')),
    at                TEXT NOT NULL,
    event             TEXT NOT NULL
                      CHECK (event IN ('issued', 'refreshed', 'revoked', 'scope_changed', 'failed')),
    source            TEXT NOT NULL,
    scopes            TEXT,
    token_fingerprint TEXT,
    subject           TEXT,
    expires_in        INTEGER,
    error             TEXT
);
CREATE INDEX token_event_identity ON token_event (identity_id, at);
CREATE INDEX token_event_token ON token_event (token_fingerprint);
