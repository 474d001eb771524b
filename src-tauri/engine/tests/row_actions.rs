//! The problem list's and the matching table's row actions: 다시 시도 on one problem reads
//! again only that problem's folder before the sync, and 폴더 열기 answers only paths inside
//! the archive.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use nas_sync_engine::archive::ProblemKind;
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::error::ErrorCode;
use nas_sync_engine::query;
use nas_sync_engine::runtime::actions::locate_in_archive;
use nas_sync_engine::runtime::{JobState, LogHub, Monitor, MonitorOptions, Service};
use nas_sync_engine::sync::SyncOptions;
use rusqlite::Connection;

fn service(e: &Env) -> Service {
    let opts = MonitorOptions {
        schedule: false,
        ..MonitorOptions::default()
    };
    let m = Monitor::new(e.cfg.clone(), Arc::new(SystemClock), LogHub::new(), opts);
    Service::new(m, None, None)
}

fn target_paths(e: &Env) -> Vec<String> {
    let c = Connection::open(&e.target).expect("open Target");
    let mut st = c
        .prepare("SELECT nas_path FROM files WHERE status != 'deleted' ORDER BY nas_path")
        .expect("prepare");
    st.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

#[test]
fn retrying_one_problem_reads_only_its_folder_again_then_syncs() {
    let e = env();
    put(&e.root, "X/a.mp4", b"a");
    sync_at(&e, 1);
    target_refuses(&e.target, "X/b.mp4");
    put(&e.root, "X/b.mp4", b"bb");
    let r = sync_with(&e.cfg, 2, SyncOptions::default());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    let list = query::problems(&e.cfg).expect("problems");
    assert_eq!(list.total, 1);
    let p = list.items[0].clone();
    assert_eq!((p.kind, p.retry_dir()), (ProblemKind::SyncFailed, "X"));

    // The owner lifts the trigger; meanwhile a file arrives in the same folder and another in
    // a folder the retry has no reason to read.
    target_accepts(&e.target);
    put(&e.root, "X/c.mp4", b"ccc");
    put(&e.root, "Y/elsewhere.mp4", b"dddd");

    let s = service(&e);
    let started = s.retry_problem(p.id).expect("retry");
    assert!(started.started, "{started:?}");
    assert!(s.monitor().wait(started.job_id, Duration::from_secs(60)));
    let job = s.job(started.job_id).expect("job");
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(
        target_paths(&e),
        ["X/a.mp4", "X/b.mp4", "X/c.mp4"],
        "the refused row and its folder's new file are written; Y was not read again"
    );
    assert_eq!(query::problems(&e.cfg).expect("problems").total, 0);

    // The problem is gone: retrying it again says so.
    let gone = s.retry_problem(p.id).expect_err("gone");
    assert_eq!(gone.code, ErrorCode::NotFound, "{gone:?}");
    assert!(gone.message.contains("문제"), "{}", gone.message);
}

#[test]
fn a_problem_is_retried_from_its_own_folder_and_a_folder_from_itself() {
    use nas_sync_engine::archive::{Problem, ProblemOrigin};
    let p = |path: &str, kind| Problem {
        id: 1,
        origin: ProblemOrigin::Scan,
        path: path.into(),
        kind,
        message: String::new(),
        since: String::new(),
        last_seen: String::new(),
        scan_id: None,
        sync_id: None,
    };
    assert_eq!(p("A/B", ProblemKind::UnreadableDir).retry_dir(), "A/B");
    assert_eq!(
        p("A/B/c.mp4", ProblemKind::UnreadableFile).retry_dir(),
        "A/B"
    );
    assert_eq!(
        p("A/bad\u{FFFD}", ProblemKind::InvalidName).retry_dir(),
        "A"
    );
    assert_eq!(p("top.mp4", ProblemKind::SyncFailed).retry_dir(), "");
}

#[test]
fn open_folder_answers_a_file_inside_the_archive_and_nothing_outside() {
    let e = env();
    put(&e.root, "WSOP/2024/day1.mp4", b"x");
    let l = locate_in_archive(&e.cfg, "WSOP/2024/day1.mp4").expect("inside");
    assert_eq!(
        l.item.as_deref(),
        Some(e.root.join("WSOP/2024/day1.mp4").as_path())
    );
    assert_eq!(l.folder, e.root.join("WSOP/2024"));

    // A file gone since the screen was drawn: its nearest folder still there.
    let l = locate_in_archive(&e.cfg, "WSOP/2024/gone/x.mp4").expect("gone");
    assert_eq!((l.item, l.folder), (None, e.root.join("WSOP/2024")));

    for bad in [
        "../outside.mp4",
        "WSOP/../../etc/passwd",
        "WSOP/./x.mp4",
        "WSOP//x.mp4",
        "C:/Windows",
        "\\\\server\\share\\x.mp4",
        "WSOP\\..\\..\\x",
    ] {
        let err = locate_in_archive(&e.cfg, bad).expect_err(bad);
        assert_eq!(err.code(), "invalid_argument", "{bad}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn open_folder_does_not_follow_a_link_out_of_the_archive() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", b"x");
    let outside = e.dir().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::fs::write(outside.join("secret.mp4"), b"s").expect("outside file");
    std::os::unix::fs::symlink(&outside, e.root.join("WSOP/link")).expect("symlink");
    let err = locate_in_archive(&e.cfg, "WSOP/link/secret.mp4").expect_err("link out");
    assert_eq!(err.code(), "invalid_argument", "{err}");
    let err = locate_in_archive(&e.cfg, "WSOP/link").expect_err("link out");
    assert_eq!(err.code(), "invalid_argument", "{err}");
}
