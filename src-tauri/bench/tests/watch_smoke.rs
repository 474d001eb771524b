//! Runs `nas-sync-bench watch` end to end on a small tree and checks what it measured, not how
//! fast: every created file reached the Target and the matching table (`synced`) through a watch
//! sync, the dashboard was asked after each, and the table is printed.

use std::process::Command;

use serde_json::Value;

#[test]
fn small_watch_run_delivers_every_file_through_the_watcher() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().join("work");
    let json_path = tmp.path().join("watch.json");
    let out = Command::new(env!("CARGO_BIN_EXE_nas-sync-bench"))
        .args(["watch", "--files", "500", "--samples", "3", "--json"])
        .arg(&json_path)
        .arg("--dir")
        .arg(&work)
        .output()
        .expect("run nas-sync-bench watch");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit 0; stderr:\n{stderr}");
    assert!(!work.exists(), "the work directory is removed");
    assert!(
        stdout.contains("| measurement |")
            && stdout.contains("file created → Target row visible")
            && stdout.contains("its row in the matching table, `synced`")
            && stdout.contains("dashboard, every call"),
        "the results table:\n{stdout}"
    );
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("json");
    assert_eq!(r["files"], 500);
    assert_eq!(r["latency"]["n"], 3);
    assert_eq!(r["matching"]["n"], 3);
    assert!(
        r["dashboard"]["n"].as_u64().is_some_and(|n| n >= 3 * 3),
        "at least three dashboard calls after each sync: {r}"
    );
    let samples = r["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 3);
    for s in samples {
        assert!(s["ms"].as_f64().is_some_and(|ms| ms > 0.0), "{s}");
        let seen = s["matching_seen_ms"].as_f64().expect("seen");
        let synced = s["matching_ms"].as_f64().expect("synced");
        assert!(seen > 0.0 && synced >= seen, "{s}");
        // Each file went through a partial scan of its own leaf directory's part of the tree.
        let path = s["path"].as_str().expect("path");
        let scope = s["scope"].as_array().expect("a partial scan carried it");
        assert!(
            scope
                .iter()
                .filter_map(Value::as_str)
                .any(|d| path.starts_with(&format!("{d}/"))),
            "{s}"
        );
    }
    assert!(r["partial_syncs"].as_u64().is_some_and(|n| n >= 3), "{r}");
}
