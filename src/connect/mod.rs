//! Authorization servers: discovery, registration (RFC 7591/7592), sync and drift,
//! enforcement, and revocation drills (RFC 7009/7662). The HTTP client lives here
//! ([`http`]); nothing here touches the database.

pub mod discovery;
pub mod drill;
pub mod http;
pub mod keycloak;

pub mod oauth;
pub mod vault;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::inventory::{text_enum, Environment};

text_enum! {
    /// How Steward talks to a server beyond the standard endpoints: `oauth` (RFC 7591/7592
    /// management of the clients whose registration access token it holds) or `keycloak`
    /// (its admin REST API lists every client of the realm, and its events).
    ServerKind {
        Oauth => "oauth",
        Keycloak => "keycloak",
    }
}

/// What a server publishes about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct ServerMetadata {
    pub issuer: String,
    /// The documents it was read from, first the one that answered first.
    pub sources: Vec<String>,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub registration_endpoint: Option<String>,
    pub grant_types_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
}

/// An environment's authorization server, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Connection {
    #[ts(type = "number")]
    pub id: i64,
    pub environment: Environment,
    pub issuer: String,
    pub kind: ServerKind,
    pub realm: Option<String>,
    pub fhir_base: Option<String>,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub registration_endpoint: Option<String>,
    pub grant_types: Vec<String>,
    pub auth_methods: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub metadata_sources: Vec<String>,
    pub discovered_at: String,
    pub last_sync_at: Option<String>,
    /// The Keycloak admin client (its client id) whose secret Steward holds.
    pub admin_client_id: Option<String>,
}

/// What a server says about one client (RFC 7591 metadata, or Keycloak's view of it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct ServerClient {
    pub client_id: String,
    pub client_name: Option<String>,
    /// Canonical SMART scopes, sorted.
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Vec<String>,
    pub enabled: bool,
}

/// One field on which the server and the inventory differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Change {
    pub client_id: String,
    pub field: String,
    pub inventory: String,
    pub server: String,
}

/// The canonical, sorted form of a space-separated scope list (unparsable scopes kept as
/// written), so two spellings of one grant compare equal.
pub fn canonical_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = scopes
        .into_iter()
        .flat_map(str::split_whitespace)
        .map(|s| {
            crate::scope::Scope::parse(s)
                .map(|p| p.to_string())
                .unwrap_or_else(|_| s.to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The fields where `server` differs from what the inventory records (`active`: whether the
/// inventory expects the client to be usable).
pub fn diff(
    active: bool,
    client_id: &str,
    inventory_scopes: &[String],
    inventory_auth: Option<&str>,
    inventory_grants: &[String],
    server: &ServerClient,
) -> Vec<Change> {
    let mut out = Vec::new();
    let mut push = |field: &str, inv: String, srv: String| {
        if inv != srv {
            out.push(Change {
                client_id: client_id.to_string(),
                field: field.to_string(),
                inventory: inv,
                server: srv,
            });
        }
    };
    let inv_scopes = canonical_scopes(inventory_scopes.iter().map(String::as_str));
    push("scope", inv_scopes.join(" "), server.scopes.join(" "));
    if let (Some(inv), Some(srv)) = (inventory_auth, &server.token_endpoint_auth_method) {
        push("token_endpoint_auth_method", inv.to_string(), srv.clone());
    }
    if !inventory_grants.is_empty() && !server.grant_types.is_empty() {
        // Refresh tokens follow the lifetimes, which servers spell each their own way.
        let grants = |g: &[String]| -> Vec<String> {
            g.iter()
                .filter(|g| *g != "refresh_token")
                .cloned()
                .collect()
        };
        let mut a = grants(inventory_grants);
        let mut b = grants(&server.grant_types);
        a.sort();
        b.sort();
        push("grant_types", a.join(" "), b.join(" "));
    }
    if active && !server.enabled {
        push("enabled", "true".into(), "false".into());
    }
    out
}

/// The grant types an identity of `kind` is registered with.
pub fn grant_types(kind: crate::inventory::Kind, refresh: bool) -> Vec<String> {
    use crate::inventory::Kind;
    let mut g = match kind {
        Kind::BackendService | Kind::ServiceAccount => vec!["client_credentials".to_string()],
        Kind::PatientApp | Kind::ClinicianApp => vec!["authorization_code".to_string()],
    };
    if refresh && matches!(kind, Kind::PatientApp | Kind::ClinicianApp) {
        g.push("refresh_token".into());
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_compare_in_canonical_form() {
        assert_eq!(
            canonical_scopes(["system/Patient.read system/Observation.rs", "openid"]),
            vec!["openid", "system/Observation.rs", "system/Patient.rs"]
        );
    }

    #[test]
    fn a_diff_names_each_field_that_differs() {
        let server = ServerClient {
            client_id: "c".into(),
            scopes: canonical_scopes(["system/Patient.rs system/Encounter.rs"]),
            token_endpoint_auth_method: Some("client_secret_basic".into()),
            grant_types: vec!["client_credentials".into()],
            enabled: true,
            ..ServerClient::default()
        };
        let d = diff(
            true,
            "c",
            &["system/Patient.read".into()],
            Some("private_key_jwt"),
            &["client_credentials".into()],
            &server,
        );
        let fields: Vec<&str> = d.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["scope", "token_endpoint_auth_method"]);
        assert_eq!(d[0].inventory, "system/Patient.rs");
        assert_eq!(d[0].server, "system/Encounter.rs system/Patient.rs");
    }
}
