//! The watcher: file-system events under the root start an incremental sync, so a new file
//! reaches the Target seconds after it lands instead of at the next scheduled sync.
//!
//! Events are hints, never the truth: the sync they start walks the share and compares, so a
//! lost, merged or overflowing event stream costs at most a delay until the next event or the
//! schedule (which always keeps running). The debouncer keeps no file-id cache (it would stat
//! every file of a huge tree at start). Network shares are detected and not watched: inotify
//! does not see changes made by other machines on a CIFS/NFS mount, and an SMB server may refuse
//! change notifications; the status says so once and the schedule does the work.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify_debouncer_full::notify::event::{MetadataKind, ModifyKind};
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, NoCache, new_debouncer_opt};

use super::monitor::{JobKind, Monitor};

/// Quiet time before a burst of events becomes one sync.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Why the root is not watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotWatched {
    /// A network file system (`cifs`, `smb3`, `nfs`, a UNC path): remote changes raise no events.
    NetworkShare(String),
    /// The OS refused to watch (too many watches, the share refuses notifications, …).
    Refused(String),
    NoRoot,
}

impl NotWatched {
    pub fn message(&self) -> String {
        match self {
            NotWatched::NetworkShare(fs) => format!(
                "네트워크 공유({fs})는 변경 감지를 지원하지 않아 예약 동기화로 확인합니다 / \
                 {fs} shares raise no change events here; the schedule checks them"
            ),
            NotWatched::Refused(e) => format!(
                "변경 감지를 시작할 수 없어 예약 동기화로 확인합니다 ({e}) / \
                 cannot watch the root ({e}); the schedule checks it"
            ),
            NotWatched::NoRoot => "NAS 루트가 설정되지 않았습니다 / no root configured".into(),
        }
    }
}

/// A running watcher; dropping it stops watching.
pub struct Watch {
    _debouncer: Debouncer<RecommendedWatcher, NoCache>,
    root: PathBuf,
}

impl Watch {
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Watch `monitor`'s root. Each debounced burst of events starts a sync (trigger `watch`);
/// events that arrive while a job runs start one more sync when it ends.
pub fn start(monitor: &Monitor) -> Result<Watch, NotWatched> {
    let cfg = monitor.config();
    let root = cfg.root.clone().ok_or(NotWatched::NoRoot)?;
    if let Some(fs) = network_fs(&root) {
        return Err(NotWatched::NetworkShare(fs));
    }
    let (tx, rx) = mpsc::channel::<()>();
    let mut debouncer = new_debouncer_opt::<_, RecommendedWatcher, NoCache>(
        DEBOUNCE,
        None,
        move |r: DebounceEventResult| {
            match r {
                // Our own databases and logs may live under the root; their writes are not
                // changes to the archive (and would otherwise trigger syncs forever).
                // Reading a file (the sync's own fingerprint and probe passes do) is not a
                // change either.
                Ok(events)
                    if !events
                        .iter()
                        .filter(|e| is_change(&e.kind))
                        .flat_map(|e| e.paths.iter())
                        .any(|p| !is_own_file(p)) =>
                {
                    return;
                }
                Ok(_) => {}
                // An error or overflow: something changed that we could not follow; the sync
                // walks the share anyway.
                Err(errors) => {
                    tracing::debug!(errors = errors.len(), "watch: errors, syncing to be safe");
                }
            }
            let _ = tx.send(());
        },
        NoCache,
        notify_debouncer_full::notify::Config::default(),
    )
    .map_err(|e| NotWatched::Refused(e.to_string()))?;
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| NotWatched::Refused(e.to_string()))?;
    let m = monitor.clone();
    std::thread::Builder::new()
        .name("nas-sync-watch".into())
        .spawn(move || trigger_loop(&m, &rx))
        .map_err(|e| NotWatched::Refused(e.to_string()))?;
    tracing::info!("변경 감지 시작 / watching {}", root.display());
    Ok(Watch {
        _debouncer: debouncer,
        root,
    })
}

/// One sync per burst; a burst during a job is remembered and synced after it.
fn trigger_loop(monitor: &Monitor, rx: &mpsc::Receiver<()>) {
    while rx.recv().is_ok() {
        // Merge everything already queued into this one sync.
        while rx.try_recv().is_ok() {}
        loop {
            if monitor.is_paused() {
                break;
            }
            let s = monitor.start(JobKind::Sync, false, "watch");
            if s.started {
                break;
            }
            // A job runs: wait for it, then sync again (its walk may have missed the change).
            monitor.wait(s.job_id, Duration::from_secs(24 * 3600));
            while rx.try_recv().is_ok() {}
        }
    }
}

/// An event that may mean the archive changed (not a read, not an access-time update).
fn is_change(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime))
    )
}

/// Files the engine itself writes (SQLite databases and journals, logs).
fn is_own_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    [".db", ".db-wal", ".db-shm", ".db-journal", ".log", ".tmp"]
        .iter()
        .any(|s| name.ends_with(s))
        || name.contains(".log.")
        || name.starts_with(".nas-sync-write-test")
}

/// The network file system `root` lives on, if any.
pub fn network_fs(root: &Path) -> Option<String> {
    let text = root.to_string_lossy();
    if text.starts_with("\\\\") || text.starts_with("//") {
        return Some("SMB".into());
    }
    #[cfg(target_os = "linux")]
    {
        let canonical = std::fs::canonicalize(root).ok()?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mut best: Option<(usize, String)> = None;
        for line in mountinfo.lines() {
            // id parent major:minor root mount-point options ... - fstype source super-options
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(mount) = fields.get(4) else { continue };
            let mount = mount.replace("\\040", " ");
            let Some(dash) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let Some(fstype) = fields.get(dash + 1) else {
                continue;
            };
            if canonical.starts_with(&mount) && best.as_ref().is_none_or(|b| mount.len() > b.0) {
                best = Some((mount.len(), fstype.to_string()));
            }
        }
        let fstype = best?.1;
        if ["cifs", "smb3", "smbfs", "nfs", "nfs4", "fuse.sshfs", "9p"].contains(&fstype.as_str()) {
            return Some(fstype);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unc_paths_are_network_shares_and_a_local_dir_is_not() {
        assert_eq!(
            network_fs(Path::new(r"\\10.10.100.122\docker\GGPNAs\ARCHIVE")),
            Some("SMB".into())
        );
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(network_fs(dir.path()), None);
    }
}
