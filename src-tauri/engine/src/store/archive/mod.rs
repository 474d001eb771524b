//! archive.db, the Source: the files the scanner found, the scan runs, the sync runs and the
//! history of applied Target changes. Migrations are append-only and tracked in `user_version`.
//!
//! archive.db carries our `PRAGMA application_id` ([`APPLICATION_ID`]). Before anything is
//! written, an existing file must be ours: stamped, or from before the stamp (id 0, a
//! `user_version` we wrote and exactly our tables), or empty. Anything else (pokervod.db, another
//! program's database, a file that is not a database) is refused unchanged: no migration, no
//! stamp, no journal-mode switch.
//!
//! The `Archive` type is spread over this folder by concern: the schema and the check that a file
//! is ours (`schema`), the stored files (`files`), the sync runs (`runs`) and their history
//! (`history`), the links to Target rows (`links`) and the lock that keeps two runs apart
//! (`lock`). Every type is re-exported here, so `crate::archive::X` names it wherever it lives.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result, SqlContext};
use crate::store::sqlite;

mod files;
mod history;
pub mod journal;
mod links;
mod lock;
pub mod plan_base;
mod problems;
mod runs;
mod schema;

pub use files::{FileRecord, Media};
pub use history::{Event, HistoryEntry};
pub(crate) use links::Links;
pub use lock::SyncLock;
pub use plan_base::PlanBase;
pub(crate) use problems::record_scan_problems;
pub use problems::{MAX_LISTED_PROBLEMS, Problem, ProblemKind, ProblemList, ProblemOrigin};
pub use runs::SyncTotals;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
// Where the sync's own multi-row INSERTs have always found it.
pub(crate) use crate::store::sqlite::values_sql;

use schema::{Found, Header, check_header, inspect, open_for_inspection, open_read_only_conn};

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
        sqlite::use_large_cache(&self.conn, "archive.db")
    }

    /// For a sync's connection: no checkpoint inside its commits. A first sync's history is
    /// over a hundred MB of WAL, and copying it into archive.db inside the write-ahead commit
    /// would put that copy on the sync's path; [`Archive::checkpoint_in_background`] does it
    /// after the sync instead.
    pub(crate) fn defer_checkpoints(&self) -> Result<()> {
        sqlite::defer_checkpoints(&self.conn, "archive.db")
    }

    /// Checkpoint archive.db's WAL and close this connection on another thread (waited for by
    /// [`sqlite::finish_checkpoints`]; a process that exits first leaves a valid WAL
    /// that the next connection checkpoints).
    pub(crate) fn checkpoint_in_background(self) {
        sqlite::checkpoint_in_background(self.conn, "archive.db");
    }

    /// Checkpoint archive.db's WAL on another thread, through a connection of its own, while
    /// this one goes on (a PASSIVE checkpoint: it never blocks our writes). An error opening it
    /// only means the next automatic checkpoint does the work.
    pub(crate) fn checkpoint_copy_in_background(&self) {
        match Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ) {
            Ok(conn) => sqlite::checkpoint_in_background(conn, "archive.db"),
            Err(e) => tracing::debug!(error = %e, "archive.db checkpoint connection not opened"),
        }
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// SQLite's `data_version`: changes when another connection commits to archive.db (not when
    /// this one does), so a caller can tell whether what it read is still current.
    pub(crate) fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .ctx("archive.db data_version")
    }
}
