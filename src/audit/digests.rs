//! The SHA-256 of many short messages (the content of each audit entry of a log), gathered in
//! one buffer and hashed with `sha2` (which uses the CPU's SHA instructions where it has
//! them). A hand-written path that interleaved four messages' rounds was 1.18 times as fast
//! as `sha2` one message at a time (measured in one run), short of the 1.3 that a
//! hand-written path must earn over a kept library, and was removed.

use sha2::{Digest, Sha256};

/// Messages gathered for hashing, one after the other in one buffer.
#[derive(Default)]
pub struct Messages {
    bytes: Vec<u8>,
    /// (start, length) of each message.
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
        self.spans.push((start, self.bytes.len() - start));
        self.spans.len() - 1
    }

    /// The message numbered `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let (start, len) = self.spans[i];
        &self.bytes[start..start + len]
    }

    /// The digest of each message, in order.
    pub fn digests(&self) -> Vec<[u8; 32]> {
        (0..self.spans.len())
            .map(|i| Sha256::digest(self.get(i)).into())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Each message is kept whole and apart from the others, whatever their lengths.
        #[test]
        fn every_digest_is_the_sha256_of_its_message(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 0..23)
        ) {
            let mut m = Messages::default();
            for msg in &messages {
                m.push(|b| b.extend_from_slice(msg));
            }
            let expected: Vec<[u8; 32]> =
                messages.iter().map(|msg| Sha256::digest(msg).into()).collect();
            prop_assert_eq!(m.digests(), expected);
            for (i, msg) in messages.iter().enumerate() {
                prop_assert_eq!(m.get(i), &msg[..]);
            }
            m.clear();
            prop_assert!(m.digests().is_empty());
        }
    }
}
