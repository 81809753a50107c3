//! A team database on a real PostgreSQL cluster (started by `scripts/pg-cluster.sh`, which
//! sets `STEWARD_TEST_PG`): members sign in with their own logins, the database refuses what
//! a role may not do, and many reviewers at once leave exactly one decision an item and a
//! chain that verifies, each entry's actor the login that made it.

use std::process::Command;

use steward::api::{self, IdentityEdit, NewIdentity};
use steward::audit::Actor;
use steward::inventory::{Environment, Kind};
use steward::review::{CampaignFilter, DecideRequest, NewCampaign, ReviewDecision};
use steward::store::review::ItemQuery;
use steward::{Code, Store};
use tempfile::TempDir;

use crate::support::{now, PASSWORD};

/// One fresh database in the test cluster, its schema made by the cluster's superuser (the
/// schema owner, who adds the members).
struct Team {
    base: String,
    db: String,
    keys: TempDir,
}

impl Team {
    /// A new team database, or none when no cluster runs (`make test` starts one).
    async fn new() -> Option<Team> {
        let Some(base) = crate::support::cluster() else {
            eprintln!("STEWARD_TEST_PG is not set: run under scripts/pg-cluster.sh run");
            return None;
        };
        let db = crate::support::new_team_database(&base);
        Some(Team {
            base,
            db,
            keys: tempfile::tempdir().expect("keys dir"),
        })
    }

    /// The URL of this database as `login` (the superuser when `None`).
    fn url(&self, login: Option<&str>) -> String {
        match login {
            None => format!("{}/{}", self.base, self.db),
            Some(l) => {
                let host = self.base.rsplit_once('@').map(|(_, h)| h).unwrap_or("");
                format!(
                    "postgres://{l}:{}@{host}/{}",
                    PASSWORD.replace(' ', "%20"),
                    self.db
                )
            }
        }
    }

    async fn open(&self, login: Option<&str>) -> Store {
        Store::open_pg(&self.url(login), self.keys.path().to_path_buf())
            .await
            .expect("open the team database")
    }

    /// The schema owner's store.
    async fn owner(&self) -> Store {
        self.open(None).await
    }

    /// A login name unique in the cluster.
    fn login(&self, name: &str) -> String {
        format!("{name}_{}", self.db)
    }

    /// Runs SQL as `login` with psql, as a member holding their password could.
    fn psql(&self, login: &str, sql: &str) -> std::process::Output {
        Command::new("psql")
            .arg(self.url(Some(login)))
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-c", sql])
            .output()
            .expect("run psql")
    }
}

async fn add_member(owner: &Store, team: &Team, person: &str, name: &str, role: &str) -> String {
    let login = team.login(name);
    let actor = api::session_actor(owner).await.expect("owner login");
    api::team_add_member(owner, now(), &actor, person, &login, role, PASSWORD)
        .await
        .expect("add member");
    login
}

async fn identity(owner: &Store, client_id: &str, business_owner: &str) -> i64 {
    let actor = api::session_actor(owner).await.expect("owner login");
    let d = api::identity_add(
        owner,
        now(),
        &actor,
        NewIdentity {
            client_id: client_id.into(),
            environment: Some(Environment::Production),
            fields: IdentityEdit {
                name: Some(client_id.into()),
                kind: Some(Kind::ClinicianApp),
                business_owner: Some(business_owner.into()),
                purpose: Some("Shows clinic schedules.".into()),
                approved_scopes: Some("user/Appointment.rs".into()),
                granted_scopes: Some("user/Appointment.rs".into()),
                revocation_endpoint: Some("https://auth.example.org/revoke".into()),
                ..IdentityEdit::default()
            },
        },
    )
    .await
    .expect("add identity");
    d.identity.id
}

async fn campaign(owner: &Store) -> Vec<steward::review::Item> {
    let actor = api::session_actor(owner).await.expect("owner login");
    let c = api::campaign_create(
        owner,
        now(),
        &actor,
        NewCampaign {
            name: "Quarterly".into(),
            deadline: "2027-01-31".into(),
            filter: CampaignFilter {
                environment: Some(Environment::Production),
                ..CampaignFilter::default()
            },
            ..NewCampaign::default()
        },
    )
    .await
    .expect("campaign");
    api::review_items(
        owner,
        &ItemQuery {
            campaign: Some(c.id),
            ..ItemQuery::default()
        },
    )
    .await
    .expect("items")
}

fn certify(item: i64) -> DecideRequest {
    DecideRequest {
        item,
        decision: ReviewDecision::Certify,
        remove_scopes: Vec::new(),
        new_owner: None,
        comment: "confirmed with the owners".into(),
        reviewer: None,
        version: None,
    }
}

/// A decision inserted straight into the table, as a member with psql could try.
fn decision_sql(item: i64, email: &str) -> String {
    format!(
        "INSERT INTO review_decision (item_id, decision, reviewer_id, comment, evidence, at) \
         VALUES ({item}, 'certify', (SELECT id FROM person WHERE email = '{email}'), \
         'x', '{{}}', 'now')"
    )
}

/// Assigns an item to a person, as the schema owner.
async fn assign(owner: &Store, item: i64, email: &str) {
    sqlx::query(
        "UPDATE review_item SET reviewer_id = (SELECT id FROM person WHERE email = $1) \
         WHERE id = $2",
    )
    .bind(email)
    .bind(item)
    .execute(owner.pg_pool().expect("team"))
    .await
    .expect("assign");
}

fn refused(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "the database must refuse this");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_database_refuses_what_a_role_may_not_do() {
    let Some(team) = Team::new().await else {
        return;
    };
    let owner = team.owner().await;
    let actor = api::session_actor(&owner).await.expect("owner login");
    for p in [
        "Ana Lima <ana@example.org>",
        "Rita Reviewer <rita@example.org>",
        "Bob Reviewer <bob@example.org>",
        "Ada Auditor <ada@example.org>",
    ] {
        api::person_add(&owner, now(), &actor, p)
            .await
            .expect("person");
    }
    api::person_set_reviewer(
        &owner,
        now(),
        &actor,
        "ana@example.org",
        Some("rita@example.org"),
    )
    .await
    .expect("rita reviews what ana owns");
    let sched = identity(&owner, "sched", "ana@example.org").await;
    let rita = add_member(&owner, &team, "rita@example.org", "rita", "reviewer").await;
    let bob = add_member(&owner, &team, "bob@example.org", "bob", "reviewer").await;
    let ana = add_member(&owner, &team, "ana@example.org", "ana", "reviewer").await;
    let ada = add_member(&owner, &team, "ada@example.org", "ada", "auditor").await;
    let items = campaign(&owner).await;
    let item = items
        .iter()
        .find(|i| i.identity_id == sched)
        .expect("an item for sched");

    // Who is signed in is the login, bound to its person.
    let as_rita = team.open(Some(&rita)).await;
    let me = api::session_actor(&as_rita).await.expect("login");
    assert_eq!(me.0, rita, "the actor is the session's login");
    let who = api::whoami(&as_rita, &me).await.expect("whoami");
    assert_eq!(
        who.person.map(|p| p.email).as_deref(),
        Some("rita@example.org")
    );
    assert_eq!(
        (who.roles, who.engine.as_str()),
        (vec!["reviewer".to_string()], "postgres")
    );

    // A reviewer deciding an item assigned to someone else: refused by the database.
    let out = team.psql(&bob, &decision_sql(item.id, "bob@example.org"));
    assert!(
        refused(&out).contains("row-level security"),
        "bob is not the reviewer"
    );

    // An owner deciding their own item: refused by the database even when it is theirs to
    // review (the schema owner assigns it to her).
    assign(&owner, item.id, "ana@example.org").await;
    let out = team.psql(&ana, &decision_sql(item.id, "ana@example.org"));
    assert!(
        refused(&out).contains("row-level security"),
        "ana owns sched"
    );
    assign(&owner, item.id, "rita@example.org").await;

    // An auditor writing: refused.
    let out = team.psql(&ada, "UPDATE identity SET purpose = 'x'");
    assert!(refused(&out).contains("permission denied"));
    let out = team.psql(&ada, "INSERT INTO person (name, email) VALUES ('x', 'x@y')");
    assert!(refused(&out).contains("permission denied"));

    // The assigned reviewer decides through Steward; the entry's actor is her login.
    let done = api::review_decide(&as_rita, now(), &me, certify(item.id))
        .await
        .expect("rita decides");
    assert_eq!(done.decision, Some(ReviewDecision::Certify));
    let log = api::audit_log(
        &owner,
        &api::AuditQuery {
            subject: Some(format!("review_item:{}", item.id)),
            limit: Some(1),
            ..api::AuditQuery::default()
        },
    )
    .await
    .expect("log");
    assert_eq!(
        (log[0].action.as_str(), log[0].actor.as_str()),
        ("review.decide", rita.as_str())
    );

    // Naming someone else is refused by Steward before the database sees it.
    let e = api::review_decide(
        &as_rita,
        now(),
        &me,
        DecideRequest {
            reviewer: Some("bob@example.org".into()),
            version: None,
            ..certify(item.id)
        },
    )
    .await
    .expect_err("rita cannot act as bob");
    assert_eq!(e.code(), Code::Forbidden);

    // Nobody but the schema owner rewrites the log, and a forged actor is overwritten.
    for sql in [
        "UPDATE audit_log SET actor = 'someone'",
        "DELETE FROM audit_log",
    ] {
        assert!(
            refused(&team.psql(&rita, sql)).contains("permission denied"),
            "{sql}"
        );
    }
    let out = team.psql(
        &rita,
        "INSERT INTO audit_log VALUES (999, 'now', 'bob', 'x', 'y', '{}', 'h', 'h')",
    );
    assert!(refused(&out).contains("permission denied"));
    let out = team.psql(
        &rita,
        "SELECT steward_audit_append('2026-11-28T12:00:00Z', 'note', 'x', '{\"by\":\"bob\"}')",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = api::audit_log(
        &owner,
        &api::AuditQuery {
            subject: None,
            limit: Some(1),
            ..api::AuditQuery::default()
        },
    )
    .await
    .expect("log");
    assert_eq!(
        log[0].actor, rita,
        "the database stamps the session's login"
    );
    let out = team.psql(
        &rita,
        "SELECT steward_audit_append('2026-11-28T12:00:00Z', 'note', 'x', '{\"b\":1, \"a\":2}')",
    );
    assert!(
        refused(&out).contains("canonical"),
        "non-canonical details would break the chain"
    );
    let chain = api::audit_verify(&owner).await.expect("the chain verifies");
    assert!(chain.entries >= 10, "{chain:?}");
    let unbound = Actor("nobody".into());
    let e = api::review_decide(&as_rita, now(), &unbound, certify(item.id))
        .await
        .expect_err("an unbound login cannot act");
    assert_eq!(e.code(), Code::Forbidden);
}

#[tokio::test]
async fn twenty_reviewers_at_once_leave_one_decision_per_item_and_a_chain_that_verifies() {
    let Some(team) = Team::new().await else {
        return;
    };
    const REVIEWERS: usize = 20;
    const ITEMS: usize = 2000;
    let owner = team.owner().await;
    let actor = api::session_actor(&owner).await.expect("owner login");
    api::person_add(&owner, now(), &actor, "Olu Owner <olu@example.org>")
        .await
        .expect("owner");
    let mut logins = Vec::new();
    for r in 0..REVIEWERS {
        let email = format!("r{r}@example.org");
        api::person_add(&owner, now(), &actor, &email)
            .await
            .expect("reviewer");
        logins.push(add_member(&owner, &team, &email, &format!("r{r}"), "reviewer").await);
    }
    for n in 0..ITEMS {
        identity(&owner, &format!("app-{n}"), "olu@example.org").await;
    }
    let items = campaign(&owner).await;
    assert_eq!(items.len(), ITEMS);
    // Item k goes to reviewer k mod 20.
    let pool = owner.pg_pool().expect("team");
    for (k, item) in items.iter().enumerate() {
        sqlx::query("UPDATE review_item SET reviewer_id = (SELECT id FROM person WHERE email = $1) WHERE id = $2")
            .bind(format!("r{}@example.org", k % REVIEWERS))
            .bind(item.id)
            .execute(pool)
            .await
            .expect("assign");
    }
    let mut tasks = Vec::new();
    for (r, login) in logins.iter().enumerate() {
        let store = team.open(Some(login)).await;
        let mine: Vec<i64> = items
            .iter()
            .enumerate()
            .filter(|(k, _)| k % REVIEWERS == r)
            .map(|(_, i)| i.id)
            .collect();
        tasks.push(tokio::spawn(async move {
            let me = api::session_actor(&store).await.expect("login");
            for id in mine {
                api::review_decide(&store, now(), &me, certify(id))
                    .await
                    .expect("decide");
            }
            store.close().await;
        }));
    }
    for t in tasks {
        t.await.expect("a reviewer's task");
    }
    let (decisions, items_decided): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM review_decision), \
                (SELECT count(DISTINCT item_id) FROM review_decision)",
    )
    .fetch_one(pool)
    .await
    .expect("count");
    assert_eq!(
        (decisions, items_decided),
        (ITEMS as i64, ITEMS as i64),
        "no lost or doubled decision"
    );
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log a JOIN review_decision d \
           ON a.subject = 'review_item:' || d.item_id AND a.action = 'review.decide' \
         JOIN account acc ON acc.person_id = d.reviewer_id \
         WHERE a.actor <> acc.login",
    )
    .fetch_one(pool)
    .await
    .expect("actors");
    assert_eq!(wrong, 0, "every entry's actor is the login that made it");
    api::audit_verify(&owner).await.expect("the chain verifies");
}

#[tokio::test]
async fn both_engines_migrations_define_the_same_tables_and_columns() {
    let Some(team) = Team::new().await else {
        return;
    };
    let pg: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' \
         ORDER BY 1, 2",
    )
    .fetch_all(team.owner().await.pg_pool().expect("team"))
    .await
    .expect("pg columns");
    let env = crate::support::Env::sqlite();
    let lite = env.store().await;
    let mut sqlite: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(lite.sqlite_pool().expect("sqlite"))
    .await
    .expect("sqlite columns");
    sqlite.sort();
    assert!(!pg.is_empty());
    assert_eq!(pg, sqlite, "the two engines' schemas must not drift apart");
}

/// The rows of every table the push copies, from the workstation's file.
async fn table_rows(store: &Store, tables: &serde_json::Map<String, serde_json::Value>) {
    for (table, copied) in tables {
        let n = crate::support::scalar(store, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(Some(n), copied.as_i64(), "{table}");
    }
}

#[tokio::test]
async fn a_workstation_pushed_to_the_team_and_pulled_back_verifies_both_ways() {
    let Some(base) = crate::support::cluster() else {
        return;
    };
    let url = format!("{base}/{}", crate::support::new_team_database(&base));
    let env = crate::support::Env::sqlite();
    let d = env.db_arg().to_string();
    env.json(&["demo", "--identities", "40"]);
    env.json(&["audit", "checkpoint"]);
    let someone = env.json(&["person", "list"])[0]["email"]
        .as_str()
        .expect("an email")
        .to_string();
    env.json(&["person", "bind", &someone]);
    let lite = env.store().await;
    let credentials: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, fingerprint FROM credential WHERE fingerprint IS NOT NULL ORDER BY id",
    )
    .fetch_all(lite.sqlite_pool().expect("sqlite"))
    .await
    .expect("fingerprints");
    assert!(!credentials.is_empty());

    let pushed = env.json(&["team", "push", "--to", &url]);
    let tables = pushed["tables"].as_object().expect("tables");
    assert!(tables["identity"].as_i64() == Some(40), "{pushed}");
    table_rows(&lite, tables).await;
    let entries = crate::support::rows(&lite, "audit_log").await;
    assert_eq!(pushed["audit_entries"], entries);
    assert_eq!(pushed["checkpoints"], 1);
    lite.close().await;

    // The team database: the same chain and one entry more (the push, by the login), the
    // same fingerprints, and the workstation's fingerprint key is the team's.
    let team = env.json_on(&url, &["audit", "verify"]);
    assert_eq!(team["entries"], entries + 1);
    let log = env.json_on(&url, &["audit", "log", "--limit", "1"]);
    assert_eq!(log[0]["action"], "team.push");
    assert_eq!(log[0]["actor"], env.audit_actor_of(&url));
    let owner = Store::open_pg(&url, env.dir.path().join("team-keys"))
        .await
        .expect("open the team database");
    let there: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, fingerprint FROM credential WHERE fingerprint IS NOT NULL ORDER BY id",
    )
    .fetch_all(owner.pg_pool().expect("team"))
    .await
    .expect("fingerprints");
    assert_eq!(there, credentials);
    assert_eq!(
        std::fs::read(env.dir.path().join("team-keys/team.key")).expect("team key"),
        std::fs::read(format!("{d}.key")).expect("workstation key")
    );
    // New ids continue after the copied ones.
    let added = env.json_on(&url, &["person", "add", "New <new@hospital.example>"]);
    assert!(added["id"].as_i64() > Some(0));

    // Into a team database that holds anything: refused, and nothing changes.
    let again = env.cli(&["--db", &d, "team", "push", "--to", &url]);
    assert!(!again.status.success());
    assert!(crate::support::stderr(&again).contains("empty team database"));

    // A member whose workstation holds another key (or none) is told, not let in.
    let stranger = tempfile::tempdir().expect("dir");
    std::fs::write(stranger.path().join("team.key"), [7u8; 32]).expect("key");
    let e = Store::open_pg(&url, stranger.path().to_path_buf())
        .await
        .err()
        .expect("another key is refused");
    assert!(e.to_string().contains("team.key"), "{e}");
    let empty = tempfile::tempdir().expect("dir");
    let e = Store::open_pg(&url, empty.path().to_path_buf())
        .await
        .err()
        .expect("no key is refused");
    assert!(e.to_string().contains("is missing"), "{e}");

    // Pulled back: a read-only file whose chain and checkpoints verify, with every row.
    let snap = env.dir.path().join("snapshot.db");
    let s = snap.to_str().expect("path");
    let pulled = env.json_on(&url, &["team", "pull", "--out", s]);
    assert_eq!(
        pulled["audit_entries"],
        entries + 2,
        "the push and the person added"
    );
    assert_eq!(pulled["checkpoints"], 1);
    assert!(std::fs::metadata(&snap)
        .expect("file")
        .permissions()
        .readonly());
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "no partial files");
    let verified = env.json_on(s, &["audit", "verify"]);
    assert_eq!(verified["entries"], entries + 2);
    let listed = env.json_on(s, &["identity", "list"]);
    assert_eq!(listed, env.json_on(&url, &["identity", "list"]));
    let write = env.cli(&["--db", s, "person", "add", "X <x@hospital.example>"]);
    assert!(!write.status.success());
    assert!(crate::support::stderr(&write).contains("read-only snapshot"));
    let over = env.cli(&["--db", &url, "team", "pull", "--out", s]);
    assert!(!over.status.success(), "a snapshot never overwrites a file");
    owner.close().await;
}
