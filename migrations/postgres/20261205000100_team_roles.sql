-- Why: in a team the database itself enforces who may do what. Each member signs in with a
-- login of their own, bound to a person (account); a login holds one of four group roles.
-- Row-level security lets a reviewer decide only the items assigned to them (never an
-- identity they own), an owner attest only their own identities, an auditor only read. The
-- audit log is appended only through steward_audit_append, which stamps the session's login,
-- takes the chain's lock and computes the hash; no member may update or delete its rows.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['steward_reviewer', 'steward_owner', 'steward_auditor',
                             'steward_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

-- The person the session's login is bound to (NULL for a login that is no member).
CREATE FUNCTION steward_me() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT person_id FROM account WHERE login = session_user $$;

-- A JSON string spelled as Steward's canonical JSON spells it (jq -c: DEL escaped too).
CREATE FUNCTION steward_json_text(t text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$ SELECT replace(to_json(t)::text, E'\x7f', '\u007f') $$;

-- Canonical JSON: compact, object keys sorted bytewise at every level.
CREATE FUNCTION steward_canonical(j json) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, public
AS $$
DECLARE
    kind text := json_typeof(j);
    out text;
BEGIN
    IF kind = 'object' THEN
        SELECT '{' || coalesce(string_agg(steward_json_text(e.key) || ':' ||
                   steward_canonical(e.value), ',' ORDER BY e.key COLLATE "C"), '') || '}'
          INTO out FROM json_each(j) AS e;
        RETURN out;
    ELSIF kind = 'array' THEN
        SELECT '[' || coalesce(string_agg(steward_canonical(e.value), ',' ORDER BY e.n), '')
                   || ']'
          INTO out FROM json_array_elements(j) WITH ORDINALITY AS e(value, n);
        RETURN out;
    ELSIF kind = 'string' THEN
        RETURN steward_json_text(j #>> '{}');
    ELSIF kind = 'number' AND j::text !~ '^-?(0|[1-9][0-9]*)$' THEN
        RAISE EXCEPTION 'audit details: only integer numbers are chained' USING ERRCODE = '22023';
    END IF;
    RETURN j::text;
END
$$;

-- Appends one entry to the chain as the session's login. The advisory lock (held to the end
-- of the caller's transaction) serializes appends, so no two entries share a seq or a
-- predecessor.
CREATE FUNCTION steward_audit_append(p_at text, p_action text, p_subject text, p_details text)
    RETURNS SETOF audit_log
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    head audit_log;
    entry audit_log;
    who text := session_user;
BEGIN
    IF steward_me() IS NULL AND session_user <> (SELECT tableowner FROM pg_tables
                                                 WHERE tablename = 'audit_log'
                                                   AND schemaname = 'public') THEN
        RAISE EXCEPTION 'login % is not a member of this team', who USING ERRCODE = '42501';
    END IF;
    IF steward_canonical(p_details::json) <> p_details THEN
        RAISE EXCEPTION 'audit details must be canonical JSON' USING ERRCODE = '22023';
    END IF;
    PERFORM pg_advisory_xact_lock(7462021);
    SELECT * INTO head FROM audit_log ORDER BY seq DESC LIMIT 1;
    entry.seq := coalesce(head.seq, 0) + 1;
    entry.prev_hash := coalesce(head.hash, repeat('0', 64));
    entry.at := p_at;
    entry.actor := who;
    entry.action := p_action;
    entry.subject := p_subject;
    entry.details := p_details;
    entry.hash := encode(sha256(convert_to(
        '[' || entry.seq || ',' || steward_json_text(entry.at) || ','
            || steward_json_text(entry.actor) || ',' || steward_json_text(entry.action) || ','
            || steward_json_text(entry.subject) || ',' || entry.details || ','
            || steward_json_text(entry.prev_hash) || ']', 'UTF8')), 'hex');
    INSERT INTO audit_log VALUES (entry.*);
    RETURN NEXT entry;
END
$$;

-- Adds a login (password set by the server from a bound value) in one of the group roles.
-- Runs with the caller's rights: only a login allowed to create roles can add members.
CREATE FUNCTION steward_add_login(p_login text, p_password text, p_role text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, public
AS $$
BEGIN
    IF p_role NOT IN ('reviewer', 'owner', 'auditor', 'admin') THEN
        RAISE EXCEPTION 'role must be reviewer, owner, auditor or admin' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login) THEN
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', p_login, p_password);
    ELSE
        EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', p_login, p_password);
    END IF;
    EXECUTE format('GRANT %I TO %I', 'steward_' || p_role, p_login);
    IF p_role = 'admin' THEN
        EXECUTE format('ALTER ROLE %I CREATEROLE', p_login);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION steward_add_login(text, text, text) FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO steward_reviewer, steward_owner, steward_auditor, steward_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA public
    TO steward_reviewer, steward_owner, steward_auditor, steward_admin;
GRANT EXECUTE ON FUNCTION steward_audit_append(text, text, text, text)
    TO steward_reviewer, steward_owner, steward_admin;

-- Administrators keep the inventory: every table but the audit log.
GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO steward_admin;
REVOKE INSERT, UPDATE, DELETE ON audit_log, _sqlx_migrations FROM steward_admin;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO steward_admin;
GRANT steward_reviewer, steward_owner TO steward_admin;

-- Reviewers decide: items, decisions, the identity changes a decision makes, risk approvals.
GRANT UPDATE ON review_item, identity TO steward_reviewer;
GRANT INSERT ON review_decision, revocation_task, finding_acceptance, review_campaign
    TO steward_reviewer;
GRANT UPDATE ON review_campaign TO steward_reviewer;
GRANT INSERT, DELETE, UPDATE ON identity_scope TO steward_reviewer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO steward_reviewer, steward_owner;

-- Owners attest their own identities: purpose and the justification of approved scopes.
GRANT INSERT ON attestation TO steward_owner;
GRANT UPDATE ON identity, identity_scope TO steward_owner;

-- The dashboard keeps its daily posture point whoever opens it.
GRANT INSERT, UPDATE ON posture_history
    TO steward_reviewer, steward_owner, steward_auditor, steward_admin;

-- Row-level security. The schema owner is not subject to it (it owns the tables).
ALTER TABLE identity ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity_scope ENABLE ROW LEVEL SECURITY;
ALTER TABLE review_item ENABLE ROW LEVEL SECURITY;
ALTER TABLE review_decision ENABLE ROW LEVEL SECURITY;
ALTER TABLE attestation ENABLE ROW LEVEL SECURITY;
ALTER TABLE finding_acceptance ENABLE ROW LEVEL SECURITY;

CREATE POLICY members_read ON identity FOR SELECT USING (true);
CREATE POLICY members_read ON identity_scope FOR SELECT USING (true);
CREATE POLICY members_read ON review_item FOR SELECT USING (true);
CREATE POLICY members_read ON review_decision FOR SELECT USING (true);
CREATE POLICY members_read ON attestation FOR SELECT USING (true);
CREATE POLICY members_read ON finding_acceptance FOR SELECT USING (true);

CREATE POLICY admin_all ON identity TO steward_admin USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON identity_scope TO steward_admin USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON review_item TO steward_admin USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON review_decision TO steward_admin USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON attestation TO steward_admin USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON finding_acceptance TO steward_admin USING (true) WITH CHECK (true);

-- Whether the session's person may decide review item `p_item`: it is assigned to them (or
-- they are the fallback reviewer) and they own neither side of its identity.
CREATE FUNCTION steward_may_decide(p_item bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT EXISTS (
        SELECT 1 FROM review_item it
        JOIN identity i ON i.id = it.identity_id
        LEFT JOIN review_campaign c ON c.id = it.campaign_id
        WHERE it.id = p_item
          AND steward_me() IS NOT NULL
          AND (it.reviewer_id = steward_me()
               OR c.fallback_reviewer_id = steward_me()
               OR (SELECT fallback_reviewer_id FROM review_policy WHERE id = 1) = steward_me())
          AND i.business_owner_id IS DISTINCT FROM steward_me()
          AND i.technical_owner_id IS DISTINCT FROM steward_me())
$$;

-- Whether the session's person may change identity `p_identity` as its reviewer: an open item of
-- theirs is on it.
CREATE FUNCTION steward_reviews(p_identity bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT EXISTS (SELECT 1 FROM review_item it WHERE it.identity_id = p_identity
                   AND it.state <> 'decided' AND steward_may_decide(it.id))
$$;

-- Whether the session's person owns identity `p_identity` (either side).
CREATE FUNCTION steward_owns(p_identity bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT EXISTS (SELECT 1 FROM identity i WHERE i.id = p_identity AND steward_me() IS NOT NULL
                   AND steward_me() IN (i.business_owner_id, i.technical_owner_id))
$$;

CREATE POLICY reviewer_decides ON review_decision FOR INSERT TO steward_reviewer
    WITH CHECK (reviewer_id = steward_me() AND steward_may_decide(item_id));
CREATE POLICY reviewer_items ON review_item FOR UPDATE TO steward_reviewer
    USING (steward_may_decide(id)) WITH CHECK (steward_may_decide(id));
CREATE POLICY reviewer_identity ON identity FOR UPDATE TO steward_reviewer
    USING (steward_reviews(id)) WITH CHECK (true);
CREATE POLICY reviewer_scopes ON identity_scope TO steward_reviewer
    USING (steward_reviews(identity_id)) WITH CHECK (steward_reviews(identity_id));
CREATE POLICY reviewer_accepts ON finding_acceptance FOR INSERT TO steward_reviewer
    WITH CHECK (approver_id = steward_me() AND NOT steward_owns(identity_id));

CREATE POLICY owner_attests ON attestation FOR INSERT TO steward_owner
    WITH CHECK (person_id = steward_me() AND steward_owns(identity_id));
CREATE POLICY owner_identity ON identity FOR UPDATE TO steward_owner
    USING (steward_owns(id)) WITH CHECK (steward_owns(id));
CREATE POLICY owner_scopes ON identity_scope FOR UPDATE TO steward_owner
    USING (steward_owns(identity_id)) WITH CHECK (steward_owns(identity_id));
