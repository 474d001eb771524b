//! The probe pass: after a scan, probe video files that are new or modified (or were
//! "unsupported" and ffprobe is available now), with bounded concurrency, storing results in
//! batches so an interrupted pass keeps what it did. A file that failed to parse is recorded with
//! its error and not retried until it changes (the scan clears its probe when size or mtime do).
//!
//! The probes run on worker threads that own their data, so the pass can walk away from one that
//! is stuck in a read on a hung share: it stops with `share_timeout` when no probe has completed
//! for `share_timeout_secs`, and returns within a poll interval when cancelled, storing what was
//! done. An abandoned worker ends on its own once its read returns (its results are dropped).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Probe, ffprobe, probe_file};
use crate::archive::Archive;
use crate::config::Config;
use crate::error::{Error, Result, SqlContext};

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
/// How often the pass looks at the cancel flag and the share timeout while it waits.
pub(crate) const POLL: Duration = Duration::from_millis(100);

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
    let deadline = budget.map(|b| started + b);
    let total = pending.len();
    if cancel.load(Ordering::Relaxed) {
        stats.remaining = stats.pending;
        return Ok(stats);
    }
    // What the workers own: the list, the next index, a stop flag (set on cancel, budget or
    // timeout; a stuck worker may never look at it again, and that is fine).
    let pending = Arc::new(pending);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let root = Arc::new(root);
    let ffprobe_bin: Arc<Option<PathBuf>> = Arc::new(ffprobe_bin);
    let (tx, rx) = mpsc::channel::<(i64, i64, i64, Probe, u64)>();
    for _ in 0..cfg.probe_workers.clamp(1, 32).min(total) {
        let tx = tx.clone();
        let (pending, next, stop, root, ffprobe_bin) = (
            Arc::clone(&pending),
            Arc::clone(&next),
            Arc::clone(&stop),
            Arc::clone(&root),
            Arc::clone(&ffprobe_bin),
        );
        std::thread::spawn(move || {
            loop {
                if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() > d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((id, path, size, mtime)) = pending.get(i) else {
                    break;
                };
                let (probe, bytes) = probe_file(
                    &crate::names::join_rel(&root, path),
                    ffprobe_bin.as_ref().as_deref(),
                );
                if tx.send((*id, *size, *mtime, probe, bytes)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    // A probe that runs ffprobe may take up to ffprobe's own limit on a healthy share (it is
    // killed there): only silence beyond that is the share's.
    let share_timeout = Duration::from_secs(cfg.share_timeout_secs.max(1));
    let timeout = if ffprobe_bin.is_some() {
        share_timeout.max(ffprobe::TIMEOUT + Duration::from_secs(5))
    } else {
        share_timeout
    };
    let mut last_done = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    let mut result: Result<()> = Ok(());
    loop {
        match rx.recv_timeout(POLL) {
            Ok((id, size, mtime, probe, bytes)) => {
                last_done = Instant::now();
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
                        break;
                    }
                    batch.clear();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Every worker is done.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        if last_done.elapsed() >= timeout {
            result = Err(Error::ShareTimeout {
                what: "미디어 분석 / media probe".into(),
                secs: timeout.as_secs(),
            });
            break;
        }
    }
    // Whatever ended the loop, no worker starts another probe.
    stop.store(true, Ordering::Relaxed);
    if !batch.is_empty() {
        let stored = archive.store_probes(&batch);
        if result.is_ok() {
            result = stored;
        }
    }
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
