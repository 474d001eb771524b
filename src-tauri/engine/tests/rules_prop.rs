//! Property tests of the rule engine (`rules::plan`) over random Source snapshots and random Target
//! rows drawn from a small alphabet, so name collisions (case, NFD/NFC), shared paths, stale links
//! and deleted rows are frequent.

use std::collections::{HashMap, HashSet};

use nas_sync_engine::archive::FileRecord;
use nas_sync_engine::names;
use nas_sync_engine::rules::{self, Action, Plan, Role, Rules};
use nas_sync_engine::target::TargetRow;
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

const DIRS: &[&str] = &["", "A", "B", "b", "C/sub"];
const EXTS: &[&str] = &["mp4", "MP4", "mov", "ts", "mxf", "mkv", "srt", "txt"];

fn stems() -> Vec<String> {
    vec![
        "ep1".into(),
        "EP1".into(),
        "y".into(),
        "한글 영상".into(),
        "한글 영상".nfd().collect(),
    ]
}

fn path_of(dir: usize, stem: usize, ext: usize) -> String {
    let name = format!("{}.{}", stems()[stem], EXTS[ext]);
    if DIRS[dir].is_empty() {
        name
    } else {
        format!("{}/{name}", DIRS[dir])
    }
}

#[derive(Debug, Clone)]
struct Case {
    files: Vec<FileRecord>,
    rows: Vec<TargetRow>,
    rules: Rules,
}

fn path_strategy() -> impl Strategy<Value = String> {
    (0..DIRS.len(), 0..5usize, 0..EXTS.len()).prop_map(|(d, s, e)| path_of(d, s, e))
}

fn case_strategy() -> impl Strategy<Value = Case> {
    let files = prop::collection::vec(
        (
            path_strategy(),
            1i64..4,
            prop::option::of(1i64..14),
            1i64..4,
        ),
        0..14,
    );
    let rows = prop::collection::vec(
        (
            path_strategy(),
            any::<bool>(),
            1i64..4,
            any::<bool>(),
            1i64..3,
        ),
        0..10,
    );
    (files, rows, any::<bool>()).prop_map(|(files, rows, hls_only)| {
        // Source: unique paths; a Target row is linked by at most one file (as archive.db keeps it).
        let mut seen_paths = HashSet::new();
        let mut seen_links = HashSet::new();
        let mut out_files = Vec::new();
        for (path, first_seen, target_id, size) in files {
            if !seen_paths.insert(path.clone()) {
                continue;
            }
            let target_id = target_id.filter(|t| seen_links.insert(*t));
            out_files.push(FileRecord {
                id: out_files.len() as i64 + 1,
                path,
                size,
                mtime: 0,
                first_seen,
                fingerprint: None,
                target_id,
                media: Default::default(),
                missing_scans: 0,
            });
        }
        // Target: unique nas_path (the column is UNIQUE); ids with gaps.
        let mut seen_rows = HashSet::new();
        let mut out_rows: Vec<TargetRow> = Vec::new();
        let mut next_id = 0i64;
        for (path, active, size, hls, gap) in rows {
            if !seen_rows.insert(path.clone()) {
                continue;
            }
            next_id += gap;
            out_rows.push(TargetRow {
                id: next_id,
                filename: names::file_name(&path).to_string(),
                catalog: names::catalog(&path).to_string(),
                format: names::extension(names::file_name(&path)),
                nas_path: path,
                size_bytes: size,
                hls_compatible: hls,
                active,
                codec: None,
                width: None,
                height: None,
                duration_sec: None,
            });
        }
        Case {
            files: out_files,
            rows: out_rows,
            rules: Rules {
                hls_only,
                hls_extensions: vec!["mp4".into(), "mov".into(), "ts".into()],
                strict_codec_check: false,
                settle_secs: 0,
            },
        }
    })
}

/// Apply a plan to an in-memory Target and update the Source links as the sync records them.
fn apply(files: &mut [FileRecord], rows: &mut Vec<TargetRow>, plan: &Plan, rules: &Rules) {
    let mut inserted: HashMap<usize, i64> = HashMap::new();
    for a in &plan.actions {
        match a {
            Action::Update { row, file, .. } => {
                let d = rules::desired(&files[*file], rules);
                let r = rows
                    .iter_mut()
                    .find(|r| r.id == *row)
                    .expect("update names an existing row");
                r.nas_path = d.nas_path.to_string();
                r.filename = d.filename.to_string();
                r.catalog = d.catalog.to_string();
                r.format = d.format.clone();
                r.size_bytes = d.size_bytes;
                r.hls_compatible = d.hls_compatible;
                r.active = true;
            }
            Action::Delete { row, .. } => {
                let r = rows
                    .iter_mut()
                    .find(|r| r.id == *row)
                    .expect("delete names an existing row");
                r.active = false;
            }
            Action::Insert { file } => {
                let id = rows.iter().map(|r| r.id).max().unwrap_or(0) + 1;
                let d = rules::desired(&files[*file], rules);
                rows.push(TargetRow {
                    id,
                    nas_path: d.nas_path.to_string(),
                    filename: d.filename.to_string(),
                    catalog: d.catalog.to_string(),
                    format: d.format.clone(),
                    size_bytes: d.size_bytes,
                    hls_compatible: d.hls_compatible,
                    active: true,
                    codec: None,
                    width: None,
                    height: None,
                    duration_sec: None,
                });
                inserted.insert(*file, id);
            }
        }
    }
    // Links, as `sync::record` writes them: each primary to its row; nobody else keeps that row.
    for (i, role) in plan.roles.iter().enumerate() {
        let row = match role {
            Role::Primary { row: Some(r) } => Some(*r),
            Role::Primary { row: None } => inserted.get(&i).copied(),
            _ => None,
        };
        if let Some(row) = row {
            for (j, f) in files.iter_mut().enumerate() {
                if j != i && f.target_id == Some(row) {
                    f.target_id = None;
                }
            }
            files[i].target_id = Some(row);
        }
    }
}

fn check_invariants(case: &Case, plan: &Plan) -> Result<(), TestCaseError> {
    let files = &case.files;
    let rows = &case.rows;
    let rules = &case.rules;
    prop_assert_eq!(plan.roles.len(), files.len());

    // Eligibility decides NotEligible; eligible files form name groups of NFC + lowercase.
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        let eligible = rules.ineligible_reason(f).is_none();
        let not_eligible = matches!(plan.roles[i], Role::NotEligible { .. });
        prop_assert_eq!(eligible, !not_eligible, "eligibility of {}", f.path);
        if eligible {
            groups.entry(names::name_key(f.name())).or_default().push(i);
        }
    }

    // Each eligible group has exactly one primary; duplicates point at it.
    let by_path: HashMap<&str, &TargetRow> =
        rows.iter().map(|r| (r.nas_path.as_str(), r)).collect();
    let by_id: HashMap<i64, &TargetRow> = rows.iter().map(|r| (r.id, r)).collect();
    let holds = |i: usize| {
        let f = &files[i];
        by_path.get(f.path.as_str()).is_some_and(|r| r.active)
            || f.target_id
                .and_then(|t| by_id.get(&t))
                .is_some_and(|r| r.active)
    };
    for (key, members) in &groups {
        let primaries: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| matches!(plan.roles[i], Role::Primary { .. }))
            .collect();
        prop_assert_eq!(primaries.len(), 1, "group {} members {:?}", key, members);
        let p = primaries[0];
        for &m in members {
            if m != p {
                prop_assert_eq!(&plan.roles[m], &Role::Duplicate { primary: p });
            }
        }
        // Rule 2: among holders if any, else all members: earliest first_seen, then smallest path.
        let holders: Vec<usize> = members.iter().copied().filter(|&i| holds(i)).collect();
        let pool = if holders.is_empty() {
            members.clone()
        } else {
            holders
        };
        let best = pool
            .iter()
            .copied()
            .min_by(|&a, &b| {
                (files[a].first_seen, files[a].path.as_bytes())
                    .cmp(&(files[b].first_seen, files[b].path.as_bytes()))
            })
            .expect("non-empty group");
        prop_assert_eq!(p, best, "primary of group {}", key);
    }

    // Each row claimed by at most one primary, and touched by at most one action.
    let mut claimed = HashSet::new();
    for role in &plan.roles {
        if let Role::Primary { row: Some(r) } = role {
            prop_assert!(claimed.insert(*r), "row {} claimed twice", r);
            prop_assert!(by_id.contains_key(r), "claimed row {} exists", r);
        }
    }
    let mut touched = HashSet::new();
    let mut inserts = HashSet::new();
    for a in &plan.actions {
        match a {
            Action::Update { row, file, .. } => {
                prop_assert!(touched.insert(*row), "row {} in two actions", row);
                prop_assert_eq!(&plan.roles[*file], &Role::Primary { row: Some(*row) });
                // Never re-path a row onto a path another row holds.
                let new_path = files[*file].path.as_str();
                for other in rows.iter().filter(|r| r.id != *row) {
                    prop_assert_ne!(
                        other.nas_path.as_str(),
                        new_path,
                        "row {} re-pathed onto row {}'s path",
                        row,
                        other.id
                    );
                }
            }
            Action::Delete { row, .. } => {
                prop_assert!(touched.insert(*row), "row {} in two actions", row);
                prop_assert!(!claimed.contains(row), "claimed row {} deleted", row);
                prop_assert!(by_id.get(row).is_some_and(|r| r.active));
            }
            Action::Insert { file } => {
                prop_assert!(inserts.insert(*file));
                prop_assert_eq!(&plan.roles[*file], &Role::Primary { row: None });
                prop_assert!(
                    !by_path.contains_key(files[*file].path.as_str()),
                    "insert at a path a row holds: {}",
                    files[*file].path
                );
            }
        }
    }
    // Every primary without a row is inserted; every unclaimed active row is deleted.
    for (i, role) in plan.roles.iter().enumerate() {
        if let Role::Primary { row: None } = role {
            prop_assert!(
                inserts.contains(&i),
                "primary {} gets no row",
                files[i].path
            );
        }
    }
    for r in rows.iter().filter(|r| r.active) {
        prop_assert!(
            claimed.contains(&r.id) || touched.contains(&r.id),
            "active row {} left alone though unclaimed",
            r.id
        );
    }
    prop_assert_eq!(
        plan.active_before,
        rows.iter().filter(|r| r.active).count() as u64
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn plan_invariants_hold_and_a_second_plan_is_empty(case in case_strategy()) {
        let plan = rules::plan(&case.files, &case.rows, &case.rules, &rules::Hold::none());
        check_invariants(&case, &plan)?;

        let mut files = case.files.clone();
        let mut rows = case.rows.clone();
        apply(&mut files, &mut rows, &plan, &case.rules);

        // nas_path stays unique after applying.
        let mut paths = HashSet::new();
        for r in &rows {
            prop_assert!(paths.insert(r.nas_path.clone()), "duplicate nas_path {}", r.nas_path);
        }
        // Active rows are exactly the primaries' rows.
        let primaries = plan.roles.iter().filter(|r| matches!(r, Role::Primary { .. })).count();
        prop_assert_eq!(rows.iter().filter(|r| r.active).count(), primaries);

        // Idempotence: planning again on the result changes nothing.
        let again = rules::plan(&files, &rows, &case.rules, &rules::Hold::none());
        prop_assert!(again.actions.is_empty(), "second plan not empty: {:?}", again.actions);
        prop_assert_eq!(again.skipped as usize, primaries);
        let next = Case { files, rows, rules: case.rules.clone() };
        check_invariants(&next, &again)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Files still being copied ([`rules::Hold`]) get no write, and the rows they hold are
    /// neither rewritten nor deleted; every row is still held by at most one file.
    #[test]
    fn held_files_get_no_write_and_keep_their_rows(case in case_strategy(), k in 0usize..3) {
        let changing: HashSet<String> = case
            .files
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == k)
            .map(|(_, f)| f.path.clone())
            .collect();
        let hold = rules::Hold {
            modified_after: None,
            settle_secs: 1,
            now: 0,
            changing,
        };
        let plan = rules::plan(&case.files, &case.rows, &case.rules, &hold);
        let mut kept: HashSet<i64> = HashSet::new();
        let mut claimed: HashSet<i64> = HashSet::new();
        for (i, role) in plan.roles.iter().enumerate() {
            let held = hold.holds(&case.files[i]);
            match role {
                Role::Held { row } => {
                    prop_assert!(held, "{} is Held but not held", case.files[i].path);
                    if let Some(r) = row {
                        prop_assert!(kept.insert(*r), "row {r} kept twice");
                    }
                }
                Role::Primary { row } => {
                    prop_assert!(!held, "held {} is a primary", case.files[i].path);
                    if let Some(r) = row {
                        prop_assert!(claimed.insert(*r), "row {r} claimed twice");
                    }
                }
                Role::Duplicate { .. } => prop_assert!(!held, "held {} is a duplicate", case.files[i].path),
                Role::NotEligible { .. } => {}
            }
        }
        prop_assert!(kept.is_disjoint(&claimed), "a row both kept and claimed");
        prop_assert_eq!(plan.held as usize, plan.roles.iter().filter(|r| matches!(r, Role::Held { .. })).count());
        for a in &plan.actions {
            match a {
                Action::Insert { file } => prop_assert!(!hold.holds(&case.files[*file]), "insert of a held file"),
                Action::Update { row, file, .. } => {
                    prop_assert!(!hold.holds(&case.files[*file]), "update for a held file");
                    prop_assert!(!kept.contains(row), "a kept row {row} rewritten");
                }
                Action::Delete { row, .. } => prop_assert!(!kept.contains(row), "a kept row {row} deleted"),
            }
        }
        // A held file keeps the active row at its own path.
        for (i, f) in case.files.iter().enumerate() {
            if let Role::Held { row } = &plan.roles[i]
                && let Some(r) = case.rows.iter().filter(|r| r.nas_path == f.path).min_by_key(|r| r.id)
            {
                prop_assert_eq!(*row, Some(r.id), "{} keeps the row at its path", f.path);
            }
        }
    }
}
