//! JSON lines of the evidence package: each audit entry exactly as `canonical_json` (and
//! `jq -cS`) spells it, encoded from the stored columns without building a value.

/// Appends `text` as a JSON string the way `canonical_json` (and `jq -c`) spells it:
/// serde_json's escapes, and DEL as `\u007f`.
///
/// Stored text that is not UTF-8 (only a damaged database holds any) is written as it is
/// stored: its UTF-8 runs spelled as above, the bytes between them unchanged, so the line is
/// not UTF-8 either and `evidence verify` names it.
pub fn push_json_string(out: &mut Vec<u8>, text: &[u8]) {
    let at = out.len();
    push_serde_json_string(out, text);
    escape_del(out, at);
}

/// Appends `text` as serde_json spells a JSON string, DEL left as it is (see
/// [`push_json_string`]).
fn push_serde_json_string(out: &mut Vec<u8>, text: &[u8]) {
    fn push(out: &mut Vec<u8>, text: &str) {
        // A string written to memory: serde_json has nothing to refuse.
        serde_json::to_writer(out, text).expect("a JSON string in memory");
    }
    if let Ok(text) = std::str::from_utf8(text) {
        push(out, text);
        return;
    }
    out.push(b'"');
    for chunk in text.utf8_chunks() {
        let run = out.len();
        push(out, chunk.valid());
        // The run's quotes go: it is part of one string.
        out.pop();
        out.remove(run);
        out.extend_from_slice(chunk.invalid());
    }
    out.push(b'"');
}

/// Spells each DEL in the JSON text `out[from..]` `\u007f`, as `jq` does (serde_json writes it
/// as it is). In JSON text a DEL can only be inside a string.
fn escape_del(out: &mut Vec<u8>, from: usize) {
    if memchr::memchr(0x7f, &out[from..]).is_none() {
        return;
    }
    let json = out.split_off(from);
    let mut start = 0;
    for at in memchr::memchr_iter(0x7f, &json) {
        out.extend_from_slice(&json[start..at]);
        out.extend_from_slice(b"\\u007f");
        start = at + 1;
    }
    out.extend_from_slice(&json[start..]);
}

/// An exported line's keys in sorted order, each with the column of the query in
/// `store::bulk::audit_log` it takes (0 is `seq`, a number; 5 is `details`, canonical JSON already).
const LINE_FIELDS: [(&[u8], usize); 8] = [
    (b"{\"action\":", 3),
    (b",\"actor\":", 2),
    (b",\"at\":", 1),
    (b",\"details\":", 5),
    (b",\"hash\":", 7),
    (b",\"prev_hash\":", 6),
    (b",\"seq\":", 0),
    (b",\"subject\":", 4),
];

/// Encodes audit entries as exported lines, one buffer reused.
#[derive(Default)]
pub struct AuditLine {
    line: Vec<u8>,
    seq: itoa::Buffer,
}

impl AuditLine {
    /// The line of the entry `seq` whose other columns are `fields`, in the order of
    /// `store::bulk::audit_log`'s query (at, actor, action, subject, details, prev_hash, hash).
    pub fn encode(&mut self, seq: i64, fields: [&[u8]; 7]) -> &[u8] {
        self.line.clear();
        for (key, column) in LINE_FIELDS {
            self.line.extend_from_slice(key);
            match column {
                0 => self.line.extend_from_slice(self.seq.format(seq).as_bytes()),
                5 => self.line.extend_from_slice(fields[4]),
                _ => push_serde_json_string(&mut self.line, fields[column - 1]),
            }
        }
        // One pass over the line for DEL, in its strings and in `details`.
        escape_del(&mut self.line, 0);
        self.line.extend_from_slice(b"}\n");
        &self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn spelled(s: &str) -> String {
        let mut out = Vec::new();
        push_json_string(&mut out, s.as_bytes());
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    /// How strings were spelled before serde_json spelled them, byte by byte: `"` and `\`
    /// escaped, the short escapes for backspace, tab, newline, form feed and carriage return,
    /// other control characters and DEL as `\u00xx`, every other byte as it is.
    fn old_spelling(bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![b'"'];
        for &b in bytes {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'\r' => out.extend_from_slice(b"\\r"),
                0x00..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => out.push(b),
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn every_control_character_quote_backslash_and_del_is_spelled_as_canonical_json() {
        for c in (0u32..0x20)
            .chain([0x22, 0x5c, 0x7f])
            .filter_map(char::from_u32)
        {
            let s = format!("a{c}b");
            assert_eq!(
                spelled(&s),
                crate::audit::canonical_json(&Value::String(s.clone())),
                "{:?}",
                c
            );
        }
    }

    #[test]
    fn strings_are_the_bytes_the_hand_written_spelling_wrote() {
        // What `push_json_string` wrote before serde_json spelled the strings: the audit
        // lines of a package exported now have the same bytes, and the same hashes.
        let all: String = (0u8..0x20)
            .map(char::from)
            .chain([
                '"', '\\', '/', '\u{7f}', 'é', '☃', '😀', '\u{2028}', '\u{80}', '\u{9f}', 'a',
            ])
            .collect();
        assert_eq!(
            spelled(&all),
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\
             \\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\
             \\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\\"\\\\/\\u007fé☃😀\u{2028}\
             \u{80}\u{9f}a\""
        );
        let mut out = Vec::new();
        push_json_string(&mut out, b"a\xff\"\x7f\xe2\x28\n\xf0\x9f\x98");
        assert_eq!(out, b"\"a\xff\\\"\\u007f\xe2(\\n\xf0\x9f\x98\"");
    }

    #[test]
    fn stored_text_that_is_not_utf8_keeps_its_bytes_so_verify_names_the_line() {
        let mut line = AuditLine::default();
        let bad = line.encode(7, [b"t", b"Zo\xeb", b"a", b"s", b"{}", b"p", b"h"]);
        assert_eq!(
            bad,
            b"{\"action\":\"a\",\"actor\":\"Zo\xeb\",\"at\":\"t\",\"details\":{},\"hash\":\"h\",\
              \"prev_hash\":\"p\",\"seq\":7,\"subject\":\"s\"}\n",
            "the stored bytes are written as they are, so the line is not UTF-8 either"
        );
    }

    proptest! {
        #[test]
        fn strings_are_spelled_as_canonical_json_spells_them(s in ".*") {
            prop_assert_eq!(
                spelled(&s),
                crate::audit::canonical_json(&Value::String(s.clone()))
            );
        }

        #[test]
        fn strings_are_spelled_as_they_were_before_serde_json(
            s in "[\\x00-\\x1f\"\\\\/\\x7f\\x80-\\x9fé☃😀\u{2028}a ]{0,40}|.{0,20}",
        ) {
            let mut out = Vec::new();
            push_json_string(&mut out, s.as_bytes());
            prop_assert_eq!(out, old_spelling(s.as_bytes()));
        }

        #[test]
        fn bytes_that_are_not_utf8_are_spelled_as_they_were_before_serde_json(
            bytes in prop::collection::vec(
                prop_oneof![any::<u8>(), Just(0x7f), Just(b'"'), Just(b'\\'), 0x80..0xc0u8],
                0..40,
            ),
        ) {
            let mut out = b"{\"k\":".to_vec();
            push_json_string(&mut out, &bytes);
            let mut old = b"{\"k\":".to_vec();
            old.extend(old_spelling(&bytes));
            prop_assert_eq!(out, old);
        }

        #[test]
        fn lines_are_the_bytes_they_were_before_serde_json(
            seq in any::<i64>(),
            fields in prop::array::uniform7("[\x00-\x1f\"\\\x7fé ]{0,6}|.{0,6}"),
        ) {
            let mut line = AuditLine::default();
            let ours = line.encode(seq, fields.each_ref().map(|f| f.as_bytes())).to_vec();
            let mut old = Vec::new();
            for (key, column) in LINE_FIELDS {
                old.extend_from_slice(key);
                match column {
                    0 => old.extend_from_slice(seq.to_string().as_bytes()),
                    5 => old.extend_from_slice(fields[4].replace('\u{7f}', "\\u007f").as_bytes()),
                    _ => old.extend(old_spelling(fields[column - 1].as_bytes())),
                }
            }
            old.extend_from_slice(b"}\n");
            prop_assert_eq!(ours, old);
        }
    }
}
