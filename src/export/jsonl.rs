//! JSON lines of the evidence package: each audit entry exactly as `canonical_json` (and
//! `jq -cS`) spells it, encoded from the stored columns without building a value.

/// Appends `s` as a JSON string the way `canonical_json` (and `jq -c`) spells it: `"` and
/// `\` escaped, the short escapes for backspace, tab, newline, form feed and carriage
/// return, other control characters and DEL as `\u00xx`.
pub fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    // Nearly every value (hashes, times, names) needs no escape: one branch-free pass over
    // the bytes, which the compiler vectorizes, decides.
    let plain = !bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\') | (b == 0x7f)
    });
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0x00..=0x1f | 0x7f => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short == 0 {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends a stored `details` value: canonical JSON already, DEL escaped as `jq` spells it.
pub(crate) fn push_details(out: &mut Vec<u8>, details: &[u8]) {
    let mut start = 0;
    for at in memchr::memchr_iter(0x7f, details) {
        out.extend_from_slice(&details[start..at]);
        out.extend_from_slice(b"\\u007f");
        start = at + 1;
    }
    out.extend_from_slice(&details[start..]);
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
                5 => push_details(&mut self.line, fields[4]),
                _ => push_json_string(&mut self.line, fields[column - 1]),
            }
        }
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

    proptest! {
        #[test]
        fn strings_are_spelled_as_canonical_json_spells_them(s in ".*") {
            prop_assert_eq!(
                spelled(&s),
                crate::audit::canonical_json(&Value::String(s.clone()))
            );
        }
    }
}
