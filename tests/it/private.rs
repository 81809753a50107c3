//! The files that hold an installation's data and keys are its user's alone: the data folder
//! 0700, the database, its WAL, the key files 0600; a key file others can read is refused.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{actor, now};
use steward::api::{self, EvidenceFilter};
use steward::{Code, Store};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test]
async fn a_new_database_and_its_folder_and_keys_are_the_users_alone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("new").join("deeper").join("steward.db");
    let store = Store::open(&db).await.expect("open");
    // A write, so the WAL is there.
    api::evidence_export(
        &store,
        now(),
        &actor(),
        &tmp.path().join("pkg"),
        &EvidenceFilter::default(),
    )
    .await
    .expect("export");
    for dir in [tmp.path().join("new"), tmp.path().join("new/deeper")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in [
        "steward.db",
        "steward.db-wal",
        "steward.db-shm",
        "steward.db.key",
        "steward.db.signing.key",
    ] {
        let p = db.with_file_name(file);
        assert_eq!(mode(&p), 0o600, "{file}");
    }
}

#[tokio::test]
async fn an_older_database_open_to_others_is_narrowed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("steward.db");
    drop(Store::open(&db).await.expect("create"));
    chmod(&db, 0o644);
    let _store = Store::open(&db).await.expect("open");
    assert_eq!(mode(&db), 0o600);
}

#[rstest::rstest]
#[case::fingerprint_key("steward.db.key", 0o644)]
#[case::fingerprint_key_group("steward.db.key", 0o640)]
#[case::signing_key("steward.db.signing.key", 0o604)]
#[tokio::test]
async fn a_key_file_others_can_read_is_refused(#[case] file: &str, #[case] wide: u32) {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("steward.db");
    let store = Store::open(&db).await.expect("create");
    api::evidence_key_show(&store)
        .await
        .expect("the signing key is made");
    drop(store);
    let key = db.with_file_name(file);
    chmod(&key, wide);
    let e = match Store::open(&db).await {
        Err(e) => e,
        Ok(store) => api::evidence_key_show(&store)
            .await
            .map(|_| ())
            .expect_err("refused"),
    };
    assert_eq!(e.code(), Code::Forbidden, "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&key.display().to_string()) && text.contains(&format!("mode {wide:03o}")),
        "{text}"
    );
    // Put right, it is the same key.
    chmod(&key, 0o600);
    let store = Store::open(&db).await.expect("open");
    api::evidence_key_show(&store).await.expect("key");
}

#[tokio::test]
async fn a_key_file_that_is_a_link_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("steward.db");
    drop(Store::open(&db).await.expect("create"));
    let key = db.with_file_name("steward.db.key");
    std::fs::rename(&key, tmp.path().join("elsewhere.key")).expect("move");
    std::os::unix::fs::symlink(tmp.path().join("elsewhere.key"), &key).expect("link");
    let e = Store::open(&db).await.err().expect("refused");
    assert!(e.to_string().contains("steward.db.key"), "{e}");
}
