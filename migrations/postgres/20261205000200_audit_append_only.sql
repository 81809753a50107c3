-- The audit log is append-only for every login, the schema owner included, as on SQLite:
-- members hold no UPDATE or DELETE grant at all, and these triggers stop the owner's
-- accidental or casual changes (dropping them is a deliberate act, like editing the file).
CREATE FUNCTION steward_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = '42501';
END
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION steward_audit_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION steward_audit_append_only();
