//! SQL for templates, the framework mapping, accepted findings, and the inventory snapshot
//! the rules evaluate.

use sqlx::{SqliteConnection, SqlitePool};

use crate::inventory::Kind;
use crate::policy::rules::CredentialFacts;
use crate::policy::template::Template;
use crate::policy::Mapping;
use crate::store::bulk::Bulk;
use crate::store::identity::IdentityRecord;
use crate::Result;

#[derive(sqlx::FromRow)]
struct TemplateRow {
    key: String,
    name: String,
    description: String,
    kinds: String,
    max_scopes: Option<String>,
    allow_offline_access: bool,
    allow_bulk_export: bool,
    max_access_token_lifetime_s: Option<i64>,
    expected_auth_method: Option<String>,
    updated_at: String,
}

impl From<TemplateRow> for Template {
    fn from(r: TemplateRow) -> Self {
        Template {
            key: r.key,
            name: r.name,
            description: r.description,
            kinds: r
                .kinds
                .split_whitespace()
                .filter_map(|k| k.parse::<Kind>().ok())
                .collect(),
            max_scopes: r
                .max_scopes
                .map(|s| s.split_whitespace().map(String::from).collect()),
            allow_offline_access: r.allow_offline_access,
            allow_bulk_export: r.allow_bulk_export,
            max_access_token_lifetime_s: r.max_access_token_lifetime_s,
            expected_auth_method: r.expected_auth_method,
            updated_at: r.updated_at,
        }
    }
}

/// Every template, by key.
pub async fn templates(conn: &mut SqliteConnection) -> Result<Vec<Template>> {
    let rows: Vec<TemplateRow> = sqlx::query_as("SELECT * FROM use_case_template ORDER BY key")
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(Template::from).collect())
}

/// One template.
pub async fn template(conn: &mut SqliteConnection, key: &str) -> Result<Option<Template>> {
    let row: Option<TemplateRow> = sqlx::query_as("SELECT * FROM use_case_template WHERE key = ?1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Template::from))
}

/// Writes every field of a template.
pub async fn update_template(conn: &mut SqliteConnection, t: &Template) -> Result<()> {
    let kinds: Vec<&str> = t.kinds.iter().map(|k| k.as_str()).collect();
    sqlx::query(
        "UPDATE use_case_template SET name = ?2, description = ?3, kinds = ?4, max_scopes = ?5, \
         allow_offline_access = ?6, allow_bulk_export = ?7, max_access_token_lifetime_s = ?8, \
         expected_auth_method = ?9, updated_at = ?10 WHERE key = ?1",
    )
    .bind(&t.key)
    .bind(&t.name)
    .bind(&t.description)
    .bind(kinds.join(" "))
    .bind(t.max_scopes.as_ref().map(|s| s.join(" ")))
    .bind(t.allow_offline_access)
    .bind(t.allow_bulk_export)
    .bind(t.max_access_token_lifetime_s)
    .bind(&t.expected_auth_method)
    .bind(&t.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The rule-to-control mapping.
pub async fn mappings(pool: &SqlitePool) -> Result<Vec<Mapping>> {
    Ok(sqlx::query_as(
        "SELECT rule, framework, control FROM framework_mapping ORDER BY rule, framework, control",
    )
    .fetch_all(pool)
    .await?)
}

/// An acceptance in force or expired: (rule, identity, until).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Acceptance {
    pub rule: String,
    pub identity_id: i64,
    pub until: String,
}

/// The latest acceptance of each (rule, identity).
pub async fn acceptances(pool: &SqlitePool) -> Result<Vec<Acceptance>> {
    Ok(sqlx::query_as(
        "SELECT rule, identity_id, max(until) AS until FROM finding_acceptance GROUP BY rule, identity_id",
    )
    .fetch_all(pool)
    .await?)
}

/// Records an acceptance.
pub async fn insert_acceptance(
    conn: &mut SqliteConnection,
    rule: &str,
    identity_id: i64,
    until: &str,
    reason: &str,
    approver_id: i64,
    created_at: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO finding_acceptance (rule, identity_id, until, reason, approver_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )
    .bind(rule)
    .bind(identity_id)
    .bind(until)
    .bind(reason)
    .bind(approver_id)
    .bind(created_at)
    .fetch_one(conn)
    .await?)
}

/// One identity as the rules read it: the row, its scope sets (space-joined) and its owners.
pub struct SubjectRow {
    pub record: IdentityRecord,
    pub approved: Option<String>,
    pub granted: Option<String>,
    /// Approved scopes without a justification.
    pub unjustified: Option<String>,
    pub bo_name: Option<String>,
    pub bo_active: Option<bool>,
    pub to_name: Option<String>,
    pub to_active: Option<bool>,
}

/// Everything the rules need.
pub struct Snapshot {
    pub subjects: Vec<SubjectRow>,
    pub credentials: Vec<CredentialFacts>,
}

/// Reads the inventory the rules evaluate, optionally one identity only, on a bulk
/// connection (100,000 identities of 31 columns each).
pub fn snapshot(db: &Bulk, identity_id: Option<i64>) -> Result<Snapshot> {
    let scopes = super::bulk::scope_texts(db, identity_id)?;
    let mut snap = snapshot_without_scopes(db, identity_id)?;
    attach_scopes(&mut snap, scopes);
    Ok(snap)
}

/// A [`snapshot`] whose scope texts are still to be attached ([`attach_scopes`]): they may
/// be gathered meanwhile on another connection (as [`super::bulk::scopes_csv`] does).
pub fn snapshot_without_scopes(db: &Bulk, identity_id: Option<i64>) -> Result<Snapshot> {
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {RECORD_COLUMNS}, bo.name, bo.active, tech.name, tech.active \
         FROM identity i \
         LEFT JOIN person bo ON bo.id = i.business_owner_id \
         LEFT JOIN person tech ON tech.id = i.technical_owner_id \
         WHERE ?1 IS NULL OR i.id = ?1",
    ))?;
    // Sized at once: grown a doubling at a time, the rows (a few hundred bytes each) would be
    // copied over and over into memory the system must first zero.
    let count: usize = match identity_id {
        Some(_) => 1,
        None => db
            .conn()
            .query_row("SELECT count(*) FROM identity", [], |r| r.get(0))?,
    };
    let mut subjects = Vec::with_capacity(count);
    for row in stmt.query_map([identity_id], |r| {
        Ok(SubjectRow {
            record: record(r)?,
            approved: None,
            granted: None,
            unjustified: None,
            bo_name: r.get(24)?,
            bo_active: r.get(25)?,
            to_name: r.get(26)?,
            to_active: r.get(27)?,
        })
    })? {
        subjects.push(row?);
    }
    // Reuse is judged across the whole inventory, so credentials are always read in full.
    let credentials = db
        .conn()
        .prepare(
            "SELECT identity_id, kind, fingerprint, issued_at, rotated_at, expires_at \
             FROM credential",
        )?
        .query_map([], |r| {
            Ok(CredentialFacts {
                identity_id: r.get(0)?,
                kind: r.get(1)?,
                fingerprint: r.get(2)?,
                issued_at: r.get(3)?,
                rotated_at: r.get(4)?,
                expires_at: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Snapshot {
        subjects,
        credentials,
    })
}

/// Gives each identity of `snap` its scope texts.
pub fn attach_scopes(
    snap: &mut Snapshot,
    mut scopes: rustc_hash::FxHashMap<i64, super::bulk::ScopeTexts>,
) {
    for row in &mut snap.subjects {
        let sc = scopes.remove(&row.record.id).unwrap_or_default();
        row.approved = sc.approved;
        row.granted = sc.granted;
        row.unjustified = sc.unjustified;
    }
}

/// The columns [`record`] reads, in its order.
const RECORD_COLUMNS: &str = "i.id, i.client_id, i.environment, i.name, i.kind, i.vendor, \
    i.status, i.business_owner_id, i.technical_owner_id, i.purpose, i.use_case, \
    i.auth_method, i.access_token_lifetime_s, i.refresh_token_lifetime_s, i.jwks_uri, \
    i.revocation_endpoint, i.last_used_at, i.last_reviewed_at, i.next_review_due, \
    i.created_at, i.updated_at, i.ai_agent, i.reauth_reason, i.reauth_since";

/// An identity row from the first columns of a bulk read of [`RECORD_COLUMNS`].
fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<IdentityRecord> {
    Ok(IdentityRecord {
        id: r.get(0)?,
        client_id: r.get(1)?,
        environment: r.get(2)?,
        name: r.get(3)?,
        kind: r.get(4)?,
        vendor: r.get(5)?,
        status: r.get(6)?,
        business_owner_id: r.get(7)?,
        technical_owner_id: r.get(8)?,
        purpose: r.get(9)?,
        use_case: r.get(10)?,
        auth_method: r.get(11)?,
        access_token_lifetime_s: r.get(12)?,
        refresh_token_lifetime_s: r.get(13)?,
        jwks_uri: r.get(14)?,
        revocation_endpoint: r.get(15)?,
        last_used_at: r.get(16)?,
        last_reviewed_at: r.get(17)?,
        next_review_due: r.get(18)?,
        created_at: r.get(19)?,
        updated_at: r.get(20)?,
        ai_agent: r.get(21)?,
        reauth_reason: r.get(22)?,
        reauth_since: r.get(23)?,
    })
}

/// (id, client_id, environment) of every identity, for the cross-inventory rules.
pub async fn client_ids(
    pool: &SqlitePool,
) -> Result<Vec<(i64, String, crate::inventory::Environment)>> {
    Ok(
        sqlx::query_as("SELECT id, client_id, environment FROM identity")
            .fetch_all(pool)
            .await?,
    )
}

/// (environment, kind, status, count) over the inventory.
pub async fn kinds_by_environment(
    pool: &SqlitePool,
) -> Result<Vec<(crate::inventory::Environment, Kind, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT environment, kind, status, count(*) FROM identity GROUP BY environment, kind, status",
    )
    .fetch_all(pool)
    .await?)
}

/// (overdue, due before `soon`) reviews of identities still in use.
pub async fn reviews_due(pool: &SqlitePool, now: &str, soon: &str) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT coalesce(sum(next_review_due < ?1), 0), \
                coalesce(sum(next_review_due >= ?1 AND next_review_due < ?2), 0) \
         FROM identity WHERE status NOT IN ('retired', 'revoked')",
    )
    .bind(now)
    .bind(soon)
    .fetch_one(pool)
    .await?)
}

/// Records (or replaces) one day of the posture series.
pub async fn record_posture(pool: &SqlitePool, p: &crate::api::PosturePoint) -> Result<()> {
    sqlx::query(
        "INSERT INTO posture_history (day, least_privilege_pct, open_findings, identities) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (day) DO UPDATE SET \
         least_privilege_pct = excluded.least_privilege_pct, \
         open_findings = excluded.open_findings, identities = excluded.identities",
    )
    .bind(&p.day)
    .bind(p.least_privilege_pct)
    .bind(p.open_findings)
    .bind(p.identities)
    .execute(pool)
    .await?;
    Ok(())
}

/// The last year of the posture series, oldest first.
pub async fn posture_history(pool: &SqlitePool) -> Result<Vec<crate::api::PosturePoint>> {
    Ok(sqlx::query_as(
        "SELECT * FROM (SELECT * FROM posture_history ORDER BY day DESC LIMIT 366) ORDER BY day",
    )
    .fetch_all(pool)
    .await?)
}
