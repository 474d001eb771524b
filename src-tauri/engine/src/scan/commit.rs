//! The commit of a scan: one transaction that writes its `scans` row, the file rows of its
//! diff and its issues.

use super::*;

/// When a scan ran, as recorded in its `scans` row.
pub(super) struct ScanTimes {
    pub(super) started: String,
    pub(super) finished: String,
    pub(super) duration_ms: i64,
}

/// Write the scan in one transaction: its `scans` row, the file rows of `d`, its issues. Returns
/// the scan id and the ids given to `d.added`, in order (`None` if they could not be confirmed).
pub(super) fn commit(
    archive: &mut Archive,
    known: &[FileRecord],
    walked: &[WalkedFile],
    d: &DiffIdx,
    report: &ScanReport,
    times: &ScanTimes,
) -> Result<(i64, Option<Vec<i64>>)> {
    let conn = archive.conn_mut();
    // Two per-row checks that cannot fail for what the scan writes are switched off for its
    // transaction, and back on whatever the outcome:
    // - the only CHECK on `files` is on probe_status, which every row the scan writes leaves NULL
    //   (allowed), yet SQLite builds its IN list in a temporary B-tree for every row;
    // - the only foreign keys the scan's rows carry name the `scans` row it inserts first in the
    //   same transaction; checked, they also force a statement journal on every multi-row INSERT.
    let set = |conn: &rusqlite::Connection, on: bool| -> Result<()> {
        conn.pragma_update(None, "ignore_check_constraints", on)
            .ctx("scan commit ignore_check_constraints")?;
        conn.pragma_update(None, "foreign_keys", !on)
            .ctx("scan commit foreign_keys")
    };
    // A first scan's commit is hundreds of MB of WAL: copied into archive.db by an automatic
    // checkpoint inside the commit, that copy would be on the scan's path. It runs on a thread
    // of its own after the commit instead (readers see the rows from the commit on).
    let autocheckpoint: i64 = conn
        .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
        .ctx("scan commit wal_autocheckpoint")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .ctx("scan commit wal_autocheckpoint")?;
    set(conn, true)?;
    let res = write_scan(conn, known, walked, d, report, times);
    let reset = set(conn, false).and_then(|()| {
        conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)
            .ctx("scan commit wal_autocheckpoint")
    });
    let out = res?;
    reset?;
    archive.checkpoint_copy_in_background();
    Ok(out)
}

pub(super) fn write_scan(
    conn: &mut rusqlite::Connection,
    known: &[FileRecord],
    walked: &[WalkedFile],
    d: &DiffIdx,
    report: &ScanReport,
    times: &ScanTimes,
) -> Result<(i64, Option<Vec<i64>>)> {
    let tx = conn.transaction().ctx("begin scan commit")?;
    tx.execute(
        "INSERT INTO scans (started_at, finished_at, files_seen, dirs_seen, added, removed, modified,
         moved, warnings, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            times.started,
            times.finished,
            report.files_seen as i64,
            report.dirs_seen as i64,
            report.added as i64,
            report.removed as i64,
            report.modified as i64,
            report.moved as i64,
            report.warnings.len() as i64,
            times.duration_ms,
        ],
    )
    .ctx("record scan")?;
    let scan_id = tx.last_insert_rowid();
    let added_ids;
    {
        let mut del = tx
            .prepare("DELETE FROM files WHERE id = ?1")
            .ctx("prepare delete")?;
        for &k in &d.removed {
            del.execute([known[k].id]).ctx("delete removed file")?;
        }
        // Deletion grace: the count of a file still missing goes up, a file seen again starts
        // over (the row of a removed record goes with it, by trigger).
        if !d.waiting.is_empty() {
            let mut wait = tx
                .prepare(
                    "INSERT INTO file_missing (file_id, scans) VALUES (?1, ?2)
                     ON CONFLICT (file_id) DO UPDATE SET scans = excluded.scans",
                )
                .ctx("prepare missing")?;
            for &k in &d.waiting {
                wait.execute(params![known[k].id, known[k].missing_scans + 1])
                    .ctx("count missing file")?;
            }
        }
        if !d.reset.is_empty() {
            let mut seen = tx
                .prepare("DELETE FROM file_missing WHERE file_id = ?1")
                .ctx("prepare seen again")?;
            for &k in &d.reset {
                seen.execute([known[k].id]).ctx("file seen again")?;
            }
        }
        let mut upd = tx
            .prepare(
                "UPDATE files SET size = ?2, mtime = ?3, fingerprint = NULL, codec = NULL,
                 width = NULL, height = NULL, duration_sec = NULL, audio_codec = NULL,
                 container = NULL, probe_status = NULL, probe_error = NULL WHERE id = ?1",
            )
            .ctx("prepare update")?;
        for &(k, w) in &d.modified {
            let w = &walked[w];
            upd.execute(params![known[k].id, w.size, w.mtime])
                .ctx("update modified file")?;
        }
        let mut mv = tx
            .prepare(
                "UPDATE files SET path = ?2, catalog = ?3, name = ?4, name_key = ?5, ext = ?6,
                 kind = ?7, mtime = ?8 WHERE id = ?1",
            )
            .ctx("prepare move")?;
        for &(k, w) in &d.moved {
            let w = &walked[w];
            let name = names::file_name(&w.path);
            let ext = names::extension(name);
            mv.execute(params![
                known[k].id,
                w.path,
                names::catalog(&w.path),
                name,
                names::name_key(name),
                ext,
                Kind::from_ext(&ext).as_str(),
                w.mtime
            ])
            .ctx("re-path moved file")?;
        }
        added_ids = insert_added(&tx, walked, &d.added, scan_id)?;
        let mut issue = tx
            .prepare(
                "INSERT INTO scan_issues (scan_id, path, kind, message) VALUES (?1, ?2, ?3, ?4)",
            )
            .ctx("prepare issue")?;
        for i in &report.warnings {
            let kind = serde_json::to_value(i.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            issue
                .execute(params![scan_id, i.path, kind, i.message])
                .ctx("record scan issue")?;
        }
    }
    crate::archive::record_scan_problems(
        &tx,
        scan_id,
        &times.finished,
        &report.warnings,
        report.scope.as_deref(),
    )?;
    // The match index's journal: records that went away, changed or moved (new ones it finds by
    // their ids, which only grow).
    let changed: Vec<i64> = d
        .removed
        .iter()
        .map(|&k| known[k].id)
        .chain(d.modified.iter().map(|&(k, _)| known[k].id))
        .chain(d.moved.iter().map(|&(k, _)| known[k].id))
        .collect();
    crate::archive::journal::record(
        &tx,
        &crate::archive::journal::Batch {
            files: &changed,
            ..Default::default()
        },
    )?;
    tx.commit().ctx("commit scan")?;
    Ok((scan_id, added_ids))
}

/// Rows per multi-row INSERT: one statement run per row costs about twice as much.
pub(super) const INSERT_BATCH: usize = 64;

/// Insert the new files in walk order, `INSERT_BATCH` rows per statement. An AUTOINCREMENT
/// INSERT gives the rows of one statement consecutive ids in VALUES order (each row's id is the
/// previous maximum + 1, and nothing else writes inside this transaction), so a batch's ids end
/// at `last_insert_rowid`. The first and last id are checked against the table; on a mismatch
/// `None` tells the caller to read the records back instead.
pub(super) fn insert_added(
    tx: &rusqlite::Transaction<'_>,
    walked: &[WalkedFile],
    added: &[usize],
    scan_id: i64,
) -> Result<Option<Vec<i64>>> {
    const COLS: usize = 9;
    let sql = |rows: usize| {
        let mut sql = String::from(
            // OR FAIL: a conflict ends the statement with an error (and the caller drops the
            // whole transaction) without the statement journal an ABORT needs per batch.
            "INSERT OR FAIL INTO files (path, catalog, name, name_key, ext, kind, size, mtime, first_seen) VALUES ",
        );
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str("(?,?,?,?,?,?,?,?,?)");
        }
        sql
    };
    let mut ids = Vec::with_capacity(added.len());
    let mut full = tx.prepare(&sql(INSERT_BATCH)).ctx("prepare insert")?;
    for chunk in added.chunks(INSERT_BATCH) {
        let mut tail;
        let stmt = if chunk.len() == INSERT_BATCH {
            &mut full
        } else {
            tail = tx.prepare(&sql(chunk.len())).ctx("prepare insert")?;
            &mut tail
        };
        for (row, &a) in chunk.iter().enumerate() {
            let w = &walked[a];
            let name = names::file_name(&w.path);
            let ext = names::extension(name);
            let kind = Kind::from_ext(&ext).as_str();
            let at = row * COLS;
            stmt.raw_bind_parameter(at + 1, w.path.as_str())
                .and_then(|()| stmt.raw_bind_parameter(at + 2, names::catalog(&w.path)))
                .and_then(|()| stmt.raw_bind_parameter(at + 3, name))
                .and_then(|()| stmt.raw_bind_parameter(at + 4, names::name_key(name)))
                .and_then(|()| stmt.raw_bind_parameter(at + 5, &ext))
                .and_then(|()| stmt.raw_bind_parameter(at + 6, kind))
                .and_then(|()| stmt.raw_bind_parameter(at + 7, w.size))
                .and_then(|()| stmt.raw_bind_parameter(at + 8, w.mtime))
                .and_then(|()| stmt.raw_bind_parameter(at + 9, scan_id))
                .ctx("insert new file")?;
        }
        stmt.raw_execute().ctx("insert new file")?;
        let last = tx.last_insert_rowid();
        let first = last - chunk.len() as i64 + 1;
        ids.extend(first..=last);
    }
    let check = |pos: usize| -> Result<bool> {
        let stored: i64 = tx
            .query_row(
                "SELECT id FROM files WHERE path = ?1",
                [&walked[added[pos]].path],
                |r| r.get(0),
            )
            .ctx("check new file ids")?;
        Ok(stored == ids[pos])
    };
    if ids.is_empty() || (check(0)? && check(ids.len() - 1)?) {
        Ok(Some(ids))
    } else {
        tracing::warn!(
            "새 파일 id가 연속되지 않아 다시 읽습니다 / new file ids are not consecutive; reading the records back"
        );
        Ok(None)
    }
}
