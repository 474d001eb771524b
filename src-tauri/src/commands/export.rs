//! CSV exports (내보내기), as `GET /api/matching/export.csv`, `/api/history/export.csv` and
//! `/api/reconcile/export.csv` answer them (the same
//! [`Service`](nas_sync_engine::runtime::Service) calls). The window cannot take a download, so
//! the file is saved in the user's Downloads folder (the app has no file dialog) under a dated
//! name, and the answer says where: the screen shows that path.

use std::io::Write;
use std::path::{Path, PathBuf};

use nas_sync_engine::export::{CsvLang, CsvOptions, Zone, file_name};
use nas_sync_engine::matching::MatchingQuery;
use nas_sync_engine::query::HistoryFilter;
use nas_sync_engine::runtime::Service;
use nas_sync_engine::runtime::service::Answer;
use serde::Serialize;
use tauri::State;

use crate::error::{CmdError, CmdResult, ErrorCode};
use crate::state::Shell;

/// Where an export was saved.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSaved {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

/// The Downloads folder (else the home folder, else the temporary one).
pub fn export_dir() -> PathBuf {
    dirs::download_dir()
        .filter(|d| d.is_dir())
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
}

/// `name` in `dir`, or `stem (2).csv`, `stem (3).csv`, … when taken (as browsers name a second
/// download).
pub fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let stem = name.strip_suffix(".csv").unwrap_or(name);
    (2..10_000)
        .map(|n| dir.join(format!("{stem} ({n}).csv")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

fn io_error(path: &Path, e: std::io::Error) -> CmdError {
    CmdError::new(
        ErrorCode::Io,
        format!(
            "내보내기 파일을 쓸 수 없습니다 / cannot write {}: {e}",
            path.display()
        ),
    )
}

/// Write an export into `dir` next to its final name, then rename it (a failed export leaves no
/// file that looks whole).
pub fn save_into(
    dir: &Path,
    what: &str,
    export: impl FnOnce(&mut dyn Write) -> Answer<u64>,
) -> CmdResult<ExportSaved> {
    let path = free_name(dir, &file_name(what, Zone::Local, chrono::Utc::now()));
    let part = path.with_extension("csv.part");
    let file = std::fs::File::create(&part).map_err(|e| io_error(&part, e))?;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let written = export(&mut out).and_then(|rows| {
        let file = out
            .into_inner()
            .map_err(|e| io_error(&part, e.into_error()))?;
        file.sync_all().map_err(|e| io_error(&part, e))?;
        Ok(rows)
    });
    let rows = match written {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, &path).map_err(|e| io_error(&path, e))?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        "CSV 내보내기 {rows}행 → {} / CSV export saved",
        path.display()
    );
    Ok(ExportSaved { path, rows, bytes })
}

fn options(lang: Option<CsvLang>) -> CsvOptions {
    CsvOptions {
        lang: lang.unwrap_or_default(),
        zone: Zone::Local,
    }
}

async fn export(
    shell: &Shell,
    what: &'static str,
    f: impl FnOnce(&Service, &mut dyn Write) -> Answer<u64> + Send + 'static,
) -> CmdResult<ExportSaved> {
    let dir = export_dir();
    shell
        .call(move |s| save_into(&dir, what, |out| f(s, out)))
        .await
}

/// The matching table with the screen's filters, every page.
#[tauri::command]
pub async fn export_matching_csv(
    shell: State<'_, Shell>,
    query: Option<MatchingQuery>,
    lang: Option<CsvLang>,
) -> CmdResult<ExportSaved> {
    let q = query.unwrap_or_default();
    let o = options(lang);
    export(&shell, "matching", move |s, out| {
        s.export_matching(&q, &o, out)
    })
    .await
}

/// The change history with the screen's filters (search included), every row.
#[tauri::command]
pub async fn export_history_csv(
    shell: State<'_, Shell>,
    query: Option<HistoryFilter>,
    lang: Option<CsvLang>,
) -> CmdResult<ExportSaved> {
    let f = query.unwrap_or_default();
    let o = options(lang);
    export(&shell, "history", move |s, out| {
        s.export_history(&f, &o, out)
    })
    .await
}

/// A reconcile job's report (the latest by default), one row per listed finding.
#[tauri::command]
pub async fn export_reconcile_csv(
    shell: State<'_, Shell>,
    job_id: Option<u64>,
    lang: Option<CsvLang>,
) -> CmdResult<ExportSaved> {
    let o = options(lang);
    export(&shell, "reconcile", move |s, out| {
        let (_, report) = s.reconcile_report(job_id)?;
        Ok(nas_sync_engine::export::reconcile_csv(&report, &o, out)?)
    })
    .await
}
