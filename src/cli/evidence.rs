//! `steward evidence`: signed evidence packages and their signing key.

use std::path::PathBuf;

use clap::Subcommand;

use steward::api::{self, EvidenceFilter};
use steward::audit::Actor;
use steward::inventory::Environment;
use steward::{time, Error, Store};

use super::{parse_time, Output};

#[derive(Subcommand)]
pub(super) enum EvidenceCommand {
    /// Write a signed BagIt evidence package.
    Export {
        #[arg(long)]
        out: PathBuf,
        /// Audit entries from this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        since: Option<time::Timestamp>,
        #[arg(long, value_parser = parse_time)]
        until: Option<time::Timestamp>,
        #[arg(long)]
        environment: Option<Environment>,
        /// Only this recertification campaign's reviews and decisions.
        #[arg(long)]
        campaign: Option<i64>,
    },
    /// Verify a package; exit non-zero naming what is wrong.
    Verify {
        dir: PathBuf,
        /// The public key it must be signed with (default: any key this installation used).
        #[arg(long, value_name = "PEM")]
        key: Option<PathBuf>,
    },
    /// The signing key.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
pub(super) enum KeyCommand {
    /// Where the key is kept and its fingerprint.
    Show,
    /// Print the public key (PEM).
    ExportPublic,
    /// Replace the key; old public keys stay listed so old packages still verify.
    Rotate,
    /// Make the signing key in a 0600 file beside the database, where the OS keychain
    /// cannot be used (locked, no Secret Service); the file is used from then on.
    UseFile,
}

pub(super) async fn evidence(
    c: EvidenceCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match c {
        EvidenceCommand::Export {
            out: dir,
            since,
            until,
            environment,
            campaign,
        } => {
            let f = EvidenceFilter {
                since,
                until,
                environment,
                campaign,
            };
            let s = api::evidence_export(store, now, actor, &dir, &f).await?;
            out.one(&s, || {
                format!(
                    "wrote {} ({} payload files, {} bytes), signed by {}",
                    s.dir,
                    s.files.len(),
                    s.payload_bytes,
                    s.key_fingerprint
                )
            })
        }
        EvidenceCommand::Verify { dir, key } => {
            let pem = match key {
                Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?),
                None => None,
            };
            let v = api::evidence_verify(Some(store), &dir, pem.as_deref()).await?;
            out.one(&v, || {
                format!(
                    "{}: intact; {} payload files, {} audit entries, signed by {}",
                    dir.display(),
                    v.payload_files,
                    v.audit_entries,
                    v.key_fingerprint
                )
            })
        }
        EvidenceCommand::Key(KeyCommand::Show) => {
            let k = api::evidence_key_show(store).await?;
            out.one(&k, || {
                format!(
                    "{}\nkept in the {}: {}",
                    k.fingerprint, k.storage, k.location
                )
            })
        }
        EvidenceCommand::Key(KeyCommand::UseFile) => {
            let k = api::evidence_key_use_file(store, now, actor).await?;
            out.one(&k, || {
                format!(
                    "new key {}\nkept in the {}: {}",
                    k.fingerprint, k.storage, k.location
                )
            })
        }
        EvidenceCommand::Key(KeyCommand::Rotate) => {
            let k = api::evidence_key_rotate(store, now, actor).await?;
            out.one(&k, || {
                format!("new key {}; {} keys listed", k.fingerprint, k.known.len())
            })
        }
        EvidenceCommand::Key(KeyCommand::ExportPublic) => {
            let k = api::evidence_key_show(store).await?;
            out.one(&k.public_pem, || k.public_pem.trim_end().to_string())
        }
    }
}
