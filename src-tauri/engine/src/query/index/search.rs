//! The search's columns: every item's lowercase name and the values a search filters and sorts
//! on, in item (path) order, held in memory per index version ([`SearchData`]). A full build
//! hands over the columns of what it wrote, an incremental update patches them in place of a
//! reload, and a per-call process reads them from a plain cache file beside the index (or, when
//! that is stale, from the items table).

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::{Result, SqlContext};
use crate::names;

/// Search key: Unicode NFC, then lowercase (the same folding as duplicate names).
pub fn search_key(s: &str) -> String {
    names::name_key(s)
}

/// What a search needs of every item, in item order, for one index version: the item id,
/// lowercase NFC file names (NUL-separated), status, catalog rank, directory, size and mtime;
/// and each directory's lowercase NFC path, by directory id.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SearchData {
    /// The index version these columns belong to (see `index_version`).
    pub(super) version: String,
    pub ids: Vec<i64>,
    pub names: Vec<u8>,
    /// Start of each item's name in `names`.
    pub starts: Vec<u32>,
    pub status: Vec<u8>,
    pub catalog: Vec<i64>,
    pub dir: Vec<u32>,
    pub size: Vec<i64>,
    pub mtime: Vec<i64>,
    /// By directory id; an id no directory has (removed) holds an empty key.
    pub dir_keys: Vec<String>,
}

/// One item's search columns, for a patch.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) id: i64,
    pub(super) key: String,
    pub(super) status: i64,
    pub(super) catalog: i64,
    pub(super) dir: usize,
    pub(super) size: i64,
    pub(super) mtime: i64,
}

/// What an incremental update changed, for the search columns held in memory.
#[derive(Debug, Clone, Default)]
pub(super) struct Patch {
    /// Ids of items removed (a rewritten item is removed and added).
    pub(super) removed: Vec<i64>,
    pub(super) added: Vec<Entry>,
    /// Directories created: (id, key).
    pub(super) new_dirs: Vec<(usize, String)>,
}

impl Patch {
    pub(super) fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && self.new_dirs.is_empty()
    }
}

/// The search columns' cache file beside the index (`archive.index.db.search`), read in a few ms
/// by a per-call process (the CLI). Only a cache: it names the index version it was written from
/// and is ignored unless that is the current one.
fn search_cache_path(index: &Path) -> PathBuf {
    let mut p = index.as_os_str().to_owned();
    p.push(".search");
    PathBuf::from(p)
}

const SEARCH_CACHE_MAGIC: &[u8; 8] = b"NSMSRC03";

impl SearchData {
    pub(super) fn with_capacity(n: usize) -> SearchData {
        SearchData {
            version: String::new(),
            ids: Vec::with_capacity(n),
            names: Vec::with_capacity(n * 40),
            starts: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            catalog: Vec::with_capacity(n),
            dir: Vec::with_capacity(n),
            size: Vec::with_capacity(n),
            mtime: Vec::with_capacity(n),
            dir_keys: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn push(
        &mut self,
        id: i64,
        key: &str,
        status: i64,
        catalog: i64,
        dir: usize,
        size: i64,
        mtime: i64,
    ) {
        self.ids.push(id);
        self.starts.push(self.names.len() as u32);
        // A path never holds NUL, so it separates the names and no match can span two.
        self.names.extend_from_slice(key.as_bytes());
        self.names.push(0);
        self.status.push(status as u8);
        self.catalog.push(catalog);
        self.dir.push(dir as u32);
        self.size.push(size);
        self.mtime.push(mtime);
    }

    /// Items `a..b` of `self` appended to `out`, in one copy per column.
    fn copy_range(&self, a: usize, b: usize, out: &mut SearchData) {
        if a >= b {
            return;
        }
        let from = self.starts[a] as usize;
        let to = self.starts.get(b).map_or(self.names.len(), |&s| s as usize);
        let base = out.names.len() as i64 - from as i64;
        out.starts
            .extend(self.starts[a..b].iter().map(|&s| (s as i64 + base) as u32));
        out.names.extend_from_slice(&self.names[from..to]);
        out.ids.extend_from_slice(&self.ids[a..b]);
        out.status.extend_from_slice(&self.status[a..b]);
        out.catalog.extend_from_slice(&self.catalog[a..b]);
        out.dir.extend_from_slice(&self.dir[a..b]);
        out.size.extend_from_slice(&self.size[a..b]);
        out.mtime.extend_from_slice(&self.mtime[a..b]);
    }

    /// These columns with `patch` applied, as version `version`.
    pub(super) fn patched(&self, patch: &Patch, version: String) -> SearchData {
        let mut removed = patch.removed.clone();
        removed.sort_unstable();
        removed.dedup();
        let mut added: Vec<&Entry> = patch.added.iter().collect();
        added.sort_by_key(|e| e.id);
        let mut out = SearchData::with_capacity(self.ids.len() + added.len());
        let (mut i, mut r, mut a) = (0usize, 0usize, 0usize);
        loop {
            let next_removed = removed.get(r).copied();
            let next_added = added.get(a).map(|e| e.id);
            let id = match (next_removed, next_added) {
                (None, None) => break,
                (Some(x), Some(y)) => x.min(y),
                (Some(x), None) => x,
                (None, Some(y)) => y,
            };
            let pos = i + self.ids[i..].partition_point(|&x| x < id);
            self.copy_range(i, pos, &mut out);
            i = pos;
            if next_removed == Some(id) {
                if self.ids.get(i) == Some(&id) {
                    i += 1;
                }
                r += 1;
            }
            if next_added == Some(id) {
                let e = added[a];
                out.push(e.id, &e.key, e.status, e.catalog, e.dir, e.size, e.mtime);
                a += 1;
            }
        }
        self.copy_range(i, self.ids.len(), &mut out);
        out.dir_keys = self.dir_keys.clone();
        for (d, key) in &patch.new_dirs {
            if out.dir_keys.len() <= *d {
                out.dir_keys.resize(d + 1, String::new());
            }
            out.dir_keys[*d] = key.clone();
        }
        out.version = version;
        out
    }

    /// The columns of index version `version`: from the cache file when it holds that version,
    /// else from the index's tables (and then written to the cache file, when the folder allows).
    pub(super) fn load_cached(
        conn: &Connection,
        index: &Path,
        version: &str,
    ) -> Result<SearchData> {
        let cache = search_cache_path(index);
        match SearchData::read_cache(&cache) {
            Ok(Some(data)) if data.version == version => return Ok(data),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "search cache unreadable; reading the index"),
        }
        let data = SearchData::load(conn, version)?;
        data.store_cache(index);
        Ok(data)
    }

    /// The cache file's columns, if they are of `version`.
    pub(super) fn read_cached(index: &Path, version: &str) -> Option<SearchData> {
        SearchData::read_cache(&search_cache_path(index))
            .ok()
            .flatten()
            .filter(|d| d.version == version)
    }

    /// Write the cache file (a failure only costs the next per-call search a reload).
    pub(super) fn store_cache(&self, index: &Path) {
        if let Err(e) = self.write_cache(&search_cache_path(index)) {
            tracing::debug!(error = %e, "search cache not written");
        }
    }

    fn write_cache(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        let le32 = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let le64 = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut keys = Vec::new();
        for k in &self.dir_keys {
            keys.extend_from_slice(k.as_bytes());
            keys.push(0);
        }
        let parts: [&[u8]; 10] = [
            self.version.as_bytes(),
            &le64(&self.ids),
            &self.names,
            &le32(&self.starts),
            &self.status,
            &le64(&self.catalog),
            &le32(&self.dir),
            &le64(&self.size),
            &le64(&self.mtime),
            &keys,
        ];
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(SEARCH_CACHE_MAGIC)?;
        for part in parts {
            f.write_all(&(part.len() as u64).to_le_bytes())?;
            f.write_all(part)?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_data().ok();
        // Atomic replace: a reader sees the old file or the new one, never half of one.
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    fn read_cache(path: &Path) -> std::io::Result<Option<SearchData>> {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => std::io::BufReader::with_capacity(1 << 20, f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = std::fs::metadata(path)?.len();
        let mut magic = [0u8; 8];
        f.read_exact(&mut magic)?;
        if &magic != SEARCH_CACHE_MAGIC {
            return Ok(None);
        }
        let mut part = || -> std::io::Result<Vec<u8>> {
            let mut n = [0u8; 8];
            f.read_exact(&mut n)?;
            let n = u64::from_le_bytes(n);
            if n > len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "search cache part longer than the file",
                ));
            }
            let mut v = vec![0u8; n as usize];
            f.read_exact(&mut v)?;
            Ok(v)
        };
        let version = String::from_utf8_lossy(&part()?).into_owned();
        let ids = i64s(part()?);
        let names = part()?;
        let starts = u32s(part()?);
        let status = part()?;
        let catalog = i64s(part()?);
        let dir = u32s(part()?);
        let size = i64s(part()?);
        let mtime = i64s(part()?);
        let keys = part()?;
        let data = SearchData {
            version,
            ids,
            names,
            starts,
            status,
            catalog,
            dir,
            size,
            mtime,
            dir_keys: split_keys(&keys),
        };
        Ok(data.consistent().then_some(data))
    }

    /// All columns have one value per item.
    fn consistent(&self) -> bool {
        let n = self.ids.len();
        [
            self.starts.len(),
            self.status.len(),
            self.catalog.len(),
            self.dir.len(),
            self.size.len(),
            self.mtime.len(),
        ]
        .iter()
        .all(|&l| l == n)
    }

    /// Read the columns from the index's tables (one read transaction, so all of them come
    /// from the same version).
    pub(super) fn load(conn: &Connection, version: &str) -> Result<SearchData> {
        conn.execute_batch("BEGIN").ctx("read the search columns")?;
        let read = || -> Result<SearchData> {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
                .ctx("read the search columns")?;
            let mut data = SearchData::with_capacity(n.max(0) as usize);
            let mut st = conn
                .prepare(
                    "SELECT id, path, status, catalog, dir_id, size, mtime FROM items
                     ORDER BY id",
                )
                .ctx("read the search columns")?;
            let mut rows = st.query([]).ctx("read the search columns")?;
            while let Some(r) = rows.next().ctx("read the search columns")? {
                let path: &str = r
                    .get_ref(1)
                    .and_then(|v| v.as_str().map_err(Into::into))
                    .ctx("read the search columns")?;
                let key = search_key(super::split_dir(path).1);
                data.push(
                    r.get(0).ctx("read the search columns")?,
                    &key,
                    r.get(2).ctx("read the search columns")?,
                    r.get(3).ctx("read the search columns")?,
                    r.get::<_, i64>(4).ctx("read the search columns")? as usize,
                    r.get(5).ctx("read the search columns")?,
                    r.get(6).ctx("read the search columns")?,
                );
            }
            let mut st = conn
                .prepare("SELECT id, key FROM dirs")
                .ctx("read the search columns")?;
            let dirs = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .ctx("read the search columns")?;
            for d in dirs {
                let (id, key) = d.ctx("read the search columns")?;
                let id = usize::try_from(id).unwrap_or(0);
                if data.dir_keys.len() <= id {
                    data.dir_keys.resize(id + 1, String::new());
                }
                data.dir_keys[id] = key;
            }
            data.version = version.to_string();
            Ok(data)
        };
        let data = read();
        let _ = conn.execute_batch("COMMIT");
        data
    }

    /// Item `i`'s name key.
    pub fn name(&self, i: usize) -> &[u8] {
        let start = self.starts[i] as usize;
        let end = self
            .starts
            .get(i + 1)
            .map(|&e| e as usize - 1)
            .unwrap_or(self.names.len().saturating_sub(1));
        &self.names[start..end]
    }
}

fn u32s(b: Vec<u8>) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn i64s(b: Vec<u8>) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            i64::from_le_bytes(a)
        })
        .collect()
}

/// NUL-terminated keys, as written by [`SearchData::write_cache`].
fn split_keys(keys: &[u8]) -> Vec<String> {
    keys.split(|&b| b == 0)
        .take(keys.iter().filter(|&&b| b == 0).count())
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, key: &str) -> Entry {
        Entry {
            id,
            key: key.into(),
            status: id % 8,
            catalog: id % 3,
            dir: (id % 5) as usize,
            size: id * 10,
            mtime: id * 100,
        }
    }

    fn of(entries: &[Entry]) -> SearchData {
        let mut d = SearchData::with_capacity(entries.len());
        for e in entries {
            d.push(e.id, &e.key, e.status, e.catalog, e.dir, e.size, e.mtime);
        }
        d.dir_keys = vec!["".into(), "a".into()];
        d
    }

    #[test]
    fn a_patch_gives_the_columns_a_fresh_load_would() {
        let before: Vec<Entry> = (1..=9).map(|i| entry(i * 10, &format!("n{i}"))).collect();
        let patch = Patch {
            // The first, one in the middle (rewritten) and the last go; new ones at both ends,
            // between two items and where a removed one was.
            removed: vec![90, 10, 50],
            added: vec![
                entry(5, "front"),
                entry(50, "n5 again"),
                entry(55, "between"),
                entry(95, "back"),
            ],
            new_dirs: vec![(3, "c".into())],
        };
        let after = of(&before).patched(&patch, "v2".into());
        let mut expected: Vec<Entry> = before
            .iter()
            .filter(|e| ![90, 10, 50].contains(&e.id))
            .cloned()
            .chain(patch.added.iter().cloned())
            .collect();
        expected.sort_by_key(|e| e.id);
        let mut want = of(&expected);
        want.dir_keys = vec!["".into(), "a".into(), "".into(), "c".into()];
        want.version = "v2".into();
        assert_eq!(after, want);
        assert_eq!(after.name(0), b"front");
        assert_eq!(after.name(after.ids.len() - 1), b"back");
    }
}
