//! The matching table's value filters — 제외 사유 (`reason`), 확장자 (`ext`), 코덱 (`codec`) and
//! 같은 이름, 다른 크기 (`collision`) — with the per-row name-collision flag and the facets the
//! screen fills its lists from, on a real share synced into a real archive.db and pokervod.db
//! (real media, probed). Every query is asked per call and twice through one long-lived index;
//! the answers must be identical.

use std::collections::BTreeMap;

use nas_sync_engine::index::Index;
use nas_sync_engine::matching::{self, MatchingQuery};
use nas_sync_engine::query::filters::{self, FacetCount, MatchingFacets};
use nas_sync_engine::{Config, Error};
use serde_json::{Value, json};

mod common;
use common::{Env, env_with, media_fixture, put_bytes, put_sized, rm, scan_only, sync_at};

/// A real mp4 clip with `pad` extra bytes in a trailing `free` box (every reader skips it), so
/// two files of the same clip can differ in size.
fn mp4(clip: &str, pad: usize) -> Vec<u8> {
    let mut v = media_fixture(clip);
    if pad > 0 {
        v.extend_from_slice(&((pad + 8) as u32).to_be_bytes());
        v.extend_from_slice(b"free");
        v.resize(v.len() + pad, 0);
    }
    v
}

/// Two events' `Part1.mp4` (same name, different size: a collision), a backup that is a byte
/// copy (same size: not a collision), a group of three holding both a copy and a collision, and
/// one file of every exclusion reason. Synced, then one file is deleted and another added
/// (scan only), so a Target-only row and a pending row are in the table too.
fn scenario() -> Env {
    let e = env_with(|c| {
        c.probe_media = true;
        // A .mov whose codec HLS cannot play is excluded with the reason `codec`.
        c.strict_codec_check = true;
    });
    let r = &e.root;
    put_bytes(
        r,
        "WSOP/2024/Ladies Event/Part1.mp4",
        &mp4("h264_faststart.mp4", 0),
    );
    put_bytes(
        r,
        "WSOP/2024/Main Event/Part1.mp4",
        &mp4("h264_faststart.mp4", 4096),
    );
    put_bytes(r, "HCL/EP123.mp4", &mp4("hevc.mp4", 0));
    put_bytes(r, "HCL/Backup/EP123.mp4", &mp4("hevc.mp4", 0));
    put_bytes(r, "PAD/S01/Intro.mp4", &mp4("h264_faststart.mp4", 100));
    put_bytes(r, "PAD/S02/Intro.mp4", &mp4("h264_faststart.mp4", 100));
    put_bytes(r, "PAD/S03/Intro.mp4", &mp4("h264_faststart.mp4", 200));
    put_bytes(r, "PAD/Special.mxf", &media_fixture("mpeg2.mxf"));
    put_bytes(r, "EPT/old.MKV", &media_fixture("h264.mkv"));
    put_bytes(r, "HCL/prores.mov", &media_fixture("prores.mov"));
    put_bytes(r, "GGM/day2.ts", &media_fixture("h264.ts"));
    put_sized(r, "EPT/clip.avi", 700);
    put_sized(r, "WSOP/notes.srt", 10);
    put_sized(r, "readme.txt", 11);
    put_sized(r, "PAD/gone.mp4", 3003);
    sync_at(&e, 1);
    rm(r, "PAD/gone.mp4");
    put_bytes(r, "WSOP/2025/new.mp4", &mp4("hevc.mp4", 10));
    scan_only(&e, 2);
    e
}

fn q() -> MatchingQuery {
    MatchingQuery::default()
}

/// The same query per call and twice on one long-lived index; the one JSON answer.
fn both(cfg: &Config, query: &MatchingQuery) -> Value {
    let per_call = matching::matching(cfg, query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    let per_call = serde_json::to_value(per_call).expect("json");
    let index = Index::open(cfg).expect("open the index");
    for round in ["first", "cached"] {
        let again = matching::matching_in(&index, query).expect("matching_in");
        assert_eq!(
            per_call,
            serde_json::to_value(again).expect("json"),
            "per-call and long-lived ({round}) answers differ for {query:?}"
        );
    }
    per_call
}

/// Every item of a query (all pages of `per_page`), checked against `total`.
fn all_items(cfg: &Config, query: &MatchingQuery, per_page: u32) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let v = both(
            cfg,
            &MatchingQuery {
                page: Some(page),
                per_page: Some(per_page),
                ..query.clone()
            },
        );
        let items = v["items"].as_array().expect("items");
        if items.is_empty() {
            assert_eq!(out.len() as u64, v["total"], "{query:?}: pages vs total");
            return out;
        }
        out.extend(items.iter().cloned());
    }
    unreachable!()
}

fn path_of(it: &Value) -> String {
    it["source"]["path"]
        .as_str()
        .or(it["target"]["nas_path"].as_str())
        .unwrap_or_else(|| panic!("no path: {it}"))
        .to_string()
}

fn paths(cfg: &Config, query: &MatchingQuery) -> Vec<String> {
    all_items(cfg, query, 200).iter().map(path_of).collect()
}

fn reason(r: &str) -> MatchingQuery {
    MatchingQuery {
        reason: Some(r.into()),
        ..q()
    }
}

fn ext(x: &str) -> MatchingQuery {
    MatchingQuery {
        ext: Some(x.into()),
        ..q()
    }
}

fn codec(c: &str) -> MatchingQuery {
    MatchingQuery {
        codec: Some(c.into()),
        ..q()
    }
}

fn collision() -> MatchingQuery {
    MatchingQuery {
        collision: true,
        ..q()
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|p| p.to_string()).collect()
}

#[test]
fn each_exclusion_reason_finds_exactly_its_files() {
    let e = scenario();
    for (r, want) in [
        ("mxf", vec!["PAD/Special.mxf"]),
        ("mkv", vec!["EPT/old.MKV"]),
        ("codec", vec!["HCL/prores.mov"]),
        ("subtitle", vec!["WSOP/notes.srt"]),
        ("other", vec!["EPT/clip.avi", "readme.txt"]),
    ] {
        let v = both(&e.cfg, &reason(r));
        assert_eq!(paths(&e.cfg, &reason(r)), s(&want), "reason={r}");
        assert_eq!(v["total"], json!(want.len()), "reason={r}");
        // Every excluded file is not synced: the status tabs count only that one.
        assert_eq!(v["summary"]["not_synced"], json!(want.len()), "reason={r}");
        assert_eq!(
            v["summary"]["synced"],
            json!(0),
            "reason={r}: {}",
            v["summary"]
        );
    }
    // With another status the reason filter finds nothing.
    let none = both(
        &e.cfg,
        &MatchingQuery {
            status: Some("synced".into()),
            ..reason("mxf")
        },
    );
    assert_eq!(none["total"], json!(0));
    assert_eq!(none["summary"]["not_synced"], json!(1), "{none}");
}

#[test]
fn extension_filter_is_case_blind_and_includes_target_only_rows() {
    let e = scenario();
    let mp4s = s(&[
        "HCL/Backup/EP123.mp4",
        "HCL/EP123.mp4",
        "PAD/S01/Intro.mp4",
        "PAD/S02/Intro.mp4",
        "PAD/S03/Intro.mp4",
        "PAD/gone.mp4",
        "WSOP/2024/Ladies Event/Part1.mp4",
        "WSOP/2024/Main Event/Part1.mp4",
        "WSOP/2025/new.mp4",
    ]);
    for x in ["mp4", "MP4", ".mp4", " mp4 "] {
        assert_eq!(paths(&e.cfg, &ext(x)), mp4s, "ext={x:?}");
    }
    // The deleted file's Target-only row is an mp4 too, and the summary says so.
    let v = both(&e.cfg, &ext("mp4"));
    assert_eq!(v["summary"]["deleted"], json!(1), "{}", v["summary"]);
    assert_eq!(v["summary"]["new"], json!(1), "{}", v["summary"]);
    assert_eq!(paths(&e.cfg, &ext("mkv")), s(&["EPT/old.MKV"]));
    assert_eq!(paths(&e.cfg, &ext("wmv")), Vec::<String>::new());
    // With status, catalog, search and sort.
    let q = MatchingQuery {
        status: Some("synced_with_duplicates".into()),
        ..ext("mp4")
    };
    assert_eq!(
        paths(&e.cfg, &q),
        s(&[
            "HCL/Backup/EP123.mp4",
            "PAD/S01/Intro.mp4",
            "WSOP/2024/Ladies Event/Part1.mp4"
        ])
    );
    let q = MatchingQuery {
        catalog: Some("PAD".into()),
        search: Some("intro".into()),
        sort: Some("size".into()),
        desc: true,
        ..ext("mp4")
    };
    assert_eq!(
        paths(&e.cfg, &q),
        s(&[
            "PAD/S03/Intro.mp4",
            "PAD/S02/Intro.mp4",
            "PAD/S01/Intro.mp4"
        ]),
        "size descending, ties in reversed path order"
    );
}

#[test]
fn codec_filter_uses_the_probed_codec() {
    let e = scenario();
    // `WSOP/2025/new.mp4` is hevc too, but only scanned: not probed yet, its codec unknown.
    assert_eq!(
        paths(&e.cfg, &codec("hevc")),
        s(&["HCL/Backup/EP123.mp4", "HCL/EP123.mp4"])
    );
    assert_eq!(paths(&e.cfg, &codec("prores")), s(&["HCL/prores.mov"]));
    let h264 = paths(&e.cfg, &codec("h264"));
    for p in [
        "EPT/old.MKV",
        "GGM/day2.ts",
        "PAD/S01/Intro.mp4",
        "WSOP/2024/Main Event/Part1.mp4",
    ] {
        assert!(h264.contains(&p.to_string()), "{p} is h264: {h264:?}");
    }
    assert!(!h264.contains(&"EPT/clip.avi".to_string()), "{h264:?}");
    assert_eq!(paths(&e.cfg, &codec("vp9")), Vec::<String>::new());
    // Codec and extension together: the h264 files that are .ts.
    let q = MatchingQuery {
        codec: Some("h264".into()),
        ..ext("ts")
    };
    assert_eq!(paths(&e.cfg, &q), s(&["GGM/day2.ts"]));
}

#[test]
fn name_collision_flags_different_sizes_not_copies() {
    let e = scenario();
    let flagged = s(&[
        "PAD/S01/Intro.mp4",
        "PAD/S03/Intro.mp4",
        "WSOP/2024/Ladies Event/Part1.mp4",
        "WSOP/2024/Main Event/Part1.mp4",
    ]);
    assert_eq!(paths(&e.cfg, &collision()), flagged);
    // The flag on every row of the whole table agrees with the filter.
    let by_path: BTreeMap<String, Value> = all_items(&e.cfg, &q(), 7)
        .into_iter()
        .map(|it| (path_of(&it), it))
        .collect();
    for (p, it) in &by_path {
        assert_eq!(
            it["name_collision"],
            json!(flagged.contains(p)),
            "{p}: {it}"
        );
    }
    // A byte copy is a duplicate without the flag (the primary is the first path: `Backup/`
    // sorts before `EP123.mp4`); so is the copy inside a mixed group.
    for copy in ["HCL/EP123.mp4", "PAD/S02/Intro.mp4"] {
        assert_eq!(by_path[copy]["status"], json!("duplicate"), "{copy}");
        assert_eq!(by_path[copy]["name_collision"], json!(false), "{copy}");
    }
    assert_eq!(
        by_path["WSOP/2024/Main Event/Part1.mp4"]["status"],
        json!("duplicate")
    );
    assert_eq!(
        by_path["WSOP/2024/Ladies Event/Part1.mp4"]["status"],
        json!("synced_with_duplicates")
    );
    // With other filters: status, catalog, search, and a page of one.
    let dup = MatchingQuery {
        status: Some("duplicate".into()),
        ..collision()
    };
    assert_eq!(
        paths(&e.cfg, &dup),
        s(&["PAD/S03/Intro.mp4", "WSOP/2024/Main Event/Part1.mp4"])
    );
    let v = both(&e.cfg, &dup);
    assert_eq!(
        v["summary"]["by_status"]["synced_with_duplicates"],
        json!(2)
    );
    assert_eq!(v["summary"]["duplicates_excluded"], json!(2));
    let pad = MatchingQuery {
        catalog: Some("PAD".into()),
        ..collision()
    };
    assert_eq!(
        all_items(&e.cfg, &pad, 1)
            .iter()
            .map(path_of)
            .collect::<Vec<_>>(),
        s(&["PAD/S01/Intro.mp4", "PAD/S03/Intro.mp4"])
    );
    let part = MatchingQuery {
        search: Some("part1".into()),
        sort: Some("size".into()),
        ..collision()
    };
    assert_eq!(
        paths(&e.cfg, &part),
        s(&[
            "WSOP/2024/Ladies Event/Part1.mp4",
            "WSOP/2024/Main Event/Part1.mp4"
        ])
    );
}

#[test]
fn the_copy_becoming_different_turns_the_flag_on() {
    let e = scenario();
    assert!(
        paths(&e.cfg, &collision())
            .iter()
            .all(|p| !p.starts_with("HCL"))
    );
    // The backup is edited: the same name, now another size.
    put_bytes(&e.root, "HCL/Backup/EP123.mp4", &mp4("hevc.mp4", 50));
    scan_only(&e, 3);
    let hcl = MatchingQuery {
        catalog: Some("HCL".into()),
        ..collision()
    };
    assert_eq!(
        paths(&e.cfg, &hcl),
        s(&["HCL/Backup/EP123.mp4", "HCL/EP123.mp4"])
    );
}

#[test]
fn facets_list_the_values_with_the_counts_the_filters_find() {
    let e = scenario();
    let f: MatchingFacets = filters::facets(&e.cfg).expect("facets");
    let index = Index::open(&e.cfg).expect("index");
    assert_eq!(filters::facets_in(&index).expect("facets_in"), f);
    let fc = |v: &str, n: u64| FacetCount {
        value: v.into(),
        count: n,
    };
    assert_eq!(
        f.reasons,
        vec![
            fc("mxf", 1),
            fc("mkv", 1),
            fc("codec", 1),
            fc("subtitle", 1),
            fc("other", 2)
        ]
    );
    assert_eq!(f.extensions[0], fc("mp4", 9), "{:?}", f.extensions);
    assert_eq!(f.name_collisions, 4);
    assert_eq!(f.collision_groups, 2);
    // Every listed value, used as a filter, finds exactly its count.
    for r in &f.reasons {
        assert_eq!(
            both(&e.cfg, &reason(&r.value))["total"],
            json!(r.count),
            "{r:?}"
        );
    }
    for x in &f.extensions {
        assert_eq!(
            both(&e.cfg, &ext(&x.value))["total"],
            json!(x.count),
            "{x:?}"
        );
    }
    let codecs: Vec<&str> = f.codecs.iter().map(|c| c.value.as_str()).collect();
    for want in ["h264", "hevc", "prores"] {
        assert!(codecs.contains(&want), "{want} in {codecs:?}");
    }
    for c in &f.codecs {
        assert_eq!(
            both(&e.cfg, &codec(&c.value))["total"],
            json!(c.count),
            "{c:?}"
        );
    }
    assert_eq!(
        both(&e.cfg, &collision())["total"],
        json!(f.name_collisions)
    );
    // Most first, ties by name.
    for w in f.extensions.windows(2) {
        assert!(
            w[0].count > w[1].count || (w[0].count == w[1].count && w[0].value < w[1].value),
            "{:?}",
            f.extensions
        );
    }
}

#[test]
fn a_wrong_filter_value_is_a_field_level_error() {
    let e = scenario();
    for (query, field) in [
        (reason("avi"), "reason"),
        (ext("tar.gz"), "ext"),
        (ext("a/b"), "ext"),
    ] {
        match matching::matching(&e.cfg, &query) {
            Err(Error::Invalid { field: f, message }) => {
                assert_eq!(f, field, "{query:?}");
                assert!(message.contains(field), "{message}");
            }
            other => panic!("{query:?}: expected an invalid {field}, got {other:?}"),
        }
    }
    // Empty values are no filter.
    let empty = MatchingQuery {
        reason: Some(String::new()),
        ext: Some(" ".into()),
        codec: Some(String::new()),
        ..q()
    };
    assert_eq!(both(&e.cfg, &empty), both(&e.cfg, &q()));
}

/// A codec most items have, a rare one, and a codec with a catalog.
#[test]
fn a_codec_most_files_have_and_a_rare_one() {
    let e = env_with(|c| c.probe_media = true);
    let r = &e.root;
    for (i, p) in ["A/1.mp4", "A/2.mp4", "B/3.mp4", "B/4.mp4"]
        .iter()
        .enumerate()
    {
        put_bytes(r, p, &mp4("h264_faststart.mp4", i * 10));
    }
    put_bytes(r, "C/5.mp4", &mp4("hevc.mp4", 0));
    put_sized(r, "C/notes.txt", 10);
    sync_at(&e, 1);
    assert_eq!(
        paths(&e.cfg, &codec("h264")),
        s(&["A/1.mp4", "A/2.mp4", "B/3.mp4", "B/4.mp4"]),
        "4 of 6 items"
    );
    assert_eq!(paths(&e.cfg, &codec("hevc")), s(&["C/5.mp4"]));
    let b = MatchingQuery {
        catalog: Some("B".into()),
        ..codec("h264")
    };
    assert_eq!(paths(&e.cfg, &b), s(&["B/3.mp4", "B/4.mp4"]));
}
