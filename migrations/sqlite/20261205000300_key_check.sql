-- Which fingerprint key made this database's fingerprints, as a check value (the key's
-- fingerprint of a fixed text): a key file swapped or lost is found at open, not later as
-- credentials that silently stop matching. The key itself is never stored here.
CREATE TABLE key_check (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
