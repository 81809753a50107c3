//! A small validating JSON reader for the hot path of an audit import.
//!
//! It walks a document once, left to right: the caller asks for the members it wants and the
//! reader checks the grammar (RFC 8259) of everything, skipped values included. Strings are
//! borrowed from the input unless they carry escapes, so a typical AuditEvent line is read
//! without building a tree or allocating. The input is a `&str`: UTF-8 is checked once, by
//! the caller, for a whole block of lines.

use std::borrow::Cow;

pub mod indexed;

/// Objects and arrays nested deeper than this are rejected.
pub const MAX_DEPTH: u32 = 128;

/// A grammar error, with the column (1-based byte offset) it was found at.
pub type Res<T> = Result<T, String>;

/// What a caller reads a document with: [`Reader`] byte by byte, or the [`indexed`] fast path
/// over a line's token positions. Both check the whole grammar and agree on every input.
pub trait Json<'a>: Sized {
    /// Takes a `null` if one is next.
    fn null(&mut self) -> Res<bool>;
    fn boolean(&mut self) -> Res<bool>;
    /// A string, borrowed unless it carries escapes.
    fn string(&mut self) -> Res<Cow<'a, str>>;
    /// Takes any value, checking its grammar.
    fn skip(&mut self) -> Res<()>;
    /// Fails unless only whitespace is left.
    fn end(&mut self) -> Res<()>;
    /// The first byte of the next value, if any, without taking it.
    fn ahead(&mut self) -> Option<u8>;
    /// Enters the container that `open` starts; `false` when it is empty (and so already left).
    fn begin(&mut self, open: u8, close: u8) -> Res<bool>;
    /// A member name, as its [`tag`], and the colon after it.
    fn name(&mut self) -> Res<u128>;
    /// Whether the container goes on (`,`) or ends (`close`, and is left).
    fn more(&mut self, close: u8) -> Res<bool>;

    /// An object: `member` is called with the [`tag`] of each name and must take its value.
    /// A member whose value is `null` is taken here, as if it were absent.
    fn object(&mut self, mut member: impl FnMut(&mut Self, u128) -> Res<()>) -> Res<()> {
        if !self.begin(b'{', b'}')? {
            return Ok(());
        }
        loop {
            let key = self.name()?;
            if !self.null()? {
                member(self, key)?;
            }
            if !self.more(b'}')? {
                return Ok(());
            }
        }
    }

    /// An array: `item` is called for each element and must take it.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Res<()>) -> Res<()> {
        if !self.begin(b'[', b']')? {
            return Ok(());
        }
        loop {
            item(self)?;
            if !self.more(b']')? {
                return Ok(());
            }
        }
    }
}

pub struct Reader<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
}

/// A member name as one number, so that matching names is a switch on integers rather than a
/// string compare per arm: the bytes of a name of at most 15 bytes and its length. Longer
/// names are all 0, which no name of 1 to 15 bytes is.
pub const fn tag(name: &str) -> u128 {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return 0;
    }
    let mut v = (b.len() as u128) << 120;
    let mut i = 0;
    while i < b.len() {
        v |= (b[i] as u128) << (8 * i);
        i += 1;
    }
    v
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The lowest byte of `w` that is a quote, a backslash or a control character, if any
/// (eight bytes at a time; exact for the lowest byte, which is all that is used).
#[inline]
fn special(w: u64) -> Option<usize> {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let hits = zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
    (hits != 0).then(|| (hits.trailing_zeros() / 8) as usize)
}

/// The end of the number that starts at `at` (RFC 8259 grammar), or where it breaks.
fn number_end(b: &[u8], at: usize) -> Result<usize, usize> {
    let digits = |j: &mut usize| {
        let from = *j;
        while b.get(*j).is_some_and(u8::is_ascii_digit) {
            *j += 1;
        }
        *j > from
    };
    let mut j = at;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    let ok = match b.get(j) {
        Some(b'0') => {
            j += 1;
            true
        }
        _ => digits(&mut j),
    } && (b.get(j) != Some(&b'.') || {
        j += 1;
        digits(&mut j)
    }) && (!matches!(b.get(j), Some(b'e' | b'E')) || {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        digits(&mut j)
    });
    if ok {
        Ok(j)
    } else {
        Err(j)
    }
}

/// `LOW[n]` keeps the low `n` bytes of a 16-byte word.
const LOW: [u128; 16] = {
    let mut m = [0u128; 16];
    let mut n = 1;
    while n < 16 {
        m[n] = (1u128 << (8 * n)) - 1;
        n += 1;
    }
    m
};

/// The [`tag`] of a name of `len` bytes at `at`, from one 16-byte load when there are 16
/// bytes to load.
#[inline]
fn tag_at(b: &[u8], at: usize, len: usize) -> Option<u128> {
    let w = b.get(at..)?.first_chunk::<16>()?;
    (1..16)
        .contains(&len)
        .then(|| tag_of_word(u128::from_le_bytes(*w), len))
}

/// The [`tag`] of the name in the low `len` bytes (1 to 15) of `word`.
#[inline]
fn tag_of_word(word: u128, len: usize) -> u128 {
    word & LOW[len] | (len as u128) << 120
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader {
            text,
            at: 0,
            depth: 0,
        }
    }

    fn err<T>(&self, what: &str) -> Res<T> {
        Err(format!("{what} at column {}", self.at + 1))
    }

    /// The next byte that is not whitespace, without taking it.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        let b = self.text.as_bytes();
        while let Some(&c) = b.get(self.at) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(c);
            }
            self.at += 1;
        }
        None
    }

    fn literal(&mut self, word: &str) -> Res<()> {
        if self.text.as_bytes()[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            self.err("expected a value")
        }
    }

    /// A member name, as its [`tag`]. A name of up to 15 bytes without escapes (all the
    /// names read) is found in one 16-byte load; anything else takes the general path.
    fn key(&mut self) -> Res<u128> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string");
        }
        let start = self.at + 1;
        let b = self.text.as_bytes();
        if let Some(w) = b.get(start..).and_then(<[u8]>::first_chunk::<16>) {
            let v = u128::from_le_bytes(*w);
            let len = match special(v as u64) {
                Some(k) => k,
                None => 8 + special((v >> 64) as u64).unwrap_or(8),
            };
            if (1..16).contains(&len) && w[len] == b'"' {
                self.at = start + len + 1;
                return Ok(tag_of_word(v, len));
            }
        }
        self.string().map(|k| tag(&k))
    }

    /// The rest of a string from the first backslash (at `self.at`), unescaped.
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, start: usize) -> Res<String> {
        let b = self.text.as_bytes();
        let mut out = String::with_capacity(self.at - start + 16);
        out.push_str(&self.text[start..self.at]);
        loop {
            let run = self.at;
            while let Some(&c) = b.get(self.at) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(&self.text[run..self.at]);
            match b.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let c = match b.get(self.at + 1) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 2;
                            out.push(self.unicode()?);
                            continue;
                        }
                        _ => return self.err("invalid escape"),
                    };
                    out.push(c);
                    self.at += 2;
                }
                Some(_) => return self.err("control character in a string"),
                None => return self.err("unterminated string"),
            }
        }
    }

    fn hex4(&mut self) -> Res<u32> {
        let digits = self.text.get(self.at..self.at + 4).unwrap_or("");
        match u32::from_str_radix(digits, 16) {
            Ok(v) if digits.bytes().all(|c| c.is_ascii_hexdigit()) => {
                self.at += 4;
                Ok(v)
            }
            _ => self.err("invalid \\u escape"),
        }
    }

    /// The character of a `\u` escape (after the `\u`), a surrogate pair read whole.
    fn unicode(&mut self) -> Res<char> {
        let hi = self.hex4()?;
        let code = match hi {
            0xD800..=0xDBFF => {
                if !self.text.as_bytes()[self.at..].starts_with(b"\\u") {
                    return self.err("lone surrogate in a \\u escape");
                }
                self.at += 2;
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return self.err("lone surrogate in a \\u escape");
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.err("lone surrogate in a \\u escape"),
            v => v,
        };
        char::from_u32(code).map_or_else(|| self.err("invalid \\u escape"), Ok)
    }

    fn number(&mut self) -> Res<()> {
        let end = number_end(self.text.as_bytes(), self.at);
        self.at = end.unwrap_or_else(|at| at);
        match end {
            Ok(_) => Ok(()),
            Err(_) => self.err("invalid number"),
        }
    }
}

impl<'a> Json<'a> for Reader<'a> {
    fn ahead(&mut self) -> Option<u8> {
        self.peek()
    }

    fn end(&mut self) -> Res<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.err("trailing characters"),
        }
    }

    #[inline]
    fn null(&mut self) -> Res<bool> {
        if self.peek() == Some(b'n') {
            self.literal("null")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn boolean(&mut self) -> Res<bool> {
        match self.peek() {
            Some(b't') => self.literal("true").map(|_| true),
            Some(b'f') => self.literal("false").map(|_| false),
            _ => self.err("expected a boolean"),
        }
    }

    fn string(&mut self) -> Res<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string");
        }
        let b = self.text.as_bytes();
        let start = self.at + 1;
        let Some(len) = memchr::memchr2(b'"', b'\\', &b[start..]) else {
            self.at = b.len();
            return self.err("unterminated string");
        };
        let end = start + len;
        // No control characters before the end: checked without a branch a byte.
        if b[start..end].iter().fold(false, |any, &c| any | (c < 0x20)) {
            self.at = start + b[start..end].iter().position(|&c| c < 0x20).unwrap_or(0);
            return self.err("control character in a string");
        }
        self.at = end;
        if b[end] == b'"' {
            self.at = end + 1;
            Ok(Cow::Borrowed(&self.text[start..end]))
        } else {
            self.escaped(start).map(Cow::Owned)
        }
    }

    fn begin(&mut self, open: u8, close: u8) -> Res<bool> {
        if self.peek() != Some(open) {
            return self.err(if open == b'{' {
                "expected an object"
            } else {
                "expected an array"
            });
        }
        if self.depth >= MAX_DEPTH {
            return self.err("nested too deeply");
        }
        self.at += 1;
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(false);
        }
        self.depth += 1;
        Ok(true)
    }

    fn name(&mut self) -> Res<u128> {
        let key = self.key()?;
        if self.peek() != Some(b':') {
            return self.err("expected ':'");
        }
        self.at += 1;
        Ok(key)
    }

    fn more(&mut self, close: u8) -> Res<bool> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.at += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => self.err(if close == b'}' {
                "expected ',' or '}'"
            } else {
                "expected ',' or ']'"
            }),
        }
    }

    fn skip(&mut self) -> Res<()> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => self.object(|r, _| r.skip()),
            Some(b'[') => self.array(Self::skip),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("expected a value"),
            None => self.err("unexpected end of input"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn valid(text: &str) -> Res<()> {
        let mut r = Reader::new(text);
        r.skip()?;
        r.end()
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let mut r = Reader::new(r#" "plain text, longer than eight bytes" "#);
        assert!(matches!(
            r.string(),
            Ok(Cow::Borrowed("plain text, longer than eight bytes"))
        ));
        let mut r = Reader::new(r#""tab\there \u00e9 \ud83d\ude00 \"q\" \\ \/""#);
        assert_eq!(
            r.string().expect("escaped"),
            "tab\there \u{e9} \u{1f600} \"q\" \\ /"
        );
    }

    #[test]
    fn bad_grammar_is_named_with_its_column() {
        for (text, what) in [
            (r#"{"a":1,}"#, "expected a string at column 8"),
            (r#"{"a" 1}"#, "expected ':'"),
            (r#"[1 2]"#, "expected ',' or ']'"),
            (r#""\q""#, "invalid escape"),
            (r#""\u12g4""#, "invalid \\u escape"),
            (r#""\ud800x""#, "lone surrogate"),
            ("\"a\u{1}b\"", "control character"),
            (r#""open"#, "unterminated string"),
            ("01", "trailing characters"),
            ("-", "invalid number"),
            ("1.", "invalid number"),
            ("1e+", "invalid number"),
            ("tru", "expected a value"),
            ("{} {}", "trailing characters"),
            ("", "unexpected end"),
        ] {
            let e = valid(text).expect_err(text);
            assert!(e.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn tags_tell_names_apart() {
        assert_ne!(tag("a"), tag("a\u{0}"));
        assert_ne!(tag("type"), tag("typ"));
        assert_eq!(tag("resourceType"), tag(&String::from("resourceType")));
        assert_eq!(tag("sixteen-bytes-xx"), 0);
        let mut seen = Vec::new();
        Reader::new(r#"{"a\u0062":1,"c":{"d":2}}"#)
            .object(|r, k| {
                seen.push(k);
                r.skip()
            })
            .expect("an object");
        assert_eq!(seen, [tag("ab"), tag("c")]);
    }

    #[test]
    fn nesting_is_limited() {
        let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(valid(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert!(valid(&deep)
            .expect_err("too deep")
            .contains("nested too deeply"));
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        crate::test_json::values(any::<String>().boxed(), ".*", true)
    }

    proptest! {
        /// Whatever serde_json writes, this reads; every string comes back as written.
        #[test]
        fn agrees_with_serde_json_on_valid_documents(v in json(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&v)
            } else {
                serde_json::to_string(&v)
            }
            .expect("serializes");
            prop_assert!(valid(&text).is_ok(), "{}", text);
            if let serde_json::Value::String(s) = &v {
                prop_assert_eq!(Reader::new(&text).string().expect("a string"), s.as_str());
            }
        }

        /// On any text, accepts exactly what serde_json accepts.
        #[test]
        fn accepts_what_serde_json_accepts(text in "[\\[\\]{}\",:a-z0-9\\\\ .eE+-]{0,24}") {
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
            prop_assert_eq!(valid(&text).is_ok(), theirs, "{}", text);
        }
    }
}
