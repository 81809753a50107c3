//! The fast way to check one exported audit line.
//!
//! An exported line is the canonical JSON of an entry: keys sorted, compact, strings escaped
//! as `jq -c` escapes them (serde_json's escapes, and DEL). When a line is exactly that, the canonical JSON of
//! `[seq, at, actor, action, subject, details, prev_hash]` that the entry's hash covers is
//! made of the line's own pieces, so the hash is checked without building any value. A line
//! that is anything else (whitespace, other key order, other escapes, a float) is not
//! refused here: it goes the general way, through `serde_json::Value`.

use sha2::{Digest, Sha256};

/// Nesting allowed inside `details` on the fast path.
const MAX_DEPTH: u32 = 64;

/// The pieces of a canonical line, as slices of it.
pub struct Pieces<'a> {
    pub seq: i64,
    pub prev_hash: &'a str,
    pub hash: &'a str,
    /// Whether `hash` is the SHA-256 of the entry's content.
    pub hash_ok: bool,
}

/// The end of the canonical string that starts at `i` (a quote), if it is one.
fn string(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    loop {
        // The next quote or backslash (memchr's vector search), then a branch-free check that
        // no control character or DEL comes before it.
        let rest = b.get(i..)?;
        let at = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[..at].iter().fold(false, |any, &c| any | special(c)) {
            return None;
        }
        i += at;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        match *b.get(i + 1)? {
            b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => i += 2,
            b'u' => {
                // Only DEL and control characters without a short form are written \u00XX.
                let hex = b.get(i + 2..i + 6)?;
                let lower = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
                if !hex.iter().all(lower) || &hex[..2] != b"00" {
                    return None;
                }
                let v = u8::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()?;
                if (v >= 0x20 && v != 0x7f) || matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                    return None;
                }
                i += 6;
            }
            _ => return None,
        }
    }
}

/// A byte a string cannot hold as it is: a control character or DEL.
fn special(c: u8) -> bool {
    (c < 0x20) | (c == 0x7f)
}

/// The end of the canonical integer at `i` (as serde_json writes an i64: no `-0`, no leading
/// zero, no fraction or exponent).
fn integer(b: &[u8], i: usize) -> Option<usize> {
    let negative = b.get(i) == Some(&b'-');
    let start = i + usize::from(negative);
    let digits = b
        .get(start..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let end = start + digits;
    let leading_zero = digits > 0 && b[start] == b'0' && (digits > 1 || negative);
    (digits > 0 && !leading_zero && !matches!(b.get(end), Some(b'.' | b'e' | b'E'))).then_some(end)
}

/// The end of the canonical JSON value at `i`.
fn value(b: &[u8], i: usize, depth: u32) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *b.get(i)? {
        b'"' => string(b, i),
        b'n' => b[i..].starts_with(b"null").then_some(i + 4),
        b't' => b[i..].starts_with(b"true").then_some(i + 4),
        b'f' => b[i..].starts_with(b"false").then_some(i + 5),
        b'[' => {
            let mut j = i + 1;
            if b.get(j) == Some(&b']') {
                return Some(j + 1);
            }
            loop {
                j = value(b, j, depth + 1)?;
                match *b.get(j)? {
                    b',' => j += 1,
                    b']' => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        b'{' => {
            let mut j = i + 1;
            if b.get(j) == Some(&b'}') {
                return Some(j + 1);
            }
            let mut last: Option<&[u8]> = None;
            loop {
                let end = string(b, j)?;
                let key = &b[j + 1..end - 1];
                // Sorted and unique: raw bytes order as the keys do when they carry no escapes.
                if key.contains(&b'\\') || last.is_some_and(|l| l >= key) {
                    return None;
                }
                last = Some(key);
                if b.get(end) != Some(&b':') {
                    return None;
                }
                j = value(b, end + 1, depth + 1)?;
                match *b.get(j)? {
                    b',' => j += 1,
                    b'}' => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        b'-' | b'0'..=b'9' => integer(b, i),
        _ => None,
    }
}

/// Takes `"name":` at `i`; returns where the value starts.
fn name(b: &[u8], i: usize, name: &str, first: bool) -> Option<usize> {
    let sep = if first { b'{' } else { b',' };
    let n = name.len();
    (b.get(i) == Some(&sep)
        && b.get(i + 1) == Some(&b'"')
        && b.get(i + 2..i + 2 + n) == Some(name.as_bytes())
        && b.get(i + 2 + n..i + 4 + n) == Some(b"\":"))
    .then_some(i + 4 + n)
}

/// Reads a line that is the canonical JSON of an entry and checks its hash; `None` when the
/// line is not in canonical form (the caller then takes the general path).
pub fn canonical(line: &str) -> Option<Pieces<'_>> {
    let b = line.as_bytes();
    let mut spans = [(0usize, 0usize); 8];
    let names = [
        "action",
        "actor",
        "at",
        "details",
        "hash",
        "prev_hash",
        "seq",
        "subject",
    ];
    let mut i = 0;
    for (k, n) in names.iter().enumerate() {
        let start = name(b, i, n, k == 0)?;
        let end = match *n {
            "details" => value(b, start, 0)?,
            "seq" => integer(b, start)?,
            _ => string(b, start)?,
        };
        spans[k] = (start, end);
        i = end;
    }
    if i + 1 != b.len() || b[i] != b'}' {
        return None;
    }
    let piece = |k: usize| &line[spans[k].0..spans[k].1];
    let unquote = |k: usize| &line[spans[k].0 + 1..spans[k].1 - 1];
    let seq: i64 = piece(6).parse().ok()?;
    // [seq, at, actor, action, subject, details, prev_hash], canonical.
    let mut h = Sha256::new();
    for (k, part) in [6, 2, 1, 0, 7, 3, 5].into_iter().enumerate() {
        h.update(if k == 0 { "[" } else { "," });
        h.update(piece(part));
    }
    h.update("]");
    let hash = unquote(4);
    Some(Pieces {
        seq,
        prev_hash: unquote(5),
        hash,
        hash_ok: is_lower_hex_of(hash, &h.finalize()),
    })
}

/// Whether `hex` spells `digest` in lowercase hex, as Steward writes hashes (any other
/// spelling cannot match): the digest is spelled and compared, nothing is decoded.
fn is_lower_hex_of(hex: &str, digest: &[u8]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    hex.len() == 2 * digest.len()
        && hex.as_bytes().chunks_exact(2).zip(digest).all(|(h, &d)| {
            h[0] == DIGITS[usize::from(d >> 4)] && h[1] == DIGITS[usize::from(d & 15)]
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{canonical_json, entry_hash, AuditEntry, GENESIS};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    #[test]
    fn hashes_match_only_in_lowercase_hex() {
        let digest = Sha256::digest(b"steward");
        let lower = hex::encode(digest);
        assert!(is_lower_hex_of(&lower, &digest));
        assert!(!is_lower_hex_of(&lower.to_uppercase(), &digest));
        assert!(!is_lower_hex_of(&lower[..62], &digest));
        let mut other = lower.clone().into_bytes();
        other[63] = if other[63] == b'0' { b'1' } else { b'0' };
        assert!(!is_lower_hex_of(
            &String::from_utf8(other).expect("ascii"),
            &digest
        ));
    }

    fn line(e: &AuditEntry) -> String {
        canonical_json(&serde_json::to_value(e).expect("an entry"))
    }

    fn entry(actor: String, subject: String, details: Value) -> AuditEntry {
        let hash = entry_hash(
            7,
            "2026-11-28T10:00:00Z",
            &actor,
            "x.y",
            &subject,
            &details,
            GENESIS,
        );
        AuditEntry {
            seq: 7,
            at: "2026-11-28T10:00:00Z".into(),
            actor,
            action: "x.y".into(),
            subject,
            details,
            prev_hash: GENESIS.into(),
            hash,
        }
    }

    fn details() -> impl Strategy<Value = Value> {
        // Keys with escapes take the general path (see below).
        crate::test_json::values(any::<String>().boxed(), "[^\"\\\\\\x00-\\x1f\\x7f]*", false)
    }

    proptest! {
        /// Every line Steward writes takes the fast path, and agrees with the general one.
        #[test]
        fn exported_lines_are_checked_without_values(
            actor in any::<String>(), subject in any::<String>(), d in details()
        ) {
            let e = entry(actor, subject, d);
            let text = line(&e);
            let p = canonical(&text).expect("canonical");
            prop_assert!(p.hash_ok);
            prop_assert_eq!((p.seq, p.prev_hash, p.hash), (7, GENESIS, e.hash.as_str()));
        }

        /// A changed character anywhere is caught: a wrong hash, or not canonical any more
        /// (and then the general path decides).
        #[test]
        fn a_changed_byte_never_passes(at in 0usize..400, c in any::<char>()) {
            let e = entry("rosa".into(), "identity:1".into(), json!({"a": [1, "\u{1}"], "b": null}));
            let text = line(&e);
            let at = at % text.chars().count();
            let changed: String = text.chars().enumerate()
                .map(|(i, x)| if i == at { c } else { x }).collect();
            prop_assume!(changed != text);
            if let Some(p) = canonical(&changed) {
                prop_assert!(!p.hash_ok || p.hash != e.hash || p.seq != e.seq || p.prev_hash != e.prev_hash);
            }
        }
    }

    #[test]
    fn other_spellings_take_the_general_path() {
        let e = entry("a".into(), "s".into(), json!({"k": 1}));
        let text = line(&e);
        assert!(canonical(&text).is_some());
        for other in [
            text.replace("{\"k\":1}", "{ \"k\": 1 }"),
            text.replace("{\"k\":1}", "{\"k\":1.0}"),
            text.replace("{\"k\":1}", "{\"k\":01}"),
            text.replace("{\"k\":1}", "{\"k\":1,\"a\":2}"),
            text.replace("\"a\"", "\"\\u0061\""),
            text.replacen("{\"action\"", "{\"aaa\":0,\"action\"", 1),
            text.replace("\"seq\":7", "\"seq\":-0"),
            text.replace("{\"k\":1}", "{\"\\n\":1}"),
            format!("{text} "),
        ] {
            assert!(canonical(&other).is_none(), "{other}");
        }
    }
}
