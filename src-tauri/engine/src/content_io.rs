//! Counters of the bytes this process reads from the *content* of archive files (not listings),
//! by purpose. On an SMB share every byte read is a network transfer and a disk seek on the NAS,
//! so the benchmarks and tests check these figures (`nas-sync-bench --smb` cross-checks them
//! with `/proc/self/io`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Opens and bytes read for one purpose.
#[derive(Debug, Default)]
pub struct Reads {
    opens: AtomicU64,
    bytes: AtomicU64,
}

impl Reads {
    const fn new() -> Self {
        Reads {
            opens: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// (opens, bytes) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.opens.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Reads for move-detection fingerprints.
pub static FINGERPRINT: Reads = Reads::new();
/// Reads for the media probe (built-in parsers; ffprobe's own reads are not counted here).
pub static PROBE: Reads = Reads::new();

/// A snapshot of every counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ContentReads {
    pub fingerprint_opens: u64,
    pub fingerprint_bytes: u64,
    pub probe_opens: u64,
    pub probe_bytes: u64,
}

impl ContentReads {
    /// The counters now.
    pub fn now() -> Self {
        let (fingerprint_opens, fingerprint_bytes) = FINGERPRINT.get();
        let (probe_opens, probe_bytes) = PROBE.get();
        ContentReads {
            fingerprint_opens,
            fingerprint_bytes,
            probe_opens,
            probe_bytes,
        }
    }

    /// What was read since `earlier`.
    pub fn since(self, earlier: ContentReads) -> ContentReads {
        ContentReads {
            fingerprint_opens: self.fingerprint_opens - earlier.fingerprint_opens,
            fingerprint_bytes: self.fingerprint_bytes - earlier.fingerprint_bytes,
            probe_opens: self.probe_opens - earlier.probe_opens,
            probe_bytes: self.probe_bytes - earlier.probe_bytes,
        }
    }

    /// All content bytes.
    pub fn bytes(&self) -> u64 {
        self.fingerprint_bytes + self.probe_bytes
    }
}

/// A file whose reads are counted under `reads`.
pub struct CountedFile {
    file: File,
    reads: &'static Reads,
}

impl CountedFile {
    /// Open `path` for reading; counts one open.
    pub fn open(path: &Path, reads: &'static Reads) -> std::io::Result<Self> {
        let file = File::open(path)?;
        reads.opens.fetch_add(1, Ordering::Relaxed);
        Ok(CountedFile { file, reads })
    }

    /// The underlying file (metadata and the like; reads through it are not counted).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Read for CountedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.reads.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for CountedFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}
