//! The real CLI and server against a root on a real SMB share: Samba on 127.0.0.1 mounted with
//! smbnetfs (`scripts/smb-testbed.sh`; needs root and Debian's samba, smbnetfs and fuse3, which
//! `scripts/test.sh` installs). The same tree synced through the share and from the local disk
//! gives the same Target; a move is re-pointed; a NAS that vanishes deletes nothing and the next
//! sync after it is back converges.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::BIN;
use common::share::*;
use serde_json::Value;

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
    let Synced {
        dir: _dir,
        archive: _,
        share,
        cfg,
        target,
        before,
    } = synced_share();

    let (_server, url) = serve(&cfg);
    let agent = agent();
    let (status, h, _) = call(&agent, &url, "/health", false);
    assert_eq!(status, 200, "{h}");

    // The NAS hangs in the middle of a sync's walk: the job stops with share_timeout.
    let id = sync_walking(&agent, &url);
    share.hang();
    let job = wait_for(
        &agent,
        &url,
        &format!("/api/jobs/{id}"),
        Duration::from_secs(30),
        |j| j["state"] != "running",
    );
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "share_timeout", "{job}");
    assert_eq!(
        target_rows(&target),
        before,
        "nothing changed in the Target"
    );

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

    // A sync started while the NAS hangs fails with share_timeout (NAS 응답 없음).
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
    let job = sync_until_succeeded(&agent, &url);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["deleted"], 0, "{job}");
    assert_eq!(target_rows(&target), before, "converged to the same Target");
}

/// Demo files for the tests that act in the middle of a walk (a few seconds over smbnetfs).
const WALK_FILES: &str = "3000";

/// A demo of [`WALK_FILES`] files on the test bed, synced once through it (share_timeout_secs
/// = 5), and the Target's rows after that sync.
struct Synced {
    dir: tempfile::TempDir,
    archive: std::path::PathBuf,
    share: Share,
    cfg: std::path::PathBuf,
    target: std::path::PathBuf,
    before: Vec<(String, i64, String)>,
}

fn synced_share() -> Synced {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["demo", "--dir"])
        .arg(dir.path())
        .args(["--files", WALK_FILES])
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
    Synced {
        dir,
        archive,
        share,
        cfg,
        target,
        before,
    }
}

/// Sync through the API until one succeeds (smbnetfs takes a few seconds to reconnect after a
/// hang or a restart); the last job, whatever its state, after 90 s.
fn sync_until_succeeded(agent: &ureq::Agent, url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, started, _) = call(agent, url, "/api/sync", true);
        let id = started["job_id"].as_u64().expect("job_id");
        let job = wait_for(
            agent,
            url,
            &format!("/api/jobs/{id}"),
            Duration::from_secs(60),
            |j| j["state"] != "running",
        );
        if job["state"] == "succeeded" || Instant::now() > deadline {
            return job;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Start a sync through the API and return its id once its walk has seen files.
fn sync_walking(agent: &ureq::Agent, url: &str) -> u64 {
    let (status, started, _) = call(agent, url, "/api/sync", true);
    assert!(status < 300, "{started}");
    let id = started["job_id"].as_u64().expect("job_id");
    let job = wait_for(
        agent,
        url,
        &format!("/api/jobs/{id}"),
        Duration::from_secs(30),
        |j| j["progress"]["files_seen"].as_u64().unwrap_or(0) > 0 || j["state"] != "running",
    );
    assert_eq!(
        job["state"], "running",
        "the walk ended before the test could act on it: {job}"
    );
    id
}

/// The NAS killed in the middle of a sync's walk: nothing is deleted from the Target, and the
/// next sync after it is back converges to the same rows.
#[test]
fn the_nas_killed_mid_walk_deletes_nothing() {
    let Synced {
        dir: _dir,
        archive,
        share,
        cfg,
        target,
        before,
    } = synced_share();

    let (_server, url) = serve(&cfg);
    let agent = agent();
    let id = sync_walking(&agent, &url);
    share.kill();
    let job = wait_for(
        &agent,
        &url,
        &format!("/api/jobs/{id}"),
        Duration::from_secs(60),
        |j| j["state"] != "running",
    );
    assert_eq!(
        target_rows(&target),
        before,
        "nothing changed in the Target: {job}"
    );
    // Listings that failed are unreadable folders (their files kept) or the offline guard.
    if job["state"] == "succeeded" {
        assert_eq!(job["result"]["deleted"], 0, "{job}");
    }

    share.restart(&archive);
    let job = sync_until_succeeded(&agent, &url);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["deleted"], 0, "{job}");
    assert_eq!(target_rows(&target), before, "converged to the same Target");
}
