//! The sync: scan, plan with [`crate::rules`], guard, and apply to the Target in one transaction.
//!
//! Crash safety: every Target write of a sync happens in a single `BEGIN IMMEDIATE` transaction,
//! so `kill -9` at any instant leaves pokervod.db either before or after the whole sync. Our own
//! bookkeeping in archive.db (links, history, the run's totals) is written after the Target
//! commits; if the process dies in between, the next run re-derives every link from the Target
//! (rule (a) finds rows by path) and converges to the same state.

pub mod names;
pub mod reconcile;
pub mod rules;

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::archive::{Archive, FileRecord, HistoryEntry, SyncTotals};
use crate::clock::{Clock, iso};
use crate::config::Config;
use crate::error::{Error, Guard, Result, SqlContext};
use crate::scan::{self, ScanOptions, ScanReport};
use crate::target::Target;
use rules::{Action, Event, Plan, Rules};

/// Options for one sync run.
#[derive(Default, Clone, Copy)]
pub struct SyncOptions<'a> {
    /// Report what would change; write to neither database.
    pub dry_run: bool,
    /// Whether to apply past the safety guards (mass delete, empty Source).
    pub force: Force,
    /// Use archive.db as it is; do not scan the share first.
    pub no_scan: bool,
    pub progress: Option<&'a (dyn Fn(&scan::ScanProgress) + Sync)>,
    pub cancel: Option<&'a AtomicBool>,
}

/// Whether a sync may apply past the safety guards (the mass-delete guard and the empty-Source
/// guard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Force {
    /// The guards refuse (every automatic and every ordinary sync).
    #[default]
    No,
    /// `nas-sync sync --force` on this machine: past the guards, whatever they count.
    Always,
    /// A refusal a person reviewed in the UI: past the guards only while the plan deletes at
    /// most this many Target rows (what they saw); more, and it is refused again with the new
    /// numbers.
    UpTo(u64),
}

impl Force {
    pub fn is_forced(self) -> bool {
        self != Force::No
    }

    /// May a plan that soft-deletes `deletes` rows go past a guard that refused it?
    pub fn allows(self, deletes: u64) -> bool {
        match self {
            Force::No => false,
            Force::Always => true,
            Force::UpTo(max) => deletes <= max,
        }
    }

    /// The refusal as the person sees it after a forced sync was refused again.
    fn refused_again(self, refusal: Refusal, deletes: u64) -> Refusal {
        match self {
            Force::UpTo(max) => Refusal {
                message: format!(
                    "검토한 삭제 {max}건보다 많은 {deletes}건을 삭제하게 되어 강제 적용하지 않았습니다. 새 숫자를 확인하세요. / The forced sync would now delete {deletes} rows, more than the {max} reviewed; nothing was applied. {}",
                    refusal.message
                ),
                ..refusal
            },
            _ => refusal,
        }
    }
}

/// Why a sync did not apply.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Refusal {
    pub guard: Guard,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct SyncError {
    pub path: String,
    pub message: String,
}

/// One Target change, for reports (the full list is in `file_history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Change {
    pub event: &'static str,
    pub path: String,
    pub old_path: Option<String>,
    /// The Target row id (`None` for a not-yet-inserted row in a dry run).
    pub target_id: Option<i64>,
}

/// At most this many changes are listed in a report; the counts are always complete.
pub const MAX_LISTED_CHANGES: usize = 500;

/// The result of `sync` (the CLI's `--json` document).
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct SyncReport {
    pub added: u64,
    pub updated: u64,
    pub moved: u64,
    pub restored: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub errors: Vec<SyncError>,
    pub dry_run: bool,
    pub refused: Option<Refusal>,
    pub duration_ms: u64,
    /// Active Target rows before the sync.
    pub active_before: u64,
    pub scan: Option<ScanReport>,
    /// The probe pass run before planning, if any.
    pub probe: Option<crate::probe::ProbeStats>,
    /// The first [`MAX_LISTED_CHANGES`] changes, in apply order.
    pub changes: Vec<Change>,
}

impl SyncReport {
    fn totals(&self) -> SyncTotals {
        SyncTotals {
            added: self.added,
            updated: self.updated,
            moved: self.moved,
            restored: self.restored,
            deleted: self.deleted,
            skipped: self.skipped,
            errors: self.errors.len() as u64,
        }
    }

    fn fill_counts(&mut self, plan: &Plan) {
        self.added = plan.count(Event::Added);
        self.updated = plan.count(Event::Updated);
        self.moved = plan.count(Event::Moved);
        self.restored = plan.count(Event::Restored);
        self.deleted = plan.deletes();
        self.skipped = plan.skipped;
        self.active_before = plan.active_before;
    }
}

/// The mass-delete guard: refuse when the plan deletes more than `max_delete_percent` of the
/// active rows *and* more than `max_delete_count` rows.
pub fn mass_delete_refusal(cfg: &Config, plan: &Plan) -> Option<Refusal> {
    let deletes = plan.deletes();
    let active = plan.active_before;
    let pct = if active == 0 {
        0.0
    } else {
        deletes as f64 * 100.0 / active as f64
    };
    if deletes > cfg.max_delete_count && pct > cfg.max_delete_percent {
        Some(Refusal {
            guard: Guard::MassDelete,
            message: format!(
                "대량 삭제 방지 / mass-delete guard: this sync would mark {deletes} of {active} active Target rows deleted ({pct:.1}%), over the limits of {} rows and {}%. Nothing was written to pokervod.db. Check that the share is complete, then run `sync --force` to apply anyway.",
                cfg.max_delete_count, cfg.max_delete_percent
            ),
        })
    } else {
        None
    }
}

/// An empty Source with active Target rows would delete the whole catalog: that is an offline
/// or wrong share, or a fresh archive.db, never a real state (small catalogs slip under the
/// mass-delete guard).
pub fn empty_source_refusal(files: &[FileRecord], plan: &Plan) -> Option<Refusal> {
    (files.is_empty() && plan.active_before > 0).then(|| Refusal {
        guard: Guard::Offline,
        message: format!(
            "NAS 아카이브가 비어 있습니다 / the Source (archive.db) has no files but pokervod.db has {} active rows: syncing would mark them all deleted. Nothing was written; check the share and archive_db, or run `sync --force`.",
            plan.active_before
        ),
    })
}

/// Run one sync: scan (unless `no_scan`), plan, guard, apply. The phases, in order:
/// **lock** (one sync per archive.db) → **preflight** (the Target checked read-only, a crashed
/// run settled) → **scan** → **probe** (new videos, within a time budget) → **plan** → **guards**
/// → **apply** (one Target transaction) → **settle** (links and run totals in archive.db). A dry
/// run plans on a preview and writes nothing. A guard's refusal is a report, not an error.
pub fn run_sync(cfg: &Config, clock: &dyn Clock, opts: SyncOptions<'_>) -> Result<SyncReport> {
    // archive.db must never be pokervod.db under another name.
    cfg.check_distinct_databases()?;
    let mut run = SyncRun::new(cfg, clock, opts)?;
    if run.opts.dry_run {
        return run.dry_run();
    }
    let _lock = run.lock()?;
    let mut archive = run.preflight()?;
    let Some(files) = run.scan(&mut archive)? else {
        return Ok(run.finish());
    };
    let files = run.probe(&mut archive, files)?;
    let mut target = run.open_target(&mut archive)?;
    let Some((plan, applied)) = run.plan_and_apply(&mut target, &mut archive, &files)? else {
        return Ok(run.finish());
    };
    run.settle(target, archive, &plan, &files, applied)
}

/// One sync in progress: its inputs and the report it fills, phase by phase.
struct SyncRun<'a> {
    cfg: &'a Config,
    clock: &'a dyn Clock,
    opts: SyncOptions<'a>,
    timer: Instant,
    started: chrono::DateTime<chrono::Utc>,
    target_path: std::path::PathBuf,
    archive_path: std::path::PathBuf,
    rules: Rules,
    report: SyncReport,
}

impl<'a> SyncRun<'a> {
    fn new(cfg: &'a Config, clock: &'a dyn Clock, opts: SyncOptions<'a>) -> Result<Self> {
        Ok(SyncRun {
            cfg,
            clock,
            timer: Instant::now(),
            started: clock.now(),
            target_path: cfg.require_target_db()?.to_path_buf(),
            archive_path: cfg.archive_db_path()?,
            rules: Rules::from_config(cfg),
            report: SyncReport {
                dry_run: opts.dry_run,
                ..SyncReport::default()
            },
            opts,
        })
    }

    fn scan_opts(&self) -> ScanOptions<'a> {
        ScanOptions {
            dry_run: self.opts.dry_run,
            progress: self.opts.progress,
            cancel: self.opts.cancel,
        }
    }

    /// The report as it stands, with the whole call's duration.
    fn finish(mut self) -> SyncReport {
        self.report.duration_ms = self.timer.elapsed().as_millis() as u64;
        self.report
    }

    /// The guards' verdict on `plan` (`None`: apply), unless `force` allows its deletions.
    fn refusal(&self, files: &[FileRecord], plan: &Plan) -> Option<Refusal> {
        empty_source_refusal(files, plan)
            .or_else(|| mass_delete_refusal(self.cfg, plan))
            .filter(|_| !self.opts.force.allows(plan.deletes()))
            .map(|r| self.opts.force.refused_again(r, plan.deletes()))
    }

    /// Plan on a preview of the scan and the Target as it is; nothing is written.
    fn dry_run(mut self) -> Result<SyncReport> {
        let files = if self.opts.no_scan {
            Archive::read_snapshot(&self.archive_path)?.0
        } else {
            match scan::preview(self.cfg, self.clock, self.scan_opts()) {
                Ok(p) => {
                    self.report.scan = Some(p.report());
                    p.files
                }
                Err(Error::Refused { guard, message }) => {
                    self.report.refused = Some(Refusal { guard, message });
                    return Ok(self.finish());
                }
                Err(e) => return Err(e),
            }
        };
        let rows = Target::read_rows(&self.target_path, self.cfg.busy_timeout_secs)?;
        let plan = rules::plan(&files, &rows, &self.rules);
        self.report.fill_counts(&plan);
        self.report.changes = list_changes(&plan, &files, &NewIds::default());
        self.report.refused = self.refusal(&files, &plan);
        Ok(self.finish())
    }

    /// One sync at a time per archive.db: a second one would take the first's write-ahead run
    /// for a crashed one.
    fn lock(&self) -> Result<crate::archive::SyncLock> {
        crate::archive::SyncLock::acquire(&self.archive_path, self.cfg.busy_timeout_secs)
    }

    /// The Target checked read-only first (a bad path or schema fails before archive.db is
    /// touched, and nothing is written to pokervod.db before the share passed the offline
    /// guards); a run that died between its write-ahead record and its end is settled against
    /// the Target as it is now (before the scan, so its links are in the snapshot).
    fn preflight(&self) -> Result<Archive> {
        if self.cfg.target_wal
            && let Some(fs) = crate::fsinfo::network_fs(&self.target_path)
        {
            tracing::warn!(
                "pokervod.db가 네트워크 파일 시스템({fs})에 있는데 target_wal이 켜져 있습니다: 네트워크 공유의 WAL은 데이터베이스를 손상시킬 수 있으니 target_wal을 끄세요 / pokervod.db is on a network file system ({fs}) and target_wal is on: WAL on a network share can corrupt the database; turn target_wal off"
            );
        }
        Target::check_path(&self.target_path)?;
        let existing = Target::open_checked(&self.target_path, self.cfg.busy_timeout_secs)?;
        let mut archive = Archive::open(&self.archive_path)?;
        settle_pending_runs(&mut archive, existing.as_ref())?;
        Ok(archive)
    }

    /// Scan the share into archive.db (or take its records as they are with `no_scan`). `None`
    /// when a guard refused the scan (the refusal is in the report).
    fn scan(&mut self, archive: &mut Archive) -> Result<Option<Vec<FileRecord>>> {
        if self.opts.no_scan {
            return archive.load_files().map(Some);
        }
        match scan::run_scan(self.cfg, archive, self.clock, self.scan_opts()) {
            Ok((scan_report, files)) => {
                self.report.scan = Some(scan_report);
                Ok(Some(files))
            }
            Err(Error::Refused { guard, message }) => {
                tracing::error!("동기화 보류: {message}");
                self.report.refused = Some(Refusal { guard, message });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Probe new and modified video files (bounded by a time budget) so their first Target row
    /// already carries codec, resolution and duration; the rest follow with the next sync. A
    /// cancel during the probe stops the sync here, before anything is applied.
    fn probe(&mut self, archive: &mut Archive, files: Vec<FileRecord>) -> Result<Vec<FileRecord>> {
        let cfg = self.cfg;
        let files = if cfg.probe_media && cfg.probe_budget_secs > 0 && !self.opts.no_scan {
            let stats = crate::probe::probe_pending(
                archive,
                cfg,
                self.opts.cancel,
                Some(std::time::Duration::from_secs(cfg.probe_budget_secs)),
            )?;
            self.report.probe = Some(stats);
            archive.load_files()?
        } else {
            files
        };
        if self
            .opts
            .cancel
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(Error::Cancelled);
        }
        Ok(files)
    }

    /// The Target for writing, in its owner's journal mode (WAL only when the operator opted
    /// in); archive.db tuned for the apply.
    fn open_target(&self, archive: &mut Archive) -> Result<Target> {
        let mut target = Target::open(&self.target_path, self.cfg.busy_timeout_secs)?;
        target.ensure_schema()?;
        if self.cfg.target_wal {
            target.use_wal()?;
        }
        archive.use_large_cache()?;
        archive.defer_checkpoints()?;
        Ok(target)
    }

    /// Plan on a snapshot of the Target, check the guards, then apply in one IMMEDIATE
    /// transaction. If another program committed to the Target in between (data_version moved),
    /// plan again on fresh rows. `None` when a guard refused (the refusal is in the report).
    fn plan_and_apply(
        &mut self,
        target: &mut Target,
        archive: &mut Archive,
        files: &[FileRecord],
    ) -> Result<Option<(Plan, Applied)>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let version = target.data_version()?;
            let rows = target.load_rows()?;
            tracing::debug!(
                rows = rows.len(),
                elapsed_ms = self.timer.elapsed().as_millis() as u64,
                "Target loaded"
            );
            let plan = rules::plan(files, &rows, &self.rules);
            tracing::debug!(
                actions = plan.actions.len(),
                elapsed_ms = self.timer.elapsed().as_millis() as u64,
                "planned"
            );
            self.report.fill_counts(&plan);
            if let Some(refusal) = self.refusal(files, &plan) {
                tracing::error!("동기화 보류: {}", refusal.message);
                self.report.changes = list_changes(&plan, files, &NewIds::default());
                self.report.refused = Some(refusal);
                return Ok(None);
            }
            if self.opts.force.is_forced()
                && (empty_source_refusal(files, &plan).is_some()
                    || mass_delete_refusal(self.cfg, &plan).is_some())
            {
                tracing::warn!(
                    "대량 삭제 방지를 무시하고 강제 적용합니다: 삭제 {} / mass-delete guard overridden with --force",
                    plan.deletes()
                );
            }
            let ctx = ApplyContext {
                plan: &plan,
                files,
                rules: &self.rules,
                started: &iso(self.started),
                applied_at: &iso(self.clock.now()),
                forced: self.opts.force.is_forced(),
                totals: self.report.totals(),
            };
            match apply_target(target, archive, &ctx, version)? {
                Some(applied) => return Ok(Some((plan, applied))),
                None if attempt < 5 => {
                    tracing::info!(
                        "계획 중에 pokervod.db가 바뀌어 다시 계획합니다 / pokervod.db changed while planning; planning again"
                    );
                }
                None => {
                    return Err(Error::TargetBusy {
                        secs: self.cfg.busy_timeout_secs,
                    });
                }
            }
        }
    }

    /// After the Target committed: the report's counts without the rows whose write failed,
    /// the links and the run's totals in archive.db, checkpoints off the sync's path.
    fn settle(
        mut self,
        target: Target,
        mut archive: Archive,
        plan: &Plan,
        files: &[FileRecord],
        applied: Applied,
    ) -> Result<SyncReport> {
        tracing::debug!(
            elapsed_ms = self.timer.elapsed().as_millis() as u64,
            "Target committed"
        );
        self.report.errors = applied.errors;
        // Rows whose write failed are not counted as applied.
        let failed_paths: Vec<String> = self.report.errors.iter().map(|e| e.path.clone()).collect();
        let failed: HashSet<&str> = failed_paths.iter().map(String::as_str).collect();
        if !failed.is_empty() {
            let mut ok = plan.clone();
            ok.actions
                .retain(|a| !failed.contains(action_path(a, files)));
            self.report.fill_counts(&ok);
        }
        self.report.changes = list_changes(plan, files, &applied.ids);

        // The rows are committed and visible; copying the WAL into pokervod.db (in WAL mode) is
        // not on the sync's path.
        target.checkpoint_in_background();
        let (links, unlinked) = if applied.links_staged {
            (Vec::new(), Vec::new())
        } else {
            new_links(plan, files, &applied.ids, &failed)
        };
        let failed: Vec<&str> = failed.into_iter().collect();
        let totals = self.report.totals();
        let link_write = if applied.links_staged {
            crate::archive::Links::Staged
        } else {
            crate::archive::Links::Write {
                links: &links,
                unlinked: &unlinked,
            }
        };
        archive.finish_run(applied.run_id, &totals, self.timer, &failed, link_write)?;
        archive.checkpoint_in_background();
        tracing::debug!(
            staged = applied.links_staged,
            elapsed_ms = self.timer.elapsed().as_millis() as u64,
            "links and run totals committed"
        );
        let r = &self.report;
        tracing::info!(
            "동기화 완료: 추가 {}, 변경 {}, 이동 {}, 복원 {}, 삭제 {}{} / sync applied",
            r.added,
            r.updated,
            r.moved,
            r.restored,
            r.deleted,
            if r.errors.is_empty() {
                String::new()
            } else {
                format!(", 오류 {}", r.errors.len())
            }
        );
        // The whole call, links included (`sync_runs.duration_ms` misses only the last commit).
        Ok(self.finish())
    }
}

/// Links after a sync: every primary to the row it holds now, as (file id, Target id) for the
/// links that are new or changed, and the files that lose their link because their row went
/// to another file. Files whose write failed keep what they had.
fn new_links(
    plan: &Plan,
    files: &[FileRecord],
    ids: &NewIds,
    failed: &HashSet<&str>,
) -> (Vec<(i64, i64)>, Vec<i64>) {
    let mut relinked = vec![false; files.len()];
    let mut links: Vec<(i64, i64)> = Vec::new();
    for (i, role) in plan.roles.iter().enumerate() {
        let row = match role {
            rules::Role::Primary { row: Some(r) } => Some(*r),
            rules::Role::Primary { row: None } => ids.get(i),
            _ => None,
        };
        let Some(row) = row else { continue };
        if files[i].id > 0
            && files[i].target_id != Some(row)
            && (failed.is_empty() || !failed.contains(files[i].path.as_str()))
        {
            relinked[i] = true;
            links.push((files[i].id, row));
        }
    }
    if links.is_empty() {
        return (links, Vec::new());
    }
    // A row is linked to one file at most: whoever held a row that changes hands lets go.
    let mut taken: Vec<i64> = links.iter().map(|&(_, t)| t).collect();
    taken.sort_unstable();
    let unlinked = files
        .iter()
        .enumerate()
        .filter(|&(i, f)| {
            !relinked[i] && f.target_id.is_some_and(|t| taken.binary_search(&t).is_ok())
        })
        .map(|(_, f)| f.id)
        .collect();
    (links, unlinked)
}

fn action_path<'a>(a: &'a Action, files: &'a [FileRecord]) -> &'a str {
    match a {
        Action::Insert { file } | Action::Update { file, .. } => &files[*file].path,
        Action::Delete { path, .. } => path,
    }
}

fn list_changes(plan: &Plan, files: &[FileRecord], ids: &NewIds) -> Vec<Change> {
    plan.actions
        .iter()
        .take(MAX_LISTED_CHANGES)
        .map(|a| {
            let h = history_entry(a, files, ids);
            Change {
                event: h.event.as_str(),
                path: h.path.to_string(),
                old_path: h.old_path.map(str::to_string),
                target_id: h.target_id,
            }
        })
        .collect()
}

fn history_entry<'a>(a: &'a Action, files: &'a [FileRecord], ids: &NewIds) -> HistoryEntry<'a> {
    match a {
        Action::Insert { file } => HistoryEntry {
            event: Event::Added,
            path: &files[*file].path,
            old_path: None,
            catalog: files[*file].catalog(),
            target_id: ids.get(*file),
            file_id: Some(files[*file].id).filter(|&id| id > 0),
            size_bytes: Some(files[*file].size),
        },
        Action::Update {
            row,
            file,
            event,
            old_path,
            ..
        } => HistoryEntry {
            event: *event,
            path: &files[*file].path,
            old_path: (old_path != &files[*file].path).then_some(old_path.as_str()),
            catalog: files[*file].catalog(),
            target_id: Some(*row),
            file_id: Some(files[*file].id).filter(|&id| id > 0),
            size_bytes: Some(files[*file].size),
        },
        Action::Delete { row, path, catalog } => HistoryEntry {
            event: Event::Deleted,
            path,
            old_path: None,
            catalog,
            target_id: Some(*row),
            file_id: None,
            size_bytes: None,
        },
    }
}

/// The Target ids fixed for the rows a sync inserts, by file index; 0 = no insert (Target ids
/// start at 1). A vector, not a map: a first sync inserts almost every file.
#[derive(Default)]
struct NewIds(Vec<i64>);

impl NewIds {
    fn get(&self, file: usize) -> Option<i64> {
        self.0.get(file).copied().filter(|&id| id != 0)
    }
}

struct ApplyContext<'a> {
    plan: &'a Plan,
    files: &'a [FileRecord],
    rules: &'a Rules,
    started: &'a str,
    /// The time written to the Target's `updated_at` / `created_at` / `deleted_at`.
    applied_at: &'a str,
    forced: bool,
    totals: SyncTotals,
}

struct Applied {
    run_id: i64,
    /// Target ids of inserted files, by file index.
    ids: NewIds,
    errors: Vec<SyncError>,
    /// The links are written, in archive.db's open transaction (see [`Archive::stage_links`]).
    links_staged: bool,
}

/// Apply the plan in one Target transaction. `Ok(None)`: the Target changed since `version`.
///
/// Order of commits (the invariant the crash test checks): the Target transaction is opened, the
/// ids of new rows are fixed, the run and its history are committed to archive.db as `pending`,
/// then the Target commits. A crash before the Target commit leaves a pending run that the next
/// run discards; a crash after it leaves one the next run keeps (see [`settle_pending_runs`]).
fn apply_target(
    target: &mut Target,
    archive: &mut Archive,
    ctx: &ApplyContext<'_>,
    version: i64,
) -> Result<Option<Applied>> {
    let (plan, files, now) = (ctx.plan, ctx.files, ctx.applied_at);
    let busy_secs = target.busy_timeout_secs();
    if plan.actions.is_empty() {
        let run_id = archive.begin_run(
            ctx.started,
            now,
            ctx.forced,
            &ctx.totals,
            std::iter::empty(),
        )?;
        return Ok(Some(Applied {
            run_id,
            ids: NewIds::default(),
            errors: Vec::new(),
            links_staged: false,
        }));
    }
    let timer = Instant::now();
    let tx = target.begin_immediate()?;
    let current: i64 = tx
        .pragma_query_value(None, "data_version", |r| r.get(0))
        .ctx("pokervod.db data_version")?;
    if current != version {
        return Ok(None);
    }
    // New rows get the ids SQLite would give them (after the largest id, or the AUTOINCREMENT
    // sequence), fixed now so that the write-ahead history can name them.
    let max_id: i64 = tx
        .query_row("SELECT COALESCE(MAX(id), 0) FROM files", [], |r| r.get(0))
        .ctx("pokervod.db max id")?;
    let seq: i64 = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'files'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    let mut next_id = max_id.max(seq);
    let mut ids = NewIds(Vec::new());
    for a in &plan.actions {
        if let Action::Insert { file } = a {
            if ids.0.is_empty() {
                ids.0 = vec![0; files.len()];
            }
            next_id += 1;
            ids.0[*file] = next_id;
        }
    }
    // The write-ahead history (archive.db) and the Target rows (pokervod.db) are written at the
    // same time, on two threads: two files, two connections, two cores. The Target commits only
    // after the history has committed (the join below), so the order of commits is unchanged.
    let (history, written) = std::thread::scope(|scope| {
        let history = scope.spawn(|| {
            let run_id = archive.begin_run(
                ctx.started,
                now,
                ctx.forced,
                &ctx.totals,
                plan.actions.iter().map(|a| history_entry(a, files, &ids)),
            );
            // Phase times below are since the Target transaction began (`ms`).
            tracing::debug!(
                entries = plan.actions.len(),
                ms = timer.elapsed().as_millis() as u64,
                "write-ahead history committed"
            );
            // This thread is done before the Target's: it writes the links as well, in a
            // transaction committed after the Target's (rows that fail undo the staging below).
            let staged = run_id.is_ok() && {
                let (links, unlinked) = new_links(plan, files, &ids, &HashSet::new());
                match archive.stage_links(&links, &unlinked) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::debug!(error = %e, "links not staged; written after the commit");
                        false
                    }
                }
            };
            tracing::debug!(
                staged,
                ms = timer.elapsed().as_millis() as u64,
                "links staged"
            );
            (run_id, staged)
        });
        let written = write_target(&tx, ctx, &ids, busy_secs);
        tracing::debug!(
            ms = timer.elapsed().as_millis() as u64,
            "Target rows written"
        );
        // A panic there is a panic here (the Target transaction rolls back as it unwinds).
        let history = history
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (history, written)
    });
    // No history, no Target commit.
    let (run_id, mut links_staged) = history;
    let run_id = match run_id {
        Ok(id) => id,
        Err(e) => {
            rollback_target(tx);
            return Err(e);
        }
    };
    // Links staged for rows that then failed would be wrong: they are written after the
    // commit instead, from what was applied.
    if links_staged && !written.as_ref().is_ok_and(|errors| errors.is_empty()) {
        archive.unstage_links();
        links_staged = false;
    }
    let committed = written.and_then(|errors| {
        tx.execute_batch("COMMIT").map(|()| errors).map_err(|e| {
            if crate::target::is_busy(&e) {
                Error::TargetBusy { secs: busy_secs }
            } else {
                Error::Sqlite {
                    context: "pokervod.db 커밋 실패로 동기화를 취소했습니다(적용된 변경 없음) / commit pokervod.db failed; the sync was rolled back and nothing was applied".into(),
                    source: e,
                }
            }
        })
    });
    // A failed write or commit: roll back explicitly (SQLite may keep the transaction open
    // after a disk-full or I/O error), then forget the write-ahead run.
    if committed.is_err() {
        rollback_target(tx);
    }
    match committed {
        Ok(errors) => Ok(Some(Applied {
            run_id,
            ids,
            errors,
            links_staged,
        })),
        Err(e) => {
            archive.discard_run(run_id)?;
            Err(e)
        }
    }
}

/// `ROLLBACK` of the Target transaction unless SQLite already ended it (a fatal error or a
/// trigger's RAISE(ROLLBACK) may have; a successful `COMMIT` has).
fn rollback_target(tx: rusqlite::Transaction<'_>) {
    if tx.is_autocommit() {
        return;
    }
    if let Err(e) = tx.rollback() {
        tracing::warn!(error = %e, "pokervod.db rollback");
    }
}

/// The message of a row the Target did not take although its statement succeeded.
const DROPPED: &str = "pokervod.db가 이 변경을 반영하지 않았습니다(소유자 스키마의 트리거가 무시함) / \
     pokervod.db did not apply this change: 0 rows changed (a trigger of the owner's schema ignored it)";

/// The plan's writes inside the open Target transaction; returns the rows that failed on their
/// own (the rest of the sync goes on without them).
///
/// Every write names its conflict resolution (`OR ABORT`): the statement's clause overrides the
/// owner's schema (`UNIQUE ON CONFLICT REPLACE` would physically delete the row in the way) and
/// its triggers' statements. A statement that succeeds but changes no row (a BEFORE trigger's
/// RAISE(IGNORE)) is a failed row too, so that no history or link names a row not written.
fn write_target(
    tx: &rusqlite::Transaction<'_>,
    ctx: &ApplyContext<'_>,
    ids: &NewIds,
    busy_secs: u64,
) -> Result<Vec<SyncError>> {
    let (plan, files, rules, now) = (ctx.plan, ctx.files, ctx.rules, ctx.applied_at);
    let mut errors: Vec<SyncError> = Vec::new();
    let mut upd = tx
        .prepare_cached(
            "UPDATE OR ABORT files SET nas_path = ?2, filename = ?3, catalog = ?4, format = ?5,
             size_bytes = ?6, hls_compatible = ?7, status = 'active', deleted_at = NULL,
             updated_at = ?8,
             codec = CASE WHEN ?13 THEN ?9 ELSE COALESCE(?9, codec) END,
             width = CASE WHEN ?13 THEN ?10 ELSE COALESCE(?10, width) END,
             height = CASE WHEN ?13 THEN ?11 ELSE COALESCE(?11, height) END,
             duration_sec = CASE WHEN ?13 THEN ?12 ELSE COALESCE(?12, duration_sec) END
             WHERE id = ?1",
        )
        .ctx("prepare Target update")?;
    let mut del = tx
        .prepare_cached(
            "UPDATE OR ABORT files SET status = 'deleted', deleted_at = ?2, updated_at = ?2
             WHERE id = ?1 AND status = 'active'",
        )
        .ctx("prepare Target delete")?;
    let mut ins = tx
        .prepare_cached(
            "INSERT OR ABORT INTO files (id, nas_path, filename, catalog, format, size_bytes,
             hls_compatible, status, created_at, updated_at, codec, width, height, duration_sec)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, ?8, ?9, ?10, ?11, ?12)",
        )
        .ctx("prepare Target insert")?;
    // Classify a failed statement: stop the sync, or note the row and go on.
    let failure = |e: rusqlite::Error, path: &str, errors: &mut Vec<SyncError>| -> Result<()> {
        if crate::target::is_busy(&e) {
            return Err(Error::TargetBusy { secs: busy_secs });
        }
        // A trigger's RAISE(ROLLBACK) ended the whole transaction: stop at once, or later
        // statements would commit one by one.
        if tx.is_autocommit() {
            return Err(Error::Sqlite {
                context: format!("pokervod.db rolled back the sync at {path}; nothing was applied"),
                source: e,
            });
        }
        // The disk, the file or memory failed (full, I/O, read-only, corrupt): the sync stops
        // and applies nothing rather than commit what happened to get through.
        if crate::target::is_fatal(&e) {
            return Err(Error::Sqlite {
                context: format!(
                    "pokervod.db 오류로 동기화 전체를 취소했습니다(적용된 변경 없음) / pokervod.db failed at {path}; the sync was rolled back and nothing was applied"
                ),
                source: e,
            });
        }
        // A failed statement is rolled back on its own; the rest of the sync goes on.
        errors.push(SyncError {
            path: path.to_string(),
            message: e.to_string(),
        });
        Ok(())
    };
    let mut insert_one = |file: usize, errors: &mut Vec<SyncError>| -> Result<()> {
        let f = &files[file];
        let format = rules::format(f);
        let res = ins.execute(params![
            ids.get(file),
            f.path,
            f.name(),
            f.catalog(),
            format,
            f.size,
            rules.is_hls(&format),
            now,
            f.media.codec,
            f.media.width,
            f.media.height,
            f.media.duration_sec
        ]);
        match res {
            Ok(0) => {
                errors.push(SyncError {
                    path: f.path.clone(),
                    message: DROPPED.into(),
                });
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => failure(e, &f.path, errors),
        }
    };
    let mut present = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM files WHERE id = ?1 AND nas_path = ?2)")
        .ctx("prepare Target check")?;
    let mut multi: Option<rusqlite::CachedStatement<'_>> = None;
    let mut batch: Vec<usize> = Vec::with_capacity(INSERT_ROWS_PER_STATEMENT);
    // Inserts go INSERT_ROWS_PER_STATEMENT rows to a statement. If one of them fails, SQLite
    // undoes that statement alone, and its rows are replayed one by one so that only the bad
    // row is reported. Rows that are in after all (a trigger's RAISE(FAIL) keeps the rows
    // before it; RAISE(IGNORE) drops one and keeps the rest) are not replayed.
    let mut flush = |batch: &mut Vec<usize>, errors: &mut Vec<SyncError>| -> Result<()> {
        if batch.len() < INSERT_ROWS_PER_STATEMENT {
            for &file in batch.iter() {
                insert_one(file, errors)?;
            }
            batch.clear();
            return Ok(());
        }
        let stmt = match &mut multi {
            Some(s) => s,
            None => multi.insert(
                tx.prepare_cached(&multi_insert_sql(INSERT_ROWS_PER_STATEMENT))
                    .ctx("prepare Target insert")?,
            ),
        };
        stmt.raw_bind_parameter(1, now).ctx("Target insert")?;
        for (k, &file) in batch.iter().enumerate() {
            let f = &files[file];
            let format = rules::format(f);
            let p = 2 + k * 11;
            let mut bind = || -> rusqlite::Result<()> {
                stmt.raw_bind_parameter(p, ids.get(file))?;
                stmt.raw_bind_parameter(p + 1, &f.path)?;
                stmt.raw_bind_parameter(p + 2, f.name())?;
                stmt.raw_bind_parameter(p + 3, f.catalog())?;
                stmt.raw_bind_parameter(p + 4, format.as_ref())?;
                stmt.raw_bind_parameter(p + 5, f.size)?;
                stmt.raw_bind_parameter(p + 6, rules.is_hls(&format))?;
                stmt.raw_bind_parameter(p + 7, f.media.codec.as_deref())?;
                stmt.raw_bind_parameter(p + 8, f.media.width)?;
                stmt.raw_bind_parameter(p + 9, f.media.height)?;
                stmt.raw_bind_parameter(p + 10, f.media.duration_sec)
            };
            bind().ctx("Target insert")?;
        }
        match stmt.raw_execute() {
            Ok(n) if n == batch.len() => {}
            res => {
                if let Err(e) = res
                    && (crate::target::is_busy(&e)
                        || crate::target::is_fatal(&e)
                        || tx.is_autocommit())
                {
                    return failure(e, &files[batch[0]].path, errors);
                }
                for &file in batch.iter() {
                    let f = &files[file];
                    let written: bool = present
                        .query_row(params![ids.get(file), f.path], |r| r.get(0))
                        .map_err(|e| {
                            if crate::target::is_busy(&e) {
                                Error::TargetBusy { secs: busy_secs }
                            } else {
                                Error::Sqlite {
                                    context: "check Target insert".into(),
                                    source: e,
                                }
                            }
                        })?;
                    if !written {
                        insert_one(file, errors)?;
                    }
                }
            }
        }
        batch.clear();
        Ok(())
    };
    for a in &plan.actions {
        let res = match a {
            Action::Update {
                row,
                file,
                replace_media,
                ..
            } => {
                let d = rules::desired(&files[*file], rules);
                upd.execute(params![
                    row,
                    d.nas_path,
                    d.filename,
                    d.catalog,
                    d.format,
                    d.size_bytes,
                    d.hls_compatible,
                    now,
                    d.codec,
                    d.width,
                    d.height,
                    d.duration_sec,
                    replace_media
                ])
            }
            Action::Delete { row, .. } => del.execute(params![row, now]),
            Action::Insert { file } => {
                batch.push(*file);
                if batch.len() == INSERT_ROWS_PER_STATEMENT {
                    flush(&mut batch, &mut errors)?;
                }
                continue;
            }
        };
        match res {
            Ok(0) => errors.push(SyncError {
                path: action_path(a, files).to_string(),
                message: DROPPED.into(),
            }),
            Ok(_) => {}
            Err(e) => failure(e, action_path(a, files), &mut errors)?,
        }
    }
    flush(&mut batch, &mut errors)?;
    Ok(errors)
}

/// Target rows per INSERT statement (11 parameters a row plus the shared time).
const INSERT_ROWS_PER_STATEMENT: usize = 64;

/// `INSERT OR ABORT INTO files … VALUES (…), (…), …` for `rows` rows; ?1 is the time shared by all.
fn multi_insert_sql(rows: usize) -> String {
    crate::archive::values_sql(
        "INSERT OR ABORT INTO files (id, nas_path, filename, catalog, format, size_bytes,
         hls_compatible, status, created_at, updated_at, codec, width, height, duration_sec)
         VALUES ",
        rows,
        2,
        "(#, #, #, #, #, #, #, 'active', ?1, ?1, #, #, #, #)",
    )
}

/// Settle runs that a killed process left `pending`: if their Target transaction committed (the
/// rows show the changes), keep their history (minus changes the Target does not show);
/// otherwise forget them. The transaction was all-or-nothing, so one change that shows is
/// enough to tell it committed.
fn settle_pending_runs(archive: &mut Archive, target: Option<&Target>) -> Result<()> {
    for (run_id, applied_at) in archive.pending_runs()? {
        let entries = archive.run_history(run_id)?;
        let Some(target) = target else {
            // No pokervod.db at all: the run cannot have committed.
            archive.discard_run(run_id)?;
            continue;
        };
        let mut stmt = target
            .conn()
            .prepare("SELECT nas_path, status, size_bytes, updated_at FROM files WHERE id = ?1")
            .ctx("settle pending run")?;
        let mut keep: Vec<i64> = Vec::new();
        for e in &entries {
            let Some(id) = e.target_id else { continue };
            let row: Option<(String, String, i64, Option<String>)> = stmt
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()
                .ctx("settle pending run")?;
            let Some((path, status, size, updated_at)) = row else {
                continue;
            };
            let shows = match e.event.as_str() {
                "deleted" => {
                    status != "active" && updated_at.as_deref() == Some(applied_at.as_str())
                }
                _ => {
                    status == "active"
                        && path == e.path
                        && Some(size) == e.size_bytes
                        && updated_at.as_deref() == Some(applied_at.as_str())
                }
            };
            if shows {
                keep.push(e.id);
            }
        }
        if keep.is_empty() && !entries.is_empty() {
            tracing::info!(
                "중단된 동기화(#{run_id})는 pokervod.db에 반영되지 않아 기록을 지웁니다 / a sync killed before its Target commit left no changes; forgotten"
            );
            archive.discard_run(run_id)?;
        } else {
            tracing::warn!(
                "중단된 동기화(#{run_id})의 변경 {}건 이력을 복구했습니다 / recovered the history of a sync killed after its Target commit",
                keep.len()
            );
            archive.settle_run(run_id, &keep)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Media;
    use crate::rules::Role;

    fn file(id: i64, path: &str, target_id: Option<i64>) -> FileRecord {
        FileRecord {
            id,
            path: path.into(),
            size: 1,
            mtime: 1,
            first_seen: 1,
            fingerprint: None,
            target_id,
            media: Media::default(),
        }
    }

    #[test]
    fn a_row_that_changes_hands_unlinks_its_previous_file() {
        // a: linked to 10, now not eligible; b: takes row 10; c: keeps 20; d: inserted as 31.
        let files = vec![
            file(1, "A/a.mxf", Some(10)),
            file(2, "A/b.mp4", None),
            file(3, "A/c.mp4", Some(20)),
            file(4, "A/d.mp4", None),
        ];
        let plan = Plan {
            actions: Vec::new(),
            roles: vec![
                Role::NotEligible {
                    reason: String::new(),
                    code: "not_hls",
                },
                Role::Primary { row: Some(10) },
                Role::Primary { row: Some(20) },
                Role::Primary { row: None },
            ],
            skipped: 0,
            active_before: 0,
        };
        let ids = NewIds(vec![0, 0, 0, 31]);
        let (links, unlinked) = new_links(&plan, &files, &ids, &HashSet::new());
        assert_eq!(links, vec![(2, 10), (4, 31)], "only new or changed links");
        assert_eq!(unlinked, vec![1], "a lets go of row 10");

        // A failed write keeps the file's old state: no new link, nobody unlinked for it.
        let failed: HashSet<&str> = ["A/b.mp4"].into_iter().collect();
        let (links, unlinked) = new_links(&plan, &files, &ids, &failed);
        assert_eq!(links, vec![(4, 31)]);
        assert!(unlinked.is_empty());
    }

    /// pokervod.db with one active row, archive.db, and `n` new Source files to insert (all
    /// of them eligible and in groups of their own).
    struct Fixture {
        _dir: tempfile::TempDir,
        target: std::path::PathBuf,
        archive: std::path::PathBuf,
        files: Vec<FileRecord>,
        rules: Rules,
    }

    fn fixture(n: usize) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("pokervod.db");
        let mut t = Target::open(&target, 1).expect("open Target");
        t.ensure_schema().expect("schema");
        t.conn()
            .execute(
                "INSERT INTO files (id, nas_path, filename, catalog, format, size_bytes,
                 hls_compatible, created_at, updated_at)
                 VALUES (1, 'OLD/a.mp4', 'a.mp4', 'OLD', 'mp4', 1, 1, 't', 't')",
                [],
            )
            .expect("owner's row");
        Fixture {
            target,
            archive: dir.path().join("archive.db"),
            files: (0..n)
                .map(|i| file(0, &format!("X/f{i:03}.mp4"), None))
                .collect(),
            rules: Rules::from_config(&Config::default()),
            _dir: dir,
        }
    }

    fn ctx<'a>(fx: &'a Fixture, plan: &'a Plan) -> ApplyContext<'a> {
        ApplyContext {
            plan,
            files: &fx.files,
            rules: &fx.rules,
            started: "2024-05-01T00:00:00Z",
            applied_at: "2024-05-01T00:00:01Z",
            forced: false,
            totals: SyncTotals::default(),
        }
    }

    fn count(db: &std::path::Path, sql: &str) -> i64 {
        rusqlite::Connection::open(db)
            .expect("open")
            .query_row(sql, [], |r| r.get(0))
            .expect("count")
    }

    fn assert_nothing_applied(err: &Error, code: rusqlite::ErrorCode) {
        assert_eq!(err.code(), "database", "{err}");
        assert!(err.to_string().contains("nothing was applied"), "{err}");
        assert!(
            matches!(err, Error::Sqlite { source, .. } if source.sqlite_error_code() == Some(code)),
            "expected {code:?}: {err:?}"
        );
    }

    #[test]
    fn a_full_disk_in_the_middle_of_the_target_transaction_applies_nothing() {
        let fx = fixture(300);
        let mut target = Target::open(&fx.target, 1).expect("open Target");
        // The owner audits inserts with a trigger, as production catalogs do. A statement that
        // fires a trigger has a statement journal, and SQLite then answers SQLITE_FULL by
        // undoing the statement alone and keeping the transaction open: nothing but the sync
        // itself stops the rest from committing.
        target
            .conn()
            .execute_batch(
                "CREATE TABLE audit (id INTEGER, nas_path TEXT);
                 CREATE TRIGGER files_audit AFTER INSERT ON files
                 BEGIN INSERT INTO audit VALUES (NEW.id, NEW.nas_path); END;",
            )
            .expect("owner's audit trigger");
        let before = target.load_rows().expect("rows");
        let pages: i64 = target
            .conn()
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .expect("page_count");
        // A real SQLITE_FULL, raised by SQLite in the middle of the INSERTs (not at the commit)
        // once the file would grow by more than one page: some rows fit, most do not.
        target
            .conn()
            .pragma_update(None, "max_page_count", pages + 1)
            .expect("max_page_count");
        let mut archive = Archive::open(&fx.archive).expect("archive.db");
        let plan = rules::plan(&fx.files, &before, &fx.rules);
        assert_eq!(
            (plan.count(Event::Added), plan.deletes()),
            (300, 1),
            "the plan inserts every file and deletes the owner's row"
        );
        let version = target.data_version().expect("data_version");
        let err = match apply_target(&mut target, &mut archive, &ctx(&fx, &plan), version) {
            Err(e) => e,
            Ok(applied) => panic!(
                "a full disk must end the sync; it reported {} row errors and committed the rest",
                applied.map_or(0, |a| a.errors.len())
            ),
        };
        assert_nothing_applied(&err, rusqlite::ErrorCode::DiskFull);
        assert!(
            target.conn().is_autocommit(),
            "the Target transaction was rolled back"
        );
        drop(target);
        assert_eq!(
            Target::read_rows(&fx.target, 1).expect("rows"),
            before,
            "pokervod.db is as it was"
        );
        assert_eq!(count(&fx.target, "SELECT COUNT(*) FROM audit"), 0);
        assert!(archive.pending_runs().expect("runs").is_empty());
        drop(archive);
        assert_eq!(count(&fx.archive, "SELECT COUNT(*) FROM sync_runs"), 0);
        assert_eq!(count(&fx.archive, "SELECT COUNT(*) FROM file_history"), 0);
        assert_eq!(count(&fx.archive, "SELECT COUNT(*) FROM links"), 0);
    }

    #[test]
    fn a_read_only_target_in_the_middle_of_the_transaction_is_fatal_not_a_row_error() {
        let fx = fixture(100);
        let target = Target::open_read_only(&fx.target, 1)
            .expect("open")
            .expect("exists");
        let rows = target.load_rows().expect("rows");
        let plan = rules::plan(&fx.files, &rows, &fx.rules);
        let mut ids = NewIds(vec![0; fx.files.len()]);
        let mut next = 1;
        for a in &plan.actions {
            if let Action::Insert { file } = a {
                next += 1;
                ids.0[*file] = next;
            }
        }
        // A deferred transaction begins on a read-only connection; its first write fails with
        // SQLITE_READONLY, as when the file or its folder turns read-only during a sync.
        let tx = target.conn().unchecked_transaction().expect("begin");
        match write_target(&tx, &ctx(&fx, &plan), &ids, 1) {
            Err(e) => assert_nothing_applied(&e, rusqlite::ErrorCode::ReadOnly),
            Ok(errors) => panic!(
                "SQLITE_READONLY was counted as {} row errors: {:?}",
                errors.len(),
                errors.first()
            ),
        }
    }
}
