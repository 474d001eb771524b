//! The admin PIN that unlocks 스캔 실행 (the full rescan) in the UI: validated, stored only as a
//! salted Argon2id hash (a PHC string in the settings file), verified in constant time by the KDF
//! crate, and throttled after repeated wrong guesses (a 4-digit PIN is otherwise a short search).
//!
//! The PIN itself is never stored, logged or returned; APIs answer `admin_pin_set: bool`.

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

/// Wrong guesses in a row allowed before verification pauses.
pub const MAX_FAILURES: u32 = 5;
/// How long verification pauses after [`MAX_FAILURES`] wrong guesses.
pub const LOCKOUT: Duration = Duration::from_secs(30);

/// Counts wrong guesses; after [`MAX_FAILURES`] in a row every attempt is refused for
/// [`LOCKOUT`] (without even hashing), then the count starts again. A right PIN resets it.
#[derive(Debug, Default)]
pub struct Throttle {
    state: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    failures: u32,
    locked_until: Option<Instant>,
}

/// The answer to a PIN check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Wrong,
    /// Too many wrong guesses: try again after this long.
    Locked(Duration),
}

impl Throttle {
    pub const fn new() -> Throttle {
        Throttle {
            state: Mutex::new(ThrottleState {
                failures: 0,
                locked_until: None,
            }),
        }
    }

    /// Check `pin` against `hash` at `now`.
    pub fn check(&self, hash: &str, pin: &str, now: Instant) -> Verdict {
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(until) = st.locked_until {
                if now < until {
                    return Verdict::Locked(until - now);
                }
                st.locked_until = None;
                st.failures = 0;
            }
        }
        // Hash outside the lock: verification takes tens of milliseconds by design.
        let right = verify_pin(hash, pin);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if right {
            st.failures = 0;
            return Verdict::Ok;
        }
        st.failures += 1;
        if st.failures >= MAX_FAILURES {
            st.locked_until = Some(now + LOCKOUT);
            return Verdict::Locked(LOCKOUT);
        }
        Verdict::Wrong
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
    fn five_wrong_guesses_lock_even_the_right_pin_for_a_while() {
        let h = hash_pin("9876").expect("hash");
        let t = Throttle::new();
        let t0 = Instant::now();
        for _ in 1..MAX_FAILURES {
            assert_eq!(t.check(&h, "0000", t0), Verdict::Wrong);
        }
        assert_eq!(t.check(&h, "0000", t0), Verdict::Locked(LOCKOUT));
        assert!(matches!(
            t.check(&h, "9876", t0 + Duration::from_secs(1)),
            Verdict::Locked(_)
        ));
        assert_eq!(t.check(&h, "9876", t0 + LOCKOUT), Verdict::Ok);
        assert_eq!(
            t.check(&h, "0000", t0 + LOCKOUT),
            Verdict::Wrong,
            "count restarted"
        );
    }
}
