//! From a workstation to the team and back: `team push` copies a SQLite inventory, audit
//! chain and checkpoints into an empty team database and verifies them there; `team pull`
//! makes a read-only SQLite snapshot of a team database.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use crate::audit::{self, Actor};
use crate::store::{self, copy, Engine, Location};
use crate::time::Timestamp;
use crate::{Error, Result, Store};

/// What a push or a pull copied and found.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Transfer {
    /// Rows copied, by table.
    #[ts(type = "Record<string, number>")]
    pub tables: copy::Counts,
    /// Audit entries, verified end to end where they arrived.
    #[ts(type = "number")]
    pub audit_entries: i64,
    pub head_hash: String,
    /// Checkpoints copied, each verified against the copied chain.
    pub checkpoints: usize,
}

/// The chain of `store` verified, and every checkpoint against it.
async fn verified(store: &Store) -> Result<(audit::ChainStatus, usize)> {
    let status = super::audit_verify(store).await?;
    let checkpoints = store::evidence::checkpoints(&mut store.read().await?).await?;
    for cp in &checkpoints {
        super::evidence::checkpoint_holds(store, cp, &status).await?;
    }
    Ok((status, checkpoints.len()))
}

/// Copies this workstation's SQLite inventory into the empty team database at `to` and
/// verifies the chain and checkpoints there. The workstation's fingerprint key becomes the
/// team's (its fingerprints are copied as they are).
pub async fn team_push(store: &Store, now: Timestamp, actor: &Actor, to: &str) -> Result<Transfer> {
    if store.engine() != Engine::Sqlite {
        return Err(Error::invalid(
            "--db",
            "team push copies a workstation's SQLite file: --db PATH",
        ));
    }
    let Location::Postgres(url) = Location::parse(to)? else {
        return Err(Error::invalid(
            "--to",
            "a team database: postgres://USER@HOST/DB",
        ));
    };
    let pool = store::connect_pg(&url).await?;
    let tables = copy::tables(&pool).await?;
    if let Some(t) = copy::is_empty_pg(&pool, &tables).await? {
        return Err(Error::Conflict(format!(
            "the team database already holds rows in {t}: push goes into an empty team database"
        )));
    }
    // The team's fingerprint key is this workstation's from now on.
    let keys = store::team_dir(&url)?;
    std::fs::create_dir_all(&keys).map_err(|e| Error::io(&keys, e))?;
    let team_key = store::key_path(&keys.join("team"));
    replace_private(&store::key_path(store.path()), &team_key)?;
    let check = store.fingerprint_key().check();
    {
        let mut db = store::Db::Pg(store::Link::Pooled(pool.acquire().await?));
        if !store::team::set_key_check(&mut db, &check, true).await? {
            return Err(Error::Forbidden(
                "team push is run by the team database's owner or an admin".into(),
            ));
        }
    }
    // The workstation's chain is verified while it is copied; nothing is committed unless
    // it verifies.
    let (tables, (here, _)) = copy::push(store.path(), &pool, &tables, verified(store)).await?;
    pool.close().await;
    let team = Store::open_pg(&url, keys).await?;
    let (there, checkpoints) = verified(&team).await?;
    if (there.entries, &there.head_hash) != (here.entries, &here.head_hash) {
        return Err(Error::Integrity(format!(
            "the team database's chain ends at seq {} ({}), the workstation's at {} ({})",
            there.entries, there.head_hash, here.entries, here.head_hash
        )));
    }
    let mut tx = team.begin_write().await?;
    let from = store
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "team.push",
        "team".into(),
        json!({
            "from": from,
            "entries": here.entries,
            "head_hash": here.head_hash,
            "identities": tables.get("identity").copied().unwrap_or(0),
        }),
    )
    .await?;
    tx.commit().await?;
    team.close().await;
    Ok(Transfer {
        tables,
        audit_entries: there.entries,
        head_hash: there.head_hash,
        checkpoints,
    })
}

/// Writes a read-only SQLite snapshot of the team database at `out` (a new file), its chain
/// and checkpoints verified there. Nothing is left at `out` if any step fails.
pub async fn team_pull(store: &Store, out: &Path) -> Result<Transfer> {
    let Some(pool) = store.pg_pool() else {
        return Err(Error::invalid(
            "--db",
            "team pull reads a team database: --db postgres://...",
        ));
    };
    if out.exists() {
        return Err(Error::Conflict(format!(
            "{} exists: a snapshot never overwrites a file",
            out.display()
        )));
    }
    let name = out
        .file_name()
        .ok_or_else(|| Error::invalid("--out", "a file name"))?
        .to_string_lossy();
    let partial = out.with_file_name(format!(".{name}.partial"));
    let sidecars = |p: &Path| -> Vec<PathBuf> {
        ["", "-wal", "-shm", ".key", ".lock"]
            .iter()
            .map(|s| PathBuf::from(format!("{}{s}", p.display())))
            .collect()
    };
    let clean = |p: &Path| {
        for f in sidecars(p) {
            let _ = std::fs::remove_file(f);
        }
    };
    clean(&partial);
    let result = async {
        let snap = Store::open(&partial).await?;
        let tables = copy::tables(pool).await?;
        let counts = copy::pull(pool, snap.sqlite_pool().expect("a file"), &tables).await?;
        // The snapshot says which key made its fingerprints: the team's, which stays behind.
        if let Some(check) = store::team::key_check(&mut store.read().await?).await? {
            let mut tx = snap.begin_write().await?;
            store::team::set_key_check(&mut tx, &check, true).await?;
            tx.commit().await?;
        }
        let (there, checkpoints) = verified(&snap).await?;
        let (here, _) = verified(store).await?;
        if (there.entries, &there.head_hash) != (here.entries, &here.head_hash) {
            return Err(Error::Integrity(format!(
                "the snapshot's chain ends at seq {}, the team database's at {}",
                there.entries, here.entries
            )));
        }
        snap.close().await;
        copy::seal(&partial).await?;
        Ok(Transfer {
            tables: counts,
            audit_entries: there.entries,
            head_hash: there.head_hash,
            checkpoints,
        })
    }
    .await;
    match result {
        Ok(t) => {
            std::fs::rename(&partial, out).map_err(|e| Error::io(out, e))?;
            clean(&partial);
            Ok(t)
        }
        Err(e) => {
            clean(&partial);
            Err(e)
        }
    }
}

/// Puts a copy of the private file `from` at `to` (mode 0600), in place of any file there.
fn replace_private(from: &Path, to: &Path) -> Result<()> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(from).map_err(|e| Error::io(from, e))?);
    if std::fs::read(to).is_ok_and(|b| b == *bytes) {
        return Ok(());
    }
    let staged = to.with_extension("new");
    let _ = std::fs::remove_file(&staged);
    crate::inventory::fingerprint::write_private(&staged, &bytes)
        .map_err(|e| Error::io(&staged, e))?;
    std::fs::rename(&staged, to).map_err(|e| Error::io(to, e))
}
