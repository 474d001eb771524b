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
