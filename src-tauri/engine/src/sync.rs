//! The sync: scan, plan with [`crate::rules`], guard, and apply to the Target in one transaction.
//!
//! Crash safety: every Target write of a sync happens in a single `BEGIN IMMEDIATE` transaction,
//! so `kill -9` at any instant leaves pokervod.db either before or after the whole sync. Our own
//! bookkeeping in archive.db (links, history, the run's totals) is written after the Target
//! commits; if the process dies in between, the next run re-derives every link from the Target
//! (rule (a) finds rows by path) and converges to the same state.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::archive::{Archive, FileRecord, HistoryEntry, SyncTotals};
use crate::clock::{Clock, iso};
use crate::config::Config;
use crate::error::{Error, Guard, Result, SqlContext};
use crate::rules::{self, Action, Event, Plan, Rules};
use crate::scan::{self, ScanOptions, ScanReport};
use crate::target::Target;

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

/// Run one sync: scan (unless `no_scan`), plan, guard, apply.
pub fn run_sync(cfg: &Config, clock: &dyn Clock, opts: SyncOptions<'_>) -> Result<SyncReport> {
    let timer = Instant::now();
    let started = clock.now();
    let target_path = cfg.require_target_db()?.to_path_buf();
    let archive_path = cfg.archive_db_path()?;
    let rules = Rules::from_config(cfg);
    let scan_opts = ScanOptions {
        dry_run: opts.dry_run,
        progress: opts.progress,
        cancel: opts.cancel,
    };
    let mut report = SyncReport {
        dry_run: opts.dry_run,
        ..SyncReport::default()
    };

    if opts.dry_run {
        let (known, next_id) = Archive::read_snapshot(&archive_path)?;
        let files = if opts.no_scan {
            known
        } else {
            match scan::scan_diff(cfg, &known, clock, scan_opts) {
                Ok(outcome) => {
                    let files = scan::apply_in_memory(known, &outcome.diff, next_id);
                    report.scan = Some(outcome.report(None, true));
                    files
                }
                Err(Error::Refused { guard, message }) => {
                    report.refused = Some(Refusal { guard, message });
                    report.duration_ms = timer.elapsed().as_millis() as u64;
                    return Ok(report);
                }
                Err(e) => return Err(e),
            }
        };
        let rows = Target::read_rows(&target_path, cfg.busy_timeout_secs)?;
        let plan = rules::plan(&files, &rows, &rules);
        report.fill_counts(&plan);
        report.changes = list_changes(&plan, &files, &NewIds::default());
        report.refused = empty_source_refusal(&files, &plan)
            .or_else(|| mass_delete_refusal(cfg, &plan))
            .filter(|_| !opts.force.allows(plan.deletes()))
            .map(|r| opts.force.refused_again(r, plan.deletes()));
        report.duration_ms = timer.elapsed().as_millis() as u64;
        return Ok(report);
    }

    // One sync at a time per archive.db: a second one would take the first's write-ahead run
    // for a crashed one.
    let _lock = crate::archive::SyncLock::acquire(&archive_path, cfg.busy_timeout_secs)?;
    // Check the Target read-only first: a bad path or schema fails before we touch archive.db,
    // and nothing is written to pokervod.db before the share passed the offline guards.
    Target::check_path(&target_path)?;
    let existing = Target::open_read_only(&target_path, cfg.busy_timeout_secs)?;
    if let Some(t) = &existing {
        t.check_schema()?;
    }
    let mut archive = Archive::open(&archive_path)?;
    // A run that died between its archive.db write-ahead record and its end is settled first,
    // against the Target as it is now (before the scan, so its links are in the snapshot).
    settle_pending_runs(&mut archive, existing.as_ref())?;
    drop(existing);

    let files = if opts.no_scan {
        archive.load_files()?
    } else {
        match scan::run_scan(cfg, &mut archive, clock, scan_opts) {
            Ok((scan_report, files)) => {
                report.scan = Some(scan_report);
                files
            }
            Err(Error::Refused { guard, message }) => {
                tracing::error!("동기화 보류: {message}");
                report.refused = Some(Refusal { guard, message });
                report.duration_ms = timer.elapsed().as_millis() as u64;
                return Ok(report);
            }
            Err(e) => return Err(e),
        }
    };

    // Probe new and modified video files (bounded by a time budget) so their first Target row
    // already carries codec, resolution and duration; the rest follow with the next sync.
    let files = if cfg.probe_media && cfg.probe_budget_secs > 0 && !opts.no_scan {
        let stats = crate::probe::probe_pending(
            &mut archive,
            cfg,
            opts.cancel,
            Some(std::time::Duration::from_secs(cfg.probe_budget_secs)),
        )?;
        report.probe = Some(stats);
        archive.load_files()?
    } else {
        files
    };
    // A cancel during the scan's probe stops the sync here, before anything is applied.
    if opts
        .cancel
        .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    {
        return Err(Error::Cancelled);
    }

    let mut target = Target::open(&target_path, cfg.busy_timeout_secs)?;
    target.ensure_schema()?;
    target.prefer_wal();
    archive.use_large_cache()?;
    archive.defer_checkpoints()?;

    // Plan on a snapshot, then apply in one IMMEDIATE transaction. If another program committed
    // to the Target in between (data_version moved), plan again on fresh rows.
    let mut attempt = 0;
    let (plan, applied) = loop {
        attempt += 1;
        let version = target.data_version()?;
        let rows = target.load_rows()?;
        tracing::debug!(
            rows = rows.len(),
            elapsed_ms = timer.elapsed().as_millis() as u64,
            "Target loaded"
        );
        let plan = rules::plan(&files, &rows, &rules);
        tracing::debug!(
            actions = plan.actions.len(),
            elapsed_ms = timer.elapsed().as_millis() as u64,
            "planned"
        );
        report.fill_counts(&plan);
        if let Some(refusal) =
            empty_source_refusal(&files, &plan).or_else(|| mass_delete_refusal(cfg, &plan))
        {
            if !opts.force.allows(plan.deletes()) {
                let refusal = opts.force.refused_again(refusal, plan.deletes());
                tracing::error!("동기화 보류: {}", refusal.message);
                report.changes = list_changes(&plan, &files, &NewIds::default());
                report.refused = Some(refusal);
                report.duration_ms = timer.elapsed().as_millis() as u64;
                return Ok(report);
            }
            tracing::warn!(
                "대량 삭제 방지를 무시하고 강제 적용합니다: 삭제 {} / mass-delete guard overridden with --force",
                plan.deletes()
            );
        }
        let ctx = ApplyContext {
            plan: &plan,
            files: &files,
            rules: &rules,
            started: &iso(started),
            applied_at: &iso(clock.now()),
            forced: opts.force.is_forced(),
            totals: report.totals(),
        };
        match apply_target(&mut target, &mut archive, &ctx, version)? {
            Some(applied) => break (plan, applied),
            None if attempt < 5 => {
                tracing::info!(
                    "계획 중에 pokervod.db가 바뀌어 다시 계획합니다 / pokervod.db changed while planning; planning again"
                );
                continue;
            }
            None => {
                return Err(Error::TargetBusy {
                    secs: cfg.busy_timeout_secs,
                });
            }
        }
    };
    tracing::debug!(
        elapsed_ms = timer.elapsed().as_millis() as u64,
        "Target committed"
    );
    report.errors = applied.errors;
    // Rows whose write failed are not counted as applied.
    let failed_paths: Vec<String> = report.errors.iter().map(|e| e.path.clone()).collect();
    let failed: HashSet<&str> = failed_paths.iter().map(String::as_str).collect();
    if !failed.is_empty() {
        let mut ok = plan.clone();
        ok.actions
            .retain(|a| !failed.contains(action_path(a, &files)));
        report.fill_counts(&ok);
    }
    report.changes = list_changes(&plan, &files, &applied.ids);

    // The rows are committed and visible; copying the WAL into pokervod.db is not on the
    // sync's path.
    target.checkpoint_in_background();
    let (links, unlinked) = if applied.links_staged {
        (Vec::new(), Vec::new())
    } else {
        new_links(&plan, &files, &applied.ids, &failed)
    };
    let failed: Vec<&str> = failed.into_iter().collect();
    let totals = report.totals();
    let link_write = if applied.links_staged {
        crate::archive::Links::Staged
    } else {
        crate::archive::Links::Write {
            links: &links,
            unlinked: &unlinked,
        }
    };
    archive.finish_run(applied.run_id, &totals, timer, &failed, link_write)?;
    archive.checkpoint_in_background();
    // The whole call, links included (`sync_runs.duration_ms` misses only the last commit).
    report.duration_ms = timer.elapsed().as_millis() as u64;
    tracing::debug!(
        staged = applied.links_staged,
        elapsed_ms = report.duration_ms,
        "links and run totals committed"
    );
    tracing::info!(
        "동기화 완료: 추가 {}, 변경 {}, 이동 {}, 복원 {}, 삭제 {}{} / sync applied",
        report.added,
        report.updated,
        report.moved,
        report.restored,
        report.deleted,
        if report.errors.is_empty() {
            String::new()
        } else {
            format!(", 오류 {}", report.errors.len())
        }
    );
    Ok(report)
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
    // No history, no Target commit: dropping `tx` rolls the Target back.
    let (run_id, mut links_staged) = history;
    let run_id = run_id?;
    // Links staged for rows that then failed would be wrong: they are written after the
    // commit instead, from what was applied.
    if links_staged && !written.as_ref().is_ok_and(|errors| errors.is_empty()) {
        archive.unstage_links();
        links_staged = false;
    }
    let committed = written.and_then(|errors| {
        tx.commit().map(|()| errors).map_err(|e| {
            if crate::target::is_busy(&e) {
                Error::TargetBusy { secs: busy_secs }
            } else {
                Error::Sqlite {
                    context: "commit pokervod.db".into(),
                    source: e,
                }
            }
        })
    });
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

/// The plan's writes inside the open Target transaction; returns the rows that failed on their
/// own (the rest of the sync goes on without them).
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
            "UPDATE files SET nas_path = ?2, filename = ?3, catalog = ?4, format = ?5,
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
            "UPDATE files SET status = 'deleted', deleted_at = ?2, updated_at = ?2
             WHERE id = ?1 AND status = 'active'",
        )
        .ctx("prepare Target delete")?;
    let mut ins = tx
        .prepare_cached(
            "INSERT INTO files (id, nas_path, filename, catalog, format, size_bytes,
             hls_compatible, status, created_at, updated_at, codec, width, height, duration_sec)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, ?8, ?9, ?10, ?11, ?12)",
        )
        .ctx("prepare Target insert")?;
    // Classify a failed statement: stop the sync, or note the row and go on.
    let failure = |e: rusqlite::Error, path: &str, errors: &mut Vec<SyncError>| -> Result<()> {
        if crate::target::is_busy(&e) {
            return Err(Error::TargetBusy { secs: busy_secs });
        }
        // Some errors (a trigger's RAISE(ROLLBACK), disk full, I/O) end the whole
        // transaction: stop at once, or later statements would commit one by one.
        if tx.is_autocommit() {
            return Err(Error::Sqlite {
                context: format!("pokervod.db rolled back the sync at {path}; nothing was applied"),
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
            Ok(_) => Ok(()),
            Err(e) => failure(e, &f.path, errors),
        }
    };
    let mut multi: Option<rusqlite::CachedStatement<'_>> = None;
    let mut batch: Vec<usize> = Vec::with_capacity(INSERT_ROWS_PER_STATEMENT);
    // Inserts go INSERT_ROWS_PER_STATEMENT rows to a statement. If one of them fails, SQLite
    // undoes that statement alone, and its rows are replayed one by one so that only the bad
    // row is reported.
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
            Ok(_) => {}
            Err(e) => {
                if crate::target::is_busy(&e) {
                    return Err(Error::TargetBusy { secs: busy_secs });
                }
                if tx.is_autocommit() {
                    return failure(e, &files[batch[0]].path, errors);
                }
                for &file in batch.iter() {
                    insert_one(file, errors)?;
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
        if let Err(e) = res {
            failure(e, action_path(a, files), &mut errors)?;
        }
    }
    flush(&mut batch, &mut errors)?;
    Ok(errors)
}

/// Target rows per INSERT statement (11 parameters a row plus the shared time).
const INSERT_ROWS_PER_STATEMENT: usize = 64;

/// `INSERT INTO files … VALUES (…), (…), …` for `rows` rows; ?1 is the time shared by all.
fn multi_insert_sql(rows: usize) -> String {
    crate::archive::values_sql(
        "INSERT INTO files (id, nas_path, filename, catalog, format, size_bytes,
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
}
