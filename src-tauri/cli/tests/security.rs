//! `nas-sync serve` against the requests a hostile web page (or a DNS-rebinding attacker) can
//! make, black-box: the real binary on an ephemeral loopback port and hand-written HTTP/1.1
//! requests, so every header (Host, Origin, Content-Type, Cookie) is exactly what a browser or
//! an attacker would send. README "Security" lists what each check stops.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::BIN;
const TOKEN: &str = "sec-test-launch-token-7c1e";

struct Server {
    child: Child,
    /// `127.0.0.1:PORT`
    addr: String,
    /// The second stdout line: the URL to open.
    open: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A synced 40-file demo (the kit's).
fn demo() -> tempfile::TempDir {
    common::synced_demo(40)
}

fn serve(dir: tempfile::TempDir, token: Option<&str>, extra: &[&str]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(dir.path().join("nas-sync.toml"))
        .args([
            "serve",
            "--no-schedule",
            "--no-watch",
            "--bind",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_remove("NAS_SYNC_OPERATOR_TOKEN")
        .env_remove("NAS_SYNC_ADMIN_TOKEN")
        .env_remove("NAS_SYNC_LOCAL_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(t) = token {
        cmd.env("NAS_SYNC_LOCAL_TOKEN", t);
    }
    let mut child = cmd.spawn().expect("serve");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).expect("first line");
    out.read_line(&mut second).expect("second line");
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .to_string();
    Server {
        child,
        addr,
        open: second.trim().to_string(),
        dir,
    }
}

struct Reply {
    status: u16,
    headers: HashMap<String, Vec<String>>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("JSON body expected ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

impl Server {
    fn port(&self) -> &str {
        self.addr.rsplit(':').next().expect("port")
    }

    /// One raw HTTP/1.1 request; `head` are header lines (no Host: it is `host`).
    fn raw(&self, method: &str, path: &str, host: &str, head: &[String], body: &str) -> Reply {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for h in head {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        // A server may answer (413) and close before taking the whole body: keep what it said.
        let _ = s.write_all(req.as_bytes());
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let text = String::from_utf8_lossy(&buf).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("status line: {head}"));
        let mut headers: HashMap<String, Vec<String>> = HashMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers
                    .entry(k.trim().to_ascii_lowercase())
                    .or_default()
                    .push(v.trim().to_string());
            }
        }
        let body = if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.iter().any(|x| x.contains("chunked")))
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// A request as the operator's own page or a script makes it: right Host, the token.
    fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.json_request(method, path, format!("Authorization: Bearer {TOKEN}"), body)
    }

    fn with_cookie(&self, method: &str, path: &str, cookies: &str, body: Option<&Value>) -> Reply {
        self.json_request(method, path, format!("Cookie: {cookies}"), body)
    }

    /// A request with the right Host, one credential header and, when given, a JSON body.
    fn json_request(
        &self,
        method: &str,
        path: &str,
        credential: String,
        body: Option<&Value>,
    ) -> Reply {
        let mut head = vec![credential];
        let body = match body {
            Some(b) => {
                head.push("Content-Type: application/json".into());
                b.to_string()
            }
            None => String::new(),
        };
        self.raw(method, path, &self.host(), &head, &body)
    }

    fn jobs(&self) -> usize {
        self.api("GET", "/api/jobs", None)
            .json()
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `name=value` of a `Set-Cookie` header, and the header itself.
fn set_cookie(r: &Reply, name: &str) -> Option<(String, String)> {
    r.headers.get("set-cookie")?.iter().find_map(|c| {
        let pair = c.split(';').next()?.trim().to_string();
        pair.starts_with(&format!("{name}="))
            .then(|| (pair, c.clone()))
    })
}

#[test]
fn a_foreign_host_name_is_refused_even_with_the_token_which_defeats_dns_rebinding() {
    let s = serve(demo(), Some(TOKEN), &[]);
    let port = s.port().to_string();
    // A rebinding attack: the page at evil.example resolved to 127.0.0.1, same origin for the
    // browser, so Origin matches Host; the Host name is what gives it away.
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("127.0.0.1.nip.io:{port}"),
        format!("127.0.0.1:{}", port.parse::<u32>().expect("port") + 1),
    ] {
        let r = s.raw(
            "POST",
            "/api/sync",
            &host,
            &[
                format!("Authorization: Bearer {TOKEN}"),
                "Content-Type: application/json".into(),
                format!("Origin: http://{host}"),
            ],
            r#"{"force":true}"#,
        );
        assert_eq!(r.status, 421, "{host}: {}", r.body);
        assert_eq!(r.json()["code"], "bad_host");
        let r = s.raw(
            "GET",
            "/api/settings",
            &host,
            &[format!("Authorization: Bearer {TOKEN}")],
            "",
        );
        assert_eq!(r.status, 421, "{host}");
    }
    assert_eq!(s.jobs(), 0, "no job was started");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = s.raw(
            "GET",
            "/api/status",
            &host,
            &[format!("Authorization: Bearer {TOKEN}")],
            "",
        );
        assert_eq!(r.status, 200, "{host}: {}", r.body);
    }
}

#[test]
fn a_name_given_with_allowed_host_is_accepted_and_nothing_else() {
    let s = serve(demo(), Some(TOKEN), &["--allowed-host", "nas-monitor.lan"]);
    let auth = [format!("Authorization: Bearer {TOKEN}")];
    let ok = s.raw(
        "GET",
        "/api/status",
        &format!("nas-monitor.lan:{}", s.port()),
        &auth,
        "",
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        s.raw("GET", "/api/status", "nas-monitor.lan", &auth, "")
            .status,
        200
    );
    assert_eq!(
        s.raw("GET", "/api/status", "other.lan", &auth, "").status,
        421
    );
}

#[test]
fn state_changes_need_a_json_body_and_our_own_origin() {
    let s = serve(demo(), Some(TOKEN), &[]);
    let host = s.host();
    let auth = format!("Authorization: Bearer {TOKEN}");
    // What a cross-site form or a no-preflight fetch can send: text/plain, form encoding.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = s.raw(
            "PUT",
            "/api/settings",
            &host,
            &[auth.clone(), format!("Content-Type: {ct}")],
            r#"{"interval_minutes":31}"#,
        );
        assert_eq!(r.status, 415, "{ct}: {}", r.body);
        assert_eq!(r.json()["code"], "unsupported_media_type");
    }
    let r = s.raw(
        "POST",
        "/api/schedule/pause",
        &host,
        std::slice::from_ref(&auth),
        "",
    );
    assert_eq!(r.status, 415, "no Content-Type at all: {}", r.body);
    // JSON from another origin (a page that got past the rest somehow) is refused too.
    for origin in [
        "http://evil.example",
        "null",
        "https://127.0.0.1.evil.example",
    ] {
        let r = s.raw(
            "PUT",
            "/api/settings",
            &host,
            &[
                auth.clone(),
                "Content-Type: application/json".into(),
                format!("Origin: {origin}"),
            ],
            r#"{"interval_minutes":31}"#,
        );
        assert_eq!(r.status, 403, "{origin}: {}", r.body);
        assert_eq!(r.json()["code"], "bad_origin");
    }
    assert_eq!(
        s.api("GET", "/api/settings", None).json()["config"]["interval_minutes"],
        30,
        "nothing was changed"
    );
    // Our own page (Origin = us) and a script (no Origin) are fine.
    let r = s.raw(
        "PUT",
        "/api/settings",
        &host,
        &[
            auth.clone(),
            "Content-Type: application/json; charset=utf-8".into(),
            format!("Origin: http://{host}"),
        ],
        r#"{"interval_minutes":31}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.api("POST", "/api/schedule/pause", Some(&json!({})));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn the_api_needs_the_launch_token_and_health_says_little_without_it() {
    let s = serve(demo(), Some(TOKEN), &[]);
    let host = s.host();
    assert_eq!(s.open, format!("open http://{host}/?token={TOKEN}"));
    let r = s.raw("GET", "/api/dashboard", &host, &[], "");
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["code"], "unauthorized");
    let r = s.raw(
        "GET",
        "/api/dashboard",
        &host,
        &["Authorization: Bearer nope".into()],
        "",
    );
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (403, json!("forbidden"))
    );
    let r = s.raw(
        "GET",
        "/api/dashboard",
        &host,
        &[format!("authorization: bearer {TOKEN}")],
        "",
    );
    assert_eq!(r.status, 200, "lower-case `bearer` is accepted: {}", r.body);
    // `?token=` is for WebSockets and the first page load, not for the API.
    let r = s.raw(
        "GET",
        &format!("/api/dashboard?token={TOKEN}"),
        &host,
        &[],
        "",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    // /health: status and an error code for anyone; details with the token.
    let open = s.raw("GET", "/health", &host, &[], "").json();
    let mut keys: Vec<&str> = open
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["code", "label", "status", "target_network_fs"],
        "{open}"
    );
    let full = s.api("GET", "/health", None).json();
    assert!(full["last_sync"].is_string(), "{full}");
    // Unknown API paths are a JSON 404, never a page.
    for path in ["/api/nope", "/api/dashboard/x", "/ws/nope"] {
        let r = s.api("GET", path, None);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["code"], "not_found");
    }
    let r = s.api("GET", "/api/sync", None);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (405, json!("method_not_allowed"))
    );
}

#[test]
fn without_a_token_given_each_launch_has_its_own_random_token() {
    let a = serve(demo(), None, &[]);
    let b = serve(demo(), None, &[]);
    let token = |s: &Server| s.open.rsplit("?token=").next().unwrap_or("").to_string();
    let (ta, tb) = (token(&a), token(&b));
    assert_eq!(ta.len(), 64, "{}", a.open);
    assert!(ta.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(ta, tb);
    let r = a.raw(
        "GET",
        "/api/status",
        &a.host(),
        &[format!("Authorization: Bearer {tb}")],
        "",
    );
    assert_eq!(r.status, 403, "another launch's token");
}

#[test]
fn the_first_page_load_trades_the_token_for_an_httponly_cookie_and_drops_it_from_the_url() {
    let ui = tempfile::tempdir().expect("ui");
    fs::write(
        ui.path().join("index.html"),
        "<!doctype html><title>t</title>",
    )
    .expect("index");
    let ui_dir = ui.path().display().to_string();
    let s = serve(demo(), Some(TOKEN), &["--ui-dir", &ui_dir]);
    let host = s.host();
    let r = s.raw(
        "GET",
        &format!("/matching?status=new&token={TOKEN}&page=2"),
        &host,
        &[],
        "",
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/matching?status=new&page=2"));
    let (pair, cookie) = set_cookie(&r, "nas_sync_session").expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!pair.contains(TOKEN), "the cookie is not the token itself");
    let r = s.with_cookie("GET", "/api/dashboard", &pair, None);
    assert_eq!(r.status, 200, "{}", r.body);
    // The cookie works for state changes from our page too (JSON, our Origin).
    let r = s.raw(
        "POST",
        "/api/schedule/pause",
        &host,
        &[
            format!("Cookie: {pair}"),
            "Content-Type: application/json".into(),
            format!("Origin: http://{host}"),
        ],
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A wrong token gets a page that says what to do, and no cookie.
    let r = s.raw("GET", "/?token=wrong", &host, &[], "");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("토큰"), "{}", r.body);
    assert!(set_cookie(&r, "nas_sync_session").is_none());
    // A forged session cookie is nobody.
    let r = s.with_cookie("GET", "/api/dashboard", "nas_sync_session=00ff", None);
    assert_eq!(r.status, 401);
}

impl Server {
    /// Stop this server and start another on the same folder (a restart).
    fn restart(mut self, token: Option<&str>) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        serve(dir, token, &[])
    }
}

#[test]
fn an_open_page_stays_signed_in_across_a_restart_with_the_same_token_only() {
    let s = serve(demo(), Some(TOKEN), &[]);
    let trade = |s: &Server| {
        let r = s.raw("GET", &format!("/?token={TOKEN}"), &s.host(), &[], "");
        assert_eq!(r.status, 303, "{}", r.body);
        set_cookie(&r, "nas_sync_session").expect("session").0
    };
    let first = trade(&s);
    let second = trade(&s);
    assert_ne!(first, second, "each browser gets its own session cookie");
    assert_eq!(
        s.with_cookie("GET", "/api/status", &first, None).status,
        200
    );
    // Restarted with the same token (a fixed NAS_SYNC_LOCAL_TOKEN): the page keeps working.
    let s = s.restart(Some(TOKEN));
    assert_eq!(
        s.with_cookie("GET", "/api/status", &first, None).status,
        200
    );
    // A tampered browser part is nobody.
    let forged = format!("{}.zz", first.split('.').next().expect("session part"));
    assert_eq!(
        s.with_cookie("GET", "/api/status", &forged, None).status,
        401
    );
    // Restarted with a new random launch token: every old page is signed out.
    let s = s.restart(None);
    let r = s.with_cookie("GET", "/api/status", &first, None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.json()["message"].as_str().unwrap_or("").contains("token"),
        "{}",
        r.body
    );
}

#[test]
fn websockets_need_a_credential_and_our_origin() {
    // A token with characters that must be percent-encoded in a URL.
    let token = "b64+tok/en=with+plus/and/slash==";
    let s = serve(demo(), Some(token), &[]);
    let host = s.host();
    let upgrade = |path: &str, extra: &[String]| {
        let mut head = vec![
            "Upgrade: websocket".to_string(),
            "Connection: Upgrade".into(),
            "Sec-WebSocket-Version: 13".into(),
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".into(),
        ];
        head.extend_from_slice(extra);
        let mut sock = TcpStream::connect(&s.addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
        for h in head {
            req.push_str(&h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        sock.write_all(req.as_bytes()).expect("send");
        let mut line = String::new();
        BufReader::new(sock).read_line(&mut line).expect("status");
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .expect("status code")
    };
    let encoded: String = form_urlencoded_token(token);
    assert_eq!(upgrade("/ws/logs", &[]), 401);
    assert_eq!(upgrade(&format!("/ws/logs?token={encoded}"), &[]), 101);
    assert_eq!(upgrade(&format!("/ws/status?token={encoded}"), &[]), 101);
    assert_eq!(
        upgrade(
            &format!("/ws/logs?token={encoded}"),
            &["Origin: http://evil.example".into()]
        ),
        403,
        "a page of another origin cannot read the live log"
    );
    assert_eq!(
        upgrade(
            &format!("/ws/logs?token={encoded}"),
            &[format!("Origin: http://{host}")]
        ),
        101
    );
}

fn form_urlencoded_token(t: &str) -> String {
    t.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_served_ui_has_a_strict_policy_and_never_leaves_its_folder() {
    let root = tempfile::tempdir().expect("root");
    let ui = root.path().join("ui");
    fs::create_dir_all(ui.join("assets")).expect("ui");
    fs::write(ui.join("index.html"), "<!doctype html><title>ui</title>").expect("index");
    fs::write(ui.join("assets/app.js"), "console.log(1)").expect("js");
    fs::write(root.path().join("secret.txt"), "top secret").expect("secret");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.path().join("secret.txt"), ui.join("assets/leak.txt"))
            .expect("symlink");
        std::os::unix::fs::symlink(root.path(), ui.join("up")).expect("dir symlink");
    }
    let ui_dir = ui.display().to_string();
    let s = serve(demo(), Some(TOKEN), &["--ui-dir", &ui_dir]);
    let host = s.host();
    let page = s.raw("GET", "/", &host, &[], "");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    let csp = page.header("content-security-policy").expect("CSP");
    for want in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(want), "{want} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline'; script") && !csp.contains("script-src 'self' 'unsafe"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let js = s.raw("GET", "/assets/app.js", &host, &[], "");
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .is_some_and(|c| c.contains("javascript"))
    );
    for path in [
        "/assets/leak.txt",
        "/up/secret.txt",
        "/../secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
    ] {
        let r = s.raw("GET", path, &host, &[], "");
        assert!(!r.body.contains("top secret"), "{path} leaked the file");
        assert_ne!(r.status, 200, "{path}");
    }
    // A screen's path is the app; an API path never is.
    let screen = s.raw("GET", "/matching", &host, &[], "");
    assert_eq!(screen.status, 200);
    assert!(screen.body.contains("<title>ui</title>"));
    let api = s.api("GET", "/api/no-such-endpoint", None);
    assert_eq!(api.status, 404);
    assert_eq!(api.json()["code"], "not_found");
    // An oversized body is a JSON 413 with the error shape.
    let big = format!("{{\"ignore\": [\"{}\"]}}", "x".repeat(3 << 20));
    let r = s.raw(
        "PUT",
        "/api/settings",
        &host,
        &[
            format!("Authorization: Bearer {TOKEN}"),
            "Content-Type: application/json".into(),
        ],
        &big,
    );
    assert_eq!(r.status, 413, "{}", &r.body[..r.body.len().min(200)]);
    assert_eq!(r.json()["code"], "too_large");
}

#[test]
fn admin_actions_over_http_need_a_pin_set_and_unlocked() {
    let s = serve(demo(), Some(TOKEN), &[]);
    let r = s.api("POST", "/api/scan", Some(&json!({})));
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (403, json!("admin_pin_not_set")),
        "{}",
        r.body
    );
    let r = s.api(
        "PUT",
        "/api/settings",
        Some(&json!({"max_delete_count": 99999})),
    );
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (403, json!("admin_pin_not_set"))
    );
    // The local user sets the first PIN.
    let r = s.api("PUT", "/api/settings", Some(&json!({"admin_pin": "3141"})));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.api("POST", "/api/scan", Some(&json!({})));
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (403, json!("admin_required"))
    );
    let wrong = s.api(
        "POST",
        "/api/admin/verify-pin",
        Some(&json!({"pin": "0000"})),
    );
    assert_eq!(wrong.json()["ok"], false);
    assert!(set_cookie(&wrong, "nas_sync_admin").is_none());
    let right = s.api(
        "POST",
        "/api/admin/verify-pin",
        Some(&json!({"pin": "3141"})),
    );
    assert_eq!(right.json()["ok"], true, "{}", right.body);
    let (grant, cookie) = set_cookie(&right, "nas_sync_admin").expect("admin cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Max-Age=900"),
        "{cookie}"
    );
    let head = [
        format!("Authorization: Bearer {TOKEN}"),
        format!("Cookie: {grant}"),
        "Content-Type: application/json".into(),
    ];
    let r = s.raw(
        "PUT",
        "/api/settings",
        &s.host(),
        &head,
        r#"{"max_delete_count": 99}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Even an administrator cannot point ffprobe_path at a program over HTTP.
    let r = s.raw(
        "PUT",
        "/api/settings",
        &s.host(),
        &head,
        r#"{"ffprobe_path": "/bin/sh"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("ffprobe_path"), "{}", r.body);
    // A relative path is saved as the settings file's folder would read it.
    fs::create_dir_all(s.dir.path().join("data")).expect("data folder");
    let r = s.raw(
        "PUT",
        "/api/settings",
        &s.host(),
        &head,
        r#"{"archive_db": "data/moved.db"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let want = s.dir.path().join("data/moved.db");
    assert_eq!(r.json()["config"]["archive_db"], want.display().to_string());
    let file = fs::read_to_string(s.dir.path().join("nas-sync.toml")).expect("settings");
    assert!(file.contains(&want.display().to_string()), "{file}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(s.dir.path().join("nas-sync.toml"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the settings file is the owner's only");
    }
    let r = s.raw("POST", "/api/scan", &s.host(), &head, "{}");
    assert_eq!(r.status, 202, "{}", r.body);
    // A forced sync names what was reviewed.
    let r = s.raw("POST", "/api/sync", &s.host(), &head, r#"{"force": true}"#);
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn forty_parallel_pin_guesses_do_not_find_the_pin_nor_lock_out_another_client() {
    let s = serve(demo(), Some(TOKEN), &[]);
    assert_eq!(
        s.api("PUT", "/api/settings", Some(&json!({"admin_pin": "8624"})))
            .status,
        200
    );
    // 40 guesses at once from one client; the right one among the last ten.
    let results: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    if i >= 30 {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    let pin = if i >= 30 {
                        "8624".to_string()
                    } else {
                        format!("{:04}", 1000 + i)
                    };
                    s.api(
                        "POST",
                        "/api/admin/verify-pin",
                        Some(&json!({ "pin": pin })),
                    )
                    .json()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("guess"))
            .collect()
    });
    assert!(
        results.iter().all(|r| r["ok"] == false),
        "a guess got through: {results:?}"
    );
    let evaluated = results
        .iter()
        .filter(|r| r["retry_after_secs"].is_null())
        .count();
    assert!(
        evaluated <= 5,
        "{evaluated} guesses were evaluated: {results:?}"
    );
    // Another client (a browser session of the operator) still unlocks with the right PIN.
    let trade = s.raw("GET", &format!("/?token={TOKEN}"), &s.host(), &[], "");
    let (session, _) = set_cookie(&trade, "nas_sync_session").expect("session");
    let r = s.with_cookie(
        "POST",
        "/api/admin/verify-pin",
        &session,
        Some(&json!({"pin": "8624"})),
    );
    assert_eq!(r.json()["ok"], true, "{}", r.body);
}

#[test]
fn a_newline_in_a_path_cannot_forge_a_line_in_the_log_file_or_the_live_log() {
    let dir = demo();
    let cfg = dir.path().join("nas-sync.toml");
    let text = fs::read_to_string(&cfg).expect("config");
    let forged = "2026-12-07T00:00:00.000Z ERROR nas_sync_engine: FORGED LINE";
    let evil_root = dir.path().join(format!("gone\n{forged}"));
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("root") {
                format!("root = {}", toml_string(&evil_root.display().to_string()))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(&cfg, text + "\n").expect("config");
    let s = serve(dir, Some(TOKEN), &[]);
    // The health check looks at the root, and logs that it is gone, naming it.
    let r = s.api("GET", "/health", None);
    assert_eq!(r.status, 503, "{}", r.body);
    let log = s.dir.path().join("logs/nas-sync.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let t = fs::read_to_string(&log).unwrap_or_default();
        if t.contains("FORGED LINE") || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(text.contains("FORGED LINE"), "the path was logged: {text}");
    for line in text.lines() {
        assert!(
            !line.starts_with("2026-12-07T00:00:00.000Z"),
            "a forged line in the log file: {line:?}"
        );
    }
    assert!(
        text.contains("gone\\n2026-12-07"),
        "escaped in place: {text}"
    );
    assert!(!Path::new(&evil_root).exists());
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("quoted")
}
