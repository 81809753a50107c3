//! SQL for templates, the framework mapping, accepted findings, and the inventory snapshot
//! the rules evaluate.

use super::{on, Db};
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

/// The columns [`TemplateRow`] reads.
macro_rules! select_template {
    () => {
        "SELECT key, name, description, kinds, max_scopes, allow_offline_access, \
         allow_bulk_export, max_access_token_lifetime_s, expected_auth_method, updated_at \
         FROM use_case_template"
    };
}

/// Every template, by key.
pub async fn templates(db: &mut Db) -> Result<Vec<Template>> {
    let sql = concat!(select_template!(), " ORDER BY key");
    let rows: Vec<TemplateRow> = on!(db, |c| sqlx::query_as(sql).fetch_all(c).await)?;
    Ok(rows.into_iter().map(Template::from).collect())
}

/// One template.
pub async fn template(db: &mut Db, key: &str) -> Result<Option<Template>> {
    let sql = concat!(select_template!(), " WHERE key = $1");
    let row: Option<TemplateRow> = on!(db, |c| sqlx::query_as(sql)
        .bind(key)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(Template::from))
}

/// Writes every field of a template, adding it when its key is new.
pub async fn save_template(db: &mut Db, t: &Template) -> Result<()> {
    let kinds: Vec<&str> = t.kinds.iter().map(|k| k.as_str()).collect();
    let kinds = kinds.join(" ");
    let max_scopes = t.max_scopes.as_ref().map(|s| s.join(" "));
    on!(db, |c| sqlx::query(
        "INSERT INTO use_case_template (key, name, description, kinds, max_scopes, \
         allow_offline_access, allow_bulk_export, max_access_token_lifetime_s, \
         expected_auth_method, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (key) DO UPDATE SET name = excluded.name, \
         description = excluded.description, kinds = excluded.kinds, \
         max_scopes = excluded.max_scopes, allow_offline_access = excluded.allow_offline_access, \
         allow_bulk_export = excluded.allow_bulk_export, \
         max_access_token_lifetime_s = excluded.max_access_token_lifetime_s, \
         expected_auth_method = excluded.expected_auth_method, updated_at = excluded.updated_at",
    )
    .bind(&t.key)
    .bind(&t.name)
    .bind(&t.description)
    .bind(&kinds)
    .bind(&max_scopes)
    .bind(t.allow_offline_access)
    .bind(t.allow_bulk_export)
    .bind(t.max_access_token_lifetime_s)
    .bind(&t.expected_auth_method)
    .bind(&t.updated_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Removes a template.
pub async fn delete_template(db: &mut Db, key: &str) -> Result<()> {
    on!(db, |c| sqlx::query(
        "DELETE FROM use_case_template WHERE key = $1"
    )
    .bind(key)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// How many identities name a template as their use case.
pub async fn template_uses(db: &mut Db, key: &str) -> Result<i64> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "SELECT count(*) FROM identity WHERE use_case = $1"
    )
    .bind(key)
    .fetch_one(c)
    .await)?)
}

/// The rule-to-control mapping.
pub async fn mappings(db: &mut Db) -> Result<Vec<Mapping>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT rule, framework, control FROM framework_mapping ORDER BY rule, framework, control",
    )
    .fetch_all(c)
    .await)?)
}

/// An acceptance in force or expired: (rule, identity, until).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Acceptance {
    pub rule: String,
    pub identity_id: i64,
    pub until: String,
}

/// The latest acceptance of each (rule, identity).
pub async fn acceptances(db: &mut Db) -> Result<Vec<Acceptance>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT rule, identity_id, max(until) AS until FROM finding_acceptance \
         GROUP BY rule, identity_id",
    )
    .fetch_all(c)
    .await)?)
}

/// Records an acceptance.
pub async fn insert_acceptance(
    db: &mut Db,
    rule: &str,
    identity_id: i64,
    until: &str,
    reason: &str,
    approver_id: i64,
    created_at: &str,
) -> Result<i64> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "INSERT INTO finding_acceptance (rule, identity_id, until, reason, approver_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(rule)
    .bind(identity_id)
    .bind(until)
    .bind(reason)
    .bind(approver_id)
    .bind(created_at)
    .fetch_one(c)
    .await)?)
}

/// One identity as the rules read it: the row, its scope sets (space-joined) and its owners.
#[derive(sqlx::FromRow)]
pub struct SubjectRow {
    #[sqlx(flatten)]
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
    // The owners are a few hundred people: looked up here rather than joined for each row.
    let people: rustc_hash::FxHashMap<i64, (String, bool)> = db
        .conn()
        .prepare("SELECT id, name, active FROM person")?
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {RECORD_COLUMNS} FROM identity i WHERE ?1 IS NULL OR i.id = ?1 ORDER BY i.id",
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
    let owner = |id: Option<i64>| match id.and_then(|id| people.get(&id)) {
        Some((name, active)) => (Some(name.clone()), Some(*active)),
        None => (None, None),
    };
    for row in stmt.query_map([identity_id], record)? {
        let record = row?;
        let (bo_name, bo_active) = owner(record.business_owner_id);
        let (to_name, to_active) = owner(record.technical_owner_id);
        subjects.push(SubjectRow {
            record,
            approved: None,
            granted: None,
            unjustified: None,
            bo_name,
            bo_active,
            to_name,
            to_active,
        });
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

/// A [`snapshot`] read through sqlx, for a team database (where no bulk connection opens):
/// the same rows in the same order (identities and credentials by id, each set's scopes in
/// scope order, an approved scope unjustified when its justification is none or only
/// spaces).
pub async fn snapshot_db(db: &mut Db, identity_id: Option<i64>) -> Result<Snapshot> {
    // Each set's scopes are gathered in one pass over the scopes, grouped by identity.
    let sql = format!(
        "SELECT {RECORD_COLUMNS}, bo.name AS bo_name, bo.active AS bo_active, \
           tech.name AS to_name, tech.active AS to_active, \
           sc.approved, sc.granted, sc.unjustified \
         FROM identity i \
         LEFT JOIN person bo ON bo.id = i.business_owner_id \
         LEFT JOIN person tech ON tech.id = i.technical_owner_id \
         LEFT JOIN (SELECT identity_id, \
             string_agg(scope, ' ' ORDER BY scope) \
               FILTER (WHERE scope_set = 'approved') AS approved, \
             string_agg(scope, ' ' ORDER BY scope) \
               FILTER (WHERE scope_set = 'granted') AS granted, \
             string_agg(scope, ' ' ORDER BY scope) \
               FILTER (WHERE scope_set = 'approved' \
                 AND trim(coalesce(justification, '')) = '') AS unjustified \
           FROM identity_scope WHERE $1 IS NULL OR identity_id = $1 \
           GROUP BY identity_id) sc ON sc.identity_id = i.id \
         WHERE $1 IS NULL OR i.id = $1 \
         ORDER BY i.id"
    );
    let subjects: Vec<SubjectRow> = on!(db, |c| sqlx::query_as(&sql)
        .bind(identity_id)
        .fetch_all(c)
        .await)?;
    // Reuse is judged across the whole inventory, so credentials are always read in full.
    let credentials: Vec<CredentialFacts> = on!(db, |c| sqlx::query_as(
        "SELECT identity_id, kind, fingerprint, issued_at, rotated_at, expires_at \
         FROM credential ORDER BY id",
    )
    .fetch_all(c)
    .await)?;
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
    i.created_at, i.updated_at, i.ai_agent, i.reauth_reason, i.reauth_since, i.version, \
    i.reviewed_elsewhere_at";

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
        version: r.get(24)?,
        reviewed_elsewhere_at: r.get(25)?,
    })
}

/// (id, client_id, environment) of every identity, for the cross-inventory rules.
pub async fn client_ids(db: &mut Db) -> Result<Vec<(i64, String, crate::inventory::Environment)>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT id, client_id, environment FROM identity"
    )
    .fetch_all(c)
    .await)?)
}

/// Records (or replaces) one day of the posture series.
pub async fn record_posture(db: &mut Db, p: &crate::policy::PosturePoint) -> Result<()> {
    on!(db, |c| sqlx::query(
        "INSERT INTO posture_history (day, least_privilege_pct, open_findings, identities) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (day) DO UPDATE SET \
         least_privilege_pct = excluded.least_privilege_pct, \
         open_findings = excluded.open_findings, identities = excluded.identities",
    )
    .bind(&p.day)
    .bind(p.least_privilege_pct)
    .bind(p.open_findings)
    .bind(p.identities)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The last `days` days of the posture series, oldest first.
pub async fn posture_history(db: &mut Db, days: i64) -> Result<Vec<crate::policy::PosturePoint>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT day, least_privilege_pct, open_findings, identities FROM \
         (SELECT * FROM posture_history ORDER BY day DESC LIMIT $1) AS recent ORDER BY day",
    )
    .bind(days)
    .fetch_all(c)
    .await)?)
}
