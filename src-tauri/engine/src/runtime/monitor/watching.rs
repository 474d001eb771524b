//! The monitor's watcher: started on request, restarted when a setting it is built from
//! changes (see [`super::watch`]). The watcher sends each burst's scope over a channel; the
//! monitor's thread here turns the scopes into syncs.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::watch::{self, NotWatched, Watch};
use super::{JobKind, Monitor, WeakMonitor, lock};
use crate::scan::ScanScope;

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
        match self.start_watch() {
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

    /// Watch the configured root, with the thread that syncs what the watcher reports (trigger
    /// `watch`); events that arrive while a job runs start one more sync when it ends.
    fn start_watch(&self) -> std::result::Result<Watch, NotWatched> {
        let (tx, rx) = mpsc::channel::<ScanScope>();
        let w = watch::start(&self.config(), tx)?;
        let weak = self.downgrade();
        let loop_root = w.root().to_path_buf();
        std::thread::Builder::new()
            .name("nas-sync-watch".into())
            .spawn(move || trigger_loop(&weak, &loop_root, &rx))
            .map_err(|e| NotWatched::Refused(e.to_string()))?;
        tracing::info!("변경 감지 시작: {} / watching", w.root().display());
        Ok(w)
    }
}

/// One sync per burst; bursts during a job are merged and synced after it. Ends when the
/// watcher is dropped (the channel closes) or the monitor is gone.
fn trigger_loop(monitor: &WeakMonitor, root: &Path, rx: &mpsc::Receiver<ScanScope>) {
    while let Ok(first) = rx.recv() {
        let mut scope = drain(first, rx);
        loop {
            let Some(m) = monitor.upgrade() else { return };
            if m.is_paused() {
                break;
            }
            // Bursts of a root that is no longer configured: the new root's watcher takes over.
            if m.config().root.as_deref() != Some(root) {
                break;
            }
            let s = m.start_scoped(
                JobKind::Sync,
                crate::sync::Force::No,
                "watch",
                scope.clone(),
            );
            if s.started {
                break;
            }
            // A job runs: wait for it, then sync again (its walk may have missed the change).
            m.wait(s.job_id, Duration::from_secs(24 * 3600));
            scope = drain(scope, rx);
        }
    }
}

/// `scope` with every burst already queued merged in.
fn drain(mut scope: ScanScope, rx: &mpsc::Receiver<ScanScope>) -> ScanScope {
    while let Ok(more) = rx.try_recv() {
        scope = scope.merge(more);
    }
    scope
}
