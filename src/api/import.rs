use std::path::Path;

use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use super::apply::{apply, Outcome};
use crate::audit::{Actor, Draft};
use crate::inventory::import::{self, Format};
use crate::inventory::Environment;
use crate::time::Timestamp;
use crate::{Error, Result, Store};

/// What an import did.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ImportSummary {
    pub file: String,
    pub format: Format,
    #[ts(type = "number")]
    pub records: usize,
    #[ts(type = "number")]
    pub created: usize,
    #[ts(type = "number")]
    pub updated: usize,
    #[ts(type = "number")]
    pub unchanged: usize,
    pub skipped: Vec<String>,
    pub warnings: Vec<String>,
    /// What each record does (or, in a preview, would do).
    pub changes: Vec<ImportChange>,
    /// A preview: nothing was written.
    pub dry_run: bool,
}

/// What one record of an import does to the inventory.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ImportChange {
    pub client_id: String,
    pub environment: Environment,
    /// `created`, `updated` or `unchanged`.
    pub outcome: String,
    /// The fields it changes.
    pub fields: Vec<String>,
    /// Why review reopens (a purpose, use case or scope increase on a certified identity).
    pub reopens: Option<String>,
}

/// Imports a registrations file (Steward CSV, RFC 7591, Keycloak) in one transaction: every
/// record applies, with its audit entry, or the database stays exactly as it was.
pub async fn registrations_import(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    path: &Path,
    environment: Option<Environment>,
    dry_run: bool,
) -> Result<ImportSummary> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let parsed = import::parse(&file, &bytes, environment)?;
    let mut summary = ImportSummary {
        file: file.clone(),
        format: parsed.format,
        records: parsed.records.len(),
        created: 0,
        updated: 0,
        unchanged: 0,
        skipped: parsed.skipped,
        warnings: parsed.warnings,
        changes: Vec::new(),
        dry_run,
    };
    let mut tx = store.begin_write().await?;
    let mut drafts: Vec<Draft> = Vec::new();
    for record in parsed.records {
        let (client_id, env) = (record.input.client_id.clone(), record.input.environment);
        let applied = apply(
            &mut tx,
            now,
            store.fingerprint_key(),
            record.input,
            "identity.update",
        )
        .await
        .map_err(|e| match e {
            Error::Invalid { field, message } => Error::Import {
                file: file.clone(),
                location: record.location.clone(),
                field,
                message,
            },
            other => other,
        })?;
        let outcome = match applied.outcome {
            Outcome::Created => {
                summary.created += 1;
                "created"
            }
            Outcome::Updated => {
                summary.updated += 1;
                "updated"
            }
            Outcome::Unchanged => {
                summary.unchanged += 1;
                "unchanged"
            }
        };
        let fields = applied
            .draft
            .as_ref()
            .and_then(|d| d.details["changes"].as_object())
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        let reopens = applied
            .reopened
            .as_ref()
            .and_then(|d| d.details["reason"].as_str().map(String::from));
        let environment = applied
            .draft
            .as_ref()
            .and_then(|d| d.details["environment"].as_str()?.parse().ok())
            .or(env)
            .unwrap_or(Environment::Production);
        summary.changes.push(ImportChange {
            environment,
            client_id,
            outcome: outcome.into(),
            fields,
            reopens,
        });
        for mut d in applied.drafts() {
            d.details["source"] = json!(file);
            drafts.push(d);
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(file.clone());
    drafts.push(Draft {
        action: "import.registrations",
        subject: format!("import:{name}"),
        details: json!({
            "file": file,
            "format": summary.format,
            "records": summary.records,
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "skipped": summary.skipped,
            "warnings": summary.warnings,
        }),
    });
    if dry_run {
        // A preview: the transaction is dropped, so nothing it did is kept.
        return Ok(summary);
    }
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    Ok(summary)
}
