//! The sync: scan, plan with [`crate::rules`], guard, and apply to the Target in one transaction.
//!
//! Crash safety: every Target write of a sync happens in a single `BEGIN IMMEDIATE` transaction,
//! so `kill -9` at any instant leaves pokervod.db either before or after the whole sync. Our own
//! bookkeeping in archive.db (links, history, the run's totals) is written after the Target
//! commits; if the process dies in between, the next run re-derives every link from the Target
//! (rule (a) finds rows by path) and converges to the same state.

pub mod reconcile;
pub mod rules;
pub mod scoped;

mod apply;
mod changes;
mod guards;
mod recovery;
mod report;

use apply::*;
use changes::*;
pub use guards::*;
use recovery::*;
pub use report::*;

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::archive::{Archive, FileRecord, HistoryEntry, SyncTotals};
use crate::clock::{Clock, iso};
use crate::config::Config;
use crate::error::{Error, Guard, Result, SqlContext};
use crate::scan::{self, ScanOptions, ScanReport};
use crate::target::Target;
use rules::{Action, Event, Hold, Plan, Rules};

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
    /// With `no_scan`: the directories a partial scan just walked, so the plan may cover only
    /// what changed ([`scoped`]); it covers everything when it cannot.
    pub scope: Option<Scope<'a>>,
}

/// What a watcher's partial scan walked, for a scoped plan.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// The directories (relative, `/` separators, none inside another).
    pub dirs: &'a [String],
    /// The journal batches the partial scan (and its probe) wrote: after the first number, up
    /// to the second ([`crate::archive::journal::last_seq`] before and after). Records they
    /// removed lie below `dirs`.
    pub own_batches: (i64, i64),
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
    if let Some(scope) = run.opts.scope.filter(|_| run.opts.no_scan) {
        let mut target = run.open_target(&mut archive)?;
        match run.plan_and_apply_scoped(&mut target, &mut archive, scope)? {
            Scoped::Applied(done) => {
                let (files, plan, applied, planned) = *done;
                return run.settle(target, archive, &plan, &files, applied, planned);
            }
            Scoped::Refused => return Ok(run.finish()),
            Scoped::Full(why) => {
                tracing::debug!(why, "scoped plan not possible; planning on everything");
            }
        }
    }
    let Some(files) = run.scan(&mut archive)? else {
        return Ok(run.finish());
    };
    let files = run.probe(&mut archive, files)?;
    let mut target = run.open_target(&mut archive)?;
    let Outcome::Applied(done) =
        run.plan_and_apply(&mut target, &mut archive, &files, RowsIn::All)?
    else {
        return Ok(run.finish());
    };
    let (plan, applied, seen) = *done;
    run.settle(target, archive, &plan, &files, applied, seen)
}

/// Where a plan's Target rows come from.
enum RowsIn {
    /// Every row, read now (planned again when another program commits meanwhile).
    All,
    /// The rows of a scoped closure ([`scoped::inputs`]), read at `data_version` `version`:
    /// one attempt (a commit by another program meanwhile ends the scoped plan).
    Scoped {
        rows: Vec<crate::target::TargetRow>,
        /// The base's Target digest and active rows (the Target still has its stamp).
        digest: u64,
        active: u64,
        journal_seq: i64,
        max_file_id: i64,
        version: i64,
    },
}

/// How a plan and its apply ended.
enum Outcome {
    Applied(Box<(Plan, Applied, Planned)>),
    /// A guard refused (the refusal is in the report).
    Refused,
    /// Another program committed to the Target while a scoped plan was made.
    Moved,
}

/// How a scoped plan ended.
enum Scoped {
    Applied(Box<(Vec<FileRecord>, Plan, Applied, Planned)>),
    Refused,
    /// Plan on everything instead, for this reason.
    Full(&'static str),
}

/// What the apply planned on: the Target's `data_version` and the digest of its rows then.
struct Planned {
    version: i64,
    digest: u64,
    /// The rows the apply wrote, and the digest of what they held before.
    touched: Vec<i64>,
    touched_before: u64,
    /// The last journal batch and the largest record id the plan's files include.
    journal_seq: i64,
    max_file_id: i64,
    /// Active Target rows before the apply.
    active_before: u64,
}

/// The match index's journal entry of an applied plan: the files of its inserts and updates,
/// and every Target row it wrote (the files that lost a row to another, and the files at the
/// rows' paths, the index finds from the rows).
fn journal_ids(plan: &Plan, files: &[FileRecord], ids: &NewIds) -> (Vec<i64>, Vec<i64>) {
    let (mut f, mut r) = (Vec::new(), Vec::new());
    for a in &plan.actions {
        match a {
            Action::Insert { file } => {
                f.push(files[*file].id);
                if let Some(&id) = ids.0.get(*file) {
                    r.push(id);
                }
            }
            Action::Update { row, file, .. } => {
                f.push(files[*file].id);
                r.push(*row);
            }
            Action::Delete { row, .. } => r.push(*row),
        }
    }
    (f, r)
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
    /// The files still being written, held back from the Target (set by the scan).
    hold: Hold,
    /// Every record in archive.db, when the plan's files are only a scoped closure.
    source_total: Option<u64>,
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
            hold: Hold::at(clock.now().timestamp(), cfg.settle_secs),
            source_total: None,
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
        empty_source_refusal(self.source_files(files), plan)
            .or_else(|| mass_delete_refusal(self.cfg, plan))
            .filter(|_| !self.opts.force.allows(plan.deletes()))
            .map(|r| self.opts.force.refused_again(r, plan.deletes()))
    }

    /// How many records the Source has: all of `files`, unless they are a scoped closure.
    fn source_files(&self, files: &[FileRecord]) -> u64 {
        self.source_total.unwrap_or(files.len() as u64)
    }

    /// Plan on a preview of the scan and the Target as it is; nothing is written.
    fn dry_run(mut self) -> Result<SyncReport> {
        let files = if self.opts.no_scan {
            let files = Archive::read_snapshot(&self.archive_path)?.0;
            self.hold_stale(&files)?;
            files
        } else {
            match scan::preview(self.cfg, self.clock, self.scan_opts()) {
                Ok(p) => {
                    let report = p.report();
                    self.hold_changing(&report);
                    self.report.scan = Some(report);
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
        let plan = rules::plan(&files, &rows, &self.rules, &self.hold);
        self.report.fill_counts(&plan);
        self.report.fill_held(&plan, &files, &self.hold);
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

    /// Without a scan, the records are as some earlier scan left them: one that was still being
    /// copied then, and has changed on the share since, must not be published with its old size.
    fn hold_stale(&mut self, files: &[FileRecord]) -> Result<()> {
        if let Some(root) = self.cfg.root.as_deref() {
            let never = AtomicBool::new(false);
            let stale = scan::changed_on_share(
                root,
                files,
                self.hold.now,
                self.cfg.settle_secs,
                (
                    Duration::from_secs(self.cfg.share_timeout_secs),
                    self.opts.cancel.unwrap_or(&never),
                ),
            )?;
            self.hold = std::mem::take(&mut self.hold).with_changing(stale);
        }
        Ok(())
    }

    /// Also hold the files the scan saw change while it ran.
    fn hold_changing(&mut self, scan: &ScanReport) {
        self.hold = std::mem::take(&mut self.hold).with_changing(scan.changing.iter().cloned());
    }

    /// Scan the share into archive.db (or take its records as they are with `no_scan`). `None`
    /// when a guard refused the scan (the refusal is in the report).
    fn scan(&mut self, archive: &mut Archive) -> Result<Option<Vec<FileRecord>>> {
        if self.opts.no_scan {
            let files = archive.load_files()?;
            self.hold_stale(&files)?;
            return Ok(Some(files));
        }
        match scan::run_scan(self.cfg, archive, self.clock, self.scan_opts()) {
            Ok((scan_report, files)) => {
                self.hold_changing(&scan_report);
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
        mut rows_in: RowsIn,
    ) -> Result<Outcome> {
        let mut attempt = 0;
        // What the plan's files include of archive.db (nothing else writes it: the sync lock).
        let (mut journal_seq, mut max_file_id) = (
            crate::archive::journal::last_seq(archive.conn())?,
            archive.max_file_id()?,
        );
        loop {
            attempt += 1;
            let (version, rows, digest, base_active) =
                match std::mem::replace(&mut rows_in, RowsIn::All) {
                    RowsIn::All => {
                        let version = target.data_version()?;
                        let rows = target.load_rows()?;
                        // The match index checks its copy of the Target against this.
                        let digest = crate::target::rows_digest(&rows);
                        (version, rows, digest, None)
                    }
                    RowsIn::Scoped {
                        rows,
                        digest,
                        active,
                        journal_seq: seq,
                        max_file_id: max,
                        version,
                    } => {
                        (journal_seq, max_file_id) = (seq, max);
                        // The Target has the base's stamp: its content is the base's.
                        (version, rows, digest, Some(active))
                    }
                };
            tracing::debug!(
                rows = rows.len(),
                elapsed_ms = self.timer.elapsed().as_millis() as u64,
                "Target loaded"
            );
            let mut plan = rules::plan(files, &rows, &self.rules, &self.hold);
            if let Some(active) = base_active {
                // Every active row outside the closure is claimed by the primary at its path,
                // and already right: skipped, as the full plan counts it.
                let inside = rows.iter().filter(|r| r.active).count() as u64;
                plan.skipped += active.saturating_sub(inside);
                plan.active_before = active;
            }
            tracing::debug!(
                actions = plan.actions.len(),
                elapsed_ms = self.timer.elapsed().as_millis() as u64,
                "planned"
            );
            self.report.fill_counts(&plan);
            self.report.fill_held(&plan, files, &self.hold);
            if let Some(refusal) = self.refusal(files, &plan) {
                tracing::error!("동기화 보류: {}", refusal.message);
                self.report.changes = list_changes(&plan, files, &NewIds::default());
                self.report.refused = Some(refusal);
                return Ok(Outcome::Refused);
            }
            if self.opts.force.is_forced()
                && (empty_source_refusal(self.source_files(files), &plan).is_some()
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
                Some(applied) => {
                    let (_, touched) = journal_ids(&plan, files, &applied.ids);
                    let touched_set: std::collections::HashSet<i64> =
                        touched.iter().copied().collect();
                    let touched_before = rows
                        .iter()
                        .filter(|r| touched_set.contains(&r.id))
                        .fold(0u64, |d, r| d.wrapping_add(r.content_hash()));
                    let planned = Planned {
                        version,
                        digest,
                        touched,
                        touched_before,
                        journal_seq,
                        max_file_id,
                        active_before: plan.active_before,
                    };
                    return Ok(Outcome::Applied(Box::new((plan, applied, planned))));
                }
                None if base_active.is_some() => return Ok(Outcome::Moved),
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

    /// Plan on the closure of what changed below `scope` since the last converged sync
    /// ([`scoped`]), and apply; [`Scoped::Full`] when that cannot be done.
    fn plan_and_apply_scoped(
        &mut self,
        target: &mut Target,
        archive: &mut Archive,
        scope: Scope<'_>,
    ) -> Result<Scoped> {
        let version = target.data_version()?;
        let inputs = match scoped::inputs(
            archive,
            target,
            &self.target_path,
            scope.dirs,
            scope.own_batches,
            &self.rules,
        )? {
            Ok(inputs) => inputs,
            Err(why) => return Ok(Scoped::Full(why)),
        };
        tracing::debug!(
            files = inputs.files.len(),
            rows = inputs.rows.len(),
            elapsed_ms = self.timer.elapsed().as_millis() as u64,
            "scoped closure read"
        );
        let files = inputs.files;
        self.source_total = Some(archive.file_count()?.max(0) as u64);
        self.hold_stale(&files)?;
        let rows_in = RowsIn::Scoped {
            rows: inputs.rows,
            digest: inputs.base.target_digest,
            active: inputs.base.target_active,
            journal_seq: inputs.journal_seq,
            max_file_id: inputs.max_file_id,
            version,
        };
        Ok(
            match self.plan_and_apply(target, archive, &files, rows_in)? {
                Outcome::Applied(done) => {
                    self.report.scoped = true;
                    let (plan, applied, planned) = *done;
                    Scoped::Applied(Box::new((files, plan, applied, planned)))
                }
                Outcome::Refused => Scoped::Refused,
                Outcome::Moved => {
                    self.source_total = None;
                    Scoped::Full("pokervod.db changed while planning")
                }
            },
        )
    }

    /// The converged state this sync leaves for the next scoped plan, when it can vouch for it:
    /// every planned write succeeded, the Target's stamp and content after the commit are
    /// exactly known (see [`SyncRun::target_seen`]), and not too many files were held.
    fn next_base(
        &self,
        plan: &Plan,
        files: &[FileRecord],
        planned: &Planned,
        seen: &crate::archive::journal::TargetSeen,
    ) -> Option<crate::archive::PlanBase> {
        if !self.report.errors.is_empty() {
            return None;
        }
        let (Some(stamp), Some(digest), Some(file)) =
            (seen.after.clone(), seen.digest_after, seen.file.clone())
        else {
            return None;
        };
        let (mut held, mut held_rows) = (Vec::new(), Vec::new());
        for (f, role) in files.iter().zip(&plan.roles) {
            if let rules::Role::Held { row } = role {
                held.push(f.id);
                held_rows.extend(*row);
            }
        }
        if held.len() > scoped::MAX_HELD_IN_BASE {
            return None;
        }
        let r = &self.report;
        Some(crate::archive::PlanBase {
            journal_seq: planned.journal_seq,
            own_seq: 0,
            max_file_id: planned.max_file_id,
            target_file: file,
            target_stamp: stamp,
            target_digest: digest,
            target_active: (planned.active_before + r.added + r.restored).saturating_sub(r.deleted),
            held,
            held_rows,
            rules: self.rules.key(),
        })
    }

    /// What the match index may take from this sync about the Target: the content the plan
    /// saw and the content right after the commit (digests), and the Target's stamp right
    /// after the commit, when they describe exactly that commit: nobody else committed since
    /// the plan (`data_version` did not move; our own commit does not move it), and for the
    /// stamp, the Target is not in WAL mode (the checkpoint that follows changes the file
    /// again, and two commits of one WAL generation can share a stamp).
    fn target_seen(
        &self,
        target: &Target,
        planned: &Planned,
    ) -> Result<crate::archive::journal::TargetSeen> {
        let stamp = crate::store::sqlite::file_stamp(&self.target_path);
        let quiet = target.data_version()? == planned.version;
        // The digest after the commit: the rows it wrote, read back.
        let digest_after = if !quiet {
            None
        } else if planned.touched.len() <= crate::archive::journal::MAX_IDS {
            let now = crate::target::rows_digest(&target.rows_by_ids(&planned.touched)?);
            Some(
                planned
                    .digest
                    .wrapping_sub(planned.touched_before)
                    .wrapping_add(now),
            )
        } else if !target.is_wal() && !stamp.wal {
            // A sync this large (a first one) already read every row: reading them again
            // costs a fraction of it, and leaves the next scoped plan a base to start from.
            Some(crate::target::rows_digest(&target.load_rows()?))
        } else {
            None
        };
        Ok(crate::archive::journal::TargetSeen {
            digest: planned.digest,
            digest_after,
            after: (quiet && !target.is_wal() && !stamp.wal).then_some(stamp.text),
            file: Some(crate::store::sqlite::file_identity(&self.target_path)),
        })
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
        planned: Planned,
    ) -> Result<SyncReport> {
        tracing::debug!(
            elapsed_ms = self.timer.elapsed().as_millis() as u64,
            "Target committed"
        );
        let target_seen = self.target_seen(&target, &planned)?;
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
        let (journal_files, journal_rows) = journal_ids(plan, files, &applied.ids);
        let base = self.next_base(plan, files, &planned, &target_seen);
        let journal = crate::archive::journal::Batch {
            files: &journal_files,
            rows: &journal_rows,
            target: Some(target_seen),
            rebuild: false,
        };
        let totals = self.report.totals();
        let link_write = if applied.links_staged {
            crate::archive::Links::Staged
        } else {
            crate::archive::Links::Write {
                links: &links,
                unlinked: &unlinked,
            }
        };
        archive.finish_run(
            applied.run_id,
            &totals,
            self.timer,
            &failed,
            link_write,
            &journal,
            base,
        )?;
        archive.record_sync_problems(
            applied.run_id,
            &iso(self.clock.now()),
            &self.report.errors,
        )?;
        archive.checkpoint_in_background();
        tracing::debug!(
            staged = applied.links_staged,
            elapsed_ms = self.timer.elapsed().as_millis() as u64,
            "links and run totals committed"
        );
        let r = &self.report;
        tracing::info!(
            "동기화 완료: 추가 {}, 변경 {}, 이동 {}, 복원 {}, 삭제 {}{}{} / sync applied",
            r.added,
            r.updated,
            r.moved,
            r.restored,
            r.deleted,
            if r.held == 0 {
                String::new()
            } else {
                format!(", 복사 중 보류 {}", r.held)
            },
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
            missing_scans: 0,
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
            held: 0,
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
        let plan = rules::plan(&fx.files, &before, &fx.rules, &Hold::none());
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
        let plan = rules::plan(&fx.files, &rows, &fx.rules, &Hold::none());
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
