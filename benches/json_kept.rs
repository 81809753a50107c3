//! The two hand-written JSON readers against `serde_json` doing the same job, in the same run,
//! on the same input:
//! 1. the usage import's reader (`usage::json`, its indexed fast path) taking BALP AuditEvent
//!    lines to `AuditEvent`s, against `serde_json` into borrowed structs of the same fields,
//!    folded the same way; and `serde_json` into `IgnoredAny`, a floor that only validates;
//! 2. `evidence verify`'s canonical-line scanner (`audit::line`) taking exported audit lines
//!    to their seq, hashes and content, against `serde_json` into a borrowed struct, checked
//!    canonical by writing it again and comparing, its content written from the struct.
//!
//! Prints each best-of-five time and the ratio (a hand-written path earns its place at 1.3x
//! or more).

use std::borrow::Cow;
use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use steward::audit::digests::Messages;
use steward::audit::{canonical_json, entry_hash, GENESIS};
use steward::export::jsonl::AuditLine;
use steward::usage::auditevent::{self, AuditEvent};
use steward::usage::json::indexed;
use steward::usage::synthetic::{write_event, Workload};

/// The allocator the `steward` program runs with: the library paths allocate (arrays, the
/// values of `details`) where the hand-written ones do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 200_000;
const LINES: usize = 1_000_000;

fn best(mut f: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn report(what: &str, ours: Duration, library: Duration) {
    println!(
        "{what:<38} hand-written {:>8.1} ms   library {:>8.1} ms   library/hand-written {:.2}",
        ours.as_secs_f64() * 1e3,
        library.as_secs_f64() * 1e3,
        library.as_secs_f64() / ours.as_secs_f64()
    );
}

/// The AuditEvent members `AuditEvent::read` takes; every other member is skipped.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, rename = "resourceType")]
    resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Coding<'a>>,
    #[serde(borrow)]
    subtype: Option<Vec<Coding<'a>>>,
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow)]
    recorded: Option<Cow<'a, str>>,
    #[serde(borrow)]
    outcome: Option<Cow<'a, str>>,
    #[serde(borrow)]
    agent: Option<Vec<Agent<'a>>>,
    #[serde(borrow)]
    entity: Option<Vec<Entity<'a>>>,
}

#[derive(Deserialize)]
struct Coding<'a> {
    #[serde(borrow)]
    system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Concept<'a> {
    #[serde(borrow)]
    coding: Option<Vec<Coding<'a>>>,
}

#[derive(Deserialize)]
struct Agent<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Concept<'a>>,
    #[serde(borrow)]
    who: Option<Who<'a>>,
    requestor: Option<bool>,
    #[serde(borrow)]
    policy: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
struct Who<'a> {
    #[serde(borrow)]
    reference: Option<Cow<'a, str>>,
    #[serde(borrow)]
    identifier: Option<Identifier<'a>>,
    #[serde(borrow)]
    display: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Identifier<'a> {
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Entity<'a> {
    #[serde(borrow)]
    what: Option<What<'a>>,
    #[serde(borrow)]
    role: Option<Coding<'a>>,
    #[serde(borrow)]
    query: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct What<'a> {
    #[serde(borrow)]
    reference: Option<Cow<'a, str>>,
}

/// `serde_json`'s reading of a line, folded into the `AuditEvent` the hand-written reader
/// makes (the same rules as `AuditEvent::read`, over the collected arrays).
fn library_event(text: &str) -> Result<AuditEvent<'_>, serde_json::Error> {
    fn code(c: Option<Coding<'_>>) -> Option<Cow<'_, str>> {
        c.and_then(|c| c.code)
    }
    let e: Event<'_> = serde_json::from_str(text)?;
    let mut out = AuditEvent {
        resource_type: e.resource_type,
        rest_type: code(e.kind).as_deref() == Some("rest"),
        rest: e
            .subtype
            .into_iter()
            .flatten()
            .filter(|c| c.system.as_deref() == Some("http://hl7.org/fhir/restful-interaction"))
            .find_map(|c| c.code),
        action: e.action,
        recorded: e.recorded,
        outcome: e.outcome,
        ..AuditEvent::default()
    };
    let agents = &mut out.agents;
    for a in e.agent.into_iter().flatten() {
        let app = a
            .kind
            .and_then(|k| k.coding)
            .into_iter()
            .flatten()
            .any(|c| c.code.as_deref() == Some("110150"));
        let requestor = a.requestor.unwrap_or(false);
        if agents.policy.is_none() {
            agents.policy = a.policy.and_then(|p| p.into_iter().next());
        }
        let Some(who) = a.who else { continue };
        let name = who
            .identifier
            .and_then(|i| i.value)
            .or(who.display)
            .filter(|s| !s.trim().is_empty());
        let reference = who.reference.as_deref().unwrap_or("");
        if !app && requestor && agents.human.is_none() {
            match auditevent::person_context(reference) {
                Some(c) => agents.human = Some(c),
                None => agents.unsettled = true,
            }
        }
        if app {
            if agents.app.is_none() {
                agents.app = name;
            }
        } else if requestor && reference.starts_with("Device/") && agents.device.is_none() {
            agents.device = name;
        }
    }
    let en = &mut out.entities;
    for x in e.entity.into_iter().flatten() {
        let t = x
            .what
            .and_then(|w| w.reference)
            .and_then(|r| auditevent::reference_type(&r));
        if let Some(q) = x.query {
            en.has_query = true;
            en.data = en.data.or_else(|| auditevent::query_type(&q));
        }
        if code(x.role).as_deref() == Some("1") || t == Some("Patient") {
            en.patient = true;
            en.patient_type = en.patient_type.or(t);
        } else if let Some(t) = t {
            en.data = en.data.or(Some(t));
        }
    }
    Ok(out)
}

/// BALP AuditEvent lines as `examples/usage_gen` writes them (400 clients, each working in
/// one context on a few resource types and interactions).
fn audit_events() -> String {
    let mut workload = Workload::new(400);
    let mut out = Vec::with_capacity(EVENTS * 1200);
    for _ in 0..EVENTS {
        write_event(&mut out, &workload.call().synthetic()).expect("a line");
    }
    String::from_utf8(out).expect("UTF-8")
}

fn usage_import() {
    let log = audit_events();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), EVENTS);
    for line in &lines {
        assert!(
            indexed::read(line, |r| AuditEvent::read(r)).is_some(),
            "every line takes the indexed fast path: {line}"
        );
        let ours = AuditEvent::parse(line).expect("read").call();
        let library = library_event(line).expect("read").call();
        assert_eq!(ours, library, "both read the same call: {line}");
    }
    let ours = best(|| {
        for line in &lines {
            black_box(AuditEvent::parse(line).ok());
        }
    });
    let library = best(|| {
        for line in &lines {
            black_box(library_event(line).ok());
        }
    });
    let floor = best(|| {
        for line in &lines {
            black_box(serde_json::from_str::<serde::de::IgnoredAny>(line).ok());
        }
    });
    println!(
        "{} AuditEvent lines, {:.0} MB",
        lines.len(),
        log.len() as f64 / 1e6
    );
    report("AuditEvent lines to events", ours, library);
    report("  validation only (IgnoredAny)", ours, floor);
}

/// An exported line's members, in the order the line holds them (sorted).
#[derive(Deserialize, Serialize)]
struct Line<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
    details: serde_json::Value,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow)]
    prev_hash: Cow<'a, str>,
    seq: i64,
    #[serde(borrow)]
    subject: Cow<'a, str>,
}

/// `serde_json`'s compact output with DEL escaped as `jq -c` (and `canonical_json`) write it;
/// its `Value` keeps object keys sorted.
struct Jq;

impl serde_json::ser::Formatter for Jq {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut parts = fragment.split('\u{7f}');
        w.write_all(parts.next().unwrap_or_default().as_bytes())?;
        for part in parts {
            w.write_all(b"\\u007f")?;
            w.write_all(part.as_bytes())?;
        }
        Ok(())
    }
}

fn write_jq(out: &mut Vec<u8>, v: &impl Serialize) -> serde_json::Result<()> {
    v.serialize(&mut serde_json::Serializer::with_formatter(out, Jq))
}

/// What a line gives: seq, prev_hash, hash, and the number of its content in the messages.
type Read<'a> = (i64, Cow<'a, str>, Cow<'a, str>, usize);

/// `serde_json`'s reading of an exported line: `None` unless it is canonical (the same bytes
/// written again). Unlike the scanner it also takes a float in `details`, which the scanner
/// leaves to the general path.
fn library_line<'a>(b: &'a [u8], again: &mut Vec<u8>, contents: &mut Messages) -> Option<Read<'a>> {
    let l: Line<'a> = serde_json::from_str(std::str::from_utf8(b).ok()?).ok()?;
    again.clear();
    write_jq(again, &l).ok()?;
    if again[..] != *b {
        return None;
    }
    let content = (
        l.seq,
        &l.at,
        &l.actor,
        &l.action,
        &l.subject,
        &l.details,
        &l.prev_hash,
    );
    let mut written = Ok(());
    let k = contents.push(|m| written = write_jq(m, &content));
    written.ok()?;
    Some((l.seq, l.prev_hash, l.hash, k))
}

fn scanner_line<'a>(b: &'a [u8], contents: &mut Messages) -> Option<Read<'a>> {
    let p = steward::audit::line::canonical(b, contents)?;
    Some((p.seq, p.prev_hash.into(), p.hash.into(), p.content))
}

/// Exported lines as `evidence export` writes the entries `examples/audit_fill` appends
/// (what `scripts/bench-evidence.sh` verifies), chained.
fn audit_log() -> Vec<u8> {
    let mut out = Vec::with_capacity(LINES * 340);
    let mut line = AuditLine::default();
    let mut prev = GENESIS.to_string();
    for seq in 1..=LINES as i64 {
        let at = "2026-11-28T10:00:00Z";
        let subject = format!("identity:{}", (seq - 1) % 100_000 + 1);
        let details = serde_json::json!({
            "changes": { "last_used_at": { "from": null, "to": "2026-11-28T09:59:58Z" } }
        });
        let hash = entry_hash(
            seq,
            at,
            "bench",
            "identity.update",
            &subject,
            &details,
            &prev,
        );
        let details = canonical_json(&details);
        out.extend_from_slice(line.encode(
            seq,
            [
                at.as_bytes(),
                b"bench",
                b"identity.update",
                subject.as_bytes(),
                details.as_bytes(),
                prev.as_bytes(),
                hash.as_bytes(),
            ],
        ));
        prev = hash;
    }
    out
}

/// Lines read before their contents are hashed together, as `evidence verify` reads them.
const LINES_HASHED_TOGETHER: usize = 64;

fn evidence_verify() {
    let log = audit_log();
    let lines: Vec<&[u8]> = log
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), LINES);
    let (mut ours, mut library) = (Messages::default(), Messages::default());
    let mut again = Vec::new();
    for group in lines.chunks(LINES_HASHED_TOGETHER) {
        ours.clear();
        library.clear();
        let mut hashes = Vec::with_capacity(group.len());
        for b in group {
            let o = scanner_line(b, &mut ours).expect("an exported line is canonical");
            let l = library_line(b, &mut again, &mut library).expect("canonical to serde_json");
            assert_eq!(
                (&o.0, &o.1, &o.2),
                (&l.0, &l.1, &l.2),
                "both read the same seq and hashes"
            );
            assert_eq!(
                ours.get(o.3),
                library.get(l.3),
                "both make the same content"
            );
            hashes.push((o.2, o.3));
        }
        let digests = ours.digests();
        for (hash, k) in hashes {
            assert!(
                steward::audit::line::is_lower_hex_of(&hash, &digests[k]),
                "each content is what its entry's hash is of"
            );
        }
    }
    // Lines that are not canonical: each path leaves them to the general one.
    let text = std::str::from_utf8(lines[0]).expect("UTF-8");
    for other in [
        text.replace("{\"from\":null", "{ \"from\": null"),
        text.replace("{\"from\":null", "{\"from\":null,\"a\":1"),
        text.replace("{\"from\":null", "{\"from\":null,\"from\":2"),
        text.replace("\"bench\"", "\"\\u0062ench\""),
        text.replace("\"seq\":1", "\"seq\":01"),
        format!("{text} "),
    ] {
        let (mut m, mut again) = (Messages::default(), Vec::new());
        assert!(scanner_line(other.as_bytes(), &mut m).is_none(), "{other}");
        assert!(
            library_line(other.as_bytes(), &mut again, &mut m).is_none(),
            "{other}"
        );
    }
    let hand = best(|| {
        let mut contents = Messages::default();
        for group in lines.chunks(LINES_HASHED_TOGETHER) {
            contents.clear();
            for b in group {
                black_box(scanner_line(b, &mut contents));
            }
        }
    });
    let lib = best(|| {
        let (mut contents, mut again) = (Messages::default(), Vec::new());
        for group in lines.chunks(LINES_HASHED_TOGETHER) {
            contents.clear();
            for b in group {
                black_box(library_line(b, &mut again, &mut contents));
            }
        }
    });
    println!(
        "{} exported audit lines, {:.0} MB",
        lines.len(),
        log.len() as f64 / 1e6
    );
    report("audit lines to seq, hashes, content", hand, lib);
}

fn main() {
    usage_import();
    evidence_verify();
}
