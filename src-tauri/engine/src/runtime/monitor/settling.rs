//! Files held back as still being copied ([`crate::rules::Hold`]) are looked at again as soon as
//! the first of them can be stable, not at the next scheduled sync: a sync that held files
//! leaves a due time and the directories of those files here, and one thread starts a sync of
//! just those directories (trigger `settle`) when it is due. A later sync that holds files again
//! adds its directories and moves the due time earlier, never later (the watcher's syncs of a
//! long copy leave one pending look, not one thread each); the thread of a replaced due time
//! ends when it wakes. Pause drops a due sync (the schedule takes over on resume);
//! shutdown ends the thread.

use std::time::{Duration, Instant};

use super::{JobKind, Monitor, lock};
use crate::scan::ScanScope;
use crate::sync::{Force, SyncReport};

/// The pending look at held files: when, what, and which thread owns it.
#[derive(Debug, Default)]
pub(super) struct SettleSlot {
    due: Option<(Instant, ScanScope)>,
    /// Bumped for every new due time; a thread whose generation is no longer current ends.
    generation: u64,
}

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
    /// When a sync of the held files' directories (`scope`) will start, if one is due.
    pub fn settle_due(&self) -> Option<Instant> {
        lock(&self.shared.state).settle.due.as_ref().map(|d| d.0)
    }

    /// Sync `scope` at `due` (or earlier, if a look is already due earlier).
    pub(super) fn recheck_held_at(&self, due: Instant, scope: ScanScope) {
        let generation = {
            let mut st = lock(&self.shared.state);
            if st.shutdown {
                return;
            }
            let slot = &mut st.settle;
            match slot.due.take() {
                // A look is due no later: it takes these folders too (a file not stable by then
                // is held again, and that sync asks for the next look). No new thread.
                Some((d, s)) if d <= due => {
                    slot.due = Some((d, s.merge(scope)));
                    return;
                }
                Some((_, s)) => slot.due = Some((due, s.merge(scope))),
                None => slot.due = Some((due, scope)),
            }
            slot.generation += 1;
            slot.generation
        };
        // Wake a thread of a replaced due time so it ends now.
        self.shared.wake.notify_all();
        let weak = self.downgrade();
        let spawned = std::thread::Builder::new()
            .name("nas-sync-settle".into())
            .spawn(move || {
                if let Some(m) = weak.upgrade() {
                    m.settle_loop(generation);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("복사 완료 확인 예약 실패 / cannot schedule the held files' sync: {e}");
        }
    }

    fn settle_loop(&self, generation: u64) {
        let mut st = lock(&self.shared.state);
        let scope = loop {
            if st.shutdown || st.settle.generation != generation {
                return;
            }
            let Some((due, _)) = &st.settle.due else {
                return;
            };
            let now = Instant::now();
            if now >= *due {
                let Some((_, scope)) = st.settle.due.take() else {
                    return;
                };
                break scope;
            }
            let wait = *due - now;
            st = self
                .shared
                .wake
                .wait_timeout(st, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        };
        let paused = st.paused;
        drop(st);
        if paused {
            tracing::debug!("settle: paused, the held files wait for the schedule");
            return;
        }
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
