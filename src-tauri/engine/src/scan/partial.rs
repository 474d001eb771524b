//! The partial scan (the watcher's): only the directories file-system events named, and
//! only the records below them; a scope that cannot be walked alone becomes a full scan.

use super::*;

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
    let ignore = Arc::new(IgnoreSet::new(&cfg.ignore)?);
    let never = AtomicBool::new(false);
    let cancel = opts.cancel.unwrap_or(&never);
    let ctl = WalkCtl::new(cfg, &opts, cancel);
    check_share(cfg, root, &ctl)?;
    let wanted: Vec<String> = dirs
        .iter()
        .filter(|d| !is_ignored_path(&ignore, d))
        .cloned()
        .collect();
    // The scope's directories are examined on the share too, so under the same timeout.
    let why = {
        let (root, wanted) = (root.to_path_buf(), wanted.clone());
        on_share(
            format!("폴더 정보 {}", root.display()),
            ctl.timeout,
            cancel,
            move || wanted.iter().find_map(|d| not_walkable(&root, d)),
        )?
    };
    if let Some(why) = why {
        return Ok(PartialScan::NeedsFullScan(why));
    }
    let scope = wanted;
    let known = archive.load_files_under(&scope)?;
    let mut walk = walk_dirs(root, ignore, &scope, &ctl)?;
    let d = diff_idx(root, &known, &walk, cancel, cfg.delete_after_missing_scans)?;
    let mut report = d.report(&mut walk, opts.dry_run, Some(scope));
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
pub(super) fn not_walkable(root: &Path, dir: &str) -> Option<String> {
    let mut path = root.to_path_buf();
    for part in dir.split('/') {
        path.push(part);
        fault::before(&path);
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
