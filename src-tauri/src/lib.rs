//! NAS Sync Monitor's desktop shell (Tauri 2): hosts the engine's runtime in-process (the same
//! [`Monitor`] `nas-sync serve` hosts), exposes it to the bundled web UI through commands
//! ([`commands`]) and channels, and lives in the tray ([`tray`]) with autostart and toasts.
//!
//! [`run`] is the real app; [`app_builder`] is generic over the runtime so the tests drive the
//! same commands and setup with `tauri::test::mock_builder()`.

pub mod autostart;
pub mod commands;
pub mod error;
pub mod state;
pub mod toast_click;
pub mod toasts;
pub mod tray;
pub mod window;

use std::path::PathBuf;
use std::time::Instant;

use nas_sync_engine::runtime::{HostOptions, LogHub, Monitor, Service, Status};
use tauri::{App, AppHandle, Builder, Emitter, Manager, RunEvent, Runtime};

use crate::state::Shell;

/// The event every status change is emitted as (payload: the engine's `Status`).
pub const STATUS_EVENT: &str = "status-changed";

/// How the app starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// Start hidden in the tray (autostart at login passes `--minimized`).
    pub minimized: bool,
    /// The settings file (`--config FILE`); default: the OS config directory.
    pub config: Option<PathBuf>,
    pub schedule: bool,
    pub watch: bool,
    pub tray: bool,
    pub notifications: bool,
    /// Release the hidden window's webview after this long (None: keep it).
    pub release_after: Option<std::time::Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            minimized: false,
            config: None,
            schedule: true,
            watch: true,
            tray: true,
            notifications: true,
            release_after: Some(window::RELEASE_AFTER),
        }
    }
}

impl Options {
    /// `--minimized`, `--config FILE`, `--no-schedule`, `--no-watch`; others are ignored (a
    /// second launch's arguments go to the first instance, which only shows its window).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Options {
        let mut o = Options::default();
        let mut it = args.into_iter().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                autostart::MINIMIZED_ARG => o.minimized = true,
                "--config" => o.config = it.next().map(PathBuf::from),
                "--no-schedule" => o.schedule = false,
                "--no-watch" => o.watch = false,
                "--release-after" => {
                    o.release_after = it
                        .next()
                        .and_then(|s| s.parse().ok())
                        .map(std::time::Duration::from_secs)
                }
                _ => {}
            }
        }
        o
    }
}

/// The desktop app: single instance first (a second launch focuses the first and exits),
/// autostart, notifications, then the shell.
pub fn run() {
    let opts = Options::from_args(std::env::args());
    let hub = LogHub::new();
    init_logging(&hub);
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("두 번째 실행: 기존 창을 엽니다 / second launch: focusing this one");
            window::show_main(app, None);
        }))
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(autostart::MINIMIZED_ARG)
                .build(),
        )
        .plugin(tauri_plugin_notification::init());
    let app = match app_builder(builder, opts, hub).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("앱을 시작할 수 없습니다 / cannot start: {e}");
            eprintln!("nas-sync-monitor: cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(on_run_event);
}

/// The commands, the shell's state, the window's close-to-tray and the setup, over any
/// runtime. The engine's runtime starts here (not in `setup`, which runs once the event loop
/// does), so the commands work as soon as the app is built.
pub fn app_builder<R: Runtime>(builder: Builder<R>, opts: Options, hub: LogHub) -> Builder<R> {
    let shell = start_shell(&opts, hub);
    let first_run = shell.monitor.config().root.is_none();
    builder
        .manage(shell)
        .invoke_handler(all_commands!())
        .on_window_event({
            let after = opts.release_after;
            move |w, e| window::on_window_event(w, e, after)
        })
        .setup(move |app| {
            setup(app, &opts, first_run);
            Ok(())
        })
}

/// The engine exits only through 종료 (code given); anything else (the last window closing)
/// keeps it in the tray. On exit the running job is cancelled at a safe point.
pub fn on_run_event<R: Runtime>(app: &AppHandle<R>, event: RunEvent) {
    match event {
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            if let Some(shell) = app.try_state::<Shell>() {
                shell.monitor.shutdown(window::SHUTDOWN_WAIT);
            }
        }
        _ => {}
    }
}

/// Settings from the OS config directory (or `--config`), the log file next to archive.db, and
/// the monitor with its schedule and watcher.
/// The engine, started the way every host starts it ([`Service::start`]); the index is warmed
/// when the window opens (a minimised start keeps the tray light).
fn start_shell(opts: &Options, hub: LogHub) -> Shell {
    let service = Service::start(
        HostOptions {
            settings_path: opts
                .config
                .clone()
                .or_else(nas_sync_engine::config::default_config_path),
            schedule: opts.schedule,
            watch: opts.watch,
            warm_index: false,
        },
        hub,
        |_| {},
    );
    Shell::new(service)
}

fn setup<R: Runtime>(app: &mut App<R>, opts: &Options, first_run: bool) {
    let monitor = app.state::<Shell>().monitor.clone();
    let handle = app.handle().clone();
    if opts.tray
        && let Err(e) = tray::create(&handle)
    {
        tracing::error!("트레이 아이콘을 만들 수 없습니다 / no tray icon: {e}");
    }
    {
        let shell = app.state::<Shell>();
        autostart::apply(&handle, &shell.monitor, shell.service.settings_store());
    }
    watch_status(handle.clone(), monitor, opts.notifications);
    // First run (no root yet): the window opens on the UI's onboarding even when minimised.
    if !opts.minimized || first_run {
        // The window's first screen should not wait for an index rebuild (kept out of the
        // minimised start: the tray stays light until the window is opened).
        let shell = app.state::<Shell>();
        shell.service.warm_index();
        window::show_main(&handle, None);
    }
}

/// One thread follows the status: tray icon and tooltip, the `status-changed` event, toasts.
fn watch_status<R: Runtime>(app: AppHandle<R>, monitor: Monitor, notifications: bool) {
    let (tx, rx) = std::sync::mpsc::channel::<Status>();
    monitor.subscribe_status(Box::new(tx));
    let spawned = std::thread::Builder::new()
        .name("status".into())
        .spawn(move || {
            let mut toasts = toasts::Toasts::default();
            let mut prev_job: Option<u64> = None;
            while let Ok(status) = rx.recv() {
                let counts = nas_sync_engine::query::dashboard(&monitor.config())
                    .ok()
                    .map(|d| tray::Counts {
                        source: d.source.total_files,
                        target: d.target.total_files,
                    });
                tray::update(&app, &status, counts);
                let _ = app.emit(STATUS_EVENT, &status);
                let now_job = status.job.as_ref().map(|j| j.id);
                let finished = prev_job
                    .filter(|id| Some(*id) != now_job)
                    .and_then(|id| monitor.job(id));
                prev_job = now_job;
                for t in toasts.on_status(&status, finished.as_ref(), Instant::now()) {
                    if !t.enabled(&monitor.config()) {
                        tracing::debug!("toast off in settings: {}", t.title);
                        continue;
                    }
                    tracing::info!("알림 / toast: {} — {}", t.title, t.body);
                    if notifications {
                        toast_click::show(&app, &t);
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot follow the status: {e}");
    }
}

fn init_logging(hub: &LogHub) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("NAS_SYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter);
    // The live log (ring buffer, log file, the window's log view) gets info and above.
    let live = hub
        .layer()
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(live)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_minimized_and_config() {
        let o = Options::from_args(
            [
                "app",
                "--minimized",
                "--config",
                "/x/nas-sync.toml",
                "--no-watch",
            ]
            .map(String::from),
        );
        assert!(o.minimized && !o.watch && o.schedule);
        assert_eq!(o.config, Some(PathBuf::from("/x/nas-sync.toml")));
        assert!(!Options::from_args(["app".to_string()]).minimized);
    }
}
