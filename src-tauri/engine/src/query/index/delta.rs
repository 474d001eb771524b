//! The incremental update: the items of the Source records and Target rows a job changed, and
//! of everything whose verdict they can change, are computed again and rewritten in place.
//!
//! The rules decide one name group at a time, and groups meet only through Target rows, so
//! the verdicts of a *closed* set of records are the full plan's verdicts restricted to it. The
//! set starts from the changed records and is closed over these relations, each followed as
//! it is now (the live databases) and as the index last saw it (its items):
//! - a file and the rows at its path (rule (a): the row at a primary's path; a row at a file's
//!   path is not an orphan);
//! - a file and the row it is linked to (rule (b)), and the row its item holds;
//! - a file that takes part in a name group (eligible, or held as still being copied) and its
//!   group; a group and its unclaimed active rows (rule (c): orphans re-pointed to the
//!   group's primary);
//! - a row and the file at its path, the file whose item holds it, and the files linked to it.
//!
//! A row held through (a) or (b) by a file outside the set keeps its holder: a contender for it
//! would have to be at its path or linked to it, and would bring it in. Items outside the set
//! keep their verdicts: nothing they depend on changed.
//!
//! What the set's old items counted is subtracted (status counts, directory counts, the
//! dashboard's numbers, the digests) and what its new items count is added; new items take an
//! id between their neighbours in path order (their old id when it still fits).

use std::cmp::Ordering;
use std::collections::VecDeque;

use rusqlite::{OptionalExtension, Transaction, params};
use rustc_hash::{FxHashMap, FxHashSet};

use super::search::{Entry, Patch};
use super::tables::{CAT_GAP, GAP, INSERT_ITEM, ItemRow, insert_item, key_hash, row_key};
use super::verdicts::{self, Built, Counts, Stats, Status};
use super::{search_key, split_dir};
use crate::archive::{Archive, FileRecord};
use crate::error::{Result, SqlContext};
use crate::names::{self, Kind};
use crate::rules::{Hold, Rules};
use crate::target::{Target, TargetRow};

/// A new item inserted after a neighbour takes an id this far on (or half the room, if less):
/// files added one after another at one place use the room up slowly.
const STEP: i64 = 1 << 20;

/// The records a job changed.
#[derive(Debug, Default, Clone)]
pub(super) struct Seeds {
    pub(super) files: FxHashSet<i64>,
    pub(super) rows: FxHashSet<i64>,
}

impl Seeds {
    pub(super) fn len(&self) -> usize {
        self.files.len() + self.rows.len()
    }
    pub(super) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.rows.is_empty()
    }
}

/// The numbers kept with the index that an update changes.
#[derive(Debug, Clone, Default)]
pub(super) struct Sums {
    pub(super) stats: Stats,
    pub(super) files_digest: u64,
    pub(super) rows_digest: u64,
}

/// How an update ended.
pub(super) enum Delta {
    /// Written (inside the caller's transaction): the search columns' patch and how many
    /// items were written.
    Done { patch: Patch, items: usize },
    /// The update cannot be done in place (a new catalog, no room between two ids, too many
    /// records): the caller rebuilds. The transaction may hold partial writes; a rebuild
    /// rewrites every table.
    Rebuild(String),
}

enum Node {
    File(i64),
    Row(i64),
    Key(i64),
}

/// The live databases, as they are now (both read inside one read transaction each).
pub(super) struct Live<'a> {
    pub(super) archive: Option<&'a Archive>,
    pub(super) target: Option<&'a Target>,
}

/// Whether the rules put `f` in a name group: eligible, or held as still being copied (a held
/// file is judged by its name alone, so only a codec verdict makes way for the hold).
fn in_group(f: &FileRecord, rules: &Rules, hold: &Hold) -> bool {
    match rules.ineligible_reason(f) {
        None => true,
        Some((_, code)) => code == "codec_not_hls" && hold.holds(f),
    }
}

/// A Source file's item as the index last saw it: (row it holds, link, name key, path).
type FileItem = (Option<i64>, Option<i64>, Option<i64>, String);

/// The closed set of records around `seeds` (see the module doc), live values loaded.
struct Closure<'t, 'a> {
    tx: &'t Transaction<'t>,
    live: &'a Live<'a>,
    rules: &'a Rules,
    hold: &'a Hold,
    files: FxHashMap<i64, Option<FileRecord>>,
    rows: FxHashMap<i64, Option<TargetRow>>,
    keys: FxHashSet<i64>,
    queue: VecDeque<Node>,
}

impl Closure<'_, '_> {
    fn add_file(&mut self, id: i64) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.files.entry(id) {
            e.insert(None);
            self.queue.push_back(Node::File(id));
        }
    }
    fn add_row(&mut self, id: i64) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.rows.entry(id) {
            e.insert(None);
            self.queue.push_back(Node::Row(id));
        }
    }
    fn add_key(&mut self, key: i64) {
        if self.keys.insert(key) {
            self.queue.push_back(Node::Key(key));
        }
    }

    fn rows_at(&mut self, path: &str) -> Result<()> {
        if let Some(t) = self.live.target {
            for id in t.row_ids_at(path)? {
                self.add_row(id);
            }
        }
        Ok(())
    }

    fn file_at(&mut self, path: &str) -> Result<()> {
        if let Some(a) = self.live.archive
            && let Some(id) = a.file_id_at(path)?
        {
            self.add_file(id);
        }
        Ok(())
    }

    /// Close the set; `false` when it grew past `limit` records.
    fn close(&mut self, limit: usize) -> Result<bool> {
        while let Some(node) = self.queue.pop_front() {
            if self.files.len() + self.rows.len() > limit {
                return Ok(false);
            }
            match node {
                Node::File(id) => self.visit_file(id)?,
                Node::Row(id) => self.visit_row(id)?,
                Node::Key(key) => self.visit_key(key)?,
            }
        }
        Ok(true)
    }

    fn visit_file(&mut self, id: i64) -> Result<()> {
        let live = match self.live.archive {
            Some(a) => a.files_by_ids(&[id])?.pop(),
            None => None,
        };
        if let Some(f) = &live {
            self.rows_at(&f.path)?;
            if let Some(t) = f.target_id {
                self.add_row(t);
            }
            if in_group(f, self.rules, self.hold) {
                self.add_key(key_hash(&names::name_key(f.name())));
            }
        }
        let old: Option<FileItem> = self
            .tx
            .prepare_cached("SELECT target_id, link, nkey, path FROM items WHERE source_id = ?1")
            .and_then(|mut st| {
                st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .optional()
            })
            .ctx("index: the file's item")?;
        if let Some((target, link, nkey, path)) = old {
            for r in target.into_iter().chain(link) {
                self.add_row(r);
            }
            if let Some(k) = nkey {
                self.add_key(k);
            }
            if live.as_ref().is_none_or(|f| f.path != path) {
                self.rows_at(&path)?;
            }
        }
        self.files.insert(id, live);
        Ok(())
    }

    fn visit_row(&mut self, id: i64) -> Result<()> {
        let live = match self.live.target {
            Some(t) => t.row_by_id(id)?,
            None => None,
        };
        if let Some(r) = &live {
            self.file_at(&r.nas_path)?;
            if r.active {
                self.add_key(key_hash(&row_key(&r.nas_path)));
            }
        }
        let old: Vec<(Option<i64>, String)> = {
            let mut st = self
                .tx
                .prepare_cached(
                    "SELECT source_id, coalesce(t_path, path) FROM items WHERE target_id = ?1",
                )
                .ctx("index: the row's item")?;
            let rows = st
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .ctx("index: the row's item")?;
            rows.collect::<rusqlite::Result<_>>()
                .ctx("index: the row's item")?
        };
        for (source, path) in old {
            if let Some(s) = source {
                self.add_file(s);
            }
            if live.as_ref().is_none_or(|r| r.nas_path != path) {
                self.file_at(&path)?;
            }
        }
        let linked: Vec<i64> = {
            let mut st = self
                .tx
                .prepare_cached("SELECT source_id FROM items WHERE link = ?1")
                .ctx("index: files linked to the row")?;
            let rows = st
                .query_map([id], |r| r.get(0))
                .ctx("index: files linked to the row")?;
            rows.collect::<rusqlite::Result<_>>()
                .ctx("index: files linked to the row")?
        };
        for f in linked {
            self.add_file(f);
        }
        self.rows.insert(id, live);
        Ok(())
    }

    fn visit_key(&mut self, key: i64) -> Result<()> {
        let members: Vec<(Option<i64>, Option<i64>)> = {
            let mut st = self
                .tx
                .prepare_cached("SELECT source_id, target_id FROM items WHERE nkey = ?1")
                .ctx("index: a name group")?;
            let rows = st
                .query_map([key], |r| Ok((r.get(0)?, r.get(1)?)))
                .ctx("index: a name group")?;
            rows.collect::<rusqlite::Result<_>>()
                .ctx("index: a name group")?
        };
        for (source, target) in members {
            match (source, target) {
                (Some(f), _) => self.add_file(f),
                (None, Some(r)) => self.add_row(r),
                (None, None) => {}
            }
        }
        Ok(())
    }
}

/// What an item is the item of: a Source file (whatever row it holds), or a Target row no file
/// holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Identity {
    Source(i64),
    TargetOnly(i64),
}

impl Identity {
    fn of(source: Option<i64>, target: Option<i64>) -> Option<Identity> {
        match (source, target) {
            (Some(s), _) => Some(Identity::Source(s)),
            (None, Some(t)) => Some(Identity::TargetOnly(t)),
            (None, None) => None,
        }
    }
}

/// An old item, as much of it as its removal needs.
struct OldItem {
    id: i64,
    status: Status,
    catalog: i64,
    dir: i64,
    size: i64,
    path: String,
    source_id: Option<i64>,
    target_id: Option<i64>,
    warning: bool,
    t_active: bool,
    t_format: Option<String>,
    s_hash: Option<i64>,
    t_hash: Option<i64>,
}

const OLD_COLUMNS: &str = "id, status, catalog, dir_id, size, path, source_id, target_id,
    warning IS NOT NULL, t_status = 'active', t_format, s_hash, t_hash";

fn old_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<OldItem> {
    Ok(OldItem {
        id: r.get(0)?,
        status: Status::from_code(r.get(1)?),
        catalog: r.get(2)?,
        dir: r.get(3)?,
        size: r.get(4)?,
        path: r.get(5)?,
        source_id: r.get(6)?,
        target_id: r.get(7)?,
        warning: r.get(8)?,
        t_active: r.get::<_, Option<bool>>(9)?.unwrap_or(false),
        t_format: r.get(10)?,
        s_hash: r.get(11)?,
        t_hash: r.get(12)?,
    })
}

/// The order of items: path bytes, a Source file before a Target-only row at its path, then
/// Target row id (as [`verdicts::build`] sorts them).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SortKey {
    path: String,
    target_only: bool,
    target: Option<i64>,
}

impl Ord for SortKey {
    fn cmp(&self, o: &Self) -> Ordering {
        self.path
            .as_bytes()
            .cmp(o.path.as_bytes())
            .then(self.target_only.cmp(&o.target_only))
            .then(self.target.cmp(&o.target))
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Finds item ids by path order in the items table.
struct Ids<'t> {
    tx: &'t Transaction<'t>,
}

impl Ids<'_> {
    fn key_at(&self, sql: &str, id: i64) -> Result<Option<(i64, SortKey)>> {
        self.tx
            .prepare_cached(sql)
            .and_then(|mut st| {
                st.query_row([id], |r| {
                    Ok((
                        r.get(0)?,
                        SortKey {
                            path: r.get(1)?,
                            target_only: r.get(2)?,
                            target: r.get(3)?,
                        },
                    ))
                })
                .optional()
            })
            .ctx("index: item order")
    }
    fn first_from(&self, id: i64) -> Result<Option<(i64, SortKey)>> {
        self.key_at(
            "SELECT id, path, source_id IS NULL, target_id FROM items WHERE id >= ?1
             ORDER BY id LIMIT 1",
            id,
        )
    }
    fn last_before(&self, id: i64) -> Result<Option<(i64, SortKey)>> {
        self.key_at(
            "SELECT id, path, source_id IS NULL, target_id FROM items WHERE id < ?1
             ORDER BY id DESC LIMIT 1",
            id,
        )
    }

    /// An id for a new item with `key` in directory `dir`: between its neighbours in path
    /// order. `None`: no room (ids exhausted at that place).
    fn allocate(&self, key: &SortKey, dir: Option<i64>) -> Result<Option<i64>> {
        if let Some(d) = dir
            && let Some(found) = self.neighbours_in_dir(key, d)?
        {
            return Ok(between(found.0, found.1));
        }
        // The last item before `key`: bisect the id space (keys grow with ids).
        // Two subqueries: each is one B-tree seek (MIN and MAX in one SELECT scan the table).
        let (min, max): (Option<i64>, Option<i64>) = self
            .tx
            .query_row(
                "SELECT (SELECT min(id) FROM items), (SELECT max(id) FROM items)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("index: item order")?;
        let (Some(mut lo), Some(mut hi)) = (min, max) else {
            return Ok(Some(GAP));
        };
        let mut pred: Option<i64> = None;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            match self.first_from(mid)? {
                Some((id, k)) if id <= hi && k < *key => {
                    pred = Some(id);
                    lo = id + 1;
                }
                _ => hi = mid - 1,
            }
        }
        let succ = match pred {
            Some(p) => self.first_from(p + 1)?.map(|(i, _)| i),
            None => min,
        };
        Ok(between(pred, succ))
    }

    /// The neighbours of `key` found from the items of its own directory (a leaf directory
    /// holds a few files; the bisection is for the rest): the last of them before `key` is the
    /// item before it when the item that follows that one in the table comes after `key` (no
    /// sub-directory's items in between), and symmetrically for the first after it. `None`:
    /// not decided this way.
    fn neighbours_in_dir(
        &self,
        key: &SortKey,
        dir: i64,
    ) -> Result<Option<(Option<i64>, Option<i64>)>> {
        const MAX_DIR_ITEMS: usize = 256;
        let items: Vec<(i64, SortKey)> = {
            let mut st = self
                .tx
                .prepare_cached(
                    "SELECT id, path, source_id IS NULL, target_id FROM items INDEXED BY items_dir
                     WHERE dir_id = ?1 ORDER BY id LIMIT ?2",
                )
                .ctx("index: item order")?;
            let rows = st
                .query_map(params![dir, MAX_DIR_ITEMS as i64 + 1], |r| {
                    Ok((
                        r.get(0)?,
                        SortKey {
                            path: r.get(1)?,
                            target_only: r.get(2)?,
                            target: r.get(3)?,
                        },
                    ))
                })
                .ctx("index: item order")?;
            rows.collect::<rusqlite::Result<_>>()
                .ctx("index: item order")?
        };
        if items.is_empty() || items.len() > MAX_DIR_ITEMS {
            return Ok(None);
        }
        let split = items.partition_point(|(_, k)| k < key);
        match (split.checked_sub(1).map(|i| items[i].0), items.get(split)) {
            (Some(p), _) => {
                // Nothing of a sub-directory between `p` and `key`?
                let next = self.first_from(p + 1)?;
                match next {
                    Some((_, k)) if k < *key => Ok(None),
                    _ => Ok(Some((Some(p), next.map(|(n, _)| n)))),
                }
            }
            (None, Some((s, _))) => {
                let prev = self.last_before(*s)?;
                match prev {
                    Some((_, k)) if k > *key => Ok(None),
                    _ => Ok(Some((prev.map(|(p, _)| p), Some(*s)))),
                }
            }
            (None, None) => Ok(None),
        }
    }
}

/// An id strictly between `pred` and `succ` (either may be open), near `pred`: items added one
/// after another at one place use the room up slowly. `None`: no room.
fn between(pred: Option<i64>, succ: Option<i64>) -> Option<i64> {
    match (pred, succ) {
        (None, None) => Some(GAP),
        (Some(p), None) => p.checked_add(GAP),
        (None, Some(s)) => s.checked_sub(GAP),
        (Some(p), Some(s)) if s - p >= 2 => Some(p + ((s - p) / 2).min(STEP)),
        _ => None,
    }
}

/// A directory as the update changes it.
struct Dir {
    parent: Option<i64>,
    path: String,
    counts: [i64; 8],
    files: i64,
    new: bool,
}

/// The directories the update touches, loaded on first use and written back at the end.
struct Dirs<'t> {
    tx: &'t Transaction<'t>,
    by_id: FxHashMap<i64, Dir>,
    by_path: FxHashMap<String, i64>,
    next_id: Option<i64>,
}

impl Dirs<'_> {
    fn load(&mut self, id: i64) -> Result<()> {
        if self.by_id.contains_key(&id) {
            return Ok(());
        }
        let (parent, path, counts, files): (Option<i64>, String, String, i64) = self
            .tx
            .prepare_cached("SELECT parent, path, counts, files FROM dirs WHERE id = ?1")
            .and_then(|mut st| {
                st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            })
            .ctx("index: directory")?;
        let c: Counts = serde_json::from_str(&counts).unwrap_or_default();
        self.by_path.insert(path.clone(), id);
        self.by_id.insert(
            id,
            Dir {
                parent,
                path,
                counts: c.0.map(|n| n as i64),
                files,
                new: false,
            },
        );
        Ok(())
    }

    /// The directory `path`, created (with its missing ancestors) when absent.
    fn ensure(&mut self, path: &str) -> Result<i64> {
        if let Some(&id) = self.by_path.get(path) {
            return Ok(id);
        }
        let found: Option<i64> = self
            .tx
            .prepare_cached("SELECT id FROM dirs WHERE path = ?1")
            .and_then(|mut st| st.query_row([path], |r| r.get(0)).optional())
            .ctx("index: directory")?;
        if let Some(id) = found {
            self.load(id)?;
            return Ok(id);
        }
        let parent = if path.is_empty() {
            None
        } else {
            Some(self.ensure(split_dir(path).0)?)
        };
        let id = match self.next_id {
            Some(n) => n,
            None => self
                .tx
                .query_row("SELECT COALESCE(MAX(id), -1) + 1 FROM dirs", [], |r| {
                    r.get(0)
                })
                .ctx("index: directory")?,
        };
        self.next_id = Some(id + 1);
        self.by_path.insert(path.to_string(), id);
        self.by_id.insert(
            id,
            Dir {
                parent,
                path: path.to_string(),
                counts: [0; 8],
                files: 0,
                new: true,
            },
        );
        Ok(id)
    }

    /// Count an item of `status` in directory `id` (`sign` 1) or take it away (-1).
    fn count(&mut self, id: i64, status: Status, sign: i64) -> Result<()> {
        self.load(id)?;
        if let Some(d) = self.by_id.get_mut(&id) {
            d.files += sign;
        }
        let mut cur = Some(id);
        while let Some(d) = cur {
            self.load(d)?;
            let dir = self
                .by_id
                .get_mut(&d)
                .ok_or_else(|| crate::Error::invalid("index", "directory vanished"))?;
            dir.counts[status as usize] += sign;
            cur = dir.parent;
        }
        Ok(())
    }

    /// Write the touched directories back: an emptied one goes (the root stays). Returns the
    /// new directories' (id, key) for the search columns.
    fn write(self) -> Result<Vec<(usize, String)>> {
        let mut new_dirs = Vec::new();
        for (id, d) in self.by_id {
            if d.counts.iter().any(|&n| n < 0) || d.files < 0 {
                return Err(crate::Error::invalid(
                    "index",
                    format!("the incremental update counted below zero in `{}`", d.path),
                ));
            }
            let counts = Counts(d.counts.map(|n| n as u64));
            let empty = counts.total() == 0 && id != 0;
            if d.new {
                if empty {
                    continue;
                }
                let key = search_key(&d.path);
                self.tx
                    .prepare_cached(
                        "INSERT INTO dirs (id, parent, path, name, key, counts, files)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            id,
                            d.parent,
                            d.path,
                            split_dir(&d.path).1,
                            key,
                            serde_json::to_string(&counts).unwrap_or_default(),
                            d.files
                        ])
                    })
                    .ctx("index: directory")?;
                new_dirs.push((usize::try_from(id).unwrap_or(0), key));
            } else if empty {
                self.tx
                    .prepare_cached("DELETE FROM dirs WHERE id = ?1")
                    .and_then(|mut st| st.execute([id]))
                    .ctx("index: directory")?;
            } else {
                self.tx
                    .prepare_cached("UPDATE dirs SET counts = ?2, files = ?3 WHERE id = ?1")
                    .and_then(|mut st| {
                        st.execute(params![
                            id,
                            serde_json::to_string(&counts).unwrap_or_default(),
                            d.files
                        ])
                    })
                    .ctx("index: directory")?;
            }
        }
        Ok(new_dirs)
    }
}

/// Signed changes of the dashboard's numbers.
#[derive(Default)]
struct StatsDelta {
    source_files: i64,
    source_size: i64,
    by_type: FxHashMap<String, i64>,
    catalogs: FxHashMap<String, i64>,
    target_active: i64,
    by_format: FxHashMap<String, i64>,
    non_hls: i64,
    needs_transcode: i64,
    counts: [i64; 8],
}

impl StatsDelta {
    fn remove(&mut self, old: &OldItem) {
        if old.source_id.is_some() {
            let kind = Kind::from_ext(&names::extension(names::file_name(&old.path)));
            self.source_files -= 1;
            self.source_size -= old.size.max(0);
            *self.by_type.entry(kind.as_str().to_string()).or_default() -= 1;
            *self
                .catalogs
                .entry(names::catalog(&old.path).to_string())
                .or_default() -= 1;
            if old.status == Status::NotSynced && kind == Kind::Video {
                self.non_hls -= 1;
            }
            if old.warning && old.status != Status::NotSynced {
                self.needs_transcode -= 1;
            }
        }
        if old.target_id.is_some() && old.t_active {
            self.target_active -= 1;
            *self
                .by_format
                .entry(old.t_format.clone().unwrap_or_default())
                .or_default() -= 1;
        }
        self.counts[old.status as usize] -= 1;
    }

    fn add(&mut self, s: &Stats) {
        self.source_files += s.source_files as i64;
        self.source_size += s.source_size_bytes as i64;
        for (k, n) in &s.by_type {
            *self.by_type.entry(k.clone()).or_default() += *n as i64;
        }
        for (k, n) in &s.catalogs {
            *self.catalogs.entry(k.clone()).or_default() += *n as i64;
        }
        self.target_active += s.target_active as i64;
        for (k, n) in &s.target_by_format {
            *self.by_format.entry(k.clone()).or_default() += *n as i64;
        }
        self.non_hls += s.non_hls as i64;
        self.needs_transcode += s.needs_transcode as i64;
        for (a, b) in self.counts.iter_mut().zip(s.counts.0) {
            *a += b as i64;
        }
    }

    fn apply(self, s: &mut Stats) {
        let add = |v: &mut u64, d: i64| *v = (*v as i64 + d).max(0) as u64;
        add(&mut s.source_files, self.source_files);
        add(&mut s.source_size_bytes, self.source_size);
        for (k, d) in self.by_type {
            add(s.by_type.entry(k).or_default(), d);
        }
        for (k, d) in self.by_format {
            let v = s.target_by_format.entry(k.clone()).or_default();
            add(v, d);
            if *v == 0 {
                s.target_by_format.remove(&k);
            }
        }
        let mut cats: FxHashMap<String, u64> = s.catalogs.drain(..).collect();
        for (k, d) in self.catalogs {
            add(cats.entry(k).or_default(), d);
        }
        let mut cats: Vec<(String, u64)> = cats.into_iter().filter(|(_, n)| *n > 0).collect();
        cats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        s.catalogs = cats;
        add(&mut s.target_active, self.target_active);
        add(&mut s.non_hls, self.non_hls);
        add(&mut s.needs_transcode, self.needs_transcode);
        for (v, d) in s.counts.0.iter_mut().zip(self.counts) {
            add(v, d);
        }
    }
}

/// Bring the items of `seeds` and everything whose verdict depends on them up to date, inside
/// `tx`. `limit`: more records than this in the closed set, and the caller rebuilds instead.
pub(super) fn apply(
    tx: &Transaction<'_>,
    live: &Live<'_>,
    seeds: &Seeds,
    rules: &Rules,
    hold: &Hold,
    sums: &mut Sums,
    limit: usize,
) -> Result<Delta> {
    let timer = std::time::Instant::now();
    let mut c = Closure {
        tx,
        live,
        rules,
        hold,
        files: FxHashMap::default(),
        rows: FxHashMap::default(),
        keys: FxHashSet::default(),
        queue: VecDeque::new(),
    };
    let mut seed_files: Vec<i64> = seeds.files.iter().copied().collect();
    let mut seed_rows: Vec<i64> = seeds.rows.iter().copied().collect();
    seed_files.sort_unstable();
    seed_rows.sort_unstable();
    for id in seed_files {
        c.add_file(id);
    }
    for id in seed_rows {
        c.add_row(id);
    }
    if !c.close(limit)? {
        return Ok(Delta::Rebuild(format!(
            "more than {limit} records to look at again"
        )));
    }
    let file_ids: Vec<i64> = c.files.keys().copied().collect();
    let row_ids: Vec<i64> = c.rows.keys().copied().collect();
    let mut files: Vec<FileRecord> = c.files.into_values().flatten().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut rows: Vec<TargetRow> = c.rows.into_values().flatten().collect();
    rows.sort_by_key(|r| r.id);
    tracing::debug!(
        files = files.len(),
        rows = rows.len(),
        ms = timer.elapsed().as_millis() as u64,
        "index update: closed set"
    );

    // The old items of the set.
    let mut old: FxHashMap<i64, OldItem> = FxHashMap::default();
    {
        let mut by_source = tx
            .prepare_cached(&format!(
                "SELECT {OLD_COLUMNS} FROM items WHERE source_id = ?1"
            ))
            .ctx("index: old items")?;
        let mut by_target = tx
            .prepare_cached(&format!(
                "SELECT {OLD_COLUMNS} FROM items WHERE target_id = ?1"
            ))
            .ctx("index: old items")?;
        for (st, ids) in [(&mut by_source, &file_ids), (&mut by_target, &row_ids)] {
            for &id in ids {
                let items = st.query_map([id], old_item).ctx("index: old items")?;
                for it in items {
                    let it = it.ctx("index: old items")?;
                    old.insert(it.id, it);
                }
            }
        }
    }

    let built = verdicts::build(&files, &rows, rules, hold);
    let mut delta = StatsDelta::default();
    let mut counts: FxHashMap<(i64, i64), i64> = FxHashMap::default();
    let mut dirs = Dirs {
        tx,
        by_id: FxHashMap::default(),
        by_path: FxHashMap::default(),
        next_id: None,
    };
    let mut patch = Patch::default();
    // What the old items counted goes.
    let mut old_by_identity: FxHashMap<Identity, (i64, String)> = FxHashMap::default();
    for o in old.values() {
        delta.remove(o);
        *counts.entry((o.catalog, o.status.code())).or_default() -= 1;
        dirs.count(o.dir, o.status, -1)?;
        sums.files_digest = sums.files_digest.wrapping_sub(o.s_hash.unwrap_or(0) as u64);
        sums.rows_digest = sums.rows_digest.wrapping_sub(o.t_hash.unwrap_or(0) as u64);
        if let Some(identity) = Identity::of(o.source_id, o.target_id) {
            old_by_identity.insert(identity, (o.id, o.path.clone()));
        }
        patch.removed.push(o.id);
    }
    delta.add(&built.stats);
    // An item that keeps its identity and its path keeps its place: it is rewritten in place
    // (only the columns that changed, so only their indexes are touched). The other old items
    // go before the new ones take their places.
    let mut kept: FxHashMap<usize, i64> = FxHashMap::default();
    for (n, it) in built.items.iter().enumerate() {
        let identity = Identity::of(
            it.source.map(|s| built.files[s].id),
            it.target.map(|t| built.rows[t].id),
        );
        if let Some((id, path)) = identity.and_then(|i| old_by_identity.get(&i))
            && path == it.path
        {
            kept.insert(n, *id);
        }
    }
    let kept_ids: FxHashSet<i64> = kept.values().copied().collect();
    {
        let mut del = tx
            .prepare_cached("DELETE FROM items WHERE id = ?1")
            .ctx("index: remove items")?;
        for o in old.values().filter(|o| !kept_ids.contains(&o.id)) {
            del.execute([o.id]).ctx("index: remove items")?;
        }
    }
    tracing::debug!(
        old = old.len(),
        new = built.items.len(),
        kept = kept.len(),
        ms = timer.elapsed().as_millis() as u64,
        "index update: old items removed"
    );

    if let Some(why) = write_items(tx, &built, &kept, &mut dirs, &mut counts, sums, &mut patch)? {
        return Ok(Delta::Rebuild(why));
    }
    patch.new_dirs = dirs.write()?;
    {
        let mut st = tx
            .prepare_cached(
                "INSERT INTO counts (catalog, status, n) VALUES (?1, ?2, ?3)
                 ON CONFLICT (catalog, status) DO UPDATE SET n = n + excluded.n",
            )
            .ctx("index counts")?;
        for ((c, s), n) in counts {
            if n != 0 {
                st.execute(params![c, s, n]).ctx("index counts")?;
            }
        }
    }
    tx.execute_batch(
        "DELETE FROM counts WHERE n = 0;
         DELETE FROM catalogs WHERE id NOT IN (SELECT catalog FROM counts);",
    )
    .ctx("index counts")?;
    delta.apply(&mut sums.stats);
    tracing::debug!(
        items = built.items.len(),
        ms = timer.elapsed().as_millis() as u64,
        "index update: written"
    );
    Ok(Delta::Done {
        patch,
        items: built.items.len(),
    })
}

/// A rank for a catalog not in the index yet, between its neighbours in name order (byte
/// order: SQLite's BINARY collation of UTF-8), inserted. `None`: no room.
fn new_catalog(tx: &Transaction<'_>, name: &str) -> Result<Option<i64>> {
    let near = |sql: &str| -> Result<Option<i64>> {
        tx.prepare_cached(sql)
            .and_then(|mut st| st.query_row([name], |r| r.get(0)).optional())
            .ctx("index catalogs")
    };
    let pred = near("SELECT id FROM catalogs WHERE name < ?1 ORDER BY name DESC LIMIT 1")?;
    let succ = near("SELECT id FROM catalogs WHERE name > ?1 ORDER BY name LIMIT 1")?;
    let rank = match (pred, succ) {
        (None, None) => Some(CAT_GAP),
        (Some(p), None) => p.checked_add(CAT_GAP),
        (None, Some(s)) => s.checked_sub(CAT_GAP),
        (Some(p), Some(s)) if s - p >= 2 => Some(p + (s - p) / 2),
        _ => None,
    };
    if let Some(r) = rank {
        tx.execute(
            "INSERT INTO catalogs (id, name) VALUES (?1, ?2)",
            params![r, name],
        )
        .ctx("index catalogs")?;
    }
    Ok(rank)
}

/// Write the new items in path order: kept ones in place (the columns that changed), the others
/// with an id between their neighbours; then point duplicates at their primary. `Some(why)`
/// when that cannot be done in place.
fn write_items(
    tx: &Transaction<'_>,
    built: &Built<'_>,
    kept: &FxHashMap<usize, i64>,
    dirs: &mut Dirs<'_>,
    counts: &mut FxHashMap<(i64, i64), i64>,
    sums: &mut Sums,
    patch: &mut Patch,
) -> Result<Option<String>> {
    let ids = Ids { tx };
    let mut catalogs: FxHashMap<&str, Option<i64>> = FxHashMap::default();
    let mut id_of_source: FxHashMap<usize, i64> = FxHashMap::default();
    let mut primary_now: FxHashMap<i64, Option<i64>> = FxHashMap::default();
    let mut ins = tx.prepare_cached(INSERT_ITEM).ctx("index items")?;
    for (n, it) in built.items.iter().enumerate() {
        let row = ItemRow::of(built, it);
        let cat_name = names::catalog(it.path);
        let cat = match catalogs.get(cat_name) {
            Some(c) => *c,
            None => {
                let c: Option<i64> = tx
                    .prepare_cached("SELECT id FROM catalogs WHERE name = ?1")
                    .and_then(|mut st| st.query_row([cat_name], |r| r.get(0)).optional())
                    .ctx("index catalogs")?;
                catalogs.insert(cat_name, c);
                c
            }
        };
        let cat = match cat {
            Some(c) => c,
            None => match new_catalog(tx, cat_name)? {
                Some(c) => {
                    catalogs.insert(cat_name, Some(c));
                    c
                }
                None => return Ok(Some(format!("no free rank for the catalog `{cat_name}`"))),
            },
        };
        let dir = dirs.ensure(split_dir(it.path).0)?;
        let id = match kept.get(&n) {
            Some(&id) => {
                primary_now.insert(id, rewrite_item(tx, id, &row, cat, dir)?);
                id
            }
            None => {
                // A Source item's place ignores its row: two files never share a path.
                let key = SortKey {
                    path: it.path.to_string(),
                    target_only: it.source.is_none(),
                    target: if it.source.is_none() {
                        row.target_id
                    } else {
                        None
                    },
                };
                let Some(id) = ids.allocate(&key, Some(dir))? else {
                    return Ok(Some(format!("no free item id next to `{}`", it.path)));
                };
                insert_item(&mut ins, id, &row, cat, dir, None)?;
                primary_now.insert(id, None);
                id
            }
        };
        if let Some(s) = it.source {
            id_of_source.insert(s, id);
        }
        *counts.entry((cat, row.status.code())).or_default() += 1;
        dirs.count(dir, row.status, 1)?;
        sums.files_digest = sums
            .files_digest
            .wrapping_add(row.s_hash.unwrap_or(0) as u64);
        sums.rows_digest = sums
            .rows_digest
            .wrapping_add(row.t_hash.unwrap_or(0) as u64);
        patch.added.push(Entry {
            id,
            key: row.name_key.clone(),
            status: row.status.code(),
            catalog: cat,
            dir: usize::try_from(dir).unwrap_or(0),
            size: row.size,
            mtime: row.mtime,
        });
    }
    let mut set_primary = tx
        .prepare_cached("UPDATE items SET primary_item = ?2 WHERE id = ?1")
        .ctx("index items")?;
    for it in &built.items {
        let Some(&id) = it.source.and_then(|s| id_of_source.get(&s)) else {
            continue;
        };
        let want = it.primary.and_then(|p| id_of_source.get(&p).copied());
        if primary_now.get(&id).copied().flatten() != want {
            set_primary.execute(params![id, want]).ctx("index items")?;
        }
    }
    Ok(None)
}

/// Rewrite item `id` in place to `row`, setting only the columns whose value changed (SQLite
/// then leaves the indexes of the others alone). Returns the row's `primary_item` as it is.
fn rewrite_item(
    tx: &Transaction<'_>,
    id: i64,
    row: &ItemRow<'_>,
    catalog: i64,
    dir: i64,
) -> Result<Option<i64>> {
    use rusqlite::types::Value;
    let new = row.values(catalog, dir);
    let cols: Vec<&str> = new.iter().map(|(c, _)| *c).collect();
    let (old, primary): (Vec<Value>, Option<i64>) = tx
        .prepare_cached(&format!(
            "SELECT {}, primary_item FROM items WHERE id = ?1",
            cols.join(", ")
        ))
        .and_then(|mut st| {
            st.query_row([id], |r| {
                let mut v = Vec::with_capacity(cols.len());
                for i in 0..cols.len() {
                    v.push(r.get::<_, Value>(i)?);
                }
                Ok((v, r.get(cols.len())?))
            })
        })
        .ctx("index: rewrite an item")?;
    let changed: Vec<&(&str, Value)> = new
        .iter()
        .zip(&old)
        .filter(|((_, n), o)| !same_value(n, o))
        .map(|(n, _)| n)
        .collect();
    if changed.is_empty() {
        return Ok(primary);
    }
    let sets: Vec<String> = changed
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ?{}", i + 2))
        .collect();
    let mut st = tx
        .prepare_cached(&format!(
            "UPDATE items SET {} WHERE id = ?1",
            sets.join(", ")
        ))
        .ctx("index: rewrite an item")?;
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&id];
    args.extend(changed.iter().map(|(_, v)| v as &dyn rusqlite::ToSql));
    st.execute(&args[..]).ctx("index: rewrite an item")?;
    Ok(primary)
}

/// Two column values are the same as stored (a REAL that came back as stored compares equal).
fn same_value(a: &rusqlite::types::Value, b: &rusqlite::types::Value) -> bool {
    use rusqlite::types::Value;
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits() || x == y,
        (Value::Integer(x), Value::Real(y)) | (Value::Real(y), Value::Integer(x)) => {
            *x as f64 == *y
        }
        _ => a == b,
    }
}
