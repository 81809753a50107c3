//! The `steward` command line: a thin shell over `steward::api`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use steward::api::{
    self, AuditQuery, DemoOptions, EvidenceFilter, IdentityEdit, IdentityRef, NewIdentity,
    ScopeInfo, TemplateEdit,
};
use steward::audit::Actor;
use steward::inventory::{
    Environment, Identity, IdentityFilter, IdentitySort, Kind, OwnerRole, Status,
};
use steward::policy::template::Template;
use steward::policy::{FindingFilter, Severity};
use steward::scope::{allows, Context, Request, ScopeSet};
use steward::{store, time, Error, Store};

/// Exports, imports and the rules allocate and free millions of small strings across
/// threads; mimalloc does that several times faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its place in `mi_option_e`, which the bindings do not
/// name): how long freed memory is kept before it is given back to the system.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A command lives for seconds and its memory goes back at exit: freed memory is kept for
/// reuse rather than given back meanwhile. Given back, it is zeroed again by the system when
/// it is next used, and an export frees and reuses hundreds of MiB (about 5 % of its time).
fn keep_freed_memory() {
    // SAFETY: sets one of mimalloc's options; any value is valid for this one.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1)
    };
}

/// The command's memory comes in the system's small pages, not transparent huge ones:
/// mimalloc asks for huge pages, and the system zeroes each 2 MiB at its first touch, which
/// cost an export a fifth of its CPU time (its system time halves without them). Where the
/// system has no such setting, nothing changes.
#[cfg(target_os = "linux")]
fn small_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes one integer and touches no memory of ours.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

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

#[path = "cli/connect.rs"]
mod connect_cli;
#[path = "cli/review.rs"]
mod review_cli;
#[path = "cli/usage.rs"]
mod usage_cli;
use connect_cli::{ConnectCommand, CredentialCommand, DrillArgs, EnforceArgs, SyncArgs};
use review_cli::{AttestArgs, ReviewCommand};
use usage_cli::{TraceArgs, UsageArgs, UsageImportArgs};

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

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct FindingsArgs {
    #[command(subcommand)]
    action: Option<FindingsCommand>,
    /// Only this identity (id, or client_id with --environment).
    #[arg(long)]
    identity: Option<String>,
    #[arg(long)]
    environment: Option<Environment>,
    /// Only this rule.
    #[arg(long)]
    rule: Option<String>,
    /// low, medium, high or critical.
    #[arg(long)]
    severity: Option<Severity>,
    /// Include findings accepted as risks.
    #[arg(long)]
    all: bool,
    /// Evaluate as of this time (RFC 3339; default now).
    #[arg(long, value_parser = parse_time)]
    now: Option<time::Timestamp>,
}

#[derive(Subcommand)]
enum FindingsCommand {
    /// Accept a finding as a risk until a date.
    Accept {
        /// The finding id (rule:identity_id).
        finding: String,
        /// RFC 3339 time or YYYY-MM-DD.
        #[arg(long, value_parser = parse_time)]
        until: time::Timestamp,
        #[arg(long)]
        reason: String,
        /// Refused unless it names the signed-in person, who accepts the risk (never the
        /// identity's owner).
        #[arg(long)]
        approver: Option<String>,
    },
    /// The rule-to-control mapping (OWASP NHI Top 10 2025, NIST CSF 2.0).
    Mapping,
}

#[derive(Subcommand)]
enum TemplatesCommand {
    /// Every template.
    List,
    /// One template.
    Show { key: String },
    /// Change a template (audited).
    Edit {
        key: String,
        #[command(flatten)]
        fields: TemplateFields,
    },
    /// Add a template (audited): KEY is lowercase letters, digits, '-' and '_'.
    Create {
        key: String,
        #[command(flatten)]
        fields: TemplateFields,
    },
    /// Remove a template no identity uses (audited).
    Delete { key: String },
}

/// A template's fields, as `templates edit` and `templates create` take them.
#[derive(Args)]
struct TemplateFields {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Space-separated scopes; "" removes the limit.
    #[arg(long)]
    max_scopes: Option<String>,
    #[arg(long)]
    allow_offline_access: Option<bool>,
    #[arg(long)]
    allow_bulk_export: Option<bool>,
    #[arg(long)]
    max_access_token_lifetime_s: Option<i64>,
    #[arg(long)]
    expected_auth_method: Option<String>,
}

impl TemplateFields {
    fn edit(self) -> TemplateEdit {
        TemplateEdit {
            name: self.name,
            description: self.description,
            kinds: None,
            max_scopes: self.max_scopes,
            allow_offline_access: self.allow_offline_access,
            allow_bulk_export: self.allow_bulk_export,
            max_access_token_lifetime_s: self.max_access_token_lifetime_s,
            expected_auth_method: self.expected_auth_method,
        }
    }
}

fn parse_time(s: &str) -> Result<time::Timestamp, String> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    time::parse(&full)
}

#[derive(Subcommand)]
enum ScopeCommand {
    /// Parse scopes; with --json, one object per line:
    /// {"scope","valid","context","resource","perms","query","error",...}.
    Parse {
        #[arg(required = true)]
        scopes: Vec<String>,
    },
    /// Whether granted scopes allow a FHIR REST request ("METHOD PATH", after --). Prints
    /// {"allowed","by","reason"} and exits 0 either way; exits 2 on unparseable input.
    Allows {
        /// Space-separated granted scopes.
        #[arg(long)]
        granted: String,
        /// patient, user or system (default: any; bulk export defaults to system).
        #[arg(long)]
        context: Option<Context>,
        /// e.g. "GET Observation?patient=1"
        request: String,
    },
    /// One plain-language sentence per scope, with its risk traits.
    Explain {
        #[arg(required = true)]
        scopes: Vec<String>,
    },
    /// What granted scopes add beyond approved ones, and the risk of each.
    Diff {
        #[arg(long)]
        approved: String,
        #[arg(long)]
        granted: String,
    },
}

#[derive(Args)]
struct Target {
    /// The identity's id, or its client_id.
    id: String,
    /// The environment, when the client_id exists in more than one.
    #[arg(long)]
    environment: Option<Environment>,
}

impl Target {
    fn reference(&self) -> IdentityRef {
        IdentityRef {
            key: self.id.clone(),
            environment: self.environment,
        }
    }
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// List identities, with search, filters and sort.
    List {
        #[arg(long)]
        environment: Option<Environment>,
        #[arg(long)]
        kind: Option<Kind>,
        #[arg(long)]
        status: Option<Status>,
        /// Text in the name, client_id, vendor, purpose or an owner's name.
        #[arg(long)]
        search: Option<String>,
        /// Only what this person owns (email or id), as business or technical owner.
        #[arg(long)]
        owner: Option<String>,
        /// name, kind, environment, business_owner, technical_owner, purpose,
        /// granted_scopes, next_review_due or status.
        #[arg(long, default_value = "name", value_parser = parse_sort)]
        sort: IdentitySort,
        #[arg(long)]
        desc: bool,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Show one identity: owners, purpose, scopes, credentials and history.
    Show(Target),
    /// Register an identity.
    Add(Box<AddArgs>),
    /// Change an identity's fields; what is not given keeps its value.
    Edit(Box<EditArgs>),
    /// Set the business or technical owner ("Name <email>", an email, or a person id).
    SetOwner {
        #[command(flatten)]
        target: Target,
        /// business or technical
        #[arg(long, default_value = "business")]
        role: OwnerRole,
        #[arg(long)]
        person: String,
    },
    /// Set the purpose statement.
    SetPurpose {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        use_case: Option<String>,
    },
    /// Retire an identity (it stays in the inventory and its history).
    Retire {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Whether a revocation drill may use this production client (on or off; audited).
    Drillable {
        #[command(flatten)]
        target: Target,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

#[derive(Args)]
struct AddArgs {
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    kind: Kind,
    #[arg(long)]
    environment: Environment,
    #[command(flatten)]
    fields: FieldArgs,
    /// The identity is an AI or autonomous agent (NIST AI RMF applies).
    #[arg(long)]
    ai_agent: bool,
}

#[derive(Args)]
struct EditArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    kind: Option<Kind>,
    #[command(flatten)]
    fields: FieldArgs,
    /// Whether the identity is an AI or autonomous agent.
    #[arg(long)]
    ai_agent: Option<bool>,
}

/// The fields `identity add` and `identity edit` share.
#[derive(Args)]
struct FieldArgs {
    #[arg(long)]
    vendor: Option<String>,
    /// "Name <email>" or an email.
    #[arg(long)]
    business_owner: Option<String>,
    /// "Name <email>" or an email.
    #[arg(long)]
    technical_owner: Option<String>,
    #[arg(long)]
    purpose: Option<String>,
    #[arg(long)]
    use_case: Option<String>,
    /// Space-separated scopes.
    #[arg(long)]
    approved_scopes: Option<String>,
    /// Space-separated scopes.
    #[arg(long)]
    granted_scopes: Option<String>,
    #[arg(long)]
    auth_method: Option<String>,
    #[arg(long)]
    access_token_lifetime_s: Option<i64>,
    #[arg(long)]
    refresh_token_lifetime_s: Option<i64>,
    #[arg(long)]
    jwks_uri: Option<String>,
    #[arg(long)]
    revocation_endpoint: Option<String>,
}

impl FieldArgs {
    fn edit(
        self,
        name: Option<String>,
        kind: Option<Kind>,
        ai_agent: Option<bool>,
    ) -> IdentityEdit {
        IdentityEdit {
            name,
            kind,
            vendor: self.vendor,
            business_owner: self.business_owner,
            technical_owner: self.technical_owner,
            purpose: self.purpose,
            use_case: self.use_case,
            approved_scopes: self.approved_scopes,
            granted_scopes: self.granted_scopes,
            auth_method: self.auth_method,
            access_token_lifetime_s: self.access_token_lifetime_s,
            refresh_token_lifetime_s: self.refresh_token_lifetime_s,
            jwks_uri: self.jwks_uri,
            revocation_endpoint: self.revocation_endpoint,
            ai_agent,
        }
    }
}

#[derive(Subcommand)]
enum PersonCommand {
    /// Everyone who owns or reviews identities.
    List,
    /// Add a person ("Name <email>" or an email), e.g. a reviewer who owns nothing.
    Add { person: String },
    /// Bind this OS account to a person (once): every change made here is then theirs.
    Bind { person: String },
    /// Mark a person as having left the organization: what they own gets a finding.
    Depart { person: String },
    /// Mark a departed person as back.
    Return { person: String },
    /// Import a roster CSV (name,email,active): adds who is new, marks who has left or is back.
    Import {
        file: PathBuf,
        /// Say what it would change, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum TeamCommand {
    /// Add a member to the team database: a login of their own bound to a person, in one
    /// role. The password is read from standard input. Run by an admin.
    AddMember {
        /// The person ("Name <email>", an email or an id).
        person: String,
        /// The database login to create.
        #[arg(long)]
        login: String,
        /// reviewer, owner, auditor or admin.
        #[arg(long)]
        role: String,
    },
    /// Copy this workstation's inventory (--db PATH), with its whole audit chain and
    /// checkpoints, into an empty team database, and verify it there.
    Push {
        /// The team database: postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        to: String,
    },
    /// Write a read-only SQLite snapshot of the team database (--db postgres://...) for an
    /// auditor or for travel.
    Pull {
        /// The new file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import identities from a Steward CSV, RFC 7591 client metadata or a Keycloak realm
    /// export (detected from the content).
    Registrations {
        file: PathBuf,
        /// Environment for formats that carry none (RFC 7591, Keycloak).
        #[arg(long)]
        environment: Option<Environment>,
        /// Show what each record would change, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import FHIR R4 AuditEvents (NDJSON, a Bundle, or one event) into usage aggregates.
    Audit(UsageImportArgs),
    /// Import token events: Keycloak events JSON or the Steward token CSV.
    Tokens(UsageImportArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the audit log, newest first.
    Log {
        /// Only entries about this subject, e.g. identity:42.
        #[arg(long)]
        subject: Option<String>,
        /// Only this action (identity.create), or a prefix ending in "." (review.).
        #[arg(long)]
        action: Option<String>,
        /// Only entries by this actor (OS user or database login).
        #[arg(long)]
        actor: Option<String>,
        /// From this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        since: Option<time::Timestamp>,
        /// Up to this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        until: Option<time::Timestamp>,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Recompute the hash chain and check it against every signed checkpoint (the
    /// database's and the checkpoint file's); exit non-zero naming the first bad seq.
    Verify {
        /// Check against this file of checkpoints (JSON lines: an auditor's copy, an evidence
        /// package's data/checkpoints.jsonl) instead of the one kept beside the database.
        #[arg(long, visible_alias = "checkpoint", value_name = "FILE")]
        checkpoints: Option<PathBuf>,
        /// A public key (PEM file) the checkpoints must be signed with; repeat for keys
        /// before a rotation (default: the keys this database has signed with).
        #[arg(long, value_name = "PEM")]
        key: Vec<PathBuf>,
    },
    /// Sign the current head of the chain (a checkpoint an auditor can keep).
    Checkpoint,
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Write a signed BagIt evidence package.
    Export {
        #[arg(long)]
        out: PathBuf,
        /// Audit entries from this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        since: Option<time::Timestamp>,
        #[arg(long, value_parser = parse_time)]
        until: Option<time::Timestamp>,
        #[arg(long)]
        environment: Option<Environment>,
        /// Only this recertification campaign's reviews and decisions.
        #[arg(long)]
        campaign: Option<i64>,
    },
    /// Verify a package; exit non-zero naming what is wrong.
    Verify {
        dir: PathBuf,
        /// The public key it must be signed with (default: any key this installation used).
        #[arg(long, value_name = "PEM")]
        key: Option<PathBuf>,
    },
    /// The signing key.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Where the key is kept and its fingerprint.
    Show,
    /// Print the public key (PEM).
    ExportPublic,
    /// Replace the key; old public keys stay listed so old packages still verify.
    Rotate,
    /// Make the signing key in a 0600 file beside the database, where the OS keychain
    /// cannot be used (locked, no Secret Service); the file is used from then on.
    UseFile,
}

fn parse_sort(s: &str) -> Result<IdentitySort, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        format!("'{s}' is not a sort column (name, kind, environment, business_owner, technical_owner, purpose, granted_scopes, next_review_due, status)")
    })
}

fn main() -> ExitCode {
    keep_freed_memory();
    #[cfg(target_os = "linux")]
    small_pages();
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
        return scope(c, &out);
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
        Command::Enforce(a) => connect_cli::enforce(a, &store, now, &actor, &out).await,
        Command::Drill(a) => connect_cli::drill(a, &store, now, &actor, &out).await,
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

async fn findings(
    f: FindingsArgs,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match f.action {
        Some(FindingsCommand::Accept {
            finding,
            until,
            reason,
            approver,
        }) => {
            let done = api::finding_accept(
                store,
                now,
                actor,
                &finding,
                until,
                &reason,
                approver.as_deref(),
            )
            .await?;
            out.one(&done, || {
                format!(
                    "{} accepted until {}",
                    done.id,
                    done.accepted_until.as_deref().unwrap_or("-")
                )
            })
        }
        Some(FindingsCommand::Mapping) => {
            let rows = api::framework_mapping(store).await?;
            out.table(
                &rows,
                &["RULE", "FRAMEWORK", "CONTROL"],
                rows.iter()
                    .map(|m| vec![m.rule.clone(), m.framework.clone(), m.control.clone()]),
            )
        }
        None => {
            let identity_id = match f.identity {
                Some(key) => {
                    let d = api::identity_show(
                        store,
                        &IdentityRef {
                            key,
                            environment: f.environment,
                        },
                    )
                    .await?;
                    Some(d.identity.id)
                }
                None => None,
            };
            let filter = FindingFilter {
                identity_id,
                rule: f.rule,
                severity: f.severity,
                include_accepted: f.all,
            };
            let list = api::findings_list(store, f.now.unwrap_or(now), &filter).await?;
            out.table(
                &list,
                &[
                    "SEVERITY", "RULE", "IDENTITY", "ENV", "EVIDENCE", "CONTROLS",
                ],
                list.iter().map(|x| {
                    vec![
                        x.severity.to_string(),
                        x.rule.to_string(),
                        format!("{} [{}]", x.client_id, x.identity_id),
                        x.environment.to_string(),
                        x.evidence.clone(),
                        x.frameworks.join(" "),
                    ]
                }),
            )
        }
    }
}

async fn templates(
    t: TemplatesCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let show = |t: &Template| {
        format!(
            "{} — {}\n  {}\n  kinds: {}\n  max scopes: {}\n  offline_access: {}, bulk export: {}\n  max access token lifetime: {}\n  expected auth method: {}\n  updated: {}",
            t.key,
            t.name,
            t.description,
            t.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
            t.max_scopes.as_ref().map_or("no limit".to_string(), |s| s.join(" ")),
            yes_no(t.allow_offline_access),
            yes_no(t.allow_bulk_export),
            t.max_access_token_lifetime_s.map_or("policy default".to_string(), |v| format!("{v} s")),
            t.expected_auth_method.as_deref().unwrap_or("any"),
            t.updated_at
        )
    };
    match t {
        TemplatesCommand::List => {
            let list = api::template_list(store).await?;
            out.table(
                &list,
                &[
                    "KEY",
                    "NAME",
                    "KINDS",
                    "SCOPES",
                    "OFFLINE",
                    "BULK",
                    "MAX TOKEN S",
                ],
                list.iter().map(|t| {
                    vec![
                        t.key.clone(),
                        t.name.clone(),
                        t.kinds
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                        t.max_scopes
                            .as_ref()
                            .map_or("no limit".into(), |s| s.len().to_string()),
                        yes_no(t.allow_offline_access),
                        yes_no(t.allow_bulk_export),
                        t.max_access_token_lifetime_s
                            .map_or("-".into(), |v| v.to_string()),
                    ]
                }),
            )
        }
        TemplatesCommand::Show { key } => {
            let t = api::template_show(store, &key).await?;
            out.one(&t, || show(&t))
        }
        TemplatesCommand::Edit { key, fields } => {
            let t = api::template_edit(store, now, actor, &key, fields.edit()).await?;
            out.one(&t, || show(&t))
        }
        TemplatesCommand::Create { key, fields } => {
            let t = api::template_create(store, now, actor, &key, fields.edit()).await?;
            out.one(&t, || show(&t))
        }
        TemplatesCommand::Delete { key } => {
            api::template_delete(store, now, actor, &key).await?;
            out.one(&serde_json::json!({ "deleted": key }), || {
                format!("template '{key}' deleted")
            })
        }
    }
}

async fn evidence(
    c: EvidenceCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match c {
        EvidenceCommand::Export {
            out: dir,
            since,
            until,
            environment,
            campaign,
        } => {
            let f = EvidenceFilter {
                since,
                until,
                environment,
                campaign,
            };
            let s = api::evidence_export(store, now, actor, &dir, &f).await?;
            out.one(&s, || {
                format!(
                    "wrote {} ({} payload files, {} bytes), signed by {}",
                    s.dir,
                    s.files.len(),
                    s.payload_bytes,
                    s.key_fingerprint
                )
            })
        }
        EvidenceCommand::Verify { dir, key } => {
            let pem = match key {
                Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?),
                None => None,
            };
            let v = api::evidence_verify(Some(store), &dir, pem.as_deref()).await?;
            out.one(&v, || {
                format!(
                    "{}: intact; {} payload files, {} audit entries, signed by {}",
                    dir.display(),
                    v.payload_files,
                    v.audit_entries,
                    v.key_fingerprint
                )
            })
        }
        EvidenceCommand::Key(KeyCommand::Show) => {
            let k = api::evidence_key_show(store).await?;
            out.one(&k, || {
                format!(
                    "{}\nkept in the {}: {}",
                    k.fingerprint, k.storage, k.location
                )
            })
        }
        EvidenceCommand::Key(KeyCommand::UseFile) => {
            let k = api::evidence_key_use_file(store, now, actor).await?;
            out.one(&k, || {
                format!(
                    "new key {}\nkept in the {}: {}",
                    k.fingerprint, k.storage, k.location
                )
            })
        }
        EvidenceCommand::Key(KeyCommand::Rotate) => {
            let k = api::evidence_key_rotate(store, now, actor).await?;
            out.one(&k, || {
                format!("new key {}; {} keys listed", k.fingerprint, k.known.len())
            })
        }
        EvidenceCommand::Key(KeyCommand::ExportPublic) => {
            let k = api::evidence_key_show(store).await?;
            out.one(&k.public_pem, || k.public_pem.trim_end().to_string())
        }
    }
}

/// Exit status for input the scope commands cannot read.
const UNPARSEABLE: u8 = 2;

/// Each scope of each argument (an argument may hold several, space-separated).
fn scope_infos(args: &[String]) -> Vec<ScopeInfo> {
    args.iter()
        .flat_map(|s| s.split_whitespace())
        .map(api::scope_info)
        .collect()
}

fn scope(c: ScopeCommand, out: &Output) -> Result<ExitCode, Error> {
    match c {
        ScopeCommand::Parse { scopes } => {
            let infos = scope_infos(&scopes);
            if out.json {
                for i in &infos {
                    say!("{}", serde_json::to_string(i).map_err(json_error)?);
                }
            } else {
                out.table(
                    &infos,
                    &["SCOPE", "VALID", "CANONICAL", "MEANING"],
                    infos.iter().map(|i| {
                        vec![
                            i.scope.clone(),
                            yes_no(i.valid),
                            i.canonical.clone().unwrap_or_else(|| "-".into()),
                            i.explanation.clone(),
                        ]
                    }),
                )?;
            }
        }
        ScopeCommand::Allows {
            granted,
            context,
            request,
        } => {
            let set = ScopeSet::parse(&granted);
            if let Some(bad) = set.invalid().first() {
                eprintln!("error: --granted: {bad}");
                return Ok(ExitCode::from(UNPARSEABLE));
            }
            let request = match Request::parse(&request) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: request: {e}");
                    return Ok(ExitCode::from(UNPARSEABLE));
                }
            };
            let decision = allows(&set, context, &request);
            say!("{}", serde_json::to_string(&decision).map_err(json_error)?);
        }
        ScopeCommand::Explain { scopes } => {
            let infos = scope_infos(&scopes);
            out.one(&infos, || {
                infos
                    .iter()
                    .map(|i| {
                        let traits: Vec<String> =
                            i.traits.iter().map(|t| format!("{t:?}")).collect();
                        let name = i.canonical.as_deref().unwrap_or(&i.scope);
                        if traits.is_empty() {
                            format!("{name}: {}", i.explanation)
                        } else {
                            format!("{name}: {} [{}]", i.explanation, traits.join(", "))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        ScopeCommand::Diff { approved, granted } => {
            let d = api::scope_diff(&approved, &granted);
            out.one(&d, || {
                let list = |v: &[String]| if v.is_empty() { "(none)".to_string() } else { v.join(" ") };
                format!(
                    "granted beyond approved:  {}\napproved but not granted: {}\ngranted risk:  {} ({})\napproved risk: {} ({}){}",
                    list(&d.beyond_approved),
                    list(&d.approved_not_granted),
                    d.granted_risk.score,
                    d.granted_risk.tier,
                    d.approved_risk.score,
                    d.approved_risk.tier,
                    if d.invalid.is_empty() {
                        String::new()
                    } else {
                        format!("\nnot SMART scopes: {}", d.invalid.join(" "))
                    }
                )
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
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
        Command::Identity(c) => identity(c, store, now, actor, out).await,
        Command::Person(PersonCommand::List) => {
            let people = api::person_list(store).await?;
            out.table(
                &people,
                &["ID", "NAME", "EMAIL", "ACTIVE"],
                people.iter().map(|p| {
                    vec![
                        p.id.to_string(),
                        p.name.clone(),
                        p.email.clone(),
                        yes_no(p.active),
                    ]
                }),
            )
        }
        Command::Person(PersonCommand::Bind { person }) => {
            let w = api::person_bind(store, now, actor, &person).await?;
            out.one(&w, || whoami_text(&w))
        }
        Command::Whoami => {
            let w = api::whoami(store, actor).await?;
            out.one(&w, || whoami_text(&w))
        }
        Command::Team(TeamCommand::AddMember {
            person,
            login,
            role,
        }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| Error::io("standard input", e))?;
            let password =
                zeroize::Zeroizing::new(password.trim_end_matches(['\r', '\n']).to_string());
            let w =
                api::team_add_member(store, now, actor, &person, &login, &role, &password).await?;
            out.one(&w, || format!("added {} as {}", w.os_user, role))
        }
        Command::Team(TeamCommand::Push { to }) => {
            let t = api::team_push(store, now, actor, &to).await?;
            out.one(&t, || transfer_text("pushed", &t))
        }
        Command::Team(TeamCommand::Pull { out: file }) => {
            let t = api::team_pull(store, &file).await?;
            out.one(&t, || {
                format!(
                    "{}\n{} is read-only: open it with --db {}",
                    transfer_text("pulled", &t),
                    file.display(),
                    file.display()
                )
            })
        }
        Command::Person(PersonCommand::Depart { person }) => {
            let p = api::person_set_active(store, now, actor, &person, false).await?;
            out.one(&p, || {
                format!("{} <{}> has left the organization", p.name, p.email)
            })
        }
        Command::Person(PersonCommand::Return { person }) => {
            let p = api::person_set_active(store, now, actor, &person, true).await?;
            out.one(&p, || format!("{} <{}> is back", p.name, p.email))
        }
        Command::Person(PersonCommand::Import { file, dry_run }) => {
            let r = api::people_import_roster(store, now, actor, &file, dry_run).await?;
            out.one(&r, || {
                format!(
                    "{}: {} added, {} departed, {} back, {} unchanged{}",
                    file.display(),
                    r.added.len(),
                    r.departed.len(),
                    r.returned.len(),
                    r.unchanged,
                    if r.dry_run {
                        " (a preview: nothing was written)"
                    } else {
                        ""
                    }
                )
            })
        }
        Command::Person(PersonCommand::Add { person }) => {
            let p = api::person_add(store, now, actor, &person).await?;
            out.one(&p, || format!("{} <{}> [{}]", p.name, p.email, p.id))
        }
        Command::Import(ImportCommand::Registrations {
            file,
            environment,
            dry_run,
        }) => {
            let s =
                api::registrations_import(store, now, actor, &file, environment, dry_run).await?;
            for w in s.warnings.iter().chain(&s.skipped) {
                eprintln!("note: {w}");
            }
            out.one(&s, || {
                let mut text = format!(
                    "{}: {} records ({:?}): {} created, {} updated, {} unchanged, {} skipped",
                    s.file,
                    s.records,
                    s.format,
                    s.created,
                    s.updated,
                    s.unchanged,
                    s.skipped.len()
                );
                if s.dry_run {
                    text.push_str(" (a preview: nothing was written)");
                    for c in s.changes.iter().filter(|c| c.outcome != "unchanged") {
                        text.push_str(&format!(
                            "\n  {} {} [{}]: {}{}",
                            c.outcome,
                            c.client_id,
                            c.environment,
                            c.fields.join(", "),
                            c.reopens
                                .as_deref()
                                .map(|r| format!("; reopens review: {r}"))
                                .unwrap_or_default()
                        ));
                    }
                }
                text
            })
        }
        Command::Audit(AuditCommand::Log {
            subject,
            action,
            actor,
            since,
            until,
            limit,
        }) => {
            let query = AuditQuery {
                subject,
                action,
                actor,
                since: since.map(time::format),
                until: until.map(time::format),
                limit,
            };
            let entries = api::audit_log(store, &query).await?;
            out.table(
                &entries,
                &["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "HASH"],
                entries.iter().map(|e| {
                    vec![
                        e.seq.to_string(),
                        e.at.clone(),
                        e.actor.clone(),
                        e.action.clone(),
                        e.subject.clone(),
                        e.hash[..16].to_string(),
                    ]
                }),
            )
        }
        Command::Findings(f) => findings(f, store, now, actor, out).await,
        Command::Templates(t) => templates(t, store, now, actor, out).await,
        Command::Review(c) => review_cli::review(c, store, now, actor, out).await,
        Command::Attest(a) => review_cli::attest(a, store, now, actor, out).await,
        Command::Import(ImportCommand::Audit(a)) => {
            usage_cli::import_audit(a, store, now, actor, out).await
        }
        Command::Import(ImportCommand::Tokens(a)) => {
            usage_cli::import_tokens(a, store, now, actor, out).await
        }
        Command::Trace(a) => usage_cli::trace(a, store, out).await,
        Command::Usage(a) => usage_cli::usage(a, store, now, out).await,
        Command::Connect(c) => connect_cli::connect(c, store, now, actor, out).await,
        Command::Credential(c) => connect_cli::credential(c, store, now, actor, out).await,
        Command::Register(t) => connect_cli::register(t, store, now, actor, out).await,
        Command::Sync(a) => connect_cli::sync(a, store, now, actor, out).await,
        Command::Enforce(_) | Command::Drill(_) => unreachable!("run handles them"),
        // Handled in `run` before any database is opened.
        Command::Scope(c) => scope(c, out).map(drop),
        Command::Audit(AuditCommand::Checkpoint) => {
            let c = api::audit_checkpoint(store, now, actor).await?;
            out.one(&c, || {
                format!(
                    "checkpoint at seq {} head {} signed by {}",
                    c.seq, c.head_hash, c.key_fingerprint
                )
            })
        }
        Command::Evidence(c) => evidence(c, store, now, actor, out).await,
        Command::Audit(AuditCommand::Verify { checkpoints, key }) => {
            let keys = key
                .iter()
                .map(|p| std::fs::read_to_string(p).map_err(|e| Error::io(p, e)))
                .collect::<Result<Vec<_>, _>>()?;
            let opts = api::VerifyOptions { checkpoints, keys };
            let s = api::audit_verify_with(store, &opts).await?;
            out.one(&s, || {
                let outside = match &s.checkpoints_file {
                    Some(f) => format!(" (with {f})"),
                    None => " (no checkpoint file)".to_string(),
                };
                format!(
                    "audit log intact: {} entries, head {}\n{} signed checkpoints hold{outside}",
                    s.entries, s.head_hash, s.checkpoints
                )
            })
        }
    }
}

async fn identity(
    c: IdentityCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let detail = match c {
        IdentityCommand::List {
            environment,
            kind,
            status,
            search,
            owner,
            sort,
            desc,
            limit,
        } => {
            let owner = match owner {
                Some(spec) => Some(api::person_id(store, &spec).await?),
                None => None,
            };
            let filter = IdentityFilter {
                environment,
                kind,
                status,
                search,
                owner,
                sort,
                descending: desc,
                limit,
                offset: None,
            };
            let page = api::identity_list(store, &filter).await?;
            return out.table(&page.rows, LIST_HEADER, page.rows.iter().map(list_row));
        }
        IdentityCommand::Show(t) => api::identity_show(store, &t.reference()).await?,
        IdentityCommand::Add(a) => {
            let a = *a;
            let n = NewIdentity {
                client_id: a.client_id,
                environment: Some(a.environment),
                fields: a.fields.edit(Some(a.name), Some(a.kind), Some(a.ai_agent)),
            };
            api::identity_add(store, now, actor, n).await?
        }
        IdentityCommand::Edit(e) => {
            let e = *e;
            let edit = e.fields.edit(e.name, e.kind, e.ai_agent);
            api::identity_edit(store, now, actor, &e.target.reference(), edit).await?
        }
        IdentityCommand::SetOwner {
            target,
            role,
            person,
        } => api::identity_set_owner(store, now, actor, &target.reference(), role, &person).await?,
        IdentityCommand::SetPurpose {
            target,
            purpose,
            use_case,
        } => {
            api::identity_set_purpose(store, now, actor, &target.reference(), &purpose, use_case)
                .await?
        }
        IdentityCommand::Retire { target, reason } => {
            api::identity_retire(store, now, actor, &target.reference(), reason).await?
        }
        IdentityCommand::Drillable { target, state } => {
            let on = state == "on";
            api::identity_set_drillable(store, now, actor, &target.reference(), on).await?;
            return out.one(&serde_json::json!({ "drillable": on }), || {
                format!(
                    "identity {}: drills {}",
                    target.id,
                    if on { "allowed" } else { "not allowed" }
                )
            });
        }
    };
    out.one(&detail, || {
        let i = &detail.identity;
        let person = |p: &Option<steward::inventory::Person>| match p {
            Some(p) if p.active => format!("{} <{}>", p.name, p.email),
            Some(p) => format!("{} <{}> (departed)", p.name, p.email),
            None => "-".to_string(),
        };
        let mut s = format!(
            "{} [{}] {} / {} / {}\n  client_id:        {}\n  vendor:           {}\n  business owner:   {}\n  technical owner:  {}\n  purpose:          {}\n  use case:         {}\n  auth method:      {}\n  token lifetimes:  access {} s, refresh {}\n  next review due:  {} ({} review tier)\n",
            i.name,
            i.id,
            i.kind,
            i.environment,
            i.status,
            i.client_id,
            dash(&i.vendor),
            person(&i.business_owner),
            person(&i.technical_owner),
            dash(&i.purpose),
            dash(&i.use_case),
            dash(&i.auth_method),
            i.access_token_lifetime_s.map_or("-".into(), |v| v.to_string()),
            i.refresh_token_lifetime_s.map_or("none".into(), |v| format!("{v} s")),
            dash(&i.next_review_due),
            i.review_tier,
        );
        if let Some(why) = &i.reauth_reason {
            s.push_str(&format!(
                "  re-authorization: needed since {} ({why})\n",
                dash(&i.reauth_since)
            ));
        }
        s.push_str("  approved scopes:\n");
        for a in &detail.approvals {
            s.push_str(&format!(
                "    {:<40} {}\n",
                a.scope,
                a.justification.as_deref().unwrap_or("(no justification)")
            ));
        }
        s.push_str(&format!("  granted scopes:   {}\n", i.granted_scopes.join(" ")));
        s.push_str("  credentials:\n");
        for c in &detail.credentials {
            let reuse = if c.reused_by > 0 {
                format!("  REUSED by {} other identities", c.reused_by)
            } else {
                String::new()
            };
            s.push_str(&format!("    {:<6} {}{}\n", c.kind, c.fingerprint, reuse));
        }
        s.push_str("  history:\n");
        for e in &detail.history {
            s.push_str(&format!("    #{:<6} {} {} {}\n", e.seq, e.at, e.actor, e.action));
        }
        s.trim_end().to_string()
    })
}

const LIST_HEADER: &[&str] = &[
    "ID",
    "NAME",
    "KIND",
    "ENVIRONMENT",
    "BUSINESS OWNER",
    "TECHNICAL OWNER",
    "PURPOSE",
    "GRANTED",
    "NEXT REVIEW",
    "STATUS",
];

fn list_row(i: &Identity) -> Vec<String> {
    let name =
        |p: &Option<steward::inventory::Person>| p.as_ref().map_or("-".into(), |p| p.name.clone());
    vec![
        i.id.to_string(),
        i.name.clone(),
        i.kind.to_string(),
        i.environment.to_string(),
        name(&i.business_owner),
        name(&i.technical_owner),
        dash(&i.purpose),
        i.granted_scopes.len().to_string(),
        i.next_review_due
            .as_deref()
            .map_or("-".into(), |d| d[..10.min(d.len())].to_string()),
        i.status.to_string(),
    ]
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

fn transfer_text(verb: &str, t: &api::Transfer) -> String {
    let rows: u64 = t.tables.values().sum();
    format!(
        "{verb} {rows} rows in {} tables; audit chain verified: {} entries, head {}; {} checkpoints verified",
        t.tables.len(),
        t.audit_entries,
        t.head_hash,
        t.checkpoints
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_kept_is_mimallocs_purge_delay() {
        // The bindings do not name the option: its place is checked by its default (1000 ms,
        // which no neighbouring option has), then the setting is read back.
        #[allow(unsafe_code)]
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 1000);
        }
        keep_freed_memory();
        assert_eq!(get(), -1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_command_asks_for_small_pages() {
        // SAFETY: PR_GET_THP_DISABLE reads one flag of the process.
        #[allow(unsafe_code)]
        let disabled = || unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        small_pages();
        assert_eq!(disabled(), 1);
    }
}
