//! The Steward desktop console: a window over `steward::api`. Each command is one line.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use steward::api::{
    self, AcceptRequest, AuditQuery, Dashboard, EvidenceFilter, IdentityEdit, IdentityRef,
    ItemDetail, KeyInfo, TemplateEdit, Whoami,
};
use steward::audit::{Actor, AuditEntry, ChainStatus};
use steward::evidence::bag::{BagSummary, BagVerification};
use steward::evidence::Checkpoint;
use steward::inventory::{IdentityDetail, IdentityFilter, IdentityPage, OwnerRole, Person};
use steward::policy::template::Template;
use steward::policy::{Finding, FindingFilter};
use steward::review::{
    AttestRequest, Campaign, DecideRequest, Item, NewCampaign, PolicyEdit, ReviewPolicy,
};
use steward::store::review::ItemQuery;

use steward::api::{
    About, EscalationSummary, ImportSummary, NewIdentity, QueueCounts, RosterSummary, StartState,
};
use steward::api::{AuditImportSummary, IdentityUsage, TokenImportSummary, TraceReport};
use steward::api::{ConnectAdd, DrillOptions, DrillReport, EnforceReport, SyncReport};
use steward::connect::Connection;
use steward::inventory::Environment;
use steward::store::connect::Task;
use steward::usage::Control;
use steward::{store, time, Error, Store};
use tauri::{AppHandle, Emitter, State};

/// The same allocator as the command line: exports and imports allocate and free millions
/// of small strings across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Console {
    /// The database the window works on: the real one, or the demo one when chosen at first
    /// start.
    store: std::sync::RwLock<Store>,
    /// Whether it is the demo database.
    demo: AtomicBool,
    /// Who acts: the OS user (or the team database's login), established once at start.
    actor: Actor,
    /// Set by the Cancel button of a running usage import.
    cancel: AtomicBool,
    /// The paths the person chose in a file dialog: the only paths a command reads or writes.
    chosen: Mutex<HashSet<PathBuf>>,
    /// The dashboard, computed while the window loads, for its first paint (taken once; a
    /// later view computes afresh).
    first_dashboard: Mutex<Option<Prefetch>>,
}

/// A dashboard computed in the background at start.
type Prefetch = tauri::async_runtime::JoinHandle<Result<Dashboard, Error>>;

impl Console {
    fn store(&self) -> Store {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `path`, if the person chose it in a dialog; any other path is refused, so a script in
    /// the window cannot make Steward read or write a file of its choosing.
    fn chosen(&self, path: &str) -> Result<PathBuf, Error> {
        let path = PathBuf::from(path);
        let chosen = self.chosen.lock().unwrap_or_else(|e| e.into_inner());
        if chosen.contains(&path) {
            Ok(path)
        } else {
            Err(Error::invalid(
                "path",
                format!("{} was not chosen in a file dialog", path.display()),
            ))
        }
    }
}

/// What a file dialog is for: its title, what it shows, and whether it picks a folder.
#[derive(Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Pick {
    Registrations,
    Roster,
    AuditEvents,
    TokenLog,
    EvidenceFolder,
}

/// What a save dialog writes.
#[derive(Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum SaveAs {
    EvidencePackage,
    CampaignReport,
}

/// The flag that makes this binary show one file dialog and print the answer.
const DIALOG_FLAG: &str = "--file-dialog";

/// One file dialog. It runs in a process of its own: a file chooser opens the files it lists
/// to read their type, and closing any descriptor of the database file drops every SQLite
/// lock the process holds on it (POSIX record locks belong to the process), after which
/// another process may checkpoint and delete the write-ahead log the window still writes to.
#[derive(serde::Serialize, serde::Deserialize)]
struct DialogSpec {
    title: String,
    save: bool,
    folder: bool,
    filter: Option<(String, Vec<String>)>,
    directory: Option<PathBuf>,
    file_name: Option<String>,
}

/// Runs in the dialog process: shows the dialog, prints the answer as JSON.
fn dialog_process(spec: &str) -> std::process::ExitCode {
    let Ok(spec) = serde_json::from_str::<DialogSpec>(spec) else {
        eprintln!("steward-desktop: a file dialog needs its description");
        return std::process::ExitCode::FAILURE;
    };
    let mut d = rfd::FileDialog::new().set_title(&spec.title);
    if let Some((name, extensions)) = &spec.filter {
        d = d.add_filter(name, extensions);
    }
    if let Some(dir) = &spec.directory {
        d = d.set_directory(dir);
    }
    if let Some(name) = &spec.file_name {
        d = d.set_file_name(name);
    }
    let answer = if spec.save {
        d.save_file()
    } else if spec.folder {
        d.pick_folder()
    } else {
        d.pick_file()
    };
    match serde_json::to_string(&answer) {
        Ok(json) => {
            println!("{json}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("steward-desktop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Shows a dialog in its own process and remembers the path the person chose.
async fn ask(c: &Console, spec: DialogSpec) -> Result<Option<String>, Error> {
    let failed = |m: String| Error::io("file dialog", std::io::Error::other(m));
    let exe = std::env::current_exe().map_err(|e| Error::io("steward-desktop", e))?;
    let json = serde_json::to_string(&spec).map_err(|e| failed(e.to_string()))?;
    let out = tauri::async_runtime::spawn_blocking(move || {
        std::process::Command::new(exe)
            .arg(DIALOG_FLAG)
            .arg(json)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .map_err(|e| failed(e.to_string()))?
    .map_err(|e| failed(e.to_string()))?;
    // The answer is the line the dialog printed. GTK may still fail as the process ends,
    // after the person answered (seen under Xvfb without a session bus): an answer printed is
    // kept; without one, the error says how the dialog ended and what it said (GTK's own
    // warnings left out).
    let answer: Option<PathBuf> = match serde_json::from_slice(&out.stdout) {
        Ok(answer) => answer,
        Err(e) => {
            let said: Vec<&str> = std::str::from_utf8(&out.stderr)
                .unwrap_or("")
                .lines()
                .filter(|l| !l.contains("-WARNING **") && !l.trim().is_empty())
                .collect();
            return Err(failed(format!(
                "it ended ({}) without an answer ({e}){}{}",
                out.status,
                if said.is_empty() { "" } else { ": " },
                said.join("; ")
            )));
        }
    };
    Ok(answer.map(|path| {
        let shown = path.to_string_lossy().into_owned();
        c.chosen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path);
        shown
    }))
}

/// Where a file dialog opens: the person's documents folder, else their home.
fn start_dir(app: &AppHandle) -> Option<PathBuf> {
    use tauri::Manager;
    let paths = app.path();
    [paths.document_dir(), paths.home_dir()]
        .into_iter()
        .flatten()
        .find(|d| d.is_dir())
}

/// Asks the person for a file (or folder) to read; `None` when they cancel.
#[tauri::command]
async fn dialog_open(
    app: AppHandle,
    c: State<'_, Console>,
    pick: Pick,
) -> Result<Option<String>, Error> {
    let (title, filter): (&str, Option<(&str, &[&str])>) = match pick {
        Pick::Registrations => (
            "Registrations (CSV, RFC 7591 or Keycloak JSON)",
            Some(("Registrations", &["csv", "json"])),
        ),
        Pick::Roster => ("Roster (CSV: name,email,active)", Some(("CSV", &["csv"]))),
        Pick::AuditEvents => (
            "FHIR AuditEvent log (NDJSON or Bundle)",
            Some(("AuditEvents", &["ndjson", "json", "jsonl"])),
        ),
        Pick::TokenLog => (
            "Token events (CSV, JSON or NDJSON)",
            Some(("Token events", &["csv", "json", "ndjson"])),
        ),
        Pick::EvidenceFolder => ("Evidence package to verify", None),
    };
    let spec = DialogSpec {
        title: title.into(),
        save: false,
        folder: matches!(pick, Pick::EvidenceFolder),
        filter: filter.map(|(n, e)| (n.into(), e.iter().map(|x| x.to_string()).collect())),
        directory: start_dir(&app),
        file_name: None,
    };
    ask(&c, spec).await
}

/// Asks the person where to write; `None` when they cancel.
#[tauri::command]
async fn dialog_save(
    app: AppHandle,
    c: State<'_, Console>,
    save: SaveAs,
    suggested: String,
) -> Result<Option<String>, Error> {
    let file_name = Path::new(&suggested)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let (title, filter) = match save {
        SaveAs::EvidencePackage => ("Export signed evidence package", None),
        SaveAs::CampaignReport => (
            "Campaign report",
            Some(("CSV".to_string(), vec!["csv".to_string()])),
        ),
    };
    let spec = DialogSpec {
        title: title.into(),
        save: true,
        folder: false,
        filter,
        directory: start_dir(&app),
        file_name,
    };
    ask(&c, spec).await
}

#[tauri::command]
async fn start_state(c: State<'_, Console>) -> Result<StartState, Error> {
    api::start_state(&c.store(), c.demo.load(Ordering::SeqCst)).await
}

/// The version, its commit and the database the window works on (the About box).
#[tauri::command]
async fn about(c: State<'_, Console>) -> Result<About, Error> {
    api::about(&c.store()).await
}

/// Opens the demo database (a separate file beside the real one, seeded on first use) and
/// works on it from now on; the real database is left as it was.
#[tauri::command]
async fn start_demo(c: State<'_, Console>) -> Result<StartState, Error> {
    let path = store::default_db_path()?.with_file_name("steward-demo.db");
    let demo = Store::open(&path)
        .await?
        .with_key_store(store::key_store(true)?);
    api::demo_seed_if_empty(&demo, time::now(), &c.actor).await?;
    *c.store.write().unwrap_or_else(|e| e.into_inner()) = demo;
    // What was computed at start is of the other database.
    if let Some(job) = c
        .first_dashboard
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        job.abort();
    }
    c.demo.store(true, Ordering::SeqCst);
    start_state(c).await
}

#[tauri::command]
async fn identity_list(
    c: State<'_, Console>,
    filter: IdentityFilter,
) -> Result<IdentityPage, Error> {
    api::identity_list(&c.store(), &filter).await
}

#[tauri::command]
async fn identity_show(
    c: State<'_, Console>,
    reference: IdentityRef,
) -> Result<IdentityDetail, Error> {
    api::identity_show(&c.store(), &reference).await
}

#[tauri::command]
async fn person_list(c: State<'_, Console>) -> Result<Vec<Person>, Error> {
    api::person_list(&c.store()).await
}

#[tauri::command]
async fn whoami(c: State<'_, Console>) -> Result<Whoami, Error> {
    api::whoami(&c.store(), &c.actor).await
}

#[tauri::command]
async fn person_bind(c: State<'_, Console>, spec: String) -> Result<Whoami, Error> {
    api::person_bind(&c.store(), time::now(), &c.actor, &spec).await
}

#[tauri::command]
async fn audit_log(c: State<'_, Console>, query: AuditQuery) -> Result<Vec<AuditEntry>, Error> {
    api::audit_log(&c.store(), &query).await
}

#[tauri::command]
async fn dashboard(c: State<'_, Console>) -> Result<Dashboard, Error> {
    let first = c
        .first_dashboard
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(job) = first {
        // A prefetch that failed is computed again here, where its error reaches the window.
        if let Ok(Ok(d)) = job.await {
            return Ok(d);
        }
    }
    api::dashboard(&c.store(), time::now()).await
}

#[tauri::command]
async fn findings_list(
    c: State<'_, Console>,
    filter: FindingFilter,
) -> Result<Vec<Finding>, Error> {
    api::findings_list(&c.store(), time::now(), &filter).await
}

#[tauri::command]
async fn finding_accept(c: State<'_, Console>, request: AcceptRequest) -> Result<Finding, Error> {
    api::finding_accept_request(&c.store(), time::now(), &c.actor, request).await
}

#[tauri::command]
async fn template_list(c: State<'_, Console>) -> Result<Vec<Template>, Error> {
    api::template_list(&c.store()).await
}

#[tauri::command]
async fn template_edit(
    c: State<'_, Console>,
    key: String,
    edit: TemplateEdit,
) -> Result<Template, Error> {
    api::template_edit(&c.store(), time::now(), &c.actor, &key, edit).await
}

#[tauri::command]
async fn template_create(
    c: State<'_, Console>,
    key: String,
    edit: TemplateEdit,
) -> Result<Template, Error> {
    api::template_create(&c.store(), time::now(), &c.actor, &key, edit).await
}

#[tauri::command]
async fn template_delete(c: State<'_, Console>, key: String) -> Result<(), Error> {
    api::template_delete(&c.store(), time::now(), &c.actor, &key).await
}

#[tauri::command]
async fn evidence_export(
    c: State<'_, Console>,
    out: String,
    filter: EvidenceFilter,
) -> Result<BagSummary, Error> {
    let out = c.chosen(&out)?;
    api::evidence_export(&c.store(), time::now(), &c.actor, &out, &filter).await
}

/// Checks the package in a folder the person picked in the open dialog, check by check.
#[tauri::command]
async fn evidence_verify(c: State<'_, Console>, dir: String) -> Result<BagVerification, Error> {
    let dir = c.chosen(&dir)?;
    api::evidence_inspect(Some(&c.store()), &dir, None).await
}

#[tauri::command]
async fn audit_checkpoint(c: State<'_, Console>) -> Result<Checkpoint, Error> {
    api::audit_checkpoint(&c.store(), time::now(), &c.actor).await
}

#[tauri::command]
async fn audit_checkpoints(c: State<'_, Console>) -> Result<Vec<Checkpoint>, Error> {
    api::audit_checkpoints(&c.store()).await
}

#[tauri::command]
async fn evidence_key_show(c: State<'_, Console>) -> Result<KeyInfo, Error> {
    api::evidence_key_show(&c.store()).await
}

/// The person's choice where the OS keychain cannot be used: the signing key in a 0600 file.
#[tauri::command]
async fn evidence_key_use_file(c: State<'_, Console>) -> Result<KeyInfo, Error> {
    api::evidence_key_use_file(&c.store(), time::now(), &c.actor).await
}

#[tauri::command]
async fn audit_verify(c: State<'_, Console>) -> Result<ChainStatus, Error> {
    api::audit_verify(&c.store()).await
}

#[tauri::command]
async fn campaign_list(c: State<'_, Console>) -> Result<Vec<Campaign>, Error> {
    api::campaign_list(&c.store(), time::now()).await
}

#[tauri::command]
async fn campaign_create(c: State<'_, Console>, campaign: NewCampaign) -> Result<Campaign, Error> {
    api::campaign_create(&c.store(), time::now(), &c.actor, campaign).await
}

/// Writes the campaign's CSV report to the file the person chose in the save dialog.
#[tauri::command]
async fn campaign_report(c: State<'_, Console>, id: i64, out: String) -> Result<usize, Error> {
    let out = c.chosen(&out)?;
    let csv = api::campaign_report(&c.store(), time::now(), id).await?;
    std::fs::write(&out, csv.as_bytes()).map_err(|e| Error::io(&out, e))?;
    Ok(csv.lines().count().saturating_sub(1))
}

#[tauri::command]
async fn campaign_close(c: State<'_, Console>, id: i64) -> Result<Campaign, Error> {
    api::campaign_close(&c.store(), time::now(), &c.actor, id).await
}

#[tauri::command]
async fn review_items(c: State<'_, Console>, query: ItemQuery) -> Result<Vec<Item>, Error> {
    api::review_items(&c.store(), &query).await
}

#[tauri::command]
async fn review_item_show(c: State<'_, Console>, id: i64) -> Result<ItemDetail, Error> {
    api::review_item_show(&c.store(), time::now(), id).await
}

#[tauri::command]
async fn review_decide(c: State<'_, Console>, request: DecideRequest) -> Result<Item, Error> {
    api::review_decide(&c.store(), time::now(), &c.actor, request).await
}

#[tauri::command]
async fn review_draft_save(
    c: State<'_, Console>,
    id: i64,
    draft: Option<String>,
    version: Option<i64>,
) -> Result<i64, Error> {
    api::review_draft_save(&c.store(), id, draft, version).await
}

#[tauri::command]
async fn identity_attest(
    c: State<'_, Console>,
    reference: IdentityRef,
    request: AttestRequest,
) -> Result<IdentityDetail, Error> {
    api::identity_attest(&c.store(), time::now(), &c.actor, &reference, request).await
}

#[tauri::command]
async fn identity_add(
    c: State<'_, Console>,
    identity: NewIdentity,
) -> Result<IdentityDetail, Error> {
    api::identity_add(&c.store(), time::now(), &c.actor, identity).await
}

#[tauri::command]
async fn identity_edit(
    c: State<'_, Console>,
    reference: IdentityRef,
    edit: IdentityEdit,
) -> Result<IdentityDetail, Error> {
    api::identity_edit(&c.store(), time::now(), &c.actor, &reference, edit).await
}

#[tauri::command]
async fn identity_retire(
    c: State<'_, Console>,
    reference: IdentityRef,
    reason: Option<String>,
) -> Result<IdentityDetail, Error> {
    api::identity_retire(&c.store(), time::now(), &c.actor, &reference, reason).await
}

#[tauri::command]
async fn person_designations(c: State<'_, Console>) -> Result<Vec<(i64, i64)>, Error> {
    api::person_designations(&c.store()).await
}

#[tauri::command]
async fn person_set_reviewer(
    c: State<'_, Console>,
    person: String,
    reviewer: Option<String>,
) -> Result<Person, Error> {
    let reviewer = reviewer.as_deref().filter(|r| !r.is_empty());
    api::person_set_reviewer(&c.store(), time::now(), &c.actor, &person, reviewer).await
}

#[tauri::command]
async fn review_policy_edit(
    c: State<'_, Console>,
    edit: PolicyEdit,
) -> Result<ReviewPolicy, Error> {
    api::review_policy_edit(&c.store(), time::now(), &c.actor, edit).await
}

/// Imports (or previews) a roster CSV picked in the open dialog.
#[tauri::command]
async fn people_import_roster(
    c: State<'_, Console>,
    path: String,
    dry_run: bool,
) -> Result<RosterSummary, Error> {
    let path = c.chosen(&path)?;
    api::people_import_roster(&c.store(), time::now(), &c.actor, &path, dry_run).await
}

#[tauri::command]
async fn person_add(c: State<'_, Console>, spec: String) -> Result<Person, Error> {
    api::person_add(&c.store(), time::now(), &c.actor, &spec).await
}

#[tauri::command]
async fn person_set_active(
    c: State<'_, Console>,
    spec: String,
    active: bool,
) -> Result<Person, Error> {
    api::person_set_active(&c.store(), time::now(), &c.actor, &spec, active).await
}

/// Imports (or, with `dry_run`, previews) a registrations file picked in the open dialog.
#[tauri::command]
async fn registrations_import(
    c: State<'_, Console>,
    path: String,
    environment: Option<Environment>,
    dry_run: bool,
) -> Result<ImportSummary, Error> {
    let path = c.chosen(&path)?;
    api::registrations_import(
        &c.store(),
        time::now(),
        &c.actor,
        &path,
        environment,
        dry_run,
    )
    .await
}

#[tauri::command]
async fn identity_set_owner(
    c: State<'_, Console>,
    reference: IdentityRef,
    role: OwnerRole,
    person: String,
) -> Result<IdentityDetail, Error> {
    api::identity_set_owner(&c.store(), time::now(), &c.actor, &reference, role, &person).await
}

/// Reminders, escalation and deadline defaults, run by the window on a schedule while it is
/// open (`steward review escalate` stays for cron).
#[tauri::command]
async fn review_escalate(c: State<'_, Console>) -> Result<EscalationSummary, Error> {
    api::review_escalate(&c.store(), time::now(), &c.actor).await
}

/// The signed-in person's queue, counted.
#[tauri::command]
async fn review_queue_counts(c: State<'_, Console>) -> Result<QueueCounts, Error> {
    api::review_queue_counts(&c.store(), time::now(), &c.actor).await
}

#[tauri::command]
async fn review_policy(c: State<'_, Console>) -> Result<ReviewPolicy, Error> {
    api::review_policy(&c.store()).await
}

/// Imports a FHIR AuditEvent log, reporting `usage-import-progress` events
/// (`[bytes done, bytes total]`); `usage_import_cancel` stops it with nothing written.
#[tauri::command]
async fn usage_import_audit(
    app: AppHandle,
    c: State<'_, Console>,
    path: String,
    environment: Environment,
) -> Result<AuditImportSummary, Error> {
    c.cancel.store(false, Ordering::SeqCst);
    let progress = |done: u64, total: u64| {
        let _ = app.emit("usage-import-progress", (done, total));
    };
    let control = Control {
        cancel: &c.cancel,
        progress: &progress,
    };
    let path = c.chosen(&path)?;
    api::usage_import_audit(
        &c.store(),
        time::now(),
        &c.actor,
        &path,
        environment,
        false,
        &control,
    )
    .await
}

#[tauri::command]
async fn usage_import_tokens(
    c: State<'_, Console>,
    path: String,
    environment: Environment,
) -> Result<TokenImportSummary, Error> {
    let path = c.chosen(&path)?;
    api::usage_import_tokens(&c.store(), time::now(), &c.actor, &path, environment, false).await
}

#[tauri::command]
fn usage_import_cancel(c: State<'_, Console>) {
    c.cancel.store(true, Ordering::SeqCst);
}

/// The trace of the last `days` days.
#[tauri::command]
async fn trace(c: State<'_, Console>, days: i64) -> Result<TraceReport, Error> {
    let now = time::now();
    let since = time::days_before(now, "days", days)?;
    api::trace(&c.store(), Some(since), Some(now)).await
}

#[tauri::command]
async fn usage_show(
    c: State<'_, Console>,
    reference: IdentityRef,
    days: i64,
) -> Result<IdentityUsage, Error> {
    api::usage_show(&c.store(), time::now(), &reference, days).await
}

#[tauri::command]
async fn connect_list(c: State<'_, Console>) -> Result<Vec<Connection>, Error> {
    api::connect_list(&c.store()).await
}

#[tauri::command]
async fn connect_add(c: State<'_, Console>, request: ConnectAdd) -> Result<Connection, Error> {
    api::connect_add(&c.store(), time::now(), &c.actor, &request).await
}

#[tauri::command]
async fn connect_discover(
    c: State<'_, Console>,
    environment: Environment,
) -> Result<Connection, Error> {
    api::connect_discover(&c.store(), time::now(), &c.actor, environment).await
}

/// Reads the server's clients, emitting `sync-progress` (`[done, total]`); with `dry_run`
/// only compares. `job_cancel` stops it with nothing written.
#[tauri::command]
async fn connect_sync(
    app: AppHandle,
    c: State<'_, Console>,
    environment: Environment,
    dry_run: bool,
) -> Result<SyncReport, Error> {
    c.cancel.store(false, Ordering::SeqCst);
    let progress = |done: usize, total: usize| {
        let _ = app.emit("sync-progress", (done, total));
    };
    api::connect_sync(
        &c.store(),
        time::now(),
        &c.actor,
        environment,
        dry_run,
        &progress,
        &c.cancel,
    )
    .await
}

#[tauri::command]
fn job_cancel(c: State<'_, Console>) {
    c.cancel.store(true, Ordering::SeqCst);
}

#[tauri::command]
async fn enforcement_pending(
    c: State<'_, Console>,
    environment: Option<Environment>,
) -> Result<Vec<Task>, Error> {
    api::enforcement_pending(&c.store(), environment).await
}

#[tauri::command]
async fn enforce(
    c: State<'_, Console>,
    environment: Option<Environment>,
    dry_run: bool,
) -> Result<EnforceReport, Error> {
    api::enforce(&c.store(), time::now(), &c.actor, environment, dry_run).await
}

#[tauri::command]
async fn identity_drill(
    c: State<'_, Console>,
    reference: IdentityRef,
    options: DrillOptions,
) -> Result<DrillReport, Error> {
    api::identity_drill(&c.store(), time::now(), &c.actor, &reference, &options).await
}

#[tauri::command]
async fn identity_drills(
    c: State<'_, Console>,
    reference: IdentityRef,
) -> Result<Vec<DrillReport>, Error> {
    api::identity_drills(&c.store(), &reference).await
}

/// Opens the database (`$STEWARD_DB`, a file or a team database's URL, else the OS data
/// dir), establishes who acts, and seeds the demo on first start.
async fn open() -> Result<(Store, Actor), Error> {
    let key_store = store::key_store(store::db_env_set())?;
    let location = store::default_location()?;
    let store = Store::open_at(&location).await?.with_key_store(key_store);
    let actor = api::session_actor(&store).await?;
    Ok((store, actor))
}

fn main() -> std::process::ExitCode {
    // As the command line: SQLite's memory from the same allocator, before any connection.
    let _ = steward::fenced::process::sqlite_memory_from_mimalloc();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, spec] = args.as_slice() {
        if flag == DIALOG_FLAG {
            return dialog_process(spec);
        }
    }
    let (store, actor) = match tauri::async_runtime::block_on(open()) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("steward: cannot open the database: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The home screen's figures are computed while the webview starts: on a large inventory
    // that is most of the wait before the first paint.
    let prefetch = {
        let store = store.clone();
        tauri::async_runtime::spawn(async move { api::dashboard(&store, time::now()).await })
    };
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .manage(Console {
            store: std::sync::RwLock::new(store),
            demo: AtomicBool::new(false),
            actor,
            cancel: AtomicBool::new(false),
            chosen: Mutex::new(HashSet::new()),
            first_dashboard: Mutex::new(Some(prefetch)),
        })
        .invoke_handler(tauri::generate_handler![
            start_state,
            about,
            start_demo,
            identity_list,
            identity_show,
            person_list,
            whoami,
            person_bind,
            audit_log,
            audit_verify,
            dashboard,
            findings_list,
            finding_accept,
            template_list,
            template_edit,
            template_create,
            template_delete,
            evidence_export,
            evidence_key_show,
            evidence_key_use_file,
            evidence_verify,
            audit_checkpoint,
            audit_checkpoints,
            campaign_list,
            campaign_create,
            campaign_close,
            campaign_report,
            review_items,
            review_item_show,
            review_decide,
            review_draft_save,
            identity_attest,
            identity_set_owner,
            review_escalate,
            review_queue_counts,
            identity_add,
            identity_edit,
            identity_retire,
            dialog_open,
            dialog_save,
            person_add,
            people_import_roster,
            person_designations,
            person_set_reviewer,
            review_policy_edit,
            person_set_active,
            registrations_import,
            review_policy,
            usage_import_audit,
            usage_import_tokens,
            usage_import_cancel,
            trace,
            usage_show,
            connect_list,
            connect_add,
            connect_discover,
            connect_sync,
            job_cancel,
            enforcement_pending,
            enforce,
            identity_drill,
            identity_drills
        ])
        .run(tauri::generate_context!());
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steward: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
