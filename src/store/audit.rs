//! SQL for the audit log. Rows are only ever inserted: on SQLite triggers refuse UPDATE and
//! DELETE; on a team database only the schema owner may change rows, and members append
//! through `steward_audit_append`, which stamps the session's login and extends the chain.

use futures_util::TryStreamExt;
use sqlx::{QueryBuilder, Row};

use serde_json::Value;

use super::{on, Db};
use crate::audit::{self, canonical_json, Actor, AuditEntry, ChainStatus, Draft, Verifier};
use crate::time::{self, Timestamp};
use crate::Result;

/// Appends entries in order inside the caller's transaction and returns them.
pub async fn append(
    conn: &mut Db,
    now: Timestamp,
    actor: &Actor,
    drafts: Vec<Draft>,
) -> Result<Vec<AuditEntry>> {
    let at = time::format(now);
    if conn.is_pg() {
        // A team database stamps the session's login and extends the chain itself: a client
        // can neither choose the actor nor break the chain.
        let rows: Vec<(&str, &str, String)> = drafts
            .iter()
            .map(|d| (d.action, d.subject.as_str(), canonical_json(&d.details)))
            .collect();
        return append_pg(conn, &at, &rows).await;
    }
    let head = head(conn)
        .await?
        .unwrap_or_else(|| (0, audit::GENESIS.to_string()));
    let entries = audit::chain(head, &at, actor, drafts);
    insert(conn, &entries).await?;
    Ok(entries)
}

/// Appends one entry inside the caller's transaction.
pub async fn record(
    conn: &mut Db,
    now: Timestamp,
    actor: &Actor,
    action: &'static str,
    subject: String,
    details: Value,
) -> Result<AuditEntry> {
    let mut v = append(
        conn,
        now,
        actor,
        vec![Draft {
            action,
            subject,
            details,
        }],
    )
    .await?;
    Ok(v.remove(0))
}

/// Recomputes the whole stored chain; fails naming the first bad seq.
pub async fn verify(db: &mut Db) -> Result<ChainStatus> {
    let mut v = Verifier::default();
    scan(db, |e| v.next(e)).await?;
    v.finish()
}

/// The last entry's seq and hash.
pub async fn head(db: &mut Db) -> Result<Option<(i64, String)>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
    )
    .fetch_optional(c)
    .await)?)
}

/// Inserts entries, many rows a statement.
pub async fn insert(db: &mut Db, entries: &[AuditEntry]) -> Result<()> {
    // 8 bound values a row; stay well under SQLite's 32766 variables a statement.
    for chunk in entries.chunks(1000) {
        on!(db, |c| {
            let mut q = QueryBuilder::new(
                "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) ",
            );
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.seq)
                    .push_bind(&e.at)
                    .push_bind(&e.actor)
                    .push_bind(&e.action)
                    .push_bind(&e.subject)
                    .push_bind(canonical_json(&e.details))
                    .push_bind(&e.prev_hash)
                    .push_bind(&e.hash);
            });
            q.build().execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Appends entries on a team database through `steward_audit_append`, which takes the chain's
/// lock, stamps the session's login as the actor and computes each hash; returns the entries
/// as stored.
pub async fn append_pg(
    db: &mut Db,
    at: &str,
    drafts: &[(&str, &str, String)],
) -> Result<Vec<AuditEntry>> {
    let mut out = Vec::with_capacity(drafts.len());
    for (action, subject, details) in drafts {
        let row: Option<AuditRow> = on!(db, |c| sqlx::query_as(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash \
             FROM steward_audit_append($1, $2, $3, $4)"
        )
        .bind(at)
        .bind(*action)
        .bind(*subject)
        .bind(details)
        .fetch_optional(c)
        .await)?;
        if let Some(r) = row {
            out.push(r.into());
        }
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    subject: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            subject: r.subject,
            // A details text that is not JSON cannot match its hash; keep it as a string so
            // verification reports the entry instead of failing to read it.
            details: serde_json::from_str(&r.details)
                .unwrap_or(serde_json::Value::String(r.details)),
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

fn entry<R: Row>(row: &R) -> Result<AuditEntry>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        subject: row.try_get("subject")?,
        details: row.try_get("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    }
    .into())
}

/// Streams every entry in storage order (by seq) until `visit` returns false.
pub async fn scan(db: &mut Db, mut visit: impl FnMut(AuditEntry) -> bool) -> Result<()> {
    on!(db, |c| {
        let mut rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash \
             FROM audit_log ORDER BY seq",
        )
        .fetch(c);
        while let Some(row) = rows.try_next().await? {
            if !visit(entry(&row)?) {
                break;
            }
        }
        Ok::<(), crate::Error>(())
    })
}

/// Entries, newest first, optionally for one subject; a negative `limit` is no limit.
pub async fn list(db: &mut Db, f: &Filter<'_>) -> Result<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = on!(db, |c| {
        let mut q = QueryBuilder::new(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
             WHERE 1 = 1",
        );
        if let Some(s) = f.subject {
            q.push(" AND subject = ").push_bind(s);
        }
        match f.action {
            // A prefix ending in '.': the actions from it up to the next character after
            // '.' ('/'), a range both engines compare bytewise (no LIKE pattern to escape).
            Some(a) if a.ends_with('.') => {
                let end = format!("{}/", &a[..a.len() - 1]);
                q.push(" AND action >= ")
                    .push_bind(a)
                    .push(" AND action < ")
                    .push_bind(end);
            }
            Some(a) => {
                q.push(" AND action = ").push_bind(a);
            }
            None => {}
        }
        if let Some(a) = f.actor {
            q.push(" AND actor = ").push_bind(a);
        }
        if let Some(t) = f.since {
            q.push(" AND at >= ").push_bind(t);
        }
        if let Some(t) = f.until {
            q.push(" AND at <= ").push_bind(t);
        }
        q.push(" ORDER BY seq DESC");
        if let Some(n) = f.limit.filter(|n| *n >= 0) {
            q.push(" LIMIT ").push_bind(n);
        }
        q.build_query_as().fetch_all(c).await
    })?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Which entries [`list`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    pub subject: Option<&'a str>,
    /// An action, or a prefix of actions ending in `.`.
    pub action: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub limit: Option<i64>,
}

/// The hash of the entry at `seq`, if there is one.
pub async fn hash_at(db: &mut Db, seq: i64) -> Result<Option<String>> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "SELECT hash FROM audit_log WHERE seq = $1"
    )
    .bind(seq)
    .fetch_optional(c)
    .await)?)
}
