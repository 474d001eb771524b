//! The monitor's watcher: started on request, restarted when a setting it is built from
//! changes (see [`super::watch`]).

use std::path::PathBuf;

use super::watch::{self, NotWatched};
use super::{Monitor, lock};

impl Monitor {
    /// Watch the root (see [`watch`]) and keep watching it: a settings change of the root,
    /// the ignore patterns or archive_db restarts the watcher. A root that cannot be watched
    /// (a network share, a refusal) is logged once and left to the schedule; settings that
    /// change later try again. Returns the watched root.
    pub fn start_watching(&self) -> std::result::Result<PathBuf, NotWatched> {
        lock(&self.shared.watch).wanted = true;
        self.restart_watch()
    }

    /// Stop watching (and stop restarting on settings changes).
    pub fn stop_watching(&self) {
        let old = {
            let mut slot = lock(&self.shared.watch);
            slot.wanted = false;
            slot.current.take()
        };
        drop(old);
    }

    /// The root being watched now, if any.
    pub fn watched_root(&self) -> Option<PathBuf> {
        lock(&self.shared.watch)
            .current
            .as_ref()
            .map(|w| w.root().to_path_buf())
    }

    /// How many watchers this monitor started, restarts included.
    pub fn watcher_starts(&self) -> u64 {
        lock(&self.shared.watch).starts
    }

    pub(super) fn restart_watch(&self) -> std::result::Result<PathBuf, NotWatched> {
        let mut slot = lock(&self.shared.watch);
        // The old watcher stops before the new one starts: never two for one monitor.
        slot.current = None;
        if !slot.wanted {
            return Err(NotWatched::Refused("stopped".into()));
        }
        match watch::start(self) {
            Ok(w) => {
                let root = w.root().to_path_buf();
                slot.current = Some(w);
                slot.starts += 1;
                Ok(root)
            }
            Err(why) => {
                tracing::warn!("{}", why.message());
                Err(why)
            }
        }
    }
}
