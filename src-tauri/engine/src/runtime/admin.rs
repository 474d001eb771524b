//! The admin boundary (PRD 4.1.3), enforced here for every host (the HTTP server, the desktop
//! window, the command line), never only in a UI: 스캔 실행 (a full rescan), a forced apply past
//! the safety guards, and the settings that touch paths, guards, what is synced or the PIN
//! itself are an administrator's. Who counts as one:
//!
//! - the command line and a holder of the admin token ([`CallerKind::Admin`]);
//! - a caller with a live admin grant, obtained with the PIN ([`AdminGate::unlock`]) and valid
//!   for [`GRANT_TTL`];
//! - anyone who can reach the monitor, when the operator explicitly chose to run without a PIN
//!   (`no_admin_pin`), which was the behaviour before the PIN existed.
//!
//! While no PIN is set and nobody chose, admin actions are refused with `admin_pin_not_set`;
//! only the local user (loopback browser with the launch token, or the desktop window) may then
//! set the first PIN or make that choice. PIN guesses are throttled per client
//! ([`crate::admin_pin::Throttle`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use serde::Serialize;

use crate::admin_pin::{Throttle, Verdict};
use crate::config::Config;
use crate::error::{Error, Result};

/// How long an admin grant lasts after the PIN unlocked it.
pub const GRANT_TTL: Duration = Duration::from_secs(15 * 60);

/// Who is asking, as the host established it (the engine decides what that allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    /// The command line on this machine (it can edit the settings file anyway) or a holder of
    /// the admin token.
    Admin,
    /// The local user: the desktop window, or a loopback browser/script with the launch token.
    Local,
    /// A holder of the operator token over the network.
    Operator,
}

/// A request's identity for the admin checks.
#[derive(Debug, Clone)]
pub struct Caller {
    pub kind: CallerKind,
    /// The admin grant presented (from [`AdminGate::unlock`]), if any.
    pub grant: Option<String>,
    /// Who to throttle PIN guesses for: a browser session, the window, a token holder.
    pub client: String,
}

impl Caller {
    /// The command line: an administrator.
    pub fn cli() -> Caller {
        Caller {
            kind: CallerKind::Admin,
            grant: None,
            client: "cli".into(),
        }
    }

    pub fn new(kind: CallerKind, grant: Option<String>, client: impl Into<String>) -> Caller {
        Caller {
            kind,
            grant,
            client: client.into(),
        }
    }
}

/// The answer of "unlock admin mode".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct PinCheck {
    /// The PIN is right (admin mode is unlocked for [`GRANT_TTL`]).
    pub ok: bool,
    /// Whether a PIN is set at all (when not, nothing unlocks: set one in 설정 first).
    pub admin_pin_set: bool,
    /// Korean first, for the form.
    pub message: String,
    /// Set after too many wrong PINs: seconds until the next try is checked.
    pub retry_after_secs: Option<u64>,
    /// How long the unlock lasts, when it succeeded.
    pub admin_for_secs: Option<u64>,
}

/// A live admin grant: its secret id and how long it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub expires_in: Duration,
}

/// Admin grants and the PIN throttle of one monitor.
#[derive(Debug, Default)]
pub struct AdminGate {
    grants: Mutex<HashMap<String, Instant>>,
    throttle: Throttle,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn locked_message(d: Duration) -> String {
    let secs = d.as_secs().max(1);
    format!(
        "PIN이 여러 번 틀렸습니다. {secs}초 후에 다시 시도하세요. / Too many wrong PINs; try again in {secs} s."
    )
}

/// 32 random bytes, hex: an unguessable id.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl AdminGate {
    pub fn new() -> AdminGate {
        AdminGate::default()
    }

    /// Check `pin` for `client` against the PIN in `cfg` (throttled per client).
    pub fn check_pin(&self, cfg: &Config, client: &str, pin: &str, now: Instant) -> Verdict {
        match cfg.admin_pin_hash.as_deref() {
            Some(hash) => self.throttle.check(client, hash, pin, now),
            None => Verdict::Wrong,
        }
    }

    /// Unlock admin mode with the PIN: a grant valid for [`GRANT_TTL`] when it is right.
    pub fn unlock(
        &self,
        cfg: &Config,
        client: &str,
        pin: &str,
        now: Instant,
    ) -> (PinCheck, Option<Grant>) {
        if cfg.admin_pin_hash.is_none() {
            return (
                PinCheck {
                    ok: false,
                    admin_pin_set: false,
                    message: "관리자 PIN이 설정되지 않았습니다. 설정 화면에서 먼저 지정하세요. / No admin PIN is set; set one in Settings.".into(),
                    retry_after_secs: None,
                    admin_for_secs: None,
                },
                None,
            );
        }
        let (ok, message, retry) = match self.check_pin(cfg, client, pin, now) {
            Verdict::Ok => (true, "관리자 모드 / admin mode unlocked".to_string(), None),
            Verdict::Wrong => (false, "PIN이 맞지 않습니다. / Wrong PIN.".to_string(), None),
            Verdict::Locked(d) => (false, locked_message(d), Some(d.as_secs().max(1))),
        };
        let grant = ok.then(|| {
            let id = random_secret();
            let mut grants = lock(&self.grants);
            grants.retain(|_, until| *until > now);
            grants.insert(id.clone(), now + GRANT_TTL);
            Grant {
                id,
                expires_in: GRANT_TTL,
            }
        });
        (
            PinCheck {
                ok,
                admin_pin_set: true,
                message,
                retry_after_secs: retry,
                admin_for_secs: grant.as_ref().map(|g| g.expires_in.as_secs()),
            },
            grant,
        )
    }

    /// Whether `grant` is a live grant of this gate.
    pub fn grant_valid(&self, grant: Option<&str>, now: Instant) -> bool {
        let Some(id) = grant else { return false };
        lock(&self.grants).get(id).is_some_and(|until| *until > now)
    }

    /// End every grant (the PIN changed or was cleared).
    pub fn revoke_all(&self) {
        lock(&self.grants).clear();
    }

    /// Is `caller` an administrator under `cfg` right now?
    pub fn is_admin(&self, cfg: &Config, caller: &Caller, now: Instant) -> bool {
        caller.kind == CallerKind::Admin
            || self.grant_valid(caller.grant.as_deref(), now)
            || (cfg.admin_pin_hash.is_none() && cfg.no_admin_pin)
    }

    /// Refuse `action` unless `caller` is an administrator: `admin_pin_not_set` while no PIN is
    /// set and nobody chose to run without one, `admin_required` otherwise.
    pub fn require(&self, cfg: &Config, caller: &Caller, action: &str, now: Instant) -> Result<()> {
        if self.is_admin(cfg, caller, now) {
            return Ok(());
        }
        if cfg.admin_pin_hash.is_none() {
            Err(Error::AdminPinNotSet {
                action: action.to_string(),
            })
        } else {
            Err(Error::AdminRequired {
                action: action.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_pin(pin: &str) -> Config {
        let mut c = Config::default();
        c.set_admin_pin(Some(pin)).expect("pin");
        c
    }

    #[test]
    fn a_grant_comes_only_from_the_right_pin_and_expires() {
        let gate = AdminGate::new();
        let cfg = with_pin("2580");
        let t0 = Instant::now();
        let (wrong, none) = gate.unlock(&cfg, "w", "0000", t0);
        assert!(!wrong.ok && none.is_none());
        let (right, grant) = gate.unlock(&cfg, "w", "2580", t0);
        let grant = grant.expect("a grant");
        assert!(right.ok && right.admin_for_secs == Some(GRANT_TTL.as_secs()));
        let caller = Caller::new(CallerKind::Local, Some(grant.id.clone()), "w");
        assert!(gate.is_admin(&cfg, &caller, t0 + GRANT_TTL / 2));
        assert!(!gate.is_admin(&cfg, &caller, t0 + GRANT_TTL));
        let forged = Caller::new(CallerKind::Local, Some("00".repeat(32)), "w");
        assert!(!gate.is_admin(&cfg, &forged, t0));
        gate.revoke_all();
        assert!(!gate.is_admin(&cfg, &caller, t0));
    }

    #[test]
    fn without_a_pin_admin_actions_wait_for_a_pin_or_the_choice_of_none() {
        let gate = AdminGate::new();
        let now = Instant::now();
        let local = Caller::new(CallerKind::Local, None, "w");
        let mut cfg = Config::default();
        let e = gate
            .require(&cfg, &local, "스캔", now)
            .expect_err("no PIN yet");
        assert_eq!(e.code(), "admin_pin_not_set");
        cfg.no_admin_pin = true;
        gate.require(&cfg, &local, "스캔", now)
            .expect("no PIN, by choice");
        let cfg = with_pin("2580");
        let e = gate
            .require(&cfg, &local, "스캔", now)
            .expect_err("PIN set");
        assert_eq!(e.code(), "admin_required");
        gate.require(&cfg, &Caller::cli(), "스캔", now)
            .expect("the command line is an administrator");
    }
}
