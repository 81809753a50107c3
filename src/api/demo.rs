use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use crate::audit::{Actor, Draft};
use crate::inventory::demo::{self, credential_row};
use crate::inventory::{Environment, PersonInput, ScopeSet, Status};
use crate::review::{CampaignFilter, DecideRequest, NewCampaign, ReviewDecision};
use crate::store::review::ItemQuery;
use crate::store::{identity as db, person};
use crate::time::{self, Timestamp};
use crate::{Error, Result, Store};

/// How big a demo inventory to seed.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    pub identities: usize,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            identities: 60,
            seed: 7,
        }
    }
}

/// What the demo seeded.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DemoSummary {
    #[ts(type = "number")]
    pub identities: usize,
    #[ts(type = "number")]
    pub people: usize,
    #[ts(type = "number")]
    pub scopes: usize,
    #[ts(type = "number")]
    pub credentials: usize,
    /// The demo recertification campaign, when there is production access to review.
    #[ts(type = "number | null")]
    pub campaign: Option<i64>,
}

/// Seeds a synthetic inventory into an empty database, one audit entry per identity, in one
/// transaction. Fails with `conflict` when identities exist.
pub async fn demo_seed(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    opts: DemoOptions,
) -> Result<DemoSummary> {
    if opts.identities == 0 {
        return Err(Error::invalid("--identities", "must be at least 1"));
    }
    let mut tx = store.begin_write().await?;
    let existing = db::count(&mut tx).await?;
    if existing > 0 {
        return Err(Error::Conflict(format!(
            "the database already holds {existing} identities; the demo seeds an empty one"
        )));
    }
    let generated = demo::generate(opts.identities, opts.seed, now, store.fingerprint_key());
    let mut people_ids = Vec::with_capacity(generated.people.len());
    let stamp = time::format(now);
    for p in &generated.people {
        let person = person::ensure(&mut tx, &p.person).await?;
        if p.departed {
            person::set_active(&mut tx, person.id, false, Some(&stamp)).await?;
        }
        people_ids.push(person.id);
    }
    // Two compliance reviewers who own nothing: each owner's identities go to one of them,
    // and the second is the fallback for escalation.
    let mut reviewers = Vec::new();
    for (name, email) in DEMO_REVIEWERS {
        let p = PersonInput {
            name: name.into(),
            email: email.into(),
        };
        reviewers.push(person::ensure(&mut tx, &p).await?);
    }
    for (i, owner) in people_ids.iter().enumerate() {
        let r = &reviewers[i % reviewers.len()];
        crate::store::review::set_designated_reviewer(&mut tx, *owner, Some(r.id)).await?;
    }
    let mut policy = crate::store::review::policy(&mut tx).await?;
    policy.fallback_reviewer = reviewers.last().cloned();
    crate::store::review::update_policy(&mut tx, &policy, &stamp).await?;
    let first_id = db::max_id(&mut tx).await? + 1;
    let mut records = Vec::with_capacity(generated.identities.len());
    let mut scopes = Vec::new();
    let mut creds = Vec::new();
    let mut drafts = Vec::with_capacity(generated.identities.len() + 1);
    let mut used: Vec<(Environment, (String, Vec<String>))> = Vec::new();
    for (i, g) in generated.identities.into_iter().enumerate() {
        let id = first_id + i as i64;
        let mut rec = g.record;
        // A demo log for the first few hundred identities in use keeps large demos fast.
        if rec.status == Status::Active
            && rec.last_used_at.is_some()
            && used.len() < DEMO_LOG_CLIENTS
        {
            used.push((rec.environment, (rec.client_id.clone(), g.granted.clone())));
        }
        rec.id = id;
        rec.business_owner_id = g.business_owner.map(|p| people_ids[p]);
        rec.technical_owner_id = g.technical_owner.map(|p| people_ids[p]);
        drafts.push(Draft {
            action: "identity.create",
            subject: format!("identity:{id}"),
            details: json!({
                "client_id": rec.client_id,
                "environment": rec.environment,
                "source": "demo",
                "approved_scopes": g.approved.len(),
                "granted_scopes": g.granted.len(),
            }),
        });
        scopes.extend(
            g.approved
                .into_iter()
                .map(|(s, why)| (id, ScopeSet::Approved, s, why)),
        );
        scopes.extend(
            g.granted
                .into_iter()
                .map(|s| (id, ScopeSet::Granted, s, None)),
        );
        if let Some(c) = &g.credential {
            creds.push(credential_row(id, &rec.created_at, c));
        }
        records.push(rec);
    }
    db::insert(&mut tx, &records).await?;
    db::insert_scopes(&mut tx, &scopes).await?;
    db::insert_credentials(&mut tx, &creds).await?;
    let mut summary = DemoSummary {
        identities: records.len(),
        people: people_ids.len() + reviewers.len(),
        scopes: scopes.len(),
        credentials: creds.len(),
        campaign: None,
    };
    drafts.push(Draft {
        action: "demo.seed",
        subject: "inventory".into(),
        details: json!({ "seed": opts.seed, "summary": summary }),
    });
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    for env in Environment::ALL {
        let clients: Vec<(String, Vec<String>)> = used
            .iter()
            .filter(|(e, _)| e == env)
            .map(|(_, c)| c.clone())
            .collect();
        let log = crate::usage::synthetic::demo_log(&clients, now, opts.seed);
        let name = format!("demo-audit-{env}.ndjson");
        super::usage::usage_import_bytes(store, now, actor, &name, *env, &log).await?;
    }
    summary.campaign = demo_campaign(store, now, actor).await?;
    Ok(summary)
}

/// How many identities the demo's audit log covers.
const DEMO_LOG_CLIENTS: usize = 300;

/// The demo's reviewers: (name, email).
const DEMO_REVIEWERS: [(&str, &str); 2] = [
    ("Rosa Martins", "rosa.martins@stewardhealth.example"),
    ("Sam Whitfield", "sam.whitfield@stewardhealth.example"),
];

/// A running production campaign with a few items already certified, so the review screens
/// have something to show.
async fn demo_campaign(store: &Store, now: Timestamp, actor: &Actor) -> Result<Option<i64>> {
    let new = NewCampaign {
        name: "Q4 production recertification".into(),
        deadline: time::format(now + chrono::Duration::days(21)),
        filter: CampaignFilter {
            environment: Some(crate::inventory::Environment::Production),
            ..CampaignFilter::default()
        },
        ..NewCampaign::default()
    };
    let campaign = match super::campaign_create(store, now, actor, new).await {
        Ok(c) => c,
        Err(Error::Invalid { field, .. }) if field == "filter" => return Ok(None),
        Err(e) => return Err(e),
    };
    let query = ItemQuery {
        campaign: Some(campaign.id),
        ..ItemQuery::default()
    };
    let items = super::review_items(store, &query).await?;
    for item in items.iter().take(3) {
        let Some(reviewer) = &item.reviewer else {
            continue;
        };
        // The demo's history is each reviewer's own: a demo account of theirs decides.
        let login = format!("demo:{}", reviewer.email);
        let mut tx = store.begin_write().await?;
        if crate::store::team::account(&mut tx, &login)
            .await?
            .is_none()
        {
            let at = crate::time::format(now);
            crate::store::team::bind(&mut tx, &login, reviewer.id, "reviewer", &at).await?;
        }
        tx.commit().await?;
        let req = DecideRequest {
            item: item.id,
            decision: ReviewDecision::Certify,
            remove_scopes: Vec::new(),
            new_owner: None,
            comment: "Purpose and scopes confirmed with the owners.".into(),
            reviewer: None,
            version: None,
        };
        super::review_decide(store, now, &Actor(login), req).await?;
    }
    Ok(Some(campaign.id))
}

/// Seeds the default demo when the database has no identities and no history (first start
/// of the desktop app). Returns what it seeded, if anything.
/// What the window shows first: the choice of a first start while the database is empty.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct StartState {
    /// The database holds nothing yet (no identity, no audit entry).
    pub empty: bool,
    /// The window works on the demo database.
    pub demo: bool,
    /// `sqlite` or `postgres`.
    pub engine: String,
}

/// What the window's About box says.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct About {
    /// The version and the commit it was built from.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// The database's file, or the team database's URL without its password.
    pub database: String,
    /// The newest schema migration applied to the database.
    #[ts(type = "number")]
    pub schema: i64,
}

/// The program's version and the database it works on.
pub async fn about(store: &Store) -> Result<About> {
    let schema = crate::store::schema_version(&mut store.read().await?).await?;
    Ok(About {
        version: crate::VERSION.to_string(),
        engine: store.engine().as_str().to_string(),
        database: match store.location() {
            crate::store::Location::Sqlite(p) => p.display().to_string(),
            crate::store::Location::Postgres(url) => crate::store::redact(url),
        },
        schema,
    })
}

/// Whether `store` is empty, for the window's first start.
pub async fn start_state(store: &Store, demo: bool) -> Result<StartState> {
    let mut conn = store.read().await?;
    let empty =
        db::count(&mut conn).await? == 0 && crate::store::audit::head(&mut conn).await?.is_none();
    Ok(StartState {
        empty,
        demo,
        engine: store.engine().as_str().to_string(),
    })
}

pub async fn demo_seed_if_empty(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
) -> Result<Option<DemoSummary>> {
    let mut conn = store.read().await?;
    let empty =
        db::count(&mut conn).await? == 0 && crate::store::audit::head(&mut conn).await?.is_none();
    drop(conn);
    if !empty {
        return Ok(None);
    }
    demo_seed(store, now, actor, DemoOptions::default())
        .await
        .map(Some)
}
