//! The fast path of the reader, for lines without backslashes.
//!
//! Stage one classifies a line 64 bytes at a time (AVX-512, AVX2 or SSE2 vectors on x86-64,
//! byte by byte elsewhere): quotes, structural characters, whitespace and control characters
//! become bit masks, the bytes inside strings are found with a prefix XOR of the quote mask,
//! and the positions of the tokens are listed: every quote, every structural character outside a
//! string, and the first byte of every other run of bytes outside strings (a number, a
//! literal, or garbage). A control character inside a string, a backslash anywhere or an
//! unterminated string sends the line to [`Reader`](super::Reader).
//!
//! Stage two checks the grammar over those positions: a string is the span between two listed
//! quotes (its bytes are not scanned again), a skipped value is one loop over its tokens. Any
//! error here also sends the line to [`Reader`](super::Reader), which names it: the two paths
//! accept the same texts and read the same values (property-tested below).

use std::borrow::Cow;
use std::cell::RefCell;

use super::{number_end, tag, tag_at, Json, Res, MAX_DEPTH};
use crate::fenced::Level;

/// The masks of one 64-byte block, a bit a byte.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Masks {
    pub(crate) quote: u64,
    pub(crate) backslash: u64,
    pub(crate) structural: u64,
    pub(crate) space: u64,
    /// Bytes below 0x20.
    pub(crate) control: u64,
}

/// The masks of a block, one byte at a time: the reference the vector code is tested against.
pub(crate) fn classify_bytes(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (i, &c) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match c {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'}' | b'[' | b']' | b':' | b',' => m.structural |= bit,
            _ => {}
        }
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            m.space |= bit;
        }
        if c < 0x20 {
            m.control |= bit;
        }
    }
    m
}

/// Each bit the XOR of itself and all the bits below it: set from an opening quote up to the
/// byte before its closing quote.
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Writes the token positions of `text` to the front of `out` with `classify` and returns
/// how many there are; `None` when the line is for the byte-by-byte reader (a backslash, a
/// control character in a string, an unterminated string, or a line of 4 GiB). `out` is
/// scratch space: it grows as needed and is never shrunk.
#[inline(always)]
pub(crate) fn index_with(
    text: &[u8],
    out: &mut Vec<u32>,
    classify: impl Fn(&[u8; 64]) -> Masks,
    flatten: impl Fn(u64, u32, &mut [u32; 64]),
) -> Option<usize> {
    u32::try_from(text.len()).ok()?;
    let mut state = State::default();
    let mut chunks = text.chunks_exact(64);
    for (i, c) in chunks.by_ref().enumerate() {
        let Some(c) = c.first_chunk::<64>() else {
            unreachable!("chunks of 64")
        };
        state.block(i * 64, classify(c), out, &flatten)?;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut tail = [b' '; 64];
        tail[..rest.len()].copy_from_slice(rest);
        state.block(text.len() - rest.len(), classify(&tail), out, &flatten)?;
    }
    (state.in_string == 0).then_some(state.len)
}

/// What one block hands to the next.
#[derive(Default)]
struct State {
    /// All ones when the block ended inside a string.
    in_string: u64,
    /// 1 when the block ended in a run of bytes that are not structure, space or string.
    in_run: u64,
    /// Positions written.
    len: usize,
}

impl State {
    #[inline(always)]
    fn block(
        &mut self,
        base: usize,
        m: Masks,
        out: &mut Vec<u32>,
        flatten: impl Fn(u64, u32, &mut [u32; 64]),
    ) -> Option<()> {
        if m.backslash != 0 {
            return None;
        }
        let inside = prefix_xor(m.quote) ^ self.in_string;
        self.in_string = ((inside as i64) >> 63) as u64;
        if m.control & inside & !m.quote != 0 {
            return None;
        }
        let outside = !inside & !m.quote;
        let run = outside & !m.structural & !m.space;
        let starts = run & !(run << 1 | self.in_run);
        self.in_run = run >> 63;
        let tokens = m.quote | (m.structural & outside) | starts;
        let len = self.len;
        if out.len() < len + 64 {
            out.resize(len + 64, 0);
        }
        let Some(to) = out
            .get_mut(len..len + 64)
            .and_then(|t| t.first_chunk_mut::<64>())
        else {
            unreachable!("resized above")
        };
        self.len += tokens.count_ones() as usize;
        flatten(tokens, base as u32, to);
        Some(())
    }
}

/// Writes `base` plus the place of each set bit of `tokens` to the front of `to`, four at a
/// time without a branch a token: the writes past the last one are overwritten by the next
/// block or never read.
#[inline(always)]
pub(crate) fn flatten(mut tokens: u64, base: u32, to: &mut [u32; 64]) {
    let mut j = 0;
    while tokens != 0 {
        for slot in &mut to[j..j + 4] {
            *slot = base.wrapping_add(tokens.trailing_zeros());
            tokens &= tokens.wrapping_sub(1);
        }
        j += 4;
    }
}

/// Writes the token positions of `text` to the front of `out` with the classifier of `level`
/// (the bytes one at a time where the CPU lacks it), see [`index_with`].
pub(crate) fn index_at(level: Level, text: &[u8], out: &mut Vec<u32>) -> Option<usize> {
    match crate::fenced::json::index(level, text, out) {
        Some(n) => n,
        None => index_with(text, out, classify_bytes, flatten),
    }
}

/// [`index_at`] the best level this CPU has.
#[cfg(test)]
fn index(text: &[u8], out: &mut Vec<u32>) -> Option<usize> {
    index_at(Level::best(), text, out)
}

thread_local! {
    static POSITIONS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Reads `text` with `f` over its token positions. `None` when the fast path does not take
/// the line or finds it malformed: the caller then reads it with [`Reader`](super::Reader),
/// which accepts or rejects it the same way and names what is wrong.
pub fn read<'a, T>(text: &'a str, f: impl FnOnce(&mut Indexed<'a, '_>) -> Res<T>) -> Option<T> {
    read_at(Level::best(), text, f)
}

/// [`read`] with the classifier of `level`.
fn read_at<'a, T>(
    level: Level,
    text: &'a str,
    f: impl FnOnce(&mut Indexed<'a, '_>) -> Res<T>,
) -> Option<T> {
    POSITIONS.with(|p| {
        let mut p = p.try_borrow_mut().ok()?;
        let n = index_at(level, text.as_bytes(), &mut p)?;
        f(&mut Indexed::new(text, &p[..n])).ok()
    })
}

/// A reader over the token positions of one line. Its errors carry no message: the line is
/// read again by [`Reader`](super::Reader) for that.
pub struct Indexed<'a, 'i> {
    text: &'a str,
    at: &'i [u32],
    k: usize,
    depth: u32,
}

fn fail<T>() -> Res<T> {
    Err(String::new())
}

impl<'a, 'i> Indexed<'a, 'i> {
    fn new(text: &'a str, at: &'i [u32]) -> Self {
        Indexed {
            text,
            at,
            k: 0,
            depth: 0,
        }
    }

    /// The position of the token `k` from here, if there is one.
    #[inline]
    fn pos(&self, k: usize) -> Option<usize> {
        self.at.get(self.k + k).map(|&p| p as usize)
    }

    /// The byte of the next token; 0 at the end (never a valid token).
    #[inline]
    fn peek(&self) -> u8 {
        self.pos(0).map_or(0, |p| self.text.as_bytes()[p])
    }

    /// Takes a number or literal that ends at `end`: only whitespace may follow it up to the
    /// next token.
    fn scalar(&mut self, end: usize) -> Res<()> {
        self.k += 1;
        let next = self.pos(0).unwrap_or(self.text.len());
        match self.text.as_bytes().get(end..next) {
            Some(gap)
                if gap
                    .iter()
                    .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) =>
            {
                Ok(())
            }
            _ => fail(),
        }
    }

    fn literal(&mut self, word: &str) -> Res<()> {
        let at = self.pos(0).unwrap_or(usize::MAX);
        match self.text.as_bytes().get(at..) {
            Some(b) if b.starts_with(word.as_bytes()) => self.scalar(at + word.len()),
            _ => fail(),
        }
    }

    /// The span between the opening quote here and the next listed quote, which closes it.
    #[inline]
    fn span(&mut self) -> Res<(usize, usize)> {
        if self.peek() != b'"' {
            return fail();
        }
        let (Some(open), Some(close)) = (self.pos(0), self.pos(1)) else {
            return fail();
        };
        self.k += 2;
        Ok((open + 1, close))
    }

    #[inline]
    fn take(&mut self, c: u8) -> Res<()> {
        if self.peek() != c {
            return fail();
        }
        self.k += 1;
        Ok(())
    }
}

impl<'a> Json<'a> for Indexed<'a, '_> {
    fn ahead(&mut self) -> Option<u8> {
        self.pos(0).map(|p| self.text.as_bytes()[p])
    }

    fn end(&mut self) -> Res<()> {
        if self.k == self.at.len() {
            Ok(())
        } else {
            fail()
        }
    }

    #[inline]
    fn null(&mut self) -> Res<bool> {
        if self.peek() == b'n' {
            self.literal("null")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn boolean(&mut self) -> Res<bool> {
        match self.peek() {
            b't' => self.literal("true").map(|_| true),
            b'f' => self.literal("false").map(|_| false),
            _ => fail(),
        }
    }

    #[inline]
    fn string(&mut self) -> Res<Cow<'a, str>> {
        let (from, to) = self.span()?;
        // Both ends are next to a quote, so on character boundaries; `get` all the same.
        self.text
            .get(from..to)
            .map_or_else(fail, |s| Ok(Cow::Borrowed(s)))
    }

    fn begin(&mut self, open: u8, close: u8) -> Res<bool> {
        if self.depth >= MAX_DEPTH {
            return fail();
        }
        self.take(open)?;
        if self.peek() == close {
            self.k += 1;
            return Ok(false);
        }
        self.depth += 1;
        Ok(true)
    }

    #[inline]
    fn name(&mut self) -> Res<u128> {
        // The opening quote, the closing quote and the colon: three tokens read at once.
        let Some(&[open, close, colon]) = self.at.get(self.k..).and_then(<[u32]>::first_chunk)
        else {
            return fail();
        };
        let (open, close, colon) = (open as usize, close as usize, colon as usize);
        let b = self.text.as_bytes();
        if b.get(open) != Some(&b'"') || b.get(colon) != Some(&b':') {
            return fail();
        }
        self.k += 3;
        let from = open + 1;
        match tag_at(b, from, close.saturating_sub(from)) {
            Some(t) => Ok(t),
            None => self.text.get(from..close).map_or_else(fail, |s| Ok(tag(s))),
        }
    }

    #[inline]
    fn more(&mut self, close: u8) -> Res<bool> {
        match self.peek() {
            b',' => {
                self.k += 1;
                Ok(true)
            }
            c if c == close => {
                self.k += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => fail(),
        }
    }

    /// One loop over the tokens with the open containers as a stack of bits, rather than a
    /// call per member: most of a line is skipped.
    fn skip(&mut self) -> Res<()> {
        // Bit i: the container at relative depth i + 1 is an object.
        let (mut objects, mut depth) = (0u128, 0u32);
        loop {
            // A value is expected.
            match self.peek() {
                b'"' => {
                    self.span()?;
                }
                c @ (b'{' | b'[') => {
                    if self.depth + depth >= MAX_DEPTH {
                        return fail();
                    }
                    self.k += 1;
                    let object = c == b'{';
                    if self.peek() == if object { b'}' } else { b']' } {
                        self.k += 1;
                    } else {
                        objects = objects << 1 | u128::from(object);
                        depth += 1;
                        if object {
                            self.name()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                b'-' | b'0'..=b'9' => {
                    let at = self.pos(0).unwrap_or(0);
                    match number_end(self.text.as_bytes(), at) {
                        Ok(end) => self.scalar(end)?,
                        Err(_) => return fail(),
                    }
                }
                _ => return fail(),
            }
            // A value is complete: the containers it ends are closed.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let object = objects & 1 == 1;
                match self.peek() {
                    b',' => {
                        self.k += 1;
                        if object {
                            self.name()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return fail(),
                }
                self.k += 1;
                objects >>= 1;
                depth -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Reader;
    use super::*;
    use proptest::prelude::*;

    fn valid<'a>(r: &mut impl Json<'a>) -> Res<()> {
        r.skip()?;
        r.end()
    }

    /// Every value of a document in order, through the [`Json`] calls alone.
    fn collect<'a>(r: &mut impl Json<'a>, out: &mut Vec<String>) -> Res<()> {
        match r.ahead() {
            Some(b'{') => r.object(|r, k| {
                out.push(format!("name {k:x}"));
                collect(r, out)
            }),
            Some(b'[') => r.array(|r| collect(r, out)),
            Some(b'"') => r.string().map(|s| out.push(format!("string {s}"))),
            Some(b't' | b'f') => r.boolean().map(|b| out.push(format!("{b}"))),
            Some(b'n') => r.null().map(|_| out.push("null".into())),
            _ => r.skip().map(|_| out.push("number".into())),
        }
    }

    /// What the fast path makes of `text`: `None` when it leaves the line to [`Reader`].
    fn fast(text: &str) -> Option<Result<(), ()>> {
        let mut p = Vec::new();
        let n = index(text.as_bytes(), &mut p)?;
        Some(valid(&mut Indexed::new(text, &p[..n])).map_err(drop))
    }

    #[test]
    fn the_vector_masks_match_the_bytes() {
        let mut block = [0u8; 64];
        for start in (0..=255u8).step_by(64) {
            for (i, b) in block.iter_mut().enumerate() {
                *b = start.wrapping_add(i as u8);
            }
            #[cfg(target_arch = "x86_64")]
            for level in Level::ALL {
                if let Some(m) = crate::fenced::json::x86::classify(level, &block) {
                    assert_eq!(m, classify_bytes(&block), "{level:?}");
                }
            }
        }
    }

    proptest! {
        /// Every way of listing a block's tokens lists the places of its set bits, in order.
        #[test]
        fn token_places_are_the_set_bits(tokens in any::<u64>(), base in any::<u32>()) {
            let expected: Vec<u32> = (0..64)
                .filter(|i| tokens >> i & 1 == 1)
                .map(|i| base.wrapping_add(i))
                .collect();
            let mut to = [0; 64];
            flatten(tokens, base, &mut to);
            prop_assert_eq!(&to[..expected.len()], &expected[..]);
            #[cfg(target_arch = "x86_64")]
            if let Some(vector) = crate::fenced::json::x86::flattened_avx512(tokens, base) {
                prop_assert_eq!(vector, expected);
            }
        }
    }

    #[test]
    fn tokens_are_quotes_structure_and_the_starts_of_other_runs() {
        let text = r#"{"a": [true, -1.5e3, "x,y"], "b":null}"#;
        let mut p = Vec::new();
        let n = index_with(text.as_bytes(), &mut p, classify_bytes, flatten).expect("taken");
        let listed: String = p[..n]
            .iter()
            .map(|&i| text.as_bytes()[i as usize] as char)
            .collect();
        assert_eq!(listed, r#"{"":[t,-,""],"":n}"#);
        for refused in ["\"a\\\"b\"", "\"a\tb\"", "[\"open"] {
            assert_eq!(
                index_with(refused.as_bytes(), &mut p, classify_bytes, flatten),
                None,
                "{refused:?}"
            );
        }
    }

    #[test]
    fn nesting_is_limited_as_the_reader_limits_it() {
        for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
            let nest = |n: usize| format!("{}{}{}", open.repeat(n), "1", close.repeat(n));
            assert_eq!(fast(&nest(128)), Some(Ok(())));
            assert_eq!(fast(&nest(129)), Some(Err(())));
            assert!(valid(&mut Reader::new(&nest(129))).is_err());
        }
        assert_eq!(
            fast(&format!("{}{}", "[".repeat(129), "]".repeat(129))),
            Some(Err(()))
        );
    }

    #[test]
    fn a_line_over_many_blocks_is_read_whole() {
        let value = "v".repeat(150);
        let text = format!(r#"{{"k":"{value}","n":[1,2,{{"deep":"{value}"}}],"t":true}}"#);
        let (mut quick, mut slow) = (Vec::new(), Vec::new());
        collect(&mut Reader::new(&text), &mut slow).expect("valid");
        read(&text, |r| collect(r, &mut quick)).expect("the fast path takes it");
        assert_eq!(quick, slow);
    }

    fn documents() -> impl Strategy<Value = serde_json::Value> {
        crate::test_json::values(any::<String>().boxed(), ".*", true)
    }

    proptest! {
        /// On any text of JSON's characters, the fast path accepts exactly what the
        /// byte-by-byte reader accepts, or leaves the line to it.
        #[test]
        fn accepts_what_the_reader_accepts(text in "[\\[\\]{}\",:a-z0-9 .eE+\t\x01-]{0,200}") {
            if let Some(fast) = fast(&text) {
                let slow = valid(&mut Reader::new(&text)).map_err(drop);
                prop_assert_eq!(fast, slow, "{:?}", text);
            }
        }

        /// On any text at all (any characters, a quote or brace anywhere), the fast path never
        /// panics and accepts nothing the reader rejects.
        #[test]
        fn never_accepts_what_the_reader_rejects(text in "(.|[\"{}\\[\\]:,])*") {
            if fast(&text) == Some(Ok(())) {
                prop_assert!(valid(&mut Reader::new(&text)).is_ok(), "{:?}", text);
            }
        }

        /// Every document serde_json writes is read the same way by both paths: the same
        /// names, strings and values in the same order.
        #[test]
        fn reads_what_the_reader_reads(v in documents(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }
                .expect("serializes");
            let mut slow = Vec::new();
            prop_assert!(collect(&mut Reader::new(&text), &mut slow).is_ok(), "{}", text);
            let mut quick = Vec::new();
            if read(&text, |r| collect(r, &mut quick)).is_some() {
                prop_assert_eq!(quick, slow);
            }
        }

        /// Every level this CPU has, forced: on what serde_json writes, the values the reader
        /// reads; on any text, nothing serde_json refuses.
        #[test]
        fn every_level_reads_what_the_reader_reads(
            v in documents(),
            junk in "[\\[\\]{}\",:a-z0-9 .eE+\t-]{0,90}",
        ) {
            let text = serde_json::to_string(&v).expect("serializes");
            let mut slow = Vec::new();
            prop_assert!(collect(&mut Reader::new(&text), &mut slow).is_ok(), "{}", text);
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&junk).is_ok();
            for level in Level::ALL.into_iter().filter(|l| l.available()) {
                let mut quick = Vec::new();
                if read_at(level, &text, |r| collect(r, &mut quick)).is_some() {
                    prop_assert_eq!(&quick, &slow, "{:?}", level);
                }
                if read_at(level, &junk, |r| valid(r)).is_some() {
                    prop_assert!(theirs, "{:?} took {:?}", level, junk);
                }
            }
        }
    }
}
