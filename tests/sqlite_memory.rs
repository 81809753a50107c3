//! SQLite's memory taken from mimalloc (`fenced::process::sqlite_memory_from_mimalloc`), as
//! the `steward` program and the console set it at their start. A test binary of its own:
//! SQLite takes the setting only before its first connection in the process, and nothing
//! here opens one before the test does.

use rusqlite::{params, Connection};
use steward::fenced::process::{self, sqlite_memory_from_mimalloc};

#[test]
fn sqlite_allocates_from_mimalloc_once_set_before_it_starts() {
    // (Nothing may touch SQLite before this: even an allocation starts it.)
    sqlite_memory_from_mimalloc().expect("set before SQLite starts");
    assert!(process::sqlite_allocates_from_mimalloc());

    // A workload that binds, grows, reallocates and frees: the same rows come back.
    let db = Connection::open_in_memory().expect("open");
    db.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID")
        .expect("create");
    let tx = db.unchecked_transaction().expect("begin");
    {
        let mut insert = tx
            .prepare("INSERT INTO t VALUES (?1, ?2)")
            .expect("prepare");
        for i in 0..50_000u32 {
            let v = "x".repeat((i % 700) as usize);
            insert
                .execute(params![format!("client-{i:06}"), v])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
    let (n, total): (i64, i64) = db
        .query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("count");
    assert_eq!((n, total), (50_000, (0..50_000i64).map(|i| i % 700).sum()));
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    assert_eq!(process::sqlite_memory_counted(), 0, "memory is not counted");

    // Once SQLite has started it keeps its allocator, and says so.
    assert_eq!(
        sqlite_memory_from_mimalloc(),
        Err(rusqlite::ffi::SQLITE_MISUSE)
    );
}
