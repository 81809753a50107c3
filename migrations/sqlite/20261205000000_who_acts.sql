-- Why: the person who acts is established by the system, never typed by the caller. An
-- account (the OS user on a workstation, the database login in a team) is bound to one
-- person with one role; optimistic versions make two people editing one record conflict
-- instead of overwriting each other; a review date from an imported file is history, never
-- a certification.
CREATE TABLE account (
    login     TEXT PRIMARY KEY CHECK (login <> ''),
    person_id INTEGER NOT NULL REFERENCES person (id),
    role      TEXT NOT NULL CHECK (role IN ('reviewer', 'owner', 'auditor', 'admin')),
    bound_at  TEXT NOT NULL
) WITHOUT ROWID;

ALTER TABLE identity ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE review_item ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE identity ADD COLUMN reviewed_elsewhere_at TEXT;
