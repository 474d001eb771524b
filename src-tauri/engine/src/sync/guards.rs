//! The safety guards a plan must pass before anything is written to the Target: the
//! mass-delete guard and the empty-Source guard (a forced sync may go past them).

use super::*;

/// The mass-delete guard: refuse when the plan deletes more than `max_delete_percent` of the
/// active rows *and* more than `max_delete_count` rows.
pub fn mass_delete_refusal(cfg: &Config, plan: &Plan) -> Option<Refusal> {
    let deletes = plan.deletes();
    let active = plan.active_before;
    let pct = if active == 0 {
        0.0
    } else {
        deletes as f64 * 100.0 / active as f64
    };
    if deletes > cfg.max_delete_count && pct > cfg.max_delete_percent {
        Some(Refusal {
            guard: Guard::MassDelete,
            message: format!(
                "대량 삭제 방지 / mass-delete guard: this sync would mark {deletes} of {active} active Target rows deleted ({pct:.1}%), over the limits of {} rows and {}%. Nothing was written to pokervod.db. Check that the share is complete, then run `sync --force` to apply anyway.",
                cfg.max_delete_count, cfg.max_delete_percent
            ),
        })
    } else {
        None
    }
}

/// An empty Source with active Target rows would delete the whole catalog: that is an offline
/// or wrong share, or a fresh archive.db, never a real state (small catalogs slip under the
/// mass-delete guard).
/// `source_files`: every record in archive.db (a scoped plan's files are only the change's).
pub fn empty_source_refusal(source_files: u64, plan: &Plan) -> Option<Refusal> {
    (source_files == 0 && plan.active_before > 0).then(|| Refusal {
        guard: Guard::Offline,
        message: format!(
            "NAS 아카이브가 비어 있습니다 / the Source (archive.db) has no files but pokervod.db has {} active rows: syncing would mark them all deleted. Nothing was written; check the share and archive_db, or run `sync --force`.",
            plan.active_before
        ),
    })
}
