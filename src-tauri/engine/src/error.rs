//! The engine's error type. Every variant has a stable `code()` that adapters (CLI, HTTP, Tauri)
//! pass on as `{code, message}` so a consumer can branch on it without matching message text.

use std::path::PathBuf;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which safety guard refused to apply changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The share looked offline or empty; nothing was written anywhere.
    Offline,
    /// The sync would soft-delete too many Target rows; nothing was written to the Target.
    MassDelete,
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
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "config_invalid",
            Error::Invalid { .. } => "invalid_argument",
            Error::Refused {
                guard: Guard::Offline,
                ..
            } => "guard_offline",
            Error::Refused {
                guard: Guard::MassDelete,
                ..
            } => "guard_mass_delete",
            Error::TargetSchema { .. } => "target_schema",
            Error::TargetBusy { .. } => "target_busy",
            Error::TooLarge { .. } => "too_large",
            Error::Unreachable { .. } => "root_unreachable",
            Error::AdminRequired { .. } => "admin_required",
            Error::AdminPinNotSet { .. } => "admin_pin_not_set",
            Error::NotFound { .. } => "not_found",
            Error::StaleReview { .. } => "stale_review",
            Error::Cancelled => "cancelled",
            Error::Locked { .. } => "sync_running",
            Error::SchemaTooNew { .. } => "schema_too_new",
            Error::Sqlite { .. } => "database",
            Error::Io { .. } => "io",
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
