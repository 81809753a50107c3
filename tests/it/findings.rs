//! Posture findings: each rule triggered by a constructed case, and a clean identity that
//! triggers none; acceptances; templates.

use rstest::rstest;

use crate::support::{actor, now, stderr, Env};
use steward::api::{self, IdentityEdit, NewIdentity, TemplateEdit};
use steward::inventory::{Environment, Kind};
use steward::policy::{Finding, FindingFilter, FindingStatus, Severity};
use steward::{time, Code, Store};

/// A clinician app that breaks no rule as of `now()`.
async fn clean(store: &Store, client_id: &str, env: Environment) -> i64 {
    let n = NewIdentity {
        client_id: client_id.into(),
        environment: Some(env),
        fields: IdentityEdit {
            name: Some(format!("Clean {client_id}")),
            kind: Some(Kind::ClinicianApp),
            business_owner: Some("Ana Lima <ana@hospital.example>".into()),
            technical_owner: Some("Dev Patel <dev@hospital.example>".into()),
            purpose: Some("Sepsis alerts in the clinician's workflow".into()),
            use_case: Some("clinical-decision-support".into()),
            approved_scopes: Some("openid fhirUser launch user/Observation.rs".into()),
            granted_scopes: Some("openid fhirUser launch user/Observation.rs".into()),
            auth_method: Some("private_key_jwt".into()),
            access_token_lifetime_s: Some(300),
            revocation_endpoint: Some("https://auth.hospital.example/revoke".into()),
            ..IdentityEdit::default()
        },
    };
    let id = api::identity_add(store, now(), &actor(), n)
        .await
        .expect("add")
        .identity
        .id;
    sql(
        store,
        "UPDATE identity_scope SET justification = 'Needed for the alert' WHERE identity_id = $1",
        id,
    )
    .await;
    sql(
        store,
        "UPDATE identity SET last_reviewed_at = '2026-11-01T00:00:00Z', \
         next_review_due = '2027-04-30T00:00:00Z', last_used_at = '2026-11-27T00:00:00Z' WHERE id = $1",
        id,
    )
    .await;
    id
}

async fn sql(store: &Store, statement: &str, id: i64) {
    on_pool!(store, |p| sqlx::query(statement)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .expect(statement);
}

async fn findings_of(store: &Store, id: i64) -> Vec<Finding> {
    let f = FindingFilter {
        identity_id: Some(id),
        ..Default::default()
    };
    api::findings_list(store, now(), &f)
        .await
        .expect("findings")
}

fn rules(list: &[Finding]) -> Vec<&str> {
    list.iter().map(|f| f.rule).collect()
}

#[tokio::test]
async fn a_clean_identity_has_no_findings() {
    let env = Env::new();
    let store = env.store().await;
    let id = clean(&store, "clean", Environment::Production).await;
    assert_eq!(rules(&findings_of(&store, id).await), Vec::<&str>::new());
}

#[rstest]
#[case::granted_beyond_approved("granted-beyond-approved",
    "INSERT INTO identity_scope (identity_id, scope_set, scope) VALUES ($1, 'granted', 'user/Observation.cud')")]
#[case::beyond_template(
    "beyond-template",
    "INSERT INTO identity_scope (identity_id, scope_set, scope, justification) VALUES \
     ($1, 'granted', 'user/Binary.rs', 'x'), ($1, 'approved', 'user/Binary.rs', 'x')"
)]
#[case::system_on_app(
    "beyond-template",
    "INSERT INTO identity_scope (identity_id, scope_set, scope, justification) VALUES \
     ($1, 'granted', 'system/Observation.rs', 'x'), ($1, 'approved', 'system/Observation.rs', 'x')"
)]
#[case::unjustified(
    "unjustified-approval",
    "UPDATE identity_scope SET justification = NULL WHERE identity_id = $1 AND scope = 'openid'"
)]
#[case::owner_missing(
    "owner-missing",
    "UPDATE identity SET technical_owner_id = NULL WHERE id = $1"
)]
#[case::owner_departed("owner-departed",
    "UPDATE person SET active = FALSE WHERE id = (SELECT business_owner_id FROM identity WHERE id = $1)")]
#[case::purpose_missing("purpose-missing", "UPDATE identity SET purpose = NULL WHERE id = $1")]
#[case::token_lifetime(
    "token-lifetime",
    "UPDATE identity SET access_token_lifetime_s = 7200 WHERE id = $1"
)]
#[case::refresh_on_backend(
    "refresh-on-backend",
    "UPDATE identity SET kind = 'backend_service', refresh_token_lifetime_s = 86400 WHERE id = $1"
)]
#[case::offline_not_allowed(
    "offline-not-allowed",
    "INSERT INTO identity_scope (identity_id, scope_set, scope, justification) VALUES \
     ($1, 'granted', 'offline_access', 'x'), ($1, 'approved', 'offline_access', 'x')"
)]
#[case::secret_auth("secret-auth",
    "UPDATE identity SET use_case = 'population-health-analytics', auth_method = 'client_secret_basic' WHERE id = $1")]
#[case::secret_stale("secret-stale",
    "INSERT INTO credential (identity_id, kind, fingerprint, issued_at) VALUES ($1, 'secret', 'hmac-sha256:00aa', '2024-01-01T00:00:00Z')")]
#[case::secret_expired(
    "secret-stale",
    "INSERT INTO credential (identity_id, kind, fingerprint, issued_at, expires_at) VALUES \
     ($1, 'secret', 'hmac-sha256:00bb', '2026-11-01T00:00:00Z', '2026-11-20T00:00:00Z')"
)]
#[case::review_overdue(
    "review-overdue",
    "UPDATE identity SET next_review_due = '2026-01-01T00:00:00Z' WHERE id = $1"
)]
#[case::never_reviewed(
    "never-reviewed",
    "UPDATE identity SET last_reviewed_at = NULL WHERE id = $1"
)]
#[case::dormant(
    "dormant",
    "UPDATE identity SET last_used_at = '2026-01-01T00:00:00Z' WHERE id = $1"
)]
#[case::revocation_missing(
    "revocation-path-missing",
    "UPDATE identity SET revocation_endpoint = NULL WHERE id = $1"
)]
#[case::unknown_use_case(
    "unknown-use-case",
    "UPDATE identity SET use_case = 'retired-template' WHERE id = $1"
)]
#[tokio::test]
async fn each_rule_fires_on_its_case(#[case] rule: &str, #[case] mutation: &str) {
    let env = Env::new();
    let store = env.store().await;
    let id = clean(&store, "case", Environment::Production).await;
    sql(&store, mutation, id).await;
    let found = findings_of(&store, id).await;
    let f = found
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("{rule} must fire: {:?}", rules(&found)));
    assert!(!f.evidence.is_empty() && !f.remediation.is_empty());
    assert_eq!(f.id, format!("{rule}:{id}"));
    assert_eq!(f.client_id, "case");
}

#[tokio::test]
async fn mappings_are_attached_from_data() {
    let env = Env::new();
    let store = env.store().await;
    let id = clean(&store, "m", Environment::Production).await;
    sql(
        &store,
        "UPDATE identity SET technical_owner_id = NULL WHERE id = $1",
        id,
    )
    .await;
    let f = &findings_of(&store, id).await[0];
    assert_eq!(*f.frameworks, ["GV.RR-02", "ID.AM-08", "NHI1:2025"]);
    assert_eq!(f.severity, Severity::High);
    let mapping = api::framework_mapping(&store).await.expect("mapping");
    for rule in steward::policy::rules::RULES
        .iter()
        .filter(|r| **r != "unknown-use-case")
    {
        assert!(
            mapping.iter().any(|m| m.rule == *rule),
            "{rule} maps to at least one control"
        );
    }
}

#[tokio::test]
async fn shared_credentials_and_client_ids_across_environments() {
    let env = Env::new();
    let store = env.store().await;
    let prod = clean(&store, "twin", Environment::Production).await;
    let sbx = clean(&store, "twin", Environment::Sandbox).await;
    let other = clean(&store, "other-sbx", Environment::Sandbox).await;
    for id in [prod, other] {
        sql(&store, "INSERT INTO credential (identity_id, kind, fingerprint, issued_at) VALUES ($1, 'secret', 'hmac-sha256:beef', '2026-11-01T00:00:00Z')", id).await;
    }
    let p = findings_of(&store, prod).await;
    assert!(rules(&p).contains(&"client-id-reuse"), "{:?}", rules(&p));
    let reuse = p
        .iter()
        .find(|f| f.rule == "credential-reuse")
        .expect("secret shared with sandbox");
    assert_eq!(reuse.severity, Severity::Critical, "production is involved");
    assert!(
        reuse.evidence.contains("other-sbx (sandbox)"),
        "{}",
        reuse.evidence
    );
    assert!(rules(&findings_of(&store, sbx).await).contains(&"client-id-reuse"));
}

#[tokio::test]
async fn retired_identities_are_not_evaluated() {
    let env = Env::new();
    let store = env.store().await;
    let id = clean(&store, "gone", Environment::Production).await;
    sql(
        &store,
        "UPDATE identity SET status = 'retired', purpose = NULL WHERE id = $1",
        id,
    )
    .await;
    assert!(findings_of(&store, id).await.is_empty());
}

/// A risk is accepted for a year at most unless the review policy says otherwise.
#[tokio::test]
async fn a_risk_is_accepted_for_at_most_the_policys_maximum() {
    let env = Env::new();
    let store = env.store().await;
    let id = clean(&store, "max", Environment::Production).await;
    sql(
        &store,
        "UPDATE identity SET revocation_endpoint = NULL WHERE id = $1",
        id,
    )
    .await;
    on_pool!(store, |p| sqlx::query(
        "INSERT INTO person (name, email) VALUES ('Cy', 'ciso@hospital.example')"
    )
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("person");
    let fid = format!("revocation-path-missing:{id}");
    let accept = |days: i64| {
        let (env, store, fid) = (&env, store.clone(), fid.clone());
        async move {
            crate::support::accept_as(
                env,
                &store,
                now(),
                &fid,
                now() + chrono::Duration::days(days),
                "vendor fix due",
                "ciso@hospital.example",
            )
            .await
        }
    };
    let e = accept(366).await.expect_err("past a year");
    assert_eq!(e.code(), Code::Invalid);
    assert!(e.to_string().contains("at most 365 days"), "{e}");
    api::review_policy_edit(
        &store,
        now(),
        &actor(),
        steward::review::PolicyEdit {
            acceptance_max_days: Some(30),
            ..Default::default()
        },
    )
    .await
    .expect("policy");
    let e = accept(31).await.expect_err("past the policy's 30 days");
    assert!(e.to_string().contains("at most 30 days"), "{e}");
    accept(30).await.expect("within the policy");
}

#[tokio::test]
async fn accepting_a_risk_needs_a_non_owner_a_reason_and_a_future_date_and_expires() {
    let env = Env::new();
    let store = env.store().await;
    let id = clean(&store, "acc", Environment::Production).await;
    sql(
        &store,
        "UPDATE identity SET revocation_endpoint = NULL WHERE id = $1",
        id,
    )
    .await;
    let fid = format!("revocation-path-missing:{id}");
    let until = time::parse("2027-01-31T00:00:00Z").expect("time");

    let e = crate::support::accept_as(
        &env,
        &store,
        now(),
        &fid,
        until,
        "vendor fix due",
        "ana@hospital.example",
    )
    .await
    .expect_err("the owner cannot accept");
    assert!(e.to_string().contains("owns this identity"), "{e}");
    let e = crate::support::accept_as(
        &env,
        &store,
        now(),
        &fid,
        now(),
        "x",
        "ciso@hospital.example",
    )
    .await
    .expect_err("past date");
    assert_eq!(e.code(), Code::Invalid);
    let e = crate::support::accept_as(
        &env,
        &store,
        now(),
        &fid,
        until,
        " ",
        "ciso@hospital.example",
    )
    .await
    .expect_err("no reason");
    assert_eq!(e.code(), Code::Invalid);

    // A person who exists and owns nothing here.
    on_pool!(store, |p| sqlx::query(
        "INSERT INTO person (name, email) VALUES ('Cy', 'ciso@hospital.example')"
    )
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("person");
    let f = crate::support::accept_as(
        &env,
        &store,
        now(),
        &fid,
        until,
        "vendor fix due",
        "ciso@hospital.example",
    )
    .await
    .expect("accepted");
    assert_eq!(f.status, FindingStatus::Accepted);
    assert!(
        findings_of(&store, id).await.is_empty(),
        "accepted findings leave the open list"
    );
    let all = FindingFilter {
        identity_id: Some(id),
        include_accepted: true,
        ..Default::default()
    };
    assert_eq!(
        api::findings_list(&store, now(), &all)
            .await
            .expect("all")
            .len(),
        1
    );
    let later = time::parse("2027-02-01T00:00:00Z").expect("time");
    let reopened = api::findings_list(
        &store,
        later,
        &FindingFilter {
            identity_id: Some(id),
            ..Default::default()
        },
    )
    .await
    .expect("later");
    assert!(
        reopened
            .iter()
            .any(|f| f.id == fid && f.status == FindingStatus::Open),
        "an expired acceptance reopens"
    );
    let log = api::audit_log(
        &store,
        &api::AuditQuery {
            subject: Some(format!("identity:{id}")),
            limit: Some(1),
            ..api::AuditQuery::default()
        },
    )
    .await
    .expect("log");
    assert_eq!(log[0].action, "finding.accept");
    assert_eq!(log[0].details["approver"], "ciso@hospital.example");
}

#[tokio::test]
async fn template_edits_are_audited_and_change_findings() {
    let env = Env::new();
    let store = env.store().await;
    let id = clean(&store, "t", Environment::Production).await;
    sql(
        &store,
        "UPDATE identity SET access_token_lifetime_s = 5400 WHERE id = $1",
        id,
    )
    .await;
    assert!(rules(&findings_of(&store, id).await).contains(&"token-lifetime"));
    let edit = TemplateEdit {
        max_access_token_lifetime_s: Some(7200),
        ..Default::default()
    };
    let t = api::template_edit(&store, now(), &actor(), "clinical-decision-support", edit)
        .await
        .expect("edit");
    assert_eq!(t.max_access_token_lifetime_s, Some(7200));
    assert!(!rules(&findings_of(&store, id).await).contains(&"token-lifetime"));
    let log = api::audit_log(
        &store,
        &api::AuditQuery {
            subject: Some("template:clinical-decision-support".into()),
            limit: None,
            ..api::AuditQuery::default()
        },
    )
    .await
    .expect("log");
    assert_eq!(
        log[0].details["changes"]["max_access_token_lifetime_s"]["to"],
        7200
    );
    let bad = TemplateEdit {
        max_scopes: Some("user/Observation.sr".into()),
        ..Default::default()
    };
    let e = api::template_edit(&store, now(), &actor(), "clinical-decision-support", bad)
        .await
        .expect_err("bad scope");
    assert_eq!(e.code(), Code::Invalid);
    let e = api::template_show(&store, "nope")
        .await
        .expect_err("unknown");
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn an_unknown_use_case_is_refused_on_import_and_add() {
    let env = Env::new();
    let store = env.store().await;
    let csv = env.dir.path().join("uc.csv");
    std::fs::write(
        &csv,
        "client_id,name,kind,environment,use_case\nx,X,clinician_app,production,astrology\n",
    )
    .expect("write");
    let e = api::registrations_import(&store, now(), &actor(), &csv, None, false)
        .await
        .expect_err("unknown key");
    match e {
        steward::Error::Import {
            location,
            field,
            message,
            ..
        } => {
            assert_eq!((location.as_str(), field.as_str()), ("line 2", "use_case"));
            assert!(
                message.contains("clinical-decision-support"),
                "lists the keys: {message}"
            );
        }
        other => panic!("expected an import error, got {other}"),
    }
}

#[test]
fn findings_json_carries_the_contract_fields() {
    let env = Env::new();
    env.json(&["demo", "--identities", "30"]);
    let list = env.json(&["findings", "--severity", "high"]);
    let rows = list.as_array().expect("array");
    assert!(!rows.is_empty());
    for r in rows {
        for key in [
            "rule",
            "severity",
            "identity_id",
            "client_id",
            "environment",
            "evidence",
            "remediation",
            "frameworks",
        ] {
            assert!(r.get(key).is_some(), "{key} in {r}");
        }
        assert_eq!(r["severity"], "high");
    }
    let out = env.cli(&["--db", env.db_arg(), "findings", "--rule", "nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a rule"), "{}", stderr(&out));
    let templates = env.json(&["templates", "list"]);
    assert!(templates
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["key"] == "patient-engagement-readonly")));
}

#[tokio::test]
async fn ai_agents_also_map_to_the_ai_rmf() {
    let env = Env::new();
    let store = env.store().await;
    let agent = clean(&store, "agent", Environment::Production).await;
    let plain = clean(&store, "plain", Environment::Staging).await;
    sql(
        &store,
        "UPDATE identity SET ai_agent = TRUE WHERE id = $1",
        agent,
    )
    .await;
    for id in [agent, plain] {
        sql(
            &store,
            "UPDATE identity SET technical_owner_id = NULL WHERE id = $1",
            id,
        )
        .await;
    }
    let a = &findings_of(&store, agent).await[0];
    assert!(
        a.frameworks.contains(&"GOVERN 2.1".to_string()),
        "{:?}",
        a.frameworks
    );
    let p = &findings_of(&store, plain).await[0];
    assert!(
        !p.frameworks.iter().any(|c| c.starts_with("GOVERN")),
        "{:?}",
        p.frameworks
    );
}

#[tokio::test]
async fn the_csv_ai_agent_column_is_read_and_checked() {
    let env = Env::new();
    let store = env.store().await;
    let csv = env.dir.path().join("ai.csv");
    std::fs::write(
        &csv,
        "client_id,name,kind,environment,ai_agent\na1,Agent,service_account,production,yes\n",
    )
    .expect("write");
    api::registrations_import(&store, now(), &actor(), &csv, None, false)
        .await
        .expect("import");
    let d = api::identity_show(
        &store,
        &api::IdentityRef {
            key: "a1".into(),
            environment: None,
        },
    )
    .await
    .expect("show");
    assert!(d.identity.ai_agent);
    std::fs::write(
        &csv,
        "client_id,name,kind,environment,ai_agent\na2,Agent,service_account,production,maybe\n",
    )
    .expect("write");
    let e = api::registrations_import(&store, now(), &actor(), &csv, None, false)
        .await
        .expect_err("bad flag");
    assert!(e.to_string().contains("line 2: ai_agent:"), "{e}");
}

#[tokio::test]
async fn the_dashboard_counts_agree_with_the_findings_and_keep_a_daily_series() {
    let env = Env::new();
    let store = env.store().await;
    let empty = api::dashboard(&store, now())
        .await
        .expect("empty dashboard");
    assert_eq!((empty.identities, empty.open_findings), (0, 0));
    assert_eq!(
        empty.least_privilege_pct, 100.0,
        "nothing over-privileged in an empty inventory"
    );

    let a = clean(&store, "a", Environment::Production).await;
    clean(&store, "b", Environment::Sandbox).await;
    sql(&store, "INSERT INTO identity_scope (identity_id, scope_set, scope) VALUES ($1, 'granted', 'user/*.cruds')", a).await;
    sql(
        &store,
        "UPDATE identity SET next_review_due = '2026-01-01T00:00:00Z' WHERE id = $1",
        a,
    )
    .await;
    let d = api::dashboard(&store, now()).await.expect("dashboard");
    let open = api::findings_list(&store, now(), &FindingFilter::default())
        .await
        .expect("findings");
    assert_eq!(d.identities, 2);
    assert_eq!(d.open_findings, open.len() as i64);
    assert_eq!(
        d.findings_by_severity.iter().map(|c| c.count).sum::<i64>(),
        d.open_findings
    );
    assert_eq!(
        d.least_privilege_pct, 50.0,
        "one of two identities has access beyond approval"
    );
    assert_eq!(d.reviews_overdue, 1);
    assert!(d.findings_by_control.iter().any(|c| c.label == "PR.AA-05"));
    let prod = d
        .by_environment
        .iter()
        .find(|e| e.environment == Environment::Production)
        .expect("prod");
    assert_eq!(prod.kinds[0].label, "clinician_app");
    assert_eq!(
        d.history.len(),
        1,
        "one point a day, replaced when recomputed"
    );
    assert_eq!(d.history[0].day, "2026-11-28");
    let next_day = time::parse("2026-11-29T09:00:00Z").expect("time");
    let d2 = api::dashboard(&store, next_day).await.expect("next day");
    assert_eq!(d2.history.len(), 2);
}

#[tokio::test]
async fn the_dashboard_counts_what_the_findings_list_lists() {
    let env = Env::new();
    let store = crate::support::seeded(&env, 400, 7).await;
    let d = api::dashboard(&store, now()).await.expect("dashboard");
    let open = api::findings_list(&store, now(), &FindingFilter::default())
        .await
        .expect("findings");
    assert!(open.len() > 100, "{} findings", open.len());
    assert_eq!(d.open_findings, open.len() as i64);
    for c in &d.findings_by_severity {
        let n = open
            .iter()
            .filter(|f| f.severity.as_str() == c.label)
            .count();
        assert_eq!(c.count, n as i64, "{}", c.label);
    }
    let mut controls = std::collections::BTreeMap::<String, i64>::new();
    for f in &open {
        for c in f.frameworks.iter() {
            *controls.entry(c.clone()).or_default() += 1;
        }
    }
    let shown: std::collections::BTreeMap<String, i64> = d
        .findings_by_control
        .iter()
        .map(|c| (c.label.clone(), c.count))
        .collect();
    assert_eq!(shown, controls);
    let over: std::collections::HashSet<i64> = open
        .iter()
        .filter(|f| ["granted-beyond-approved", "beyond-template"].contains(&f.rule))
        .map(|f| f.identity_id)
        .collect();
    let all = api::identity_list(&store, &Default::default())
        .await
        .expect("list");
    let evaluated = all
        .rows
        .iter()
        .filter(|i| !matches!(i.status.as_str(), "retired" | "revoked"))
        .count() as f64;
    let want = 100.0 * (evaluated - over.len() as f64) / evaluated;
    assert!(
        (d.least_privilege_pct - (want * 10.0).round() / 10.0).abs() < 1e-9,
        "{} with {} of {evaluated} over-privileged",
        d.least_privilege_pct,
        over.len()
    );
    // The other figures, as the database counts them.
    type Kinds = Vec<(String, String, i64)>;
    let mut kinds: Kinds = on_pool!(store, |p| sqlx::query_as(
        "SELECT environment, kind, count(*) FROM identity GROUP BY environment, kind"
    )
    .fetch_all(p)
    .await)
    .expect("kinds");
    let mut shown: Kinds = d
        .by_environment
        .iter()
        .flat_map(|e| {
            e.kinds
                .iter()
                .map(|k| (e.environment.as_str().to_string(), k.label.clone(), k.count))
        })
        .collect();
    shown.sort();
    kinds.sort();
    assert_eq!(shown, kinds);
    assert_eq!(d.identities, all.rows.len() as i64);
    let (now_text, soon) = (
        steward::time::format(now()),
        steward::time::format(now() + chrono::Duration::days(30)),
    );
    let due: (i64, i64) = on_pool!(store, |p| sqlx::query_as(
        "SELECT count(*) FILTER (WHERE next_review_due < $1), \
                count(*) FILTER (WHERE next_review_due >= $1 AND next_review_due < $2) \
         FROM identity WHERE status NOT IN ('retired', 'revoked')"
    )
    .bind(&now_text)
    .bind(&soon)
    .fetch_one(p)
    .await)
    .expect("reviews due");
    assert!(
        due.0 > 0 && due.1 > 0,
        "the demo has reviews overdue and due soon: {due:?}"
    );
    assert_eq!((d.reviews_overdue, d.reviews_due_30_days), due);
}

#[tokio::test]
async fn a_template_never_flags_its_own_scopes() {
    let env = Env::new();
    let store = env.store().await;
    let id = clean(&store, "adt", Environment::Production).await;
    sql(
        &store,
        "UPDATE identity SET kind = 'backend_service', use_case = 'adt-feed' WHERE id = $1",
        id,
    )
    .await;
    sql(
        &store,
        "DELETE FROM identity_scope WHERE identity_id = $1",
        id,
    )
    .await;
    sql(
        &store,
        "INSERT INTO identity_scope (identity_id, scope_set, scope, justification) VALUES \
         ($1, 'approved', 'system/Patient.rs', 'x'), ($1, 'granted', 'system/Patient.rs', 'x'), \
         ($1, 'approved', 'system/Encounter.cud', 'x'), ($1, 'granted', 'system/Encounter.cud', 'x')",
        id,
    )
    .await;
    assert_eq!(rules(&findings_of(&store, id).await), Vec::<&str>::new());
    sql(&store, "INSERT INTO identity_scope (identity_id, scope_set, scope) VALUES ($1, 'granted', 'system/*.rs')", id).await;
    let found = findings_of(&store, id).await;
    let t = found
        .iter()
        .find(|f| f.rule == "beyond-template")
        .expect("wildcard export");
    assert!(t.evidence.contains("bulk export"), "{}", t.evidence);
}

#[tokio::test]
async fn templates_are_created_and_deleted_unless_in_use() {
    let env = Env::new();
    let store = env.store().await;
    let t = env.json(&[
        "templates",
        "create",
        "lab-feed",
        "--name",
        "Lab feed",
        "--max-scopes",
        "system/Observation.rs",
    ]);
    assert_eq!(t["name"], "Lab feed");
    assert_eq!(
        t["max_scopes"],
        serde_json::json!(["system/Observation.rs"])
    );
    let again = env.cli(&["--db", env.db_arg(), "templates", "create", "lab-feed"]);
    assert!(!again.status.success());
    let bad = env.cli(&["--db", env.db_arg(), "templates", "create", "Lab Feed"]);
    assert!(stderr(&bad).contains("key"), "{}", stderr(&bad));
    api::identity_add(
        &store,
        now(),
        &actor(),
        api::NewIdentity {
            client_id: "lab".into(),
            environment: Some(steward::inventory::Environment::Staging),
            fields: api::IdentityEdit {
                name: Some("Lab".into()),
                kind: Some(steward::inventory::Kind::BackendService),
                use_case: Some("lab-feed".into()),
                ..api::IdentityEdit::default()
            },
        },
    )
    .await
    .expect("add");
    let in_use = env.cli(&["--db", env.db_arg(), "templates", "delete", "lab-feed"]);
    assert!(
        stderr(&in_use).contains("1 identities use 'lab-feed'"),
        "{}",
        stderr(&in_use)
    );
    crate::support::exec(&store, "UPDATE identity SET use_case = NULL")
        .await
        .expect("clear the use case");
    env.json(&["templates", "delete", "lab-feed"]);
    let log = env.json(&["audit", "log", "--action", "template."]);
    let actions: Vec<&str> = log
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["template.delete", "template.create"]);
}
