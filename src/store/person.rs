//! SQL for people (owners and reviewers), keyed by email (case folded).

use super::{on, Db};
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
pub async fn ensure(db: &mut Db, p: &PersonInput) -> Result<Person> {
    // A team member who may not add people (a reviewer reassigning to a colleague) still
    // names one who exists: looked up first, the upsert's UPDATE right is never needed.
    if db.is_pg() {
        if let Some(found) = by_email(db, &p.email).await? {
            return Ok(found);
        }
    }
    let row: PersonRow = on!(
        db,
        sql = (
            "INSERT INTO person (name, email) VALUES ($1, $2) \
         ON CONFLICT (email) DO UPDATE SET email = person.email \
         RETURNING id, name, email, active",
            "INSERT INTO person (name, email) VALUES ($1, $2) \
         ON CONFLICT (lower(email)) DO UPDATE SET email = person.email \
         RETURNING id, name, email, active"
        ),
        |c| sqlx::query_as(sql)
            .bind(&p.name)
            .bind(&p.email)
            .fetch_one(c)
            .await
    )?;
    Ok(row.into())
}

/// One person by id.
pub async fn get(db: &mut Db, id: i64) -> Result<Option<Person>> {
    let sql = concat!(select_person!(), " WHERE id = $1");
    let row: Option<PersonRow> = on!(db, |c| sqlx::query_as(sql).bind(id).fetch_optional(c).await)?;
    Ok(row.map(Into::into))
}

/// One person by email (case-insensitive).
pub async fn by_email(db: &mut Db, email: &str) -> Result<Option<Person>> {
    let row: Option<PersonRow> = on!(
        db,
        sql = (
            concat!(select_person!(), " WHERE email = $1"),
            concat!(select_person!(), " WHERE lower(email) = lower($1)")
        ),
        |c| sqlx::query_as(sql).bind(email).fetch_optional(c).await
    )?;
    Ok(row.map(Into::into))
}

/// Everyone, by name.
pub async fn list(db: &mut Db) -> Result<Vec<Person>> {
    let rows: Vec<PersonRow> = on!(
        db,
        sql = (
            concat!(select_person!(), " ORDER BY name COLLATE NOCASE, id"),
            concat!(select_person!(), " ORDER BY lower(name), id")
        ),
        |c| sqlx::query_as(sql).fetch_all(c).await
    )?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Marks a person as departed (or back).
pub async fn set_active(
    db: &mut Db,
    id: i64,
    active: bool,
    departed_at: Option<&str>,
) -> Result<()> {
    on!(db, |c| sqlx::query(
        "UPDATE person SET active = $2, departed_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(active)
    .bind(departed_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Each designation: (person, the person who reviews what they own).
pub async fn designations(db: &mut Db) -> Result<Vec<(i64, i64)>> {
    Ok(on!(db, |c| sqlx::query_as(
        "SELECT id, reviewer_id FROM person WHERE reviewer_id IS NOT NULL ORDER BY id"
    )
    .fetch_all(c)
    .await)?)
}
