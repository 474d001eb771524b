//! Integration tests of the scanner: real directory trees in temp dirs, a real archive.db, a fixed
//! clock. Each test states in its name what it proves.

#[cfg(unix)]
use std::collections::BTreeSet;
#[cfg(unix)]
use std::ffi::OsStr;
use std::fs;
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
#[cfg(unix)]
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use nas_sync_engine::archive::{Archive, FileRecord};
use nas_sync_engine::clock::FixedClock;
#[cfg(unix)]
use nas_sync_engine::scan::IssueKind;
use nas_sync_engine::scan::{self, PartialScan, ScanOptions, ScanReport};
use nas_sync_engine::{Config, Error, Guard};
use tempfile::TempDir;
use unicode_normalization::UnicodeNormalization;

mod common;
use common::set_mtime;

/// A base mtime (2023-11-14T22:13:20Z); tests add offsets so unrelated files never share one.
const T0: i64 = 1_700_000_000;

/// A temp dir holding the share (`share/`) and, outside it, archive.db (`state/archive.db`).
struct Fixture {
    _tmp: TempDir,
    base: PathBuf,
    root: PathBuf,
    db: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().to_path_buf();
        let root = base.join("share");
        fs::create_dir_all(&root).expect("create share root");
        let db = base.join("state").join("archive.db");
        Fixture {
            _tmp: tmp,
            base,
            root,
            db,
        }
    }

    fn cfg(&self) -> Config {
        Config {
            root: Some(self.root.clone()),
            archive_db: Some(self.db.clone()),
            ..Config::default()
        }
    }

    fn archive(&self) -> Archive {
        Archive::open(&self.db).expect("open archive.db")
    }

    /// Write `content` at `rel` under the root (creating directories) with mtime `T0 + dt`.
    fn put(&self, rel: &str, content: &[u8], dt: i64) -> PathBuf {
        let p = self.root.join(rel);
        write_file(&p, content, T0 + dt);
        p
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Move `from` to `to` (both relative to the root), creating the target directory.
    fn mv(&self, from: &str, to: &str) {
        common::mv(&self.root, from, to);
    }
}

fn write_file(p: &Path, content: &[u8], mtime: i64) {
    common::write_at(p, content, mtime);
}

fn clock() -> FixedClock {
    FixedClock(chrono::DateTime::from_timestamp(1_714_564_800, 0).expect("valid timestamp"))
}

fn scan_ok(cfg: &Config, archive: &mut Archive) -> (ScanReport, Vec<FileRecord>) {
    scan::run_scan(cfg, archive, &clock(), ScanOptions::default()).expect("scan succeeds")
}

fn scan_err(cfg: &Config, archive: &mut Archive, opts: ScanOptions<'_>) -> Error {
    match scan::run_scan(cfg, archive, &clock(), opts) {
        Ok((report, _)) => panic!("expected the scan to fail, it succeeded: {report:?}"),
        Err(e) => e,
    }
}

fn paths(files: &[FileRecord]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

fn find<'a>(files: &'a [FileRecord], path: &str) -> &'a FileRecord {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not in archive.db; have {:?}", paths(files)))
}

fn scans_count(a: &Archive) -> i64 {
    a.conn()
        .query_row("SELECT COUNT(*) FROM scans", [], |r| r.get(0))
        .expect("count scans")
}

/// The stored derived columns of one file: (catalog, name, ext, kind).
fn derived(a: &Archive, path: &str) -> (String, String, String, String) {
    a.conn()
        .query_row(
            "SELECT catalog, name, ext, kind FROM files WHERE path = ?1",
            [path],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("derived columns")
}

fn set_target_id(a: &Archive, path: &str, target_id: i64) {
    let n = a
        .conn()
        .execute(
            "INSERT OR REPLACE INTO links (file_id, target_id) SELECT id, ?2 FROM files WHERE path = ?1",
            rusqlite::params![path, target_id],
        )
        .expect("set target_id");
    assert_eq!(n, 1, "exactly one row at {path}");
}

fn assert_offline(e: &Error) {
    assert!(
        matches!(
            e,
            Error::Refused {
                guard: Guard::Offline,
                ..
            }
        ),
        "expected the offline guard, got {e:?}"
    );
    assert_eq!(e.code(), "guard_offline");
}

/// The bytes of archive.db and its WAL (the `-shm` index is touched by readers, so it is left out).
fn db_bytes(db: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    // A scan or sync checkpoints its WAL on a thread after it returns; wait for it so the
    // bytes compared are settled.
    nas_sync_engine::target::finish_checkpoints();
    let main = fs::read(db).expect("read archive.db");
    let mut wal = db.as_os_str().to_os_string();
    wal.push("-wal");
    (main, fs::read(PathBuf::from(wal)).ok())
}

/// A small tree with a few catalogs; returns nothing, the paths are fixed.
fn seed_basic(fx: &Fixture) {
    fx.put("WSOP/2024/main event.mp4", b"wsop main event", 1);
    fx.put("WSOP/2024/day2.MOV", b"day two, longer content", 2);
    fx.put("HCL/ep01.mp4", b"hcl episode one!", 3);
    fx.put("HCL/subs/ep01.srt", b"1\n00:00:01 --> 00:00:02\nhi\n", 4);
    fx.put("loose.mxf", b"a loose file in the root", 5);
}

// ---------------------------------------------------------------------------------------------
// What gets recorded
// ---------------------------------------------------------------------------------------------

#[test]
fn every_regular_file_is_recorded_with_path_catalog_size_and_mtime() {
    let fx = Fixture::new();
    seed_basic(&fx);
    fx.put("PAD/a/b/c/deep.ts", &[9u8; 4096], 6);
    fx.put("README", b"", 7);
    fs::create_dir_all(fx.abs("EMPTY/dir")).expect("empty dirs");

    let mut a = fx.archive();
    let (report, files) = scan_ok(&fx.cfg(), &mut a);

    let expected: Vec<(&str, i64, i64)> = vec![
        ("HCL/ep01.mp4", 16, T0 + 3),
        ("HCL/subs/ep01.srt", 27, T0 + 4),
        ("PAD/a/b/c/deep.ts", 4096, T0 + 6),
        ("README", 0, T0 + 7),
        ("WSOP/2024/day2.MOV", 23, T0 + 2),
        ("WSOP/2024/main event.mp4", 15, T0 + 1),
        ("loose.mxf", 24, T0 + 5),
    ];
    let got: Vec<(&str, i64, i64)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.size, f.mtime))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(a.load_files().expect("load"), files, "returned = stored");
    assert_eq!(report.files_seen, 7);
    assert_eq!(report.added, 7);
    assert_eq!(report.removed + report.modified + report.moved, 0);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    assert_eq!(
        derived(&a, "WSOP/2024/day2.MOV"),
        (
            "WSOP".into(),
            "day2.MOV".into(),
            "mov".into(),
            "video".into()
        )
    );
    assert_eq!(
        derived(&a, "HCL/subs/ep01.srt"),
        (
            "HCL".into(),
            "ep01.srt".into(),
            "srt".into(),
            "subtitle".into()
        )
    );
    assert_eq!(
        derived(&a, "loose.mxf"),
        (
            "ARCHIVE".into(),
            "loose.mxf".into(),
            "mxf".into(),
            "video".into()
        )
    );
    assert_eq!(
        derived(&a, "README"),
        (
            "ARCHIVE".into(),
            "README".into(),
            String::new(),
            "other".into()
        )
    );
    assert_eq!(
        derived(&a, "PAD/a/b/c/deep.ts"),
        ("PAD".into(), "deep.ts".into(), "ts".into(), "video".into())
    );
}

#[test]
fn first_seen_is_shared_by_one_scan_and_kept_on_rescan() {
    let fx = Fixture::new();
    seed_basic(&fx);
    let mut a = fx.archive();
    let (r1, files1) = scan_ok(&fx.cfg(), &mut a);
    let scan1 = r1.scan_id.expect("committed scan has an id");
    assert!(files1.iter().all(|f| f.first_seen == scan1), "{files1:?}");

    fx.put("HCL/ep02.mp4", b"hcl episode two!!", 10);
    fx.put("NEW/x.mp4", b"new catalog", 11);
    let (r2, files2) = scan_ok(&fx.cfg(), &mut a);
    let scan2 = r2.scan_id.expect("committed scan has an id");
    assert_ne!(scan1, scan2);
    assert_eq!(r2.added, 2);
    for f in &files2 {
        let expected = if f.path == "HCL/ep02.mp4" || f.path == "NEW/x.mp4" {
            scan2
        } else {
            scan1
        };
        assert_eq!(f.first_seen, expected, "first_seen of {}", f.path);
    }
    // Ids of files seen again are unchanged too.
    for old in &files1 {
        assert_eq!(find(&files2, &old.path).id, old.id);
    }
    let (started, finished): (String, String) = a
        .conn()
        .query_row(
            "SELECT started_at, finished_at FROM scans WHERE id = ?1",
            [scan2],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("scan row");
    assert_eq!(started, "2024-05-01T12:00:00Z");
    assert_eq!(finished, "2024-05-01T12:00:00Z");
}

#[test]
fn clutter_and_ignore_globs_are_not_recorded() {
    let fx = Fixture::new();
    fx.put("WSOP/keep.mp4", b"keep", 1);
    fx.put("keep-root.mp4", b"keep root", 2);
    // Built-in clutter, in the root and nested.
    fx.put(".hidden", b"x", 3);
    fx.put(".hiddendir/inside.mp4", b"x", 3);
    fx.put("WSOP/.DS_Store", b"x", 3);
    fx.put("WSOP/.partial.mp4", b"x", 3);
    fx.put("Thumbs.db", b"x", 3);
    fx.put("WSOP/Thumbs.db", b"x", 3);
    fx.put("desktop.ini", b"x", 3);
    fx.put("WSOP/sub/desktop.ini", b"x", 3);
    fx.put("@eaDir/keep.mp4@SynoEAStream", b"x", 3);
    fx.put(
        "WSOP/@eaDir/keep.mp4/SYNOVIDEO_VIDEO_SCREENSHOT.jpg",
        b"x",
        3,
    );
    fx.put("#recycle/old.mp4", b"x", 3);
    fx.put("WSOP/#recycle/old.mp4", b"x", 3);
    fx.put("$RECYCLE.BIN/S-1-5-21/old.mp4", b"x", 3);
    fx.put("HCL/$RECYCLE.BIN/old.mp4", b"x", 3);
    // Configured globs: by name anywhere, by relative path, and a whole top-level dir.
    fx.put("HCL/upload.tmp", b"x", 4);
    fx.put("part.TMP", b"x", 4);
    fx.put("WSOP/raw/cam1.mp4", b"x", 4);
    fx.put("WSOP/raw/deeper/cam2.mp4", b"x", 4);
    fx.put("scratch/a.mp4", b"x", 4);
    fx.put("HCL/final.mp4", b"final", 5);

    let mut cfg = fx.cfg();
    cfg.ignore = vec!["*.tmp".into(), "WSOP/raw/**".into(), "scratch".into()];
    let mut a = fx.archive();
    let (report, files) = scan_ok(&cfg, &mut a);
    assert_eq!(
        paths(&files),
        vec!["HCL/final.mp4", "WSOP/keep.mp4", "keep-root.mp4"]
    );
    assert_eq!(report.files_seen, 3);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

// Unix-only: symlinks and non-UTF-8 names are made with Unix APIs.
#[cfg(unix)]
#[test]
fn symlinks_to_files_and_dirs_are_neither_followed_nor_recorded() {
    let fx = Fixture::new();
    fx.put("WSOP/real.mp4", b"real file", 1);
    fx.put("HCL/ep.mp4", b"hcl ep", 2);
    let outside = fx.base.join("outside");
    write_file(&outside.join("secret.mp4"), b"outside the share", T0 + 3);
    write_file(&outside.join("sub/more.mp4"), b"more outside", T0 + 4);

    // In the root.
    symlink(fx.abs("WSOP/real.mp4"), fx.abs("root-link.mp4")).expect("symlink");
    symlink(&outside, fx.abs("LINKED_CATALOG")).expect("symlink");
    // Nested: to a file, to a dir inside the share (would double-record), to a dir outside,
    // and a dangling one.
    symlink(fx.abs("WSOP/real.mp4"), fx.abs("WSOP/alias.mp4")).expect("symlink");
    symlink(fx.abs("HCL"), fx.abs("WSOP/hcl-link")).expect("symlink");
    symlink(&outside, fx.abs("HCL/outside-link")).expect("symlink");
    symlink(fx.abs("nowhere.mp4"), fx.abs("HCL/dangling.mp4")).expect("symlink");

    let mut a = fx.archive();
    let (report, files) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(paths(&files), vec!["HCL/ep.mp4", "WSOP/real.mp4"]);
    assert_eq!(report.files_seen, 2);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

// Unix-only: symlinks and non-UTF-8 names are made with Unix APIs.
#[cfg(unix)]
#[test]
fn invalid_utf8_names_are_reported_and_skipped_and_the_scan_goes_on() {
    let fx = Fixture::new();
    fx.put("WSOP/ok.mp4", b"ok", 1);
    fx.put("HCL/fine.mp4", b"fine", 2);
    fx.put("root-ok.mp4", b"root ok", 3);
    let bad = |bytes: &[u8]| OsStr::from_bytes(bytes).to_os_string();
    // A file with a bad name, nested.
    write_file(&fx.abs("WSOP").join(bad(b"bad\xff.mp4")), b"x", T0 + 4);
    // A nested directory with a bad name: everything below it is skipped.
    write_file(
        &fx.abs("WSOP").join(bad(b"dir\xfe")).join("good.mp4"),
        b"x",
        T0 + 5,
    );
    // A top-level directory with a bad name.
    write_file(&fx.root.join(bad(b"\xffTOP")).join("x.mp4"), b"x", T0 + 6);
    // A file with a bad name in the root.
    write_file(&fx.root.join(bad(b"\xfe.mp4")), b"x", T0 + 7);

    let mut a = fx.archive();
    let (report, files) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(
        paths(&files),
        vec!["HCL/fine.mp4", "WSOP/ok.mp4", "root-ok.mp4"]
    );
    let invalid: Vec<&str> = report
        .warnings
        .iter()
        .filter(|w| w.kind == IssueKind::InvalidName)
        .map(|w| w.path.as_str())
        .collect();
    assert_eq!(invalid.len(), 4, "{:?}", report.warnings);
    assert_eq!(report.warnings.len(), 4, "{:?}", report.warnings);
    let expected: BTreeSet<String> = [
        "WSOP/bad\u{FFFD}.mp4",
        "WSOP/dir\u{FFFD}",
        "\u{FFFD}TOP",
        "\u{FFFD}.mp4",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let got: BTreeSet<String> = invalid.iter().map(|s| (*s).to_string()).collect();
    assert_eq!(got, expected, "warnings name the (lossy) path");

    let stored: i64 = a
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM scan_issues WHERE scan_id = ?1 AND kind = 'invalid_name'",
            [report.scan_id.expect("committed")],
            |r| r.get(0),
        )
        .expect("count scan issues");
    assert_eq!(stored, 4, "issues are recorded with the scan");
    let warnings: i64 = a
        .conn()
        .query_row(
            "SELECT warnings FROM scans WHERE id = ?1",
            [report.scan_id.expect("committed")],
            |r| r.get(0),
        )
        .expect("scan row");
    assert_eq!(warnings, 4);
}

// ---------------------------------------------------------------------------------------------
// Incremental classification
// ---------------------------------------------------------------------------------------------

#[test]
fn rescan_classifies_added_removed_and_modified() {
    let fx = Fixture::new();
    fx.put("WSOP/keep.mp4", b"unchanged file", 1);
    fx.put("WSOP/grow.mp4", b"small", 2);
    fx.put("WSOP/touch.mp4", b"same size", 3);
    fx.put("HCL/gone.mp4", b"this one will be deleted", 4);
    let mut a = fx.archive();
    let (_, before) = scan_ok(&fx.cfg(), &mut a);
    let scan1 = before[0].first_seen;
    let a_id = |p: &str| find(&before, p).id;

    fx.put("WSOP/grow.mp4", b"small, now bigger", 2); // size changes, mtime same
    set_mtime(&fx.abs("WSOP/touch.mp4"), T0 + 300); // mtime changes, size same
    fs::remove_file(fx.abs("HCL/gone.mp4")).expect("remove");
    fx.put("HCL/new.mp4", b"a brand new file, 31 bytes long", 5);

    // scan_diff shows the classification without writing.
    let outcome =
        scan::scan_diff(&fx.cfg(), &before, &clock(), ScanOptions::default()).expect("scan_diff");
    let d = &outcome.diff;
    assert_eq!(
        d.added.iter().map(|w| w.path.as_str()).collect::<Vec<_>>(),
        vec!["HCL/new.mp4"]
    );
    assert_eq!(
        d.removed
            .iter()
            .map(|r| r.path.as_str())
            .collect::<Vec<_>>(),
        vec!["HCL/gone.mp4"]
    );
    let mut modified: Vec<&str> = d.modified.iter().map(|(r, _)| r.path.as_str()).collect();
    modified.sort_unstable();
    assert_eq!(modified, vec!["WSOP/grow.mp4", "WSOP/touch.mp4"]);
    assert!(d.moved.is_empty(), "{:?}", d.moved);
    assert_eq!(d.unchanged, 1);

    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(
        (
            report.added,
            report.removed,
            report.modified,
            report.moved,
            report.unchanged
        ),
        (1, 1, 2, 0, 1)
    );
    assert_eq!(
        paths(&after),
        vec![
            "HCL/new.mp4",
            "WSOP/grow.mp4",
            "WSOP/keep.mp4",
            "WSOP/touch.mp4"
        ]
    );
    let grow = find(&after, "WSOP/grow.mp4");
    assert_eq!(
        (grow.id, grow.size, grow.mtime),
        (a_id("WSOP/grow.mp4"), 17, T0 + 2)
    );
    assert_eq!(grow.first_seen, scan1);
    let touch = find(&after, "WSOP/touch.mp4");
    assert_eq!(
        (touch.id, touch.size, touch.mtime),
        (a_id("WSOP/touch.mp4"), 9, T0 + 300)
    );
    assert_eq!(touch.first_seen, scan1);
    let new = find(&after, "HCL/new.mp4");
    assert_eq!(new.first_seen, report.scan_id.expect("committed"));
    assert!(!after.iter().any(|f| f.id == a_id("HCL/gone.mp4")));
}

/// The after-scan fingerprint pass (the share timeout is never reached here).
fn fingerprint_pass(a: &mut Archive, root: &Path, workers: usize) -> usize {
    scan::fingerprint_pending(a, root, workers, None, std::time::Duration::from_secs(30))
        .expect("fingerprints")
}

#[test]
fn modified_file_loses_its_stale_fingerprint() {
    let fx = Fixture::new();
    // Equal size and mtime: only such files get a fingerprint (a unique one needs none).
    fx.put("WSOP/a.mp4", b"first content", 1);
    fx.put("WSOP/b.mp4", b"other content", 1);
    let mut a = fx.archive();
    scan_ok(&fx.cfg(), &mut a);
    let n = fingerprint_pass(&mut a, &fx.root, 2);
    assert_eq!(n, 2);
    fx.put("WSOP/a.mp4", b"second content, longer", 1);
    let (report, files) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(report.modified, 1);
    assert_eq!(find(&files, "WSOP/a.mp4").fingerprint, None);
    assert!(find(&files, "WSOP/b.mp4").fingerprint.is_some());
}

#[test]
fn moved_file_keeps_id_first_seen_and_target_id() {
    let fx = Fixture::new();
    fx.put("WSOP/2024/final table.mp4", b"the final table video", 1);
    fx.put("WSOP/2024/other.mp4", b"another file", 2);
    let mut a = fx.archive();
    let (r1, before) = scan_ok(&fx.cfg(), &mut a);
    let old = find(&before, "WSOP/2024/final table.mp4").clone();
    set_target_id(&a, "WSOP/2024/final table.mp4", 4242);

    fx.put("HCL/filler.mp4", b"a later scan", 3);
    scan_ok(&fx.cfg(), &mut a); // a scan in between: first_seen must still point at scan 1

    // Renamed and moved to another catalog: the unique (size, mtime) pair is a move.
    fx.mv("WSOP/2024/final table.mp4", "HCL/archive/FT renamed.mp4");
    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(
        (report.moved, report.added, report.removed, report.modified),
        (1, 0, 0, 0)
    );
    let moved = find(&after, "HCL/archive/FT renamed.mp4");
    assert_eq!(moved.id, old.id, "the row is re-pathed, not replaced");
    assert_eq!(moved.first_seen, r1.scan_id.expect("committed"));
    assert_eq!(moved.target_id, Some(4242));
    assert_eq!((moved.size, moved.mtime), (old.size, old.mtime));
    assert!(!paths(&after).contains(&"WSOP/2024/final table.mp4"));
    assert_eq!(
        derived(&a, "HCL/archive/FT renamed.mp4"),
        (
            "HCL".into(),
            "FT renamed.mp4".into(),
            "mp4".into(),
            "video".into()
        ),
        "derived columns follow the new path"
    );
}

#[test]
fn two_old_candidates_one_with_the_same_name_pairs_by_name() {
    let fx = Fixture::new();
    // Same size, same mtime: both are candidates for the one new file.
    fx.put("WSOP/x.mp4", b"0123456789", 50);
    fx.put("WSOP/y.mp4", b"abcdefghij", 50);
    fx.put("HCL/stay.mp4", b"stays put", 1);
    let mut a = fx.archive();
    let (_, before) = scan_ok(&fx.cfg(), &mut a);
    let x = find(&before, "WSOP/x.mp4").clone();
    let y = find(&before, "WSOP/y.mp4").clone();
    set_target_id(&a, "WSOP/x.mp4", 7);

    fx.mv("WSOP/x.mp4", "PAD/x.mp4");
    fs::remove_file(fx.abs("WSOP/y.mp4")).expect("remove");
    let outcome =
        scan::scan_diff(&fx.cfg(), &before, &clock(), ScanOptions::default()).expect("scan_diff");
    assert_eq!(outcome.diff.moved.len(), 1);
    assert_eq!(outcome.diff.moved[0].0.id, x.id);
    assert_eq!(outcome.diff.moved[0].1.path, "PAD/x.mp4");
    assert_eq!(
        outcome
            .diff
            .removed
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![y.id]
    );
    assert!(outcome.diff.added.is_empty());

    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!((report.moved, report.removed, report.added), (1, 1, 0));
    let moved = find(&after, "PAD/x.mp4");
    assert_eq!((moved.id, moved.target_id), (x.id, Some(7)));
    assert!(!after.iter().any(|f| f.id == y.id));
}

#[test]
fn two_new_candidates_one_with_the_same_name_pairs_by_name() {
    let fx = Fixture::new();
    fx.put("WSOP/x.mp4", b"0123456789", 50);
    fx.put("HCL/stay.mp4", b"stays put", 1);
    let mut a = fx.archive();
    let (_, before) = scan_ok(&fx.cfg(), &mut a);
    let x = find(&before, "WSOP/x.mp4").clone();

    fx.mv("WSOP/x.mp4", "PAD/x.mp4");
    fx.put("GGM/z.mp4", b"abcdefghij", 50); // same size and mtime, other name
    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!((report.moved, report.removed, report.added), (1, 0, 1));
    assert_eq!(find(&after, "PAD/x.mp4").id, x.id);
    let z = find(&after, "GGM/z.mp4");
    assert_ne!(z.id, x.id);
    assert_eq!(z.first_seen, report.scan_id.expect("committed"));
}

#[test]
fn ties_without_a_name_match_are_broken_by_fingerprint() {
    let fx = Fixture::new();
    // Same size, same mtime, different content: only the fingerprint tells them apart.
    let p_content = vec![1u8; 2000];
    let q_content = vec![2u8; 2000];
    fx.put("WSOP/p.mp4", &p_content, 60);
    fx.put("WSOP/q.mp4", &q_content, 60);
    fx.put("HCL/stay.mp4", b"stays put", 1);
    let mut a = fx.archive();
    scan_ok(&fx.cfg(), &mut a);
    let n = fingerprint_pass(&mut a, &fx.root, 4);
    // p and q share (size, mtime); stay.mp4 is unique and is not read.
    assert_eq!(n, 2);
    let before = a.load_files().expect("load");
    let p = find(&before, "WSOP/p.mp4").clone();
    let q = find(&before, "WSOP/q.mp4").clone();
    assert!(p.fingerprint.is_some() && q.fingerprint.is_some());
    assert_ne!(p.fingerprint, q.fingerprint);
    set_target_id(&a, "WSOP/p.mp4", 100);
    set_target_id(&a, "WSOP/q.mp4", 200);

    // Both renamed to names that match neither old name; p's content ends up at "s", q's at "r".
    fx.mv("WSOP/p.mp4", "PAD/s.mp4");
    fx.mv("WSOP/q.mp4", "PAD/r.mp4");
    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!((report.moved, report.removed, report.added), (2, 0, 0));
    let s = find(&after, "PAD/s.mp4");
    let r = find(&after, "PAD/r.mp4");
    assert_eq!((s.id, s.target_id), (p.id, Some(100)));
    assert_eq!((r.id, r.target_id), (q.id, Some(200)));
}

#[test]
fn only_files_sharing_size_and_mtime_are_fingerprinted() {
    let fx = Fixture::new();
    fx.put("WSOP/unique.mp4", b"only one of its size and mtime", 1);
    fx.put("WSOP/main/ep1.mp4", b"episode one", 2);
    fx.put("WSOP/backup/ep1.mp4", b"episode one", 2); // a backup copy: same size and mtime
    fx.put("WSOP/notes.txt", b"not a video", 3);
    fx.put("HCL/empty1.mp4", b"", 4); // empty files share a key but have nothing to tell apart
    fx.put("HCL/empty2.mp4", b"", 4);
    let mut a = fx.archive();
    scan_ok(&fx.cfg(), &mut a);
    assert_eq!(fingerprint_pass(&mut a, &fx.root, 2), 2);
    let files = a.load_files().expect("load");
    let with_fp = |files: &[FileRecord]| -> Vec<String> {
        let mut v: Vec<String> = files
            .iter()
            .filter(|f| f.fingerprint.is_some())
            .map(|f| f.path.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        with_fp(&files),
        vec!["WSOP/backup/ep1.mp4", "WSOP/main/ep1.mp4"]
    );
    assert_eq!(fingerprint_pass(&mut a, &fx.root, 2), 0, "nothing left");

    // A copy of the unique file appears: now both could be confused, so both get one (the old
    // file too: it may be the one that moves away next).
    fx.put("PAD/unique copy.mp4", b"only one of its size and mtime", 1);
    scan_ok(&fx.cfg(), &mut a);
    assert_eq!(fingerprint_pass(&mut a, &fx.root, 2), 2);
    let files = a.load_files().expect("load");
    assert_eq!(
        with_fp(&files),
        vec![
            "PAD/unique copy.mp4",
            "WSOP/backup/ep1.mp4",
            "WSOP/main/ep1.mp4",
            "WSOP/unique.mp4"
        ]
    );
}

#[test]
fn same_name_twins_in_two_folders_are_told_apart_by_their_stored_fingerprints() {
    let fx = Fixture::new();
    // Equal size, mtime and name in two folders, different content: neither the bucket nor the
    // name can pair them; only the fingerprints stored by the pass (the old files are gone at
    // the next scan) can.
    fx.put("a/Part1.mp4", &vec![1u8; 3000], 70);
    fx.put("b/Part1.mp4", &vec![2u8; 3000], 70);
    fx.put("HCL/stay.mp4", b"stays put", 1);
    let mut a = fx.archive();
    scan_ok(&fx.cfg(), &mut a);
    assert_eq!(fingerprint_pass(&mut a, &fx.root, 2), 2);
    let before = a.load_files().expect("load");
    let (ida, idb) = (
        find(&before, "a/Part1.mp4").id,
        find(&before, "b/Part1.mp4").id,
    );
    set_target_id(&a, "a/Part1.mp4", 100);
    set_target_id(&a, "b/Part1.mp4", 200);

    // One moves, its twin stays: a bucket of one removed and one added file pairs by itself.
    fx.mv("a/Part1.mp4", "c/Part1.mp4");
    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!((report.moved, report.removed, report.added), (1, 0, 0));
    let c = find(&after, "c/Part1.mp4");
    assert_eq!((c.id, c.target_id), (ida, Some(100)));

    // Both move at once: two removed, two added, all named Part1.mp4.
    fx.mv("b/Part1.mp4", "d/Part1.mp4");
    fx.mv("c/Part1.mp4", "e/Part1.mp4");
    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!((report.moved, report.removed, report.added), (2, 0, 0));
    let d = find(&after, "d/Part1.mp4");
    let e = find(&after, "e/Part1.mp4");
    assert_eq!((d.id, d.target_id), (idb, Some(200)), "b's content is at d");
    assert_eq!((e.id, e.target_id), (ida, Some(100)), "a's content is at e");

    // One moves and its twin is deleted in the same scan: the moved one keeps its row.
    fx.mv("d/Part1.mp4", "f/Part1.mp4");
    fs::remove_file(fx.abs("e/Part1.mp4")).expect("remove");
    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!((report.moved, report.removed, report.added), (1, 1, 0));
    let f = find(&after, "f/Part1.mp4");
    assert_eq!((f.id, f.target_id), (idb, Some(200)));
    assert!(!after.iter().any(|r| r.id == ida));
}

#[test]
fn identical_content_ties_stay_remove_plus_add() {
    let fx = Fixture::new();
    let content = vec![5u8; 2000];
    fx.put("WSOP/p.mp4", &content, 60);
    fx.put("WSOP/q.mp4", &content, 60);
    fx.put("HCL/stay.mp4", b"stays put", 1);
    let mut a = fx.archive();
    scan_ok(&fx.cfg(), &mut a);
    fingerprint_pass(&mut a, &fx.root, 4);
    let before = a.load_files().expect("load");
    let p = find(&before, "WSOP/p.mp4").clone();
    let q = find(&before, "WSOP/q.mp4").clone();
    assert!(p.fingerprint.is_some());
    assert_eq!(p.fingerprint, q.fingerprint, "identical content");
    set_target_id(&a, "WSOP/p.mp4", 100);
    set_target_id(&a, "WSOP/q.mp4", 200);
    let before = a.load_files().expect("load");

    fx.mv("WSOP/p.mp4", "PAD/s.mp4");
    fx.mv("WSOP/q.mp4", "PAD/r.mp4");
    let outcome =
        scan::scan_diff(&fx.cfg(), &before, &clock(), ScanOptions::default()).expect("scan_diff");
    assert!(outcome.diff.moved.is_empty(), "{:?}", outcome.diff.moved);
    let mut removed: Vec<i64> = outcome.diff.removed.iter().map(|r| r.id).collect();
    removed.sort_unstable();
    let mut expected_removed = vec![p.id, q.id];
    expected_removed.sort_unstable();
    assert_eq!(removed, expected_removed);
    assert_eq!(
        outcome
            .diff
            .added
            .iter()
            .map(|w| w.path.as_str())
            .collect::<Vec<_>>(),
        vec!["PAD/r.mp4", "PAD/s.mp4"]
    );

    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!((report.moved, report.removed, report.added), (0, 2, 2));
    let scan_id = report.scan_id.expect("committed");
    for path in ["PAD/r.mp4", "PAD/s.mp4"] {
        let f = find(&after, path);
        assert_eq!(f.first_seen, scan_id, "{path} is a new row");
        assert_eq!(f.target_id, None, "{path} does not inherit a Target link");
    }
    let linked: i64 = a
        .conn()
        .query_row("SELECT COUNT(*) FROM links", [], |r| r.get(0))
        .expect("count links");
    assert_eq!(linked, 0, "the old rows and their links are gone");
}

// ---------------------------------------------------------------------------------------------
// No-change rescan, parallel walk
// ---------------------------------------------------------------------------------------------

#[test]
fn rescan_without_changes_writes_no_file_rows() {
    let fx = Fixture::new();
    seed_basic(&fx);
    let mut a = fx.archive();
    scan_ok(&fx.cfg(), &mut a);
    fingerprint_pass(&mut a, &fx.root, 2);
    a.conn()
        .execute_batch(
            "CREATE TABLE audit (op TEXT NOT NULL, file_id INTEGER NOT NULL);
             CREATE TRIGGER audit_ins AFTER INSERT ON files BEGIN
                 INSERT INTO audit VALUES ('insert', NEW.id); END;
             CREATE TRIGGER audit_upd AFTER UPDATE ON files BEGIN
                 INSERT INTO audit VALUES ('update', NEW.id); END;
             CREATE TRIGGER audit_del AFTER DELETE ON files BEGIN
                 INSERT INTO audit VALUES ('delete', OLD.id); END;",
        )
        .expect("create audit triggers");
    let audit = |a: &Archive| -> Vec<(String, i64)> {
        let mut stmt = a
            .conn()
            .prepare("SELECT op, file_id FROM audit ORDER BY rowid")
            .expect("prepare audit");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query audit")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("audit rows")
    };
    let before = a.load_files().expect("load");

    let (report, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(
        (report.added, report.removed, report.modified, report.moved),
        (0, 0, 0, 0)
    );
    assert_eq!(report.unchanged, 5);
    assert_eq!(after, before);
    assert_eq!(
        audit(&a),
        Vec::<(String, i64)>::new(),
        "no file row written"
    );

    // Control: the triggers do fire when something changes.
    fx.put("HCL/ep01.mp4", b"hcl episode one, re-encoded", 3);
    let (report, _) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(report.modified, 1);
    let id = find(&before, "HCL/ep01.mp4").id;
    assert_eq!(audit(&a), vec![("update".to_string(), id)]);
}

#[test]
fn parallel_walk_equals_sequential_walk() {
    let fx = Fixture::new();
    for d in 0..40 {
        for f in 0..(d % 5 + 1) {
            let rel = format!("CAT{d:02}/season {}/ep{f}.mp4", d % 3);
            fx.put(&rel, format!("{d}-{f}").repeat(d + 1).as_bytes(), d as i64);
        }
        fx.put(&format!("CAT{d:02}/deep/a/b/c/{d}.srt"), b"sub", 1);
        fs::create_dir_all(fx.abs(&format!("CAT{d:02}/empty"))).expect("empty dir");
    }
    fx.put("root1.mp4", b"root one", 1);
    fx.put("root2.mov", b"root two", 2);

    let walk_with = |workers: usize| {
        let mut cfg = fx.cfg();
        cfg.scan_workers = workers;
        scan::scan_diff(&cfg, &[], &clock(), ScanOptions::default())
            .expect("scan_diff")
            .walk
    };
    let seq = walk_with(1);
    assert_eq!(
        seq.files.len(),
        40 + (0..40).map(|d| d % 5 + 1).sum::<usize>() + 2
    );
    assert_eq!(seq.top_level_dirs, 40);
    for workers in [2, 8, 64] {
        let par = walk_with(workers);
        assert_eq!(par.files, seq.files, "files with {workers} workers");
        assert_eq!(par.dirs_seen, seq.dirs_seen, "dirs with {workers} workers");
        assert_eq!(par.issues, seq.issues);
        assert_eq!(par.top_level_dirs, seq.top_level_dirs);
    }

    // And the stored result is the same.
    let stored_with = |workers: usize, db: &str| {
        let mut cfg = fx.cfg();
        cfg.scan_workers = workers;
        let mut a = Archive::open(&fx.base.join(db)).expect("open archive");
        let (_, files) = scan_ok(&cfg, &mut a);
        files
            .into_iter()
            .map(|f| (f.path, f.size, f.mtime, f.first_seen))
            .collect::<Vec<_>>()
    };
    assert_eq!(stored_with(1, "seq.db"), stored_with(8, "par.db"));
}

// ---------------------------------------------------------------------------------------------
// Offline guards and cancellation: archive.db is left exactly as it was
// ---------------------------------------------------------------------------------------------

/// Scan `seed_basic` once, then return the state to compare against.
fn seeded() -> (Fixture, Archive, Vec<FileRecord>, i64) {
    let fx = Fixture::new();
    seed_basic(&fx);
    let mut a = fx.archive();
    scan_ok(&fx.cfg(), &mut a);
    let files = a.load_files().expect("load");
    assert_eq!(files.len(), 5);
    let scans = scans_count(&a);
    (fx, a, files, scans)
}

fn assert_unchanged(a: &Archive, files: &[FileRecord], scans: i64) {
    assert_eq!(a.load_files().expect("load"), files, "files unchanged");
    assert_eq!(scans_count(a), scans, "no scan recorded");
    let issues: i64 = a
        .conn()
        .query_row("SELECT COUNT(*) FROM scan_issues", [], |r| r.get(0))
        .expect("count issues");
    assert_eq!(issues, 0);
}

#[test]
fn missing_root_is_refused_and_archive_unchanged() {
    let (fx, mut a, files, scans) = seeded();
    fs::remove_dir_all(&fx.root).expect("remove root");
    let e = scan_err(&fx.cfg(), &mut a, ScanOptions::default());
    assert_offline(&e);
    assert!(
        e.to_string().contains(&fx.root.display().to_string()),
        "names the root: {e}"
    );
    assert_unchanged(&a, &files, scans);
}

#[test]
fn root_that_is_a_file_is_refused_and_archive_unchanged() {
    let (fx, mut a, files, scans) = seeded();
    fs::remove_dir_all(&fx.root).expect("remove root");
    fs::write(&fx.root, b"not a directory").expect("root as a file");
    let e = scan_err(&fx.cfg(), &mut a, ScanOptions::default());
    assert_offline(&e);
    assert_unchanged(&a, &files, scans);
}

#[test]
fn missing_marker_file_is_refused_and_present_marker_scans() {
    let (fx, mut a, files, scans) = seeded();
    let mut cfg = fx.cfg();
    cfg.marker_file = Some(".nas-online".into());
    fx.put("HCL/ep02.mp4", b"a change that must not be recorded", 9);
    let e = scan_err(&cfg, &mut a, ScanOptions::default());
    assert_offline(&e);
    assert!(
        e.to_string().contains(".nas-online"),
        "names the marker: {e}"
    );
    assert_unchanged(&a, &files, scans);

    fx.put(".nas-online", b"", 0);
    let (report, _) = scan_ok(&cfg, &mut a);
    assert_eq!(report.added, 1, "with the marker present the scan runs");
}

#[test]
fn marker_that_is_a_directory_does_not_count() {
    let (fx, mut a, files, scans) = seeded();
    let mut cfg = fx.cfg();
    cfg.marker_file = Some(".nas-online".into());
    fs::create_dir_all(fx.abs(".nas-online")).expect("marker as dir");
    let e = scan_err(&cfg, &mut a, ScanOptions::default());
    assert_offline(&e);
    assert_unchanged(&a, &files, scans);
}

#[test]
fn root_with_no_files_left_is_refused_while_archive_has_files() {
    let (fx, mut a, files, scans) = seeded();
    // The mount point still has its folders (and clutter) but no file: an unmounted share.
    for f in &files {
        fs::remove_file(fx.abs(&f.path)).expect("remove file");
    }
    fx.put(".DS_Store", b"clutter is not a file of the archive", 1);
    fx.put("WSOP/Thumbs.db", b"neither is this", 1);
    let e = scan_err(&fx.cfg(), &mut a, ScanOptions::default());
    assert_offline(&e);
    assert!(
        e.to_string().contains("archive.db has 5"),
        "gives the count: {e}"
    );
    assert_unchanged(&a, &files, scans);

    // A completely empty root, too.
    fs::remove_dir_all(&fx.root).expect("clear root");
    fs::create_dir_all(&fx.root).expect("empty root");
    let e = scan_err(&fx.cfg(), &mut a, ScanOptions::default());
    assert_offline(&e);
    assert_unchanged(&a, &files, scans);
}

#[test]
fn empty_root_with_empty_archive_is_not_refused() {
    let fx = Fixture::new();
    fs::create_dir_all(fx.abs("WSOP")).expect("empty catalog");
    let mut a = fx.archive();
    let (report, files) = scan_ok(&fx.cfg(), &mut a);
    assert!(files.is_empty());
    assert_eq!(report.files_seen, 0);
    assert_eq!(scans_count(&a), 1);
}

#[test]
fn cancelled_scan_commits_nothing() {
    let (fx, mut a, files, scans) = seeded();
    fx.put("HCL/ep02.mp4", b"new", 9);
    fs::remove_file(fx.abs("loose.mxf")).expect("remove");
    let cancel = AtomicBool::new(true);
    let opts = ScanOptions {
        cancel: Some(&cancel),
        ..ScanOptions::default()
    };
    let e = scan_err(&fx.cfg(), &mut a, opts);
    assert!(matches!(e, Error::Cancelled), "got {e:?}");
    assert_eq!(e.code(), "cancelled");
    assert_unchanged(&a, &files, scans);
}

#[test]
fn cancelled_first_scan_leaves_archive_empty() {
    let fx = Fixture::new();
    seed_basic(&fx);
    let mut a = fx.archive();
    let cancel = AtomicBool::new(true);
    let opts = ScanOptions {
        cancel: Some(&cancel),
        ..ScanOptions::default()
    };
    let e = scan_err(&fx.cfg(), &mut a, opts);
    assert!(matches!(e, Error::Cancelled), "got {e:?}");
    assert_unchanged(&a, &[], 0);
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[test]
fn unusual_names_are_stored_byte_exact() {
    let fx = Fixture::new();
    let nfd_dir: String = "한국 포커".nfd().collect();
    let nfd_file: String = "결승전 영상.mp4".nfd().collect();
    assert_ne!(
        nfd_file, "결승전 영상.mp4",
        "the fixture must really be NFD"
    );
    let nfd_path = format!("{nfd_dir}/{nfd_file}");
    let nfc_path = "HCL/결승전 영상.mp4".to_string();
    let emoji = "WSOP/🃏 final 🎲 table 🏆.mp4".to_string();
    // Windows allows neither `"` nor trailing spaces (the Wine run uses what it allows).
    let (quotes, spaces) = if cfg!(windows) {
        (
            "WSOP/it's 'the' `best` hand.mp4",
            "PAD/  two  leading  .mp4",
        )
    } else {
        (
            r#"WSOP/it's "the" `best` hand.mp4"#,
            "PAD/  two  leading and trailing  .mp4  ",
        )
    };
    let (quotes, spaces) = (quotes.to_string(), spaces.to_string());
    let long_dirs: Vec<String> = (0..7)
        .map(|i| format!("{i:02}-{}", "긴폴더이름".repeat(12)))
        .collect();
    let long = format!("LONG/{}/끝.mp4", long_dirs.join("/"));
    assert!(long.len() > 1000, "long path is {} bytes", long.len());

    let all = [
        nfd_path.clone(),
        nfc_path.clone(),
        emoji.clone(),
        quotes.clone(),
        spaces.clone(),
        long.clone(),
    ];
    for (i, p) in all.iter().enumerate() {
        fx.put(p, format!("content {i}").as_bytes(), i as i64);
    }

    let mut a = fx.archive();
    let (report, files) = scan_ok(&fx.cfg(), &mut a);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let mut expected: Vec<&[u8]> = all.iter().map(|p| p.as_bytes()).collect();
    expected.sort_unstable();
    let got: Vec<&[u8]> = files.iter().map(|f| f.path.as_bytes()).collect();
    assert_eq!(got, expected, "paths are byte-equal to the names on disk");

    // NFD stays NFD (not normalised) in every stored text column, and catalog is the NFD dir.
    let (catalog, name, _, kind) = derived(&a, &nfd_path);
    assert_eq!(catalog.as_bytes(), nfd_dir.as_bytes());
    assert_eq!(name.as_bytes(), nfd_file.as_bytes());
    assert_eq!(kind, "video");
    let stored: Vec<u8> = a
        .conn()
        .query_row(
            "SELECT CAST(path AS BLOB) FROM files WHERE path = ?1",
            [&nfd_path],
            |r| r.get(0),
        )
        .expect("raw path bytes");
    assert_eq!(stored, nfd_path.as_bytes());
    // NFD and NFC spellings of the same name are two different files on disk and in archive.db.
    assert_ne!(find(&files, &nfd_path).id, find(&files, &nfc_path).id);
    assert_eq!(derived(&a, &long).0, "LONG");
    assert_eq!(derived(&a, &spaces).1, spaces.trim_start_matches("PAD/"));

    // A rescan finds every one of them unchanged (the stored paths match the disk exactly).
    let (report, _) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(report.unchanged, all.len() as u64);
    assert_eq!(report.added + report.removed + report.moved, 0);
}

// ---------------------------------------------------------------------------------------------
// Dry run
// ---------------------------------------------------------------------------------------------

#[test]
fn dry_run_scan_reports_the_diff_and_writes_nothing() {
    let (fx, mut a, files, scans) = seeded();
    fx.put("PAD/new.mp4", b"new file in a dry run", 20); // added
    fs::remove_file(fx.abs("loose.mxf")).expect("remove"); // removed
    fx.put("HCL/ep01.mp4", b"hcl episode one, changed", 3); // modified
    fx.mv("WSOP/2024/day2.MOV", "GGM/day2 moved.MOV"); // moved
    let bytes_before = db_bytes(&fx.db);

    let opts = ScanOptions {
        dry_run: true,
        ..ScanOptions::default()
    };
    let (report, preview) =
        scan::run_scan(&fx.cfg(), &mut a, &clock(), opts).expect("dry run succeeds");
    assert!(report.dry_run);
    assert_eq!(report.scan_id, None);
    assert_eq!(
        (
            report.added,
            report.removed,
            report.modified,
            report.moved,
            report.unchanged
        ),
        (1, 1, 1, 1, 2)
    );
    assert_eq!(
        paths(&preview),
        vec![
            "GGM/day2 moved.MOV",
            "HCL/ep01.mp4",
            "HCL/subs/ep01.srt",
            "PAD/new.mp4",
            "WSOP/2024/main event.mp4"
        ],
        "the preview is the Source as it would be"
    );
    assert_eq!(
        find(&preview, "GGM/day2 moved.MOV").id,
        find(&files, "WSOP/2024/day2.MOV").id
    );

    // Compared while the connection is still open: closing it would checkpoint the WAL.
    assert_eq!(db_bytes(&fx.db), bytes_before, "archive.db bytes unchanged");
    assert_unchanged(&a, &files, scans);

    // The real scan then applies exactly what the dry run reported.
    let (real, after) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(
        (
            real.added,
            real.removed,
            real.modified,
            real.moved,
            real.unchanged
        ),
        (1, 1, 1, 1, 2)
    );
    assert_eq!(paths(&after), paths(&preview));
}

// ---------------------------------------------------------------------------------------------
// Partial scans (the watcher's): only the changed directories
// ---------------------------------------------------------------------------------------------

fn partial(cfg: &Config, a: &mut Archive, dirs: &[&str]) -> ScanReport {
    let dirs: Vec<String> = dirs.iter().map(|d| d.to_string()).collect();
    match scan::run_partial_scan(cfg, a, &clock(), &dirs, ScanOptions::default()) {
        Ok(PartialScan::Done(r)) => r,
        Ok(PartialScan::NeedsFullScan(why)) => panic!("a partial scan was possible: {why}"),
        Err(e) => panic!("partial scan failed: {e}"),
    }
}

/// A tree in two catalogs, scanned once; returns the records.
fn seeded_two_catalogs(fx: &Fixture, a: &mut Archive) -> Vec<FileRecord> {
    fx.put("WSOP/2024/day1/a.mp4", b"aaaa", 1);
    fx.put("WSOP/2024/day1/b.mp4", b"bbbbb", 2);
    fx.put("WSOP/2024/day1/c.mp4", b"cccccc", 3);
    fx.put("WSOP/2024/day1/sub/deep.mp4", b"deep", 4);
    fx.put("WSOP/2023/old.mp4", b"old one", 5);
    fx.put("HCL/ep1/x.mp4", b"xxxxxxxx", 6);
    fx.put("HCL/ep1/y.mp4", b"yyyyyyyyy", 7);
    scan_ok(&fx.cfg(), a).1
}

#[test]
fn a_partial_scan_finds_every_kind_of_change_in_its_dir_and_leaves_the_rest_untouched() {
    let fx = Fixture::new();
    let mut a = fx.archive();
    let before = seeded_two_catalogs(&fx, &mut a);
    // Inside the scope: added, removed, modified, moved (within the subtree).
    fx.put("WSOP/2024/day1/new.mp4", b"brand new", 10);
    fs::remove_file(fx.abs("WSOP/2024/day1/b.mp4")).expect("rm");
    fx.put("WSOP/2024/day1/c.mp4", b"cccccc, now longer", 11);
    fx.mv("WSOP/2024/day1/a.mp4", "WSOP/2024/day1/sub/a renamed.mp4");
    // Outside it: changed on disk too, but not in the scope.
    fx.put("HCL/ep1/z.mp4", b"zzz", 12);
    fs::remove_file(fx.abs("HCL/ep1/x.mp4")).expect("rm");
    fx.put("WSOP/2023/old.mp4", b"old one, rewritten", 13);

    let r = partial(&fx.cfg(), &mut a, &["WSOP/2024/day1"]);
    assert_eq!(
        (r.added, r.removed, r.modified, r.moved, r.unchanged),
        (1, 1, 1, 1, 1),
        "only the scope's 5 files were compared: {r:?}"
    );
    assert_eq!(r.files_seen, 4, "the walk saw only the scope");
    assert_eq!(r.scope, Some(vec!["WSOP/2024/day1".to_string()]));
    assert!(r.scan_id.is_some(), "committed");

    let after = a.load_files().expect("load");
    assert_eq!(
        paths(&after),
        vec![
            "HCL/ep1/x.mp4",
            "HCL/ep1/y.mp4",
            "WSOP/2023/old.mp4",
            "WSOP/2024/day1/c.mp4",
            "WSOP/2024/day1/new.mp4",
            "WSOP/2024/day1/sub/a renamed.mp4",
            "WSOP/2024/day1/sub/deep.mp4",
        ],
        "x.mp4 is still known and z.mp4 not yet: HCL was not in the scope"
    );
    assert_eq!(
        find(&after, "WSOP/2024/day1/sub/a renamed.mp4").id,
        find(&before, "WSOP/2024/day1/a.mp4").id,
        "a move inside the scope keeps the record"
    );
    assert_eq!(find(&after, "WSOP/2024/day1/c.mp4").size, 18);
    assert_eq!(
        find(&after, "WSOP/2023/old.mp4"),
        find(&before, "WSOP/2023/old.mp4"),
        "a record outside the scope is untouched although its file changed"
    );

    // The next full scan picks up what the partial one left alone.
    let (full, files) = scan_ok(&fx.cfg(), &mut a);
    assert_eq!(
        (full.added, full.removed, full.modified, full.moved),
        (1, 1, 1, 0),
        "{full:?}"
    );
    assert!(full.scope.is_none());
    assert!(files.iter().any(|f| f.path == "HCL/ep1/z.mp4"));
    assert!(!files.iter().any(|f| f.path == "HCL/ep1/x.mp4"));
}

#[test]
fn a_move_between_two_changed_dirs_keeps_the_id_and_the_target_link() {
    let fx = Fixture::new();
    let mut a = fx.archive();
    let before = seeded_two_catalogs(&fx, &mut a);
    set_target_id(&a, "HCL/ep1/y.mp4", 77);
    fx.mv("HCL/ep1/y.mp4", "WSOP/2024/day1/y moved here.mp4");

    let r = partial(&fx.cfg(), &mut a, &["HCL/ep1", "WSOP/2024/day1"]);
    assert_eq!((r.added, r.removed, r.moved), (0, 0, 1), "{r:?}");
    let after = a.load_files().expect("load");
    let moved = find(&after, "WSOP/2024/day1/y moved here.mp4");
    assert_eq!(moved.id, find(&before, "HCL/ep1/y.mp4").id, "same record");
    assert_eq!(moved.target_id, Some(77), "same Target row");
    assert_eq!(moved.first_seen, find(&before, "HCL/ep1/y.mp4").first_seen);
}

// Unix-only: symlinks and non-UTF-8 names are made with Unix APIs.
#[cfg(unix)]
#[test]
fn a_partial_scan_of_a_dir_that_is_gone_or_a_symlink_asks_for_a_full_scan() {
    let fx = Fixture::new();
    let mut a = fx.archive();
    let before = seeded_two_catalogs(&fx, &mut a);
    let scans = scans_count(&a);
    fs::rename(fx.abs("HCL/ep1"), fx.abs("HCL/ep1 renamed")).expect("rename dir");
    symlink(fx.abs("WSOP/2023"), fx.abs("WSOP/link")).expect("symlink");
    for dir in [
        "HCL/ep1",
        "WSOP/link",
        "WSOP/link/deeper",
        "HCL/ep1/x.mp4/nope",
    ] {
        let got = scan::run_partial_scan(
            &fx.cfg(),
            &mut a,
            &clock(),
            &[dir.to_string()],
            ScanOptions::default(),
        )
        .expect("no error");
        assert!(
            matches!(got, PartialScan::NeedsFullScan(_)),
            "{dir}: {got:?}"
        );
    }
    assert_unchanged(&a, &before, scans);
}

#[test]
fn a_partial_scan_keeps_the_root_and_marker_guards() {
    let fx = Fixture::new();
    let mut a = fx.archive();
    fx.put(".online", b"", 0);
    let before = seeded_two_catalogs(&fx, &mut a);
    let scans = scans_count(&a);
    let mut cfg = fx.cfg();
    cfg.marker_file = Some(".online".into());
    fs::remove_file(fx.abs(".online")).expect("rm marker");
    fs::remove_file(fx.abs("HCL/ep1/x.mp4")).expect("rm");
    let dirs = vec!["HCL/ep1".to_string()];
    let e = scan::run_partial_scan(&cfg, &mut a, &clock(), &dirs, ScanOptions::default())
        .expect_err("the marker is missing");
    assert_offline(&e);
    let mut gone = cfg.clone();
    gone.root = Some(fx.base.join("no-such-share"));
    let e = scan::run_partial_scan(&gone, &mut a, &clock(), &dirs, ScanOptions::default())
        .expect_err("the root is missing");
    assert_offline(&e);
    assert_unchanged(&a, &before, scans);
}

#[test]
fn ignored_dirs_are_left_out_of_a_partial_scan() {
    let fx = Fixture::new();
    let mut a = fx.archive();
    seeded_two_catalogs(&fx, &mut a);
    fx.put("HCL/@eaDir/thumb.mp4", b"synology thumbnail", 20);
    fx.put("HCL/proxies/p.mp4", b"proxy", 21);
    let mut cfg = fx.cfg();
    cfg.ignore = vec!["proxies".into()];
    let r = partial(&cfg, &mut a, &["HCL/@eaDir", "HCL/proxies/deeper"]);
    assert_eq!((r.files_seen, r.added), (0, 0), "{r:?}");
    assert_eq!(r.scope, Some(Vec::new()));
    assert!(
        !a.load_files()
            .expect("load")
            .iter()
            .any(|f| f.path.contains("thumb") || f.path.contains("proxies"))
    );
}

#[test]
fn scan_scopes_collapse_to_the_outermost_dirs_and_wide_bursts_are_full() {
    use nas_sync_engine::scan::{MAX_PARTIAL_DIRS, ScanScope};
    assert_eq!(
        ScanScope::dirs([
            "WSOP/2024/day1",
            "WSOP/2024",
            "WSOP/2024 b",
            "HCL/x/",
            "WSOP/2024/z"
        ]),
        ScanScope::Dirs(vec![
            "HCL/x".into(),
            "WSOP/2024".into(),
            "WSOP/2024 b".into()
        ])
    );
    assert_eq!(
        ScanScope::dirs([""]),
        ScanScope::Full,
        "the root is a full scan"
    );
    assert_eq!(ScanScope::dirs(["A/../B"]), ScanScope::Full);
    let wide: Vec<String> = (0..=MAX_PARTIAL_DIRS).map(|i| format!("D/{i}")).collect();
    assert_eq!(ScanScope::dirs(&wide), ScanScope::Full);
    assert!(
        matches!(ScanScope::dirs(&wide[1..]), ScanScope::Dirs(d) if d.len() == MAX_PARTIAL_DIRS)
    );
    assert_eq!(
        ScanScope::dirs(["A/b"]).merge(ScanScope::dirs(["A"])),
        ScanScope::Dirs(vec!["A".into()])
    );
    assert_eq!(
        ScanScope::dirs(["A"]).merge(ScanScope::Full),
        ScanScope::Full
    );
}

// ---------------------------------------------------------------------------------------------
// The parallel walk on one giant catalog, and a share that hangs
// ---------------------------------------------------------------------------------------------

/// One top-level folder holding a deep, bushy tree (the WSOP shape: most of the archive below a
/// single catalog), plus a few loose files and an empty folder at every level.
fn giant_catalog(fx: &Fixture) -> usize {
    let mut n = 0;
    for year in 0..6 {
        for event in 0..5 {
            for day in 0..(event % 3 + 1) {
                for part in 0..((year + day) % 4 + 1) {
                    let rel = format!("WSOP/{year}/event {event}/day {day}/part {part}.mp4");
                    fx.put(
                        &rel,
                        format!("{year}{event}{day}{part}").as_bytes(),
                        n as i64,
                    );
                    n += 1;
                }
                fs::create_dir_all(fx.abs(&format!("WSOP/{year}/event {event}/day {day}/empty")))
                    .expect("empty dir");
            }
        }
        fx.put(&format!("WSOP/{year}/notes.srt"), b"notes", 3);
        n += 1;
    }
    fx.put("WSOP/deep/a/b/c/d/e/f/g/h/i/j/deepest.mp4", b"deep", 4);
    fx.put("HCL/one.mp4", b"one", 5);
    fx.put("loose.mxf", b"loose", 6);
    n + 3
}

#[test]
fn one_giant_catalog_walks_the_same_with_1_and_with_8_workers() {
    let fx = Fixture::new();
    let n = giant_catalog(&fx);
    #[cfg(unix)]
    symlink(fx.abs("HCL"), fx.abs("WSOP/0/link-to-hcl")).expect("symlink");
    let walk_with = |workers: usize| {
        let mut cfg = fx.cfg();
        cfg.scan_workers = workers;
        cfg.ignore = vec!["**/empty".into()];
        scan::scan_diff(&cfg, &[], &clock(), ScanOptions::default())
            .expect("scan_diff")
            .walk
    };
    let seq = walk_with(1);
    assert_eq!(seq.files.len(), n, "every file once");
    assert!(
        seq.files.windows(2).all(|p| p[0].path < p[1].path),
        "sorted by path"
    );
    assert!(
        !seq.files.iter().any(|f| f.path.contains("link-to-hcl")),
        "the symlink is not followed"
    );
    assert_eq!(seq.top_level_dirs, 2);
    for _ in 0..3 {
        let par = walk_with(8);
        assert_eq!(par.files, seq.files, "files with 8 workers");
        assert_eq!(par.dirs_seen, seq.dirs_seen, "dirs with 8 workers");
        assert_eq!(par.issues, seq.issues);
        assert_eq!(par.unreadable_dirs, seq.unreadable_dirs);
        assert_eq!(par.top_level_dirs, seq.top_level_dirs);
        assert_eq!(par.top_level_unreadable, seq.top_level_unreadable);
    }
}

#[test]
fn progress_snapshots_come_from_the_calling_thread_and_end_with_the_totals() {
    let fx = Fixture::new();
    let n = giant_catalog(&fx);
    let caller = std::thread::current().id();
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |p: &scan::ScanProgress| {
        assert_eq!(
            std::thread::current().id(),
            caller,
            "called on the caller's thread"
        );
        seen.lock().expect("lock").push((p.dirs, p.files));
    };
    let opts = ScanOptions {
        progress: Some(&progress),
        ..ScanOptions::default()
    };
    let walk = scan::scan_diff(&fx.cfg(), &[], &clock(), opts)
        .expect("scan_diff")
        .walk;
    let seen = seen.into_inner().expect("lock");
    let last = *seen.last().expect("at least the final snapshot");
    assert_eq!(
        last,
        (walk.dirs_seen, n as u64),
        "the last snapshot has the totals"
    );
    assert!(
        seen.windows(2)
            .all(|p| p[0].0 <= p[1].0 && p[0].1 <= p[1].1),
        "counts never go back: {seen:?}"
    );
}

#[cfg(unix)]
#[test]
fn an_unreadable_top_level_dir_counts_for_the_offline_guard_with_8_workers() {
    use std::os::unix::fs::PermissionsExt;
    if running_as_root() {
        eprintln!("skipped: root reads every directory");
        return;
    }
    let (fx, mut a, _files, _) = seeded();
    let mut cfg = fx.cfg();
    cfg.scan_workers = 8;
    let dir = fx.abs("WSOP");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o000)).expect("chmod");
    let walk = scan::scan_diff(
        &cfg,
        &a.load_files().expect("load"),
        &clock(),
        ScanOptions::default(),
    );
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod back");
    let walk = walk.expect("one readable catalog left").walk;
    assert_eq!(walk.top_level_unreadable, 1);
    assert!(walk.unreadable_dirs.contains("WSOP"));
    let _ = scan_ok(&cfg, &mut a);
}

#[cfg(unix)]
fn running_as_root() -> bool {
    // The effective uid is not in std; a file mode root ignores tells.
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join("locked");
    fs::create_dir(&p).expect("dir");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).expect("chmod");
    let readable = fs::read_dir(&p).is_ok();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod back");
    readable
}

/// A scan with a short share timeout (the setting's minimum is 5 s; the walk takes any value).
fn cfg_timeout(fx: &Fixture, secs: u64) -> Config {
    let mut cfg = fx.cfg();
    cfg.share_timeout_secs = secs;
    cfg.scan_workers = 4;
    cfg
}

#[test]
fn a_listing_that_hangs_fails_the_scan_with_share_timeout_and_writes_nothing() {
    let (fx, mut a, files, scans) = seeded();
    fx.put("WSOP/new.mp4", b"a change that must not be recorded", 9);
    let before = db_bytes(&fx.db);
    let hold = scan::fault::hold(fx.abs("WSOP"));
    let t = std::time::Instant::now();
    let e = scan_err(&cfg_timeout(&fx, 1), &mut a, ScanOptions::default());
    let took = t.elapsed();
    assert!(
        matches!(e, Error::ShareTimeout { secs: 1, .. }),
        "got {e:?}"
    );
    assert_eq!(e.code(), "share_timeout");
    assert!(e.to_string().contains("WSOP"), "names the folder: {e}");
    assert!(hold.hits() >= 1, "the listing really was blocked");
    assert!(
        took < std::time::Duration::from_secs(4),
        "gave up after {took:?}"
    );
    assert_eq!(db_bytes(&fx.db), before, "archive.db byte for byte");
    assert_unchanged(&a, &files, scans);
    drop(a);
    // The abandoned worker ends when its call returns; a later scan runs normally.
    hold.release();
    let mut a = fx.archive();
    let (report, _) = scan_ok(&cfg_timeout(&fx, 1), &mut a);
    assert_eq!(report.added, 1);
}

#[test]
fn a_root_that_hangs_fails_the_check_with_share_timeout() {
    let (fx, mut a, files, scans) = seeded();
    let hold = scan::fault::hold(fx.root.clone());
    let e = scan_err(&cfg_timeout(&fx, 1), &mut a, ScanOptions::default());
    assert!(matches!(e, Error::ShareTimeout { .. }), "got {e:?}");
    assert!(
        e.to_string().contains(&fx.root.display().to_string()),
        "names the root: {e}"
    );
    assert_eq!(
        hold.hits(),
        1,
        "the root check blocked, the walk never started"
    );
    assert_unchanged(&a, &files, scans);
}

#[test]
fn a_partial_scan_of_a_folder_that_hangs_fails_with_share_timeout() {
    let (fx, mut a, files, scans) = seeded();
    let _hold = scan::fault::hold(fx.abs("WSOP"));
    let e = scan::run_partial_scan(
        &cfg_timeout(&fx, 1),
        &mut a,
        &clock(),
        &["WSOP".to_string()],
        ScanOptions::default(),
    )
    .expect_err("must time out");
    assert!(matches!(e, Error::ShareTimeout { .. }), "got {e:?}");
    assert_unchanged(&a, &files, scans);
}

#[test]
fn cancel_during_a_hung_listing_returns_cancelled_within_two_seconds() {
    let (fx, mut a, files, scans) = seeded();
    let hold = scan::fault::hold(fx.abs("WSOP"));
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let cancelled_at = std::sync::Arc::new(std::sync::Mutex::new(None));
    let canceller = {
        let (cancel, at) = (cancel.clone(), cancelled_at.clone());
        std::thread::spawn(move || {
            while hold.hits() == 0 {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            *at.lock().expect("lock") = Some(std::time::Instant::now());
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            hold // released when the test ends
        })
    };
    let opts = ScanOptions {
        cancel: Some(&cancel),
        ..ScanOptions::default()
    };
    // The share timeout is far away: only the cancel can end this scan.
    let e = scan_err(&cfg_timeout(&fx, 600), &mut a, opts);
    let returned = std::time::Instant::now();
    assert!(matches!(e, Error::Cancelled), "got {e:?}");
    let at = cancelled_at.lock().expect("lock").expect("cancel was set");
    assert!(
        returned.duration_since(at) < std::time::Duration::from_secs(2),
        "returned {:?} after the cancel",
        returned.duration_since(at)
    );
    assert_unchanged(&a, &files, scans);
    drop(canceller.join().expect("canceller"));
}
