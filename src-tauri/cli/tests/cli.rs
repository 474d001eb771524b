//! Black-box tests of the `nas-sync` binary: each test builds a real directory tree in a temp dir,
//! runs the built binary with `std::process::Command` and inspects the real SQLite files
//! (archive.db, pokervod.db) with rusqlite and the `--json` output with serde_json.
//!
//! The contract under test is the CLI section of the spec (issue 2): exit codes 0 applied,
//! 1 error, 2 usage, 3 a safety guard refused; `--json` prints exactly one JSON document.
//!
//! Unix-only (permissions through `setpriv`, Unix metadata); on Windows the CLI runs under Wine
//! in scripts/windows-test.sh.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use serde_json::Value;

mod common;
use common::{BIN, count};
const SETPRIV: &str = "/usr/bin/setpriv";
/// `nobody`: the unprivileged user the permission tests run the CLI as when the tests run as root.
const NOBODY: u32 = 65534;
/// A CLI run that takes longer than this is a hang, not a slow run.
const DEADLINE: Duration = Duration::from_secs(120);

/// The Target table exactly as the spec defines it.
const SPEC_TARGET_DDL: &str = "CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    nas_path TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    catalog TEXT NOT NULL,
    format TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    hls_compatible INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','deleted')),
    codec TEXT,
    width INTEGER,
    height INTEGER,
    duration_sec REAL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
)";

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// Who runs the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The test process's own user.
    Me,
    /// uid/gid 65534 through `setpriv` (used when the tests run as root, which ignores chmod).
    Nobody,
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    /// The whole of stdout parsed as exactly one JSON document.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not exactly one JSON document ({e})\nstdout: {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    fn assert_code(&self, code: i32, what: &str) -> &Run {
        assert_eq!(
            self.code, code,
            "{what}: unexpected exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

fn cli_as(who: Who, args: &[&str]) -> Run {
    let mut cmd = match who {
        Who::Me => Command::new(BIN),
        Who::Nobody => {
            let mut c = Command::new(SETPRIV);
            c.arg(format!("--reuid={NOBODY}"))
                .arg(format!("--regid={NOBODY}"))
                .arg("--clear-groups")
                .arg(BIN);
            c
        }
    };
    cmd.args(args)
        .env_remove("NAS_SYNC_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn the nas-sync binary");
    // Outputs are small (well under a pipe buffer), so polling then reading cannot deadlock.
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for nas-sync") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nas-sync {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let out = child.wait_with_output().expect("collect nas-sync output");
    Run {
        code: status
            .code()
            .expect("nas-sync exited with a code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
    }
}

fn cli(args: &[&str]) -> Run {
    cli_as(Who::Me, args)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

// ---------------------------------------------------------------------------------------------
// A test environment: share, archive.db, pokervod.db and a config file in one temp dir
// ---------------------------------------------------------------------------------------------

struct Fx {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
    archive_db: PathBuf,
    target_db: PathBuf,
    config: PathBuf,
    who: Who,
}

impl Fx {
    /// A config naming absolute root/archive_db/target_db, plus `extra` TOML lines.
    fn new(extra: &str) -> Fx {
        let tmp = tempfile::Builder::new()
            .prefix("nas-sync-cli-")
            .tempdir()
            .expect("create temp dir");
        Fx::setup(tmp, Who::Me, extra)
    }

    /// Like `new`, but ready to run the CLI as an unprivileged user when the tests run as root.
    fn new_for_permissions(extra: &str) -> Fx {
        // Under /tmp (world-traversable) so uid 65534 can reach it.
        let tmp = tempfile::Builder::new()
            .prefix("nas-sync-cli-perm-")
            .tempdir_in("/tmp")
            .expect("create temp dir in /tmp");
        let who = if owner_uid_of_new_files(tmp.path()) == 0 {
            assert!(
                Path::new(SETPRIV).is_file(),
                "the tests run as root, which ignores permissions; {SETPRIV} (util-linux) is needed to run the CLI as uid {NOBODY}"
            );
            Who::Nobody
        } else {
            Who::Me
        };
        Fx::setup(tmp, who, extra)
    }

    fn setup(tmp: tempfile::TempDir, who: Who, extra: &str) -> Fx {
        let dir = tmp.path().to_path_buf();
        let root = dir.join("share");
        fs::create_dir(&root).expect("create share dir");
        let fx = Fx {
            archive_db: dir.join("archive.db"),
            target_db: dir.join("pokervod.db"),
            config: dir.join("nas-sync.toml"),
            root,
            dir,
            _tmp: tmp,
            who,
        };
        fx.write_config(extra);
        fx
    }

    fn write_config(&self, extra: &str) {
        let text = format!(
            "root = '{}'\narchive_db = '{}'\ntarget_db = '{}'\n{extra}\n",
            s(&self.root),
            s(&self.archive_db),
            s(&self.target_db)
        );
        fs::write(&self.config, text).expect("write config");
    }

    /// Write a share file with `size` bytes and a fixed mtime (seconds since the epoch).
    fn put_sized(&self, rel: &str, size: usize, mtime: u64) -> PathBuf {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().expect("file has a parent")).expect("create parent dirs");
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        fs::write(&p, data).expect("write share file");
        set_mtime(&p, mtime);
        p
    }

    fn put(&self, rel: &str) -> PathBuf {
        self.put_sized(rel, 1000 + rel.len(), 1_700_000_000)
    }

    /// `nas-sync --config <cfg> args...` as this environment's user.
    fn run(&self, args: &[&str]) -> Run {
        if self.who == Who::Nobody {
            chown_tree(&self.dir, NOBODY);
        }
        let mut all = vec!["--config", s(&self.config)];
        all.extend_from_slice(args);
        cli_as(self.who, &all)
    }

    fn target_rows(&self) -> Vec<TargetRow> {
        target_rows(&self.target_db)
    }

    fn archive_paths(&self) -> BTreeSet<Vec<u8>> {
        let conn = Connection::open(&self.archive_db).expect("open archive.db");
        let mut stmt = conn
            .prepare("SELECT CAST(path AS BLOB) FROM files")
            .expect("query archive.db files");
        stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
            .expect("read archive.db files")
            .collect::<rusqlite::Result<BTreeSet<_>>>()
            .expect("read archive.db paths")
    }

    fn dbs(&self) -> (DbBytes, DbBytes) {
        (
            DbBytes::read(&self.archive_db),
            DbBytes::read(&self.target_db),
        )
    }
}

fn owner_uid_of_new_files(dir: &Path) -> u32 {
    let probe = dir.join(".uid-probe");
    fs::write(&probe, b"").expect("write probe file");
    let uid = fs::metadata(&probe).expect("stat probe file").uid();
    fs::remove_file(&probe).expect("remove probe file");
    uid
}

fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(uid)).expect("chown");
    let meta = fs::symlink_metadata(p).expect("stat for chown");
    if meta.is_dir() {
        for e in fs::read_dir(p).expect("list dir for chown") {
            chown_tree(&e.expect("dir entry").path(), uid);
        }
    }
}

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn set_mtime(p: &Path, secs: u64) {
    let f = fs::File::options()
        .write(true)
        .open(p)
        .expect("open file to set mtime");
    f.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .expect("set mtime");
}

/// The bytes of a database file and its WAL, to prove nothing was written.
#[derive(PartialEq, Eq)]
struct DbBytes {
    main: Option<Vec<u8>>,
    wal: Option<Vec<u8>>,
}

impl DbBytes {
    /// The database's bytes after a checkpoint: frames a finished run left in the WAL (an
    /// exiting process may leave them; the next connection checkpoints them) move into the main
    /// file first, so two reads differ only when the content did.
    fn read(db: &Path) -> DbBytes {
        if db.exists()
            && let Ok(c) = rusqlite::Connection::open(db)
        {
            let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        DbBytes {
            main: fs::read(db).ok(),
            // An empty WAL (left by a read-only connection) holds nothing: same as none.
            wal: fs::read(PathBuf::from(wal)).ok().filter(|b| !b.is_empty()),
        }
    }

    fn describe(&self) -> String {
        let len = |b: &Option<Vec<u8>>| b.as_ref().map(|v| v.len());
        format!(
            "main {:?} bytes, wal {:?} bytes",
            len(&self.main),
            len(&self.wal)
        )
    }
}

fn assert_db_unchanged(before: &DbBytes, after: &DbBytes, what: &str) {
    assert!(
        before == after,
        "{what} changed: before {}, after {}",
        before.describe(),
        after.describe()
    );
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetRow {
    id: i64,
    nas_path: Vec<u8>,
    filename: Vec<u8>,
    format: String,
    status: String,
}

impl TargetRow {
    fn path(&self) -> String {
        String::from_utf8_lossy(&self.nas_path).into_owned()
    }
}

fn target_rows(db: &Path) -> Vec<TargetRow> {
    let conn = Connection::open(db).expect("open pokervod.db");
    let mut stmt = conn
        .prepare(
            "SELECT id, CAST(nas_path AS BLOB), CAST(filename AS BLOB), format, status
             FROM files ORDER BY id",
        )
        .expect("query pokervod.db files");
    stmt.query_map([], |r| {
        Ok(TargetRow {
            id: r.get(0)?,
            nas_path: r.get(1)?,
            filename: r.get(2)?,
            format: r.get(3)?,
            status: r.get(4)?,
        })
    })
    .expect("read pokervod.db files")
    .collect::<rusqlite::Result<Vec<_>>>()
    .expect("read pokervod.db rows")
}

/// Schema and every row of every table, as text: "unchanged" in the owner's sense.
fn dump(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).expect("open db for dump");
    let mut out = Vec::new();
    let tables: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("list tables")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("list tables")
        .collect::<rusqlite::Result<_>>()
        .expect("list tables");
    for (name, sql) in tables {
        out.push(sql);
        let cols: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{name}')"))
            .expect("list columns")
            .query_map([], |r| r.get(0))
            .expect("list columns")
            .collect::<rusqlite::Result<_>>()
            .expect("list columns");
        let expr = cols
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<String> = conn
            .prepare(&format!("SELECT {expr} FROM \"{name}\" ORDER BY rowid"))
            .expect("select rows")
            .query_map([], |r| r.get(0))
            .expect("select rows")
            .collect::<rusqlite::Result<_>>()
            .expect("select rows");
        out.extend(rows);
    }
    out
}

fn num(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {v}"))
}

/// Relative path, bytes and mtime of every file under `dir`.
fn tree_snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>, SystemTime)>) {
        for e in fs::read_dir(dir).expect("list dir") {
            let e = e.expect("dir entry");
            let p = e.path();
            let m = fs::symlink_metadata(&p).expect("stat");
            if m.is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).expect("under base").to_path_buf(),
                    fs::read(&p).expect("read file"),
                    m.modified().expect("mtime"),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

// ---------------------------------------------------------------------------------------------
// demo
// ---------------------------------------------------------------------------------------------

#[test]
fn demo_then_sync_fills_the_target_and_a_second_sync_adds_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path().join("demo");
    cli(&["demo", "--dir", s(&d), "--files", "80"]).assert_code(0, "demo");
    assert!(d.join("archive").is_dir(), "demo wrote no archive dir");
    let config = d.join("nas-sync.toml");
    assert!(config.is_file(), "demo wrote no nas-sync.toml");
    let on_disk = tree_snapshot(&d.join("archive")).len();
    assert!(on_disk >= 15, "demo archive has only {on_disk} files");

    cli(&["--config", s(&config), "sync"]).assert_code(0, "first sync of the demo");
    let target = d.join("pokervod.db");
    let active = count(
        &target,
        "SELECT count(*) FROM files WHERE status = 'active'",
    );
    assert!(active > 0, "pokervod.db has no active rows after sync");
    let archived = count(&d.join("archive.db"), "SELECT count(*) FROM files");
    assert_eq!(
        archived as usize, on_disk,
        "archive.db should record every demo file"
    );

    let second = cli(&["--config", s(&config), "--json", "sync"]);
    second.assert_code(0, "second sync");
    let j = second.json();
    assert_eq!(num(&j, "added"), 0, "second sync added rows: {j}");
    assert!(num(&j, "skipped") > 0, "second sync skipped nothing: {j}");
    for k in ["updated", "moved", "restored", "deleted"] {
        assert_eq!(num(&j, k), 0, "second sync changed `{k}`: {j}");
    }
    assert_eq!(
        count(
            &target,
            "SELECT count(*) FROM files WHERE status = 'active'"
        ),
        active,
        "second sync changed the number of active rows"
    );
}

#[test]
fn demo_again_in_the_same_dir_reuses_it_unchanged() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path().join("demo");
    cli(&["demo", "--dir", s(&d), "--files", "40"]).assert_code(0, "first demo");
    let config = d.join("nas-sync.toml");
    cli(&["--config", s(&config), "sync"]).assert_code(0, "sync of the demo");
    let files_before = tree_snapshot(&d.join("archive"));
    let config_before = fs::read(&config).expect("read demo config");
    let dbs_before = (
        DbBytes::read(&d.join("archive.db")),
        DbBytes::read(&d.join("pokervod.db")),
    );

    let again = cli(&["--json", "demo", "--dir", s(&d), "--files", "40"]);
    again.assert_code(0, "demo on an existing demo dir");
    assert_eq!(
        again.json()["created"],
        Value::Bool(false),
        "second demo should report reuse: {}",
        again.stdout
    );
    assert!(
        tree_snapshot(&d.join("archive")) == files_before,
        "demo rewrote the existing archive"
    );
    assert_eq!(
        fs::read(&config).expect("read demo config"),
        config_before,
        "demo rewrote its config"
    );
    assert_db_unchanged(
        &dbs_before.0,
        &DbBytes::read(&d.join("archive.db")),
        "archive.db",
    );
    assert_db_unchanged(
        &dbs_before.1,
        &DbBytes::read(&d.join("pokervod.db")),
        "pokervod.db",
    );
}

#[test]
fn demo_refuses_a_dir_with_a_foreign_config_and_leaves_it_alone() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let config = d.join("nas-sync.toml");
    let mine = "# my own settings\nroot = '/mnt/nas/ARCHIVE'\ninterval_minutes = 15\n";
    fs::write(&config, mine).expect("write foreign config");

    let r = cli(&["demo", "--dir", s(d)]);
    r.assert_code(1, "demo over a foreign config");
    assert_eq!(
        fs::read_to_string(&config).expect("read config"),
        mine,
        "demo overwrote the user's config"
    );
    assert!(
        !d.join("archive").exists(),
        "demo wrote an archive next to a foreign config"
    );
    assert!(
        r.stderr.contains("nas-sync.toml"),
        "the error should name the config file: {}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// --json documents
// ---------------------------------------------------------------------------------------------

#[test]
fn sync_json_is_one_document_with_every_field_the_spec_names() {
    let fx = Fx::new("");
    fx.put("WSOP/2024/main.mp4");
    fx.put("WSOP/2024/side.mov");
    fx.put("HCL/ep1.ts");
    fx.put("HCL/raw.mxf");
    fx.put("HCL/ep1.srt");

    let r = fx.run(&["--json", "sync"]);
    r.assert_code(0, "sync --json");
    let j = r.json();
    for k in [
        "added",
        "updated",
        "moved",
        "restored",
        "deleted",
        "skipped",
        "duration_ms",
    ] {
        assert!(j[k].is_u64(), "`{k}` missing or not a count in {j}");
    }
    assert!(j["errors"].is_array(), "`errors` is not an array in {j}");
    assert_eq!(j["dry_run"], Value::Bool(false), "{j}");
    assert!(
        j.get("refused").is_some_and(Value::is_null),
        "`refused` should be null: {j}"
    );
    assert_eq!(num(&j, "added"), 3, "mp4, mov and ts are synced: {j}");
    assert_eq!(j["errors"].as_array().map(Vec::len), Some(0), "{j}");
    assert_eq!(fx.target_rows().len(), 3, "pokervod.db rows");
}

#[test]
fn scan_json_reports_added_removed_modified_moved_and_warnings() {
    let fx = Fx::new("");
    fx.put_sized("A/keep.mp4", 100, 1_600_000_000);
    fx.put_sized("A/gone.mp4", 300, 1_600_000_100);
    fx.put_sized("A/change.mp4", 500, 1_600_000_200);
    fx.put_sized("A/travel.mp4", 700, 1_600_000_300);

    let first = fx.run(&["--json", "scan"]);
    first.assert_code(0, "first scan");
    let j = first.json();
    assert_eq!(num(&j, "added"), 4, "{j}");
    for k in ["removed", "modified", "moved"] {
        assert_eq!(num(&j, k), 0, "first scan `{k}`: {j}");
    }
    assert_eq!(
        j["warnings"].as_array().map(Vec::len),
        Some(0),
        "no warnings expected: {j}"
    );

    fs::remove_file(fx.root.join("A/gone.mp4")).expect("remove file");
    fx.put_sized("A/change.mp4", 550, 1_600_000_250);
    fs::create_dir_all(fx.root.join("B")).expect("mkdir B");
    fs::rename(
        fx.root.join("A/travel.mp4"),
        fx.root.join("B/travel renamed.mp4"),
    )
    .expect("move file");
    fx.put_sized("B/new.mp4", 900, 1_600_000_400);

    let second = fx.run(&["--json", "scan"]);
    second.assert_code(0, "second scan");
    let j = second.json();
    for k in ["added", "removed", "modified", "moved"] {
        assert_eq!(num(&j, k), 1, "second scan `{k}`: {j}");
    }
    assert!(j["warnings"].is_array(), "`warnings` missing: {j}");
    let expected: BTreeSet<Vec<u8>> = [
        "A/keep.mp4",
        "A/change.mp4",
        "B/travel renamed.mp4",
        "B/new.mp4",
    ]
    .iter()
    .map(|p| p.as_bytes().to_vec())
    .collect();
    assert_eq!(fx.archive_paths(), expected, "archive.db after the scan");
    assert!(!fx.target_db.exists(), "scan must not create pokervod.db");
}

#[test]
fn reconcile_reports_a_new_share_file_and_writes_nothing() {
    let fx = Fx::new("");
    fx.put("WSOP/a.mp4");
    fx.put("HCL/b.mp4");
    fx.run(&["sync"]).assert_code(0, "initial sync");
    fx.put("HCL/new episode.mp4");
    let before = fx.dbs();

    let r = fx.run(&["--json", "reconcile"]);
    r.assert_code(0, "reconcile");
    let j = r.json();
    assert_eq!(j["in_sync"], Value::Bool(false), "{j}");
    assert_eq!(num(&j["would_insert"], "count"), 1, "{j}");
    assert_eq!(num(&j["on_share_not_in_archive"], "count"), 1, "{j}");
    assert_eq!(
        j["on_share_not_in_archive"]["items"][0],
        Value::String("HCL/new episode.mp4".into()),
        "{j}"
    );
    let after = fx.dbs();
    assert_db_unchanged(&before.0, &after.0, "archive.db (reconcile)");
    assert_db_unchanged(&before.1, &after.1, "pokervod.db (reconcile)");
}

#[test]
fn reconcile_is_in_sync_after_a_sync() {
    let fx = Fx::new("");
    fx.put("WSOP/a.mp4");
    fx.put("WSOP/raw.mxf");
    fx.put("HCL/b.mov");
    fx.put("HCL/Backup/b.mov");
    fx.run(&["sync"]).assert_code(0, "sync");
    let before = fx.dbs();

    let r = fx.run(&["--json", "reconcile"]);
    r.assert_code(0, "reconcile");
    let j = r.json();
    assert_eq!(j["in_sync"], Value::Bool(true), "{j}");
    assert_eq!(num(&j["would_insert"], "count"), 0, "{j}");
    assert_eq!(num(&j["on_share_not_in_archive"], "count"), 0, "{j}");
    let after = fx.dbs();
    assert_db_unchanged(&before.0, &after.0, "archive.db (reconcile)");
    assert_db_unchanged(&before.1, &after.1, "pokervod.db (reconcile)");
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_config_file_means_defaults_and_paths_come_from_flags() {
    let fx = Fx::new("");
    fs::write(&fx.config, "").expect("empty config");
    for f in [
        "C/a.mp4", "C/b.mov", "C/c.ts", "C/d.mxf", "C/e.mkv", "C/f.srt",
    ] {
        fx.put(f);
    }
    let r = fx.run(&[
        "--root",
        s(&fx.root),
        "--archive-db",
        s(&fx.archive_db),
        "--target-db",
        s(&fx.target_db),
        "--json",
        "sync",
    ]);
    r.assert_code(0, "sync with an empty config");
    // Default HLS filter: only mp4, mov and ts reach the Target.
    let formats: BTreeSet<String> = fx.target_rows().into_iter().map(|r| r.format).collect();
    let expected: BTreeSet<String> = ["mov", "mp4", "ts"].iter().map(|s| s.to_string()).collect();
    assert_eq!(formats, expected, "default hls_extensions");
    assert_eq!(fx.archive_paths().len(), 6, "archive.db records every file");
}

#[test]
fn unknown_config_key_is_an_error_naming_the_key() {
    let fx = Fx::new("max_delete_percentage = 5");
    fx.put("C/a.mp4");
    let r = fx.run(&["sync"]);
    assert!(
        r.code == 1 || r.code == 2,
        "unknown key: exit {} (want 1 or 2)\nstderr: {}",
        r.code,
        r.stderr
    );
    assert!(
        r.stderr.contains("max_delete_percentage"),
        "the error should name the unknown key: {}",
        r.stderr
    );
    assert!(
        !fx.target_db.exists(),
        "pokervod.db created despite the error"
    );
    assert!(
        !fx.archive_db.exists(),
        "archive.db created despite the error"
    );
}

#[test]
fn missing_config_file_is_an_actionable_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("nope").join("nas-sync.toml");
    let r = cli(&["--config", s(&missing), "scan"]);
    r.assert_code(1, "--config naming a missing file");
    assert!(
        r.stderr.contains(s(&missing)),
        "the error should name the file: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("--config"),
        "the error should say what to check (--config): {}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);

    let j = cli(&["--config", s(&missing), "--json", "scan"]);
    j.assert_code(1, "--json with a missing config");
    let doc = j.json();
    assert!(doc["error"]["code"].is_string(), "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(s(&missing))),
        "{doc}"
    );
}

#[test]
fn flags_override_the_config_file() {
    let fx = Fx::new("");
    let file_target = fx.dir.join("file-target.db");
    let file_root = fx.dir.join("not-mounted");
    fs::write(
        &fx.config,
        format!(
            "root = '{}'\narchive_db = '{}'\ntarget_db = '{}'\n",
            s(&file_root),
            s(&fx.archive_db),
            s(&file_target)
        ),
    )
    .expect("write config");
    fx.put("C/a.mp4");
    fx.put("C/b.mp4");
    let flag_target = fx.dir.join("flag-target.db");

    let r = fx.run(&[
        "--root",
        s(&fx.root),
        "--target-db",
        s(&flag_target),
        "--json",
        "sync",
    ]);
    r.assert_code(0, "sync with overriding flags");
    assert_eq!(num(&r.json(), "added"), 2, "{}", r.stdout);
    assert_eq!(target_rows(&flag_target).len(), 2, "rows in --target-db");
    assert!(
        !file_target.exists(),
        "the config's target_db was used despite --target-db"
    );
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path().join("demo");
    for args in [
        vec!["--bogus-flag", "scan"],
        vec!["frobnicate"],
        vec![],
        vec!["sync", "--no-such-option"],
        vec!["demo"],
        vec!["demo", "--dir", s(&d), "--files", "many"],
    ] {
        let r = cli(&args);
        r.assert_code(2, &format!("usage error {args:?}"));
        assert!(!r.stderr.is_empty(), "{args:?}: no usage message");
    }
    assert!(!d.exists(), "a usage error wrote a demo");
}

// ---------------------------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------------------------

fn synced_fixture() -> Fx {
    let fx = Fx::new("");
    fx.put("WSOP/a.mp4");
    fx.put("WSOP/b.mp4");
    fx.put("HCL/c.mov");
    fx.run(&["sync"]).assert_code(0, "initial sync");
    assert_eq!(fx.target_rows().len(), 3, "initial Target rows");
    fx
}

fn assert_offline_refusal(r: &Run) {
    r.assert_code(3, "offline guard");
    let j = r.json();
    assert_eq!(
        j["refused"]["guard"],
        Value::String("offline".into()),
        "{j}"
    );
    assert!(
        j["refused"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "refusal without a message: {j}"
    );
}

#[test]
fn missing_root_trips_the_offline_guard_and_changes_neither_db() {
    let fx = synced_fixture();
    fs::rename(&fx.root, fx.dir.join("unmounted")).expect("unmount the share");
    let before = fx.dbs();

    assert_offline_refusal(&fx.run(&["--json", "sync"]));
    let scan = fx.run(&["scan"]);
    scan.assert_code(3, "scan of a missing root");

    let after = fx.dbs();
    assert_db_unchanged(&before.0, &after.0, "archive.db (offline)");
    assert_db_unchanged(&before.1, &after.1, "pokervod.db (offline)");
    assert!(
        fx.target_rows().iter().all(|r| r.status == "active"),
        "rows were soft-deleted while offline"
    );
}

#[test]
fn empty_root_trips_the_offline_guard_and_changes_neither_db() {
    let fx = synced_fixture();
    fs::remove_dir_all(&fx.root).expect("empty the share");
    fs::create_dir(&fx.root).expect("recreate an empty mount point");
    let before = fx.dbs();

    assert_offline_refusal(&fx.run(&["--json", "sync"]));

    let after = fx.dbs();
    assert_db_unchanged(&before.0, &after.0, "archive.db (empty root)");
    assert_db_unchanged(&before.1, &after.1, "pokervod.db (empty root)");
}

#[test]
fn mass_delete_is_refused_with_exit_3_then_force_applies_it() {
    let fx = Fx::new("");
    for i in 0..25 {
        fx.put(&format!("A/a{i:02}.mp4"));
    }
    for i in 0..5 {
        fx.put(&format!("B/b{i}.mp4"));
    }
    fx.run(&["sync"]).assert_code(0, "initial sync");
    assert_eq!(fx.target_rows().len(), 30);
    fs::remove_dir_all(fx.root.join("A")).expect("remove catalog A");
    let target_before = DbBytes::read(&fx.target_db);

    let r = fx.run(&["--json", "sync"]);
    r.assert_code(3, "mass delete");
    let j = r.json();
    assert_eq!(
        j["refused"]["guard"],
        Value::String("mass_delete".into()),
        "{j}"
    );
    let msg = j["refused"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("25") && msg.contains("30"),
        "the refusal should give the numbers: {msg}"
    );
    assert_db_unchanged(
        &target_before,
        &DbBytes::read(&fx.target_db),
        "pokervod.db (mass delete refused)",
    );

    let forced = fx.run(&["--json", "sync", "--force"]);
    forced.assert_code(0, "sync --force");
    let j = forced.json();
    assert_eq!(num(&j, "deleted"), 25, "{j}");
    assert!(j["refused"].is_null(), "{j}");
    let rows = fx.target_rows();
    assert_eq!(rows.len(), 30, "rows are never physically deleted");
    let deleted: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.status == "deleted")
        .map(TargetRow::path)
        .collect();
    let expected: BTreeSet<String> = (0..25).map(|i| format!("A/a{i:02}.mp4")).collect();
    assert_eq!(deleted, expected, "soft-deleted rows after --force");
}

#[test]
fn dry_run_creates_neither_database_when_absent() {
    let fx = Fx::new("");
    fx.put("WSOP/a.mp4");
    fx.put("HCL/b.mov");
    let r = fx.run(&["--json", "sync", "--dry-run"]);
    r.assert_code(0, "sync --dry-run");
    let j = r.json();
    assert_eq!(j["dry_run"], Value::Bool(true), "{j}");
    assert_eq!(num(&j, "added"), 2, "{j}");
    for p in [&fx.archive_db, &fx.target_db] {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut f = p.as_os_str().to_owned();
            f.push(suffix);
            assert!(
                !Path::new(&f).exists(),
                "dry run created {}",
                Path::new(&f).display()
            );
        }
    }
}

#[test]
fn dry_run_writes_to_neither_database() {
    let fx = synced_fixture();
    fx.put("HCL/new.mp4");
    fs::remove_file(fx.root.join("WSOP/a.mp4")).expect("remove a share file");
    let before = fx.dbs();

    let r = fx.run(&["--json", "sync", "--dry-run"]);
    r.assert_code(0, "sync --dry-run");
    let j = r.json();
    assert_eq!(j["dry_run"], Value::Bool(true), "{j}");
    assert_eq!(num(&j, "added"), 1, "{j}");
    assert_eq!(num(&j, "deleted"), 1, "{j}");
    let after = fx.dbs();
    assert_db_unchanged(&before.0, &after.0, "archive.db (dry run)");
    assert_db_unchanged(&before.1, &after.1, "pokervod.db (dry run)");

    // The changes the dry run announced are still there to apply.
    let real = fx.run(&["--json", "sync"]);
    real.assert_code(0, "real sync after the dry run");
    let j = real.json();
    assert_eq!((num(&j, "added"), num(&j, "deleted")), (1, 1), "{j}");
}

// ---------------------------------------------------------------------------------------------
// Unreadable directories (run as uid 65534 when the tests run as root)
// ---------------------------------------------------------------------------------------------

/// Restores a directory's mode when the test ends, so the temp dir can be cleaned up.
struct Restore(Vec<PathBuf>);

impl Drop for Restore {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn unreadable_directory_is_a_warning_and_its_files_are_kept() {
    let fx = Fx::new_for_permissions("");
    fx.put("A/top.mp4");
    fx.put("A/sub/hidden one.mp4");
    fx.put("A/sub/deeper/hidden two.mov");
    fx.put("B/other.mp4");
    fx.run(&["sync"]).assert_code(0, "initial sync");
    assert_eq!(fx.target_rows().len(), 4, "initial Target rows");

    let sub = fx.root.join("A/sub");
    let _restore = Restore(vec![sub.clone()]);
    set_mode(&sub, 0o000);
    let r = fx.run(&["--json", "sync"]);
    r.assert_code(0, "sync with an unreadable directory");
    let j = r.json();
    let warnings = j["scan"]["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("no scan warnings in {j}"));
    assert!(
        warnings
            .iter()
            .any(|w| w["path"] == Value::String("A/sub".into())),
        "A/sub is not listed as a warning: {j}"
    );
    assert_eq!(num(&j, "deleted"), 0, "{j}");

    let archived = fx.archive_paths();
    for p in ["A/sub/hidden one.mp4", "A/sub/deeper/hidden two.mov"] {
        assert!(
            archived.contains(p.as_bytes()),
            "{p} was dropped from archive.db"
        );
    }
    let rows = fx.target_rows();
    for p in ["A/sub/hidden one.mp4", "A/sub/deeper/hidden two.mov"] {
        let row = rows
            .iter()
            .find(|r| r.nas_path == p.as_bytes())
            .unwrap_or_else(|| panic!("{p} missing from pokervod.db"));
        assert_eq!(row.status, "active", "{p} was soft-deleted");
    }
}

#[test]
fn every_top_level_directory_unreadable_trips_the_offline_guard() {
    let fx = Fx::new_for_permissions("");
    fx.put("A/one.mp4");
    fx.put("B/two.mp4");
    fx.run(&["sync"]).assert_code(0, "initial sync");
    let (a, b) = (fx.root.join("A"), fx.root.join("B"));
    let _restore = Restore(vec![a.clone(), b.clone()]);
    set_mode(&a, 0o000);
    set_mode(&b, 0o000);
    let before = fx.dbs();

    assert_offline_refusal(&fx.run(&["--json", "sync"]));

    let after = fx.dbs();
    assert_db_unchanged(&before.0, &after.0, "archive.db (all top dirs unreadable)");
    assert_db_unchanged(&before.1, &after.1, "pokervod.db (all top dirs unreadable)");
}

// ---------------------------------------------------------------------------------------------
// The Target: missing columns, busy
// ---------------------------------------------------------------------------------------------

#[test]
fn target_missing_columns_is_an_error_naming_them_and_changes_nothing() {
    let fx = Fx::new("");
    fx.put("WSOP/a.mp4");
    {
        let conn = Connection::open(&fx.target_db).expect("create pokervod.db");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("WAL");
        let ddl = SPEC_TARGET_DDL
            .replace("    codec TEXT,\n", "")
            .replace(",\n    deleted_at TEXT", "");
        assert!(!ddl.contains("codec") && !ddl.contains("deleted_at"));
        conn.execute_batch(&ddl)
            .expect("create owner's files table");
        conn.execute(
            "INSERT INTO files (nas_path, filename, catalog, format, size_bytes, hls_compatible,
             created_at, updated_at) VALUES ('OLD/x.mp4', 'x.mp4', 'OLD', 'mp4', 1, 1,
             '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
            [],
        )
        .expect("owner's row");
    }
    let bytes_before = DbBytes::read(&fx.target_db);
    let dump_before = dump(&fx.target_db);

    let r = fx.run(&["sync"]);
    r.assert_code(1, "sync into a Target missing columns");
    for col in ["codec", "deleted_at"] {
        assert!(
            r.stderr.contains(col),
            "the error should name `{col}`: {}",
            r.stderr
        );
    }
    assert_eq!(dump(&fx.target_db), dump_before, "pokervod.db content");
    assert_db_unchanged(
        &bytes_before,
        &DbBytes::read(&fx.target_db),
        "pokervod.db (missing columns)",
    );
}

/// Another connection holds `BEGIN IMMEDIATE` on the Target while the CLI syncs a change.
fn busy_target_case(wal: bool) {
    // With target_wal the first sync switches the Target to WAL (it keeps the owner's journal
    // mode otherwise).
    let fx = Fx::new(if wal {
        "busy_timeout_secs = 1\ntarget_wal = true"
    } else {
        "busy_timeout_secs = 1"
    });
    fx.put("WSOP/a.mp4");
    if wal {
        // Created by a first sync: a WAL Target.
        fx.run(&["sync"]).assert_code(0, "initial sync");
        let mode: String = Connection::open(&fx.target_db)
            .expect("open pokervod.db")
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "wal", "the initial sync switched to WAL");
    } else {
        let conn = Connection::open(&fx.target_db).expect("create pokervod.db");
        conn.pragma_update(None, "journal_mode", "DELETE")
            .expect("rollback journal");
        conn.execute_batch(SPEC_TARGET_DDL)
            .expect("create files table");
    }
    fx.put("WSOP/b.mp4");
    let bytes_before = DbBytes::read(&fx.target_db);
    let dump_before = dump(&fx.target_db);

    let holder = Connection::open(&fx.target_db).expect("open holder connection");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let r = fx.run(&["sync"]);
    holder.execute_batch("ROLLBACK").expect("release the lock");
    drop(holder);

    r.assert_code(1, "sync into a locked Target");
    assert!(
        r.stderr.to_lowercase().contains("busy"),
        "the error should say the Target is busy: {}",
        r.stderr
    );
    assert!(
        r.elapsed < Duration::from_secs(15),
        "busy_timeout_secs = 1 but the CLI took {:?}",
        r.elapsed
    );
    assert_eq!(dump(&fx.target_db), dump_before, "pokervod.db content");
    if wal {
        assert_db_unchanged(
            &bytes_before,
            &DbBytes::read(&fx.target_db),
            "pokervod.db (busy)",
        );
    }
}

#[test]
fn busy_wal_target_exits_1_quickly_and_changes_nothing() {
    busy_target_case(true);
}

#[test]
fn busy_rollback_journal_target_exits_1_quickly_and_changes_nothing() {
    busy_target_case(false);
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[test]
fn unusual_names_sync_with_byte_exact_nas_paths() {
    let fx = Fx::new("");
    // "한글" decomposed into conjoining jamo (as a Mac writes it) — must not be normalized.
    let nfd = "\u{1112}\u{1161}\u{11AB}\u{1100}\u{1173}\u{11AF}";
    let long_dirs: Vec<String> = (0..5)
        .map(|i| format!("{i}-{}", "긴폴더이름".repeat(16)))
        .collect();
    let long = format!("LONG/{}/마지막 파일.mp4", long_dirs.join("/"));
    assert!(long.len() > 1000, "long path is only {} bytes", long.len());
    let rels = vec![
        format!("KOR/{nfd} 편집본.mp4"),
        format!("{nfd} 폴더/nfc 포커.mov"),
        "EMOJI/🃏 All-in 🔥.mp4".to_string(),
        "QUOTES/He said \"fold\" and 'call'.mp4".to_string(),
        "SPACE DIR/  two  spaces  .mp4".to_string(),
        long.clone(),
    ];
    for r in &rels {
        fx.put(r);
    }
    // The paths on disk are the bytes we wrote.
    for r in &rels {
        assert!(fx.root.join(r).is_file(), "{r} not on disk");
    }

    let run = fx.run(&["--json", "sync"]);
    run.assert_code(0, "sync of unusual names");
    let j = run.json();
    assert_eq!(num(&j, "added"), rels.len() as u64, "{j}");
    assert_eq!(
        j["scan"]["warnings"].as_array().map(Vec::len),
        Some(0),
        "{j}"
    );

    let expected: BTreeSet<Vec<u8>> = rels.iter().map(|r| r.as_bytes().to_vec()).collect();
    let rows = fx.target_rows();
    let got: BTreeSet<Vec<u8>> = rows.iter().map(|r| r.nas_path.clone()).collect();
    assert_eq!(got, expected, "Target nas_path bytes");
    for row in &rows {
        let path = row.path();
        let name = path.rsplit('/').next().unwrap_or(&path);
        assert_eq!(row.filename, name.as_bytes(), "filename of {path}");
        assert_eq!(row.status, "active", "{path}");
    }
    assert_eq!(fx.archive_paths(), expected, "archive.db path bytes");
}

#[test]
fn history_json_lists_applied_changes_and_bad_filters_exit_2() {
    let fx = Fx::new("");
    fx.put("WSOP/a.mp4");
    fx.put("HCL/b.mp4");
    fx.run(&["sync"]).assert_code(0, "first sync");
    let h = fx.run(&["--json", "history", "--catalog", "WSOP"]);
    h.assert_code(0, "history");
    let j = h.json();
    let items = j["items"].as_array().expect("items array");
    assert_eq!(items.len(), 1, "{j}");
    assert_eq!(items[0]["event"], "added");
    assert_eq!(items[0]["path"], "WSOP/a.mp4");
    assert_eq!(items[0]["catalog"], "WSOP");
    assert!(
        items[0]["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "time is ISO 8601 UTC: {j}"
    );
    fx.run(&["history", "--limit", "0"])
        .assert_code(2, "history --limit 0");
    fx.run(&["history", "--event", "renamed"])
        .assert_code(2, "history --event renamed");
}

#[test]
fn history_since_a_bare_date_starts_at_local_midnight() {
    let fx = Fx::new("");
    fx.put("WSOP/a.mp4");
    fx.run(&["sync"]).assert_code(0, "sync");
    // Two changes either side of midnight in Seoul on 2026-11-26 (15:00 UTC the day before).
    let c = Connection::open(&fx.archive_db).expect("open archive.db");
    for (path, time) in [
        ("WSOP/before_midnight.mp4", "2026-11-25T14:59:59Z"),
        ("WSOP/after_midnight.mp4", "2026-11-25T15:00:01Z"),
    ] {
        c.execute(
            "INSERT INTO file_history (event, path, catalog, time) VALUES ('added', ?1, 'WSOP', ?2)",
            [path, time],
        )
        .expect("history row");
    }
    drop(c);
    let since = |tz: &str| -> Vec<String> {
        let out = Command::new(BIN)
            .args(["--config", s(&fx.config), "--json", "history"])
            .args([
                "--since",
                "2026-11-26",
                "--catalog",
                "WSOP",
                "--limit",
                "1000",
            ])
            .env("TZ", tz)
            .env_remove("NAS_SYNC_LOG")
            .output()
            .expect("run nas-sync history");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        j["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["path"].as_str())
            .filter(|p| p.contains("midnight"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(since("Asia/Seoul"), ["WSOP/after_midnight.mp4"]);
    // In UTC the 26th starts nine hours later: neither change is on or after it.
    assert!(since("UTC").is_empty());
}

#[test]
fn matching_json_has_the_prd_shape_and_bad_paging_exits_2() {
    let fx = Fx::new("");
    fx.put("WSOP/2024/ME_Day1.mp4");
    fx.put("WSOP/Backup/ME_Day1.mp4");
    fx.put("PAD/Special.mxf");
    fx.run(&["sync"]).assert_code(0, "sync");
    // The sync leaves the match index current, next to archive.db.
    assert!(
        fx.dir.join("archive.index.db").is_file(),
        "sync did not build archive.index.db"
    );
    let r = fx.run(&["--json", "matching", "--per-page", "2"]);
    r.assert_code(0, "matching");
    let j = r.json();
    assert_eq!(j["total"], 3, "{j}");
    assert_eq!(j["page"], 1);
    assert_eq!(j["per_page"], 2);
    assert_eq!(j["pages"], 2);
    let items = j["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{j}");
    // Byte order: "PAD/…" < "WSOP/…".
    assert_eq!(items[0]["status"], "not_synced");
    assert_eq!(items[0]["source"]["path"], "PAD/Special.mxf");
    assert_eq!(items[0]["reason_code"], "not_hls");
    assert!(items[0]["target"].is_null(), "{j}");
    assert_eq!(items[1]["status"], "synced_with_duplicates");
    assert_eq!(items[1]["target"]["nas_path"], "WSOP/2024/ME_Day1.mp4");
    assert_eq!(items[1]["target"]["hls_compatible"], true);
    assert_eq!(
        items[1]["duplicates"][0]["path"], "WSOP/Backup/ME_Day1.mp4",
        "{j}"
    );
    assert_eq!(j["summary"]["synced"], 1);
    assert_eq!(j["summary"]["not_synced"], 1);
    assert_eq!(j["summary"]["duplicates_excluded"], 1);

    let last = fx.run(&["--json", "matching", "--per-page", "2", "--page", "2"]);
    let j = last.json();
    assert_eq!(j["items"][0]["status"], "duplicate", "{j}");
    assert_eq!(j["items"][0]["primary"]["path"], "WSOP/2024/ME_Day1.mp4");
    let past = fx.run(&["--json", "matching", "--page", "9"]).json();
    assert_eq!(past["items"].as_array().map(Vec::len), Some(0), "{past}");
    assert_eq!(past["total"], 3);

    let bad = fx.run(&["--json", "matching", "--per-page", "201"]);
    bad.assert_code(2, "per_page above 200");
    assert_eq!(bad.json()["error"]["code"], "invalid_argument");
    assert!(bad.stderr.contains("per_page"), "{}", bad.stderr);
    fx.run(&["matching", "--status", "bogus"])
        .assert_code(2, "unknown status");
    fx.run(&["matching", "--sort", "name"])
        .assert_code(2, "unknown sort");
}

#[test]
fn matching_filter_flags_pick_reasons_extensions_and_name_collisions() {
    let fx = Fx::new("");
    let t = 1_700_000_000;
    // Two events' Part1.mp4 differ in size (a collision); the backup is the same size (a copy).
    fx.put_sized("WSOP/2024/Main Event/Part1.mp4", 5000, t);
    fx.put_sized("WSOP/2024/Ladies Event/Part1.mp4", 6000, t + 1);
    fx.put_sized("HCL/EP1.mp4", 3000, t + 2);
    fx.put_sized("HCL/Backup/EP1.mp4", 3000, t + 3);
    fx.put("PAD/Special.mxf");
    fx.put("PAD/old.mkv");
    fx.put("PAD/notes.srt");
    fx.run(&["sync"]).assert_code(0, "sync");
    let paths = |args: &[&str]| -> (Value, Vec<String>) {
        let mut all = vec!["--json", "matching"];
        all.extend_from_slice(args);
        let r = fx.run(&all);
        r.assert_code(0, &all.join(" "));
        let j = r.json();
        let p = j["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["source"]["path"].as_str().unwrap_or_default().to_string())
            .collect();
        (j, p)
    };
    let (j, p) = paths(&["--collision"]);
    assert_eq!(
        p,
        [
            "WSOP/2024/Ladies Event/Part1.mp4",
            "WSOP/2024/Main Event/Part1.mp4"
        ],
        "{j}"
    );
    assert!(
        j["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["name_collision"] == true),
        "{j}"
    );
    let (all, _) = paths(&[]);
    for it in all["items"].as_array().expect("items") {
        let path = it["source"]["path"].as_str().unwrap_or_default();
        assert_eq!(
            it["name_collision"],
            path.contains("Part1"),
            "{path}: the copy HCL/Backup/EP1.mp4 is not a collision"
        );
    }
    assert_eq!(paths(&["--reason", "mxf"]).1, ["PAD/Special.mxf"]);
    assert_eq!(paths(&["--reason", "subtitle"]).1, ["PAD/notes.srt"]);
    assert_eq!(paths(&["--ext", "MKV"]).1, ["PAD/old.mkv"]);
    assert_eq!(
        paths(&["--ext", "mp4", "--catalog", "HCL"]).1,
        ["HCL/Backup/EP1.mp4", "HCL/EP1.mp4"]
    );
    // The values the filters offer, with the counts they find.
    let f = fx.run(&["--json", "matching", "--facets"]);
    f.assert_code(0, "matching --facets");
    let f = f.json();
    assert_eq!(
        f["reasons"][0],
        serde_json::json!({"value": "mxf", "count": 1}),
        "{f}"
    );
    assert_eq!(
        f["extensions"][0],
        serde_json::json!({"value": "mp4", "count": 4}),
        "{f}"
    );
    assert_eq!(f["name_collisions"], 2, "{f}");
    assert_eq!(f["collision_groups"], 1, "{f}");
    // People read the flag and the lists in Korean.
    let human = fx.run(&["matching", "--collision"]);
    assert!(
        human.stdout.contains("같은 이름, 다른 크기"),
        "{}",
        human.stdout
    );
    let human = fx.run(&["matching", "--facets"]);
    assert!(
        human.stdout.contains("확장자") && human.stdout.contains("mp4 4"),
        "{}",
        human.stdout
    );
    // A wrong value is a usage error that names the field.
    let bad = fx.run(&["--json", "matching", "--reason", "avi"]);
    bad.assert_code(2, "unknown reason");
    let msg = bad.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.starts_with("reason must be one of mxf, mkv"), "{msg}");
    let bad = fx.run(&["--json", "matching", "--ext", "tar.gz"]);
    bad.assert_code(2, "an extension with a dot");
    let msg = bad.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.starts_with("ext is one file extension"), "{msg}");
}

#[test]
fn tree_full_refuses_above_the_limit_and_points_to_the_lazy_form() {
    let fx = Fx::new("tree_full_limit = 2");
    fx.put("WSOP/2024/a.mp4");
    fx.put("WSOP/2024/b.mp4");
    fx.put("HCL/c.mp4");
    fx.run(&["sync"]).assert_code(0, "sync");
    let full = fx.run(&["--json", "tree"]);
    full.assert_code(1, "full tree above tree_full_limit");
    assert_eq!(full.json()["error"]["code"], "too_large");
    assert!(full.stderr.contains("--path"), "{}", full.stderr);

    let root = fx.run(&["--json", "tree", "--path", ""]);
    root.assert_code(0, "lazy root");
    let j = root.json();
    let dirs = j["directories"].as_array().expect("directories");
    let names: Vec<&str> = dirs.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, ["HCL", "WSOP"], "{j}");
    assert_eq!(dirs[1]["total_files"], 2);
    assert_eq!(dirs[1]["synced"], 2);

    let leaf = fx.run(&["--json", "tree", "--path", "WSOP/2024"]).json();
    let files = leaf["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{leaf}");
    assert_eq!(files[0]["name"], "a.mp4");
    assert_eq!(files[0]["status"], "synced");
    assert!(files[0]["target_id"].is_i64(), "{leaf}");

    fx.run(&["tree", "--path", "NOPE"])
        .assert_code(2, "unknown directory");

    let fx2 = Fx::new("");
    fx2.put("WSOP/2024/a.mp4");
    fx2.put("loose.mp4");
    fx2.run(&["sync"]).assert_code(0, "sync");
    let t = fx2.run(&["--json", "tree"]);
    t.assert_code(0, "full tree");
    let j = t.json();
    let cats = j["catalogs"].as_array().expect("catalogs");
    let wsop = cats.iter().find(|c| c["name"] == "WSOP").expect("WSOP");
    assert_eq!(wsop["children"][0]["type"], "directory");
    assert_eq!(wsop["children"][0]["name"], "2024");
    assert_eq!(wsop["children"][0]["files"][0]["name"], "a.mp4");
    let root_cat = cats
        .iter()
        .find(|c| c["name"] == "ARCHIVE")
        .expect("root files");
    assert_eq!(root_cat["files"][0]["name"], "loose.mp4", "{j}");
}
