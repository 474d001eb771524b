//! The admin PIN through the settings patch (`apply_settings_patch`) and the unlock check
//! (`verify_admin_pin`), with a real settings file: set, change (needs the current PIN), wrong
//! current PIN refused as a field error, clear, a hash in a patch refused, the hash persisted
//! by the store and reloaded, and the settings answers carrying `admin_pin_set` but never the
//! hash.
//!
//! The patches come from the command line's caller (an administrator): who may change what is
//! tested in `admin_boundary.rs`. Wrong guesses are counted per client (five in a row lock
//! that client for 30 s); the steps share one client, in order.

mod common;

use nas_sync_engine::runtime::Caller;
use nas_sync_engine::runtime::Monitor;
use nas_sync_engine::runtime::actions::{self, PatchError, PinCheck, SettingsSaved, SettingsView};
use nas_sync_engine::runtime::admin::AdminGate;
use nas_sync_engine::runtime::settings::{FieldError, SettingsStore};
use serde_json::{Value, json};

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn invalid(r: Result<nas_sync_engine::Config, PatchError>) -> Vec<FieldError> {
    match r {
        Err(PatchError::Invalid(errors)) => errors,
        other => panic!("expected field errors, got {other:?}"),
    }
}

fn stored_hash(store: &SettingsStore) -> Option<String> {
    let text = std::fs::read_to_string(store.path()).expect("settings file");
    let v: toml::Value = toml::from_str(&text).expect("settings TOML");
    v.get("admin_pin_hash")
        .and_then(|h| h.as_str())
        .map(String::from)
}

/// The unlock check, as a client of its own would make it against `cfg`.
fn verify_admin_pin(gate: &AdminGate, cfg: &nas_sync_engine::Config, pin: &str) -> PinCheck {
    gate.unlock(cfg, "test", pin, std::time::Instant::now()).0
}

#[test]
fn the_pin_is_set_changed_with_the_current_pin_cleared_and_never_leaves_as_a_hash() {
    let e = common::env();
    let (store, m) = common::settings_and_monitor(&e);
    let gate = AdminGate::new();
    let view = |m: &Monitor| {
        serde_json::to_value(SettingsView::new(m, Some(&store), None)).expect("view JSON")
    };
    assert_eq!(view(&m)["admin_pin_set"], false);
    assert!(!verify_admin_pin(&gate, &m.config(), "1234").admin_pin_set);

    // Too short: refused on admin_pin, nothing saved.
    let errs = invalid(actions::apply_settings_patch(
        &m,
        Some(&store),
        json!({"admin_pin": "12"}),
        &Caller::cli(),
    ));
    assert_eq!(errs[0].field, "admin_pin", "{errs:?}");
    assert!(errs[0].message.starts_with("관리자 PIN은"), "{errs:?}");
    assert_eq!(stored_hash(&store), None);

    // Set: the file holds an Argon2id hash, not the PIN; the answers say admin_pin_set only.
    let cfg = actions::apply_settings_patch(
        &m,
        Some(&store),
        json!({"admin_pin": "2468", "interval_minutes": 45}),
        &Caller::cli(),
    )
    .expect("set the PIN");
    assert_eq!(cfg.interval_minutes, 45);
    let hash = stored_hash(&store).expect("hash in the settings file");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let file = std::fs::read_to_string(store.path()).expect("file");
    assert!(
        !file.contains("2468"),
        "the PIN itself is in the file:\n{file}"
    );
    let saved = serde_json::to_value(SettingsSaved::new(cfg, Some(&store))).expect("JSON");
    assert_eq!(saved["admin_pin_set"], true);
    assert_eq!(saved["saved"], true);
    let shown = view(&m);
    assert_eq!(shown["admin_pin_set"], true);
    let text = shown.to_string();
    assert!(
        !text.contains("admin_pin_hash") && !text.contains("argon2"),
        "the settings answer carries the hash: {text}"
    );
    assert!(shown["config"].get("admin_pin_hash").is_none());

    // Reloaded from the file: the same hash, the same PIN unlocks.
    let reloaded = store.load(now()).expect("reload").config;
    assert_eq!(reloaded.admin_pin_hash.as_deref(), Some(hash.as_str()));
    assert!(verify_admin_pin(&gate, &reloaded, "2468").ok);
    let wrong = verify_admin_pin(&gate, &reloaded, "1111");
    assert!(!wrong.ok && wrong.admin_pin_set, "{wrong:?}");
    assert!(
        wrong.message.starts_with("PIN이 맞지 않습니다"),
        "{wrong:?}"
    );

    // Changing it without the current PIN, or with a wrong one, is a field error; nothing saved.
    for (patch, says) in [
        (json!({"admin_pin": "1357"}), "PIN을 바꾸거나 지우려면"),
        (
            json!({"admin_pin": "1357", "admin_pin_current": "0000"}),
            "현재 PIN이 맞지 않습니다",
        ),
    ] {
        let errs = invalid(actions::apply_settings_patch(
            &m,
            Some(&store),
            patch,
            &Caller::cli(),
        ));
        let e = errs
            .iter()
            .find(|e| e.field == "admin_pin_current")
            .unwrap_or_else(|| panic!("no admin_pin_current error in {errs:?}"));
        assert!(e.message.starts_with(says), "{e:?}");
        assert_eq!(stored_hash(&store).as_deref(), Some(hash.as_str()));
    }
    // Verify resets the wrong-guess count before more wrong guesses would lock it.
    assert!(verify_admin_pin(&gate, &m.config(), "2468").ok);

    // A hash in a patch is refused, even next to the right current PIN.
    let errs = invalid(actions::apply_settings_patch(
        &m,
        Some(&store),
        json!({"admin_pin_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}),
        &Caller::cli(),
    ));
    assert!(errs.iter().any(|e| e.field == "admin_pin_hash"), "{errs:?}");
    assert_eq!(stored_hash(&store).as_deref(), Some(hash.as_str()));

    // Other settings save without touching the PIN (no current PIN needed).
    actions::apply_settings_patch(
        &m,
        Some(&store),
        json!({"interval_minutes": 50}),
        &Caller::cli(),
    )
    .expect("a patch without admin_pin");
    assert_eq!(stored_hash(&store).as_deref(), Some(hash.as_str()));

    // Change with the current PIN: the old one no longer unlocks.
    actions::apply_settings_patch(
        &m,
        Some(&store),
        json!({"admin_pin": "13579", "admin_pin_current": "2468"}),
        &Caller::cli(),
    )
    .expect("change the PIN");
    let changed = stored_hash(&store).expect("new hash");
    assert_ne!(changed, hash);
    assert!(verify_admin_pin(&gate, &m.config(), "13579").ok);
    assert!(!verify_admin_pin(&gate, &m.config(), "2468").ok);
    assert!(verify_admin_pin(&gate, &m.config(), "13579").ok);

    // Clear (null) with the current PIN: the line leaves the file, nothing unlocks.
    actions::apply_settings_patch(
        &m,
        Some(&store),
        json!({"admin_pin": Value::Null, "admin_pin_current": "13579"}),
        &Caller::cli(),
    )
    .expect("clear the PIN");
    assert_eq!(stored_hash(&store), None);
    assert_eq!(view(&m)["admin_pin_set"], false);
    let none = verify_admin_pin(&gate, &m.config(), "13579");
    assert!(!none.ok && !none.admin_pin_set, "{none:?}");
    assert!(
        store
            .load(now())
            .expect("reload")
            .config
            .admin_pin_hash
            .is_none()
    );

    // Five wrong guesses in a row lock even the right PIN (last: the lock is process-wide).
    actions::apply_settings_patch(
        &m,
        Some(&store),
        json!({"admin_pin": "8080"}),
        &Caller::cli(),
    )
    .expect("set again (no PIN was set)");
    for _ in 0..4 {
        assert!(!verify_admin_pin(&gate, &m.config(), "0000").ok);
    }
    let locked = verify_admin_pin(&gate, &m.config(), "0000");
    assert!(locked.retry_after_secs.is_some(), "{locked:?}");
    let right_but_locked = verify_admin_pin(&gate, &m.config(), "8080");
    assert!(
        !right_but_locked.ok && right_but_locked.retry_after_secs.is_some(),
        "{right_but_locked:?}"
    );
}
