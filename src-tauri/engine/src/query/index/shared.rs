//! The process's one long-lived index, shared by the screens' queries.

use std::time::Instant;

use super::Index;
use crate::config::Config;
use crate::error::{Error, Result};

/// The one long-lived [`Index`] of a process that answers screens (the server's handlers, the
/// desktop app's commands): opened on first use, refreshed before each use, dropped when the
/// settings change. Cloning shares it.
#[derive(Clone, Default)]
pub struct SharedIndex(std::sync::Arc<std::sync::Mutex<Option<Index>>>);

impl SharedIndex {
    /// Run `f` on the index, opening it or making it current first. Blocks (run it off an async
    /// executor); a second caller waits for a rebuild in progress instead of starting another.
    pub fn with<T>(&self, cfg: &Config, f: impl FnOnce(&Index) -> Result<T>) -> Result<T> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(index) => index.refresh_if_stale(cfg)?,
            None => *guard = Some(Index::open(cfg)?),
        }
        match guard.as_ref() {
            Some(index) => f(index),
            None => Err(Error::Cancelled),
        }
    }

    /// Forget the index (the settings changed); the next use opens it again.
    pub fn reset(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Open the index now on a background thread, so the first screen after a start does not
    /// wait for a rebuild (about 10 s at a million files). Does nothing until a Target is set;
    /// a failure is logged and left to the first query, which reports it.
    pub fn warm_in_background(&self, cfg: Config) -> Option<std::thread::JoinHandle<()>> {
        if cfg.root.is_none() || cfg.target_db.is_none() {
            return None;
        }
        let shared = self.clone();
        std::thread::Builder::new()
            .name("index-warm".into())
            .spawn(move || {
                let started = Instant::now();
                match shared.with(&cfg, |index| Ok(index.rebuilt)) {
                    Ok(rebuilt) => tracing::debug!(
                        "매치 인덱스 준비 {:.1}초 (재구성: {rebuilt}) / match index ready",
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => tracing::warn!("매치 인덱스 준비 실패 / match index warm-up: {e}"),
                }
            })
            .ok()
    }
}
