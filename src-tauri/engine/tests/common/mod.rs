//! Shared fixture of the small scenario tests: a share folder, archive.db and pokervod.db in a
//! temp dir, and a Config pointing at them (probing off: these files are not media).

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use nas_sync_engine::Config;

pub struct Env {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub archive: PathBuf,
    pub target: PathBuf,
    pub cfg: Config,
}

pub fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("share");
    fs::create_dir_all(&root).expect("share");
    let archive = dir.path().join("archive.db");
    let target = dir.path().join("pokervod.db");
    let cfg = Config {
        root: Some(root.clone()),
        archive_db: Some(archive.clone()),
        target_db: Some(target.clone()),
        probe_media: false,
        ..Config::default()
    };
    Env {
        _dir: dir,
        root,
        archive,
        target,
        cfg,
    }
}

/// Write `body` at `rel` under `root`, creating folders.
pub fn put(root: &Path, rel: &str, body: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
    fs::write(p, body).expect("write");
}
