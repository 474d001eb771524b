//! The apply: the plan written to the Target in one IMMEDIATE transaction (planned again if
//! another program committed in between), with the run's write-ahead record in archive.db.

use super::*;

pub(super) struct ApplyContext<'a> {
    pub(super) plan: &'a Plan,
    pub(super) files: &'a [FileRecord],
    pub(super) rules: &'a Rules,
    pub(super) started: &'a str,
    /// The time written to the Target's `updated_at` / `created_at` / `deleted_at`.
    pub(super) applied_at: &'a str,
    pub(super) forced: bool,
    pub(super) totals: SyncTotals,
}

pub(super) struct Applied {
    pub(super) run_id: i64,
    /// Target ids of inserted files, by file index.
    pub(super) ids: NewIds,
    pub(super) errors: Vec<SyncError>,
    /// The links are written, in archive.db's open transaction (see [`Archive::stage_links`]).
    pub(super) links_staged: bool,
}

/// Apply the plan in one Target transaction. `Ok(None)`: the Target changed since `version`.
///
/// Order of commits (the invariant the crash test checks): the Target transaction is opened, the
/// ids of new rows are fixed, the run and its history are committed to archive.db as `pending`,
/// then the Target commits. A crash before the Target commit leaves a pending run that the next
/// run discards; a crash after it leaves one the next run keeps (see [`settle_pending_runs`]).
pub(super) fn apply_target(
    target: &mut Target,
    archive: &mut Archive,
    ctx: &ApplyContext<'_>,
    version: i64,
) -> Result<Option<Applied>> {
    let (plan, files, now) = (ctx.plan, ctx.files, ctx.applied_at);
    let busy_secs = target.busy_timeout_secs();
    if plan.actions.is_empty() {
        let run_id = archive.begin_run(
            ctx.started,
            now,
            ctx.forced,
            &ctx.totals,
            std::iter::empty(),
        )?;
        return Ok(Some(Applied {
            run_id,
            ids: NewIds::default(),
            errors: Vec::new(),
            links_staged: false,
        }));
    }
    let timer = Instant::now();
    let tx = target.begin_immediate()?;
    let current: i64 = tx
        .pragma_query_value(None, "data_version", |r| r.get(0))
        .ctx("pokervod.db data_version")?;
    if current != version {
        return Ok(None);
    }
    // New rows get the ids SQLite would give them (after the largest id, or the AUTOINCREMENT
    // sequence), fixed now so that the write-ahead history can name them.
    let max_id: i64 = tx
        .query_row("SELECT COALESCE(MAX(id), 0) FROM files", [], |r| r.get(0))
        .ctx("pokervod.db max id")?;
    let seq: i64 = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'files'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    let mut next_id = max_id.max(seq);
    let mut ids = NewIds(Vec::new());
    for a in &plan.actions {
        if let Action::Insert { file } = a {
            if ids.0.is_empty() {
                ids.0 = vec![0; files.len()];
            }
            next_id += 1;
            ids.0[*file] = next_id;
        }
    }
    // The write-ahead history (archive.db) and the Target rows (pokervod.db) are written at the
    // same time, on two threads: two files, two connections, two cores. The Target commits only
    // after the history has committed (the join below), so the order of commits is unchanged.
    let (history, written) = std::thread::scope(|scope| {
        let history = scope.spawn(|| {
            let run_id = archive.begin_run(
                ctx.started,
                now,
                ctx.forced,
                &ctx.totals,
                plan.actions.iter().map(|a| history_entry(a, files, &ids)),
            );
            // Phase times below are since the Target transaction began (`ms`).
            tracing::debug!(
                entries = plan.actions.len(),
                ms = timer.elapsed().as_millis() as u64,
                "write-ahead history committed"
            );
            // This thread is done before the Target's: it writes the links as well, in a
            // transaction committed after the Target's (rows that fail undo the staging below).
            let staged = run_id.is_ok() && {
                let (links, unlinked) = new_links(plan, files, &ids, &HashSet::new());
                match archive.stage_links(&links, &unlinked) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::debug!(error = %e, "links not staged; written after the commit");
                        false
                    }
                }
            };
            tracing::debug!(
                staged,
                ms = timer.elapsed().as_millis() as u64,
                "links staged"
            );
            (run_id, staged)
        });
        let written = write_target(&tx, ctx, &ids, busy_secs);
        tracing::debug!(
            ms = timer.elapsed().as_millis() as u64,
            "Target rows written"
        );
        // A panic there is a panic here (the Target transaction rolls back as it unwinds).
        let history = history
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (history, written)
    });
    // No history, no Target commit.
    let (run_id, mut links_staged) = history;
    let run_id = match run_id {
        Ok(id) => id,
        Err(e) => {
            rollback_target(tx);
            return Err(e);
        }
    };
    // Links staged for rows that then failed would be wrong: they are written after the
    // commit instead, from what was applied.
    if links_staged && !written.as_ref().is_ok_and(|errors| errors.is_empty()) {
        archive.unstage_links();
        links_staged = false;
    }
    let committed = written.and_then(|errors| {
        tx.execute_batch("COMMIT").map(|()| errors).map_err(|e| {
            if crate::target::is_busy(&e) {
                Error::TargetBusy { secs: busy_secs }
            } else {
                Error::Sqlite {
                    context: "pokervod.db 커밋 실패로 동기화를 취소했습니다(적용된 변경 없음) / commit pokervod.db failed; the sync was rolled back and nothing was applied".into(),
                    source: e,
                }
            }
        })
    });
    // A failed write or commit: roll back explicitly (SQLite may keep the transaction open
    // after a disk-full or I/O error), then forget the write-ahead run.
    if committed.is_err() {
        rollback_target(tx);
    }
    match committed {
        Ok(errors) => Ok(Some(Applied {
            run_id,
            ids,
            errors,
            links_staged,
        })),
        Err(e) => {
            archive.discard_run(run_id)?;
            Err(e)
        }
    }
}

/// `ROLLBACK` of the Target transaction unless SQLite already ended it (a fatal error or a
/// trigger's RAISE(ROLLBACK) may have; a successful `COMMIT` has).
pub(super) fn rollback_target(tx: rusqlite::Transaction<'_>) {
    if tx.is_autocommit() {
        return;
    }
    if let Err(e) = tx.rollback() {
        tracing::warn!(error = %e, "pokervod.db rollback");
    }
}

/// The message of a row the Target did not take although its statement succeeded.
pub(super) const DROPPED: &str = "pokervod.db가 이 변경을 반영하지 않았습니다(소유자 스키마의 트리거가 무시함) / \
     pokervod.db did not apply this change: 0 rows changed (a trigger of the owner's schema ignored it)";

/// The plan's writes inside the open Target transaction; returns the rows that failed on their
/// own (the rest of the sync goes on without them).
///
/// Every write names its conflict resolution (`OR ABORT`): the statement's clause overrides the
/// owner's schema (`UNIQUE ON CONFLICT REPLACE` would physically delete the row in the way) and
/// its triggers' statements. A statement that succeeds but changes no row (a BEFORE trigger's
/// RAISE(IGNORE)) is a failed row too, so that no history or link names a row not written.
pub(super) fn write_target(
    tx: &rusqlite::Transaction<'_>,
    ctx: &ApplyContext<'_>,
    ids: &NewIds,
    busy_secs: u64,
) -> Result<Vec<SyncError>> {
    let (plan, files, rules, now) = (ctx.plan, ctx.files, ctx.rules, ctx.applied_at);
    let mut errors: Vec<SyncError> = Vec::new();
    let mut upd = tx
        .prepare_cached(
            "UPDATE OR ABORT files SET nas_path = ?2, filename = ?3, catalog = ?4, format = ?5,
             size_bytes = ?6, hls_compatible = ?7, status = 'active', deleted_at = NULL,
             updated_at = ?8,
             codec = CASE WHEN ?13 THEN ?9 ELSE COALESCE(?9, codec) END,
             width = CASE WHEN ?13 THEN ?10 ELSE COALESCE(?10, width) END,
             height = CASE WHEN ?13 THEN ?11 ELSE COALESCE(?11, height) END,
             duration_sec = CASE WHEN ?13 THEN ?12 ELSE COALESCE(?12, duration_sec) END
             WHERE id = ?1",
        )
        .ctx("prepare Target update")?;
    let mut del = tx
        .prepare_cached(
            "UPDATE OR ABORT files SET status = 'deleted', deleted_at = ?2, updated_at = ?2
             WHERE id = ?1 AND status = 'active'",
        )
        .ctx("prepare Target delete")?;
    let mut ins = tx
        .prepare_cached(
            "INSERT OR ABORT INTO files (id, nas_path, filename, catalog, format, size_bytes,
             hls_compatible, status, created_at, updated_at, codec, width, height, duration_sec)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, ?8, ?9, ?10, ?11, ?12)",
        )
        .ctx("prepare Target insert")?;
    // Classify a failed statement: stop the sync, or note the row and go on.
    let failure = |e: rusqlite::Error, path: &str, errors: &mut Vec<SyncError>| -> Result<()> {
        if crate::target::is_busy(&e) {
            return Err(Error::TargetBusy { secs: busy_secs });
        }
        // A trigger's RAISE(ROLLBACK) ended the whole transaction: stop at once, or later
        // statements would commit one by one.
        if tx.is_autocommit() {
            return Err(Error::Sqlite {
                context: format!("pokervod.db rolled back the sync at {path}; nothing was applied"),
                source: e,
            });
        }
        // The disk, the file or memory failed (full, I/O, read-only, corrupt): the sync stops
        // and applies nothing rather than commit what happened to get through.
        if crate::target::is_fatal(&e) {
            return Err(Error::Sqlite {
                context: format!(
                    "pokervod.db 오류로 동기화 전체를 취소했습니다(적용된 변경 없음) / pokervod.db failed at {path}; the sync was rolled back and nothing was applied"
                ),
                source: e,
            });
        }
        // A failed statement is rolled back on its own; the rest of the sync goes on.
        errors.push(SyncError {
            path: path.to_string(),
            message: e.to_string(),
        });
        Ok(())
    };
    let mut insert_one = |file: usize, errors: &mut Vec<SyncError>| -> Result<()> {
        let f = &files[file];
        let format = rules::format(f);
        let res = ins.execute(params![
            ids.get(file),
            f.path,
            f.name(),
            f.catalog(),
            format,
            f.size,
            rules.is_hls(&format),
            now,
            f.media.codec,
            f.media.width,
            f.media.height,
            f.media.duration_sec
        ]);
        match res {
            Ok(0) => {
                errors.push(SyncError {
                    path: f.path.clone(),
                    message: DROPPED.into(),
                });
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => failure(e, &f.path, errors),
        }
    };
    let mut present = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM files WHERE id = ?1 AND nas_path = ?2)")
        .ctx("prepare Target check")?;
    let mut multi: Option<rusqlite::CachedStatement<'_>> = None;
    let mut batch: Vec<usize> = Vec::with_capacity(INSERT_ROWS_PER_STATEMENT);
    // Inserts go INSERT_ROWS_PER_STATEMENT rows to a statement. If one of them fails, SQLite
    // undoes that statement alone, and its rows are replayed one by one so that only the bad
    // row is reported. Rows that are in after all (a trigger's RAISE(FAIL) keeps the rows
    // before it; RAISE(IGNORE) drops one and keeps the rest) are not replayed.
    let mut flush = |batch: &mut Vec<usize>, errors: &mut Vec<SyncError>| -> Result<()> {
        if batch.len() < INSERT_ROWS_PER_STATEMENT {
            for &file in batch.iter() {
                insert_one(file, errors)?;
            }
            batch.clear();
            return Ok(());
        }
        let stmt = match &mut multi {
            Some(s) => s,
            None => multi.insert(
                tx.prepare_cached(&multi_insert_sql(INSERT_ROWS_PER_STATEMENT))
                    .ctx("prepare Target insert")?,
            ),
        };
        stmt.raw_bind_parameter(1, now).ctx("Target insert")?;
        for (k, &file) in batch.iter().enumerate() {
            let f = &files[file];
            let format = rules::format(f);
            let p = 2 + k * 11;
            let mut bind = || -> rusqlite::Result<()> {
                stmt.raw_bind_parameter(p, ids.get(file))?;
                stmt.raw_bind_parameter(p + 1, &f.path)?;
                stmt.raw_bind_parameter(p + 2, f.name())?;
                stmt.raw_bind_parameter(p + 3, f.catalog())?;
                stmt.raw_bind_parameter(p + 4, format.as_ref())?;
                stmt.raw_bind_parameter(p + 5, f.size)?;
                stmt.raw_bind_parameter(p + 6, rules.is_hls(&format))?;
                stmt.raw_bind_parameter(p + 7, f.media.codec.as_deref())?;
                stmt.raw_bind_parameter(p + 8, f.media.width)?;
                stmt.raw_bind_parameter(p + 9, f.media.height)?;
                stmt.raw_bind_parameter(p + 10, f.media.duration_sec)
            };
            bind().ctx("Target insert")?;
        }
        match stmt.raw_execute() {
            Ok(n) if n == batch.len() => {}
            res => {
                if let Err(e) = res
                    && (crate::target::is_busy(&e)
                        || crate::target::is_fatal(&e)
                        || tx.is_autocommit())
                {
                    return failure(e, &files[batch[0]].path, errors);
                }
                for &file in batch.iter() {
                    let f = &files[file];
                    let written: bool = present
                        .query_row(params![ids.get(file), f.path], |r| r.get(0))
                        .map_err(|e| {
                            if crate::target::is_busy(&e) {
                                Error::TargetBusy { secs: busy_secs }
                            } else {
                                Error::Sqlite {
                                    context: "check Target insert".into(),
                                    source: e,
                                }
                            }
                        })?;
                    if !written {
                        insert_one(file, errors)?;
                    }
                }
            }
        }
        batch.clear();
        Ok(())
    };
    for a in &plan.actions {
        let res = match a {
            Action::Update {
                row,
                file,
                replace_media,
                ..
            } => {
                let d = rules::desired(&files[*file], rules);
                upd.execute(params![
                    row,
                    d.nas_path,
                    d.filename,
                    d.catalog,
                    d.format,
                    d.size_bytes,
                    d.hls_compatible,
                    now,
                    d.codec,
                    d.width,
                    d.height,
                    d.duration_sec,
                    replace_media
                ])
            }
            Action::Delete { row, .. } => del.execute(params![row, now]),
            Action::Insert { file } => {
                batch.push(*file);
                if batch.len() == INSERT_ROWS_PER_STATEMENT {
                    flush(&mut batch, &mut errors)?;
                }
                continue;
            }
        };
        match res {
            Ok(0) => errors.push(SyncError {
                path: action_path(a, files).to_string(),
                message: DROPPED.into(),
            }),
            Ok(_) => {}
            Err(e) => failure(e, action_path(a, files), &mut errors)?,
        }
    }
    flush(&mut batch, &mut errors)?;
    Ok(errors)
}

/// Target rows per INSERT statement (11 parameters a row plus the shared time).
pub(super) const INSERT_ROWS_PER_STATEMENT: usize = 64;

/// `INSERT OR ABORT INTO files … VALUES (…), (…), …` for `rows` rows; ?1 is the time shared by all.
pub(super) fn multi_insert_sql(rows: usize) -> String {
    crate::archive::values_sql(
        "INSERT OR ABORT INTO files (id, nas_path, filename, catalog, format, size_bytes,
         hls_compatible, status, created_at, updated_at, codec, width, height, duration_sec)
         VALUES ",
        rows,
        2,
        "(#, #, #, #, #, #, #, 'active', ?1, ?1, #, #, #, #)",
    )
}
