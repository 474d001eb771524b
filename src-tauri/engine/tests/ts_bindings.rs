//! The web UI's TypeScript types (`ui/src/api/generated/*.ts`) are generated from the engine's
//! output structs with ts-rs and committed. This test regenerates them into a temporary folder
//! and fails when the committed files differ (stale bindings). `UPDATE_BINDINGS=1 cargo test -p
//! nas-sync-engine --test ts_bindings` rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nas_sync_engine::archive::ProblemList;
use nas_sync_engine::matching::{MatchingPage, MatchingQuery, Tree, TreeNode};
use nas_sync_engine::query::filters::MatchingFacets;
use nas_sync_engine::query::{Dashboard, HistoryFilter, HistoryPage};
use nas_sync_engine::reconcile::ReconcileReport;
use nas_sync_engine::runtime::actions::{PinCheck, SettingsSaved, SettingsView};
use nas_sync_engine::runtime::logs::LogLine;
use nas_sync_engine::runtime::monitor::{ForceApproval, JobInfo, Started, Status};
use nas_sync_engine::runtime::service::{CancelRequested, Health, StartResponse, TreeQuery};
use nas_sync_engine::runtime::settings::FieldError;
use nas_sync_engine::sync::SyncReport;
use nas_sync_engine::{Config, ErrorBody, ErrorCode};
use ts_rs::TS;

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/api/generated")
}

/// Every root type the UI reads; their dependencies come along.
fn export_all(dir: &Path) {
    // u64/i64 are JSON numbers to JavaScript (ids and counts stay far below 2^53).
    let cfg = ts_rs::Config::new()
        .with_large_int("number")
        .with_out_dir(dir);
    let results = [
        Dashboard::export_all(&cfg),
        MatchingPage::export_all(&cfg),
        MatchingFacets::export_all(&cfg),
        Tree::export_all(&cfg),
        TreeNode::export_all(&cfg),
        HistoryPage::export_all(&cfg),
        ProblemList::export_all(&cfg),
        Status::export_all(&cfg),
        JobInfo::export_all(&cfg),
        Started::export_all(&cfg),
        LogLine::export_all(&cfg),
        FieldError::export_all(&cfg),
        Config::export_all(&cfg),
        SettingsView::export_all(&cfg),
        SettingsSaved::export_all(&cfg),
        PinCheck::export_all(&cfg),
        ForceApproval::export_all(&cfg),
        ReconcileReport::export_all(&cfg),
        SyncReport::export_all(&cfg),
        // The service API's requests, answers and errors (one contract for HTTP and IPC).
        MatchingQuery::export_all(&cfg),
        HistoryFilter::export_all(&cfg),
        TreeQuery::export_all(&cfg),
        StartResponse::export_all(&cfg),
        CancelRequested::export_all(&cfg),
        Health::export_all(&cfg),
        ErrorCode::export_all(&cfg),
        ErrorBody::export_all(&cfg),
    ];
    for r in results {
        r.expect("exporting a TypeScript binding failed");
    }
}

fn read_ts(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".ts") {
            let text = std::fs::read_to_string(e.path()).expect("reading a binding");
            files.insert(name, text);
        }
    }
    files
}

#[test]
fn typescript_bindings_are_up_to_date() {
    let tmp = tempfile::tempdir().expect("temp dir");
    export_all(tmp.path());
    let fresh = read_ts(tmp.path());
    assert!(
        fresh.contains_key("Dashboard.ts") && fresh.contains_key("MatchStatus.ts"),
        "ts-rs exported no bindings: {:?}",
        fresh.keys().collect::<Vec<_>>()
    );
    let dir = committed_dir();
    if std::env::var("UPDATE_BINDINGS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).expect("creating ui/src/api/generated");
        for old in read_ts(&dir).keys() {
            if !fresh.contains_key(old) {
                std::fs::remove_file(dir.join(old)).expect("removing a stale binding");
            }
        }
        for (name, text) in &fresh {
            std::fs::write(dir.join(name), text).expect("writing a binding");
        }
        return;
    }
    let committed = read_ts(&dir);
    let missing: Vec<_> = fresh
        .keys()
        .filter(|k| !committed.contains_key(*k))
        .collect();
    let extra: Vec<_> = committed
        .keys()
        .filter(|k| !fresh.contains_key(*k))
        .collect();
    let changed: Vec<_> = fresh
        .iter()
        .filter(|(k, v)| committed.get(*k).is_some_and(|c| c != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && changed.is_empty(),
        "ui/src/api/generated is stale (missing {missing:?}, extra {extra:?}, changed {changed:?}); \
         run: UPDATE_BINDINGS=1 cargo test -p nas-sync-engine --test ts_bindings"
    );
}

/// A field the JSON leaves out (`skip_serializing_if`) is optional in TypeScript (`key?:`), not
/// `T | null` or always present: the UI must not read a missing key as present. Checked on the
/// engine's sources, since ts-rs cannot see serde's skip conditions.
#[test]
fn every_field_the_json_can_omit_is_optional_in_typescript() {
    fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("src").flatten() {
            let p = e.path();
            if p.is_dir() {
                rs_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    rs_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut checked = 0;
    let mut wrong = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.trim_start().starts_with("#[serde(") || !l.contains("skip_serializing_if") {
                continue;
            }
            // Only types exported to TypeScript (the nearest derive above names ts_rs::TS).
            let exported = lines[..i]
                .iter()
                .rposition(|l| l.trim_start().starts_with("#[derive("))
                .is_some_and(|d| lines[d..i].iter().take(4).any(|l| l.contains("TS")));
            if !exported {
                continue;
            }
            // The attributes up to the field they belong to.
            let mut attrs = String::new();
            let mut field = "";
            for next in &lines[i..] {
                let t = next.trim_start();
                if t.starts_with("#[") || t.starts_with("///") {
                    attrs.push_str(t);
                } else {
                    field = t;
                    break;
                }
            }
            checked += 1;
            let ts_optional = attrs
                .split("#[")
                .any(|a| a.starts_with("ts(") && a.contains("optional"));
            if !ts_optional {
                wrong.push(format!("{}:{}: {field}", f.display(), i + 1));
            }
        }
    }
    assert!(
        checked >= 4,
        "found only {checked} skipped fields: is the scan broken?"
    );
    assert!(
        wrong.is_empty(),
        "fields the JSON omits but TypeScript declares present; add #[ts(optional)]: {wrong:#?}"
    );
}
