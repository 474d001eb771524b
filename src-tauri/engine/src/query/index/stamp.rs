//! The index's stamp of its inputs (cheap: a few `stat` calls and header bytes) and the digest
//! of their content, which decide whether the index is current.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use xxhash_rust::xxh3::Xxh3;

use super::INDEX_VERSION;
use crate::archive::FileRecord;
use crate::rules::{Hold, Rules};
use crate::target::TargetRow;

/// A write this close to the stamp may share its mtime with a later write (coarse timestamps,
/// FAT's 2 s, SMB attribute caching): such a stamp is "racy" and is never trusted.
const RACY_WINDOW: Duration = Duration::from_secs(3);

/// A cheap stamp of one SQLite database file: size, mtime and header bytes of the file and of
/// its `-wal`. A committed write changes at least one of them, except that in WAL mode SQLite
/// leaves the header alone and a same-size write can differ from the last one only in mtime —
/// hence [`RACY_WINDOW`]. Returns whether the stamp is racy.
fn file_stamp(h: &mut Xxh3, path: &Path, now: std::time::SystemTime) -> bool {
    let mut racy = false;
    for suffix in ["", "-wal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            // A missing and an empty `-wal` mean the same (a reader may create an empty one).
            Ok(m) if m.len() > 0 => {
                h.update(&m.len().to_le_bytes());
                let modified = m.modified().ok();
                racy |= match modified {
                    Some(t) => now.duration_since(t).map_or(true, |age| age < RACY_WINDOW),
                    None => true,
                };
                let mtime = modified
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                h.update(&mtime.to_le_bytes());
                // Database header (change counter at 24..28) or WAL header (checkpoint
                // sequence and salts).
                let mut head = [0u8; 100];
                if let Ok(mut f) = std::fs::File::open(&p) {
                    let n = f.read(&mut head).unwrap_or(0);
                    h.update(&head[..n]);
                }
            }
            _ => h.update(b"empty"),
        }
    }
    racy
}

fn rules_hash(h: &mut Xxh3, rules: &Rules) {
    h.update(&INDEX_VERSION.to_le_bytes());
    h.update(&[u8::from(rules.hls_only), u8::from(rules.strict_codec_check)]);
    h.update(&rules.settle_secs.to_le_bytes());
    for e in &rules.hls_extensions {
        h.update(e.as_bytes());
        h.update(b"\0");
    }
}

/// The inputs' stamp; `None` when it is racy (a file changed within [`RACY_WINDOW`]), which
/// never equals a stored stamp, so the content digest decides.
pub(super) fn stamp(archive_db: &Path, target_db: &Path, rules: &Rules) -> Option<String> {
    let now = std::time::SystemTime::now();
    let mut h = Xxh3::new();
    let mut racy = file_stamp(&mut h, archive_db, now);
    h.update(b"|");
    racy |= file_stamp(&mut h, target_db, now);
    h.update(b"|");
    rules_hash(&mut h, rules);
    (!racy).then(|| format!("{:016x}", h.digest()))
}

/// Digest of everything the index is computed from (the files `hold` holds now included: a
/// `copying` verdict runs out with time alone).
pub(super) fn digest(
    files: &[FileRecord],
    rows: &[TargetRow],
    rules: &Rules,
    hold: &Hold,
) -> String {
    let mut h = Xxh3::new();
    rules_hash(&mut h, rules);
    for f in files {
        h.update(&[u8::from(hold.holds(f))]);
        h.update(&f.id.to_le_bytes());
        h.update(f.path.as_bytes());
        h.update(b"\0");
        h.update(&f.size.to_le_bytes());
        h.update(&f.mtime.to_le_bytes());
        h.update(&f.first_seen.to_le_bytes());
        h.update(&f.target_id.unwrap_or(-1).to_le_bytes());
        h.update(f.media.codec.as_deref().unwrap_or("\u{1}").as_bytes());
        h.update(&f.media.width.unwrap_or(-1).to_le_bytes());
        h.update(&f.media.height.unwrap_or(-1).to_le_bytes());
        h.update(&f.media.duration_sec.unwrap_or(-1.0).to_le_bytes());
    }
    h.update(b"|rows|");
    for r in rows {
        h.update(&r.id.to_le_bytes());
        for s in [&r.nas_path, &r.filename, &r.catalog, &r.format] {
            h.update(s.as_bytes());
            h.update(b"\0");
        }
        h.update(&r.size_bytes.to_le_bytes());
        h.update(&[u8::from(r.hls_compatible), u8::from(r.active)]);
        h.update(r.codec.as_deref().unwrap_or("\u{1}").as_bytes());
        h.update(&r.width.unwrap_or(-1).to_le_bytes());
        h.update(&r.height.unwrap_or(-1).to_le_bytes());
        h.update(&r.duration_sec.unwrap_or(-1.0).to_le_bytes());
    }
    format!("{:016x}", h.digest())
}
