//! Soak: `nas-sync serve` with the watcher and a 1-minute schedule on the SMB test bed while a
//! driver adds, deletes, moves, renames and slowly copies files and restarts the NAS (smbd).
//! At the end, after a final sync: the Target's active rows equal what a fresh sync of the tree
//! on disk gives, the history tells each Target row's life in order (one event per change), no
//! file in the middle of a copy ever reached the Target, and the server's memory did not grow by
//! more than 10 %. `NAS_SYNC_SOAK_SECS` sets the driver's time (default 120; the long soak:
//! `NAS_SYNC_SOAK_SECS=1800 bash scripts/test.sh rust`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::BIN;
use common::share::*;

/// When the server's memory counts as warm at the earliest (the 1-minute schedule has run twice).
const RSS_WARM_SECS: u64 = 80;

/// xorshift64*: the driver's choices, the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn vm_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The video files under `root` (relative paths), as the driver picks from them.
fn videos(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "mp4" || x == "mov")
                && let Ok(rel) = p.strip_prefix(root)
            {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// `(nas_path, size)` of the Target's active rows.
fn active(db: &Path) -> BTreeSet<(String, i64)> {
    target_rows(db)
        .into_iter()
        .filter(|(_, _, st)| st == "active")
        .map(|(p, size, _)| (p, size))
        .collect()
}

/// Every history event, oldest first.
fn history(agent: &ureq::Agent, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let (status, page, _) = call(
            agent,
            url,
            &format!("/api/history?limit=10000&offset={}", out.len()),
            false,
        );
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let done = items.is_empty()
            || out.len() + items.len() >= page["total"].as_u64().unwrap_or(0) as usize;
        out.extend(items);
        if done {
            break;
        }
    }
    out.sort_by_key(|e| e["id"].as_i64());
    out
}

/// Sync until one that started after the tree stopped changing succeeds with nothing held back
/// (smbnetfs may still be reconnecting after a restart; the last copies settle).
fn final_sync(agent: &ureq::Agent, url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, started, _) = call(agent, url, "/api/sync", true);
        let id = started["job_id"].as_u64().expect("job_id");
        let job = wait_for(
            agent,
            url,
            &format!("/api/jobs/{id}"),
            Duration::from_secs(120),
            |j| j["state"] != "running",
        );
        // A job that was already running when asked: run one more that starts after the tree
        // is final.
        // A copy that ended moments ago is still held (settle_secs): the next sync takes it.
        if job["state"] == "succeeded"
            && started["started"] == true
            && job["result"]["held"].as_u64().unwrap_or(0) == 0
        {
            return job;
        }
        assert!(Instant::now() < deadline, "no final sync succeeded: {job}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn soak_on_the_smb_share_converges_with_one_event_per_change() {
    let secs: u64 = std::env::var("NAS_SYNC_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["demo", "--dir"])
        .arg(dir.path())
        .args(["--files", "1000"])
        .output()
        .expect("demo");
    assert!(out.status.success(), "{out:?}");
    let archive = dir.path().join("archive");
    let share = Share::start(&archive);
    let cfg = dir.path().join("soak.toml");
    let dbs = dir.path().join("db");
    write_config_with(
        &cfg,
        &share.mount,
        &dbs,
        "interval_minutes = 1\nshare_timeout_secs = 10\nsettle_secs = 3\nmax_delete_count = 1000\nmax_delete_percent = 100\n",
    );
    let (code, first) = cli(&cfg, &["sync"]);
    assert_eq!(code, 0, "{first}");
    let target = dbs.join("pokervod.db");

    // glibc gives threads their own malloc arenas (up to 8 per core) and keeps them: the
    // walker's and the share checks' threads would grow the RSS in steps until that cap, which
    // is not a leak (measured: 14 → 25 MB over 5 min uncapped, flat at 18 MB with the cap). The
    // server runs as the README advises for a long-running server on Linux: MALLOC_ARENA_MAX=2.
    let (server, url) = serve_with(&cfg, &[], &[("MALLOC_ARENA_MAX", "2")]);
    let pid = server.0.id();
    let agent = agent();

    // Copies in progress: (path, final size); the Target must never hold them at another size.
    let copying: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let mut copiers = Vec::new();
    let mut early = Vec::new();
    let mut rng = Rng(0x50A4_50A4_0000_0001);
    let mut ops: BTreeMap<&str, u32> = BTreeMap::new();
    let start = Instant::now();
    let mut rss_warm = None;
    let mut rss_series: Vec<(u64, u64)> = Vec::new();
    let mut next_restart = Duration::from_secs(45);
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(secs) {
        n += 1;
        // The server's memory once its caches are warm, against the end: after the first two
        // scheduled syncs (each of the first ones fills caches: the match index, SQLite's
        // pages), or half-way through a longer soak.
        if rss_warm.is_none()
            && start.elapsed() > Duration::from_secs((secs / 2).max(RSS_WARM_SECS))
        {
            rss_warm = Some(vm_rss_kib(pid));
        }
        if rss_series
            .last()
            .is_none_or(|(t, _)| start.elapsed().as_secs() >= t + 10)
        {
            rss_series.push((start.elapsed().as_secs(), vm_rss_kib(pid)));
        }
        let files = videos(&archive);
        // Through the mount half of the time (the watcher sees it), else on the NAS's disk
        // (only the schedule sees it).
        let base: PathBuf = if rng.below(2) == 0 {
            share.mount.clone()
        } else {
            archive.clone()
        };
        let op = if start.elapsed() >= next_restart {
            next_restart += Duration::from_secs(45);
            "restart"
        } else {
            ["add", "delete", "move", "rename", "copy"][rng.below(5)]
        };
        let done = match op {
            "restart" => {
                share.kill();
                std::thread::sleep(Duration::from_secs(2));
                share.restart(&archive);
                true
            }
            "add" => {
                let p = format!("Soak/add-{n}.mp4");
                fs::create_dir_all(base.join("Soak")).is_ok()
                    && fs::write(base.join(&p), vec![n as u8; 1000 + n as usize]).is_ok()
            }
            "delete" if !files.is_empty() => {
                let f = &files[rng.below(files.len())];
                fs::remove_file(base.join(f)).is_ok()
            }
            "move" if !files.is_empty() => {
                let f = &files[rng.below(files.len())];
                let name = Path::new(f).file_name().expect("name").to_string_lossy();
                let to = format!("Moved/{n}-{name}");
                fs::create_dir_all(base.join("Moved")).is_ok()
                    && fs::rename(base.join(f), base.join(&to)).is_ok()
            }
            "rename" if !files.is_empty() => {
                let f = &files[rng.below(files.len())];
                let to = format!(
                    "{}.renamed-{n}.mp4",
                    f.trim_end_matches(".mp4").trim_end_matches(".mov")
                );
                fs::rename(base.join(f), base.join(&to)).is_ok()
            }
            "copy" => {
                // A slow copy onto the NAS's disk: 8 chunks over ~6 s.
                let rel = format!("Soak/copy-{n}.mp4");
                let path = archive.join(&rel);
                let chunk = 64 * 1024;
                copying
                    .lock()
                    .expect("lock")
                    .insert(rel.clone(), 8 * chunk as i64);
                let copying = Arc::clone(&copying);
                copiers.push(std::thread::spawn(move || {
                    let _ = fs::create_dir_all(path.parent().expect("parent"));
                    if let Ok(mut f) = fs::File::create(&path) {
                        for i in 0..8u8 {
                            let _ = f.write_all(&vec![i; chunk]);
                            let _ = f.flush();
                            std::thread::sleep(Duration::from_millis(750));
                        }
                    }
                    // Stable from here (its mtime is the last write).
                    copying.lock().expect("lock").remove(&rel);
                }));
                true
            }
            _ => false,
        };
        if done {
            *ops.entry(op).or_default() += 1;
        }
        // A file in the middle of its copy is never in the Target.
        let now_copying = copying.lock().expect("lock").clone();
        for (p, size) in active(&target) {
            if now_copying.contains_key(&p) {
                early.push(format!("{p} ({size} bytes) at {:?}", start.elapsed()));
            }
        }
        std::thread::sleep(Duration::from_millis(500 + rng.below(1500) as u64));
    }
    for c in copiers {
        c.join().expect("copier");
    }
    assert!(
        early.is_empty(),
        "files reached the Target mid-copy: {early:?}"
    );
    let rss_end = vm_rss_kib(pid);

    // The final state: a sync after the tree stopped changing.
    let job = final_sync(&agent, &url);
    let got = active(&target);

    // What the rules say for the tree on disk: a fresh sync from the local disk.
    let fresh = dir.path().join("fresh.toml");
    let fresh_dbs = dir.path().join("fresh-db");
    write_config_with(&fresh, &archive, &fresh_dbs, "settle_secs = 0\n");
    let (code, f) = cli(&fresh, &["sync"]);
    assert_eq!(code, 0, "{f}");
    let want = active(&fresh_dbs.join("pokervod.db"));
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the Target differs from a fresh sync of the tree: missing {missing:?}, extra {extra:?} (last job {job})"
    );

    // Each Target row's history is a valid life: added first, then updates and moves while
    // active, deleted only when active, restored only when deleted; and it ends in the row's
    // status.
    let events = history(&agent, &url);
    let mut life: HashMap<i64, &str> = HashMap::new();
    for e in &events {
        let Some(id) = e["target_id"].as_i64() else {
            continue;
        };
        let ev = e["event"].as_str().unwrap_or("");
        let state = life.get(&id).copied();
        let next = match (state, ev) {
            (None, "added") => "active",
            (Some("active"), "updated" | "moved") => "active",
            (Some("active"), "deleted") => "deleted",
            (Some("deleted"), "restored") => "active",
            (Some("deleted"), "moved") => "active",
            _ => panic!("row {id}: event {ev} after {state:?} ({e})"),
        };
        life.insert(id, next);
    }
    let c = rusqlite::Connection::open(&target).expect("open pokervod.db");
    let mut s = c.prepare("SELECT id, status FROM files").expect("prepare");
    let rows: Vec<(i64, String)> = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for (id, status) in &rows {
        if let Some(state) = life.get(id) {
            assert_eq!(
                state, status,
                "row {id}: its history ends {state}, the row is {status}"
            );
        }
    }

    let warm = rss_warm.unwrap_or(rss_end);
    eprintln!(
        "soak: {secs} s, operations {ops:?}, {} history events, {} active rows, server RSS {warm} KiB once warm → {rss_end} KiB at the end (KiB by second: {rss_series:?})",
        events.len(),
        got.len()
    );
    assert!(
        rss_end as f64 <= warm as f64 * 1.10,
        "the server's RSS grew from {warm} KiB to {rss_end} KiB (> 10 %)"
    );
    drop(server);
}
