//! Crashes lose nothing: the CLI killed with SIGKILL at random points, 20 times each, during
//! an audit import, a registration import, review decisions and an evidence export. After
//! every kill the database passes `PRAGMA integrity_check`, the audit chain and its
//! checkpoints verify, no import is half-counted, no decision is without its audit entry, and
//! no package directory looks complete unless it verifies.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::support::{on_postgres, stderr, Env, OS_USER};

const KILLS: usize = 20;

fn steward(env: &Env, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .env_remove("STEWARD_DB")
        .env("HOME", env.dir.path())
        .env("XDG_DATA_HOME", env.dir.path().join("xdg-data"))
        .env("USER", OS_USER)
        .env("LOGNAME", OS_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to its end and returns how long it took.
fn timed(mut cmd: Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    t.elapsed()
}

/// Starts `cmd` and kills it with SIGKILL after a random time up to `within` (a little less
/// than an uninterrupted run took, so that most kills land mid-way); true when it
/// had finished first.
fn kill_at_random(mut cmd: Command, within: Duration, rng: &mut impl Rng) -> bool {
    let mut child = cmd.spawn().expect("spawn");
    let at = within.mul_f64(rng.gen_range(0.0..1.0));
    std::thread::sleep(at);
    let finished = child.try_wait().expect("wait").is_some();
    let _ = child.kill(); // SIGKILL
    child.wait().expect("reap");
    finished
}

fn scalar(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open");
    c.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .expect(sql)
        .unwrap_or(0)
}

/// What must hold after every kill, whatever the operation.
fn intact(env: &Env, db: &Path, after: &str) {
    let c = rusqlite::Connection::open(db).expect("open");
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok", "{after}: integrity_check");
    drop(c);
    let out = steward(env, db, &["audit", "verify"])
        .output()
        .expect("verify");
    assert!(
        out.status.success(),
        "{after}: audit verify: {}",
        stderr(&out)
    );
}

fn audit_file(dir: &Path, n: usize, events: usize) -> PathBuf {
    use steward::scope::{Context, Interaction};
    use steward::usage::synthetic::{write_event, SyntheticCall};
    let path = dir.join(format!("audit-{n}.ndjson"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    for i in 0..events {
        let day = 1 + (i % 28);
        let recorded = format!("2026-10-{day:02}T10:{:02}:00Z", i % 60);
        write_event(
            &mut out,
            &SyntheticCall {
                client_id: ["crash-a", "crash-b", "crash-c"][i % 3],
                recorded: &recorded,
                context: [Context::User, Context::Patient, Context::System][i % 3],
                resource_type: ["Observation", "Patient", "Encounter"][(i / 3) % 3],
                interaction: [Interaction::Read, Interaction::SearchType][i % 2],
                success: i % 17 != 0,
                patient: "p-1",
                request_id: (n * 1_000_000 + i) as u64,
            },
        )
        .expect("event");
    }
    drop(out);
    path
}

fn registrations_file(dir: &Path, n: usize, rows: usize) -> PathBuf {
    let path = dir.join(format!("registrations-{n}.csv"));
    let mut text = String::from(
        "client_id,name,kind,environment,business_owner,business_owner_email,purpose,approved_scopes,granted_scopes\n",
    );
    for i in 0..rows {
        text.push_str(&format!(
            "crash-{n}-{i},Crash {n} {i},backend_service,staging,Ana Lima,ana.lima@hospital.example,\
             Sends results,system/Observation.rs,system/Observation.rs\n"
        ));
    }
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn sigkill_at_random_points_loses_nothing() {
    if on_postgres() {
        return; // a SQLite file's crash safety: the SQLite pass runs it
    }
    let env = Env::sqlite();
    let db = env.dir.path().join("crash.db");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5ee0_c4a5);
    let out = steward(&env, &db, &["demo", "--identities", "300"])
        .output()
        .expect("demo");
    assert!(out.status.success(), "{}", stderr(&out));

    // Audit imports: every file is counted whole or not at all.
    const EVENTS: usize = 20_000;
    let calls = "SELECT sum(calls) FROM usage_daily";
    let records = "SELECT sum(records) FROM usage_import WHERE kind = 'audit'";
    // What the demo counted already, imported or not.
    let (base_calls, base_records) = (scalar(&db, calls), scalar(&db, records));
    let first = audit_file(env.dir.path(), 0, EVENTS);
    // Kills that landed before the command ended, for each operation.
    let mut cut = 0;
    let whole = timed({
        let mut c = steward(&env, &db, &["import", "audit"]);
        c.arg(&first);
        c
    });
    assert_eq!(
        scalar(&db, calls) - base_calls,
        EVENTS as i64,
        "an import counts every call"
    );
    assert_eq!(scalar(&db, records) - base_records, EVENTS as i64);
    for n in 1..=KILLS {
        let file = audit_file(env.dir.path(), n, EVENTS);
        let mut c = steward(&env, &db, &["import", "audit"]);
        c.arg(&file);
        cut += usize::from(!kill_at_random(c, whole.mul_f64(0.9), &mut rng));
        let after = format!("audit import killed ({n})");
        intact(&env, &db, &after);
        let counted = scalar(&db, calls) - base_calls;
        assert_eq!(
            counted,
            scalar(&db, records) - base_records,
            "{after}: calls match the imports"
        );
        assert_eq!(counted % EVENTS as i64, 0, "{after}: no file half-counted");
    }

    assert!(cut >= KILLS / 4, "only {cut} kills cut an import short");

    // Registration imports: all of a file's identities, or none.
    cut = 0;
    const ROWS: usize = 200;
    let before = scalar(&db, "SELECT count(*) FROM identity");
    let whole = timed({
        let mut c = steward(&env, &db, &["import", "registrations"]);
        c.arg(registrations_file(env.dir.path(), 0, ROWS));
        c
    });
    for n in 1..=KILLS {
        let mut c = steward(&env, &db, &["import", "registrations"]);
        c.arg(registrations_file(env.dir.path(), n, ROWS));
        cut += usize::from(!kill_at_random(c, whole.mul_f64(0.9), &mut rng));
        let after = format!("registration import killed ({n})");
        intact(&env, &db, &after);
        let added = scalar(&db, "SELECT count(*) FROM identity") - before;
        assert_eq!(added % ROWS as i64, 0, "{after}: {added} identities added");
        let imported = scalar(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'identity.create' \
             AND subject IN (SELECT 'identity:' || id FROM identity WHERE client_id LIKE 'crash-%')",
        );
        assert_eq!(
            imported, added,
            "{after}: each identity created with its audit entry"
        );
    }

    assert!(cut >= KILLS / 4, "only {cut} kills cut an import short");

    // Review decisions: a decision is recorded with its audit entry or not at all.
    cut = 0;
    let item: (i64, String) = {
        let c = rusqlite::Connection::open(&db).expect("open");
        c.query_row(
            "SELECT i.id, p.email FROM review_item i JOIN person p ON p.id = i.reviewer_id \
             WHERE i.state = 'open' ORDER BY i.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("an open item")
    };
    let out = steward(&env, &db, &["person", "bind", &item.1])
        .output()
        .expect("bind");
    assert!(out.status.success(), "{}", stderr(&out));
    let open: Vec<i64> = {
        let c = rusqlite::Connection::open(&db).expect("open");
        let mut s = c
            .prepare("SELECT id FROM review_item WHERE state = 'open' AND reviewer_id = (SELECT reviewer_id FROM review_item WHERE id = ?1) ORDER BY id")
            .expect("prepare");
        s.query_map([item.0], |r| r.get(0))
            .expect("items")
            .collect::<rusqlite::Result<_>>()
            .expect("items")
    };
    assert!(open.len() > KILLS, "{} open items", open.len());
    let decide = |id: i64| {
        let id = id.to_string();
        steward(
            &env,
            &db,
            &[
                "review",
                "decide",
                &id,
                "--decision",
                "certify",
                "--comment",
                "still needed",
            ],
        )
    };
    let whole = timed(decide(open[0]));
    let decisions = "SELECT count(*) FROM review_decision";
    let decided = "SELECT count(*) FROM audit_log WHERE action = 'review.decide'";
    assert_eq!(scalar(&db, decisions), scalar(&db, decided));
    for (n, id) in open[1..=KILLS].iter().enumerate() {
        cut += usize::from(!kill_at_random(decide(*id), whole.mul_f64(0.9), &mut rng));
        let after = format!("review decision killed ({})", n + 1);
        intact(&env, &db, &after);
        assert_eq!(scalar(&db, decisions), scalar(&db, decided), "{after}");
        let state: String = rusqlite::Connection::open(&db)
            .expect("open")
            .query_row("SELECT state FROM review_item WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("state");
        let has = scalar(
            &db,
            &format!("SELECT count(*) FROM review_decision WHERE item_id = {id}"),
        );
        assert_eq!(
            state == "decided",
            has == 1,
            "{after}: item {id} is {state} with {has} decisions"
        );
    }

    assert!(cut >= KILLS / 4, "only {cut} kills cut a decision short");

    // Evidence exports: a package is there whole (it verifies), or not at all.
    cut = 0;
    let whole = timed({
        let mut c = steward(&env, &db, &["evidence", "export", "--out"]);
        c.arg(env.dir.path().join("pkg-0"));
        c
    });
    for n in 1..=KILLS {
        let out = env.dir.path().join(format!("pkg-{n}"));
        let mut c = steward(&env, &db, &["evidence", "export", "--out"]);
        c.arg(&out);
        cut += usize::from(!kill_at_random(c, whole.mul_f64(0.9), &mut rng));
        let after = format!("evidence export killed ({n})");
        intact(&env, &db, &after);
        if out.exists() {
            let v = steward(&env, &db, &["evidence", "verify"])
                .arg(&out)
                .output()
                .expect("verify");
            assert!(
                v.status.success(),
                "{after}: a package in place verifies: {}",
                stderr(&v)
            );
        }
    }
    assert!(cut >= KILLS / 4, "only {cut} kills cut an export short");
}
