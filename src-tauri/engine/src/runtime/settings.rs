//! Settings as the settings screen and `GET/PUT /api/settings` see them: read, validate every
//! field at once (ranges and formats, plus whether the paths work right now), write atomically.
//!
//! A settings file that cannot be parsed is never overwritten silently: it is moved aside
//! (`nas-sync.toml.corrupt-<time>`), the defaults are used, and a warning says where the old
//! file went.
//!
//! The file holds the admin PIN's hash and the paths of both databases, so it is written for its
//! owner only (mode 0600 on Unix; on Windows it lives under the user's own %APPDATA%, whose ACL
//! already keeps other users out). A save writes a temp file of its own next to it, flushes it
//! to disk and renames it over the old one: a reader sees the old file or the new one, never a
//! part, and two saves at once never share a temp file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};

/// One field's problem, for the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Settings as loaded.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub config: Config,
    /// Where they live.
    pub path: PathBuf,
    /// Whether the file existed (false = defaults).
    pub exists: bool,
    /// Set when the file was unreadable and kept aside.
    pub warning: Option<String>,
}

/// The settings file.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    path: PathBuf,
}

impl SettingsStore {
    pub fn new(path: impl Into<PathBuf>) -> SettingsStore {
        SettingsStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the settings; a corrupted file is moved aside and the defaults are used.
    pub fn load(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Loaded> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Loaded {
                    config: Config::default(),
                    path: self.path.clone(),
                    exists: false,
                    warning: None,
                });
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        match Config::from_toml(&text, self.path.parent()) {
            Ok(config) => Ok(Loaded {
                config,
                path: self.path.clone(),
                exists: true,
                warning: None,
            }),
            Err(e) => {
                let mut aside = self.path.as_os_str().to_owned();
                aside.push(format!(".corrupt-{}", now.format("%Y%m%dT%H%M%SZ")));
                let aside = PathBuf::from(aside);
                std::fs::rename(&self.path, &aside).map_err(|io| Error::io(&self.path, io))?;
                let warning = format!(
                    "설정 파일을 읽을 수 없어 기본값을 사용합니다. 기존 파일은 {}에 보관했습니다 ({e}). \
                     / The settings file could not be read; defaults are in use and the old file \
                     was kept as {}.",
                    aside.display(),
                    aside.display()
                );
                tracing::warn!("{warning}");
                Ok(Loaded {
                    config: Config::default(),
                    path: self.path.clone(),
                    exists: false,
                    warning: Some(warning),
                })
            }
        }
    }

    /// Validate and write `cfg` (atomically: a temp file of its own, flushed to disk, renamed
    /// over the old one; owner-only on Unix, whatever the old file's mode was). Nothing is
    /// written when any field is invalid. Relative paths in `cfg` are taken as they are: resolve
    /// them first with [`Config::resolve_relative_paths`] against this file's folder, as
    /// [`SettingsStore::load`] does.
    pub fn save(&self, cfg: &Config) -> std::result::Result<(), SaveError> {
        let mut cfg = cfg.clone();
        cfg.normalize();
        let errors = validate(&cfg);
        if !errors.is_empty() {
            return Err(SaveError::Invalid(errors));
        }
        let text = toml::to_string_pretty(&Stored {
            config: &cfg,
            admin_pin_hash: cfg.admin_pin_hash.as_deref(),
        })
        .map_err(|e| {
            SaveError::Io(Error::config(
                "config",
                format!("cannot encode settings: {e}"),
            ))
        })?;
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| SaveError::Io(Error::io(dir, e)))?;
        }
        write_atomically(&self.path, text.as_bytes()).map_err(SaveError::Io)
    }
}

/// Temp files made by this process so far (with the process id, a unique temp name).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replace `path` with `bytes`: a new owner-only temp file in the same folder, fsynced, renamed
/// over `path`, then the folder fsynced (Unix) so the rename itself survives a crash. The temp
/// file is removed on any failure.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (tmp, mut file) = create_temp(dir, path)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e));
    drop(file);
    if let Err(e) = written.and_then(|()| rename_over(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        // The file is in place; only its durability across a power cut is less certain.
        tracing::debug!(error = %e, dir = %dir.display(), "settings folder not synced");
    }
    Ok(())
}

/// A new temp file next to `path` (`.nas-sync.toml.<pid>.<unique>.tmp`), created exclusively
/// (never one another writer has open) and, on Unix, with mode 0600 from the start.
fn create_temp(dir: &Path, path: &Path) -> Result<(PathBuf, std::fs::File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| crate::config::CONFIG_FILE_NAME.to_string());
    let mut last = None;
    for _ in 0..16 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(
            ".{name}.{}.{n:x}{nanos:08x}.tmp",
            std::process::id()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((tmp, e)),
            Err(e) => return Err(Error::io(tmp, e)),
        }
    }
    let (tmp, e) = last.unwrap_or_else(|| {
        (
            dir.to_path_buf(),
            std::io::Error::other("no temp file name left"),
        )
    });
    Err(Error::io(tmp, e))
}

/// Rename `tmp` over `path`. On Windows another save's rename of the same file can hold it for
/// a moment (access denied): retried briefly.
fn rename_over(tmp: &Path, path: &Path) -> Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::rename(tmp, path) {
            Ok(()) => return Ok(()),
            Err(e)
                if cfg!(windows)
                    && e.kind() == std::io::ErrorKind::PermissionDenied
                    && tries < 50 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}

/// The file's shape: the config plus the PIN hash, which `Config` never serializes (so no API
/// answer can carry it).
#[derive(Serialize)]
struct Stored<'a> {
    #[serde(flatten)]
    config: &'a Config,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_pin_hash: Option<&'a str>,
}

/// Why settings were not saved.
#[derive(Debug)]
pub enum SaveError {
    Invalid(Vec<FieldError>),
    Io(Error),
}

/// Every problem with `cfg`: ranges and formats, then the paths as they are right now (the root
/// can be listed, the Target's folder is writable, archive.db's folder can be created).
pub fn validate(cfg: &Config) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = cfg
        .field_errors()
        .into_iter()
        .map(|(field, message)| FieldError { field, message })
        .collect();
    let mut err = |field: &str, message: String| {
        out.push(FieldError {
            field: field.to_string(),
            message,
        })
    };
    if let Some(p) = &cfg.ffprobe_path
        && let Some(problem) = crate::probe::ffprobe::configured_problem(p)
    {
        err("ffprobe_path", problem);
    }
    match &cfg.root {
        None => err(
            "root",
            "NAS 루트 경로를 입력하세요 (예: \\\\10.10.100.122\\docker\\GGPNAs\\ARCHIVE). / Enter the NAS root path."
                .into(),
        ),
        Some(root) => {
            if let Err(e) = std::fs::read_dir(root) {
                err(
                    "root",
                    format!(
                        "NAS 루트를 열 수 없습니다: {} ({e}). 경로, 네트워크 연결과 권한을 확인하세요. / Cannot list the root.",
                        root.display()
                    ),
                );
            }
        }
    }
    match &cfg.target_db {
        None => err(
            "target_db",
            "OTT 카탈로그(pokervod.db) 경로를 입력하세요. / Enter the path of pokervod.db.".into(),
        ),
        Some(t) => {
            if let Some(msg) = unwritable(t) {
                err("target_db", msg);
            }
        }
    }
    if let Some(a) = &cfg.archive_db
        && let Some(msg) = unwritable(a)
    {
        err("archive_db", msg);
    }
    // archive.db must not be the Target, by identity (symbolic links, `..`, hard links), and an
    // existing file must be our archive.db: both would be refused when a sync opens them.
    if !out.iter().any(|e| e.field == "archive_db") {
        let check = cfg
            .check_distinct_databases()
            .and_then(|()| match &cfg.archive_db {
                Some(a) if a.is_file() => crate::archive::Archive::check_ours(a),
                _ => Ok(()),
            });
        if let Err(Error::Config { field, message }) = check {
            out.push(FieldError { field, message });
        }
    }
    out
}

/// Why the database file `p` could not be written, if it could not.
fn unwritable(p: &Path) -> Option<String> {
    if p.is_dir() {
        return Some(format!(
            "{}는 폴더입니다. 데이터베이스 파일 경로를 입력하세요. / This is a folder, not a database file.",
            p.display()
        ));
    }
    if p.exists() {
        return match std::fs::OpenOptions::new().append(true).open(p) {
            Ok(_) => None,
            Err(e) => Some(format!(
                "{}에 쓸 수 없습니다 ({e}). 권한을 확인하세요. / Cannot write this file.",
                p.display()
            )),
        };
    }
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Some(format!(
            "폴더 {}가 없습니다. / The folder does not exist.",
            dir.display()
        ));
    }
    let probe = dir.join(format!(".nas-sync-write-test-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "폴더 {}에 쓸 수 없습니다 ({e}). / Cannot write in this folder.",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-11-30T06:00:00Z")
            .expect("time")
            .to_utc()
    }

    #[test]
    fn every_invalid_field_is_reported_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SettingsStore::new(dir.path().join("nas-sync.toml"));
        let cfg = Config {
            root: Some(dir.path().join("no-such-share")),
            target_db: Some(dir.path().join("missing-folder/pokervod.db")),
            interval_minutes: 0,
            max_delete_percent: 150.0,
            ..Config::default()
        };
        let Err(SaveError::Invalid(errors)) = store.save(&cfg) else {
            panic!("invalid settings were accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "interval_minutes",
                "max_delete_percent",
                "root",
                "target_db"
            ]
        );
        assert!(errors[2].message.contains("NAS 루트를 열 수 없습니다"));
        assert!(!store.path().exists(), "nothing written");
    }

    #[test]
    fn valid_settings_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("share");
        std::fs::create_dir_all(&root).expect("root");
        let store = SettingsStore::new(dir.path().join("conf/nas-sync.toml"));
        let cfg = Config {
            root: Some(root),
            target_db: Some(dir.path().join("pokervod.db")),
            archive_db: Some(dir.path().join("archive.db")),
            interval_minutes: 15,
            hls_extensions: vec![".MP4".into(), "ts".into()],
            ..Config::default()
        };
        store.save(&cfg).expect("save");
        let loaded = store.load(now()).expect("load");
        assert!(loaded.exists && loaded.warning.is_none());
        assert_eq!(loaded.config.interval_minutes, 15);
        assert_eq!(loaded.config.hls_extensions, vec!["mp4", "ts"]);
        assert_eq!(loaded.config.root, cfg.root);
    }

    #[test]
    fn a_corrupted_file_is_kept_aside_and_defaults_are_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nas-sync.toml");
        std::fs::write(&path, "interval_minutes = \"soon\"\n[[[").expect("write");
        let loaded = SettingsStore::new(&path).load(now()).expect("load");
        assert_eq!(loaded.config, Config::default());
        let warning = loaded.warning.expect("warning");
        let aside = dir.path().join("nas-sync.toml.corrupt-20261130T060000Z");
        assert!(warning.contains(&aside.display().to_string()), "{warning}");
        assert_eq!(
            std::fs::read_to_string(&aside).expect("kept"),
            "interval_minutes = \"soon\"\n[[["
        );
        assert!(
            !path.exists(),
            "the bad file is not left in place to fail again"
        );
    }
}
