//! Shared helpers: a temp data dir with a real database (a SQLite file, or a fresh database
//! in the test cluster when `STEWARD_TEST_ENGINE=postgres`), the real binary, fixtures.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use steward::audit::Actor;
use steward::time::{self, Timestamp};
use steward::Store;
use tempfile::TempDir;

/// The OS user the CLI runs as in tests.
pub const OS_USER: &str = "steward-tester";

/// The password of every member login the tests add.
pub const PASSWORD: &str = "correct horse battery";

/// Runs `$body` with `$p` bound to the store's pool, whichever engine it is on: test SQL is
/// written once, with `$N` placeholders, as the store's is.
#[macro_export]
macro_rules! on_pool {
    ($store:expr, |$p:ident| $body:expr) => {{
        let store: &steward::Store = &$store;
        match store.sqlite_pool() {
            Some($p) => $body,
            None => {
                let $p = store.pg_pool().expect("a store on one engine");
                $body
            }
        }
    }};
}

/// A temp directory holding one Steward database.
pub struct Env {
    pub dir: TempDir,
    /// The SQLite file (on PostgreSQL, a path nothing is written to).
    pub db: PathBuf,
    /// The team database's superuser URL, on PostgreSQL.
    pub pg: Option<String>,
    members: Mutex<HashMap<String, (String, Store)>>,
}

/// The engine the suite runs on: SQLite unless `STEWARD_TEST_ENGINE=postgres`.
pub fn on_postgres() -> bool {
    match std::env::var("STEWARD_TEST_ENGINE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("STEWARD_TEST_ENGINE is sqlite or postgres, not {other}"),
    }
}

/// The test cluster's superuser URL (no database), from `scripts/pg-cluster.sh`.
pub fn cluster() -> Option<String> {
    std::env::var("STEWARD_TEST_PG").ok()
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// Runs one statement in the cluster's `postgres` database with psql.
fn cluster_sql(base: &str, sql: &str) {
    let out = Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-c", sql])
        .output()
        .expect("run psql");
    assert!(out.status.success(), "{sql}: {}", stderr(&out));
}

/// A new, empty database in the cluster, its schema copied from a template migrated once per
/// test process (the roles the migrations create are the cluster's, so one at a time).
pub fn new_team_database(base: &str) -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    static CREATING: Mutex<()> = Mutex::new(());
    let template = TEMPLATE.get_or_init(|| {
        let name = format!("tpl_{}", std::process::id());
        cluster_sql(base, &format!("CREATE DATABASE {name}"));
        let keys = tempfile::tempdir().expect("keys");
        let out = Command::new(env!("CARGO_BIN_EXE_steward"))
            .args(["--db", &format!("{base}/{name}"), "whoami"])
            .env("STEWARD_TEAM_DIR", keys.path())
            .env("HOME", keys.path())
            .output()
            .expect("migrate the template");
        assert!(out.status.success(), "migrate: {}", stderr(&out));
        // A new team database has no key yet: its first member's becomes the team's.
        let url = format!("{base}/{name}");
        let out = Command::new("psql")
            .args([url.as_str(), "-X", "-q", "-c", "DELETE FROM key_check"])
            .output()
            .expect("run psql");
        assert!(out.status.success(), "{}", stderr(&out));
        name
    });
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let _one_copy_at_a_time = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    cluster_sql(base, &format!("CREATE DATABASE {name} TEMPLATE {template}"));
    name
}

impl Env {
    /// A database on the suite's engine.
    pub fn new() -> Env {
        if on_postgres() {
            let base = cluster().expect(
                "STEWARD_TEST_ENGINE=postgres needs the test cluster: scripts/pg-cluster.sh run",
            );
            let name = new_team_database(&base);
            Env::with(Some(format!("{base}/{name}")))
        } else {
            Env::sqlite()
        }
    }

    /// A SQLite file, for what only a file has (its journal, its permissions, its bytes).
    pub fn sqlite() -> Env {
        Env::with(None)
    }

    fn with(pg: Option<String>) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("steward.db");
        Env {
            dir,
            db,
            pg,
            members: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_pg(&self) -> bool {
        self.pg.is_some()
    }

    /// The `--db` value: the file or the team database's URL.
    pub fn db_arg(&self) -> &str {
        match &self.pg {
            Some(url) => url,
            None => self.db.to_str().expect("utf-8 path"),
        }
    }

    /// The actor the audit log names for what `actor` did here: `actor` itself on a file,
    /// the session's login on a team database (the database stamps it, whatever was given).
    pub fn audit_actor(&self, actor: &str) -> String {
        match &self.pg {
            Some(url) => self.audit_actor_of(url),
            None => actor.to_string(),
        }
    }

    /// The login of a team database's URL, which the database stamps on what it does.
    pub fn audit_actor_of(&self, url: &str) -> String {
        url.strip_prefix("postgres://")
            .and_then(|u| u.split([':', '@']).next())
            .expect("a login in the URL")
            .to_string()
    }

    /// Where this workstation keeps a team's keys (the CLI is pointed at the same place).
    pub fn team_dir(&self) -> PathBuf {
        self.dir.path().join("team-keys")
    }

    /// The store as the schema owner (on a team database) or the OS user (on a file).
    pub async fn store(&self) -> Store {
        match &self.pg {
            Some(url) => Store::open_pg(url, self.team_dir())
                .await
                .expect("open team store"),
            None => Store::open(&self.db).await.expect("open store"),
        }
    }

    /// The team database's URL as the member `person` (email) in `role`: a login of their
    /// own, added by the schema owner on first use.
    pub async fn member_url(&self, owner: &Store, person: &str, role: &str) -> String {
        let url = self.pg.as_ref().expect("members are on a team database");
        let key = format!("{role}:{person}");
        if let Some((u, _)) = self.members.lock().expect("members").get(&key) {
            return u.clone();
        }
        let n = self.members.lock().expect("members").len();
        let db = url.rsplit_once('/').map(|(_, d)| d).expect("a database");
        let login = format!("m{n}_{db}");
        let admin = steward::api::session_actor(owner).await.expect("owner");
        steward::api::team_add_member(owner, now(), &admin, person, &login, role, PASSWORD)
            .await
            .expect("add member");
        let host = url
            .rsplit_once('@')
            .and_then(|(_, h)| h.split_once('/'))
            .map(|(h, _)| h)
            .expect("a host");
        let member = format!(
            "postgres://{login}:{}@{host}/{db}",
            PASSWORD.replace(' ', "%20")
        );
        let store = Store::open_pg(&member, self.team_dir())
            .await
            .expect("open as member");
        self.members
            .lock()
            .expect("members")
            .insert(key, (member.clone(), store));
        member
    }

    /// The team database as the member `person` in `role` (see [`Env::member_url`]).
    pub async fn member(&self, owner: &Store, person: &str, role: &str) -> Store {
        self.member_url(owner, person, role).await;
        let key = format!("{role}:{person}");
        self.members.lock().expect("members")[&key].1.clone()
    }

    /// Every byte the database keeps: the file with its journal, or a dump of the team
    /// database's data, to prove a secret is in none of them.
    pub fn raw_bytes(&self) -> Vec<u8> {
        if let Some(url) = &self.pg {
            let out = Command::new("pg_dump")
                .args(["--data-only", url])
                .output()
                .expect("run pg_dump");
            assert!(out.status.success(), "pg_dump: {}", stderr(&out));
            return out.stdout;
        }
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let p = format!("{}{suffix}", self.db.display());
            if let Ok(b) = std::fs::read(&p) {
                all.extend(b);
            }
        }
        all
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
            .env("STEWARD_TEAM_DIR", self.team_dir())
            .env("USER", OS_USER)
            .env("LOGNAME", OS_USER);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run steward")
    }

    /// `cli` with `--db` and `--json`, parsed; panics with stderr when it fails.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        self.json_on(self.db_arg(), args)
    }

    /// `json` against another database.
    pub fn json_on(&self, db: &str, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["--db", db, "--json"];
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

/// Counts rows of a table.
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
    scalar(store, sql).await
}

/// One integer from a query, on either engine.
pub async fn scalar(store: &Store, sql: &str) -> i64 {
    on_pool!(store, |p| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(p)
        .await)
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Runs one statement as the store's login, on either engine.
pub async fn exec(store: &Store, sql: &str) -> Result<u64, sqlx::Error> {
    on_pool!(store, |p| sqlx::query(sql)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
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

/// Runs raw SQL the way an attacker holding the database (the file, or the schema owner's
/// login) would: the audit triggers dropped first.
pub async fn tamper(store: &Store, sql: &str) {
    for drop in [
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ] {
        let drop = if store.pg_pool().is_some() {
            format!("{drop} ON audit_log")
        } else {
            drop.to_string()
        };
        exec(store, &drop).await.expect("drop");
    }
    exec(store, sql).await.expect("tamper");
}

/// The store and actor of the person with this email (an id or `Name <email>` works too) in
/// `role`: on a file, an OS account of their own bound to them as `steward person bind`
/// binds one; on a team database, a login of their own added by the schema owner.
pub async fn signed_in(env: &Env, store: &Store, person: &str, role: &str) -> (Store, Actor) {
    if env.is_pg() {
        let member = env.member(store, person, role).await;
        let actor = steward::api::session_actor(&member).await.expect("login");
        return (member, actor);
    }
    let login = Actor(format!("os-user:{}", person.trim()));
    steward::api::person_bind(store, now(), &login, person)
        .await
        .expect("bind the OS account");
    (store.clone(), login)
}

/// `review_decide` as the reviewer the request names.
pub async fn decide_as(
    env: &Env,
    store: &Store,
    at: Timestamp,
    req: steward::review::DecideRequest,
) -> steward::Result<steward::review::Item> {
    let reviewer = req.reviewer.as_deref().expect("a reviewer");
    let (store, who) = signed_in(env, store, reviewer, "reviewer").await;
    steward::api::review_decide(&store, at, &who, req).await
}

/// `identity_attest` as the owner the request names.
pub async fn attest_as(
    env: &Env,
    store: &Store,
    at: Timestamp,
    r: &steward::api::IdentityRef,
    req: steward::review::AttestRequest,
) -> steward::Result<steward::inventory::IdentityDetail> {
    let owner = req.person.as_deref().expect("a person");
    let (store, who) = signed_in(env, store, owner, "owner").await;
    steward::api::identity_attest(&store, at, &who, r, req).await
}

/// `finding_accept` as the approver.
pub async fn accept_as(
    env: &Env,
    store: &Store,
    at: Timestamp,
    finding: &str,
    until: Timestamp,
    reason: &str,
    approver: &str,
) -> steward::Result<steward::policy::Finding> {
    // Someone who is not (yet) a person cannot sign in: act unbound, and be refused.
    let known = steward::api::person_list(store)
        .await
        .expect("people")
        .iter()
        .any(|p| p.email == approver);
    let (store, who) = if known {
        signed_in(env, store, approver, "reviewer").await
    } else {
        (store.clone(), Actor(format!("os-user:{approver}")))
    };
    steward::api::finding_accept(&store, at, &who, finding, until, reason, Some(approver)).await
}
