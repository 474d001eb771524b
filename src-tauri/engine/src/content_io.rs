//! Counters of the bytes this process reads from the *content* of archive files (not listings),
//! by purpose. On an SMB share every byte read is a network transfer and a disk seek on the NAS,
//! so the benchmarks and tests check these figures (`nas-sync-bench --smb` cross-checks them
//! with `/proc/self/io`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
        if HOOK_SET.load(Ordering::Relaxed) {
            let hook = OPEN_HOOK.lock().ok().and_then(|h| h.clone());
            if let Some(hook) = hook {
                hook(path);
            }
        }
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

/// A function run before every counted open (tests make it block, as a hung share does).
#[doc(hidden)]
pub type OpenHook = Arc<dyn Fn(&Path) + Send + Sync>;

static HOOK_SET: AtomicBool = AtomicBool::new(false);
static OPEN_HOOK: Mutex<Option<OpenHook>> = Mutex::new(None);

/// Test-only injection point: run `hook` before every counted open (`None` removes it). Tests
/// use it to make a read block, as an open or a read on a hung SMB share does, and check that
/// the passes stop with `share_timeout` and honour cancel instead of waiting forever.
#[doc(hidden)]
pub fn set_open_hook(hook: Option<OpenHook>) {
    let set = hook.is_some();
    if let Ok(mut h) = OPEN_HOOK.lock() {
        *h = hook;
    }
    HOOK_SET.store(set, Ordering::Relaxed);
}
