//! Start at login, minimised to the tray (`--minimized`), through tauri-plugin-autostart.
//!
//! The plugin (auto-launch 0.5) writes the Windows `Run` value as `{path} {args}` unquoted, so an
//! install path with spaces (`C:\Program Files\…`) loses the argument or does not start at all.
//! After enabling, we write the value again with the path quoted ([`run_command`]); the plugin
//! only checks that the value exists, so enable/disable/is_enabled keep working.

use nas_sync_engine::config::Config;
use nas_sync_engine::runtime::Monitor;
use nas_sync_engine::runtime::actions;
use nas_sync_engine::runtime::settings::SettingsStore;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::error::{CmdError, CmdResult, ErrorCode};

/// The argument autostart launches us with.
pub const MINIMIZED_ARG: &str = "--minimized";

/// The command line a `Run` value must hold: the path quoted, then the arguments.
pub fn run_command(exe: &str, args: &[&str]) -> String {
    let mut out = format!("\"{}\"", exe.trim_matches('"'));
    for a in args {
        out.push(' ');
        out.push_str(a);
    }
    out
}

/// What the login item should be for these settings: the user's choice once made; on after the
/// first successful setup (a root is configured) while never decided; nothing before that.
pub fn wanted(cfg: &Config) -> Option<bool> {
    match cfg.autostart {
        Some(choice) => Some(choice),
        None if cfg.root.is_some() => Some(true),
        None => None,
    }
}

/// Bring the OS login item in line with the settings (at start-up and after each settings save).
/// The default (on) is then written to the settings as decided, so a user who turns it off later
/// keeps it off. Failures are logged: autostart is a convenience, never a reason not to run.
pub fn apply<R: Runtime>(app: &AppHandle<R>, monitor: &Monitor, store: Option<&SettingsStore>) {
    let cfg = monitor.config();
    let Some(want) = wanted(&cfg) else { return };
    if manager(app).is_err() {
        return; // no plugin (tests, mock runtime): nothing to align
    }
    match is_enabled(app) {
        Ok(on) if on == want => {
            if on {
                quote_run_value(app);
            }
        }
        _ => {
            if let Err(e) = set(app, want) {
                tracing::warn!(
                    "자동 시작을 바꾸지 못했습니다 / autostart not changed: {}",
                    e.message
                );
                return;
            }
        }
    }
    if cfg.autostart.is_none()
        && let Err(e) = actions::apply_settings_patch(
            monitor,
            store,
            serde_json::json!({"autostart": want}),
            &nas_sync_engine::runtime::Caller::cli(),
        )
    {
        tracing::warn!(
            "자동 시작 기본값을 저장하지 못했습니다 / autostart default not saved: {e:?}"
        );
    }
}

fn manager<R: Runtime>(app: &AppHandle<R>) -> CmdResult<tauri::State<'_, AutoLaunchManager>> {
    app.try_state::<AutoLaunchManager>().ok_or_else(|| {
        CmdError::new(
            ErrorCode::Unavailable,
            "자동 시작을 사용할 수 없습니다 / autostart is not available",
        )
    })
}

pub fn is_enabled<R: Runtime>(app: &AppHandle<R>) -> CmdResult<bool> {
    manager(app)?
        .is_enabled()
        .map_err(|e| CmdError::new(ErrorCode::Autostart, e.to_string()))
}

pub fn set<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> CmdResult<()> {
    let m = manager(app)?;
    let r = if enabled { m.enable() } else { m.disable() };
    r.map_err(|e| CmdError::new(ErrorCode::Autostart, e.to_string()))?;
    if enabled {
        quote_run_value(app);
    }
    tracing::info!(
        "자동 시작 {} / autostart {}",
        if enabled { "켜짐" } else { "꺼짐" },
        if enabled { "on" } else { "off" }
    );
    Ok(())
}

/// Rewrite the plugin's unquoted Windows `Run` value (also at startup, healing older installs).
#[cfg(windows)]
pub fn quote_run_value<R: Runtime>(app: &AppHandle<R>) {
    use winreg::RegKey;
    use winreg::enums::{HKEY_CURRENT_USER, KEY_READ, KEY_SET_VALUE};
    const RUN: &str = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run";
    let name = app.package_info().name.clone();
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let want = run_command(&exe.display().to_string(), &[MINIMIZED_ARG]);
    let key = RegKey::predef(HKEY_CURRENT_USER);
    let Ok(run) = key.open_subkey_with_flags(RUN, KEY_READ | KEY_SET_VALUE) else {
        return;
    };
    match run.get_value::<String, _>(&name) {
        Ok(current) if current != want => {
            if let Err(e) = run.set_value(&name, &want) {
                tracing::warn!(
                    "자동 시작 경로를 고칠 수 없습니다 / cannot quote the Run value: {e}"
                );
            }
        }
        _ => {}
    }
}

/// Only Windows' `Run` value has the quoting bug.
#[cfg(not(windows))]
pub fn quote_run_value<R: Runtime>(_app: &AppHandle<R>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_command_quotes_a_path_with_spaces_and_keeps_the_argument() {
        let v = run_command(
            r"C:\Program Files\NAS Sync Monitor\nas-sync-monitor.exe",
            &[MINIMIZED_ARG],
        );
        assert_eq!(
            v,
            r#""C:\Program Files\NAS Sync Monitor\nas-sync-monitor.exe" --minimized"#
        );
        // Already quoted (a healed value read back) stays singly quoted.
        assert_eq!(run_command(r#""C:\a b\x.exe""#, &[]), r#""C:\a b\x.exe""#);
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    #[test]
    fn autostart_is_on_after_setup_until_the_user_decides() {
        let mut cfg = Config::default();
        assert_eq!(
            wanted(&cfg),
            None,
            "no root yet: leave the login item alone"
        );
        cfg.root = Some("/mnt/archive".into());
        assert_eq!(wanted(&cfg), Some(true), "set up, never decided: on");
        cfg.autostart = Some(false);
        assert_eq!(wanted(&cfg), Some(false), "the user's off is kept");
        cfg.root = None;
        cfg.autostart = Some(true);
        assert_eq!(wanted(&cfg), Some(true));
    }
}
