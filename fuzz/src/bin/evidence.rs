//! What `steward evidence verify` reads of a package as text: manifests, bag-info.txt, the
//! minisign file, the exported audit log (read whole and in small pieces, which must agree)
//! and the checkpoints. Never a panic, never a hang.
fn main() {
    afl::fuzz!(|bytes: &[u8]| {
        steward::evidence::bag::check_untrusted_text(bytes);
    });
}
