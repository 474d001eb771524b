//! Content fingerprints for move detection: a hash of the size, the first and the last 64 KiB.
//! Never a full-file hash: at most 128 KiB is read per file, whatever its size.

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

/// Compute and store fingerprints of video files that lack one (new or modified since).
/// Runs after a scan; `workers` bounds concurrent reads. Returns how many were stored.
pub fn fingerprint_pending(
    archive: &mut Archive,
    root: &Path,
    workers: usize,
    cancel: Option<&AtomicBool>,
) -> Result<usize> {
    let pending: Vec<(i64, String, i64, i64)> = {
        let mut stmt = archive
            .conn()
            .prepare(
                "SELECT id, path, size, mtime FROM files WHERE fingerprint IS NULL AND kind = 'video' ORDER BY id",
            )
            .ctx("pending fingerprints")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .ctx("pending fingerprints")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("pending fingerprints")?
    };
    if pending.is_empty() {
        return Ok(0);
    }
    let never = AtomicBool::new(false);
    let cancel = cancel.unwrap_or(&never);
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<(i64, i64, i64, i64)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, 16) {
            s.spawn(|| {
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((id, path, size, mtime)) = pending.get(i) else {
                        break;
                    };
                    if let Ok(fp) = fingerprint(&root.join(path))
                        && let Ok(mut r) = results.lock()
                    {
                        r.push((*id, fp, *size, *mtime));
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    archive.store_fingerprints(&results)
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
