//! The sync: scan, plan with [`crate::rules`], guard, and apply to the Target in one transaction.
//!
//! Crash safety: every Target write of a sync happens in a single `BEGIN IMMEDIATE` transaction,
//! so `kill -9` at any instant leaves pokervod.db either before or after the whole sync. Our own
//! bookkeeping in archive.db (links, history, the run's totals) is written after the Target
//! commits; if the process dies in between, the next run re-derives every link from the Target
//! (rule (a) finds rows by path) and converges to the same state.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rusqlite::params;
use serde::Serialize;

use crate::archive::{Archive, FileRecord, HistoryEntry, SyncTotals};
use crate::clock::{Clock, iso};
use crate::config::Config;
use crate::error::{Error, Guard, Result, SqlContext};
use crate::rules::{self, Action, Event, Plan, Rules};
use crate::scan::{self, ScanOptions, ScanReport};
use crate::target::{Target, TargetRow};

/// Options for one sync run.
#[derive(Default, Clone, Copy)]
pub struct SyncOptions<'a> {
    /// Report what would change; write to neither database.
    pub dry_run: bool,
    /// Apply even when the mass-delete guard trips.
    pub force: bool,
    /// Use archive.db as it is; do not scan the share first.
    pub no_scan: bool,
    pub progress: Option<&'a (dyn Fn(&scan::ScanProgress) + Sync)>,
    pub cancel: Option<&'a AtomicBool>,
}

/// Why a sync did not apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub guard: Guard,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncError {
    pub path: String,
    pub message: String,
}

/// One Target change, for reports (the full list is in `file_history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Default, Serialize)]
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
        let archive = Archive::open_read_only(&archive_path)?;
        let known = match &archive {
            Some(a) => a.load_files()?,
            None => Vec::new(),
        };
        let files = if opts.no_scan {
            known
        } else {
            let next_id = match &archive {
                Some(a) => a.next_scan_id()?,
                None => 1,
            };
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
        let rows = match Target::open_read_only(&target_path, cfg.busy_timeout_secs)? {
            Some(t) => t.load_rows()?,
            None => Vec::new(),
        };
        let plan = rules::plan(&files, &rows, &rules);
        report.fill_counts(&plan);
        report.changes = list_changes(&plan, &files, &HashMap::new());
        report.refused = mass_delete_refusal(cfg, &plan).filter(|_| !opts.force);
        report.duration_ms = timer.elapsed().as_millis() as u64;
        return Ok(report);
    }

    // Open the Target first: a bad path or schema should fail before we touch archive.db.
    let mut target = Target::open(&target_path, cfg.busy_timeout_secs)?;
    target.ensure_schema()?;
    target.prefer_wal();
    let mut archive = Archive::open(&archive_path)?;

    let files = if opts.no_scan {
        archive.load_files()?
    } else {
        match scan::run_scan(cfg, &mut archive, clock, scan_opts) {
            Ok((scan_report, files)) => {
                report.scan = Some(scan_report);
                files
            }
            Err(Error::Refused { guard, message }) => {
                tracing::error!(%message, "sync refused");
                report.refused = Some(Refusal { guard, message });
                report.duration_ms = timer.elapsed().as_millis() as u64;
                return Ok(report);
            }
            Err(e) => return Err(e),
        }
    };

    // Plan on a snapshot, then apply in one IMMEDIATE transaction. If another program committed
    // to the Target in between (data_version moved), plan again on fresh rows.
    let mut attempt = 0;
    let (plan, ids) = loop {
        attempt += 1;
        let version = target.data_version()?;
        let rows = target.load_rows()?;
        let plan = rules::plan(&files, &rows, &rules);
        report.fill_counts(&plan);
        if let Some(refusal) = mass_delete_refusal(cfg, &plan) {
            if !opts.force {
                tracing::error!(message = %refusal.message, "sync refused");
                report.changes = list_changes(&plan, &files, &HashMap::new());
                report.refused = Some(refusal);
                report.duration_ms = timer.elapsed().as_millis() as u64;
                return Ok(report);
            }
            tracing::warn!(
                deleted = plan.deletes(),
                "mass-delete guard overridden with --force"
            );
        }
        match apply_target(&mut target, &plan, &files, &rows, &rules, clock, version)? {
            Some((ids, errors)) => {
                report.errors = errors;
                break (plan, ids);
            }
            None if attempt < 5 => {
                tracing::info!("pokervod.db changed while planning; planning again");
                continue;
            }
            None => {
                return Err(Error::TargetBusy {
                    secs: cfg.busy_timeout_secs,
                });
            }
        }
    };
    // Rows whose write failed are not counted as applied.
    if !report.errors.is_empty() {
        let failed: std::collections::HashSet<&str> =
            report.errors.iter().map(|e| e.path.as_str()).collect();
        let mut applied = plan.clone();
        applied
            .actions
            .retain(|a| !failed.contains(action_path(a, &files)));
        report.fill_counts(&applied);
    }
    report.changes = list_changes(&plan, &files, &ids);

    record(
        &mut archive,
        &plan,
        &files,
        &ids,
        &report,
        started,
        clock,
        opts.force,
    )?;
    report.duration_ms = timer.elapsed().as_millis() as u64;
    tracing::info!(
        added = report.added,
        updated = report.updated,
        moved = report.moved,
        restored = report.restored,
        deleted = report.deleted,
        errors = report.errors.len(),
        "sync applied"
    );
    Ok(report)
}

fn action_path<'a>(a: &'a Action, files: &'a [FileRecord]) -> &'a str {
    match a {
        Action::Insert { file } | Action::Update { file, .. } => &files[*file].path,
        Action::Delete { path, .. } => path,
    }
}

fn list_changes(plan: &Plan, files: &[FileRecord], ids: &HashMap<usize, i64>) -> Vec<Change> {
    plan.actions
        .iter()
        .take(MAX_LISTED_CHANGES)
        .map(|a| match a {
            Action::Insert { file } => Change {
                event: Event::Added.as_str(),
                path: files[*file].path.clone(),
                old_path: None,
                target_id: ids.get(file).copied(),
            },
            Action::Update {
                row,
                file,
                event,
                old_path,
            } => Change {
                event: event.as_str(),
                path: files[*file].path.clone(),
                old_path: (old_path != &files[*file].path).then(|| old_path.clone()),
                target_id: Some(*row),
            },
            Action::Delete { row, path, .. } => Change {
                event: Event::Deleted.as_str(),
                path: path.clone(),
                old_path: None,
                target_id: Some(*row),
            },
        })
        .collect()
}

type Applied = (HashMap<usize, i64>, Vec<SyncError>);

/// Apply the plan in one transaction. `Ok(None)`: the Target changed since `version`; re-plan.
fn apply_target(
    target: &mut Target,
    plan: &Plan,
    files: &[FileRecord],
    rows: &[TargetRow],
    rules: &Rules,
    clock: &dyn Clock,
    version: i64,
) -> Result<Option<Applied>> {
    let mut inserted: HashMap<usize, i64> = HashMap::new();
    let mut errors: Vec<SyncError> = Vec::new();
    if plan.actions.is_empty() {
        return Ok(Some((inserted, errors)));
    }
    let now = iso(clock.now());
    let row_by_id: HashMap<i64, &TargetRow> = rows.iter().map(|r| (r.id, r)).collect();
    let tx = target.begin_immediate()?;
    let current: i64 = tx
        .pragma_query_value(None, "data_version", |r| r.get(0))
        .ctx("pokervod.db data_version")?;
    if current != version {
        return Ok(None);
    }
    {
        let mut upd = tx
            .prepare(
                "UPDATE files SET nas_path = ?2, filename = ?3, catalog = ?4, format = ?5,
                 size_bytes = ?6, hls_compatible = ?7, status = 'active', deleted_at = NULL,
                 updated_at = ?8 WHERE id = ?1",
            )
            .ctx("prepare Target update")?;
        let mut del = tx
            .prepare(
                "UPDATE files SET status = 'deleted', deleted_at = ?2, updated_at = ?2
                 WHERE id = ?1 AND status = 'active'",
            )
            .ctx("prepare Target delete")?;
        let mut ins = tx
            .prepare(
                "INSERT INTO files (nas_path, filename, catalog, format, size_bytes, hls_compatible,
                 status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?7)",
            )
            .ctx("prepare Target insert")?;
        for a in &plan.actions {
            let res = match a {
                Action::Update { row, file, .. } => {
                    let d = rules::desired(&files[*file], rules);
                    debug_assert!(row_by_id.contains_key(row));
                    upd.execute(params![
                        row,
                        d.nas_path,
                        d.filename,
                        d.catalog,
                        d.format,
                        d.size_bytes,
                        d.hls_compatible,
                        now
                    ])
                    .map(|_| ())
                }
                Action::Delete { row, .. } => del.execute(params![row, now]).map(|_| ()),
                Action::Insert { file } => {
                    let d = rules::desired(&files[*file], rules);
                    ins.execute(params![
                        d.nas_path,
                        d.filename,
                        d.catalog,
                        d.format,
                        d.size_bytes,
                        d.hls_compatible,
                        now
                    ])
                    .map(|_| {
                        inserted.insert(*file, tx.last_insert_rowid());
                    })
                }
            };
            if let Err(e) = res {
                if crate::target::is_busy(&e) {
                    return Err(Error::TargetBusy {
                        secs: target_busy_secs(&tx),
                    });
                }
                // A failed statement is rolled back on its own; the rest of the sync goes on.
                errors.push(SyncError {
                    path: action_path(a, files).to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
    tx.commit().map_err(|e| {
        if crate::target::is_busy(&e) {
            Error::TargetBusy { secs: 0 }
        } else {
            Error::Sqlite {
                context: "commit pokervod.db".into(),
                source: e,
            }
        }
    })?;
    Ok(Some((inserted, errors)))
}

fn target_busy_secs(tx: &rusqlite::Transaction<'_>) -> u64 {
    tx.pragma_query_value(None, "busy_timeout", |r| r.get::<_, i64>(0))
        .map(|ms| (ms / 1000) as u64)
        .unwrap_or(0)
}

/// Write links, history and the run's totals to archive.db (after the Target committed).
#[allow(clippy::too_many_arguments)]
fn record(
    archive: &mut Archive,
    plan: &Plan,
    files: &[FileRecord],
    inserted: &HashMap<usize, i64>,
    report: &SyncReport,
    started: chrono::DateTime<chrono::Utc>,
    clock: &dyn Clock,
    forced: bool,
) -> Result<()> {
    let finished = clock.now();
    let time = iso(finished);
    let failed: std::collections::HashSet<&str> =
        report.errors.iter().map(|e| e.path.as_str()).collect();
    let sync_id = archive.insert_sync_run(
        &iso(started),
        &time,
        if report.errors.is_empty() {
            "ok"
        } else {
            "partial"
        },
        forced,
        &report.totals(),
        report.duration_ms,
        None,
    )?;
    let tx = archive.conn_mut().transaction().ctx("record sync")?;
    // Links: every primary to the row it holds now.
    for (i, role) in plan.roles.iter().enumerate() {
        let row = match role {
            rules::Role::Primary { row: Some(r) } => Some(*r),
            rules::Role::Primary { row: None } => inserted.get(&i).copied(),
            _ => None,
        };
        if let Some(row) = row {
            if files[i].id > 0 && files[i].target_id != Some(row) {
                Archive::link(&tx, files[i].id, row)?;
            }
        }
    }
    for a in &plan.actions {
        if failed.contains(action_path(a, files)) {
            continue;
        }
        let h = match a {
            Action::Insert { file } => HistoryEntry {
                event: Event::Added.as_str(),
                path: files[*file].path.clone(),
                old_path: None,
                catalog: files[*file].catalog().to_string(),
                target_id: inserted.get(file).copied(),
                file_id: Some(files[*file].id),
            },
            Action::Update {
                row,
                file,
                event,
                old_path,
            } => HistoryEntry {
                event: event.as_str(),
                path: files[*file].path.clone(),
                old_path: (old_path != &files[*file].path).then(|| old_path.clone()),
                catalog: files[*file].catalog().to_string(),
                target_id: Some(*row),
                file_id: Some(files[*file].id),
            },
            Action::Delete { row, path, catalog } => HistoryEntry {
                event: Event::Deleted.as_str(),
                path: path.clone(),
                old_path: None,
                catalog: catalog.clone(),
                target_id: Some(*row),
                file_id: None,
            },
        };
        Archive::insert_history(&tx, Some(sync_id), &time, &h)?;
    }
    tx.commit().ctx("commit sync record")?;
    Ok(())
}
