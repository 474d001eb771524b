//! The main window's lifecycle: closing hides it to the tray (the engine keeps running), a
//! second launch or the tray shows it again, 종료 exits after cancelling the running job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime, WebviewWindow, WebviewWindowBuilder, WindowEvent};

use crate::state::Shell;

pub const MAIN: &str = "main";
/// How long 종료 waits for a running job to stop at a safe point.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(60);

/// Counts hides and shows: a release scheduled at a hide is skipped when the window was shown
/// (or hidden again) since.
static VISIBILITY: AtomicU64 = AtomicU64::new(0);

/// How long a hidden window keeps its webview before it is released (the idle tray app is then
/// light); `--release-after SECS` changes it.
pub const RELEASE_AFTER: Duration = Duration::from_secs(120);

/// Show, unminimise and focus the main window (recreated from the config when it was
/// released); `view` (a UI screen: `dashboard`, `settings`, `logs`, …) is opened through the
/// UI's own router.
pub fn show_main<R: Runtime>(app: &AppHandle<R>, view: Option<&str>) {
    VISIBILITY.fetch_add(1, Ordering::SeqCst);
    let w = match app.get_webview_window(MAIN) {
        Some(w) => w,
        None => match recreate(app) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("창을 열 수 없습니다 / cannot open the window: {e}");
                return;
            }
        },
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

fn recreate<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<WebviewWindow<R>> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .cloned()
        .unwrap_or_default();
    tracing::info!("창 다시 만들기 / recreating the released window");
    WebviewWindowBuilder::from_config(app, &config)?.build()
}

/// Closing the window hides it; the app stays in the tray. After `release_after` hidden, the
/// window and its webview are destroyed (the exit that follows is prevented in `on_run_event`)
/// and [`show_main`] builds them again.
pub fn on_window_event<R: Runtime>(
    w: &tauri::Window<R>,
    event: &WindowEvent,
    release_after: Option<Duration>,
) {
    if let WindowEvent::CloseRequested { api, .. } = event
        && w.label() == MAIN
    {
        api.prevent_close();
        let _ = w.hide();
        let hidden_at = VISIBILITY.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!("창을 트레이로 숨김 / window hidden to the tray");
        if let Some(after) = release_after {
            let app = w.app_handle().clone();
            std::thread::spawn(move || {
                std::thread::sleep(after);
                if VISIBILITY.load(Ordering::SeqCst) != hidden_at {
                    return;
                }
                if let Some(w) = app.get_webview_window(MAIN)
                    && !w.is_visible().unwrap_or(true)
                {
                    tracing::info!("숨긴 창의 웹뷰 해제 / released the hidden window's webview");
                    let _ = w.destroy();
                }
            });
        }
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
