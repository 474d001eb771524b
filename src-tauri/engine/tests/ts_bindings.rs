//! The web UI's TypeScript types (`ui/src/api/generated/*.ts`) are generated from the engine's
//! output structs with ts-rs and committed. This test regenerates them into a temporary folder
//! and fails when the committed files differ (stale bindings). `UPDATE_BINDINGS=1 cargo test -p
//! nas-sync-engine --test ts_bindings` rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nas_sync_engine::matching::{MatchingPage, MatchingQuery, Tree, TreeNode};
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
        Tree::export_all(&cfg),
        TreeNode::export_all(&cfg),
        HistoryPage::export_all(&cfg),
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
