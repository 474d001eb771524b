//! Errors across IPC: `{code, message, field?, errors?}`, the same body the HTTP API sends, so
//! the UI's one error type (`ApiError.fromBody`) reads both.

use nas_sync_engine::Error;
use nas_sync_engine::runtime::actions::PatchError;
use nas_sync_engine::runtime::settings::FieldError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CmdError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<u64>,
}

impl CmdError {
    pub fn new(code: &str, message: impl Into<String>) -> CmdError {
        CmdError {
            code: code.to_string(),
            message: message.into(),
            field: None,
            errors: Vec::new(),
            job_id: None,
        }
    }
}

impl From<Error> for CmdError {
    fn from(e: Error) -> Self {
        let mut out = CmdError::new(e.code(), e.to_string());
        if let Error::Invalid { field, .. } | Error::Config { field, .. } = &e {
            out.field = Some(field.clone());
        }
        out
    }
}

impl From<PatchError> for CmdError {
    fn from(e: PatchError) -> Self {
        match e {
            PatchError::Malformed(m) => CmdError::new(
                "invalid_argument",
                format!("settings must be an object of the config's fields: {m}"),
            ),
            PatchError::Invalid(errors) => CmdError {
                errors,
                ..CmdError::new(
                    "invalid_settings",
                    "설정에 문제가 있습니다 / some settings are invalid",
                )
            },
            PatchError::Forbidden(e) | PatchError::Io(e) => e.into(),
        }
    }
}

pub type CmdResult<T> = Result<T, CmdError>;

/// Run blocking engine work (SQLite, directory walks) off the async executor.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CmdError> + Send + 'static,
) -> CmdResult<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(CmdError::new("internal", format!("worker failed: {e}"))))
}
