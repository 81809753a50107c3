//! The aggregates of a scan, in bounded memory: each worker counts into a map of at most
//! [`SPILL_AT`] aggregates; a fuller map is sorted and written to a temporary file (a run),
//! and the runs and what is left in the maps are merged in primary-key order as the
//! aggregates are written to the database, a batch at a time. Memory holds the maps, one
//! buffer a run and one batch, however many aggregates a log makes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use compact_str::CompactString;

use super::{Agg, Key};
use crate::scope::{Context, Interaction};

/// Aggregates a worker holds before it writes them out as a run: its map then stays within
/// 65,536 buckets (hashbrown fills seven eighths of them), under 6 MiB.
pub const SPILL_AT: usize = 57_344;

/// One aggregate of a worker: its client by the scan's number for it, the rest of its key as
/// one number in the order of the stored spellings ([`rest`]), and its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rec {
    pub client: u32,
    pub rest: u64,
    pub calls: u64,
    pub by_token: u64,
    pub by_identity: u64,
    pub first: CompactString,
    pub last: CompactString,
}

/// The places of the contexts by their stored spelling: patient, system, user.
const CONTEXTS: [Context; 3] = [Context::Patient, Context::System, Context::User];

fn context_rank(c: Context) -> u64 {
    CONTEXTS.iter().position(|&x| x == c).unwrap_or(0) as u64
}

/// The interactions in the order of their stored spelling, and each one's place in it.
static INTERACTIONS: std::sync::LazyLock<(
    [Interaction; Interaction::ALL.len()],
    [u8; Interaction::ALL.len()],
)> = std::sync::LazyLock::new(|| {
    let mut by_name = Interaction::ALL;
    by_name.sort_unstable_by_key(|i| i.as_str());
    let mut place = [0u8; Interaction::ALL.len()];
    for (r, i) in by_name.iter().enumerate() {
        place[*i as usize] = r as u8;
    }
    (by_name, place)
});

/// The key of an aggregate but its client, as one number whose order is that of the stored
/// spellings: day (the number its digits spell), context, type place, interaction, outcome.
pub(super) fn rest(
    day: u32,
    context: Context,
    type_place: u8,
    interaction: Interaction,
    success: bool,
) -> u64 {
    let i = u64::from(INTERACTIONS.1[interaction as usize]);
    u64::from(day) << 32
        | context_rank(context) << 24
        | u64::from(type_place) << 8
        | i << 1
        | u64::from(success)
}

/// Sorts `recs` into key order, `rank` giving each client's place among all names (the order
/// of any two names never changes as more are met). On the calling thread: a worker sorts
/// while it holds its part, and a parallel sort could run another piece of the scan on it
/// meanwhile, which would wait for that same part.
pub(super) fn sort(recs: &mut [Rec], rank: &[u32]) {
    recs.sort_unstable_by_key(|r| order(rank, r));
}

fn order(rank: &[u32], r: &Rec) -> u128 {
    u128::from(rank[r.client as usize]) << 64 | u128::from(r.rest)
}

/// Writes sorted aggregates to a new temporary file (made private and unlinked at once by the
/// system) and rewinds it.
pub(super) fn spill(recs: &[Rec]) -> std::io::Result<File> {
    let mut w = BufWriter::with_capacity(256 << 10, tempfile::tempfile()?);
    for r in recs {
        w.write_all(&r.client.to_le_bytes())?;
        for n in [r.rest, r.calls, r.by_token, r.by_identity] {
            w.write_all(&n.to_le_bytes())?;
        }
        for s in [&r.first, &r.last] {
            w.write_all(&(s.len() as u32).to_le_bytes())?;
            w.write_all(s.as_bytes())?;
        }
    }
    let mut f = w.into_inner().map_err(|e| e.into_error())?;
    f.rewind()?;
    Ok(f)
}

/// A sorted run of aggregates: in memory, or in a file [`spill`] wrote.
pub(super) enum Run {
    Memory(std::vec::IntoIter<Rec>),
    File(BufReader<File>),
}

impl Run {
    pub fn file(f: File) -> Run {
        Run::File(BufReader::with_capacity(64 << 10, f))
    }

    fn next(&mut self) -> std::io::Result<Option<Rec>> {
        let r = match self {
            Run::Memory(recs) => return Ok(recs.next()),
            Run::File(r) => r,
        };
        let mut client = [0u8; 4];
        match r.read_exact(&mut client) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other?,
        }
        let mut n = [0u64; 4];
        for x in &mut n {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            *x = u64::from_le_bytes(b);
        }
        let mut text = || -> std::io::Result<CompactString> {
            let mut len = [0u8; 4];
            r.read_exact(&mut len)?;
            let mut bytes = vec![0u8; u32::from_le_bytes(len) as usize];
            r.read_exact(&mut bytes)?;
            CompactString::from_utf8(bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        let (first, last) = (text()?, text()?);
        Ok(Some(Rec {
            client: u32::from_le_bytes(client),
            rest: n[0],
            calls: n[1],
            by_token: n[2],
            by_identity: n[3],
            first,
            last,
        }))
    }
}

/// The aggregates of a scan, merged from its runs in primary-key order (client, day, context,
/// type, interaction, outcome), each key once.
pub struct Aggregates {
    names: Vec<Box<str>>,
    rank: Vec<u32>,
    runs: Vec<Run>,
    heads: Vec<Option<Rec>>,
    heap: BinaryHeap<Reverse<(u128, usize)>>,
    /// How many aggregates the runs hold: at least the distinct keys.
    held: u64,
}

impl std::fmt::Debug for Aggregates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregates")
            .field("runs", &self.runs.len())
            .field("held", &self.held)
            .finish()
    }
}

impl Default for Aggregates {
    fn default() -> Self {
        Aggregates::new(Vec::new(), Vec::new(), Vec::new(), 0)
            .unwrap_or_else(|_| unreachable!("no run to read"))
    }
}

impl Aggregates {
    /// `names` are the clients by the scan's numbers, `rank` their [`ranks`]; `runs` each
    /// sorted by [`sort`], holding `held` aggregates in all.
    pub(super) fn new(
        names: Vec<Box<str>>,
        rank: Vec<u32>,
        runs: Vec<Run>,
        held: u64,
    ) -> std::io::Result<Self> {
        let mut a = Aggregates {
            heads: (0..runs.len()).map(|_| None).collect(),
            heap: BinaryHeap::with_capacity(runs.len()),
            names,
            rank,
            runs,
            held,
        };
        for i in 0..a.runs.len() {
            a.advance(i)?;
        }
        Ok(a)
    }

    /// At least as many as the distinct keys still to come.
    pub fn upper_bound(&self) -> u64 {
        self.held
    }

    fn advance(&mut self, i: usize) -> std::io::Result<()> {
        if let Some(r) = self.runs[i].next()? {
            self.heap.push(Reverse((order(&self.rank, &r), i)));
            self.heads[i] = Some(r);
        }
        Ok(())
    }

    /// The next aggregates, at most `max` of them (none at the end).
    pub fn next_batch(&mut self, max: usize) -> std::io::Result<Vec<(Key, Agg)>> {
        let mut out: Vec<(Key, Agg)> = Vec::with_capacity(max.min(self.held as usize));
        let mut last: Option<u128> = None;
        while let Some(&Reverse((key, i))) = self.heap.peek() {
            if last != Some(key) && out.len() == max {
                break;
            }
            self.heap.pop();
            let Some(r) = self.heads[i].take() else {
                break;
            };
            self.advance(i)?;
            self.held = self.held.saturating_sub(1);
            if last == Some(key) {
                if let Some((_, have)) = out.last_mut() {
                    have.calls += r.calls;
                    have.by_token += r.by_token;
                    have.by_identity += r.by_identity;
                    super::widen(&mut have.first, &mut have.last, &r.first);
                    super::widen(&mut have.first, &mut have.last, &r.last);
                    continue;
                }
            }
            last = Some(key);
            out.push((
                self.key(&r),
                Agg {
                    calls: r.calls,
                    by_token: r.by_token,
                    by_identity: r.by_identity,
                    first: r.first.to_string(),
                    last: r.last.to_string(),
                },
            ));
        }
        Ok(out)
    }

    /// Every aggregate left, in order.
    pub fn collect(mut self) -> std::io::Result<Vec<(Key, Agg)>> {
        let mut all = Vec::new();
        loop {
            let batch = self.next_batch(4096)?;
            if batch.is_empty() {
                return Ok(all);
            }
            all.extend(batch);
        }
    }

    fn key(&self, r: &Rec) -> Key {
        let rest = r.rest;
        Key {
            client_id: self.names[r.client as usize].to_string(),
            day: super::day_text((rest >> 32) as u32),
            context: CONTEXTS[((rest >> 24) & 0xff) as usize],
            resource_type: super::type_name(((rest >> 8) & 0xff) as u8),
            interaction: INTERACTIONS.0[((rest >> 1) & 0x7f) as usize],
            success: rest & 1 == 1,
        }
    }
}

/// Each name's place among all of them in byte order (SQLite's), by its number.
pub(super) fn ranks(names: &[Box<str>]) -> Vec<u32> {
    let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
    by_name.sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
    let mut rank = vec![0; names.len()];
    for (r, &n) in by_name.iter().enumerate() {
        rank[n as usize] = r as u32;
    }
    rank
}
