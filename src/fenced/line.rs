//! The vector scans of the audit log's canonical lines ([`audit::line`](crate::audit::line)
//! holds the rest and the byte-at-a-time reference): AVX-512 (one compare a word and
//! character) or AVX2 (two 32-byte compares a word, and one test of the special bytes of the
//! whole line at its end).

use super::Level;
use crate::audit::line::Found;

/// Sets a bit in `words` for each quote of `b` (at most 64 bytes a word) and says whether `b`
/// is plain and whether it is ASCII, with the vector code of `level`; `None` where this CPU
/// lacks `level` or it has no vector code here.
pub(crate) fn scan(level: Level, b: &[u8], words: &mut [u64]) -> Option<Found> {
    #[cfg(target_arch = "x86_64")]
    if level.available() {
        // SAFETY: the CPU has the level's instructions, checked just above.
        return unsafe {
            match level {
                Level::Avx512 => Some(x86::scan_avx512(b, words)),
                Level::Avx2 => Some(x86::scan_avx2(b, words)),
                Level::Sse2 | Level::Scalar => None,
            }
        };
    }
    let _ = (level, b, words);
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::audit::line::Found;
    use std::arch::x86_64::*;

    /// Sets each of `words` to `word` of the next 64 bytes of `b` (the last padded with spaces).
    #[inline(always)]
    fn each_word(b: &[u8], words: &mut [u64], mut word: impl FnMut(&[u8; 64]) -> u64) {
        let mut chunks = b.chunks_exact(64);
        let mut w = 0;
        for c in chunks.by_ref() {
            let Some(c) = c.first_chunk::<64>() else {
                unreachable!("chunks of 64")
            };
            words[w] = word(c);
            w += 1;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut tail = [b' '; 64];
            tail[..rest.len()].copy_from_slice(rest);
            words[w] = word(&tail);
        }
    }

    /// With AVX-512BW a word is one vector, and each compare gives its bits directly.
    #[target_feature(enable = "avx512bw")]
    pub(super) fn scan_avx512(b: &[u8], words: &mut [u64]) -> Found {
        let (mut special, mut high) = (0, 0);
        let word = |p: &[u8; 64]| {
            // SAFETY: `p` is 64 readable bytes; the load has no alignment requirement.
            let v = unsafe { _mm512_loadu_si512(p.as_ptr().cast()) };
            let eq = |c: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(c as i8));
            special |= _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(0x1f)) | eq(b'\\') | eq(0x7f);
            high |= _mm512_movepi8_mask(v);
            eq(b'"')
        };
        each_word(b, words, word);
        Found {
            plain: special == 0,
            ascii: high == 0,
        }
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn scan_avx2(b: &[u8], words: &mut [u64]) -> Found {
        let (mut special, mut high) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut half = |p: &[u8; 32]| {
            // SAFETY: `p` is 32 readable bytes; the load has no alignment requirement.
            let v = unsafe { _mm256_loadu_si256(p.as_ptr().cast()) };
            // A byte above 0x7f has its top bit set: the or of all keeps it.
            high = _mm256_or_si256(high, v);
            let eq = |c: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8));
            // Unsigned `v <= 0x1f`.
            let control = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1f)), v);
            special = _mm256_or_si256(special, _mm256_or_si256(control, eq(b'\\')));
            special = _mm256_or_si256(special, eq(0x7f));
            u64::from(_mm256_movemask_epi8(eq(b'"')) as u32)
        };
        let word = |p: &[u8; 64]| {
            let (lo, hi) = p.split_at(32);
            let (Some(lo), Some(hi)) = (lo.first_chunk::<32>(), hi.first_chunk::<32>()) else {
                unreachable!("halves of 64")
            };
            half(lo) | (half(hi) << 32)
        };
        each_word(b, words, word);
        Found {
            plain: _mm256_testz_si256(special, special) == 1,
            ascii: _mm256_movemask_epi8(high) == 0,
        }
    }
}
