//! What the index was built from, in a form cheap to compare: the rules' hash, and the digests
//! of the Source records and Target rows (wrapping sums of their content hashes, so that an
//! incremental update keeps them current by subtracting the old hash and adding the new).
//! The stamps of the two database files are [`crate::store::sqlite::file_stamp`].

use xxhash_rust::xxh3::Xxh3;

use super::INDEX_VERSION;
use crate::archive::FileRecord;
use crate::rules::Rules;

/// The rules' hash (and the index version): when it changes, every verdict may have.
pub(super) fn rules_hash(rules: &Rules) -> String {
    let mut h = Xxh3::new();
    h.update(&INDEX_VERSION.to_le_bytes());
    h.update(&[u8::from(rules.hls_only), u8::from(rules.strict_codec_check)]);
    h.update(&rules.settle_secs.to_le_bytes());
    for e in &rules.hls_extensions {
        h.update(e.as_bytes());
        h.update(b"\0");
    }
    format!("{:016x}", h.digest())
}

/// The digest of the Source records: the wrapping sum of their [`FileRecord::content_hash`].
pub(super) fn files_digest(files: &[FileRecord]) -> u64 {
    files
        .iter()
        .fold(0u64, |d, f| d.wrapping_add(f.content_hash()))
}
