//! `steward import`: identities from registration files, usage from audit and token logs.

use std::path::PathBuf;

use clap::Subcommand;

use steward::api;
use steward::audit::Actor;
use steward::inventory::Environment;
use steward::{time, Error, Store};

use super::usage::{self, UsageImportArgs};
use super::Output;

#[derive(Subcommand)]
pub(super) enum ImportCommand {
    /// Import identities from a Steward CSV, RFC 7591 client metadata or a Keycloak realm
    /// export (detected from the content).
    Registrations {
        file: PathBuf,
        /// Environment for formats that carry none (RFC 7591, Keycloak).
        #[arg(long)]
        environment: Option<Environment>,
        /// Show what each record would change, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import FHIR R4 AuditEvents (NDJSON, a Bundle, or one event) into usage aggregates.
    Audit(UsageImportArgs),
    /// Import token events: Keycloak events JSON or the Steward token CSV.
    Tokens(UsageImportArgs),
}

pub(super) async fn import(
    c: ImportCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match c {
        ImportCommand::Registrations {
            file,
            environment,
            dry_run,
        } => {
            let s =
                api::registrations_import(store, now, actor, &file, environment, dry_run).await?;
            for w in s.warnings.iter().chain(&s.skipped) {
                eprintln!("note: {w}");
            }
            out.one(&s, || {
                let mut text = format!(
                    "{}: {} records ({:?}): {} created, {} updated, {} unchanged, {} skipped",
                    s.file,
                    s.records,
                    s.format,
                    s.created,
                    s.updated,
                    s.unchanged,
                    s.skipped.len()
                );
                if s.dry_run {
                    text.push_str(" (a preview: nothing was written)");
                    for c in s.changes.iter().filter(|c| c.outcome != "unchanged") {
                        text.push_str(&format!(
                            "\n  {} {} [{}]: {}{}",
                            c.outcome,
                            c.client_id,
                            c.environment,
                            c.fields.join(", "),
                            c.reopens
                                .as_deref()
                                .map(|r| format!("; reopens review: {r}"))
                                .unwrap_or_default()
                        ));
                    }
                }
                text
            })
        }
        ImportCommand::Audit(a) => usage::import_audit(a, store, now, actor, out).await,
        ImportCommand::Tokens(a) => usage::import_tokens(a, store, now, actor, out).await,
    }
}
