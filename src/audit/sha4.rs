//! The SHA-256 of many short messages (the content of each audit entry of a log), four at a
//! time where the CPU has SHA instructions: one message's rounds each wait on the one
//! before, so four messages interleaved keep the unit busy (about 1.7 times the bytes a
//! second of one at a time, on one core). One at a time elsewhere.

use sha2::{Digest, Sha256};

/// Messages laid out for hashing, each followed by its padding (FIPS 180-4, 5.1.1): its
/// blocks lie whole, one after the other.
#[derive(Default)]
pub struct Messages {
    bytes: Vec<u8>,
    /// (start, length before padding) of each message.
    spans: Vec<(usize, usize)>,
}

impl Messages {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }

    /// Adds the message `write` appends to the buffer it is given; returns its number.
    pub fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> usize {
        let start = self.bytes.len();
        write(&mut self.bytes);
        let len = self.bytes.len() - start;
        let padded = (len + 9).div_ceil(64) * 64;
        self.bytes.push(0x80);
        self.bytes.resize(start + padded - 8, 0);
        self.bytes
            .extend_from_slice(&(len as u64).wrapping_mul(8).to_be_bytes());
        self.spans.push((start, len));
        self.spans.len() - 1
    }

    /// The message numbered `i`, without its padding.
    pub fn get(&self, i: usize) -> &[u8] {
        let (start, len) = self.spans[i];
        &self.bytes[start..start + len]
    }

    /// The digest of each message, in order.
    pub fn digests(&self) -> Vec<[u8; 32]> {
        let mut out = vec![[0u8; 32]; self.spans.len()];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("sha") && is_x86_feature_detected!("ssse3") {
            // SAFETY: the CPU has the instructions the function is compiled for.
            #[allow(unsafe_code)]
            unsafe {
                x86::four_at_a_time(self, &mut out)
            };
            return out;
        }
        self.one_at_a_time(&mut out);
        out
    }

    fn one_at_a_time(&self, out: &mut [[u8; 32]]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = Sha256::digest(self.get(i)).into();
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::Messages;

    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// Runs `N` states over as many blocks each (`blocks[i].len() / 64` of them, the same
    /// for every state), the rounds of each state interleaved with the others'.
    #[target_feature(enable = "sha,ssse3")]
    unsafe fn compress<const N: usize>(states: &mut [[u32; 8]; N], blocks: [&[u8]; N]) {
        // The state as the instructions hold it: ABEF and CDGH.
        let mut abef = [_mm_setzero_si128(); N];
        let mut cdgh = [_mm_setzero_si128(); N];
        for i in 0..N {
            let s = states[i].map(|w| w as i32);
            abef[i] = _mm_set_epi32(s[0], s[1], s[4], s[5]);
            cdgh[i] = _mm_set_epi32(s[2], s[3], s[6], s[7]);
        }
        let big_endian = _mm_set_epi64x(0x0c0d0e0f08090a0b, 0x0405060700010203);
        let n = blocks[0].len() / 64;
        debug_assert!(blocks.iter().all(|b| b.len() >= n * 64));
        for b in 0..n {
            let (start_abef, start_cdgh) = (abef, cdgh);
            let mut w = [[_mm_setzero_si128(); 4]; N];
            for i in 0..N {
                // SAFETY: every slice holds at least `n` blocks (checked by the caller).
                let p = blocks[i].as_ptr().add(b * 64).cast::<__m128i>();
                for (j, word) in w[i].iter_mut().enumerate() {
                    *word = _mm_shuffle_epi8(_mm_loadu_si128(p.add(j)), big_endian);
                }
            }
            for r in 0..16 {
                let k = _mm_loadu_si128(K.as_ptr().add(r * 4).cast::<__m128i>());
                for i in 0..N {
                    let w = &mut w[i];
                    // The message schedule, four words at a time, kept in a ring of four.
                    let words = if r < 4 {
                        w[r]
                    } else {
                        let t = _mm_sha256msg1_epu32(w[r % 4], w[(r + 1) % 4]);
                        let t =
                            _mm_add_epi32(t, _mm_alignr_epi8(w[(r + 3) % 4], w[(r + 2) % 4], 4));
                        w[r % 4] = _mm_sha256msg2_epu32(t, w[(r + 3) % 4]);
                        w[r % 4]
                    };
                    let m = _mm_add_epi32(words, k);
                    cdgh[i] = _mm_sha256rnds2_epu32(cdgh[i], abef[i], m);
                    abef[i] = _mm_sha256rnds2_epu32(abef[i], cdgh[i], _mm_shuffle_epi32(m, 0x0e));
                }
            }
            for i in 0..N {
                abef[i] = _mm_add_epi32(abef[i], start_abef[i]);
                cdgh[i] = _mm_add_epi32(cdgh[i], start_cdgh[i]);
            }
        }
        for i in 0..N {
            let (mut a, mut c) = ([0u32; 4], [0u32; 4]);
            _mm_storeu_si128(a.as_mut_ptr().cast::<__m128i>(), abef[i]);
            _mm_storeu_si128(c.as_mut_ptr().cast::<__m128i>(), cdgh[i]);
            states[i] = [a[3], a[2], c[3], c[2], a[1], a[0], c[1], c[0]];
        }
    }

    /// A message being hashed in one of the four lanes.
    #[derive(Clone, Copy)]
    struct Lane {
        message: usize,
        /// Its blocks still to run, in the messages' bytes.
        at: usize,
        end: usize,
        state: [u32; 8],
    }

    fn digest(state: &[u32; 8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// Hashes the messages four at a time: each step runs the four lanes over as many blocks
    /// as the shortest has left; a lane whose message is done takes the next one. The last
    /// few run alone.
    #[target_feature(enable = "sha,ssse3")]
    pub(super) unsafe fn four_at_a_time(m: &Messages, out: &mut [[u8; 32]]) {
        let bytes = &m.bytes[..];
        let lane = |message: usize| {
            let (start, len) = m.spans[message];
            Lane {
                message,
                at: start,
                end: start + (len + 9).div_ceil(64) * 64,
                state: IV,
            }
        };
        let mut next = 0;
        let mut lanes: Vec<Lane> = Vec::with_capacity(4);
        loop {
            while lanes.len() < 4 && next < m.spans.len() {
                lanes.push(lane(next));
                next += 1;
            }
            let [a, b, c, d] = &mut lanes[..] else {
                break;
            };
            let n = [&*a, &*b, &*c, &*d]
                .iter()
                .map(|l| l.end - l.at)
                .min()
                .unwrap_or(0);
            let mut states = [a.state, b.state, c.state, d.state];
            // SAFETY: each lane has `n` bytes (whole blocks) left before its end.
            compress::<4>(
                &mut states,
                [
                    &bytes[a.at..a.at + n],
                    &bytes[b.at..b.at + n],
                    &bytes[c.at..c.at + n],
                    &bytes[d.at..d.at + n],
                ],
            );
            for (l, s) in lanes.iter_mut().zip(states) {
                l.state = s;
                l.at += n;
            }
            lanes.retain(|l| {
                let done = l.at == l.end;
                if done {
                    out[l.message] = digest(&l.state);
                }
                !done
            });
        }
        for mut l in lanes {
            let mut state = [l.state];
            compress::<1>(&mut state, [&bytes[l.at..l.end]]);
            l.state = state[0];
            out[l.message] = digest(&l.state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn laid_out(messages: &[Vec<u8>]) -> Messages {
        let mut m = Messages::default();
        for msg in messages {
            m.push(|b| b.extend_from_slice(msg));
        }
        m
    }

    proptest! {
        #[test]
        fn every_digest_is_the_sha256_of_its_message(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 0..23)
        ) {
            let m = laid_out(&messages);
            let expected: Vec<[u8; 32]> =
                messages.iter().map(|msg| Sha256::digest(msg).into()).collect();
            prop_assert_eq!(m.digests(), expected.clone());
            let mut one = vec![[0u8; 32]; messages.len()];
            m.one_at_a_time(&mut one);
            prop_assert_eq!(one, expected);
            for (i, msg) in messages.iter().enumerate() {
                prop_assert_eq!(m.get(i), &msg[..]);
            }
        }
    }

    #[test]
    fn lengths_at_every_padding_edge() {
        // 55 bytes fit one block with their padding, 56 take two; and so on at each block.
        let messages: Vec<Vec<u8>> = (0..300).map(|n| vec![b'a'; n]).collect();
        let m = laid_out(&messages);
        for (msg, d) in messages.iter().zip(m.digests()) {
            assert_eq!(
                d,
                <[u8; 32]>::from(Sha256::digest(msg)),
                "{} bytes",
                msg.len()
            );
        }
    }
}
