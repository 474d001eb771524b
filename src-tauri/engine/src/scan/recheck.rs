//! The re-check at the end of a scan: the new, modified and moved files are stat'ed once more,
//! and those whose size or mtime moved since the walk listed them are still being written. The
//! sync holds them back ([`crate::rules::Hold`]) with the files modified within `settle_secs`.
//!
//! Why both signals: the mtime of a file being copied is the time of its last write (Explorer,
//! robocopy and rsync set the source's mtime only after the last byte; an append-style writer
//! keeps touching it), so "modified within `settle_secs`" catches every copy in progress — as
//! long as the NAS clock agrees with ours. The re-check needs no clock: a file that grows (or
//! whose mtime moves) under the scan is being written, whatever its mtime says. A file that
//! vanished since the walk counts as changing too (it is mid-rename or mid-delete).
//!
//! Cost: one `stat` per candidate, at most [`RECHECK_MAX`] of them, newest mtime first, and only
//! files the mtime rule does not hold already; the first scan of an archive at rest (every file
//! new) pays at most that many extra round trips to the share.

use super::*;

/// At most this many files are re-checked per scan.
pub(super) const RECHECK_MAX: usize = 2_000;

/// The re-check looks no sooner than this after the scan began: mtimes have whole seconds, and
/// a small scan's walk ends milliseconds before its re-check, too soon to see a writer move.
/// Paid only when there is something to re-check (new or changed files not already held).
const MIN_GAP: Duration = Duration::from_secs(1);

/// The paths among `d`'s new, modified and moved files whose size or mtime differ now from what
/// the walk saw. `started` is the scan's start (Unix seconds; `since` the same instant on the
/// monotonic clock); nothing is re-checked when `settle_secs` is 0 (publish at once).
pub(super) fn changing(
    root: &Path,
    walk: &Walk,
    d: &DiffIdx,
    (started, since): (i64, Instant),
    settle_secs: u64,
    share: (Duration, &AtomicBool),
) -> Result<Vec<String>> {
    if settle_secs == 0 {
        return Ok(Vec::new());
    }
    let recent = started.saturating_sub(settle_secs as i64);
    let mut candidates: Vec<&WalkedFile> = d
        .added
        .iter()
        .chain(d.modified.iter().map(|(_, w)| w))
        .chain(d.moved.iter().map(|(_, w)| w))
        .map(|&w| &walk.files[w])
        .filter(|f| f.mtime <= recent)
        .collect();
    candidates.sort_unstable_by(|a, b| b.mtime.cmp(&a.mtime).then(a.path.cmp(&b.path)));
    candidates.truncate(RECHECK_MAX);
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(wait) = MIN_GAP.checked_sub(since.elapsed()) {
        std::thread::sleep(wait);
    }
    let t = Instant::now();
    let n = candidates.len();
    let out = stat_changed(
        root,
        candidates
            .into_iter()
            .map(|f| (f.path.clone(), f.size, f.mtime))
            .collect(),
        share,
    )?;
    tracing::debug!(
        checked = n,
        changing = out.len(),
        ms = t.elapsed().as_millis() as u64,
        "scan: re-checked new and changed files"
    );
    Ok(out)
}

/// Re-checks per call on the share's thread: a hung share stops the re-check after
/// `share_timeout_secs` without progress, not after the whole list.
const STAT_CHUNK: usize = 100;

/// The paths of `files` (path, size, mtime) whose size or mtime differ on the share now, or
/// that are gone; sorted. The stats run on threads the caller can abandon
/// ([`walk::on_share`]): a hung share fails with `share_timeout`, a cancel returns at once.
fn stat_changed(
    root: &Path,
    files: Vec<(String, i64, i64)>,
    (timeout, cancel): (Duration, &AtomicBool),
) -> Result<Vec<String>> {
    let root = Arc::new(root.to_path_buf());
    let mut out = Vec::new();
    let mut rest = files;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(STAT_CHUNK));
        let chunk = std::mem::replace(&mut rest, tail);
        let what = format!("파일 다시 확인 {} / re-check", chunk[0].0);
        let root = Arc::clone(&root);
        let changed = walk::on_share(what, timeout, cancel, move || {
            chunk
                .into_iter()
                .filter(|(path, size, mtime)| {
                    match fs::symlink_metadata(names::join_rel(&root, path)) {
                        Ok(m) => m.len() as i64 != *size || walk::mtime_secs(&m) != *mtime,
                        Err(_) => true,
                    }
                })
                .map(|(path, _, _)| path)
                .collect::<Vec<String>>()
        })?;
        out.extend(changed);
    }
    out.sort_unstable();
    Ok(out)
}

/// How far back a record's mtime may be for [`changed_on_share`] to look at it (beyond
/// `settle_secs`): a file held back by an earlier scan has a record at most this old.
const YOUNG_SECS: i64 = 86_400;

/// For a sync that does not scan the whole share first (`--no-scan`, the watcher's scoped sync):
/// the stored records with a young mtime (within `settle_secs` and a day of `now`, at most
/// [`RECHECK_MAX`], newest first) whose file on the share has another size or mtime now, or is
/// gone. Such a record is out of date — a file that was still being copied when it was last
/// scanned — and the sync holds it back instead of publishing its old size.
pub fn changed_on_share(
    root: &Path,
    files: &[FileRecord],
    now: i64,
    settle_secs: u64,
    share: (Duration, &AtomicBool),
) -> Result<Vec<String>> {
    if settle_secs == 0 {
        return Ok(Vec::new());
    }
    let young = now.saturating_sub(settle_secs as i64 + YOUNG_SECS);
    let mut candidates: Vec<&FileRecord> = files.iter().filter(|f| f.mtime > young).collect();
    candidates.sort_unstable_by(|a, b| b.mtime.cmp(&a.mtime).then(a.path.cmp(&b.path)));
    candidates.truncate(RECHECK_MAX);
    stat_changed(
        root,
        candidates
            .into_iter()
            .map(|f| (f.path.clone(), f.size, f.mtime))
            .collect(),
        share,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(path: &str, size: i64, mtime: i64) -> WalkedFile {
        WalkedFile {
            path: path.into(),
            size,
            mtime,
        }
    }

    #[test]
    fn a_file_that_grew_moved_its_mtime_or_vanished_since_the_walk_is_changing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = 1_600_000_000;
        let write = |name: &str, size: usize| {
            let p = dir.path().join(name);
            fs::write(&p, vec![7u8; size]).expect("write");
            let t = UNIX_EPOCH + Duration::from_secs(old as u64);
            fs::File::options()
                .write(true)
                .open(&p)
                .expect("open")
                .set_modified(t)
                .expect("mtime");
        };
        write("grew.mp4", 20);
        write("same.mp4", 10);
        write("touched.mp4", 10);
        write("known.mp4", 10);
        let walk = Walk {
            files: vec![
                walked("grew.mp4", 10, old),
                walked("gone.mp4", 10, old),
                walked("known.mp4", 10, old),
                walked("recent.mp4", 10, 2_000_000_000),
                walked("same.mp4", 10, old),
                walked("touched.mp4", 10, old - 5),
            ],
            ..Walk::default()
        };
        // known.mp4 is unchanged (not a candidate); recent.mp4 is held by its mtime already.
        let d = DiffIdx {
            added: vec![0, 1, 3, 4],
            modified: vec![(0, 5)],
            ..DiffIdx::default()
        };
        let started = 2_000_000_010;
        let since = Instant::now() - MIN_GAP;
        let never = AtomicBool::new(false);
        let share = (Duration::from_secs(30), &never);
        let changing =
            changing(dir.path(), &walk, &d, (started, since), 60, share).expect("re-check");
        assert_eq!(changing, vec!["gone.mp4", "grew.mp4", "touched.mp4"]);
        assert!(
            super::changing(dir.path(), &walk, &d, (started, since), 0, share)
                .expect("re-check")
                .is_empty(),
            "settle_secs 0 re-checks nothing"
        );
    }
}
