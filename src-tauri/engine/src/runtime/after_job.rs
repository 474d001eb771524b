//! What follows a job that changed archive.db, for the monitor's jobs and the CLI's one-shot
//! commands alike: the match index brought up to date from the job's changes (so the next
//! screen or `nas-sync matching` answers at once), then the fingerprint and media-probe passes
//! over new files, and the index again when the probe stored something.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::error::Result;
use crate::index::{Index, SharedIndex};

/// How each step went; neither undoes the job, so the caller decides what a failure means.
pub struct AfterJob {
    /// The fingerprint and probe passes (`Ok` when they were not asked for or cancelled).
    pub passes: Result<()>,
    /// The match index and its search columns (`Ok` when there is no Target yet).
    pub index: Result<()>,
}

/// Which match index a job brings up to date.
pub enum IndexStep<'a> {
    /// None (a read-only job).
    Skip,
    /// The index file, through a handle of its own (a one-shot command).
    Open,
    /// The process's long-lived index (a host), whose search columns are patched in place.
    Shared(&'a SharedIndex),
}

fn refresh(cfg: &Config, step: &IndexStep<'_>) -> Result<()> {
    if cfg.target_db.is_none() {
        return Ok(());
    }
    match step {
        IndexStep::Skip => Ok(()),
        IndexStep::Open => Index::open(cfg).and_then(|i| i.warm_search()),
        IndexStep::Shared(shared) => shared.with(cfg, |i| i.warm_search()),
    }
}

/// Bring the match index up to date (per `index`), then run the passes when `passes` (a scan,
/// or a sync that applied) and `cancel` is not set, then the index again if they ran.
pub fn after_job(
    cfg: &Config,
    passes: bool,
    index: IndexStep<'_>,
    cancel: &AtomicBool,
) -> AfterJob {
    let mut index_result = refresh(cfg, &index);
    let passes = if passes && !cancel.load(Ordering::Relaxed) {
        let r = crate::runtime::monitor::background_passes(cfg, cancel);
        // The probe stores media facts (codec warnings, strict codec checks): one more look,
        // cheap when it stored nothing.
        if cfg.probe_media {
            index_result = index_result.and(refresh(cfg, &index));
        }
        r
    } else {
        Ok(())
    };
    AfterJob {
        passes,
        index: index_result,
    }
}
