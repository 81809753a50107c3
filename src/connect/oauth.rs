//! The standard calls: dynamic registration (RFC 7591) and its management (RFC 7592), a
//! token by client credentials (RFC 6749 4.4, with `client_secret_basic` or SMART Backend
//! Services' `private_key_jwt`), introspection (RFC 7662) and revocation (RFC 7009).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use reqwest::Method;
use serde_json::{json, Value};
use url::Url;
use zeroize::Zeroizing;

use super::http::{endpoint, Answer, Call, Http};
use super::{canonical_scopes, ServerClient};
use crate::inventory::fingerprint::RawSecret;
use crate::{Error, Result};

/// The lifetime of a client assertion: SMART Backend Services allows at most five minutes.
pub const ASSERTION_SECONDS: i64 = 300;

/// How a client proves itself at the token, introspection and revocation endpoints.
pub enum ClientAuth<'a> {
    SecretBasic {
        client_id: &'a str,
        secret: &'a str,
    },
    PrivateKeyJwt {
        client_id: &'a str,
        key: &'a SigningKey,
    },
}

impl std::fmt::Debug for ClientAuth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::SecretBasic { client_id, .. } => write!(f, "SecretBasic({client_id})"),
            ClientAuth::PrivateKeyJwt { client_id, .. } => {
                write!(f, "PrivateKeyJwt({client_id})")
            }
        }
    }
}

/// A client's private key for `private_key_jwt`: RS384 for RSA, ES384 for P-384 (what SMART
/// Backend Services requires servers to accept).
pub struct SigningKey {
    key: EncodingKey,
    alg: Algorithm,
    pub kid: Option<String>,
}

impl SigningKey {
    /// Reads a PKCS#8 or PKCS#1 PEM private key.
    pub fn from_pem(pem: &[u8], kid: Option<String>) -> Result<SigningKey> {
        let bad = |why: String| Error::invalid("--private-key", why);
        let text = std::str::from_utf8(pem).map_err(|_| bad("not a PEM file".into()))?;
        if !text.contains("PRIVATE KEY-----") {
            return Err(bad("not a PEM private key".into()));
        }
        if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
            return Ok(SigningKey {
                key,
                alg: Algorithm::RS384,
                kid,
            });
        }
        match EncodingKey::from_ec_pem(pem) {
            Ok(key) => {
                let s = SigningKey {
                    key,
                    alg: Algorithm::ES384,
                    kid,
                };
                // A P-256 key would sign ES384 wrongly: check the curve through the public key.
                match s.public_jwk()?.get("crv").and_then(Value::as_str) {
                    Some("P-384") => Ok(s),
                    other => Err(bad(format!(
                        "an EC key must be on P-384 for ES384, not {}",
                        other.unwrap_or("another curve")
                    ))),
                }
            }
            Err(e) => Err(bad(format!("neither an RSA nor an EC private key: {e}"))),
        }
    }

    /// `RS384` or `ES384`.
    pub fn alg(&self) -> &'static str {
        match self.alg {
            Algorithm::ES384 => "ES384",
            _ => "RS384",
        }
    }

    /// The public half as a JWK (with `kid`, `alg` and `use`), for registration.
    pub fn public_jwk(&self) -> Result<Value> {
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&self.key, self.alg)
            .map_err(|e| Error::invalid("--private-key", e.to_string()))?;
        let mut v = serde_json::to_value(jwk).expect("a JWK serializes");
        if let Some(o) = v.as_object_mut() {
            o.insert("use".into(), json!("sig"));
            if let Some(kid) = &self.kid {
                o.insert("kid".into(), json!(kid));
            }
        }
        Ok(v)
    }

    /// A client assertion for `aud` (the token endpoint): `iss` and `sub` the client,
    /// a fresh `jti`, `exp` five minutes ahead.
    pub fn assertion(&self, client_id: &str, aud: &str, now: i64) -> Result<String> {
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let mut header = Header::new(self.alg);
        header.typ = Some("JWT".into());
        header.kid = self.kid.clone();
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "jti": hex::encode(jti), "iat": now, "exp": now + ASSERTION_SECONDS,
        });
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| Error::invalid("--private-key", format!("cannot sign: {e}")))
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Posts `form` to `url` as the client.
pub async fn post_as(
    http: &Http,
    url: &Url,
    auth: &ClientAuth<'_>,
    form: &[(&str, &str)],
) -> Result<Answer> {
    match auth {
        ClientAuth::SecretBasic { client_id, secret } => {
            http.send(
                Call::new(Method::POST, url)
                    .basic(client_id, secret)
                    .form(form),
            )
            .await
        }
        ClientAuth::PrivateKeyJwt { client_id, key } => {
            let assertion =
                key.assertion(client_id, url.as_str(), crate::time::now().timestamp())?;
            let mut all: Vec<(&str, &str)> = form.to_vec();
            all.extend([
                ("client_id", *client_id),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion.as_str()),
            ]);
            http.send(Call::new(Method::POST, url).form(&all)).await
        }
    }
}

/// Posts an access token to an introspection or revocation endpoint as the client.
async fn post_token(http: &Http, url: &Url, auth: &ClientAuth<'_>, token: &str) -> Result<Answer> {
    post_as(
        http,
        url,
        auth,
        &[("token", token), ("token_type_hint", "access_token")],
    )
    .await
}

/// A token by client credentials, for `scope`.
pub async fn client_credentials(
    http: &Http,
    token_endpoint: &Url,
    auth: &ClientAuth<'_>,
    scope: &str,
) -> Result<(Zeroizing<String>, Answer)> {
    let mut form = vec![("grant_type", "client_credentials")];
    if !scope.trim().is_empty() {
        form.push(("scope", scope));
    }
    let answer = post_as(http, token_endpoint, auth, &form).await?;
    let body = answer.ok_json()?;
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::remote(&answer.url, "the token answer has no access_token"))?
        .to_string();
    Ok((Zeroizing::new(token), answer))
}

/// RFC 7662: whether the server says `token` is active.
pub async fn introspect(
    http: &Http,
    endpoint: &Url,
    auth: &ClientAuth<'_>,
    token: &str,
) -> Result<(bool, Answer)> {
    let answer = post_token(http, endpoint, auth, token).await?;
    let active = answer
        .ok_json()?
        .get("active")
        .and_then(Value::as_bool)
        .ok_or_else(|| Error::remote(&answer.url, "the introspection answer has no 'active'"))?;
    Ok((active, answer))
}

/// RFC 7009: asks the server to revoke `token`.
pub async fn revoke(
    http: &Http,
    endpoint: &Url,
    auth: &ClientAuth<'_>,
    token: &str,
) -> Result<Answer> {
    let answer = post_token(http, endpoint, auth, token).await?;
    if !answer.status.is_success() {
        return Err(answer.failure());
    }
    Ok(answer)
}

/// What a registration returned. The client secret and the registration token are zeroized
/// when dropped; `metadata` holds neither, and `Debug` shows neither.
#[derive(Debug)]
pub struct Registered {
    pub client: ServerClient,
    pub client_secret: Option<RawSecret>,
    pub registration_access_token: Option<RawSecret>,
    pub registration_client_uri: Option<String>,
    pub metadata: Value,
}

/// The members of a registration answer that are secrets.
const SECRET_MEMBERS: [&str; 2] = ["client_secret", "registration_access_token"];

/// The client as RFC 7591 metadata describes it.
pub fn server_client(metadata: &Value) -> Option<ServerClient> {
    let strings = |m: &str| -> Vec<String> {
        metadata
            .get(m)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(ServerClient {
        client_id: metadata.get("client_id")?.as_str()?.to_string(),
        client_name: metadata
            .get("client_name")
            .and_then(Value::as_str)
            .map(String::from),
        scopes: canonical_scopes(metadata.get("scope").and_then(Value::as_str)),
        token_endpoint_auth_method: metadata
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .map(String::from),
        grant_types: strings("grant_types"),
        enabled: true,
    })
}

fn registered(answer: &Answer) -> Result<Registered> {
    let mut metadata = answer.ok_json()?;
    let client = server_client(&metadata)
        .ok_or_else(|| Error::remote(&answer.url, "the registration answer has no client_id"))?;
    let text = |m: &str| metadata.get(m).and_then(Value::as_str).map(String::from);
    if let Some(uri) = text("registration_client_uri") {
        endpoint("registration_client_uri", &uri)
            .map_err(|e| Error::remote(&answer.url, e.to_string()))?;
    }
    let secret = |m: &str| text(m).map(RawSecret::new);
    let (client_secret, registration_access_token) =
        (secret("client_secret"), secret("registration_access_token"));
    let registration_client_uri = text("registration_client_uri");
    if let Some(m) = metadata.as_object_mut() {
        for k in SECRET_MEMBERS {
            if let Some(Value::String(s)) = m.remove(k) {
                drop(Zeroizing::new(s));
            }
        }
    }
    Ok(Registered {
        client,
        client_secret,
        registration_access_token,
        registration_client_uri,
        metadata,
    })
}

/// RFC 7591: registers `metadata` at `registration_endpoint`.
pub async fn register(
    http: &Http,
    registration_endpoint: &Url,
    metadata: &Value,
) -> Result<Registered> {
    let answer = http
        .send(Call::new(Method::POST, registration_endpoint).json(metadata))
        .await?;
    registered(&answer)
}

/// What RFC 7592 says about a client: its metadata, or that it is gone (401, 403 or 404:
/// the server no longer knows the client or the token).
pub enum Read {
    Found(Registered),
    Gone(Answer),
}

/// RFC 7592 GET.
pub async fn read(http: &Http, uri: &Url, token: &str) -> Result<Read> {
    let answer = http.send(Call::get(uri).bearer(token)).await?;
    if matches!(answer.status.as_u16(), 401 | 403 | 404) {
        return Ok(Read::Gone(answer));
    }
    registered(&answer).map(Read::Found)
}

/// RFC 7592 PUT of the whole metadata (the server may rotate the registration access token
/// and return it).
pub async fn update(http: &Http, uri: &Url, token: &str, metadata: &Value) -> Result<Registered> {
    let answer = http
        .send(Call::new(Method::PUT, uri).bearer(token).json(metadata))
        .await?;
    registered(&answer)
}

/// RFC 7592 DELETE; a client already gone counts as deleted.
pub async fn delete(http: &Http, uri: &Url, token: &str) -> Result<Answer> {
    let answer = http
        .send(Call::new(Method::DELETE, uri).bearer(token))
        .await?;
    if answer.status.is_success() || matches!(answer.status.as_u16(), 401 | 404) {
        Ok(answer)
    } else {
        Err(answer.failure())
    }
}

/// The metadata to PUT back: what the server returned, with `scope` replaced and the members
/// RFC 7592 forbids in a request removed.
pub fn with_scope(current: &Value, scope: &str) -> Value {
    let mut v = current.clone();
    if let Some(o) = v.as_object_mut() {
        for m in [
            "registration_access_token",
            "registration_client_uri",
            "client_secret_expires_at",
            "client_id_issued_at",
        ] {
            o.remove(m);
        }
        o.insert("scope".into(), json!(scope));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_to_put_keeps_the_client_and_replaces_the_scope() {
        let cur = json!({"client_id": "c", "client_secret": "s", "scope": "a b",
            "registration_access_token": "t", "registration_client_uri": "u",
            "client_id_issued_at": 1, "grant_types": ["client_credentials"]});
        let put = with_scope(&cur, "a");
        assert_eq!(
            put,
            json!({"client_id": "c", "client_secret": "s", "scope": "a",
                "grant_types": ["client_credentials"]})
        );
    }

    #[test]
    fn a_client_from_metadata_has_canonical_scopes() {
        let c = server_client(&json!({"client_id": "c",
            "scope": "system/Patient.read system/Observation.rs",
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"]}))
        .expect("valid");
        assert_eq!(c.scopes, ["system/Observation.rs", "system/Patient.rs"]);
        assert_eq!(c.grant_types, ["client_credentials"]);
    }

    #[test]
    fn a_registration_shows_and_keeps_no_secret_but_where_it_is_held() {
        let body = serde_json::to_vec(&json!({"client_id": "c", "client_secret": "s3cret-value",
            "registration_access_token": "rat-value", "registration_client_uri": "https://a/r"}))
        .expect("json");
        let answer = Answer {
            url: Url::parse("https://as.example/register").expect("url"),
            status: reqwest::StatusCode::CREATED,
            body: Zeroizing::new(body),
            ms: 1,
        };
        let shown = format!("{answer:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("rat-value"),
            "{shown}"
        );
        let r = registered(&answer).expect("registered");
        assert_eq!(r.client_secret.as_deref(), Some("s3cret-value"));
        assert_eq!(r.registration_access_token.as_deref(), Some("rat-value"));
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("rat-value"),
            "{shown}"
        );
        assert!(r.metadata.get("client_secret").is_none());
        assert!(r.metadata.get("registration_access_token").is_none());
    }
}
