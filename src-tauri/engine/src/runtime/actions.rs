//! The settings screen's and onboarding's operations that are more than one engine call, shared
//! by the HTTP server and the desktop shell so neither adapter holds logic the other lacks:
//! merge-and-save a settings patch, test a root, start on the demo archive.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::runtime::Monitor;
use crate::runtime::settings::{self, FieldError, SaveError, SettingsStore};

/// Why a settings patch was not applied.
#[derive(Debug)]
pub enum PatchError {
    /// Not an object of the config's fields (a malformed request).
    Malformed(String),
    /// Some fields are invalid; nothing was saved.
    Invalid(Vec<FieldError>),
    Io(Error),
}

/// The fields given in `patch` replace the monitor's current ones (fields left out keep their
/// values); every field is validated, the result saved atomically (when there is a store) and
/// handed to the monitor.
pub fn apply_settings_patch(
    monitor: &Monitor,
    store: Option<&SettingsStore>,
    patch: Value,
) -> std::result::Result<Config, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed("not an object".into()));
    };
    let cfg = merged(&monitor.config(), patch)?;
    match store {
        Some(s) => s.save(&cfg).map_err(|e| match e {
            SaveError::Invalid(errors) => PatchError::Invalid(errors),
            SaveError::Io(e) => PatchError::Io(e),
        })?,
        None => {
            let errors = settings::validate(&cfg);
            if !errors.is_empty() {
                return Err(PatchError::Invalid(errors));
            }
        }
    }
    let mut cfg = cfg;
    cfg.normalize();
    monitor.set_config(cfg);
    tracing::info!("설정 저장됨 / settings saved");
    Ok(monitor.config())
}

fn merged(current: &Config, patch: Map<String, Value>) -> std::result::Result<Config, PatchError> {
    let bad = |e: serde_json::Error| PatchError::Malformed(e.to_string());
    let mut merged = serde_json::to_value(current).map_err(bad)?;
    if let Value::Object(m) = &mut merged {
        m.extend(patch);
    }
    serde_json::from_value(merged).map_err(bad)
}

/// The answer of "test connection" (always an answer, never an error).
#[derive(Debug, Clone, Serialize)]
pub struct RootTest {
    pub ok: bool,
    pub code: String,
    pub message: String,
    /// Top-level entries of the root, when it could be listed.
    pub entries: Option<usize>,
}

/// Can `root` be listed (and its marker found, the configured one unless `marker_file` is
/// given)? Nothing is saved.
pub fn test_root(current: &Config, root: &str, marker_file: Option<String>) -> RootTest {
    let mut cfg = current.clone();
    let root = root.trim();
    if root.is_empty() {
        return RootTest {
            ok: false,
            code: "invalid_argument".into(),
            message: "루트 경로를 입력하세요 / enter the root path".into(),
            entries: None,
        };
    }
    cfg.root = Some(PathBuf::from(root));
    if marker_file.is_some() {
        cfg.marker_file = marker_file.filter(|m| !m.trim().is_empty());
    }
    match crate::runtime::monitor::check_root(&cfg) {
        Ok(()) => {
            let entries = std::fs::read_dir(root)
                .ok()
                .map(|it| it.take(100_000).count());
            RootTest {
                ok: true,
                code: "ok".into(),
                message: format!(
                    "연결됨: 최상위 항목 {} 개 / reachable",
                    entries.unwrap_or(0)
                ),
                entries,
            }
        }
        Err(e) => RootTest {
            ok: false,
            code: e.code().into(),
            message: e.to_string(),
            entries: None,
        },
    }
}

/// What onboarding's "use the demo archive" did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoStarted {
    pub config: Config,
    pub dir: PathBuf,
    pub files: u64,
    pub created: bool,
    pub job_id: u64,
}

/// Files in the onboarding demo archive.
pub const DEMO_FILES: usize = 300;

/// Onboarding's "start with the demo archive": writes the demo next to the settings file (or
/// archive.db), points the settings at it and starts a first sync. Refused once a root is
/// configured (`Ok(None)`), so it can never replace a real NAS.
pub fn use_demo(monitor: &Monitor, store: Option<&SettingsStore>) -> Result<Option<DemoStarted>> {
    let current = monitor.config();
    if current.root.is_some() {
        return Ok(None);
    }
    let base = match store.and_then(|s| s.path().parent()) {
        Some(p) => p.to_path_buf(),
        None => current
            .archive_db_path()?
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
    };
    let report = crate::demo::write_demo(&base.join("demo"), DEMO_FILES)?;
    let mut cfg = current;
    cfg.root = Some(report.root.clone());
    cfg.archive_db = Some(report.dir.join("archive.db"));
    cfg.target_db = Some(report.dir.join("pokervod.db"));
    if let Some(s) = store {
        s.save(&cfg).map_err(|e| match e {
            SaveError::Invalid(errors) => Error::Config {
                field: errors.first().map(|f| f.field.clone()).unwrap_or_default(),
                message: errors
                    .first()
                    .map(|f| f.message.clone())
                    .unwrap_or_default(),
            },
            SaveError::Io(e) => e,
        })?;
    }
    cfg.normalize();
    monitor.set_config(cfg);
    tracing::info!(
        "데모 아카이브 사용 / demo archive at {}",
        report.dir.display()
    );
    let started = monitor.start(crate::runtime::JobKind::Sync, false, "manual");
    Ok(Some(DemoStarted {
        config: monitor.config(),
        dir: report.dir,
        files: report.files,
        created: report.created,
        job_id: started.job_id,
    }))
}
