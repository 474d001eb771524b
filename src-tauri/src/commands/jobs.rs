//! Jobs, status and schedule, as `POST /api/sync` · `/api/reconcile` · `/api/scan`,
//! `/api/jobs…`, `GET /api/status` and `/api/schedule/…` answer them (the same
//! [`Service`](nas_sync_engine::runtime::Service) calls).

use nas_sync_engine::runtime::service::{
    CancelRequested, RECONCILE_WAIT, ReconcileOutcome, StartResponse,
};
use nas_sync_engine::runtime::{ForceApproval, JobInfo, JobKind, Status};
use tauri::State;

use crate::error::CmdResult;
use crate::state::Shell;

#[tauri::command]
pub fn get_status(shell: State<'_, Shell>) -> Status {
    shell.service.status()
}

#[tauri::command]
pub fn list_jobs(shell: State<'_, Shell>) -> Vec<JobInfo> {
    shell.service.jobs()
}

#[tauri::command]
pub fn get_job(shell: State<'_, Shell>, id: u64) -> CmdResult<JobInfo> {
    shell.service.job(id)
}

#[tauri::command]
pub fn cancel_job(shell: State<'_, Shell>, id: u64) -> CmdResult<CancelRequested> {
    shell.service.cancel(id)
}

/// Start a job as the window's user, or answer with the running one (the tray's menu uses
/// this too); the engine refuses what the caller may not do. It may wait a moment for a job in
/// its background passes to yield, so it never runs on the main thread.
pub async fn start(
    shell: &Shell,
    kind: JobKind,
    force: Option<ForceApproval>,
) -> CmdResult<StartResponse> {
    let caller = shell.caller();
    shell.call(move |s| s.start_job(kind, force, &caller)).await
}

/// A sync; `force` carries the refused job that was reviewed and its deletions (admin).
#[tauri::command]
pub async fn start_sync(
    shell: State<'_, Shell>,
    force: Option<ForceApproval>,
) -> CmdResult<StartResponse> {
    start(&shell, JobKind::Sync, force).await
}

/// 문제 목록's 다시 시도 on one row: a sync that rereads only that problem's folder.
#[tauri::command]
pub async fn retry_problem(shell: State<'_, Shell>, id: i64) -> CmdResult<StartResponse> {
    shell.call(move |s| s.retry_problem(id)).await
}

/// 스캔 실행 (admin).
#[tauri::command]
pub async fn start_scan(shell: State<'_, Shell>) -> CmdResult<StartResponse> {
    start(&shell, JobKind::Scan, None).await
}

/// PRD 7.1 `{result, job_id}`: the read-only comparison, waited for up to a minute (after
/// that, or when another job runs, the job id to poll).
#[tauri::command]
pub async fn start_reconcile(shell: State<'_, Shell>) -> CmdResult<ReconcileOutcome> {
    let caller = shell.caller();
    shell
        .call(move |s| s.reconcile(&caller, RECONCILE_WAIT))
        .await
}

#[tauri::command]
pub fn pause_schedule(shell: State<'_, Shell>) -> Status {
    shell.service.pause()
}

#[tauri::command]
pub fn resume_schedule(shell: State<'_, Shell>) -> Status {
    shell.service.resume()
}
