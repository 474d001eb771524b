//! The problem list: what a scan could not read and what the Target refused stays listed, with
//! the time it was first seen, exactly until it goes away; the dashboard counts it.

#![cfg_attr(not(unix), allow(unused_imports, dead_code))]

mod common;

use std::fs;

use common::*;
use nas_sync_engine::archive::{Archive, ProblemKind, ProblemList, ProblemOrigin};
use nas_sync_engine::query;
use nas_sync_engine::scan::{self, PartialScan, ScanOptions};
use nas_sync_engine::sync::SyncOptions;

fn problems(e: &Env) -> ProblemList {
    query::problems(&e.cfg).expect("problems")
}

/// (origin, path, kind) of every problem, sorted.
fn listed(e: &Env) -> Vec<(ProblemOrigin, String, ProblemKind)> {
    let mut v: Vec<_> = problems(e)
        .items
        .into_iter()
        .map(|p| (p.origin, p.path, p.kind))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// A file whose name is not UTF-8 (Unix only: Windows names are UTF-16).
#[cfg(unix)]
fn bad_name(e: &Env, dir: &str, bytes: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let p = e.root.join(dir).join(std::ffi::OsStr::from_bytes(bytes));
    fs::write(&p, b"x").expect("write a file with a non-UTF-8 name");
    p
}

#[cfg(unix)]
#[test]
fn a_skipped_name_is_listed_from_its_first_scan_until_it_is_renamed() {
    let e = env();
    put(&e.root, "WSOP/ok.mp4", b"ok");
    put(&e.root, "HCL/fine.mp4", b"fine");
    let bad = bad_name(&e, "WSOP", b"bad\xff.mp4");
    assert_eq!(problems(&e).total, 0, "no archive.db yet: no problems");

    let r = sync_at(&e, 1);
    assert_eq!(r.added, 2);
    let first = problems(&e);
    assert_eq!(first.total, 1);
    let p = &first.items[0];
    assert_eq!(
        (p.origin, p.path.as_str(), p.kind),
        (
            ProblemOrigin::Scan,
            "WSOP/bad\u{FFFD}.mp4",
            ProblemKind::InvalidName
        )
    );
    assert_eq!(p.since, iso_at(1));
    assert!(p.scan_id.is_some() && p.sync_id.is_none());
    assert_eq!(
        query::dashboard(&e.cfg)
            .expect("dashboard")
            .sync_status
            .problems,
        1,
        "the dashboard counts it"
    );

    // Still there at the next sync: listed once, since the first time.
    sync_at(&e, 2);
    let again = problems(&e);
    assert_eq!(again.total, 1);
    assert_eq!(again.items[0].since, iso_at(1));
    assert_eq!(again.items[0].last_seen, iso_at(2));

    // Renamed to a valid name: gone at the next scan, and the file is synced.
    fs::rename(&bad, e.root.join("WSOP/bad.mp4")).expect("rename");
    let r = sync_at(&e, 3);
    assert_eq!(r.added, 1);
    assert!(listed(&e).is_empty(), "{:?}", listed(&e));
    assert_eq!(
        query::dashboard(&e.cfg)
            .expect("dashboard")
            .sync_status
            .problems,
        0
    );
}

#[cfg(unix)]
#[test]
fn a_partial_scan_clears_only_the_problems_under_its_folders() {
    let e = env();
    put(&e.root, "WSOP/ok.mp4", b"ok");
    put(&e.root, "HCL/fine.mp4", b"fine");
    let in_wsop = bad_name(&e, "WSOP", b"w\xff.mp4");
    let in_hcl = bad_name(&e, "HCL", b"h\xff.mp4");
    sync_at(&e, 1);
    assert_eq!(listed(&e).len(), 2);

    // Both fixed on the share, but only WSOP is looked at again.
    fs::remove_file(&in_wsop).expect("rm");
    fs::remove_file(&in_hcl).expect("rm");
    let mut a = Archive::open(&e.archive).expect("open");
    let out = scan::run_partial_scan(
        &e.cfg,
        &mut a,
        &clock(2),
        &["WSOP".to_string()],
        ScanOptions::default(),
    )
    .expect("partial scan");
    assert!(matches!(out, PartialScan::Done(_)));
    assert_eq!(
        listed(&e),
        vec![(
            ProblemOrigin::Scan,
            "HCL/h\u{FFFD}.mp4".to_string(),
            ProblemKind::InvalidName
        )],
        "HCL was not looked at: its problem stays until a scan sees it fixed"
    );
    sync_at(&e, 3);
    assert!(listed(&e).is_empty());
}

#[test]
fn a_row_the_target_refuses_is_listed_with_its_sync_until_a_sync_writes_it() {
    let e = env();
    put(&e.root, "X/a.mp4", b"a");
    sync_at(&e, 1);
    // The Target's owner refuses one path (a trigger of theirs).
    target_refuses(&e.target, "X/b.mp4");
    put(&e.root, "X/b.mp4", b"bb");
    put(&e.root, "X/c.mp4", b"ccc");
    let r = sync_with(&e.cfg, 2, SyncOptions::default());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.added, 1, "X/c.mp4 is written");
    let list = problems(&e);
    assert_eq!(list.total, 1);
    let p = &list.items[0];
    assert_eq!(
        (p.origin, p.path.as_str(), p.kind),
        (ProblemOrigin::Sync, "X/b.mp4", ProblemKind::SyncFailed)
    );
    assert!(p.message.contains("owner says no"), "{}", p.message);
    assert_eq!(p.since, iso_at(2));
    assert!(p.sync_id.is_some());

    // Refused again: still one problem, since the first time, named by the later sync.
    let r = sync_with(&e.cfg, 3, SyncOptions::default());
    assert_eq!(r.errors.len(), 1);
    let again = problems(&e);
    assert_eq!(again.total, 1);
    assert_eq!(again.items[0].since, iso_at(2));
    assert!(again.items[0].sync_id > p.sync_id);

    // The owner lifts the trigger: the next sync writes the row and the problem is gone.
    target_accepts(&e.target);
    let r = sync_at(&e, 4);
    assert_eq!(r.added, 1);
    assert!(listed(&e).is_empty(), "{:?}", listed(&e));
}

#[cfg(unix)]
#[test]
fn a_dry_run_and_a_refused_sync_leave_the_problems_as_they_were() {
    let e = env();
    put(&e.root, "WSOP/ok.mp4", b"ok");
    let bad = bad_name(&e, "WSOP", b"x\xff.mp4");
    sync_at(&e, 1);
    fs::remove_file(&bad).expect("rm");
    let dry = sync_with(
        &e.cfg,
        2,
        SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    );
    assert!(dry.dry_run);
    assert_eq!(
        listed(&e).len(),
        1,
        "a dry run writes nothing, problems neither"
    );
}
