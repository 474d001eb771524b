//! The history query (PRD 4.3): applied Target changes, newest first, with filters.

use std::fs;

use chrono::{TimeZone, Utc};
mod common;

use common::{Env, env, put};
use nas_sync_engine::Error;
use nas_sync_engine::clock::FixedClock;
use nas_sync_engine::query::{self, HistoryFilter};
use nas_sync_engine::sync::{self, SyncOptions};
use rusqlite::Connection;

fn sync_at(e: &Env, day: u32) {
    let clock = FixedClock(
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0)
            .single()
            .expect("valid time"),
    );
    let r = sync::run_sync(&e.cfg, &clock, SyncOptions::default()).expect("sync");
    assert!(r.refused.is_none(), "{r:?}");
}

fn get(e: &Env, f: HistoryFilter) -> Vec<(String, String, Option<String>, String, String)> {
    query::history(&e.cfg, &f)
        .expect("history")
        .items
        .into_iter()
        .map(|i| (i.event, i.path, i.old_path, i.catalog, i.time))
        .collect()
}

/// Day 1: add two files. Day 2: move one to another catalog, delete the other.
fn scenario() -> Env {
    let e = env();
    put(&e.root, "WSOP/a.mp4", b"aaaa");
    put(&e.root, "HCL/b.mp4", b"bb");
    sync_at(&e, 1);
    fs::create_dir_all(e.root.join("PAD")).expect("dir");
    fs::rename(e.root.join("WSOP/a.mp4"), e.root.join("PAD/a.mp4")).expect("move");
    fs::remove_file(e.root.join("HCL/b.mp4")).expect("delete");
    // Keep the share non-empty and the delete under the guard's count limit.
    put(&e.root, "HCL/c.mp4", b"c");
    sync_at(&e, 2);
    e
}

#[test]
fn history_is_newest_first_and_a_moved_file_has_its_new_catalog() {
    let e = scenario();
    let all = get(&e, HistoryFilter::default());
    let events: Vec<&str> = all.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(
        events,
        vec!["added", "deleted", "moved", "added", "added"],
        "{all:?}"
    );
    let moved = &all[2];
    assert_eq!(moved.1, "PAD/a.mp4");
    assert_eq!(moved.2.as_deref(), Some("WSOP/a.mp4"));
    assert_eq!(moved.3, "PAD", "a moved file's catalog is its new one");
    assert_eq!(moved.4, "2026-03-02T09:00:00Z");
}

#[test]
fn filters_by_event_catalog_and_since() {
    let e = scenario();
    let added = get(
        &e,
        HistoryFilter {
            event: Some("added".into()),
            ..Default::default()
        },
    );
    assert_eq!(added.len(), 3);
    let hcl = get(
        &e,
        HistoryFilter {
            catalog: Some("HCL".into()),
            ..Default::default()
        },
    );
    let hcl: Vec<(&str, &str)> = hcl.iter().map(|h| (h.0.as_str(), h.1.as_str())).collect();
    assert_eq!(
        hcl,
        vec![
            ("added", "HCL/c.mp4"),
            ("deleted", "HCL/b.mp4"),
            ("added", "HCL/b.mp4")
        ]
    );
    for since in [
        "2026-03-02",
        "2026-03-02T09:00:00Z",
        "2026-03-02T18:00:00+09:00",
    ] {
        let recent = get(
            &e,
            HistoryFilter {
                since: Some(since.into()),
                ..Default::default()
            },
        );
        assert_eq!(recent.len(), 3, "since {since}: {recent:?}");
    }
    let limited = get(
        &e,
        HistoryFilter {
            limit: Some(1),
            ..Default::default()
        },
    );
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].1, "HCL/c.mp4");
}

#[test]
fn bad_filters_are_clear_errors() {
    let e = scenario();
    for (f, field) in [
        (
            HistoryFilter {
                limit: Some(0),
                ..Default::default()
            },
            "limit",
        ),
        (
            HistoryFilter {
                limit: Some(10_001),
                ..Default::default()
            },
            "limit",
        ),
        (
            HistoryFilter {
                event: Some("renamed".into()),
                ..Default::default()
            },
            "event",
        ),
        (
            HistoryFilter {
                since: Some("yesterday".into()),
                ..Default::default()
            },
            "since",
        ),
    ] {
        match query::history(&e.cfg, &f) {
            Err(Error::Invalid {
                field: got,
                message,
            }) => {
                assert_eq!(got, field, "{message}");
                assert!(!message.is_empty());
            }
            other => panic!("{f:?}: expected an invalid-argument error, got {other:?}"),
        }
    }
}

#[test]
fn changes_of_a_run_still_pending_are_not_shown() {
    let e = scenario();
    let before = get(&e, HistoryFilter::default()).len();
    let c = Connection::open(&e.archive).expect("open archive");
    c.execute_batch(
        "INSERT INTO sync_runs (started_at, finished_at, status, forced, added, updated, moved,
           restored, deleted, skipped, errors, duration_ms)
         VALUES ('2026-03-03T09:00:00Z', '2026-03-03T09:00:00Z', 'pending', 0, 1, 0, 0, 0, 0, 0, 0, 0);
         INSERT INTO file_history (sync_id, event, path, catalog, time, target_id)
         VALUES (last_insert_rowid(), 'added', 'HCL/not-yet.mp4', 'HCL', '2026-03-03T09:00:00Z', 99);",
    )
    .expect("stage a pending run");
    let after = get(&e, HistoryFilter::default());
    assert_eq!(after.len(), before, "{after:?}");
    assert!(after.iter().all(|h| h.1 != "HCL/not-yet.mp4"));
}

#[test]
fn no_archive_yet_means_no_history() {
    let e = env();
    assert!(get(&e, HistoryFilter::default()).is_empty());
    assert!(!e.archive.exists(), "a query never creates archive.db");
}

#[test]
fn offset_pages_through_the_history_and_total_counts_every_matching_row() {
    let e = env();
    for i in 0..7 {
        put(&e.root, &format!("WSOP/f{i}.mp4"), b"x");
    }
    put(&e.root, "HCL/h.mp4", b"y");
    sync_at(&e, 1);
    let all = get(&e, HistoryFilter::default());
    assert_eq!(all.len(), 8, "{all:?}");
    let page = |offset: u64, catalog: Option<&str>| {
        query::history(
            &e.cfg,
            &HistoryFilter {
                limit: Some(3),
                offset: Some(offset),
                catalog: catalog.map(String::from),
                ..Default::default()
            },
        )
        .expect("history page")
    };
    let mut paged = Vec::new();
    for offset in [0, 3, 6] {
        let p = page(offset, None);
        assert_eq!(
            (p.offset, p.limit, p.total),
            (offset, 3, 8),
            "page at {offset}"
        );
        paged.extend(p.items.into_iter().map(|i| i.path));
    }
    let expected: Vec<String> = all.iter().map(|h| h.1.clone()).collect();
    assert_eq!(
        paged, expected,
        "three pages of 3 are the whole history, in order, once each"
    );
    let past = page(9, None);
    assert!(past.items.is_empty(), "{past:?}");
    assert_eq!(past.total, 8);
    let wsop = page(3, Some("WSOP"));
    assert_eq!(wsop.total, 7, "total counts the filtered rows");
    assert_eq!(wsop.items.len(), 3);
    assert!(wsop.items.iter().all(|i| i.catalog == "WSOP"));
}
