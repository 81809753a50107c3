//! Keycloak realm exports (`clients[]`) and bare client lists.
//!
//! Mapping: `clientId`; `name` (else the clientId; `${...}` message keys count as none);
//! `description` → purpose; `enabled: false` → suspended; `secret` of a confidential client →
//! fingerprint only; `clientAuthenticatorType` → auth method (`client-secret` →
//! `client_secret_basic`, `client-jwt` → `private_key_jwt`, `client-secret-jwt` →
//! `client_secret_jwt`, `client-x509` → `tls_client_auth`; public clients → `none`);
//! `defaultClientScopes` + `optionalClientScopes` → granted scopes (SMART deployments name
//! client scopes after SMART scopes); `attributes."access.token.lifespan"` → access token
//! lifetime; `attributes."client.offline.session.max.lifespan"` → refresh token lifetime.
//! Kind: `bearerOnly` → service account; service accounts without the standard flow →
//! backend service; otherwise a patient app when a scope is `patient/...` or
//! `launch/patient`, else a clinician app. Keycloak's own clients are skipped.

use serde_json::Value;

use super::{json_str, json_strs, Bad, Format, Parsed, Record};
use crate::inventory::{Environment, IdentityInput, Kind, Status};
use crate::scope;

/// Clients every Keycloak realm has; they are the server's own, not applications.
pub const BUILT_IN: [&str; 6] = [
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
];

fn flag(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

fn seconds(v: &Value, loc: &str, attr: &str) -> Result<Option<i64>, Bad> {
    let Some(raw) = v.get("attributes").and_then(|a| a.get(attr)) else {
        return Ok(None);
    };
    let text = raw
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| raw.to_string());
    match text.trim().parse::<i64>() {
        // Keycloak writes -1 or 0 for "use the realm default": nothing to record here.
        Ok(n) if n <= 0 => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(Bad::new(
            loc,
            &format!("attributes.{attr}"),
            format!("'{text}' is not a number of seconds"),
        )),
    }
}

pub(super) fn parse(items: &[Value], environment: Environment) -> Result<Parsed, Bad> {
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for (i, c) in items.iter().enumerate() {
        let loc = format!("record {} (clients[{i}])", i + 1);
        let client_id =
            json_str(c, "clientId").ok_or_else(|| Bad::new(&loc, "clientId", "missing"))?;
        if BUILT_IN.contains(&client_id.as_str()) {
            skipped.push(format!(
                "{loc}: '{client_id}' is a Keycloak built-in client"
            ));
            continue;
        }
        if json_str(c, "protocol").is_some_and(|p| p != "openid-connect") {
            skipped.push(format!(
                "{loc}: '{client_id}' is not an OpenID Connect client"
            ));
            continue;
        }
        let mut scopes = json_strs(c, "defaultClientScopes");
        scopes.extend(json_strs(c, "optionalClientScopes"));
        let scopes = (!scopes.is_empty()).then(|| scope::stored_set(&scopes.join(" ")));
        let public = flag(c, "publicClient") == Some(true);
        let kind = if flag(c, "bearerOnly") == Some(true) {
            Kind::ServiceAccount
        } else if flag(c, "serviceAccountsEnabled") == Some(true)
            && flag(c, "standardFlowEnabled") == Some(false)
        {
            Kind::BackendService
        } else if scopes
            .iter()
            .flatten()
            .any(|s| s.starts_with("patient/") || s == "launch/patient")
        {
            Kind::PatientApp
        } else {
            Kind::ClinicianApp
        };
        let auth_method = if public {
            Some("none".to_string())
        } else {
            Some(
                match json_str(c, "clientAuthenticatorType").as_deref() {
                    None | Some("client-secret") => "client_secret_basic",
                    Some("client-jwt") => "private_key_jwt",
                    Some("client-secret-jwt") => "client_secret_jwt",
                    Some("client-x509") => "tls_client_auth",
                    Some(other) => other,
                }
                .to_string(),
            )
        };
        let name = json_str(c, "name").filter(|n| !n.starts_with("${"));
        let input = IdentityInput {
            name: Some(name.unwrap_or_else(|| client_id.clone())),
            client_id,
            environment: Some(environment),
            kind: Some(kind),
            status: (flag(c, "enabled") == Some(false)).then_some(Status::Suspended),
            purpose: json_str(c, "description"),
            granted_scopes: scopes,
            auth_method,
            access_token_lifetime_s: seconds(c, &loc, "access.token.lifespan")?,
            refresh_token_lifetime_s: seconds(c, &loc, "client.offline.session.max.lifespan")?,
            client_secret: if public {
                None
            } else {
                json_str(c, "secret").map(Into::into)
            },
            ..IdentityInput::default()
        };
        records.push(Record {
            location: loc,
            input,
        });
    }
    Ok(Parsed {
        format: Format::KeycloakRealm,
        records,
        skipped,
        warnings: Vec::new(),
    })
}
