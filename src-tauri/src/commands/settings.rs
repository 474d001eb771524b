//! Settings, onboarding and the desktop-only bits of the settings screen, as
//! `GET/PUT /api/settings`, `POST /api/settings/test-root`, `POST /api/admin/verify-pin` and
//! `POST /api/demo` answer them (the same [`Service`](nas_sync_engine::runtime::Service)
//! calls); plus `open_log_folder` and autostart, which only the desktop app has.

use std::path::{Path, PathBuf};

use nas_sync_engine::runtime::actions::{
    self, DemoStarted, PinCheck, RootTest, SettingsSaved, SettingsView,
};
use serde::Serialize;
use serde_json::Value;
use tauri::{AppHandle, Runtime, State};

use crate::error::{CmdError, CmdResult, ErrorCode};
use crate::state::Shell;

#[tauri::command]
pub fn get_settings(shell: State<'_, Shell>) -> SettingsView {
    shell.service.settings()
}

/// The fields given replace the current ones; fields left out keep their values.
#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    patch: Value,
) -> CmdResult<SettingsSaved> {
    let caller = shell.caller();
    shell
        .call(move |s| {
            s.save_settings(patch, &caller)?;
            // The login item follows the autostart setting (and turns on after the first
            // setup, which then shows as decided in the config returned).
            crate::autostart::apply(&app, s.monitor(), s.settings_store());
            Ok(SettingsSaved::new(s.monitor().config(), s.settings_store()))
        })
        .await
}

/// Unlock admin mode with the PIN, as `POST /api/admin/verify-pin`: the grant stays with the
/// app (the engine checks it on 스캔 실행, a forced apply and admin settings); wrong guesses are
/// throttled by the engine.
#[tauri::command]
pub async fn verify_admin_pin(shell: State<'_, Shell>, pin: String) -> CmdResult<PinCheck> {
    let (check, grant) = shell
        .call(move |s| Ok(s.unlock_admin("desktop", &pin)))
        .await?;
    if let Some(g) = grant {
        shell.set_admin_grant(Some(g.id));
    }
    Ok(check)
}

/// "Test connection": can this root be listed (and its marker found)? Nothing is saved.
#[tauri::command]
pub async fn test_root(
    shell: State<'_, Shell>,
    root: String,
    marker_file: Option<String>,
) -> CmdResult<RootTest> {
    let caller = shell.caller();
    shell
        .call(move |s| s.test_root(&caller, &root, marker_file))
        .await
}

/// Onboarding's "use the demo archive"; refused once a root is configured.
#[tauri::command]
pub async fn create_demo(shell: State<'_, Shell>) -> CmdResult<DemoStarted> {
    let caller = shell.caller();
    shell.call(move |s| s.create_demo(&caller)).await
}

#[derive(Debug, Serialize)]
pub struct LogFolder {
    pub path: PathBuf,
    /// False when no file manager could be started (the path is still shown).
    pub opened: bool,
}

/// Open the folder of the live log file in the OS file manager.
#[tauri::command]
pub fn open_log_folder(shell: State<'_, Shell>) -> CmdResult<LogFolder> {
    let Some(dir) = shell.log_file.as_deref().and_then(|f| f.parent()) else {
        return Err(CmdError::new(
            ErrorCode::NotFound,
            "로그 파일이 없습니다 / there is no log file",
        ));
    };
    Ok(LogFolder {
        path: dir.to_path_buf(),
        opened: open_in_file_manager(dir, None),
    })
}

/// Open `dir` in the OS file manager, with `select` highlighted where the OS can (Explorer's
/// `/select,`). False when no file manager could be started.
fn open_in_file_manager(dir: &Path, select: Option<&Path>) -> bool {
    let mut cmd = if cfg!(windows) {
        let mut c = std::process::Command::new("explorer");
        match select {
            // Two arguments: Explorer reads `/select,` and then the (quoted) path.
            Some(item) => c.arg("/select,").arg(item),
            None => c.arg(dir),
        };
        c
    } else {
        let mut c = std::process::Command::new(if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        });
        c.arg(dir);
        c
    };
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

#[derive(Debug, Serialize)]
pub struct ContainingFolder {
    /// The folder opened (the nearest one still there when the file is gone).
    pub folder: PathBuf,
    /// False: the file itself is no longer there.
    pub exists: bool,
    /// False when no file manager could be started (the path is still shown).
    pub opened: bool,
}

/// 폴더 열기 on a row of the matching table or the problem list: the folder of `path` (as the
/// screens show it, relative to the root) in Explorer, the file selected. The engine answers
/// only paths inside the archive; it reads the share, so it runs off the main thread.
#[tauri::command]
pub async fn open_containing_folder(
    shell: State<'_, Shell>,
    path: String,
) -> CmdResult<ContainingFolder> {
    let located = shell
        .call(move |s| Ok(actions::locate_in_archive(&s.monitor().config(), &path)?))
        .await?;
    let opened = open_in_file_manager(&located.folder, located.item.as_deref());
    Ok(ContainingFolder {
        exists: located.item.is_some(),
        folder: located.folder,
        opened,
    })
}

#[derive(Debug, Serialize)]
pub struct Autostart {
    pub enabled: bool,
}

#[tauri::command]
pub fn get_autostart<R: Runtime>(app: AppHandle<R>) -> CmdResult<Autostart> {
    crate::autostart::is_enabled(&app).map(|enabled| Autostart { enabled })
}

/// Start at login (minimised to the tray) or not.
#[tauri::command]
pub fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> CmdResult<Autostart> {
    crate::autostart::set(&app, enabled)?;
    get_autostart(app)
}
