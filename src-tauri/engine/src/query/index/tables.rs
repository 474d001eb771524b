//! The index's tables: their schema, and writing a built index into them (catalog ranks, the
//! directory tree with its counts, the items and the search columns).

use rustc_hash::FxHashMap;

use rusqlite::{Transaction, params};

use super::search::{Packed, search_key};
use super::verdicts::Built;
use super::{Counts, split_dir};
use crate::error::{Result, SqlContext};
use crate::names;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
DROP TABLE IF EXISTS items;
DROP TABLE IF EXISTS search;
DROP TABLE IF EXISTS blobs;
DROP TABLE IF EXISTS dirs;
DROP TABLE IF EXISTS catalogs;
DROP TABLE IF EXISTS counts;
-- One row per matching-table item. id = position in path byte order (1-based).
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
    path TEXT NOT NULL
);
-- The search reads packed columns (one blob each, see `SearchData`) into memory: a substring
-- search over a million names is then one memmem pass instead of a million-row table scan.
CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
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
-- Catalogs in name (byte) order; id = rank, used for sort=catalog.
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
/// filter is checked inside the index without reading the table. `items_codec` and
/// `items_excluded` serve the matching table's codec and exclusion-reason filters and their
/// lists (`query::filters`), which would otherwise read the whole table or one table row per
/// excluded file (docs/benchmarks.md); `items_excluded` holds the not-synced items only (their
/// reason codes are exactly these four).
const INDEXES: &str = r#"
CREATE INDEX items_status ON items(status, id, catalog);
CREATE INDEX items_catalog ON items(catalog, id, status);
CREATE INDEX items_size ON items(size, id, status, catalog);
CREATE INDEX items_mtime ON items(mtime, id, status, catalog);
CREATE INDEX items_dir ON items(dir_id, id);
CREATE INDEX items_primary ON items(primary_item) WHERE primary_item IS NOT NULL;
CREATE INDEX items_codec ON items(codec) WHERE codec IS NOT NULL;
CREATE INDEX items_excluded ON items(reason_code)
    WHERE reason_code IN ('not_hls', 'codec_not_hls', 'subtitle', 'not_video');
CREATE INDEX dirs_parent ON dirs(parent, name);
"#;

pub(super) fn write(tx: &Transaction<'_>, b: &Built<'_>) -> Result<()> {
    tx.execute_batch(SCHEMA).ctx("create the match index")?;

    // Catalog ranks in byte order.
    let mut cats: Vec<&str> = b.items.iter().map(|i| names::catalog(i.path)).collect();
    cats.sort_unstable();
    cats.dedup();
    let cat_rank: FxHashMap<&str, i64> = cats
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, i as i64))
        .collect();
    {
        let mut st = tx
            .prepare("INSERT INTO catalogs (id, name) VALUES (?1, ?2)")
            .ctx("index catalogs")?;
        for (i, c) in cats.iter().enumerate() {
            st.execute(params![i as i64, c]).ctx("index catalogs")?;
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
                search_key(path),
                serde_json::to_string(counts).unwrap_or_default(),
                files
            ])
            .ctx("index dirs")?;
        }
    }
    tracing::debug!("index: dirs written");

    // Item ids are positions in path order; a duplicate's primary is found by source index.
    let mut item_of_source: Vec<i64> = vec![0; b.files.len()];
    for (n, it) in b.items.iter().enumerate() {
        if let Some(s) = it.source {
            item_of_source[s] = n as i64 + 1;
        }
    }
    let mut counts: FxHashMap<(i64, i64), i64> = FxHashMap::default();
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO items (id, status, catalog, dir_id, size, mtime, reason_code,
                    reason, warning, source_id, codec, width, height, duration, target_id,
                    t_path, t_size, t_hls, t_status, primary_item, dup_count, path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                    ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            )
            .ctx("index items")?;
        let mut packed = Packed::with_capacity(b.items.len());
        for (n, it) in b.items.iter().enumerate() {
            let id = n as i64 + 1;
            let cat = cat_rank.get(names::catalog(it.path)).copied().unwrap_or(0);
            let f = it.source.map(|s| &b.files[s]);
            let r = it.target.map(|t| &b.rows[t]);
            let (size, mtime) = match (f, r) {
                (Some(f), _) => (f.size, f.mtime),
                (None, Some(r)) => (r.size_bytes, 0),
                (None, None) => (0, 0),
            };
            let status = it.status.code();
            *counts.entry((cat, status)).or_default() += 1;
            ins.execute(params![
                id,
                status,
                cat,
                item_dir[n] as i64,
                size,
                mtime,
                it.reason_code,
                it.reason,
                it.warning,
                f.map(|f| f.id),
                f.and_then(|f| f.media.codec.as_deref()),
                f.and_then(|f| f.media.width),
                f.and_then(|f| f.media.height),
                f.and_then(|f| f.media.duration_sec),
                r.map(|r| r.id),
                r.map(|r| r.nas_path.as_str()).filter(|p| *p != it.path),
                r.map(|r| r.size_bytes),
                r.map(|r| r.hls_compatible),
                r.map(|r| if r.active { "active" } else { "deleted" }),
                it.primary.map(|p| item_of_source[p]),
                it.dup_count,
                it.path,
            ])
            .ctx("index items")?;
            packed.push(
                &search_key(split_dir(it.path).1),
                status,
                cat,
                item_dir[n],
                size,
                mtime,
            );
        }
        let dir_keys: Vec<String> = dirs.iter().map(|d| search_key(d.0)).collect();
        packed.store(tx, &dir_keys)?;
    }
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
    Ok(())
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
