//! The settings screen's and onboarding's operations that are more than one engine call, shared
//! by the HTTP server and the desktop shell so neither adapter holds logic the other lacks:
//! merge-and-save a settings patch, test a root, start on the demo archive.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::admin_pin::Verdict;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::runtime::Monitor;
use crate::runtime::admin::{Caller, CallerKind, locked_message};
use crate::runtime::settings::{self, FieldError, SaveError, SettingsStore};

pub use crate::runtime::admin::PinCheck;

/// The settings as `GET /api/settings` and the window's `get_settings` answer them: the config
/// without the PIN hash (never serialized), whether a PIN is set, where the file is and any
/// warning from loading it.
#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct SettingsView {
    pub config: Config,
    pub admin_pin_set: bool,
    /// The settings file (none when the process runs without one: nothing is written).
    pub path: Option<PathBuf>,
    pub warning: Option<String>,
}

impl SettingsView {
    pub fn new(
        monitor: &Monitor,
        store: Option<&SettingsStore>,
        warning: Option<String>,
    ) -> SettingsView {
        let config = monitor.config();
        SettingsView {
            admin_pin_set: config.admin_pin_set(),
            config,
            path: store.map(|s| s.path().to_path_buf()),
            warning,
        }
    }
}

/// The answer of a settings patch that was applied.
#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct SettingsSaved {
    pub config: Config,
    pub admin_pin_set: bool,
    /// False when there is no settings file (applied to this process only).
    pub saved: bool,
}

impl SettingsSaved {
    pub fn new(config: Config, store: Option<&SettingsStore>) -> SettingsSaved {
        SettingsSaved {
            admin_pin_set: config.admin_pin_set(),
            config,
            saved: store.is_some(),
        }
    }
}

/// Why a settings patch was not applied.
#[derive(Debug)]
pub enum PatchError {
    /// Not an object of the config's fields (a malformed request).
    Malformed(String),
    /// Some fields are invalid; nothing was saved.
    Invalid(Vec<FieldError>),
    /// The patch changes an administrator's settings and the caller is not one
    /// (`admin_required` or `admin_pin_not_set`); nothing was saved.
    Forbidden(Error),
    Io(Error),
}

/// Settings only an administrator may change: where the data lives, what is synced and the
/// safety guards (plus the PIN itself and the choice to run without one).
pub const ADMIN_FIELDS: &[&str] = &[
    "root",
    "archive_db",
    "target_db",
    "marker_file",
    "ignore",
    "max_delete_percent",
    "max_delete_count",
    "delete_after_missing_scans",
    "settle_secs",
    "hls_only",
    "hls_extensions",
    "strict_codec_check",
    "target_wal",
    "no_admin_pin",
];

/// Settings no patch may change: `ffprobe_path` names a program the sync runs, so it is set in
/// the settings file or on the command line only.
pub const FILE_ONLY_FIELDS: &[&str] = &["ffprobe_path"];

/// The fields given in `patch` replace the monitor's current ones (fields left out keep their
/// values); every field is validated, the result saved atomically (when there is a store) and
/// handed to the monitor. Patches are applied one at a time, so two concurrent ones never lose
/// each other's change.
///
/// Two keys are not config fields: `admin_pin` (a new PIN of 4–12 digits, or `null` / `""` to
/// clear it; only its salted hash is kept) and `admin_pin_current` (the PIN set now, required to
/// change or clear it). `admin_pin_hash` cannot be set through a patch, nor `ffprobe_path`
/// ([`FILE_ONLY_FIELDS`]). Changing an [`ADMIN_FIELDS`] setting or the PIN needs an
/// administrator (see [`crate::runtime::admin`]); while no PIN is set and nobody chose to run
/// without one, only the local user may set the first PIN or make that choice, in the same
/// patch as other such changes.
pub fn apply_settings_patch(
    monitor: &Monitor,
    store: Option<&SettingsStore>,
    patch: Value,
    caller: &Caller,
) -> std::result::Result<Config, PatchError> {
    let Value::Object(mut patch) = patch else {
        return Err(PatchError::Malformed("not an object".into()));
    };
    let _one_at_a_time = monitor.settings_lock();
    let current = monitor.config();
    let pin = take_pin_change(monitor, &current, &mut patch, caller)?;
    let mut cfg = merged(&current, patch)?;
    cfg.admin_pin_hash = current.admin_pin_hash.clone();
    // Relative paths mean what they mean in the settings file: relative to its folder (so a
    // restart reads back the same databases).
    if let Some(dir) = store.and_then(|s| s.path().parent()) {
        cfg.resolve_relative_paths(dir);
    }
    let mut pin_errors = pin.errors;
    for field in FILE_ONLY_FIELDS {
        if json_field(&cfg, field) != json_field(&current, field) {
            pin_errors.push(FieldError {
                field: (*field).into(),
                message: "이 설정은 설정 파일이나 명령줄에서만 바꿀 수 있습니다 (실행할 프로그램이므로). / This can only be set in the settings file or on the command line (it names a program to run).".into(),
            });
        }
    }
    authorize_patch(monitor, &current, &cfg, &pin.change, caller)?;
    if let Some(new_pin) = pin.change.clone()
        && let Err(e) = cfg.set_admin_pin(new_pin.as_deref())
    {
        pin_errors.push(field_error(e));
    }
    if !pin_errors.is_empty() {
        pin_errors.extend(settings::validate(&cfg));
        return Err(PatchError::Invalid(pin_errors));
    }
    if cfg.admin_pin_hash.is_some() {
        // A PIN replaces the choice to run without one.
        cfg.no_admin_pin = false;
    }
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
    if pin.change.is_some() {
        // Grants unlocked with the old PIN end with it.
        monitor.admin().revoke_all();
    }
    cfg.normalize();
    monitor.set_config(cfg);
    tracing::info!("설정 저장됨 / settings saved");
    Ok(monitor.config())
}

fn json_field(cfg: &Config, field: &str) -> Value {
    serde_json::to_value(cfg)
        .ok()
        .and_then(|v| v.get(field).cloned())
        .unwrap_or(Value::Null)
}

/// Refuse a patch that changes an administrator's settings for a caller who is not one.
fn authorize_patch(
    monitor: &Monitor,
    current: &Config,
    next: &Config,
    pin_change: &Option<Option<String>>,
    caller: &Caller,
) -> std::result::Result<(), PatchError> {
    let changed: Vec<&str> = ADMIN_FIELDS
        .iter()
        .copied()
        .filter(|f| json_field(current, f) != json_field(next, f))
        .collect();
    if changed.is_empty() && pin_change.is_none() {
        return Ok(());
    }
    if monitor.is_admin(caller) {
        return Ok(());
    }
    // The first PIN, or the choice to run without one, is the local user's to make; other
    // admin settings may come in the same patch.
    let bootstrap = current.admin_pin_hash.is_none()
        && caller.kind == CallerKind::Local
        && (matches!(pin_change, Some(Some(_))) || next.no_admin_pin);
    if bootstrap {
        return Ok(());
    }
    let mut what: Vec<String> = changed.iter().map(|f| f.to_string()).collect();
    if pin_change.is_some() {
        what.push("admin_pin".into());
    }
    let action = format!("설정 변경 ({}) / settings", what.join(", "));
    Err(PatchError::Forbidden(
        monitor
            .require_admin(caller, &action)
            .err()
            .unwrap_or(Error::AdminRequired { action }),
    ))
}

/// A PIN change asked for in a patch: `change` is `Some(new)` (`new = None` clears).
struct PinChange {
    change: Option<Option<String>>,
    errors: Vec<FieldError>,
}

fn take_pin_change(
    monitor: &Monitor,
    current: &Config,
    patch: &mut Map<String, Value>,
    caller: &Caller,
) -> std::result::Result<PinChange, PatchError> {
    let mut errors = Vec::new();
    if patch.remove("admin_pin_hash").is_some() {
        errors.push(FieldError {
            field: "admin_pin_hash".into(),
            message: "PIN 해시는 직접 설정할 수 없습니다. admin_pin으로 PIN을 보내세요. / The hash cannot be set; send admin_pin.".into(),
        });
    }
    let current_pin = match patch.remove("admin_pin_current") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(PatchError::Malformed(
                "admin_pin_current must be a string".into(),
            ));
        }
    };
    let new_pin = match patch.remove("admin_pin") {
        None => {
            return Ok(PinChange {
                change: None,
                errors,
            });
        }
        Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(PatchError::Malformed(
                "admin_pin must be a string or null".into(),
            ));
        }
    };
    if current.admin_pin_hash.is_some() {
        let verdict = match current_pin.as_deref() {
            Some(p) => {
                monitor
                    .admin()
                    .check_pin(current, &caller.client, p, std::time::Instant::now())
            }
            None => Verdict::Wrong,
        };
        if verdict != Verdict::Ok {
            errors.push(FieldError {
                field: "admin_pin_current".into(),
                message: match (verdict, current_pin.is_some()) {
                    (Verdict::Locked(d), _) => locked_message(d),
                    (_, false) => "PIN을 바꾸거나 지우려면 현재 PIN을 입력하세요. / Enter the current PIN to change or clear it.".into(),
                    _ => "현재 PIN이 맞지 않습니다. / The current PIN is wrong.".into(),
                },
            });
            return Ok(PinChange {
                change: None,
                errors,
            });
        }
    }
    Ok(PinChange {
        change: Some(new_pin),
        errors,
    })
}

fn field_error(e: Error) -> FieldError {
    match e {
        Error::Config { field, message } => FieldError { field, message },
        other => FieldError {
            field: "config".into(),
            message: other.to_string(),
        },
    }
}

/// May `caller` look at or set up the share's connection (test a root, start the demo)? An
/// administrator, or the local user while no PIN is set (first run: nothing to protect yet).
pub fn require_setup_access(monitor: &Monitor, caller: &Caller, action: &str) -> Result<()> {
    let cfg = monitor.config();
    if cfg.admin_pin_hash.is_none() && caller.kind == CallerKind::Local {
        return Ok(());
    }
    monitor.require_admin(caller, action)
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    // The test lists the root on the request's thread only through a helper thread it can
    // abandon: a hung share answers "NAS 응답 없음" after a bound instead of holding the request.
    let wait = Duration::from_secs(cfg.share_timeout_secs.clamp(1, TEST_ROOT_MAX_WAIT_SECS));
    let root_owned = PathBuf::from(root);
    let never = std::sync::atomic::AtomicBool::new(false);
    let outcome = crate::scan::on_share(
        format!("{root} 확인 / checking {root}"),
        wait,
        &never,
        move || {
            crate::runtime::monitor::check_root(&cfg).map(|()| {
                std::fs::read_dir(&root_owned)
                    .ok()
                    .map(|it| it.take(100_000).count())
            })
        },
    )
    .and_then(|checked| checked);
    match outcome {
        Ok(entries) => RootTest {
            ok: true,
            code: "ok".into(),
            message: format!(
                "연결됨: 최상위 항목 {} 개 / reachable",
                entries.unwrap_or(0)
            ),
            entries,
        },
        Err(e) => RootTest {
            ok: false,
            code: e.code().into(),
            message: e.to_string(),
            entries: None,
        },
    }
}

/// The longest a connection test waits for the share.
const TEST_ROOT_MAX_WAIT_SECS: u64 = 10;

/// What onboarding's "use the demo archive" did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    let settings_lock = monitor.settings_lock();
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
    drop(settings_lock);
    tracing::info!(
        "데모 아카이브 사용 / demo archive at {}",
        report.dir.display()
    );
    let started = monitor.start(
        crate::runtime::JobKind::Sync,
        crate::sync::Force::No,
        "manual",
    );
    Ok(Some(DemoStarted {
        config: monitor.config(),
        dir: report.dir,
        files: report.files,
        created: report.created,
        job_id: started.job_id,
    }))
}

/// A file of the archive on this machine, for 폴더 열기 (open the containing folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    /// The file (or folder) itself, below the root, as the file manager should select it;
    /// `None` when it is no longer there.
    pub item: Option<PathBuf>,
    /// The folder to open: the item's own folder, or the nearest one of its folders that still
    /// exists (at most the root).
    pub folder: PathBuf,
}

/// Where `rel` (a path as the screens show it: relative to the root, `/`-separated) is on this
/// machine. Only a path below the root is ever answered: an absolute path, a drive or UNC
/// prefix, a `.`/`..` component or a backslash is refused lexically, and the answer is checked
/// again after resolving links, so a symlink inside the share cannot lead out of it either.
/// Reads the share (a few metadata calls), so call it off the UI thread.
pub fn locate_in_archive(cfg: &Config, rel: &str) -> Result<Located> {
    let root = cfg.require_root()?;
    let invalid = |why: &str| {
        Error::invalid(
            "path",
            format!(
                "보관소 안의 상대 경로가 아닙니다 ({why}) / not a path inside the archive ({why}): {rel:?}"
            ),
        )
    };
    let rel = rel.trim_matches('/');
    if rel.contains('\\') || rel.contains(':') || rel.contains('\0') {
        return Err(invalid("\\, : or NUL"));
    }
    if rel
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
        && !rel.is_empty()
    {
        return Err(invalid("empty, . or .. component"));
    }
    let canonical_root = std::fs::canonicalize(root).map_err(|e| Error::Unreachable {
        message: format!(
            "루트 폴더에 연결할 수 없습니다 / the root folder cannot be reached: {}: {e}",
            root.display()
        ),
    })?;
    let inside = |p: &std::path::Path| {
        std::fs::canonicalize(p)
            .ok()
            .filter(|c| c.starts_with(&canonical_root))
    };
    let mut path = root.to_path_buf();
    for c in rel.split('/').filter(|c| !c.is_empty()) {
        path.push(c);
    }
    if inside(&path).is_some() {
        let folder = if path == root {
            root.to_path_buf()
        } else {
            path.parent().unwrap_or(root).to_path_buf()
        };
        return Ok(Located {
            item: Some(path),
            folder,
        });
    }
    if std::fs::symlink_metadata(&path).is_ok() {
        // There, but leading out of the root (a link): not ours to show.
        return Err(invalid("a link out of the archive"));
    }
    // Gone: the nearest folder of it that is still there.
    let mut folder = path.parent().unwrap_or(root).to_path_buf();
    while folder != root && inside(&folder).is_none() {
        folder = folder.parent().unwrap_or(root).to_path_buf();
    }
    Ok(Located { item: None, folder })
}
