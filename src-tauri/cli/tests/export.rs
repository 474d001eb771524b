//! CSV exports of a 100,000-file archive stream in bounded memory: `nas-sync matching --csv`,
//! `nas-sync history --csv` and `GET /api/matching/export.csv` write 10-25 MB each while the
//! process's memory grows by far less than the file (a few chunks and a small page cache). The
//! peak resident set of a CLI run is its `VmHWM`, read from /proc while the test drains its
//! stdout (the run cannot end before the test has read everything); the server's is its `VmRSS`
//! while the test reads the body in 64 KiB pieces.
#![cfg(target_os = "linux")]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::BIN;

const FILES: usize = 100_000;
/// How much more than a trivial run an export may hold at its peak. An export that kept its
/// rows or its output would need more than its file (each file below is larger than this).
const BOUND_KIB: u64 = 10 * 1024;
const TOKEN: &str = "export-memory-test-token-7d1e";

/// 100,000 empty videos in 5 catalogs × 20 folders, with long Hangul names (long rows).
fn archive(dir: &Path) {
    let share = dir.join("share");
    let mut n = 0;
    for c in 0..5 {
        for y in 0..20 {
            let d = share.join(format!(
                "CAT{c}/20{y:02}/Event_{y:03} 메인 이벤트 파이널 테이블"
            ));
            fs::create_dir_all(&d).expect("dir");
            for _ in 0..FILES / 100 {
                fs::File::create(d.join(format!(
                    "Final_Table_Episode_{n:06}_한글_1080p_방송본_최종_편집.mp4"
                )))
                .expect("file");
                n += 1;
            }
        }
    }
    fs::write(
        dir.join("nas-sync.toml"),
        "root = \"share\"\narchive_db = \"archive.db\"\ntarget_db = \"pokervod.db\"\n\
         probe_media = false\nsettle_secs = 0\n",
    )
    .expect("config");
}

fn cli(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(dir.join("nas-sync.toml"));
    c
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Run the CLI with `args`, reading its stdout to the end in a thread while polling its peak
/// resident set. Returns (stdout bytes, peak KiB).
fn peak_of(dir: &Path, args: &[&str]) -> (Vec<u8>, u64) {
    let mut child = cli(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).expect("read stdout");
        out
    });
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        if let Some(hwm) = status_kib(pid, "VmHWM:") {
            peak = peak.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(child.wait().expect("wait").success(), "{args:?} failed");
    let out = reader.join().expect("reader");
    assert!(peak > 0, "the peak was read");
    (out, peak)
}

fn check_csv(out: &[u8], header: &str, rows: usize) {
    assert!(out.starts_with(b"\xEF\xBB\xBF"), "BOM");
    let text = std::str::from_utf8(&out[3..]).expect("UTF-8");
    assert!(text.starts_with(header), "{}", &text[..200.min(text.len())]);
    assert_eq!(text.matches("\r\n").count(), rows + 1, "rows + header");
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_100k_row_export_streams_in_bounded_memory() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    archive(dir);
    let sync = cli(dir).args(["-q", "sync"]).output().expect("sync");
    assert!(sync.status.success(), "{sync:?}");
    // The match index built now, so no measured run below builds it.
    let page = cli(dir)
        .args(["matching", "--per-page", "1", "--json"])
        .output()
        .expect("matching");
    assert!(page.status.success(), "{page:?}");

    // A trivial run of the same binary on the same archive: its start-up and SQLite.
    eprintln!("setup {:?}", started.elapsed());
    let (_, baseline) = peak_of(dir, &["history", "--limit", "1", "--json"]);

    let (out, peak) = peak_of(dir, &["matching", "--csv"]);
    check_csv(&out, "상태,상태 코드,", FILES);
    assert!(
        out.len() > 2 * BOUND_KIB as usize * 1024,
        "{} bytes",
        out.len()
    );
    assert!(
        peak.saturating_sub(baseline) < BOUND_KIB,
        "matching --csv: peak {peak} KiB vs {baseline} KiB for a trivial run ({} MB written)",
        out.len() >> 20
    );

    let (out, peak) = peak_of(dir, &["history", "--csv", "--lang", "en"]);
    check_csv(&out, "Time (UTC", FILES);
    assert!(out.len() > BOUND_KIB as usize * 1024, "{} bytes", out.len());
    assert!(
        peak.saturating_sub(baseline) < BOUND_KIB,
        "history --csv: peak {peak} KiB vs {baseline} KiB ({} MB written)",
        out.len() >> 20
    );

    eprintln!("cli {:?}", started.elapsed());
    // The same export over HTTP, read piece by piece while the server's memory is watched.
    let mut child = cli(dir)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-schedule",
            "--no-watch",
        ])
        .env("NAS_SYNC_LOCAL_TOKEN", TOKEN)
        .env_remove("NAS_SYNC_OPERATOR_TOKEN")
        .env_remove("NAS_SYNC_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let pid = child.id();
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let server = Server(child);
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let get = |path: &str| {
        agent
            .get(format!("{url}{path}"))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .call()
            .expect("request")
    };
    // Warm: the index open and a page served, so what grows below is the export's.
    get("/api/matching?per_page=200")
        .into_body()
        .read_to_string()
        .expect("page");
    let before = status_kib(pid, "VmRSS:").expect("server RSS");
    eprintln!("warm {:?}", started.elapsed());
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while watching.load(Ordering::Relaxed) {
                max = status_kib(pid, "VmRSS:").unwrap_or(0).max(max);
                std::thread::sleep(Duration::from_millis(2));
            }
            max
        })
    };
    let res = get("/api/matching/export.csv?status=synced&utc_offset=540");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    let disposition = res
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"nas-sync-matching-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert!(
        res.headers().get("content-length").is_none(),
        "streamed, not sized up front"
    );
    let mut body = res.into_body().into_with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut total, mut lines, mut head) = (0usize, 0usize, Vec::new());
    loop {
        let n = body.read(&mut buf).expect("read body");
        if n == 0 {
            break;
        }
        if head.len() < 64 {
            head.extend_from_slice(&buf[..n.min(64)]);
        }
        total += n;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    watching.store(false, Ordering::Relaxed);
    eprintln!("http {:?}", started.elapsed());
    let max = watcher.join().expect("watcher");
    assert!(
        head.starts_with("\u{feff}상태,".as_bytes()),
        "BOM and Korean header"
    );
    assert_eq!(lines, FILES + 1, "every synced file and the header");
    assert!(total > 2 * BOUND_KIB as usize * 1024, "{total} bytes");
    assert!(
        max.saturating_sub(before) < BOUND_KIB,
        "the server grew from {before} KiB to {max} KiB while streaming {} MB",
        total >> 20
    );
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "took {:?}",
        started.elapsed()
    );
}
