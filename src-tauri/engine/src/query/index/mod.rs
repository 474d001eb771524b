//! The match index: every Source file and every Target row no primary holds, with the sync
//! rules' verdict (status, reason), plus per-directory and per-catalog counts, materialized in a
//! derived SQLite file next to archive.db (`archive.index.db`). The screens' queries
//! ([`crate::query`]) read only this file, so they stay fast at a million files.
//!
//! The index is a cache, kept current three ways, cheapest first:
//! 1. **Nothing changed**: the stamps of archive.db and pokervod.db (size, mtime, header bytes,
//!    which file: device and inode), the Target's path ([`file_identity`]: one archive.db may be
//!    synced to several Targets in turn, and the index answers for the one it was asked about)
//!    and the rules are as stored. A few `stat` calls per query.
//! 2. **Our own jobs changed something**: every job that changes what the index shows writes a
//!    batch to archive.db's journal ([`crate::archive::journal`]) naming the records and rows it
//!    touched. The index reads the batches after the last one it applied and recomputes only
//!    the items those records can affect ([`delta`]), in milliseconds at any archive size. It
//!    trusts this only while the journal is continuous (same archive.db, no pruned batch, no
//!    batch asking for a rebuild, the batch it applied last still there with its random token:
//!    not an archive.db put back from a backup and synced past that number again), every
//!    sync's batch names the Target file the index reads, and the Target is as the journal says: a sync's batch
//!    carries the digest of the Target rows it planned on, which must equal the index's own
//!    (nobody else wrote the Target before the sync), and the Target's stamp right after its
//!    commit, which must equal the stamp now (nobody wrote it since).
//!    A sync's batch also carries the digest after its commit, which the index must reach.
//!    While a sync holds the lock, a Target that moved is answered as it was until its batch
//!    arrives.
//! 3. **Anything else** (an outside edit of pokervod.db, another Target file, a gap, new
//!    rules, a new index version, more than 1/20 of the items to redo): both databases are read
//!    again and, when their content digests differ from the index's, it is rebuilt in one
//!    transaction (readers keep seeing the previous version until it commits). An update from
//!    the journal that gives up half-way runs in a savepoint on a copy of the index's numbers
//!    and leaves both as they were, so that the digests compared are those of the tables kept.
//!
//! A stamp taken within [`RACY_WINDOW`] of a write may not tell a later write in the same mtime
//! tick apart. archive.db needs no such guard (the journal is read whenever its stamp is racy,
//! a cheap query). For pokervod.db the header's change counter tells every commit apart in
//! rollback-journal mode (the default); in WAL mode the index checks the Target's content once
//! after the window instead (`verify_at`). Deleting the index file is always safe.

// A query's way through the index: the stamps and the journal say how current it is (`stamp`,
// here); the rules' verdicts are computed in memory (`verdicts`) for everything or for the
// records around a change (`delta`) and written to the tables (`tables`), the search columns
// kept beside them (`search`). `shared` keeps one index per long-lived process.
mod delta;
mod search;
mod shared;
mod stamp;
mod tables;
mod verdicts;

/// How long after a write a file's stamp is not trusted to tell a later write apart.
pub use crate::store::sqlite::RACY_WINDOW;
pub(crate) use search::SearchData;
pub use search::search_key;
pub use shared::SharedIndex;
pub use verdicts::{Counts, Stats, Status, standard_reason};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Transaction, params};

use crate::archive::{Archive, SyncLock, journal};
use crate::config::Config;
use crate::error::{Error, Result, SqlContext};
use crate::rules::{Hold, Rules};
use crate::store::sqlite::{FileStamp, file_identity, file_stamp};
use crate::target::Target;

use delta::{Delta, Live, Seeds, Sums};
use search::Patch;
use stamp::{files_digest, rules_hash};

/// Bump when the index's tables or the meaning of a column change: an older index is rebuilt.
const INDEX_VERSION: i64 = 6;

/// An update that would look at more records than this share of the index (and at least
/// [`MIN_UPDATE_LIMIT`]) rebuilds instead: rewriting everything is then about as fast (an update
/// costs ~0.3 ms per record at 1M items, a rebuild ~15 s on the benchmark machine).
const UPDATE_SHARE: usize = 20;
const MIN_UPDATE_LIMIT: usize = 5_000;

/// The journal token the index stores for a batch that was gone when it read the journal.
const MISSING_TOKEN: &str = "-";

/// How the last refresh found the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Nothing to do.
    Current,
    /// Brought up to date from the journal (or after a content check), `items` rewritten.
    Updated { items: usize },
    /// Rebuilt from both databases.
    Rebuilt,
    /// The Target changed in a way only a running sync explains: answered as it was; the
    /// sync's batch brings it up to date.
    Deferred,
}

/// The fresh index, opened for reading.
pub struct Index {
    conn: Connection,
    path: PathBuf,
    /// Whether the last refresh rebuilt the index (for logs and benchmarks).
    pub rebuilt: bool,
    /// What the last refresh did.
    pub refreshed: Refresh,
    /// Why the last refresh read both databases again (`None`: it did not).
    pub full_read: Option<String>,
    /// The search's columns, loaded on the first search and kept (patched by this handle's
    /// own updates) while the index version stays the same.
    search: Mutex<SearchSlot>,
    /// Write the search columns' cache file beside the index (not for an index in memory).
    cache_file: bool,
}

#[derive(Default)]
struct SearchSlot {
    data: Option<Arc<SearchData>>,
    /// This handle's last update, not applied to `data` (not loaded then): (from, to, patch).
    /// A handle that loads the columns of `from` from the cache file patches them to `to`
    /// instead of reading every item.
    pending: Option<(String, String, Patch)>,
}

/// Where the index of `archive_db` lives: `archive.db` → `archive.index.db`.
pub fn index_path(archive_db: &Path) -> PathBuf {
    let stem = archive_db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive".into());
    archive_db.with_file_name(format!("{stem}.index.db"))
}

fn meta_table_exists(conn: &Connection) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'meta')",
        [],
        |r| r.get(0),
    )
    .ctx("index meta")
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    if !meta_table_exists(conn)? {
        return Ok(None);
    }
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .ctx("index meta")
}

/// The version the search columns are kept by: a new one after every change of the items.
fn index_version(conn: &Connection) -> Result<String> {
    Ok(format!(
        "{}/{}",
        meta_get(conn, "built_at")?.unwrap_or_default(),
        meta_get(conn, "generation")?.unwrap_or_default()
    ))
}

/// What the index records of its inputs (the `meta` table).
#[derive(Debug, Clone, Default)]
struct Meta {
    version: i64,
    rules: String,
    /// archive.db's stamp, stored only when it was not racy (else never equal to one).
    archive_stamp: String,
    /// Which pokervod.db the index was built against ([`file_identity`] of its path): the
    /// same archive.db may be synced to several in turn (a flag, the environment, the
    /// settings), and the index answers for one.
    target_file: String,
    /// pokervod.db's stamp; empty: not known (a WAL-mode sync's commit, a racy full read) until
    /// the content check at `verify_at`.
    target_stamp: String,
    /// When to check the Target's content (Unix seconds; a WAL-mode stamp may hide a write of
    /// its own mtime tick until then).
    verify_at: Option<i64>,
    journal_id: String,
    journal_seq: i64,
    /// The token of batch `journal_seq` ([`journal::token_at`]): the same number in another
    /// history of the file (archive.db restored from a backup) is another token.
    journal_token: String,
    max_file_id: i64,
    files_digest: u64,
    rows_digest: u64,
    /// When the first `copying` verdict may run out (Unix seconds).
    copying_until: Option<i64>,
    stats: Stats,
    built_at: String,
    generation: i64,
}

impl Meta {
    fn read(conn: &Connection) -> Result<Meta> {
        let mut m = Meta::default();
        if !meta_table_exists(conn)? {
            return Ok(m);
        }
        let mut st = conn
            .prepare_cached("SELECT key, value FROM meta")
            .ctx("index meta")?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .ctx("index meta")?;
        let hex = |v: &str| u64::from_str_radix(v, 16).unwrap_or(0);
        for row in rows {
            let (k, v) = row.ctx("index meta")?;
            match k.as_str() {
                "version" => m.version = v.parse().unwrap_or(0),
                "rules" => m.rules = v,
                "archive_stamp" => m.archive_stamp = v,
                "target_stamp" => m.target_stamp = v,
                "target_file" => m.target_file = v,
                "verify_at" => m.verify_at = v.parse().ok(),
                "journal_id" => m.journal_id = v,
                "journal_seq" => m.journal_seq = v.parse().unwrap_or(0),
                "journal_token" => m.journal_token = v,
                "max_file_id" => m.max_file_id = v.parse().unwrap_or(0),
                "files_digest" => m.files_digest = hex(&v),
                "rows_digest" => m.rows_digest = hex(&v),
                "copying_until" => m.copying_until = v.parse().ok(),
                "stats" => m.stats = serde_json::from_str(&v).unwrap_or_default(),
                "built_at" => m.built_at = v,
                "generation" => m.generation = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        Ok(m)
    }

    fn write(&self, tx: &Transaction<'_>) -> Result<()> {
        let opt = |v: Option<i64>| v.map(|t| t.to_string()).unwrap_or_default();
        let pairs: [(&str, String); 17] = [
            ("version", self.version.to_string()),
            ("rules", self.rules.clone()),
            ("archive_stamp", self.archive_stamp.clone()),
            ("target_stamp", self.target_stamp.clone()),
            ("target_file", self.target_file.clone()),
            ("verify_at", opt(self.verify_at)),
            ("journal_id", self.journal_id.clone()),
            ("journal_seq", self.journal_seq.to_string()),
            ("journal_token", self.journal_token.clone()),
            ("max_file_id", self.max_file_id.to_string()),
            ("files_digest", format!("{:016x}", self.files_digest)),
            ("rows_digest", format!("{:016x}", self.rows_digest)),
            ("copying_until", opt(self.copying_until)),
            (
                "stats",
                serde_json::to_string(&self.stats).unwrap_or_default(),
            ),
            ("built_at", self.built_at.clone()),
            ("generation", self.generation.to_string()),
            // Read by nothing but a person looking at the file.
            ("updated_at", crate::clock::iso(chrono::Utc::now())),
        ];
        let mut st = tx
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .ctx("index meta")?;
        for (k, v) in pairs {
            st.execute(params![k, v]).ctx("index meta")?;
        }
        Ok(())
    }

    /// The index answers for inputs stamped `a` and `t` (the Target `target_file`) under
    /// `rules` at `now` without looking further.
    fn current(
        &self,
        rules: &str,
        a: &FileStamp,
        target_file: &str,
        t: &FileStamp,
        now: i64,
    ) -> bool {
        self.version == INDEX_VERSION
            && self.rules == rules
            && self.target_file == target_file
            && self.archive_stamp == a.text
            && (self.target_stamp == t.text || self.target_stamp.is_empty())
            && self.verify_at.is_none_or(|v| now < v)
            && self.copying_until.is_none_or(|c| now < c)
    }

    /// The Target's stamp to store after reading it (or having it described by a sync): kept
    /// when exact, else left unknown until a content check after the racy window.
    fn set_target(&mut self, t: &FileStamp, exact: bool, now: i64) {
        if exact || !(t.racy && t.wal) {
            self.target_stamp = t.text.clone();
            self.verify_at = None;
        } else {
            self.target_stamp.clear();
            self.verify_at = Some(t.mtime.unwrap_or(now).max(now) + RACY_WINDOW.as_secs() as i64);
        }
    }

    /// Everything but the numbers: what tells whether anything needs writing.
    fn position(&self) -> (String, String, Option<i64>, i64, i64, Option<i64>, u64) {
        (
            self.archive_stamp.clone(),
            self.target_stamp.clone(),
            self.verify_at,
            self.journal_seq,
            self.max_file_id,
            self.copying_until,
            self.rows_digest,
        )
    }

    fn set_archive(&mut self, a: &FileStamp) {
        self.archive_stamp = if a.racy {
            "racy".into()
        } else {
            a.text.clone()
        };
    }
}

/// The reference time of `copying` verdicts: the files a sync would hold back now.
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Index {
    /// Open the index of `cfg`'s archive, bringing it up to date first. Never writes
    /// archive.db or pokervod.db.
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
                let mut index = Index::with_conn(conn, path);
                index.refresh_if_stale(cfg)?;
                Ok(index)
            }
            Err(e) => Err(e),
        }
    }

    /// The index a full rebuild gives now, built in memory from both databases; the index file
    /// and its cache are left alone. What the incrementally updated index must answer like
    /// (the tests compare every answer of the two).
    pub fn rebuild_in_memory(cfg: &Config) -> Result<Index> {
        let conn = Connection::open_in_memory().ctx("in-memory match index")?;
        let mut index = Index::with_conn(conn, index_path(&cfg.archive_db_path()?));
        index.cache_file = false;
        index.refresh_if_stale(cfg)?;
        Ok(index)
    }

    fn with_conn(conn: Connection, path: PathBuf) -> Index {
        Index {
            conn,
            path,
            rebuilt: false,
            refreshed: Refresh::Current,
            full_read: None,
            search: Default::default(),
            cache_file: true,
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
        let mut index = Index::with_conn(conn, path.to_path_buf());
        index.refresh_if_stale(cfg)?;
        Ok(index)
    }

    /// Make the index current (cheap when nothing changed: a few `stat` calls; an update from
    /// the journal after a job). A long-lived process keeps one [`Index`] and calls this
    /// before each query. Sets [`Index::rebuilt`] and [`Index::refreshed`].
    pub fn refresh_if_stale(&mut self, cfg: &Config) -> Result<()> {
        let archive_db = cfg.archive_db_path()?;
        let target_db = cfg.require_target_db()?.to_path_buf();
        let rules = Rules::from_config(cfg);
        let target_file = file_identity(&target_db);
        let a = file_stamp(&archive_db);
        let t = file_stamp(&target_db);
        if Meta::read(&self.conn)?.current(&rules_hash(&rules), &a, &target_file, &t, now_unix()) {
            self.rebuilt = false;
            self.refreshed = Refresh::Current;
            self.full_read = None;
            return Ok(());
        }
        let inputs = Inputs {
            archive_db: &archive_db,
            target_db: &target_db,
            target_file: &target_file,
            rules: &rules,
            busy_timeout_secs: cfg.busy_timeout_secs,
        };
        let (refreshed, patch, why) = refresh(&mut self.conn, &inputs)?;
        self.full_read = why;
        self.rebuilt = refreshed == Refresh::Rebuilt;
        self.refreshed = refreshed;
        self.after_refresh(refreshed, patch)
    }

    /// Keep the search columns in step: patched when this handle updated the index and they
    /// were loaded, the rebuild's own columns after a rebuild, else left to the next search.
    fn after_refresh(&self, refreshed: Refresh, update: Option<Update>) -> Result<()> {
        let mut slot = self.search.lock().unwrap_or_else(|p| p.into_inner());
        match (refreshed, update) {
            (Refresh::Rebuilt, Some(Update::Full(mut data))) => {
                data.version = index_version(&self.conn)?;
                if self.cache_file {
                    data.store_cache(&self.path);
                }
                *slot = SearchSlot {
                    data: Some(Arc::new(data)),
                    pending: None,
                };
            }
            (Refresh::Updated { .. }, Some(Update::Patch { patch, from })) => {
                let version = index_version(&self.conn)?;
                match slot.data.as_ref().filter(|d| d.version == from) {
                    Some(d) => {
                        let patched = Arc::new(d.patched(&patch, version));
                        *slot = SearchSlot {
                            data: Some(patched),
                            pending: None,
                        };
                    }
                    None => {
                        slot.data = None;
                        slot.pending = Some((from, version, patch));
                    }
                }
            }
            _ => {}
        }
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
    pub(crate) fn search_data(&self) -> Result<Arc<SearchData>> {
        let version = index_version(&self.conn)?;
        let mut slot = self.search.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = slot.data.as_ref()
            && d.version == version
        {
            return Ok(d.clone());
        }
        // This handle's own update, from the previous version's cache file: a patch instead
        // of reading every item.
        if let Some((from, to, patch)) = slot.pending.take()
            && to == version
            && self.cache_file
            && let Some(base) = SearchData::read_cached(&self.path, &from)
        {
            let data = Arc::new(base.patched(&patch, version));
            data.store_cache(&self.path);
            slot.data = Some(data.clone());
            return Ok(data);
        }
        slot.data = None;
        let data = Arc::new(if self.cache_file {
            SearchData::load_cached(&self.conn, &self.path, &version)?
        } else {
            SearchData::load(&self.conn, &version)?
        });
        slot.data = Some(data.clone());
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

    /// Catalogs by rank: (rank, name), in name order.
    pub fn catalogs(&self) -> Result<Vec<(i64, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name FROM catalogs ORDER BY id")
            .ctx("index catalogs")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("index catalogs")?;
        rows.collect::<rusqlite::Result<Vec<(i64, String)>>>()
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

/// Where the index's inputs are and what it makes of them.
struct Inputs<'a> {
    archive_db: &'a Path,
    target_db: &'a Path,
    /// [`file_identity`] of `target_db`.
    target_file: &'a str,
    rules: &'a Rules,
    busy_timeout_secs: u64,
}

/// What a refresh changed, for the search columns held in memory.
enum Update {
    /// Every item was rewritten: these are the new columns.
    Full(SearchData),
    /// Some were: `patch` applies to the columns of version `from`.
    Patch { patch: Patch, from: String },
}

/// Take the index's write lock, look again, and bring it up to date the cheapest way that is
/// sound (see the module doc).
fn refresh(
    conn: &mut Connection,
    inp: &Inputs<'_>,
) -> Result<(Refresh, Option<Update>, Option<String>)> {
    let timer = Instant::now();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .ctx("lock the match index (another process may be updating it)")?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        .ctx("index meta")?;
    let from = index_version(&tx)?;
    // Stamp first, then read: if an input changes while we read it, the stored stamp is the
    // older one and the next query looks again.
    let rules = rules_hash(inp.rules);
    let a = file_stamp(inp.archive_db);
    let t = file_stamp(inp.target_db);
    let now = now_unix();
    let mut meta = Meta::read(&tx)?;
    let before = meta.position();
    if meta.current(&rules, &a, inp.target_file, &t, now) {
        // Another handle brought it up to date while we waited for the lock.
        return Ok((Refresh::Current, None, None));
    }
    let outcome = if meta.version != INDEX_VERSION || meta.rules != rules {
        Outcome::Full("new rules or a new index version".into())
    } else if meta.target_file != inp.target_file {
        // Built against another pokervod.db (or before the index recorded which): the
        // journal's batches since describe that one, or another again.
        Outcome::Full("another pokervod.db".into())
    } else {
        // On a working copy of the meta and inside a savepoint: an update that gives up
        // half-way (`Full`) leaves the index's tables and numbers exactly as they were, which
        // is what `full` compares the inputs' digests against and keeps when they are equal.
        let mut working = meta.clone();
        tx.execute_batch("SAVEPOINT journal_update")
            .ctx("match index savepoint")?;
        let outcome = from_journal(&tx, inp, &mut working, &t, now);
        match &outcome {
            Ok(Outcome::Full(_)) | Err(_) => tx
                .execute_batch("ROLLBACK TO journal_update; RELEASE journal_update")
                .ctx("match index savepoint")?,
            Ok(_) => {
                tx.execute_batch("RELEASE journal_update")
                    .ctx("match index savepoint")?;
                meta = working;
            }
        }
        outcome?
    };
    let mut why_full = None;
    let (refreshed, update) = match outcome {
        Outcome::Nothing => {
            meta.set_archive(&a);
            // Nothing to write while archive.db's stamp stays racy: no write per query.
            if meta.position() != before {
                meta.write(&tx)?;
            }
            (Refresh::Current, None)
        }
        Outcome::Deferred => return Ok((Refresh::Deferred, None, None)),
        Outcome::Updated { patch, items } => {
            meta.set_archive(&a);
            meta.generation += 1;
            meta.write(&tx)?;
            (
                Refresh::Updated { items },
                Some(Update::Patch { patch, from }),
            )
        }
        Outcome::Full(why) => {
            tracing::debug!("match index: read both databases ({why})");
            let r = full(&tx, inp, &mut meta, &a, &t, now, &rules, from)?;
            why_full = Some(why);
            r
        }
    };
    tx.commit().ctx("commit the match index")?;
    match refreshed {
        Refresh::Rebuilt => {
            // Keep the WAL from holding a second copy of the index.
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
            tracing::info!(
                "매치 인덱스 재구성: {:.1}초 ({}) / match index rebuilt",
                timer.elapsed().as_secs_f64(),
                why_full.as_deref().unwrap_or("")
            );
        }
        Refresh::Updated { items } => tracing::debug!(
            items,
            ms = timer.elapsed().as_millis() as u64,
            "match index updated"
        ),
        _ => {}
    }
    Ok((refreshed, update, why_full))
}

enum Outcome {
    Nothing,
    Deferred,
    Updated { patch: Patch, items: usize },
    Full(String),
}

/// Bring the index up to date from archive.db's journal, when the journal and the Target's
/// stamp allow it (else `Full` with the reason).
fn from_journal(
    tx: &Transaction<'_>,
    inp: &Inputs<'_>,
    meta: &mut Meta,
    t: &FileStamp,
    now: i64,
) -> Result<Outcome> {
    let Some(archive) = Archive::open_read_only(inp.archive_db)? else {
        return Ok(Outcome::Full("no archive.db yet".into()));
    };
    // One read transaction: the batches and the records they name are of the same moment.
    archive
        .conn()
        .execute_batch("BEGIN")
        .ctx("read archive.db")?;
    let outcome = journal_update(tx, inp, &archive, meta, t, now);
    let _ = archive.conn().execute_batch("COMMIT");
    outcome
}

/// [`from_journal`] inside archive.db's read transaction.
fn journal_update(
    tx: &Transaction<'_>,
    inp: &Inputs<'_>,
    archive: &Archive,
    meta: &mut Meta,
    t: &FileStamp,
    now: i64,
) -> Result<Outcome> {
    let conn = archive.conn();
    match journal::journal_id(conn)? {
        Some(id) if id == meta.journal_id => {}
        _ => return Ok(Outcome::Full("another archive.db journal".into())),
    }
    // The batch applied last is still there as it was: archive.db was not put back to an
    // older copy whose later jobs wrote other batches under the same numbers.
    match (
        journal::token_at(conn, meta.journal_seq)?,
        meta.journal_token.as_str(),
    ) {
        (Some(token), mine) if token == mine => {}
        // Gone already when the index last read the journal (pruned, or a test's delete): the
        // checks below (no gap after it, the Target's digests) are what there is.
        (None, MISSING_TOKEN) => {}
        (Some(_), _) => return Ok(Outcome::Full("another history of the journal".into())),
        (None, _) => return Ok(Outcome::Full("a gap in the journal".into())),
    }
    let Some(batches) = journal::batches_after(conn, meta.journal_seq)? else {
        return Ok(Outcome::Full("a gap in the journal".into()));
    };
    if batches.iter().any(|b| b.rebuild) {
        return Ok(Outcome::Full("a job asked for a rebuild".into()));
    }
    // A sync of this archive.db to another pokervod.db (or one that did not say which): its
    // rows are not this Target's, and this Target's content is no longer what the journal's
    // digests chain from.
    if batches
        .iter()
        .filter_map(|b| b.target.as_ref())
        .any(|seen| seen.file.as_deref() != Some(inp.target_file))
    {
        return Ok(Outcome::Full("a sync wrote another pokervod.db".into()));
    }
    // The Target as the journal says it is now: described by the last sync's commit, else as
    // the index last saw it.
    let expected = match batches.iter().rev().find_map(|b| b.target.as_ref()) {
        Some(seen) => seen.after.clone().unwrap_or_default(),
        None => meta.target_stamp.clone(),
    };
    let target_known = !expected.is_empty();
    if target_known && expected != t.text {
        if SyncLock::is_held(inp.archive_db) {
            // A sync committed and has not written its batch yet (or is about to commit).
            return Ok(Outcome::Deferred);
        }
        return Ok(Outcome::Full("pokervod.db changed outside a sync".into()));
    }
    // A sync that could not describe the Target after its commit (WAL mode): its content is
    // checked once the stamp can no longer hide another write.
    let newly_unknown = !target_known && batches.iter().any(|b| b.target.is_some());
    let verify_due = !target_known && !newly_unknown && meta.verify_at.is_none_or(|v| now >= v);
    let mut seeds = Seeds::default();
    let limit = item_count(tx)?.div_ceil(UPDATE_SHARE).max(MIN_UPDATE_LIMIT);
    // Records added since: ids only grow.
    let added = archive.file_ids_after(meta.max_file_id, limit + 1)?;
    if added.len() > limit {
        return Ok(Outcome::Full(format!("more than {limit} new files")));
    }
    if let Some(&last) = added.last() {
        meta.max_file_id = meta.max_file_id.max(last);
    }
    seeds.files.extend(added);
    // Copying verdicts that ran out.
    if meta.copying_until.is_some_and(|c| now >= c) {
        seeds.files.extend(expired_copying(tx, inp.rules, now)?);
    }
    // No `files` table yet reads as no Target (the lookups below assume the table).
    let target = Target::open_read_only(inp.target_db, inp.busy_timeout_secs)?
        .map(|t| t.check_schema().map(|exists| exists.then_some(t)))
        .transpose()?
        .flatten();
    if let Some(t) = &target {
        let work = !seeds.is_empty()
            || batches
                .iter()
                .any(|b| !b.files.is_empty() || !b.rows.is_empty());
        if work && !t.has_path_index()? {
            return Ok(Outcome::Full("pokervod.db has no index on nas_path".into()));
        }
        t.conn().execute_batch("BEGIN").ctx("read pokervod.db")?;
    }
    let result = (|| -> Result<Outcome> {
        let live = Live {
            archive: Some(archive),
            target: target.as_ref(),
        };
        let hold = Hold::at(now, inp.rules.settle_secs);
        let mut sums = Sums {
            stats: std::mem::take(&mut meta.stats),
            files_digest: meta.files_digest,
            rows_digest: meta.rows_digest,
        };
        // The Target as the syncs saw it, by content: the first planned on what the index has,
        // each next one on what the one before left, and the index ends where the last left it
        // (checked after the update below). Anything else is a write outside our syncs.
        let syncs: Vec<&journal::TargetSeen> =
            batches.iter().filter_map(|b| b.target.as_ref()).collect();
        if syncs.first().is_some_and(|s| s.digest != sums.rows_digest) {
            return Ok(Outcome::Full(
                "pokervod.db was not what the index had when a sync planned".into(),
            ));
        }
        if syncs
            .windows(2)
            .any(|w| w[0].digest_after != Some(w[1].digest))
        {
            return Ok(Outcome::Full(
                "pokervod.db changed between two syncs".into(),
            ));
        }
        let mut pending = seeds;
        for b in &batches {
            pending.files.extend(&b.files);
            pending.rows.extend(&b.rows);
        }
        if pending.len() > limit {
            return Ok(Outcome::Full(format!("more than {limit} changed records")));
        }
        let (patch, items) = if pending.is_empty() {
            (Patch::default(), 0)
        } else {
            match delta::apply(tx, &live, &pending, inp.rules, &hold, &mut sums, limit)? {
                Delta::Done { patch, items } => (patch, items),
                Delta::Rebuild(why) => return Ok(Outcome::Full(why)),
            }
        };
        if let Some(last) = syncs.last()
            && last.digest_after != Some(sums.rows_digest)
        {
            return Ok(Outcome::Full(
                "pokervod.db is not what the last sync left".into(),
            ));
        }
        if let Some(last) = batches.last() {
            meta.journal_seq = last.seq;
            meta.journal_token = last.token.clone();
        }
        // The Target: as the journal described it, or checked by content once its stamp can
        // no longer hide a write.
        if target_known {
            meta.target_stamp = expected.clone();
            meta.verify_at = None;
        } else if newly_unknown {
            meta.target_stamp.clear();
            meta.verify_at = Some(t.mtime.unwrap_or(now).max(now) + RACY_WINDOW.as_secs() as i64);
        } else if verify_due {
            let rows = target.as_ref().map_or(Ok(Vec::new()), |t| t.load_rows())?;
            if crate::target::rows_digest(&rows) != sums.rows_digest {
                return Ok(Outcome::Full(
                    "pokervod.db's content differs from the index's".into(),
                ));
            }
            meta.set_target(t, false, now);
        }
        meta.stats = sums.stats;
        meta.files_digest = sums.files_digest;
        meta.rows_digest = sums.rows_digest;
        meta.copying_until = copying_until(tx, inp.rules)?;
        Ok(if patch.is_empty() && items == 0 {
            Outcome::Nothing
        } else {
            Outcome::Updated { patch, items }
        })
    })();
    if let Some(t) = &target {
        let _ = t.conn().execute_batch("COMMIT");
    }
    result
}

fn item_count(tx: &Transaction<'_>) -> Result<usize> {
    let exists: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'items')",
            [],
            |r| r.get(0),
        )
        .ctx("index items")?;
    if !exists {
        return Ok(0);
    }
    // The largest id over the spacing: an estimate that needs no count of every row.
    let max: Option<i64> = tx
        .query_row("SELECT max(id) FROM items", [], |r| r.get(0))
        .ctx("index items")?;
    Ok(usize::try_from(max.unwrap_or(0) / tables::GAP).unwrap_or(0))
}

/// Files whose `copying` verdict has run out by `now`.
fn expired_copying(tx: &Transaction<'_>, rules: &Rules, now: i64) -> Result<Vec<i64>> {
    let mut st = tx
        .prepare_cached(
            "SELECT source_id FROM items INDEXED BY items_status
             WHERE status = ?1 AND source_id IS NOT NULL AND mtime + ?2 <= ?3",
        )
        .ctx("index: copying items")?;
    let rows = st
        .query_map(
            params![Status::Copying.code(), rules.settle_secs as i64, now],
            |r| r.get(0),
        )
        .ctx("index: copying items")?;
    rows.collect::<rusqlite::Result<Vec<i64>>>()
        .ctx("index: copying items")
}

/// When the first `copying` verdict can run out: `settle_secs` after the oldest held mtime.
fn copying_until(tx: &Transaction<'_>, rules: &Rules) -> Result<Option<i64>> {
    let oldest: Option<i64> = tx
        .query_row(
            "SELECT min(mtime) FROM items INDEXED BY items_status WHERE status = ?1",
            [Status::Copying.code()],
            |r| r.get(0),
        )
        .ctx("index: copying items")?;
    Ok(oldest.map(|m| m.saturating_add(rules.settle_secs as i64)))
}

/// Read both databases; rebuild unless their digests equal the index's. The journal's position
/// is read before the records, so a batch committed meanwhile is applied (again) later.
#[allow(clippy::too_many_arguments)]
fn full(
    tx: &Transaction<'_>,
    inp: &Inputs<'_>,
    meta: &mut Meta,
    a: &FileStamp,
    t: &FileStamp,
    now: i64,
    rules_key: &str,
    from: String,
) -> Result<(Refresh, Option<Update>)> {
    let timer = Instant::now();
    let (journal_id, journal_seq, journal_token, max_file_id) =
        match Archive::open_read_only(inp.archive_db)? {
            Some(archive) => {
                let c = archive.conn();
                // One read transaction: the number and its token of the same moment.
                c.execute_batch("BEGIN").ctx("read archive.db")?;
                let read = (|| -> Result<_> {
                    let seq = journal::last_seq(c).unwrap_or(0);
                    Ok((
                        journal::journal_id(c)?.unwrap_or_default(),
                        seq,
                        // Pruned already: no token to compare (see `journal_update`).
                        journal::token_at(c, seq)?.unwrap_or_else(|| MISSING_TOKEN.into()),
                        archive.max_file_id()?,
                    ))
                })();
                let _ = c.execute_batch("COMMIT");
                read?
            }
            None => (String::new(), 0, String::new(), 0),
        };
    let (files, _) = Archive::read_snapshot(inp.archive_db)?;
    let rows = Target::read_rows(inp.target_db, inp.busy_timeout_secs)?;
    tracing::debug!(
        ms = timer.elapsed().as_millis() as u64,
        "index: inputs read"
    );
    let fd = files_digest(&files);
    let rd = crate::target::rows_digest(&rows);
    let same = meta.version == INDEX_VERSION
        && meta.rules == rules_key
        && meta.files_digest == fd
        && meta.rows_digest == rd
        && !meta.built_at.is_empty();
    meta.journal_id = journal_id;
    meta.journal_seq = journal_seq;
    meta.journal_token = journal_token;
    meta.target_file = inp.target_file.to_string();
    meta.max_file_id = max_file_id;
    meta.set_archive(a);
    meta.set_target(t, !t.wal, now);
    if same {
        // The inputs were touched (a checkpoint, an edit undone) but say the same. Only the
        // copying verdicts that ran out need another look.
        let mut refreshed = Refresh::Current;
        let mut update = None;
        if meta.copying_until.is_some_and(|c| now >= c) {
            let seeds = Seeds {
                files: expired_copying(tx, inp.rules, now)?.into_iter().collect(),
                rows: Default::default(),
            };
            let archive = Archive::open_read_only(inp.archive_db)?;
            let target = Target::open_read_only(inp.target_db, inp.busy_timeout_secs)?
                .map(|t| t.check_schema().map(|exists| exists.then_some(t)))
                .transpose()?
                .flatten();
            let live = Live {
                archive: archive.as_ref(),
                target: target.as_ref(),
            };
            let mut sums = Sums {
                stats: std::mem::take(&mut meta.stats),
                files_digest: meta.files_digest,
                rows_digest: meta.rows_digest,
            };
            let hold = Hold::at(now, inp.rules.settle_secs);
            match delta::apply(tx, &live, &seeds, inp.rules, &hold, &mut sums, usize::MAX)? {
                Delta::Done { patch, items } => {
                    meta.stats = sums.stats;
                    meta.generation += 1;
                    refreshed = Refresh::Updated { items };
                    update = Some(Update::Patch { patch, from });
                }
                Delta::Rebuild(_) => return rebuild(tx, inp, meta, &files, &rows, now, fd, rd),
            }
            meta.copying_until = copying_until(tx, inp.rules)?;
        }
        meta.write(tx)?;
        tracing::debug!(
            ms = timer.elapsed().as_millis() as u64,
            "match index: inputs touched but unchanged"
        );
        return Ok((refreshed, update));
    }
    rebuild(tx, inp, meta, &files, &rows, now, fd, rd)
}

#[allow(clippy::too_many_arguments)]
fn rebuild(
    tx: &Transaction<'_>,
    inp: &Inputs<'_>,
    meta: &mut Meta,
    files: &[crate::archive::FileRecord],
    rows: &[crate::target::TargetRow],
    now: i64,
    files_digest: u64,
    rows_digest: u64,
) -> Result<(Refresh, Option<Update>)> {
    let timer = Instant::now();
    // Files still being written, as a sync starting now would judge them by their mtime.
    let hold = Hold::at(now, inp.rules.settle_secs);
    let copying = files
        .iter()
        .filter(|f| hold.holds(f))
        .map(|f| hold.stable_at(f))
        .min();
    let built = verdicts::build(files, rows, inp.rules, &hold);
    tracing::debug!(
        ms = timer.elapsed().as_millis() as u64,
        "index: built in memory"
    );
    let data = tables::write(tx, &built)?;
    tracing::debug!(ms = timer.elapsed().as_millis() as u64, "index: written");
    meta.version = INDEX_VERSION;
    meta.rules = rules_hash(inp.rules);
    meta.files_digest = files_digest;
    meta.rows_digest = rows_digest;
    meta.copying_until = copying;
    meta.stats = built.stats.clone();
    meta.built_at = crate::clock::iso(chrono::Utc::now());
    meta.generation = 0;
    meta.write(tx)?;
    tracing::debug!(items = built.items.len(), "index: rebuilt");
    Ok((Refresh::Rebuilt, Some(Update::Full(data))))
}

/// `a/b/c.mp4` → (`a/b`, `c.mp4`); `c.mp4` → (``, `c.mp4`).
pub fn split_dir(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    }
}
