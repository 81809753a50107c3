//! SQL for recertification: the policy, campaigns, items, decisions, revocation tasks,
//! attestations and designated reviewers.

use std::collections::BTreeMap;

use sqlx::QueryBuilder;

use super::identity::{person, scope_columns, scope_list, IdentityRecord};
use super::{on, Db};
use crate::inventory::{Environment, Kind, OwnerRole, Person, Status};
use crate::review::{
    Attestation, CampaignFilter, CampaignState, DeadlineDefault, DecisionRecord, Intervals, Item,
    ItemState, Progress, ReviewDecision, ReviewPolicy, ReviewerProgress, Tier,
};
use crate::{Error, Result};

#[derive(sqlx::FromRow)]
struct PolicyRow {
    high_days: i64,
    medium_days: i64,
    low_days: i64,
    remind_days: i64,
    escalate_days: i64,
    reauth_days: i64,
    deadline_default: DeadlineDefault,
    drill_high_days: i64,
    drill_medium_days: i64,
    drill_low_days: i64,
    acceptance_max_days: i64,
    updated_at: Option<String>,
    fb_id: Option<i64>,
    fb_name: Option<String>,
    fb_email: Option<String>,
    fb_active: Option<bool>,
}

/// The recertification policy (one row, seeded by the migration).
pub async fn policy(db: &mut Db) -> Result<ReviewPolicy> {
    let sql = "SELECT p.high_days, p.medium_days, p.low_days, p.remind_days, p.escalate_days, \
         p.reauth_days, p.deadline_default, p.drill_high_days, p.drill_medium_days, \
         p.drill_low_days, p.acceptance_max_days, p.updated_at, f.id AS fb_id, f.name AS fb_name, \
         f.email AS fb_email, f.active AS fb_active \
         FROM review_policy p LEFT JOIN person f ON f.id = p.fallback_reviewer_id WHERE p.id = 1";
    let r: PolicyRow = on!(db, |c| sqlx::query_as(sql).fetch_one(c).await)?;
    Ok(ReviewPolicy {
        intervals: Intervals {
            high_days: r.high_days,
            medium_days: r.medium_days,
            low_days: r.low_days,
        },
        remind_days: r.remind_days,
        escalate_days: r.escalate_days,
        reauth_days: r.reauth_days,
        deadline_default: r.deadline_default,
        fallback_reviewer: person(r.fb_id, r.fb_name, r.fb_email, r.fb_active),
        drill_intervals: Intervals {
            high_days: r.drill_high_days,
            medium_days: r.drill_medium_days,
            low_days: r.drill_low_days,
        },
        acceptance_max_days: r.acceptance_max_days,
        updated_at: r.updated_at,
    })
}

/// Just the intervals, for scheduling.
pub async fn intervals(db: &mut Db) -> Result<Intervals> {
    let sql = "SELECT high_days, medium_days, low_days FROM review_policy WHERE id = 1";
    let (high_days, medium_days, low_days): (i64, i64, i64) =
        on!(db, |c| sqlx::query_as(sql).fetch_one(c).await)?;
    Ok(Intervals {
        high_days,
        medium_days,
        low_days,
    })
}

/// Writes every policy value.
pub async fn update_policy(db: &mut Db, p: &ReviewPolicy, updated_at: &str) -> Result<()> {
    let sql = "UPDATE review_policy SET high_days = $1, medium_days = $2, low_days = $3, \
         remind_days = $4, escalate_days = $5, reauth_days = $6, deadline_default = $7, \
         fallback_reviewer_id = $8, updated_at = $9, drill_high_days = $10, \
         drill_medium_days = $11, drill_low_days = $12, acceptance_max_days = $13 WHERE id = 1";
    on!(db, |c| sqlx::query(sql)
        .bind(p.intervals.high_days)
        .bind(p.intervals.medium_days)
        .bind(p.intervals.low_days)
        .bind(p.remind_days)
        .bind(p.escalate_days)
        .bind(p.reauth_days)
        .bind(p.deadline_default)
        .bind(p.fallback_reviewer.as_ref().map(|f| f.id))
        .bind(updated_at)
        .bind(p.drill_intervals.high_days)
        .bind(p.drill_intervals.medium_days)
        .bind(p.drill_intervals.low_days)
        .bind(p.acceptance_max_days)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Sets (or clears) the person who reviews what `person` owns.
pub async fn set_designated_reviewer(
    db: &mut Db,
    person: i64,
    reviewer: Option<i64>,
) -> Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE person SET reviewer_id = $2 WHERE id = $1"
    )
    .bind(person)
    .bind(reviewer)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The designated reviewer of what `person` owns.
pub async fn designated_reviewer(db: &mut Db, person_id: i64) -> Result<Option<Person>> {
    let sql = "SELECT r.id, r.name, r.email, r.active FROM person p \
         JOIN person r ON r.id = p.reviewer_id WHERE p.id = $1";
    let row: Option<(i64, String, String, bool)> = on!(db, |c| sqlx::query_as(sql)
        .bind(person_id)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(|(id, name, email, active)| Person {
        id,
        name,
        email,
        active,
    }))
}

/// Every (person, designated reviewer) pair.
pub async fn designated_reviewers(db: &mut Db) -> Result<Vec<(i64, i64)>> {
    let sql = "SELECT id, reviewer_id FROM person WHERE reviewer_id IS NOT NULL";
    Ok(on!(db, |c| sqlx::query_as(sql).fetch_all(c).await)?)
}

/// An identity a campaign may include, with its scope sets.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Candidate {
    #[sqlx(flatten)]
    pub record: IdentityRecord,
    pub approved: Option<String>,
    pub granted: Option<String>,
}

impl Candidate {
    pub fn granted_list(&self) -> Vec<String> {
        scope_list(self.granted.clone())
    }
    pub fn approved_list(&self) -> Vec<String> {
        scope_list(self.approved.clone())
    }
}

/// The select of [`Candidate`]s: an identity and its scope sets.
macro_rules! candidate_select {
    () => {
        concat!("SELECT i.*, ", scope_columns!(), " FROM identity i")
    };
}

/// Live identities matching a campaign filter (all but the tier, which needs the scope
/// engine). `owner` is a person id; `due_before` a stored timestamp.
pub async fn candidates(
    db: &mut Db,
    f: &CampaignFilter,
    owner: Option<i64>,
    due_before: Option<&str>,
) -> Result<Vec<Candidate>> {
    // The vendor matches without regard to case: NOCASE on SQLite, lower() on PostgreSQL.
    let rows: Vec<Candidate> = on!(
        db,
        vendor = (
            (" AND i.vendor = ", " COLLATE NOCASE"),
            (" AND lower(i.vendor) = lower(", ")")
        ),
        |c| {
            let mut q = QueryBuilder::new(candidate_select!());
            q.push(" WHERE i.status NOT IN (")
                .push_bind(Status::Retired)
                .push(", ")
                .push_bind(Status::Revoked)
                .push(")");
            if let Some(env) = f.environment {
                q.push(" AND i.environment = ").push_bind(env);
            }
            if let Some(kind) = f.kind {
                q.push(" AND i.kind = ").push_bind(kind);
            }
            if let Some(v) = f.vendor.as_deref() {
                q.push(vendor.0).push_bind(v.to_string()).push(vendor.1);
            }
            if let Some(owner) = owner {
                q.push(" AND (i.business_owner_id = ")
                    .push_bind(owner)
                    .push(" OR i.technical_owner_id = ")
                    .push_bind(owner)
                    .push(")");
            }
            if let Some(due) = due_before {
                q.push(" AND i.next_review_due < ")
                    .push_bind(due.to_string());
            }
            q.push(" ORDER BY i.id");
            q.build_query_as().fetch_all(c).await
        }
    )?;
    Ok(rows)
}

/// One identity with its scope sets.
pub async fn candidate(db: &mut Db, id: i64) -> Result<Option<Candidate>> {
    let sql = concat!(candidate_select!(), " WHERE i.id = $1");
    Ok(on!(db, |c| sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// The JSON an item keeps of what its identity looked like when the item opened.
pub async fn snapshot(db: &mut Db, id: i64) -> Result<String> {
    let c = candidate(db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("identity {id}")))?;
    Ok(snapshot_of(&c))
}

/// [`snapshot`] of a candidate already read.
pub fn snapshot_of(c: &Candidate) -> String {
    serde_json::json!({
        "identity": c.record,
        "approved_scopes": c.approved_list(),
        "granted_scopes": c.granted_list(),
    })
    .to_string()
}

/// A campaign row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub filter: String,
    pub deadline: String,
    pub default_decision: DeadlineDefault,
    pub fallback_reviewer_id: Option<i64>,
    pub state: CampaignState,
    pub created_at: String,
    pub created_by: String,
    pub closed_at: Option<String>,
}

/// Inserts a campaign; returns its id.
pub async fn insert_campaign(db: &mut Db, c: &CampaignRow) -> Result<i64> {
    let sql = "INSERT INTO review_campaign (name, filter, deadline, default_decision, \
         fallback_reviewer_id, state, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
    Ok(on!(db, |conn| sqlx::query_scalar(sql)
        .bind(&c.name)
        .bind(&c.filter)
        .bind(&c.deadline)
        .bind(c.default_decision)
        .bind(c.fallback_reviewer_id)
        .bind(c.state)
        .bind(&c.created_at)
        .bind(&c.created_by)
        .fetch_one(conn)
        .await)?)
}

/// One campaign.
pub async fn campaign(db: &mut Db, id: i64) -> Result<Option<CampaignRow>> {
    let sql = "SELECT * FROM review_campaign WHERE id = $1";
    Ok(on!(db, |c| sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Every campaign, newest first.
pub async fn campaigns(db: &mut Db) -> Result<Vec<CampaignRow>> {
    let sql = "SELECT * FROM review_campaign ORDER BY id DESC";
    Ok(on!(db, |c| sqlx::query_as(sql).fetch_all(c).await)?)
}

/// Closes a campaign.
pub async fn close_campaign(db: &mut Db, id: i64, at: &str) -> Result<()> {
    let sql = "UPDATE review_campaign SET state = 'closed', closed_at = $2 WHERE id = $1";
    on!(db, |c| sqlx::query(sql)
        .bind(id)
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Item counts of a campaign as of `now`.
pub async fn progress(db: &mut Db, campaign: i64, now: &str) -> Result<Progress> {
    let sql = "SELECT count(*), \
           count(*) FILTER (WHERE state = 'open'), count(*) FILTER (WHERE state = 'escalated'), \
           count(*) FILTER (WHERE state = 'decided'), \
           count(*) FILTER (WHERE state <> 'decided' AND due < $2), \
           count(*) FILTER (WHERE decision = 'certify'), \
           count(*) FILTER (WHERE decision = 'reduce'), \
           count(*) FILTER (WHERE decision = 'revoke'), \
           count(*) FILTER (WHERE decision = 'no_change') \
         FROM review_item WHERE campaign_id = $1";
    let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = on!(db, |c| sqlx::query_as(sql)
        .bind(campaign)
        .bind(now)
        .fetch_one(c)
        .await)?;
    Ok(Progress {
        total: row.0,
        open: row.1,
        escalated: row.2,
        decided: row.3,
        overdue: row.4,
        certified: row.5,
        reduced: row.6,
        revoked: row.7,
        no_change: row.8,
    })
}

/// Open and decided counts per reviewer of a campaign, by reviewer name (items without a
/// reviewer first).
pub async fn reviewer_progress(db: &mut Db, campaign: i64) -> Result<Vec<ReviewerProgress>> {
    type Row = (
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<bool>,
        i64,
        i64,
    );
    macro_rules! by_reviewer {
        ($order:literal) => {
            concat!(
                "SELECT p.id, p.name, p.email, p.active, \
                   count(*) FILTER (WHERE it.state <> 'decided'), \
                   count(*) FILTER (WHERE it.state = 'decided') \
                 FROM review_item it LEFT JOIN person p ON p.id = it.reviewer_id \
                 WHERE it.campaign_id = $1 GROUP BY it.reviewer_id, p.id ORDER BY ",
                $order
            )
        };
    }
    let rows: Vec<Row> = on!(
        db,
        sql = (
            by_reviewer!("p.name COLLATE NOCASE"),
            by_reviewer!("lower(p.name) NULLS FIRST")
        ),
        |c| sqlx::query_as(sql).bind(campaign).fetch_all(c).await
    )?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, email, active, open, decided)| ReviewerProgress {
                reviewer: person(id, name, email, active),
                open,
                decided,
            },
        )
        .collect())
}

/// A new item.
pub struct NewItem<'a> {
    pub campaign_id: Option<i64>,
    pub identity_id: i64,
    pub reason: &'a str,
    pub snapshot: String,
    pub reviewer_id: Option<i64>,
    pub due: &'a str,
    pub created_at: &'a str,
}

/// Inserts items; returns their ids in order.
pub async fn insert_items(db: &mut Db, items: &[NewItem<'_>]) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(items.len());
    for chunk in items.chunks(4000) {
        let rows: Vec<(i64,)> = on!(db, |c| {
            let mut q = QueryBuilder::new(
                "INSERT INTO review_item (campaign_id, identity_id, reason, snapshot, \
                 reviewer_id, due, created_at) ",
            );
            q.push_values(chunk, |mut b, it| {
                b.push_bind(it.campaign_id)
                    .push_bind(it.identity_id)
                    .push_bind(it.reason.to_string())
                    .push_bind(it.snapshot.clone())
                    .push_bind(it.reviewer_id)
                    .push_bind(it.due.to_string())
                    .push_bind(it.created_at.to_string());
            });
            q.push(" RETURNING id");
            q.build_query_as().fetch_all(c).await
        })?;
        ids.extend(rows.into_iter().map(|(id,)| id));
    }
    Ok(ids)
}

/// An open re-authorization item of this identity, if one exists.
pub async fn open_reauth_item(db: &mut Db, identity_id: i64) -> Result<Option<i64>> {
    let sql = "SELECT id FROM review_item WHERE identity_id = $1 AND campaign_id IS NULL \
         AND state <> 'decided' ORDER BY id LIMIT 1";
    Ok(on!(db, |c| sqlx::query_scalar(sql)
        .bind(identity_id)
        .fetch_optional(c)
        .await)?)
}

/// An item row as stored, with what deciding needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub id: i64,
    pub campaign_id: Option<i64>,
    pub identity_id: i64,
    pub reason: String,
    pub snapshot: String,
    pub reviewer_id: Option<i64>,
    pub state: ItemState,
    pub due: String,
    pub created_at: String,
    pub reminded_at: Option<String>,
    pub escalated_at: Option<String>,
    pub decision: Option<ReviewDecision>,
    pub decided_at: Option<String>,
    pub draft: Option<String>,
    /// Bumped by every change, so an edit made from a stale copy is refused.
    pub version: i64,
    pub campaign_state: Option<CampaignState>,
    pub campaign_fallback_id: Option<i64>,
    pub campaign_default: Option<DeadlineDefault>,
}

/// The select of [`ItemRow`]s.
macro_rules! item_row_select {
    () => {
        "SELECT it.*, c.state AS campaign_state, \
         c.fallback_reviewer_id AS campaign_fallback_id, c.default_decision AS campaign_default \
         FROM review_item it LEFT JOIN review_campaign c ON c.id = it.campaign_id"
    };
}

/// One item.
pub async fn item_row(db: &mut Db, id: i64) -> Result<Option<ItemRow>> {
    let sql = concat!(item_row_select!(), " WHERE it.id = $1");
    Ok(on!(db, |c| sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Undecided items whose due date is at or before `horizon`, in open campaigns or outside
/// any campaign: the ones reminders, escalation and defaults look at.
pub async fn undecided_due_by(db: &mut Db, horizon: &str) -> Result<Vec<ItemRow>> {
    let sql = concat!(
        item_row_select!(),
        " WHERE it.state <> 'decided' AND (c.id IS NULL OR c.state = 'open') AND it.due <= $1 \
         ORDER BY it.due, it.id"
    );
    Ok(on!(db, |c| sqlx::query_as(sql)
        .bind(horizon)
        .fetch_all(c)
        .await)?)
}

/// Undecided items of a campaign.
pub async fn undecided_in(db: &mut Db, campaign: i64) -> Result<i64> {
    let sql = "SELECT count(*) FROM review_item WHERE campaign_id = $1 AND state <> 'decided'";
    Ok(on!(db, |c| sqlx::query_scalar(sql)
        .bind(campaign)
        .fetch_one(c)
        .await)?)
}
/// Filters for listing items.
#[derive(Debug, Clone, Default, serde::Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct ItemQuery {
    #[ts(type = "number | null")]
    pub campaign: Option<i64>,
    #[ts(type = "number | null")]
    pub reviewer: Option<i64>,
    pub state: Option<ItemState>,
    #[ts(type = "number | null")]
    pub identity: Option<i64>,
    #[ts(type = "number | null")]
    pub item: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ItemListRow {
    id: i64,
    campaign_id: Option<i64>,
    campaign: Option<String>,
    identity_id: i64,
    client_id: String,
    name: String,
    environment: Environment,
    kind: Kind,
    granted: Option<String>,
    reason: String,
    r_id: Option<i64>,
    r_name: Option<String>,
    r_email: Option<String>,
    r_active: Option<bool>,
    state: ItemState,
    due: String,
    created_at: String,
    reminded_at: Option<String>,
    escalated_at: Option<String>,
    decision: Option<ReviewDecision>,
    decided_at: Option<String>,
    attested: bool,
}

/// An item's identity's granted scopes, space-joined.
const GRANTED: &str = "(SELECT string_agg(s.scope, ' ') FROM identity_scope s \
        WHERE s.identity_id = i.id AND s.scope_set = 'granted')";

/// The select of the items: the columns [`ItemListRow`] reads, in its order, with `granted`
/// as the column of their granted scopes.
fn item_select(granted: &str) -> String {
    format!(
        "SELECT it.id, it.campaign_id, c.name AS campaign, it.identity_id, i.client_id, i.name, \
         i.environment, i.kind, {granted} AS granted, \
         it.reason, r.id AS r_id, r.name AS r_name, r.email AS r_email, r.active AS r_active, \
         it.state, it.due, it.created_at, it.reminded_at, it.escalated_at, it.decision, \
         it.decided_at, \
         EXISTS (SELECT 1 FROM attestation a WHERE a.identity_id = it.identity_id \
           AND a.at >= it.created_at) AS attested \
         FROM review_item it JOIN identity i ON i.id = it.identity_id \
         LEFT JOIN review_campaign c ON c.id = it.campaign_id \
         LEFT JOIN person r ON r.id = it.reviewer_id"
    )
}

/// The order a queue shows items in: undecided first by due date, then decided.
const ITEM_ORDER: &str = " ORDER BY it.state = 'decided', it.due, it.id";

/// Items as a queue shows them, on the caller's connection (inside its transaction), on
/// either engine: what [`items_bulk`] reads on SQLite.
pub async fn items(db: &mut Db, f: &ItemQuery) -> Result<Vec<Item>> {
    let rows = item_list_rows(db, f, GRANTED).await?;
    Ok(to_items(rows, |r| r.granted.take()))
}

/// [`items`] but for the tiers, which the caller gives ([`Untiered::tiered`]), on either
/// engine: what [`items_bulk_untiered`] reads on SQLite.
pub async fn items_untiered(db: &mut Db, f: &ItemQuery) -> Result<Untiered> {
    Ok(Untiered(item_list_rows(db, f, "NULL").await?))
}

/// The rows of [`items`], with `granted` as the column of their granted scopes.
async fn item_list_rows(db: &mut Db, f: &ItemQuery, granted: &str) -> Result<Vec<ItemListRow>> {
    let select = item_select(granted);
    let rows: Vec<ItemListRow> = on!(db, |c| {
        let mut q = QueryBuilder::new(select.as_str());
        q.push(" WHERE 1 = 1");
        if let Some(campaign) = f.campaign {
            q.push(" AND it.campaign_id = ").push_bind(campaign);
        }
        if let Some(r) = f.reviewer {
            q.push(" AND it.reviewer_id = ").push_bind(r);
        }
        if let Some(s) = f.state {
            q.push(" AND it.state = ").push_bind(s);
        }
        if let Some(i) = f.identity {
            q.push(" AND it.identity_id = ").push_bind(i);
        }
        if let Some(i) = f.item {
            q.push(" AND it.id = ").push_bind(i);
        }
        q.push(ITEM_ORDER);
        q.build_query_as().fetch_all(c).await
    })?;
    Ok(rows)
}

/// Items as a queue shows them, read on a bulk connection to a SQLite store (a campaign can
/// hold tens of thousands); [`items`] reads the same on either engine.
pub fn items_bulk(db: &super::bulk::Bulk, f: &ItemQuery) -> Result<Vec<Item>> {
    let rows = item_rows(db, f, GRANTED)?;
    Ok(to_items(rows, |r| r.granted.take()))
}

/// Items read without their identities' granted scopes, to be tiered by scopes the reader
/// has read already.
pub struct Untiered(Vec<ItemListRow>);

impl Untiered {
    /// The items, tiered by the granted scopes (space-joined) `granted` gives an identity.
    pub fn tiered<'a>(self, granted: impl Fn(i64) -> Option<&'a str>) -> Vec<Item> {
        to_items(self.0, |r| granted(r.identity_id).map(String::from))
    }
}

/// [`items_bulk`] but for the tiers, which the caller gives ([`Untiered::tiered`]): no
/// lookup of each item's scopes. [`items_untiered`] reads the same on either engine.
pub fn items_bulk_untiered(db: &super::bulk::Bulk, f: &ItemQuery) -> Result<Untiered> {
    Ok(Untiered(item_rows(db, f, "NULL")?))
}

fn item_rows(db: &super::bulk::Bulk, f: &ItemQuery, granted: &str) -> Result<Vec<ItemListRow>> {
    let mut stmt = db.conn().prepare(&format!(
        "{} WHERE (?1 IS NULL OR it.campaign_id = ?1) \
           AND (?2 IS NULL OR it.reviewer_id = ?2) AND (?3 IS NULL OR it.state = ?3) \
           AND (?4 IS NULL OR it.identity_id = ?4) AND (?5 IS NULL OR it.id = ?5){ITEM_ORDER}",
        item_select(granted)
    ))?;
    let rows = stmt
        .query_map(
            (
                f.campaign,
                f.reviewer,
                f.state.map(ItemState::as_str),
                f.identity,
                f.item,
            ),
            |r| {
                Ok(ItemListRow {
                    id: r.get(0)?,
                    campaign_id: r.get(1)?,
                    campaign: r.get(2)?,
                    identity_id: r.get(3)?,
                    client_id: r.get(4)?,
                    name: r.get(5)?,
                    environment: r.get(6)?,
                    kind: r.get(7)?,
                    granted: r.get(8)?,
                    reason: r.get(9)?,
                    r_id: r.get(10)?,
                    r_name: r.get(11)?,
                    r_email: r.get(12)?,
                    r_active: r.get(13)?,
                    state: r.get(14)?,
                    due: r.get(15)?,
                    created_at: r.get(16)?,
                    reminded_at: r.get(17)?,
                    escalated_at: r.get(18)?,
                    decision: r.get(19)?,
                    decided_at: r.get(20)?,
                    attested: r.get(21)?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Items of `rows`, each tiered by the granted scopes `granted` gives it.
fn to_items(
    rows: Vec<ItemListRow>,
    mut granted: impl FnMut(&mut ItemListRow) -> Option<String>,
) -> Vec<Item> {
    // Tens of thousands of items, far fewer distinct granted sets: each tiered once.
    let mut tiers: rustc_hash::FxHashMap<(Environment, Option<String>), Tier> = Default::default();
    rows.into_iter()
        .map(|mut r| Item {
            tier: *tiers
                .entry((r.environment, granted(&mut r)))
                .or_insert_with_key(|(env, granted)| {
                    crate::review::tier(
                        *env,
                        &crate::scope::ScopeSet::parse(granted.as_deref().unwrap_or("")),
                    )
                }),
            id: r.id,
            campaign_id: r.campaign_id,
            campaign: r.campaign,
            identity_id: r.identity_id,
            client_id: r.client_id,
            name: r.name,
            environment: r.environment,
            kind: r.kind,
            reason: r.reason,
            reviewer: person(r.r_id, r.r_name, r.r_email, r.r_active),
            state: r.state,
            due: r.due,
            created_at: r.created_at,
            reminded_at: r.reminded_at,
            escalated_at: r.escalated_at,
            decision: r.decision,
            decided_at: r.decided_at,
            attested: r.attested,
        })
        .collect()
}

/// Moves an item to another reviewer (and state).
pub async fn reassign_item(
    db: &mut Db,
    id: i64,
    reviewer: Option<i64>,
    state: ItemState,
    escalated_at: Option<&str>,
) -> Result<()> {
    let sql = "UPDATE review_item SET reviewer_id = $2, state = $3, \
         escalated_at = coalesce($4, escalated_at), version = version + 1 WHERE id = $1";
    on!(db, |c| sqlx::query(sql)
        .bind(id)
        .bind(reviewer)
        .bind(state)
        .bind(escalated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records that a reminder went out.
pub async fn mark_reminded(db: &mut Db, id: i64, at: &str) -> Result<()> {
    let sql = "UPDATE review_item SET reminded_at = $2 WHERE id = $1";
    on!(db, |c| sqlx::query(sql)
        .bind(id)
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Closes an item with its final decision.
pub async fn close_item(db: &mut Db, id: i64, decision: ReviewDecision, at: &str) -> Result<()> {
    let sql = "UPDATE review_item SET state = 'decided', decision = $2, decided_at = $3, \
         draft = NULL, version = version + 1 WHERE id = $1";
    on!(db, |c| sqlx::query(sql)
        .bind(id)
        .bind(decision)
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Saves (or clears) the wizard's draft of an undecided item.
pub async fn save_draft(
    db: &mut Db,
    id: i64,
    draft: Option<&str>,
    version: Option<i64>,
) -> Result<Option<i64>> {
    let sql = "UPDATE review_item SET draft = $2, version = version + 1 \
         WHERE id = $1 AND state <> 'decided' AND ($3 IS NULL OR version = $3) RETURNING version";
    let done: Option<i64> = on!(db, |c| sqlx::query_scalar(sql)
        .bind(id)
        .bind(draft)
        .bind(version)
        .fetch_optional(c)
        .await)?;
    Ok(done)
}

/// A decision to record.
pub struct NewDecision<'a> {
    pub item_id: i64,
    pub decision: ReviewDecision,
    pub reviewer_id: Option<i64>,
    pub comment: &'a str,
    pub removed_scopes: &'a [String],
    pub new_owner_id: Option<i64>,
    pub evidence: String,
    pub at: &'a str,
}

/// Records a decision; returns its id.
pub async fn insert_decision(db: &mut Db, d: &NewDecision<'_>) -> Result<i64> {
    let removed = serde_json::to_string(d.removed_scopes)
        .map_err(|e| Error::Internal(format!("cannot encode scopes: {e}")))?;
    let sql = "INSERT INTO review_decision (item_id, decision, reviewer_id, comment, \
         removed_scopes, new_owner_id, evidence, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id";
    Ok(on!(db, |c| sqlx::query_scalar(sql)
        .bind(d.item_id)
        .bind(d.decision)
        .bind(d.reviewer_id)
        .bind(d.comment)
        .bind(&removed)
        .bind(d.new_owner_id)
        .bind(&d.evidence)
        .bind(d.at)
        .fetch_one(c)
        .await)?)
}

#[derive(sqlx::FromRow)]
struct DecisionRow {
    id: i64,
    item_id: i64,
    decision: ReviewDecision,
    comment: String,
    removed_scopes: String,
    at: String,
    r_id: Option<i64>,
    r_name: Option<String>,
    r_email: Option<String>,
    r_active: Option<bool>,
    o_id: Option<i64>,
    o_name: Option<String>,
    o_email: Option<String>,
    o_active: Option<bool>,
}

/// Decisions, oldest first: of one item, one campaign, or all.
pub async fn decisions(
    db: &mut Db,
    item: Option<i64>,
    campaign: Option<i64>,
) -> Result<Vec<DecisionRecord>> {
    let sql = "SELECT d.id, d.item_id, d.decision, d.comment, d.removed_scopes, d.at, \
         r.id AS r_id, r.name AS r_name, r.email AS r_email, r.active AS r_active, \
         o.id AS o_id, o.name AS o_name, o.email AS o_email, o.active AS o_active \
         FROM review_decision d JOIN review_item it ON it.id = d.item_id \
         LEFT JOIN person r ON r.id = d.reviewer_id LEFT JOIN person o ON o.id = d.new_owner_id \
         WHERE ($1 IS NULL OR d.item_id = $1) AND ($2 IS NULL OR it.campaign_id = $2) \
         ORDER BY d.id";
    let rows: Vec<DecisionRow> = on!(db, |c| sqlx::query_as(sql)
        .bind(item)
        .bind(campaign)
        .fetch_all(c)
        .await)?;
    rows.into_iter()
        .map(|r| {
            Ok(DecisionRecord {
                id: r.id,
                item_id: r.item_id,
                decision: r.decision,
                reviewer: person(r.r_id, r.r_name, r.r_email, r.r_active),
                comment: r.comment,
                removed_scopes: serde_json::from_str(&r.removed_scopes).map_err(|e| {
                    Error::Internal(format!("decision {}: removed_scopes: {e}", r.id))
                })?,
                new_owner: person(r.o_id, r.o_name, r.o_email, r.o_active),
                at: r.at,
            })
        })
        .collect()
}

/// Records a revocation task for the identity's revocation path.
pub async fn insert_revocation_task(
    db: &mut Db,
    identity_id: i64,
    decision_id: i64,
    endpoint: Option<&str>,
    at: &str,
) -> Result<i64> {
    let sql = "INSERT INTO revocation_task (identity_id, decision_id, endpoint, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id";
    Ok(on!(db, |c| sqlx::query_scalar(sql)
        .bind(identity_id)
        .bind(decision_id)
        .bind(endpoint)
        .bind(at)
        .fetch_one(c)
        .await)?)
}

/// Records an owner's attestation.
pub async fn insert_attestation(
    db: &mut Db,
    identity_id: i64,
    person_id: i64,
    role: OwnerRole,
    purpose: &str,
    justifications: &BTreeMap<String, String>,
    at: &str,
) -> Result<()> {
    let j = serde_json::to_string(justifications)
        .map_err(|e| Error::Internal(format!("cannot encode justifications: {e}")))?;
    let sql = "INSERT INTO attestation (identity_id, person_id, role, purpose, justifications, \
         at) VALUES ($1, $2, $3, $4, $5, $6)";
    on!(db, |c| sqlx::query(sql)
        .bind(identity_id)
        .bind(person_id)
        .bind(role)
        .bind(purpose)
        .bind(&j)
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The latest attestation of an identity.
pub async fn latest_attestation(db: &mut Db, identity_id: i64) -> Result<Option<Attestation>> {
    type Row = (i64, String, String, bool, OwnerRole, String, String, String);
    let sql = "SELECT p.id, p.name, p.email, p.active, a.role, a.purpose, a.justifications, a.at \
         FROM attestation a JOIN person p ON p.id = a.person_id \
         WHERE a.identity_id = $1 ORDER BY a.at DESC, a.id DESC LIMIT 1";
    let row: Option<Row> = on!(db, |c| sqlx::query_as(sql)
        .bind(identity_id)
        .fetch_optional(c)
        .await)?;
    row.map(|(id, name, email, active, role, purpose, j, at)| {
        Ok(Attestation {
            person: Person {
                id,
                name,
                email,
                active,
            },
            role,
            purpose,
            justifications: serde_json::from_str(&j)
                .map_err(|e| Error::Internal(format!("attestation: {e}")))?,
            at,
        })
    })
    .transpose()
}

/// Sets an approved scope's justification.
pub async fn justify(db: &mut Db, identity_id: i64, scope: &str, why: &str) -> Result<bool> {
    let sql = "UPDATE identity_scope SET justification = $3 \
         WHERE identity_id = $1 AND scope_set = 'approved' AND scope = $2";
    let done = on!(db, |c| sqlx::query(sql)
        .bind(identity_id)
        .bind(scope)
        .bind(why)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Every identity with its scope sets, for rescheduling after the intervals change.
pub async fn schedule_inputs(db: &mut Db) -> Result<Vec<Candidate>> {
    let sql = concat!(candidate_select!(), " ORDER BY i.id");
    Ok(on!(db, |c| sqlx::query_as(sql).fetch_all(c).await)?)
}

/// Sets next_review_due of many identities.
pub async fn set_next_due(db: &mut Db, due: &[(i64, String)]) -> Result<()> {
    for chunk in due.chunks(10_000) {
        // A JSON array of [id, due] pairs.
        let payload = serde_json::to_string(chunk)
            .map_err(|e| Error::Internal(format!("cannot encode schedule: {e}")))?;
        on!(
            db,
            sql = (
                "UPDATE identity SET next_review_due = (SELECT j.value ->> 1 FROM json_each($1) j \
               WHERE j.value ->> 0 = identity.id) \
             WHERE id IN (SELECT j.value ->> 0 FROM json_each($1) j)",
                "UPDATE identity SET next_review_due = j.value ->> 1 \
             FROM json_array_elements($1::json) j WHERE identity.id = (j.value ->> 0)::bigint"
            ),
            |c| sqlx::query(sql)
                .bind(&payload)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        )?;
    }
    Ok(())
}

/// Tier of a candidate, for filtering.
pub fn candidate_tier(c: &Candidate) -> Tier {
    crate::review::tier(
        c.record.environment,
        &crate::scope::ScopeSet::parse(c.granted.as_deref().unwrap_or("")),
    )
}

/// [`choose_reviewer`] reading the designated reviewer and the fallbacks (person ids) from
/// the store; `None` when nobody qualifies.
pub async fn assign_reviewer(
    conn: &mut Db,
    business_owner: Option<i64>,
    technical_owner: Option<i64>,
    fallbacks: &[Option<i64>],
) -> Result<Option<Person>> {
    let designated = match business_owner {
        Some(bo) => designated_reviewer(conn, bo).await?,
        None => None,
    };
    let mut people = Vec::new();
    for id in fallbacks.iter().flatten() {
        people.push(super::person::get(conn, *id).await?);
    }
    let refs: Vec<Option<&Person>> = people.iter().map(Option::as_ref).collect();
    Ok(
        crate::review::choose_reviewer(business_owner, technical_owner, designated.as_ref(), &refs)
            .cloned(),
    )
}
