//! SQLite plumbing that archive.db and the Target share: the settings of our connections,
//! read-only opening, checkpoints on a thread of their own, the classification of SQLite errors
//! (busy, fatal) and multi-row INSERT statements. Nothing here knows either database's schema;
//! `db` arguments name the database ("archive.db", "pokervod.db") in error contexts and logs.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Result, SqlContext};

/// Page cache of a connection that writes (negative: KiB), for archive.db and the Target.
pub(crate) const CACHE_SIZE_KIB: i64 = -65_536;

/// Give `conn` our large page cache ([`CACHE_SIZE_KIB`]; this connection only, nothing is
/// stored in the file): a sync writes every row of a first sync in one transaction, and with
/// SQLite's 2 MB default the dirty pages would spill again and again.
pub(crate) fn use_large_cache(conn: &Connection, db: &str) -> Result<()> {
    conn.pragma_update(None, "cache_size", CACHE_SIZE_KIB)
        .ctx(&format!("{db} cache_size"))
}

/// No automatic checkpoint inside `conn`'s commits (this connection only): copying a large WAL
/// into the database file inside a commit would put that copy on the writer's path;
/// [`checkpoint_in_background`] does it after the work instead.
pub(crate) fn defer_checkpoints(conn: &Connection, db: &str) -> Result<()> {
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .ctx(&format!("{db} wal_autocheckpoint"))
}

/// A read-only connection to the existing database at `path`, waiting up to `busy_timeout` for
/// a writer's lock.
pub(crate) fn open_read_only(path: &Path, db: &str, busy_timeout: Duration) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(&format!("open {} read-only", path.display()))?;
    conn.busy_timeout(busy_timeout)
        .ctx(&format!("{db} busy_timeout"))?;
    Ok(conn)
}

/// A write this close to a stamp may share its mtime with a later write (coarse timestamps,
/// FAT's 2 s, SMB attribute caching): such a stamp is "racy" (see [`FileStamp::racy`]).
pub const RACY_WINDOW: Duration = Duration::from_secs(3);

/// A cheap stamp of one SQLite database file: size, mtime and header bytes of the file and of
/// its `-wal`. A committed write changes at least one of them, except that in WAL mode SQLite
/// leaves the database header alone and, within one WAL generation whose file is already longer
/// than its frames, a commit can differ from the last one only in mtime. With a coarse mtime two
/// such commits look alike: hence [`FileStamp::racy`]. In rollback-journal mode every commit
/// bumps the header's change counter, so the stamp always tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    /// The stamp itself (a hex digest; `"-"` for a file that does not exist).
    pub text: String,
    /// A write happened within [`RACY_WINDOW`] of taking the stamp (or a time was unreadable).
    pub racy: bool,
    /// The database is in WAL mode (header bytes 18–19), where the stamp alone cannot tell
    /// two same-size commits of one mtime tick apart.
    pub wal: bool,
    /// The newest mtime of the file and its `-wal` (Unix seconds, rounded up).
    pub mtime: Option<i64>,
}

/// Stamp `path` (and its `-wal`) now.
pub fn file_stamp(path: &Path) -> FileStamp {
    use std::io::Read;
    let now = std::time::SystemTime::now();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let (mut racy, mut wal, mut newest, mut any) = (false, false, None::<i64>, false);
    for suffix in ["", "-wal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        match std::fs::metadata(&p) {
            // A missing and an empty `-wal` mean the same (a reader may create an empty one).
            Ok(m) if m.len() > 0 => {
                any = true;
                h.update(&m.len().to_le_bytes());
                // Which file: another file put at this path (a restored backup, a copy that
                // kept size and mtime) is another stamp even when its header bytes are equal.
                // (Not the `-wal`'s: SQLite deletes and recreates it as it likes.)
                if suffix.is_empty() {
                    h.update(&file_id(&m).to_le_bytes());
                }
                let modified = m.modified().ok();
                racy |= match modified {
                    Some(t) => now.duration_since(t).map_or(true, |age| age < RACY_WINDOW),
                    None => true,
                };
                let since = modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                if let Some(d) = since {
                    let secs = d.as_secs() as i64 + i64::from(d.subsec_nanos() > 0);
                    newest = Some(newest.map_or(secs, |n| n.max(secs)));
                }
                h.update(&since.map_or(0, |d| d.as_nanos()).to_le_bytes());
                // Database header (change counter at 24..28, journal mode at 18..20) or WAL
                // header (checkpoint sequence and salts).
                let mut head = [0u8; 100];
                if let Ok(mut f) = std::fs::File::open(&p) {
                    let n = f.read(&mut head).unwrap_or(0);
                    h.update(&head[..n]);
                    if suffix.is_empty() && n >= 20 && head[18] == 2 {
                        wal = true;
                    }
                }
            }
            _ => h.update(b"empty"),
        }
    }
    FileStamp {
        text: if any {
            format!("{:016x}", h.digest())
        } else {
            "-".into()
        },
        racy,
        wal,
        mtime: newest,
    }
}

/// What tells one file from another on its file system: device and inode on Unix, the
/// creation time on Windows (std has no stable file index there).
fn file_id(m: &std::fs::Metadata) -> u128 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (u128::from(m.dev()) << 64) | u128::from(m.ino())
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::MetadataExt;
        u128::from(m.creation_time())
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = m;
        0
    }
}

/// The identity of a database file's path, as the match index and the journal record which
/// Target they describe: the canonical path (symbolic links and `..` resolved) when the file
/// exists, else the absolute path. The same file named two ways (relative to another folder,
/// through a link) is one identity; two files are two.
pub fn file_identity(path: &Path) -> String {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Background checkpoints still running: a count and a condition variable rather than a list
/// of join handles, so that every caller of [`finish_checkpoints`] waits for all of them. (With
/// handles, two threads calling it at once split the list: one returned while the checkpoint it
/// had started was still being joined by the other, and a test that compared the database's
/// bytes next saw them change under it.)
static CHECKPOINTS_RUNNING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static CHECKPOINTS_DONE: std::sync::Condvar = std::sync::Condvar::new();

/// Counts one background checkpoint from before its thread starts until it ends, even when
/// the thread panics (the guard's drop runs during unwinding).
struct CheckpointRunning;

impl CheckpointRunning {
    fn start() -> Self {
        *CHECKPOINTS_RUNNING
            .lock()
            .unwrap_or_else(|p| p.into_inner()) += 1;
        CheckpointRunning
    }
}

impl Drop for CheckpointRunning {
    fn drop(&mut self) {
        let mut running = CHECKPOINTS_RUNNING
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *running -= 1;
        if *running == 0 {
            CHECKPOINTS_DONE.notify_all();
        }
    }
}

/// A PASSIVE checkpoint of `conn`'s database (it never blocks a writer), then the connection
/// closes, on a thread of its own: for any connection we own, archive.db's and the Target's
/// (see [`crate::target::Target::checkpoint_in_background`]).
pub(crate) fn checkpoint_in_background(conn: Connection, db: &'static str) {
    // Counted before the thread exists, so a `finish_checkpoints` that follows this call
    // always waits for it.
    let running = CheckpointRunning::start();
    std::thread::spawn(move || {
        let _running = running;
        let started = Instant::now();
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        }) {
            Ok((busy, log, done)) => tracing::debug!(
                db,
                busy,
                wal_pages = log,
                checkpointed = done,
                ms = started.elapsed().as_millis() as u64,
                "checkpoint"
            ),
            Err(e) => tracing::debug!(db, error = %e, "checkpoint skipped"),
        }
        drop(conn);
    });
}

/// Wait until no background checkpoint is running (before a process exits, and in tests before
/// comparing a database's bytes). Waits for every checkpoint started before the call, whoever
/// started it.
pub fn finish_checkpoints() {
    let mut running = CHECKPOINTS_RUNNING
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    while *running > 0 {
        running = CHECKPOINTS_DONE
            .wait(running)
            .unwrap_or_else(|p| p.into_inner());
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// An error after which the Target transaction cannot go on: the file, the disk or memory failed
/// (SQLITE_FULL, every SQLITE_IOERR_*, SQLITE_NOMEM, SQLITE_CORRUPT, SQLITE_READONLY,
/// SQLITE_CANTOPEN, SQLITE_NOTADB, SQLITE_NOLFS, SQLITE_PERM, SQLITE_PROTOCOL). SQLite may or
/// may not have rolled the transaction back by itself after these; either way the sync stops
/// and applies nothing. Constraint errors (a UNIQUE or CHECK, a trigger's RAISE(ABORT/FAIL))
/// concern one row only.
pub fn is_fatal(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(
        e.sqlite_error_code(),
        Some(
            C::DiskFull
                | C::SystemIoFailure
                | C::OutOfMemory
                | C::DatabaseCorrupt
                | C::ReadOnly
                | C::CannotOpen
                | C::NotADatabase
                | C::NoLargeFileSupport
                | C::PermissionDenied
                | C::FileLockingProtocolFailed
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_file_and_memory_errors_are_fatal_and_constraint_errors_are_not() {
        let err = |code: i32| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into()))
        };
        use rusqlite::ffi as f;
        for code in [
            f::SQLITE_FULL,
            f::SQLITE_IOERR,
            f::SQLITE_IOERR_WRITE,
            f::SQLITE_IOERR_FSYNC,
            f::SQLITE_IOERR_SHORT_READ,
            f::SQLITE_NOMEM,
            f::SQLITE_CORRUPT,
            f::SQLITE_READONLY,
            f::SQLITE_READONLY_DBMOVED,
            f::SQLITE_CANTOPEN,
            f::SQLITE_NOTADB,
        ] {
            assert!(is_fatal(&err(code)), "{code} is fatal");
        }
        for code in [
            f::SQLITE_CONSTRAINT,
            f::SQLITE_CONSTRAINT_UNIQUE,
            f::SQLITE_CONSTRAINT_TRIGGER,
            f::SQLITE_CONSTRAINT_CHECK,
            f::SQLITE_TOOBIG,
            f::SQLITE_MISMATCH,
        ] {
            assert!(!is_fatal(&err(code)), "{code} concerns one row");
        }
    }
}
