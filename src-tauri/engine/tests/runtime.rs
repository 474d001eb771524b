//! The monitor runtime on real directory trees and real SQLite files: single-flight jobs,
//! reports, cancellation, the mass-delete guard as a job result, the status and its stream,
//! the schedule (skips, pause), the watcher (partial syncs of the changed directories, restarts
//! on settings changes). The live log fed by the engine's tracing is in runtime_logs.rs.

mod common;

use std::fs;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{env, put};
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::runtime::monitor::{JobResult, ROOT_UNREACHABLE};
use nas_sync_engine::runtime::{
    Caller, CallerKind, ForceApproval, JobKind, JobState, LogHub, Monitor, MonitorOptions, Started,
    Status, StatusKind,
};
use nas_sync_engine::scan::ScanScope;
use rusqlite::Connection;

const WAIT: Duration = Duration::from_secs(60);

fn manual() -> MonitorOptions {
    MonitorOptions {
        schedule: false,
        ..MonitorOptions::default()
    }
}

fn monitor(cfg: &nas_sync_engine::Config, opts: MonitorOptions) -> Monitor {
    Monitor::new(cfg.clone(), Arc::new(SystemClock), LogHub::new(), opts)
}

fn active_rows(target: &std::path::Path) -> i64 {
    Connection::open(target)
        .expect("open target")
        .query_row(
            "SELECT count(*) FROM files WHERE status != 'deleted'",
            [],
            |r| r.get(0),
        )
        .expect("count")
}

fn run(m: &Monitor, kind: JobKind, force: bool) -> nas_sync_engine::runtime::JobInfo {
    assert!(!force, "a forced sync goes through `force_reviewed`");
    finished(m, m.start(kind, nas_sync_engine::sync::Force::No, "manual"))
}

/// The job `s` started (no other was running), once it has finished.
fn finished(m: &Monitor, s: Started) -> nas_sync_engine::runtime::JobInfo {
    assert!(s.started, "no other job was running");
    assert!(m.wait(s.job_id, WAIT), "job {} finished in time", s.job_id);
    m.job(s.job_id).expect("finished job is kept")
}

#[test]
fn a_sync_job_applies_reports_and_a_second_start_returns_the_same_job() {
    let e = env();
    for i in 0..30 {
        put(&e.root, &format!("WSOP/2024/day{i}.mp4"), b"x");
    }
    let m = monitor(&e.cfg, manual());
    let first = m.start(JobKind::Sync, nas_sync_engine::sync::Force::No, "manual");
    let second = m.start(JobKind::Sync, nas_sync_engine::sync::Force::No, "manual");
    let third = m.start(
        JobKind::Reconcile,
        nas_sync_engine::sync::Force::No,
        "manual",
    );
    assert!(first.started);
    // The job may already be done by the second call on a fast machine; when it runs, the
    // answer is the running job's id and nothing new starts.
    if !second.started {
        assert_eq!(second.job_id, first.job_id);
        assert_eq!(second.kind, JobKind::Sync);
    }
    for s in [second, third] {
        if s.started {
            m.wait(s.job_id, WAIT);
        }
    }
    assert!(m.wait(first.job_id, WAIT));
    let job = m.job(first.job_id).expect("job");
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(job.progress.phase, "done");
    assert!(job.finished_at.is_some());
    match job.result {
        Some(JobResult::Sync(r)) => assert_eq!(r.added, 30),
        other => panic!("sync result expected, got {other:?}"),
    }
    assert_eq!(active_rows(&e.target), 30);
    let status = m.status();
    assert_eq!(status.status, StatusKind::Ok);
    assert_eq!(status.label, "정상");
    assert!(status.last_sync.is_some());
    let json = serde_json::to_value(m.job(first.job_id)).expect("json");
    assert_eq!(json["kind"], "sync");
    assert_eq!(json["state"], "succeeded");
    assert_eq!(json["result"]["kind"], "sync");
    assert_eq!(json["result"]["added"], 30);
}

#[test]
fn single_flight_while_a_job_really_runs() {
    let e = env();
    // Enough files that the scan is still walking when the next start arrives.
    for i in 0..3000 {
        put(&e.root, &format!("HCL/{}/f{i}.mp4", i % 50), b"");
    }
    let m = monitor(&e.cfg, manual());
    let first = m.start(JobKind::Scan, nas_sync_engine::sync::Force::No, "manual");
    let again = m.start(JobKind::Sync, nas_sync_engine::sync::Force::No, "manual");
    assert!(
        !again.started,
        "the scan of 3000 files was still running, so no second job started"
    );
    assert_eq!(again.job_id, first.job_id);
    assert_eq!(again.kind, JobKind::Scan);
    let running = m.job(first.job_id).expect("running job");
    assert_eq!(running.state, JobState::Running);
    assert_eq!(m.status().status, StatusKind::Running);
    assert!(m.wait(first.job_id, WAIT));
    assert_eq!(m.jobs().len(), 1, "only one job was ever started");
}

#[test]
fn cancel_stops_a_scan_and_commits_nothing() {
    let e = env();
    for i in 0..20_000 {
        put(&e.root, &format!("PAD/{}/{}/f{i}.mp4", i % 20, i % 7), b"");
    }
    let m = monitor(&e.cfg, manual());
    let s = m.start(JobKind::Scan, nas_sync_engine::sync::Force::No, "manual");
    assert!(m.cancel(s.job_id), "the scan is running");
    assert!(!m.cancel(s.job_id + 1), "no such running job");
    assert!(m.wait(s.job_id, WAIT));
    let job = m.job(s.job_id).expect("job");
    assert_eq!(job.state, JobState::Cancelled, "{job:?}");
    let files: i64 = Connection::open(&e.archive)
        .expect("archive")
        .query_row("SELECT count(*) FROM files", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(files, 0, "a cancelled scan commits nothing");
    assert_eq!(
        m.status().status,
        StatusKind::Ok,
        "cancelling is not an error"
    );
}

#[test]
fn the_mass_delete_guard_is_a_job_result_and_force_applies() {
    let e = env();
    for i in 0..40 {
        put(&e.root, &format!("WSOP/e{i}.mp4"), b"x");
    }
    let m = monitor(&e.cfg, manual());
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    for i in 0..30 {
        fs::remove_file(e.root.join(format!("WSOP/e{i}.mp4"))).expect("rm");
    }
    let refused = run(&m, JobKind::Sync, false);
    assert_eq!(refused.state, JobState::Refused);
    let Some(JobResult::Sync(r)) = &refused.result else {
        panic!("sync result expected: {refused:?}");
    };
    let refusal = r.refused.as_ref().expect("refusal");
    assert!(refusal.message.contains("30"), "{}", refusal.message);
    assert_eq!(active_rows(&e.target), 40, "nothing was deleted");
    assert_eq!(
        m.status().status,
        StatusKind::Ok,
        "a refusal waits for a person; it is not an error"
    );
    // Forcing needs an administrator and the reviewed numbers.
    let approval = ForceApproval {
        refused_job: refused.id,
        deletions: r.deleted,
    };
    let local = Caller::new(CallerKind::Local, None, "window");
    let e2 = m
        .request(JobKind::Sync, Some(approval), &local)
        .expect_err("no PIN set and no choice made");
    assert_eq!(e2.code(), "admin_pin_not_set");
    let wrong = ForceApproval {
        deletions: r.deleted - 1,
        ..approval
    };
    let e3 = m
        .request(JobKind::Sync, Some(wrong), &Caller::cli())
        .expect_err("not the reviewed number");
    assert_eq!(e3.code(), "stale_review");
    assert_eq!(active_rows(&e.target), 40, "nothing was deleted");
    let forced = force_reviewed(&m, approval);
    assert_eq!(forced.state, JobState::Succeeded);
    assert!(forced.force);
    assert_eq!(active_rows(&e.target), 10);
}

fn force_reviewed(m: &Monitor, approval: ForceApproval) -> nas_sync_engine::runtime::JobInfo {
    let s = m
        .request(JobKind::Sync, Some(approval), &Caller::cli())
        .expect("forced sync starts");
    finished(m, s)
}

#[test]
fn a_forced_sync_that_would_now_delete_more_than_reviewed_is_refused_again() {
    let e = env();
    for i in 0..40 {
        put(&e.root, &format!("WSOP/e{i}.mp4"), b"x");
    }
    let m = monitor(&e.cfg, manual());
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    for i in 0..30 {
        fs::remove_file(e.root.join(format!("WSOP/e{i}.mp4"))).expect("rm");
    }
    let refused = run(&m, JobKind::Sync, false);
    let Some(JobResult::Sync(r)) = &refused.result else {
        panic!("sync result expected: {refused:?}");
    };
    assert_eq!(r.deleted, 30);
    // Five more files go after the review: the forced sync would delete 35, not the 30 seen.
    for i in 30..35 {
        fs::remove_file(e.root.join(format!("WSOP/e{i}.mp4"))).expect("rm");
    }
    let again = force_reviewed(
        &m,
        ForceApproval {
            refused_job: refused.id,
            deletions: 30,
        },
    );
    assert_eq!(again.state, JobState::Refused, "{again:?}");
    let Some(JobResult::Sync(r2)) = &again.result else {
        panic!("sync result expected: {again:?}");
    };
    assert_eq!(r2.deleted, 35, "the new numbers are reported");
    let msg = &r2.refused.as_ref().expect("refusal").message;
    assert!(msg.contains("30") && msg.contains("35"), "{msg}");
    assert_eq!(active_rows(&e.target), 40, "nothing was deleted");
    // The new refusal can be reviewed and forced in turn.
    let forced = force_reviewed(
        &m,
        ForceApproval {
            refused_job: again.id,
            deletions: 35,
        },
    );
    assert_eq!(forced.state, JobState::Succeeded);
    assert_eq!(active_rows(&e.target), 5);
}

#[test]
fn a_failed_job_sets_the_error_status_and_a_good_run_clears_it() {
    let e = env();
    put(&e.root, "HCL/a.mp4", b"x");
    let mut bad = e.cfg.clone();
    // A Target inside a regular file cannot be created.
    let blocker = e.root.parent().expect("parent").join("not-a-dir");
    fs::write(&blocker, b"").expect("blocker");
    bad.target_db = Some(blocker.join("pokervod.db"));
    let m = monitor(&bad, manual());
    let (tx, rx) = mpsc::channel::<Status>();
    m.subscribe_status(Box::new(tx));
    let failed = run(&m, JobKind::Sync, false);
    assert_eq!(failed.state, JobState::Failed);
    let err = failed.error.expect("error info");
    assert!(!err.code.is_empty() && !err.message.is_empty());
    let status = m.status();
    assert_eq!(status.status, StatusKind::Error);
    assert_eq!(status.label, "에러");
    assert_eq!(
        status.last_error.as_ref().map(|e| e.message.clone()),
        Some(err.message.clone())
    );
    m.set_config(e.cfg.clone());
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    assert_eq!(m.status().status, StatusKind::Ok);
    // The stream: current (ok) → running → error → running → ok, changes only.
    let seen: Vec<StatusKind> = rx.try_iter().map(|s| s.status).collect();
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        vec![
            StatusKind::Ok,
            StatusKind::Running,
            StatusKind::Error,
            StatusKind::Running,
            StatusKind::Ok
        ],
        "stream was {seen:?}"
    );
}

#[test]
fn a_share_that_looks_offline_is_a_refused_job_and_the_error_status_until_it_is_back() {
    let e = env();
    put(&e.root, "HCL/a.mp4", b"x");
    let mut cfg = e.cfg.clone();
    // The share counts as online only while its marker file is there.
    cfg.marker_file = Some(".nas-online".into());
    let m = monitor(&cfg, manual());
    let refused = run(&m, JobKind::Sync, false);
    assert_eq!(refused.state, JobState::Refused, "{refused:?}");
    let status = m.status();
    assert_eq!(status.status, StatusKind::Error, "{status:?}");
    let err = status.last_error.expect("last error");
    assert_eq!(err.code, "guard_offline");
    assert!(!err.message.is_empty());
    assert_eq!(
        active_rows_or_none(&e.target),
        None,
        "pokervod.db untouched"
    );

    put(&e.root, ".nas-online", b"");
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    assert_eq!(m.status().status, StatusKind::Ok);
    assert_eq!(active_rows(&e.target), 1);
}

#[test]
fn a_job_that_only_runs_its_background_passes_yields_to_a_new_job() {
    let e = env();
    // Enough video files that the after-sync fingerprint and probe passes take a while.
    for i in 0..20_000 {
        put(
            &e.root,
            &format!("WSOP/{}/part{i}.mp4", i % 50),
            b"not really a video",
        );
    }
    let mut cfg = e.cfg.clone();
    cfg.probe_media = true;
    cfg.probe_budget_secs = 0;
    let m = monitor(&cfg, manual());
    let first = m.start(JobKind::Sync, nas_sync_engine::sync::Force::No, "manual");
    assert!(first.started);
    let deadline = Instant::now() + WAIT;
    loop {
        let job = m.job(first.job_id).expect("job");
        if job.progress.phase == "probing" {
            break;
        }
        assert!(
            job.state == JobState::Running && Instant::now() < deadline,
            "the first job never reached its background passes: {job:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    put(&e.root, "HCL/new.mp4", b"x");
    let second = m.start(JobKind::Sync, nas_sync_engine::sync::Force::No, "manual");
    assert!(second.started, "the passes yielded: {second:?}");
    assert_ne!(second.job_id, first.job_id);
    let first_job = m.job(first.job_id).expect("first job");
    assert_eq!(first_job.state, JobState::Succeeded, "{first_job:?}");
    assert!(m.wait(second.job_id, WAIT));
    assert_eq!(
        m.job(second.job_id).expect("second").state,
        JobState::Succeeded
    );
    assert!(target_row(&e.target, "HCL/new.mp4").is_some());
}

fn active_rows_or_none(target: &std::path::Path) -> Option<i64> {
    target.exists().then(|| active_rows(target))
}

#[test]
fn an_unreachable_root_is_an_error_until_it_is_back() {
    let e = env();
    put(&e.root, "HCL/a.mp4", b"x");
    let m = monitor(&e.cfg, manual());
    assert!(m.check_root());
    let aside = e.root.with_file_name("share-away");
    fs::rename(&e.root, &aside).expect("take the share away");
    assert!(!m.check_root());
    let s = m.status();
    assert_eq!(s.status, StatusKind::Error);
    let last = s.last_error.expect("last error");
    assert_eq!(last.code, ROOT_UNREACHABLE);
    assert!(
        last.message.contains("NAS 루트에 접근할 수 없습니다"),
        "{}",
        last.message
    );
    fs::rename(&aside, &e.root).expect("share back");
    assert!(m.check_root());
    assert_eq!(m.status().status, StatusKind::Ok);
}

#[test]
fn the_schedule_syncs_skips_nothing_stacked_and_pauses() {
    let e = env();
    put(&e.root, "GGM/a.mp4", b"x");
    let m = monitor(
        &e.cfg,
        MonitorOptions {
            schedule: true,
            paused: false,
            interval: Some(Duration::from_millis(150)),
        },
    );
    let deadline = Instant::now() + WAIT;
    while m
        .jobs()
        .iter()
        .filter(|j| j.state != JobState::Running)
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "two scheduled syncs ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let jobs = m.jobs();
    assert!(
        jobs.iter()
            .all(|j| j.trigger == "schedule" && j.kind == JobKind::Sync)
    );
    assert!(m.status().next_sync.is_some());
    assert_eq!(active_rows(&e.target), 1);
    m.pause();
    // Let a job that started just before the pause finish, then count.
    std::thread::sleep(Duration::from_millis(400));
    let before = m.jobs().len();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(m.jobs().len(), before, "no scheduled job while paused");
    let s = m.status();
    assert_eq!(s.status, StatusKind::Paused);
    assert_eq!(s.label, "일시정지");
    assert!(s.next_sync.is_none());
    m.resume();
    let deadline = Instant::now() + WAIT;
    while m.jobs().len() == before {
        assert!(Instant::now() < deadline, "resumed schedule ran again");
        std::thread::sleep(Duration::from_millis(20));
    }
    m.shutdown(WAIT);
}

#[test]
fn the_watcher_syncs_a_new_file_without_a_click() {
    let e = env();
    put(&e.root, "WSOP/old.mp4", b"x");
    let m = monitor(&e.cfg, manual());
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    let watched = m.start_watching().expect("a local root is watched");
    assert_eq!(watched, e.root);
    let t0 = Instant::now();
    put(&e.root, "WSOP/2024/new day/fresh.mp4", b"new");
    let deadline = t0 + WAIT;
    while active_rows(&e.target) < 2 {
        assert!(Instant::now() < deadline, "the new file reached the Target");
        std::thread::sleep(Duration::from_millis(20));
    }
    let jobs = m.jobs();
    assert!(
        jobs.iter().any(|j| j.trigger == "watch"),
        "a watch-triggered sync did it"
    );
    // It scanned the changed directories only: new folders under WSOP, never the whole share.
    for j in jobs
        .iter()
        .filter(|j| j.trigger == "watch" && j.state != JobState::Running)
    {
        let Some(JobResult::Sync(r)) = &j.result else {
            panic!("a sync result: {j:?}");
        };
        let scope = r
            .scan
            .as_ref()
            .and_then(|s| s.scope.clone())
            .unwrap_or_else(|| panic!("a partial scan: {r:?}"));
        assert!(
            !scope.is_empty() && scope.iter().all(|d| d.starts_with("WSOP")),
            "{scope:?}"
        );
    }
    // Our own database files do not trigger syncs: write one under the root and wait. First
    // let the new file's events settle (a burst that arrived while the first watch sync ran
    // earns one more sync after it).
    let mut before = m.jobs().len();
    let settle = Instant::now() + WAIT;
    loop {
        std::thread::sleep(Duration::from_millis(1_000));
        let now = m.jobs();
        if now.len() == before && now.iter().all(|j| j.state != JobState::Running) {
            break;
        }
        before = now.len();
        assert!(Instant::now() < settle, "the watcher settled");
    }
    fs::write(e.root.join("notes.db-wal"), b"x").expect("own file");
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(m.jobs().len(), before, "no sync for an engine-owned file");
}

fn target_row(target: &std::path::Path, nas_path: &str) -> Option<(i64, String)> {
    Connection::open(target)
        .expect("open target")
        .query_row(
            "SELECT id, status FROM files WHERE nas_path = ?1",
            [nas_path],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
}

fn run_scoped(m: &Monitor, dirs: &[&str]) -> nas_sync_engine::sync::SyncReport {
    let s = m.start_scoped(
        JobKind::Sync,
        nas_sync_engine::sync::Force::No,
        "watch",
        ScanScope::dirs(dirs.iter().copied()),
    );
    assert!(s.started, "no other job was running");
    assert!(m.wait(s.job_id, WAIT));
    let job = m.job(s.job_id).expect("job");
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    match job.result {
        Some(JobResult::Sync(r)) => *r,
        other => panic!("sync result expected, got {other:?}"),
    }
}

#[test]
fn a_scoped_sync_applies_its_dirs_and_a_move_between_them_keeps_the_target_id() {
    let e = env();
    put(&e.root, "WSOP/2024/day1/a.mp4", b"aaaa");
    put(&e.root, "WSOP/2024/day1/b.mp4", b"bbbbb");
    put(&e.root, "HCL/ep1/y.mp4", b"yyyyyyyyy");
    put(&e.root, "PAD/s1/p.mp4", b"pp");
    let m = monitor(&e.cfg, manual());
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    let (y_id, _) = target_row(&e.target, "HCL/ep1/y.mp4").expect("y synced");

    fs::rename(
        e.root.join("HCL/ep1/y.mp4"),
        e.root.join("WSOP/2024/day1/y here.mp4"),
    )
    .expect("move");
    put(&e.root, "WSOP/2024/day1/new.mp4", b"new file");
    fs::remove_file(e.root.join("WSOP/2024/day1/b.mp4")).expect("rm");
    // Outside the scope: on disk now, in the Target only after a full sync.
    put(&e.root, "PAD/s1/later.mp4", b"later");
    let r = run_scoped(&m, &["HCL/ep1", "WSOP/2024/day1"]);
    assert_eq!((r.added, r.moved, r.deleted), (1, 1, 1), "{r:?}");
    let scan = r.scan.as_ref().expect("scan report");
    assert_eq!(
        scan.scope,
        Some(vec!["HCL/ep1".to_string(), "WSOP/2024/day1".to_string()])
    );
    assert_eq!(
        target_row(&e.target, "WSOP/2024/day1/y here.mp4"),
        Some((y_id, "active".to_string())),
        "the moved file kept its Target row"
    );
    assert_eq!(
        target_row(&e.target, "WSOP/2024/day1/b.mp4").map(|r| r.1),
        Some("deleted".to_string())
    );
    assert!(target_row(&e.target, "PAD/s1/later.mp4").is_none());
    assert!(
        target_row(&e.target, "PAD/s1/p.mp4").is_some_and(|r| r.1 == "active"),
        "files outside the scope keep their rows: the sync still sees all of archive.db"
    );
    assert_eq!(active_rows(&e.target), 4, "a, y here, new, p");

    // The next full sync (the schedule's) picks up the rest.
    let full = run(&m, JobKind::Sync, false);
    let Some(JobResult::Sync(r)) = full.result else {
        panic!("sync result");
    };
    assert_eq!(r.added, 1);
    assert!(r.scan.as_ref().is_some_and(|s| s.scope.is_none()));
    assert!(target_row(&e.target, "PAD/s1/later.mp4").is_some());
}

#[test]
fn a_scope_that_cannot_be_scanned_alone_becomes_a_full_sync() {
    let e = env();
    put(&e.root, "WSOP/2024/a.mp4", b"aaaa");
    let m = monitor(&e.cfg, manual());
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    put(&e.root, "HCL/elsewhere.mp4", b"x");
    // The directory of the burst is gone by the time the sync runs.
    let r = run_scoped(&m, &["WSOP/2024/day that was removed"]);
    assert!(
        r.scan.as_ref().is_some_and(|s| s.scope.is_none()),
        "a full scan ran: {r:?}"
    );
    assert_eq!(r.added, 1);
    let full = run_scoped_full(&m);
    assert_eq!(full.added, 0);
}

fn run_scoped_full(m: &Monitor) -> nas_sync_engine::sync::SyncReport {
    let s = m.start_scoped(
        JobKind::Sync,
        nas_sync_engine::sync::Force::No,
        "watch",
        ScanScope::Full,
    );
    assert!(m.wait(s.job_id, WAIT));
    match m.job(s.job_id).and_then(|j| j.result) {
        Some(JobResult::Sync(r)) => *r,
        other => panic!("sync result expected, got {other:?}"),
    }
}

#[test]
fn a_scoped_sync_keeps_the_root_guard() {
    let e = env();
    put(&e.root, "WSOP/2024/a.mp4", b"aaaa");
    let m = monitor(&e.cfg, manual());
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    let aside = e.root.with_file_name("share-away");
    fs::rename(&e.root, &aside).expect("take the share away");
    let s = m.start_scoped(
        JobKind::Sync,
        nas_sync_engine::sync::Force::No,
        "watch",
        ScanScope::dirs(["WSOP/2024"]),
    );
    assert!(m.wait(s.job_id, WAIT));
    let job = m.job(s.job_id).expect("job");
    assert_eq!(job.state, JobState::Refused, "{job:?}");
    assert_eq!(active_rows(&e.target), 1, "nothing was deleted");
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn settings_the_watcher_depends_on_restart_it_and_the_interval_reschedules_without_one() {
    let e = env();
    put(&e.root, "WSOP/old.mp4", b"x");
    let m = monitor(
        &e.cfg,
        MonitorOptions {
            schedule: true,
            ..MonitorOptions::default()
        },
    );
    assert_eq!(run(&m, JobKind::Sync, false).state, JobState::Succeeded);
    assert_eq!(m.start_watching().as_deref(), Ok(e.root.as_path()));
    assert_eq!(m.watcher_starts(), 1);
    let next = |m: &Monitor| {
        m.status().next_sync.map(|t| {
            chrono::DateTime::parse_from_rfc3339(&t)
                .expect("next_sync is RFC 3339")
                .to_utc()
        })
    };
    wait_for("the schedule set its next tick", || next(&m).is_some());
    let at_30 = next(&m).expect("next sync");

    // The interval: the schedule counts anew, the watcher stays.
    let mut cfg = e.cfg.clone();
    cfg.interval_minutes = 5;
    m.set_config(cfg.clone());
    wait_for("the schedule took the new interval", || {
        next(&m).is_some_and(|t| t < at_30 - chrono::Duration::minutes(20))
    });
    assert_eq!(m.watcher_starts(), 1, "no restart for the interval");

    // Ignore patterns: a new watcher.
    cfg.ignore = vec!["*.partial".into()];
    m.set_config(cfg.clone());
    wait_for("the watcher restarted", || m.watcher_starts() == 2);
    assert_eq!(m.watched_root(), Some(e.root.clone()));

    // The root: a new watcher on the new root, whose new file reaches the Target.
    let root2 = e.root.with_file_name("share2");
    put(&root2, "WSOP/old.mp4", b"x");
    cfg.root = Some(root2.clone());
    m.set_config(cfg.clone());
    wait_for("the watcher moved to the new root", || {
        m.watcher_starts() == 3 && m.watched_root() == Some(root2.clone())
    });
    put(&root2, "WSOP/2025/fresh.mp4", b"new");
    wait_for("a file in the new root reached the Target", || {
        target_row(&e.target, "WSOP/2025/fresh.mp4").is_some()
    });
    m.stop_watching();
    assert_eq!(m.watched_root(), None);
    cfg.ignore.clear();
    m.set_config(cfg);
    assert_eq!(m.watcher_starts(), 3, "a stopped watcher is not restarted");
    m.shutdown(WAIT);
}
