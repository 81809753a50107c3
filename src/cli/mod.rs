//! The `steward` command line: its commands and options, the dispatch of each to its command
//! group's module (one file each) and how results are printed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use steward::api::{self, DemoOptions};
use steward::audit::Actor;
use steward::{store, time, Error, Store};

/// Prints a line to stdout; a closed pipe (`steward ... | head`) ends the program quietly.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write output: {e}");
            std::process::exit(1);
        }
    }};
}

mod audit;
mod connect;
mod evidence;
mod findings;
mod identity;
mod import;
mod person;
mod review;
mod scope;
mod team;
mod templates;
mod usage;
use audit::AuditCommand;
use connect::{ConnectCommand, CredentialCommand, DrillArgs, EnforceArgs, SyncArgs};
use evidence::EvidenceCommand;
use findings::FindingsArgs;
use identity::{IdentityCommand, Target};
use import::ImportCommand;
use person::PersonCommand;
use review::{AttestArgs, ReviewCommand};
use scope::ScopeCommand;
use team::TeamCommand;
use templates::TemplatesCommand;
use usage::{TraceArgs, UsageArgs};

/// Governance of SMART on FHIR access: non-human identities, owners, scopes and evidence.
#[derive(Parser)]
#[command(name = "steward", version = steward::VERSION, about)]
struct Cli {
    /// SQLite database file, or a team database as postgres://LOGIN@HOST:PORT/DB (default:
    /// $STEWARD_DB, else steward.db in the OS data directory).
    #[arg(long, global = true, value_name = "PATH|URL")]
    db: Option<String>,
    /// Print machine-readable JSON (an array for lists, an object for one item).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database or bring its schema up to date.
    Init,
    /// Who is signed in: the bound person, the OS user or database login, roles and engine.
    Whoami,
    /// A team database: its members.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Seed an empty database with a realistic synthetic inventory.
    Demo {
        #[arg(long, default_value_t = 60)]
        identities: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// List, show and change identities.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// People who own and review identities.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Import from files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Posture findings with evidence, remediation and framework controls.
    Findings(FindingsArgs),
    /// Use-case templates: the most each purpose justifies.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Signed evidence packages for auditors.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// SMART scopes: parse, check a request, explain, compare (no database needed).
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// Recertification: campaigns, reviewer queues, decisions, escalation, policy.
    #[command(subcommand)]
    Review(ReviewCommand),
    /// An owner confirms (or edits) the purpose and justifies approved scopes.
    Attest(AttestArgs),
    /// Every API call in a window traced to a justified need, by class.
    Trace(TraceArgs),
    /// What one identity did: calls by type and interaction, used and unused scopes.
    Usage(UsageArgs),
    /// Authorization servers: add an environment's server from its metadata, list, discover.
    #[command(subcommand)]
    Connect(ConnectCommand),
    /// Credentials Steward holds for drills and management (never shown).
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Register an approved identity at its environment's server (RFC 7591).
    Register(Target),
    /// Compare the server's clients with the inventory; apply the server's view.
    Sync(SyncArgs),
    /// Carry out pending enforcement tasks at the servers (reduce, revoke, retire).
    /// Exits 1 when a task failed (it stays pending).
    Enforce(EnforceArgs),
    /// A revocation drill: a token issued, introspected, revoked, seen inactive and refused.
    /// Exits 1 unless the drill passed.
    Drill(DrillArgs),
}

fn parse_time(s: &str) -> Result<time::Timestamp, String> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    time::parse(&full)
}

/// Runs the command the command line names, and says how it ended.
pub(super) fn main() -> ExitCode {
    let cli = Cli::parse();
    // One thread drives the async work: the heavy work runs on SQLite's connection threads
    // and rayon's pool (a multi-thread runtime only slowed an audit import down).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let out = Output { json: cli.json };
    if let Command::Scope(c) = cli.command {
        return scope::scope(c, &out);
    }
    let key_store = store::key_store(cli.db.is_some() || store::db_env_set())?;
    let location = match &cli.db {
        Some(p) => store::Location::parse(p)?,
        None => store::default_location()?,
    };
    let store = Store::open_at(&location).await?.with_key_store(key_store);
    // Who acts is established here, from the OS account or the database login.
    let actor = api::session_actor(&store).await?;
    let now = time::now();
    let result = match cli.command {
        Command::Enforce(a) => connect::enforce(a, &store, now, &actor, &out).await,
        Command::Drill(a) => connect::drill(a, &store, now, &actor, &out).await,
        other => dispatch(other, &store, now, &actor, &out, &location)
            .await
            .map(|()| ExitCode::SUCCESS),
    };
    store.close().await;
    result
}

/// `whoami`'s line for a person.
fn whoami_text(w: &api::Whoami) -> String {
    match &w.person {
        Some(p) => format!(
            "signed in as {} <{}> ({} on {}, {})",
            p.name,
            p.email,
            w.os_user,
            w.engine,
            w.roles.join(", ")
        ),
        None => format!(
            "{} is not bound to a person ({}): run `steward person bind EMAIL`",
            w.os_user, w.engine
        ),
    }
}

async fn dispatch(
    command: Command,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
    location: &store::Location,
) -> Result<(), Error> {
    match command {
        Command::Init => out.one(
            &serde_json::json!({ "db": location.display(), "ready": true }),
            || format!("database ready at {}", location.display()),
        ),
        Command::Demo { identities, seed } => {
            let s = api::demo_seed(store, now, actor, DemoOptions { identities, seed }).await?;
            out.one(&s, || {
                format!(
                    "seeded {} identities, {} people, {} scopes, {} credential fingerprints",
                    s.identities, s.people, s.scopes, s.credentials
                )
            })
        }
        Command::Identity(c) => identity::identity(c, store, now, actor, out).await,
        Command::Person(c) => person::person(c, store, now, actor, out).await,
        Command::Whoami => {
            let w = api::whoami(store, actor).await?;
            out.one(&w, || whoami_text(&w))
        }
        Command::Team(c) => team::team(c, store, now, actor, out).await,
        Command::Import(c) => import::import(c, store, now, actor, out).await,
        Command::Audit(c) => audit::audit(c, store, now, actor, out).await,
        Command::Findings(f) => findings::findings(f, store, now, actor, out).await,
        Command::Templates(t) => templates::templates(t, store, now, actor, out).await,
        Command::Review(c) => review::review(c, store, now, actor, out).await,
        Command::Attest(a) => review::attest(a, store, now, actor, out).await,
        Command::Trace(a) => usage::trace(a, store, out).await,
        Command::Usage(a) => usage::usage(a, store, now, out).await,
        Command::Connect(c) => connect::connect(c, store, now, actor, out).await,
        Command::Credential(c) => connect::credential(c, store, now, actor, out).await,
        Command::Register(t) => connect::register(t, store, now, actor, out).await,
        Command::Sync(a) => connect::sync(a, store, now, actor, out).await,
        Command::Enforce(_) | Command::Drill(_) => unreachable!("run handles them"),
        // Handled in `run` before any database is opened.
        Command::Scope(c) => scope::scope(c, out).map(drop),
        Command::Evidence(c) => evidence::evidence(c, store, now, actor, out).await,
    }
}

fn dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// Prints results as JSON or as text for people.
struct Output {
    json: bool,
}

impl Output {
    fn one<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> Result<(), Error> {
        if self.json {
            say!(
                "{}",
                serde_json::to_string_pretty(value).map_err(json_error)?
            );
        } else {
            say!("{}", text());
        }
        Ok(())
    }

    fn table<T: Serialize>(
        &self,
        values: &[T],
        header: &[&str],
        rows: impl Iterator<Item = Vec<String>>,
    ) -> Result<(), Error> {
        if self.json {
            say!(
                "{}",
                serde_json::to_string_pretty(values).map_err(json_error)?
            );
            return Ok(());
        }
        if values.is_empty() {
            say!("(none)");
            return Ok(());
        }
        const MAX: usize = 40;
        let clip = |s: String| {
            if s.chars().count() > MAX {
                s.chars().take(MAX - 1).collect::<String>() + "…"
            } else {
                s
            }
        };
        let rows: Vec<Vec<String>> = rows.map(|r| r.into_iter().map(clip).collect()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            say!("{}", padded.join("  ").trim_end());
        };
        line(header.iter().map(|h| h.to_string()).collect());
        for r in rows {
            line(r);
        }
        Ok(())
    }
}

fn json_error(e: serde_json::Error) -> Error {
    Error::invalid("output", e.to_string())
}
