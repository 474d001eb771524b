//! File naming rules: kinds by extension, catalogs, duplicate-name keys and what the scanner skips.

use std::path::{Path, PathBuf};

use globset::{GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Catalog of files that sit directly in the root.
pub const ROOT_CATALOG: &str = "ARCHIVE";

const VIDEO: &[&str] = &[
    "mp4", "mov", "ts", "m2ts", "mts", "mxf", "mkv", "avi", "wmv", "m4v", "webm", "mpg", "mpeg",
    "flv",
];
const SUBTITLE: &[&str] = &["srt", "vtt", "ass", "ssa", "smi", "sub"];

/// What a file is, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Video,
    Subtitle,
    Other,
}

impl Kind {
    pub fn from_ext(ext: &str) -> Kind {
        if VIDEO.contains(&ext) {
            Kind::Video
        } else if SUBTITLE.contains(&ext) {
            Kind::Subtitle
        } else {
            Kind::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Video => "video",
            Kind::Subtitle => "subtitle",
            Kind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Kind {
        match s {
            "video" => Kind::Video,
            "subtitle" => Kind::Subtitle,
            _ => Kind::Other,
        }
    }
}

/// Lowercase extension of a file name (`"A.MP4"` → `"mp4"`, `"README"` → `""`).
pub fn extension(name: &str) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => name[i + 1..].to_lowercase(),
        _ => String::new(),
    }
}

/// Catalog of a relative path: its first directory, or [`ROOT_CATALOG`] for files in the root.
pub fn catalog(rel_path: &str) -> &str {
    match rel_path.split_once('/') {
        Some((first, _)) => first,
        None => ROOT_CATALOG,
    }
}

/// The file name part of a relative `/`-separated path.
pub fn file_name(rel_path: &str) -> &str {
    rel_path.rsplit('/').next().unwrap_or(rel_path)
}

/// The file name of a path stored by another system, which may separate with `\` (a Target
/// row written on Windows, `WSOP\2024\a.mp4`). Source paths always use `/`: see [`file_name`].
pub fn file_name_any_sep(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The OS path of a relative `/`-separated archive path under `root`, joined component by
/// component: in a verbatim Windows root (`\\?\UNC\server\share`, `\\?\D:\ARCHIVE`) `/` is
/// not a separator, so `root.join("WSOP/2024")` would name a file called `WSOP/2024`.
pub fn join_rel(root: &Path, rel: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in rel.split('/').filter(|s| !s.is_empty()) {
        p.push(part);
    }
    p
}

/// Whether Windows reserves this file name for a device (`CON`, `nul.mp4`, `COM1.txt`, `LPT9`…):
/// through the Win32 API such a name opens the device, not the file, so a share may list a file
/// that no Windows program (ours, or the OTT's) can read.
pub fn is_windows_reserved(name: &str) -> bool {
    let stem = name
        .split('.')
        .next()
        .unwrap_or(name)
        .trim_end_matches([' ', '.']);
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => {
            let b = upper.as_bytes();
            b.len() == 4
                && (upper.starts_with("COM") || upper.starts_with("LPT"))
                && (b'1'..=b'9').contains(&b[3])
        }
    }
}

/// Duplicate-group key: Unicode NFC, then lowercase. NFD Hangul from a Mac equals NFC Hangul.
pub fn name_key(name: &str) -> String {
    // Fast paths with the same result: ASCII is NFC, and an NFC string needs no normalization.
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    if unicode_normalization::is_nfc_quick(name.chars()) == unicode_normalization::IsNormalized::Yes
    {
        return name.to_lowercase();
    }
    name.nfc().collect::<String>().to_lowercase()
}

/// NAS and OS clutter that is never recorded, whatever the settings.
pub fn is_builtin_clutter(name: &str) -> bool {
    name.starts_with('.')
        || name.eq_ignore_ascii_case("Thumbs.db")
        || name.eq_ignore_ascii_case("desktop.ini")
        || name == "@eaDir"
        || name == "#recycle"
        || name.eq_ignore_ascii_case("$RECYCLE.BIN")
}

/// Configurable ignore globs, matched against the relative path and against the bare name.
#[derive(Debug, Clone)]
pub struct IgnoreSet {
    set: GlobSet,
    empty: bool,
}

impl IgnoreSet {
    pub fn new(patterns: &[String]) -> Result<IgnoreSet> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::GlobBuilder::new(p)
                .literal_separator(false)
                .case_insensitive(true)
                .build()
                .map_err(|e| Error::config("ignore", format!("ignore pattern `{p}`: {e}")))?;
            b.add(glob);
        }
        let set = b
            .build()
            .map_err(|e| Error::config("ignore", format!("ignore patterns: {e}")))?;
        Ok(IgnoreSet {
            set,
            empty: patterns.is_empty(),
        })
    }

    /// True when a file or directory with this relative path and name must be skipped.
    pub fn is_ignored(&self, rel_path: &str, name: &str) -> bool {
        is_builtin_clutter(name)
            || (!self.empty && (self.set.is_match(rel_path) || self.set.is_match(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_extension_table() {
        assert_eq!(Kind::from_ext(&extension("A.MXF")), Kind::Video);
        assert_eq!(Kind::from_ext(&extension("ep1.smi")), Kind::Subtitle);
        assert_eq!(Kind::from_ext(&extension("poster.jpg")), Kind::Other);
        assert_eq!(Kind::from_ext(&extension("README")), Kind::Other);
        assert_eq!(extension(".hidden"), "");
        assert_eq!(extension("trailing."), "");
    }

    #[test]
    fn catalog_is_first_directory_or_archive() {
        assert_eq!(catalog("WSOP/2024/a.mp4"), "WSOP");
        assert_eq!(catalog("loose.mp4"), ROOT_CATALOG);
    }

    #[test]
    fn windows_paths_names_and_reserved_device_names() {
        assert_eq!(file_name_any_sep(r"WSOP\2024\A.mp4"), "A.mp4");
        assert_eq!(file_name_any_sep("WSOP/2024\\A.mp4"), "A.mp4");
        assert_eq!(file_name_any_sep("loose.mp4"), "loose.mp4");
        for n in [
            "CON",
            "con.mp4",
            "Nul.tar.gz",
            "aux .mp4",
            "COM1.mp4",
            "lpt9",
            "CONOUT$",
        ] {
            assert!(is_windows_reserved(n), "{n}");
        }
        for n in [
            "CONSOLE.mp4",
            "com0.mp4",
            "COM10.mp4",
            "lpt.mp4",
            "icon.mp4",
            "x.con",
            "",
        ] {
            assert!(!is_windows_reserved(n), "{n}");
        }
    }

    #[test]
    fn join_rel_pushes_each_component() {
        let root = Path::new("share");
        let joined = join_rel(root, "WSOP/2024/a.mp4");
        let parts: Vec<_> = joined
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(parts, ["share", "WSOP", "2024", "a.mp4"]);
        assert_eq!(join_rel(root, ""), root);
        #[cfg(windows)]
        assert_eq!(
            join_rel(Path::new(r"\\?\UNC\nas\docker\ARCHIVE"), "WSOP/2024/a.mp4"),
            Path::new(r"\\?\UNC\nas\docker\ARCHIVE\WSOP\2024\a.mp4")
        );
    }

    #[test]
    fn name_key_is_blind_to_nfd_and_case() {
        let nfc = "한글 영상.MP4";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd, "the fixture must really be NFD");
        assert_eq!(name_key(nfc), name_key(&nfd));
        assert_eq!(name_key("EP123.mp4"), name_key("ep123.MP4"));
    }

    #[test]
    fn clutter_and_globs_are_ignored() {
        let ig = IgnoreSet::new(&["*.tmp".into(), "WSOP/raw/**".into()]).expect("valid globs");
        assert!(ig.is_ignored("a/Thumbs.db", "Thumbs.db"));
        assert!(ig.is_ignored("a/.DS_Store", ".DS_Store"));
        assert!(ig.is_ignored("@eaDir", "@eaDir"));
        assert!(ig.is_ignored("x/part.TMP", "part.TMP"));
        assert!(ig.is_ignored("WSOP/raw/x.mp4", "x.mp4"));
        assert!(!ig.is_ignored("WSOP/2024/x.mp4", "x.mp4"));
    }
}
