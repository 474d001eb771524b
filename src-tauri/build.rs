//! Build script: the app's permission manifest (only our own commands get `allow-*`
//! permissions) and a placeholder web UI when `ui/dist` has not been built yet, so a fresh
//! clone still compiles (`tauri::generate_context!` embeds `frontendDist`).

use std::path::Path;

/// Every command the window may call; `capabilities/main.json` allows exactly these.
const COMMANDS: &[&str] = &[
    "get_dashboard",
    "get_matching",
    "get_matching_facets",
    "get_tree",
    "get_tree_node",
    "get_history",
    "get_health",
    "get_problems",
    "retry_problem",
    "export_matching_csv",
    "export_history_csv",
    "export_reconcile_csv",
    "get_status",
    "list_jobs",
    "get_job",
    "cancel_job",
    "start_sync",
    "start_scan",
    "start_reconcile",
    "pause_schedule",
    "resume_schedule",
    "get_settings",
    "save_settings",
    "test_root",
    "verify_admin_pin",
    "create_demo",
    "subscribe_logs",
    "subscribe_status",
    "unsubscribe",
    "open_log_folder",
    "open_containing_folder",
    "get_autostart",
    "set_autostart",
];

fn main() {
    let dist = Path::new("../ui/dist");
    println!("cargo:rerun-if-changed=../ui/dist/index.html");
    if !dist.join("index.html").is_file() {
        // Not the UI: a page that says how to build it. `npm run build` in ui/ replaces it.
        let _ = std::fs::create_dir_all(dist);
        let page = "<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
            <title>NAS 동기화 모니터</title></head><body>\
            <h1>NAS 동기화 모니터</h1>\
            <p>웹 UI가 빌드되지 않았습니다. <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code> 후 \
            다시 빌드하세요.</p>\
            <p>The web UI has not been built: run <code>npm ci &amp;&amp; npm run build</code> in \
            <code>ui/</code>, then rebuild the app.</p></body></html>\n";
        if let Err(e) = std::fs::write(dist.join("index.html"), page) {
            println!("cargo:warning=could not write a placeholder ui/dist/index.html: {e}");
        }
    }
    let attrs = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attrs) {
        panic!("tauri-build failed: {e:#}");
    }
}
