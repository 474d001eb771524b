//! The SMB test bed for the black-box tests: a real Samba share on 127.0.0.1 mounted with
//! smbnetfs (`scripts/smb-testbed.sh`; needs root and Debian's samba, smbnetfs and fuse3, which
//! `scripts/test.sh` installs), the CLI and the server run on it, and reads of the Target.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::BIN;
pub const TOKEN: &str = "smb-test-local-token-0123456789";

pub fn testbed(args: &[&str], state: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smb-testbed.sh");
    Command::new("bash")
        .arg(script)
        .args(args)
        .env("SMB_TESTBED", state)
        .output()
        .expect("run scripts/smb-testbed.sh")
}

static ONE_SHARE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How long one test may hold the test bed before [`watchdog`] steps in: 12 minutes (the longest
/// SMB test takes about 3 on a loaded machine) plus the soak's own time (`NAS_SYNC_SOAK_SECS`).
fn watchdog_limit() -> Duration {
    let soak: u64 = std::env::var("NAS_SYNC_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Duration::from_secs(12 * 60 + soak)
}

/// The test bed for one test; stopped when dropped. One at a time (smbnetfs talks to port 445
/// only), so each test holds [`ONE_SHARE`] while its share runs.
pub struct Share {
    _one: std::sync::MutexGuard<'static, ()>,
    pub state: tempfile::TempDir,
    /// The exported folder as seen through SMB.
    pub mount: PathBuf,
    /// Dropped with the share: tells its watchdog the test is over.
    _done: std::sync::mpsc::Sender<()>,
}

/// A test that still holds the test bed after [`watchdog_limit`] is stuck (in the past: callers
/// waiting on a deadlocked smbnetfs). Rather than hold CI until its limit with no word, print what
/// every process of the test bed is waiting on, stop the test bed (which fails every pending
/// request on the share, so the test ends with its own assertion), and exit if even that does not
/// end it.
fn watchdog(state: PathBuf, done: std::sync::mpsc::Receiver<()>) {
    use std::io::Write;
    use std::sync::mpsc::RecvTimeoutError;
    let limit = watchdog_limit();
    if done.recv_timeout(limit) != Err(RecvTimeoutError::Timeout) {
        return;
    }
    // Written to the real stderr: the test harness captures eprintln! and would only show it on
    // a failure that may never come.
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "smb test bed: a test has held the share for {limit:?}; what its processes wait on:"
    );
    let _ = err.write_all(&diagnose(&state));
    let _ = testbed(&["stop"], &state);
    if done.recv_timeout(Duration::from_secs(120)) == Err(RecvTimeoutError::Timeout) {
        let _ = writeln!(
            err,
            "smb test bed: the test is still stuck after a stop; exiting"
        );
        std::process::exit(101);
    }
}

/// Every thread of the processes that use the test bed (smbd, smbnetfs, nas-sync) with its state
/// and kernel wait channel, and the tail of the test bed's logs.
fn diagnose(state: &Path) -> Vec<u8> {
    let script = r#"
for p in $(pgrep -f "^(smbd|smbnetfs|[^ ]*nas-sync) "); do
  echo "== $p $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)"
  for t in /proc/$p/task/*; do
    echo "  $(basename "$t") $(cut -d' ' -f3 "$t/stat" 2>/dev/null) $(cat "$t/wchan" 2>/dev/null)"
  done
done
tail -n 20 "$1"/log/*.log 2>/dev/null
"#;
    Command::new("bash")
        .args(["-c", script, "diagnose"])
        .arg(state)
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default()
}

impl Share {
    pub fn start(dir: &Path) -> Share {
        let one = ONE_SHARE.lock().unwrap_or_else(|p| p.into_inner());
        let state = tempfile::tempdir().expect("state dir");
        let out = testbed(&["start", &dir.display().to_string()], state.path());
        assert!(
            out.status.success(),
            "the SMB test bed did not start (as root, with `apt-get install samba smbnetfs fuse3`): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mount = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let (done, watched) = std::sync::mpsc::channel();
        let dir = state.path().to_path_buf();
        std::thread::spawn(move || watchdog(dir, watched));
        Share {
            _one: one,
            state,
            mount,
            _done: done,
        }
    }

    pub fn restart(&self, dir: &Path) {
        let out = testbed(&["start", &dir.display().to_string()], self.state.path());
        assert!(out.status.success(), "{out:?}");
    }

    /// SIGSTOP every smbd of the test bed: the NAS hangs (calls block until smbnetfs gives up).
    pub fn hang(&self) {
        let out = testbed(&["hang"], self.state.path());
        assert!(out.status.success(), "{out:?}");
    }

    /// SIGKILL every smbd of the test bed: the NAS vanishes ([`Share::restart`] brings it back).
    pub fn kill(&self) {
        let out = testbed(&["kill"], self.state.path());
        assert!(out.status.success(), "{out:?}");
    }

    pub fn resume(&self) {
        let out = testbed(&["resume"], self.state.path());
        assert!(out.status.success(), "{out:?}");
    }

    pub fn smbd_pid(&self) -> String {
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

pub fn write_config(path: &Path, root: &Path, dbs: &Path) {
    write_config_with(path, root, dbs, "");
}

/// A config for `root` with its databases in `dbs`, plus `extra` TOML lines.
pub fn write_config_with(path: &Path, root: &Path, dbs: &Path, extra: &str) {
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

pub fn cli(config: &Path, args: &[&str]) -> (i32, Value) {
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
pub fn target_rows(db: &Path) -> Vec<(String, i64, String)> {
    let c = rusqlite::Connection::open(db).expect("open pokervod.db");
    let mut s = c
        .prepare("SELECT nas_path, size_bytes, status FROM files ORDER BY nas_path")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

pub fn row_id(db: &Path, nas_path: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open pokervod.db");
    c.query_row(
        "SELECT id FROM files WHERE nas_path = ?1 AND status = 'active'",
        [nas_path],
        |r| r.get(0),
    )
    .unwrap_or_else(|e| panic!("{nas_path}: {e}"))
}

/// `nas-sync serve` on `config` (no schedule, no watcher) and its base URL.
pub fn serve(config: &Path) -> (Server, String) {
    serve_with(config, &["--no-schedule", "--no-watch"], &[])
}

/// `nas-sync serve` on `config` with `flags` and `envs`, and its base URL.
pub fn serve_with(config: &Path, flags: &[&str], envs: &[(&str, &str)]) -> (Server, String) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(flags)
        .envs(envs.iter().copied())
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

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// `(status, JSON body, how long the answer took)` of a GET, or a POST of `{}` when `post`.
pub fn call(agent: &ureq::Agent, url: &str, path: &str, post: bool) -> (u16, Value, Duration) {
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
pub fn wait_for(
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
pub struct Server(
    pub Child,
    #[allow(dead_code)] BufReader<std::process::ChildStdout>,
);

impl Drop for Server {
    /// Kill the server and reap it, but wait no more than 30 s: a server whose abandoned walk is
    /// still inside a hung share's request cannot finish exiting until the share answers or the
    /// test bed stops (which the share's own drop does next).
    fn drop(&mut self) {
        let _ = self.0.kill();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
