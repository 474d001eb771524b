//! Shows a toast whose click opens the window on the toast's screen (an error → 실시간 로그, a
//! tripped guard → 대시보드). The notification plugin has no click callback on the desktop, so on
//! Windows and Linux this talks to the backends the plugin itself uses (tauri-winrt-notification,
//! notify-rust); elsewhere the plugin shows the toast without a click action.

use tauri::{AppHandle, Runtime};

use crate::toasts::Toast;

pub fn show<R: Runtime>(app: &AppHandle<R>, t: &Toast) {
    if let Err(e) = imp::show(app, t) {
        tracing::warn!("알림을 표시할 수 없습니다 / cannot show a toast: {e}");
    }
}

/// What a click does: the window comes back (recreated if it was released) on the toast's screen.
#[cfg(any(target_os = "linux", windows))]
fn clicked<R: Runtime>(app: &AppHandle<R>, view: &str) {
    tracing::info!("알림 클릭 / toast clicked: {view}");
    crate::window::show_main(app, Some(view));
}

/// Freedesktop notifications: the "default" action is a click on the toast's body. A thread per
/// toast waits for the click or the close (toasts are rate-limited, so these stay few).
#[cfg(target_os = "linux")]
mod imp {
    use super::*;

    pub fn show<R: Runtime>(app: &AppHandle<R>, t: &Toast) -> Result<(), String> {
        let mut n = notify_rust::Notification::new();
        n.appname(&app.package_info().name)
            .summary(&t.title)
            .body(&t.body)
            .action("default", "열기 / Open");
        let handle = n.show().map_err(|e| e.to_string())?;
        let (app, view) = (app.clone(), t.view);
        std::thread::Builder::new()
            .name("toast".into())
            .spawn(move || {
                handle.wait_for_action(|action| {
                    if action == "default" {
                        clicked(&app, view);
                    }
                })
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// WinRT toasts: `Activated` fires while the app runs, which it does (it lives in the tray).
#[cfg(windows)]
mod imp {
    use super::*;
    use std::path::Path;

    pub fn show<R: Runtime>(app: &AppHandle<R>, t: &Toast) -> Result<(), String> {
        let (handle, view) = (app.clone(), t.view);
        tauri_winrt_notification::Toast::new(&app_id(&app.config().identifier))
            .title(&t.title)
            .text1(&t.body)
            .on_activated(move |_| {
                clicked(&handle, view);
                Ok(())
            })
            .show()
            .map_err(|e| e.to_string())
    }

    /// The installed app's AppUserModelID, which its Start-menu shortcut carries (installer/).
    /// A build run from cargo's target folder has no shortcut and Windows would drop its toasts,
    /// so it borrows PowerShell's id, as the notification plugin does.
    fn app_id(identifier: &str) -> String {
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe.parent().unwrap_or(Path::new(""));
        let from_cargo = ["debug", "release"]
            .iter()
            .any(|p| dir.ends_with(Path::new("target").join(p)));
        if from_cargo {
            tauri_winrt_notification::Toast::POWERSHELL_APP_ID.to_string()
        } else {
            identifier.to_string()
        }
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod imp {
    use super::*;

    pub fn show<R: Runtime>(app: &AppHandle<R>, t: &Toast) -> Result<(), String> {
        use tauri::Manager;
        use tauri_plugin_notification::NotificationExt;
        if app
            .try_state::<tauri_plugin_notification::Notification<R>>()
            .is_none()
        {
            return Ok(());
        }
        app.notification()
            .builder()
            .title(&t.title)
            .body(&t.body)
            .show()
            .map_err(|e| e.to_string())
    }
}
