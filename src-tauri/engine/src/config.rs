//! Settings: the TOML config file, its defaults and validation.
//!
//! A missing *default* config file means defaults; an explicitly named file that does not exist is
//! an error; an empty file means defaults; an unknown key is an error naming the key. Relative paths
//! inside a config file are resolved against the file's directory, so a generated demo config works
//! from any working directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the config file inside the OS config directory.
pub const CONFIG_FILE_NAME: &str = "nas-sync.toml";
/// Directory name used under the OS config / data directories.
pub const APP_DIR_NAME: &str = "nas-sync-monitor";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The archive root: a local directory, a mounted share or a UNC path.
    pub root: Option<PathBuf>,
    /// Our own Source database. Defaults to the OS data directory.
    pub archive_db: Option<PathBuf>,
    /// The OTT catalog (pokervod.db). Required for `sync`.
    pub target_db: Option<PathBuf>,
    /// Automatic sync interval in minutes (PRD 4.4).
    pub interval_minutes: u32,
    /// Sync only files whose extension is in `hls_extensions` (PRD 4.4 "HLS 필터").
    pub hls_only: bool,
    /// Extensions that HLS can stream without transcoding, lowercase, without dot.
    pub hls_extensions: Vec<String>,
    /// Extra ignore globs, matched against the relative path (`/` separators) and the file name.
    pub ignore: Vec<String>,
    /// Mass-delete guard: refuse when more than this percent of active Target rows would go...
    pub max_delete_percent: f64,
    /// ...and more than this many rows.
    pub max_delete_count: u64,
    /// Optional file name (relative to the root) that must exist for the share to count as online.
    pub marker_file: Option<String>,
    /// How long to wait for a busy Target before giving up, in seconds.
    pub busy_timeout_secs: u64,
    /// Parallel workers listing directories (SMB listing is latency-bound).
    pub scan_workers: usize,
    /// A call to the share (listing a folder, reading a file) that has not answered after this
    /// many seconds fails the job with "NAS 응답 없음" (`share_timeout`); nothing is changed.
    pub share_timeout_secs: u64,
    /// A new or changed file modified less than this many seconds before the scan is treated as
    /// still being copied (복사 중): it is not published to the Target until it is stable.
    /// 0 = publish at once.
    pub settle_secs: u64,
    /// Soft-delete a Target row only after its file was missing from this many consecutive
    /// scans (1 = at the first scan that misses it). A moved file is re-pointed at once.
    pub delete_after_missing_scans: u32,
    /// Probe new and modified video files for codec, resolution and duration.
    pub probe_media: bool,
    /// Parallel probes (each reads a few hundred KiB of headers).
    pub probe_workers: usize,
    /// How long a sync may spend probing new files before it applies (the rest are probed after
    /// the sync and reach the Target with the next one). 0 = never wait.
    pub probe_budget_secs: u64,
    /// ffprobe for formats without a built-in parser (MXF, AVI, …). Default: `ffprobe` on PATH.
    pub ffprobe_path: Option<PathBuf>,
    /// Exclude files with an HLS extension whose codec HLS cannot play (ProRes in .mov, …)
    /// instead of only flagging them.
    pub strict_codec_check: bool,
    /// The whole-archive tree view answers up to this many items; above it, ask for one
    /// directory at a time (`tree --path`).
    pub tree_full_limit: u64,
    /// Desktop toasts for errors, tripped guards and a share that is back (PRD 4.4 알림).
    pub notify_errors: bool,
    /// A desktop toast after a sync that added files.
    pub notify_sync_summary: bool,
    /// Start at login (desktop). `None` = never decided: the desktop turns it on after the
    /// first successful setup; a user's choice is kept from then on.
    pub autostart: Option<bool>,
    /// Let this program switch pokervod.db to WAL (write-ahead logging) so the OTT platform keeps
    /// reading while a sync writes. Off by default: the Target's journal mode is its owner's
    /// choice, and WAL is unsafe when the file sits on a network share or is opened from
    /// another host.
    pub target_wal: bool,
    /// The operator chose to run without an admin PIN: admin actions (스캔 실행, forced apply,
    /// the settings that touch paths and guards) are then open to whoever can reach the UI.
    /// While no PIN is set and this is false, those actions ask for a PIN to be set first.
    pub no_admin_pin: bool,
    /// Salted Argon2id hash (PHC string) of the admin PIN that unlocks 스캔 실행 in the UI, see
    /// [`crate::admin_pin`]. Read from the settings file but never serialized with the rest: no
    /// API returns it (they answer `admin_pin_set`), and the settings store writes it itself.
    #[serde(skip_serializing)]
    #[ts(skip)]
    #[schemars(skip)]
    pub admin_pin_hash: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            root: None,
            archive_db: None,
            target_db: None,
            interval_minutes: 30,
            hls_only: true,
            hls_extensions: vec!["mp4".into(), "mov".into(), "ts".into()],
            ignore: Vec::new(),
            max_delete_percent: 10.0,
            max_delete_count: 20,
            marker_file: None,
            busy_timeout_secs: 30,
            scan_workers: 8,
            share_timeout_secs: 30,
            settle_secs: 60,
            delete_after_missing_scans: 1,
            probe_media: true,
            probe_workers: 4,
            probe_budget_secs: 60,
            ffprobe_path: None,
            strict_codec_check: false,
            tree_full_limit: 20_000,
            notify_errors: true,
            notify_sync_summary: false,
            autostart: None,
            target_wal: false,
            no_admin_pin: false,
            admin_pin_hash: None,
        }
    }
}

/// Where the loaded configuration came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigOrigin {
    pub path: PathBuf,
    /// False when the default file did not exist and defaults were used.
    pub exists: bool,
}

/// The default config file path in the OS config directory, if the OS has one.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join(APP_DIR_NAME).join(CONFIG_FILE_NAME))
}

/// The default archive.db path in the OS data directory.
pub fn default_archive_db() -> Option<PathBuf> {
    dirs::data_local_dir().map(|d| d.join(APP_DIR_NAME).join("archive.db"))
}

impl Config {
    /// Load `explicit` (must exist) or the default config file (may be absent).
    pub fn load(explicit: Option<&Path>) -> Result<(Config, Option<ConfigOrigin>)> {
        match explicit {
            Some(p) => Config::load_at(p, true),
            None => match default_config_path() {
                Some(p) => Config::load_at(&p, false),
                None => Ok((Config::default(), None)),
            },
        }
    }

    /// Load the file at `path`; when it does not exist, the defaults if `!must_exist` (the
    /// default path, or `NAS_SYNC_CONFIG` naming where a container keeps its settings before
    /// any were saved), else an error (a `--config` typo should not mean "defaults").
    pub fn load_at(path: &Path, must_exist: bool) -> Result<(Config, Option<ConfigOrigin>)> {
        let path = path.to_path_buf();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let cfg = Config::from_toml(&text, path.parent())
                    .map_err(|e| prefix_config_error(&path, e))?;
                Ok((cfg, Some(ConfigOrigin { path, exists: true })))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok((
                Config::default(),
                Some(ConfigOrigin {
                    path,
                    exists: false,
                }),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::config(
                "config",
                format!(
                    "config file {} does not exist; check the --config path",
                    path.display()
                ),
            )),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Parse TOML text. Relative paths are resolved against `base_dir` when given.
    pub fn from_toml(text: &str, base_dir: Option<&Path>) -> Result<Config> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let field = unknown_field(&msg).unwrap_or_else(|| "config".to_string());
            Error::config(&field, msg)
        })?;
        if let Some(base) = base_dir {
            cfg.resolve_relative_paths(base);
        }
        cfg.normalize();
        // Ranges and formats only: loading never waits on the file system (the share or the
        // Target's folder may be offline); [`Config::validate`] and the settings screen also
        // compare the databases' identities.
        cfg.validate_fields()?;
        Ok(cfg)
    }

    /// Resolve the relative paths (`root`, `archive_db`, `target_db`, `ffprobe_path`) against
    /// `base`, the folder of the settings file that holds them. Loading a file does this, so a
    /// value saved from the settings screen must be resolved the same way before it is written:
    /// a relative path taken against the server's working directory would name another file
    /// after a restart (a new, empty archive.db). UNC paths and empty values are kept as they
    /// are (an empty value is reported by validation, not turned into `base`).
    pub fn resolve_relative_paths(&mut self, base: &Path) {
        for p in [
            &mut self.root,
            &mut self.archive_db,
            &mut self.target_db,
            &mut self.ffprobe_path,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() && !p.as_os_str().is_empty() && !looks_like_unc(p) {
                *p = base.join(&*p);
            }
        }
    }

    /// Lowercase extensions and strip leading dots, so `".MP4"` means `mp4`.
    pub fn normalize(&mut self) {
        for e in &mut self.hls_extensions {
            *e = e.trim().trim_start_matches('.').to_lowercase();
        }
    }

    /// Check ranges and formats, then that archive.db and the Target are not one file (by
    /// identity, see [`Config::check_distinct_databases`]); the first problem. Other paths are
    /// checked when they are used (the share may be offline now); [`crate::runtime::settings`]
    /// checks them for the settings screen.
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        self.check_distinct_databases()
    }

    /// [`Config::field_errors`]' first problem, without touching the file system.
    fn validate_fields(&self) -> Result<()> {
        match self.field_errors().into_iter().next() {
            Some((field, message)) => Err(Error::config(&field, message)),
            None => Ok(()),
        }
    }

    /// Refuse a configuration whose archive.db (configured or the OS default) is the Target's
    /// file: our migrations and stamp must never touch pokervod.db. Compared by identity, not
    /// by spelling (see [`same_database_file`]). Call it before a sync or scan opens anything;
    /// the error is a config error on `archive_db`.
    pub fn check_distinct_databases(&self) -> Result<()> {
        let Some(target) = &self.target_db else {
            return Ok(());
        };
        let Some(archive) = self.archive_db.clone().or_else(default_archive_db) else {
            return Ok(());
        };
        if same_database_file(&archive, target) {
            return Err(Error::config(
                "archive_db",
                same_database_message(&archive, target),
            ));
        }
        Ok(())
    }

    /// Every range/format problem as `(field, message)`, in field order.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        if !(1..=1440).contains(&self.interval_minutes) {
            out.push((
                "interval_minutes".to_string(),
                format!(
                    "interval_minutes must be between 1 and 1440 (got {})",
                    self.interval_minutes
                ),
            ));
        }
        if !(0.0..=100.0).contains(&self.max_delete_percent) || self.max_delete_percent.is_nan() {
            out.push((
                "max_delete_percent".to_string(),
                format!(
                    "max_delete_percent must be between 0 and 100 (got {})",
                    self.max_delete_percent
                ),
            ));
        }
        if !(1..=3600).contains(&self.busy_timeout_secs) {
            out.push((
                "busy_timeout_secs".to_string(),
                format!(
                    "busy_timeout_secs must be between 1 and 3600 (got {})",
                    self.busy_timeout_secs
                ),
            ));
        }
        if !(1..=64).contains(&self.scan_workers) {
            out.push((
                "scan_workers".to_string(),
                format!(
                    "scan_workers must be between 1 and 64 (got {})",
                    self.scan_workers
                ),
            ));
        }
        if !(5..=3600).contains(&self.share_timeout_secs) {
            out.push((
                "share_timeout_secs".to_string(),
                format!(
                    "share_timeout_secs must be between 5 and 3600 (got {})",
                    self.share_timeout_secs
                ),
            ));
        }
        if self.settle_secs > 86_400 {
            out.push((
                "settle_secs".to_string(),
                format!(
                    "settle_secs must be between 0 and 86400 (got {})",
                    self.settle_secs
                ),
            ));
        }
        if !(1..=100).contains(&self.delete_after_missing_scans) {
            out.push((
                "delete_after_missing_scans".to_string(),
                format!(
                    "delete_after_missing_scans must be between 1 and 100 (got {})",
                    self.delete_after_missing_scans
                ),
            ));
        }
        if !(1..=32).contains(&self.probe_workers) {
            out.push((
                "probe_workers".to_string(),
                format!(
                    "probe_workers must be between 1 and 32 (got {})",
                    self.probe_workers
                ),
            ));
        }
        if self.probe_budget_secs > 3600 {
            out.push((
                "probe_budget_secs".to_string(),
                format!(
                    "probe_budget_secs must be between 0 and 3600 (got {})",
                    self.probe_budget_secs
                ),
            ));
        }
        if !(1..=1_000_000).contains(&self.tree_full_limit) {
            out.push((
                "tree_full_limit".to_string(),
                format!(
                    "tree_full_limit must be between 1 and 1000000 (got {})",
                    self.tree_full_limit
                ),
            ));
        }
        if self.hls_extensions.is_empty() {
            out.push((
                "hls_extensions".to_string(),
                "hls_extensions must name at least one extension, e.g. [\"mp4\", \"mov\", \"ts\"]"
                    .to_string(),
            ));
        }
        for e in &self.hls_extensions {
            if e.is_empty() || e.contains(['/', '\\', '.', ' ']) {
                out.push((
                    "hls_extensions".to_string(),
                    format!("hls_extensions: `{e}` is not a file extension"),
                ));
            }
        }
        if let Err(e) = crate::names::IgnoreSet::new(&self.ignore) {
            out.push(("ignore".to_string(), e.to_string()));
        }
        // The spelling only (no file system here); `check_distinct_databases` compares identities.
        if let (Some(a), Some(t)) = (&self.archive_db, &self.target_db)
            && lexically_normal(a) == lexically_normal(t)
        {
            out.push(("archive_db".to_string(), same_database_message(a, t)));
        }
        if let Some(m) = &self.marker_file
            // Absolute on any OS: `/x` is not absolute to Windows (no drive), `C:x` is drive-relative.
            && (m.trim().is_empty()
                || Path::new(m).is_absolute()
                || m.starts_with(['/', '\\'])
                || m.contains(':')
                || m.contains(".."))
        {
            out.push((
                "marker_file".to_string(),
                format!("marker_file must be a file name relative to the root (got `{m}`)"),
            ));
        }
        if let Some(h) = &self.admin_pin_hash
            && argon2::password_hash::PasswordHash::new(h).is_err()
        {
            out.push((
                "admin_pin_hash".to_string(),
                "admin_pin_hash is not a PIN hash written by NAS Sync Monitor; remove the line and set the PIN again in 설정"
                    .to_string(),
            ));
        }
        out
    }

    /// The root, or an actionable error.
    pub fn require_root(&self) -> Result<&Path> {
        self.root.as_deref().ok_or_else(|| {
            Error::config(
                "root",
                "no archive root configured: set `root` in the config file or pass --root DIR",
            )
        })
    }

    /// The Target path, or an actionable error.
    pub fn require_target_db(&self) -> Result<&Path> {
        self.target_db.as_deref().ok_or_else(|| {
            Error::config(
                "target_db",
                "no Target database configured: set `target_db` (pokervod.db) in the config file or pass --target-db FILE",
            )
        })
    }

    /// The archive.db path (configured, or the OS default).
    pub fn archive_db_path(&self) -> Result<PathBuf> {
        self.archive_db
            .clone()
            .or_else(default_archive_db)
            .ok_or_else(|| {
                Error::config(
                    "archive_db",
                    "no archive_db configured and the OS has no data directory: set `archive_db`",
                )
            })
    }

    /// Whether an admin PIN is set (what APIs say instead of the hash).
    pub fn admin_pin_set(&self) -> bool {
        self.admin_pin_hash.is_some()
    }

    /// Set the admin PIN (4–12 digits; stored as a salted hash), or clear it with `None`.
    pub fn set_admin_pin(&mut self, pin: Option<&str>) -> Result<()> {
        self.admin_pin_hash = match pin {
            Some(p) => Some(crate::admin_pin::hash_pin(p)?),
            None => None,
        };
        Ok(())
    }

    /// Whether `pin` is the admin PIN (false when none is set).
    pub fn verify_admin_pin(&self, pin: &str) -> bool {
        self.admin_pin_hash
            .as_deref()
            .is_some_and(|h| crate::admin_pin::verify_pin(h, pin))
    }

    /// Whether `ext` (lowercase) is in the HLS list.
    pub fn is_hls_extension(&self, ext: &str) -> bool {
        self.hls_extensions.iter().any(|e| e == ext)
    }
}

/// The message of an archive_db that is the Target's file.
fn same_database_message(archive: &Path, target: &Path) -> String {
    format!(
        "archive_db와 target_db가 같은 파일입니다 ({} = {}). archive.db는 NAS Sync Monitor 전용 \
         데이터베이스이고 pokervod.db는 OTT 카탈로그입니다. 다른 파일을 지정하세요. / archive_db \
         and target_db are the same file; archive.db is ours, pokervod.db is the OTT catalog.",
        archive.display(),
        target.display()
    )
}

/// Whether `a` and `b` name the same database file: the same spelling after lexical
/// normalization; the same file when both exist (device and inode on Unix, volume serial and
/// file index on Windows: hard links too); or the same canonical path (symbolic links, `..`,
/// another spelling of a folder). A file that does not exist yet is its folder's canonical path
/// joined with its name (the nearest existing ancestor when the folder does not exist either).
/// On Windows and macOS, whose file systems ignore case, names are compared case-insensitively.
pub fn same_database_file(a: &Path, b: &Path) -> bool {
    if lexically_normal(a) == lexically_normal(b) {
        return true;
    }
    // Regular files only: opening a FIFO or a device to compare it could block or have effects.
    if a.is_file() && b.is_file() && same_file::is_same_file(a, b).unwrap_or(false) {
        return true;
    }
    let (Some(ca), Some(cb)) = (identity_path(a), identity_path(b)) else {
        return false;
    };
    if cfg!(any(windows, target_os = "macos")) {
        ca.to_string_lossy().to_lowercase() == cb.to_string_lossy().to_lowercase()
    } else {
        ca == cb
    }
}

/// `p` with `.` dropped and `..` applied to the part before it (no file system access).
fn lexically_normal(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    out
}

/// The canonical path of `p`, or of its nearest existing ancestor joined with the rest of `p`
/// (`..` in that rest, which the OS cannot resolve, applied lexically); `None` when a path
/// cannot be resolved for another reason than not existing (an offline share: asked once, not
/// once per ancestor).
fn identity_path(p: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let absolute = std::path::absolute(p).ok()?;
    let mut rest: Vec<Component<'_>> = Vec::new();
    let mut cur: &Path = &absolute;
    loop {
        match std::fs::canonicalize(cur) {
            Ok(mut out) => {
                for c in rest.iter().rev() {
                    match c {
                        Component::ParentDir => {
                            out.pop();
                        }
                        Component::Normal(name) => out.push(name),
                        _ => {}
                    }
                }
                return Some(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
        rest.push(cur.components().next_back()?);
        cur = cur.parent()?;
    }
}

fn looks_like_unc(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.starts_with("\\\\") || s.starts_with("//")
}

fn unknown_field(msg: &str) -> Option<String> {
    // toml/serde: "unknown field `foo`, expected one of ..."
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn prefix_config_error(path: &Path, e: Error) -> Error {
    match e {
        Error::Config { field, message } => Error::Config {
            message: format!("{}: {message}", path.display()),
            field,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults() {
        let cfg = Config::from_toml("", None).expect("empty config parses");
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let err = Config::from_toml("roots = \"/x\"\n", None).expect_err("unknown key must fail");
        match err {
            Error::Config { field, message } => {
                assert_eq!(field, "roots");
                assert!(message.contains("roots"), "{message}");
            }
            other => panic!("expected config error, got {other:?}"),
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_config_dir() {
        let cfg = Config::from_toml(
            "root = \"archive\"\ntarget_db = \"pokervod.db\"\n",
            Some(Path::new("/demo")),
        )
        .expect("parses");
        assert_eq!(cfg.root.as_deref(), Some(Path::new("/demo/archive")));
        assert_eq!(
            cfg.target_db.as_deref(),
            Some(Path::new("/demo/pokervod.db"))
        );
    }

    #[test]
    fn unc_root_is_kept_as_is() {
        let cfg = Config::from_toml(
            r#"root = '\\10.10.100.122\docker\GGPNAs\ARCHIVE'"#,
            Some(Path::new("/demo")),
        )
        .expect("parses");
        assert_eq!(
            cfg.root.as_deref(),
            Some(Path::new(r"\\10.10.100.122\docker\GGPNAs\ARCHIVE"))
        );
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        for (text, field) in [
            ("interval_minutes = 0", "interval_minutes"),
            ("max_delete_percent = 150.0", "max_delete_percent"),
            ("busy_timeout_secs = 0", "busy_timeout_secs"),
            ("hls_extensions = []", "hls_extensions"),
            ("ignore = [\"[\"]", "ignore"),
            ("marker_file = \"/abs\"", "marker_file"),
            ("marker_file = 'C:\\x'", "marker_file"),
            ("marker_file = '\\\\nas\\x'", "marker_file"),
            (
                "archive_db = \"/x/a.db\"\ntarget_db = \"/x/a.db\"",
                "archive_db",
            ),
            (
                "archive_db = \"/x/y/../a.db\"\ntarget_db = \"/x/./a.db\"",
                "archive_db",
            ),
        ] {
            match Config::from_toml(text, None) {
                Err(Error::Config { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: expected config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn extensions_are_normalized() {
        let cfg = Config::from_toml("hls_extensions = [\".MP4\", \"Mov\"]", None).expect("parses");
        assert_eq!(cfg.hls_extensions, vec!["mp4", "mov"]);
        assert!(cfg.is_hls_extension("mp4"));
        assert!(!cfg.is_hls_extension("ts"));
    }
}
