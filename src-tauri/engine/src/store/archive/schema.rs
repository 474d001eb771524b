//! archive.db's schema: the append-only migrations, the version and application id this build
//! writes, and the check that an existing file is ours before anything is written to it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::Archive;
use crate::error::{Error, Result, SqlContext};
use crate::store::sqlite;

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
    // 5: deletion grace (`delete_after_missing_scans`): a file gone from the share keeps its
    // record until it was missing from that many consecutive scans; `scans` counts them. A
    // narrow table of its own, like links: a scan that finds every file writes nothing here, and
    // the readers of `files` see a waiting record as the file it was (still synced). The row
    // goes with the record when the scan finally removes it.
    r#"
    CREATE TABLE file_missing (
        file_id INTEGER PRIMARY KEY,
        scans INTEGER NOT NULL CHECK (scans > 0)
    );
    CREATE TRIGGER files_unmiss AFTER DELETE ON files
        BEGIN DELETE FROM file_missing WHERE file_id = old.id; END;
    "#,
    // 6: the problems an operator should see until they go away (`problems.rs`): a scan's
    // unreadable folders and files and skipped names, a sync's rows that could not be written.
    // One row per (origin, path, kind); `since` is when it was first seen in a row of runs.
    r#"
    CREATE TABLE problems (
        id INTEGER PRIMARY KEY,
        origin TEXT NOT NULL CHECK (origin IN ('scan', 'sync')),
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        since TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        scan_id INTEGER,
        sync_id INTEGER,
        UNIQUE (origin, path, kind)
    );
    "#,
    // 7: the match index's journal (`journal.rs`): each job's changed records and Target rows,
    // so the index is brought up to date from them instead of being rebuilt; and an id that
    // tells this archive.db's journal from another's. After the problem list (6), which was
    // released first. Written so that it also completes a file left by a pre-release build of
    // the index branch, where the journal was 6 and the problem list 7: such a file at version
    // 6 has the journal but no `problems` (at version 7 it already has both, the same schema).
    r#"
    CREATE TABLE IF NOT EXISTS problems (
        id INTEGER PRIMARY KEY,
        origin TEXT NOT NULL CHECK (origin IN ('scan', 'sync')),
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        since TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        scan_id INTEGER,
        sync_id INTEGER,
        UNIQUE (origin, path, kind)
    );
    CREATE TABLE IF NOT EXISTS index_journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        files BLOB,
        rows BLOB,
        target_digest TEXT,
        target_digest_after TEXT,
        target_after TEXT,
        rebuild INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS index_journal_id (id TEXT NOT NULL);
    INSERT INTO index_journal_id (id)
        SELECT lower(hex(randomblob(16))) WHERE NOT EXISTS (SELECT 1 FROM index_journal_id);
    "#,
    // 8: which Target file a sync's batch describes (`target_file`, the identity of its path:
    // `crate::store::sqlite::file_identity`), so that the index never applies a batch of a sync
    // to another pokervod.db than the one it reads (one archive.db synced in turn to several
    // Targets); and a random `token` per batch, so that the index tells the batch it applied
    // last from another one with the same number (archive.db restored from a backup, then
    // synced past that number again). Columns of their own, not in 7: 7 may already have run in
    // a pre-release build. Batches from before have neither and are not trusted (the index
    // reads both databases).
    r#"
    ALTER TABLE index_journal ADD COLUMN target_file TEXT;
    ALTER TABLE index_journal ADD COLUMN token TEXT;
    "#,
    // 9: the watcher's scoped plan (`sync/scoped.rs`). `plan_base` is what the last sync that
    // left the Target exactly as its rules want it saw (one row, or none when no sync did): the
    // journal batch it planned after, the Target's stamp, digest and active rows after its
    // commit. A scoped sync plans only the name groups of what changed since, and only when the
    // Target still has that stamp. The name-key index finds a group's members (3 dropped it
    // when nothing read by name; a scoped plan does, at every watcher sync).
    r#"
    CREATE INDEX IF NOT EXISTS files_name_key ON files(name_key);
    CREATE TABLE plan_base (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        journal_seq INTEGER NOT NULL,
        own_seq INTEGER NOT NULL,
        max_file_id INTEGER NOT NULL,
        target_file TEXT NOT NULL,
        target_stamp TEXT NOT NULL,
        target_digest TEXT NOT NULL,
        target_active INTEGER NOT NULL,
        held BLOB,
        held_rows BLOB,
        rules TEXT NOT NULL
    );
    "#,
];

/// `PRAGMA application_id` of archive.db: the ASCII bytes of "NSMa" (NAS Sync Monitor
/// archive), 0x4E534D61 = 1314082145. Stored big-endian at offset 68 of the file header, so
/// `file(1)`-style tools and [`Archive::open`] tell our database from any other SQLite file.
pub const APPLICATION_ID: i32 = 0x4E53_4D61;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

impl Archive {
    pub(super) fn migrate(&mut self) -> Result<()> {
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
}

/// What the first bytes of the file at archive_db's path say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Header {
    /// No file: it will be created.
    Missing,
    /// A SQLite header (or an empty file, which SQLite reads as an empty database; its content
    /// may still be in a `-wal` file) with no application id of another program.
    Sqlite,
}

/// What an existing SQLite file at archive_db's path is, when it may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
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
pub(super) fn check_header(path: &Path) -> Result<Header> {
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
pub(super) fn open_read_only_conn(path: &Path) -> Result<Connection> {
    sqlite::open_read_only(path, "archive.db", std::time::Duration::from_secs(30))
}

/// A read-only connection that only looks at the file at `path` (to [`inspect`] it): while no
/// `-wal` or `-journal` file is next to it (nobody has it open for writing), an `immutable`
/// one, which creates nothing: a plain read-only connection to a database in WAL mode would
/// leave `-wal` and `-shm` files next to someone else's database. Otherwise (or when the path
/// has no URI form) a plain read-only one, which uses the side files that are already there.
pub(super) fn open_for_inspection(path: &Path) -> Result<Connection> {
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
pub(super) fn inspect(conn: &Connection, path: &Path) -> Result<Found> {
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

    /// Version 6 as released (the problem list) with data in it: the journal comes after it,
    /// and nothing that was there is lost.
    #[test]
    fn a_released_version_6_archive_db_gets_the_journal_and_keeps_its_problems() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("archive.db");
        {
            let c = Connection::open(&p).expect("open");
            c.pragma_update(None, "application_id", APPLICATION_ID)
                .expect("stamp");
            for sql in &MIGRATIONS[..6] {
                c.execute_batch(sql).expect("migration");
            }
            c.pragma_update(None, "user_version", 6).expect("version");
            c.execute_batch(
                "INSERT INTO problems (origin, path, kind, message, since, last_seen)
                 VALUES ('scan', 'WSOP/x', 'unreadable', 'denied', 't0', 't1');",
            )
            .expect("a problem");
            let has_journal: bool = c
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'index_journal')",
                    [],
                    |r| r.get(0),
                )
                .expect("tables");
            assert!(!has_journal, "6 is the problem list, not the journal");
        }
        let a = Archive::open(&p).expect("migrate");
        let c = a.conn();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, SCHEMA_VERSION);
        let kept: String = c
            .query_row("SELECT message FROM problems", [], |r| r.get(0))
            .expect("the problem");
        assert_eq!(kept, "denied");
        let id = super::super::journal::journal_id(c)
            .expect("id")
            .expect("a journal");
        assert_eq!(id.len(), 32);
        super::super::journal::record(
            c,
            &super::super::journal::Batch {
                files: &[1],
                ..Default::default()
            },
        )
        .expect("a batch");
        assert_eq!(super::super::journal::last_seq(c).expect("seq"), 1);
    }

    /// A file of a pre-release build of the index branch, where the journal was migration 6
    /// and the problem list 7, left at 6 (journal, no problem list) or at 7 (both, with
    /// batches in the old journal's columns): both end with this build's tables, the journal's
    /// id and batches kept.
    #[test]
    fn a_pre_release_journal_first_archive_db_is_completed() {
        let journal_first = r#"
            CREATE TABLE index_journal (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                files BLOB,
                rows BLOB,
                target_digest TEXT,
                target_digest_after TEXT,
                target_after TEXT,
                rebuild INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE index_journal_id (id TEXT NOT NULL);
            INSERT INTO index_journal_id (id) VALUES ('pre-release');
            INSERT INTO index_journal (files, rebuild) VALUES (NULL, 1);
        "#;
        for version in [6i64, 7] {
            let dir = tempfile::tempdir().expect("tempdir");
            let p = dir.path().join("archive.db");
            {
                let c = Connection::open(&p).expect("open");
                c.pragma_update(None, "application_id", APPLICATION_ID)
                    .expect("stamp");
                for sql in &MIGRATIONS[..5] {
                    c.execute_batch(sql).expect("migration");
                }
                c.execute_batch(journal_first).expect("journal as 6");
                if version == 7 {
                    c.execute_batch(MIGRATIONS[5]).expect("problems as 7");
                }
                c.pragma_update(None, "user_version", version)
                    .expect("version");
            }
            let a = Archive::open(&p).unwrap_or_else(|e| panic!("v{version}: {e}"));
            let c = a.conn();
            assert_eq!(
                table_names(c).expect("tables"),
                tables_of_version(SCHEMA_VERSION).expect("ours"),
                "v{version}"
            );
            assert_eq!(
                super::super::journal::journal_id(c).expect("id").as_deref(),
                Some("pre-release"),
                "v{version}: one id, the old one"
            );
            let ids: i64 = c
                .query_row("SELECT COUNT(*) FROM index_journal_id", [], |r| r.get(0))
                .expect("ids");
            assert_eq!(ids, 1, "v{version}");
            let old = super::super::journal::batches_after(c, 0)
                .expect("read")
                .expect("no gap");
            assert!(old[0].rebuild && old[0].token.is_empty(), "v{version}");
            c.execute(
                "INSERT INTO problems (origin, path, kind, message, since, last_seen)
                       VALUES ('sync', 'x', 'k', 'm', 't', 't')",
                [],
            )
            .unwrap_or_else(|e| panic!("v{version}: {e}"));
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
