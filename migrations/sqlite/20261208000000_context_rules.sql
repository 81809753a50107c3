-- Of each aggregate's calls, how many had their context settled by the scopes their token was
-- issued with, and how many by the kind of the calling identity, the event naming no patient
-- or person as its requestor. The rest the event itself settled.
ALTER TABLE usage_daily ADD COLUMN by_token INTEGER NOT NULL DEFAULT 0 CHECK (by_token >= 0);
ALTER TABLE usage_daily ADD COLUMN by_identity INTEGER NOT NULL DEFAULT 0
    CHECK (by_identity >= 0);
