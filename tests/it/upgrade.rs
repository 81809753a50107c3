//! Databases of other releases: the previous release's opens and is migrated; a newer one's is
//! refused and left as it was.

use crate::support::{exec, fixture, now, seeded, stderr, Env};
use steward::{api, Store};

/// Rows the refusal must leave: the identities and the schema's migrations.
async fn counts(store: &Store) -> (i64, i64) {
    let count = |sql: &'static str| async move {
        on_pool!(store, |p| sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(p)
            .await)
        .expect(sql)
    };
    (
        count("SELECT count(*) FROM identity").await,
        count("SELECT count(*) FROM _sqlx_migrations").await,
    )
}

#[tokio::test]
async fn a_database_from_a_newer_steward_is_refused_and_left_as_it_was() {
    let env = Env::new();
    let store = seeded(&env, 20, 3).await;
    let checksum = if store.pg_pool().is_some() {
        "'\\x00'::bytea"
    } else {
        "X'00'"
    };
    exec(
        &store,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (99990101000000, 'a later release', true, {checksum}, 0)"
        ),
    )
    .await
    .expect("a later schema");
    let before = counts(&store).await;
    drop(store);
    let opened = match &env.pg {
        Some(url) => Store::open_pg(url, env.team_dir()).await,
        None => Store::open(&env.db).await,
    };
    let err = opened.err().expect("refused").to_string();
    assert!(err.contains("written by a newer Steward"), "{err}");
    assert!(
        err.contains("99990101000000") && err.contains("Nothing was changed"),
        "{err}"
    );
    if env.pg.is_none() {
        // The CLI says the same and fails.
        let out = env.cli(&["--db", env.db.to_str().expect("utf-8"), "identity", "list"]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("written by a newer Steward"),
            "{}",
            stderr(&out)
        );
    }
    // Read without migrating: nothing changed.
    let raw = sqlx::sqlite::SqlitePoolOptions::new();
    if env.pg.is_none() {
        let pool = raw
            .connect(&format!("sqlite://{}?mode=ro", env.db.display()))
            .await
            .expect("read-only");
        let ids: i64 = sqlx::query_scalar("SELECT count(*) FROM identity")
            .fetch_one(&pool)
            .await
            .expect("count");
        let migrations: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!((ids, migrations), before);
    }
}

/// `tests/fixtures/release-0.1.0/`: a database made by Steward 0.1.0 (see its README).
#[tokio::test]
async fn a_database_of_the_previous_release_opens_migrated_with_its_data() {
    let env = Env::new();
    if env.pg.is_some() {
        return; // 0.1.0 had no team database.
    }
    let dir = fixture("release-0.1.0");
    std::fs::copy(dir.join("steward.db"), &env.db).expect("copy the database");
    // Its fingerprint key sits beside it, named after it.
    let key = format!("{}.key", env.db.display());
    std::fs::copy(dir.join("steward.db.key"), &key).expect("copy its key");
    // A checkout does not keep modes: the key is made the user's alone, as it was.
    #[cfg(unix)]
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let store = Store::open(&env.db).await.expect("the old database opens");
    let (identities, migrations) = counts(&store).await;
    assert_eq!(
        identities,
        expected["identities"].as_i64().expect("identities")
    );
    let known = sqlx::migrate!("./migrations/sqlite").iter().count() as i64;
    assert_eq!(migrations, known, "every migration since 0.1.0 was applied");
    // What 0.1.0 recorded is still there and still verifies.
    let verified = api::audit_verify(&store).await.expect("the chain verifies");
    assert_eq!(
        verified.entries as i64,
        expected["audit_entries"].as_i64().expect("entries")
    );
    let listed = api::identity_list(&store, &Default::default())
        .await
        .expect("list");
    let first = expected["first_client_id"].as_str().expect("client");
    assert!(
        listed.rows.iter().any(|i| i.client_id == first),
        "{first} is listed"
    );
    api::dashboard(&store, now()).await.expect("the dashboard");
    // It keeps the pages it was made with; a new database has larger ones.
    assert_eq!(page_size(&store).await, 4096);
    let fresh = Env::new();
    assert_eq!(page_size(&fresh.store().await).await, 16384);
}

async fn page_size(store: &Store) -> i64 {
    on_pool!(store, |p| sqlx::query_scalar::<_, i64>("PRAGMA page_size")
        .fetch_one(p)
        .await)
    .expect("page size")
}
