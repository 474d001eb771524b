//! The real CLI and server against a root on a real SMB share: Samba on 127.0.0.1 mounted with
//! smbnetfs (`scripts/smb-testbed.sh`; needs root and Debian's samba, smbnetfs and fuse3, which
//! `scripts/test.sh` installs). The same tree synced through the share and from the local disk
//! gives the same Target; a move is re-pointed; a NAS that vanishes deletes nothing and the next
//! sync after it is back converges.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

static ONE_SHARE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The test bed for one test; stopped when dropped. One at a time (smbnetfs talks to port 445
/// only), so each test holds [`ONE_SHARE`] while its share runs.
struct Share {
    _one: std::sync::MutexGuard<'static, ()>,
    state: tempfile::TempDir,
    /// The exported folder as seen through SMB.
    mount: PathBuf,
}

impl Share {
    fn start(dir: &Path) -> Share {
        let one = ONE_SHARE.lock().unwrap_or_else(|p| p.into_inner());
        let state = tempfile::tempdir().expect("state dir");
        let out = testbed(&["start", &dir.display().to_string()], state.path());
        assert!(
            out.status.success(),
            "the SMB test bed did not start (as root, with `apt-get install samba smbnetfs fuse3`): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mount = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Share {
            _one: one,
            state,
            mount,
        }
    }

    fn restart(&self, dir: &Path) {
        let out = testbed(&["start", &dir.display().to_string()], self.state.path());
        assert!(out.status.success(), "{out:?}");
    }

    /// SIGSTOP every smbd of the test bed: the NAS hangs (calls block until smbnetfs gives up).
    fn hang(&self) {
        let out = testbed(&["hang"], self.state.path());
        assert!(out.status.success(), "{out:?}");
    }

    fn resume(&self) {
        let out = testbed(&["resume"], self.state.path());
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
    write_config_with(path, root, dbs, "");
}

/// A config for `root` with its databases in `dbs`, plus `extra` TOML lines.
fn write_config_with(path: &Path, root: &Path, dbs: &Path, extra: &str) {
    fs::create_dir_all(dbs).expect("db folder");
    fs::write(
        path,
        format!(
            "root = {root:?}\narchive_db = {:?}\ntarget_db = {:?}\nprobe_media = false\n{extra}",
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

/// `nas-sync serve` on `config` (no schedule, no watcher) and its base URL.
fn serve(config: &Path) -> (Server, String) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
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
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    (Server(child, stdout), url)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// `(status, JSON body, how long the answer took)` of a GET, or a POST of `{}` when `post`.
fn call(agent: &ureq::Agent, url: &str, path: &str, post: bool) -> (u16, Value, Duration) {
    let t = Instant::now();
    let auth = format!("Bearer {TOKEN}");
    let mut r = if post {
        agent
            .post(format!("{url}{path}"))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send("{}")
    } else {
        agent
            .get(format!("{url}{path}"))
            .header("Authorization", &auth)
            .call()
    }
    .unwrap_or_else(|e| panic!("{path}: {e}"));
    let took = t.elapsed();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&body).unwrap_or(Value::Null),
        took,
    )
}

/// Poll `path` until `done` holds for its JSON (or panic after `within`).
fn wait_for(
    agent: &ureq::Agent,
    url: &str,
    path: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, v, _) = call(agent, url, path, false);
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{path} did not reach the expected state within {within:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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
    let (server, url) = serve(&smb);
    let agent = agent();
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

/// A NAS that hangs (every smbd stopped) holds no request and no job: `/health`, the dashboard
/// and the status answer within a second; a sync stops with `share_timeout` after
/// `share_timeout_secs` and changes nothing; a cancel is honoured within 2 s even while the
/// walk is blocked; when the NAS answers again, the status clears and a sync converges.
#[test]
fn a_hung_share_holds_no_request_and_no_job() {
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
    let cfg = dir.path().join("smb.toml");
    let dbs = dir.path().join("db");
    write_config_with(&cfg, &share.mount, &dbs, "share_timeout_secs = 5\n");
    let (code, first) = cli(&cfg, &["sync"]);
    assert_eq!(code, 0, "{first}");
    let target = dbs.join("pokervod.db");
    let before = target_rows(&target);

    let (_server, url) = serve(&cfg);
    let agent = agent();
    let (status, h, _) = call(&agent, &url, "/health", false);
    assert_eq!(status, 200, "{h}");

    share.hang();
    let hung = Instant::now();
    // Every answer within a second while the NAS hangs, and /health turns to share_timeout once
    // the root check is overdue.
    let mut saw_timeout = false;
    let mut last = Value::Null;
    while hung.elapsed() < Duration::from_secs(20) && !saw_timeout {
        for path in ["/health", "/api/dashboard", "/api/status"] {
            let (_, v, took) = call(&agent, &url, path, false);
            assert!(
                took < Duration::from_secs(1),
                "{path} took {took:?} while the NAS hangs: {v}"
            );
            if path == "/health" {
                saw_timeout = v["code"] == "share_timeout";
                last = v;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        saw_timeout,
        "/health reports share_timeout within 20 s of the hang: {last}"
    );
    let (status, _, _) = call(&agent, &url, "/health", false);
    assert_eq!(status, 503, "a hung NAS is unhealthy");

    // A sync fails with share_timeout (NAS 응답 없음) and writes nothing.
    let (status, started, took) = call(&agent, &url, "/api/sync", true);
    assert!(status < 300, "{started}");
    assert!(
        took < Duration::from_secs(1),
        "starting a sync took {took:?}"
    );
    let id = started["job_id"].as_u64().expect("job_id");
    let job = wait_for(
        &agent,
        &url,
        &format!("/api/jobs/{id}"),
        Duration::from_secs(30),
        |j| j["state"] != "running",
    );
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "share_timeout", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("NAS 응답 없음"),
        "{job}"
    );
    assert_eq!(
        target_rows(&target),
        before,
        "nothing changed in the Target"
    );

    // A cancel while the walk is blocked ends the job within 2 s.
    let (_, started, _) = call(&agent, &url, "/api/sync", true);
    let id = started["job_id"].as_u64().expect("job_id");
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    let (status, c, _) = call(&agent, &url, &format!("/api/jobs/{id}/cancel"), true);
    assert!(status < 300, "{c}");
    let job = wait_for(
        &agent,
        &url,
        &format!("/api/jobs/{id}"),
        Duration::from_secs(10),
        |j| j["state"] != "running",
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2) + Duration::from_millis(300),
        "the cancel took {:?}: {job}",
        asked.elapsed()
    );
    assert_eq!(job["state"], "cancelled", "{job}");

    // The NAS answers again: the status clears and a sync converges with nothing deleted.
    share.resume();
    wait_for(&agent, &url, "/health", Duration::from_secs(60), |h| {
        h["status"] != "error"
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let job = loop {
        let (_, started, _) = call(&agent, &url, "/api/sync", true);
        let id = started["job_id"].as_u64().expect("job_id");
        let job = wait_for(
            &agent,
            &url,
            &format!("/api/jobs/{id}"),
            Duration::from_secs(60),
            |j| j["state"] != "running",
        );
        // smbnetfs takes a few seconds to reconnect after the hang.
        if job["state"] == "succeeded" || Instant::now() > deadline {
            break job;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["deleted"], 0, "{job}");
    assert_eq!(target_rows(&target), before, "converged to the same Target");
}
