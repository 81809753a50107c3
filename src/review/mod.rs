//! Recertification: review tiers and intervals, campaigns, items, decisions and the rules
//! that keep them defensible (separation of duties, deadlines, defaults). The SQL is in
//! `store::review`, the use cases in `api::review`.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::inventory::{text_enum, Environment, Kind, Person};
use crate::policy::template::Template;
use crate::scope::{Context, Perms, RiskTrait, Scope, ScopeSet, Special};
use crate::time::Timestamp;

text_enum! {
    /// How often an identity is recertified: its review tier.
    Tier {
        High => "high",
        Medium => "medium",
        Low => "low",
    }
}

text_enum! {
    /// What a reviewer decides for one item.
    ReviewDecision {
        Certify => "certify",
        Reduce => "reduce",
        Revoke => "revoke",
        Reassign => "reassign",
        NoChange => "no_change",
    }
}

text_enum! {
    /// Where an item stands.
    ItemState {
        Open => "open",
        Escalated => "escalated",
        Decided => "decided",
    }
}

text_enum! {
    /// What applies at a campaign's deadline to items nobody decided.
    DeadlineDefault {
        NoChange => "no_change",
        Revoke => "revoke",
        Recommendation => "recommendation",
    }
}

text_enum! {
    /// Whether a campaign still takes decisions.
    CampaignState {
        Open => "open",
        Closed => "closed",
    }
}

/// The review tier of an identity, from where it runs and what it was granted.
///
/// High: production with write, bulk export, `system/` or patient-delegated `offline_access`.
/// Medium: other production access, and those same traits outside production (staging data
/// is often a copy of production). Low: everything else.
pub fn tier(env: Environment, granted: &ScopeSet) -> Tier {
    let scopes = granted.scopes();
    let patient_context = scopes
        .iter()
        .any(|s| matches!(s, Scope::Resource(r) if r.context == Context::Patient));
    let sharp = scopes.iter().any(|s| match s {
        Scope::Special(Special::OfflineAccess) => patient_context,
        Scope::Special(_) => false,
        Scope::Resource(r) => {
            r.context == Context::System
                || !r.perms.minus(Perms::R).minus(Perms::S).is_empty()
                || crate::scope::traits(s).contains(&RiskTrait::BulkExport)
        }
    });
    match (env, sharp) {
        (Environment::Production, true) => Tier::High,
        (Environment::Production, false) | (_, true) => Tier::Medium,
        _ => Tier::Low,
    }
}

/// Review intervals in days, per tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Intervals {
    pub high_days: i64,
    pub medium_days: i64,
    pub low_days: i64,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            high_days: 90,
            medium_days: 180,
            low_days: 365,
        }
    }
}

impl Intervals {
    pub fn of(&self, tier: Tier) -> Duration {
        Duration::days(match tier {
            Tier::High => self.high_days,
            Tier::Medium => self.medium_days,
            Tier::Low => self.low_days,
        })
    }
}

/// When the next review falls due: one interval after the last review (or creation); at once
/// when a change needs re-authorization.
pub fn next_due(
    intervals: &Intervals,
    tier: Tier,
    last_reviewed_at: Option<Timestamp>,
    created_at: Timestamp,
    reauth_since: Option<Timestamp>,
) -> Timestamp {
    let scheduled = last_reviewed_at.unwrap_or(created_at) + intervals.of(tier);
    match reauth_since {
        Some(t) if t < scheduled => t,
        _ => scheduled,
    }
}

/// The recertification policy: intervals, reminders, escalation and the deadline default.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ReviewPolicy {
    pub intervals: Intervals,
    /// Items still open this many days before the deadline get a reminder.
    #[ts(type = "number")]
    pub remind_days: i64,
    /// Items still open this many days before the deadline go to the fallback reviewer.
    #[ts(type = "number")]
    pub escalate_days: i64,
    /// Days a re-authorization item has before it is due.
    #[ts(type = "number")]
    pub reauth_days: i64,
    pub deadline_default: DeadlineDefault,
    pub fallback_reviewer: Option<Person>,
    /// Days between revocation drills, by review tier.
    pub drill_intervals: Intervals,
    /// The longest a risk acceptance may last, in days.
    #[ts(type = "number")]
    pub acceptance_max_days: i64,
    pub updated_at: Option<String>,
}

/// The bounds of each policy number, in days: (field, least, most). A review or drill is due
/// within five years; reminders, escalation and re-authorization within a year; a risk is
/// accepted for five years at the very most.
pub const POLICY_BOUNDS: [(&str, i64, i64); 10] = [
    ("high_days", 1, 1825),
    ("medium_days", 1, 1825),
    ("low_days", 1, 1825),
    ("remind_days", 0, 365),
    ("escalate_days", 0, 365),
    ("reauth_days", 1, 365),
    ("drill_high_days", 1, 1825),
    ("drill_medium_days", 1, 1825),
    ("drill_low_days", 1, 1825),
    ("acceptance_max_days", 1, 1825),
];

/// `value` of the policy number `field`, refused outside [`POLICY_BOUNDS`] with the bounds
/// named.
pub fn check_bound(field: &str, value: i64) -> crate::Result<i64> {
    let (_, least, most) = POLICY_BOUNDS
        .iter()
        .find(|(f, ..)| *f == field)
        .copied()
        .unwrap_or((field, 0, i64::MAX));
    if (least..=most).contains(&value) {
        Ok(value)
    } else {
        Err(crate::Error::invalid(
            field,
            format!("{value} days: must be from {least} to {most}"),
        ))
    }
}

/// Changes to the policy; `None` keeps a value.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(default)]
pub struct PolicyEdit {
    #[ts(type = "number | null")]
    pub high_days: Option<i64>,
    #[ts(type = "number | null")]
    pub medium_days: Option<i64>,
    #[ts(type = "number | null")]
    pub low_days: Option<i64>,
    #[ts(type = "number | null")]
    pub remind_days: Option<i64>,
    #[ts(type = "number | null")]
    pub escalate_days: Option<i64>,
    #[ts(type = "number | null")]
    pub reauth_days: Option<i64>,
    pub deadline_default: Option<DeadlineDefault>,
    /// Email or person id.
    pub fallback_reviewer: Option<String>,
    #[ts(type = "number | null")]
    pub drill_high_days: Option<i64>,
    #[ts(type = "number | null")]
    pub drill_medium_days: Option<i64>,
    #[ts(type = "number | null")]
    pub drill_low_days: Option<i64>,
    #[ts(type = "number | null")]
    pub acceptance_max_days: Option<i64>,
}

/// Which identities a campaign reviews. Retired and revoked identities are never included.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct CampaignFilter {
    pub environment: Option<Environment>,
    pub kind: Option<Kind>,
    pub tier: Option<Tier>,
    /// Only identities whose review is due before this date (RFC 3339 or YYYY-MM-DD).
    pub due_before: Option<String>,
    /// Only identities this person (email or id) owns, on either side.
    pub owner: Option<String>,
    pub vendor: Option<String>,
}

/// A new campaign.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(default)]
pub struct NewCampaign {
    pub name: String,
    /// RFC 3339 or YYYY-MM-DD (end of that day, UTC).
    pub deadline: String,
    pub filter: CampaignFilter,
    /// Email or id; default: the policy's fallback reviewer.
    pub fallback_reviewer: Option<String>,
    /// Default: the policy's deadline default.
    pub deadline_default: Option<DeadlineDefault>,
}

/// Counts of a campaign's items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
pub struct Progress {
    #[ts(type = "number")]
    pub total: i64,
    #[ts(type = "number")]
    pub open: i64,
    #[ts(type = "number")]
    pub escalated: i64,
    #[ts(type = "number")]
    pub decided: i64,
    /// Undecided items past their due date.
    #[ts(type = "number")]
    pub overdue: i64,
    #[ts(type = "number")]
    pub certified: i64,
    #[ts(type = "number")]
    pub reduced: i64,
    #[ts(type = "number")]
    pub revoked: i64,
    #[ts(type = "number")]
    pub no_change: i64,
}

/// One reviewer's share of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ReviewerProgress {
    pub reviewer: Option<Person>,
    #[ts(type = "number")]
    pub open: i64,
    #[ts(type = "number")]
    pub decided: i64,
}

/// A campaign with its progress.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Campaign {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    pub filter: CampaignFilter,
    pub deadline: String,
    pub deadline_default: DeadlineDefault,
    pub fallback_reviewer: Option<Person>,
    pub state: CampaignState,
    pub created_at: String,
    pub created_by: String,
    pub closed_at: Option<String>,
    pub progress: Progress,
    pub reviewers: Vec<ReviewerProgress>,
}

/// An owner's latest attestation.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Attestation {
    pub person: Person,
    pub role: crate::inventory::OwnerRole,
    pub purpose: String,
    /// scope -> why, as the owner wrote them.
    pub justifications: std::collections::BTreeMap<String, String>,
    pub at: String,
}

/// A review item as a queue shows it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Item {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number | null")]
    pub campaign_id: Option<i64>,
    pub campaign: Option<String>,
    #[ts(type = "number")]
    pub identity_id: i64,
    pub client_id: String,
    pub name: String,
    pub environment: Environment,
    pub kind: Kind,
    pub tier: Tier,
    /// `campaign`, or why re-authorization is needed.
    pub reason: String,
    pub reviewer: Option<Person>,
    pub state: ItemState,
    pub due: String,
    pub created_at: String,
    pub reminded_at: Option<String>,
    pub escalated_at: Option<String>,
    pub decision: Option<ReviewDecision>,
    pub decided_at: Option<String>,
    /// Whether an owner attested purpose and justifications since the item opened.
    pub attested: bool,
}

/// One recorded decision.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct DecisionRecord {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub item_id: i64,
    pub decision: ReviewDecision,
    /// None when the campaign's deadline default decided.
    pub reviewer: Option<Person>,
    pub comment: String,
    pub removed_scopes: Vec<String>,
    pub new_owner: Option<Person>,
    pub at: String,
}

/// A decision to make.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct DecideRequest {
    #[ts(type = "number")]
    pub item: i64,
    pub decision: ReviewDecision,
    /// Granted scopes to remove (`reduce`).
    #[serde(default)]
    pub remove_scopes: Vec<String>,
    /// Email or id of the new business owner (`reassign`).
    #[serde(default)]
    pub new_owner: Option<String>,
    pub comment: String,
    /// Who decides is the signed-in person; naming anyone else here is refused.
    #[serde(default)]
    pub reviewer: Option<String>,
    /// The item's version the decision was made from (see `ItemDetail::version`): refused if
    /// the item changed since. `None` decides whatever the item's version.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub version: Option<i64>,
}

/// An owner confirming (or editing) the purpose and justifying approved scopes.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct AttestRequest {
    /// Who attests is the signed-in person; naming anyone else here is refused.
    #[serde(default)]
    pub person: Option<String>,
    pub purpose: String,
    /// (approved scope, why).
    #[serde(default)]
    pub justifications: Vec<(String, String)>,
}

/// Whether `person` may review an identity with these owners: never one of its owners.
pub fn may_review(person: i64, business_owner: Option<i64>, technical_owner: Option<i64>) -> bool {
    business_owner != Some(person) && technical_owner != Some(person)
}

/// Who reviews an identity with these owners: the business owner's designated reviewer,
/// else the first eligible fallback. Never an owner, never someone who has left.
pub fn choose_reviewer<'a>(
    business_owner: Option<i64>,
    technical_owner: Option<i64>,
    designated: Option<&'a Person>,
    fallbacks: &[Option<&'a Person>],
) -> Option<&'a Person> {
    let ok = |p: &&Person| p.active && may_review(p.id, business_owner, technical_owner);
    designated
        .filter(ok)
        .or_else(|| fallbacks.iter().flatten().copied().find(ok))
}

/// Scopes the wizard pre-selects for removal: granted but not covered by the approved set,
/// and beyond the use-case template.
pub fn recommended_removals(
    granted: &[String],
    approved: &ScopeSet,
    template: Option<&Template>,
) -> Vec<String> {
    let limit = template.and_then(Template::limit);
    granted
        .iter()
        .filter(|g| match Scope::parse(g) {
            Ok(s) => {
                !approved.covers_scope(&s) || limit.as_ref().is_some_and(|l| !l.covers_scope(&s))
            }
            // An unparseable grant is never justified.
            Err(_) => true,
        })
        .cloned()
        .collect()
}

/// What a change to an identity does to its certification: the reason re-authorization is
/// needed, if any. A scope increase is a new scope the old set did not cover.
pub fn reauth_reason(
    purpose_changed: bool,
    use_case_changed: bool,
    old_granted: &[String],
    new_granted: &[String],
    old_approved: &[String],
    new_approved: &[String],
) -> Option<String> {
    let grew = |old: &[String], new: &[String]| -> Vec<String> {
        let old_set = ScopeSet::parse(&old.join(" "));
        new.iter()
            .filter(|s| !old.contains(s))
            .filter(|s| Scope::parse(s).map_or(true, |p| !old_set.covers_scope(&p)))
            .cloned()
            .collect()
    };
    let mut why = Vec::new();
    if purpose_changed {
        why.push("purpose changed".to_string());
    }
    if use_case_changed {
        why.push("use case changed".to_string());
    }
    for (label, old, new) in [
        ("granted", old_granted, new_granted),
        ("approved", old_approved, new_approved),
    ] {
        let added = grew(old, new);
        if !added.is_empty() {
            why.push(format!("{label} scopes increased: {}", added.join(" ")));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s)
    }

    fn strings(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[rstest]
    #[case::prod_write(Environment::Production, "user/Observation.cu", Tier::High)]
    #[case::prod_system(Environment::Production, "system/Patient.rs", Tier::High)]
    #[case::prod_bulk(Environment::Production, "user/*.rs", Tier::High)]
    #[case::prod_patient_offline(
        Environment::Production,
        "patient/Observation.rs offline_access",
        Tier::High
    )]
    #[case::prod_user_offline(
        Environment::Production,
        "user/Observation.rs offline_access",
        Tier::Medium
    )]
    #[case::prod_read(Environment::Production, "patient/Observation.rs", Tier::Medium)]
    #[case::staging_write(Environment::Staging, "user/Observation.cu", Tier::Medium)]
    #[case::sandbox_read(Environment::Sandbox, "patient/Observation.rs openid", Tier::Low)]
    fn tiers_follow_environment_and_traits(
        #[case] env: Environment,
        #[case] granted: &str,
        #[case] want: Tier,
    ) {
        assert_eq!(tier(env, &set(granted)), want, "{env} {granted}");
    }

    #[test]
    fn a_pending_reauthorization_makes_the_review_due_at_once() {
        let created = crate::time::parse("2026-01-01T00:00:00Z").expect("time");
        let reviewed = crate::time::parse("2026-10-01T00:00:00Z").expect("time");
        let changed = crate::time::parse("2026-11-01T00:00:00Z").expect("time");
        let i = Intervals::default();
        assert_eq!(
            next_due(&i, Tier::High, Some(reviewed), created, None),
            reviewed + Duration::days(90)
        );
        assert_eq!(
            next_due(&i, Tier::Low, None, created, None),
            created + Duration::days(365)
        );
        assert_eq!(
            next_due(&i, Tier::Low, Some(reviewed), created, Some(changed)),
            changed
        );
    }

    fn someone(id: i64, active: bool) -> Person {
        Person {
            id,
            name: format!("p{id}"),
            email: format!("p{id}@example.org"),
            active,
        }
    }

    #[test]
    fn the_designated_reviewer_comes_first_unless_an_owner_or_gone() {
        let (d, f) = (someone(5, true), someone(6, true));
        let pick = |bo, to, d: Option<&Person>| {
            choose_reviewer(bo, to, d, &[None, Some(&f)]).map(|p| p.id)
        };
        assert_eq!(pick(Some(1), Some(2), Some(&d)), Some(5));
        assert_eq!(
            pick(Some(1), Some(5), Some(&d)),
            Some(6),
            "designated owns the tech side"
        );
        assert_eq!(pick(Some(1), Some(2), Some(&someone(5, false))), Some(6));
        assert_eq!(pick(Some(6), Some(5), Some(&d)), None, "nobody eligible");
    }

    #[test]
    fn owners_never_review_their_own_identity() {
        assert!(!may_review(1, Some(1), Some(2)));
        assert!(!may_review(2, Some(1), Some(2)));
        assert!(may_review(3, Some(1), Some(2)));
        assert!(may_review(3, None, None));
    }

    #[test]
    fn removals_are_what_approval_or_template_does_not_cover() {
        let granted = strings("patient/Observation.rs patient/Patient.cruds system/*.rs");
        let approved = set("patient/Observation.rs patient/Patient.rs system/*.rs");
        assert_eq!(
            recommended_removals(&granted, &approved, None),
            strings("patient/Patient.cruds")
        );
    }

    #[test]
    fn only_real_increases_need_reauthorization() {
        let old = strings("patient/Observation.rs");
        let narrower = strings("patient/Observation.rs patient/Observation.r");
        assert_eq!(reauth_reason(false, false, &old, &narrower, &[], &[]), None);
        let wider = strings("patient/Observation.rs patient/Patient.r");
        assert_eq!(
            reauth_reason(false, false, &old, &wider, &[], &[]).as_deref(),
            Some("granted scopes increased: patient/Patient.r")
        );
        assert_eq!(
            reauth_reason(true, false, &old, &old, &[], &[]).as_deref(),
            Some("purpose changed")
        );
    }
}
