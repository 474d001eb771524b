//! What the CLI's black-box tests share: a demo archive to run the real binary on, and reads of
//! the Target as the tests check it.

#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::Command;

pub mod share;

pub const BIN: &str = env!("CARGO_BIN_EXE_nas-sync");

/// `nas-sync demo --files N` in a temp dir, with the media probe off (ffprobe per MXF file is
/// not what these tests are about). Not synced yet.
pub fn demo(files: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["demo", "--dir"])
        .arg(dir.path())
        .args(["--files", &files.to_string()])
        .output()
        .expect("run demo");
    assert!(out.status.success(), "demo: {out:?}");
    let cfg = dir.path().join("nas-sync.toml");
    let mut text = fs::read_to_string(&cfg).expect("demo config");
    text.push_str("probe_media = false\n");
    fs::write(&cfg, text).expect("demo config");
    dir
}

/// [`demo`], then one quiet sync.
pub fn synced_demo(files: u32) -> tempfile::TempDir {
    let dir = demo(files);
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.path().join("nas-sync.toml"))
        .args(["-q", "sync"])
        .output()
        .expect("sync");
    assert!(out.status.success(), "{out:?}");
    dir
}

/// `SELECT COUNT(*) …` (or any one-integer query) on a database.
pub fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open db");
    c.query_row(sql, [], |r| r.get(0)).expect("count")
}
