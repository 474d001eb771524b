//! The admin boundary as the engine enforces it for every host (HTTP and the desktop call the
//! same functions): who may change which settings, the first PIN, the choice to run without
//! one, grants from the PIN, `ffprobe_path` kept out of patches, and settings patches that do
//! not lose each other's change. Real settings files in temp dirs.

mod common;

use std::sync::Arc;

use nas_sync_engine::runtime::actions::{self, PatchError};
use nas_sync_engine::runtime::settings::SettingsStore;
use nas_sync_engine::runtime::{Caller, CallerKind, JobKind, Monitor};
use serde_json::{Value, json};

struct Fx {
    _env: common::Env,
    store: SettingsStore,
    m: Monitor,
}

fn fx() -> Fx {
    let e = common::env();
    let (store, m) = common::settings_and_monitor(&e);
    Fx { _env: e, store, m }
}

fn local(grant: Option<String>) -> Caller {
    Caller::new(CallerKind::Local, grant, "window")
}

fn patch(f: &Fx, p: Value, caller: &Caller) -> Result<nas_sync_engine::Config, PatchError> {
    actions::apply_settings_patch(&f.m, Some(&f.store), p, caller)
}

fn forbidden(r: Result<nas_sync_engine::Config, PatchError>) -> String {
    match r {
        Err(PatchError::Forbidden(e)) => e.code().to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn admin_settings_wait_for_a_pin_or_the_choice_of_none_and_then_for_the_pin() {
    let f = fx();
    // Settings anyone may change.
    patch(&f, json!({"interval_minutes": 20}), &local(None)).expect("not an admin setting");
    // Admin settings while no PIN is set and nobody chose: refused, nothing saved.
    for p in [
        json!({"max_delete_count": 100000}),
        json!({"root": "/elsewhere"}),
        json!({"hls_extensions": ["mp4", "mkv"]}),
        json!({"target_wal": true}),
    ] {
        assert_eq!(
            forbidden(patch(&f, p.clone(), &local(None))),
            "admin_pin_not_set",
            "{p}"
        );
    }
    assert_eq!(f.m.config().max_delete_count, 20);
    let file = std::fs::read_to_string(f.store.path()).expect("file");
    assert!(!file.contains("100000"), "{file}");
    // A remote operator cannot make the local user's first choice.
    let operator = Caller::new(CallerKind::Operator, None, "lan");
    assert_eq!(
        forbidden(patch(&f, json!({"admin_pin": "2580"}), &operator)),
        "admin_pin_not_set"
    );
    // The local user sets the first PIN, with an admin setting in the same patch.
    let cfg = patch(
        &f,
        json!({"admin_pin": "2580", "max_delete_count": 50}),
        &local(None),
    )
    .expect("the first PIN");
    assert_eq!(cfg.max_delete_count, 50);
    assert!(cfg.admin_pin_hash.is_some());
    // From now on admin settings need the PIN's grant.
    assert_eq!(
        forbidden(patch(&f, json!({"max_delete_count": 60}), &local(None))),
        "admin_required"
    );
    let (check, grant) = f.m.unlock_admin("window", "0000");
    assert!(!check.ok && grant.is_none());
    let (check, grant) = f.m.unlock_admin("window", "2580");
    assert!(check.ok, "{check:?}");
    let grant = grant.expect("grant").id;
    patch(
        &f,
        json!({"max_delete_count": 60}),
        &local(Some(grant.clone())),
    )
    .expect("with the grant");
    assert_eq!(f.m.config().max_delete_count, 60);
    // Changing the PIN ends every grant made with the old one.
    patch(
        &f,
        json!({"admin_pin": "1470", "admin_pin_current": "2580"}),
        &local(Some(grant.clone())),
    )
    .expect("change the PIN");
    assert_eq!(
        forbidden(patch(
            &f,
            json!({"max_delete_count": 70}),
            &local(Some(grant))
        )),
        "admin_required",
        "the old grant ended with the old PIN"
    );
    // Admin jobs follow the same rule.
    let e =
        f.m.request(JobKind::Scan, None, &local(None))
            .expect_err("scan needs admin");
    assert_eq!(e.code(), "admin_required");
}

#[test]
fn choosing_to_run_without_a_pin_keeps_the_old_behaviour() {
    let f = fx();
    patch(
        &f,
        json!({"no_admin_pin": true, "max_delete_percent": 25.0}),
        &local(None),
    )
    .expect("the choice of no PIN, with an admin setting");
    assert!(f.m.config().no_admin_pin);
    patch(&f, json!({"ignore": ["**/tmp/**"]}), &local(None)).expect("no PIN by choice");
    f.m.request(JobKind::Scan, None, &local(None))
        .expect("scan without a PIN, by choice");
    // Setting a PIN later replaces the choice.
    let cfg = patch(&f, json!({"admin_pin": "8642"}), &local(None)).expect("a PIN after all");
    assert!(!cfg.no_admin_pin);
    assert_eq!(
        forbidden(patch(&f, json!({"ignore": []}), &local(None))),
        "admin_required"
    );
}

#[test]
fn ffprobe_path_is_never_set_by_a_patch_even_by_an_administrator() {
    let f = fx();
    for caller in [Caller::cli(), local(None)] {
        match patch(&f, json!({"ffprobe_path": "/bin/sh"}), &caller) {
            Err(PatchError::Invalid(errors)) => {
                assert!(
                    errors.iter().any(|e| e.field == "ffprobe_path"),
                    "{errors:?}"
                );
            }
            Err(PatchError::Forbidden(_)) if caller.kind == CallerKind::Local => {}
            other => panic!("ffprobe_path was accepted: {other:?}"),
        }
    }
    assert_eq!(f.m.config().ffprobe_path, None);
}

#[cfg(unix)]
#[test]
fn a_configured_ffprobe_must_be_an_absolute_local_program_that_says_it_is_ffprobe() {
    use nas_sync_engine::probe::ffprobe;
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().expect("dir");
    let script = |name: &str, says: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\necho '{says}'\n")).expect("script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    };
    let fake = script("not-ffprobe", "hello from some other program");
    let problem = ffprobe::configured_problem(&fake).expect("not ffprobe");
    assert!(problem.contains("ffprobe가 아닙니다"), "{problem}");
    assert_eq!(
        ffprobe::locate(Some(&fake)),
        None,
        "never run something else"
    );
    let named = script("ffprobe", "ffprobe version 5.1.6 Copyright (c) 2007-2024");
    assert_eq!(ffprobe::configured_problem(&named), None);
    assert_eq!(ffprobe::locate(Some(&named)), Some(named.clone()));
    let relative = std::path::Path::new("bin/ffprobe");
    assert!(
        ffprobe::configured_problem(relative).is_some_and(|p| p.contains("절대 경로")),
        "a relative path is refused"
    );
    let unc = std::path::Path::new(r"\\attacker\share\ffprobe.exe");
    assert!(
        ffprobe::configured_problem(unc).is_some(),
        "a UNC path is refused"
    );
    let missing = d.path().join("nowhere");
    assert!(ffprobe::configured_problem(&missing).is_some());
}

#[test]
fn two_patches_at_once_keep_both_changes() {
    let f = Arc::new(fx());
    for round in 0..10 {
        let a = {
            let f = f.clone();
            std::thread::spawn(move || {
                patch(&f, json!({"interval_minutes": 40 + round}), &local(None)).expect("a")
            })
        };
        let b = {
            let f = f.clone();
            std::thread::spawn(move || {
                patch(&f, json!({"busy_timeout_secs": 100 + round}), &local(None)).expect("b")
            })
        };
        a.join().expect("thread a");
        b.join().expect("thread b");
        let saved = f.store.load(chrono::Utc::now()).expect("reload").config;
        assert_eq!(
            (saved.interval_minutes, saved.busy_timeout_secs),
            (40 + round, 100 + round as u64),
            "round {round}: one change was lost"
        );
    }
}
