//! The scanner: walks the share into archive.db.
//!
//! Phases: **walk** (every directory a unit of work for `scan_workers` threads, metadata from
//! the listing, symlinks never followed, a hung share abandoned after `share_timeout_secs`) → **guards** (offline share, marker file, empty scan) → **diff** against archive.db
//! (added / removed / modified / moved) → **commit** in one transaction at the end. A scan that is
//! killed or cancelled before the commit leaves archive.db exactly as it was; a scan that finds no
//! change writes no file rows.
//!
//! A **partial scan** ([`run_partial_scan`], the watcher's) walks only the directories the
//! file-system events named and compares only the records below them; everything else in
//! archive.db stays as it is until the next full scan. The same guards apply to the root, and a
//! scope that cannot be walked on its own falls back to a full scan.

pub mod fingerprint;

mod commit;
mod diff;
mod list;
mod partial;
mod recheck;
mod walk;

use commit::*;
use diff::*;
pub use fingerprint::fingerprint_pending;
pub use partial::*;
pub use recheck::changed_on_share;
#[doc(hidden)]
pub use walk::fault;
pub(crate) use walk::on_share;
use walk::*;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, UNIX_EPOCH};

use rusqlite::params;
use serde::Serialize;

use crate::archive::{Archive, FileRecord, Media};
use crate::clock::{Clock, iso};
use crate::config::Config;
use crate::error::{Error, Guard, Result, SqlContext};
use crate::fingerprint::fingerprint;
use crate::names::{self, IgnoreSet, Kind};

/// A regular file as listed on the share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalkedFile {
    pub path: String,
    pub size: i64,
    pub mtime: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A directory could not be listed; its known files are kept.
    UnreadableDir,
    /// A file's metadata could not be read; it is skipped (a known file is kept).
    UnreadableFile,
    /// A name that is not valid UTF-8; skipped (with everything below it, for a directory).
    InvalidName,
}

/// A warning from a scan: the scan went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ScanIssue {
    pub path: String,
    pub kind: IssueKind,
    pub message: String,
}

/// Progress of a running walk.
#[derive(Debug, Clone, Serialize)]
pub struct ScanProgress {
    pub dirs: u64,
    pub files: u64,
    pub current_dir: String,
    pub elapsed_ms: u64,
    pub files_per_sec: f64,
}

/// How to run a scan. `Default` = commit, no progress, not cancellable.
#[derive(Default, Clone, Copy)]
pub struct ScanOptions<'a> {
    /// Compute the diff but write nothing.
    pub dry_run: bool,
    /// Called about five times a second from the calling thread while the walk runs.
    pub progress: Option<&'a (dyn Fn(&ScanProgress) + Sync)>,
    /// Set to true to stop the scan; nothing is committed.
    pub cancel: Option<&'a AtomicBool>,
}

/// What a walk of the share found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Sorted by path (byte order).
    pub files: Vec<WalkedFile>,
    pub dirs_seen: u64,
    pub issues: Vec<ScanIssue>,
    /// Relative paths of directories that could not be listed.
    pub unreadable_dirs: HashSet<String>,
    pub top_level_dirs: usize,
    pub top_level_unreadable: usize,
}

/// The difference between archive.db and the share.
#[derive(Debug, Default)]
pub struct ScanDiff {
    pub added: Vec<WalkedFile>,
    pub removed: Vec<FileRecord>,
    /// (stored record, file as it is now)
    pub modified: Vec<(FileRecord, WalkedFile)>,
    /// (stored record at its old path, file at its new path)
    pub moved: Vec<(FileRecord, WalkedFile)>,
    pub unchanged: usize,
    /// Known files not seen because their directory could not be read: kept as they were.
    pub kept_unreadable: usize,
    /// Known files missing from the share but kept, waiting for more scans to miss them
    /// (`delete_after_missing_scans`); their count goes up by one.
    pub waiting: Vec<FileRecord>,
    /// Ids of known files seen again after scans that missed them; their count goes to 0.
    pub reset: Vec<i64>,
}

impl ScanDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.modified.is_empty()
            && self.moved.is_empty()
    }
}

/// The outcome of a scan.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ScanReport {
    /// The scan's id in archive.db (`None` for a dry run or when nothing was committed).
    pub scan_id: Option<i64>,
    pub dry_run: bool,
    pub files_seen: u64,
    pub dirs_seen: u64,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub moved: u64,
    pub unchanged: u64,
    pub kept_unreadable: u64,
    /// Files missing from the share whose records are kept until `delete_after_missing_scans`
    /// consecutive scans missed them (still synced; 0 with the default of 1).
    pub pending_delete: u64,
    pub warnings: Vec<ScanIssue>,
    pub duration_ms: u64,
    /// The directories a partial scan walked (absent for a full scan).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub scope: Option<Vec<String>>,
    /// New or changed files whose size or mtime moved while the scan ran (still being
    /// written): the sync holds them back. Not part of the report's JSON.
    #[serde(skip)]
    #[ts(skip)]
    #[schemars(skip)]
    pub changing: Vec<String>,
}

/// Walk + guards + diff, without writing anything.
pub struct ScanOutcome {
    pub walk: Walk,
    pub diff: ScanDiff,
    pub started: chrono::DateTime<chrono::Utc>,
    pub timer: Instant,
}

/// What archive.db would hold after a scan, computed without writing anything: the scan of the
/// share against the known records, and those records with its diff applied in memory. The one
/// dry-run preview of `scan --dry-run`, `sync --dry-run` and reconcile.
pub struct Preview {
    pub outcome: ScanOutcome,
    /// archive.db's records after the diff (new ones with provisional ids).
    pub files: Vec<FileRecord>,
    /// How many records archive.db held before.
    pub known: usize,
}

impl Preview {
    /// The scan's report as a dry run (nothing committed).
    pub fn report(&self) -> ScanReport {
        self.outcome.report(None, true)
    }
}

/// [`Preview`] from a snapshot of archive.db (read without taking the sync lock).
pub fn preview(cfg: &Config, clock: &dyn Clock, opts: ScanOptions<'_>) -> Result<Preview> {
    let (known, next_id) = Archive::read_snapshot(&cfg.archive_db_path()?)?;
    preview_of(known, next_id, cfg, clock, opts)
}

/// [`Preview`] of `known` records; `next_id` is the scan id new records get in memory.
pub fn preview_of(
    known: Vec<FileRecord>,
    next_id: i64,
    cfg: &Config,
    clock: &dyn Clock,
    opts: ScanOptions<'_>,
) -> Result<Preview> {
    let outcome = scan_diff(cfg, &known, clock, opts)?;
    let n = known.len();
    let files = apply_in_memory(known, &outcome.diff, next_id);
    Ok(Preview {
        outcome,
        files,
        known: n,
    })
}

fn offline(message: String) -> Error {
    Error::Refused {
        guard: Guard::Offline,
        message,
    }
}

/// Walk the share and diff it against `known`. Applies the offline guards; writes nothing.
pub fn scan_diff(
    cfg: &Config,
    known: &[FileRecord],
    clock: &dyn Clock,
    opts: ScanOptions<'_>,
) -> Result<ScanOutcome> {
    let started = clock.now();
    let timer = Instant::now();
    let root = cfg.require_root()?;
    let walk = walk_guarded(cfg, known.len(), opts)?;
    let never = AtomicBool::new(false);
    let d = diff_idx(
        root,
        known,
        &walk,
        opts.cancel.unwrap_or(&never),
        cfg.delete_after_missing_scans,
    )?;
    let diff = d.to_diff(known, &walk.files);
    Ok(ScanOutcome {
        walk,
        diff,
        started,
        timer,
    })
}

/// The walk behind the offline guards (root missing or not a directory, marker missing, every
/// top-level directory unreadable, no files while archive.db has `known_len`).
fn walk_guarded(cfg: &Config, known_len: usize, opts: ScanOptions<'_>) -> Result<Walk> {
    let root = cfg.require_root()?;
    let ignore = Arc::new(IgnoreSet::new(&cfg.ignore)?);
    let never = AtomicBool::new(false);
    let cancel = opts.cancel.unwrap_or(&never);
    let ctl = WalkCtl::new(cfg, &opts, cancel);
    check_share(cfg, root, &ctl)?;

    let t = Instant::now();
    let walk = walk(root, ignore, &ctl)?;
    tracing::debug!(
        files = walk.files.len(),
        dirs = walk.dirs_seen,
        ms = t.elapsed().as_millis() as u64,
        "scan: walked"
    );

    if walk.top_level_dirs > 0 && walk.top_level_unreadable == walk.top_level_dirs {
        return Err(offline(format!(
            "NAS의 모든 최상위 폴더를 읽을 수 없습니다 / none of the {} top-level directories of {} could be read: the share may be offline or access was revoked. Nothing was changed.",
            walk.top_level_dirs,
            root.display()
        )));
    }
    if walk.files.is_empty() && known_len > 0 {
        return Err(offline(format!(
            "NAS에서 파일을 하나도 찾지 못했습니다 / the scan found no files in {} but archive.db has {}: the share may be offline or unmounted. Nothing was changed.",
            root.display(),
            known_len
        )));
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    Ok(walk)
}

/// The guards before any walk, whole or partial: the root is a reachable directory and the
/// marker file (if configured) is in it. The calls run on a thread the caller can abandon: a
/// share that does not answer within `share_timeout_secs` fails with [`Error::ShareTimeout`].
fn check_share(cfg: &Config, root: &Path, ctl: &WalkCtl<'_>) -> Result<()> {
    enum Found {
        Dir { marker: bool },
        NotDir,
        Unreachable(std::io::Error),
    }
    let (root_buf, marker) = (root.to_path_buf(), cfg.marker_file.clone());
    let found = on_share(
        format!("폴더 정보 {}", root.display()),
        ctl.timeout,
        ctl.cancel,
        move || {
            fault::before(&root_buf);
            match fs::metadata(&root_buf) {
                Ok(m) if m.is_dir() => Found::Dir {
                    marker: marker
                        .as_ref()
                        .is_none_or(|mk| crate::names::join_rel(&root_buf, mk).is_file()),
                },
                Ok(_) => Found::NotDir,
                Err(e) => Found::Unreachable(e),
            }
        },
    )?;
    match found {
        Found::Dir { marker: true } => Ok(()),
        Found::NotDir => Err(offline(format!(
            "NAS 경로가 폴더가 아닙니다 / the archive root is not a directory: {}. Nothing was changed; check `root`.",
            root.display()
        ))),
        Found::Unreachable(e) => Err(offline(format!(
            "NAS 공유 폴더에 접근할 수 없습니다 / the archive root is not reachable: {}: {e}. Nothing was changed; check that the share is mounted and online.",
            root.display()
        ))),
        Found::Dir { marker: false } => Err(offline(format!(
            "NAS 확인 파일이 없습니다 / the marker file `{}` is missing in {}: the share may be offline or a different folder is mounted. Nothing was changed.",
            cfg.marker_file.as_deref().unwrap_or_default(),
            root.display()
        ))),
    }
}

/// Run a scan against archive.db: walk, guard, diff and (unless a dry run) commit atomically.
/// Returns the report and the Source files as they are after the scan (in memory for a dry run).
pub fn run_scan(
    cfg: &Config,
    archive: &mut Archive,
    clock: &dyn Clock,
    opts: ScanOptions<'_>,
) -> Result<(ScanReport, Vec<FileRecord>)> {
    // Changes committed by another connection (a probe pass, a sync's links) bump data_version;
    // if it moves while we scan, the records are read back instead of derived in memory.
    let version_before = archive.data_version()?;
    let t = Instant::now();
    let known = archive.load_files()?;
    tracing::debug!(
        files = known.len(),
        ms = t.elapsed().as_millis() as u64,
        "scan: archive.db loaded"
    );
    if opts.dry_run {
        let next_id = archive.next_scan_id()?;
        let p = preview_of(known, next_id, cfg, clock, opts)?;
        return Ok((p.report(), p.files));
    }
    let started = clock.now();
    let timer = Instant::now();
    let root = cfg.require_root()?;
    let mut walk = walk_guarded(cfg, known.len(), opts)?;
    let never = AtomicBool::new(false);
    let t = Instant::now();
    let d = diff_idx(
        root,
        &known,
        &walk,
        opts.cancel.unwrap_or(&never),
        cfg.delete_after_missing_scans,
    )?;
    tracing::debug!(ms = t.elapsed().as_millis() as u64, "scan: diffed");
    let mut report = d.report(&mut walk, false, None);
    report.changing = recheck::changing(
        root,
        &walk,
        &d,
        (started.timestamp(), timer),
        cfg.settle_secs,
        (
            Duration::from_secs(cfg.share_timeout_secs),
            opts.cancel.unwrap_or(&never),
        ),
    )?;
    let times = ScanTimes {
        started: iso(started),
        finished: iso(clock.now()),
        duration_ms: timer.elapsed().as_millis() as i64,
    };
    let t = Instant::now();
    let (scan_id, added_ids) = commit(archive, &known, &walk.files, &d, &report, &times)?;
    tracing::debug!(ms = t.elapsed().as_millis() as u64, "scan: committed");
    let unchanged_by_others = archive.data_version()? == version_before;
    report.scan_id = Some(scan_id);
    report.duration_ms = timer.elapsed().as_millis() as u64;
    tracing::info!("{} / scan committed", scan_summary_ko("스캔 완료", &report));
    let t = Instant::now();
    let files = if let Some(added_ids) = added_ids.filter(|_| unchanged_by_others) {
        after_commit(known, walk.files, &d, &added_ids, scan_id)
    } else {
        drop((known, walk));
        archive.load_files()?
    };
    tracing::debug!(ms = t.elapsed().as_millis() as u64, "scan: records ready");
    Ok((report, files))
}

/// `label: 추가 N, 삭제 N, 변경 N, 이동 N[, 경고 N]` for the live log.
fn scan_summary_ko(label: &str, r: &ScanReport) -> String {
    let mut s = format!(
        "{label}: 추가 {}, 삭제 {}, 변경 {}, 이동 {}",
        r.added, r.removed, r.modified, r.moved
    );
    if r.pending_delete > 0 {
        s.push_str(&format!(", 삭제 대기 {}", r.pending_delete));
    }
    if !r.warnings.is_empty() {
        s.push_str(&format!(", 경고 {}", r.warnings.len()));
    }
    s
}

/// The stored records after a committed scan, derived from what was loaded before it and the
/// diff, equal to what `load_files` would read back (sorted by path); `added_ids` are the ids the
/// commit gave `d.added`, in order. Paths are moved out of `walked`, not copied.
fn after_commit(
    mut known: Vec<FileRecord>,
    mut walked: Vec<WalkedFile>,
    d: &DiffIdx,
    added_ids: &[i64],
    scan_id: i64,
) -> Vec<FileRecord> {
    for &k in &d.waiting {
        known[k].missing_scans += 1;
    }
    for &k in &d.reset {
        known[k].missing_scans = 0;
    }
    for &(k, w) in &d.modified {
        let r = &mut known[k];
        r.size = walked[w].size;
        r.mtime = walked[w].mtime;
        r.fingerprint = None;
        r.media = Media::default();
    }
    // Moved and added records, in path order (walk order).
    let mut incoming: Vec<FileRecord> = Vec::with_capacity(d.moved.len() + d.added.len());
    let mut moved = d.moved.iter().peekable();
    let mut added = d.added.iter().zip(added_ids).peekable();
    loop {
        let take_moved = match (moved.peek(), added.peek()) {
            (Some(m), Some(a)) => m.1 < *a.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_moved {
            let Some(&(k, w)) = moved.next() else { break };
            let mut r = known[k].clone();
            r.path = std::mem::take(&mut walked[w].path);
            r.mtime = walked[w].mtime;
            incoming.push(r);
        } else {
            let Some((&w, &id)) = added.next() else { break };
            let f = &mut walked[w];
            incoming.push(FileRecord {
                id,
                path: std::mem::take(&mut f.path),
                size: f.size,
                mtime: f.mtime,
                first_seen: scan_id,
                fingerprint: None,
                target_id: None,
                media: Media::default(),
                missing_scans: 0,
            });
        }
    }
    drop(walked);
    if !d.removed.is_empty() || !d.moved.is_empty() {
        let mut gone = vec![false; known.len()];
        for &k in d.removed.iter().chain(d.moved.iter().map(|(k, _)| k)) {
            gone[k] = true;
        }
        let mut i = 0;
        known.retain(|_| {
            i += 1;
            !gone[i - 1]
        });
    }
    if incoming.is_empty() {
        return known;
    }
    if known.is_empty() {
        return incoming;
    }
    // Both sorted by path and disjoint: merge.
    let mut out = Vec::with_capacity(known.len() + incoming.len());
    let mut a = known.into_iter().peekable();
    let mut b = incoming.into_iter().peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => {
                if x.path < y.path {
                    a.next()
                } else {
                    b.next()
                }
            }
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        out.extend(next);
    }
    out
}

impl ScanOutcome {
    /// The report of this outcome (`scan_id` once committed).
    pub fn report(&self, scan_id: Option<i64>, dry_run: bool) -> ScanReport {
        let o = self;
        ScanReport {
            scan_id,
            dry_run,
            files_seen: o.walk.files.len() as u64,
            dirs_seen: o.walk.dirs_seen,
            added: o.diff.added.len() as u64,
            removed: o.diff.removed.len() as u64,
            modified: o.diff.modified.len() as u64,
            moved: o.diff.moved.len() as u64,
            unchanged: o.diff.unchanged as u64,
            kept_unreadable: o.diff.kept_unreadable as u64,
            pending_delete: o.diff.waiting.len() as u64,
            warnings: o.walk.issues.clone(),
            duration_ms: o.timer.elapsed().as_millis() as u64,
            scope: None,
            changing: Vec::new(),
        }
    }
}

/// The Source as it would be after committing `diff`. New files get negative ids (not stored).
pub fn apply_in_memory(known: Vec<FileRecord>, diff: &ScanDiff, scan_id: i64) -> Vec<FileRecord> {
    let removed: HashSet<i64> = diff.removed.iter().map(|r| r.id).collect();
    let modified: HashMap<i64, &WalkedFile> =
        diff.modified.iter().map(|(r, w)| (r.id, w)).collect();
    let moved: HashMap<i64, &WalkedFile> = diff.moved.iter().map(|(r, w)| (r.id, w)).collect();
    let waiting: HashSet<i64> = diff.waiting.iter().map(|r| r.id).collect();
    let reset: HashSet<i64> = diff.reset.iter().copied().collect();
    let mut out: Vec<FileRecord> = known
        .into_iter()
        .filter(|r| !removed.contains(&r.id))
        .map(|mut r| {
            if waiting.contains(&r.id) {
                r.missing_scans += 1;
            } else if reset.contains(&r.id) {
                r.missing_scans = 0;
            }
            if let Some(w) = modified.get(&r.id) {
                r.size = w.size;
                r.mtime = w.mtime;
                r.fingerprint = None;
                r.media = Media::default();
            }
            if let Some(w) = moved.get(&r.id) {
                r.path = w.path.clone();
                r.mtime = w.mtime;
            }
            r
        })
        .collect();
    out.extend(diff.added.iter().enumerate().map(|(i, w)| FileRecord {
        id: -(i as i64) - 1,
        path: w.path.clone(),
        size: w.size,
        mtime: w.mtime,
        first_seen: scan_id,
        fingerprint: None,
        target_id: None,
        media: Media::default(),
        missing_scans: 0,
    }));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
