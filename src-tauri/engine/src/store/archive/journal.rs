//! The match index's journal (`index_journal`): every job that changes what the index shows
//! appends one batch, in the transaction that makes the change, naming the Source records and
//! Target rows it touched. The index ([`crate::index`]) brings itself up to date from the batches
//! after the last one it applied, instead of reading both databases again.
//!
//! Who writes a batch: the scan's commit (records removed, modified or moved; new records are
//! found by id, which only grows), the probe's store (media columns), the sync's last archive.db
//! transaction (the Target rows it wrote and their files, with the Target's content digest it
//! planned on and its stamp after the commit), and the recovery of a killed sync (`rebuild`).
//! Fingerprints and the deletion-grace counts change nothing the index shows and write none.
//!
//! Invariants: batch numbers (`seq`, AUTOINCREMENT) only grow, and a batch is in the same
//! transaction as its change, so a reader that sees one sees the other. Old batches are pruned
//! by the writers ([`KEEP_BATCHES`]); an index that missed a pruned batch sees the gap and
//! rebuilds. The journal's random `id` tells one archive.db from another (a replaced file).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Result, SqlContext};

/// Batches kept for an index that has not looked in a while; older ones are pruned.
pub const KEEP_BATCHES: i64 = 1_000;

/// Above this many ids a batch says `rebuild` instead of naming them (a first scan or sync:
/// rewriting the whole index is then as fast as updating it).
pub const MAX_IDS: usize = 100_000;

/// What a sync saw of the Target, for the index to check its own copy against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSeen {
    /// [`crate::target::rows_digest`] of the rows the sync planned on: the Target's content
    /// right before its commit (the sync checked that nobody committed in between).
    pub digest: u64,
    /// The same digest right after the commit (the rows it wrote read back), when nobody else
    /// committed in between; `None` otherwise.
    pub digest_after: Option<u64>,
    /// The Target's stamp ([`crate::store::sqlite::file_stamp`]) right after the commit, when
    /// the sync could tell that no other connection had committed since it planned, and the
    /// stamp is exact (not a WAL-mode Target, whose stamp a checkpoint changes); `None`
    /// otherwise.
    pub after: Option<String>,
    /// Which Target file the sync wrote ([`crate::store::sqlite::file_identity`] of its path);
    /// `None` in a batch from before this was recorded, which describes no Target the index
    /// may trust.
    pub file: Option<String>,
}

/// One job's changes, as written.
#[derive(Debug, Clone, Default)]
pub struct Batch<'a> {
    /// archive.db `files` ids whose record changed or went away.
    pub files: &'a [i64],
    /// Target row ids the job wrote.
    pub rows: &'a [i64],
    pub target: Option<TargetSeen>,
    /// The job cannot name what it changed (or changed too much): rebuild.
    pub rebuild: bool,
}

/// One batch, as read by the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journaled {
    pub seq: i64,
    pub files: Vec<i64>,
    pub rows: Vec<i64>,
    pub target: Option<TargetSeen>,
    pub rebuild: bool,
    /// The batch's random token ([`token_at`]).
    pub token: String,
}

pub(super) fn pack(ids: &[i64]) -> Vec<u8> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v.iter().flat_map(|i| i.to_le_bytes()).collect()
}

pub(super) fn unpack(b: Option<Vec<u8>>) -> Vec<i64> {
    b.unwrap_or_default()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

/// Append `batch` (inside the caller's transaction) and prune old batches; its number (0: a
/// batch with nothing in it, not written). A batch with nothing in it is still written when it
/// carries what a sync saw of the Target.
pub(crate) fn record(conn: &Connection, batch: &Batch<'_>) -> Result<i64> {
    if batch.files.is_empty() && batch.rows.is_empty() && batch.target.is_none() && !batch.rebuild {
        return Ok(0);
    }
    let rebuild = batch.rebuild || batch.files.len() + batch.rows.len() > MAX_IDS;
    let (files, rows) = if rebuild {
        (Vec::new(), Vec::new())
    } else {
        (pack(batch.files), pack(batch.rows))
    };
    conn.prepare_cached(
        "INSERT INTO index_journal (files, rows, target_digest, target_digest_after,
                                    target_after, rebuild, target_file, token)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, lower(hex(randomblob(8))))",
    )
    .and_then(|mut st| {
        st.execute(params![
            files,
            rows,
            batch.target.as_ref().map(|t| format!("{:016x}", t.digest)),
            batch
                .target
                .as_ref()
                .and_then(|t| t.digest_after)
                .map(|d| format!("{d:016x}")),
            batch.target.as_ref().and_then(|t| t.after.clone()),
            rebuild,
            batch.target.as_ref().and_then(|t| t.file.clone()),
        ])
    })
    .ctx("index journal")?;
    let seq = conn.last_insert_rowid();
    conn.prepare_cached("DELETE FROM index_journal WHERE seq <= ?1")
        .and_then(|mut st| st.execute([seq - KEEP_BATCHES]))
        .ctx("index journal")?;
    Ok(seq)
}

/// The journal's id (`None`: an archive.db without a journal, from before it existed).
pub fn journal_id(conn: &Connection) -> Result<Option<String>> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'index_journal_id')",
            [],
            |r| r.get(0),
        )
        .ctx("index journal")?;
    if !exists {
        return Ok(None);
    }
    conn.query_row("SELECT id FROM index_journal_id", [], |r| r.get(0))
        .optional()
        .ctx("index journal")
}

/// The random token of batch `seq` (`Some("")` for batch 0, before the first, and for a batch
/// written before tokens existed); `None` when there is no such batch (pruned, or never
/// written in this archive.db's history).
pub fn token_at(conn: &Connection, seq: i64) -> Result<Option<String>> {
    if seq == 0 {
        return Ok(Some(String::new()));
    }
    conn.prepare_cached("SELECT COALESCE(token, '') FROM index_journal WHERE seq = ?1")
        .and_then(|mut st| st.query_row([seq], |r| r.get(0)).optional())
        .ctx("index journal")
}

/// The newest batch number (0: none yet).
pub fn last_seq(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'index_journal'), 0)",
        [],
        |r| r.get(0),
    )
    .ctx("index journal")
}

/// The batches after `seq`, in order; `None` when some were pruned (a gap) or the journal is
/// behind `seq` (another archive.db).
pub fn batches_after(conn: &Connection, seq: i64) -> Result<Option<Vec<Journaled>>> {
    let last = last_seq(conn)?;
    if last < seq {
        return Ok(None);
    }
    if last == seq {
        return Ok(Some(Vec::new()));
    }
    let first: Option<i64> = conn
        .query_row(
            "SELECT MIN(seq) FROM index_journal WHERE seq > ?1",
            [seq],
            |r| r.get(0),
        )
        .ctx("index journal")?;
    if first != Some(seq + 1) {
        return Ok(None);
    }
    let mut st = conn
        .prepare_cached(
            "SELECT seq, files, rows, target_digest, target_digest_after, target_after, rebuild,
                    target_file, COALESCE(token, '')
             FROM index_journal WHERE seq > ?1 ORDER BY seq",
        )
        .ctx("index journal")?;
    let rows = st
        .query_map([seq], |r| {
            let hex = |d: String| u64::from_str_radix(&d, 16).unwrap_or(0);
            let digest: Option<String> = r.get(3)?;
            let digest_after: Option<String> = r.get(4)?;
            let after: Option<String> = r.get(5)?;
            let file: Option<String> = r.get(7)?;
            Ok(Journaled {
                seq: r.get(0)?,
                files: unpack(r.get(1)?),
                rows: unpack(r.get(2)?),
                target: digest.map(|d| TargetSeen {
                    digest: hex(d),
                    digest_after: digest_after.map(hex),
                    after,
                    file,
                }),
                rebuild: r.get(6)?,
                token: r.get(8)?,
            })
        })
        .ctx("index journal")?;
    let batches = rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx("index journal")?;
    // Contiguous: a batch missing in the middle is a gap too.
    let contiguous = batches
        .iter()
        .enumerate()
        .all(|(i, b)| b.seq == seq + 1 + i as i64);
    Ok(contiguous.then_some(batches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Archive;

    #[test]
    fn batches_come_back_in_order_and_a_pruned_one_is_a_gap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Archive::open(&dir.path().join("archive.db")).expect("archive");
        let c = a.conn();
        let id = journal_id(c).expect("id").expect("a journal");
        assert_eq!(id.len(), 32, "a random hex id: {id}");
        assert_eq!(last_seq(c).expect("seq"), 0);
        record(c, &Batch::default()).expect("empty");
        assert_eq!(
            last_seq(c).expect("seq"),
            0,
            "an empty batch is not written"
        );
        record(
            c,
            &Batch {
                files: &[3, 1, 3],
                rows: &[],
                target: None,
                rebuild: false,
            },
        )
        .expect("scan");
        record(
            c,
            &Batch {
                files: &[7],
                rows: &[70, 71],
                target: Some(TargetSeen {
                    digest: 0xfeed,
                    digest_after: Some(0xbeef),
                    after: Some("stamp".into()),
                    file: Some("/t/pokervod.db".into()),
                }),
                rebuild: false,
            },
        )
        .expect("sync");
        let all = batches_after(c, 0).expect("read").expect("no gap");
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].seq, all[0].files.clone()), (1, vec![1, 3]));
        assert_eq!(all[1].rows, vec![70, 71]);
        assert_eq!(
            all[1].target,
            Some(TargetSeen {
                digest: 0xfeed,
                digest_after: Some(0xbeef),
                after: Some("stamp".into()),
                file: Some("/t/pokervod.db".into()),
            })
        );
        assert_eq!(batches_after(c, 2).expect("read"), Some(Vec::new()));
        assert_eq!(all[1].token.len(), 16, "a random token per batch");
        assert_ne!(all[0].token, all[1].token);
        assert_eq!(token_at(c, 2).expect("token"), Some(all[1].token.clone()));
        assert_eq!(token_at(c, 0).expect("token"), Some(String::new()));
        assert_eq!(token_at(c, 9).expect("token"), None);
        assert_eq!(
            batches_after(c, 3).expect("read"),
            None,
            "ahead of the journal"
        );
        c.execute("DELETE FROM index_journal WHERE seq = 1", [])
            .expect("prune");
        assert_eq!(batches_after(c, 0).expect("read"), None, "batch 1 is gone");
        assert!(batches_after(c, 1).expect("read").is_some());

        let many: Vec<i64> = (0..MAX_IDS as i64 + 1).collect();
        record(
            c,
            &Batch {
                files: &many,
                ..Batch::default()
            },
        )
        .expect("too many");
        let last = batches_after(c, 2).expect("read").expect("no gap");
        assert!(last[0].rebuild && last[0].files.is_empty());
    }
}
