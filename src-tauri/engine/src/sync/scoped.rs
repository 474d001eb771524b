//! The watcher's scoped plan: plan only the name groups of what changed since the last
//! converged sync, instead of every Source file and every Target row.
//!
//! A full plan reads all of archive.db and pokervod.db (at 1M files: 2.6 s, 1.8 s, then 2.7 s
//! to plan), which is too slow for a file created on the share to reach the screens within
//! seconds. But after a sync that left the Target exactly as the rules want it (see
//! [`crate::archive::PlanBase`]), every active row is claimed by the primary at its own path and
//! linked to it, and a change can only move claims inside the name groups it touches. So the
//! plan's inputs can be the closure of the change:
//!
//! - **seeds**: the records below the scanned directories, the records named by every journal
//!   batch since the base, the records added since (ids only grow), and the files the base
//!   held back as still being copied (and the rows they keep);
//! - the Target rows below the scanned directories (a removed file's row is at its path), at
//!   the seeds' paths, and linked to them;
//! - then, until nothing new appears: every record of a name key of those files or rows, and
//!   the rows at its path or linked to it.
//!
//! On that closure [`rules::plan`] decides exactly what it would decide on everything (the
//! test `scoped_plan.rs` checks it against the full plan on random changes). Whenever the base
//! cannot be trusted the answer is a reason, and the sync plans on everything: no base (a
//! refused or failed sync, a WAL-mode Target), other rules than the base's (a format made
//! eligible, the HLS filter turned off), another stamp on the Target (someone else
//! committed, or it is another file), a gap or a `rebuild` in the journal, a record removed
//! outside the scanned directories, or a closure too large to be worth it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use crate::archive::{Archive, FileRecord, PlanBase, journal};
use crate::error::Result;
use crate::names;
use crate::target::{Target, TargetRow};

/// Above this many records or rows, a scoped plan falls back to the full one (which is then
/// about as fast, and a change that wide is a reorganisation).
pub const MAX_SCOPED: usize = 50_000;

/// Above this many held files, a sync leaves no base (the next plan is a full one).
pub const MAX_HELD_IN_BASE: usize = 10_000;

/// The closure of a change: what the scoped plan plans on.
#[derive(Debug)]
pub struct ScopedInputs {
    /// The records of the closure, by path.
    pub files: Vec<FileRecord>,
    /// The Target rows of the closure, by id.
    pub rows: Vec<TargetRow>,
    /// The base the closure was taken from.
    pub base: PlanBase,
    /// The last journal batch the closure includes (the next base's `journal_seq`).
    pub journal_seq: i64,
    /// Every record id up to this one is in the base or in the closure.
    pub max_file_id: i64,
}

/// The closure of the change below `dirs` (the directories this job's partial scan walked) and
/// of everything journalled since the base; `Err(reason)` when the sync must plan on everything.
/// `own`: the journal batches of this job's scan, after the first number up to the second
/// (records they removed lie below `dirs`; any other batch that removed one ends the scoped
/// plan). `target` is open and has not begun a transaction.
pub fn inputs(
    archive: &Archive,
    target: &Target,
    target_path: &Path,
    dirs: &[String],
    own: (i64, i64),
    rules: &crate::rules::Rules,
) -> Result<std::result::Result<ScopedInputs, &'static str>> {
    let conn = archive.conn();
    let Some(base) = crate::archive::plan_base::read(conn)? else {
        return Ok(Err("no converged sync to start from"));
    };
    if base.rules != rules.key() {
        return Ok(Err("the sync rules changed since the last sync"));
    }
    if crate::store::sqlite::file_identity(target_path) != base.target_file {
        return Ok(Err("another pokervod.db than the last sync's"));
    }
    let stamp = crate::store::sqlite::file_stamp(target_path);
    if stamp.wal || stamp.text != base.target_stamp {
        return Ok(Err("pokervod.db changed since the last sync"));
    }
    if !target.has_path_index()? {
        return Ok(Err("pokervod.db has no index on nas_path"));
    }
    let Some(batches) = journal::batches_after(conn, base.journal_seq)? else {
        return Ok(Err("journal gap"));
    };
    let mut journal_seq = base.journal_seq;
    let mut named: BTreeSet<i64> = BTreeSet::new();
    let mut foreign: HashSet<i64> = HashSet::new();
    for b in &batches {
        journal_seq = b.seq;
        if b.seq == base.own_seq {
            continue;
        }
        if b.rebuild || b.target.is_some() || !b.rows.is_empty() {
            // A rebuild names nothing; a sync's batch means another sync wrote the Target.
            return Ok(Err("journal names a rebuild or another sync"));
        }
        if b.seq <= own.0 || b.seq > own.1 {
            foreign.extend(&b.files);
        }
        named.extend(&b.files);
    }
    if named.len() > MAX_SCOPED {
        return Ok(Err("too many changes"));
    }
    let new_ids = archive.file_ids_after(base.max_file_id, MAX_SCOPED + 1)?;
    if new_ids.len() > MAX_SCOPED {
        return Ok(Err("too many new files"));
    }
    let max_file_id = new_ids.last().copied().unwrap_or(base.max_file_id);

    let mut closure = Closure::default();
    let named: Vec<i64> = named.into_iter().collect();
    let existing = archive.files_by_ids(&named)?;
    let found: HashSet<i64> = existing.iter().map(|f| f.id).collect();
    if foreign.iter().any(|id| !found.contains(id)) {
        // Its row's path is unknown: only a record removed below `dirs` is found by its row.
        return Ok(Err("a record was removed outside the scanned directories"));
    }
    closure.add_files(existing);
    closure.add_files(archive.files_by_ids(&new_ids)?);
    closure.add_files(archive.files_by_ids(&base.held)?);
    closure.add_rows(target.rows_by_ids(&base.held_rows)?);
    closure.add_files(archive.load_files_under(dirs)?);
    closure.add_rows(target.rows_under(dirs)?);
    for _round in 0..8 {
        // Rows of the files found last round: at their paths, and linked to them. The rows at
        // paths below `dirs` were all read above, and a row gathered already needs no read.
        let fresh = std::mem::take(&mut closure.fresh_files);
        let prefixes: Vec<String> = dirs.iter().map(|d| format!("{d}/")).collect();
        let paths: Vec<&str> = fresh
            .iter()
            .map(|&i| closure.files[i].path.as_str())
            .filter(|p| !prefixes.iter().any(|d| p.starts_with(d.as_str())))
            .collect();
        let at_paths = target.rows_at_paths(paths)?;
        let linked: Vec<i64> = fresh
            .iter()
            .filter_map(|&i| closure.files[i].target_id)
            .filter(|id| !closure.row_ids.contains(id))
            .collect();
        closure.add_rows(at_paths);
        closure.add_rows(target.rows_by_ids(&linked)?);
        // Name groups not looked at yet, of files and rows alike.
        let keys = closure.new_keys();
        if keys.is_empty() {
            let Closure {
                mut files,
                mut rows,
                ..
            } = closure;
            files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
            rows.sort_unstable_by_key(|r| r.id);
            return Ok(Ok(ScopedInputs {
                files,
                rows,
                base,
                journal_seq,
                max_file_id,
            }));
        }
        if closure.files.len() > MAX_SCOPED || closure.rows.len() > MAX_SCOPED {
            return Ok(Err("the change reaches too many files"));
        }
        closure.add_files(archive.files_by_name_keys(keys.iter().map(String::as_str))?);
    }
    Ok(Err("the change does not close"))
}

/// The closure being gathered: records and rows by id, and what is new since the last round.
#[derive(Default)]
struct Closure {
    files: Vec<FileRecord>,
    file_ids: HashMap<i64, usize>,
    rows: Vec<TargetRow>,
    row_ids: HashSet<i64>,
    keys: HashSet<String>,
    /// Indexes of the records added since their rows were looked up.
    fresh_files: Vec<usize>,
    /// Indexes of the rows added since their name keys were taken.
    fresh_rows: Vec<usize>,
    /// Indexes of the records added since their name keys were taken.
    unkeyed_files: Vec<usize>,
}

impl Closure {
    fn add_files(&mut self, files: Vec<FileRecord>) {
        for f in files {
            if self.file_ids.contains_key(&f.id) {
                continue;
            }
            let i = self.files.len();
            self.file_ids.insert(f.id, i);
            self.files.push(f);
            self.fresh_files.push(i);
            self.unkeyed_files.push(i);
        }
    }

    fn add_rows(&mut self, rows: Vec<TargetRow>) {
        for r in rows {
            if self.row_ids.insert(r.id) {
                self.fresh_rows.push(self.rows.len());
                self.rows.push(r);
            }
        }
    }

    /// The name keys of the records and rows added since the last call that were not seen.
    fn new_keys(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let files = std::mem::take(&mut self.unkeyed_files);
        let rows = std::mem::take(&mut self.fresh_rows);
        let keys = files
            .iter()
            .map(|&i| names::name_key(self.files[i].name()))
            .chain(
                rows.iter()
                    .map(|&i| names::name_key(names::file_name_any_sep(&self.rows[i].nas_path))),
            );
        for k in keys {
            if self.keys.insert(k.clone()) {
                out.push(k);
            }
        }
        out
    }
}
