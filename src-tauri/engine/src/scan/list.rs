//! One directory listing for the walk, per platform: the entries of a directory with, for each,
//! its name, its kind and (for a file) its size and modification time.
//!
//! Elsewhere this is `std::fs::read_dir`, with the type and metadata asked for lazily (a file's
//! `fstatat` only for a file not ignored). On Windows it is our own `FindFirstFileExW` with
//! `FIND_FIRST_EX_LARGE_FETCH` (`list/windows.rs`): the same answer as std's `read_dir` + `file_type`
//! + `metadata`, in fewer SMB round trips for a big folder.

#[cfg(not(windows))]
use std::borrow::Cow;
#[cfg(not(windows))]
use std::ffi::OsStr;
use std::io;
use std::path::Path;

#[cfg(windows)]
mod windows;

/// What the walk does with an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EntryKind {
    /// Listed in turn.
    Dir,
    /// Recorded with its size and modification time.
    File,
    /// Neither followed nor recorded: a symlink, a junction (any name-surrogate reparse point on
    /// Windows), a device, a socket…
    Other,
}

/// Seconds since the Unix epoch of a time `since_epoch` after (`Ok`) or before (`Err`) it, as the
/// archive stores them: whole seconds, rounded down after 1970 and away from zero (up in
/// magnitude) before. One formula for std's `Metadata::modified` and the Windows listing's
/// `ftLastWriteTime`, so both give the same number for the same file.
pub(super) fn epoch_secs(since_epoch: Result<std::time::Duration, std::time::Duration>) -> i64 {
    match since_epoch {
        Ok(d) => d.as_secs() as i64,
        Err(d) => -(d.as_secs_f64().ceil() as i64),
    }
}

/// The entries of the directory `path` (without `.` and `..`). An error here means the directory
/// could not be listed; an error from the iterator, that the listing broke off.
#[cfg(not(windows))]
pub(super) fn read_dir(path: &Path) -> io::Result<impl Iterator<Item = io::Result<Entry>>> {
    Ok(std::fs::read_dir(path)?.map(|e| e.map(Entry)))
}

/// The entries of the directory `path` (without `.` and `..`). An error here means the directory
/// could not be listed; an error from the iterator, that the listing broke off.
#[cfg(windows)]
pub(super) fn read_dir(path: &Path) -> io::Result<impl Iterator<Item = io::Result<Entry>>> {
    windows::read_dir(path)
}

/// One entry of a listing.
#[cfg(not(windows))]
pub(super) struct Entry(std::fs::DirEntry);

#[cfg(not(windows))]
impl Entry {
    pub(super) fn file_name(&self) -> Cow<'_, OsStr> {
        Cow::Owned(self.0.file_name())
    }

    /// The entry's kind, without following a symlink (from the listing when the file system
    /// gives it, else an `lstat`).
    pub(super) fn kind(&self) -> io::Result<EntryKind> {
        let ft = self.0.file_type()?;
        Ok(if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        })
    }

    /// A file's size in bytes and modification time in Unix seconds (an `fstatat` of the name).
    pub(super) fn size_mtime(&self) -> io::Result<(i64, i64)> {
        let m = self.0.metadata()?;
        Ok((m.len() as i64, super::walk::mtime_secs(&m)))
    }
}

/// One entry of a listing: everything came with the listing, nothing more is asked.
#[cfg(windows)]
pub(super) use windows::Entry;
