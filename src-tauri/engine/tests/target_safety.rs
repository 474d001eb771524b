//! The Target is someone else's database: its journal mode stays the owner's, the owner's
//! conflict resolution and triggers cannot make the sync delete or silently drop rows, and a
//! killed writer's journal does not lock the sync out. Real SQLite files throughout.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

mod common;

use common::put;
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::sync::{self, SyncOptions, SyncReport};
use nas_sync_engine::target::{CREATE_FILES_SQL, finish_checkpoints};
use rusqlite::Connection;

fn sync_ok(cfg: &nas_sync_engine::Config) -> SyncReport {
    let r = sync::run_sync(cfg, &SystemClock, SyncOptions::default()).expect("sync");
    // Any background checkpoint is over: what is on disk now is what the sync leaves.
    finish_checkpoints();
    r
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The journal mode stored in the file (a new connection reads WAL from the header; any
/// other mode is per connection and reads as SQLite's default, `delete`).
fn journal_mode(db: &Path) -> String {
    Connection::open(db)
        .expect("open")
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode")
}

fn owner_target(db: &Path, ddl: &str) -> Connection {
    let c = Connection::open(db).expect("create target");
    c.execute_batch(&format!("{ddl};")).expect("owner schema");
    c
}

fn owner_row(c: &Connection, id: i64, path: &str, status: &str) {
    c.execute(
        "INSERT INTO files (id, nas_path, filename, catalog, format, size_bytes, hls_compatible,
         status, created_at, updated_at) VALUES (?1, ?2, 'x.mp4', 'X', 'mp4', 1, 1, ?3, 't', 't')",
        rusqlite::params![id, path, status],
    )
    .expect("owner row");
}

/// (id, nas_path, status, size_bytes) of every Target row.
fn rows(target: &Path) -> Vec<(i64, String, String, i64)> {
    let c = Connection::open(target).expect("open target");
    let mut s = c
        .prepare("SELECT id, nas_path, status, size_bytes FROM files ORDER BY id")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// (event, path, target_id) of every history entry.
fn history(archive: &Path) -> Vec<(String, String, Option<i64>)> {
    let c = Connection::open(archive).expect("open archive");
    let mut s = c
        .prepare("SELECT event, path, target_id FROM file_history ORDER BY id")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("history")
}

fn error_paths(r: &SyncReport) -> BTreeSet<&str> {
    r.errors.iter().map(|e| e.path.as_str()).collect()
}

/// The sync failed only `X/f100.mp4`, with `why` in its error, and applied the 199 others.
fn assert_only_f100_failed(r: &SyncReport, why: &str) {
    assert_eq!(
        error_paths(r),
        BTreeSet::from(["X/f100.mp4"]),
        "{:?}",
        r.errors
    );
    assert!(r.errors[0].message.contains(why), "{:?}", r.errors);
    assert_eq!(r.added, 199);
}

/// Every history entry and every link names a Target row that was written: the id exists, at
/// the entry's path (no row of these tests moves after its history was written).
fn assert_history_and_links_name_written_rows(e: &common::Env) {
    let target: HashMap<i64, String> = rows(&e.target)
        .into_iter()
        .map(|(id, p, _, _)| (id, p))
        .collect();
    for (event, path, id) in history(&e.archive) {
        let id = id.unwrap_or_else(|| panic!("history entry {event} {path} names no row"));
        let at = target.get(&id).unwrap_or_else(|| {
            panic!("history names Target id {id} ({event} {path}), a row that was never written")
        });
        assert_eq!(at, &path, "history {event} of id {id}");
    }
    let c = Connection::open(&e.archive).expect("open archive");
    let links: Vec<i64> = c
        .prepare("SELECT target_id FROM links")
        .expect("links")
        .query_map([], |r| r.get(0))
        .expect("links")
        .collect::<Result<_, _>>()
        .expect("links");
    for id in links {
        assert!(
            target.contains_key(&id),
            "a link names Target id {id}, a row that was never written"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Journal mode
// ---------------------------------------------------------------------------------------------

#[test]
fn a_rollback_journal_target_stays_in_rollback_mode_after_syncs() {
    let e = common::env();
    let c = owner_target(&e.target, CREATE_FILES_SQL);
    c.pragma_update(None, "journal_mode", "DELETE")
        .expect("rollback journal");
    drop(c);
    put(&e.root, "X/a.mp4", b"a");
    put(&e.root, "X/b.mp4", b"b");
    let r = sync_ok(&e.cfg);
    assert_eq!(r.added, 2);
    assert!(
        !sidecar(&e.target, "-wal").exists(),
        "a sync left pokervod.db-wal behind"
    );
    put(&e.root, "X/a.mp4", b"a, edited");
    fs::remove_file(e.root.join("X/b.mp4")).expect("remove");
    let r = sync_ok(&e.cfg);
    assert_eq!((r.updated, r.deleted), (1, 1), "{:?}", r.errors);
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(
            !sidecar(&e.target, suffix).exists(),
            "pokervod.db{suffix} left behind after the sync"
        );
    }
    assert_eq!(journal_mode(&e.target), "delete");

    // A Target the sync creates is in SQLite's default rollback mode too.
    let e = common::env();
    put(&e.root, "X/a.mp4", b"a");
    sync_ok(&e.cfg);
    assert!(!sidecar(&e.target, "-wal").exists());
    assert_eq!(journal_mode(&e.target), "delete");
}

#[test]
fn target_wal_switches_the_target_to_wal() {
    let mut e = common::env();
    e.cfg.target_wal = true;
    drop(owner_target(&e.target, CREATE_FILES_SQL));
    assert_eq!(journal_mode(&e.target), "delete");
    put(&e.root, "X/a.mp4", b"a");
    assert_eq!(sync_ok(&e.cfg).added, 1);
    assert_eq!(journal_mode(&e.target), "wal");
}

#[test]
fn an_owners_wal_target_stays_wal() {
    let e = common::env();
    assert!(!e.cfg.target_wal, "WAL is opt-in");
    let c = owner_target(&e.target, CREATE_FILES_SQL);
    c.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    drop(c);
    put(&e.root, "X/a.mp4", b"a");
    assert_eq!(sync_ok(&e.cfg).added, 1);
    put(&e.root, "X/b.mp4", b"b");
    assert_eq!(sync_ok(&e.cfg).added, 1);
    assert_eq!(journal_mode(&e.target), "wal");
    assert_eq!(rows(&e.target).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// The owner's conflict resolution and triggers
// ---------------------------------------------------------------------------------------------

#[test]
fn a_replace_conflict_in_the_owners_schema_never_deletes_a_row() {
    let e = common::env();
    // The owner's paths are unique without regard to case, and a duplicate replaces the row
    // that holds the path: a plain INSERT or UPDATE would physically delete that row.
    let ddl = CREATE_FILES_SQL.replace(
        "nas_path TEXT NOT NULL UNIQUE,",
        "nas_path TEXT NOT NULL COLLATE NOCASE UNIQUE ON CONFLICT REPLACE,",
    );
    assert_ne!(ddl, CREATE_FILES_SQL);
    let c = owner_target(&e.target, &ddl);
    owner_row(&c, 1, "X/A.mp4", "deleted");
    owner_row(&c, 2, "y/c.mp4", "deleted");
    drop(c);
    put(&e.root, "X/a.mp4", b"a");
    put(&e.root, "Z/c.mp4", b"c");

    // An insert that collides (X/a.mp4 is X/A.mp4 to the owner's index).
    let r = sync_ok(&e.cfg);
    assert_eq!(
        error_paths(&r),
        BTreeSet::from(["X/a.mp4"]),
        "{:?}",
        r.errors
    );
    assert!(
        r.errors[0].message.contains("UNIQUE"),
        "the owner's constraint is named: {:?}",
        r.errors
    );
    assert_eq!(r.added, 1, "Z/c.mp4 is added");
    let after_insert = rows(&e.target);
    let ids: Vec<i64> = after_insert.iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), 3, "{after_insert:?}");
    assert_eq!(&ids[..2], &[1, 2], "the owner's rows keep their ids");
    assert_eq!(after_insert[0].1, "X/A.mp4");
    assert_eq!(
        (after_insert[2].1.as_str(), after_insert[2].2.as_str()),
        ("Z/c.mp4", "active")
    );

    // A move that collides (Y/c.mp4 is y/c.mp4 to the owner's index).
    fs::create_dir_all(e.root.join("Y")).expect("dir");
    fs::rename(e.root.join("Z/c.mp4"), e.root.join("Y/c.mp4")).expect("move");
    let r = sync_ok(&e.cfg);
    assert_eq!(
        error_paths(&r),
        BTreeSet::from(["X/a.mp4", "Y/c.mp4"]),
        "{:?}",
        r.errors
    );
    assert_eq!((r.added, r.moved, r.deleted), (0, 0, 0), "{:?}", r.errors);
    assert_eq!(
        rows(&e.target),
        after_insert,
        "no row deleted, moved or changed"
    );
    assert!(
        history(&e.archive)
            .iter()
            .all(|(_, p, _)| p != "X/a.mp4" && p != "Y/c.mp4"),
        "{:?}",
        history(&e.archive)
    );
    assert_history_and_links_name_written_rows(&e);
}

/// `n` files X/f000.mp4…, more than one multi-row INSERT holds.
fn many_files(e: &common::Env, n: usize) {
    for i in 0..n {
        let p = format!("X/f{i:03}.mp4");
        put(&e.root, &p, p.as_bytes());
    }
}

#[test]
fn rows_a_trigger_silently_ignores_are_errors_and_have_no_history() {
    let e = common::env();
    many_files(&e, 200);
    let c = owner_target(
        &e.target,
        &format!(
            "{CREATE_FILES_SQL};
             CREATE TRIGGER skip_f100 BEFORE INSERT ON files WHEN NEW.nas_path = 'X/f100.mp4'
             BEGIN SELECT RAISE(IGNORE); END"
        ),
    );
    drop(c);
    let r = sync_ok(&e.cfg);
    assert_only_f100_failed(&r, "0 rows changed");
    let target = rows(&e.target);
    assert_eq!(target.len(), 199);
    assert!(target.iter().all(|r| r.1 != "X/f100.mp4"));
    let added = history(&e.archive);
    assert_eq!(added.len(), 199, "the dropped row has no history");
    assert!(added.iter().all(|(_, p, _)| p != "X/f100.mp4"));
    assert_history_and_links_name_written_rows(&e);

    // An update the owner's trigger ignores; another update and a deletion go through.
    Connection::open(&e.target)
        .expect("open")
        .execute_batch(
            "CREATE TRIGGER keep_f005 BEFORE UPDATE ON files WHEN OLD.nas_path = 'X/f005.mp4'
             BEGIN SELECT RAISE(IGNORE); END;",
        )
        .expect("update trigger");
    put(&e.root, "X/f005.mp4", b"X/f005.mp4, edited");
    put(&e.root, "X/f006.mp4", b"X/f006.mp4, edited");
    fs::remove_file(e.root.join("X/f007.mp4")).expect("remove");
    let r = sync_ok(&e.cfg);
    assert_eq!(
        error_paths(&r),
        BTreeSet::from(["X/f005.mp4", "X/f100.mp4"]),
        "{:?}",
        r.errors
    );
    assert_eq!((r.added, r.updated, r.deleted), (0, 1, 1), "{:?}", r.errors);
    let size = |p: &str| {
        rows(&e.target)
            .into_iter()
            .find(|r| r.1 == p)
            .map(|r| r.3)
            .expect("row")
    };
    assert_eq!(size("X/f005.mp4"), 10, "the ignored update left the row");
    assert_eq!(size("X/f006.mp4"), 18, "the other update is applied");
    let h = history(&e.archive);
    assert_eq!(h.len(), 201, "199 added, one update, one deletion: {h:?}");
    assert!(
        h.iter()
            .all(|(event, p, _)| p != "X/f100.mp4" && (p != "X/f005.mp4" || event == "added")),
        "no history for the ignored update: {h:?}"
    );
    assert!(
        h.iter()
            .any(|(event, p, _)| event == "updated" && p == "X/f006.mp4")
    );
    assert_history_and_links_name_written_rows(&e);
}

#[test]
fn a_trigger_failing_in_the_middle_of_a_batch_reports_only_its_row() {
    let e = common::env();
    many_files(&e, 200);
    // RAISE(FAIL) ends the multi-row INSERT but keeps the rows it inserted before f100: those
    // are in the Target and must not be replayed (they would collide with themselves).
    drop(owner_target(
        &e.target,
        &format!(
            "{CREATE_FILES_SQL};
             CREATE TRIGGER fail_f100 BEFORE INSERT ON files WHEN NEW.nas_path = 'X/f100.mp4'
             BEGIN SELECT RAISE(FAIL, 'owner fails f100'); END"
        ),
    ));
    let r = sync_ok(&e.cfg);
    assert_only_f100_failed(&r, "owner fails f100");
    assert_eq!(rows(&e.target).len(), 199);
    assert_eq!(history(&e.archive).len(), 199);
    assert_history_and_links_name_written_rows(&e);
}

// ---------------------------------------------------------------------------------------------
// A killed writer's journal
// ---------------------------------------------------------------------------------------------

#[test]
fn a_hot_journal_left_by_a_killed_writer_is_rolled_back_by_the_next_sync() {
    let e = common::env();
    put(&e.root, "X/a.mp4", b"a");
    sync_ok(&e.cfg);
    let before = rows(&e.target);

    // The crash image of a writer in the middle of a transaction: its pages already spilled
    // into pokervod.db (a tiny page cache), the originals in pokervod.db-journal. Copied while
    // the transaction is open, the pair is what `kill -9` at that moment leaves on disk.
    let image = tempfile::tempdir().expect("tempdir");
    let (db, journal) = (
        image.path().join("pokervod.db"),
        image.path().join("pokervod.db-journal"),
    );
    let writer = Connection::open(&e.target).expect("writer");
    writer
        .execute_batch(
            "PRAGMA cache_size = 1;
             BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
             INSERT INTO files (nas_path, filename, catalog, format, size_bytes, hls_compatible,
                                created_at, updated_at)
             SELECT 'Z/' || i || '.mp4', i || '.mp4', 'Z', 'mp4', i, 1, 't', 't' FROM n;",
        )
        .expect("a large uncommitted transaction");
    fs::copy(&e.target, &db).expect("copy the database");
    fs::copy(sidecar(&e.target, "-journal"), &journal).expect("copy the journal");
    writer.execute_batch("ROLLBACK").expect("rollback");
    drop(writer);
    assert_ne!(
        fs::read(&db).expect("read"),
        fs::read(&e.target).expect("read"),
        "the image holds pages of the uncommitted transaction"
    );
    fs::copy(&db, &e.target).expect("crash image");
    fs::copy(&journal, sidecar(&e.target, "-journal")).expect("crash image journal");

    put(&e.root, "X/b.mp4", b"b");
    let r = sync_ok(&e.cfg);
    assert_eq!((r.added, r.errors.len()), (1, 0), "{:?}", r.errors);
    let after = rows(&e.target);
    assert_eq!(
        &after[..1],
        &before[..],
        "the interrupted transaction is undone"
    );
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[1].1, "X/b.mp4");
    assert!(!sidecar(&e.target, "-journal").exists());
    let ok: String = Connection::open(&e.target)
        .expect("open")
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(ok, "ok");
}

// ---------------------------------------------------------------------------------------------
// Network file systems
// ---------------------------------------------------------------------------------------------

#[test]
fn the_dashboard_names_the_network_file_system_of_the_target() {
    let mut e = common::env();
    put(&e.root, "X/a.mp4", b"a");
    sync_ok(&e.cfg);
    let d = nas_sync_engine::query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(d.target.network_fs, None, "a local temp dir");
    // The same file through a UNC-style path (`//tmp/…` is `/tmp/…` to Linux).
    if cfg!(unix) {
        let unc = PathBuf::from(format!("/{}", e.target.display()));
        e.cfg.target_db = Some(unc);
        let d = nas_sync_engine::query::dashboard(&e.cfg).expect("dashboard");
        assert_eq!(d.target.network_fs.as_deref(), Some("unc"));
    }
}
