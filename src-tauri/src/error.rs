//! Errors across IPC: the engine's [`ErrorBody`] `{code, message, field?, errors?, job_id?}`,
//! the same body the HTTP API sends, so the UI's one error type (`ApiError.fromBody`) reads both.

pub use nas_sync_engine::{ErrorBody as CmdError, ErrorCode};

pub type CmdResult<T> = Result<T, CmdError>;

/// Run blocking engine work (SQLite, directory walks) off the async executor.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CmdError> + Send + 'static,
) -> CmdResult<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| {
            Err(CmdError::new(
                ErrorCode::Internal,
                format!("worker failed: {e}"),
            ))
        })
}
