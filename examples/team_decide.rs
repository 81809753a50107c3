//! Bench helper: review decisions per second. Seeds ITEMS identities, each owned by one of
//! REVIEWERS owners whose designated reviewer is a reviewer of their own, opens one campaign,
//! then has the reviewers certify every item at once, each on a connection (and, on a team
//! database, a login) of their own. Prints the decisions and the seconds the deciding took.
//!
//! Usage: team_decide sqlite PATH ITEMS            (one reviewer: one writer on a file)
//!        team_decide postgres URL ITEMS REVIEWERS (URL: the schema owner's, on a new database)

use std::time::Instant;

use steward::api::{self, IdentityEdit, NewIdentity};
use steward::audit::Actor;
use steward::inventory::{Environment, Kind};
use steward::review::{CampaignFilter, DecideRequest, NewCampaign, ReviewDecision};
use steward::store::review::ItemQuery;
use steward::{time, Store};

const PASSWORD: &str = "bench password 12";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: team_decide sqlite PATH ITEMS | postgres URL ITEMS REVIEWERS";
    let (engine, db, items) = match args.as_slice() {
        [e, db, n, ..] => (e.as_str(), db.as_str(), n.parse::<usize>()?),
        _ => return Err(usage.into()),
    };
    let reviewers: usize = match engine {
        "sqlite" => 1,
        "postgres" => args.get(3).ok_or(usage)?.parse()?,
        _ => return Err(usage.into()),
    };
    let keys = tempfile::tempdir()?;
    let owner = match engine {
        "sqlite" => Store::open(db).await?,
        _ => Store::open_pg(db, keys.path().to_path_buf()).await?,
    };
    let now = time::now();
    let admin = api::session_actor(&owner).await?;
    // Who decides: on a file, the OS account bound to the one reviewer; on a team
    // database, a login for each reviewer.
    let mut deciders: Vec<(Store, Actor)> = Vec::new();
    for r in 0..reviewers {
        let (o, rv) = (format!("o{r}@bench.example"), format!("r{r}@bench.example"));
        api::person_add(&owner, now, &admin, &o).await?;
        api::person_add(&owner, now, &admin, &rv).await?;
        api::person_set_reviewer(&owner, now, &admin, &o, Some(&rv)).await?;
        if engine == "sqlite" {
            let me = Actor(format!("bench-{r}"));
            api::person_bind(&owner, now, &me, &rv).await?;
            deciders.push((owner.clone(), me));
        } else {
            let login = format!("bench_r{r}");
            api::team_add_member(&owner, now, &admin, &rv, &login, "reviewer", PASSWORD).await?;
            let url = member_url(db, &login)?;
            let store = Store::open_pg(&url, keys.path().to_path_buf()).await?;
            let me = api::session_actor(&store).await?;
            deciders.push((store, me));
        }
    }
    for n in 0..items {
        api::identity_add(
            &owner,
            now,
            &admin,
            NewIdentity {
                client_id: format!("app-{n}"),
                environment: Some(Environment::Production),
                fields: IdentityEdit {
                    name: Some(format!("App {n}")),
                    kind: Some(Kind::ClinicianApp),
                    business_owner: Some(format!("o{}@bench.example", n % reviewers)),
                    purpose: Some("Shows clinic schedules.".into()),
                    approved_scopes: Some("user/Appointment.rs".into()),
                    granted_scopes: Some("user/Appointment.rs".into()),
                    revocation_endpoint: Some("https://auth.example.org/revoke".into()),
                    ..IdentityEdit::default()
                },
            },
        )
        .await?;
    }
    let c = api::campaign_create(
        &owner,
        now,
        &admin,
        NewCampaign {
            name: "Bench".into(),
            deadline: "2099-01-31".into(),
            filter: CampaignFilter::default(),
            ..NewCampaign::default()
        },
    )
    .await?;
    let all = api::review_items(
        &owner,
        &ItemQuery {
            campaign: Some(c.id),
            ..ItemQuery::default()
        },
    )
    .await?;
    let mut tasks = Vec::new();
    let start = Instant::now();
    for (store, me) in deciders {
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            let queue = api::review_items(
                &store,
                &ItemQuery {
                    campaign: Some(c.id),
                    ..ItemQuery::default()
                },
            )
            .await?;
            let who = api::whoami(&store, &me).await?;
            let my_id = who.person.map(|p| p.id);
            for item in queue
                .iter()
                .filter(|i| i.reviewer.as_ref().map(|p| p.id) == my_id)
            {
                api::review_decide(
                    &store,
                    time::now(),
                    &me,
                    DecideRequest {
                        item: item.id,
                        decision: ReviewDecision::Certify,
                        remove_scopes: Vec::new(),
                        new_owner: None,
                        comment: "confirmed".into(),
                        reviewer: None,
                        version: None,
                    },
                )
                .await?;
                n += 1;
            }
            Ok::<usize, steward::Error>(n)
        }));
    }
    let mut decided = 0;
    for t in tasks {
        decided += t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    api::audit_verify(&owner).await?;
    if decided != all.len() {
        return Err(format!("{decided} of {} items decided", all.len()).into());
    }
    println!("{decided} {secs:.3}");
    Ok(())
}

/// The URL of `login` on the database of the owner's `url`.
fn member_url(url: &str, login: &str) -> Result<String, Box<dyn std::error::Error>> {
    let (_, rest) = url.rsplit_once('@').ok_or("a URL with a host")?;
    Ok(format!(
        "postgres://{login}:{}@{rest}",
        PASSWORD.replace(' ', "%20")
    ))
}
