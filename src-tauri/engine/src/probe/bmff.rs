//! ISO BMFF / QuickTime (mp4, mov, m4v): walks box headers with seeks (8 or 16 bytes each) and
//! reads only the few bytes it needs of the small boxes (ftyp's brand, mvhd, tkhd, mdhd, hdlr and
//! the first stsd entry); the sample tables (stts, stsz, stco, ctts, stss, …) and `mdat` are
//! skipped by seeking. The top-level walk stops at `moov`. So a trailing `moov`, a huge sample
//! table or a 100 GB file costs a few KiB ([`super::BMFF_BUDGET`] at most).

use super::{MediaInfo, ParseResult, Source};
use std::io::{Read, Seek};

/// A box: its type and the byte range of its payload.
#[derive(Debug, Clone, Copy)]
struct BoxRef {
    kind: [u8; 4],
    start: u64,
    end: u64,
}

/// Limits that keep a corrupted file from sending the walker around forever.
const MAX_BOXES: usize = 4096;
/// The most of a sample description read: the first entry's header and fields, and the `esds`
/// an `mp4a`/`mp4v` entry carries (codec configuration records after it are not needed).
const STSD_READ: usize = 2 * 1024;

fn be_u16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?))
}
fn be_u32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
}
fn be_u64(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// The child boxes in `[start, end)`.
fn children<R: Read + Seek>(src: &mut Source<R>, start: u64, end: u64) -> ParseResult<Vec<BoxRef>> {
    children_until(src, start, end, None)
}

/// The child boxes in `[start, end)`, stopping after the first box of kind `stop`.
fn children_until<R: Read + Seek>(
    src: &mut Source<R>,
    start: u64,
    end: u64,
    stop: Option<&[u8; 4]>,
) -> ParseResult<Vec<BoxRef>> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos + 8 <= end {
        if out.len() >= MAX_BOXES {
            return Err("too many boxes".into());
        }
        let mut h = src.read_at(pos, 8)?;
        if h.len() < 8 {
            break;
        }
        let size32 = be_u32(&h, 0).unwrap_or(0) as u64;
        let kind: [u8; 4] = [h[4], h[5], h[6], h[7]];
        let (header, size) = match size32 {
            0 => (8, end - pos),
            1 => {
                // A 64-bit size follows the type: 8 more bytes, only for such a box.
                h = src.read_at(pos + 8, 8)?;
                (
                    16,
                    be_u64(&h, 0).ok_or_else(|| "truncated 64-bit box size".to_string())?,
                )
            }
            s => (8, s),
        };
        if size < header || pos.checked_add(size).is_none_or(|e| e > end) {
            if out.is_empty() && start == 0 {
                return Err(format!(
                    "not an MP4/MOV file (bad box `{}` of size {size} at {pos})",
                    fourcc(&kind)
                ));
            }
            // A box running past its parent: the file is truncated here.
            if &kind == b"moov" || end == src.len() {
                out.push(BoxRef {
                    kind,
                    start: pos + header,
                    end,
                });
            }
            break;
        }
        out.push(BoxRef {
            kind,
            start: pos + header,
            end: pos + size,
        });
        if stop == Some(&kind) {
            break;
        }
        pos += size;
    }
    Ok(out)
}

fn fourcc(k: &[u8; 4]) -> String {
    k.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

fn find(boxes: &[BoxRef], kind: &[u8; 4]) -> Option<BoxRef> {
    boxes.iter().copied().find(|b| &b.kind == kind)
}

/// The first `n` bytes (at most) of a box's payload.
fn head_of<R: Read + Seek>(src: &mut Source<R>, b: BoxRef, n: usize) -> ParseResult<Vec<u8>> {
    let n = ((b.end - b.start) as usize).min(n);
    src.read_at(b.start, n)
}

/// Bytes of an mvhd/mdhd payload that hold the timescale and duration (version 1: 64-bit times).
const TIME_HEADER_READ: usize = 32;

/// (timescale, duration) from an mvhd or mdhd payload.
fn time_header(p: &[u8]) -> Option<(u32, u64)> {
    match p.first()? {
        1 => Some((be_u32(p, 20)?, be_u64(p, 24)?)),
        _ => Some((be_u32(p, 12)?, be_u32(p, 16)? as u64)),
    }
}

fn seconds(t: Option<(u32, u64)>) -> Option<f64> {
    let (scale, dur) = t?;
    if scale == 0 || dur == 0 || dur == u32::MAX as u64 || dur == u64::MAX {
        return None;
    }
    Some(dur as f64 / scale as f64)
}

/// Codec name (ffprobe style) of a sample-entry fourcc; `mp4v`/`mp4a` look at the esds.
fn codec_of(entry: &[u8; 4], body: &[u8]) -> Option<String> {
    let name = match entry {
        b"avc1" | b"avc3" => "h264",
        b"hvc1" | b"hev1" | b"dvh1" | b"dvhe" => "hevc",
        b"apch" | b"apcn" | b"apcs" | b"apco" | b"ap4h" | b"ap4x" => "prores",
        b"AVdn" | b"AVdh" => "dnxhd",
        b"m2v1" | b"mp2v" | b"hdv1" | b"hdv2" | b"hdv3" | b"hdv5" | b"hdv6" | b"hdv7" | b"hdv8"
        | b"hdv9" | b"hdva" | b"mx3n" | b"mx3p" | b"mx4n" | b"mx4p" | b"mx5n" | b"mx5p" => {
            "mpeg2video"
        }
        b"av01" => "av1",
        b"vp09" => "vp9",
        b"vp08" => "vp8",
        b"jpeg" | b"mjpa" | b"mjpb" => "mjpeg",
        b"s263" | b"h263" => "h263",
        b"mp4v" | b"mp4a" => return Some(esds_codec(entry, body)),
        b"ac-3" => "ac3",
        b"ec-3" => "eac3",
        b"Opus" => "opus",
        b"alac" => "alac",
        b"fLaC" => "flac",
        b".mp3" => "mp3",
        b"lpcm" | b"sowt" | b"twos" | b"in24" | b"in32" | b"fl32" | b"fl64" | b"raw " => "pcm",
        _ if entry[0..2] == *b"xd" => "mpeg2video",
        _ => return Some(fourcc(entry).trim().to_string()),
    };
    Some(name.to_string())
}

/// MPEG-4 object type from the esds inside a sample entry.
fn esds_codec(entry: &[u8; 4], body: &[u8]) -> String {
    let default = if entry == b"mp4a" { "aac" } else { "mpeg4" };
    let Some(i) = body.windows(4).position(|w| w == b"esds") else {
        return default.into();
    };
    // esds: version/flags, ES_Descriptor (tag 3) … DecoderConfigDescriptor (tag 4): objectType.
    let Some(d) = body.get(i + 8..) else {
        return default.into();
    };
    let Some(j) = d.iter().position(|&b| b == 0x04) else {
        return default.into();
    };
    let mut k = j + 1;
    while d.get(k).is_some_and(|b| b & 0x80 != 0) {
        k += 1;
    }
    match d.get(k + 1) {
        Some(0x40 | 0x66 | 0x67 | 0x68) => "aac",
        Some(0x69 | 0x6B) => "mp3",
        Some(0x20) => "mpeg4",
        Some(0x60..=0x65) => "mpeg2video",
        Some(0x6A) => "mpeg1video",
        Some(0x6C) => "mjpeg",
        Some(0xA5) => "ac3",
        _ => default,
    }
    .into()
}

/// Parse an MP4 / MOV file.
pub fn parse<R: Read + Seek>(src: &mut Source<R>) -> ParseResult<MediaInfo> {
    let len = src.len();
    // Top-level boxes up to `moov`: whatever follows it (fragments, a trailing `mdat`) is not
    // needed.
    let top = children_until(src, 0, len, Some(b"moov"))?;
    if top.is_empty() {
        return Err("not an MP4/MOV file (no boxes)".into());
    }
    let mut info = MediaInfo {
        container: "mp4".into(),
        ..MediaInfo::default()
    };
    if let Some(ftyp) = find(&top, b"ftyp") {
        let p = head_of(src, ftyp, 4)?;
        if p.get(0..4) == Some(b"qt  ") {
            info.container = "mov".into();
        }
    } else if top
        .iter()
        .any(|b| matches!(&b.kind, b"wide" | b"mdat" | b"moov" | b"free"))
    {
        info.container = "mov".into();
    }
    let moov = find(&top, b"moov")
        .ok_or_else(|| "no `moov` box: the file is truncated or still being written".to_string())?;
    let boxes = children(src, moov.start, moov.end)?;
    let mvhd = match find(&boxes, b"mvhd") {
        Some(b) => time_header(&head_of(src, b, TIME_HEADER_READ)?),
        None => None,
    };
    info.duration_sec = seconds(mvhd);
    let mut video_duration = None;
    for trak in boxes.iter().filter(|b| &b.kind == b"trak") {
        if info.video_codec.is_some() && info.audio_codec.is_some() {
            break;
        }
        let tk = children(src, trak.start, trak.end)?;
        let Some(mdia) = find(&tk, b"mdia") else {
            continue;
        };
        let md = children(src, mdia.start, mdia.end)?;
        let handler = match find(&md, b"hdlr") {
            // version/flags (4), pre_defined (4), handler_type (4).
            Some(h) => head_of(src, h, 12)?
                .get(8..12)
                .map(|s| [s[0], s[1], s[2], s[3]]),
            None => None,
        };
        let is_video = handler == Some(*b"vide");
        let is_audio = handler == Some(*b"soun");
        if !is_video && !is_audio {
            continue;
        }
        if (is_video && info.video_codec.is_some()) || (is_audio && info.audio_codec.is_some()) {
            continue;
        }
        let mdhd = match find(&md, b"mdhd") {
            Some(b) => time_header(&head_of(src, b, TIME_HEADER_READ)?),
            None => None,
        };
        let Some(minf) = find(&md, b"minf") else {
            continue;
        };
        let mi = children(src, minf.start, minf.end)?;
        let Some(stbl) = find(&mi, b"stbl") else {
            continue;
        };
        let st = children(src, stbl.start, stbl.end)?;
        let Some(stsd) = find(&st, b"stsd") else {
            continue;
        };
        let p = head_of(src, stsd, STSD_READ)?;
        // stsd: version/flags (4), entry_count (4), then the first sample entry.
        let Some(entry_size) = be_u32(&p, 8) else {
            return Err("truncated `stsd` box".into());
        };
        let Some(kind) = p.get(12..16).map(|s| [s[0], s[1], s[2], s[3]]) else {
            return Err("truncated `stsd` box".into());
        };
        let body_end = (8 + entry_size as usize).min(p.len());
        let body = p.get(16..body_end).unwrap_or(&[]);
        let codec = codec_of(&kind, body);
        if is_video {
            info.video_codec = codec;
            // VisualSampleEntry: 6 reserved, 2 data_reference_index, 16 predefined/reserved,
            // then width and height (16 bits each).
            let (w, h) = (be_u16(body, 24), be_u16(body, 26));
            if let (Some(w), Some(h)) = (w, h)
                && w > 0
                && h > 0
            {
                info.width = Some(w as u32);
                info.height = Some(h as u32);
            }
            if info.width.is_none()
                && let Some(tkhd) = find(&tk, b"tkhd")
            {
                // Width and height (16.16 fixed point) are the payload's last 8 bytes.
                let t = src.read_at(tkhd.end.saturating_sub(8).max(tkhd.start), 8)?;
                if t.len() == 8 {
                    let w = be_u32(&t, 0).unwrap_or(0) >> 16;
                    let h = be_u32(&t, 4).unwrap_or(0) >> 16;
                    if w > 0 && h > 0 {
                        info.width = Some(w);
                        info.height = Some(h);
                    }
                }
            }
            video_duration = seconds(mdhd);
        } else {
            info.audio_codec = codec;
        }
    }
    if info.duration_sec.is_none() {
        info.duration_sec = video_duration;
    }
    if info.video_codec.is_none() && info.audio_codec.is_none() {
        return Err("no audio or video track found in `moov`".into());
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box: 32-bit size, fourcc, payload.
    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    /// A `moov` with one sound track whose first sample entry is `entry` with body `body`.
    fn moov_with_entry(entry: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"soun");
        hdlr.extend_from_slice(&[0; 12]);
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend_from_slice(&bx(entry, body));
        let stbl = bx(b"stbl", &bx(b"stsd", &stsd));
        let minf = bx(b"minf", &stbl);
        let mdia = bx(b"mdia", &[bx(b"hdlr", &hdlr), minf].concat());
        bx(b"moov", &bx(b"trak", &mdia))
    }

    fn parse_bytes(data: &[u8]) -> ParseResult<MediaInfo> {
        parse(&mut Source::new(std::io::Cursor::new(data)).expect("cursor"))
    }

    #[test]
    fn esds_tag_at_the_end_of_the_sample_entry_does_not_panic() {
        // Found by `cargo fuzz run bmff`: an `esds` fourcc in the last 8 bytes of an `mp4a`
        // sample entry sliced past the end of the entry.
        let mut body = vec![0u8; 20];
        body.extend_from_slice(b"esds");
        let info = parse_bytes(&moov_with_entry(b"mp4a", &body)).expect("parses");
        assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    }

    #[test]
    fn esds_object_type_is_read() {
        // An `esds` box: size, fourcc, version/flags, ES_Descriptor (tag 3), DecoderConfig
        // (tag 4) with objectType 0x6B (MP3).
        let mut body = vec![0u8; 20];
        body.extend_from_slice(&[0, 0, 0, 20]);
        body.extend_from_slice(b"esds");
        body.extend_from_slice(&[0, 0, 0, 0, 0x03, 0x05, 0, 1, 0, 0x04, 0x02, 0x6B, 0x15]);
        let info = parse_bytes(&moov_with_entry(b"mp4a", &body)).expect("parses");
        assert_eq!(info.audio_codec.as_deref(), Some("mp3"));
    }
}
