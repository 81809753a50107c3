//! Keycloak's admin REST API (`/admin/realms/{realm}`), signed in as an admin client by
//! client credentials: every client of the realm with its default and optional client
//! scopes, the realm's events and admin events, and the changes enforcement makes (remove a
//! client scope, disable a client). Keycloak cannot run here: the tests replay recorded
//! responses (tests/fixtures/keycloak-admin, provenance in its README).

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::Method;
use serde_json::{json, Value};
use url::Url;
use zeroize::Zeroizing;

use super::http::{endpoint, Call, Http};
use super::oauth::{self, ClientAuth};
use super::{canonical_scopes, Connection, ServerClient};
use crate::inventory::import::keycloak::BUILT_IN;
use crate::usage::tokens::{self, RawTokenEvent, TokenEventKind};
use crate::{time, Error, Result};

/// A page of the client list.
const PAGE: usize = 100;
/// The most events read in one sync.
const MAX_EVENTS: usize = 10_000;

/// Whether a Keycloak client scope is a SMART scope Steward tracks (resource scopes, the
/// launch scopes and `fhirUser`); Keycloak's own (`profile`, `email`, `roles`,
/// `web-origins`, `acr`, `basic`, `offline_access`, ...) are left out.
pub fn is_smart(scope: &str) -> bool {
    scope.contains('/') && crate::scope::Scope::parse(scope).is_ok()
        || matches!(scope, "launch" | "fhirUser")
}

/// A client as Steward sees it, from Keycloak's ClientRepresentation.
pub fn server_client(rep: &Value) -> Option<ServerClient> {
    let client_id = rep.get("clientId")?.as_str()?.to_string();
    let flag = |m: &str| rep.get(m).and_then(Value::as_bool).unwrap_or(false);
    let names = |m: &str| -> Vec<String> {
        rep.get(m)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|s| is_smart(s))
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut scopes = names("defaultClientScopes");
    scopes.extend(names("optionalClientScopes"));
    let method = if flag("publicClient") {
        "none"
    } else {
        match rep.get("clientAuthenticatorType").and_then(Value::as_str) {
            Some("client-jwt") => "private_key_jwt",
            Some("client-secret-jwt") => "client_secret_jwt",
            Some("client-x509") => "tls_client_auth",
            _ => "client_secret_basic",
        }
    };
    let mut grant_types = Vec::new();
    if flag("serviceAccountsEnabled") {
        grant_types.push("client_credentials".to_string());
    }
    if flag("standardFlowEnabled") {
        grant_types.push("authorization_code".to_string());
    }
    Some(ServerClient {
        client_id,
        client_name: rep.get("name").and_then(Value::as_str).map(String::from),
        scopes: canonical_scopes(scopes.iter().map(String::as_str)),
        token_endpoint_auth_method: Some(method.into()),
        grant_types,
        enabled: rep.get("enabled").and_then(Value::as_bool).unwrap_or(true),
    })
}

/// Admin events that change a client or its scopes, as token-log entries of kind
/// `scope_changed` (the client named through `uuids`: internal id → clientId).
pub fn admin_events(events: &[Value], uuids: &[(String, String)]) -> Vec<RawTokenEvent> {
    let mut out = Vec::new();
    for e in events {
        let kind = e.get("resourceType").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "CLIENT" | "CLIENT_SCOPE_CLIENT_MAPPING") {
            continue;
        }
        let path = e.get("resourcePath").and_then(Value::as_str).unwrap_or("");
        let Some(uuid) = path
            .strip_prefix("clients/")
            .map(|r| r.split('/').next().unwrap_or(r))
        else {
            continue;
        };
        let rep: Option<Value> = e
            .get("representation")
            .and_then(Value::as_str)
            .and_then(|r| serde_json::from_str(r).ok());
        let client_id = uuids
            .iter()
            .find(|(u, _)| u == uuid)
            .map(|(_, c)| c.clone())
            .or_else(|| {
                rep.as_ref()
                    .and_then(|r| r.get("clientId")?.as_str().map(String::from))
            });
        let (Some(client_id), Some(at)) = (
            client_id,
            e.get("time")
                .and_then(Value::as_i64)
                .and_then(time::from_millis),
        ) else {
            continue;
        };
        let op = e.get("operationType").and_then(Value::as_str).unwrap_or("");
        out.push(RawTokenEvent {
            at,
            client_id,
            environment: None,
            event: TokenEventKind::ScopeChanged,
            source: format!("admin:{op} {kind}"),
            scopes: None,
            token_id: None,
            subject: None,
            expires_in: None,
            error: e.get("error").and_then(Value::as_str).map(String::from),
        });
    }
    out
}

/// The realm's admin API, signed in.
pub struct Admin<'a> {
    http: &'a Http,
    base: Url,
    token: Zeroizing<String>,
}

/// `https://host[/prefix]/admin/realms/{realm}` for an issuer `https://host[/prefix]/realms/{realm}`.
pub fn admin_base(issuer: &str, realm: &str) -> Result<Url> {
    let url = endpoint("issuer", issuer)?;
    let path = url.path();
    let prefix = match path.find("/realms/") {
        Some(i) => &path[..i],
        None => path.trim_end_matches('/'),
    };
    let mut base = url.clone();
    base.set_path(&format!("{prefix}/admin/realms/{realm}"));
    base.set_query(None);
    Ok(base)
}

impl<'a> Admin<'a> {
    /// Signs in as the connection's admin client with its secret.
    pub async fn sign_in(http: &'a Http, c: &Connection, secret: &str) -> Result<Admin<'a>> {
        let realm = c
            .realm
            .as_deref()
            .ok_or_else(|| Error::invalid("--realm", "a Keycloak connection names its realm"))?;
        let client_id = c.admin_client_id.as_deref().ok_or_else(|| {
            Error::invalid(
                "--admin-client",
                "a Keycloak connection names the admin client Steward signs in as",
            )
        })?;
        let token_endpoint = endpoint("token_endpoint", &c.token_endpoint)?;
        let auth = ClientAuth::SecretBasic { client_id, secret };
        let (token, _) = oauth::client_credentials(http, &token_endpoint, &auth, "").await?;
        Ok(Admin {
            http,
            base: admin_base(&c.issuer, realm)?,
            token,
        })
    }

    fn url(&self, rest: &str) -> Result<Url> {
        Url::parse(&format!(
            "{}/{rest}",
            self.base.as_str().trim_end_matches('/')
        ))
        .map_err(|e| Error::remote(&self.base, e.to_string()))
    }

    async fn get(&self, rest: &str) -> Result<Value> {
        let url = self.url(rest)?;
        self.http
            .send(Call::get(&url).bearer(&self.token))
            .await?
            .ok_json()
    }

    async fn call(&self, method: Method, rest: &str, body: Option<&Value>) -> Result<()> {
        let url = self.url(rest)?;
        let mut call = Call::new(method, &url).bearer(&self.token);
        if let Some(b) = body {
            call = call.json(b);
        }
        let a = self.http.send(call).await?;
        if a.status.is_success() {
            Ok(())
        } else {
            Err(a.failure())
        }
    }

    /// The internal id and clientId of each representation.
    pub fn uuids(reps: &[Value]) -> Vec<(String, String)> {
        reps.iter()
            .filter_map(|r| {
                Some((
                    r.get("id")?.as_str()?.to_string(),
                    r.get("clientId")?.as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// Every client representation of the realm but Keycloak's own, a page at a time.
    pub async fn representations(&self, cancel: &AtomicBool) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut first = 0;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let page = self
                .get(&format!("clients?first={first}&max={PAGE}"))
                .await?;
            let items = page
                .as_array()
                .ok_or_else(|| Error::remote(&self.base, "clients: not a JSON array"))?;
            let n = items.len();
            out.extend(items.iter().cloned());
            if n < PAGE {
                break;
            }
            first += n;
        }
        out.retain(|c| {
            c.get("clientId")
                .and_then(Value::as_str)
                .is_some_and(|id| !BUILT_IN.contains(&id))
        });
        Ok(out)
    }

    /// The realm's events and admin events since `since` (epoch milliseconds, exclusive), as
    /// token-log entries, and the newest event's time. `uuids` names each client by its
    /// internal id ([`Admin::uuids`]).
    pub async fn events(
        &self,
        since: Option<&str>,
        uuids: &[(String, String)],
    ) -> Result<(Vec<RawTokenEvent>, Option<String>)> {
        let from: i64 = since.and_then(|s| s.parse().ok()).map_or(0, |s: i64| s + 1);
        let user = self
            .get(&format!("events?dateFrom={from}&first=0&max={MAX_EVENTS}"))
            .await?;
        let admin = self
            .get(&format!(
                "admin-events?dateFrom={from}&first=0&max={MAX_EVENTS}"
            ))
            .await?;
        let times = |v: &Value| -> Vec<i64> {
            v.as_array()
                .map(|a| a.iter().filter_map(|e| e.get("time")?.as_i64()).collect())
                .unwrap_or_default()
        };
        let newest = times(&user)
            .into_iter()
            .chain(times(&admin))
            .filter(|t| *t >= from)
            .max();
        let keep = |v: &Value| -> Vec<Value> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter(|e| {
                            e.get("time")
                                .and_then(Value::as_i64)
                                .is_some_and(|t| t >= from)
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        let bytes = serde_json::to_vec(&Value::Array(keep(&user))).expect("JSON");
        let mut parsed = tokens::parse_keycloak(&bytes)
            .map_err(|e| Error::remote(&self.base, format!("events: {e}")))?
            .events;
        parsed.extend(admin_events(&keep(&admin), uuids));
        parsed.sort_by_key(|e| e.at);
        Ok((parsed, newest.map(|t| t.to_string())))
    }

    /// Carries out an enforcement task: `reduce` removes the client scopes not in `keep`;
    /// `revoke` and `retire` remove every SMART client scope and disable the client. Then
    /// the client is read back to confirm.
    pub async fn enforce(
        &self,
        client_id: &str,
        action: &str,
        keep: Option<&str>,
        dry_run: bool,
        calls: &mut Vec<String>,
    ) -> Result<String> {
        let found = self
            .get(&format!("clients?clientId={}", form(client_id)))
            .await?;
        let rep = found
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("client {client_id} in the realm")))?;
        let uuid = rep
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::remote(&self.base, "client without an id"))?
            .to_string();
        let keep: Vec<String> = match action {
            "reduce" => canonical_scopes(keep),
            _ => Vec::new(),
        };
        let scope_ids: Vec<(String, String)> = self
            .get("client-scopes")
            .await?
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        Some((
                            s.get("name")?.as_str()?.to_string(),
                            s.get("id")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for list in ["defaultClientScopes", "optionalClientScopes"] {
            let path = if list == "defaultClientScopes" {
                "default-client-scopes"
            } else {
                "optional-client-scopes"
            };
            for name in rep
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|s| is_smart(s))
            {
                if keep.contains(&canonical_scopes([name]).join(" ")) {
                    continue;
                }
                let id = scope_ids
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, id)| id.clone())
                    .ok_or_else(|| {
                        Error::remote(&self.base, format!("client scope {name} has no id"))
                    })?;
                let rest = format!("clients/{uuid}/{path}/{id}");
                calls.push(format!("DELETE {}", self.url(&rest)?));
                if !dry_run {
                    self.call(Method::DELETE, &rest, None).await?;
                }
            }
        }
        if action != "reduce" {
            let rest = format!("clients/{uuid}");
            calls.push(format!("PUT {}", self.url(&rest)?));
            if !dry_run {
                let mut full = self.get(&rest).await?;
                full["enabled"] = json!(false);
                self.call(Method::PUT, &rest, Some(&full)).await?;
            }
        }
        let rest = format!("clients/{uuid}");
        calls.push(format!("GET {}", self.url(&rest)?));
        if dry_run {
            return Ok(format!("would keep '{}'", keep.join(" ")));
        }
        let back = server_client(&self.get(&rest).await?)
            .ok_or_else(|| Error::remote(&self.base, "the client read back has no clientId"))?;
        if back.scopes != keep || (action != "reduce" && back.enabled) {
            return Err(Error::remote(
                &self.base,
                format!(
                    "read back scopes '{}' (enabled: {}), expected '{}'",
                    back.scopes.join(" "),
                    back.enabled,
                    keep.join(" ")
                ),
            ));
        }
        Ok(format!(
            "scopes '{}'{}",
            back.scopes.join(" "),
            if back.enabled {
                ""
            } else {
                ", client disabled"
            }
        ))
    }
}

fn form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/keycloak-admin/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(&path).expect(&path)).expect("JSON")
    }

    #[test]
    fn clients_keep_smart_scopes_and_map_authenticators() {
        let reps = fixture("clients.json");
        let clients: Vec<ServerClient> = reps
            .as_array()
            .expect("valid")
            .iter()
            .filter_map(server_client)
            .collect();
        let svc = clients
            .iter()
            .find(|c| c.client_id == "smart-backend-svc")
            .expect("valid");
        assert_eq!(
            svc.scopes,
            [
                "system/Encounter.rs",
                "system/Observation.rs",
                "system/Patient.rs"
            ]
        );
        assert_eq!(
            svc.token_endpoint_auth_method.as_deref(),
            Some("client_secret_basic")
        );
        assert_eq!(svc.grant_types, ["client_credentials"]);
        let jwt = clients
            .iter()
            .find(|c| c.client_id == "bulk-export-jwt")
            .expect("valid");
        assert_eq!(
            jwt.token_endpoint_auth_method.as_deref(),
            Some("private_key_jwt")
        );
        let app = clients
            .iter()
            .find(|c| c.client_id == "smart-patient-app")
            .expect("valid");
        assert_eq!(app.token_endpoint_auth_method.as_deref(), Some("none"));
        assert!(
            app.scopes.contains(&"launch/patient".to_string()),
            "{:?}",
            app.scopes
        );
        let off = clients
            .iter()
            .find(|c| c.client_id == "legacy-lab-feed")
            .expect("valid");
        assert!(!off.enabled);
    }

    #[test]
    fn admin_events_name_the_client_they_changed() {
        let reps = fixture("clients.json");
        let uuids: Vec<(String, String)> = reps
            .as_array()
            .expect("valid")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().expect("valid").into(),
                    r["clientId"].as_str().expect("valid").into(),
                )
            })
            .collect();
        let events = fixture("admin-events.json");
        let out = admin_events(events.as_array().expect("valid"), &uuids);
        assert!(!out.is_empty());
        assert!(out.iter().all(|e| e.event == TokenEventKind::ScopeChanged));
        assert!(
            out.iter().any(|e| e.client_id == "old-fax-gateway"),
            "deleted client named from its representation"
        );
    }

    #[test]
    fn the_admin_base_follows_the_issuer() {
        assert_eq!(
            admin_base("https://kc.example.org/realms/test", "test")
                .expect("valid")
                .as_str(),
            "https://kc.example.org/admin/realms/test"
        );
        assert_eq!(
            admin_base("https://kc.example.org/auth/realms/test/", "test")
                .expect("valid")
                .as_str(),
            "https://kc.example.org/auth/admin/realms/test"
        );
    }
}
