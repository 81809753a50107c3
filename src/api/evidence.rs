use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use crate::audit::{self, canonical_json, Actor, ChainStatus};
use crate::evidence::bag::{self, BagSummary, BagVerification};
use crate::evidence::key::{self, Place, Signer25519};
use crate::evidence::Checkpoint;
use crate::export::csv::Cells;
use crate::export::report::{self, Report};
use crate::inventory::Environment;
use crate::policy::rules::RULES;
use crate::policy::{FindingFilter, FindingStatus, FindingView};
use crate::store::{self, evidence as db};
use crate::time::{self, Timestamp};
use crate::{Error, Result, Store};

/// Where the signing key is and what it is.
#[derive(Debug, Clone, Serialize, TS)]
pub struct KeyInfo {
    /// `keychain` (the OS keychain) or `file` (a 0600 file beside the database).
    pub storage: String,
    /// The file's path, or the keychain service and account.
    pub location: String,
    pub fingerprint: String,
    pub public_pem: String,
    /// Every key that has signed here, newest last (rotation keeps old ones).
    pub known: Vec<String>,
}

fn signer(store: &Store) -> Result<Signer25519> {
    Signer25519::load_or_create(store.path(), store.key_store())
}

/// The installation's signing key (created on first use).
pub async fn evidence_key_show(store: &Store) -> Result<KeyInfo> {
    let s = signer(store)?;
    let (storage, location) = match s.place() {
        Place::File(path) => ("file", path.display().to_string()),
        Place::Keychain(account) => (
            "keychain",
            format!("service '{}', account '{account}'", key::KEYCHAIN_SERVICE),
        ),
    };
    Ok(KeyInfo {
        storage: storage.into(),
        location,
        fingerprint: s.fingerprint(),
        public_pem: key::public_pem(&s.verifying_key()),
        known: db::keys(&mut store.read().await?)
            .await?
            .into_iter()
            .map(|(f, _)| f)
            .collect(),
    })
}

/// Replaces the signing key. The old public key stays in `signing_key`, so packages and
/// checkpoints it signed still verify; the old private key is destroyed where it was kept (a
/// file is overwritten, then removed) and the new one goes where the store asks for it.
/// A checkpoint is signed with the old key first, then one with the new key, so the change
/// of key is itself anchored in the chain.
pub async fn evidence_key_rotate(store: &Store, now: Timestamp, actor: &Actor) -> Result<KeyInfo> {
    let old = audit_checkpoint(store, now, actor).await?;
    signer(store)?.retire()?;
    let new = audit_checkpoint(store, now, actor).await?;
    let mut tx = store.begin_write().await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "evidence.key_rotate",
        "evidence:key".into(),
        json!({ "from": old.key_fingerprint, "to": new.key_fingerprint }),
    )
    .await?;
    tx.commit().await?;
    evidence_key_show(store).await
}

/// Makes the signing key in a 0600 file beside the database, as the user chose where the OS
/// keychain cannot be used, and records that it did (with the key's fingerprint).
pub async fn evidence_key_use_file(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
) -> Result<KeyInfo> {
    let s = Signer25519::create_in_file(store.path())?;
    let mut tx = store.begin_write().await?;
    db::register_key(
        &mut tx,
        &s.fingerprint(),
        &key::public_pem(&s.verifying_key()),
        &time::format(now),
    )
    .await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "evidence.key_file",
        "evidence:key".into(),
        json!({ "key": s.fingerprint() }),
    )
    .await?;
    tx.commit().await?;
    evidence_key_show(store).await
}

/// Signs the current head of the audit chain, chained to the previous checkpoint, and
/// records that it did.
pub async fn audit_checkpoint(store: &Store, now: Timestamp, actor: &Actor) -> Result<Checkpoint> {
    let s = signer(store)?;
    let at = time::format(now);
    let mut tx = store.begin_write().await?;
    db::register_key(
        &mut tx,
        &s.fingerprint(),
        &key::public_pem(&s.verifying_key()),
        &at,
    )
    .await?;
    let (seq, head_hash) = store::audit::head(&mut tx)
        .await?
        .unwrap_or_else(|| (0, audit::GENESIS.to_string()));
    let prev_signature = db::last_checkpoint(&mut tx).await?.map(|c| c.signature);
    let mut cp = Checkpoint {
        seq,
        head_hash,
        at,
        prev_signature,
        key_fingerprint: s.fingerprint(),
        signature: String::new(),
    };
    cp.signature = hex::encode(s.sign(cp.message().as_bytes()));
    db::insert_checkpoint(&mut tx, &cp).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "audit.checkpoint",
        "audit".into(),
        json!({ "seq": cp.seq, "head_hash": cp.head_hash, "key": cp.key_fingerprint }),
    )
    .await?;
    tx.commit().await?;
    // And outside the database, where deleting it with the log's tail is not enough.
    super::audit::append_checkpoint(store, &cp)?;
    Ok(cp)
}

/// Verifies the chain and that it still holds what a checkpoint saw: not truncated below it,
/// not re-hashed up to it, and the checkpoint signed by a key of this installation.
pub async fn audit_verify_checkpoint(store: &Store, cp: &Checkpoint) -> Result<ChainStatus> {
    let status = crate::store::audit::verify(&mut store.read().await?).await?;
    checkpoint_holds(store, cp, &status).await?;
    Ok(status)
}

/// That a checkpoint is signed by a key of this installation and that the chain `status`
/// (verified already) still holds what it saw.
pub(crate) async fn checkpoint_holds(
    store: &Store,
    cp: &Checkpoint,
    status: &ChainStatus,
) -> Result<()> {
    // The signer is found by each key's own fingerprint, never the one stored beside it.
    let vk = db::keys(&mut store.read().await?)
        .await?
        .iter()
        .filter_map(|(_, pem)| key::parse_public_pem(pem))
        .find(|k| key::fingerprint(k) == cp.key_fingerprint)
        .ok_or_else(|| {
            Error::Integrity(format!(
                "checkpoint signed by unknown key {}",
                cp.key_fingerprint
            ))
        })?;
    let sig = hex::decode(&cp.signature).unwrap_or_default();
    if !key::verify(&vk, cp.message().as_bytes(), &sig) {
        return Err(Error::Integrity(
            "the checkpoint's signature does not match its content".into(),
        ));
    }
    if status.entries < cp.seq {
        return Err(Error::Integrity(format!(
            "audit log truncated: it ends at seq {} but the checkpoint saw seq {}",
            status.entries, cp.seq
        )));
    }
    if cp.seq > 0 {
        let mut conn = store.read().await?;
        let hash: Option<String> = store::audit::hash_at(&mut conn, cp.seq).await?;
        if hash.as_deref() != Some(cp.head_hash.as_str()) {
            return Err(Error::Integrity(format!(
                "audit log broken at seq {}: its hash differs from the checkpoint's (the chain was re-hashed)",
                cp.seq
            )));
        }
    }
    Ok(())
}

/// Starts a read of the store on the runtime, to be awaited with [`joined`].
fn spawn<T, F, Fut>(store: &Store, read: F) -> tokio::task::JoinHandle<Result<T>>
where
    T: Send + 'static,
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    tokio::spawn(read(store.clone()))
}

/// Starts a bulk read ([`store::bulk`]) into a package file on a blocking thread, to be
/// awaited with [`joined`].
fn bulk<T, F>(store: &Store, file: bag::PayloadFile, read: F) -> tokio::task::JoinHandle<Result<T>>
where
    T: Send + 'static,
    F: FnOnce(&store::bulk::Bulk, bag::PayloadFile) -> Result<T> + Send + 'static,
{
    spawn(store, move |store| async move {
        store::bulk::read(store.path(), move |db| read(db, file)).await
    })
}

/// The result of a read started with [`spawn`] or [`bulk`].
async fn joined<T>(task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    task.await
        .map_err(|e| Error::Internal(format!("an export task failed: {e}")))?
}

/// What an export covers.
#[derive(Debug, Clone, Default, serde::Deserialize, TS)]
#[serde(default)]
pub struct EvidenceFilter {
    /// Audit entries from this time (RFC 3339).
    #[ts(type = "string | null")]
    pub since: Option<Timestamp>,
    /// Audit entries up to this time (RFC 3339).
    #[ts(type = "string | null")]
    pub until: Option<Timestamp>,
    pub environment: Option<Environment>,
    /// Only this recertification campaign's reviews and decisions.
    #[ts(type = "number | null")]
    pub campaign: Option<i64>,
}

/// What the inventory pass counts on the way, for the owners list and the report.
#[derive(Debug, Default)]
pub struct InventoryCounts {
    pub identities: usize,
    pub by_environment: rustc_hash::FxHashMap<Environment, usize>,
    pub business_owner_of: rustc_hash::FxHashMap<i64, usize>,
    pub technical_owner_of: rustc_hash::FxHashMap<i64, usize>,
}

/// Writes `inventory.csv` from the rules' snapshot: every identity (in one environment, if
/// given) by name as SQLite's NOCASE orders it (ASCII letters folded), then id; with its
/// owners and the risk of its granted scopes (each distinct granted set scored once).
fn inventory_csv<W: std::io::Write>(
    snap: &store::policy::Snapshot,
    sets: &rustc_hash::FxHashMap<&str, crate::scope::ScopeSet>,
    people: &rustc_hash::FxHashMap<i64, crate::inventory::Person>,
    environment: Option<Environment>,
    out: W,
) -> Result<(W, InventoryCounts)> {
    let header = crate::export::csv::Csv::new(
        out,
        &[
            "client_id",
            "name",
            "kind",
            "environment",
            "status",
            "vendor",
            "business_owner",
            "business_owner_email",
            "technical_owner",
            "technical_owner_email",
            "purpose",
            "use_case",
            "auth_method",
            "access_token_lifetime_s",
            "refresh_token_lifetime_s",
            "jwks_uri",
            "revocation_endpoint",
            "last_used_at",
            "last_reviewed_at",
            "next_review_due",
            "ai_agent",
            "risk_score",
            "risk_tier",
        ],
    )?;
    // The lines are encoded in the order the rows lie in memory (their text read as it
    // comes), then written in name order: sorted first, the rows' text would be read all
    // over memory, a cache miss a cell.
    let mut lines = Vec::with_capacity(snap.subjects.len() * 512);
    let mut order: Vec<(String, i64, std::ops::Range<usize>)> = Vec::new();
    let mut risks: rustc_hash::FxHashMap<&str, Cells> = Default::default();
    let mut counts = InventoryCounts::default();
    let (mut number, mut lifetime) = (itoa::Buffer::new(), itoa::Buffer::new());
    let rows = snap
        .subjects
        .iter()
        .filter(|s| environment.is_none_or(|e| e == s.record.environment));
    for row in rows {
        let r = &row.record;
        let owner = |id: Option<i64>| {
            id.and_then(|id| people.get(&id))
                .map_or(("", ""), |p| (p.name.as_str(), p.email.as_str()))
        };
        let (bo, bo_email) = owner(r.business_owner_id);
        let (tech, tech_email) = owner(r.technical_owner_id);
        let granted = row.granted.as_deref().unwrap_or_default();
        let risk = risks.entry(granted).or_insert_with(|| {
            // `sets` holds every scope text of the snapshot these rows come from.
            let risk = crate::scope::risk(&sets[granted]);
            Cells::of([risk.score.to_string().as_bytes(), risk.tier.as_bytes()])
        });
        fn text(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or_default()
        }
        let start = lines.len();
        let mut line = crate::export::csv::Row::new(&mut lines);
        let cells = [
            r.client_id.as_str(),
            &r.name,
            r.kind.as_str(),
            r.environment.as_str(),
            r.status.as_str(),
            text(&r.vendor),
            bo,
            bo_email,
            tech,
            tech_email,
            text(&r.purpose),
            text(&r.use_case),
            text(&r.auth_method),
            r.access_token_lifetime_s.map_or("", |v| number.format(v)),
            r.refresh_token_lifetime_s
                .map_or("", |v| lifetime.format(v)),
            text(&r.jwks_uri),
            text(&r.revocation_endpoint),
            text(&r.last_used_at),
            text(&r.last_reviewed_at),
            text(&r.next_review_due),
            if r.ai_agent { "true" } else { "false" },
        ];
        line.cells_of(cells.map(str::as_bytes));
        line.cells(risk);
        line.end();
        order.push((r.name.to_ascii_lowercase(), r.id, start..lines.len()));
        counts.identities += 1;
        *counts.by_environment.entry(r.environment).or_default() += 1;
        if let Some(id) = r.business_owner_id {
            *counts.business_owner_of.entry(id).or_default() += 1;
        }
        if let Some(id) = r.technical_owner_id {
            *counts.technical_owner_of.entry(id).or_default() += 1;
        }
    }
    // Each name is folded once, not at every comparison: many share long prefixes.
    order.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut out = header.finish()?;
    for (_, _, at) in order {
        out.write_all(&lines[at])
            .map_err(|e| Error::invalid("export", format!("cannot write inventory.csv: {e}")))?;
    }
    Ok((out, counts))
}

/// What the report says of the findings: how many of each severity, how many are open, and
/// the most serious few in full.
#[derive(Debug, Default)]
struct FindingsDigest {
    total: usize,
    open: usize,
    /// Critical, high, medium, low.
    by_severity: [usize; 4],
    /// The first critical and high findings in list order, at most [`REPORT_ROWS`].
    serious: Vec<crate::policy::Finding>,
}

/// The columns of `findings.csv`.
const FINDINGS_COLUMNS: [&str; 11] = [
    "id",
    "rule",
    "severity",
    "status",
    "accepted_until",
    "client_id",
    "environment",
    "name",
    "evidence",
    "remediation",
    "frameworks",
];

/// Where a severity is counted in [`FindingsDigest::by_severity`].
fn severity_slot(s: crate::policy::Severity) -> usize {
    use crate::policy::Severity;
    match s {
        Severity::Critical => 0,
        Severity::High => 1,
        Severity::Medium => 2,
        Severity::Low => 3,
    }
}

/// The groups `findings.csv`'s lines fall in, in list order: one per severity (the most
/// severe first) and rule (in [`RULES`] order, then any other).
const GROUPS: usize = 4 * (RULES.len() + 1);

/// Groups of critical and high findings: the first [`SERIOUS`] groups.
const SERIOUS: usize = 2 * (RULES.len() + 1);

fn group(severity: crate::policy::Severity, rule: &str) -> usize {
    severity_slot(severity) * (RULES.len() + 1) + super::findings::rule_place(rule)
}

/// The findings of a run of identities (in identity order), encoded by [`findings_csv`].
struct Encoded {
    /// Each group's lines, in identity order.
    groups: Vec<Vec<u8>>,
    /// The rows of each serious group's first findings (at most [`REPORT_ROWS`]).
    serious: Vec<Vec<usize>>,
    digest: FindingsDigest,
}

/// Writes `findings.csv`: the findings `each` hands over for each of `rows`, in list order
/// (severity, rule, identity; `id` tells a row's identity). Each run of identities is judged
/// and encoded on the pool, each finding's line onto the end of its group's bytes; then the
/// groups are written (and hashed) in order, each run's in turn. No finding is copied into a
/// list of its own and nothing is sorted but the rows.
fn findings_csv<R: Sync, W: std::io::Write>(
    rows: &[R],
    id: impl Fn(&R) -> i64,
    each: impl Fn(&R, &mut dyn FnMut(FindingView<'_>)) + Sync,
    mut out: W,
    chunk: usize,
) -> Result<(W, FindingsDigest)> {
    let chunk = chunk.max(1);
    // Rows usually come in identity order already; a stable sort then only checks it.
    let mut rows: Vec<&R> = rows.iter().collect();
    rows.sort_by_key(|r| id(r));
    let encode = |(c, part): (usize, &[&R])| -> Encoded {
        let mut e = Encoded {
            groups: vec![Vec::new(); GROUPS],
            serious: vec![Vec::new(); SERIOUS],
            digest: FindingsDigest::default(),
        };
        // What findings share is encoded once: their rule, severity and status; their
        // identity's client id, environment and name; their remediation and controls.
        type Heads = rustc_hash::FxHashMap<(&'static str, usize, bool), Cells>;
        type Tails = rustc_hash::FxHashMap<&'static str, Vec<(Option<Arc<[String]>>, Cells)>>;
        let (mut heads, mut tails) = (Heads::default(), Tails::default());
        let mut identity: Option<(i64, Cells)> = None;
        let (mut finding_id, mut controls) = (String::new(), Vec::new());
        for (i, row) in part.iter().enumerate() {
            each(row, &mut |x| {
                let (slot, open) = (severity_slot(x.severity), x.status == FindingStatus::Open);
                let g = group(x.severity, x.rule);
                let head = heads.entry((x.rule, slot, open)).or_insert_with(|| {
                    let status = if open { "open" } else { "accepted" };
                    Cells::of([x.rule, x.severity.as_str(), status].map(str::as_bytes))
                });
                if identity.as_ref().is_none_or(|(i, _)| *i != x.identity_id) {
                    let cells = [x.client_id, x.environment.as_str(), x.name];
                    identity = Some((x.identity_id, Cells::of(cells.map(str::as_bytes))));
                }
                let frameworks = x.frameworks.map(|f| &f[..]);
                let tails = tails.entry(x.remediation).or_default();
                let k = match tails.iter().position(|(f, _)| f.as_deref() == frameworks) {
                    Some(k) => k,
                    None => {
                        controls.clear();
                        for (k, f) in frameworks.into_iter().flatten().enumerate() {
                            if k > 0 {
                                controls.push(b' ');
                            }
                            controls.extend_from_slice(f.as_bytes());
                        }
                        let cells = Cells::of([x.remediation.as_bytes(), &controls]);
                        tails.push((x.frameworks.cloned(), cells));
                        tails.len() - 1
                    }
                };
                let tail = &tails[k].1;
                finding_id.clear();
                crate::policy::push_finding_id(&mut finding_id, x.rule, x.identity_id);
                let mut line = crate::export::csv::Row::new(&mut e.groups[g]);
                line.cell(&finding_id);
                line.cells(head);
                line.cell(x.accepted_until.unwrap_or_default());
                if let Some((_, cells)) = &identity {
                    line.cells(cells);
                }
                line.cell(x.evidence);
                line.cells(tail);
                line.end();
                if let Some(rows) = e.serious.get_mut(g).filter(|r| r.len() < REPORT_ROWS) {
                    rows.push(c * chunk + i);
                }
                e.digest.total += 1;
                e.digest.open += usize::from(open);
                e.digest.by_severity[slot] += 1;
            });
        }
        e
    };
    let parts: Vec<Encoded> = rows.par_chunks(chunk).enumerate().map(encode).collect();
    let io = |e| Error::invalid("export", format!("cannot write findings.csv: {e}"));
    out.write_all(&crate::export::csv::Csv::new(Vec::new(), &FINDINGS_COLUMNS)?.finish()?)
        .map_err(io)?;
    for g in 0..GROUPS {
        for p in &parts {
            out.write_all(&p.groups[g]).map_err(io)?;
        }
    }
    let mut digest = FindingsDigest::default();
    for p in &parts {
        digest.total += p.digest.total;
        digest.open += p.digest.open;
        for (all, n) in digest.by_severity.iter_mut().zip(p.digest.by_severity) {
            *all += n;
        }
    }
    // The report's serious findings come first in the list: the few it shows are judged
    // again, in full.
    'serious: for g in 0..SERIOUS {
        for at in parts.iter().flat_map(|p| &p.serious[g]) {
            if digest.serious.len() == REPORT_ROWS {
                break 'serious;
            }
            each(rows[*at], &mut |x| {
                if group(x.severity, x.rule) == g {
                    digest.serious.push(x.to_finding());
                }
            });
        }
    }
    rayon::spawn(move || drop(parts));
    Ok((out, digest))
}

/// Critical and high findings listed in `report.html` (all are in `findings.csv`).
const REPORT_ROWS: usize = 200;

/// Identities judged and their findings encoded by one task of [`findings_csv`] (a few
/// thousand findings).
const FINDINGS_CHUNK: usize = 1_024;

/// Writes a signed BagIt package of the inventory, scopes, findings, framework mapping, the
/// audit log in the window and its checkpoints; a checkpoint is written first.
pub async fn evidence_export(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    out: &Path,
    f: &EvidenceFilter,
) -> Result<BagSummary> {
    let bag = bag::Builder::create(out)?;
    let checkpoint = audit_checkpoint(store, now, actor).await?;
    // Everything after the checkpoint is read from one state of the database.
    let (origin, (view, hold)) = (store, store.consistent().await?);
    let store = &view;
    let s = signer(store)?;
    let (since, until) = (f.since.map(time::format), f.until.map(time::format));
    // The large tables are read on connections of their own and written straight into the
    // package on blocking threads, while the rest is read here.
    let environment = f.environment;
    let log = {
        let (since, until) = (since.clone(), until.clone());
        let mut file = bag.file("audit-log.jsonl")?;
        match store.pg_pool().is_some() {
            true => spawn(store, move |store| async move {
                let (since, until) = (since.as_deref(), until.as_deref());
                let mut db = store.read().await?;
                let n = store::bulk::pg::audit_log(&mut db, since, until, &mut file).await?;
                Ok((file.finish()?, n))
            }),
            false => bulk(store, file, move |db, mut file| {
                let n = store::bulk::audit_log(db, since.as_deref(), until.as_deref(), &mut file)?;
                Ok((file.finish()?, n))
            }),
        }
    };
    // The inventory and the findings come from one snapshot of the identities: it is read
    // once, then the inventory is written on a blocking thread while the rules run.
    let people = super::person_list(store).await?;
    let people_by_id: rustc_hash::FxHashMap<i64, crate::inventory::Person> =
        people.iter().map(|p| (p.id, p.clone())).collect();
    let identities = spawn(store, {
        let (inventory_file, findings_file, scopes_file) = (
            bag.file("inventory.csv")?,
            bag.file("findings.csv")?,
            bag.file("scopes.csv")?,
        );
        move |store| async move {
            // scopes.csv is written on a connection of its own while the identities are read
            // on another; it comes by identity, so it gathers the rules' scope texts on its
            // way (they need no pass of their own over the scopes).
            let path = store.path().to_path_buf();
            let read = async {
                if store.pg_pool().is_some() {
                    let (snap, scopes) = tokio::join!(
                        async { store::policy::snapshot_db(&mut store.read().await?, None).await },
                        async {
                            let mut db = store.read().await?;
                            store::bulk::pg::scopes_csv(&mut db, environment, scopes_file).await
                        }
                    );
                    return Ok((snap?, scopes?.finish()?));
                }
                store::bulk::read(store.path(), move |db| {
                    std::thread::scope(|scope| {
                        let scopes = scope.spawn(|| {
                            let db = store::bulk::Bulk::open(&path)?;
                            let (file, texts) =
                                store::bulk::scopes_csv(&db, environment, scopes_file)?;
                            Ok::<_, Error>((file.finish()?, texts))
                        });
                        let snap = store::policy::snapshot_without_scopes(db, None);
                        let scopes = scopes.join().unwrap_or_else(|_| {
                            Err(Error::Internal("writing scopes.csv failed".into()))
                        });
                        let (mut snap, (scopes, texts)) = (snap?, scopes?);
                        store::policy::attach_scopes(&mut snap, texts);
                        Ok((snap, scopes))
                    })
                })
                .await
            };
            let (read, inputs) = tokio::join!(read, super::findings::rule_inputs(&store, false));
            let ((snap, scopes), inputs) = (read?, inputs?);
            let filter = FindingFilter {
                include_accepted: true,
                ..Default::default()
            };
            joined(tokio::task::spawn_blocking(move || {
                // The scope sets are parsed once for both. The inventory is written on a
                // thread of its own while the rules run on the pool and their findings are
                // encoded: no core waits for the other's part.
                let sets = super::findings::scope_sets(&snap);
                let (inventory, written) = std::thread::scope(|scope| {
                    let inventory = scope.spawn(|| {
                        let (file, counts) = inventory_csv(
                            &snap,
                            &sets,
                            &people_by_id,
                            environment,
                            inventory_file,
                        )?;
                        Ok::<_, Error>((file.finish()?, counts))
                    });
                    let judge = super::findings::Judge::new(&snap, &sets, &inputs, now, &filter);
                    let written = findings_csv(
                        &snap.subjects,
                        |row| row.record.id,
                        |row, found| {
                            if environment.is_none_or(|e| e == row.record.environment) {
                                judge.each(row, |x| found(x.view()));
                            }
                        },
                        findings_file,
                        FINDINGS_CHUNK,
                    )
                    .and_then(|(f, digest)| Ok((f.finish()?, digest)));
                    let inventory = inventory.join().unwrap_or_else(|_| {
                        Err(Error::Internal("writing inventory.csv failed".into()))
                    });
                    (inventory, written)
                });
                // What the rules used is freed on the pool, not on the way to the package's
                // signature; the snapshot still tiers the review items.
                drop(sets);
                rayon::spawn(move || drop(inputs));
                Ok::<_, Error>((inventory?, written?, scopes, snap))
            }))
            .await
        }
    });
    let trace = spawn(store, {
        let (from, to) = (f.since, f.until);
        move |store| async move { super::trace(&store, from, to).await }
    });
    let mapping = crate::export::csv::small(
        &["rule", "framework", "control"],
        super::framework_mapping(store)
            .await?
            .into_iter()
            .map(|m| vec![m.rule, m.framework, m.control]),
    )?;
    if let Some(id) = f.campaign {
        super::campaign_show(store, now, id).await?;
    }
    // The review items are tiered by the granted scopes the snapshot has: not looked up again
    // for each item.
    let untiered = {
        let q = crate::store::review::ItemQuery {
            campaign: f.campaign,
            ..Default::default()
        };
        spawn(store, move |store| async move {
            if store.pg_pool().is_some() {
                return crate::store::review::items_untiered(&mut store.read().await?, &q).await;
            }
            store::bulk::read(store.path(), move |db| {
                crate::store::review::items_bulk_untiered(db, &q)
            })
            .await
        })
    };
    let mut conn = store.read().await?;
    let decided = crate::store::review::decisions(&mut conn, None, f.campaign).await?;
    drop(conn);
    let day = |t: &Option<String>| t.as_ref().map(|t| t[..10].to_string());
    let mut conn = store.read().await?;
    let daily = crate::store::usage::daily(
        &mut conn,
        day(&since).as_deref(),
        day(&until).as_deref(),
        f.environment,
    )
    .await?;
    let token_log = crate::store::usage::token_log(
        &mut conn,
        since.as_deref(),
        until.as_deref(),
        f.environment,
    )
    .await?;
    let drill_rows: Vec<_> =
        crate::store::connect::drills_between(&mut conn, since.as_deref(), until.as_deref())
            .await?
            .into_iter()
            .filter(|d| f.environment.is_none_or(|e| e == d.environment))
            .collect();
    drop(conn);
    let mut drill_digest = DrillDigest::default();
    for d in &drill_rows {
        match drill_digest
            .by_outcome
            .iter_mut()
            .find(|o| o.0 == d.outcome)
        {
            Some(o) => o.1 += 1,
            None => drill_digest.by_outcome.push((d.outcome.clone(), 1)),
        }
    }
    let bool_cell = |b: Option<bool>| b.map_or(String::new(), |b| b.to_string());
    let drills = crate::export::csv::small(
        &[
            "drill_id",
            "at",
            "identity_id",
            "client_id",
            "environment",
            "outcome",
            "active_before",
            "active_after",
            "revoke_to_inactive_ms",
            "steps",
            "error",
            "actor",
        ],
        drill_rows.into_iter().map(|d| {
            let steps: Vec<serde_json::Value> = serde_json::from_str(&d.steps).unwrap_or_default();
            let steps = steps
                .iter()
                .map(|s| {
                    format!(
                        "{}={}",
                        s["step"].as_str().unwrap_or(""),
                        s["status"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                d.id.to_string(),
                d.at,
                d.identity_id.to_string(),
                d.client_id,
                d.environment.to_string(),
                d.outcome,
                bool_cell(d.active_before),
                bool_cell(d.active_after),
                d.revoke_to_inactive_ms
                    .map_or(String::new(), |m| m.to_string()),
                steps,
                d.error.unwrap_or_default(),
                d.actor,
            ]
        }),
    )?;
    let usage = crate::export::csv::small(
        &[
            "day",
            "client_id",
            "environment",
            "identity_id",
            "context",
            "resource_type",
            "interaction",
            "outcome",
            "calls",
            "first_seen",
            "last_seen",
        ],
        daily.into_iter().map(|r| {
            vec![
                r.day,
                r.client_id,
                r.environment.to_string(),
                r.identity_id.map_or(String::new(), |i| i.to_string()),
                r.context,
                r.resource_type,
                r.interaction,
                r.outcome,
                r.calls.to_string(),
                r.first_seen,
                r.last_seen,
            ]
        }),
    )?;
    let token_events = crate::export::csv::small(
        &[
            "at",
            "client_id",
            "environment",
            "identity_id",
            "event",
            "source",
            "scopes",
            "token_fingerprint",
            "expires_in",
            "error",
        ],
        token_log.into_iter().map(|e| {
            vec![
                e.at,
                e.client_id,
                e.environment.to_string(),
                e.identity_id.map_or(String::new(), |i| i.to_string()),
                e.event.to_string(),
                e.source,
                e.scopes.unwrap_or_default(),
                e.token_fingerprint.unwrap_or_default(),
                e.expires_in.map_or(String::new(), |v| v.to_string()),
                e.error.unwrap_or_default(),
            ]
        }),
    )?;
    // What the blocking threads and the findings task wrote is awaited last, once the
    // smaller reads above have been done alongside them.
    let ((inventory, counts), (findings_csv, findings), scopes, snap) = joined(identities).await?;
    let granted: rustc_hash::FxHashMap<i64, &str> = snap
        .subjects
        .iter()
        .filter_map(|s| Some((s.record.id, s.granted.as_deref()?)))
        .collect();
    let items: Vec<_> = joined(untiered)
        .await?
        .tiered(|id| granted.get(&id).copied())
        .into_iter()
        .filter(|i| f.environment.is_none_or(|e| e == i.environment))
        .collect();
    drop(granted);
    rayon::spawn(move || drop(snap));
    let reviews = crate::export::csv::small(
        &super::review::REVIEW_COLUMNS,
        super::review::review_rows(&items, &decided),
    )?;
    let by_item: std::collections::HashMap<i64, &crate::review::Item> =
        items.iter().map(|i| (i.id, i)).collect();
    let decisions = crate::export::csv::small(
        &[
            "decision_id",
            "item",
            "client_id",
            "environment",
            "decision",
            "reviewer",
            "comment",
            "removed_scopes",
            "new_owner",
            "at",
        ],
        decided
            .iter()
            .filter_map(|d| Some((d, *by_item.get(&d.item_id)?)))
            .map(|(d, i)| {
                vec![
                    d.id.to_string(),
                    d.item_id.to_string(),
                    i.client_id.clone(),
                    i.environment.to_string(),
                    d.decision.to_string(),
                    d.reviewer
                        .as_ref()
                        .map_or("deadline default".to_string(), |p| p.email.clone()),
                    d.comment.clone(),
                    d.removed_scopes.join(" "),
                    d.new_owner
                        .as_ref()
                        .map_or(String::new(), |p| p.email.clone()),
                    d.at.clone(),
                ]
            }),
    )?;
    let owners = crate::export::csv::small(
        &[
            "id",
            "name",
            "email",
            "active",
            "business_owner_of",
            "technical_owner_of",
        ],
        people.iter().map(|p| {
            let count = |m: &rustc_hash::FxHashMap<i64, usize>| {
                m.get(&p.id).copied().unwrap_or(0).to_string()
            };
            vec![
                p.id.to_string(),
                p.name.clone(),
                p.email.clone(),
                p.active.to_string(),
                count(&counts.business_owner_of),
                count(&counts.technical_owner_of),
            ]
        }),
    )?;
    let trace = joined(trace).await?;
    let trace_json = canonical_json(
        &serde_json::to_value(&trace)
            .map_err(|e| Error::Internal(format!("cannot encode the trace: {e}")))?,
    );
    let (log, entries) = joined(log).await?;
    let mut checkpoints = String::new();
    for c in db::checkpoints(&mut store.read().await?).await? {
        checkpoints.push_str(&canonical_json(
            &serde_json::to_value(&c).unwrap_or_default(),
        ));
        checkpoints.push('\n');
    }
    // The last read is done: writers may go on.
    drop(hold);
    let model = report_model(
        now,
        &counts,
        &findings,
        &AuditDigest {
            entries,
            checkpoint: &checkpoint,
            checkpoints: checkpoints.lines().count(),
            fingerprint: s.fingerprint(),
        },
        f,
        &trace,
        &items,
        &drill_digest,
    );
    let report_pdf = report::pdf(&model)?;
    let put = |name: &str, bytes: &[u8]| bag.put(name, bytes);
    let payload = vec![
        inventory,
        put("owners.csv", &owners)?,
        scopes,
        findings_csv,
        put("framework-mapping.csv", &mapping)?,
        put("reviews.csv", &reviews)?,
        put("decisions.csv", &decisions)?,
        put("usage.csv", &usage)?,
        put("token-events.csv", &token_events)?,
        put("drills.csv", &drills)?,
        put("trace-summary.json", trace_json.as_bytes())?,
        log,
        put("checkpoints.jsonl", checkpoints.as_bytes())?,
        put("report.html", report::html(&model).as_bytes())?,
        put("report.pdf", &report_pdf)?,
    ];
    let info = vec![
        (
            "Source-Organization".to_string(),
            "Steward installation".to_string(),
        ),
        (
            "Bagging-Date".to_string(),
            time::format(now)[..10].to_string(),
        ),
        (
            "External-Description".to_string(),
            "Steward evidence package: SMART on FHIR access governance".to_string(),
        ),
        ("Steward-Version".to_string(), crate::VERSION.to_string()),
        ("Signing-Key-Fingerprint".to_string(), s.fingerprint()),
        (
            "Filter-Since".to_string(),
            since.clone().unwrap_or_else(|| "none".into()),
        ),
        (
            "Filter-Until".to_string(),
            until.clone().unwrap_or_else(|| "none".into()),
        ),
        (
            "Filter-Environment".to_string(),
            f.environment.map_or("all".into(), |e| e.to_string()),
        ),
        (
            "Filter-Campaign".to_string(),
            f.campaign.map_or("all".into(), |c| c.to_string()),
        ),
        (
            "Audit-Checkpoint".to_string(),
            format!("seq {} head {}", checkpoint.seq, checkpoint.head_hash),
        ),
    ];
    let summary = bag.finish(&payload, &info, &s, &verify_md(&s.fingerprint()))?;
    let mut tx = origin.begin_write().await?;
    crate::store::audit::record(&mut tx, now, actor, "evidence.export", format!("evidence:{}", out.display()),
        json!({ "files": summary.files, "payload_bytes": summary.payload_bytes, "key": summary.key_fingerprint, "checkpoint_seq": checkpoint.seq })).await?;
    tx.commit().await?;
    Ok(summary)
}

/// Verifies a package: checksums, exactly the listed files, both signatures, the audit chain
/// inside, and that the key is `key_pem` if given, else one this installation has used.
pub async fn evidence_verify(
    store: Option<&Store>,
    dir: &Path,
    key_pem: Option<&str>,
) -> Result<BagVerification> {
    let report = evidence_inspect(store, dir, key_pem).await?;
    if report.passed() {
        Ok(report)
    } else {
        Err(Error::Integrity(report.problems().join("; ")))
    }
}

/// Every check [`evidence_verify`] makes, each with its verdict, for a screen that shows
/// them one by one; fails only when the package cannot be read at all.
pub async fn evidence_inspect(
    store: Option<&Store>,
    dir: &Path,
    key_pem: Option<&str>,
) -> Result<BagVerification> {
    let trusted = match (key_pem, store) {
        (Some(pem), _) => vec![key::parse_public_pem(pem)
            .ok_or_else(|| Error::invalid("--key", "not an Ed25519 public key PEM"))?],
        (None, Some(store)) => db::keys(&mut store.read().await?)
            .await?
            .iter()
            .filter_map(|(_, p)| key::parse_public_pem(p))
            .collect(),
        (None, None) => Vec::new(),
    };
    if !dir.is_dir() {
        return Err(Error::invalid(
            "DIR",
            format!("{} is not a directory", dir.display()),
        ));
    }
    bag::inspect_bag(dir, &trusted)
}

fn verify_md(fingerprint: &str) -> String {
    format!(
        "# Verifying this evidence package\n\n\
This is a BagIt (RFC 8493) bag. Its tag manifest is signed with Ed25519 by the Steward\n\
installation whose public key is `signing-key.pub.pem`, fingerprint\n\n    {fingerprint}\n\n\
(the SHA-256 of the raw 32-byte public key). Compare it with the fingerprint you were given\n\
separately. Run every command in this directory; each must succeed.\n\n\
```sh\n\
# 1. The key fingerprint (must print the fingerprint above, without the ed25519: prefix)\n\
openssl pkey -pubin -in signing-key.pub.pem -outform DER | tail -c 32 | sha256sum\n\n\
# 2. The signature over the tag manifest (either tool)\n\
openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin \\\n  -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig\n\
minisign -V -p minisign.pub -m tagmanifest-sha256.txt -x tagmanifest-sha256.txt.minisig\n\n\
# 3. Every tag file, then every payload file\n\
sha256sum -c tagmanifest-sha256.txt\n\
sha256sum -c manifest-sha256.txt\n\n\
# 4. data/ holds exactly the listed files (no output means none added or missing)\n\
diff <(find data -type f | sort) <(cut -c67- manifest-sha256.txt | sort)\n\
```\n\n\
## The audit log\n\n\
`data/audit-log.jsonl` holds the audit entries of the exported window, one JSON object a\n\
line. Each entry's `hash` is the SHA-256 of the compact JSON, keys sorted, of\n\
`[seq, at, actor, action, subject, details, prev_hash]`, and each `prev_hash` is the previous\n\
entry's `hash` (64 zeros before the first entry). To recompute every hash:\n\n\
```sh\n\
while read -r e; do\n\
  h=$(printf '%s' \"$(jq -cjS '[.seq,.at,.actor,.action,.subject,.details,.prev_hash]' <<<\"$e\")\" | sha256sum | cut -c1-64)\n\
  [ \"$h\" = \"$(jq -r .hash <<<\"$e\")\" ] || echo \"bad entry: $(jq .seq <<<\"$e\")\"\n\
done < data/audit-log.jsonl\n\
```\n\n\
`data/checkpoints.jsonl` lists signed checkpoints (seq, head hash, time, previous signature);\n\
keep one: a later log that no longer contains its head hash at its seq was truncated or\n\
rewritten.\n"
    )
}

/// What the report says of the revocation drills in the window.
#[derive(Debug, Default)]
struct DrillDigest {
    /// Drills by outcome, in the order first seen.
    by_outcome: Vec<(String, usize)>,
}

/// The audit log and checkpoints the package holds, for the report.
struct AuditDigest<'a> {
    entries: usize,
    checkpoint: &'a Checkpoint,
    checkpoints: usize,
    fingerprint: String,
}

/// The report's content (`report.html` and `report.pdf` are both made from it).
#[allow(clippy::too_many_arguments)]
fn report_model(
    now: Timestamp,
    identities: &InventoryCounts,
    findings: &FindingsDigest,
    audit: &AuditDigest<'_>,
    f: &EvidenceFilter,
    trace: &super::TraceReport,
    items: &[crate::review::Item],
    drills: &DrillDigest,
) -> Report {
    use crate::export::report::{Bar, Block, Section};
    use crate::policy::Severity;
    const BLUE: [u8; 3] = [0x12, 0x54, 0x7c];
    let n = |v: i64| usize::try_from(v).unwrap_or(0);
    let t = &trace.counts;
    let classes = vec![
        Bar::new("traced", n(t.traced), [0x2e, 0x7d, 0x4f]),
        Bar::new("unjustified", n(t.unjustified), [0xd0, 0x8a, 0x1e]),
        Bar::new("outside grant", n(t.outside_grant), [0xb3, 0x26, 0x1e]),
        Bar::new("unowned", n(t.unowned), [0x8a, 0x94, 0xa3]),
        Bar::new("unknown client", n(t.unknown_client), [0x5b, 0x3a, 0x8c]),
    ];
    let mut review_counts: Vec<(String, usize)> = Vec::new();
    for i in items {
        let key = match i.decision {
            Some(d) => d.to_string(),
            None => i.state.to_string(),
        };
        match review_counts.iter_mut().find(|r| r.0 == key) {
            Some(r) => r.1 += 1,
            None => review_counts.push((key, 1)),
        }
    }
    review_counts.sort();
    let sev = [
        (Severity::Critical, [0x7f, 0x1d, 0x1d]),
        (Severity::High, [0xb3, 0x26, 0x1e]),
        (Severity::Medium, [0xd0, 0x8a, 0x1e]),
        (Severity::Low, [0x8a, 0xa0, 0xb2]),
    ]
    .iter()
    .map(|(s, c)| Bar::new(s.as_str(), findings.by_severity[severity_slot(*s)], *c))
    .collect();
    let env = Environment::ALL
        .iter()
        .map(|e| {
            let count = identities.by_environment.get(e).copied().unwrap_or(0);
            Bar::new(e.as_str(), count, BLUE)
        })
        .collect();
    let serious_count = findings.by_severity[0] + findings.by_severity[1];
    let listed = if serious_count > REPORT_ROWS {
        format!(" (the first {REPORT_ROWS} of {serious_count}; findings.csv has them all)")
    } else {
        String::new()
    };
    let serious = if findings.serious.is_empty() {
        Block::Text("No critical or high findings.".into())
    } else {
        Block::Table {
            columns: vec![
                ("severity".into(), 0.8),
                ("rule".into(), 1.5),
                ("identity".into(), 1.6),
                ("environment".into(), 1.2),
                ("evidence".into(), 2.6),
                ("controls".into(), 1.3),
            ],
            rows: findings
                .serious
                .iter()
                .map(|x| {
                    vec![
                        x.severity.as_str().to_string(),
                        x.rule.to_string(),
                        format!("{}\n{}", x.name, x.client_id),
                        x.environment.as_str().to_string(),
                        x.evidence.clone(),
                        x.frameworks.join(" "),
                    ]
                })
                .collect(),
        }
    };
    let drill_section = if drills.by_outcome.is_empty() {
        vec![Block::Text(
            "No revocation drills in this window (drills.csv is empty).".into(),
        )]
    } else {
        let total: usize = drills.by_outcome.iter().map(|d| d.1).sum();
        vec![
            Block::Text(format!(
                "{total} revocation drills in the window, each listed in drills.csv with its steps."
            )),
            Block::Bars(
                drills
                    .by_outcome
                    .iter()
                    .map(|(o, c)| {
                        let color = if o == "passed" {
                            [0x2e, 0x7d, 0x4f]
                        } else {
                            [0xb3, 0x26, 0x1e]
                        };
                        Bar::new(o.clone(), *c, color)
                    })
                    .collect(),
            ),
        ]
    };
    let cp = audit.checkpoint;
    Report {
        title: "Steward evidence report".into(),
        intro: vec![
            format!(
                "Generated {} · environment {} · window {} to {}{}",
                time::format(now),
                f.environment.map_or("all".into(), |e| e.to_string()),
                f.since.map_or("the beginning".into(), time::format),
                f.until.map_or("now".into(), time::format),
                f.campaign.map_or(String::new(), |c| format!(" · campaign {c}")),
            ),
            format!(
                "{} identities · {} findings ({} open) · {} audit entries in the window · \
                 checkpoint at seq {}",
                identities.identities, findings.total, findings.open, audit.entries, cp.seq
            ),
        ],
        sections: vec![
            Section {
                heading: "API calls by traceability".into(),
                blocks: vec![
                    Block::Text(format!(
                        "{:.1} % of {} API calls in the window are traceable to a justified need \
                         (known identity, granted scope, approved and justified scope, purpose, \
                         active owner).",
                        trace.traced_percent, t.total_calls
                    )),
                    Block::Bars(classes),
                ],
            },
            Section {
                heading: "Review items by outcome".into(),
                blocks: if items.is_empty() {
                    vec![Block::Text("No review items in this package.".into())]
                } else {
                    vec![Block::Bars(
                        review_counts
                            .into_iter()
                            .map(|(k, c)| Bar::new(k, c, BLUE))
                            .collect(),
                    )]
                },
            },
            Section {
                heading: "Findings by severity".into(),
                blocks: vec![Block::Bars(sev)],
            },
            Section {
                heading: "Identities by environment".into(),
                blocks: vec![Block::Bars(env)],
            },
            Section {
                heading: "Revocation drills".into(),
                blocks: drill_section,
            },
            Section {
                heading: format!("Critical and high findings{listed}"),
                blocks: vec![serious],
            },
            Section {
                heading: "Audit chain and checkpoints".into(),
                blocks: vec![
                    Block::Text(format!(
                        "audit-log.jsonl holds {} entries of the hash-chained audit log. Before \
                         this package was written, Steward signed a checkpoint of the whole \
                         chain: seq {}, at {}, head hash {}.",
                        audit.entries, cp.seq, cp.at, cp.head_hash
                    )),
                    Block::Text(format!(
                        "checkpoints.jsonl holds {} signed checkpoint{}, each chained to the one \
                         before by its signature; this package's is signed by key {}. Keep it: a \
                         later log without this head hash at seq {} was truncated or rewritten.",
                        audit.checkpoints,
                        if audit.checkpoints == 1 { "" } else { "s" },
                        cp.key_fingerprint,
                        cp.seq
                    )),
                ],
            },
            Section {
                heading: "How to verify this package".into(),
                blocks: vec![
                    Block::Text(format!(
                        "The package is a BagIt bag whose tag manifest is signed with Ed25519 by \
                         the key {}. The manifest covers every file, this report included. In the \
                         package's folder (verify.md explains each step):",
                        audit.fingerprint
                    )),
                    Block::Code(vec![
                        "openssl pkey -pubin -in signing-key.pub.pem -outform DER | tail -c 32 | sha256sum".into(),
                        "openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig".into(),
                        "sha256sum -c tagmanifest-sha256.txt".into(),
                        "sha256sum -c manifest-sha256.txt".into(),
                    ]),
                    Block::Text(
                        "Or with Steward: steward evidence verify FOLDER, or Audit > Verify a \
                         package in the window."
                            .into(),
                    ),
                ],
            },
        ],
        fingerprint: audit.fingerprint.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Finding, FindingStatus, Severity};

    fn finding(i: i64, rule: &'static str, severity: Severity) -> Finding {
        Finding {
            id: format!("{rule}:{i}"),
            rule,
            severity,
            identity_id: i,
            client_id: format!("client-{i}"),
            environment: Environment::Production,
            name: if i % 7 == 0 {
                "=cmd|' /C calc'!A0".into()
            } else {
                format!("App, \"{i}\"")
            },
            evidence: format!("line one\nline {i}"),
            remediation: "Assign an owner.",
            frameworks: vec!["GV.RR-02".to_string(), "NHI1:2025".to_string()].into(),
            status: if i % 3 == 0 {
                FindingStatus::Accepted
            } else {
                FindingStatus::Open
            },
            accepted_until: (i % 3 == 0).then(|| "2027-01-01T00:00:00Z".to_string()),
        }
    }

    #[test]
    fn findings_csv_lists_in_order_the_same_in_any_chunks() {
        // 300 "identities", in no particular order, with 0 to 3 findings each.
        let rules = [
            ("owner-missing", Severity::High),
            ("dormant", Severity::Medium),
            ("beyond-template", Severity::Critical),
        ];
        let rows: Vec<(i64, Vec<Finding>)> = (0..300i64)
            .map(|k| (k * 7919) % 300)
            .map(|i| {
                let found = rules
                    .iter()
                    .take((i % 4) as usize)
                    .map(|&(rule, severity)| finding(i, rule, severity))
                    .collect();
                (i, found)
            })
            .collect();
        let each = |row: &(i64, Vec<Finding>), found: &mut dyn FnMut(FindingView<'_>)| {
            for f in &row.1 {
                found(f.view());
            }
        };
        let mut all: Vec<&Finding> = rows.iter().flat_map(|r| &r.1).collect();
        all.sort_by_key(|f| {
            super::super::findings::finding_order(f.severity, f.rule, f.identity_id)
        });
        let expected = crate::export::csv::small(
            &FINDINGS_COLUMNS,
            all.iter().map(|f| {
                vec![
                    f.id.clone(),
                    f.rule.to_string(),
                    f.severity.to_string(),
                    if f.status == FindingStatus::Open {
                        "open"
                    } else {
                        "accepted"
                    }
                    .into(),
                    f.accepted_until.clone().unwrap_or_default(),
                    f.client_id.clone(),
                    f.environment.to_string(),
                    f.name.clone(),
                    f.evidence.clone(),
                    f.remediation.to_string(),
                    f.frameworks.join(" "),
                ]
            }),
        )
        .expect("csv");
        for chunk in [0, 1, 7, 64, 299, 1000] {
            let (bytes, digest) =
                findings_csv(&rows, |r| r.0, each, Vec::new(), chunk).expect("csv");
            assert_eq!(bytes, expected, "chunks of {chunk}");
            assert_eq!(digest.total, all.len());
            assert_eq!(
                digest.open,
                all.iter()
                    .filter(|f| f.status == FindingStatus::Open)
                    .count()
            );
            assert_eq!(digest.by_severity, [75, 225, 150, 0], "chunks of {chunk}");
            // The report's rows: the first critical and high findings, in list order, whole.
            let serious: Vec<&Finding> = all.iter().copied().take(REPORT_ROWS).collect();
            assert_eq!(digest.serious.iter().collect::<Vec<_>>(), serious);
        }
        let text = String::from_utf8(expected).expect("utf-8");
        assert_eq!(text.lines().next(), Some("id,rule,severity,status,accepted_until,client_id,environment,name,evidence,remediation,frameworks"));
        assert!(text.contains(",'=cmd|"), "formulas are neutralized");
        assert!(text.contains("\"App, \"\"1\"\"\""), "quotes are doubled");
    }
}
