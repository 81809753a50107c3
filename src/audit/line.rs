//! The fast way to check one exported audit line.
//!
//! An exported line is the canonical JSON of an entry: keys sorted, compact, strings escaped
//! as `jq -c` escapes them (serde_json's escapes, and DEL). When a line is exactly that, the canonical JSON of
//! `[seq, at, actor, action, subject, details, prev_hash]` that the entry's hash covers is
//! made of the line's own pieces, so the hash is checked without building any value. A line
//! that is anything else (whitespace, other key order, other escapes, a float) is not
//! refused here: it goes the general way, through `serde_json::Value`.

use super::digests::Messages;
use crate::fenced::Level;

/// Nesting allowed inside `details` on the fast path.
const MAX_DEPTH: u32 = 64;

/// The pieces of a canonical line, as slices of it.
pub struct Pieces<'a> {
    pub seq: i64,
    pub prev_hash: &'a str,
    pub hash: &'a str,
    /// The entry's content, among the messages to hash.
    pub content: usize,
}

/// The end of the canonical string that starts at `i` (a quote), if it is one. In a plain
/// line (see [`Quotes`]) a string ends at the next quote.
#[inline(always)]
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

/// The end of the canonical JSON value at `i` (`quotes` as for [`string`]): a string or a
/// number (nearly every value) here, anything else in [`other`].
#[inline(always)]
fn value(b: &[u8], i: usize, depth: u32, quotes: Option<&Quotes>) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *b.get(i)? {
        b'"' => string(b, i, quotes),
        b'-' | b'0'..=b'9' => integer(b, i),
        _ => other(b, i, depth, quotes),
    }
}

/// The end of the canonical literal, array or object at `i`.
#[inline(never)]
fn other(b: &[u8], i: usize, depth: u32, quotes: Option<&Quotes>) -> Option<usize> {
    match *b.get(i)? {
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
                if (quotes.is_none() && key.contains(&b'\\'))
                    || last.is_some_and(|l| !before(l, key))
                {
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
        _ => None,
    }
}

/// Reads a line that is the canonical JSON of an entry, and adds its content (what its hash
/// is of) to `contents`, to be hashed with others; `None` when the line is not in canonical
/// form or not UTF-8 (the caller then takes the general path, which says which).
pub fn canonical<'a>(b: &'a [u8], contents: &mut Messages) -> Option<Pieces<'a>> {
    let (quotes, ascii) = Quotes::of(b);
    // A line of ASCII bytes only (nearly all) is UTF-8 as it is: the scan for its quotes said
    // so. Any other is checked.
    if !ascii && simdutf8::basic::from_utf8(b).is_err() {
        return None;
    }
    // (Checked again, by the standard library: a pass over bytes in the cache, the cost of
    // not asserting it unchecked.)
    let line = std::str::from_utf8(b).ok()?;
    let quotes = quotes.as_ref();
    let string = |i| string(b, i, quotes);
    let mut i = 0;
    // Each member in key order: its name (with the separator before it), then its value,
    // whose place in the line is kept (byte positions: nothing is sliced as text twice).
    macro_rules! member {
        ($name:literal, $value:expr) => {{
            if b.get(i..i + $name.len()) != Some(&$name[..]) {
                return None;
            }
            let start = i + $name.len();
            i = $value(start)?;
            start..i
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
    // A string's text, inside its quotes (quotes are ASCII: these are character boundaries).
    let unquote = |r: std::ops::Range<usize>| line.get(r.start + 1..r.end - 1);
    let (hash, prev) = (unquote(hash)?, unquote(prev_hash.clone())?);
    let seq_value = line.get(seq.clone())?.parse().ok()?;
    // [seq, at, actor, action, subject, details, prev_hash], canonical.
    let content = contents.push(|content| {
        for (k, part) in [&seq, &at, &actor, &action, &subject, &details, &prev_hash]
            .into_iter()
            .enumerate()
        {
            content.push(if k == 0 { b'[' } else { b',' });
            content.extend_from_slice(&b[part.clone()]);
        }
        content.push(b']');
    });
    Some(Pieces {
        seq: seq_value,
        prev_hash: prev,
        hash,
        content,
    })
}

/// Whether key `a` sorts before key `b` (bytes order), compared where they are: keys are
/// short and nearly always differ in their first bytes.
#[inline]
fn before(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// Lines longer than this take the escape-aware way through their strings.
const PLAIN_MAX: usize = 2048;

/// The quotes of a plain line, a bit a byte: nearly every line holds no backslash, control
/// character or DEL, and then each string ends at the next quote. Found 64 bytes at a time
/// with vector compares, in the same pass that decides the line is plain.
struct Quotes([u64; PLAIN_MAX / 64]);

impl Quotes {
    /// The quotes of `b`, if it is plain and at most [`PLAIN_MAX`] bytes long; and whether it
    /// is all ASCII, as far as it was scanned (a longer line is not).
    fn of(b: &[u8]) -> (Option<Quotes>, bool) {
        if b.len() > PLAIN_MAX {
            return (None, false);
        }
        let mut quotes = Quotes([0; PLAIN_MAX / 64]);
        let found = scan(b, &mut quotes.0);
        (found.plain.then_some(quotes), found.ascii)
    }

    /// The first quote at or after `i`.
    #[inline(always)]
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

/// What [`scan`] finds in a line besides its quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// No backslash, control character or DEL.
    pub(crate) plain: bool,
    /// No byte above 0x7f.
    pub(crate) ascii: bool,
}

/// Sets a bit in `words` for each quote of `b` (at most 64 bytes a word) and says whether `b`
/// is plain and whether it is ASCII.
fn scan(b: &[u8], words: &mut [u64]) -> Found {
    scan_at(Level::best(), b, words)
}

/// [`scan`] with the vector code of `level` (a byte at a time where there is none).
fn scan_at(level: Level, b: &[u8], words: &mut [u64]) -> Found {
    crate::fenced::line::scan(level, b, words).unwrap_or_else(|| scan_bytes(b, words))
}

/// [`scan`] a byte at a time: where there is no vector code, and the reference the vector
/// code is tested against.
fn scan_bytes(b: &[u8], words: &mut [u64]) -> Found {
    let (mut special, mut high) = (false, false);
    for (word, chunk) in words.iter_mut().zip(b.chunks(64)) {
        *word = 0;
        for (i, &c) in chunk.iter().enumerate() {
            *word |= u64::from(c == b'"') << i;
            special |= (c < 0x20) | (c == b'\\') | (c == 0x7f);
            high |= c > 0x7f;
        }
    }
    Found {
        plain: !special,
        ascii: !high,
    }
}

/// Whether `hex` spells `digest` in lowercase hex, as Steward writes hashes (any other
/// spelling cannot match): the digest is spelled and compared, nothing is decoded.
pub fn is_lower_hex_of(hex: &str, digest: &[u8; 32]) -> bool {
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
    use sha2::Digest;

    #[test]
    fn hashes_match_only_in_lowercase_hex() {
        let digest: [u8; 32] = sha2::Sha256::digest(b"steward").into();
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

    /// A line read by [`super::canonical`], its content hashed.
    struct Checked<'a> {
        seq: i64,
        prev_hash: &'a str,
        hash: &'a str,
        hash_ok: bool,
    }

    fn canonical<'a>(b: &'a [u8], contents: &mut Messages) -> Option<Checked<'a>> {
        let p = super::canonical(b, contents)?;
        let digests = contents.digests();
        Some(Checked {
            seq: p.seq,
            prev_hash: p.prev_hash,
            hash: p.hash,
            hash_ok: is_lower_hex_of(p.hash, &digests[p.content]),
        })
    }

    proptest! {
        /// Every line Steward writes takes the fast path, and agrees with the general one.
        #[test]
        fn exported_lines_are_checked_without_values(
            actor in any::<String>(), subject in any::<String>(), d in details()
        ) {
            let e = entry(actor, subject, d);
            let text = line(&e);
            let p = canonical(text.as_bytes(), &mut Messages::default()).expect("canonical");
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
            if let Some(p) = canonical(changed.as_bytes(), &mut Messages::default()) {
                prop_assert!(!p.hash_ok || p.hash != e.hash || p.seq != e.seq || p.prev_hash != e.prev_hash);
            }
        }
    }

    /// A line's bytes, from the ones [`scan`] looks for and any other.
    fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            Just(b'"'),
            Just(b'\\'),
            Just(0x7f),
            0u8..0x20,
            0x20u8..0x80,
            0x80u8..=0xff,
        ];
        proptest::collection::vec(byte, 0..=PLAIN_MAX)
    }

    proptest! {
        /// The vector scan finds the quotes and the special bytes the byte loop finds.
        #[test]
        fn the_vector_scans_match_the_bytes(b in line_bytes()) {
            let mut bytes = [0u64; PLAIN_MAX / 64];
            let plain = scan_bytes(&b, &mut bytes);
            // Every level this CPU has, forced.
            for level in Level::ALL.into_iter().filter(|l| l.available()) {
                let mut vector = [0u64; PLAIN_MAX / 64];
                prop_assert_eq!(scan_at(level, &b, &mut vector), plain, "{:?}", level);
                prop_assert_eq!(vector, bytes, "{:?}", level);
            }
        }
    }

    #[test]
    fn a_special_byte_anywhere_makes_a_line_not_plain() {
        // In either half of a word, in the padded tail, first and last.
        let base = vec![b'a'; 150];
        let mut words = [0u64; PLAIN_MAX / 64];
        assert_eq!(
            scan(&base, &mut words),
            Found {
                plain: true,
                ascii: true
            }
        );
        for at in 0..base.len() {
            for special in [b'\\', 0x7f, 0x00, 0x1f, b'\n'] {
                let mut b = base.clone();
                b[at] = special;
                assert!(
                    !scan(&b, &mut [0u64; PLAIN_MAX / 64]).plain,
                    "{special} at {at}"
                );
            }
            let mut b = base.clone();
            b[at] = b'"';
            let mut words = [0u64; PLAIN_MAX / 64];
            assert!(scan(&b, &mut words).plain);
            assert_eq!(Quotes(words).next(0), Some(at));
            for high in [0x80, 0xc3, 0xff] {
                let mut b = base.clone();
                b[at] = high;
                let found = scan(&b, &mut [0u64; PLAIN_MAX / 64]);
                assert!(found.plain && !found.ascii, "{high} at {at}");
            }
        }
        assert!(Quotes::of(&vec![b'a'; PLAIN_MAX + 1]).0.is_none());
    }

    #[test]
    fn long_lines_are_checked_whatever_their_length() {
        // Content on the stack and in the heap; quotes found by mask and by the byte loop.
        for n in [10, 900, 1500, PLAIN_MAX, 5000] {
            let e = entry("a".into(), "s".into(), json!({ "note": "x".repeat(n) }));
            let text = line(&e);
            let p = canonical(text.as_bytes(), &mut Messages::default()).expect("canonical");
            assert!(p.hash_ok, "{n}");
            let changed = text.replacen("xxx", "xyx", 1);
            assert!(
                !canonical(changed.as_bytes(), &mut Messages::default())
                    .expect("canonical")
                    .hash_ok,
                "{n}"
            );
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_takes_the_general_path() {
        let e = entry("Zoë".into(), "s".into(), json!({"k": "é"}));
        let text = line(&e);
        assert!(canonical(text.as_bytes(), &mut Messages::default()).is_some_and(|p| p.hash_ok));
        for bad in ["ë", "é"] {
            let at = text.find(bad).expect("in the line");
            let mut bytes = text.clone().into_bytes();
            bytes[at + 1] = b'(';
            assert!(
                canonical(&bytes, &mut Messages::default()).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_spellings_take_the_general_path() {
        let e = entry("a".into(), "s".into(), json!({"k": 1}));
        let text = line(&e);
        assert!(canonical(text.as_bytes(), &mut Messages::default()).is_some());
        for other in [
            text.replace("{\"k\":1}", "{ \"k\": 1 }"),
            text.replace("{\"k\":1}", "{\"k\":1.0}"),
            text.replace("{\"k\":1}", "{\"k\":01}"),
            text.replace("{\"k\":1}", "{\"k\":1,\"a\":2}"),
            text.replace("{\"k\":1}", "{\"k\":1,\"k\":2}"),
            text.replace("{\"k\":1}", "{\"kk\":1,\"k\":2}"),
            text.replace("\"a\"", "\"\\u0061\""),
            text.replacen("{\"action\"", "{\"aaa\":0,\"action\"", 1),
            text.replace("\"seq\":7", "\"seq\":-0"),
            text.replace("{\"k\":1}", "{\"\\n\":1}"),
            format!("{text} "),
        ] {
            assert!(
                canonical(other.as_bytes(), &mut Messages::default()).is_none(),
                "{other}"
            );
        }
    }
}
