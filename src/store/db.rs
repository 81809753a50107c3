//! The store's one seam between engines: a connection (or transaction) on SQLite or on
//! PostgreSQL, and the [`on!`](crate::store::on) macro that runs the same sqlx query on either.
//!
//! Queries are written once, with `$1`-style placeholders that both engines read; where the
//! dialects differ (JSON aggregation, case-folded order) the caller picks the text by
//! [`Db::is_pg`].

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};

use crate::Result;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// One workstation: a SQLite file.
    Sqlite,
    /// A team: a shared PostgreSQL database.
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// A connection on one engine: a write transaction or a pooled connection for reads.
pub enum Link<D: sqlx::Database> {
    Tx(Transaction<'static, D>),
    Pooled(PoolConnection<D>),
}

/// A connection to the store on either engine. Store functions take `&mut Db`; a write
/// transaction is a `Db` too (see [`Store::begin_write`](crate::Store::begin_write)), and
/// dropping it without [`Db::commit`] rolls everything back.
pub enum Db {
    Sqlite(Link<Sqlite>),
    Pg(Link<Postgres>),
}

/// A connection borrowed for one query, by engine.
pub enum Split<'a> {
    Sqlite(&'a mut SqliteConnection),
    Pg(&'a mut PgConnection),
}

impl Db {
    /// The engine's own connection, for one query.
    pub fn split(&mut self) -> Split<'_> {
        match self {
            Db::Sqlite(Link::Tx(t)) => Split::Sqlite(&mut *t),
            Db::Sqlite(Link::Pooled(c)) => Split::Sqlite(&mut *c),
            Db::Pg(Link::Tx(t)) => Split::Pg(&mut *t),
            Db::Pg(Link::Pooled(c)) => Split::Pg(&mut *c),
        }
    }

    /// Whether this is PostgreSQL (for the few queries whose text differs).
    pub fn is_pg(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        if self.is_pg() {
            Engine::Postgres
        } else {
            Engine::Sqlite
        }
    }

    /// Commits a write transaction (a pooled connection has nothing to commit).
    pub async fn commit(self) -> Result<()> {
        match self {
            Db::Sqlite(Link::Tx(t)) => t.commit().await?,
            Db::Pg(Link::Tx(t)) => t.commit().await?,
            Db::Sqlite(Link::Pooled(_)) | Db::Pg(Link::Pooled(_)) => {}
        }
        Ok(())
    }
}

/// Runs `$body` with `$conn` bound to the engine's own connection (`&mut SqliteConnection` or
/// `&mut PgConnection`); the body is the same sqlx code for both. The second form binds
/// `$sql` to the SQLite or the PostgreSQL text of a query whose dialects differ.
macro_rules! on {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $crate::store::Db::split($db) {
            $crate::store::Split::Sqlite($conn) => $body,
            $crate::store::Split::Pg($conn) => $body,
        }
    };
    ($db:expr, $sql:ident = ($lite:expr, $pg:expr), |$conn:ident| $body:expr) => {
        match $crate::store::Db::split($db) {
            $crate::store::Split::Sqlite($conn) => {
                let $sql = $lite;
                $body
            }
            $crate::store::Split::Pg($conn) => {
                let $sql = $pg;
                $body
            }
        }
    };
}
pub(crate) use on;
