//! The walk: top-level directories listed in parallel, metadata from the listing, symlinks
//! never followed, unreadable folders recorded (their records are kept, not deleted).

use super::*;

#[derive(Default)]
pub(super) struct Part {
    pub(super) files: Vec<WalkedFile>,
    pub(super) dirs: u64,
    pub(super) issues: Vec<ScanIssue>,
    pub(super) unreadable: Vec<String>,
    pub(super) top_unreadable: bool,
}

pub(super) struct Shared<'a> {
    pub(super) root: &'a Path,
    pub(super) ignore: &'a IgnoreSet,
    pub(super) cancel: &'a AtomicBool,
    /// Set when one worker failed, so the others stop early.
    pub(super) stop: AtomicBool,
    pub(super) files: AtomicU64,
    pub(super) dirs: AtomicU64,
    pub(super) current: Mutex<String>,
}

pub(super) fn mtime_secs(m: &fs::Metadata) -> i64 {
    match m.modified() {
        Ok(t) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
        },
        Err(_) => 0,
    }
}

pub(super) fn walk(
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
pub(super) fn walk_parts(
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

pub(super) fn snapshot(shared: &Shared<'_>, started: Instant) -> ScanProgress {
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
pub(super) fn walk_top(shared: &Shared<'_>, top: &str) -> Result<Part> {
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
pub(super) fn unreadable_dir(part: &mut Part, path: String, e: &std::io::Error) {
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

pub(super) fn under_unreadable(path: &str, dirs: &HashSet<String>) -> bool {
    if dirs.is_empty() {
        return false;
    }
    path.match_indices('/')
        .any(|(i, _)| dirs.contains(&path[..i]))
}
