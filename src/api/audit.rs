use serde::Deserialize;
use ts_rs::TS;

use crate::audit::{self, AuditEntry, ChainStatus};
use crate::store;
use crate::{Result, Store};

/// Which audit entries to list.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(default)]
pub struct AuditQuery {
    /// Only entries about this subject (`identity:42`).
    pub subject: Option<String>,
    /// At most this many, newest first (default: all).
    #[ts(type = "number | null")]
    pub limit: Option<i64>,
}

/// Audit entries, newest first.
pub async fn audit_log(store: &Store, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    store::audit::list(
        &mut store.read().await?,
        q.subject.as_deref(),
        q.limit.unwrap_or(-1),
    )
    .await
}

/// Recomputes the hash chain; fails with [`crate::Code::Integrity`] naming the first bad seq.
pub async fn audit_verify(store: &Store) -> Result<ChainStatus> {
    audit::verify(&mut store.read().await?).await
}
