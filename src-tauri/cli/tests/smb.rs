//! The real CLI and server against a root on a real SMB share: Samba on 127.0.0.1 mounted with
//! smbnetfs (`scripts/smb-testbed.sh`; needs root and Debian's samba, smbnetfs and fuse3, which
//! `scripts/test.sh` installs). The same tree synced through the share and from the local disk
//! gives the same Target; a move is re-pointed; a NAS that vanishes deletes nothing and the next
//! sync after it is back converges.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nas-sync");
const TOKEN: &str = "smb-test-local-token-0123456789";

fn testbed(args: &[&str], state: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smb-testbed.sh");
    Command::new("bash")
        .arg(script)
        .args(args)
        .env("SMB_TESTBED", state)
        .output()
        .expect("run scripts/smb-testbed.sh")
}

/// The test bed for one test; stopped when dropped.
struct Share {
    state: tempfile::TempDir,
    /// The exported folder as seen through SMB.
    mount: PathBuf,
}

impl Share {
    fn start(dir: &Path) -> Share {
        let state = tempfile::tempdir().expect("state dir");
        let out = testbed(&["start", &dir.display().to_string()], state.path());
        assert!(
            out.status.success(),
            "the SMB test bed did not start (as root, with `apt-get install samba smbnetfs fuse3`): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mount = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Share { state, mount }
    }

    fn restart(&self, dir: &Path) {
        let out = testbed(&["start", &dir.display().to_string()], self.state.path());
        assert!(out.status.success(), "{out:?}");
    }

    fn smbd_pid(&self) -> String {
        let out = testbed(&["pid"], self.state.path());
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let _ = testbed(&["stop"], self.state.path());
    }
}

fn write_config(path: &Path, root: &Path, dbs: &Path) {
    fs::create_dir_all(dbs).expect("db folder");
    fs::write(
        path,
        format!(
            "root = {root:?}\narchive_db = {:?}\ntarget_db = {:?}\nprobe_media = false\n",
            dbs.join("archive.db").display().to_string(),
            dbs.join("pokervod.db").display().to_string(),
            root = root.display().to_string(),
        ),
    )
    .expect("write config");
}

fn cli(config: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .arg("--json")
        .output()
        .expect("run nas-sync");
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

/// `(nas_path, size, status)` of every Target row, in path order.
fn target_rows(db: &Path) -> Vec<(String, i64, String)> {
    let c = rusqlite::Connection::open(db).expect("open pokervod.db");
    let mut s = c
        .prepare("SELECT nas_path, size_bytes, status FROM files ORDER BY nas_path")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn row_id(db: &Path, nas_path: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open pokervod.db");
    c.query_row(
        "SELECT id FROM files WHERE nas_path = ?1 AND status = 'active'",
        [nas_path],
        |r| r.get(0),
    )
    .unwrap_or_else(|e| panic!("{nas_path}: {e}"))
}

/// The server and its stdout (kept open while it runs).
struct Server(
    Child,
    #[allow(dead_code)] BufReader<std::process::ChildStdout>,
);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_cli_and_the_server_over_a_real_smb_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["demo", "--dir"])
        .arg(dir.path())
        .args(["--files", "300"])
        .output()
        .expect("demo");
    assert!(out.status.success(), "{out:?}");
    let archive = dir.path().join("archive");
    let share = Share::start(&archive);

    // The same tree from the local disk and through SMB: the same Target.
    let local = dir.path().join("local.toml");
    write_config(&local, &archive, &dir.path().join("local-db"));
    let smb = dir.path().join("smb.toml");
    let smb_db = dir.path().join("smb-db");
    write_config(&smb, &share.mount, &smb_db);
    let (code, l) = cli(&local, &["sync"]);
    assert_eq!(code, 0, "{l}");
    let (code, s) = cli(&smb, &["sync"]);
    assert_eq!(code, 0, "{s}");
    assert!(s["added"].as_u64().unwrap_or(0) > 100, "{s}");
    assert_eq!(s["added"], l["added"], "the same files published");
    let target = smb_db.join("pokervod.db");
    assert_eq!(
        target_rows(&target),
        target_rows(&dir.path().join("local-db/pokervod.db")),
        "the same Target rows through SMB as from the local disk"
    );
    // A no-change sync through the share writes nothing.
    let (code, again) = cli(&smb, &["sync"]);
    assert_eq!(code, 0, "{again}");
    for k in ["added", "updated", "moved", "deleted"] {
        assert_eq!(again[k], 0, "{k}: {again}");
    }

    // A move on the NAS is re-pointed (same row id) when seen through SMB.
    let (from, _, _) = target_rows(&target)
        .into_iter()
        .find(|(p, _, st)| st == "active" && p.ends_with(".mp4"))
        .expect("an mp4 row");
    let id = row_id(&target, &from);
    let to = format!(
        "Moved/{}",
        Path::new(&from)
            .file_name()
            .expect("name")
            .to_string_lossy()
    );
    fs::create_dir_all(archive.join("Moved")).expect("mkdir");
    fs::rename(archive.join(&from), archive.join(&to)).expect("move on the NAS");
    let (code, m) = cli(&smb, &["sync"]);
    assert_eq!(code, 0, "{m}");
    assert_eq!(
        (m["moved"].as_u64(), m["deleted"].as_u64()),
        (Some(1), Some(0)),
        "{m}"
    );
    assert_eq!(
        row_id(&target, &to),
        id,
        "the moved file keeps its Target row"
    );

    // The server on the same root answers from the SMB-backed archive.
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&smb)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-schedule",
            "--no-watch",
        ])
        .env("NAS_SYNC_LOCAL_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut first).expect("first line");
    let server = Server(child, stdout);
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{url}/api/dashboard"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .expect("dashboard");
    assert_eq!(r.status().as_u16(), 200);
    let d: Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    let active = target_rows(&target)
        .iter()
        .filter(|(_, _, st)| st == "active")
        .count();
    assert_eq!(
        d["target"]["total_files"].as_u64(),
        Some(active as u64),
        "{d}"
    );
    drop(server);

    // The NAS vanishes: the sync is refused and nothing is deleted; back, it converges.
    let before = target_rows(&target);
    let pid = share.smbd_pid();
    let killed = Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (code, gone) = cli(&smb, &["sync"]);
    assert_ne!(code, 0, "a sync without the NAS must not succeed: {gone}");
    assert_eq!(
        target_rows(&target),
        before,
        "nothing changed in the Target"
    );
    share.restart(&archive);
    let (code, back) = cli(&smb, &["sync"]);
    assert_eq!(code, 0, "{back}");
    assert_eq!(back["deleted"], 0, "{back}");
    assert_eq!(target_rows(&target), before, "converged to the same Target");
}
