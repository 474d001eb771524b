//! Files still being copied onto the share are held back from the Target (`settle_secs`): real
//! files written in chunks or filled in place while syncs run, real archive.db and pokervod.db.
//! The wait is controlled by mtimes set explicitly, an injected clock, or a settle time of a
//! couple of seconds; nothing sleeps for a minute.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{Env, env_with, fresh_mtime, pattern, put_at, set_mtime};
use nas_sync_engine::Config;
use nas_sync_engine::clock::{FixedClock, SystemClock};
use nas_sync_engine::index::Status;
use nas_sync_engine::matching::{self, MatchingQuery};
use nas_sync_engine::query;
use nas_sync_engine::runtime::monitor::JobResult;
use nas_sync_engine::runtime::{JobKind, LogHub, Monitor, MonitorOptions};
use nas_sync_engine::sync::{self, SyncOptions, SyncReport};
use rusqlite::{Connection, params};

/// An env with `settle_secs` as given (the kit's default is 0).
fn env_settling(secs: u64) -> Env {
    env_with(|c| c.settle_secs = secs)
}

fn now() -> i64 {
    Utc::now().timestamp()
}

/// A sync at the real time now.
fn sync_now(cfg: &Config) -> SyncReport {
    sync_at_offset(cfg, 0)
}

/// A sync whose clock reads `secs` after the real time now.
fn sync_at_offset(cfg: &Config, secs: i64) -> SyncReport {
    let clock = FixedClock(Utc::now() + chrono::Duration::seconds(secs));
    let r = sync::run_sync(cfg, &clock, SyncOptions::default()).expect("sync runs");
    nas_sync_engine::target::finish_checkpoints();
    assert!(r.refused.is_none(), "unexpected refusal: {:?}", r.refused);
    assert!(r.errors.is_empty(), "unexpected errors: {:?}", r.errors);
    r
}

/// The Target rows at `path`: (size_bytes, status).
fn target_rows(target: &Path, path: &str) -> Vec<(i64, String)> {
    let c = Connection::open(target).expect("open pokervod.db");
    let mut stmt = c
        .prepare("SELECT size_bytes, status FROM files WHERE nas_path = ?1 ORDER BY id")
        .expect("prepare");
    stmt.query_map([path], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("rows")
}

/// The history events of `path` in archive.db, oldest first.
fn history(archive: &Path, path: &str) -> Vec<String> {
    let c = Connection::open(archive).expect("open archive.db");
    let mut stmt = c
        .prepare("SELECT event FROM file_history WHERE path = ?1 OR old_path = ?1 ORDER BY id")
        .expect("prepare");
    stmt.query_map(params![path], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<Vec<String>>>()
        .expect("events")
}

fn append(p: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(p)
        .expect("open to append");
    f.write_all(bytes).expect("append");
    f.flush().expect("flush");
}

/// The matching item at `path`: (status, source size).
fn matching_item(cfg: &Config, path: &str) -> (Status, Option<i64>, String) {
    let page = matching::matching(
        cfg,
        &MatchingQuery {
            per_page: Some(200),
            ..MatchingQuery::default()
        },
    )
    .expect("matching");
    let item = page
        .items
        .iter()
        .find(|i| i.source.as_ref().is_some_and(|s| s.path == path))
        .unwrap_or_else(|| panic!("{path} in the matching table"));
    (
        item.status,
        item.source.as_ref().map(|s| s.size_bytes),
        item.reason_code.clone(),
    )
}

#[test]
fn a_file_appended_while_syncs_run_reaches_the_target_once_with_its_final_size() {
    let e = env_settling(60);
    put_at(&e.root, "WSOP/2024/stable.mp4", 100, fresh_mtime());
    let rel = "WSOP/2024/growing.mp4";
    let path = e.root.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    fs::write(&path, b"").expect("create");
    let chunk = pattern(64 * 1024);
    let chunks = 40;
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, chunk, done) = (path.clone(), chunk.clone(), done.clone());
        std::thread::spawn(move || {
            for _ in 0..chunks {
                append(&path, &chunk);
                std::thread::sleep(Duration::from_millis(15));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut syncs = 0;
    while !done.load(Ordering::SeqCst) || syncs == 0 {
        let r = sync_now(&e.cfg);
        syncs += 1;
        assert!(
            target_rows(&e.target, rel).is_empty(),
            "sync {syncs} published a file still being written: {r:?}"
        );
        assert_eq!(r.held, 1, "the growing file is held back");
        assert_eq!(r.held_paths, vec![rel.to_string()]);
        // 60 s after the file's last write, counted from the sync's clock, which was read
        // before its scan: a write during a slow sync (a second under Wine on a loaded machine)
        // is that much after the clock, so the wait may exceed 60 s by the sync's duration.
        let most = 60 + r.duration_ms.div_ceil(1000) + 1;
        assert!(
            r.settle_wait_secs.is_some_and(|s| (1..=most).contains(&s)),
            "{r:?}"
        );
    }
    writer.join().expect("writer");
    let final_size = (chunk.len() * chunks) as i64;
    // Still held right after the last write.
    assert_eq!(sync_now(&e.cfg).held, 1);
    assert!(target_rows(&e.target, rel).is_empty());
    // A minute later (the clock is injected) the file has not changed: published once.
    let r = sync_at_offset(&e.cfg, 61);
    assert_eq!((r.held, r.added), (0, 1), "{r:?}");
    assert_eq!(
        target_rows(&e.target, rel),
        vec![(final_size, "active".into())]
    );
    let r = sync_at_offset(&e.cfg, 62);
    assert_eq!((r.added, r.updated, r.skipped), (0, 0, 2), "{r:?}");
    assert_eq!(history(&e.archive, rel), vec!["added"], "one Target write");
    assert_eq!(history(&e.archive, "WSOP/2024/stable.mp4"), vec!["added"]);
}

#[test]
fn a_preallocated_file_filled_in_place_reaches_the_target_once_with_its_final_size() {
    // Explorer's way: the full size first, then the bytes, then the source's (old) mtime.
    let e = env_settling(60);
    let rel = "GGMillions/final_table.mp4";
    let path = e.root.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    let full = 512 * 1024;
    let f = fs::File::create(&path).expect("create");
    f.set_len(full as u64).expect("pre-allocate");
    drop(f);
    let data = pattern(full);
    for (i, part) in data.chunks(64 * 1024).enumerate() {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start((i * 64 * 1024) as u64))
            .expect("seek");
        f.write_all(part).expect("fill");
        drop(f);
        let r = sync_now(&e.cfg);
        assert_eq!(r.held, 1, "part {i}: {r:?}");
        assert!(
            target_rows(&e.target, rel).is_empty(),
            "part {i}: a pre-allocated file was published while being filled"
        );
    }
    // The copy ends by setting the source's mtime: a file at rest, published by the next sync.
    let source_mtime = fresh_mtime();
    set_mtime(&path, source_mtime);
    let r = sync_now(&e.cfg);
    assert_eq!((r.held, r.added), (0, 1), "{r:?}");
    assert_eq!(
        target_rows(&e.target, rel),
        vec![(full as i64, "active".into())]
    );
    assert_eq!(fs::read(&path).expect("read"), data);
    assert_eq!(history(&e.archive, rel), vec!["added"]);
}

#[test]
fn an_archive_at_rest_is_published_by_its_first_sync_with_the_default_settle_time() {
    let e = env_with(|c| c.settle_secs = Config::default().settle_secs);
    assert_eq!(e.cfg.settle_secs, 60, "the default");
    for i in 0..25 {
        put_at(
            &e.root,
            &format!("WSOP/2024/day{i:02}.mp4"),
            10 + i,
            fresh_mtime(),
        );
    }
    let r = sync_now(&e.cfg);
    assert_eq!((r.added, r.held), (25, 0), "{r:?}");
    assert_eq!(r.settle_wait_secs, None);
    assert!(r.held_paths.is_empty());
    let dash = query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(dash.matching.copying, 0);
    assert_eq!(dash.target.total_files, 25);
}

#[test]
fn a_recent_file_is_copying_in_the_matching_table_and_the_dashboard_until_it_is_stable() {
    let e = env_settling(60);
    put_at(&e.root, "WSOP/2024/old.mp4", 100, fresh_mtime());
    let rel = "WSOP/2024/new.mp4";
    put_at(&e.root, rel, 700, now() - 10);
    let r = sync_now(&e.cfg);
    assert_eq!((r.added, r.held), (1, 1), "{r:?}");
    let wait = r.settle_wait_secs.expect("a wait");
    assert!((49..=51).contains(&wait), "about 50 s left: {wait}");
    assert!(target_rows(&e.target, rel).is_empty());

    let (status, size, code) = matching_item(&e.cfg, rel);
    assert_eq!(
        (status, size, code.as_str()),
        (Status::Copying, Some(700), "copying")
    );
    let page = matching::matching(
        &e.cfg,
        &MatchingQuery {
            status: Some("copying".into()),
            ..MatchingQuery::default()
        },
    )
    .expect("status filter");
    assert_eq!(page.total, 1);
    assert_eq!(page.summary.copying, 1);
    assert_eq!(page.summary.by_status["copying"], 1);
    let json = serde_json::to_value(&page).expect("json");
    assert_eq!(json["items"][0]["status"], "copying");
    assert!(
        json["items"][0]["reason"]
            .as_str()
            .is_some_and(|s| s.contains("복사 중")),
        "{json}"
    );
    let dash = query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(dash.matching.copying, 1);
    assert_eq!(dash.matching.synced, 1);
    assert_eq!(dash.target.total_files, 1);

    // The copy grows once more, then rests: its mtime is a minute old.
    append(&e.root.join(rel), &pattern(300));
    set_mtime(&e.root.join(rel), now() - 61);
    let (status, ..) = matching_item(&e.cfg, rel);
    assert_eq!(
        status,
        Status::Copying,
        "archive.db still has the scan's view"
    );
    let r = sync_now(&e.cfg);
    assert_eq!((r.added, r.held), (1, 0), "{r:?}");
    assert_eq!(target_rows(&e.target, rel), vec![(1000, "active".into())]);
    let (status, size, _) = matching_item(&e.cfg, rel);
    assert_eq!((status, size), (Status::Synced, Some(1000)));
    assert_eq!(
        query::dashboard(&e.cfg)
            .expect("dashboard")
            .matching
            .copying,
        0
    );
}

#[test]
fn a_copying_verdict_runs_out_with_time_alone() {
    // settle_secs 2: the index must turn `copying` into `new` when the time passes, although
    // neither database changed.
    let e = env_settling(2);
    let rel = "WSOP/2024/fresh.mp4";
    put_at(&e.root, rel, 10, now());
    let r = sync_now(&e.cfg);
    assert_eq!(r.held, 1, "{r:?}");
    assert_eq!(matching_item(&e.cfg, rel).0, Status::Copying);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, code) = matching_item(&e.cfg, rel);
        if status == Status::New {
            assert_eq!(code, "pending_insert");
            break;
        }
        assert_eq!(status, Status::Copying);
        assert!(
            Instant::now() < deadline,
            "the copying verdict never ran out"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = sync_now(&e.cfg);
    assert_eq!((r.added, r.held), (1, 0), "{r:?}");
}

#[test]
fn a_synced_file_overwritten_in_place_keeps_its_target_row_until_it_is_stable() {
    let e = env_settling(60);
    let rel = "WSOP/2024/main_event.mp4";
    put_at(&e.root, rel, 100, fresh_mtime());
    assert_eq!(sync_now(&e.cfg).added, 1);
    let before = target_rows(&e.target, rel);
    assert_eq!(before, vec![(100, "active".into())]);

    // Being overwritten: half the new bytes so far, mtime now.
    fs::write(e.root.join(rel), pattern(40)).expect("overwrite");
    let r = sync_now(&e.cfg);
    assert_eq!((r.held, r.updated, r.deleted), (1, 0, 0), "{r:?}");
    assert_eq!(
        target_rows(&e.target, rel),
        before,
        "the row stays as it was"
    );
    let (status, size, _) = matching_item(&e.cfg, rel);
    assert_eq!((status, size), (Status::Copying, Some(40)));
    let page = matching::matching(&e.cfg, &MatchingQuery::default()).expect("matching");
    let item = page
        .items
        .iter()
        .find(|i| i.source.as_ref().is_some_and(|s| s.path == rel))
        .expect("item");
    assert_eq!(
        item.target.as_ref().map(|t| t.size_bytes),
        Some(100),
        "shown with the Target row it keeps"
    );
    assert_eq!(
        page.summary.deleted, 0,
        "the kept row is not listed as deleted"
    );

    append(&e.root.join(rel), &pattern(40));
    let r = sync_at_offset(&e.cfg, 61);
    assert_eq!((r.held, r.updated), (0, 1), "{r:?}");
    assert_eq!(target_rows(&e.target, rel), vec![(80, "active".into())]);
    assert_eq!(history(&e.archive, rel), vec!["added", "updated"]);
}

#[test]
fn a_partial_file_moved_mid_copy_is_not_a_move_and_is_inserted_once_where_it_ends() {
    let e = env_settling(60);
    put_at(&e.root, "WSOP/2024/other.mp4", 100, fresh_mtime());
    let (from, to) = ("Incoming/ep1.mp4", "WSOP/2024/ep1.mp4");
    put_at(&e.root, from, 50, now() - 5);
    let r = sync_now(&e.cfg);
    assert_eq!((r.added, r.held), (1, 1), "{r:?}");

    // The copy tool renames its partial file into place and goes on writing.
    common::mv(&e.root, from, to);
    append(&e.root.join(to), &pattern(50));
    let r = sync_now(&e.cfg);
    assert_eq!((r.added, r.moved, r.deleted, r.held), (0, 0, 0, 1), "{r:?}");
    assert!(target_rows(&e.target, from).is_empty());
    assert!(target_rows(&e.target, to).is_empty());

    let r = sync_at_offset(&e.cfg, 61);
    assert_eq!((r.added, r.moved, r.deleted, r.held), (1, 0, 0, 0), "{r:?}");
    assert!(
        target_rows(&e.target, from).is_empty(),
        "never published at the old path"
    );
    assert_eq!(target_rows(&e.target, to), vec![(100, "active".into())]);
    assert_eq!(history(&e.archive, to), vec!["added"]);
}

#[test]
fn a_settle_time_of_zero_publishes_a_file_at_once() {
    let e = env_settling(0);
    put_at(&e.root, "WSOP/2024/now.mp4", 10, now());
    let r = sync_now(&e.cfg);
    assert_eq!((r.added, r.held), (1, 0), "{r:?}");
}

#[test]
fn a_dry_run_and_reconcile_leave_a_copying_file_out_of_what_they_would_insert() {
    let e = env_settling(60);
    put_at(&e.root, "WSOP/2024/old.mp4", 10, fresh_mtime());
    put_at(&e.root, "WSOP/2024/copying.mp4", 10, now());
    let r = sync::run_sync(
        &e.cfg,
        &SystemClock,
        SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    )
    .expect("dry run");
    assert_eq!((r.added, r.held), (1, 1), "{r:?}");
    let rec = nas_sync_engine::reconcile::reconcile(&e.cfg, &SystemClock).expect("reconcile");
    assert_eq!(
        rec.would_insert.items,
        vec!["WSOP/2024/old.mp4".to_string()]
    );
}

#[test]
fn the_monitor_syncs_held_files_again_as_soon_as_they_can_be_stable() {
    let e = env_settling(2);
    let rel = "WSOP/2024/landing.mp4";
    put_at(&e.root, rel, 10, now());
    let m = Monitor::new(
        e.cfg.clone(),
        Arc::new(SystemClock),
        LogHub::new(),
        MonitorOptions {
            schedule: false,
            ..MonitorOptions::default()
        },
    );
    let s = m.start(JobKind::Sync, sync::Force::No, "manual");
    assert!(m.wait(s.job_id, Duration::from_secs(30)));
    match m.job(s.job_id).and_then(|j| j.result) {
        Some(JobResult::Sync(r)) => assert_eq!(r.held, 1, "{r:?}"),
        other => panic!("sync result expected: {other:?}"),
    }
    assert!(target_rows(&e.target, rel).is_empty());
    assert!(m.settle_due().is_some(), "a look at the held file is due");
    // No schedule and no watcher: only the settle sync can publish it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while target_rows(&e.target, rel).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the held file was not synced again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(target_rows(&e.target, rel), vec![(10, "active".into())]);
    let settle = m
        .jobs()
        .into_iter()
        .find(|j| j.trigger == "settle")
        .expect("a settle job");
    assert!(m.wait(settle.id, Duration::from_secs(30)));
    assert!(m.settle_due().is_none(), "nothing is held any more");
    m.shutdown(Duration::from_secs(5));
}

#[test]
fn a_synced_file_copied_elsewhere_then_deleted_keeps_its_row_until_the_copy_is_stable() {
    let e = env_settling(60);
    let (old, new) = ("HCL/2023/EP07.mp4", "HCL/2024/EP07.mp4");
    put_at(&e.root, old, 100, fresh_mtime());
    put_at(&e.root, "HCL/2023/EP08.mp4", 100, fresh_mtime());
    assert_eq!(sync_now(&e.cfg).added, 2);
    let id = |p: &str| -> Option<i64> {
        Connection::open(&e.target)
            .expect("open")
            .query_row(
                "SELECT id FROM files WHERE nas_path = ?1 AND status = 'active'",
                [p],
                |r| r.get(0),
            )
            .ok()
    };
    let row = id(old).expect("row");
    // A copy without preserved times (fresh mtime), then the original deleted.
    put_at(&e.root, new, 60, now());
    common::rm(&e.root, old);
    let r = sync_now(&e.cfg);
    assert_eq!((r.held, r.deleted, r.added, r.moved), (1, 0, 0, 0), "{r:?}");
    assert_eq!(
        id(old),
        Some(row),
        "the row stays as it was while the copy settles"
    );
    let page = matching::matching(&e.cfg, &MatchingQuery::default()).expect("matching");
    let item = page
        .items
        .iter()
        .find(|i| i.source.as_ref().is_some_and(|s| s.path == new))
        .expect("copy");
    assert_eq!(item.status, Status::Copying);
    assert_eq!(item.target.as_ref().map(|t| t.id), Some(row));
    assert_eq!(page.summary.deleted, 0);

    append(&e.root.join(new), &pattern(40));
    let r = sync_at_offset(&e.cfg, 61);
    assert_eq!((r.held, r.moved, r.deleted, r.added), (0, 1, 0, 0), "{r:?}");
    assert_eq!(id(new), Some(row), "the same Target row, re-pointed once");
    assert_eq!(target_rows(&e.target, new), vec![(100, "active".into())]);
}

#[test]
fn a_sync_without_a_scan_does_not_publish_the_old_record_of_a_file_still_being_copied() {
    let e = env_settling(60);
    let rel = "WSOP/2024/slow_copy.mp4";
    put_at(&e.root, rel, 100, now() - 5);
    assert_eq!(sync_now(&e.cfg).held, 1);
    // The copy goes on; a minute later a sync that does not scan (the watcher's scoped sync of
    // another folder, `sync --no-scan`) finds the record old enough, but the file has grown.
    append(&e.root.join(rel), &pattern(50));
    let clock = FixedClock(Utc::now() + chrono::Duration::seconds(61));
    let r = sync::run_sync(
        &e.cfg,
        &clock,
        SyncOptions {
            no_scan: true,
            ..SyncOptions::default()
        },
    )
    .expect("sync without a scan");
    nas_sync_engine::target::finish_checkpoints();
    assert_eq!((r.held, r.added), (1, 0), "{r:?}");
    assert!(r.settle_wait_secs.is_some(), "a look at it is scheduled");
    assert!(target_rows(&e.target, rel).is_empty());
    // A scan sees the final size; published once it is stable.
    let r = sync_at_offset(&e.cfg, 61);
    assert_eq!((r.held, r.added), (0, 1), "{r:?}");
    assert_eq!(target_rows(&e.target, rel), vec![(150, "active".into())]);
}

#[test]
fn a_file_growing_under_an_old_mtime_is_held_by_the_scans_re_check() {
    // A NAS clock far behind ours (or a writer that keeps an old mtime): the mtime says "at
    // rest", but the file grows between the scan's walk and its re-check.
    let e = env_settling(60);
    let rel = "WSOP/2024/skewed.mp4";
    let path = e.root.join(rel);
    let old = fresh_mtime();
    put_at(&e.root, rel, 0, old);
    let chunk = pattern(4096);
    let rounds = 250;
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, chunk, done) = (path.clone(), chunk.clone(), done.clone());
        std::thread::spawn(move || {
            for _ in 0..rounds {
                append(&path, &chunk);
                set_mtime(&path, old);
                std::thread::sleep(Duration::from_millis(10));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let final_size = (chunk.len() * rounds) as i64;
    let mut held = 0;
    while !done.load(Ordering::SeqCst) {
        let r = sync_now(&e.cfg);
        held += r.held;
        for (size, _) in target_rows(&e.target, rel) {
            assert_eq!(size, final_size, "published while still growing: {r:?}");
        }
    }
    writer.join().expect("writer");
    assert!(held > 0, "the re-check held the growing file at least once");
    let r = sync_now(&e.cfg);
    assert_eq!(r.held, 0, "at rest now: {r:?}");
    assert_eq!(
        target_rows(&e.target, rel),
        vec![(final_size, "active".into())]
    );
    assert_eq!(history(&e.archive, rel), vec!["added"], "one Target write");
}
