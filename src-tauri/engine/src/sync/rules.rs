//! The sync rules (PRD 2.2 and 6.1, made exact): which Source files are eligible, which member of a
//! duplicate-name group is the primary, and which Target row each primary takes. Pure functions
//! over in-memory snapshots: no I/O, so the same plan serves `sync`, `--dry-run` and `reconcile`.
//!
//! Invariants of a plan:
//! - every Target row is claimed by at most one primary, and every primary gets exactly one row
//!   (an existing one, or an insert);
//! - a row is re-pathed only to a path that no other row holds (a row at a primary's path is
//!   always claimed by that primary in phase (a)), so `nas_path UNIQUE` is never violated;
//! - the plan depends only on the two snapshots, never on iteration order of hash maps.

use std::borrow::Cow;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::archive::FileRecord;
use crate::config::Config;
use crate::names::{self, Kind};
use crate::target::TargetRow;

/// Which files may go to the Target.
#[derive(Debug, Clone)]
pub struct Rules {
    pub hls_only: bool,
    pub hls_extensions: Vec<String>,
    /// Exclude HLS-extension files whose probed codec HLS cannot play.
    pub strict_codec_check: bool,
    /// A file modified less than this many seconds before the sync looks still in progress
    /// (a copy that has not finished) and is held back; 0 publishes at once. See [`Hold`].
    pub settle_secs: u64,
}

impl Rules {
    pub fn from_config(cfg: &Config) -> Rules {
        Rules {
            hls_only: cfg.hls_only,
            hls_extensions: cfg.hls_extensions.clone(),
            strict_codec_check: cfg.strict_codec_check,
            settle_secs: cfg.settle_secs,
        }
    }

    /// For a file with an HLS extension whose probed video codec HLS players cannot play:
    /// the warning shown on its row (and, with `strict_codec_check`, the reason it is excluded).
    pub fn codec_warning(&self, f: &FileRecord) -> Option<String> {
        let codec = f.media.codec.as_deref()?;
        if f.kind() != Kind::Video
            || !self.is_hls(&f.ext())
            || crate::probe::HLS_VIDEO_CODECS.contains(&codec)
        {
            return None;
        }
        Some(format!(
            "HLS 확장자이지만 코덱 {} — 트랜스코딩 필요",
            crate::probe::codec_display(codec)
        ))
    }

    /// Everything the rules decide by, as one text: two syncs planned with the same key would
    /// decide alike on the same files and rows.
    pub fn key(&self) -> String {
        format!("{self:?}")
    }

    pub fn is_hls(&self, ext: &str) -> bool {
        self.hls_extensions.iter().any(|e| e == ext)
    }

    /// `None` when eligible, else the reason (Korean, for the matching table) and its code.
    pub fn ineligible_reason(&self, f: &FileRecord) -> Option<(String, &'static str)> {
        let ext = f.ext();
        if self.strict_codec_check
            && let Some(w) = self.codec_warning(f)
        {
            return Some((w, "codec_not_hls"));
        }
        match Kind::from_ext(&ext) {
            Kind::Video if !self.hls_only || self.is_hls(&ext) => None,
            Kind::Video => Some((format!("HLS 비호환 ({ext})"), "not_hls")),
            Kind::Subtitle => Some(("자막 파일 (동기화 대상 아님)".into(), "subtitle")),
            Kind::Other if ext.is_empty() => {
                Some(("확장자 없음 (동기화 대상 아님)".into(), "not_video"))
            }
            Kind::Other => Some((format!("동영상 아님 ({ext})"), "not_video")),
        }
    }
}

// The history table stores these words (`file_history.event`), so the type lives next to it.
pub use crate::store::archive::Event;

/// One write to the Target.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// INSERT a row for `files[file]`.
    Insert { file: usize },
    /// Rewrite row `row` to describe `files[file]` (and make it active).
    Update {
        row: i64,
        file: usize,
        event: Event,
        old_path: String,
        /// The row now describes another file: its media columns take the probe's values even
        /// when they are unknown, never the previous file's.
        replace_media: bool,
    },
    /// `status = 'deleted'` for row `row`.
    Delete {
        row: i64,
        path: String,
        catalog: String,
    },
}

/// What the plan decided for one Source file.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// Not eligible: reason and reason code.
    NotEligible { reason: String, code: &'static str },
    /// Eligible, but another member of its name group is the primary.
    Duplicate { primary: usize },
    /// The primary of its group; `row` is the Target row it keeps (None = to be inserted).
    Primary { row: Option<i64> },
    /// Still being copied or written ([`Hold`]): nothing is written for it. `row` is the Target
    /// row it already holds (at its path, linked, or an orphan row of its name that no primary
    /// took), kept exactly as it is until the file is stable; a held file takes no part in its
    /// name group.
    Held { row: Option<i64> },
}

/// Which Source files look still in progress, so the sync holds them back from the Target: a
/// file modified within `settle_secs` of the reference time (`now`, the start of the sync's
/// scan, or of a query), or one the scan saw change between its walk and its re-check (see
/// `scan::settle`). A file at rest — every file of an archive that is not being written — is
/// never held, so a first sync publishes it.
///
/// Signals and copy tools: an append-style writer and rsync/robocopy/Explorer all leave the
/// mtime at the time of their last write while they copy (Explorer pre-allocates the full size,
/// so its size says nothing; the source's mtime is set only at the very end, after the last
/// byte); the re-check catches a writer whose mtime looks old (a NAS clock behind ours).
#[derive(Debug, Clone, Default)]
pub struct Hold {
    /// Files with an mtime after this (Unix seconds) are held; `None`: none by mtime.
    pub modified_after: Option<i64>,
    pub settle_secs: u64,
    /// Reference time (Unix seconds).
    pub now: i64,
    /// Paths whose size or mtime moved while the scan ran.
    pub changing: std::collections::HashSet<String>,
}

impl Hold {
    /// Hold nothing (`settle_secs = 0`, or a caller that never holds).
    pub fn none() -> Hold {
        Hold::default()
    }

    /// Hold files modified within `settle_secs` before `now` (Unix seconds); a file with an
    /// mtime ahead of `now` is held too (it is being written, or the NAS clock runs ahead).
    pub fn at(now: i64, settle_secs: u64) -> Hold {
        Hold {
            modified_after: (settle_secs > 0).then(|| now.saturating_sub(settle_secs as i64)),
            settle_secs,
            now,
            changing: Default::default(),
        }
    }

    /// Also hold `paths` (seen changing during the scan), unless nothing is held at all.
    pub fn with_changing(mut self, paths: impl IntoIterator<Item = String>) -> Hold {
        if self.settle_secs > 0 {
            self.changing.extend(paths);
        }
        self
    }

    pub fn holds(&self, f: &FileRecord) -> bool {
        self.modified_after.is_some_and(|t| f.mtime > t)
            || (!self.changing.is_empty() && self.changing.contains(&f.path))
    }

    /// When a held file can first be found stable (Unix seconds): `settle_secs` after its
    /// mtime, and no sooner than `settle_secs` from now for a file seen changing.
    pub fn stable_at(&self, f: &FileRecord) -> i64 {
        let by_mtime = f.mtime.saturating_add(self.settle_secs as i64);
        if self.changing.contains(&f.path) {
            by_mtime.max(self.now.saturating_add(self.settle_secs as i64))
        } else {
            by_mtime
        }
    }
}

/// The full decision for one sync.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Writes in apply order: updates by row id, deletes by row id, inserts by path.
    pub actions: Vec<Action>,
    /// Per Source file (same index as the input), its role.
    pub roles: Vec<Role>,
    /// Primaries whose row is already exactly right.
    pub skipped: u64,
    /// Files held back because they are still being written ([`Role::Held`]).
    pub held: u64,
    /// Active Target rows before the sync.
    pub active_before: u64,
}

impl Plan {
    pub fn count(&self, event: Event) -> u64 {
        self.actions
            .iter()
            .filter(|a| match a {
                Action::Insert { .. } => event == Event::Added,
                Action::Update { event: e, .. } => *e == event,
                Action::Delete { .. } => event == Event::Deleted,
            })
            .count() as u64
    }

    pub fn deletes(&self) -> u64 {
        self.count(Event::Deleted)
    }
}

/// Values a primary's Target row must hold.
pub struct Desired<'a> {
    pub nas_path: &'a str,
    pub filename: &'a str,
    pub catalog: &'a str,
    pub format: String,
    pub size_bytes: i64,
    pub hls_compatible: bool,
    /// Probe results; `None` leaves the Target's value as it is.
    pub codec: Option<&'a str>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_sec: Option<f64>,
}

/// The Target's `format` of a file: [`names::extension`] of its name, borrowed when it already
/// is lowercase ASCII (almost always), so the hot loops of a sync allocate nothing for it.
pub fn format(f: &FileRecord) -> Cow<'_, str> {
    let name = f.name();
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => {
            let ext = &name[i + 1..];
            if ext.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                Cow::Borrowed(ext)
            } else {
                Cow::Owned(ext.to_lowercase())
            }
        }
        _ => Cow::Borrowed(""),
    }
}

pub fn desired<'a>(f: &'a FileRecord, rules: &Rules) -> Desired<'a> {
    let format = f.ext();
    Desired {
        nas_path: &f.path,
        filename: f.name(),
        catalog: f.catalog(),
        hls_compatible: rules.is_hls(&format),
        format,
        size_bytes: f.size,
        codec: f.media.codec.as_deref(),
        width: f.media.width,
        height: f.media.height,
        duration_sec: f.media.duration_sec,
    }
}

/// A probed value differs from the Target's (an unprobed one never does).
fn media_differs<T: PartialEq>(want: Option<T>, have: Option<T>) -> bool {
    want.is_some() && want != have
}

fn row_matches(row: &TargetRow, d: &Desired<'_>) -> bool {
    row.active
        && row.nas_path == d.nas_path
        && row.filename == d.filename
        && row.catalog == d.catalog
        && row.format == d.format
        && row.size_bytes == d.size_bytes
        && row.hls_compatible == d.hls_compatible
        && !media_differs(d.codec, row.codec.as_deref())
        && !media_differs(d.width, row.width)
        && !media_differs(d.height, row.height)
        && !media_differs(d.duration_sec, row.duration_sec)
}

/// The eligible files of one name group; almost every group has one member.
enum Members {
    One(usize),
    Many(Vec<usize>),
}

impl Members {
    fn push(&mut self, i: usize) {
        match self {
            Members::One(first) => *self = Members::Many(vec![*first, i]),
            Members::Many(v) => v.push(i),
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Members::One(i) => std::slice::from_ref(i),
            Members::Many(v) => v,
        }
    }
}

/// From this many Source files on, the plan classifies them on two threads.
const PARALLEL_PLAN_MIN_FILES: usize = 50_000;

/// Compute the plan. `files` is the Source after the scan; `rows` the Target as it is now;
/// `hold` the files still being written, which the plan leaves alone ([`Role::Held`]).
pub fn plan(files: &[FileRecord], rows: &[TargetRow], rules: &Rules, hold: &Hold) -> Plan {
    // Target indexes. With a legacy table lacking UNIQUE(nas_path), the smallest id at a path wins.
    let mut by_path: HashMap<&str, usize> =
        HashMap::with_capacity_and_hasher(rows.len(), Default::default());
    let mut by_id: HashMap<i64, usize> =
        HashMap::with_capacity_and_hasher(rows.len(), Default::default());
    for (i, r) in rows.iter().enumerate() {
        by_id.insert(r.id, i);
        by_path
            .entry(r.nas_path.as_str())
            .and_modify(|j| {
                if rows[*j].id > r.id {
                    *j = i;
                }
            })
            .or_insert(i);
    }
    let t0 = std::time::Instant::now();
    // Eligibility and name keys: pure per file, so computed in two halves at once (name keys
    // are most of a first sync's planning time).
    const NONE: u32 = u32::MAX;
    // (reason it is not eligible, name key); a held file has neither and an empty key. A held
    // file is judged by its name alone: a codec verdict would come from a partial file.
    type Classified = (Option<(String, &'static str)>, String, bool);
    let classify = |chunk: &[FileRecord]| -> Vec<Classified> {
        chunk
            .iter()
            .map(|f| match rules.ineligible_reason(f) {
                Some(r) if !(r.1 == "codec_not_hls" && hold.holds(f)) => {
                    (Some(r), String::new(), false)
                }
                _ if hold.holds(f) => (None, String::new(), true),
                _ => (None, names::name_key(f.name()), false),
            })
            .collect()
    };
    let classified: Vec<Classified> = if files.len() >= PARALLEL_PLAN_MIN_FILES {
        let (head, tail) = files.split_at(files.len() / 2);
        let (mut a, b) = std::thread::scope(|scope| {
            let b = scope.spawn(|| classify(tail));
            let a = classify(head);
            (
                a,
                b.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            )
        });
        a.extend(b);
        a
    } else {
        classify(files)
    };
    // Duplicate groups: group ids by name key, members by group id.
    let mut roles: Vec<Role> = Vec::with_capacity(files.len());
    let mut group_ids: HashMap<&str, u32> =
        HashMap::with_capacity_and_hasher(files.len(), Default::default());
    let mut groups: Vec<Members> = Vec::with_capacity(files.len());
    let mut keys: Vec<String> = Vec::with_capacity(files.len());
    let mut ineligible: Vec<Option<(String, &'static str)>> = Vec::with_capacity(files.len());
    let mut held: Vec<usize> = Vec::new();
    for (i, (reason, key, is_held)) in classified.into_iter().enumerate() {
        ineligible.push(reason);
        keys.push(key);
        if is_held {
            held.push(i);
        }
    }
    let mut held_iter = held.iter().copied().peekable();
    for (i, reason) in ineligible.into_iter().enumerate() {
        if held_iter.next_if_eq(&i).is_some() {
            roles.push(Role::Held { row: None });
            continue;
        }
        match reason {
            Some((reason, code)) => roles.push(Role::NotEligible { reason, code }),
            None => {
                roles.push(Role::Primary { row: None });
                match group_ids.entry(keys[i].as_str()) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        groups[*e.get() as usize].push(i)
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(groups.len() as u32);
                        groups.push(Members::One(i));
                    }
                }
            }
        }
    }

    let t_groups = t0.elapsed();
    // A member "holds" an active row at its path or an active row it is linked to.
    let holds = |i: usize| -> bool {
        let f = &files[i];
        let at_path = by_path
            .get(f.path.as_str())
            .is_some_and(|&r| rows[r].active);
        let linked = f
            .target_id
            .and_then(|id| by_id.get(&id))
            .is_some_and(|&r| rows[r].active);
        at_path || linked
    };
    let order = |i: usize| (files[i].first_seen, files[i].path.as_bytes());
    // Groups are independent, so the visiting order does not matter (primaries are sorted below).
    let mut primaries: Vec<usize> = Vec::with_capacity(groups.len());
    // Per file: the group it is the primary of (NONE for the others).
    let mut group_of_primary: Vec<u32> = vec![NONE; files.len()];
    for (gid, members) in groups.iter().enumerate() {
        let members = members.as_slice();
        let primary = if let [only] = members {
            *only
        } else {
            let holders: Vec<usize> = members.iter().copied().filter(|&i| holds(i)).collect();
            let pool = if holders.is_empty() {
                members
            } else {
                &holders
            };
            let Some(&primary) = pool.iter().min_by(|&&a, &&b| order(a).cmp(&order(b))) else {
                continue;
            };
            for &m in members {
                if m != primary {
                    roles[m] = Role::Duplicate { primary };
                }
            }
            primary
        };
        primaries.push(primary);
        group_of_primary[primary] = gid as u32;
    }
    // Path order; files usually arrive sorted by path, and then index order is path order.
    if files.is_sorted_by(|a, b| a.path <= b.path) {
        primaries.sort_unstable();
    } else {
        primaries.sort_by(|&a, &b| files[a].path.cmp(&files[b].path));
    }

    let t_primaries = t0.elapsed();
    // Claims: per row, the primary that took it; per file, its row and the phase. Phases (a),
    // (b), (c) over all primaries, so no primary's claim depends on the order of visits.
    let mut claimed: Vec<u32> = vec![NONE; rows.len()];
    let mut row_of: Vec<(u32, u8)> = vec![(NONE, 0); files.len()];
    let has_row = |row_of: &[(u32, u8)], p: usize| row_of[p].0 != NONE;
    if !rows.is_empty() {
        // (a) the row at the primary's own path (a held file keeps the row at its path).
        for &p in primaries.iter().chain(&held) {
            if let Some(&r) = by_path.get(files[p].path.as_str()) {
                claimed[r] = p as u32;
                row_of[p] = (r as u32, b'a');
            }
        }
        // (b) the row the primary is linked to (it moved: the row still holds the old path).
        // A held file keeps its linked row too (after the primaries: theirs is the newer claim).
        for &p in primaries.iter().chain(&held) {
            if has_row(&row_of, p) {
                continue;
            }
            if let Some(&r) = files[p].target_id.and_then(|id| by_id.get(&id))
                && claimed[r] == NONE
            {
                claimed[r] = p as u32;
                row_of[p] = (r as u32, b'b');
            }
        }
        // (c) an active row of the primary's group whose file disappeared: re-point it
        // (smallest id). Only rows still unclaimed need the Source's paths.
        let unclaimed_active = rows
            .iter()
            .enumerate()
            .any(|(ri, r)| r.active && claimed[ri] == NONE);
        if unclaimed_active {
            let source_paths: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
            let mut orphans_by_group: HashMap<u32, Vec<usize>> = HashMap::default();
            for (ri, r) in rows.iter().enumerate() {
                if r.active
                    && claimed[ri] == NONE
                    && !source_paths.contains(r.nas_path.as_str())
                    && let Some(&gid) = group_ids
                        .get(names::name_key(names::file_name_any_sep(&r.nas_path)).as_str())
                {
                    orphans_by_group.entry(gid).or_default().push(ri);
                }
            }
            if !orphans_by_group.is_empty() {
                for &p in &primaries {
                    if has_row(&row_of, p) {
                        continue;
                    }
                    let Some(cands) = orphans_by_group.get_mut(&group_of_primary[p]) else {
                        continue;
                    };
                    cands.retain(|&ri| claimed[ri] == NONE);
                    if let Some(&r) = cands.iter().min_by_key(|&&ri| rows[ri].id) {
                        claimed[r] = p as u32;
                        row_of[p] = (r as u32, b'c');
                    }
                }
            }
            // A held file keeps such a row of its name too (a file copied to its new place, the
            // old one deleted, the copy not stable yet): re-pointed once the copy is stable
            // rather than deleted now and inserted again.
            let held_without_row: Vec<(usize, String)> = held
                .iter()
                .filter(|&&h| !has_row(&row_of, h))
                .map(|&h| (h, names::name_key(files[h].name())))
                .collect();
            if !held_without_row.is_empty() {
                let keys: HashSet<&str> =
                    held_without_row.iter().map(|(_, k)| k.as_str()).collect();
                let mut orphans_by_key: HashMap<String, Vec<usize>> = HashMap::default();
                for (ri, r) in rows.iter().enumerate() {
                    if r.active
                        && claimed[ri] == NONE
                        && !source_paths.contains(r.nas_path.as_str())
                    {
                        let k = names::name_key(names::file_name_any_sep(&r.nas_path));
                        if keys.contains(k.as_str()) {
                            orphans_by_key.entry(k).or_default().push(ri);
                        }
                    }
                }
                for (h, k) in &held_without_row {
                    let Some(cands) = orphans_by_key.get_mut(k) else {
                        continue;
                    };
                    cands.retain(|&ri| claimed[ri] == NONE);
                    if let Some(&r) = cands.iter().min_by_key(|&&ri| rows[ri].id) {
                        claimed[r] = *h as u32;
                        row_of[*h] = (r as u32, b'c');
                    }
                }
            }
        }
    }

    let t_claims = t0.elapsed();
    // Actions.
    let mut updates: Vec<Action> = Vec::new();
    let mut inserts: Vec<Action> = Vec::new();
    let mut skipped = 0u64;
    for &h in &held {
        roles[h] = Role::Held {
            row: (row_of[h].0 != NONE).then(|| rows[row_of[h].0 as usize].id),
        };
    }
    for &p in &primaries {
        let f = &files[p];
        match (row_of[p].0 != NONE).then(|| (row_of[p].0 as usize, row_of[p].1)) {
            Some((ri, phase)) => {
                let row = &rows[ri];
                roles[p] = Role::Primary { row: Some(row.id) };
                let d = desired(f, rules);
                let event = if !row.active {
                    Event::Restored
                } else if phase == b'a' {
                    if row_matches(row, &d) {
                        skipped += 1;
                        continue;
                    }
                    Event::Updated
                } else {
                    Event::Moved
                };
                updates.push(Action::Update {
                    row: row.id,
                    file: p,
                    event,
                    old_path: row.nas_path.clone(),
                    // Rule (c) hands the row to another file: the old file's media are wrong for
                    // it. A changed file at the same path keeps the row's values until probed.
                    replace_media: phase == b'c',
                });
            }
            None => inserts.push(Action::Insert { file: p }),
        }
    }
    updates.sort_by_key(|a| match a {
        Action::Update { row, .. } => *row,
        _ => 0,
    });
    // Every active row no primary took is soft-deleted.
    let mut deletes: Vec<Action> = rows
        .iter()
        .enumerate()
        .filter(|&(ri, r)| r.active && claimed[ri] == NONE)
        .map(|(_, r)| Action::Delete {
            row: r.id,
            path: r.nas_path.clone(),
            catalog: r.catalog.clone(),
        })
        .collect();
    deletes.sort_by_key(|a| match a {
        Action::Delete { row, .. } => *row,
        _ => 0,
    });
    let mut actions = updates;
    actions.extend(deletes);
    actions.extend(inserts);
    tracing::debug!(
        groups_ms = t_groups.as_millis() as u64,
        primaries_ms = t_primaries.as_millis() as u64,
        claims_ms = t_claims.as_millis() as u64,
        actions_ms = t0.elapsed().as_millis() as u64,
        "plan phases"
    );
    Plan {
        actions,
        roles,
        skipped,
        held: held.len() as u64,
        active_before: rows.iter().filter(|r| r.active).count() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Media;

    /// Above [`PARALLEL_PLAN_MIN_FILES`] the files are classified in two halves: the roles must
    /// still line up with the files they belong to.
    #[test]
    fn a_large_plan_classified_in_halves_keeps_every_role_with_its_file() {
        let n = PARALLEL_PLAN_MIN_FILES + 10_000;
        let mut files: Vec<FileRecord> = (0..n)
            .map(|i| {
                // Pairs: A/n{k}.mp4 (first seen in scan 1) and B/N{k}.MP4 (scan 2) share a name
                // key; every 7th pair is mxf instead (not eligible).
                let k = i / 2;
                let ext = if k % 7 == 0 { "mxf" } else { "mp4" };
                let (path, first_seen) = if i % 2 == 0 {
                    (format!("A/n{k}.{ext}"), 1)
                } else {
                    (format!("B/N{k}.{}", ext.to_uppercase()), 2)
                };
                FileRecord {
                    id: i as i64 + 1,
                    path,
                    size: 1,
                    mtime: 1,
                    first_seen,
                    fingerprint: None,
                    target_id: None,
                    media: Media::default(),
                    missing_scans: 0,
                }
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let plan = plan(
            &files,
            &[],
            &Rules::from_config(&crate::Config::default()),
            &Hold::none(),
        );
        let mut inserts = 0;
        for (i, f) in files.iter().enumerate() {
            let mxf = f.path.to_lowercase().ends_with(".mxf");
            match &plan.roles[i] {
                Role::NotEligible { code, .. } => assert!(mxf && *code == "not_hls", "{}", f.path),
                Role::Primary { row: None } => {
                    assert!(!mxf && f.path.starts_with("A/"), "{}", f.path);
                    inserts += 1;
                }
                Role::Duplicate { primary } => {
                    assert!(f.path.starts_with("B/"), "{}", f.path);
                    let p = &files[*primary].path;
                    assert_eq!(
                        p.to_lowercase(),
                        f.path.replacen("B/", "A/", 1).to_lowercase()
                    );
                }
                other => panic!("{}: {other:?}", f.path),
            }
        }
        assert_eq!(plan.actions.len(), inserts);
    }
}
