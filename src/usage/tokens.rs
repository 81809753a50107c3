//! Token events from Keycloak (its event listener's JSON or the admin events API: one event,
//! an array of them, or one a line) and from the Steward token CSV
//! (`time,client_id,environment,event,scopes,token_id,expires_in,subject`).
//!
//! Keycloak types map to: `CODE_TO_TOKEN`, `CLIENT_LOGIN`, `TOKEN_EXCHANGE` → issued;
//! `REFRESH_TOKEN` → refreshed; `REVOKE_GRANT` (the revoked client when named), `LOGOUT` →
//! revoked; any `*_ERROR` → failed. Other types (`LOGIN`, `CODE_TO_TOKEN` is the token
//! moment, not the login) are not token events and are skipped.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::inventory::text_enum;
use crate::inventory::Environment;
use crate::time::{self, Timestamp};

text_enum! {
    /// What happened to a token.
    TokenEventKind {
        Issued => "issued",
        Refreshed => "refreshed",
        Revoked => "revoked",
        ScopeChanged => "scope_changed",
        Failed => "failed",
    }
}

/// One token event as read, before fingerprinting. `token_id` and `subject` are raw here and
/// never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTokenEvent {
    pub at: Timestamp,
    pub client_id: String,
    pub environment: Option<Environment>,
    pub event: TokenEventKind,
    /// The source's own name (`CODE_TO_TOKEN`, `csv`).
    pub source: String,
    pub scopes: Option<String>,
    pub token_id: Option<crate::inventory::fingerprint::RawSecret>,
    pub subject: Option<String>,
    pub expires_in: Option<i64>,
    pub error: Option<String>,
}

/// Where a record came from, for errors: `line 3` or `event 2`.
pub type Location = String;

/// What reading a token file produced.
#[derive(Debug, Default)]
pub struct ParsedTokens {
    pub events: Vec<RawTokenEvent>,
    /// (location, what is wrong).
    pub bad: Vec<(Location, String)>,
    /// Events that are not token events (user logins, admin events).
    pub skipped: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeycloakEvent {
    time: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    client_id: Option<String>,
    user_id: Option<String>,
    error: Option<String>,
    #[serde(default)]
    details: std::collections::HashMap<String, serde_json::Value>,
    /// Admin events carry this instead of `type`.
    operation_type: Option<String>,
}

fn keycloak_kind(kind: &str) -> Option<TokenEventKind> {
    Some(match kind {
        "CODE_TO_TOKEN" | "CLIENT_LOGIN" | "TOKEN_EXCHANGE" => TokenEventKind::Issued,
        "REFRESH_TOKEN" => TokenEventKind::Refreshed,
        "REVOKE_GRANT" | "LOGOUT" => TokenEventKind::Revoked,
        k if k.ends_with("_ERROR") => TokenEventKind::Failed,
        _ => return None,
    })
}

fn detail(d: &std::collections::HashMap<String, serde_json::Value>, key: &str) -> Option<String> {
    d.get(key).and_then(|v| v.as_str()).map(String::from)
}

fn keycloak_event(v: serde_json::Value, out: &mut ParsedTokens, location: Location) {
    let e: KeycloakEvent = match serde_json::from_value(v) {
        Ok(e) => e,
        Err(err) => {
            out.bad
                .push((location, format!("not a Keycloak event: {err}")));
            return;
        }
    };
    if e.operation_type.is_some() && e.kind.is_none() {
        out.skipped += 1; // an admin event: a change to the realm, not a token
        return;
    }
    let Some(kind) = e.kind.as_deref() else {
        out.bad.push((location, "type: missing".into()));
        return;
    };
    let Some(event) = keycloak_kind(kind) else {
        out.skipped += 1;
        return;
    };
    let Some(at) = e.time.and_then(time::from_millis) else {
        out.bad
            .push((location, "time: missing or not epoch milliseconds".into()));
        return;
    };
    let client_id = match kind {
        "REVOKE_GRANT" => detail(&e.details, "revoked_client").or(e.client_id),
        _ => e.client_id,
    }
    .unwrap_or_default();
    let token_id = detail(&e.details, "token_id")
        .or_else(|| detail(&e.details, "refresh_token_id"))
        .map(crate::inventory::fingerprint::RawSecret::new);
    out.events.push(RawTokenEvent {
        at,
        client_id,
        environment: None,
        event,
        source: kind.to_string(),
        scopes: detail(&e.details, "scope"),
        token_id,
        subject: e.user_id,
        expires_in: None,
        error: e.error,
    });
}

/// Reads Keycloak events: one JSON event, an array, or one event a line.
pub fn parse_keycloak(bytes: &[u8]) -> Result<ParsedTokens, String> {
    let mut out = ParsedTokens::default();
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Array(items)) => {
            for (i, v) in items.into_iter().enumerate() {
                keycloak_event(v, &mut out, format!("event {}", i + 1));
            }
        }
        Ok(v @ serde_json::Value::Object(_)) => keycloak_event(v, &mut out, "event 1".into()),
        Ok(_) => return Err("not a Keycloak event, an array of them, or one a line".into()),
        Err(_) => {
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice(line) {
                    Ok(v) => keycloak_event(v, &mut out, format!("line {}", i + 1)),
                    Err(e) => out
                        .bad
                        .push((format!("line {}", i + 1), format!("not JSON: {e}"))),
                }
            }
        }
    }
    Ok(out)
}

/// The Steward token CSV header.
pub const CSV_HEADER: [&str; 8] = [
    "time",
    "client_id",
    "environment",
    "event",
    "scopes",
    "token_id",
    "expires_in",
    "subject",
];

/// Reads the Steward token CSV. The header must be exactly [`CSV_HEADER`].
pub fn parse_csv(bytes: &[u8]) -> Result<ParsedTokens, String> {
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| format!("line 1: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header != CSV_HEADER {
        return Err(format!(
            "line 1: the header must be {}, not {}",
            CSV_HEADER.join(","),
            header.join(",")
        ));
    }
    let mut out = ParsedTokens::default();
    for (i, rec) in r.records().enumerate() {
        let location = format!("line {}", i + 2);
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.bad.push((location, e.to_string()));
                continue;
            }
        };
        let cell = |n: usize| rec.get(n).map(str::trim).filter(|s| !s.is_empty());
        let parsed = (|| -> Result<RawTokenEvent, String> {
            let at =
                time::parse(cell(0).ok_or("time: missing")?).map_err(|m| format!("time: {m}"))?;
            let client_id = cell(1).ok_or("client_id: missing")?.to_string();
            let environment = cell(2)
                .map(|e| {
                    e.parse::<Environment>()
                        .map_err(|m| format!("environment: {m}"))
                })
                .transpose()?;
            let event = cell(3)
                .ok_or("event: missing")?
                .parse::<TokenEventKind>()
                .map_err(|m| format!("event: {m}"))?;
            let expires_in = cell(6)
                .map(|v| {
                    v.parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or(format!("expires_in: '{v}' is not a number of seconds"))
                })
                .transpose()?;
            Ok(RawTokenEvent {
                at,
                client_id,
                environment,
                event,
                source: "csv".into(),
                scopes: cell(4).map(String::from),
                token_id: cell(5).map(crate::inventory::fingerprint::RawSecret::new),
                subject: cell(7).map(String::from),
                expires_in,
                error: None,
            })
        })();
        match parsed {
            Ok(e) => out.events.push(e),
            Err(m) => out.bad.push((location, m)),
        }
    }
    Ok(out)
}

/// A token event as stored and shown: fingerprints only.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct TokenEvent {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number | null")]
    pub identity_id: Option<i64>,
    pub client_id: String,
    pub environment: Environment,
    pub at: String,
    pub event: TokenEventKind,
    pub source: String,
    pub scopes: Option<String>,
    pub token_fingerprint: Option<String>,
    #[ts(type = "number | null")]
    pub expires_in: Option<i64>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/keycloak-events")
                .join(name),
        )
        .expect("fixture")
    }

    #[test]
    fn keycloak_types_map_to_token_events() {
        let cases = [
            (
                "02-CODE_TO_TOKEN.json",
                Some(TokenEventKind::Issued),
                "test-app",
            ),
            (
                "03-REFRESH_TOKEN.json",
                Some(TokenEventKind::Refreshed),
                "test-app",
            ),
            ("07-CLIENT_LOGIN.json", Some(TokenEventKind::Issued), ""),
            (
                "08-TOKEN_EXCHANGE.json",
                Some(TokenEventKind::Issued),
                "requester-client",
            ),
            (
                "05-REVOKE_GRANT-token-revocation-endpoint.json",
                Some(TokenEventKind::Revoked),
                "requester-client",
            ),
            (
                "09-LOGIN_ERROR-from-docs-log-line.json",
                Some(TokenEventKind::Failed),
                "",
            ),
            ("01-LOGIN.json", None, ""),
            ("admin-01-CREATE-CLIENT.json", None, ""),
        ];
        for (file, want, client) in cases {
            let p = parse_keycloak(&fixture(file)).expect("parse");
            assert!(p.bad.is_empty(), "{file}: {:?}", p.bad);
            match want {
                Some(kind) => {
                    assert_eq!(p.events.len(), 1, "{file}");
                    assert_eq!(p.events[0].event, kind, "{file}");
                    if !client.is_empty() {
                        assert_eq!(p.events[0].client_id, client, "{file}");
                    }
                }
                None => assert_eq!((p.events.len(), p.skipped), (0, 1), "{file}"),
            }
        }
        let code = parse_keycloak(&fixture("02-CODE_TO_TOKEN.json")).expect("parse");
        assert_eq!(
            code.events[0].token_id.as_deref(),
            Some("a3f5c2d1-9b7e-4f60-8c1d-2e4b6a8c0f13")
        );
        assert_eq!(time::format(code.events[0].at), "2023-11-14T22:13:21Z");
    }

    #[test]
    fn the_account_console_revocation_names_the_revoked_client() {
        let p = parse_keycloak(&fixture("04-REVOKE_GRANT-account-console.json")).expect("parse");
        assert_eq!(p.events[0].event, TokenEventKind::Revoked);
        assert_ne!(
            p.events[0].client_id, "account",
            "the revoked client, not the console"
        );
    }

    #[test]
    fn the_admin_api_array_is_read_event_by_event() {
        let p = parse_keycloak(&fixture("events-admin-api-response.json")).expect("parse");
        assert!(!p.events.is_empty());
        assert!(p.bad.is_empty(), "{:?}", p.bad);
    }

    #[test]
    fn the_csv_names_line_and_field() {
        let text = "time,client_id,environment,event,scopes,token_id,expires_in,subject\n\
            2026-11-01T10:00:00Z,app,production,issued,patient/Observation.rs,t1,300,u1\n\
            2026-11-01T10:00:00Z,app,production,minted,,,,\n\
            yesterday,app,,issued,,,,\n";
        let p = parse_csv(text.as_bytes()).expect("parse");
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.bad.len(), 2);
        assert!(
            p.bad[0].0 == "line 3" && p.bad[0].1.starts_with("event:"),
            "{:?}",
            p.bad
        );
        assert!(
            p.bad[1].0 == "line 4" && p.bad[1].1.starts_with("time:"),
            "{:?}",
            p.bad
        );
        assert!(parse_csv(b"when,who\n").is_err());
    }
}
