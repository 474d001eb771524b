//! Which Target row each file is synced to (`links`): read into the loaded files, written by
//! each sync (staged in a transaction that commits after the Target's) and by the recovery of a
//! run that died.

use rusqlite::{Connection, params};

use super::{Archive, FileRecord};
use crate::error::{Result, SqlContext};
use crate::store::sqlite::values_sql;

/// "No link" in a vector of links by file id (a Target id can be any integer, even 0).
const NO_LINK: i64 = i64::MIN;

impl Archive {
    /// Set each file's `target_id` from the `links` table, read whole: for a load of every
    /// record (a few records read their links in their own query, `LINKED_FILE_COLUMNS`).
    pub(crate) fn fill_links(&self, files: &mut [FileRecord]) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT file_id, target_id FROM links")
            .ctx("load links")?;
        let links = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .ctx("load links")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("load links")?;
        if links.is_empty() {
            return Ok(());
        }
        // File ids are dense (AUTOINCREMENT from 1), so a vector by id beats a hash map; fall
        // back to the map if the ids are sparse.
        let max_id = files.iter().map(|f| f.id).max().unwrap_or(0).max(0) as usize;
        if max_id <= files.len().saturating_mul(4) + 1_024 {
            let mut by_id = vec![NO_LINK; max_id + 1];
            for &(file, target) in &links {
                if let Some(slot) = usize::try_from(file).ok().and_then(|i| by_id.get_mut(i)) {
                    *slot = target;
                }
            }
            for f in files.iter_mut() {
                f.target_id = usize::try_from(f.id)
                    .ok()
                    .and_then(|i| by_id.get(i).copied())
                    .filter(|&t| t != NO_LINK);
            }
        } else {
            let by_id: rustc_hash::FxHashMap<i64, i64> = links.into_iter().collect();
            for f in files.iter_mut() {
                f.target_id = by_id.get(&f.id).copied();
            }
        }
        Ok(())
    }

    /// Write a sync's links in a transaction that stays open until [`Archive::finish_run`]
    /// (`Links::Staged`) commits it after the Target did, or [`Archive::unstage_links`] rolls
    /// it back: written while the Target rows are still being written (the history thread has
    /// time to spare), invisible until the rows they name are. On an error nothing is left
    /// open and the caller writes the links the usual way.
    pub(crate) fn stage_links(&mut self, links: &[(i64, i64)], unlinked: &[i64]) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .ctx("stage links")?;
        let written = write_links(&self.conn, links, Some(unlinked));
        if written.is_err() {
            self.unstage_links();
        }
        written
    }

    /// Roll back links staged by [`Archive::stage_links`] (nothing happens if none are).
    pub(crate) fn unstage_links(&mut self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "archive.db: staged links not rolled back");
        }
    }
}

/// Link rows per INSERT statement.
const LINKS_PER_INSERT: usize = 128;

/// Remember which Target row each file is synced to. A Target row is linked to one file at
/// most: `unlinked` names the files that lose their link to a row changing hands; `None` (the
/// rare recovery path) finds them in SQL.
pub(super) fn write_links(
    tx: &Connection,
    links: &[(i64, i64)],
    unlinked: Option<&[i64]>,
) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    // In file-id order the inserts append to the B-tree instead of splitting pages at random.
    let mut links = links.to_vec();
    links.sort_unstable();
    links.dedup_by_key(|l| l.0);
    match unlinked {
        Some(files) => {
            let mut unlink = tx
                .prepare("DELETE FROM links WHERE file_id = ?1")
                .ctx("write links")?;
            for f in files {
                unlink.execute([f]).ctx("write links")?;
            }
        }
        None => {
            tx.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS new_links (file_id INTEGER PRIMARY KEY, target_id INTEGER NOT NULL);
                 DELETE FROM new_links;",
            )
            .ctx("stage links")?;
            {
                let mut stage = tx
                    .prepare(
                        "INSERT OR REPLACE INTO new_links (file_id, target_id) VALUES (?1, ?2)",
                    )
                    .ctx("stage links")?;
                for &(file_id, target_id) in &links {
                    stage
                        .execute(params![file_id, target_id])
                        .ctx("stage links")?;
                }
            }
            tx.execute_batch(
                "DELETE FROM links
                  WHERE target_id IN (SELECT target_id FROM new_links)
                    AND file_id NOT IN (SELECT file_id FROM new_links);
                 DELETE FROM new_links;",
            )
            .ctx("write links")?;
        }
    }
    let sql = |rows: usize| {
        values_sql(
            "INSERT OR REPLACE INTO links (file_id, target_id) VALUES ",
            rows,
            1,
            "(#, #)",
        )
    };
    let mut full: Option<rusqlite::Statement<'_>> = None;
    for chunk in links.chunks(LINKS_PER_INSERT) {
        let mut partial;
        let stmt = if chunk.len() == LINKS_PER_INSERT {
            match &mut full {
                Some(s) => s,
                None => full.insert(tx.prepare(&sql(chunk.len())).ctx("write links")?),
            }
        } else {
            partial = tx.prepare(&sql(chunk.len())).ctx("write links")?;
            &mut partial
        };
        for (i, &(file_id, target_id)) in chunk.iter().enumerate() {
            stmt.raw_bind_parameter(2 * i + 1, file_id)
                .ctx("write links")?;
            stmt.raw_bind_parameter(2 * i + 2, target_id)
                .ctx("write links")?;
        }
        stmt.raw_execute().ctx("write links")?;
    }
    Ok(())
}

/// How [`Archive::finish_run`] stores a sync's links.
pub(crate) enum Links<'a> {
    /// Already written by [`Archive::stage_links`], in the open transaction.
    Staged,
    /// The (file id, Target id) pairs that are new or changed, and the files whose link goes
    /// to another file.
    Write {
        links: &'a [(i64, i64)],
        unlinked: &'a [i64],
    },
}
