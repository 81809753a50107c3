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
    /// Only this action (`identity.create`), or every action under a prefix ending in `.`
    /// (`review.`).
    pub action: Option<String>,
    /// Only entries by this actor (an OS user or a database login).
    pub actor: Option<String>,
    /// From this time (RFC 3339), inclusive.
    pub since: Option<String>,
    /// Up to this time (RFC 3339), inclusive.
    pub until: Option<String>,
}

/// Audit entries, newest first.
pub async fn audit_log(store: &Store, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let filter = store::audit::Filter {
        subject: q.subject.as_deref().filter(|s| !s.trim().is_empty()),
        action: q.action.as_deref().filter(|s| !s.trim().is_empty()),
        actor: q.actor.as_deref().filter(|s| !s.trim().is_empty()),
        since: q.since.as_deref().filter(|s| !s.trim().is_empty()),
        until: q.until.as_deref().filter(|s| !s.trim().is_empty()),
        limit: q.limit,
    };
    store::audit::list(&mut store.read().await?, &filter).await
}

/// Recomputes the hash chain; fails with [`crate::Code::Integrity`] naming the first bad seq.
pub async fn audit_verify(store: &Store) -> Result<ChainStatus> {
    audit::verify(&mut store.read().await?).await
}

/// Every signed checkpoint, oldest first.
pub async fn audit_checkpoints(store: &Store) -> Result<Vec<crate::evidence::Checkpoint>> {
    store::evidence::checkpoints(&mut store.read().await?).await
}
