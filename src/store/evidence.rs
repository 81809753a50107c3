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
