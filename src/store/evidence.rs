//! SQL for signing keys and audit checkpoints.

use super::{on, Db};
use crate::evidence::Checkpoint;
use crate::Result;

/// Records a public key the first time it signs.
pub async fn register_key(db: &mut Db, fingerprint: &str, pem: &str, at: &str) -> Result<()> {
    on!(db, |c| sqlx::query(
        "INSERT INTO signing_key (fingerprint, public_pem, first_used) VALUES ($1, $2, $3) \
         ON CONFLICT (fingerprint) DO NOTHING",
    )
    .bind(fingerprint)
    .bind(pem)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Every public key that has signed, as (fingerprint, PEM).
pub async fn keys(db: &mut Db) -> Result<Vec<(String, String)>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT fingerprint, public_pem FROM signing_key ORDER BY first_used"
    )
    .fetch_all(c)
    .await)?)
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    seq: i64,
    head_hash: String,
    at: String,
    prev_signature: Option<String>,
    key_fingerprint: String,
    signature: String,
}

impl From<CheckpointRow> for Checkpoint {
    fn from(r: CheckpointRow) -> Self {
        Checkpoint {
            seq: r.seq,
            head_hash: r.head_hash,
            at: r.at,
            prev_signature: r.prev_signature,
            key_fingerprint: r.key_fingerprint,
            signature: r.signature,
        }
    }
}

/// The newest checkpoint.
pub async fn last_checkpoint(db: &mut Db) -> Result<Option<Checkpoint>> {
    let row: Option<CheckpointRow> = on!(db, |c| sqlx::query_as(
        "SELECT seq, head_hash, at, prev_signature, key_fingerprint, signature \
         FROM audit_checkpoint ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(c)
    .await)?;
    Ok(row.map(Into::into))
}

/// Every checkpoint, oldest first.
pub async fn checkpoints(db: &mut Db) -> Result<Vec<Checkpoint>> {
    let rows: Vec<CheckpointRow> = on!(db, |c| sqlx::query_as(
        "SELECT seq, head_hash, at, prev_signature, key_fingerprint, signature \
         FROM audit_checkpoint ORDER BY id",
    )
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Stores a checkpoint.
pub async fn insert_checkpoint(db: &mut Db, cp: &Checkpoint) -> Result<()> {
    on!(db, |c| sqlx::query(
        "INSERT INTO audit_checkpoint (seq, head_hash, at, prev_signature, key_fingerprint, \
         signature) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(cp.seq)
    .bind(&cp.head_hash)
    .bind(&cp.at)
    .bind(&cp.prev_signature)
    .bind(&cp.key_fingerprint)
    .bind(&cp.signature)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}
