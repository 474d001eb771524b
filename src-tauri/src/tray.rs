//! The tray icon: one icon per status (icons/tray), a tooltip with the status, counts and last
//! sync, and the menu 대시보드 열기 / 지금 동기화 / 정합성 검증 / 자동 동기화 일시정지·재개 / 설정
//! / 종료. A tray that cannot be created is logged; the app runs without it.

use nas_sync_engine::runtime::{JobKind, Status, StatusKind};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::state::Shell;
use crate::window;

pub const TRAY_ID: &str = "main";
/// Windows cuts tray tooltips at 127 characters.
pub const TOOLTIP_MAX: usize = 127;

pub fn icon_png(kind: StatusKind) -> &'static [u8] {
    match kind {
        StatusKind::Ok => include_bytes!("../../icons/tray/ok.png"),
        StatusKind::Running => include_bytes!("../../icons/tray/running.png"),
        StatusKind::Error => include_bytes!("../../icons/tray/error.png"),
        StatusKind::Paused => include_bytes!("../../icons/tray/paused.png"),
        StatusKind::Warning => include_bytes!("../../icons/tray/warning.png"),
    }
}

/// Source and Target file counts for the tooltip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub source: u64,
    pub target: u64,
}

/// `NAS 동기화 모니터 — 정상` / `Source 1,234 · Target 1,200` / `마지막 동기화 2026-12-02 14:02`,
/// at most [`TOOLTIP_MAX`] characters.
pub fn tooltip(status: &Status, counts: Option<Counts>) -> String {
    let mut lines = vec![format!("NAS 동기화 모니터 — {}", status.label)];
    if let Some(c) = counts {
        lines.push(format!(
            "Source {} · Target {}",
            thousands(c.source),
            thousands(c.target)
        ));
    }
    match (&status.last_error, &status.last_sync) {
        (Some(e), _) if status.status == StatusKind::Error => lines.push(e.message.clone()),
        (_, Some(t)) => lines.push(format!("마지막 동기화 {}", short_time(t))),
        _ => lines.push("아직 동기화하지 않음".into()),
    }
    let text = lines.join("\n");
    if text.chars().count() <= TOOLTIP_MAX {
        return text;
    }
    let mut cut: String = text.chars().take(TOOLTIP_MAX - 1).collect();
    cut.push('…');
    cut
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `2026-12-02T05:02:11.123Z` → local `2026-12-02 14:02`.
fn short_time(iso: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(iso)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| iso.chars().take(16).collect())
}

/// The pause/resume item's text for the current state.
pub fn pause_label(paused: bool) -> &'static str {
    if paused {
        "자동 동기화 재개"
    } else {
        "자동 동기화 일시정지"
    }
}

/// Menu handles kept to change the pause item's text.
pub struct TrayMenu<R: Runtime> {
    pause: MenuItem<R>,
}

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let status = app.state::<Shell>().monitor.status();
    let open = MenuItem::with_id(app, "open", "대시보드 열기", true, None::<&str>)?;
    let sync = MenuItem::with_id(app, "sync", "지금 동기화", true, None::<&str>)?;
    let reconcile = MenuItem::with_id(app, "reconcile", "정합성 검증", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", pause_label(status.paused), true, None::<&str>)?;
    let settings = MenuItem::with_id(app, "settings", "설정", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "종료", true, None::<&str>)?;
    let sep = || PredefinedMenuItem::separator(app);
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &sep()?,
            &sync,
            &reconcile,
            &pause,
            &sep()?,
            &settings,
            &sep()?,
            &quit,
        ],
    )?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(icon_png(status.status))?)
        .tooltip(tooltip(&status, None))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                window::show_main(tray.app_handle(), None);
            }
        })
        .build(app)?;
    app.manage(TrayMenu { pause });
    Ok(())
}

/// A menu choice: the same runtime calls the window's commands make.
pub fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let shell = app.state::<Shell>();
    match id {
        "open" => window::show_main(app, Some("dashboard")),
        // Off the main thread: a start may wait a moment for a job's background passes.
        "sync" | "reconcile" => {
            let kind = if id == "sync" {
                JobKind::Sync
            } else {
                JobKind::Reconcile
            };
            let (service, caller) = (shell.service.clone(), shell.caller());
            std::thread::spawn(move || match service.start_job(kind, None, &caller) {
                Ok(s) => tracing::info!("트레이: {}", s.message),
                Err(e) => tracing::warn!("트레이: {}", e.message),
            });
        }
        "pause" => {
            if shell.monitor.is_paused() {
                shell.monitor.resume();
            } else {
                shell.monitor.pause();
            }
        }
        "settings" => window::show_main(app, Some("settings")),
        "quit" => window::quit(app),
        _ => {}
    }
}

/// Show `status` on the tray (icon, tooltip, pause item); no tray is fine.
pub fn update<R: Runtime>(app: &AppHandle<R>, status: &Status, counts: Option<Counts>) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    if let Ok(icon) = Image::from_bytes(icon_png(status.status)) {
        let _ = tray.set_icon(Some(icon));
    }
    let _ = tray.set_tooltip(Some(tooltip(status, counts)));
    if let Some(menu) = app.try_state::<TrayMenu<R>>() {
        let _ = menu.pause.set_text(pause_label(status.paused));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_sync_engine::runtime::monitor::LastError;

    fn status(kind: StatusKind) -> Status {
        Status {
            status: kind,
            label: kind.label_ko(),
            job: None,
            paused: kind == StatusKind::Paused,
            last_error: None,
            last_sync: Some("2026-12-02T05:02:11.000Z".into()),
            next_sync: None,
            problems: 0,
        }
    }

    #[test]
    fn tooltip_has_status_counts_and_last_sync_within_127_chars() {
        let t = tooltip(
            &status(StatusKind::Ok),
            Some(Counts {
                source: 1_234_567,
                target: 1_200,
            }),
        );
        assert!(t.starts_with("NAS 동기화 모니터 — 정상\n"), "{t}");
        assert!(t.contains("Source 1,234,567 · Target 1,200"), "{t}");
        assert!(t.contains("마지막 동기화 2026-12-02"), "{t}");
        let mut s = status(StatusKind::Error);
        s.last_error = Some(LastError {
            code: "root_unreachable".into(),
            message: "공유 폴더에 연결할 수 없습니다 ".repeat(10),
            time: String::new(),
        });
        let long = tooltip(&s, None);
        assert_eq!(
            long.chars().count(),
            TOOLTIP_MAX,
            "cut to the Windows limit"
        );
        assert!(long.ends_with('…'));
    }

    #[test]
    fn each_state_has_its_own_rgba_icon() {
        let kinds = [
            StatusKind::Ok,
            StatusKind::Running,
            StatusKind::Error,
            StatusKind::Paused,
        ];
        let mut seen = std::collections::HashSet::new();
        for k in kinds {
            let img = Image::from_bytes(icon_png(k)).expect("tray icon decodes");
            assert_eq!((img.width(), img.height()), (32, 32), "{k:?}");
            assert_eq!(img.rgba().len(), 32 * 32 * 4, "{k:?} is RGBA");
            assert!(seen.insert(icon_png(k)), "{k:?} looks like another state");
        }
        assert_eq!(pause_label(true), "자동 동기화 재개");
    }
}
