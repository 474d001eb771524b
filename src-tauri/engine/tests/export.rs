//! CSV exports (내보내기) and the history search, on real archive.db and pokervod.db files
//! written by real syncs: the bytes of the file (BOM, header, RFC 4180 quoting, the formula
//! guard, Hangul), every row of every page in the table's order, and the history search's
//! NFC/NFD and wildcard behaviour.

use std::fs;

use chrono::{TimeZone, Utc};
use nas_sync_engine::clock::FixedClock;
use nas_sync_engine::export::{self, CsvLang, CsvOptions, Zone};
use nas_sync_engine::index::Index;
use nas_sync_engine::matching::{self, MatchingQuery};
use nas_sync_engine::query::{self, HistoryFilter};
use nas_sync_engine::reconcile;
use nas_sync_engine::sync::{self, SyncOptions};
use unicode_normalization::UnicodeNormalization;

mod common;
use common::{Env, env, put};

/// Hangul as a Mac writes it (NFD) and as a keyboard types it (NFC).
fn nfd(s: &str) -> String {
    s.nfd().collect()
}

fn sync_on(e: &Env, day: u32) {
    let clock = FixedClock(
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0)
            .single()
            .expect("valid time"),
    );
    let r = sync::run_sync(&e.cfg, &clock, SyncOptions::default()).expect("sync");
    assert!(r.refused.is_none(), "{r:?}");
}

// Names with `"` (and `:`) exist on a Unix share only; Windows (the engine's tests under Wine)
// gets the same cases without them.
#[cfg(unix)]
const HYPERLINK: &str = "WSOP/2024/=HYPERLINK(\"http:__x\",\"y\").mp4";
#[cfg(not(unix))]
const HYPERLINK: &str = "WSOP/2024/=HYPERLINK(x,y).mp4";
#[cfg(unix)]
const QUOTED: &str = "WSOP/2024/a, b \"quoted\".mp4";
#[cfg(not(unix))]
const QUOTED: &str = "WSOP/2024/a, b 'quoted'.mp4";
#[cfg(unix)]
const ROOT_MINUS: &str = "-root, \"x\".mp4";
#[cfg(not(unix))]
const ROOT_MINUS: &str = "-root, x.mp4";

/// A field as RFC 4180 writes it (quoted when it has `,` `"` CR or LF, `"` doubled).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Names a spreadsheet or a CSV reader could trip on, Hangul in both forms among them.
fn tricky_names() -> Vec<String> {
    vec![
        "WSOP/2024/plain.mp4".into(),
        HYPERLINK.into(),
        "WSOP/2024/+82 call.mp4".into(),
        "WSOP/2024/-minus.mp4".into(),
        "WSOP/2024/@at.mp4".into(),
        QUOTED.into(),
        format!("한국포커투어/{}", nfd("한글 에피소드 1.mp4")),
        "한국포커투어/한글 에피소드 2.mp4".into(),
        "HCL/100%_done.mp4".into(),
        "HCL/100x-done.mp4".into(),
        "HCL/notes.txt".into(),
        // At the start of a cell: a file at the root (its path), a top-level folder (its
        // catalog).
        "=SUM(1+1).mp4".into(),
        ROOT_MINUS.into(),
        "@catalog/in it.mp4".into(),
    ]
}

/// A share with the tricky names, synced on day 1.
fn synced() -> Env {
    let e = env();
    for (i, n) in tricky_names().iter().enumerate() {
        put(&e.root, n, &vec![b'x'; 10 + i]);
    }
    sync_on(&e, 1);
    e
}

/// A strict RFC 4180 reader: the file must start with the BOM and end every record with CRLF.
fn parse(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(
        bytes.starts_with(export::BOM),
        "the file starts with the BOM"
    );
    let text = std::str::from_utf8(&bytes[3..]).expect("UTF-8");
    assert!(text.ends_with("\r\n"), "the last record ends with CRLF");
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => panic!("a bare quote inside an unquoted field: {field:?}"),
            ',' => {
                row.push(std::mem::take(&mut field));
                at_start = true;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR only before LF outside quotes");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                at_start = true;
            }
            '\n' => panic!("a bare LF ends no record"),
            c => {
                field.push(c);
                at_start = false;
            }
        }
    }
    assert!(!quoted, "an unterminated quoted field");
    rows
}

fn seoul(lang: CsvLang) -> CsvOptions {
    CsvOptions {
        lang,
        zone: Zone::from_minutes(Some(540)).expect("zone"),
    }
}

fn matching_csv(e: &Env, q: &MatchingQuery, o: &CsvOptions) -> (Vec<u8>, u64) {
    let index = Index::open(&e.cfg).expect("index");
    let mut out = Vec::new();
    let rows = export::matching_csv(&index, q, o, &mut out).expect("export");
    (out, rows)
}

/// Every page of the table, as the screen pages through it (20 at a time): source or target
/// paths in order.
fn table_paths(e: &Env, q: &MatchingQuery) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1.. {
        let p = matching::matching(
            &e.cfg,
            &MatchingQuery {
                page: Some(page),
                per_page: Some(3),
                ..q.clone()
            },
        )
        .expect("page");
        if p.items.is_empty() {
            break;
        }
        out.extend(p.items.iter().map(|i| {
            i.source
                .as_ref()
                .map(|s| s.path.clone())
                .or_else(|| i.target.as_ref().map(|t| t.nas_path.clone()))
                .unwrap_or_default()
        }));
    }
    out
}

/// The path column of exported rows, the formula guard taken off as a reader would see it.
fn csv_paths(rows: &[Vec<String>]) -> Vec<String> {
    rows[1..]
        .iter()
        .map(|r| {
            let p = if r[5].is_empty() { &r[12] } else { &r[5] };
            match p.strip_prefix('\'') {
                Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.into(),
                _ => p.clone(),
            }
        })
        .collect()
}

#[test]
fn a_matching_export_is_every_row_of_every_page_in_the_tables_order() {
    let e = synced();
    // A Target row no file holds (status deleted) and a file the next sync adds (new).
    fs::remove_file(e.root.join("HCL/100x-done.mp4")).expect("rm");
    put(&e.root, "HCL/later.mp4", b"later");
    let queries = [
        MatchingQuery::default(),
        MatchingQuery {
            status: Some("synced".into()),
            ..Default::default()
        },
        MatchingQuery {
            status: Some("new".into()),
            ..Default::default()
        },
        MatchingQuery {
            catalog: Some("WSOP".into()),
            sort: Some("size".into()),
            desc: true,
            ..Default::default()
        },
        MatchingQuery {
            search: Some("100".into()),
            ..Default::default()
        },
        // NFC typed, NFD stored: found as the table finds it.
        MatchingQuery {
            search: Some("한글 에피소드".into()),
            sort: Some("mtime".into()),
            ..Default::default()
        },
        // page and per_page are ignored: every page.
        MatchingQuery {
            page: Some(2),
            per_page: Some(1),
            ..Default::default()
        },
        MatchingQuery {
            catalog: Some("NOPE".into()),
            ..Default::default()
        },
    ];
    for q in &queries {
        let (bytes, rows) = matching_csv(&e, q, &seoul(CsvLang::Ko));
        let parsed = parse(&bytes);
        assert_eq!(parsed[0][0], "상태", "{q:?}");
        assert_eq!(parsed[0][5], "NAS 경로 (원본)");
        assert_eq!(parsed[0][7], "수정 시각 (UTC+09:00)");
        assert!(parsed.iter().all(|r| r.len() == parsed[0].len()), "{q:?}");
        let total = matching::matching(
            &e.cfg,
            &MatchingQuery {
                page: None,
                per_page: None,
                ..q.clone()
            },
        )
        .expect("page")
        .total;
        assert_eq!(rows, total, "{q:?}");
        assert_eq!(parsed.len() as u64, total + 1, "{q:?}");
        let want = table_paths(
            &e,
            &MatchingQuery {
                page: None,
                per_page: None,
                ..q.clone()
            },
        );
        assert_eq!(csv_paths(&parsed), want, "{q:?}");
    }
    let (bytes, _) = matching_csv(
        &e,
        &MatchingQuery {
            search: Some("한글".into()),
            ..Default::default()
        },
        &seoul(CsvLang::Ko),
    );
    assert_eq!(parse(&bytes).len(), 3, "both Hangul forms are found");

    // An invalid query writes nothing (a host can still answer an error).
    let index = Index::open(&e.cfg).expect("index");
    let mut out = Vec::new();
    let err = export::matching_csv(
        &index,
        &MatchingQuery {
            status: Some("bogus".into()),
            ..Default::default()
        },
        &seoul(CsvLang::Ko),
        &mut out,
    )
    .expect_err("invalid status");
    assert!(err.to_string().contains("status"), "{err}");
    assert!(out.is_empty(), "nothing written before the query was valid");
}

#[test]
fn cells_are_quoted_guarded_and_hangul_is_kept_byte_for_byte() {
    let e = synced();
    let (bytes, _) = matching_csv(&e, &MatchingQuery::default(), &seoul(CsvLang::Ko));
    let text = String::from_utf8(bytes[3..].to_vec()).expect("utf-8");
    // A cell that starts like a formula starts with ' (and is quoted too when it needs it).
    assert!(text.contains(",'=SUM(1+1).mp4,"), "{text}");
    assert!(
        text.contains(&format!(",{},", field(&format!("'{ROOT_MINUS}")))),
        "{text}"
    );
    assert!(text.contains(",'@catalog,'@catalog/in it.mp4,"), "{text}");
    // Inside a path the sign is not at the start of the cell: left as it is.
    assert!(text.contains(&format!(",{},", field(HYPERLINK))), "{text}");
    for inside in ["+82 call.mp4", "-minus.mp4", "@at.mp4"] {
        assert!(text.contains(&format!(",WSOP/2024/{inside},")), "{inside}");
    }
    // No field starts with a formula character unguarded.
    for row in parse(&bytes) {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unguarded cell {cell:?}"
            );
        }
    }
    assert!(text.contains(&format!(",{},", field(QUOTED))), "{text}");
    // Hangul as stored: the NFD name stays NFD (it is the file's real name), the NFC one NFC.
    assert!(text.contains(&format!("한국포커투어/{}", nfd("한글 에피소드 1.mp4"))));
    assert!(text.contains("한국포커투어/한글 에피소드 2.mp4"));
    assert!(text.contains("동기화됨,synced,"), "Korean status words");
    // Times: the Source file's mtime in the reader's zone.
    let rows = parse(&bytes);
    let plain = rows
        .iter()
        .find(|r| r[5] == "WSOP/2024/plain.mp4")
        .expect("plain row");
    let mtime = fs::metadata(e.root.join("WSOP/2024/plain.mp4"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let local = chrono::DateTime::<Utc>::from(mtime)
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("offset"))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    assert_eq!(plain[7], local);
    assert_eq!(plain[6], "10", "size in bytes");
    assert_eq!(plain[14], "예", "HLS playable");
    // English headers on request.
    let (en, _) = matching_csv(&e, &MatchingQuery::default(), &seoul(CsvLang::En));
    let en = parse(&en);
    assert_eq!(en[0][0], "Status");
    assert_eq!(en[0][7], "Modified (UTC+09:00)");
    assert!(en.iter().any(|r| r[0] == "Synced"));
}

/// Day 1: the tricky names. Day 2: a Hangul file moved to another catalog, one deleted.
fn history_scenario() -> Env {
    let e = synced();
    fs::create_dir_all(e.root.join("PAD")).expect("dir");
    fs::rename(
        e.root.join("한국포커투어").join(nfd("한글 에피소드 1.mp4")),
        e.root.join("PAD/moved.mp4"),
    )
    .expect("move");
    fs::remove_file(e.root.join("WSOP/2024/plain.mp4")).expect("delete");
    sync_on(&e, 2);
    e
}

fn search(e: &Env, term: &str) -> Vec<(String, String)> {
    let page = query::history(
        &e.cfg,
        &HistoryFilter {
            search: Some(term.into()),
            limit: Some(10_000),
            ..Default::default()
        },
    )
    .expect("history");
    assert_eq!(page.total as usize, page.items.len(), "{term}");
    page.items.into_iter().map(|i| (i.event, i.path)).collect()
}

#[test]
fn history_search_finds_exactly_the_rows_whose_paths_contain_the_term() {
    let e = history_scenario();
    let all = search(&e, "");
    // Every video added (not the .txt), then a move and a delete.
    assert_eq!(all.len(), tricky_names().len() - 1 + 2, "{all:?}");
    // Brute force: what a person means by "contains", on the NFC lowercase of both sides.
    let full = query::history(
        &e.cfg,
        &HistoryFilter {
            limit: Some(10_000),
            ..Default::default()
        },
    )
    .expect("history")
    .items;
    let key = |s: &str| s.nfc().collect::<String>().to_lowercase();
    for term in [
        "한글",
        &nfd("한글"),
        "에피소드 1",
        "%",
        "_",
        "100%_",
        "100%",
        "x-d",
        "wsop",
        "WSOP/2024/",
        "quoted",
        "B \"Q",
        "=",
        "한국포커투어",
        "no such thing",
    ] {
        let want: Vec<(String, String)> = full
            .iter()
            .filter(|h| {
                key(&h.path).contains(&key(term))
                    || h.old_path
                        .as_deref()
                        .is_some_and(|o| key(o).contains(&key(term)))
            })
            .map(|h| (h.event.clone(), h.path.clone()))
            .collect();
        assert_eq!(search(&e, term), want, "{term}");
    }
    // NFC and NFD of a term find the same rows; the NFD file (added) and its move (found by
    // the old path) both.
    assert_eq!(
        search(&e, "한글 에피소드 1"),
        search(&e, &nfd("한글 에피소드 1"))
    );
    let events: Vec<String> = search(&e, "한글 에피소드 1")
        .into_iter()
        .map(|(ev, _)| ev)
        .collect();
    assert_eq!(events, ["moved", "added"]);
    // % and _ are literal, not SQL wildcards.
    assert_eq!(
        search(&e, "100%_"),
        [("added".to_string(), "HCL/100%_done.mp4".to_string())]
    );
    assert!(search(&e, "1%0").is_empty());
    assert!(search(&e, "100_d").is_empty());
    // With the other filters and paging.
    let page = query::history(
        &e.cfg,
        &HistoryFilter {
            search: Some("wsop".into()),
            event: Some("added".into()),
            limit: Some(2),
            offset: Some(1),
            ..Default::default()
        },
    )
    .expect("history");
    let added_wsop: Vec<_> = search(&e, "wsop")
        .into_iter()
        .filter(|(ev, _)| ev == "added")
        .collect();
    assert_eq!(page.total as usize, added_wsop.len());
    let got: Vec<(String, String)> = page.items.into_iter().map(|i| (i.event, i.path)).collect();
    assert_eq!(got, added_wsop[1..3].to_vec());
}

#[test]
fn a_history_export_is_every_row_the_filters_match_newest_first() {
    let e = history_scenario();
    for f in [
        HistoryFilter::default(),
        HistoryFilter {
            search: Some("한글".into()),
            ..Default::default()
        },
        HistoryFilter {
            event: Some("added".into()),
            catalog: Some("WSOP".into()),
            limit: Some(1),
            offset: Some(3),
            ..Default::default()
        },
        HistoryFilter {
            since: Some("2026-03-02".into()),
            ..Default::default()
        },
    ] {
        let mut out = Vec::new();
        let rows = export::history_csv(&e.cfg, &f, &seoul(CsvLang::Ko), &mut out).expect("export");
        let parsed = parse(&out);
        assert_eq!(
            parsed[0],
            [
                "시간 (UTC+09:00)",
                "이벤트",
                "이벤트 코드",
                "카탈로그",
                "경로",
                "이전 경로",
                "대상 ID",
                "이력 ID"
            ]
        );
        let want = query::history(
            &e.cfg,
            &HistoryFilter {
                limit: Some(10_000),
                offset: None,
                ..f.clone()
            },
        )
        .expect("history");
        assert_eq!(rows, want.total, "{f:?}");
        let ids: Vec<String> = parsed[1..].iter().map(|r| r[7].clone()).collect();
        let want_ids: Vec<String> = want.items.iter().map(|i| i.id.to_string()).collect();
        assert_eq!(ids, want_ids, "{f:?}");
    }
    let mut out = Vec::new();
    export::history_csv(
        &e.cfg,
        &HistoryFilter::default(),
        &seoul(CsvLang::Ko),
        &mut out,
    )
    .expect("export");
    let parsed = parse(&out);
    let moved = parsed.iter().find(|r| r[2] == "moved").expect("moved row");
    assert_eq!(moved[0], "2026-03-02 18:00", "09:00 UTC is 18:00 in Seoul");
    assert_eq!(moved[1], "이동");
    assert_eq!(moved[4], "PAD/moved.mp4");
    assert_eq!(
        moved[5],
        format!("한국포커투어/{}", nfd("한글 에피소드 1.mp4"))
    );
    // A wrong filter is an error before anything is written.
    let mut out = Vec::new();
    assert!(
        export::history_csv(
            &e.cfg,
            &HistoryFilter {
                event: Some("nope".into()),
                ..Default::default()
            },
            &seoul(CsvLang::Ko),
            &mut out
        )
        .is_err()
    );
    assert!(out.is_empty());
}

#[test]
fn a_reconcile_export_has_one_row_per_finding_with_its_section() {
    let e = synced();
    fs::remove_file(e.root.join("HCL/100x-done.mp4")).expect("rm");
    put(&e.root, "HCL/new one.mp4", b"new");
    put(&e.root, "WSOP/2024/plain.mp4", b"changed and longer");
    fs::rename(
        e.root.join("WSOP/2024/-minus.mp4"),
        e.root.join("WSOP/-minus.mp4"),
    )
    .expect("mv");
    let clock = FixedClock(Utc::now());
    let r = reconcile::reconcile(&e.cfg, &clock).expect("reconcile");
    assert!(!r.in_sync);
    let mut out = Vec::new();
    let rows = export::reconcile_csv(&r, &seoul(CsvLang::Ko), &mut out).expect("export");
    assert_eq!(rows, export::reconcile_rows(&r));
    let parsed = parse(&out);
    assert_eq!(parsed[0][..3], ["구분", "구분 코드", "경로"]);
    assert_eq!(parsed.len() as u64, rows + 1);
    let in_section = |key: &str| -> Vec<&Vec<String>> {
        parsed[1..].iter().filter(|row| row[1] == key).collect()
    };
    assert_eq!(
        in_section("would_insert").len() as u64,
        r.would_insert.count
    );
    assert!(
        in_section("would_insert")
            .iter()
            .any(|row| row[2] == "HCL/new one.mp4")
    );
    let moves = in_section("would_move");
    assert_eq!(moves.len(), 1, "{parsed:?}");
    assert_eq!(moves[0][2], "WSOP/-minus.mp4");
    assert_eq!(moves[0][3], "WSOP/2024/-minus.mp4");
    assert_eq!(moves[0][0], "다음 동기화에서 이동");
    let deletes = in_section("would_delete");
    assert_eq!(deletes.len() as u64, r.would_delete.count);
    assert!(
        deletes.iter().all(|row| row[4].parse::<i64>().is_ok()),
        "Target ids"
    );
    assert_eq!(
        in_section("modified_on_share")
            .iter()
            .map(|row| row[2].as_str())
            .collect::<Vec<_>>(),
        ["WSOP/2024/plain.mp4"]
    );
    // Listed up to the cap by default; every finding when asked (the CLI's --csv).
    let full = reconcile::reconcile_listing(&e.cfg, &clock, usize::MAX).expect("reconcile");
    assert!(!export::reconcile_truncated(&full));
    let capped = reconcile::reconcile_listing(&e.cfg, &clock, 1).expect("reconcile");
    assert!(export::reconcile_truncated(&capped));
    assert_eq!(capped.would_insert.count, full.would_insert.count);
}
