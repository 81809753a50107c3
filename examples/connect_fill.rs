//! Bench helper: connects the staging environment to the server at ISSUER and registers N
//! backend services there through Steward (RFC 7591), so that a sync has N clients to read
//! with their registration access tokens. Prints the number registered and the seconds.
//!
//! Usage: connect_fill PATH ISSUER N

use std::time::Instant;

use steward::api::{self, ConnectAdd, IdentityEdit, IdentityRef, NewIdentity};
use steward::inventory::{Environment, Kind};
use steward::{time, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, issuer, n] = args.as_slice() else {
        return Err("usage: connect_fill PATH ISSUER N".into());
    };
    let n: usize = n.parse()?;
    let store = Store::open(db).await?;
    let now = time::now();
    let actor = api::session_actor(&store).await?;
    api::connect_add(
        &store,
        now,
        &actor,
        &ConnectAdd {
            environment: Environment::Staging,
            issuer: issuer.clone(),
            kind: None,
            realm: None,
            fhir_base: None,
            admin_client_id: None,
        },
    )
    .await?;
    let started = Instant::now();
    for i in 0..n {
        let d = api::identity_add(
            &store,
            now,
            &actor,
            NewIdentity {
                client_id: format!("bench-{i}"),
                environment: Some(Environment::Staging),
                fields: IdentityEdit {
                    name: Some(format!("Bench service {i}")),
                    kind: Some(Kind::BackendService),
                    approved_scopes: Some("system/Patient.rs system/Observation.rs".into()),
                    auth_method: Some("client_secret_basic".into()),
                    ..IdentityEdit::default()
                },
            },
        )
        .await?;
        api::identity_register(&store, now, &actor, &IdentityRef::id(d.identity.id)).await?;
    }
    println!("{n} {:.3}", started.elapsed().as_secs_f64());
    store.close().await;
    Ok(())
}
