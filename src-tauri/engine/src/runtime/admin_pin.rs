//! The admin PIN that unlocks 스캔 실행 (the full rescan) in the UI: validated, stored only as a
//! salted Argon2id hash (a PHC string in the settings file), verified in constant time by the KDF
//! crate, and throttled after repeated wrong guesses (a 4-digit PIN is otherwise a short search).
//!
//! The PIN itself is never stored, logged or returned; APIs answer `admin_pin_set: bool`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::{Error, Result};

/// Shortest and longest PIN, in digits.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=12;

/// Why `pin` is not an acceptable PIN (Korean first), if it is not.
pub fn pin_problem(pin: &str) -> Option<String> {
    let n = pin.chars().count();
    if !pin.chars().all(|c| c.is_ascii_digit()) || !PIN_DIGITS.contains(&n) {
        return Some(format!(
            "관리자 PIN은 숫자 {}~{}자리여야 합니다 (입력: {n}자). / The admin PIN must be {}-{} digits.",
            PIN_DIGITS.start(),
            PIN_DIGITS.end(),
            PIN_DIGITS.start(),
            PIN_DIGITS.end(),
        ));
    }
    None
}

/// The salted Argon2id hash of `pin` (PHC string: algorithm, parameters, salt and hash), or a
/// config error on `admin_pin` when the PIN is not 4–12 digits.
pub fn hash_pin(pin: &str) -> Result<String> {
    if let Some(message) = pin_problem(pin) {
        return Err(Error::config("admin_pin", message));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            Error::config(
                "admin_pin",
                format!("PIN 해시 실패 / cannot hash the PIN: {e}"),
            )
        })
}

/// Whether `pin` matches `hash` (a PHC string from [`hash_pin`]). A malformed hash never matches.
pub fn verify_pin(hash: &str, pin: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(pin.as_bytes(), &parsed)
        .is_ok()
}

/// Wrong guesses in a row a client is allowed before its checks pause.
pub const MAX_FAILURES: u32 = 5;
/// How long a client's checks pause after [`MAX_FAILURES`] wrong guesses; each further lockout
/// of the same client doubles it, up to [`MAX_LOCKOUT`].
pub const LOCKOUT: Duration = Duration::from_secs(30);
pub const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Clients remembered at most (the oldest idle ones are forgotten first).
const MAX_CLIENTS: usize = 4096;

/// Throttles PIN guesses per client (a browser session, the desktop window, a token holder).
///
/// Invariants: an attempt is counted as a failure *before* its hash is computed, so parallel
/// guesses cannot all slip in while the first ones are being hashed (the sixth concurrent
/// guess of a client is refused without hashing); hashes are verified one at a time, process
/// wide; a client's lockout never affects another client, so nobody can lock the admin out of
/// their own window by guessing from elsewhere.
#[derive(Debug, Default)]
pub struct Throttle {
    clients: Mutex<HashMap<String, ClientState>>,
    /// Held while a hash is verified: one verification at a time.
    verifying: Mutex<()>,
}

#[derive(Debug, Default, Clone)]
struct ClientState {
    /// Attempts since the last success or lockout, the one being checked included.
    failures: u32,
    locked_until: Option<Instant>,
    /// Lockouts in a row (each doubles the next one).
    lockouts: u32,
    last_seen: Option<Instant>,
}

/// The answer to a PIN check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Wrong,
    /// Too many wrong guesses from this client: try again after this long.
    Locked(Duration),
}

fn lockout_after(lockouts: u32) -> Duration {
    LOCKOUT
        .saturating_mul(1u32 << lockouts.min(10))
        .min(MAX_LOCKOUT)
}

impl Throttle {
    pub fn new() -> Throttle {
        Throttle::default()
    }

    /// Check `pin` against `hash` for `client` at `now`.
    pub fn check(&self, client: &str, hash: &str, pin: &str, now: Instant) -> Verdict {
        {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            if clients.len() >= MAX_CLIENTS && !clients.contains_key(client) {
                forget_idle(&mut clients, now);
            }
            let st = clients.entry(client.to_string()).or_default();
            st.last_seen = Some(now);
            if let Some(until) = st.locked_until {
                if now < until {
                    return Verdict::Locked(until - now);
                }
                st.locked_until = None;
                st.failures = 0;
            }
            if st.failures >= MAX_FAILURES {
                // Guesses still being hashed already used up this client's allowance.
                return Verdict::Locked(lockout_after(st.lockouts));
            }
            // Counted before hashing; a right PIN takes it back below.
            st.failures += 1;
        }
        let right = {
            let _one_at_a_time = self.verifying.lock().unwrap_or_else(|p| p.into_inner());
            verify_pin(hash, pin)
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let st = clients.entry(client.to_string()).or_default();
        if right {
            *st = ClientState {
                last_seen: Some(now),
                ..ClientState::default()
            };
            return Verdict::Ok;
        }
        if st.failures >= MAX_FAILURES && st.locked_until.is_none() {
            let d = lockout_after(st.lockouts);
            st.locked_until = Some(now + d);
            st.lockouts = st.lockouts.saturating_add(1);
            return Verdict::Locked(d);
        }
        Verdict::Wrong
    }
}

/// Make room: forget clients that are neither locked nor counting failures, then the ones seen
/// least recently.
fn forget_idle(clients: &mut HashMap<String, ClientState>, now: Instant) {
    clients.retain(|_, c| c.failures > 0 || c.locked_until.is_some_and(|u| u > now));
    while clients.len() >= MAX_CLIENTS {
        let Some(oldest) = clients
            .iter()
            .min_by_key(|(_, c)| c.last_seen)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        clients.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_salted_and_is_not_the_pin() {
        let a = hash_pin("1234").expect("hash");
        let b = hash_pin("1234").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert!(!a.contains("1234"), "the PIN appears in its hash: {a}");
        assert_ne!(a, b, "two hashes of one PIN share a salt");
    }

    #[test]
    fn verify_accepts_the_right_pin_only() {
        let h = hash_pin("246810").expect("hash");
        assert!(verify_pin(&h, "246810"));
        assert!(!verify_pin(&h, "246811"));
        assert!(!verify_pin(&h, ""));
        assert!(!verify_pin("not a phc string", "246810"));
    }

    #[test]
    fn bad_pins_are_rejected_in_korean_first() {
        for bad in ["123", "1234567890123", "12a4", "12 34", "", "١٢٣٤"] {
            let err = hash_pin(bad).expect_err(bad);
            match err {
                Error::Config { field, message } => {
                    assert_eq!(field, "admin_pin");
                    assert!(
                        message.starts_with("관리자 PIN은 숫자 4~12자리"),
                        "{message}"
                    );
                }
                other => panic!("{bad}: expected a config error, got {other:?}"),
            }
        }
        assert!(pin_problem("0000").is_none());
        assert!(pin_problem("123456789012").is_none());
    }

    #[test]
    fn five_wrong_guesses_lock_that_client_even_for_the_right_pin_and_not_another_client() {
        let h = hash_pin("9876").expect("hash");
        let t = Throttle::new();
        let t0 = Instant::now();
        for _ in 1..MAX_FAILURES {
            assert_eq!(t.check("a", &h, "0000", t0), Verdict::Wrong);
        }
        assert_eq!(t.check("a", &h, "0000", t0), Verdict::Locked(LOCKOUT));
        assert!(matches!(
            t.check("a", &h, "9876", t0 + Duration::from_secs(1)),
            Verdict::Locked(_)
        ));
        // Another client (the admin's own window) is not locked out by a's guesses.
        assert_eq!(
            t.check("b", &h, "9876", t0 + Duration::from_secs(1)),
            Verdict::Ok
        );
        assert_eq!(t.check("a", &h, "9876", t0 + LOCKOUT), Verdict::Ok);
        assert_eq!(
            t.check("a", &h, "0000", t0 + LOCKOUT),
            Verdict::Wrong,
            "count restarted"
        );
    }

    #[test]
    fn each_lockout_of_a_client_is_longer_than_the_last() {
        let h = hash_pin("9876").expect("hash");
        let t = Throttle::new();
        let mut now = Instant::now();
        let mut lockouts = Vec::new();
        for _ in 0..3 {
            let mut last = Verdict::Wrong;
            for _ in 0..MAX_FAILURES {
                last = t.check("a", &h, "0000", now);
            }
            let Verdict::Locked(d) = last else {
                panic!("expected a lockout, got {last:?}")
            };
            lockouts.push(d);
            now += d;
        }
        assert_eq!(lockouts, vec![LOCKOUT, LOCKOUT * 2, LOCKOUT * 4]);
    }

    #[test]
    fn parallel_guesses_are_counted_before_hashing_so_at_most_five_are_evaluated() {
        let h = hash_pin("4321").expect("hash");
        let t = std::sync::Arc::new(Throttle::new());
        let now = Instant::now();
        // 40 guesses at once from one client, the right PIN among the last ones.
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let (t, h) = (t.clone(), h.clone());
                std::thread::spawn(move || {
                    let pin = if i >= 30 {
                        "4321".to_string()
                    } else {
                        format!("{i:04}")
                    };
                    // The first 30 start first.
                    if i >= 30 {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    t.check("attacker", &h, &pin, now)
                })
            })
            .collect();
        let verdicts: Vec<Verdict> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        let evaluated = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Ok | Verdict::Wrong))
            .count();
        assert!(
            evaluated <= MAX_FAILURES as usize,
            "{evaluated} guesses were evaluated: {verdicts:?}"
        );
        assert!(
            !verdicts.contains(&Verdict::Ok),
            "the right PIN got through behind 30 wrong ones: {verdicts:?}"
        );
    }
}
