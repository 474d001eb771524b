//! The watcher: file-system events under the root start a sync of just the directories they
//! name, so a new file reaches the Target seconds after it lands instead of at the next
//! scheduled sync.
//!
//! Events are hints, never the truth: the sync they start walks the changed directories and
//! compares, and a lost, merged or overflowing event stream (the debouncer's errors, a "rescan"
//! flag) becomes a full incremental sync. The schedule always keeps running. The debouncer keeps
//! no file-id cache (it would stat every file of a huge tree at start). Network shares are
//! detected and not watched: inotify does not see changes made by other machines on a CIFS/NFS
//! mount, and an SMB server may refuse change notifications; the status says so once and the
//! schedule does the work.
//!
//! The watcher only finds what changed: it hands each burst's scope over a channel, and the
//! monitor's thread (see `Monitor::start_watching`, which also restarts the watcher when a
//! setting it depends on changes: root, ignore patterns, archive_db location) turns the scopes
//! into syncs. Nothing here knows the [`Monitor`](super::Monitor).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify_debouncer_full::notify::event::{MetadataKind, ModifyKind};
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    DebounceEventResult, DebouncedEvent, Debouncer, NoCache, new_debouncer_opt,
};

use crate::config::Config;
/// Moved to [`crate::fsinfo`]; kept here for callers of the watcher's API.
pub use crate::fsinfo::network_fs;
use crate::names::IgnoreSet;
use crate::scan::{ScanScope, is_ignored_path};

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

/// The settings the watcher is built from: a change of any of them needs a new watcher.
pub fn inputs(cfg: &Config) -> (Option<PathBuf>, Vec<String>, Option<PathBuf>) {
    (cfg.root.clone(), cfg.ignore.clone(), cfg.archive_db.clone())
}

/// Watch `cfg`'s root. Each debounced burst of events becomes the scope of the directories it
/// names, sent on `scopes` (never blocks; a closed channel drops the burst). Dropping the
/// [`Watch`] closes the channel. Usually called through
/// [`Monitor::start_watching`](super::Monitor::start_watching), which keeps the watcher and
/// syncs the scopes.
pub fn start(cfg: &Config, scopes: mpsc::Sender<ScanScope>) -> Result<Watch, NotWatched> {
    let root = cfg.root.clone().ok_or(NotWatched::NoRoot)?;
    if let Some(fs) = network_fs(&root) {
        return Err(NotWatched::NetworkShare(fs));
    }
    let filter = Filter::new(cfg, &root).map_err(|e| NotWatched::Refused(e.to_string()))?;
    // No access events at the source: the walk of a scan opens every directory, and on a large
    // tree (1M files, 150k folders) those opens overflowed the kernel's queue, which is, rightly,
    // a full sync, whose scan overflowed it again. `is_change` ignores them anyway.
    let notify_cfg = notify_debouncer_full::notify::Config::default()
        .with_event_kinds(notify_debouncer_full::notify::EventKindMask::CORE);
    let mut debouncer = new_debouncer_opt::<_, RecommendedWatcher, NoCache>(
        notify_debouncer_full::Config::default()
            .with_timeout(DEBOUNCE)
            .with_notify_config(notify_cfg),
        move |r: DebounceEventResult| {
            if let Some(scope) = filter.scope_of(&r) {
                let _ = scopes.send(scope);
            }
        },
        NoCache,
    )
    .map_err(|e| NotWatched::Refused(e.to_string()))?;
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| NotWatched::Refused(e.to_string()))?;
    Ok(Watch {
        _debouncer: debouncer,
        root,
    })
}

/// Turns a burst of events into the directories to scan.
struct Filter {
    root: PathBuf,
    ignore: IgnoreSet,
    /// archive.db's folder and file stem: `archive.db`, its `-wal`, `.lock` and
    /// `archive.index.db` are ours, and so is the `logs` folder next to them.
    archive: Option<(PathBuf, String)>,
}

impl Filter {
    fn new(cfg: &Config, root: &Path) -> crate::error::Result<Filter> {
        let archive = cfg.archive_db_path().ok().and_then(|p| {
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            Some((p.parent()?.to_path_buf(), stem))
        });
        Ok(Filter {
            root: root.to_path_buf(),
            ignore: IgnoreSet::new(&cfg.ignore)?,
            archive,
        })
    }

    fn is_own(&self, p: &Path) -> bool {
        if is_own_file(p) {
            return true;
        }
        let Some((dir, stem)) = &self.archive else {
            return false;
        };
        if p.starts_with(dir.join("logs")) {
            return true;
        }
        p.parent() == Some(dir.as_path())
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{stem}.")))
    }

    /// What to sync for one debounced result; `None`: nothing to do (only reads, our own
    /// files or ignored names). An error (a watch lost, an overflow) is a full sync: something
    /// changed that we could not follow.
    fn scope_of(&self, r: &DebounceEventResult) -> Option<ScanScope> {
        match r {
            Ok(events) => self.scope(events),
            Err(errors) => {
                tracing::debug!(errors = errors.len(), "watch: errors, full sync");
                Some(ScanScope::Full)
            }
        }
    }

    /// The scope of one debounced burst: the parent directory of every changed path (both
    /// sides of a rename), or [`ScanScope::Full`] for a rescan flag, a path outside the root,
    /// the root itself or an entry directly in it. `None`: nothing that matters changed.
    fn scope(&self, events: &[DebouncedEvent]) -> Option<ScanScope> {
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        let mut full = false;
        for e in events {
            if e.need_rescan() {
                full = true;
                continue;
            }
            if !is_change(&e.kind) {
                continue;
            }
            for p in e.paths.iter().filter(|p| !self.is_own(p)) {
                match self.parent_dir(p) {
                    Changed::Ignored => {}
                    Changed::Dir(d) => {
                        dirs.insert(d);
                    }
                    Changed::Everything => full = true,
                }
            }
        }
        if full {
            Some(ScanScope::Full)
        } else if dirs.is_empty() {
            None
        } else {
            Some(ScanScope::dirs(dirs))
        }
    }

    fn parent_dir(&self, p: &Path) -> Changed {
        let Ok(rel) = p.strip_prefix(&self.root) else {
            return Changed::Everything;
        };
        let mut parts: Vec<&str> = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(name) => match name.to_str() {
                    Some(n) => parts.push(n),
                    // A name that is not UTF-8 is skipped by the scan; its parent is not.
                    None if parts.is_empty() => return Changed::Everything,
                    None => return Changed::Dir(parts.join("/")),
                },
                _ => return Changed::Everything,
            }
        }
        if is_ignored_path(&self.ignore, &parts.join("/")) {
            return Changed::Ignored;
        }
        match parts.split_last() {
            Some((_, parent)) if !parent.is_empty() => Changed::Dir(parent.join("/")),
            _ => Changed::Everything,
        }
    }
}

enum Changed {
    /// Skipped by the scan anyway.
    Ignored,
    Dir(String),
    Everything,
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify_debouncer_full::notify::event::{CreateKind, Event, Flag, RenameMode};

    fn filter(root: &Path, ignore: &[&str]) -> Filter {
        let cfg = Config {
            root: Some(root.to_path_buf()),
            archive_db: Some(root.join("state/archive.db")),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            ..Config::default()
        };
        Filter::new(&cfg, root).expect("filter")
    }

    fn event(kind: EventKind, paths: &[PathBuf]) -> DebouncedEvent {
        let mut e = Event::new(kind);
        for p in paths {
            e = e.add_path(p.clone());
        }
        DebouncedEvent::new(e, std::time::Instant::now())
    }

    fn dirs(d: &[&str]) -> Option<ScanScope> {
        Some(ScanScope::Dirs(d.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn a_burst_becomes_the_parent_dirs_of_its_paths_with_both_sides_of_a_rename() {
        let root = PathBuf::from("/share");
        let f = filter(&root, &["*.part"]);
        let create = EventKind::Create(CreateKind::File);
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        let burst = vec![
            event(create, &[root.join("WSOP/2024/day1/a.mp4")]),
            event(create, &[root.join("WSOP/2024/day1/sub/b.mp4")]),
            event(
                rename,
                &[root.join("HCL/ep1/y.mp4"), root.join("PAD/s1/y.mp4")],
            ),
        ];
        assert_eq!(
            f.scope_of(&Ok(burst)),
            dirs(&["HCL/ep1", "PAD/s1", "WSOP/2024/day1"])
        );
        // Reads, our own files (archive.db, its journal, the log folder, any *.db) and ignored
        // names start nothing.
        let quiet = vec![
            event(
                EventKind::Access(notify_debouncer_full::notify::event::AccessKind::Any),
                &[root.join("WSOP/x.mp4")],
            ),
            event(create, &[root.join("state/archive.db-wal")]),
            event(create, &[root.join("state/archive.db.lock")]),
            event(create, &[root.join("state/logs/nas-sync.log")]),
            event(create, &[root.join("WSOP/2024/pokervod.db")]),
            event(create, &[root.join("WSOP/2024/@eaDir/x.mp4")]),
            event(create, &[root.join("WSOP/2024/.x.mp4.tmp1")]),
            event(create, &[root.join("WSOP/2024/x.mp4.part")]),
        ];
        assert_eq!(f.scope_of(&Ok(quiet)), None);
    }

    #[test]
    fn an_overflow_an_error_a_rescan_flag_or_the_root_level_is_a_full_sync() {
        let root = PathBuf::from("/share");
        let f = filter(&root, &[]);
        let errors = vec![notify_debouncer_full::notify::Error::generic("overflow")];
        assert_eq!(f.scope_of(&Err(errors)), Some(ScanScope::Full));
        let mut rescan = Event::new(EventKind::Other);
        rescan = rescan.set_flag(Flag::Rescan);
        let burst = vec![
            event(
                EventKind::Create(CreateKind::File),
                &[root.join("WSOP/a/b.mp4")],
            ),
            DebouncedEvent::new(rescan, std::time::Instant::now()),
        ];
        assert_eq!(f.scope_of(&Ok(burst)), Some(ScanScope::Full));
        for p in [
            root.join("NEWCATALOG"),
            root.clone(),
            PathBuf::from("/elsewhere/x.mp4"),
        ] {
            let burst = vec![event(
                EventKind::Create(CreateKind::Folder),
                std::slice::from_ref(&p),
            )];
            assert_eq!(f.scope_of(&Ok(burst)), Some(ScanScope::Full), "{p:?}");
        }
        let wide: Vec<DebouncedEvent> = (0..300)
            .map(|i| {
                event(
                    EventKind::Create(CreateKind::File),
                    &[root.join(format!("WSOP/d{i}/f.mp4"))],
                )
            })
            .collect();
        assert_eq!(f.scope_of(&Ok(wide)), Some(ScanScope::Full), "over the cap");
    }
}
