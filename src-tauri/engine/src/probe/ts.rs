//! MPEG transport streams (ts, m2ts, mts): stream types from the PAT/PMT, picture size from the
//! H.264/HEVC SPS or MPEG-2 sequence header, duration from the first and last PTS of the video
//! stream. Reads the head in 32 KiB steps until the tables, the first PTS and the picture size
//! are known (at most 96 KiB), then the tail backwards from the end of the file in 32 KiB steps
//! until a PTS is found; both within [`super::TS_BUDGET`] (128 KiB), whatever the file's size.
//! A recording whose SPS comes later than that keeps its codec and duration and has no
//! resolution.

use std::collections::HashMap;
use std::io::{Read, Seek};

use super::sps;
use super::{MediaInfo, ParseResult, Source};

/// The head is read in steps of this many bytes, up to `HEAD_MAX` …
const HEAD_STEP: usize = 32 * 1024;
const HEAD_MAX: u64 = 96 * 1024;
/// … and the tail backwards from the end, in steps of this many bytes, while the budget lasts.
const TAIL_STEP: u64 = 32 * 1024;
/// Elementary-stream bytes kept for the SPS search.
const ES_KEEP: usize = 128 * 1024;

/// Packet layout: 188-byte packets, or 192 with a 4-byte timestamp prefix (m2ts).
#[derive(Clone, Copy)]
struct Layout {
    size: usize,
    prefix: usize,
}

fn detect(head: &[u8]) -> Option<Layout> {
    for l in [
        Layout {
            size: 188,
            prefix: 0,
        },
        Layout {
            size: 192,
            prefix: 4,
        },
    ] {
        // Five sync bytes in a row at the packet spacing, from the start of the file.
        if (0..5).all(|i| head.get(l.prefix + i * l.size) == Some(&0x47)) {
            return Some(l);
        }
    }
    None
}

struct Packet<'a> {
    pid: u16,
    start: bool,
    payload: &'a [u8],
}

fn packets(data: &[u8], l: Layout) -> impl Iterator<Item = Packet<'_>> {
    data.chunks_exact(l.size).filter_map(move |chunk| {
        let p = &chunk[l.prefix..];
        if p[0] != 0x47 {
            return None;
        }
        let pid = (((p[1] & 0x1F) as u16) << 8) | p[2] as u16;
        let start = p[1] & 0x40 != 0;
        let afc = (p[3] >> 4) & 0x3;
        let mut off = 4;
        if afc == 2 {
            return None;
        }
        if afc == 3 {
            off += 1 + p[4] as usize;
        }
        (off < p.len()).then(|| Packet {
            pid,
            start,
            payload: &p[off..],
        })
    })
}

/// Section payload (after pointer_field) of a PSI packet.
fn section(payload: &[u8]) -> Option<&[u8]> {
    let ptr = *payload.first()? as usize;
    payload.get(1 + ptr..)
}

fn stream_codec(stream_type: u8) -> Option<(&'static str, bool)> {
    // (codec, is_video)
    Some(match stream_type {
        0x01 => ("mpeg1video", true),
        0x02 => ("mpeg2video", true),
        0x10 => ("mpeg4", true),
        0x1B => ("h264", true),
        0x24 => ("hevc", true),
        0xEA => ("vc1", true),
        0x03 | 0x04 => ("mp2", false),
        0x0F | 0x11 => ("aac", false),
        0x81 => ("ac3", false),
        0x87 => ("eac3", false),
        _ => return None,
    })
}

fn pes_pts(payload: &[u8]) -> Option<u64> {
    if payload.len() < 14 || payload[0..3] != [0, 0, 1] {
        return None;
    }
    if payload[7] & 0x80 == 0 {
        return None;
    }
    let b = &payload[9..14];
    Some(
        (((b[0] >> 1) & 0x07) as u64) << 30
            | (b[1] as u64) << 22
            | ((b[2] >> 1) as u64) << 15
            | (b[3] as u64) << 7
            | (b[4] >> 1) as u64,
    )
}

fn pes_body(payload: &[u8]) -> Option<&[u8]> {
    if payload.len() < 9 || payload[0..3] != [0, 0, 1] {
        return None;
    }
    payload.get(9 + payload[8] as usize..)
}

/// Parse an MPEG-TS file.
pub fn parse<R: Read + Seek>(src: &mut Source<R>) -> ParseResult<MediaInfo> {
    let mut head = src.read_at(0, HEAD_STEP)?;
    let l = detect(&head).ok_or_else(|| {
        "not an MPEG transport stream (no 0x47 sync bytes at 188/192-byte spacing)".to_string()
    })?;
    let mut info = MediaInfo {
        container: "mpegts".into(),
        ..MediaInfo::default()
    };
    let mut pmt_pid: Option<u16> = None;
    let mut streams: HashMap<u16, (&'static str, bool)> = HashMap::new();
    let mut video_pid: Option<u16> = None;
    let mut first_pts: Option<u64> = None;
    let mut es: Vec<u8> = Vec::new();
    let mut size: Option<(u32, u32)> = None;
    let mut scanned = 0usize;
    loop {
        let usable = head.len() - head.len() % l.size;
        for p in packets(&head[scanned..usable], l) {
            if p.pid == 0 && p.start && pmt_pid.is_none() {
                // PAT: first program with a non-zero number.
                if let Some(s) = section(p.payload) {
                    let len = (((s.get(1).copied().unwrap_or(0) & 0x0F) as usize) << 8)
                        | s.get(2).copied().unwrap_or(0) as usize;
                    let end = (3 + len).saturating_sub(4).min(s.len());
                    let mut i = 8;
                    while i + 4 <= end {
                        let program = u16::from_be_bytes([s[i], s[i + 1]]);
                        let pid = (((s[i + 2] & 0x1F) as u16) << 8) | s[i + 3] as u16;
                        if program != 0 {
                            pmt_pid = Some(pid);
                            break;
                        }
                        i += 4;
                    }
                }
            } else if Some(p.pid) == pmt_pid && p.start && streams.is_empty() {
                if let Some(s) = section(p.payload) {
                    let len = (((s.get(1).copied().unwrap_or(0) & 0x0F) as usize) << 8)
                        | s.get(2).copied().unwrap_or(0) as usize;
                    let end = (3 + len).saturating_sub(4).min(s.len());
                    let pil = s
                        .get(10..12)
                        .map(|b| (((b[0] & 0x0F) as usize) << 8) | b[1] as usize)
                        .unwrap_or(0);
                    let mut i = 12 + pil;
                    while i + 5 <= end {
                        let st = s[i];
                        let pid = (((s[i + 1] & 0x1F) as u16) << 8) | s[i + 2] as u16;
                        let es_len = (((s[i + 3] & 0x0F) as usize) << 8) | s[i + 4] as usize;
                        if let Some((codec, is_video)) = stream_codec(st) {
                            streams.insert(pid, (codec, is_video));
                            if is_video && info.video_codec.is_none() {
                                info.video_codec = Some(codec.to_string());
                                video_pid = Some(pid);
                            } else if !is_video && info.audio_codec.is_none() {
                                info.audio_codec = Some(codec.to_string());
                            }
                        }
                        i += 5 + es_len;
                    }
                }
            } else if p.start && streams.contains_key(&p.pid) {
                // Earliest PTS of any stream (B-frames make the first video PES not the earliest).
                if let Some(pts) = pes_pts(p.payload) {
                    first_pts = Some(first_pts.map_or(pts, |f: u64| f.min(pts)));
                }
            }
            if Some(p.pid) == video_pid {
                if p.start {
                    if let Some(body) = pes_body(p.payload)
                        && es.len() < ES_KEEP
                    {
                        es.extend_from_slice(body);
                    }
                } else if es.len() < ES_KEEP && !es.is_empty() {
                    es.extend_from_slice(p.payload);
                }
            }
        }
        scanned = usable;
        if size.is_none() && !es.is_empty() {
            size = picture_size(info.video_codec.as_deref(), &es);
        }
        let done = (size.is_some() || video_pid.is_none() && !streams.is_empty())
            && first_pts.is_some()
            || head.len() as u64 >= HEAD_MAX.min(src.len());
        if done {
            break;
        }
        let want = (HEAD_MAX as usize - head.len()).min(HEAD_STEP);
        let more = src.read_at(head.len() as u64, want)?;
        if more.is_empty() {
            break;
        }
        head.extend_from_slice(&more);
    }
    if pmt_pid.is_none() {
        return Err("MPEG-TS without a program table (PAT) in the first packets".into());
    }
    if streams.is_empty() {
        return Err("MPEG-TS without a stream table (PMT) in the first packets".into());
    }
    if let Some((w, h)) = size {
        info.width = Some(w);
        info.height = Some(h);
    }
    // Duration: the latest PTS of any stream in the tail minus the earliest in the head.
    if let Some(first) = first_pts
        && let Some(last) = last_pts(src, &head, l, &streams)?
    {
        // 33-bit PTS wraps every ~26.5 hours.
        let delta = if last >= first {
            last - first
        } else {
            last + (1u64 << 33) - first
        };
        if delta > 0 {
            info.duration_sec = Some(delta as f64 / 90_000.0);
        }
    }
    Ok(info)
}

/// The latest PTS of the `streams` near the end of the file: the tail is read backwards from the
/// end in `TAIL_STEP`s until a chunk holds a PES with a PTS, while the budget lasts; when the
/// tail reaches the head, the whole file has been read and `head` serves the rest.
fn last_pts<R: Read + Seek>(
    src: &mut Source<R>,
    head: &[u8],
    l: Layout,
    streams: &HashMap<u16, (&'static str, bool)>,
) -> ParseResult<Option<u64>> {
    let head_len = head.len() as u64;
    let mut tail_start = src.len();
    let mut tail: Vec<u8> = Vec::new();
    loop {
        if tail_start <= head_len {
            // Everything is read: the file is the head and the tail (packet-aligned at 0).
            let mut all = head.to_vec();
            all.extend_from_slice(&tail);
            return Ok(latest_pts(&all, l, streams, true));
        }
        let step = TAIL_STEP.min(src.budget_left());
        if step == 0 {
            return Ok(None);
        }
        let start = tail_start.saturating_sub(step).max(head_len);
        let mut chunk = src.read_at(start, (tail_start - start) as usize)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        tail_start = start;
        if let Some(pts) = latest_pts(&tail, l, streams, tail_start == 0) {
            return Ok(Some(pts));
        }
    }
}

/// The latest PTS of the `streams` in `data` (packet-aligned when `aligned`, else realigned on
/// the first offset with sync bytes at packet spacing).
fn latest_pts(
    data: &[u8],
    l: Layout,
    streams: &HashMap<u16, (&'static str, bool)>,
    aligned: bool,
) -> Option<u64> {
    let align = if aligned {
        Some(0)
    } else {
        (0..l.size.min(data.len())).find(|&o| {
            (0..3).all(|k| data.get(o + l.prefix + k * l.size) == Some(&0x47))
                || (data.len() < o + 3 * l.size && data.get(o + l.prefix) == Some(&0x47))
        })
    };
    let mut last = None;
    for p in packets(data.get(align?..)?, l) {
        if p.start
            && streams.contains_key(&p.pid)
            && let Some(pts) = pes_pts(p.payload)
        {
            last = Some(last.map_or(pts, |x: u64| x.max(pts)));
        }
    }
    last
}

fn picture_size(codec: Option<&str>, es: &[u8]) -> Option<(u32, u32)> {
    for unit in sps::start_code_units(es) {
        let size = match codec {
            Some("h264") if unit.first().is_some_and(|b| b & 0x1F == 7) => {
                sps::h264_sps_size(&unit[1..])
            }
            Some("hevc") if unit.first().is_some_and(|b| (b >> 1) & 0x3F == 33) => {
                sps::hevc_sps_size(unit.get(2..).unwrap_or(&[]))
            }
            Some("mpeg2video" | "mpeg1video") if unit.first() == Some(&0xB3) => {
                sps::mpeg2_seq_size(&unit[1..])
            }
            _ => continue,
        };
        if let Ok(s) = size {
            return Some(s);
        }
    }
    None
}
