//! `plan_base`: what the last sync that left the Target exactly as the rules want it saw, so
//! that a watcher's sync can plan only what changed since (`crate::sync::scoped`).
//!
//! Invariant: the row describes a Target that the rules had fully converged, at the moment of
//! that sync's commit: every active row claimed by the primary at its path and linked to it,
//! every link in `links` a claim. It stays true for as long as the Target keeps that stamp (no
//! other commit) and archive.db changes only through journalled batches after `journal_seq`.
//! A sync that cannot vouch for that (a row error, a WAL-mode Target, a commit by another
//! program in between) clears the row in the transaction that records it.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Result, SqlContext};

/// The converged state a scoped plan starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanBase {
    /// Journal batches up to this one were seen by the plan (archive.db as it was planned on).
    pub journal_seq: i64,
    /// The sync's own batch (its writes, already part of the converged state): skipped.
    pub own_seq: i64,
    /// Every file id up to this one was seen by the plan; larger ones are new since.
    pub max_file_id: i64,
    /// [`crate::store::sqlite::file_identity`] of the Target the sync wrote.
    pub target_file: String,
    /// The Target's stamp right after the commit ([`crate::store::sqlite::file_stamp`]).
    pub target_stamp: String,
    /// [`crate::target::rows_digest`] of the Target right after the commit.
    pub target_digest: u64,
    /// Active Target rows right after the commit.
    pub target_active: u64,
    /// Records the sync held back as still being copied: the next scoped plan looks at them
    /// again (a full plan would publish them once they are stable).
    pub held: Vec<i64>,
    /// The Target rows those held records keep (one may be an old row of their name at another
    /// path, which no later scanned folder or link would lead to).
    pub held_rows: Vec<i64>,
    /// The rules the sync planned with ([`crate::rules::Rules::key`]): under other rules the
    /// Target is not converged (a format turned eligible, a filter turned off).
    pub rules: String,
}

/// The base as stored (`None`: no sync has left one, or the last one could not vouch for it).
pub fn read(conn: &Connection) -> Result<Option<PlanBase>> {
    conn.prepare_cached(
        "SELECT journal_seq, own_seq, max_file_id, target_file, target_stamp, target_digest,
                target_active, held, held_rows, rules FROM plan_base WHERE id = 1",
    )
    .and_then(|mut st| {
        st.query_row([], |r| {
            let digest: String = r.get(5)?;
            Ok(PlanBase {
                journal_seq: r.get(0)?,
                own_seq: r.get(1)?,
                max_file_id: r.get(2)?,
                target_file: r.get(3)?,
                target_stamp: r.get(4)?,
                target_digest: u64::from_str_radix(&digest, 16).unwrap_or(0),
                target_active: r.get::<_, i64>(6)?.max(0) as u64,
                held: super::journal::unpack(r.get(7)?),
                held_rows: super::journal::unpack(r.get(8)?),
                rules: r.get(9)?,
            })
        })
        .optional()
    })
    .ctx("plan base")
}

/// Replace the base (inside the caller's transaction); `None` clears it.
pub(crate) fn write(conn: &Connection, base: Option<&PlanBase>) -> Result<()> {
    conn.prepare_cached("DELETE FROM plan_base")
        .and_then(|mut st| st.execute([]))
        .ctx("plan base")?;
    if let Some(b) = base {
        conn.prepare_cached(
            "INSERT INTO plan_base (id, journal_seq, own_seq, max_file_id, target_file,
                                    target_stamp, target_digest, target_active, held,
                                    held_rows, rules)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .and_then(|mut st| {
            st.execute(params![
                b.journal_seq,
                b.own_seq,
                b.max_file_id,
                b.target_file,
                b.target_stamp,
                format!("{:016x}", b.target_digest),
                b.target_active as i64,
                super::journal::pack(&b.held),
                super::journal::pack(&b.held_rows),
                b.rules,
            ])
        })
        .ctx("plan base")?;
    }
    Ok(())
}
