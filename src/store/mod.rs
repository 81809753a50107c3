//! `Store`: the one place SQL lives. Every value is bound; nothing is spliced into SQL text.

pub mod audit;
pub mod bulk;
pub mod evidence;
pub mod identity;
pub mod person;
pub mod policy;
pub mod review;
pub mod usage;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::evidence::key::KeyStore;
use crate::inventory::fingerprint::FingerprintKey;
use crate::{Error, Result};

/// A write transaction. SQLite takes the write lock at `BEGIN IMMEDIATE`, so two writers queue
/// on the busy timeout instead of failing when a read turns into a write.
pub type WriteTx = Transaction<'static, Sqlite>;

/// The environment variable that overrides the default database path.
pub const DB_ENV: &str = "STEWARD_DB";

/// The environment variable that says where a new signing key goes: `keychain` or `file`.
pub const KEY_STORE_ENV: &str = "STEWARD_KEY_STORE";

/// An open Steward database (SQLite, WAL) and the installation's fingerprint key.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    fingerprint_key: Arc<FingerprintKey>,
    key_store: KeyStore,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// The per-installation fingerprint key lives beside the database (`<path>.key`, mode
    /// 0600), never inside it, so a copied database alone cannot be used to guess secrets.
    pub async fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&path)
            .create_if_missing(true)
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
        sqlx::migrate!("./migrations").run(&pool).await?;
        let fingerprint_key = Arc::new(FingerprintKey::load_or_create(&key_path(&path))?);
        Ok(Store {
            pool,
            path,
            fingerprint_key,
            key_store: KeyStore::File,
        })
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

    /// The connection pool, for reads.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The installation's key for fingerprinting secrets.
    pub fn fingerprint_key(&self) -> &FingerprintKey {
        &self.fingerprint_key
    }

    /// Starts a write transaction; dropping it without commit rolls everything back.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Rows that SQLite packed into one JSON array (`json_group_array`): large reads come over in
/// one value rather than a row at a time. `what` names them in an error.
pub(crate) fn unpack<T: serde::de::DeserializeOwned>(
    packed: Option<&str>,
    what: &str,
) -> Result<Vec<T>> {
    serde_json::from_str(packed.unwrap_or("[]"))
        .map_err(|e| Error::Integrity(format!("{what} unreadable: {e}")))
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

/// Whether `$STEWARD_DB` names the database.
pub fn db_env_set() -> bool {
    std::env::var_os(DB_ENV).is_some_and(|p| !p.is_empty())
}

/// The default database: `$STEWARD_DB`, else `steward.db` in the OS data directory.
pub fn default_db_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(DB_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    directories::ProjectDirs::from("org", "Steward", "steward")
        .map(|d| d.data_dir().join("steward.db"))
        .ok_or_else(|| {
            Error::invalid(
                "--db",
                "no home directory; pass --db PATH or set STEWARD_DB",
            )
        })
}
