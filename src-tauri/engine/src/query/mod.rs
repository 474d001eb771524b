//! Read-only queries for the screens, in the PRD's section 7 shapes.

pub mod filters;
pub mod index;
pub mod matching;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::archive::Archive;
use crate::config::Config;
use crate::error::{Error, Result, SqlContext};
use crate::index::{Index, Status};
use crate::matching::MatchingSummary;
use crate::names::Kind;

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Dashboard {
    pub source: SourceSummary,
    pub target: TargetSummary,
    pub sync_status: SyncStatus,
    pub catalogs: Vec<CatalogCount>,
    /// The matching table's status counts (the same numbers as `matching`'s summary).
    pub matching: MatchingSummary,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct SourceSummary {
    pub name: &'static str,
    pub db_path: String,
    pub total_files: u64,
    pub total_size_bytes: u64,
    pub by_type: BTreeMap<&'static str, u64>,
    pub db_size_mb: f64,
    /// Files missing from the share whose records wait for more scans to miss them
    /// (`delete_after_missing_scans`): counted in `total_files` and still active in the Target.
    pub pending_delete: u64,
    /// The setting `delete_after_missing_scans`: how many consecutive scans must miss a file
    /// before its Target row is soft-deleted.
    pub delete_after_missing_scans: u32,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct TargetSummary {
    pub name: &'static str,
    pub db_path: String,
    /// Active rows.
    pub total_files: u64,
    pub by_format: BTreeMap<String, u64>,
    pub excluded: Excluded,
    /// target.total_files / source.total_files (0..1).
    pub hls_ratio: f64,
    /// Synced or eligible files whose probed codec HLS cannot play (flagged, not excluded).
    pub needs_transcode: u64,
    /// The network file system pokervod.db is on (`"cifs"`, `"nfs4"`, `"fuse.sshfs"`, `"unc"`,
    /// `"network drive"`, …; see [`crate::fsinfo`]), `None` when local or unknown. WAL
    /// (`target_wal`) is unsafe there.
    pub network_fs: Option<String>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Excluded {
    /// Video files that are not eligible (not in the HLS list).
    pub non_hls: u64,
    /// Eligible files that are not their group's primary.
    pub duplicates: u64,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct SyncStatus {
    pub is_running: bool,
    pub last_sync_time: Option<String>,
    pub last_result: Option<LastResult>,
    /// Problems that last (`/api/problems`): unreadable folders and files, skipped names, rows
    /// the Target refused.
    pub problems: u64,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct LastResult {
    pub added: u64,
    pub updated: u64,
    pub errors: u64,
    pub moved: u64,
    pub restored: u64,
    pub deleted: u64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct CatalogCount {
    pub id: String,
    pub count: u64,
}

fn file_size_mb(p: &Path) -> f64 {
    let mut total = 0u64;
    for suffix in ["", "-wal"] {
        let mut s = p.as_os_str().to_owned();
        s.push(suffix);
        total += std::fs::metadata(&s).map(|m| m.len()).unwrap_or(0);
    }
    (total as f64 / (1024.0 * 1024.0) * 100.0).round() / 100.0
}

/// PRD 7.2 `/api/dashboard`, from the match index (rebuilt first if the Source, the Target or
/// the rules changed).
pub fn dashboard(cfg: &Config) -> Result<Dashboard> {
    dashboard_in(cfg, &Index::open(cfg)?)
}

/// [`dashboard`] on an index that is already open and current (a host keeps one).
pub fn dashboard_in(cfg: &Config, index: &Index) -> Result<Dashboard> {
    let archive_path = cfg.archive_db_path()?;
    let target_path = cfg.require_target_db()?;
    let st = index.stats()?;
    let (last, pending_delete, problems) = match Archive::open_read_only(&archive_path)? {
        Some(a) => (
            a.last_sync()?,
            a.pending_delete_count()?,
            a.problem_count()?,
        ),
        None => (None, 0, 0),
    };
    let mut by_type: BTreeMap<&'static str, u64> = BTreeMap::new();
    for k in [Kind::Video, Kind::Subtitle, Kind::Other] {
        by_type.insert(k.as_str(), st.by_type.get(k.as_str()).copied().unwrap_or(0));
    }
    let total_files = st.source_files;
    Ok(Dashboard {
        source: SourceSummary {
            name: "NAS 아카이브",
            db_path: archive_path.display().to_string(),
            total_files,
            total_size_bytes: st.source_size_bytes,
            by_type,
            db_size_mb: file_size_mb(&archive_path),
            pending_delete,
            delete_after_missing_scans: cfg.delete_after_missing_scans,
        },
        target: TargetSummary {
            name: "OTT 플랫폼",
            db_path: target_path.display().to_string(),
            total_files: st.target_active,
            by_format: st.target_by_format.clone(),
            excluded: Excluded {
                non_hls: st.non_hls,
                duplicates: st.counts.get(Status::Duplicate),
            },
            hls_ratio: if total_files == 0 {
                0.0
            } else {
                (st.target_active as f64 / total_files as f64).min(1.0)
            },
            needs_transcode: st.needs_transcode,
            network_fs: crate::fsinfo::network_fs(target_path),
        },
        sync_status: SyncStatus {
            is_running: crate::archive::SyncLock::is_held(&archive_path),
            last_sync_time: last.as_ref().map(|(t, _, _)| t.clone()),
            last_result: last.map(|(_, status, t)| LastResult {
                added: t.added,
                updated: t.updated,
                errors: t.errors,
                moved: t.moved,
                restored: t.restored,
                deleted: t.deleted,
                status,
            }),
            problems,
        },
        catalogs: st
            .catalogs
            .iter()
            .map(|(id, count)| CatalogCount {
                id: id.clone(),
                count: *count,
            })
            .collect(),
        matching: MatchingSummary::from_counts(&st.counts),
    })
}

/// Every problem that lasts, newest first (`nas-sync problems`, `GET /api/problems`, the
/// window's `get_problems`).
pub fn problems(cfg: &Config) -> Result<crate::archive::ProblemList> {
    match Archive::open_read_only(&cfg.archive_db_path()?)? {
        Some(a) => a.problems(),
        None => Ok(crate::archive::ProblemList::default()),
    }
}

/// One problem by id (`None` when it is gone, or there is no archive.db yet).
pub fn problem(cfg: &Config, id: i64) -> Result<Option<crate::archive::Problem>> {
    match Archive::open_read_only(&cfg.archive_db_path()?)? {
        Some(a) => a.problem(id),
        None => Ok(None),
    }
}

/// One applied Target change (PRD 4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct HistoryItem {
    pub id: i64,
    /// `added`, `updated`, `moved`, `restored` or `deleted`.
    pub event: String,
    pub path: String,
    pub old_path: Option<String>,
    /// The catalog of `path` (a moved file's new catalog).
    pub catalog: String,
    /// ISO 8601 UTC.
    pub time: String,
    pub target_id: Option<i64>,
}

/// Filters of the history query (`nas-sync history`, `GET /api/history`, the window's
/// `get_history`).
#[derive(Debug, Clone, Default, serde::Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryFilter {
    /// A history event (the wire type stays a string, checked with a field-level message).
    #[ts(
        type = "\"added\" | \"updated\" | \"moved\" | \"restored\" | \"deleted\"",
        optional
    )]
    pub event: Option<String>,
    #[ts(optional)]
    pub catalog: Option<String>,
    /// ISO 8601 time or date (`2026-11-26`, `2026-11-26T10:00:00Z`, `…+09:00`).
    #[ts(optional)]
    pub since: Option<String>,
    /// Case-insensitive substring of the path or the old path (Hangul NFC/NFD alike; `%` and
    /// `_` are literal).
    #[ts(optional)]
    pub search: Option<String>,
    /// Default 100, at most 10,000.
    #[ts(optional)]
    pub limit: Option<u32>,
    /// Rows to skip (newest first) for paging; default 0.
    #[ts(optional)]
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct HistoryPage {
    pub items: Vec<HistoryItem>,
    pub limit: u32,
    pub offset: u64,
    /// Rows matching the filters in all (for page numbers).
    pub total: u64,
}

pub const HISTORY_DEFAULT_LIMIT: u32 = 100;
pub const HISTORY_MAX_LIMIT: u32 = 10_000;
const EVENTS: &[&str] = &["added", "updated", "moved", "restored", "deleted"];

/// `since` as the ISO 8601 UTC string history rows are compared with.
fn normalize_since(s: &str) -> Result<String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let t = s.trim();
    let parsed = DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").map(|n| n.and_utc())
        })
        .or_else(|_| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| {
            Error::invalid(
                "since",
                format!("since: `{s}` is not a date or time; use e.g. 2026-11-26 or 2026-11-26T09:30:00Z"),
            )
        })?;
    Ok(crate::clock::iso(parsed))
}

/// The validated filters of a history query (not its page).
struct HistoryWhere {
    event: Option<String>,
    catalog: Option<String>,
    since: Option<String>,
    /// The search term's key ([`crate::names::name_key`]), when searching.
    search: Option<String>,
}

const HISTORY_WHERE: &str = "WHERE (?1 IS NULL OR event = ?1) AND (?2 IS NULL OR catalog = ?2)
               AND (?3 IS NULL OR time >= ?3)
               AND (sync_id IS NULL OR sync_id NOT IN
                    (SELECT id FROM sync_runs WHERE status = 'pending'))";

const HISTORY_COLUMNS: &str = "id, event, path, old_path, catalog, time, target_id";

fn history_where(filter: &HistoryFilter) -> Result<HistoryWhere> {
    if let Some(e) = &filter.event
        && !EVENTS.contains(&e.as_str())
    {
        return Err(Error::invalid(
            "event",
            format!("event must be one of {} (got `{e}`)", EVENTS.join(", ")),
        ));
    }
    Ok(HistoryWhere {
        event: filter.event.clone(),
        catalog: filter.catalog.clone(),
        since: filter.since.as_deref().map(normalize_since).transpose()?,
        search: filter
            .search
            .as_deref()
            .map(crate::names::name_key)
            .filter(|s| !s.is_empty()),
    })
}

impl HistoryWhere {
    /// Whether a row's paths contain the search term (always, without one): compared as the
    /// matching table's search compares, NFC and lowercase on both sides, so a Mac's NFD Hangul
    /// is found by the NFC a keyboard types.
    fn matches(&self, path: &str, old_path: Option<&str>) -> bool {
        match &self.search {
            None => true,
            Some(key) => {
                crate::names::name_key(path).contains(key.as_str())
                    || old_path.is_some_and(|p| crate::names::name_key(p).contains(key.as_str()))
            }
        }
    }
}

fn history_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryItem> {
    Ok(HistoryItem {
        id: r.get(0)?,
        event: r.get(1)?,
        path: r.get(2)?,
        old_path: r.get(3)?,
        catalog: r.get(4)?,
        time: r.get(5)?,
        target_id: r.get(6)?,
    })
}

/// Every applied change matching `filter` (event, catalog, since, search; `limit` and `offset`
/// are ignored), newest first, handed to `f` one at a time as SQLite reads them: memory stays
/// bounded however long the history is (the CSV export). Returns the rows handed on.
pub fn for_each_history(
    cfg: &Config,
    filter: &HistoryFilter,
    mut f: impl FnMut(&HistoryItem) -> Result<()>,
) -> Result<u64> {
    let w = history_where(filter)?;
    let Some(archive) = Archive::open_read_only(&cfg.archive_db_path()?)? else {
        return Ok(0);
    };
    let mut stmt = archive
        .conn()
        .prepare(&format!(
            "SELECT {HISTORY_COLUMNS} FROM file_history {HISTORY_WHERE} ORDER BY id DESC"
        ))
        .ctx("history export")?;
    let mut rows = stmt
        .query(rusqlite::params![w.event, w.catalog, w.since])
        .ctx("history export")?;
    let mut n = 0u64;
    while let Some(r) = rows.next().ctx("history export")? {
        let item = history_item(r).ctx("history export")?;
        if w.matches(&item.path, item.old_path.as_deref()) {
            n += 1;
            f(&item)?;
        }
    }
    Ok(n)
}

/// Applied Target changes, newest first. Changes of a run that has not reached the Target yet
/// (its write-ahead record is still `pending`) are not shown.
pub fn history(cfg: &Config, filter: &HistoryFilter) -> Result<HistoryPage> {
    let limit = filter.limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("limit must be between 1 and {HISTORY_MAX_LIMIT} (got {limit})"),
        ));
    }
    let w = history_where(filter)?;
    let offset = filter.offset.unwrap_or(0);
    let offset_sql = i64::try_from(offset)
        .map_err(|_| Error::invalid("offset", format!("offset is too large (got {offset})")))?;
    let Some(archive) = Archive::open_read_only(&cfg.archive_db_path()?)? else {
        return Ok(HistoryPage {
            items: Vec::new(),
            limit,
            offset,
            total: 0,
        });
    };
    if w.search.is_some() {
        // The term is compared after NFC normalization, which SQLite cannot do: the rows of
        // the other filters are read newest first and the page is taken from the matches.
        let mut stmt = archive
            .conn()
            .prepare(&format!(
                "SELECT {HISTORY_COLUMNS} FROM file_history {HISTORY_WHERE} ORDER BY id DESC"
            ))
            .ctx("history")?;
        let mut rows = stmt
            .query(rusqlite::params![w.event, w.catalog, w.since])
            .ctx("history")?;
        let (mut total, mut items) = (0u64, Vec::new());
        while let Some(r) = rows.next().ctx("history")? {
            let (path, old_path): (String, Option<String>) =
                (r.get(2).ctx("history")?, r.get(3).ctx("history")?);
            if !w.matches(&path, old_path.as_deref()) {
                continue;
            }
            if total >= offset && items.len() < limit as usize {
                items.push(history_item(r).ctx("history")?);
            }
            total += 1;
        }
        return Ok(HistoryPage {
            items,
            limit,
            offset,
            total,
        });
    }
    let total: i64 = archive
        .conn()
        .query_row(
            &format!("SELECT count(*) FROM file_history {HISTORY_WHERE}"),
            rusqlite::params![w.event, w.catalog, w.since],
            |r| r.get(0),
        )
        .ctx("history count")?;
    let mut stmt = archive
        .conn()
        .prepare(&format!(
            "SELECT {HISTORY_COLUMNS} FROM file_history
             {HISTORY_WHERE} ORDER BY id DESC LIMIT ?4 OFFSET ?5"
        ))
        .ctx("history")?;
    let rows = stmt
        .query_map(
            rusqlite::params![w.event, w.catalog, w.since, limit, offset_sql],
            history_item,
        )
        .ctx("history")?;
    let items = rows.collect::<rusqlite::Result<Vec<_>>>().ctx("history")?;
    Ok(HistoryPage {
        items,
        limit,
        offset,
        total: u64::try_from(total).unwrap_or(0),
    })
}
