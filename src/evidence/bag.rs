//! BagIt (RFC 8493) packages with a signed tag manifest, and their verification.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use blake2::Blake2b512;
use ed25519_dalek::VerifyingKey;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::key::{self, Signer25519};
use crate::audit::sha4::Messages;
use crate::audit::{content_matches, link_problem, AuditEntry, GENESIS};
use crate::{Error, Result};

/// Tag files every package has, besides the tag manifest and its signatures.
const TAG_FILES: [&str; 6] = [
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    "signing-key.pub.pem",
    "minisign.pub",
    "VERIFY.md",
];
const TAGMANIFEST: &str = "tagmanifest-sha256.txt";
const SIG: &str = "tagmanifest-sha256.txt.sig";
const MINISIG: &str = "tagmanifest-sha256.txt.minisig";

/// A payload file being written into `data/`: bytes are hashed a buffer at a time as they
/// go to disk, so the package is never held in memory nor read back to be hashed.
pub struct PayloadFile {
    name: String,
    path: PathBuf,
    file: std::fs::File,
    buf: Vec<u8>,
    sha: Sha256,
    len: u64,
}

/// A payload file written: its name under `data/`, SHA-256 and size.
#[derive(Debug, Clone)]
pub struct Written {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Bytes gathered before they are hashed and written: small enough to stay in the core's
/// cache between the two.
const BUF: usize = 256 * 1024;

impl PayloadFile {
    fn spill(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        self.sha.update(&self.buf);
        self.file.write_all(&self.buf)?;
        self.len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is left and returns the file's hash and size.
    pub fn finish(mut self) -> Result<Written> {
        self.spill().map_err(|e| Error::io(&self.path, e))?;
        Ok(Written {
            name: self.name,
            sha256: hex::encode(self.sha.finalize()),
            bytes: self.len,
        })
    }
}

impl std::io::Write for PayloadFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if bytes.len() >= BUF {
            // A large piece is hashed and written where it is, after what was gathered.
            self.spill()?;
            self.sha.update(bytes);
            self.file.write_all(bytes)?;
            self.len += bytes.len() as u64;
            return Ok(bytes.len());
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= BUF {
            self.spill()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A package being written. Payload files go into a temp directory beside the destination
/// as they are produced; [`Builder::finish`] adds the tag files, signs and renames the
/// directory into place. Dropped unfinished (an error, a cancel), it removes the temp
/// directory, so an interrupted export leaves no package that looks complete.
pub struct Builder {
    out: PathBuf,
    tmp: PathBuf,
    finished: bool,
}

impl Builder {
    /// Starts a package at `out`, which must not exist.
    pub fn create(out: &Path) -> Result<Builder> {
        if out.exists() {
            return Err(Error::invalid(
                "--out",
                format!("{} already exists", out.display()),
            ));
        }
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bag".into());
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let data = tmp.join("data");
        std::fs::create_dir_all(&data).map_err(|e| Error::io(&data, e))?;
        Ok(Builder {
            out: out.to_path_buf(),
            tmp,
            finished: false,
        })
    }

    /// Creates `data/<name>`.
    pub fn file(&self, name: &str) -> Result<PayloadFile> {
        let path = self.tmp.join("data").join(name);
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(PayloadFile {
            name: format!("data/{name}"),
            path,
            file,
            buf: Vec::with_capacity(BUF + BUF / 4),
            sha: Sha256::new(),
            len: 0,
        })
    }

    /// Writes a small payload file whole.
    pub fn put(&self, name: &str, bytes: &[u8]) -> Result<Written> {
        use std::io::Write;
        let mut f = self.file(name)?;
        f.write_all(bytes).map_err(|e| Error::io(&f.path, e))?;
        f.finish()
    }

    /// Writes the tag files over `payload`, signs the tag manifest and moves the package
    /// into place.
    pub fn finish(
        mut self,
        payload: &[Written],
        info: &[(String, String)],
        signer: &Signer25519,
        verify_md: &str,
    ) -> Result<BagSummary> {
        let summary = tag_files(&self.tmp, payload, info, signer, verify_md)?;
        std::fs::rename(&self.tmp, &self.out).map_err(|e| Error::io(&self.out, e))?;
        self.finished = true;
        Ok(BagSummary {
            dir: self.out.display().to_string(),
            ..summary
        })
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// What a written package holds.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct BagSummary {
    pub dir: String,
    pub files: Vec<String>,
    #[ts(type = "number")]
    pub payload_bytes: u64,
    pub key_fingerprint: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The SHA-256 of a file, read where it lies in the page cache.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    Ok(sha256_hex(&mapped(path)?))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))
}

fn manifest<'a>(entries: impl IntoIterator<Item = (String, &'a str)>) -> String {
    let mut lines: Vec<String> = entries
        .into_iter()
        .map(|(hash, name)| format!("{hash}  {name}\n"))
        .collect();
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    lines.concat()
}

fn tag_files(
    dir: &Path,
    payload: &[Written],
    info: &[(String, String)],
    signer: &Signer25519,
    verify_md: &str,
) -> Result<BagSummary> {
    let payload_bytes: u64 = payload.iter().map(|w| w.bytes).sum();
    let manifest_text = manifest(payload.iter().map(|w| (w.sha256.clone(), w.name.as_str())));
    let mut bag_info = String::new();
    for (k, v) in info {
        bag_info.push_str(&format!("{k}: {v}\n"));
    }
    bag_info.push_str(&format!(
        "Payload-Oxum: {payload_bytes}.{}\n",
        payload.len()
    ));
    let vk = signer.verifying_key();
    let tags: Vec<(&str, Vec<u8>)> = vec![
        (
            "bagit.txt",
            b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n".to_vec(),
        ),
        ("bag-info.txt", bag_info.into_bytes()),
        ("manifest-sha256.txt", manifest_text.into_bytes()),
        ("signing-key.pub.pem", key::public_pem(&vk).into_bytes()),
        ("minisign.pub", key::minisign_public(&vk).into_bytes()),
        ("VERIFY.md", verify_md.as_bytes().to_vec()),
    ];
    for (name, bytes) in &tags {
        write(dir, name, bytes)?;
    }
    let tagmanifest = manifest(tags.iter().map(|(n, b)| (sha256_hex(b), *n)));
    write(dir, TAGMANIFEST, tagmanifest.as_bytes())?;
    write(dir, SIG, &signer.sign(tagmanifest.as_bytes()))?;
    let trusted = format!("steward evidence package, key {}", signer.fingerprint());
    write(
        dir,
        MINISIG,
        signer.minisign(tagmanifest.as_bytes(), &trusted).as_bytes(),
    )?;
    Ok(BagSummary {
        dir: String::new(),
        files: payload.iter().map(|w| w.name.clone()).collect(),
        payload_bytes,
        key_fingerprint: signer.fingerprint(),
    })
}

/// One check of a package, as VERIFY.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// The public key is an Ed25519 key (and, in the window, one of this installation's).
    Key,
    /// The Ed25519 signature over the tag manifest.
    Signature,
    /// The minisign signature over the tag manifest, with its trusted comment.
    Minisign,
    /// Exactly the files of a package: no tag file missing or added, no payload file added.
    FileSet,
    /// Every tag file against the tag manifest.
    TagChecksums,
    /// Every payload file against the manifest.
    PayloadChecksums,
    /// The exported audit log's hash chain.
    AuditChain,
    /// Each exported checkpoint: signed by the key, chained, and its head hash in the log.
    Checkpoints,
}

/// A check's verdict: passed when it found no problem.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct Check {
    pub name: CheckName,
    pub passed: bool,
    /// What is wrong, each naming the file.
    pub problems: Vec<String>,
}

/// What a verification checked, check by check.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct BagVerification {
    pub key_fingerprint: String,
    #[ts(type = "number")]
    pub payload_files: usize,
    #[ts(type = "number")]
    pub audit_entries: usize,
    #[ts(type = "number")]
    pub checkpoints: usize,
    /// Every check, in the order VERIFY.md takes them.
    pub checks: Vec<Check>,
}

impl BagVerification {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Every problem, in check order.
    pub fn problems(&self) -> Vec<String> {
        self.checks
            .iter()
            .flat_map(|c| c.problems.clone())
            .collect()
    }

    fn fail(&mut self, name: CheckName, problem: String) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.name == name) {
            c.passed = false;
            c.problems.push(problem);
        }
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let p = dir.join(name);
    std::fs::read(&p).map_err(|e| Error::Integrity(format!("{name}: cannot be read ({e})")))
}

fn parse_manifest(text: &str, name: &str) -> Result<Vec<(String, String)>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (hash, file) = l
                .split_once(char::is_whitespace)
                .ok_or_else(|| Error::Integrity(format!("{name}: malformed line '{l}'")))?;
            Ok((
                hash.to_ascii_lowercase(),
                file.trim_start().trim_start_matches('*').to_string(),
            ))
        })
        .collect()
}

fn files_under(root: &Path, rel: &str, out: &mut BTreeSet<String>) -> Result<()> {
    let dir = root.join(rel);
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = format!("{rel}/{}", entry.file_name().to_string_lossy());
        if entry.file_type().map_err(|e| Error::io(&dir, e))?.is_dir() {
            files_under(root, &name, out)?;
        } else {
            out.insert(name);
        }
    }
    Ok(())
}

/// Checks a package the way VERIFY.md does, and the audit chain inside it. `trusted` lists
/// the public keys allowed to have signed it (empty: any key, as an auditor checking only
/// integrity would). Fails naming every problem found.
pub fn verify_bag(dir: &Path, trusted: &[VerifyingKey]) -> Result<BagVerification> {
    let report = inspect_bag(dir, trusted)?;
    if report.passed() {
        Ok(report)
    } else {
        Err(Error::Integrity(report.problems().join("; ")))
    }
}

/// Every check of [`verify_bag`], each with its verdict; fails only when the package cannot
/// be read at all (no tag manifest, key or signature file).
pub fn inspect_bag(dir: &Path, trusted: &[VerifyingKey]) -> Result<BagVerification> {
    use CheckName::*;
    let tagmanifest = read(dir, TAGMANIFEST)?;
    let pem = String::from_utf8_lossy(&read(dir, "signing-key.pub.pem")?).into_owned();
    let vk = key::parse_public_pem(&pem)
        .ok_or_else(|| Error::Integrity("signing-key.pub.pem: not an Ed25519 public key".into()))?;
    let fingerprint = key::fingerprint(&vk);
    let mut report = BagVerification {
        key_fingerprint: fingerprint.clone(),
        payload_files: 0,
        audit_entries: 0,
        checkpoints: 0,
        checks: [
            Key,
            Signature,
            Minisign,
            FileSet,
            TagChecksums,
            PayloadChecksums,
            AuditChain,
            Checkpoints,
        ]
        .into_iter()
        .map(|name| Check {
            name,
            passed: true,
            problems: Vec::new(),
        })
        .collect(),
    };
    if !trusted.is_empty() && !trusted.contains(&vk) {
        report.fail(
            Key,
            format!("signed by {fingerprint}, which is not a key of this installation"),
        );
    }
    if !key::verify(&vk, &tagmanifest, &read(dir, SIG)?) {
        report.fail(
            Signature,
            format!("{SIG}: the signature does not match {TAGMANIFEST}"),
        );
    }
    if let Err(why) = check_minisig(&vk, &tagmanifest, &read(dir, MINISIG)?) {
        report.fail(Minisign, format!("{MINISIG}: {why}"));
    }
    let mut top: BTreeSet<String> = BTreeSet::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "data" {
            top.insert(name);
        }
    }
    let expected_top: BTreeSet<String> = TAG_FILES
        .iter()
        .chain([TAGMANIFEST, SIG, MINISIG].iter())
        .map(|s| s.to_string())
        .collect();
    for extra in top.difference(&expected_top) {
        report.fail(FileSet, format!("{extra}: not part of the package"));
    }
    let tag_text = String::from_utf8_lossy(&tagmanifest).into_owned();
    let tag_lines = parse_manifest(&tag_text, TAGMANIFEST)?;
    for name in TAG_FILES {
        if !tag_lines.iter().any(|(_, f)| f == name) {
            report.fail(FileSet, format!("{TAGMANIFEST}: does not list {name}"));
        }
    }
    for (hash, name) in &tag_lines {
        match std::fs::read(dir.join(name)) {
            Ok(bytes) if sha256_hex(&bytes) == *hash => {}
            Ok(_) => report.fail(
                TagChecksums,
                format!("{name}: changed (checksum differs from {TAGMANIFEST})"),
            ),
            Err(_) => report.fail(FileSet, format!("{name}: missing")),
        }
    }

    let manifest_text = String::from_utf8_lossy(&read(dir, "manifest-sha256.txt")?).into_owned();
    let listed = parse_manifest(&manifest_text, "manifest-sha256.txt")?;
    let mut present = BTreeSet::new();
    if dir.join("data").is_dir() {
        files_under(dir, "data", &mut present)?;
    }
    let listed_names: BTreeSet<String> = listed.iter().map(|(_, f)| f.clone()).collect();
    for extra in present.difference(&listed_names) {
        report.fail(
            FileSet,
            format!("{extra}: added (not in manifest-sha256.txt)"),
        );
    }
    // The audit log is hashed for the manifest while its lines are checked on every core; the
    // other files are hashed meanwhile.
    const LOG: &str = "data/audit-log.jsonl";
    let (checks, log) = rayon::join(
        || {
            listed
                .par_iter()
                .filter(|(_, name)| name != LOG)
                .map(|(hash, name)| check_hash(name, hash, sha256_file(&dir.join(name))))
                .collect::<Vec<_>>()
        },
        || mapped(&dir.join(LOG)).map(|log| check_audit_log(&log, BLOCK)),
    );
    let mut chain = None;
    let mut checks = checks;
    match log {
        Ok((hash, c)) => {
            if let Some((listed_hash, _)) = listed.iter().find(|(_, n)| n == LOG) {
                checks.push(check_hash(LOG, listed_hash, Ok(hash)));
            }
            chain = Some(c);
        }
        Err(e) => {
            if listed.iter().any(|(_, n)| n == LOG) {
                checks.push(check_hash(LOG, "", Err(e)));
            }
        }
    }
    for (check, problem) in checks.into_iter().flatten() {
        report.fail(check, problem);
    }
    match chain {
        Some(Ok(n)) => report.audit_entries = n,
        Some(Err(why)) => report.fail(AuditChain, format!("{LOG}: {why}")),
        None => {}
    }
    report.payload_files = listed.len();
    check_checkpoints(dir, &vk, trusted, &mut report);
    Ok(report)
}

/// Why a payload file fails its manifest line, if it does.
fn check_hash(
    name: &str,
    listed: &str,
    actual: std::io::Result<String>,
) -> Option<(CheckName, String)> {
    match actual {
        Ok(actual) if actual == listed => None,
        Ok(_) => Some((
            CheckName::PayloadChecksums,
            format!("{name}: changed (checksum differs from manifest-sha256.txt)"),
        )),
        Err(_) => Some((CheckName::FileSet, format!("{name}: missing or renamed"))),
    }
}

/// The exported checkpoints: each signed by the package's key (or a trusted one), chained
/// to the one before, and, where the exported log holds its seq, naming that entry's hash.
fn check_checkpoints(
    dir: &Path,
    vk: &VerifyingKey,
    trusted: &[VerifyingKey],
    report: &mut BagVerification,
) {
    const FILE: &str = "data/checkpoints.jsonl";
    let Ok(text) = std::fs::read_to_string(dir.join(FILE)) else {
        return; // a package without the file: named by the file-set check if it is listed
    };
    if text.trim().is_empty() {
        return;
    }
    let log = mapped(&dir.join("data/audit-log.jsonl"));
    let entries: Vec<&[u8]> = match &log {
        Ok(log) => lines(log).collect(),
        Err(_) => Vec::new(),
    };
    #[derive(serde::Deserialize)]
    struct Line {
        seq: i64,
        hash: String,
    }
    let at = |i: usize| {
        entries
            .get(i)
            .and_then(|l| serde_json::from_slice::<Line>(l).ok())
    };
    let first_seq = at(0).map(|l| l.seq);
    let keys: Vec<&VerifyingKey> = std::iter::once(vk).chain(trusted).collect();
    let mut prev: Option<String> = None;
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let place = format!("{FILE} line {}", n + 1);
        let cp: super::Checkpoint = match serde_json::from_str(line) {
            Ok(cp) => cp,
            Err(e) => {
                report.fail(CheckName::Checkpoints, format!("{place}: {e}"));
                continue;
            }
        };
        report.checkpoints += 1;
        let signer = keys
            .iter()
            .find(|k| key::fingerprint(k) == cp.key_fingerprint);
        let signature = hex::decode(&cp.signature).unwrap_or_default();
        // A checkpoint signed before a key rotation, by a key neither the package nor this
        // installation holds, is checked for its chain and head hash only.
        if let Some(k) = signer {
            if !key::verify(k, cp.message().as_bytes(), &signature) {
                report.fail(
                    CheckName::Checkpoints,
                    format!(
                        "{place}: the signature does not match checkpoint {}",
                        cp.seq
                    ),
                );
            }
        }
        if prev.is_some() && cp.prev_signature != prev {
            report.fail(
                CheckName::Checkpoints,
                format!("{place}: does not chain to the checkpoint before it"),
            );
        }
        let entry = first_seq
            .and_then(|first| usize::try_from(cp.seq - first).ok())
            .and_then(at)
            .filter(|e| e.seq == cp.seq);
        if let Some(e) = entry {
            if e.hash != cp.head_hash {
                report.fail(
                    CheckName::Checkpoints,
                    format!(
                        "{place}: data/audit-log.jsonl no longer holds checkpoint {}'s head hash",
                        cp.seq
                    ),
                );
            }
        }
        prev = Some(cp.signature);
    }
}

fn check_minisig(vk: &VerifyingKey, data: &[u8], file: &[u8]) -> std::result::Result<(), String> {
    let text = String::from_utf8_lossy(file);
    let lines: Vec<&str> = text.lines().collect();
    let [_, sig_line, trusted_line, global_line, ..] = lines.as_slice() else {
        return Err("not a minisign signature file".into());
    };
    let sig = STANDARD
        .decode(sig_line.trim())
        .map_err(|_| "signature line is not base64")?;
    if sig.len() != 74 || &sig[..2] != b"ED" {
        return Err("not a prehashed Ed25519 minisign signature".into());
    }
    if !key::verify(vk, &Blake2b512::digest(data), &sig[10..]) {
        return Err("the signature does not match tagmanifest-sha256.txt".into());
    }
    let trusted = trusted_line
        .strip_prefix("trusted comment: ")
        .ok_or("no trusted comment")?;
    let global = STANDARD
        .decode(global_line.trim())
        .map_err(|_| "global signature is not base64")?;
    let mut signed = sig[10..].to_vec();
    signed.extend_from_slice(trusted.as_bytes());
    if !key::verify(vk, &signed, &global) {
        return Err("the trusted comment was altered".into());
    }
    Ok(())
}

/// One exported line, read: its seq, the hash it links to, its own hash, and whether its
/// content matches that hash.
struct Link<'a> {
    seq: i64,
    prev_hash: Cow<'a, str>,
    hash: Cow<'a, str>,
    content: Content,
}

/// Whether an entry's content matches its hash: known, or to be seen once the contents of
/// the lines read with it are hashed together (its content numbered so among them).
enum Content {
    Known(bool),
    Hashed(usize),
}

/// Reads one line: the canonical fast path when it can (its content added to `contents`),
/// else through `serde_json::Value`.
fn read_link<'a>(
    n: usize,
    line: &'a [u8],
    contents: &mut Messages,
) -> std::result::Result<Link<'a>, String> {
    if let Some(p) = crate::audit::line::canonical(line, contents) {
        return Ok(Link {
            seq: p.seq,
            prev_hash: Cow::Borrowed(p.prev_hash),
            hash: Cow::Borrowed(p.hash),
            content: Content::Hashed(p.content),
        });
    }
    let line = std::str::from_utf8(line).map_err(|_| format!("line {n}: not UTF-8"))?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("line {n}: {e}"))?;
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let e = AuditEntry {
        seq: v["seq"].as_i64().ok_or(format!("line {n}: no seq"))?,
        at: text("at"),
        actor: text("actor"),
        action: text("action"),
        subject: text("subject"),
        details: v["details"].clone(),
        prev_hash: text("prev_hash"),
        hash: text("hash"),
    };
    let content = Content::Known(content_matches(&e));
    Ok(Link {
        seq: e.seq,
        prev_hash: Cow::Owned(e.prev_hash),
        hash: Cow::Owned(e.hash),
        content,
    })
}

/// What a block of whole lines of an exported audit log says about the chain.
#[derive(Default)]
struct Span<'a> {
    /// Line number, seq, prev_hash and whether the content matches, of the first entry.
    first: Option<(usize, i64, Cow<'a, str>, bool)>,
    /// Seq and hash of the last entry.
    last: Option<(i64, Cow<'a, str>)>,
    entries: usize,
    /// Lines walked (all of the block's unless it has a problem).
    lines: usize,
    /// The first bad line after the first, or a line that cannot be read at all.
    problem: Option<String>,
    /// Where the block stops being UTF-8.
    bad_utf8: Option<String>,
}

/// The lines of `text` as [`str::lines`] splits them (at `\n` or `\r\n`; no empty line after
/// a final line ending), found with memchr's vector search.
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut ends = memchr::memchr_iter(b'\n', text);
    let mut start = 0;
    std::iter::from_fn(move || match ends.next() {
        Some(end) => {
            let line = &text[start..end];
            start = end + 1;
            Some(line.strip_suffix(b"\r").unwrap_or(line))
        }
        None if start < text.len() => {
            let line = &text[start..];
            start = text.len();
            Some(line)
        }
        None => None,
    })
}

/// Lines read before their contents are hashed together: enough for four lanes to run full
/// most of the time, few enough for the contents to be still in the core's cache.
const LINES_HASHED_TOGETHER: usize = 64;

/// Checks the lines of a block (`first_line` is the number of its first) against each
/// other; the link of its first entry to the block before is checked by [`chain`]. Each line
/// is checked to be UTF-8 on its way (see [`check_audit_log`]). Lines are read a few dozen at
/// a time, their contents hashed together ([`Messages::digests`]), then their links followed.
fn check_block(text: &[u8], first_line: usize) -> Span<'_> {
    let mut span = Span::default();
    let mut contents = Messages::default();
    let mut links = Vec::with_capacity(LINES_HASHED_TOGETHER);
    let mut all = lines(text).enumerate().peekable();
    while all.peek().is_some() {
        contents.clear();
        links.clear();
        let mut unreadable = None;
        for (i, line) in all.by_ref() {
            span.lines = i + 1;
            // An entry starts with `{`; anything else may be a blank line.
            if !line.starts_with(b"{")
                && std::str::from_utf8(line).is_ok_and(|l| l.trim().is_empty())
            {
                continue;
            }
            match read_link(first_line + i, line, &mut contents) {
                Ok(link) => links.push((i, link)),
                Err(why) => {
                    unreadable = Some(why);
                    break;
                }
            }
            if links.len() == LINES_HASHED_TOGETHER {
                break;
            }
        }
        let digests = contents.digests();
        for (i, link) in links.drain(..) {
            let n = first_line + i;
            let content_ok = match link.content {
                Content::Known(ok) => ok,
                Content::Hashed(k) => crate::audit::line::is_lower_hex_of(&link.hash, &digests[k]),
            };
            span.entries += 1;
            match &span.last {
                None => {
                    span.first = Some((n, link.seq, link.prev_hash, content_ok));
                }
                Some((seq, hash)) => {
                    if let Some(why) =
                        link_problem(seq + 1, hash, link.seq, &link.prev_hash, || content_ok)
                    {
                        span.problem = Some(format!("line {n} (seq {}): {why}", link.seq));
                        span.lines = i + 1;
                        return span;
                    }
                }
            }
            span.last = Some((link.seq, link.hash));
        }
        if unreadable.is_some() {
            span.problem = unreadable;
            return span;
        }
    }
    span
}

/// Joins the blocks in order: each first entry must follow the previous block's last (the
/// first entry of all may continue a chain that began before the exported window). Names
/// the first bad line.
fn chain(spans: &[Span]) -> std::result::Result<usize, String> {
    let mut prev: Option<(i64, &str)> = None;
    let mut entries = 0;
    for span in spans {
        if let Some((n, seq, prev_hash, content_ok)) = &span.first {
            let (expected_seq, expected_prev) = match prev {
                Some((s, h)) => (s + 1, h),
                None if *seq == 1 => (1, GENESIS),
                None => (*seq, &**prev_hash),
            };
            if let Some(why) =
                link_problem(expected_seq, expected_prev, *seq, prev_hash, || *content_ok)
            {
                return Err(format!("line {n} (seq {seq}): {why}"));
            }
        }
        if let Some(why) = &span.problem {
            return Err(why.clone());
        }
        entries += span.entries;
        if let Some((seq, hash)) = &span.last {
            prev = Some((*seq, hash));
        }
    }
    Ok(entries)
}

/// Bytes of the audit log checked as one task, about (a block ends at a line end).
const BLOCK: usize = 1 << 20;

/// A payload file mapped into memory: hashing and checking read the page cache in place,
/// without copying the file into buffers first.
#[allow(unsafe_code)]
fn mapped(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the map is read-only and lives no longer than the check that reads it. A package
    // changed while it is being verified may be read in part old and in part new (as a
    // buffered read of it would), and a file truncated meanwhile ends the process with
    // SIGBUS rather than an error: verification is of a package at rest.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(map)
}

/// Checks an exported audit log: returns its SHA-256 and the chain's verdict (the number of
/// entries, or the first bad line). One core hashes the file for the manifest while blocks
/// of whole lines are checked on the others (and on it, once it is done).
fn check_audit_log(bytes: &[u8], block: usize) -> (String, std::result::Result<usize, String>) {
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let end = match memchr::memchr(b'\n', &bytes[(start + block).min(bytes.len()) - 1..]) {
            Some(i) => (start + block).min(bytes.len()) + i,
            None => bytes.len(),
        };
        blocks.push(start..end);
        start = end;
    }
    let (hash, spans) = rayon::join(
        || hex::encode(Sha256::digest(bytes)),
        || {
            blocks
                .par_iter()
                .map(|r| check_block(&bytes[r.clone()], 1))
                .collect::<Vec<Span>>()
        },
    );
    // Blocks were checked with their lines counted from 1: number them in the file. A block
    // with a problem is checked again, from its place, to name its line (it is the last
    // block `chain` reads), or where it stops being UTF-8 if it does. (A block without a
    // problem is UTF-8: its lines were checked on their way.)
    let mut spans = spans;
    let mut before = 0;
    for (span, r) in spans.iter_mut().zip(&blocks) {
        if span.problem.is_some() {
            let block = &bytes[r.clone()];
            *span = match std::str::from_utf8(block) {
                Ok(_) => check_block(block, before + 1),
                Err(e) => Span {
                    bad_utf8: Some(format!("not UTF-8 at byte {}", r.start + e.valid_up_to())),
                    ..Span::default()
                },
            };
        } else if let Some(first) = span.first.as_mut() {
            first.0 += before;
        }
        before += span.lines;
    }
    // As when the file is read whole: text that is not UTF-8 is named before any link.
    let verdict = match spans.iter().find_map(|s| s.bad_utf8.clone()) {
        Some(why) => Err(why),
        None => chain(&spans),
    };
    (hash, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The block reader splits lines exactly as `str::lines` does.
        #[test]
        fn lines_split_as_str_lines_does(text in "[a\\r\\n]{0,40}") {
            let ours: Vec<&[u8]> = lines(text.as_bytes()).collect();
            let std: Vec<&[u8]> = text.lines().map(str::as_bytes).collect();
            proptest::prop_assert_eq!(ours, std);
        }
    }
    use crate::audit::{canonical_json, entry_hash};

    /// An exported audit log of `n` entries continuing a chain at seq `first`.
    fn log(first: i64, n: i64) -> String {
        let mut prev = if first == 1 {
            GENESIS.to_string()
        } else {
            "ab".repeat(32)
        };
        let mut out = String::new();
        for seq in first..first + n {
            let details = serde_json::json!({ "n": seq, "note": "x".repeat((seq % 7) as usize) });
            let hash = entry_hash(
                seq,
                "2026-11-28T10:00:00Z",
                "a",
                "x.y",
                "s",
                &details,
                &prev,
            );
            let e = AuditEntry {
                seq,
                at: "2026-11-28T10:00:00Z".into(),
                actor: "a".into(),
                action: "x.y".into(),
                subject: "s".into(),
                details,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            };
            out.push_str(&canonical_json(&serde_json::to_value(&e).expect("entry")));
            out.push('\n');
        }
        out
    }

    fn verdict(text: &str, block: usize) -> std::result::Result<usize, String> {
        let (hash, verdict) = check_audit_log(text.as_bytes(), block);
        assert_eq!(
            hash,
            sha256_hex(text.as_bytes()),
            "the manifest hash is the file's"
        );
        verdict
    }

    #[test]
    fn a_log_read_in_small_blocks_says_what_it_says_read_whole() {
        let good = log(1, 300);
        let continued = log(40, 100);
        let lines: Vec<&str> = good.lines().collect();
        let without = |k: usize| {
            let mut l = lines.clone();
            l.remove(k);
            l.join("\n") + "\n"
        };
        let swapped = {
            let mut l = lines.clone();
            l.swap(150, 151);
            l.join("\n") + "\n"
        };
        let changed = good.replacen("\"n\":200,", "\"n\":201,", 1);
        let unreadable = good.replacen("\"seq\":77,", "\"seq\":77,,", 1);
        let mut not_utf8 = good.clone().into_bytes();
        not_utf8[20_000] = 0xff;
        let cases = [
            good.clone(),
            continued,
            without(0),
            without(123),
            without(299),
            swapped,
            changed,
            unreadable,
            format!("{good}\n\n"),
            good.trim_end().to_string(),
            String::new(),
        ];
        for (k, text) in cases.iter().enumerate() {
            let whole = verdict(text, text.len() + 1);
            for block in [64, 700, 4096] {
                assert_eq!(verdict(text, block), whole, "case {k}, blocks of {block}");
            }
        }
        assert_eq!(verdict(&good, 500), Ok(300));
        assert!(verdict(&cases[6], 500).is_err_and(|e| e.starts_with("line 200 (seq 200)")));
        assert!(verdict(&cases[3], 500).is_err_and(|e| e.starts_with("line 124 (seq 125)")));
        let (_, bad) = check_audit_log(&not_utf8[..], 700);
        assert_eq!(bad, Err("not UTF-8 at byte 20000".to_string()));
        // Named before a broken link, wherever either is, in blocks of any size.
        let mut both = cases[6].clone().into_bytes();
        let at = both.len() - 100;
        both[at] = 0xff;
        for block in [64, 700, 4096, both.len() + 1] {
            let (_, bad) = check_audit_log(&both[..], block);
            assert_eq!(
                bad,
                Err(format!("not UTF-8 at byte {at}")),
                "blocks of {block}"
            );
        }
    }
}
