//! SQL for people (owners and reviewers), keyed by email.

use sqlx::SqliteConnection;

use crate::inventory::{Person, PersonInput};
use crate::Result;

macro_rules! select_person {
    () => {
        "SELECT id, name, email, active FROM person"
    };
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: i64,
    name: String,
    email: String,
    active: bool,
}

impl From<PersonRow> for Person {
    fn from(r: PersonRow) -> Self {
        Person {
            id: r.id,
            name: r.name,
            email: r.email,
            active: r.active,
        }
    }
}

/// Returns the person with this email, creating them when new. An existing name is kept.
pub async fn ensure(conn: &mut SqliteConnection, p: &PersonInput) -> Result<Person> {
    let row: PersonRow = sqlx::query_as(
        "INSERT INTO person (name, email) VALUES (?1, ?2) \
         ON CONFLICT (email) DO UPDATE SET email = person.email \
         RETURNING id, name, email, active",
    )
    .bind(&p.name)
    .bind(&p.email)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// One person by id.
pub async fn get(conn: &mut SqliteConnection, id: i64) -> Result<Option<Person>> {
    let sql = concat!(select_person!(), " WHERE id = ?1");
    let row: Option<PersonRow> = sqlx::query_as(sql).bind(id).fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}

/// One person by email (case-insensitive).
pub async fn by_email(conn: &mut SqliteConnection, email: &str) -> Result<Option<Person>> {
    let sql = concat!(select_person!(), " WHERE email = ?1");
    let row: Option<PersonRow> = sqlx::query_as(sql).bind(email).fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}

/// Everyone, by name.
pub async fn list(conn: &mut SqliteConnection) -> Result<Vec<Person>> {
    let sql = concat!(select_person!(), " ORDER BY name COLLATE NOCASE, id");
    let rows: Vec<PersonRow> = sqlx::query_as(sql).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Marks a person as departed (or back).
pub async fn set_active(
    conn: &mut SqliteConnection,
    id: i64,
    active: bool,
    departed_at: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE person SET active = ?2, departed_at = ?3 WHERE id = ?1")
        .bind(id)
        .bind(active)
        .bind(departed_at)
        .execute(conn)
        .await?;
    Ok(())
}
