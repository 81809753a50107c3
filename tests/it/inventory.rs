//! Identities through `steward::api`: create, resolve, owners, purpose, retire, list.

use crate::support::{actor, now, rows, snapshot, Env};
use steward::api::{self, DemoOptions, IdentityEdit, IdentityRef, NewIdentity};
use steward::inventory::{Environment, IdentityFilter, IdentitySort, Kind, OwnerRole, Status};
use steward::Code;

fn new_app(client_id: &str, env: Environment) -> NewIdentity {
    NewIdentity {
        client_id: client_id.into(),
        environment: Some(env),
        fields: IdentityEdit {
            name: Some(format!("App {client_id}")),
            kind: Some(Kind::ClinicianApp),
            business_owner: Some("Ana Lima <ana@hospital.example>".into()),
            technical_owner: Some("dev@hospital.example".into()),
            purpose: Some("Shows lab trends".into()),
            approved_scopes: Some("openid user/Observation.rs".into()),
            granted_scopes: Some("openid user/Observation.rs user/Patient.rs".into()),
            ..IdentityEdit::default()
        },
    }
}

async fn add(
    store: &steward::Store,
    client_id: &str,
    env: Environment,
) -> steward::inventory::IdentityDetail {
    api::identity_add(store, now(), &actor(), new_app(client_id, env))
        .await
        .expect("add")
}

fn by_client(key: &str, environment: Option<Environment>) -> IdentityRef {
    IdentityRef {
        key: key.into(),
        environment,
    }
}

#[tokio::test]
async fn the_schema_is_created_with_wal_full_sync_and_foreign_keys() {
    let env = Env::sqlite(); // a file's journal and sync modes
    let store = env.store().await;
    let mode: String = on_pool!(store, |p| sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(p)
        .await)
    .expect("pragma");
    let sync: i64 = on_pool!(store, |p| sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(p)
        .await)
    .expect("pragma");
    let fk: i64 = on_pool!(store, |p| sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(p)
        .await)
    .expect("pragma");
    assert_eq!(
        (mode.as_str(), sync, fk),
        ("wal", 2, 1),
        "WAL, synchronous=FULL, foreign keys on"
    );
    store.close().await;
    // Opening again must find the migrations applied and change nothing.
    let again = env.store().await;
    assert_eq!(rows(&again, "identity").await, 0);
}

#[tokio::test]
async fn add_then_show_resolves_owners_and_records_history() {
    let env = Env::new();
    let store = env.store().await;
    let d = add(&store, "labs", Environment::Production).await;
    assert_eq!(
        d.identity.business_owner.as_ref().map(|p| p.email.as_str()),
        Some("ana@hospital.example")
    );
    assert_eq!(
        d.identity.technical_owner.as_ref().map(|p| p.name.as_str()),
        Some("dev")
    );
    assert_eq!(
        d.identity.granted_scopes,
        ["openid", "user/Observation.rs", "user/Patient.rs"]
    );
    assert_eq!(d.history.len(), 1, "creation is audited");
    assert_eq!(d.history[0].action, "identity.create");
    assert_eq!(d.history[0].actor, env.audit_actor("reviewer@test"));
    assert_eq!(
        d.identity.next_review_due.as_deref(),
        Some("2027-05-27T12:00:00Z"),
        "a production identity never reviewed is due 180 days after creation"
    );
}

#[tokio::test]
async fn adding_the_same_client_in_the_same_environment_is_a_conflict() {
    let env = Env::new();
    let store = env.store().await;
    add(&store, "dup", Environment::Staging).await;
    let before = snapshot(&store).await;
    let e = api::identity_add(
        &store,
        now(),
        &actor(),
        new_app("dup", Environment::Staging),
    )
    .await
    .expect_err("second add must fail");
    assert_eq!(e.code(), Code::Conflict);
    assert_eq!(
        snapshot(&store).await,
        before,
        "a refused add must leave nothing behind"
    );
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let env = Env::new();
    let store = env.store().await;
    let mut n = new_app("x", Environment::Sandbox);
    n.fields.business_owner = Some("not-an-email".into());
    let e = api::identity_add(&store, now(), &actor(), n)
        .await
        .expect_err("bad email");
    assert_eq!(e.code(), Code::Invalid);
    assert!(e.to_string().starts_with("business_owner:"), "{e}");

    let mut n = new_app("y", Environment::Sandbox);
    n.fields.access_token_lifetime_s = Some(-5);
    let e = api::identity_add(&store, now(), &actor(), n)
        .await
        .expect_err("negative lifetime");
    assert!(e.to_string().starts_with("access_token_lifetime_s:"), "{e}");
    assert_eq!(
        rows(&store, "identity").await,
        0,
        "failed adds must leave no identity"
    );
    assert_eq!(
        rows(&store, "audit_log").await,
        0,
        "failed adds must leave no audit entry"
    );
}

#[tokio::test]
async fn a_client_id_in_two_environments_needs_the_environment() {
    let env = Env::new();
    let store = env.store().await;
    let prod = add(&store, "twin", Environment::Production).await;
    add(&store, "twin", Environment::Sandbox).await;
    let e = api::identity_show(&store, &by_client("twin", None))
        .await
        .expect_err("ambiguous");
    assert_eq!(e.code(), Code::Ambiguous);
    assert!(
        e.to_string().contains("production") && e.to_string().contains("sandbox"),
        "{e}"
    );
    let d = api::identity_show(&store, &by_client("twin", Some(Environment::Production)))
        .await
        .expect("resolved");
    assert_eq!(d.identity.id, prod.identity.id);
    let by_id = api::identity_show(&store, &IdentityRef::id(prod.identity.id))
        .await
        .expect("by id");
    assert_eq!(by_id.identity.client_id, "twin");
    let e = api::identity_show(&store, &by_client("nope", None))
        .await
        .expect_err("unknown");
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn owner_and_purpose_changes_are_audited_and_departed_people_refused() {
    let env = Env::new();
    let store = env.store().await;
    let d = add(&store, "own", Environment::Production).await;
    let r = IdentityRef::id(d.identity.id);
    let d = api::identity_set_owner(
        &store,
        now(),
        &actor(),
        &r,
        OwnerRole::Business,
        "Bo Berg <bo@hospital.example>",
    )
    .await
    .expect("set owner");
    assert_eq!(
        d.identity.business_owner.as_ref().map(|p| p.name.as_str()),
        Some("Bo Berg")
    );
    let d = api::identity_set_purpose(
        &store,
        now(),
        &actor(),
        &r,
        "Trends for diabetes clinic",
        Some("clinical-decision-support".into()),
    )
    .await
    .expect("set purpose");
    assert_eq!(
        d.identity.purpose.as_deref(),
        Some("Trends for diabetes clinic")
    );
    let actions: Vec<&str> = d.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "identity.set_purpose",
            "identity.set_owner",
            "identity.create"
        ]
    );
    let change = &d.history[1].details["changes"]["business_owner_id"];
    assert!(
        change["from"].is_i64() && change["to"].is_i64(),
        "the owner change names both ids: {change}"
    );

    let e = api::identity_set_purpose(&store, now(), &actor(), &r, "  ", None)
        .await
        .expect_err("empty");
    assert_eq!(e.code(), Code::Invalid);

    let bo = d.identity.business_owner.expect("owner").id;
    on_pool!(store, |p| sqlx::query(
        "UPDATE person SET active = FALSE WHERE id = $1"
    )
    .bind(bo)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("depart");
    let e = api::identity_set_owner(
        &store,
        now(),
        &actor(),
        &r,
        OwnerRole::Technical,
        "bo@hospital.example",
    )
    .await
    .expect_err("departed person");
    assert!(e.to_string().contains("left the organization"), "{e}");
}

#[tokio::test]
async fn edit_changes_only_the_given_fields_validated_and_audited() {
    let env = Env::new();
    let store = env.store().await;
    let d = add(&store, "ed", Environment::Production).await;
    let id = d.identity.id.to_string();
    let cli = |extra: &[&str]| {
        let mut args = vec!["--db", env.db_arg(), "--json", "identity", "edit", &id];
        args.extend_from_slice(extra);
        env.cli(&args)
    };
    let out = cli(&[
        "--vendor",
        "Acme",
        "--technical-owner",
        "Kim Ode <kim@hospital.example>",
        "--access-token-lifetime-s",
        "600",
        "--ai-agent",
        "true",
    ]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let shown = api::identity_show(&store, &IdentityRef::id(d.identity.id))
        .await
        .expect("show");
    let i = &shown.identity;
    assert_eq!(i.vendor.as_deref(), Some("Acme"));
    assert_eq!(i.access_token_lifetime_s, Some(600));
    assert!(i.ai_agent);
    assert_eq!(
        i.technical_owner.as_ref().map(|p| p.email.as_str()),
        Some("kim@hospital.example")
    );
    assert_eq!(i.name, d.identity.name, "a field not given keeps its value");
    assert_eq!(i.purpose, d.identity.purpose);
    assert_eq!(shown.history[0].action, "identity.update");
    let changed = shown.history[0].details["changes"]
        .as_object()
        .expect("changes");
    for field in [
        "vendor",
        "access_token_lifetime_s",
        "ai_agent",
        "technical_owner_id",
    ] {
        assert!(changed.contains_key(field), "{field} in {changed:?}");
    }
    assert!(!changed.contains_key("name"), "{changed:?}");

    for (args, field) in [
        (
            &["--access-token-lifetime-s=-5"][..],
            "access_token_lifetime_s",
        ),
        (&["--use-case", "no-such-template"][..], "use_case"),
        (&["--business-owner", "not an email"][..], "business_owner"),
        (&["--name", " "][..], "name"),
    ] {
        let out = cli(args);
        let err = crate::support::stderr(&out);
        assert!(
            !out.status.success() && err.contains(field),
            "{args:?}: {err}"
        );
    }
    let unchanged = api::identity_show(&store, &IdentityRef::id(d.identity.id))
        .await
        .expect("show");
    assert_eq!(
        unchanged.history.len(),
        shown.history.len(),
        "a refused edit writes nothing"
    );

    api::identity_retire(
        &store,
        now(),
        &actor(),
        &IdentityRef::id(d.identity.id),
        None,
    )
    .await
    .expect("retire");
    let e = api::identity_edit(
        &store,
        now(),
        &actor(),
        &IdentityRef::id(d.identity.id),
        IdentityEdit {
            vendor: Some("Other".into()),
            ..IdentityEdit::default()
        },
    )
    .await
    .expect_err("retired");
    assert_eq!(e.code(), Code::Conflict);
}

#[tokio::test]
async fn retire_keeps_the_identity_and_refuses_twice() {
    let env = Env::new();
    let store = env.store().await;
    let d = add(&store, "old", Environment::Staging).await;
    let r = IdentityRef::id(d.identity.id);
    let d = api::identity_retire(
        &store,
        now(),
        &actor(),
        &r,
        Some("vendor contract ended".into()),
    )
    .await
    .expect("retire");
    assert_eq!(d.identity.status, Status::Retired);
    assert_eq!(d.history[0].action, "identity.retire");
    assert_eq!(d.history[0].details["reason"], "vendor contract ended");
    let e = api::identity_retire(&store, now(), &actor(), &r, None)
        .await
        .expect_err("twice");
    assert_eq!(e.code(), Code::Conflict);
}

#[tokio::test]
async fn list_filters_searches_sorts_and_pages() {
    let env = Env::new();
    let store = env.store().await;
    api::demo_seed(
        &store,
        now(),
        &actor(),
        DemoOptions {
            identities: 300,
            seed: 3,
        },
    )
    .await
    .expect("demo");
    let all = api::identity_list(&store, &IdentityFilter::default())
        .await
        .expect("list");
    assert_eq!((all.total, all.rows.len()), (300, 300));

    let prod = IdentityFilter {
        environment: Some(Environment::Production),
        ..Default::default()
    };
    let page = api::identity_list(&store, &prod).await.expect("prod");
    assert!(
        page.total > 0
            && page
                .rows
                .iter()
                .all(|r| r.environment == Environment::Production)
    );

    let backend = IdentityFilter {
        kind: Some(Kind::BackendService),
        status: Some(Status::Active),
        ..Default::default()
    };
    let page = api::identity_list(&store, &backend).await.expect("backend");
    assert!(page
        .rows
        .iter()
        .all(|r| r.kind == Kind::BackendService && r.status == Status::Active));

    let search = IdentityFilter {
        search: Some("sepsis".into()),
        ..Default::default()
    };
    let page = api::identity_list(&store, &search).await.expect("search");
    assert!(
        page.total > 0
            && page
                .rows
                .iter()
                .all(|r| r.name.to_lowercase().contains("sepsis"))
    );

    let wild = IdentityFilter {
        search: Some("100%_".into()),
        ..Default::default()
    };
    assert_eq!(
        api::identity_list(&store, &wild).await.expect("wild").total,
        0,
        "LIKE wildcards are literal"
    );

    let most = IdentityFilter {
        sort: IdentitySort::GrantedScopes,
        descending: true,
        limit: Some(20),
        ..Default::default()
    };
    let page = api::identity_list(&store, &most).await.expect("sorted");
    let counts: Vec<usize> = page.rows.iter().map(|r| r.granted_scopes.len()).collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "sorted by granted count: {counts:?}"
    );
    assert_eq!(page.rows.len(), 20);

    let second = IdentityFilter {
        limit: Some(100),
        offset: Some(100),
        ..Default::default()
    };
    let page2 = api::identity_list(&store, &second).await.expect("page 2");
    assert_eq!(
        page2.rows[0].id, all.rows[100].id,
        "paging follows the same order"
    );
}

#[tokio::test]
async fn demo_refuses_a_database_that_has_identities() {
    let env = Env::new();
    let store = env.store().await;
    let s = api::demo_seed(&store, now(), &actor(), DemoOptions::default())
        .await
        .expect("demo");
    assert_eq!(s.identities, 60);
    let created: i64 = on_pool!(store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'identity.create'"
    )
    .fetch_one(p)
    .await)
    .expect("count");
    assert_eq!(created, 60, "one entry per identity");
    assert_eq!(
        s.campaign.is_some(),
        rows(&store, "review_campaign").await == 1,
        "the demo campaign is reported"
    );
    let before = snapshot(&store).await;
    let e = api::demo_seed(&store, now(), &actor(), DemoOptions::default())
        .await
        .expect_err("twice");
    assert_eq!(e.code(), Code::Conflict);
    assert_eq!(snapshot(&store).await, before);
    assert!(api::demo_seed_if_empty(&store, now(), &actor())
        .await
        .expect("check")
        .is_none());
}

#[tokio::test]
async fn a_person_who_departs_leaves_an_owner_departed_finding() {
    let env = Env::new();
    let store = env.store().await;
    let d = api::identity_add(
        &store,
        now(),
        &actor(),
        NewIdentity {
            client_id: "rounds".into(),
            environment: Some(Environment::Production),
            fields: IdentityEdit {
                name: Some("Rounds list".into()),
                kind: Some(Kind::ClinicianApp),
                business_owner: Some("Lea Park <lea@example.org>".into()),
                ..IdentityEdit::default()
            },
        },
    )
    .await
    .expect("add");
    let rules = |fs: Vec<steward::policy::Finding>| -> Vec<&'static str> {
        fs.iter().map(|f| f.rule).collect()
    };
    let filter = steward::policy::FindingFilter {
        identity_id: Some(d.identity.id),
        ..Default::default()
    };
    let before = api::findings_list(&store, now(), &filter)
        .await
        .expect("findings");
    assert!(!rules(before).contains(&"owner-departed"));
    let p = env.json(&["person", "depart", "lea@example.org"]);
    assert_eq!(p["active"], false);
    let after = api::findings_list(&store, now(), &filter)
        .await
        .expect("findings");
    assert!(rules(after).contains(&"owner-departed"));
    let log = env.json(&["audit", "log", "--action", "person."]);
    assert_eq!(log[0]["action"], "person.depart");
    env.json(&["person", "return", "lea@example.org"]);
    let back = api::findings_list(&store, now(), &filter)
        .await
        .expect("findings");
    assert!(!rules(back).contains(&"owner-departed"));
}

#[tokio::test]
async fn a_roster_adds_people_and_marks_who_has_left_after_a_preview() {
    let env = Env::new();
    let store = env.store().await;
    api::person_add(&store, now(), &actor(), "Lea Park <lea@example.org>")
        .await
        .expect("add");
    let roster = env.dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        "name,email,active\nLea Park,lea@example.org,false\nMo Reyes,mo@example.org,true\n",
    )
    .expect("write");
    let preview = env.json(&[
        "person",
        "import",
        roster.to_str().expect("path"),
        "--dry-run",
    ]);
    assert_eq!(preview["added"], serde_json::json!(["mo@example.org"]));
    assert_eq!(preview["departed"], serde_json::json!(["lea@example.org"]));
    assert_eq!(
        api::person_list(&store).await.expect("list").len(),
        1,
        "a preview writes nothing"
    );
    env.json(&["person", "import", roster.to_str().expect("path")]);
    let people = api::person_list(&store).await.expect("list");
    let lea = people
        .iter()
        .find(|p| p.email == "lea@example.org")
        .expect("lea");
    assert!(!lea.active);
    assert!(people
        .iter()
        .any(|p| p.email == "mo@example.org" && p.active));
    std::fs::write(
        &roster,
        "name,email,active\nLea Park,lea@example.org,maybe\n",
    )
    .expect("write");
    let bad = env.cli(&[
        "--db",
        env.db_arg(),
        "person",
        "import",
        roster.to_str().expect("path"),
    ]);
    let err = crate::support::stderr(&bad);
    assert!(err.contains("line 2") && err.contains("active"), "{err}");
}
