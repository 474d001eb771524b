//! Fuzz the bitstream header parsers (H.264 SPS, HEVC SPS, MPEG-1/2 sequence header) and the
//! Annex B start-code splitter: never a panic, and any size returned is within the plausible range.
//!
//! The first byte picks the parser: 0 = H.264 SPS payload (after the 1-byte NAL header),
//! 1 = HEVC SPS payload (after the 2-byte NAL header), 2 = MPEG-2 sequence header (after
//! `00 00 01 B3`); anything else splits the rest into start-code units and tries each parser on
//! each unit, as the MPEG-TS parser does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nas_sync_engine::probe::sps::{
    h264_sps_size, hevc_sps_size, mpeg2_seq_size, rbsp, start_code_units,
};

fn check(r: Result<(u32, u32), String>) {
    if let Ok((w, h)) = r {
        assert!(
            (1..=16384).contains(&w) && (1..=16384).contains(&h),
            "{w}x{h}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel {
        0 => check(h264_sps_size(rest)),
        1 => check(hevc_sps_size(rest)),
        2 => check(mpeg2_seq_size(rest)),
        _ => {
            assert!(rbsp(rest).len() <= rest.len());
            for unit in start_code_units(rest) {
                let Some((&h, payload)) = unit.split_first() else {
                    continue;
                };
                if h & 0x1F == 7 {
                    check(h264_sps_size(payload));
                }
                if (h >> 1) & 0x3F == 33 {
                    check(hevc_sps_size(payload.get(1..).unwrap_or(&[])));
                }
                if h == 0xB3 {
                    check(mpeg2_seq_size(payload));
                }
            }
        }
    }
});
