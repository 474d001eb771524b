//! Picture size from video bitstream headers: H.264 and HEVC sequence parameter sets, MPEG-2
//! sequence headers. Used where the container does not carry the size (MPEG-TS).

use super::ParseResult;

/// Big-endian bit reader over an RBSP (emulation-prevention bytes already removed).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }

    fn bit(&mut self) -> ParseResult<u32> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| "SPS truncated".to_string())?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(b as u32)
    }

    fn bits(&mut self, n: u32) -> ParseResult<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }

    fn skip(&mut self, n: usize) -> ParseResult<()> {
        if (self.pos + n).div_ceil(8) > self.data.len() {
            return Err("SPS truncated".into());
        }
        self.pos += n;
        Ok(())
    }

    /// Unsigned Exp-Golomb.
    fn ue(&mut self) -> ParseResult<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err("SPS: bad Exp-Golomb code".into());
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + rest as u64).min(u32::MAX as u64) as u32)
    }

    fn se(&mut self) -> ParseResult<i32> {
        let k = self.ue()? as i64;
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) } as i32)
    }
}

/// Remove emulation-prevention bytes (00 00 03 → 00 00).
pub fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Width and height from an H.264 SPS NAL unit payload (after the one-byte NAL header).
pub fn h264_sps_size(payload: &[u8]) -> ParseResult<(u32, u32)> {
    let data = rbsp(payload);
    let mut r = Bits::new(&data);
    let profile_idc = r.bits(8)?;
    r.skip(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.skip(1)?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format_idc != 3 { 8 } else { 12 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            // In i64: a corrupt delta_scale near i32::MAX must not overflow.
                            next = ((last as i64 + r.se()? as i64 + 256) % 256) as i32;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.skip(1)?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err("SPS: too many ref frames in POC cycle".into());
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    let w_mbs = r.ue()? as u64 + 1;
    let h_units = r.ue()? as u64 + 1;
    let frame_mbs_only = r.bit()? as u64;
    if frame_mbs_only == 0 {
        r.skip(1)?;
    }
    r.skip(1)?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        cl = r.ue()? as u64;
        cr = r.ue()? as u64;
        ct = r.ue()? as u64;
        cb = r.ue()? as u64;
    }
    let (sub_w, sub_h) = match chroma_format_idc {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = if chroma_format_idc == 0 { 1 } else { sub_w };
    let crop_y = (if chroma_format_idc == 0 { 1 } else { sub_h }) * (2 - frame_mbs_only);
    let width = (w_mbs * 16).saturating_sub(crop_x * (cl + cr));
    let height = ((2 - frame_mbs_only) * h_units * 16).saturating_sub(crop_y * (ct + cb));
    size_ok(width, height)
}

/// Width and height from an HEVC SPS NAL unit payload (after the two-byte NAL header).
pub fn hevc_sps_size(payload: &[u8]) -> ParseResult<(u32, u32)> {
    let data = rbsp(payload);
    let mut r = Bits::new(&data);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    r.skip(1)?; // temporal_id_nesting
    // profile_tier_level(1, max_sub_layers_minus1)
    r.skip(96)?; // general profile (88 bits) + general_level_idc (8)
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..max_sub_layers_minus1 as usize {
        profile_present[i] = r.bit()? == 1;
        level_present[i] = r.bit()? == 1;
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.skip(2)?;
        }
    }
    for i in 0..max_sub_layers_minus1 as usize {
        if profile_present[i] {
            r.skip(88)?;
        }
        if level_present[i] {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc == 3 {
        r.skip(1)?;
    }
    let mut width = r.ue()? as u64;
    let mut height = r.ue()? as u64;
    if r.bit()? == 1 {
        let (sub_w, sub_h) = match chroma_format_idc {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let (l, rr, t, b) = (
            r.ue()? as u64,
            r.ue()? as u64,
            r.ue()? as u64,
            r.ue()? as u64,
        );
        width = width.saturating_sub(sub_w * (l + rr));
        height = height.saturating_sub(sub_h * (t + b));
    }
    size_ok(width, height)
}

/// Width and height from an MPEG-1/2 sequence header (the bytes after `00 00 01 B3`).
pub fn mpeg2_seq_size(payload: &[u8]) -> ParseResult<(u32, u32)> {
    if payload.len() < 3 {
        return Err("MPEG-2 sequence header truncated".into());
    }
    let w = ((payload[0] as u64) << 4) | ((payload[1] as u64) >> 4);
    let h = (((payload[1] & 0x0F) as u64) << 8) | payload[2] as u64;
    size_ok(w, h)
}

fn size_ok(w: u64, h: u64) -> ParseResult<(u32, u32)> {
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(format!("implausible picture size {w}x{h}"));
    }
    Ok((w as u32, h as u32))
}

/// Iterate NAL units (or MPEG start-code units) in an Annex B byte stream: yields the bytes after
/// each `00 00 01` start code up to the next start code.
pub fn start_code_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| s - 3)
        .chain(std::iter::once(data.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .map(move |(s, e)| &data[s..e.max(s)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_sps_1080p_with_cropping() {
        // A real 1920x1080 High-profile SPS (x264), NAL header byte 0x67 stripped.
        let sps = [
            0x64, 0x00, 0x28, 0xAC, 0xD9, 0x40, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00, 0x00,
            0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xC8, 0x3C, 0x60, 0xC6, 0x58,
        ];
        assert_eq!(h264_sps_size(&sps), Ok((1920, 1080)));
    }

    /// Bytes from a string of '0'/'1' (padded with 1s to a whole byte).
    fn bits(s: &str) -> Vec<u8> {
        let mut v: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        while !v.len().is_multiple_of(8) {
            v.push(b'1');
        }
        v.chunks(8)
            .map(|c| c.iter().fold(0u8, |a, &b| (a << 1) | (b - b'0')))
            .collect()
    }

    #[test]
    fn huge_scaling_list_delta_does_not_overflow() {
        // A High-profile SPS whose first scaling list starts with delta_scale = i32::MAX
        // (Exp-Golomb code 2^32 - 3): `last + delta + 256` overflowed i32.
        let sps = bits(&format!(
            "01100100 {zeros16} 1 010 1 1 0 1 1 {zeros31}1{ones30}0",
            zeros16 = "0".repeat(16),
            zeros31 = "0".repeat(31),
            ones30 = "1".repeat(30),
        ));
        assert!(h264_sps_size(&sps).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(h264_sps_size(&[]).is_err());
        assert!(hevc_sps_size(&[0xFF; 3]).is_err());
        assert!(mpeg2_seq_size(&[0x01]).is_err());
    }
}
