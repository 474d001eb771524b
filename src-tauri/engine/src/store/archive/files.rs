//! The stored Source files: loading them (in two halves on two connections when the table is
//! large), and the fingerprints and probe results computed after a scan.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::Archive;
use super::schema::open_read_only_conn;
use crate::error::{Result, SqlContext};
use crate::names::{self, Kind};

/// Media facts from the probe, copied to the Target by the sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Media {
    pub codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_sec: Option<f64>,
}

/// One Source file as stored. Catalog, name, extension and kind derive from `path`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileRecord {
    pub id: i64,
    /// Relative path with `/` separators, exactly as on disk.
    pub path: String,
    pub size: i64,
    /// Modification time, whole seconds since the Unix epoch (UTC).
    pub mtime: i64,
    /// The scan that first recorded this file.
    pub first_seen: i64,
    /// Hash of the first and last 64 KiB (video files, computed after the scan).
    pub fingerprint: Option<i64>,
    /// The Target row this file is synced to (kept across moves).
    pub target_id: Option<i64>,
    /// What the probe found (empty until probed, or when the format is unknown).
    pub media: Media,
    /// Consecutive scans that did not find this file (0 = seen by the last scan that looked).
    /// A record with a count is waiting for deletion (`delete_after_missing_scans`): it is still
    /// synced; the scan removes it when the count reaches the setting.
    pub missing_scans: u32,
}

impl FileRecord {
    pub fn name(&self) -> &str {
        names::file_name(&self.path)
    }
    pub fn catalog(&self) -> &str {
        names::catalog(&self.path)
    }
    pub fn ext(&self) -> String {
        names::extension(self.name())
    }
    pub fn kind(&self) -> Kind {
        Kind::from_ext(&self.ext())
    }

    /// A hash of everything the sync rules and the match index read of this record (not the
    /// fingerprint or the missing-scan count). Summed over every record (wrapping), it is a
    /// digest of the Source that can be kept up to date one record at a time.
    pub fn content_hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&self.id.to_le_bytes());
        h.update(self.path.as_bytes());
        h.update(b"\0");
        h.update(&self.size.to_le_bytes());
        h.update(&self.mtime.to_le_bytes());
        h.update(&self.first_seen.to_le_bytes());
        h.update(&self.target_id.unwrap_or(i64::MIN).to_le_bytes());
        h.update(self.media.codec.as_deref().unwrap_or("\u{1}").as_bytes());
        h.update(b"\0");
        h.update(&self.media.width.unwrap_or(i64::MIN).to_le_bytes());
        h.update(&self.media.height.unwrap_or(i64::MIN).to_le_bytes());
        h.update(&self.media.duration_sec.unwrap_or(-1.0).to_le_bytes());
        h.digest()
    }
}

impl Archive {
    /// Every stored file, ordered by path (byte order).
    pub fn load_files(&self) -> Result<Vec<FileRecord>> {
        self.load_files_split_from(PARALLEL_LOAD_MIN_FILES)
    }

    /// [`Archive::load_files`], reading the table in two halves from `min_split` file ids.
    fn load_files_split_from(&self, min_split: i64) -> Result<Vec<FileRecord>> {
        let timer = std::time::Instant::now();
        let (mut files, parallel) = match self.load_file_rows_in_halves(min_split)? {
            Some(files) => (files, true),
            None => (load_file_rows(&self.conn, i64::MIN, i64::MAX)?, false),
        };
        let rows_ms = timer.elapsed().as_millis() as u64;
        self.fill_links(&mut files)?;
        self.fill_missing(&mut files)?;
        // Sorting here is faster than `ORDER BY path` (an index walk with a random table read
        // per row); `String` order is byte order, like SQLite's BINARY collation.
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        tracing::debug!(
            files = files.len(),
            parallel,
            rows_ms,
            ms = timer.elapsed().as_millis() as u64,
            "archive.db files loaded"
        );
        Ok(files)
    }

    /// A large `files` table read in two id ranges at once, the upper half on a second
    /// (read-only) connection. Both halves come from the same committed state: if anything
    /// committed to archive.db while they were read (`data_version` moved), the answer is
    /// `None` and the caller reads the table in one go.
    fn load_file_rows_in_halves(&self, min_split: i64) -> Result<Option<Vec<FileRecord>>> {
        if !self.conn.is_autocommit() {
            // Our own uncommitted writes would be invisible to the second connection.
            return Ok(None);
        }
        let (min, max): (i64, i64) = self
            .conn
            .query_row(
                // Two subqueries: each is one B-tree seek (MIN and MAX in one SELECT scan the table).
                "SELECT COALESCE((SELECT MIN(id) FROM files), 0), COALESCE((SELECT MAX(id) FROM files), 0)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("load files")?;
        if max.saturating_sub(min) < min_split {
            return Ok(None);
        }
        let mid = min + (max - min) / 2;
        let version = |conn: &Connection| -> Result<i64> {
            conn.pragma_query_value(None, "data_version", |r| r.get(0))
                .ctx("archive.db data_version")
        };
        let before = version(&self.conn)?;
        let second = open_read_only_conn(&self.path)?;
        let (lower, upper) = std::thread::scope(|scope| {
            let upper = scope.spawn(move || load_file_rows(&second, mid + 1, i64::MAX));
            let lower = load_file_rows(&self.conn, i64::MIN, mid);
            let upper = upper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (lower, upper)
        });
        let (mut lower, upper) = (lower?, upper?);
        if version(&self.conn)? != before {
            return Ok(None);
        }
        lower.extend(upper);
        Ok(Some(lower))
    }

    /// The stored files at or below the directories `dirs` (relative, `/` separators, none
    /// inside another), ordered by path: what a partial scan compares. Each directory is one
    /// range of the `path` index: `dir/` ≤ path < `dir0` (`0` is the byte after `/`).
    pub fn load_files_under(&self, dirs: &[String]) -> Result<Vec<FileRecord>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {LINKED_FILE_COLUMNS} FROM files WHERE path >= ?1 AND path < ?2"
            ))
            .ctx("load files under")?;
        let mut files = Vec::new();
        for dir in dirs {
            let rows = stmt
                .query_map([format!("{dir}/"), format!("{dir}0")], file_record)
                .ctx("load files under")?;
            for row in rows {
                files.push(row.ctx("load files under")?);
            }
        }
        drop(stmt);
        self.fill_missing(&mut files)?;
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Set each record's `missing_scans` from `file_missing` (usually empty: then no work).
    fn fill_missing(&self, files: &mut [FileRecord]) -> Result<()> {
        let missing = self.missing_scans()?;
        if missing.is_empty() {
            return Ok(());
        }
        for f in files.iter_mut() {
            if let Some(&n) = missing.get(&f.id) {
                f.missing_scans = n;
            }
        }
        Ok(())
    }

    /// The records waiting for deletion: file id → consecutive scans that missed it.
    pub fn missing_scans(&self) -> Result<std::collections::HashMap<i64, u32>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT file_id, scans FROM file_missing")
            .ctx("load missing files")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?)))
            .ctx("load missing files")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("load missing files")
    }

    /// How many records wait for deletion (missing from the share, kept for the grace).
    pub fn pending_delete_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM file_missing", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .ctx("count files waiting for deletion")
    }

    /// The records with these ids that exist (links filled in; `missing_scans` left at 0: the
    /// match index does not read it).
    pub fn files_by_ids(&self, ids: &[i64]) -> Result<Vec<FileRecord>> {
        use rusqlite::OptionalExtension;
        let mut rec = self
            .conn
            .prepare_cached(&format!(
                "SELECT {LINKED_FILE_COLUMNS} FROM files WHERE id = ?1"
            ))
            .ctx("load files by id")?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(f) = rec
                .query_row([id], file_record)
                .optional()
                .ctx("load files by id")?
            {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// The records whose `name_key` is one of `keys` (links and `missing_scans` filled in),
    /// ordered by path: the name groups a scoped plan ([`crate::sync::scoped`]) looks at.
    pub fn files_by_name_keys<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<Vec<FileRecord>> {
        // The keys go in as one JSON array per query: SQLite then looks each up in the
        // `name_key` index itself, without a statement run from here per key (the per-statement
        // cost dominated a large folder's closure; see docs/benchmarks.md, "a large folder").
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {LINKED_FILE_COLUMNS} FROM files \
                 WHERE name_key IN (SELECT value FROM json_each(?1))"
            ))
            .ctx("load files by name")?;
        let keys: Vec<&str> = keys.into_iter().collect();
        let mut files = Vec::new();
        for chunk in keys.chunks(10_000) {
            let json = serde_json::to_string(chunk).expect("a list of strings is JSON");
            let rows = stmt
                .query_map([json], file_record)
                .ctx("load files by name")?;
            for row in rows {
                files.push(row.ctx("load files by name")?);
            }
        }
        drop(stmt);
        self.fill_missing(&mut files)?;
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The id of the record at `path`, if any.
    pub fn file_id_at(&self, path: &str) -> Result<Option<i64>> {
        use rusqlite::OptionalExtension;
        self.conn
            .prepare_cached("SELECT id FROM files WHERE path = ?1")
            .and_then(|mut st| st.query_row([path], |r| r.get(0)).optional())
            .ctx("find file by path")
    }

    /// Ids of the records added after id `after` (ids only grow: AUTOINCREMENT), at most
    /// `limit` of them (the caller asks for one more than it would take).
    pub fn file_ids_after(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM files WHERE id > ?1 ORDER BY id LIMIT ?2")
            .ctx("new files")?;
        let rows = st
            .query_map(params![after, limit as i64], |r| r.get(0))
            .ctx("new files")?;
        rows.collect::<rusqlite::Result<Vec<i64>>>()
            .ctx("new files")
    }

    /// The largest id a record ever had (0: none yet), from the AUTOINCREMENT sequence.
    pub fn max_file_id(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'files'), 0)",
                [],
                |r| r.get(0),
            )
            .ctx("max file id")
    }

    pub fn file_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM files", [], |r| r.get(0))
            .ctx("count files")
    }

    /// Store fingerprints computed after a scan. A file changed since (size/mtime) is left alone.
    pub fn store_fingerprints(&mut self, items: &[(i64, i64, i64, i64)]) -> Result<usize> {
        let tx = self.conn.transaction().ctx("fingerprints")?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE files SET fingerprint = ?2 WHERE id = ?1 AND size = ?3 AND mtime = ?4",
                )
                .ctx("fingerprints")?;
            for (id, fp, size, mtime) in items {
                n += stmt
                    .execute(params![id, fp, size, mtime])
                    .ctx("fingerprints")?;
            }
        }
        tx.commit().ctx("fingerprints commit")?;
        Ok(n)
    }

    /// Store probe results. A file changed since (size/mtime) is left for the next probe pass.
    pub(crate) fn store_probes(
        &mut self,
        items: &[(i64, i64, i64, crate::probe::Probe)],
    ) -> Result<()> {
        use crate::probe::Probe;
        let tx = self.conn.transaction().ctx("store probes")?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE files SET codec = ?4, width = ?5, height = ?6, duration_sec = ?7,
                     audio_codec = ?8, container = ?9, probe_status = ?10, probe_error = ?11
                     WHERE id = ?1 AND size = ?2 AND mtime = ?3",
                )
                .ctx("store probes")?;
            for (id, size, mtime, probe) in items {
                let empty = crate::probe::MediaInfo::default();
                let (info, status, error) = match probe {
                    Probe::Ok { info } => (info, "ok", None),
                    Probe::Failed { error } => (&empty, "failed", Some(error.as_str())),
                    Probe::Unsupported { reason } => (&empty, "unsupported", Some(reason.as_str())),
                };
                stmt.execute(params![
                    id,
                    size,
                    mtime,
                    info.video_codec,
                    info.width,
                    info.height,
                    info.duration_sec,
                    info.audio_codec,
                    (status == "ok").then_some(info.container.as_str()),
                    status,
                    error
                ])
                .ctx("store probes")?;
            }
        }
        let ids: Vec<i64> = items.iter().map(|(id, ..)| *id).collect();
        super::journal::record(
            &tx,
            &super::journal::Batch {
                files: &ids,
                ..Default::default()
            },
        )?;
        tx.commit().ctx("store probes")?;
        Ok(())
    }
}

/// The columns [`file_record`] reads (links come from `links`, filled in afterwards).
const FILE_COLUMNS: &str =
    "id, path, size, mtime, first_seen, fingerprint, NULL, codec, width, height, duration_sec";

/// [`FILE_COLUMNS`] with each file's link read in the same query, for loads of a few records
/// (one folder, one name group): SQLite looks each link up by its key as it goes. A 5,000-file
/// folder of a 1M-file archive loads in 5 ms this way, against 55 ms for its rows and then the
/// whole `links` table.
const LINKED_FILE_COLUMNS: &str = "id, path, size, mtime, first_seen, fingerprint, \
     (SELECT target_id FROM links WHERE links.file_id = files.id), \
     codec, width, height, duration_sec";

/// From this many file ids, [`Archive::load_files`] reads the table on two connections.
const PARALLEL_LOAD_MIN_FILES: i64 = 200_000;

/// The `files` rows with ids in `lo..=hi`, in id order, links not filled in.
fn load_file_rows(conn: &Connection, lo: i64, hi: i64) -> Result<Vec<FileRecord>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE id BETWEEN ?1 AND ?2"
        ))
        .ctx("load files")?;
    let rows = stmt.query_map([lo, hi], file_record).ctx("load files")?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx("load files")
}

fn file_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        id: r.get(0)?,
        path: r.get(1)?,
        size: r.get(2)?,
        mtime: r.get(3)?,
        first_seen: r.get(4)?,
        fingerprint: r.get(5)?,
        target_id: r.get(6)?,
        media: Media {
            codec: r.get(7)?,
            width: r.get(8)?,
            height: r.get(9)?,
            duration_sec: r.get(10)?,
        },
        missing_scans: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_read_in_two_halves_equal_the_files_read_in_one_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Archive::open(&dir.path().join("archive.db")).expect("create");
        let c = a.conn();
        c.execute_batch("PRAGMA foreign_keys = OFF;")
            .expect("fk off");
        // Ids and paths in different orders, so the halves' join order cannot pass for sorting.
        for i in 0..2_001i64 {
            c.execute(
                "INSERT INTO files (path, catalog, name, name_key, ext, kind, size, mtime, first_seen)
                 VALUES (?1, 'C', ?1, ?1, 'mp4', 'video', ?2, ?3, 1)",
                params![format!("C/{:05}.mp4", (i * 7919) % 2_001), i, 1_000 + i],
            )
            .expect("insert");
        }
        c.execute("DELETE FROM files WHERE id % 10 = 3", [])
            .expect("holes");
        let key = |f: &FileRecord| (f.id, f.path.clone(), f.size, f.mtime);
        let split = a.load_files_split_from(10).expect("split load");
        let whole = a.load_files_split_from(i64::MAX).expect("whole load");
        assert_eq!(split.len(), 2_001 - 200);
        assert!(
            a.load_file_rows_in_halves(10).expect("halves").is_some(),
            "the split path ran"
        );
        assert!(
            split.windows(2).all(|w| w[0].path < w[1].path),
            "byte order"
        );
        assert_eq!(
            split.iter().map(key).collect::<Vec<_>>(),
            whole.iter().map(key).collect::<Vec<_>>()
        );
        // Inside a transaction of this connection the second one could not see our writes.
        c.execute_batch("BEGIN").expect("begin");
        assert!(a.load_file_rows_in_halves(10).expect("halves").is_none());
        c.execute_batch("ROLLBACK").expect("rollback");
    }
}
