//! The sync rules' verdict on every item of the matching table: its [`Status`], reason code and
//! reason text, computed in memory from the Source files and the Target rows, with the
//! whole-archive numbers ([`Stats`]) gathered on the way.

use rustc_hash::{FxHashMap, FxHashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::archive::FileRecord;
use crate::names::Kind;
use crate::rules::{self, Action, Event, Hold, Role, Rules};
use crate::target::TargetRow;

/// A row's status in the 1:1 matching table. The order is the `sort=status` order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[ts(rename = "MatchStatus")]
#[schemars(rename = "MatchStatus")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The primary of its name group, and its Target row is exactly right.
    Synced,
    /// Synced, and other eligible files share its name (they are `Duplicate`).
    SyncedWithDuplicates,
    /// Eligible primary with no Target row yet: the next sync inserts it.
    New,
    /// Still being copied or written (modified within `settle_secs`, or seen changing during
    /// the scan): held back from the Target until it is stable; a Target row it already has is
    /// kept as it was.
    Copying,
    /// Has a Target row that the next sync rewrites (size/media update, move, re-point, restore).
    Changed,
    /// A Target row no current primary holds: soft-deleted, or soft-deleted by the next sync.
    Deleted,
    /// Eligible, but another file of the same name is synced instead.
    Duplicate,
    /// Not eligible (format, subtitle, not a video, codec).
    NotSynced,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Synced,
        Status::SyncedWithDuplicates,
        Status::New,
        Status::Copying,
        Status::Changed,
        Status::Deleted,
        Status::Duplicate,
        Status::NotSynced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Synced => "synced",
            Status::SyncedWithDuplicates => "synced_with_duplicates",
            Status::New => "new",
            Status::Copying => "copying",
            Status::Changed => "changed",
            Status::Deleted => "deleted",
            Status::Duplicate => "duplicate",
            Status::NotSynced => "not_synced",
        }
    }

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(c: i64) -> Status {
        Status::ALL
            .get(usize::try_from(c).unwrap_or(0))
            .copied()
            .unwrap_or(Status::NotSynced)
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.iter().copied().find(|st| st.as_str() == s)
    }
}

/// Counts by status, in [`Status::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts(pub [u64; 8]);

impl Counts {
    pub fn get(&self, s: Status) -> u64 {
        self.0[s as usize]
    }
    pub fn add(&mut self, s: Status, n: u64) {
        self.0[s as usize] += n;
    }
    pub fn merge(&mut self, o: &Counts) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a += b;
        }
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// Source files only (every status but `deleted`, which is a Target-only row).
    pub fn source_files(&self) -> u64 {
        self.total() - self.get(Status::Deleted)
    }
}

/// Whole-archive numbers for the dashboard, computed with the index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub source_files: u64,
    pub source_size_bytes: u64,
    pub by_type: std::collections::BTreeMap<String, u64>,
    /// Source files per catalog.
    pub catalogs: Vec<(String, u64)>,
    pub target_active: u64,
    pub target_by_format: std::collections::BTreeMap<String, u64>,
    /// Video files that are not eligible.
    pub non_hls: u64,
    /// Eligible files with an HLS extension whose probed codec HLS cannot play.
    pub needs_transcode: u64,
    pub counts: Counts,
}

/// One item as computed in memory; strings are borrowed from the inputs.
pub(super) struct Item<'a> {
    pub(super) status: Status,
    pub(super) path: &'a str,
    pub(super) reason_code: &'static str,
    /// `None`: the code's standard text ([`standard_reason`]).
    pub(super) reason: Option<String>,
    pub(super) warning: Option<String>,
    pub(super) source: Option<usize>,
    pub(super) target: Option<usize>,
    /// Index into `files` of the primary (duplicates).
    pub(super) primary: Option<usize>,
    pub(super) dup_count: i64,
}

pub(super) struct Built<'a> {
    pub(super) items: Vec<Item<'a>>,
    pub(super) stats: Stats,
    pub(super) files: &'a [FileRecord],
    pub(super) rows: &'a [TargetRow],
}

/// The text of reason codes whose reason never varies (stored once here, not per row).
pub fn standard_reason(code: &str) -> Option<&'static str> {
    Some(match code {
        "synced" => "동기화됨",
        "pending_insert" => "새 파일 — 다음 동기화 때 추가됩니다",
        "pending_restore" => "NAS에 다시 있음 — 다음 동기화 때 복원됩니다",
        "deleted" => "삭제됨 — NAS에 파일 없음 (소프트 삭제)",
        "pending_delete" => "NAS에 파일 없음 — 다음 동기화 때 삭제 처리됩니다",
        "pending_delete_excluded" => {
            "NAS 파일이 동기화 대상이 아님 — 다음 동기화 때 삭제 처리됩니다"
        }
        _ => return None,
    })
}

fn human_size(n: i64) -> String {
    let n = n.max(0) as f64;
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{} B", n as i64)
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Why the next sync rewrites a row at the file's own path: the first difference found.
fn update_reason(f: &FileRecord, row: &TargetRow, rules: &Rules) -> String {
    let d = rules::desired(f, rules);
    let tail = "다음 동기화 때 갱신됩니다";
    if row.size_bytes != d.size_bytes {
        return format!(
            "크기 변경 ({} → {}) — {tail}",
            human_size(row.size_bytes),
            human_size(d.size_bytes)
        );
    }
    if row.format != d.format || row.hls_compatible != d.hls_compatible {
        return format!("형식 정보 변경 ({} → {}) — {tail}", row.format, d.format);
    }
    if row.filename != d.filename || row.catalog != d.catalog {
        return format!("이름/카탈로그 정보 변경 — {tail}");
    }
    format!("미디어 정보 변경 (코덱·해상도·길이) — {tail}")
}

pub(super) fn build<'a>(
    files: &'a [FileRecord],
    rows: &'a [TargetRow],
    rules: &Rules,
    hold: &Hold,
) -> Built<'a> {
    let t0 = Instant::now();
    let plan = rules::plan(files, rows, rules, hold);
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "index: plan");
    let row_by_id: FxHashMap<i64, usize> =
        rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let mut events: FxHashMap<usize, (Event, &str)> = FxHashMap::default();
    for a in &plan.actions {
        if let Action::Update {
            file,
            event,
            old_path,
            ..
        } = a
        {
            events.insert(*file, (*event, old_path.as_str()));
        }
    }
    let mut dup_count: FxHashMap<usize, i64> = FxHashMap::default();
    for role in &plan.roles {
        if let Role::Duplicate { primary } = role {
            *dup_count.entry(*primary).or_default() += 1;
        }
    }

    let mut stats = Stats::default();
    let mut by_type = [0u64; 3];
    let mut catalog_counts: FxHashMap<&str, u64> = FxHashMap::default();
    let mut claimed_rows = vec![false; rows.len()];
    let mut items: Vec<Item<'a>> = Vec::with_capacity(files.len() + rows.len() / 16);
    for (i, (f, role)) in files.iter().zip(plan.roles).enumerate() {
        stats.source_files += 1;
        stats.source_size_bytes += f.size.max(0) as u64;
        let kind = f.kind();
        by_type[kind as usize] += 1;
        *catalog_counts.entry(f.catalog()).or_default() += 1;
        let warning = if kind == Kind::Video && f.media.codec.is_some() {
            rules.codec_warning(f)
        } else {
            None
        };
        let mut target = None;
        let mut primary = None;
        let (status, code, reason) = match role {
            Role::NotEligible { reason, code } => {
                if kind == Kind::Video {
                    stats.non_hls += 1;
                }
                (Status::NotSynced, code, Some(reason))
            }
            Role::Duplicate { primary: p } => {
                primary = Some(p);
                (
                    Status::Duplicate,
                    "duplicate_name",
                    Some(format!(
                        "중복 파일명 — 대표 파일 {}만 동기화",
                        files[p].path
                    )),
                )
            }
            Role::Primary { row: None } => (Status::New, "pending_insert", None),
            Role::Held { row } => {
                let ri = row.and_then(|id| row_by_id.get(&id).copied());
                if let Some(ri) = ri {
                    claimed_rows[ri] = true;
                }
                target = ri;
                (
                    Status::Copying,
                    "copying",
                    Some(format!(
                        "복사 중 (현재 {}) — 파일이 바뀌지 않으면 동기화됩니다",
                        human_size(f.size)
                    )),
                )
            }
            Role::Primary { row: Some(id) } => {
                let ri = row_by_id.get(&id).copied();
                if let Some(ri) = ri {
                    claimed_rows[ri] = true;
                }
                target = ri;
                match events.get(&i) {
                    Some((Event::Moved, old)) => (
                        Status::Changed,
                        "pending_move",
                        Some(format!(
                            "이동됨 (이전 경로 {old}) — 다음 동기화 때 경로를 바꿉니다"
                        )),
                    ),
                    Some((Event::Restored, _)) => (Status::Changed, "pending_restore", None),
                    Some(_) => (
                        Status::Changed,
                        "pending_update",
                        Some(match ri {
                            Some(ri) => update_reason(f, &rows[ri], rules),
                            None => "다음 동기화 때 갱신됩니다".to_string(),
                        }),
                    ),
                    None => match dup_count.get(&i) {
                        Some(&n) => (
                            Status::SyncedWithDuplicates,
                            "synced_with_duplicates",
                            Some(format!("동기화됨 — 같은 이름의 파일 {n}개는 제외")),
                        ),
                        None => (Status::Synced, "synced", None),
                    },
                }
            }
        };
        if warning.is_some() && status != Status::NotSynced {
            stats.needs_transcode += 1;
        }
        items.push(Item {
            status,
            path: &f.path,
            reason_code: code,
            reason,
            warning,
            source: Some(i),
            target,
            primary,
            dup_count: dup_count.get(&i).copied().unwrap_or(0),
        });
    }
    let source_sorted = items.len();
    let source_paths: FxHashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for (ri, r) in rows.iter().enumerate() {
        if r.active {
            stats.target_active += 1;
            *stats.target_by_format.entry(r.format.clone()).or_default() += 1;
        }
        if claimed_rows[ri] {
            continue;
        }
        let code = if !r.active {
            "deleted"
        } else if source_paths.contains(r.nas_path.as_str()) {
            "pending_delete_excluded"
        } else {
            "pending_delete"
        };
        items.push(Item {
            status: Status::Deleted,
            path: &r.nas_path,
            reason_code: code,
            reason: None,
            warning: None,
            source: None,
            target: Some(ri),
            primary: None,
            dup_count: 0,
        });
    }
    // Path byte order; a Target-only row at a Source file's path sorts after the file. Files
    // arrive sorted by path: then only the Target-only rows need sorting and a merge.
    let cmp = |a: &Item<'_>, b: &Item<'_>| {
        a.path
            .as_bytes()
            .cmp(b.path.as_bytes())
            .then(a.source.is_none().cmp(&b.source.is_none()))
            .then(
                a.target
                    .map(|t| rows[t].id)
                    .cmp(&b.target.map(|t| rows[t].id)),
            )
    };
    if items[..source_sorted].is_sorted_by(|a, b| cmp(a, b).is_le()) {
        let mut extra = items.split_off(source_sorted);
        extra.sort_by(cmp);
        let mut merged = Vec::with_capacity(items.len() + extra.len());
        let mut a = items.into_iter().peekable();
        let mut b = extra.into_iter().peekable();
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => cmp(x, y).is_le(),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            if let Some(it) = next {
                merged.push(it);
            }
        }
        items = merged;
    } else {
        items.sort_by(cmp);
    }
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "index: items");
    for (k, n) in [Kind::Video, Kind::Subtitle, Kind::Other]
        .iter()
        .zip(by_type)
    {
        stats.by_type.insert(k.as_str().to_string(), n);
    }
    let mut catalogs: Vec<(String, u64)> = catalog_counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    catalogs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    stats.catalogs = catalogs;
    for it in &items {
        stats.counts.add(it.status, 1);
    }
    Built {
        items,
        stats,
        files,
        rows,
    }
}
