//! The 1:1 matching table (PRD 7.3), the tree view (PRD 7.4) and the dashboard, read through the
//! match index: real directory trees in temp dirs, a real archive.db and pokervod.db, driven by
//! `sync::run_sync` and `scan::run_scan` so every status comes from a real pending change.
//! Every search is asked through a per-call and a long-lived index (cached search columns), and all
//! answers must be identical.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use nas_sync_engine::index::{self, Index, SharedIndex};
use nas_sync_engine::matching::{self, MatchingPage, MatchingQuery};
use nas_sync_engine::query;
use nas_sync_engine::{Config, Error};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use unicode_normalization::UnicodeNormalization;

mod common;
use common::{
    Env, env_with, media_fixture as fixture, mv, put_bytes, put_sized as put, rm, scan_only,
    sync_at, sync_cfg,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The kit's env with two scan workers (the walk's parallel path runs too).
fn env() -> Env {
    env_with(|c| c.scan_workers = 2)
}

fn target_id(e: &Env, nas_path: &str) -> i64 {
    let c = Connection::open(&e.target).expect("open pokervod.db");
    c.query_row(
        "SELECT id FROM files WHERE nas_path = ?1",
        [nas_path],
        |r| r.get(0),
    )
    .unwrap_or_else(|err| panic!("no Target row at {nas_path}: {err}"))
}

fn target_status(e: &Env, nas_path: &str) -> String {
    let c = Connection::open(&e.target).expect("open pokervod.db");
    c.query_row(
        "SELECT status FROM files WHERE nas_path = ?1",
        [nas_path],
        |r| r.get(0),
    )
    .unwrap_or_else(|err| panic!("no Target row at {nas_path}: {err}"))
}

/// Source (archive.db) file id at `path`.
fn source_id(e: &Env, path: &str) -> i64 {
    let c = Connection::open(&e.archive).expect("open archive.db");
    c.query_row("SELECT id FROM files WHERE path = ?1", [path], |r| r.get(0))
        .unwrap_or_else(|err| panic!("no Source file at {path}: {err}"))
}

/// An edit of pokervod.db by another program.
fn outside_sql(e: &Env, sql: &str) {
    let c = Connection::open(&e.target).expect("open pokervod.db from outside");
    c.execute_batch(sql).expect("outside edit");
}

// ---------------------------------------------------------------------------------------------
// Query helpers
// ---------------------------------------------------------------------------------------------

fn q() -> MatchingQuery {
    MatchingQuery::default()
}

fn page_of(cfg: &Config, query: &MatchingQuery) -> MatchingPage {
    matching::matching(cfg, query).unwrap_or_else(|e| panic!("matching {query:?}: {e}"))
}

fn json_of(cfg: &Config, query: &MatchingQuery) -> Value {
    serde_json::to_value(page_of(cfg, query)).expect("serialize page")
}

/// The same query through a fresh per-call index and twice through one long-lived index (the
/// second call answers from the search columns cached by the first); all must give the same
/// JSON, which is returned.
fn both(cfg: &Config, query: &MatchingQuery) -> Value {
    let default = json_of(cfg, query);
    let index = Index::open(cfg).expect("open the match index");
    for round in ["first", "cached"] {
        let again = matching::matching_in(&index, query)
            .unwrap_or_else(|e| panic!("matching_in ({round}) {query:?}: {e}"));
        let again = serde_json::to_value(again).expect("serialize page");
        assert_eq!(
            default, again,
            "per-call and long-lived ({round}) answers disagree for {query:?}"
        );
    }
    default
}

/// Every item of a query, page after page (`per_page` as given), through both search paths.
fn all_pages(cfg: &Config, query: &MatchingQuery, per_page: u32) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let mut pq = query.clone();
        pq.page = Some(page);
        pq.per_page = Some(per_page);
        let v = both(cfg, &pq);
        let items = v["items"].as_array().expect("items").clone();
        if items.is_empty() {
            assert_eq!(
                out.len() as u64,
                v["total"].as_u64().expect("total"),
                "pages of {query:?} do not add up to total"
            );
            break;
        }
        out.extend(items);
    }
    out
}

/// The path an item stands for: the Source file's, or a Target-only row's.
fn item_path(item: &Value) -> String {
    match item["source"]["path"].as_str() {
        Some(p) => p.to_string(),
        None => item["target"]["nas_path"]
            .as_str()
            .unwrap_or_else(|| panic!("item without source or target: {item}"))
            .to_string(),
    }
}

fn paths(items: &[Value]) -> Vec<String> {
    items.iter().map(item_path).collect()
}

/// Paths of every item matching a search (all pages, both search paths).
fn search_paths(cfg: &Config, term: &str) -> Vec<String> {
    let query = MatchingQuery {
        search: Some(term.to_string()),
        ..q()
    };
    paths(&all_pages(cfg, &query, 200))
}

/// All items of the whole table, in path order, keyed by path; a Target-only row at a path a
/// Source file also has gets the key `"<path> (target)"`.
fn items_by_path(cfg: &Config) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for it in all_pages(cfg, &q(), 200) {
        let mut key = item_path(&it);
        if it["source"].is_null() && out.contains_key(&key) {
            key.push_str(" (target)");
        }
        assert!(out.insert(key.clone(), it).is_none(), "two items at {key}");
    }
    out
}

fn item<'a>(items: &'a BTreeMap<String, Value>, path: &str) -> &'a Value {
    items
        .get(path)
        .unwrap_or_else(|| panic!("no item at {path}; items: {:?}", items.keys()))
}

fn invalid_field(r: Result<MatchingPage, Error>) -> String {
    match r {
        Err(e @ Error::Invalid { .. }) => {
            assert_eq!(e.code(), "invalid_argument");
            match e {
                Error::Invalid { field, .. } => field,
                _ => unreachable!(),
            }
        }
        Err(other) => panic!("expected Error::Invalid, got {other:?}"),
        Ok(p) => panic!("expected Error::Invalid, got a page with {} items", p.total),
    }
}

fn summary_status(v: &Value, status: &str) -> u64 {
    v["summary"]["by_status"][status]
        .as_u64()
        .unwrap_or_else(|| panic!("summary.by_status.{status} missing: {}", v["summary"]))
}

// ---------------------------------------------------------------------------------------------
// Scenario with every status
// ---------------------------------------------------------------------------------------------

/// Hour 1: sync a first tree. Hour 2: two files disappear and two duplicates of `HCL/EP123.mp4`
/// appear; sync (soft-deletes the two rows). Hour 3: a file comes back, one disappears, one moves,
/// one grows, one is new; scan only, so those changes are pending.
fn every_status(probe: bool) -> Env {
    let mut e = env();
    e.cfg.probe_media = probe;
    put_bytes(
        &e.root,
        "WSOP/2024/ME_Day1.mp4",
        &fixture("h264_faststart.mp4"),
    );
    put(&e.root, "HCL/EP123.mp4", 2000);
    put_bytes(&e.root, "PAD/Special.mxf", &fixture("mpeg2.mxf"));
    put(&e.root, "PAD/gone_synced.mp4", 3001);
    put(&e.root, "PAD/back.mp4", 3002);
    put(&e.root, "PAD/gone_pending.mp4", 3003);
    put(&e.root, "WSOP/old/moved.mp4", 3004);
    put(&e.root, "WSOP/grow.mp4", 3005);
    put(&e.root, "WSOP/notes.srt", 10);
    put(&e.root, "readme.txt", 11);
    sync_at(&e, 1);

    rm(&e.root, "PAD/gone_synced.mp4");
    rm(&e.root, "PAD/back.mp4");
    put(&e.root, "HCL/Archive/EP123.mp4", 2100);
    put(&e.root, "HCL/Backup/EP123.mp4", 2200);
    sync_at(&e, 2);

    put(&e.root, "PAD/back.mp4", 3002);
    rm(&e.root, "PAD/gone_pending.mp4");
    mv(&e.root, "WSOP/old/moved.mp4", "WSOP/2025/moved.mp4");
    put(&e.root, "WSOP/grow.mp4", 4005);
    put(&e.root, "WSOP/new.mp4", 500);
    scan_only(&e, 3);
    e
}

#[test]
fn every_status_comes_from_a_real_scenario_with_its_reason_and_parts() {
    let e = every_status(true);
    let items = items_by_path(&e.cfg);
    let status_of: BTreeMap<&str, (&str, &str)> = items
        .iter()
        .map(|(p, it)| {
            (
                p.as_str(),
                (
                    it["status"].as_str().expect("status"),
                    it["reason_code"].as_str().expect("reason_code"),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<&str, (&str, &str)> = [
        ("HCL/Archive/EP123.mp4", ("duplicate", "duplicate_name")),
        ("HCL/Backup/EP123.mp4", ("duplicate", "duplicate_name")),
        (
            "HCL/EP123.mp4",
            ("synced_with_duplicates", "synced_with_duplicates"),
        ),
        ("PAD/Special.mxf", ("not_synced", "not_hls")),
        ("PAD/back.mp4", ("changed", "pending_restore")),
        ("PAD/gone_pending.mp4", ("deleted", "pending_delete")),
        ("PAD/gone_synced.mp4", ("deleted", "deleted")),
        ("WSOP/2024/ME_Day1.mp4", ("synced", "synced")),
        ("WSOP/2025/moved.mp4", ("changed", "pending_move")),
        ("WSOP/grow.mp4", ("changed", "pending_update")),
        ("WSOP/new.mp4", ("new", "pending_insert")),
        ("WSOP/notes.srt", ("not_synced", "subtitle")),
        ("readme.txt", ("not_synced", "not_video")),
    ]
    .into_iter()
    .collect();
    assert_eq!(status_of, expected, "statuses and reason codes");
    for (p, it) in &items {
        let reason = it["reason"].as_str().expect("reason");
        assert!(
            reason
                .chars()
                .any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)),
            "{p}: reason should be Korean, got {reason:?}"
        );
    }

    // synced: Source part with the probed media, Target part of the row at the same path.
    let me = item(&items, "WSOP/2024/ME_Day1.mp4");
    assert_eq!(
        me["source"]["id"],
        json!(source_id(&e, "WSOP/2024/ME_Day1.mp4"))
    );
    assert_eq!(
        me["source"]["size_bytes"],
        json!(fixture("h264_faststart.mp4").len())
    );
    assert_eq!(me["source"]["codec"], json!("h264"), "{me}");
    assert_eq!(me["source"]["resolution"], json!("320x240"), "{me}");
    let dur = me["source"]["duration_sec"].as_f64().expect("duration");
    assert!((dur - 1.0).abs() < 0.2, "duration {dur}");
    assert_eq!(
        me["target"],
        json!({
            "id": target_id(&e, "WSOP/2024/ME_Day1.mp4"),
            "nas_path": "WSOP/2024/ME_Day1.mp4",
            "size_bytes": fixture("h264_faststart.mp4").len(),
            "hls_compatible": true,
            "status": "active",
        })
    );
    assert_eq!(me["duplicates"], json!([]));
    assert!(me.get("primary").is_none(), "{me}");
    assert_eq!(me["catalog"], json!("WSOP"));

    // synced_with_duplicates names the others; each duplicate names its primary.
    let ep = item(&items, "HCL/EP123.mp4");
    assert_eq!(
        ep["duplicates"],
        json!([
            {"id": source_id(&e, "HCL/Archive/EP123.mp4"), "path": "HCL/Archive/EP123.mp4"},
            {"id": source_id(&e, "HCL/Backup/EP123.mp4"), "path": "HCL/Backup/EP123.mp4"},
        ])
    );
    assert_eq!(ep["target"]["id"], json!(target_id(&e, "HCL/EP123.mp4")));
    for dup in ["HCL/Archive/EP123.mp4", "HCL/Backup/EP123.mp4"] {
        let d = item(&items, dup);
        assert_eq!(
            d["primary"],
            json!({"id": source_id(&e, "HCL/EP123.mp4"), "path": "HCL/EP123.mp4"}),
            "{dup}"
        );
        assert!(d["target"].is_null(), "{dup}: {d}");
        assert_eq!(d["duplicates"], json!([]), "{dup}");
        assert!(
            d["reason"]
                .as_str()
                .expect("reason")
                .contains("HCL/EP123.mp4"),
            "{d}"
        );
    }

    // new: no Target part.
    let new = item(&items, "WSOP/new.mp4");
    assert!(new["target"].is_null(), "{new}");
    assert_eq!(new["source"]["size_bytes"], json!(500));
    assert_eq!(new["source"]["id"], json!(source_id(&e, "WSOP/new.mp4")));

    // changed, pending_move: the row still holds the old path and keeps its id.
    let moved = item(&items, "WSOP/2025/moved.mp4");
    let moved_row = target_id(&e, "WSOP/old/moved.mp4");
    assert_eq!(moved["target"]["id"], json!(moved_row));
    assert_eq!(moved["target"]["nas_path"], json!("WSOP/old/moved.mp4"));
    assert_eq!(moved["target"]["status"], json!("active"));
    assert!(
        moved["reason"]
            .as_str()
            .expect("reason")
            .contains("WSOP/old/moved.mp4"),
        "{moved}"
    );

    // changed, pending_update: a size change, both sizes shown.
    let grow = item(&items, "WSOP/grow.mp4");
    assert_eq!(grow["source"]["size_bytes"], json!(4005));
    assert_eq!(grow["target"]["size_bytes"], json!(3005));
    assert_eq!(grow["target"]["id"], json!(target_id(&e, "WSOP/grow.mp4")));
    assert!(
        grow["reason"]
            .as_str()
            .expect("reason")
            .contains("크기 변경"),
        "{grow}"
    );

    // changed, pending_restore: the soft-deleted row at the same path.
    let back = item(&items, "PAD/back.mp4");
    assert_eq!(back["target"]["id"], json!(target_id(&e, "PAD/back.mp4")));
    assert_eq!(back["target"]["status"], json!("deleted"));

    // deleted: Target-only rows, soft-deleted by the last sync or by the next one.
    let gone = item(&items, "PAD/gone_synced.mp4");
    assert!(gone["source"].is_null(), "{gone}");
    assert_eq!(gone["target"]["status"], json!("deleted"));
    assert_eq!(
        gone["target"]["id"],
        json!(target_id(&e, "PAD/gone_synced.mp4"))
    );
    assert_eq!(target_status(&e, "PAD/gone_synced.mp4"), "deleted");
    let pending = item(&items, "PAD/gone_pending.mp4");
    assert!(pending["source"].is_null(), "{pending}");
    assert_eq!(pending["target"]["status"], json!("active"));
    assert_eq!(pending["target"]["size_bytes"], json!(3003));
    assert_eq!(target_status(&e, "PAD/gone_pending.mp4"), "active");

    // not_synced: the PRD's mxf reason, no Target part.
    let mxf = item(&items, "PAD/Special.mxf");
    assert_eq!(mxf["reason"], json!("HLS 비호환 (mxf)"));
    assert!(mxf["target"].is_null(), "{mxf}");
    assert_eq!(item(&items, "readme.txt")["catalog"], json!("ARCHIVE"));
}

#[test]
fn matching_json_has_the_prd_7_3_field_names() {
    let e = every_status(false);
    let v = json_of(&e.cfg, &q());
    for key in ["total", "page", "per_page", "items", "summary"] {
        assert!(v.get(key).is_some(), "top-level `{key}` missing: {v}");
    }
    assert_eq!(v["total"], json!(13));
    assert_eq!(v["page"], json!(1));
    assert_eq!(v["per_page"], json!(20), "default per_page");
    let s = &v["summary"];
    assert_eq!(
        s["synced"],
        json!(2),
        "synced + synced_with_duplicates: {s}"
    );
    assert_eq!(s["not_synced"], json!(3), "{s}");
    assert_eq!(s["duplicates_excluded"], json!(2), "{s}");
    assert_eq!(s["new"], json!(1), "{s}");
    assert_eq!(s["changed"], json!(3), "{s}");
    assert_eq!(s["deleted"], json!(2), "{s}");
    let by: u64 = ["synced", "synced_with_duplicates"]
        .iter()
        .map(|st| summary_status(&v, st))
        .sum();
    assert_eq!(by, 2);
    for it in v["items"].as_array().expect("items") {
        for key in [
            "status",
            "source",
            "target",
            "duplicates",
            "reason",
            "reason_code",
        ] {
            assert!(it.get(key).is_some(), "item field `{key}` missing: {it}");
        }
        if let Some(src) = it["source"].as_object() {
            for key in [
                "id",
                "path",
                "size_bytes",
                "codec",
                "resolution",
                "duration_sec",
            ] {
                assert!(src.contains_key(key), "source.{key} missing: {it}");
            }
        }
        if let Some(t) = it["target"].as_object() {
            for key in ["id", "nas_path", "size_bytes", "hls_compatible", "status"] {
                assert!(t.contains_key(key), "target.{key} missing: {it}");
            }
            assert!(t["hls_compatible"].is_boolean(), "{it}");
        }
        assert_eq!(
            it.get("primary").is_some(),
            it["status"] == json!("duplicate"),
            "`primary` only on duplicates: {it}"
        );
    }
}

#[test]
fn the_next_sync_does_what_the_pending_statuses_announced() {
    let e = every_status(false);
    let before = items_by_path(&e.cfg);
    sync_at(&e, 4);
    let after = items_by_path(&e.cfg);
    // Changed rows keep their Target id; the new file gets one; the pending delete is done.
    for p in ["WSOP/2025/moved.mp4", "WSOP/grow.mp4", "PAD/back.mp4"] {
        assert_eq!(item(&after, p)["status"], json!("synced"), "{p}");
        assert_eq!(
            item(&after, p)["target"]["id"],
            item(&before, p)["target"]["id"],
            "{p} keeps its row"
        );
        assert_eq!(item(&after, p)["target"]["nas_path"], json!(p));
    }
    assert_eq!(item(&after, "WSOP/new.mp4")["status"], json!("synced"));
    assert_eq!(
        item(&after, "WSOP/new.mp4")["target"]["id"],
        json!(target_id(&e, "WSOP/new.mp4"))
    );
    let gone = item(&after, "PAD/gone_pending.mp4");
    assert_eq!(
        (gone["status"].as_str(), gone["reason_code"].as_str()),
        (Some("deleted"), Some("deleted"))
    );
    assert_eq!(target_status(&e, "PAD/gone_pending.mp4"), "deleted");
    assert!(
        !after.contains_key("WSOP/old/moved.mp4"),
        "a re-pointed row is not a deleted item"
    );
    let v = json_of(&e.cfg, &q());
    assert_eq!(v["summary"]["new"], json!(0));
    assert_eq!(v["summary"]["changed"], json!(0));
}

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

#[test]
fn pagination_last_page_page_past_the_end_and_invalid_arguments() {
    let e = env();
    for i in 0..7 {
        put(&e.root, &format!("WSOP/f{i}.mp4"), 100 + i);
    }
    sync_at(&e, 1);
    let all = paths(&all_pages(&e.cfg, &q(), 200));
    assert_eq!(all.len(), 7);

    let p3 = json_of(
        &e.cfg,
        &MatchingQuery {
            page: Some(3),
            per_page: Some(3),
            ..q()
        },
    );
    assert_eq!(p3["total"], json!(7));
    assert_eq!(p3["pages"], json!(3));
    assert_eq!(
        paths(p3["items"].as_array().expect("items")),
        vec![all[6].clone()],
        "the last page holds the rest"
    );
    let past = json_of(
        &e.cfg,
        &MatchingQuery {
            page: Some(4),
            per_page: Some(3),
            ..q()
        },
    );
    assert_eq!(past["items"], json!([]));
    assert_eq!(
        past["total"],
        json!(7),
        "a page past the end keeps the total"
    );
    assert_eq!(past["page"], json!(4));
    let far = json_of(
        &e.cfg,
        &MatchingQuery {
            page: Some(u32::MAX),
            per_page: Some(200),
            ..q()
        },
    );
    assert_eq!(far["items"], json!([]));
    assert_eq!(far["total"], json!(7));
    // Past the end with a status filter and with a search too.
    let past_status = json_of(
        &e.cfg,
        &MatchingQuery {
            status: Some("synced".into()),
            page: Some(2),
            per_page: Some(7),
            ..q()
        },
    );
    assert_eq!(past_status["items"], json!([]));
    assert_eq!(past_status["total"], json!(7));
    let past_search = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("f".into()),
            page: Some(9),
            per_page: Some(1),
            ..q()
        },
    );
    assert_eq!(past_search["items"], json!([]));
    assert_eq!(past_search["total"], json!(7));

    // per_page bounds: 200 fine, 201 and 0 refused with the field named.
    let max = json_of(
        &e.cfg,
        &MatchingQuery {
            per_page: Some(200),
            ..q()
        },
    );
    assert_eq!(max["per_page"], json!(200));
    for bad in [201, 0, u32::MAX] {
        let r = matching::matching(
            &e.cfg,
            &MatchingQuery {
                per_page: Some(bad),
                ..q()
            },
        );
        assert_eq!(invalid_field(r), "per_page", "per_page {bad}");
    }
    let r = matching::matching(
        &e.cfg,
        &MatchingQuery {
            page: Some(0),
            ..q()
        },
    );
    assert_eq!(invalid_field(r), "page");
    let r = matching::matching(
        &e.cfg,
        &MatchingQuery {
            status: Some("bogus".into()),
            ..q()
        },
    );
    assert_eq!(invalid_field(r), "status");
    let r = matching::matching(
        &e.cfg,
        &MatchingQuery {
            status: Some("Synced".into()),
            ..q()
        },
    );
    assert_eq!(invalid_field(r), "status", "status values are exact");
    let r = matching::matching(
        &e.cfg,
        &MatchingQuery {
            sort: Some("name".into()),
            ..q()
        },
    );
    assert_eq!(invalid_field(r), "sort");
    // An unknown catalog is not an error: it has no items.
    let none = json_of(
        &e.cfg,
        &MatchingQuery {
            catalog: Some("NOPE".into()),
            ..q()
        },
    );
    assert_eq!(none["total"], json!(0));
    assert_eq!(none["items"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Sorting
// ---------------------------------------------------------------------------------------------

/// Names whose byte order differs from a case-insensitive or locale order (and no two with the
/// same name, so every file is its own primary).
fn sort_scenario() -> Env {
    let e = env();
    // (path, size)
    for (p, size) in [
        ("ORD/B.mp4", 30),
        ("ORD/a.mp4", 10),
        ("ORD/_u.mp4", 20),
        ("ORD/한.mp4", 10),
        ("ORD/é.mp4", 40),
        ("ORD/Z.mp4", 20),
        ("ORD/10.mp4", 50),
        ("ORD/9.mp4", 10),
        ("ORD/a-b.mp4", 30),
        ("ORD/a/c.mp4", 20),
        ("Alpha/x.mp4", 60),
        ("beta/y.mkv", 10),
        ("가/zz.mp4", 20),
        ("top.mp4", 30),
    ] {
        put(&e.root, p, size);
    }
    sync_at(&e, 1);
    put(&e.root, "ORD/later.mp4", 20);
    rm(&e.root, "ORD/Z.mp4");
    scan_only(&e, 2);
    e
}

#[test]
fn path_order_is_byte_order() {
    let e = sort_scenario();
    let got = paths(&all_pages(&e.cfg, &q(), 200));
    let expected = vec![
        "Alpha/x.mp4",
        "ORD/10.mp4",
        "ORD/9.mp4",
        "ORD/B.mp4",
        "ORD/Z.mp4",
        "ORD/_u.mp4",
        "ORD/a-b.mp4",
        "ORD/a.mp4",
        "ORD/a/c.mp4",
        "ORD/later.mp4",
        "ORD/é.mp4",
        "ORD/한.mp4",
        "beta/y.mkv",
        "top.mp4",
        "가/zz.mp4",
    ];
    assert_eq!(got, expected, "path sort must be byte order");
    let desc = paths(&all_pages(
        &e.cfg,
        &MatchingQuery { desc: true, ..q() },
        200,
    ));
    let mut rev = expected.clone();
    rev.reverse();
    assert_eq!(desc, rev, "desc path sort is the exact reverse");
    // The deleted (Target-only) row sorts in place by its path.
    let z = &all_pages(&e.cfg, &q(), 200)[4];
    assert_eq!(z["status"], json!("deleted"), "{z}");
}

fn size_of(it: &Value) -> i64 {
    it["source"]["size_bytes"]
        .as_i64()
        .or_else(|| it["target"]["size_bytes"].as_i64())
        .expect("size")
}

#[test]
fn size_sort_ties_by_path_and_desc_reverses() {
    let e = sort_scenario();
    let asc = all_pages(
        &e.cfg,
        &MatchingQuery {
            sort: Some("size".into()),
            ..q()
        },
        200,
    );
    let got: Vec<(i64, String)> = asc.iter().map(|it| (size_of(it), item_path(it))).collect();
    let expected: Vec<(i64, String)> = [
        (10, "ORD/9.mp4"),
        (10, "ORD/a.mp4"),
        (10, "ORD/한.mp4"),
        (10, "beta/y.mkv"),
        (20, "ORD/Z.mp4"),
        (20, "ORD/_u.mp4"),
        (20, "ORD/a/c.mp4"),
        (20, "ORD/later.mp4"),
        (20, "가/zz.mp4"),
        (30, "ORD/B.mp4"),
        (30, "ORD/a-b.mp4"),
        (30, "top.mp4"),
        (40, "ORD/é.mp4"),
        (50, "ORD/10.mp4"),
        (60, "Alpha/x.mp4"),
    ]
    .into_iter()
    .map(|(s, p)| (s, p.to_string()))
    .collect();
    assert_eq!(got, expected, "size ascending, ties in path byte order");
    let desc = all_pages(
        &e.cfg,
        &MatchingQuery {
            sort: Some("size".into()),
            desc: true,
            ..q()
        },
        200,
    );
    let got_desc: Vec<(i64, String)> = desc.iter().map(|it| (size_of(it), item_path(it))).collect();
    let mut rev = expected.clone();
    rev.reverse();
    assert_eq!(got_desc, rev, "size descending is the exact reverse");
    // A status filter keeps the order.
    let synced = paths(&all_pages(
        &e.cfg,
        &MatchingQuery {
            sort: Some("size".into()),
            status: Some("synced".into()),
            ..q()
        },
        200,
    ));
    let expected_synced: Vec<String> = expected
        .iter()
        .map(|(_, p)| p.clone())
        .filter(|p| !["beta/y.mkv", "ORD/Z.mp4", "ORD/later.mp4"].contains(&p.as_str()))
        .collect();
    assert_eq!(synced, expected_synced);
}

#[test]
fn every_page_concatenated_equals_the_full_sorted_list_for_every_sort() {
    let e = sort_scenario();
    let status_rank = |s: &str| -> usize {
        [
            "synced",
            "synced_with_duplicates",
            "new",
            "changed",
            "deleted",
            "duplicate",
            "not_synced",
        ]
        .iter()
        .position(|x| *x == s)
        .expect("known status")
    };
    for sort in ["path", "size", "mtime", "catalog", "status"] {
        for desc in [false, true] {
            for search in [None, Some("o")] {
                let query = MatchingQuery {
                    sort: Some(sort.into()),
                    desc,
                    search: search.map(str::to_string),
                    ..q()
                };
                let full = all_pages(&e.cfg, &query, 200);
                for per_page in [1, 2, 4] {
                    let paged = all_pages(&e.cfg, &query, per_page);
                    assert_eq!(
                        paths(&paged),
                        paths(&full),
                        "sort={sort} desc={desc} search={search:?} per_page={per_page}"
                    );
                }
                // The full list is ordered by the key, ties by path bytes; desc reverses both.
                let key = |it: &Value| -> (String, String) {
                    let k = match sort {
                        "size" => format!("{:020}", size_of(it)),
                        "mtime" => format!("{:020}", it["source"]["mtime"].as_i64().unwrap_or(0)),
                        "catalog" => it["catalog"].as_str().expect("catalog").to_string(),
                        "status" => status_rank(it["status"].as_str().expect("status")).to_string(),
                        _ => String::new(),
                    };
                    (k, item_path(it))
                };
                let keys: Vec<(String, String)> = full.iter().map(key).collect();
                let mut sorted = keys.clone();
                sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
                if desc {
                    sorted.reverse();
                }
                assert_eq!(keys, sorted, "sort={sort} desc={desc} search={search:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

fn nfd(s: &str) -> String {
    s.nfd().collect()
}

fn nfc(s: &str) -> String {
    s.nfc().collect()
}

/// A name with `"`, which Windows does not allow (the Wine run of these tests leaves it out).
const QUOTED: Option<&str> = if cfg!(windows) {
    None
} else {
    Some("HCL/say \"hi\".mp4")
};

fn search_scenario() -> Env {
    let e = env();
    let nfd_dir = nfd("한국");
    let nfd_file = nfd("하나.mp4");
    assert_ne!(nfd_file, "하나.mp4", "the NFD name is decomposed");
    let nfd_path = format!("PAD/{nfd_dir}/{nfd_file}");
    for p in [
        "WSOP/2024/ME_Day1.mp4",
        "WSOP/2024/me_day2.mp4",
        "WSOP/2024/MEx_Day3.mp4",
        "WSOP/2023/ME_Day1.mp4",
        "WSOP/2024ME_x.mp4",
        "HCL/Final 50% off.mp4",
        "HCL/Final 500.mp4",
        "HCL/a_b.mp4",
        "HCL/axb.mp4",
        "HCL/it's.mp4",
        "HCL/MiXeD Case.mp4",
        nfd_path.as_str(),
        "PAD/두울.mp4",
        "GGM/Season Finale/ep1.mp4",
        "GGM/Season Finale/sub/ep2.mkv",
        "GGM/ep3.mp4",
    ] {
        put(&e.root, p, 100);
    }
    if let Some(p) = QUOTED {
        put(&e.root, p, 100);
    }
    sync_at(&e, 1);
    put(&e.root, "GGM/Season Finale/ep4.mp4", 100);
    put(&e.root, "GGM/ep5.mp4", 100);
    scan_only(&e, 2);
    e
}

fn sorted(v: Vec<String>) -> Vec<String> {
    let mut v = v;
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn search_is_case_insensitive() {
    let e = search_scenario();
    for term in ["mixed", "MIXED", "MiXeD cAsE"] {
        assert_eq!(
            sorted(search_paths(&e.cfg, term)),
            strs(&["HCL/MiXeD Case.mp4"]),
            "term {term:?}"
        );
    }
    assert_eq!(
        sorted(search_paths(&e.cfg, "ME_DAY1")),
        strs(&["WSOP/2023/ME_Day1.mp4", "WSOP/2024/ME_Day1.mp4"])
    );
    assert_eq!(
        sorted(search_paths(&e.cfg, "wsop/2024/me_DAY2")),
        strs(&["WSOP/2024/me_day2.mp4"])
    );
    assert!(search_paths(&e.cfg, "no such thing").is_empty());
    // An empty term is no filter.
    assert_eq!(search_paths(&e.cfg, "").len(), 18 + QUOTED.iter().count());
}

#[test]
fn search_is_blind_to_nfc_and_nfd() {
    let e = search_scenario();
    let nfd_path = format!("PAD/{}/{}", nfd("한국"), nfd("하나.mp4"));
    // NFC query, NFD name on disk (file name, directory name, both across the `/`).
    for term in [
        nfc("하나"),
        nfd("하나"),
        nfc("한국"),
        nfd("한국"),
        nfc("한국/하"),
        nfd("한국/하나.MP4"),
        nfc("pad/한국/"),
    ] {
        assert_eq!(
            search_paths(&e.cfg, &term),
            vec![nfd_path.clone()],
            "term {term:?} ({:?})",
            term.as_bytes()
        );
    }
    // NFD query, NFC name on disk.
    for term in [nfd("두울"), nfc("두울"), nfd("PAD/두")] {
        assert_eq!(
            search_paths(&e.cfg, &term),
            vec!["PAD/두울.mp4".to_string()],
            "term {term:?}"
        );
    }
    // The item keeps its path exactly as on disk.
    let v = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("하나".into()),
            ..q()
        },
    );
    assert_eq!(v["items"][0]["source"]["path"], json!(nfd_path));
}

#[test]
fn search_takes_percent_underscore_and_quotes_literally() {
    let e = search_scenario();
    assert_eq!(search_paths(&e.cfg, "50%"), vec!["HCL/Final 50% off.mp4"]);
    assert_eq!(search_paths(&e.cfg, "%"), vec!["HCL/Final 50% off.mp4"]);
    assert_eq!(search_paths(&e.cfg, "a_b"), vec!["HCL/a_b.mp4"]);
    assert_eq!(
        sorted(search_paths(&e.cfg, "me_")),
        strs(&[
            "WSOP/2023/ME_Day1.mp4",
            "WSOP/2024/ME_Day1.mp4",
            "WSOP/2024/me_day2.mp4",
            "WSOP/2024ME_x.mp4",
        ]),
        "`_` is not a wildcard: MEx_Day3 does not match `me_`"
    );
    assert_eq!(search_paths(&e.cfg, "it's"), vec!["HCL/it's.mp4"]);
    assert_eq!(search_paths(&e.cfg, "'"), vec!["HCL/it's.mp4"]);
    let quoted: Vec<String> = QUOTED.iter().map(|p| p.to_string()).collect();
    assert_eq!(search_paths(&e.cfg, "\"hi\""), quoted);
    assert_eq!(search_paths(&e.cfg, "\""), quoted);
    assert_eq!(search_paths(&e.cfg, "' OR 1=1 --"), Vec::<String>::new());
    assert_eq!(search_paths(&e.cfg, "\\"), Vec::<String>::new());
}

#[test]
fn search_spans_a_directory_and_a_file_name_and_matches_inside_directory_names() {
    let e = search_scenario();
    assert_eq!(
        sorted(search_paths(&e.cfg, "2024/me_")),
        strs(&["WSOP/2024/ME_Day1.mp4", "WSOP/2024/me_day2.mp4"])
    );
    assert_eq!(
        sorted(search_paths(&e.cfg, "4/ME_D")),
        strs(&["WSOP/2024/ME_Day1.mp4", "WSOP/2024/me_day2.mp4"])
    );
    assert_eq!(
        sorted(search_paths(&e.cfg, "p/2024/me")),
        strs(&[
            "WSOP/2024/ME_Day1.mp4",
            "WSOP/2024/MEx_Day3.mp4",
            "WSOP/2024/me_day2.mp4",
        ])
    );
    // A term inside a directory name matches every file below it, at any depth.
    assert_eq!(
        sorted(search_paths(&e.cfg, "finale")),
        strs(&[
            "GGM/Season Finale/ep1.mp4",
            "GGM/Season Finale/ep4.mp4",
            "GGM/Season Finale/sub/ep2.mkv",
        ])
    );
    assert_eq!(
        sorted(search_paths(&e.cfg, "ason fin")),
        sorted(search_paths(&e.cfg, "finale"))
    );
    assert_eq!(
        sorted(search_paths(&e.cfg, "finale/sub/")),
        strs(&["GGM/Season Finale/sub/ep2.mkv"])
    );
    assert_eq!(
        sorted(search_paths(&e.cfg, "finale/ep")),
        strs(&["GGM/Season Finale/ep1.mp4", "GGM/Season Finale/ep4.mp4"])
    );
    // The catalog name is part of the path.
    assert_eq!(search_paths(&e.cfg, "ggm/").len(), 5);
    assert_eq!(search_paths(&e.cfg, "wsop").len(), 5);
    // A `/` that is not in any path finds nothing; a file name alone is not a directory.
    assert!(search_paths(&e.cfg, "ep1.mp4/").is_empty());
    assert!(search_paths(&e.cfg, "2024me_x.mp4/x").is_empty());
    assert_eq!(search_paths(&e.cfg, "2024me"), vec!["WSOP/2024ME_x.mp4"]);
    // The root-level part: `/` before a name matches files in a directory only.
    assert_eq!(
        sorted(search_paths(&e.cfg, "/ep")),
        strs(&[
            "GGM/Season Finale/ep1.mp4",
            "GGM/Season Finale/ep4.mp4",
            "GGM/Season Finale/sub/ep2.mkv",
            "GGM/ep3.mp4",
            "GGM/ep5.mp4",
        ])
    );
}

#[test]
fn search_combines_with_status_and_catalog_filters() {
    let e = search_scenario();
    let base = MatchingQuery {
        search: Some("ep".into()),
        catalog: Some("GGM".into()),
        ..q()
    };
    let v = both(&e.cfg, &base);
    assert_eq!(
        sorted(paths(v["items"].as_array().expect("items"))),
        strs(&[
            "GGM/Season Finale/ep1.mp4",
            "GGM/Season Finale/ep4.mp4",
            "GGM/Season Finale/sub/ep2.mkv",
            "GGM/ep3.mp4",
            "GGM/ep5.mp4",
        ])
    );
    assert_eq!(v["total"], json!(5));
    assert_eq!(v["summary"]["synced"], json!(2));
    assert_eq!(v["summary"]["new"], json!(2));
    assert_eq!(v["summary"]["not_synced"], json!(1));
    for (status, expected) in [
        ("new", vec!["GGM/Season Finale/ep4.mp4", "GGM/ep5.mp4"]),
        ("not_synced", vec!["GGM/Season Finale/sub/ep2.mkv"]),
        ("synced", vec!["GGM/Season Finale/ep1.mp4", "GGM/ep3.mp4"]),
        ("deleted", vec![]),
    ] {
        let sq = MatchingQuery {
            status: Some(status.into()),
            ..base.clone()
        };
        let sv = both(&e.cfg, &sq);
        assert_eq!(
            sorted(paths(sv["items"].as_array().expect("items"))),
            strs(&expected),
            "status {status}"
        );
        assert_eq!(sv["total"], json!(expected.len()), "status {status}");
        assert_eq!(
            sv["summary"], v["summary"],
            "the summary ignores the status filter"
        );
        assert_eq!(
            paths(&all_pages(&e.cfg, &sq, 1)),
            paths(sv["items"].as_array().expect("items")),
            "status {status} paged one by one"
        );
    }
    // The same term in another catalog, and in none.
    let hcl = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("final".into()),
            catalog: Some("GGM".into()),
            ..q()
        },
    );
    assert_eq!(
        sorted(paths(hcl["items"].as_array().expect("items"))),
        strs(&[
            "GGM/Season Finale/ep1.mp4",
            "GGM/Season Finale/ep4.mp4",
            "GGM/Season Finale/sub/ep2.mkv",
        ])
    );
    let hcl_only = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("final".into()),
            catalog: Some("HCL".into()),
            ..q()
        },
    );
    assert_eq!(
        sorted(paths(hcl_only["items"].as_array().expect("items"))),
        strs(&["HCL/Final 50% off.mp4", "HCL/Final 500.mp4"])
    );
    assert_eq!(hcl_only["summary"]["synced"], json!(2));
    assert_eq!(hcl_only["summary"]["new"], json!(0));
    let unknown = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("final".into()),
            catalog: Some("NOPE".into()),
            ..q()
        },
    );
    assert_eq!(unknown["total"], json!(0));
    // Sorted searches agree between the two paths as well (`both` checks), pages included.
    let by_status = all_pages(
        &e.cfg,
        &MatchingQuery {
            search: Some("e".into()),
            sort: Some("status".into()),
            desc: true,
            ..q()
        },
        3,
    );
    assert!(by_status.len() > 3, "{by_status:?}");
}

#[test]
fn search_finds_target_only_rows_and_a_lone_slash_finds_every_file_in_a_directory() {
    let e = every_status(false);
    let gone = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("GONE_".into()),
            ..q()
        },
    );
    let items = gone["items"].as_array().expect("items");
    assert_eq!(
        paths(items),
        vec!["PAD/gone_pending.mp4", "PAD/gone_synced.mp4"]
    );
    assert!(items.iter().all(|it| it["status"] == json!("deleted")));
    assert_eq!(gone["summary"]["deleted"], json!(2));
    let codes: Vec<&str> = items
        .iter()
        .map(|it| it["reason_code"].as_str().expect("reason_code"))
        .collect();
    assert_eq!(codes, vec!["pending_delete", "deleted"]);
    // A duplicate found by search still names its primary; the primary lists its duplicates.
    let ep = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("backup/ep".into()),
            ..q()
        },
    );
    assert_eq!(ep["total"], json!(1));
    assert_eq!(ep["items"][0]["primary"]["path"], json!("HCL/EP123.mp4"));
    let primary = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("hcl/ep123".into()),
            ..q()
        },
    );
    assert_eq!(primary["total"], json!(1));
    assert_eq!(
        primary["items"][0]["duplicates"]
            .as_array()
            .expect("duplicates")
            .len(),
        2
    );
    // `/` is in every path but those of files in the root.
    let all = paths(&all_pages(&e.cfg, &q(), 200));
    let in_dirs: Vec<String> = all.into_iter().filter(|p| p.contains('/')).collect();
    assert_eq!(search_paths(&e.cfg, "/"), in_dirs);
    assert_eq!(search_paths(&e.cfg, "/readme"), Vec::<String>::new());
    assert_eq!(search_paths(&e.cfg, "readme"), vec!["readme.txt"]);
}

// ---------------------------------------------------------------------------------------------
// Tree
// ---------------------------------------------------------------------------------------------

fn node_counts(v: &Value) -> [u64; 6] {
    [
        "total_files",
        "synced",
        "not_synced",
        "duplicates",
        "new",
        "changed",
    ]
    .map(|k| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("count `{k}` missing: {v}"))
    })
}

fn summary_counts(v: &Value) -> [u64; 6] {
    let s = &v["summary"];
    let g = |k: &str| s[k].as_u64().expect("summary count");
    [
        v["total"].as_u64().expect("total") - g("deleted"),
        g("synced"),
        g("not_synced"),
        g("duplicates_excluded"),
        g("new"),
        g("changed"),
    ]
}

/// Every file of a tree node and below, as (full path, file JSON).
fn tree_files(node: &Value, dir: &str, out: &mut Vec<(String, Value)>) {
    for f in node["files"].as_array().expect("files") {
        let name = f["name"].as_str().expect("file name");
        let p = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        out.push((p, f.clone()));
    }
    for c in node["children"].as_array().expect("children") {
        assert_eq!(c["type"], json!("directory"), "{c}");
        let path = c["path"].as_str().expect("dir path");
        let name = c["name"].as_str().expect("dir name");
        let expected = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        assert_eq!(path, expected, "directory path");
        tree_files(c, path, out);
    }
}

#[test]
fn full_tree_aggregates_equal_the_matching_counts() {
    let e = every_status(false);
    let tree = serde_json::to_value(matching::tree(&e.cfg).expect("tree")).expect("json");
    let cats = tree["catalogs"].as_array().expect("catalogs");
    let names: BTreeSet<&str> = cats
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, BTreeSet::from(["ARCHIVE", "HCL", "PAD", "WSOP"]));
    let all = json_of(&e.cfg, &q());
    let mut sum = [0u64; 6];
    let mut files = Vec::new();
    for c in cats {
        for key in [
            "name",
            "total_files",
            "synced",
            "not_synced",
            "duplicates",
            "new",
            "changed",
            "children",
            "files",
        ] {
            assert!(c.get(key).is_some(), "catalog field `{key}` missing: {c}");
        }
        let name = c["name"].as_str().expect("name");
        let per_cat = json_of(
            &e.cfg,
            &MatchingQuery {
                catalog: Some(name.into()),
                ..q()
            },
        );
        assert_eq!(
            node_counts(c),
            summary_counts(&per_cat),
            "catalog {name}: tree counts vs matching summary"
        );
        for (s, n) in sum.iter_mut().zip(node_counts(c)) {
            *s += n;
        }
        let dir = if name == "ARCHIVE" { "" } else { name };
        tree_files(c, dir, &mut files);
    }
    assert_eq!(
        sum,
        summary_counts(&all),
        "sum over catalogs vs matching totals"
    );
    let dash = serde_json::to_value(query::dashboard(&e.cfg).expect("dashboard")).expect("json");
    assert_eq!(json!(sum[0]), dash["source"]["total_files"]);

    // Every matching item is one tree file, with the same status; files directly in a catalog sit
    // in the catalog's files.
    let items = items_by_path(&e.cfg);
    assert_eq!(files.len(), items.len(), "tree files vs matching items");
    for (p, f) in &files {
        let it = item(&items, p);
        assert_eq!(f["status"], it["status"], "{p}");
        assert_eq!(f["reason"], it["reason"], "{p}");
        assert_eq!(f["source_id"], it["source"]["id"].clone(), "{p}");
        let tid = if it["target"].is_null() {
            Value::Null
        } else {
            it["target"]["id"].clone()
        };
        assert_eq!(f["target_id"], tid, "{p}");
        assert_eq!(json!(size_of(it)), f["size_bytes"], "{p}");
    }
    let wsop = cats
        .iter()
        .find(|c| c["name"] == json!("WSOP"))
        .expect("WSOP");
    let dir = &wsop["children"][0];
    for key in [
        "name",
        "type",
        "path",
        "total_files",
        "synced",
        "not_synced",
        "duplicates",
        "new",
        "changed",
        "children",
        "files",
    ] {
        assert!(
            dir.get(key).is_some(),
            "directory field `{key}` missing: {dir}"
        );
    }
    assert_eq!(
        (&dir["name"], &dir["type"], &dir["path"]),
        (&json!("2024"), &json!("directory"), &json!("WSOP/2024"))
    );
    let file = &dir["files"][0];
    for key in [
        "name",
        "source_id",
        "target_id",
        "status",
        "size_bytes",
        "reason",
    ] {
        assert!(
            file.get(key).is_some(),
            "file field `{key}` missing: {file}"
        );
    }
    assert_eq!(file["name"], json!("ME_Day1.mp4"));
    let direct: Vec<&str> = wsop["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(direct, vec!["grow.mp4", "new.mp4", "notes.srt"]);
    let children: Vec<&str> = wsop["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(children, vec!["2024", "2025"], "no empty `old` directory");
    assert_eq!(
        wsop["not_synced"],
        json!(1),
        "not_synced counts non-eligible files only"
    );
    assert_eq!(wsop["total_files"], json!(5));
    let archive = cats
        .iter()
        .find(|c| c["name"] == json!("ARCHIVE"))
        .expect("ARCHIVE");
    assert_eq!(archive["files"][0]["name"], json!("readme.txt"));
    let pad = cats
        .iter()
        .find(|c| c["name"] == json!("PAD"))
        .expect("PAD");
    assert_eq!(
        pad["total_files"],
        json!(2),
        "deleted rows are not files of the share"
    );
}

#[test]
fn root_files_and_an_archive_directory_form_one_catalog() {
    let e = env();
    put(&e.root, "top.mp4", 10);
    put(&e.root, "notes.txt", 11);
    put(&e.root, "ARCHIVE/inner.mp4", 12);
    put(&e.root, "ARCHIVE/old/raw.mxf", 13);
    put(&e.root, "WSOP/w.mp4", 14);
    sync_at(&e, 1);
    let tree = serde_json::to_value(matching::tree(&e.cfg).expect("tree")).expect("json");
    let cats = tree["catalogs"].as_array().expect("catalogs");
    let names: Vec<&str> = cats
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "ARCHIVE").count(),
        1,
        "{names:?}"
    );
    let archive = cats
        .iter()
        .find(|c| c["name"] == json!("ARCHIVE"))
        .expect("ARCHIVE");
    let per_cat = json_of(
        &e.cfg,
        &MatchingQuery {
            catalog: Some("ARCHIVE".into()),
            ..q()
        },
    );
    assert_eq!(node_counts(archive), summary_counts(&per_cat));
    assert_eq!(archive["total_files"], json!(4));
    assert_eq!(archive["not_synced"], json!(2));
    let dash = query::dashboard(&e.cfg).expect("dashboard");
    let count = dash
        .catalogs
        .iter()
        .find(|c| c.id == "ARCHIVE")
        .expect("ARCHIVE in dashboard")
        .count;
    assert_eq!(count, 4);
    // The catalog holds the root's files and the ARCHIVE directory's files side by side (a tree
    // file carries only its name), and the directory's sub-directories with their real paths.
    let mut direct: Vec<&str> = archive["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    direct.sort_unstable();
    assert_eq!(direct, vec!["inner.mp4", "notes.txt", "top.mp4"]);
    assert_eq!(archive["children"][0]["path"], json!("ARCHIVE/old"));
    assert_eq!(archive["children"][0]["not_synced"], json!(1));
    let root = matching::tree_node(&e.cfg, "", 0, None).expect("root node");
    let root_files: Vec<&str> = root.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(root_files, vec!["notes.txt", "top.mp4"]);
    let dir = matching::tree_node(&e.cfg, "ARCHIVE", 0, None).expect("ARCHIVE node");
    assert_eq!(dir.files.len(), 1);
    assert_eq!(dir.files[0].name, "inner.mp4");
}

#[test]
fn lazy_tree_nodes_for_root_catalog_and_leaf_with_file_paging() {
    let e = every_status(false);
    let node = |p: &str, offset: u64, limit: Option<u32>| -> Value {
        serde_json::to_value(
            matching::tree_node(&e.cfg, p, offset, limit)
                .unwrap_or_else(|err| panic!("tree_node {p:?}: {err}")),
        )
        .expect("json")
    };
    let root = node("", 0, None);
    let dirs: Vec<&str> = root["directories"]
        .as_array()
        .expect("directories")
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .collect();
    assert_eq!(dirs, vec!["HCL", "PAD", "WSOP"]);
    assert_eq!(root["files"][0]["name"], json!("readme.txt"));
    assert_eq!(root["path"], json!(""));
    assert_eq!(
        node_counts(&root),
        summary_counts(&json_of(&e.cfg, &q())),
        "root counts = whole table"
    );
    let full = serde_json::to_value(matching::tree(&e.cfg).expect("tree")).expect("json");
    for d in root["directories"].as_array().expect("directories") {
        let name = d["name"].as_str().expect("name");
        assert_eq!(d["path"], json!(name));
        let cat = full["catalogs"]
            .as_array()
            .expect("catalogs")
            .iter()
            .find(|c| c["name"] == json!(name))
            .expect("catalog in full tree");
        assert_eq!(node_counts(d), node_counts(cat), "{name}");
    }

    let wsop = node("WSOP", 0, None);
    assert_eq!(wsop["path"], json!("WSOP"));
    let sub: Vec<(&str, &str)> = wsop["directories"]
        .as_array()
        .expect("directories")
        .iter()
        .map(|d| {
            (
                d["name"].as_str().expect("name"),
                d["path"].as_str().expect("path"),
            )
        })
        .collect();
    assert_eq!(sub, vec![("2024", "WSOP/2024"), ("2025", "WSOP/2025")]);
    assert_eq!(wsop["files_total"], json!(3));
    assert_eq!(wsop["total_files"], json!(5));
    assert_eq!(wsop["changed"], json!(2));

    let leaf = node("WSOP/2024", 0, None);
    assert_eq!(leaf["directories"], json!([]));
    assert_eq!(leaf["files"].as_array().expect("files").len(), 1);
    assert_eq!(leaf["files"][0]["name"], json!("ME_Day1.mp4"));
    assert_eq!(leaf["files"][0]["status"], json!("synced"));
    assert_eq!(leaf["synced"], json!(1));
    for alias in ["WSOP/2024/", "/WSOP/2024", "WSOP\\2024", "WSOP//2024"] {
        assert_eq!(node(alias, 0, None), leaf, "{alias:?}");
    }

    // Deleted rows are files of their directory.
    let pad = node("PAD", 0, None);
    let pad_files: Vec<(&str, &str)> = pad["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().expect("name"),
                f["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        pad_files,
        vec![
            ("Special.mxf", "not_synced"),
            ("back.mp4", "changed"),
            ("gone_pending.mp4", "deleted"),
            ("gone_synced.mp4", "deleted"),
        ]
    );
    assert_eq!(pad["deleted"], json!(2));

    // Paging a node's files.
    let all_files = pad["files"].clone();
    let mut paged = Vec::new();
    for offset in (0..6).step_by(3) {
        let part = node("PAD", offset, Some(3));
        assert_eq!(part["files_total"], json!(4));
        assert_eq!(part["offset"], json!(offset));
        assert_eq!(part["limit"], json!(3));
        paged.extend(part["files"].as_array().expect("files").clone());
    }
    assert_eq!(json!(paged), all_files, "pages of a node's files");
    assert_eq!(
        node("PAD", 3, Some(3))["files"]
            .as_array()
            .expect("files")
            .len(),
        1
    );
    assert_eq!(node("PAD", 4, Some(3))["files"], json!([]));
    assert_eq!(node("PAD", 400, Some(1))["files"], json!([]));
    for bad in [0, 5001] {
        match matching::tree_node(&e.cfg, "PAD", 0, Some(bad)) {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "limit"),
            other => panic!("limit {bad}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn tree_node_of_an_unknown_path_is_invalid() {
    let e = every_status(false);
    for p in ["WSOP/1999", "NOPE", "wsop", "WSOP/grow.mp4", "WSOP/old"] {
        match matching::tree_node(&e.cfg, p, 0, None) {
            Err(err @ Error::Invalid { .. }) => {
                assert_eq!(err.code(), "invalid_argument");
                if let Error::Invalid { field, .. } = err {
                    assert_eq!(field, "path", "{p}");
                }
            }
            other => panic!("{p}: expected Error::Invalid, got {other:?}"),
        }
    }
}

#[test]
fn full_tree_above_tree_full_limit_is_too_large_and_points_to_the_lazy_form() {
    let mut e = every_status(false);
    let total = json_of(&e.cfg, &q())["total"].as_u64().expect("total");
    e.cfg.tree_full_limit = total;
    assert!(
        matching::tree(&e.cfg).is_ok(),
        "exactly at the limit is fine"
    );
    e.cfg.tree_full_limit = total - 1;
    match matching::tree(&e.cfg) {
        Err(err @ Error::TooLarge { .. }) => {
            assert_eq!(err.code(), "too_large");
            let msg = err.to_string();
            assert!(
                msg.contains("--path"),
                "message should point to --path: {msg}"
            );
        }
        other => panic!("expected Error::TooLarge, got {other:?}"),
    }
    // The lazy form still answers.
    let root = matching::tree_node(&e.cfg, "", 0, None).expect("lazy root");
    assert_eq!(root.directories.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Freshness
// ---------------------------------------------------------------------------------------------

fn small_synced() -> Env {
    let e = env();
    put(&e.root, "WSOP/a.mp4", 100);
    put(&e.root, "WSOP/b.mp4", 200);
    put(&e.root, "HCL/c.mp4", 300);
    put(&e.root, "HCL/d.mkv", 400);
    sync_at(&e, 1);
    e
}

fn status_and_code(cfg: &Config, path: &str) -> (String, String) {
    let items = items_by_path(cfg);
    let it = item(&items, path);
    (
        it["status"].as_str().expect("status").to_string(),
        it["reason_code"].as_str().expect("reason_code").to_string(),
    )
}

#[test]
fn an_outside_edit_of_the_target_shows_up_in_the_next_query() {
    let e = small_synced();
    let pair = |s: &str, c: &str| (s.to_string(), c.to_string());
    assert_eq!(
        status_and_code(&e.cfg, "WSOP/a.mp4"),
        pair("synced", "synced")
    );
    let dash = query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(dash.target.total_files, 3);

    outside_sql(
        &e,
        "UPDATE files SET status = 'deleted' WHERE nas_path = 'WSOP/a.mp4'",
    );
    assert_eq!(
        status_and_code(&e.cfg, "WSOP/a.mp4"),
        pair("changed", "pending_restore")
    );
    let items = items_by_path(&e.cfg);
    assert_eq!(
        item(&items, "WSOP/a.mp4")["target"]["status"],
        json!("deleted")
    );
    assert_eq!(
        query::dashboard(&e.cfg)
            .expect("dashboard")
            .target
            .total_files,
        2
    );

    // Right away a second edit, then a third, each seen by the very next query.
    outside_sql(
        &e,
        "UPDATE files SET size_bytes = 1 WHERE nas_path = 'WSOP/b.mp4'",
    );
    let items = items_by_path(&e.cfg);
    let b = item(&items, "WSOP/b.mp4");
    assert_eq!(b["status"], json!("changed"));
    assert_eq!(b["reason_code"], json!("pending_update"));
    assert_eq!(b["target"]["size_bytes"], json!(1));
    outside_sql(
        &e,
        "UPDATE files SET size_bytes = 200 WHERE nas_path = 'WSOP/b.mp4'",
    );
    assert_eq!(
        status_and_code(&e.cfg, "WSOP/b.mp4"),
        pair("synced", "synced")
    );

    // A row another program inserted for a file the share does not have.
    outside_sql(
        &e,
        "INSERT INTO files (nas_path, filename, catalog, format, size_bytes, hls_compatible,
                            status, created_at, updated_at)
         VALUES ('PAD/ghost.mp4', 'ghost.mp4', 'PAD', 'mp4', 9, 1, 'active',
                 '2024-05-01T00:00:00Z', '2024-05-01T00:00:00Z')",
    );
    assert_eq!(
        status_and_code(&e.cfg, "PAD/ghost.mp4"),
        pair("deleted", "pending_delete")
    );
    let dash = query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(dash.target.total_files, 3);
    assert_eq!(dash.matching.deleted, 1);

    // An outside connection that stays open (its WAL is not checkpointed away) is seen too.
    let c = Connection::open(&e.target).expect("open pokervod.db");
    c.execute(
        "UPDATE files SET status = 'deleted' WHERE nas_path = ?1",
        params!["HCL/c.mp4"],
    )
    .expect("update");
    assert_eq!(
        status_and_code(&e.cfg, "HCL/c.mp4"),
        pair("changed", "pending_restore")
    );
    c.execute(
        "UPDATE files SET status = 'active' WHERE nas_path = ?1",
        params!["HCL/c.mp4"],
    )
    .expect("update");
    assert_eq!(
        status_and_code(&e.cfg, "HCL/c.mp4"),
        pair("synced", "synced")
    );
    drop(c);

    // A sync shows up as well.
    sync_at(&e, 2);
    assert_eq!(
        status_and_code(&e.cfg, "WSOP/a.mp4"),
        pair("synced", "synced")
    );
    assert_eq!(
        status_and_code(&e.cfg, "PAD/ghost.mp4"),
        pair("deleted", "deleted")
    );
}

/// The stamp of pokervod.db is its size, mtime and header bytes. In WAL mode an UPDATE that a
/// closing connection checkpoints changes neither the size nor the header (SQLite does not bump
/// the change counter in WAL mode), so only the mtime tells. With a coarse mtime (FAT, SMB
/// attribute caching, a kernel with jiffy timestamps) two writes in the same tick look alike;
/// here the same tick is simulated by putting the mtime back.
#[test]
fn an_outside_edit_within_the_same_mtime_tick_shows_up() {
    let e = small_synced();
    assert_eq!(
        status_and_code(&e.cfg, "WSOP/a.mp4"),
        ("synced".to_string(), "synced".to_string())
    );
    let meta = fs::metadata(&e.target).expect("stat pokervod.db");
    let (len, mtime) = (meta.len(), meta.modified().expect("mtime"));
    outside_sql(
        &e,
        "UPDATE files SET status = 'deleted' WHERE nas_path = 'WSOP/a.mp4'",
    );
    let f = fs::File::options()
        .write(true)
        .open(&e.target)
        .expect("open pokervod.db");
    f.set_modified(mtime).expect("restore mtime");
    drop(f);
    assert_eq!(
        fs::metadata(&e.target).expect("stat").len(),
        len,
        "same size"
    );
    assert_eq!(
        target_status(&e, "WSOP/a.mp4"),
        "deleted",
        "the edit is in the file"
    );
    assert_eq!(
        status_and_code(&e.cfg, "WSOP/a.mp4"),
        ("changed".to_string(), "pending_restore".to_string()),
        "the matching table still shows the Target before the edit"
    );
}

/// Bytes of a database file and of its `-wal` (an empty `-wal` counts as absent).
fn db_bytes(p: &Path) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    // A scan or sync checkpoints its WAL on a thread after it returns; wait for it so the
    // bytes compared are settled.
    nas_sync_engine::target::finish_checkpoints();
    let mut wal = p.as_os_str().to_owned();
    wal.push("-wal");
    (
        fs::read(p).ok(),
        fs::read(PathBuf::from(wal)).ok().filter(|w| !w.is_empty()),
    )
}

#[test]
fn queries_before_the_first_sync_show_new_files_and_write_neither_database() {
    let e = env();
    // Nothing scanned yet: an empty table, not an error.
    let empty = json_of(&e.cfg, &q());
    assert_eq!(empty["total"], json!(0));
    assert_eq!(
        serde_json::to_value(matching::tree(&e.cfg).expect("tree")).expect("json"),
        json!({"catalogs": []})
    );
    assert!(!e.target.exists(), "a query must not create pokervod.db");

    put(&e.root, "WSOP/a.mp4", 10);
    put(&e.root, "WSOP/b.mxf", 20);
    scan_only(&e, 1);
    let archive_before = db_bytes(&e.archive);
    let items = items_by_path(&e.cfg);
    assert_eq!(item(&items, "WSOP/a.mp4")["status"], json!("new"));
    assert_eq!(item(&items, "WSOP/b.mxf")["status"], json!("not_synced"));
    let dash = query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(dash.target.total_files, 0);
    assert_eq!(dash.source.total_files, 2);
    assert!(!e.target.exists(), "a query must not create pokervod.db");
    assert!(
        db_bytes(&e.archive) == archive_before,
        "a query changed archive.db"
    );

    sync_at(&e, 2);
    let archive_before = db_bytes(&e.archive);
    let target_before = db_bytes(&e.target);
    let _ = json_of(&e.cfg, &q());
    let _ = query::dashboard(&e.cfg).expect("dashboard");
    let _ = matching::tree(&e.cfg).expect("tree");
    assert!(
        db_bytes(&e.archive) == archive_before,
        "a query changed archive.db"
    );
    assert!(
        db_bytes(&e.target) == target_before,
        "a query changed pokervod.db"
    );
    assert_eq!(
        status_and_code(&e.cfg, "WSOP/a.mp4"),
        ("synced".to_string(), "synced".to_string())
    );
}

#[test]
fn a_deleted_index_file_is_rebuilt() {
    let e = every_status(false);
    let before = json_of(&e.cfg, &q());
    let tree_before = serde_json::to_value(matching::tree(&e.cfg).expect("tree")).expect("json");
    let index_file = index::index_path(&e.archive);
    assert_eq!(index_file, e.archive.with_file_name("archive.index.db"));
    assert!(index_file.exists(), "the index lives next to archive.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = index_file.as_os_str().to_owned();
        p.push(suffix);
        let _ = fs::remove_file(PathBuf::from(p));
    }
    assert!(!index_file.exists());
    assert_eq!(
        json_of(&e.cfg, &q()),
        before,
        "matching after the index was deleted"
    );
    assert!(index_file.exists(), "the index was rebuilt");
    fs::remove_file(&index_file).expect("remove index again");
    assert_eq!(
        serde_json::to_value(matching::tree(&e.cfg).expect("tree")).expect("json"),
        tree_before
    );
    fs::remove_file(&index_file).expect("remove index again");
    let dash = query::dashboard(&e.cfg).expect("dashboard after deleting the index");
    assert_eq!(dash.source.total_files, 11);
    fs::remove_file(&index_file).expect("remove index again");
    let node = matching::tree_node(&e.cfg, "WSOP", 0, None).expect("tree_node");
    assert_eq!(node.files_total, 3);
    // A fresh Index handle reports the rebuild, the next one does not.
    fs::remove_file(&index_file).expect("remove index again");
    assert!(Index::open(&e.cfg).expect("open").rebuilt);
    assert!(!Index::open(&e.cfg).expect("open").rebuilt);
}

#[test]
fn a_shared_index_warms_in_the_background_and_is_reopened_after_a_reset() {
    let e = small_synced();
    let index_file = index::index_path(&e.cfg.archive_db_path().expect("archive path"));
    if index_file.exists() {
        fs::remove_file(&index_file).expect("remove index");
    }
    // Nothing to index before a Target is configured: no thread.
    let shared = SharedIndex::default();
    let unset = Config {
        target_db: None,
        ..e.cfg.clone()
    };
    assert!(shared.warm_in_background(unset).is_none());
    assert!(!index_file.exists());
    // The warm-up builds the file; the first query after it rebuilds nothing.
    shared
        .warm_in_background(e.cfg.clone())
        .expect("a warm-up thread")
        .join()
        .expect("warm-up thread");
    assert!(index_file.exists(), "the warm-up built the index");
    let (rebuilt, total) = shared
        .with(&e.cfg, |i| Ok((i.rebuilt, i.stats()?.source_files)))
        .expect("query");
    assert!(!rebuilt, "the first query found the index warm");
    assert_eq!(total, 4);
    // After a reset the index is opened again (a deleted file is rebuilt).
    shared.reset();
    fs::remove_file(&index_file).expect("remove index");
    assert!(shared.with(&e.cfg, |i| Ok(i.rebuilt)).expect("reopen"));
    // A sync is seen by the next use of the same handle.
    put(&e.root, "WSOP/shared-new.mp4", 100);
    sync_at(&e, 5);
    let total = shared
        .with(&e.cfg, |i| Ok(i.stats()?.source_files))
        .expect("after sync");
    assert_eq!(total, 5);
}

#[test]
fn changing_hls_extensions_changes_the_statuses() {
    let e = small_synced();
    let pair = |s: &str, c: &str| (s.to_string(), c.to_string());
    assert_eq!(
        status_and_code(&e.cfg, "HCL/d.mkv"),
        pair("not_synced", "not_hls")
    );
    let dash = query::dashboard(&e.cfg).expect("dashboard");
    assert_eq!(dash.target.excluded.non_hls, 1);

    let mut with_mkv = e.cfg.clone();
    with_mkv.hls_extensions.push("mkv".into());
    assert_eq!(
        status_and_code(&with_mkv, "HCL/d.mkv"),
        pair("new", "pending_insert")
    );
    assert_eq!(
        query::dashboard(&with_mkv)
            .expect("dashboard")
            .target
            .excluded
            .non_hls,
        0
    );
    // Back to the default list: the same index answers with the old statuses again.
    assert_eq!(
        status_and_code(&e.cfg, "HCL/d.mkv"),
        pair("not_synced", "not_hls")
    );

    // Synced with mkv eligible, then mkv taken out again: the file is not synced and its row is
    // a pending delete at the same path, listed right after the file.
    sync_cfg(&with_mkv, 2);
    assert_eq!(
        status_and_code(&with_mkv, "HCL/d.mkv"),
        pair("synced", "synced")
    );
    let items = items_by_path(&e.cfg);
    assert_eq!(item(&items, "HCL/d.mkv")["status"], json!("not_synced"));
    let row = item(&items, "HCL/d.mkv (target)");
    assert_eq!(row["status"], json!("deleted"));
    assert_eq!(row["reason_code"], json!("pending_delete_excluded"));
    assert_eq!(row["target"]["id"], json!(target_id(&e, "HCL/d.mkv")));
    let order = paths(&all_pages(&e.cfg, &q(), 200));
    let at = order.iter().position(|p| p == "HCL/d.mkv").expect("file");
    assert_eq!(
        order[at + 1],
        "HCL/d.mkv",
        "the Target-only row follows the file"
    );
    let all = paths(&all_pages(&e.cfg, &q(), 1));
    assert_eq!(all, order, "pages of one item each");

    // hls_only off: every video is eligible; the row's hls_compatible flag (true while mkv was in
    // the list) is now wrong, so the row is due for an update.
    let mut any = e.cfg.clone();
    any.hls_only = false;
    assert_eq!(
        status_and_code(&any, "HCL/d.mkv"),
        pair("changed", "pending_update")
    );
}

// ---------------------------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------------------------

#[test]
fn dashboard_numbers_agree_with_the_matching_summary() {
    let e = every_status(false);
    let dash = serde_json::to_value(query::dashboard(&e.cfg).expect("dashboard")).expect("json");
    let m = json_of(&e.cfg, &q());
    let non_deleted: u64 = [
        "synced",
        "synced_with_duplicates",
        "new",
        "changed",
        "duplicate",
        "not_synced",
    ]
    .iter()
    .map(|s| summary_status(&m, s))
    .sum();
    assert_eq!(dash["source"]["total_files"], json!(non_deleted));
    assert_eq!(dash["source"]["total_files"], json!(11));
    assert_eq!(
        dash["target"]["excluded"]["duplicates"],
        m["summary"]["duplicates_excluded"]
    );
    assert_eq!(dash["target"]["excluded"]["duplicates"], json!(2));
    assert_eq!(
        dash["target"]["excluded"]["non_hls"],
        json!(1),
        "only the mxf"
    );
    // Active rows: ME_Day1, EP123, gone_pending, the moved row, grow.
    let active: i64 = Connection::open(&e.target)
        .expect("open pokervod.db")
        .query_row(
            "SELECT count(*) FROM files WHERE status = 'active'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(dash["target"]["total_files"], json!(active));
    assert_eq!(active, 5);
    let ratio = dash["target"]["hls_ratio"].as_f64().expect("hls_ratio");
    assert!((ratio - 5.0 / 11.0).abs() < 1e-9, "hls_ratio {ratio}");
    assert_eq!(
        dash["matching"], m["summary"],
        "dashboard.matching = matching summary"
    );
    assert_eq!(dash["source"]["by_type"]["video"], json!(9));
    assert_eq!(dash["source"]["by_type"]["subtitle"], json!(1));
    assert_eq!(dash["source"]["by_type"]["other"], json!(1));

    let cats: BTreeMap<String, u64> = dash["catalogs"]
        .as_array()
        .expect("catalogs")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id").to_string(),
                c["count"].as_u64().expect("count"),
            )
        })
        .collect();
    let expected: BTreeMap<String, u64> = [("WSOP", 5), ("HCL", 3), ("PAD", 2), ("ARCHIVE", 1)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(
        cats, expected,
        "catalogs[].count = every Source file of the catalog"
    );
    for (name, count) in &cats {
        let per_cat = json_of(
            &e.cfg,
            &MatchingQuery {
                catalog: Some(name.clone()),
                ..q()
            },
        );
        assert_eq!(summary_counts(&per_cat)[0], *count, "catalog {name}");
    }
    assert_eq!(cats.values().sum::<u64>(), non_deleted);
}

#[test]
fn a_long_lived_index_searches_the_new_version_after_a_rebuild() {
    let e = search_scenario();
    let mut index = Index::open(&e.cfg).expect("open");
    let search = |index: &Index, term: &str| -> Vec<String> {
        let page = matching::matching_in(
            index,
            &MatchingQuery {
                search: Some(term.into()),
                per_page: Some(200),
                ..q()
            },
        )
        .expect("search");
        page.items
            .iter()
            .map(|i| serde_json::to_value(i).expect("json"))
            .map(|v| item_path(&v))
            .collect()
    };
    // The first search loads the columns, the second answers from them.
    assert_eq!(search(&index, "ep4"), vec!["GGM/Season Finale/ep4.mp4"]);
    assert!(search(&index, "brand new").is_empty());
    put(&e.root, "GGM/brand new.mp4", 100);
    fs::remove_file(e.root.join("GGM/Season Finale/ep4.mp4")).expect("rm ep4");
    scan_only(&e, 3);
    index.refresh_if_stale(&e.cfg).expect("refresh");
    assert_eq!(search(&index, "brand new"), vec!["GGM/brand new.mp4"]);
    assert!(
        search(&index, "ep4").is_empty(),
        "a file gone from the Source (never synced) leaves the search"
    );
    // Another handle updating the file is seen too: a second handle brings the index up to
    // date after a sync (from the sync's journal batch, not by a rebuild), and the first one
    // (stamp already current) must not answer from its old columns.
    sync_at(&e, 4);
    let other = Index::open(&e.cfg).expect("second handle");
    assert!(
        matches!(other.refreshed, index::Refresh::Updated { .. }),
        "the second handle updated the index in place: {:?}",
        other.refreshed
    );
    index.refresh_if_stale(&e.cfg).expect("refresh");
    let v = both(
        &e.cfg,
        &MatchingQuery {
            search: Some("brand".into()),
            ..q()
        },
    );
    assert_eq!(v["items"][0]["status"], json!("synced"));
    let page = matching::matching_in(
        &index,
        &MatchingQuery {
            search: Some("brand".into()),
            ..q()
        },
    )
    .expect("search after another process rebuilt");
    assert_eq!(serde_json::to_value(page).expect("json"), v);
}

#[test]
fn a_per_call_search_reads_the_cache_file_of_the_current_index_version_only() {
    let e = search_scenario();
    let search = |term: &str| -> Vec<String> {
        let page = page_of(
            &e.cfg,
            &MatchingQuery {
                search: Some(term.into()),
                per_page: Some(200),
                ..q()
            },
        );
        page.items
            .iter()
            .map(|i| item_path(&serde_json::to_value(i).expect("json")))
            .collect()
    };
    let cache = {
        let mut p = index::index_path(&e.archive).into_os_string();
        p.push(".search");
        PathBuf::from(p)
    };
    assert_eq!(search("ep4"), vec!["GGM/Season Finale/ep4.mp4"]);
    let bytes = fs::read(&cache).expect("the first search wrote the cache file");

    // The cache is what a per-call search reads: the same bytes with one name changed (same
    // length) change the answer. (Only to prove the file is used; the index never does this.)
    let at = memchr_find(&bytes, b"ep4.mp4").expect("ep4's name in the cache");
    let mut edited = bytes.clone();
    edited[at..at + 3].copy_from_slice(b"xq9");
    fs::write(&cache, &edited).expect("edit the cache");
    assert_eq!(search("xq9"), vec!["GGM/Season Finale/ep4.mp4"]);

    // A new index version ignores the old file and replaces it. (The handle that makes the new
    // version patches the previous version's columns, from this very file when it has not
    // loaded them: here another handle makes it and does not search.)
    put(&e.root, "GGM/brand new.mp4", 100);
    scan_only(&e, 3);
    drop(Index::open(&e.cfg).expect("another handle updates the index"));
    assert_eq!(search("brand new"), vec!["GGM/brand new.mp4"]);
    assert!(search("xq9").is_empty(), "the stale cache is not used");
    assert_eq!(search("ep4"), vec!["GGM/Season Finale/ep4.mp4"]);
    assert_ne!(
        fs::read(&cache).expect("cache"),
        edited,
        "the cache was rewritten"
    );

    // A damaged file is ignored (and rewritten): the answer comes from the index.
    fs::write(&cache, b"NSMSRC01\xff\xff\xff\xff\xff\xff\xff\x7f garbage").expect("damage");
    assert_eq!(search("brand"), vec!["GGM/brand new.mp4"]);
    fs::write(&cache, b"not a cache at all").expect("damage");
    assert_eq!(search("brand"), vec!["GGM/brand new.mp4"]);
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
