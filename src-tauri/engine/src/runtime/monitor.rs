//! The monitor: one job at a time (sync, reconcile, scan) with progress, cancellation and a
//! final report; the automatic schedule; pause/resume; the status (정상 / 진행중 / 에러 /
//! 일시정지) and its change stream. The desktop shell and the headless server each hold one
//! [`Monitor`] and translate its calls and streams; nothing here knows about HTTP or Tauri.
//!
//! Invariants:
//! - At most one job runs. `start` while one runs returns the running job's id, never a second
//!   job (single flight); the schedule skips a tick that finds a job running (never stacks).
//! - A job's thread owns its engine calls; the monitor's lock is never held across them.
//! - The status is derived from the state (paused flag, running job, last error) in one place,
//!   [`State::status`], and subscribers hear of a change only when the derived value changes.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::archive::{Archive, SyncLock};
use crate::clock::{Clock, iso};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::reconcile::{self, ReconcileReport};
use crate::scan::{self, PartialScan, ScanOptions, ScanProgress, ScanReport, ScanScope};
use crate::sync::{self, Force, Refusal, SyncOptions, SyncReport};

use super::admin::{AdminGate, Caller, Grant, PinCheck};
use super::logs::LogHub;
use super::watch::{self, NotWatched, Watch};

/// Finished jobs kept for `GET /api/jobs/{id}`.
pub const JOBS_KEPT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Incremental scan + apply to the Target.
    Sync,
    /// Read-only comparison of the share, archive.db and pokervod.db.
    Reconcile,
    /// Full rescan of the share with the media probe (administrators).
    Scan,
}

impl JobKind {
    pub fn label_ko(self) -> &'static str {
        match self {
            JobKind::Sync => "동기화",
            JobKind::Reconcile => "정합성 검증",
            JobKind::Scan => "스캔",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Succeeded,
    /// The mass-delete guard (or the empty-share guard) refused: nothing was applied. A person
    /// can review the numbers and start the sync again with `force`.
    Refused,
    Cancelled,
    Failed,
}

/// Where a running job is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ts_rs::TS)]
pub struct JobProgress {
    /// `scanning`, `syncing`, `probing`, `comparing`, `done`.
    pub phase: String,
    pub files_seen: u64,
    pub dirs_seen: u64,
    pub files_per_sec: f64,
    /// Seconds left, when the previous scan's file count makes it knowable.
    pub eta_sec: Option<u64>,
    pub elapsed_ms: u64,
}

/// A job's final report.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobResult {
    Sync(Box<SyncReport>),
    Reconcile(Box<ReconcileReport>),
    Scan(Box<ScanReport>),
}

/// An error as the UI sees it: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

impl From<&Error> for ErrorInfo {
    fn from(e: &Error) -> Self {
        ErrorInfo {
            code: e.code().to_string(),
            message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct JobInfo {
    pub id: u64,
    pub kind: JobKind,
    pub state: JobState,
    /// Whether the sync was asked to apply past the mass-delete guard.
    pub force: bool,
    /// `manual`, `schedule` or `watch`.
    pub trigger: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub progress: JobProgress,
    pub result: Option<JobResult>,
    pub error: Option<ErrorInfo>,
}

/// A person's go-ahead for a sync that a safety guard refused: the refused job they reviewed
/// and the number of Target rows it would soft-delete. The forced sync applies only while its
/// plan deletes at most that many rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ts_rs::TS)]
pub struct ForceApproval {
    /// The refused sync job's id.
    pub refused_job: u64,
    /// Its planned deletions, as shown to the person.
    pub deletions: u64,
}

/// What [`Monitor::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Started {
    pub job_id: u64,
    /// False: a job was already running and `job_id` is that job.
    pub started: bool,
    pub kind: JobKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    Ok,
    Running,
    Error,
    Paused,
}

impl StatusKind {
    /// PRD 4.1.1: 정상 / 진행중 / 에러, plus 일시정지.
    pub fn label_ko(self) -> &'static str {
        match self {
            StatusKind::Ok => "정상",
            StatusKind::Running => "진행중",
            StatusKind::Error => "에러",
            StatusKind::Paused => "일시정지",
        }
    }
}

/// The monitor's status, as the tray, the header light and `/health` show it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Status {
    pub status: StatusKind,
    pub label: &'static str,
    /// The running job, if any.
    pub job: Option<RunningJob>,
    pub paused: bool,
    pub last_error: Option<LastError>,
    /// When the last sync that applied finished (ISO 8601 UTC).
    pub last_sync: Option<String>,
    /// When the schedule will start the next sync (None while paused or without a schedule).
    pub next_sync: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct RunningJob {
    pub id: u64,
    pub kind: JobKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct LastError {
    pub code: String,
    pub message: String,
    pub time: String,
}

/// A status subscriber; `push` must not block. Returns false when it went away.
pub trait StatusSink: Send + Sync {
    fn push(&self, status: &Status) -> bool;
}

impl StatusSink for std::sync::mpsc::Sender<Status> {
    fn push(&self, status: &Status) -> bool {
        self.send(status.clone()).is_ok()
    }
}

struct Running {
    info: Arc<Mutex<JobInfo>>,
    cancel: Arc<AtomicBool>,
    /// Stops the after-job fingerprint/probe passes (set by a cancel, and by a new job that
    /// should not wait behind them: the passes resume after the next job).
    passes: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    running: Option<Running>,
    finished: VecDeque<JobInfo>,
    next_id: u64,
    paused: bool,
    last_error: Option<LastError>,
    last_sync: Option<String>,
    /// When the schedule fires next (monotonic), and the same as wall time for display.
    next_tick: Option<(Instant, String)>,
    shutdown: bool,
    last_status: Option<Status>,
}

impl State {
    fn status(&self) -> Status {
        let job = self.running.as_ref().map(|r| {
            let i = lock(&r.info);
            RunningJob {
                id: i.id,
                kind: i.kind,
            }
        });
        let status = if job.is_some() {
            StatusKind::Running
        } else if self.last_error.is_some() {
            StatusKind::Error
        } else if self.paused {
            StatusKind::Paused
        } else {
            StatusKind::Ok
        };
        Status {
            status,
            label: status.label_ko(),
            job,
            paused: self.paused,
            last_error: self.last_error.clone(),
            last_sync: self.last_sync.clone(),
            next_sync: if self.paused {
                None
            } else {
                self.next_tick.as_ref().map(|t| t.1.clone())
            },
        }
    }
}

struct Shared {
    cfg: RwLock<Config>,
    clock: Arc<dyn Clock>,
    logs: LogHub,
    state: Mutex<State>,
    /// Wakes the scheduler (pause, resume, settings, shutdown).
    wake: Condvar,
    sinks: Mutex<Vec<Box<dyn StatusSink>>>,
    interval: Option<Duration>,
    /// Admin grants and the PIN throttle (the admin boundary every host goes through).
    admin: AdminGate,
    /// Held while a settings change reads, merges, saves and applies the config.
    settings: Mutex<()>,
    /// The watcher, when one was asked for. Its own lock: starting a watcher on a big tree
    /// takes a while and must not hold up the state.
    watch: Mutex<WatchSlot>,
}

#[derive(Default)]
struct WatchSlot {
    /// `start_watching` was called (and not `stop_watching`): settings changes restart it.
    wanted: bool,
    current: Option<Watch>,
    /// How many watchers were started (restarts included).
    starts: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The runtime both shells hold. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    shared: Arc<Shared>,
}

/// A handle that does not keep the monitor alive (the watcher's thread holds one, so that the
/// monitor, which owns the watcher, can be dropped).
#[derive(Clone)]
pub struct WeakMonitor(Weak<Shared>);

impl WeakMonitor {
    pub fn upgrade(&self) -> Option<Monitor> {
        self.0.upgrade().map(|shared| Monitor { shared })
    }
}

/// How a [`Monitor`] starts.
pub struct MonitorOptions {
    /// Run the automatic schedule (`interval_minutes`); tests turn it off.
    pub schedule: bool,
    /// Start paused.
    pub paused: bool,
    /// The schedule's interval instead of `interval_minutes` (tests).
    pub interval: Option<Duration>,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            schedule: true,
            paused: false,
            interval: None,
        }
    }
}

impl Monitor {
    pub fn new(cfg: Config, clock: Arc<dyn Clock>, logs: LogHub, opts: MonitorOptions) -> Monitor {
        let last_sync = cfg
            .archive_db_path()
            .ok()
            .and_then(|p| Archive::open_read_only(&p).ok().flatten())
            .and_then(|a| a.last_sync().ok().flatten())
            .map(|(finished, _, _)| finished);
        let shared = Arc::new(Shared {
            cfg: RwLock::new(cfg),
            clock,
            logs,
            state: Mutex::new(State {
                running: None,
                finished: VecDeque::new(),
                next_id: 1,
                paused: opts.paused,
                last_error: None,
                last_sync,
                next_tick: None,
                shutdown: false,
                last_status: None,
            }),
            wake: Condvar::new(),
            sinks: Mutex::new(Vec::new()),
            interval: opts.interval,
            admin: AdminGate::new(),
            settings: Mutex::new(()),
            watch: Mutex::new(WatchSlot::default()),
        });
        let monitor = Monitor { shared };
        if opts.schedule {
            let m = monitor.clone();
            std::thread::Builder::new()
                .name("nas-sync-schedule".into())
                .spawn(move || m.schedule_loop())
                .ok();
        }
        monitor
    }

    pub fn logs(&self) -> &LogHub {
        &self.shared.logs
    }

    pub fn downgrade(&self) -> WeakMonitor {
        WeakMonitor(Arc::downgrade(&self.shared))
    }

    pub fn config(&self) -> Config {
        self.shared
            .cfg
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Use new settings from the next job on; the schedule counts its interval from now (a new
    /// `interval_minutes` applies at once). When the watcher runs and a setting it is built from
    /// changed (root, ignore patterns, archive_db), it is restarted on its own thread, so the
    /// caller (an HTTP handler, a Tauri command) does not wait for a big tree to be watched.
    pub fn set_config(&self, cfg: Config) {
        let old = {
            let mut guard = self.shared.cfg.write().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *guard, cfg.clone())
        };
        if old.interval_minutes != cfg.interval_minutes {
            tracing::info!(
                "자동 동기화 간격 변경: {}분 → {}분 / sync interval changed",
                old.interval_minutes,
                cfg.interval_minutes
            );
        }
        let mut st = lock(&self.shared.state);
        st.next_tick = None;
        drop(st);
        self.shared.wake.notify_all();
        self.notify();
        if watch::inputs(&old) != watch::inputs(&cfg) && lock(&self.shared.watch).wanted {
            tracing::info!(
                "설정이 바뀌어 변경 감지를 다시 시작합니다 / settings changed; restarting the watcher"
            );
            let m = self.clone();
            let spawned = std::thread::Builder::new()
                .name("nas-sync-watch-restart".into())
                .spawn(move || {
                    let _ = m.restart_watch();
                });
            if let Err(e) = spawned {
                tracing::warn!(
                    "변경 감지를 다시 시작할 수 없습니다 ({e}) / cannot restart the watcher"
                );
            }
        }
    }

    /// Watch the root (see [`watch`]) and keep watching it: a settings change of the root,
    /// the ignore patterns or archive_db restarts the watcher. A root that cannot be watched
    /// (a network share, a refusal) is logged once and left to the schedule; settings that
    /// change later try again. Returns the watched root.
    pub fn start_watching(&self) -> std::result::Result<PathBuf, NotWatched> {
        lock(&self.shared.watch).wanted = true;
        self.restart_watch()
    }

    /// Stop watching (and stop restarting on settings changes).
    pub fn stop_watching(&self) {
        let old = {
            let mut slot = lock(&self.shared.watch);
            slot.wanted = false;
            slot.current.take()
        };
        drop(old);
    }

    /// The root being watched now, if any.
    pub fn watched_root(&self) -> Option<PathBuf> {
        lock(&self.shared.watch)
            .current
            .as_ref()
            .map(|w| w.root().to_path_buf())
    }

    /// How many watchers this monitor started, restarts included.
    pub fn watcher_starts(&self) -> u64 {
        lock(&self.shared.watch).starts
    }

    fn restart_watch(&self) -> std::result::Result<PathBuf, NotWatched> {
        let mut slot = lock(&self.shared.watch);
        // The old watcher stops before the new one starts: never two for one monitor.
        slot.current = None;
        if !slot.wanted {
            return Err(NotWatched::Refused("stopped".into()));
        }
        match watch::start(self) {
            Ok(w) => {
                let root = w.root().to_path_buf();
                slot.current = Some(w);
                slot.starts += 1;
                Ok(root)
            }
            Err(why) => {
                tracing::warn!("{}", why.message());
                Err(why)
            }
        }
    }

    pub fn status(&self) -> Status {
        lock(&self.shared.state).status()
    }

    /// Subscribe to status changes: `sink` gets the current status now, then every change.
    pub fn subscribe_status(&self, sink: Box<dyn StatusSink>) {
        let current = self.status();
        if sink.push(&current) {
            lock(&self.shared.sinks).push(sink);
        }
    }

    /// Tell subscribers if the derived status changed.
    fn notify(&self) {
        let status = {
            let mut st = lock(&self.shared.state);
            let s = st.status();
            if st.last_status.as_ref() == Some(&s) {
                return;
            }
            st.last_status = Some(s.clone());
            s
        };
        lock(&self.shared.sinks).retain(|sink| sink.push(&status));
    }

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

    /// Serializes settings changes (read, merge, save, apply), so that two at once never lose
    /// each other's change.
    pub fn settings_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.shared.settings)
    }

    /// The admin grants and the PIN throttle of this monitor.
    pub fn admin(&self) -> &AdminGate {
        &self.shared.admin
    }

    /// Refuse `action` unless `caller` is an administrator (see [`super::admin`]).
    pub fn require_admin(&self, caller: &Caller, action: &str) -> Result<()> {
        self.shared
            .admin
            .require(&self.config(), caller, action, Instant::now())
    }

    /// Is `caller` an administrator right now?
    pub fn is_admin(&self, caller: &Caller) -> bool {
        self.shared
            .admin
            .is_admin(&self.config(), caller, Instant::now())
    }

    /// Unlock admin mode with the PIN: the answer for the form, and a grant when it was right.
    pub fn unlock_admin(&self, client: &str, pin: &str) -> (PinCheck, Option<Grant>) {
        let (check, grant) = self
            .shared
            .admin
            .unlock(&self.config(), client, pin, Instant::now());
        if check.ok {
            tracing::info!("관리자 모드 잠금 해제 / admin mode unlocked");
        } else if check.retry_after_secs.is_some() {
            tracing::warn!("관리자 PIN이 여러 번 틀렸습니다 / repeated wrong admin PINs");
        }
        (check, grant)
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

    pub fn is_paused(&self) -> bool {
        lock(&self.shared.state).paused
    }

    pub fn pause(&self) {
        lock(&self.shared.state).paused = true;
        tracing::info!("자동 동기화 일시정지 / automatic sync paused");
        self.shared.wake.notify_all();
        self.notify();
    }

    pub fn resume(&self) {
        {
            let mut st = lock(&self.shared.state);
            st.paused = false;
            st.next_tick = None;
        }
        tracing::info!("자동 동기화 재개 / automatic sync resumed");
        self.shared.wake.notify_all();
        self.notify();
    }

    /// Record an error that is not a job's (the share went away, the watcher failed).
    pub fn report_error(&self, e: &Error) {
        {
            let mut st = lock(&self.shared.state);
            st.last_error = Some(LastError {
                code: e.code().to_string(),
                message: e.to_string(),
                time: iso(self.shared.clock.now()),
            });
        }
        self.notify();
    }

    /// Clear an outside error once the condition is gone (the share is back).
    pub fn clear_error(&self, code: &str) {
        {
            let mut st = lock(&self.shared.state);
            if st.last_error.as_ref().is_some_and(|e| e.code == code) {
                st.last_error = None;
            }
        }
        self.notify();
    }

    /// Is the configured root reachable right now (and its marker file present)? Updates the
    /// status: an unreachable root is an error until it is back.
    pub fn check_root(&self) -> bool {
        let cfg = self.config();
        match check_root(&cfg) {
            Ok(()) => {
                self.clear_error(ROOT_UNREACHABLE);
                true
            }
            Err(e) => {
                let already = lock(&self.shared.state)
                    .last_error
                    .as_ref()
                    .is_some_and(|l| l.code == ROOT_UNREACHABLE);
                if !already {
                    tracing::error!("{e}");
                }
                self.report_error(&e);
                false
            }
        }
    }

    /// Stop the schedule and cancel the running job, waiting for it to end cleanly.
    pub fn shutdown(&self, timeout: Duration) {
        self.stop_watching();
        let thread = {
            let mut st = lock(&self.shared.state);
            st.shutdown = true;
            st.running.as_mut().and_then(|r| {
                r.cancel.store(true, Ordering::Relaxed);
                r.passes.store(true, Ordering::Relaxed);
                r.thread.take()
            })
        };
        self.shared.wake.notify_all();
        if let Some(t) = thread {
            let deadline = Instant::now() + timeout;
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }

    fn schedule_loop(&self) {
        let mut st = lock(&self.shared.state);
        loop {
            if st.shutdown {
                return;
            }
            let minutes = self
                .shared
                .cfg
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .interval_minutes;
            let interval = self
                .shared
                .interval
                .unwrap_or_else(|| Duration::from_secs(u64::from(minutes.max(1)) * 60));
            let Some((due, _)) = st.next_tick.clone() else {
                let wall = self.shared.clock.now()
                    + chrono::Duration::from_std(interval).unwrap_or_default();
                st.next_tick = Some((Instant::now() + interval, iso(wall)));
                drop(st);
                self.notify();
                st = lock(&self.shared.state);
                continue;
            };
            let now = Instant::now();
            if now < due {
                st = self
                    .shared
                    .wake
                    .wait_timeout(st, due - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
                continue;
            }
            // Due: the next tick counts from now, so ticks missed while asleep are skipped.
            st.next_tick = None;
            let busy = st.running.is_some();
            let paused = st.paused;
            drop(st);
            if paused {
                tracing::debug!("schedule: paused, tick skipped");
            } else if busy {
                tracing::info!(
                    "예약 동기화 건너뜀: 작업 진행 중 / scheduled sync skipped: a job is running"
                );
            } else if self.check_root() {
                self.start(JobKind::Sync, Force::No, "schedule");
            }
            st = lock(&self.shared.state);
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
        if applied && !cancel.load(Ordering::Relaxed) {
            lock(&info).progress.phase = PASSES_PHASE.into();
            if let Err(e) = background_passes(&cfg, &passes) {
                tracing::warn!("지문/프로브 작업 실패 / fingerprint or probe pass: {e}");
            }
        }
        // Keep the screens' first query fast (a failure is retried by that query).
        if cfg.target_db.is_some()
            && kind != JobKind::Reconcile
            && let Err(e) = crate::index::Index::open(&cfg)
        {
            tracing::warn!("매치 인덱스 갱신 실패 / match index: {e}");
        }
        let now = iso(clock.now());
        let cancelled = cancel.load(Ordering::Relaxed);
        let mut st = lock(&self.shared.state);
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
    };
    // The lock is released before `run_sync`, which takes it again.
    let scanned = {
        let _lock = SyncLock::acquire(&archive_db, cfg.busy_timeout_secs)?;
        let mut archive = Archive::open(&archive_db)?;
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

/// `last_error.code` of an unreachable share.
pub const ROOT_UNREACHABLE: &str = "root_unreachable";

/// The root (and its marker file) can be listed.
pub fn check_root(cfg: &Config) -> Result<()> {
    let root = cfg.require_root()?;
    let unreachable = |why: String| Error::Unreachable {
        message: format!(
            "NAS 루트에 접근할 수 없습니다: {} ({why}). 공유 폴더가 연결되어 있는지, 네트워크와 \
             권한을 확인하세요. / The NAS root is unreachable.",
            root.display()
        ),
    };
    std::fs::read_dir(root).map_err(|e| unreachable(e.to_string()))?;
    if let Some(marker) = &cfg.marker_file
        && !crate::names::join_rel(root, marker).exists()
    {
        return Err(unreachable(format!(
            "표시 파일 {marker} 없음 / marker file missing"
        )));
    }
    Ok(())
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

/// The passes after a scan or sync: fingerprints of new video files, then the media probe.
/// The phase of a job that only runs the after-job passes (a new job makes it yield).
const PASSES_PHASE: &str = "probing";
/// How long a new job waits for such a job to stop.
const PASSES_YIELD_WAIT: Duration = Duration::from_secs(3);

pub fn background_passes(cfg: &Config, cancel: &AtomicBool) -> Result<()> {
    cfg.check_distinct_databases()?;
    let mut archive = Archive::open(&cfg.archive_db_path()?)?;
    scan::fingerprint_pending(
        &mut archive,
        cfg.require_root()?,
        cfg.scan_workers,
        Some(cancel),
    )?;
    if cfg.probe_media && !cancel.load(Ordering::Relaxed) {
        crate::probe::probe_pending(&mut archive, cfg, Some(cancel), None)?;
    }
    Ok(())
}
