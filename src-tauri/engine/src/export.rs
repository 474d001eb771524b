//! CSV exports (내보내기) of the matching table, the change history and a reconcile report, for
//! `nas-sync … --csv`, `GET /api/…/export.csv` and the desktop app's export commands.
//!
//! The file is what Excel opens as it is, Hangul included: UTF-8 with a byte order mark, CRLF
//! line ends, RFC 4180 quoting (a field with `,` `"` CR or LF is quoted, `"` doubled). Text that
//! a spreadsheet would run as a formula (a cell starting with `=` `+` `-` `@`, a tab or a CR)
//! gets a leading `'`, so a file named `=HYPERLINK(…).mp4` stays text (CSV injection). Headers
//! are Korean by default ([`CsvLang`]); times are `YYYY-MM-DD HH:mm` in the reader's time zone
//! ([`Zone`]), named in the column's header.
//!
//! Rows are written as they are read: the writer takes any [`Write`] and nothing here holds
//! more than a chunk of rows, so an export of a million rows streams in bounded memory. Nothing
//! is written before the query is known to be valid, so a host can still answer an error.

use std::io::{self, Write};

use chrono::{DateTime, FixedOffset, Local, Offset, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::index::{Index, Status};
use crate::matching::{self, MatchItem, MatchingQuery};
use crate::query::{self, HistoryFilter, HistoryItem};
use crate::reconcile::ReconcileReport;

/// UTF-8's byte order mark: Excel reads the file as UTF-8 only with it.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The language of the header row and of the status and event words.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CsvLang {
    #[default]
    Ko,
    En,
}

impl CsvLang {
    pub fn parse(s: &str) -> Result<CsvLang> {
        match s {
            "ko" => Ok(CsvLang::Ko),
            "en" => Ok(CsvLang::En),
            _ => Err(Error::invalid(
                "lang",
                format!("lang must be ko or en (got `{s}`)"),
            )),
        }
    }
}

/// The time zone the times are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// This machine's zone (the CLI, the desktop app), daylight saving included.
    Local,
    /// A fixed offset from UTC (a browser's, sent with the request).
    Fixed(FixedOffset),
}

impl Zone {
    /// A zone from minutes east of UTC (`540` for Korea; JavaScript's `-getTimezoneOffset()`),
    /// or this machine's when `None`.
    pub fn from_minutes(minutes: Option<i32>) -> Result<Zone> {
        match minutes {
            None => Ok(Zone::Local),
            Some(m) => (-18 * 60..=18 * 60)
                .contains(&m)
                .then(|| FixedOffset::east_opt(m * 60))
                .flatten()
                .map(Zone::Fixed)
                .ok_or_else(|| {
                    Error::invalid(
                        "utc_offset",
                        format!(
                            "utc_offset is minutes east of UTC, between -1080 and 1080 (got {m})"
                        ),
                    )
                }),
        }
    }

    fn offset_at(&self, t: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Local => Local.offset_from_utc_datetime(&t.naive_utc()).fix(),
            Zone::Fixed(o) => *o,
        }
    }

    /// `2026-11-30 14:05` in this zone.
    pub fn format(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.offset_at(t))
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// `UTC+09:00`, as of `now` (for a header).
    pub fn label(&self, now: DateTime<Utc>) -> String {
        let secs = self.offset_at(now).local_minus_utc();
        let sign = if secs < 0 { '-' } else { '+' };
        let m = secs.unsigned_abs() / 60;
        format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
    }
}

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub lang: CsvLang,
    pub zone: Zone,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            lang: CsvLang::Ko,
            zone: Zone::Local,
        }
    }
}

impl CsvOptions {
    fn t<'a>(&self, ko: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            CsvLang::Ko => ko,
            CsvLang::En => en,
        }
    }

    /// A time column's header: `수정 시각 (UTC+09:00)`.
    fn time_header(&self, ko: &str, en: &str) -> String {
        format!("{} ({})", self.t(ko, en), self.zone.label(Utc::now()))
    }

    /// An ISO 8601 time as stored, in the reader's zone (as stored when it is not one).
    fn iso_time(&self, iso: &str) -> String {
        DateTime::parse_from_rfc3339(iso)
            .map(|t| self.zone.format(t.with_timezone(&Utc)))
            .unwrap_or_else(|_| iso.to_string())
    }

    fn epoch_time(&self, secs: i64) -> String {
        DateTime::from_timestamp(secs, 0)
            .map(|t| self.zone.format(t))
            .unwrap_or_default()
    }
}

/// One field of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// Text: quoted when needed, guarded against formulas.
    Text(&'a str),
    Int(i64),
    Float(f64),
    Empty,
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(s)
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Cell::Text(s)
    }
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Cell::Empty)
    }
}

impl From<i64> for Cell<'_> {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}

impl From<u64> for Cell<'_> {
    fn from(v: u64) -> Self {
        Cell::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Cell<'_> {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}

/// Whether a spreadsheet would take text starting this way as a formula (OWASP's list).
fn formula_like(s: &str) -> bool {
    matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// Write one text field: `'` first when formula-like, quoted when it has `,` `"` CR or LF.
pub fn write_text(out: &mut impl Write, s: &str) -> io::Result<()> {
    let guard = formula_like(s);
    let quote = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if !quote {
        if guard {
            out.write_all(b"'")?;
        }
        return out.write_all(s.as_bytes());
    }
    out.write_all(b"\"")?;
    if guard {
        out.write_all(b"'")?;
    }
    let mut rest = s;
    while let Some(i) = rest.find('"') {
        out.write_all(&rest.as_bytes()[..=i])?;
        out.write_all(b"\"")?;
        rest = &rest[i + 1..];
    }
    out.write_all(rest.as_bytes())?;
    out.write_all(b"\"")
}

/// A CSV file being written: the BOM and the header go out with the first row (or at
/// [`CsvWriter::finish`] for a file without rows), so a failure before any row leaves the
/// output untouched.
pub struct CsvWriter<W: Write> {
    out: W,
    header: Vec<String>,
    started: bool,
    rows: u64,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, header: Vec<String>) -> CsvWriter<W> {
        CsvWriter {
            out,
            header,
            started: false,
            rows: 0,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        self.out.write_all(BOM)?;
        let header = std::mem::take(&mut self.header);
        let cells: Vec<Cell<'_>> = header.iter().map(|h| Cell::Text(h)).collect();
        self.line(&cells)
    }

    fn line(&mut self, cells: &[Cell<'_>]) -> io::Result<()> {
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            match c {
                Cell::Text(s) => write_text(&mut self.out, s)?,
                Cell::Int(v) => write!(self.out, "{v}")?,
                // Milliseconds at most: 0.946 s, not 0.9464444444444444.
                Cell::Float(v) if v.is_finite() => {
                    write!(self.out, "{}", (v * 1000.0).round() / 1000.0)?
                }
                Cell::Float(_) | Cell::Empty => {}
            }
        }
        self.out.write_all(b"\r\n")
    }

    /// One data row (as many cells as the header has).
    pub fn row(&mut self, cells: &[Cell<'_>]) -> io::Result<()> {
        self.start()?;
        self.rows += 1;
        self.line(cells)
    }

    /// Rows written so far (not counting the header).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Write the header if no row did, flush, and give back the output and the row count.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.start()?;
        self.out.flush()?;
        Ok((self.out, self.rows))
    }
}

fn io_err(what: &str) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::io(format!("CSV export ({what})"), e)
}

/// A status as the screens name it.
pub fn status_label(s: Status, lang: CsvLang) -> &'static str {
    let ko = lang == CsvLang::Ko;
    match (s, ko) {
        (Status::Synced, true) => "동기화됨",
        (Status::Synced, false) => "Synced",
        (Status::SyncedWithDuplicates, true) => "동기화됨 (중복)",
        (Status::SyncedWithDuplicates, false) => "Synced (duplicates)",
        (Status::New, true) => "신규",
        (Status::New, false) => "New",
        (Status::Copying, true) => "복사 중",
        (Status::Copying, false) => "Copying",
        (Status::Changed, true) => "변경 대기",
        (Status::Changed, false) => "Pending change",
        (Status::Deleted, true) => "삭제됨",
        (Status::Deleted, false) => "Deleted",
        (Status::Duplicate, true) => "중복",
        (Status::Duplicate, false) => "Duplicate",
        (Status::NotSynced, true) => "미등록",
        (Status::NotSynced, false) => "Not synced",
    }
}

/// A history event as the screens name it.
pub fn event_label(event: &str, lang: CsvLang) -> &str {
    let ko = lang == CsvLang::Ko;
    match (event, ko) {
        ("added", true) => "추가",
        ("added", false) => "Added",
        ("deleted", true) => "삭제",
        ("deleted", false) => "Deleted",
        ("moved", true) => "이동",
        ("moved", false) => "Moved",
        ("updated", true) => "변경",
        ("updated", false) => "Updated",
        ("restored", true) => "복원",
        ("restored", false) => "Restored",
        (other, _) => other,
    }
}

// ---------------------------------------------------------------------------------------------
// The matching table

fn matching_header(o: &CsvOptions) -> Vec<String> {
    vec![
        o.t("상태", "Status").into(),
        o.t("상태 코드", "Status code").into(),
        o.t("사유", "Reason").into(),
        o.t("사유 코드", "Reason code").into(),
        o.t("카탈로그", "Catalog").into(),
        o.t("NAS 경로 (원본)", "NAS path (Source)").into(),
        o.t("크기 (바이트)", "Size (bytes)").into(),
        o.time_header("수정 시각", "Modified"),
        o.t("코덱", "Codec").into(),
        o.t("해상도", "Resolution").into(),
        o.t("재생 시간 (초)", "Duration (s)").into(),
        o.t("대상 ID", "Target ID").into(),
        o.t("대상 경로 (OTT 플랫폼)", "Target path (OTT platform)")
            .into(),
        o.t("대상 상태", "Target status").into(),
        o.t("HLS 재생 가능", "HLS playable").into(),
        o.t("경고", "Warning").into(),
        o.t("동기화된 원본", "Synced copy").into(),
        o.t("중복 경로 수", "Duplicate paths").into(),
    ]
}

fn matching_row<W: Write>(w: &mut CsvWriter<W>, o: &CsvOptions, m: &MatchItem) -> io::Result<()> {
    let s = m.source.as_ref();
    let t = m.target.as_ref();
    let mtime = s.map(|s| o.epoch_time(s.mtime));
    let hls = t.map(|t| {
        if t.hls_compatible {
            o.t("예", "yes")
        } else {
            o.t("아니요", "no")
        }
    });
    w.row(&[
        status_label(m.status, o.lang).into(),
        m.status.as_str().into(),
        Cell::Text(&m.reason),
        Cell::Text(&m.reason_code),
        Cell::Text(&m.catalog),
        s.map(|s| s.path.as_str()).into(),
        s.map(|s| s.size_bytes).or(t.map(|t| t.size_bytes)).into(),
        mtime.as_ref().into(),
        s.and_then(|s| s.codec.as_ref()).into(),
        s.and_then(|s| s.resolution.as_ref()).into(),
        s.and_then(|s| s.duration_sec).into(),
        t.map(|t| t.id).into(),
        t.map(|t| t.nas_path.as_str()).into(),
        t.map(|t| t.status.as_str()).into(),
        hls.into(),
        m.warning.as_ref().into(),
        m.primary.as_ref().map(|p| p.path.as_str()).into(),
        (m.duplicates.len() as u64).into(),
    ])
}

/// The matching table with `q`'s filters and sort, every page (`page`, `per_page` ignored).
/// Returns the rows written. An invalid query is an error before anything is written.
pub fn matching_csv(
    index: &Index,
    q: &MatchingQuery,
    o: &CsvOptions,
    out: impl Write,
) -> Result<u64> {
    let mut w = CsvWriter::new(out, matching_header(o));
    let err = io_err("matching");
    matching::for_each_match(index, q, |items| {
        for m in &items {
            matching_row(&mut w, o, m).map_err(&err)?;
        }
        Ok(())
    })?;
    let (_, rows) = w.finish().map_err(&err)?;
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// The history

fn history_header(o: &CsvOptions) -> Vec<String> {
    vec![
        o.time_header("시간", "Time"),
        o.t("이벤트", "Event").into(),
        o.t("이벤트 코드", "Event code").into(),
        o.t("카탈로그", "Catalog").into(),
        o.t("경로", "Path").into(),
        o.t("이전 경로", "Old path").into(),
        o.t("대상 ID", "Target ID").into(),
        o.t("이력 ID", "History ID").into(),
    ]
}

/// The change history with `f`'s filters (event, catalog, since, search), newest first, every
/// row (`limit`, `offset` ignored). Returns the rows written.
pub fn history_csv(
    cfg: &Config,
    f: &HistoryFilter,
    o: &CsvOptions,
    out: impl Write,
) -> Result<u64> {
    let mut w = CsvWriter::new(out, history_header(o));
    let err = io_err("history");
    query::for_each_history(cfg, f, |h: &HistoryItem| {
        let time = o.iso_time(&h.time);
        w.row(&[
            Cell::Text(&time),
            event_label(&h.event, o.lang).into(),
            Cell::Text(&h.event),
            Cell::Text(&h.catalog),
            Cell::Text(&h.path),
            h.old_path.as_ref().into(),
            h.target_id.into(),
            h.id.into(),
        ])
        .map_err(&err)
    })?;
    let (_, rows) = w.finish().map_err(&err)?;
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// A reconcile report

/// The report's sections: key, Korean and English label.
pub const RECONCILE_SECTIONS: &[(&str, &str, &str)] = &[
    (
        "on_share_not_in_archive",
        "NAS에 있으나 원본 목록에 없음 (신규·이동)",
        "On the share, not in the Source list (new/moved)",
    ),
    (
        "in_archive_not_on_share",
        "원본 목록에 있으나 NAS에 없음 (삭제·이동)",
        "In the Source list, gone from the share",
    ),
    (
        "modified_on_share",
        "NAS에서 변경됨 (크기·수정 시각)",
        "Modified on the share",
    ),
    ("moved_on_share", "NAS에서 이동됨", "Moved on the share"),
    ("would_insert", "다음 동기화에서 추가", "Next sync inserts"),
    ("would_update", "다음 동기화에서 변경", "Next sync updates"),
    ("would_move", "다음 동기화에서 이동", "Next sync moves"),
    (
        "would_restore",
        "다음 동기화에서 복원",
        "Next sync restores",
    ),
    ("would_delete", "다음 동기화에서 삭제", "Next sync deletes"),
    (
        "target_paths_missing",
        "OTT 플랫폼의 경로가 NAS에 없음",
        "OTT platform paths missing on the share",
    ),
    (
        "needs_transcode",
        "트랜스코딩 필요 (차이로 세지 않음)",
        "Needs transcoding (not drift)",
    ),
    ("warnings", "경고", "Warnings"),
];

/// Rows a reconcile export has: one per listed finding.
pub fn reconcile_rows(r: &ReconcileReport) -> u64 {
    (r.on_share_not_in_archive.items.len()
        + r.in_archive_not_on_share.items.len()
        + r.modified_on_share.items.len()
        + r.moved_on_share.items.len()
        + r.would_insert.items.len()
        + r.would_update.items.len()
        + r.would_move.items.len()
        + r.would_restore.items.len()
        + r.would_delete.items.len()
        + r.target_paths_missing.items.len()
        + r.needs_transcode.items.len()
        + r.warnings.len()) as u64
}

/// Whether some section lists fewer findings than it counts ([`crate::reconcile::MAX_LISTED`]).
pub fn reconcile_truncated(r: &ReconcileReport) -> bool {
    let s = |count: u64, listed: usize| count > listed as u64;
    s(
        r.on_share_not_in_archive.count,
        r.on_share_not_in_archive.items.len(),
    ) || s(
        r.in_archive_not_on_share.count,
        r.in_archive_not_on_share.items.len(),
    ) || s(r.modified_on_share.count, r.modified_on_share.items.len())
        || s(r.moved_on_share.count, r.moved_on_share.items.len())
        || s(r.would_insert.count, r.would_insert.items.len())
        || s(r.would_update.count, r.would_update.items.len())
        || s(r.would_move.count, r.would_move.items.len())
        || s(r.would_restore.count, r.would_restore.items.len())
        || s(r.would_delete.count, r.would_delete.items.len())
        || s(
            r.target_paths_missing.count,
            r.target_paths_missing.items.len(),
        )
        || s(r.needs_transcode.count, r.needs_transcode.items.len())
}

/// A finding: its path, the path it moved from, a Target row id, a codec, a detail.
#[derive(Default)]
struct Finding<'a> {
    path: &'a str,
    from: Option<&'a str>,
    target_id: Option<i64>,
    codec: Option<&'a str>,
    detail: Option<&'a str>,
}

/// A reconcile report, one row per finding, with its section (label and key) in front.
/// Returns the rows written.
pub fn reconcile_csv(r: &ReconcileReport, o: &CsvOptions, out: impl Write) -> Result<u64> {
    let header = vec![
        o.t("구분", "Section").to_string(),
        o.t("구분 코드", "Section code").into(),
        o.t("경로", "Path").into(),
        o.t("이전 경로", "Old path").into(),
        o.t("대상 ID", "Target ID").into(),
        o.t("코덱", "Codec").into(),
        o.t("내용", "Detail").into(),
    ];
    let mut w = CsvWriter::new(out, header);
    let err = io_err("reconcile");
    let mut emit = |key: &str, f: Finding<'_>| -> Result<()> {
        let label = RECONCILE_SECTIONS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, ko, en)| o.t(ko, en))
            .unwrap_or(key);
        w.row(&[
            Cell::Text(label),
            Cell::Text(key),
            Cell::Text(f.path),
            f.from.into(),
            f.target_id.into(),
            f.codec.into(),
            f.detail.into(),
        ])
        .map_err(&err)
    };
    for (key, items) in [
        ("on_share_not_in_archive", &r.on_share_not_in_archive.items),
        ("in_archive_not_on_share", &r.in_archive_not_on_share.items),
        ("modified_on_share", &r.modified_on_share.items),
    ] {
        for p in items {
            emit(
                key,
                Finding {
                    path: p,
                    ..Default::default()
                },
            )?;
        }
    }
    for m in &r.moved_on_share.items {
        emit(
            "moved_on_share",
            Finding {
                path: &m.to,
                from: Some(&m.from),
                ..Default::default()
            },
        )?;
    }
    for (key, items) in [
        ("would_insert", &r.would_insert.items),
        ("would_update", &r.would_update.items),
    ] {
        for p in items {
            emit(
                key,
                Finding {
                    path: p,
                    ..Default::default()
                },
            )?;
        }
    }
    for m in &r.would_move.items {
        emit(
            "would_move",
            Finding {
                path: &m.to,
                from: Some(&m.from),
                ..Default::default()
            },
        )?;
    }
    for p in &r.would_restore.items {
        emit(
            "would_restore",
            Finding {
                path: p,
                ..Default::default()
            },
        )?;
    }
    for (key, items) in [
        ("would_delete", &r.would_delete.items),
        ("target_paths_missing", &r.target_paths_missing.items),
    ] {
        for t in items {
            emit(
                key,
                Finding {
                    path: &t.nas_path,
                    target_id: Some(t.id),
                    ..Default::default()
                },
            )?;
        }
    }
    for c in &r.needs_transcode.items {
        emit(
            "needs_transcode",
            Finding {
                path: &c.path,
                codec: Some(&c.codec),
                detail: Some(&c.reason),
                ..Default::default()
            },
        )?;
    }
    for i in &r.warnings {
        emit(
            "warnings",
            Finding {
                path: &i.path,
                detail: Some(&i.message),
                ..Default::default()
            },
        )?;
    }
    let (_, rows) = w.finish().map_err(&err)?;
    Ok(rows)
}

/// A file name for an export made at `now`: `nas-sync-matching-20261130-1405.csv`.
pub fn file_name(what: &str, zone: Zone, now: DateTime<Utc>) -> String {
    let local = now.with_timezone(&zone.offset_at(now));
    format!("nas-sync-{what}-{}.csv", local.format("%Y%m%d-%H%M"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        let mut out = Vec::new();
        write_text(&mut out, s).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn fields_are_quoted_as_rfc_4180_says_and_formulas_stay_text() {
        assert_eq!(text("plain.mp4"), "plain.mp4");
        assert_eq!(text("a,b"), "\"a,b\"");
        assert_eq!(text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(text("two\nlines"), "\"two\nlines\"");
        assert_eq!(text("cr\r"), "\"cr\r\"");
        assert_eq!(text("=1+2"), "'=1+2");
        assert_eq!(text("+82"), "'+82");
        assert_eq!(text("-x.mp4"), "'-x.mp4");
        assert_eq!(text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text("\tx"), "'\tx");
        assert_eq!(text("\rx"), "\"'\rx\"");
        assert_eq!(
            text("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        // Not at the start: plain text.
        assert_eq!(text("a=b-c+d@e"), "a=b-c+d@e");
        assert_eq!(text("한글 파일.mp4"), "한글 파일.mp4");
        assert_eq!(text(""), "");
    }

    #[test]
    fn the_bom_and_header_come_with_the_first_row_or_at_the_end() {
        let w = CsvWriter::new(Vec::new(), vec!["경로".into(), "크기".into()]);
        let (out, rows) = w.finish().expect("finish");
        assert_eq!(rows, 0);
        assert_eq!(out, "\u{feff}경로,크기\r\n".as_bytes());
        let mut w = CsvWriter::new(Vec::new(), vec!["a".into(), "b".into(), "c".into()]);
        w.row(&["x,y".into(), Cell::Int(-3), Cell::Empty])
            .expect("row");
        w.row(&[Cell::Float(1.5), Cell::Float(f64::NAN), "-1".into()])
            .expect("row");
        let (out, rows) = w.finish().expect("finish");
        assert_eq!(rows, 2);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "\u{feff}a,b,c\r\n\"x,y\",-3,\r\n1.5,,'-1\r\n"
        );
    }

    #[test]
    fn times_are_written_in_the_readers_zone() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T23:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let seoul = Zone::from_minutes(Some(540)).expect("zone");
        assert_eq!(seoul.format(t), "2026-12-01 08:30");
        assert_eq!(seoul.label(t), "UTC+09:00");
        let ny = Zone::from_minutes(Some(-300)).expect("zone");
        assert_eq!(ny.format(t), "2026-11-30 18:30");
        assert_eq!(ny.label(t), "UTC-05:00");
        assert!(Zone::from_minutes(Some(24 * 60)).is_err());
        assert_eq!(
            file_name("history", seoul, t),
            "nas-sync-history-20261201-0830.csv"
        );
        let o = CsvOptions {
            lang: CsvLang::Ko,
            zone: seoul,
        };
        assert_eq!(o.iso_time("2026-11-30T23:30:00Z"), "2026-12-01 08:30");
        assert_eq!(o.epoch_time(t.timestamp()), "2026-12-01 08:30");
        assert_eq!(CsvLang::parse("en").expect("lang"), CsvLang::En);
        for wrong in ["fr", "", "EN", " ko"] {
            assert!(CsvLang::parse(wrong).is_err(), "{wrong:?}");
        }
    }
}
