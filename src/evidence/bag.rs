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
use crate::audit::digests::Messages;
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
    /// Bytes written since the last flush to disk was started.
    unflushed: u64,
    /// A flush of what was written so far, under way on a thread of its own.
    flushing: Option<std::thread::JoinHandle<std::io::Result<()>>>,
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

/// Bytes of a payload file written between flushes to disk: a large file goes to disk while
/// it is still being written, and its last flush, before the rename, has little left to do.
const FLUSH_EVERY: u64 = 32 << 20;

impl PayloadFile {
    fn spill(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        self.sha.update(&self.buf);
        self.file.write_all(&self.buf)?;
        self.wrote(self.buf.len());
        self.buf.clear();
        Ok(())
    }

    /// Counts `n` bytes written, and starts a flush of them to disk on a thread of its own
    /// every [`FLUSH_EVERY`] bytes (one at a time).
    fn wrote(&mut self, n: usize) {
        self.len += n as u64;
        self.unflushed += n as u64;
        if self.unflushed < FLUSH_EVERY || self.flushing.as_ref().is_some_and(|f| !f.is_finished())
        {
            return;
        }
        if let Ok(file) = self.file.try_clone() {
            if let Some(done) = self.flushing.take() {
                // Its error, if any, comes again from the last flush.
                let _ = done.join();
            }
            self.unflushed = 0;
            self.flushing = Some(std::thread::spawn(move || file.sync_data()));
        }
    }

    /// Writes what is left and returns the file's hash and size.
    pub fn finish(mut self) -> Result<Written> {
        self.spill().map_err(|e| Error::io(&self.path, e))?;
        if let Some(f) = self.flushing.take() {
            f.join()
                .map_err(|_| Error::Internal(format!("{}: a flush to disk stopped", self.name)))?
                .map_err(|e| Error::io(&self.path, e))?;
        }
        // On disk before the package is renamed into place.
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))?;
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
            self.wrote(bytes.len());
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
        // Unique to this export: another may be under way, or one that crashed left its own.
        static EXPORTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = EXPORTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = parent.join(format!(".{name}.partial-{}-{n}", std::process::id()));
        for dir in [&tmp, &tmp.join("data")] {
            private_dir(dir).map_err(|e| Error::io(dir, e))?;
        }
        Ok(Builder {
            out: out.to_path_buf(),
            tmp,
            finished: false,
        })
    }

    /// Creates `data/<name>`.
    pub fn file(&self, name: &str) -> Result<PayloadFile> {
        let path = self.tmp.join("data").join(name);
        let file = private_file(&path).map_err(|e| Error::io(&path, e))?;
        Ok(PayloadFile {
            name: format!("data/{name}"),
            path,
            file,
            buf: Vec::with_capacity(BUF + BUF / 4),
            sha: Sha256::new(),
            len: 0,
            unflushed: 0,
            flushing: None,
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
        // Every file and both folders are on disk before the rename, and the rename after it:
        // a crash leaves either no package or a whole one.
        for dir in [self.tmp.join("data"), self.tmp.clone()] {
            sync_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::rename(&self.tmp, &self.out).map_err(|e| Error::io(&self.out, e))?;
        if let Some(parent) = self.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(|e| Error::io(parent, e))?;
        }
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

/// The SHA-256 of a regular file of `size` bytes, read a buffer at a time; an error if it is
/// not that size (it changed since it was listed).
fn sha256_file(path: &Path, size: u64) -> std::io::Result<String> {
    use std::io::Read;
    let (file, _) = open_regular(path)?;
    let mut file = file.take(size + 1);
    let mut sha = Sha256::new();
    let mut buf = vec![0; BUF];
    let mut read = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        read += n as u64;
    }
    if read != size {
        return Err(std::io::Error::other("changed while it was checked"));
    }
    Ok(hex::encode(sha.finalize()))
}

/// Writes a tag file, readable by its owner only, and flushes it to disk.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let path = dir.join(name);
    private_file(&path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(|e| Error::io(&path, e))
}

/// Creates a file that only its owner can read and write (0600), failing if it exists.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Creates a folder that only its owner can enter (0700).
fn private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Flushes a folder's entries to disk.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(path)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
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

/// The largest tag file or checkpoint file read: far more than a manifest of a few hundred
/// thousand files needs, and little enough to hold.
const TAG_FILE_MAX: u64 = 64 << 20;

/// Folders a package's `data/` may nest (Steward writes none).
const MAX_DEPTH: usize = 16;

/// What a file is, when it is not a regular file, in words.
fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

fn not_regular(t: std::fs::FileType) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("is {}, not a regular file", kind_of(t)),
    )
}

/// Opens `path` only if it is a regular file: never through a symbolic link, and without
/// waiting on a FIFO. Returns the file and its size.
fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, u64)> {
    let t = std::fs::symlink_metadata(path)?.file_type();
    if !t.is_file() {
        return Err(not_regular(t));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    // What was opened, which may have been swapped in after the look above.
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(meta.file_type()));
    }
    Ok((file, meta.len()))
}

/// Reads a regular file of at most `max` bytes whole.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, len) = open_regular(path)?;
    if len > max {
        return Err(std::io::Error::other(format!(
            "is {len} bytes, more than the {max} such a file may be"
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other("grew while it was read"));
    }
    Ok(bytes)
}

/// A tag file, which the package cannot be checked without.
fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    read_bounded(&dir.join(name), TAG_FILE_MAX)
        .map_err(|e| Error::Integrity(format!("{name}: cannot be read ({e})")))
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

/// Why a manifest's file name is not one a package may hold: a relative path, normalised,
/// its parts joined by `/`.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.starts_with('/') {
        Some("an absolute path")
    } else if name.contains('\\') || name.chars().any(char::is_control) {
        Some("a name with a backslash or a control character")
    } else if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        Some("not a normalised relative path (an empty part, '.' or '..')")
    } else {
        None
    }
}

/// The payload's regular files (name and size), found without following a link; anything
/// else under `data/` is a problem, named.
#[derive(Default)]
struct Payload {
    files: std::collections::BTreeMap<String, u64>,
    problems: Vec<String>,
}

impl Payload {
    fn walk(&mut self, root: &Path, rel: &str, depth: usize) -> Result<()> {
        let dir = root.join(rel);
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = format!("{rel}/{}", entry.file_name().to_string_lossy());
            // The entry itself, never what a link points to.
            let meta = entry.metadata().map_err(|e| Error::io(&dir, e))?;
            let t = meta.file_type();
            if t.is_file() {
                self.files.insert(name, meta.len());
            } else if t.is_dir() && depth < MAX_DEPTH {
                self.walk(root, &name, depth + 1)?;
            } else if t.is_dir() {
                self.problems
                    .push(format!("{name}: folders nested more than {MAX_DEPTH} deep"));
            } else {
                self.problems.push(format!("{name}: {}", not_regular(t)));
            }
        }
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.files.values().sum()
    }
}

/// The bytes and files a package's `bag-info.txt` declares (`Payload-Oxum: bytes.files`).
fn payload_oxum(bag_info: &[u8]) -> Option<(u64, usize)> {
    let text = std::str::from_utf8(bag_info).ok()?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("Payload-Oxum:"))?
        .trim();
    let (bytes, files) = value.split_once('.')?;
    Some((bytes.parse().ok()?, files.parse().ok()?))
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
///
/// A package is hostile until shown otherwise. No file is read before the signature over the
/// tag manifest holds; a name is opened only if it is a relative path under the package,
/// without `..`, and what it names is a regular file (never a link, a FIFO or a device); the
/// payload is hashed only when its files add up to the size `bag-info.txt` declares, and
/// each is read no further than its size. Files are read, not mapped: a package changed
/// while it is checked gives an error, never a crash.
pub fn inspect_bag(dir: &Path, trusted: &[VerifyingKey]) -> Result<BagVerification> {
    use std::io::Read;
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
    let signed = key::verify(&vk, &tagmanifest, &read(dir, SIG)?);
    if !signed {
        report.fail(
            Signature,
            format!("{SIG}: the signature does not match {TAGMANIFEST}"),
        );
    }
    if let Err(why) = check_minisig(&vk, &tagmanifest, &read(dir, MINISIG)?) {
        report.fail(Minisign, format!("{MINISIG}: {why}"));
    }
    // The package's own files: each a regular file, and no other beside `data/`.
    let expected_top: BTreeSet<&str> = TAG_FILES
        .iter()
        .chain([TAGMANIFEST, SIG, MINISIG].iter())
        .copied()
        .collect();
    let mut data_dir = false;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let t = entry.file_type().map_err(|e| Error::io(dir, e))?;
        if name == "data" && t.is_dir() {
            data_dir = true;
        } else if !expected_top.contains(name.as_str()) {
            report.fail(FileSet, format!("{name}: not part of the package"));
        } else if !t.is_file() {
            report.fail(FileSet, format!("{name}: {}", not_regular(t)));
        }
    }
    if !signed {
        // Nothing the tag manifest lists is read on the word of a signature that does not hold.
        let why = format!("not checked: the signature over {TAGMANIFEST} does not hold");
        for check in [TagChecksums, PayloadChecksums, AuditChain, Checkpoints] {
            report.fail(check, why.clone());
        }
        return Ok(report);
    }
    let tag_text = String::from_utf8_lossy(&tagmanifest).into_owned();
    let tag_lines = parse_manifest(&tag_text, TAGMANIFEST)?;
    for name in TAG_FILES {
        if !tag_lines.iter().any(|(_, f)| f == name) {
            report.fail(FileSet, format!("{TAGMANIFEST}: does not list {name}"));
        }
    }
    // Tag files whose bytes are what the signed tag manifest lists.
    let mut good_tags = BTreeSet::new();
    for (hash, name) in &tag_lines {
        if !TAG_FILES.contains(&name.as_str()) {
            report.fail(
                FileSet,
                format!("{TAGMANIFEST}: lists '{name}', which is not a tag file"),
            );
            continue;
        }
        match read_bounded(&dir.join(name), TAG_FILE_MAX) {
            Ok(bytes) if sha256_hex(&bytes) == *hash => {
                good_tags.insert(name.as_str());
            }
            Ok(_) => report.fail(
                TagChecksums,
                format!("{name}: changed (checksum differs from {TAGMANIFEST})"),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.fail(FileSet, format!("{name}: missing"))
            }
            Err(e) => report.fail(FileSet, format!("{name}: {e}")),
        }
    }
    // The payload is read on the word of the manifest and bag-info.txt the signature covers.
    let unsigned: Vec<&str> = ["manifest-sha256.txt", "bag-info.txt"]
        .into_iter()
        .filter(|name| !good_tags.contains(name))
        .collect();
    if !unsigned.is_empty() {
        let why = format!(
            "not checked: {} not what the signature covers",
            match unsigned.as_slice() {
                [one] => format!("{one} is"),
                _ => unsigned.join(" and ") + " are",
            }
        );
        for check in [PayloadChecksums, AuditChain, Checkpoints] {
            report.fail(check, why.clone());
        }
        return Ok(report);
    }
    let manifest_text = String::from_utf8_lossy(&read(dir, "manifest-sha256.txt")?).into_owned();
    let mut listed = parse_manifest(&manifest_text, "manifest-sha256.txt")?;
    report.payload_files = listed.len();
    listed.retain(|(_, name)| {
        let why = name_problem(name).or((!name.starts_with("data/")).then_some("not under data/"));
        if let Some(why) = why {
            report.fail(
                FileSet,
                format!("manifest-sha256.txt: lists '{name}', {why}; it is not opened"),
            );
        }
        why.is_none()
    });
    let mut payload = Payload::default();
    if data_dir {
        payload.walk(dir, "data", 1)?;
    } else if let Ok(meta) = std::fs::symlink_metadata(dir.join("data")) {
        report.fail(FileSet, format!("data: {}", not_regular(meta.file_type())));
    }
    for problem in std::mem::take(&mut payload.problems) {
        report.fail(FileSet, problem);
    }
    let listed_names: BTreeSet<&str> = listed.iter().map(|(_, f)| f.as_str()).collect();
    for extra in payload
        .files
        .keys()
        .filter(|n| !listed_names.contains(n.as_str()))
    {
        report.fail(
            FileSet,
            format!("{extra}: added (not in manifest-sha256.txt)"),
        );
    }
    // The payload is read only as far as the package says it reaches: a file larger than the
    // whole payload it declares is not read at all.
    let oxum = read(dir, "bag-info.txt")
        .ok()
        .and_then(|b| payload_oxum(&b));
    let found = (payload.bytes(), payload.files.len());
    let Some(declared) = oxum else {
        report.fail(FileSet, "bag-info.txt: no Payload-Oxum".into());
        let why = "not checked: bag-info.txt does not declare the payload's size".to_string();
        for check in [PayloadChecksums, AuditChain, Checkpoints] {
            report.fail(check, why.clone());
        }
        return Ok(report);
    };
    if declared != found {
        report.fail(
            PayloadChecksums,
            format!(
                "bag-info.txt: Payload-Oxum says {} bytes in {} files; data/ holds {} bytes in \
                 {} files",
                declared.0, declared.1, found.0, found.1
            ),
        );
    }
    let within = |name: &str| match payload.files.get(name) {
        Some(&size) if size > declared.0 => Err(std::io::Error::other(format!(
            "{size} bytes, more than the whole payload bag-info.txt declares ({}); not read",
            declared.0
        ))),
        Some(&size) => Ok(size),
        None => Err(std::io::ErrorKind::NotFound.into()),
    };
    const LOG: &str = "data/audit-log.jsonl";
    const CHECKPOINTS: &str = "data/checkpoints.jsonl";
    // The checkpoints are read first: the log's pass keeps the hashes of their seqs.
    let checkpoints = payload
        .files
        .contains_key(CHECKPOINTS)
        .then(|| read_bounded(&dir.join(CHECKPOINTS), TAG_FILE_MAX));
    let wanted = checkpoints
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .map(|text| checkpoint_seqs(text))
        .unwrap_or_default();
    // The audit log is hashed for the manifest while its lines are checked on every core; the
    // other files are hashed meanwhile.
    let hash = |name: &str| within(name).and_then(|size| sha256_file(&dir.join(name), size));
    let (checks, log) = rayon::join(
        || {
            listed
                .par_iter()
                .filter(|(_, name)| name != LOG)
                .map(|(listed, name)| check_hash(name, listed, hash(name)))
                .collect::<Vec<_>>()
        },
        || {
            let size = within(LOG)?;
            let (file, _) = open_regular(&dir.join(LOG))?;
            let c = check_audit_log(file.take(size + 1), BLOCK, CHUNK, &wanted)?;
            if c.bytes == size {
                Ok(c)
            } else {
                Err(std::io::Error::other("changed while it was checked"))
            }
        },
    );
    let mut checks = checks;
    let mut heads = None;
    match log {
        Ok(c) => {
            if let Some((listed_hash, _)) = listed.iter().find(|(_, n)| n == LOG) {
                checks.push(check_hash(LOG, listed_hash, Ok(c.hash)));
            }
            match c.verdict {
                Ok(n) => report.audit_entries = n,
                Err(why) => report.fail(AuditChain, format!("{LOG}: {why}")),
            }
            heads = Some(c.heads);
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
    match checkpoints {
        Some(Ok(text)) => {
            check_checkpoints(&text, &heads.unwrap_or_default(), &vk, trusted, &mut report)
        }
        Some(Err(e)) => report.fail(Checkpoints, format!("{CHECKPOINTS}: {e}")),
        None => {} // named by the file-set check if it is listed
    }
    Ok(report)
}

/// Reads `bytes` as each text of a package the verifier parses: a manifest, `bag-info.txt`,
/// a minisign file, names, the exported audit log and the checkpoints. For the fuzzer
/// (`fuzz/`): it must never panic nor hang, and the log read whole and in small pieces must
/// say the same (it panics if not).
#[doc(hidden)]
pub fn check_untrusted_text(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(lines) = parse_manifest(&text, "manifest-sha256.txt") {
        for (_, name) in &lines {
            let _ = name_problem(name);
        }
    }
    let _ = payload_oxum(bytes);
    let vk = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
    let _ = check_minisig(&vk, bytes, bytes);
    let seqs = checkpoint_seqs(bytes);
    let whole = check_audit_log(bytes, BLOCK, CHUNK, &seqs).expect("bytes in memory");
    let small = check_audit_log(bytes, 64, 97, &seqs).expect("bytes in memory");
    assert_eq!(whole.hash, small.hash);
    assert_eq!(whole.bytes, bytes.len() as u64);
    assert_eq!(
        whole.verdict, small.verdict,
        "the log read in pieces says what it says read whole"
    );
    let mut report = BagVerification {
        key_fingerprint: String::new(),
        payload_files: 0,
        audit_entries: 0,
        checkpoints: 0,
        checks: vec![Check {
            name: CheckName::Checkpoints,
            passed: true,
            problems: Vec::new(),
        }],
    };
    check_checkpoints(bytes, &whole.heads, &vk, &[], &mut report);
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
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some((CheckName::FileSet, format!("{name}: missing or renamed")))
        }
        Err(e) => Some((CheckName::PayloadChecksums, format!("{name}: {e}"))),
    }
}

/// One checkpoint line, as far as the log's pass needs it.
#[derive(serde::Deserialize)]
struct CheckpointSeq {
    seq: i64,
}

/// The seqs the checkpoints of `text` name.
fn checkpoint_seqs(text: &[u8]) -> rustc_hash::FxHashSet<i64> {
    lines(text)
        .filter_map(|l| serde_json::from_slice::<CheckpointSeq>(l).ok())
        .map(|c| c.seq)
        .collect()
}

/// The exported checkpoints: each signed by the package's key (or a trusted one), chained
/// to the one before, and, where the exported log holds its seq, naming that entry's hash
/// (`heads`: seq to hash, kept by the log's pass).
fn check_checkpoints(
    text: &[u8],
    heads: &rustc_hash::FxHashMap<i64, String>,
    vk: &VerifyingKey,
    trusted: &[VerifyingKey],
    report: &mut BagVerification,
) {
    const FILE: &str = "data/checkpoints.jsonl";
    let Ok(text) = std::str::from_utf8(text) else {
        report.fail(CheckName::Checkpoints, format!("{FILE}: not UTF-8"));
        return;
    };
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
        if let Some(hash) = heads.get(&cp.seq) {
            if *hash != cp.head_hash {
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
    /// Seq and hash of the entries asked for.
    heads: Vec<(i64, String)>,
}

impl Span<'_> {
    /// The span, owning its text (the lines it was read from are about to be reused).
    fn owned(self) -> Span<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Span {
            first: self.first.map(|(n, seq, prev, ok)| (n, seq, own(prev), ok)),
            last: self.last.map(|(seq, hash)| (seq, own(hash))),
            entries: self.entries,
            lines: self.lines,
            problem: self.problem,
            bad_utf8: self.bad_utf8,
            heads: self.heads,
        }
    }
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
fn check_block<'a>(
    text: &'a [u8],
    first_line: usize,
    wanted: &rustc_hash::FxHashSet<i64>,
) -> Span<'a> {
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
            if wanted.contains(&link.seq) {
                span.heads.push((link.seq, link.hash.to_string()));
            }
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

/// Bytes of the audit log read at a time: a few blocks for each core. Two buffers of it are
/// held, one being checked while the next is read.
const CHUNK: usize = 16 << 20;

/// The longest audit-log line checked: far beyond any entry Steward writes.
const MAX_LINE: usize = 64 << 20;

/// What the pass over an exported audit log found.
struct LogCheck {
    /// The file's SHA-256, for the manifest.
    hash: String,
    /// The number of entries, or the first bad line.
    verdict: std::result::Result<usize, String>,
    /// The hash of each entry whose seq was asked for (the checkpoints').
    heads: rustc_hash::FxHashMap<i64, String>,
    bytes: u64,
}

/// Reads into `buf` until it is full or the reader ends; returns how much was read.
fn fill(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Checks an exported audit log read from `r`, `chunk` bytes at a time: its SHA-256 and the
/// chain's verdict (the number of entries, or the first bad line), keeping the hashes of the
/// entries whose seq is `wanted`. One core hashes each chunk and reads the next while blocks
/// of whole lines are checked on the others (and on it, once it is done). Memory stays at
/// two chunks, whatever the size of the log.
fn check_audit_log(
    mut r: impl std::io::Read + Send,
    block: usize,
    chunk: usize,
    wanted: &rustc_hash::FxHashSet<i64>,
) -> std::io::Result<LogCheck> {
    let mut sha = Sha256::new();
    let mut bytes = 0u64;
    // Two buffers, each zeroed once, when it is made or grows (not for every chunk). `now`
    // holds `now_len` bytes: the partial line carried over, then fresh bytes from `fresh` on.
    let mut now = vec![0; chunk];
    let mut now_len = fill(&mut r, &mut now)?;
    let mut fresh = 0;
    let mut next: Vec<u8> = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut heads = rustc_hash::FxHashMap::default();
    let mut too_long = None;
    // Lines before `now`, and the file offset of its first byte.
    let (mut before, mut offset) = (0usize, 0u64);
    loop {
        let eof = now_len - fresh < chunk;
        let cut = if eof {
            now_len
        } else {
            memchr::memrchr(b'\n', &now[..now_len]).map_or(0, |i| i + 1)
        };
        let carried = now_len - cut;
        if carried > MAX_LINE && too_long.is_none() {
            too_long = Some(format!(
                "line {}: longer than {MAX_LINE} bytes",
                before + lines(&now[..cut]).count() + 1
            ));
        }
        let keep = if too_long.is_none() { carried } else { 0 };
        if next.len() < keep + chunk {
            next.resize(keep + chunk, 0);
        }
        next[..keep].copy_from_slice(&now[cut..cut + keep]);
        let (read, checked) = rayon::join(
            || {
                sha.update(&now[fresh..now_len]);
                bytes += (now_len - fresh) as u64;
                if eof {
                    return Ok(0);
                }
                fill(&mut r, &mut next[keep..keep + chunk])
            },
            || check_lines(&now[..cut], block, before, offset, wanted),
        );
        let (checked, lines_in, found) = checked;
        if too_long.is_none() {
            spans.extend(checked);
            heads.extend(found);
        }
        before += lines_in;
        offset += cut as u64;
        let n = read?;
        if eof {
            break;
        }
        std::mem::swap(&mut now, &mut next);
        now_len = keep + n;
        fresh = keep;
    }
    // As when the file is read whole: text that is not UTF-8 is named before any link.
    let verdict = match spans.iter().find_map(|s| s.bad_utf8.clone()) {
        Some(why) => Err(why),
        None => match chain(&spans) {
            Ok(n) => too_long.map_or(Ok(n), Err),
            Err(why) => Err(why),
        },
    };
    Ok(LogCheck {
        hash: hex::encode(sha.finalize()),
        verdict,
        heads,
        bytes,
    })
}

/// Checks whole lines (`text`, which starts at line `before + 1` and byte `offset` of the
/// file) in blocks on every core. Returns their spans, numbered in the file, how many lines
/// they hold, and the hashes of the `wanted` seqs among them.
#[allow(clippy::type_complexity)]
fn check_lines(
    text: &[u8],
    block: usize,
    before: usize,
    offset: u64,
    wanted: &rustc_hash::FxHashSet<i64>,
) -> (Vec<Span<'static>>, usize, Vec<(i64, String)>) {
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let end = match memchr::memchr(b'\n', &text[(start + block).min(text.len()) - 1..]) {
            Some(i) => (start + block).min(text.len()) + i,
            None => text.len(),
        };
        blocks.push(start..end);
        start = end;
    }
    let spans: Vec<Span> = blocks
        .par_iter()
        .map(|r| check_block(&text[r.clone()], 1, wanted))
        .collect();
    // Blocks were checked with their lines counted from 1: number them in the file. A block
    // with a problem is checked again, from its place, to name its line (it is the last
    // block `chain` reads), or where it stops being UTF-8 if it does. (A block without a
    // problem is UTF-8: its lines were checked on their way.)
    let mut before = before;
    let mut lines_in = 0;
    let mut found = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for (mut span, r) in spans.into_iter().zip(&blocks) {
        if span.problem.is_some() {
            let block = &text[r.clone()];
            span = match std::str::from_utf8(block) {
                Ok(_) => check_block(block, before + 1, wanted),
                Err(e) => Span {
                    bad_utf8: Some(format!(
                        "not UTF-8 at byte {}",
                        offset + (r.start + e.valid_up_to()) as u64
                    )),
                    ..Span::default()
                },
            };
        } else if let Some(first) = span.first.as_mut() {
            first.0 += before;
        }
        before += span.lines;
        lines_in += span.lines;
        found.append(&mut span.heads);
        out.push(span.owned());
    }
    (out, lines_in, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// What the fuzzer drives holds on text of the characters an audit log is made of:
        /// no panic, and the log read in pieces says what it says read whole.
        #[test]
        fn untrusted_text_is_read_alike_whole_and_in_pieces(
            text in proptest::collection::vec(proptest::sample::select(
                b"{}[]\":,\n\r \\seqhaprv_0123456789abcdef\xff".to_vec()), 0..400)
        ) {
            check_untrusted_text(&text);
        }

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

    /// The verdict on `text` read `chunk` bytes at a time and checked in blocks of `block`.
    fn read_in(text: &[u8], block: usize, chunk: usize) -> LogCheck {
        let c = check_audit_log(text, block, chunk, &Default::default()).expect("read");
        assert_eq!(c.hash, sha256_hex(text), "the manifest hash is the file's");
        assert_eq!(c.bytes, text.len() as u64);
        c
    }

    fn verdict(text: &str, block: usize) -> std::result::Result<usize, String> {
        let whole = read_in(text.as_bytes(), block, CHUNK).verdict;
        for chunk in [97, 333, 5000] {
            assert_eq!(
                read_in(text.as_bytes(), block, chunk).verdict,
                whole,
                "blocks of {block}, read {chunk} bytes at a time"
            );
        }
        whole
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
        for chunk in [333, 5000, CHUNK] {
            let bad = read_in(&not_utf8, 700, chunk).verdict;
            assert_eq!(bad, Err("not UTF-8 at byte 20000".to_string()));
        }
        // Named before a broken link, wherever either is, in blocks of any size.
        let mut both = cases[6].clone().into_bytes();
        let at = both.len() - 100;
        both[at] = 0xff;
        for block in [64, 700, 4096, both.len() + 1] {
            let bad = read_in(&both, block, 1000).verdict;
            assert_eq!(
                bad,
                Err(format!("not UTF-8 at byte {at}")),
                "blocks of {block}"
            );
        }
    }

    proptest::proptest! {
        /// A real log with one byte changed, anywhere, to anything: read alike whole and in
        /// pieces, without a panic.
        #[test]
        fn a_log_with_any_byte_changed_is_read_alike(at in 0usize..4000, to in 0u8..=255) {
            let mut bytes = log(1, 20).into_bytes();
            let at = at % bytes.len();
            bytes[at] = to;
            check_untrusted_text(&bytes);
        }
    }

    #[test]
    fn the_pass_over_the_log_keeps_the_hashes_the_checkpoints_name() {
        let text = log(1, 300);
        let hash_of = |seq: usize| {
            let line = text.lines().nth(seq - 1).expect("line");
            serde_json::from_str::<serde_json::Value>(line).expect("entry")["hash"]
                .as_str()
                .expect("hash")
                .to_string()
        };
        let wanted = [1, 150, 300, 301].into_iter().collect();
        for chunk in [97, 333, CHUNK] {
            let c = check_audit_log(text.as_bytes(), 700, chunk, &wanted).expect("read");
            let mut heads: Vec<_> = c.heads.into_iter().collect();
            heads.sort();
            assert_eq!(
                heads,
                vec![(1, hash_of(1)), (150, hash_of(150)), (300, hash_of(300))],
                "read {chunk} bytes at a time"
            );
        }
    }
}
