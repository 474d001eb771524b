//! archive.db, the Source: the files the scanner found, the scan runs, the sync runs and the
//! history of applied Target changes. Migrations are append-only and tracked in `user_version`.
//!
//! archive.db carries our `PRAGMA application_id` ([`APPLICATION_ID`]). Before anything is
//! written, an existing file must be ours: stamped, or from before the stamp (id 0, a
//! `user_version` we wrote and exactly our tables), or empty. Anything else (pokervod.db, another
//! program's database, a file that is not a database) is refused unchanged: no migration, no
//! stamp, no journal-mode switch.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, Result, SqlContext};
use crate::names::{self, Kind};
use crate::rules::Event;

/// Append-only: never edit a released step; add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema
    r#"
    CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        files_seen INTEGER NOT NULL,
        dirs_seen INTEGER NOT NULL,
        added INTEGER NOT NULL,
        removed INTEGER NOT NULL,
        modified INTEGER NOT NULL,
        moved INTEGER NOT NULL,
        warnings INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL
    );
    CREATE TABLE scan_issues (
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL
    );
    -- AUTOINCREMENT: a removed file's id is never handed to a later file, so history and links
    -- that name an id keep meaning the same file.
    CREATE TABLE files (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        catalog TEXT NOT NULL,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        ext TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime INTEGER NOT NULL,
        first_seen INTEGER NOT NULL REFERENCES scans(id),
        fingerprint INTEGER,
        target_id INTEGER
    );
    CREATE INDEX files_name_key ON files(name_key);
    CREATE INDEX files_catalog ON files(catalog);
    CREATE INDEX files_target_id ON files(target_id) WHERE target_id IS NOT NULL;
    CREATE INDEX files_pending_fingerprint ON files(id) WHERE fingerprint IS NULL AND kind = 'video';
    CREATE TABLE sync_runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        status TEXT NOT NULL,
        forced INTEGER NOT NULL,
        added INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        moved INTEGER NOT NULL,
        restored INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        message TEXT
    );
    CREATE TABLE file_history (
        id INTEGER PRIMARY KEY,
        sync_id INTEGER,
        event TEXT NOT NULL CHECK (event IN ('added','updated','moved','restored','deleted')),
        path TEXT NOT NULL,
        old_path TEXT,
        catalog TEXT NOT NULL,
        time TEXT NOT NULL,
        target_id INTEGER,
        file_id INTEGER,
        size_bytes INTEGER
    );
    CREATE INDEX file_history_sync ON file_history(sync_id);
    CREATE INDEX file_history_time ON file_history(time);
    "#,
    // 2: media probe results (probe_status NULL = not probed yet)
    r#"
    ALTER TABLE files ADD COLUMN codec TEXT;
    ALTER TABLE files ADD COLUMN width INTEGER;
    ALTER TABLE files ADD COLUMN height INTEGER;
    ALTER TABLE files ADD COLUMN duration_sec REAL;
    ALTER TABLE files ADD COLUMN audio_codec TEXT;
    ALTER TABLE files ADD COLUMN container TEXT;
    ALTER TABLE files ADD COLUMN probe_status TEXT
        CHECK (probe_status IN ('ok', 'failed', 'unsupported'));
    ALTER TABLE files ADD COLUMN probe_error TEXT;
    CREATE INDEX files_pending_probe ON files(id)
        WHERE kind = 'video' AND (probe_status IS NULL OR probe_status = 'unsupported');
    "#,
    // 3: nothing reads archive.db by name_key or catalog (the match index derives both from the
    // path), and keeping these two indexes made every scan insert a random B-tree write.
    r#"
    DROP INDEX IF EXISTS files_name_key;
    DROP INDEX IF EXISTS files_catalog;
    "#,
    // 4: links in their own narrow table. As a `files` column, linking the files of a first sync
    // rewrote every (wide) `files` row; here it appends two integers per file. A file's link
    // goes with it when the scan removes it (ids are never reused, so a stray link would only
    // be clutter).
    r#"
    CREATE TABLE links (
        file_id INTEGER PRIMARY KEY,
        target_id INTEGER NOT NULL
    );
    INSERT INTO links (file_id, target_id)
        SELECT id, target_id FROM files WHERE target_id IS NOT NULL;
    DROP INDEX IF EXISTS files_target_id;
    ALTER TABLE files DROP COLUMN target_id;
    CREATE TRIGGER files_unlink AFTER DELETE ON files
        BEGIN DELETE FROM links WHERE file_id = old.id; END;
    "#,
];

/// `PRAGMA application_id` of archive.db: the ASCII bytes of "NSMa" (NAS Sync Monitor
/// archive), 0x4E534D61 = 1314082145. Stored big-endian at offset 68 of the file header, so
/// `file(1)`-style tools and [`Archive::open`] tell our database from any other SQLite file.
pub const APPLICATION_ID: i32 = 0x4E53_4D61;

/// Page cache of a connection that writes (negative: KiB), for archive.db and the Target.
pub(crate) const CACHE_SIZE_KIB: i64 = -65_536;

/// "No link" in a vector of links by file id (a Target id can be any integer, even 0).
const NO_LINK: i64 = i64::MIN;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Media facts from the probe, copied to the Target by the sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Media {
    pub codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_sec: Option<f64>,
}

/// One Source file as stored. Catalog, name, extension and kind derive from `path`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileRecord {
    pub id: i64,
    /// Relative path with `/` separators, exactly as on disk.
    pub path: String,
    pub size: i64,
    /// Modification time, whole seconds since the Unix epoch (UTC).
    pub mtime: i64,
    /// The scan that first recorded this file.
    pub first_seen: i64,
    /// Hash of the first and last 64 KiB (video files, computed after the scan).
    pub fingerprint: Option<i64>,
    /// The Target row this file is synced to (kept across moves).
    pub target_id: Option<i64>,
    /// What the probe found (empty until probed, or when the format is unknown).
    pub media: Media,
}

impl FileRecord {
    pub fn name(&self) -> &str {
        names::file_name(&self.path)
    }
    pub fn catalog(&self) -> &str {
        names::catalog(&self.path)
    }
    pub fn ext(&self) -> String {
        names::extension(self.name())
    }
    pub fn kind(&self) -> Kind {
        Kind::from_ext(&self.ext())
    }
}

/// A history event as written by the sync (borrowed from the plan: a first sync writes one per
/// file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry<'a> {
    pub event: Event,
    pub path: &'a str,
    pub old_path: Option<&'a str>,
    pub catalog: &'a str,
    pub target_id: Option<i64>,
    pub file_id: Option<i64>,
    /// The file's size after the change (added, updated, moved, restored).
    pub size_bytes: Option<i64>,
}

/// A history row of a run that may not have reached the Target (see [`Archive::begin_run`]).
#[derive(Debug, Clone)]
pub(crate) struct PendingEntry {
    pub id: i64,
    pub file_id: Option<i64>,
    pub event: String,
    pub path: String,
    pub target_id: Option<i64>,
    pub size_bytes: Option<i64>,
}

/// Totals of one sync run, as recorded in `sync_runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncTotals {
    pub added: u64,
    pub updated: u64,
    pub moved: u64,
    pub restored: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub errors: u64,
}

/// An exclusive lock on `<archive.db>.lock`, held for a whole sync or scan so two processes never
/// interleave their runs. Released when dropped (or when the process dies).
pub struct SyncLock {
    _file: std::fs::File,
}

impl SyncLock {
    /// Whether another process holds the lock now (a sync or scan is running).
    pub fn is_held(archive_db: &Path) -> bool {
        let mut name = archive_db.as_os_str().to_owned();
        name.push(".lock");
        match std::fs::File::open(PathBuf::from(name)) {
            Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// Take the lock, waiting up to `wait_secs` for another process to finish.
    pub fn acquire(archive_db: &Path, wait_secs: u64) -> Result<SyncLock> {
        if let Some(dir) = archive_db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut name = archive_db.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(SyncLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if started.elapsed().as_secs() >= wait_secs {
                        return Err(Error::Locked {
                            path: archive_db.to_path_buf(),
                            secs: wait_secs,
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }
}

pub struct Archive {
    conn: Connection,
    path: PathBuf,
}

impl Archive {
    /// Open (creating if needed) archive.db, in WAL mode, stamped with [`APPLICATION_ID`] and
    /// migrated to the current schema. A file that is not ours is refused before anything is
    /// written to it (a config error on `archive_db`).
    pub fn open(path: &Path) -> Result<Archive> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Archive::check_ours(path)?;
        let conn = Connection::open(path).ctx(&format!("open {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .ctx("archive.db busy_timeout")?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .ctx("archive.db journal_mode")?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx("archive.db synchronous")?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .ctx("archive.db foreign_keys")?;
        let mut a = Archive {
            conn,
            path: path.to_path_buf(),
        };
        a.migrate()?;
        Ok(a)
    }

    /// Refuse (a config error on `archive_db`) an existing file at `path` that is not our
    /// archive.db (see the module doc); a missing file passes. Nothing is written: the file is
    /// read on a read-only connection (a read-write one could already write to a foreign file,
    /// rolling back its hot journal or checkpointing its WAL when closed).
    pub fn check_ours(path: &Path) -> Result<()> {
        if check_header(path)? != Header::Missing {
            inspect(&open_for_inspection(path)?, path)?;
        }
        Ok(())
    }

    /// Open an existing archive.db read-only (reconcile, dry runs). A missing file reads as empty;
    /// a file that is not ours is refused like [`Archive::open`] does (and nothing is stamped).
    pub fn open_read_only(path: &Path) -> Result<Option<Archive>> {
        if check_header(path)? == Header::Missing
            || inspect(&open_for_inspection(path)?, path)? == Found::Empty
        {
            return Ok(None);
        }
        let conn = open_read_only_conn(path)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .ctx("archive.db user_version")?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            // Not yet migrated (or empty): a read-only caller sees no data.
            return Ok(None);
        }
        Ok(Some(Archive {
            conn,
            path: path.to_path_buf(),
        }))
    }

    /// The stored files and the id the next scan would get, read-only; an archive.db that does
    /// not exist yet reads as empty (reconcile, dry runs and queries never create it).
    pub fn read_snapshot(path: &Path) -> Result<(Vec<FileRecord>, i64)> {
        match Archive::open_read_only(path)? {
            Some(a) => Ok((a.load_files()?, a.next_scan_id()?)),
            None => Ok((Vec::new(), 1)),
        }
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .ctx("archive.db user_version")?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let app_id: i32 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .ctx("archive.db application_id")?;
        if app_id != APPLICATION_ID {
            // `open` checked the file first: it is new, empty, or ours from before the stamp.
            self.conn
                .pragma_update(None, "application_id", APPLICATION_ID)
                .ctx("archive.db application_id")?;
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction().ctx("archive.db migrate")?;
            tx.execute_batch(sql)
                .ctx(&format!("archive.db migration {}", i + 1))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .ctx("archive.db user_version")?;
            tx.commit().ctx("archive.db migrate commit")?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for read-only queries elsewhere in the engine.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A first sync writes a history row per file in one transaction; with SQLite's 2 MB
    /// default page cache the dirty pages spill to the WAL again and again. Only the sync asks
    /// for more (the scan's peak memory stays where it was).
    pub(crate) fn use_large_cache(&self) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", CACHE_SIZE_KIB)
            .ctx("archive.db cache_size")
    }

    /// For a sync's connection: no checkpoint inside its commits. A first sync's history is
    /// over a hundred MB of WAL, and copying it into archive.db inside the write-ahead commit
    /// would put that copy on the sync's path; [`Archive::checkpoint_in_background`] does it
    /// after the sync instead.
    pub(crate) fn defer_checkpoints(&self) -> Result<()> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .ctx("archive.db wal_autocheckpoint")
    }

    /// Checkpoint archive.db's WAL and close this connection on another thread (waited for by
    /// [`crate::target::finish_checkpoints`]; a process that exits first leaves a valid WAL
    /// that the next connection checkpoints).
    pub(crate) fn checkpoint_in_background(self) {
        crate::target::checkpoint_in_background(self.conn, "archive.db");
    }

    /// Checkpoint archive.db's WAL on another thread, through a connection of its own, while
    /// this one goes on (a PASSIVE checkpoint: it never blocks our writes). An error opening it
    /// only means the next automatic checkpoint does the work.
    pub(crate) fn checkpoint_copy_in_background(&self) {
        match Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ) {
            Ok(conn) => crate::target::checkpoint_in_background(conn, "archive.db"),
            Err(e) => tracing::debug!(error = %e, "archive.db checkpoint connection not opened"),
        }
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Every stored file, ordered by path (byte order).
    pub fn load_files(&self) -> Result<Vec<FileRecord>> {
        self.load_files_split_from(PARALLEL_LOAD_MIN_FILES)
    }

    /// [`Archive::load_files`], reading the table in two halves from `min_split` file ids.
    fn load_files_split_from(&self, min_split: i64) -> Result<Vec<FileRecord>> {
        let timer = std::time::Instant::now();
        let (mut files, parallel) = match self.load_file_rows_in_halves(min_split)? {
            Some(files) => (files, true),
            None => (load_file_rows(&self.conn, i64::MIN, i64::MAX)?, false),
        };
        let rows_ms = timer.elapsed().as_millis() as u64;
        self.fill_links(&mut files)?;
        // Sorting here is faster than `ORDER BY path` (an index walk with a random table read
        // per row); `String` order is byte order, like SQLite's BINARY collation.
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        tracing::debug!(
            files = files.len(),
            parallel,
            rows_ms,
            ms = timer.elapsed().as_millis() as u64,
            "archive.db files loaded"
        );
        Ok(files)
    }

    /// A large `files` table read in two id ranges at once, the upper half on a second
    /// (read-only) connection. Both halves come from the same committed state: if anything
    /// committed to archive.db while they were read (`data_version` moved), the answer is
    /// `None` and the caller reads the table in one go.
    fn load_file_rows_in_halves(&self, min_split: i64) -> Result<Option<Vec<FileRecord>>> {
        if !self.conn.is_autocommit() {
            // Our own uncommitted writes would be invisible to the second connection.
            return Ok(None);
        }
        let (min, max): (i64, i64) = self
            .conn
            .query_row(
                // Two subqueries: each is one B-tree seek (MIN and MAX in one SELECT scan the table).
                "SELECT COALESCE((SELECT MIN(id) FROM files), 0), COALESCE((SELECT MAX(id) FROM files), 0)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("load files")?;
        if max.saturating_sub(min) < min_split {
            return Ok(None);
        }
        let mid = min + (max - min) / 2;
        let version = |conn: &Connection| -> Result<i64> {
            conn.pragma_query_value(None, "data_version", |r| r.get(0))
                .ctx("archive.db data_version")
        };
        let before = version(&self.conn)?;
        let second = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ctx(&format!("open {} read-only", self.path.display()))?;
        second
            .busy_timeout(std::time::Duration::from_secs(30))
            .ctx("archive.db busy_timeout")?;
        let (lower, upper) = std::thread::scope(|scope| {
            let upper = scope.spawn(move || load_file_rows(&second, mid + 1, i64::MAX));
            let lower = load_file_rows(&self.conn, i64::MIN, mid);
            let upper = upper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (lower, upper)
        });
        let (mut lower, upper) = (lower?, upper?);
        if version(&self.conn)? != before {
            return Ok(None);
        }
        lower.extend(upper);
        Ok(Some(lower))
    }

    /// Set each file's `target_id` from the `links` table.
    pub(crate) fn fill_links(&self, files: &mut [FileRecord]) -> Result<()> {
        if files.len() < 1_000 {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT target_id FROM links WHERE file_id = ?1")
                .ctx("load links")?;
            for f in files.iter_mut() {
                f.target_id = stmt
                    .query_row([f.id], |r| r.get(0))
                    .optional()
                    .ctx("load links")?;
            }
            return Ok(());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT file_id, target_id FROM links")
            .ctx("load links")?;
        let links = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .ctx("load links")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("load links")?;
        if links.is_empty() {
            return Ok(());
        }
        // File ids are dense (AUTOINCREMENT from 1), so a vector by id beats a hash map; fall
        // back to the map if the ids are sparse.
        let max_id = files.iter().map(|f| f.id).max().unwrap_or(0).max(0) as usize;
        if max_id <= files.len().saturating_mul(4) + 1_024 {
            let mut by_id = vec![NO_LINK; max_id + 1];
            for &(file, target) in &links {
                if let Some(slot) = usize::try_from(file).ok().and_then(|i| by_id.get_mut(i)) {
                    *slot = target;
                }
            }
            for f in files.iter_mut() {
                f.target_id = usize::try_from(f.id)
                    .ok()
                    .and_then(|i| by_id.get(i).copied())
                    .filter(|&t| t != NO_LINK);
            }
        } else {
            let by_id: rustc_hash::FxHashMap<i64, i64> = links.into_iter().collect();
            for f in files.iter_mut() {
                f.target_id = by_id.get(&f.id).copied();
            }
        }
        Ok(())
    }

    /// The stored files at or below the directories `dirs` (relative, `/` separators, none
    /// inside another), ordered by path: what a partial scan compares. Each directory is one
    /// range of the `path` index: `dir/` ≤ path < `dir0` (`0` is the byte after `/`).
    pub fn load_files_under(&self, dirs: &[String]) -> Result<Vec<FileRecord>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {FILE_COLUMNS} FROM files WHERE path >= ?1 AND path < ?2"
            ))
            .ctx("load files under")?;
        let mut files = Vec::new();
        for dir in dirs {
            let rows = stmt
                .query_map([format!("{dir}/"), format!("{dir}0")], file_record)
                .ctx("load files under")?;
            for row in rows {
                files.push(row.ctx("load files under")?);
            }
        }
        drop(stmt);
        self.fill_links(&mut files)?;
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    pub fn file_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM files", [], |r| r.get(0))
            .ctx("count files")
    }

    /// SQLite's `data_version`: changes when another connection commits to archive.db (not when
    /// this one does), so a caller can tell whether what it read is still current.
    pub(crate) fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .ctx("archive.db data_version")
    }

    /// The id the next scan will get (scans are numbered in order).
    pub fn next_scan_id(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM scans", [], |r| {
                r.get(0)
            })
            .ctx("next scan id")
    }

    /// Store fingerprints computed after a scan. A file changed since (size/mtime) is left alone.
    pub fn store_fingerprints(&mut self, items: &[(i64, i64, i64, i64)]) -> Result<usize> {
        let tx = self.conn.transaction().ctx("fingerprints")?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE files SET fingerprint = ?2 WHERE id = ?1 AND size = ?3 AND mtime = ?4",
                )
                .ctx("fingerprints")?;
            for (id, fp, size, mtime) in items {
                n += stmt
                    .execute(params![id, fp, size, mtime])
                    .ctx("fingerprints")?;
            }
        }
        tx.commit().ctx("fingerprints commit")?;
        Ok(n)
    }

    /// Store probe results. A file changed since (size/mtime) is left for the next probe pass.
    pub(crate) fn store_probes(
        &mut self,
        items: &[(i64, i64, i64, crate::probe::Probe)],
    ) -> Result<()> {
        use crate::probe::Probe;
        let tx = self.conn.transaction().ctx("store probes")?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE files SET codec = ?4, width = ?5, height = ?6, duration_sec = ?7,
                     audio_codec = ?8, container = ?9, probe_status = ?10, probe_error = ?11
                     WHERE id = ?1 AND size = ?2 AND mtime = ?3",
                )
                .ctx("store probes")?;
            for (id, size, mtime, probe) in items {
                let empty = crate::probe::MediaInfo::default();
                let (info, status, error) = match probe {
                    Probe::Ok { info } => (info, "ok", None),
                    Probe::Failed { error } => (&empty, "failed", Some(error.as_str())),
                    Probe::Unsupported { reason } => (&empty, "unsupported", Some(reason.as_str())),
                };
                stmt.execute(params![
                    id,
                    size,
                    mtime,
                    info.video_codec,
                    info.width,
                    info.height,
                    info.duration_sec,
                    info.audio_codec,
                    (status == "ok").then_some(info.container.as_str()),
                    status,
                    error
                ])
                .ctx("store probes")?;
            }
        }
        tx.commit().ctx("store probes")?;
        Ok(())
    }

    /// Write-ahead record of a sync: the run (status `pending`) and the history of every change
    /// it is about to commit to the Target, in one archive.db transaction. Called while the Target
    /// transaction is open and before it commits, so a crash between the two commits never loses
    /// history: the next run settles the pending run against the Target ([`crate::sync`]).
    pub(crate) fn begin_run<'e>(
        &mut self,
        started_at: &str,
        applied_at: &str,
        forced: bool,
        totals: &SyncTotals,
        entries: impl IntoIterator<Item = HistoryEntry<'e>>,
    ) -> Result<i64> {
        // The Target commits right after this, so this commit must survive a power loss, not
        // only a crash: FULL makes SQLite fsync the WAL at this commit (one fsync per sync).
        // archive.db's other commits stay NORMAL.
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .ctx("archive.db synchronous")?;
        let recorded = self.record_run(started_at, applied_at, forced, totals, entries);
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .ctx("archive.db synchronous")?;
        recorded
    }

    fn record_run<'e>(
        &mut self,
        started_at: &str,
        applied_at: &str,
        forced: bool,
        totals: &SyncTotals,
        entries: impl IntoIterator<Item = HistoryEntry<'e>>,
    ) -> Result<i64> {
        let tx = self.conn.transaction().ctx("begin sync record")?;
        tx.execute(
            "INSERT INTO sync_runs (started_at, finished_at, status, forced, added, updated, moved,
             restored, deleted, skipped, errors, duration_ms)
             VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 0)",
            params![
                started_at,
                applied_at,
                forced,
                totals.added as i64,
                totals.updated as i64,
                totals.moved as i64,
                totals.restored as i64,
                totals.deleted as i64,
                totals.skipped as i64,
            ],
        )
        .ctx("record sync run")?;
        let run_id = tx.last_insert_rowid();
        // The `event IN (…)` CHECK of file_history costs more than the rest of a row: it builds
        // a lookup table on every execution of the INSERT. Our events are `Event`s, which can
        // only be the five allowed words, so the check is skipped for these inserts (only on
        // this connection, and switched back on before anything else runs on it).
        tx.pragma_update(None, "ignore_check_constraints", true)
            .ctx("history")?;
        let inserted = insert_history(&tx, run_id, applied_at, entries);
        tx.pragma_update(None, "ignore_check_constraints", false)
            .ctx("history")?;
        inserted?;
        tx.commit().ctx("commit sync record")?;
        Ok(run_id)
    }

    /// Close a run after the Target committed: drop the history of changes that failed, store the
    /// final totals and remember which Target row each file is synced to: `links` are the
    /// (file id, Target id) pairs that are new or changed, `unlinked` the files whose link
    /// goes to another file (the caller knows every file's link, so no lookup by Target id is
    /// needed). `started` is when the sync began: the stored duration covers everything but
    /// this commit.
    pub(crate) fn finish_run(
        &mut self,
        run_id: i64,
        totals: &SyncTotals,
        started: std::time::Instant,
        failed_paths: &[&str],
        links: Links<'_>,
    ) -> Result<()> {
        if let Links::Staged = links {
            // The links are written in the transaction that `stage_links` left open.
            let result = close_run(&self.conn, run_id, totals, started, failed_paths);
            return match result
                .and_then(|()| self.conn.execute_batch("COMMIT").ctx("commit sync record"))
            {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.unstage_links();
                    Err(e)
                }
            };
        }
        let tx = self.conn.transaction().ctx("finish sync record")?;
        if let Links::Write { links, unlinked } = links {
            write_links(&tx, links, Some(unlinked))?;
        }
        close_run(&tx, run_id, totals, started, failed_paths)?;
        tx.commit().ctx("commit sync record")?;
        Ok(())
    }

    /// Write a sync's links in a transaction that stays open until [`Archive::finish_run`]
    /// (`Links::Staged`) commits it after the Target did, or [`Archive::unstage_links`] rolls
    /// it back: written while the Target rows are still being written (the history thread has
    /// time to spare), invisible until the rows they name are. On an error nothing is left
    /// open and the caller writes the links the usual way.
    pub(crate) fn stage_links(&mut self, links: &[(i64, i64)], unlinked: &[i64]) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .ctx("stage links")?;
        let written = write_links(&self.conn, links, Some(unlinked));
        if written.is_err() {
            self.unstage_links();
        }
        written
    }

    /// Roll back links staged by [`Archive::stage_links`] (nothing happens if none are).
    pub(crate) fn unstage_links(&mut self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "archive.db: staged links not rolled back");
        }
    }

    /// Forget a run whose Target transaction did not commit.
    pub(crate) fn discard_run(&mut self, run_id: i64) -> Result<()> {
        self.unstage_links();
        let tx = self.conn.transaction().ctx("discard sync run")?;
        tx.execute("DELETE FROM file_history WHERE sync_id = ?1", [run_id])
            .ctx("discard sync run")?;
        tx.execute("DELETE FROM sync_runs WHERE id = ?1", [run_id])
            .ctx("discard sync run")?;
        tx.commit().ctx("discard sync run")?;
        Ok(())
    }

    /// Runs left `pending` by a process that died: (id, the time written to the Target).
    pub(crate) fn pending_runs(&self) -> Result<Vec<(i64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, finished_at FROM sync_runs WHERE status = 'pending' ORDER BY id")
            .ctx("pending runs")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("pending runs")?;
        rows.collect::<rusqlite::Result<_>>().ctx("pending runs")
    }

    pub(crate) fn run_history(&self, run_id: i64) -> Result<Vec<PendingEntry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, event, path, target_id, size_bytes, file_id FROM file_history
                 WHERE sync_id = ?1 ORDER BY id",
            )
            .ctx("run history")?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(PendingEntry {
                    id: r.get(0)?,
                    event: r.get(1)?,
                    path: r.get(2)?,
                    target_id: r.get(3)?,
                    size_bytes: r.get(4)?,
                    file_id: r.get(5)?,
                })
            })
            .ctx("run history")?;
        rows.collect::<rusqlite::Result<_>>().ctx("run history")
    }

    /// Settle a pending run that did reach the Target: keep the history rows in `keep`, drop the
    /// rest, recount its totals from what was kept.
    pub(crate) fn settle_run(&mut self, run_id: i64, keep: &[i64]) -> Result<()> {
        let keep: std::collections::HashSet<i64> = keep.iter().copied().collect();
        let entries = self.run_history(run_id)?;
        let tx = self.conn.transaction().ctx("settle sync run")?;
        let mut totals = SyncTotals::default();
        for e in &entries {
            if !keep.contains(&e.id) {
                tx.execute("DELETE FROM file_history WHERE id = ?1", [e.id])
                    .ctx("settle sync run")?;
                continue;
            }
            match e.event.as_str() {
                "added" => totals.added += 1,
                "updated" => totals.updated += 1,
                "moved" => totals.moved += 1,
                "restored" => totals.restored += 1,
                _ => totals.deleted += 1,
            }
        }
        update_totals(&tx, run_id, "recovered", &totals)?;
        // The run died before `finish_run`: give its files their links, or a later move of one
        // of them would not find its row by rule (b).
        let links: Vec<(i64, i64)> = entries
            .iter()
            .filter(|e| keep.contains(&e.id) && e.event != "deleted")
            .filter_map(|e| Some((e.file_id?, e.target_id?)))
            .collect();
        write_links(&tx, &links, None)?;
        tx.commit().ctx("settle sync run")?;
        Ok(())
    }

    /// The most recent sync run, if any: (finished_at, status, totals).
    pub fn last_sync(&self) -> Result<Option<(String, String, SyncTotals)>> {
        self.conn
            .query_row(
                "SELECT finished_at, status, added, updated, moved, restored, deleted, skipped, errors
                 FROM sync_runs WHERE status <> 'pending' ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        SyncTotals {
                            added: r.get::<_, i64>(2)? as u64,
                            updated: r.get::<_, i64>(3)? as u64,
                            moved: r.get::<_, i64>(4)? as u64,
                            restored: r.get::<_, i64>(5)? as u64,
                            deleted: r.get::<_, i64>(6)? as u64,
                            skipped: r.get::<_, i64>(7)? as u64,
                            errors: r.get::<_, i64>(8)? as u64,
                        },
                    ))
                },
            )
            .optional()
            .ctx("last sync")
    }
}

/// What the first bytes of the file at archive_db's path say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// No file: it will be created.
    Missing,
    /// A SQLite header (or an empty file, which SQLite reads as an empty database; its content
    /// may still be in a `-wal` file) with no application id of another program.
    Sqlite,
}

/// What an existing SQLite file at archive_db's path is, when it may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No schema object and `user_version` 0: a new database.
    Empty,
    /// Carries [`APPLICATION_ID`].
    Stamped,
    /// Ours from before the stamp: id 0, a `user_version` we wrote, exactly our tables.
    Unstamped,
}

/// The 16 bytes every SQLite 3 database file starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Read the file header without SQLite (which could write to the file): refuse a file that is
/// not a SQLite database or that carries another program's application id.
fn check_header(path: &Path) -> Result<Header> {
    use std::io::Read;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        // A folder, a FIFO (opening it would block), a device.
        Ok(_) => return Err(not_ours(path, "일반 파일이 아님", "not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Header::Missing),
        Err(e) => return Err(Error::io(path, e)),
    }
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut header = Vec::with_capacity(100);
    file.by_ref()
        .take(100)
        .read_to_end(&mut header)
        .map_err(|e| Error::io(path, e))?;
    if header.is_empty() {
        return Ok(Header::Sqlite);
    }
    if header.len() < 100 || !header.starts_with(SQLITE_MAGIC) {
        return Err(not_ours(
            path,
            "SQLite 데이터베이스 파일이 아님",
            "not a SQLite database",
        ));
    }
    let app_id = i32::from_be_bytes([header[68], header[69], header[70], header[71]]);
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(foreign_app_id(path, app_id));
    }
    Ok(Header::Sqlite)
}

/// A read-only connection to an existing archive.db.
fn open_read_only_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(&format!("open {} read-only", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .ctx("archive.db busy_timeout")?;
    Ok(conn)
}

/// A read-only connection that only looks at the file at `path` (to [`inspect`] it): while no
/// `-wal` or `-journal` file is next to it (nobody has it open for writing), an `immutable`
/// one, which creates nothing: a plain read-only connection to a database in WAL mode would
/// leave `-wal` and `-shm` files next to someone else's database. Otherwise (or when the path
/// has no URI form) a plain read-only one, which uses the side files that are already there.
fn open_for_inspection(path: &Path) -> Result<Connection> {
    let side_file = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name).exists()
    };
    if !side_file("-wal")
        && !side_file("-journal")
        && let Some(uri) = immutable_uri(path)
        && let Ok(conn) = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
    {
        return Ok(conn);
    }
    open_read_only_conn(path)
}

/// `file:` URI of `path` with `immutable=1` (SQLite then takes no lock and opens no side
/// file), or `None` when the path has no such form here.
fn immutable_uri(path: &Path) -> Option<String> {
    let absolute = std::path::absolute(path).ok()?;
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(absolute.as_os_str()).to_vec();
    // `C:\x` → `/C:/x`, `\\server\share` → `//server/share` (SQLite turns them back).
    #[cfg(not(unix))]
    let bytes = {
        let s = absolute.to_str()?.replace('\\', "/");
        if s.starts_with('/') {
            s
        } else {
            format!("/{s}")
        }
        .into_bytes()
    };
    let mut uri = String::from("file://");
    for b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/:".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    Some(uri)
}

/// Whether the database behind `conn` (read-only, header already checked) may be used as
/// archive.db; the refusal otherwise. The application id is read again here: the header in
/// the file can be older than the database's `-wal`.
fn inspect(conn: &Connection, path: &Path) -> Result<Found> {
    let not_a_database = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => not_ours(
            path,
            "SQLite 데이터베이스 파일이 아님",
            "not a SQLite database",
        ),
        _ => Error::Sqlite {
            context: format!("inspect {}", path.display()),
            source: e,
        },
    };
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(not_a_database)?;
    if app_id == APPLICATION_ID {
        return Ok(Found::Stamped);
    }
    if app_id != 0 {
        return Err(foreign_app_id(path, app_id));
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_a_database)?;
    let objects: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(not_a_database)?;
    if objects == 0 && version == 0 {
        return Ok(Found::Empty);
    }
    let tables = table_names(conn).map_err(not_a_database)?;
    if (1..=SCHEMA_VERSION).contains(&version) && tables == tables_of_version(version)? {
        return Ok(Found::Unstamped);
    }
    let shown: Vec<&str> = tables.iter().take(8).map(String::as_str).collect();
    let more = if tables.len() > shown.len() {
        ", …"
    } else {
        ""
    };
    let list = format!("{}{more}", shown.join(", "));
    Err(not_ours(
        path,
        &format!("다른 프로그램의 SQLite 데이터베이스: user_version {version}, 테이블 {list}"),
        &format!("another program's SQLite database: user_version {version}, tables {list}"),
    ))
}

/// The names of the tables of `conn`'s main database, sorted, without SQLite's own
/// (`sqlite_sequence`, `sqlite_stat1`, …).
fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_'
         ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Our tables at schema `version`, from the migrations themselves (run in memory), so the
/// check stays right when a migration is added.
fn tables_of_version(version: i64) -> Result<Vec<String>> {
    let conn = Connection::open_in_memory().ctx("archive.db schema check")?;
    for sql in MIGRATIONS.iter().take(version.max(0) as usize) {
        conn.execute_batch(sql).ctx("archive.db schema check")?;
    }
    table_names(&conn).ctx("archive.db schema check")
}

fn foreign_app_id(path: &Path, app_id: i32) -> Error {
    not_ours(
        path,
        &format!("다른 프로그램의 application_id 0x{app_id:08X}"),
        &format!("application_id 0x{app_id:08X} of another program"),
    )
}

/// The refusal of a file that is not our archive.db.
fn not_ours(path: &Path, why_ko: &str, why_en: &str) -> Error {
    Error::config(
        "archive_db",
        format!(
            "{}은(는) NAS Sync Monitor의 archive.db가 아닙니다 ({why_ko}). 아무것도 변경하지 \
             않았습니다. archive_db에 다른 파일 경로를 지정하세요. / {} is not NAS Sync \
             Monitor's archive.db ({why_en}); nothing was changed. Point archive_db at another \
             file.",
            path.display(),
            path.display()
        ),
    )
}

/// A multi-row INSERT: `head` then `rows` copies of `row` separated by commas, each `#` in
/// them the next numbered parameter from `?first` on (fixed `?N` in `row` are shared by all).
pub(crate) fn values_sql(head: &str, rows: usize, first: usize, row: &str) -> String {
    let mut sql = String::from(head);
    let mut p = first;
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        for c in row.chars() {
            if c == '#' {
                sql.push_str(&format!("?{p}"));
                p += 1;
            } else {
                sql.push(c);
            }
        }
    }
    sql
}

/// History rows per INSERT statement: one statement per row costs more than binding the row.
const HISTORY_ROWS_PER_INSERT: usize = 64;

/// Insert the history of run `run_id` in order, many rows per statement (ids follow the order).
fn insert_history<'e>(
    tx: &rusqlite::Transaction<'_>,
    run_id: i64,
    time: &str,
    entries: impl IntoIterator<Item = HistoryEntry<'e>>,
) -> Result<()> {
    // ?1 = sync_id and ?2 = time are shared by every row of a statement.
    let sql = |rows: usize| {
        values_sql(
            "INSERT INTO file_history (sync_id, event, path, old_path, catalog, time, target_id,
             file_id, size_bytes) VALUES ",
            rows,
            3,
            "(?1, #, #, #, #, ?2, #, #, #)",
        )
    };
    let mut full: Option<rusqlite::Statement<'_>> = None;
    let mut chunk: Vec<HistoryEntry<'e>> = Vec::with_capacity(HISTORY_ROWS_PER_INSERT);
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        chunk.clear();
        chunk.extend(entries.by_ref().take(HISTORY_ROWS_PER_INSERT));
        let mut partial;
        let stmt = if chunk.len() == HISTORY_ROWS_PER_INSERT {
            match &mut full {
                Some(s) => s,
                None => full.insert(tx.prepare(&sql(chunk.len())).ctx("history")?),
            }
        } else {
            partial = tx.prepare(&sql(chunk.len())).ctx("history")?;
            &mut partial
        };
        stmt.raw_bind_parameter(1, run_id).ctx("history")?;
        stmt.raw_bind_parameter(2, time).ctx("history")?;
        for (i, h) in chunk.iter().enumerate() {
            let p = 3 + i * 7;
            stmt.raw_bind_parameter(p, h.event.as_str())
                .ctx("history")?;
            stmt.raw_bind_parameter(p + 1, h.path).ctx("history")?;
            stmt.raw_bind_parameter(p + 2, h.old_path).ctx("history")?;
            stmt.raw_bind_parameter(p + 3, h.catalog).ctx("history")?;
            stmt.raw_bind_parameter(p + 4, h.target_id).ctx("history")?;
            stmt.raw_bind_parameter(p + 5, h.file_id).ctx("history")?;
            stmt.raw_bind_parameter(p + 6, h.size_bytes)
                .ctx("history")?;
        }
        stmt.raw_execute().ctx("history")?;
    }
    Ok(())
}

/// The columns [`file_record`] reads (links come from `links`, filled in afterwards).
const FILE_COLUMNS: &str =
    "id, path, size, mtime, first_seen, fingerprint, NULL, codec, width, height, duration_sec";

/// From this many file ids, [`Archive::load_files`] reads the table on two connections.
const PARALLEL_LOAD_MIN_FILES: i64 = 200_000;

/// The `files` rows with ids in `lo..=hi`, in id order, links not filled in.
fn load_file_rows(conn: &Connection, lo: i64, hi: i64) -> Result<Vec<FileRecord>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE id BETWEEN ?1 AND ?2"
        ))
        .ctx("load files")?;
    let rows = stmt.query_map([lo, hi], file_record).ctx("load files")?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx("load files")
}

fn file_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        id: r.get(0)?,
        path: r.get(1)?,
        size: r.get(2)?,
        mtime: r.get(3)?,
        first_seen: r.get(4)?,
        fingerprint: r.get(5)?,
        target_id: r.get(6)?,
        media: Media {
            codec: r.get(7)?,
            width: r.get(8)?,
            height: r.get(9)?,
            duration_sec: r.get(10)?,
        },
    })
}

/// Link rows per INSERT statement.
const LINKS_PER_INSERT: usize = 128;

/// Remember which Target row each file is synced to. A Target row is linked to one file at
/// most: `unlinked` names the files that lose their link to a row changing hands; `None` (the
/// rare recovery path) finds them in SQL.
fn write_links(tx: &Connection, links: &[(i64, i64)], unlinked: Option<&[i64]>) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    // In file-id order the inserts append to the B-tree instead of splitting pages at random.
    let mut links = links.to_vec();
    links.sort_unstable();
    links.dedup_by_key(|l| l.0);
    match unlinked {
        Some(files) => {
            let mut unlink = tx
                .prepare("DELETE FROM links WHERE file_id = ?1")
                .ctx("write links")?;
            for f in files {
                unlink.execute([f]).ctx("write links")?;
            }
        }
        None => {
            tx.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS new_links (file_id INTEGER PRIMARY KEY, target_id INTEGER NOT NULL);
                 DELETE FROM new_links;",
            )
            .ctx("stage links")?;
            {
                let mut stage = tx
                    .prepare(
                        "INSERT OR REPLACE INTO new_links (file_id, target_id) VALUES (?1, ?2)",
                    )
                    .ctx("stage links")?;
                for &(file_id, target_id) in &links {
                    stage
                        .execute(params![file_id, target_id])
                        .ctx("stage links")?;
                }
            }
            tx.execute_batch(
                "DELETE FROM links
                  WHERE target_id IN (SELECT target_id FROM new_links)
                    AND file_id NOT IN (SELECT file_id FROM new_links);
                 DELETE FROM new_links;",
            )
            .ctx("write links")?;
        }
    }
    let sql = |rows: usize| {
        values_sql(
            "INSERT OR REPLACE INTO links (file_id, target_id) VALUES ",
            rows,
            1,
            "(#, #)",
        )
    };
    let mut full: Option<rusqlite::Statement<'_>> = None;
    for chunk in links.chunks(LINKS_PER_INSERT) {
        let mut partial;
        let stmt = if chunk.len() == LINKS_PER_INSERT {
            match &mut full {
                Some(s) => s,
                None => full.insert(tx.prepare(&sql(chunk.len())).ctx("write links")?),
            }
        } else {
            partial = tx.prepare(&sql(chunk.len())).ctx("write links")?;
            &mut partial
        };
        for (i, &(file_id, target_id)) in chunk.iter().enumerate() {
            stmt.raw_bind_parameter(2 * i + 1, file_id)
                .ctx("write links")?;
            stmt.raw_bind_parameter(2 * i + 2, target_id)
                .ctx("write links")?;
        }
        stmt.raw_execute().ctx("write links")?;
    }
    Ok(())
}

/// How [`Archive::finish_run`] stores a sync's links.
pub(crate) enum Links<'a> {
    /// Already written by [`Archive::stage_links`], in the open transaction.
    Staged,
    /// The (file id, Target id) pairs that are new or changed, and the files whose link goes
    /// to another file.
    Write {
        links: &'a [(i64, i64)],
        unlinked: &'a [i64],
    },
}

/// The end of a run's record: drop the history of changes that failed, store the totals and
/// the duration (inside the caller's transaction).
fn close_run(
    conn: &Connection,
    run_id: i64,
    totals: &SyncTotals,
    started: std::time::Instant,
    failed_paths: &[&str],
) -> Result<()> {
    {
        let mut drop_h = conn
            .prepare("DELETE FROM file_history WHERE sync_id = ?1 AND path = ?2")
            .ctx("history")?;
        for p in failed_paths {
            drop_h.execute(params![run_id, p]).ctx("history")?;
        }
    }
    let status = if totals.errors == 0 { "ok" } else { "partial" };
    update_totals(conn, run_id, status, totals)?;
    conn.execute(
        "UPDATE sync_runs SET duration_ms = ?2 WHERE id = ?1",
        params![run_id, started.elapsed().as_millis() as i64],
    )
    .ctx("finish sync run")?;
    Ok(())
}

fn update_totals(tx: &Connection, run_id: i64, status: &str, t: &SyncTotals) -> Result<()> {
    tx.execute(
        "UPDATE sync_runs SET status = ?2, added = ?3, updated = ?4, moved = ?5, restored = ?6,
         deleted = ?7, skipped = ?8, errors = ?9 WHERE id = ?1",
        params![
            run_id,
            status,
            t.added as i64,
            t.updated as i64,
            t.moved as i64,
            t.restored as i64,
            t.deleted as i64,
            t.skipped as i64,
            t.errors as i64
        ],
    )
    .ctx("sync run totals")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_migrates_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub/archive.db");
        {
            let a = Archive::open(&p).expect("create");
            assert_eq!(a.file_count().expect("count"), 0);
        }
        let a = Archive::open(&p).expect("reopen");
        let v: i64 = a
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = a
            .conn()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn files_read_in_two_halves_equal_the_files_read_in_one_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Archive::open(&dir.path().join("archive.db")).expect("create");
        let c = a.conn();
        c.execute_batch("PRAGMA foreign_keys = OFF;")
            .expect("fk off");
        // Ids and paths in different orders, so the halves' join order cannot pass for sorting.
        for i in 0..2_001i64 {
            c.execute(
                "INSERT INTO files (path, catalog, name, name_key, ext, kind, size, mtime, first_seen)
                 VALUES (?1, 'C', ?1, ?1, 'mp4', 'video', ?2, ?3, 1)",
                params![format!("C/{:05}.mp4", (i * 7919) % 2_001), i, 1_000 + i],
            )
            .expect("insert");
        }
        c.execute("DELETE FROM files WHERE id % 10 = 3", [])
            .expect("holes");
        let key = |f: &FileRecord| (f.id, f.path.clone(), f.size, f.mtime);
        let split = a.load_files_split_from(10).expect("split load");
        let whole = a.load_files_split_from(i64::MAX).expect("whole load");
        assert_eq!(split.len(), 2_001 - 200);
        assert!(
            a.load_file_rows_in_halves(10).expect("halves").is_some(),
            "the split path ran"
        );
        assert!(
            split.windows(2).all(|w| w[0].path < w[1].path),
            "byte order"
        );
        assert_eq!(
            split.iter().map(key).collect::<Vec<_>>(),
            whole.iter().map(key).collect::<Vec<_>>()
        );
        // Inside a transaction of this connection the second one could not see our writes.
        c.execute_batch("BEGIN").expect("begin");
        assert!(a.load_file_rows_in_halves(10).expect("halves").is_none());
        c.execute_batch("ROLLBACK").expect("rollback");
    }

    #[test]
    fn an_unstamped_archive_db_of_every_older_version_is_stamped_and_migrated() {
        for version in 1..=SCHEMA_VERSION {
            let dir = tempfile::tempdir().expect("tempdir");
            let p = dir.path().join("archive.db");
            {
                // As a build from before the stamp left it at `version`.
                let c = Connection::open(&p).expect("open");
                c.pragma_update(None, "journal_mode", "WAL").expect("wal");
                for sql in &MIGRATIONS[..version as usize] {
                    c.execute_batch(sql).expect("migration");
                }
                c.pragma_update(None, "user_version", version)
                    .expect("version");
            }
            assert!(
                Archive::open_read_only(&p).expect("read-only").is_some()
                    == (version == SCHEMA_VERSION),
                "v{version}: a read-only open sees data only at the current schema"
            );
            let a = Archive::open(&p).unwrap_or_else(|e| panic!("v{version}: {e}"));
            let (app_id, v): (i32, i64) = a
                .conn()
                .query_row(
                    "SELECT application_id, user_version FROM pragma_application_id, pragma_user_version",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("pragmas");
            assert_eq!((app_id, v), (APPLICATION_ID, SCHEMA_VERSION), "v{version}");
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("archive.db");
        {
            let c = Connection::open(&p).expect("open");
            c.pragma_update(None, "application_id", APPLICATION_ID)
                .expect("stamp");
            c.pragma_update(None, "user_version", 999).expect("set");
        }
        match Archive::open(&p) {
            Err(Error::SchemaTooNew { found: 999, .. }) => {}
            Err(other) => panic!("expected SchemaTooNew, got {other:?}"),
            Ok(_) => panic!("expected SchemaTooNew, got Ok"),
        }
    }
}
