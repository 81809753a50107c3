-- Why: the spine of Steward. People own and review non-human identities (apps, backend
-- services, service accounts); each identity carries its scopes and credential fingerprints,
-- and every governance write is recorded in an append-only, hash-chained audit log.

CREATE TABLE person (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    departed_at TEXT
);

CREATE TABLE identity (
    id                       INTEGER PRIMARY KEY,
    client_id                TEXT NOT NULL CHECK (client_id <> ''),
    environment              TEXT NOT NULL
                             CHECK (environment IN ('sandbox', 'staging', 'production')),
    name                     TEXT NOT NULL,
    kind                     TEXT NOT NULL CHECK (kind IN
                             ('patient_app', 'clinician_app', 'backend_service', 'service_account')),
    vendor                   TEXT,
    status                   TEXT NOT NULL DEFAULT 'active' CHECK (status IN
                             ('pending', 'active', 'suspended', 'revoked', 'retired')),
    business_owner_id        INTEGER REFERENCES person (id),
    technical_owner_id       INTEGER REFERENCES person (id),
    purpose                  TEXT,
    use_case                 TEXT,
    auth_method              TEXT,
    access_token_lifetime_s  INTEGER CHECK (access_token_lifetime_s >= 0),
    refresh_token_lifetime_s INTEGER CHECK (refresh_token_lifetime_s >= 0),
    jwks_uri                 TEXT,
    revocation_endpoint      TEXT,
    last_used_at             TEXT,
    last_reviewed_at         TEXT,
    next_review_due          TEXT,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL,
    UNIQUE (client_id, environment)
);
CREATE INDEX identity_business_owner ON identity (business_owner_id);
CREATE INDEX identity_technical_owner ON identity (technical_owner_id);
CREATE INDEX identity_name ON identity (name COLLATE NOCASE);
CREATE INDEX identity_next_review_due ON identity (next_review_due);

-- approved scopes carry a justification and who approved them; granted scopes are what the
-- authorization server issues. Used scopes are derived from usage, never stored here.
CREATE TABLE identity_scope (
    identity_id   INTEGER NOT NULL REFERENCES identity (id) ON DELETE CASCADE,
    scope_set     TEXT NOT NULL CHECK (scope_set IN ('approved', 'granted')),
    scope         TEXT NOT NULL CHECK (scope <> ''),
    justification TEXT,
    approved_by   INTEGER REFERENCES person (id),
    PRIMARY KEY (identity_id, scope_set, scope)
) WITHOUT ROWID;

-- Only fingerprints: HMAC-SHA-256 under a per-installation key for secrets, SHA-256 for keys.
CREATE TABLE credential (
    id           INTEGER PRIMARY KEY,
    identity_id  INTEGER NOT NULL REFERENCES identity (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('secret', 'key', 'token')),
    fingerprint  TEXT NOT NULL,
    issued_at    TEXT,
    expires_at   TEXT,
    last_used_at TEXT,
    rotated_at   TEXT,
    revoked_at   TEXT,
    UNIQUE (identity_id, kind, fingerprint)
);
CREATE INDEX credential_fingerprint ON credential (fingerprint);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
