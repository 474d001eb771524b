//! Windows path semantics, on real directory trees and real SQLite files. These tests run in the
//! Linux suite and, cross-compiled for x86_64-pc-windows-gnu, under Wine (scripts/windows-test.sh),
//! where the `cfg(windows)` cases exercise the Win32 path rules: drive-letter roots, verbatim
//! (`\\?\`) roots, paths over 260 characters and names Windows reserves for devices.

mod common;

use std::path::Path;

use chrono::{TimeZone, Utc};
use nas_sync_engine::archive::Archive;
use nas_sync_engine::clock::FixedClock;
use nas_sync_engine::scan::{self, ScanOptions};
use nas_sync_engine::sync::{self, SyncOptions};
use nas_sync_engine::target::CREATE_FILES_SQL;
use rusqlite::{Connection, params};

fn clock() -> FixedClock {
    FixedClock(
        Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0)
            .single()
            .expect("time"),
    )
}

fn scanned_paths(cfg: &nas_sync_engine::Config, archive: &Path) -> Vec<String> {
    let mut a = Archive::open(archive).expect("open archive.db");
    let (report, _) = scan::run_scan(cfg, &mut a, &clock(), ScanOptions::default()).expect("scan");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let (files, _) = Archive::read_snapshot(archive).expect("snapshot");
    let mut paths: Vec<String> = files.into_iter().map(|f| f.path).collect();
    paths.sort();
    paths
}

/// (id, nas_path, status) of every Target row.
fn target_rows(target: &Path) -> Vec<(i64, String, String)> {
    let c = Connection::open(target).expect("open pokervod.db");
    let mut s = c
        .prepare("SELECT id, nas_path, status FROM files ORDER BY id")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// A catalog written by a Windows tool (backslashes) or typed with another case: the same files
/// on a Windows share. Their rows keep their ids and stay active (re-pointed to the Source's
/// spelling); nothing is soft-deleted and nothing is inserted twice.
#[test]
fn target_rows_with_backslashes_or_another_case_keep_their_ids() {
    let e = common::env();
    common::put(&e.root, "WSOP/2024/Day1.mp4", b"day one");
    common::put(&e.root, "HCL/EP123.mp4", b"episode");
    let c = Connection::open(&e.target).expect("create pokervod.db");
    c.execute_batch(CREATE_FILES_SQL).expect("schema");
    for (id, path, name, catalog) in [
        (42, r"WSOP\2024\Day1.mp4", "Day1.mp4", "WSOP"),
        (43, "hcl/ep123.MP4", "ep123.MP4", "hcl"),
    ] {
        c.execute(
            "INSERT INTO files (id, nas_path, filename, catalog, format, size_bytes, hls_compatible,
             status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'mp4', 7, 1, 'active',
             '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')",
            params![id, path, name, catalog],
        )
        .expect("old row");
    }
    drop(c);
    let r = sync::run_sync(&e.cfg, &clock(), SyncOptions::default()).expect("sync");
    assert!(r.refused.is_none() && r.errors.is_empty(), "{r:?}");
    assert_eq!((r.added, r.deleted, r.moved), (0, 0, 2), "{r:?}");
    assert_eq!(
        target_rows(&e.target),
        [
            (42, "WSOP/2024/Day1.mp4".to_string(), "active".to_string()),
            (43, "HCL/EP123.mp4".to_string(), "active".to_string()),
        ]
    );
}

/// Paths longer than Windows' classic MAX_PATH (260) are listed, stored and synced.
#[test]
fn paths_over_260_characters_are_scanned_and_synced() {
    let e = common::env();
    let dirs: Vec<String> = (0..6)
        .map(|i| format!("{i}_{}", "긴폴더이름".repeat(4) + &"d".repeat(30)))
        .collect();
    let rel = format!("WSOP/{}/final table.mp4", dirs.join("/"));
    let full = e.root.join(&rel);
    assert!(
        full.to_string_lossy().chars().count() > 300,
        "{}",
        full.display()
    );
    common::put(&e.root, &rel, b"deep");
    assert_eq!(
        scanned_paths(&e.cfg, &e.archive),
        std::slice::from_ref(&rel)
    );
    let r = sync::run_sync(&e.cfg, &clock(), SyncOptions::default()).expect("sync");
    assert_eq!(r.added, 1, "{r:?}");
    assert_eq!(target_rows(&e.target)[0].1, rel);
}

/// Stored paths use `/` whatever the OS, so a catalog synced from Linux and one synced from
/// Windows agree.
#[test]
fn stored_paths_use_forward_slashes() {
    let e = common::env();
    common::put(&e.root, "PAD/S1/E01.mp4", b"x");
    common::put(&e.root, "loose.mp4", b"y");
    assert_eq!(
        scanned_paths(&e.cfg, &e.archive),
        ["PAD/S1/E01.mp4", "loose.mp4"]
    );
}

/// The same share named three ways on Windows (`D:\share`, `D:/share`, `\\?\D:\share`): the same
/// Source. In a verbatim root `/` is not a separator, so this needs the component-wise join.
#[cfg(windows)]
#[test]
fn a_drive_root_with_either_separator_or_verbatim_scans_the_same_paths() {
    let e = common::env();
    common::put(&e.root, "WSOP/2024/Day1.mp4", b"x");
    common::put(&e.root, "HCL/EP1.mp4", b"y");
    let native = std::path::absolute(&e.root).expect("absolute root");
    let s = native.to_string_lossy().into_owned();
    assert!(
        s.as_bytes().get(1) == Some(&b':'),
        "a drive-letter path: {s}"
    );
    let forward = s.replace('\\', "/");
    let verbatim = format!(r"\\?\{s}");
    let mut seen = Vec::new();
    for (i, root) in [s.clone(), forward, verbatim].into_iter().enumerate() {
        let mut cfg = e.cfg.clone();
        cfg.root = Some(root.into());
        let archive = e.archive.with_file_name(format!("archive-{i}.db"));
        seen.push(scanned_paths(&cfg, &archive));
    }
    assert_eq!(seen[0], ["HCL/EP1.mp4", "WSOP/2024/Day1.mp4"]);
    assert_eq!(seen[1], seen[0]);
    assert_eq!(seen[2], seen[0]);
}

/// A file named `CON.mp4` (possible on a NAS filled from Linux or a Mac) is listed and kept in
/// the Source; the probe does not open it (that would open the console device).
#[cfg(windows)]
#[test]
fn a_reserved_device_name_is_listed_but_not_opened() {
    let e = common::env();
    common::put(&e.root, "WSOP/ok.mp4", b"x");
    let dir = std::path::absolute(e.root.join("WSOP")).expect("absolute");
    // Only a verbatim path can create such a name through Win32.
    let verbatim = format!(r"\\?\{}\CON.mp4", dir.display());
    std::fs::write(&verbatim, b"not a console").expect("create CON.mp4 through a verbatim path");
    let mut cfg = e.cfg.clone();
    cfg.probe_media = true;
    let r = sync::run_sync(&cfg, &clock(), SyncOptions::default()).expect("sync");
    assert_eq!(r.added, 2, "{r:?}");
    let error: String = Connection::open(&e.archive)
        .expect("open archive.db")
        .query_row(
            "SELECT probe_error FROM files WHERE path = 'WSOP/CON.mp4'",
            [],
            |r| r.get(0),
        )
        .expect("probe_error of CON.mp4");
    assert!(error.contains("not opened"), "{error}");
    let paths: Vec<String> = target_rows(&e.target).into_iter().map(|r| r.1).collect();
    assert_eq!(paths, ["WSOP/CON.mp4", "WSOP/ok.mp4"]);
}
