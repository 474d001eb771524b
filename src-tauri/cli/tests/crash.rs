//! Crash safety (issue 2, "Safety"): `kill -9` at any instant of a sync leaves pokervod.db passing
//! `PRAGMA integrity_check` with no duplicate rows, and the next run converges to exactly the
//! state an uninterrupted run produces.
//!
//! One test, black-box through the CLI binary:
//! 1. a tree of 52,000 small files (8 catalogs; mp4/mov mostly, some mxf/mkv/ts/srt; duplicate
//!    names across catalogs; Korean names), synced twice so pokervod.db also holds soft-deleted
//!    rows; then the tree is changed so the next sync has every kind of Target event (added,
//!    updated, moved, restored, deleted, a primary lost in a duplicate group and its row
//!    re-pointed, a primary moved) and the databases are snapshotted;
//! 2. the reference: one uninterrupted `sync` from the snapshot, timed from the outside (when
//!    archive.db and pokervod.db are first written, from their `-wal` or `-journal` files: the
//!    Target is in SQLite's default rollback-journal mode, which the sync keeps) and from its `-v`
//!    log (`scan committed`, `sync applied`);
//! 3. 24 trials: restore the snapshot, spawn `sync`, SIGKILL it, check pokervod.db
//!    (`integrity_check`, no duplicate `nas_path`), re-run to completion and compare pokervod.db
//!    and archive.db's files with the reference, then check that one more run changes nothing.
//!    The kill moments come from a seeded PRNG, in three kinds of eight: anywhere in the run;
//!    within the scan's commit to archive.db; from the first write to pokervod.db to the exit
//!    (the Target transaction and commit, the bookkeeping in archive.db, the fingerprints).
//!
//! Each trial is classified by the Target state right after the kill: equal to the snapshot
//! (killed before the Target commit), equal to the reference (after it), or anything else
//! ("partial": allowed by the spec as long as the re-run converges). The summary line (run with
//! `--nocapture`) gives the counts and the run time. A typical run on 2 cores, debug build,
//! tree on tmpfs: 15 kills before the Target commit, 9 after it (3 of them between the Target
//! commit and the bookkeeping in archive.db), 0 partial; about 2 minutes in all.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use rusqlite::Connection;
use serde_json::Value;

const CATALOGS: [&str; 8] = [
    "APT",
    "EPT",
    "GGMillions",
    "HCL",
    "PAD",
    "Triton",
    "WPT",
    "WSOP",
];
const DIRS_PER_CATALOG: usize = 65;
const FILES_PER_DIR: usize = 100;
const TRIALS: u64 = 24;
/// mtimes of the initial tree: BASE + global index, so every (size, mtime) pair is unique and
/// every move pairs unambiguously.
const BASE_MTIME: u64 = 1_600_000_000;
/// mtimes of files created by the mutation (never equal to an initial file's).
const NEW_MTIME: u64 = 1_700_000_000;

// ------------------------------------------------------------------------------------------
// A tiny deterministic PRNG (splitmix64).
// ------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ------------------------------------------------------------------------------------------
// The tree
// ------------------------------------------------------------------------------------------

fn write_file(path: &Path, size: usize, mtime: u64) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).expect("create directory");
    }
    let mut f = fs::File::create(path).expect("create file");
    f.write_all(&vec![b'x'; size]).expect("write file");
    f.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
        .expect("set mtime");
}

fn dir_of(cat: &str, d: usize) -> String {
    format!("{cat}/{}/Event_{d:03}", 2010 + d % 12)
}

/// The name of file `k` in directory `d` of catalog `cat`.
fn file_name(cat: &str, d: usize, k: usize) -> String {
    match k {
        // Unique names, mostly mp4, every fifth a mov.
        0..80 if k.is_multiple_of(5) => format!("{cat}_E{d:03}_Hand_{k:03}.mov"),
        0..80 => format!("{cat}_E{d:03}_Hand_{k:03}.mp4"),
        // The same name in every catalog: duplicate groups of 8.
        80..88 => format!("Final_Table_{d:03}_{k}.mp4"),
        88..92 => format!("{cat}_E{d:03}_Raw_{k}.mxf"),
        92..96 => format!("{cat}_E{d:03}_Hand_{k:03}.srt"),
        96 => format!("{cat}_E{d:03}_Feed.mkv"),
        97 => format!("{cat}_E{d:03}_Feed.ts"),
        // Korean names, unique.
        _ => format!("{cat}_{d:03}_메인이벤트_{k}.mp4"),
    }
}

fn rel(cat_i: usize, d: usize, k: usize) -> String {
    let cat = CATALOGS[cat_i];
    format!("{}/{}", dir_of(cat, d), file_name(cat, d, k))
}

fn index(cat_i: usize, d: usize, k: usize) -> u64 {
    ((cat_i * DIRS_PER_CATALOG + d) * FILES_PER_DIR + k) as u64
}

fn build_tree(root: &Path) -> usize {
    let mut n = 0;
    for (c, cat) in CATALOGS.iter().enumerate() {
        for d in 0..DIRS_PER_CATALOG {
            fs::create_dir_all(root.join(dir_of(cat, d))).expect("create directory");
            for k in 0..FILES_PER_DIR {
                let i = index(c, d, k);
                write_file(
                    &root.join(rel(c, d, k)),
                    1 + (i % 97) as usize,
                    BASE_MTIME + i,
                );
                n += 1;
            }
        }
    }
    n
}

/// Files removed between the two initial syncs (their rows become `deleted`); most come back
/// in the mutation, which restores their rows.
fn soft_deleted(d: usize) -> Option<usize> {
    (d % 4 == 1).then_some(10)
}

fn first_removal(root: &Path) -> usize {
    let mut n = 0;
    for c in 0..CATALOGS.len() {
        for d in 0..DIRS_PER_CATALOG {
            if let Some(k) = soft_deleted(d) {
                fs::remove_file(root.join(rel(c, d, k))).expect("remove file");
                n += 1;
            }
        }
    }
    n
}

#[derive(Default, Debug)]
struct Mutation {
    restored: usize,
    moved: usize,
    renamed: usize,
    to_mxf: usize,
    deleted: usize,
    added: usize,
    modified: usize,
    primaries_lost: usize,
    primaries_moved: usize,
}

/// Change the tree so that the next sync has every kind of Target event.
fn mutate(root: &Path) -> Mutation {
    let mut m = Mutation::default();
    let mut fresh = 0u64;
    let mut new_mtime = || {
        fresh += 1;
        NEW_MTIME + fresh
    };
    for (c, &cat) in CATALOGS.iter().enumerate() {
        for d in 0..DIRS_PER_CATALOG {
            let dir = root.join(dir_of(cat, d));
            // Restore: the file removed before the second initial sync comes back at its path
            // (3 of 4), with new content.
            if let Some(k) = soft_deleted(d)
                && (c + d) % 4 != 0
            {
                write_file(&root.join(rel(c, d, k)), 7, new_mtime());
                m.restored += 1;
            }
            // Moves within the catalog to the next event's folder: one keeps its name, one is
            // renamed on the way.
            let to = root.join(dir_of(cat, (d + 1) % DIRS_PER_CATALOG));
            fs::rename(root.join(rel(c, d, 1)), to.join(file_name(cat, d, 1))).expect("move file");
            fs::rename(
                root.join(rel(c, d, 2)),
                to.join(format!("moved_{}", file_name(cat, d, 2))),
            )
            .expect("move and rename file");
            m.moved += 2;
            // A move to another catalog with a new name.
            {
                let other = CATALOGS[(c + 3) % CATALOGS.len()];
                let to = root.join(format!("{other}/Imported/{cat}_{d:03}"));
                fs::create_dir_all(&to).expect("create directory");
                fs::rename(
                    root.join(rel(c, d, 3)),
                    to.join(format!("renamed clip {cat} {d} (final).mp4")),
                )
                .expect("move and rename file");
                m.renamed += 1;
            }
            // Renamed to an ineligible extension: its row is soft-deleted.
            if d % 5 == 0 {
                let from = root.join(rel(c, d, 4));
                fs::rename(&from, from.with_extension("mxf")).expect("rename to mxf");
                m.to_mxf += 1;
            }
            // Deletions.
            for k in [6, 7] {
                fs::remove_file(root.join(rel(c, d, k))).expect("delete file");
                m.deleted += 1;
            }
            fs::remove_file(root.join(rel(c, d, 90))).expect("delete mxf");
            // Size modifications (rewritten, so the mtime changes too).
            for k in [8, 9] {
                write_file(&root.join(rel(c, d, k)), 200 + k, new_mtime());
                m.modified += 1;
            }
            // Additions: new mp4/mov/srt next to the old ones.
            for j in 0..3 {
                let ext = ["mp4", "mov", "srt"][j];
                write_file(
                    &dir.join(format!("{cat}_E{d:03}_New_{j}.{ext}")),
                    11 + j,
                    new_mtime(),
                );
                m.added += 1;
            }
        }
        // A whole new event folder.
        for j in 0..40 {
            write_file(
                &root.join(format!("{cat}/2024/Event_NEW/{cat}_New_Event_{j:02}.mp4")),
                50 + j,
                new_mtime(),
            );
            m.added += 1;
        }
    }
    // Duplicate groups `Final_Table_{d}_{k}.mp4` have one member per catalog; the primary is
    // the smallest path, i.e. the one in APT. Lose it in some groups (its row is re-pointed to
    // the next member), move it in others (it stays primary), and add a new member elsewhere.
    for d in 0..DIRS_PER_CATALOG {
        if d % 3 == 0 {
            fs::remove_file(root.join(rel(0, d, 80))).expect("delete primary");
            m.primaries_lost += 1;
        }
        if d % 3 == 1 {
            let to = root.join("APT/Moved_Primaries");
            fs::create_dir_all(&to).expect("create directory");
            fs::rename(
                root.join(rel(0, d, 81)),
                to.join(format!("{d:03}_{}", file_name("APT", d, 81))),
            )
            .expect("move primary");
            m.primaries_moved += 1;
        }
        write_file(
            &root.join(format!("WSOP/Extra/{}", file_name("WSOP", d, 82))),
            3,
            new_mtime(),
        );
        m.added += 1;
    }
    m
}

// ------------------------------------------------------------------------------------------
// Databases
// ------------------------------------------------------------------------------------------

struct Paths {
    config: PathBuf,
    archive: PathBuf,
    target: PathBuf,
    snap_archive: PathBuf,
    snap_target: PathBuf,
}

fn checkpoint(db: &Path) {
    let c = Connection::open(db).expect("open db for checkpoint");
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("wal_checkpoint");
}

/// `-wal`, `-shm` (WAL mode: archive.db) and `-journal` (rollback mode: pokervod.db).
fn sidecars(db: &Path) -> [PathBuf; 3] {
    let s = db.as_os_str().to_owned();
    let mut wal = s.clone();
    wal.push("-wal");
    let mut shm = s.clone();
    shm.push("-shm");
    let mut journal = s;
    journal.push("-journal");
    [
        PathBuf::from(wal),
        PathBuf::from(shm),
        PathBuf::from(journal),
    ]
}

/// Copy `from` (checkpointed, so its -wal is empty) over `to`, dropping `to`'s -wal, -shm and
/// -journal (a journal left by a killed run belongs to the database it was killed on).
fn copy_db(from: &Path, to: &Path) {
    for p in sidecars(to) {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove {}: {e}", p.display()),
        }
    }
    fs::copy(from, to).expect("copy database");
}

fn snapshot(p: &Paths) {
    checkpoint(&p.archive);
    checkpoint(&p.target);
    copy_db(&p.archive, &p.snap_archive);
    copy_db(&p.target, &p.snap_target);
}

fn restore(p: &Paths) {
    copy_db(&p.snap_archive, &p.archive);
    copy_db(&p.snap_target, &p.target);
}

type TargetState = Vec<(i64, String, String, String, String, i64, i64, String)>;

fn target_state(db: &Path) -> TargetState {
    let c = Connection::open(db).expect("open pokervod.db");
    let mut s = c
        .prepare(
            "SELECT id, nas_path, filename, catalog, format, size_bytes, hls_compatible, status
             FROM files ORDER BY id",
        )
        .expect("prepare Target state");
    s.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })
    .expect("query Target state")
    .collect::<rusqlite::Result<_>>()
    .expect("read Target state")
}

type SourceState = Vec<(i64, String, i64, i64, i64, Option<i64>, Option<i64>)>;

/// archive.db's files as the sync leaves them (identity, metadata, fingerprint, Target link).
fn source_state(db: &Path) -> SourceState {
    let c = Connection::open(db).expect("open archive.db");
    let mut s = c
        .prepare(
            "SELECT f.id, f.path, f.size, f.mtime, f.first_seen, f.fingerprint, l.target_id
             FROM files f LEFT JOIN links l ON l.file_id = f.id ORDER BY f.id",
        )
        .expect("prepare Source state");
    s.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .expect("query Source state")
    .collect::<rusqlite::Result<_>>()
    .expect("read Source state")
}

/// file_history as a multiset of (event, path, old_path, target_id): times and run ids excluded.
fn history(db: &Path) -> BTreeMap<(String, String, Option<String>, Option<i64>), usize> {
    let c = Connection::open(db).expect("open archive.db");
    let mut s = c
        .prepare("SELECT event, path, old_path, target_id FROM file_history")
        .expect("prepare history");
    let mut out = BTreeMap::new();
    let rows = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query history");
    for row in rows {
        *out.entry(row.expect("history row")).or_insert(0) += 1;
    }
    out
}

fn integrity(db: &Path) -> String {
    let c = Connection::open(db).expect("open db for integrity_check");
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

fn duplicate_paths(db: &Path) -> Vec<(String, i64)> {
    let c = Connection::open(db).expect("open pokervod.db");
    let mut s = c
        .prepare("SELECT nas_path, COUNT(*) FROM files GROUP BY nas_path HAVING COUNT(*) > 1")
        .expect("prepare duplicate check");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query duplicates")
        .collect::<rusqlite::Result<_>>()
        .expect("read duplicates")
}

// ------------------------------------------------------------------------------------------
// Running the CLI
// ------------------------------------------------------------------------------------------

fn cli(p: &Paths) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nas-sync"));
    cmd.arg("--config")
        .arg(&p.config)
        .args(["--json", "-v", "sync"])
        .env_remove("NAS_SYNC_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Run `sync` to completion; its JSON report.
fn sync_ok(p: &Paths, what: &str) -> Value {
    let out = cli(p).output().expect("run nas-sync");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: nas-sync sync failed ({:?})\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("sync --json prints one JSON document")
}

fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` missing in {report}"))
}

fn changes(report: &Value) -> [u64; 5] {
    ["added", "updated", "moved", "restored", "deleted"].map(|k| count(report, k))
}

/// How far a spawned sync got, from its `-v` log lines (received after the process ended, so
/// every line it wrote is seen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Scanning,
    ScanCommitted,
    SyncApplied,
    Exited,
}

struct Run {
    /// When archive.db / pokervod.db were first written, the scan committed, the sync was
    /// applied and the process ended, from spawn.
    archive_written: Option<Duration>,
    target_written: Option<Duration>,
    scan_committed: Option<Duration>,
    sync_applied: Option<Duration>,
    ended: Duration,
    stage: Stage,
}

/// When to SIGKILL a spawned sync.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// Let it finish.
    Never,
    /// This long after the spawn.
    After(Duration),
    /// This long after the first write to archive.db (the scan's commit).
    AfterArchiveWrite(Duration),
    /// This long after the first write to pokervod.db (the Target transaction).
    AfterTargetWrite(Duration),
}

/// Whether `db` has been written since it was opened. WAL: its `-wal` file, created empty when
/// the sync opens the database, grows when the first writing transaction spills or commits.
/// Rollback journal: the `-journal` file appears when the transaction first changes a page.
fn written(db: &Path) -> bool {
    let [wal, _, journal] = sidecars(db);
    fs::metadata(wal).is_ok_and(|m| m.len() > 0) || journal.exists()
}

/// Spawn `sync` and kill it as `kill` says.
fn spawn_sync(p: &Paths, kill: Kill) -> Run {
    let start = Instant::now();
    let mut child = cli(p)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nas-sync");
    let stderr = child.stderr.take().expect("stderr pipe");
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let log = thread::spawn(move || {
        let mut scan = None;
        let mut applied = None;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("scan committed") {
                scan = Some(start.elapsed());
            }
            if line.contains("sync applied") {
                applied = Some(start.elapsed());
            }
        }
        (scan, applied)
    });
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    // Poll (there is no other way to see a write from outside the process) until the child
    // exits or it is time to kill it; note when each database was first written.
    let mut archive_written = None;
    let mut target_written = None;
    loop {
        if child.try_wait().expect("poll nas-sync").is_some() {
            break;
        }
        let now = start.elapsed();
        if archive_written.is_none() && written(&p.archive) {
            archive_written = Some(now);
        }
        if target_written.is_none() && written(&p.target) {
            target_written = Some(now);
        }
        let due = match kill {
            Kill::Never => None,
            Kill::After(d) => Some(d),
            Kill::AfterArchiveWrite(d) => archive_written.map(|t| t + d),
            Kill::AfterTargetWrite(d) => target_written.map(|t| t + d),
        };
        if let Some(due) = due {
            if now >= due {
                // SIGKILL on Unix; a child that just exited (not yet reaped) is not an error.
                child.kill().expect("kill nas-sync");
                break;
            }
            let left = due - now;
            if left < Duration::from_millis(1) {
                thread::sleep(left);
                continue;
            }
        }
        thread::sleep(Duration::from_micros(250));
    }
    let status = child.wait().expect("wait for nas-sync");
    let ended = start.elapsed();
    let (scan_committed, sync_applied) = log.join().expect("stderr reader");
    let stdout = out.join().expect("stdout reader");
    let stage = if status.success() {
        Stage::Exited
    } else if sync_applied.is_some() {
        Stage::SyncApplied
    } else if scan_committed.is_some() {
        Stage::ScanCommitted
    } else {
        Stage::Scanning
    };
    if matches!(kill, Kill::Never) {
        assert!(
            status.success(),
            "nas-sync sync failed: {status:?} {stdout}"
        );
    }
    Run {
        archive_written,
        target_written,
        scan_committed,
        sync_applied,
        ended,
        stage,
    }
}

// ------------------------------------------------------------------------------------------
// The test
// ------------------------------------------------------------------------------------------

/// Where the tree and the databases live. Creating 52,000 files costs about 1 ms each on some
/// virtual disks (tens of seconds) and a few µs on tmpfs, so use /dev/shm when it has room.
/// `kill -9` does not lose the page cache on any file system, so tmpfs changes nothing in what
/// is tested (power loss is another matter and not what the spec asks).
fn work_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let roomy = shm.is_dir()
        && Command::new("df")
            .args(["-Pk", "/dev/shm"])
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let line = text.lines().nth(1)?.to_string();
                line.split_whitespace().nth(3)?.parse::<u64>().ok()
            })
            .is_some_and(|kib| kib > 2 * 1024 * 1024);
    if roomy
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("nas-sync-crash")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn kill_9_at_any_moment_of_a_sync_leaves_a_sound_target_that_converges() {
    let t0 = Instant::now();
    let tmp = work_dir();
    let root = tmp.path().join("archive");
    let paths = Paths {
        config: tmp.path().join("nas-sync.toml"),
        archive: tmp.path().join("archive.db"),
        target: tmp.path().join("pokervod.db"),
        snap_archive: tmp.path().join("snapshot-archive.db"),
        snap_target: tmp.path().join("snapshot-pokervod.db"),
    };
    fs::write(
        &paths.config,
        format!(
            "root = {:?}\narchive_db = {:?}\ntarget_db = {:?}\nmax_delete_percent = 100.0\nmax_delete_count = 1000000\n\
             # The tree holds tiny non-media files: probing them would only slow every run.\n\
             probe_media = false\n",
            root.display().to_string(),
            paths.archive.display().to_string(),
            paths.target.display().to_string(),
        ),
    )
    .expect("write config");

    // 1. The tree, two initial syncs (the second leaves soft-deleted rows), the mutation.
    let files = build_tree(&root);
    assert!(files >= 50_000, "{files} files");
    let built = t0.elapsed();
    let first = sync_ok(&paths, "initial sync");
    assert!(count(&first, "added") > 40_000, "initial sync: {first}");
    let removed = first_removal(&root);
    let second = sync_ok(&paths, "second initial sync");
    assert_eq!(
        count(&second, "deleted"),
        removed as u64,
        "second sync soft-deletes what was removed: {second}"
    );
    let mutation = mutate(&root);
    snapshot(&paths);
    let before = target_state(&paths.target);
    let prepared = t0.elapsed();

    // 2. The reference: one uninterrupted sync from the snapshot.
    let reference_run = spawn_sync(&paths, Kill::Never);
    let full = reference_run
        .sync_applied
        .expect("the reference run logs `sync applied`");
    let scan_done = reference_run
        .scan_committed
        .expect("the reference run logs `scan committed`");
    let reference = target_state(&paths.target);
    let reference_source = source_state(&paths.archive);
    let reference_history = history(&paths.archive);
    assert_ne!(before, reference, "the reference sync changes the Target");
    // The scenario really loses a primary: its row is re-pointed to the next member, same id.
    let id_at = |state: &TargetState, path: &str| {
        state
            .iter()
            .find(|r| r.1 == path && r.7 == "active")
            .map(|r| r.0)
    };
    let lost = id_at(&before, &rel(0, 0, 80)).expect("the APT member is the synced primary");
    assert_eq!(
        id_at(&reference, &rel(1, 0, 80)),
        Some(lost),
        "the lost primary's row is re-pointed to the next member of its group"
    );
    // Every kind of event happened in the reference (same numbers as its report would give).
    restore(&paths);
    let report = sync_ok(&paths, "reference report");
    let [added, updated, moved, restored, deleted] = changes(&report);
    assert!(
        added > 0 && updated > 0 && moved > 0 && restored > 0 && deleted > 0,
        "the mutation must produce every kind of Target event: {report}"
    );
    assert_eq!(
        target_state(&paths.target),
        reference,
        "the sync is deterministic"
    );
    let ended = reference_run.ended;
    let archive_written = reference_run
        .archive_written
        .expect("the reference run writes archive.db");
    let target_written = reference_run
        .target_written
        .expect("the reference run writes pokervod.db");
    // From the first Target write to the exit: the Target commit, the bookkeeping in archive.db,
    // the fingerprints of new files, the report.
    let tail = ended.saturating_sub(target_written);
    let scan_commit = scan_done.saturating_sub(archive_written);

    // 3. The trials, in three kinds: killed at a random moment of the whole run; killed at a
    // random moment of the scan's commit to archive.db (and just after); killed at a random
    // moment from the first write to pokervod.db to the exit (the Target transaction, its
    // commit, the bookkeeping in archive.db, the fingerprints).
    let mut rng = Rng(0x5EED_C0FF_EE00_2024);
    let mut landed_before = 0;
    let mut landed_after = 0;
    let mut landed_between = 0;
    // "kind/stage reached (from the log)/Target before|after|partial" → trials.
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut history_lost = Vec::new();
    let mut kills = Vec::new();
    for trial in 0..TRIALS {
        let u = rng.unit();
        let kill = match trial % 3 {
            0 => Kill::After((ended + ended / 10).mul_f64(u)),
            1 => Kill::AfterArchiveWrite((scan_commit * 2 + Duration::from_millis(10)).mul_f64(u)),
            _ => Kill::AfterTargetWrite((tail + tail / 5).mul_f64(u)),
        };
        kills.push(kill);
        restore(&paths);
        let run = spawn_sync(&paths, kill);

        assert_eq!(
            integrity(&paths.target),
            "ok",
            "trial {trial} (kill {kill:?}, {:?}): pokervod.db integrity",
            run.stage
        );
        assert_eq!(
            duplicate_paths(&paths.target),
            Vec::<(String, i64)>::new(),
            "trial {trial}: duplicate nas_path rows after the kill"
        );
        let after_kill = target_state(&paths.target);
        let landing = if after_kill == before {
            landed_before += 1;
            "before"
        } else if after_kill == reference {
            landed_after += 1;
            "after"
        } else {
            landed_between += 1;
            "partial"
        };
        let kind = ["timed", "scan-commit", "target-write"][(trial % 3) as usize];
        *outcomes
            .entry(format!("{kind}/{:?}/{landing}", run.stage))
            .or_insert(0) += 1;

        let rerun = sync_ok(&paths, &format!("trial {trial}: run after the kill"));
        assert_eq!(
            rerun["errors"].as_array().map(Vec::len),
            Some(0),
            "trial {trial}: errors in the re-run: {rerun}"
        );
        let state = target_state(&paths.target);
        if state != reference {
            let diff: Vec<_> = state
                .iter()
                .filter(|r| !reference.contains(r))
                .take(10)
                .collect();
            let missing: Vec<_> = reference
                .iter()
                .filter(|r| !state.contains(r))
                .take(10)
                .collect();
            panic!(
                "trial {trial} (kill {kill:?}, {:?}): the Target did not converge to the uninterrupted run's state.\nrows not in the reference: {diff:#?}\nreference rows missing: {missing:#?}",
                run.stage
            );
        }
        assert_eq!(
            integrity(&paths.archive),
            "ok",
            "trial {trial}: archive.db integrity"
        );
        assert_eq!(
            source_state(&paths.archive),
            reference_source,
            "trial {trial} (kill {kill:?}, {:?}): archive.db files (ids, paths, links) did not converge",
            run.stage
        );
        // Rule 6 (every applied change is in file_history) and "exactly the state an
        // uninterrupted run produces": checked after all trials, so that one report lists them.
        let hist = history(&paths.archive);
        if hist != reference_history {
            let missing: usize = reference_history
                .iter()
                .map(|(k, n)| n.saturating_sub(hist.get(k).copied().unwrap_or(0)))
                .sum();
            let extra: usize = hist
                .iter()
                .map(|(k, n)| n.saturating_sub(reference_history.get(k).copied().unwrap_or(0)))
                .sum();
            let example = reference_history
                .keys()
                .find(|k| !hist.contains_key(*k))
                .cloned();
            history_lost.push(format!(
                "trial {trial} ({kill:?}, {:?}, Target state after the kill: {landing}): {missing} events missing, {extra} extra, e.g. {example:?}",
                run.stage
            ));
        }
        let again = sync_ok(&paths, &format!("trial {trial}: second run"));
        assert_eq!(
            changes(&again),
            [0; 5],
            "trial {trial}: a second run after convergence must change nothing: {again}"
        );
    }

    let summary = format!(
        "crash test: {files} files; mutation {mutation:?}; reference sync: archive.db written at {archive_written:?}, scan committed at {scan_done:?}, \
         pokervod.db written at {target_written:?}, applied at {full:?}, exited at {ended:?}; \
         {TRIALS} kills: {landed_before} before the Target commit, {landed_after} after it, {landed_between} partial; \
         outcomes {outcomes:?}; file_history differs from the reference after {} trial(s); \
         kills {kills:?}; \
         tree built in {built:?}, prepared in {prepared:?}, total {:?}",
        history_lost.len(),
        t0.elapsed()
    );
    eprintln!("{summary}");
    assert!(
        history_lost.is_empty(),
        "file_history did not converge: the changes a killed sync applied to pokervod.db must \
         still be recorded, as an uninterrupted run records them (issue 2, rule 6 and crash \
         safety):\n{}",
        history_lost.join("\n")
    );
}
