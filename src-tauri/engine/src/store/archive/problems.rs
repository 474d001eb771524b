//! The problems an operator should see until they go away: a scan's unreadable folders and
//! files and skipped names, and a sync's rows that could not be written to the Target. Each run
//! replaces the problems of its own kind within what it looked at (a scan: its scope; a sync:
//! every row it planned), so a problem stays listed exactly while it lasts, and keeps the time it
//! was first seen (`since`).

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::Archive;
use crate::error::{Result, SqlContext};
use crate::scan::{IssueKind, ScanIssue};
use crate::sync::SyncError;

/// Which run finds (and clears) a problem.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProblemOrigin {
    Scan,
    Sync,
}

/// What went wrong, as a code the screens turn into a sentence in the operator's language (the
/// English detail is in `message`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A folder could not be listed; its known files are kept.
    UnreadableDir,
    /// A file's size and time could not be read; it is skipped (a known file is kept).
    UnreadableFile,
    /// A name that is not valid UTF-8; skipped (with everything below it, for a folder).
    InvalidName,
    /// The Target refused the file's row (its owner's constraint or trigger, a lock…).
    SyncFailed,
}

impl ProblemKind {
    fn as_str(self) -> &'static str {
        match self {
            ProblemKind::UnreadableDir => "unreadable_dir",
            ProblemKind::UnreadableFile => "unreadable_file",
            ProblemKind::InvalidName => "invalid_name",
            ProblemKind::SyncFailed => "sync_failed",
        }
    }

    fn parse(s: &str) -> ProblemKind {
        match s {
            "unreadable_dir" => ProblemKind::UnreadableDir,
            "unreadable_file" => ProblemKind::UnreadableFile,
            "invalid_name" => ProblemKind::InvalidName,
            _ => ProblemKind::SyncFailed,
        }
    }
}

impl From<IssueKind> for ProblemKind {
    fn from(k: IssueKind) -> Self {
        match k {
            IssueKind::UnreadableDir => ProblemKind::UnreadableDir,
            IssueKind::UnreadableFile => ProblemKind::UnreadableFile,
            IssueKind::InvalidName => ProblemKind::InvalidName,
        }
    }
}

/// One problem, as `/api/problems` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Problem {
    pub id: i64,
    pub origin: ProblemOrigin,
    /// Relative to the archive root, `/`-separated.
    pub path: String,
    pub kind: ProblemKind,
    /// The detail in English (the OS's or the Target's own words).
    pub message: String,
    /// When it was first seen, ISO 8601 UTC (it has been there in every run since).
    pub since: String,
    /// The last run that saw it, ISO 8601 UTC.
    pub last_seen: String,
    /// The scan that last saw it (scan problems).
    pub scan_id: Option<i64>,
    /// The sync that last saw it (sync problems).
    pub sync_id: Option<i64>,
}

impl Problem {
    /// The folder a retry reads again: an unreadable folder itself, otherwise the folder the
    /// file (or skipped name) is in (`""`: the root, so a retry scans the whole share).
    pub fn retry_dir(&self) -> &str {
        match self.kind {
            ProblemKind::UnreadableDir => &self.path,
            _ => self.path.rsplit_once('/').map_or("", |(dir, _)| dir),
        }
    }
}

/// `/api/problems`: every problem that lasts, newest first.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ProblemList {
    pub items: Vec<Problem>,
    /// Problems in all (the list stops at [`MAX_LISTED_PROBLEMS`]).
    pub total: u64,
}

/// At most this many problems are listed; the total is always complete.
pub const MAX_LISTED_PROBLEMS: usize = 1_000;

/// Whether `path` is `dir` or below it (`""` is the whole archive).
fn under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Upsert `found` as the problems of `origin`, and remove that origin's problems that `in_scope`
/// says the run looked at and did not find again.
fn replace(
    tx: &Transaction<'_>,
    origin: ProblemOrigin,
    found: &[(String, ProblemKind, String)],
    now: &str,
    run: (Option<i64>, Option<i64>),
    in_scope: impl Fn(&str) -> bool,
) -> Result<()> {
    let origin_str = match origin {
        ProblemOrigin::Scan => "scan",
        ProblemOrigin::Sync => "sync",
    };
    let keep: HashSet<(&str, &str)> = found
        .iter()
        .map(|(p, k, _)| (p.as_str(), k.as_str()))
        .collect();
    let gone: Vec<i64> = {
        let mut stmt = tx
            .prepare("SELECT id, path, kind FROM problems WHERE origin = ?1")
            .ctx("read problems")?;
        let rows = stmt
            .query_map([origin_str], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .ctx("read problems")?;
        let mut gone = Vec::new();
        for row in rows {
            let (id, path, kind) = row.ctx("read problems")?;
            if in_scope(&path) && !keep.contains(&(path.as_str(), kind.as_str())) {
                gone.push(id);
            }
        }
        gone
    };
    let mut del = tx
        .prepare("DELETE FROM problems WHERE id = ?1")
        .ctx("clear problem")?;
    for id in gone {
        del.execute([id]).ctx("clear problem")?;
    }
    let mut up = tx
        .prepare(
            "INSERT INTO problems (origin, path, kind, message, since, last_seen, scan_id, sync_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)
             ON CONFLICT (origin, path, kind) DO UPDATE SET message = excluded.message,
             last_seen = excluded.last_seen, scan_id = excluded.scan_id,
             sync_id = excluded.sync_id",
        )
        .ctx("record problem")?;
    for (path, kind, message) in found {
        up.execute(params![
            origin_str,
            path,
            kind.as_str(),
            message,
            now,
            run.0,
            run.1
        ])
        .ctx("record problem")?;
    }
    Ok(())
}

/// A scan's issues, in the scan's own transaction: they replace the scan problems under its
/// scope (`None`: the whole archive).
pub(crate) fn record_scan_problems(
    tx: &Transaction<'_>,
    scan_id: i64,
    now: &str,
    issues: &[ScanIssue],
    scope: Option<&[String]>,
) -> Result<()> {
    let found: Vec<(String, ProblemKind, String)> = issues
        .iter()
        .map(|i| (i.path.clone(), i.kind.into(), i.message.clone()))
        .collect();
    replace(
        tx,
        ProblemOrigin::Scan,
        &found,
        now,
        (Some(scan_id), None),
        |path| scope.is_none_or(|dirs| dirs.iter().any(|d| under(path, d))),
    )
}

impl Archive {
    /// A sync's row errors replace the sync problems (a sync plans every file, so a row that is
    /// not failing now is fixed, or no longer wanted). A watcher's scoped plan covers only its
    /// change, but it runs only after a sync without row errors (one with errors leaves no plan
    /// base), so there is no sync problem outside its scope to lose.
    pub(crate) fn record_sync_problems(
        &mut self,
        sync_id: i64,
        now: &str,
        errors: &[SyncError],
    ) -> Result<()> {
        let found: Vec<(String, ProblemKind, String)> = errors
            .iter()
            .map(|e| (e.path.clone(), ProblemKind::SyncFailed, e.message.clone()))
            .collect();
        let tx = self.conn.transaction().ctx("record sync problems")?;
        replace(
            &tx,
            ProblemOrigin::Sync,
            &found,
            now,
            (None, Some(sync_id)),
            |_| true,
        )?;
        tx.commit().ctx("record sync problems")
    }

    /// Every problem that lasts, newest first (at most [`MAX_LISTED_PROBLEMS`]).
    pub fn problems(&self) -> Result<ProblemList> {
        if !has_problems_table(&self.conn)? {
            return Ok(ProblemList::default());
        }
        let total: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM problems", [], |r| r.get(0))
            .ctx("count problems")?;
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM problems ORDER BY since DESC, path LIMIT ?1"
            ))
            .ctx("read problems")?;
        let items = stmt
            .query_map([MAX_LISTED_PROBLEMS as i64], problem_row)
            .ctx("read problems")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("read problems")?;
        Ok(ProblemList {
            items,
            total: total as u64,
        })
    }

    /// One problem by its id (`None`: it has gone away, or never was).
    pub fn problem(&self, id: i64) -> Result<Option<Problem>> {
        if !has_problems_table(&self.conn)? {
            return Ok(None);
        }
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM problems WHERE id = ?1"),
                [id],
                problem_row,
            )
            .optional()
            .ctx("read problem")
    }

    /// How many problems last (0 for an archive.db from before the problem list).
    pub fn problem_count(&self) -> Result<u64> {
        if !has_problems_table(&self.conn)? {
            return Ok(0);
        }
        self.conn
            .query_row("SELECT COUNT(*) FROM problems", [], |r| r.get::<_, i64>(0))
            .ctx("count problems")
            .map(|n| n as u64)
    }
}

const COLUMNS: &str = "id, origin, path, kind, message, since, last_seen, scan_id, sync_id";

/// A row of [`COLUMNS`].
fn problem_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Problem> {
    Ok(Problem {
        id: r.get(0)?,
        origin: if r.get::<_, String>(1)? == "sync" {
            ProblemOrigin::Sync
        } else {
            ProblemOrigin::Scan
        },
        path: r.get(2)?,
        kind: ProblemKind::parse(&r.get::<_, String>(3)?),
        message: r.get(4)?,
        since: r.get(5)?,
        last_seen: r.get(6)?,
        scan_id: r.get(7)?,
        sync_id: r.get(8)?,
    })
}

/// A read-only archive.db of an older schema has no problem table (nothing to list).
fn has_problems_table(conn: &Connection) -> Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'problems'",
        [],
        |_| Ok(()),
    )
    .optional()
    .ctx("problems table")
    .map(|found| found.is_some())
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn a_path_is_under_its_folders_and_not_under_a_sibling_with_the_same_prefix() {
        assert!(under("WSOP/2024/a.mp4", "WSOP"));
        assert!(under("WSOP", "WSOP"));
        assert!(under("anything", ""));
        assert!(!under("WSOP2/a.mp4", "WSOP"));
        assert!(!under("HCL/a.mp4", "WSOP"));
    }
}
