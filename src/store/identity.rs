//! SQL for identities, their scope sets and credentials. Scope storage lives here and only
//! here, so the scope engine's canonical form is one change away.

use sqlx::QueryBuilder;

use super::{on, Db};

use crate::inventory::{
    Credential, Environment, Identity, IdentityFilter, IdentityPage, IdentitySort, Person, ScopeSet,
};
use crate::scope::{self, ScopeSet as Scopes};

pub use crate::inventory::{IdentityRecord, NewCredential};
use crate::Result;

/// A stored scope of either set.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredScope {
    pub scope_set: ScopeSet,
    pub scope: String,
    pub justification: Option<String>,
    pub approved_by: Option<i64>,
}

const RECORD_COLUMNS: &str = "client_id, environment, name, kind, vendor, status, \
    business_owner_id, technical_owner_id, purpose, use_case, auth_method, \
    access_token_lifetime_s, refresh_token_lifetime_s, jwks_uri, revocation_endpoint, \
    last_used_at, last_reviewed_at, next_review_due, created_at, updated_at, ai_agent, reauth_reason, \
    reauth_since, reviewed_elsewhere_at";

/// Pushes a record's values (every column of [`RECORD_COLUMNS`]) onto a `push_values` row.
macro_rules! push_record_values {
    ($b:expr, $r:expr) => {
        $b.push_bind($r.client_id.clone())
            .push_bind($r.environment)
            .push_bind($r.name.clone())
            .push_bind($r.kind)
            .push_bind($r.vendor.clone())
            .push_bind($r.status)
            .push_bind($r.business_owner_id)
            .push_bind($r.technical_owner_id)
            .push_bind($r.purpose.clone())
            .push_bind($r.use_case.clone())
            .push_bind($r.auth_method.clone())
            .push_bind($r.access_token_lifetime_s)
            .push_bind($r.refresh_token_lifetime_s)
            .push_bind($r.jwks_uri.clone())
            .push_bind($r.revocation_endpoint.clone())
            .push_bind($r.last_used_at.clone())
            .push_bind($r.last_reviewed_at.clone())
            .push_bind($r.next_review_due.clone())
            .push_bind($r.created_at.clone())
            .push_bind($r.updated_at.clone())
            .push_bind($r.ai_agent)
            .push_bind($r.reauth_reason.clone())
            .push_bind($r.reauth_since.clone())
            .push_bind($r.reviewed_elsewhere_at.clone())
    };
}

/// Inserts identities; a record's `id` is used when positive, else the database assigns one.
/// Returns the ids in input order.
pub async fn insert(db: &mut Db, records: &[IdentityRecord]) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(records.len());
    // PostgreSQL's identity column takes no NULL: the ids a record leaves open are drawn from
    // its sequence first, and the sequence is moved past any id given.
    let drawn: Vec<i64> = if db.is_pg() {
        let open = records.iter().filter(|r| r.id <= 0).count() as i64;
        on!(db, |c| sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('identity', 'id')) FROM generate_series(1, $1)"
        )
        .bind(open)
        .fetch_all(c)
        .await)?
    } else {
        Vec::new()
    };
    let mut drawn = drawn.into_iter();
    let given: Vec<Option<i64>> = records
        .iter()
        .map(|r| if r.id > 0 { Some(r.id) } else { drawn.next() })
        .collect();
    // 25 values a row keeps a 1000-row statement under SQLite's variable limit.
    for (chunk, chunk_ids) in records.chunks(1000).zip(given.chunks(1000)) {
        let rows: Vec<(i64,)> = on!(db, |c| {
            let mut q = QueryBuilder::new("INSERT INTO identity (id, ");
            q.push(RECORD_COLUMNS).push(") ");
            q.push_values(chunk.iter().zip(chunk_ids), |mut b, (r, id)| {
                b.push_bind(*id);
                push_record_values!(b, r);
            });
            q.push(" RETURNING id");
            q.build_query_as().fetch_all(c).await
        })?;
        ids.extend(rows.into_iter().map(|(id,)| id));
    }
    if db.is_pg() && records.iter().any(|r| r.id > 0) {
        on!(db, |c| sqlx::query(
            "SELECT setval(pg_get_serial_sequence('identity', 'id'), \
             greatest((SELECT max(id) FROM identity), 1))"
        )
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    super::usage::claim_usage(&mut *db, &ids).await?;
    Ok(ids)
}

/// Writes every column of an existing identity, if it is still at `r.version`; raises the
/// version. An identity changed by someone else since it was read is a conflict.
pub async fn update(db: &mut Db, r: &IdentityRecord) -> Result<()> {
    let done = on!(db, |c| sqlx::query(
        "UPDATE identity SET client_id = $2, environment = $3, name = $4, kind = $5, \
         vendor = $6, status = $7, business_owner_id = $8, technical_owner_id = $9, \
         purpose = $10, use_case = $11, auth_method = $12, access_token_lifetime_s = $13, \
         refresh_token_lifetime_s = $14, jwks_uri = $15, revocation_endpoint = $16, \
         last_used_at = $17, last_reviewed_at = $18, next_review_due = $19, updated_at = $20, \
         ai_agent = $21, reauth_reason = $22, reauth_since = $23, reviewed_elsewhere_at = $24, \
         version = version + 1 WHERE id = $1 AND version = $25",
    )
    .bind(r.id)
    .bind(&r.client_id)
    .bind(r.environment)
    .bind(&r.name)
    .bind(r.kind)
    .bind(&r.vendor)
    .bind(r.status)
    .bind(r.business_owner_id)
    .bind(r.technical_owner_id)
    .bind(&r.purpose)
    .bind(&r.use_case)
    .bind(&r.auth_method)
    .bind(r.access_token_lifetime_s)
    .bind(r.refresh_token_lifetime_s)
    .bind(&r.jwks_uri)
    .bind(&r.revocation_endpoint)
    .bind(&r.last_used_at)
    .bind(&r.last_reviewed_at)
    .bind(&r.next_review_due)
    .bind(&r.updated_at)
    .bind(r.ai_agent)
    .bind(&r.reauth_reason)
    .bind(&r.reauth_since)
    .bind(&r.reviewed_elsewhere_at)
    .bind(r.version)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if done == 0 {
        return Err(crate::Error::Conflict(format!(
            "identity {} ({}) was changed by someone else since it was read; reload and try \
             again",
            r.id, r.client_id
        )));
    }
    Ok(())
}

/// One identity by id.
pub async fn get(db: &mut Db, id: i64) -> Result<Option<IdentityRecord>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT * FROM identity WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// Identities with this client_id, in one environment or in all of them.
pub async fn by_client_id(
    db: &mut Db,
    client_id: &str,
    environment: Option<Environment>,
) -> Result<Vec<IdentityRecord>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT * FROM identity WHERE client_id = $1 AND ($2 IS NULL OR environment = $2) \
         ORDER BY id",
    )
    .bind(client_id)
    .bind(environment)
    .fetch_all(c)
    .await)?)
}

/// How many identities there are.
pub async fn count(db: &mut Db) -> Result<i64> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "SELECT count(*) FROM identity"
    )
    .fetch_one(c)
    .await)?)
}

/// The largest id in use (0 when empty).
pub async fn max_id(db: &mut Db) -> Result<i64> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "SELECT coalesce(max(id), 0) FROM identity"
    )
    .fetch_one(c)
    .await)?)
}

/// An identity with its owners' columns and both scope sets joined; read row by row (one
/// identity) or packed as JSON by [`PACKED_LIST_SELECT`] (many).
#[derive(sqlx::FromRow, serde::Deserialize)]
struct ListRow {
    #[sqlx(flatten)]
    #[serde(flatten)]
    record: IdentityRecord,
    bo_name: Option<String>,
    bo_email: Option<String>,
    bo_active: Option<bool>,
    to_name: Option<String>,
    to_email: Option<String>,
    to_active: Option<bool>,
    approved: Option<String>,
    granted: Option<String>,
}

/// A person from the columns of a LEFT JOIN (none when the join found nobody).
pub(super) fn person(
    id: Option<i64>,
    name: Option<String>,
    email: Option<String>,
    active: Option<bool>,
) -> Option<Person> {
    Some(Person {
        id: id?,
        name: name?,
        email: email?,
        active: active.unwrap_or(true),
    })
}

/// Scopes from a `string_agg(scope, ' ')`, sorted.
pub(super) fn scope_list(joined: Option<String>) -> Vec<String> {
    let mut v: Vec<String> = joined
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

impl From<ListRow> for Identity {
    fn from(row: ListRow) -> Self {
        let r = row.record;
        let granted = scope_list(row.granted);
        let granted_set = Scopes::parse(&granted.join(" "));
        let risk = scope::risk(&granted_set);
        Identity {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            kind: r.kind,
            environment: r.environment,
            status: r.status,
            vendor: r.vendor,
            business_owner: person(
                r.business_owner_id,
                row.bo_name,
                row.bo_email,
                row.bo_active,
            ),
            technical_owner: person(
                r.technical_owner_id,
                row.to_name,
                row.to_email,
                row.to_active,
            ),
            purpose: r.purpose,
            use_case: r.use_case,
            approved_scopes: scope_list(row.approved),
            risk_score: risk.score,
            risk_tier: risk.tier,
            review_tier: crate::review::tier(r.environment, &granted_set),
            granted_scopes: granted,
            auth_method: r.auth_method,
            access_token_lifetime_s: r.access_token_lifetime_s,
            refresh_token_lifetime_s: r.refresh_token_lifetime_s,
            jwks_uri: r.jwks_uri,
            revocation_endpoint: r.revocation_endpoint,
            last_used_at: r.last_used_at,
            last_reviewed_at: r.last_reviewed_at,
            next_review_due: r.next_review_due,
            created_at: r.created_at,
            updated_at: r.updated_at,
            ai_agent: r.ai_agent,
            reauth_reason: r.reauth_reason,
            reauth_since: r.reauth_since,
            reviewed_elsewhere_at: r.reviewed_elsewhere_at,
        }
    }
}

/// The approved and granted scopes of identity `i`, as two space-joined columns.
macro_rules! scope_columns {
    () => {
        "(SELECT string_agg(s.scope, ' ') FROM identity_scope s \
           WHERE s.identity_id = i.id AND s.scope_set = 'approved') AS approved, \
         (SELECT string_agg(s.scope, ' ') FROM identity_scope s \
           WHERE s.identity_id = i.id AND s.scope_set = 'granted') AS granted"
    };
}
pub(super) use scope_columns;

const LIST_SELECT: &str = concat!(
    "SELECT i.*, \
     bo.name AS bo_name, bo.email AS bo_email, bo.active AS bo_active, \
     tech.name AS to_name, tech.email AS to_email, tech.active AS to_active, ",
    scope_columns!(),
    " FROM identity i \
     LEFT JOIN person bo ON bo.id = i.business_owner_id \
     LEFT JOIN person tech ON tech.id = i.technical_owner_id"
);

/// [`LIST_SELECT`]'s columns for the identities whose ids are the JSON array `$1`, as one
/// JSON array of objects (the names [`ListRow`] reads).
const PACKED_LIST_SELECT: &str = concat!(
    "SELECT json_group_array(json_object(\
       'id', i.id, 'client_id', i.client_id, 'environment', i.environment, 'name', i.name, \
       'kind', i.kind, 'vendor', i.vendor, 'status', i.status, \
       'business_owner_id', i.business_owner_id, 'technical_owner_id', i.technical_owner_id, \
       'purpose', i.purpose, 'use_case', i.use_case, 'auth_method', i.auth_method, \
       'access_token_lifetime_s', i.access_token_lifetime_s, \
       'refresh_token_lifetime_s', i.refresh_token_lifetime_s, 'jwks_uri', i.jwks_uri, \
       'revocation_endpoint', i.revocation_endpoint, 'last_used_at', i.last_used_at, \
       'last_reviewed_at', i.last_reviewed_at, 'next_review_due', i.next_review_due, \
       'created_at', i.created_at, 'updated_at', i.updated_at, 'ai_agent', ",
    super::json_bool!("i.ai_agent"),
    ", 'reauth_reason', i.reauth_reason, 'reauth_since', i.reauth_since, \
       'version', i.version, 'reviewed_elsewhere_at', i.reviewed_elsewhere_at, \
       'bo_name', bo.name, 'bo_email', bo.email, 'bo_active', ",
    super::json_bool!("bo.active"),
    ", 'to_name', tech.name, 'to_email', tech.email, 'to_active', ",
    super::json_bool!("tech.active"),
    ", 'approved', approved, 'granted', granted)) FROM (SELECT i.*, ",
    scope_columns!(),
    " FROM identity i WHERE i.id IN (SELECT value FROM json_each($1))) i \
     LEFT JOIN person bo ON bo.id = i.business_owner_id \
     LEFT JOIN person tech ON tech.id = i.technical_owner_id"
);

/// [`PACKED_LIST_SELECT`] in PostgreSQL's spelling (its booleans are JSON booleans as they
/// are; `json_build_object` takes at most 100 arguments, so the row is two objects merged).
const PACKED_LIST_SELECT_PG: &str = concat!(
    "SELECT json_agg((jsonb_build_object(\
       'id', i.id, 'client_id', i.client_id, 'environment', i.environment, 'name', i.name, \
       'kind', i.kind, 'vendor', i.vendor, 'status', i.status, \
       'business_owner_id', i.business_owner_id, 'technical_owner_id', i.technical_owner_id, \
       'purpose', i.purpose, 'use_case', i.use_case, 'auth_method', i.auth_method, \
       'access_token_lifetime_s', i.access_token_lifetime_s, \
       'refresh_token_lifetime_s', i.refresh_token_lifetime_s, 'jwks_uri', i.jwks_uri, \
       'revocation_endpoint', i.revocation_endpoint, 'last_used_at', i.last_used_at, \
       'last_reviewed_at', i.last_reviewed_at, 'next_review_due', i.next_review_due) || \
       jsonb_build_object('created_at', i.created_at, 'updated_at', i.updated_at, \
       'ai_agent', i.ai_agent, 'reauth_reason', i.reauth_reason, \
       'reauth_since', i.reauth_since, 'version', i.version, \
       'reviewed_elsewhere_at', i.reviewed_elsewhere_at, \
       'bo_name', bo.name, 'bo_email', bo.email, 'bo_active', bo.active, \
       'to_name', tech.name, 'to_email', tech.email, 'to_active', tech.active, \
       'approved', approved, 'granted', granted))::json)::text FROM (SELECT i.*, ",
    scope_columns!(),
    " FROM identity i WHERE i.id IN \
       (SELECT value::bigint FROM json_array_elements_text($1::json))) i \
     LEFT JOIN person bo ON bo.id = i.business_owner_id \
     LEFT JOIN person tech ON tech.id = i.technical_owner_id"
);

/// Pushes the WHERE clause of an identity filter onto a query builder. Search is
/// case-insensitive on both engines (`like` is `LIKE` on SQLite, `ILIKE` on PostgreSQL).
macro_rules! push_filter {
    ($q:expr, $f:expr, $like:expr) => {{
        let q = &mut $q;
        let f: &IdentityFilter = $f;
        q.push(" WHERE 1 = 1");
        if let Some(env) = f.environment {
            q.push(" AND i.environment = ").push_bind(env);
        }
        if let Some(kind) = f.kind {
            q.push(" AND i.kind = ").push_bind(kind);
        }
        if let Some(status) = f.status {
            q.push(" AND i.status = ").push_bind(status);
        }
        if let Some(owner) = f.owner {
            q.push(" AND (i.business_owner_id = ")
                .push_bind(owner)
                .push(" OR i.technical_owner_id = ")
                .push_bind(owner)
                .push(")");
        }
        if let Some(term) = f.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let escaped = term
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pattern = format!("%{escaped}%");
            q.push(" AND (");
            for (i, col) in [
                "i.name",
                "i.client_id",
                "i.vendor",
                "i.purpose",
                "bo.name",
                "tech.name",
            ]
            .iter()
            .enumerate()
            {
                if i > 0 {
                    q.push(" OR ");
                }
                q.push(*col)
                    .push($like)
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\'");
            }
            q.push(")");
        }
    }};
}

/// The SQL expression a sort orders by, and whether it can be null. Names sort without case:
/// `COLLATE NOCASE` on SQLite (its index serves the order), `lower()` on PostgreSQL.
fn sort_expression(sort: IdentitySort, pg: bool) -> (&'static str, bool) {
    let nocase = |lite: &'static str, postgres: &'static str| if pg { postgres } else { lite };
    match sort {
        IdentitySort::Name => (nocase("i.name COLLATE NOCASE", "lower(i.name)"), false),
        IdentitySort::Kind => ("i.kind", false),
        IdentitySort::Environment => ("i.environment", false),
        IdentitySort::BusinessOwner => (nocase("bo.name COLLATE NOCASE", "lower(bo.name)"), true),
        IdentitySort::TechnicalOwner => {
            (nocase("tech.name COLLATE NOCASE", "lower(tech.name)"), true)
        }
        IdentitySort::Purpose => (nocase("i.purpose COLLATE NOCASE", "lower(i.purpose)"), true),
        IdentitySort::GrantedScopes => (
            "(SELECT count(*) FROM identity_scope s \
              WHERE s.identity_id = i.id AND s.scope_set = 'granted')",
            false,
        ),
        IdentitySort::NextReviewDue => ("i.next_review_due", true),
        IdentitySort::Status => ("i.status", false),
    }
}

/// One page of identities matching a filter, and the number that match in all.
///
/// The page's ids are found first and the rows (with their scope sets) are read for those
/// ids only, so a page costs the same on 100 identities as on 100,000.
pub async fn list(db: &mut Db, f: &IdentityFilter) -> Result<IdentityPage> {
    // People are joined only when the search or the sort needs them.
    let from = |people: bool| {
        if people {
            "FROM identity i \
             LEFT JOIN person bo ON bo.id = i.business_owner_id \
             LEFT JOIN person tech ON tech.id = i.technical_owner_id"
        } else {
            "FROM identity i"
        }
    };
    let pg = db.is_pg();
    let like = if pg { " ILIKE " } else { " LIKE " };
    let searching = f.search.as_deref().is_some_and(|t| !t.trim().is_empty());
    let total: i64 = on!(db, |c| {
        let mut count = QueryBuilder::new("SELECT count(*) ");
        count.push(from(searching));
        push_filter!(count, f, like);
        count.build_query_scalar().fetch_one(c).await
    })?;

    let by_owner = matches!(
        f.sort,
        IdentitySort::BusinessOwner | IdentitySort::TechnicalOwner
    );
    let dir = if f.descending { " DESC" } else { " ASC" };
    // Nulls sort last either way; id breaks ties so paging is stable. Columns that are never
    // null skip the null test so an index can serve the order.
    let (expr, nullable) = sort_expression(f.sort, pg);
    // No limit: -1 on SQLite, NULL on PostgreSQL.
    let limit = f.limit.or((!pg).then_some(-1));
    let ids: Vec<i64> = on!(db, |c| {
        let mut q = QueryBuilder::new("SELECT i.id ");
        q.push(from(searching || by_owner));
        push_filter!(q, f, like);
        q.push(" ORDER BY ");
        if nullable {
            q.push("(").push(expr).push(") IS NULL, ");
        }
        q.push(expr).push(dir).push(", i.id").push(dir);
        q.push(" LIMIT ").push_bind(limit);
        q.push(" OFFSET ").push_bind(f.offset.unwrap_or(0));
        q.build_query_scalar().fetch_all(c).await
    })?;

    // A page can be every identity: the database packs the rows into one JSON value, read in
    // one go rather than handed over a row at a time.
    let id_list = serde_json::to_string(&ids).unwrap_or_default();
    let packed: Option<String> = on!(db, sql = (PACKED_LIST_SELECT, PACKED_LIST_SELECT_PG), |c| {
        sqlx::query_scalar(sql).bind(&id_list).fetch_one(c).await
    })?;
    let rows: Vec<ListRow> = super::unpack(packed.as_deref(), "identities")?;
    let mut found: std::collections::HashMap<i64, Identity> = rows
        .into_iter()
        .map(|r| (r.record.id, Identity::from(r)))
        .collect();
    let rows = ids.iter().filter_map(|id| found.remove(id)).collect();
    Ok(IdentityPage { total, rows })
}

/// One identity with owners and scope sets resolved.
pub async fn view(db: &mut Db, id: i64) -> Result<Option<Identity>> {
    let row: Option<ListRow> = on!(db, |c| {
        let mut q = QueryBuilder::new(LIST_SELECT);
        q.push(" WHERE i.id = ").push_bind(id);
        q.build_query_as().fetch_optional(c).await
    })?;
    Ok(row.map(Identity::from))
}

/// Both scope sets of an identity.
pub async fn scopes(db: &mut Db, identity_id: i64) -> Result<Vec<StoredScope>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT scope_set, scope, justification, approved_by FROM identity_scope \
         WHERE identity_id = $1 ORDER BY scope_set, scope",
    )
    .bind(identity_id)
    .fetch_all(c)
    .await)?)
}

/// Inserts scopes, many rows a statement. Rows: (identity, set, scope, justification).
pub async fn insert_scopes(
    db: &mut Db,
    rows: &[(i64, ScopeSet, String, Option<String>)],
) -> Result<()> {
    for chunk in rows.chunks(5000) {
        on!(db, |c| {
            let mut q = QueryBuilder::new(
                "INSERT INTO identity_scope (identity_id, scope_set, scope, justification) ",
            );
            q.push_values(chunk, |mut b, (id, set, scope, why)| {
                b.push_bind(*id)
                    .push_bind(*set)
                    .push_bind(scope.clone())
                    .push_bind(why.clone());
            });
            q.build().execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Removes scopes from one set of an identity.
pub async fn delete_scopes(
    db: &mut Db,
    identity_id: i64,
    set: ScopeSet,
    scopes: &[String],
) -> Result<()> {
    for s in scopes {
        on!(db, |c| sqlx::query(
            "DELETE FROM identity_scope WHERE identity_id = $1 AND scope_set = $2 AND scope = $3",
        )
        .bind(identity_id)
        .bind(set)
        .bind(s)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// An identity's credentials, each with how many other identities share its fingerprint.
pub async fn credentials(db: &mut Db, identity_id: i64) -> Result<Vec<Credential>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT c.id, c.kind, c.fingerprint, c.issued_at, c.expires_at, c.last_used_at, \
         c.rotated_at, c.revoked_at, \
         (SELECT count(DISTINCT o.identity_id) FROM credential o \
            WHERE o.fingerprint = c.fingerprint AND o.identity_id <> c.identity_id) AS reused_by \
         FROM credential c WHERE c.identity_id = $1 ORDER BY c.kind, c.id",
    )
    .bind(identity_id)
    .fetch_all(c)
    .await)?)
}

/// Stores credential fingerprints, skipping ones the identity already has. Returns how many
/// were new.
pub async fn insert_credentials(db: &mut Db, creds: &[NewCredential]) -> Result<u64> {
    let mut added = 0;
    for chunk in creds.chunks(5000) {
        added += on!(db, |c| {
            let mut q = QueryBuilder::new(
                "INSERT INTO credential (identity_id, kind, fingerprint, issued_at, expires_at) ",
            );
            q.push_values(chunk, |mut b, cr| {
                b.push_bind(cr.identity_id)
                    .push_bind(cr.kind)
                    .push_bind(cr.fingerprint.clone())
                    .push_bind(cr.issued_at.clone())
                    .push_bind(cr.expires_at.clone());
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(added)
}
