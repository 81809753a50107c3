use serde::Deserialize;
use ts_rs::TS;

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use crate::audit::{AuditEntry, ChainStatus};
use crate::evidence::{key, Checkpoint};
use crate::store;
use crate::{Error, Result, Store};

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

/// What the chain is checked against besides itself.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A file of checkpoints (JSON lines) to check against instead of the one kept beside the
    /// database: an auditor's copy, or an evidence package's `data/checkpoints.jsonl`.
    pub checkpoints: Option<PathBuf>,
    /// Public keys (PEM) the checkpoints must be signed with; none: the keys this database
    /// has signed with, each fingerprint recomputed from its key.
    pub keys: Vec<String>,
}

/// The file signed checkpoints are appended to as they are made: `$STEWARD_CHECKPOINTS`, else
/// `<database>.checkpoints.jsonl` beside the database.
pub fn checkpoints_file(store: &Store) -> PathBuf {
    match std::env::var_os(store::CHECKPOINTS_ENV).filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            let mut name = store
                .path()
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            name.push(".checkpoints.jsonl");
            store.path().with_file_name(name)
        }
    }
}

/// Appends a checkpoint to the file kept outside the database (0600, flushed to disk).
pub(crate) fn append_checkpoint(store: &Store, cp: &Checkpoint) -> Result<()> {
    use std::io::Write;
    let path = checkpoints_file(store);
    let mut line = serde_json::to_string(cp).map_err(|e| Error::Internal(e.to_string()))?;
    line.push('\n');
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| {
            Error::io(
                &path,
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "{e}; the checkpoint at seq {} is signed and in the database, but not \
                         in this file",
                        cp.seq
                    ),
                ),
            )
        })
}

/// The checkpoints of a JSON-lines file (at most 64 MiB); `None` when there is no file.
fn read_checkpoints(path: &Path) -> Result<Option<Vec<Checkpoint>>> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut text = String::new();
    file.take(64 << 20)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| Error::Import {
            file: path.display().to_string(),
            location: format!("line {}", n + 1),
            field: "checkpoint".into(),
            message: e.to_string(),
        })?);
    }
    Ok(Some(out))
}

/// Recomputes the hash chain and checks it against every signed checkpoint (the database's,
/// and the file's kept outside it); fails with [`crate::Code::Integrity`] naming the first
/// bad seq or checkpoint.
pub async fn audit_verify(store: &Store) -> Result<ChainStatus> {
    audit_verify_with(store, &VerifyOptions::default()).await
}

/// [`audit_verify`] against the checkpoints and keys `opts` names. Each checkpoint must be
/// signed by a trusted key (its fingerprint recomputed from the key, never read from the
/// database), chained to the one before it (by signature), and the chain must still reach
/// its seq with its head hash: a log whose tail was deleted, or that was re-hashed whole
/// with its later checkpoints deleted from the database, fails as long as one checkpoint
/// survives outside it.
pub async fn audit_verify_with(store: &Store, opts: &VerifyOptions) -> Result<ChainStatus> {
    let mut conn = store.read().await?;
    let mut status = crate::store::audit::verify(&mut conn).await?;
    let trusted: Vec<(String, VerifyingKey)> = if opts.keys.is_empty() {
        store::evidence::keys(&mut conn)
            .await?
            .iter()
            .filter_map(|(_, pem)| key::parse_public_pem(pem))
            .map(|k| (key::fingerprint(&k), k))
            .collect()
    } else {
        opts.keys
            .iter()
            .map(|pem| {
                key::parse_public_pem(pem)
                    .map(|k| (key::fingerprint(&k), k))
                    .ok_or_else(|| Error::invalid("--key", "not an Ed25519 public key PEM"))
            })
            .collect::<Result<_>>()?
    };
    let file = opts
        .checkpoints
        .clone()
        .unwrap_or_else(|| checkpoints_file(store));
    let outside = match read_checkpoints(&file)? {
        Some(list) => Some(list),
        None if opts.checkpoints.is_some() => {
            return Err(Error::NotFound(format!(
                "checkpoint file {}",
                file.display()
            )))
        }
        None => None,
    };
    let mut all: Vec<(Checkpoint, &str)> = store::evidence::checkpoints(&mut conn)
        .await?
        .into_iter()
        .map(|c| (c, "the database"))
        .collect();
    for cp in outside.iter().flatten() {
        if !all.iter().any(|(c, _)| c.signature == cp.signature) {
            all.push((cp.clone(), "the checkpoint file"));
        }
    }
    // Each checkpoint records an audit entry: their seqs rise in the order they were made.
    all.sort_by_key(|(c, _)| c.seq);
    let mut prev: Option<&Checkpoint> = None;
    for (cp, source) in &all {
        let place = format!("checkpoint at seq {} ({source})", cp.seq);
        let Some((_, vk)) = trusted.iter().find(|(f, _)| *f == cp.key_fingerprint) else {
            return Err(Error::Integrity(format!(
                "{place}: signed by {}, which is not a {} key",
                cp.key_fingerprint,
                if opts.keys.is_empty() {
                    "known"
                } else {
                    "given"
                }
            )));
        };
        let signature = hex::decode(&cp.signature).unwrap_or_default();
        if !key::verify(vk, cp.message().as_bytes(), &signature) {
            return Err(Error::Integrity(format!(
                "{place}: the signature does not match its content"
            )));
        }
        if let Some(p) = prev {
            if cp.prev_signature.as_deref() != Some(p.signature.as_str()) {
                return Err(Error::Integrity(format!(
                    "{place}: does not chain to the checkpoint before it (seq {}): a \
                     checkpoint was removed or replaced",
                    p.seq
                )));
            }
        }
        if status.entries < cp.seq {
            return Err(Error::Integrity(format!(
                "audit log truncated: it ends at seq {} but the {place} saw seq {}",
                status.entries, cp.seq
            )));
        }
        if cp.seq > 0
            && store::audit::hash_at(&mut conn, cp.seq).await?.as_deref()
                != Some(cp.head_hash.as_str())
        {
            return Err(Error::Integrity(format!(
                "audit log broken at seq {}: its hash differs from the {place}'s (the chain \
                 was re-hashed)",
                cp.seq
            )));
        }
        prev = Some(cp);
    }
    status.checkpoints = all.len();
    status.checkpoints_file = outside.map(|_| file.display().to_string());
    Ok(status)
}

/// Every signed checkpoint, oldest first.
pub async fn audit_checkpoints(store: &Store) -> Result<Vec<crate::evidence::Checkpoint>> {
    store::evidence::checkpoints(&mut store.read().await?).await
}
