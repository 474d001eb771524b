//! The Target on a failing medium, through the real `nas-sync` binary: a full disk (a tiny tmpfs
//! in a private mount namespace), a file-size limit (SQLITE_IOERR), a read-only mount. Each time
//! the sync must exit 1 with the error code `database` and say nothing was applied, leave
//! pokervod.db byte-for-byte as it was, and record no run in archive.db. Also: the journal mode
//! a sync process leaves, and the warning about WAL on a network share.
//!
//! The mount-namespace tests need root (`unshare -m`, `mount`): not root, they say so and skip;
//! root but refused (a container without CAP_SYS_ADMIN), they fail with the reason.
#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rusqlite::Connection;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nas-sync");

/// A share, archive.db and a config in a temp dir; pokervod.db at `target_rel` in it.
struct Fx {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
    archive_db: PathBuf,
    target_db: PathBuf,
    config: PathBuf,
}

impl Fx {
    fn new(target_rel: &str, extra: &str) -> Fx {
        let tmp = tempfile::Builder::new()
            .prefix("nas-sync-target-")
            .tempdir()
            .expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let fx = Fx {
            root: dir.join("share"),
            archive_db: dir.join("archive.db"),
            target_db: dir.join(target_rel),
            config: dir.join("nas-sync.toml"),
            dir,
            _tmp: tmp,
        };
        fs::create_dir_all(&fx.root).expect("share");
        fs::create_dir_all(fx.target_db.parent().expect("parent")).expect("target dir");
        fx.write_config(&fx.target_db, extra);
        fx
    }

    fn write_config(&self, target_db: &Path, extra: &str) {
        fs::write(
            &self.config,
            format!(
                // settle_secs 0: the files written just before a sync are published by it.
                "root = '{}'\narchive_db = '{}'\ntarget_db = '{}'\nprobe_media = false\nsettle_secs = 0\n{extra}\n",
                s(&self.root),
                s(&self.archive_db),
                s(target_db)
            ),
        )
        .expect("config");
    }

    fn put(&self, rel: &str) {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        fs::write(p, rel.as_bytes()).expect("write");
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("NAS_SYNC_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run nas-sync")
    }

    fn sync_ok(&self) {
        let out = self.run(&["sync"]);
        assert!(
            out.status.success(),
            "sync failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// (sync runs, history entries) in archive.db.
    fn recorded(&self) -> (i64, i64) {
        let c = Connection::open(&self.archive_db).expect("archive.db");
        let n = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).expect(sql);
        (
            n("SELECT COUNT(*) FROM sync_runs"),
            n("SELECT COUNT(*) FROM file_history"),
        )
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp paths")
}

/// Every row of `files`, as text.
fn dump(db: &Path) -> Vec<String> {
    let c = Connection::open(db).expect("open");
    let mut st = c
        .prepare(
            "SELECT id || '|' || nas_path || '|' || status || '|' || size_bytes FROM files
             ORDER BY id",
        )
        .expect("prepare");
    st.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn integrity(db: &Path) -> String {
    Connection::open(db)
        .expect("open")
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

/// The sync failed as a fatal Target error must: exit 1, `database`, nothing applied, and the
/// SQLite message names the cause (`cause`).
fn assert_database_failure(code: i32, stdout: &str, stderr: &str, cause: &str) {
    assert_eq!(code, 1, "exit code\nstdout: {stdout}\nstderr: {stderr}");
    let j: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {stdout}"));
    assert_eq!(j["error"]["code"], "database", "{j}");
    let message = j["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nothing was applied"), "{message}");
    assert!(message.contains(cause), "the cause ({cause}): {message}");
}

/// What a test that mounts a file system under the Target starts from: a seeded Target, what
/// archive.db has recorded, a folder for what the namespace copies out, and the Target's folder
/// (the mount point).
struct MountCase {
    fx: Fx,
    seed: PathBuf,
    recorded: (i64, i64),
    out: PathBuf,
    tfs: PathBuf,
}

/// [`MountCase`], or `None` (with a SKIPPED line naming `test`) when not root: `unshare -m`
/// and the tmpfs mount need it.
fn mount_case(test: &str) -> Option<MountCase> {
    let probe = tempfile::tempdir().expect("temp dir");
    if !running_as_root(probe.path()) {
        eprintln!("SKIPPED {test}: needs root for `unshare -m` and a tmpfs mount");
        return None;
    }
    let (fx, seed) = seeded("");
    let recorded = fx.recorded();
    let out = fx.dir.join("out");
    fs::create_dir(&out).expect("out dir");
    let tfs = fx.target_db.parent().expect("tfs").to_path_buf();
    Some(MountCase {
        fx,
        seed,
        recorded,
        out,
        tfs,
    })
}

/// Run the sync in a mount namespace after `mount` (which mounts `$TFS` and puts `$SEED` there
/// as pokervod.db); it must end as a database failure naming `cause`. Its output, exit code,
/// the listing of `$TFS` and the Target after it are copied to `out`.
fn sync_fails_under(fx: &Fx, seed: &Path, out: &Path, tfs: &Path, mount: &str, cause: &str) {
    let script = format!(
        r#"{mount}set +e
"$BIN" --config "$CFG" --json sync > "$OUT/stdout" 2> "$OUT/stderr"
echo $? > "$OUT/code"
set -e
ls -A "$TFS" > "$OUT/listing"
cp "$TFS/pokervod.db" "$OUT/after.db"
"#
    );
    in_mount_namespace(
        &script,
        out,
        &[
            ("TFS", tfs),
            ("SEED", seed),
            ("BIN", Path::new(BIN)),
            ("CFG", &fx.config),
        ],
    );
    let code: i32 = read(&out.join("code")).trim().parse().expect("exit code");
    assert_database_failure(
        code,
        &read(&out.join("stdout")),
        &read(&out.join("stderr")),
        cause,
    );
}

fn running_as_root(dir: &Path) -> bool {
    let probe = dir.join(".uid-probe");
    fs::write(&probe, b"").expect("probe file");
    let uid = fs::metadata(&probe).expect("stat").uid();
    fs::remove_file(&probe).expect("remove probe");
    uid == 0
}

/// Run `script` (sh, `set -e`) in a private mount namespace with `vars` in its environment.
/// The script touches `$OUT/mounted` once its mount worked; without it the namespace or the
/// mount was refused, which fails the test with the reason.
fn in_mount_namespace(script: &str, out: &Path, vars: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-ec", script])
        .env("OUT", out)
        .env_remove("NAS_SYNC_LOG")
        .stdin(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"));
    assert!(
        out.join("mounted").exists(),
        "running as root, but a private mount namespace with a tmpfs was refused ({:?}): {}\
         \nThis test needs `unshare -m` and `mount -t tmpfs` (CAP_SYS_ADMIN).",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success(),
        "the namespace script failed ({:?}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A Target with 20 rows made by a first sync under `tfs/`, saved as `seed.db`; then 1,500 new
/// share files for the next sync to insert.
fn seeded(extra: &str) -> (Fx, PathBuf) {
    let fx = Fx::new("tfs/pokervod.db", extra);
    for i in 0..20 {
        fx.put(&format!("A/seed{i:02}.mp4"));
    }
    fx.sync_ok();
    let seed = fx.dir.join("seed.db");
    fs::copy(&fx.target_db, &seed).expect("seed copy");
    for i in 0..1500 {
        fx.put(&format!("B/new{i:04}.mp4"));
    }
    (fx, seed)
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn a_full_disk_under_the_target_ends_the_sync_with_nothing_applied() {
    let Some(MountCase {
        fx,
        seed,
        recorded,
        out,
        tfs,
    }) = mount_case("a_full_disk_under_the_target_ends_the_sync_with_nothing_applied")
    else {
        return;
    };
    // Inside the namespace: a 512 KiB tmpfs over tfs/, the seed copied in, the rest filled but
    // 64 KiB (room for the rollback journal, not for 1,500 new rows); then the sync, and the
    // state it leaves, copied out before the namespace (and its tmpfs) goes away.
    sync_fails_under(
        &fx,
        &seed,
        &out,
        &tfs,
        r#"
mount -t tmpfs -o size=512k tmpfs "$TFS"
touch "$OUT/mounted"
cp "$SEED" "$TFS/pokervod.db"
dd if=/dev/zero of="$TFS/filler" bs=4096 2>/dev/null || true
truncate -s -64K "$TFS/filler"
df -k "$TFS" > "$OUT/df"
"#,
        "full",
    );
    assert_eq!(
        read(&out.join("listing")),
        "filler\npokervod.db\n",
        "no journal or WAL left on the full disk ({})",
        read(&out.join("df"))
    );
    let after = out.join("after.db");
    assert!(
        fs::read(&after).expect("after") == fs::read(&seed).expect("seed"),
        "pokervod.db is byte-for-byte as before the sync"
    );
    assert_eq!(integrity(&after), "ok");
    assert_eq!(dump(&after), dump(&seed));
    assert_eq!(dump(&after).len(), 20);
    assert_eq!(fx.recorded(), recorded, "no run or history in archive.db");
}

#[test]
fn a_read_only_mount_under_the_target_ends_the_sync_with_nothing_applied() {
    let Some(MountCase {
        fx,
        seed,
        recorded,
        out,
        tfs,
    }) = mount_case("a_read_only_mount_under_the_target_ends_the_sync_with_nothing_applied")
    else {
        return;
    };
    sync_fails_under(
        &fx,
        &seed,
        &out,
        &tfs,
        r#"
mount -t tmpfs -o size=4m tmpfs "$TFS"
touch "$OUT/mounted"
cp "$SEED" "$TFS/pokervod.db"
mount -o remount,ro "$TFS"
"#,
        "readonly",
    );
    assert_eq!(read(&out.join("listing")), "pokervod.db\n");
    assert!(fs::read(out.join("after.db")).expect("after") == fs::read(&seed).expect("seed"));
    assert_eq!(fx.recorded(), recorded, "no run or history in archive.db");
}

#[test]
fn a_file_size_limit_hit_by_the_target_commit_ends_the_sync_with_nothing_applied() {
    let fx = Fx::new("pokervod.db", "");
    for i in 0..20 {
        fx.put(&format!("A/seed{i:02}.mp4"));
    }
    fx.sync_ok();
    // The owner's history makes pokervod.db larger than anything archive.db writes in this
    // sync, so a limit just above its size stops only the Target's growth.
    Connection::open(&fx.target_db)
        .expect("open")
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
             INSERT INTO files (nas_path, filename, catalog, format, size_bytes, hls_compatible,
                                status, created_at, updated_at, deleted_at)
             SELECT 'OLD/' || printf('%0200d', i) || '.mp4', i || '.mp4', 'OLD', 'mp4', i, 1,
                    'deleted', 't', 't', 't' FROM n;",
        )
        .expect("owner's old rows");
    for i in 0..1500 {
        fx.put(&format!("B/new{i:04}.mp4"));
    }
    let before = fs::read(&fx.target_db).expect("read");
    let limit = before.len() + 8192;
    let recorded = fx.recorded();
    // RLIMIT_FSIZE makes a write past `limit` fail with EFBIG (SIGXFSZ ignored, as the shell's
    // trap passes on through exec), which SQLite reports as SQLITE_IOERR_WRITE.
    let o = Command::new("sh")
        .args([
            "-c",
            r#"trap '' XFSZ; exec prlimit --fsize="$LIMIT" "$BIN" --config "$CFG" --json sync"#,
        ])
        .env("LIMIT", limit.to_string())
        .env("BIN", BIN)
        .env("CFG", &fx.config)
        .env_remove("NAS_SYNC_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run prlimit (util-linux)");
    assert_database_failure(
        o.status.code().expect("an exit code, not a signal"),
        &String::from_utf8_lossy(&o.stdout),
        &String::from_utf8_lossy(&o.stderr),
        "disk I/O error",
    );
    let mut journal = fx.target_db.as_os_str().to_owned();
    journal.push("-journal");
    assert!(
        !Path::new(&journal).exists(),
        "the journal was played back and removed"
    );
    assert!(
        fs::read(&fx.target_db).expect("read") == before,
        "pokervod.db is byte-for-byte as before the sync"
    );
    assert_eq!(integrity(&fx.target_db), "ok");
    assert_eq!(fx.recorded(), recorded, "no run or history in archive.db");
}

#[test]
fn a_sync_process_keeps_the_rollback_journal_and_leaves_no_wal() {
    let fx = Fx::new("pokervod.db", "");
    fx.put("A/a.mp4");
    fx.sync_ok();
    fx.put("A/b.mp4");
    fx.sync_ok();
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = fx.target_db.as_os_str().to_owned();
        p.push(suffix);
        assert!(
            !Path::new(&p).exists(),
            "pokervod.db{suffix} after the sync"
        );
    }
    let mode: String = Connection::open(&fx.target_db)
        .expect("open")
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "delete");
    assert_eq!(dump(&fx.target_db).len(), 2);
}

#[test]
fn wal_on_a_network_share_is_warned_about_once_per_sync() {
    let fx = Fx::new("pokervod.db", "target_wal = true");
    fx.put("A/a.mp4");
    const WARNING: &str = "network file system (unc) and target_wal is on";
    // A local path: no warning.
    let local = fx.run(&["-v", "sync"]);
    assert!(local.status.success());
    assert!(!String::from_utf8_lossy(&local.stderr).contains(WARNING));
    // The same file through a UNC-style path (`//tmp/…` is `/tmp/…` to Linux).
    let unc = PathBuf::from(format!("/{}", s(&fx.target_db)));
    fx.write_config(&unc, "target_wal = true");
    fx.put("A/b.mp4");
    let shared = fx.run(&["-v", "sync"]);
    let stderr = String::from_utf8_lossy(&shared.stderr);
    assert!(shared.status.success(), "{stderr}");
    assert_eq!(stderr.matches(WARNING).count(), 1, "{stderr}");
    // Without target_wal the combination is not dangerous: no warning.
    fx.write_config(&unc, "");
    fx.put("A/c.mp4");
    let plain = fx.run(&["-v", "sync"]);
    assert!(plain.status.success());
    assert!(!String::from_utf8_lossy(&plain.stderr).contains(WARNING));
}
