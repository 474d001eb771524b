//! The walk: every directory is a unit of work on one shared stack, taken by up to
//! `scan_workers` threads, so one huge catalog is listed by all of them at once (on SMB each
//! listing is a network round trip). Metadata comes from the listing, symlinks are never
//! followed, unreadable folders are recorded (their records are kept, not deleted).
//!
//! **A share that hangs does not hold the job.** A listing or a stat on a stopped SMB server can
//! block for minutes or forever. The workers therefore own everything they touch (the root, the
//! ignore set and the flags, in an `Arc`) and never borrow the caller's stack: the calling thread
//! only coordinates. It waits on a channel with a short timeout, polls the caller's cancel flag,
//! sends progress snapshots, and gives up when no worker has made progress (a directory listed,
//! an entry read) for `share_timeout_secs` ([`Error::ShareTimeout`]) or on a cancel
//! ([`Error::Cancelled`], within a tick). A worker left blocked in a system call stays blocked and
//! exits on its own when the call returns: it then sees `stop` and sends nothing. The same holds
//! for the root checks before a walk ([`on_share`]).
//!
//! **Windows.** std's `read_dir` there calls `FindFirstFileExW(path\*, FindExInfoBasic, …)` and
//! `FindNextFileW` *without* `FIND_FIRST_EX_LARGE_FETCH` (std's comment: "lets be conservative").
//! The walk lists through [`list::read_dir`] instead, which on Windows makes the same calls with
//! that flag, so the SMB redirector fetches a big folder in larger buffers, fewer round trips
//! (`scan/list/windows.rs`). Either way the size, last-write time and type (a name-surrogate
//! reparse point such as a symlink or junction is never followed) come from the listing's
//! `WIN32_FIND_DATAW`: no call per file, and the same answer as std's `DirEntry` gives.

use std::path::PathBuf;
use std::sync::Condvar;

use super::list::{self, EntryKind};
use super::*;

/// What a walk (or a share of it) found; one per worker, merged by the coordinator.
#[derive(Default)]
pub(super) struct Part {
    pub(super) files: Vec<WalkedFile>,
    pub(super) dirs: u64,
    pub(super) issues: Vec<ScanIssue>,
    pub(super) unreadable: Vec<String>,
    /// Top-level directories seen (only when the root itself was a job).
    pub(super) top_level_dirs: usize,
    /// Top-level directories that could not be listed (or typed): feeds the offline guard.
    pub(super) top_unreadable: usize,
}

impl Part {
    fn merge(&mut self, p: Part) {
        self.files.extend(p.files);
        self.dirs += p.dirs;
        self.issues.extend(p.issues);
        self.unreadable.extend(p.unreadable);
        self.top_level_dirs += p.top_level_dirs;
        self.top_unreadable += p.top_unreadable;
    }
}

/// How deep in the tree a directory to list sits: its failures mean different things.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The archive root: it must be listable (else the share is offline); its subdirectories
    /// are the top-level directories.
    Root,
    /// A top-level directory (or a partial scan's scope directory): unreadable counts toward
    /// `top_level_unreadable`.
    Top,
    Inner,
}

struct Job {
    /// Relative to the root, `/`-separated; `""` for the root.
    dir: String,
    level: Level,
}

struct Queue {
    /// Directories waiting to be listed (a stack: depth first keeps it short).
    jobs: Vec<Job>,
    /// Directories enqueued or being listed. Invariant: incremented BEFORE a job is pushed and
    /// decremented only after the job's children were pushed, in the same critical section, so
    /// it is 0 exactly when the whole tree has been listed; then every waiting worker ends.
    pending: usize,
    /// Workers waiting for a job (a wake-up is a system call: only made when someone waits).
    idle: usize,
}

/// One worker's counters, on a cache line of its own: written by that worker only (plain
/// stores of its running totals), summed by the coordinator, so the hot path shares nothing.
#[derive(Default)]
#[repr(align(128))]
struct Slot {
    /// Answers from the share so far (a listing opened, an entry read): the coordinator's
    /// evidence that the share is alive.
    beats: AtomicU64,
    files: AtomicU64,
    dirs: AtomicU64,
    /// The directory this worker is listing (relative), to name it when the share hangs;
    /// `busy` says whether it is inside a call on the share right now.
    dir: Mutex<String>,
    busy: AtomicBool,
}

/// What the workers share: owned, so a worker never outlives anything it points to.
struct State {
    root: PathBuf,
    ignore: Arc<IgnoreSet>,
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Set by the coordinator when it stops waiting (done, failed, cancelled, timed out).
    stop: AtomicBool,
    slots: Vec<Slot>,
    current: Mutex<String>,
}

impl State {
    fn sum(&self, f: impl Fn(&Slot) -> &AtomicU64) -> u64 {
        self.slots
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .sum()
    }

    /// The call a worker is stuck in, for the timeout message.
    fn stuck(&self) -> Option<String> {
        self.slots
            .iter()
            .filter(|s| s.busy.load(Ordering::Relaxed))
            .filter_map(|s| s.dir.lock().ok().map(|d| d.clone()))
            .min()
            .map(|dir| format!("폴더 목록 {}", names::join_rel(&self.root, &dir).display()))
    }
}

enum Msg {
    Done(Part),
    Failed(Error),
}

/// How the coordinator runs a walk.
pub(super) struct WalkCtl<'a> {
    pub(super) workers: usize,
    /// No answer from the share for this long fails the walk with [`Error::ShareTimeout`].
    pub(super) timeout: Duration,
    pub(super) cancel: &'a AtomicBool,
    pub(super) progress: Option<&'a (dyn Fn(&ScanProgress) + Sync)>,
    pub(super) started: Instant,
}

impl<'a> WalkCtl<'a> {
    pub(super) fn new(cfg: &Config, opts: &ScanOptions<'a>, cancel: &'a AtomicBool) -> Self {
        WalkCtl {
            workers: cfg.scan_workers,
            timeout: Duration::from_secs(cfg.share_timeout_secs.max(1)),
            cancel,
            progress: opts.progress,
            started: Instant::now(),
        }
    }
}

/// How often the coordinator wakes up to look at the cancel flag and the share's pulse, and
/// the least time between two progress snapshots (about five a second).
const TICK: Duration = Duration::from_millis(100);
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

pub(super) fn mtime_secs(m: &fs::Metadata) -> i64 {
    match m.modified() {
        Ok(t) => list::epoch_secs(t.duration_since(UNIX_EPOCH).map_err(|e| e.duration())),
        Err(_) => 0,
    }
}

/// Walk the whole share below `root`.
pub(super) fn walk(root: &Path, ignore: Arc<IgnoreSet>, ctl: &WalkCtl<'_>) -> Result<Walk> {
    let jobs = vec![Job {
        dir: String::new(),
        level: Level::Root,
    }];
    let part = walk_jobs(root, ignore, jobs, ctl)?;
    Ok(into_walk(part))
}

/// Walk each of `dirs` (relative, none inside another) and everything below it, each counted
/// as a top-level directory (a partial scan's scope).
pub(super) fn walk_dirs(
    root: &Path,
    ignore: Arc<IgnoreSet>,
    dirs: &[String],
    ctl: &WalkCtl<'_>,
) -> Result<Walk> {
    let jobs = dirs
        .iter()
        .map(|d| Job {
            dir: d.clone(),
            level: Level::Top,
        })
        .collect();
    let mut part = walk_jobs(root, ignore, jobs, ctl)?;
    part.top_level_dirs = dirs.len();
    Ok(into_walk(part))
}

fn into_walk(p: Part) -> Walk {
    let mut w = Walk {
        files: p.files,
        dirs_seen: p.dirs,
        issues: p.issues,
        unreadable_dirs: p.unreadable.into_iter().collect(),
        top_level_dirs: p.top_level_dirs,
        top_level_unreadable: p.top_unreadable,
    };
    // Workers finish in any order; sorting makes the result independent of scheduling.
    w.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    w.issues.sort_by(|a, b| a.path.cmp(&b.path));
    w
}

/// Stops the workers whenever the coordinator leaves, by any path.
struct StopOnDrop(Arc<State>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
        // Take the lock so no worker is between its check of `stop` and its wait.
        drop(self.0.queue.lock());
        self.0.ready.notify_all();
    }
}

/// Run `jobs` (and every directory found below them) on up to `ctl.workers` threads; the
/// calling thread coordinates (see the module comment).
fn walk_jobs(
    root: &Path,
    ignore: Arc<IgnoreSet>,
    jobs: Vec<Job>,
    ctl: &WalkCtl<'_>,
) -> Result<Part> {
    if ctl.cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    if jobs.is_empty() {
        return Ok(Part::default());
    }
    let n_workers = ctl.workers.max(1);
    let state = Arc::new(State {
        root: root.to_path_buf(),
        ignore,
        queue: Mutex::new(Queue {
            pending: jobs.len(),
            jobs,
            idle: 0,
        }),
        ready: Condvar::new(),
        stop: AtomicBool::new(false),
        slots: (0..n_workers).map(|_| Slot::default()).collect(),
        current: Mutex::new(String::new()),
    });
    let _stop = StopOnDrop(Arc::clone(&state));
    let (tx, rx) = mpsc::channel::<Msg>();
    for idx in 0..n_workers {
        let tx = tx.clone();
        let state = Arc::clone(&state);
        std::thread::Builder::new()
            .name(format!("nas-walk-{idx}"))
            .spawn(move || worker(&state, idx, &tx))
            .map_err(|e| Error::io(root, e))?;
    }
    drop(tx);

    let mut merged = Part::default();
    let mut done = 0usize;
    let mut last_beats = 0u64;
    let mut last_answer = Instant::now();
    let mut last_progress = Instant::now();
    loop {
        match rx.recv_timeout(TICK) {
            Ok(Msg::Done(p)) => {
                merged.merge(p);
                done += 1;
                if done == n_workers {
                    break;
                }
            }
            Ok(Msg::Failed(e)) => return Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Every worker ended, not all of them with a result: one panicked.
                return Err(Error::io(
                    root,
                    std::io::Error::other("a walk worker stopped unexpectedly"),
                ));
            }
        }
        if ctl.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let beats = state.sum(|s| &s.beats);
        if beats != last_beats {
            last_beats = beats;
            last_answer = Instant::now();
        } else if last_answer.elapsed() >= ctl.timeout {
            let what = state
                .stuck()
                .unwrap_or_else(|| format!("폴더 목록 {}", root.display()));
            tracing::warn!(
                "NAS 응답 없음: {what} ({} s) / the share did not answer; the walk stops",
                ctl.timeout.as_secs()
            );
            return Err(Error::ShareTimeout {
                what,
                secs: ctl.timeout.as_secs(),
            });
        }
        if let Some(cb) = ctl.progress
            && last_progress.elapsed() >= PROGRESS_EVERY
        {
            last_progress = Instant::now();
            cb(&snapshot(&state, ctl.started));
        }
    }
    if let Some(cb) = ctl.progress {
        cb(&snapshot(&state, ctl.started));
    }
    if ctl.cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    Ok(merged)
}

fn snapshot(state: &State, started: Instant) -> ScanProgress {
    let files = state.sum(|s| &s.files);
    let elapsed = started.elapsed();
    ScanProgress {
        dirs: state.sum(|s| &s.dirs),
        files,
        current_dir: state.current.lock().map(|c| c.clone()).unwrap_or_default(),
        elapsed_ms: elapsed.as_millis() as u64,
        files_per_sec: if elapsed.as_secs_f64() > 0.0 {
            files as f64 / elapsed.as_secs_f64()
        } else {
            0.0
        },
    }
}

/// One walk thread: take a directory, list it, push its subdirectories, until the tree is done
/// (then send what it found) or the coordinator stopped (then send nothing).
fn worker(state: &State, idx: usize, tx: &mpsc::Sender<Msg>) {
    let mut part = Part::default();
    let mut children: Vec<Job> = Vec::new();
    let Ok(mut q) = state.queue.lock() else {
        return;
    };
    loop {
        // One critical section per directory: the last one's children in, the next job out.
        let job = loop {
            if state.stop.load(Ordering::SeqCst) {
                return;
            }
            if let Some(job) = q.jobs.pop() {
                break job;
            }
            if q.pending == 0 {
                drop(q);
                let _ = tx.send(Msg::Done(part));
                return;
            }
            q.idle += 1;
            q = match state.ready.wait(q) {
                Ok(q) => q,
                Err(_) => return,
            };
            q.idle -= 1;
        };
        drop(q);
        let res = list_dir(state, idx, job, &mut part, &mut children);
        if state.stop.load(Ordering::SeqCst) {
            // The coordinator has left (a timeout, a cancel, another failure): nothing found
            // from here on matters.
            return;
        }
        if let Err(e) = res {
            let _ = tx.send(Msg::Failed(e));
            return;
        }
        q = match state.queue.lock() {
            Ok(q) => q,
            Err(_) => return,
        };
        let n = children.len();
        q.pending += n;
        q.jobs.append(&mut children);
        q.pending -= 1;
        if q.idle > 0 {
            if q.pending == 0 {
                state.ready.notify_all();
            } else {
                // This worker takes one of the new jobs itself.
                for _ in 0..n.saturating_sub(1).min(q.idle) {
                    state.ready.notify_one();
                }
            }
        }
    }
}

fn offline_root(root: &Path, e: &std::io::Error, during: bool) -> Error {
    if during {
        offline(format!(
            "NAS 공유 폴더 목록을 읽는 중 오류 / error while listing the archive root {}: {e}. Nothing was changed.",
            root.display()
        ))
    } else {
        offline(format!(
            "NAS 공유 폴더 목록을 읽을 수 없습니다 / cannot list the archive root {}: {e}. Nothing was changed.",
            root.display()
        ))
    }
}

/// List one directory: its files into `part`, its subdirectories into `children`. Files are
/// stat'ed through the listing ([`list::Entry::size_mtime`]: an `fstatat` of the bare name on
/// Unix, the listing's own data on Windows); symlinks are never followed. Only a failure at the root is an
/// error; elsewhere an unreadable directory is recorded and its known files are kept.
fn list_dir(
    state: &State,
    idx: usize,
    job: Job,
    part: &mut Part,
    children: &mut Vec<Job>,
) -> Result<()> {
    let Job { dir, level } = job;
    let slot = &state.slots[idx];
    let path = names::join_rel(&state.root, &dir);
    if level != Level::Root {
        part.dirs += 1;
        slot.dirs.store(part.dirs, Ordering::Relaxed);
    }
    // Progress only: skipped when the coordinator is reading it.
    if let Ok(mut c) = state.current.try_lock() {
        c.clone_from(&dir);
    }
    if let Ok(mut d) = slot.dir.lock() {
        d.clone_from(&dir);
    }
    let mut beats = slot.beats.load(Ordering::Relaxed);
    let mut beat = || {
        beats += 1;
        slot.beats.store(beats, Ordering::Relaxed);
    };
    let set_busy = |busy: bool| slot.busy.store(busy, Ordering::Relaxed);
    set_busy(true);
    fault::before(&path);
    let listing = list::read_dir(&path);
    beat();
    let listing = match listing {
        Ok(l) => l,
        Err(e) => {
            set_busy(false);
            match level {
                Level::Root => return Err(offline_root(&state.root, &e, false)),
                Level::Top => part.top_unreadable += 1,
                Level::Inner => {}
            }
            unreadable_dir(part, dir, &e);
            return Ok(());
        }
    };
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut files_here = 0u64;
    for (n, entry) in listing.enumerate() {
        beat();
        if n % 256 == 255 && state.stop.load(Ordering::Relaxed) {
            break;
        }
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                if level == Level::Root {
                    set_busy(false);
                    return Err(offline_root(&state.root, &e, true));
                }
                // The listing broke off: keep whatever archive.db knows below this directory.
                unreadable_dir(part, dir.clone(), &e);
                break;
            }
        };
        let os_name = entry.file_name();
        let Some(name) = os_name.to_str() else {
            part.issues.push(ScanIssue {
                path: format!("{prefix}{}", os_name.to_string_lossy()),
                kind: IssueKind::InvalidName,
                message: "name is not valid UTF-8; skipped".into(),
            });
            continue;
        };
        let mut rel = String::with_capacity(prefix.len() + name.len());
        rel.push_str(&prefix);
        rel.push_str(name);
        if state.ignore.is_ignored(&rel, name) {
            continue;
        }
        let kind = match entry.kind() {
            Ok(kind) => kind,
            Err(e) => {
                // Unknown type (e.g. a CIFS entry whose lstat failed): treat it as an unreadable
                // directory, so whatever archive.db knows under it is kept.
                if level == Level::Root {
                    part.top_level_dirs += 1;
                    part.top_unreadable += 1;
                }
                unreadable_dir(part, rel, &e);
                continue;
            }
        };
        if kind == EntryKind::Dir {
            let level = if level == Level::Root {
                part.top_level_dirs += 1;
                Level::Top
            } else {
                Level::Inner
            };
            children.push(Job { dir: rel, level });
        } else if kind == EntryKind::File {
            match entry.size_mtime() {
                Ok((size, mtime)) => {
                    part.files.push(WalkedFile {
                        path: rel,
                        size,
                        mtime,
                    });
                    files_here += 1;
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
    set_busy(false);
    slot.files.fetch_add(files_here, Ordering::Relaxed);
    Ok(())
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

/// Run `f` (blocking calls on the share) on a thread of its own and wait for its answer at
/// most `timeout`, looking at `cancel` every tick. On a timeout or a cancel the thread is left
/// behind: it ends when its call returns, and its answer is dropped.
pub(crate) fn on_share<T: Send + 'static>(
    what: String,
    timeout: Duration,
    cancel: &AtomicBool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    let (tx, rx) = mpsc::sync_channel::<T>(1);
    std::thread::Builder::new()
        .name("nas-share-check".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| Error::io(PathBuf::new(), e))?;
    let started = Instant::now();
    loop {
        match rx.recv_timeout(TICK) {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::io(
                    PathBuf::new(),
                    std::io::Error::other(format!("{what}: the check stopped unexpectedly")),
                ));
            }
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        if started.elapsed() >= timeout {
            tracing::warn!(
                "NAS 응답 없음: {what} ({} s) / the share did not answer",
                timeout.as_secs()
            );
            return Err(Error::ShareTimeout {
                what,
                secs: timeout.as_secs(),
            });
        }
    }
}

/// Fault injection for tests: make a call on the share hang. A local disk cannot be made to
/// hang like a stopped SMB server, so a test holds a path and every share call the walk or the
/// root checks make on exactly that path blocks until the hold is released (or dropped). Costs
/// one relaxed load per directory when nothing is held.
#[doc(hidden)]
pub mod fault {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};

    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
        hits: AtomicUsize,
    }

    static HELD: AtomicUsize = AtomicUsize::new(0);
    static GATES: Mutex<Vec<(PathBuf, Arc<Gate>)>> = Mutex::new(Vec::new());

    /// A held path; calls on it block until [`Hold::release`] or drop.
    pub struct Hold {
        gate: Arc<Gate>,
    }

    /// Make every share call on `path` (as the walker builds it: root joined with the
    /// relative directory) block from now on.
    pub fn hold(path: impl Into<PathBuf>) -> Hold {
        let gate = Arc::new(Gate::default());
        if let Ok(mut g) = GATES.lock() {
            g.push((path.into(), Arc::clone(&gate)));
        }
        HELD.fetch_add(1, Ordering::SeqCst);
        Hold { gate }
    }

    impl Hold {
        /// How many calls reached the held path.
        pub fn hits(&self) -> usize {
            self.gate.hits.load(Ordering::SeqCst)
        }

        /// Let blocked and later calls through.
        pub fn release(self) {}
    }

    impl Drop for Hold {
        fn drop(&mut self) {
            if let Ok(mut g) = GATES.lock() {
                g.retain(|(_, gate)| !Arc::ptr_eq(gate, &self.gate));
            }
            HELD.fetch_sub(1, Ordering::SeqCst);
            if let Ok(mut open) = self.gate.open.lock() {
                *open = true;
            }
            self.gate.opened.notify_all();
        }
    }

    /// Called before each share call on `path`.
    pub(crate) fn before(path: &Path) {
        if HELD.load(Ordering::Relaxed) == 0 {
            return;
        }
        let gate = GATES.lock().ok().and_then(|g| {
            g.iter()
                .find(|(p, _)| p == path)
                .map(|(_, g)| Arc::clone(g))
        });
        let Some(gate) = gate else { return };
        gate.hits.fetch_add(1, Ordering::SeqCst);
        let Ok(mut open) = gate.open.lock() else {
            return;
        };
        while !*open {
            open = match gate.opened.wait(open) {
                Ok(o) => o,
                Err(_) => return,
            };
        }
    }
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
