//! The match index brought up to date from each job's journal batch answers exactly like an
//! index rebuilt from scratch: real directory trees, a real archive.db and pokervod.db, real
//! scans and syncs (and the probe on real media files), and after every job every answer of
//! the screens compared — the dashboard, every page of the matching table for every status tab,
//! sort and direction, each catalog filter, searches, the whole tree and every tree node page —
//! between a long-lived index handle updated in place and a fresh rebuild in memory.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use nas_sync_engine::Config;
use nas_sync_engine::index::{self, Index, Refresh, Status};
use nas_sync_engine::matching::{self, MatchingQuery};
use nas_sync_engine::query;
use rusqlite::Connection;
use serde_json::{Value, json};

mod common;
use common::{
    Env, env_with, fresh_mtime, media_fixture, mv, put_bytes, put_bytes_at, put_sized as put, rm,
    scan_only, sync_at, sync_cfg,
};

const SORTS: [&str; 5] = ["path", "size", "mtime", "catalog", "status"];
const TERMS: [&str; 7] = ["part", "PART1", "/", "intro", "한국", "s1/", "zz-none"];

fn env() -> Env {
    env_with(|c| {
        // Random deletions must not trip the mass-delete guard.
        c.max_delete_count = 100_000;
        c.max_delete_percent = 100.0;
    })
}

fn to_json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("serialize")
}

/// Every page of `q` (5 per page) as JSON.
fn pages(index: &Index, q: MatchingQuery) -> Value {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let p = matching::matching_in(
            index,
            &MatchingQuery {
                page: Some(page),
                per_page: Some(5),
                ..q.clone()
            },
        )
        .unwrap_or_else(|e| panic!("matching {q:?} page {page}: {e}"));
        let last = u64::from(page) >= p.pages;
        out.push(to_json(p));
        if last {
            break;
        }
        page += 1;
    }
    Value::Array(out)
}

/// A tree node and, recursively, its sub-directories, each with its files two at a time.
fn nodes(index: &Index, path: &str, out: &mut Vec<Value>) {
    let mut offset = 0;
    loop {
        let node = matching::tree_node_in(index, path, offset, Some(2))
            .unwrap_or_else(|e| panic!("tree node `{path}` at {offset}: {e}"));
        let more = offset + 2 < node.files_total;
        let dirs: Vec<String> = node.directories.iter().map(|d| d.path.clone()).collect();
        out.push(to_json(&node));
        if !more {
            for d in dirs {
                nodes(index, &d, out);
            }
            break;
        }
        offset += 2;
    }
}

/// Every answer the screens can get from `index`, as one JSON value.
fn answers(cfg: &Config, index: &Index) -> Value {
    let mut v = serde_json::Map::new();
    v.insert(
        "dashboard".into(),
        to_json(query::dashboard_in(cfg, index).expect("dashboard")),
    );
    let statuses: Vec<Option<String>> = std::iter::once(None)
        .chain(Status::ALL.iter().map(|s| Some(s.as_str().to_string())))
        .collect();
    for status in &statuses {
        for sort in SORTS {
            for desc in [false, true] {
                v.insert(
                    format!("matching {status:?} {sort} {desc}"),
                    pages(
                        index,
                        MatchingQuery {
                            status: status.clone(),
                            sort: Some(sort.into()),
                            desc,
                            ..MatchingQuery::default()
                        },
                    ),
                );
            }
        }
    }
    let catalogs: BTreeSet<String> = index
        .catalogs()
        .expect("catalogs")
        .into_iter()
        .map(|(_, n)| n)
        .chain(["WSOP".to_string(), "NONE".to_string()])
        .collect();
    for c in catalogs {
        for status in [None, Some("synced".to_string())] {
            v.insert(
                format!("catalog {c} {status:?}"),
                pages(
                    index,
                    MatchingQuery {
                        catalog: Some(c.clone()),
                        status: status.clone(),
                        sort: Some("size".into()),
                        ..MatchingQuery::default()
                    },
                ),
            );
        }
    }
    for term in TERMS {
        for status in [None, Some("duplicate".to_string())] {
            v.insert(
                format!("search {term} {status:?}"),
                pages(
                    index,
                    MatchingQuery {
                        search: Some(term.into()),
                        status: status.clone(),
                        sort: Some("mtime".into()),
                        ..MatchingQuery::default()
                    },
                ),
            );
        }
    }
    // The value filters and their lists read the packed columns by item position (ids have
    // gaps after an update in place).
    v.insert(
        "facets".into(),
        to_json(nas_sync_engine::query::filters::facets_in(index).expect("facets")),
    );
    let filters: [(&str, MatchingQuery); 6] = [
        (
            "ext mp4",
            MatchingQuery {
                ext: Some("mp4".into()),
                ..MatchingQuery::default()
            },
        ),
        (
            "reason mxf",
            MatchingQuery {
                reason: Some("mxf".into()),
                ..MatchingQuery::default()
            },
        ),
        (
            "reason other",
            MatchingQuery {
                reason: Some("other".into()),
                ..MatchingQuery::default()
            },
        ),
        (
            "collision",
            MatchingQuery {
                collision: true,
                ..MatchingQuery::default()
            },
        ),
        (
            "collision by size",
            MatchingQuery {
                collision: true,
                sort: Some("size".into()),
                ..MatchingQuery::default()
            },
        ),
        (
            "ext mp4 search",
            MatchingQuery {
                ext: Some("mp4".into()),
                search: Some("a".into()),
                ..MatchingQuery::default()
            },
        ),
    ];
    for (name, q) in filters {
        v.insert(format!("filter {name}"), pages(index, q));
    }
    v.insert(
        "tree".into(),
        to_json(matching::tree_in(cfg, index).expect("tree")),
    );
    let mut all = Vec::new();
    nodes(index, "", &mut all);
    v.insert("nodes".into(), Value::Array(all));
    Value::Object(v)
}

/// The first place two JSON values differ (for a readable failure).
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (p, q) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                if let Some(d) = first_difference(p, q, &format!("{at}.{k}")) {
                    return Some(d);
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let (p, q) = (
                    x.get(i).unwrap_or(&Value::Null),
                    y.get(i).unwrap_or(&Value::Null),
                );
                if let Some(d) = first_difference(p, q, &format!("{at}[{i}]")) {
                    return Some(d);
                }
            }
            None
        }
        _ if a == b => None,
        _ => Some(format!("{at}: updated {a} but rebuilt {b}")),
    }
}

/// The long-lived handle, brought up to date, answers exactly like a fresh rebuild. Returns
/// how the handle was brought up to date.
fn check(e: &Env, index: &mut Index, step: &str) -> Refresh {
    check_cfg(&e.cfg, index, step)
}

/// [`check`] for the inputs `cfg` names.
fn check_cfg(cfg: &Config, index: &mut Index, step: &str) -> Refresh {
    // The scan's checkpoint runs on a thread of its own; the dashboard shows archive.db's size.
    nas_sync_engine::target::finish_checkpoints();
    index.refresh_if_stale(cfg).expect("refresh");
    let refreshed = index.refreshed;
    if let Some(why) = &index.full_read {
        eprintln!("{step}: read both databases: {why}");
    }
    let fresh = Index::rebuild_in_memory(cfg).expect("rebuild in memory");
    assert_eq!(fresh.refreshed, Refresh::Rebuilt);
    let (a, b) = (answers(cfg, index), answers(cfg, &fresh));
    if let Some(d) = first_difference(&a, &b, "") {
        panic!("{step} ({refreshed:?}): {d}");
    }
    refreshed
}

fn incremental(r: Refresh) -> bool {
    matches!(r, Refresh::Updated { .. } | Refresh::Current)
}

fn item_status(index: &Index, path: &str) -> (String, String) {
    let page = matching::matching_in(
        index,
        &MatchingQuery {
            search: Some(
                Path::new(path)
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into(),
            ),
            per_page: Some(200),
            ..MatchingQuery::default()
        },
    )
    .expect("search");
    let v = to_json(page);
    let it = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|it| {
            it["source"]["path"].as_str() == Some(path)
                || (it["source"].is_null() && it["target"]["nas_path"].as_str() == Some(path))
        })
        .unwrap_or_else(|| panic!("no item at {path}: {v}"));
    (
        it["status"].as_str().expect("status").into(),
        it["reason_code"].as_str().expect("code").into(),
    )
}

fn pair(s: &str, c: &str) -> (String, String) {
    (s.into(), c.into())
}

/// A change, what it is, and the (path, status, reason code) it leaves after the scan.
type Step = (
    &'static str,
    Box<dyn Fn(&Env)>,
    (&'static str, &'static str, &'static str),
);

/// Each kind of change the issue names, one after another, through real scans and syncs;
/// after each the index was updated in place (never rebuilt) and answers like a rebuild.
#[test]
fn every_kind_of_change_updates_the_index_in_place_like_a_rebuild() {
    let e = env();
    put(&e.root, "WSOP/2024/Day1/Part1.mp4", 100);
    put(&e.root, "HCL/S1/Part1.mp4", 110);
    put(&e.root, "PAD/Ep/intro.mov", 120);
    put(&e.root, "PAD/Ep/x.mxf", 130);
    put(&e.root, "PAD/Ep/sub.srt", 5);
    put(&e.root, "top.mp4", 7);
    sync_at(&e, 1);
    let mut index = Index::open(&e.cfg).expect("open");
    assert_eq!(index.refreshed, Refresh::Rebuilt, "the first open builds");
    check(&e, &mut index, "after the first sync");
    // Same name in two catalogs: one group, the first in path order is the primary.
    assert_eq!(
        item_status(&index, "HCL/S1/Part1.mp4"),
        pair("synced_with_duplicates", "synced_with_duplicates")
    );
    assert_eq!(
        item_status(&index, "WSOP/2024/Day1/Part1.mp4"),
        pair("duplicate", "duplicate_name")
    );

    let mut steps: Vec<Step> = vec![
        (
            "the primary deleted: its duplicate becomes the primary and takes its row",
            Box::new(|e| rm(&e.root, "HCL/S1/Part1.mp4")),
            ("WSOP/2024/Day1/Part1.mp4", "changed", "pending_move"),
        ),
        (
            "a copy of the same name in another catalog (case differs): a duplicate",
            Box::new(|e| {
                put(&e.root, "PAD/1일차/part1.MP4", 140);
            }),
            ("PAD/1일차/part1.MP4", "duplicate", "duplicate_name"),
        ),
        (
            "a move to another directory keeps its row",
            Box::new(|e| {
                mv(
                    &e.root,
                    "WSOP/2024/Day1/Part1.mp4",
                    "WSOP/2024/Day2/Part1.mp4",
                )
            }),
            ("WSOP/2024/Day2/Part1.mp4", "changed", "pending_move"),
        ),
        (
            "a file that becomes ineligible (mov → mkv): its row goes",
            Box::new(|e| mv(&e.root, "PAD/Ep/intro.mov", "PAD/Ep/intro.mkv")),
            ("PAD/Ep/intro.mkv", "not_synced", "not_hls"),
        ),
        (
            "a file that becomes eligible (mxf → mp4)",
            Box::new(|e| mv(&e.root, "PAD/Ep/x.mxf", "PAD/Ep/x.mp4")),
            ("PAD/Ep/x.mp4", "new", "pending_insert"),
        ),
        (
            "a new file",
            Box::new(|e| {
                put(&e.root, "PAD/Ep/new.mp4", 150);
            }),
            ("PAD/Ep/new.mp4", "new", "pending_insert"),
        ),
        (
            "a file that grew",
            Box::new(|e| {
                put(&e.root, "PAD/Ep/new.mp4", 151);
            }),
            ("PAD/Ep/new.mp4", "changed", "pending_update"),
        ),
        (
            "a file deleted",
            Box::new(|e| rm(&e.root, "top.mp4")),
            ("top.mp4", "deleted", "pending_delete"),
        ),
    ];
    for (hour, (what, change, (path, status, code))) in (2..).zip(steps.drain(..)) {
        change(&e);
        scan_only(&e, hour);
        let r = check(&e, &mut index, &format!("{what}: scanned"));
        assert!(matches!(r, Refresh::Updated { .. }), "{what}: {r:?}");
        assert_eq!(item_status(&index, path), pair(status, code), "{what}");
        sync_at(&e, hour);
        // (A sync that writes nothing, e.g. for a new duplicate, leaves the index current.)
        let r = check(&e, &mut index, &format!("{what}: synced"));
        assert!(incremental(r), "{what}: synced {r:?}");
    }
    assert_eq!(
        item_status(&index, "top.mp4"),
        pair("deleted", "deleted"),
        "soft-deleted by the sync"
    );

    // Restore: the deleted file is back at its path.
    put(&e.root, "top.mp4", 7);
    scan_only(&e, 12);
    let r = check(&e, &mut index, "restored: scanned");
    assert!(incremental(r), "{r:?}");
    assert_eq!(
        item_status(&index, "top.mp4"),
        pair("changed", "pending_restore")
    );
    sync_at(&e, 12);
    assert!(incremental(check(&e, &mut index, "restored: synced")));
    assert_eq!(item_status(&index, "top.mp4"), pair("synced", "synced"));

    // Directly synced (scan inside the sync), several changes at once.
    rm(&e.root, "PAD/1일차/part1.MP4");
    put(&e.root, "HCL/S2/Part1.mp4", 160);
    mv(&e.root, "PAD/Ep/sub.srt", "PAD/sub.srt");
    sync_at(&e, 13);
    assert!(incremental(check(
        &e,
        &mut index,
        "three changes in one sync"
    )));

    // An outside edit of the Target is not in the journal: read again (and still equal).
    let c = Connection::open(&e.target).expect("open pokervod.db");
    c.execute(
        "UPDATE files SET size_bytes = 1 WHERE nas_path = 'PAD/Ep/new.mp4'",
        [],
    )
    .expect("outside edit");
    drop(c);
    let r = check(&e, &mut index, "an outside edit of the Target");
    assert_eq!(r, Refresh::Rebuilt);
    assert_eq!(
        item_status(&index, "PAD/Ep/new.mp4"),
        pair("changed", "pending_update")
    );
    sync_at(&e, 14);
    assert!(incremental(check(&e, &mut index, "the sync after it")));

    // A new catalog (first in name order) takes a rank before the others.
    put(&e.root, "AAA/first.mp4", 170);
    scan_only(&e, 15);
    assert!(incremental(check(&e, &mut index, "a new catalog")));
    sync_at(&e, 15);
    assert!(incremental(check(&e, &mut index, "the new catalog synced")));
    // The last file of a catalog going leaves no empty catalog or directory behind.
    rm(&e.root, "AAA/first.mp4");
    sync_at(&e, 16);
    assert!(incremental(check(&e, &mut index, "a catalog emptied")));
}

/// The probe's results reach the index through the journal too: with `strict_codec_check`, a
/// ProRes file is excluded once probed (by the sync's own probe, or by a later pass).
#[test]
fn probe_results_update_the_index_in_place_like_a_rebuild() {
    let e = env_with(|c| {
        c.probe_media = true;
        c.strict_codec_check = true;
        c.max_delete_count = 1000;
        c.max_delete_percent = 100.0;
    });
    put_bytes(&e.root, "WSOP/a/clip.mov", &media_fixture("h264.mov"));
    sync_at(&e, 1);
    let mut index = Index::open(&e.cfg).expect("open");
    check(&e, &mut index, "first sync");
    put_bytes(&e.root, "HCL/b/clip.mov", &media_fixture("prores.mov"));
    put_bytes(&e.root, "HCL/b/other.mov", &media_fixture("prores.mov"));
    sync_at(&e, 2);
    let r = check(&e, &mut index, "ProRes files probed by the sync");
    assert!(matches!(r, Refresh::Updated { .. }), "{r:?}");
    assert_eq!(
        item_status(&index, "HCL/b/other.mov"),
        pair("not_synced", "codec_not_hls")
    );
    assert_eq!(
        item_status(&index, "WSOP/a/clip.mov"),
        pair("synced", "synced")
    );
    // Re-encoded as H.264: the scan clears the probe (the file is eligible by its name again,
    // a duplicate of the first clip), the sync probes it again.
    put_bytes(&e.root, "HCL/b/clip.mov", &media_fixture("h264.mov"));
    scan_only(&e, 3);
    assert!(incremental(check(&e, &mut index, "re-encoded: scanned")));
    sync_at(&e, 4);
    assert!(incremental(check(&e, &mut index, "re-encoded: synced")));
    assert_eq!(
        item_status(&index, "HCL/b/clip.mov"),
        pair("duplicate", "duplicate_name")
    );
    // The probe pass after a job (the monitor's and the CLI's) stores through the journal too.
    put_bytes(&e.root, "PAD/c/late.mov", &media_fixture("prores.mov"));
    scan_only(&e, 5);
    assert!(incremental(check(
        &e,
        &mut index,
        "a new ProRes file, not probed yet"
    )));
    assert_eq!(
        item_status(&index, "PAD/c/late.mov"),
        pair("new", "pending_insert")
    );
    let never = std::sync::atomic::AtomicBool::new(false);
    nas_sync_engine::runtime::monitor::background_passes(&e.cfg, &never).expect("passes");
    assert!(matches!(
        check(&e, &mut index, "probed by the pass"),
        Refresh::Updated { .. }
    ));
    assert_eq!(
        item_status(&index, "PAD/c/late.mov"),
        pair("not_synced", "codec_not_hls")
    );
}

/// A small xorshift: the same seed gives the same run everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const DIRS: [&str; 8] = [
    "WSOP/2024/Day1",
    "WSOP/2024/Day2",
    "WSOP/Backup/2024",
    "HCL/S1",
    "HCL/S1/extra",
    "PAD/Ep",
    "한국포커투어/1일차",
    "",
];
/// Few names, so that groups form and break across catalogs (`part1.mp4` and `Part1.MP4` are
/// one name; `Part1.mkv` is not eligible).
const NAMES: [&str; 9] = [
    "Part1.mp4",
    "part1.MP4",
    "Part2.mp4",
    "intro.mov",
    "Part1.mkv",
    "x.mxf",
    "sub.srt",
    "final.ts",
    "메인 이벤트.mp4",
];

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn files_on_share(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push(rel);
        }
    }
    out.sort();
    out
}

/// One random change on the share.
fn random_change(e: &Env, rng: &mut Rng) -> String {
    let files = files_on_share(&e.root);
    let name_at = |rng: &mut Rng| join(DIRS[rng.below(DIRS.len())], NAMES[rng.below(NAMES.len())]);
    match rng.below(10) {
        0..=2 => {
            let p = name_at(rng);
            put(&e.root, &p, 10 + rng.below(5) * 10);
            format!("add {p}")
        }
        _ if files.is_empty() => "nothing".into(),
        3 | 4 => {
            let p = rng.pick(&files).clone();
            rm(&e.root, &p);
            format!("delete {p}")
        }
        5 | 6 => {
            let from = rng.pick(&files).clone();
            let to = if rng.below(2) == 0 {
                // Same name, another directory (maybe another catalog).
                join(
                    DIRS[rng.below(DIRS.len())],
                    Path::new(&from)
                        .file_name()
                        .map_or("", |n| n.to_str().unwrap_or("")),
                )
            } else {
                name_at(rng)
            };
            if to == from || e.root.join(&to).exists() {
                return "nothing".into();
            }
            mv(&e.root, &from, &to);
            format!("move {from} → {to}")
        }
        7 => {
            // A backup copy: same name, size and mtime elsewhere.
            let from = rng.pick(&files).clone();
            let name = Path::new(&from)
                .file_name()
                .map_or("", |n| n.to_str().unwrap_or(""));
            let to = join(DIRS[rng.below(DIRS.len())], name);
            if e.root.join(&to).exists() {
                return "nothing".into();
            }
            let body = fs::read(e.root.join(&from)).expect("read");
            let mtime = fs::metadata(e.root.join(&from))
                .expect("stat")
                .modified()
                .expect("mtime")
                .duration_since(std::time::UNIX_EPOCH)
                .expect("epoch")
                .as_secs() as i64;
            put_bytes_at(&e.root, &to, &body, mtime);
            format!("copy {from} → {to}")
        }
        _ => {
            let p = rng.pick(&files).clone();
            let body = vec![7u8; 3 + rng.below(40)];
            put_bytes_at(&e.root, &p, &body, fresh_mtime());
            format!("rewrite {p}")
        }
    }
}

/// Random runs of changes, scans and syncs (seeded): after every job the index updated in
/// place answers like a rebuild, and almost every job was an update, not a rebuild.
#[test]
fn random_jobs_keep_the_updated_index_equal_to_a_rebuild() {
    for seed in [
        0x9E37_79B9_7F4A_7C15u64,
        0xD1B5_4A32_D192_ED03,
        0x2545_F491_4F6C_DD1D,
    ] {
        let e = env();
        let mut rng = Rng(seed);
        for _ in 0..6 {
            random_change(&e, &mut rng);
        }
        sync_at(&e, 1);
        let mut index = Index::open(&e.cfg).expect("open");
        let mut log: Vec<String> = Vec::new();
        let (mut updates, mut rebuilds) = (0, 0);
        for step in 0..24u32 {
            for _ in 0..=rng.below(3) {
                log.push(random_change(&e, &mut rng));
            }
            let hour = 2 + step % 20;
            let job = match rng.below(3) {
                0 => {
                    scan_only(&e, hour);
                    "scan"
                }
                1 => {
                    sync_at(&e, hour);
                    "sync"
                }
                _ => {
                    scan_only(&e, hour);
                    sync_at(&e, hour);
                    "scan, then sync"
                }
            };
            log.push(job.into());
            let what = format!("seed {seed:x} step {step}: {}", log.join("; "));
            match check(&e, &mut index, &what) {
                Refresh::Rebuilt => rebuilds += 1,
                _ => updates += 1,
            }
            log.clear();
        }
        // Nothing here needs a rebuild: no outside writer, no new rules.
        assert_eq!(
            (updates, rebuilds),
            (24, 0),
            "seed {seed:x}: updates and rebuilds"
        );
    }
}

/// A query between two jobs sees the first one's changes, and a batch it missed is applied by
/// the next query (a per-call handle here, another handle there): one index file, any number
/// of handles.
#[test]
fn handles_that_missed_batches_catch_up_from_the_journal() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mp4", 20);
    sync_at(&e, 1);
    let mut slow = Index::open(&e.cfg).expect("open");
    put(&e.root, "WSOP/c.mp4", 30);
    scan_only(&e, 2);
    // Another handle applies the scan's batch.
    let other = Index::open(&e.cfg).expect("other");
    assert!(matches!(other.refreshed, Refresh::Updated { .. }));
    assert_eq!(
        item_status(&other, "WSOP/c.mp4"),
        pair("new", "pending_insert")
    );
    sync_at(&e, 3);
    rm(&e.root, "WSOP/a.mp4");
    sync_at(&e, 4);
    // The slow handle missed two syncs: both batches at once.
    let r = check(&e, &mut slow, "two syncs missed");
    assert!(matches!(r, Refresh::Updated { .. }), "{r:?}");
    assert_eq!(item_status(&slow, "WSOP/a.mp4"), pair("deleted", "deleted"));
    let json = to_json(query::dashboard(&e.cfg).expect("per-call dashboard"));
    assert_eq!(json["matching"]["synced"], json!(2));
}

/// A `copying` verdict runs out with time alone: the next query looks at those files again
/// (an update, not a rebuild) and they become what a rebuild says.
#[test]
fn copying_verdicts_that_run_out_are_updated_in_place() {
    // Long enough that the scan, the index's first build and the first look fit in it on a
    // busy machine (2 s did not, once, in a fresh-clone CI run); the test then waits until it
    // has run out, not a fixed time.
    const SETTLE: u64 = 10;
    let e = env_with(|c| c.settle_secs = SETTLE);
    put(&e.root, "WSOP/old.mp4", 10);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let written = std::time::Instant::now();
    put_bytes_at(&e.root, "WSOP/fresh.mp4", &[1, 2, 3], now);
    scan_only(&e, 1);
    let mut index = Index::open(&e.cfg).expect("open");
    check(&e, &mut index, "a file still being copied");
    assert_eq!(
        item_status(&index, "WSOP/fresh.mp4").0,
        "copying",
        "{:?} after the write",
        written.elapsed()
    );
    // The mtime has whole seconds: the verdict runs out within SETTLE + 1 s of the write.
    let out = std::time::Duration::from_millis(SETTLE * 1_000 + 1_200);
    std::thread::sleep(out.saturating_sub(written.elapsed()));
    let r = check(&e, &mut index, "its settle time passed");
    assert!(matches!(r, Refresh::Updated { .. }), "{r:?}");
    assert_eq!(
        item_status(&index, "WSOP/fresh.mp4"),
        pair("new", "pending_insert")
    );
}

/// What the journal cannot vouch for is read again: a batch pruned (a gap), another
/// archive.db's journal, an edit of the Target while no sync runs. While a sync holds the lock,
/// a Target that moved is answered as it was (the sync's batch will say what changed).
#[test]
fn a_gap_another_journal_or_an_outside_edit_reads_both_databases_again() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "HCL/b.mp4", 20);
    sync_at(&e, 1);
    let mut index = Index::open(&e.cfg).expect("open");

    // A removed file is named in the scan's batch (new ones are found by id).
    put(&e.root, "WSOP/c.mp4", 30);
    rm(&e.root, "WSOP/a.mp4");
    scan_only(&e, 2);
    let archive = Connection::open(&e.archive).expect("archive.db");
    archive
        .execute("DELETE FROM index_journal", [])
        .expect("prune every batch");
    let r = check(&e, &mut index, "a pruned batch");
    assert_eq!(r, Refresh::Rebuilt);
    assert_eq!(index.full_read.as_deref(), Some("a gap in the journal"));

    put(&e.root, "WSOP/d.mp4", 40);
    scan_only(&e, 3);
    archive
        .execute("UPDATE index_journal_id SET id = 'another archive'", [])
        .expect("another journal");
    assert_eq!(check(&e, &mut index, "another journal"), Refresh::Rebuilt);
    drop(archive);

    // An edit while a sync holds the lock waits for the sync; without the lock it is read.
    let lock = nas_sync_engine::archive::SyncLock::acquire(&e.archive, 1).expect("lock");
    let target = Connection::open(&e.target).expect("pokervod.db");
    target
        .execute(
            "UPDATE files SET status = 'deleted' WHERE nas_path = 'HCL/b.mp4'",
            [],
        )
        .expect("outside edit");
    index.refresh_if_stale(&e.cfg).expect("refresh");
    assert_eq!(index.refreshed, Refresh::Deferred);
    assert_eq!(item_status(&index, "HCL/b.mp4"), pair("synced", "synced"));
    drop(lock);
    assert_eq!(check(&e, &mut index, "the lock released"), Refresh::Rebuilt);
    assert_eq!(
        item_status(&index, "HCL/b.mp4"),
        pair("changed", "pending_restore")
    );
}

/// Longer than the racy window, counted in whole seconds (a stamp's mtime is rounded up).
fn past_the_window() -> std::time::Duration {
    index::RACY_WINDOW + std::time::Duration::from_millis(1_500)
}

/// pokervod.db in WAL mode: a checkpoint changes its stamp after a sync's commit, and two
/// commits of one WAL generation can look alike within one mtime tick, so the sync cannot
/// describe the stamp. The index is still updated in place (checked against the digests of
/// the rows before and after the commit), and the Target's content is checked once after the
/// racy window: an outside edit hidden in the sync's mtime tick shows up then.
#[test]
fn a_wal_mode_target_is_updated_in_place_and_checked_once_after_the_window() {
    let e = env_with(|c| {
        c.target_wal = true;
        c.max_delete_count = 1000;
        c.max_delete_percent = 100.0;
    });
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mp4", 20);
    sync_at(&e, 1);
    let mut index = Index::open(&e.cfg).expect("open");
    put(&e.root, "WSOP/c.mp4", 30);
    sync_at(&e, 2);
    let r = check(&e, &mut index, "a sync into a WAL-mode Target");
    assert!(matches!(r, Refresh::Updated { .. }), "{r:?}");

    // Another program's edit in the same mtime tick: the file's mtime put back.
    let meta = fs::metadata(&e.target).expect("stat");
    let c = Connection::open(&e.target).expect("pokervod.db");
    c.execute(
        "UPDATE files SET status = 'deleted' WHERE nas_path = 'WSOP/a.mp4'",
        [],
    )
    .expect("outside edit");
    drop(c);
    fs::File::options()
        .write(true)
        .open(&e.target)
        .expect("open")
        .set_modified(meta.modified().expect("mtime"))
        .expect("mtime back");
    std::thread::sleep(past_the_window());
    let r = check(&e, &mut index, "checked after the window");
    assert_eq!(r, Refresh::Rebuilt, "the content check found the edit");
    assert_eq!(
        item_status(&index, "WSOP/a.mp4"),
        pair("changed", "pending_restore")
    );
    // A sync, then the check after the window finds nothing: no rebuild.
    sync_at(&e, 3);
    assert!(incremental(check(&e, &mut index, "the next sync")));
    std::thread::sleep(past_the_window());
    let r = check(&e, &mut index, "its content check");
    assert!(incremental(r), "{r:?}");
}

/// A host's jobs bring the very index its screens read up to date before they end: the next
/// query finds it current, its search columns already patched.
#[test]
fn a_monitor_job_updates_the_hosts_index_before_it_ends() {
    use nas_sync_engine::runtime::monitor::JobKind;
    use nas_sync_engine::sync::Force;
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    let (_store, m) = common::settings_and_monitor(&e);
    let run = |m: &nas_sync_engine::runtime::Monitor| {
        let job = m.start(JobKind::Sync, Force::No, "manual");
        assert!(m.wait(job.job_id, std::time::Duration::from_secs(60)));
    };
    run(&m);
    let search = |m: &nas_sync_engine::runtime::Monitor, term: &str| -> (Refresh, Value) {
        m.index()
            .with(&e.cfg, |i| {
                let page = matching::matching_in(
                    i,
                    &MatchingQuery {
                        search: Some(term.into()),
                        ..MatchingQuery::default()
                    },
                )?;
                Ok((i.refreshed, to_json(page)))
            })
            .expect("shared index")
    };
    assert_eq!(search(&m, "a.mp4").1["total"], json!(1));
    put(&e.root, "HCL/new one.mp4", 20);
    run(&m);
    let (refreshed, page) = search(&m, "new one");
    assert_eq!(refreshed, Refresh::Current, "the job updated it already");
    assert_eq!(page["items"][0]["status"], json!("synced"));
    let fresh = Index::rebuild_in_memory(&e.cfg).expect("rebuild");
    let shared = m
        .index()
        .with(&e.cfg, |i| Ok(answers(&e.cfg, i)))
        .expect("answers");
    if let Some(d) = first_difference(&shared, &answers(&e.cfg, &fresh), "") {
        panic!("the host's index after a job: {d}");
    }
    m.shutdown(std::time::Duration::from_secs(10));
}

/// The dashboard's Source and Target file counts, from a per-call index (as the CLI's
/// `dashboard` reads them: the index file, brought up to date by that call).
fn dashboard_counts(cfg: &Config) -> (i64, i64) {
    let v = to_json(query::dashboard(cfg).expect("dashboard"));
    (
        v["source"]["total_files"].as_i64().expect("source files"),
        v["target"]["total_files"].as_i64().expect("target files"),
    )
}

/// Active rows of a Target file.
fn active_rows(target: &Path) -> i64 {
    Connection::open(target)
        .expect("target")
        .query_row(
            "SELECT COUNT(*) FROM files WHERE status = 'active'",
            [],
            |r| r.get(0),
        )
        .expect("count")
}

/// One archive.db synced in turn to several Target files (cli/tests/deploy.rs: the
/// environment's, a flag's, the settings file's), each sync bringing the index up to date for
/// the Target it wrote, as a host does: the index answers for the Target it is asked about, like
/// a rebuild, after every sync and whichever Target was synced last. (The journal's batches
/// chained the syncs of all of them; the index read both databases again when they did not fit,
/// but the update it gave up half-way had taken its numbers: a dashboard of 0 Source files and
/// 0 Target rows that the index then held as current.)
#[test]
fn one_archive_db_synced_to_several_targets_answers_for_the_target_asked_about() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mp4", 20);
    put(&e.root, "HCL/a.mp4", 10);
    put(&e.root, "HCL/c.ts", 30);
    put(&e.root, "HCL/notes.txt", 5);
    let dbs = e.target.parent().expect("db folder").to_path_buf();
    let cfg_for = |target: &Path| Config {
        target_db: Some(target.to_path_buf()),
        ..e.cfg.clone()
    };
    let targets = [
        dbs.join("env-target.db"),
        dbs.join("flag-target.db"),
        e.target.clone(),
    ];
    let cfgs: Vec<Config> = targets.iter().map(|t| cfg_for(t)).collect();
    let source_files = 5;
    let mut index = Index::open(&cfgs[0]).expect("open");
    for (i, cfg) in cfgs.iter().enumerate() {
        sync_cfg(cfg, 1 + i as u32);
        check_cfg(cfg, &mut index, &format!("synced to Target {i}"));
        let (source, target) = dashboard_counts(cfg);
        assert_eq!(
            (source, target),
            (source_files, active_rows(&targets[i])),
            "the dashboard after the sync to Target {i}"
        );
        assert!(target > 0, "Target {i} has rows");
        // Every Target synced so far, asked about in turn.
        for (j, other) in cfgs.iter().enumerate().take(i + 1) {
            check_cfg(
                other,
                &mut index,
                &format!("Target {j} after the sync to {i}"),
            );
            assert_eq!(
                dashboard_counts(other),
                (source_files, active_rows(&targets[j]))
            );
        }
    }
    // A change synced to one Target only: the others still show it as new.
    put(&e.root, "WSOP/d.mp4", 40);
    sync_cfg(&cfgs[1], 4);
    check_cfg(&cfgs[1], &mut index, "a new file synced to Target 1");
    assert_eq!(item_status(&index, "WSOP/d.mp4"), pair("synced", "synced"));
    check_cfg(&cfgs[0], &mut index, "Target 0, which did not get it");
    assert_eq!(
        item_status(&index, "WSOP/d.mp4"),
        pair("new", "pending_insert")
    );
    assert_eq!(
        dashboard_counts(&cfgs[0]),
        (source_files + 1, active_rows(&targets[0]))
    );
    // Synced to its own Target again: updated in place from the journal, no rebuild needed.
    sync_cfg(&cfgs[0], 5);
    check_cfg(&cfgs[0], &mut index, "the new file synced to Target 0");
    put(&e.root, "HCL/e.mp4", 50);
    sync_cfg(&cfgs[0], 6);
    let r = check_cfg(&cfgs[0], &mut index, "a sync to the same Target");
    assert!(incremental(r), "{r:?}");
    assert_eq!(item_status(&index, "HCL/e.mp4"), pair("synced", "synced"));
    // A batch of a sync to another Target is never applied to this one's index.
    put(&e.root, "HCL/f.mp4", 60);
    sync_cfg(&cfgs[2], 7);
    let r = check_cfg(&cfgs[0], &mut index, "Target 0 after a sync to Target 2");
    assert!(!matches!(r, Refresh::Updated { .. }), "{r:?}");
    assert_eq!(
        item_status(&index, "HCL/f.mp4"),
        pair("new", "pending_insert")
    );
}

/// Copy `db` (checkpointed first, nobody has it open) to `to`.
fn copy_db(db: &Path, to: &Path) {
    nas_sync_engine::target::finish_checkpoints();
    let c = Connection::open(db).expect("open");
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(c);
    fs::copy(db, to).expect("copy");
}

/// Put the copy `from` back at `db` as a restore does: a new file moved over the old one,
/// with the old one's modification time (as `cp -p` or a backup tool may leave it).
fn restore_db(from: &Path, db: &Path) {
    let mtime = fs::metadata(db).expect("stat").modified().expect("mtime");
    for side in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(side);
        let _ = fs::remove_file(std::path::PathBuf::from(p));
    }
    let staged = db.with_extension("restoring");
    fs::copy(from, &staged).expect("copy");
    fs::File::options()
        .write(true)
        .open(&staged)
        .expect("open")
        .set_modified(mtime)
        .expect("mtime");
    fs::rename(&staged, db).expect("rename");
}

/// pokervod.db put back from a backup after the index followed a later sync: the index sees
/// another file and content, reads both databases again, and answers like a rebuild.
#[test]
fn a_target_restored_from_a_backup_reads_both_databases_again() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mp4", 20);
    sync_at(&e, 1);
    let backup = e.target.with_extension("backup");
    copy_db(&e.target, &backup);
    let mut index = Index::open(&e.cfg).expect("open");
    put(&e.root, "WSOP/c.mp4", 30);
    sync_at(&e, 2);
    assert!(incremental(check(&e, &mut index, "a sync")));
    assert_eq!(item_status(&index, "WSOP/c.mp4"), pair("synced", "synced"));
    restore_db(&backup, &e.target);
    let r = check(&e, &mut index, "the Target restored from a backup");
    assert_eq!(r, Refresh::Rebuilt);
    assert_eq!(
        item_status(&index, "WSOP/c.mp4"),
        pair("new", "pending_insert")
    );
    // The next sync to the restored file is followed in place again.
    sync_at(&e, 3);
    let r = check(&e, &mut index, "a sync to the restored Target");
    assert!(incremental(r), "{r:?}");
    assert_eq!(item_status(&index, "WSOP/c.mp4"), pair("synced", "synced"));
}

/// archive.db put back from a backup, then jobs run until its journal numbers pass the batch
/// the index applied last (the index did not look in between): the same numbers in another
/// history. The index tells them apart by the batch's token and reads both databases again.
#[test]
fn an_archive_db_restored_from_a_backup_and_synced_past_the_index_reads_both_again() {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mp4", 20);
    sync_at(&e, 1);
    let backup = e.archive.with_extension("backup");
    copy_db(&e.archive, &backup);
    let mut index = Index::open(&e.cfg).expect("open");
    put(&e.root, "WSOP/c.mp4", 30);
    sync_at(&e, 2);
    rm(&e.root, "WSOP/a.mp4");
    sync_at(&e, 3);
    assert!(incremental(check(&e, &mut index, "two syncs")));
    let seq = |db: &Path| -> i64 {
        Connection::open(db)
            .expect("archive.db")
            .query_row("SELECT max(seq) FROM index_journal", [], |r| r.get(0))
            .expect("seq")
    };
    let applied = seq(&e.archive);
    restore_db(&backup, &e.archive);
    // Scans only (a sync's batch would also say the Target is not what the index had): a file
    // added, one removed, then one changed until the numbers pass the index's.
    put(&e.root, "HCL/after.mp4", 40);
    rm(&e.root, "WSOP/b.mp4");
    scan_only(&e, 4);
    let mut n = 0;
    while seq(&e.archive) <= applied {
        n += 1;
        put(&e.root, "WSOP/c.mp4", 30 + n);
        scan_only(&e, 4 + n as u32);
    }
    let r = check(
        &e,
        &mut index,
        "archive.db restored, then synced past the index",
    );
    assert_eq!(r, Refresh::Rebuilt, "{:?}", index.full_read);
    assert!(index.full_read.is_some());
    assert_eq!(
        item_status(&index, "WSOP/a.mp4"),
        pair("deleted", "deleted")
    );
}
