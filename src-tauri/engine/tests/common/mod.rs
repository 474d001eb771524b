//! The engine tests' one kit: a share folder, archive.db and pokervod.db in a temp dir with a
//! Config pointing at them (probing off: these files are not media; `settle_secs` 0: a file is
//! published as soon as a sync sees it), files written with
//! distinct mtimes, a fixed clock, and sync/scan calls that wait for their checkpoints.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use chrono::{TimeZone, Utc};
use nas_sync_engine::Config;
use nas_sync_engine::archive::Archive;
use nas_sync_engine::clock::{FixedClock, SystemClock};
use nas_sync_engine::runtime::settings::SettingsStore;
use nas_sync_engine::runtime::{LogHub, Monitor, MonitorOptions};
use nas_sync_engine::scan::{self, ScanOptions};
use nas_sync_engine::sync::{self, SyncOptions, SyncReport};

pub struct Env {
    dir: tempfile::TempDir,
    pub root: PathBuf,
    pub archive: PathBuf,
    pub target: PathBuf,
    pub cfg: Config,
}

pub fn env() -> Env {
    env_with(|_| {})
}

/// [`env`] with `f` applied to its Config.
pub fn env_with(f: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("share");
    fs::create_dir_all(&root).expect("share");
    // The databases in a folder of their own (a test can see that nothing else was written).
    let dbs = dir.path().join("db");
    fs::create_dir_all(&dbs).expect("db folder");
    let archive = dbs.join("archive.db");
    let target = dbs.join("pokervod.db");
    let mut cfg = Config {
        root: Some(root.clone()),
        archive_db: Some(archive.clone()),
        target_db: Some(target.clone()),
        probe_media: false,
        // Most tests write a file and sync at once: publish without waiting for it to settle.
        // The tests of held-back copies (settle.rs) set `settle_secs` themselves.
        settle_secs: 0,
        ..Config::default()
    };
    f(&mut cfg);
    Env {
        dir,
        root,
        archive,
        target,
        cfg,
    }
}

impl Env {
    /// The temp dir holding the share (`share/`) and the databases (`db/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Write `body` at `rel` under `root`, creating folders.
pub fn put(root: &Path, rel: &str, body: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
    fs::write(p, body).expect("write");
}

/// A distinct mtime per written file, so size+mtime move pairing is never ambiguous by accident
/// and `sort=mtime` has a known order.
static NEXT_MTIME: AtomicI64 = AtomicI64::new(1_700_000_000);

pub fn fresh_mtime() -> i64 {
    NEXT_MTIME.fetch_add(100, Ordering::Relaxed)
}

/// Write `body` at `rel` (creating folders) with mtime `mtime`.
pub fn put_bytes_at(root: &Path, rel: &str, body: &[u8], mtime: i64) {
    write_at(&root.join(rel), body, mtime);
}

/// Write `body` at the path `p` (creating folders) with mtime `mtime` (seconds, ≥ 0).
pub fn write_at(p: &Path, body: &[u8], mtime: i64) {
    if let Some(dir) = p.parent() {
        fs::create_dir_all(dir).expect("create parent dirs");
    }
    fs::write(p, body).expect("write file");
    set_mtime(p, mtime);
}

/// Set the mtime of the file at `p` (seconds since the epoch, ≥ 0).
pub fn set_mtime(p: &Path, secs: i64) {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).expect("positive mtime"));
    fs::File::options()
        .write(true)
        .open(p)
        .expect("open file to set mtime")
        .set_modified(t)
        .expect("set mtime");
}

/// Write `body` at `rel` with a fresh, unique mtime; returns the mtime.
pub fn put_bytes(root: &Path, rel: &str, body: &[u8]) -> i64 {
    let mtime = fresh_mtime();
    put_bytes_at(root, rel, body, mtime);
    mtime
}

/// `size` bytes of a pattern.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Write `size` bytes of a pattern at `rel` with a fresh, unique mtime; returns the mtime.
pub fn put_sized(root: &Path, rel: &str, size: usize) -> i64 {
    put_bytes(root, rel, &pattern(size))
}

/// Write `size` bytes of a pattern at `rel` with mtime `mtime`.
pub fn put_at(root: &Path, rel: &str, size: usize, mtime: i64) {
    put_bytes_at(root, rel, &pattern(size), mtime);
}

/// A small real media file from `fixtures/media`.
pub fn media_fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/media")
        .join(name);
    fs::read(&p).unwrap_or_else(|e| panic!("read fixture {}: {e}", p.display()))
}

pub fn mv(root: &Path, from: &str, to: &str) {
    let dst = root.join(to);
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir).expect("create destination dirs");
    }
    fs::rename(root.join(from), dst).expect("rename");
}

pub fn rm(root: &Path, rel: &str) {
    fs::remove_file(root.join(rel)).expect("remove file");
}

/// 2024-05-01 at `hour`:00 UTC.
pub fn clock(hour: u32) -> FixedClock {
    FixedClock(
        Utc.with_ymd_and_hms(2024, 5, 1, hour, 0, 0)
            .single()
            .expect("valid time"),
    )
}

/// [`clock`]'s time as ISO 8601.
pub fn iso_at(hour: u32) -> String {
    format!("2024-05-01T{hour:02}:00:00Z")
}

/// A sync at `hour`; the Target's background checkpoint is waited for (as a process does
/// before it exits), so tests may compare the file's bytes afterwards.
pub fn sync_with(cfg: &Config, hour: u32, opts: SyncOptions<'_>) -> SyncReport {
    let r = sync::run_sync(cfg, &clock(hour), opts).expect("sync runs");
    nas_sync_engine::target::finish_checkpoints();
    r
}

/// A sync of `cfg` at `hour` that must apply without refusal or row errors.
pub fn sync_cfg(cfg: &Config, hour: u32) -> SyncReport {
    let r = sync_with(cfg, hour, SyncOptions::default());
    assert!(r.refused.is_none(), "unexpected refusal: {:?}", r.refused);
    assert!(r.errors.is_empty(), "unexpected errors: {:?}", r.errors);
    r
}

/// [`sync_cfg`] of the env's Config.
pub fn sync_at(e: &Env, hour: u32) -> SyncReport {
    sync_cfg(&e.cfg, hour)
}

/// Scan only: archive.db learns about the share, the Target stays as it is.
pub fn scan_only(e: &Env, hour: u32) {
    let mut a = Archive::open(&e.archive).expect("open archive.db");
    scan::run_scan(&e.cfg, &mut a, &clock(hour), ScanOptions::default()).expect("scan");
}

/// A settings file next to the env's databases holding its Config, and a monitor over that
/// Config without a schedule (the hosts' settings and admin paths run against both).
pub fn settings_and_monitor(e: &Env) -> (SettingsStore, Monitor) {
    let store = SettingsStore::new(e.dir().join("nas-sync.toml"));
    store.save(&e.cfg).expect("first save");
    let m = Monitor::new(
        e.cfg.clone(),
        std::sync::Arc::new(SystemClock),
        LogHub::new(),
        MonitorOptions {
            schedule: false,
            ..MonitorOptions::default()
        },
    );
    (store, m)
}

/// The Target's owner refuses rows for `path` (a trigger of theirs, `owner says no`), until
/// [`target_accepts`].
#[allow(dead_code)]
pub fn target_refuses(target: &Path, path: &str) {
    rusqlite::Connection::open(target)
        .expect("open Target")
        .execute_batch(&format!(
            "CREATE TRIGGER owner_says_no BEFORE INSERT ON files WHEN new.nas_path = '{path}'
             BEGIN SELECT RAISE(ABORT, 'owner says no'); END;"
        ))
        .expect("trigger");
}

/// The owner lifts [`target_refuses`]'s trigger.
#[allow(dead_code)]
pub fn target_accepts(target: &Path) {
    rusqlite::Connection::open(target)
        .expect("open Target")
        .execute_batch("DROP TRIGGER owner_says_no;")
        .expect("drop trigger");
}
