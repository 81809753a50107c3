//! `Store`: the one place SQL lives. Every value is bound; nothing is spliced into SQL text.

pub mod audit;
pub mod bulk;
pub mod connect;
pub mod copy;
mod db;
pub mod evidence;
pub mod identity;
pub mod person;
pub mod policy;
pub mod review;
pub mod team;
mod types;
pub mod usage;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub(crate) use db::on;
pub use db::{Db, Engine, Link, Split};

use crate::evidence::key::KeyStore;
use crate::inventory::fingerprint::FingerprintKey;
use crate::{Error, Result};

/// A write transaction: on SQLite it takes the write lock at `BEGIN IMMEDIATE`, so two
/// writers queue on the busy timeout instead of failing when a read turns into a write.
pub type WriteTx = Db;

/// The environment variable that overrides the default database path.
pub const DB_ENV: &str = "STEWARD_DB";

/// The environment variable that says where a new signing key goes: `keychain` or `file`.
pub const KEY_STORE_ENV: &str = "STEWARD_KEY_STORE";
/// Names the file signed checkpoints are also appended to (default: beside the database).
pub const CHECKPOINTS_ENV: &str = "STEWARD_CHECKPOINTS";

/// The environment variable naming the directory where a team database's keys are kept on
/// this workstation (default: `teams/<host>-<port>-<db>` in the OS data directory).
pub const TEAM_DIR_ENV: &str = "STEWARD_TEAM_DIR";

/// Where a store lives, as `--db` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file on this workstation.
    Sqlite(PathBuf),
    /// A team database on PostgreSQL (the URL as given; its password is never printed).
    Postgres(String),
}

impl Location {
    /// Reads a `--db` value: a `postgres://` or `postgresql://` URL is a team database, any
    /// other URL (`mysql://`, `postgres:db`, ...) is an error, and the rest is a file path.
    pub fn parse(value: &str) -> Result<Location> {
        let lower = value.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            PgConnectOptions::from_str(value).map_err(|e| {
                Error::invalid(
                    "--db",
                    format!("'{}' is not a PostgreSQL URL: {e}", redact(value)),
                )
            })?;
            return Ok(Location::Postgres(value.to_string()));
        }
        if let Some(path) = value.strip_prefix("sqlite://") {
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        // Anything shaped like `scheme:` or `scheme://` is a URL Steward cannot use, never a
        // file name (a file called `postgres:` in a directory is never what was meant).
        if let Some((scheme, _)) = value.split_once(':') {
            let looks_like_scheme = scheme.len() > 1
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if looks_like_scheme {
                return Err(Error::invalid(
                    "--db",
                    format!(
                        "'{}' is not a database Steward can use: give a file path (SQLite) or a \
                         postgres://USER@HOST:PORT/DB URL (a team database)",
                        redact(value)
                    ),
                ));
            }
        }
        Ok(Location::Sqlite(PathBuf::from(value)))
    }

    /// The engine this location runs on.
    pub fn engine(&self) -> Engine {
        match self {
            Location::Sqlite(_) => Engine::Sqlite,
            Location::Postgres(_) => Engine::Postgres,
        }
    }

    /// How the location is shown: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => redact(url),
        }
    }
}

/// A URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// An open Steward database (a SQLite file in WAL mode, or a team database on PostgreSQL) and
/// the fingerprint key that goes with it.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    location: Location,
    /// Where the keys that go with this database are kept on this workstation: the SQLite
    /// file itself (keys beside it), or a directory of the team's for PostgreSQL.
    path: PathBuf,
    fingerprint_key: Arc<FingerprintKey>,
    key_store: KeyStore,
    /// A snapshot made by `team pull` (its file read-only): read, never written.
    read_only: bool,
    /// Whether this is a [`Store::consistent`] view, and on PostgreSQL the exported snapshot
    /// every read of it is at.
    view: Option<View>,
}

#[derive(Clone)]
enum View {
    /// SQLite: the state no write can change while the view's holder lives.
    Held,
    /// PostgreSQL: an exported snapshot's id.
    Snapshot(Arc<str>),
}

/// Keeps the reads of a [`Store::consistent`] view on one state of the database until dropped.
pub struct Consistent {
    _hold: Option<Db>,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up to
    /// date.
    ///
    /// The per-installation fingerprint key lives beside the database (`<path>.key`, mode
    /// 0600), never inside it, so a copied database alone cannot be used to guess secrets.
    pub async fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_at(&Location::Sqlite(path.as_ref().to_path_buf())).await
    }

    /// Opens a store at a [`Location`]: a SQLite file (created if needed) or a team database
    /// on PostgreSQL, whose schema is brought up to date by the first member who opens it with
    /// the right to (the schema owner); members only check that it is current.
    pub async fn open_at(location: &Location) -> Result<Store> {
        match location {
            Location::Sqlite(path) => Store::open_sqlite(path).await,
            Location::Postgres(url) => Store::open_pg(url, team_dir(url)?).await,
        }
    }

    /// Opens a team database whose keys are kept in `keys` on this workstation.
    pub async fn open_pg(url: &str, keys: PathBuf) -> Result<Store> {
        let pool = connect_pg(url).await?;
        std::fs::create_dir_all(&keys).map_err(|e| Error::io(&keys, e))?;
        let path = keys.join("team");
        let mut db = Db::Pg(Link::Pooled(pool.acquire().await?));
        let fingerprint_key = Arc::new(fingerprint_key(&mut db, &key_path(&path), true).await?);
        drop(db);
        Ok(Store {
            pool: Pool::Pg(pool),
            location: Location::Postgres(url.to_string()),
            path,
            fingerprint_key,
            key_store: KeyStore::File,
            read_only: false,
            view: None,
        })
    }

    async fn open_sqlite(path: &Path) -> Result<Store> {
        let path = path.to_path_buf();
        if std::fs::metadata(&path).is_ok_and(|m| m.permissions().readonly()) {
            return Store::open_snapshot(path).await;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_data_dir(dir, default_db_path().is_ok_and(|d| d == path))
                .map_err(|e| Error::io(dir, e))?;
        }
        private_db_files(&path)?;
        // One process at a time brings the schema up to date and makes the fingerprint key:
        // a window and a CLI started together on a new database would otherwise both migrate.
        let _opening = open_lock(&path).await?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&path)
            .create_if_missing(true)
            // A new database's pages (an existing one keeps its own): bulk loads (usage
            // aggregates, the audit log) split, log and copy back fewer of them.
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 64 MiB of page cache a connection: large imports and seeds stop spilling pages
            // into the WAL before they commit.
            .pragma("cache_size", "-65536")
            // Reads map the file instead of copying page by page (a large export reads
            // gigabytes of pages).
            .pragma("mmap_size", "1073741824");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let migrator = sqlx::migrate!("./migrations/sqlite");
        let applied: Option<i64> = if sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&pool)
        .await?
            > 0
        {
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
                .fetch_one(&pool)
                .await?
        } else {
            None
        };
        refuse_newer(applied, &migrator, &path.display().to_string())?;
        migrator.run(&pool).await?;
        let mut db = Db::Sqlite(Link::Pooled(pool.acquire().await?));
        let fingerprint_key = Arc::new(fingerprint_key(&mut db, &key_path(&path), false).await?);
        drop(db);
        Ok(Store {
            pool: Pool::Sqlite(pool),
            location: Location::Sqlite(path.clone()),
            path,
            fingerprint_key,
            key_store: KeyStore::File,
            read_only: false,
            view: None,
        })
    }

    /// Opens a read-only snapshot (`team pull`): never migrated or written; it needs no
    /// fingerprint key (nothing is fingerprinted in it), so none is read or made.
    async fn open_snapshot(path: PathBuf) -> Result<Store> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await?;
        let known = sqlx::migrate!("./migrations/sqlite")
            .iter()
            .map(|m| m.version)
            .max();
        if applied != known {
            return Err(Error::invalid(
                "--db",
                format!(
                    "{} is a read-only snapshot of another Steward version's schema: pull it \
                     again with this version",
                    path.display()
                ),
            ));
        }
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        Ok(Store {
            pool: Pool::Sqlite(pool),
            location: Location::Sqlite(path.clone()),
            path,
            fingerprint_key: Arc::new(FingerprintKey::from_bytes(raw)),
            key_store: KeyStore::File,
            read_only: true,
            view: None,
        })
    }

    /// Whether this is a read-only snapshot.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Says where the signing key goes when it is created (see [`key_store`]).
    pub fn with_key_store(mut self, key_store: KeyStore) -> Store {
        self.key_store = key_store;
        self
    }

    /// Where the signing key goes when it is created.
    pub fn key_store(&self) -> KeyStore {
        self.key_store
    }

    /// The engine this store runs on.
    pub fn engine(&self) -> Engine {
        self.location.engine()
    }

    /// Where the store lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The SQLite pool (the fenced bulk path and tests use it); `None` for a team database.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            Pool::Pg(_) => None,
        }
    }

    /// The PostgreSQL pool; `None` on SQLite.
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Pg(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// Where the keys that go with the database are anchored: the SQLite file (keys beside
    /// it), or `<team dir>/team` for a team database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The installation's (or the team's) key for fingerprinting secrets.
    pub fn fingerprint_key(&self) -> &FingerprintKey {
        &self.fingerprint_key
    }

    /// A connection for reads (of a [`Store::consistent`] view: at its snapshot).
    pub async fn read(&self) -> Result<Db> {
        Ok(match (&self.pool, &self.view) {
            (Pool::Sqlite(p), _) => Db::Sqlite(Link::Pooled(p.acquire().await?)),
            (Pool::Pg(p), None | Some(View::Held)) => Db::Pg(Link::Pooled(p.acquire().await?)),
            (Pool::Pg(p), Some(View::Snapshot(id))) => {
                let mut tx = p
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
                // The statement takes no parameter: the id is one PostgreSQL made, checked to
                // be only the hex digits and dashes it spells ids with.
                sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{id}'"))
                    .execute(&mut *tx)
                    .await?;
                Db::Pg(Link::Tx(tx))
            }
        })
    }

    /// A view of the database whose every read sees one state of it, and what holds that
    /// state until dropped. On SQLite the holder is the write lock: no write commits while it
    /// is held, so every connection (the pool's, or a bulk reader's own) reads the same
    /// state; writers wait for it as for any other write (an export holds it a second or two
    /// at 100,000 identities). On PostgreSQL it is a transaction that exported its snapshot:
    /// every connection of the view starts its reads at that snapshot, and nobody waits.
    pub async fn consistent(&self) -> Result<(Store, Consistent)> {
        let hold = match &self.pool {
            Pool::Sqlite(_) if self.read_only => None,
            Pool::Sqlite(p) => Some(Db::Sqlite(Link::Tx(p.begin_with("BEGIN IMMEDIATE").await?))),
            Pool::Pg(p) => {
                let mut tx = p
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
                let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                    .fetch_one(&mut *tx)
                    .await?;
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                    return Err(Error::Internal(format!(
                        "PostgreSQL named its snapshot '{id}', not an id Steward knows"
                    )));
                }
                let mut view = self.clone();
                view.view = Some(View::Snapshot(id.into()));
                return Ok((
                    view,
                    Consistent {
                        _hold: Some(Db::Pg(Link::Tx(tx))),
                    },
                ));
            }
        };
        let mut view = self.clone();
        view.view = Some(View::Held);
        Ok((view, Consistent { _hold: hold }))
    }

    /// Starts a write transaction; dropping it without commit rolls everything back.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        if self.view.is_some() {
            return Err(Error::Internal(
                "a consistent view of the database is for reading".into(),
            ));
        }
        if self.read_only {
            return Err(Error::Forbidden(format!(
                "{} is a read-only snapshot (made by `steward team pull`): changes go to the \
                 team database",
                self.path.display()
            )));
        }
        Ok(match &self.pool {
            Pool::Sqlite(p) => Db::Sqlite(Link::Tx(p.begin_with("BEGIN IMMEDIATE").await?)),
            Pool::Pg(p) => Db::Pg(Link::Tx(p.begin().await?)),
        })
    }

    /// Closes the pool. On SQLite, what the WAL holds is first written into the database
    /// file (without waiting for another process's readers): the file alone is then whole
    /// when a command has ended (a copy of it, a backup), even when the last connection to
    /// close leaves the WAL behind.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => {
                if !self.read_only {
                    // A checkpoint another process keeps from finishing is finished later,
                    // by the next one; nothing is lost meanwhile (the WAL keeps it).
                    let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                        .execute(p)
                        .await;
                }
                p.close().await
            }
            Pool::Pg(p) => p.close().await,
        }
    }
}

/// Connection options for a team database. The password comes from the URL, `PGPASSWORD`, a
/// `.pgpass` file or the OS keychain (service `steward`, the URL without password as the
/// account); peer and certificate authentication need none. A host other than loopback is
/// reached over TLS with its certificate and name verified, unless the URL (or `PGSSLMODE`)
/// says otherwise.
pub fn pg_options(url: &str) -> Result<PgConnectOptions> {
    let mut options = PgConnectOptions::from_str(url).map_err(|e| {
        Error::invalid(
            "--db",
            format!("'{}' is not a PostgreSQL URL: {e}", redact(url)),
        )
    })?;
    let parsed = url::Url::parse(url).ok();
    let says_sslmode = parsed.as_ref().is_some_and(|u| {
        u.query_pairs()
            .any(|(k, _)| k == "sslmode" || k == "ssl-mode")
    }) || std::env::var_os("PGSSLMODE").is_some();
    let host = options.get_host().to_string();
    let loopback = host == "localhost"
        || host.starts_with('/')
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !says_sslmode && !loopback {
        options = options.ssl_mode(PgSslMode::VerifyFull);
    }
    let has_password = parsed.as_ref().is_some_and(|u| u.password().is_some())
        || std::env::var_os("PGPASSWORD").is_some();
    if !has_password {
        if let Some(pw) = keychain_password(url) {
            options = options.password(&pw);
        }
    }
    Ok(options.application_name("steward"))
}

/// A team login's password from the OS keychain, when one is filed there.
fn keychain_password(url: &str) -> Option<String> {
    if std::env::var(KEY_STORE_ENV).ok().as_deref() == Some("file") {
        return None;
    }
    keyring::Entry::new(crate::evidence::key::KEYCHAIN_SERVICE, &redact(url))
        .ok()?
        .get_password()
        .ok()
}

/// Where a team database's keys are kept on this workstation.
pub fn team_dir(url: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(TEAM_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let options = pg_options(url)?;
    let name: String = format!(
        "{}-{}-{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("steward")
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
            c
        } else {
            '_'
        }
    })
    .collect();
    directories::ProjectDirs::from("org", "Steward", "steward")
        .map(|d| d.data_dir().join("teams").join(name))
        .ok_or_else(|| Error::invalid("--db", "no home directory for the team's keys"))
}

/// Rows that SQLite packed into one JSON array (`json_group_array`): large reads come over in
/// one value rather than a row at a time. `what` names them in an error.
pub(crate) fn unpack<T: serde::de::DeserializeOwned>(
    packed: Option<&str>,
    what: &str,
) -> Result<Vec<T>> {
    serde_json::from_str(packed.unwrap_or("[]"))
        .map_err(|e| Error::Internal(format!("{what} unreadable: {e}")))
}

/// JSON `true`/`false` (or `null`) of an SQLite 0/1 column, inside a packed `json_object`.
macro_rules! json_bool {
    ($c:literal) => {
        concat!(
            "json(CASE WHEN ",
            $c,
            " IS NULL THEN 'null' WHEN ",
            $c,
            " THEN 'true' ELSE 'false' END)"
        )
    };
}
pub(crate) use json_bool;

/// A pool on the team database at `url`, its schema brought up to date where this login may.
pub async fn connect_pg(url: &str) -> Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(pg_options(url)?)
        .await
        .map_err(|e| Error::invalid("--db", format!("cannot reach {}: {e}", redact(url))))?;
    team::migrate(&pool).await?;
    Ok(pool)
}

/// The fingerprint key in `file`, made there when the database has none yet, and checked
/// against the key its fingerprints were made with: a missing or different key is refused
/// (its fingerprints would silently stop matching).
async fn fingerprint_key(db: &mut Db, file: &Path, team: bool) -> Result<FingerprintKey> {
    let how = if team {
        "copy team.key from a team admin into that directory (README: keys that belong to the team)"
    } else {
        "restore the key file from the backup made with the database"
    };
    let recorded = team::key_check(db).await?;
    let key = match FingerprintKey::load(file)? {
        Some(key) => key,
        None if recorded.is_some() => {
            return Err(Error::Forbidden(format!(
                "{} is missing, and this database's fingerprints were made with it: {how}",
                file.display()
            )))
        }
        None => FingerprintKey::load_or_create(file)?,
    };
    let check = key.check();
    let recorded = match recorded {
        Some(r) => Some(r),
        // First open: recorded unless another process did so first (then theirs is read).
        None if team::set_key_check(db, &check, false).await? => team::key_check(db).await?,
        None => None,
    };
    match recorded {
        Some(r) if r != check => Err(Error::Forbidden(format!(
            "{} is not the key this database's fingerprints were made with: {how}",
            file.display()
        ))),
        _ => Ok(key),
    }
}

/// The fingerprint key file kept beside a database.
pub fn key_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".key");
    db.with_file_name(name)
}

/// Where the signing key of a database goes: `$STEWARD_KEY_STORE` when set; otherwise the OS
/// keychain for the default database (in the OS data directory) and a file beside a database
/// that is named (`--db`, `$STEWARD_DB`), so a test's or a copy's database never lands in the
/// user's keychain. Where no keychain answers, the key is a file all the same.
pub fn key_store(named: bool) -> Result<KeyStore> {
    match std::env::var(KEY_STORE_ENV).ok().as_deref() {
        Some("keychain") => Ok(KeyStore::Keychain),
        Some("file") => Ok(KeyStore::File),
        Some(other) if !other.is_empty() => Err(Error::invalid(
            KEY_STORE_ENV,
            format!("'{other}': expected keychain or file"),
        )),
        _ if named => Ok(KeyStore::File),
        _ => Ok(KeyStore::Keychain),
    }
}

/// Creates the folder a database goes in, and any missing above it, for their owner alone
/// (0700); the OS data directory Steward keeps its default database in (`ours`) is narrowed
/// to 0700 if it was wider.
fn private_data_dir(dir: &Path, ours: bool) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    if ours {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = ours;
    Ok(())
}

/// Waits for, and holds until dropped, the lock on `<db>.lock` (0600, beside the database)
/// that processes opening the database take in turn.
async fn open_lock(db: &Path) -> Result<std::fs::File> {
    let mut name = db.as_os_str().to_os_string();
    name.push(".lock");
    let path = PathBuf::from(name);
    tokio::task::spawn_blocking(move || {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| Error::io(&path, e))?;
        file.lock().map_err(|e| Error::io(&path, e))?;
        Ok(file)
    })
    .await
    .map_err(|e| Error::Internal(format!("opening the database: {e}")))?
}

/// A SQLite database, its WAL and its shared memory are readable by their owner only
/// (0600): a new database file is made so before SQLite opens it (SQLite gives the WAL and
/// shared-memory files the database's mode), and an older one of this user's is narrowed.
fn private_db_files(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(Error::io(path, e))
            }
            _ => {}
        }
        let me = rustix::process::geteuid().as_raw();
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            let file = PathBuf::from(name);
            if let Ok(meta) = std::fs::symlink_metadata(&file) {
                if meta.is_file() && meta.uid() == me && meta.mode() & 0o077 != 0 {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| Error::io(&file, e))?;
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether `$STEWARD_DB` names the database.
pub fn db_env_set() -> bool {
    std::env::var_os(DB_ENV).is_some_and(|p| !p.is_empty())
}

/// The default database: `$STEWARD_DB`, else `steward.db` in the OS data directory.
pub fn default_location() -> Result<Location> {
    if let Some(p) = std::env::var(DB_ENV).ok().filter(|p| !p.is_empty()) {
        return Location::parse(&p);
    }
    default_db_path().map(Location::Sqlite)
}

/// `steward.db` in the OS data directory.
pub fn default_db_path() -> Result<PathBuf> {
    directories::ProjectDirs::from("org", "Steward", "steward")
        .map(|d| d.data_dir().join("steward.db"))
        .ok_or_else(|| {
            Error::invalid(
                "--db",
                "no home directory; pass --db PATH or set STEWARD_DB",
            )
        })
}

/// The newest schema migration applied to the database.
pub async fn schema_version(db: &mut Db) -> Result<i64> {
    Ok(on!(db, |c| sqlx::query_scalar::<_, Option<i64>>(
        "SELECT max(version) FROM _sqlx_migrations WHERE success"
    )
    .fetch_one(c)
    .await)?
    .unwrap_or(0))
}

/// Refuses a database whose schema is newer than this program's (`applied` is its newest
/// migration): a newer Steward wrote it, and this one would misread it. Nothing is changed.
pub(crate) fn refuse_newer(
    applied: Option<i64>,
    known: &sqlx::migrate::Migrator,
    place: &str,
) -> Result<()> {
    let newest = known.iter().map(|m| m.version).max().unwrap_or(0);
    match applied {
        Some(v) if v > newest => Err(Error::Conflict(format!(
            "{place} was written by a newer Steward (database schema {v}; Steward {} knows \
             schemas up to {newest}): open it with that version or a later one. Nothing was \
             changed.",
            crate::VERSION
        ))),
        _ => Ok(()),
    }
}
