//! The append-only, hash-chained audit log.
//!
//! Entry `n` stores `hash = SHA-256(canonical JSON of [seq, at, actor, action, subject,
//! details, prev_hash])`, where `prev_hash` is entry `n-1`'s hash (64 zeros for the first) and
//! canonical JSON is compact with object keys sorted (what `jq -cjS` prints). Changing,
//! deleting, reordering or inserting any entry breaks the chain at that seq. Strings are
//! escaped as jq escapes them (DEL included), so `jq -cS` reproduces the bytes. Entries are
//! written in the same transaction as the change they record.

pub mod digests;
pub mod line;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::{Error, Result};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct AuditEntry {
    #[ts(type = "number")]
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[ts(type = "Record<string, unknown>")]
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// An entry to append: what happened to what.
#[derive(Debug, Clone)]
pub struct Draft {
    pub action: &'static str,
    pub subject: String,
    pub details: Value,
}

/// The result of a successful verification.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ChainStatus {
    #[ts(type = "number")]
    pub entries: i64,
    pub head_hash: String,
    /// Signed checkpoints the chain was checked against (the database's and the file's).
    #[ts(type = "number")]
    pub checkpoints: usize,
    /// The file of checkpoints kept outside the database that was read, if there is one.
    pub checkpoints_file: Option<String>,
}

/// Who made a change: the OS user on a workstation, the session's login on a team database.
/// Established by the system (see `api::whoami`), never taken from an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// The logged-in OS user, or `unknown` when the environment does not say.
    pub fn os_user() -> Actor {
        let name = ["USER", "USERNAME", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
            .unwrap_or_else(|| "unknown".to_string());
        Actor(name)
    }
}

/// A JSON string as `jq -c` writes it: serde_json's escapes, and DEL as `\u007f`.
fn push_string(out: &mut String, s: &str) {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    if s.contains('\u{7f}') {
        out.push_str(&quoted.replace('\u{7f}', "\\u007f"));
    } else {
        out.push_str(&quoted);
    }
}

/// Compact JSON with object keys sorted at every level, spelled as `jq -cS` spells it, so an
/// auditor recomputes the same bytes.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_string(out, k);
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Value::String(text) => push_string(out, text),
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// The hash of an entry's content and its predecessor's hash.
pub fn entry_hash(
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    details: &Value,
    prev_hash: &str,
) -> String {
    let content = serde_json::json!([seq, at, actor, action, subject, details, prev_hash]);
    hex::encode(Sha256::digest(canonical_json(&content).as_bytes()))
}

/// Chains drafts after the entry `(seq, prev)` (the head; `(0, GENESIS)` for an empty log):
/// each gets the next seq and the hash of its content and its predecessor's hash.
pub fn chain(
    (mut seq, mut prev): (i64, String),
    at: &str,
    actor: &Actor,
    drafts: Vec<Draft>,
) -> Vec<AuditEntry> {
    let mut entries = Vec::with_capacity(drafts.len());
    for d in drafts {
        seq += 1;
        let hash = entry_hash(seq, at, &actor.0, d.action, &d.subject, &d.details, &prev);
        entries.push(AuditEntry {
            seq,
            at: at.to_string(),
            actor: actor.0.clone(),
            action: d.action.to_string(),
            subject: d.subject,
            details: d.details,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    entries
}

/// Whether an entry's hash is the hash of its content.
pub fn content_matches(e: &AuditEntry) -> bool {
    entry_hash(
        e.seq,
        &e.at,
        &e.actor,
        &e.action,
        &e.subject,
        &e.details,
        &e.prev_hash,
    ) == e.hash
}

/// Why an entry (`seq`, linking to `its_prev_hash`) does not follow its predecessor, checked
/// in this order: its place in the sequence, the link, then its content (`content_ok`).
pub fn link_problem(
    expected_seq: i64,
    prev_hash: &str,
    seq: i64,
    its_prev_hash: &str,
    content_ok: impl FnOnce() -> bool,
) -> Option<String> {
    if seq != expected_seq {
        return Some(format!(
            "expected seq {expected_seq} next but found seq {seq} (entries deleted, reordered \
             or inserted)"
        ));
    }
    if its_prev_hash != prev_hash {
        return Some("prev_hash does not match the previous entry's hash".to_string());
    }
    if !content_ok() {
        return Some("content does not match its hash (entry changed)".to_string());
    }
    None
}

/// Checks one stored entry against its predecessor; returns why it is bad, if it is.
pub fn check_link(expected_seq: i64, prev_hash: &str, e: &AuditEntry) -> Option<String> {
    link_problem(expected_seq, prev_hash, e.seq, &e.prev_hash, || {
        content_matches(e)
    })
}

/// Recomputes a chain from its entries, read in seq order: fails naming the first bad seq.
#[derive(Debug)]
pub struct Verifier {
    prev: String,
    count: i64,
    bad: Option<(i64, String)>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            prev: GENESIS.to_string(),
            count: 0,
            bad: None,
        }
    }
}

impl Verifier {
    /// Checks the next entry; `false` once the chain is broken (no need to read on).
    pub fn next(&mut self, e: AuditEntry) -> bool {
        if let Some(why) = check_link(self.count + 1, &self.prev, &e) {
            // Name the position in the chain that broke: the stored seq when it is plausible,
            // else the seq that was expected there.
            self.bad = Some((e.seq.min(self.count + 1), why));
            return false;
        }
        self.count += 1;
        self.prev = e.hash;
        true
    }

    /// The chain's status, or where it broke.
    pub fn finish(self) -> Result<ChainStatus> {
        match self.bad {
            Some((seq, why)) => Err(Error::Integrity(format!(
                "audit log broken at seq {seq}: {why}"
            ))),
            None => Ok(ChainStatus {
                entries: self.count,
                head_hash: self.prev,
                checkpoints: 0,
                checkpoints_file: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        crate::test_json::values(".*".prop_map(String::from).boxed(), ".*", false)
    }

    proptest! {
        #[test]
        fn canonical_json_parses_back_to_the_same_value(v in json_value()) {
            let text = canonical_json(&v);
            let back: Value = serde_json::from_str(&text).expect("canonical JSON is JSON");
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(canonical_json(&back), text, "canonical form is a fixed point");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "x"}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#
        );
    }

    #[test]
    fn hash_depends_on_every_field() {
        let d = serde_json::json!({"k": "v"});
        let base = entry_hash(1, "t", "a", "x", "s", &d, GENESIS);
        assert_ne!(base, entry_hash(2, "t", "a", "x", "s", &d, GENESIS));
        assert_ne!(base, entry_hash(1, "u", "a", "x", "s", &d, GENESIS));
        assert_ne!(base, entry_hash(1, "t", "b", "x", "s", &d, GENESIS));
        assert_ne!(base, entry_hash(1, "t", "a", "y", "s", &d, GENESIS));
        assert_ne!(base, entry_hash(1, "t", "a", "x", "r", &d, GENESIS));
        assert_ne!(
            base,
            entry_hash(1, "t", "a", "x", "s", &serde_json::json!({}), GENESIS)
        );
        assert_ne!(base, entry_hash(1, "t", "a", "x", "s", &d, &"1".repeat(64)));
    }
}
