//! The window's calls are generated from the desktop commands, and each command is allowed by
//! name. `UPDATE_BINDINGS=1 cargo test -p steward-desktop` rewrites `ui/src/lib/commands.ts`.

#[path = "../ipc.rs"]
mod ipc;

const SOURCE: &str = include_str!("../src/main.rs");

fn commands() -> Vec<ipc::Command> {
    ipc::commands(SOURCE).expect("parse the commands")
}

#[test]
fn the_windows_calls_match_the_commands() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/lib/commands.ts");
    let want = ipc::module(&commands(), &ipc::choices(SOURCE).expect("enums"));
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(path, &want).expect("write commands.ts");
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "ui/src/lib/commands.ts is stale: run `UPDATE_BINDINGS=1 cargo test -p steward-desktop`"
    );
}

#[test]
fn each_command_is_allowed_by_name_and_nothing_else_of_the_app() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/capabilities/default.json");
    let capability: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read the capability"))
            .expect("capability JSON");
    let allowed: std::collections::BTreeSet<String> = capability["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| !p.contains(':'))
        .map(String::from)
        .collect();
    let want: std::collections::BTreeSet<String> = commands()
        .iter()
        .map(|c| ipc::permission(&c.name))
        .collect();
    assert_eq!(allowed, want, "the app's permissions in {path}");
}

#[test]
fn types_map_as_serde_sends_them() {
    let source = r#"
        #[tauri::command]
        async fn a(c: State<'_, Console>, xs: Vec<(i64, i64)>, name: Option<String>, dry_run: bool) -> Result<Option<Report>, Error> { todo!() }
        #[tauri::command]
        fn b(app: AppHandle) {}
        fn not_a_command(x: i64) {}
        enum SaveAs { EvidencePackage, Csv }
    "#;
    let cs = ipc::commands(source).expect("parse");
    assert_eq!(cs.len(), 2);
    assert_eq!(
        cs[0].args,
        [
            ("xs".to_string(), "[number, number][]".to_string()),
            ("name".to_string(), "string | null".to_string()),
            ("dry_run".to_string(), "boolean".to_string()),
        ]
    );
    assert_eq!(cs[0].returns, "Report | null");
    assert!(cs[1].args.is_empty());
    assert_eq!(cs[1].returns, "void");
    let choices = ipc::choices(source).expect("enums");
    let module = ipc::module(&cs, &choices);
    assert!(module.contains("export type SaveAs = \"evidence_package\" | \"csv\";"));
    assert!(module.contains("import type { Report } from"));
    assert!(module.contains(
        "a: (xs: [number, number][], name: string | null, dryRun: boolean) => call<Report | null>(\"a\", { xs, name, dryRun }),"
    ));
    assert_eq!(ipc::permission("dry_run_all"), "allow-dry-run-all");
}
