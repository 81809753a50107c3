//! Registration importers. A file's format is detected from its content:
//!
//! - the Steward CSV (`client_id,name,kind,environment,...`, see the README);
//! - RFC 7591 client metadata or registration responses (a JSON object or an array of them);
//! - a Keycloak realm export (`{"clients": [...]}`) or a bare array of Keycloak clients.
//!
//! Parsing is pure: it turns bytes into [`IdentityInput`]s with their line or record, and
//! fails naming file, line or record, and field. Storing them is the caller's transaction.

mod csv;
pub(crate) mod keycloak;
mod rfc7591;

use serde::Serialize;
use serde_json::Value;
use ts_rs::TS;

use super::{Environment, IdentityInput};
use crate::Error;

/// The formats `import registrations` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    StewardCsv,
    Rfc7591,
    KeycloakRealm,
}

/// One identity read from a file, with where it was.
#[derive(Debug, Clone)]
pub struct Record {
    /// `line 7` for CSV, `record 3` for JSON.
    pub location: String,
    pub input: IdentityInput,
}

/// What a file holds.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub format: Format,
    pub records: Vec<Record>,
    /// Entries deliberately not imported, with why (Keycloak's own clients).
    pub skipped: Vec<String>,
    /// Things the user should know that did not stop the import (unknown columns).
    pub warnings: Vec<String>,
}

/// A parse error before the file is named; [`parse`] adds the file.
pub(crate) struct Bad {
    pub location: String,
    pub field: String,
    pub message: String,
}

impl Bad {
    pub(crate) fn new(location: &str, field: &str, message: impl Into<String>) -> Bad {
        Bad {
            location: location.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Parses a registrations file. `environment` applies to formats that carry none (RFC 7591,
/// Keycloak); the CSV has its own column.
pub fn parse(file: &str, bytes: &[u8], environment: Option<Environment>) -> Result<Parsed, Error> {
    let named = |b: Bad| Error::Import {
        file: file.to_string(),
        location: b.location,
        field: b.field,
        message: b.message,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| named(Bad::new("file", "-", format!("not UTF-8 text ({e})"))))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let parsed = match text.trim_start().chars().next() {
        None => return Err(named(Bad::new("file", "-", "the file is empty"))),
        Some('{' | '[') => parse_json(text, environment),
        Some(_) => csv::parse(text),
    }
    .map_err(named)?;
    let mut seen = std::collections::HashMap::new();
    for r in &parsed.records {
        let key = (r.input.client_id.clone(), r.input.environment);
        if let Some(first) = seen.insert(key, r.location.clone()) {
            return Err(named(Bad::new(
                &r.location,
                "client_id",
                format!(
                    "'{}' appears again in this environment (first at {first})",
                    r.input.client_id
                ),
            )));
        }
    }
    Ok(parsed)
}

fn parse_json(text: &str, environment: Option<Environment>) -> Result<Parsed, Bad> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Bad::new(
            &format!("line {}, column {}", e.line(), e.column()),
            "-",
            format!("invalid JSON: {e}"),
        )
    })?;
    let is_keycloak_client = |v: &Value| v.get("clientId").is_some();
    let is_rfc7591 = |v: &Value| {
        [
            "client_id",
            "client_name",
            "redirect_uris",
            "grant_types",
            "token_endpoint_auth_method",
        ]
        .iter()
        .any(|k| v.get(k).is_some())
    };
    let (format, items): (Format, Vec<Value>) = match value {
        Value::Object(ref o) if o.get("clients").is_some_and(Value::is_array) => (
            Format::KeycloakRealm,
            o["clients"].as_array().cloned().unwrap_or_default(),
        ),
        ref v @ Value::Object(_) if is_keycloak_client(v) => {
            (Format::KeycloakRealm, vec![value.clone()])
        }
        ref v @ Value::Object(_) if is_rfc7591(v) => (Format::Rfc7591, vec![value.clone()]),
        Value::Array(items) if items.first().is_some_and(is_keycloak_client) => {
            (Format::KeycloakRealm, items)
        }
        Value::Array(items) if items.first().is_some_and(is_rfc7591) => (Format::Rfc7591, items),
        _ => return Err(Bad::new(
            "record 1",
            "-",
            "not a Keycloak realm export or clients list (no `clients`/`clientId`) nor RFC 7591 \
                 client metadata (no `client_id`, `client_name`, `redirect_uris`, ...)",
        )),
    };
    let environment = environment.ok_or_else(|| {
        Bad::new(
            "file",
            "environment",
            "this format carries no environment; pass --environment sandbox|staging|production",
        )
    })?;
    match format {
        Format::KeycloakRealm => keycloak::parse(&items, environment),
        _ => rfc7591::parse(&items, environment),
    }
}

/// A JSON string member, trimmed; empty counts as absent.
pub(crate) fn json_str(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// A JSON array of strings (other items are ignored).
pub(crate) fn json_strs(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}
