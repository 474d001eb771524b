//! Content fingerprints for move detection: a hash of the size, the first and the last 64 KiB.
//! Never a full-file hash: at most 128 KiB is read per file, whatever its size.
//!
//! Only files that could be confused need one. A move pairs a removed record with an added file
//! of the same (size, mtime) ([`super::diff::match_bucket`]): a bucket of one removed and one
//! added file pairs without reading anything, equal names break most ties, and only then are
//! fingerprints compared; the added side's are read on demand during the scan, the removed
//! side's must be stored, since that file is gone. A removed record can only meet a rival in its
//! bucket when its (size, mtime) was shared in archive.db, so the pass after a scan
//! fingerprints just the video files whose (size, mtime) another file has (backup copies, a
//! series cut to equal sizes at one time). A unique file is never read: on an 18 TB share of
//! ~1M files that is the difference between ~122 GiB and ~2M seeks and almost nothing.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use super::*;

/// Bytes read from each end of the file.
pub const EDGE: u64 = 64 * 1024;

/// Fingerprint of the file at `path`, stored as a signed 64-bit integer (SQLite INTEGER).
pub fn fingerprint(path: &Path) -> std::io::Result<i64> {
    let mut f = crate::content_io::CountedFile::open(path, &crate::content_io::FINGERPRINT)?;
    let size = f.file().metadata()?.len();
    let mut h = Xxh3::new();
    h.update(&size.to_le_bytes());
    let mut buf = vec![0u8; EDGE as usize];
    let head = read_up_to(&mut f, &mut buf)?;
    h.update(&buf[..head]);
    if size > EDGE {
        let tail_start = size.saturating_sub(EDGE).max(EDGE);
        f.seek(SeekFrom::Start(tail_start))?;
        let n = read_up_to(&mut f, &mut buf)?;
        h.update(&buf[..n]);
    }
    Ok(h.digest() as i64)
}

fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Video files lacking a fingerprint whose (size, mtime) is shared with another file of
/// archive.db (any kind), in id order: (id, path, size, mtime). Empty files are left out: their
/// fingerprints would all be equal. One pass over the narrow columns (archive.db has no index
/// on size and mtime, and a sort of ~1M pairs takes a fraction of a second); paths only for the
/// few picked, and nothing once `cancel` is set.
pub fn ambiguous_pending(
    archive: &Archive,
    cancel: &AtomicBool,
) -> Result<Vec<(i64, String, i64, i64)>> {
    let mut keys: Vec<(i64, i64, i64, bool)> = {
        let mut stmt = archive
            .conn()
            .prepare("SELECT size, mtime, id, fingerprint IS NULL AND kind = 'video' FROM files")
            .ctx("pending fingerprints")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .ctx("pending fingerprints")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("pending fingerprints")?
    };
    keys.sort_unstable();
    let mut picked: Vec<(i64, i64, i64)> = Vec::new();
    for group in keys.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        if group.len() < 2 || group[0].0 == 0 {
            continue;
        }
        picked.extend(
            group
                .iter()
                .filter(|k| k.3)
                .map(|&(size, mtime, id, _)| (id, size, mtime)),
        );
    }
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    picked.sort_unstable();
    // The paths of the picked ids: one pass over the table in id order (a query per id costs
    // seconds at 20k picks on a slow file system), keeping only theirs. A cancel (a new job)
    // stops it between rows.
    let mut stmt = archive
        .conn()
        .prepare("SELECT id, path FROM files ORDER BY id")
        .ctx("pending fingerprints")?;
    let mut rows = stmt.query([]).ctx("pending fingerprints")?;
    let mut out = Vec::with_capacity(picked.len());
    let mut next = picked.iter().peekable();
    let mut n: u32 = 0;
    while let Some(row) = rows.next().ctx("pending fingerprints")? {
        n = n.wrapping_add(1);
        if n.is_multiple_of(4096) && cancel.load(Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        let id: i64 = row.get(0).ctx("pending fingerprints")?;
        while next.peek().is_some_and(|p| p.0 < id) {
            next.next();
        }
        let Some(&&(pid, size, mtime)) = next.peek() else {
            break;
        };
        if pid == id {
            out.push((id, row.get(1).ctx("pending fingerprints")?, size, mtime));
            next.next();
        }
    }
    Ok(out)
}

/// Compute and store the fingerprints of [`ambiguous_pending`] files. Runs after a scan;
/// `workers` bounds concurrent reads. Returns how many were stored.
///
/// The reads run on worker threads that own their data, so a read stuck on a hung share is
/// abandoned: the pass stops with [`Error::ShareTimeout`] when no fingerprint has completed for
/// `share_timeout`, and returns within a poll interval when `cancel` is set; either way what
/// was computed is stored.
pub fn fingerprint_pending(
    archive: &mut Archive,
    root: &Path,
    workers: usize,
    cancel: Option<&AtomicBool>,
    share_timeout: Duration,
) -> Result<usize> {
    let never = AtomicBool::new(false);
    let cancel = cancel.unwrap_or(&never);
    let pending = ambiguous_pending(archive, cancel)?;
    if pending.is_empty() || cancel.load(Ordering::Relaxed) {
        return Ok(0);
    }
    let total = pending.len();
    let pending = Arc::new(pending);
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let root = Arc::new(root.to_path_buf());
    let (tx, rx) = mpsc::channel::<Option<(i64, i64, i64, i64)>>();
    for _ in 0..workers.clamp(1, 16).min(total) {
        let tx = tx.clone();
        let (pending, next, stop, root) = (
            Arc::clone(&pending),
            Arc::clone(&next),
            Arc::clone(&stop),
            Arc::clone(&root),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((id, path, size, mtime)) = pending.get(i) else {
                    break;
                };
                // A file that cannot be read keeps no fingerprint (it is tried again next time);
                // it still counts as progress: the share answered.
                let fp = fingerprint(&names::join_rel(&root, path)).ok();
                if tx.send(fp.map(|fp| (*id, fp, *size, *mtime))).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut done: Vec<(i64, i64, i64, i64)> = Vec::new();
    let mut last_done = Instant::now();
    let mut result = Ok(());
    loop {
        match rx.recv_timeout(crate::probe::POLL) {
            Ok(r) => {
                last_done = Instant::now();
                done.extend(r);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        if last_done.elapsed() >= share_timeout {
            result = Err(Error::ShareTimeout {
                what: "이동 감지 지문 / move-detection fingerprints".into(),
                secs: share_timeout.as_secs(),
            });
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let stored = archive.store_fingerprints(&done);
    result?;
    stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_content_equal_fingerprint_and_middle_bytes_are_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let c = dir.path().join("c");
        let mut data = vec![7u8; 300 * 1024];
        std::fs::write(&a, &data).expect("write");
        std::fs::write(&b, &data).expect("write");
        data[150 * 1024] = 1; // middle byte: outside both 64 KiB edges
        std::fs::write(&c, &data).expect("write");
        let fa = fingerprint(&a).expect("fp");
        assert_eq!(fa, fingerprint(&b).expect("fp"));
        assert_eq!(
            fa,
            fingerprint(&c).expect("fp"),
            "only the edges are hashed"
        );
        data[10] = 2;
        std::fs::write(&c, &data).expect("write");
        assert_ne!(fa, fingerprint(&c).expect("fp"));
    }
}
