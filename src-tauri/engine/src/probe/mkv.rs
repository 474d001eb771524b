//! Matroska / WebM: the EBML header, then the Segment's `Info` (duration) and `Tracks` (codec ids,
//! pixel size). Level-1 elements are stepped over by their headers and the walk stops at the
//! first `Cluster`; media data is never read. `Info` and `Tracks` are read whole when small (one
//! read); a larger one (long titles, an ASS subtitle header as CodecPrivate, …) is walked by
//! element headers and only the fields used are read, so a file costs at most
//! [`super::MKV_BUDGET`].

use std::io::{Read, Seek};

use super::{MediaInfo, ParseResult, Source};

const EBML: u32 = 0x1A45_DFA3;
const DOC_TYPE: u32 = 0x4282;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TRACKS: u32 = 0x1654_AE6B;
const CLUSTER: u32 = 0x1F43_B675;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;

/// Largest Info/Tracks/TrackEntry element read whole; a larger one is walked by headers.
const READ_WHOLE: u64 = 4 * 1024;
/// Largest single field (CodecID, Duration, a Video element) read from a walked element.
const MAX_FIELD: u64 = 512;
const MAX_LEVEL1: usize = 256;
/// Children of one walked element.
const MAX_CHILDREN: usize = 1024;

/// A variable-length integer: (value, length). `keep_marker` for element ids.
fn vint(b: &[u8], keep_marker: bool) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || b.len() < len {
        return None;
    }
    let mut v = if keep_marker {
        first as u64
    } else {
        (first as u64) & ((1u64 << (8 - len)) - 1)
    };
    for &x in &b[1..len] {
        v = (v << 8) | x as u64;
    }
    Some((v, len))
}

/// "Unknown size" (all value bits set).
fn unknown_size(v: u64, len: usize) -> bool {
    v == (1u64 << (7 * len)) - 1
}

/// An element header: (id, payload start, payload size or None if unknown).
fn header(b: &[u8]) -> Option<(u32, usize, Option<u64>)> {
    let (id, il) = vint(b, true)?;
    let (size, sl) = vint(b.get(il..)?, false)?;
    let size = (!unknown_size(size, sl)).then_some(size);
    Some((id as u32, il + sl, size))
}

/// The child elements of an in-memory payload: (id, data).
fn elements(mut b: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    while let Some((id, off, size)) = header(b) {
        let end = match size {
            Some(s) => off.saturating_add(s as usize).min(b.len()),
            None => b.len(),
        };
        if off > end {
            break;
        }
        out.push((id, &b[off..end]));
        b = &b[end..];
        if out.len() > 10_000 {
            break;
        }
    }
    out
}

fn uint(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0, |v, &x| (v << 8) | x as u64)
}

fn float(b: &[u8]) -> Option<f64> {
    match b.len() {
        4 => Some(f32::from_be_bytes(b.try_into().ok()?) as f64),
        8 => Some(f64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

fn codec_name(id: &str) -> String {
    let name = match id {
        "V_MPEG4/ISO/AVC" => "h264",
        "V_MPEGH/ISO/HEVC" => "hevc",
        "V_MPEG2" | "V_MPEG1" => "mpeg2video",
        "V_MPEG4/ISO/ASP" | "V_MPEG4/ISO/SP" | "V_MPEG4/ISO/AP" => "mpeg4",
        "V_VP8" => "vp8",
        "V_VP9" => "vp9",
        "V_AV1" => "av1",
        "V_PRORES" => "prores",
        "V_MJPEG" => "mjpeg",
        "A_AC3" => "ac3",
        "A_EAC3" => "eac3",
        "A_OPUS" => "opus",
        "A_VORBIS" => "vorbis",
        "A_FLAC" => "flac",
        "A_DTS" => "dts",
        "A_MPEG/L3" => "mp3",
        "A_MPEG/L2" => "mp2",
        s if s.starts_with("A_AAC") => "aac",
        s if s.starts_with("A_PCM") => "pcm",
        other => return other.to_lowercase(),
    };
    name.to_string()
}

/// Parse a Matroska / WebM file.
pub fn parse<R: Read + Seek>(src: &mut Source<R>) -> ParseResult<MediaInfo> {
    let head = src.read_at(0, 64)?;
    let (id, off, size) = header(&head).ok_or("not a Matroska file (no EBML header)")?;
    if id != EBML {
        return Err("not a Matroska file (no EBML header)".into());
    }
    let ebml_size = size.ok_or("EBML header of unknown size")?;
    let ebml = src.read_exact_at(off as u64, ebml_size.min(512) as usize)?;
    let doc = elements(&ebml)
        .into_iter()
        .find(|(i, _)| *i == DOC_TYPE)
        .map(|(_, d)| {
            String::from_utf8_lossy(d)
                .trim_end_matches('\0')
                .to_string()
        })
        .unwrap_or_else(|| "matroska".into());
    let mut info = MediaInfo {
        container: if doc == "webm" {
            "webm".into()
        } else {
            "matroska".into()
        },
        ..MediaInfo::default()
    };
    let seg_pos = off as u64 + ebml_size;
    let sh = src.read_exact_at(seg_pos, 12)?;
    let (sid, soff, ssize) = header(&sh).ok_or("truncated Segment header")?;
    if sid != SEGMENT {
        return Err("no Matroska Segment after the EBML header".into());
    }
    let seg_start = seg_pos + soff as u64;
    let seg_end = match ssize {
        Some(s) => seg_start.saturating_add(s).min(src.len()),
        None => src.len(),
    };
    let mut pos = seg_start;
    let mut scale: u64 = 1_000_000;
    let mut duration: Option<f64> = None;
    let mut have_tracks = false;
    for _ in 0..MAX_LEVEL1 {
        if pos + 2 > seg_end {
            break;
        }
        let h = src.read_at(pos, 12)?;
        let Some((id, hoff, size)) = header(&h) else {
            break;
        };
        if id == CLUSTER {
            break;
        }
        let Some(size) = size else {
            break;
        };
        let data_start = pos + hoff as u64;
        if id == INFO || id == TRACKS {
            let fields = if id == INFO {
                &[TIMECODE_SCALE, DURATION][..]
            } else {
                &[TRACK_ENTRY][..]
            };
            let children = read_children(src, data_start, size, fields)?;
            if id == INFO {
                for (cid, f) in children {
                    let Field::Data(d) = f else { continue };
                    match cid {
                        TIMECODE_SCALE => scale = uint(&d).max(1),
                        DURATION => duration = float(&d),
                        _ => {}
                    }
                }
            } else {
                have_tracks = true;
                for (_, entry) in children {
                    let fields = track_fields(src, entry)?;
                    let mut kind = 0;
                    let mut codec = None;
                    let (mut w, mut hh) = (None, None);
                    for (fid, d) in fields {
                        match fid {
                            TRACK_TYPE => kind = uint(&d),
                            CODEC_ID => {
                                codec = Some(codec_name(
                                    String::from_utf8_lossy(&d).trim_end_matches('\0'),
                                ))
                            }
                            VIDEO => {
                                for (vid, vd) in elements(&d) {
                                    match vid {
                                        PIXEL_WIDTH => w = Some(uint(vd) as u32),
                                        PIXEL_HEIGHT => hh = Some(uint(vd) as u32),
                                        _ => {}
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    if kind == 1 && info.video_codec.is_none() {
                        info.video_codec = codec;
                        // Both or neither: half a resolution is no resolution.
                        if let (Some(w), Some(h)) = (w.filter(|&x| x > 0), hh.filter(|&x| x > 0)) {
                            info.width = Some(w);
                            info.height = Some(h);
                        }
                    } else if kind == 2 && info.audio_codec.is_none() {
                        info.audio_codec = codec;
                    }
                }
            }
            if have_tracks && duration.is_some() {
                break;
            }
        }
        pos = data_start.saturating_add(size);
    }
    if !have_tracks {
        return Err("Matroska file without a Tracks element before the first Cluster".into());
    }
    info.duration_sec = duration
        .map(|d| d * scale as f64 / 1e9)
        .filter(|d| d.is_finite() && *d > 0.0);
    Ok(info)
}

/// A wanted child of an element: its bytes, or where it is when it is too large to read whole.
enum Field {
    Data(Vec<u8>),
    Large { start: u64, size: u64 },
}

/// The children with `wanted` ids of the element whose payload is `size` bytes at `start`. An
/// element of at most `READ_WHOLE` bytes is read whole (one read); a larger one is walked by
/// child headers and only wanted children are read: those up to `READ_WHOLE` (a TrackEntry) or
/// `MAX_FIELD` bytes (any other field); larger ones are returned as [`Field::Large`].
fn read_children<R: Read + Seek>(
    src: &mut Source<R>,
    start: u64,
    size: u64,
    wanted: &[u32],
) -> ParseResult<Vec<(u32, Field)>> {
    if size <= READ_WHOLE {
        let data = src.read_exact_at(start, size as usize)?;
        return Ok(elements(&data)
            .into_iter()
            .filter(|(id, _)| wanted.contains(id))
            .map(|(id, d)| (id, Field::Data(d.to_vec())))
            .collect());
    }
    let end = start.saturating_add(size).min(src.len());
    let mut out = Vec::new();
    let mut pos = start;
    for _ in 0..MAX_CHILDREN {
        if pos + 2 > end {
            break;
        }
        let h = src.read_at(pos, 12)?;
        let Some((id, hoff, Some(csize))) = header(&h) else {
            break;
        };
        let data_start = pos + hoff as u64;
        let limit = if id == TRACK_ENTRY {
            READ_WHOLE
        } else {
            MAX_FIELD
        };
        if wanted.contains(&id) {
            out.push((
                id,
                if csize <= limit {
                    Field::Data(src.read_exact_at(data_start, csize as usize)?)
                } else {
                    Field::Large {
                        start: data_start,
                        size: csize,
                    }
                },
            ));
        }
        pos = data_start.saturating_add(csize);
    }
    Ok(out)
}

/// The TrackType, CodecID and Video fields of a TrackEntry: parsed from its bytes, or read field
/// by field when it was too large to read whole (a large CodecPrivate is never read).
fn track_fields<R: Read + Seek>(
    src: &mut Source<R>,
    entry: Field,
) -> ParseResult<Vec<(u32, Vec<u8>)>> {
    const FIELDS: [u32; 3] = [TRACK_TYPE, CODEC_ID, VIDEO];
    let fields = match entry {
        Field::Data(d) => elements(&d)
            .into_iter()
            .filter(|(id, _)| FIELDS.contains(id))
            .map(|(id, d)| (id, d.to_vec()))
            .collect(),
        Field::Large { start, size } => read_children(src, start, size, &FIELDS)?
            .into_iter()
            .filter_map(|(id, f)| match f {
                Field::Data(d) => Some((id, d)),
                Field::Large { .. } => None,
            })
            .collect(),
    };
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An element: id bytes, a one-byte size, payload (< 127 bytes).
    fn el(id: &[u8], payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 127);
        let mut b = id.to_vec();
        b.push(0x80 | payload.len() as u8);
        b.extend_from_slice(payload);
        b
    }

    /// A Matroska file with one video track whose `Video` element holds `video`.
    fn mkv_with_video(video: &[u8]) -> Vec<u8> {
        let ebml = el(&[0x1A, 0x45, 0xDF, 0xA3], &el(&[0x42, 0x82], b"matroska"));
        let entry = [el(&[0x83], &[1]), el(&[0x86], b"V_VP9"), el(&[0xE0], video)].concat();
        let tracks = el(&[0x16, 0x54, 0xAE, 0x6B], &el(&[0xAE], &entry));
        [ebml, el(&[0x18, 0x53, 0x80, 0x67], &tracks)].concat()
    }

    fn parse_bytes(data: &[u8]) -> ParseResult<MediaInfo> {
        parse(&mut Source::new(std::io::Cursor::new(data)).expect("cursor"))
    }

    #[test]
    fn pixel_size_is_read() {
        let video = [el(&[0xB0], &[0x01, 0x40]), el(&[0xBA], &[0xF0])].concat();
        let info = parse_bytes(&mkv_with_video(&video)).expect("parses");
        assert_eq!(info.video_codec.as_deref(), Some("vp9"));
        assert_eq!((info.width, info.height), (Some(320), Some(240)));
    }

    /// An element with a 4-byte size (payloads up to 256 MiB).
    fn el_big(id: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut b = id.to_vec();
        b.extend_from_slice(&((0x1000_0000 | payload.len() as u32).to_be_bytes()));
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn a_large_codec_private_is_stepped_over_within_the_budget() {
        // An ASS subtitle track whose CodecPrivate (the script header) is 40 KiB, before the
        // video track: Tracks is walked by headers and the CodecPrivate is never read.
        let subs = el_big(
            &[0xAE],
            &[
                el(&[0x83], &[0x11]),
                el(&[0x86], b"S_TEXT/ASS"),
                el_big(&[0x63, 0xA2], &vec![b'x'; 40 * 1024]),
            ]
            .concat(),
        );
        let video = [el(&[0xB0], &[0x01, 0x40]), el(&[0xBA], &[0xF0])].concat();
        let entry = [
            el(&[0x83], &[1]),
            el(&[0x86], b"V_VP9"),
            el(&[0xE0], &video),
        ]
        .concat();
        let tracks = el_big(
            &[0x16, 0x54, 0xAE, 0x6B],
            &[subs, el(&[0xAE], &entry)].concat(),
        );
        let ebml = el(&[0x1A, 0x45, 0xDF, 0xA3], &el(&[0x42, 0x82], b"matroska"));
        let file = [ebml, el_big(&[0x18, 0x53, 0x80, 0x67], &tracks)].concat();
        let mut src = Source::new(std::io::Cursor::new(&file[..]))
            .expect("cursor")
            .with_budget(crate::probe::MKV_BUDGET);
        let info = parse(&mut src).expect("parses");
        assert_eq!(info.video_codec.as_deref(), Some("vp9"));
        assert_eq!((info.width, info.height), (Some(320), Some(240)));
        assert!(src.bytes_read() < 1024, "read {} bytes", src.bytes_read());
    }

    #[test]
    fn width_without_height_is_no_resolution() {
        // Found by `cargo fuzz run mkv`: a PixelWidth without a PixelHeight gave a width and
        // no height.
        let info = parse_bytes(&mkv_with_video(&el(&[0xB0], &[0x01, 0x40]))).expect("parses");
        assert_eq!(info.video_codec.as_deref(), Some("vp9"));
        assert_eq!((info.width, info.height), (None, None));
    }
}
