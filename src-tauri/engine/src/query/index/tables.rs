//! The index's tables: their schema, one item's row as written, and writing a whole built index
//! into them (catalog ranks, the directory tree with its counts, the items), which also gives
//! the search's columns ([`SearchData`]) of what it wrote.

use rustc_hash::FxHashMap;

use rusqlite::types::Value;
use rusqlite::{Statement, Transaction, params};

use super::search::{SearchData, search_key};
use super::verdicts::{Built, Item, Status};
use super::{Counts, split_dir};
use crate::error::{Result, SqlContext};
use crate::names;

/// Item ids are in path order with room between them: a full build numbers the items `GAP`,
/// `2·GAP`, …, so that an item the incremental update inserts finds a free id between its
/// neighbours ([`super::delta`]). At 20 M items the largest id is still far below `i64::MAX`.
pub(super) const GAP: i64 = 1 << 32;

/// Catalog ranks are spaced the same way, so a new catalog gets a rank between its neighbours
/// in name order without renumbering the items of the others.
pub(super) const CAT_GAP: i64 = 1 << 32;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
DROP TABLE IF EXISTS items;
DROP TABLE IF EXISTS search;
DROP TABLE IF EXISTS blobs;
DROP TABLE IF EXISTS dirs;
DROP TABLE IF EXISTS catalogs;
DROP TABLE IF EXISTS counts;
-- One row per matching-table item. Ids are in path order (byte order; a Target-only row at a
-- Source file's path after the file), with gaps (see `GAP`).
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    status INTEGER NOT NULL,
    catalog INTEGER NOT NULL,
    dir_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    reason_code TEXT NOT NULL,
    -- NULL: the code's standard text.
    reason TEXT,
    warning TEXT,
    source_id INTEGER,
    codec TEXT,
    width INTEGER,
    height INTEGER,
    duration REAL,
    target_id INTEGER,
    -- NULL: equal to path.
    t_path TEXT,
    t_size INTEGER,
    t_hls INTEGER,
    t_status TEXT,
    primary_item INTEGER,
    dup_count INTEGER NOT NULL,
    path TEXT NOT NULL,
    -- What the incremental update finds related items by, and keeps the digests with:
    -- the hash of the name key, for an eligible or held Source file (its name group) and for an
    -- unclaimed active Target row (a row a primary of that name may take); NULL otherwise.
    nkey INTEGER,
    -- The Source file's link (archive.db `links`) when it is not `target_id`.
    link INTEGER,
    -- `FileRecord::content_hash` / `TargetRow::content_hash` of the item's file and row.
    s_hash INTEGER,
    t_hash INTEGER,
    -- The row's format (the dashboard counts active rows by format).
    t_format TEXT
);
-- Directories with aggregate counts of everything below them. id 0 is the root ("").
CREATE TABLE dirs (
    id INTEGER PRIMARY KEY,
    parent INTEGER,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    counts TEXT NOT NULL,
    files INTEGER NOT NULL
);
-- Catalogs: a larger id is a later name in byte order (ids are ranks, spaced, used for
-- sort=catalog).
CREATE TABLE catalogs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE counts (
    catalog INTEGER NOT NULL,
    status INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (catalog, status)
) WITHOUT ROWID;
"#;

/// Indexes created after the bulk insert (faster than maintaining them row by row). Queries
/// name the index they use (`INDEXED BY`): one per sort key, carrying status and catalog so a
/// filter is checked inside the index without reading the table; `items_order` is the path
/// order alone (a deep page skips its small entries, not the table's rows). The partial ones
/// serve the incremental update, except `items_codec` and `items_excluded`, which serve the
/// matching table's codec and exclusion-reason filters and their lists (`query::filters`), which
/// would otherwise read the whole table or one table row per excluded file
/// (docs/benchmarks.md); `items_excluded` holds the not-synced items only (their reason codes
/// are exactly these four).
const INDEXES: &str = r#"
CREATE INDEX items_order ON items(id);
CREATE INDEX items_status ON items(status, id, catalog);
CREATE INDEX items_catalog ON items(catalog, id, status);
CREATE INDEX items_size ON items(size, id, status, catalog);
CREATE INDEX items_mtime ON items(mtime, id, status, catalog);
CREATE INDEX items_dir ON items(dir_id, id);
CREATE INDEX items_primary ON items(primary_item) WHERE primary_item IS NOT NULL;
CREATE INDEX items_source ON items(source_id) WHERE source_id IS NOT NULL;
CREATE INDEX items_target ON items(target_id) WHERE target_id IS NOT NULL;
CREATE INDEX items_nkey ON items(nkey) WHERE nkey IS NOT NULL;
CREATE INDEX items_link ON items(link) WHERE link IS NOT NULL;
CREATE INDEX items_codec ON items(codec) WHERE codec IS NOT NULL;
CREATE INDEX items_excluded ON items(reason_code)
    WHERE reason_code IN ('not_hls', 'codec_not_hls', 'subtitle', 'not_video');
CREATE INDEX dirs_parent ON dirs(parent, name);
"#;

/// The hash of a name key, as stored in `items.nkey`.
pub(super) fn key_hash(key: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as i64
}

/// The name key of a Target row's path (either separator), as the sync rules group it.
pub(super) fn row_key(nas_path: &str) -> String {
    names::name_key(names::file_name_any_sep(nas_path))
}

/// One item's columns besides its id, catalog rank, directory and primary (which depend on the
/// rest of the index).
pub(super) struct ItemRow<'a> {
    pub(super) status: Status,
    pub(super) size: i64,
    pub(super) mtime: i64,
    pub(super) reason_code: &'static str,
    pub(super) reason: Option<&'a str>,
    pub(super) warning: Option<&'a str>,
    pub(super) source_id: Option<i64>,
    pub(super) codec: Option<&'a str>,
    pub(super) width: Option<i64>,
    pub(super) height: Option<i64>,
    pub(super) duration: Option<f64>,
    pub(super) target_id: Option<i64>,
    pub(super) t_path: Option<&'a str>,
    pub(super) t_size: Option<i64>,
    pub(super) t_hls: Option<bool>,
    pub(super) t_status: Option<&'static str>,
    pub(super) dup_count: i64,
    pub(super) path: &'a str,
    pub(super) nkey: Option<i64>,
    pub(super) link: Option<i64>,
    pub(super) s_hash: Option<i64>,
    pub(super) t_hash: Option<i64>,
    pub(super) t_format: Option<&'a str>,
    /// The search key of the file name (`split_dir(path).1`).
    pub(super) name_key: String,
}

impl<'a> ItemRow<'a> {
    /// The row of `it`, one of `b`'s items.
    pub(super) fn of(b: &'a Built<'a>, it: &'a Item<'a>) -> ItemRow<'a> {
        let f = it.source.map(|s| &b.files[s]);
        let r = it.target.map(|t| &b.rows[t]);
        let (size, mtime) = match (f, r) {
            (Some(f), _) => (f.size, f.mtime),
            (None, Some(r)) => (r.size_bytes, 0),
            (None, None) => (0, 0),
        };
        let name_key = search_key(split_dir(it.path).1);
        // Name groups: an eligible or held file by its own name; an unclaimed active row by its
        // path's name (either separator, as the rules read it).
        let nkey = match (f, r) {
            (Some(_), _) if it.status != Status::NotSynced => Some(key_hash(&name_key)),
            (None, Some(r)) if r.active => Some(if r.nas_path.contains('\\') {
                key_hash(&row_key(&r.nas_path))
            } else {
                key_hash(&name_key)
            }),
            _ => None,
        };
        ItemRow {
            status: it.status,
            size,
            mtime,
            reason_code: it.reason_code,
            reason: it.reason.as_deref(),
            warning: it.warning.as_deref(),
            source_id: f.map(|f| f.id),
            codec: f.and_then(|f| f.media.codec.as_deref()),
            width: f.and_then(|f| f.media.width),
            height: f.and_then(|f| f.media.height),
            duration: f.and_then(|f| f.media.duration_sec),
            target_id: r.map(|r| r.id),
            t_path: r.map(|r| r.nas_path.as_str()).filter(|p| *p != it.path),
            t_size: r.map(|r| r.size_bytes),
            t_hls: r.map(|r| r.hls_compatible),
            t_status: r.map(|r| if r.active { "active" } else { "deleted" }),
            dup_count: it.dup_count,
            path: it.path,
            nkey,
            link: f
                .and_then(|f| f.target_id)
                .filter(|l| Some(*l) != r.map(|r| r.id)),
            s_hash: f.map(|f| f.content_hash() as i64),
            t_hash: r.map(|r| r.content_hash() as i64),
            t_format: r.map(|r| r.format.as_str()),
            name_key,
        }
    }
}

impl ItemRow<'_> {
    /// The columns an in-place rewrite compares and sets (all but `id` and `primary_item`).
    pub(super) fn values(&self, catalog: i64, dir: i64) -> Vec<(&'static str, Value)> {
        let int = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
        let text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::Text(s.to_string()));
        vec![
            ("status", Value::Integer(self.status.code())),
            ("catalog", Value::Integer(catalog)),
            ("dir_id", Value::Integer(dir)),
            ("size", Value::Integer(self.size)),
            ("mtime", Value::Integer(self.mtime)),
            ("reason_code", Value::Text(self.reason_code.to_string())),
            ("reason", text(self.reason)),
            ("warning", text(self.warning)),
            ("source_id", int(self.source_id)),
            ("codec", text(self.codec)),
            ("width", int(self.width)),
            ("height", int(self.height)),
            ("duration", self.duration.map_or(Value::Null, Value::Real)),
            ("target_id", int(self.target_id)),
            ("t_path", text(self.t_path)),
            ("t_size", int(self.t_size)),
            ("t_hls", int(self.t_hls.map(i64::from))),
            ("t_status", text(self.t_status)),
            ("dup_count", Value::Integer(self.dup_count)),
            ("path", Value::Text(self.path.to_string())),
            ("nkey", int(self.nkey)),
            ("link", int(self.link)),
            ("s_hash", int(self.s_hash)),
            ("t_hash", int(self.t_hash)),
            ("t_format", text(self.t_format)),
        ]
    }
}

pub(super) const INSERT_ITEM: &str = "INSERT INTO items (id, status, catalog, dir_id, size, mtime,
    reason_code, reason, warning, source_id, codec, width, height, duration, target_id, t_path,
    t_size, t_hls, t_status, primary_item, dup_count, path, nkey, link, s_hash, t_hash, t_format)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
    ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)";

pub(super) fn insert_item(
    st: &mut Statement<'_>,
    id: i64,
    row: &ItemRow<'_>,
    catalog: i64,
    dir: i64,
    primary: Option<i64>,
) -> Result<()> {
    st.execute(params![
        id,
        row.status.code(),
        catalog,
        dir,
        row.size,
        row.mtime,
        row.reason_code,
        row.reason,
        row.warning,
        row.source_id,
        row.codec,
        row.width,
        row.height,
        row.duration,
        row.target_id,
        row.t_path,
        row.t_size,
        row.t_hls,
        row.t_status,
        primary,
        row.dup_count,
        row.path,
        row.nkey,
        row.link,
        row.s_hash,
        row.t_hash,
        row.t_format,
    ])
    .ctx("index items")?;
    Ok(())
}

/// Rewrite every table from `b`. Returns the search columns of what was written (item ids
/// still to be given their version by the caller).
pub(super) fn write(tx: &Transaction<'_>, b: &Built<'_>) -> Result<SearchData> {
    tx.execute_batch(SCHEMA).ctx("create the match index")?;

    // Catalog ranks in byte order.
    let mut cats: Vec<&str> = b.items.iter().map(|i| names::catalog(i.path)).collect();
    cats.sort_unstable();
    cats.dedup();
    let cat_rank: FxHashMap<&str, i64> = cats
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, (i as i64 + 1) * CAT_GAP))
        .collect();
    {
        let mut st = tx
            .prepare("INSERT INTO catalogs (id, name) VALUES (?1, ?2)")
            .ctx("index catalogs")?;
        for c in &cats {
            st.execute(params![cat_rank[c], c]).ctx("index catalogs")?;
        }
    }

    // Directories: every ancestor of every item, with counts of everything below.
    let mut dir_ids: FxHashMap<&str, usize> = FxHashMap::default();
    let mut dirs: Vec<(&str, Option<usize>, Counts, i64)> = vec![("", None, Counts::default(), 0)];
    dir_ids.insert("", 0);
    let mut item_dir: Vec<usize> = Vec::with_capacity(b.items.len());
    let mut last: (&str, usize) = ("", 0);
    for it in &b.items {
        let dir = split_dir(it.path).0;
        // Items in path order mostly come in runs of the same directory.
        let id = if dir == last.0 {
            last.1
        } else {
            let id = ensure_dir(dir, &mut dir_ids, &mut dirs);
            last = (dir, id);
            id
        };
        item_dir.push(id);
        dirs[id].3 += 1;
        let mut cur = Some(id);
        while let Some(d) = cur {
            dirs[d].2.add(it.status, 1);
            cur = dirs[d].1;
        }
    }
    let dir_keys: Vec<String> = dirs.iter().map(|d| search_key(d.0)).collect();
    {
        let mut st = tx
            .prepare(
                "INSERT INTO dirs (id, parent, path, name, key, counts, files)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .ctx("index dirs")?;
        for (i, (path, parent, counts, files)) in dirs.iter().enumerate() {
            st.execute(params![
                i as i64,
                parent.map(|p| p as i64),
                path,
                split_dir(path).1,
                dir_keys[i],
                serde_json::to_string(counts).unwrap_or_default(),
                files
            ])
            .ctx("index dirs")?;
        }
    }
    tracing::debug!("index: dirs written");

    // A duplicate's primary is found by source index.
    let mut item_of_source: Vec<i64> = vec![0; b.files.len()];
    for (n, it) in b.items.iter().enumerate() {
        if let Some(s) = it.source {
            item_of_source[s] = (n as i64 + 1) * GAP;
        }
    }
    let mut counts: FxHashMap<(i64, i64), i64> = FxHashMap::default();
    let mut search = SearchData::with_capacity(b.items.len());
    {
        let mut ins = tx.prepare(INSERT_ITEM).ctx("index items")?;
        for (n, it) in b.items.iter().enumerate() {
            let id = (n as i64 + 1) * GAP;
            let cat = cat_rank.get(names::catalog(it.path)).copied().unwrap_or(0);
            let row = ItemRow::of(b, it);
            *counts.entry((cat, row.status.code())).or_default() += 1;
            let primary = it.primary.map(|p| item_of_source[p]);
            insert_item(&mut ins, id, &row, cat, item_dir[n] as i64, primary)?;
            search.push(
                id,
                &row.name_key,
                row.status.code(),
                cat,
                item_dir[n],
                row.size,
                row.mtime,
            );
        }
    }
    search.dir_keys = dir_keys;
    {
        let mut st = tx
            .prepare("INSERT INTO counts (catalog, status, n) VALUES (?1, ?2, ?3)")
            .ctx("index counts")?;
        for ((c, s), n) in &counts {
            st.execute(params![c, s, n]).ctx("index counts")?;
        }
    }
    tracing::debug!("index: rows inserted");
    tx.execute_batch(INDEXES).ctx("index the match index")?;
    tracing::debug!("index: indexes created");
    Ok(search)
}

fn ensure_dir<'a>(
    dir: &'a str,
    ids: &mut FxHashMap<&'a str, usize>,
    dirs: &mut Vec<(&'a str, Option<usize>, Counts, i64)>,
) -> usize {
    if let Some(&id) = ids.get(dir) {
        return id;
    }
    let parent_path = split_dir(dir).0;
    let parent = ensure_dir(parent_path, ids, dirs);
    let id = dirs.len();
    dirs.push((dir, Some(parent), Counts::default(), 0));
    ids.insert(dir, id);
    id
}
