//! Who acts: the person behind a change is established by the system, never named by the
//! caller. On a workstation the OS account is bound to one person (`person bind`); on a team
//! database the session's login is bound to a member (`team add-member`) and the database
//! enforces the member's role.

use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use super::identity::active_person;
use crate::audit::Actor;
use crate::inventory::Person;
use crate::store::{self, team, Db, Engine};
use crate::time::{self, Timestamp};
use crate::{Error, Result, Store};

/// The roles a member can hold.
pub const ROLES: [&str; 4] = ["reviewer", "owner", "auditor", "admin"];

/// Who is signed in.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Whoami {
    /// The bound person, or none while the account is unbound.
    pub person: Option<Person>,
    /// The OS user (workstation) or the database login (team).
    pub os_user: String,
    pub roles: Vec<String>,
    /// `sqlite` or `postgres`.
    pub engine: String,
}

/// The actor of a session: the OS user on SQLite, the session's login on PostgreSQL.
pub async fn session_actor(store: &Store) -> Result<Actor> {
    match store.engine() {
        Engine::Sqlite => Ok(Actor::os_user()),
        Engine::Postgres => Ok(Actor(team::session_user(&mut store.read().await?).await?)),
    }
}

/// Who the actor is.
pub async fn whoami(store: &Store, actor: &Actor) -> Result<Whoami> {
    let mut conn = store.read().await?;
    let account = team::account(&mut conn, &actor.0).await?;
    let person = match &account {
        Some(a) => store::person::get(&mut conn, a.person_id).await?,
        None => None,
    };
    Ok(Whoami {
        person,
        os_user: actor.0.clone(),
        roles: account.map(|a| vec![a.role]).unwrap_or_default(),
        engine: store.engine().as_str().to_string(),
    })
}

/// Binds the OS account to a person on this workstation, once; audited with the OS user.
pub async fn person_bind(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    spec: &str,
) -> Result<Whoami> {
    if store.engine() == Engine::Postgres {
        return Err(Error::invalid(
            "person bind",
            "on a team database members are added by an admin: steward team add-member",
        ));
    }
    let mut tx = store.begin_write().await?;
    let person = active_person(&mut tx, "person", spec).await?;
    if let Some(a) = team::account(&mut tx, &actor.0).await? {
        if a.person_id == person.id {
            drop(tx);
            return whoami(store, actor).await;
        }
        let bound = store::person::get(&mut tx, a.person_id).await?;
        return Err(Error::Conflict(format!(
            "OS user '{}' is already bound to {}; one account acts as one person",
            actor.0,
            bound.map_or_else(|| format!("person {}", a.person_id), |p| p.email)
        )));
    }
    let at = time::format(now);
    team::bind(&mut tx, &actor.0, person.id, "admin", &at).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "person.bind",
        format!("person:{}", person.id),
        json!({ "os_user": actor.0, "email": person.email }),
    )
    .await?;
    tx.commit().await?;
    whoami(store, actor).await
}

/// The person the actor is bound to; an unbound account is told how to bind.
pub(crate) async fn acting_person(db: &mut Db, actor: &Actor) -> Result<Person> {
    let Some(account) = team::account(db, &actor.0).await? else {
        let how = if db.is_pg() {
            "ask a team admin to run `steward team add-member PERSON --login LOGIN --role ROLE`"
        } else {
            "run `steward person bind EMAIL` once"
        };
        return Err(Error::Forbidden(format!(
            "'{}' is not bound to a person: {how}",
            actor.0
        )));
    };
    let person = store::person::get(db, account.person_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("person {}", account.person_id)))?;
    if !person.active {
        return Err(Error::Forbidden(format!(
            "{} has left the organization and can no longer act",
            person.email
        )));
    }
    Ok(person)
}

/// The acting person, refusing a `claimed` person (an argument such as `--reviewer`) who is
/// someone else: Steward never acts for another person.
pub(crate) async fn act_as(
    db: &mut Db,
    actor: &Actor,
    claimed: Option<&str>,
    field: &str,
) -> Result<Person> {
    let me = acting_person(db, actor).await?;
    if let Some(spec) = claimed.map(str::trim).filter(|s| !s.is_empty()) {
        let named = active_person(db, field, spec).await?;
        if named.id != me.id {
            return Err(Error::Forbidden(format!(
                "you are signed in as {}; Steward does not act as {} ({field})",
                me.email, named.email
            )));
        }
    }
    Ok(me)
}

/// Adds a member to a team database: a login of their own (password from the caller, never
/// stored by Steward), bound to a person, in one role. Run by an admin.
pub async fn team_add_member(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    spec: &str,
    login: &str,
    role: &str,
    password: &str,
) -> Result<Whoami> {
    if store.engine() != Engine::Postgres {
        return Err(Error::invalid(
            "--db",
            "team members live in a team database: pass --db postgres://...",
        ));
    }
    if !ROLES.contains(&role) {
        return Err(Error::invalid(
            "--role",
            format!("'{role}' is not one of {}", ROLES.join(", ")),
        ));
    }
    let valid_login = !login.is_empty()
        && login.len() <= 63
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if !valid_login {
        return Err(Error::invalid(
            "--login",
            "1 to 63 letters, digits, '_', '-', '.' or '@'",
        ));
    }
    if password.len() < 12 {
        return Err(Error::invalid(
            "password",
            "at least 12 characters (read from standard input)",
        ));
    }
    let mut tx = store.begin_write().await?;
    let person = active_person(&mut tx, "person", spec).await?;
    if let Some(a) = team::account(&mut tx, login).await? {
        return Err(Error::Conflict(format!(
            "login '{login}' is already a member (person {}, {})",
            a.person_id, a.role
        )));
    }
    team::add_login(&mut tx, login, password, role).await?;
    team::bind(&mut tx, login, person.id, role, &time::format(now)).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "team.add_member",
        format!("person:{}", person.id),
        json!({ "login": login, "role": role, "email": person.email }),
    )
    .await?;
    tx.commit().await?;
    Ok(Whoami {
        person: Some(person),
        os_user: login.to_string(),
        roles: vec![role.to_string()],
        engine: Engine::Postgres.as_str().to_string(),
    })
}
