//! A sync's changes as the report, the history and archive.db's links record them.

use super::*;

/// Links after a sync: every primary to the row it holds now, as (file id, Target id) for the
/// links that are new or changed, and the files that lose their link because their row went
/// to another file. Files whose write failed keep what they had.
pub(super) fn new_links(
    plan: &Plan,
    files: &[FileRecord],
    ids: &NewIds,
    failed: &HashSet<&str>,
) -> (Vec<(i64, i64)>, Vec<i64>) {
    let mut relinked = vec![false; files.len()];
    let mut links: Vec<(i64, i64)> = Vec::new();
    for (i, role) in plan.roles.iter().enumerate() {
        let row = match role {
            rules::Role::Primary { row: Some(r) } => Some(*r),
            rules::Role::Primary { row: None } => ids.get(i),
            _ => None,
        };
        let Some(row) = row else { continue };
        if files[i].id > 0
            && files[i].target_id != Some(row)
            && (failed.is_empty() || !failed.contains(files[i].path.as_str()))
        {
            relinked[i] = true;
            links.push((files[i].id, row));
        }
    }
    if links.is_empty() {
        return (links, Vec::new());
    }
    // A row is linked to one file at most: whoever held a row that changes hands lets go.
    let mut taken: Vec<i64> = links.iter().map(|&(_, t)| t).collect();
    taken.sort_unstable();
    let unlinked = files
        .iter()
        .enumerate()
        .filter(|&(i, f)| {
            !relinked[i] && f.target_id.is_some_and(|t| taken.binary_search(&t).is_ok())
        })
        .map(|(_, f)| f.id)
        .collect();
    (links, unlinked)
}

pub(super) fn action_path<'a>(a: &'a Action, files: &'a [FileRecord]) -> &'a str {
    match a {
        Action::Insert { file } | Action::Update { file, .. } => &files[*file].path,
        Action::Delete { path, .. } => path,
    }
}

pub(super) fn list_changes(plan: &Plan, files: &[FileRecord], ids: &NewIds) -> Vec<Change> {
    plan.actions
        .iter()
        .take(MAX_LISTED_CHANGES)
        .map(|a| {
            let h = history_entry(a, files, ids);
            Change {
                event: h.event.as_str(),
                path: h.path.to_string(),
                old_path: h.old_path.map(str::to_string),
                target_id: h.target_id,
            }
        })
        .collect()
}

pub(super) fn history_entry<'a>(
    a: &'a Action,
    files: &'a [FileRecord],
    ids: &NewIds,
) -> HistoryEntry<'a> {
    match a {
        Action::Insert { file } => HistoryEntry {
            event: Event::Added,
            path: &files[*file].path,
            old_path: None,
            catalog: files[*file].catalog(),
            target_id: ids.get(*file),
            file_id: Some(files[*file].id).filter(|&id| id > 0),
            size_bytes: Some(files[*file].size),
        },
        Action::Update {
            row,
            file,
            event,
            old_path,
            ..
        } => HistoryEntry {
            event: *event,
            path: &files[*file].path,
            old_path: (old_path != &files[*file].path).then_some(old_path.as_str()),
            catalog: files[*file].catalog(),
            target_id: Some(*row),
            file_id: Some(files[*file].id).filter(|&id| id > 0),
            size_bytes: Some(files[*file].size),
        },
        Action::Delete { row, path, catalog } => HistoryEntry {
            event: Event::Deleted,
            path,
            old_path: None,
            catalog,
            target_id: Some(*row),
            file_id: None,
            size_bytes: None,
        },
    }
}

/// The Target ids fixed for the rows a sync inserts, by file index; 0 = no insert (Target ids
/// start at 1). A vector, not a map: a first sync inserts almost every file.
#[derive(Default)]
pub(super) struct NewIds(pub(super) Vec<i64>);

impl NewIds {
    pub(super) fn get(&self, file: usize) -> Option<i64> {
        self.0.get(file).copied().filter(|&id| id != 0)
    }
}
