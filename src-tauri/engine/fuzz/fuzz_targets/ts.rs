//! Fuzz the pure-Rust MPEG-TS parser: it must never panic, hang or allocate without bound, and
//! whatever it returns must be plausible.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nas_sync_engine::probe::probe_bytes;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = probe_bytes("ts", data) {
        assert!(!info.container.is_empty());
        assert_ne!(info.width, Some(0));
        assert_ne!(info.height, Some(0));
        assert_eq!(info.width.is_some(), info.height.is_some());
        if let Some(d) = info.duration_sec {
            assert!(d.is_finite() && d > 0.0, "duration {d}");
        }
    }
});
