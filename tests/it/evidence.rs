//! Signed evidence packages checked with the tools an auditor has (openssl, minisign,
//! sha256sum, jq), and every kind of tampering caught; signed audit checkpoints.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{actor, fixture, now, rows, seeded, tamper, Env};
use steward::api::{self, EvidenceFilter};
use steward::{Code, Store};

async fn package(env: &Env, store: &Store) -> PathBuf {
    api::registrations_import(
        store,
        now(),
        &actor(),
        &fixture("csv/inventory.csv"),
        None,
        false,
    )
    .await
    .expect("import");
    let out = env.dir.path().join("pkg");
    api::evidence_export(store, now(), &actor(), &out, &EvidenceFilter::default())
        .await
        .expect("export");
    out
}

/// Runs a VERIFY.md-style shell command in the package; true when it succeeds.
fn sh(dir: &Path, script: &str) -> bool {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or_else(|e| panic!("bash must be installed: {e}"))
}

const OPENSSL: &str = "openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin \
    -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig";
const MINISIGN: &str =
    "minisign -V -p minisign.pub -m tagmanifest-sha256.txt -x tagmanifest-sha256.txt.minisig";
const TAGS: &str = "sha256sum -c --quiet tagmanifest-sha256.txt";
const PAYLOAD: &str = "sha256sum -c --quiet manifest-sha256.txt";
const EXACT: &str = "diff <(find data -type f | sort) <(cut -c67- manifest-sha256.txt | sort)";

async fn steward_verify(store: &Store, dir: &Path) -> Result<(), String> {
    api::evidence_verify(Some(store), dir, None)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_fresh_package_verifies_with_stock_tools_and_with_steward() {
    let env = Env::new();
    let store = env.store().await;
    let dir = package(&env, &store).await;
    for cmd in [OPENSSL, MINISIGN, TAGS, PAYLOAD, EXACT] {
        assert!(sh(&dir, cmd), "`{cmd}` must pass on a fresh package");
    }
    let fp = api::evidence_key_show(&store)
        .await
        .expect("key")
        .fingerprint;
    let printed = Command::new("bash")
        .arg("-c")
        .arg("openssl pkey -pubin -in signing-key.pub.pem -outform DER | tail -c 32 | sha256sum")
        .current_dir(&dir)
        .output()
        .expect("openssl");
    assert!(String::from_utf8_lossy(&printed.stdout).starts_with(fp.trim_start_matches("ed25519:")));
    let jq = "while read -r e; do h=$(printf '%s' \"$(jq -cjS '[.seq,.at,.actor,.action,.subject,.details,.prev_hash]' <<<\"$e\")\" | sha256sum | cut -c1-64); \
              [ \"$h\" = \"$(jq -r .hash <<<\"$e\")\" ] || exit 1; done < data/audit-log.jsonl";
    assert!(
        sh(&dir, jq),
        "the audit log recomputes with jq and sha256sum as VERIFY.md says"
    );
    steward_verify(&store, &dir)
        .await
        .expect("steward verifies its own package");
    let info = std::fs::read_to_string(dir.join("bag-info.txt")).expect("bag-info");
    for key in [
        "Source-Organization",
        "Bagging-Date",
        "Payload-Oxum",
        "Signing-Key-Fingerprint",
        "Filter-Campaign",
    ] {
        assert!(info.contains(key), "bag-info.txt has {key}");
    }
    for file in [
        "usage.csv",
        "token-events.csv",
        "drills.csv",
        "trace-summary.json",
        "reviews.csv",
    ] {
        assert!(
            dir.join("data").join(file).exists(),
            "the package holds {file}"
        );
    }
}

#[rstest::rstest]
#[case::changed_byte("sed -i '2s/./X/' data/inventory.csv", "data/inventory.csv: changed", &[PAYLOAD])]
#[case::added_file("echo hi > data/extra.txt", "data/extra.txt: added", &[EXACT])]
#[case::removed_file("rm data/owners.csv", "data/owners.csv: missing", &[PAYLOAD, EXACT])]
#[case::renamed_file("mv data/scopes.csv data/scopes2.csv", "data/scopes.csv: missing", &[PAYLOAD, EXACT])]
#[case::changed_tag_file("echo 'Contact-Name: mallory' >> bag-info.txt", "bag-info.txt: changed", &[TAGS])]
#[case::forged_manifest(
    "sed -i '2s/./X/' data/findings.csv && sha256sum data/*.csv data/*.jsonl data/*.html > manifest-sha256.txt",
    "manifest-sha256.txt: changed",
    &[TAGS]
)]
#[case::swapped_signature("head -c 64 /dev/zero > tagmanifest-sha256.txt.sig", "signature does not match", &[OPENSSL])]
#[case::altered_audit_log(
    "sed -i '3s/\"actor\":\"[^\"]*\"/\"actor\":\"mallory\"/' data/audit-log.jsonl",
    "audit-log.jsonl",
    &[PAYLOAD]
)]
#[tokio::test]
async fn tampering_is_caught_by_steward_and_by_the_stock_tools(
    #[case] tamper: &str,
    #[case] named: &str,
    #[case] failing_tools: &[&str],
) {
    let env = Env::new();
    let store = env.store().await;
    let dir = package(&env, &store).await;
    assert!(sh(&dir, tamper), "tampering command ran: {tamper}");
    let e = steward_verify(&store, &dir)
        .await
        .expect_err("tampering must be detected");
    assert!(
        e.contains(named),
        "the error names what is wrong ({named}): {e}"
    );
    for cmd in failing_tools {
        assert!(!sh(&dir, cmd), "`{cmd}` must fail after: {tamper}");
    }
}

#[tokio::test]
async fn each_check_is_reported_on_its_own_naming_the_file() {
    use steward::evidence::bag::CheckName;
    let env = Env::new();
    let store = env.store().await;
    let dir = package(&env, &store).await;
    let failing = |r: &steward::evidence::bag::BagVerification| -> Vec<CheckName> {
        r.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect()
    };
    let fresh = api::evidence_inspect(Some(&store), &dir, None)
        .await
        .expect("inspect");
    assert_eq!(fresh.checks.len(), 8);
    assert!(failing(&fresh).is_empty(), "{:?}", fresh.checks);
    assert!(
        fresh.checkpoints >= 1,
        "the export's own checkpoint is checked"
    );

    for (n, (tamper, check, named)) in [
        (
            "sed -i '2s/./X/' data/inventory.csv",
            CheckName::PayloadChecksums,
            "data/inventory.csv",
        ),
        ("echo hi > notes.txt", CheckName::FileSet, "notes.txt"),
        (
            "head -c 64 /dev/zero > tagmanifest-sha256.txt.sig",
            CheckName::Signature,
            "tagmanifest-sha256.txt.sig",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let copy = env.dir.path().join(format!("copy-{n}"));
        assert!(sh(
            env.dir.path(),
            &format!("cp -r '{}' '{}'", dir.display(), copy.display())
        ));
        assert!(sh(&copy, tamper), "{tamper}");
        let r = api::evidence_inspect(Some(&store), &copy, None)
            .await
            .expect("inspect");
        // Nothing the tag manifest lists is read when its signature does not hold: the checks
        // that would read them say so.
        let unread = [
            CheckName::TagChecksums,
            CheckName::PayloadChecksums,
            CheckName::AuditChain,
            CheckName::Checkpoints,
        ];
        let expected: Vec<CheckName> = match check {
            CheckName::Signature => [check].into_iter().chain(unread).collect(),
            _ => vec![check],
        };
        assert_eq!(failing(&r), expected, "{tamper}: {:?}", r.checks);
        if check == CheckName::Signature {
            for c in r.checks.iter().filter(|c| unread.contains(&c.name)) {
                assert_eq!(
                    c.problems,
                    ["not checked: the signature over tagmanifest-sha256.txt does not hold"]
                );
            }
        }
        let problems = &r
            .checks
            .iter()
            .find(|c| c.name == check)
            .expect("check")
            .problems;
        assert!(
            problems.iter().any(|p| p.contains(named)),
            "{tamper}: {problems:?}"
        );
    }
}

#[tokio::test]
async fn a_package_from_another_installation_is_refused() {
    let env = Env::new();
    let store = env.store().await;
    let dir = package(&env, &store).await;
    let other = Env::new();
    let other_store = other.store().await;
    api::evidence_key_show(&other_store)
        .await
        .expect("other key");
    api::audit_checkpoint(&other_store, now(), &actor())
        .await
        .expect("registers the other key");
    let e = api::evidence_verify(Some(&other_store), &dir, None)
        .await
        .expect_err("wrong key");
    assert!(
        e.to_string().contains("not a key of this installation"),
        "{e}"
    );
    let pem = api::evidence_key_show(&other_store)
        .await
        .expect("key")
        .public_pem;
    let e = api::evidence_verify(None, &dir, Some(&pem))
        .await
        .expect_err("wrong key");
    assert_eq!(e.code(), Code::Integrity);
}

#[tokio::test]
async fn no_secret_reaches_a_package_and_csv_formulas_are_neutralized() {
    let env = Env::new();
    let store = env.store().await;
    let csv = env.dir.path().join("canary.csv");
    std::fs::write(
        &csv,
        "client_id,name,kind,environment,purpose,client_secret\n\
         canary,=HYPERLINK(\"http://evil\"),clinician_app,production,+1 formula,CANARY-SECRET-7f3a\n",
    )
    .expect("write");
    api::registrations_import(&store, now(), &actor(), &csv, None, false)
        .await
        .expect("import");
    let out = env.dir.path().join("pkg");
    api::evidence_export(&store, now(), &actor(), &out, &EvidenceFilter::default())
        .await
        .expect("export");
    let found = Command::new("grep")
        .args(["-rl", "CANARY-SECRET-7f3a"])
        .arg(&out)
        .output()
        .expect("grep");
    assert!(
        found.stdout.is_empty(),
        "the raw secret must not be in the package: {}",
        String::from_utf8_lossy(&found.stdout)
    );
    let inventory = std::fs::read_to_string(out.join("data/inventory.csv")).expect("inventory");
    assert!(
        inventory.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{inventory}"
    );
    assert!(inventory.contains(",'+1 formula,"), "{inventory}");
}

#[test]
fn every_formula_prefix_is_neutralized() {
    for lead in ["=", "+", "-", "@", "\t", "\r"] {
        let cell = format!("{lead}cmd");
        assert_eq!(
            steward::export::csv::csv_cell(&cell),
            format!("'{cell}"),
            "{lead:?} must be neutralized"
        );
    }
    assert_eq!(steward::export::csv::csv_cell("plain"), "plain");
}

#[tokio::test]
async fn an_export_never_overwrites_and_leaves_no_partial_package() {
    let env = Env::new();
    let store = env.store().await;
    let dir = package(&env, &store).await;
    let e = api::evidence_export(&store, now(), &actor(), &dir, &EvidenceFilter::default())
        .await
        .expect_err("exists");
    assert_eq!(e.code(), Code::Invalid);
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written package may remain");
}

/// A package holds the organisation's inventory: its folders are its owner's alone (0700) and
/// its files readable by its owner only (0600).
#[cfg(unix)]
#[tokio::test]
async fn a_package_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let store = env.store().await;
    let dir = package(&env, &store).await;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("data")), 0o700);
    let mut files = 0;
    for d in [dir.clone(), dir.join("data")] {
        for e in std::fs::read_dir(&d).expect("dir").filter_map(|e| e.ok()) {
            if e.file_type().expect("type").is_file() {
                assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
                files += 1;
            }
        }
    }
    assert!(files > 20, "{files} files");
}

/// Re-hashes every entry of the chain from GENESIS, as someone who can write the database
/// would after changing one.
async fn rehash(store: &Store) {
    let entries = api::audit_log(store, &api::AuditQuery::default())
        .await
        .expect("log");
    let mut prev = steward::audit::GENESIS.to_string();
    for e in entries.iter().rev() {
        let h = steward::audit::entry_hash(
            e.seq, &e.at, &e.actor, &e.action, &e.subject, &e.details, &prev,
        );
        on_pool!(store, |p| sqlx::query(
            "UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3"
        )
        .bind(&prev)
        .bind(&h)
        .bind(e.seq)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .expect("rehash");
        prev = h;
    }
}

/// A plain `audit verify` checks every checkpoint, and the checkpoints kept outside the
/// database catch a deleted tail, or a chain re-hashed whole with its checkpoints deleted
/// from the database: each attack below passed a plain verify before.
#[rstest::rstest]
#[case::tail_and_checkpoints_deleted(
    &["DELETE FROM audit_checkpoint", "DELETE FROM audit_log WHERE seq >= 5"],
    false,
    "audit log truncated: it ends at seq 4"
)]
#[case::rehashed_whole_and_checkpoints_deleted(
    &["DELETE FROM audit_checkpoint", "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"],
    true,
    "the chain was re-hashed"
)]
#[case::checkpoint_moved(&["UPDATE audit_checkpoint SET seq = 1"], false, "the signature does not match")]
#[case::tail_deleted(&["DELETE FROM audit_log WHERE seq >= 5"], false, "audit log truncated")]
#[tokio::test]
async fn a_plain_verify_catches_what_a_surviving_checkpoint_saw(
    #[case] attack: &[&str],
    #[case] rehashed: bool,
    #[case] named: &str,
) {
    let env = Env::new();
    let store = seeded(&env, 5, 2).await;
    let before = rows(&store, "audit_log").await;
    let cp = api::audit_checkpoint(&store, now(), &actor())
        .await
        .expect("checkpoint");
    assert_eq!(cp.seq, before);
    let ok = api::audit_verify(&store).await.expect("intact");
    assert_eq!(ok.checkpoints, 1);
    let file = api::checkpoints_file(&store);
    assert_eq!(
        ok.checkpoints_file.as_deref(),
        Some(file.to_str().expect("path"))
    );
    let kept = std::fs::read_to_string(&file).expect("the checkpoint file");
    assert_eq!(kept.lines().count(), 1, "appended as it was made");
    for sql in attack {
        tamper(&store, sql).await;
    }
    if rehashed {
        rehash(&store).await;
    }
    let e = api::audit_verify(&store).await.expect_err("caught");
    assert_eq!(e.code(), Code::Integrity);
    assert!(e.to_string().contains(named), "{named}: {e}");
    // The same check against an auditor's copy of the file, named.
    let copy = env.dir.path().join("auditor-copy.jsonl");
    std::fs::copy(&file, &copy).expect("copy");
    let opts = api::VerifyOptions {
        checkpoints: Some(copy),
        keys: vec![],
    };
    let e = api::audit_verify_with(&store, &opts)
        .await
        .expect_err("caught");
    assert!(e.to_string().contains(named), "{named}: {e}");
}

/// Which key signed is decided by the key itself: a fingerprint in the database naming
/// another key is not believed, and `--key` pins the keys that may have signed.
#[tokio::test]
async fn checkpoints_are_judged_by_their_keys_not_by_what_the_database_says() {
    use ed25519_dalek::Signer;
    let env = Env::new();
    let store = seeded(&env, 5, 2).await;
    let real = api::evidence_key_show(&store).await.expect("key");
    api::audit_checkpoint(&store, now(), &actor())
        .await
        .expect("checkpoint");
    // Mallory puts her public key under the real key's fingerprint, and signs a checkpoint
    // that names that fingerprint.
    let mallory = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let pem = steward::evidence::key::public_pem(&mallory.verifying_key());
    on_pool!(store, |p| sqlx::query(
        "UPDATE signing_key SET public_pem = $1 WHERE fingerprint = $2"
    )
    .bind(&pem)
    .bind(&real.fingerprint)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("swap");
    std::fs::remove_file(api::checkpoints_file(&store)).expect("no file");
    let e = api::audit_verify(&store).await.expect_err("not believed");
    assert!(e.to_string().contains("which is not a known key"), "{e}");
    // Her own checkpoint, under her own key, in the database: trusted by the database, and
    // refused when the real key is pinned.
    let mut forged = api::audit_checkpoints(&store).await.expect("list")[0].clone();
    on_pool!(store, |p| sqlx::query(
        "UPDATE signing_key SET public_pem = $1 WHERE fingerprint = $2"
    )
    .bind(&real.public_pem)
    .bind(&real.fingerprint)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("restore");
    let fp = steward::evidence::key::fingerprint(&mallory.verifying_key());
    on_pool!(store, |p| sqlx::query(
        "INSERT INTO signing_key (fingerprint, public_pem, first_used) VALUES ($1, $2, $3)"
    )
    .bind(&fp)
    .bind(&pem)
    .bind("2026-11-30T00:00:00Z")
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("her key");
    forged.prev_signature = Some(forged.signature.clone());
    forged.seq += 1;
    forged.head_hash = api::audit_log(&store, &api::AuditQuery::default())
        .await
        .expect("log")[0]
        .hash
        .clone();
    forged.key_fingerprint = fp;
    forged.signature = hex::encode(mallory.sign(forged.message().as_bytes()).to_bytes());
    on_pool!(store, |p| sqlx::query(
        "INSERT INTO audit_checkpoint (seq, head_hash, at, prev_signature, key_fingerprint, \
         signature) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(forged.seq)
    .bind(&forged.head_hash)
    .bind(&forged.at)
    .bind(&forged.prev_signature)
    .bind(&forged.key_fingerprint)
    .bind(&forged.signature)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("her checkpoint");
    api::audit_verify(&store)
        .await
        .expect("the database trusts the keys it lists");
    let pinned = api::VerifyOptions {
        checkpoints: None,
        keys: vec![real.public_pem.clone()],
    };
    let e = api::audit_verify_with(&store, &pinned)
        .await
        .expect_err("pinned");
    assert!(e.to_string().contains("which is not a given key"), "{e}");
}

#[test]
fn the_cli_checkpoint_file_round_trip() {
    let env = Env::new();
    env.json(&["demo", "--identities", "4"]);
    let before = env.json(&["audit", "verify"])["entries"]
        .as_i64()
        .expect("count");
    let cp = env.json(&["audit", "checkpoint"]);
    let file = env.dir.path().join("cp.json");
    std::fs::write(&file, cp.to_string()).expect("write");
    let ok = env.json(&[
        "audit",
        "verify",
        "--checkpoint",
        file.to_str().expect("path"),
    ]);
    assert_eq!(
        ok["entries"],
        before + 1,
        "demo entries plus the checkpoint's own entry"
    );
    let key = env.json(&["evidence", "key", "show"]);
    assert_eq!(key["storage"], "file");
    assert!(key["fingerprint"]
        .as_str()
        .is_some_and(|f| f.starts_with("ed25519:")));
}

#[tokio::test]
async fn packages_signed_before_a_key_rotation_still_verify() {
    let env = Env::new();
    let store = env.store().await;
    let old_pkg = package(&env, &store).await;
    let before = api::evidence_key_show(&store).await.expect("key");
    let after = api::evidence_key_rotate(&store, now(), &actor())
        .await
        .expect("rotate");
    assert_ne!(before.fingerprint, after.fingerprint);
    assert!(after.known.contains(&before.fingerprint) && after.known.contains(&after.fingerprint));
    steward_verify(&store, &old_pkg)
        .await
        .expect("an old package verifies after rotation");
    let new_pkg = env.dir.path().join("pkg2");
    api::evidence_export(
        &store,
        now(),
        &actor(),
        &new_pkg,
        &EvidenceFilter::default(),
    )
    .await
    .expect("export");
    let v = api::evidence_verify(Some(&store), &new_pkg, None)
        .await
        .expect("new package");
    assert_eq!(v.key_fingerprint, after.fingerprint);
    let key_file = steward::evidence::key::key_path(store.path());
    let raw = std::fs::read(&key_file).expect("new key file");
    assert_eq!(raw.len(), 32);
    api::audit_verify(&store)
        .await
        .expect("the chain is intact after rotation");
}

#[tokio::test]
async fn the_private_key_is_in_neither_the_package_nor_the_database() {
    let env = Env::new();
    let store = env.store().await;
    let dir = package(&env, &store).await;
    let seed = std::fs::read(steward::evidence::key::key_path(store.path())).expect("key file");
    let hex_seed = hex::encode(&seed);
    store.close().await;
    let db = env.dir.path().join("database.bytes");
    std::fs::write(&db, env.raw_bytes()).expect("the database's bytes");
    let mut files = vec![db];
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").filter_map(|e| e.ok()) {
            if e.path().is_dir() {
                stack.push(e.path())
            } else {
                files.push(e.path())
            }
        }
    }
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        assert!(
            !bytes.windows(32).any(|w| w == seed.as_slice()),
            "{} holds the raw key",
            f.display()
        );
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&hex_seed),
            "{} holds the key in hex",
            f.display()
        );
    }
}

#[tokio::test]
async fn exported_audit_lines_are_the_canonical_json_of_each_entry_whatever_they_hold() {
    let env = Env::new();
    let store = env.store().await;
    let nasty = [
        "quote \" backslash \\ slash /",
        "controls \u{1}\u{8}\t\n\u{c}\r\u{1f} del \u{7f}",
        "unicode é ☃ 😀 \u{2028}",
        "=formula,comma",
        "",
    ];
    let mut tx = store.begin_write().await.expect("tx");
    for (i, text) in nasty.iter().enumerate() {
        steward::store::audit::record(
            &mut tx,
            now(),
            &steward::audit::Actor(text.to_string()),
            "test.nasty",
            format!("{text}:{i}"),
            serde_json::json!({ "z": text, "a": [text, i, null, true], "\u{1}k": { "é": -7 } }),
        )
        .await
        .expect("record");
    }
    tx.commit().await.expect("commit");
    let out = env.dir.path().join("pkg");
    api::evidence_export(&store, now(), &actor(), &out, &EvidenceFilter::default())
        .await
        .expect("export");
    let text = std::fs::read_to_string(out.join("data/audit-log.jsonl")).expect("log");
    let stored = api::audit_log(&store, &api::AuditQuery::default())
        .await
        .expect("entries");
    let mut written = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        let seq = v["seq"].as_i64().expect("seq");
        let e = stored
            .iter()
            .find(|e| e.seq == seq)
            .expect("a stored entry");
        let canonical = steward::audit::canonical_json(&serde_json::to_value(e).expect("entry"));
        assert_eq!(line, canonical, "seq {seq}");
        written += 1;
    }
    assert!(written > nasty.len());
    steward_verify(&store, &out).await.expect("verifies");
    let jq = "while read -r e; do h=$(printf '%s' \"$(jq -cjS '[.seq,.at,.actor,.action,.subject,.details,.prev_hash]' <<<\"$e\")\" | sha256sum | cut -c1-64); \
              [ \"$h\" = \"$(jq -r .hash <<<\"$e\")\" ] || exit 1; done < data/audit-log.jsonl";
    assert!(sh(&out, jq), "jq and sha256sum recompute every hash");
}

#[tokio::test]
async fn an_audit_entry_stored_as_bytes_that_are_not_utf8_is_exported_as_stored_and_named() {
    // Only a file can hold text that is not UTF-8.
    let env = Env::sqlite();
    let store = env.store().await;
    let mut tx = store.begin_write().await.expect("tx");
    steward::store::audit::record(
        &mut tx,
        now(),
        &actor(),
        "test.bytes",
        "s".into(),
        serde_json::json!({}),
    )
    .await
    .expect("record");
    tx.commit().await.expect("commit");
    tamper(
        &store,
        "UPDATE audit_log SET actor = CAST(X'5a6feb22' AS TEXT) WHERE seq = 1",
    )
    .await;
    let out = env.dir.path().join("pkg");
    api::evidence_export(&store, now(), &actor(), &out, &EvidenceFilter::default())
        .await
        .expect("a damaged entry does not stop the export");
    let log = std::fs::read(out.join("data/audit-log.jsonl")).expect("log");
    let first = log.split(|&b| b == b'\n').next().expect("a line");
    assert!(
        first.windows(14).any(|w| w == b"\"actor\":\"Zo\xeb\\\""),
        "the stored bytes are exported as they are, the quote escaped: {}",
        first.escape_ascii()
    );
    let e = steward_verify(&store, &out).await.expect_err("damaged");
    assert!(e.contains("audit-log.jsonl: not UTF-8 at byte 34"), "{e}");
}

#[tokio::test]
async fn the_inventory_lists_what_the_identity_list_shows_in_its_order() {
    let env = Env::new();
    let store = seeded(&env, 300, 11).await;
    for environment in [None, Some(steward::inventory::Environment::Production)] {
        let out = env.dir.path().join(format!("pkg-{environment:?}"));
        let filter = EvidenceFilter {
            environment,
            ..Default::default()
        };
        api::evidence_export(&store, now(), &actor(), &out, &filter)
            .await
            .expect("export");
        let csv = std::fs::read_to_string(out.join("data/inventory.csv")).expect("inventory");
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let exported: Vec<(String, String, String, String)> = reader
            .records()
            .map(|r| {
                let r = r.expect("row");
                (r[0].into(), r[1].into(), r[21].into(), r[22].into())
            })
            .collect();
        let listed: Vec<(String, String, String, String)> = api::identity_list(
            &store,
            &steward::inventory::IdentityFilter {
                environment,
                ..Default::default()
            },
        )
        .await
        .expect("list")
        .rows
        .into_iter()
        .map(|i| (i.client_id, i.name, i.risk_score.to_string(), i.risk_tier))
        .collect();
        assert!(!listed.is_empty());
        assert_eq!(exported, listed, "{environment:?}");
    }
}

/// A package of a 300-identity demo: its directory and its `report.html`.
async fn demo_report(env: &Env) -> (PathBuf, String) {
    let store = seeded(env, 300, 7).await;
    let out = env.dir.path().join("pkg");
    api::evidence_export(&store, now(), &actor(), &out, &EvidenceFilter::default())
        .await
        .expect("export");
    let html = std::fs::read_to_string(out.join("data/report.html")).expect("report");
    (out, html)
}

#[tokio::test]
async fn the_report_stands_alone_and_says_what_it_leaves_out() {
    let env = Env::new();
    let (out, html) = demo_report(&env).await;
    // Nothing is fetched: no scripts, links, images or fonts from anywhere.
    for external in [
        "<script", "<link", "<img", "src=", "href=", "url(", "@import",
    ] {
        assert!(!html.contains(external), "report.html holds {external}");
    }
    assert!(html.matches("<svg").count() >= 3, "charts are inline SVG");
    let csv = std::fs::read_to_string(out.join("data/findings.csv")).expect("findings");
    let serious = csv
        .lines()
        .filter(|l| {
            l.split(',')
                .nth(2)
                .is_some_and(|s| s == "critical" || s == "high")
        })
        .count();
    assert!(
        serious > 200,
        "the demo has more serious findings than the report lists"
    );
    assert!(
        html.contains(&format!(
            "(the first 200 of {serious}; findings.csv has them all)"
        )),
        "the report says how many it leaves out"
    );
    assert_eq!(
        html.matches("<tr><td>critical</td>").count() + html.matches("<tr><td>high</td>").count(),
        200
    );
    assert!(html.contains("<th>environment</th>"));
}

/// The id column of a package's `findings.csv`, in its order.
fn finding_ids(out: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(out.join("data/findings.csv")).expect("findings.csv");
    r.records()
        .map(|rec| rec.expect("a row")[0].to_string())
        .collect()
}

#[tokio::test]
async fn findings_csv_lists_what_the_findings_list_does_in_its_order() {
    let env = Env::new();
    let store = seeded(&env, 400, 11).await;
    let all = steward::policy::FindingFilter {
        include_accepted: true,
        ..Default::default()
    };
    let listed = api::findings_list(&store, now(), &all)
        .await
        .expect("findings");
    assert!(listed.len() > 400, "the demo has findings of every kind");
    let out = env.dir.path().join("all");
    api::evidence_export(&store, now(), &actor(), &out, &EvidenceFilter::default())
        .await
        .expect("export");
    let ids: Vec<String> = listed.iter().map(|f| f.id.clone()).collect();
    assert_eq!(finding_ids(&out), ids);
    // One environment: its identities' findings only, in the same order.
    let staging = steward::inventory::Environment::Staging;
    let out = env.dir.path().join("staging");
    let f = EvidenceFilter {
        environment: Some(staging),
        ..Default::default()
    };
    api::evidence_export(&store, now(), &actor(), &out, &f)
        .await
        .expect("export");
    let ids: Vec<String> = listed
        .iter()
        .filter(|f| f.environment == staging)
        .map(|f| f.id.clone())
        .collect();
    assert!(!ids.is_empty());
    assert_eq!(finding_ids(&out), ids);
}

#[tokio::test]
async fn scopes_csv_lists_every_scope_by_client_environment_set_and_scope() {
    let env = Env::new();
    let store = seeded(&env, 120, 5).await;
    api::registrations_import(
        &store,
        now(),
        &actor(),
        &fixture("csv/inventory.csv"),
        None,
        false,
    )
    .await
    .expect("import");
    type Row = (String, String, String, String, Option<String>);
    let expected = |environment: Option<&str>| {
        let store = &store;
        let environment = environment.map(str::to_string);
        async move {
            on_pool!(store, |p| sqlx::query_as::<_, Row>(
                "SELECT i.client_id, i.environment, s.scope_set, s.scope, s.justification \
                 FROM identity_scope s JOIN identity i ON i.id = s.identity_id \
                 WHERE $1 IS NULL OR i.environment = $1 \
                 ORDER BY i.client_id, i.environment, s.scope_set, s.scope",
            )
            .bind(environment)
            .fetch_all(p)
            .await)
            .expect("scopes")
        }
    };
    let exported = |out: &Path| -> Vec<Row> {
        let mut r = csv::Reader::from_path(out.join("data/scopes.csv")).expect("scopes.csv");
        let header: Vec<&str> = r.headers().expect("header").iter().collect();
        assert_eq!(
            header.join(","),
            "client_id,environment,set,scope,canonical,valid,justification,explanation,traits"
        );
        r.records()
            .map(|rec| {
                let rec = rec.expect("a row");
                // A neutralized cell keeps its apostrophe; none of these start with one.
                let why = rec[6].to_string();
                (
                    rec[0].to_string(),
                    rec[1].to_string(),
                    rec[2].to_string(),
                    rec[3].to_string(),
                    Some(why),
                )
            })
            .collect()
    };
    let blank = |rows: Vec<Row>| -> Vec<Row> {
        rows.into_iter()
            .map(|(c, e, s, sc, why)| {
                (
                    c,
                    e,
                    s,
                    sc,
                    Some(
                        why.map(|w| steward::export::csv::csv_cell(&w))
                            .unwrap_or_default(),
                    ),
                )
            })
            .collect()
    };
    let out = env.dir.path().join("all");
    api::evidence_export(&store, now(), &actor(), &out, &EvidenceFilter::default())
        .await
        .expect("export");
    let all = blank(expected(None).await);
    assert!(all.len() > 500);
    assert_eq!(exported(&out), all);
    let out = env.dir.path().join("prod");
    let f = EvidenceFilter {
        environment: Some(steward::inventory::Environment::Production),
        ..Default::default()
    };
    api::evidence_export(&store, now(), &actor(), &out, &f)
        .await
        .expect("export");
    let prod = blank(expected(Some("production")).await);
    assert!(!prod.is_empty() && prod.len() < all.len());
    assert_eq!(exported(&out), prod);
}

/// Each count of a bar chart fits inside its chart (13 px digits are under 8 px wide).
#[tokio::test]
async fn chart_counts_fit_inside_their_charts() {
    let env = Env::new();
    let (_, html) = demo_report(&env).await;
    let mut counts = 0;
    for chart in html.split("<svg width=\"").skip(1) {
        let width: usize = chart[..chart.find('"').expect("width")]
            .parse()
            .expect("a number");
        for text in chart.split("<text x=\"").skip(1) {
            let x: usize = text[..text.find('"').expect("x")]
                .parse()
                .expect("a number");
            let content = &text[text.find('>').expect(">") + 1..text.find("</text>").expect("end")];
            if content.chars().all(|c| c.is_ascii_digit()) {
                counts += 1;
                assert!(
                    x + 8 * content.len() <= width,
                    "{content} at x {x} overflows a chart {width} wide"
                );
            }
        }
    }
    assert!(counts >= 10, "the charts carry their counts");
}

/// `report.pdf` says what `report.html` and the package's files say, on pages that each carry
/// the signing key's fingerprint, and the signature covers it.
#[tokio::test]
async fn the_pdf_report_reads_back_with_the_packages_figures_on_every_page() {
    let env = Env::new();
    let (out, html) = demo_report(&env).await;
    let pdf = out.join("data/report.pdf");
    let text = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(text.status.success(), "pdftotext reads report.pdf");
    let text = String::from_utf8(text.stdout).expect("utf-8");
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(pages.len() > 2, "200 findings take several pages");
    let manifest = std::fs::read_to_string(out.join("bag-info.txt")).expect("bag-info");
    let fingerprint = manifest
        .lines()
        .find_map(|l| l.strip_prefix("Signing-Key-Fingerprint: "))
        .expect("the key's fingerprint");
    for (i, page) in pages.iter().enumerate() {
        assert!(
            page.contains(&format!("Signing key {fingerprint}")),
            "page {} names the key",
            i + 1
        );
        assert!(page.contains(&format!("page {} of {}", i + 1, pages.len())));
    }
    // The figures, against the package's own files.
    let rows = |name: &str| {
        csv::Reader::from_path(out.join("data").join(name))
            .expect(name)
            .records()
            .count()
    };
    let (identities, findings) = (rows("inventory.csv"), rows("findings.csv"));
    let entries = std::fs::read_to_string(out.join("data/audit-log.jsonl"))
        .expect("log")
        .lines()
        .count();
    let summary = format!("{identities} identities · {findings} findings (");
    assert!(text.contains(&summary), "{summary} in the PDF");
    assert!(html.contains(&summary), "and in the HTML");
    assert!(text.contains(&format!("{entries} audit entries in the window")));
    let serious = csv::Reader::from_path(out.join("data/findings.csv"))
        .expect("findings")
        .records()
        .filter(|r| matches!(&r.as_ref().expect("row")[2], "critical" | "high"))
        .count();
    let listed = format!("(the first 200 of {serious}; findings.csv has them all)");
    // A heading may wrap: compare without the line breaks.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&listed), "{listed}");
    let head = std::fs::read_to_string(out.join("data/checkpoints.jsonl")).expect("checkpoints");
    let last: serde_json::Value =
        serde_json::from_str(head.lines().last().expect("a checkpoint")).expect("json");
    let seq = last["seq"].as_i64().expect("seq");
    assert!(flat.contains(&format!("checkpoint at seq {seq}")));
    let hash = last["head_hash"].as_str().expect("hash");
    assert!(
        flat.replace(' ', "").contains(hash),
        "the head hash is given"
    );
    // Each chart's counts: the findings by severity, as findings.csv counts them.
    for severity in ["critical", "high", "medium", "low"] {
        let n = csv::Reader::from_path(out.join("data/findings.csv"))
            .expect("findings")
            .records()
            .filter(|r| &r.as_ref().expect("row")[2] == severity)
            .count();
        assert!(
            text.lines().any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words == [severity, n.to_string().as_str()]
            }),
            "{severity} {n} in the chart"
        );
    }
    // The manifest lists the PDF and the signature covers the manifest.
    let listed = std::fs::read_to_string(out.join("manifest-sha256.txt")).expect("manifest");
    assert!(listed.lines().any(|l| l.ends_with("  data/report.pdf")));
    let store = env.store().await;
    steward_verify(&store, &out).await.expect("intact");
    let mut bytes = std::fs::read(&pdf).expect("pdf");
    bytes.extend_from_slice(b"\n% appended\n");
    std::fs::write(&pdf, bytes).expect("append");
    let err = steward_verify(&store, &out).await.expect_err("tampered");
    assert!(err.contains("data/report.pdf"), "{err}");
}
