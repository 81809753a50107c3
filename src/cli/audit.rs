//! `steward audit`: the audit log, its verification and its checkpoints.

use std::path::PathBuf;

use clap::Subcommand;

use steward::api::{self, AuditQuery};
use steward::audit::Actor;
use steward::{time, Error, Store};

use super::{parse_time, Output};

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Print the audit log, newest first.
    Log {
        /// Only entries about this subject, e.g. identity:42.
        #[arg(long)]
        subject: Option<String>,
        /// Only this action (identity.create), or a prefix ending in "." (review.).
        #[arg(long)]
        action: Option<String>,
        /// Only entries by this actor (OS user or database login).
        #[arg(long)]
        actor: Option<String>,
        /// From this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        since: Option<time::Timestamp>,
        /// Up to this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        until: Option<time::Timestamp>,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Recompute the hash chain and check it against every signed checkpoint (the
    /// database's and the checkpoint file's); exit non-zero naming the first bad seq.
    Verify {
        /// Check against this file of checkpoints (JSON lines: an auditor's copy, an evidence
        /// package's data/checkpoints.jsonl) instead of the one kept beside the database.
        #[arg(long, visible_alias = "checkpoint", value_name = "FILE")]
        checkpoints: Option<PathBuf>,
        /// A public key (PEM file) the checkpoints must be signed with; repeat for keys
        /// before a rotation (default: the keys this database has signed with).
        #[arg(long, value_name = "PEM")]
        key: Vec<PathBuf>,
    },
    /// Sign the current head of the chain (a checkpoint an auditor can keep).
    Checkpoint,
}

pub(super) async fn audit(
    c: AuditCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match c {
        AuditCommand::Log {
            subject,
            action,
            actor,
            since,
            until,
            limit,
        } => {
            let query = AuditQuery {
                subject,
                action,
                actor,
                since: since.map(time::format),
                until: until.map(time::format),
                limit,
            };
            let entries = api::audit_log(store, &query).await?;
            out.table(
                &entries,
                &["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "HASH"],
                entries.iter().map(|e| {
                    vec![
                        e.seq.to_string(),
                        e.at.clone(),
                        e.actor.clone(),
                        e.action.clone(),
                        e.subject.clone(),
                        e.hash[..16].to_string(),
                    ]
                }),
            )
        }
        AuditCommand::Checkpoint => {
            let c = api::audit_checkpoint(store, now, actor).await?;
            out.one(&c, || {
                format!(
                    "checkpoint at seq {} head {} signed by {}",
                    c.seq, c.head_hash, c.key_fingerprint
                )
            })
        }
        AuditCommand::Verify { checkpoints, key } => {
            let keys = key
                .iter()
                .map(|p| std::fs::read_to_string(p).map_err(|e| Error::io(p, e)))
                .collect::<Result<Vec<_>, _>>()?;
            let opts = api::VerifyOptions { checkpoints, keys };
            let s = api::audit_verify_with(store, &opts).await?;
            out.one(&s, || {
                let outside = match &s.checkpoints_file {
                    Some(f) => format!(" (with {f})"),
                    None => " (no checkpoint file)".to_string(),
                };
                format!(
                    "audit log intact: {} entries, head {}\n{} signed checkpoints hold{outside}",
                    s.entries, s.head_hash, s.checkpoints
                )
            })
        }
    }
}
