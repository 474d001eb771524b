//! The Windows directory listing: `FindFirstFileExW(dir\*, FindExInfoBasic, …,
//! FindExSearchNameMatch, NULL, FIND_FIRST_EX_LARGE_FETCH)` and `FindNextFileW`.
//!
//! std's `read_dir` makes the same calls with the same info level, but with no flag ("lets be
//! conservative"). `FIND_FIRST_EX_LARGE_FETCH` lets the SMB redirector ask the server for larger
//! directory-query buffers, so a folder of thousands of entries on the NAS costs fewer network
//! round trips. Everything else is std's, on purpose, so the walk's answer does not change:
//!
//! - the path: `dir\*` made long-path safe exactly as std's `maybe_verbatim` does (`\\?\` for a
//!   drive path, `\\?\UNC\server\share\…` for a UNC path, only when the path is long or not
//!   absolute; [`find_path`]);
//! - the entries: `.` and `..` skipped; a name-surrogate reparse point (symlink, junction) is
//!   [`EntryKind::Other`], never followed, as std's `FileType::is_symlink`; any other reparse
//!   point (a deduplicated or cloud file) is a file or a directory by its attributes, as in std;
//! - the size `nFileSizeHigh << 32 | nFileSizeLow` and the time `ftLastWriteTime`, what std's
//!   `DirEntry::metadata` reads from the same record ([`unix_secs`] agrees with `mtime_secs`);
//! - the errors: `ERROR_FILE_NOT_FOUND` from `FindFirstFileExW` is an empty listing (std, issue
//!   rust-lang/rust#120040); any other failure is the last OS error, and a failing
//!   `FindNextFileW` other than `ERROR_NO_MORE_FILES` ends the listing with its error.
//!
//! **Unsafe code.** The workspace denies `unsafe_code`; this module alone allows it (the lint is
//! `deny` rather than `forbid` for that reason: a separate FFI crate would have kept `forbid`
//! for the engine but added a workspace member, its manifest and lint copy for three calls).
//! Every unsafe block is one FFI call with a `// SAFETY:` comment, enforced by
//! `clippy::undocumented_unsafe_blocks`; the find handle is closed by [`FindHandle`]'s `Drop`.

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_FILE_NOT_FOUND, ERROR_NO_MORE_FILES, ERROR_PATH_NOT_FOUND, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT, FIND_FIRST_EX_LARGE_FETCH, FindClose,
    FindExInfoBasic, FindExSearchNameMatch, FindFirstFileExW, FindNextFileW, WIN32_FIND_DATAW,
};

use super::{EntryKind, epoch_secs};

/// One entry of a listing, all of it from the listing's `WIN32_FIND_DATAW`.
#[derive(Debug)]
pub(in crate::scan) struct Entry {
    name: OsString,
    kind: EntryKind,
    size: u64,
    mtime: i64,
}

impl Entry {
    pub(in crate::scan) fn file_name(&self) -> std::borrow::Cow<'_, OsStr> {
        std::borrow::Cow::Borrowed(&self.name)
    }

    pub(in crate::scan) fn kind(&self) -> io::Result<EntryKind> {
        Ok(self.kind)
    }

    pub(in crate::scan) fn size_mtime(&self) -> io::Result<(i64, i64)> {
        Ok((self.size as i64, self.mtime))
    }

    /// The entry of a find record, `None` for `.` and `..`.
    fn new(wfd: &WIN32_FIND_DATAW) -> Option<Entry> {
        const DOT: u16 = b'.' as u16;
        let len = wfd
            .cFileName
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(wfd.cFileName.len());
        let name = &wfd.cFileName[..len];
        if name == [DOT] || name == [DOT, DOT] {
            return None;
        }
        Some(Entry {
            name: OsString::from_wide(name),
            kind: kind(wfd.dwFileAttributes, wfd.dwReserved0),
            size: (u64::from(wfd.nFileSizeHigh) << 32) | u64::from(wfd.nFileSizeLow),
            mtime: unix_secs(
                (u64::from(wfd.ftLastWriteTime.dwHighDateTime) << 32)
                    | u64::from(wfd.ftLastWriteTime.dwLowDateTime),
            ),
        })
    }
}

/// std's `FileType` of a find record: a reparse point whose tag is a name surrogate
/// (`IsReparseTagNameSurrogate`: symlinks, junctions) is a link, whatever its directory bit.
/// `dwReserved0` holds the reparse tag when the reparse-point attribute is set.
fn kind(attributes: u32, reparse_tag: u32) -> EntryKind {
    const NAME_SURROGATE: u32 = 0x2000_0000;
    let link = attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 && reparse_tag & NAME_SURROGATE != 0;
    if link {
        EntryKind::Other
    } else if attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
        EntryKind::Dir
    } else {
        EntryKind::File
    }
}

/// A `FILETIME` (100 ns ticks since 1601-01-01 UTC) in Unix seconds, as `mtime_secs` makes of
/// std's `SystemTime` for the same value (std reads the ticks as an `i64` and counts the
/// difference to the epoch exactly, in ticks).
fn unix_secs(ticks: u64) -> i64 {
    const EPOCH_TICKS: i128 = 116_444_736_000_000_000;
    const TICKS_PER_SEC: u128 = 10_000_000;
    let diff = i128::from(ticks as i64) - EPOCH_TICKS;
    let d = diff.unsigned_abs();
    let d = Duration::new(
        (d / TICKS_PER_SEC) as u64,
        ((d % TICKS_PER_SEC) * 100) as u32,
    );
    epoch_secs(if diff >= 0 { Ok(d) } else { Err(d) })
}

/// `path\*` as std's `read_dir` hands it to `FindFirstFileExW`: NUL-terminated UTF-16, made
/// long-path safe as std's `maybe_verbatim` (`get_long_path(path, prefer_verbatim = true)`): a
/// path already verbatim (`\\?\`, `\??\`), or shorter than 248 units and absolute (`C:\…`,
/// `\\server\…`), is passed as it is; anything else is made absolute (`GetFullPathNameW`, through
/// `std::path::absolute`) and given the verbatim prefix: `\\?\C:\…`, `\\?\UNC\server\share\…`.
fn find_path(dir: &Path) -> io::Result<Vec<u16>> {
    const LEGACY_MAX_PATH: usize = 248;
    const SEP: u16 = b'\\' as u16;
    const ALT_SEP: u16 = b'/' as u16;
    const QUERY: u16 = b'?' as u16;
    const COLON: u16 = b':' as u16;
    const DOT: u16 = b'.' as u16;
    const VERBATIM_PREFIX: &[u16] = &[SEP, SEP, QUERY, SEP];
    const NT_PREFIX: &[u16] = &[SEP, QUERY, QUERY, SEP];
    const UNC_PREFIX: &[u16] = &[
        SEP,
        SEP,
        QUERY,
        SEP,
        b'U' as u16,
        b'N' as u16,
        b'C' as u16,
        SEP,
    ];

    let star = dir.join("*");
    let mut path = to_wide(star.as_os_str())?;
    if path.starts_with(VERBATIM_PREFIX) || path.starts_with(NT_PREFIX) {
        return Ok(path);
    }
    if path.len() < LEGACY_MAX_PATH {
        match path.as_slice() {
            [drive, COLON, 0] | [drive, COLON, SEP | ALT_SEP, ..]
                if *drive != SEP && *drive != ALT_SEP =>
            {
                return Ok(path);
            }
            [SEP | ALT_SEP, SEP | ALT_SEP, ..] => return Ok(path),
            _ => {}
        }
    }
    let absolute = std::path::absolute(&star)?;
    let absolute: Vec<u16> = absolute.as_os_str().encode_wide().collect();
    let (prefix, rest): (&[u16], &[u16]) = match absolute.as_slice() {
        [_, COLON, SEP, ..] => (VERBATIM_PREFIX, &absolute),
        [SEP, SEP, DOT, SEP, rest @ ..] => (VERBATIM_PREFIX, rest),
        [SEP, SEP, QUERY, SEP, ..] | [SEP, QUERY, QUERY, SEP, ..] => (&[], &absolute),
        [SEP, SEP, rest @ ..] => (UNC_PREFIX, rest),
        _ => (&[], &absolute),
    };
    path.clear();
    path.reserve_exact(prefix.len() + rest.len() + 1);
    path.extend_from_slice(prefix);
    path.extend_from_slice(rest);
    path.push(0);
    Ok(path)
}

/// NUL-terminated UTF-16; an inner NUL is refused as std refuses it.
fn to_wide(s: &OsStr) -> io::Result<Vec<u16>> {
    let mut w: Vec<u16> = s.encode_wide().collect();
    if w.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "strings passed to WinAPI cannot contain NULs",
        ));
    }
    w.push(0);
    Ok(w)
}

/// An open find handle, closed on drop.
struct FindHandle(HANDLE);

impl Drop for FindHandle {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a valid find handle from `FindFirstFileExW` (never
        // `INVALID_HANDLE_VALUE`), owned by this guard alone and closed only here, once.
        let ok = unsafe { FindClose(self.0) };
        debug_assert!(ok != 0, "FindClose failed: {}", io::Error::last_os_error());
    }
}

// SAFETY: a find handle is not tied to the thread that opened it; the guard owns it (no copies),
// and `&FindHandle` gives no access to it, so moving or sharing the guard between threads is
// sound. std's own `FindNextFileHandle` is `Send + Sync` for the same reason.
unsafe impl Send for FindHandle {}
// SAFETY: as above.
unsafe impl Sync for FindHandle {}

/// A listing in progress: the first record (from `FindFirstFileExW`), then `FindNextFileW`.
struct Listing {
    /// `None` once the listing ended (no more files, or an error): the handle is closed then.
    handle: Option<FindHandle>,
    first: Option<Box<WIN32_FIND_DATAW>>,
    /// The record `FindNextFileW` fills (about 600 bytes: boxed once, not per entry).
    next: Box<WIN32_FIND_DATAW>,
}

/// The entries of the directory `dir`, without `.` and `..`.
pub(super) fn read_dir(dir: &Path) -> io::Result<impl Iterator<Item = io::Result<Entry>>> {
    if dir.as_os_str().is_empty() {
        // std: the empty path would list the current directory because of the `*`.
        return Err(io::Error::from_raw_os_error(ERROR_PATH_NOT_FOUND as i32));
    }
    let path = find_path(dir)?;
    let mut first = Box::<WIN32_FIND_DATAW>::default();
    // SAFETY: `path` is a NUL-terminated UTF-16 string that outlives the call; `first` is a
    // valid, writable `WIN32_FIND_DATAW`, the structure the `FindExInfoBasic` level fills; the
    // search filter must be NULL for `FindExSearchNameMatch`.
    let handle = unsafe {
        FindFirstFileExW(
            path.as_ptr(),
            FindExInfoBasic,
            (&raw mut *first).cast(),
            FindExSearchNameMatch,
            std::ptr::null(),
            FIND_FIRST_EX_LARGE_FETCH,
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(ERROR_FILE_NOT_FOUND as i32) {
            // No entry matched `*` (not even `.`): an empty listing, as in std.
            return Ok(Listing {
                handle: None,
                first: None,
                next: Box::default(),
            });
        }
        return Err(e);
    }
    Ok(Listing {
        handle: Some(FindHandle(handle)),
        first: Some(first),
        next: Box::default(),
    })
}

impl Iterator for Listing {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<io::Result<Entry>> {
        let handle = self.handle.as_ref()?.0;
        if let Some(first) = self.first.take()
            && let Some(e) = Entry::new(&first)
        {
            return Some(Ok(e));
        }
        loop {
            // SAFETY: `handle` is the open find handle of this listing (`self.handle` is `Some`,
            // and it is closed only by dropping it below); `self.next` is a valid, writable
            // `WIN32_FIND_DATAW`.
            let ok = unsafe { FindNextFileW(handle, &raw mut *self.next) };
            if ok == 0 {
                let e = io::Error::last_os_error();
                self.handle = None;
                if e.raw_os_error() == Some(ERROR_NO_MORE_FILES as i32) {
                    return None;
                }
                return Some(Err(e));
            }
            if let Some(e) = Entry::new(&self.next) {
                return Some(Ok(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::walk::mtime_secs;
    use std::collections::BTreeMap;
    use std::fs;
    use std::time::{SystemTime, UNIX_EPOCH};

    type Listed = BTreeMap<OsString, (EntryKind, Option<(i64, i64)>)>;

    fn ours(dir: &Path) -> Listed {
        read_dir(dir)
            .expect("our listing")
            .map(|e| {
                let e = e.expect("our entry");
                let kind = e.kind().expect("kind");
                let meta = (kind == EntryKind::File).then(|| e.size_mtime().expect("size, mtime"));
                (e.file_name().into_owned(), (kind, meta))
            })
            .collect()
    }

    /// What the walker made of the same directory with std's `read_dir` before.
    fn std_listing(dir: &Path) -> Listed {
        fs::read_dir(dir)
            .expect("std listing")
            .map(|e| {
                let e = e.expect("std entry");
                let ft = e.file_type().expect("file type");
                let kind = if ft.is_dir() {
                    EntryKind::Dir
                } else if ft.is_file() {
                    EntryKind::File
                } else {
                    EntryKind::Other
                };
                let meta = (kind == EntryKind::File).then(|| {
                    let m = e.metadata().expect("metadata");
                    (m.len() as i64, mtime_secs(&m))
                });
                (e.file_name(), (kind, meta))
            })
            .collect()
    }

    fn set_mtime(path: &Path, t: SystemTime) {
        fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(t))
            .expect("set mtime");
    }

    #[test]
    fn the_listing_matches_std_read_dir_and_metadata() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        fs::write(root.join("a.mp4"), vec![7u8; 1234]).expect("write");
        fs::write(root.join("empty.txt"), b"").expect("write");
        fs::write(root.join("한글 이름.mkv"), b"x").expect("write");
        fs::create_dir(root.join("sub")).expect("mkdir");
        fs::create_dir(root.join("sub.with.dots")).expect("mkdir");
        fs::write(root.join("sub").join("inner.mp4"), b"inner").expect("write");
        // Times on both sides of the epoch, whole and fractional: the rounding must agree.
        let times = [
            (
                "old.mp4",
                UNIX_EPOCH - Duration::new(86_400 * 365 * 20, 300),
            ),
            ("old-whole.mp4", UNIX_EPOCH - Duration::from_secs(1_000)),
            ("just-before.mp4", UNIX_EPOCH - Duration::from_nanos(100)),
            ("epoch.mp4", UNIX_EPOCH),
            (
                "new.mp4",
                UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_900),
            ),
            (
                "ancient.mp4",
                UNIX_EPOCH - Duration::new(11_000_000_000, 100),
            ),
        ];
        for (name, t) in times {
            let p = root.join(name);
            fs::write(&p, name.as_bytes()).expect("write");
            set_mtime(&p, t);
        }
        // Enough entries that the listing needs more than one query buffer.
        let many = root.join("many");
        fs::create_dir(&many).expect("mkdir");
        for i in 0..600 {
            fs::write(
                many.join(format!("file-{i:04}-{}.mp4", "x".repeat(60))),
                vec![0u8; i],
            )
            .expect("write");
        }
        // Symlinks where the system lets us make them (Windows needs a privilege or developer
        // mode; Wine makes them): never followed, never recorded, as std's `is_symlink`.
        let links = [
            std::os::windows::fs::symlink_dir(root.join("sub"), root.join("link-dir")),
            std::os::windows::fs::symlink_file(root.join("a.mp4"), root.join("link-file")),
        ];

        let got = ours(root);
        assert_eq!(got, std_listing(root));
        assert_eq!(got[OsStr::new("a.mp4")].1.map(|m| m.0), Some(1234));
        assert_eq!(got[OsStr::new("sub")].0, EntryKind::Dir);
        assert_eq!(
            got[OsStr::new("old.mp4")].1.map(|m| m.1),
            Some(-(86_400 * 365 * 20 + 1))
        );
        assert_eq!(
            got[OsStr::new("old-whole.mp4")].1.map(|m| m.1),
            Some(-1_000)
        );
        assert_eq!(got[OsStr::new("just-before.mp4")].1.map(|m| m.1), Some(-1));
        assert_eq!(got[OsStr::new("epoch.mp4")].1.map(|m| m.1), Some(0));
        assert_eq!(
            got[OsStr::new("new.mp4")].1.map(|m| m.1),
            Some(1_700_000_000)
        );
        for (name, made) in ["link-dir", "link-file"].iter().zip(&links) {
            // Wine 8.0 answers Ok and makes nothing: checked only where the link exists.
            let is_link = fs::symlink_metadata(root.join(name)).is_ok_and(|m| m.is_symlink());
            if made.is_ok() && is_link {
                assert_eq!(got[OsStr::new(name)].0, EntryKind::Other, "{name}");
            }
        }
        let got_many = ours(&many);
        assert_eq!(got_many.len(), 600);
        assert_eq!(got_many, std_listing(&many));
        assert_eq!(ours(&root.join("sub")), std_listing(&root.join("sub")));
    }

    #[test]
    fn a_long_path_and_a_verbatim_path_are_listed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut deep = tmp.path().to_path_buf();
        for i in 0..8 {
            deep.push(format!("{i}-{}", "long-directory-name".repeat(2)));
        }
        assert!(deep.as_os_str().len() > 300);
        fs::create_dir_all(&deep).expect("mkdir -p");
        fs::write(deep.join("deep.mp4"), b"deep").expect("write");
        fs::create_dir(deep.join("below")).expect("mkdir");
        let got = ours(&deep);
        assert_eq!(got.len(), 2);
        assert_eq!(got, std_listing(&deep));
        let verbatim = std::path::PathBuf::from(format!(r"\\?\{}", deep.display()));
        assert_eq!(ours(&verbatim), got);
        // The parent, just under the legacy limit or over it: the same either way.
        let parent = deep.parent().expect("parent");
        assert_eq!(ours(parent), std_listing(parent));
    }

    #[test]
    fn errors_and_empty_directories_are_std_s() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).expect("mkdir");
        assert!(ours(&empty).is_empty());
        let file = tmp.path().join("file.mp4");
        fs::write(&file, b"x").expect("write");
        for bad in [
            tmp.path().join("missing"),
            tmp.path().join("missing").join("x"),
            file,
        ] {
            let theirs = fs::read_dir(&bad).err();
            let mine = read_dir(&bad).err();
            assert_eq!(
                mine.as_ref().and_then(io::Error::raw_os_error),
                theirs.as_ref().and_then(io::Error::raw_os_error),
                "{}",
                bad.display()
            );
            assert!(mine.is_some(), "{}", bad.display());
        }
        assert_eq!(
            read_dir(Path::new("")).err().and_then(|e| e.raw_os_error()),
            Some(ERROR_PATH_NOT_FOUND as i32)
        );
    }

    #[test]
    fn find_paths_take_std_s_verbatim_form() {
        let wide = |s: &str| -> Vec<u16> { s.encode_utf16().chain([0]).collect() };
        let long = "d".repeat(250);
        // Short absolute paths go as they are, drive or UNC.
        assert_eq!(
            find_path(Path::new(r"C:\archive")).expect("path"),
            wide(r"C:\archive\*")
        );
        assert_eq!(
            find_path(Path::new(r"\\nas\share\dir")).expect("path"),
            wide(r"\\nas\share\dir\*")
        );
        // Long ones get the verbatim prefix; a UNC path the UNC one.
        assert_eq!(
            find_path(&Path::new(r"\\nas\share").join(&long)).expect("path"),
            wide(&format!(r"\\?\UNC\nas\share\{long}\*"))
        );
        assert_eq!(
            find_path(&Path::new(r"C:\a").join(&long)).expect("path"),
            wide(&format!(r"\\?\C:\a\{long}\*"))
        );
        // Already verbatim: untouched.
        assert_eq!(
            find_path(Path::new(r"\\?\UNC\nas\share\dir")).expect("path"),
            wide(r"\\?\UNC\nas\share\dir\*")
        );
        // Not absolute: made absolute, with the prefix.
        let rel = find_path(Path::new("relative")).expect("path");
        assert!(
            rel.starts_with(&wide(r"\\?\")[..4]),
            "{}",
            String::from_utf16_lossy(&rel)
        );
        assert!(rel.ends_with(&wide(r"\relative\*")));
        assert!(find_path(Path::new("a\0b")).is_err());
    }

    #[test]
    fn reparse_points_are_links_only_when_name_surrogates() {
        const SYMLINK: u32 = 0xA000_000C;
        const MOUNT_POINT: u32 = 0xA000_0003;
        const DEDUP: u32 = 0x8000_0013;
        let dir = FILE_ATTRIBUTE_DIRECTORY;
        let rp = FILE_ATTRIBUTE_REPARSE_POINT;
        assert_eq!(kind(dir | rp, MOUNT_POINT), EntryKind::Other);
        assert_eq!(kind(dir | rp, SYMLINK), EntryKind::Other);
        assert_eq!(kind(rp, SYMLINK), EntryKind::Other);
        assert_eq!(kind(rp, DEDUP), EntryKind::File);
        assert_eq!(kind(dir, SYMLINK), EntryKind::Dir);
        assert_eq!(kind(0x20, 0), EntryKind::File);
    }

    #[test]
    fn ticks_agree_with_system_time() {
        // std's SystemTime on Windows is the same ticks: compare through it on both sides.
        const EPOCH_TICKS: u64 = 116_444_736_000_000_000;
        for ticks in [
            0,
            1,
            EPOCH_TICKS - 10_000_001,
            EPOCH_TICKS - 10_000_000,
            EPOCH_TICKS - 1,
            EPOCH_TICKS,
            EPOCH_TICKS + 1,
            EPOCH_TICKS + 9_999_999,
            EPOCH_TICKS + 10_000_000,
            133_000_000_000_000_001,
        ] {
            let t = if ticks >= EPOCH_TICKS {
                UNIX_EPOCH + Duration::from_nanos((ticks - EPOCH_TICKS) * 100)
            } else {
                UNIX_EPOCH - Duration::from_nanos((EPOCH_TICKS - ticks) * 100)
            };
            let expected = epoch_secs(t.duration_since(UNIX_EPOCH).map_err(|e| e.duration()));
            assert_eq!(unix_secs(ticks), expected, "{ticks}");
        }
    }
}
