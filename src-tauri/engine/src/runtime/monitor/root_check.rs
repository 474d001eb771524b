//! Checking that the share is there without ever blocking a caller for long.
//!
//! On SMB a listing of the root can hang for as long as the client's timeout (80 s and more
//! with smbnetfs) or forever when the server is stopped. So the check runs on its own thread,
//! at most one at a time: callers that want an answer wait for it up to a bound, and a check
//! that has not answered after `share_timeout_secs` turns the status to error with
//! `share_timeout` ("NAS 응답 없음"). When the stuck call finally returns, its result is applied
//! like any other (the share back clears the error). `/health` and the screens never list the
//! root on the request path: they start a check and answer from the status.

use std::time::{Duration, Instant};

use super::{Monitor, ROOT_UNREACHABLE, lock};
use crate::error::Error;

/// `last_error.code` of a share that did not answer in time.
pub const SHARE_TIMEOUT: &str = "share_timeout";

/// The one root check in flight, and the outcome of the last one.
#[derive(Default)]
pub(super) struct RootProbe {
    /// When the check now running started.
    in_flight_since: Option<Instant>,
    /// Checks finished so far (a waiter knows its check ended when this moves).
    done: u64,
    last_ok: bool,
}

impl Monitor {
    /// Is the configured root reachable (and its marker file present)? Waits for a check for
    /// at most `share_timeout_secs`; a check that takes longer counts as `share_timeout`. Updates
    /// the status either way: an unreachable or hung share is an error until a check succeeds.
    pub fn check_root(&self) -> bool {
        let timeout = self.share_timeout();
        self.check_root_within(timeout).unwrap_or(false)
    }

    /// Start a check (unless one runs) and wait up to `wait` for its outcome: `None` when it has
    /// not answered yet. A check running for longer than `share_timeout_secs` is reported as
    /// `share_timeout` whoever asks.
    pub fn check_root_within(&self, wait: Duration) -> Option<bool> {
        let before = self.start_root_check();
        let deadline = Instant::now() + wait;
        let mut probe = lock(&self.shared.root_probe);
        loop {
            if probe.done > before {
                return Some(probe.last_ok);
            }
            let now = Instant::now();
            let overdue = probe
                .in_flight_since
                .is_some_and(|since| now.duration_since(since) >= self.share_timeout());
            if overdue {
                drop(probe);
                self.report_share_timeout();
                return Some(false);
            }
            if now >= deadline {
                return None;
            }
            probe = self
                .shared
                .root_checked
                .wait_timeout(probe, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn share_timeout(&self) -> Duration {
        Duration::from_secs(self.config().share_timeout_secs.max(1))
    }

    fn report_share_timeout(&self) {
        self.report_error_once(&Error::ShareTimeout {
            what: "NAS 루트 확인 / root check".into(),
            secs: self.config().share_timeout_secs,
        });
    }

    /// Set the status's error, logging it only when the status did not already hold this code
    /// (a lasting condition is one log line, not one per check).
    fn report_error_once(&self, e: &Error) {
        let already = lock(&self.shared.state)
            .last_error
            .as_ref()
            .is_some_and(|l| l.code == e.code());
        if !already {
            tracing::error!("{e}");
        }
        self.report_error(e);
    }

    /// Start a check on its own thread unless one is running; returns the number of checks
    /// finished before it (the caller's check has ended when `done` exceeds it).
    fn start_root_check(&self) -> u64 {
        let mut probe = lock(&self.shared.root_probe);
        let before = probe.done;
        if probe.in_flight_since.is_some() {
            return before;
        }
        probe.in_flight_since = Some(Instant::now());
        drop(probe);
        // A weak handle: a check stuck forever on a hung share must not keep the monitor alive.
        let weak = self.downgrade();
        let cfg = self.config();
        let spawned = std::thread::Builder::new()
            .name("nas-sync-root-check".into())
            .spawn(move || {
                let result = super::check_root(&cfg);
                if let Some(m) = weak.upgrade() {
                    m.root_checked(result);
                }
            });
        if spawned.is_err() {
            // No thread: check here rather than never.
            self.root_checked(super::check_root(&self.config()));
        }
        before
    }

    /// Apply a finished check to the status, then wake its waiters (in that order: a waiter
    /// that sees the outcome also sees the status it caused).
    fn root_checked(&self, result: crate::Result<()>) {
        let ok = result.is_ok();
        match result {
            Ok(()) => {
                self.clear_error(ROOT_UNREACHABLE);
                self.clear_error(SHARE_TIMEOUT);
            }
            Err(e) => self.report_error_once(&e),
        }
        {
            let mut probe = lock(&self.shared.root_probe);
            probe.in_flight_since = None;
            probe.done += 1;
            probe.last_ok = ok;
        }
        self.shared.root_checked.notify_all();
    }
}
