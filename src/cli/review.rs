//! `steward review ...` and `steward attest`: recertification from the command line.

use clap::{Args, Subcommand};

use steward::api::{self, IdentityRef};
use steward::audit::Actor;
use steward::inventory::{Environment, Kind};
use steward::review::{
    AttestRequest, Campaign, CampaignFilter, DeadlineDefault, DecideRequest, ItemState,
    NewCampaign, PolicyEdit, ReviewDecision, ReviewPolicy, Tier,
};
use steward::store::review::ItemQuery;
use steward::{time, Error, Store};

use super::{dash, parse_time, Output};

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Recertification campaigns.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Review items: a reviewer's queue, or a campaign's.
    Items {
        #[arg(long)]
        campaign: Option<i64>,
        /// Email or person id.
        #[arg(long)]
        reviewer: Option<String>,
        /// open, escalated or decided.
        #[arg(long)]
        state: Option<ItemState>,
    },
    /// Decide one item. Exits non-zero when the reviewer owns the identity, the item is
    /// closed, or a scope to remove is not granted.
    Decide {
        item: i64,
        /// certify, reduce, revoke or reassign.
        #[arg(long)]
        decision: ReviewDecision,
        /// Granted scopes to remove, space-separated (reduce).
        #[arg(long)]
        remove_scopes: Option<String>,
        /// The new business owner, email or id (reassign).
        #[arg(long)]
        new_owner: Option<String>,
        #[arg(long)]
        comment: String,
        /// Refused unless it names the signed-in person: who decides is who is signed in.
        #[arg(long)]
        reviewer: Option<String>,
    },
    /// Apply reminders, escalation and deadline defaults as of a time (for schedulers).
    Escalate {
        /// RFC 3339 time or YYYY-MM-DD (default now).
        #[arg(long, value_parser = parse_time)]
        now: Option<time::Timestamp>,
    },
    /// Show or change the review policy (intervals per tier, reminders, escalation,
    /// the deadline default, the fallback reviewer).
    Policy(PolicyArgs),
    /// Name who reviews what a person owns (or clear it with --clear).
    SetReviewer {
        /// The owner: email or person id.
        person: String,
        #[arg(long, conflicts_with = "clear")]
        reviewer: Option<String>,
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Args)]
pub struct PolicyArgs {
    #[arg(long)]
    high_days: Option<i64>,
    #[arg(long)]
    medium_days: Option<i64>,
    #[arg(long)]
    low_days: Option<i64>,
    #[arg(long)]
    remind_days: Option<i64>,
    #[arg(long)]
    escalate_days: Option<i64>,
    #[arg(long)]
    reauth_days: Option<i64>,
    /// no_change, revoke or recommendation.
    #[arg(long)]
    deadline_default: Option<DeadlineDefault>,
    /// Email or id; "none" clears it.
    #[arg(long)]
    fallback_reviewer: Option<String>,
    /// Days between revocation drills of a high-tier identity (and so on).
    #[arg(long)]
    drill_high_days: Option<i64>,
    #[arg(long)]
    drill_medium_days: Option<i64>,
    #[arg(long)]
    drill_low_days: Option<i64>,
    /// The longest a risk acceptance may last, in days (1 to 1825; 365 unless changed).
    #[arg(long)]
    acceptance_max_days: Option<i64>,
}

#[derive(Subcommand)]
pub enum CampaignCommand {
    /// Start a campaign over the identities a filter selects; prints its id.
    Create {
        #[arg(long)]
        name: String,
        /// RFC 3339 time or YYYY-MM-DD (the end of that day, UTC).
        #[arg(long)]
        deadline: String,
        #[arg(long)]
        environment: Option<Environment>,
        #[arg(long)]
        kind: Option<Kind>,
        /// Review tier: high, medium or low.
        #[arg(long)]
        tier: Option<Tier>,
        /// Only identities whose review falls due before this date.
        #[arg(long)]
        due_before: Option<String>,
        /// Only identities this person (email or id) owns.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        vendor: Option<String>,
        /// Escalation goes here (default: the policy's fallback reviewer).
        #[arg(long)]
        fallback: Option<String>,
        /// What applies at the deadline (default: the policy's).
        #[arg(long, value_name = "no_change|revoke|recommendation")]
        default: Option<DeadlineDefault>,
    },
    /// Every campaign with its progress.
    List,
    /// One campaign: progress by state, decision and reviewer.
    Show {
        id: i64,
        /// Write the campaign report (one CSV row per item) to this file.
        #[arg(long, value_name = "FILE")]
        csv: Option<std::path::PathBuf>,
    },
    /// Close a campaign whose items are all decided.
    Close { id: i64 },
}

/// `steward attest ID --person P --purpose "..." [--justify "SCOPE=why"]...`
#[derive(Args)]
pub struct AttestArgs {
    #[command(flatten)]
    target: super::Target,
    /// Refused unless it names the signed-in person: who attests is who is signed in.
    #[arg(long)]
    person: Option<String>,
    /// The purpose statement, confirmed or edited.
    #[arg(long)]
    purpose: String,
    /// SCOPE=why, once per approved scope to justify.
    #[arg(long, value_parser = parse_justification)]
    justify: Vec<(String, String)>,
}

fn parse_justification(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| format!("'{s}' is not SCOPE=why"))
}

fn campaign_text(c: &Campaign) -> String {
    let p = &c.progress;
    let mut s = format!(
        "campaign {} \"{}\" ({}), deadline {}, default {}\n  items {}: {} open, {} escalated, {} decided, {} overdue\n  decisions: {} certified, {} reduced, {} revoked, {} no change",
        c.id,
        c.name,
        c.state,
        c.deadline,
        c.deadline_default,
        p.total,
        p.open,
        p.escalated,
        p.decided,
        p.overdue,
        p.certified,
        p.reduced,
        p.revoked,
        p.no_change
    );
    for r in &c.reviewers {
        s.push_str(&format!(
            "\n  {}: {} open, {} decided",
            r.reviewer
                .as_ref()
                .map_or("(unassigned)".to_string(), |p| p.email.clone()),
            r.open,
            r.decided
        ));
    }
    s
}

fn policy_text(p: &ReviewPolicy) -> String {
    format!(
        "review every {} days (high), {} (medium), {} (low)\nremind {} days and escalate {} days before the deadline; re-authorization due in {} days\nat the deadline: {}; fallback reviewer: {}\ndrill revocation every {} days (high), {} (medium), {} (low)\naccept a risk for at most {} days",
        p.intervals.high_days,
        p.intervals.medium_days,
        p.intervals.low_days,
        p.remind_days,
        p.escalate_days,
        p.reauth_days,
        p.deadline_default,
        p.fallback_reviewer
            .as_ref()
            .map_or("none".to_string(), |f| f.email.clone()),
        p.drill_intervals.high_days,
        p.drill_intervals.medium_days,
        p.drill_intervals.low_days,
        p.acceptance_max_days,
    )
}

pub async fn review(
    c: ReviewCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match c {
        ReviewCommand::Campaign(CampaignCommand::Create {
            name,
            deadline,
            environment,
            kind,
            tier,
            due_before,
            owner,
            vendor,
            fallback,
            default,
        }) => {
            let n = NewCampaign {
                name,
                deadline,
                filter: CampaignFilter {
                    environment,
                    kind,
                    tier,
                    due_before,
                    owner,
                    vendor,
                },
                fallback_reviewer: fallback,
                deadline_default: default,
            };
            let c = api::campaign_create(store, now, actor, n).await?;
            out.one(&c, || c.id.to_string())
        }
        ReviewCommand::Campaign(CampaignCommand::List) => {
            let list = api::campaign_list(store, now).await?;
            out.table(
                &list,
                &[
                    "ID", "NAME", "STATE", "DEADLINE", "ITEMS", "OPEN", "DECIDED", "OVERDUE",
                ],
                list.iter().map(|c| {
                    vec![
                        c.id.to_string(),
                        c.name.clone(),
                        c.state.to_string(),
                        c.deadline.clone(),
                        c.progress.total.to_string(),
                        (c.progress.open + c.progress.escalated).to_string(),
                        c.progress.decided.to_string(),
                        c.progress.overdue.to_string(),
                    ]
                }),
            )
        }
        ReviewCommand::Campaign(CampaignCommand::Show { id, csv }) => {
            let c = api::campaign_show(store, now, id).await?;
            if let Some(path) = csv {
                let report = api::campaign_report(store, now, id).await?;
                std::fs::write(&path, report).map_err(|e| Error::io(&path, e))?;
                eprintln!("wrote {}", path.display());
            }
            out.one(&c, || campaign_text(&c))
        }
        ReviewCommand::Campaign(CampaignCommand::Close { id }) => {
            let c = api::campaign_close(store, now, actor, id).await?;
            out.one(&c, || campaign_text(&c))
        }
        ReviewCommand::Items {
            campaign,
            reviewer,
            state,
        } => {
            let reviewer = match reviewer {
                Some(spec) => Some(api::person_id(store, &spec).await?),
                None => None,
            };
            let q = ItemQuery {
                campaign,
                reviewer,
                state,
                ..ItemQuery::default()
            };
            let items = api::review_items(store, &q).await?;
            out.table(
                &items,
                &[
                    "ITEM", "IDENTITY", "ENV", "TIER", "REVIEWER", "STATE", "DUE", "DECISION",
                    "REASON",
                ],
                items.iter().map(|i| {
                    vec![
                        i.id.to_string(),
                        format!("{} [{}]", i.client_id, i.identity_id),
                        i.environment.to_string(),
                        i.tier.to_string(),
                        i.reviewer
                            .as_ref()
                            .map_or("-".to_string(), |p| p.email.clone()),
                        i.state.to_string(),
                        i.due.clone(),
                        dash(&i.decision.map(|d| d.to_string())),
                        i.reason.clone(),
                    ]
                }),
            )
        }
        ReviewCommand::Decide {
            item,
            decision,
            remove_scopes,
            new_owner,
            comment,
            reviewer,
        } => {
            let req = DecideRequest {
                item,
                decision,
                remove_scopes: remove_scopes.into_iter().collect(),
                new_owner,
                comment,
                reviewer,
                version: None,
            };
            let i = api::review_decide(store, now, actor, req).await?;
            out.one(&i, || match i.state {
                ItemState::Decided => format!(
                    "item {} ({}): {}",
                    i.id,
                    i.client_id,
                    i.decision.map_or("-", ReviewDecision::as_str)
                ),
                _ => format!(
                    "item {} ({}): owner reassigned; now with {}",
                    i.id,
                    i.client_id,
                    i.reviewer
                        .as_ref()
                        .map_or("nobody (no eligible reviewer)".to_string(), |p| p
                            .email
                            .clone())
                ),
            })
        }
        ReviewCommand::Escalate { now: at } => {
            let s = api::review_escalate(store, at.unwrap_or(now), actor).await?;
            out.one(&s, || {
                format!(
                    "{} reminded, {} escalated, {} decided by the deadline default",
                    s.reminded.len(),
                    s.escalated.len(),
                    s.defaulted.len()
                )
            })
        }
        ReviewCommand::Policy(a) => {
            let edit = PolicyEdit {
                high_days: a.high_days,
                medium_days: a.medium_days,
                low_days: a.low_days,
                remind_days: a.remind_days,
                escalate_days: a.escalate_days,
                reauth_days: a.reauth_days,
                deadline_default: a.deadline_default,
                fallback_reviewer: a.fallback_reviewer,
                drill_high_days: a.drill_high_days,
                drill_medium_days: a.drill_medium_days,
                drill_low_days: a.drill_low_days,
                acceptance_max_days: a.acceptance_max_days,
            };
            let p = api::review_policy_edit(store, now, actor, edit).await?;
            out.one(&p, || policy_text(&p))
        }
        ReviewCommand::SetReviewer {
            person,
            reviewer,
            clear,
        } => {
            if reviewer.is_none() && !clear {
                return Err(Error::invalid(
                    "--reviewer",
                    "name a reviewer, or pass --clear",
                ));
            }
            let p =
                api::person_set_reviewer(store, now, actor, &person, reviewer.as_deref()).await?;
            out.one(&p, || match &reviewer {
                Some(r) => format!("{} is reviewed by {r}", p.email),
                None => format!("{} has no designated reviewer", p.email),
            })
        }
    }
}

pub async fn attest(
    a: AttestArgs,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let r: IdentityRef = a.target.reference();
    let req = AttestRequest {
        person: a.person,
        purpose: a.purpose,
        justifications: a.justify,
    };
    let d = api::identity_attest(store, now, actor, &r, req).await?;
    out.one(&d, || {
        format!(
            "{} [{}]: purpose attested{}",
            d.identity.client_id,
            d.identity.id,
            d.identity
                .reauth_reason
                .as_ref()
                .map_or(String::new(), |r| format!(
                    "; re-authorization needed ({r})"
                ))
        )
    })
}
