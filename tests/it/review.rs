//! Recertification: campaigns, separation of duties, decisions, escalation at the right time,
//! re-authorization on change, attestation, and the audit trail of all of it.

use chrono::Duration;
use steward::api::{self, IdentityEdit, IdentityRef, NewIdentity};
use steward::inventory::{Environment, Kind, Status};
use steward::review::{
    AttestRequest, CampaignFilter, DeadlineDefault, DecideRequest, ItemState, NewCampaign,
    PolicyEdit, ReviewDecision, Tier,
};
use steward::store::review::ItemQuery;
use steward::{time, Code, Store};

use crate::support::{actor, now, rows, stderr, Env};

const ANA: &str = "Ana Lima <ana@example.org>";
const TOM: &str = "Tom Berg <tom@example.org>";
const RITA: &str = "rita@example.org";
const FIONA: &str = "fiona@example.org";

/// Two production identities owned by Ana (business) and Tom (technical), one sandbox app
/// owned by Tom; Rita reviews what Ana owns, Fiona is the fallback reviewer.
async fn setup(env: &Env) -> Store {
    let store = env.store().await;
    let add = |client_id: &str, env: Environment, kind: Kind, approved: &str, granted: &str| {
        NewIdentity {
            client_id: client_id.into(),
            environment: Some(env),
            fields: IdentityEdit {
                name: Some(client_id.into()),
                kind: Some(kind),
                business_owner: Some(ANA.into()),
                technical_owner: Some(TOM.into()),
                purpose: Some("Shows clinic schedules.".into()),
                approved_scopes: Some(approved.into()),
                granted_scopes: Some(granted.into()),
                revocation_endpoint: Some("https://auth.example.org/revoke".into()),
                ..IdentityEdit::default()
            },
        }
    };
    for n in [
        add(
            "sched",
            Environment::Production,
            Kind::ClinicianApp,
            "user/Appointment.rs openid fhirUser",
            "user/Appointment.rs user/Patient.rs openid fhirUser",
        ),
        add(
            "bulk",
            Environment::Production,
            Kind::BackendService,
            "system/Observation.rs",
            "system/Observation.rs",
        ),
        {
            let mut n = add(
                "toy",
                Environment::Sandbox,
                Kind::PatientApp,
                "patient/Observation.rs",
                "patient/Observation.rs",
            );
            n.fields.business_owner = Some(TOM.into());
            n.fields.technical_owner = None;
            n
        },
    ] {
        api::identity_add(&store, now(), &actor(), n)
            .await
            .expect("add");
    }
    for p in [RITA, FIONA] {
        api::person_add(&store, now(), &actor(), p)
            .await
            .expect("person");
    }
    api::person_set_reviewer(&store, now(), &actor(), "ana@example.org", Some(RITA))
        .await
        .expect("designate");
    api::review_policy_edit(
        &store,
        now(),
        &actor(),
        PolicyEdit {
            fallback_reviewer: Some(FIONA.into()),
            ..PolicyEdit::default()
        },
    )
    .await
    .expect("policy");
    store
}

fn deadline() -> time::Timestamp {
    now() + Duration::days(30)
}

async fn campaign(store: &Store, filter: CampaignFilter, default: DeadlineDefault) -> i64 {
    api::campaign_create(
        store,
        now(),
        &actor(),
        NewCampaign {
            name: "Q4".into(),
            deadline: time::format(deadline()),
            filter,
            fallback_reviewer: None,
            deadline_default: Some(default),
        },
    )
    .await
    .expect("campaign")
    .id
}

fn prod() -> CampaignFilter {
    CampaignFilter {
        environment: Some(Environment::Production),
        ..CampaignFilter::default()
    }
}

async fn items(store: &Store, campaign: i64) -> Vec<steward::review::Item> {
    api::review_items(
        store,
        &ItemQuery {
            campaign: Some(campaign),
            ..ItemQuery::default()
        },
    )
    .await
    .expect("items")
}

async fn item_of(store: &Store, campaign: i64, client_id: &str) -> steward::review::Item {
    items(store, campaign)
        .await
        .into_iter()
        .find(|i| i.client_id == client_id)
        .expect("item for the client")
}

async fn open_items(store: &Store, identity: i64) -> Vec<steward::review::Item> {
    api::review_items(
        store,
        &ItemQuery {
            identity: Some(identity),
            state: Some(ItemState::Open),
            ..ItemQuery::default()
        },
    )
    .await
    .expect("items")
}

fn decide(item: i64, d: ReviewDecision, reviewer: &str) -> DecideRequest {
    DecideRequest {
        item,
        decision: d,
        remove_scopes: Vec::new(),
        new_owner: None,
        comment: "checked with the owners".into(),
        reviewer: Some(reviewer.into()),
        version: None,
    }
}

async fn audit_count(store: &Store, action: &str) -> i64 {
    on_pool!(store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = $1"
    )
    .bind(action)
    .fetch_one(p)
    .await)
    .expect("count")
}

#[tokio::test]
async fn a_campaign_snapshots_its_identities_and_assigns_non_owners() {
    let env = Env::new();
    let store = setup(&env).await;
    let id = campaign(&store, prod(), DeadlineDefault::NoChange).await;
    let list = items(&store, id).await;
    let clients: Vec<&str> = list.iter().map(|i| i.client_id.as_str()).collect();
    assert_eq!(clients.len(), 2, "only production: {clients:?}");
    for i in &list {
        assert_eq!(
            i.reviewer.as_ref().map(|p| p.email.as_str()),
            Some(RITA),
            "Ana's designated reviewer"
        );
        assert_eq!(i.state, ItemState::Open);
        assert_eq!(i.due, time::format(deadline()));
    }
    assert_eq!(item_of(&store, id, "bulk").await.tier, Tier::High);

    // The snapshot keeps what was granted at the start, whatever happens later.
    let sched = item_of(&store, id, "sched").await;
    let before = api::review_item_show(&store, now(), sched.id)
        .await
        .expect("detail");
    assert_eq!(before.granted_at_start.len(), 4);
    assert_eq!(
        before.recommended_removals,
        vec!["user/Patient.rs".to_string()],
        "granted beyond approval is pre-selected for removal"
    );

    // A tier filter selects by the review tier, not the environment alone.
    let high = CampaignFilter {
        tier: Some(Tier::High),
        ..CampaignFilter::default()
    };
    let only_high = campaign(&store, high, DeadlineDefault::NoChange).await;
    let clients: Vec<String> = items(&store, only_high)
        .await
        .into_iter()
        .map(|i| i.client_id)
        .collect();
    assert_eq!(clients, vec!["bulk".to_string()]);

    let e = api::campaign_create(
        &store,
        now(),
        &actor(),
        NewCampaign {
            name: "nothing".into(),
            deadline: "2027-01-01".into(),
            filter: CampaignFilter {
                vendor: Some("nobody".into()),
                ..CampaignFilter::default()
            },
            ..NewCampaign::default()
        },
    )
    .await
    .expect_err("empty campaign");
    assert_eq!(e.code(), Code::Invalid);
}

#[tokio::test]
async fn separation_of_duties_cannot_be_bypassed_through_the_api() {
    let env = Env::new();
    let store = setup(&env).await;
    let id = campaign(&store, prod(), DeadlineDefault::NoChange).await;
    let item = item_of(&store, id, "sched").await;
    for owner in ["ana@example.org", "tom@example.org"] {
        let e = crate::support::decide_as(
            &env,
            &store,
            now(),
            decide(item.id, ReviewDecision::Certify, owner),
        )
        .await
        .expect_err("an owner certifying their own identity");
        assert_eq!(e.code(), Code::Forbidden, "{e}");
        assert!(e.to_string().contains("separation of duties"), "{e}");
    }
    // Someone neither assigned nor the fallback is refused too.
    api::person_add(&store, now(), &actor(), "eve@example.org")
        .await
        .expect("eve");
    let e = crate::support::decide_as(
        &env,
        &store,
        now(),
        decide(item.id, ReviewDecision::Certify, "eve@example.org"),
    )
    .await
    .expect_err("not assigned");
    assert_eq!(e.code(), Code::Forbidden);
    // An owner cannot be made their own designated reviewer.
    let e = api::person_set_reviewer(
        &store,
        now(),
        &actor(),
        "ana@example.org",
        Some("ana@example.org"),
    )
    .await
    .expect_err("self review");
    assert_eq!(e.code(), Code::Forbidden);
    assert_eq!(rows(&store, "review_decision").await, 0);

    // The fallback reviewer may decide an item assigned to someone else.
    let done = crate::support::decide_as(
        &env,
        &store,
        now(),
        decide(item.id, ReviewDecision::Certify, FIONA),
    )
    .await
    .expect("fallback decides");
    assert_eq!(done.state, ItemState::Decided);
    let e = crate::support::decide_as(
        &env,
        &store,
        now(),
        decide(item.id, ReviewDecision::Certify, RITA),
    )
    .await
    .expect_err("decided twice");
    assert_eq!(e.code(), Code::Conflict);
}

#[test]
fn the_cli_refuses_owners_closed_items_and_scopes_not_granted() {
    let env = Env::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Each person decides from an OS account of their own, bound once with `person bind`,
    // or with a login of their own on a team database.
    let (id, item, dbs) = rt.block_on(async {
        let store = setup(&env).await;
        let id = campaign(&store, prod(), DeadlineDefault::NoChange).await;
        let item = item_of(&store, id, "sched").await.id;
        let mut dbs = std::collections::HashMap::new();
        for (user, person) in [("ana", "ana@example.org"), ("rita", RITA)] {
            let db = if env.is_pg() {
                env.member_url(&store, person, "reviewer").await
            } else {
                env.db_arg().to_string()
            };
            dbs.insert(user, db);
        }
        store.close().await;
        (id, item, dbs)
    });
    let item = item.to_string();
    let as_user = |user: &str, args: &[&str]| {
        let mut full = vec!["--db", dbs[user].as_str()];
        full.extend_from_slice(args);
        env.cli_env(&full, &[("USER", user), ("LOGNAME", user)])
    };
    if !env.is_pg() {
        for (user, person) in [("ana", "ana@example.org"), ("rita", RITA)] {
            let out = as_user(user, &["person", "bind", person]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    let decide = |decision: &str, reviewer: &str, extra: &[&str]| {
        let user = if reviewer == RITA { "rita" } else { "ana" };
        let mut a = vec![
            "review",
            "decide",
            &item,
            "--decision",
            decision,
            "--comment",
            "ok",
        ];
        a.extend_from_slice(extra);
        as_user(user, &a)
    };
    let out = as_user(
        "rita",
        &[
            "review",
            "decide",
            &item,
            "--decision",
            "certify",
            "--comment",
            "ok",
            "--reviewer",
            "ana@example.org",
        ],
    );
    assert!(
        !out.status.success(),
        "acting as someone else must be refused"
    );
    assert!(stderr(&out).contains("does not act as"), "{}", stderr(&out));
    let out = decide("certify", "ana@example.org", &[]);
    assert!(!out.status.success(), "the owner must be refused");
    assert!(
        stderr(&out).contains("separation of duties"),
        "{}",
        stderr(&out)
    );

    let out = decide("reduce", RITA, &["--remove-scopes", "user/Observation.rs"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not granted"), "{}", stderr(&out));

    let out = decide("reduce", RITA, &["--remove-scopes", "user/Patient.read"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = decide("certify", RITA, &[]);
    assert!(!out.status.success(), "a decided item is closed");
    assert!(stderr(&out).contains("already decided"), "{}", stderr(&out));

    let shown = env.json(&[
        "review",
        "items",
        "--campaign",
        &id.to_string(),
        "--reviewer",
        RITA,
    ]);
    assert_eq!(shown.as_array().map(Vec::len), Some(2));
    let detail = env.json(&["identity", "show", "sched", "--environment", "production"]);
    let granted: Vec<&str> = detail["granted_scopes"]
        .as_array()
        .expect("granted")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        !granted.contains(&"user/Patient.rs"),
        "the v1 spelling removed the canonical scope: {granted:?}"
    );
}

#[tokio::test]
async fn decisions_change_the_identity_and_are_in_the_audit_chain() {
    let env = Env::new();
    let store = setup(&env).await;
    let id = campaign(&store, prod(), DeadlineDefault::NoChange).await;
    let sched = item_of(&store, id, "sched").await;
    let bulk = item_of(&store, id, "bulk").await;

    let mut reduce = decide(sched.id, ReviewDecision::Reduce, RITA);
    reduce.remove_scopes = vec!["user/Patient.rs".into()];
    crate::support::decide_as(&env, &store, now(), reduce)
        .await
        .expect("reduce");
    let d = api::identity_show(&store, &IdentityRef::id(sched.identity_id))
        .await
        .expect("show");
    assert!(!d
        .identity
        .granted_scopes
        .contains(&"user/Patient.rs".to_string()));
    assert_eq!(d.identity.last_reviewed_at, Some(time::format(now())));
    assert_eq!(
        d.identity.next_review_due,
        Some(time::format(now() + Duration::days(180))),
        "medium tier after the reduction: production read-only"
    );

    // Reassigning the owner keeps the item open, now with a reviewer for the new owner.
    let mut reassign = decide(bulk.id, ReviewDecision::Reassign, RITA);
    reassign.new_owner = Some(FIONA.into());
    let moved = crate::support::decide_as(&env, &store, now(), reassign)
        .await
        .expect("reassign");
    assert_eq!(moved.state, ItemState::Open);
    assert_ne!(
        moved.reviewer.as_ref().map(|p| p.email.as_str()),
        Some(FIONA),
        "the new owner never reviews their own identity"
    );
    let reviewer = moved.reviewer.expect("someone eligible").email;
    let mut revoke = decide(bulk.id, ReviewDecision::Revoke, &reviewer);
    revoke.comment = "no longer used by the ward".into();
    crate::support::decide_as(&env, &store, now(), revoke)
        .await
        .expect("revoke");
    let b = api::identity_show(&store, &IdentityRef::id(bulk.identity_id))
        .await
        .expect("show");
    assert_eq!(b.identity.status, Status::Revoked);
    let task: Option<String> = on_pool!(store, |p| sqlx::query_scalar(
        "SELECT endpoint FROM revocation_task WHERE identity_id = $1"
    )
    .bind(bulk.identity_id)
    .fetch_optional(p)
    .await)
    .expect("task");
    assert_eq!(task.as_deref(), Some("https://auth.example.org/revoke"));

    assert_eq!(rows(&store, "review_decision").await, 3);
    assert_eq!(audit_count(&store, "review.decide").await, 3);
    let entry: String = on_pool!(store, |p| sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'review.decide' ORDER BY seq LIMIT 1",
    )
    .fetch_one(p)
    .await)
    .expect("entry");
    let v: serde_json::Value = serde_json::from_str(&entry).expect("json");
    assert_eq!(v["reviewer"], RITA);
    assert_eq!(v["comment"], "checked with the owners");
    assert!(
        v["evidence"]["findings"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "the findings the reviewer saw are recorded: {v}"
    );
    api::audit_verify(&store).await.expect("chain intact");

    let report = api::campaign_report(&store, now(), id)
        .await
        .expect("report");
    assert_eq!(report.lines().count(), 3, "header and one row per item");
    assert!(
        report.contains("reduce") && report.contains("revoke"),
        "{report}"
    );
    // An item decided twice (reassigned, then revoked) shows its latest decision.
    let mut csv = csv::Reader::from_reader(report.as_bytes());
    let bulk_row = csv
        .records()
        .map(|r| r.expect("row"))
        .find(|r| r[0] == bulk.id.to_string())
        .expect("the bulk item's row");
    assert_eq!(
        (&bulk_row[13], &bulk_row[14]),
        (reviewer.as_str(), "no longer used by the ward"),
        "{report}"
    );
    let closed = api::campaign_close(&store, now(), &actor(), id)
        .await
        .expect("close");
    assert_eq!(closed.progress.decided, 2);
}

#[tokio::test]
async fn a_purpose_change_or_scope_increase_reopens_review() {
    let env = Env::new();
    let store = setup(&env).await;
    let id = campaign(&store, prod(), DeadlineDefault::NoChange).await;
    let sched = item_of(&store, id, "sched").await;
    crate::support::decide_as(
        &env,
        &store,
        now(),
        decide(sched.id, ReviewDecision::Certify, RITA),
    )
    .await
    .expect("certify");
    let r = IdentityRef::id(sched.identity_id);

    let later = now() + Duration::days(5);
    let d = api::identity_set_purpose(&store, later, &actor(), &r, "Books appointments too.", None)
        .await
        .expect("purpose");
    assert_eq!(d.identity.reauth_reason.as_deref(), Some("purpose changed"));
    assert_eq!(d.identity.next_review_due, Some(time::format(later)));
    let open = open_items(&store, sched.identity_id).await;
    assert_eq!(open.len(), 1, "a re-authorization item is opened at once");
    assert_eq!(open[0].campaign_id, None);
    assert_eq!(
        open[0].reviewer.as_ref().map(|p| p.email.as_str()),
        Some(RITA)
    );
    let findings = api::findings_list(
        &store,
        later,
        &steward::policy::FindingFilter {
            identity_id: Some(sched.identity_id),
            rule: Some("reauthorization-pending".into()),
            ..Default::default()
        },
    )
    .await
    .expect("findings");
    assert_eq!(findings.len(), 1, "the change is flagged until certified");

    // A second change joins the open item instead of opening another.
    let mut n = NewIdentity {
        client_id: "sched".into(),
        ..NewIdentity::default()
    };
    n.environment = Some(Environment::Production);
    let csv = env.dir.path().join("more.csv");
    std::fs::write(
        &csv,
        "client_id,environment,name,kind,granted_scopes\n\
         sched,production,sched,clinician_app,user/Appointment.rs user/Patient.rs user/Observation.rs openid fhirUser\n",
    )
    .expect("csv");
    api::registrations_import(&store, later, &actor(), &csv, None, false)
        .await
        .expect("import");
    let d = api::identity_show(&store, &r).await.expect("show");
    assert!(
        d.identity
            .reauth_reason
            .as_deref()
            .is_some_and(|w| w.contains("granted scopes increased: user/Observation.rs")),
        "{:?}",
        d.identity.reauth_reason
    );
    assert_eq!(audit_count(&store, "review.reopen").await, 2);
    assert_eq!(open_items(&store, sched.identity_id).await.len(), 1);

    // Certifying the re-authorization clears the flag.
    crate::support::decide_as(
        &env,
        &store,
        later,
        decide(open[0].id, ReviewDecision::Certify, RITA),
    )
    .await
    .expect("certify again");
    let d = api::identity_show(&store, &r).await.expect("show");
    assert_eq!(d.identity.reauth_reason, None);

    // A narrower grant is not an increase.
    let csv2 = env.dir.path().join("less.csv");
    std::fs::write(
        &csv2,
        "client_id,environment,name,kind,granted_scopes\nsched,production,sched,clinician_app,user/Appointment.rs openid\n",
    )
    .expect("csv");
    api::registrations_import(&store, later, &actor(), &csv2, None, false)
        .await
        .expect("import");
    let d = api::identity_show(&store, &r).await.expect("show");
    assert_eq!(d.identity.reauth_reason, None);
}

#[tokio::test]
async fn reminders_escalation_and_defaults_apply_at_the_right_time() {
    let env = Env::new();
    let store = setup(&env).await;
    let id = campaign(&store, prod(), DeadlineDefault::Revoke).await;
    let at = |days_before: i64| deadline() - Duration::days(days_before);

    let s = api::review_escalate(&store, at(8), &actor())
        .await
        .expect("escalate");
    assert!(s.reminded.is_empty() && s.escalated.is_empty() && s.defaulted.is_empty());

    let s = api::review_escalate(&store, at(7), &actor())
        .await
        .expect("remind");
    assert_eq!(s.reminded.len(), 2, "7 days before: reminders");
    let s = api::review_escalate(&store, at(6), &actor())
        .await
        .expect("again");
    assert!(s.reminded.is_empty(), "one reminder per item");

    let s = api::review_escalate(&store, at(3), &actor())
        .await
        .expect("escalate");
    assert_eq!(s.escalated.len(), 2, "3 days before: escalation");
    for i in items(&store, id).await {
        assert_eq!(i.state, ItemState::Escalated);
        assert_eq!(i.reviewer.as_ref().map(|p| p.email.as_str()), Some(FIONA));
    }

    // Fiona decides one; the other reaches the deadline undecided.
    let sched = item_of(&store, id, "sched").await;
    crate::support::decide_as(
        &env,
        &store,
        at(2),
        decide(sched.id, ReviewDecision::Certify, FIONA),
    )
    .await
    .expect("certify");
    let s = api::review_escalate(&store, at(1), &actor())
        .await
        .expect("not yet");
    assert!(s.defaulted.is_empty());
    let s = api::review_escalate(&store, deadline(), &actor())
        .await
        .expect("deadline");
    assert_eq!(s.defaulted.len(), 1);
    assert_eq!(s.defaulted[0].1, ReviewDecision::Revoke);
    let bulk = item_of(&store, id, "bulk").await;
    assert_eq!(bulk.decision, Some(ReviewDecision::Revoke));
    let d = api::identity_show(&store, &IdentityRef::id(bulk.identity_id))
        .await
        .expect("show");
    assert_eq!(d.identity.status, Status::Revoked);
    assert_eq!(
        d.identity.last_reviewed_at, None,
        "a default is not a certification"
    );
    assert_eq!(audit_count(&store, "review.default").await, 1);
    assert_eq!(audit_count(&store, "review.escalate").await, 2);
    assert_eq!(audit_count(&store, "review.remind").await, 2);
    let c = api::campaign_show(&store, deadline(), id)
        .await
        .expect("show");
    assert_eq!((c.progress.decided, c.progress.revoked), (2, 1));
}

#[tokio::test]
async fn owners_attest_purpose_and_justify_scopes() {
    let env = Env::new();
    let store = setup(&env).await;
    let id = campaign(&store, prod(), DeadlineDefault::NoChange).await;
    let sched = item_of(&store, id, "sched").await;
    assert!(!sched.attested);
    let r = IdentityRef::id(sched.identity_id);
    let attest = |person: &str, purpose: &str, j: Vec<(&str, &str)>| AttestRequest {
        person: Some(person.into()),
        purpose: purpose.into(),
        justifications: j
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    };
    let e = crate::support::attest_as(&env, &store, now(), &r, attest(RITA, "x", vec![]))
        .await
        .expect_err("not an owner");
    assert_eq!(e.code(), Code::Forbidden);
    let e = crate::support::attest_as(
        &env,
        &store,
        now(),
        &r,
        attest(
            "tom@example.org",
            "Shows clinic schedules.",
            vec![("system/Patient.rs", "why")],
        ),
    )
    .await
    .expect_err("not approved");
    assert_eq!(e.code(), Code::Invalid);

    let d = crate::support::attest_as(
        &env,
        &store,
        now(),
        &r,
        attest(
            "tom@example.org",
            "Shows clinic schedules.",
            vec![("user/Appointment.read", "lists the day's appointments")],
        ),
    )
    .await
    .expect("attest");
    let approval = d
        .approvals
        .iter()
        .find(|a| a.scope == "user/Appointment.rs")
        .expect("approval");
    assert_eq!(
        approval.justification.as_deref(),
        Some("lists the day's appointments")
    );
    assert_eq!(
        d.identity.reauth_reason, None,
        "same purpose, no re-authorization"
    );
    assert!(item_of(&store, id, "sched").await.attested);
    let detail = api::review_item_show(&store, now(), sched.id)
        .await
        .expect("detail");
    assert_eq!(
        detail.attestation.map(|a| a.person.email),
        Some("tom@example.org".to_string())
    );
    assert_eq!(rows(&store, "attestation").await, 1);
    assert_eq!(audit_count(&store, "identity.attest").await, 1);
}

#[tokio::test]
async fn intervals_follow_the_tier_and_a_policy_change_reschedules() {
    let env = Env::new();
    let store = setup(&env).await;
    let due = |client: &'static str| {
        let store = &store;
        async move {
            api::identity_show(
                store,
                &IdentityRef {
                    key: client.into(),
                    environment: None,
                },
            )
            .await
            .expect("show")
            .identity
            .next_review_due
        }
    };
    assert_eq!(
        due("bulk").await,
        Some(time::format(now() + Duration::days(90)))
    );
    assert_eq!(
        due("toy").await,
        Some(time::format(now() + Duration::days(365)))
    );
    api::review_policy_edit(
        &store,
        now(),
        &actor(),
        PolicyEdit {
            high_days: Some(30),
            ..PolicyEdit::default()
        },
    )
    .await
    .expect("policy");
    assert_eq!(
        due("bulk").await,
        Some(time::format(now() + Duration::days(30)))
    );
    assert_eq!(
        due("toy").await,
        Some(time::format(now() + Duration::days(365)))
    );
    let e = api::review_policy_edit(
        &store,
        now(),
        &actor(),
        PolicyEdit {
            low_days: Some(0),
            ..PolicyEdit::default()
        },
    )
    .await
    .expect_err("zero days");
    assert_eq!(e.code(), Code::Invalid);
    assert_eq!(audit_count(&store, "review.policy").await, 2);
}

/// Every policy number has bounds, named in the error; an edit with one number out of bounds
/// changes nothing.
#[rstest::rstest]
#[case::review_interval(PolicyEdit { high_days: Some(1826), ..PolicyEdit::default() }, "high_days: 1826 days: must be from 1 to 1825")]
#[case::huge(PolicyEdit { low_days: Some(i64::MAX), ..PolicyEdit::default() }, "low_days")]
#[case::reminder(PolicyEdit { remind_days: Some(366), ..PolicyEdit::default() }, "remind_days: 366 days: must be from 0 to 365")]
#[case::negative_escalation(PolicyEdit { escalate_days: Some(-1), ..PolicyEdit::default() }, "escalate_days")]
#[case::reauthorization(PolicyEdit { reauth_days: Some(400), ..PolicyEdit::default() }, "reauth_days")]
#[case::drill(PolicyEdit { drill_low_days: Some(5000), ..PolicyEdit::default() }, "drill_low_days")]
#[case::acceptance(PolicyEdit { acceptance_max_days: Some(0), ..PolicyEdit::default() }, "acceptance_max_days: 0 days: must be from 1 to 1825")]
#[case::one_bad_of_two(PolicyEdit { high_days: Some(60), medium_days: Some(99999), ..PolicyEdit::default() }, "medium_days")]
#[tokio::test]
async fn policy_numbers_out_of_bounds_are_refused_and_change_nothing(
    #[case] edit: PolicyEdit,
    #[case] named: &str,
) {
    let env = Env::new();
    let store = env.store().await;
    let before = api::review_policy(&store).await.expect("policy");
    let e = api::review_policy_edit(&store, now(), &actor(), edit)
        .await
        .expect_err("out of bounds");
    assert_eq!(e.code(), Code::Invalid);
    assert!(e.to_string().contains(named), "{e}");
    assert_eq!(api::review_policy(&store).await.expect("policy"), before);
    // The bounds themselves are accepted.
    let edge = PolicyEdit {
        high_days: Some(1825),
        remind_days: Some(0),
        acceptance_max_days: Some(1825),
        ..PolicyEdit::default()
    };
    let p = api::review_policy_edit(&store, now(), &actor(), edge)
        .await
        .expect("at the bounds");
    assert_eq!((p.intervals.high_days, p.acceptance_max_days), (1825, 1825));
}

#[tokio::test]
async fn the_evidence_package_carries_one_campaigns_reviews_and_decisions() {
    let env = Env::new();
    let store = setup(&env).await;
    let first = campaign(&store, prod(), DeadlineDefault::NoChange).await;
    let second = campaign(&store, CampaignFilter::default(), DeadlineDefault::NoChange).await;
    let sched = item_of(&store, first, "sched").await;
    let mut d = decide(sched.id, ReviewDecision::Certify, RITA);
    d.comment = "=HYPERLINK(\"http://x\")".into();
    crate::support::decide_as(&env, &store, now(), d)
        .await
        .expect("certify");
    let out = env.dir.path().join("pkg");
    let filter = api::EvidenceFilter {
        campaign: Some(first),
        ..api::EvidenceFilter::default()
    };
    api::evidence_export(&store, now(), &actor(), &out, &filter)
        .await
        .expect("export");
    let reviews = std::fs::read_to_string(out.join("data/reviews.csv")).expect("reviews");
    assert_eq!(
        reviews.lines().count(),
        3,
        "header and the first campaign's two items"
    );
    assert!(
        reviews
            .lines()
            .skip(1)
            .all(|l| l.split(',').nth(1) == Some(first.to_string().as_str())),
        "only campaign {first}, not {second}: {reviews}"
    );
    // The package tiers the items by the scopes it read once; the campaign report looks up
    // each item's: the two agree, tier by tier.
    let report = api::campaign_report(&store, now(), first)
        .await
        .expect("report");
    assert_eq!(reviews, report);
    let tiers: std::collections::BTreeSet<&str> = reviews
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(6))
        .collect();
    assert!(tiers.len() > 1, "items of different tiers: {reviews}");
    let decisions = std::fs::read_to_string(out.join("data/decisions.csv")).expect("decisions");
    assert_eq!(decisions.lines().count(), 2, "{decisions}");
    assert!(
        decisions.contains("'=HYPERLINK"),
        "a formula in a comment is neutralized: {decisions}"
    );
    api::evidence_verify(Some(&store), &out, None)
        .await
        .expect("the package verifies");
    let e = api::evidence_export(
        &store,
        now(),
        &actor(),
        &env.dir.path().join("none"),
        &api::EvidenceFilter {
            campaign: Some(99),
            ..api::EvidenceFilter::default()
        },
    )
    .await
    .expect_err("unknown campaign");
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn an_edit_from_a_stale_copy_of_an_item_is_a_conflict_not_an_overwrite() {
    let env = Env::new();
    let store = setup(&env).await;
    let id = campaign(&store, prod(), DeadlineDefault::NoChange).await;
    let item = item_of(&store, id, "sched").await;
    let (mine, me) = crate::support::signed_in(&env, &store, RITA, "reviewer").await;
    let shown = api::review_item_show(&mine, now(), item.id)
        .await
        .expect("show");
    // Two windows open on the same item: the first draft saved wins, the second is told.
    let v = api::review_draft_save(
        &mine,
        item.id,
        Some("{\"step\":2}".into()),
        Some(shown.version),
    )
    .await
    .expect("first draft");
    assert_eq!(v, shown.version + 1);
    let e = api::review_draft_save(
        &mine,
        item.id,
        Some("{\"step\":4}".into()),
        Some(shown.version),
    )
    .await
    .expect_err("a draft from the stale copy");
    assert_eq!(e.code(), Code::Conflict);
    assert!(e.to_string().contains("changed by someone else"), "{e}");
    let again = api::review_item_show(&mine, now(), item.id)
        .await
        .expect("show");
    assert_eq!(
        again.draft.as_deref(),
        Some("{\"step\":2}"),
        "not overwritten"
    );
    // A decision made from the stale copy is refused too; from the current one it lands.
    let mut d = decide(item.id, ReviewDecision::Certify, RITA);
    d.version = Some(shown.version);
    let e = api::review_decide(&mine, now(), &me, d.clone())
        .await
        .expect_err("stale decision");
    assert_eq!(e.code(), Code::Conflict);
    assert_eq!(rows(&store, "review_decision").await, 0);
    d.version = Some(again.version);
    let done = api::review_decide(&mine, now(), &me, d)
        .await
        .expect("decide");
    assert_eq!(done.state, ItemState::Decided);
}
