//! Live authorization servers: a real one (`oidc-provider` on loopback, tests/authz) for
//! discovery, registration, drills, sync and enforcement; small loopback servers of the
//! test's own for what a hostile or broken server does; recorded Keycloak admin responses
//! (tests/fixtures/keycloak-admin) for the Keycloak adapter.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use steward::api::{self, IdentityEdit, IdentityRef, NewIdentity};
use steward::inventory::{Environment, Kind};
use steward::review::{
    CampaignFilter, DeadlineDefault, DecideRequest, NewCampaign, ReviewDecision,
};
use steward::store::review::ItemQuery;
use steward::{time, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{actor, now, stderr, Env};

const ANA: &str = "Ana Lima <ana@example.org>";
const RITA: &str = "rita@example.org";

/// Reading the CLI's JSON.
trait Json {
    /// The items of a JSON array.
    fn items(&self) -> &[Value];
    /// A JSON string.
    fn text(&self) -> &str;
}

impl Json for Value {
    fn items(&self) -> &[Value] {
        self.as_array().map(Vec::as_slice).expect("a JSON array")
    }
    fn text(&self) -> &str {
        self.as_str().expect("a JSON string")
    }
}

/// `oidc-provider` on a free loopback port, stopped when dropped.
pub struct AuthServer {
    child: Child,
    pub issuer: String,
}

impl AuthServer {
    pub fn start(flags: &[&str]) -> AuthServer {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/authz");
        assert!(
            std::path::Path::new(dir).join("node_modules/oidc-provider").exists(),
            "oidc-provider is not installed: (cd tests/authz && npm ci), as scripts/deps.sh --test does"
        );
        let mut child = Command::new("node")
            .arg(format!("{dir}/server.mjs"))
            .args(["--port", "0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the listening line");
        let issuer = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
            .to_string();
        AuthServer { child, issuer }
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback server of the test's own that answers every request with `response` (after
/// `delay`), for what a broken or hostile server does.
async fn raw_server(response: Vec<u8>, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = sock.write_all(&response).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn http_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A staging backend service owned by Ana, approved for two read scopes, with Rita as the
/// reviewer of what Ana owns.
async fn inventory(store: &Store, auth_method: &str) -> i64 {
    let id = service(store, "lab-feed", Environment::Staging, None, auth_method).await;
    api::person_add(store, now(), &actor(), RITA)
        .await
        .expect("rita");
    api::person_set_reviewer(store, now(), &actor(), "ana@example.org", Some(RITA))
        .await
        .expect("designate");
    id
}

/// A backend service approved for `system/Patient.rs system/Observation.rs` (and granted
/// `granted`), owned by Ana; its id.
async fn service(
    store: &Store,
    client_id: &str,
    env: Environment,
    granted: Option<&str>,
    auth_method: &str,
) -> i64 {
    let d = api::identity_add(
        store,
        now(),
        &actor(),
        NewIdentity {
            client_id: client_id.into(),
            environment: Some(env),
            fields: IdentityEdit {
                name: Some(format!("Service {client_id}")),
                kind: Some(Kind::BackendService),
                business_owner: Some(ANA.into()),
                purpose: Some("Sends lab results to the registry.".into()),
                approved_scopes: Some("system/Patient.rs system/Observation.rs".into()),
                granted_scopes: granted.map(String::from),
                auth_method: Some(auth_method.into()),
                ..IdentityEdit::default()
            },
        },
    )
    .await
    .expect("add");
    d.identity.id
}

/// `connect add` of an OAuth server for `env`.
async fn add_server(
    store: &Store,
    env: Environment,
    issuer: &str,
    fhir_base: Option<String>,
) -> steward::Result<steward::connect::Connection> {
    let req = api::ConnectAdd {
        environment: env,
        issuer: issuer.to_string(),
        kind: None,
        realm: None,
        fhir_base,
        admin_client_id: None,
    };
    api::connect_add(store, now(), &actor(), &req).await
}

/// The staging connection to `server`, with its FHIR endpoint.
async fn connect(store: &Store, server: &AuthServer) -> steward::connect::Connection {
    let fhir = Some(format!("{}/fhir", server.issuer));
    add_server(store, Environment::Staging, &server.issuer, fhir)
        .await
        .expect("connect add")
}

/// The value Steward holds for an identity (read from its file, as the server's own admin
/// would know it), for the test's direct calls to the server.
async fn held(store: &Store, id: i64, kind: &str) -> String {
    let list = api::credential_show(
        store,
        &api::CredentialSubject::Identity(IdentityRef::id(id)),
    )
    .await
    .expect("show");
    let h = list
        .iter()
        .find(|h| h.held.kind.as_str() == kind)
        .expect("held");
    assert_eq!(
        h.held.store, "file",
        "a named test database keeps its credentials in files"
    );
    std::fs::read_to_string(&h.held.location).expect("the held file")
}

async fn registration_uri(store: &Store, id: i64) -> String {
    on_pool!(store, |p| sqlx::query_scalar::<_, Option<String>>(
        "SELECT registration_client_uri FROM identity WHERE id = $1"
    )
    .bind(id)
    .fetch_one(p)
    .await)
    .expect("uri")
    .expect("registered")
}

/// Changes the client's scope at the server, as its administrator would (RFC 7592 PUT).
async fn server_side_scope(store: &Store, id: i64, scope: &str) {
    let uri = registration_uri(store, id).await;
    let token = held(store, id, "registration_token").await;
    let http = reqwest::Client::new();
    let current: Value = http
        .get(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).expect("JSON"))
        .expect("body");
    // What the server returned, with the scope changed: the request Steward's enforcement sends.
    let current = steward::connect::oauth::with_scope(&current, scope);
    let put = http
        .put(&uri)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(current.to_string())
        .send()
        .await
        .expect("PUT");
    assert!(
        put.status().is_success(),
        "{}",
        put.text().await.unwrap_or_default()
    );
}

/// A token request for `scope` as the client, with its held secret: the server's answer.
async fn token_for(server: &AuthServer, store: &Store, id: i64, scope: &str) -> (u16, Value) {
    let client_id = api::identity_show(store, &IdentityRef::id(id))
        .await
        .expect("show")
        .identity
        .client_id;
    let secret = held(store, id, "client_secret").await;
    let r = reqwest::Client::new()
        .post(format!("{}/token", server.issuer))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .expect("token");
    let status = r.status().as_u16();
    let body = r
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null));
    (status, body.unwrap_or(Value::Null))
}

#[tokio::test]
async fn discovery_registration_and_a_drill_that_passes() {
    let server = AuthServer::start(&[]);
    let env = Env::new();
    let store = env.store().await;
    let id = inventory(&store, "client_secret_basic").await;
    connect(&store, &server).await;

    let list = env.json(&["connect", "list"]);
    let c = &list[0];
    for field in [
        "id",
        "environment",
        "issuer",
        "kind",
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "registration_endpoint",
        "discovered_at",
        "last_sync_at",
    ] {
        assert!(
            c.get(field).is_some(),
            "connect list --json has {field}: {c}"
        );
    }
    assert_eq!(
        c["revocation_endpoint"],
        format!("{}/token/revocation", server.issuer)
    );
    assert_eq!(c["last_sync_at"], Value::Null);

    let reg = env.json(&["register", &id.to_string()]);
    assert_eq!(reg["identity_id"], id);
    let client_id = reg["client_id"].as_str().expect("client_id").to_string();
    assert_ne!(
        client_id, "lab-feed",
        "the identity takes the client_id the server issued"
    );
    assert_eq!(
        reg["scopes"],
        json!(["system/Observation.rs", "system/Patient.rs"])
    );
    let d = api::identity_show(&store, &IdentityRef::id(id))
        .await
        .expect("show");
    assert_eq!(d.identity.client_id, client_id);
    assert_eq!(
        d.identity.granted_scopes, d.identity.approved_scopes,
        "granted equals approved"
    );
    assert!(
        d.history
            .iter()
            .any(|e| e.details["previous_client_id"] == "lab-feed"),
        "the old client_id stays in the history"
    );
    let again = env.cli(&["--db", env.db_arg(), "register", &id.to_string()]);
    assert!(!again.status.success() && stderr(&again).contains("already registered"));

    // What is held is shown without its value; the value is nowhere in the database.
    let shown = env.json(&["credential", "show", &id.to_string()]);
    let kinds: Vec<&str> = shown.items().iter().map(|h| h["kind"].text()).collect();
    assert_eq!(kinds, ["client_secret", "registration_token"]);
    let secret = held(&store, id, "client_secret").await;
    let token = held(&store, id, "registration_token").await;
    assert!(!shown.to_string().contains(&secret));

    let drill = env.json(&["drill", &id.to_string(), "--bound", "10"]);
    assert_eq!(drill["outcome"], "passed", "{drill}");
    assert_eq!(drill["active_before"], true);
    assert_eq!(drill["active_after"], false);
    assert!(drill["revoke_to_inactive_ms"].as_u64().is_some());
    let steps: Vec<&str> = drill["steps"]
        .items()
        .iter()
        .map(|s| s["step"].text())
        .collect();
    assert_eq!(
        steps,
        [
            "token",
            "introspect",
            "fhir_before",
            "revoke",
            "introspect_after",
            "fhir_after"
        ]
    );
    let last = &drill["steps"][5];
    assert_eq!(
        (last["status"].as_str(), last["http_status"].as_u64()),
        (Some("ok"), Some(401))
    );
    for field in ["identity_id", "client_id", "environment", "at", "error"] {
        assert!(drill.get(field).is_some(), "{field}");
    }
    let findings = env.json(&["findings", "--identity", &id.to_string()]);
    let rules: Vec<&str> = findings.items().iter().map(|f| f["rule"].text()).collect();
    assert!(
        !rules.contains(&"revocation-untested"),
        "a passing drill: {rules:?}"
    );
    // Drills are due by tier, as the policy says: ten days on, a five-day interval has passed.
    env.json(&[
        "review",
        "policy",
        "--drill-medium-days",
        "5",
        "--drill-low-days",
        "5",
    ]);
    let later = time::format(time::now() + chrono::Duration::days(10));
    let due = env.json(&["findings", "--identity", &id.to_string(), "--now", &later]);
    let untested = due
        .items()
        .iter()
        .find(|f| f["rule"] == "revocation-untested")
        .unwrap_or_else(|| panic!("{due}"));
    assert!(untested["evidence"]
        .text()
        .starts_with("last passing revocation drill"));

    // The evidence package carries the drill; no secret reaches it or the database.
    let out = env.dir.path().join("pkg");
    env.json(&[
        "evidence",
        "export",
        "--out",
        out.to_str().expect("a UTF-8 path"),
    ]);
    let drills = std::fs::read_to_string(out.join("data/drills.csv")).expect("drills.csv");
    assert!(
        drills
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(&client_id) && l.contains("passed")),
        "{drills}"
    );
    let mut everything = env.raw_bytes();
    for f in walk(&out) {
        everything.extend(std::fs::read(f).expect("read"));
    }
    for value in [&secret, &token] {
        assert!(
            !everything
                .windows(value.len())
                .any(|w| w == value.as_bytes()),
            "a held value reached the database or the package"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn sync_finds_drift_and_applies_the_servers_view() {
    let server = AuthServer::start(&[]);
    let env = Env::new();
    let store = env.store().await;
    let id = inventory(&store, "client_secret_basic").await;
    connect(&store, &server).await;
    let client_id = env.json(&["register", &id.to_string()])["client_id"]
        .text()
        .to_string();

    let clean = env.json(&["sync", "staging", "--dry-run"]);
    assert_eq!(clean["clients_read"], 1);
    assert_eq!(clean["changed"], json!([]));

    server_side_scope(
        &store,
        id,
        "system/Patient.rs system/Observation.rs system/Encounter.rs",
    )
    .await;
    let before = api::identity_show(&store, &IdentityRef::id(id))
        .await
        .expect("show");
    let dry = env.json(&["sync", "staging", "--dry-run"]);
    assert_eq!(
        dry["changed"],
        json!([{"client_id": client_id, "field": "scope",
                "inventory": "system/Observation.rs system/Patient.rs",
                "server": "system/Encounter.rs system/Observation.rs system/Patient.rs"}])
    );
    for field in ["environment", "unknown_on_server", "missing_on_server"] {
        assert!(dry.get(field).is_some());
    }
    let after_dry = api::identity_show(&store, &IdentityRef::id(id))
        .await
        .expect("show");
    assert_eq!(
        before.identity.granted_scopes, after_dry.identity.granted_scopes,
        "a dry run changes nothing"
    );

    env.json(&["sync", "staging"]);
    let d = api::identity_show(&store, &IdentityRef::id(id))
        .await
        .expect("show");
    assert!(d
        .identity
        .granted_scopes
        .contains(&"system/Encounter.rs".to_string()));
    let findings = env.json(&["findings", "--identity", &id.to_string()]);
    assert!(
        findings
            .items()
            .iter()
            .any(|f| f["rule"] == "granted-beyond-approved"),
        "the server grants beyond approval: {findings}"
    );
    let again = env.json(&["sync", "staging"]);
    assert_eq!(again["changed"], json!([]), "sync is idempotent");
    assert!(env.json(&["connect", "list"])[0]["last_sync_at"].is_string());

    // A client deleted at the server is missing there, with a finding.
    let uri = registration_uri(&store, id).await;
    let token = held(&store, id, "registration_token").await;
    reqwest::Client::new()
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    let gone = env.json(&["sync", "staging"]);
    assert_eq!(gone["missing_on_server"], json!([client_id]));
    let findings = env.json(&["findings", "--identity", &id.to_string()]);
    assert!(
        findings
            .items()
            .iter()
            .any(|f| f["rule"] == "missing-on-server"),
        "{findings}"
    );
}

async fn reviewed(env: &Env, store: &Store, id: i64, decision: ReviewDecision, remove: &[&str]) {
    let campaign = api::campaign_create(
        store,
        now(),
        &actor(),
        NewCampaign {
            name: format!("{decision}"),
            deadline: time::format(now() + chrono::Duration::days(30)),
            filter: CampaignFilter {
                environment: Some(Environment::Staging),
                ..CampaignFilter::default()
            },
            fallback_reviewer: None,
            deadline_default: Some(DeadlineDefault::NoChange),
        },
    )
    .await
    .expect("campaign")
    .id;
    let item = api::review_items(
        store,
        &ItemQuery {
            campaign: Some(campaign),
            ..ItemQuery::default()
        },
    )
    .await
    .expect("items")
    .into_iter()
    .find(|i| i.identity_id == id)
    .expect("the identity's item");
    crate::support::decide_as(
        env,
        store,
        now(),
        DecideRequest {
            item: item.id,
            decision,
            remove_scopes: remove.iter().map(|s| s.to_string()).collect(),
            new_owner: None,
            comment: "least privilege".into(),
            reviewer: Some(RITA.into()),
            version: None,
        },
    )
    .await
    .expect("decide");
}

#[tokio::test]
async fn enforcement_carries_a_reduction_and_a_revocation_to_the_server() {
    let server = AuthServer::start(&[]);
    let env = Env::new();
    let store = env.store().await;
    let id = inventory(&store, "client_secret_basic").await;
    connect(&store, &server).await;
    env.json(&["register", &id.to_string()]);
    assert_eq!(
        token_for(&server, &store, id, "system/Observation.rs")
            .await
            .0,
        200
    );

    reviewed(
        &env,
        &store,
        id,
        ReviewDecision::Reduce,
        &["system/Observation.rs"],
    )
    .await;
    let pending = api::enforcement_pending(&store, None)
        .await
        .expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].action.as_str(), pending[0].scopes.as_deref()),
        ("reduce", Some("system/Patient.rs"))
    );

    let dry = env.json(&["enforce", "--dry-run"]);
    assert_eq!(dry["tasks"][0]["state"], "planned");
    assert_eq!(
        api::enforcement_pending(&store, None)
            .await
            .expect("the call")
            .len(),
        1,
        "a dry run changes nothing"
    );

    let done = env.json(&["enforce"]);
    assert_eq!(done["tasks"][0]["state"], "done", "{done}");
    let calls: Vec<&str> = done["tasks"][0]["calls"]
        .items()
        .iter()
        .map(|c| c.text())
        .collect();
    assert!(calls.iter().any(|c| c.starts_with("PUT ")), "{calls:?}");
    let (status, body) = token_for(&server, &store, id, "system/Observation.rs").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "the server refuses the cut scope"
    );
    assert_eq!(
        token_for(&server, &store, id, "system/Patient.rs").await.0,
        200
    );
    assert_eq!(
        env.json(&["enforce"])["tasks"],
        json!([]),
        "running again is safe"
    );
    let entries = api::audit_log(&store, &api::AuditQuery::default())
        .await
        .expect("log");
    let applied = entries
        .iter()
        .find(|e| e.action == "enforcement.apply")
        .expect("audited");
    assert_eq!(applied.details["state"], "done");
    assert!(!applied
        .details
        .to_string()
        .contains(&held(&store, id, "registration_token").await));

    reviewed(&env, &store, id, ReviewDecision::Revoke, &[]).await;
    let done = env.json(&["enforce"]);
    assert_eq!(done["tasks"][0]["action"], "revoke");
    assert_eq!(done["tasks"][0]["state"], "done", "{done}");
    assert_eq!(
        token_for(&server, &store, id, "system/Patient.rs").await.0,
        401,
        "the client is gone"
    );
}

#[tokio::test]
async fn a_revocation_that_does_not_take_effect_fails_the_drill() {
    let server = AuthServer::start(&["--broken-revocation"]);
    let env = Env::new();
    let store = env.store().await;
    let id = inventory(&store, "client_secret_basic").await;
    connect(&store, &server).await;
    env.json(&["register", &id.to_string()]);
    let out = env.cli(&[
        "--db",
        env.db_arg(),
        "--json",
        "drill",
        &id.to_string(),
        "--bound",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "a failed drill exits 1");
    let drill: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(drill["outcome"], "failed");
    assert_eq!(drill["active_after"], true);
    assert_eq!(drill["revoke_to_inactive_ms"], Value::Null);
    let fhir = drill["steps"]
        .items()
        .iter()
        .find(|s| s["step"] == "fhir_after")
        .expect("fhir step");
    assert_eq!(fhir["status"], "failed");
    let findings = env.json(&["findings", "--identity", &id.to_string()]);
    let f = findings
        .items()
        .iter()
        .find(|f| f["rule"] == "revocation-ineffective")
        .unwrap_or_else(|| panic!("{findings}"));
    assert_eq!(f["severity"], "critical");
    let mapping = env.json(&["findings", "mapping"]);
    assert!(mapping
        .items()
        .iter()
        .any(|m| m["rule"] == "revocation-ineffective"));
}

#[tokio::test]
async fn drills_keep_away_from_production_unless_allowed() {
    let server = AuthServer::start(&[]);
    let env = Env::new();
    let store = env.store().await;
    service(
        &store,
        "prod-feed",
        Environment::Production,
        None,
        "client_secret_basic",
    )
    .await;
    add_server(&store, Environment::Production, &server.issuer, None)
        .await
        .expect("connect");
    env.json(&["register", "prod-feed"]);
    let refused = env.cli(&["--db", env.db_arg(), "drill", "1"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not marked drillable"),
        "{}",
        stderr(&refused)
    );
    let drill = env.json(&["drill", "1", "--allow-production"]);
    assert_eq!(drill["outcome"], "passed");
    let entries = api::audit_log(&store, &api::AuditQuery::default())
        .await
        .expect("log");
    let e = entries
        .iter()
        .find(|e| e.action == "identity.drill")
        .expect("audited");
    assert_eq!(e.details["allow_production"], true);
}

#[tokio::test]
async fn a_private_key_jwt_client_is_registered_and_drilled() {
    let server = AuthServer::start(&[]);
    let env = Env::new();
    let store = env.store().await;
    let id = inventory(&store, "private_key_jwt").await;
    connect(&store, &server).await;
    let key = env.dir.path().join("client.pem");
    let gen = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(gen.status.success());
    let held = env.json(&[
        "credential",
        "set",
        &id.to_string(),
        "--private-key",
        key.to_str().expect("a UTF-8 path"),
        "--kid",
        "k1",
    ]);
    assert!(
        held["fingerprint"].text().starts_with("jwk-sha256:"),
        "{held}"
    );
    env.json(&["register", &id.to_string()]);
    let d = api::identity_show(&store, &IdentityRef::id(id))
        .await
        .expect("show");
    assert!(
        d.credentials.iter().any(
            |c| Some(&c.fingerprint) == held["fingerprint"].as_str().map(String::from).as_ref()
        ),
        "the registered key is the identity's credential"
    );
    let drill = env.json(&["drill", &id.to_string()]);
    assert_eq!(drill["outcome"], "passed", "{drill}");
}

#[tokio::test]
async fn a_broken_or_hostile_server_is_an_error_that_names_it_and_records_nothing() {
    let env = Env::new();
    let store = env.store().await;
    let add = |issuer: String| {
        let store = store.clone();
        async move {
            add_server(&store, Environment::Sandbox, &issuer, None)
                .await
                .map(|_| ())
                .expect_err("refused")
                .to_string()
        }
    };
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let e = add(format!("http://127.0.0.1:{port}")).await;
    assert!(
        e.contains(&format!("127.0.0.1:{port}")) && e.contains("cannot connect"),
        "{e}"
    );
    let e = add("http://as.example.org".into()).await;
    assert!(e.contains("HTTPS is required"), "{e}");
    let bad = raw_server(
        http_response(
            "200 OK",
            &[("content-type", "application/json")],
            b"{not json",
        ),
        Duration::ZERO,
    )
    .await;
    let e = add(bad.clone()).await;
    assert!(e.contains(&bad) && e.contains("not JSON"), "{e}");
    let huge = vec![b' '; 2 << 20];
    let big = raw_server(http_response("200 OK", &[], &huge), Duration::ZERO).await;
    let e = add(big).await;
    assert!(e.contains("more than 1024 KiB"), "{e}");
    let other = raw_server(
        http_response(
            "302 Found",
            &[("location", "https://elsewhere.example/x")],
            b"",
        ),
        Duration::ZERO,
    )
    .await;
    let e = add(other).await;
    assert!(e.contains("redirect"), "{e}");
    // A server that does not speak TLS where HTTPS is asked for.
    let plain = raw_server(http_response("200 OK", &[], b"{}"), Duration::ZERO).await;
    let tls = plain.replace("http://", "https://");
    let e = add(tls.clone()).await;
    assert!(e.contains(&tls) && e.contains("TLS"), "{e}");
    let missing = raw_server(http_response("404 Not Found", &[], b""), Duration::ZERO).await;
    let e = add(missing).await;
    assert!(e.contains("publishes no server metadata"), "{e}");
    assert!(
        api::connect_list(&store)
            .await
            .expect("the call")
            .is_empty(),
        "nothing half-recorded"
    );

    // A server that does not answer in time (the CLI, with a short timeout).
    let slow = raw_server(http_response("200 OK", &[], b"{}"), Duration::from_secs(5)).await;
    let out = env.cli_env(
        &[
            "--db",
            env.db_arg(),
            "connect",
            "add",
            "--environment",
            "sandbox",
            "--issuer",
            &slow,
        ],
        &[("STEWARD_HTTP_TIMEOUT_MS", "300")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
}

/// A loopback server that replays recorded Keycloak admin responses by path.
async fn keycloak_replay() -> String {
    let dir = crate::support::fixture("keycloak-admin");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let issuer = format!("{base}/realms/test");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let dir = dir.clone();
            let issuer = issuer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = head.lines().next().unwrap_or("");
                let mut parts = line.split_whitespace();
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let path = target.split('?').next().unwrap_or("");
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
                let file = |name: &str| std::fs::read(dir.join(name)).expect("fixture");
                let (status, body) = match (method, path) {
                    (_, "/realms/test/.well-known/openid-configuration") => ("200 OK", serde_json::to_vec(&json!({
                        "issuer": issuer, "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
                        "revocation_endpoint": format!("{issuer}/protocol/openid-connect/revoke"),
                        "introspection_endpoint": format!("{issuer}/protocol/openid-connect/token/introspect"),
                        "grant_types_supported": ["client_credentials"]})).expect("JSON")),
                    ("POST", "/realms/test/protocol/openid-connect/token") => ("200 OK", file("token.json")),
                    ("GET", "/admin/realms/test/clients") if query.starts_with("clientId=") => {
                        let want = query.trim_start_matches("clientId=");
                        let all: Value = serde_json::from_slice(&file("clients.json")).expect("JSON");
                        let one: Vec<&Value> = all.items().iter().filter(|c| c["clientId"] == want).collect();
                        ("200 OK", serde_json::to_vec(&one).expect("JSON"))
                    }
                    ("GET", "/admin/realms/test/client-scopes") => ("200 OK", file("client-scopes.json")),
                    ("GET", "/admin/realms/test/clients") if query.contains("first=0") => ("200 OK", file("clients.json")),
                    ("GET", "/admin/realms/test/clients") => ("200 OK", b"[]".to_vec()),
                    ("GET", "/admin/realms/test/events") => ("200 OK", file("events.json")),
                    ("GET", "/admin/realms/test/admin-events") => ("200 OK", file("admin-events.json")),
                    _ => ("404 Not Found", b"{\"error\":\"not recorded\"}".to_vec()),
                };
                let _ = sock
                    .write_all(&http_response(
                        status,
                        &[("content-type", "application/json")],
                        &body,
                    ))
                    .await;
                let _ = sock.shutdown().await;
            });
        }
    });
    base
}

// The replay server runs on the runtime's other thread while the CLI blocks this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_sync_reads_every_client_of_the_realm_and_its_events() {
    let base = keycloak_replay().await;
    let env = Env::new();
    let store = env.store().await;
    let granted = Some("system/Patient.rs system/Observation.rs");
    service(
        &store,
        "smart-backend-svc",
        Environment::Staging,
        granted,
        "client_secret_basic",
    )
    .await;
    env.json(&[
        "connect",
        "add",
        "--environment",
        "staging",
        "--kind",
        "keycloak",
        "--realm",
        "test",
        "--admin-client",
        "steward-admin",
        "--issuer",
        &format!("{base}/realms/test"),
    ]);
    let no_secret = env.cli(&["--db", env.db_arg(), "sync", "staging"]);
    assert!(
        stderr(&no_secret).contains("credential set --connection staging"),
        "{}",
        stderr(&no_secret)
    );
    let held = set_secret(&env, "fake0-admin-secret");
    assert!(held.contains("admin_secret"), "{held}");

    let dry = env.json(&["sync", "staging", "--dry-run"]);
    let unknown: Vec<&str> = dry["unknown_on_server"]
        .items()
        .iter()
        .map(|v| v.text())
        .collect();
    assert!(
        unknown.contains(&"bulk-export-jwt") && unknown.contains(&"smart-patient-app"),
        "{unknown:?}"
    );
    assert!(
        !unknown
            .iter()
            .any(|u| ["account", "admin-cli", "broker"].contains(u)),
        "built-ins are Keycloak's own"
    );
    assert_eq!(
        dry["changed"],
        json!([{"client_id": "smart-backend-svc", "field": "scope",
                "inventory": "system/Observation.rs system/Patient.rs",
                "server": "system/Encounter.rs system/Observation.rs system/Patient.rs"}])
    );

    let applied = env.json(&["sync", "staging"]);
    assert!(
        applied["token_events"].as_u64().expect("a number") > 0,
        "{applied}"
    );
    let pending = api::identity_show(
        &store,
        &IdentityRef {
            key: "bulk-export-jwt".into(),
            environment: Some(Environment::Staging),
        },
    )
    .await
    .expect("an unknown client becomes a pending identity");
    assert_eq!(pending.identity.status, steward::inventory::Status::Pending);
    let findings = env.json(&["findings", "--identity", &pending.identity.id.to_string()]);
    let f = findings
        .items()
        .iter()
        .find(|f| f["rule"] == "unregistered-client")
        .unwrap_or_else(|| panic!("{findings}"));
    assert_eq!(f["severity"], "high");
    let again = env.json(&["sync", "staging"]);
    assert_eq!(again["token_events"], 0, "events are read once");
    assert_eq!(again["changed"], json!([]));

    // Retiring the identity leaves a task: at Keycloak, its SMART client scopes go and the
    // client is disabled (shown here as a dry run: the recorded server does not change).
    env.json(&[
        "identity",
        "retire",
        "smart-backend-svc",
        "--environment",
        "staging",
    ]);
    let plan = env.json(&["enforce", "--dry-run"]);
    let task = &plan["tasks"][0];
    assert_eq!(
        (task["action"].as_str(), task["state"].as_str()),
        (Some("retire"), Some("planned")),
        "{plan}"
    );
    let calls: Vec<&str> = task["calls"].items().iter().map(|c| c.text()).collect();
    let uuid = "f29454c5-28af-401e-87c9-e65152bbd939";
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("DELETE ") && c.contains(&format!("clients/{uuid}/")))
            .count(),
        3,
        "three SMART client scopes removed: {calls:?}"
    );
    assert!(
        calls.contains(&format!("PUT {base}/admin/realms/test/clients/{uuid}").as_str()),
        "{calls:?}"
    );
}

/// `credential set --connection staging --client-secret-stdin`, the secret on stdin.
fn set_secret(env: &Env, secret: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args([
            "--db",
            env.db_arg(),
            "credential",
            "set",
            "--connection",
            "staging",
            "--client-secret-stdin",
        ])
        .env("HOME", env.dir.path())
        .env("XDG_DATA_HOME", env.dir.path().join("xdg-data"))
        .env("STEWARD_TEAM_DIR", env.team_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("steward");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(secret.as_bytes())
        .expect("write the secret");
    let out = child.wait_with_output().expect("steward ran");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
