//! Integration tests of the media probe (issue 3): the committed fixtures, copies of them, large
//! sparse synthetic files and corrupted bytes through `probe::probe_file` / `probe::probe_bytes`;
//! the probe pass over a real archive.db; the sync copying media into a real pokervod.db; the
//! codec-aware HLS check; and the demo archive. Each test states in its name what it proves.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use nas_sync_engine::archive::Archive;
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::probe::{self, MediaInfo, Probe};
use nas_sync_engine::scan::{self, ScanOptions};
use nas_sync_engine::sync::{self, SyncOptions, SyncReport};
use nas_sync_engine::{Config, demo, reconcile};
use rusqlite::{Connection, OptionalExtension, params};

mod common;
use common::{Env, env_with, media_fixture};

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------------

const KIB: u64 = 1024;
/// Tolerance on durations: the TS duration is last PTS minus first PTS (one frame short).
const DURATION_TOLERANCE: f64 = 0.1;

fn media_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/media")
}

fn fixture(name: &str) -> PathBuf {
    media_dir().join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    media_fixture(name)
}

/// What `fixtures/media/make.sh` says each clip is.
struct Expected {
    file: &'static str,
    container: &'static str,
    video: &'static str,
    width: u32,
    height: u32,
    audio: &'static str,
    duration: f64,
}

const EXPECTED: &[Expected] = &[
    Expected {
        file: "h264_faststart.mp4",
        container: "mp4",
        video: "h264",
        width: 320,
        height: 240,
        audio: "aac",
        duration: 1.0,
    },
    Expected {
        file: "h264_moov_end.mp4",
        container: "mp4",
        video: "h264",
        width: 320,
        height: 240,
        audio: "aac",
        duration: 1.0,
    },
    Expected {
        file: "long_moov_end.mp4",
        container: "mp4",
        video: "h264",
        width: 64,
        height: 64,
        audio: "aac",
        duration: 300.0,
    },
    Expected {
        file: "hevc.mp4",
        container: "mp4",
        video: "hevc",
        width: 320,
        height: 180,
        audio: "aac",
        duration: 1.0,
    },
    Expected {
        file: "h264.mov",
        container: "mov",
        video: "h264",
        width: 320,
        height: 240,
        audio: "aac",
        duration: 1.0,
    },
    Expected {
        file: "hevc.mov",
        container: "mov",
        video: "hevc",
        width: 320,
        height: 180,
        audio: "aac",
        duration: 1.0,
    },
    Expected {
        file: "prores.mov",
        container: "mov",
        video: "prores",
        width: 320,
        height: 240,
        audio: "pcm",
        duration: 0.6,
    },
    Expected {
        file: "mpeg2.mov",
        container: "mov",
        video: "mpeg2video",
        width: 320,
        height: 240,
        audio: "aac",
        duration: 1.0,
    },
    Expected {
        file: "h264.ts",
        container: "mpegts",
        video: "h264",
        width: 320,
        height: 240,
        audio: "aac",
        duration: 1.0,
    },
    Expected {
        file: "hevc.ts",
        container: "mpegts",
        video: "hevc",
        width: 320,
        height: 180,
        audio: "aac",
        duration: 1.0,
    },
    Expected {
        file: "h264.mkv",
        container: "matroska",
        video: "h264",
        width: 320,
        height: 240,
        audio: "opus",
        duration: 1.0,
    },
    Expected {
        file: "mpeg2.mxf",
        container: "mxf",
        video: "mpeg2video",
        width: 320,
        height: 240,
        audio: "pcm",
        duration: 0.4,
    },
];

/// Fixtures a pure-Rust parser handles (everything but the MXF).
fn rust_parsed_fixtures() -> impl Iterator<Item = &'static Expected> {
    EXPECTED.iter().filter(|e| !e.file.ends_with(".mxf"))
}

fn ext_of(name: &str) -> &str {
    name.rsplit('.').next().expect("file name has an extension")
}

#[cfg(unix)]
const FFPROBE: &str = "/usr/bin/ffprobe";

/// A configured ffprobe path that does not exist: "ffprobe unavailable".
fn missing_ffprobe(base: &Path) -> PathBuf {
    base.join("no-such-dir").join("ffprobe")
}

fn expect_ok(what: &str, p: &Probe) -> MediaInfo {
    match p {
        Probe::Ok { info } => info.clone(),
        other => panic!("{what}: expected Probe::Ok, got {other:?}"),
    }
}

fn assert_matches(e: &Expected, info: &MediaInfo) {
    let f = e.file;
    assert_eq!(info.container, e.container, "{f}: container");
    assert_eq!(
        info.video_codec.as_deref(),
        Some(e.video),
        "{f}: video codec"
    );
    assert_eq!(info.width, Some(e.width), "{f}: width");
    assert_eq!(info.height, Some(e.height), "{f}: height");
    assert_eq!(
        info.audio_codec.as_deref(),
        Some(e.audio),
        "{f}: audio codec"
    );
    let d = info
        .duration_sec
        .unwrap_or_else(|| panic!("{f}: no duration in {info:?}"));
    assert!(
        (d - e.duration).abs() <= DURATION_TOLERANCE,
        "{f}: duration {d} not within {DURATION_TOLERANCE} s of {}",
        e.duration
    );
}

/// Deterministic pseudo-random numbers (SplitMix64) for reproducible corruptions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Write `data` at `root/rel` (creating folders) with a fresh mtime (the kit's).
fn put_bytes(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    common::put_bytes(root, rel, data);
    root.join(rel)
}

fn put_fixture(root: &Path, rel: &str, fixture_name: &str) -> PathBuf {
    put_bytes(root, rel, &fixture_bytes(fixture_name))
}

/// A fixture MP4/MOV with a trailing `free` box of `pad` bytes: same media, different size.
fn padded_bmff(fixture_name: &str, pad: usize) -> Vec<u8> {
    let mut v = fixture_bytes(fixture_name);
    v.extend_from_slice(&((pad + 8) as u32).to_be_bytes());
    v.extend_from_slice(b"free");
    v.resize(v.len() + pad, 0);
    v
}

/// The kit's env (the share and the databases in a temp dir) with the probe on, two workers of
/// each kind and an ffprobe that does not exist (the Rust parsers only, unless a test says).
fn env() -> Env {
    let mut e = env_with(|c| {
        c.scan_workers = 2;
        c.probe_workers = 2;
        c.probe_media = true;
    });
    e.cfg.ffprobe_path = Some(missing_ffprobe(e.dir()));
    e
}

fn scan(cfg: &Config, archive: &mut Archive) {
    scan::run_scan(cfg, archive, &SystemClock, ScanOptions::default()).expect("scan");
}

fn run_sync(cfg: &Config) -> SyncReport {
    let r = sync::run_sync(cfg, &SystemClock, SyncOptions::default()).expect("sync");
    assert!(r.refused.is_none(), "sync refused: {:?}", r.refused);
    assert!(r.errors.is_empty(), "sync errors: {:?}", r.errors);
    r
}

/// One archive.db `files` row's probe columns.
#[derive(Debug, Clone, PartialEq)]
struct ProbeRow {
    codec: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    duration_sec: Option<f64>,
    audio_codec: Option<String>,
    container: Option<String>,
    status: Option<String>,
    error: Option<String>,
}

fn probe_row(archive: &Archive, path: &str) -> ProbeRow {
    archive
        .conn()
        .query_row(
            "SELECT codec, width, height, duration_sec, audio_codec, container, probe_status,
             probe_error FROM files WHERE path = ?1",
            [path],
            |r| {
                Ok(ProbeRow {
                    codec: r.get(0)?,
                    width: r.get(1)?,
                    height: r.get(2)?,
                    duration_sec: r.get(3)?,
                    audio_codec: r.get(4)?,
                    container: r.get(5)?,
                    status: r.get(6)?,
                    error: r.get(7)?,
                })
            },
        )
        .optional()
        .expect("query archive.db")
        .unwrap_or_else(|| panic!("{path} not in archive.db"))
}

/// One pokervod.db row's media columns (and status).
#[derive(Debug, Clone, PartialEq)]
struct TargetMedia {
    id: i64,
    status: String,
    size_bytes: i64,
    codec: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    duration_sec: Option<f64>,
}

fn target_row(target: &Path, nas_path: &str) -> Option<TargetMedia> {
    let conn = Connection::open(target).expect("open pokervod.db");
    conn.query_row(
        "SELECT id, status, size_bytes, codec, width, height, duration_sec FROM files
         WHERE nas_path = ?1",
        [nas_path],
        |r| {
            Ok(TargetMedia {
                id: r.get(0)?,
                status: r.get(1)?,
                size_bytes: r.get(2)?,
                codec: r.get(3)?,
                width: r.get(4)?,
                height: r.get(5)?,
                duration_sec: r.get(6)?,
            })
        },
    )
    .optional()
    .expect("query pokervod.db")
}

// ---------------------------------------------------------------------------------------------
// 1. Every fixture probes to what make.sh made
// ---------------------------------------------------------------------------------------------

#[test]
fn the_fixture_table_covers_every_committed_clip() {
    let on_disk: BTreeSet<String> = fs::read_dir(media_dir())
        .expect("list fixtures")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n != "make.sh")
        .collect();
    let listed: BTreeSet<String> = EXPECTED.iter().map(|e| e.file.to_string()).collect();
    assert_eq!(on_disk, listed);
}

// Runs Debian's ffprobe: Unix only (under Wine it is a Linux binary).
#[cfg(unix)]
#[test]
fn every_fixture_probes_to_its_container_codecs_resolution_and_duration() {
    let ffprobe = probe::ffprobe::locate(Some(Path::new(FFPROBE)));
    assert!(
        ffprobe.is_some(),
        "{FFPROBE} must be installed for this test"
    );
    for e in EXPECTED {
        let (p, _) = probe::probe_file(&fixture(e.file), ffprobe.as_deref());
        let info = expect_ok(e.file, &p);
        assert_matches(e, &info);
        assert_eq!(
            info.resolution(),
            Some(format!("{}x{}", e.width, e.height)),
            "{}",
            e.file
        );
    }
}

#[test]
fn pure_rust_fixtures_probe_without_ffprobe() {
    for e in rust_parsed_fixtures() {
        let (p, bytes) = probe::probe_file(&fixture(e.file), None);
        assert_matches(e, &expect_ok(e.file, &p));
        assert!(bytes > 0, "{}: the built-in parser read nothing", e.file);
        // The in-memory entry point agrees with the file one.
        let info = probe::probe_bytes(ext_of(e.file), &fixture_bytes(e.file))
            .unwrap_or_else(|err| panic!("{}: probe_bytes failed: {err}", e.file));
        assert_matches(e, &info);
    }
}

#[test]
fn fast_start_and_moov_at_end_mp4_give_equal_results() {
    let (a, _) = probe::probe_file(&fixture("h264_faststart.mp4"), None);
    let (b, _) = probe::probe_file(&fixture("h264_moov_end.mp4"), None);
    let a = expect_ok("fast start", &a);
    assert_eq!(a, expect_ok("moov at end", &b));
    // They really are laid out differently: `moov` first vs. `moov` after `mdat`.
    let fast = fixture_bytes("h264_faststart.mp4");
    let end = fixture_bytes("h264_moov_end.mp4");
    let moov_at = |v: &[u8]| v.windows(4).position(|w| w == b"moov").expect("has moov");
    let mdat_at = |v: &[u8]| v.windows(4).position(|w| w == b"mdat").expect("has mdat");
    assert!(moov_at(&fast) < mdat_at(&fast));
    assert!(moov_at(&end) > mdat_at(&end));
}

// ---------------------------------------------------------------------------------------------
// 2. Byte budget
// ---------------------------------------------------------------------------------------------

#[test]
fn each_fixture_probe_reads_within_its_format_budget() {
    for e in rust_parsed_fixtures() {
        let (p, bytes) = probe::probe_file(&fixture(e.file), None);
        expect_ok(e.file, &p);
        let budget = probe::read_budget(ext_of(e.file)).expect("built-in parser");
        assert!(
            bytes <= budget,
            "{}: read {bytes} bytes, budget {budget}",
            e.file
        );
    }
    // The budgets: MP4/MOV and Matroska 16 KiB, MPEG-TS 128 KiB.
    assert_eq!(probe::read_budget("mp4"), Some(16 * KIB));
    assert_eq!(probe::read_budget("mov"), Some(16 * KIB));
    assert_eq!(probe::read_budget("mkv"), Some(16 * KIB));
    assert_eq!(probe::read_budget("ts"), Some(128 * KIB));
}

/// Top-level ISO BMFF boxes of a small in-memory file: (type, whole box bytes).
fn top_boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        assert!(
            size >= 8 && pos + size <= data.len(),
            "fixture box at {pos}"
        );
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4 bytes");
        out.push((kind, &data[pos..pos + size]));
        pos += size;
    }
    out
}

const GIB: u64 = 1024 * 1024 * 1024;

#[test]
fn mp4_with_a_1_gib_mdat_before_a_trailing_moov_reads_at_most_16_kib() {
    let src = fixture_bytes("h264_moov_end.mp4");
    let boxes = top_boxes(&src);
    let ftyp = boxes.iter().find(|(k, _)| k == b"ftyp").expect("ftyp").1;
    let moov = boxes.iter().find(|(k, _)| k == b"moov").expect("moov").1;
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("huge_moov_end.mp4");
    let mut f = File::create(&path).expect("create");
    f.write_all(ftyp).expect("write ftyp");
    // A 64-bit `mdat` of 1 GiB payload: header now, payload a sparse hole.
    let mdat_payload = GIB;
    f.write_all(&1u32.to_be_bytes()).expect("mdat size32");
    f.write_all(b"mdat").expect("mdat type");
    f.write_all(&(16 + mdat_payload).to_be_bytes())
        .expect("mdat largesize");
    let moov_at = ftyp.len() as u64 + 16 + mdat_payload;
    f.set_len(moov_at).expect("extend sparse");
    f.seek(SeekFrom::Start(moov_at)).expect("seek to moov");
    f.write_all(moov).expect("write moov");
    drop(f);
    let len = fs::metadata(&path).expect("stat").len();
    assert!(len > GIB, "file is {len} bytes");

    let (p, bytes) = probe::probe_file(&path, None);
    let info = expect_ok("1 GiB mp4", &p);
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    assert_eq!((info.width, info.height), (Some(320), Some(240)));
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    let d = info.duration_sec.expect("duration");
    assert!((d - 1.0).abs() <= DURATION_TOLERANCE, "duration {d}");
    assert!(bytes <= 16 * KIB, "read {bytes} bytes of a {len}-byte file");
}

fn null_packet() -> [u8; 188] {
    let mut pkt = [0xFFu8; 188];
    pkt[..4].copy_from_slice(&[0x47, 0x1F, 0xFF, 0x10]);
    pkt
}

/// (packet index, PTS) of every PES start with a PTS in a 188-byte-packet TS.
fn pes_pts_by_packet(ts: &[u8]) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    for (i, p) in ts.chunks_exact(188).enumerate() {
        let start = p[1] & 0x40 != 0;
        let pid = (((p[1] & 0x1F) as u16) << 8) | p[2] as u16;
        let off = match (p[3] >> 4) & 3 {
            1 => 4,
            3 => 5 + p[4] as usize,
            _ => continue,
        };
        let pl = &p[off.min(188)..];
        if !start || pid == 0 || pid == 0x1FFF || pl.len() < 14 || pl[..3] != [0, 0, 1] {
            continue;
        }
        if pl[7] & 0x80 == 0 {
            continue;
        }
        let b = &pl[9..14];
        let t = (((b[0] >> 1) & 7) as u64) << 30
            | (b[1] as u64) << 22
            | ((b[2] >> 1) as u64) << 15
            | (b[3] as u64) << 7
            | (b[4] >> 1) as u64;
        out.push((i, t));
    }
    out
}

#[test]
fn mpeg_ts_padded_to_100_mb_with_null_packets_reads_at_most_128_kib() {
    let src = fixture_bytes("h264.ts");
    assert_eq!(src.len() % 188, 0, "fixture is whole 188-byte packets");
    // Split between the PES with the earliest PTS and the one with the latest (B-frames and
    // interleaved audio make neither the first nor the last packet), as in a long recording
    // where the first and last GOPs are megabytes apart.
    let pts = pes_pts_by_packet(&src);
    let earliest = pts.iter().min_by_key(|(_, t)| *t).expect("PES with PTS").0;
    let latest = pts.iter().max_by_key(|(_, t)| *t).expect("PES with PTS").0;
    assert!(
        earliest < latest,
        "earliest PTS at packet {earliest}, latest at {latest}"
    );
    let split = latest * 188;
    let (head, tail) = src.split_at(split);
    // Written for real (null packets are 0xFF-filled, not holes): in RAM when /dev/shm exists.
    let tmp = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").expect("tempdir in /dev/shm")
    } else {
        tempfile::tempdir().expect("tempdir")
    };
    let path = tmp.path().join("padded.ts");
    let mut f = std::io::BufWriter::with_capacity(1 << 20, File::create(&path).expect("create"));
    f.write_all(head).expect("write head");
    let chunk: Vec<u8> = null_packet().repeat(5000);
    let target_len: u64 = 100 * 1000 * 1000;
    let mut written = head.len() as u64;
    while written + (tail.len() as u64) < target_len {
        f.write_all(&chunk).expect("write null packets");
        written += chunk.len() as u64;
    }
    f.write_all(tail).expect("write tail");
    f.flush().expect("flush");
    drop(f);
    let len = fs::metadata(&path).expect("stat").len();
    assert!(len >= target_len, "file is {len} bytes");

    let (p, bytes) = probe::probe_file(&path, None);
    let info = expect_ok("100 MB ts", &p);
    assert_eq!(info.container, "mpegts");
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    assert_eq!((info.width, info.height), (Some(320), Some(240)));
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    let d = info.duration_sec.expect("duration from head and tail PTS");
    assert!((d - 1.0).abs() <= DURATION_TOLERANCE, "duration {d}");
    let (unpadded, _) = probe::probe_file(&fixture("h264.ts"), None);
    assert_eq!(
        info,
        expect_ok("h264.ts", &unpadded),
        "padding changes nothing"
    );
    assert!(
        bytes <= 128 * KIB,
        "read {bytes} bytes of a {len}-byte file"
    );
}

/// An EBML variable-length integer at `b[0..]`: (value without marker, length).
fn ebml_vint(b: &[u8]) -> (u64, usize) {
    let len = b[0].leading_zeros() as usize + 1;
    assert!(len <= 8, "bad vint");
    let mut v = (b[0] as u64) & ((1u64 << (8 - len)) - 1);
    for &x in &b[1..len] {
        v = (v << 8) | x as u64;
    }
    (v, len)
}

/// An 8-byte EBML size.
fn ebml_size8(v: u64) -> [u8; 8] {
    ((1u64 << 56) | v).to_be_bytes()
}

#[test]
fn mkv_with_a_1_gib_void_element_before_its_tracks_reads_at_most_16_kib() {
    let src = fixture_bytes("h264.mkv");
    // EBML header: 4-byte id, size, payload.
    assert_eq!(src[0..4], [0x1A, 0x45, 0xDF, 0xA3]);
    let (ebml_size, ebml_len) = ebml_vint(&src[4..]);
    let seg_at = 4 + ebml_len + ebml_size as usize;
    assert_eq!(src[seg_at..seg_at + 4], [0x18, 0x53, 0x80, 0x67], "Segment");
    let (_, seg_size_len) = ebml_vint(&src[seg_at + 4..]);
    let seg_payload = &src[seg_at + 4 + seg_size_len..];

    // EBML header, Segment (known size), Void (0xEC) of 1 GiB as a sparse hole, then the
    // fixture's Segment children (SeekHead, Info, Tracks, Clusters, Cues).
    let void_payload = GIB;
    let void_total = 1 + 8 + void_payload;
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("huge.mkv");
    let mut f = File::create(&path).expect("create");
    f.write_all(&src[..seg_at]).expect("write EBML header");
    f.write_all(&[0x18, 0x53, 0x80, 0x67]).expect("segment id");
    f.write_all(&ebml_size8(void_total + seg_payload.len() as u64))
        .expect("segment size");
    f.write_all(&[0xEC]).expect("void id");
    f.write_all(&ebml_size8(void_payload)).expect("void size");
    let children_at = f.stream_position().expect("position") + void_payload;
    f.set_len(children_at).expect("extend sparse");
    f.seek(SeekFrom::Start(children_at)).expect("seek");
    f.write_all(seg_payload).expect("write segment children");
    drop(f);
    let len = fs::metadata(&path).expect("stat").len();
    assert!(len > GIB, "file is {len} bytes");

    let (p, bytes) = probe::probe_file(&path, None);
    let info = expect_ok("1 GiB mkv", &p);
    assert_eq!(info.container, "matroska");
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    assert_eq!((info.width, info.height), (Some(320), Some(240)));
    assert_eq!(info.audio_codec.as_deref(), Some("opus"));
    assert!(bytes <= 16 * KIB, "read {bytes} bytes of a {len}-byte file");
}

// ---------------------------------------------------------------------------------------------
// 3. Robustness: truncated, empty, corrupted and mislabelled files
// ---------------------------------------------------------------------------------------------

#[test]
fn zero_byte_files_are_failed_with_a_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for ext in ["mp4", "mov", "ts", "mkv"] {
        let path = tmp.path().join(format!("empty.{ext}"));
        File::create(&path).expect("create empty file");
        let (p, bytes) = probe::probe_file(&path, None);
        match p {
            Probe::Failed { error } => {
                assert!(!error.trim().is_empty(), ".{ext}: empty error");
                assert!(error.contains("empty"), ".{ext}: {error}");
            }
            other => panic!(".{ext}: expected Failed, got {other:?}"),
        }
        assert_eq!(bytes, 0);
        let err = probe::probe_bytes(ext, &[]).expect_err("empty bytes must not parse");
        assert!(
            !err.trim().is_empty(),
            ".{ext}: empty error from probe_bytes"
        );
    }
}

#[test]
fn a_text_file_named_mp4_is_failed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("notes.mp4");
    fs::write(
        &path,
        "This is not a video.\nJust some meeting notes about WSOP 2024.\n".repeat(20),
    )
    .expect("write text");
    match probe::probe_file(&path, None).0 {
        Probe::Failed { error } => assert!(!error.trim().is_empty()),
        other => panic!("expected Failed, got {other:?}"),
    }
    // Same for the other built-in parsers.
    for ext in ["mov", "ts", "mkv"] {
        let err = probe::probe_bytes(ext, b"hello, world: not media at all\n")
            .expect_err("text must not parse");
        assert!(!err.trim().is_empty(), ".{ext}");
    }
}

/// Probe `data` as `ext`, catching a panic. `Err(msg)` = the parser panicked.
fn probe_no_panic(ext: &str, data: &[u8]) -> Result<Result<MediaInfo, String>, String> {
    catch_unwind(AssertUnwindSafe(|| probe::probe_bytes(ext, data))).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

#[test]
fn truncated_fixtures_never_panic_and_errors_have_messages() {
    let mut problems = Vec::new();
    for e in rust_parsed_fixtures() {
        let data = fixture_bytes(e.file);
        let ext = ext_of(e.file);
        let mut cuts: BTreeSet<usize> = (1..=64).collect();
        cuts.extend((0..50).map(|i| data.len() * i / 50));
        cuts.insert(data.len() - 1);
        for cut in cuts {
            match probe_no_panic(ext, &data[..cut]) {
                Err(panic) => problems.push(format!("{}[..{cut}]: panicked: {panic}", e.file)),
                Ok(Err(msg)) if msg.trim().is_empty() => {
                    problems.push(format!("{}[..{cut}]: empty error", e.file))
                }
                // The first 64 bytes hold no track table in any fixture.
                Ok(Ok(info)) if cut <= 64 => {
                    problems.push(format!("{}[..{cut}]: parsed as {info:?}", e.file))
                }
                Ok(Ok(info)) if info.container.is_empty() => {
                    problems.push(format!("{}[..{cut}]: Ok without a container", e.file))
                }
                Ok(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn truncated_copies_on_disk_probe_to_ok_or_failed_with_a_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for e in rust_parsed_fixtures() {
        let data = fixture_bytes(e.file);
        for i in 1..10 {
            let cut = data.len() * i / 10;
            let path = tmp.path().join(format!("cut{i}_{}", e.file));
            fs::write(&path, &data[..cut]).expect("write truncated copy");
            let (p, bytes) = probe::probe_file(&path, None);
            match p {
                Probe::Ok { info } => assert!(!info.container.is_empty(), "{}", e.file),
                Probe::Failed { error } => {
                    assert!(!error.trim().is_empty(), "{} cut at {cut}", e.file)
                }
                Probe::Unsupported { reason } => {
                    panic!(
                        "{} cut at {cut}: built-in format unsupported: {reason}",
                        e.file
                    )
                }
            }
            assert!(
                bytes <= cut as u64,
                "{}: read {bytes} of {cut} bytes",
                e.file
            );
        }
    }
}

/// The byte ranges of `data` a parser of `ext` actually reads: box headers and `moov` for
/// MP4/MOV, the first and last packets for MPEG-TS (PAT, PMT, SPS, PTS), everything before the
/// first Cluster for Matroska.
fn parsed_spans(ext: &str, data: &[u8]) -> Vec<std::ops::Range<usize>> {
    match ext {
        "mp4" | "mov" => {
            let mut spans = Vec::new();
            let mut pos = 0;
            for (kind, b) in top_boxes(data) {
                if &kind == b"moov" || &kind == b"ftyp" {
                    spans.push(pos..pos + b.len());
                } else {
                    spans.push(pos..pos + 16);
                }
                pos += b.len();
            }
            spans
        }
        "ts" => {
            let n = (12 * 188).min(data.len());
            vec![0..n, data.len() - n..data.len()]
        }
        "mkv" => {
            let cluster = data
                .windows(4)
                .position(|w| w == [0x1F, 0x43, 0xB6, 0x75])
                .expect("a Cluster");
            std::iter::once(0..cluster).collect()
        }
        other => panic!("no spans for .{other}"),
    }
}

#[test]
fn randomly_corrupted_fixtures_never_panic_and_errors_have_messages() {
    let mut problems = Vec::new();
    let mut rejected = 0usize;
    let mut cases = 0usize;
    for (fi, e) in rust_parsed_fixtures().enumerate() {
        let data = fixture_bytes(e.file);
        let ext = ext_of(e.file);
        let spans = parsed_spans(ext, &data);
        for case in 0..200u64 {
            let seed = 0xC0FF_EE00 + (fi as u64) * 1000 + case;
            let mut rng = Rng(seed);
            let mut bad = data.clone();
            let edits = 1 + rng.below(6);
            for _ in 0..edits {
                // Mostly where the parser looks, sometimes anywhere.
                let range = if rng.below(5) == 0 {
                    0..bad.len()
                } else {
                    spans[rng.below(spans.len() as u64) as usize].clone()
                };
                let i = range.start + rng.below(range.len() as u64) as usize;
                match rng.below(6) {
                    // A size or length field set to an extreme value.
                    0 if i + 4 <= bad.len() => {
                        let v: u32 = [0, 1, 7, 8, 0x7FFF_FFFF, 0xFFFF_FFFF][rng.below(6) as usize];
                        bad[i..i + 4].copy_from_slice(&v.to_be_bytes());
                    }
                    1 => bad[i] = 0x00,
                    2 => bad[i] = 0xFF,
                    3 => bad[i] ^= 1 << rng.below(8),
                    _ => bad[i] = rng.next() as u8,
                }
            }
            cases += 1;
            match probe_no_panic(ext, &bad) {
                Err(panic) => problems.push(format!(
                    "{} (seed {seed:#x}, {edits} edits): panicked: {panic}",
                    e.file
                )),
                Ok(Err(msg)) if msg.trim().is_empty() => {
                    problems.push(format!("{} (seed {seed:#x}): empty error", e.file))
                }
                Ok(Err(_)) => rejected += 1,
                Ok(Ok(info)) if info.container.is_empty() => problems.push(format!(
                    "{} (seed {seed:#x}): Ok without a container",
                    e.file
                )),
                Ok(Ok(_)) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The corruptions reach the parsed structures: a fair share is rejected.
    assert!(
        rejected * 20 >= cases,
        "only {rejected} of {cases} corrupted files were rejected"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. ffprobe fallback
// ---------------------------------------------------------------------------------------------

#[test]
fn mxf_without_ffprobe_is_unsupported_with_reason_unknown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = missing_ffprobe(tmp.path());
    let located = probe::ffprobe::locate(Some(&missing));
    assert_eq!(
        located, None,
        "a configured path that does not exist is not used"
    );
    let (p, bytes) = probe::probe_file(&fixture("mpeg2.mxf"), located.as_deref());
    match p {
        Probe::Unsupported { reason } => assert!(reason.contains("unknown"), "{reason}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(bytes, 0);
}

// Runs Debian's ffprobe: Unix only (under Wine it is a Linux binary).
#[cfg(unix)]
#[test]
fn mxf_with_ffprobe_is_mpeg2video_320x240() {
    let located = probe::ffprobe::locate(Some(Path::new(FFPROBE))).expect("ffprobe located");
    assert_eq!(located, PathBuf::from(FFPROBE));
    let (p, _) = probe::probe_file(&fixture("mpeg2.mxf"), Some(&located));
    let info = expect_ok("mpeg2.mxf", &p);
    assert_eq!(info.container, "mxf");
    assert_eq!(info.video_codec.as_deref(), Some("mpeg2video"));
    assert_eq!((info.width, info.height), (Some(320), Some(240)));
}

// ---------------------------------------------------------------------------------------------
// 5. The probe pass over archive.db
// ---------------------------------------------------------------------------------------------

/// A share with fixture copies, a corrupt .mp4 and an .avi (a Matroska clip ffprobe can read).
fn probe_tree(root: &Path) {
    put_fixture(root, "WSOP/2024/ep1_h264.mp4", "h264_faststart.mp4");
    put_fixture(root, "WSOP/2024/ep2_hevc.mov", "hevc.mov");
    put_fixture(root, "HCL/live_h264.ts", "h264.ts");
    put_fixture(root, "HCL/live_hevc.mkv", "h264.mkv");
    put_fixture(root, "PAD/raw_prores.mov", "prores.mov");
    let mut junk = b"garbage, not an mp4".to_vec();
    junk.resize(5000, 0xAB);
    put_bytes(root, "PAD/corrupt.mp4", &junk);
    put_fixture(root, "PAD/old.avi", "h264.mkv");
    put_bytes(
        root,
        "WSOP/2024/ep1_h264.srt",
        b"1\n00:00:00,000 --> 00:00:01,000\nhi\n",
    );
}

#[test]
fn probe_pass_fills_archive_columns_and_records_failures_once() {
    let env = env();
    probe_tree(&env.root);
    let mut archive = Archive::open(&env.archive).expect("open archive.db");
    scan(&env.cfg, &mut archive);
    let stats = probe::probe_pending(&mut archive, &env.cfg, None, None).expect("probe pass");
    assert_eq!(stats.pending, 7, "{stats:?}");
    assert_eq!(stats.probed, 7, "{stats:?}");
    assert_eq!(
        (stats.ok, stats.failed, stats.unsupported),
        (5, 1, 1),
        "{stats:?}"
    );
    assert!(!stats.ffprobe);

    let ok = probe_row(&archive, "WSOP/2024/ep1_h264.mp4");
    assert_eq!(ok.status.as_deref(), Some("ok"));
    assert_eq!(ok.codec.as_deref(), Some("h264"));
    assert_eq!((ok.width, ok.height), (Some(320), Some(240)));
    let d = ok.duration_sec.expect("duration stored");
    assert!((d - 1.0).abs() <= DURATION_TOLERANCE, "{d}");
    assert_eq!(ok.audio_codec.as_deref(), Some("aac"));
    assert_eq!(ok.container.as_deref(), Some("mp4"));
    assert_eq!(ok.error, None);

    for (path, codec, w, h, container) in [
        ("WSOP/2024/ep2_hevc.mov", "hevc", 320, 180, "mov"),
        ("HCL/live_h264.ts", "h264", 320, 240, "mpegts"),
        ("HCL/live_hevc.mkv", "h264", 320, 240, "matroska"),
        ("PAD/raw_prores.mov", "prores", 320, 240, "mov"),
    ] {
        let r = probe_row(&archive, path);
        assert_eq!(r.status.as_deref(), Some("ok"), "{path}: {r:?}");
        assert_eq!(r.codec.as_deref(), Some(codec), "{path}");
        assert_eq!((r.width, r.height), (Some(w), Some(h)), "{path}");
        assert_eq!(r.container.as_deref(), Some(container), "{path}");
        assert!(r.duration_sec.is_some(), "{path}");
        assert!(r.audio_codec.is_some(), "{path}");
    }

    let bad = probe_row(&archive, "PAD/corrupt.mp4");
    assert_eq!(bad.status.as_deref(), Some("failed"));
    assert!(
        bad.error.as_deref().is_some_and(|e| !e.trim().is_empty()),
        "{bad:?}"
    );
    assert_eq!(
        (&bad.codec, bad.width, &bad.container),
        (&None, None, &None)
    );

    let avi = probe_row(&archive, "PAD/old.avi");
    assert_eq!(avi.status.as_deref(), Some("unsupported"));
    assert!(
        avi.error.as_deref().is_some_and(|e| e.contains("unknown")),
        "{avi:?}"
    );
    assert_eq!(avi.codec, None);

    // Subtitles are not probed.
    let srt = probe_row(&archive, "WSOP/2024/ep1_h264.srt");
    assert_eq!(srt.status, None);

    // A second pass (after a rescan that changed nothing) has nothing to do: the failure is
    // not retried and "unsupported" waits for ffprobe.
    scan(&env.cfg, &mut archive);
    let again = probe::probe_pending(&mut archive, &env.cfg, None, None).expect("second pass");
    assert_eq!(again.pending, 0, "{again:?}");
    assert_eq!(again.probed, 0);
    assert_eq!(probe_row(&archive, "PAD/corrupt.mp4"), bad);
}

#[test]
fn a_failed_file_is_probed_again_after_it_changes() {
    let env = env();
    probe_tree(&env.root);
    let mut archive = Archive::open(&env.archive).expect("open archive.db");
    scan(&env.cfg, &mut archive);
    probe::probe_pending(&mut archive, &env.cfg, None, None).expect("probe pass");
    assert_eq!(
        probe_row(&archive, "PAD/corrupt.mp4").status.as_deref(),
        Some("failed")
    );

    // The file is replaced by a real clip: new size, new mtime.
    put_fixture(&env.root, "PAD/corrupt.mp4", "hevc.mp4");
    scan(&env.cfg, &mut archive);
    let cleared = probe_row(&archive, "PAD/corrupt.mp4");
    assert_eq!(
        cleared.status, None,
        "the scan clears a modified file's probe"
    );
    assert_eq!(cleared.error, None);
    let stats = probe::probe_pending(&mut archive, &env.cfg, None, None).expect("probe again");
    assert_eq!((stats.pending, stats.ok), (1, 1), "{stats:?}");
    let fixed = probe_row(&archive, "PAD/corrupt.mp4");
    assert_eq!(fixed.status.as_deref(), Some("ok"));
    assert_eq!(fixed.codec.as_deref(), Some("hevc"));
    assert_eq!((fixed.width, fixed.height), (Some(320), Some(180)));
    assert_eq!(fixed.error, None);
}

#[test]
fn a_cancelled_probe_pass_probes_nothing_and_the_next_pass_resumes() {
    let env = env();
    probe_tree(&env.root);
    let mut archive = Archive::open(&env.archive).expect("open archive.db");
    scan(&env.cfg, &mut archive);
    let cancel = AtomicBool::new(true);
    let stats =
        probe::probe_pending(&mut archive, &env.cfg, Some(&cancel), None).expect("cancelled");
    assert_eq!(stats.pending, 7);
    assert_eq!(stats.probed, 0, "{stats:?}");
    assert_eq!(stats.remaining, 7, "{stats:?}");
    let unprobed: i64 = archive
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM files WHERE kind = 'video' AND probe_status IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(unprobed, 7);

    let stats = probe::probe_pending(&mut archive, &env.cfg, None, None).expect("resumed");
    assert_eq!((stats.pending, stats.probed, stats.remaining), (7, 7, 0));
    let unprobed: i64 = archive
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM files WHERE kind = 'video' AND probe_status IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(unprobed, 0);
}

// Runs Debian's ffprobe: Unix only (under Wine it is a Linux binary).
#[cfg(unix)]
#[test]
fn an_unsupported_avi_is_probed_again_once_ffprobe_is_available() {
    let env = env();
    put_fixture(&env.root, "PAD/old.avi", "h264.mkv");
    put_fixture(&env.root, "PAD/clip.mp4", "h264_faststart.mp4");
    let mut archive = Archive::open(&env.archive).expect("open archive.db");
    scan(&env.cfg, &mut archive);
    probe::probe_pending(&mut archive, &env.cfg, None, None).expect("without ffprobe");
    assert_eq!(
        probe_row(&archive, "PAD/old.avi").status.as_deref(),
        Some("unsupported")
    );

    let with_ffprobe = Config {
        ffprobe_path: Some(PathBuf::from(FFPROBE)),
        ..env.cfg.clone()
    };
    let stats = probe::probe_pending(&mut archive, &with_ffprobe, None, None).expect("ffprobe");
    assert!(stats.ffprobe);
    assert_eq!(stats.pending, 1, "only the unsupported file: {stats:?}");
    let avi = probe_row(&archive, "PAD/old.avi");
    assert!(
        matches!(avi.status.as_deref(), Some("ok" | "failed")),
        "{avi:?}"
    );
    // The clip is really a Matroska/H.264 file, which ffprobe reads.
    assert_eq!(avi.status.as_deref(), Some("ok"), "{avi:?}");
    assert_eq!(avi.codec.as_deref(), Some("h264"));
    assert_eq!((avi.width, avi.height), (Some(320), Some(240)));
    let after = probe::probe_pending(&mut archive, &with_ffprobe, None, None).expect("again");
    assert_eq!(after.pending, 0);
}

// ---------------------------------------------------------------------------------------------
// 6. Sync copies media into the Target
// ---------------------------------------------------------------------------------------------

#[test]
fn sync_copies_codec_resolution_and_duration_into_inserted_rows() {
    let env = env();
    put_fixture(&env.root, "WSOP/2024/a_h264.mp4", "h264_faststart.mp4");
    put_fixture(&env.root, "WSOP/2024/b_hevc.mp4", "hevc.mp4");
    put_fixture(&env.root, "HCL/c_h264.ts", "h264.ts");
    put_fixture(&env.root, "HCL/d_hevc.mov", "hevc.mov");
    put_fixture(&env.root, "HCL/e_h264.mkv", "h264.mkv");
    let r = run_sync(&env.cfg);
    assert_eq!(r.added, 4, "mp4/mov/ts are HLS, mkv is not: {r:?}");
    let probe = r.probe.as_ref().expect("a probe pass ran before planning");
    assert_eq!(probe.ok, 5, "{probe:?}");
    for (path, codec, w, h) in [
        ("WSOP/2024/a_h264.mp4", "h264", 320, 240),
        ("WSOP/2024/b_hevc.mp4", "hevc", 320, 180),
        ("HCL/c_h264.ts", "h264", 320, 240),
        ("HCL/d_hevc.mov", "hevc", 320, 180),
    ] {
        let row = target_row(&env.target, path).unwrap_or_else(|| panic!("{path} not inserted"));
        assert_eq!(row.status, "active");
        assert_eq!(row.codec.as_deref(), Some(codec), "{path}");
        assert_eq!((row.width, row.height), (Some(w), Some(h)), "{path}");
        let d = row
            .duration_sec
            .unwrap_or_else(|| panic!("{path}: no duration"));
        assert!((d - 1.0).abs() <= DURATION_TOLERANCE, "{path}: {d}");
    }
    assert_eq!(target_row(&env.target, "HCL/e_h264.mkv"), None);
    // Nothing left to do.
    let again = run_sync(&env.cfg);
    assert_eq!((again.added, again.updated, again.deleted), (0, 0, 0));
}

#[test]
fn an_unprobed_file_never_nulls_media_the_owner_set_on_its_target_row() {
    let mut env = env();
    env.cfg.probe_media = false;
    let rel = "WSOP/2024/owner.mp4";
    put_fixture(&env.root, rel, "h264_faststart.mp4");
    let r = run_sync(&env.cfg);
    assert_eq!(r.added, 1);
    assert!(r.probe.is_none(), "probe_media = false runs no probe pass");
    let row = target_row(&env.target, rel).expect("inserted");
    assert_eq!((row.codec, row.width), (None, None), "unprobed: no media");

    // The catalog's owner fills in media by hand.
    let owner = Connection::open(&env.target).expect("open pokervod.db");
    owner
        .execute(
            "UPDATE files SET codec = 'owner-codec', width = 1920, height = 1080,
             duration_sec = 3600.5 WHERE id = ?1",
            params![row.id],
        )
        .expect("owner update");
    drop(owner);

    // Our file changes (bigger, same media) while still unprobed: the row is updated, the
    // owner's media stays (COALESCE).
    put_bytes(&env.root, rel, &padded_bmff("h264_faststart.mp4", 777));
    let r = run_sync(&env.cfg);
    assert_eq!(r.updated, 1, "{r:?}");
    let row = target_row(&env.target, rel).expect("row");
    let new_size = fs::metadata(env.root.join(rel)).expect("stat").len() as i64;
    assert_eq!(row.size_bytes, new_size, "the row describes the new file");
    assert_eq!(row.codec.as_deref(), Some("owner-codec"));
    assert_eq!((row.width, row.height), (Some(1920), Some(1080)));
    assert_eq!(row.duration_sec, Some(3600.5));
    // And nothing more to do while unprobed.
    let r = run_sync(&env.cfg);
    assert_eq!((r.added, r.updated, r.deleted), (0, 0, 0), "{r:?}");
    assert_eq!(
        target_row(&env.target, rel).expect("row").codec.as_deref(),
        Some("owner-codec")
    );

    // Now probed: the probed values differ from the Target's, so the row is updated once...
    env.cfg.probe_media = true;
    let r = run_sync(&env.cfg);
    assert_eq!(r.updated, 1, "{r:?}");
    assert_eq!((r.added, r.deleted), (0, 0));
    let row = target_row(&env.target, rel).expect("row");
    assert_eq!(row.codec.as_deref(), Some("h264"));
    assert_eq!((row.width, row.height), (Some(320), Some(240)));
    let d = row.duration_sec.expect("duration");
    assert!((d - 1.0).abs() <= DURATION_TOLERANCE, "{d}");
    // ...and a re-sync is a no-op.
    let r = run_sync(&env.cfg);
    assert_eq!(
        (r.added, r.updated, r.moved, r.restored, r.deleted),
        (0, 0, 0, 0, 0),
        "{r:?}"
    );
    assert_eq!(target_row(&env.target, rel).expect("row"), row);
}

#[test]
fn with_a_zero_probe_budget_media_reaches_the_target_with_the_sync_after_the_probe_pass() {
    let mut env = env();
    env.cfg.probe_budget_secs = 0;
    let rel = "WSOP/2024/late.mp4";
    put_fixture(&env.root, rel, "hevc.mp4");
    let r = run_sync(&env.cfg);
    assert_eq!(r.added, 1);
    assert!(r.probe.is_none(), "a zero budget never waits for probes");
    let row = target_row(&env.target, rel).expect("inserted");
    assert_eq!(row.codec, None);

    // The background pass after the sync (as the CLI and the app run it)...
    let mut archive = Archive::open(&env.archive).expect("open archive.db");
    let stats = probe::probe_pending(&mut archive, &env.cfg, None, None).expect("probe pass");
    assert_eq!((stats.pending, stats.ok), (1, 1), "{stats:?}");
    drop(archive);
    // ...and the next sync carries the media over.
    let r = run_sync(&env.cfg);
    assert_eq!((r.added, r.updated), (0, 1), "{r:?}");
    let row = target_row(&env.target, rel).expect("row");
    assert_eq!(row.codec.as_deref(), Some("hevc"));
    assert_eq!((row.width, row.height), (Some(320), Some(180)));
}

// ---------------------------------------------------------------------------------------------
// 7. Codec-aware HLS check
// ---------------------------------------------------------------------------------------------

const PRORES_PATH: &str = "PAD/raw/final_prores.mov";
const H264_PATH: &str = "PAD/final_h264.mp4";

#[test]
fn prores_in_mov_is_synced_but_flagged_for_transcoding_by_default() {
    let env = env();
    put_fixture(&env.root, PRORES_PATH, "prores.mov");
    put_fixture(&env.root, H264_PATH, "h264_faststart.mp4");
    let r = run_sync(&env.cfg);
    assert_eq!(r.added, 2, "{r:?}");
    let row = target_row(&env.target, PRORES_PATH).expect("prores row inserted");
    assert_eq!(row.status, "active");
    assert_eq!(row.codec.as_deref(), Some("prores"));

    let rep = reconcile::reconcile(&env.cfg, &SystemClock).expect("reconcile");
    assert_eq!(rep.needs_transcode.count, 1, "{:?}", rep.needs_transcode);
    let w = &rep.needs_transcode.items[0];
    assert_eq!(w.path, PRORES_PATH);
    assert_eq!(w.codec, "prores");
    assert!(w.reason.contains("ProRes"), "{}", w.reason);
    assert!(w.reason.contains("트랜스코딩 필요"), "{}", w.reason);
    assert!(rep.in_sync, "a codec warning is not drift");
}

#[test]
fn strict_codec_check_keeps_prores_out_of_the_target() {
    let mut env = env();
    env.cfg.strict_codec_check = true;
    put_fixture(&env.root, PRORES_PATH, "prores.mov");
    put_fixture(&env.root, H264_PATH, "h264_faststart.mp4");
    let r = run_sync(&env.cfg);
    assert_eq!(r.added, 1, "{r:?}");
    assert!(target_row(&env.target, H264_PATH).is_some());
    assert_eq!(target_row(&env.target, PRORES_PATH), None);
}

#[test]
fn turning_on_strict_codec_check_soft_deletes_an_already_synced_prores_row() {
    let mut env = env();
    put_fixture(&env.root, PRORES_PATH, "prores.mov");
    put_fixture(&env.root, H264_PATH, "h264_faststart.mp4");
    let r = run_sync(&env.cfg);
    assert_eq!(r.added, 2, "{r:?}");
    env.cfg.strict_codec_check = true;
    let r = run_sync(&env.cfg);
    assert_eq!((r.deleted, r.added, r.updated), (1, 0, 0), "{r:?}");
    let row = target_row(&env.target, PRORES_PATH).expect("row kept (soft delete)");
    assert_eq!(row.status, "deleted");
    assert_eq!(
        target_row(&env.target, H264_PATH).expect("h264 row").status,
        "active"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. The demo archive carries real media
// ---------------------------------------------------------------------------------------------

/// nas_path, format, codec, width, height of an active Target row.
type DemoRow = (String, String, Option<String>, Option<i64>, Option<i64>);

#[test]
fn demo_sync_puts_real_codecs_and_resolutions_into_the_target() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let report = demo::write_demo(&dir, 80).expect("write demo");
    let (cfg, _) = Config::load(Some(&report.config)).expect("load demo config");
    let r = run_sync(&cfg);
    assert!(r.added > 0, "{r:?}");
    let conn = Connection::open(cfg.target_db.as_deref().expect("demo has a target"))
        .expect("open demo pokervod.db");
    let mut stmt = conn
        .prepare("SELECT nas_path, format, codec, width, height FROM files WHERE status = 'active'")
        .expect("prepare");
    let rows: Vec<DemoRow> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert!(!rows.is_empty());
    let codecs: BTreeSet<&str> = rows.iter().filter_map(|r| r.2.as_deref()).collect();
    assert!(codecs.contains("h264"), "{codecs:?}");
    assert!(codecs.contains("hevc"), "{codecs:?}");
    for (path, format, codec, w, h) in &rows {
        assert!(codec.is_some(), "{path}: no codec in the Target");
        if format == "mp4" {
            assert!(w.is_some() && h.is_some(), "{path}: no resolution");
        }
    }
}
