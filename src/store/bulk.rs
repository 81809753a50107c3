//! Bulk reads for evidence exports.
//!
//! sqlx hands each row from its connection's worker thread to the caller and copies every
//! value on the way; for the hundreds of thousands of rows an export reads, that costs more
//! than the query. An export reads its large tables here instead: a read-only connection of
//! its own, on the caller's (blocking) thread, each row's text read in place and written
//! straight into the package file. Every value is still bound, never spliced into SQL.

use rustc_hash::FxHashMap as HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::export::csv::{Cells, Csv};
use crate::export::jsonl::AuditLine;
use crate::inventory::Environment;
use crate::scope;
use crate::{Error, Result};

/// A read-only connection to the store's database file.
pub struct Bulk(Connection);

impl Bulk {
    pub fn open(path: &Path) -> Result<Bulk> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "mmap_size", 1_073_741_824_i64)?;
        Ok(Bulk(conn))
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.0
    }
}

/// Runs a bulk read of the store's database on a blocking thread.
pub async fn read<T, F>(path: &Path, read: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Bulk) -> Result<T> + Send + 'static,
{
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read(&Bulk::open(&path)?))
        .await
        .map_err(|e| Error::Internal(format!("a bulk read failed: {e}")))?
}

fn io(e: std::io::Error) -> Error {
    Error::io("evidence package", e)
}

/// Writes the audit log of a window as JSON lines, each the canonical JSON of the stored
/// entry (keys sorted, compact; `details` is stored as canonical JSON and goes in as it is,
/// so a damaged one shows as a bad line when the package is verified). Returns the number
/// of entries.
pub fn audit_log(
    db: &Bulk,
    since: Option<&str>,
    until: Option<&str>,
    out: &mut impl Write,
) -> Result<usize> {
    let mut stmt = db.0.prepare(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
         WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at <= ?2) ORDER BY seq",
    )?;
    let mut rows = stmt.query((since, until))?;
    let mut line = AuditLine::default();
    let mut n = 0;
    while let Some(r) = rows.next()? {
        // Stored text is not refused here: text that is not UTF-8 keeps its bytes, and
        // verification names the line.
        let text = |i: usize| r.get_ref(i).and_then(|v| Ok(v.as_bytes()?));
        let fields = [
            text(1)?,
            text(2)?,
            text(3)?,
            text(4)?,
            text(5)?,
            text(6)?,
            text(7)?,
        ];
        out.write_all(line.encode(r.get(0)?, fields)).map_err(io)?;
        n += 1;
    }
    Ok(n)
}

/// One identity's scope sets as space-joined text, each in scope order.
#[derive(Debug, Default)]
pub struct ScopeTexts {
    pub approved: Option<String>,
    pub granted: Option<String>,
    /// Approved scopes without a justification.
    pub unjustified: Option<String>,
}

/// The scope texts of identities whose scopes come an identity's together, each set's in
/// scope order.
#[derive(Default)]
struct TextsBuilder {
    out: HashMap<i64, ScopeTexts>,
    current: Option<(i64, ScopeTexts)>,
}

impl TextsBuilder {
    fn add(&mut self, id: i64, granted: bool, scope: &str, unjustified: bool) {
        fn push(text: &mut Option<String>, scope: &str) {
            match text {
                Some(t) => {
                    t.push(' ');
                    t.push_str(scope);
                }
                None => *text = Some(scope.to_string()),
            }
        }
        // One identity's texts are built, then stored once.
        if self.current.as_ref().is_none_or(|(c, _)| *c != id) {
            if let Some((c, t)) = self.current.replace((id, ScopeTexts::default())) {
                self.out.insert(c, t);
            }
        }
        let Some((_, t)) = self.current.as_mut() else {
            return;
        };
        if granted {
            push(&mut t.granted, scope);
        } else {
            push(&mut t.approved, scope);
            if unjustified {
                push(&mut t.unjustified, scope);
            }
        }
    }

    fn finish(mut self) -> HashMap<i64, ScopeTexts> {
        if let Some((c, t)) = self.current.take() {
            self.out.insert(c, t);
        }
        self.out
    }
}

/// The scope sets of every identity (or of one), by identity id: one pass over
/// `identity_scope` in key order rather than a lookup per identity and set.
pub fn scope_texts(db: &Bulk, identity_id: Option<i64>) -> Result<HashMap<i64, ScopeTexts>> {
    let mut stmt = db.0.prepare(
        "SELECT identity_id, scope_set = 'granted', scope, justification \
         FROM identity_scope WHERE ?1 IS NULL OR identity_id = ?1 \
         ORDER BY identity_id, scope_set, scope",
    )?;
    let mut rows = stmt.query([identity_id])?;
    let mut texts = TextsBuilder::default();
    while let Some(r) = rows.next()? {
        let scope = r.get_ref(2).and_then(|v| Ok(v.as_str()?))?;
        let why = r.get_ref(3).and_then(|v| Ok(v.as_bytes_or_null()?))?;
        texts.add(r.get(0)?, r.get(1)?, scope, unjustified(why));
    }
    Ok(texts.finish())
}

/// Whether a scope's justification is missing: none, or only spaces (what SQLite's `trim`
/// removes).
fn unjustified(justification: Option<&[u8]>) -> bool {
    justification.is_none_or(|j| j.iter().all(|&b| b == b' '))
}

/// Writes `scopes.csv`: every approved and granted scope with its justification, and what
/// the scope means (each distinct scope explained once). On the way, as an identity's scopes
/// come together, it gathers their texts as [`scope_texts`] does (of the identities written):
/// the rules need no pass of their own over the scopes.
pub fn scopes_csv<W: Write>(
    db: &Bulk,
    environment: Option<Environment>,
    out: W,
) -> Result<(W, HashMap<i64, ScopeTexts>)> {
    let mut stmt = db.0.prepare(
        "SELECT s.identity_id, s.scope_set, s.scope, s.justification, i.client_id, i.environment \
         FROM identity_scope s JOIN identity i ON i.id = s.identity_id \
         WHERE ?1 IS NULL OR i.environment = ?1 \
         ORDER BY i.client_id, i.environment, s.scope_set, s.scope",
    )?;
    let environment = environment.map(|e| e.as_str());
    // The texts' map is sized at once: grown a doubling at a time, it would be moved often.
    let identities: usize = db.0.query_row(
        "SELECT count(*) FROM identity WHERE ?1 IS NULL OR environment = ?1",
        [environment],
        |r| r.get(0),
    )?;
    let mut rows = stmt.query([environment])?;
    let mut w = ScopesCsv::new(out, identities)?;
    while let Some(r) = rows.next()? {
        let text = |i: usize| r.get_ref(i).and_then(|v| Ok(v.as_bytes()?));
        let granted = text(1)? == b"granted";
        let sc = r.get_ref(2).and_then(|v| Ok(v.as_str()?))?;
        let why = r.get_ref(3).and_then(|v| Ok(v.as_bytes_or_null()?))?;
        w.row(r.get(0)?, granted, sc, why, || Ok([text(4)?, text(5)?]))?;
    }
    w.finish()
}

/// Writes scopes.csv a row at a time, the rows in the order of [`scopes_csv`]'s query.
pub(crate) struct ScopesCsv<W: Write> {
    w: Csv<W>,
    // What repeats is encoded once: an identity's client id and environment, and each
    // distinct scope's canonical form, validity, explanation and traits.
    explained: HashMap<String, [Cells; 2]>,
    sets: [Cells; 2],
    identity: Option<(i64, Cells)>,
    texts: TextsBuilder,
}

impl<W: Write> ScopesCsv<W> {
    pub(crate) fn new(out: W, identities: usize) -> Result<Self> {
        let w = Csv::new(
            out,
            &[
                "client_id",
                "environment",
                "set",
                "scope",
                "canonical",
                "valid",
                "justification",
                "explanation",
                "traits",
            ],
        )?;
        let mut texts = TextsBuilder::default();
        texts.out.reserve(identities);
        Ok(ScopesCsv {
            w,
            explained: HashMap::default(),
            sets: [b"approved".as_slice(), b"granted"].map(|set| Cells::of([set])),
            identity: None,
            texts,
        })
    }

    /// One scope of identity `id`; `client` gives its client id and environment, asked
    /// only when the identity changes.
    pub(crate) fn row<'a>(
        &mut self,
        id: i64,
        granted: bool,
        sc: &str,
        why: Option<&[u8]>,
        client: impl FnOnce() -> Result<[&'a [u8]; 2]>,
    ) -> Result<()> {
        self.texts.add(id, granted, sc, unjustified(why));
        if self.identity.as_ref().is_none_or(|(i, _)| *i != id) {
            self.identity = Some((id, Cells::of(client()?)));
        }
        let [scope, meaning] = match self.explained.get(sc) {
            Some(e) => e,
            None => {
                let info = scope::report::scope_info(sc);
                let traits: Vec<String> = info.traits.iter().map(|t| format!("{t:?}")).collect();
                let canonical = info.canonical.unwrap_or_default();
                self.explained.entry(sc.to_string()).or_insert([
                    Cells::of([
                        sc.as_bytes(),
                        canonical.as_bytes(),
                        info.valid.to_string().as_bytes(),
                    ]),
                    Cells::of([info.explanation.as_bytes(), traits.join(" ").as_bytes()]),
                ])
            }
        };
        if let Some((_, client)) = &self.identity {
            self.w.cells(client);
        }
        self.w.cells(&self.sets[usize::from(granted)]);
        self.w.cells(scope);
        self.w.cell(why.unwrap_or_default())?;
        self.w.cells(meaning);
        self.w.end_row()
    }

    pub(crate) fn finish(self) -> Result<(W, HashMap<i64, ScopeTexts>)> {
        Ok((self.w.finish()?, self.texts.finish()))
    }
}

/// The same files from a team database: its rows arrive through sqlx, streamed, and are
/// encoded by the same writers as SQLite's.
pub mod pg {
    use std::io::Write;

    use futures_util::TryStreamExt;
    use sqlx::{PgConnection, Row};

    use super::{io, AuditLine, ScopesCsv};
    use crate::inventory::Environment;
    use crate::store::{Db, Split};
    use crate::{Error, Result};

    fn pg(db: &mut Db) -> Result<&mut PgConnection> {
        match db.split() {
            Split::Pg(c) => Ok(c),
            Split::Sqlite(_) => Err(Error::Internal(
                "a PostgreSQL bulk read was given a SQLite connection".into(),
            )),
        }
    }

    /// [`super::audit_log`] on PostgreSQL.
    pub async fn audit_log(
        db: &mut Db,
        since: Option<&str>,
        until: Option<&str>,
        out: &mut impl Write,
    ) -> Result<usize> {
        let mut rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
             WHERE ($1::text IS NULL OR at >= $1) AND ($2::text IS NULL OR at <= $2) \
             ORDER BY seq",
        )
        .bind(since)
        .bind(until)
        .fetch(pg(db)?);
        let mut line = AuditLine::default();
        let mut n = 0;
        while let Some(r) = rows.try_next().await? {
            let text = |i: usize| r.try_get::<&str, _>(i).map(str::as_bytes);
            let fields = [
                text(1)?,
                text(2)?,
                text(3)?,
                text(4)?,
                text(5)?,
                text(6)?,
                text(7)?,
            ];
            out.write_all(line.encode(r.try_get(0)?, fields))
                .map_err(io)?;
            n += 1;
        }
        Ok(n)
    }

    /// [`super::scopes_csv`] on PostgreSQL (the snapshot there carries the scope texts).
    pub async fn scopes_csv<W: Write>(
        db: &mut Db,
        environment: Option<Environment>,
        out: W,
    ) -> Result<W> {
        let environment = environment.map(|e| e.as_str());
        let mut rows = sqlx::query(
            "SELECT s.identity_id, s.scope_set, s.scope, s.justification, i.client_id, \
               i.environment \
             FROM identity_scope s JOIN identity i ON i.id = s.identity_id \
             WHERE $1::text IS NULL OR i.environment = $1 \
             ORDER BY i.client_id, i.environment, s.scope_set, s.scope",
        )
        .bind(environment)
        .fetch(pg(db)?);
        let mut w = ScopesCsv::new(out, 0)?;
        while let Some(r) = rows.try_next().await? {
            let granted = r.try_get::<&str, _>(1)? == "granted";
            let why = r.try_get::<Option<&str>, _>(3)?.map(str::as_bytes);
            w.row(r.try_get(0)?, granted, r.try_get(2)?, why, || {
                Ok([
                    r.try_get::<&str, _>(4)?.as_bytes(),
                    r.try_get::<&str, _>(5)?.as_bytes(),
                ])
            })?;
        }
        Ok(w.finish()?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_justification_is_missing_where_sqlites_trim_leaves_nothing() {
        let db = Connection::open_in_memory().expect("sqlite");
        for j in [
            None,
            Some(""),
            Some("   "),
            Some(" why "),
            Some("\t"),
            Some("\n "),
        ] {
            let sql: bool = db
                .query_row("SELECT trim(coalesce(?1, '')) = ''", [j], |r| r.get(0))
                .expect("query");
            assert_eq!(unjustified(j.map(str::as_bytes)), sql, "{j:?}");
        }
    }
}
