//! Rules of the codebase a reader relies on, checked over the source tree.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src").filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn tree() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("src-tauri/src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            (rel, text)
        })
        .collect()
}

/// `Error::Integrity` means tampering and nothing else: it is raised only where the audit
/// chain, a checkpoint or an evidence package is checked (a failed task or an encoding error
/// is `Error::Internal`; a keychain that cannot be used, `Error::Unavailable`).
#[test]
fn integrity_errors_are_raised_only_where_tampering_is_checked() {
    const CHECKERS: [&str; 6] = [
        "src/audit/mod.rs",
        "src/api/audit.rs",
        "src/evidence/bag.rs",
        "src/api/evidence.rs",
        "src/api/team.rs",
        "src/error.rs",
    ];
    let mut found = 0;
    for (file, text) in tree() {
        for (n, line) in text.lines().enumerate() {
            if line.contains("Error::Integrity(") {
                found += 1;
                assert!(
                    CHECKERS.contains(&file.as_str()),
                    "{file}:{}: Error::Integrity outside a tamper check: {line}",
                    n + 1
                );
            }
        }
    }
    assert!(found > 5, "the checks themselves raise it ({found})");
}
