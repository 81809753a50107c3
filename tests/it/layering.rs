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

/// The text of a source file without its comments (line comments and doc comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The domain modules know nothing of storage or use cases: no database crate, no `store`,
/// no `api`. The store knows the domain, not the use cases.
#[test]
fn the_domain_uses_no_database_and_the_store_no_use_case() {
    const DOMAIN: [&str; 10] = [
        "src/audit/",
        "src/export/",
        "src/inventory/",
        "src/policy/",
        "src/review/",
        "src/scope/",
        "src/usage/",
        "src/evidence/",
        "src/connect/",
        "src/time.rs",
    ];
    let mut checked = 0;
    for (file, text) in tree() {
        let code = code(&text);
        let banned: &[&str] = if DOMAIN.iter().any(|d| file.starts_with(d)) {
            &["sqlx", "rusqlite", "crate::store", "crate::api"]
        } else if file.starts_with("src/store/") {
            &["crate::api"]
        } else {
            continue;
        };
        checked += 1;
        for word in banned {
            for (n, line) in code.lines().enumerate() {
                assert!(
                    !line.contains(word),
                    "{file}:{}: a {} module uses {word}: {line}",
                    n + 1,
                    if file.starts_with("src/store/") {
                        "store"
                    } else {
                        "domain"
                    }
                );
            }
        }
    }
    assert!(checked > 30, "the modules were found ({checked})");
}

/// Which `api` module each `super::` name used in an `api` module comes from: a module's
/// own name, or an item `api/mod.rs` re-exports from it.
fn api_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let files: Vec<(String, String)> = tree()
        .into_iter()
        .filter(|(f, _)| f.starts_with("src/api/"))
        .collect();
    let module = |f: &str| {
        f.trim_start_matches("src/api/")
            .trim_end_matches(".rs")
            .to_string()
    };
    let modules: std::collections::BTreeSet<String> = files
        .iter()
        .map(|(f, _)| module(f))
        .filter(|m| m != "mod")
        .collect();
    let root = &files
        .iter()
        .find(|(f, _)| f == "src/api/mod.rs")
        .expect("api/mod.rs")
        .1;
    let mut owner = std::collections::BTreeMap::new();
    let root = code(root);
    for (i, _) in root.match_indices("pub use ") {
        let rest = &root[i + 8..];
        let Some((from, _)) = rest.split_once("::") else {
            continue;
        };
        if !modules.contains(from) {
            continue;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        for name in rest[..end].split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !name.is_empty() && name != from {
                owner.insert(name.to_string(), from.to_string());
            }
        }
    }
    let mut graph = std::collections::BTreeMap::new();
    for (file, text) in &files {
        let me = module(file);
        if me == "mod" {
            continue;
        }
        let code = code(text);
        let mut uses = std::collections::BTreeSet::new();
        for (i, _) in code.match_indices("super::") {
            let rest = &code[i + 7..];
            let mut names = Vec::new();
            if let Some(list) = rest.strip_prefix('{') {
                let end = list.find('}').unwrap_or(list.len());
                names.extend(
                    list[..end]
                        .split(',')
                        .map(|n| n.trim().split("::").next().unwrap_or("")),
                );
            } else {
                names.push(
                    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or(""),
                );
            }
            for n in names {
                let m = if modules.contains(n) {
                    Some(n.to_string())
                } else {
                    owner.get(n).cloned()
                };
                if let Some(m) = m.filter(|m| *m != me) {
                    uses.insert(m);
                }
            }
        }
        graph.insert(me, uses);
    }
    graph
}

/// The `api` modules call one another without a cycle: each can be read knowing only the ones
/// it names.
#[test]
fn the_api_modules_form_no_cycle() {
    let graph = api_graph();
    assert!(graph.len() > 10, "{graph:?}");
    // Depth-first, keeping the path: a module met again on its own path closes a cycle.
    fn visit(
        m: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!(
                "api modules call each other in a cycle: {} -> {m}",
                path[at..].join(" -> ")
            );
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = std::collections::BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

/// `unsafe` code lives in `src/fenced/` alone: the crate denies it (the workspace's lints),
/// and no other file may allow it or write an unsafe block, function or impl.
#[test]
fn unsafe_code_lives_only_in_the_fenced_module() {
    let mut fenced = 0;
    for (file, text) in tree() {
        let text = code(&text);
        let uses = text.matches("unsafe_code").count()
            + text.matches("unsafe {").count()
            + text.matches("unsafe fn").count()
            + text.matches("unsafe impl").count();
        if file.starts_with("src/fenced/") || file == "src/lib.rs" {
            fenced += uses;
            continue;
        }
        assert_eq!(uses, 0, "{file}: unsafe code outside src/fenced/");
    }
    assert!(fenced > 0, "the fenced module is where the unsafe code is");
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
        .expect("lib.rs");
    assert_eq!(
        lib.matches("allow(unsafe_code)").count(),
        1,
        "lib.rs allows unsafe code for the fenced module alone"
    );
    assert!(lib.contains("#[allow(unsafe_code)]\npub mod fenced;"));
}
