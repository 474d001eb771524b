//! `nas-sync serve` as a client sees it: the real binary on an ephemeral loopback port, a demo
//! archive in a temp dir, real HTTP (ureq) and WebSocket (tungstenite) clients.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;

mod common;
use common::{BIN, demo};
const WAIT: Duration = Duration::from_secs(60);
/// The launch token the loopback servers of these tests use (`NAS_SYNC_LOCAL_TOKEN`).
const LOCAL: &str = "local-test-token-5f2c9e81";
/// An admin token, for the steps that need an administrator (the admin boundary itself is
/// tested in `security.rs`).
const ADMIN: &str = "9c41e7b2a05f3d68c1e4b7a29d0f53e8a6c2b9d47e1f0a35";
/// An operator token (non-loopback servers).
const OP: &str = "e07b3c95f1a24d86b0c3e9f7a15d2b48c6e0f93a7b1d5c24";

struct Server {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
    token: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli_json(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.join("nas-sync.toml"))
        .args(args)
        .arg("--json")
        .output()
        .expect("run cli");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn start(dir: tempfile::TempDir, bind: &str, env: &[(&str, &str)]) -> Result<Server, String> {
    start_with(dir, bind, env, &["--no-watch"])
}

fn start_with(
    dir: tempfile::TempDir,
    bind: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Result<Server, String> {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(dir.path().join("nas-sync.toml"))
        .args(["serve", "--no-schedule", "--bind", bind])
        .args(extra)
        .env_remove("NAS_SYNC_OPERATOR_TOKEN")
        .env_remove("NAS_SYNC_ADMIN_TOKEN")
        .env("NAS_SYNC_LOCAL_TOKEN", LOCAL)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn serve");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("read first line");
    let mut open = String::new();
    let _ = out.read_line(&mut open);
    let Some(url) = line
        .trim()
        .strip_prefix("listening on ")
        .map(str::to_string)
    else {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = child.wait().expect("wait");
        return Err(format!("{status}: {err}"));
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(WAIT))
        .build()
        .into();
    let loopback = bind.starts_with("127.") || bind.starts_with("[::1]");
    if loopback {
        assert_eq!(
            open.trim(),
            format!("open {url}/?token={LOCAL}"),
            "the second line is the address to open"
        );
    }
    Ok(Server {
        child,
        url,
        dir,
        agent,
        token: loopback.then(|| LOCAL.to_string()),
    })
}

fn serve_demo(files: u32) -> Server {
    let dir = demo(files);
    cli_json(dir.path(), &["sync"]);
    start(dir, "127.0.0.1:0", &[("NAS_SYNC_ADMIN_TOKEN", ADMIN)]).expect("server starts")
}

impl Server {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_as(self.token.as_deref(), method, path, body)
    }

    fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let auth = token.map(|t| format!("Bearer {t}"));
        let resp = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = match method {
                    "POST" => self.agent.post(&url),
                    "PUT" => self.agent.put(&url),
                    m => panic!("method {m}"),
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                // Every state-changing request is JSON (the server refuses anything else).
                let b = body.cloned().unwrap_or_else(|| json!({}));
                r.header("Content-Type", "application/json")
                    .send(b.to_string())
            }
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("nas-sync.toml")
    }

    fn wait_job(&self, id: u64) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let j = self.get(&format!("/api/jobs/{id}"));
            if j["state"] != "running" {
                return j;
            }
            assert!(Instant::now() < deadline, "job {id} finished in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ws(&self, path: &str) -> tungstenite::WebSocket<MaybeTlsStream<TcpStream>> {
        let mut url = format!("{}{path}", self.url.replace("http://", "ws://"));
        if let Some(t) = &self.token {
            url.push_str(&format!("?token={t}"));
        }
        let (mut socket, _) = tungstenite::connect(url).expect("websocket connects");
        if let MaybeTlsStream::Plain(s) = socket.get_mut() {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
        }
        socket
    }
}

/// The next JSON message, or None after the read timeout.
fn next_json(socket: &mut tungstenite::WebSocket<MaybeTlsStream<TcpStream>>) -> Option<Value> {
    match socket.read() {
        Ok(tungstenite::Message::Text(t)) => serde_json::from_str(t.as_str()).ok(),
        Ok(_) => next_json(socket),
        Err(_) => None,
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("object expected: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn has_keys(v: &Value, want: &[&str]) {
    let k = keys(v);
    for w in want {
        assert!(k.iter().any(|x| x == w), "`{w}` missing in {k:?}");
    }
}

#[test]
fn every_endpoint_answers_in_the_prd_shapes_and_equals_the_cli() {
    let s = serve_demo(120);
    let health = s.get("/health");
    assert_eq!(health["status"], "ok");
    assert!(
        health["last_sync"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let dash = s.get("/api/dashboard");
    let cli = cli_json(s.dir.path(), &["dashboard"]);
    for (a, b) in [
        ("source", "total_files"),
        ("source", "total_size_bytes"),
        ("target", "total_files"),
        ("target", "hls_ratio"),
    ] {
        assert_eq!(dash[a][b], cli[a][b], "{a}.{b}");
    }
    assert_eq!(dash["target"]["excluded"], cli["target"]["excluded"]);
    assert_eq!(dash["catalogs"], cli["catalogs"]);
    has_keys(
        &dash["sync_status"],
        &["is_running", "last_sync_time", "last_result"],
    );

    let page = s.get("/api/matching?per_page=5&sort=size&desc=true");
    assert_eq!(
        keys(&page),
        ["items", "page", "pages", "per_page", "summary", "total"]
    );
    assert_eq!(page["items"].as_array().map(Vec::len), Some(5));
    let cli_page = cli_json(
        s.dir.path(),
        &["matching", "--per-page", "5", "--sort", "size", "--desc"],
    );
    assert_eq!(page, cli_page, "HTTP and CLI give the same page");
    has_keys(
        &page["items"][0],
        &[
            "status",
            "reason",
            "reason_code",
            "catalog",
            "source",
            "target",
            "duplicates",
        ],
    );
    let searched = s.get("/api/matching?search=WSOP&status=synced&catalog=WSOP&page=1");
    assert!(searched["total"].as_u64().is_some_and(|n| n > 0));

    let tree = s.get("/api/matching/tree");
    has_keys(
        &tree["catalogs"][0],
        &[
            "name",
            "total_files",
            "synced",
            "not_synced",
            "children",
            "files",
        ],
    );
    let node = s.get("/api/matching/tree?path=WSOP");
    assert_eq!(node["path"], "WSOP");
    has_keys(
        &node["directories"][0],
        &["name", "path", "total_files", "synced"],
    );

    let hist = s.get("/api/history?event=added&limit=3");
    assert_eq!(hist["items"].as_array().map(Vec::len), Some(3));
    // The second page over HTTP is the CLI's `history --offset 3 --limit 3`, and follows the first.
    let second = s.get("/api/history?event=added&limit=3&offset=3");
    assert_eq!(second["offset"], 3);
    assert_eq!(second["total"], hist["total"]);
    assert!(hist["total"].as_u64().unwrap_or(0) > 6, "{}", hist["total"]);
    assert_eq!(
        second,
        cli_json(
            s.dir.path(),
            &[
                "history", "--event", "added", "--limit", "3", "--offset", "3"
            ]
        )
    );
    assert!(hist["items"][2]["id"].as_i64() > second["items"][0]["id"].as_i64());
    has_keys(
        &hist["items"][0],
        &["event", "path", "old_path", "catalog", "time"],
    );

    let status = s.get("/api/status");
    assert_eq!(status["status"], "ok");
    assert_eq!(status["label"], "정상");
    assert_eq!(s.get("/api/jobs"), json!([]));
    let settings = s.get("/api/settings");
    assert_eq!(settings["config"]["interval_minutes"], 30);
    assert_eq!(settings["admin_pin_set"], false);

    // Clear 400s and 404s with codes.
    for (path, field) in [
        ("/api/matching?per_page=500", "per_page"),
        ("/api/matching?status=bogus", "status"),
        ("/api/history?limit=0", "limit"),
    ] {
        let (code, v) = s.call("GET", path, None);
        assert_eq!(code, 400, "{path}: {v}");
        assert_eq!(v["code"], "invalid_argument");
        assert_eq!(v["field"], field);
    }
    let (code, v) = s.call("GET", "/api/matching?page=abc", None);
    assert_eq!((code, v["code"].as_str()), (400, Some("invalid_argument")));
    let (code, v) = s.call("GET", "/api/matching?nonsense=1", None);
    assert_eq!(code, 400, "unknown parameters are refused: {v}");
    let (code, _) = s.call("GET", "/api/jobs/999", None);
    assert_eq!(code, 404);
    let (code, _) = s.call("GET", "/api/jobs/abc", None);
    assert_eq!(code, 400);
    let (code, v) = s.call("POST", "/api/sync", Some(&json!({"force": "yes"})));
    assert_eq!((code, v["code"].as_str()), (400, Some("invalid_argument")));
    let (code, v) = s.call("GET", "/api/matching/tree?path=NOPE/x", None);
    assert_eq!((code, v["code"].as_str()), (404, Some("not_found")), "{v}");
    let (code, v) = s.call("POST", "/api/sync", Some(&json!([])));
    assert_eq!(code, 400, "an array is not a request body: {v}");
    let (code, _) = s.call("GET", "/no/such/thing", None);
    assert_eq!(code, 404);

    // The CSV exports: the screens' filters are checked before any byte of CSV (a JSON error),
    // the credentials as for every API call, and the rows are the CLI's `--csv`.
    let (code, v) = s.call("GET", "/api/matching/export.csv?status=bogus", None);
    assert_eq!((code, v["field"].as_str()), (400, Some("status")), "{v}");
    let (code, v) = s.call("GET", "/api/history/export.csv?utc_offset=9999", None);
    assert_eq!(
        (code, v["field"].as_str()),
        (400, Some("utc_offset")),
        "{v}"
    );
    let (code, v) = s.call("GET", "/api/history/export.csv?lang=fr", None);
    assert_eq!((code, v["field"].as_str()), (400, Some("lang")), "{v}");
    let (code, v) = s.call("GET", "/api/matching/export.csv?nonsense=1", None);
    assert_eq!(code, 400, "unknown parameters are refused: {v}");
    let (code, v) = s.call("GET", "/api/reconcile/export.csv?job_id=999", None);
    assert_eq!((code, v["code"].as_str()), (404, Some("not_found")), "{v}");
    let (code, v) = s.call_as(None, "GET", "/api/history/export.csv", None);
    assert_eq!(
        (code, v["code"].as_str()),
        (401, Some("unauthorized")),
        "{v}"
    );
    for (path, args) in [
        (
            "/api/history/export.csv?search=wsop&lang=en",
            &["history", "--csv", "--search", "wsop", "--lang", "en"][..],
        ),
        (
            "/api/matching/export.csv?status=synced&sort=size&desc=true&page=2&per_page=5",
            &[
                "matching", "--csv", "--status", "synced", "--sort", "size", "--desc",
            ][..],
        ),
    ] {
        let (code, csv) = s.call("GET", path, None);
        assert_eq!(code, 200, "{path}: {csv}");
        let out = Command::new(BIN)
            .arg("--config")
            .arg(s.config())
            .args(args)
            .output()
            .expect("cli --csv");
        assert!(out.status.success(), "{args:?}");
        let cli = String::from_utf8(out.stdout).expect("UTF-8");
        let csv = csv.as_str().expect("a CSV body").to_string();
        assert!(
            csv.starts_with('\u{feff}') && csv.lines().count() > 6,
            "{csv}"
        );
        assert_eq!(csv, cli, "{path} equals `nas-sync {args:?}`");
    }

    // The OpenAPI document names every route.
    let doc = s.get("/api/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/health",
        "/api/dashboard",
        "/api/matching",
        "/api/matching/tree",
        "/api/matching/facets",
        "/api/history",
        "/api/problems",
        "/api/problems/{id}/retry",
        "/api/matching/export.csv",
        "/api/history/export.csv",
        "/api/reconcile/export.csv",
        "/api/status",
        "/api/jobs",
        "/api/jobs/{id}",
        "/api/jobs/{id}/cancel",
        "/api/sync",
        "/api/reconcile",
        "/api/scan",
        "/api/schedule/pause",
        "/api/schedule/resume",
        "/api/settings",
        "/api/settings/test-root",
        "/api/admin/verify-pin",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} is documented");
    }
}

#[test]
fn matching_filters_and_facets_over_http_equal_the_cli() {
    let s = serve_demo(60);
    let facets = s.get("/api/matching/facets");
    assert_eq!(
        facets,
        cli_json(s.dir.path(), &["matching", "--facets"]),
        "HTTP and CLI give the same facets"
    );
    // The demo's two events' Part1.mp4 collide (different sizes).
    assert!(
        facets["name_collisions"].as_u64().unwrap_or(0) >= 2,
        "{facets}"
    );
    let hit = s.get("/api/matching?collision=true&per_page=200");
    assert_eq!(hit["total"], facets["name_collisions"]);
    assert_eq!(
        hit,
        cli_json(
            s.dir.path(),
            &["matching", "--collision", "--per-page", "200"]
        )
    );
    let flagged: Vec<&str> = hit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            assert_eq!(i["name_collision"], true, "{i}");
            i["source"]["path"].as_str().unwrap_or_default()
        })
        .collect();
    for p in [
        "WSOP/2024/Ladies Event/Part1.mp4",
        "WSOP/2024/Main Event/Part1.mp4",
    ] {
        assert!(flagged.contains(&p), "{p} in {flagged:?}");
    }
    // The demo's backups are byte copies: never flagged.
    assert!(
        flagged.iter().all(|p| !p.contains("/Backup/")),
        "{flagged:?}"
    );
    // Each value filter over HTTP is the CLI's answer, combined with the others.
    for (query, args) in [
        ("reason=mxf", vec!["--reason", "mxf"]),
        (
            "ext=MOV&sort=size&desc=true",
            vec!["--ext", "MOV", "--sort", "size", "--desc"],
        ),
        (
            "codec=h264&catalog=WSOP",
            vec!["--codec", "h264", "--catalog", "WSOP"],
        ),
        ("reason=&ext=&codec=&collision=false", vec![]),
    ] {
        let mut cli = vec!["matching"];
        cli.extend(args);
        assert_eq!(
            s.get(&format!("/api/matching?{query}")),
            cli_json(s.dir.path(), &cli),
            "{query}"
        );
    }
    for r in facets["reasons"].as_array().expect("reasons") {
        let v = s.get(&format!(
            "/api/matching?reason={}",
            r["value"].as_str().unwrap_or("")
        ));
        assert_eq!(v["total"], r["count"], "{r}");
    }
    // Wrong values: field-level 400s.
    for (path, field) in [
        ("/api/matching?reason=avi", Some("reason")),
        ("/api/matching?ext=a/b", Some("ext")),
        ("/api/matching?collision=maybe", None),
    ] {
        let (code, v) = s.call("GET", path, None);
        assert_eq!(code, 400, "{path}: {v}");
        assert_eq!(v["code"], "invalid_argument", "{path}: {v}");
        if let Some(f) = field {
            assert_eq!(v["field"], f, "{path}: {v}");
        }
    }
}

#[test]
fn sync_over_http_streams_log_lines_fast_and_a_second_post_joins_the_running_job() {
    let s = serve_demo(4000);
    let mut logs = s.ws("/ws/logs");
    // The backlog first (the server's start line at least).
    let first = next_json(&mut logs).expect("backlog line");
    has_keys(&first, &["seq", "time", "level", "message", "target"]);
    while next_json(&mut logs).is_some() {}

    // Touch the archive so the sync has work.
    let root = s.dir.path().join("archive");
    for i in 0..50 {
        let p = root.join(format!("WSOP/http_new_{i}.mp4"));
        fs::write(&p, b"new").expect("new file");
        // Copied a while ago (at rest): the sync publishes them rather than hold them back.
        fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600)))
            .expect("old mtime");
    }
    let (code, a) = s.call("POST", "/api/sync", None);
    assert_eq!(code, 202, "{a}");
    let (_, b) = s.call("POST", "/api/sync", None);
    let id = a["job_id"].as_u64().expect("job id");
    assert_eq!(a["started"], true);
    if b["started"] == false {
        assert_eq!(b["job_id"], a["job_id"], "the running job's id");
    }
    let mut lines = Vec::new();
    let mut latencies = Vec::new();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let Some(line) = next_json(&mut logs) else {
            if lines.iter().any(|l: &Value| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("동기화 완료"))
            }) {
                break;
            }
            continue;
        };
        let emitted = chrono::DateTime::parse_from_rfc3339(line["time"].as_str().expect("time"))
            .expect("time parses");
        let latency = chrono::Utc::now().signed_duration_since(emitted);
        latencies.push(latency.num_milliseconds());
        lines.push(line);
    }
    let done = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("동기화 완료"))
        })
        .unwrap_or_else(|| panic!("finish line streamed: {lines:#?}"));
    assert!(
        done["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("동기화 완료: 추가 50,")),
        "{done}"
    );
    assert!(lines.iter().any(|l| {
        l["message"].as_str().is_some_and(|m| {
            m.starts_with("스캔 완료: 추가 50,") && m.ends_with("/ scan committed")
        })
    }));
    let seqs: Vec<u64> = lines.iter().filter_map(|l| l["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    latencies.sort_unstable();
    let p95 = latencies[(latencies.len() * 95).div_ceil(100).saturating_sub(1)];
    assert!(
        p95 <= 100,
        "log lines reach the WebSocket within 100 ms of the engine emitting them (p95 {p95} ms, all {latencies:?})"
    );
    let job = s.wait_job(id);
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["result"]["added"], 50);
    let page = s.get("/api/matching?search=http_new_&per_page=100");
    assert_eq!(page["total"], 50);
    assert!(
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["status"] == "synced")
    );
}

#[test]
fn cancel_stops_a_running_scan_over_http() {
    let s = serve_demo(15_000);
    let (code, started) = s.call_as(Some(ADMIN), "POST", "/api/scan", None);
    assert_eq!(code, 202, "{started}");
    let id = started["job_id"].as_u64().expect("id");
    let (code, v) = s.call("POST", &format!("/api/jobs/{id}/cancel"), None);
    let job = s.wait_job(id);
    if code == 200 {
        assert_eq!(job["state"], "cancelled", "{job}");
        assert_eq!(v["job_id"], id);
    } else {
        // Finished before the cancel arrived: then the answer says so.
        assert_eq!(code, 409, "{v}");
    }
    let (code, v) = s.call("POST", &format!("/api/jobs/{id}/cancel"), None);
    assert_eq!(code, 409, "a finished job cannot be cancelled: {v}");
}

#[test]
fn retrying_a_problem_that_is_gone_or_not_a_number_is_a_clear_error() {
    let s = serve_demo(50);
    let (code, v) = s.call("POST", "/api/problems/424242/retry", None);
    assert_eq!((code, v["code"].as_str()), (404, Some("not_found")), "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("문제"), "{v}");
    let (code, v) = s.call("POST", "/api/problems/abc/retry", None);
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("invalid_argument")),
        "{v}"
    );
}

#[test]
fn a_tripped_guard_is_a_visible_job_result_and_force_applies() {
    let s = serve_demo(200);
    let before = s.get("/api/dashboard")["target"]["total_files"]
        .as_u64()
        .expect("count");
    fs::remove_dir_all(s.dir.path().join("archive/WSOP")).expect("remove WSOP");
    let (_, a) = s.call("POST", "/api/sync", None);
    let job = s.wait_job(a["job_id"].as_u64().expect("id"));
    assert_eq!(job["state"], "refused", "{job}");
    let message = job["result"]["refused"]["message"]
        .as_str()
        .expect("message");
    assert!(!message.is_empty());
    assert_eq!(
        s.get("/api/dashboard")["target"]["total_files"].as_u64(),
        Some(before),
        "nothing deleted"
    );
    // Forcing names the refused job and its deletions, as reviewed (and needs an administrator).
    let approval =
        json!({"force": true, "refused_job": job["id"], "deletions": job["result"]["deleted"]});
    let (code, v) = s.call("POST", "/api/sync", Some(&approval));
    assert_eq!(
        (code, v["code"].as_str()),
        (403, Some("admin_pin_not_set")),
        "{v}"
    );
    let (code, v) = s.call_as(
        Some(ADMIN),
        "POST",
        "/api/sync",
        Some(&json!({"force": true})),
    );
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("invalid_argument")),
        "{v}"
    );
    let (code, b) = s.call_as(Some(ADMIN), "POST", "/api/sync", Some(&approval));
    assert_eq!(code, 202, "{b}");
    let job = s.wait_job(b["job_id"].as_u64().expect("id"));
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job["result"]["deleted"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn health_is_503_while_the_root_is_gone() {
    let s = serve_demo(50);
    let (code, _) = s.call("GET", "/health", None);
    assert_eq!(code, 200);
    let root = s.dir.path().join("archive");
    let aside = s.dir.path().join("archive-away");
    fs::rename(&root, &aside).expect("take the share away");
    // The root check runs off the request path: /health waits for it up to 0.5 s, so on a busy
    // machine the change may show one answer later.
    let health_until = |want: u16| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (code, v) = s.call("GET", "/health", None);
            if code == want || Instant::now() > deadline {
                return (code, v);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (code, v) = health_until(503);
    assert_eq!(code, 503, "{v}");
    assert_eq!(v["status"], "error");
    assert_eq!(v["last_error"]["code"], "root_unreachable");
    fs::rename(&aside, &root).expect("share back");
    let (code, v) = health_until(200);
    assert_eq!(code, 200, "{v}");
}

#[test]
fn tokens_guard_a_non_loopback_bind() {
    // Without tokens a non-loopback bind is refused at start.
    let err = match start(demo(20), "0.0.0.0:0", &[]) {
        Err(e) => e,
        Ok(_) => panic!("a non-loopback bind without tokens must not start"),
    };
    assert!(err.contains("NAS_SYNC_OPERATOR_TOKEN"), "{err}");

    let dir = demo(30);
    cli_json(dir.path(), &["sync"]);
    // Weak or identical tokens are refused at start.
    for (op, admin, says) in [
        ("1", ADMIN, "NAS_SYNC_OPERATOR_TOKEN is too short"),
        (
            OP,
            "abababababababababababababababab",
            "NAS_SYNC_ADMIN_TOKEN looks guessable",
        ),
        (ADMIN, ADMIN, "are the same"),
    ] {
        let err = match start(
            demo(20),
            "0.0.0.0:0",
            &[
                ("NAS_SYNC_OPERATOR_TOKEN", op),
                ("NAS_SYNC_ADMIN_TOKEN", admin),
            ],
        ) {
            Err(e) => e,
            Ok(_) => panic!("{op}/{admin} must not start"),
        };
        assert!(err.contains(says), "{err}");
    }
    let mut s = start(
        dir,
        "0.0.0.0:0",
        &[
            ("NAS_SYNC_OPERATOR_TOKEN", OP),
            ("NAS_SYNC_ADMIN_TOKEN", ADMIN),
        ],
    )
    .expect("starts with tokens");
    s.url = s.url.replace("0.0.0.0", "127.0.0.1");
    assert_eq!(
        s.call_as(None, "GET", "/health", None).0,
        200,
        "health is open"
    );
    assert_eq!(s.call_as(None, "GET", "/api/dashboard", None).0, 401);
    assert_eq!(
        s.call_as(Some("nope"), "GET", "/api/dashboard", None).0,
        403
    );
    assert_eq!(s.call_as(Some(OP), "GET", "/api/dashboard", None).0, 200);
    assert_eq!(s.call_as(Some(ADMIN), "GET", "/api/dashboard", None).0, 200);
    assert_eq!(s.call_as(Some(OP), "POST", "/api/scan", None).0, 403);
    // Operators may read the settings (no secret is in them); changing admin ones is refused.
    assert_eq!(s.call_as(Some(OP), "GET", "/api/settings", None).0, 200);
    let (code, v) = s.call_as(
        Some(OP),
        "PUT",
        "/api/settings",
        Some(&json!({"max_delete_count": 100000})),
    );
    assert_eq!(code, 403, "{v}");
    assert_eq!(s.call_as(None, "POST", "/api/sync", None).0, 401);
    let (code, v) = s.call_as(Some(OP), "POST", "/api/sync", None);
    assert_eq!(code, 202, "{v}");
    s.token = Some(ADMIN.into());
    s.wait_job(v["job_id"].as_u64().expect("id"));
    assert_eq!(s.call("POST", "/api/scan", None).0, 202);
    // WebSockets take the token as a query parameter.
    let url = format!("{}/ws/logs", s.url.replace("http://", "ws://"));
    assert!(tungstenite::connect(&url).is_err(), "no token, no stream");
    let (mut ws, _) = tungstenite::connect(format!("{url}?token={OP}")).expect("token in query");
    if let MaybeTlsStream::Plain(t) = ws.get_mut() {
        t.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
    }
    assert!(next_json(&mut ws).is_some(), "backlog arrives");
}

#[test]
fn settings_are_validated_per_field_and_saved() {
    let s = serve_demo(20);
    let (code, v) = s.call_as(
        Some(ADMIN),
        "PUT",
        "/api/settings",
        Some(&json!({"interval_minutes": 0, "max_delete_percent": 500})),
    );
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["code"], "invalid_settings");
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["interval_minutes", "max_delete_percent"]);
    let before = fs::read_to_string(s.config()).expect("config");
    assert!(
        before.contains("interval_minutes = 30"),
        "unchanged: {before}"
    );
    let (code, v) = s.call(
        "PUT",
        "/api/settings",
        Some(&json!({"interval_minutes": 15})),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["config"]["interval_minutes"], 15);
    let after = fs::read_to_string(s.config()).expect("config");
    assert!(after.contains("interval_minutes = 15"), "{after}");
    assert_eq!(s.get("/api/settings")["config"]["interval_minutes"], 15);
    // Wrong types are a 400, not a crash.
    let (code, _) = s.call(
        "PUT",
        "/api/settings",
        Some(&json!({"interval_minutes": "soon"})),
    );
    assert_eq!(code, 400);
    let (code, _) = s.call("PUT", "/api/settings", Some(&json!([1, 2])));
    assert_eq!(code, 400);
}

#[test]
fn the_admin_pin_is_set_over_http_verified_and_never_returned() {
    let s = serve_demo(20);
    let (code, v) = s.call(
        "POST",
        "/api/admin/verify-pin",
        Some(&json!({"pin": "1234"})),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (v["ok"].as_bool(), v["admin_pin_set"].as_bool()),
        (Some(false), Some(false))
    );
    let (code, v) = s.call("PUT", "/api/settings", Some(&json!({"admin_pin": "12x4"})));
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["errors"][0]["field"], "admin_pin", "{v}");
    let (code, v) = s.call("PUT", "/api/settings", Some(&json!({"admin_pin": "4321"})));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["admin_pin_set"], true);
    let file = fs::read_to_string(s.config()).expect("config");
    assert!(file.contains("admin_pin_hash = \"$argon2id$"), "{file}");
    let shown = s.get("/api/settings");
    assert_eq!(shown["admin_pin_set"], true);
    assert!(
        !shown.to_string().contains("argon2") && !v.to_string().contains("argon2"),
        "a settings answer carries the hash: {shown}"
    );
    let (_, right) = s.call(
        "POST",
        "/api/admin/verify-pin",
        Some(&json!({"pin": "4321"})),
    );
    assert_eq!(right["ok"], true, "{right}");
    let (_, wrong) = s.call(
        "POST",
        "/api/admin/verify-pin",
        Some(&json!({"pin": "0000"})),
    );
    assert_eq!(
        (wrong["ok"].as_bool(), wrong["admin_pin_set"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(
        wrong["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("PIN이 맞지 않습니다"),
        "{wrong}"
    );
    let (code, v) = s.call(
        "PUT",
        "/api/settings",
        Some(&json!({"admin_pin": null, "admin_pin_current": "9999"})),
    );
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["errors"][0]["field"], "admin_pin_current", "{v}");
    let (code, _) = s.call("POST", "/api/admin/verify-pin", Some(&json!({"code": 1})));
    assert_eq!(code, 400);
}

#[test]
fn the_watcher_puts_a_new_file_in_the_target_without_a_sync_request() {
    let dir = demo(40);
    // The new file is held back while it may still be copied, then synced again by the monitor
    // once it can be stable: two seconds here instead of the default minute.
    let cfg = dir.path().join("nas-sync.toml");
    let text = fs::read_to_string(&cfg).expect("config") + "settle_secs = 2\n";
    fs::write(&cfg, text).expect("config");
    cli_json(dir.path(), &["sync"]);
    let s = start_with(dir, "127.0.0.1:0", &[], &[]).expect("server with the watcher");
    let before = s.get("/api/dashboard")["target"]["total_files"]
        .as_u64()
        .expect("count");
    fs::write(
        s.dir.path().join("archive/HCL/watched_arrival.mp4"),
        b"arrived",
    )
    .expect("new file");
    let deadline = Instant::now() + WAIT;
    loop {
        let page = s.get("/api/matching?search=watched_arrival");
        if page["items"][0]["status"] == "synced" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher synced the new file: {page}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        s.get("/api/dashboard")["target"]["total_files"].as_u64(),
        Some(before + 1)
    );
    let jobs = s.get("/api/jobs");
    assert!(
        jobs.as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["trigger"] == "watch"),
        "{jobs}"
    );
}

#[test]
fn test_root_says_whether_a_root_is_reachable_without_saving_it() {
    let s = serve_demo(20);
    let root = s.dir.path().join("archive");
    let (code, v) = s.call(
        "POST",
        "/api/settings/test-root",
        Some(&json!({"root": root.display().to_string()})),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["entries"].as_u64().is_some_and(|n| n > 0), "{v}");
    let missing = s.dir.path().join("no-such-share");
    let (code, v) = s.call(
        "POST",
        "/api/settings/test-root",
        Some(&json!({"root": missing.display().to_string()})),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], "root_unreachable", "{v}");
    // Nothing was saved: the configured root is still the demo's.
    let cfg = s.get("/api/settings");
    assert_eq!(cfg["config"]["root"], root.display().to_string());
    let (code, _) = s.call("POST", "/api/settings/test-root", Some(&json!({})));
    assert_eq!(code, 400, "a body without root is a bad request");
}

#[test]
fn onboarding_demo_configures_an_empty_setup_once_and_syncs_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No root and no Target yet; archive.db kept in the temp dir (not the OS data dir).
    fs::write(
        dir.path().join("nas-sync.toml"),
        "archive_db = \"archive.db\"\n",
    )
    .expect("config");
    let s = start(dir, "127.0.0.1:0", &[]).expect("server starts");
    let (code, v) = s.call("GET", "/api/dashboard", None);
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["code"], "config_invalid", "{v}");
    let (code, v) = s.call("POST", "/api/demo", None);
    assert_eq!(code, 200, "{v}");
    assert!(v["files"].as_u64().is_some_and(|n| n >= 100), "{v}");
    let root = v["config"]["root"].as_str().expect("root set").to_string();
    assert!(Path::new(&root).is_dir(), "demo root exists: {root}");
    let job = s.wait_job(v["job_id"].as_u64().expect("job id"));
    assert_eq!(job["state"], "succeeded", "{job}");
    let d = s.get("/api/dashboard");
    assert_eq!(d["source"]["total_files"], v["files"], "{d}");
    assert!(d["target"]["total_files"].as_u64().is_some_and(|n| n > 0));
    let saved = fs::read_to_string(s.config()).expect("config");
    assert!(
        saved.contains("demo"),
        "settings point at the demo: {saved}"
    );
    let (code, v) = s.call("POST", "/api/demo", None);
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["code"], "already_configured");
}

/// One settings policy for both hosts (`Service::start`): an unreadable settings file does not
/// keep `serve` from starting; it is kept aside, the defaults are used, and the settings screen
/// says why (the desktop app does the same).
#[test]
fn a_corrupt_settings_file_is_kept_aside_and_the_settings_screen_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("nas-sync.toml");
    fs::write(&cfg, "root = [this is not toml\n").expect("write a corrupt file");
    let s = start(dir, "127.0.0.1:0", &[]).expect("serve starts on a corrupt settings file");
    let (code, v) = s.call("GET", "/api/settings", None);
    assert_eq!(code, 200, "{v}");
    let warning = v["warning"]
        .as_str()
        .unwrap_or_else(|| panic!("a warning: {v}"));
    assert!(warning.contains("corrupt"), "{warning}");
    assert!(
        v["config"]["root"].is_null(),
        "the defaults are in use: {v}"
    );
    let aside: Vec<String> = fs::read_dir(s.dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("nas-sync.toml.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the old file is kept: {aside:?}");
    assert_eq!(
        fs::read_to_string(s.dir.path().join(&aside[0])).expect("kept file"),
        "root = [this is not toml\n"
    );
    // No NAS yet: the screens ask for one (onboarding), as on a first start.
    let (code, v) = s.call("GET", "/api/dashboard", None);
    assert_eq!(
        (code, v["code"].as_str()),
        (409, Some("config_invalid")),
        "{v}"
    );
}
