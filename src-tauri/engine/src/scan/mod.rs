//! The scanner: walks the share into archive.db.
//!
//! Phases: **walk** (top-level directories in parallel, metadata from the listing, symlinks never
//! followed) → **guards** (offline share, marker file, empty scan) → **diff** against archive.db
//! (added / removed / modified / moved) → **commit** in one transaction at the end. A scan that is
//! killed or cancelled before the commit leaves archive.db exactly as it was; a scan that finds no
//! change writes no file rows.
//!
//! A **partial scan** ([`run_partial_scan`], the watcher's) walks only the directories the
//! file-system events named and compares only the records below them; everything else in
//! archive.db stays as it is until the next full scan. The same guards apply to the root, and a
//! scope that cannot be walked on its own falls back to a full scan.

pub mod fingerprint;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
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
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
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
    pub warnings: Vec<ScanIssue>,
    pub duration_ms: u64,
    /// The directories a partial scan walked (absent for a full scan).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub scope: Option<Vec<String>>,
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
    let d = diff_idx(root, known, &walk, opts.cancel.unwrap_or(&never))?;
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
    let ignore = IgnoreSet::new(&cfg.ignore)?;
    let never = AtomicBool::new(false);
    let cancel = opts.cancel.unwrap_or(&never);
    check_share(cfg, root)?;

    let t = Instant::now();
    let walk = walk(root, &ignore, cfg.scan_workers, cancel, opts.progress)?;
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
/// marker file (if configured) is in it.
fn check_share(cfg: &Config, root: &Path) -> Result<()> {
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(offline(format!(
                "NAS 경로가 폴더가 아닙니다 / the archive root is not a directory: {}. Nothing was changed; check `root`.",
                root.display()
            )));
        }
        Err(e) => {
            return Err(offline(format!(
                "NAS 공유 폴더에 접근할 수 없습니다 / the archive root is not reachable: {}: {e}. Nothing was changed; check that the share is mounted and online.",
                root.display()
            )));
        }
    }
    if let Some(marker) = &cfg.marker_file
        && !crate::names::join_rel(root, marker).is_file()
    {
        return Err(offline(format!(
            "NAS 확인 파일이 없습니다 / the marker file `{marker}` is missing in {}: the share may be offline or a different folder is mounted. Nothing was changed.",
            root.display()
        )));
    }
    Ok(())
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
    let d = diff_idx(root, &known, &walk, opts.cancel.unwrap_or(&never))?;
    tracing::debug!(ms = t.elapsed().as_millis() as u64, "scan: diffed");
    let mut report = ScanReport {
        scan_id: None,
        dry_run: false,
        files_seen: walk.files.len() as u64,
        dirs_seen: walk.dirs_seen,
        added: d.added.len() as u64,
        removed: d.removed.len() as u64,
        modified: d.modified.len() as u64,
        moved: d.moved.len() as u64,
        unchanged: d.unchanged as u64,
        kept_unreadable: d.kept_unreadable as u64,
        warnings: std::mem::take(&mut walk.issues),
        duration_ms: 0,
        scope: None,
    };
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

// ---------------------------------------------------------------------------------------------
// Partial scan (the watcher's)
// ---------------------------------------------------------------------------------------------

/// A partial scan of more directories than this is done as a full scan instead: a burst that
/// wide is a reorganisation, and one walk of the share costs less than hundreds of small ones.
pub const MAX_PARTIAL_DIRS: usize = 256;

/// Which part of the share a scan walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanScope {
    /// The whole share.
    Full,
    /// These directories (relative to the root, `/` separators, none inside another, sorted)
    /// and everything below them. Build it with [`ScanScope::dirs`].
    Dirs(Vec<String>),
}

impl ScanScope {
    /// The scope of a set of changed directories, collapsed to the outermost ones (a directory
    /// below another one of the set is walked with it). The root itself (`""`), a path with an
    /// empty, `.` or `..` component, or more than [`MAX_PARTIAL_DIRS`] directories after
    /// collapsing make it [`ScanScope::Full`].
    pub fn dirs<I, S>(dirs: I) -> ScanScope
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set: BTreeSet<String> = BTreeSet::new();
        for d in dirs {
            let d = d.as_ref().trim_matches('/');
            if d.is_empty() || d.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
                return ScanScope::Full;
            }
            set.insert(d.to_string());
        }
        let outermost: Vec<String> = set
            .iter()
            .filter(|d| !d.match_indices('/').any(|(i, _)| set.contains(&d[..i])))
            .cloned()
            .collect();
        if outermost.len() > MAX_PARTIAL_DIRS {
            ScanScope::Full
        } else {
            ScanScope::Dirs(outermost)
        }
    }

    /// Both scopes in one (a burst that arrived while a sync ran joins the next one).
    pub fn merge(self, other: ScanScope) -> ScanScope {
        match (self, other) {
            (ScanScope::Dirs(a), ScanScope::Dirs(b)) => ScanScope::dirs(a.into_iter().chain(b)),
            _ => ScanScope::Full,
        }
    }

    pub fn is_full(&self) -> bool {
        matches!(self, ScanScope::Full)
    }
}

/// Whether the relative path `rel` or one of its parent directories is skipped by the scan
/// (built-in clutter such as `.` names and `@eaDir`, or an `ignore` glob): a full walk never
/// enters it, so a partial scan does not either.
pub fn is_ignored_path(ignore: &IgnoreSet, rel: &str) -> bool {
    let mut end = 0;
    for part in rel.split('/') {
        let start = end;
        end = start + part.len();
        if !part.is_empty() && ignore.is_ignored(&rel[..end], part) {
            return true;
        }
        end += 1;
    }
    false
}

/// What [`run_partial_scan`] did.
#[derive(Debug)]
pub enum PartialScan {
    /// Walked, compared and (unless a dry run) committed, like a full scan of those
    /// directories.
    Done(ScanReport),
    /// A directory of the scope is gone, is not a plain directory or lies below a symlink, so
    /// the scope cannot be walked on its own. Nothing was written; run a full scan. The text
    /// says why.
    NeedsFullScan(String),
}

/// Scan only `dirs` (as [`ScanScope::Dirs`] holds them) and everything below them: walk them,
/// compare the records stored under them, commit the difference in one transaction. Records
/// elsewhere are neither read nor written, so a change outside the scope waits for the next
/// full scan. The root and marker-file guards apply as for a full scan; an unreadable
/// directory keeps its known files; a move between two directories of the scope keeps its
/// record (same id, same Target row). Ignored directories are left out of the scope.
pub fn run_partial_scan(
    cfg: &Config,
    archive: &mut Archive,
    clock: &dyn Clock,
    dirs: &[String],
    opts: ScanOptions<'_>,
) -> Result<PartialScan> {
    let started = clock.now();
    let timer = Instant::now();
    let root = cfg.require_root()?;
    let ignore = IgnoreSet::new(&cfg.ignore)?;
    check_share(cfg, root)?;
    let mut scope: Vec<String> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        if is_ignored_path(&ignore, dir) {
            continue;
        }
        if let Some(why) = not_walkable(root, dir) {
            return Ok(PartialScan::NeedsFullScan(why));
        }
        scope.push(dir.clone());
    }
    let never = AtomicBool::new(false);
    let cancel = opts.cancel.unwrap_or(&never);
    let known = archive.load_files_under(&scope)?;
    let mut walk = Walk {
        top_level_dirs: scope.len(),
        ..Walk::default()
    };
    for p in walk_parts(
        root,
        &ignore,
        &scope,
        cfg.scan_workers,
        0,
        cancel,
        opts.progress,
        timer,
    )? {
        walk.files.extend(p.files);
        walk.dirs_seen += p.dirs;
        walk.issues.extend(p.issues);
        walk.unreadable_dirs.extend(p.unreadable);
        if p.top_unreadable {
            walk.top_level_unreadable += 1;
        }
    }
    walk.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    walk.issues.sort_by(|a, b| a.path.cmp(&b.path));
    let d = diff_idx(root, &known, &walk, cancel)?;
    let mut report = ScanReport {
        scan_id: None,
        dry_run: opts.dry_run,
        files_seen: walk.files.len() as u64,
        dirs_seen: walk.dirs_seen,
        added: d.added.len() as u64,
        removed: d.removed.len() as u64,
        modified: d.modified.len() as u64,
        moved: d.moved.len() as u64,
        unchanged: d.unchanged as u64,
        kept_unreadable: d.kept_unreadable as u64,
        warnings: std::mem::take(&mut walk.issues),
        duration_ms: 0,
        scope: Some(scope),
    };
    if opts.dry_run {
        report.duration_ms = timer.elapsed().as_millis() as u64;
        return Ok(PartialScan::Done(report));
    }
    let times = ScanTimes {
        started: iso(started),
        finished: iso(clock.now()),
        duration_ms: timer.elapsed().as_millis() as i64,
    };
    let (scan_id, _) = commit(archive, &known, &walk.files, &d, &report, &times)?;
    report.scan_id = Some(scan_id);
    report.duration_ms = timer.elapsed().as_millis() as u64;
    tracing::info!(
        "{} / partial scan committed",
        scan_summary_ko("부분 스캔 완료", &report)
    );
    Ok(PartialScan::Done(report))
}

/// Why `dir` cannot be walked on its own, if it cannot: it (or a parent) is gone, is not a
/// directory, or is a symlink or junction (never followed). A parent that cannot be examined
/// (permissions) is not a reason: the walk reports the directory unreadable and keeps its files.
fn not_walkable(root: &Path, dir: &str) -> Option<String> {
    let mut path = root.to_path_buf();
    for part in dir.split('/') {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                return Some(format!(
                    "{dir}: 폴더가 아니거나 링크입니다 / not a plain directory"
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(format!("{dir}: 폴더가 없습니다 / the directory is gone"));
            }
            Err(_) => return None,
        }
    }
    None
}

/// `label: 추가 N, 삭제 N, 변경 N, 이동 N[, 경고 N]` for the live log.
fn scan_summary_ko(label: &str, r: &ScanReport) -> String {
    let mut s = format!(
        "{label}: 추가 {}, 삭제 {}, 변경 {}, 이동 {}",
        r.added, r.removed, r.modified, r.moved
    );
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
            warnings: o.walk.issues.clone(),
            duration_ms: o.timer.elapsed().as_millis() as u64,
            scope: None,
        }
    }
}

/// The Source as it would be after committing `diff`. New files get negative ids (not stored).
pub fn apply_in_memory(known: Vec<FileRecord>, diff: &ScanDiff, scan_id: i64) -> Vec<FileRecord> {
    let removed: HashSet<i64> = diff.removed.iter().map(|r| r.id).collect();
    let modified: HashMap<i64, &WalkedFile> =
        diff.modified.iter().map(|(r, w)| (r.id, w)).collect();
    let moved: HashMap<i64, &WalkedFile> = diff.moved.iter().map(|(r, w)| (r.id, w)).collect();
    let mut out: Vec<FileRecord> = known
        .into_iter()
        .filter(|r| !removed.contains(&r.id))
        .map(|mut r| {
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
    }));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// When a scan ran, as recorded in its `scans` row.
struct ScanTimes {
    started: String,
    finished: String,
    duration_ms: i64,
}

/// Write the scan in one transaction: its `scans` row, the file rows of `d`, its issues. Returns
/// the scan id and the ids given to `d.added`, in order (`None` if they could not be confirmed).
fn commit(
    archive: &mut Archive,
    known: &[FileRecord],
    walked: &[WalkedFile],
    d: &DiffIdx,
    report: &ScanReport,
    times: &ScanTimes,
) -> Result<(i64, Option<Vec<i64>>)> {
    let conn = archive.conn_mut();
    // Two per-row checks that cannot fail for what the scan writes are switched off for its
    // transaction, and back on whatever the outcome:
    // - the only CHECK on `files` is on probe_status, which every row the scan writes leaves NULL
    //   (allowed), yet SQLite builds its IN list in a temporary B-tree for every row;
    // - the only foreign keys the scan's rows carry name the `scans` row it inserts first in the
    //   same transaction; checked, they also force a statement journal on every multi-row INSERT.
    let set = |conn: &rusqlite::Connection, on: bool| -> Result<()> {
        conn.pragma_update(None, "ignore_check_constraints", on)
            .ctx("scan commit ignore_check_constraints")?;
        conn.pragma_update(None, "foreign_keys", !on)
            .ctx("scan commit foreign_keys")
    };
    // A first scan's commit is hundreds of MB of WAL: copied into archive.db by an automatic
    // checkpoint inside the commit, that copy would be on the scan's path. It runs on a thread
    // of its own after the commit instead (readers see the rows from the commit on).
    let autocheckpoint: i64 = conn
        .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
        .ctx("scan commit wal_autocheckpoint")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .ctx("scan commit wal_autocheckpoint")?;
    set(conn, true)?;
    let res = write_scan(conn, known, walked, d, report, times);
    let reset = set(conn, false).and_then(|()| {
        conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)
            .ctx("scan commit wal_autocheckpoint")
    });
    let out = res?;
    reset?;
    archive.checkpoint_copy_in_background();
    Ok(out)
}

fn write_scan(
    conn: &mut rusqlite::Connection,
    known: &[FileRecord],
    walked: &[WalkedFile],
    d: &DiffIdx,
    report: &ScanReport,
    times: &ScanTimes,
) -> Result<(i64, Option<Vec<i64>>)> {
    let tx = conn.transaction().ctx("begin scan commit")?;
    tx.execute(
        "INSERT INTO scans (started_at, finished_at, files_seen, dirs_seen, added, removed, modified,
         moved, warnings, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            times.started,
            times.finished,
            report.files_seen as i64,
            report.dirs_seen as i64,
            report.added as i64,
            report.removed as i64,
            report.modified as i64,
            report.moved as i64,
            report.warnings.len() as i64,
            times.duration_ms,
        ],
    )
    .ctx("record scan")?;
    let scan_id = tx.last_insert_rowid();
    let added_ids;
    {
        let mut del = tx
            .prepare("DELETE FROM files WHERE id = ?1")
            .ctx("prepare delete")?;
        for &k in &d.removed {
            del.execute([known[k].id]).ctx("delete removed file")?;
        }
        let mut upd = tx
            .prepare(
                "UPDATE files SET size = ?2, mtime = ?3, fingerprint = NULL, codec = NULL,
                 width = NULL, height = NULL, duration_sec = NULL, audio_codec = NULL,
                 container = NULL, probe_status = NULL, probe_error = NULL WHERE id = ?1",
            )
            .ctx("prepare update")?;
        for &(k, w) in &d.modified {
            let w = &walked[w];
            upd.execute(params![known[k].id, w.size, w.mtime])
                .ctx("update modified file")?;
        }
        let mut mv = tx
            .prepare(
                "UPDATE files SET path = ?2, catalog = ?3, name = ?4, name_key = ?5, ext = ?6,
                 kind = ?7, mtime = ?8 WHERE id = ?1",
            )
            .ctx("prepare move")?;
        for &(k, w) in &d.moved {
            let w = &walked[w];
            let name = names::file_name(&w.path);
            let ext = names::extension(name);
            mv.execute(params![
                known[k].id,
                w.path,
                names::catalog(&w.path),
                name,
                names::name_key(name),
                ext,
                Kind::from_ext(&ext).as_str(),
                w.mtime
            ])
            .ctx("re-path moved file")?;
        }
        added_ids = insert_added(&tx, walked, &d.added, scan_id)?;
        let mut issue = tx
            .prepare(
                "INSERT INTO scan_issues (scan_id, path, kind, message) VALUES (?1, ?2, ?3, ?4)",
            )
            .ctx("prepare issue")?;
        for i in &report.warnings {
            let kind = serde_json::to_value(i.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            issue
                .execute(params![scan_id, i.path, kind, i.message])
                .ctx("record scan issue")?;
        }
    }
    tx.commit().ctx("commit scan")?;
    Ok((scan_id, added_ids))
}

/// Rows per multi-row INSERT: one statement run per row costs about twice as much.
const INSERT_BATCH: usize = 64;

/// Insert the new files in walk order, `INSERT_BATCH` rows per statement. An AUTOINCREMENT
/// INSERT gives the rows of one statement consecutive ids in VALUES order (each row's id is the
/// previous maximum + 1, and nothing else writes inside this transaction), so a batch's ids end
/// at `last_insert_rowid`. The first and last id are checked against the table; on a mismatch
/// `None` tells the caller to read the records back instead.
fn insert_added(
    tx: &rusqlite::Transaction<'_>,
    walked: &[WalkedFile],
    added: &[usize],
    scan_id: i64,
) -> Result<Option<Vec<i64>>> {
    const COLS: usize = 9;
    let sql = |rows: usize| {
        let mut sql = String::from(
            // OR FAIL: a conflict ends the statement with an error (and the caller drops the
            // whole transaction) without the statement journal an ABORT needs per batch.
            "INSERT OR FAIL INTO files (path, catalog, name, name_key, ext, kind, size, mtime, first_seen) VALUES ",
        );
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str("(?,?,?,?,?,?,?,?,?)");
        }
        sql
    };
    let mut ids = Vec::with_capacity(added.len());
    let mut full = tx.prepare(&sql(INSERT_BATCH)).ctx("prepare insert")?;
    for chunk in added.chunks(INSERT_BATCH) {
        let mut tail;
        let stmt = if chunk.len() == INSERT_BATCH {
            &mut full
        } else {
            tail = tx.prepare(&sql(chunk.len())).ctx("prepare insert")?;
            &mut tail
        };
        for (row, &a) in chunk.iter().enumerate() {
            let w = &walked[a];
            let name = names::file_name(&w.path);
            let ext = names::extension(name);
            let kind = Kind::from_ext(&ext).as_str();
            let at = row * COLS;
            stmt.raw_bind_parameter(at + 1, w.path.as_str())
                .and_then(|()| stmt.raw_bind_parameter(at + 2, names::catalog(&w.path)))
                .and_then(|()| stmt.raw_bind_parameter(at + 3, name))
                .and_then(|()| stmt.raw_bind_parameter(at + 4, names::name_key(name)))
                .and_then(|()| stmt.raw_bind_parameter(at + 5, &ext))
                .and_then(|()| stmt.raw_bind_parameter(at + 6, kind))
                .and_then(|()| stmt.raw_bind_parameter(at + 7, w.size))
                .and_then(|()| stmt.raw_bind_parameter(at + 8, w.mtime))
                .and_then(|()| stmt.raw_bind_parameter(at + 9, scan_id))
                .ctx("insert new file")?;
        }
        stmt.raw_execute().ctx("insert new file")?;
        let last = tx.last_insert_rowid();
        let first = last - chunk.len() as i64 + 1;
        ids.extend(first..=last);
    }
    let check = |pos: usize| -> Result<bool> {
        let stored: i64 = tx
            .query_row(
                "SELECT id FROM files WHERE path = ?1",
                [&walked[added[pos]].path],
                |r| r.get(0),
            )
            .ctx("check new file ids")?;
        Ok(stored == ids[pos])
    };
    if ids.is_empty() || (check(0)? && check(ids.len() - 1)?) {
        Ok(Some(ids))
    } else {
        tracing::warn!(
            "새 파일 id가 연속되지 않아 다시 읽습니다 / new file ids are not consecutive; reading the records back"
        );
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------------
// Walk
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Part {
    files: Vec<WalkedFile>,
    dirs: u64,
    issues: Vec<ScanIssue>,
    unreadable: Vec<String>,
    top_unreadable: bool,
}

struct Shared<'a> {
    root: &'a Path,
    ignore: &'a IgnoreSet,
    cancel: &'a AtomicBool,
    /// Set when one worker failed, so the others stop early.
    stop: AtomicBool,
    files: AtomicU64,
    dirs: AtomicU64,
    current: Mutex<String>,
}

fn mtime_secs(m: &fs::Metadata) -> i64 {
    match m.modified() {
        Ok(t) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
        },
        Err(_) => 0,
    }
}

fn walk(
    root: &Path,
    ignore: &IgnoreSet,
    workers: usize,
    cancel: &AtomicBool,
    progress: Option<&(dyn Fn(&ScanProgress) + Sync)>,
) -> Result<Walk> {
    let started = Instant::now();
    let listing = fs::read_dir(root).map_err(|e| {
        offline(format!(
            "NAS 공유 폴더 목록을 읽을 수 없습니다 / cannot list the archive root {}: {e}. Nothing was changed.",
            root.display()
        ))
    })?;
    let mut out = Walk::default();
    let mut top_dirs: Vec<String> = Vec::new();
    let mut unreadable_top = 0usize;
    for entry in listing {
        let entry = entry.map_err(|e| {
            offline(format!(
                "NAS 공유 폴더 목록을 읽는 중 오류 / error while listing the archive root {}: {e}. Nothing was changed.",
                root.display()
            ))
        })?;
        let os_name = entry.file_name();
        let Some(name) = os_name.to_str() else {
            out.issues.push(ScanIssue {
                path: os_name.to_string_lossy().into_owned(),
                kind: IssueKind::InvalidName,
                message: "name is not valid UTF-8; skipped".into(),
            });
            continue;
        };
        if ignore.is_ignored(name, name) {
            continue;
        }
        let ft = match entry.file_type() {
            Ok(ft) => ft,
            Err(e) => {
                // Unknown type (e.g. a CIFS entry whose lstat failed): treat it as an unreadable
                // top-level directory, so whatever archive.db knows under it is kept.
                out.issues.push(ScanIssue {
                    path: name.to_string(),
                    kind: IssueKind::UnreadableDir,
                    message: e.to_string(),
                });
                out.unreadable_dirs.insert(name.to_string());
                unreadable_top += 1;
                continue;
            }
        };
        if ft.is_dir() {
            top_dirs.push(name.to_string());
        } else if ft.is_file() {
            match entry.metadata() {
                Ok(m) => out.files.push(WalkedFile {
                    path: name.to_string(),
                    size: m.len() as i64,
                    mtime: mtime_secs(&m),
                }),
                Err(e) => out.issues.push(ScanIssue {
                    path: name.to_string(),
                    kind: IssueKind::UnreadableFile,
                    message: e.to_string(),
                }),
            }
        }
        // Symlinks, junctions, devices: neither followed nor recorded.
    }
    top_dirs.sort();
    out.top_level_dirs = top_dirs.len() + unreadable_top;
    out.top_level_unreadable = unreadable_top;

    let parts = walk_parts(
        root,
        ignore,
        &top_dirs,
        workers,
        out.files.len() as u64,
        cancel,
        progress,
        started,
    )?;
    for p in parts {
        out.files.extend(p.files);
        out.dirs_seen += p.dirs;
        out.issues.extend(p.issues);
        out.unreadable_dirs.extend(p.unreadable);
        if p.top_unreadable {
            out.top_level_unreadable += 1;
        }
    }
    // Workers finish in any order; sorting makes the result independent of scheduling.
    out.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    out.issues.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Walk each of `dirs` (and everything below it) on up to `workers` threads; one [`Part`] per
/// directory, in no particular order. `files_before` seeds the progress count.
#[allow(clippy::too_many_arguments)]
fn walk_parts(
    root: &Path,
    ignore: &IgnoreSet,
    dirs: &[String],
    workers: usize,
    files_before: u64,
    cancel: &AtomicBool,
    progress: Option<&(dyn Fn(&ScanProgress) + Sync)>,
    started: Instant,
) -> Result<Vec<Part>> {
    let shared = Shared {
        root,
        ignore,
        cancel,
        stop: AtomicBool::new(false),
        files: AtomicU64::new(files_before),
        dirs: AtomicU64::new(0),
        current: Mutex::new(String::new()),
    };
    let queue = Arc::new(Mutex::new(dirs.to_vec()));
    let n_workers = workers.clamp(1, dirs.len().max(1));
    let (tx, rx) = mpsc::channel::<Result<Part>>();
    let mut parts: Vec<Part> = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..n_workers {
            let tx = tx.clone();
            let queue = Arc::clone(&queue);
            let shared = &shared;
            s.spawn(move || {
                loop {
                    let next = match queue.lock() {
                        Ok(mut q) => q.pop(),
                        Err(_) => None,
                    };
                    let Some(dir) = next else { break };
                    let res = walk_top(shared, &dir);
                    let stop = res.is_err();
                    if tx.send(res).is_err() || stop {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut first_err: Option<Error> = None;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(part)) => parts.push(part),
                Ok(Err(e)) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(cb) = progress {
                        cb(&snapshot(&shared, started));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(cb) = progress {
            cb(&snapshot(&shared, started));
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })?;
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    Ok(parts)
}

fn snapshot(shared: &Shared<'_>, started: Instant) -> ScanProgress {
    let files = shared.files.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    ScanProgress {
        dirs: shared.dirs.load(Ordering::Relaxed),
        files,
        current_dir: shared.current.lock().map(|c| c.clone()).unwrap_or_default(),
        elapsed_ms: elapsed.as_millis() as u64,
        files_per_sec: if elapsed.as_secs_f64() > 0.0 {
            files as f64 / elapsed.as_secs_f64()
        } else {
            0.0
        },
    }
}

/// Walk one top-level directory, depth first. Directories are listed with `read_dir` and files
/// stat'ed through the listing's directory handle (`DirEntry::metadata`, an `fstatat` of the bare
/// name), which spares the kernel a full path lookup per file; symlinks are never followed.
fn walk_top(shared: &Shared<'_>, top: &str) -> Result<Part> {
    let mut part = Part::default();
    let mut stack: Vec<String> = vec![top.to_string()];
    let mut n: u32 = 0;
    let mut is_top = true;
    while let Some(dir) = stack.pop() {
        part.dirs += 1;
        shared.dirs.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = shared.current.lock() {
            c.clone_from(&dir);
        }
        let listing = fs::read_dir(names::join_rel(shared.root, &dir));
        if listing.is_err() && is_top {
            part.top_unreadable = true;
        }
        is_top = false;
        let listing = match listing {
            Ok(l) => l,
            Err(e) => {
                unreadable_dir(&mut part, dir, &e);
                continue;
            }
        };
        for entry in listing {
            n = n.wrapping_add(1);
            if n.is_multiple_of(256)
                && (shared.cancel.load(Ordering::Relaxed) || shared.stop.load(Ordering::Relaxed))
            {
                return Err(Error::Cancelled);
            }
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    // The listing broke off: keep whatever archive.db knows below this directory.
                    unreadable_dir(&mut part, dir.clone(), &e);
                    break;
                }
            };
            let os_name = entry.file_name();
            let Some(name) = os_name.to_str() else {
                part.issues.push(ScanIssue {
                    path: format!("{dir}/{}", os_name.to_string_lossy()),
                    kind: IssueKind::InvalidName,
                    message: "name is not valid UTF-8; skipped".into(),
                });
                continue;
            };
            let mut rel = String::with_capacity(dir.len() + 1 + name.len());
            rel.push_str(&dir);
            rel.push('/');
            rel.push_str(name);
            if shared.ignore.is_ignored(&rel, name) {
                continue;
            }
            let ft = match entry.file_type() {
                Ok(ft) => ft,
                Err(e) => {
                    unreadable_dir(&mut part, rel, &e);
                    continue;
                }
            };
            if ft.is_dir() {
                stack.push(rel);
            } else if ft.is_file() {
                match entry.metadata() {
                    Ok(m) => {
                        part.files.push(WalkedFile {
                            path: rel,
                            size: m.len() as i64,
                            mtime: mtime_secs(&m),
                        });
                        shared.files.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => part.issues.push(ScanIssue {
                        path: rel,
                        kind: IssueKind::UnreadableFile,
                        message: e.to_string(),
                    }),
                }
            }
            // Symlinks, junctions, devices: neither followed nor recorded.
        }
    }
    Ok(part)
}

/// Record a directory that could not be listed: a warning, and its known files are kept.
fn unreadable_dir(part: &mut Part, path: String, e: &std::io::Error) {
    tracing::warn!(
        "폴더를 읽을 수 없어 기존 파일을 유지합니다: {path} ({e}) / directory could not be read; its known files are kept"
    );
    part.unreadable.push(path.clone());
    part.issues.push(ScanIssue {
        path,
        kind: IssueKind::UnreadableDir,
        message: e.to_string(),
    });
}

// ---------------------------------------------------------------------------------------------
// Diff and move detection
// ---------------------------------------------------------------------------------------------

fn under_unreadable(path: &str, dirs: &HashSet<String>) -> bool {
    if dirs.is_empty() {
        return false;
    }
    path.match_indices('/')
        .any(|(i, _)| dirs.contains(&path[..i]))
}

/// A diff as indices into the known records and the walked files, so a scan copies no record
/// or path to classify them. Invariant: `added` and `moved` are in walk (path) order.
#[derive(Debug, Default)]
struct DiffIdx {
    /// Walk indices of new files (not paired as a move).
    added: Vec<usize>,
    /// Known indices of files gone from the share (not paired as a move).
    removed: Vec<usize>,
    /// (known, walk) pairs of files whose size or mtime changed.
    modified: Vec<(usize, usize)>,
    /// (known at the old path, walk at the new path).
    moved: Vec<(usize, usize)>,
    unchanged: usize,
    kept_unreadable: usize,
}

impl DiffIdx {
    fn to_diff(&self, known: &[FileRecord], walked: &[WalkedFile]) -> ScanDiff {
        let pairs = |v: &[(usize, usize)]| -> Vec<(FileRecord, WalkedFile)> {
            v.iter()
                .map(|&(k, w)| (known[k].clone(), walked[w].clone()))
                .collect()
        };
        ScanDiff {
            added: self.added.iter().map(|&w| walked[w].clone()).collect(),
            removed: self.removed.iter().map(|&k| known[k].clone()).collect(),
            modified: pairs(&self.modified),
            moved: pairs(&self.moved),
            unchanged: self.unchanged,
            kept_unreadable: self.kept_unreadable,
        }
    }
}

/// Calls `f(walk index, known index if the path is known)` for every walked file, in walk order.
/// Both lists are sorted by path when `known` comes from `load_files`: then a merge join, else a
/// hash lookup.
fn join_by_path(
    known: &[FileRecord],
    walked: &[WalkedFile],
    mut f: impl FnMut(usize, Option<usize>),
) {
    let sorted = known.windows(2).all(|p| p[0].path < p[1].path);
    if sorted {
        let mut k = 0;
        for (w, file) in walked.iter().enumerate() {
            while k < known.len() && known[k].path.as_str() < file.path.as_str() {
                k += 1;
            }
            if k < known.len() && known[k].path == file.path {
                f(w, Some(k));
                k += 1;
            } else {
                f(w, None);
            }
        }
    } else {
        let by_path: HashMap<&str, usize> = known
            .iter()
            .enumerate()
            .map(|(i, r)| (r.path.as_str(), i))
            .collect();
        for (w, file) in walked.iter().enumerate() {
            f(w, by_path.get(file.path.as_str()).copied());
        }
    }
}

fn diff_idx(
    root: &Path,
    known: &[FileRecord],
    walk: &Walk,
    cancel: &AtomicBool,
) -> Result<DiffIdx> {
    let mut d = DiffIdx::default();
    let mut seen = vec![false; known.len()];
    let mut added: Vec<usize> = Vec::new();
    join_by_path(known, &walk.files, |w, k| match k {
        Some(k) => {
            seen[k] = true;
            let (r, f) = (&known[k], &walk.files[w]);
            if r.size != f.size || r.mtime != f.mtime {
                d.modified.push((k, w));
            } else {
                d.unchanged += 1;
            }
        }
        None => added.push(w),
    });
    // A file whose metadata could not be read is not "gone": keep its record.
    let unreadable_files: HashSet<&str> = walk
        .issues
        .iter()
        .filter(|i| i.kind == IssueKind::UnreadableFile)
        .map(|i| i.path.as_str())
        .collect();
    let mut removed: Vec<usize> = Vec::new();
    for (i, k) in known.iter().enumerate() {
        if seen[i] {
            continue;
        }
        if under_unreadable(&k.path, &walk.unreadable_dirs)
            || unreadable_files.contains(k.path.as_str())
        {
            d.kept_unreadable += 1;
        } else {
            removed.push(i);
        }
    }
    drop(seen);
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    if removed.is_empty() || added.is_empty() {
        d.removed = removed;
        d.added = added;
        return Ok(d);
    }

    // Candidate moves: a removed and an added file with equal size and mtime (to the second).
    let removed_refs: Vec<&FileRecord> = removed.iter().map(|&k| &known[k]).collect();
    let added_refs: Vec<&WalkedFile> = added.iter().map(|&w| &walk.files[w]).collect();
    let mut buckets: HashMap<(i64, i64), (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (ri, r) in removed_refs.iter().enumerate() {
        buckets.entry((r.size, r.mtime)).or_default().0.push(ri);
    }
    for (ai, a) in added_refs.iter().enumerate() {
        if let Some(b) = buckets.get_mut(&(a.size, a.mtime)) {
            b.1.push(ai);
        }
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut keys: Vec<_> = buckets.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let Some((rs, as_)) = buckets.remove(&key) else {
            continue;
        };
        if rs.is_empty() || as_.is_empty() {
            continue;
        }
        pairs.extend(match_bucket(root, &removed_refs, &added_refs, rs, as_));
    }
    let mut moved_r = vec![false; removed.len()];
    let mut moved_a = vec![false; added.len()];
    for (r, a) in pairs {
        moved_r[r] = true;
        moved_a[a] = true;
        d.moved.push((removed[r], added[a]));
    }
    // Walk indices are path order.
    d.moved.sort_unstable_by_key(|&(_, w)| w);
    d.removed = removed
        .iter()
        .enumerate()
        .filter(|(i, _)| !moved_r[*i])
        .map(|(_, &k)| k)
        .collect();
    d.added = added
        .iter()
        .enumerate()
        .filter(|(i, _)| !moved_a[*i])
        .map(|(_, &w)| w)
        .collect();
    Ok(d)
}

/// Pair removed and added files of one (size, mtime) bucket. A pairing is accepted only when it is
/// unique: first the whole bucket, then by equal file name, then by equal fingerprint. Whatever
/// stays ambiguous is left as remove + add.
fn match_bucket(
    root: &Path,
    removed: &[&FileRecord],
    added: &[&WalkedFile],
    mut rs: Vec<usize>,
    mut as_: Vec<usize>,
) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    let mut fp_cache: HashMap<usize, Option<i64>> = HashMap::new();
    let mut added_fp = |a: usize| -> Option<i64> {
        *fp_cache
            .entry(a)
            .or_insert_with(|| fingerprint(&root.join(&added[a].path)).ok())
    };
    for level in 0..3 {
        if rs.is_empty() || as_.is_empty() {
            break;
        }
        if rs.len() == 1 && as_.len() == 1 {
            let (r, a) = (rs[0], as_[0]);
            // Never pair two files whose known fingerprints say they differ.
            let veto = match removed[r].fingerprint {
                Some(fr) if level > 0 => added_fp(a).is_some_and(|fa| fa != fr),
                _ => false,
            };
            if !veto {
                pairs.push((r, a));
            }
            return pairs;
        }
        let new_pairs: Vec<(usize, usize)> = match level {
            1 => unique_pairs(
                &rs,
                &as_,
                |r| Some(removed[r].name().to_string()),
                |a| Some(names::file_name(&added[a].path).to_string()),
            ),
            2 => {
                if rs.iter().all(|&r| removed[r].fingerprint.is_none()) {
                    Vec::new()
                } else {
                    let fps: HashMap<usize, Option<i64>> =
                        as_.iter().map(|&a| (a, added_fp(a))).collect();
                    unique_pairs(
                        &rs,
                        &as_,
                        |r| removed[r].fingerprint,
                        |a| fps.get(&a).copied().flatten(),
                    )
                }
            }
            _ => Vec::new(),
        };
        let paired_r: HashSet<usize> = new_pairs.iter().map(|p| p.0).collect();
        let paired_a: HashSet<usize> = new_pairs.iter().map(|p| p.1).collect();
        rs.retain(|x| !paired_r.contains(x));
        as_.retain(|x| !paired_a.contains(x));
        pairs.extend(new_pairs);
    }
    pairs
}

/// Pairs (r, a) whose keys are equal and unique on both sides.
fn unique_pairs<K: std::hash::Hash + Eq>(
    rs: &[usize],
    as_: &[usize],
    rkey: impl Fn(usize) -> Option<K>,
    akey: impl Fn(usize) -> Option<K>,
) -> Vec<(usize, usize)> {
    let mut groups: HashMap<K, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for &r in rs {
        if let Some(k) = rkey(r) {
            groups.entry(k).or_default().0.push(r);
        }
    }
    for &a in as_ {
        if let Some(k) = akey(a)
            && let Some(g) = groups.get_mut(&k)
        {
            g.1.push(a);
        }
    }
    let mut out: Vec<(usize, usize)> = groups
        .into_values()
        .filter(|(r, a)| r.len() == 1 && a.len() == 1)
        .map(|(r, a)| (r[0], a[0]))
        .collect();
    out.sort_unstable();
    out
}

/// Compute and store fingerprints of video files that lack one (new or modified since).
/// Runs after a scan; `workers` bounds concurrent reads. Returns how many were stored.
pub fn fingerprint_pending(
    archive: &mut Archive,
    root: &Path,
    workers: usize,
    cancel: Option<&AtomicBool>,
) -> Result<usize> {
    let pending: Vec<(i64, String, i64, i64)> = {
        let mut stmt = archive
            .conn()
            .prepare(
                "SELECT id, path, size, mtime FROM files WHERE fingerprint IS NULL AND kind = 'video' ORDER BY id",
            )
            .ctx("pending fingerprints")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .ctx("pending fingerprints")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("pending fingerprints")?
    };
    if pending.is_empty() {
        return Ok(0);
    }
    let never = AtomicBool::new(false);
    let cancel = cancel.unwrap_or(&never);
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<(i64, i64, i64, i64)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, 16) {
            s.spawn(|| {
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((id, path, size, mtime)) = pending.get(i) else {
                        break;
                    };
                    if let Ok(fp) = fingerprint(&root.join(path))
                        && let Ok(mut r) = results.lock()
                    {
                        r.push((*id, fp, *size, *mtime));
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    archive.store_fingerprints(&results)
}
