//! SQL for authorization servers: connections, held credentials (fingerprints and where the
//! value is, never the value), what sync saw, enforcement tasks and drills.

use super::{on, Db};
use crate::connect::vault::{Place, SecretKind};
use crate::connect::{Connection, ServerKind, ServerMetadata};
use crate::inventory::Environment;
use crate::Result;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: i64,
    environment: Environment,
    issuer: String,
    kind: ServerKind,
    realm: Option<String>,
    fhir_base: Option<String>,
    token_endpoint: String,
    revocation_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    registration_endpoint: Option<String>,
    grant_types: String,
    auth_methods: String,
    scopes_supported: String,
    metadata_sources: String,
    admin_client_id: Option<String>,
    discovered_at: String,
    last_sync_at: Option<String>,
}

impl From<ConnectionRow> for Connection {
    fn from(r: ConnectionRow) -> Self {
        Connection {
            id: r.id,
            environment: r.environment,
            issuer: r.issuer,
            kind: r.kind,
            realm: r.realm,
            fhir_base: r.fhir_base,
            token_endpoint: r.token_endpoint,
            revocation_endpoint: r.revocation_endpoint,
            introspection_endpoint: r.introspection_endpoint,
            registration_endpoint: r.registration_endpoint,
            grant_types: words(&r.grant_types),
            auth_methods: words(&r.auth_methods),
            scopes_supported: words(&r.scopes_supported),
            metadata_sources: words(&r.metadata_sources),
            discovered_at: r.discovered_at,
            last_sync_at: r.last_sync_at,
            admin_client_id: r.admin_client_id,
        }
    }
}

const CONNECTION_SELECT: &str = "SELECT id, environment, issuer, kind, realm, fhir_base, \
    token_endpoint, revocation_endpoint, introspection_endpoint, registration_endpoint, \
    grant_types, auth_methods, scopes_supported, metadata_sources, admin_client_id, \
    discovered_at, last_sync_at FROM connection";

/// Every connection, by environment.
pub async fn list(db: &mut Db) -> Result<Vec<Connection>> {
    let sql = format!("{CONNECTION_SELECT} ORDER BY environment");
    let rows: Vec<ConnectionRow> = on!(db, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The connection of `env`.
pub async fn get(db: &mut Db, env: Environment) -> Result<Option<Connection>> {
    let sql = format!("{CONNECTION_SELECT} WHERE environment = $1");
    let row: Option<ConnectionRow> = on!(db, |c| sqlx::query_as(&sql)
        .bind(env)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(Into::into))
}

/// What `connect add` records besides the metadata.
pub struct NewConnection<'a> {
    pub environment: Environment,
    pub kind: ServerKind,
    pub realm: Option<&'a str>,
    pub fhir_base: Option<&'a str>,
    pub admin_client_id: Option<&'a str>,
}

/// Records a new connection with its metadata; returns its id.
pub async fn insert(
    db: &mut Db,
    c: &NewConnection<'_>,
    m: &ServerMetadata,
    at: &str,
) -> Result<i64> {
    let id: i64 = on!(db, |conn| sqlx::query_scalar(
        "INSERT INTO connection (environment, issuer, kind, realm, fhir_base, token_endpoint, \
         admin_client_id, discovered_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         RETURNING id",
    )
    .bind(c.environment)
    .bind(&m.issuer)
    .bind(c.kind)
    .bind(c.realm)
    .bind(c.fhir_base)
    .bind(&m.token_endpoint)
    .bind(c.admin_client_id)
    .bind(at)
    .fetch_one(conn)
    .await)?;
    rediscovered(db, id, m, at).await?;
    Ok(id)
}

/// Replaces a connection's metadata with what was read again.
pub async fn rediscovered(db: &mut Db, id: i64, m: &ServerMetadata, at: &str) -> Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE connection SET token_endpoint = $2, revocation_endpoint = $3, \
         introspection_endpoint = $4, registration_endpoint = $5, grant_types = $6, \
         auth_methods = $7, scopes_supported = $8, metadata_sources = $9, discovered_at = $10 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(&m.token_endpoint)
    .bind(&m.revocation_endpoint)
    .bind(&m.introspection_endpoint)
    .bind(&m.registration_endpoint)
    .bind(m.grant_types_supported.join(" "))
    .bind(m.token_endpoint_auth_methods_supported.join(" "))
    .bind(m.scopes_supported.join(" "))
    .bind(m.sources.join(" "))
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Notes a sync (and the newest event time read, for Keycloak).
pub async fn synced(db: &mut Db, id: i64, at: &str, last_event_at: Option<&str>) -> Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE connection SET last_sync_at = $2, \
         last_event_at = COALESCE($3, last_event_at) WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(last_event_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The newest Keycloak event time read by a sync of `id`.
pub async fn last_event_at(db: &mut Db, id: i64) -> Result<Option<String>> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "SELECT last_event_at FROM connection WHERE id = $1"
    )
    .bind(id)
    .fetch_one(c)
    .await)?)
}

/// A held credential as recorded (never its value).
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS, sqlx::FromRow)]
pub struct HeldRow {
    pub subject: String,
    pub kind: SecretKind,
    pub fingerprint: String,
    pub kid: Option<String>,
    /// `keychain` or `file`.
    pub store: String,
    /// The keychain account or the file.
    pub location: String,
    pub set_at: String,
    pub set_by: String,
}

impl HeldRow {
    pub fn place(&self) -> Result<Place> {
        Place::from_parts(&self.store, &self.location)
    }
}

/// Records (or replaces) a held credential.
pub async fn hold(db: &mut Db, h: &HeldRow) -> Result<()> {
    on!(db, |c| sqlx::query(
        "INSERT INTO held_credential (subject, kind, fingerprint, kid, store, location, set_at, \
         set_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (subject, kind) DO UPDATE \
         SET fingerprint = excluded.fingerprint, kid = excluded.kid, store = excluded.store, \
         location = excluded.location, set_at = excluded.set_at, set_by = excluded.set_by",
    )
    .bind(&h.subject)
    .bind(h.kind)
    .bind(&h.fingerprint)
    .bind(&h.kid)
    .bind(&h.store)
    .bind(&h.location)
    .bind(&h.set_at)
    .bind(&h.set_by)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The credentials held for `subject`.
pub async fn held(db: &mut Db, subject: &str) -> Result<Vec<HeldRow>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT subject, kind, fingerprint, kid, store, location, set_at, set_by \
         FROM held_credential WHERE subject = $1 ORDER BY kind",
    )
    .bind(subject)
    .fetch_all(c)
    .await)?)
}

/// Every held credential of a kind, by subject.
pub async fn held_of_kind(db: &mut Db, kind: SecretKind) -> Result<Vec<HeldRow>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT subject, kind, fingerprint, kid, store, location, set_at, set_by \
         FROM held_credential WHERE kind = $1 ORDER BY subject",
    )
    .bind(kind)
    .fetch_all(c)
    .await)?)
}

/// What sync and registration know about an identity at its server.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ServerFacts {
    pub registration_client_uri: Option<String>,
    pub server_state: Option<String>,
    pub server_seen_at: Option<String>,
    pub drillable: bool,
}

pub async fn server_facts(db: &mut Db, identity: i64) -> Result<ServerFacts> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT registration_client_uri, server_state, server_seen_at, drillable \
         FROM identity WHERE id = $1",
    )
    .bind(identity)
    .fetch_optional(c)
    .await)?
    .unwrap_or_default())
}

/// What sync and registration know about each identity of `env`, by identity.
pub async fn server_facts_in(
    db: &mut Db,
    env: Environment,
) -> Result<std::collections::HashMap<i64, ServerFacts>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        #[sqlx(flatten)]
        facts: ServerFacts,
    }
    let rows: Vec<Row> = on!(db, |c| sqlx::query_as(
        "SELECT id, registration_client_uri, server_state, server_seen_at, drillable \
         FROM identity WHERE environment = $1",
    )
    .bind(env)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|r| (r.id, r.facts)).collect())
}

/// The granted scopes of each identity of `env`, by identity.
pub async fn granted_in(
    db: &mut Db,
    env: Environment,
) -> Result<std::collections::HashMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = on!(db, |c| sqlx::query_as(
        "SELECT s.identity_id, s.scope FROM identity_scope s JOIN identity i \
         ON i.id = s.identity_id WHERE i.environment = $1 AND s.scope_set = 'granted' \
         ORDER BY s.identity_id, s.scope",
    )
    .bind(env)
    .fetch_all(c)
    .await)?;
    let mut out: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    for (id, scope) in rows {
        out.entry(id).or_default().push(scope);
    }
    Ok(out)
}

/// Every identity's server state that is set, as (identity, state).
pub async fn server_states(db: &mut Db) -> Result<Vec<(i64, String)>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT id, server_state FROM identity WHERE server_state IS NOT NULL"
    )
    .fetch_all(c)
    .await)?)
}

pub async fn set_registration(db: &mut Db, identity: i64, uri: Option<&str>) -> Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE identity SET registration_client_uri = $2 WHERE id = $1"
    )
    .bind(identity)
    .bind(uri)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn set_server_state(db: &mut Db, identity: i64, state: &str, at: &str) -> Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE identity SET server_state = $2, server_seen_at = $3 WHERE id = $1"
    )
    .bind(identity)
    .bind(state)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn set_drillable(db: &mut Db, identity: i64, drillable: bool) -> Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE identity SET drillable = $2 WHERE id = $1"
    )
    .bind(identity)
    .bind(drillable)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// An enforcement task.
#[derive(Debug, Clone, PartialEq, serde::Serialize, ts_rs::TS, sqlx::FromRow)]
pub struct Task {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub identity_id: i64,
    pub client_id: String,
    pub environment: Environment,
    #[ts(type = "number | null")]
    pub decision_id: Option<i64>,
    pub action: String,
    /// The scopes the server should keep (`reduce`).
    pub scopes: Option<String>,
    pub state: String,
    #[ts(type = "number")]
    pub attempts: i64,
    pub last_error: Option<String>,
    pub confirmed: Option<String>,
    pub created_at: String,
    pub done_at: Option<String>,
}

const TASK_SELECT: &str = "SELECT t.id, t.identity_id, i.client_id, i.environment, t.decision_id, \
    t.action, t.scopes, t.state, t.attempts, t.last_error, t.confirmed, t.created_at, t.done_at \
    FROM enforcement_task t JOIN identity i ON i.id = t.identity_id";

/// Leaves a task (a later task of the same identity supersedes it when enforced).
pub async fn add_task(
    db: &mut Db,
    identity: i64,
    decision: Option<i64>,
    action: &str,
    scopes: Option<&str>,
    at: &str,
) -> Result<i64> {
    let id: i64 = on!(db, |c| sqlx::query_scalar(
        "INSERT INTO enforcement_task (identity_id, decision_id, action, scopes, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(identity)
    .bind(decision)
    .bind(action)
    .bind(scopes)
    .bind(at)
    .fetch_one(c)
    .await)?;
    Ok(id)
}

/// Pending tasks (of one environment's identities when given), oldest first.
pub async fn pending_tasks(db: &mut Db, env: Option<Environment>) -> Result<Vec<Task>> {
    let sql = format!(
        "{TASK_SELECT} WHERE t.state = 'pending' AND ($1 IS NULL OR i.environment = $1) \
         ORDER BY t.id"
    );
    Ok(on!(db, |c| sqlx::query_as(&sql)
        .bind(env.map(|e| e.as_str()))
        .fetch_all(c)
        .await)?)
}

/// Records an attempt: done with what was confirmed, or still pending with its error.
pub async fn task_attempted(
    db: &mut Db,
    id: i64,
    result: std::result::Result<&str, &str>,
    at: &str,
) -> Result<()> {
    let (state, confirmed, error) = match result {
        Ok(c) => ("done", Some(c), None),
        Err(e) => ("pending", None, Some(e)),
    };
    on!(db, |c| sqlx::query(
        "UPDATE enforcement_task SET attempts = attempts + 1, state = $2, confirmed = $3, \
         last_error = $4, done_at = CASE WHEN $2 = 'done' THEN $5 ELSE NULL END WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(confirmed)
    .bind(error)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A drill as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DrillRow {
    pub id: i64,
    pub identity_id: i64,
    pub client_id: String,
    pub environment: Environment,
    pub at: String,
    pub outcome: String,
    pub active_before: Option<bool>,
    pub active_after: Option<bool>,
    pub revoke_to_inactive_ms: Option<i64>,
    pub steps: String,
    pub error: Option<String>,
    pub actor: String,
}

const DRILL_SELECT: &str = "SELECT id, identity_id, client_id, environment, at, outcome, \
    active_before, active_after, revoke_to_inactive_ms, steps, error, actor FROM drill";

pub async fn insert_drill(db: &mut Db, d: &DrillRow) -> Result<i64> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "INSERT INTO drill (identity_id, client_id, environment, at, outcome, active_before, \
         active_after, revoke_to_inactive_ms, steps, error, actor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(d.identity_id)
    .bind(&d.client_id)
    .bind(d.environment)
    .bind(&d.at)
    .bind(&d.outcome)
    .bind(d.active_before)
    .bind(d.active_after)
    .bind(d.revoke_to_inactive_ms)
    .bind(&d.steps)
    .bind(&d.error)
    .bind(&d.actor)
    .fetch_one(c)
    .await)?)
}

/// The drills of one identity (every identity when `None`), newest first.
pub async fn drills(db: &mut Db, identity: Option<i64>) -> Result<Vec<DrillRow>> {
    let sql =
        format!("{DRILL_SELECT} WHERE ($1 IS NULL OR identity_id = $1) ORDER BY at DESC, id DESC");
    Ok(on!(db, |c| sqlx::query_as(&sql)
        .bind(identity)
        .fetch_all(c)
        .await)?)
}

/// Drills in a time window, oldest first (for evidence).
pub async fn drills_between(
    db: &mut Db,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<DrillRow>> {
    let sql = format!(
        "{DRILL_SELECT} WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR at <= $2) ORDER BY at, id"
    );
    Ok(on!(db, |c| sqlx::query_as(&sql)
        .bind(since)
        .bind(until)
        .fetch_all(c)
        .await)?)
}

/// Each identity's newest drill and its newest passing one: (identity, outcome, at,
/// last passed at).
pub async fn drill_summary(db: &mut Db) -> Result<Vec<(i64, String, String, Option<String>)>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT d.identity_id, d.outcome, d.at, \
         (SELECT max(p.at) FROM drill p WHERE p.identity_id = d.identity_id \
          AND p.outcome = 'passed') FROM drill d \
         WHERE d.id = (SELECT max(x.id) FROM drill x WHERE x.identity_id = d.identity_id)",
    )
    .fetch_all(c)
    .await)?)
}
/// Every identity of one environment, by id.
pub async fn identities_in(
    db: &mut Db,
    env: Environment,
) -> Result<Vec<crate::store::identity::IdentityRecord>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT * FROM identity WHERE environment = $1 ORDER BY id"
    )
    .bind(env)
    .fetch_all(c)
    .await)?)
}

/// Gives an identity the client_id its server issued (the old one stays in its history).
pub async fn set_client_id(db: &mut Db, identity: i64, client_id: &str, at: &str) -> Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE identity SET client_id = $2, updated_at = $3, version = version + 1 WHERE id = $1"
    )
    .bind(identity)
    .bind(client_id)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}
