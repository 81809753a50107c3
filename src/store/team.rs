//! SQL for a team database on PostgreSQL: its schema, its members and their roles.

use sqlx::migrate::Migrator;
use sqlx::PgPool;

use super::{on, Db};
use crate::{Error, Result};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Brings a team database's schema up to date. Only the schema owner can change it; a member
/// who opens a database with pending migrations is told so rather than refused by an error
/// about a table.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    let applied: Option<Vec<i64>> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .ok();
    let newest = applied.as_ref().and_then(|done| done.iter().max().copied());
    super::refuse_newer(newest, &MIGRATOR, "the team database")?;
    let pending = match &applied {
        Some(done) => MIGRATOR.iter().any(|m| !done.contains(&m.version)),
        None => true,
    };
    if !pending {
        return Ok(());
    }
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(d))
            if d.code().as_deref() == Some("42501") =>
        {
            Error::Forbidden(
                "the team database's schema is out of date and only its owner can update it: \
                 ask the owner to run `steward --db URL whoami` once"
                    .to_string(),
            )
        }
        other => other.into(),
    })
}

/// The person and role an account (an OS user or a database login) is bound to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub login: String,
    pub person_id: i64,
    pub role: String,
    pub bound_at: String,
}

/// The account of a login, if it is bound.
pub async fn account(db: &mut Db, login: &str) -> Result<Option<AccountRow>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT login, person_id, role, bound_at FROM account WHERE login = $1"
    )
    .bind(login)
    .fetch_optional(c)
    .await)?)
}

/// Every account, by login.
pub async fn accounts(db: &mut Db) -> Result<Vec<AccountRow>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT login, person_id, role, bound_at FROM account ORDER BY login"
    )
    .fetch_all(c)
    .await)?)
}

/// Binds a login to a person with a role.
pub async fn bind(db: &mut Db, login: &str, person_id: i64, role: &str, at: &str) -> Result<()> {
    on!(db, |c| sqlx::query(
        "INSERT INTO account (login, person_id, role, bound_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(login)
    .bind(person_id)
    .bind(role)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The login of the session (PostgreSQL's `session_user`).
pub async fn session_user(db: &mut Db) -> Result<String> {
    Ok(on!(db, |c| sqlx::query_scalar(
        "SELECT session_user::text"
    )
    .fetch_one(c)
    .await)?)
}

/// Creates (or re-passwords) a login in a group role; the password is a bound value that the
/// server spells into its own statement. Needs the right to create roles.
pub async fn add_login(db: &mut Db, login: &str, password: &str, role: &str) -> Result<()> {
    on!(db, |c| sqlx::query("SELECT steward_add_login($1, $2, $3)")
        .bind(login)
        .bind(password)
        .bind(role)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The check value of the fingerprint key this database's fingerprints were made with.
pub async fn key_check(db: &mut Db) -> Result<Option<String>> {
    let v: Option<String> = on!(db, |c| sqlx::query_scalar(
        "SELECT value FROM key_check WHERE name = 'fingerprint'"
    )
    .fetch_optional(c)
    .await)?;
    Ok(v)
}

/// Records the check value where none is yet, or (`replace`: an empty database taking a
/// workstation's key) in place of the one there. Returns false when this login may not
/// record it (a member, not an admin).
pub async fn set_key_check(db: &mut Db, value: &str, replace: bool) -> Result<bool> {
    let sql = if replace {
        "INSERT INTO key_check (name, value) VALUES ('fingerprint', $1) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value"
    } else {
        "INSERT INTO key_check (name, value) VALUES ('fingerprint', $1) \
         ON CONFLICT (name) DO NOTHING"
    };
    let r = on!(db, |c| sqlx::query(sql)
        .bind(value)
        .execute(c)
        .await
        .map(|r| r.rows_affected()));
    match r {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("42501") => Ok(false),
        Err(e) => Err(e.into()),
    }
}
