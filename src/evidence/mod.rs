//! Signed evidence: audit checkpoints and BagIt packages an auditor verifies with stock tools.

pub mod bag;
pub mod key;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::audit::canonical_json;

/// A signed statement that the audit chain had `head_hash` at `seq` at time `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Checkpoint {
    #[ts(type = "number")]
    pub seq: i64,
    pub head_hash: String,
    pub at: String,
    /// The previous checkpoint's signature (hex), chaining checkpoints together.
    pub prev_signature: Option<String>,
    pub key_fingerprint: String,
    /// Hex Ed25519 signature over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The bytes that are signed: canonical JSON of every field but the signature.
    pub fn message(&self) -> String {
        canonical_json(&serde_json::json!({
            "seq": self.seq,
            "head_hash": self.head_hash,
            "at": self.at,
            "prev_signature": self.prev_signature,
            "key_fingerprint": self.key_fingerprint,
        }))
    }
}
