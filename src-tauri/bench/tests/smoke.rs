//! Runs the benchmark binary end to end on a small tree and checks what it found, not how fast:
//! timings of a debug build on a shared machine mean nothing, the counts always must be right.

use std::process::Command;

use serde_json::Value;

const FILES: u64 = 20_000;

/// Every measurement the results table must have.
const ROWS: &[&str] = &[
    "generate",
    "find_first",
    "find",
    "scan_store",
    "scan_peak_rss",
    "rescan_no_change",
    "rescan_rows_written",
    "first_sync",
    "index_rebuild_first_sync",
    "resync_1pct",
    "index_rebuild_resync",
    "scan_pending",
    "index_rebuild_pending",
    "index_second_open",
    "dashboard",
    "matching_status_synced",
    "matching_status_synced_with_duplicates",
    "matching_status_new",
    "matching_status_changed",
    "matching_status_deleted",
    "matching_status_duplicate",
    "matching_status_not_synced",
    "matching_deep_page",
    "sort_size_first_page",
    "sort_size_deep_page",
    "search_rare",
    "search_common",
    "filter_reason",
    "filter_ext_common",
    "filter_ext_rare",
    "filter_codec",
    "filter_collision",
    "filter_combined",
    "filter_search_codec",
    "filter_facets",
    "tree_root",
    "tree_catalog",
    "tree_leaf",
    "history",
];

const STATUSES: &[&str] = &[
    "synced",
    "synced_with_duplicates",
    "new",
    "changed",
    "deleted",
    "duplicate",
    "not_synced",
];

fn u(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("the results JSON has no number at {pointer}"))
}

#[test]
fn small_run_completes_with_consistent_counts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().join("work");
    let json_path = tmp.path().join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_nas-sync-bench"))
        .args(["--files", &FILES.to_string(), "--queries", "20", "--json"])
        .arg(&json_path)
        .arg("--dir")
        .arg(&work)
        .output()
        .expect("run nas-sync-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the benchmark must exit 0; stderr:\n{stderr}"
    );
    assert!(
        !work.exists(),
        "without --keep the work directory must be removed"
    );
    assert!(
        stdout.contains("| measurement |") && stdout.contains("pass/fail"),
        "stdout must carry the Markdown results table:\n{stdout}"
    );

    let text = std::fs::read_to_string(&json_path).expect("the --json file is written");
    let r: Value = serde_json::from_str(&text).expect("the --json file is JSON");

    // Every measurement row is there, once, with a verdict.
    let rows = r["rows"].as_array().expect("rows is an array");
    for key in ROWS {
        let matching: Vec<&Value> = rows.iter().filter(|row| row["key"] == *key).collect();
        assert_eq!(matching.len(), 1, "row `{key}` must appear exactly once");
        let verdict = matching[0]["verdict"].as_str().unwrap_or("");
        assert!(
            ["pass", "fail", "info"].contains(&verdict),
            "row `{key}` has verdict `{verdict}`"
        );
        assert!(
            stdout.contains(matching[0]["name"].as_str().unwrap_or("\u{0}")),
            "row `{key}` must be in the printed table"
        );
    }
    assert_eq!(r["header"]["files"], FILES);
    assert_eq!(u(&r, "/generated/files"), FILES);

    // The scans saw the whole tree; the no-change rescan wrote nothing.
    let c = &r["counts"];
    assert_eq!(u(c, "/scan/files_seen"), FILES);
    assert_eq!(u(c, "/scan/added"), FILES);
    assert_eq!(u(c, "/rescan/unchanged"), FILES);
    assert_eq!(
        u(c, "/rescan_rows_written"),
        0,
        "a no-change rescan must write no file rows"
    );
    let written_row = rows
        .iter()
        .find(|row| row["key"] == "rescan_rows_written")
        .expect("rescan_rows_written row");
    assert_eq!(written_row["value"].as_f64(), Some(0.0));
    assert_eq!(written_row["verdict"], "pass");

    // The first sync inserted one row per eligible name: the generator's count, the index's
    // synced statuses and the dashboard's Target total all agree.
    let added = u(c, "/first_sync/added");
    assert_eq!(
        added,
        u(&r, "/generated/eligible_originals"),
        "the first sync inserts exactly the eligible originals"
    );
    assert_eq!(
        u(c, "/after_first_sync/target_active"),
        added,
        "dashboard target total"
    );
    assert_eq!(
        u(c, "/after_first_sync/by_status/synced")
            + u(c, "/after_first_sync/by_status/synced_with_duplicates"),
        added,
        "every inserted row is a synced primary"
    );
    assert_eq!(
        u(c, "/after_first_sync/by_status/duplicate"),
        u(&r, "/generated/backup_copies"),
        "every backup copy is a duplicate"
    );
    assert_eq!(
        u(c, "/after_first_sync/by_status/not_synced"),
        u(&r, "/generated/non_hls")
    );
    assert_eq!(u(c, "/first_sync/errors"), 0);

    // The re-sync applied the 1 % changes.
    assert!(u(c, "/resync/added") > 0, "the re-sync adds the new files");
    assert!(
        u(c, "/resync/moved") > 0,
        "the re-sync re-points moved files"
    );
    assert!(u(c, "/resync/deleted") > 0, "the re-sync soft-deletes");
    assert!(
        u(c, "/resync/updated") > 0,
        "the re-sync updates grown files"
    );

    // Every status is non-empty after the second changes, and its first page has items.
    for s in STATUSES {
        let total = u(c, &format!("/queries/statuses/{s}/total"));
        let items = u(c, &format!("/queries/statuses/{s}/first_page_items"));
        assert!(total > 0, "status `{s}` must have items after the changes");
        assert_eq!(
            items,
            total.min(20),
            "status `{s}`: the first page shows min(total, 20) items"
        );
    }

    // Searches: every rare term finds its files; the common term matches at least 10 %.
    let terms = c["queries"]["search_rare"]["terms"]
        .as_array()
        .expect("rare terms");
    assert!(!terms.is_empty());
    for t in terms {
        let total = t["total"].as_u64().unwrap_or(0);
        assert!(
            (1..=60).contains(&total),
            "a rare term matches a handful of items: {t}"
        );
    }
    let items_total = u(c, "/queries/items_total");
    let common = u(c, "/queries/search_common/total");
    assert!(
        common * 10 >= items_total,
        "the common term matches {common} of {items_total} items, less than 10 %"
    );
    assert_eq!(u(c, "/queries/search_common/first_page_items"), 20);
    assert_eq!(
        u(c, "/queries/index_rebuilds_during_queries"),
        0,
        "nothing changes the inputs while the queries run"
    );

    // The value filters find what the list of their values counts: the codecs recorded before
    // the first sync, the mp4 files, and the name collisions the churn made (grown files whose
    // backup copy kept the old size).
    let f = &c["queries"]["filters"];
    let facet = |list: &str, value: &str| -> u64 {
        f["facets"][list]
            .as_array()
            .and_then(|v| v.iter().find(|x| x["value"] == value))
            .and_then(|x| x["count"].as_u64())
            .unwrap_or_else(|| panic!("facets.{list} has no {value}: {}", f["facets"]))
    };
    assert_eq!(u(f, "/filter_codec/total"), facet("codecs", "hevc"));
    assert!(facet("codecs", "hevc") > 0 && facet("codecs", "h264") > 0);
    assert_eq!(u(f, "/filter_ext_common/total"), facet("extensions", "mp4"));
    assert_eq!(u(f, "/filter_ext_rare/total"), facet("extensions", "ts"));
    assert_eq!(
        u(f, "/filter_collision/total"),
        u(f, "/facets/name_collisions")
    );
    assert!(
        u(f, "/facets/name_collisions") > 0,
        "the grown files collide with their backups"
    );
    assert_eq!(
        facet("reasons", "mxf") + facet("reasons", "mkv"),
        u(c, "/queries/statuses/not_synced/total"),
        "every not-synced item is an mxf or an mkv"
    );

    // Query rows carry both columns where the brief asks for both.
    for key in ROWS.iter().filter(|k| {
        k.starts_with("filter_")
            || k.starts_with("matching_")
            || k.starts_with("sort_")
            || k.starts_with("search_")
            || k.starts_with("tree_")
    }) {
        let row = rows.iter().find(|row| row["key"] == *key).expect("row");
        for col in ["per_call_latency", "long_lived_latency"] {
            assert_eq!(
                row[col]["n"].as_u64(),
                Some(20),
                "`{key}` {col} must have one sample per query"
            );
        }
    }
}
