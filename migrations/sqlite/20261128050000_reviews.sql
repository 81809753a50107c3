-- Why: recertification. Review intervals follow risk tiers and live in data, not code;
-- campaigns snapshot what they review; items carry their reviewer and the wizard's draft;
-- every decision is a row of its own (and an audit entry); owners attest purpose and
-- justify scopes; a change of purpose, use case or a scope increase needs re-authorization.

CREATE TABLE review_policy (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    high_days            INTEGER NOT NULL DEFAULT 90 CHECK (high_days > 0),
    medium_days          INTEGER NOT NULL DEFAULT 180 CHECK (medium_days > 0),
    low_days             INTEGER NOT NULL DEFAULT 365 CHECK (low_days > 0),
    remind_days          INTEGER NOT NULL DEFAULT 7 CHECK (remind_days >= 0),
    escalate_days        INTEGER NOT NULL DEFAULT 3 CHECK (escalate_days >= 0),
    reauth_days          INTEGER NOT NULL DEFAULT 14 CHECK (reauth_days > 0),
    deadline_default     TEXT NOT NULL DEFAULT 'no_change'
                         CHECK (deadline_default IN ('no_change', 'revoke', 'recommendation')),
    fallback_reviewer_id INTEGER REFERENCES person (id),
    updated_at           TEXT
);
INSERT INTO review_policy (id) VALUES (1);

-- The person who reviews the identities this person owns as business owner.
ALTER TABLE person ADD COLUMN reviewer_id INTEGER REFERENCES person (id);

-- Set when a certification expired on a change; cleared by the next decision.
ALTER TABLE identity ADD COLUMN reauth_reason TEXT;
ALTER TABLE identity ADD COLUMN reauth_since TEXT;

CREATE TABLE review_campaign (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL CHECK (name <> ''),
    filter               TEXT NOT NULL,
    deadline             TEXT NOT NULL,
    default_decision     TEXT NOT NULL
                         CHECK (default_decision IN ('no_change', 'revoke', 'recommendation')),
    fallback_reviewer_id INTEGER REFERENCES person (id),
    state                TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    created_at           TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    closed_at            TEXT
);

-- campaign_id is NULL for a re-authorization opened by a change.
CREATE TABLE review_item (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER REFERENCES review_campaign (id),
    identity_id  INTEGER NOT NULL REFERENCES identity (id),
    reason       TEXT NOT NULL,
    snapshot     TEXT NOT NULL,
    reviewer_id  INTEGER REFERENCES person (id),
    state        TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'escalated', 'decided')),
    due          TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    reminded_at  TEXT,
    escalated_at TEXT,
    decision     TEXT CHECK (decision IN ('certify', 'reduce', 'revoke', 'no_change')),
    decided_at   TEXT,
    draft        TEXT,
    UNIQUE (campaign_id, identity_id)
);
CREATE INDEX review_item_reviewer ON review_item (reviewer_id, state);
CREATE INDEX review_item_identity ON review_item (identity_id, state);

-- reviewer_id is NULL when the campaign's deadline default decided.
CREATE TABLE review_decision (
    id             INTEGER PRIMARY KEY,
    item_id        INTEGER NOT NULL REFERENCES review_item (id),
    decision       TEXT NOT NULL
                   CHECK (decision IN ('certify', 'reduce', 'revoke', 'reassign', 'no_change')),
    reviewer_id    INTEGER REFERENCES person (id),
    comment        TEXT NOT NULL CHECK (comment <> ''),
    removed_scopes TEXT NOT NULL DEFAULT '[]',
    new_owner_id   INTEGER REFERENCES person (id),
    evidence       TEXT NOT NULL,
    at             TEXT NOT NULL
);
CREATE INDEX review_decision_item ON review_decision (item_id);

CREATE TABLE revocation_task (
    id          INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identity (id),
    decision_id INTEGER REFERENCES review_decision (id),
    endpoint    TEXT,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    created_at  TEXT NOT NULL
);

CREATE TABLE attestation (
    id             INTEGER PRIMARY KEY,
    identity_id    INTEGER NOT NULL REFERENCES identity (id),
    person_id      INTEGER NOT NULL REFERENCES person (id),
    role           TEXT NOT NULL CHECK (role IN ('business', 'technical')),
    purpose        TEXT NOT NULL,
    justifications TEXT NOT NULL,
    at             TEXT NOT NULL
);
CREATE INDEX attestation_identity ON attestation (identity_id, at);

INSERT INTO framework_mapping VALUES
('reauthorization-pending', 'OWASP NHI Top 10 2025', 'NHI5:2025'),
('reauthorization-pending', 'NIST CSF 2.0', 'ID.RA-07'),
('reauthorization-pending', 'NIST CSF 2.0', 'PR.AA-05'),
('reauthorization-pending', 'NIST AI RMF 1.0', 'GOVERN 1.5');
