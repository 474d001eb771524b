//! Integration tests of the sync rules (issue 2, section "Sync", rules 1-6) and the sync guards:
//! real directory trees in temp dirs, a real archive.db and a real pokervod.db, driven through
//! `sync::run_sync`.

use std::fs;
use std::path::{Path, PathBuf};

use nas_sync_engine::sync::{self, SyncOptions};
use nas_sync_engine::target::CREATE_FILES_SQL;
use nas_sync_engine::{Config, Error, Guard};
use rusqlite::{Connection, params};
use unicode_normalization::UnicodeNormalization;

mod common;
use common::{
    Env, clock, env_with, iso_at, mv, put_at, put_sized, rm, scan_only, sync_at, sync_with,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The kit's env with two scan workers and the media probe on (as by default).
fn env() -> Env {
    env_with(|c| {
        c.scan_workers = 2;
        c.probe_media = true;
    })
}

/// Write `size` bytes at `rel` with a fresh, unique mtime.
fn put(root: &Path, rel: &str, size: usize) {
    put_sized(root, rel, size);
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: i64,
    nas_path: String,
    filename: String,
    catalog: String,
    format: String,
    size_bytes: i64,
    hls_compatible: i64,
    status: String,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
}

fn rows(target: &Path) -> Vec<Row> {
    let c = Connection::open(target).expect("open pokervod.db");
    let mut stmt = c
        .prepare(
            "SELECT id, nas_path, filename, catalog, format, size_bytes, hls_compatible, status,
                    created_at, updated_at, deleted_at FROM files ORDER BY id",
        )
        .expect("prepare rows");
    stmt.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            nas_path: r.get(1)?,
            filename: r.get(2)?,
            catalog: r.get(3)?,
            format: r.get(4)?,
            size_bytes: r.get(5)?,
            hls_compatible: r.get(6)?,
            status: r.get(7)?,
            created_at: r.get(8)?,
            updated_at: r.get(9)?,
            deleted_at: r.get(10)?,
        })
    })
    .expect("query rows")
    .collect::<rusqlite::Result<Vec<_>>>()
    .expect("read rows")
}

fn row_at<'a>(rows: &'a [Row], path: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.nas_path == path)
        .unwrap_or_else(|| panic!("no Target row at {path}; rows: {rows:#?}"))
}

fn row_id(rows: &[Row], id: i64) -> &Row {
    rows.iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no Target row with id {id}; rows: {rows:#?}"))
}

fn active(rows: &[Row]) -> usize {
    rows.iter().filter(|r| r.status == "active").count()
}

#[derive(Debug, Clone, PartialEq)]
struct Hist {
    sync_id: Option<i64>,
    event: String,
    path: String,
    old_path: Option<String>,
    catalog: String,
    time: String,
    target_id: Option<i64>,
}

fn history(archive: &Path) -> Vec<Hist> {
    let c = Connection::open(archive).expect("open archive.db");
    let mut stmt = c
        .prepare(
            "SELECT sync_id, event, path, old_path, catalog, time, target_id
             FROM file_history ORDER BY id",
        )
        .expect("prepare history");
    stmt.query_map([], |r| {
        Ok(Hist {
            sync_id: r.get(0)?,
            event: r.get(1)?,
            path: r.get(2)?,
            old_path: r.get(3)?,
            catalog: r.get(4)?,
            time: r.get(5)?,
            target_id: r.get(6)?,
        })
    })
    .expect("query history")
    .collect::<rusqlite::Result<Vec<_>>>()
    .expect("read history")
}

/// History rows of the most recent sync run.
fn last_history(archive: &Path) -> Vec<Hist> {
    let all = history(archive);
    let last = all.iter().filter_map(|h| h.sync_id).max();
    all.into_iter().filter(|h| h.sync_id == last).collect()
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = Connection::open(db).expect("open db");
    c.query_row(sql, [], |r| r.get(0)).expect("count query")
}

/// Bytes of a database file and its `-wal` (if any). An empty `-wal` holds no data (SQLite leaves
/// one behind after a read-only connection) and counts as absent.
fn db_bytes(p: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    // A scan or sync checkpoints its WAL on a thread after it returns; wait for it so the
    // bytes compared are settled.
    nas_sync_engine::target::finish_checkpoints();
    let main = fs::read(p).expect("read db file");
    let mut wal = p.as_os_str().to_owned();
    wal.push("-wal");
    let wal = fs::read(PathBuf::from(wal)).ok().filter(|w| !w.is_empty());
    (main, wal)
}

/// Panic with the first differing offsets (not the whole file) when two snapshots differ.
fn assert_same_bytes(
    what: &str,
    before: &(Vec<u8>, Option<Vec<u8>>),
    after: &(Vec<u8>, Option<Vec<u8>>),
) {
    if before == after {
        return;
    }
    let diffs: Vec<(usize, u8, u8)> = before
        .0
        .iter()
        .zip(after.0.iter())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i, *a, *b))
        .take(16)
        .collect();
    panic!(
        "{what} changed: main file {} -> {} bytes, first differing (offset, before, after): {diffs:?}; -wal before {:?} bytes, after {:?} bytes",
        before.0.len(),
        after.0.len(),
        before.1.as_ref().map(Vec::len),
        after.1.as_ref().map(Vec::len),
    );
}

/// Schema and every row of every table, as text: the logical content of a database.
fn dump(p: &Path) -> Vec<String> {
    let c = Connection::open(p).expect("open db for dump");
    let mut out = Vec::new();
    let tables: Vec<(String, Option<String>)> = {
        let mut s = c
            .prepare("SELECT name, sql FROM sqlite_master ORDER BY type, name")
            .expect("prepare master");
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query master")
            .collect::<rusqlite::Result<_>>()
            .expect("read master")
    };
    for (name, sql) in &tables {
        out.push(format!("schema {name}: {sql:?}"));
    }
    let names: Vec<String> = {
        let mut s = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .expect("prepare tables");
        s.query_map([], |r| r.get(0))
            .expect("query tables")
            .collect::<rusqlite::Result<_>>()
            .expect("read tables")
    };
    for t in names {
        let mut s = c
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
            .expect("prepare table dump");
        let n = s.column_count();
        let rows = s
            .query_map([], |r| {
                let mut cells = Vec::with_capacity(n);
                for i in 0..n {
                    cells.push(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?));
                }
                Ok(cells.join("|"))
            })
            .expect("query table dump")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("read table dump");
        for row in rows {
            out.push(format!("{t}: {row}"));
        }
    }
    out
}

/// A Target created "by the old system": our CREATE_FILES_SQL, rows inserted by plain SQL.
fn old_system_target(target: &Path, rows: &[(i64, &str, i64)]) {
    let c = Connection::open(target).expect("create pokervod.db");
    c.execute_batch(CREATE_FILES_SQL).expect("create files");
    for (id, path, size) in rows {
        let name = path.rsplit('/').next().expect("name");
        let catalog = path.split('/').next().expect("catalog");
        let ext = name.rsplit('.').next().expect("ext").to_lowercase();
        c.execute(
            "INSERT INTO files (id, nas_path, filename, catalog, format, size_bytes, hls_compatible,
             status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 'active',
             '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')",
            params![id, path, name, catalog, ext, size],
        )
        .expect("insert old row");
    }
}

fn is_iso_utc(s: &str) -> bool {
    s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Rule 1 and 4: eligibility and column values
// ---------------------------------------------------------------------------------------------

#[test]
fn new_hls_files_are_inserted_with_exact_column_values() {
    let e = env();
    put(&e.root, "WSOP/2024/Main Event Day1.MP4", 1234);
    put(&e.root, "HCL/ep 01.mov", 222);
    put(&e.root, "PAD/clip.ts", 33);
    put(&e.root, "loose.mp4", 44);
    let r = sync_at(&e, 10);
    assert_eq!(r.added, 4, "{r:?}");
    assert_eq!(r.deleted + r.moved + r.updated + r.restored, 0);

    let rows = rows(&e.target);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let expected = [
        (
            "WSOP/2024/Main Event Day1.MP4",
            "Main Event Day1.MP4",
            "WSOP",
            "mp4",
            1234,
        ),
        ("HCL/ep 01.mov", "ep 01.mov", "HCL", "mov", 222),
        ("PAD/clip.ts", "clip.ts", "PAD", "ts", 33),
        ("loose.mp4", "loose.mp4", "ARCHIVE", "mp4", 44),
    ];
    for (path, filename, catalog, format, size) in expected {
        let row = row_at(&rows, path);
        assert_eq!(row.filename, filename, "{row:?}");
        assert_eq!(row.catalog, catalog, "{row:?}");
        assert_eq!(row.format, format, "{row:?}");
        assert_eq!(row.size_bytes, size, "{row:?}");
        assert_eq!(row.hls_compatible, 1, "{row:?}");
        assert_eq!(row.status, "active", "{row:?}");
        assert_eq!(row.created_at, iso_at(10), "{row:?}");
        assert_eq!(row.updated_at, iso_at(10), "{row:?}");
        assert!(is_iso_utc(&row.created_at), "{row:?}");
        assert!(is_iso_utc(&row.updated_at), "{row:?}");
        assert_eq!(row.deleted_at, None, "{row:?}");
    }
}

#[test]
fn non_hls_video_subtitles_and_other_files_are_never_inserted() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/raw.mxf", 11);
    put(&e.root, "WSOP/raw.MKV", 12);
    put(&e.root, "WSOP/a.srt", 13);
    put(&e.root, "WSOP/a.smi", 14);
    put(&e.root, "WSOP/poster.jpg", 15);
    put(&e.root, "WSOP/README", 16);
    put(&e.root, "notes.txt", 17);
    let r = sync_at(&e, 10);
    assert_eq!(r.added, 1, "{r:?}");
    let rows = rows(&e.target);
    let paths: Vec<&str> = rows.iter().map(|r| r.nas_path.as_str()).collect();
    assert_eq!(paths, vec!["WSOP/a.mp4"]);

    // A re-sync still inserts none of them.
    let r = sync_at(&e, 11);
    assert_eq!(r.added, 0, "{r:?}");
    assert_eq!(count(&e.target, "SELECT COUNT(*) FROM files"), 1);
}

#[test]
fn hls_filter_off_inserts_mkv_with_hls_compatible_zero() {
    let mut e = env();
    e.cfg.hls_only = false;
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mkv", 11);
    put(&e.root, "WSOP/b.srt", 12);
    let r = sync_at(&e, 10);
    assert_eq!(r.added, 2, "{r:?}");
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let mkv = row_at(&rows, "WSOP/b.mkv");
    assert_eq!(mkv.hls_compatible, 0);
    assert_eq!(mkv.format, "mkv");
    assert_eq!(mkv.status, "active");
    assert_eq!(row_at(&rows, "WSOP/a.mp4").hls_compatible, 1);
}

// ---------------------------------------------------------------------------------------------
// Rule 2: duplicates and the primary
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_names_after_nfc_and_lowercase_get_one_row_smallest_path_on_tie() {
    let e = env();
    let nfc = "한글 영상.mp4".to_string();
    let nfd: String = nfc.nfd().collect();
    assert_ne!(nfc, nfd, "fixture must really be NFD");
    // Same folder, same scan: the smaller path (byte order) is the primary. NFD Hangul starts
    // with U+1100.. (E1 ..), NFC with U+D55C (ED ..), so the NFD name is smaller.
    assert!(nfd.as_bytes() < nfc.as_bytes());
    put(&e.root, &format!("KR/{nfc}"), 10);
    put(&e.root, &format!("KR/{nfd}"), 11);
    // Case pair: 'E' (0x45) < 'e' (0x65). Windows folders cannot hold both spellings (one
    // file), so there the lowercase one lives in a subfolder (still the larger path).
    put(
        &e.root,
        if cfg!(windows) {
            "SHOW/x/ep01.MP4"
        } else {
            "SHOW/ep01.MP4"
        },
        12,
    );
    put(&e.root, "SHOW/Ep01.mp4", 13);
    let r = sync_at(&e, 10);
    assert_eq!(r.added, 2, "{r:?}");
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let kr = row_at(&rows, &format!("KR/{nfd}"));
    assert_eq!(kr.filename, nfd, "filename is the on-disk (NFD) name");
    assert_eq!(kr.size_bytes, 11);
    let show = row_at(&rows, "SHOW/Ep01.mp4");
    assert_eq!(show.size_bytes, 13);

    // Stable: the next sync keeps exactly these rows.
    let r = sync_at(&e, 11);
    assert_eq!(
        (r.added, r.deleted, r.moved, r.skipped),
        (0, 0, 0, 2),
        "{r:?}"
    );
}

#[test]
fn earliest_first_seen_wins_over_smaller_path() {
    let e = env();
    put(&e.root, "Z/show.mp4", 10);
    // Scan only: Z/show.mp4 gets first_seen = scan 1, but no Target row yet.
    scan_only(&e, 9);
    put(&e.root, "A/SHOW.mp4", 11);
    let r = sync_at(&e, 10);
    assert_eq!(r.added, 1, "{r:?}");
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].nas_path, "Z/show.mp4");
}

#[test]
fn synced_primary_stays_primary_when_a_smaller_path_appears() {
    let e = env();
    put(&e.root, "Z/show.mp4", 10);
    sync_at(&e, 10);
    let id = rows(&e.target)[0].id;
    put(&e.root, "A/show.mp4", 11);
    let r = sync_at(&e, 11);
    assert_eq!(
        (r.added, r.deleted, r.moved, r.updated),
        (0, 0, 0, 0),
        "{r:?}"
    );
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].id, id);
    assert_eq!(rows[0].nas_path, "Z/show.mp4");
    assert_eq!(rows[0].status, "active");
}

#[test]
fn primary_stays_primary_when_it_moves() {
    let e = env();
    put(&e.root, "A/show.mp4", 10);
    put(&e.root, "B/show.mp4", 11);
    sync_at(&e, 10);
    let before = rows(&e.target);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].nas_path, "A/show.mp4");
    let id = before[0].id;

    // The primary moves to a path larger than the duplicate's: it must stay primary.
    mv(&e.root, "A/show.mp4", "Z/show.mp4");
    let r = sync_at(&e, 11);
    assert_eq!((r.moved, r.added, r.deleted), (1, 0, 0), "{r:?}");
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].id, id);
    assert_eq!(rows[0].nas_path, "Z/show.mp4");
    assert_eq!(rows[0].catalog, "Z");
    assert_eq!(rows[0].size_bytes, 10);
    assert_eq!(rows[0].status, "active");
}

#[test]
fn first_sync_into_existing_target_adopts_the_old_systems_member() {
    let e = env();
    put(&e.root, "A/final.mp4", 10);
    put(&e.root, "M/final.mp4", 11);
    put(&e.root, "Z/FINAL.mp4", 12);
    put(&e.root, "Z/other.mp4", 13);
    // The old system synced Z/FINAL.mp4 (not the smallest path) as row 42.
    old_system_target(
        &e.target,
        &[(42, "Z/FINAL.mp4", 12), (7, "Z/other.mp4", 13)],
    );
    let r = sync_at(&e, 10);
    assert_eq!(
        (r.added, r.deleted, r.moved, r.updated),
        (0, 0, 0, 0),
        "{r:?}"
    );
    assert_eq!(r.skipped, 2, "{r:?}");
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let adopted = row_id(&rows, 42);
    assert_eq!(adopted.nas_path, "Z/FINAL.mp4");
    assert_eq!(adopted.status, "active");
    assert_eq!(
        adopted.updated_at, "2020-01-01T00:00:00Z",
        "a skip writes nothing"
    );

    // archive.db now links Z/FINAL.mp4 to row 42.
    let linked: Option<i64> = Connection::open(&e.archive)
        .expect("open archive")
        .query_row(
            "SELECT l.target_id FROM files f LEFT JOIN links l ON l.file_id = f.id
             WHERE f.path = 'Z/FINAL.mp4'",
            [],
            |r| r.get(0),
        )
        .expect("linked");
    assert_eq!(linked, Some(42));
}

#[test]
fn adopted_old_system_row_with_stale_size_is_updated_keeping_its_id() {
    let e = env();
    put(&e.root, "A/final.mp4", 10);
    put(&e.root, "Z/final.mp4", 12);
    old_system_target(&e.target, &[(42, "Z/final.mp4", 999)]);
    let r = sync_at(&e, 10);
    assert_eq!((r.added, r.updated, r.deleted), (0, 1, 0), "{r:?}");
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].id, 42);
    assert_eq!(rows[0].nas_path, "Z/final.mp4");
    assert_eq!(rows[0].size_bytes, 12);
}

// ---------------------------------------------------------------------------------------------
// Rule 3: moves, restores, primary loss, updates
// ---------------------------------------------------------------------------------------------

#[test]
fn moved_file_keeps_target_id_and_history_has_old_path() {
    let e = env();
    put(&e.root, "WSOP/2023/day1.mp4", 10);
    put(&e.root, "WSOP/2023/day2.mp4", 20);
    put(&e.root, "HCL/s1/ep1.mov", 30);
    sync_at(&e, 10);
    let before = rows(&e.target);
    let id_day1 = row_at(&before, "WSOP/2023/day1.mp4").id;
    let id_day2 = row_at(&before, "WSOP/2023/day2.mp4").id;
    let id_ep1 = row_at(&before, "HCL/s1/ep1.mov").id;

    // Renamed in place; moved to another catalog and renamed; moved to another folder.
    mv(&e.root, "WSOP/2023/day1.mp4", "WSOP/2023/Day 1 (final).mp4");
    mv(&e.root, "WSOP/2023/day2.mp4", "PAD/archive/day-two.mp4");
    mv(&e.root, "HCL/s1/ep1.mov", "HCL/s2/ep1.mov");
    let r = sync_at(&e, 11);
    assert_eq!((r.moved, r.added, r.deleted), (3, 0, 0), "{r:?}");

    let after = rows(&e.target);
    assert_eq!(after.len(), 3, "{after:#?}");
    let d1 = row_id(&after, id_day1);
    assert_eq!(d1.nas_path, "WSOP/2023/Day 1 (final).mp4");
    assert_eq!(d1.filename, "Day 1 (final).mp4");
    assert_eq!(d1.updated_at, iso_at(11));
    assert_eq!(d1.created_at, iso_at(10));
    let d2 = row_id(&after, id_day2);
    assert_eq!(d2.nas_path, "PAD/archive/day-two.mp4");
    assert_eq!(d2.filename, "day-two.mp4");
    assert_eq!(d2.catalog, "PAD");
    assert_eq!(row_id(&after, id_ep1).nas_path, "HCL/s2/ep1.mov");
    assert!(after.iter().all(|r| r.status == "active"));

    let h = last_history(&e.archive);
    assert_eq!(h.len(), 3, "{h:#?}");
    let find = |id: i64| {
        h.iter()
            .find(|x| x.target_id == Some(id))
            .unwrap_or_else(|| panic!("no history for row {id}: {h:#?}"))
    };
    let h2 = find(id_day2);
    assert_eq!(h2.event, "moved");
    assert_eq!(h2.path, "PAD/archive/day-two.mp4");
    assert_eq!(h2.old_path.as_deref(), Some("WSOP/2023/day2.mp4"));
    assert_eq!(h2.catalog, "PAD");
    assert_eq!(h2.time, iso_at(11));
    let h1 = find(id_day1);
    assert_eq!(h1.event, "moved");
    assert_eq!(h1.old_path.as_deref(), Some("WSOP/2023/day1.mp4"));
    assert_eq!(find(id_ep1).old_path.as_deref(), Some("HCL/s1/ep1.mov"));
}

#[test]
fn deleted_file_is_soft_deleted_and_restored_with_the_same_id() {
    let e = env();
    put(&e.root, "WSOP/keep.mp4", 10);
    put_at(&e.root, "WSOP/gone.mp4", 20, 1_500_000_000);
    sync_at(&e, 10);
    let id = row_at(&rows(&e.target), "WSOP/gone.mp4").id;

    rm(&e.root, "WSOP/gone.mp4");
    let r = sync_at(&e, 11);
    assert_eq!((r.deleted, r.added, r.moved), (1, 0, 0), "{r:?}");
    let after = rows(&e.target);
    assert_eq!(after.len(), 2, "the row is still present: {after:#?}");
    let gone = row_id(&after, id);
    assert_eq!(gone.status, "deleted");
    assert_eq!(gone.deleted_at.as_deref(), Some(iso_at(11).as_str()));
    assert_eq!(gone.updated_at, iso_at(11));
    let h = last_history(&e.archive);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0].event, "deleted");
    assert_eq!(h[0].path, "WSOP/gone.mp4");
    assert_eq!(h[0].catalog, "WSOP");
    assert_eq!(h[0].target_id, Some(id));

    // It comes back (same content): same id, active again, deleted_at cleared.
    put_at(&e.root, "WSOP/gone.mp4", 20, 1_500_000_000);
    let r = sync_at(&e, 12);
    assert_eq!((r.restored, r.added, r.deleted), (1, 0, 0), "{r:?}");
    let back = rows(&e.target);
    assert_eq!(back.len(), 2, "{back:#?}");
    let row = row_id(&back, id);
    assert_eq!(row.nas_path, "WSOP/gone.mp4");
    assert_eq!(row.status, "active");
    assert_eq!(row.deleted_at, None);
    assert_eq!(row.updated_at, iso_at(12));
    let h = last_history(&e.archive);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0].event, "restored");
    assert_eq!(h[0].target_id, Some(id));
}

#[test]
fn restore_with_a_size_change_is_one_restored_event() {
    let e = env();
    put(&e.root, "WSOP/ep.mp4", 20);
    put(&e.root, "WSOP/other.mp4", 30);
    sync_at(&e, 10);
    let id = row_at(&rows(&e.target), "WSOP/ep.mp4").id;
    rm(&e.root, "WSOP/ep.mp4");
    let r = sync_at(&e, 11);
    assert_eq!(r.deleted, 1, "{r:?}");

    put(&e.root, "WSOP/ep.mp4", 77);
    let r = sync_at(&e, 12);
    assert_eq!((r.restored, r.updated, r.added), (1, 0, 0), "{r:?}");
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let row = row_id(&rows, id);
    assert_eq!(row.nas_path, "WSOP/ep.mp4");
    assert_eq!(row.size_bytes, 77);
    assert_eq!(row.status, "active");
    assert_eq!(row.deleted_at, None);
    let h = last_history(&e.archive);
    assert_eq!(h.len(), 1, "one event per row: {h:#?}");
    assert_eq!(h[0].event, "restored");
}

#[test]
fn primary_loss_repoints_the_row_to_the_remaining_member() {
    let e = env();
    put(&e.root, "A/show.mp4", 10);
    put(&e.root, "B/Show.MP4", 11);
    sync_at(&e, 10);
    let before = rows(&e.target);
    assert_eq!(before.len(), 1, "{before:#?}");
    assert_eq!(before[0].nas_path, "A/show.mp4");
    let id = before[0].id;

    rm(&e.root, "A/show.mp4");
    let r = sync_at(&e, 11);
    assert_eq!((r.moved, r.added, r.deleted), (1, 0, 0), "{r:?}");
    let after = rows(&e.target);
    assert_eq!(after.len(), 1, "no delete + insert: {after:#?}");
    let row = &after[0];
    assert_eq!(row.id, id);
    assert_eq!(row.nas_path, "B/Show.MP4");
    assert_eq!(row.filename, "Show.MP4");
    assert_eq!(row.catalog, "B");
    assert_eq!(row.size_bytes, 11);
    assert_eq!(row.status, "active");
    let h = last_history(&e.archive);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0].event, "moved");
    assert_eq!(h[0].path, "B/Show.MP4");
    assert_eq!(h[0].old_path.as_deref(), Some("A/show.mp4"));
    assert_eq!(h[0].target_id, Some(id));
}

#[test]
fn size_change_is_updated_and_a_no_change_resync_writes_nothing() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mp4", 20);
    put(&e.root, "HCL/c.mov", 30);
    sync_at(&e, 10);
    let id = row_at(&rows(&e.target), "WSOP/a.mp4").id;

    put(&e.root, "WSOP/a.mp4", 15);
    let r = sync_at(&e, 11);
    assert_eq!(
        (r.updated, r.added, r.moved, r.deleted),
        (1, 0, 0, 0),
        "{r:?}"
    );
    assert_eq!(r.skipped, 2, "{r:?}");
    let after = rows(&e.target);
    let a = row_id(&after, id);
    assert_eq!(a.nas_path, "WSOP/a.mp4");
    assert_eq!(a.size_bytes, 15);
    assert_eq!(a.updated_at, iso_at(11));
    assert_eq!(a.created_at, iso_at(10));
    assert_eq!(row_at(&after, "WSOP/b.mp4").updated_at, iso_at(10));
    let h = last_history(&e.archive);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0].event, "updated");
    assert_eq!(h[0].old_path, None);

    // Nothing changed on the share: no Target row changes, every row is skipped.
    let history_before = history(&e.archive).len();
    let r = sync_at(&e, 12);
    assert_eq!(
        (r.added, r.updated, r.moved, r.restored, r.deleted),
        (0, 0, 0, 0, 0),
        "{r:?}"
    );
    assert_eq!(r.skipped, 3, "skipped = rows: {r:?}");
    assert_eq!(rows(&e.target), after, "no Target row changed");
    assert_eq!(history(&e.archive).len(), history_before);
}

#[test]
fn file_renamed_to_mxf_has_its_row_soft_deleted() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mp4", 20);
    sync_at(&e, 10);
    let id = row_at(&rows(&e.target), "WSOP/a.mp4").id;

    mv(&e.root, "WSOP/a.mp4", "WSOP/a.mxf");
    let r = sync_at(&e, 11);
    assert_eq!((r.deleted, r.added, r.moved), (1, 0, 0), "{r:?}");
    let after = rows(&e.target);
    assert_eq!(after.len(), 2, "{after:#?}");
    let row = row_id(&after, id);
    assert_eq!(row.status, "deleted");
    assert_eq!(row.nas_path, "WSOP/a.mp4");
    assert!(row.deleted_at.is_some());
    assert_eq!(row_at(&after, "WSOP/b.mp4").status, "active");
}

#[test]
fn member_that_stops_being_primary_has_its_row_deleted() {
    let e = env();
    put(&e.root, "A/x.mp4", 10);
    put(&e.root, "B/y.mp4", 20);
    sync_at(&e, 10);
    let before = rows(&e.target);
    let id_x = row_at(&before, "A/x.mp4").id;
    let id_y = row_at(&before, "B/y.mp4").id;

    // B/y.mp4 is renamed into x's group; A/x.mp4 (same first_seen, smaller path) stays primary.
    mv(&e.root, "B/y.mp4", "B/x.mp4");
    let r = sync_at(&e, 11);
    assert_eq!((r.deleted, r.added, r.moved), (1, 0, 0), "{r:?}");
    let after = rows(&e.target);
    assert_eq!(after.len(), 2, "{after:#?}");
    assert_eq!(row_id(&after, id_x).status, "active");
    assert_eq!(row_id(&after, id_x).nas_path, "A/x.mp4");
    assert_eq!(row_id(&after, id_y).status, "deleted");

    // Old system: two rows for one name group. The adopted primary keeps its row; the other is
    // deleted (not physically).
    let e = env();
    put(&e.root, "A/dup.mp4", 10);
    put(&e.root, "B/dup.mp4", 11);
    old_system_target(&e.target, &[(5, "B/dup.mp4", 11), (9, "A/dup.mp4", 10)]);
    let r = sync_at(&e, 10);
    assert_eq!((r.deleted, r.added), (1, 0), "{r:?}");
    let rows = rows(&e.target);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(row_id(&rows, 9).status, "active");
    assert_eq!(row_id(&rows, 5).status, "deleted");
}

// ---------------------------------------------------------------------------------------------
// Rule 6: history and run totals
// ---------------------------------------------------------------------------------------------

#[test]
fn history_has_one_row_per_change_and_sync_runs_record_totals() {
    let e = env();
    put(&e.root, "WSOP/upd.mp4", 10);
    put(&e.root, "WSOP/mv.mp4", 20);
    put(&e.root, "WSOP/del.mp4", 30);
    put(&e.root, "WSOP/same.mp4", 40);
    put_at(&e.root, "WSOP/back.mp4", 50, 1_500_000_000);
    let r = sync_at(&e, 10);
    assert_eq!(r.added, 5);
    rm(&e.root, "WSOP/back.mp4");
    sync_with(
        &e.cfg,
        11,
        SyncOptions {
            force: nas_sync_engine::sync::Force::Always,
            ..SyncOptions::default()
        },
    );

    put(&e.root, "WSOP/upd.mp4", 11);
    mv(&e.root, "WSOP/mv.mp4", "HCL/moved.mp4");
    rm(&e.root, "WSOP/del.mp4");
    put_at(&e.root, "WSOP/back.mp4", 50, 1_500_000_000);
    put(&e.root, "PAD/new.mp4", 60);
    let r = sync_with(
        &e.cfg,
        12,
        SyncOptions {
            force: nas_sync_engine::sync::Force::Always,
            ..SyncOptions::default()
        },
    );
    assert_eq!(
        (
            r.added, r.updated, r.moved, r.restored, r.deleted, r.skipped
        ),
        (1, 1, 1, 1, 1, 1),
        "{r:?}"
    );
    let h = last_history(&e.archive);
    assert_eq!(h.len(), 5, "{h:#?}");
    let ev = |event: &str| {
        h.iter()
            .find(|x| x.event == event)
            .unwrap_or_else(|| panic!("no {event} in {h:#?}"))
    };
    assert_eq!(ev("added").path, "PAD/new.mp4");
    assert_eq!(ev("added").catalog, "PAD");
    assert_eq!(ev("added").old_path, None);
    assert!(ev("added").target_id.is_some());
    assert_eq!(ev("updated").path, "WSOP/upd.mp4");
    assert_eq!(ev("moved").path, "HCL/moved.mp4");
    assert_eq!(ev("moved").old_path.as_deref(), Some("WSOP/mv.mp4"));
    assert_eq!(ev("moved").catalog, "HCL");
    assert_eq!(ev("restored").path, "WSOP/back.mp4");
    assert_eq!(ev("deleted").path, "WSOP/del.mp4");
    assert_eq!(ev("deleted").catalog, "WSOP");
    assert!(h.iter().all(|x| x.time == iso_at(12)), "{h:#?}");

    // Every history target_id names the row it changed.
    let rows = rows(&e.target);
    for x in &h {
        let id = x.target_id.expect("history names its row");
        let row = row_id(&rows, id);
        let expect_path = x.path.as_str();
        assert_eq!(row.nas_path, expect_path, "{x:?}");
    }

    let c = Connection::open(&e.archive).expect("open archive");
    let runs: i64 = c
        .query_row("SELECT COUNT(*) FROM sync_runs", [], |r| r.get(0))
        .expect("runs");
    assert_eq!(runs, 3);
    let totals: (i64, i64, i64, i64, i64, i64, i64, String, String, i64) = c
        .query_row(
            "SELECT added, updated, moved, restored, deleted, skipped, errors, status, finished_at,
                    duration_ms FROM sync_runs ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            },
        )
        .expect("last run");
    assert_eq!(
        (
            totals.0, totals.1, totals.2, totals.3, totals.4, totals.5, totals.6
        ),
        (1, 1, 1, 1, 1, 1, 0)
    );
    assert_eq!(totals.7, "ok");
    assert_eq!(totals.8, iso_at(12));
    assert!(totals.9 >= 0);
    // One history row per applied change over all runs: 5 adds + 1 delete + 5.
    assert_eq!(history(&e.archive).len(), 11);
}

// ---------------------------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------------------------

/// 100 synced files over a few catalogs.
fn hundred_synced(tweak: impl FnOnce(&mut Config)) -> Env {
    let mut e = env();
    tweak(&mut e.cfg);
    for i in 0..100 {
        let cat = ["WSOP", "HCL", "PAD", "GGM"][i % 4];
        put(&e.root, &format!("{cat}/f{i:03}.mp4"), 10 + i);
    }
    let r = sync_at(&e, 10);
    assert_eq!(r.added, 100);
    e
}

fn delete_first(e: &Env, n: usize) {
    for i in 0..n {
        let cat = ["WSOP", "HCL", "PAD", "GGM"][i % 4];
        rm(&e.root, &format!("{cat}/f{i:03}.mp4"));
    }
}

#[test]
fn mass_delete_is_refused_with_numbers_and_target_untouched_then_force_applies() {
    let e = hundred_synced(|_| {});
    delete_first(&e, 30);
    let rows_before = rows(&e.target);
    let bytes_before = db_bytes(&e.target);

    let r = sync_with(&e.cfg, 11, SyncOptions::default());
    let refusal = r.refused.clone().expect("mass delete must be refused");
    assert_eq!(refusal.guard, Guard::MassDelete);
    assert!(refusal.message.contains("30"), "{}", refusal.message);
    assert!(refusal.message.contains("100"), "{}", refusal.message);
    assert_same_bytes("pokervod.db", &bytes_before, &db_bytes(&e.target));
    assert_eq!(rows(&e.target), rows_before);
    assert_eq!(
        count(
            &e.archive,
            "SELECT COUNT(*) FROM file_history WHERE event = 'deleted'"
        ),
        0
    );

    // Asking again without --force is refused again (the kept scan does not sneak it through).
    let r = sync_with(&e.cfg, 12, SyncOptions::default());
    assert!(r.refused.is_some(), "{r:?}");
    assert_eq!(rows(&e.target), rows_before);

    let r = sync_with(
        &e.cfg,
        13,
        SyncOptions {
            force: nas_sync_engine::sync::Force::Always,
            ..SyncOptions::default()
        },
    );
    assert!(r.refused.is_none(), "{r:?}");
    assert_eq!(r.deleted, 30, "{r:?}");
    let after = rows(&e.target);
    assert_eq!(after.len(), 100);
    assert_eq!(active(&after), 70);
    assert_eq!(
        after
            .iter()
            .filter(|r| r.deleted_at.as_deref() == Some(iso_at(13).as_str()))
            .count(),
        30
    );
    let forced: i64 = count(
        &e.archive,
        "SELECT forced FROM sync_runs ORDER BY id DESC LIMIT 1",
    );
    assert_eq!(forced, 1);
}

#[test]
fn mass_delete_thresholds_are_configurable_and_both_must_be_exceeded() {
    // 30% > 10% but 30 is not > 50: applied.
    let e = hundred_synced(|c| c.max_delete_count = 50);
    delete_first(&e, 30);
    let r = sync_with(&e.cfg, 11, SyncOptions::default());
    assert!(r.refused.is_none(), "{r:?}");
    assert_eq!(active(&rows(&e.target)), 70);

    // 30 > 20 but 30% is not > 50%: applied.
    let e = hundred_synced(|c| c.max_delete_percent = 50.0);
    delete_first(&e, 30);
    let r = sync_with(&e.cfg, 11, SyncOptions::default());
    assert!(r.refused.is_none(), "{r:?}");
    assert_eq!(active(&rows(&e.target)), 70);

    // Exactly at the defaults (20 rows = 20%... count not exceeded): applied.
    let e = hundred_synced(|_| {});
    delete_first(&e, 20);
    let r = sync_with(&e.cfg, 11, SyncOptions::default());
    assert!(r.refused.is_none(), "{r:?}");
    assert_eq!(active(&rows(&e.target)), 80);

    // Lower limits: 8 of 100 (8% > 5%, 8 > 5) is refused, though the defaults would allow it.
    let e = hundred_synced(|c| {
        c.max_delete_percent = 5.0;
        c.max_delete_count = 5;
    });
    delete_first(&e, 8);
    let before = rows(&e.target);
    let r = sync_with(&e.cfg, 11, SyncOptions::default());
    let refusal = r.refused.expect("refused with lower limits");
    assert_eq!(refusal.guard, Guard::MassDelete);
    assert!(
        refusal.message.contains('8') && refusal.message.contains("100"),
        "{}",
        refusal.message
    );
    assert_eq!(rows(&e.target), before);
}

#[test]
fn dry_run_writes_to_neither_database() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mp4", 20);
    put(&e.root, "WSOP/c.mp4", 30);
    sync_at(&e, 10);

    put(&e.root, "WSOP/a.mp4", 11);
    mv(&e.root, "WSOP/b.mp4", "HCL/b.mp4");
    rm(&e.root, "WSOP/c.mp4");
    put(&e.root, "PAD/new.mp4", 40);
    let archive_before = db_bytes(&e.archive);
    let target_before = db_bytes(&e.target);
    let rows_before = rows(&e.target);

    let r = sync_with(
        &e.cfg,
        11,
        SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    );
    assert!(r.dry_run);
    assert!(r.refused.is_none(), "{r:?}");
    assert_eq!(
        (r.added, r.updated, r.moved, r.deleted),
        (1, 1, 1, 1),
        "dry run reports what would change: {r:?}"
    );
    assert_same_bytes("archive.db", &archive_before, &db_bytes(&e.archive));
    assert_same_bytes("pokervod.db", &target_before, &db_bytes(&e.target));
    assert_eq!(rows(&e.target), rows_before);

    // The real sync then does exactly what the dry run said.
    let real = sync_at(&e, 12);
    assert_eq!(
        (real.added, real.updated, real.moved, real.deleted),
        (1, 1, 1, 1),
        "{real:?}"
    );
}

#[test]
fn dry_run_creates_no_database_files() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.srt", 20);
    let r = sync_with(
        &e.cfg,
        10,
        SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    );
    assert!(r.dry_run);
    assert_eq!(r.added, 1, "{r:?}");
    assert!(!e.archive.exists(), "archive.db must not be created");
    assert!(!e.target.exists(), "pokervod.db must not be created");
    let dbs = e.target.parent().expect("db dir");
    let left: Vec<_> = fs::read_dir(dbs).expect("list db dir").collect();
    assert!(
        left.is_empty(),
        "nothing written in the db folder: {left:?}"
    );
}

#[test]
fn target_missing_columns_is_a_schema_error_and_changes_nothing() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    {
        let c = Connection::open(&e.target).expect("create pokervod.db");
        c.execute_batch(
            "CREATE TABLE files (
                id INTEGER PRIMARY KEY, nas_path TEXT NOT NULL UNIQUE, filename TEXT NOT NULL,
                catalog TEXT NOT NULL, format TEXT NOT NULL, size_bytes INTEGER NOT NULL,
                status TEXT NOT NULL DEFAULT 'active', codec TEXT, width INTEGER, height INTEGER,
                duration_sec REAL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
             INSERT INTO files (nas_path, filename, catalog, format, size_bytes, created_at, updated_at)
             VALUES ('OLD/x.mp4', 'x.mp4', 'OLD', 'mp4', 1, 't', 't');",
        )
        .expect("legacy schema");
    }
    let dump_before = dump(&e.target);

    let err = sync::run_sync(&e.cfg, &clock(10), SyncOptions::default())
        .expect_err("a missing column must stop the sync");
    match &err {
        Error::TargetSchema { missing } => {
            assert_eq!(missing, &vec!["hls_compatible", "deleted_at"], "{err}");
        }
        other => panic!("expected TargetSchema, got {other:?}"),
    }
    assert_eq!(err.code(), "target_schema");
    let msg = err.to_string();
    assert!(
        msg.contains("hls_compatible") && msg.contains("deleted_at"),
        "{msg}"
    );
    assert_eq!(
        dump(&e.target),
        dump_before,
        "pokervod.db content unchanged"
    );
}

#[test]
fn target_with_missing_columns_is_left_byte_identical() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    {
        // The owner's database, in its own (rollback journal) mode.
        let c = Connection::open(&e.target).expect("create pokervod.db");
        c.execute_batch(
            "CREATE TABLE files (id INTEGER PRIMARY KEY, nas_path TEXT NOT NULL UNIQUE);
             INSERT INTO files (nas_path) VALUES ('OLD/x.mp4');",
        )
        .expect("legacy schema");
    }
    let bytes_before = db_bytes(&e.target);
    let err = sync::run_sync(&e.cfg, &clock(10), SyncOptions::default())
        .expect_err("a missing column must stop the sync");
    assert!(
        matches!(err, Error::TargetSchema { .. }),
        "expected TargetSchema, got {err:?}"
    );
    // "nothing was changed": not even the file header (journal mode, change counter).
    assert_same_bytes("pokervod.db", &bytes_before, &db_bytes(&e.target));
}

#[test]
fn busy_target_is_an_error_and_unchanged_then_sync_succeeds_after_release() {
    let mut e = env();
    e.cfg.busy_timeout_secs = 1;
    put(&e.root, "WSOP/a.mp4", 10);
    sync_at(&e, 10);
    put(&e.root, "WSOP/b.mp4", 20);
    rm(&e.root, "WSOP/a.mp4");
    let before = rows(&e.target);

    let locker = Connection::open(&e.target).expect("open locker");
    locker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let err = sync::run_sync(&e.cfg, &clock(11), SyncOptions::default())
        .expect_err("a locked Target must fail");
    assert!(
        matches!(err, Error::TargetBusy { .. }),
        "expected TargetBusy, got {err:?}"
    );
    assert_eq!(err.code(), "target_busy");
    locker.execute_batch("ROLLBACK").expect("release");
    drop(locker);
    assert_eq!(rows(&e.target), before, "nothing half-applied");

    let r = sync_at(&e, 12);
    assert_eq!((r.added, r.deleted), (1, 1), "{r:?}");
    let after = rows(&e.target);
    assert_eq!(row_at(&after, "WSOP/b.mp4").status, "active");
    assert_eq!(row_at(&after, "WSOP/a.mp4").status, "deleted");
}

#[test]
fn busy_old_system_target_in_rollback_mode_is_an_error_and_unchanged() {
    let mut e = env();
    e.cfg.busy_timeout_secs = 1;
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/new.mp4", 20);
    old_system_target(&e.target, &[(3, "WSOP/a.mp4", 10)]);
    let dump_before = dump(&e.target);
    let bytes_before = db_bytes(&e.target);

    let locker = Connection::open(&e.target).expect("open locker");
    locker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let err = sync::run_sync(&e.cfg, &clock(10), SyncOptions::default())
        .expect_err("a locked Target must fail");
    assert!(
        matches!(err, Error::TargetBusy { .. }),
        "expected TargetBusy, got {err:?}"
    );
    locker.execute_batch("ROLLBACK").expect("release");
    drop(locker);
    assert_eq!(dump(&e.target), dump_before, "nothing half-applied");
    assert_same_bytes("pokervod.db", &bytes_before, &db_bytes(&e.target));

    let r = sync_at(&e, 11);
    assert_eq!((r.added, r.skipped), (1, 1), "{r:?}");
    assert_eq!(row_id(&rows(&e.target), 3).nas_path, "WSOP/a.mp4");
}

#[test]
fn owner_columns_and_tables_survive_syncs() {
    let e = env();
    put(&e.root, "WSOP/keep.mp4", 50);
    put(&e.root, "WSOP/move.mp4", 60);
    put(&e.root, "WSOP/new.mp4", 70);
    {
        let c = Connection::open(&e.target).expect("create pokervod.db");
        c.execute_batch(CREATE_FILES_SQL).expect("files");
        c.execute_batch(
            "ALTER TABLE files ADD COLUMN views INTEGER NOT NULL DEFAULT 0;
             CREATE TABLE playlists (id INTEGER PRIMARY KEY, name TEXT NOT NULL, file_id INTEGER);
             INSERT INTO playlists VALUES (1, 'Best of WSOP', 1), (2, '한글 목록', 3);
             INSERT INTO files (id, nas_path, filename, catalog, format, size_bytes, hls_compatible,
                status, codec, width, height, duration_sec, created_at, updated_at, views)
             VALUES
               (1, 'WSOP/keep.mp4', 'keep.mp4', 'WSOP', 'mp4', 1, 1, 'active', 'h264', 1920,
                1080, 3600.5, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', 123),
               (2, 'WSOP/gone.mp4', 'gone.mp4', 'WSOP', 'mp4', 2, 1, 'active', 'hevc', 3840,
                2160, 10.0, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', 5),
               (3, 'WSOP/move.mp4', 'move.mp4', 'WSOP', 'mp4', 60, 1, 'active', 'h264', 1280,
                720, 60.0, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', 9);",
        )
        .expect("owner data");
    }
    let playlists_before: Vec<String> = dump(&e.target)
        .into_iter()
        .filter(|l| l.starts_with("playlists") || l.contains("schema playlists"))
        .collect();

    // First sync: keep.mp4 updated (size), gone.mp4 deleted, new.mp4 inserted.
    let r = sync_at(&e, 10);
    assert_eq!((r.updated, r.deleted, r.added), (1, 1, 1), "{r:?}");
    // Second sync: move.mp4 moves.
    mv(&e.root, "WSOP/move.mp4", "HCL/moved.mp4");
    let r = sync_at(&e, 11);
    assert_eq!(r.moved, 1, "{r:?}");

    let c = Connection::open(&e.target).expect("open pokervod.db");
    let owner = |id: i64| -> (Option<String>, Option<i64>, Option<i64>, Option<f64>, i64) {
        c.query_row(
            "SELECT codec, width, height, duration_sec, views FROM files WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("owner columns")
    };
    assert_eq!(
        owner(1),
        (
            Some("h264".into()),
            Some(1920),
            Some(1080),
            Some(3600.5),
            123
        )
    );
    assert_eq!(
        owner(2),
        (Some("hevc".into()), Some(3840), Some(2160), Some(10.0), 5)
    );
    assert_eq!(
        owner(3),
        (Some("h264".into()), Some(1280), Some(720), Some(60.0), 9)
    );
    let new_views: i64 = c
        .query_row(
            "SELECT views FROM files WHERE nas_path = 'WSOP/new.mp4'",
            [],
            |r| r.get(0),
        )
        .expect("new row");
    assert_eq!(new_views, 0, "new rows get the owner's default");
    drop(c);

    let rows = rows(&e.target);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert_eq!(row_id(&rows, 1).size_bytes, 50);
    assert_eq!(row_id(&rows, 2).status, "deleted");
    assert_eq!(row_id(&rows, 3).nas_path, "HCL/moved.mp4");
    let playlists_after: Vec<String> = dump(&e.target)
        .into_iter()
        .filter(|l| l.starts_with("playlists") || l.contains("schema playlists"))
        .collect();
    assert_eq!(playlists_after, playlists_before);
    assert_eq!(playlists_after.len(), 3, "{playlists_after:?}");
}

// ---------------------------------------------------------------------------------------------
// Deletion grace (`delete_after_missing_scans`)
// ---------------------------------------------------------------------------------------------

/// The kit's env with deletion grace `n`.
fn env_grace(n: u32) -> Env {
    env_with(|c| {
        c.scan_workers = 2;
        c.delete_after_missing_scans = n;
    })
}

/// archive.db's count of consecutive scans that missed the record at `path` (0 if none), or
/// `None` when archive.db has no record there.
fn missing_scans(archive: &Path, path: &str) -> Option<u32> {
    let a = nas_sync_engine::archive::Archive::open(archive).expect("open archive.db");
    a.load_files()
        .expect("load files")
        .into_iter()
        .find(|f| f.path == path)
        .map(|f| f.missing_scans)
}

#[test]
fn with_grace_3_a_deleted_file_stays_active_for_two_syncs_and_is_soft_deleted_by_the_third() {
    let e = env_grace(3);
    put(&e.root, "WSOP/keep.mp4", 10);
    put(&e.root, "WSOP/keep2.mp4", 11);
    put(&e.root, "WSOP/gone.mp4", 20);
    sync_at(&e, 10);
    let id = row_at(&rows(&e.target), "WSOP/gone.mp4").id;

    rm(&e.root, "WSOP/gone.mp4");
    for (n, hour) in [(1, 11), (2, 12)] {
        let r = sync_at(&e, hour);
        assert_eq!(
            r.deleted, 0,
            "sync {n} of the missing file deletes nothing: {r:?}"
        );
        let row = row_id(&rows(&e.target), id).clone();
        assert_eq!(row.status, "active", "after missing scan {n}: {row:?}");
        assert_eq!(row.deleted_at, None);
        assert_eq!(
            missing_scans(&e.archive, "WSOP/gone.mp4"),
            Some(n),
            "archive.db counts missing scan {n}"
        );
        let dash = nas_sync_engine::query::dashboard(&e.cfg).expect("dashboard");
        assert_eq!(
            dash.source.pending_delete, 1,
            "the dashboard shows the waiting file"
        );
    }

    let r = sync_at(&e, 13);
    assert_eq!(r.deleted, 1, "the third missing scan deletes: {r:?}");
    let gone = row_id(&rows(&e.target), id).clone();
    assert_eq!(gone.status, "deleted");
    assert_eq!(gone.deleted_at.as_deref(), Some(iso_at(13).as_str()));
    assert_eq!(
        missing_scans(&e.archive, "WSOP/gone.mp4"),
        None,
        "record removed"
    );
    let left: i64 = count(&e.archive, "SELECT COUNT(*) FROM file_missing");
    assert_eq!(left, 0, "its waiting row goes with the record");
    let dash = nas_sync_engine::query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(dash.source.pending_delete, 0);
    assert_eq!(active(&rows(&e.target)), 2);
}

#[test]
fn with_grace_a_file_that_reappears_keeps_its_row_and_its_count_starts_over() {
    let e = env_grace(3);
    put(&e.root, "WSOP/keep.mp4", 10);
    put_at(&e.root, "WSOP/flaky.mp4", 20, 1_500_000_000);
    sync_at(&e, 10);
    let id = row_at(&rows(&e.target), "WSOP/flaky.mp4").id;

    rm(&e.root, "WSOP/flaky.mp4");
    let r = sync_at(&e, 11);
    assert_eq!((r.deleted, r.added, r.restored), (0, 0, 0), "{r:?}");
    assert_eq!(missing_scans(&e.archive, "WSOP/flaky.mp4"), Some(1));

    // Back after one missing scan (a remount hiccup): same record, same row, count reset.
    put_at(&e.root, "WSOP/flaky.mp4", 20, 1_500_000_000);
    let r = sync_at(&e, 12);
    assert_eq!((r.deleted, r.added, r.restored), (0, 0, 0), "{r:?}");
    assert_eq!(missing_scans(&e.archive, "WSOP/flaky.mp4"), Some(0));
    let row = row_id(&rows(&e.target), id).clone();
    assert_eq!(row.status, "active");
    assert_eq!(row.nas_path, "WSOP/flaky.mp4");

    // Missing again: it needs three fresh consecutive misses, not the one left over.
    rm(&e.root, "WSOP/flaky.mp4");
    for hour in [13, 14] {
        let r = sync_at(&e, hour);
        assert_eq!(r.deleted, 0, "{r:?}");
    }
    assert_eq!(row_id(&rows(&e.target), id).status, "active");
    assert_eq!(sync_at(&e, 15).deleted, 1);
    assert_eq!(row_id(&rows(&e.target), id).status, "deleted");
}

#[test]
fn with_grace_a_moved_file_is_repointed_at_once_keeping_its_target_id() {
    let e = env_grace(3);
    put(&e.root, "WSOP/keep.mp4", 10);
    put(&e.root, "WSOP/2023/day1.mp4", 20);
    sync_at(&e, 10);
    let id = row_at(&rows(&e.target), "WSOP/2023/day1.mp4").id;

    mv(&e.root, "WSOP/2023/day1.mp4", "WSOP/2024/day1.mp4");
    let r = sync_at(&e, 11);
    assert_eq!((r.moved, r.added, r.deleted), (1, 0, 0), "{r:?}");
    let after = rows(&e.target);
    assert_eq!(after.len(), 2, "{after:#?}");
    let row = row_id(&after, id);
    assert_eq!(row.nas_path, "WSOP/2024/day1.mp4");
    assert_eq!(row.status, "active");
    let dash = nas_sync_engine::query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(dash.source.pending_delete, 0, "a move waits for nothing");
}

#[test]
fn with_grace_a_file_moved_after_a_missing_scan_is_still_repointed() {
    // Gone from its folder for one scan (copied away, then back under a new name).
    let e = env_grace(3);
    put(&e.root, "WSOP/keep.mp4", 10);
    put_at(&e.root, "WSOP/a/ep.mp4", 20, 1_500_000_000);
    sync_at(&e, 10);
    let id = row_at(&rows(&e.target), "WSOP/a/ep.mp4").id;
    let stash = e.dir().join("stash.mp4");
    fs::rename(e.root.join("WSOP/a/ep.mp4"), &stash).expect("stash");
    assert_eq!(sync_at(&e, 11).deleted, 0);
    fs::create_dir_all(e.root.join("WSOP/b")).expect("dir");
    fs::rename(&stash, e.root.join("WSOP/b/ep.mp4")).expect("back");
    let r = sync_at(&e, 12);
    assert_eq!((r.moved, r.added, r.deleted), (1, 0, 0), "{r:?}");
    assert_eq!(row_id(&rows(&e.target), id).nas_path, "WSOP/b/ep.mp4");
    assert_eq!(missing_scans(&e.archive, "WSOP/b/ep.mp4"), Some(0));
    let left: i64 = count(&e.archive, "SELECT COUNT(*) FROM file_missing");
    assert_eq!(left, 0);
}
