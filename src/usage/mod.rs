//! Usage: API calls from FHIR AuditEvents, kept as daily aggregates, and token events.
//!
//! An audit file is read in blocks; each block is split at line boundaries over the cores,
//! every line is parsed in full, and calls are counted into per-block maps that are merged
//! into one. Memory holds one block and the distinct aggregates, never the file: storage and
//! memory grow with distinct (client, day, context, type, interaction, outcome) combinations.

pub mod auditevent;
pub mod json;
mod merge;
pub mod synthetic;
pub mod tokens;

use std::collections::HashMap;

use compact_str::CompactString;
use rustc_hash::FxHashMap;
use std::io::Read;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;
use ts_rs::TS;

use crate::inventory::fingerprint::FingerprintKey;
use crate::scope::{Context, Interaction};
use crate::{Error, Result};
use auditevent::{AuditEvent, Caller, Settled, Skip};
pub use merge::Aggregates;
use merge::Rec;

/// A line longer than this is rejected without being read whole.
pub const MAX_LINE: usize = 16 << 20;
/// A file that is one JSON document (a Bundle, a single event) may be at most this large.
pub const MAX_DOCUMENT: u64 = 256 << 20;
/// Malformed lines listed in a report (all are counted).
pub const MAX_REPORTED: usize = 100;
const BLOCK: usize = 4 << 20;

/// What one aggregate row is keyed by. An empty client is the unknown client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub client_id: String,
    pub day: String,
    pub context: Context,
    pub resource_type: &'static str,
    pub interaction: Interaction,
    pub success: bool,
}

/// Calls of one key, with the first and last `recorded` seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agg {
    pub calls: u64,
    /// Of the calls, those whose context the scopes of their token settled, the event
    /// naming no patient or person as its requestor.
    pub by_token: u64,
    /// Of the calls, those whose context the kind of the calling identity settled, neither
    /// the event nor a token settling it.
    pub by_identity: u64,
    pub first: String,
    pub last: String,
}

/// A worker's key for an aggregate: the client as a number it gave it, the day as the number
/// its digits spell (`2026-11-05` is 20261105), the type as its place in the shipped list.
/// Hashing and comparing it touch no string, and it takes 12 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    client: u32,
    day: u32,
    /// 0 for no type, else 1 + the type's place in the shipped list (which is in byte order).
    resource_type: u8,
    context: Context,
    interaction: Interaction,
    success: bool,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 12);

impl Slot {
    fn rec(self, seen: Seen) -> Rec {
        Rec {
            client: self.client,
            rest: merge::rest(
                self.day,
                self.context,
                self.resource_type,
                self.interaction,
                self.success,
            ),
            calls: seen.calls,
            by_token: seen.by_token,
            by_identity: seen.by_identity,
            first: seen.first,
            last: seen.last,
        }
    }
}

/// Numbers for the distinct clients of a scan, in the order met.
#[derive(Default)]
struct Interner {
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    #[inline]
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
}

/// A malformed line or record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct BadLine {
    #[ts(type = "number")]
    pub line: u64,
    pub message: String,
}

/// The result of reading one audit file.
#[derive(Debug, Default)]
pub struct Scan {
    /// In primary-key order (client, day, context, type, interaction, outcome), each key once,
    /// read as they are written.
    pub aggregates: Aggregates,
    pub calls: u64,
    /// Events that are not REST calls (logins, logouts, ...).
    pub not_rest: u64,
    pub malformed: u64,
    /// The first [`MAX_REPORTED`] malformed lines.
    pub bad: Vec<BadLine>,
    /// `blake3:<hex>` of the file's bytes: a re-import of the same content is detected.
    pub content_hash: String,
    pub bytes: u64,
}

/// What an import knows beside the log: the tokens Steward holds the issuance of, and the
/// kinds of the identities in the import's environment.
pub struct Tokens<'k> {
    pub key: &'k FingerprintKey,
    /// token fingerprint -> client_id, from imported token events.
    pub clients: HashMap<String, String>,
    /// token fingerprint -> the one context the scopes it was issued with grant (where they
    /// grant resources in one context only).
    pub contexts: HashMap<String, Context>,
    /// client_id -> the context the kind of its identity makes possible (a patient app's
    /// calls are in patient context, a backend service's in system context).
    pub kinds: HashMap<String, Context>,
}

impl<'k> Tokens<'k> {
    /// Token ids resolved to clients, and nothing else known.
    pub fn new(key: &'k FingerprintKey, clients: HashMap<String, String>) -> Self {
        Tokens {
            key,
            clients,
            contexts: HashMap::new(),
            kinds: HashMap::new(),
        }
    }
}

/// What settled a call's context: the event's requestor (or, where it names none that
/// settles it, its plain reading), the scopes the call's token was issued with, or the kind of
/// the calling identity.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    Requestor,
    Token,
    Identity,
}

/// Progress and cancellation for a long import.
pub struct Control<'c> {
    pub cancel: &'c AtomicBool,
    pub progress: &'c (dyn Fn(u64, u64) + Sync),
}

/// What the workers of one scan share: the clients met, numbered in the order met, and when a
/// worker writes its aggregates out.
struct Shared {
    clients: Mutex<Interner>,
    spill_at: usize,
}

impl Shared {
    fn new(spill_at: usize) -> Self {
        Shared {
            clients: Mutex::new(Interner::default()),
            spill_at: spill_at.max(1),
        }
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, Interner> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One worker's counts, kept across blocks: only a new client, day or aggregate allocates.
#[derive(Default)]
struct Part {
    /// Each client's number and the context the kind of its identity makes possible, as this
    /// worker met them (the numbers are the scan's, from [`Shared`]).
    clients: FxHashMap<Box<str>, (u32, Option<Context>)>,
    /// The place of each type seen, by the address of its shipped name.
    types: FxHashMap<usize, u8>,
    map: hashbrown::HashMap<Slot, Seen, rustc_hash::FxBuildHasher>,
    /// Sorted runs of aggregates written out when the map was full, and how many they hold.
    runs: Vec<std::fs::File>,
    spilled: u64,
    /// A run that could not be written: the scan fails.
    spill_error: Option<std::io::Error>,
    calls: u64,
    not_rest: u64,
    bad: Vec<BadLine>,
    malformed: u64,
}

/// A worker's calls of one slot. The first and last `recorded` are kept inline (an instant is
/// seldom longer than 24 bytes), so counting a call reads nothing outside the map's entry:
/// with strings on the heap, comparing them cost two cache misses a call.
struct Seen {
    calls: u64,
    by_token: u64,
    by_identity: u64,
    first: CompactString,
    last: CompactString,
}

/// Moves `first` back or `last` forward to `recorded`.
fn widen<T: AsRef<str> + for<'s> From<&'s str>>(first: &mut T, last: &mut T, recorded: &str) {
    if recorded < first.as_ref() {
        *first = T::from(recorded);
    } else if recorded > last.as_ref() {
        *last = T::from(recorded);
    }
}

impl Part {
    /// Counts one event; `Err` says why it is malformed (the caller knows the line).
    fn count(
        &mut self,
        event: AuditEvent<'_>,
        tokens: &Tokens<'_>,
        shared: &Shared,
    ) -> Result<(), String> {
        match event.call() {
            Ok(c) => {
                let mut fingerprint = None;
                let (client, kind) = match &c.caller {
                    Caller::Client(id) => self.client(id, tokens, shared),
                    Caller::Token(t) => {
                        let f = tokens.key.secret(t);
                        let name = tokens.clients.get(&f).map_or("", String::as_str);
                        fingerprint = Some(f);
                        self.client(name, tokens, shared)
                    }
                    Caller::Unknown => self.client("", tokens, shared),
                };
                let (context, rule) = match c.context {
                    Settled::Requestor(context) => (context, Rule::Requestor),
                    unsettled => {
                        let issued = match c.token.as_deref() {
                            Some(t) if !tokens.contexts.is_empty() => tokens
                                .contexts
                                .get(&fingerprint.unwrap_or_else(|| tokens.key.secret(t)))
                                .copied(),
                            _ => None,
                        };
                        match issued {
                            Some(context) => (context, Rule::Token),
                            None => match kind {
                                Some(context) => (context, Rule::Identity),
                                None => (unsettled.reading(), Rule::Requestor),
                            },
                        }
                    }
                };
                let slot = Slot {
                    client,
                    day: day_number(&c.day),
                    resource_type: *self
                        .types
                        .entry(c.resource_type.as_ptr() as usize)
                        .or_insert_with(|| type_place(c.resource_type)),
                    context,
                    interaction: c.interaction,
                    success: c.success,
                };
                self.calls += 1;
                let (by_token, by_identity) = (
                    u64::from(rule == Rule::Token),
                    u64::from(rule == Rule::Identity),
                );
                match self.map.get_mut(&slot) {
                    Some(a) => {
                        a.calls += 1;
                        a.by_token += by_token;
                        a.by_identity += by_identity;
                        widen(&mut a.first, &mut a.last, &c.recorded);
                    }
                    None => {
                        let recorded = CompactString::from(c.recorded.as_ref());
                        let seen = Seen {
                            calls: 1,
                            by_token,
                            by_identity,
                            first: recorded.clone(),
                            last: recorded,
                        };
                        self.map.insert(slot, seen);
                        if self.map.len() >= shared.spill_at {
                            self.spill(shared);
                        }
                    }
                }
            }
            Err(Skip::NotRest) => self.not_rest += 1,
            Err(Skip::Bad(m)) => return Err(m),
        }
        Ok(())
    }

    /// The scan's number for the client `name` and the context the kind of its identity makes
    /// possible, looked up once a client.
    #[inline]
    fn client(
        &mut self,
        name: &str,
        tokens: &Tokens<'_>,
        shared: &Shared,
    ) -> (u32, Option<Context>) {
        if let Some(&c) = self.clients.get(name) {
            return c;
        }
        let c = (shared.clients().id(name), tokens.kinds.get(name).copied());
        self.clients.insert(name.into(), c);
        c
    }

    /// The aggregates of the map, in key order (`rank` ranks the clients met so far).
    fn sorted(
        map: &mut hashbrown::HashMap<Slot, Seen, rustc_hash::FxBuildHasher>,
        rank: &[u32],
    ) -> Vec<Rec> {
        let mut recs: Vec<Rec> = map.drain().map(|(slot, seen)| slot.rec(seen)).collect();
        merge::sort(&mut recs, rank);
        recs
    }

    /// Writes the map out as a sorted run and empties it (keeping its buckets).
    fn spill(&mut self, shared: &Shared) {
        let rank = merge::ranks(&shared.clients().names);
        let recs = Part::sorted(&mut self.map, &rank);
        match merge::spill(&recs) {
            Ok(f) => {
                self.runs.push(f);
                self.spilled += recs.len() as u64;
            }
            Err(e) => {
                self.spill_error.get_or_insert(e);
            }
        }
    }

    /// Keeps the [`MAX_REPORTED`] lowest line numbers, whatever order lines arrive in.
    fn fail(&mut self, line: u64, message: String) {
        self.malformed += 1;
        if self.bad.len() < MAX_REPORTED {
            self.bad.push(BadLine { line, message });
        } else if let Some(worst) = self.bad.iter_mut().max_by_key(|b| b.line) {
            if line < worst.line {
                *worst = BadLine { line, message };
            }
        }
    }
}

/// The number a day's digits spell: `2026-11-05` is 20261105. `day` has the shape
/// `dddd-dd-dd` (the caller checked the instant it comes from).
fn day_number(day: &str) -> u32 {
    day.bytes()
        .filter(u8::is_ascii_digit)
        .fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

/// The day a [`day_number`] stands for.
fn day_text(n: u32) -> String {
    let digit = |k: u32| char::from(b'0' + (n / k % 10) as u8);
    let mut s = String::with_capacity(10);
    for k in [
        10_000_000, 1_000_000, 100_000, 10_000, 0, 1_000, 100, 0, 10, 1,
    ] {
        s.push(if k == 0 { '-' } else { digit(k) });
    }
    s
}

/// A type's place in a [`Slot`]: "" (no type) is 0, a type of the shipped list 1 + its place
/// in it, so places are in the names' byte order.
fn type_place(name: &str) -> u8 {
    const { assert!(crate::scope::fhir::R4_RESOURCE_TYPES.len() < u8::MAX as usize) };
    crate::scope::fhir::R4_RESOURCE_TYPES
        .binary_search(&name)
        .map_or(0, |r| r as u8 + 1)
}

/// The type name at a [`type_place`].
fn type_name(place: u8) -> &'static str {
    match place {
        0 => "",
        p => crate::scope::fhir::R4_RESOURCE_TYPES[usize::from(p) - 1],
    }
}

/// Joins the workers' parts into `scan`: each part's map is sorted into a run beside the runs
/// it wrote out, and the aggregates are merged from them as they are read. The clients'
/// numbers are turned into ranks among all names, so sorting and merging compare numbers
/// rather than strings; rank order is the names' byte order, as SQLite's (and the order of day
/// numbers is that of the days' spelling).
fn into_scan(parts: Vec<Part>, shared: Shared, scan: &mut Scan) -> Result<()> {
    let names = shared
        .clients
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .names;
    let rank = merge::ranks(&names);
    let mut runs = Vec::new();
    let mut held = 0u64;
    for mut p in parts {
        if let Some(e) = p.spill_error.take() {
            return Err(Error::io("a temporary file of the import", e));
        }
        let recs = Part::sorted(&mut p.map, &rank);
        drop(p.map);
        held += p.spilled + recs.len() as u64;
        runs.extend(p.runs.into_iter().map(merge::Run::file));
        runs.push(merge::Run::Memory(recs.into_iter()));
        scan.calls += p.calls;
        scan.not_rest += p.not_rest;
        scan.malformed += p.malformed;
        scan.bad.extend(p.bad);
    }
    scan.bad.sort_by_key(|b| b.line);
    scan.bad.truncate(MAX_REPORTED);
    scan.aggregates = Aggregates::new(names, rank, runs, held)
        .map_err(|e| Error::io("a temporary file of the import", e))?;
    Ok(())
}

/// Parses one line and hands its event to `then`; `Err` carries what is wrong with the line.
/// `text` is the line when the piece it belongs to is valid UTF-8 (checked once for the whole
/// piece). `None` for a blank line.
fn parse_line<'a, T>(
    bytes: &'a [u8],
    text: Option<&'a str>,
    then: impl FnOnce(AuditEvent<'a>) -> T,
) -> Option<Result<T, String>> {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let text = match text {
        Some(t) => t.strip_suffix('\r').unwrap_or(t),
        None => match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => return Some(Err(format!("not UTF-8 at column {}", e.valid_up_to() + 1))),
        },
    };
    Some(AuditEvent::parse_then(text, then).map_err(|e| format!("not an AuditEvent: {e}")))
}

/// Splits `block` (whole lines) into about `n` pieces at line starts, each with its byte
/// offset in the block.
fn pieces(block: &[u8], n: usize) -> Vec<(usize, &[u8])> {
    let mut out = Vec::with_capacity(n);
    let step = block.len().div_ceil(n.max(1)).max(1);
    let mut start = 0usize;
    while start < block.len() {
        let target = (start + step).min(block.len());
        let end = match memchr::memchr(b'\n', &block[target.saturating_sub(1)..]) {
            Some(i) => target.saturating_sub(1) + i + 1,
            None => block.len(),
        };
        out.push((start, &block[start..end]));
        start = end;
    }
    out
}

/// Counts the lines of `block` on every core, each worker into its own part, and hashes
/// the subtrees of the file (`tree`, with `at`, the block's place in the file) that end in
/// each piece once the piece is counted, while its bytes are still in the core's cache;
/// returns the number of line ends in the block.
fn scan_block(
    block: &[u8],
    first_line: u64,
    tokens: &Tokens<'_>,
    parts: &[Mutex<Part>],
    shared: &Shared,
    tree: Option<(&Subtrees<'_>, usize)>,
) -> u64 {
    // Small pieces (128 KiB at 2 cores): the block's last piece keeps one core busy
    // while the other waits for the next block, so the shorter it is the better.
    let n = rayon::current_num_threads() * 32;
    pieces(block, n)
        .into_par_iter()
        .map(|(offset, piece)| {
            let slot = rayon::current_thread_index().unwrap_or(0) % parts.len();
            // Each worker has its own slot: the lock is never contended.
            let mut part = parts[slot].lock().unwrap_or_else(|e| e.into_inner());
            let text = simdutf8::basic::from_utf8(piece).ok();
            // Line numbers are only needed for a bad line: count up to the piece then.
            let base = || first_line + memchr::memchr_iter(b'\n', &block[..offset]).count() as u64;
            let mut start = 0;
            let mut nth = 0u64;
            let one = |part: &mut Part, start: usize, end: usize, nth: u64| {
                let line_text = text.map(|t| &t[start..end]);
                if let Some(Ok(Err(m)) | Err(m)) = parse_line(&piece[start..end], line_text, |e| {
                    part.count(e, tokens, shared)
                }) {
                    part.fail(base() + nth, m);
                }
            };
            for end in memchr::memchr_iter(b'\n', piece) {
                one(&mut part, start, end, nth);
                start = end + 1;
                nth += 1;
            }
            if start < piece.len() {
                one(&mut part, start, piece.len(), nth);
            }
            drop(part);
            if let Some((tree, at)) = tree {
                tree.hash_ending_in(at + offset..at + offset + piece.len());
            }
            nth
        })
        .sum()
}

/// Bytes a subtree of [`Subtrees`] covers: 64 BLAKE3 chunks, as many as AVX-512 hashes four
/// times over at once.
const SUBTREE: usize = 64 << 10;

/// The BLAKE3 hash of bytes in memory, hashed a subtree of [`SUBTREE`] bytes at a time (each
/// by whichever core just read its bytes, in any order), and joined in the shape of BLAKE3's
/// tree at the end (section 2.1 of its specification): the same hash as of the bytes in one
/// pass, without a pass of its own over them.
struct Subtrees<'a> {
    bytes: &'a [u8],
    unit: usize,
    /// The chaining value of each subtree, once hashed; none when the bytes fit one subtree
    /// (hashed whole at the end).
    cvs: Vec<std::sync::OnceLock<blake3::hazmat::ChainingValue>>,
}

impl<'a> Subtrees<'a> {
    /// `unit` is a power of two, at least BLAKE3's chunk.
    fn new(bytes: &'a [u8], unit: usize) -> Self {
        debug_assert!(unit.is_power_of_two() && unit >= blake3::CHUNK_LEN);
        let n = if bytes.len() > unit {
            bytes.len().div_ceil(unit)
        } else {
            0
        };
        Subtrees {
            bytes,
            unit,
            cvs: (0..n).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    /// Hashes each subtree whose last byte lies in `range`.
    fn hash_ending_in(&self, range: Range<usize>) {
        use blake3::hazmat::HasherExt;
        if self.cvs.is_empty() || range.is_empty() {
            return;
        }
        for u in range.start / self.unit..=(range.end - 1) / self.unit {
            let (start, end) = (u * self.unit, ((u + 1) * self.unit).min(self.bytes.len()));
            if range.contains(&(end - 1)) {
                let cv = blake3::Hasher::new()
                    .set_input_offset(start as u64)
                    .update(&self.bytes[start..end])
                    .finalize_non_root();
                let _ = self.cvs[u].set(cv);
            }
        }
    }

    /// The subtree over `lo..hi` (`lo` a multiple of the unit), if all of it was hashed.
    fn subtree(&self, lo: usize, hi: usize) -> Option<blake3::hazmat::ChainingValue> {
        use blake3::hazmat::{left_subtree_len, merge_subtrees_non_root, Mode};
        if hi - lo <= self.unit {
            return self.cvs[lo / self.unit].get().copied();
        }
        let left = usize::try_from(left_subtree_len((hi - lo) as u64)).ok()?;
        Some(merge_subtrees_non_root(
            &self.subtree(lo, lo + left)?,
            &self.subtree(lo + left, hi)?,
            Mode::Hash,
        ))
    }

    /// The hash of all the bytes; `None` if a subtree was not hashed.
    fn finish(&self) -> Option<blake3::Hash> {
        use blake3::hazmat::{left_subtree_len, merge_subtrees_root, Mode};
        if self.cvs.is_empty() {
            return Some(blake3::hash(self.bytes));
        }
        let len = self.bytes.len();
        let left = usize::try_from(left_subtree_len(len as u64)).ok()?;
        Some(merge_subtrees_root(
            &self.subtree(0, left)?,
            &self.subtree(left, len)?,
            Mode::Hash,
        ))
    }
}

/// What the reader thread hands over, in file order: whole lines (read into a buffer, or a
/// range of bytes already in memory), or news that the next line was too long to read (and
/// was skipped).
enum Chunk {
    Lines(Vec<u8>),
    Range(Range<usize>),
    Oversize,
}

/// Where an NDJSON log is read from.
pub enum Input<'a> {
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// A file or a pipe: read in blocks.
    Stream(Box<dyn Read + Send + 'a>),
}

/// Reads `r` in blocks of whole lines, hashing every byte once in file order; skips a line
/// longer than [`MAX_LINE`] without holding it. Returns the hash and the bytes read. Blocks
/// the consumer is done with come back through `spare` and are filled again: three buffers
/// go round, whatever the size of the log.
fn read_lines(
    mut r: impl Read,
    tx: std::sync::mpsc::SyncSender<Chunk>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<(blake3::Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + (64 << 10));
    let mut total = 0u64;
    let mut skipping = false;
    loop {
        let start = buf.len();
        let n = (&mut r).take(BLOCK as u64).read_to_end(&mut buf)?;
        hasher.update(&buf[start..]);
        total += n as u64;
        let eof = n == 0;
        if skipping {
            match memchr::memchr(b'\n', &buf) {
                Some(i) => {
                    buf.drain(..=i);
                    skipping = false;
                }
                None if eof => break,
                None => {
                    buf.clear();
                    continue;
                }
            }
        }
        let cut = match memchr::memrchr(b'\n', &buf) {
            _ if eof => buf.len(),
            Some(i) => i + 1,
            None if buf.len() > MAX_LINE => {
                if tx.send(Chunk::Oversize).is_err() {
                    break;
                }
                buf.clear();
                skipping = true;
                continue;
            }
            None => continue,
        };
        if cut > 0 {
            let mut next = spare.try_recv().unwrap_or_default();
            next.clear();
            next.extend_from_slice(&buf[cut..]);
            buf.truncate(cut);
            let block = std::mem::replace(&mut buf, next);
            if tx.send(Chunk::Lines(block)).is_err() {
                break; // the consumer stopped (cancel or error)
            }
            buf.reserve(BLOCK);
        }
        if eof {
            break;
        }
    }
    Ok((hasher.finalize(), total))
}

/// Passes the line that starts at `start`, hashing it a block at a time; returns where the
/// next line starts.
fn skip_line(tree: &Subtrees<'_>, start: usize) -> usize {
    let bytes = tree.bytes;
    let mut at = start;
    while at < bytes.len() {
        let piece = &bytes[at..bytes.len().min(at + BLOCK)];
        let found = memchr::memchr(b'\n', piece);
        let len = found.map_or(piece.len(), |i| i + 1);
        tree.hash_ending_in(at..at + len);
        at += len;
        if found.is_some() {
            break;
        }
    }
    at
}

/// Splits the bytes of `tree` into blocks of whole lines, as [`read_lines`] does a stream
/// (the workers hash what they count). A line longer than [`MAX_LINE`] is skipped (hashed
/// here).
fn split_lines(tree: &Subtrees<'_>, tx: std::sync::mpsc::SyncSender<Chunk>) {
    let bytes = tree.bytes;
    let mut start = 0;
    while start < bytes.len() {
        let window = &bytes[start..bytes.len().min(start + BLOCK)];
        let end = match memchr::memrchr(b'\n', window) {
            _ if start + window.len() == bytes.len() => bytes.len(),
            Some(i) => start + i + 1,
            None => {
                // One line fills the window: it ends within MAX_LINE (or at the end of the
                // input), or it is skipped.
                let limit = bytes.len().min(start + MAX_LINE + 1);
                match memchr::memchr(b'\n', &bytes[start + window.len()..limit]) {
                    Some(i) => start + window.len() + i + 1,
                    None if bytes.len() - start <= MAX_LINE => bytes.len(),
                    None => {
                        start = skip_line(tree, start);
                        if tx.send(Chunk::Oversize).is_err() {
                            break;
                        }
                        continue;
                    }
                }
            }
        };
        if tx.send(Chunk::Range(start..end)).is_err() {
            break; // the consumer stopped (cancel or error)
        }
        start = end;
    }
}

/// Reads an NDJSON log of AuditEvents (one resource a line). `total` is the size for
/// progress (0 when unknown). One thread reads a stream and hashes it (or splits bytes in
/// memory) while the others parse (and hash what they parsed of bytes in memory); a cancel
/// returns [`Error::Cancelled`].
pub fn scan_ndjson(
    input: Input<'_>,
    total: u64,
    tokens: &Tokens<'_>,
    control: &Control<'_>,
) -> Result<Scan> {
    scan_ndjson_spilling_at(input, total, tokens, control, merge::SPILL_AT)
}

/// [`scan_ndjson`], each worker writing its aggregates out once it holds `spill_at`.
fn scan_ndjson_spilling_at(
    input: Input<'_>,
    total: u64,
    tokens: &Tokens<'_>,
    control: &Control<'_>,
    spill_at: usize,
) -> Result<Scan> {
    let mut scan = Scan::default();
    let shared = Shared::new(spill_at);
    let parts: Vec<Mutex<Part>> = (0..rayon::current_num_threads().max(1))
        .map(|_| Mutex::new(Part::default()))
        .collect();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(1);
    let (spare_tx, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    let (bytes, stream): (&[u8], _) = match input {
        Input::Bytes(b) => (b, None),
        Input::Stream(r) => (&[], Some(r)),
    };
    // Bytes in memory are hashed subtree by subtree by the cores that count them; a stream,
    // by the reader, in order.
    let tree = Subtrees::new(bytes, SUBTREE);
    let tree = &tree;
    let (streamed, size) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || match stream {
            Some(r) => read_lines(r, tx, spare).map(|(hash, size)| (Some(hash), size)),
            None => {
                split_lines(tree, tx);
                Ok((None, bytes.len() as u64))
            }
        });
        let (mut done, mut line) = (0u64, 1u64);
        for chunk in rx.iter() {
            if control.cancel.load(Ordering::Relaxed) {
                drop(rx);
                let _ = reader.join();
                return Err(Error::Cancelled);
            }
            let block = match &chunk {
                Chunk::Lines(b) => b.as_slice(),
                Chunk::Range(r) => &bytes[r.clone()],
                Chunk::Oversize => {
                    scan.malformed += 1;
                    scan.bad.push(BadLine {
                        line,
                        message: format!("longer than {} MiB; skipped", MAX_LINE >> 20),
                    });
                    line += 1;
                    continue;
                }
            };
            let at = match &chunk {
                Chunk::Range(r) => Some((tree, r.start)),
                _ => None,
            };
            line += scan_block(block, line, tokens, &parts, &shared, at);
            done += block.len() as u64;
            (control.progress)(done, total);
            if let Chunk::Lines(b) = chunk {
                let _ = spare_tx.send(b); // the reader may have stopped
            }
        }
        reader
            .join()
            .map_err(|_| Error::Internal("the reader thread failed".into()))?
            .map_err(|e| Error::io("audit file", e))
    })?;
    let parts = parts
        .into_iter()
        .map(|p| p.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    into_scan(parts, shared, &mut scan)?;
    scan.bytes = size;
    let hash = match streamed {
        Some(hash) => hash,
        None => tree
            .finish()
            .ok_or_else(|| Error::Internal("a part of the file was not hashed".into()))?,
    };
    scan.content_hash = format!("blake3:{}", hash.to_hex());
    Ok(scan)
}

/// The outline of a one-document file: serde_json checks the whole of it (and says on which
/// line it breaks) and hands over each Bundle entry's resource as text.
#[derive(serde::Deserialize)]
struct Document<'a> {
    #[serde(default, rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(default, borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(serde::Deserialize)]
struct Entry<'a> {
    #[serde(default, borrow)]
    resource: Option<&'a serde_json::value::RawValue>,
}

/// Reads a file that is one JSON document: a Bundle of AuditEvents or a single AuditEvent.
/// A malformed Bundle entry is reported by its position, as a bad line is.
pub fn scan_document(bytes: &[u8], tokens: &Tokens<'_>) -> Result<Scan> {
    let mut scan = Scan {
        content_hash: format!("blake3:{}", blake3::hash(bytes).to_hex()),
        bytes: bytes.len() as u64,
        ..Scan::default()
    };
    let bad = |location: String, field: &str, message: String| Error::Import {
        file: String::new(),
        location,
        field: field.into(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        bad(
            format!("byte {}", e.valid_up_to()),
            "encoding",
            "not UTF-8".into(),
        )
    })?;
    let doc: Document = serde_json::from_str(text)
        .map_err(|e| bad(format!("line {}", e.line()), "json", e.to_string()))?;
    let mut part = Part::default();
    let shared = Shared::new(merge::SPILL_AT);
    match doc.resource_type.as_deref() {
        Some("Bundle") => {
            for (i, entry) in doc.entry.into_iter().enumerate() {
                let n = i as u64 + 1;
                let Some(raw) = entry.resource else {
                    part.fail(n, "entry without a resource".into());
                    continue;
                };
                match AuditEvent::parse(raw.get()) {
                    Ok(e) => {
                        if let Err(m) = part.count(e, tokens, &shared) {
                            part.fail(n, m);
                        }
                    }
                    Err(m) => part.fail(n, format!("entry.resource: not an AuditEvent: {m}")),
                }
            }
        }
        Some("AuditEvent") => {
            let e = AuditEvent::parse(text).map_err(|m| bad("line 1".into(), "AuditEvent", m))?;
            if let Err(m) = part.count(e, tokens, &shared) {
                part.fail(1, m);
            }
        }
        other => {
            return Err(bad(
                "line 1".into(),
                "resourceType",
                format!(
                    "{} is neither a Bundle nor an AuditEvent",
                    other.map_or("a document without resourceType".into(), |t| format!(
                        "'{t}'"
                    ))
                ),
            ))
        }
    }
    into_scan(vec![part], shared, &mut scan)?;
    Ok(scan)
}

/// Whether the bytes start an NDJSON stream (the first line is a whole JSON object) rather
/// than one pretty-printed document.
pub fn looks_like_ndjson(head: &[u8]) -> bool {
    let first = head.split(|b| *b == b'\n').next().unwrap_or(head);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    serde_json::from_slice::<serde::de::IgnoredAny>(first).is_ok()
        && head
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .take(1)
            .eq(b"{".iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FingerprintKey {
        FingerprintKey::from_bytes([7; 32])
    }

    /// How a test's text reaches the reader.
    #[derive(Debug, Clone, Copy)]
    enum Via {
        Bytes,
        Stream,
    }

    /// Scans `text` with no known tokens, cancelled from the start when `cancelled`.
    fn scan_via(text: &[u8], via: Via, cancelled: bool) -> Result<Scan> {
        scan_spilling_at(text, via, cancelled, merge::SPILL_AT)
    }

    /// [`scan_via`], each worker writing its aggregates out once it holds `spill_at`.
    fn scan_spilling_at(text: &[u8], via: Via, cancelled: bool, spill_at: usize) -> Result<Scan> {
        let k = key();
        let tokens = Tokens::new(&k, HashMap::new());
        let cancel = AtomicBool::new(cancelled);
        let control = Control {
            cancel: &cancel,
            progress: &|_, _| {},
        };
        let input = match via {
            Via::Bytes => Input::Bytes(text),
            Via::Stream => Input::Stream(Box::new(text)),
        };
        scan_ndjson_spilling_at(input, 0, &tokens, &control, spill_at)
    }

    fn scan(text: &[u8], cancelled: bool) -> Result<Scan> {
        scan_via(text, Via::Bytes, cancelled)
    }

    /// Scans `text` read from memory and from a stream: both must agree to the byte.
    fn run(text: &str) -> (Scan, Vec<(Key, Agg)>) {
        let [bytes, stream] = [Via::Bytes, Via::Stream].map(|via| {
            let mut s = scan_via(text.as_bytes(), via, false).expect("scan");
            let all = std::mem::take(&mut s.aggregates).collect().expect("merged");
            (s, all)
        });
        let ((bytes, all), (other, from_stream)) = (bytes, stream);
        assert_eq!(from_stream, all);
        assert_eq!(other.bad, bytes.bad);
        assert_eq!(
            (other.calls, other.not_rest, other.malformed, other.bytes),
            (bytes.calls, bytes.not_rest, bytes.malformed, bytes.bytes),
        );
        assert_eq!(other.content_hash, bytes.content_hash);
        (bytes, all)
    }

    fn event(client: &str, day: &str, code: &str, outcome: &str) -> String {
        format!(
            r#"{{"resourceType":"AuditEvent","type":{{"code":"rest"}},"subtype":[{{"system":"http://hl7.org/fhir/restful-interaction","code":"{code}"}}],"recorded":"{day}T10:00:00Z","outcome":"{outcome}","agent":[{{"type":{{"coding":[{{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110150"}}]}},"who":{{"identifier":{{"value":"{client}"}}}}}}],"entity":[{{"what":{{"reference":"Observation/1"}}}}]}}"#
        )
    }

    #[test]
    fn lines_are_counted_per_key_and_bad_lines_named() {
        let text = [
            event("a", "2026-11-01", "read", "0"),
            event("a", "2026-11-01", "read", "0"),
            "{not json".to_string(),
            event("a", "2026-11-01", "read", "8"),
            String::new(),
            event("b", "2026-11-02", "search-type", "0"),
        ]
        .join("\n");
        let (s, aggregates) = run(&text);
        assert_eq!(
            s.content_hash,
            format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex())
        );
        assert_eq!(s.calls, 4);
        assert_eq!(s.malformed, 1);
        assert_eq!(s.bad[0].line, 3);
        assert_eq!(aggregates.len(), 3);
        let read_ok = aggregates
            .iter()
            .find(|(k, _)| k.client_id == "a" && k.success)
            .expect("a's reads");
        assert_eq!(read_ok.1.calls, 2);
    }

    #[test]
    fn a_day_is_the_number_its_digits_spell_and_back() {
        for day in ["2026-11-05", "0001-01-01", "9999-12-31", "2024-02-29"] {
            assert_eq!(day_text(day_number(day)), day);
        }
        assert!(day_number("2026-11-05") < day_number("2026-12-01"));
    }

    #[test]
    fn pieces_start_at_lines_and_cover_everything() {
        let block = b"l1\nl2\nl3\nl4\nl5\n";
        for n in 1..6 {
            let ps = pieces(block, n);
            let joined: Vec<u8> = ps.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            assert_eq!(joined, block.to_vec());
            for (offset, p) in ps {
                assert!(block[offset..].starts_with(p));
                let first = p.split(|b| *b == b'\n').next().expect("a line");
                let line = block[..offset].iter().filter(|b| **b == b'\n').count() + 1;
                assert_eq!(first, format!("l{line}").as_bytes());
            }
        }
    }

    proptest::proptest! {
        /// Subtrees hashed in any order, over any cut of the bytes into ranges, join into the
        /// hash of the bytes in one pass; one missing, and there is no hash.
        #[test]
        fn subtrees_hashed_in_any_order_join_into_the_hash_of_the_whole(
            len in 0usize..40_000,
            unit_log in 10u32..14,
            cuts in proptest::collection::vec(0usize..40_000, 0..12),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let bytes: Vec<u8> = (0..len).map(|i| (i as u64).wrapping_mul(seed | 1).to_le_bytes()[3]).collect();
            let tree = Subtrees::new(&bytes, 1 << unit_log);
            let mut at: Vec<usize> = cuts.into_iter().map(|c| c % (len + 1)).collect();
            at.extend([0, len]);
            at.sort_unstable();
            at.dedup();
            let mut ranges: Vec<Range<usize>> = at.windows(2).map(|w| w[0]..w[1]).collect();
            // Any order: the last range first, then the rest.
            ranges.rotate_right(1);
            let (last, rest) = ranges.split_first().map_or((None, &[][..]), |(l, r)| (Some(l), r));
            for r in rest {
                tree.hash_ending_in(r.clone());
            }
            let unit = 1usize << unit_log;
            let ends_a_subtree = |r: &Range<usize>| {
                (0..len.div_ceil(unit)).any(|u| r.contains(&(((u + 1) * unit).min(len) - 1)))
            };
            if len > unit && last.is_some_and(ends_a_subtree) {
                proptest::prop_assert_eq!(tree.finish(), None);
            }
            if let Some(l) = last {
                tree.hash_ending_in(l.clone());
            }
            proptest::prop_assert_eq!(tree.finish(), Some(blake3::hash(&bytes)));
        }
    }

    #[test]
    fn a_log_of_many_subtrees_hashes_as_a_whole() {
        let text: Vec<String> = (0..2_000)
            .map(|i| event(&format!("c{}", i % 7), "2026-11-01", "read", "0"))
            .collect();
        let text = text.join("\n");
        assert!(text.len() > 4 * SUBTREE);
        let (s, _) = run(&text);
        assert_eq!(s.calls, 2_000);
        assert_eq!(
            s.content_hash,
            format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex())
        );
    }

    #[test]
    fn an_oversized_line_is_skipped_without_stopping_the_rest() {
        let mut text = event("a", "2026-11-01", "read", "0");
        text.push('\n');
        text.push_str(&"x".repeat(MAX_LINE + BLOCK + 10));
        text.push('\n');
        text.push_str(&event("b", "2026-11-01", "read", "0"));
        let (s, _) = run(&text);
        assert_eq!(s.calls, 2);
        assert_eq!(s.malformed, 1);
        assert_eq!(s.bad[0].line, 2);
        assert_eq!(
            s.content_hash,
            format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex()),
            "every byte is hashed once, skipped ones too"
        );
        assert!(s.bad[0].message.contains("MiB"));
    }

    #[test]
    fn a_line_longer_than_a_block_is_read_whole() {
        let long = event("a", "2026-11-01", "read", "0").replacen(
            r#""resourceType""#,
            &format!(r#""note":"{}","resourceType""#, "x".repeat(BLOCK + 100)),
            1,
        );
        let text = [
            event("b", "2026-11-01", "read", "0"),
            long,
            event("c", "2026-11-01", "read", "0"),
        ]
        .join("\n");
        let (s, _) = run(&text);
        assert_eq!((s.calls, s.malformed), (3, 0));
    }

    #[test]
    fn a_line_may_be_as_long_as_the_limit_and_no_longer() {
        for (len, oversize) in [(MAX_LINE, false), (MAX_LINE + 1, true)] {
            for end in ["\n", ""] {
                let text = format!(
                    "{}\n{}{end}",
                    event("a", "2026-11-01", "read", "0"),
                    "x".repeat(len)
                );
                let s = scan(text.as_bytes(), false).expect("scan");
                assert_eq!((s.calls, s.malformed), (1, 1), "{len} {end:?}");
                assert_eq!(s.bad[0].line, 2);
                assert_eq!(
                    s.bad[0].message.contains("MiB"),
                    oversize,
                    "{len} {end:?}: {}",
                    s.bad[0].message
                );
                assert_eq!(s.bytes, text.len() as u64);
                assert_eq!(
                    s.content_hash,
                    format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex())
                );
            }
        }
    }

    /// Scans `text` with each worker writing its aggregates out once it holds `spill_at`.
    fn merged(text: &[u8], spill_at: usize) -> (Vec<(Key, Agg)>, u64) {
        let s = scan_spilling_at(text, Via::Bytes, false, spill_at).expect("scan");
        let held = s.aggregates.upper_bound();
        (s.aggregates.collect().expect("merged"), held)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// However often the workers write their aggregates out, the merge gives the same
        /// aggregates, in key order, each key once, with the calls and the first and last
        /// instants of all the runs they were split over.
        #[test]
        fn aggregates_written_out_merge_into_the_same(
            calls in proptest::collection::vec((0u8..6, 0u8..4, 0u8..3, proptest::bool::ANY, 0u8..60), 1..400),
            spill_at in 1usize..40,
        ) {
            let clients = ["", "a", "b", "zz", "M", "\u{e9}t\u{e9}"];
            let codes = ["read", "search-type", "create"];
            let text: String = calls
                .iter()
                .map(|&(c, d, code, ok, second)| {
                    event(clients[usize::from(c)], &format!("2026-11-0{}", d + 1), codes[usize::from(code)], if ok { "0" } else { "8" })
                        .replace("T10:00:00Z", &format!("T10:00:{second:02}Z"))
                        + "\n"
                })
                .collect();
            let (whole, _) = merged(text.as_bytes(), usize::MAX);
            let (split, held) = merged(text.as_bytes(), spill_at);
            proptest::prop_assert_eq!(&split, &whole);
            proptest::prop_assert!(held >= whole.len() as u64);
            let spelled = |k: &Key| (k.client_id.clone(), k.day.clone(), k.context.as_str(), k.resource_type, k.interaction.as_str(), k.success);
            proptest::prop_assert!(whole.windows(2).all(|w| spelled(&w[0].0) < spelled(&w[1].0)), "in key order, each once");
            let calls_counted: u64 = whole.iter().map(|(_, a)| a.calls).sum();
            proptest::prop_assert_eq!(calls_counted, calls.len() as u64);
        }
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let (s, _) = run(&deep);
        assert_eq!((s.calls, s.malformed), (0, 1));
    }

    #[test]
    fn cancelling_stops_with_an_error() {
        let r = scan(b"{}\n", true);
        assert!(matches!(r, Err(Error::Cancelled)));
    }
}
