//! SQL for signing keys and audit checkpoints.

use sqlx::{SqliteConnection, SqlitePool};

use crate::evidence::Checkpoint;
use crate::Result;

/// Records a public key the first time it signs.
pub async fn register_key(
    conn: &mut SqliteConnection,
    fingerprint: &str,
    pem: &str,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_key (fingerprint, public_pem, first_used) VALUES (?1, ?2, ?3) \
         ON CONFLICT (fingerprint) DO NOTHING",
    )
    .bind(fingerprint)
    .bind(pem)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every public key that has signed, as (fingerprint, PEM).
pub async fn keys(pool: &SqlitePool) -> Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT fingerprint, public_pem FROM signing_key ORDER BY first_used")
            .fetch_all(pool)
            .await?,
    )
}

/// The newest checkpoint.
pub async fn last_checkpoint(conn: &mut SqliteConnection) -> Result<Option<Checkpoint>> {
    Ok(sqlx::query_as(
        "SELECT seq, head_hash, at, prev_signature, key_fingerprint, signature \
         FROM audit_checkpoint ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?)
}

/// Every checkpoint, oldest first.
pub async fn checkpoints(pool: &SqlitePool) -> Result<Vec<Checkpoint>> {
    Ok(sqlx::query_as(
        "SELECT seq, head_hash, at, prev_signature, key_fingerprint, signature \
         FROM audit_checkpoint ORDER BY id",
    )
    .fetch_all(pool)
    .await?)
}

/// Stores a checkpoint.
pub async fn insert_checkpoint(conn: &mut SqliteConnection, c: &Checkpoint) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_checkpoint (seq, head_hash, at, prev_signature, key_fingerprint, signature) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(c.seq)
    .bind(&c.head_hash)
    .bind(&c.at)
    .bind(&c.prev_signature)
    .bind(&c.key_fingerprint)
    .bind(&c.signature)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every stored scope with its identity, for export: (client_id, environment, set, scope,
/// justification).
pub async fn scope_rows(
    pool: &SqlitePool,
    environment: Option<crate::inventory::Environment>,
) -> Result<Vec<(String, String, String, String, Option<String>)>> {
    // Hundreds of thousands of rows: SQLite packs them into one JSON array, read in one go,
    // rather than handing them over a row at a time.
    let packed: Option<String> = sqlx::query_scalar(
        "SELECT json_group_array(json_array(client_id, environment, scope_set, scope, \
           justification)) \
         FROM (SELECT i.client_id, i.environment, s.scope_set, s.scope, s.justification \
               FROM identity_scope s JOIN identity i ON i.id = s.identity_id \
               WHERE ?1 IS NULL OR i.environment = ?1 \
               ORDER BY i.client_id, i.environment, s.scope_set, s.scope)",
    )
    .bind(environment)
    .fetch_one(pool)
    .await?;
    super::unpack(packed.as_deref(), "scopes")
}

/// Entries a chunk of the exported audit log holds.
const LOG_CHUNK: i64 = 50_000;

/// The audit log in a window as JSON lines, each the canonical JSON of the stored entry (keys
/// sorted, compact; `details` is stored as canonical JSON and goes in as it is, so a damaged
/// one shows as a bad line when the package is verified). SQLite writes the lines and joins
/// them a chunk at a time, two chunks at once: no row is decoded one by one. Returns the text
/// and the number of entries.
pub async fn audit_log_jsonl(
    pool: &SqlitePool,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(String, usize)> {
    let last: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM audit_log")
        .fetch_one(pool)
        .await?;
    // A JSON string as `jq -c` (and `canonical_json`) spells it: json_quote, DEL escaped.
    let q = |column: &str| format!("replace(json_quote({column}), char(127), '\\u007f')");
    // The inner ORDER BY walks the primary key (no sort) and the join keeps that order.
    let sql = format!(
        "SELECT group_concat(line, '') FROM (\
           SELECT printf('{{\"action\":%s,\"actor\":%s,\"at\":%s,\"details\":%s,\
             \"hash\":%s,\"prev_hash\":%s,\"seq\":%d,\"subject\":%s}}' || char(10), \
             {}, {}, {}, replace(details, char(127), '\\u007f'), {}, {}, seq, {}) AS line \
           FROM audit_log WHERE seq >= ?1 AND seq < ?2 \
             AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at <= ?4) ORDER BY seq)",
        q("action"),
        q("actor"),
        q("at"),
        q("hash"),
        q("prev_hash"),
        q("subject"),
    );
    let sql = sql.as_str();
    let chunk = |from: i64| async move {
        let text: Option<String> = sqlx::query_scalar(sql)
            .bind(from)
            .bind(from + LOG_CHUNK)
            .bind(since)
            .bind(until)
            .fetch_one(pool)
            .await?;
        Ok::<_, crate::Error>(text.unwrap_or_default())
    };
    let starts: Vec<i64> = (0..=last / LOG_CHUNK).map(|i| 1 + i * LOG_CHUNK).collect();
    let mut out = String::new();
    for pair in starts.chunks(2) {
        let second = async {
            match pair.get(1) {
                Some(b) => chunk(*b).await,
                None => Ok(String::new()),
            }
        };
        let (a, b) = futures_util::future::try_join(chunk(pair[0]), second).await?;
        out.push_str(&a);
        out.push_str(&b);
    }
    let entries = memchr::memchr_iter(b'\n', out.as_bytes()).count();
    Ok((out, entries))
}
