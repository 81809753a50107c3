//! Server metadata: `{issuer}/.well-known/smart-configuration` (SMART App Launch), then RFC
//! 8414 (`/.well-known/oauth-authorization-server`) and OpenID Connect Discovery
//! (`{issuer}/.well-known/openid-configuration`) for what the first leaves out.

use serde_json::Value;
use url::Url;

use super::http::{endpoint, Call, Http};
use super::ServerMetadata;
use crate::{Error, Result};

/// The metadata documents to try, in order: (name, URL).
pub fn documents(issuer: &Url) -> Vec<(&'static str, Url)> {
    let base = issuer.as_str().trim_end_matches('/');
    let mut rfc8414 = issuer.clone();
    let path = issuer.path().trim_end_matches('/');
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    rfc8414.set_query(None);
    let at = |suffix: &str| Url::parse(&format!("{base}{suffix}")).expect("issuer joins");
    vec![
        (
            "smart-configuration",
            at("/.well-known/smart-configuration"),
        ),
        ("oauth-authorization-server", rfc8414),
        (
            "openid-configuration",
            at("/.well-known/openid-configuration"),
        ),
    ]
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn strings(doc: &Value, member: &str, url: &Url) -> Result<Option<Vec<String>>> {
    match doc.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    Error::remote(url, format!("metadata: {member}: an array of strings"))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(Error::remote(
            url,
            format!("metadata: {member}: an array of strings"),
        )),
    }
}

fn url_member(doc: &Value, member: &str, url: &Url) -> Result<Option<String>> {
    match doc.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => endpoint(member, s)
            .map(|u| Some(u.to_string()))
            .map_err(|e| Error::remote(url, format!("metadata: {e}"))),
        Some(_) => Err(Error::remote(url, format!("metadata: {member}: a URL"))),
    }
}

/// Folds one metadata document into `into`: members already known stay as they are.
pub fn merge(into: &mut ServerMetadata, name: &str, doc: &Value, url: &Url) -> Result<()> {
    if !doc.is_object() {
        return Err(Error::remote(url, "metadata: not a JSON object"));
    }
    if let Some(iss) = doc.get("issuer") {
        let iss = iss
            .as_str()
            .ok_or_else(|| Error::remote(url, "metadata: issuer: a URL"))?;
        if !same_issuer(iss, &into.issuer) {
            return Err(Error::remote(
                url,
                format!("metadata names the issuer {iss}, not {}", into.issuer),
            ));
        }
    }
    fn fill<T>(slot: &mut Option<T>, v: Option<T>) {
        if slot.is_none() {
            *slot = v;
        }
    }
    let mut token = (!into.token_endpoint.is_empty()).then(|| into.token_endpoint.clone());
    fill(&mut token, url_member(doc, "token_endpoint", url)?);
    into.token_endpoint = token.unwrap_or_default();
    fill(
        &mut into.revocation_endpoint,
        url_member(doc, "revocation_endpoint", url)?,
    );
    fill(
        &mut into.introspection_endpoint,
        url_member(doc, "introspection_endpoint", url)?,
    );
    fill(
        &mut into.registration_endpoint,
        url_member(doc, "registration_endpoint", url)?,
    );
    for (slot, member) in [
        (&mut into.grant_types_supported, "grant_types_supported"),
        (
            &mut into.token_endpoint_auth_methods_supported,
            "token_endpoint_auth_methods_supported",
        ),
        (&mut into.scopes_supported, "scopes_supported"),
    ] {
        if slot.is_empty() {
            *slot = strings(doc, member, url)?.unwrap_or_default();
        }
    }
    into.sources.push(name.to_string());
    Ok(())
}

/// Reads the server's metadata. An issuer that cannot be reached, a TLS failure, a slow
/// server or a malformed document is an error naming the URL; a document that is not there
/// (4xx) is skipped for the next. The SMART document is the first word; the others fill in
/// the endpoints it does not list.
pub async fn discover(http: &Http, issuer: &Url) -> Result<ServerMetadata> {
    let mut meta = ServerMetadata {
        issuer: issuer.as_str().trim_end_matches('/').to_string(),
        ..ServerMetadata::default()
    };
    let mut missing = Vec::new();
    for (name, url) in documents(issuer) {
        let answer = http.send(Call::get(&url)).await?;
        if answer.status.is_client_error() {
            missing.push(format!("{name} answered {}", answer.status.as_u16()));
            continue;
        }
        let doc = answer.ok_json()?;
        merge(&mut meta, name, &doc, &answer.url)?;
    }
    if meta.sources.is_empty() {
        return Err(Error::remote(
            issuer,
            format!("publishes no server metadata ({})", missing.join(", ")),
        ));
    }
    if meta.token_endpoint.is_empty() {
        return Err(Error::remote(
            issuer,
            "metadata: token_endpoint is missing (required by SMART and RFC 8414)",
        ));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_follow_each_specification() {
        let docs = documents(&Url::parse("https://as.example.org/realms/test").expect("valid"));
        let urls: Vec<String> = docs.iter().map(|(_, u)| u.to_string()).collect();
        assert_eq!(
            urls,
            [
                "https://as.example.org/realms/test/.well-known/smart-configuration",
                "https://as.example.org/.well-known/oauth-authorization-server/realms/test",
                "https://as.example.org/realms/test/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn smart_first_the_others_fill_in() {
        let url = Url::parse("https://as.example.org/.well-known/x").expect("valid");
        let mut m = ServerMetadata {
            issuer: "https://as.example.org".into(),
            ..ServerMetadata::default()
        };
        let smart = json!({"token_endpoint": "https://as.example.org/token",
            "grant_types_supported": ["client_credentials"]});
        merge(&mut m, "smart-configuration", &smart, &url).expect("valid");
        let oidc = json!({"issuer": "https://as.example.org/",
            "token_endpoint": "https://as.example.org/other",
            "revocation_endpoint": "https://as.example.org/revoke",
            "grant_types_supported": ["authorization_code"]});
        merge(&mut m, "openid-configuration", &oidc, &url).expect("valid");
        assert_eq!(m.token_endpoint, "https://as.example.org/token");
        assert_eq!(
            m.revocation_endpoint.as_deref(),
            Some("https://as.example.org/revoke")
        );
        assert_eq!(m.grant_types_supported, ["client_credentials"]);
        assert_eq!(m.sources, ["smart-configuration", "openid-configuration"]);
    }

    #[test]
    fn malformed_metadata_is_named() {
        let url = Url::parse("https://as.example.org/.well-known/x").expect("valid");
        let mut m = ServerMetadata {
            issuer: "https://as.example.org".into(),
            ..ServerMetadata::default()
        };
        for (doc, says) in [
            (json!([1]), "not a JSON object"),
            (
                json!({"issuer": "https://evil.example"}),
                "names the issuer https://evil.example",
            ),
            (
                json!({"token_endpoint": "http://as.example.org/token"}),
                "HTTPS is required",
            ),
            (json!({"scopes_supported": "a b"}), "an array of strings"),
        ] {
            let e = merge(&mut m, "smart-configuration", &doc, &url).expect_err("refused");
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
