//! One service API for every host. `nas-sync serve` (HTTP + WebSocket) and the desktop shell
//! (Tauri IPC) both call these methods and only translate: decode the request, call, encode the
//! answer or the [`ErrorBody`]. Host start-up (the settings file, the live log file, the
//! watcher, the match index) is here too, so both hosts start the same way.
//!
//! Every method may block (SQLite, directory listings): hosts call them off their async
//! executor. Answers are the JSON shapes of README "The server" (PRD section 7).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, ErrorBody, ErrorCode, Result};
use crate::export::{self, CsvOptions};
use crate::matching::{self, MatchingPage, MatchingQuery, Tree, TreeNode};
use crate::query::filters::MatchingFacets;
use crate::query::{self, Dashboard, HistoryFilter, HistoryPage};
use crate::reconcile::ReconcileReport;
use crate::runtime::LogHub;
use crate::runtime::actions::{
    self, DemoStarted, PatchError, PinCheck, RootTest, SettingsSaved, SettingsView,
};
use crate::runtime::admin::{Caller, Grant};
use crate::runtime::monitor::{
    ForceApproval, JobInfo, JobKind, JobResult, JobState, LastError, Monitor, MonitorOptions,
    Started, Status, StatusKind,
};
use crate::runtime::settings::SettingsStore;
use crate::scan::ScanScope;
use crate::sync::Force;

/// A service answer: the value, or the error as every host sends it.
pub type Answer<T> = std::result::Result<T, ErrorBody>;

/// How long "reconcile" waits for its report before answering with the job to poll.
pub const RECONCILE_WAIT: Duration = Duration::from_secs(60);

/// How long `/health` waits for a root check before it answers from the status: long enough
/// for a local disk or a healthy share, short enough that a hung share never holds a request.
pub const HEALTH_WAIT: Duration = Duration::from_millis(500);

/// How a host starts the service.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// The settings file (none: nothing is written; the defaults and the overrides are used).
    pub settings_path: Option<PathBuf>,
    /// Run the automatic schedule.
    pub schedule: bool,
    /// Watch the root for changes (network shares are left to the schedule).
    pub watch: bool,
    /// Build the match index in the background now, so the first screen does not wait.
    pub warm_index: bool,
}

/// The engine as a host serves it: the [`Monitor`], the long-lived match index and the
/// settings file. Cheap to clone (shared).
#[derive(Clone)]
pub struct Service(Arc<Inner>);

struct Inner {
    monitor: Monitor,
    settings: Option<SettingsStore>,
    settings_warning: Mutex<Option<String>>,
}

/// `GET /api/matching/tree?path=` and the window's `get_tree_node`: one directory of the lazy
/// tree.
#[derive(Debug, Clone, Default, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeQuery {
    /// The directory, relative to the root (`""` is the root).
    pub path: String,
    /// Files to skip (paging within a big folder).
    #[serde(default)]
    pub offset: u64,
    /// Files to return, 1..=[`matching::MAX_NODE_FILES`].
    #[ts(optional)]
    pub limit: Option<u32>,
}

/// The answer of starting a job: `{message, job_id, started, kind}` (HTTP 202).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct StartResponse {
    pub message: String,
    pub job_id: u64,
    /// False when another job was running: `job_id` and `kind` are that job's.
    pub started: bool,
    pub kind: JobKind,
}

/// `{message, job_id}` of a cancel that was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct CancelRequested {
    pub message: String,
    pub job_id: u64,
}

/// What "reconcile" (PRD 7.1) answers: the report when it finished in time, else the job to poll.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ReconcileOutcome {
    /// Finished within [`RECONCILE_WAIT`]: `{result, job_id}` (`result` null and `state` set
    /// when the job ended without a report, e.g. cancelled).
    Finished {
        result: Option<Box<ReconcileReport>>,
        job_id: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        state: Option<JobState>,
    },
    /// Another job was running: that job (HTTP 202).
    Busy(StartResponse),
    /// Still running after the wait: `{message, job_id}` to poll (HTTP 202).
    Running { message: String, job_id: u64 },
}

impl ReconcileOutcome {
    /// Whether the answer is final (HTTP 200) rather than a job to poll (202).
    pub fn finished(&self) -> bool {
        matches!(self, ReconcileOutcome::Finished { .. })
    }
}

/// `/health` and the window's `get_health`: the status in a word and its error code; with
/// `details`, also the last sync and the last error's message (which may name the share).
#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Health {
    pub status: StatusKind,
    pub label: String,
    pub code: Option<String>,
    /// The network file system pokervod.db is on (WAL is unsafe there), if any.
    pub target_network_fs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_sync: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_error: Option<LastError>,
}

impl Health {
    /// Healthy enough for a health check (HTTP 200 rather than 503).
    pub fn ok(&self) -> bool {
        self.status != StatusKind::Error
    }
}

impl Service {
    /// Start the engine for a host, the same way for every host: the settings file is read with
    /// the one policy (a missing file gives the defaults; an unreadable one is kept aside as
    /// `….corrupt-TIME`, the defaults are used and the settings screen shows why), `overrides`
    /// (command-line flags) are applied, the live log is written next to archive.db, then the
    /// monitor, the watcher and the index warm-up start.
    pub fn start(opts: HostOptions, hub: LogHub, overrides: impl FnOnce(&mut Config)) -> Service {
        let store = opts.settings_path.clone().map(SettingsStore::new);
        let (mut cfg, warning) = match store.as_ref().map(|s| s.load(chrono::Utc::now())) {
            Some(Ok(l)) => (l.config, l.warning),
            Some(Err(e)) => {
                tracing::error!("설정을 읽을 수 없습니다 / cannot read the settings: {e}");
                (Config::default(), Some(e.to_string()))
            }
            None => (Config::default(), None),
        };
        overrides(&mut cfg);
        if let Ok(db) = cfg.archive_db_path() {
            let log = db.with_file_name("logs").join("nas-sync.log");
            if let Err(e) = hub.log_to_file(&log) {
                tracing::warn!(
                    "로그 파일을 열 수 없습니다 / cannot open the log file {}: {e}",
                    log.display()
                );
            }
        }
        let monitor = Monitor::new(
            cfg,
            Arc::new(crate::clock::SystemClock),
            hub,
            MonitorOptions {
                schedule: opts.schedule,
                ..Default::default()
            },
        );
        // The monitor keeps the watcher (restarted when the settings it depends on change); a
        // root that cannot be watched is logged there and left to the schedule.
        if opts.watch {
            let _ = monitor.start_watching();
        }
        let service = Service::new(monitor, store, warning);
        if opts.warm_index {
            service.warm_index();
        }
        service
    }

    /// A service over a monitor the caller built (tests, embedders).
    pub fn new(
        monitor: Monitor,
        settings: Option<SettingsStore>,
        settings_warning: Option<String>,
    ) -> Service {
        Service(Arc::new(Inner {
            monitor,
            settings,
            settings_warning: Mutex::new(settings_warning),
        }))
    }

    pub fn monitor(&self) -> &Monitor {
        &self.0.monitor
    }

    /// The settings file, if the host has one.
    pub fn settings_store(&self) -> Option<&SettingsStore> {
        self.0.settings.as_ref()
    }

    /// Bring the match index up to date in the background (the next screen does not wait).
    pub fn warm_index(&self) {
        self.0
            .monitor
            .index()
            .warm_in_background(self.0.monitor.config());
    }

    fn with_index<T>(&self, f: impl FnOnce(&crate::index::Index) -> Result<T>) -> Answer<T> {
        Ok(self.0.monitor.index().with(&self.0.monitor.config(), f)?)
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    /// PRD 7.2. A job of this process counts as running even before it takes the sync lock.
    pub fn dashboard(&self) -> Answer<Dashboard> {
        let cfg = self.0.monitor.config();
        let mut d = self.with_index(|index| query::dashboard_in(&cfg, index))?;
        if self.0.monitor.status().job.is_some() {
            d.sync_status.is_running = true;
        }
        Ok(d)
    }

    /// PRD 7.3: one page of the 1:1 matching table.
    pub fn matching(&self, q: &MatchingQuery) -> Answer<MatchingPage> {
        self.with_index(|index| matching::matching_in(index, q))
    }

    /// The values the matching table's filters offer (extensions, codecs, exclusion reasons)
    /// with their counts, and the number of name collisions (같은 이름, 다른 크기).
    pub fn matching_facets(&self) -> Answer<MatchingFacets> {
        self.with_index(crate::query::filters::facets_in)
    }

    /// The whole tree (small archives; bigger ones answer `too_large` and load by folder).
    pub fn tree(&self) -> Answer<Tree> {
        let cfg = self.0.monitor.config();
        self.with_index(|index| matching::tree_in(&cfg, index))
    }

    /// One folder of the lazy tree; an unknown folder is `not_found`.
    pub fn tree_node(&self, q: &TreeQuery) -> Answer<TreeNode> {
        check_tree_limit(q.limit)?;
        match self.with_index(|index| matching::tree_node_in(index, &q.path, q.offset, q.limit)) {
            // An unknown directory is a missing resource, not a malformed request.
            Err(mut e) if e.field.as_deref() == Some("path") => {
                e.code = ErrorCode::NotFound;
                Err(e)
            }
            r => r,
        }
    }

    /// The problems that last, newest first.
    pub fn problems(&self) -> Answer<crate::archive::ProblemList> {
        Ok(query::problems(&self.0.monitor.config())?)
    }

    /// PRD 7.4: the change history, newest first, one page.
    pub fn history(&self, f: &HistoryFilter) -> Answer<HistoryPage> {
        Ok(query::history(&self.0.monitor.config(), f)?)
    }

    pub fn status(&self) -> Status {
        self.0.monitor.status()
    }

    // -----------------------------------------------------------------------------------------
    // CSV exports (every host streams them to its own sink: a response body, a file)

    /// The matching table with `q`'s filters, every page, as CSV into `out`. The export reads
    /// its own snapshot of the index, so a download as slow as its reader never holds up the
    /// screens' queries. An invalid query fails before anything is written.
    pub fn export_matching(
        &self,
        q: &MatchingQuery,
        o: &CsvOptions,
        out: &mut dyn std::io::Write,
    ) -> Answer<u64> {
        // The shared index is made current first, so a rebuild is done once, not twice.
        self.with_index(|_| Ok(()))?;
        let index = crate::index::Index::open(&self.0.monitor.config())?;
        Ok(export::matching_csv(&index, q, o, out)?)
    }

    /// The change history with `f`'s filters (search included), every row, as CSV into `out`.
    pub fn export_history(
        &self,
        f: &HistoryFilter,
        o: &CsvOptions,
        out: &mut dyn std::io::Write,
    ) -> Answer<u64> {
        Ok(export::history_csv(&self.0.monitor.config(), f, o, out)?)
    }

    /// The report of reconcile job `job_id`, or of the latest reconcile that has one: its id
    /// and the report (`not_found` when there is none).
    pub fn reconcile_report(&self, job_id: Option<u64>) -> Answer<(u64, Box<ReconcileReport>)> {
        let report = |j: JobInfo| match j.result {
            Some(JobResult::Reconcile(r)) => Some((j.id, r)),
            _ => None,
        };
        let found = match job_id {
            Some(id) => self.0.monitor.job(id).and_then(report),
            None => self.0.monitor.jobs().into_iter().find_map(report),
        };
        found.ok_or_else(|| {
            Error::NotFound {
                message: match job_id {
                    Some(id) => format!(
                        "job {id} is not a finished reconcile with a report / 정합성 검증 보고서가 없습니다"
                    ),
                    None => "no reconcile report yet: run 정합성 검증 first / 정합성 검증 보고서가 없습니다".into(),
                },
            }
            .into()
        })
    }

    /// Looks at the root (a share that went away turns the status to error) without ever
    /// waiting long for it: a local or healthy share answers within the short wait, a hung one
    /// is answered from the status (and turns to `share_timeout` once the check is overdue).
    pub fn health(&self, details: bool) -> Health {
        let m = &self.0.monitor;
        m.check_root_within(HEALTH_WAIT);
        let target_network_fs = m
            .config()
            .target_db
            .and_then(|t| crate::fsinfo::network_fs(&t));
        let status = m.status();
        Health {
            status: status.status,
            label: status.label.to_string(),
            code: status.last_error.as_ref().map(|e| e.code.clone()),
            target_network_fs,
            last_sync: if details { status.last_sync } else { None },
            last_error: if details { status.last_error } else { None },
        }
    }

    // -----------------------------------------------------------------------------------------
    // Jobs and the schedule

    pub fn jobs(&self) -> Vec<JobInfo> {
        self.0.monitor.jobs()
    }

    pub fn job(&self, id: u64) -> Answer<JobInfo> {
        self.0.monitor.job(id).ok_or_else(|| no_job(id))
    }

    /// Ask a running job to stop (`not_running` when it has finished, `not_found` when unknown).
    pub fn cancel(&self, id: u64) -> Answer<CancelRequested> {
        let m = &self.0.monitor;
        if m.cancel(id) {
            Ok(CancelRequested {
                message: "취소 요청됨 / cancel requested".into(),
                job_id: id,
            })
        } else if m.job(id).is_some() {
            Err(Error::NotRunning {
                message: format!("job {id} has already finished"),
            }
            .into())
        } else {
            Err(no_job(id))
        }
    }

    /// Start a job for `caller` (the engine refuses what the caller may not do), or answer with
    /// the running one. It may wait a moment for a job in its background passes to yield.
    pub fn start_job(
        &self,
        kind: JobKind,
        force: Option<ForceApproval>,
        caller: &Caller,
    ) -> Answer<StartResponse> {
        let s = self.0.monitor.request(kind, force, caller)?;
        Ok(started_response(s))
    }

    /// 문제 목록's 다시 시도 on one row: a sync whose scan reads again only the folder the
    /// problem is in (an unreadable folder: that folder), so a retry over SMB takes seconds, not
    /// a walk of the whole share. The sync then plans every file as any sync does, so a row the
    /// Target refused is written again. A problem that has gone away is `not_found`; while
    /// another job runs, the answer names it (`started: false`).
    pub fn retry_problem(&self, id: i64) -> Answer<StartResponse> {
        let m = &self.0.monitor;
        let Some(p) = query::problem(&m.config(), id)? else {
            return Err(Error::NotFound {
                message: format!(
                    "문제 #{id}이(가) 없습니다 (이미 해결되었을 수 있습니다) / no problem {id} (it may have gone away)"
                ),
            }
            .into());
        };
        let scope = ScanScope::dirs([p.retry_dir()]);
        let s = m.start_scoped(JobKind::Sync, Force::No, "retry", scope);
        Ok(started_response(s))
    }

    /// PRD 7.1: run the read-only comparison as a job and wait for its report (up to `wait`).
    /// A job that failed while waited for is its error, with its `job_id`.
    pub fn reconcile(&self, caller: &Caller, wait: Duration) -> Answer<ReconcileOutcome> {
        let started = self.start_job(JobKind::Reconcile, None, caller)?;
        if !started.started {
            return Ok(ReconcileOutcome::Busy(started));
        }
        let id = started.job_id;
        let done = self.0.monitor.wait(id, wait);
        match self.0.monitor.job(id) {
            Some(j) if done => match (j.result, j.error) {
                (Some(JobResult::Reconcile(r)), _) => Ok(ReconcileOutcome::Finished {
                    result: Some(r),
                    job_id: id,
                    state: None,
                }),
                (_, Some(e)) => Err(ErrorBody {
                    job_id: Some(id),
                    ..ErrorBody::new(
                        ErrorCode::parse(&e.code).unwrap_or(ErrorCode::Internal),
                        e.message,
                    )
                }),
                _ => Ok(ReconcileOutcome::Finished {
                    result: None,
                    job_id: id,
                    state: Some(j.state),
                }),
            },
            _ => Ok(ReconcileOutcome::Running {
                message: "정합성 검증 진행 중 / still running".into(),
                job_id: id,
            }),
        }
    }

    pub fn pause(&self) -> Status {
        self.0.monitor.pause();
        self.0.monitor.status()
    }

    pub fn resume(&self) -> Status {
        self.0.monitor.resume();
        self.0.monitor.status()
    }

    // -----------------------------------------------------------------------------------------
    // Settings, admin mode, onboarding

    pub fn settings(&self) -> SettingsView {
        let warning = self
            .0
            .settings_warning
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        SettingsView::new(&self.0.monitor, self.settings_store(), warning)
    }

    /// The fields given replace the current ones (see [`actions::apply_settings_patch`]); the
    /// match index is reopened on next use.
    pub fn save_settings(&self, patch: Value, caller: &Caller) -> Answer<SettingsSaved> {
        let config =
            actions::apply_settings_patch(&self.0.monitor, self.settings_store(), patch, caller)
                .map_err(patch_error)?;
        self.0.monitor.index().reset();
        Ok(SettingsSaved::new(config, self.settings_store()))
    }

    /// Unlock admin mode with the PIN for `client` (throttled per client by the engine).
    pub fn unlock_admin(&self, client: &str, pin: &str) -> (PinCheck, Option<Grant>) {
        self.0.monitor.unlock_admin(client, pin)
    }

    /// "Test connection": can this root be listed (and its marker found)? Nothing is saved.
    pub fn test_root(
        &self,
        caller: &Caller,
        root: &str,
        marker_file: Option<String>,
    ) -> Answer<RootTest> {
        actions::require_setup_access(&self.0.monitor, caller, "연결 테스트 / test root")?;
        Ok(actions::test_root(
            &self.0.monitor.config(),
            root,
            marker_file,
        ))
    }

    /// Onboarding's "start with the demo archive"; `already_configured` once a root is set, so
    /// it can never replace a real NAS.
    pub fn create_demo(&self, caller: &Caller) -> Answer<DemoStarted> {
        actions::require_setup_access(&self.0.monitor, caller, "데모 / demo archive")?;
        let started = actions::use_demo(&self.0.monitor, self.settings_store())?;
        self.0.monitor.index().reset();
        started.ok_or_else(|| Error::AlreadyConfigured.into())
    }
}

/// A tree `limit` must be 1..=[`matching::MAX_NODE_FILES`] (`invalid_argument` otherwise).
pub fn check_tree_limit(limit: Option<u32>) -> Answer<()> {
    match limit {
        Some(l) if !(1..=matching::MAX_NODE_FILES).contains(&l) => Err(Error::Invalid {
            field: "limit".into(),
            message: format!(
                "limit must be between 1 and {} (got {l})",
                matching::MAX_NODE_FILES
            ),
        }
        .into()),
        _ => Ok(()),
    }
}

fn started_response(s: Started) -> StartResponse {
    let message = if s.started {
        format!("{} 시작 / started", s.kind.label_ko())
    } else {
        format!(
            "이미 {} 작업이 진행 중입니다 / a job is already running",
            s.kind.label_ko()
        )
    };
    StartResponse {
        message,
        job_id: s.job_id,
        started: s.started,
        kind: s.kind,
    }
}

fn no_job(id: u64) -> ErrorBody {
    Error::NotFound {
        message: format!("no job {id}"),
    }
    .into()
}

fn patch_error(e: PatchError) -> ErrorBody {
    match e {
        PatchError::Malformed(m) => ErrorBody::new(
            ErrorCode::InvalidArgument,
            format!("settings must be a JSON object of the config's fields: {m}"),
        ),
        PatchError::Invalid(errors) => Error::InvalidSettings { errors }.into(),
        PatchError::Forbidden(e) | PatchError::Io(e) => e.into(),
    }
}
