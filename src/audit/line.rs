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

/// The end of the canonical string that starts at `i` (a quote), if it is one. In a plain
/// line (see [`Quotes`]) a string ends at the next quote.
#[inline]
fn string(b: &[u8], i: usize, quotes: Option<&Quotes>) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    match quotes {
        Some(q) => Some(q.next(i + 1)? + 1),
        None => escaped_string(b, i + 1),
    }
}

/// The end of the canonical string whose content starts at `i`, in a line that is not plain.
#[inline(never)]
fn escaped_string(b: &[u8], mut i: usize) -> Option<usize> {
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

/// The end of the canonical JSON value at `i` (`quotes` as for [`string`]).
fn value(b: &[u8], i: usize, depth: u32, quotes: Option<&Quotes>) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *b.get(i)? {
        b'"' => string(b, i, quotes),
        b'n' => b[i..].starts_with(b"null").then_some(i + 4),
        b't' => b[i..].starts_with(b"true").then_some(i + 4),
        b'f' => b[i..].starts_with(b"false").then_some(i + 5),
        b'[' => {
            let mut j = i + 1;
            if b.get(j) == Some(&b']') {
                return Some(j + 1);
            }
            loop {
                j = value(b, j, depth + 1, quotes)?;
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
                let end = string(b, j, quotes)?;
                let key = &b[j + 1..end - 1];
                // Sorted and unique: raw bytes order as the keys do when they carry no escapes
                // (a plain line has none).
                if (quotes.is_none() && key.contains(&b'\\')) || last.is_some_and(|l| l >= key) {
                    return None;
                }
                last = Some(key);
                if b.get(end) != Some(&b':') {
                    return None;
                }
                j = value(b, end + 1, depth + 1, quotes)?;
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

/// Reads a line that is the canonical JSON of an entry and checks its hash; `None` when the
/// line is not in canonical form (the caller then takes the general path). `content` is
/// scratch space, reused from line to line.
pub fn canonical<'a>(line: &'a str, content: &mut Vec<u8>) -> Option<Pieces<'a>> {
    let b = line.as_bytes();
    let quotes = Quotes::of(b);
    let quotes = quotes.as_ref();
    let string = |i| string(b, i, quotes);
    let mut i = 0;
    // Each member in key order: its name (with the separator before it), then its value.
    macro_rules! member {
        ($name:literal, $value:expr) => {{
            if !b.get(i..)?.starts_with($name) {
                return None;
            }
            let start = i + $name.len();
            i = $value(start)?;
            &line[start..i]
        }};
    }
    let action = member!(b"{\"action\":", string);
    let actor = member!(b",\"actor\":", string);
    let at = member!(b",\"at\":", string);
    let details = member!(b",\"details\":", |j| value(b, j, 0, quotes));
    let hash = member!(b",\"hash\":", string);
    let prev_hash = member!(b",\"prev_hash\":", string);
    let seq = member!(b",\"seq\":", |j| integer(b, j));
    let subject = member!(b",\"subject\":", string);
    if i + 1 != b.len() || b[i] != b'}' {
        return None;
    }
    let unquote = |s: &'a str| &s[1..s.len() - 1];
    // [seq, at, actor, action, subject, details, prev_hash], canonical, hashed in one call.
    content.clear();
    for (k, part) in [seq, at, actor, action, subject, details, prev_hash]
        .into_iter()
        .enumerate()
    {
        content.push(if k == 0 { b'[' } else { b',' });
        content.extend_from_slice(part.as_bytes());
    }
    content.push(b']');
    let digest = Sha256::digest(&content[..]);
    let hash = unquote(hash);
    Some(Pieces {
        seq: seq.parse().ok()?,
        prev_hash: unquote(prev_hash),
        hash,
        hash_ok: is_lower_hex_of(hash, &digest.into()),
    })
}

/// Lines longer than this take the escape-aware way through their strings.
const PLAIN_MAX: usize = 2048;

/// The quotes of a plain line, a bit a byte: nearly every line holds no backslash, control
/// character or DEL, and then each string ends at the next quote. Found 64 bytes at a time
/// with vector compares, in the same pass that decides the line is plain.
struct Quotes([u64; PLAIN_MAX / 64]);

impl Quotes {
    /// The quotes of `b`, if it is plain and at most [`PLAIN_MAX`] bytes long. The blocks are
    /// classified by the usage reader's vector classifier (DEL, which it does not look for, is
    /// searched for apart).
    fn of(b: &[u8]) -> Option<Quotes> {
        if b.len() > PLAIN_MAX || memchr::memchr(0x7f, b).is_some() {
            return None;
        }
        let mut quotes = Quotes([0; PLAIN_MAX / 64]);
        let (mut word, mut special) = (0, 0);
        crate::usage::json::indexed::masks(b, |m| {
            quotes.0[word] = m.quote;
            special |= m.backslash | m.control;
            word += 1;
        });
        (special == 0).then_some(quotes)
    }

    /// The first quote at or after `i`.
    #[inline]
    fn next(&self, i: usize) -> Option<usize> {
        let mut w = i / 64;
        let mut bits = self.0.get(w)? & (u64::MAX << (i % 64));
        while bits == 0 {
            w += 1;
            bits = *self.0.get(w)?;
        }
        Some(w * 64 + bits.trailing_zeros() as usize)
    }
}

/// Whether `hex` spells `digest` in lowercase hex, as Steward writes hashes (any other
/// spelling cannot match): the digest is spelled and compared, nothing is decoded.
fn is_lower_hex_of(hex: &str, digest: &[u8; 32]) -> bool {
    let mut spelled = [0u8; 64];
    for (pair, &d) in spelled.chunks_exact_mut(2).zip(digest) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(d)]);
    }
    hex.as_bytes() == spelled
}

/// Each byte's two lowercase hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
        i += 1;
    }
    pairs
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{canonical_json, entry_hash, AuditEntry, GENESIS};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    #[test]
    fn hashes_match_only_in_lowercase_hex() {
        let digest: [u8; 32] = Sha256::digest(b"steward").into();
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
            let p = canonical(&text, &mut Vec::new()).expect("canonical");
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
            if let Some(p) = canonical(&changed, &mut Vec::new()) {
                prop_assert!(!p.hash_ok || p.hash != e.hash || p.seq != e.seq || p.prev_hash != e.prev_hash);
            }
        }
    }

    #[test]
    fn long_lines_are_checked_whatever_their_length() {
        // Content on the stack and in the heap; quotes found by mask and by the byte loop.
        for n in [10, 900, 1500, PLAIN_MAX, 5000] {
            let e = entry("a".into(), "s".into(), json!({ "note": "x".repeat(n) }));
            let text = line(&e);
            let p = canonical(&text, &mut Vec::new()).expect("canonical");
            assert!(p.hash_ok, "{n}");
            let changed = text.replacen("xxx", "xyx", 1);
            assert!(
                !canonical(&changed, &mut Vec::new())
                    .expect("canonical")
                    .hash_ok,
                "{n}"
            );
        }
    }

    #[test]
    fn other_spellings_take_the_general_path() {
        let e = entry("a".into(), "s".into(), json!({"k": 1}));
        let text = line(&e);
        assert!(canonical(&text, &mut Vec::new()).is_some());
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
            assert!(canonical(&other, &mut Vec::new()).is_none(), "{other}");
        }
    }
}
