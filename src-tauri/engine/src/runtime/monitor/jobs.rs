//! The monitor's jobs: starting one (single flight, the admin boundary for a person's request),
//! running it on its own thread (a sync, a watch-scoped sync, a reconcile or a full scan, then
//! the after-job passes), and recording how it ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::archive::{Archive, SyncLock};
use crate::clock::{Clock, iso};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::reconcile;
use crate::runtime::after_job::IndexStep;
use crate::scan::{self, PartialScan, ScanOptions, ScanProgress, ScanReport, ScanScope};
use crate::sync::{self, Force, Refusal, SyncOptions, SyncReport};

use super::{
    Caller, ErrorInfo, ForceApproval, JOBS_KEPT, JobInfo, JobKind, JobProgress, JobResult,
    JobState, LastError, Monitor, ROOT_UNREACHABLE, Running, Started, lock, problem_count,
    settling,
};

impl Monitor {
    /// Start a job, or return the running one. No admin check: this is for the schedule, the
    /// watcher and trusted callers; a person's request goes through [`Monitor::request`].
    pub fn start(&self, kind: JobKind, force: Force, trigger: &str) -> Started {
        self.start_scoped(kind, force, trigger, ScanScope::Full)
    }

    /// A person's request to start a job (a button, a tray menu, an API call), with the admin
    /// boundary enforced: 스캔 실행 and a forced sync are an administrator's, and a forced sync
    /// must name the refused job it overrides and its deletions ([`ForceApproval`]).
    pub fn request(
        &self,
        kind: JobKind,
        force: Option<ForceApproval>,
        caller: &Caller,
    ) -> Result<Started> {
        let force = match (kind, force) {
            (_, None) => Force::No,
            (JobKind::Sync, Some(approval)) => {
                self.require_admin(caller, "검토 후 강제 적용 / forced apply")?;
                self.check_approval(approval)?;
                Force::UpTo(approval.deletions)
            }
            (other, Some(_)) => {
                return Err(Error::Invalid {
                    field: "force".into(),
                    message: format!(
                        "강제 적용은 동기화에만 있습니다 / only a sync can be forced (not {other:?})"
                    ),
                });
            }
        };
        if kind == JobKind::Scan {
            self.require_admin(caller, "스캔 실행 / full rescan")?;
        }
        Ok(self.start(kind, force, "manual"))
    }

    /// A forced sync overrides exactly what was reviewed: a refused sync job of this process
    /// whose planned deletions are the ones given.
    fn check_approval(&self, a: ForceApproval) -> Result<()> {
        let Some(job) = self.job(a.refused_job) else {
            return Err(Error::NotFound {
                message: format!(
                    "거부된 동기화 작업 #{}이(가) 없습니다. 동기화를 다시 실행해 숫자를 확인하세요. / No refused sync job #{} here (the server may have restarted); run the sync again and review its numbers.",
                    a.refused_job, a.refused_job
                ),
            });
        };
        let deleted = match (&job.kind, &job.state, &job.result) {
            (JobKind::Sync, JobState::Refused, Some(JobResult::Sync(r))) => r.deleted,
            _ => {
                return Err(Error::StaleReview {
                    message: format!(
                        "작업 #{}은(는) 거부된 동기화가 아닙니다. / Job #{} is not a refused sync.",
                        a.refused_job, a.refused_job
                    ),
                });
            }
        };
        if deleted != a.deletions {
            return Err(Error::StaleReview {
                message: format!(
                    "작업 #{}은(는) {deleted}건을 삭제하려 했습니다 ({}건이 아님). 숫자를 다시 확인하세요. / Job #{} planned {deleted} deletions, not {}; review it again.",
                    a.refused_job, a.deletions, a.refused_job, a.deletions
                ),
            });
        }
        Ok(())
    }

    /// Start a job whose scan covers only `scope` (the watcher's: the directories its events
    /// named), or return the running one. Only a sync uses the scope; the plan, the guards and
    /// the apply still see every file. [`ScanScope::Full`] is [`Monitor::start`].
    pub fn start_scoped(
        &self,
        kind: JobKind,
        force: Force,
        trigger: &str,
        scope: ScanScope,
    ) -> Started {
        let mut st = lock(&self.shared.state);
        if let Some(r) = &st.running {
            // A job whose own work is done and that only runs the background passes yields:
            // they stop at their next file and resume after the new job.
            let (running, in_passes) = {
                let i = lock(&r.info);
                (i.id, i.progress.phase == PASSES_PHASE)
            };
            if in_passes {
                r.passes.store(true, Ordering::Relaxed);
                drop(st);
                if self.wait(running, PASSES_YIELD_WAIT) {
                    return self.start_scoped(kind, force, trigger, scope);
                }
                st = lock(&self.shared.state);
                if st.running.is_none() {
                    drop(st);
                    return self.start_scoped(kind, force, trigger, scope);
                }
            }
            let Some(r) = &st.running else {
                unreachable!("checked above")
            };
            let i = lock(&r.info);
            return Started {
                job_id: i.id,
                started: false,
                kind: i.kind,
            };
        }
        let id = st.next_id;
        st.next_id += 1;
        let info = Arc::new(Mutex::new(JobInfo {
            id,
            kind,
            state: JobState::Running,
            force: force.is_forced(),
            trigger: trigger.to_string(),
            started_at: iso(self.shared.clock.now()),
            finished_at: None,
            progress: JobProgress {
                phase: "starting".into(),
                ..JobProgress::default()
            },
            result: None,
            error: None,
        }));
        let cancel = Arc::new(AtomicBool::new(false));
        let passes = Arc::new(AtomicBool::new(false));
        let m = self.clone();
        let (i2, c2, p2) = (info.clone(), cancel.clone(), passes.clone());
        let thread = std::thread::Builder::new()
            .name(format!("nas-sync-job-{id}"))
            .spawn(move || m.run_job(i2, c2, p2, scope, force))
            .ok();
        st.running = Some(Running {
            info,
            cancel,
            passes,
            thread,
        });
        drop(st);
        tracing::info!(
            "{} 시작 (#{id}, {}) / {kind:?} job started ({trigger})",
            kind.label_ko(),
            trigger_ko(trigger)
        );
        self.notify();
        Started {
            job_id: id,
            started: true,
            kind,
        }
    }

    /// A job by id: the running one or one of the last [`JOBS_KEPT`] finished.
    pub fn job(&self, id: u64) -> Option<JobInfo> {
        let st = lock(&self.shared.state);
        if let Some(r) = &st.running {
            let i = lock(&r.info);
            if i.id == id {
                return Some(i.clone());
            }
        }
        st.finished.iter().find(|j| j.id == id).cloned()
    }

    /// The running job, then finished ones, newest first.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let st = lock(&self.shared.state);
        let mut out: Vec<JobInfo> = st.running.iter().map(|r| lock(&r.info).clone()).collect();
        out.extend(st.finished.iter().rev().cloned());
        out
    }

    /// Ask a running job to stop; it ends with nothing half-applied (the engine's scan and
    /// sync check the flag only where stopping is safe). False if `id` is not running.
    pub fn cancel(&self, id: u64) -> bool {
        let st = lock(&self.shared.state);
        match &st.running {
            Some(r) if lock(&r.info).id == id => {
                r.cancel.store(true, Ordering::Relaxed);
                r.passes.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Wait until job `id` is no longer running (tests, shutdown). False on timeout.
    pub fn wait(&self, id: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let st = lock(&self.shared.state);
                let running = st.running.as_ref().is_some_and(|r| lock(&r.info).id == id);
                if !running {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn run_job(
        &self,
        info: Arc<Mutex<JobInfo>>,
        cancel: Arc<AtomicBool>,
        passes: Arc<AtomicBool>,
        scope: ScanScope,
        force: Force,
    ) {
        let (kind, id) = {
            let i = lock(&info);
            (i.kind, i.id)
        };
        let cfg = self.config();
        let clock = self.shared.clock.clone();
        let started = Instant::now();
        let expected = cfg
            .archive_db_path()
            .ok()
            .and_then(|p| Archive::open_read_only(&p).ok().flatten())
            .and_then(|a| a.file_count().ok())
            .unwrap_or(0) as u64;
        let progress = |p: &ScanProgress| {
            let mut i = lock(&info);
            i.progress.phase = "scanning".into();
            i.progress.files_seen = p.files;
            i.progress.dirs_seen = p.dirs;
            i.progress.files_per_sec = p.files_per_sec;
            i.progress.elapsed_ms = started.elapsed().as_millis() as u64;
            i.progress.eta_sec = (expected > p.files && p.files_per_sec > 0.0)
                .then(|| ((expected - p.files) as f64 / p.files_per_sec).ceil() as u64);
        };
        let outcome: Result<JobResult> = match (kind, &scope) {
            (JobKind::Sync, ScanScope::Dirs(dirs)) => {
                scoped_sync(&cfg, clock.as_ref(), dirs, force, &progress, &cancel)
                    .map(|r| JobResult::Sync(Box::new(r)))
            }
            (JobKind::Sync, ScanScope::Full) => sync::run_sync(
                &cfg,
                clock.as_ref(),
                SyncOptions {
                    dry_run: false,
                    force,
                    no_scan: false,
                    progress: Some(&progress),
                    cancel: Some(&cancel),
                    scope: None,
                },
            )
            .map(|r| JobResult::Sync(Box::new(r))),
            (JobKind::Reconcile, _) => {
                lock(&info).progress.phase = "comparing".into();
                reconcile::reconcile(&cfg, clock.as_ref())
                    .map(|r| JobResult::Reconcile(Box::new(r)))
            }
            (JobKind::Scan, _) => full_scan(&cfg, clock.as_ref(), &progress, &cancel)
                .map(|r| JobResult::Scan(Box::new(r))),
        };
        // After a scan or an applied sync: fingerprints and media probes of new files.
        let applied = match &outcome {
            Ok(JobResult::Sync(r)) => r.refused.is_none(),
            Ok(JobResult::Scan(_)) => true,
            _ => false,
        };
        // The same after-job pipeline as the CLI's: the match index brought up to date from the
        // job's changes (the screens' next query answers at once), then the passes (a failure
        // is retried by the next query).
        let run_passes = applied && !cancel.load(Ordering::Relaxed);
        if run_passes {
            lock(&info).progress.phase = PASSES_PHASE.into();
        }
        let after = crate::runtime::after_job::after_job(
            &cfg,
            run_passes,
            if kind == JobKind::Reconcile {
                IndexStep::Skip
            } else {
                IndexStep::Shared(self.index())
            },
            &passes,
        );
        if let Err(e) = after.passes {
            tracing::warn!("지문/프로브 작업 실패 / fingerprint or probe pass: {e}");
        }
        if let Err(e) = after.index {
            tracing::warn!("매치 인덱스 갱신 실패 / match index: {e}");
        }
        // Files held back as still being copied: look again when the first can be stable.
        let recheck = match &outcome {
            Ok(JobResult::Sync(r)) if r.refused.is_none() => r
                .settle_wait_secs
                // Counted from now, not from the job's start: the wait is measured from when the
                // sync planned (after its scan and probe), so a look due earlier would find the
                // file still held. A second of margin for whole seconds.
                .map(|secs| {
                    (
                        Instant::now() + Duration::from_secs(secs + 1),
                        settling::held_scope(r),
                    )
                }),
            _ => None,
        };
        // Before the job reads as finished: whoever waits for it sees the look scheduled.
        if let Some((due, scope)) = recheck {
            self.recheck_held_at(due, scope);
        }
        let now = iso(clock.now());
        let cancelled = cancel.load(Ordering::Relaxed);
        let problems = problem_count(&self.config());
        let mut st = lock(&self.shared.state);
        st.problems = problems;
        let mut i = lock(&info).clone();
        i.finished_at = Some(now.clone());
        i.progress.phase = "done".into();
        i.progress.elapsed_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(result) => {
                let refused = matches!(&result, JobResult::Sync(r) if r.refused.is_some());
                i.state = if refused {
                    JobState::Refused
                } else {
                    JobState::Succeeded
                };
                let secs = started.elapsed().as_secs_f64();
                if let JobResult::Sync(r) = &result {
                    if r.refused.is_some() {
                        tracing::warn!(
                            "동기화 작업 #{id} 보류: 내용을 확인한 뒤 강제 적용할 수 있습니다 / sync job refused; review it, then force to apply"
                        );
                    } else {
                        st.last_sync = Some(now.clone());
                        tracing::info!(
                            "동기화 작업 #{id} 끝 ({secs:.1}초) / sync job finished ({secs:.1} s)"
                        );
                    }
                } else {
                    tracing::info!(
                        "{} 작업 #{id} 끝 ({secs:.1}초) / {kind:?} job finished ({secs:.1} s)",
                        kind.label_ko()
                    );
                }
                // A share that looks offline is an error the operator must see (status 에러,
                // a toast), not only a refused job.
                let offline = match &result {
                    JobResult::Sync(r) => r
                        .refused
                        .as_ref()
                        .filter(|r| r.guard == crate::Guard::Offline),
                    _ => None,
                };
                if let Some(r) = offline {
                    st.last_error = Some(LastError {
                        code: "guard_offline".into(),
                        message: r.message.clone(),
                        time: now.clone(),
                    });
                } else if st
                    .last_error
                    .as_ref()
                    .is_some_and(|e| e.code != ROOT_UNREACHABLE)
                {
                    // A job that ran clears a job error; an outside error (the share) stays
                    // until its own check clears it.
                    st.last_error = None;
                }
                i.result = Some(result);
            }
            Err(e) if cancelled || matches!(e, Error::Cancelled) => {
                i.state = JobState::Cancelled;
                tracing::info!("{} 작업 #{id} 취소됨 / job cancelled", kind.label_ko());
            }
            Err(e) => {
                i.state = JobState::Failed;
                tracing::error!("{} 작업 #{id} 실패: {e} / job failed", kind.label_ko());
                st.last_error = Some(LastError {
                    code: e.code().to_string(),
                    message: e.to_string(),
                    time: now,
                });
                i.error = Some(ErrorInfo::from(&e));
            }
        }
        st.running = None;
        st.finished.push_back(i);
        while st.finished.len() > JOBS_KEPT {
            st.finished.pop_front();
        }
        drop(st);
        self.notify();
    }
}

/// How a job was started, for the live log.
fn trigger_ko(trigger: &str) -> &str {
    match trigger {
        "manual" => "수동",
        "schedule" => "예약",
        "watch" => "변경 감지",
        "settle" => "복사 완료 확인",
        "retry" => "문제 다시 시도",
        other => other,
    }
}

/// A watch-triggered sync: a partial scan of `dirs` and the probe of what it found, under the
/// sync lock, then the sync on archive.db as it stands (its plan, guards and apply see every
/// file, as in any sync). A scope that cannot be scanned on its own becomes a full sync.
fn scoped_sync(
    cfg: &Config,
    clock: &dyn Clock,
    dirs: &[String],
    force: Force,
    progress: &(dyn Fn(&ScanProgress) + Sync),
    cancel: &AtomicBool,
) -> Result<SyncReport> {
    cfg.check_distinct_databases()?;
    let timer = Instant::now();
    let archive_db = cfg.archive_db_path()?;
    let opts = SyncOptions {
        dry_run: false,
        force,
        no_scan: false,
        progress: Some(progress),
        cancel: Some(cancel),
        scope: None,
    };
    // The lock is released before `run_sync`, which takes it again.
    // The journal batches of the partial scan and its probe (see `sync::Scope`).
    let mut own_batches = (0, 0);
    let scanned = {
        let _lock = SyncLock::acquire(&archive_db, cfg.busy_timeout_secs)?;
        let mut archive = Archive::open(&archive_db)?;
        own_batches.0 = crate::archive::journal::last_seq(archive.conn())?;
        let scan_opts = ScanOptions {
            dry_run: false,
            progress: Some(progress),
            cancel: Some(cancel),
        };
        match scan::run_partial_scan(cfg, &mut archive, clock, dirs, scan_opts) {
            Ok(PartialScan::Done(report)) => {
                let probe = if cfg.probe_media && cfg.probe_budget_secs > 0 {
                    Some(crate::probe::probe_pending(
                        &mut archive,
                        cfg,
                        Some(cancel),
                        Some(Duration::from_secs(cfg.probe_budget_secs)),
                    )?)
                } else {
                    None
                };
                own_batches.1 = crate::archive::journal::last_seq(archive.conn())?;
                Some((report, probe))
            }
            Ok(PartialScan::NeedsFullScan(why)) => {
                tracing::info!("전체 스캔으로 동기화합니다: {why} / full scan instead");
                None
            }
            Err(Error::Refused { guard, message }) => {
                tracing::error!("동기화 보류: {message}");
                return Ok(SyncReport {
                    refused: Some(Refusal { guard, message }),
                    duration_ms: timer.elapsed().as_millis() as u64,
                    ..SyncReport::default()
                });
            }
            Err(e) => return Err(e),
        }
    };
    let Some((scan_report, probe)) = scanned else {
        return sync::run_sync(cfg, clock, opts);
    };
    let mut report = sync::run_sync(
        cfg,
        clock,
        SyncOptions {
            no_scan: true,
            scope: Some(sync::Scope { dirs, own_batches }),
            ..opts
        },
    )?;
    report.scan = Some(scan_report);
    if probe.is_some() {
        report.probe = probe;
    }
    report.duration_ms = timer.elapsed().as_millis() as u64;
    Ok(report)
}

/// A full rescan (every file re-stated and compared), committed.
fn full_scan(
    cfg: &Config,
    clock: &dyn Clock,
    progress: &(dyn Fn(&ScanProgress) + Sync),
    cancel: &AtomicBool,
) -> Result<ScanReport> {
    cfg.check_distinct_databases()?;
    let archive_db = cfg.archive_db_path()?;
    let _lock = crate::archive::SyncLock::acquire(&archive_db, cfg.busy_timeout_secs)?;
    let mut archive = Archive::open(&archive_db)?;
    let (report, _) = scan::run_scan(
        cfg,
        &mut archive,
        clock,
        ScanOptions {
            dry_run: false,
            progress: Some(progress),
            cancel: Some(cancel),
        },
    )?;
    Ok(report)
}

/// The phase of a job that only runs the after-job passes (a new job makes it yield).
const PASSES_PHASE: &str = "probing";
/// How long a new job waits for such a job to stop.
const PASSES_YIELD_WAIT: Duration = Duration::from_secs(3);

/// The passes after a scan or sync: fingerprints of video files that move detection could
/// confuse, then the media probe of new files. Each stops with `share_timeout` when the share
/// stops answering, and both honour `cancel`.
pub fn background_passes(cfg: &Config, cancel: &AtomicBool) -> Result<()> {
    cfg.check_distinct_databases()?;
    let mut archive = Archive::open(&cfg.archive_db_path()?)?;
    // Fingerprints only of files whose (size, mtime) is shared (see `scan::fingerprint`): a
    // no-change rescan or sync reads no file content here or in the probe.
    scan::fingerprint_pending(
        &mut archive,
        cfg.require_root()?,
        cfg.scan_workers,
        Some(cancel),
        Duration::from_secs(cfg.share_timeout_secs),
    )?;
    if cfg.probe_media && !cancel.load(Ordering::Relaxed) {
        crate::probe::probe_pending(&mut archive, cfg, Some(cancel), None)?;
    }
    Ok(())
}
