//! The contract between the hosts and the UI, checked from the sources: a command the UI calls
//! that the desktop shell does not register (the `get_health` of an earlier version), a route
//! missing from the OpenAPI document, or an HTTP call to a route the server does not have fails
//! here, before any screen does.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn read(rel: &str) -> String {
    fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `"…"` string literal in `text`.
fn strings(text: &str) -> Vec<String> {
    text.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not found"))
        + start.len();
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("`{end}` not found after `{start}`"));
    &text[from..from + len]
}

/// The names of the commands the desktop shell registers (`all_commands!`).
fn registered_commands() -> BTreeSet<String> {
    let text = read("src-tauri/src/commands/mod.rs");
    between(&text, "generate_handler![", "]")
        .split(',')
        .filter_map(|p| p.trim().rsplit("::").next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// The Tauri command names the UI's transport calls.
fn ui_commands() -> BTreeSet<String> {
    let text = read("ui/src/api/tauri.ts");
    let mut out = BTreeSet::new();
    for marker in ["this.call<", "this.call(", "this.stream<", "this.stream("] {
        for part in text.split(marker).skip(1) {
            // `this.call<T>("name"` or `this.call("name"`: the first string literal.
            if let Some(name) = strings(part).into_iter().next()
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !name.is_empty()
            {
                out.insert(name);
            }
        }
    }
    // `stream()` takes the command name from its caller: `this.stream<T>("subscribe_logs", …)`.
    out.remove("");
    out
}

#[test]
fn the_desktop_registers_allows_and_permits_every_command_the_ui_calls() {
    let registered = registered_commands();
    let build = read("src-tauri/build.rs");
    let manifest: BTreeSet<String> = strings(between(&build, "const COMMANDS: &[&str] = &[", "];"))
        .into_iter()
        .collect();
    assert_eq!(
        registered, manifest,
        "build.rs COMMANDS (the app manifest) and all_commands! must list the same commands"
    );
    let caps: serde_json::Value =
        serde_json::from_str(&read("src-tauri/capabilities/main.json")).expect("capabilities");
    let allowed: BTreeSet<String> = caps["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    assert_eq!(
        registered, allowed,
        "capabilities/main.json must allow exactly the registered commands"
    );
    let ui = ui_commands();
    assert!(ui.len() >= 20, "the UI's commands were found: {ui:?}");
    let missing: Vec<&String> = ui.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "the UI calls commands the desktop does not register: {missing:?}"
    );
    // And the other way: every registered command is called by the UI. Known exception: the
    // two autostart commands, which no screen calls (the settings' `autostart` field is applied
    // by the shell's autostart.rs when saved); they stay only until a screen shows the OS entry.
    let unused: Vec<&String> = registered
        .difference(&ui)
        .filter(|c| !["get_autostart", "set_autostart"].contains(&c.as_str()))
        .collect();
    assert!(
        unused.is_empty(),
        "the desktop registers commands no screen calls (dead, or a missing button): {unused:?}"
    );
    // Every UI command is in the transport's doc comment too (the list people read).
    let doc = between(
        &read("ui/src/api/tauri.ts"),
        "register these commands:",
        "Errors arrive",
    )
    .to_string();
    for c in &ui {
        assert!(doc.contains(c.as_str()), "tauri.ts's comment lists {c}");
    }
}

/// `(METHOD, /path/{param})` of every route in serve.rs's router (not the catch-alls).
fn router_routes() -> BTreeSet<(String, String)> {
    let text = read("src-tauri/cli/src/serve.rs");
    let router = between(&text, "let api = Router::new()", ".with_state(state)");
    let mut out = BTreeSet::new();
    for part in router.split(".route(").skip(1) {
        let path = strings(part).into_iter().next().expect("route path");
        if path.contains('*') {
            continue;
        }
        let handlers = &part[part.find(',').expect("handler") + 1..];
        let handlers = handlers.split(".route(").next().unwrap_or(handlers);
        for (m, method) in [
            ("get(", "GET"),
            ("post(", "POST"),
            ("put(", "PUT"),
            ("delete(", "DELETE"),
        ] {
            if handlers.contains(m) {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_in_the_openapi_document_and_every_ui_call_is_a_route() {
    let routes = router_routes();
    assert!(routes.len() >= 20, "routes found: {routes:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&read("src-tauri/cli/src/openapi.json")).expect("openapi.json");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    // WebSockets are upgrades, not operations of the document.
    let http: BTreeSet<_> = routes
        .iter()
        .filter(|(_, p)| !p.starts_with("/ws/"))
        .cloned()
        .collect();
    assert_eq!(
        http, documented,
        "the router and openapi.json must have the same operations"
    );

    // The UI's HTTP transport: `this.call<T>("METHOD", "/api/…"` (a `${id}` is a parameter).
    let ui = read("ui/src/api/http.ts");
    let mut calls = BTreeSet::new();
    for part in ui.split("this.call<").skip(1) {
        let lits: Vec<String> = part
            .split(['"', '`'])
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s.to_string())
            .take(2)
            .collect();
        if let [method, path] = lits.as_slice()
            && method.chars().all(|c| c.is_ascii_uppercase())
        {
            calls.insert((method.clone(), path.replace("${id}", "{id}")));
        }
    }
    assert!(calls.len() >= 18, "UI calls found: {calls:?}");
    let missing: Vec<_> = calls.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "the UI calls routes the server does not have: {missing:?}"
    );
    for ws in ["/ws/logs", "/ws/status"] {
        assert!(ui.contains(ws), "the UI follows {ws}");
        assert!(routes.contains(&("GET".to_string(), ws.to_string())));
    }
}
