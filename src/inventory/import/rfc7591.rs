//! RFC 7591 client metadata and registration responses (also SMART/UDAP dynamic
//! registration, which extend it).
//!
//! Mapping: `client_id` (required: a registration request has none, import the response),
//! `client_name` → name (else the client_id), `scope` → granted scopes,
//! `token_endpoint_auth_method` → auth method, `client_secret` → fingerprint only,
//! `jwks.keys[]` → RFC 7638 thumbprints, `jwks_uri`, first `contacts` email → technical
//! owner, `software_id` publisher part is not trusted as a vendor. Kind: a
//! `client_credentials` or JWT-bearer grant makes a backend service; otherwise a `patient/`
//! or `launch/patient` scope makes a patient app, and anything else a clinician app.

use serde_json::Value;

use super::{json_str, json_strs, Bad, Format, Parsed, Record};
use crate::inventory::fingerprint::jwk_thumbprint;
use crate::inventory::{Environment, IdentityInput, Kind, PersonInput};
use crate::scope;

const BACKEND_GRANTS: [&str; 2] = [
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
];

pub(super) fn parse(items: &[Value], environment: Environment) -> Result<Parsed, Bad> {
    let mut records = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let loc = format!("record {}", i + 1);
        if !item.is_object() {
            return Err(Bad::new(
                &loc,
                "-",
                "expected a JSON object of client metadata",
            ));
        }
        let client_id = json_str(item, "client_id").ok_or_else(|| {
            Bad::new(
                &loc,
                "client_id",
                "missing (a registration request has no client_id yet; import the registration \
                 response)",
            )
        })?;
        let scopes = json_str(item, "scope").map(|s| scope::stored_set(&s));
        let grants = json_strs(item, "grant_types");
        let patient_facing = scopes
            .iter()
            .flatten()
            .any(|s| s.starts_with("patient/") || s == "launch/patient");
        let kind = if grants.iter().any(|g| BACKEND_GRANTS.contains(&g.as_str())) {
            Kind::BackendService
        } else if patient_facing {
            Kind::PatientApp
        } else {
            Kind::ClinicianApp
        };
        let technical_owner = json_strs(item, "contacts")
            .iter()
            .find_map(|c| PersonInput::new(None, c.trim_start_matches("mailto:")).ok());
        let mut keys = Vec::new();
        if let Some(list) = item
            .get("jwks")
            .and_then(|j| j.get("keys"))
            .and_then(Value::as_array)
        {
            for (k, jwk) in list.iter().enumerate() {
                keys.push(jwk_thumbprint(jwk).ok_or_else(|| {
                    Bad::new(
                        &loc,
                        &format!("jwks.keys[{k}]"),
                        "not a JWK with the members RFC 7638 requires",
                    )
                })?);
            }
        }
        let input = IdentityInput {
            name: Some(json_str(item, "client_name").unwrap_or_else(|| client_id.clone())),
            client_id,
            environment: Some(environment),
            kind: Some(kind),
            technical_owner,
            granted_scopes: scopes,
            auth_method: json_str(item, "token_endpoint_auth_method"),
            client_secret: json_str(item, "client_secret").map(Into::into),
            key_fingerprints: keys,
            jwks_uri: json_str(item, "jwks_uri"),
            ..IdentityInput::default()
        };
        records.push(Record {
            location: loc,
            input,
        });
    }
    Ok(Parsed {
        format: Format::Rfc7591,
        records,
        skipped: Vec::new(),
        warnings: Vec::new(),
    })
}
