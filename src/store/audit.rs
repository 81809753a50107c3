//! SQL for the audit log. Rows are only ever inserted; triggers refuse UPDATE and DELETE.

use futures_util::TryStreamExt;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::audit::canonical_json;
use crate::audit::AuditEntry;
use crate::Result;

/// The last entry's seq and hash.
pub async fn head(conn: &mut SqliteConnection) -> Result<Option<(i64, String)>> {
    Ok(
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(conn)
            .await?,
    )
}

/// Inserts entries, many rows a statement.
pub async fn insert(conn: &mut SqliteConnection, entries: &[AuditEntry]) -> Result<()> {
    // 8 bound values a row; stay well under SQLite's 32766 variables a statement.
    for chunk in entries.chunks(1000) {
        let mut q = QueryBuilder::<Sqlite>::new(
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
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn entry(row: &sqlx::sqlite::SqliteRow) -> Result<AuditEntry> {
    let details: String = row.try_get("details")?;
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        subject: row.try_get("subject")?,
        // A details text that is not JSON cannot match its hash; keep it as a string so
        // verification reports the entry instead of failing to read it.
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Streams every entry in storage order (by seq) until `visit` returns false.
pub async fn scan(pool: &SqlitePool, mut visit: impl FnMut(AuditEntry) -> bool) -> Result<()> {
    let mut rows = sqlx::query("SELECT * FROM audit_log ORDER BY seq").fetch(pool);
    while let Some(row) = rows.try_next().await? {
        if !visit(entry(&row)?) {
            break;
        }
    }
    Ok(())
}

/// Entries, newest first, optionally for one subject.
pub async fn list(pool: &SqlitePool, subject: Option<&str>, limit: i64) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT * FROM audit_log WHERE (?1 IS NULL OR subject = ?1) ORDER BY seq DESC LIMIT ?2",
    )
    .bind(subject)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(entry).collect()
}

/// The hash of the entry at `seq`, if there is one.
pub async fn hash_at(conn: &mut SqliteConnection, seq: i64) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = ?1")
            .bind(seq)
            .fetch_optional(conn)
            .await?,
    )
}
