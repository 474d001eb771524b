//! What a container deployment relies on, with the real binary: `nas-sync health` as the
//! health check against a real `nas-sync serve`, and configuration by environment
//! (`NAS_SYNC_ROOT`, `NAS_SYNC_ARCHIVE_DB`, `NAS_SYNC_TARGET_DB`, `NAS_SYNC_CONFIG`,
//! `NAS_SYNC_BIND`, the tokens) with its precedence: flag > environment > file > default.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{BIN, count, demo, synced_demo};

const OP: &str = "e07b3c95f1a24d86b0c3e9f7a15d2b48c6e0f93a7b1d5c24";
const ADMIN: &str = "9c41e7b2a05f3d68c1e4b7a29d0f53e8a6c2b9d47e1f0a35";
const ACTIVE: &str = "SELECT COUNT(*) FROM files WHERE status = 'active'";

/// Every variable the CLI reads, so that the test process's own environment cannot leak in.
const ENV_NAMES: &[&str] = &[
    "NAS_SYNC_CONFIG",
    "NAS_SYNC_ROOT",
    "NAS_SYNC_ARCHIVE_DB",
    "NAS_SYNC_TARGET_DB",
    "NAS_SYNC_BIND",
    "NAS_SYNC_ALLOWED_HOSTS",
    "NAS_SYNC_OPERATOR_TOKEN",
    "NAS_SYNC_ADMIN_TOKEN",
    "NAS_SYNC_LOCAL_TOKEN",
];

/// The binary with a clean environment: only `env`, and a HOME with no settings file in it (so
/// the OS default config cannot be what made a test pass).
fn nas_sync(home: &Path, env: &[(&str, &Path)]) -> Command {
    let mut cmd = Command::new(BIN);
    for name in ENV_NAMES {
        cmd.env_remove(name);
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Server {
    child: Child,
    /// `http://ADDR` from the first line.
    url: String,
    /// The second line: the address to open.
    open: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `serve ARGS` (no schedule, no watcher: only `/health` and the tests move things) and
/// read the address it printed.
fn serve(mut cmd: Command, args: &[&str]) -> Server {
    cmd.args(["serve", "--no-schedule", "--no-watch"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn serve");
    let mut line = String::new();
    let mut open = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("read the first line");
    match line.trim().strip_prefix("listening on ") {
        Some(url) => Server {
            url: url.to_string(),
            open: match out.read_line(&mut open) {
                Ok(_) => open.trim().to_string(),
                Err(e) => panic!("read the second line: {e}"),
            },
            child,
        },
        None => {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let status = child.wait().expect("wait");
            panic!("serve did not start ({status}): {line}{err}");
        }
    }
}

/// Run `health` until its exit code is `want` (the server's root check runs off the request
/// path, so a change may show one answer later), at most 15 s; the last output.
fn health_until(cmd: impl Fn() -> Command, want: i32) -> Output {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = cmd().output().expect("run health");
        if out.status.code() == Some(want) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn health_exits_0_while_serving_1_with_503_when_the_root_is_gone_and_0_when_it_is_back() {
    let dir = synced_demo(40);
    let home = tempfile::tempdir().expect("home");
    let config = dir.path().join("nas-sync.toml");
    let mut cmd = nas_sync(home.path(), &[]);
    cmd.arg("--config").arg(&config);
    let server = serve(cmd, &["--bind", "127.0.0.1:0"]);
    let health = || {
        let mut c = nas_sync(home.path(), &[]);
        c.args(["health", "--url", &server.url]);
        c
    };

    let out = health_until(health, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout.starts_with(&format!("healthy: 200 ok (정상) {}/health", server.url)),
        "{}",
        text(&out)
    );
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");

    let root = dir.path().join("archive");
    let aside = dir.path().join("archive-away");
    fs::rename(&root, &aside).expect("take the share away");
    let out = health_until(health, 1);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("unhealthy: 503 root_unreachable (에러) "),
        "{}",
        text(&out)
    );
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    // --json says the same for a monitoring script.
    let out = health().arg("--json").output().expect("health --json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (
            &v["healthy"],
            &v["http_status"],
            &v["health"]["code"],
            out.status.code()
        ),
        (
            &serde_json::json!(false),
            &serde_json::json!(503),
            &serde_json::json!("root_unreachable"),
            Some(1)
        ),
        "{v}"
    );

    fs::rename(&aside, &root).expect("share back");
    let out = health_until(health, 0);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("healthy: 200 "),
        "{}",
        text(&out)
    );
}

#[test]
fn health_without_a_server_is_unreachable_and_a_bad_url_is_a_usage_error() {
    let home = tempfile::tempdir().expect("home");
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let t0 = Instant::now();
    let out = nas_sync(home.path(), &[])
        .args(["health", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .expect("health");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("unreachable: http://127.0.0.1:{port}/health: ")),
        "{}",
        text(&out)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(6),
        "a refused connection fails fast"
    );

    // Something that is not our server, and does not answer: the check gives up in time.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = silent.local_addr().expect("addr");
    let t0 = Instant::now();
    let out = nas_sync(home.path(), &[])
        .args(["health", "--url", &format!("{addr}")])
        .output()
        .expect("health");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no answer within 5 s"),
        "{}",
        text(&out)
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    drop(silent);

    let out = nas_sync(home.path(), &[])
        .args(["health", "--url", "https://nas:8787"])
        .output()
        .expect("health");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only http://"),
        "{}",
        text(&out)
    );
}

/// The container's set-up: no config file yet, every path and the address from the
/// environment, both tokens; `health` finds the server by `NAS_SYNC_BIND` alone.
#[test]
fn serve_runs_from_the_environment_alone_and_health_finds_it_by_nas_sync_bind() {
    let dir = demo(40);
    let d = dir.path();
    fs::remove_file(d.join("nas-sync.toml")).expect("no config file");
    let home = tempfile::tempdir().expect("home");
    let data = d.join("data");
    fs::create_dir(&data).expect("data dir");
    let env = [
        ("NAS_SYNC_CONFIG", data.join("nas-sync.toml")),
        ("NAS_SYNC_ROOT", d.join("archive")),
        ("NAS_SYNC_ARCHIVE_DB", data.join("archive.db")),
        ("NAS_SYNC_TARGET_DB", d.join("pokervod.db")),
        ("NAS_SYNC_BIND", "0.0.0.0:0".into()),
        ("NAS_SYNC_OPERATOR_TOKEN", OP.into()),
        ("NAS_SYNC_ADMIN_TOKEN", ADMIN.into()),
    ];
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let server = serve(nas_sync(home.path(), &env), &[]);
    let port = server.url.rsplit(':').next().expect("port").to_string();
    assert!(server.url.starts_with("http://0.0.0.0:"), "{}", server.url);
    // No browser can open 0.0.0.0: the address to open names the NAS's own.
    assert_eq!(
        server.open,
        format!("open http://NAS_ADDRESS:{port}/?token=YOUR_TOKEN (the operator or admin token)")
    );

    // One-off commands see the same configuration, with no config file anywhere.
    let out = nas_sync(home.path(), &env)
        .args(["-q", "sync"])
        .output()
        .expect("sync");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let synced = count(&d.join("pokervod.db"), ACTIVE);
    assert!(
        synced > 0,
        "the sync wrote the Target named by NAS_SYNC_TARGET_DB"
    );
    assert!(
        data.join("archive.db").is_file(),
        "archive.db where NAS_SYNC_ARCHIVE_DB says"
    );
    assert!(
        !data.join("nas-sync.toml").exists(),
        "nothing wrote a settings file"
    );
    assert!(
        !home.path().join("data").exists() && !home.path().join("config").exists(),
        "nothing used the OS default folders"
    );

    // `health` with no --url: NAS_SYNC_BIND's port on loopback.
    let bind = format!("0.0.0.0:{port}");
    let mut health_env = env.clone();
    health_env.retain(|(k, _)| *k != "NAS_SYNC_BIND");
    health_env.push(("NAS_SYNC_BIND", Path::new(&bind)));
    let health = || {
        let mut c = nas_sync(home.path(), &health_env);
        c.arg("health");
        c
    };
    let out = health_until(health, 0);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!(
            "healthy: 200 ok (정상) http://127.0.0.1:{port}/health"
        )),
        "{}",
        text(&out)
    );

    // The server answers with the environment's tokens and reads the environment's databases.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let dashboard = |token: Option<&str>| {
        let mut r = agent.get(format!("http://127.0.0.1:{port}/api/dashboard"));
        if let Some(t) = token {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = r.call().expect("dashboard");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        (status, body)
    };
    assert_eq!(
        dashboard(None).0,
        401,
        "a non-loopback server needs a token"
    );
    let (status, body) = dashboard(Some(OP));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["target"]["db_path"].as_str(),
            body["target"]["total_files"].as_i64()
        ),
        (d.join("pokervod.db").to_str(), Some(synced)),
        "the server reads the Target NAS_SYNC_TARGET_DB names: {body}"
    );
}

#[test]
fn a_flag_wins_over_the_environment_and_the_environment_over_the_file() {
    let dir = demo(30);
    let d = dir.path();
    let home = tempfile::tempdir().expect("home");
    let config = d.join("nas-sync.toml");
    let (from_file, from_env, from_flag) = (
        d.join("pokervod.db"),
        d.join("env-target.db"),
        d.join("flag-target.db"),
    );
    let sync = |env: &[(&str, &Path)], flag: Option<&Path>| {
        let mut cmd = nas_sync(home.path(), env);
        cmd.arg("--config").arg(&config);
        if let Some(f) = flag {
            cmd.arg("--target-db").arg(f);
        }
        let out = cmd.args(["-q", "sync"]).output().expect("sync");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };

    // The file names pokervod.db; the environment names another Target: the environment wins.
    sync(&[("NAS_SYNC_TARGET_DB", &from_env)], None);
    assert!(
        count(&from_env, ACTIVE) > 0,
        "NAS_SYNC_TARGET_DB was written"
    );
    assert!(!from_file.exists(), "the file's target_db was not touched");
    // A flag wins over both.
    sync(&[("NAS_SYNC_TARGET_DB", &from_env)], Some(&from_flag));
    assert_eq!(count(&from_flag, ACTIVE), count(&from_env, ACTIVE));
    assert!(!from_file.exists(), "the file's target_db was not touched");
    // An empty variable counts as unset: the file's value again.
    sync(&[("NAS_SYNC_TARGET_DB", Path::new(""))], None);
    assert_eq!(count(&from_file, ACTIVE), count(&from_env, ACTIVE));

    // NAS_SYNC_ROOT over the file's root: a root with nothing in it is the offline guard
    // refusing (exit 3), which proves which root the sync looked at.
    let empty = d.join("empty-root");
    fs::create_dir(&empty).expect("empty root");
    let out = nas_sync(home.path(), &[("NAS_SYNC_ROOT", &empty)])
        .arg("--config")
        .arg(&config)
        .args(["-q", "sync"])
        .output()
        .expect("sync");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // --root wins over NAS_SYNC_ROOT.
    let out = nas_sync(home.path(), &[("NAS_SYNC_ROOT", &empty)])
        .arg("--config")
        .arg(&config)
        .arg("--root")
        .arg(d.join("archive"))
        .args(["-q", "sync"])
        .output()
        .expect("sync");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // --config must exist; NAS_SYNC_CONFIG may be absent (the defaults, until settings are
    // saved there).
    let missing = d.join("nowhere.toml");
    let out = nas_sync(home.path(), &[])
        .arg("--config")
        .arg(&missing)
        .arg("dashboard")
        .output()
        .expect("dashboard");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = nas_sync(
        home.path(),
        &[
            ("NAS_SYNC_CONFIG", &missing),
            ("NAS_SYNC_ROOT", &d.join("archive")),
            ("NAS_SYNC_ARCHIVE_DB", &d.join("archive.db")),
            ("NAS_SYNC_TARGET_DB", &from_file),
        ],
    )
    .args(["--json", "dashboard"])
    .output()
    .expect("dashboard");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["target"]["total_files"].as_i64(),
        Some(count(&from_file, ACTIVE)),
        "{v}"
    );
}

#[test]
fn a_non_loopback_bind_names_the_token_to_set_and_a_bad_bind_is_a_usage_error() {
    let dir = synced_demo(20);
    let home = tempfile::tempdir().expect("home");
    let config = dir.path().join("nas-sync.toml");
    let run = |env: &[(&str, &Path)]| {
        nas_sync(home.path(), env)
            .arg("--config")
            .arg(&config)
            .args(["serve", "--no-schedule", "--no-watch"])
            .stdout(Stdio::null())
            .output()
            .expect("serve")
    };
    let bind = Path::new("0.0.0.0:0");
    let out = run(&[
        ("NAS_SYNC_BIND", bind),
        ("NAS_SYNC_OPERATOR_TOKEN", Path::new(OP)),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("set NAS_SYNC_ADMIN_TOKEN") && !err.contains("NAS_SYNC_OPERATOR_TOKEN"),
        "names only the missing token: {err}"
    );
    assert!(err.contains("토큰이 필요합니다"), "Korean first: {err}");

    let out = run(&[("NAS_SYNC_BIND", Path::new("nas:8787"))]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("NAS_SYNC_BIND=\"nas:8787\" is not an address"),
        "{}",
        text(&out)
    );
}
