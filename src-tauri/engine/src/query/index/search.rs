//! The search's columns: packed into the index when it is written ([`Packed`]), loaded into
//! memory once per index version ([`SearchData`]), with a plain cache file beside the index for
//! per-call processes.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, Transaction, params};

use super::index_version;
use crate::error::{Error, Result, SqlContext};
use crate::names;

/// Search key: Unicode NFC, then lowercase (the same folding as duplicate names).
pub fn search_key(s: &str) -> String {
    names::name_key(s)
}

/// The search's columns, packed while the items are written (see [`SearchData`]).
pub(super) struct Packed {
    names: Vec<u8>,
    status: Vec<u8>,
    catalog: Vec<u8>,
    dir: Vec<u8>,
    size: Vec<u8>,
    mtime: Vec<u8>,
}

impl Packed {
    pub(super) fn with_capacity(n: usize) -> Packed {
        Packed {
            names: Vec::with_capacity(n * 40),
            status: Vec::with_capacity(n),
            catalog: Vec::with_capacity(n * 4),
            dir: Vec::with_capacity(n * 4),
            size: Vec::with_capacity(n * 8),
            mtime: Vec::with_capacity(n * 8),
        }
    }

    pub(super) fn push(
        &mut self,
        key: &str,
        status: i64,
        catalog: i64,
        dir: usize,
        size: i64,
        mtime: i64,
    ) {
        // A path never holds NUL, so it separates the names and no match can span two.
        self.names.extend_from_slice(key.as_bytes());
        self.names.push(0);
        self.status.push(status as u8);
        self.catalog
            .extend_from_slice(&(catalog as u32).to_le_bytes());
        self.dir.extend_from_slice(&(dir as u32).to_le_bytes());
        self.size.extend_from_slice(&size.to_le_bytes());
        self.mtime.extend_from_slice(&mtime.to_le_bytes());
    }

    pub(super) fn store(self, tx: &Transaction<'_>, dir_keys: &[String]) -> Result<()> {
        let mut keys = Vec::with_capacity(dir_keys.iter().map(|k| k.len() + 1).sum());
        for k in dir_keys {
            keys.extend_from_slice(k.as_bytes());
            keys.push(0);
        }
        let mut st = tx
            .prepare("INSERT INTO blobs (name, data) VALUES (?1, ?2)")
            .ctx("index search columns")?;
        for (name, data) in [
            ("names", &self.names),
            ("status", &self.status),
            ("catalog", &self.catalog),
            ("dir", &self.dir),
            ("size", &self.size),
            ("mtime", &self.mtime),
            ("dir_keys", &keys),
        ] {
            st.execute(params![name, data])
                .ctx("index search columns")?;
        }
        Ok(())
    }
}

/// What a search needs of every item, in item order (item id = position + 1), loaded once per
/// index version: lowercase NFC file names (NUL-separated), status, catalog rank, directory,
/// size and mtime; and each directory's lowercase NFC path.
pub(crate) struct SearchData {
    /// The index version these columns belong to (its `built_at` + `digest`).
    pub(super) version: String,
    pub names: Vec<u8>,
    /// Start of each item's name in `names`.
    pub starts: Vec<u32>,
    pub status: Vec<u8>,
    pub catalog: Vec<u32>,
    pub dir: Vec<u32>,
    pub size: Vec<i64>,
    pub mtime: Vec<i64>,
    pub dir_keys: Vec<String>,
}

/// The search columns' cache file beside the index (`archive.index.db.search`): the same bytes
/// as the `blobs` table, in one plain file a per-call process (the CLI) reads in a few ms
/// instead of pulling ~65 MB of blob pages through SQLite. Only a cache: it names the index
/// version it was written from and is ignored unless that is the current one.
fn search_cache_path(index: &Path) -> PathBuf {
    let mut p = index.as_os_str().to_owned();
    p.push(".search");
    PathBuf::from(p)
}

const SEARCH_CACHE_MAGIC: &[u8; 8] = b"NSMSRC01";

impl SearchData {
    /// The columns of index version `version`: from the cache file when it holds that version,
    /// else from the index (and then written to the cache file, when the folder allows).
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
        let data = SearchData::load(conn)?;
        if let Err(e) = data.write_cache(&cache) {
            tracing::debug!(error = %e, "search cache not written");
        }
        Ok(data)
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
        let parts: [&[u8]; 9] = [
            self.version.as_bytes(),
            &self.names,
            &le32(&self.starts),
            &self.status,
            &le32(&self.catalog),
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
        let names = part()?;
        let starts = u32s(part()?);
        let status = part()?;
        let catalog = u32s(part()?);
        let dir = u32s(part()?);
        let size = i64s(part()?);
        let mtime = i64s(part()?);
        let keys = part()?;
        let n = status.len();
        if starts.len() != n
            || catalog.len() != n
            || dir.len() != n
            || size.len() != n
            || mtime.len() != n
        {
            return Ok(None);
        }
        Ok(Some(SearchData {
            version,
            names,
            starts,
            status,
            catalog,
            dir,
            size,
            mtime,
            dir_keys: split_keys(&keys),
        }))
    }

    fn load(conn: &Connection) -> Result<SearchData> {
        // Read in one transaction so all columns come from the same index version.
        conn.execute_batch("BEGIN").ctx("read the search columns")?;
        let read = || -> Result<SearchData> {
            let version = index_version(conn)?;
            let mut st = conn
                .prepare_cached("SELECT data FROM blobs WHERE name = ?1")
                .ctx("read the search columns")?;
            let mut blob = |name: &str| -> Result<Vec<u8>> {
                st.query_row([name], |r| r.get::<_, Vec<u8>>(0))
                    .ctx(&format!("read the search column {name}"))
            };
            let names = blob("names")?;
            let status = blob("status")?;
            let catalog = u32s(blob("catalog")?);
            let dir = u32s(blob("dir")?);
            let size = i64s(blob("size")?);
            let mtime = i64s(blob("mtime")?);
            let keys = blob("dir_keys")?;
            let dir_keys = split_keys(&keys);
            let mut starts = Vec::with_capacity(status.len());
            if !status.is_empty() {
                starts.push(0u32);
            }
            starts.extend(
                memchr::memchr_iter(0, &names)
                    .map(|p| (p + 1) as u32)
                    .take(status.len().saturating_sub(1)),
            );
            Ok(SearchData {
                version,
                names,
                starts,
                status,
                catalog,
                dir,
                size,
                mtime,
                dir_keys,
            })
        };
        let data = read();
        let _ = conn.execute_batch("COMMIT");
        let data = data?;
        let n = data.status.len();
        if data.starts.len() != n
            || data.catalog.len() != n
            || data.dir.len() != n
            || data.size.len() != n
            || data.mtime.len() != n
        {
            return Err(Error::invalid(
                "index",
                "the match index's search columns disagree in length; delete archive.index.db \
                 to rebuild it",
            ));
        }
        Ok(data)
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

/// NUL-terminated keys, as packed by [`Packed::store`].
fn split_keys(keys: &[u8]) -> Vec<String> {
    keys.split(|&b| b == 0)
        .take(keys.iter().filter(|&&b| b == 0).count())
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}
