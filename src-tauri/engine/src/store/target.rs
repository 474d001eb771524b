//! pokervod.db, the Target: someone else's production catalog. We create its `files` table only
//! when absent, check that an existing one has every column we write, and never drop, rename or
//! physically delete anything.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::Serialize;

use super::sqlite;
use crate::error::{Error, Result, SqlContext};

// The shared SQLite plumbing the Target's callers use, by the paths they always had
// (`nas_sync_engine::target::finish_checkpoints`, `crate::target::is_busy`, …).
pub use super::sqlite::{finish_checkpoints, is_busy, is_fatal};

/// The table we create when the Target has none (documented in the README).
pub const CREATE_FILES_SQL: &str = "CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    nas_path TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    catalog TEXT NOT NULL,
    format TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    hls_compatible INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','deleted')),
    codec TEXT,
    width INTEGER,
    height INTEGER,
    duration_sec REAL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
)";

/// Columns the sync reads or writes; an existing table must have all of them.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "id",
    "nas_path",
    "filename",
    "catalog",
    "format",
    "size_bytes",
    "hls_compatible",
    "status",
    "codec",
    "width",
    "height",
    "duration_sec",
    "created_at",
    "updated_at",
    "deleted_at",
];

/// One row of the Target's `files` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetRow {
    pub id: i64,
    pub nas_path: String,
    pub filename: String,
    pub catalog: String,
    pub format: String,
    pub size_bytes: i64,
    pub hls_compatible: bool,
    /// `status = 'active'`; anything else counts as deleted.
    pub active: bool,
    pub codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_sec: Option<f64>,
}

impl TargetRow {
    /// A hash of every column the sync rules and the match index read of this row. Summed over
    /// every row (wrapping, [`rows_digest`]), it is a digest of the Target's content that can be
    /// kept up to date one row at a time.
    pub fn content_hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&self.id.to_le_bytes());
        for s in [&self.nas_path, &self.filename, &self.catalog, &self.format] {
            h.update(s.as_bytes());
            h.update(b"\0");
        }
        h.update(&self.size_bytes.to_le_bytes());
        h.update(&[u8::from(self.hls_compatible), u8::from(self.active)]);
        h.update(self.codec.as_deref().unwrap_or("\u{1}").as_bytes());
        h.update(b"\0");
        h.update(&self.width.unwrap_or(i64::MIN).to_le_bytes());
        h.update(&self.height.unwrap_or(i64::MIN).to_le_bytes());
        h.update(&self.duration_sec.unwrap_or(-1.0).to_le_bytes());
        h.digest()
    }
}

/// The columns [`target_row`] reads.
const ROW_COLUMNS: &str = "id, nas_path, filename, catalog, format, size_bytes, hls_compatible, \
     status, codec, width, height, duration_sec";

fn target_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TargetRow> {
    Ok(TargetRow {
        id: r.get(0)?,
        nas_path: r.get(1)?,
        filename: r.get(2)?,
        catalog: r.get(3)?,
        format: r.get(4)?,
        size_bytes: r.get(5)?,
        hls_compatible: r.get::<_, Option<i64>>(6)?.unwrap_or(0) != 0,
        active: r.get::<_, Option<String>>(7)?.as_deref() == Some("active"),
        codec: r.get(8)?,
        width: r.get(9)?,
        height: r.get(10)?,
        duration_sec: r.get(11)?,
    })
}

/// The digest of a set of rows: the wrapping sum of their [`TargetRow::content_hash`] (order
/// does not matter; a row changed, added or removed changes it).
pub fn rows_digest(rows: &[TargetRow]) -> u64 {
    rows.iter()
        .fold(0u64, |d, r| d.wrapping_add(r.content_hash()))
}

pub struct Target {
    conn: Connection,
    path: PathBuf,
    busy_timeout: Duration,
    /// The database is in WAL mode (the owner's choice, or ours with `target_wal`).
    wal: bool,
}

impl Target {
    /// The Target exists, or its folder does (so it can be created).
    pub fn check_path(path: &Path) -> Result<()> {
        if !path.exists()
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::config(
                "target_db",
                format!(
                    "the folder of target_db does not exist: {}; check the path of pokervod.db",
                    dir.display()
                ),
            ));
        }
        Ok(())
    }

    /// Open the Target for writing, creating the file if it does not exist (its folder must).
    /// The journal mode is left as the owner set it (see [`Target::use_wal`]).
    pub fn open(path: &Path, busy_timeout_secs: u64) -> Result<Target> {
        Target::check_path(path)?;
        let conn = Connection::open(path).ctx(&format!("open {}", path.display()))?;
        let busy_timeout = Duration::from_secs(busy_timeout_secs);
        conn.busy_timeout(busy_timeout)
            .ctx("pokervod.db busy_timeout")?;
        // Our connection's page cache only: a first sync inserts every row in one transaction.
        sqlite::use_large_cache(&conn, "pokervod.db")?;
        let mut target = Target {
            conn,
            path: path.to_path_buf(),
            busy_timeout,
            wal: false,
        };
        let mode: String = target
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(|e| target.busy_or(e, "pokervod.db journal_mode"))?;
        target.set_durability(mode.eq_ignore_ascii_case("wal"))?;
        Ok(target)
    }

    /// Our connection's settings for the journal mode the database is in (all per connection;
    /// nothing here is stored in pokervod.db).
    fn set_durability(&mut self, wal: bool) -> Result<()> {
        self.wal = wal;
        // WAL: a commit is durable at the next checkpoint and the file is never corrupted by a
        // crash; a lost last transaction is redone by the next sync. A rollback journal: FULL,
        // so that a power loss in the middle of a commit cannot corrupt the owner's file.
        let synchronous = if wal { "NORMAL" } else { "FULL" };
        self.conn
            .pragma_update(None, "synchronous", synchronous)
            .ctx("pokervod.db synchronous")?;
        if wal {
            // No checkpoint inside our commit: a first sync's WAL is hundreds of MB, and copying
            // it into the database file would double the sync's time. The sync checkpoints on
            // another thread after it committed ([`Target::checkpoint_in_background`]), the
            // documented way to keep checkpoints off a writer's path; readers see the rows from
            // the commit on.
            sqlite::defer_checkpoints(&self.conn, "pokervod.db")?;
        }
        Ok(())
    }

    /// Whether pokervod.db is in WAL mode (as our connection found or left it).
    pub fn is_wal(&self) -> bool {
        self.wal
    }

    /// Switch the Target to WAL so the OTT platform keeps reading while we write: only when
    /// the operator opted in (`target_wal`), since the journal mode is stored in the owner's file
    /// and WAL is unsafe on a network share or for a file opened from another host. Called only
    /// after the schema check passed, so a Target we refuse is left byte-identical. A file that
    /// cannot switch (a locked database, a file system without shared memory) keeps its mode.
    pub fn use_wal(&mut self) -> Result<()> {
        if self.wal {
            return Ok(());
        }
        let mode = match self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
        {
            Ok(mode) => mode,
            Err(e) => {
                tracing::warn!(
                    "pokervod.db를 WAL로 바꾸지 못해 기존 저널 모드를 유지합니다 ({e}) / pokervod.db stays in its journal mode"
                );
                return Ok(());
            }
        };
        self.set_durability(mode.eq_ignore_ascii_case("wal"))
    }

    /// Open an existing Target read-only; `None` when the file does not exist.
    pub fn open_read_only(path: &Path, busy_timeout_secs: u64) -> Result<Option<Target>> {
        if !path.exists() {
            return Ok(None);
        }
        let busy_timeout = Duration::from_secs(busy_timeout_secs);
        let conn = sqlite::open_read_only(path, "pokervod.db", busy_timeout)?;
        Ok(Some(Target {
            conn,
            path: path.to_path_buf(),
            busy_timeout,
            // Read-only: never checkpointed by us, so the mode does not matter.
            wal: false,
        }))
    }

    /// A sync's first look at an existing Target (before the offline guards passed, so nothing
    /// is written): open it read-only and check its schema; `None` when the file does not exist.
    ///
    /// One exception to read-only: a hot rollback journal (a writer, perhaps a sync, killed in
    /// the middle of a commit) must be played back before anyone can read the file, and a
    /// read-only connection cannot (SQLITE_READONLY_ROLLBACK). A read-write connection's first
    /// read does it, SQLite's own recovery, which restores the file as it was before that commit.
    pub fn open_checked(path: &Path, busy_timeout_secs: u64) -> Result<Option<Target>> {
        let Some(target) = Target::open_read_only(path, busy_timeout_secs)? else {
            return Ok(None);
        };
        match target.check_schema() {
            Ok(_) => return Ok(Some(target)),
            Err(e) if is_hot_journal(&e) => drop(target),
            Err(e) => return Err(e),
        }
        tracing::warn!(
            "pokervod.db에 중단된 커밋의 저널이 남아 있어 되돌립니다 / pokervod.db has the journal of an interrupted commit; rolling it back"
        );
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ctx(&format!("open {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(busy_timeout_secs))
            .ctx("pokervod.db busy_timeout")?;
        conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .ctx("roll back pokervod.db's hot journal")?;
        drop(conn);
        let target = Target::open_read_only(path, busy_timeout_secs)?;
        if let Some(t) = &target {
            t.check_schema()?;
        }
        Ok(target)
    }

    /// Every row of an existing Target, read-only; a missing file or table reads as empty.
    pub fn read_rows(path: &Path, busy_timeout_secs: u64) -> Result<Vec<TargetRow>> {
        match Target::open_read_only(path, busy_timeout_secs)? {
            Some(t) => t.load_rows(),
            None => Ok(Vec::new()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Whether the `files` table exists; if it does, every required column must be there.
    pub fn check_schema(&self) -> Result<bool> {
        let exists: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.busy_or(e, "read pokervod.db schema"))?;
        if !exists {
            return Ok(false);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pragma_table_info('files')")
            .ctx("read pokervod.db columns")?;
        let cols: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .ctx("read pokervod.db columns")?
            .collect::<rusqlite::Result<_>>()
            .ctx("read pokervod.db columns")?;
        let missing: Vec<String> = REQUIRED_COLUMNS
            .iter()
            .filter(|c| !cols.iter().any(|x| x.eq_ignore_ascii_case(c)))
            .map(|c| c.to_string())
            .collect();
        if missing.is_empty() {
            Ok(true)
        } else {
            Err(Error::TargetSchema { missing })
        }
    }

    /// Create the `files` table when absent (then check it).
    pub fn ensure_schema(&mut self) -> Result<()> {
        if !self.check_schema()? {
            let tx = self.begin_immediate()?;
            tx.execute_batch(&format!("{CREATE_FILES_SQL};"))
                .ctx("create pokervod.db files table")?;
            tx.commit().ctx("create pokervod.db files table")?;
            tracing::info!(
                "새 files 테이블을 만들었습니다: {} / created the files table in pokervod.db",
                self.path.display()
            );
        }
        Ok(())
    }

    /// Every row of `files`, by id. An absent table reads as empty.
    pub fn load_rows(&self) -> Result<Vec<TargetRow>> {
        if !self.check_schema()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, nas_path, filename, catalog, format, size_bytes, hls_compatible, status,
                        codec, width, height, duration_sec
                 FROM files ORDER BY id",
            )
            .ctx("read pokervod.db files")?;
        let rows = stmt
            .query_map([], target_row)
            .map_err(|e| self.busy_or(e, "read pokervod.db files"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.busy_or(e, "read pokervod.db files"))
    }

    /// The rows with these ids (those that exist), by id. An absent table reads as empty.
    pub fn rows_by_ids(&self, ids: &[i64]) -> Result<Vec<TargetRow>> {
        if ids.is_empty() || !self.check_schema()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ROW_COLUMNS} FROM files WHERE id = ?1"))
            .ctx("read pokervod.db rows")?;
        let mut out = Vec::with_capacity(ids.len());
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            use rusqlite::OptionalExtension;
            if let Some(row) = stmt
                .query_row([id], target_row)
                .optional()
                .map_err(|e| self.busy_or(e, "read pokervod.db rows"))?
            {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// The rows whose `nas_path` lies below one of the directories `dirs` (relative, `/`
    /// separators): one range of the `nas_path` index per directory (`dir/` ≤ path < `dir0`),
    /// as [`crate::archive::Archive::load_files_under`] reads archive.db. An absent table reads
    /// as empty.
    pub fn rows_under(&self, dirs: &[String]) -> Result<Vec<TargetRow>> {
        if dirs.is_empty() || !self.check_schema()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM files WHERE nas_path >= ?1 AND nas_path < ?2"
            ))
            .ctx("read pokervod.db rows")?;
        // Compared in Rust too: a column declared `COLLATE NOCASE` widens both queries to
        // paths that differ in case, which the plan (byte equality) tells apart.
        let mut out = Vec::new();
        for dir in dirs {
            let prefix = format!("{dir}/");
            let rows = stmt
                .query_map([prefix.clone(), format!("{dir}0")], target_row)
                .map_err(|e| self.busy_or(e, "read pokervod.db rows"))?;
            for row in rows {
                let row = row.map_err(|e| self.busy_or(e, "read pokervod.db rows"))?;
                if row.nas_path.starts_with(&prefix) {
                    out.push(row);
                }
            }
        }
        Ok(out)
    }

    /// The rows at these paths (one per path, unless a legacy table lacks `UNIQUE(nas_path)`).
    pub fn rows_at_paths<'p>(
        &self,
        paths: impl IntoIterator<Item = &'p str>,
    ) -> Result<Vec<TargetRow>> {
        if !self.check_schema()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM files WHERE nas_path = ?1"
            ))
            .ctx("read pokervod.db rows")?;
        let mut out = Vec::new();
        for p in paths {
            let rows = stmt
                .query_map([p], target_row)
                .map_err(|e| self.busy_or(e, "read pokervod.db rows"))?;
            for row in rows {
                let row = row.map_err(|e| self.busy_or(e, "read pokervod.db rows"))?;
                if row.nas_path == p {
                    out.push(row);
                }
            }
        }
        Ok(out)
    }

    /// The row with this id, if any. The `files` table must exist (see [`Target::check_schema`]).
    pub fn row_by_id(&self, id: i64) -> Result<Option<TargetRow>> {
        use rusqlite::OptionalExtension;
        self.conn
            .prepare_cached(&format!("SELECT {ROW_COLUMNS} FROM files WHERE id = ?1"))
            .and_then(|mut st| st.query_row([id], target_row).optional())
            .map_err(|e| self.busy_or(e, "read pokervod.db rows"))
    }

    /// Ids of the rows at `nas_path` (one, unless a legacy table lacks `UNIQUE(nas_path)`).
    pub fn row_ids_at(&self, nas_path: &str) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM files WHERE nas_path = ?1")
            .ctx("read pokervod.db rows")?;
        let rows = stmt
            .query_map([nas_path], |r| r.get(0))
            .map_err(|e| self.busy_or(e, "read pokervod.db rows"))?;
        rows.collect::<rusqlite::Result<Vec<i64>>>()
            .map_err(|e| self.busy_or(e, "read pokervod.db rows"))
    }

    /// Whether `files` has an index led by `nas_path` (a lookup by path is then one seek; a
    /// legacy table without `UNIQUE(nas_path)` may have none, and every lookup scans).
    pub fn has_path_index(&self) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT EXISTS (SELECT 1 FROM pragma_index_list('files') l
                   WHERE (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) = 'nas_path')",
            )
            .ctx("read pokervod.db indexes")?;
        stmt.query_row([], |r| r.get(0))
            .map_err(|e| self.busy_or(e, "read pokervod.db indexes"))
    }

    /// A counter that changes whenever another connection commits to the Target.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .ctx("pokervod.db data_version")
    }

    /// `BEGIN IMMEDIATE`, waiting (SQLite's busy handler backs off) up to the busy timeout.
    pub fn begin_immediate(&mut self) -> Result<rusqlite::Transaction<'_>> {
        let started = Instant::now();
        let secs = self.busy_timeout.as_secs();
        match self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Ok(tx) => Ok(tx),
            Err(e) if is_busy(&e) => {
                tracing::warn!(
                    "잠긴 pokervod.db를 {:.1}초 기다렸지만 풀리지 않았습니다 / pokervod.db stayed locked",
                    started.elapsed().as_secs_f64()
                );
                Err(Error::TargetBusy { secs })
            }
            Err(e) => Err(Error::Sqlite {
                context: "pokervod.db 트랜잭션을 시작할 수 없습니다(적용된 변경 없음) / begin pokervod.db transaction; nothing was applied".into(),
                source: e,
            }),
        }
    }

    pub(crate) fn busy_timeout_secs(&self) -> u64 {
        self.busy_timeout.as_secs()
    }

    pub(crate) fn busy_or(&self, e: rusqlite::Error, context: &str) -> Error {
        if is_busy(&e) {
            Error::TargetBusy {
                secs: self.busy_timeout.as_secs(),
            }
        } else {
            Error::Sqlite {
                context: context.to_string(),
                source: e,
            }
        }
    }
}

impl Target {
    /// In WAL mode, copy the WAL into the database file and close the connection, on a thread
    /// of its own. A process that is about to exit calls [`finish_checkpoints`] first; one that
    /// exits without it leaves a valid WAL that the next connection to pokervod.db uses and
    /// checkpoints (SQLite's own recovery), so nothing is ever lost or half-written. With a
    /// rollback journal the commit already wrote the file: the connection just closes.
    pub fn checkpoint_in_background(self) {
        if self.wal {
            sqlite::checkpoint_in_background(self.conn, "pokervod.db");
        }
    }
}

/// SQLITE_READONLY_ROLLBACK: a read-only connection met a hot journal it cannot play back.
fn is_hot_journal(e: &Error) -> bool {
    matches!(e, Error::Sqlite { source, .. }
        if source.sqlite_error().is_some_and(|f| f.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(t: &Target, name: &str) -> i64 {
        t.conn()
            .pragma_query_value(None, name, |r| r.get(0))
            .expect("pragma")
    }

    #[test]
    fn rollback_mode_commits_with_full_sync_and_wal_mode_with_normal_and_no_autocheckpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pokervod.db");
        let mut t = Target::open(&path, 1).expect("open");
        t.ensure_schema().expect("schema");
        assert!(!t.is_wal(), "a new Target keeps SQLite's rollback journal");
        assert_eq!(pragma(&t, "synchronous"), 2, "FULL in rollback mode");
        assert_eq!(
            pragma(&t, "wal_autocheckpoint"),
            1000,
            "SQLite's default, untouched outside WAL"
        );
        drop(t);

        // The owner's WAL is kept and found.
        Connection::open(&path)
            .expect("owner")
            .pragma_update(None, "journal_mode", "WAL")
            .expect("owner's WAL");
        let t = Target::open(&path, 1).expect("open");
        assert!(t.is_wal());
        assert_eq!(pragma(&t, "synchronous"), 1, "NORMAL in WAL mode");
        assert_eq!(pragma(&t, "wal_autocheckpoint"), 0);
        drop(t);

        // Our switch (with target_wal) sets the same.
        Connection::open(&path)
            .expect("owner")
            .pragma_update(None, "journal_mode", "DELETE")
            .expect("owner's rollback journal");
        let mut t = Target::open(&path, 1).expect("open");
        assert!(!t.is_wal());
        t.use_wal().expect("use WAL");
        assert!(t.is_wal());
        assert_eq!(pragma(&t, "synchronous"), 1);
        assert_eq!(pragma(&t, "wal_autocheckpoint"), 0);
    }
}
