//! SQL for usage aggregates, imports and token events.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Database, Encode, Postgres, Sqlite, Type};

use super::identity::scope_columns;
use super::{on, Db, Engine, Split};
use crate::inventory::{Environment, Kind};
use crate::{Error, Result};

/// A previous import of the same content, if any: (id, imported_at).
pub async fn previous_import(
    db: &mut Db,
    kind: &str,
    content_hash: &str,
    environment: Environment,
) -> Result<Option<(i64, String)>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT id, imported_at FROM usage_import WHERE kind = $1 AND content_hash = $2 \
         AND environment = $3",
    )
    .bind(kind)
    .bind(content_hash)
    .bind(environment)
    .fetch_optional(c)
    .await)?)
}

/// Records an import; returns its id.
#[allow(clippy::too_many_arguments)]
pub async fn insert_import(
    db: &mut Db,
    kind: &str,
    file: &str,
    content_hash: &str,
    environment: Environment,
    records: i64,
    malformed: i64,
    at: &str,
) -> Result<i64> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "INSERT INTO usage_import (kind, file, content_hash, environment, records, malformed, \
         imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(kind)
    .bind(file)
    .bind(content_hash)
    .bind(environment)
    .bind(records)
    .bind(malformed)
    .bind(at)
    .fetch_one(c)
    .await)?)
}

/// (client_id, environment) -> identity id of every identity.
pub async fn identities_by_client(db: &mut Db) -> Result<HashMap<(String, Environment), i64>> {
    let rows: Vec<(String, Environment, i64)> = on!(db, |c| sqlx::query_as(
        "SELECT client_id, environment, id FROM identity"
    )
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|(c, e, id)| ((c, e), id)).collect())
}

/// client_id -> kind of the identities of one environment.
pub async fn client_kinds(db: &mut Db, environment: Environment) -> Result<HashMap<String, Kind>> {
    let rows: Vec<(String, Kind)> = on!(db, |c| sqlx::query_as(
        "SELECT client_id, kind FROM identity WHERE environment = $1"
    )
    .bind(environment)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().collect())
}

/// token fingerprint -> the scopes it was issued with (as the token events of one
/// environment recorded them, the latest issuance or scope change last).
pub async fn token_scopes(db: &mut Db, environment: Environment) -> Result<Vec<(String, String)>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT token_fingerprint, scopes FROM token_event \
         WHERE environment = $1 AND token_fingerprint IS NOT NULL AND scopes IS NOT NULL \
           AND event IN ('issued', 'refreshed', 'scope_changed') \
         ORDER BY at, id",
    )
    .bind(environment)
    .fetch_all(c)
    .await)?)
}

/// token fingerprint -> client_id from the token events of one environment.
pub async fn token_clients(
    db: &mut Db,
    environment: Environment,
) -> Result<HashMap<String, String>> {
    let rows: Vec<(String, String)> = on!(db, |c| sqlx::query_as(
        "SELECT token_fingerprint, client_id FROM token_event \
         WHERE environment = $1 AND token_fingerprint IS NOT NULL AND client_id <> ''",
    )
    .bind(environment)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().collect())
}

/// One aggregate to add. It owns its text: the values go to SQLite's thread without a copy.
#[derive(Debug, Clone)]
pub struct UsageRow {
    pub client_id: String,
    pub day: String,
    pub context: &'static str,
    pub resource_type: &'static str,
    pub interaction: &'static str,
    pub outcome: &'static str,
    pub identity_id: Option<i64>,
    pub calls: u64,
    /// Of the calls, those whose context their token's issued scopes settled.
    pub by_token: u64,
    /// Of the calls, those whose context the kind of the calling identity settled.
    pub by_identity: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// Rows a statement of [`add_usage`]: 13 values a row stay well under the engines' limits of
/// bound values (SQLite's 32766, PostgreSQL's 65535).
const ROWS_A_STATEMENT: usize = 1024;

/// The head of an upsert of usage rows; their values follow.
const INSERT_USAGE: &str = "INSERT INTO usage_daily (client_id, environment, day, context, \
    resource_type, interaction, outcome, identity_id, calls, by_token, by_identity, first_seen, \
    last_seen) ";

/// The upsert of `n` usage rows, their values bound by [`statements`] in its columns' order:
/// counts add up on a key already stored, first and last seen widen.
fn upsert(n: usize, pg: bool) -> String {
    let mut sql = String::with_capacity(INSERT_USAGE.len() + 512 + n * 13 * 6);
    sql.push_str(INSERT_USAGE);
    sql.push_str("VALUES ");
    for i in 0..n {
        sql.push_str(if i > 0 { ", (" } else { "(" });
        for c in 0..13 {
            if c > 0 {
                sql.push_str(", ");
            }
            if pg {
                sql.push_str(&format!("${}", i * 13 + c + 1));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    // PostgreSQL names the stored row by its table.
    let (t, least, greatest) = if pg {
        ("usage_daily.", "least", "greatest")
    } else {
        ("", "min", "max")
    };
    sql.push_str(&format!(
        " ON CONFLICT (client_id, environment, day, context, resource_type, interaction, \
         outcome) DO UPDATE SET calls = {t}calls + excluded.calls, \
         by_token = {t}by_token + excluded.by_token, \
         by_identity = {t}by_identity + excluded.by_identity, \
         identity_id = coalesce(excluded.identity_id, {t}identity_id), \
         first_seen = {least}({t}first_seen, excluded.first_seen), \
         last_seen = {greatest}({t}last_seen, excluded.last_seen)"
    ));
    sql
}

/// The upsert of [`ROWS_A_STATEMENT`] rows, spelled once an engine.
fn full_upsert(pg: bool) -> &'static str {
    static SQLITE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static PG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = if pg { &PG } else { &SQLITE };
    sql.get_or_init(|| upsert(ROWS_A_STATEMENT, pg))
}

/// Usage rows made ready for one engine away from its connection: each statement's values
/// already bound, so the connection only runs them.
pub struct UsageBatch {
    rows: usize,
    ready: Ready,
}

/// Each statement: its rows' values, and its text when it holds fewer than
/// [`ROWS_A_STATEMENT`] rows.
type Statements<A> = Vec<(Option<String>, A)>;

enum Ready {
    Sqlite(Statements<SqliteArguments<'static>>),
    Pg(Statements<PgArguments>),
}

impl UsageBatch {
    /// Distinct keys, of `environment`, for the engine `engine`.
    pub fn new(engine: Engine, environment: Environment, rows: Vec<UsageRow>) -> Result<Self> {
        let n = rows.len();
        let ready = match engine {
            Engine::Sqlite => Ready::Sqlite(statements::<Sqlite>(rows, environment, false)?),
            Engine::Postgres => Ready::Pg(statements::<Postgres>(rows, environment, true)?),
        };
        Ok(UsageBatch { rows: n, ready })
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// `rows` in statements of [`ROWS_A_STATEMENT`], their values bound.
fn statements<DB>(
    rows: Vec<UsageRow>,
    environment: Environment,
    pg: bool,
) -> Result<Statements<DB::Arguments<'static>>>
where
    DB: Database,
    String: Encode<'static, DB> + Type<DB>,
    &'static str: Encode<'static, DB> + Type<DB>,
    Environment: Encode<'static, DB> + Type<DB>,
    Option<i64>: Encode<'static, DB> + Type<DB>,
    i64: Encode<'static, DB> + Type<DB>,
{
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let encode = |e: sqlx::error::BoxDynError| Error::Internal(format!("cannot bind a row: {e}"));
    // One row's values, moved (its text is not copied on its way to the connection).
    let bind_row = |args: &mut DB::Arguments<'static>, r: UsageRow| -> Result<()> {
        args.add(r.client_id).map_err(encode)?;
        args.add(environment).map_err(encode)?;
        args.add(r.day).map_err(encode)?;
        args.add(r.context).map_err(encode)?;
        args.add(r.resource_type).map_err(encode)?;
        args.add(r.interaction).map_err(encode)?;
        args.add(r.outcome).map_err(encode)?;
        args.add(r.identity_id).map_err(encode)?;
        args.add(count(r.calls)).map_err(encode)?;
        args.add(count(r.by_token)).map_err(encode)?;
        args.add(count(r.by_identity)).map_err(encode)?;
        args.add(r.first_seen).map_err(encode)?;
        args.add(r.last_seen).map_err(encode)?;
        Ok(())
    };
    let mut statements = Vec::with_capacity(rows.len().div_ceil(ROWS_A_STATEMENT));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut args = DB::Arguments::default();
        let mut k = 0;
        for r in rows.by_ref().take(ROWS_A_STATEMENT) {
            bind_row(&mut args, r)?;
            k += 1;
        }
        statements.push(((k < ROWS_A_STATEMENT).then(|| upsert(k, pg)), args));
    }
    Ok(statements)
}

/// A load of usage rows under way: on SQLite, the connection keeps a page cache of
/// [`LOAD_CACHE`] while it runs (the rows go in in key order, appended to the table's B-tree,
/// so a larger cache would only hold pages already written). A load that fails before its
/// end leaves the smaller cache on its connection: slower reads there, never a wrong one.
#[must_use = "a load is ended with end_usage"]
pub struct UsageLoad {
    cache_size: Option<i64>,
}

/// The page cache of a connection loading usage rows, as `PRAGMA cache_size` spells it (KiB
/// when negative).
const LOAD_CACHE: i64 = -16384;

/// Starts a load of usage rows.
pub async fn begin_usage(db: &mut Db) -> Result<UsageLoad> {
    let Split::Sqlite(conn) = db.split() else {
        return Ok(UsageLoad { cache_size: None });
    };
    let (cache_size,): (i64,) = sqlx::query_as("PRAGMA cache_size")
        .fetch_one(&mut *conn)
        .await?;
    // A pragma's value cannot be bound; this one is a number of our own.
    sqlx::query(&format!("PRAGMA cache_size = {LOAD_CACHE}"))
        .execute(&mut *conn)
        .await?;
    Ok(UsageLoad {
        cache_size: Some(cache_size),
    })
}

/// Ends a load: the connection's page cache is as it was.
pub async fn end_usage(db: &mut Db, load: UsageLoad) -> Result<()> {
    if let (Split::Sqlite(conn), Some(n)) = (db.split(), load.cache_size) {
        sqlx::query(&format!("PRAGMA cache_size = {n}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Adds a batch of aggregates (distinct keys): counts add up, first and last seen widen.
/// (PostgreSQL refuses a statement that updates one row twice: the keys of a batch are
/// distinct.)
pub async fn add_usage(db: &mut Db, batch: UsageBatch) -> Result<()> {
    match (db.split(), batch.ready) {
        (Split::Sqlite(conn), Ready::Sqlite(statements)) => {
            for (sql, args) in statements {
                let sql = sql.as_deref().unwrap_or_else(|| full_upsert(false));
                sqlx::query_with(sql, args).execute(&mut *conn).await?;
            }
            Ok(())
        }
        (Split::Pg(conn), Ready::Pg(statements)) => {
            for (sql, args) in statements {
                let sql = sql.as_deref().unwrap_or_else(|| full_upsert(true));
                sqlx::query_with(sql, args).execute(&mut *conn).await?;
            }
            Ok(())
        }
        _ => Err(Error::Internal(
            "usage rows made ready for another engine".into(),
        )),
    }
}

/// Calls and token events imported before an identity was registered become its own: the
/// rows of its (client_id, environment) that no identity claimed are tied to the new
/// identities `ids`, and their last successful call moves `last_used_at` forward, as an import
/// would have.
pub async fn claim_usage(db: &mut Db, ids: &[i64]) -> Result<()> {
    let ids = serde_json::to_string(ids)
        .map_err(|e| Error::Internal(format!("cannot encode ids: {e}")))?;
    // The ids, one row each as `value`: JSON numbers on SQLite, BIGINT on PostgreSQL.
    let listed = if db.is_pg() {
        "(SELECT value::bigint AS value FROM json_array_elements_text($1::json))"
    } else {
        "json_each($1)"
    };
    // The new identities' keys are listed once; each unclaimed row is looked up in that list.
    for table in ["usage_daily", "token_event"] {
        let sql = format!(
            "UPDATE {table} SET identity_id = (SELECT i.id FROM identity i \
               WHERE i.client_id = {table}.client_id AND i.environment = {table}.environment) \
             WHERE identity_id IS NULL AND (client_id, environment) IN \
               (SELECT i.client_id, i.environment FROM {listed} j \
                JOIN identity i ON i.id = j.value)"
        );
        on!(db, |c| sqlx::query(&sql)
            .bind(&ids)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    // Last use, as the imports count it: a successful call, an issued or refreshed token.
    let sql = format!(
        "SELECT u.identity_id, u.last_seen FROM {listed} j \
           JOIN identity i ON i.id = j.value \
           JOIN usage_daily u ON u.client_id = i.client_id AND u.environment = i.environment \
             AND u.identity_id = i.id AND u.outcome = 'success' \
         UNION ALL \
         SELECT t.identity_id, t.at FROM {listed} j \
           JOIN token_event t ON t.identity_id = j.value \
           AND t.event IN ('issued', 'refreshed')"
    );
    let last: Vec<(i64, String)> = on!(db, |c| sqlx::query_as(&sql).bind(&ids).fetch_all(c).await)?;
    let mut latest: HashMap<i64, crate::time::Timestamp> = HashMap::new();
    for (id, t) in last {
        if let Ok(t) = crate::time::parse(&t) {
            let l = latest.entry(id).or_insert(t);
            *l = (*l).max(t);
        }
    }
    let touched: Vec<(i64, String)> = latest
        .into_iter()
        .map(|(id, t)| (id, crate::time::format(t)))
        .collect();
    if !touched.is_empty() {
        touch_last_used(db, &touched).await?;
    }
    Ok(())
}

/// Moves `last_used_at` forward where the data shows later use.
pub async fn touch_last_used(db: &mut Db, last: &[(i64, String)]) -> Result<()> {
    let payload = serde_json::to_string(last)
        .map_err(|e| Error::Internal(format!("cannot encode times: {e}")))?;
    on!(db, sql = (
        "UPDATE identity SET last_used_at = j.value ->> 1 FROM json_each($1) j \
         WHERE identity.id = j.value ->> 0 \
           AND (identity.last_used_at IS NULL OR identity.last_used_at < j.value ->> 1)",
        "UPDATE identity SET last_used_at = j.value ->> 1 FROM json_array_elements($1::json) j \
         WHERE identity.id = (j.value ->> 0)::bigint \
           AND (identity.last_used_at IS NULL OR identity.last_used_at < (j.value ->> 1))"
    ), |c| sqlx::query(sql).bind(&payload).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// A token event to store: fingerprints only.
#[derive(Debug, Clone, Serialize)]
pub struct NewTokenEvent {
    pub identity_id: Option<i64>,
    pub client_id: String,
    pub environment: Environment,
    pub at: String,
    pub event: &'static str,
    pub source: String,
    pub scopes: Option<String>,
    pub token_fingerprint: Option<String>,
    pub subject: Option<String>,
    pub expires_in: Option<i64>,
    pub error: Option<String>,
}

/// Stores token events of one import.
pub async fn insert_token_events(
    db: &mut Db,
    import_id: i64,
    events: &[NewTokenEvent],
) -> Result<()> {
    for chunk in events.chunks(20_000) {
        let payload = serde_json::to_string(chunk)
            .map_err(|e| Error::Internal(format!("cannot encode token events: {e}")))?;
        // In the order given: the events' ids follow it.
        on!(db, sql = (
            "INSERT INTO token_event (import_id, identity_id, client_id, environment, at, event, \
               source, scopes, token_fingerprint, subject, expires_in, error) \
             SELECT $2, j.value ->> 'identity_id', j.value ->> 'client_id', \
               j.value ->> 'environment', j.value ->> 'at', \
               j.value ->> 'event', j.value ->> 'source', j.value ->> 'scopes', \
               j.value ->> 'token_fingerprint', j.value ->> 'subject', j.value ->> 'expires_in', \
               j.value ->> 'error' FROM json_each($1) j",
            "INSERT INTO token_event (import_id, identity_id, client_id, environment, at, event, \
               source, scopes, token_fingerprint, subject, expires_in, error) \
             SELECT $2, (j.value ->> 'identity_id')::bigint, j.value ->> 'client_id', \
               j.value ->> 'environment', j.value ->> 'at', \
               j.value ->> 'event', j.value ->> 'source', j.value ->> 'scopes', \
               j.value ->> 'token_fingerprint', j.value ->> 'subject', \
               (j.value ->> 'expires_in')::bigint, j.value ->> 'error' \
             FROM json_array_elements($1::json) WITH ORDINALITY AS j (value, n) ORDER BY j.n"
        ), |c| sqlx::query(sql)
            .bind(&payload)
            .bind(import_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Calls of one (identity or client, context, type, interaction, outcome) in a window.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallRow {
    pub identity_id: Option<i64>,
    pub client_id: String,
    pub environment: Environment,
    pub context: String,
    pub resource_type: String,
    pub interaction: String,
    pub outcome: String,
    pub calls: i64,
    /// Of the calls, those whose context their token's issued scopes settled.
    pub by_token: i64,
    /// Of the calls, those whose context the kind of the calling identity settled.
    pub by_identity: i64,
    pub last_seen: String,
}

/// Usage summed over the days in `[since, until]` (`YYYY-MM-DD`, inclusive), optionally of
/// one identity.
pub async fn calls(
    db: &mut Db,
    since: Option<&str>,
    until: Option<&str>,
    identity: Option<i64>,
) -> Result<Vec<CallRow>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT identity_id, client_id, environment, context, resource_type, interaction, \
           outcome, CAST(sum(calls) AS BIGINT) AS calls, \
           CAST(sum(by_token) AS BIGINT) AS by_token, \
           CAST(sum(by_identity) AS BIGINT) AS by_identity, max(last_seen) AS last_seen \
         FROM usage_daily \
         WHERE ($1 IS NULL OR day >= $1) AND ($2 IS NULL OR day <= $2) \
           AND ($3 IS NULL OR identity_id = $3) \
         GROUP BY identity_id, client_id, environment, context, resource_type, interaction, \
           outcome",
    )
    .bind(since)
    .bind(until)
    .bind(identity)
    .fetch_all(c)
    .await)?)
}

/// What the trace needs of one identity.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TraceSubject {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub purpose: Option<String>,
    pub owned: bool,
    pub granted: Option<String>,
    /// Approved scopes that carry a justification.
    pub justified: Option<String>,
    pub approved: Option<String>,
}

/// The identities `ids` with their granted and justified scopes, purpose and whether an
/// active owner exists.
pub async fn trace_subjects(db: &mut Db, ids: &[i64]) -> Result<Vec<TraceSubject>> {
    // Possibly thousands: the engine packs the rows into one JSON value, read in one go.
    let packed: Option<String> = on!(
        db,
        sql = (
            concat!(
                "SELECT json_group_array(json_object('id', id, 'client_id', client_id, \
               'name', name, 'purpose', purpose, 'owned', ",
                super::json_bool!("owned"),
                ", 'granted', granted, 'justified', justified, 'approved', approved)) \
             FROM (SELECT i.id, i.client_id, i.name, i.purpose, \
               (coalesce(bo.active, 0) OR coalesce(tech.active, 0)) AS owned, ",
                scope_columns!(),
                ", (SELECT group_concat(s.scope, ' ') FROM identity_scope s \
                  WHERE s.identity_id = i.id AND s.scope_set = 'approved' \
                    AND trim(coalesce(s.justification, '')) <> '') AS justified \
             FROM identity i LEFT JOIN person bo ON bo.id = i.business_owner_id \
             LEFT JOIN person tech ON tech.id = i.technical_owner_id \
             WHERE i.id IN (SELECT value FROM json_each($1)))"
            ),
            // Each set's scopes in scope order, as SQLite reads them off the primary key.
            "SELECT json_agg(json_build_object('id', id, 'client_id', client_id, \
           'name', name, 'purpose', purpose, 'owned', owned, 'granted', granted, \
           'justified', justified, 'approved', approved))::text \
         FROM (SELECT i.id, i.client_id, i.name, i.purpose, \
           (coalesce(bo.active, FALSE) OR coalesce(tech.active, FALSE)) AS owned, \
           (SELECT string_agg(s.scope, ' ' ORDER BY s.scope) FROM identity_scope s \
              WHERE s.identity_id = i.id AND s.scope_set = 'approved') AS approved, \
           (SELECT string_agg(s.scope, ' ' ORDER BY s.scope) FROM identity_scope s \
              WHERE s.identity_id = i.id AND s.scope_set = 'granted') AS granted, \
           (SELECT string_agg(s.scope, ' ' ORDER BY s.scope) FROM identity_scope s \
              WHERE s.identity_id = i.id AND s.scope_set = 'approved' \
                AND trim(coalesce(s.justification, '')) <> '') AS justified \
         FROM identity i LEFT JOIN person bo ON bo.id = i.business_owner_id \
         LEFT JOIN person tech ON tech.id = i.technical_owner_id \
         WHERE i.id IN (SELECT value::bigint FROM json_array_elements_text($1::json))) i"
        ),
        |c| sqlx::query_scalar(sql)
            .bind(serde_json::to_string(ids).unwrap_or_default())
            .fetch_one(c)
            .await
    )?;
    super::unpack(packed.as_deref(), "trace subjects")
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    identity_id: Option<i64>,
    client_id: String,
    environment: Environment,
    at: String,
    event: crate::usage::tokens::TokenEventKind,
    source: String,
    scopes: Option<String>,
    token_fingerprint: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
}

impl From<TokenRow> for crate::usage::tokens::TokenEvent {
    fn from(r: TokenRow) -> Self {
        crate::usage::tokens::TokenEvent {
            id: r.id,
            identity_id: r.identity_id,
            client_id: r.client_id,
            environment: r.environment,
            at: r.at,
            event: r.event,
            source: r.source,
            scopes: r.scopes,
            token_fingerprint: r.token_fingerprint,
            expires_in: r.expires_in,
            error: r.error,
        }
    }
}

/// Token events of one identity, newest first.
pub async fn token_events(
    db: &mut Db,
    identity: i64,
    limit: i64,
) -> Result<Vec<crate::usage::tokens::TokenEvent>> {
    let rows: Vec<TokenRow> = on!(db, |c| sqlx::query_as(
        "SELECT id, identity_id, client_id, environment, at, event, source, scopes, \
           token_fingerprint, expires_in, error FROM token_event WHERE identity_id = $1 \
         ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(identity)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// One stored aggregate, for export.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DailyRow {
    pub day: String,
    pub client_id: String,
    pub environment: Environment,
    pub identity_id: Option<i64>,
    pub context: String,
    pub resource_type: String,
    pub interaction: String,
    pub outcome: String,
    pub calls: i64,
    pub first_seen: String,
    pub last_seen: String,
}

/// Aggregates in a window of days (inclusive), optionally of one environment.
pub async fn daily(
    db: &mut Db,
    since: Option<&str>,
    until: Option<&str>,
    environment: Option<Environment>,
) -> Result<Vec<DailyRow>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT day, client_id, environment, identity_id, context, resource_type, interaction, \
           outcome, calls, first_seen, last_seen FROM usage_daily \
         WHERE ($1 IS NULL OR day >= $1) AND ($2 IS NULL OR day <= $2) \
           AND ($3 IS NULL OR environment = $3) \
         ORDER BY day, client_id, context, resource_type, interaction, outcome",
    )
    .bind(since)
    .bind(until)
    .bind(environment)
    .fetch_all(c)
    .await)?)
}

/// Token events in a window of times, optionally of one environment, oldest first.
pub async fn token_log(
    db: &mut Db,
    since: Option<&str>,
    until: Option<&str>,
    environment: Option<Environment>,
) -> Result<Vec<crate::usage::tokens::TokenEvent>> {
    let rows: Vec<TokenRow> = on!(db, |c| sqlx::query_as(
        "SELECT id, identity_id, client_id, environment, at, event, source, scopes, \
           token_fingerprint, expires_in, error FROM token_event \
         WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR at <= $2) \
           AND ($3 IS NULL OR environment = $3) ORDER BY at, id",
    )
    .bind(since)
    .bind(until)
    .bind(environment)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}
