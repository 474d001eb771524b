//! The history of applied Target changes (`file_history`), written ahead of each sync's Target
//! commit and read back to settle a run that died between the two commits.

use serde::Serialize;

use super::Archive;
use crate::error::{Result, SqlContext};
use crate::store::sqlite::values_sql;

/// The Target change a plan makes to one row, as its history row records it: `as_str` is the
/// word stored in `file_history.event`, whose CHECK allows exactly these five.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Added,
    Updated,
    Moved,
    Restored,
    Deleted,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Added => "added",
            Event::Updated => "updated",
            Event::Moved => "moved",
            Event::Restored => "restored",
            Event::Deleted => "deleted",
        }
    }
}

/// A history event as written by the sync (borrowed from the plan: a first sync writes one per
/// file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry<'a> {
    pub event: Event,
    pub path: &'a str,
    pub old_path: Option<&'a str>,
    pub catalog: &'a str,
    pub target_id: Option<i64>,
    pub file_id: Option<i64>,
    /// The file's size after the change (added, updated, moved, restored).
    pub size_bytes: Option<i64>,
}

/// A history row of a run that may not have reached the Target (see [`Archive::begin_run`]).
#[derive(Debug, Clone)]
pub(crate) struct PendingEntry {
    pub id: i64,
    pub file_id: Option<i64>,
    pub event: String,
    pub path: String,
    pub target_id: Option<i64>,
    pub size_bytes: Option<i64>,
}

impl Archive {
    pub(crate) fn run_history(&self, run_id: i64) -> Result<Vec<PendingEntry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, event, path, target_id, size_bytes, file_id FROM file_history
                 WHERE sync_id = ?1 ORDER BY id",
            )
            .ctx("run history")?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(PendingEntry {
                    id: r.get(0)?,
                    event: r.get(1)?,
                    path: r.get(2)?,
                    target_id: r.get(3)?,
                    size_bytes: r.get(4)?,
                    file_id: r.get(5)?,
                })
            })
            .ctx("run history")?;
        rows.collect::<rusqlite::Result<_>>().ctx("run history")
    }
}

/// History rows per INSERT statement: one statement per row costs more than binding the row.
const HISTORY_ROWS_PER_INSERT: usize = 64;

/// Insert the history of run `run_id` in order, many rows per statement (ids follow the order).
pub(super) fn insert_history<'e>(
    tx: &rusqlite::Transaction<'_>,
    run_id: i64,
    time: &str,
    entries: impl IntoIterator<Item = HistoryEntry<'e>>,
) -> Result<()> {
    // ?1 = sync_id and ?2 = time are shared by every row of a statement.
    let sql = |rows: usize| {
        values_sql(
            "INSERT INTO file_history (sync_id, event, path, old_path, catalog, time, target_id,
             file_id, size_bytes) VALUES ",
            rows,
            3,
            "(?1, #, #, #, #, ?2, #, #, #)",
        )
    };
    let mut full: Option<rusqlite::Statement<'_>> = None;
    let mut chunk: Vec<HistoryEntry<'e>> = Vec::with_capacity(HISTORY_ROWS_PER_INSERT);
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        chunk.clear();
        chunk.extend(entries.by_ref().take(HISTORY_ROWS_PER_INSERT));
        let mut partial;
        let stmt = if chunk.len() == HISTORY_ROWS_PER_INSERT {
            match &mut full {
                Some(s) => s,
                None => full.insert(tx.prepare(&sql(chunk.len())).ctx("history")?),
            }
        } else {
            partial = tx.prepare(&sql(chunk.len())).ctx("history")?;
            &mut partial
        };
        stmt.raw_bind_parameter(1, run_id).ctx("history")?;
        stmt.raw_bind_parameter(2, time).ctx("history")?;
        for (i, h) in chunk.iter().enumerate() {
            let p = 3 + i * 7;
            stmt.raw_bind_parameter(p, h.event.as_str())
                .ctx("history")?;
            stmt.raw_bind_parameter(p + 1, h.path).ctx("history")?;
            stmt.raw_bind_parameter(p + 2, h.old_path).ctx("history")?;
            stmt.raw_bind_parameter(p + 3, h.catalog).ctx("history")?;
            stmt.raw_bind_parameter(p + 4, h.target_id).ctx("history")?;
            stmt.raw_bind_parameter(p + 5, h.file_id).ctx("history")?;
            stmt.raw_bind_parameter(p + 6, h.size_bytes)
                .ctx("history")?;
        }
        stmt.raw_execute().ctx("history")?;
    }
    Ok(())
}
