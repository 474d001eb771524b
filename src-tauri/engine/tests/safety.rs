//! Safety behaviour found by review: a Target transaction rolled back by the owner's trigger, two
//! syncs at once, an offline share never touching pokervod.db, an empty Source.

use std::fs;
use std::path::Path;

mod common;

use common::put;

/// These tests wait on locks: keep the waits short.
fn env() -> common::Env {
    let mut e = common::env();
    e.cfg.busy_timeout_secs = 1;
    e
}
use nas_sync_engine::archive::SyncLock;
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::sync::{self, SyncOptions};
use nas_sync_engine::target::CREATE_FILES_SQL;
use nas_sync_engine::{Error, Guard};
use rusqlite::Connection;

fn rows(target: &Path) -> Vec<(i64, String, String)> {
    let c = Connection::open(target).expect("open target");
    let mut s = c
        .prepare("SELECT id, nas_path, status FROM files ORDER BY id")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .expect("open")
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

#[test]
fn a_trigger_that_rolls_back_the_transaction_leaves_the_target_untouched() {
    let e = env();
    for p in ["X/a.mp4", "X/b.mp4", "X/c.mp4"] {
        put(&e.root, p, p.as_bytes());
    }
    let c = Connection::open(&e.target).expect("create target");
    c.execute_batch(&format!(
        "{CREATE_FILES_SQL};
         CREATE TRIGGER no_b BEFORE INSERT ON files WHEN NEW.nas_path = 'X/b.mp4'
         BEGIN SELECT RAISE(ROLLBACK, 'owner says no'); END;"
    ))
    .expect("owner schema");
    drop(c);
    let err = sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default())
        .expect_err("a rolled-back transaction is an error");
    assert!(err.to_string().contains("nothing was applied"), "{err}");
    assert!(
        rows(&e.target).is_empty(),
        "no row may commit on its own: {:?}",
        rows(&e.target)
    );
    assert_eq!(count(&e.archive, "SELECT COUNT(*) FROM file_history"), 0);
    assert_eq!(count(&e.archive, "SELECT COUNT(*) FROM sync_runs"), 0);
}

#[test]
fn a_second_sync_waits_for_the_first_and_then_gives_up_clearly() {
    let e = env();
    put(&e.root, "X/a.mp4", b"X/a.mp4");
    let held = SyncLock::acquire(&e.archive, 1).expect("first lock");
    match sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()) {
        Err(err @ Error::Locked { .. }) => assert_eq!(err.code(), "sync_running"),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(!e.target.exists(), "the waiting sync wrote nothing");
    drop(held);
    let r = sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()).expect("sync");
    assert_eq!(r.added, 1);
}

#[test]
fn an_offline_share_never_touches_pokervod_db() {
    let e = env();
    put(&e.root, "X/a.mp4", b"X/a.mp4");
    sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()).expect("first sync");
    // An owner's Target in rollback-journal mode: the WAL switch must not happen either.
    let other = e.target.with_file_name("owner.db");
    let c = Connection::open(&other).expect("owner db");
    c.execute_batch(&format!("{CREATE_FILES_SQL};"))
        .expect("schema");
    drop(c);
    let before = fs::read(&other).expect("read");
    let mut cfg = e.cfg.clone();
    cfg.target_db = Some(other.clone());
    fs::remove_dir_all(&e.root).expect("share goes offline");
    let r = sync::run_sync(&cfg, &SystemClock, SyncOptions::default()).expect("report");
    assert_eq!(r.refused.map(|x| x.guard), Some(Guard::Offline));
    assert_eq!(
        fs::read(&other).expect("read"),
        before,
        "pokervod.db byte-identical"
    );
    // And a Target that does not exist yet is not created.
    let absent = e.target.with_file_name("absent.db");
    cfg.target_db = Some(absent.clone());
    let r = sync::run_sync(&cfg, &SystemClock, SyncOptions::default()).expect("report");
    assert!(r.refused.is_some());
    assert!(!absent.exists(), "a refused sync creates no pokervod.db");
}

#[test]
fn an_empty_source_never_deletes_a_small_catalog() {
    let e = env();
    // An existing catalog of 3 rows (under the mass-delete guard's 20-row floor) and a fresh,
    // empty archive.db synced without a scan.
    let c = Connection::open(&e.target).expect("create target");
    c.execute_batch(&format!("{CREATE_FILES_SQL};"))
        .expect("schema");
    for (i, p) in ["A/1.mp4", "A/2.mp4", "A/3.mp4"].iter().enumerate() {
        c.execute(
            "INSERT INTO files (id, nas_path, filename, catalog, format, size_bytes, hls_compatible,
             created_at, updated_at) VALUES (?1, ?2, 'x.mp4', 'A', 'mp4', 1, 1, 't', 't')",
            rusqlite::params![i as i64 + 1, p],
        )
        .expect("row");
    }
    drop(c);
    let opts = SyncOptions {
        no_scan: true,
        ..SyncOptions::default()
    };
    let r = sync::run_sync(&e.cfg, &SystemClock, opts).expect("report");
    let refusal = r.refused.expect("refused");
    assert_eq!(refusal.guard, Guard::Offline);
    assert!(refusal.message.contains('3'), "{}", refusal.message);
    assert!(rows(&e.target).iter().all(|r| r.2 == "active"));
    let forced = SyncOptions {
        no_scan: true,
        force: nas_sync_engine::sync::Force::Always,
        ..SyncOptions::default()
    };
    let r = sync::run_sync(&e.cfg, &SystemClock, forced).expect("forced");
    assert_eq!(r.deleted, 3, "--force applies it");
}

#[test]
fn a_row_repointed_to_another_file_does_not_keep_the_old_files_media() {
    let mut e = env();
    e.cfg.probe_media = true;
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/media/h264_faststart.mp4");
    fs::create_dir_all(e.root.join("X")).expect("dir");
    fs::copy(&clip, e.root.join("X/ep.mp4")).expect("copy clip");
    sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()).expect("sync");
    assert_eq!(
        count(&e.target, "SELECT COUNT(*) FROM files WHERE codec = 'h264'"),
        1,
        "the real clip was probed"
    );
    // Another member of the group appears (not real media), then the synced one goes: the row is
    // re-pointed (rule c) and must not claim the new file is a 320x240 h264 clip.
    put(&e.root, "Y/ep.mp4", b"Y/ep.mp4");
    sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()).expect("sync");
    fs::remove_file(e.root.join("X/ep.mp4")).expect("delete");
    let r = sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()).expect("sync");
    assert_eq!(r.moved, 1, "{r:?}");
    let c = Connection::open(&e.target).expect("open");
    let (path, codec, width): (String, Option<String>, Option<i64>) = c
        .query_row(
            "SELECT nas_path, codec, width FROM files WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row 1");
    assert_eq!(path, "Y/ep.mp4");
    assert_eq!(
        (codec, width),
        (None, None),
        "stale media of the deleted file"
    );
}

#[test]
fn dashboard_reports_a_running_sync() {
    let e = env();
    put(&e.root, "X/a.mp4", b"X/a.mp4");
    sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()).expect("sync");
    let idle = nas_sync_engine::query::dashboard(&e.cfg).expect("dashboard");
    assert!(!idle.sync_status.is_running);
    let _held = SyncLock::acquire(&e.archive, 1).expect("lock");
    let busy = nas_sync_engine::query::dashboard(&e.cfg).expect("dashboard");
    assert!(
        busy.sync_status.is_running,
        "a held sync lock means a sync is running"
    );
}

/// More files than one multi-row INSERT holds, so the batched insert path is the one that fails.
fn many_files(e: &common::Env, n: usize) -> Vec<String> {
    let paths: Vec<String> = (0..n).map(|i| format!("X/f{i:03}.mp4")).collect();
    for p in &paths {
        put(&e.root, p, p.as_bytes());
    }
    paths
}

#[test]
fn one_rejected_row_in_a_batched_insert_is_reported_and_the_rest_applied() {
    let e = env();
    many_files(&e, 200);
    let c = Connection::open(&e.target).expect("create target");
    c.execute_batch(&format!(
        "{CREATE_FILES_SQL};
         CREATE TRIGGER no_100 BEFORE INSERT ON files WHEN NEW.nas_path = 'X/f100.mp4'
         BEGIN SELECT RAISE(ABORT, 'owner rejects f100'); END;"
    ))
    .expect("owner schema");
    drop(c);
    let r = sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()).expect("sync");
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.errors[0].path, "X/f100.mp4");
    assert!(
        r.errors[0].message.contains("owner rejects f100"),
        "{:?}",
        r.errors
    );
    assert_eq!(
        r.added, 199,
        "the other rows of the failed statement are replayed"
    );
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 199);
    assert!(rows.iter().all(|(_, p, _)| p != "X/f100.mp4"));
    assert_eq!(
        count(
            &e.archive,
            "SELECT COUNT(*) FROM file_history WHERE event = 'added'"
        ),
        199,
        "the failed row has no history"
    );
    assert_eq!(count(&e.archive, "SELECT COUNT(*) FROM links"), 199);

    // Once the owner lets it in, the next sync adds just that row.
    Connection::open(&e.target)
        .expect("open target")
        .execute_batch("DROP TRIGGER no_100;")
        .expect("drop trigger");
    let r = sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default()).expect("sync");
    assert_eq!(
        (r.added, r.updated, r.deleted, r.errors.len()),
        (1, 0, 0, 0)
    );
    assert_eq!(count(&e.archive, "SELECT COUNT(*) FROM links"), 200);
}

#[test]
fn a_rollback_inside_a_batched_insert_leaves_the_target_untouched() {
    let e = env();
    many_files(&e, 200);
    let c = Connection::open(&e.target).expect("create target");
    c.execute_batch(&format!(
        "{CREATE_FILES_SQL};
         CREATE TRIGGER no_150 BEFORE INSERT ON files WHEN NEW.nas_path = 'X/f150.mp4'
         BEGIN SELECT RAISE(ROLLBACK, 'owner says no'); END;"
    ))
    .expect("owner schema");
    drop(c);
    let err = sync::run_sync(&e.cfg, &SystemClock, SyncOptions::default())
        .expect_err("a rolled-back transaction is an error");
    assert!(err.to_string().contains("nothing was applied"), "{err}");
    assert!(rows(&e.target).is_empty(), "no row may commit on its own");
    assert_eq!(count(&e.archive, "SELECT COUNT(*) FROM file_history"), 0);
    assert_eq!(count(&e.archive, "SELECT COUNT(*) FROM sync_runs"), 0);
    assert_eq!(count(&e.archive, "SELECT COUNT(*) FROM links"), 0);
}
