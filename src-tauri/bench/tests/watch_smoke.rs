//! Runs `nas-sync-bench watch` end to end on a small tree and checks what it measured, not how
//! fast: every created file reached the Target through a watch sync, and the table is printed.

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
        stdout.contains("| measurement |") && stdout.contains("file created → Target row visible"),
        "the results table:\n{stdout}"
    );
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("json");
    assert_eq!(r["files"], 500);
    assert_eq!(r["latency"]["n"], 3);
    let samples = r["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 3);
    for s in samples {
        assert!(s["ms"].as_f64().is_some_and(|ms| ms > 0.0), "{s}");
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
