//! Authorization servers: connections, held credentials, registration, sync, enforcement and
//! revocation drills. Every network call happens outside a write transaction; what it found
//! is written afterwards in one transaction with its audit entries, so a failure leaves
//! nothing half-recorded.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;
use url::Url;

use super::apply::apply;
use super::identity::{resolve, IdentityRef};
use crate::audit::{Actor, Draft};
use crate::connect::drill::{self, Outcome};
use crate::connect::http::{endpoint, Http};
use crate::connect::oauth::{self, ClientAuth, SigningKey};
use crate::connect::vault::{Secret, SecretKind, Vault};
use crate::connect::{self as net, Change, Connection, ServerClient, ServerKind};
use crate::inventory::{Environment, IdentityInput, Kind, ScopeSet, Status};
use crate::store::connect::{self as db, DrillRow, HeldRow, NewConnection, Task};
use crate::store::identity::{self as idb, IdentityRecord};
use crate::store::Db;
use crate::time::{self, Timestamp};
use crate::{Error, Result, Store};

/// How many requests a sync or an enforcement run has in flight at once.
pub const CONCURRENCY: usize = 8;

fn vault(store: &Store) -> Vault {
    Vault::new(store.path(), store.key_store())
}

fn identity_subject(id: i64) -> String {
    format!("identity:{id}")
}

fn connection_subject(id: i64) -> String {
    format!("connection:{id}")
}

/// `connect add`: where and what.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct ConnectAdd {
    pub environment: Environment,
    pub issuer: String,
    pub kind: Option<ServerKind>,
    pub realm: Option<String>,
    pub fhir_base: Option<String>,
    /// Keycloak: the client id of the admin (service account) client Steward signs in as.
    pub admin_client_id: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn connection_details(c: &Connection) -> serde_json::Value {
    json!({
        "environment": c.environment.as_str(),
        "issuer": c.issuer,
        "kind": c.kind.as_str(),
        "token_endpoint": c.token_endpoint,
        "revocation_endpoint": c.revocation_endpoint,
        "introspection_endpoint": c.introspection_endpoint,
        "registration_endpoint": c.registration_endpoint,
        "sources": c.metadata_sources.join(" "),
    })
}

/// Reads the server's metadata and records the connection of an environment.
pub async fn connect_add(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    req: &ConnectAdd,
) -> Result<Connection> {
    let issuer = endpoint("--issuer", &req.issuer)?;
    let kind = req.kind.unwrap_or(ServerKind::Oauth);
    let realm = nonempty(&req.realm);
    if kind == ServerKind::Keycloak && realm.is_none() {
        return Err(Error::invalid(
            "--realm",
            "a Keycloak connection names its realm",
        ));
    }
    let fhir_base = match nonempty(&req.fhir_base) {
        Some(f) => Some(endpoint("--fhir-base", f)?.to_string()),
        None => None,
    };
    if let Some(c) = db::get(&mut store.read().await?, req.environment).await? {
        return Err(Error::Conflict(format!(
            "{} already has a connection ({}); `steward connect discover {}` reads it again",
            req.environment, c.issuer, req.environment
        )));
    }
    let meta = net::discovery::discover(&Http::new()?, &issuer).await?;
    let stamp = time::format(now);
    let mut tx = store.begin_write().await?;
    let id = db::insert(
        &mut tx,
        &NewConnection {
            environment: req.environment,
            kind,
            realm,
            fhir_base: fhir_base.as_deref(),
            admin_client_id: nonempty(&req.admin_client_id),
        },
        &meta,
        &stamp,
    )
    .await?;
    let c = db::get(&mut tx, req.environment)
        .await?
        .ok_or_else(|| Error::NotFound(format!("connection {id}")))?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "connection.add",
        connection_subject(id),
        connection_details(&c),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// Every connection.
pub async fn connect_list(store: &Store) -> Result<Vec<Connection>> {
    db::list(&mut store.read().await?).await
}

/// The connection of `env`, or an error saying how to add one.
async fn connection_of(conn: &mut Db, env: Environment) -> Result<Connection> {
    db::get(conn, env).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "a connection for {env} (add one: steward connect add --environment {env} --issuer URL)"
        ))
    })
}

/// Reads the metadata of `env`'s server again.
pub async fn connect_discover(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    env: Environment,
) -> Result<Connection> {
    let old = connection_of(&mut store.read().await?, env).await?;
    let issuer = endpoint("issuer", &old.issuer)?;
    let meta = net::discovery::discover(&Http::new()?, &issuer).await?;
    let mut tx = store.begin_write().await?;
    db::rediscovered(&mut tx, old.id, &meta, &time::format(now)).await?;
    let c = connection_of(&mut tx, env).await?;
    let mut details = connection_details(&c);
    details["changed"] = json!(connection_details(&old) != details);
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "connection.discover",
        connection_subject(c.id),
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// A credential Steward holds, without its value.
#[derive(Debug, Clone, Serialize, TS)]
pub struct HeldCredential {
    #[serde(flatten)]
    #[ts(flatten)]
    pub held: HeldRow,
}

impl From<HeldRow> for HeldCredential {
    fn from(held: HeldRow) -> Self {
        HeldCredential { held }
    }
}

/// A credential to hold.
pub enum CredentialValue {
    ClientSecret(Secret),
    PrivateKey { pem: Secret, kid: Option<String> },
}

/// What `credential set|show` is about: an identity, or a connection's admin client.
#[derive(Debug, Clone)]
pub enum CredentialSubject {
    Identity(IdentityRef),
    Connection(Environment),
}

async fn subject_of(conn: &mut Db, s: &CredentialSubject) -> Result<String> {
    Ok(match s {
        CredentialSubject::Identity(r) => identity_subject(resolve(conn, r).await?.id),
        CredentialSubject::Connection(env) => {
            connection_subject(connection_of(conn, *env).await?.id)
        }
    })
}

/// Keeps one credential in the vault (keychain or 0600 file) and its fingerprint in the
/// database, audited without the value.
#[allow(clippy::too_many_arguments)]
async fn hold(
    store: &Store,
    tx: &mut Db,
    now: Timestamp,
    actor: &Actor,
    subject: &str,
    kind: SecretKind,
    value: &Secret,
    fingerprint: &str,
    kid: Option<&str>,
) -> Result<HeldCredential> {
    let place = vault(store).put(subject, kind, value)?;
    let (store_name, location) = place.parts();
    let held = HeldRow {
        subject: subject.to_string(),
        kind,
        fingerprint: fingerprint.to_string(),
        kid: kid.map(String::from),
        store: store_name.to_string(),
        location: location.to_string(),
        set_at: time::format(now),
        set_by: actor.0.clone(),
    };
    db::hold(tx, &held).await?;
    crate::store::audit::record(
        tx,
        now,
        actor,
        "credential.hold",
        subject.to_string(),
        json!({"kind": kind.as_str(), "fingerprint": fingerprint, "store": store_name,
               "kid": kid}),
    )
    .await?;
    Ok(HeldCredential { held })
}

/// [`hold`] for a secret (a client secret, a token): fingerprinted with the store's key.
async fn hold_secret(
    store: &Store,
    tx: &mut Db,
    now: Timestamp,
    actor: &Actor,
    subject: &str,
    kind: SecretKind,
    text: &str,
) -> Result<HeldCredential> {
    let text = text.trim_end_matches(['\r', '\n']);
    if text.is_empty() {
        return Err(Error::invalid(
            "--client-secret-stdin",
            "the secret is empty",
        ));
    }
    let fp = store.fingerprint_key().secret(text);
    let value = Secret::new(text.as_bytes().to_vec());
    hold(store, tx, now, actor, subject, kind, &value, &fp, None).await
}

/// `credential set`: an identity's client secret or private key, or (for a connection) its
/// Keycloak admin client's secret.
pub async fn credential_set(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    subject: &CredentialSubject,
    value: CredentialValue,
) -> Result<HeldCredential> {
    let mut tx = store.begin_write().await?;
    let subj = subject_of(&mut tx, subject).await?;
    let held = match (&subject, value) {
        (CredentialSubject::Identity(_), CredentialValue::ClientSecret(s)) => {
            hold_secret(
                store,
                &mut tx,
                now,
                actor,
                &subj,
                SecretKind::ClientSecret,
                s.text()?,
            )
            .await?
        }
        (CredentialSubject::Identity(_), CredentialValue::PrivateKey { pem, kid }) => {
            let key = SigningKey::from_pem(pem.bytes(), kid.clone())?;
            let fp = crate::inventory::fingerprint::jwk_thumbprint(&key.public_jwk()?)
                .ok_or_else(|| Error::invalid("--private-key", "no thumbprint for this key"))?;
            hold(
                store,
                &mut tx,
                now,
                actor,
                &subj,
                SecretKind::PrivateKey,
                &pem,
                &fp,
                kid.as_deref(),
            )
            .await?
        }
        (CredentialSubject::Connection(_), CredentialValue::ClientSecret(s)) => {
            hold_secret(
                store,
                &mut tx,
                now,
                actor,
                &subj,
                SecretKind::AdminSecret,
                s.text()?,
            )
            .await?
        }
        (CredentialSubject::Connection(_), CredentialValue::PrivateKey { .. }) => {
            return Err(Error::invalid(
                "--private-key",
                "a connection holds its admin client's secret (--client-secret-stdin)",
            ))
        }
    };
    tx.commit().await?;
    Ok(held)
}

/// `credential show`: what is held and where, never the value.
pub async fn credential_show(
    store: &Store,
    subject: &CredentialSubject,
) -> Result<Vec<HeldCredential>> {
    let mut conn = store.read().await?;
    let subj = subject_of(&mut conn, subject).await?;
    Ok(db::held(&mut conn, &subj)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// The value of a held credential, if any.
async fn held_value(
    store: &Store,
    conn: &mut Db,
    subject: &str,
    kind: SecretKind,
) -> Result<Option<(HeldRow, Secret)>> {
    let Some(row) = db::held(conn, subject)
        .await?
        .into_iter()
        .find(|r| r.kind == kind)
    else {
        return Ok(None);
    };
    let value = vault(store).get(&row.place()?)?;
    Ok(Some((row, value)))
}

/// How an identity authenticates, from what Steward holds: the private key if there is one,
/// else the client secret.
enum HeldAuth {
    Secret(Secret),
    Key(SigningKey),
}

async fn held_auth(store: &Store, conn: &mut Db, identity: i64) -> Result<Option<HeldAuth>> {
    let subject = identity_subject(identity);
    if let Some((row, pem)) = held_value(store, conn, &subject, SecretKind::PrivateKey).await? {
        return Ok(Some(HeldAuth::Key(SigningKey::from_pem(
            pem.bytes(),
            row.kid,
        )?)));
    }
    Ok(held_value(store, conn, &subject, SecretKind::ClientSecret)
        .await?
        .map(|(_, s)| HeldAuth::Secret(s)))
}

impl HeldAuth {
    fn auth<'a>(&'a self, client_id: &'a str) -> Result<ClientAuth<'a>> {
        Ok(match self {
            HeldAuth::Secret(s) => ClientAuth::SecretBasic {
                client_id,
                secret: s.text()?,
            },
            HeldAuth::Key(key) => ClientAuth::PrivateKeyJwt { client_id, key },
        })
    }
}

/// What `register` did.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Registration {
    #[ts(type = "number")]
    pub identity_id: i64,
    pub client_id: String,
    pub registration_client_uri: Option<String>,
    pub scopes: Vec<String>,
}

/// Approved scopes of an identity, as stored.
async fn approved_scopes(conn: &mut Db, id: i64) -> Result<Vec<String>> {
    Ok(idb::scopes(conn, id)
        .await?
        .into_iter()
        .filter(|s| s.scope_set == ScopeSet::Approved)
        .map(|s| s.scope)
        .collect())
}

async fn granted_scopes(conn: &mut Db, id: i64) -> Result<Vec<String>> {
    Ok(idb::scopes(conn, id)
        .await?
        .into_iter()
        .filter(|s| s.scope_set == ScopeSet::Granted)
        .map(|s| s.scope)
        .collect())
}

/// `register`: registers an approved identity at its environment's server (RFC 7591) with
/// exactly its approved scopes, auth method, grant types and lifetimes.
pub async fn identity_register(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: &IdentityRef,
) -> Result<Registration> {
    let mut conn = store.read().await?;
    let rec = resolve(&mut conn, r).await?;
    let c = connection_of(&mut conn, rec.environment).await?;
    let Some(reg) = &c.registration_endpoint else {
        return Err(Error::invalid(
            "registration_endpoint",
            format!(
                "the {} server publishes no registration endpoint (RFC 7591)",
                c.environment
            ),
        ));
    };
    if !matches!(rec.status, Status::Active | Status::Pending) {
        return Err(Error::Conflict(format!(
            "identity {} is {}: only an approved identity is registered",
            rec.id, rec.status
        )));
    }
    if !matches!(rec.kind, Kind::BackendService | Kind::ServiceAccount) {
        return Err(Error::invalid(
            "kind",
            "Steward registers backend services and service accounts (client credentials); an app \
             needs its redirect URIs, which its vendor registers",
        ));
    }
    if let Some(uri) = db::server_facts(&mut conn, rec.id)
        .await?
        .registration_client_uri
    {
        return Err(Error::Conflict(format!(
            "identity {} is already registered as {} ({uri}); `steward sync {}` reads it",
            rec.id, rec.client_id, rec.environment
        )));
    }
    let scopes = approved_scopes(&mut conn, rec.id).await?;
    if scopes.is_empty() {
        return Err(Error::invalid(
            "approved_scopes",
            "nothing is approved to register",
        ));
    }
    let auth_method = rec
        .auth_method
        .clone()
        .unwrap_or_else(|| "private_key_jwt".into());
    let mut metadata = json!({
        "client_name": rec.name,
        "grant_types": net::grant_types(rec.kind, false),
        "token_endpoint_auth_method": auth_method,
        "scope": scopes.join(" "),
    });
    if let Some(s) = rec.access_token_lifetime_s {
        metadata["access_token_lifetime"] = json!(s);
    }
    let subject = identity_subject(rec.id);
    let mut key_fp = None;
    if auth_method == "private_key_jwt" {
        let Some((row, pem)) =
            held_value(store, &mut conn, &subject, SecretKind::PrivateKey).await?
        else {
            return Err(Error::invalid(
                "private_key",
                format!(
                    "private_key_jwt needs the client's key: steward credential set {} \
                     --private-key PEM_FILE --kid KID",
                    rec.id
                ),
            ));
        };
        let key = SigningKey::from_pem(pem.bytes(), row.kid)?;
        let jwk = key.public_jwk()?;
        key_fp = crate::inventory::fingerprint::jwk_thumbprint(&jwk);
        metadata["jwks"] = json!({"keys": [jwk]});
        metadata["token_endpoint_auth_signing_alg"] = json!(key.alg());
    }
    drop(conn);
    let url = endpoint("registration_endpoint", reg)?;
    let done = oauth::register(&Http::new()?, &url, &metadata).await?;

    let mut tx = store.begin_write().await?;
    let stamp = time::format(now);
    let old_client = rec.client_id.clone();
    if done.client.client_id != old_client {
        if !idb::by_client_id(&mut tx, &done.client.client_id, Some(rec.environment))
            .await?
            .is_empty()
        {
            return Err(Error::Conflict(format!(
                "the server issued client_id {}, which another identity in {} has",
                done.client.client_id, rec.environment
            )));
        }
        db::set_client_id(&mut tx, rec.id, &done.client.client_id, &stamp).await?;
    }
    db::set_registration(&mut tx, rec.id, done.registration_client_uri.as_deref()).await?;
    db::set_server_state(&mut tx, rec.id, "present", &stamp).await?;
    // Granted equals approved from birth.
    let mut input = IdentityInput {
        client_id: done.client.client_id.clone(),
        environment: Some(rec.environment),
        granted_scopes: Some(scopes.clone()),
        auth_method: Some(auth_method.clone()),
        ..IdentityInput::default()
    };
    if let Some(s) = &done.client_secret {
        input.client_secret = Some(s.clone());
    }
    if let Some(fp) = key_fp {
        input.key_fingerprints = vec![fp];
    }
    let applied = apply(
        &mut tx,
        now,
        store.fingerprint_key(),
        input,
        "identity.register",
    )
    .await?;
    let mut drafts = applied.drafts();
    for (kind, value) in [
        (SecretKind::ClientSecret, &done.client_secret),
        (
            SecretKind::RegistrationToken,
            &done.registration_access_token,
        ),
    ] {
        if let Some(v) = value {
            hold_secret(store, &mut tx, now, actor, &subject, kind, v).await?;
        }
    }
    drafts.push(Draft {
        action: "identity.registered",
        subject: subject.clone(),
        details: json!({
            "registration_endpoint": reg,
            "client_id": done.client.client_id,
            "previous_client_id": old_client,
            "registration_client_uri": done.registration_client_uri,
            "scopes": scopes.join(" "),
            "token_endpoint_auth_method": auth_method,
        }),
    });
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    Ok(Registration {
        identity_id: rec.id,
        client_id: done.client.client_id,
        registration_client_uri: done.registration_client_uri,
        scopes,
    })
}

/// What `sync` found (and, without `--dry-run`, applied).
#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct SyncReport {
    pub environment: String,
    #[ts(type = "number")]
    pub clients_read: usize,
    pub unknown_on_server: Vec<String>,
    pub missing_on_server: Vec<String>,
    pub changed: Vec<Change>,
    /// Clients Steward could not read (no registration access token, an error), with why.
    pub unread: Vec<Unread>,
    #[ts(type = "number")]
    pub token_events: usize,
    pub applied: bool,
}

/// A client sync could not read.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Unread {
    pub client_id: String,
    pub reason: String,
}

/// What the server said about one inventory client.
enum Seen {
    Found(ServerClient),
    Gone,
}

/// Progress of a long run: (done, total).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// `sync`: reads the server's view of every client it can and compares it with the
/// inventory; without `dry_run`, applies the server's truth in one transaction.
pub async fn connect_sync(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    env: Environment,
    dry_run: bool,
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<SyncReport> {
    let mut conn = store.read().await?;
    let c = connection_of(&mut conn, env).await?;
    let records = db::identities_in(&mut conn, env).await?;
    let mut report = SyncReport {
        environment: env.to_string(),
        ..SyncReport::default()
    };
    let http = Http::new()?;
    // Each inventory client's view from the server, by identity id.
    let mut seen: BTreeMap<i64, Seen> = BTreeMap::new();
    let mut unknown: Vec<ServerClient> = Vec::new();
    let mut events = Vec::new();
    let mut newest_event = None;
    match c.kind {
        ServerKind::Oauth => {
            let tokens: BTreeMap<String, HeldRow> =
                db::held_of_kind(&mut conn, SecretKind::RegistrationToken)
                    .await?
                    .into_iter()
                    .map(|r| (r.subject.clone(), r))
                    .collect();
            let mut facts = db::server_facts_in(&mut conn, env).await?;
            let mut jobs = Vec::new();
            for rec in &records {
                if matches!(rec.status, Status::Retired) {
                    continue;
                }
                let uri = facts
                    .remove(&rec.id)
                    .and_then(|f| f.registration_client_uri);
                match (uri, tokens.get(&identity_subject(rec.id))) {
                    (Some(uri), Some(row)) => {
                        jobs.push((rec.id, rec.client_id.clone(), uri, row.place()?))
                    }
                    _ => report.unread.push(Unread {
                        client_id: rec.client_id.clone(),
                        reason: "no registration access token held (RFC 7592)".into(),
                    }),
                }
            }
            drop(conn);
            let total = jobs.len();
            let done = AtomicUsize::new(0);
            let v = vault(store);
            let results: Vec<(i64, String, Result<Seen>)> = stream::iter(jobs)
                .map(|(id, client_id, uri, place)| {
                    let http = &http;
                    let v = &v;
                    let done = &done;
                    async move {
                        let r = async {
                            if cancel.load(Ordering::Relaxed) {
                                return Err(Error::Cancelled);
                            }
                            let token = v.get(&place)?;
                            let uri = endpoint("registration_client_uri", &uri)?;
                            Ok(match oauth::read(http, &uri, token.text()?).await? {
                                oauth::Read::Found(r) => Seen::Found(r.client),
                                oauth::Read::Gone(_) => Seen::Gone,
                            })
                        }
                        .await;
                        progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                        (id, client_id, r)
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (id, client_id, r) in results {
                match r {
                    Ok(s) => {
                        seen.insert(id, s);
                    }
                    Err(Error::Cancelled) => return Err(Error::Cancelled),
                    Err(e) => report.unread.push(Unread {
                        client_id,
                        reason: e.to_string(),
                    }),
                }
            }
        }
        ServerKind::Keycloak => {
            let Some((_, secret)) = held_value(
                store,
                &mut conn,
                &connection_subject(c.id),
                SecretKind::AdminSecret,
            )
            .await?
            else {
                return Err(Error::invalid(
                    "admin_secret",
                    format!(
                        "sync of a Keycloak realm signs in as its admin client: steward \
                         credential set --connection {env} --client-secret-stdin"
                    ),
                ));
            };
            let since = db::last_event_at(&mut conn, c.id).await?;
            drop(conn);
            let admin = net::keycloak::Admin::sign_in(&http, &c, secret.text()?).await?;
            let reps = admin.representations(cancel).await?;
            progress(reps.len(), reps.len());
            let uuids = net::keycloak::Admin::uuids(&reps);
            let clients: Vec<ServerClient> = reps
                .iter()
                .filter_map(net::keycloak::server_client)
                .collect();
            let by_client: BTreeMap<&str, &IdentityRecord> =
                records.iter().map(|r| (r.client_id.as_str(), r)).collect();
            for sc in clients {
                if c.admin_client_id.as_deref() == Some(sc.client_id.as_str()) {
                    continue; // Steward's own admin client
                }
                match by_client.get(sc.client_id.as_str()) {
                    Some(rec) => {
                        seen.insert(rec.id, Seen::Found(sc));
                    }
                    None => unknown.push(sc),
                }
            }
            for rec in &records {
                if !seen.contains_key(&rec.id)
                    && !matches!(rec.status, Status::Retired | Status::Revoked)
                {
                    seen.insert(rec.id, Seen::Gone);
                }
            }
            let (evs, newest) = admin.events(since.as_deref(), &uuids).await?;
            events = evs;
            newest_event = newest;
        }
    }

    // Compare.
    let mut conn = store.read().await?;
    let mut granted = db::granted_in(&mut conn, env).await?;
    let states = db::server_facts_in(&mut conn, env).await?;
    drop(conn);
    let mut plan: Vec<(IdentityRecord, Option<ServerClient>)> = Vec::new();
    for rec in &records {
        let Some(s) = seen.remove(&rec.id) else {
            continue;
        };
        match s {
            Seen::Gone => {
                report.missing_on_server.push(rec.client_id.clone());
                plan.push((rec.clone(), None));
            }
            Seen::Found(sc) => {
                report.clients_read += 1;
                let granted = granted.remove(&rec.id).unwrap_or_default();
                let grants = net::grant_types(
                    rec.kind,
                    rec.refresh_token_lifetime_s.is_some_and(|s| s > 0),
                );
                report.changed.extend(net::diff(
                    rec.status == Status::Active,
                    &rec.client_id,
                    &granted,
                    rec.auth_method.as_deref(),
                    &grants,
                    &sc,
                ));
                plan.push((rec.clone(), Some(sc)));
            }
        }
    }
    report.clients_read += unknown.len();
    report.unknown_on_server = unknown.iter().map(|u| u.client_id.clone()).collect();
    report.token_events = events.len();
    if dry_run {
        return Ok(report);
    }

    let stamp = time::format(now);
    let mut tx = store.begin_write().await?;
    let mut drafts = Vec::new();
    let mut changes: HashMap<&str, Vec<&Change>> = HashMap::new();
    for ch in &report.changed {
        changes.entry(ch.client_id.as_str()).or_default().push(ch);
    }
    for (rec, sc) in &plan {
        match sc {
            None => {
                db::set_server_state(&mut tx, rec.id, "missing", &stamp).await?;
            }
            Some(sc) => {
                let changed = changes
                    .get(rec.client_id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let state = states.get(&rec.id).and_then(|f| f.server_state.as_deref());
                if !matches!(state, Some("present" | "unregistered")) {
                    db::set_server_state(&mut tx, rec.id, "present", &stamp).await?;
                }
                if changed.is_empty() {
                    continue;
                }
                let mut input = IdentityInput {
                    client_id: rec.client_id.clone(),
                    environment: Some(rec.environment),
                    ..IdentityInput::default()
                };
                for ch in changed {
                    match ch.field.as_str() {
                        "scope" => input.granted_scopes = Some(sc.scopes.clone()),
                        "token_endpoint_auth_method" => {
                            input.auth_method = sc.token_endpoint_auth_method.clone()
                        }
                        "enabled" if rec.status == Status::Active => {
                            input.status = Some(Status::Suspended)
                        }
                        _ => {}
                    }
                }
                let applied = apply(
                    &mut tx,
                    now,
                    store.fingerprint_key(),
                    input,
                    "identity.sync",
                )
                .await?;
                drafts.extend(applied.drafts());
            }
        }
    }
    for u in &unknown {
        let input = IdentityInput {
            client_id: u.client_id.clone(),
            environment: Some(env),
            name: Some(u.client_name.clone().unwrap_or_else(|| u.client_id.clone())),
            kind: Some(if u.grant_types.iter().any(|g| g == "client_credentials") {
                Kind::BackendService
            } else {
                Kind::ClinicianApp
            }),
            status: Some(Status::Pending),
            granted_scopes: Some(u.scopes.clone()),
            auth_method: u.token_endpoint_auth_method.clone(),
            ..IdentityInput::default()
        };
        let applied = apply(
            &mut tx,
            now,
            store.fingerprint_key(),
            input,
            "identity.sync",
        )
        .await?;
        drafts.extend(applied.drafts());
        if let Some(rec) = idb::by_client_id(&mut tx, &u.client_id, Some(env))
            .await?
            .first()
        {
            db::set_server_state(&mut tx, rec.id, "unregistered", &stamp).await?;
        }
    }
    if !events.is_empty() {
        let file = format!("{}: events", c.issuer);
        let hash = {
            let mut h = blake3::Hasher::new();
            for e in &events {
                h.update(
                    format!(
                        "{}|{}|{}|{}\n",
                        time::format(e.at),
                        e.client_id,
                        e.source,
                        e.event
                    )
                    .as_bytes(),
                );
            }
            format!("blake3:{}", h.finalize().to_hex())
        };
        let recorded = super::usage::record_token_events(
            &mut tx,
            store,
            now,
            events,
            super::usage::TokenSource {
                kind: "tokens",
                file: &file,
                content_hash: &hash,
                environment: env,
                malformed: 0,
            },
        )
        .await?;
        report.token_events = recorded.rows;
        drafts.extend(recorded.drafts);
    }
    db::synced(&mut tx, c.id, &stamp, newest_event.as_deref()).await?;
    drafts.push(Draft {
        action: "connection.sync",
        subject: connection_subject(c.id),
        details: json!({
            "environment": env.as_str(),
            "clients_read": report.clients_read,
            "unknown_on_server": report.unknown_on_server,
            "missing_on_server": report.missing_on_server,
            "changed": report.changed.iter().map(|c| json!({
                "client_id": c.client_id, "field": c.field,
                "inventory": c.inventory, "server": c.server})).collect::<Vec<_>>(),
            "token_events": report.token_events,
        }),
    });
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    report.applied = true;
    Ok(report)
}

/// One task carried out (or that would be).
#[derive(Debug, Clone, Serialize, TS)]
pub struct Enforced {
    #[ts(type = "number")]
    pub task_id: i64,
    #[ts(type = "number")]
    pub identity_id: i64,
    pub client_id: String,
    pub environment: String,
    pub action: String,
    /// The calls made (or planned): `PUT https://...`.
    pub calls: Vec<String>,
    /// `done`, `pending` (failed, will be tried again) or `planned` (dry run).
    pub state: String,
    pub confirmed: Option<String>,
    pub error: Option<String>,
}

/// What `enforce` did.
#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct EnforceReport {
    pub tasks: Vec<Enforced>,
    #[ts(type = "number")]
    pub done: usize,
    #[ts(type = "number")]
    pub failed: usize,
    pub dry_run: bool,
}

/// Pending enforcement tasks (of one environment when given).
pub async fn enforcement_pending(store: &Store, env: Option<Environment>) -> Result<Vec<Task>> {
    db::pending_tasks(&mut store.read().await?, env).await
}

/// Carries out one task at the server; returns the calls made and what was confirmed.
async fn carry_out(
    store: &Store,
    http: &Http,
    c: &Connection,
    rec: &IdentityRecord,
    task: &Task,
    dry_run: bool,
) -> (Vec<String>, Result<String>) {
    let mut calls = Vec::new();
    let r = async {
        match c.kind {
            ServerKind::Oauth => {
                let mut conn = store.read().await?;
                let uri = db::server_facts(&mut conn, rec.id)
                    .await?
                    .registration_client_uri
                    .ok_or_else(|| {
                        Error::invalid(
                            "registration_client_uri",
                            "Steward did not register this client and holds no registration \
                             access token: change it at the server by hand",
                        )
                    })?;
                let (_, token) = held_value(
                    store,
                    &mut conn,
                    &identity_subject(rec.id),
                    SecretKind::RegistrationToken,
                )
                .await?
                .ok_or_else(|| {
                    Error::invalid("registration_token", "no registration access token held")
                })?;
                drop(conn);
                let uri = endpoint("registration_client_uri", &uri)?;
                let token = token.text()?.to_string();
                let token = zeroize::Zeroizing::new(token);
                match task.action.as_str() {
                    "reduce" => {
                        let keep = task.scopes.clone().unwrap_or_default();
                        calls.push(format!("GET {uri}"));
                        calls.push(format!("PUT {uri}"));
                        calls.push(format!("GET {uri}"));
                        if dry_run {
                            return Ok(format!("would set scope to '{keep}'"));
                        }
                        let current = match oauth::read(http, &uri, &token).await? {
                            oauth::Read::Found(r) => r.metadata,
                            oauth::Read::Gone(a) => return Err(a.failure()),
                        };
                        oauth::update(http, &uri, &token, &oauth::with_scope(&current, &keep))
                            .await?;
                        let back = match oauth::read(http, &uri, &token).await? {
                            oauth::Read::Found(r) => r.client,
                            oauth::Read::Gone(a) => return Err(a.failure()),
                        };
                        let want = net::canonical_scopes([keep.as_str()]);
                        if back.scopes != want {
                            return Err(Error::remote(
                                &uri,
                                format!(
                                    "read back scope '{}', not '{}'",
                                    back.scopes.join(" "),
                                    want.join(" ")
                                ),
                            ));
                        }
                        Ok(format!("scope is '{}'", back.scopes.join(" ")))
                    }
                    _ => {
                        calls.push(format!("DELETE {uri}"));
                        calls.push(format!("GET {uri}"));
                        if dry_run {
                            return Ok("would delete the client".into());
                        }
                        oauth::delete(http, &uri, &token).await?;
                        match oauth::read(http, &uri, &token).await? {
                            oauth::Read::Gone(a) => Ok(format!(
                                "client deleted (GET answers {})",
                                a.status.as_u16()
                            )),
                            oauth::Read::Found(_) => Err(Error::remote(
                                &uri,
                                "the client is still there after DELETE",
                            )),
                        }
                    }
                }
            }
            ServerKind::Keycloak => {
                let mut conn = store.read().await?;
                let (_, secret) = held_value(
                    store,
                    &mut conn,
                    &connection_subject(c.id),
                    SecretKind::AdminSecret,
                )
                .await?
                .ok_or_else(|| Error::invalid("admin_secret", "no admin client secret held"))?;
                drop(conn);
                let admin = net::keycloak::Admin::sign_in(http, c, secret.text()?).await?;
                let keep = task.scopes.clone();
                admin
                    .enforce(
                        &rec.client_id,
                        &task.action,
                        keep.as_deref(),
                        dry_run,
                        &mut calls,
                    )
                    .await
            }
        }
    }
    .await;
    (calls, r)
}

/// `enforce`: carries out pending enforcement tasks at the servers, each confirmed by
/// reading the client back; every call audited. A failure leaves its task pending with the
/// error; running again is safe.
pub async fn enforce(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    env: Option<Environment>,
    dry_run: bool,
) -> Result<EnforceReport> {
    let mut conn = store.read().await?;
    let tasks = db::pending_tasks(&mut conn, env).await?;
    let mut report = EnforceReport {
        dry_run,
        ..EnforceReport::default()
    };
    let http = Http::new()?;
    // The last decision is what the server must show: an identity's older tasks are
    // superseded by its newest.
    let newest: BTreeMap<i64, i64> = tasks.iter().map(|t| (t.identity_id, t.id)).collect();
    let mut work = Vec::new();
    for t in tasks {
        if newest.get(&t.identity_id) != Some(&t.id) && !dry_run {
            let mut tx = store.begin_write().await?;
            let why = format!("superseded by task {}", newest[&t.identity_id]);
            db::task_attempted(&mut tx, t.id, Ok(&why), &time::format(now)).await?;
            crate::store::audit::record(
                &mut tx,
                now,
                actor,
                "enforcement.superseded",
                identity_subject(t.identity_id),
                json!({"task": t.id, "by": newest[&t.identity_id]}),
            )
            .await?;
            tx.commit().await?;
            continue;
        }
        if newest.get(&t.identity_id) != Some(&t.id) {
            continue;
        }
        let rec = idb::get(&mut conn, t.identity_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("identity {}", t.identity_id)))?;
        let c = db::get(&mut conn, rec.environment).await?;
        work.push((t, rec, c));
    }
    drop(conn);
    for (t, rec, c) in work {
        let (calls, result) = match &c {
            Some(c) => carry_out(store, &http, c, &rec, &t, dry_run).await,
            None => (
                Vec::new(),
                Err(Error::NotFound(format!(
                    "a connection for {}",
                    rec.environment
                ))),
            ),
        };
        let (state, confirmed, error) = match (&result, dry_run) {
            (Ok(c), true) => ("planned", Some(c.clone()), None),
            (Ok(c), false) => ("done", Some(c.clone()), None),
            (Err(e), _) => ("pending", None, Some(e.to_string())),
        };
        if !dry_run {
            let stamp = time::format(time::now().max(now));
            let mut tx = store.begin_write().await?;
            db::task_attempted(
                &mut tx,
                t.id,
                match &result {
                    Ok(c) => Ok(c.as_str()),
                    Err(_) => Err(error.as_deref().unwrap_or("")),
                },
                &stamp,
            )
            .await?;
            crate::store::audit::record(
                &mut tx,
                now,
                actor,
                "enforcement.apply",
                identity_subject(rec.id),
                json!({"task": t.id, "action": t.action, "calls": calls,
                       "state": state, "confirmed": confirmed, "error": error}),
            )
            .await?;
            tx.commit().await?;
        }
        if result.is_ok() {
            report.done += 1;
        } else {
            report.failed += 1;
        }
        report.tasks.push(Enforced {
            task_id: t.id,
            identity_id: rec.id,
            client_id: rec.client_id.clone(),
            environment: rec.environment.to_string(),
            action: t.action.clone(),
            calls,
            state: state.into(),
            confirmed,
            error,
        });
    }
    Ok(report)
}

/// A drill's record.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DrillReport {
    #[ts(type = "number")]
    pub identity_id: i64,
    pub client_id: String,
    pub environment: String,
    pub at: String,
    pub steps: Vec<drill::Step>,
    pub active_before: Option<bool>,
    pub active_after: Option<bool>,
    #[ts(type = "number | null")]
    pub revoke_to_inactive_ms: Option<i64>,
    pub outcome: Outcome,
    pub error: Option<String>,
}

impl TryFrom<DrillRow> for DrillReport {
    type Error = Error;
    fn try_from(r: DrillRow) -> Result<Self> {
        Ok(DrillReport {
            identity_id: r.identity_id,
            client_id: r.client_id,
            environment: r.environment.to_string(),
            at: r.at,
            steps: serde_json::from_str(&r.steps)
                .map_err(|e| Error::Internal(format!("drill {}: steps: {e}", r.id)))?,
            active_before: r.active_before,
            active_after: r.active_after,
            revoke_to_inactive_ms: r.revoke_to_inactive_ms,
            outcome: match r.outcome.as_str() {
                "passed" => Outcome::Passed,
                "failed" => Outcome::Failed,
                _ => Outcome::Error,
            },
            error: r.error,
        })
    }
}

/// `drill` options.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(default)]
pub struct DrillOptions {
    /// Drill a production client that is not marked drillable (audited).
    pub allow_production: bool,
    /// How long to wait for the revoked token to turn inactive (default 30 s).
    #[ts(type = "number | null")]
    pub bound_ms: Option<u64>,
}

/// `drill`: proves that a token of this identity dies when revoked, with its held credential.
pub async fn identity_drill(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: &IdentityRef,
    opts: &DrillOptions,
) -> Result<DrillReport> {
    let mut conn = store.read().await?;
    let rec = resolve(&mut conn, r).await?;
    let c = connection_of(&mut conn, rec.environment).await?;
    let facts = db::server_facts(&mut conn, rec.id).await?;
    if rec.environment == Environment::Production && !facts.drillable && !opts.allow_production {
        return Err(Error::Forbidden(format!(
            "identity {} is a production client not marked drillable: mark it (steward identity \
             drillable {} on) or pass --allow-production",
            rec.id, rec.id
        )));
    }
    let auth = held_auth(store, &mut conn, rec.id).await?.ok_or_else(|| {
        Error::invalid(
            "credential",
            format!(
                "a drill needs the client's credential: steward credential set {} \
                 --client-secret-stdin (or --private-key PEM_FILE)",
                rec.id
            ),
        )
    })?;
    let scopes = granted_scopes(&mut conn, rec.id).await?;
    drop(conn);
    let url = |field: &str, v: &Option<String>| -> Result<Option<Url>> {
        v.as_deref().map(|u| endpoint(field, u)).transpose()
    };
    let target = drill::Target {
        token_endpoint: endpoint("token_endpoint", &c.token_endpoint)?,
        introspection_endpoint: url("introspection_endpoint", &c.introspection_endpoint)?,
        revocation_endpoint: url("revocation_endpoint", &c.revocation_endpoint)?,
        fhir_base: url("fhir_base", &c.fhir_base)?,
        auth: auth.auth(&rec.client_id)?,
        scope: scopes.join(" "),
        bound: opts
            .bound_ms
            .map(std::time::Duration::from_millis)
            .unwrap_or(drill::DEFAULT_BOUND),
    };
    let run = drill::run(&Http::new()?, &target).await;
    let row = DrillRow {
        id: 0,
        identity_id: rec.id,
        client_id: rec.client_id.clone(),
        environment: rec.environment,
        at: time::format(now),
        outcome: run.outcome.as_str().into(),
        active_before: run.active_before,
        active_after: run.active_after,
        revoke_to_inactive_ms: run.revoke_to_inactive_ms.map(|m| m as i64),
        steps: serde_json::to_string(&run.steps).expect("steps serialize"),
        error: run.error.clone(),
        actor: actor.0.clone(),
    };
    let mut tx = store.begin_write().await?;
    let id = db::insert_drill(&mut tx, &row).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "identity.drill",
        identity_subject(rec.id),
        json!({
            "drill": id, "client_id": rec.client_id, "outcome": row.outcome,
            "active_before": run.active_before, "active_after": run.active_after,
            "revoke_to_inactive_ms": row.revoke_to_inactive_ms,
            "allow_production": opts.allow_production && rec.environment == Environment::Production
                && !facts.drillable,
            "error": run.error,
        }),
    )
    .await?;
    tx.commit().await?;
    DrillReport::try_from(row)
}

/// An identity's drills, newest first.
pub async fn identity_drills(store: &Store, r: &IdentityRef) -> Result<Vec<DrillReport>> {
    let mut conn = store.read().await?;
    let rec = resolve(&mut conn, r).await?;
    db::drills(&mut conn, Some(rec.id))
        .await?
        .into_iter()
        .map(DrillReport::try_from)
        .collect()
}

/// Marks an identity as one a drill may touch in production (or not), audited.
pub async fn identity_set_drillable(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: &IdentityRef,
    drillable: bool,
) -> Result<()> {
    let mut tx = store.begin_write().await?;
    let rec = resolve(&mut tx, r).await?;
    db::set_drillable(&mut tx, rec.id, drillable).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "identity.drillable",
        identity_subject(rec.id),
        json!({"drillable": drillable}),
    )
    .await?;
    tx.commit().await
}
