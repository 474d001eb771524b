//! The scan and sync runs: the id of the next scan, and each sync's record in `sync_runs`, from
//! its write-ahead start (status `pending`) to its final totals, or its recovery.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::Archive;
use super::history::{HistoryEntry, insert_history};
use super::journal::{Batch, record};
use super::links::{Links, write_links};
use super::plan_base::PlanBase;
use crate::error::{Result, SqlContext};

/// Totals of one sync run, as recorded in `sync_runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncTotals {
    pub added: u64,
    pub updated: u64,
    pub moved: u64,
    pub restored: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub errors: u64,
}

impl Archive {
    /// The id the next scan will get (scans are numbered in order).
    pub fn next_scan_id(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM scans", [], |r| {
                r.get(0)
            })
            .ctx("next scan id")
    }

    /// Write-ahead record of a sync: the run (status `pending`) and the history of every change
    /// it is about to commit to the Target, in one archive.db transaction. Called while the Target
    /// transaction is open and before it commits, so a crash between the two commits never loses
    /// history: the next run settles the pending run against the Target ([`crate::sync`]).
    pub(crate) fn begin_run<'e>(
        &mut self,
        started_at: &str,
        applied_at: &str,
        forced: bool,
        totals: &SyncTotals,
        entries: impl IntoIterator<Item = HistoryEntry<'e>>,
    ) -> Result<i64> {
        // The Target commits right after this, so this commit must survive a power loss, not
        // only a crash: FULL makes SQLite fsync the WAL at this commit (one fsync per sync).
        // archive.db's other commits stay NORMAL.
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .ctx("archive.db synchronous")?;
        let recorded = self.record_run(started_at, applied_at, forced, totals, entries);
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .ctx("archive.db synchronous")?;
        recorded
    }

    fn record_run<'e>(
        &mut self,
        started_at: &str,
        applied_at: &str,
        forced: bool,
        totals: &SyncTotals,
        entries: impl IntoIterator<Item = HistoryEntry<'e>>,
    ) -> Result<i64> {
        let tx = self.conn.transaction().ctx("begin sync record")?;
        tx.execute(
            "INSERT INTO sync_runs (started_at, finished_at, status, forced, added, updated, moved,
             restored, deleted, skipped, errors, duration_ms)
             VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 0)",
            params![
                started_at,
                applied_at,
                forced,
                totals.added as i64,
                totals.updated as i64,
                totals.moved as i64,
                totals.restored as i64,
                totals.deleted as i64,
                totals.skipped as i64,
            ],
        )
        .ctx("record sync run")?;
        let run_id = tx.last_insert_rowid();
        // The `event IN (…)` CHECK of file_history costs more than the rest of a row: it builds
        // a lookup table on every execution of the INSERT. Our events are `Event`s, which can
        // only be the five allowed words, so the check is skipped for these inserts (only on
        // this connection, and switched back on before anything else runs on it).
        tx.pragma_update(None, "ignore_check_constraints", true)
            .ctx("history")?;
        let inserted = insert_history(&tx, run_id, applied_at, entries);
        tx.pragma_update(None, "ignore_check_constraints", false)
            .ctx("history")?;
        inserted?;
        tx.commit().ctx("commit sync record")?;
        Ok(run_id)
    }

    /// Close a run after the Target committed: drop the history of changes that failed, store the
    /// final totals and remember which Target row each file is synced to: `links` are the
    /// (file id, Target id) pairs that are new or changed, `unlinked` the files whose link
    /// goes to another file (the caller knows every file's link, so no lookup by Target id is
    /// needed). `started` is when the sync began: the stored duration covers everything but
    /// this commit. `base`: the converged state this sync leaves for the next scoped plan
    /// (`own_seq` is filled in here), or `None` to clear the stored one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish_run(
        &mut self,
        run_id: i64,
        totals: &SyncTotals,
        started: std::time::Instant,
        failed_paths: &[&str],
        links: Links<'_>,
        journal: &Batch<'_>,
        base: Option<PlanBase>,
    ) -> Result<()> {
        // The plan base names the sync's own batch, known once it is written.
        let record_with_base = |conn: &rusqlite::Connection| -> Result<()> {
            let seq = record(conn, journal)?;
            let base = base.map(|b| PlanBase { own_seq: seq, ..b });
            super::plan_base::write(conn, base.as_ref())
        };
        if let Links::Staged = links {
            // The links are written in the transaction that `stage_links` left open.
            let result = close_run(&self.conn, run_id, totals, started, failed_paths)
                .and_then(|()| record_with_base(&self.conn));
            return match result
                .and_then(|()| self.conn.execute_batch("COMMIT").ctx("commit sync record"))
            {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.unstage_links();
                    Err(e)
                }
            };
        }
        let tx = self.conn.transaction().ctx("finish sync record")?;
        if let Links::Write { links, unlinked } = links {
            write_links(&tx, links, Some(unlinked))?;
        }
        close_run(&tx, run_id, totals, started, failed_paths)?;
        record_with_base(&tx)?;
        tx.commit().ctx("commit sync record")?;
        Ok(())
    }

    /// Forget a run whose Target transaction did not commit.
    pub(crate) fn discard_run(&mut self, run_id: i64) -> Result<()> {
        self.unstage_links();
        let tx = self.conn.transaction().ctx("discard sync run")?;
        tx.execute("DELETE FROM file_history WHERE sync_id = ?1", [run_id])
            .ctx("discard sync run")?;
        tx.execute("DELETE FROM sync_runs WHERE id = ?1", [run_id])
            .ctx("discard sync run")?;
        tx.commit().ctx("discard sync run")?;
        Ok(())
    }

    /// Runs left `pending` by a process that died: (id, the time written to the Target).
    pub(crate) fn pending_runs(&self) -> Result<Vec<(i64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, finished_at FROM sync_runs WHERE status = 'pending' ORDER BY id")
            .ctx("pending runs")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("pending runs")?;
        rows.collect::<rusqlite::Result<_>>().ctx("pending runs")
    }

    /// Settle a pending run that did reach the Target: keep the history rows in `keep`, drop the
    /// rest, recount its totals from what was kept.
    pub(crate) fn settle_run(&mut self, run_id: i64, keep: &[i64]) -> Result<()> {
        let keep: std::collections::HashSet<i64> = keep.iter().copied().collect();
        let entries = self.run_history(run_id)?;
        let tx = self.conn.transaction().ctx("settle sync run")?;
        let mut totals = SyncTotals::default();
        for e in &entries {
            if !keep.contains(&e.id) {
                tx.execute("DELETE FROM file_history WHERE id = ?1", [e.id])
                    .ctx("settle sync run")?;
                continue;
            }
            match e.event.as_str() {
                "added" => totals.added += 1,
                "updated" => totals.updated += 1,
                "moved" => totals.moved += 1,
                "restored" => totals.restored += 1,
                _ => totals.deleted += 1,
            }
        }
        update_totals(&tx, run_id, "recovered", &totals)?;
        // The run died before `finish_run`: give its files their links, or a later move of one
        // of them would not find its row by rule (b).
        let links: Vec<(i64, i64)> = entries
            .iter()
            .filter(|e| keep.contains(&e.id) && e.event != "deleted")
            .filter_map(|e| Some((e.file_id?, e.target_id?)))
            .collect();
        write_links(&tx, &links, None)?;
        // Which files lost a link to these rows is not known here: the match index rebuilds.
        record(
            &tx,
            &Batch {
                rebuild: true,
                ..Batch::default()
            },
        )?;
        tx.commit().ctx("settle sync run")?;
        Ok(())
    }

    /// The most recent sync run, if any: (finished_at, status, totals).
    pub fn last_sync(&self) -> Result<Option<(String, String, SyncTotals)>> {
        self.conn
            .query_row(
                "SELECT finished_at, status, added, updated, moved, restored, deleted, skipped, errors
                 FROM sync_runs WHERE status <> 'pending' ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        SyncTotals {
                            added: r.get::<_, i64>(2)? as u64,
                            updated: r.get::<_, i64>(3)? as u64,
                            moved: r.get::<_, i64>(4)? as u64,
                            restored: r.get::<_, i64>(5)? as u64,
                            deleted: r.get::<_, i64>(6)? as u64,
                            skipped: r.get::<_, i64>(7)? as u64,
                            errors: r.get::<_, i64>(8)? as u64,
                        },
                    ))
                },
            )
            .optional()
            .ctx("last sync")
    }
}

/// The end of a run's record: drop the history of changes that failed, store the totals and
/// the duration (inside the caller's transaction).
fn close_run(
    conn: &Connection,
    run_id: i64,
    totals: &SyncTotals,
    started: std::time::Instant,
    failed_paths: &[&str],
) -> Result<()> {
    {
        let mut drop_h = conn
            .prepare("DELETE FROM file_history WHERE sync_id = ?1 AND path = ?2")
            .ctx("history")?;
        for p in failed_paths {
            drop_h.execute(params![run_id, p]).ctx("history")?;
        }
    }
    let status = if totals.errors == 0 { "ok" } else { "partial" };
    update_totals(conn, run_id, status, totals)?;
    conn.execute(
        "UPDATE sync_runs SET duration_ms = ?2 WHERE id = ?1",
        params![run_id, started.elapsed().as_millis() as i64],
    )
    .ctx("finish sync run")?;
    Ok(())
}

fn update_totals(tx: &Connection, run_id: i64, status: &str, t: &SyncTotals) -> Result<()> {
    tx.execute(
        "UPDATE sync_runs SET status = ?2, added = ?3, updated = ?4, moved = ?5, restored = ?6,
         deleted = ?7, skipped = ?8, errors = ?9 WHERE id = ?1",
        params![
            run_id,
            status,
            t.added as i64,
            t.updated as i64,
            t.moved as i64,
            t.restored as i64,
            t.deleted as i64,
            t.skipped as i64,
            t.errors as i64
        ],
    )
    .ctx("sync run totals")?;
    Ok(())
}
