//! The diff of a walk against archive.db's records: added, removed, modified and moved (a
//! move pairs a vanished record with a new file by size, mtime and name or fingerprint).

use super::*;

/// A diff as indices into the known records and the walked files, so a scan copies no record
/// or path to classify them. Invariant: `added` and `moved` are in walk (path) order.
#[derive(Debug, Default)]
pub(super) struct DiffIdx {
    /// Walk indices of new files (not paired as a move).
    pub(super) added: Vec<usize>,
    /// Known indices of files gone from the share (not paired as a move) for as many
    /// consecutive scans as `delete_after_missing_scans` asks: their records are deleted.
    pub(super) removed: Vec<usize>,
    /// Known indices of files gone from the share, not yet for long enough: their records stay
    /// (still synced) with `missing_scans` one higher.
    pub(super) waiting: Vec<usize>,
    /// Known indices of files seen again (unchanged, modified or moved) after scans that missed
    /// them: their count goes back to 0.
    pub(super) reset: Vec<usize>,
    /// (known, walk) pairs of files whose size or mtime changed.
    pub(super) modified: Vec<(usize, usize)>,
    /// (known at the old path, walk at the new path).
    pub(super) moved: Vec<(usize, usize)>,
    pub(super) unchanged: usize,
    pub(super) kept_unreadable: usize,
}

impl DiffIdx {
    /// The scan's report of this diff over `walk` (its issues are taken as the warnings); the
    /// caller sets the id, the duration and what it names as the scope.
    pub(super) fn report(
        &self,
        walk: &mut Walk,
        dry_run: bool,
        scope: Option<Vec<String>>,
    ) -> ScanReport {
        ScanReport {
            scan_id: None,
            dry_run,
            files_seen: walk.files.len() as u64,
            dirs_seen: walk.dirs_seen,
            added: self.added.len() as u64,
            removed: self.removed.len() as u64,
            modified: self.modified.len() as u64,
            moved: self.moved.len() as u64,
            unchanged: self.unchanged as u64,
            kept_unreadable: self.kept_unreadable as u64,
            pending_delete: self.waiting.len() as u64,
            warnings: std::mem::take(&mut walk.issues),
            duration_ms: 0,
            scope,
            changing: Vec::new(),
        }
    }

    pub(super) fn to_diff(&self, known: &[FileRecord], walked: &[WalkedFile]) -> ScanDiff {
        let pairs = |v: &[(usize, usize)]| -> Vec<(FileRecord, WalkedFile)> {
            v.iter()
                .map(|&(k, w)| (known[k].clone(), walked[w].clone()))
                .collect()
        };
        ScanDiff {
            added: self.added.iter().map(|&w| walked[w].clone()).collect(),
            removed: self.removed.iter().map(|&k| known[k].clone()).collect(),
            modified: pairs(&self.modified),
            moved: pairs(&self.moved),
            waiting: self.waiting.iter().map(|&k| known[k].clone()).collect(),
            reset: self.reset.iter().map(|&k| known[k].id).collect(),
            unchanged: self.unchanged,
            kept_unreadable: self.kept_unreadable,
        }
    }
}

/// Calls `f(walk index, known index if the path is known)` for every walked file, in walk order.
/// Both lists are sorted by path when `known` comes from `load_files`: then a merge join, else a
/// hash lookup.
pub(super) fn join_by_path(
    known: &[FileRecord],
    walked: &[WalkedFile],
    mut f: impl FnMut(usize, Option<usize>),
) {
    let sorted = known.windows(2).all(|p| p[0].path < p[1].path);
    if sorted {
        let mut k = 0;
        for (w, file) in walked.iter().enumerate() {
            while k < known.len() && known[k].path.as_str() < file.path.as_str() {
                k += 1;
            }
            if k < known.len() && known[k].path == file.path {
                f(w, Some(k));
                k += 1;
            } else {
                f(w, None);
            }
        }
    } else {
        let by_path: HashMap<&str, usize> = known
            .iter()
            .enumerate()
            .map(|(i, r)| (r.path.as_str(), i))
            .collect();
        for (w, file) in walked.iter().enumerate() {
            f(w, by_path.get(file.path.as_str()).copied());
        }
    }
}

/// The diff of `walk` against `known`. A known file missing from the walk is removed only when
/// this is the `grace`-th consecutive scan to miss it (`delete_after_missing_scans`; 1 = at
/// once); before that it waits. Moves are paired first, so a moved file is re-pointed at once.
pub(super) fn diff_idx(
    root: &Path,
    known: &[FileRecord],
    walk: &Walk,
    cancel: &AtomicBool,
    grace: u32,
) -> Result<DiffIdx> {
    let mut d = diff_paired(root, known, walk, cancel)?;
    let removed = std::mem::take(&mut d.removed);
    (d.removed, d.waiting) = removed
        .into_iter()
        .partition(|&k| known[k].missing_scans.saturating_add(1) >= grace.max(1));
    d.reset.extend(
        d.moved
            .iter()
            .map(|&(k, _)| k)
            .filter(|&k| known[k].missing_scans > 0),
    );
    d.reset.sort_unstable();
    Ok(d)
}

fn diff_paired(
    root: &Path,
    known: &[FileRecord],
    walk: &Walk,
    cancel: &AtomicBool,
) -> Result<DiffIdx> {
    let mut d = DiffIdx::default();
    let mut seen = vec![false; known.len()];
    let mut added: Vec<usize> = Vec::new();
    join_by_path(known, &walk.files, |w, k| match k {
        Some(k) => {
            seen[k] = true;
            let (r, f) = (&known[k], &walk.files[w]);
            if r.missing_scans > 0 {
                d.reset.push(k);
            }
            if r.size != f.size || r.mtime != f.mtime {
                d.modified.push((k, w));
            } else {
                d.unchanged += 1;
            }
        }
        None => added.push(w),
    });
    // A file whose metadata could not be read is not "gone": keep its record.
    let unreadable_files: HashSet<&str> = walk
        .issues
        .iter()
        .filter(|i| i.kind == IssueKind::UnreadableFile)
        .map(|i| i.path.as_str())
        .collect();
    let mut removed: Vec<usize> = Vec::new();
    for (i, k) in known.iter().enumerate() {
        if seen[i] {
            continue;
        }
        if under_unreadable(&k.path, &walk.unreadable_dirs)
            || unreadable_files.contains(k.path.as_str())
        {
            d.kept_unreadable += 1;
        } else {
            removed.push(i);
        }
    }
    drop(seen);
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    if removed.is_empty() || added.is_empty() {
        d.removed = removed;
        d.added = added;
        return Ok(d);
    }

    // Candidate moves: a removed and an added file with equal size and mtime (to the second).
    let removed_refs: Vec<&FileRecord> = removed.iter().map(|&k| &known[k]).collect();
    let added_refs: Vec<&WalkedFile> = added.iter().map(|&w| &walk.files[w]).collect();
    let mut buckets: HashMap<(i64, i64), (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (ri, r) in removed_refs.iter().enumerate() {
        buckets.entry((r.size, r.mtime)).or_default().0.push(ri);
    }
    for (ai, a) in added_refs.iter().enumerate() {
        if let Some(b) = buckets.get_mut(&(a.size, a.mtime)) {
            b.1.push(ai);
        }
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut keys: Vec<_> = buckets.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let Some((rs, as_)) = buckets.remove(&key) else {
            continue;
        };
        if rs.is_empty() || as_.is_empty() {
            continue;
        }
        pairs.extend(match_bucket(root, &removed_refs, &added_refs, rs, as_));
    }
    let mut moved_r = vec![false; removed.len()];
    let mut moved_a = vec![false; added.len()];
    for (r, a) in pairs {
        moved_r[r] = true;
        moved_a[a] = true;
        d.moved.push((removed[r], added[a]));
    }
    // Walk indices are path order.
    d.moved.sort_unstable_by_key(|&(_, w)| w);
    d.removed = removed
        .iter()
        .enumerate()
        .filter(|(i, _)| !moved_r[*i])
        .map(|(_, &k)| k)
        .collect();
    d.added = added
        .iter()
        .enumerate()
        .filter(|(i, _)| !moved_a[*i])
        .map(|(_, &w)| w)
        .collect();
    Ok(d)
}

/// Pair removed and added files of one (size, mtime) bucket. A pairing is accepted only when it is
/// unique: first the whole bucket, then by equal file name, then by equal fingerprint. Whatever
/// stays ambiguous is left as remove + add.
pub(super) fn match_bucket(
    root: &Path,
    removed: &[&FileRecord],
    added: &[&WalkedFile],
    mut rs: Vec<usize>,
    mut as_: Vec<usize>,
) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    let mut fp_cache: HashMap<usize, Option<i64>> = HashMap::new();
    let mut added_fp = |a: usize| -> Option<i64> {
        *fp_cache
            .entry(a)
            .or_insert_with(|| fingerprint(&root.join(&added[a].path)).ok())
    };
    for level in 0..3 {
        if rs.is_empty() || as_.is_empty() {
            break;
        }
        if rs.len() == 1 && as_.len() == 1 {
            let (r, a) = (rs[0], as_[0]);
            // Never pair two files whose known fingerprints say they differ.
            let veto = match removed[r].fingerprint {
                Some(fr) if level > 0 => added_fp(a).is_some_and(|fa| fa != fr),
                _ => false,
            };
            if !veto {
                pairs.push((r, a));
            }
            return pairs;
        }
        let new_pairs: Vec<(usize, usize)> = match level {
            1 => unique_pairs(
                &rs,
                &as_,
                |r| Some(removed[r].name().to_string()),
                |a| Some(names::file_name(&added[a].path).to_string()),
            ),
            2 => {
                if rs.iter().all(|&r| removed[r].fingerprint.is_none()) {
                    Vec::new()
                } else {
                    let fps: HashMap<usize, Option<i64>> =
                        as_.iter().map(|&a| (a, added_fp(a))).collect();
                    unique_pairs(
                        &rs,
                        &as_,
                        |r| removed[r].fingerprint,
                        |a| fps.get(&a).copied().flatten(),
                    )
                }
            }
            _ => Vec::new(),
        };
        let paired_r: HashSet<usize> = new_pairs.iter().map(|p| p.0).collect();
        let paired_a: HashSet<usize> = new_pairs.iter().map(|p| p.1).collect();
        rs.retain(|x| !paired_r.contains(x));
        as_.retain(|x| !paired_a.contains(x));
        pairs.extend(new_pairs);
    }
    pairs
}

/// Pairs (r, a) whose keys are equal and unique on both sides.
pub(super) fn unique_pairs<K: std::hash::Hash + Eq>(
    rs: &[usize],
    as_: &[usize],
    rkey: impl Fn(usize) -> Option<K>,
    akey: impl Fn(usize) -> Option<K>,
) -> Vec<(usize, usize)> {
    let mut groups: HashMap<K, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for &r in rs {
        if let Some(k) = rkey(r) {
            groups.entry(k).or_default().0.push(r);
        }
    }
    for &a in as_ {
        if let Some(k) = akey(a)
            && let Some(g) = groups.get_mut(&k)
        {
            g.1.push(a);
        }
    }
    let mut out: Vec<(usize, usize)> = groups
        .into_values()
        .filter(|(r, a)| r.len() == 1 && a.len() == 1)
        .map(|(r, a)| (r[0], a[0]))
        .collect();
    out.sort_unstable();
    out
}
