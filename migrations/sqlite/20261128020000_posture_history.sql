-- Why: the dashboard charts the least-privilege score over time; one row a day keeps the
-- series, written whenever the dashboard is computed.
CREATE TABLE posture_history (
    day                  TEXT PRIMARY KEY,
    least_privilege_pct  REAL NOT NULL,
    open_findings        INTEGER NOT NULL,
    identities           INTEGER NOT NULL
) WITHOUT ROWID;
