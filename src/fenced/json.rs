//! The vector classifiers of the usage import's JSON reader ([`usage::json::indexed`]
//! (crate::usage::json::indexed) holds the rest of it and the byte-at-a-time reference). Each
//! is compiled for its instruction set and called only where the CPU has it: SSE2 is part of
//! every x86-64 target, AVX2 and AVX-512 are detected at run time. With AVX-512 the token
//! places are listed with vector compresses too.

use super::Level;

/// Writes the token positions of `text` to the front of `out` with the classifier of `level`
/// (see [`index_with`](crate::usage::json::indexed::index_with)); `None` where this CPU lacks
/// `level` or it has no vector code (the caller then classifies the bytes one at a time).
#[allow(clippy::option_option)]
pub(crate) fn index(level: Level, text: &[u8], out: &mut Vec<u32>) -> Option<Option<usize>> {
    #[cfg(target_arch = "x86_64")]
    if level.available() {
        // SAFETY: the CPU has the level's instructions, checked just above (SSE2 is part of
        // every x86-64 build).
        return unsafe {
            match level {
                Level::Scalar => None,
                Level::Sse2 => Some(x86::index_sse2(text, out)),
                Level::Avx2 => Some(x86::index_avx2(text, out)),
                Level::Avx512 => Some(x86::index_avx512(text, out)),
            }
        };
    }
    let _ = (level, text, out);
    None
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    #[cfg(test)]
    use super::Level;
    use crate::usage::json::indexed::{flatten, index_with, Masks};
    use std::arch::x86_64::*;

    /// The bytes of `p` from `at` as a little-endian word.
    #[inline(always)]
    fn word(p: &[u8], at: usize) -> i64 {
        let mut w = [0; 8];
        w.copy_from_slice(&p[at..at + 8]);
        i64::from_le_bytes(w)
    }

    /// A classifier for one vector width: the same steps, spelled with each instruction set's
    /// intrinsics. Not inlined: where the masks meet the bit logic of `index_with`, the
    /// compiler turns them back into vectors of bytes, several times slower.
    macro_rules! classifier {
        ($name:ident, $feature:literal, $width:literal, $vector:ty, $mask:ty,
         load: $load:expr, eq: $eq:ident, splat: $splat:ident, or: $or:ident,
         min: $min:ident, movemask: $movemask:ident) => {
            #[inline(never)]
            #[target_feature(enable = $feature)]
            fn $name(block: &[u8; 64]) -> Masks {
                let mut m = Masks::default();
                for (i, p) in block.chunks_exact($width).enumerate() {
                    let v: $vector = $load(p);
                    let eq = |c: u8| $eq(v, $splat(c as i8));
                    // `[` and `{`, `]` and `}` differ only in bit 5.
                    let folded = $or(v, $splat(0x20));
                    let fold = |c: u8| $eq(folded, $splat(c as i8));
                    let structural = $or($or(fold(b'{'), fold(b'}')), $or(eq(b':'), eq(b',')));
                    let space = $or($or(eq(b' '), eq(b'\t')), $or(eq(b'\n'), eq(b'\r')));
                    // Unsigned `v <= 0x1f`.
                    let control = $eq($min(v, $splat(0x1f)), v);
                    let bits = |x: $vector| u64::from($movemask(x) as $mask) << ($width * i);
                    m.quote |= bits(eq(b'"'));
                    m.backslash |= bits(eq(b'\\'));
                    m.structural |= bits(structural);
                    m.space |= bits(space);
                    m.control |= bits(control);
                }
                m
            }
        };
    }

    classifier!(classify_sse2, "sse2", 16, __m128i, u16,
        load: |p: &[u8]| _mm_set_epi64x(word(p, 8), word(p, 0)),
        eq: _mm_cmpeq_epi8, splat: _mm_set1_epi8, or: _mm_or_si128,
        min: _mm_min_epu8, movemask: _mm_movemask_epi8);

    classifier!(classify_avx2, "avx2", 32, __m256i, u32,
        load: |p: &[u8]| _mm256_set_epi64x(word(p, 24), word(p, 16), word(p, 8), word(p, 0)),
        eq: _mm256_cmpeq_epi8, splat: _mm256_set1_epi8, or: _mm256_or_si256,
        min: _mm256_min_epu8, movemask: _mm256_movemask_epi8);

    /// With AVX-512BW a block is one vector and each compare gives its mask directly (no
    /// movemask, no halves to join), so the classifier is small enough to inline.
    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn classify_avx512(block: &[u8; 64]) -> Masks {
        // SAFETY: `block` is 64 readable bytes; the load has no alignment requirement.
        let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
        let eq = |c: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(c as i8));
        // `[` and `{`, `]` and `}` differ only in bit 5.
        let folded = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
        let fold = |c: u8| _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(c as i8));
        Masks {
            quote: eq(b'"'),
            backslash: eq(b'\\'),
            structural: fold(b'{') | fold(b'}') | eq(b':') | eq(b','),
            space: eq(b' ') | eq(b'\t') | eq(b'\n') | eq(b'\r'),
            control: _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(0x1f)),
        }
    }

    /// [`flatten`](super::flatten) with AVX-512: each 16 bits of `tokens` pick their places
    /// out of a vector of 16 positions (one compress), stored whole; a block costs the same
    /// whatever its number of tokens.
    #[inline]
    #[target_feature(enable = "avx512f,popcnt")]
    fn flatten_avx512(tokens: u64, base: u32, to: &mut [u32; 64]) {
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let mut at = 0;
        for quarter in 0..4 {
            let bits = (tokens >> (16 * quarter)) as u16;
            let places = _mm512_add_epi32(
                lanes,
                _mm512_set1_epi32(base.wrapping_add(16 * quarter) as i32),
            );
            let packed = _mm512_maskz_compress_epi32(bits, places);
            // At most 48 places are taken before the last quarter: 16 more fit in `to`.
            let Some(slots) = to.get_mut(at..at + 16) else {
                unreachable!("at most 48 before the last 16")
            };
            // SAFETY: `slots` is 16 writable u32s; the store has no alignment requirement.
            unsafe { _mm512_storeu_si512(slots.as_mut_ptr().cast(), packed) };
            at += bits.count_ones() as usize;
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,bmi1,popcnt")]
    pub(super) fn index_avx512(text: &[u8], out: &mut Vec<u32>) -> Option<usize> {
        index_with(
            text,
            out,
            |b| classify_avx512(b),
            |t, base, to| flatten_avx512(t, base, to),
        )
    }

    #[target_feature(enable = "sse2")]
    pub(super) fn index_sse2(text: &[u8], out: &mut Vec<u32>) -> Option<usize> {
        index_with(text, out, |b| classify_sse2(b), flatten)
    }

    #[target_feature(enable = "avx2,bmi1,popcnt")]
    pub(super) fn index_avx2(text: &[u8], out: &mut Vec<u32>) -> Option<usize> {
        index_with(text, out, |b| classify_avx2(b), flatten)
    }

    /// The places [`flatten_avx512`] writes, where this CPU has it, for the tests.
    #[cfg(test)]
    pub(crate) fn flattened_avx512(tokens: u64, base: u32) -> Option<Vec<u32>> {
        let mut to = [0; 64];
        // SAFETY: the CPU has AVX-512F and POPCNT, checked first.
        Level::Avx512
            .available()
            .then(|| unsafe { flatten_avx512(tokens, base, &mut to) })?;
        Some(to[..tokens.count_ones() as usize].to_vec())
    }

    /// The classifier of `level`, where this CPU has it, for the tests.
    #[cfg(test)]
    pub(crate) fn classify(level: Level, block: &[u8; 64]) -> Option<Masks> {
        if !level.available() {
            return None;
        }
        // SAFETY: the CPU has the level's instructions, checked first.
        unsafe {
            match level {
                Level::Scalar => None,
                Level::Sse2 => Some(classify_sse2(block)),
                Level::Avx2 => Some(classify_avx2(block)),
                Level::Avx512 => Some(classify_avx512(block)),
            }
        }
    }
}
