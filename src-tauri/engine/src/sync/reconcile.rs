//! 정합성 검증 (reconcile): a read-only comparison of the share, archive.db and pokervod.db that
//! counts and lists the drift. Writes nothing to either database.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::Result;
use crate::rules::{self, Action, Event, Rules};
use crate::scan::{self, ScanOptions};
use crate::target::Target;

/// At most this many items are listed per section; `count` is always complete.
pub const MAX_LISTED: usize = 1000;

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Section<T> {
    pub count: u64,
    pub items: Vec<T>,
}

impl<T> Section<T> {
    fn from_iter(it: impl IntoIterator<Item = T>, listed: usize) -> Section<T> {
        let mut count = 0u64;
        let mut items = Vec::new();
        for x in it {
            count += 1;
            if items.len() < listed {
                items.push(x);
            }
        }
        Section { count, items }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct PathMove {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct TargetPath {
    pub id: i64,
    pub nas_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct CodecWarning {
    pub path: String,
    pub codec: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ReconcileReport {
    /// True when nothing below has a count.
    pub in_sync: bool,
    pub share_files: u64,
    pub archive_files: u64,
    pub target_active: u64,
    /// Files on the share that archive.db does not have at that path (new or moved there).
    pub on_share_not_in_archive: Section<String>,
    /// Files archive.db has at a path where the share has none (removed or moved away).
    pub in_archive_not_on_share: Section<String>,
    /// Files whose size or mtime differ from archive.db.
    pub modified_on_share: Section<String>,
    /// Of the above, pairs the next scan will record as moves.
    pub moved_on_share: Section<PathMove>,
    pub would_insert: Section<String>,
    pub would_update: Section<String>,
    pub would_move: Section<PathMove>,
    pub would_restore: Section<String>,
    pub would_delete: Section<TargetPath>,
    /// Active Target rows whose `nas_path` does not exist on the share.
    pub target_paths_missing: Section<TargetPath>,
    /// Files with an HLS extension whose probed codec HLS players cannot play (e.g. ProRes in
    /// .mov): streamed only after transcoding. Not counted as drift.
    pub needs_transcode: Section<CodecWarning>,
    pub warnings: Vec<scan::ScanIssue>,
    pub duration_ms: u64,
}

/// Compare the share, archive.db and the Target without writing anything.
pub fn reconcile(cfg: &Config, clock: &dyn Clock) -> Result<ReconcileReport> {
    reconcile_listing(cfg, clock, MAX_LISTED)
}

/// [`reconcile`], listing up to `listed` items per section (`usize::MAX`: every one, as
/// `nas-sync reconcile --csv` does).
pub fn reconcile_listing(
    cfg: &Config,
    clock: &dyn Clock,
    listed: usize,
) -> Result<ReconcileReport> {
    let timer = Instant::now();
    let rules = Rules::from_config(cfg);
    let scan::Preview {
        outcome,
        files,
        known,
    } = scan::preview(
        cfg,
        clock,
        ScanOptions {
            dry_run: true,
            ..ScanOptions::default()
        },
    )?;
    let archive_files = known as u64;
    let rows = Target::read_rows(cfg.require_target_db()?, cfg.busy_timeout_secs)?;
    let share_paths: HashSet<&str> = outcome.walk.files.iter().map(|w| w.path.as_str()).collect();
    let d = &outcome.diff;

    let on_share_not_in_archive = Section::from_iter(
        d.added
            .iter()
            .map(|w| w.path.clone())
            .chain(d.moved.iter().map(|(_, w)| w.path.clone())),
        listed,
    );
    let in_archive_not_on_share = Section::from_iter(
        d.removed
            .iter()
            // Waiting for deletion (`delete_after_missing_scans`): gone from the share too.
            .chain(d.waiting.iter())
            .map(|r| r.path.clone())
            .chain(d.moved.iter().map(|(r, _)| r.path.clone())),
        listed,
    );
    let modified_on_share =
        Section::from_iter(d.modified.iter().map(|(_, w)| w.path.clone()), listed);
    let moved_on_share = Section::from_iter(
        d.moved.iter().map(|(r, w)| PathMove {
            from: r.path.clone(),
            to: w.path.clone(),
        }),
        listed,
    );
    let target_paths_missing = Section::from_iter(
        rows.iter()
            .filter(|r| r.active && !share_paths.contains(r.nas_path.as_str()))
            .map(|r| TargetPath {
                id: r.id,
                nas_path: r.nas_path.clone(),
            }),
        listed,
    );
    let target_active = rows.iter().filter(|r| r.active).count() as u64;
    let warnings = outcome.walk.issues.clone();
    // What the next sync would do: files still being written are held back, as it holds them.
    let hold = rules::Hold::at(outcome.started.timestamp(), cfg.settle_secs);
    let plan = rules::plan(&files, &rows, &rules, &hold);
    let needs_transcode = Section::from_iter(
        files.iter().filter_map(|f| {
            Some(CodecWarning {
                reason: rules.codec_warning(f)?,
                path: f.path.clone(),
                codec: f.media.codec.clone()?,
            })
        }),
        listed,
    );

    let updates = |ev: Event| {
        plan.actions.iter().filter_map(move |a| match a {
            Action::Update { file, event, .. } if *event == ev => Some(*file),
            _ => None,
        })
    };
    let would_insert = Section::from_iter(
        plan.actions.iter().filter_map(|a| match a {
            Action::Insert { file } => Some(files[*file].path.clone()),
            _ => None,
        }),
        listed,
    );
    let would_update = Section::from_iter(
        updates(Event::Updated).map(|f| files[f].path.clone()),
        listed,
    );
    let would_restore = Section::from_iter(
        updates(Event::Restored).map(|f| files[f].path.clone()),
        listed,
    );
    let would_move = Section::from_iter(
        plan.actions.iter().filter_map(|a| match a {
            Action::Update {
                file,
                event: Event::Moved,
                old_path,
                ..
            } => Some(PathMove {
                from: old_path.clone(),
                to: files[*file].path.clone(),
            }),
            _ => None,
        }),
        listed,
    );
    let would_delete = Section::from_iter(
        plan.actions.iter().filter_map(|a| match a {
            Action::Delete { row, path, .. } => Some(TargetPath {
                id: *row,
                nas_path: path.clone(),
            }),
            _ => None,
        }),
        listed,
    );
    let in_sync = [
        on_share_not_in_archive.count,
        in_archive_not_on_share.count,
        modified_on_share.count,
        would_insert.count,
        would_update.count,
        would_move.count,
        would_restore.count,
        would_delete.count,
        target_paths_missing.count,
    ]
    .iter()
    .all(|&c| c == 0);
    Ok(ReconcileReport {
        in_sync,
        share_files: outcome.walk.files.len() as u64,
        archive_files,
        target_active,
        on_share_not_in_archive,
        in_archive_not_on_share,
        modified_on_share,
        moved_on_share,
        would_insert,
        would_update,
        would_move,
        would_restore,
        would_delete,
        target_paths_missing,
        needs_transcode,
        warnings,
        duration_ms: timer.elapsed().as_millis() as u64,
    })
}
