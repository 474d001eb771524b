//! Media probe: container, video codec, resolution, duration and audio codec, read from container
//! headers only. Pure Rust for MP4/MOV ([`bmff`]), MPEG-TS ([`ts`]) and Matroska ([`mkv`]); other
//! formats (MXF, AVI, …) go to `ffprobe` when it is available ([`ffprobe`]), else "unknown".
//!
//! Every parser reads through [`Source`], which serves bounded reads at offsets, counts the bytes
//! read and refuses to read past the format's budget ([`Format::budget`]: 16 KiB for MP4/MOV and
//! Matroska, 128 KiB for MPEG-TS, whatever the file's size). On an SMB share every byte read is a
//! network transfer and a seek on the NAS's disks; a file is opened once, through
//! [`content_io::CountedFile`](crate::content_io::CountedFile) so the process-wide counters see it.

pub mod bmff;
pub mod ffprobe;
pub mod mkv;
mod pass;
pub mod sps;
pub mod ts;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

pub(crate) use pass::POLL;
pub use pass::{ProbeStats, probe_pending};

/// What a probe found. Codec names follow ffprobe (`h264`, `hevc`, `prores`, `mpeg2video`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MediaInfo {
    /// `mp4`, `mov`, `mpegts`, `matroska`, `webm`, or ffprobe's format name.
    pub container: String,
    pub video_codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_sec: Option<f64>,
    pub audio_codec: Option<String>,
}

impl MediaInfo {
    /// `"1920x1080"` when both dimensions are known.
    pub fn resolution(&self) -> Option<String> {
        Some(format!("{}x{}", self.width?, self.height?))
    }
}

/// The outcome of probing one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Probe {
    /// Parsed.
    Ok { info: MediaInfo },
    /// The file could not be parsed: truncated, corrupted or not what its extension says.
    Failed { error: String },
    /// No parser for this format and no ffprobe: codec unknown (the app works without ffprobe).
    Unsupported { reason: String },
}

/// A parse error with a readable message.
pub type ParseResult<T> = Result<T, String>;

/// Bounded reads at offsets, counting bytes. Parsers never read more than they ask for, and
/// never more than the budget in total.
pub struct Source<R> {
    inner: R,
    len: u64,
    bytes_read: u64,
    budget: u64,
}

/// Bytes an MP4/MOV probe may read: box headers, mvhd, tkhd, mdhd, hdlr and stsd.
pub const BMFF_BUDGET: u64 = 16 * 1024;
/// Bytes a Matroska probe may read: the EBML header, level-1 headers, Info and Tracks.
pub const MKV_BUDGET: u64 = 16 * 1024;
/// Bytes an MPEG-TS probe may read: the head (PAT, PMT, SPS, first PTS) and the tail (last PTS).
pub const TS_BUDGET: u64 = 128 * 1024;

/// The largest single read a parser may ask for.
pub const MAX_READ: usize = 4 * 1024 * 1024;

impl<R: Read + Seek> Source<R> {
    pub fn new(mut inner: R) -> std::io::Result<Source<R>> {
        let len = inner.seek(SeekFrom::End(0))?;
        Ok(Source {
            inner,
            len,
            bytes_read: 0,
            budget: u64::MAX,
        })
    }

    /// Refuse reads past `budget` bytes in total.
    pub fn with_budget(mut self, budget: u64) -> Source<R> {
        self.budget = budget;
        self
    }

    /// Bytes still allowed.
    pub fn budget_left(&self) -> u64 {
        self.budget.saturating_sub(self.bytes_read)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Up to `n` bytes at `offset` (fewer at the end of the file).
    pub fn read_at(&mut self, offset: u64, n: usize) -> ParseResult<Vec<u8>> {
        if offset >= self.len || n == 0 {
            return Ok(Vec::new());
        }
        let n = n.min(MAX_READ).min((self.len - offset) as usize);
        if n as u64 > self.budget_left() {
            return Err(format!(
                "the headers are larger than the probe's read budget ({} KiB; {n} more bytes wanted at offset {offset})",
                self.budget / 1024
            ));
        }
        self.inner
            .seek(SeekFrom::Start(offset))
            .map_err(|e| format!("seek to {offset}: {e}"))?;
        let mut buf = vec![0u8; n];
        let mut filled = 0;
        while filled < n {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(k) => filled += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read at {offset}: {e}")),
            }
        }
        buf.truncate(filled);
        self.bytes_read += filled as u64;
        Ok(buf)
    }

    /// Exactly `n` bytes at `offset`, or an error saying the file is truncated.
    pub fn read_exact_at(&mut self, offset: u64, n: usize) -> ParseResult<Vec<u8>> {
        let b = self.read_at(offset, n)?;
        if b.len() < n {
            return Err(format!(
                "truncated: wanted {n} bytes at offset {offset}, file has {}",
                self.len
            ));
        }
        Ok(b)
    }
}

/// The containers with a pure-Rust parser.
#[derive(Debug, Clone, Copy)]
enum Format {
    Bmff,
    Ts,
    Mkv,
}

impl Format {
    fn of(ext: &str) -> Option<Format> {
        match ext {
            "mp4" | "mov" | "m4v" | "3gp" => Some(Format::Bmff),
            "ts" | "m2ts" | "mts" => Some(Format::Ts),
            "mkv" | "webm" => Some(Format::Mkv),
            _ => None,
        }
    }

    /// The most this format's parser reads from one file.
    fn budget(self) -> u64 {
        match self {
            Format::Bmff => BMFF_BUDGET,
            Format::Ts => TS_BUDGET,
            Format::Mkv => MKV_BUDGET,
        }
    }

    fn parse<R: Read + Seek>(self, src: &mut Source<R>) -> ParseResult<MediaInfo> {
        match self {
            Format::Bmff => bmff::parse(src),
            Format::Ts => ts::parse(src),
            Format::Mkv => mkv::parse(src),
        }
    }
}

/// Probe one file. `ffprobe`: the ffprobe binary to use for formats without a Rust parser.
/// Returns the outcome and the number of bytes the pure-Rust parser read.
pub fn probe_file(path: &Path, ffprobe: Option<&Path>) -> (Probe, u64) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    // On Windows, opening `CON.mp4` or `aux.mp4` opens the device (a console read can block),
    // not the file. Such a file stays in the Source (listing it is safe); only its content is
    // not read.
    if cfg!(windows) && crate::names::is_windows_reserved(&name) {
        return (
            Probe::Failed {
                error: "Windows 예약 이름이라 열지 않음 / a name Windows reserves for a device; not opened"
                    .into(),
            },
            0,
        );
    }
    let ext = crate::names::extension(&name);
    if let Some(format) = Format::of(&ext) {
        let file = match crate::content_io::CountedFile::open(path, &crate::content_io::PROBE) {
            Ok(f) => f,
            Err(e) => {
                return (
                    Probe::Failed {
                        error: format!("cannot open: {e}"),
                    },
                    0,
                );
            }
        };
        let mut src = match Source::new(file) {
            Ok(s) => s.with_budget(format.budget()),
            Err(e) => {
                return (
                    Probe::Failed {
                        error: format!("cannot read: {e}"),
                    },
                    0,
                );
            }
        };
        if src.is_empty() {
            return (
                Probe::Failed {
                    error: "empty file (0 bytes)".into(),
                },
                0,
            );
        }
        let res = format.parse(&mut src);
        let n = src.bytes_read();
        return match res {
            Ok(info) => (Probe::Ok { info }, n),
            Err(error) => (Probe::Failed { error }, n),
        };
    }
    match ffprobe {
        Some(bin) => (ffprobe::probe(bin, path), 0),
        None => (
            Probe::Unsupported {
                reason: format!(
                    "unknown: no built-in parser for .{ext} and ffprobe is not available"
                ),
            },
            0,
        ),
    }
}

/// The read budget of the built-in parser for `ext`, if there is one.
pub fn read_budget(ext: &str) -> Option<u64> {
    Format::of(ext).map(Format::budget)
}

/// Probe bytes in memory with the parser for `ext` (fuzzing and tests).
pub fn probe_bytes(ext: &str, data: &[u8]) -> ParseResult<MediaInfo> {
    let src = Source::new(std::io::Cursor::new(data)).map_err(|e| e.to_string())?;
    match Format::of(ext) {
        Some(format) => format.parse(&mut src.with_budget(format.budget())),
        None => Err(format!("no parser for .{ext}")),
    }
}

/// Video codecs that HLS players can play without transcoding.
pub const HLS_VIDEO_CODECS: &[&str] = &["h264", "hevc", "av1"];

/// A person's name for a codec (`prores` → `ProRes`).
pub fn codec_display(codec: &str) -> String {
    match codec {
        "h264" => "H.264".into(),
        "hevc" => "HEVC".into(),
        "prores" => "ProRes".into(),
        "dnxhd" => "DNxHD".into(),
        "mpeg2video" => "MPEG-2".into(),
        "mpeg1video" => "MPEG-1".into(),
        "mpeg4" => "MPEG-4 Part 2".into(),
        "mjpeg" => "Motion JPEG".into(),
        "vc1" => "VC-1".into(),
        "av1" => "AV1".into(),
        "vp9" => "VP9".into(),
        other => other.to_string(),
    }
}
