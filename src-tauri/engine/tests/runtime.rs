//! The monitor runtime on real directory trees and real SQLite files: single-flight jobs,
//! reports, cancellation, the mass-delete guard as a job result, the status and its stream,
//! the schedule (skips, pause). The live log fed by the engine's tracing is in runtime_logs.rs.

mod common;

use std::fs;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{env, put};
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::runtime::monitor::{JobResult, ROOT_UNREACHABLE};
use nas_sync_engine::runtime::{
    JobKind, JobState, LogHub, Monitor, MonitorOptions, Status, StatusKind,
};
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
    let s = m.start(kind, force, "manual");
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
    let first = m.start(JobKind::Sync, false, "manual");
    let second = m.start(JobKind::Sync, false, "manual");
    let third = m.start(JobKind::Reconcile, false, "manual");
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
    let first = m.start(JobKind::Scan, false, "manual");
    let again = m.start(JobKind::Sync, false, "manual");
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
    let s = m.start(JobKind::Scan, false, "manual");
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
    let forced = run(&m, JobKind::Sync, true);
    assert_eq!(forced.state, JobState::Succeeded);
    assert!(forced.force);
    assert_eq!(active_rows(&e.target), 10);
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
    let _watch = nas_sync_engine::runtime::watch::start(&m).expect("a local root is watched");
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
