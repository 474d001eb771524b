//! Read-only queries for the screens, in the PRD's section 7 shapes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::archive::Archive;
use crate::config::Config;
use crate::error::Result;
use crate::names::Kind;
use crate::rules::{self, Role, Rules};
use crate::target::Target;

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub source: SourceSummary,
    pub target: TargetSummary,
    pub sync_status: SyncStatus,
    pub catalogs: Vec<CatalogCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceSummary {
    pub name: &'static str,
    pub db_path: String,
    pub total_files: u64,
    pub total_size_bytes: u64,
    pub by_type: BTreeMap<&'static str, u64>,
    pub db_size_mb: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetSummary {
    pub name: &'static str,
    pub db_path: String,
    /// Active rows.
    pub total_files: u64,
    pub by_format: BTreeMap<String, u64>,
    pub excluded: Excluded,
    /// target.total_files / source.total_files (0..1).
    pub hls_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    /// Video files that are not eligible (not in the HLS list).
    pub non_hls: u64,
    /// Eligible files that are not their group's primary.
    pub duplicates: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub is_running: bool,
    pub last_sync_time: Option<String>,
    pub last_result: Option<LastResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastResult {
    pub added: u64,
    pub updated: u64,
    pub errors: u64,
    pub moved: u64,
    pub restored: u64,
    pub deleted: u64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
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

/// PRD 7.2 `/api/dashboard`.
pub fn dashboard(cfg: &Config) -> Result<Dashboard> {
    let archive_path = cfg.archive_db_path()?;
    let target_path = cfg.require_target_db()?;
    let archive = Archive::open_read_only(&archive_path)?;
    let files = match &archive {
        Some(a) => a.load_files()?,
        None => Vec::new(),
    };
    let rows = match Target::open_read_only(target_path, cfg.busy_timeout_secs)? {
        Some(t) => t.load_rows()?,
        None => Vec::new(),
    };
    let rules = Rules::from_config(cfg);
    let plan = rules::plan(&files, &rows, &rules);

    let mut by_type: BTreeMap<&'static str, u64> = [Kind::Video, Kind::Subtitle, Kind::Other]
        .iter()
        .map(|k| (k.as_str(), 0))
        .collect();
    let mut catalogs: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total_size = 0u64;
    for f in &files {
        *by_type.entry(f.kind().as_str()).or_default() += 1;
        *catalogs.entry(f.catalog()).or_default() += 1;
        total_size += f.size.max(0) as u64;
    }
    let mut non_hls = 0;
    let mut duplicates = 0;
    for (f, role) in files.iter().zip(&plan.roles) {
        match role {
            Role::NotEligible { .. } if f.kind() == Kind::Video => non_hls += 1,
            Role::Duplicate { .. } => duplicates += 1,
            _ => {}
        }
    }
    let mut by_format: BTreeMap<String, u64> = BTreeMap::new();
    let mut active = 0u64;
    for r in rows.iter().filter(|r| r.active) {
        active += 1;
        *by_format.entry(r.format.clone()).or_default() += 1;
    }
    let mut catalogs: Vec<CatalogCount> = catalogs
        .into_iter()
        .map(|(id, count)| CatalogCount {
            id: id.to_string(),
            count,
        })
        .collect();
    catalogs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.id.cmp(&b.id)));

    let last = match &archive {
        Some(a) => a.last_sync()?,
        None => None,
    };
    let total_files = files.len() as u64;
    Ok(Dashboard {
        source: SourceSummary {
            name: "NAS 아카이브",
            db_path: archive_path.display().to_string(),
            total_files,
            total_size_bytes: total_size,
            by_type,
            db_size_mb: file_size_mb(&archive_path),
        },
        target: TargetSummary {
            name: "OTT 플랫폼",
            db_path: target_path.display().to_string(),
            total_files: active,
            by_format,
            excluded: Excluded {
                non_hls,
                duplicates,
            },
            hls_ratio: if total_files == 0 {
                0.0
            } else {
                active as f64 / total_files as f64
            },
        },
        sync_status: SyncStatus {
            is_running: false,
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
        },
        catalogs,
    })
}
