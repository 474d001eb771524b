//! Recovery of a sync killed between its two commits (pokervod.db, then archive.db): the
//! write-ahead run in archive.db is settled by the next sync. These tests stage the two crash
//! windows deterministically; `cli/tests/crash.rs` kills real processes at random moments.

use std::fs;
use std::path::Path;

use chrono::{TimeZone, Utc};
mod common;

use common::{Env, env, put};
use nas_sync_engine::clock::FixedClock;
use nas_sync_engine::sync::{self, SyncOptions};
use rusqlite::Connection;

fn clock(hour: u32) -> FixedClock {
    FixedClock(
        Utc.with_ymd_and_hms(2026, 1, 2, hour, 0, 0)
            .single()
            .expect("valid time"),
    )
}

fn sync_at(e: &Env, hour: u32) -> sync::SyncReport {
    sync::run_sync(&e.cfg, &clock(hour), SyncOptions::default()).expect("sync")
}

fn history(archive: &Path) -> Vec<(String, String, Option<i64>)> {
    let c = Connection::open(archive).expect("open archive");
    let mut s = c
        .prepare("SELECT event, path, target_id FROM file_history ORDER BY event, path")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn runs(archive: &Path) -> Vec<(String, i64, i64)> {
    let c = Connection::open(archive).expect("open archive");
    let mut s = c
        .prepare("SELECT status, added, deleted FROM sync_runs ORDER BY id")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn run_killed_after_the_target_commit_keeps_its_history() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", b"a");
    put(&e.root, "WSOP/b.mp4", b"bb");
    sync_at(&e, 1);
    let expected = history(&e.archive);
    assert_eq!(expected.len(), 2, "two files added: {expected:?}");
    // Stage the crash window: the Target committed, archive.db still says `pending` and has no
    // links yet (finish_run never ran).
    let c = Connection::open(&e.archive).expect("open archive");
    c.execute_batch("UPDATE sync_runs SET status = 'pending'; DELETE FROM links;")
        .expect("stage crash");
    drop(c);

    let r = sync_at(&e, 2);
    assert_eq!(
        r.added + r.updated + r.moved + r.deleted,
        0,
        "nothing left to apply"
    );
    assert_eq!(
        history(&e.archive),
        expected,
        "history of the killed run is kept"
    );
    let runs = runs(&e.archive);
    assert_eq!(runs[0], ("recovered".to_string(), 2, 0), "{runs:?}");
    let linked: i64 = Connection::open(&e.archive)
        .expect("open")
        .query_row("SELECT COUNT(*) FROM links", [], |r| r.get(0))
        .expect("count");
    assert_eq!(linked, 2, "links are re-derived from the Target by path");
}

#[test]
fn run_killed_before_the_target_commit_is_forgotten_and_redone() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", b"a");
    sync_at(&e, 1);
    put(&e.root, "HCL/new.mp4", b"new");
    // Stage the crash window: the write-ahead record of a run that added HCL/new.mp4 as row 2 was
    // committed to archive.db, but the Target transaction never committed.
    let c = Connection::open(&e.archive).expect("open archive");
    c.execute_batch(
        "INSERT INTO sync_runs (started_at, finished_at, status, forced, added, updated, moved,
           restored, deleted, skipped, errors, duration_ms)
         VALUES ('2026-01-02T01:30:00Z', '2026-01-02T01:30:00Z', 'pending', 0, 1, 0, 0, 0, 0, 1, 0, 0);
         INSERT INTO file_history (sync_id, event, path, catalog, time, target_id, size_bytes)
         VALUES (last_insert_rowid(), 'added', 'HCL/new.mp4', 'HCL', '2026-01-02T01:30:00Z', 2, 3);",
    )
    .expect("stage crash");
    drop(c);

    let r = sync_at(&e, 2);
    assert_eq!(r.added, 1, "the change is applied by the next run");
    let hist = history(&e.archive);
    assert_eq!(
        hist.iter().filter(|h| h.1 == "HCL/new.mp4").count(),
        1,
        "exactly one history row for the new file, from the run that applied it: {hist:?}"
    );
    let statuses: Vec<String> = runs(&e.archive).into_iter().map(|r| r.0).collect();
    assert_eq!(statuses, vec!["ok", "ok"], "the pending run is gone");
    let t = Connection::open(&e.target).expect("open target");
    let id: i64 = t
        .query_row(
            "SELECT id FROM files WHERE nas_path = 'HCL/new.mp4'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(id, 2);
}

#[test]
fn recovered_run_restores_links_so_a_later_move_keeps_the_row_id() {
    let e = env();
    put(&e.root, "X/a.mp4", b"aaaa");
    put(&e.root, "X/b.mp4", b"bb");
    sync_at(&e, 1);
    let c = Connection::open(&e.archive).expect("open archive");
    c.execute_batch("UPDATE sync_runs SET status = 'pending'; DELETE FROM links;")
        .expect("stage crash after the Target commit");
    drop(c);
    // Move and rename in one go: only the link (rule b) can find the row now.
    fs::create_dir_all(e.root.join("Y")).expect("dir");
    fs::rename(e.root.join("X/a.mp4"), e.root.join("Y/renamed.mp4")).expect("move");
    let r = sync_at(&e, 2);
    assert_eq!((r.moved, r.added, r.deleted), (1, 0, 0), "{r:?}");
    let t = Connection::open(&e.target).expect("open target");
    let id: i64 = t
        .query_row(
            "SELECT id FROM files WHERE nas_path = 'Y/renamed.mp4'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(id, 1, "the moved file keeps its Target id");
}
