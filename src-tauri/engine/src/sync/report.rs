//! What a sync tells: its counts, its changes, its errors and why it did not apply.

use super::*;

/// Why a sync did not apply.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Refusal {
    pub guard: Guard,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct SyncError {
    pub path: String,
    pub message: String,
}

/// One Target change, for reports (the full list is in `file_history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Change {
    pub event: &'static str,
    pub path: String,
    pub old_path: Option<String>,
    /// The Target row id (`None` for a not-yet-inserted row in a dry run).
    pub target_id: Option<i64>,
}

/// At most this many changes are listed in a report; the counts are always complete.
pub const MAX_LISTED_CHANGES: usize = 500;

/// The result of `sync` (the CLI's `--json` document).
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct SyncReport {
    pub added: u64,
    pub updated: u64,
    pub moved: u64,
    pub restored: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub errors: Vec<SyncError>,
    pub dry_run: bool,
    pub refused: Option<Refusal>,
    pub duration_ms: u64,
    /// Active Target rows before the sync.
    pub active_before: u64,
    pub scan: Option<ScanReport>,
    /// The probe pass run before planning, if any.
    pub probe: Option<crate::probe::ProbeStats>,
    /// The first [`MAX_LISTED_CHANGES`] changes, in apply order.
    pub changes: Vec<Change>,
    /// Files held back because they are still being copied or written (status `copying`):
    /// nothing was written for them; a later sync publishes each once it is stable.
    pub held: u64,
    /// The first [`MAX_LISTED_CHANGES`] held files (paths).
    pub held_paths: Vec<String>,
    /// Seconds from the start of this sync until the first held file can be found stable: when
    /// the monitor syncs again (`None` when nothing was held).
    pub settle_wait_secs: Option<u64>,
    /// The plan covered only what changed since the last converged sync ([`super::scoped`]).
    #[serde(skip)]
    pub scoped: bool,
}

impl SyncReport {
    pub(super) fn totals(&self) -> SyncTotals {
        SyncTotals {
            added: self.added,
            updated: self.updated,
            moved: self.moved,
            restored: self.restored,
            deleted: self.deleted,
            skipped: self.skipped,
            errors: self.errors.len() as u64,
        }
    }

    /// The held files of `plan` and when the first of them can be stable.
    pub(super) fn fill_held(&mut self, plan: &Plan, files: &[FileRecord], hold: &Hold) {
        self.held = plan.held;
        self.held_paths.clear();
        let mut first_stable: Option<i64> = None;
        for (f, role) in files.iter().zip(&plan.roles) {
            if matches!(role, rules::Role::Held { .. }) {
                if self.held_paths.len() < MAX_LISTED_CHANGES {
                    self.held_paths.push(f.path.clone());
                }
                let at = hold.stable_at(f);
                first_stable = Some(first_stable.map_or(at, |t| t.min(at)));
            }
        }
        // At least a second: a held file is never stable at the instant it was judged.
        self.settle_wait_secs = first_stable.map(|t| t.saturating_sub(hold.now).max(1) as u64);
    }

    pub(super) fn fill_counts(&mut self, plan: &Plan) {
        self.added = plan.count(Event::Added);
        self.updated = plan.count(Event::Updated);
        self.moved = plan.count(Event::Moved);
        self.restored = plan.count(Event::Restored);
        self.deleted = plan.deletes();
        self.skipped = plan.skipped;
        self.active_before = plan.active_before;
    }
}
