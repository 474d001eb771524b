//! Crash recovery: runs a killed process left `pending` in archive.db are settled against
//! the Target as it is (kept if their transaction committed, forgotten if not).

use super::*;

/// Settle runs that a killed process left `pending`: if their Target transaction committed (the
/// rows show the changes), keep their history (minus changes the Target does not show);
/// otherwise forget them. The transaction was all-or-nothing, so one change that shows is
/// enough to tell it committed.
pub(super) fn settle_pending_runs(archive: &mut Archive, target: Option<&Target>) -> Result<()> {
    for (run_id, applied_at) in archive.pending_runs()? {
        let entries = archive.run_history(run_id)?;
        let Some(target) = target else {
            // No pokervod.db at all: the run cannot have committed.
            archive.discard_run(run_id)?;
            continue;
        };
        let mut stmt = target
            .conn()
            .prepare("SELECT nas_path, status, size_bytes, updated_at FROM files WHERE id = ?1")
            .ctx("settle pending run")?;
        let mut keep: Vec<i64> = Vec::new();
        for e in &entries {
            let Some(id) = e.target_id else { continue };
            let row: Option<(String, String, i64, Option<String>)> = stmt
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()
                .ctx("settle pending run")?;
            let Some((path, status, size, updated_at)) = row else {
                continue;
            };
            let shows = match e.event.as_str() {
                "deleted" => {
                    status != "active" && updated_at.as_deref() == Some(applied_at.as_str())
                }
                _ => {
                    status == "active"
                        && path == e.path
                        && Some(size) == e.size_bytes
                        && updated_at.as_deref() == Some(applied_at.as_str())
                }
            };
            if shows {
                keep.push(e.id);
            }
        }
        if keep.is_empty() && !entries.is_empty() {
            tracing::info!(
                "중단된 동기화(#{run_id})는 pokervod.db에 반영되지 않아 기록을 지웁니다 / a sync killed before its Target commit left no changes; forgotten"
            );
            archive.discard_run(run_id)?;
        } else {
            tracing::warn!(
                "중단된 동기화(#{run_id})의 변경 {}건 이력을 복구했습니다 / recovered the history of a sync killed after its Target commit",
                keep.len()
            );
            archive.settle_run(run_id, &keep)?;
        }
    }
    Ok(())
}
