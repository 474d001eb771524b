//! Files held back as still being copied ([`crate::rules::Hold`]) are looked at again as soon as
//! the first of them can be stable, not at the next scheduled sync: a sync that held files
//! leaves a due time and the directories of those files here, and the monitor's one settle
//! thread (started with the first such sync, then kept) starts a sync of just those
//! directories (trigger `settle`) when it is due. A later sync that holds files again adds its
//! directories and moves the due time earlier, never later (the watcher's syncs of a long copy
//! leave one pending look). Pause drops a due sync (the schedule takes over on resume);
//! shutdown ends the thread, and so does the monitor going away.

use std::time::{Duration, Instant};

use super::{JobKind, Monitor, WeakMonitor, lock};
use crate::scan::ScanScope;
use crate::sync::{Force, SyncReport};

/// The pending look at held files, and whether the settle thread runs.
#[derive(Debug, Default)]
pub(super) struct SettleSlot {
    due: Option<(Instant, ScanScope)>,
    thread: bool,
}

/// The settle thread re-checks at least this often that its monitor still exists.
const ALIVE_CHECK: Duration = Duration::from_secs(30);

/// The directories of a report's held files; the whole share when some were not listed or one
/// is at the root.
pub(super) fn held_scope(r: &SyncReport) -> ScanScope {
    if (r.held_paths.len() as u64) < r.held {
        return ScanScope::Full;
    }
    ScanScope::dirs(
        r.held_paths
            .iter()
            .map(|p| p.rsplit_once('/').map_or("", |(dir, _)| dir)),
    )
}

impl Monitor {
    /// When a sync of the held files' directories will start, if one is due.
    pub fn settle_due(&self) -> Option<Instant> {
        lock(&self.shared.state).settle.due.as_ref().map(|d| d.0)
    }

    /// Sync `scope` at `due` (or earlier, if a look is already due earlier).
    pub(super) fn recheck_held_at(&self, due: Instant, scope: ScanScope) {
        let start_thread = {
            let mut st = lock(&self.shared.state);
            if st.shutdown {
                return;
            }
            let slot = &mut st.settle;
            slot.due = Some(match slot.due.take() {
                Some((d, s)) => (d.min(due), s.merge(scope)),
                None => (due, scope),
            });
            !std::mem::replace(&mut slot.thread, true)
        };
        self.shared.wake.notify_all();
        if !start_thread {
            return;
        }
        let weak = self.downgrade();
        let spawned = std::thread::Builder::new()
            .name("nas-sync-settle".into())
            .spawn(move || settle_loop(&weak));
        if let Err(e) = spawned {
            lock(&self.shared.state).settle.thread = false;
            tracing::warn!("복사 완료 확인 예약 실패 / cannot schedule the held files' sync: {e}");
        }
    }

    /// Wait for the due look (at most [`ALIVE_CHECK`]) and take its scope when it is due.
    /// `Err(())`: the thread ends (shutdown).
    fn settle_next(&self) -> std::result::Result<Option<ScanScope>, ()> {
        let mut st = lock(&self.shared.state);
        if st.shutdown {
            st.settle.thread = false;
            return Err(());
        }
        let now = Instant::now();
        let wait = match &st.settle.due {
            Some((due, _)) if *due <= now => {
                let scope = st.settle.due.take().map(|d| d.1);
                return Ok(scope.filter(|_| !st.paused));
            }
            Some((due, _)) => (*due - now).min(ALIVE_CHECK),
            None => ALIVE_CHECK,
        };
        drop(
            self.shared
                .wake
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner()),
        );
        Ok(None)
    }

    /// Start the sync of `scope`; when a job runs, wait for it and start it then.
    fn settle_sync(&self, scope: ScanScope) {
        tracing::info!(
            "복사 중이던 파일을 다시 확인합니다 / syncing again the files held back as still being copied"
        );
        loop {
            let s = self.start_scoped(JobKind::Sync, Force::No, "settle", scope.clone());
            if s.started {
                return;
            }
            // A job runs: wait for it, then look (its scan may not have covered these files).
            self.wait(s.job_id, Duration::from_secs(24 * 3600));
            let st = lock(&self.shared.state);
            if st.shutdown || st.paused {
                return;
            }
        }
    }
}

/// The settle thread: one per monitor, holding it only while it waits or syncs.
fn settle_loop(weak: &WeakMonitor) {
    loop {
        let Some(m) = weak.upgrade() else { return };
        match m.settle_next() {
            Err(()) => return,
            Ok(Some(scope)) => m.settle_sync(scope),
            Ok(None) => {}
        }
    }
}
