//! The main window's lifecycle: closing hides it to the tray (the engine keeps running), a
//! second launch or the tray shows it again, 종료 exits after cancelling the running job.

use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime, WebviewWindow, WindowEvent};

use crate::state::Shell;

pub const MAIN: &str = "main";
/// How long 종료 waits for a running job to stop at a safe point.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(60);

/// Show, unminimise and focus the main window; `view` (a UI screen: `dashboard`, `settings`,
/// `logs`, …) is opened through the UI's own router.
pub fn show_main<R: Runtime>(app: &AppHandle<R>, view: Option<&str>) {
    let Some(w) = app.get_webview_window(MAIN) else {
        tracing::warn!("main window is gone");
        return;
    };
    let _ = w.unminimize();
    let _ = w.show();
    let _ = w.set_focus();
    if let Some(v) = view {
        navigate(&w, v);
    }
}

/// The UI's router reads the path (ui/src/state/router.ts); a popstate makes it re-render.
fn navigate<R: Runtime>(w: &WebviewWindow<R>, view: &str) {
    if !view.chars().all(|c| c.is_ascii_lowercase()) {
        return;
    }
    let _ = w.eval(format!(
        "history.pushState(null, '', '/{view}'); dispatchEvent(new PopStateEvent('popstate'));"
    ));
}

/// Closing the window hides it; the app stays in the tray.
pub fn on_window_event<R: Runtime>(w: &tauri::Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event
        && w.label() == MAIN
    {
        api.prevent_close();
        let _ = w.hide();
        tracing::info!("창을 트레이로 숨김 / window hidden to the tray");
    }
}

/// 종료: cancel the running job safely (nothing half-applied), then exit.
pub fn quit<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    std::thread::spawn(move || {
        tracing::info!("종료 중 / quitting: cancelling the running job");
        if let Some(shell) = app.try_state::<Shell>() {
            shell.monitor.shutdown(SHUTDOWN_WAIT);
        }
        app.exit(0);
    });
}
