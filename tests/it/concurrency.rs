//! The window and the CLI on one database at once: on first start (migrations, keys) and
//! while a long import runs, neither fails nor loses a write.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::{actor, now, on_postgres, stderr, Env, OS_USER};
use steward::api::{self, IdentityEdit, NewIdentity};
use steward::inventory::{Environment, Kind};
use steward::Store;

fn steward(env: &Env, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .env_remove("STEWARD_DB")
        .env("HOME", env.dir.path())
        .env("USER", OS_USER)
        .env("LOGNAME", OS_USER)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn add(env: &Env, db: &Path, client: &str) -> Child {
    steward(
        env,
        db,
        &[
            "identity",
            "add",
            "--client-id",
            client,
            "--name",
            client,
            "--kind",
            "backend_service",
            "--environment",
            "staging",
        ],
    )
    .spawn()
    .expect("spawn")
}

fn new_identity(client: &str) -> NewIdentity {
    NewIdentity {
        client_id: client.into(),
        environment: Some(Environment::Staging),
        fields: IdentityEdit {
            name: Some(client.into()),
            kind: Some(Kind::BackendService),
            ..IdentityEdit::default()
        },
    }
}

#[tokio::test]
async fn a_first_start_from_several_processes_at_once_loses_nothing() {
    if on_postgres() {
        return; // a new SQLite file's first start: the SQLite pass runs it
    }
    let env = Env::sqlite();
    let db = env.dir.path().join("new.db");
    // Eight CLIs and this process (as the window would) open the new database together; two
    // more make the signing key.
    let mut children: Vec<Child> = (0..8)
        .map(|i| add(&env, &db, &format!("cli-{i}")))
        .collect();
    for _ in 0..2 {
        children.push(
            steward(&env, &db, &["--json", "evidence", "key", "show"])
                .spawn()
                .expect("spawn"),
        );
    }
    let store = Store::open(&db).await.expect("the window opens it too");
    api::identity_add(&store, now(), &actor(), new_identity("window"))
        .await
        .expect("the window's write");
    let mut fingerprints = Vec::new();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", stderr(&out));
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            if let Some(fp) = v["fingerprint"].as_str() {
                fingerprints.push(fp.to_string());
            }
        }
    }
    let listed = api::identity_list(&store, &Default::default())
        .await
        .expect("list");
    assert_eq!(listed.total, 9, "every write is there");
    let mine = api::evidence_key_show(&store).await.expect("key");
    assert_eq!(fingerprints.len(), 2);
    assert!(
        fingerprints.iter().all(|f| *f == mine.fingerprint),
        "one signing key: {fingerprints:?} and {}",
        mine.fingerprint
    );
    api::audit_verify(&store).await.expect("chain");
}

#[tokio::test]
async fn writes_go_through_while_a_long_import_runs() {
    if on_postgres() {
        return;
    }
    use steward::scope::{Context, Interaction};
    use steward::usage::synthetic::{write_event, SyntheticCall};
    let env = Env::sqlite();
    let db = env.dir.path().join("busy.db");
    let store = Store::open(&db).await.expect("open");
    let file = env.dir.path().join("big.ndjson");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
        for i in 0..400_000usize {
            let recorded = format!("2026-{:02}-{:02}T10:00:00Z", 1 + i % 12, 1 + i % 28);
            let client = format!("busy-{}", i % 5000);
            write_event(
                &mut out,
                &SyntheticCall {
                    client_id: &client,
                    recorded: &recorded,
                    context: Context::System,
                    resource_type: "Observation",
                    interaction: Interaction::Read,
                    success: true,
                    patient: "p",
                    request_id: i as u64,
                },
            )
            .expect("event");
        }
    }
    let mut import = steward(
        &env,
        &db,
        &["import", "audit", file.to_str().expect("path")],
    )
    .spawn()
    .expect("import");
    let mut overlapped = 0;
    // The window's writes and the CLI's, meanwhile.
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < std::time::Duration::from_secs(3) {
        api::identity_add(
            &store,
            now(),
            &actor(),
            new_identity(&format!("window-{n}")),
        )
        .await
        .expect("a write from the window while the import runs");
        let out = add(&env, &db, &format!("cli-{n}"))
            .wait_with_output()
            .expect("cli");
        assert!(
            out.status.success(),
            "a write from the CLI: {}",
            stderr(&out)
        );
        n += 1;
        overlapped += usize::from(import.try_wait().expect("import").is_none());
    }
    assert!(overlapped > 0, "the writes ran while the import did");
    let out = import.wait_with_output().expect("import");
    assert!(out.status.success(), "the import: {}", stderr(&out));
    let listed = api::identity_list(&store, &Default::default())
        .await
        .expect("list");
    assert_eq!(listed.total as usize, 2 * n, "every write is there");
    let calls: i64 = rusqlite::Connection::open(&db)
        .expect("open")
        .query_row("SELECT sum(calls) FROM usage_daily", [], |r| r.get(0))
        .expect("calls");
    assert_eq!(calls, 400_000, "and every call the import counted");
    api::audit_verify(&store).await.expect("chain");
}

async fn identities(store: &Store) -> i64 {
    api::identity_list(store, &steward::inventory::IdentityFilter::default())
        .await
        .expect("list")
        .total
}

/// What an evidence export reads through: a write made while its view is held is not seen
/// through the view, and is not lost. On SQLite the writer waits for the view to be let go;
/// on PostgreSQL it goes through at once.
#[tokio::test]
async fn a_consistent_view_sees_one_state_and_loses_no_write() {
    let env = Env::new();
    let store = env.store().await;
    api::identity_add(&store, now(), &actor(), new_identity("before"))
        .await
        .expect("add");
    let (view, hold) = store.consistent().await.expect("view");
    assert_eq!(identities(&view).await, 1);
    let writer = tokio::spawn({
        let store = store.clone();
        async move { api::identity_add(&store, now(), &actor(), new_identity("during")).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        writer.is_finished(),
        on_postgres(),
        "a writer waits on SQLite only"
    );
    assert_eq!(
        identities(&view).await,
        1,
        "the view does not see the write"
    );
    let e = view
        .begin_write()
        .await
        .map(drop)
        .expect_err("a view is for reading");
    assert!(e.to_string().contains("for reading"), "{e}");
    drop(hold);
    writer.await.expect("join").expect("the write goes through");
    assert_eq!(identities(&store).await, 2);
}

/// An export made while identities are being added holds exactly the identities its audit
/// log records as created: the package is one state of the database.
#[tokio::test]
async fn an_export_made_during_writes_is_one_state_of_the_database() {
    let env = Env::new();
    let store = env.store().await;
    for n in 0..50 {
        api::identity_add(&store, now(), &actor(), new_identity(&format!("seed-{n}")))
            .await
            .expect("add");
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn({
        let (store, stop) = (store.clone(), stop.clone());
        async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                api::identity_add(&store, now(), &actor(), new_identity(&format!("w-{n}")))
                    .await
                    .expect("a write during the export");
                n += 1;
            }
            n
        }
    });
    for round in 0..3 {
        let out = env.dir.path().join(format!("bag-{round}"));
        api::evidence_export(&store, now(), &actor(), &out, &Default::default())
            .await
            .expect("export");
        let inventory = std::fs::read_to_string(out.join("data/inventory.csv")).expect("csv");
        let rows = inventory.lines().count() - 1;
        let log = std::fs::read_to_string(out.join("data/audit-log.jsonl")).expect("log");
        let created = log
            .lines()
            .filter(|l| l.contains(r#""action":"identity.create""#))
            .count();
        assert_eq!(
            rows, created,
            "round {round}: inventory and audit log disagree"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.expect("join");
    assert!(written > 0, "the writer ran beside the exports");
}

/// When a store closes while another connection still has the file open (here one of its
/// own; after a command, a connection that closed late), SQLite leaves the WAL behind
/// unapplied. The file alone must still hold every write: a copy of it, a backup, is whole.
#[tokio::test]
async fn the_database_file_alone_is_whole_once_a_store_closes() {
    if on_postgres() {
        return; // a file and its WAL are SQLite's
    }
    let env = Env::sqlite();
    let store = env.store().await;
    // Another connection keeps the file open past the store's close.
    let other = rusqlite::Connection::open(&env.db).expect("open");
    let _: i64 = other
        .query_row("SELECT count(*) FROM identity", [], |r| r.get(0))
        .expect("read");
    api::identity_add(&store, now(), &actor(), new_identity("kept"))
        .await
        .expect("add");
    store.close().await;
    let wal = env.db.with_extension("db-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0,
        "the WAL is left behind while another connection is open"
    );
    let copy = env.dir.path().join("copy.db");
    std::fs::copy(&env.db, &copy).expect("copy the file alone");
    let copied = rusqlite::Connection::open(&copy).expect("open the copy");
    let check: String = copied
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    let kept: i64 = copied
        .query_row(
            "SELECT count(*) FROM identity WHERE client_id = 'kept'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(kept, 1, "the write is in the file itself");
    drop(other);
}
