//! Builds the window's capability manifest: every desktop command gets an `allow-` permission
//! of its own, and only those the capability names may be called.

#[allow(dead_code)]
#[path = "ipc.rs"]
mod ipc;

fn main() {
    println!("cargo:rerun-if-changed=src/main.rs");
    println!("cargo:rerun-if-changed=ipc.rs");
    let source = std::fs::read_to_string("src/main.rs").expect("read src/main.rs");
    let commands = ipc::commands(&source).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&'static str> = commands
        .into_iter()
        .map(|c| &*Box::leak(c.name.into_boxed_str()))
        .collect();
    let manifest = tauri_build::AppManifest::new().commands(Vec::leak(names));
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build");
}
