use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::json;
use ts_rs::TS;

use crate::audit::Actor;
use crate::inventory::{Environment, Kind, Status};
use crate::policy::rules::{evaluate, Inventory, Subject, RULES};
use crate::policy::template::Template;
use crate::policy::{Finding, FindingFilter, FindingStatus, FindingView, Mapping};
use crate::scope::{self, ScopeSet};
use crate::store::policy as db;
use crate::time::{self, Timestamp};
use crate::{Error, Result, Store};

/// A rule's control ids, shared by its findings.
type Controls = Arc<[String]>;

/// The framework whose controls apply only to identities flagged as AI agents.
const AI_RMF: &str = "NIST AI RMF 1.0";

/// Evaluates every rule over the inventory (or one identity) as of `now`.
pub async fn findings_list(
    store: &Store,
    now: Timestamp,
    filter: &FindingFilter,
) -> Result<Vec<Finding>> {
    if let Some(rule) = filter.rule.as_deref() {
        if !RULES.contains(&rule) {
            return Err(Error::invalid(
                "rule",
                format!("'{rule}' is not a rule ({})", RULES.join(", ")),
            ));
        }
    }
    let identity_id = filter.identity_id;
    // SQLite's file is read on a bulk connection of its own; a team database through sqlx.
    let snap = if store.sqlite_pool().is_some() {
        crate::store::bulk::read(store.path(), move |b| db::snapshot(b, identity_id)).await?
    } else {
        db::snapshot_db(&mut store.read().await?, identity_id).await?
    };
    findings_of(store, &snap, now, filter).await
}

/// The rules over a snapshot already read: of the identity `filter` names, else of all.
pub(crate) async fn findings_of(
    store: &Store,
    snap: &db::Snapshot,
    now: Timestamp,
    filter: &FindingFilter,
) -> Result<Vec<Finding>> {
    let inputs = rule_inputs(store, filter.identity_id.is_some()).await?;
    Ok(judge(snap, &scope_sets(snap), &inputs, now, filter))
}

/// What the rules need besides the snapshot.
pub(crate) struct RuleInputs {
    /// Each template with its scope limit parsed.
    templates: FxHashMap<String, (Template, Option<ScopeSet>)>,
    /// rule -> its controls (all, and without the AI RMF's): one list shared by its findings.
    controls: FxHashMap<String, [Controls; 2]>,
    /// identity -> (rule, until) of its acceptances: looked up without building a key.
    accepted: FxHashMap<i64, Vec<(String, String)>>,
    /// (id, client_id, environment) of every identity, when the snapshot holds only one.
    all: Option<Vec<(i64, String, crate::inventory::Environment)>>,
    /// What the authorization servers say.
    live: crate::policy::rules::Live,
}

/// Reads the templates, the framework mapping and the acceptances (and every client id when
/// the snapshot is of `one_identity`).
pub(crate) async fn rule_inputs(store: &Store, one_identity: bool) -> Result<RuleInputs> {
    let mut conn = store.read().await?;
    let templates = db::templates(&mut conn)
        .await?
        .into_iter()
        .map(|t| {
            let limit = t.limit();
            (t.key.clone(), (t, limit))
        })
        .collect();
    drop(conn);
    let mut by_rule: FxHashMap<String, Vec<Mapping>> = FxHashMap::default();
    for m in db::mappings(&mut store.read().await?).await? {
        by_rule.entry(m.rule.clone()).or_default().push(m);
    }
    let controls = by_rule
        .into_iter()
        .map(|(rule, ms)| {
            let all = ms.iter().map(|m| m.control.clone()).collect();
            let not_ai = ms
                .iter()
                .filter(|m| m.framework != AI_RMF)
                .map(|m| m.control.clone())
                .collect();
            (rule, [all, not_ai])
        })
        .collect();
    let mut accepted: FxHashMap<i64, Vec<(String, String)>> = FxHashMap::default();
    for a in db::acceptances(&mut store.read().await?).await? {
        accepted
            .entry(a.identity_id)
            .or_default()
            .push((a.rule, a.until));
    }
    let all = if one_identity {
        Some(db::client_ids(&mut store.read().await?).await?)
    } else {
        None
    };
    let live = live_facts(&mut store.read().await?).await?;
    Ok(RuleInputs {
        templates,
        controls,
        accepted,
        all,
        live,
    })
}

/// What the connections, the last sync and the drills say, for the rules.
async fn live_facts(conn: &mut crate::store::Db) -> Result<crate::policy::rules::Live> {
    use crate::policy::rules::{DrillFacts, Live, ServerFacts};
    use crate::store::connect as cdb;
    let mut live = Live::default();
    for c in cdb::list(conn).await? {
        live.servers.insert(
            c.environment,
            ServerFacts {
                revocation: c.revocation_endpoint.is_some(),
                introspection: c.introspection_endpoint.is_some(),
            },
        );
    }
    if live.servers.is_empty() {
        return Ok(live);
    }
    live.states = cdb::server_states(conn).await?.into_iter().collect();
    live.drills = cdb::drill_summary(conn)
        .await?
        .into_iter()
        .map(|(id, outcome, at, last_passed)| {
            (
                id,
                DrillFacts {
                    outcome,
                    at,
                    last_passed,
                },
            )
        })
        .collect();
    let d = crate::store::review::policy(conn).await?.drill_intervals;
    live.drill_days = [d.high_days, d.medium_days, d.low_days];
    Ok(live)
}

/// Each distinct scope text of a snapshot, parsed once: a hundred thousand identities share
/// far fewer sets. Parsed on every core.
pub(crate) fn scope_sets(snap: &db::Snapshot) -> FxHashMap<&str, ScopeSet> {
    let texts: rustc_hash::FxHashSet<&str> = snap
        .subjects
        .iter()
        .flat_map(|row| [&row.approved, &row.granted])
        .map(|text| text.as_deref().unwrap_or(""))
        .collect();
    texts
        .into_par_iter()
        .map(|text| (text, ScopeSet::parse(text)))
        .collect()
}

/// The rules made ready over one snapshot: what they compare across the inventory is
/// gathered once, then each identity is judged on its own (on any core).
pub(crate) struct Judge<'a> {
    templates: &'a FxHashMap<String, (Template, Option<ScopeSet>)>,
    controls: &'a FxHashMap<String, [Controls; 2]>,
    accepted: &'a FxHashMap<i64, Vec<(String, String)>>,
    sets: &'a FxHashMap<&'a str, ScopeSet>,
    inv: Inventory<'a>,
    creds: FxHashMap<i64, Vec<&'a crate::policy::rules::CredentialFacts>>,
    now: Timestamp,
    filter: &'a FindingFilter,
}

/// One finding the rules made, borrowing what it shares with its identity and its rule.
pub(crate) struct Judged<'a> {
    pub row: &'a db::SubjectRow,
    pub hit: crate::policy::rules::Hit,
    controls: Option<&'a Controls>,
    pub status: FindingStatus,
    pub accepted_until: Option<&'a str>,
}

impl<'a> Judged<'a> {
    /// The finding with text of its own (its evidence moved, its rule's controls shared).
    pub fn into_finding(mut self) -> Finding {
        let evidence = std::mem::take(&mut self.hit.evidence);
        self.view().with_evidence(evidence)
    }

    pub fn view(&self) -> FindingView<'_> {
        let rec = &self.row.record;
        FindingView {
            rule: self.hit.rule,
            severity: self.hit.severity,
            identity_id: rec.id,
            client_id: &rec.client_id,
            environment: rec.environment,
            name: &rec.name,
            evidence: &self.hit.evidence,
            remediation: self.hit.remediation,
            frameworks: self.controls,
            status: self.status,
            accepted_until: self.accepted_until,
        }
    }
}

/// Where a finding goes in a list: by severity (the most severe first), rule, then identity.
pub(crate) type Place = (std::cmp::Reverse<crate::policy::Severity>, usize, i64);

/// A finding's [`Place`].
pub(crate) fn finding_order(
    severity: crate::policy::Severity,
    rule: &str,
    identity_id: i64,
) -> Place {
    (std::cmp::Reverse(severity), rule_place(rule), identity_id)
}

/// Where a rule's findings come among those of one severity: in [`RULES`] order, then any
/// other rule's.
pub(crate) fn rule_place(rule: &str) -> usize {
    RULES.iter().position(|r| *r == rule).unwrap_or(RULES.len())
}

impl<'a> Judge<'a> {
    pub(crate) fn new(
        snap: &'a db::Snapshot,
        sets: &'a FxHashMap<&'a str, ScopeSet>,
        inputs: &'a RuleInputs,
        now: Timestamp,
        filter: &'a FindingFilter,
    ) -> Self {
        let mut inv = Inventory {
            live: (!inputs.live.servers.is_empty()).then_some(&inputs.live),
            ..Inventory::default()
        };
        // The cross-inventory rules need every identity: a full snapshot has them already.
        let all: Vec<(i64, &str, crate::inventory::Environment)> = match &inputs.all {
            Some(all) => all.iter().map(|(id, c, e)| (*id, c.as_str(), *e)).collect(),
            None => snap
                .subjects
                .iter()
                .map(|s| {
                    (
                        s.record.id,
                        s.record.client_id.as_str(),
                        s.record.environment,
                    )
                })
                .collect(),
        };
        let by_id: FxHashMap<i64, (&str, crate::inventory::Environment)> = all
            .iter()
            .map(|(id, cid, env)| (*id, (*cid, *env)))
            .collect();
        inv.client_envs.reserve(all.len());
        for (_, cid, env) in &all {
            inv.client_envs.entry(cid).or_default().push(*env);
        }
        // Evidence names the other environments in one order, however the identities were read.
        for envs in inv.client_envs.values_mut() {
            envs.sort_unstable_by_key(|e| e.as_str());
        }
        for c in &snap.credentials {
            if let Some((cid, env)) = by_id.get(&c.identity_id) {
                inv.holders
                    .entry(&c.fingerprint)
                    .or_default()
                    .push((c.identity_id, cid, *env));
            }
        }
        let mut creds: FxHashMap<i64, Vec<&crate::policy::rules::CredentialFacts>> =
            FxHashMap::default();
        creds.reserve(snap.credentials.len());
        for c in &snap.credentials {
            creds.entry(c.identity_id).or_default().push(c);
        }
        Judge {
            templates: &inputs.templates,
            controls: &inputs.controls,
            accepted: &inputs.accepted,
            sets,
            inv,
            creds,
            now,
            filter,
        }
    }

    /// Hands each finding of one identity that the filter keeps to `found`, in the rules'
    /// order.
    pub(crate) fn each(&self, row: &'a db::SubjectRow, mut found: impl FnMut(Judged<'a>)) {
        let rec = &row.record;
        let set = |text: &Option<String>| &self.sets[text.as_deref().unwrap_or("")];
        let mut unjustified: Vec<String> = row
            .unjustified
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect();
        unjustified.sort();
        let template = rec.use_case.as_ref().and_then(|k| self.templates.get(k));
        let subject = Subject {
            record: rec,
            business_owner: row
                .bo_name
                .as_deref()
                .map(|n| (n, row.bo_active.unwrap_or(true))),
            technical_owner: row
                .to_name
                .as_deref()
                .map(|n| (n, row.to_active.unwrap_or(true))),
            approved: set(&row.approved),
            unjustified,
            granted: set(&row.granted),
            credentials: self.creds.get(&rec.id).cloned().unwrap_or_default(),
            template: template.map(|(t, _)| t),
            limit: template.and_then(|(_, limit)| limit.as_ref()),
        };
        let filter = self.filter;
        for hit in evaluate(&subject, &self.inv, self.now) {
            let accepted_until = self
                .accepted
                .get(&rec.id)
                .and_then(|a| a.iter().find(|(rule, _)| rule == hit.rule))
                .map(|(_, until)| until.as_str())
                .filter(|u| time::parse(u).is_ok_and(|u| u > self.now));
            let status = if accepted_until.is_some() {
                FindingStatus::Accepted
            } else {
                FindingStatus::Open
            };
            let keep = filter.rule.as_deref().is_none_or(|r| r == hit.rule)
                && filter.severity.is_none_or(|s| s == hit.severity)
                && (filter.include_accepted || status == FindingStatus::Open);
            if !keep {
                continue;
            }
            let controls = self
                .controls
                .get(hit.rule)
                .map(|[all, not_ai]| if rec.ai_agent { all } else { not_ai });
            found(Judged {
                row,
                controls,
                hit,
                status,
                accepted_until,
            });
        }
    }
}

/// Every rule over every identity of `snap` (spread over the cores), in severity, rule and
/// identity order.
pub(crate) fn judge(
    snap: &db::Snapshot,
    sets: &FxHashMap<&str, ScopeSet>,
    inputs: &RuleInputs,
    now: Timestamp,
    filter: &FindingFilter,
) -> Vec<Finding> {
    let judge = Judge::new(snap, sets, inputs, now, filter);
    // Each identity's findings are gathered in place, then moved once into a list of their
    // exact number: collected flat, the list would be grown (and copied) a doubling at a time.
    let each: Vec<Vec<Finding>> = snap
        .subjects
        .par_iter()
        .map(|row| {
            let mut out = Vec::new();
            judge.each(row, |j| out.push(j.into_finding()));
            out
        })
        .collect();
    let mut out: Vec<Finding> = Vec::with_capacity(each.iter().map(Vec::len).sum());
    for findings in each {
        out.extend(findings);
    }
    // Each finding's key is computed once, not at every comparison; sorted on every core.
    out.par_sort_by_cached_key(|f| finding_order(f.severity, f.rule, f.identity_id));
    out
}

/// The open findings counted, as the dashboard shows them, without building each finding.
#[derive(Default)]
pub(crate) struct Tally {
    pub open: i64,
    pub by_severity: FxHashMap<crate::policy::Severity, i64>,
    /// Framework control -> findings.
    pub by_control: FxHashMap<String, i64>,
    /// Identities with a finding of one of `least_privilege_rules`.
    pub over_privileged: i64,
    /// Identities by environment, kind and status.
    pub kinds: FxHashMap<(Environment, Kind, Status), i64>,
    /// Identities still in use whose review is overdue, and due within `soon`.
    pub reviews_overdue: i64,
    pub reviews_due_soon: i64,
}

/// Judges every identity as [`findings_list`] does and counts what it finds; counts the
/// identities by environment, kind and status, and the reviews due before `now` and `soon`.
pub(crate) async fn findings_tally(
    store: &Store,
    now: Timestamp,
    soon: Timestamp,
    least_privilege_rules: &[&str],
) -> Result<Tally> {
    // SQLite: the identities and their scopes are read on two connections at once (counts
    // need no single snapshot: a change between the two reads is counted at the next view).
    let snap = if store.sqlite_pool().is_some() {
        let path = store.path().to_path_buf();
        crate::store::bulk::read(store.path(), move |b| {
            use crate::store::bulk::{scope_texts, Bulk};
            std::thread::scope(|t| {
                let scopes = t.spawn(|| scope_texts(&Bulk::open(&path)?, None));
                let mut snap = db::snapshot_without_scopes(b, None)?;
                let scopes = scopes
                    .join()
                    .map_err(|_| Error::Internal("reading the scopes failed".into()))??;
                db::attach_scopes(&mut snap, scopes);
                Ok(snap)
            })
        })
        .await?
    } else {
        db::snapshot_db(&mut store.read().await?, None).await?
    };
    let inputs = rule_inputs(store, false).await?;
    let sets = scope_sets(&snap);
    let filter = FindingFilter::default();
    let judge = Judge::new(&snap, &sets, &inputs, now, &filter);
    // Per core: findings by severity, and by the rule's list of controls (one shared list
    // per rule and flavour), expanded into controls once at the end.
    #[derive(Default)]
    struct Part<'a> {
        open: i64,
        severity: FxHashMap<crate::policy::Severity, i64>,
        controls: FxHashMap<usize, (&'a Controls, i64)>,
        over: i64,
        kinds: FxHashMap<(Environment, Kind, Status), i64>,
        overdue: i64,
        due_soon: i64,
    }
    // Review dates are text in one format, compared as the database compares them.
    let (now_text, soon_text) = (time::format(now), time::format(soon));
    let part = snap
        .subjects
        .par_iter()
        .fold(Part::default, |mut p, row| {
            let r = &row.record;
            *p.kinds
                .entry((r.environment, r.kind, r.status))
                .or_default() += 1;
            if !matches!(r.status, Status::Retired | Status::Revoked) {
                if let Some(due) = r.next_review_due.as_deref() {
                    if due < now_text.as_str() {
                        p.overdue += 1;
                    } else if due < soon_text.as_str() {
                        p.due_soon += 1;
                    }
                }
            }
            let mut over = false;
            judge.each(row, |j| {
                p.open += 1;
                *p.severity.entry(j.hit.severity).or_default() += 1;
                if let Some(c) = j.controls {
                    // The shared list's address is its key.
                    p.controls.entry(c.as_ptr() as usize).or_insert((c, 0)).1 += 1;
                }
                over |= least_privilege_rules.contains(&j.hit.rule);
            });
            p.over += i64::from(over);
            p
        })
        .reduce(Part::default, |mut a, b| {
            a.open += b.open;
            a.over += b.over;
            a.overdue += b.overdue;
            a.due_soon += b.due_soon;
            for (k, n) in b.kinds {
                *a.kinds.entry(k).or_default() += n;
            }
            for (k, n) in b.severity {
                *a.severity.entry(k).or_default() += n;
            }
            for (k, (c, n)) in b.controls {
                a.controls.entry(k).or_insert((c, 0)).1 += n;
            }
            a
        });
    let mut tally = Tally {
        open: part.open,
        by_severity: part.severity,
        over_privileged: part.over,
        kinds: part.kinds,
        reviews_overdue: part.overdue,
        reviews_due_soon: part.due_soon,
        by_control: FxHashMap::default(),
    };
    for (controls, n) in part.controls.into_values() {
        for c in controls.iter() {
            *tally.by_control.entry(c.clone()).or_default() += n;
        }
    }
    // A hundred thousand rows are freed on a thread of their own, not while the window waits.
    drop(judge);
    drop(sets);
    std::thread::spawn(move || drop(snap));
    Ok(tally)
}

/// Accepts a finding as a risk until a date. The approver is the signed-in person (naming
/// anyone else is refused), who must own neither side of the identity.
pub async fn finding_accept(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    finding_id: &str,
    until: Timestamp,
    reason: &str,
    approver: Option<&str>,
) -> Result<Finding> {
    let (rule, id) = finding_id
        .rsplit_once(':')
        .and_then(|(r, i)| Some((r, i.parse::<i64>().ok()?)))
        .ok_or_else(|| {
            Error::invalid(
                "finding",
                format!("'{finding_id}' is not a finding id (rule:identity_id)"),
            )
        })?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason", "must not be empty"));
    }
    if until <= now {
        return Err(Error::invalid("until", "must be in the future"));
    }
    let max_days = crate::store::review::policy(&mut store.read().await?)
        .await?
        .acceptance_max_days;
    if until > now + chrono::Duration::days(max_days) {
        return Err(Error::invalid(
            "until",
            format!(
                "{}: a risk is accepted for at most {max_days} days (until {}); the review \
                 policy sets the most",
                time::format(until),
                &time::format(now + chrono::Duration::days(max_days))[..10]
            ),
        ));
    }
    let filter = FindingFilter {
        identity_id: Some(id),
        rule: Some(rule.to_string()),
        include_accepted: true,
        ..Default::default()
    };
    let found = findings_list(store, now, &filter).await?;
    let finding = found
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound(format!("open finding {finding_id}")))?;

    let mut tx = store.begin_write().await?;
    let person = super::who::act_as(&mut tx, actor, approver, "approver").await?;
    let rec = crate::store::identity::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("identity {id}")))?;
    if [rec.business_owner_id, rec.technical_owner_id].contains(&Some(person.id)) {
        return Err(Error::invalid(
            "approver",
            format!(
                "{} owns this identity and cannot accept its risk",
                person.email
            ),
        ));
    }
    let until_text = time::format(until);
    db::insert_acceptance(
        &mut tx,
        rule,
        id,
        &until_text,
        reason,
        person.id,
        &time::format(now),
    )
    .await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "finding.accept",
        format!("identity:{id}"),
        json!({ "rule": rule, "until": until_text, "reason": reason, "approver": person.email, "evidence": finding.evidence }),
    )
    .await?;
    tx.commit().await?;
    Ok(Finding {
        status: FindingStatus::Accepted,
        accepted_until: Some(until_text),
        ..finding
    })
}

/// The rule-to-control mapping, as data.
pub async fn framework_mapping(store: &Store) -> Result<Vec<Mapping>> {
    db::mappings(&mut store.read().await?).await
}

/// Every use-case template.
pub async fn template_list(store: &Store) -> Result<Vec<Template>> {
    let mut conn = store.read().await?;
    db::templates(&mut conn).await
}

/// One template.
pub async fn template_show(store: &Store, key: &str) -> Result<Template> {
    let mut conn = store.read().await?;
    db::template(&mut conn, key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("template '{key}'")))
}

/// Changes to a template; unset fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(default)]
pub struct TemplateEdit {
    pub name: Option<String>,
    pub description: Option<String>,
    pub kinds: Option<Vec<Kind>>,
    /// Space-separated SMART scopes; an empty string removes the limit.
    pub max_scopes: Option<String>,
    pub allow_offline_access: Option<bool>,
    pub allow_bulk_export: Option<bool>,
    #[ts(type = "number | null")]
    pub max_access_token_lifetime_s: Option<i64>,
    pub expected_auth_method: Option<String>,
}

/// Edits a template, audited with what changed. Scopes must be valid SMART scopes.
pub async fn template_edit(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    key: &str,
    edit: TemplateEdit,
) -> Result<Template> {
    let mut tx = store.begin_write().await?;
    let before = db::template(&mut tx, key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("template '{key}'")))?;
    let mut t = before.clone();
    edit_fields(&mut t, edit)?;
    if t == before {
        return Ok(t);
    }
    t.updated_at = time::format(now);
    db::save_template(&mut tx, &t).await?;
    let (b, a) = (
        serde_json::to_value(&before).unwrap_or_default(),
        serde_json::to_value(&t).unwrap_or_default(),
    );
    let mut changes = serde_json::Map::new();
    if let (Some(b), Some(a)) = (b.as_object(), a.as_object()) {
        for (k, v) in a {
            if k != "updated_at" && b.get(k) != Some(v) {
                changes.insert(k.clone(), json!({ "from": b.get(k), "to": v }));
            }
        }
    }
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "template.edit",
        format!("template:{key}"),
        json!({ "changes": changes }),
    )
    .await?;
    tx.commit().await?;
    Ok(t)
}

/// A risk acceptance as a form sends it (`until` as `YYYY-MM-DD` or RFC 3339).
#[derive(Debug, Clone, Deserialize, TS)]
pub struct AcceptRequest {
    pub finding: String,
    pub until: String,
    pub reason: String,
    /// The signed-in person accepts; naming anyone else is refused.
    #[serde(default)]
    pub approver: Option<String>,
}

/// [`finding_accept`] from a form.
pub async fn finding_accept_request(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: AcceptRequest,
) -> Result<Finding> {
    let text = r.until.trim();
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    let until = time::parse(&full).map_err(|m| Error::invalid("until", m))?;
    finding_accept(
        store,
        now,
        actor,
        &r.finding,
        until,
        &r.reason,
        r.approver.as_deref(),
    )
    .await
}

/// Applies the fields an edit sets, validated; `None` keeps a field.
fn edit_fields(t: &mut Template, edit: TemplateEdit) -> Result<()> {
    if let Some(v) = edit.name.filter(|v| !v.trim().is_empty()) {
        t.name = v.trim().to_string();
    }
    if let Some(v) = edit.description {
        t.description = v.trim().to_string();
    }
    if let Some(v) = edit.kinds {
        if v.is_empty() {
            return Err(Error::invalid(
                "kinds",
                "a template applies to at least one kind",
            ));
        }
        t.kinds = v;
    }
    if let Some(v) = edit.max_scopes {
        if v.trim().is_empty() {
            t.max_scopes = None;
        } else {
            let set = ScopeSet::parse(&v);
            if let Some(bad) = set.invalid().first() {
                return Err(Error::invalid("max_scopes", bad.to_string()));
            }
            t.max_scopes = Some(scope::stored_set(&v));
        }
    }
    if let Some(v) = edit.allow_offline_access {
        t.allow_offline_access = v;
    }
    if let Some(v) = edit.allow_bulk_export {
        t.allow_bulk_export = v;
    }
    if let Some(v) = edit.max_access_token_lifetime_s {
        if v <= 0 {
            return Err(Error::invalid(
                "max_access_token_lifetime_s",
                "must be a positive number of seconds",
            ));
        }
        t.max_access_token_lifetime_s = Some(v);
    }
    if let Some(v) = edit.expected_auth_method {
        t.expected_auth_method = Some(v.trim().to_string()).filter(|v| !v.is_empty());
    }
    Ok(())
}

/// Adds a use-case template (`key`: lowercase letters, digits, `-` and `_`), audited.
pub async fn template_create(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    key: &str,
    edit: TemplateEdit,
) -> Result<Template> {
    let key = key.trim();
    let ok = key
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if key.is_empty() || !ok {
        return Err(Error::invalid(
            "key",
            format!("'{key}': lowercase letters, digits, '-' and '_'"),
        ));
    }
    let mut tx = store.begin_write().await?;
    if db::template(&mut tx, key).await?.is_some() {
        return Err(Error::Conflict(format!("template '{key}' exists")));
    }
    let mut t = Template {
        key: key.to_string(),
        name: key.to_string(),
        description: String::new(),
        kinds: crate::inventory::Kind::ALL.to_vec(),
        max_scopes: None,
        allow_offline_access: false,
        allow_bulk_export: false,
        max_access_token_lifetime_s: None,
        expected_auth_method: None,
        updated_at: time::format(now),
    };
    edit_fields(&mut t, edit)?;
    db::save_template(&mut tx, &t).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "template.create",
        format!("template:{key}"),
        serde_json::to_value(&t).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(t)
}

/// Removes a template no identity uses, audited.
pub async fn template_delete(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    key: &str,
) -> Result<()> {
    let mut tx = store.begin_write().await?;
    let t = db::template(&mut tx, key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("template '{key}'")))?;
    let uses = db::template_uses(&mut tx, key).await?;
    if uses > 0 {
        return Err(Error::Conflict(format!(
            "{uses} identities use '{key}': move them to another use case first"
        )));
    }
    db::delete_template(&mut tx, key).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "template.delete",
        format!("template:{key}"),
        serde_json::to_value(&t).unwrap_or_default(),
    )
    .await?;
    tx.commit().await
}
