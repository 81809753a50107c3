//! Usage and traceability: importing audit logs and token events, the trace of every call to
//! a justified need, and what each identity actually used.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use super::identity::{resolve, IdentityRef};
use crate::audit::{Actor, Draft};
use crate::inventory::{text_enum, Environment};
use crate::scope::{allows, minimal_cover, Context, Interaction, Request, Scope, ScopeSet};
use crate::store::usage::{self as db, NewTokenEvent, UsageBatch, UsageRow};
use crate::store::Engine;
use crate::time::{self, Timestamp};
use crate::usage::tokens::{self, ParsedTokens, TokenEvent, TokenEventKind};
use crate::usage::{self, Aggregates, BadLine, Control, Scan, Tokens};
use crate::{Error, Result, Store};

/// Unknown clients listed in a summary (all are kept in the aggregates).
const UNKNOWN_LISTED: usize = 20;

/// Aggregates merged and written at a time: memory holds a few batches of them (one being
/// written, the next ones merged meanwhile).
const AGGREGATES_A_BATCH: usize = 4096;

/// What an audit import did.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AuditImportSummary {
    pub file: String,
    pub environment: Environment,
    pub content_hash: String,
    /// True when this content was imported before: nothing was written.
    pub already_imported: bool,
    #[ts(type = "number")]
    pub calls: u64,
    /// Distinct (client, day, context, type, interaction, outcome) rows written (none when
    /// the content was imported before).
    #[ts(type = "number")]
    pub aggregates: usize,
    /// Events that are not REST calls (logins, logouts, ...).
    #[ts(type = "number")]
    pub not_rest: u64,
    #[ts(type = "number")]
    pub malformed: u64,
    /// The first malformed lines.
    pub bad: Vec<BadLine>,
    /// (client_id, calls) of clients the inventory does not know; "" is a call that named
    /// no client.
    #[ts(type = "[string, number][]")]
    pub unknown_clients: Vec<(String, u64)>,
}

fn import_error(file: &str, location: String, field: &str, message: String) -> Error {
    Error::Import {
        file: file.to_string(),
        location,
        field: field.to_string(),
        message,
    }
}

/// Imports a FHIR AuditEvent log (NDJSON, a Bundle or one event) into usage aggregates, in
/// one transaction: a failure or a cancel leaves nothing. The same content twice is
/// detected and not counted again. Malformed lines are reported (and fail the import when
/// `strict`).
pub async fn usage_import_audit(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    path: &Path,
    environment: Environment,
    strict: bool,
    control: &Control<'_>,
) -> Result<AuditImportSummary> {
    let file = path.display().to_string();
    let (tokens, known) = lookups(store, environment).await?;

    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(path, e))?;
    let size = meta.len();
    let too_big = || {
        import_error(
            &file,
            "line 1".into(),
            "format",
            format!(
                "one JSON document of more than {} MiB; larger logs must be NDJSON (one event a line)",
                usage::MAX_DOCUMENT >> 20
            ),
        )
    };
    let document = |bytes: &[u8]| {
        usage::scan_document(bytes, &tokens).map_err(|e| match e {
            Error::Import {
                location,
                field,
                message,
                ..
            } => import_error(&file, location, &field, message),
            other => other,
        })
    };
    let ndjson = |input| {
        usage::scan_ndjson(input, size, &tokens, control).map_err(|e| match e {
            Error::Io { source, .. } => Error::io(path, source),
            other => other,
        })
    };
    // Read, never mapped: a file changed underneath is read as it comes (a mapped file
    // truncated meanwhile would end the process), and reading cost little more.
    const HEAD: usize = 64 << 10;
    let scan = {
        let mut head = vec![0u8; HEAD];
        let n = read_up_to(&mut f, &mut head).map_err(|e| Error::io(path, e))?;
        head.truncate(n);
        if usage::looks_like_ndjson(&head) {
            ndjson(usage::Input::Stream(Box::new(
                std::io::Cursor::new(head).chain(f),
            )))?
        } else {
            let mut bytes = head;
            f.take(usage::MAX_DOCUMENT + 1 - n as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io(path, e))?;
            if bytes.len() as u64 > usage::MAX_DOCUMENT {
                return Err(too_big());
            }
            document(&bytes)?
        }
    };
    if strict {
        if let Some(b) = scan.bad.first() {
            return Err(import_error(
                &file,
                format!("line {}", b.line),
                "event",
                format!(
                    "{} ({} malformed in all; --strict)",
                    b.message, scan.malformed
                ),
            ));
        }
    }
    write_audit_import(store, now, actor, &file, environment, scan, known).await
}

/// What reading a log needs to know: which client each known token was issued to, and the
/// identity behind each (client_id, environment).
async fn lookups(
    store: &Store,
    environment: Environment,
) -> Result<(Tokens<'_>, HashMap<(String, Environment), i64>)> {
    let mut conn = store.read().await?;
    let mut tokens = Tokens::new(
        store.fingerprint_key(),
        db::token_clients(&mut conn, environment).await?,
    );
    for (fingerprint, scopes) in db::token_scopes(&mut conn, environment).await? {
        match ScopeSet::parse(&scopes).only_context() {
            Some(context) => tokens.contexts.insert(fingerprint, context),
            None => tokens.contexts.remove(&fingerprint),
        };
    }
    tokens.kinds = db::client_kinds(&mut conn, environment)
        .await?
        .into_iter()
        .map(|(client, kind)| (client, kind.context()))
        .collect();
    let known = db::identities_by_client(&mut conn).await?;
    Ok((tokens, known))
}

/// Imports an NDJSON log held in memory (the demo's), as `usage_import_audit` would a file.
pub(super) async fn usage_import_bytes(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    name: &str,
    environment: Environment,
    bytes: &[u8],
) -> Result<AuditImportSummary> {
    let (tokens, known) = lookups(store, environment).await?;
    let cancel = AtomicBool::new(false);
    let scan = usage::scan_ndjson(
        usage::Input::Bytes(bytes),
        bytes.len() as u64,
        &tokens,
        &no_control(&cancel),
    )?;
    write_audit_import(store, now, actor, name, environment, scan, known).await
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// One client's rows of an import, as they go by.
struct ClientRun {
    client_id: String,
    identity_id: Option<i64>,
    /// Its calls, for a client the inventory does not know.
    calls: u64,
    /// Its last successful call, for one it does.
    last: Option<String>,
}

/// What an import's aggregates say of their clients.
#[derive(Default)]
struct Clients {
    /// The clients the inventory does not know, with their calls.
    unknown: Vec<(String, u64)>,
    /// The identities whose last successful call the aggregates hold.
    last: Vec<(i64, String)>,
}

impl ClientRun {
    /// Adds the client, its rows all seen, to what the aggregates say of their clients.
    fn end(self, clients: &mut Clients) {
        match (self.identity_id, self.last) {
            (None, _) => clients.unknown.push((self.client_id, self.calls)),
            (Some(id), Some(at)) => clients.last.push((id, at)),
            (Some(_), None) => {}
        }
    }
}

/// The aggregates made into rows ready for `engine` on a thread of their own, a batch at a
/// time, the next batches while the last one is written: merged from their runs, each tied
/// to its identity, their values bound. They come in primary-key order, each client's rows
/// together, so a client's identity is looked up, and its calls or last use summed, once.
/// The channel closes after the last batch or the first error; the thread then hands back
/// what the rows said of their clients. Dropping the receiver stops the thread at its next
/// batch.
fn ready_rows(
    mut aggregates: Aggregates,
    known: HashMap<(String, Environment), i64>,
    engine: Engine,
    environment: Environment,
) -> (
    tokio::sync::mpsc::Receiver<Result<UsageBatch>>,
    std::thread::JoinHandle<Clients>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let thread = std::thread::spawn(move || {
        let mut clients = Clients::default();
        let mut client: Option<ClientRun> = None;
        loop {
            let batch = match aggregates.next_batch(AGGREGATES_A_BATCH) {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => batch,
                Err(e) => {
                    let _ = tx.blocking_send(Err(Error::io("a temporary file of the import", e)));
                    break;
                }
            };
            let mut rows = Vec::with_capacity(batch.len());
            for (k, a) in batch {
                let c = match &mut client {
                    Some(c) if c.client_id == k.client_id => c,
                    _ => {
                        if let Some(done) = client.take() {
                            done.end(&mut clients);
                        }
                        client.insert(ClientRun {
                            identity_id: known.get(&(k.client_id.clone(), environment)).copied(),
                            client_id: k.client_id.clone(),
                            calls: 0,
                            last: None,
                        })
                    }
                };
                c.calls += a.calls;
                if k.success && c.last.as_ref().is_none_or(|l| a.last > *l) {
                    c.last = Some(a.last.clone());
                }
                rows.push(UsageRow {
                    client_id: k.client_id,
                    day: k.day,
                    context: k.context.as_str(),
                    resource_type: k.resource_type,
                    interaction: k.interaction.as_str(),
                    outcome: if k.success { "success" } else { "failure" },
                    identity_id: c.identity_id,
                    calls: a.calls,
                    by_token: a.by_token,
                    by_identity: a.by_identity,
                    first_seen: a.first,
                    last_seen: a.last,
                });
            }
            if tx
                .blocking_send(UsageBatch::new(engine, environment, rows))
                .is_err()
            {
                break;
            }
        }
        if let Some(done) = client.take() {
            done.end(&mut clients);
        }
        clients
    });
    (rx, thread)
}

async fn write_audit_import(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    file: &str,
    environment: Environment,
    mut scan: Scan,
    known: HashMap<(String, Environment), i64>,
) -> Result<AuditImportSummary> {
    let mut summary = AuditImportSummary {
        file: file.to_string(),
        environment,
        content_hash: scan.content_hash.clone(),
        already_imported: false,
        calls: scan.calls,
        aggregates: 0,
        not_rest: scan.not_rest,
        malformed: scan.malformed,
        bad: scan.bad.clone(),
        unknown_clients: Vec::new(),
    };
    let mut tx = store.begin_write().await?;
    if db::previous_import(&mut tx, "audit", &scan.content_hash, environment)
        .await?
        .is_some()
    {
        summary.already_imported = true;
        return Ok(summary);
    }
    let stamp = time::format(now);
    db::insert_import(
        &mut tx,
        "audit",
        file,
        &scan.content_hash,
        environment,
        i64::try_from(scan.calls).unwrap_or(i64::MAX),
        i64::try_from(scan.malformed).unwrap_or(i64::MAX),
        &stamp,
    )
    .await?;
    let load = db::begin_usage(&mut tx).await?;
    let (mut batches, thread) = ready_rows(
        std::mem::take(&mut scan.aggregates),
        known,
        store.engine(),
        environment,
    );
    while let Some(batch) = batches.recv().await {
        let batch = batch?;
        summary.aggregates += batch.len();
        db::add_usage(&mut tx, batch).await?;
    }
    let Clients { mut unknown, last } = thread
        .join()
        .map_err(|_| Error::Internal("the thread making usage rows failed".into()))?;
    db::end_usage(&mut tx, load).await?;
    unknown.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let touched: Vec<(i64, String)> = last
        .into_iter()
        .filter_map(|(id, t)| Some((id, time::format(time::parse(&t).ok()?))))
        .collect();
    db::touch_last_used(&mut tx, &touched).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "usage.import_audit",
        format!("import:{}", file_name(file)),
        json!({
            "file": file,
            "content_hash": scan.content_hash,
            "environment": environment,
            "calls": scan.calls,
            "aggregates": summary.aggregates,
            "not_rest": scan.not_rest,
            "malformed": scan.malformed,
            "unknown_clients": unknown.iter().take(UNKNOWN_LISTED).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    summary.unknown_clients = unknown;
    Ok(summary)
}

fn file_name(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map_or(file.to_string(), |n| n.to_string_lossy().into_owned())
}

/// What a token import did.
#[derive(Debug, Clone, Serialize, TS)]
pub struct TokenImportSummary {
    pub file: String,
    /// `keycloak` or `csv`.
    pub format: String,
    pub content_hash: String,
    pub already_imported: bool,
    #[ts(type = "number")]
    pub events: usize,
    /// Count per event kind.
    #[ts(type = "Record<string, number>")]
    pub by_kind: BTreeMap<String, usize>,
    /// Events of clients the inventory does not know (kept, not tied to an identity).
    #[ts(type = "number")]
    pub unknown_client: usize,
    #[ts(type = "number")]
    pub skipped: u64,
    /// (location, what is wrong).
    #[ts(type = "[string, string][]")]
    pub bad: Vec<(String, String)>,
}

/// Imports token events (Keycloak events JSON or the Steward token CSV) in one transaction;
/// each event is stored with fingerprints only and recorded in the audit chain.
pub async fn usage_import_tokens(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    path: &Path,
    environment: Environment,
    strict: bool,
) -> Result<TokenImportSummary> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let (format, parsed): (&str, std::result::Result<ParsedTokens, String>) = match first {
        Some(b'{' | b'[') => ("keycloak", tokens::parse_keycloak(&bytes)),
        _ => ("csv", tokens::parse_csv(&bytes)),
    };
    let parsed = parsed.map_err(|m| {
        let (location, message) = m
            .split_once(": ")
            .map_or(("file".to_string(), m.clone()), |(l, r)| {
                (l.to_string(), r.to_string())
            });
        import_error(&file, location, format, message)
    })?;
    if strict {
        if let Some((location, message)) = parsed.bad.first() {
            return Err(import_error(
                &file,
                location.clone(),
                "event",
                message.clone(),
            ));
        }
    }
    let content_hash = format!("blake3:{}", blake3::hash(&bytes).to_hex());
    let mut summary = TokenImportSummary {
        file: file.clone(),
        format: format.to_string(),
        content_hash: content_hash.clone(),
        already_imported: false,
        events: parsed.events.len(),
        by_kind: BTreeMap::new(),
        unknown_client: 0,
        skipped: parsed.skipped,
        bad: parsed.bad.clone(),
    };
    let mut tx = store.begin_write().await?;
    if db::previous_import(&mut tx, "tokens", &content_hash, environment)
        .await?
        .is_some()
    {
        summary.already_imported = true;
        return Ok(summary);
    }
    let mut recorded = record_token_events(
        &mut tx,
        store,
        now,
        parsed.events,
        TokenSource {
            kind: "tokens",
            file: &file,
            content_hash: &content_hash,
            environment,
            malformed: summary.bad.len(),
        },
    )
    .await?;
    summary.by_kind = recorded.by_kind;
    summary.unknown_client = recorded.unknown_client;
    let mut drafts = std::mem::take(&mut recorded.drafts);
    drafts.push(Draft {
        action: "usage.import_tokens",
        subject: format!("import:{}", file_name(&file)),
        details: json!({
            "file": file,
            "format": format,
            "content_hash": content_hash,
            "environment": environment,
            "events": recorded.rows,
            "by_kind": summary.by_kind,
            "unknown_client": summary.unknown_client,
            "skipped": summary.skipped,
            "malformed": summary.bad.len(),
        }),
    });
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    Ok(summary)
}

/// Where token events came from.
pub(crate) struct TokenSource<'a> {
    pub kind: &'a str,
    pub file: &'a str,
    pub content_hash: &'a str,
    pub environment: Environment,
    pub malformed: usize,
}

/// Token events written, by kind, with their audit drafts.
pub(crate) struct Recorded {
    pub rows: usize,
    pub by_kind: BTreeMap<String, usize>,
    pub unknown_client: usize,
    pub drafts: Vec<Draft>,
}

/// Writes token events (tokens and subjects fingerprinted, never stored raw) as one import,
/// and notes when each known client was last used.
pub(crate) async fn record_token_events(
    tx: &mut crate::store::Db,
    store: &Store,
    now: Timestamp,
    events: Vec<tokens::RawTokenEvent>,
    source: TokenSource<'_>,
) -> Result<Recorded> {
    let environment = source.environment;
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut unknown_client = 0;
    let known = db::identities_by_client(&mut *tx).await?;
    let key = store.fingerprint_key();
    let mut rows = Vec::with_capacity(events.len());
    let mut drafts = Vec::with_capacity(events.len() + 1);
    let mut last: HashMap<i64, String> = HashMap::new();
    for e in events {
        let env = e.environment.unwrap_or(environment);
        let identity_id = known.get(&(e.client_id.clone(), env)).copied();
        let at = time::format(e.at);
        *by_kind.entry(e.event.to_string()).or_default() += 1;
        match identity_id {
            None => unknown_client += 1,
            Some(id) if matches!(e.event, TokenEventKind::Issued | TokenEventKind::Refreshed) => {
                let l = last.entry(id).or_insert_with(|| at.clone());
                if at > *l {
                    *l = at.clone();
                }
            }
            Some(_) => {}
        }
        let row = NewTokenEvent {
            identity_id,
            client_id: e.client_id,
            environment: env,
            at,
            event: e.event.as_str(),
            source: e.source,
            scopes: e.scopes,
            token_fingerprint: e.token_id.as_deref().map(|t| key.secret(t)),
            subject: e.subject.as_deref().map(|s| key.secret(s)),
            expires_in: e.expires_in,
            error: e.error,
        };
        drafts.push(Draft {
            action: token_action(e.event),
            subject: identity_id.map_or_else(
                || format!("client:{}", row.client_id),
                |id| format!("identity:{id}"),
            ),
            details: json!({
                "client_id": row.client_id,
                "environment": env,
                "at": row.at,
                "source": row.source,
                "scopes": row.scopes,
                "token": row.token_fingerprint,
                "expires_in": row.expires_in,
                "error": row.error,
            }),
        });
        rows.push(row);
    }
    let import_id = db::insert_import(
        &mut *tx,
        source.kind,
        source.file,
        source.content_hash,
        environment,
        rows.len() as i64,
        source.malformed as i64,
        &time::format(now),
    )
    .await?;
    db::insert_token_events(&mut *tx, import_id, &rows).await?;
    db::touch_last_used(&mut *tx, &last.into_iter().collect::<Vec<_>>()).await?;
    Ok(Recorded {
        rows: rows.len(),
        by_kind,
        unknown_client,
        drafts,
    })
}

fn token_action(kind: TokenEventKind) -> &'static str {
    match kind {
        TokenEventKind::Issued => "token.issued",
        TokenEventKind::Refreshed => "token.refreshed",
        TokenEventKind::Revoked => "token.revoked",
        TokenEventKind::ScopeChanged => "token.scope_changed",
        TokenEventKind::Failed => "token.failed",
    }
}

text_enum! {
    /// Where one API call stands on the way to a justified business need.
    TraceClass {
        Traced => "traced",
        Unjustified => "unjustified",
        OutsideGrant => "outside_grant",
        Unowned => "unowned",
        UnknownClient => "unknown_client",
    }
}

/// Calls per class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
pub struct ClassCounts {
    #[ts(type = "number")]
    pub total_calls: i64,
    #[ts(type = "number")]
    pub traced: i64,
    #[ts(type = "number")]
    pub unjustified: i64,
    #[ts(type = "number")]
    pub outside_grant: i64,
    #[ts(type = "number")]
    pub unowned: i64,
    #[ts(type = "number")]
    pub unknown_client: i64,
}

impl ClassCounts {
    fn add(&mut self, class: TraceClass, calls: i64) {
        self.total_calls += calls;
        *match class {
            TraceClass::Traced => &mut self.traced,
            TraceClass::Unjustified => &mut self.unjustified,
            TraceClass::OutsideGrant => &mut self.outside_grant,
            TraceClass::Unowned => &mut self.unowned,
            TraceClass::UnknownClient => &mut self.unknown_client,
        } += calls;
    }
}

/// One identity's (or unknown client's) share of the trace.
#[derive(Debug, Clone, Serialize, TS)]
pub struct IdentityTrace {
    #[ts(type = "number | null")]
    pub identity_id: Option<i64>,
    pub client_id: String,
    pub name: Option<String>,
    pub environment: Environment,
    #[serde(flatten)]
    pub counts: ClassCounts,
}

/// A row that is not traced: who did what, how often, and why it is not traced.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Offender {
    #[ts(type = "number | null")]
    pub identity_id: Option<i64>,
    pub client_id: String,
    pub environment: Environment,
    pub context: Context,
    pub resource_type: String,
    pub interaction: String,
    pub class: TraceClass,
    #[ts(type = "number")]
    pub calls: i64,
}

/// The trace of every call in a window to a justified business need.
#[derive(Debug, Clone, Serialize, TS)]
pub struct TraceReport {
    pub since: Option<String>,
    pub until: Option<String>,
    #[serde(flatten)]
    pub counts: ClassCounts,
    /// Share of calls traced, 0-100 (100 when there are no calls).
    pub traced_percent: f64,
    /// Calls whose event named no patient or person as its requestor, classed by the
    /// context of the scopes their token was issued with.
    #[ts(type = "number")]
    pub context_by_token: i64,
    /// Calls whose event named no patient or person as its requestor and whose token Steward
    /// does not hold, classed by the context the calling identity's kind makes possible.
    #[ts(type = "number")]
    pub context_by_identity: i64,
    pub identities: Vec<IdentityTrace>,
    /// The largest untraced rows, most calls first.
    pub top: Vec<Offender>,
}

struct Subject {
    name: String,
    granted: ScopeSet,
    justified: ScopeSet,
    owned_with_purpose: bool,
}

fn request(resource_type: &str, interaction: Interaction) -> Request {
    Request {
        method: "GET".into(),
        interaction,
        resource: crate::scope::fhir::resource_type(resource_type),
        types: Vec::new(),
        params: Vec::new(),
        operation: None,
    }
}

fn classify(row: &db::CallRow, subject: Option<&Subject>) -> TraceClass {
    let Some(s) = subject else {
        return TraceClass::UnknownClient;
    };
    let context = row.context.parse::<Context>().ok();
    let Some(interaction) = Interaction::from_code(&row.interaction) else {
        return TraceClass::OutsideGrant;
    };
    let req = request(&row.resource_type, interaction);
    if !allows(&s.granted, context, &req).allowed {
        TraceClass::OutsideGrant
    } else if !allows(&s.justified, context, &req).allowed {
        TraceClass::Unjustified
    } else if !s.owned_with_purpose {
        TraceClass::Unowned
    } else {
        TraceClass::Traced
    }
}

/// How many untraced rows a report lists.
const TOP: usize = 20;

/// Classifies every call between `since` and `until` (inclusive days): traced, unjustified,
/// outside grant, unowned, unknown client, in that order of precedence from the worst:
/// unknown client, then outside grant, then unjustified, then unowned.
pub async fn trace(
    store: &Store,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Result<TraceReport> {
    let day = |t: Timestamp| time::format(t)[..10].to_string();
    let (since, until) = (since.map(day), until.map(day));
    let mut conn = store.read().await?;
    let rows = db::calls(&mut conn, since.as_deref(), until.as_deref(), None).await?;
    // Only the identities that called in the window are read (one of a hundred thousand,
    // perhaps), each distinct scope text parsed once.
    let mut ids: Vec<i64> = rows.iter().filter_map(|r| r.identity_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let subjects: HashMap<i64, Subject> = db::trace_subjects(&mut conn, &ids)
        .await?
        .into_iter()
        .map(|t| {
            let s = Subject {
                name: t.name,
                granted: ScopeSet::parse(t.granted.as_deref().unwrap_or("")),
                justified: ScopeSet::parse(t.justified.as_deref().unwrap_or("")),
                owned_with_purpose: t.owned && t.purpose.is_some_and(|p| !p.trim().is_empty()),
            };
            (t.id, s)
        })
        .collect();
    drop(conn);
    let mut counts = ClassCounts::default();
    let mut per: BTreeMap<(Option<i64>, String, Environment), ClassCounts> = BTreeMap::new();
    let mut top: Vec<Offender> = Vec::new();
    let (mut context_by_token, mut context_by_identity) = (0, 0);
    for r in &rows {
        context_by_token += r.by_token;
        context_by_identity += r.by_identity;
        let subject = r.identity_id.and_then(|id| subjects.get(&id));
        let class = classify(r, subject.filter(|_| r.identity_id.is_some()));
        counts.add(class, r.calls);
        per.entry((r.identity_id, r.client_id.clone(), r.environment))
            .or_default()
            .add(class, r.calls);
        if class != TraceClass::Traced {
            top.push(Offender {
                identity_id: r.identity_id,
                client_id: r.client_id.clone(),
                environment: r.environment,
                context: r.context.parse().unwrap_or(Context::System),
                resource_type: r.resource_type.clone(),
                interaction: r.interaction.clone(),
                class,
                calls: r.calls,
            });
        }
    }
    top.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.client_id.cmp(&b.client_id)));
    top.truncate(TOP);
    let mut identities: Vec<IdentityTrace> = per
        .into_iter()
        .map(
            |((identity_id, client_id, environment), counts)| IdentityTrace {
                name: identity_id
                    .and_then(|id| subjects.get(&id))
                    .map(|s| s.name.clone()),
                identity_id,
                client_id,
                environment,
                counts,
            },
        )
        .collect();
    identities.sort_by(|a, b| {
        (b.counts.total_calls - b.counts.traced)
            .cmp(&(a.counts.total_calls - a.counts.traced))
            .then(b.counts.total_calls.cmp(&a.counts.total_calls))
    });
    let traced_percent = if counts.total_calls == 0 {
        100.0
    } else {
        (counts.traced as f64 * 1000.0 / counts.total_calls as f64).round() / 10.0
    };
    Ok(TraceReport {
        since,
        until,
        counts,
        traced_percent,
        context_by_token,
        context_by_identity,
        identities,
        top,
    })
}

/// Calls of one resource type and interaction.
#[derive(Debug, Clone, Serialize, TS)]
pub struct UsageCell {
    pub resource_type: String,
    pub interaction: String,
    pub context: Context,
    #[ts(type = "number")]
    pub calls: i64,
    #[ts(type = "number")]
    pub failures: i64,
    pub last_seen: String,
}

/// What one identity did in a window, against what it was granted and approved.
#[derive(Debug, Clone, Serialize, TS)]
pub struct IdentityUsage {
    #[ts(type = "number")]
    pub identity_id: i64,
    pub since: String,
    #[ts(type = "number")]
    pub days: i64,
    #[ts(type = "number")]
    pub calls: i64,
    #[ts(type = "number")]
    pub failures: i64,
    pub last_used_at: Option<String>,
    pub cells: Vec<UsageCell>,
    /// The smallest scopes that allow every successful call of the window.
    pub used_scopes: Vec<String>,
    pub granted_scopes: Vec<String>,
    /// Granted resource scopes no successful call of the window needed: the basis for
    /// right-sizing (launch and identity scopes are not judged).
    pub granted_unused: Vec<String>,
    pub approved_scopes: Vec<String>,
    pub token_events: Vec<TokenEvent>,
}

/// What an identity used in the `days` before `now` (90 by default in the CLI).
pub async fn usage_show(
    store: &Store,
    now: Timestamp,
    r: &IdentityRef,
    days: i64,
) -> Result<IdentityUsage> {
    let since = time::format(time::days_before(now, "days", days)?)[..10].to_string();
    let mut conn = store.read().await?;
    let rec = resolve(&mut conn, r).await?;
    let rows = db::calls(&mut conn, Some(&since), None, Some(rec.id)).await?;
    let scopes = crate::store::identity::scopes(&mut conn, rec.id).await?;
    let token_events = db::token_events(&mut conn, rec.id, 20).await?;
    drop(conn);
    let list = |set: crate::inventory::ScopeSet| -> Vec<String> {
        scopes
            .iter()
            .filter(|s| s.scope_set == set)
            .map(|s| s.scope.clone())
            .collect()
    };
    let granted_scopes = list(crate::inventory::ScopeSet::Granted);
    let approved_scopes = list(crate::inventory::ScopeSet::Approved);
    let mut cells: BTreeMap<(String, String, Context), UsageCell> = BTreeMap::new();
    let mut observed: Vec<(Context, Request)> = Vec::new();
    let (mut calls, mut failures) = (0, 0);
    for row in &rows {
        let context = row.context.parse::<Context>().unwrap_or(Context::System);
        let ok = row.outcome == "success";
        calls += row.calls;
        let cell = cells
            .entry((row.resource_type.clone(), row.interaction.clone(), context))
            .or_insert_with(|| UsageCell {
                resource_type: row.resource_type.clone(),
                interaction: row.interaction.clone(),
                context,
                calls: 0,
                failures: 0,
                last_seen: row.last_seen.clone(),
            });
        cell.calls += row.calls;
        if row.last_seen > cell.last_seen {
            cell.last_seen = row.last_seen.clone();
        }
        if ok {
            if let Some(i) = Interaction::from_code(&row.interaction) {
                if i != Interaction::Operation {
                    observed.push((context, request(&row.resource_type, i)));
                }
            }
        } else {
            failures += row.calls;
            cell.failures += row.calls;
        }
    }
    let used = minimal_cover(observed.iter().map(|(c, r)| (*c, r)));
    let granted_unused = granted_scopes
        .iter()
        .filter(|g| {
            // Launch and identity scopes (openid, fhirUser, launch, offline_access) are not
            // used by FHIR calls and are not judged here.
            let scope = match Scope::parse(g) {
                Ok(Scope::Special(_)) => return false,
                Ok(s) => s,
                Err(_) => return true,
            };
            let mut alone = ScopeSet::default();
            alone.insert(scope);
            !observed
                .iter()
                .any(|(c, r)| allows(&alone, Some(*c), r).allowed)
        })
        .cloned()
        .collect();
    Ok(IdentityUsage {
        identity_id: rec.id,
        since,
        days,
        calls,
        failures,
        last_used_at: rec.last_used_at,
        cells: cells.into_values().collect(),
        used_scopes: used.scopes().iter().map(|s| s.to_string()).collect(),
        granted_scopes,
        granted_unused,
        approved_scopes,
        token_events,
    })
}

/// A no-op control for callers without progress or cancel.
pub fn no_control(cancel: &AtomicBool) -> Control<'_> {
    Control {
        cancel,
        progress: &|_, _| {},
    }
}
