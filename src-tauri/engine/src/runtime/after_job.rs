//! What follows a job that changed archive.db, for the monitor's jobs and the CLI's one-shot
//! commands alike: the fingerprint and media-probe passes over new files, then the match index
//! (and its search cache) brought up to date, so the next screen or `nas-sync matching` is fast.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::error::Result;

/// How each step went; neither undoes the job, so the caller decides what a failure means.
pub struct AfterJob {
    /// The fingerprint and probe passes (`Ok` when they were not asked for or cancelled).
    pub passes: Result<()>,
    /// The match index and its search cache (`Ok` when there is no Target yet).
    pub index: Result<()>,
}

/// Run the passes when `passes` (a scan, or a sync that applied) and `cancel` is not set, then
/// refresh the match index when `index`.
pub fn after_job(cfg: &Config, passes: bool, index: bool, cancel: &AtomicBool) -> AfterJob {
    let passes = if passes && !cancel.load(Ordering::Relaxed) {
        crate::runtime::monitor::background_passes(cfg, cancel)
    } else {
        Ok(())
    };
    let index = if index && cfg.target_db.is_some() {
        crate::index::Index::open(cfg).and_then(|i| i.warm_search())
    } else {
        Ok(())
    };
    AfterJob { passes, index }
}
