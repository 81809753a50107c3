-- Which fingerprint key made the team's fingerprints, as a check value (the key's
-- fingerprint of a fixed text): every member's key must be the team's, so the same secret
-- imported by two members is one credential. The key itself is never stored here.
CREATE TABLE key_check (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
GRANT SELECT ON key_check TO steward_reviewer, steward_owner, steward_auditor, steward_admin;
