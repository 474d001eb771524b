//! Human and JSON output of the CLI, and the progress display.

use std::fmt::Write as _;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use nas_sync_engine::demo::DemoReport;
use nas_sync_engine::index::Status;
use nas_sync_engine::matching::{MatchingPage, NodeCounts, Tree, TreeDir, TreeNode};
use nas_sync_engine::query::Dashboard;
use nas_sync_engine::query::filters::{FacetCount, MatchingFacets};
use nas_sync_engine::reconcile::{ReconcileReport, Section};
use nas_sync_engine::scan::{ScanIssue, ScanProgress, ScanReport};
use nas_sync_engine::sync::SyncReport;
use serde::Serialize;

use crate::Outcome;

/// A spinner on stderr while a scan walks the share (terminals only).
pub struct Progress {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        let bar = enabled.then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b
        });
        Progress {
            bar: Mutex::new(bar),
        }
    }

    pub fn update(&self, p: &ScanProgress) {
        if let Ok(guard) = self.bar.lock()
            && let Some(b) = guard.as_ref()
        {
            b.set_message(format!(
                "스캔 중 / scanning: {} files, {} dirs, {:.0} files/s  {}",
                group(p.files),
                group(p.dirs),
                p.files_per_sec,
                p.current_dir
            ));
            b.tick();
        }
    }

    pub fn finish(&self) {
        if let Ok(mut guard) = self.bar.lock()
            && let Some(b) = guard.take()
        {
            b.finish_and_clear();
        }
    }
}

/// `s` padded with spaces to `width` terminal columns (Hangul counts as two).
pub fn pad(s: &str, width: usize) -> String {
    let w = unicode_width::UnicodeWidthStr::width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn warnings(out: &mut String, ws: &[ScanIssue]) {
    if ws.is_empty() {
        return;
    }
    let _ = writeln!(out, "경고 / warnings ({}):", ws.len());
    for w in ws.iter().take(20) {
        let what = match w.kind {
            nas_sync_engine::scan::IssueKind::UnreadableDir => {
                "directory could not be read; its known files were kept"
            }
            nas_sync_engine::scan::IssueKind::UnreadableFile => "file could not be read; skipped",
            nas_sync_engine::scan::IssueKind::InvalidName => "name is not valid UTF-8; skipped",
        };
        let _ = writeln!(out, "  {}: {what} ({})", w.path, w.message);
    }
    if ws.len() > 20 {
        let _ = writeln!(out, "  … and {} more (see --json)", ws.len() - 20);
    }
}

fn scan_lines(out: &mut String, r: &ScanReport) {
    let _ = writeln!(
        out,
        "  {:<10}{} files in {} directories ({})",
        "share",
        group(r.files_seen),
        group(r.dirs_seen),
        secs(r.duration_ms)
    );
    let _ = writeln!(
        out,
        "  {:<10}added {} · removed {} · modified {} · moved {} · unchanged {}",
        "archive",
        group(r.added),
        group(r.removed),
        group(r.modified),
        group(r.moved),
        group(r.unchanged)
    );
    if r.kept_unreadable > 0 {
        let _ = writeln!(
            out,
            "  {:<10}{} files kept because their directory could not be read",
            "",
            group(r.kept_unreadable)
        );
    }
}

pub fn scan(r: ScanReport) -> Outcome {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        if r.dry_run {
            "스캔 미리보기 / scan dry run — nothing written"
        } else {
            "스캔 완료 / scan committed"
        }
    );
    scan_lines(&mut out, &r);
    warnings(&mut out, &r.warnings);
    Outcome {
        json: json(&r),
        human: out,
        code: 0,
    }
}

pub fn sync(r: &SyncReport) -> Outcome {
    let mut out = String::new();
    let code = if r.refused.is_some() {
        3
    } else if !r.errors.is_empty() {
        1
    } else {
        0
    };
    let title = match (&r.refused, r.dry_run) {
        (Some(_), _) => "동기화 거부됨 / sync refused",
        (None, true) => "동기화 미리보기 / sync dry run — nothing written",
        (None, false) if !r.errors.is_empty() => "동기화 일부 실패 / sync applied with errors",
        (None, false) => "동기화 완료 / sync applied",
    };
    let _ = writeln!(out, "{title} ({})", secs(r.duration_ms));
    if let Some(s) = &r.scan {
        scan_lines(&mut out, s);
    }
    if let Some(p) = r.probe.as_ref().filter(|p| p.pending > 0) {
        let _ = writeln!(
            out,
            "  {:<10}probed {} video files: {} ok · {} failed · {} unknown{}",
            "media",
            group(p.probed),
            group(p.ok),
            group(p.failed),
            group(p.unsupported),
            if p.remaining > 0 {
                format!(" · {} left for after the sync", group(p.remaining))
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        out,
        "  {:<10}added {} · updated {} · moved {} · restored {} · deleted {} · unchanged {}",
        "Target",
        group(r.added),
        group(r.updated),
        group(r.moved),
        group(r.restored),
        group(r.deleted),
        group(r.skipped)
    );
    if r.held > 0 {
        let _ = writeln!(
            out,
            "  {:<10}복사 중 보류 / held back as still being copied: {}{}",
            "copying",
            group(r.held),
            r.settle_wait_secs
                .map(|s| format!(" — {s}초 뒤 다시 확인 / stable in {s} s at the earliest"))
                .unwrap_or_default()
        );
        for p in r.held_paths.iter().take(5) {
            let _ = writeln!(out, "  {:<10}{p}", "");
        }
    }
    if let Some(refusal) = &r.refused {
        let _ = writeln!(out, "\n{}", refusal.message);
    }
    if r.dry_run || r.refused.is_some() {
        let total = r.added + r.updated + r.moved + r.restored + r.deleted;
        if total > 0 {
            let _ = writeln!(out, "변경 예정 / would change:");
            for c in r.changes.iter().take(20) {
                match &c.old_path {
                    Some(old) => {
                        let _ = writeln!(out, "  {:<9}{old} → {}", c.event, c.path);
                    }
                    None => {
                        let _ = writeln!(out, "  {:<9}{}", c.event, c.path);
                    }
                }
            }
            if total > 20 {
                let _ = writeln!(out, "  … and {} more (see --json)", total - 20);
            }
        }
    }
    for e in r.errors.iter().take(20) {
        let _ = writeln!(out, "  error: {}: {}", e.path, e.message);
    }
    if let Some(s) = &r.scan {
        warnings(&mut out, &s.warnings);
    }
    Outcome {
        json: json(r),
        human: out,
        code,
    }
}

fn section<T>(out: &mut String, label: &str, s: &Section<T>, show: impl Fn(&T) -> String) {
    let _ = writeln!(out, "  {:<34}{:>8}", label, group(s.count));
    for x in s.items.iter().take(5) {
        let _ = writeln!(out, "      {}", show(x));
    }
    if s.count > 5 {
        let _ = writeln!(out, "      … {} more (see --json)", s.count - 5);
    }
}

pub fn reconcile(r: &ReconcileReport) -> Outcome {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "정합성 검증 / reconcile ({}): {}",
        secs(r.duration_ms),
        if r.in_sync {
            "✓ 일치 / in sync"
        } else {
            "차이 있음 / drift found"
        }
    );
    let _ = writeln!(
        out,
        "  share {} files · archive.db {} files · pokervod.db {} active rows",
        group(r.share_files),
        group(r.archive_files),
        group(r.target_active)
    );
    let p = |s: &String| s.clone();
    let mv = |m: &nas_sync_engine::reconcile::PathMove| format!("{} → {}", m.from, m.to);
    let tp = |t: &nas_sync_engine::reconcile::TargetPath| format!("#{} {}", t.id, t.nas_path);
    section(
        &mut out,
        "on share, not in archive.db",
        &r.on_share_not_in_archive,
        p,
    );
    section(
        &mut out,
        "in archive.db, not on share",
        &r.in_archive_not_on_share,
        p,
    );
    section(&mut out, "modified on share", &r.modified_on_share, p);
    section(&mut out, "moved on share", &r.moved_on_share, mv);
    section(&mut out, "would insert into Target", &r.would_insert, p);
    section(&mut out, "would update in Target", &r.would_update, p);
    section(&mut out, "would move in Target", &r.would_move, mv);
    section(&mut out, "would restore in Target", &r.would_restore, p);
    section(
        &mut out,
        "would mark deleted in Target",
        &r.would_delete,
        tp,
    );
    section(
        &mut out,
        "Target paths missing on share",
        &r.target_paths_missing,
        tp,
    );
    section(
        &mut out,
        "HLS ext., codec needs transcode",
        &r.needs_transcode,
        |c| format!("{} ({})", c.path, c.reason),
    );
    warnings(&mut out, &r.warnings);
    Outcome {
        json: json(r),
        human: out,
        code: 0,
    }
}

/// `nas-sync problems`: one line per problem, what it is in Korean and English, since when.
pub fn problems(p: &nas_sync_engine::archive::ProblemList) -> Outcome {
    use nas_sync_engine::archive::ProblemKind;
    let mut out = String::new();
    if p.items.is_empty() {
        let _ = writeln!(out, "문제 없음 / no problems");
    }
    for i in &p.items {
        let what = match i.kind {
            ProblemKind::UnreadableDir => "폴더를 읽을 수 없음 / folder unreadable",
            ProblemKind::UnreadableFile => "파일 정보를 읽을 수 없음 / file unreadable",
            ProblemKind::InvalidName => "이름을 읽을 수 없어 건너뜀 / name skipped",
            ProblemKind::SyncFailed => "OTT 카탈로그 반영 실패 / not written to the Target",
        };
        let run = match (i.sync_id, i.scan_id) {
            (Some(id), _) => format!("sync #{id}"),
            (None, Some(id)) => format!("scan #{id}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{}  {}  {}  ({}; {run})",
            i.since, what, i.path, i.message
        );
    }
    if (p.items.len() as u64) < p.total {
        let _ = writeln!(
            out,
            "{} / {}건 표시 / {} of {} shown",
            p.items.len(),
            p.total,
            p.items.len(),
            p.total
        );
    }
    Outcome {
        json: json(p),
        human: out,
        code: 0,
    }
}

pub fn dashboard(d: &Dashboard) -> Outcome {
    let mut out = String::new();
    let _ = writeln!(out, "NAS 동기화 모니터 / NAS Sync Monitor");
    let _ = writeln!(
        out,
        "  {}{:>10} files   {}",
        pad(&format!("{} (Source)", d.source.name), 24),
        group(d.source.total_files),
        d.source.db_path
    );
    let _ = writeln!(
        out,
        "  {}{:>10} HLS     {}",
        pad(&format!("{} (Target)", d.target.name), 24),
        group(d.target.total_files),
        d.target.db_path
    );
    let formats: Vec<String> = d
        .target
        .by_format
        .iter()
        .map(|(f, n)| format!("{f} {}", group(*n)))
        .collect();
    let _ = writeln!(
        out,
        "  형식 / formats: {} · HLS {:.0}% of all files · {:.1} MB total",
        formats.join(" · "),
        d.target.hls_ratio * 100.0,
        d.source.total_size_bytes as f64 / 1_048_576.0
    );
    let _ = writeln!(
        out,
        "  제외됨 / excluded: 비호환 {} · 중복 {}",
        group(d.target.excluded.non_hls),
        group(d.target.excluded.duplicates)
    );
    match (&d.sync_status.last_sync_time, &d.sync_status.last_result) {
        (Some(t), Some(r)) => {
            let _ = writeln!(
                out,
                "  마지막 동기화 / last sync: {t} — added {} · updated {} · moved {} · restored {} · deleted {} · errors {}",
                r.added, r.updated, r.moved, r.restored, r.deleted, r.errors
            );
        }
        _ => {
            let _ = writeln!(out, "  마지막 동기화 / last sync: 없음 / never");
        }
    }
    let _ = writeln!(out, "  카탈로그 / catalogs:");
    let max = d.catalogs.first().map(|c| c.count).unwrap_or(0).max(1);
    for c in d.catalogs.iter().take(8) {
        let width = ((c.count as f64 / max as f64) * 30.0).round() as usize;
        let _ = writeln!(
            out,
            "    {}{:>8}  {}",
            pad(&c.id, 14),
            group(c.count),
            "█".repeat(width.max(1))
        );
    }
    Outcome {
        json: json(d),
        human: out,
        code: 0,
    }
}

pub fn demo(r: &DemoReport) -> Outcome {
    let mut out = String::new();
    if r.created {
        let _ = writeln!(
            out,
            "데모 아카이브 생성 / demo archive written: {} files in {}",
            group(r.files),
            r.root.display()
        );
    } else {
        let _ = writeln!(
            out,
            "기존 데모 사용 / reusing the demo archive in {} ({} files)",
            r.root.display(),
            group(r.files)
        );
    }
    let _ = writeln!(out, "  config: {}", r.config.display());
    let _ = writeln!(
        out,
        "  next:   nas-sync --config {} sync",
        r.config.display()
    );
    Outcome {
        json: json(r),
        human: out,
        code: 0,
    }
}

#[derive(Serialize)]
pub struct ProbedFile {
    pub path: String,
    #[serde(flatten)]
    pub probe: nas_sync_engine::probe::Probe,
    pub bytes_read: u64,
}

pub fn probe(files: &[ProbedFile]) -> Outcome {
    use nas_sync_engine::probe::Probe;
    let mut out = String::new();
    let mut code = 0;
    for f in files {
        match &f.probe {
            Probe::Ok { info } => {
                let _ = writeln!(
                    out,
                    "{}: {} · video {} {} · audio {} · {} · read {} KiB",
                    f.path,
                    info.container,
                    info.video_codec.as_deref().unwrap_or("-"),
                    info.resolution().unwrap_or_else(|| "?".into()),
                    info.audio_codec.as_deref().unwrap_or("-"),
                    info.duration_sec
                        .map(|d| format!("{d:.2} s"))
                        .unwrap_or_else(|| "? s".into()),
                    f.bytes_read.div_ceil(1024)
                );
            }
            Probe::Failed { error } => {
                code = 1;
                let _ = writeln!(out, "{}: 실패 / failed: {error}", f.path);
            }
            Probe::Unsupported { reason } => {
                let _ = writeln!(out, "{}: 알 수 없음 / {reason}", f.path);
            }
        }
    }
    Outcome {
        json: json(&files),
        human: out,
        code,
    }
}

pub fn history(h: &nas_sync_engine::query::HistoryPage) -> Outcome {
    let mut out = String::new();
    if h.items.is_empty() {
        let _ = writeln!(out, "변경 이력 없음 / no changes recorded");
    }
    for i in &h.items {
        let label = match i.event.as_str() {
            "added" => "추가 added",
            "updated" => "변경 updated",
            "moved" => "이동 moved",
            "restored" => "복원 restored",
            _ => "삭제 deleted",
        };
        let what = match &i.old_path {
            Some(old) => format!("{old} → {}", i.path),
            None => i.path.clone(),
        };
        let _ = writeln!(
            out,
            "{}  {}{}  {what}",
            i.time,
            pad(label, 14),
            pad(&i.catalog, 12)
        );
    }
    let shown_to = h.offset + h.items.len() as u64;
    if h.offset > 0 || shown_to < h.total {
        let _ = writeln!(
            out,
            "{}–{} / {}건 (다음: --offset {shown_to}) / rows {}-{} of {}",
            h.offset + 1,
            shown_to,
            h.total,
            h.offset + 1,
            shown_to,
            h.total
        );
    }
    Outcome {
        json: json(h),
        human: out,
        code: 0,
    }
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Synced => "동기화됨 synced",
        Status::SyncedWithDuplicates => "동기화됨+중복 synced*",
        Status::New => "신규 new",
        Status::Copying => "복사 중 copying",
        Status::Changed => "변경 changed",
        Status::Deleted => "삭제 deleted",
        Status::Duplicate => "중복 duplicate",
        Status::NotSynced => "제외 not_synced",
    }
}

pub fn matching(p: &MatchingPage) -> Outcome {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} 항목 / items — 페이지 page {}/{} ({} per page)",
        group(p.total),
        p.page,
        p.pages.max(1),
        p.per_page
    );
    let s = &p.summary;
    let _ = writeln!(
        out,
        "동기화됨 synced {}  신규 new {}  복사 중 copying {}  변경 changed {}  삭제 deleted {}  중복 duplicate {}  제외 not_synced {}",
        group(s.synced),
        group(s.new),
        group(s.copying),
        group(s.changed),
        group(s.deleted),
        group(s.duplicates_excluded),
        group(s.not_synced)
    );
    if p.items.is_empty() {
        let _ = writeln!(out, "\n해당 항목 없음 / no items match");
    } else {
        out.push('\n');
    }
    for i in &p.items {
        let path = match (&i.source, &i.target) {
            (Some(src), _) => src.path.clone(),
            (None, Some(t)) => t.nas_path.clone(),
            (None, None) => String::new(),
        };
        let target = match &i.target {
            Some(t) => format!("#{}", t.id),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "{}{}  {path}",
            pad(status_label(i.status), 22),
            pad(&target, 9)
        );
        if !matches!(i.status, Status::Synced) {
            let _ = writeln!(out, "{}{}", pad("", 31), i.reason);
        }
        if i.name_collision {
            let _ = writeln!(
                out,
                "{}같은 이름, 다른 크기 — 사본이 아닌 다른 파일 / name collision, not a copy",
                pad("", 31)
            );
        }
        for d in &i.duplicates {
            let _ = writeln!(out, "{}+ 중복 {}", pad("", 31), d.path);
        }
    }
    Outcome {
        json: json(p),
        human: out,
        code: 0,
    }
}

/// `matching --facets`: what each filter can take, with its count.
pub fn matching_facets(f: &MatchingFacets) -> Outcome {
    let mut out = String::new();
    let list = |v: &[FacetCount]| -> String {
        if v.is_empty() {
            return "-".into();
        }
        v.iter()
            .map(|c| format!("{} {}", c.value, group(c.count)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "제외 사유 / reason (--reason): {}", list(&f.reasons));
    let _ = writeln!(
        out,
        "확장자 / extension (--ext):    {}",
        list(&f.extensions)
    );
    let _ = writeln!(out, "코덱 / codec (--codec):        {}", list(&f.codecs));
    let _ = writeln!(
        out,
        "같은 이름, 다른 크기 / name collisions (--collision): {} files in {} groups",
        group(f.name_collisions),
        group(f.collision_groups)
    );
    Outcome {
        json: json(f),
        human: out,
        code: 0,
    }
}

fn counts_line(c: &NodeCounts) -> String {
    let mut s = format!("{} files", group(c.total_files));
    for (label, n) in [
        ("synced", c.synced),
        ("new", c.new),
        ("copying", c.copying),
        ("changed", c.changed),
        ("deleted", c.deleted),
        ("dup", c.duplicates),
        ("not_synced", c.not_synced),
    ] {
        if n > 0 {
            let _ = write!(s, ", {label} {}", group(n));
        }
    }
    s
}

fn tree_dir(out: &mut String, d: &TreeDir, depth: usize) {
    let _ = writeln!(
        out,
        "{}{}/  ({})",
        "  ".repeat(depth),
        d.name,
        counts_line(&d.counts)
    );
    for c in &d.children {
        tree_dir(out, c, depth + 1);
    }
    for f in &d.files {
        let _ = writeln!(
            out,
            "{}{}  [{}]",
            "  ".repeat(depth + 1),
            f.name,
            f.status.as_str()
        );
    }
}

pub fn tree(t: &Tree) -> Outcome {
    let mut out = String::new();
    if t.catalogs.is_empty() {
        let _ = writeln!(out, "빈 아카이브 / empty archive");
    }
    for c in &t.catalogs {
        let _ = writeln!(out, "{}/  ({})", c.name, counts_line(&c.counts));
        for d in &c.children {
            tree_dir(&mut out, d, 1);
        }
        for f in &c.files {
            let _ = writeln!(out, "  {}  [{}]", f.name, f.status.as_str());
        }
    }
    Outcome {
        json: json(t),
        human: out,
        code: 0,
    }
}

pub fn tree_node(n: &TreeNode) -> Outcome {
    let mut out = String::new();
    let shown = if n.path.is_empty() { "/" } else { &n.path };
    let _ = writeln!(out, "{shown}  ({})", counts_line(&n.counts));
    for d in &n.directories {
        let _ = writeln!(out, "  {}/  ({})", d.name, counts_line(&d.counts));
    }
    for f in &n.files {
        let _ = writeln!(out, "  {}{}", pad(&f.name, 48), status_label(f.status));
    }
    let shown_to = n.offset + n.files.len() as u64;
    if n.files_total > shown_to || n.offset > 0 {
        let _ = writeln!(
            out,
            "  … 파일 files {}–{} / {} (--offset {} for more)",
            n.offset + 1,
            shown_to,
            n.files_total,
            shown_to
        );
    }
    Outcome {
        json: json(n),
        human: out,
        code: 0,
    }
}

/// `health`: one line, `healthy: …` (exit 0) when the server answered 200, else `unhealthy: …`
/// or `unreachable: …` (exit 1). `--json`: `{healthy, url, http_status, health, error}`.
pub fn health(url: &str, probe: &crate::health::Probe) -> Outcome {
    use crate::health::Probe;
    let (healthy, line, http_status, body, error) = match probe {
        Probe::Answered { status, body } => {
            let field = |k: &str| {
                body.as_ref()
                    .and_then(|b| b.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            // `503 root_unreachable (에러)`, `200 running (진행중)`: the HTTP status, the error
            // code (or the status when there is no error) and the label the screens show.
            let mut what = status.to_string();
            if let Some(part) = field("code").or_else(|| field("status")) {
                let _ = write!(what, " {part}");
            }
            if let Some(label) = field("label") {
                let _ = write!(what, " ({label})");
            }
            let healthy = *status == 200;
            let word = if healthy { "healthy" } else { "unhealthy" };
            (
                healthy,
                format!("{word}: {what} {url}"),
                Some(*status),
                body.clone(),
                None,
            )
        }
        Probe::Unreachable(why) => (
            false,
            format!("unreachable: {url}: {why}"),
            None,
            None,
            Some(serde_json::json!({"code": "unreachable", "message": why})),
        ),
    };
    Outcome {
        json: serde_json::json!({
            "healthy": healthy,
            "url": url,
            "http_status": http_status,
            "health": body,
            "error": error,
        }),
        human: format!("{line}\n"),
        code: if healthy { 0 } else { 1 },
    }
}
