//! Jobs, status and schedule, as `POST /api/sync` · `/api/reconcile` · `/api/scan`,
//! `/api/jobs…`, `GET /api/status` and `/api/schedule/…` answer them.

use std::time::Duration;

use nas_sync_engine::runtime::monitor::JobResult;
use nas_sync_engine::runtime::{Caller, ForceApproval, JobInfo, JobKind, Monitor, Status};
use serde::Serialize;
use serde_json::{Value, json};
use tauri::State;

use crate::error::{CmdError, CmdResult, blocking};
use crate::state::Shell;

#[tauri::command]
pub fn get_status(shell: State<'_, Shell>) -> Status {
    shell.monitor.status()
}

#[tauri::command]
pub fn list_jobs(shell: State<'_, Shell>) -> Vec<JobInfo> {
    shell.monitor.jobs()
}

#[tauri::command]
pub fn get_job(shell: State<'_, Shell>, id: u64) -> CmdResult<JobInfo> {
    shell
        .monitor
        .job(id)
        .ok_or_else(|| CmdError::new("not_found", format!("no job {id}")))
}

#[tauri::command]
pub fn cancel_job(shell: State<'_, Shell>, id: u64) -> CmdResult<Value> {
    if shell.monitor.cancel(id) {
        Ok(json!({"message": "취소 요청됨 / cancel requested", "job_id": id}))
    } else if shell.monitor.job(id).is_some() {
        Err(CmdError::new(
            "not_running",
            format!("job {id} has already finished"),
        ))
    } else {
        Err(CmdError::new("not_found", format!("no job {id}")))
    }
}

/// `{message, job_id, started, kind}`, as the server's 202.
#[derive(Debug, Clone, Serialize)]
pub struct StartResponse {
    pub message: String,
    pub job_id: u64,
    pub started: bool,
    pub kind: JobKind,
}

/// Start a job for `caller`, or answer with the running one (the tray's menu uses this too);
/// the engine refuses what the caller may not do. It may wait a moment for a job in its
/// background passes to yield, so it never runs on the main thread.
pub fn start(
    monitor: &Monitor,
    kind: JobKind,
    force: Option<ForceApproval>,
    caller: &Caller,
) -> CmdResult<StartResponse> {
    let s = monitor.request(kind, force, caller)?;
    let message = if s.started {
        format!("{} 시작 / started", kind.label_ko())
    } else {
        format!(
            "이미 {} 작업이 진행 중입니다 / a job is already running",
            s.kind.label_ko()
        )
    };
    Ok(StartResponse {
        message,
        job_id: s.job_id,
        started: s.started,
        kind: s.kind,
    })
}

/// A sync; `force` carries the refused job that was reviewed and its deletions (admin).
#[tauri::command]
pub async fn start_sync(
    shell: State<'_, Shell>,
    force: Option<ForceApproval>,
) -> CmdResult<StartResponse> {
    let (m, caller) = (shell.monitor.clone(), shell.caller());
    blocking(move || start(&m, JobKind::Sync, force, &caller)).await
}

/// 스캔 실행 (admin).
#[tauri::command]
pub async fn start_scan(shell: State<'_, Shell>) -> CmdResult<StartResponse> {
    let (m, caller) = (shell.monitor.clone(), shell.caller());
    blocking(move || start(&m, JobKind::Scan, None, &caller)).await
}

/// How long `start_reconcile` waits for the report before answering with the job to poll.
const RECONCILE_WAIT: Duration = Duration::from_secs(60);

/// PRD 7.1 `{result, job_id}`: runs the read-only comparison as a job and waits for it (up to a
/// minute; after that, or when another job runs, answers with the job id to poll).
#[tauri::command]
pub async fn start_reconcile(shell: State<'_, Shell>) -> CmdResult<Value> {
    let (m, caller) = (shell.monitor.clone(), shell.caller());
    let s = blocking(move || Ok(m.request(JobKind::Reconcile, None, &caller)?)).await?;
    if !s.started {
        let (m, caller) = (shell.monitor.clone(), shell.caller());
        let running = blocking(move || start(&m, JobKind::Reconcile, None, &caller)).await?;
        return Ok(serde_json::to_value(running).unwrap_or_default());
    }
    let m = shell.monitor.clone();
    let done = blocking(move || Ok(m.wait(s.job_id, RECONCILE_WAIT))).await?;
    match shell.monitor.job(s.job_id) {
        Some(j) if done => match (&j.result, &j.error) {
            (Some(JobResult::Reconcile(r)), _) => Ok(json!({"result": r, "job_id": s.job_id})),
            (_, Some(e)) => Err(CmdError {
                job_id: Some(s.job_id),
                ..CmdError::new(&e.code, e.message.clone())
            }),
            _ => Ok(json!({"result": null, "job_id": s.job_id, "state": j.state})),
        },
        _ => Ok(json!({"message": "정합성 검증 진행 중 / still running", "job_id": s.job_id})),
    }
}

#[tauri::command]
pub fn pause_schedule(shell: State<'_, Shell>) -> Status {
    shell.monitor.pause();
    shell.monitor.status()
}

#[tauri::command]
pub fn resume_schedule(shell: State<'_, Shell>) -> Status {
    shell.monitor.resume();
    shell.monitor.status()
}
