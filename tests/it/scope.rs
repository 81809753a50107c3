//! The scope CLI contract and canonical scope storage.

use crate::support::{actor, now, stderr, Env};
use steward::api::{self, IdentityEdit, IdentityRef, NewIdentity};
use steward::inventory::{Environment, Kind};

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn scope_parse_prints_one_contract_object_per_line() {
    let env = Env::new();
    let out = env.cli(&[
        "scope",
        "parse",
        "--json",
        "patient/Observation.read",
        "launch/patient",
        "patient/Foo.rs",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = lines(&out);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        for key in [
            "scope", "valid", "context", "resource", "perms", "query", "error",
        ] {
            assert!(r.get(key).is_some(), "contract key {key} in {r}");
        }
    }
    assert_eq!(rows[0]["context"], "patient");
    assert_eq!(rows[0]["resource"], "Observation");
    assert_eq!(rows[0]["perms"], "rs", "v1 read is rs in cruds order");
    assert_eq!(rows[1]["resource"], "launch/patient");
    assert!(rows[1]["context"].is_null() && rows[1]["perms"].is_null());
    assert_eq!(rows[2]["valid"], false);
    assert!(rows[2]["error"].as_str().is_some_and(|e| e.contains("Foo")));
    assert!(
        !env.dir.path().join("xdg-data").exists(),
        "scope commands need no database"
    );
}

#[test]
fn scope_allows_exits_zero_either_way_and_two_on_bad_input() {
    let env = Env::new();
    let run = |granted: &str, ctx: Option<&str>, req: &str| {
        let mut args = vec!["scope", "allows", "--granted", granted];
        if let Some(c) = ctx {
            args.extend(["--context", c]);
        }
        args.extend(["--", req]);
        env.cli(&args)
    };
    let out = run(
        "patient/Observation.rs",
        Some("patient"),
        "GET Observation?patient=1",
    );
    assert!(out.status.success());
    let d = &lines(&out)[0];
    assert_eq!(
        (d["allowed"].as_bool(), d["by"].as_str()),
        (Some(true), Some("patient/Observation.rs"))
    );

    let out = run(
        "user/Observation.rs",
        Some("patient"),
        "GET Observation?patient=1",
    );
    assert!(out.status.success(), "a denial is an answer, not an error");
    let d = &lines(&out)[0];
    assert_eq!(d["allowed"], false);
    assert!(d["by"].is_null());
    assert!(d["reason"].as_str().is_some_and(|r| !r.is_empty()));

    let out = run("system/*.rs", None, "GET Group/g1/$export");
    assert_eq!(lines(&out)[0]["allowed"], true);

    for (granted, req) in [
        ("patient/Observation.rs", "FETCH Observation"),
        ("patient/Observation.sr", "GET Observation"),
    ] {
        let out = run(granted, None, req);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{granted} / {req}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).is_empty());
    }
}

#[test]
fn scope_explain_and_diff() {
    let env = Env::new();
    let out = env.cli(&[
        "scope",
        "explain",
        "patient/Observation.rs?category=laboratory",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Read and search Observation resources of the patient in context (only where category = laboratory)"));
    let out = env.cli(&[
        "--json",
        "scope",
        "diff",
        "--approved",
        "openid patient/Observation.rs",
        "--granted",
        "openid patient/*.read offline_access",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        d["beyond_approved"],
        serde_json::json!(["offline_access", "patient/*.rs"])
    );
    assert_eq!(d["approved_not_granted"], serde_json::json!([]));
    assert_eq!(d["approved_risk"]["score"], 0);
    assert!(d["granted_risk"]["score"].as_u64().is_some_and(|s| s > 0));
}

#[tokio::test]
async fn stored_scopes_are_canonical_and_invalid_ones_kept_and_flagged() {
    let env = Env::new();
    let store = env.store().await;
    let n = NewIdentity {
        client_id: "legacy".into(),
        environment: Some(Environment::Sandbox),
        fields: IdentityEdit {
            name: Some("Legacy".into()),
            kind: Some(Kind::PatientApp),
            approved_scopes: Some("patient/Observation.read launch/patient".into()),
            granted_scopes: Some(
                "patient/Observation.read patient/Observation.rs patient/*.write __vendor_admin"
                    .into(),
            ),
            ..IdentityEdit::default()
        },
    };
    api::identity_add(&store, now(), &actor(), n)
        .await
        .expect("add");
    let d = api::identity_show(
        &store,
        &IdentityRef {
            key: "legacy".into(),
            environment: None,
        },
    )
    .await
    .expect("show");
    assert_eq!(
        d.identity.granted_scopes,
        ["__vendor_admin", "patient/*.cud", "patient/Observation.rs"]
    );
    let bad = d
        .grants
        .iter()
        .find(|g| g.scope == "__vendor_admin")
        .expect("kept verbatim");
    assert!(!bad.info.valid, "an invalid stored scope is flagged");
    let wild = d
        .grants
        .iter()
        .find(|g| g.scope == "patient/*.cud")
        .expect("canonical");
    assert!(!wild.approved, "write on every type was never approved");
    assert!(d
        .grants
        .iter()
        .any(|g| g.scope == "patient/Observation.rs" && g.approved));
    assert_eq!(d.scope_diff.beyond_approved, ["patient/*.cud"]);
    assert_eq!(d.scope_diff.approved_not_granted, ["launch/patient"]);
    assert!(d.identity.risk_score > 0);
}
