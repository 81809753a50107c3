//! Hostile evidence packages: names that leave the package, links, FIFOs, devices and huge
//! sparse files. Each is re-signed with another key, as an attacker would, so the verifier
//! gets past the signature; each must end in a clear error, in bounded time, without the
//! verifier reading what it must not.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{actor, fixture, now, Env};
use sha2::{Digest, Sha256};
use steward::api::{self, EvidenceFilter};
use steward::evidence::bag::{inspect_bag, BagVerification, CheckName};
use steward::evidence::key;

async fn package(env: &Env) -> PathBuf {
    let store = env.store().await;
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
    let out = env.dir.path().join("pkg");
    api::evidence_export(&store, now(), &actor(), &out, &EvidenceFilter::default())
        .await
        .expect("export");
    out
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs the package again with Mallory's key: a tag manifest over the tag files as they are
/// now, and its Ed25519 signature (the minisign file is left as it was).
fn resign(dir: &Path) {
    let mallory = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    std::fs::write(
        dir.join("signing-key.pub.pem"),
        key::public_pem(&mallory.verifying_key()),
    )
    .expect("key");
    let mut lines: Vec<String> = [
        "VERIFY.md",
        "bag-info.txt",
        "bagit.txt",
        "manifest-sha256.txt",
        "minisign.pub",
        "signing-key.pub.pem",
    ]
    .iter()
    .map(|name| {
        let bytes = std::fs::read(dir.join(name)).expect("tag file");
        format!("{}  {name}\n", hex::encode(Sha256::digest(bytes)))
    })
    .collect();
    lines.sort();
    let tagmanifest = lines.concat();
    std::fs::write(dir.join("tagmanifest-sha256.txt"), &tagmanifest).expect("tag manifest");
    use ed25519_dalek::Signer;
    let sig = mallory.sign(tagmanifest.as_bytes());
    std::fs::write(dir.join("tagmanifest-sha256.txt.sig"), sig.to_bytes()).expect("sig");
}

/// The verifier's verdict on `dir`, which must come within a minute (a verifier reading
/// /dev/zero, a FIFO or 10 GB would not).
fn inspect(dir: &Path) -> Result<BagVerification, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(inspect_bag(&dir, &[]).map_err(|e| e.to_string()));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the verifier answers in bounded time")
}

#[rstest::rstest]
#[case::parent_dir(
    "echo secret > ../outside.txt",
    &["data/../../outside.txt"],
    "",
    CheckName::FileSet,
    "lists 'data/../../outside.txt', not a normalised relative path"
)]
#[case::absolute_path("", &["/etc/passwd"], "", CheckName::FileSet, "lists '/etc/passwd', an absolute path")]
#[case::outside_data("", &["VERIFY.md"], "", CheckName::FileSet, "lists 'VERIFY.md', not under data/")]
#[case::symlink_outside(
    "cp data/owners.csv ../owners.csv && rm data/owners.csv && ln -s ../../owners.csv data/owners.csv",
    &[],
    "",
    CheckName::FileSet,
    "data/owners.csv: is a symbolic link, not a regular file"
)]
#[case::symlink_to_dev_zero(
    "rm data/usage.csv && ln -s /dev/zero data/usage.csv",
    &[],
    "",
    CheckName::FileSet,
    "data/usage.csv: is a symbolic link, not a regular file"
)]
#[case::fifo("mkfifo data/pipe", &["data/pipe"], "", CheckName::FileSet, "data/pipe: is a FIFO, not a regular file")]
#[case::sparse_10_gb(
    "truncate -s 10G data/big.bin",
    &["data/big.bin"],
    "",
    CheckName::PayloadChecksums,
    "data/big.bin: 10737418240 bytes, more than the whole payload bag-info.txt declares"
)]
#[case::audit_log_swapped_for_a_sparse_file(
    "rm data/audit-log.jsonl && truncate -s 10G data/audit-log.jsonl",
    &[],
    "",
    CheckName::PayloadChecksums,
    "data/audit-log.jsonl: 10737418240 bytes, more than the whole payload"
)]
#[case::tag_file_to_dev_zero(
    "",
    &[],
    "rm VERIFY.md && ln -s /dev/zero VERIFY.md",
    CheckName::FileSet,
    "VERIFY.md: is a symbolic link, not a regular file"
)]
#[case::data_is_a_link(
    "",
    &[],
    "mv data ../elsewhere && ln -s ../elsewhere data",
    CheckName::FileSet,
    "data: is a symbolic link, not a regular file"
)]
#[tokio::test]
async fn a_hostile_package_is_a_clear_error_in_bounded_time(
    #[case] before: &str,
    #[case] listed: &[&str],
    #[case] after: &str,
    #[case] check: CheckName,
    #[case] named: &str,
) {
    let env = Env::new();
    let dir = package(&env).await;
    if !before.is_empty() {
        sh(&dir, before);
    }
    if !listed.is_empty() {
        let mut manifest =
            std::fs::read_to_string(dir.join("manifest-sha256.txt")).expect("manifest");
        for name in listed {
            manifest.push_str(&format!("{}  {name}\n", "0".repeat(64)));
        }
        std::fs::write(dir.join("manifest-sha256.txt"), manifest).expect("manifest");
    }
    resign(&dir);
    if !after.is_empty() {
        sh(&dir, after);
    }
    let r = inspect(&dir).expect("the package is read as far as it may be");
    assert!(
        r.checks[1].passed,
        "re-signed: the signature holds ({:?})",
        r.checks[1]
    );
    let problems = &r
        .checks
        .iter()
        .find(|c| c.name == check)
        .expect("check")
        .problems;
    assert!(
        problems.iter().any(|p| p.contains(named)),
        "{named}: {:#?}",
        r.checks
    );
    assert!(!r.passed());
}

/// A tag file the verifier must read first, swapped for a FIFO or a link to /dev/zero: an
/// error naming it, at once.
#[rstest::rstest]
#[case::fifo(
    "rm tagmanifest-sha256.txt && mkfifo tagmanifest-sha256.txt",
    "tagmanifest-sha256.txt: cannot be read (is a FIFO"
)]
#[case::dev_zero(
    "rm tagmanifest-sha256.txt.sig && ln -s /dev/zero tagmanifest-sha256.txt.sig",
    "tagmanifest-sha256.txt.sig: cannot be read (is a symbolic link"
)]
#[case::huge(
    "truncate -s 10G signing-key.pub.pem",
    "signing-key.pub.pem: cannot be read (is 10737418240 bytes"
)]
#[tokio::test]
async fn a_tag_file_that_is_no_file_is_named_at_once(#[case] attack: &str, #[case] named: &str) {
    let env = Env::new();
    let dir = package(&env).await;
    sh(&dir, attack);
    let e = inspect(&dir).expect_err("the package cannot be checked");
    assert!(e.contains(named), "{named}: {e}");
}

/// An unsigned change is not read past the signature: the checks that would read the files
/// say they were not made.
#[rstest::rstest]
#[case::tag_manifest(
    "sed -i '1s/^./&&/' tagmanifest-sha256.txt",
    &[CheckName::TagChecksums, CheckName::PayloadChecksums, CheckName::AuditChain, CheckName::Checkpoints],
    "not checked: the signature over tagmanifest-sha256.txt does not hold"
)]
#[case::manifest(
    "echo x >> manifest-sha256.txt",
    &[CheckName::PayloadChecksums, CheckName::AuditChain, CheckName::Checkpoints],
    "not checked: manifest-sha256.txt is not what the signature covers"
)]
#[case::bag_info(
    "sed -i 's/^Payload-Oxum: .*/Payload-Oxum: 99999999999.16/' bag-info.txt",
    &[CheckName::PayloadChecksums, CheckName::AuditChain, CheckName::Checkpoints],
    "not checked: bag-info.txt is not what the signature covers"
)]
#[tokio::test]
async fn nothing_is_read_on_the_word_of_an_unsigned_file(
    #[case] tamper: &str,
    #[case] unread: &[CheckName],
    #[case] why: &str,
) {
    let env = Env::new();
    let dir = package(&env).await;
    sh(
        &dir,
        &format!("rm data/usage.csv && mkfifo data/usage.csv && {tamper}"),
    );
    let r = inspect(&dir).expect("inspect");
    for c in r.checks.iter().filter(|c| unread.contains(&c.name)) {
        assert_eq!(c.problems, [why], "{:?}", c.name);
    }
    assert!(!r.passed());
}
