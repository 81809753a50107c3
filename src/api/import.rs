use std::path::Path;

use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use crate::audit::{self, Actor, Draft};
use crate::inventory::apply::{apply, Outcome};
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
}

/// Imports a registrations file (Steward CSV, RFC 7591, Keycloak) in one transaction: every
/// record applies, with its audit entry, or the database stays exactly as it was.
pub async fn registrations_import(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    path: &Path,
    environment: Option<Environment>,
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
    };
    let mut tx = store.begin_write().await?;
    let mut drafts: Vec<Draft> = Vec::new();
    for record in parsed.records {
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
        match applied.outcome {
            Outcome::Created => summary.created += 1,
            Outcome::Updated => summary.updated += 1,
            Outcome::Unchanged => summary.unchanged += 1,
        }
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
    audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    Ok(summary)
}
