//! The window's commands: each parses its arguments, calls the engine's runtime (the same calls
//! the HTTP handlers in `nas-sync serve` make) and maps the error to `{code, message}`. Names are
//! `verb_noun`; arguments and answers are the HTTP API's JSON shapes (ui/src/api/tauri.ts).

pub mod export;
pub mod jobs;
pub mod queries;
pub mod settings;
pub mod streams;

/// Every command, for `invoke_handler` (keep in step with build.rs's COMMANDS).
#[macro_export]
macro_rules! all_commands {
    () => {
        tauri::generate_handler![
            $crate::commands::queries::get_dashboard,
            $crate::commands::queries::get_matching,
            $crate::commands::queries::get_matching_facets,
            $crate::commands::queries::get_tree,
            $crate::commands::queries::get_tree_node,
            $crate::commands::queries::get_history,
            $crate::commands::queries::get_health,
            $crate::commands::queries::get_problems,
            $crate::commands::export::export_matching_csv,
            $crate::commands::export::export_history_csv,
            $crate::commands::export::export_reconcile_csv,
            $crate::commands::jobs::get_status,
            $crate::commands::jobs::list_jobs,
            $crate::commands::jobs::get_job,
            $crate::commands::jobs::cancel_job,
            $crate::commands::jobs::start_sync,
            $crate::commands::jobs::retry_problem,
            $crate::commands::jobs::start_scan,
            $crate::commands::jobs::start_reconcile,
            $crate::commands::jobs::pause_schedule,
            $crate::commands::jobs::resume_schedule,
            $crate::commands::settings::get_settings,
            $crate::commands::settings::save_settings,
            $crate::commands::settings::test_root,
            $crate::commands::settings::verify_admin_pin,
            $crate::commands::settings::create_demo,
            $crate::commands::settings::open_log_folder,
            $crate::commands::settings::open_containing_folder,
            $crate::commands::settings::get_autostart,
            $crate::commands::settings::set_autostart,
            $crate::commands::streams::subscribe_logs,
            $crate::commands::streams::subscribe_status,
            $crate::commands::streams::unsubscribe,
        ]
    };
}
