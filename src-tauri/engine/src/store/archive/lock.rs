//! The lock file next to archive.db that keeps two processes' syncs and scans apart.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An exclusive lock on `<archive.db>.lock`, held for a whole sync or scan so two processes never
/// interleave their runs. Released when dropped (or when the process dies).
pub struct SyncLock {
    _file: std::fs::File,
}

impl SyncLock {
    /// Whether another process holds the lock now (a sync or scan is running).
    pub fn is_held(archive_db: &Path) -> bool {
        let mut name = archive_db.as_os_str().to_owned();
        name.push(".lock");
        match std::fs::File::open(PathBuf::from(name)) {
            Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// Take the lock, waiting up to `wait_secs` for another process to finish.
    pub fn acquire(archive_db: &Path, wait_secs: u64) -> Result<SyncLock> {
        if let Some(dir) = archive_db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut name = archive_db.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(SyncLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if started.elapsed().as_secs() >= wait_secs {
                        return Err(Error::Locked {
                            path: archive_db.to_path_buf(),
                            secs: wait_secs,
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }
}
