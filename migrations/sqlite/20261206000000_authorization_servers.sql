-- Why: decisions reach the authorization server. Each environment has one server, read from
-- its metadata; Steward holds some credentials for drills and management (the values in the
-- OS keychain or a 0600 file, only fingerprints here); sync records what the server says
-- about each client; decisions that cut access leave enforcement tasks; a revocation drill
-- proves a token dies, and drills are due by review tier like reviews.

CREATE TABLE connection (
    id                     INTEGER PRIMARY KEY,
    environment            TEXT NOT NULL UNIQUE
                           CHECK (environment IN ('sandbox', 'staging', 'production')),
    issuer                 TEXT NOT NULL,
    kind                   TEXT NOT NULL CHECK (kind IN ('oauth', 'keycloak')),
    realm                  TEXT,
    fhir_base              TEXT,
    token_endpoint         TEXT NOT NULL,
    revocation_endpoint    TEXT,
    introspection_endpoint TEXT,
    registration_endpoint  TEXT,
    grant_types            TEXT NOT NULL DEFAULT '',
    auth_methods           TEXT NOT NULL DEFAULT '',
    scopes_supported       TEXT NOT NULL DEFAULT '',
    metadata_sources       TEXT NOT NULL DEFAULT '',
    admin_client_id        TEXT,
    discovered_at          TEXT NOT NULL,
    last_sync_at           TEXT,
    last_event_at          TEXT,
    created_at             TEXT NOT NULL
);

CREATE TABLE held_credential (
    subject     TEXT NOT NULL,
    kind        TEXT NOT NULL
                CHECK (kind IN ('client_secret', 'private_key', 'registration_token', 'admin_secret')),
    fingerprint TEXT NOT NULL,
    kid         TEXT,
    store       TEXT NOT NULL CHECK (store IN ('keychain', 'file')),
    location    TEXT NOT NULL,
    set_at      TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    PRIMARY KEY (subject, kind)
);

ALTER TABLE identity ADD COLUMN registration_client_uri TEXT;
ALTER TABLE identity ADD COLUMN server_state TEXT
    CHECK (server_state IN ('present', 'missing', 'unregistered'));
ALTER TABLE identity ADD COLUMN server_seen_at TEXT;
ALTER TABLE identity ADD COLUMN drillable INTEGER NOT NULL DEFAULT 0 CHECK (drillable IN (0, 1));

CREATE TABLE enforcement_task (
    id          INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identity (id),
    decision_id INTEGER REFERENCES review_decision (id),
    action      TEXT NOT NULL CHECK (action IN ('reduce', 'revoke', 'retire')),
    scopes      TEXT,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    confirmed   TEXT,
    created_at  TEXT NOT NULL,
    done_at     TEXT
);
CREATE INDEX enforcement_task_pending ON enforcement_task (state, identity_id);

CREATE TABLE drill (
    id                    INTEGER PRIMARY KEY,
    identity_id           INTEGER NOT NULL REFERENCES identity (id),
    client_id             TEXT NOT NULL,
    environment           TEXT NOT NULL,
    at                    TEXT NOT NULL,
    outcome               TEXT NOT NULL CHECK (outcome IN ('passed', 'failed', 'error')),
    active_before         INTEGER CHECK (active_before IN (0, 1)),
    active_after          INTEGER CHECK (active_after IN (0, 1)),
    revoke_to_inactive_ms INTEGER,
    steps                 TEXT NOT NULL,
    error                 TEXT,
    actor                 TEXT NOT NULL
);
CREATE INDEX drill_identity ON drill (identity_id, at);

ALTER TABLE review_policy ADD COLUMN drill_high_days INTEGER NOT NULL DEFAULT 30
    CHECK (drill_high_days > 0);
ALTER TABLE review_policy ADD COLUMN drill_medium_days INTEGER NOT NULL DEFAULT 90
    CHECK (drill_medium_days > 0);
ALTER TABLE review_policy ADD COLUMN drill_low_days INTEGER NOT NULL DEFAULT 180
    CHECK (drill_low_days > 0);

INSERT INTO framework_mapping VALUES
('server-no-revocation', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('server-no-revocation', 'NIST CSF 2.0', 'PR.AA-05'),
('server-no-introspection', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('server-no-introspection', 'NIST CSF 2.0', 'DE.CM-01'),
('unregistered-client', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('unregistered-client', 'NIST CSF 2.0', 'ID.AM-02'),
('missing-on-server', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('missing-on-server', 'NIST CSF 2.0', 'ID.AM-02'),
('revocation-untested', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('revocation-untested', 'NIST CSF 2.0', 'ID.IM-02'),
('revocation-ineffective', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('revocation-ineffective', 'NIST CSF 2.0', 'RS.MI-01');
