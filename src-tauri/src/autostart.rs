//! Start at login, minimised to the tray (`--minimized`), through tauri-plugin-autostart.
//!
//! The plugin (auto-launch 0.5) writes the Windows `Run` value as `{path} {args}` unquoted, so an
//! install path with spaces (`C:\Program Files\…`) loses the argument or does not start at all.
//! After enabling, we write the value again with the path quoted ([`run_command`]); the plugin
//! only checks that the value exists, so enable/disable/is_enabled keep working.

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::error::{CmdError, CmdResult};

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

fn manager<R: Runtime>(app: &AppHandle<R>) -> CmdResult<tauri::State<'_, AutoLaunchManager>> {
    app.try_state::<AutoLaunchManager>().ok_or_else(|| {
        CmdError::new(
            "unavailable",
            "자동 시작을 사용할 수 없습니다 / autostart is not available",
        )
    })
}

pub fn is_enabled<R: Runtime>(app: &AppHandle<R>) -> CmdResult<bool> {
    manager(app)?
        .is_enabled()
        .map_err(|e| CmdError::new("autostart", e.to_string()))
}

pub fn set<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> CmdResult<()> {
    let m = manager(app)?;
    let r = if enabled { m.enable() } else { m.disable() };
    r.map_err(|e| CmdError::new("autostart", e.to_string()))?;
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
