//! The real `steward` binary against a temp data dir.

use crate::support::{fixture, stderr, Env};

fn db(env: &Env) -> &str {
    env.db_arg()
}

#[test]
fn init_demo_list_and_show_as_json() {
    let env = Env::new();
    let init = env.json(&["init"]);
    assert_eq!(init["ready"], true);
    let demo = env.json(&["demo", "--identities", "40"]);
    assert_eq!(demo["identities"], 40);

    let list = env.json(&["identity", "list", "--environment", "production"]);
    let rows = list.as_array().expect("a JSON array for lists");
    assert!(!rows.is_empty());
    for r in rows {
        assert_eq!(r["environment"], "production");
        for field in [
            "id",
            "client_id",
            "name",
            "kind",
            "status",
            "granted_scopes",
            "approved_scopes",
        ] {
            assert!(r.get(field).is_some(), "list rows carry {field}");
        }
    }
    let with_owner = rows
        .iter()
        .find(|r| r["business_owner"].is_object())
        .expect("an owned identity");
    let owner = &with_owner["business_owner"];
    assert!(owner["id"].is_i64() && owner["name"].is_string() && owner["email"].is_string());

    let id = with_owner["id"].as_i64().expect("id").to_string();
    let one = env.json(&["identity", "show", &id]);
    assert!(one.is_object(), "one item is a JSON object");
    assert_eq!(one["id"], with_owner["id"]);
    assert!(one["history"].as_array().is_some_and(|h| !h.is_empty()));
}

#[test]
fn db_is_accepted_after_the_subcommand_and_from_the_environment() {
    // A file made where --db or STEWARD_DB says.
    let env = Env::sqlite();
    let out = env.cli(&["init", "--db", db(&env)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.db.exists());

    let other = env.dir.path().join("from-env.db");
    let out = env.cli_env(
        &["demo", "--identities", "5"],
        &[("STEWARD_DB", other.to_str().expect("path"))],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(other.exists(), "STEWARD_DB chooses the database");
}

#[test]
fn the_default_database_lives_in_the_os_data_dir_never_elsewhere() {
    let env = Env::new();
    let out = env.cli(&["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = env.dir.path().join("xdg-data/steward/steward.db");
    assert!(
        expected.exists(),
        "without --db the database is in the data dir: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn add_set_owner_set_purpose_retire_and_the_audit_log() {
    let env = Env::new();
    let d = db(&env);
    let add = env.json(&[
        "identity",
        "add",
        "--client-id",
        "cds-1",
        "--name",
        "CDS One",
        "--kind",
        "clinician_app",
        "--environment",
        "staging",
        "--granted-scopes",
        "openid user/Observation.rs",
    ]);
    assert_eq!(add["granted_scopes"].as_array().map(Vec::len), Some(2));
    let owner = env.json(&[
        "identity",
        "set-owner",
        "cds-1",
        "--role",
        "technical",
        "--person",
        "Kemi <kemi@h.example>",
    ]);
    assert_eq!(owner["technical_owner"]["email"], "kemi@h.example");
    let purpose = env.json(&[
        "identity",
        "set-purpose",
        "cds-1",
        "--purpose",
        "Sepsis alerts",
    ]);
    assert_eq!(purpose["purpose"], "Sepsis alerts");
    let retired = env.json(&["identity", "retire", "cds-1", "--reason", "replaced"]);
    assert_eq!(retired["status"], "retired");

    let log = env.json(&["audit", "log"]);
    let actions: Vec<&str> = log
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "identity.retire",
            "enforcement.task",
            "identity.set_purpose",
            "identity.set_owner",
            "identity.create"
        ]
    );
    assert_eq!(
        log[1]["actor"],
        env.audit_actor(crate::support::OS_USER),
        "the OS account, never an argument, names who changed it"
    );
    let forged = env.cli(&[
        "--db", d, "identity", "retire", "cds-1", "--actor", "someone",
    ]);
    assert!(!forged.status.success(), "--actor is not accepted");
    let out = env.cli(&["--db", d, "audit", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_message() {
    let env = Env::new();
    let d = db(&env);
    let out = env.cli(&[
        "--db",
        d,
        "identity",
        "add",
        "--client-id",
        "x",
        "--name",
        "X",
        "--kind",
        "robot",
        "--environment",
        "production",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("robot"), "{}", stderr(&out));

    let bad = fixture("csv/bad-kind.csv");
    let out = env.cli(&[
        "--db",
        d,
        "import",
        "registrations",
        bad.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bad-kind.csv: line 3: kind:"), "{err}");

    env.json(&[
        "identity",
        "add",
        "--client-id",
        "twin",
        "--name",
        "T",
        "--kind",
        "service_account",
        "--environment",
        "production",
    ]);
    env.json(&[
        "identity",
        "add",
        "--client-id",
        "twin",
        "--name",
        "T",
        "--kind",
        "service_account",
        "--environment",
        "sandbox",
    ]);
    let out = env.cli(&["--db", d, "identity", "show", "twin"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--environment"), "{}", stderr(&out));
    let out = env.cli(&[
        "--db",
        d,
        "identity",
        "show",
        "twin",
        "--environment",
        "sandbox",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn import_prints_a_summary_and_notes() {
    let env = Env::new();
    let d = db(&env);
    let csv = fixture("csv/extra-column.csv");
    let out = env.cli(&[
        "--db",
        d,
        "import",
        "registrations",
        csv.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 created"));
    assert!(
        stderr(&out).contains("cost_center"),
        "unknown columns are reported"
    );
    let kc = fixture("registrations/keycloak-smart-realm.json");
    let summary = env.json(&[
        "import",
        "registrations",
        kc.to_str().expect("path"),
        "--environment",
        "production",
    ]);
    assert_eq!(summary["format"], "keycloak_realm");
    assert_eq!(summary["created"], 3);
}

#[test]
fn audit_verify_fails_naming_the_seq_after_tampering() {
    let env = Env::new();
    let d = db(&env);
    env.json(&["demo", "--identities", "6"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = env.store().await;
        crate::support::tamper(
            &store,
            "UPDATE audit_log SET subject = 'identity:77' WHERE seq = 3",
        )
        .await;
        store.close().await;
    });
    let out = env.cli(&["--db", d, "audit", "verify"]);
    assert!(
        !out.status.success(),
        "a tampered log must fail verification"
    );
    assert!(stderr(&out).contains("seq 3"), "{}", stderr(&out));
}

#[test]
fn whoami_names_the_os_account_and_person_bind_is_audited() {
    let env = Env::sqlite(); // a workstation: team members are added, not bound
    let who = env.json(&["whoami"]);
    assert_eq!(
        who["person"],
        serde_json::Value::Null,
        "unbound at first: {who}"
    );
    assert_eq!(who["os_user"], crate::support::OS_USER);
    assert_eq!(who["engine"], "sqlite");
    env.json(&["person", "add", "Rita Reviewer <rita@h.example>"]);
    env.json(&["person", "add", "Tom <tom@h.example>"]);
    let bound = env.json(&["person", "bind", "rita@h.example"]);
    assert_eq!(bound["person"]["email"], "rita@h.example");
    assert_eq!(bound["roles"], serde_json::json!(["admin"]));
    let d = db(&env);
    let again = env.cli(&["--db", d, "person", "bind", "tom@h.example"]);
    assert!(!again.status.success(), "one OS account acts as one person");
    let log = env.json(&["audit", "log"]);
    let bind = &log[0];
    assert_eq!(bind["action"], "person.bind");
    assert_eq!(bind["actor"], crate::support::OS_USER);
    assert_eq!(bind["details"]["os_user"], crate::support::OS_USER);
}

#[test]
fn a_db_url_steward_cannot_use_is_an_error_never_a_file() {
    let env = Env::new();
    for url in ["mysql://h/db", "postgres:db", "sqlite3://x"] {
        let out = env.cli(&["--db", url, "init"]);
        assert!(!out.status.success(), "{url} must be refused");
        assert!(
            stderr(&out).contains("not a database Steward can use"),
            "{}",
            stderr(&out)
        );
    }
    let made: Vec<_> = std::fs::read_dir(env.dir.path())
        .expect("temp dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains(':') || n == "postgres")
        .collect();
    assert!(made.is_empty(), "nothing was created for a URL: {made:?}");
}

#[test]
fn a_swapped_or_lost_fingerprint_key_is_refused_at_open() {
    let env = Env::sqlite(); // the key file beside a workstation's database
    env.json(&["demo", "--identities", "5"]);
    let key = format!("{}.key", db(&env));
    let original = std::fs::read(&key).expect("key");
    std::fs::write(&key, [9u8; 32]).expect("swap");
    let out = env.cli(&["--db", db(&env), "identity", "list"]);
    assert!(
        !out.status.success(),
        "another key would fingerprint differently"
    );
    assert!(stderr(&out).contains("is not the key"), "{}", stderr(&out));
    std::fs::remove_file(&key).expect("lose");
    let out = env.cli(&["--db", db(&env), "identity", "list"]);
    assert!(!out.status.success(), "a lost key is not silently replaced");
    assert!(stderr(&out).contains("is missing"), "{}", stderr(&out));
    std::fs::write(&key, original).expect("restore");
    // Restored readable by others, it is refused until it is the user's alone again.
    let out = env.cli(&["--db", db(&env), "identity", "list"]);
    assert!(stderr(&out).contains("mode 0600"), "{}", stderr(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    env.json(&["identity", "list"]);
}
