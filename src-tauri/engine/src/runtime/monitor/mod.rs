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

// The monitor's parts besides this file: starting, running and finishing jobs (`jobs`),
// keeping the watcher (`watching`), and the sync that looks again at files held back as still
// being copied (`settling`).
mod jobs;
mod root_check;
mod settling;
mod watching;

pub use root_check::SHARE_TIMEOUT;

pub use jobs::background_passes;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::archive::Archive;
use crate::clock::{Clock, iso};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::reconcile::ReconcileReport;
use crate::scan::ScanReport;
use crate::sync::{Force, SyncReport};

use super::admin::{AdminGate, Caller, Grant, PinCheck};
use super::logs::LogHub;
use super::watch::{self, Watch};

/// Finished jobs kept for `GET /api/jobs/{id}`.
pub const JOBS_KEPT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobResult {
    Sync(Box<SyncReport>),
    Reconcile(Box<ReconcileReport>),
    Scan(Box<ScanReport>),
}

/// An error as the UI sees it: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct ForceApproval {
    /// The refused sync job's id.
    pub refused_job: u64,
    /// Its planned deletions, as shown to the person.
    pub deletions: u64,
}

/// What [`Monitor::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Started {
    pub job_id: u64,
    /// False: a job was already running and `job_id` is that job.
    pub started: bool,
    pub kind: JobKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    Ok,
    Running,
    Error,
    Paused,
    /// Working, with problems that last (`problems` > 0): the header light is amber.
    Warning,
}

impl StatusKind {
    /// PRD 4.1.1: 정상 / 진행중 / 에러, plus 일시정지.
    pub fn label_ko(self) -> &'static str {
        match self {
            StatusKind::Ok => "정상",
            StatusKind::Running => "진행중",
            StatusKind::Error => "에러",
            StatusKind::Paused => "일시정지",
            StatusKind::Warning => "경고",
        }
    }
}

/// The monitor's status, as the tray, the header light and `/health` show it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
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
    /// Problems that last (`/api/problems`), as of the last job.
    pub problems: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunningJob {
    pub id: u64,
    pub kind: JobKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
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
    /// Problems that last, counted after every job.
    problems: u64,
    /// The sync that looks again at files held back as still being copied (see `settling`).
    settle: settling::SettleSlot,
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
        } else if self.problems > 0 {
            StatusKind::Warning
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
            problems: self.problems,
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
    /// The root check in flight ([`root_check`]) and its wake-up.
    root_probe: Mutex<root_check::RootProbe>,
    root_checked: Condvar,
    /// The match index the screens read: brought up to date by each job right after its
    /// writes, so the next screen answers at once.
    index: crate::index::SharedIndex,
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
        let problems = problem_count(&cfg);
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
                problems,
                settle: Default::default(),
            }),
            wake: Condvar::new(),
            sinks: Mutex::new(Vec::new()),
            interval: opts.interval,
            admin: AdminGate::new(),
            settings: Mutex::new(()),
            watch: Mutex::new(WatchSlot::default()),
            root_probe: Mutex::new(root_check::RootProbe::default()),
            root_checked: Condvar::new(),
            index: crate::index::SharedIndex::default(),
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

    /// The long-lived match index of this process (the screens' queries and the jobs share it).
    pub fn index(&self) -> &crate::index::SharedIndex {
        &self.shared.index
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
    // Opening a directory may be answered from a cache; reading its first entry asks the
    // server (a hung NAS shows here, not at the open).
    let mut listing = std::fs::read_dir(root).map_err(|e| unreachable(e.to_string()))?;
    if let Some(Err(e)) = listing.next() {
        return Err(unreachable(e.to_string()));
    }
    if let Some(marker) = &cfg.marker_file
        && !crate::names::join_rel(root, marker).exists()
    {
        return Err(unreachable(format!(
            "표시 파일 {marker} 없음 / marker file missing"
        )));
    }
    Ok(())
}

/// The problems that last in archive.db (0 when it cannot be read: the job's own error says why).
fn problem_count(cfg: &Config) -> u64 {
    cfg.archive_db_path()
        .ok()
        .and_then(|p| Archive::open_read_only(&p).ok().flatten())
        .and_then(|a| a.problem_count().ok())
        .unwrap_or(0)
}
