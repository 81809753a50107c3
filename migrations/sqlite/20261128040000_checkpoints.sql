-- Why: signed audit checkpoints let an auditor who holds one detect a truncated or fully
-- re-hashed chain; every public key that ever signed is kept so old packages still verify.
CREATE TABLE signing_key (
    fingerprint TEXT PRIMARY KEY,
    public_pem  TEXT NOT NULL,
    first_used  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_checkpoint (
    id              INTEGER PRIMARY KEY,
    seq             INTEGER NOT NULL,
    head_hash       TEXT NOT NULL,
    at              TEXT NOT NULL,
    prev_signature  TEXT,
    key_fingerprint TEXT NOT NULL REFERENCES signing_key (fingerprint),
    -- Hex Ed25519 signature over the canonical JSON of the fields above (without id).
    signature       TEXT NOT NULL
);
