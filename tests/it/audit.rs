//! The audit chain: every governance write is logged, and every kind of tampering is caught.

use crate::support::{actor, now, rows, tamper, Env};
use steward::api::{self, DemoOptions, IdentityRef};
use steward::Code;

async fn seeded(env: &Env) -> steward::Store {
    let store = env.store().await;
    api::demo_seed(
        &store,
        now(),
        &actor(),
        DemoOptions {
            identities: 8,
            seed: 1,
        },
    )
    .await
    .expect("demo");
    store
}

async fn broken_at(store: &steward::Store) -> String {
    let e = api::audit_verify(store)
        .await
        .expect_err("tampering must be detected");
    assert_eq!(e.code(), Code::Integrity);
    e.to_string()
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let env = Env::new();
    let store = seeded(&env).await;
    let s = api::audit_verify(&store).await.expect("intact");
    assert!(s.entries > 9, "the demo's identities, seed and campaign");
    assert_eq!(s.entries, rows(&store, "audit_log").await);
}

#[tokio::test]
async fn triggers_refuse_update_and_delete() {
    let env = Env::new();
    let store = seeded(&env).await;
    for sql in [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
    ] {
        let e = on_pool!(store, |p| sqlx::query(sql)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .expect_err("append-only");
        assert!(e.to_string().contains("append-only"), "{e}");
    }
}

#[tokio::test]
async fn a_changed_entry_is_named() {
    let env = Env::new();
    let store = seeded(&env).await;
    tamper(
        &store,
        "UPDATE audit_log SET details = '{\"client_id\":\"forged\"}' WHERE seq = 4",
    )
    .await;
    assert!(broken_at(&store).await.contains("seq 4"));
}

#[tokio::test]
async fn a_changed_actor_or_time_is_named() {
    let env = Env::new();
    let store = seeded(&env).await;
    tamper(
        &store,
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 6",
    )
    .await;
    assert!(broken_at(&store).await.contains("seq 6"));
    let env = Env::new();
    let store = seeded(&env).await;
    tamper(
        &store,
        "UPDATE audit_log SET at = '2020-01-01T00:00:00Z' WHERE seq = 1",
    )
    .await;
    assert!(broken_at(&store).await.contains("seq 1"));
}

#[tokio::test]
async fn a_deleted_entry_is_named() {
    let env = Env::new();
    let store = seeded(&env).await;
    tamper(&store, "DELETE FROM audit_log WHERE seq = 5").await;
    assert!(broken_at(&store).await.contains("seq 5"));
}

#[tokio::test]
async fn reordered_entries_are_named() {
    let env = Env::new();
    let store = seeded(&env).await;
    // Swap entries 3 and 4 wholesale (content and hashes), keeping seq order.
    tamper(&store, "UPDATE audit_log SET seq = -3 WHERE seq = 3").await;
    tamper(&store, "UPDATE audit_log SET seq = 3 WHERE seq = 4").await;
    tamper(&store, "UPDATE audit_log SET seq = 4 WHERE seq = -3").await;
    assert!(broken_at(&store).await.contains("seq 3"));
}

#[tokio::test]
async fn an_inserted_entry_is_named() {
    let env = Env::new();
    let store = seeded(&env).await;
    // Make room after seq 2 and slip a forged entry in, copying seq 2's hash as its prev_hash.
    tamper(&store, "UPDATE audit_log SET seq = seq + 100 WHERE seq > 2").await;
    tamper(
        &store,
        "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
         SELECT 3, at, 'mallory', 'identity.create', 'identity:999', '{}', hash, hash \
         FROM audit_log WHERE seq = 2",
    )
    .await;
    assert!(broken_at(&store).await.contains("seq 3"));
}

#[tokio::test]
async fn a_truncated_tail_with_a_forged_append_is_named() {
    let env = Env::new();
    let store = seeded(&env).await;
    let next = rows(&store, "audit_log").await + 1;
    tamper(
        &store,
        &format!("INSERT INTO audit_log VALUES ({next}, 't', 'a', 'x', 's', '{{}}', 'bad', 'bad')"),
    )
    .await;
    assert!(broken_at(&store).await.contains(&format!("seq {next}")));
}

#[tokio::test]
async fn a_failed_write_leaves_no_audit_entry() {
    let env = Env::new();
    let store = seeded(&env).await;
    let before = rows(&store, "audit_log").await;
    let r = IdentityRef::id(1);
    api::identity_set_owner(
        &store,
        now(),
        &actor(),
        &r,
        steward::inventory::OwnerRole::Business,
        "bad",
    )
    .await
    .expect_err("invalid owner");
    assert_eq!(rows(&store, "audit_log").await, before);
    api::audit_verify(&store).await.expect("still intact");
}
