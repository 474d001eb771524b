//! The match index: every Source file and every Target row no primary holds, with the sync
//! rules' verdict (status, reason), plus per-directory and per-catalog counts, materialized in a
//! derived SQLite file next to archive.db (`archive.index.db`). The screens' queries
//! ([`crate::query`]) read only this file, so they stay fast at a million files.
//!
//! The index is a cache. It records a *stamp* of its inputs (size, mtime and SQLite header bytes
//! of archive.db, pokervod.db and their `-wal` files, and the rules). Every query compares the
//! stamp with the files as they are now; when anything moved, the inputs are read again, and
//! when their content digest differs the index is rebuilt in one transaction (readers keep
//! seeing the previous version until it commits). A sync or an outside edit of pokervod.db
//! therefore shows up in the next query. Deleting the file is always safe.

// A query's way through the index: the stamp says whether it is current (`stamp`); if not, the
// rules' verdicts are computed in memory (`verdicts`) and written to the tables (`tables`, with
// the search columns of `search`). `shared` keeps one index per long-lived process.
mod search;
mod shared;
mod stamp;
mod tables;
mod verdicts;

pub(crate) use search::SearchData;
pub use search::search_key;
pub use shared::SharedIndex;
pub use verdicts::{Counts, Stats, Status, standard_reason};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Transaction, params};

use crate::archive::Archive;
use crate::config::Config;
use crate::error::{Error, Result, SqlContext};
use crate::rules::Rules;
use crate::target::Target;

use stamp::{digest, stamp};

/// Bump when the index's tables or the meaning of a column change: an older index is rebuilt.
const INDEX_VERSION: i64 = 5;

/// The fresh index, opened for reading.
pub struct Index {
    conn: Connection,
    path: PathBuf,
    /// Whether this call rebuilt the index (for logs and benchmarks).
    pub rebuilt: bool,
    /// The search's columns, loaded on the first search and kept while the index version
    /// stays the same (a long-lived process pays the load once per rebuild).
    search: std::sync::Mutex<Option<std::sync::Arc<SearchData>>>,
}

/// Where the index of `archive_db` lives: `archive.db` → `archive.index.db`.
pub fn index_path(archive_db: &Path) -> PathBuf {
    let stem = archive_db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive".into());
    archive_db.with_file_name(format!("{stem}.index.db"))
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'meta')",
            [],
            |r| r.get(0),
        )
        .ctx("index meta")?;
    if !exists {
        return Ok(None);
    }
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .ctx("index meta")
}

fn meta_set(tx: &Transaction<'_>, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .ctx("index meta")?;
    Ok(())
}

fn index_version(conn: &Connection) -> Result<String> {
    Ok(format!(
        "{}/{}",
        meta_get(conn, "built_at")?.unwrap_or_default(),
        meta_get(conn, "digest")?.unwrap_or_default()
    ))
}

impl Index {
    /// Open the index of `cfg`'s archive, rebuilding it first if the Source, the Target or the
    /// rules changed since it was built. Never writes archive.db or pokervod.db.
    pub fn open(cfg: &Config) -> Result<Index> {
        let path = index_path(&cfg.archive_db_path()?);
        match Index::open_file(cfg, &path) {
            Ok(index) => Ok(index),
            // A folder we may read but not write (a read-only share, another user's data):
            // answer from an index built in memory for this one call rather than fail.
            Err(e) if is_unwritable(&e) => {
                tracing::warn!(
                    "매치 인덱스 {}에 쓸 수 없어 메모리에 만듭니다 ({e}) / match index not writable; building it in memory",
                    path.display()
                );
                let conn = Connection::open_in_memory().ctx("in-memory match index")?;
                let mut index = Index {
                    conn,
                    path,
                    rebuilt: false,
                    search: Default::default(),
                };
                index.refresh_if_stale(cfg)?;
                Ok(index)
            }
            Err(e) => Err(e),
        }
    }

    fn open_file(cfg: &Config, path: &Path) -> Result<Index> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ctx(&format!("open the match index {}", path.display()))?;
        // A rebuild at a million files takes seconds; a second process waits for it rather
        // than building the same thing twice.
        conn.busy_timeout(Duration::from_secs(cfg.busy_timeout_secs.max(120)))
            .ctx("index busy_timeout")?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -65536; PRAGMA threads = 2;",
        )
        .ctx("index pragmas")?;
        let mut index = Index {
            conn,
            path: path.to_path_buf(),
            rebuilt: false,
            search: Default::default(),
        };
        index.refresh_if_stale(cfg)?;
        Ok(index)
    }

    /// Make the index current (cheap when nothing changed: a few `stat` calls). A long-lived
    /// process keeps one [`Index`] and calls this before each query. Sets [`Index::rebuilt`].
    pub fn refresh_if_stale(&mut self, cfg: &Config) -> Result<()> {
        let archive_db = cfg.archive_db_path()?;
        let target_db = cfg.require_target_db()?.to_path_buf();
        let rules = Rules::from_config(cfg);
        let current = stamp(&archive_db, &target_db, &rules);
        if current.is_some()
            && meta_get(&self.conn, "stamp")? == current
            && !copying_expired(&self.conn)?
        {
            self.rebuilt = false;
            return Ok(());
        }
        self.rebuilt = refresh(&mut self.conn, &archive_db, &target_db, cfg, &rules)?;
        Ok(())
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Load the search columns now (and write their cache file), so that the first search
    /// after a sync or scan does not pay for it.
    pub fn warm_search(&self) -> Result<()> {
        self.search_data().map(|_| ())
    }

    /// The search's columns of the current index version (loaded once per version).
    pub(crate) fn search_data(&self) -> Result<std::sync::Arc<SearchData>> {
        let version = index_version(&self.conn)?;
        let mut slot = self.search.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = slot.as_ref()
            && d.version == version
        {
            return Ok(d.clone());
        }
        *slot = None;
        let data = std::sync::Arc::new(SearchData::load_cached(&self.conn, &self.path, &version)?);
        *slot = Some(data.clone());
        Ok(data)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whole-archive numbers stored with the index.
    pub fn stats(&self) -> Result<Stats> {
        let text = meta_get(&self.conn, "stats")?.unwrap_or_default();
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }

    /// Catalog names by rank.
    pub fn catalogs(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM catalogs ORDER BY id")
            .ctx("index catalogs")?;
        let rows = stmt.query_map([], |r| r.get(0)).ctx("index catalogs")?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .ctx("index catalogs")
    }

    /// Status counts of one catalog (rank) or of everything.
    pub fn counts(&self, catalog: Option<i64>) -> Result<Counts> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT status, sum(n) FROM counts WHERE (?1 IS NULL OR catalog = ?1)
                 GROUP BY status",
            )
            .ctx("index counts")?;
        let mut c = Counts::default();
        let rows = stmt
            .query_map([catalog], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .ctx("index counts")?;
        for row in rows {
            let (s, n) = row.ctx("index counts")?;
            c.add(Status::from_code(s), n.max(0) as u64);
        }
        Ok(c)
    }
}

/// The reference time of `copying` verdicts: the files a sync would hold back now.
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A `copying` verdict of the index has run out (its file may be stable now): the index is
/// stale even though its inputs did not change. `copying_until` is when the first one does.
fn copying_expired(conn: &Connection) -> Result<bool> {
    Ok(meta_get(conn, "copying_until")?
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| now_unix() >= t))
}

/// The index file (or its folder) cannot be created or written.
fn is_unwritable(e: &Error) -> bool {
    match e {
        Error::Sqlite { source, .. } => matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ReadOnly)
                | Some(rusqlite::ErrorCode::CannotOpen)
                | Some(rusqlite::ErrorCode::PermissionDenied)
        ),
        _ => false,
    }
}

/// Take the index's write lock, re-check, and rebuild if the inputs really changed.
/// Returns whether the tables were rewritten.
fn refresh(
    conn: &mut Connection,
    archive_db: &Path,
    target_db: &Path,
    cfg: &Config,
    rules: &Rules,
) -> Result<bool> {
    let timer = Instant::now();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .ctx("lock the match index (another process may be rebuilding it)")?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        .ctx("index meta")?;
    // Stamp first, then read: if an input changes while we read it, the stored stamp is the
    // older one and the next query looks again.
    let current = stamp(archive_db, target_db, rules);
    let stored_stamp = current.clone().unwrap_or_else(|| "racy".into());
    if current.is_some() && meta_get(&tx, "stamp")? == current && !copying_expired(&tx)? {
        tx.commit().ctx("index")?;
        return Ok(false);
    }
    let (files, _) = Archive::read_snapshot(archive_db)?;
    let rows = Target::read_rows(target_db, cfg.busy_timeout_secs)?;
    tracing::debug!(
        ms = timer.elapsed().as_millis() as u64,
        "index: inputs read"
    );
    // Files still being written, as a sync starting now would judge them by their mtime.
    let hold = crate::rules::Hold::at(now_unix(), rules.settle_secs);
    let copying_until = files
        .iter()
        .filter(|f| hold.holds(f))
        .map(|f| hold.stable_at(f))
        .min();
    let copying_until = copying_until.map(|t| t.to_string()).unwrap_or_default();
    let dig = digest(&files, &rows, rules, &hold);
    tracing::debug!(ms = timer.elapsed().as_millis() as u64, "index: digest");
    let version_ok = meta_get(&tx, "version")?.as_deref() == Some(&INDEX_VERSION.to_string());
    if version_ok && meta_get(&tx, "digest")?.as_deref() == Some(dig.as_str()) {
        meta_set(&tx, "stamp", &stored_stamp)?;
        meta_set(&tx, "copying_until", &copying_until)?;
        tx.commit().ctx("index")?;
        tracing::debug!(
            ms = timer.elapsed().as_millis() as u64,
            "match index: inputs touched but unchanged"
        );
        return Ok(false);
    }
    let built = verdicts::build(&files, &rows, rules, &hold);
    tracing::debug!(
        ms = timer.elapsed().as_millis() as u64,
        "index: built in memory"
    );
    tables::write(&tx, &built)?;
    tracing::debug!(ms = timer.elapsed().as_millis() as u64, "index: written");
    meta_set(&tx, "version", &INDEX_VERSION.to_string())?;
    meta_set(&tx, "digest", &dig)?;
    meta_set(&tx, "stamp", &stored_stamp)?;
    meta_set(&tx, "copying_until", &copying_until)?;
    meta_set(
        &tx,
        "stats",
        &serde_json::to_string(&built.stats).unwrap_or_default(),
    )?;
    meta_set(&tx, "built_at", &crate::clock::iso(chrono::Utc::now()))?;
    tx.commit().ctx("commit the match index")?;
    // Keep the WAL from holding a second copy of the index.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    tracing::info!(
        "매치 인덱스 갱신: 항목 {}개, {:.1}초 / match index rebuilt",
        built.items.len(),
        timer.elapsed().as_secs_f64()
    );
    Ok(true)
}

/// `a/b/c.mp4` → (`a/b`, `c.mp4`); `c.mp4` → (``, `c.mp4`).
pub fn split_dir(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    }
}
