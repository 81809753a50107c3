//! The Steward registrations CSV. One identity a row; a header row names the columns.
//! An empty cell leaves the stored value as it is.

use super::{Bad, Format, Parsed, Record};
use crate::inventory::{IdentityInput, PersonInput};
use crate::scope;
use crate::time;

/// Every column the format defines, in the documented order.
pub const COLUMNS: [&str; 22] = [
    "client_id",
    "name",
    "kind",
    "environment",
    "vendor",
    "business_owner",
    "business_owner_email",
    "technical_owner",
    "technical_owner_email",
    "purpose",
    "use_case",
    "approved_scopes",
    "granted_scopes",
    "auth_method",
    "access_token_lifetime_s",
    "refresh_token_lifetime_s",
    "client_secret",
    "jwks_uri",
    "revocation_endpoint",
    "last_used_at",
    "last_reviewed_at",
    "ai_agent",
];

const REQUIRED: [&str; 4] = ["client_id", "name", "kind", "environment"];

pub(super) fn parse(text: &str) -> Result<Parsed, Bad> {
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Bad::new("line 1", "-", format!("unreadable header row: {e}")))?
        .iter()
        .map(str::to_ascii_lowercase)
        .collect();
    for required in REQUIRED {
        if !headers.iter().any(|h| h == required) {
            return Err(Bad::new(
                "line 1",
                required,
                "required column is missing from the header",
            ));
        }
    }
    let mut warnings = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if !COLUMNS.contains(&h.as_str()) {
            warnings.push(format!(
                "line 1: column '{h}' is not a Steward column; its values were not imported"
            ));
        }
        if headers[..i].contains(h) {
            return Err(Bad::new("line 1", h, "column appears twice in the header"));
        }
    }
    let col = |name: &str| headers.iter().position(|h| h == name);

    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Bad::new(&format!("line {line}"), "-", format!("malformed row: {e}"))
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let loc = format!("line {line}");
        let cell = |name: &str| {
            col(name)
                .and_then(|i| row.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let parse_int = |name: &str| -> Result<Option<i64>, Bad> {
            cell(name)
                .map(|v| {
                    v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                        Bad::new(
                            &loc,
                            name,
                            format!("'{v}' is not a whole number of seconds"),
                        )
                    })
                })
                .transpose()
        };
        let parse_time = |name: &str| -> Result<_, Bad> {
            cell(name)
                .map(|v| time::parse(&v).map_err(|m| Bad::new(&loc, name, m)))
                .transpose()
        };
        let person = |name_col: &str, email_col: &str| -> Result<Option<PersonInput>, Bad> {
            match (cell(name_col), cell(email_col)) {
                (_, Some(email)) => PersonInput::new(cell(name_col).as_deref(), &email)
                    .map(Some)
                    .map_err(|m| Bad::new(&loc, email_col, m)),
                (Some(_), None) => Err(Bad::new(
                    &loc,
                    email_col,
                    format!("required when {name_col} is given"),
                )),
                (None, None) => Ok(None),
            }
        };
        let client_id =
            cell("client_id").ok_or_else(|| Bad::new(&loc, "client_id", "must not be empty"))?;
        let input = IdentityInput {
            client_id,
            environment: Some(
                parse_enum(cell("environment"), &loc, "environment")?
                    .ok_or_else(|| Bad::new(&loc, "environment", "must not be empty"))?,
            ),
            name: cell("name"),
            kind: parse_enum(cell("kind"), &loc, "kind")?,
            vendor: cell("vendor"),
            status: None,
            business_owner: person("business_owner", "business_owner_email")?,
            technical_owner: person("technical_owner", "technical_owner_email")?,
            purpose: cell("purpose"),
            use_case: cell("use_case"),
            approved_scopes: cell("approved_scopes").map(|s| scope::stored_set(&s)),
            granted_scopes: cell("granted_scopes").map(|s| scope::stored_set(&s)),
            auth_method: cell("auth_method"),
            access_token_lifetime_s: parse_int("access_token_lifetime_s")?,
            refresh_token_lifetime_s: parse_int("refresh_token_lifetime_s")?,
            client_secret: cell("client_secret").map(Into::into),
            key_fingerprints: Vec::new(),
            jwks_uri: cell("jwks_uri"),
            revocation_endpoint: cell("revocation_endpoint"),
            last_used_at: parse_time("last_used_at")?,
            // Imports never certify: the file's review date is history only.
            reviewed_elsewhere_at: parse_time("last_reviewed_at")?,
            last_reviewed_at: None,
            ai_agent: cell("ai_agent")
                .map(|v| match v.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => Ok(true),
                    "false" | "no" | "0" => Ok(false),
                    _ => Err(Bad::new(
                        &loc,
                        "ai_agent",
                        format!("'{v}' is not true or false"),
                    )),
                })
                .transpose()?,
        };
        records.push(Record {
            location: loc,
            input,
        });
    }
    Ok(Parsed {
        format: Format::StewardCsv,
        records,
        skipped: Vec::new(),
        warnings,
    })
}

fn parse_enum<T: std::str::FromStr<Err = String>>(
    value: Option<String>,
    loc: &str,
    field: &str,
) -> Result<Option<T>, Bad> {
    value
        .map(|v| v.parse().map_err(|m| Bad::new(loc, field, m)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Whatever text a cell holds (commas, quotes, newlines, unicode), what a CSV writer
        // quotes the importer reads back unchanged (cells are trimmed, as documented).
        #[test]
        fn written_rows_read_back(
            name in "[^\\x00]{1,40}",
            purpose in "[^\\x00]{0,80}",
            vendor in "[^\\x00]{0,20}",
        ) {
            let name = name.trim().to_string();
            prop_assume!(!name.is_empty());
            let mut w = ::csv::Writer::from_writer(Vec::new());
            w.write_record(["client_id", "name", "kind", "environment", "purpose", "vendor"]).expect("header");
            w.write_record(["c-1", name.as_str(), "clinician_app", "staging", purpose.as_str(), vendor.as_str()])
                .expect("row");
            let text = String::from_utf8(w.into_inner().expect("flush")).expect("utf-8");
            let parsed = parse(&text).map_err(|b| TestCaseError::fail(b.message))?;
            let input = &parsed.records[0].input;
            prop_assert_eq!(input.name.as_deref(), Some(name.as_str()));
            let trimmed = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
            prop_assert_eq!(input.purpose.clone(), trimmed(&purpose));
            prop_assert_eq!(input.vendor.clone(), trimmed(&vendor));
        }
    }
}
