//! Registration imports: Steward CSV, RFC 7591, Keycloak. Idempotent, atomic, secret-free.

use crate::support::{actor, fixture, now, rows, snapshot, Env};
use steward::api::{self, IdentityRef};
use steward::inventory::import::Format;
use steward::inventory::{CredentialKind, Environment, IdentityFilter, Kind, Status};
use steward::{Code, Error};

async fn import(
    store: &steward::Store,
    rel: &str,
    env: Option<Environment>,
) -> Result<api::ImportSummary, Error> {
    api::registrations_import(store, now(), &actor(), &fixture(rel), env, false).await
}

async fn show(
    store: &steward::Store,
    key: &str,
    environment: Option<Environment>,
) -> steward::inventory::IdentityDetail {
    let r = IdentityRef {
        key: key.into(),
        environment,
    };
    api::identity_show(store, &r).await.expect("show")
}

fn import_error(e: Error) -> (String, String, String) {
    match e {
        Error::Import {
            file,
            location,
            field,
            ..
        } => (file, location, field),
        other => panic!("expected an import error, got {other}"),
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn steward_csv_imports_and_reimport_changes_nothing() {
    let env = Env::new();
    let store = env.store().await;
    let s = import(&store, "csv/inventory.csv", None)
        .await
        .expect("import");
    assert_eq!(
        (s.format, s.records, s.created, s.updated),
        (Format::StewardCsv, 4, 4, 0)
    );
    let sched = show(&store, "sched-app", Some(Environment::Production)).await;
    assert_eq!(sched.identity.kind, Kind::PatientApp);
    assert_eq!(
        sched
            .identity
            .business_owner
            .as_ref()
            .map(|p| p.name.as_str()),
        Some("Ana Lima")
    );
    assert!(sched
        .identity
        .granted_scopes
        .contains(&"patient/Observation.cud".to_string()));
    assert_eq!(
        sched.identity.last_reviewed_at, None,
        "a review date in a file never certifies"
    );
    assert_eq!(
        sched.identity.reviewed_elsewhere_at.as_deref(),
        Some("2026-02-01T09:00:00Z"),
        "it is kept as history"
    );
    let pop = show(&store, "pophealth", None).await;
    assert_eq!(
        pop.identity.last_used_at.as_deref(),
        Some("2026-11-20T01:00:00Z"),
        "times are kept in UTC"
    );
    assert_eq!(pop.identity.refresh_token_lifetime_s, Some(2_592_000));

    let before = snapshot(&store).await;
    let again = import(&store, "csv/inventory.csv", None)
        .await
        .expect("re-import");
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 4));
    let after = snapshot(&store).await;
    assert_eq!(
        after[..4],
        before[..4],
        "re-importing must not duplicate anything"
    );
    assert_eq!(after[4], before[4] + 1, "only the import itself is logged");
}

#[tokio::test]
async fn a_changed_row_updates_the_identity_and_logs_what_changed() {
    let env = Env::new();
    let store = env.store().await;
    import(&store, "csv/inventory.csv", None)
        .await
        .expect("import");
    let changed = std::fs::read_to_string(fixture("csv/inventory.csv"))
        .expect("read")
        .replace(
            "Books and cancels appointments,scheduling,openid fhirUser",
            "Books appointments only,scheduling,openid fhirUser",
        );
    let path = env.dir.path().join("changed.csv");
    std::fs::write(&path, changed).expect("write");
    let s = api::registrations_import(&store, now(), &actor(), &path, None, false)
        .await
        .expect("import");
    assert_eq!((s.created, s.updated, s.unchanged), (0, 1, 3));
    let d = show(&store, "sched-app", Some(Environment::Production)).await;
    assert_eq!(
        d.identity.purpose.as_deref(),
        Some("Books appointments only")
    );
    let entry = &d.history[0];
    assert_eq!(entry.action, "identity.update");
    assert_eq!(
        entry.details["changes"]["purpose"]["from"],
        "Books and cancels appointments"
    );
    assert_eq!(
        entry.details["changes"]["purpose"]["to"],
        "Books appointments only"
    );
}

#[tokio::test]
async fn a_bad_row_names_file_line_and_field_and_leaves_the_database_as_it_was() {
    let env = Env::new();
    let store = env.store().await;
    import(&store, "csv/inventory.csv", None)
        .await
        .expect("import");
    let before = snapshot(&store).await;
    for (rel, line, field) in [
        ("csv/bad-kind.csv", "line 3", "kind"),
        ("csv/bad-time.csv", "line 3", "last_reviewed_at"),
        ("csv/missing-column.csv", "line 1", "kind"),
        (
            "csv/owner-without-email.csv",
            "line 2",
            "business_owner_email",
        ),
        ("csv/ragged.csv", "line 3", "-"),
    ] {
        let e = import(&store, rel, None).await.expect_err(rel);
        let message = e.to_string();
        let (file, location, got_field) = import_error(e);
        assert!(file.ends_with(rel), "{message}");
        assert_eq!(
            (location.as_str(), got_field.as_str()),
            (line, field),
            "{message}"
        );
        assert_eq!(
            snapshot(&store).await,
            before,
            "{rel}: a failed import must leave no rows behind"
        );
    }
}

#[tokio::test]
async fn unknown_columns_are_reported_not_silently_dropped() {
    let env = Env::new();
    let store = env.store().await;
    let s = import(&store, "csv/extra-column.csv", None)
        .await
        .expect("import");
    assert_eq!(s.created, 1);
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].contains("cost_center"), "{:?}", s.warnings);
    let log = api::audit_log(
        &store,
        &api::AuditQuery {
            subject: Some("import:extra-column.csv".into()),
            limit: None,
            ..api::AuditQuery::default()
        },
    )
    .await
    .expect("log");
    assert!(log[0].details["warnings"][0]
        .as_str()
        .is_some_and(|w| w.contains("cost_center")));
}

#[tokio::test]
async fn secrets_are_fingerprinted_and_never_stored_raw() {
    let env = Env::new();
    let store = env.store().await;
    import(&store, "csv/inventory.csv", None)
        .await
        .expect("csv");
    import(
        &store,
        "registrations/rfc7591-3.2.1-registration-response.json",
        Some(Environment::Staging),
    )
    .await
    .expect("rfc 7591");
    let pop = show(&store, "pophealth", None).await;
    let fp = secret_fingerprint(&pop);
    assert!(fp.starts_with("hmac-sha256:"));
    assert_eq!(
        pop.credentials[0].reused_by, 1,
        "the sandbox twin shares this secret"
    );
    store.close().await;
    let bytes = env.raw_bytes();
    for secret in ["S3cret-Shared-Value-42", "cf136dc3c1fc93f31185e5885805d"] {
        assert!(
            !contains(&bytes, secret),
            "raw secret {secret} must not be in the database or WAL"
        );
    }
}

fn secret_fingerprint(d: &steward::inventory::IdentityDetail) -> String {
    d.credentials
        .iter()
        .find(|c| c.kind == CredentialKind::Secret)
        .map(|c| c.fingerprint.clone())
        .expect("a secret fingerprint")
}

#[tokio::test]
async fn rfc7591_response_is_imported() {
    let env = Env::new();
    let store = env.store().await;
    let s = import(
        &store,
        "registrations/rfc7591-3.2.1-registration-response.json",
        Some(Environment::Production),
    )
    .await
    .expect("import");
    assert_eq!((s.format, s.created), (Format::Rfc7591, 1));
    let d = show(&store, "s6BhdRkqt3", None).await;
    assert_eq!(d.identity.name, "My Example Client");
    assert_eq!(
        d.identity.auth_method.as_deref(),
        Some("client_secret_basic")
    );
    assert_eq!(
        d.identity.jwks_uri.as_deref(),
        Some("https://client.example.org/my_public_keys.jwks")
    );
    assert_eq!(d.identity.kind, Kind::ClinicianApp);
    assert_eq!(d.credentials.len(), 1);

    let s = import(
        &store,
        "registrations/hl7-smart-dynreg-draft-registration-response.json",
        Some(Environment::Production),
    )
    .await
    .expect("dynreg");
    assert_eq!(s.created, 1);
    let d = show(&store, "G65DA2AF4-1C91-11EC-9280-0050568B7514", None).await;
    assert_eq!(
        d.identity.kind,
        Kind::BackendService,
        "a JWT-bearer grant is a backend service"
    );
}

#[tokio::test]
async fn rfc7591_request_without_client_id_or_environment_is_refused() {
    let env = Env::new();
    let store = env.store().await;
    let e = import(
        &store,
        "registrations/rfc7591-3.1-registration-request.json",
        Some(Environment::Sandbox),
    )
    .await
    .expect_err("no client_id");
    let (_, location, field) = import_error(e);
    assert_eq!(
        (location.as_str(), field.as_str()),
        ("record 1", "client_id")
    );
    let e = import(
        &store,
        "registrations/rfc7591-3.2.1-registration-response.json",
        None,
    )
    .await
    .expect_err("no environment");
    assert_eq!(import_error(e).2, "environment");
    assert_eq!(rows(&store, "identity").await, 0);
}

#[tokio::test]
async fn keycloak_clients_share_one_secret_fingerprint() {
    let env = Env::new();
    let store = env.store().await;
    let s = import(
        &store,
        "registrations/keycloak-testrealm-clients.json",
        Some(Environment::Staging),
    )
    .await
    .expect("import");
    assert_eq!((s.format, s.created), (Format::KeycloakRealm, 3));
    let page = api::identity_list(&store, &IdentityFilter::default())
        .await
        .expect("list");
    let mut fps = Vec::new();
    for r in &page.rows {
        let d = api::identity_show(&store, &IdentityRef::id(r.id))
            .await
            .expect("show");
        assert_eq!(d.credentials.len(), 1);
        assert_eq!(
            d.credentials[0].reused_by, 2,
            "all three test-realm clients use one secret"
        );
        fps.push(d.credentials[0].fingerprint.clone());
    }
    fps.dedup();
    assert_eq!(fps.len(), 1);
}

#[tokio::test]
async fn keycloak_realm_export_maps_kinds_scopes_and_skips_built_ins() {
    let env = Env::new();
    let store = env.store().await;
    let s = import(
        &store,
        "registrations/keycloak-smart-realm.json",
        Some(Environment::Production),
    )
    .await
    .expect("import");
    assert_eq!(s.created, 3);
    assert_eq!(
        s.skipped.len(),
        3,
        "account, admin-cli and the SAML client: {:?}",
        s.skipped
    );
    let growth = show(&store, "growth-chart", None).await;
    assert_eq!(growth.identity.kind, Kind::PatientApp);
    assert_eq!(growth.identity.auth_method.as_deref(), Some("none"));
    assert_eq!(growth.identity.access_token_lifetime_s, Some(3600));
    assert!(growth
        .identity
        .purpose
        .as_deref()
        .is_some_and(|p| p.contains("growth")));
    assert!(growth
        .identity
        .granted_scopes
        .contains(&"patient/Observation.rs".to_string()));
    let bulk = show(&store, "bulk-analytics", None).await;
    assert_eq!(bulk.identity.kind, Kind::BackendService);
    assert_eq!(
        bulk.identity.auth_method.as_deref(),
        Some("private_key_jwt")
    );
    let legacy = show(&store, "legacy-interface", None).await;
    assert_eq!(legacy.identity.kind, Kind::ServiceAccount);
    assert_eq!(legacy.identity.status, Status::Suspended);
    assert_eq!(legacy.identity.refresh_token_lifetime_s, Some(2_592_000));
    assert_eq!(legacy.credentials.len(), 1);

    // Re-importing a Keycloak export keeps what only the CSV or the CLI set.
    api::identity_set_owner(
        &store,
        now(),
        &actor(),
        &IdentityRef::id(bulk.identity.id),
        steward::inventory::OwnerRole::Business,
        "Ana <ana@h.example>",
    )
    .await
    .expect("owner");
    let again = import(
        &store,
        "registrations/keycloak-smart-realm.json",
        Some(Environment::Production),
    )
    .await
    .expect("again");
    assert_eq!(again.unchanged, 3);
    assert!(show(&store, "bulk-analytics", None)
        .await
        .identity
        .business_owner
        .is_some());
}

#[tokio::test]
async fn malformed_and_unknown_json_is_refused_with_a_location() {
    let env = Env::new();
    let store = env.store().await;
    let broken = env.dir.path().join("broken.json");
    std::fs::write(
        &broken,
        "{\n  \"clients\": [\n    {\"clientId\": \"a\",}\n  ]\n}\n",
    )
    .expect("write");
    let e = api::registrations_import(
        &store,
        now(),
        &actor(),
        &broken,
        Some(Environment::Sandbox),
        false,
    )
    .await
    .expect_err("broken JSON");
    assert_eq!(e.code(), Code::Import);
    assert!(
        import_error(e).1.starts_with("line 3"),
        "the JSON error names its line"
    );

    let other = env.dir.path().join("other.json");
    std::fs::write(&other, r#"{"resourceType": "Patient"}"#).expect("write");
    let e = api::registrations_import(
        &store,
        now(),
        &actor(),
        &other,
        Some(Environment::Sandbox),
        false,
    )
    .await
    .expect_err("not a registration");
    assert!(e.to_string().contains("RFC 7591"), "{e}");

    let missing = env.dir.path().join("missing.csv");
    let e = api::registrations_import(&store, now(), &actor(), &missing, None, false)
        .await
        .expect_err("missing");
    assert_eq!(e.code(), Code::Storage);
    assert!(e.to_string().contains("missing.csv"), "{e}");
}

#[tokio::test]
async fn a_preview_says_what_each_record_would_change_and_writes_nothing() {
    let env = Env::new();
    let store = env.store().await;
    let before = snapshot(&store).await;
    let file = fixture("csv/inventory.csv");
    let preview = api::registrations_import(&store, now(), &actor(), &file, None, true)
        .await
        .expect("preview");
    assert!(preview.dry_run);
    assert_eq!(preview.created, 4);
    assert_eq!(preview.changes.len(), 4);
    assert!(preview.changes.iter().all(|c| c.outcome == "created"));
    assert!(preview.changes[0]
        .fields
        .contains(&"approved_scopes".to_string()));
    assert_eq!(snapshot(&store).await, before, "a preview writes nothing");

    import(&store, "csv/inventory.csv", None)
        .await
        .expect("import");
    let again = api::registrations_import(&store, now(), &actor(), &file, None, true)
        .await
        .expect("preview");
    assert_eq!(
        (again.created, again.unchanged),
        (0, 4),
        "{:?}",
        again.changes
    );
}
