//! FHIR AuditEvents as `steward import audit` reads them: one event or a Bundle, and NDJSON
//! (the parallel reader, its JSON tokenizer and its hashing). Never a panic, never a hang.
use std::sync::atomic::AtomicBool;

use steward::inventory::fingerprint::FingerprintKey;
use steward::usage::{scan_document, scan_ndjson, Control, Input, Tokens};

fn main() {
    let key = FingerprintKey::from_bytes([7; 32]);
    let mut tokens = Tokens::new(
        &key,
        [(key.secret("tok-1"), "known-client".to_string())].into(),
    );
    tokens.contexts = [(key.secret("tok-1"), steward::scope::Context::User)].into();
    tokens.kinds = [("known-client".to_string(), steward::scope::Context::Patient)].into();
    afl::fuzz!(|bytes: &[u8]| {
        let cancel = AtomicBool::new(false);
        let control = Control {
            cancel: &cancel,
            progress: &|_, _| {},
        };
        let document = scan_document(bytes, &tokens);
        let lines = scan_ndjson(Input::Bytes(bytes), bytes.len() as u64, &tokens, &control);
        if let Ok(scan) = lines {
            // Every line is a call, not a REST call, malformed, or blank.
            let calls = scan.calls;
            let all = scan.aggregates.collect().expect("the aggregates merge");
            let counted: u64 = all.iter().map(|(_, a)| a.calls).sum();
            assert_eq!(
                counted, calls,
                "the aggregates hold every call counted"
            );
        }
        let _ = document;
    });
}
