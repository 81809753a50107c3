//! Shared helpers: a temp data dir with a real SQLite file, the real binary, fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use steward::audit::Actor;
use steward::time::{self, Timestamp};
use steward::Store;
use tempfile::TempDir;

/// The OS user the CLI runs as in tests.
pub const OS_USER: &str = "steward-tester";

/// A temp directory holding one Steward database.
pub struct Env {
    pub dir: TempDir,
    pub db: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("steward.db");
        Env { dir, db }
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.db).await.expect("open store")
    }

    /// Runs the real `steward` binary against this database, with HOME and the XDG dirs
    /// pointed into the temp dir so nothing can reach the user's real data.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_env(args, &[])
    }

    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
        cmd.args(args)
            .env_remove("STEWARD_DB")
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg-config"))
            .env("USER", OS_USER)
            .env("LOGNAME", OS_USER);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run steward")
    }

    /// `cli` with `--db` and `--json`, parsed; panics with stderr when it fails.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["--db", self.db.to_str().expect("utf-8 path"), "--json"];
        full.extend_from_slice(args);
        let out = self.cli(&full);
        assert!(
            out.status.success(),
            "steward {args:?} failed: {}",
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn now() -> Timestamp {
    time::parse("2026-11-28T12:00:00Z").expect("fixed time")
}

pub fn actor() -> Actor {
    Actor("reviewer@test".into())
}

/// A store seeded with `identities` demo identities from `seed`.
pub async fn seeded(env: &Env, identities: usize, seed: u64) -> Store {
    let store = env.store().await;
    steward::api::demo_seed(
        &store,
        now(),
        &actor(),
        steward::api::DemoOptions { identities, seed },
    )
    .await
    .expect("demo");
    store
}

/// Counts rows of a table, straight from SQLite.
pub async fn rows(store: &Store, table: &str) -> i64 {
    let sql = match table {
        "identity" => "SELECT count(*) FROM identity",
        "identity_scope" => "SELECT count(*) FROM identity_scope",
        "credential" => "SELECT count(*) FROM credential",
        "person" => "SELECT count(*) FROM person",
        "audit_log" => "SELECT count(*) FROM audit_log",
        "review_campaign" => "SELECT count(*) FROM review_campaign",
        "review_item" => "SELECT count(*) FROM review_item",
        "review_decision" => "SELECT count(*) FROM review_decision",
        "attestation" => "SELECT count(*) FROM attestation",
        other => panic!("no such table in tests: {other}"),
    };
    sqlx::query_scalar(sql)
        .fetch_one(store.sqlite_pool().expect("a SQLite store"))
        .await
        .expect("count")
}

/// Every table's row count, to prove a failed write left nothing behind.
pub async fn snapshot(store: &Store) -> Vec<i64> {
    let mut v = Vec::new();
    for t in [
        "identity",
        "identity_scope",
        "credential",
        "person",
        "audit_log",
    ] {
        v.push(rows(store, t).await);
    }
    v
}

/// Runs raw SQL the way an attacker holding the file would: the audit triggers dropped first.
pub async fn tamper(store: &Store, sql: &str) {
    for drop in [
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ] {
        sqlx::query(drop)
            .execute(store.sqlite_pool().expect("a SQLite store"))
            .await
            .expect("drop");
    }
    sqlx::query(sql)
        .execute(store.sqlite_pool().expect("a SQLite store"))
        .await
        .expect("tamper");
}

/// The actor of the person with this email (an id or `Name <email>` works too): an OS
/// account of their own, bound to them as `steward person bind` binds one.
pub async fn signed_in(store: &Store, person: &str) -> Actor {
    let login = Actor(format!("os-user:{}", person.trim()));
    steward::api::person_bind(store, now(), &login, person)
        .await
        .expect("bind the OS account");
    login
}

/// `review_decide` as the reviewer the request names.
pub async fn decide_as(
    store: &Store,
    at: Timestamp,
    req: steward::review::DecideRequest,
) -> steward::Result<steward::review::Item> {
    let who = signed_in(store, req.reviewer.as_deref().expect("a reviewer")).await;
    steward::api::review_decide(store, at, &who, req).await
}

/// `identity_attest` as the owner the request names.
pub async fn attest_as(
    store: &Store,
    at: Timestamp,
    r: &steward::api::IdentityRef,
    req: steward::review::AttestRequest,
) -> steward::Result<steward::inventory::IdentityDetail> {
    let who = signed_in(store, req.person.as_deref().expect("a person")).await;
    steward::api::identity_attest(store, at, &who, r, req).await
}

/// `finding_accept` as the approver.
pub async fn accept_as(
    store: &Store,
    at: Timestamp,
    finding: &str,
    until: Timestamp,
    reason: &str,
    approver: &str,
) -> steward::Result<steward::policy::Finding> {
    // Someone who is not (yet) a person cannot be bound: act unbound, and be refused.
    let who = Actor(format!("os-user:{approver}"));
    let _ = steward::api::person_bind(store, now(), &who, approver).await;
    steward::api::finding_accept(store, at, &who, finding, until, reason, Some(approver)).await
}
