//! The 1:1 matching table (PRD 7.3) and the tree view (PRD 7.4), read from the match index
//! ([`crate::index`]). Pages are index scans; totals and summaries come from stored counts; a
//! search or a value filter ([`crate::query::filters`]) is one pass over packed in-memory
//! columns.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, params, params_from_iter, types::Value};
use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result, SqlContext};
use crate::index::{self, Counts, Index, SearchData, Status};
use crate::query::filters::{COLLISION_SQL, ValueFilters};

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 200;
/// Files per lazy tree node unless asked otherwise, and the most one request may ask for.
pub const DEFAULT_NODE_FILES: u32 = 500;
pub const MAX_NODE_FILES: u32 = 5_000;
const SORTS: &[&str] = &["path", "size", "mtime", "catalog", "status"];

/// The values of [`MatchingQuery::reason`] (for the schema; the field stays a string checked
/// with a field-level message).
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ReasonFilter {
    Mxf,
    Mkv,
    Codec,
    Subtitle,
    Other,
}

/// Filters, sort and page of the matching table (`nas-sync matching`, `GET /api/matching`, the
/// window's `get_matching`).
#[derive(Debug, Clone, Default, serde::Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchingQuery {
    /// One of [`crate::index::Status`] (checked with a field-level message, so the wire type
    /// stays a string; TypeScript sees the union).
    #[ts(as = "Option<crate::index::Status>", optional)]
    #[schemars(with = "Option<crate::index::Status>")]
    pub status: Option<String>,
    #[ts(optional)]
    pub catalog: Option<String>,
    #[ts(optional)]
    pub search: Option<String>,
    /// 제외 사유: only not-synced files excluded for this reason — `mxf`, `mkv` (a video format
    /// HLS cannot play), `codec` (an HLS extension whose codec HLS cannot play), `subtitle`, or
    /// `other` (another format HLS cannot play, or not a video). Counts: `MatchingFacets`.
    #[ts(
        type = "\"mxf\" | \"mkv\" | \"codec\" | \"subtitle\" | \"other\"",
        optional
    )]
    #[schemars(with = "Option<ReasonFilter>")]
    pub reason: Option<String>,
    /// 확장자: only items whose file name has this extension (`mp4`; any case, a leading dot is
    /// ignored).
    #[ts(optional)]
    pub ext: Option<String>,
    /// 코덱: only Source files whose probed video codec is this (`h264`, `hevc`, …: the values of
    /// `MatchingFacets::codecs`).
    #[ts(optional)]
    pub codec: Option<String>,
    /// 같은 이름, 다른 크기: only members of a duplicate-name group whose sizes differ (a name
    /// collision, not a copy; see [`MatchItem::name_collision`]).
    #[serde(default)]
    pub collision: bool,
    /// `path` (default), `size`, `mtime`, `catalog` or `status`; ties in path order.
    #[ts(
        type = "\"path\" | \"size\" | \"mtime\" | \"catalog\" | \"status\"",
        optional
    )]
    pub sort: Option<String>,
    #[serde(default)]
    pub desc: bool,
    /// 1-based; default 1.
    #[ts(optional)]
    pub page: Option<u32>,
    /// Default 20, at most 200.
    #[ts(optional)]
    pub per_page: Option<u32>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MatchingPage {
    /// Items matching the filters (all pages).
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub pages: u64,
    pub items: Vec<MatchItem>,
    /// Counts by status for the catalog and search filters (not the status filter), so the
    /// status tabs can show their numbers.
    pub summary: MatchingSummary,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS, schemars::JsonSchema)]
pub struct MatchingSummary {
    /// `synced` + `synced_with_duplicates` (PRD 7.3).
    pub synced: u64,
    pub not_synced: u64,
    /// Items with status `duplicate`.
    pub duplicates_excluded: u64,
    pub new: u64,
    /// Items with status `copying`: still being written, held back from the Target.
    pub copying: u64,
    pub changed: u64,
    pub deleted: u64,
    pub by_status: BTreeMap<&'static str, u64>,
}

impl MatchingSummary {
    pub fn from_counts(c: &Counts) -> MatchingSummary {
        MatchingSummary {
            synced: c.get(Status::Synced) + c.get(Status::SyncedWithDuplicates),
            not_synced: c.get(Status::NotSynced),
            duplicates_excluded: c.get(Status::Duplicate),
            new: c.get(Status::New),
            copying: c.get(Status::Copying),
            changed: c.get(Status::Changed),
            deleted: c.get(Status::Deleted),
            by_status: Status::ALL
                .iter()
                .map(|s| (s.as_str(), c.get(*s)))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct MatchItem {
    pub status: Status,
    /// Why the row has this status (Korean, for people).
    pub reason: String,
    /// Stable code for `reason`: synced, synced_with_duplicates, pending_insert,
    /// pending_update, pending_move, pending_restore, copying, pending_delete, pending_delete_excluded,
    /// deleted, duplicate_name, not_hls, codec_not_hls, subtitle, not_video.
    pub reason_code: String,
    /// A concern that does not change the status (an HLS extension with a codec HLS cannot play).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub warning: Option<String>,
    pub catalog: String,
    pub source: Option<SourcePart>,
    pub target: Option<TargetPart>,
    /// Other files with the same name that are not synced (for `synced_with_duplicates`).
    pub duplicates: Vec<FileRef>,
    /// The file synced instead of this one (for `duplicate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub primary: Option<FileRef>,
    /// 같은 이름, 다른 크기: its duplicate-name group holds files of different sizes — a name
    /// collision (`Part1.mp4` of two events), not a copy. True for a duplicate whose size
    /// differs from its primary's, and for a primary any of whose duplicates differs; false
    /// for a true copy (the primary's size).
    pub name_collision: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct SourcePart {
    pub id: i64,
    pub path: String,
    pub size_bytes: i64,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    pub codec: Option<String>,
    /// `1920x1080`
    pub resolution: Option<String>,
    pub duration_sec: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct TargetPart {
    pub id: i64,
    pub nas_path: String,
    pub size_bytes: i64,
    pub hls_compatible: bool,
    /// `active` or `deleted`.
    pub status: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS, schemars::JsonSchema)]
pub struct FileRef {
    pub id: i64,
    pub path: String,
}

/// A stored reason, or the code's standard text when none is stored.
fn reason_text(code: &str, stored: Option<String>) -> String {
    stored
        .or_else(|| index::standard_reason(code).map(str::to_string))
        .unwrap_or_default()
}

fn sort_column(sort: &str) -> Option<&'static str> {
    match sort {
        "path" => Some(""),
        "size" => Some("size"),
        "mtime" => Some("mtime"),
        "catalog" => Some("catalog"),
        "status" => Some("status"),
        _ => None,
    }
}

/// `ORDER BY` for a sort, ties in path order, both reversed for `desc`.
fn order_by(col: &str, desc: bool) -> String {
    let dir = if desc { " DESC" } else { "" };
    if col.is_empty() {
        format!("id{dir}")
    } else {
        format!("{col}{dir}, id{dir}")
    }
}

/// The index a page query walks: the one whose order is the sort's, so no sort step is needed
/// and a deep page skips index entries only (filters are checked inside the index).
fn index_for(sort_col: &str, status: bool, catalog: bool) -> &'static str {
    match sort_col {
        "size" => "INDEXED BY items_size",
        "mtime" => "INDEXED BY items_mtime",
        "catalog" => "INDEXED BY items_catalog",
        "status" => "INDEXED BY items_status",
        _ if status => "INDEXED BY items_status",
        _ if catalog => "INDEXED BY items_catalog",
        _ => "NOT INDEXED",
    }
}

/// Validated, resolved filters.
struct Filters {
    status: Option<Status>,
    /// Catalog rank; `Some(None)` = a catalog that has no items (empty result).
    catalog: Option<Option<i64>>,
    search: Option<String>,
    values: ValueFilters,
    sort_col: &'static str,
    desc: bool,
    page: u32,
    per_page: u32,
}

impl Filters {
    /// Answered by one pass over the packed columns (a search or a value filter), not by an
    /// index scan.
    fn scans(&self) -> bool {
        self.search.is_some() || self.values.any()
    }
}

fn resolve(index: &Index, q: &MatchingQuery) -> Result<Filters> {
    let per_page = q.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(Error::invalid(
            "per_page",
            format!("per_page must be between 1 and {MAX_PER_PAGE} (got {per_page})"),
        ));
    }
    let page = q.page.unwrap_or(1);
    if page < 1 {
        return Err(Error::invalid("page", "page starts at 1 (got 0)"));
    }
    // Exactly a status or empty (the OpenAPI document's enum): ` synced` is not one.
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            Error::invalid(
                "status",
                format!(
                    "status must be one of {} (got `{s}`)",
                    Status::ALL.map(Status::as_str).join(", ")
                ),
            )
        })?),
    };
    let sort = q.sort.as_deref().unwrap_or("path");
    let sort_col = sort_column(sort).ok_or_else(|| {
        Error::invalid(
            "sort",
            format!("sort must be one of {} (got `{sort}`)", SORTS.join(", ")),
        )
    })?;
    let catalog = match q.catalog.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            index
                .catalogs()?
                .into_iter()
                .find(|(_, n)| n == c)
                .map(|(rank, _)| rank),
        ),
    };
    let search = q
        .search
        .as_deref()
        .map(index::search_key)
        .filter(|s| !s.is_empty());
    let values = ValueFilters::parse(
        q.reason.as_deref(),
        q.ext.as_deref(),
        q.codec.as_deref(),
        q.collision,
    )?;
    Ok(Filters {
        status,
        catalog,
        search,
        values,
        sort_col,
        desc: q.desc,
        page,
        per_page,
    })
}

/// PRD 7.3 `/api/matching`.
pub fn matching(cfg: &Config, q: &MatchingQuery) -> Result<MatchingPage> {
    let index = Index::open(cfg)?;
    matching_in(&index, q)
}

/// [`matching`] on an index that is already open (the server and benchmarks keep one).
pub fn matching_in(index: &Index, q: &MatchingQuery) -> Result<MatchingPage> {
    let f = resolve(index, q)?;
    let offset = u64::from(f.page - 1) * u64::from(f.per_page);
    let (counts, ids) = select(index, &f, offset)?;
    let total = match f.status {
        Some(s) => counts.get(s),
        None => counts.total(),
    };
    let items = load_items(index.conn(), &ids)?;
    Ok(MatchingPage {
        total,
        page: f.page,
        per_page: f.per_page,
        pages: total.div_ceil(u64::from(f.per_page)),
        items,
        summary: MatchingSummary::from_counts(&counts),
    })
}

/// The counts by status for the filters (not the status filter) and up to `f.per_page` ids from
/// `offset` on, in the sort's order: one page of [`matching_in`], one chunk of [`for_each_match`].
fn select(index: &Index, f: &Filters, offset: u64) -> Result<(Counts, Vec<i64>)> {
    Ok(match (&f.catalog, &f.search) {
        (Some(None), _) => (Counts::default(), Vec::new()),
        (cat, None) if !f.values.any() => {
            let cat = cat.flatten();
            let counts = index.counts(cat)?;
            let ids = page_ids(index.conn(), f, cat, offset)?;
            (counts, ids)
        }
        (cat, term) => scan(index, f, cat.flatten(), term.as_deref(), offset)?,
    })
}

/// Items loaded and handed on at a time by [`for_each_match`].
pub const EXPORT_CHUNK: u32 = 1_000;
/// Item ids read at a time by [`for_each_match`] without a search.
const EXPORT_ID_PAGE: u32 = 50_000;

/// Every item matching `q`'s filters (all pages: `page` and `per_page` are ignored), in `q`'s
/// sort order, handed to `f` [`EXPORT_CHUNK`] items at a time: the CSV export. The filters are
/// resolved as for a page, so any filter of [`MatchingQuery`] applies here too. Memory stays
/// bounded by a chunk of items (a search also keeps its matches' ids, 8 bytes each, as a page
/// of it does). Reads one snapshot of the index (a rebuild meanwhile is not seen half-way).
/// Returns the number of items handed on.
pub fn for_each_match(
    index: &Index,
    q: &MatchingQuery,
    mut f: impl FnMut(Vec<MatchItem>) -> Result<()>,
) -> Result<u64> {
    let all = MatchingQuery {
        page: None,
        per_page: None,
        ..q.clone()
    };
    let mut filters = resolve(index, &all)?;
    // A search or a value filter classifies every item per call: ask for all its ids at once. An index scan pages
    // through the ids (each page skips the ones before it, so pages are large: 400 KB of ids),
    // and the items are loaded a chunk at a time.
    let scans = filters.scans();
    filters.per_page = if scans { u32::MAX } else { EXPORT_ID_PAGE };
    if scans {
        // Loaded (in a transaction of its own) before the snapshot begins. Should a rebuild
        // land in between, the search's reload inside the snapshot fails: an error, never a
        // file mixing two versions of the index.
        index.warm_search()?;
    }
    // One pass over the table needs no big page cache: keep the export's memory flat whatever
    // the index's size (the connection's own setting is put back after).
    let conn = index.conn();
    let cache: i64 = conn
        .pragma_query_value(None, "cache_size", |r| r.get(0))
        .ctx("matching export")?;
    conn.pragma_update(None, "cache_size", EXPORT_CACHE_KIB)
        .ctx("matching export")?;
    let sent = export_chunks(index, &filters, &mut f);
    let _ = conn.pragma_update(None, "cache_size", cache);
    sent
}

/// The export's SQLite page cache, in KiB as `PRAGMA cache_size` takes it (negative).
const EXPORT_CACHE_KIB: i64 = -4096;

fn export_chunks(
    index: &Index,
    filters: &Filters,
    f: &mut impl FnMut(Vec<MatchItem>) -> Result<()>,
) -> Result<u64> {
    let _snapshot = index
        .conn()
        .unchecked_transaction()
        .ctx("matching export")?;
    let mut offset = 0u64;
    let mut sent = 0u64;
    loop {
        let (_, ids) = select(index, filters, offset)?;
        if ids.is_empty() {
            break;
        }
        offset += ids.len() as u64;
        for chunk in ids.chunks(EXPORT_CHUNK as usize) {
            let items = load_items(index.conn(), chunk)?;
            sent += items.len() as u64;
            f(items)?;
        }
        if filters.scans() || (ids.len() as u64) < u64::from(filters.per_page) {
            break;
        }
    }
    Ok(sent)
}

/// One page of item ids without a search: a covering-index scan.
fn page_ids(conn: &Connection, f: &Filters, cat: Option<i64>, offset: u64) -> Result<Vec<i64>> {
    if cat.is_none() && f.status.is_none() && f.sort_col.is_empty() {
        // Every item in path order: the narrow `items_order` index, whose small entries a
        // deep page skips instead of the table's rows.
        let sql = if f.desc {
            "SELECT id FROM items INDEXED BY items_order ORDER BY id DESC LIMIT ?1 OFFSET ?2"
        } else {
            "SELECT id FROM items INDEXED BY items_order ORDER BY id LIMIT ?1 OFFSET ?2"
        };
        let mut stmt = conn.prepare_cached(sql).ctx("matching page")?;
        let rows = stmt
            .query_map(
                params![i64::from(f.per_page), offset.min(i64::MAX as u64) as i64],
                |r| r.get(0),
            )
            .ctx("matching page")?;
        return rows
            .collect::<rusqlite::Result<Vec<i64>>>()
            .ctx("matching page");
    }
    let mut where_ = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(c) = cat {
        where_.push("catalog = ?");
        args.push(Value::Integer(c));
    }
    if let Some(s) = f.status {
        where_.push("status = ?");
        args.push(Value::Integer(s.code()));
    }
    let sql = format!(
        "SELECT id FROM items {} {} ORDER BY {} LIMIT ? OFFSET ?",
        index_for(f.sort_col, f.status.is_some(), cat.is_some()),
        if where_.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", where_.join(" AND "))
        },
        order_by(f.sort_col, f.desc)
    );
    args.push(Value::Integer(i64::from(f.per_page)));
    args.push(Value::Integer(offset as i64));
    let mut stmt = conn.prepare_cached(&sql).ctx("matching page")?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| r.get(0))
        .ctx("matching page")?;
    rows.collect::<rusqlite::Result<Vec<i64>>>()
        .ctx("matching page")
}

/// A search and/or value filters: counts by status over the matches (catalog filter applied)
/// and one page of ids.
///
/// A path is `dir/name`. A term without `/` lies inside the directory part or inside the name;
/// a term with `/` can also span the last `/` (the directory ends with the part before the
/// term's last `/`, the name starts with the part after it). Names are searched with one
/// memmem pass over the packed name column, directories by their keys, then every item is
/// classified in one pass over the packed columns.
fn scan(
    index: &Index,
    f: &Filters,
    cat: Option<i64>,
    term: Option<&str>,
    offset: u64,
) -> Result<(Counts, Vec<i64>)> {
    let data = index.search_data()?;
    let n = data.status.len();
    // The value filters' items (every item without one), then narrowed by the term.
    let mut hit = if f.values.any() {
        f.values.mask(index, &data)?
    } else {
        vec![true; n]
    };
    if let Some(term) = term {
        search_hits(&data, term, &mut hit);
    }
    let want_status = f.status.map(|s| s.code() as u8);
    let mut counts = Counts::default();
    let mut ids: Vec<u32> = Vec::new();
    for (i, matched) in hit.iter().enumerate() {
        if !matched || cat.is_some_and(|c| data.catalog[i] != c) {
            continue;
        }
        counts.add(Status::from_code(i64::from(data.status[i])), 1);
        if want_status.is_none_or(|s| data.status[i] == s) {
            ids.push(i as u32);
        }
    }
    // `ids` is in path order; other sorts order by their key, ties in path order.
    // (key, id) pairs are unique, so an unstable sort gives the one order.
    match f.sort_col {
        "size" => ids.sort_unstable_by_key(|&i| (data.size[i as usize], i)),
        "mtime" => ids.sort_unstable_by_key(|&i| (data.mtime[i as usize], i)),
        "catalog" => ids.sort_unstable_by_key(|&i| (data.catalog[i as usize], i)),
        "status" => ids.sort_unstable_by_key(|&i| (data.status[i as usize], i)),
        _ => {}
    }
    if f.desc {
        ids.reverse();
    }
    let page = ids
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(f.per_page as usize)
        .map(|&i| data.ids[i as usize])
        .collect();
    Ok((counts, page))
}

/// Narrow `hit` (in item order) to the items whose path contains `term`.
fn search_hits(data: &SearchData, term: &str, hit: &mut [bool]) {
    let n = data.status.len();
    // Directories: 1 = the term is inside its path, 2 = the term may span into its names.
    let span = term.rsplit_once('/');
    let mut dir_flag = vec![0u8; data.dir_keys.len()];
    for (d, key) in data.dir_keys.iter().enumerate().skip(1) {
        if key.contains(term) {
            dir_flag[d] = 1;
        } else if let Some((head, _)) = span
            && key.ends_with(head)
        {
            dir_flag[d] = 2;
        }
    }
    let mut in_name = vec![false; n];
    let mut i = 0usize;
    for pos in memchr::memmem::find_iter(&data.names, term.as_bytes()) {
        let pos = pos as u32;
        while i + 1 < n && data.starts[i + 1] <= pos {
            i += 1;
        }
        in_name[i] = true;
    }
    let tail = span.map(|(_, t)| t.as_bytes());
    for (i, h) in hit.iter_mut().enumerate() {
        *h = *h
            && (in_name[i]
                || match dir_flag.get(data.dir[i] as usize) {
                    Some(1) => true,
                    Some(2) => tail.is_some_and(|t| data.name(i).starts_with(t)),
                    _ => false,
                });
    }
}

/// Full items for a page of ids, in the ids' order, with their duplicates / primary.
fn load_items(conn: &Connection, ids: &[i64]) -> Result<Vec<MatchItem>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT i.id, i.status, c.name, i.path, i.size, i.mtime, i.reason_code, i.reason,
                i.warning, i.source_id, i.codec, i.width, i.height, i.duration, i.target_id,
                coalesce(i.t_path, i.path), i.t_size, i.t_hls, i.t_status, p.source_id, p.path,
                i.dup_count, {COLLISION_SQL}
         FROM items i JOIN catalogs c ON c.id = i.catalog
         LEFT JOIN items p ON p.id = i.primary_item
         WHERE i.id IN ({list})"
    );
    let mut stmt = conn.prepare(&sql).ctx("matching items")?;
    let mut by_id: HashMap<i64, (MatchItem, i64)> = HashMap::new();
    let rows = stmt
        .query_map([], |r| {
            let id: i64 = r.get(0)?;
            let source = match r.get::<_, Option<i64>>(9)? {
                Some(sid) => {
                    let (w, h): (Option<i64>, Option<i64>) = (r.get(11)?, r.get(12)?);
                    Some(SourcePart {
                        id: sid,
                        path: r.get(3)?,
                        size_bytes: r.get(4)?,
                        mtime: r.get(5)?,
                        codec: r.get(10)?,
                        resolution: match (w, h) {
                            (Some(w), Some(h)) => Some(format!("{w}x{h}")),
                            _ => None,
                        },
                        duration_sec: r.get(13)?,
                    })
                }
                None => None,
            };
            let target = match r.get::<_, Option<i64>>(14)? {
                Some(tid) => Some(TargetPart {
                    id: tid,
                    nas_path: r.get(15)?,
                    size_bytes: r.get(16)?,
                    hls_compatible: r.get(17)?,
                    status: r.get(18)?,
                }),
                None => None,
            };
            let primary = match r.get::<_, Option<i64>>(19)? {
                Some(pid) => Some(FileRef {
                    id: pid,
                    path: r.get(20)?,
                }),
                None => None,
            };
            Ok((
                id,
                MatchItem {
                    status: Status::from_code(r.get(1)?),
                    catalog: r.get(2)?,
                    reason: reason_text(&r.get::<_, String>(6)?, r.get(7)?),
                    reason_code: r.get(6)?,
                    warning: r.get(8)?,
                    source,
                    target,
                    duplicates: Vec::new(),
                    primary,
                    name_collision: r.get(22)?,
                },
                r.get::<_, i64>(21)?,
            ))
        })
        .ctx("matching items")?;
    for row in rows {
        let (id, item, dups) = row.ctx("matching items")?;
        by_id.insert(id, (item, dups));
    }
    let mut dup_stmt = conn
        .prepare_cached(
            "SELECT source_id, path FROM items WHERE primary_item = ?1 ORDER BY id LIMIT 1000",
        )
        .ctx("matching duplicates")?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some((mut item, dups)) = by_id.remove(id) else {
            continue;
        };
        if dups > 0 {
            let rows = dup_stmt
                .query_map([id], |r| {
                    Ok(FileRef {
                        id: r.get(0)?,
                        path: r.get(1)?,
                    })
                })
                .ctx("matching duplicates")?;
            item.duplicates = rows
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx("matching duplicates")?;
        }
        out.push(item);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Tree (PRD 7.4)

/// Counts of a tree node. `total_files` counts Source files (not Target-only rows); `synced`
/// includes `synced_with_duplicates`; `not_synced` counts non-eligible files only.
#[derive(
    Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, ts_rs::TS, schemars::JsonSchema,
)]
pub struct NodeCounts {
    pub total_files: u64,
    pub synced: u64,
    pub not_synced: u64,
    pub duplicates: u64,
    pub new: u64,
    /// Files still being written (status `copying`).
    pub copying: u64,
    pub changed: u64,
    /// Target rows under this path that no current file holds.
    pub deleted: u64,
}

impl NodeCounts {
    pub fn from_counts(c: &Counts) -> NodeCounts {
        NodeCounts {
            total_files: c.source_files(),
            synced: c.get(Status::Synced) + c.get(Status::SyncedWithDuplicates),
            not_synced: c.get(Status::NotSynced),
            duplicates: c.get(Status::Duplicate),
            new: c.get(Status::New),
            copying: c.get(Status::Copying),
            changed: c.get(Status::Changed),
            deleted: c.get(Status::Deleted),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct TreeFile {
    pub name: String,
    pub source_id: Option<i64>,
    pub target_id: Option<i64>,
    pub status: Status,
    pub size_bytes: i64,
    pub reason: String,
    pub reason_code: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct TreeDir {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub path: String,
    #[serde(flatten)]
    pub counts: NodeCounts,
    pub children: Vec<TreeDir>,
    pub files: Vec<TreeFile>,
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct TreeCatalog {
    pub name: String,
    #[serde(flatten)]
    pub counts: NodeCounts,
    pub children: Vec<TreeDir>,
    pub files: Vec<TreeFile>,
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct Tree {
    pub catalogs: Vec<TreeCatalog>,
}

/// One directory's immediate children (`tree --path`, `GET /api/matching/tree?path=`).
#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct TreeNode {
    pub path: String,
    #[serde(flatten)]
    pub counts: NodeCounts,
    pub directories: Vec<TreeNodeDir>,
    pub files: Vec<TreeFile>,
    /// Items directly in this directory (files are paged: `offset`, `limit`).
    pub files_total: u64,
    pub offset: u64,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS, schemars::JsonSchema)]
pub struct TreeNodeDir {
    pub name: String,
    pub path: String,
    #[serde(flatten)]
    pub counts: NodeCounts,
}

fn parse_counts(text: &str) -> Counts {
    serde_json::from_str(text).unwrap_or_default()
}

fn tree_file(r: &rusqlite::Row<'_>) -> rusqlite::Result<TreeFile> {
    let path: String = r.get(0)?;
    let code: String = r.get(6)?;
    Ok(TreeFile {
        name: index::split_dir(&path).1.to_string(),
        source_id: r.get(1)?,
        target_id: r.get(2)?,
        status: Status::from_code(r.get(3)?),
        size_bytes: r.get(4)?,
        reason: reason_text(&code, r.get(5)?),
        reason_code: code,
    })
}

const FILE_COLUMNS: &str = "path, source_id, target_id, status, size, reason, reason_code";

/// PRD 7.4 for the whole archive: catalogs → directories → files. Refuses above
/// `tree_full_limit` items ([`Error::TooLarge`]); use [`tree_node`] then.
pub fn tree(cfg: &Config) -> Result<Tree> {
    tree_in(cfg, &Index::open(cfg)?)
}

/// [`tree`] on an index that is already open and current.
pub fn tree_in(cfg: &Config, index: &Index) -> Result<Tree> {
    let total = index.stats()?.counts.total();
    if total > cfg.tree_full_limit {
        return Err(Error::TooLarge {
            message: format!(
                "the archive has {total} items, more than tree_full_limit ({}); ask for one directory at a time: `nas-sync tree --path WSOP` (GET /api/matching/tree?path=WSOP)",
                cfg.tree_full_limit
            ),
        });
    }
    let conn = index.conn();
    // Directories: id → (parent, name, path, counts).
    let dirs: Vec<(i64, Option<i64>, String, String, Counts)> = {
        let mut stmt = conn
            .prepare("SELECT id, parent, name, path, counts FROM dirs ORDER BY path")
            .ctx("tree")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    parse_counts(&r.get::<_, String>(4)?),
                ))
            })
            .ctx("tree")?;
        let mut dirs = rows.collect::<rusqlite::Result<Vec<_>>>().ctx("tree")?;
        dirs.sort_by(|a, b| a.3.as_bytes().cmp(b.3.as_bytes()));
        dirs
    };
    let mut files_of: HashMap<i64, Vec<TreeFile>> = HashMap::new();
    {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {FILE_COLUMNS}, dir_id FROM items ORDER BY id"
            ))
            .ctx("tree")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(7)?, tree_file(r)?)))
            .ctx("tree")?;
        for row in rows {
            let (d, f) = row.ctx("tree")?;
            files_of.entry(d).or_default().push(f);
        }
    }
    let mut children_of: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, d) in dirs.iter().enumerate() {
        if let Some(p) = d.1 {
            children_of.entry(p).or_default().push(i);
        }
    }
    fn build_dir(
        i: usize,
        dirs: &[(i64, Option<i64>, String, String, Counts)],
        children_of: &HashMap<i64, Vec<usize>>,
        files_of: &mut HashMap<i64, Vec<TreeFile>>,
    ) -> TreeDir {
        let (id, _, name, path, counts) = &dirs[i];
        let children = children_of
            .get(id)
            .map(|c| {
                c.iter()
                    .map(|&j| build_dir(j, dirs, children_of, files_of))
                    .collect()
            })
            .unwrap_or_default();
        TreeDir {
            name: name.clone(),
            kind: "directory",
            path: path.clone(),
            counts: NodeCounts::from_counts(counts),
            children,
            files: files_of.remove(id).unwrap_or_default(),
        }
    }
    let mut catalogs = Vec::new();
    let top: Vec<usize> = children_of.get(&0).cloned().unwrap_or_default();
    for i in top {
        let d = build_dir(i, &dirs, &children_of, &mut files_of);
        catalogs.push(TreeCatalog {
            name: d.name,
            counts: d.counts,
            children: d.children,
            files: d.files,
        });
    }
    // Files directly in the root form the root pseudo-catalog.
    if let Some(files) = files_of.remove(&0) {
        let mut c = Counts::default();
        for f in &files {
            c.add(f.status, 1);
        }
        let name = crate::names::ROOT_CATALOG.to_string();
        match catalogs.iter_mut().find(|k| k.name == name) {
            Some(k) => {
                let add = NodeCounts::from_counts(&c);
                k.counts.total_files += add.total_files;
                k.counts.synced += add.synced;
                k.counts.not_synced += add.not_synced;
                k.counts.duplicates += add.duplicates;
                k.counts.new += add.new;
                k.counts.copying += add.copying;
                k.counts.changed += add.changed;
                k.counts.deleted += add.deleted;
                k.files.extend(files);
            }
            None => catalogs.push(TreeCatalog {
                name,
                counts: NodeCounts::from_counts(&c),
                children: Vec::new(),
                files,
            }),
        }
    }
    Ok(Tree { catalogs })
}

/// Normalize a tree path from a person or a URL: `\` → `/`, no leading/trailing `/`.
fn normalize_tree_path(p: &str) -> String {
    p.replace('\\', "/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// One directory's immediate children: sub-directories with their counts, and one page of the
/// files directly in it (`offset`, `limit`; default 500, at most 5,000). `""` is the root,
/// whose directories are the catalogs.
pub fn tree_node(cfg: &Config, path: &str, offset: u64, limit: Option<u32>) -> Result<TreeNode> {
    let index = Index::open(cfg)?;
    tree_node_in(&index, path, offset, limit)
}

pub fn tree_node_in(
    index: &Index,
    path: &str,
    offset: u64,
    limit: Option<u32>,
) -> Result<TreeNode> {
    use rusqlite::OptionalExtension;
    let limit = limit.unwrap_or(DEFAULT_NODE_FILES);
    if !(1..=MAX_NODE_FILES).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_NODE_FILES} (got {limit})"),
        ));
    }
    let path = normalize_tree_path(path);
    let conn = index.conn();
    let Some((id, counts, files_total)) = conn
        .prepare_cached("SELECT id, counts, files FROM dirs WHERE path = ?1")
        .ctx("tree node")?
        .query_row([&path], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                parse_counts(&r.get::<_, String>(1)?),
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()
        .ctx("tree node")?
    else {
        if path.is_empty() {
            // An empty archive.
            return Ok(TreeNode {
                path,
                counts: NodeCounts::default(),
                directories: Vec::new(),
                files: Vec::new(),
                files_total: 0,
                offset,
                limit,
            });
        }
        return Err(Error::invalid(
            "path",
            format!(
                "no directory `{path}` in the archive (paths are relative to the root, e.g. WSOP/2024)"
            ),
        ));
    };
    let mut directories = {
        let mut stmt = conn
            .prepare_cached("SELECT name, path, counts FROM dirs WHERE parent = ?1")
            .ctx("tree node")?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(TreeNodeDir {
                    name: r.get(0)?,
                    path: r.get(1)?,
                    counts: NodeCounts::from_counts(&parse_counts(&r.get::<_, String>(2)?)),
                })
            })
            .ctx("tree node")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("tree node")?
    };
    directories.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let files = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM items WHERE dir_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"
            ))
            .ctx("tree node")?;
        let rows = stmt
            .query_map(
                rusqlite::params![id, i64::from(limit), offset as i64],
                tree_file,
            )
            .ctx("tree node")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("tree node")?
    };
    Ok(TreeNode {
        path,
        counts: NodeCounts::from_counts(&counts),
        directories,
        files,
        files_total: files_total.max(0) as u64,
        offset,
        limit,
    })
}
