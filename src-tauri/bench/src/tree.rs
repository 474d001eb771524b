//! The generated archive and the changes made to it between syncs.
//!
//! Shape: `CATALOG/YEAR/EVENT/DAY/FILE`, e.g.
//! `WSOP/2019/WSOP 2019 Event 12 - Main Event/Day 3/WSOP 2019 E012 Day 3 Part 2.mp4`, eight
//! catalogs (one Hangul: `한국포커투어`, whose directories and names are Hangul too), Hangul event
//! titles here and there, and `하이라이트` (highlight) in about 15 % of the names. File names are
//! unique except for the backup copies: about 15 % of all files are a copy of an eligible file
//! under `CATALOG/Backup/YEAR/EVENT/` (same name, size and mtime), so they form duplicate groups.
//! About 5 % are mxf/mkv (not HLS); the rest mp4 (70 %), mov and ts.
//!
//! Files hold no data, but each has a realistic size (a sparse file: `set_len`, no blocks on
//! tmpfs or ext4) and its own mtime, so size sorts mean something and moves are told apart by
//! (size, mtime) as on a real share. Everything is derived from a fixed seed: the same N gives the
//! same tree on every run.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use nas_sync_engine::archive::FileRecord;
use serde::Serialize;

use crate::error::{BenchError, IoContext, Result};
use crate::rng::XorShift;

const SEED: u64 = 0x4E41_5342_454E_4348;

struct CatalogSpec {
    name: &'static str,
    /// Share of all files, in percent (the shares add up to 100).
    percent: u64,
    /// Directory and file names in Korean.
    korean: bool,
}

const CATALOGS: [CatalogSpec; 8] = [
    CatalogSpec {
        name: "WSOP",
        percent: 24,
        korean: false,
    },
    CatalogSpec {
        name: "HCL",
        percent: 14,
        korean: false,
    },
    CatalogSpec {
        name: "WPT",
        percent: 12,
        korean: false,
    },
    CatalogSpec {
        name: "EPT",
        percent: 12,
        korean: false,
    },
    CatalogSpec {
        name: "한국포커투어",
        percent: 12,
        korean: true,
    },
    CatalogSpec {
        name: "PAD",
        percent: 10,
        korean: false,
    },
    CatalogSpec {
        name: "APT",
        percent: 8,
        korean: false,
    },
    CatalogSpec {
        name: "GGMillions",
        percent: 8,
        korean: false,
    },
];

const EVENT_TITLES: [&str; 12] = [
    "Main Event",
    "High Roller",
    "Super High Roller",
    "Heads-Up Championship",
    "Turbo",
    "PLO Championship",
    "Mystery Bounty",
    "Ladies Event",
    "메인 이벤트",
    "하이롤러",
    "터보 토너먼트",
    "파이널 테이블",
];

/// In about 15 % of the file names: the search benchmark's common term.
pub const COMMON_TERM: &str = "하이라이트";

const FIRST_YEAR: u64 = 2005;
const YEARS: u64 = 20;
/// Per mille of originals that are mxf or mkv (not HLS): about 5 % of all files with the copies.
const NON_HLS_PER_MILLE: u64 = 60;
/// Per mille of eligible originals that get a backup copy: about 15 % of all files are copies.
const COPY_PER_MILLE: u64 = 188;
const HIGHLIGHT_PER_MILLE: u64 = 150;
const MIB: u64 = 1024 * 1024;

/// A search term that matches a handful of files: one day's parts and their copies.
#[derive(Debug, Clone, Serialize)]
pub struct RareTerm {
    pub term: String,
    /// Files whose name contains the term, as generated.
    pub files: u64,
}

/// What was generated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Generated {
    pub files: u64,
    /// Eligible files with a name of their own: the first sync inserts exactly these.
    pub eligible_originals: u64,
    /// Copies under `Backup/` (status `duplicate` once synced).
    pub backup_copies: u64,
    /// mxf and mkv files (status `not_synced`).
    pub non_hls: u64,
    /// Files whose name contains [`COMMON_TERM`].
    pub common_term_files: u64,
    pub rare_terms: Vec<RareTerm>,
    pub catalogs: Vec<String>,
}

impl Generated {
    fn merge(&mut self, o: Generated) {
        self.files += o.files;
        self.eligible_originals += o.eligible_originals;
        self.backup_copies += o.backup_copies;
        self.non_hls += o.non_hls;
        self.common_term_files += o.common_term_files;
        self.rare_terms.extend(o.rare_terms);
        self.catalogs.extend(o.catalogs);
    }
}

/// Seconds since the epoch of about January 1st of `year`.
fn year_start(year: u64) -> u64 {
    (year - 1970) * 31_556_952
}

/// Create an empty (sparse) file of `size` bytes with modification time `mtime`.
fn create_file(path: &Path, size: u64, mtime: u64) -> Result<()> {
    let f = File::create(path).at(path)?;
    f.set_len(size).at(path)?;
    f.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
        .at(path)?;
    Ok(())
}

/// Write the tree of exactly `n` files under `root` (which must not exist yet or be empty).
/// Catalogs are written in parallel; `on_progress` is called about every five seconds with the
/// number of files written so far.
pub fn generate(root: &Path, n: u64, on_progress: &dyn Fn(u64)) -> Result<Generated> {
    fs::create_dir_all(root).at(root)?;
    let mut quotas: Vec<u64> = CATALOGS.iter().map(|c| n * c.percent / 100).collect();
    let assigned: u64 = quotas.iter().sum();
    quotas[0] += n - assigned;
    let written = AtomicU64::new(0);
    let results: Vec<Result<Generated>> = std::thread::scope(|s| {
        let handles: Vec<_> = CATALOGS
            .iter()
            .zip(&quotas)
            .enumerate()
            .map(|(i, (spec, &quota))| {
                let written = &written;
                s.spawn(move || generate_catalog(root, spec, i as u64, quota, written))
            })
            .collect();
        let mut last = Instant::now();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() >= Duration::from_secs(5) {
                on_progress(written.load(Ordering::Relaxed));
                last = Instant::now();
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(BenchError::Check("a generator thread panicked".into()))
                })
            })
            .collect()
    });
    let mut total = Generated::default();
    for r in results {
        total.merge(r?);
    }
    Ok(total)
}

fn generate_catalog(
    root: &Path,
    spec: &CatalogSpec,
    index: u64,
    quota: u64,
    written: &AtomicU64,
) -> Result<Generated> {
    let mut rng = XorShift::new(SEED ^ (index + 1).wrapping_mul(0x0100_0000_01B3));
    let cat = spec.name;
    let mut g = Generated {
        catalogs: vec![cat.to_string()],
        ..Generated::default()
    };
    let mut event_seq: u64 = 0;
    while g.files < quota {
        let year = FIRST_YEAR + event_seq % YEARS;
        let number = event_seq / YEARS + 1;
        let title = rng.pick(&EVENT_TITLES);
        let event_dir = if spec.korean {
            format!("{cat} {year} 이벤트 {number} - {title}")
        } else {
            format!("{cat} {year} Event {number} - {title}")
        };
        let event_path = root.join(cat).join(year.to_string()).join(&event_dir);
        let backup_path = root
            .join(cat)
            .join("Backup")
            .join(year.to_string())
            .join(&event_dir);
        let mut backup_made = false;
        let event_start = year_start(year) + (number % 180) * 2 * 86_400;
        for day in 1..=rng.between(1, 6) {
            if g.files >= quota {
                break;
            }
            let (day_dir, prefix) = if spec.korean {
                (
                    format!("{day}일차"),
                    format!("{cat} {year} E{number:03} {day}일차 파트"),
                )
            } else {
                (
                    format!("Day {day}"),
                    format!("{cat} {year} E{number:03} Day {day} Part"),
                )
            };
            let dir = event_path.join(&day_dir);
            fs::create_dir_all(&dir).at(&dir)?;
            let mut prefix_files = 0;
            for part in 1..=rng.between(2, 16) {
                if g.files >= quota {
                    break;
                }
                let highlight = rng.chance(HIGHLIGHT_PER_MILLE);
                let roll = rng.below(1000);
                let (ext, size) = if roll < NON_HLS_PER_MILLE {
                    let ext = if roll < NON_HLS_PER_MILLE * 2 / 3 {
                        "mxf"
                    } else {
                        "mkv"
                    };
                    (ext, rng.between(5_000 * MIB, 60_000 * MIB))
                } else {
                    let ext = match rng.below(100) {
                        0..70 => "mp4",
                        70..85 => "mov",
                        _ => "ts",
                    };
                    (ext, rng.between(300 * MIB, 12_000 * MIB))
                };
                let eligible = roll >= NON_HLS_PER_MILLE;
                let name = format!(
                    "{prefix} {part}{}.{ext}",
                    if highlight { " 하이라이트" } else { "" }
                );
                let mtime = event_start + day * 86_400 + part * 1_800 + rng.below(1_800);
                create_file(&dir.join(&name), size, mtime)?;
                written.fetch_add(1, Ordering::Relaxed);
                g.files += 1;
                prefix_files += 1;
                if eligible {
                    g.eligible_originals += 1;
                } else {
                    g.non_hls += 1;
                }
                if highlight {
                    g.common_term_files += 1;
                }
                if eligible && g.files < quota && rng.chance(COPY_PER_MILLE) {
                    if !backup_made {
                        fs::create_dir_all(&backup_path).at(&backup_path)?;
                        backup_made = true;
                    }
                    create_file(&backup_path.join(&name), size, mtime)?;
                    written.fetch_add(1, Ordering::Relaxed);
                    g.files += 1;
                    g.backup_copies += 1;
                    prefix_files += 1;
                    if highlight {
                        g.common_term_files += 1;
                    }
                }
            }
            // Two rare terms per catalog: day 1 of two fixed events.
            if day == 1 && (event_seq == 3 || event_seq == 41) {
                g.rare_terms.push(RareTerm {
                    term: prefix,
                    files: prefix_files,
                });
            }
        }
        event_seq += 1;
    }
    Ok(g)
}

/// What one round of changes did on disk.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Churn {
    /// Moved to another directory under the same name.
    pub moved: u64,
    /// Renamed in place.
    pub renamed: u64,
    pub deleted: u64,
    /// New files.
    pub added: u64,
    /// Files that grew by a few appended bytes (new size and mtime).
    pub modified: u64,
}

impl Churn {
    pub fn total(&self) -> u64 {
        self.moved + self.renamed + self.deleted + self.added + self.modified
    }
}

fn split_name(name: &str) -> (&str, &str) {
    match name.rsplit_once('.') {
        Some((stem, ext)) => (stem, ext),
        None => (name, ""),
    }
}

fn parent_dir(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Change 1 % of `files` (the Source as archive.db has it) on disk: a third moved or renamed, a
/// third deleted, a third new files; plus 0.1 % that grow by a few bytes. `round` picks a
/// different, deterministic set each time.
pub fn churn(root: &Path, files: &[FileRecord], round: u64) -> Result<Churn> {
    let n = files.len() as u64;
    if n < 100 {
        return Err(BenchError::Check(format!(
            "cannot change 1 % of {n} files; generate at least 1,000"
        )));
    }
    let changes = (n / 100).max(3);
    let moves = changes / 3;
    let deletes = changes / 3;
    let adds = changes - moves - deletes;
    let modifies = (n / 1_000).max(1);
    let mut rng = XorShift::new(SEED ^ round.wrapping_mul(0x9E37_79B9));
    let mut taken: HashSet<usize> = HashSet::new();
    let mut pick = |rng: &mut XorShift| loop {
        let i = rng.below(n) as usize;
        if taken.insert(i) {
            return i;
        }
    };
    let path_of = |i: usize| -> PathBuf { root.join(&files[i].path) };
    let mut out = Churn::default();

    for k in 0..moves {
        let i = pick(&mut rng);
        let from = path_of(i);
        let rel = files[i].path.as_str();
        let (dir, name) = (parent_dir(rel), files[i].name());
        // Even: move into the directory of another file; odd (or when that is not possible):
        // rename in place. Both keep size and mtime, so the scan pairs them as moves.
        let other_dir = parent_dir(&files[rng.below(n) as usize].path);
        let into_other =
            k.is_multiple_of(2) && other_dir != dir && !root.join(other_dir).join(name).exists();
        let to = if into_other {
            root.join(other_dir).join(name)
        } else {
            let (stem, ext) = split_name(name);
            root.join(dir)
                .join(format!("{stem} (재편집 {round}).{ext}"))
        };
        fs::rename(&from, &to).at(&from)?;
        if into_other {
            out.moved += 1;
        } else {
            out.renamed += 1;
        }
    }
    for _ in 0..deletes {
        let p = path_of(pick(&mut rng));
        fs::remove_file(&p).at(&p)?;
        out.deleted += 1;
    }
    for k in 0..adds {
        let near = &files[rng.below(n) as usize];
        let (stem, _) = split_name(near.name());
        let ext = *rng.pick(&["mp4", "mp4", "mp4", "mov", "ts"]);
        let p = root
            .join(parent_dir(&near.path))
            .join(format!("{stem} 추가분 R{round}-{k}.{ext}"));
        let size = rng.between(300 * MIB, 12_000 * MIB);
        let mtime = year_start(FIRST_YEAR + YEARS) + round * 86_400 + k;
        create_file(&p, size, mtime)?;
        out.added += 1;
    }
    for _ in 0..modifies {
        let i = pick(&mut rng);
        let p = path_of(i);
        let mut f = OpenOptions::new().append(true).open(&p).at(&p)?;
        let extra = vec![0x47u8; rng.between(1, 512) as usize];
        f.write_all(&extra).at(&p)?;
        let mtime = u64::try_from(files[i].mtime).unwrap_or(0) + 86_400;
        f.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
            .at(&p)?;
        out.modified += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(root: &Path) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).expect("list a generated directory") {
                let e = e.expect("read a directory entry");
                let m = e.metadata().expect("stat a generated entry");
                if m.is_dir() {
                    stack.push(e.path());
                } else {
                    let rel = e
                        .path()
                        .strip_prefix(root)
                        .expect("under the root")
                        .to_string_lossy()
                        .into_owned();
                    let mtime = m
                        .modified()
                        .expect("mtime")
                        .duration_since(UNIX_EPOCH)
                        .expect("after the epoch")
                        .as_secs();
                    out.push((rel, m.len(), mtime));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn generates_exactly_n_files_deterministically() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let ga = generate(&a.path().join("archive"), 3_000, &|_| {}).expect("generate a");
        let gb = generate(&b.path().join("archive"), 3_000, &|_| {}).expect("generate b");
        let la = listing(&a.path().join("archive"));
        assert_eq!(la.len(), 3_000, "the tree must hold exactly N files");
        assert_eq!(
            la,
            listing(&b.path().join("archive")),
            "the same N must give the same tree"
        );
        assert_eq!(ga.files, 3_000);
        assert_eq!(
            ga.eligible_originals + ga.backup_copies + ga.non_hls,
            ga.files,
            "every file is an eligible original, a copy or non-HLS"
        );
        assert_eq!(ga.eligible_originals, gb.eligible_originals);
        assert!(
            la.iter().any(|(p, _, _)| p.starts_with("한국포커투어/")),
            "the Hangul catalog must be there"
        );
        let copies = la.iter().filter(|(p, _, _)| p.contains("/Backup/")).count() as u64;
        assert_eq!(copies, ga.backup_copies);
        assert!(
            (300..=600).contains(&copies),
            "about 15 % copies, got {copies}"
        );
        for t in &ga.rare_terms {
            let hits = la.iter().filter(|(p, _, _)| p.contains(&t.term)).count() as u64;
            assert_eq!(hits, t.files, "rare term `{}`", t.term);
        }
    }
}
