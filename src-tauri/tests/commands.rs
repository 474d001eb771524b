//! Every window command through Tauri's IPC on the mock runtime (headless): the app's real
//! builder, capabilities and ACL, a demo archive, and answers compared with the engine's own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nas_sync_engine::runtime::LogHub;
use nas_sync_engine::{Config, matching, query};
use nas_sync_monitor_lib::{Options, app_builder};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow};

struct Fixture {
    _dir: tempfile::TempDir,
    config: PathBuf,
    app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

/// The app on `config` (a demo archive unless `demo` is false: then no settings file yet).
fn fixture(demo: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = if demo {
        nas_sync_engine::demo::write_demo(&dir.path().join("demo"), 120).expect("demo");
        dir.path().join("demo").join("nas-sync.toml")
    } else {
        dir.path().join("fresh").join("nas-sync.toml")
    };
    let opts = Options {
        minimized: true,
        config: Some(config.clone()),
        schedule: false,
        watch: false,
        tray: false,
        notifications: false,
        release_after: None,
    };
    let app = app_builder(mock_builder(), opts, LogHub::new())
        .build(tauri::generate_context!())
        .expect("the app builds on the mock runtime");
    let window = match app.get_webview_window("main") {
        Some(w) => w,
        None => tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("main window"),
    };
    Fixture {
        _dir: dir,
        config,
        app,
        window,
    }
}

impl Fixture {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().expect("JSON answer"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    fn err(&self, cmd: &str, args: Value) -> Value {
        match self.call(cmd, args) {
            Ok(v) => panic!("{cmd} should fail, answered {v}"),
            Err(e) => e,
        }
    }

    fn cfg(&self) -> Config {
        let (cfg, _) = Config::load(Some(&self.config)).expect("config");
        cfg
    }

    /// Start a sync and wait for its report.
    fn sync(&self) -> Value {
        let started = self.ok("start_sync", json!({}));
        assert_eq!(started["started"], true, "{started}");
        assert_eq!(started["kind"], "sync");
        self.wait_job(started["job_id"].as_u64().expect("job id"))
    }

    fn wait_job(&self, id: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.ok("get_job", json!({"id": id}));
            if job["state"] != "running" {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} still running: {job}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn to_json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("serializable")
}

#[test]
fn dashboard_after_a_sync_from_the_window_equals_the_engines_dashboard() {
    let f = fixture(true);
    let job = f.sync();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job["result"]["added"].as_u64().unwrap_or(0) > 0, "{job}");
    let shown = f.ok("get_dashboard", json!({}));
    let engine = to_json(query::dashboard(&f.cfg()).expect("engine dashboard"));
    assert_eq!(shown["source"], engine["source"]);
    assert_eq!(shown["target"], engine["target"]);
    assert_eq!(shown["catalogs"], engine["catalogs"]);
    assert_eq!(shown["matching"], engine["matching"]);
    assert_eq!(shown["source"]["total_files"], 120, "{shown}");
    assert!(shown["target"]["total_files"].as_u64().unwrap_or(0) > 0);
    let jobs = f.ok("list_jobs", json!({}));
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
}

#[test]
fn matching_tree_and_history_answer_what_the_engine_answers() {
    let f = fixture(true);
    f.sync();
    let cfg = f.cfg();
    let page = f.ok(
        "get_matching",
        json!({"query": {"status": "synced", "sort": "path", "per_page": 10, "page": 1}}),
    );
    let index = nas_sync_engine::index::Index::open(&cfg).expect("index");
    let engine = matching::matching_in(
        &index,
        &matching::MatchingQuery {
            status: Some("synced".into()),
            sort: Some("path".into()),
            per_page: Some(10),
            page: Some(1),
            ..Default::default()
        },
    )
    .expect("engine matching");
    assert_eq!(page, to_json(&engine));
    assert_eq!(page["items"].as_array().map(Vec::len), Some(10));
    // No query at all is the first page of everything.
    let all = f.ok("get_matching", json!({}));
    assert_eq!(all["summary"], page["summary"]);

    let tree = f.ok("get_tree", json!({}));
    assert_eq!(tree, to_json(matching::tree(&cfg).expect("engine tree")));
    let node = f.ok("get_tree_node", json!({"query": {"path": "", "limit": 50}}));
    assert_eq!(
        node,
        to_json(matching::tree_node_in(&index, "", 0, Some(50)).expect("engine node"))
    );

    let history = f.ok("get_history", json!({"query": {"limit": 5}}));
    let filter = query::HistoryFilter {
        limit: Some(5),
        ..Default::default()
    };
    assert_eq!(
        history,
        to_json(query::history(&cfg, &filter).expect("engine history"))
    );
    assert!(!history["items"].as_array().expect("items").is_empty());
}

#[test]
fn matching_filters_and_their_values_answer_what_the_engine_answers() {
    let f = fixture(true);
    f.sync();
    let cfg = f.cfg();
    let facets = f.ok("get_matching_facets", json!({}));
    assert_eq!(
        facets,
        to_json(nas_sync_engine::query::filters::facets(&cfg).expect("engine facets"))
    );
    // The demo's two events' Part1.mp4 are a name collision.
    assert!(
        facets["name_collisions"].as_u64().unwrap_or(0) >= 2,
        "{facets}"
    );
    let page = f.ok(
        "get_matching",
        json!({"query": {"collision": true, "ext": "mp4", "per_page": 200}}),
    );
    let engine = matching::matching(
        &cfg,
        &matching::MatchingQuery {
            collision: true,
            ext: Some("mp4".into()),
            per_page: Some(200),
            ..Default::default()
        },
    )
    .expect("engine matching");
    assert_eq!(page, to_json(&engine));
    let flagged: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["name_collision"] == true)
        .filter_map(|i| i["source"]["path"].as_str())
        .collect();
    assert!(
        flagged.contains(&"WSOP/2024/Main Event/Part1.mp4"),
        "{flagged:?}"
    );
    let mxf = f.ok("get_matching", json!({"query": {"reason": "mxf"}}));
    assert_eq!(mxf["total"], facets["reasons"][0]["count"], "{mxf}");
    let e = f.err("get_matching", json!({"query": {"reason": "avi"}}));
    assert_eq!(
        (&e["code"], &e["field"]),
        (&json!("invalid_argument"), &json!("reason"))
    );
}

#[test]
fn errors_arrive_as_code_and_message() {
    let f = fixture(true);
    let e = f.err("get_job", json!({"id": 999}));
    assert_eq!(e["code"], "not_found", "{e}");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("999")));
    f.sync();
    let e = f.err("get_tree_node", json!({"query": {"path": "no/such/dir"}}));
    assert_eq!(e["code"], "not_found", "{e}");
    assert_eq!(e["field"], "path");
    let e = f.err("get_tree_node", json!({"query": {"path": "", "limit": 0}}));
    assert_eq!(
        (&e["code"], &e["field"]),
        (&json!("invalid_argument"), &json!("limit"))
    );
    let e = f.err("get_matching", json!({"query": {"status": "bogus"}}));
    assert_eq!(e["code"], "invalid_argument", "{e}");
    let e = f.err("cancel_job", json!({"id": 1}));
    assert_eq!(e["code"], "not_running", "{e}");
    let e = f.err("cancel_job", json!({"id": 77}));
    assert_eq!(e["code"], "not_found", "{e}");
    // A command the app does not have is refused by Tauri, not by us.
    assert!(f.call("drop_database", json!({})).is_err());
}

#[test]
fn status_pause_resume_reconcile_and_scan() {
    let f = fixture(true);
    let s = f.ok("get_status", json!({}));
    assert_eq!(s["status"], "ok", "{s}");
    let s = f.ok("pause_schedule", json!({}));
    assert_eq!(
        (&s["status"], &s["paused"]),
        (&json!("paused"), &json!(true))
    );
    assert_eq!(s["label"], "일시정지");
    let s = f.ok("resume_schedule", json!({}));
    assert_eq!((&s["status"], &s["paused"]), (&json!("ok"), &json!(false)));

    f.sync();
    let r = f.ok("start_reconcile", json!({}));
    assert!(r["result"].is_object(), "reconcile report: {r}");
    assert!(r["job_id"].as_u64().is_some());

    // 스캔 실행 is an administrator's: refused by the engine until a PIN exists and unlocks it.
    let e = f.err("start_scan", json!({}));
    assert_eq!(e["code"], "admin_pin_not_set", "{e}");
    f.ok("save_settings", json!({"patch": {"admin_pin": "7531"}}));
    let e = f.err("start_scan", json!({}));
    assert_eq!(e["code"], "admin_required", "{e}");
    let wrong = f.ok("verify_admin_pin", json!({"pin": "0000"}));
    assert_eq!(wrong["ok"], false, "{wrong}");
    assert_eq!(f.err("start_scan", json!({}))["code"], "admin_required");
    let right = f.ok("verify_admin_pin", json!({"pin": "7531"}));
    assert_eq!(right["ok"], true, "{right}");
    let scan = f.ok("start_scan", json!({}));
    assert_eq!(scan["kind"], "scan", "{scan}");
    // While it runs, asking again answers with the running job, and cancel is accepted.
    let again = f.ok("start_sync", json!({}));
    let id = scan["job_id"].as_u64().expect("scan id");
    if again["started"] == false {
        assert_eq!(again["job_id"], scan["job_id"]);
        let c = f.call("cancel_job", json!({"id": id}));
        assert!(c.is_ok() || c.is_err_and(|e| e["code"] == "not_running"));
    }
    let job = f.wait_job(id);
    assert!(
        ["succeeded", "cancelled"].contains(&job["state"].as_str().unwrap_or("")),
        "{job}"
    );
}

#[test]
fn settings_are_validated_saved_and_read_back() {
    let f = fixture(true);
    let s = f.ok("get_settings", json!({}));
    assert_eq!(s["path"], json!(f.config));
    assert_eq!(s["config"]["interval_minutes"], 30, "{s}");
    assert!(s["warning"].is_null());

    let e = f.err("save_settings", json!({"patch": {"interval_minutes": 0}}));
    assert_eq!(e["code"], "invalid_settings", "{e}");
    let fields: Vec<&str> = e["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .filter_map(|x| x["field"].as_str())
        .collect();
    assert!(fields.contains(&"interval_minutes"), "{e}");
    let e = f.err("save_settings", json!({"patch": [1, 2]}));
    assert_eq!(e["code"], "invalid_argument", "{e}");

    let saved = f.ok("save_settings", json!({"patch": {"interval_minutes": 15}}));
    assert_eq!(saved["saved"], true);
    assert_eq!(saved["config"]["interval_minutes"], 15);
    assert_eq!(f.cfg().interval_minutes, 15, "written to the file");
    assert_eq!(
        f.ok("get_settings", json!({}))["config"]["interval_minutes"],
        15
    );
}

#[test]
fn test_root_reports_reachable_and_missing_roots() {
    let f = fixture(true);
    let root = f.cfg().root.expect("demo root");
    let t = f.ok("test_root", json!({"root": root}));
    assert_eq!(t["ok"], true, "{t}");
    assert!(t["entries"].as_u64().unwrap_or(0) > 0);
    let t = f.ok("test_root", json!({"root": root.join("nope")}));
    assert_eq!(t["ok"], false, "{t}");
    assert_eq!(t["code"], "root_unreachable");
    let t = f.ok("test_root", json!({"root": "  "}));
    assert_eq!(t["code"], "invalid_argument");
}

#[test]
fn first_run_onboarding_demo_then_refused_once_configured() {
    let f = fixture(false);
    let e = f.err("get_dashboard", json!({}));
    assert_eq!(e["code"], "config_invalid", "no root yet: {e}");
    let d = f.ok("create_demo", json!({}));
    assert!(d["files"].as_u64().unwrap_or(0) > 0, "{d}");
    let dir = PathBuf::from(d["dir"].as_str().expect("dir"));
    assert_eq!(dir, f.config.parent().expect("dir").join("demo"));
    let job = f.wait_job(d["job_id"].as_u64().expect("job id"));
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(f.cfg().root, Some(dir.join("archive")), "settings saved");
    assert!(f.ok("get_dashboard", json!({}))["target"]["total_files"].as_u64() > Some(0));
    let e = f.err("create_demo", json!({}));
    assert_eq!(e["code"], "already_configured", "{e}");
}

#[test]
fn log_folder_is_next_to_archive_db_and_autostart_needs_its_plugin() {
    let f = fixture(true);
    let folder = f.ok("open_log_folder", json!({}));
    let db = f.cfg().archive_db_path().expect("archive.db path");
    assert_eq!(
        Path::new(folder["path"].as_str().expect("path")),
        db.with_file_name("logs")
    );
    // The mock app has no autostart plugin: a clear error, not a panic.
    let e = f.err("get_autostart", json!({}));
    assert_eq!(e["code"], "unavailable", "{e}");
    let e = f.err("set_autostart", json!({"enabled": true}));
    assert_eq!(e["code"], "unavailable", "{e}");
}

#[test]
fn log_and_status_streams_open_and_close() {
    let f = fixture(true);
    let shell = f.app.state::<nas_sync_monitor_lib::state::Shell>();
    let logs = f.ok("subscribe_logs", json!({"channel": "__CHANNEL__:1"}));
    let status = f.ok("subscribe_status", json!({"channel": "__CHANNEL__:2"}));
    assert_ne!(logs, status);
    assert_eq!(shell.subscription_count(), 2);
    let hub_subs = shell.monitor.logs().subscriber_count();
    assert!(hub_subs >= 1);
    f.ok("unsubscribe", json!({"id": logs}));
    assert_eq!(shell.monitor.logs().subscriber_count(), hub_subs - 1);
    f.ok("unsubscribe", json!({"id": status}));
    assert_eq!(shell.subscription_count(), 0);
    let e = f.err("unsubscribe", json!({"id": logs}));
    assert_eq!(e["code"], "not_found", "{e}");
}

#[test]
fn the_windows_admin_actions_go_through_the_engines_admin_checks() {
    let f = fixture(true);
    f.sync();
    // No PIN yet: admin settings and a forced sync are refused until one is set.
    let e = f.err("save_settings", json!({"patch": {"max_delete_count": 1}}));
    assert_eq!(e["code"], "admin_pin_not_set", "{e}");
    let approval = json!({"force": {"refused_job": 999, "deletions": 1}});
    assert_eq!(
        f.err("start_sync", approval.clone())["code"],
        "admin_pin_not_set"
    );
    // The window's user sets the first PIN, with an admin setting in the same save.
    let saved = f.ok(
        "save_settings",
        json!({"patch": {"admin_pin": "1357", "max_delete_count": 5}}),
    );
    assert_eq!(saved["config"]["max_delete_count"], 5, "{saved}");
    assert_eq!(f.cfg().max_delete_count, 5, "saved to the settings file");
    let e = f.err("save_settings", json!({"patch": {"max_delete_count": 6}}));
    assert_eq!(e["code"], "admin_required", "{e}");
    assert_eq!(
        f.err("start_sync", approval.clone())["code"],
        "admin_required"
    );
    // Settings anyone may change still save.
    f.ok("save_settings", json!({"patch": {"interval_minutes": 25}}));
    // Unlocked with the PIN, the same calls get past the admin check.
    assert_eq!(f.ok("verify_admin_pin", json!({"pin": "1357"}))["ok"], true);
    let saved = f.ok("save_settings", json!({"patch": {"max_delete_count": 6}}));
    assert_eq!(saved["config"]["max_delete_count"], 6);
    // A forced sync must name a refused job that exists, with its numbers.
    assert_eq!(f.err("start_sync", approval)["code"], "not_found");
    // ffprobe_path is never set from the window, even by an administrator.
    let e = f.err(
        "save_settings",
        json!({"patch": {"ffprobe_path": "/bin/sh"}}),
    );
    assert_eq!(e["code"], "invalid_settings", "{e}");
    assert_eq!(e["errors"][0]["field"], "ffprobe_path", "{e}");
    assert_eq!(f.cfg().ffprobe_path, None);
}

#[test]
fn open_containing_folder_answers_only_inside_the_archive_and_retry_names_a_gone_problem() {
    let f = fixture(true);
    f.sync();
    let page = f.ok("get_matching", json!({"query": {"per_page": 1}}));
    let path = page["items"][0]["source"]["path"]
        .as_str()
        .expect("a Source file")
        .to_string();
    let root = f.cfg().root.expect("root");
    let opened = f.ok("open_containing_folder", json!({"path": path}));
    assert_eq!(opened["exists"], true, "{opened}");
    let expected = root.join(&path);
    assert_eq!(
        Path::new(opened["folder"].as_str().expect("folder")),
        expected.parent().expect("its folder")
    );
    let e = f.err(
        "open_containing_folder",
        json!({"path": "../../etc/passwd"}),
    );
    assert_eq!(e["code"], "invalid_argument", "{e}");

    let e = f.err("retry_problem", json!({"id": 424242}));
    assert_eq!(e["code"], "not_found", "{e}");
}

/// Read an export the app saved (it goes to the user's Downloads folder), then remove it.
fn take_export(saved: &Value) -> String {
    let path = PathBuf::from(saved["path"].as_str().expect("path"));
    assert!(
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("nas-sync-") && n.ends_with(".csv")),
        "{saved}"
    );
    let bytes = std::fs::read(&path).expect("the saved export");
    let _ = std::fs::remove_file(&path);
    assert_eq!(saved["bytes"].as_u64(), Some(bytes.len() as u64));
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    String::from_utf8(bytes[3..].to_vec()).expect("UTF-8")
}

#[test]
fn exports_are_saved_with_every_row_the_screens_filters_match() {
    let f = fixture(true);
    f.sync();
    let cfg = f.cfg();
    let total = matching::matching(
        &cfg,
        &matching::MatchingQuery {
            status: Some("synced".into()),
            ..Default::default()
        },
    )
    .expect("engine matching")
    .total;
    assert!(total > 20, "more than one page: {total}");
    let saved = f.ok(
        "export_matching_csv",
        json!({"query": {"status": "synced", "page": 3, "per_page": 20}, "lang": "ko"}),
    );
    assert_eq!(saved["rows"].as_u64(), Some(total), "{saved}");
    let text = take_export(&saved);
    assert!(text.starts_with("상태,상태 코드,사유,"), "{}", &text[..80]);
    assert_eq!(text.matches("\r\n").count() as u64, total + 1);

    let history = query::history(
        &cfg,
        &query::HistoryFilter {
            search: Some("wsop".into()),
            limit: Some(10_000),
            ..Default::default()
        },
    )
    .expect("engine history");
    assert!(history.total > 0);
    let saved = f.ok(
        "export_history_csv",
        json!({"query": {"search": "wsop"}, "lang": "en"}),
    );
    assert_eq!(saved["rows"].as_u64(), Some(history.total));
    let text = take_export(&saved);
    assert!(text.starts_with("Time (UTC"), "{}", &text[..40]);

    // No reconcile yet: nothing to export. After one: its report.
    let e = f.err("export_reconcile_csv", json!({}));
    assert_eq!(e["code"], "not_found", "{e}");
    let r = f.ok("start_reconcile", json!({}));
    let saved = f.ok("export_reconcile_csv", json!({"jobId": r["job_id"]}));
    let text = take_export(&saved);
    assert!(text.starts_with("구분,구분 코드,경로,"), "{text}");

    // A wrong filter is an error, and no file (or part of one) is left behind.
    let before: Vec<_> = std::fs::read_dir(nas_sync_monitor_lib::commands::export::export_dir())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let e = f.err("export_matching_csv", json!({"query": {"status": "bogus"}}));
    assert_eq!(
        (&e["code"], &e["field"]),
        (&json!("invalid_argument"), &json!("status"))
    );
    let after: Vec<_> = std::fs::read_dir(nas_sync_monitor_lib::commands::export::export_dir())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(before, after);
}

#[test]
fn an_export_never_replaces_a_file_and_leaves_no_part_on_failure() {
    use nas_sync_monitor_lib::commands::export::save_into;
    let dir = tempfile::tempdir().expect("dir");
    let write = |text: &'static str| {
        move |out: &mut dyn std::io::Write| {
            out.write_all(text.as_bytes()).map_err(|e| {
                nas_sync_engine::ErrorBody::new(nas_sync_engine::ErrorCode::Io, e.to_string())
            })?;
            Ok(1)
        }
    };
    let a = save_into(dir.path(), "matching", write("a")).expect("first");
    let b = save_into(dir.path(), "matching", write("b")).expect("second");
    assert_ne!(
        a.path, b.path,
        "a second export of the same minute gets its own name"
    );
    assert_eq!(std::fs::read_to_string(&b.path).expect("b"), "b");
    std::fs::write(dir.path().join("x.csv"), "x").expect("x");
    assert_eq!(
        nas_sync_monitor_lib::commands::export::free_name(dir.path(), "x.csv"),
        dir.path().join("x (2).csv")
    );
    assert_eq!(std::fs::read_to_string(&a.path).expect("a"), "a");
    let failed = save_into(dir.path(), "matching", |out: &mut dyn std::io::Write| {
        let _ = out.write_all(b"half");
        Err(nas_sync_engine::ErrorBody::new(
            nas_sync_engine::ErrorCode::Internal,
            "boom",
        ))
    });
    assert!(failed.is_err());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "a, b and x only: {names:?}");
}
