//! The Steward desktop console: a window over `steward::api`. Each command is one line.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use steward::api::{
    self, AcceptRequest, AuditQuery, Dashboard, EvidenceFilter, IdentityRef, TemplateEdit,
};
use steward::audit::{Actor, AuditEntry, ChainStatus};
use steward::evidence::bag::BagSummary;
use steward::inventory::{IdentityDetail, IdentityFilter, IdentityPage, Person};
use steward::policy::template::Template;
use steward::policy::{Finding, FindingFilter};
use steward::{store, time, Error, Store};
use tauri::State;

struct Console {
    store: Store,
}

#[tauri::command]
async fn identity_list(
    c: State<'_, Console>,
    filter: IdentityFilter,
) -> Result<IdentityPage, Error> {
    api::identity_list(&c.store, &filter).await
}

#[tauri::command]
async fn identity_show(
    c: State<'_, Console>,
    reference: IdentityRef,
) -> Result<IdentityDetail, Error> {
    api::identity_show(&c.store, &reference).await
}

#[tauri::command]
async fn person_list(c: State<'_, Console>) -> Result<Vec<Person>, Error> {
    api::person_list(&c.store).await
}

#[tauri::command]
async fn audit_log(c: State<'_, Console>, query: AuditQuery) -> Result<Vec<AuditEntry>, Error> {
    api::audit_log(&c.store, &query).await
}

#[tauri::command]
async fn dashboard(c: State<'_, Console>) -> Result<Dashboard, Error> {
    api::dashboard(&c.store, time::now()).await
}

#[tauri::command]
async fn findings_list(
    c: State<'_, Console>,
    filter: FindingFilter,
) -> Result<Vec<Finding>, Error> {
    api::findings_list(&c.store, time::now(), &filter).await
}

#[tauri::command]
async fn finding_accept(c: State<'_, Console>, request: AcceptRequest) -> Result<Finding, Error> {
    api::finding_accept_request(&c.store, time::now(), &Actor::os_user(), request).await
}

#[tauri::command]
async fn template_list(c: State<'_, Console>) -> Result<Vec<Template>, Error> {
    api::template_list(&c.store).await
}

#[tauri::command]
async fn template_edit(
    c: State<'_, Console>,
    key: String,
    edit: TemplateEdit,
) -> Result<Template, Error> {
    api::template_edit(&c.store, time::now(), &Actor::os_user(), &key, edit).await
}

#[tauri::command]
async fn evidence_export(c: State<'_, Console>, out: String) -> Result<BagSummary, Error> {
    api::evidence_export(
        &c.store,
        time::now(),
        &Actor::os_user(),
        out.as_ref(),
        &EvidenceFilter::default(),
    )
    .await
}

#[tauri::command]
async fn audit_verify(c: State<'_, Console>) -> Result<ChainStatus, Error> {
    api::audit_verify(&c.store).await
}

/// Opens the database (`$STEWARD_DB` or the OS data dir) and seeds the demo on first start.
async fn open() -> Result<Store, Error> {
    let path = store::default_db_path()?;
    let store = Store::open(&path).await?;
    if let Some(s) = api::demo_seed_if_empty(&store, time::now(), &Actor::os_user()).await? {
        eprintln!(
            "first start: seeded {} demo identities into {}",
            s.identities,
            path.display()
        );
    }
    Ok(store)
}

fn main() {
    let store = match tauri::async_runtime::block_on(open()) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("steward: cannot open the database: {e}");
            std::process::exit(1);
        }
    };
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(Console { store })
        .invoke_handler(tauri::generate_handler![
            identity_list,
            identity_show,
            person_list,
            audit_log,
            audit_verify,
            dashboard,
            findings_list,
            finding_accept,
            template_list,
            template_edit,
            evidence_export
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("steward: {e}");
        std::process::exit(1);
    }
}
