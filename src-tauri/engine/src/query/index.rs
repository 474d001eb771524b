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

use rustc_hash::{FxHashMap, FxHashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Transaction, params};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::archive::{Archive, FileRecord};
use crate::config::Config;
use crate::error::{Error, Result, SqlContext};
use crate::names::{self, Kind};
use crate::rules::{self, Action, Event, Role, Rules};
use crate::target::{Target, TargetRow};

/// Bump when the index's tables or the meaning of a column change: an older index is rebuilt.
const INDEX_VERSION: i64 = 3;

/// A row's status in the 1:1 matching table. The order is the `sort=status` order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[ts(rename = "MatchStatus")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The primary of its name group, and its Target row is exactly right.
    Synced,
    /// Synced, and other eligible files share its name (they are `Duplicate`).
    SyncedWithDuplicates,
    /// Eligible primary with no Target row yet: the next sync inserts it.
    New,
    /// Has a Target row that the next sync rewrites (size/media update, move, re-point, restore).
    Changed,
    /// A Target row no current primary holds: soft-deleted, or soft-deleted by the next sync.
    Deleted,
    /// Eligible, but another file of the same name is synced instead.
    Duplicate,
    /// Not eligible (format, subtitle, not a video, codec).
    NotSynced,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Synced,
        Status::SyncedWithDuplicates,
        Status::New,
        Status::Changed,
        Status::Deleted,
        Status::Duplicate,
        Status::NotSynced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Synced => "synced",
            Status::SyncedWithDuplicates => "synced_with_duplicates",
            Status::New => "new",
            Status::Changed => "changed",
            Status::Deleted => "deleted",
            Status::Duplicate => "duplicate",
            Status::NotSynced => "not_synced",
        }
    }

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(c: i64) -> Status {
        Status::ALL
            .get(usize::try_from(c).unwrap_or(0))
            .copied()
            .unwrap_or(Status::NotSynced)
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.iter().copied().find(|st| st.as_str() == s)
    }
}

/// Counts by status, in [`Status::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts(pub [u64; 7]);

impl Counts {
    pub fn get(&self, s: Status) -> u64 {
        self.0[s as usize]
    }
    pub fn add(&mut self, s: Status, n: u64) {
        self.0[s as usize] += n;
    }
    pub fn merge(&mut self, o: &Counts) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a += b;
        }
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// Source files only (every status but `deleted`, which is a Target-only row).
    pub fn source_files(&self) -> u64 {
        self.total() - self.get(Status::Deleted)
    }
}

/// Whole-archive numbers for the dashboard, computed with the index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub source_files: u64,
    pub source_size_bytes: u64,
    pub by_type: std::collections::BTreeMap<String, u64>,
    /// Source files per catalog.
    pub catalogs: Vec<(String, u64)>,
    pub target_active: u64,
    pub target_by_format: std::collections::BTreeMap<String, u64>,
    /// Video files that are not eligible.
    pub non_hls: u64,
    /// Eligible files with an HLS extension whose probed codec HLS cannot play.
    pub needs_transcode: u64,
    pub counts: Counts,
}

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

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
DROP TABLE IF EXISTS items;
DROP TABLE IF EXISTS search;
DROP TABLE IF EXISTS blobs;
DROP TABLE IF EXISTS dirs;
DROP TABLE IF EXISTS catalogs;
DROP TABLE IF EXISTS counts;
-- One row per matching-table item. id = position in path byte order (1-based).
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    status INTEGER NOT NULL,
    catalog INTEGER NOT NULL,
    dir_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    reason_code TEXT NOT NULL,
    -- NULL: the code's standard text.
    reason TEXT,
    warning TEXT,
    source_id INTEGER,
    codec TEXT,
    width INTEGER,
    height INTEGER,
    duration REAL,
    target_id INTEGER,
    -- NULL: equal to path.
    t_path TEXT,
    t_size INTEGER,
    t_hls INTEGER,
    t_status TEXT,
    primary_item INTEGER,
    dup_count INTEGER NOT NULL,
    path TEXT NOT NULL
);
-- The search reads packed columns (one blob each, see `SearchData`) into memory: a substring
-- search over a million names is then one memmem pass instead of a million-row table scan.
CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
-- Directories with aggregate counts of everything below them. id 0 is the root ("").
CREATE TABLE dirs (
    id INTEGER PRIMARY KEY,
    parent INTEGER,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    counts TEXT NOT NULL,
    files INTEGER NOT NULL
);
-- Catalogs in name (byte) order; id = rank, used for sort=catalog.
CREATE TABLE catalogs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE counts (
    catalog INTEGER NOT NULL,
    status INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (catalog, status)
) WITHOUT ROWID;
"#;

/// Indexes created after the bulk insert (faster than maintaining them row by row). Queries
/// name the index they use (`INDEXED BY`): one per sort key, carrying status and catalog so a
/// filter is checked inside the index without reading the table.
const INDEXES: &str = r#"
CREATE INDEX items_status ON items(status, id, catalog);
CREATE INDEX items_catalog ON items(catalog, id, status);
CREATE INDEX items_size ON items(size, id, status, catalog);
CREATE INDEX items_mtime ON items(mtime, id, status, catalog);
CREATE INDEX items_dir ON items(dir_id, id);
CREATE INDEX items_primary ON items(primary_item) WHERE primary_item IS NOT NULL;
CREATE INDEX dirs_parent ON dirs(parent, name);
"#;

/// A write this close to the stamp may share its mtime with a later write (coarse timestamps,
/// FAT's 2 s, SMB attribute caching): such a stamp is "racy" and is never trusted.
const RACY_WINDOW: Duration = Duration::from_secs(3);

/// A cheap stamp of one SQLite database file: size, mtime and header bytes of the file and of
/// its `-wal`. A committed write changes at least one of them, except that in WAL mode SQLite
/// leaves the header alone and a same-size write can differ from the last one only in mtime —
/// hence [`RACY_WINDOW`]. Returns whether the stamp is racy.
fn file_stamp(h: &mut Xxh3, path: &Path, now: std::time::SystemTime) -> bool {
    let mut racy = false;
    for suffix in ["", "-wal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            // A missing and an empty `-wal` mean the same (a reader may create an empty one).
            Ok(m) if m.len() > 0 => {
                h.update(&m.len().to_le_bytes());
                let modified = m.modified().ok();
                racy |= match modified {
                    Some(t) => now.duration_since(t).map_or(true, |age| age < RACY_WINDOW),
                    None => true,
                };
                let mtime = modified
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                h.update(&mtime.to_le_bytes());
                // Database header (change counter at 24..28) or WAL header (checkpoint
                // sequence and salts).
                let mut head = [0u8; 100];
                if let Ok(mut f) = std::fs::File::open(&p) {
                    let n = f.read(&mut head).unwrap_or(0);
                    h.update(&head[..n]);
                }
            }
            _ => h.update(b"empty"),
        }
    }
    racy
}

fn rules_hash(h: &mut Xxh3, rules: &Rules) {
    h.update(&INDEX_VERSION.to_le_bytes());
    h.update(&[u8::from(rules.hls_only), u8::from(rules.strict_codec_check)]);
    for e in &rules.hls_extensions {
        h.update(e.as_bytes());
        h.update(b"\0");
    }
}

/// The inputs' stamp; `None` when it is racy (a file changed within [`RACY_WINDOW`]), which
/// never equals a stored stamp, so the content digest decides.
fn stamp(archive_db: &Path, target_db: &Path, rules: &Rules) -> Option<String> {
    let now = std::time::SystemTime::now();
    let mut h = Xxh3::new();
    let mut racy = file_stamp(&mut h, archive_db, now);
    h.update(b"|");
    racy |= file_stamp(&mut h, target_db, now);
    h.update(b"|");
    rules_hash(&mut h, rules);
    (!racy).then(|| format!("{:016x}", h.digest()))
}

/// Digest of everything the index is computed from.
fn digest(files: &[FileRecord], rows: &[TargetRow], rules: &Rules) -> String {
    let mut h = Xxh3::new();
    rules_hash(&mut h, rules);
    for f in files {
        h.update(&f.id.to_le_bytes());
        h.update(f.path.as_bytes());
        h.update(b"\0");
        h.update(&f.size.to_le_bytes());
        h.update(&f.mtime.to_le_bytes());
        h.update(&f.first_seen.to_le_bytes());
        h.update(&f.target_id.unwrap_or(-1).to_le_bytes());
        h.update(f.media.codec.as_deref().unwrap_or("\u{1}").as_bytes());
        h.update(&f.media.width.unwrap_or(-1).to_le_bytes());
        h.update(&f.media.height.unwrap_or(-1).to_le_bytes());
        h.update(&f.media.duration_sec.unwrap_or(-1.0).to_le_bytes());
    }
    h.update(b"|rows|");
    for r in rows {
        h.update(&r.id.to_le_bytes());
        for s in [&r.nas_path, &r.filename, &r.catalog, &r.format] {
            h.update(s.as_bytes());
            h.update(b"\0");
        }
        h.update(&r.size_bytes.to_le_bytes());
        h.update(&[u8::from(r.hls_compatible), u8::from(r.active)]);
        h.update(r.codec.as_deref().unwrap_or("\u{1}").as_bytes());
        h.update(&r.width.unwrap_or(-1).to_le_bytes());
        h.update(&r.height.unwrap_or(-1).to_le_bytes());
        h.update(&r.duration_sec.unwrap_or(-1.0).to_le_bytes());
    }
    format!("{:016x}", h.digest())
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

/// Search key: Unicode NFC, then lowercase (the same folding as duplicate names).
pub fn search_key(s: &str) -> String {
    names::name_key(s)
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
        if current.is_some() && meta_get(&self.conn, "stamp")? == current {
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

/// The one long-lived [`Index`] of a process that answers screens (the server's handlers, the
/// desktop app's commands): opened on first use, refreshed before each use, dropped when the
/// settings change. Cloning shares it.
#[derive(Clone, Default)]
pub struct SharedIndex(std::sync::Arc<std::sync::Mutex<Option<Index>>>);

impl SharedIndex {
    /// Run `f` on the index, opening it or making it current first. Blocks (run it off an async
    /// executor); a second caller waits for a rebuild in progress instead of starting another.
    pub fn with<T>(&self, cfg: &Config, f: impl FnOnce(&Index) -> Result<T>) -> Result<T> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(index) => index.refresh_if_stale(cfg)?,
            None => *guard = Some(Index::open(cfg)?),
        }
        match guard.as_ref() {
            Some(index) => f(index),
            None => Err(Error::Cancelled),
        }
    }

    /// Forget the index (the settings changed); the next use opens it again.
    pub fn reset(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Open the index now on a background thread, so the first screen after a start does not
    /// wait for a rebuild (about 10 s at a million files). Does nothing until a Target is set;
    /// a failure is logged and left to the first query, which reports it.
    pub fn warm_in_background(&self, cfg: Config) -> Option<std::thread::JoinHandle<()>> {
        if cfg.root.is_none() || cfg.target_db.is_none() {
            return None;
        }
        let shared = self.clone();
        std::thread::Builder::new()
            .name("index-warm".into())
            .spawn(move || {
                let started = Instant::now();
                match shared.with(&cfg, |index| Ok(index.rebuilt)) {
                    Ok(rebuilt) => tracing::debug!(
                        "매치 인덱스 준비 {:.1}초 (재구성: {rebuilt}) / match index ready",
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => tracing::warn!("매치 인덱스 준비 실패 / match index warm-up: {e}"),
                }
            })
            .ok()
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
    if current.is_some() && meta_get(&tx, "stamp")? == current {
        tx.commit().ctx("index")?;
        return Ok(false);
    }
    let (files, _) = Archive::read_snapshot(archive_db)?;
    let rows = Target::read_rows(target_db, cfg.busy_timeout_secs)?;
    tracing::debug!(
        ms = timer.elapsed().as_millis() as u64,
        "index: inputs read"
    );
    let dig = digest(&files, &rows, rules);
    tracing::debug!(ms = timer.elapsed().as_millis() as u64, "index: digest");
    let version_ok = meta_get(&tx, "version")?.as_deref() == Some(&INDEX_VERSION.to_string());
    if version_ok && meta_get(&tx, "digest")?.as_deref() == Some(dig.as_str()) {
        meta_set(&tx, "stamp", &stored_stamp)?;
        tx.commit().ctx("index")?;
        tracing::debug!(
            ms = timer.elapsed().as_millis() as u64,
            "match index: inputs touched but unchanged"
        );
        return Ok(false);
    }
    let built = build(&files, &rows, rules);
    tracing::debug!(
        ms = timer.elapsed().as_millis() as u64,
        "index: built in memory"
    );
    write(&tx, &built)?;
    tracing::debug!(ms = timer.elapsed().as_millis() as u64, "index: written");
    meta_set(&tx, "version", &INDEX_VERSION.to_string())?;
    meta_set(&tx, "digest", &dig)?;
    meta_set(&tx, "stamp", &stored_stamp)?;
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

/// One item as computed in memory; strings are borrowed from the inputs.
struct Item<'a> {
    status: Status,
    path: &'a str,
    reason_code: &'static str,
    /// `None`: the code's standard text ([`standard_reason`]).
    reason: Option<String>,
    warning: Option<String>,
    source: Option<usize>,
    target: Option<usize>,
    /// Index into `files` of the primary (duplicates).
    primary: Option<usize>,
    dup_count: i64,
}

struct Built<'a> {
    items: Vec<Item<'a>>,
    stats: Stats,
    files: &'a [FileRecord],
    rows: &'a [TargetRow],
}

/// The text of reason codes whose reason never varies (stored once here, not per row).
pub fn standard_reason(code: &str) -> Option<&'static str> {
    Some(match code {
        "synced" => "동기화됨",
        "pending_insert" => "새 파일 — 다음 동기화 때 추가됩니다",
        "pending_restore" => "NAS에 다시 있음 — 다음 동기화 때 복원됩니다",
        "deleted" => "삭제됨 — NAS에 파일 없음 (소프트 삭제)",
        "pending_delete" => "NAS에 파일 없음 — 다음 동기화 때 삭제 처리됩니다",
        "pending_delete_excluded" => {
            "NAS 파일이 동기화 대상이 아님 — 다음 동기화 때 삭제 처리됩니다"
        }
        _ => return None,
    })
}

fn human_size(n: i64) -> String {
    let n = n.max(0) as f64;
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{} B", n as i64)
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Why the next sync rewrites a row at the file's own path: the first difference found.
fn update_reason(f: &FileRecord, row: &TargetRow, rules: &Rules) -> String {
    let d = rules::desired(f, rules);
    let tail = "다음 동기화 때 갱신됩니다";
    if row.size_bytes != d.size_bytes {
        return format!(
            "크기 변경 ({} → {}) — {tail}",
            human_size(row.size_bytes),
            human_size(d.size_bytes)
        );
    }
    if row.format != d.format || row.hls_compatible != d.hls_compatible {
        return format!("형식 정보 변경 ({} → {}) — {tail}", row.format, d.format);
    }
    if row.filename != d.filename || row.catalog != d.catalog {
        return format!("이름/카탈로그 정보 변경 — {tail}");
    }
    format!("미디어 정보 변경 (코덱·해상도·길이) — {tail}")
}

fn build<'a>(files: &'a [FileRecord], rows: &'a [TargetRow], rules: &Rules) -> Built<'a> {
    let t0 = Instant::now();
    let plan = rules::plan(files, rows, rules);
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "index: plan");
    let row_by_id: FxHashMap<i64, usize> =
        rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let mut events: FxHashMap<usize, (Event, &str)> = FxHashMap::default();
    for a in &plan.actions {
        if let Action::Update {
            file,
            event,
            old_path,
            ..
        } = a
        {
            events.insert(*file, (*event, old_path.as_str()));
        }
    }
    let mut dup_count: FxHashMap<usize, i64> = FxHashMap::default();
    for role in &plan.roles {
        if let Role::Duplicate { primary } = role {
            *dup_count.entry(*primary).or_default() += 1;
        }
    }

    let mut stats = Stats::default();
    let mut by_type = [0u64; 3];
    let mut catalog_counts: FxHashMap<&str, u64> = FxHashMap::default();
    let mut claimed_rows = vec![false; rows.len()];
    let mut items: Vec<Item<'a>> = Vec::with_capacity(files.len() + rows.len() / 16);
    for (i, (f, role)) in files.iter().zip(plan.roles).enumerate() {
        stats.source_files += 1;
        stats.source_size_bytes += f.size.max(0) as u64;
        let kind = f.kind();
        by_type[kind as usize] += 1;
        *catalog_counts.entry(f.catalog()).or_default() += 1;
        let warning = if kind == Kind::Video && f.media.codec.is_some() {
            rules.codec_warning(f)
        } else {
            None
        };
        let mut target = None;
        let mut primary = None;
        let (status, code, reason) = match role {
            Role::NotEligible { reason, code } => {
                if kind == Kind::Video {
                    stats.non_hls += 1;
                }
                (Status::NotSynced, code, Some(reason))
            }
            Role::Duplicate { primary: p } => {
                primary = Some(p);
                (
                    Status::Duplicate,
                    "duplicate_name",
                    Some(format!(
                        "중복 파일명 — 대표 파일 {}만 동기화",
                        files[p].path
                    )),
                )
            }
            Role::Primary { row: None } => (Status::New, "pending_insert", None),
            Role::Primary { row: Some(id) } => {
                let ri = row_by_id.get(&id).copied();
                if let Some(ri) = ri {
                    claimed_rows[ri] = true;
                }
                target = ri;
                match events.get(&i) {
                    Some((Event::Moved, old)) => (
                        Status::Changed,
                        "pending_move",
                        Some(format!(
                            "이동됨 (이전 경로 {old}) — 다음 동기화 때 경로를 바꿉니다"
                        )),
                    ),
                    Some((Event::Restored, _)) => (Status::Changed, "pending_restore", None),
                    Some(_) => (
                        Status::Changed,
                        "pending_update",
                        Some(match ri {
                            Some(ri) => update_reason(f, &rows[ri], rules),
                            None => "다음 동기화 때 갱신됩니다".to_string(),
                        }),
                    ),
                    None => match dup_count.get(&i) {
                        Some(&n) => (
                            Status::SyncedWithDuplicates,
                            "synced_with_duplicates",
                            Some(format!("동기화됨 — 같은 이름의 파일 {n}개는 제외")),
                        ),
                        None => (Status::Synced, "synced", None),
                    },
                }
            }
        };
        if warning.is_some() && status != Status::NotSynced {
            stats.needs_transcode += 1;
        }
        items.push(Item {
            status,
            path: &f.path,
            reason_code: code,
            reason,
            warning,
            source: Some(i),
            target,
            primary,
            dup_count: dup_count.get(&i).copied().unwrap_or(0),
        });
    }
    let source_sorted = items.len();
    let source_paths: FxHashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for (ri, r) in rows.iter().enumerate() {
        if r.active {
            stats.target_active += 1;
            *stats.target_by_format.entry(r.format.clone()).or_default() += 1;
        }
        if claimed_rows[ri] {
            continue;
        }
        let code = if !r.active {
            "deleted"
        } else if source_paths.contains(r.nas_path.as_str()) {
            "pending_delete_excluded"
        } else {
            "pending_delete"
        };
        items.push(Item {
            status: Status::Deleted,
            path: &r.nas_path,
            reason_code: code,
            reason: None,
            warning: None,
            source: None,
            target: Some(ri),
            primary: None,
            dup_count: 0,
        });
    }
    // Path byte order; a Target-only row at a Source file's path sorts after the file. Files
    // arrive sorted by path: then only the Target-only rows need sorting and a merge.
    let cmp = |a: &Item<'_>, b: &Item<'_>| {
        a.path
            .as_bytes()
            .cmp(b.path.as_bytes())
            .then(a.source.is_none().cmp(&b.source.is_none()))
            .then(
                a.target
                    .map(|t| rows[t].id)
                    .cmp(&b.target.map(|t| rows[t].id)),
            )
    };
    if items[..source_sorted].is_sorted_by(|a, b| cmp(a, b).is_le()) {
        let mut extra = items.split_off(source_sorted);
        extra.sort_by(cmp);
        let mut merged = Vec::with_capacity(items.len() + extra.len());
        let mut a = items.into_iter().peekable();
        let mut b = extra.into_iter().peekable();
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => cmp(x, y).is_le(),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            if let Some(it) = next {
                merged.push(it);
            }
        }
        items = merged;
    } else {
        items.sort_by(cmp);
    }
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "index: items");
    for (k, n) in [Kind::Video, Kind::Subtitle, Kind::Other]
        .iter()
        .zip(by_type)
    {
        stats.by_type.insert(k.as_str().to_string(), n);
    }
    let mut catalogs: Vec<(String, u64)> = catalog_counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    catalogs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    stats.catalogs = catalogs;
    for it in &items {
        stats.counts.add(it.status, 1);
    }
    Built {
        items,
        stats,
        files,
        rows,
    }
}

/// `a/b/c.mp4` → (`a/b`, `c.mp4`); `c.mp4` → (``, `c.mp4`).
pub fn split_dir(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    }
}

fn write(tx: &Transaction<'_>, b: &Built<'_>) -> Result<()> {
    tx.execute_batch(SCHEMA).ctx("create the match index")?;

    // Catalog ranks in byte order.
    let mut cats: Vec<&str> = b.items.iter().map(|i| names::catalog(i.path)).collect();
    cats.sort_unstable();
    cats.dedup();
    let cat_rank: FxHashMap<&str, i64> = cats
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, i as i64))
        .collect();
    {
        let mut st = tx
            .prepare("INSERT INTO catalogs (id, name) VALUES (?1, ?2)")
            .ctx("index catalogs")?;
        for (i, c) in cats.iter().enumerate() {
            st.execute(params![i as i64, c]).ctx("index catalogs")?;
        }
    }

    // Directories: every ancestor of every item, with counts of everything below.
    let mut dir_ids: FxHashMap<&str, usize> = FxHashMap::default();
    let mut dirs: Vec<(&str, Option<usize>, Counts, i64)> = vec![("", None, Counts::default(), 0)];
    dir_ids.insert("", 0);
    let mut item_dir: Vec<usize> = Vec::with_capacity(b.items.len());
    let mut last: (&str, usize) = ("", 0);
    for it in &b.items {
        let dir = split_dir(it.path).0;
        // Items in path order mostly come in runs of the same directory.
        let id = if dir == last.0 {
            last.1
        } else {
            let id = ensure_dir(dir, &mut dir_ids, &mut dirs);
            last = (dir, id);
            id
        };
        item_dir.push(id);
        dirs[id].3 += 1;
        let mut cur = Some(id);
        while let Some(d) = cur {
            dirs[d].2.add(it.status, 1);
            cur = dirs[d].1;
        }
    }
    {
        let mut st = tx
            .prepare(
                "INSERT INTO dirs (id, parent, path, name, key, counts, files)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .ctx("index dirs")?;
        for (i, (path, parent, counts, files)) in dirs.iter().enumerate() {
            st.execute(params![
                i as i64,
                parent.map(|p| p as i64),
                path,
                split_dir(path).1,
                search_key(path),
                serde_json::to_string(counts).unwrap_or_default(),
                files
            ])
            .ctx("index dirs")?;
        }
    }
    tracing::debug!("index: dirs written");

    // Item ids are positions in path order; a duplicate's primary is found by source index.
    let mut item_of_source: Vec<i64> = vec![0; b.files.len()];
    for (n, it) in b.items.iter().enumerate() {
        if let Some(s) = it.source {
            item_of_source[s] = n as i64 + 1;
        }
    }
    let mut counts: FxHashMap<(i64, i64), i64> = FxHashMap::default();
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO items (id, status, catalog, dir_id, size, mtime, reason_code,
                    reason, warning, source_id, codec, width, height, duration, target_id,
                    t_path, t_size, t_hls, t_status, primary_item, dup_count, path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                    ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            )
            .ctx("index items")?;
        let mut packed = Packed::with_capacity(b.items.len());
        for (n, it) in b.items.iter().enumerate() {
            let id = n as i64 + 1;
            let cat = cat_rank.get(names::catalog(it.path)).copied().unwrap_or(0);
            let f = it.source.map(|s| &b.files[s]);
            let r = it.target.map(|t| &b.rows[t]);
            let (size, mtime) = match (f, r) {
                (Some(f), _) => (f.size, f.mtime),
                (None, Some(r)) => (r.size_bytes, 0),
                (None, None) => (0, 0),
            };
            let status = it.status.code();
            *counts.entry((cat, status)).or_default() += 1;
            ins.execute(params![
                id,
                status,
                cat,
                item_dir[n] as i64,
                size,
                mtime,
                it.reason_code,
                it.reason,
                it.warning,
                f.map(|f| f.id),
                f.and_then(|f| f.media.codec.as_deref()),
                f.and_then(|f| f.media.width),
                f.and_then(|f| f.media.height),
                f.and_then(|f| f.media.duration_sec),
                r.map(|r| r.id),
                r.map(|r| r.nas_path.as_str()).filter(|p| *p != it.path),
                r.map(|r| r.size_bytes),
                r.map(|r| r.hls_compatible),
                r.map(|r| if r.active { "active" } else { "deleted" }),
                it.primary.map(|p| item_of_source[p]),
                it.dup_count,
                it.path,
            ])
            .ctx("index items")?;
            packed.push(
                &search_key(split_dir(it.path).1),
                status,
                cat,
                item_dir[n],
                size,
                mtime,
            );
        }
        let dir_keys: Vec<String> = dirs.iter().map(|d| search_key(d.0)).collect();
        packed.store(tx, &dir_keys)?;
    }
    {
        let mut st = tx
            .prepare("INSERT INTO counts (catalog, status, n) VALUES (?1, ?2, ?3)")
            .ctx("index counts")?;
        for ((c, s), n) in &counts {
            st.execute(params![c, s, n]).ctx("index counts")?;
        }
    }
    tracing::debug!("index: rows inserted");
    tx.execute_batch(INDEXES).ctx("index the match index")?;
    tracing::debug!("index: indexes created");
    Ok(())
}

/// The search's columns, packed while the items are written (see [`SearchData`]).
struct Packed {
    names: Vec<u8>,
    status: Vec<u8>,
    catalog: Vec<u8>,
    dir: Vec<u8>,
    size: Vec<u8>,
    mtime: Vec<u8>,
}

impl Packed {
    fn with_capacity(n: usize) -> Packed {
        Packed {
            names: Vec::with_capacity(n * 40),
            status: Vec::with_capacity(n),
            catalog: Vec::with_capacity(n * 4),
            dir: Vec::with_capacity(n * 4),
            size: Vec::with_capacity(n * 8),
            mtime: Vec::with_capacity(n * 8),
        }
    }

    fn push(&mut self, key: &str, status: i64, catalog: i64, dir: usize, size: i64, mtime: i64) {
        // A path never holds NUL, so it separates the names and no match can span two.
        self.names.extend_from_slice(key.as_bytes());
        self.names.push(0);
        self.status.push(status as u8);
        self.catalog
            .extend_from_slice(&(catalog as u32).to_le_bytes());
        self.dir.extend_from_slice(&(dir as u32).to_le_bytes());
        self.size.extend_from_slice(&size.to_le_bytes());
        self.mtime.extend_from_slice(&mtime.to_le_bytes());
    }

    fn store(self, tx: &Transaction<'_>, dir_keys: &[String]) -> Result<()> {
        let mut keys = Vec::with_capacity(dir_keys.iter().map(|k| k.len() + 1).sum());
        for k in dir_keys {
            keys.extend_from_slice(k.as_bytes());
            keys.push(0);
        }
        let mut st = tx
            .prepare("INSERT INTO blobs (name, data) VALUES (?1, ?2)")
            .ctx("index search columns")?;
        for (name, data) in [
            ("names", &self.names),
            ("status", &self.status),
            ("catalog", &self.catalog),
            ("dir", &self.dir),
            ("size", &self.size),
            ("mtime", &self.mtime),
            ("dir_keys", &keys),
        ] {
            st.execute(params![name, data])
                .ctx("index search columns")?;
        }
        Ok(())
    }
}

/// What a search needs of every item, in item order (item id = position + 1), loaded once per
/// index version: lowercase NFC file names (NUL-separated), status, catalog rank, directory,
/// size and mtime; and each directory's lowercase NFC path.
pub(crate) struct SearchData {
    /// The index version these columns belong to (its `built_at` + `digest`).
    version: String,
    pub names: Vec<u8>,
    /// Start of each item's name in `names`.
    pub starts: Vec<u32>,
    pub status: Vec<u8>,
    pub catalog: Vec<u32>,
    pub dir: Vec<u32>,
    pub size: Vec<i64>,
    pub mtime: Vec<i64>,
    pub dir_keys: Vec<String>,
}

fn index_version(conn: &Connection) -> Result<String> {
    Ok(format!(
        "{}/{}",
        meta_get(conn, "built_at")?.unwrap_or_default(),
        meta_get(conn, "digest")?.unwrap_or_default()
    ))
}

/// The search columns' cache file beside the index (`archive.index.db.search`): the same bytes
/// as the `blobs` table, in one plain file a per-call process (the CLI) reads in a few ms
/// instead of pulling ~65 MB of blob pages through SQLite. Only a cache: it names the index
/// version it was written from and is ignored unless that is the current one.
fn search_cache_path(index: &Path) -> PathBuf {
    let mut p = index.as_os_str().to_owned();
    p.push(".search");
    PathBuf::from(p)
}

const SEARCH_CACHE_MAGIC: &[u8; 8] = b"NSMSRC01";

impl SearchData {
    /// The columns of index version `version`: from the cache file when it holds that version,
    /// else from the index (and then written to the cache file, when the folder allows).
    fn load_cached(conn: &Connection, index: &Path, version: &str) -> Result<SearchData> {
        let cache = search_cache_path(index);
        match SearchData::read_cache(&cache) {
            Ok(Some(data)) if data.version == version => return Ok(data),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "search cache unreadable; reading the index"),
        }
        let data = SearchData::load(conn)?;
        if let Err(e) = data.write_cache(&cache) {
            tracing::debug!(error = %e, "search cache not written");
        }
        Ok(data)
    }

    fn write_cache(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        let le32 = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let le64 = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut keys = Vec::new();
        for k in &self.dir_keys {
            keys.extend_from_slice(k.as_bytes());
            keys.push(0);
        }
        let parts: [&[u8]; 9] = [
            self.version.as_bytes(),
            &self.names,
            &le32(&self.starts),
            &self.status,
            &le32(&self.catalog),
            &le32(&self.dir),
            &le64(&self.size),
            &le64(&self.mtime),
            &keys,
        ];
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(SEARCH_CACHE_MAGIC)?;
        for part in parts {
            f.write_all(&(part.len() as u64).to_le_bytes())?;
            f.write_all(part)?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_data().ok();
        // Atomic replace: a reader sees the old file or the new one, never half of one.
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    fn read_cache(path: &Path) -> std::io::Result<Option<SearchData>> {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => std::io::BufReader::with_capacity(1 << 20, f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = std::fs::metadata(path)?.len();
        let mut magic = [0u8; 8];
        f.read_exact(&mut magic)?;
        if &magic != SEARCH_CACHE_MAGIC {
            return Ok(None);
        }
        let mut part = || -> std::io::Result<Vec<u8>> {
            let mut n = [0u8; 8];
            f.read_exact(&mut n)?;
            let n = u64::from_le_bytes(n);
            if n > len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "search cache part longer than the file",
                ));
            }
            let mut v = vec![0u8; n as usize];
            f.read_exact(&mut v)?;
            Ok(v)
        };
        let version = String::from_utf8_lossy(&part()?).into_owned();
        let names = part()?;
        let starts = u32s(part()?);
        let status = part()?;
        let catalog = u32s(part()?);
        let dir = u32s(part()?);
        let size = i64s(part()?);
        let mtime = i64s(part()?);
        let keys = part()?;
        let n = status.len();
        if starts.len() != n
            || catalog.len() != n
            || dir.len() != n
            || size.len() != n
            || mtime.len() != n
        {
            return Ok(None);
        }
        Ok(Some(SearchData {
            version,
            names,
            starts,
            status,
            catalog,
            dir,
            size,
            mtime,
            dir_keys: split_keys(&keys),
        }))
    }

    fn load(conn: &Connection) -> Result<SearchData> {
        // Read in one transaction so all columns come from the same index version.
        conn.execute_batch("BEGIN").ctx("read the search columns")?;
        let read = || -> Result<SearchData> {
            let version = index_version(conn)?;
            let mut st = conn
                .prepare_cached("SELECT data FROM blobs WHERE name = ?1")
                .ctx("read the search columns")?;
            let mut blob = |name: &str| -> Result<Vec<u8>> {
                st.query_row([name], |r| r.get::<_, Vec<u8>>(0))
                    .ctx(&format!("read the search column {name}"))
            };
            let names = blob("names")?;
            let status = blob("status")?;
            let catalog = u32s(blob("catalog")?);
            let dir = u32s(blob("dir")?);
            let size = i64s(blob("size")?);
            let mtime = i64s(blob("mtime")?);
            let keys = blob("dir_keys")?;
            let dir_keys = split_keys(&keys);
            let mut starts = Vec::with_capacity(status.len());
            if !status.is_empty() {
                starts.push(0u32);
            }
            starts.extend(
                memchr::memchr_iter(0, &names)
                    .map(|p| (p + 1) as u32)
                    .take(status.len().saturating_sub(1)),
            );
            Ok(SearchData {
                version,
                names,
                starts,
                status,
                catalog,
                dir,
                size,
                mtime,
                dir_keys,
            })
        };
        let data = read();
        let _ = conn.execute_batch("COMMIT");
        let data = data?;
        let n = data.status.len();
        if data.starts.len() != n
            || data.catalog.len() != n
            || data.dir.len() != n
            || data.size.len() != n
            || data.mtime.len() != n
        {
            return Err(Error::invalid(
                "index",
                "the match index's search columns disagree in length; delete archive.index.db \
                 to rebuild it",
            ));
        }
        Ok(data)
    }

    /// Item `i`'s name key.
    pub fn name(&self, i: usize) -> &[u8] {
        let start = self.starts[i] as usize;
        let end = self
            .starts
            .get(i + 1)
            .map(|&e| e as usize - 1)
            .unwrap_or(self.names.len().saturating_sub(1));
        &self.names[start..end]
    }
}

fn u32s(b: Vec<u8>) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn i64s(b: Vec<u8>) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            i64::from_le_bytes(a)
        })
        .collect()
}

/// NUL-terminated keys, as packed by [`Packed::store`].
fn split_keys(keys: &[u8]) -> Vec<String> {
    keys.split(|&b| b == 0)
        .take(keys.iter().filter(|&&b| b == 0).count())
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

fn ensure_dir<'a>(
    dir: &'a str,
    ids: &mut FxHashMap<&'a str, usize>,
    dirs: &mut Vec<(&'a str, Option<usize>, Counts, i64)>,
) -> usize {
    if let Some(&id) = ids.get(dir) {
        return id;
    }
    let parent_path = split_dir(dir).0;
    let parent = ensure_dir(parent_path, ids, dirs);
    let id = dirs.len();
    dirs.push((dir, Some(parent), Counts::default(), 0));
    ids.insert(dir, id);
    id
}
