//! A whole inventory copied between engines: `team push` (a workstation's SQLite file into an
//! empty team database, with PostgreSQL's `COPY`) and `team pull` (a team database into a new
//! SQLite file). Every table goes, rows and ids as they are, the audit chain and its
//! checkpoints included; what is a workstation's own (its OS-account bindings, the
//! migrations' ledger, its key check) stays behind.
//!
//! The column list and types come from the team database's catalogue (the engines' schemas
//! are kept equal by a test), and the tables go parents first, by their foreign keys.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::TryStreamExt;
use rusqlite::types::ValueRef;
use sqlx::{PgPool, Row, SqlitePool};

use super::bulk::Bulk;
use crate::{Error, Result};

/// Tables that belong to one database, never copied.
const OWN: [&str; 3] = ["_sqlx_migrations", "account", "key_check"];

/// A column's kind, as the team database types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Real,
    Text,
}

/// One table to copy: its name and columns.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    columns: Vec<(String, Kind)>,
}

impl Table {
    fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    }
}

/// Rows copied, by table.
pub type Counts = BTreeMap<String, u64>;

/// The tables to copy, parents before children.
pub async fn tables(pg: &PgPool) -> Result<Vec<Table>> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pg)
    .await?;
    let parents: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c \
         WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace",
    )
    .fetch_all(pg)
    .await?;
    let mut by_table: BTreeMap<String, Vec<(String, Kind)>> = BTreeMap::new();
    for (table, column, ty) in columns {
        if OWN.contains(&table.as_str()) {
            continue;
        }
        let kind = match ty.as_str() {
            "bigint" | "integer" | "smallint" => Kind::Int,
            "boolean" => Kind::Bool,
            "double precision" | "real" | "numeric" => Kind::Real,
            "text" | "character varying" => Kind::Text,
            other => {
                return Err(Error::Internal(format!(
                    "{table}.{column} is of type {other}, which Steward does not copy"
                )))
            }
        };
        by_table.entry(table).or_default().push((column, kind));
    }
    // Parents first: a table goes once every table it refers to (but itself) has gone.
    let mut ordered: Vec<Table> = Vec::new();
    while ordered.len() < by_table.len() {
        let before = ordered.len();
        for (name, columns) in &by_table {
            let placed = |t: &str| ordered.iter().any(|o| o.name == t);
            let ready = parents
                .iter()
                .filter(|(child, parent)| child == name && parent != name)
                .all(|(_, parent)| placed(parent) || !by_table.contains_key(parent));
            if !placed(name) && ready {
                ordered.push(Table {
                    name: name.clone(),
                    columns: columns.clone(),
                });
            }
        }
        if ordered.len() == before {
            return Err(Error::Internal(
                "the tables' foreign keys form a cycle".into(),
            ));
        }
    }
    Ok(ordered)
}

/// Whether a database holds no inventory and no audit entries yet.
pub async fn is_empty_pg(pg: &PgPool, tables: &[Table]) -> Result<Option<String>> {
    for t in tables {
        // Rows the migrations seed (templates, mappings, the policy) are replaced, not kept.
        if matches!(
            t.name.as_str(),
            "use_case_template" | "framework_mapping" | "review_policy"
        ) {
            continue;
        }
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", t.name);
        let any: bool = sqlx::query_scalar(&sql).fetch_one(pg).await?;
        if any {
            return Ok(Some(t.name.clone()));
        }
    }
    Ok(None)
}

/// Appends one value in `COPY`'s text format.
fn push_copy(out: &mut Vec<u8>, kind: Kind, v: ValueRef<'_>) {
    match (v, kind) {
        (ValueRef::Null, _) => out.extend_from_slice(b"\\N"),
        (ValueRef::Integer(i), Kind::Bool) => out.push(if i == 0 { b'f' } else { b't' }),
        (ValueRef::Integer(i), _) => {
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes())
        }
        (ValueRef::Real(f), _) => out.extend_from_slice(format!("{f:?}").as_bytes()),
        (ValueRef::Text(b) | ValueRef::Blob(b), _) => {
            for &c in b {
                match c {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    _ => out.push(c),
                }
            }
        }
    }
}

/// Reads one table of a SQLite file in `COPY`'s text format, a chunk of rows at a time.
fn read_copy_text(
    db: &Bulk,
    table: &Table,
    mut chunk: impl FnMut(Vec<u8>) -> Result<()>,
) -> Result<u64> {
    let sql = format!("SELECT {} FROM {}", table.column_list(), table.name);
    let mut stmt = db.conn().prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::with_capacity(1 << 20);
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            push_copy(&mut out, *kind, r.get_ref(i)?);
        }
        out.push(b'\n');
        n += 1;
        if out.len() >= 1 << 20 {
            chunk(std::mem::replace(&mut out, Vec::with_capacity(1 << 20)))?;
        }
    }
    if !out.is_empty() {
        chunk(out)?;
    }
    Ok(n)
}

/// Copies every table of the SQLite file at `from` into the team database `to`, in one
/// transaction, with `COPY`; the sequences then continue after the copied ids. The caller
/// has checked that `to` is empty; `check` (the source's verification, say) runs meanwhile,
/// and nothing is committed unless it passes.
pub async fn push<T>(
    from: &Path,
    to: &PgPool,
    tables: &[Table],
    check: impl std::future::Future<Output = Result<T>>,
) -> Result<(Counts, T)> {
    let (copied, checked) = tokio::join!(copy_all(from, to, tables), check);
    let (tx, counts) = copied?;
    let checked = checked?;
    tx.commit().await?;
    Ok((counts, checked))
}

/// [`push`]'s copy, left uncommitted.
async fn copy_all(
    from: &Path,
    to: &PgPool,
    tables: &[Table],
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, Counts)> {
    let mut tx = to.begin().await?;
    // Seeded rows are the workstation's now.
    for seeded in ["use_case_template", "framework_mapping", "review_policy"] {
        sqlx::query(&format!("DELETE FROM {seeded}"))
            .execute(&mut *tx)
            .await?;
    }
    let mut counts = Counts::new();
    for table in tables {
        // The file is read on a blocking thread and its chunks sent as they come.
        let (send, mut receive) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let reader = {
            let (from, table) = (from.to_path_buf(), table.clone());
            tokio::task::spawn_blocking(move || {
                let db = Bulk::open(&from)?;
                read_copy_text(&db, &table, |c| {
                    send.blocking_send(c)
                        .map_err(|_| Error::Internal("the copy stopped".into()))
                })
            })
        };
        let statement = format!("COPY {} ({}) FROM STDIN", table.name, table.column_list());
        let mut copy = tx.copy_in_raw(&statement).await?;
        while let Some(chunk) = receive.recv().await {
            copy.send(chunk).await?;
        }
        let read = reader
            .await
            .map_err(|e| Error::Internal(format!("reading {} failed: {e}", table.name)));
        let read = match read.and_then(|r| r) {
            Ok(n) => n,
            Err(e) => {
                copy.abort("the source could not be read").await.ok();
                return Err(e);
            }
        };
        let written = copy.finish().await?;
        if written != read {
            return Err(Error::Internal(format!(
                "{}: {read} rows read, {written} written",
                table.name
            )));
        }
        counts.insert(table.name.clone(), written);
    }
    // Ids made in the team database continue after the copied ones.
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND is_identity = 'YES'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (table, column) in identities {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             coalesce(max({column}), 0) + 1, false) FROM {table}"
        );
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    Ok((tx, counts))
}

/// Copies every table of the team database `from` into the new SQLite database `to` (its
/// schema made, its tables empty), in one transaction.
pub async fn pull(from: &PgPool, to: &SqlitePool, tables: &[Table]) -> Result<Counts> {
    let mut tx = to.begin().await?;
    // A row may refer to one of its own table's that comes later (a person's successor):
    // the keys are checked at commit, as `COPY` checks them at the end of its statement.
    sqlx::query("PRAGMA defer_foreign_keys = ON")
        .execute(&mut *tx)
        .await?;
    for seeded in ["use_case_template", "framework_mapping", "review_policy"] {
        sqlx::query(&format!("DELETE FROM {seeded}"))
            .execute(&mut *tx)
            .await?;
    }
    let mut counts = Counts::new();
    for table in tables {
        let list = table.column_list();
        let marks: Vec<String> = (1..=table.columns.len()).map(|i| format!("${i}")).collect();
        let insert = format!(
            "INSERT INTO {} ({list}) VALUES ({})",
            table.name,
            marks.join(", ")
        );
        let select = format!("SELECT {list} FROM {}", table.name);
        let mut rows = sqlx::query(&select).fetch(from);
        let mut n = 0u64;
        while let Some(r) = rows.try_next().await? {
            let mut q = sqlx::query(&insert);
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                q = match kind {
                    Kind::Int => q.bind(r.try_get::<Option<i64>, _>(i)?),
                    Kind::Bool => q.bind(r.try_get::<Option<bool>, _>(i)?),
                    Kind::Real => q.bind(r.try_get::<Option<f64>, _>(i)?),
                    Kind::Text => q.bind(r.try_get::<Option<String>, _>(i)?),
                };
            }
            q.execute(&mut *tx).await?;
            n += 1;
        }
        counts.insert(table.name.clone(), n);
    }
    tx.commit().await?;
    Ok(counts)
}

/// Makes the SQLite file at `path` one self-contained, read-only file: its journal folded
/// in (no `-wal` beside it) and its mode read-only, which Steward opens as a snapshot.
pub async fn seal(path: &Path) -> Result<()> {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await?;
    sqlx::query("PRAGMA journal_mode = DELETE")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let mut perms = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(path, perms).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(kind: Kind, v: ValueRef<'_>) -> String {
        let mut out = Vec::new();
        push_copy(&mut out, kind, v);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn values_are_spelled_in_copys_text_format() {
        assert_eq!(copied(Kind::Text, ValueRef::Null), "\\N");
        assert_eq!(copied(Kind::Bool, ValueRef::Integer(0)), "f");
        assert_eq!(copied(Kind::Bool, ValueRef::Integer(1)), "t");
        assert_eq!(copied(Kind::Int, ValueRef::Integer(-42)), "-42");
        assert_eq!(copied(Kind::Real, ValueRef::Real(12.5)), "12.5");
        assert_eq!(
            copied(Kind::Text, ValueRef::Text(b"a\\b\tc\nd\re \\N")),
            "a\\\\b\\tc\\nd\\re \\\\N"
        );
    }
}
