//! The probe pass: after a scan, probe video files that are new or modified (or were
//! "unsupported" and ffprobe is available now), with bounded concurrency, storing results in
//! batches so an interrupted pass keeps what it did. A file that failed to parse is recorded with
//! its error and not retried until it changes (the scan clears its probe when size or mtime do).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Probe, ffprobe, probe_file};
use crate::archive::Archive;
use crate::config::Config;
use crate::error::{Result, SqlContext};

#[derive(Debug, Clone, Default, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ProbeStats {
    pub pending: u64,
    pub probed: u64,
    pub ok: u64,
    pub failed: u64,
    pub unsupported: u64,
    /// Left for a later pass (budget spent or cancelled).
    pub remaining: u64,
    /// Bytes read by the built-in parsers.
    pub bytes_read: u64,
    pub ffprobe: bool,
    pub duration_ms: u64,
}

const BATCH: usize = 200;

/// Probe pending video files. `budget`: stop starting new probes after this long.
pub fn probe_pending(
    archive: &mut Archive,
    cfg: &Config,
    cancel: Option<&AtomicBool>,
    budget: Option<Duration>,
) -> Result<ProbeStats> {
    let started = Instant::now();
    let root = cfg.require_root()?.to_path_buf();
    let ffprobe_bin = ffprobe::locate(cfg.ffprobe_path.as_deref());
    let pending: Vec<(i64, String, i64, i64)> = {
        let mut stmt = archive
            .conn()
            .prepare(
                "SELECT id, path, size, mtime FROM files
                 WHERE kind = 'video' AND (probe_status IS NULL OR (probe_status = 'unsupported' AND ?1))
                 ORDER BY id",
            )
            .ctx("pending probes")?;
        let rows = stmt
            .query_map([ffprobe_bin.is_some()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .ctx("pending probes")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("pending probes")?
    };
    let mut stats = ProbeStats {
        pending: pending.len() as u64,
        ffprobe: ffprobe_bin.is_some(),
        ..ProbeStats::default()
    };
    if pending.is_empty() {
        return Ok(stats);
    }
    let never = AtomicBool::new(false);
    let cancel = cancel.unwrap_or(&never);
    let next = AtomicUsize::new(0);
    let deadline = budget.map(|b| started + b);
    let (tx, rx) = mpsc::channel::<(i64, i64, i64, Probe, u64)>();
    let mut result: Result<()> = Ok(());
    std::thread::scope(|s| {
        for _ in 0..cfg.probe_workers.clamp(1, 32).min(pending.len()) {
            let tx = tx.clone();
            let (pending, next, root, ffprobe_bin) = (&pending, &next, &root, &ffprobe_bin);
            s.spawn(move || {
                loop {
                    if cancel.load(Ordering::Relaxed)
                        || deadline.is_some_and(|d| Instant::now() > d)
                    {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((id, path, size, mtime)) = pending.get(i) else {
                        break;
                    };
                    let (probe, bytes) =
                        probe_file(&crate::names::join_rel(root, path), ffprobe_bin.as_deref());
                    if tx.send((*id, *size, *mtime, probe, bytes)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut batch = Vec::with_capacity(BATCH);
        for (id, size, mtime, probe, bytes) in rx {
            stats.probed += 1;
            stats.bytes_read += bytes;
            match &probe {
                Probe::Ok { .. } => stats.ok += 1,
                Probe::Failed { .. } => stats.failed += 1,
                Probe::Unsupported { .. } => stats.unsupported += 1,
            }
            batch.push((id, size, mtime, probe));
            if batch.len() >= BATCH {
                if let Err(e) = archive.store_probes(&batch) {
                    result = Err(e);
                    cancel_workers(&next, pending.len());
                }
                batch.clear();
            }
        }
        if result.is_ok() && !batch.is_empty() {
            result = archive.store_probes(&batch);
        }
    });
    result?;
    stats.remaining = stats.pending - stats.probed;
    stats.duration_ms = started.elapsed().as_millis() as u64;
    if stats.pending == 0 {
        // Nothing new to analyse: not worth a line in the operator's live log after every sync.
        tracing::debug!("probe pass: nothing pending");
        return Ok(stats);
    }
    tracing::info!(
        "미디어 분석: {}개 (성공 {}, 실패 {}, 미지원 {}, 남음 {}) / probe pass",
        stats.probed,
        stats.ok,
        stats.failed,
        stats.unsupported,
        stats.remaining
    );
    Ok(stats)
}

/// Make every worker find the queue empty.
fn cancel_workers(next: &AtomicUsize, len: usize) {
    next.store(len, Ordering::Relaxed);
}
