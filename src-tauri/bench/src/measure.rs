//! Timing, latency percentiles and the process's peak memory.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Result;

/// Run `f` and return how long it took with its result.
pub fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let start = Instant::now();
    let value = f()?;
    Ok((start.elapsed(), value))
}

/// Milliseconds of one call of `f`.
pub fn sample_ms(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let (d, ()) = timed(f)?;
    Ok(d.as_secs_f64() * 1000.0)
}

/// Latency over repeated calls (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub n: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn from_samples(mut ms: Vec<f64>) -> Latency {
        ms.sort_by(f64::total_cmp);
        Latency {
            n: ms.len(),
            p50_ms: nearest_rank(&ms, 50.0),
            p95_ms: nearest_rank(&ms, 95.0),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }

    pub fn display(&self) -> String {
        format!(
            "p50 {} · p95 {} · max {}",
            fmt_ms(self.p50_ms),
            fmt_ms(self.p95_ms),
            fmt_ms(self.max_ms)
        )
    }
}

/// The smallest sample with at least `pct` % of the samples at or below it.
fn nearest_rank(sorted: &[f64], pct: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

pub fn fmt_secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `1234567` → `1,234,567`.
pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Reset the kernel's peak-RSS mark (VmHWM) to the current RSS. Linux only; a failure leaves
/// the mark as it was (the reading is then the peak since the process started).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A `kB` field of /proc/self/status (`VmHWM`, `VmRSS`), in bytes.
pub fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::from_samples((1..=200).map(f64::from).rev().collect());
        assert_eq!(l.n, 200);
        assert_eq!(l.p50_ms, 100.0);
        assert_eq!(l.p95_ms, 190.0);
        assert_eq!(l.max_ms, 200.0);
        let one = Latency::from_samples(vec![7.0]);
        assert_eq!((one.p50_ms, one.p95_ms, one.max_ms), (7.0, 7.0, 7.0));
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1_000), "1,000");
        assert_eq!(fmt_count(1_000_000), "1,000,000");
    }

    #[test]
    fn peak_rss_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(proc_status_bytes("VmHWM").is_some_and(|b| b > 0));
            assert!(proc_status_bytes("VmRSS").is_some_and(|b| b > 0));
        }
    }
}
