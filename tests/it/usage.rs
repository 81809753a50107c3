//! Usage import and traceability: real AuditEvent and Keycloak fixtures, counts against an
//! independent computation, every trace class, re-import, cancel and crash.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use steward::api::{self, IdentityEdit, IdentityRef, NewIdentity};
use steward::inventory::{Environment, Kind};
use steward::scope::{Context, Interaction};
use steward::usage::synthetic::{write_event, SyntheticCall};
use steward::usage::Control;
use steward::{Code, Error, Store};

use crate::support::{actor, fixture, now, rows, stderr, Env};

fn add(client: &str, granted: &str, approved: &str, purpose: Option<&str>) -> NewIdentity {
    NewIdentity {
        client_id: client.into(),
        environment: Some(Environment::Production),
        fields: IdentityEdit {
            name: Some(client.into()),
            kind: Some(Kind::ClinicianApp),
            business_owner: Some("Ana Lima <ana@example.org>".into()),
            purpose: purpose.map(String::from),
            approved_scopes: Some(approved.into()),
            granted_scopes: Some(granted.into()),
            ..IdentityEdit::default()
        },
    }
}

async fn identity(store: &Store, n: NewIdentity) -> i64 {
    api::identity_add(store, now(), &actor(), n)
        .await
        .expect("add")
        .identity
        .id
}

/// Ana, the business owner, states `client`'s purpose and justifies `scope`.
async fn attest(env: &Env, store: &Store, client: &str, purpose: &str, scope: &str, why: &str) {
    crate::support::attest_as(
        env,
        store,
        now(),
        &IdentityRef {
            key: client.into(),
            environment: None,
        },
        steward::review::AttestRequest {
            person: Some("ana@example.org".into()),
            purpose: purpose.into(),
            justifications: vec![(scope.into(), why.into())],
        },
    )
    .await
    .expect("attest");
}

async fn import(store: &Store, path: &std::path::Path) -> steward::Result<api::AuditImportSummary> {
    let cancel = AtomicBool::new(false);
    api::usage_import_audit(
        store,
        now(),
        &actor(),
        path,
        Environment::Production,
        false,
        &api::no_control(&cancel),
    )
    .await
}

fn call<'a>(client: &'a str, rt: &'a str, i: Interaction, ok: bool, n: u64) -> SyntheticCall<'a> {
    SyntheticCall {
        client_id: client,
        recorded: "2026-11-20T08:30:00Z",
        context: Context::User,
        resource_type: rt,
        interaction: i,
        success: ok,
        patient: "p-1",
        request_id: n,
    }
}

async fn import_tokens(
    store: &Store,
    path: &std::path::Path,
) -> steward::Result<api::TokenImportSummary> {
    api::usage_import_tokens(store, now(), &actor(), path, Environment::Production, false).await
}

/// Appends one call to an NDJSON log.
fn push(log: &mut Vec<u8>, client: &str, rt: &str, i: Interaction, ok: bool, n: u64) {
    write_event(log, &call(client, rt, i, ok, n)).expect("write");
}

async fn total_calls(store: &Store) -> i64 {
    on_pool!(store, |p| sqlx::query_scalar(
        "SELECT CAST(coalesce(sum(calls), 0) AS BIGINT) FROM usage_daily"
    )
    .fetch_one(p)
    .await)
    .expect("sum")
}

#[tokio::test]
async fn the_balp_example_is_tied_to_its_identity() {
    let env = Env::new();
    let store = env.store().await;
    let id = identity(
        &store,
        add("SampleApp", "user/List.rs", "user/List.rs", None),
    )
    .await;
    let s = import(
        &store,
        &fixture("auditevents/balp-ex-auditBasicReadOServer.json"),
    )
    .await
    .expect("import");
    assert_eq!((s.calls, s.aggregates, s.malformed), (1, 1, 0));
    assert!(s.unknown_clients.is_empty());
    let (identity_id, rt, interaction, day): (Option<i64>, String, String, String) = on_pool!(
        store,
        |p| sqlx::query_as("SELECT identity_id, resource_type, interaction, day FROM usage_daily")
            .fetch_one(p)
            .await
    )
    .expect("row");
    assert_eq!(identity_id, Some(id));
    assert_eq!(
        (rt.as_str(), interaction.as_str(), day.as_str()),
        ("List", "read", "2020-04-29")
    );
    let d = api::identity_show(&store, &IdentityRef::id(id))
        .await
        .expect("show");
    assert_eq!(
        d.identity.last_used_at.as_deref(),
        Some("2020-04-29T09:49:00Z")
    );

    // The HL7 examples: REST calls count, logins do not, none names a client.
    let mut calls = 0;
    let mut not_rest = 0;
    for f in [
        "audit-event-example-search.json",
        "audit-event-example-vread.json",
        "auditevent-example-error.json",
        "audit-event-example-login.json",
        "audit-event-example-logout.json",
        "audit-event-example-media.json",
        "audit-event-example-pixQuery.json",
    ] {
        let s = import(&store, &fixture(&format!("auditevents/{f}")))
            .await
            .expect(f);
        calls += s.calls;
        not_rest += s.not_rest;
        assert_eq!(s.malformed, 0, "{f}");
    }
    assert_eq!((calls, not_rest), (3, 4));
}

#[tokio::test]
async fn aggregates_match_an_independent_count_and_a_reimport_adds_nothing() {
    let env = Env::new();
    let store = env.store().await;
    identity(
        &store,
        add("app-a", "user/*.cruds", "user/*.cruds", Some("x")),
    )
    .await;
    let types = ["Observation", "Patient", "Encounter"];
    let interactions = [
        Interaction::Read,
        Interaction::SearchType,
        Interaction::Create,
    ];
    let mut expected: HashMap<(String, String, String, bool), u64> = HashMap::new();
    let mut log = Vec::new();
    let mut n = 0u64;
    for (ci, client) in ["app-a", "app-b", "app-c"].iter().enumerate() {
        for (ti, rt) in types.iter().enumerate() {
            for (ii, i) in interactions.iter().enumerate() {
                let count = 1 + ((ci * 7 + ti * 3 + ii * 5) % 11) as u64;
                for k in 0..count {
                    n += 1;
                    let ok = k % 4 != 3;
                    push(&mut log, client, rt, *i, ok, n);
                    *expected
                        .entry((
                            client.to_string(),
                            rt.to_string(),
                            i.as_str().to_string(),
                            ok,
                        ))
                        .or_default() += 1;
                }
            }
        }
    }
    let path = env.dir.path().join("audit.ndjson");
    std::fs::write(&path, &log).expect("write log");
    let s = import(&store, &path).await.expect("import");
    assert_eq!(s.calls, n);
    let got: Vec<(String, String, String, String, i64)> = on_pool!(store, |p| sqlx::query_as(
        "SELECT client_id, resource_type, interaction, outcome, calls FROM usage_daily",
    )
    .fetch_all(p)
    .await)
    .expect("rows");
    assert_eq!(got.len(), expected.len());
    for (client, rt, i, outcome, calls) in got {
        let want = expected[&(client.clone(), rt.clone(), i.clone(), outcome == "success")];
        assert_eq!(calls as u64, want, "{client} {rt} {i} {outcome}");
    }
    let mut unknown: Vec<&str> = s.unknown_clients.iter().map(|(c, _)| c.as_str()).collect();
    unknown.sort();
    assert_eq!(
        unknown,
        vec!["app-b", "app-c"],
        "unknown clients are kept and surfaced"
    );

    let before = total_calls(&store).await;
    let again = import(&store, &path).await.expect("re-import");
    assert!(again.already_imported);
    assert_eq!(total_calls(&store).await, before, "not double-counted");
}

#[tokio::test]
async fn every_trace_class_comes_from_its_own_case() {
    let env = Env::new();
    let store = env.store().await;
    identity(
        &store,
        add(
            "good",
            "user/Observation.rs",
            "user/Observation.rs",
            Some("Charts vitals."),
        ),
    )
    .await;
    identity(
        &store,
        add("loose", "user/Observation.rs", "", Some("Charts vitals.")),
    )
    .await;
    identity(
        &store,
        add("orphan", "user/Observation.rs", "user/Observation.rs", None),
    )
    .await;
    // Only `good` and `orphan` have justified approvals: the CLI add leaves approvals without
    // one, so justify them as an owner would.
    for client in ["good", "orphan"] {
        let purpose = if client == "good" {
            "Charts vitals."
        } else {
            "x"
        };
        attest(
            &env,
            &store,
            client,
            purpose,
            "user/Observation.rs",
            "charts vitals",
        )
        .await;
    }
    // `orphan` has no purpose statement.
    on_pool!(store, |p| sqlx::query(
        "UPDATE identity SET purpose = NULL WHERE client_id = 'orphan'"
    )
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("no purpose");

    let mut log = Vec::new();
    let mut n = 0;
    let mut put = |client: &str, rt: &str, i: Interaction, count: u64| {
        for _ in 0..count {
            n += 1;
            push(&mut log, client, rt, i, true, n);
        }
    };
    put("good", "Observation", Interaction::SearchType, 5); // traced
    put("good", "Observation", Interaction::Update, 2); // outside grant
    put("loose", "Observation", Interaction::Read, 3); // unjustified
    put("orphan", "Observation", Interaction::Read, 4); // unowned
    put("stranger", "Observation", Interaction::Read, 6); // unknown client
    let path = env.dir.path().join("t.ndjson");
    std::fs::write(&path, &log).expect("write");
    import(&store, &path).await.expect("import");

    let t = env.json(&["trace"]);
    assert_eq!(t["total_calls"], 20);
    assert_eq!(t["traced"], 5);
    assert_eq!(t["outside_grant"], 2);
    assert_eq!(t["unjustified"], 3);
    assert_eq!(t["unowned"], 4);
    assert_eq!(t["unknown_client"], 6);
    assert_eq!(t["traced_percent"], 25.0);
    assert_eq!(t["top"][0]["client_id"], "stranger");
    let windowed = env.json(&["trace", "--since", "2026-11-21"]);
    assert_eq!(windowed["total_calls"], 0, "the window excludes the day");
}

#[tokio::test]
async fn calls_of_a_client_registered_later_become_its_own() {
    let env = Env::new();
    let store = env.store().await;
    let mut log = Vec::new();
    for n in 1..=4 {
        push(&mut log, "late", "Observation", Interaction::Read, true, n);
    }
    push(&mut log, "late", "Observation", Interaction::Read, false, 5);
    let path = env.dir.path().join("late.ndjson");
    std::fs::write(&path, &log).expect("write");
    let s = import(&store, &path).await.expect("import");
    assert_eq!(s.unknown_clients, vec![("late".to_string(), 5)]);
    assert_eq!(env.json(&["trace"])["unknown_client"], 5);
    let tokens = env.dir.path().join("late.csv");
    std::fs::write(
        &tokens,
        "time,client_id,environment,event,scopes,token_id,expires_in,subject\n\
         2026-11-21T09:00:00Z,late,production,issued,user/Observation.rs,tok-1,300,\n",
    )
    .expect("write");
    assert_eq!(
        import_tokens(&store, &tokens)
            .await
            .expect("tokens")
            .unknown_client,
        1
    );

    // The owner registers the client the trace surfaced: its calls are no longer unknown.
    let id = identity(
        &store,
        add("late", "user/Observation.rs", "", Some("Charts vitals.")),
    )
    .await;
    let t = env.json(&["trace"]);
    assert_eq!(
        (t["total_calls"].clone(), t["unknown_client"].clone()),
        (5.into(), 0.into())
    );
    assert_eq!(
        t["unjustified"], 5,
        "granted but not approved with a justification"
    );
    let d = api::identity_show(&store, &IdentityRef::id(id))
        .await
        .expect("show");
    assert_eq!(
        d.identity.last_used_at.as_deref(),
        Some("2026-11-21T09:00:00Z"),
        "the later of its last call and its last issued token"
    );
    let u = api::usage_show(&store, now(), &IdentityRef::id(id), 90)
        .await
        .expect("usage");
    assert_eq!((u.calls, u.failures, u.token_events.len()), (5, 1, 1));
    // The same client's calls in staging belong to no production identity.
    let cancel = AtomicBool::new(false);
    api::usage_import_audit(
        &store,
        now(),
        &actor(),
        &path,
        Environment::Staging,
        false,
        &api::no_control(&cancel),
    )
    .await
    .expect("staging import");
    identity(&store, add("early", "user/Observation.rs", "", None)).await;
    let unclaimed: i64 = on_pool!(store, |p| {
        sqlx::query_scalar(
        "SELECT CAST(sum(calls) AS BIGINT) FROM usage_daily WHERE identity_id IS NULL AND environment = 'staging'",
    )
    .fetch_one(p)
    .await
    })
    .expect("count");
    assert_eq!(unclaimed, 5);
    assert_eq!(total_calls(&store).await, 10, "nothing is counted twice");
}

#[tokio::test]
async fn used_scopes_and_granted_but_unused_come_from_the_calls() {
    let env = Env::new();
    let store = env.store().await;
    let id = identity(
        &store,
        add(
            "app",
            "user/Observation.rs user/Patient.rs user/Condition.cruds openid",
            "user/Observation.rs",
            Some("x"),
        ),
    )
    .await;
    let mut log = Vec::new();
    push(
        &mut log,
        "app",
        "Observation",
        Interaction::SearchType,
        true,
        1,
    );
    push(&mut log, "app", "Patient", Interaction::Read, true, 2);
    push(&mut log, "app", "Condition", Interaction::Delete, false, 3);
    let path = env.dir.path().join("u.ndjson");
    std::fs::write(&path, &log).expect("write");
    import(&store, &path).await.expect("import");
    let now = steward::time::parse("2026-11-28T12:00:00Z").expect("time");
    let u = api::usage_show(&store, now, &IdentityRef::id(id), 90)
        .await
        .expect("usage");
    assert_eq!((u.calls, u.failures), (3, 1));
    assert_eq!(u.used_scopes, vec!["user/Observation.s", "user/Patient.r"]);
    assert_eq!(
        u.granted_unused,
        vec!["user/Condition.cruds".to_string()],
        "a failed call uses nothing; openid is not judged"
    );
}

#[tokio::test]
async fn malformed_lines_are_reported_and_strict_writes_nothing() {
    let env = Env::new();
    let store = env.store().await;
    let mut log = Vec::new();
    push(&mut log, "a", "Observation", Interaction::Read, true, 1);
    log.extend_from_slice(b"{\"resourceType\":\"Patient\",\"recorded\":\"x\"}\n");
    log.extend_from_slice(b"garbage\n");
    push(&mut log, "a", "Observation", Interaction::Read, true, 2);
    let path = env.dir.path().join("m.ndjson");
    std::fs::write(&path, &log).expect("write");
    let p = path.to_str().expect("path");
    let db = env.db_arg();
    let out = env.cli(&["--db", db, "import", "audit", p, "--strict"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    assert_eq!(
        rows(&store, "audit_log").await,
        0,
        "a strict failure writes nothing"
    );
    assert_eq!(total_calls(&store).await, 0);

    let out = env.cli(&["--db", db, "import", "audit", p]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("line 2: resourceType"), "{err}");
    assert!(err.contains("line 3: not an AuditEvent"), "{err}");
    assert_eq!(total_calls(&store).await, 2);
}

#[tokio::test]
async fn a_cancelled_import_leaves_nothing() {
    let env = Env::new();
    let store = env.store().await;
    let mut log = Vec::new();
    for n in 0..50 {
        push(&mut log, "a", "Observation", Interaction::Read, true, n);
    }
    let path = env.dir.path().join("c.ndjson");
    std::fs::write(&path, &log).expect("write");
    let cancel = AtomicBool::new(true);
    let control = Control {
        cancel: &cancel,
        progress: &|_, _| {},
    };
    let e = api::usage_import_audit(
        &store,
        now(),
        &actor(),
        &path,
        Environment::Production,
        false,
        &control,
    )
    .await
    .expect_err("cancelled");
    assert!(matches!(e, Error::Cancelled));
    assert_eq!(e.code(), Code::Cancelled);
    assert_eq!(total_calls(&store).await, 0);
    assert_eq!(rows(&store, "audit_log").await, 0);
}

#[test]
fn a_killed_import_is_all_or_nothing() {
    let env = Env::new();
    let mut log = Vec::with_capacity(60 << 20);
    let n = 60_000u64;
    for i in 0..n {
        push(&mut log, "a", "Observation", Interaction::Read, true, i);
    }
    let path = env.dir.path().join("big.ndjson");
    std::fs::write(&path, &log).expect("write");
    let db = env.db_arg().to_string();
    assert!(env.cli(&["--db", &db, "init"]).status.success());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["--db", &db, "import", "audit", path.to_str().expect("path")])
        .env("HOME", env.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(150));
    let _ = child.kill();
    let status = child.wait().expect("wait");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let total = rt.block_on(async {
        let store = env.store().await;
        let t = total_calls(&store).await;
        store.close().await;
        t
    });
    if status.success() {
        assert_eq!(total, n as i64, "a finished import counts every call");
    } else {
        assert_eq!(total, 0, "a killed import leaves no partial aggregates");
    }
}

#[tokio::test]
async fn a_bundle_of_audit_events_is_read_entry_by_entry() {
    let env = Env::new();
    let store = env.store().await;
    let event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("auditevents/balp-ex-auditBasicReadOServer.json")).expect("read"),
    )
    .expect("json");
    let bundle = serde_json::json!({
        "resourceType": "Bundle", "type": "searchset",
        "entry": [{"resource": event.clone()}, {"resource": event}, {"fullUrl": "x"}]
    });
    let path = env.dir.path().join("bundle.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&bundle).expect("json")).expect("write");
    let s = import(&store, &path).await.expect("import");
    assert_eq!((s.calls, s.malformed), (2, 1));
    assert_eq!(s.bad[0].line, 3, "the entry number");

    let not = env.dir.path().join("patient.json");
    std::fs::write(&not, "{\n \"resourceType\": \"Patient\"\n}").expect("write");
    let e = import(&store, &not).await.expect_err("not audit events");
    assert!(
        e.to_string().contains("patient.json") && e.to_string().contains("resourceType"),
        "{e}"
    );
}

#[tokio::test]
async fn token_events_are_fingerprinted_tied_and_audited() {
    let env = Env::new();
    let store = env.store().await;
    let id = identity(
        &store,
        add("test-app", "user/Observation.rs", "", Some("x")),
    )
    .await;
    let s = import_tokens(&store, &fixture("keycloak-events/02-CODE_TO_TOKEN.json"))
        .await
        .expect("import");
    assert_eq!((s.events, s.unknown_client), (1, 0));
    assert_eq!(s.by_kind.get("issued"), Some(&1));
    let (identity_id, fp): (Option<i64>, String) = on_pool!(store, |p| sqlx::query_as(
        "SELECT identity_id, token_fingerprint FROM token_event"
    )
    .fetch_one(p)
    .await)
    .expect("event");
    assert_eq!(identity_id, Some(id));
    assert!(fp.starts_with("hmac-sha256:"), "{fp}");
    let raw = "a3f5c2d1-9b7e-4f60-8c1d-2e4b6a8c0f13";
    for table in ["token_event", "audit_log"] {
        let sql = match table {
            "token_event" => "SELECT count(*) FROM token_event WHERE token_fingerprint LIKE '%' || $1 || '%' OR coalesce(subject, '') LIKE '%' || $1 || '%'",
            _ => "SELECT count(*) FROM audit_log WHERE details LIKE '%' || $1 || '%'",
        };
        let n: i64 = on_pool!(store, |p| sqlx::query_scalar(sql)
            .bind(raw)
            .fetch_one(p)
            .await)
        .expect("count");
        assert_eq!(n, 0, "the raw token id is in {table}");
    }
    let audited: i64 = on_pool!(store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'token.issued' AND subject = $1",
    )
    .bind(format!("identity:{id}"))
    .fetch_one(p)
    .await)
    .expect("count");
    assert_eq!(audited, 1);

    // A call that names no client but carries that token is tied to test-app through it.
    let mut log = Vec::new();
    log.extend_from_slice(format!(
        "{{\"resourceType\":\"AuditEvent\",\"type\":{{\"code\":\"rest\"}},\"subtype\":[{{\"system\":\"http://hl7.org/fhir/restful-interaction\",\"code\":\"read\"}}],\"recorded\":\"2026-11-01T10:00:00Z\",\"outcome\":\"0\",\"agent\":[{{\"who\":{{\"display\":\"Dr A\"}},\"requestor\":true,\"policy\":[\"urn:ietf:params:oauth:jti:{raw}\"]}}],\"entity\":[{{\"what\":{{\"reference\":\"Observation/1\"}}}}]}}\n"
    ).as_bytes());
    let path = env.dir.path().join("by-token.ndjson");
    std::fs::write(&path, &log).expect("write");
    let s = import(&store, &path).await.expect("import");
    assert!(s.unknown_clients.is_empty(), "{:?}", s.unknown_clients);

    let csv = env.dir.path().join("tokens.csv");
    std::fs::write(
        &csv,
        "time,client_id,environment,event,scopes,token_id,expires_in,subject\n\
         2026-11-01T10:00:00Z,test-app,production,scope_changed,user/Observation.rs user/Patient.rs,t-9,3600,u-1\n\
         2026-11-01T11:00:00Z,ghost,production,revoked,,t-10,,\n",
    )
    .expect("csv");
    let s = import_tokens(&store, &csv).await.expect("csv import");
    assert_eq!((s.events, s.unknown_client), (2, 1));
    let again = import_tokens(&store, &csv).await.expect("again");
    assert!(again.already_imported);
}

/// A BALP-shaped call: the application agent, the token id in `policy`, and a requestor
/// `who` when given.
fn balp_call(client: &str, token: &str, requestor: Option<&str>, n: u64) -> String {
    let human = requestor.map_or(String::new(), |who| {
        format!(r#",{{"who":{who},"requestor":true}}"#)
    });
    format!(
        r#"{{"resourceType":"AuditEvent","id":"e-{n}","type":{{"code":"rest"}},"subtype":[{{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}}],"recorded":"2026-11-20T08:30:00Z","outcome":"0","agent":[{{"type":{{"coding":[{{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110150"}}]}},"who":{{"identifier":{{"value":"{client}"}}}},"requestor":false,"policy":["urn:ietf:params:oauth:jti:{token}"]}}{human}],"entity":[{{"what":{{"reference":"Observation/o-{n}"}}}}]}}"#
    ) + "\n"
}

/// A patient app whose log names its user only by display, and a clinician app whose calls
/// name no person but carry a `user/` token Steward holds the issuance of: both were counted
/// outside their grants (user and system context); their kind and their token settle them.
#[tokio::test]
async fn a_call_without_a_person_requestor_is_judged_by_its_token_or_its_kind() {
    let env = Env::new();
    let store = env.store().await;
    let with_kind = |client: &str, kind: Kind, scopes: &str| {
        let mut n = add(client, scopes, scopes, Some("Shows results."));
        n.fields.kind = Some(kind);
        n
    };
    identity(
        &store,
        with_kind("portal", Kind::PatientApp, "patient/Observation.rs"),
    )
    .await;
    identity(
        &store,
        with_kind("charts", Kind::ServiceAccount, "user/Observation.rs"),
    )
    .await;
    identity(
        &store,
        with_kind("mixed", Kind::BackendService, "system/Observation.rs"),
    )
    .await;
    for (client, scope) in [
        ("portal", "patient/Observation.rs"),
        ("charts", "user/Observation.rs"),
        ("mixed", "system/Observation.rs"),
    ] {
        attest(
            &env,
            &store,
            client,
            "Shows results.",
            scope,
            "shows results",
        )
        .await;
    }
    let csv = env.dir.path().join("tokens.csv");
    std::fs::write(
        &csv,
        "time,client_id,environment,event,scopes,token_id,expires_in,subject\n\
         2026-11-20T08:00:00Z,charts,production,issued,openid fhirUser user/Observation.rs,t-user,3600,u-1\n\
         2026-11-20T08:00:00Z,mixed,production,issued,user/Observation.rs system/Observation.rs,t-mixed,3600,\n",
    )
    .expect("csv");
    import_tokens(&store, &csv).await.expect("tokens");

    let mut log = String::new();
    for n in 0..4 {
        log += &balp_call("portal", "t-none", Some(r#"{"display":"Jane Doe"}"#), n);
    }
    for n in 4..7 {
        log += &balp_call("charts", "t-user", None, n);
    }
    // A token whose scopes span two contexts settles nothing: the kind does.
    for n in 7..9 {
        log += &balp_call("mixed", "t-mixed", None, n);
    }
    // A patient named as requestor settles the context whatever the token: outside the grant.
    log += &balp_call(
        "charts",
        "t-user",
        Some(r#"{"reference":"Patient/p-1"}"#),
        9,
    );
    let path = env.dir.path().join("balp.ndjson");
    std::fs::write(&path, &log).expect("write");
    import(&store, &path).await.expect("import");

    let t = env.json(&["trace"]);
    assert_eq!(t["total_calls"], 10);
    assert_eq!(t["traced"], 9, "{t}");
    assert_eq!(t["outside_grant"], 1);
    assert_eq!(t["context_by_token"], 3);
    assert_eq!(t["context_by_identity"], 6);
    let out = env.cli(&["--db", env.db_arg(), "trace"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the scopes of the call's token"), "{text}");

    let contexts: Vec<(String, String, i64, i64, i64)> = on_pool!(store, |p| {
        sqlx::query_as(
        "SELECT client_id, context, calls, by_token, by_identity FROM usage_daily ORDER BY 1, 2"
    )
    .fetch_all(p)
    .await
    })
    .expect("rows");
    let contexts: Vec<_> = contexts
        .iter()
        .map(|(c, x, n, t, i)| (c.as_str(), x.as_str(), *n, *t, *i))
        .collect();
    assert_eq!(
        contexts,
        [
            ("charts", "patient", 1, 0, 0),
            ("charts", "user", 3, 3, 0),
            ("mixed", "system", 2, 0, 2),
            ("portal", "patient", 4, 0, 4),
        ]
    );
}

#[tokio::test]
async fn the_review_wizard_preselects_granted_but_unused_scopes() {
    let env = Env::new();
    let store = env.store().await;
    let granted = "user/Observation.rs user/Patient.rs";
    let id = identity(&store, add("app", granted, granted, Some("x"))).await;
    let mut log = Vec::new();
    push(
        &mut log,
        "app",
        "Observation",
        Interaction::SearchType,
        true,
        1,
    );
    let path = env.dir.path().join("w.ndjson");
    std::fs::write(&path, &log).expect("write");
    import(&store, &path).await.expect("import");
    let campaign = api::campaign_create(
        &store,
        now(),
        &actor(),
        steward::review::NewCampaign {
            name: "usage".into(),
            deadline: "2027-01-31".into(),
            ..Default::default()
        },
    )
    .await
    .expect("campaign");
    let item = api::review_items(
        &store,
        &steward::store::review::ItemQuery {
            campaign: Some(campaign.id),
            identity: Some(id),
            ..Default::default()
        },
    )
    .await
    .expect("items")
    .remove(0);
    let detail = api::review_item_show(&store, now(), item.id)
        .await
        .expect("detail");
    assert_eq!(
        detail.recommended_removals,
        vec!["user/Patient.rs".to_string()]
    );
}

/// Writes `bytes` into a new named pipe at `path` from a thread of its own.
fn pipe(path: &std::path::Path, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let path = path.to_path_buf();
    std::thread::spawn(move || std::fs::write(path, bytes).expect("write the pipe"))
}

#[tokio::test]
async fn a_log_read_from_a_pipe_counts_as_the_same_log_in_a_file() {
    let mut log = Vec::new();
    for (n, rt) in ["Observation", "Patient", "Encounter"].iter().enumerate() {
        push(
            &mut log,
            "app-a",
            rt,
            Interaction::Read,
            n != 1,
            n as u64 + 1,
        );
    }
    log.extend_from_slice(b"{not json\n");
    let table = |store: Store| async move {
        let rows: Vec<(String, String, String, i64, String, String)> =
            on_pool!(store, |p| sqlx::query_as(
                "SELECT client_id, resource_type, outcome, calls, first_seen, last_seen \
             FROM usage_daily ORDER BY 1, 2, 3",
            )
            .fetch_all(p)
            .await)
            .expect("rows");
        rows
    };

    let file_env = Env::new();
    let file_store = file_env.store().await;
    let file = file_env.dir.path().join("audit.ndjson");
    std::fs::write(&file, &log).expect("write log");
    let from_file = import(&file_store, &file).await.expect("import the file");

    let pipe_env = Env::new();
    let pipe_store = pipe_env.store().await;
    let fifo = pipe_env.dir.path().join("audit.pipe");
    let writer = pipe(&fifo, log.clone());
    let from_pipe = import(&pipe_store, &fifo).await.expect("import the pipe");
    writer.join().expect("the writer");

    assert_eq!(from_pipe.content_hash, from_file.content_hash);
    assert_eq!(
        (from_pipe.calls, from_pipe.malformed, from_pipe.bad.clone()),
        (3, 1, from_file.bad.clone())
    );
    assert_eq!(table(pipe_store).await, table(file_store).await);

    // A Bundle through a pipe is read as one document, as from a file.
    let bundle = serde_json::json!({
        "resourceType": "Bundle", "type": "searchset",
        "entry": [{"resource": serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(fixture("auditevents/balp-ex-auditBasicReadOServer.json")).expect("read"),
        ).expect("json")}]
    });
    let env = Env::new();
    let store = env.store().await;
    let fifo = env.dir.path().join("bundle.pipe");
    let writer = pipe(&fifo, serde_json::to_vec_pretty(&bundle).expect("json"));
    let s = import(&store, &fifo).await.expect("import the bundle");
    writer.join().expect("the writer");
    assert_eq!((s.calls, s.malformed), (1, 0));
}

#[tokio::test]
async fn a_second_log_adds_to_the_first_and_the_file_stays_whole() {
    let env = Env::new();
    let store = env.store().await;
    // 1,300 aggregates in the first log (several statements' worth), then a log that
    // repeats a third of them, once each, and adds ten on a day of its own.
    let days: Vec<String> = (1..=27)
        .map(|d| format!("2026-10-{d:02}T08:30:00Z"))
        .collect();
    let clients: Vec<String> = (0..50).map(|c| format!("app-{c:02}")).collect();
    let log = |keys: &mut dyn Iterator<Item = (usize, usize)>| {
        let mut log = Vec::new();
        for (n, (c, d)) in keys.enumerate() {
            let mut call = call(
                &clients[c],
                "Observation",
                Interaction::Read,
                true,
                n as u64,
            );
            call.recorded = &days[d];
            write_event(&mut log, &call).expect("write");
        }
        log
    };
    let first = log(&mut (0..50).flat_map(|c| (0..26).map(move |d| (c, d))));
    let second = log(&mut (0..50)
        .flat_map(|c| (0..26).map(move |d| (c, d)))
        .step_by(3)
        .chain((0..10).map(|c| (c, 26))));
    let (a, b) = (
        env.dir.path().join("a.ndjson"),
        env.dir.path().join("b.ndjson"),
    );
    std::fs::write(&a, &first).expect("write");
    std::fs::write(&b, &second).expect("write");
    let s = import(&store, &a).await.expect("first");
    assert_eq!((s.calls, s.aggregates), (1300, 1300));
    let s = import(&store, &b).await.expect("second");
    assert_eq!(s.calls, 434 + 10);
    assert_eq!(total_calls(&store).await, 1300 + 434 + 10);
    let twice: i64 = on_pool!(store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM usage_daily WHERE calls = 2"
    )
    .fetch_one(p)
    .await)
    .expect("count");
    assert_eq!(twice, 434, "a repeated key adds up");
    let rows: i64 = on_pool!(store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM usage_daily"
    )
    .fetch_one(p)
    .await)
    .expect("count");
    assert_eq!(rows, 1310);
    if env.is_pg() {
        return; // the file's integrity is SQLite's
    }
    let check: String = on_pool!(store, |p| sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(p)
        .await)
    .expect("check");
    assert_eq!(check, "ok");
}

#[tokio::test]
async fn a_failed_insert_of_aggregates_leaves_the_table_as_it_was() {
    use steward::store::usage::{add_usage, UsageBatch, UsageRow};
    use steward::store::Engine;
    let env = Env::new();
    let store = env.store().await;
    let row = |calls: u64, day: &'static str| UsageRow {
        client_id: "app-a".into(),
        day: day.into(),
        context: "user",
        resource_type: "Observation",
        interaction: "read",
        outcome: "success",
        identity_id: None,
        calls,
        by_token: 0,
        by_identity: 0,
        first_seen: "2026-11-01T08:00:00Z".into(),
        last_seen: "2026-11-01T09:00:00Z".into(),
    };
    // The last row breaks the `calls > 0` check, and the transaction is rolled back.
    let rows: Vec<UsageRow> = vec![row(3, "2026-11-01"), row(0, "2026-11-02")];
    let mut tx = store.begin_write().await.expect("begin");
    let batch = UsageBatch::new(store.engine(), Environment::Production, rows).expect("bound");
    let e = add_usage(&mut tx, batch)
        .await
        .expect_err("a row breaks a check");
    assert!(e.to_string().to_lowercase().contains("check"), "{e}");
    drop(tx);
    assert_eq!(total_calls(&store).await, 0);
    // Rows made ready for the other engine are refused, not run.
    let other = match store.engine() {
        Engine::Sqlite => Engine::Postgres,
        Engine::Postgres => Engine::Sqlite,
    };
    let batch =
        UsageBatch::new(other, Environment::Production, vec![row(3, "2026-11-01")]).expect("bound");
    let mut tx = store.begin_write().await.expect("begin");
    let e = add_usage(&mut tx, batch)
        .await
        .expect_err("another engine's rows");
    assert!(e.to_string().contains("another engine"), "{e}");
}

/// A window of days is from one day to ten years: zero, a negative count or one that would
/// overflow the clock is a clear error, not a crash.
#[rstest::rstest]
#[case(0)]
#[case(-5)]
#[case(3661)]
#[case(i64::MAX)]
#[tokio::test]
async fn a_window_of_days_out_of_bounds_is_refused(#[case] days: i64) {
    let env = Env::new();
    let store = env.store().await;
    let id = identity(
        &store,
        add("window", "system/Patient.rs", "system/Patient.rs", None),
    )
    .await;
    let e = api::usage_show(&store, now(), &IdentityRef::id(id), days)
        .await
        .expect_err("out of bounds");
    assert_eq!(e.code(), Code::Invalid);
    assert!(
        e.to_string()
            .contains(&format!("days: {days} days: must be from 1 to 3660")),
        "{e}"
    );
}
