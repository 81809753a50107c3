//! Recertification use cases: the policy, campaigns, the reviewer's queue, decisions,
//! escalation and owner attestation. Separation of duties is enforced here, so no caller
//! (CLI, window, script) can bypass it.

use std::collections::{BTreeMap, HashMap};

use crate::store::Db;
use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use super::apply::apply;
use super::identity::{active_person, resolve, IdentityRef};
use crate::audit::{Actor, Draft};
use crate::inventory::{IdentityDetail, IdentityInput, OwnerRole, Person, PersonInput, Status};
use crate::policy::template::Template;
use crate::policy::{Finding, FindingFilter};
use crate::review::{
    self, AttestRequest, Attestation, Campaign, CampaignState, DeadlineDefault, DecideRequest,
    DecisionRecord, Item, ItemState, NewCampaign, PolicyEdit, ReviewDecision, ReviewPolicy,
};
use crate::store::review::{self as db, CampaignRow, ItemQuery, ItemRow, NewDecision, NewItem};
use crate::time::{self, Timestamp};
use crate::{Error, Result, Store};

/// The recertification policy.
pub async fn review_policy(store: &Store) -> Result<ReviewPolicy> {
    let mut conn = store.read().await?;
    db::policy(&mut conn).await
}

/// Changes the policy (audited) and reschedules every identity's next review.
pub async fn review_policy_edit(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    edit: PolicyEdit,
) -> Result<ReviewPolicy> {
    let mut tx = store.begin_write().await?;
    let before = db::policy(&mut tx).await?;
    let mut p = before.clone();
    // Every number within its bounds (review::POLICY_BOUNDS), or nothing is changed.
    let number = |field: &str, v: Option<i64>, slot: &mut i64| -> Result<()> {
        if let Some(d) = v {
            *slot = review::check_bound(field, d)?;
        }
        Ok(())
    };
    number("high_days", edit.high_days, &mut p.intervals.high_days)?;
    number(
        "medium_days",
        edit.medium_days,
        &mut p.intervals.medium_days,
    )?;
    number("low_days", edit.low_days, &mut p.intervals.low_days)?;
    number("remind_days", edit.remind_days, &mut p.remind_days)?;
    number("escalate_days", edit.escalate_days, &mut p.escalate_days)?;
    number("reauth_days", edit.reauth_days, &mut p.reauth_days)?;
    number(
        "drill_high_days",
        edit.drill_high_days,
        &mut p.drill_intervals.high_days,
    )?;
    number(
        "drill_medium_days",
        edit.drill_medium_days,
        &mut p.drill_intervals.medium_days,
    )?;
    number(
        "drill_low_days",
        edit.drill_low_days,
        &mut p.drill_intervals.low_days,
    )?;
    number(
        "acceptance_max_days",
        edit.acceptance_max_days,
        &mut p.acceptance_max_days,
    )?;
    if let Some(d) = edit.deadline_default {
        p.deadline_default = d;
    }
    if let Some(spec) = edit.fallback_reviewer.as_deref() {
        p.fallback_reviewer = match spec.trim() {
            "" | "none" => None,
            s => Some(active_person(&mut tx, "fallback_reviewer", s).await?),
        };
    }
    if p == before {
        return Ok(before);
    }
    let stamp = time::format(now);
    db::update_policy(&mut tx, &p, &stamp).await?;
    let rescheduled = if p.intervals != before.intervals {
        reschedule(&mut tx, &p.intervals).await?
    } else {
        0
    };
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "review.policy",
        "review_policy".into(),
        json!({ "from": before, "to": p, "rescheduled": rescheduled }),
    )
    .await?;
    tx.commit().await?;
    review_policy(store).await
}

/// Recomputes next_review_due of every identity; returns how many changed.
async fn reschedule(conn: &mut Db, intervals: &review::Intervals) -> Result<usize> {
    let mut changed = Vec::new();
    for c in db::schedule_inputs(conn).await? {
        let r = &c.record;
        let parse = |t: &Option<String>| t.as_deref().and_then(|t| time::parse(t).ok());
        let Some(created) = parse(&Some(r.created_at.clone())) else {
            continue;
        };
        let due = time::format(review::next_due(
            intervals,
            db::candidate_tier(&c),
            parse(&r.last_reviewed_at),
            created,
            parse(&r.reauth_since),
        ));
        if r.next_review_due.as_deref() != Some(due.as_str()) {
            changed.push((r.id, due));
        }
    }
    db::set_next_due(conn, &changed).await?;
    Ok(changed.len())
}

/// Sets the person who reviews what `person` owns as business owner (`None` clears it).
/// Who reviews what each person owns: (person id, reviewer id).
pub async fn person_designations(store: &Store) -> Result<Vec<(i64, i64)>> {
    crate::store::person::designations(&mut store.read().await?).await
}

pub async fn person_set_reviewer(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    person: &str,
    reviewer: Option<&str>,
) -> Result<Person> {
    let mut tx = store.begin_write().await?;
    let owner = active_person(&mut tx, "person", person).await?;
    let reviewer = match reviewer.map(str::trim).filter(|s| !s.is_empty()) {
        Some(spec) => Some(active_person(&mut tx, "reviewer", spec).await?),
        None => None,
    };
    if reviewer.as_ref().is_some_and(|r| r.id == owner.id) {
        return Err(Error::Forbidden(format!(
            "{} cannot review what they own",
            owner.email
        )));
    }
    db::set_designated_reviewer(&mut tx, owner.id, reviewer.as_ref().map(|r| r.id)).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "person.set_reviewer",
        format!("person:{}", owner.id),
        json!({ "person": owner.email, "reviewer": reviewer.as_ref().map(|r| &r.email) }),
    )
    .await?;
    tx.commit().await?;
    Ok(owner)
}

fn filter_json(c: &CampaignRow) -> Result<review::CampaignFilter> {
    serde_json::from_str(&c.filter)
        .map_err(|e| Error::Internal(format!("campaign {}: filter: {e}", c.id)))
}

async fn campaign_view(conn: &mut Db, now: Timestamp, c: CampaignRow) -> Result<Campaign> {
    let fallback = match c.fallback_reviewer_id {
        Some(id) => crate::store::person::get(conn, id).await?,
        None => None,
    };
    Ok(Campaign {
        filter: filter_json(&c)?,
        progress: db::progress(conn, c.id, &time::format(now)).await?,
        reviewers: db::reviewer_progress(conn, c.id).await?,
        id: c.id,
        name: c.name,
        deadline: c.deadline,
        deadline_default: c.default_decision,
        fallback_reviewer: fallback,
        state: c.state,
        created_at: c.created_at,
        created_by: c.created_by,
        closed_at: c.closed_at,
    })
}

/// Starts a campaign over the identities the filter selects, snapshotting each with its
/// scopes, and assigns every item to a reviewer who owns neither side of the identity.
pub async fn campaign_create(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    n: NewCampaign,
) -> Result<Campaign> {
    let name = n.name.trim().to_string();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    let deadline = time::parse_deadline(&n.deadline).map_err(|m| Error::invalid("deadline", m))?;
    if deadline <= now {
        return Err(Error::invalid(
            "deadline",
            format!("{} is not in the future", time::format(deadline)),
        ));
    }
    let due_before = match n.filter.due_before.as_deref() {
        Some(d) => Some(time::format(
            time::parse_deadline(d).map_err(|m| Error::invalid("due_before", m))?,
        )),
        None => None,
    };
    let mut tx = store.begin_write().await?;
    let policy = db::policy(&mut tx).await?;
    let owner = match n.filter.owner.as_deref() {
        Some(spec) => Some(active_person(&mut tx, "owner", spec).await?.id),
        None => None,
    };
    let fallback = match n.fallback_reviewer.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(active_person(&mut tx, "fallback_reviewer", s).await?),
        _ => policy.fallback_reviewer.clone(),
    };
    let candidates: Vec<db::Candidate> =
        db::candidates(&mut tx, &n.filter, owner, due_before.as_deref())
            .await?
            .into_iter()
            .filter(|c| n.filter.tier.is_none_or(|t| db::candidate_tier(c) == t))
            .collect();
    if candidates.is_empty() {
        return Err(Error::invalid(
            "filter",
            "no live identity matches; widen the filter",
        ));
    }
    let stamp = time::format(now);
    let deadline_text = time::format(deadline);
    let row = CampaignRow {
        id: 0,
        name: name.clone(),
        filter: serde_json::to_string(&n.filter)
            .map_err(|e| Error::Internal(format!("cannot encode filter: {e}")))?,
        deadline: deadline_text.clone(),
        default_decision: n.deadline_default.unwrap_or(policy.deadline_default),
        fallback_reviewer_id: fallback.as_ref().map(|f| f.id),
        state: CampaignState::Open,
        created_at: stamp.clone(),
        created_by: actor.0.clone(),
        closed_at: None,
    };
    let id = db::insert_campaign(&mut tx, &row).await?;
    let designated: HashMap<i64, Person> = {
        let people: HashMap<i64, Person> = crate::store::person::list(&mut tx)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        db::designated_reviewers(&mut tx)
            .await?
            .into_iter()
            .filter_map(|(owner, r)| Some((owner, people.get(&r)?.clone())))
            .collect()
    };
    let mut items = Vec::with_capacity(candidates.len());
    let mut unassigned = 0;
    for c in &candidates {
        let r = &c.record;
        let reviewer = review::choose_reviewer(
            r.business_owner_id,
            r.technical_owner_id,
            r.business_owner_id.and_then(|bo| designated.get(&bo)),
            &[fallback.as_ref()],
        );
        unassigned += usize::from(reviewer.is_none());
        items.push(NewItem {
            campaign_id: Some(id),
            identity_id: r.id,
            reason: "campaign",
            snapshot: db::snapshot_of(c),
            reviewer_id: reviewer.map(|p| p.id),
            due: &deadline_text,
            created_at: &stamp,
        });
    }
    db::insert_items(&mut tx, &items).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "review.campaign_create",
        format!("campaign:{id}"),
        json!({
            "name": name,
            "filter": n.filter,
            "deadline": deadline_text,
            "deadline_default": row.default_decision,
            "fallback_reviewer": fallback.as_ref().map(|f| &f.email),
            "identities": candidates.iter().map(|c| c.record.id).collect::<Vec<_>>(),
            "unassigned": unassigned,
        }),
    )
    .await?;
    tx.commit().await?;
    campaign_show(store, now, id).await
}

/// Every campaign, newest first, with progress as of `now`.
pub async fn campaign_list(store: &Store, now: Timestamp) -> Result<Vec<Campaign>> {
    let mut conn = store.read().await?;
    let mut out = Vec::new();
    for c in db::campaigns(&mut conn).await? {
        out.push(campaign_view(&mut conn, now, c).await?);
    }
    Ok(out)
}

/// One campaign with progress as of `now`.
pub async fn campaign_show(store: &Store, now: Timestamp, id: i64) -> Result<Campaign> {
    let mut conn = store.read().await?;
    let c = db::campaign(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("campaign {id}")))?;
    campaign_view(&mut conn, now, c).await
}

/// Closes a campaign whose items are all decided.
pub async fn campaign_close(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    id: i64,
) -> Result<Campaign> {
    let mut tx = store.begin_write().await?;
    let c = db::campaign(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("campaign {id}")))?;
    if c.state == CampaignState::Closed {
        return Err(Error::Conflict(format!("campaign {id} is already closed")));
    }
    let undecided = db::undecided_in(&mut tx, id).await?;
    if undecided > 0 {
        return Err(Error::Conflict(format!(
            "campaign {id} has {undecided} undecided items; decide them, or run \
             `review escalate` after the deadline to apply the default"
        )));
    }
    let progress = db::progress(&mut tx, id, &time::format(now)).await?;
    db::close_campaign(&mut tx, id, &time::format(now)).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "review.campaign_close",
        format!("campaign:{id}"),
        json!({ "name": c.name, "progress": progress }),
    )
    .await?;
    tx.commit().await?;
    campaign_show(store, now, id).await
}

/// Review items, undecided first by due date.
pub async fn review_items(store: &Store, q: &ItemQuery) -> Result<Vec<Item>> {
    // On SQLite a campaign's tens of thousands of items are read on a bulk connection.
    if store.sqlite_pool().is_none() {
        return db::items(&mut store.read().await?, q).await;
    }
    let q = q.clone();
    crate::store::bulk::read(store.path(), move |b| db::items_bulk(b, &q)).await
}

/// Resolves `--reviewer PERSON` for a queue.
pub async fn person_id(store: &Store, spec: &str) -> Result<i64> {
    let mut conn = store.read().await?;
    Ok(active_person(&mut conn, "reviewer", spec).await?.id)
}

/// Everything the wizard shows for one item.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ItemDetail {
    pub item: Item,
    pub identity: IdentityDetail,
    pub findings: Vec<Finding>,
    /// Granted scopes the wizard pre-selects for removal.
    pub recommended_removals: Vec<String>,
    /// Granted scopes beyond the use-case template.
    pub beyond_template: Vec<String>,
    pub template: Option<Template>,
    pub attestation: Option<Attestation>,
    pub decisions: Vec<DecisionRecord>,
    /// The wizard's saved draft (JSON), if any.
    pub draft: Option<String>,
    /// The item's version as shown: a draft saved or a decision made from it names it, and
    /// is refused if someone changed the item meanwhile.
    #[ts(type = "number")]
    pub version: i64,
    /// Granted scopes when the item opened.
    pub granted_at_start: Vec<String>,
}

async fn item(conn: &mut Db, id: i64) -> Result<Item> {
    db::items(
        conn,
        &ItemQuery {
            item: Some(id),
            ..ItemQuery::default()
        },
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| Error::NotFound(format!("review item {id}")))
}

/// One item with the identity, its findings, the recommendation and the attestation.
pub async fn review_item_show(store: &Store, now: Timestamp, id: i64) -> Result<ItemDetail> {
    let mut conn = store.read().await?;
    let row = db::item_row(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("review item {id}")))?;
    let it = item(&mut conn, id).await?;
    let attestation = db::latest_attestation(&mut conn, row.identity_id).await?;
    let decisions = db::decisions(&mut conn, Some(id), None).await?;
    drop(conn);
    let identity = super::identity_show(store, &IdentityRef::id(row.identity_id)).await?;
    let (findings, template, removals) = assessment(store, now, row.identity_id).await?;
    let limit = template.as_ref().and_then(Template::limit);
    let beyond_template = identity
        .identity
        .granted_scopes
        .iter()
        .filter(|g| {
            limit.as_ref().is_some_and(|l| {
                crate::scope::Scope::parse(g).map_or(true, |s| !l.covers_scope(&s))
            })
        })
        .cloned()
        .collect();
    let granted_at_start = serde_json::from_str::<serde_json::Value>(&row.snapshot)
        .ok()
        .and_then(|v| serde_json::from_value(v["granted_scopes"].clone()).ok())
        .unwrap_or_default();
    Ok(ItemDetail {
        item: it,
        identity,
        findings,
        recommended_removals: removals,
        beyond_template,
        template,
        attestation,
        decisions,
        draft: row.draft,
        version: row.version,
        granted_at_start,
    })
}

/// Findings, template and recommended removals of one identity: beyond approval, beyond the
/// template, and (when it has usage on record) granted but unused in the last 90 days.
async fn assessment(
    store: &Store,
    now: Timestamp,
    identity_id: i64,
) -> Result<(Vec<Finding>, Option<Template>, Vec<String>)> {
    let findings = super::findings_list(
        store,
        now,
        &FindingFilter {
            identity_id: Some(identity_id),
            include_accepted: true,
            ..FindingFilter::default()
        },
    )
    .await?;
    let mut conn = store.read().await?;
    let c = db::candidate(&mut conn, identity_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("identity {identity_id}")))?;
    let (template, mut removals) = recommendation(
        &mut conn,
        c.record.use_case.as_deref(),
        &c.approved_list(),
        &c.granted_list(),
    )
    .await?;
    drop(conn);
    // With usage on record, granted scopes no call needed are pre-selected too.
    let usage = super::usage_show(store, now, &IdentityRef::id(identity_id), USAGE_DAYS).await?;
    if usage.calls > 0 {
        for g in usage.granted_unused {
            if !removals.contains(&g) {
                removals.push(g);
            }
        }
    }
    Ok((findings, template, removals))
}

/// The usage window behind the wizard's granted-but-unused pre-selection.
const USAGE_DAYS: i64 = 90;

/// The identity's use-case template and the granted scopes to remove: beyond approval or
/// beyond the template.
async fn recommendation(
    conn: &mut Db,
    use_case: Option<&str>,
    approved: &[String],
    granted: &[String],
) -> Result<(Option<Template>, Vec<String>)> {
    let template = match use_case {
        Some(key) => crate::store::policy::template(conn, key).await?,
        None => None,
    };
    let approved = crate::scope::ScopeSet::parse(&approved.join(" "));
    let removals = review::recommended_removals(granted, &approved, template.as_ref());
    Ok((template, removals))
}

/// Saves the wizard's draft of an undecided item (`None` clears it) made from the item's
/// `version` (any, when `None`); returns the item's new version. Not audited: a draft decides
/// nothing.
pub async fn review_draft_save(
    store: &Store,
    id: i64,
    draft: Option<String>,
    version: Option<i64>,
) -> Result<i64> {
    let mut tx = store.begin_write().await?;
    let Some(saved) = db::save_draft(&mut tx, id, draft.as_deref(), version).await? else {
        let row = db::item_row(&mut tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("review item {id}")))?;
        return Err(stale(&row, version));
    };
    tx.commit().await?;
    Ok(saved)
}

/// Why an edit of `row` made from `version` is refused: the item is decided, or was changed
/// by someone else since that version was shown.
fn stale(row: &db::ItemRow, version: Option<i64>) -> Error {
    if row.state == ItemState::Decided {
        return Error::Conflict(format!(
            "review item {} is already decided ({})",
            row.id,
            row.decision.map_or("-", ReviewDecision::as_str)
        ));
    }
    Error::Conflict(format!(
        "review item {} was changed by someone else since you opened it (version {}, now {}): \
         reload it",
        row.id,
        version.unwrap_or(row.version),
        row.version
    ))
}

/// Decides an item. The reviewer must be active, must own neither side of the identity and
/// must be the assigned (or the fallback) reviewer; each decision needs a comment and is
/// audited with what the reviewer was shown.
pub async fn review_decide(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    req: DecideRequest,
) -> Result<Item> {
    let comment = req.comment.trim().to_string();
    if comment.is_empty() {
        return Err(Error::invalid("comment", "every decision needs a comment"));
    }
    if req.decision == ReviewDecision::NoChange {
        return Err(Error::invalid(
            "decision",
            "no_change is applied only by a campaign's deadline default",
        ));
    }
    let mut conn = store.read().await?;
    let row = db::item_row(&mut conn, req.item)
        .await?
        .ok_or_else(|| Error::NotFound(format!("review item {}", req.item)))?;
    drop(conn);
    let (findings, _, removals) = assessment(store, now, row.identity_id).await?;

    let mut tx = store.begin_write().await?;
    let reviewer = super::who::act_as(&mut tx, actor, req.reviewer.as_deref(), "reviewer").await?;
    // Re-read inside the write transaction: another reviewer may have decided meanwhile.
    let row = db::item_row(&mut tx, req.item)
        .await?
        .ok_or_else(|| Error::NotFound(format!("review item {}", req.item)))?;
    if row.state == ItemState::Decided || req.version.is_some_and(|v| v != row.version) {
        return Err(stale(&row, req.version));
    }
    if row.campaign_state == Some(CampaignState::Closed) {
        return Err(Error::Conflict(format!(
            "review item {}: its campaign is closed",
            row.id
        )));
    }
    let current = db::candidate(&mut tx, row.identity_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("identity {}", row.identity_id)))?;
    let rec = &current.record;
    if !review::may_review(reviewer.id, rec.business_owner_id, rec.technical_owner_id) {
        return Err(Error::Forbidden(format!(
            "{} owns {} and cannot review it (separation of duties)",
            reviewer.email, rec.client_id
        )));
    }
    let policy = db::policy(&mut tx).await?;
    let fallback = row
        .campaign_fallback_id
        .or(policy.fallback_reviewer.as_ref().map(|p| p.id));
    if row
        .reviewer_id
        .is_some_and(|assigned| assigned != reviewer.id && fallback != Some(reviewer.id))
    {
        let assigned = match row.reviewer_id {
            Some(a) => crate::store::person::get(&mut tx, a).await?,
            None => None,
        };
        return Err(Error::Forbidden(format!(
            "review item {} is assigned to {}, not {}",
            row.id,
            assigned.map_or_else(|| "someone else".into(), |p| p.email),
            reviewer.email
        )));
    }

    let granted = current.granted_list();
    let mut removed: Vec<String> = Vec::new();
    if req.decision == ReviewDecision::Reduce {
        for raw in req.remove_scopes.iter().flat_map(|s| s.split_whitespace()) {
            let canon = crate::scope::stored_form(raw);
            if !granted.contains(&canon) {
                return Err(Error::invalid(
                    "remove_scopes",
                    format!("'{raw}' is not granted to {}", rec.client_id),
                ));
            }
            if !removed.contains(&canon) {
                removed.push(canon);
            }
        }
        if removed.is_empty() {
            return Err(Error::invalid(
                "remove_scopes",
                "name the granted scopes to remove",
            ));
        }
    } else if !req.remove_scopes.iter().all(|s| s.trim().is_empty()) {
        return Err(Error::invalid(
            "remove_scopes",
            "scopes are removed only with the reduce decision",
        ));
    }
    let new_owner = match (req.decision, req.new_owner.as_deref()) {
        (ReviewDecision::Reassign, Some(spec)) if !spec.trim().is_empty() => {
            let p = active_person(&mut tx, "new_owner", spec).await?;
            if p.id == reviewer.id {
                return Err(Error::Forbidden(format!(
                    "{} cannot make themselves the owner of an identity they review",
                    reviewer.email
                )));
            }
            Some(p)
        }
        (ReviewDecision::Reassign, _) => {
            return Err(Error::invalid("new_owner", "reassign needs the new owner"));
        }
        (_, Some(s)) if !s.trim().is_empty() => {
            return Err(Error::invalid(
                "new_owner",
                "an owner is named only with the reassign decision",
            ));
        }
        _ => None,
    };

    let evidence = json!({
        "findings": findings.iter().map(|f| json!({
            "rule": f.rule, "severity": f.severity, "evidence": f.evidence, "status": f.status,
        })).collect::<Vec<_>>(),
        "approved_scopes": current.approved_list(),
        "granted_scopes": granted,
        "recommended_removals": removals,
        "tier": db::candidate_tier(&current),
        "purpose": rec.purpose,
    });
    let stamp = time::format(now);
    let decision_id = db::insert_decision(
        &mut tx,
        &NewDecision {
            item_id: row.id,
            decision: req.decision,
            reviewer_id: Some(reviewer.id),
            comment: &comment,
            removed_scopes: &removed,
            new_owner_id: new_owner.as_ref().map(|p| p.id),
            evidence: evidence.to_string(),
            at: &stamp,
        },
    )
    .await?;
    let mut drafts = vec![Draft {
        action: "review.decide",
        subject: format!("review_item:{}", row.id),
        details: json!({
            "identity_id": rec.id,
            "client_id": rec.client_id,
            "environment": rec.environment,
            "decision": req.decision,
            "reviewer": reviewer.email,
            "comment": comment,
            "removed_scopes": removed,
            "new_owner": new_owner.as_ref().map(|p| &p.email),
            "evidence": evidence,
        }),
    }];
    drafts.extend(
        apply_decision(
            &mut tx,
            store,
            now,
            &row,
            rec,
            req.decision,
            &removed,
            new_owner.as_ref(),
            decision_id,
            true,
        )
        .await?,
    );
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    let mut conn = store.read().await?;
    item(&mut conn, row.id).await
}

/// What a decision does to the identity and the item; returns the audit drafts of the
/// identity changes. `reviewed` is false for a deadline default: nobody reviewed, so it never
/// counts as a certification.
#[allow(clippy::too_many_arguments)]
async fn apply_decision(
    tx: &mut Db,
    store: &Store,
    now: Timestamp,
    row: &ItemRow,
    rec: &crate::store::identity::IdentityRecord,
    decision: ReviewDecision,
    removed: &[String],
    new_owner: Option<&Person>,
    decision_id: i64,
    reviewed: bool,
) -> Result<Vec<Draft>> {
    let stamp = time::format(now);
    let mut input = IdentityInput {
        client_id: rec.client_id.clone(),
        environment: Some(rec.environment),
        ..IdentityInput::default()
    };
    let mut drafts = Vec::new();
    if reviewed && decision != ReviewDecision::Reassign {
        input.last_reviewed_at = Some(now);
    }
    match decision {
        ReviewDecision::Certify | ReviewDecision::NoChange => {}
        ReviewDecision::Reduce => {
            let scopes = crate::store::identity::scopes(tx, rec.id).await?;
            let keep = |set: crate::inventory::ScopeSet| -> Vec<String> {
                scopes
                    .iter()
                    .filter(|s| s.scope_set == set && !removed.contains(&s.scope))
                    .map(|s| s.scope.clone())
                    .collect()
            };
            let granted = keep(crate::inventory::ScopeSet::Granted);
            drafts.push(
                super::apply::enforcement_task(
                    tx,
                    rec.id,
                    decision_id,
                    "reduce",
                    Some(&granted),
                    &stamp,
                )
                .await?,
            );
            input.granted_scopes = Some(granted);
            input.approved_scopes = Some(keep(crate::inventory::ScopeSet::Approved));
        }
        ReviewDecision::Revoke => {
            input.status = Some(Status::Revoked);
            drafts.push(
                super::apply::enforcement_task(tx, rec.id, decision_id, "revoke", None, &stamp)
                    .await?,
            );
            let task = db::insert_revocation_task(
                tx,
                rec.id,
                decision_id,
                rec.revocation_endpoint.as_deref(),
                &stamp,
            )
            .await?;
            drafts.push(Draft {
                action: "revocation.task",
                subject: format!("identity:{}", rec.id),
                details: json!({
                    "task": task,
                    "endpoint": rec.revocation_endpoint,
                    "note": if rec.revocation_endpoint.is_none() {
                        "no revocation endpoint recorded: revoke by hand at the authorization server"
                    } else {
                        "revoke the client's tokens and credentials at this endpoint"
                    },
                }),
            });
        }
        ReviewDecision::Reassign => {
            if let Some(p) = new_owner {
                input.business_owner = Some(PersonInput {
                    name: p.name.clone(),
                    email: p.email.clone(),
                });
            }
        }
    }
    let applied = apply(tx, now, store.fingerprint_key(), input, "identity.review").await?;
    drafts.extend(applied.drafts());
    if decision == ReviewDecision::Reassign {
        // Ownership moved: the item stays open, with a reviewer who owns neither side now.
        let rec = crate::store::identity::get(tx, rec.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("identity {}", rec.id)))?;
        let policy = db::policy(tx).await?;
        let reviewer = crate::store::review::assign_reviewer(
            tx,
            rec.business_owner_id,
            rec.technical_owner_id,
            &[
                row.reviewer_id,
                row.campaign_fallback_id,
                policy.fallback_reviewer.as_ref().map(|p| p.id),
            ],
        )
        .await?;
        db::reassign_item(tx, row.id, reviewer.map(|r| r.id), row.state, None).await?;
    } else {
        db::close_item(tx, row.id, decision, &stamp).await?;
    }
    Ok(drafts)
}

/// What [`review_escalate`] did.
#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct EscalationSummary {
    /// Item ids that got a reminder.
    #[ts(type = "number[]")]
    pub reminded: Vec<i64>,
    /// Item ids moved to the fallback reviewer.
    #[ts(type = "number[]")]
    pub escalated: Vec<i64>,
    /// (item id, decision) where the deadline default applied.
    #[ts(type = "[number, ReviewDecision][]")]
    pub defaulted: Vec<(i64, ReviewDecision)>,
}

/// The signed-in person's queue, counted: what the top bar shows and notifications announce.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct QueueCounts {
    /// Open items assigned to them (escalated ones included).
    #[ts(type = "number")]
    pub open: usize,
    /// Open items due within the policy's reminder window.
    #[ts(type = "number")]
    pub due_soon: usize,
    /// Open items past their due date.
    #[ts(type = "number")]
    pub overdue: usize,
    /// Items escalated to them.
    #[ts(type = "number")]
    pub escalated: usize,
}

/// The queue of the person `actor` is bound to (empty while unbound).
pub async fn review_queue_counts(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
) -> Result<QueueCounts> {
    let who = super::whoami(store, actor).await?;
    let Some(me) = who.person else {
        return Ok(QueueCounts::default());
    };
    let items = review_items(
        store,
        &ItemQuery {
            reviewer: Some(me.id),
            ..ItemQuery::default()
        },
    )
    .await?;
    let remind = db::policy(&mut store.read().await?).await?.remind_days;
    let soon = time::format(now + chrono::Duration::days(remind));
    let stamp = time::format(now);
    let mut c = QueueCounts::default();
    for i in items.iter().filter(|i| i.state != ItemState::Decided) {
        c.open += 1;
        if i.due < stamp {
            c.overdue += 1;
        } else if i.due <= soon {
            c.due_soon += 1;
        }
        if i.state == ItemState::Escalated {
            c.escalated += 1;
        }
    }
    Ok(c)
}

/// Applies reminders, escalation and deadline defaults as of `now` (pass the time in: a
/// scheduler or test decides what "now" is, never the wall clock here).
pub async fn review_escalate(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
) -> Result<EscalationSummary> {
    let mut tx = store.begin_write().await?;
    let policy = db::policy(&mut tx).await?;
    let horizon = now + chrono::Duration::days(policy.remind_days.max(policy.escalate_days));
    let stamp = time::format(now);
    let mut summary = EscalationSummary::default();
    let mut drafts = Vec::new();
    for row in db::undecided_due_by(&mut tx, &time::format(horizon)).await? {
        let Ok(due) = time::parse(&row.due) else {
            continue;
        };
        let current = db::candidate(&mut tx, row.identity_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("identity {}", row.identity_id)))?;
        let rec = &current.record;
        let subject = format!("review_item:{}", row.id);
        if now >= due {
            let default = row.campaign_default.unwrap_or(policy.deadline_default);
            let (decision, removed) = match default {
                DeadlineDefault::NoChange => (ReviewDecision::NoChange, Vec::new()),
                DeadlineDefault::Revoke => (ReviewDecision::Revoke, Vec::new()),
                DeadlineDefault::Recommendation => {
                    let (_, removals) = recommendation(
                        &mut tx,
                        rec.use_case.as_deref(),
                        &current.approved_list(),
                        &current.granted_list(),
                    )
                    .await?;
                    if removals.is_empty() {
                        (ReviewDecision::NoChange, removals)
                    } else {
                        (ReviewDecision::Reduce, removals)
                    }
                }
            };
            let comment = format!(
                "deadline {} passed undecided; default '{default}' applied",
                row.due
            );
            let evidence = json!({ "deadline_default": default, "due": row.due });
            let decision_id = db::insert_decision(
                &mut tx,
                &NewDecision {
                    item_id: row.id,
                    decision,
                    reviewer_id: None,
                    comment: &comment,
                    removed_scopes: &removed,
                    new_owner_id: None,
                    evidence: evidence.to_string(),
                    at: &stamp,
                },
            )
            .await?;
            drafts.push(Draft {
                action: "review.default",
                subject,
                details: json!({
                    "identity_id": rec.id,
                    "client_id": rec.client_id,
                    "decision": decision,
                    "deadline_default": default,
                    "removed_scopes": removed,
                    "comment": comment,
                }),
            });
            drafts.extend(
                apply_decision(
                    &mut tx,
                    store,
                    now,
                    &row,
                    rec,
                    decision,
                    &removed,
                    None,
                    decision_id,
                    false,
                )
                .await?,
            );
            summary.defaulted.push((row.id, decision));
            continue;
        }
        if row.state == ItemState::Open && now >= due - chrono::Duration::days(policy.escalate_days)
        {
            let fallback = row
                .campaign_fallback_id
                .or(policy.fallback_reviewer.as_ref().map(|p| p.id));
            let eligible = fallback
                .filter(|f| review::may_review(*f, rec.business_owner_id, rec.technical_owner_id));
            let to =
                crate::store::review::assign_reviewer(&mut tx, None, None, &[eligible]).await?;
            let reviewer = to.as_ref().map(|p| p.id).or(row.reviewer_id);
            db::reassign_item(
                &mut tx,
                row.id,
                reviewer,
                ItemState::Escalated,
                Some(&stamp),
            )
            .await?;
            drafts.push(Draft {
                action: "review.escalate",
                subject,
                details: json!({
                    "identity_id": rec.id,
                    "due": row.due,
                    "to": to.map(|p| p.email),
                }),
            });
            summary.escalated.push(row.id);
        } else if row.reminded_at.is_none()
            && now >= due - chrono::Duration::days(policy.remind_days)
        {
            db::mark_reminded(&mut tx, row.id, &stamp).await?;
            drafts.push(Draft {
                action: "review.remind",
                subject,
                details: json!({ "identity_id": rec.id, "due": row.due, "reviewer_id": row.reviewer_id }),
            });
            summary.reminded.push(row.id);
        }
    }
    if !drafts.is_empty() {
        crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    }
    tx.commit().await?;
    Ok(summary)
}

/// An owner confirms (or edits) the purpose and justifies approved scopes. Only a current
/// business or technical owner of the identity may attest. Editing the purpose of a
/// certified identity opens a re-authorization.
pub async fn identity_attest(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: &IdentityRef,
    req: AttestRequest,
) -> Result<IdentityDetail> {
    let purpose = req.purpose.trim().to_string();
    if purpose.is_empty() {
        return Err(Error::invalid("purpose", "must not be empty"));
    }
    let mut tx = store.begin_write().await?;
    let rec = resolve(&mut tx, r).await?;
    let person = super::who::act_as(&mut tx, actor, req.person.as_deref(), "person").await?;
    let role = if rec.business_owner_id == Some(person.id) {
        OwnerRole::Business
    } else if rec.technical_owner_id == Some(person.id) {
        OwnerRole::Technical
    } else {
        return Err(Error::Forbidden(format!(
            "{} owns neither side of {}; only its owners attest",
            person.email, rec.client_id
        )));
    };
    let mut justifications = BTreeMap::new();
    for (scope, why) in &req.justifications {
        let canon = crate::scope::stored_form(scope.trim());
        let why = why.trim();
        if why.is_empty() {
            return Err(Error::invalid(
                "justify",
                format!("{scope}: the justification is empty"),
            ));
        }
        if !db::justify(&mut tx, rec.id, &canon, why).await? {
            return Err(Error::invalid(
                "justify",
                format!("'{scope}' is not an approved scope of {}", rec.client_id),
            ));
        }
        justifications.insert(canon, why.to_string());
    }
    let stamp = time::format(now);
    let mut drafts = Vec::new();
    if rec.purpose.as_deref() != Some(purpose.as_str()) {
        let input = IdentityInput {
            client_id: rec.client_id.clone(),
            environment: Some(rec.environment),
            purpose: Some(purpose.clone()),
            ..IdentityInput::default()
        };
        drafts.extend(
            apply(
                &mut tx,
                now,
                store.fingerprint_key(),
                input,
                "identity.set_purpose",
            )
            .await?
            .drafts(),
        );
    }
    db::insert_attestation(
        &mut tx,
        rec.id,
        person.id,
        role,
        &purpose,
        &justifications,
        &stamp,
    )
    .await?;
    drafts.push(Draft {
        action: "identity.attest",
        subject: format!("identity:{}", rec.id),
        details: json!({
            "person": person.email,
            "role": role,
            "purpose": purpose,
            "justifications": justifications,
        }),
    });
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    super::identity_show(store, &IdentityRef::id(rec.id)).await
}

/// The columns of a reviews report: one row per item with its latest decision.
pub(super) const REVIEW_COLUMNS: [&str; 17] = [
    "item",
    "campaign_id",
    "campaign",
    "identity_id",
    "client_id",
    "environment",
    "tier",
    "reason",
    "reviewer",
    "state",
    "due",
    "decision",
    "decided_at",
    "decided_by",
    "comment",
    "removed_scopes",
    "attested",
];

/// The rows of a reviews report, in [`REVIEW_COLUMNS`] order.
pub(super) fn review_rows<'a>(
    items: &'a [Item],
    decisions: &'a [DecisionRecord],
) -> impl Iterator<Item = Vec<String>> + 'a {
    // Each item's latest decision (they come in order), found once for all the items.
    let latest: std::collections::HashMap<i64, &DecisionRecord> =
        decisions.iter().map(|d| (d.item_id, d)).collect();
    items.iter().map(move |it| {
        let last = latest.get(&it.id).copied();
        vec![
            it.id.to_string(),
            it.campaign_id.map_or(String::new(), |c| c.to_string()),
            it.campaign.clone().unwrap_or_default(),
            it.identity_id.to_string(),
            it.client_id.clone(),
            it.environment.to_string(),
            it.tier.to_string(),
            it.reason.clone(),
            it.reviewer
                .as_ref()
                .map_or(String::new(), |p| p.email.clone()),
            it.state.to_string(),
            it.due.clone(),
            it.decision.map_or(String::new(), |d| d.to_string()),
            it.decided_at.clone().unwrap_or_default(),
            last.map_or(String::new(), |d| {
                d.reviewer
                    .as_ref()
                    .map_or("deadline default".into(), |p| p.email.clone())
            }),
            last.map_or(String::new(), |d| d.comment.clone()),
            last.map_or(String::new(), |d| d.removed_scopes.join(" ")),
            it.attested.to_string(),
        ]
    })
}

/// The campaign report: one CSV row per item with its latest decision.
pub async fn campaign_report(store: &Store, now: Timestamp, id: i64) -> Result<String> {
    campaign_show(store, now, id).await?;
    let items = review_items(
        store,
        &ItemQuery {
            campaign: Some(id),
            ..ItemQuery::default()
        },
    )
    .await?;
    let mut conn = store.read().await?;
    let decisions = db::decisions(&mut conn, None, Some(id)).await?;
    drop(conn);
    let bytes = crate::export::csv::small(&REVIEW_COLUMNS, review_rows(&items, &decisions))?;
    String::from_utf8(bytes).map_err(|e| Error::Internal(format!("CSV is not UTF-8: {e}")))
}
