//! The engine's error type. Every variant has a stable `code()` that adapters (CLI, HTTP, Tauri)
//! pass on as `{code, message}` so a consumer can branch on it without matching message text.

use std::path::PathBuf;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which safety guard refused to apply changes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The share looked offline or empty; nothing was written anywhere.
    Offline,
    /// The sync would soft-delete too many Target rows; nothing was written to the Target.
    MassDelete,
}

/// Every error code a host sends in an [`ErrorBody`]: the engine's own and the transport's
/// (`unauthorized`, `bad_host`, …). Consumers branch on it, never on the message; the UI gets
/// it as a TypeScript union. [`ErrorCode::http_status`] is the one table of HTTP statuses.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A setting is missing or invalid (no NAS root yet: the UI shows onboarding).
    ConfigInvalid,
    /// A request parameter or body is malformed or out of range.
    InvalidArgument,
    /// A settings change has invalid fields (`errors` lists them); nothing was saved.
    InvalidSettings,
    GuardOffline,
    GuardMassDelete,
    TargetSchema,
    TargetBusy,
    TooLarge,
    RootUnreachable,
    /// A call to the share did not answer within `share_timeout_secs` (NAS 응답 없음); the job
    /// stopped and nothing was changed.
    ShareTimeout,
    AdminRequired,
    AdminPinNotSet,
    NotFound,
    /// Cancel of a job that has already finished.
    NotRunning,
    /// The demo archive was asked for while a NAS root is configured.
    AlreadyConfigured,
    StaleReview,
    Cancelled,
    SyncRunning,
    SchemaTooNew,
    Database,
    Io,
    Internal,
    /// Transport: no credential (open the printed `?token=` address, or send a Bearer token).
    Unauthorized,
    /// Transport: a wrong credential.
    Forbidden,
    /// Transport: a Host header this server does not answer to (DNS rebinding).
    BadHost,
    /// Transport: a state change or WebSocket from another site.
    BadOrigin,
    /// Transport: a state change whose body is not JSON.
    UnsupportedMediaType,
    MethodNotAllowed,
    /// Desktop: a feature this installation does not have (e.g. autostart).
    Unavailable,
    /// Desktop: the OS refused to change the login item.
    Autostart,
}

impl ErrorCode {
    /// The code as sent (`"target_busy"`).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ConfigInvalid => "config_invalid",
            InvalidArgument => "invalid_argument",
            InvalidSettings => "invalid_settings",
            GuardOffline => "guard_offline",
            GuardMassDelete => "guard_mass_delete",
            TargetSchema => "target_schema",
            TargetBusy => "target_busy",
            TooLarge => "too_large",
            RootUnreachable => "root_unreachable",
            ShareTimeout => "share_timeout",
            AdminRequired => "admin_required",
            AdminPinNotSet => "admin_pin_not_set",
            NotFound => "not_found",
            NotRunning => "not_running",
            AlreadyConfigured => "already_configured",
            StaleReview => "stale_review",
            Cancelled => "cancelled",
            SyncRunning => "sync_running",
            SchemaTooNew => "schema_too_new",
            Database => "database",
            Io => "io",
            Internal => "internal",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            BadHost => "bad_host",
            BadOrigin => "bad_origin",
            UnsupportedMediaType => "unsupported_media_type",
            MethodNotAllowed => "method_not_allowed",
            Unavailable => "unavailable",
            Autostart => "autostart",
        }
    }

    /// The code named `s`, if it is one.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// The HTTP status an answer with this code has: the one table for every endpoint.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidArgument | InvalidSettings => 400,
            Unauthorized => 401,
            AdminRequired | AdminPinNotSet | Forbidden | BadOrigin => 403,
            NotFound => 404,
            MethodNotAllowed => 405,
            ConfigInvalid | StaleReview | GuardOffline | GuardMassDelete | NotRunning
            | AlreadyConfigured => 409,
            TooLarge => 413,
            UnsupportedMediaType => 415,
            BadHost => 421,
            TargetBusy | SyncRunning | RootUnreachable | ShareTimeout | Unavailable => 503,
            TargetSchema | Cancelled | SchemaTooNew | Database | Io | Internal | Autostart => 500,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one error shape every host sends: HTTP bodies and Tauri command errors alike.
#[derive(Debug, Clone, PartialEq, serde::Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// What happened and what to do (Korean first where the engine wrote both).
    pub message: String,
    /// The setting or parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub field: Option<String>,
    /// Every invalid field of a settings change (`invalid_settings`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<crate::runtime::settings::FieldError>>", optional)]
    #[schemars(default)]
    pub errors: Vec<crate::runtime::settings::FieldError>,
    /// The job the error belongs to (a reconcile that failed while it was waited for).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub job_id: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code,
            message: message.into(),
            field: None,
            errors: Vec::new(),
            job_id: None,
        }
    }

    /// The HTTP status for this body ([`ErrorCode::http_status`]).
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }
}

impl From<Error> for ErrorBody {
    fn from(e: Error) -> Self {
        ErrorBody::from(&e)
    }
}

impl From<&Error> for ErrorBody {
    fn from(e: &Error) -> Self {
        let mut body = ErrorBody::new(e.error_code(), e.to_string());
        match e {
            Error::Invalid { field, .. } | Error::Config { field, .. } => {
                body.field = Some(field.clone());
            }
            Error::InvalidSettings { errors } => body.errors = errors.clone(),
            _ => {}
        }
        body
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing or invalid. `field` names the setting.
    #[error("{message}")]
    Config { field: String, message: String },

    /// A request parameter is out of range or malformed (a query filter, a page number).
    #[error("{message}")]
    Invalid { field: String, message: String },

    /// A safety guard refused the operation (exit code 3 in the CLI).
    #[error("{message}")]
    Refused { guard: Guard, message: String },

    /// The Target table exists but lacks columns the sync needs.
    #[error(
        "pokervod.db: table `files` is missing required column(s): {}. Add them (or point target_db at the right database); nothing was changed.",
        missing.join(", ")
    )]
    TargetSchema { missing: Vec<String> },

    /// The Target stayed locked by another writer for longer than `busy_timeout_secs`.
    #[error(
        "pokervod.db is busy (locked by another program) for more than {secs} s; nothing was changed. Try again later or raise busy_timeout_secs."
    )]
    TargetBusy { secs: u64 },

    /// Another nas-sync process is syncing the same archive.db.
    #[error(
        "another NAS Sync Monitor process is syncing {} (waited {secs} s); try again when it has finished",
        path.display()
    )]
    Locked { path: PathBuf, secs: u64 },

    /// The answer would be too large; `message` says which smaller request to make instead.
    #[error("{message}")]
    TooLarge { message: String },

    /// The archive root (the share) cannot be listed right now.
    #[error("{message}")]
    Unreachable { message: String },

    /// A call to the share (`what`: a listing, a read, the root check) has not answered for
    /// `secs` seconds: the share hangs. A job stops; nothing was changed.
    #[error(
        "NAS 응답 없음: NAS가 {secs}초 동안 응답하지 않습니다 ({what}). 아무것도 바뀌지 않았습니다. NAS 전원과 네트워크를 확인하세요. / The NAS did not answer for {secs} s ({what}); nothing was changed."
    )]
    ShareTimeout { what: String, secs: u64 },

    /// The action is an administrator's (PRD 4.1.3): unlock admin mode with the PIN (or use the
    /// admin token) first. Nothing was done.
    #[error(
        "관리자 권한이 필요합니다: {action}. 관리자 PIN으로 잠금을 해제하세요. / This needs admin rights ({action}): unlock admin mode with the PIN first."
    )]
    AdminRequired { action: String },

    /// An administrator's action while no admin PIN is set and nobody chose to run without one:
    /// set a PIN (or choose "no PIN") in the settings first. Nothing was done.
    #[error(
        "관리자 PIN이 아직 없습니다: {action} 전에 설정에서 관리자 PIN을 정하거나 'PIN 없이 사용'을 선택하세요. / No admin PIN is set: set one (or choose to run without one) in Settings before this ({action})."
    )]
    AdminPinNotSet { action: String },

    /// What the request names does not exist (a job id, a directory).
    #[error("{message}")]
    NotFound { message: String },

    /// A forced sync's approval does not match the refused job it names (other numbers, or not
    /// a refused sync): review it again.
    #[error("{message}")]
    StaleReview { message: String },

    /// Cancel of a job that has already finished.
    #[error("{message}")]
    NotRunning { message: String },

    /// A settings change has invalid fields; nothing was saved.
    #[error("설정에 문제가 있습니다 / some settings are invalid")]
    InvalidSettings {
        errors: Vec<crate::runtime::settings::FieldError>,
    },

    /// The demo archive was asked for while a NAS root is configured (it never replaces one).
    #[error("NAS 루트가 이미 설정되어 있습니다 / a root is already configured")]
    AlreadyConfigured,

    /// The operation was cancelled; nothing from the cancelled step was committed.
    #[error("cancelled; nothing from the cancelled step was committed")]
    Cancelled,

    /// archive.db was written by a newer version of this program.
    #[error(
        "{path}: schema version {found} is newer than this program understands ({supported}); update NAS Sync Monitor"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A stable, machine-readable code for this error (as sent: `"target_busy"`).
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// This error's [`ErrorCode`].
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::Config { .. } => ErrorCode::ConfigInvalid,
            Error::Invalid { .. } => ErrorCode::InvalidArgument,
            Error::Refused {
                guard: Guard::Offline,
                ..
            } => ErrorCode::GuardOffline,
            Error::Refused {
                guard: Guard::MassDelete,
                ..
            } => ErrorCode::GuardMassDelete,
            Error::TargetSchema { .. } => ErrorCode::TargetSchema,
            Error::TargetBusy { .. } => ErrorCode::TargetBusy,
            Error::TooLarge { .. } => ErrorCode::TooLarge,
            Error::Unreachable { .. } => ErrorCode::RootUnreachable,
            Error::ShareTimeout { .. } => ErrorCode::ShareTimeout,
            Error::AdminRequired { .. } => ErrorCode::AdminRequired,
            Error::AdminPinNotSet { .. } => ErrorCode::AdminPinNotSet,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::NotRunning { .. } => ErrorCode::NotRunning,
            Error::InvalidSettings { .. } => ErrorCode::InvalidSettings,
            Error::AlreadyConfigured => ErrorCode::AlreadyConfigured,
            Error::StaleReview { .. } => ErrorCode::StaleReview,
            Error::Cancelled => ErrorCode::Cancelled,
            Error::Locked { .. } => ErrorCode::SyncRunning,
            Error::SchemaTooNew { .. } => ErrorCode::SchemaTooNew,
            Error::Sqlite { .. } => ErrorCode::Database,
            Error::Io { .. } => ErrorCode::Io,
        }
    }

    pub(crate) fn config(field: &str, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Attach a human context to rusqlite errors: `conn.execute(..).ctx("insert file")?`.
pub(crate) trait SqlContext<T> {
    fn ctx(self, context: &str) -> Result<T>;
}

impl<T> SqlContext<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, context: &str) -> Result<T> {
        self.map_err(|source| Error::Sqlite {
            context: context.to_string(),
            source,
        })
    }
}
