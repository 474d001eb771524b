//! What the engine reads from the *content* of archive files, measured with the process-wide
//! counters of `content_io` (on the SMB share every byte is a network transfer and a seek on
//! the NAS's disks): the fingerprint pass reads only files whose (size, mtime) is shared, a
//! no-change rescan or sync reads nothing, each probe stays within its format's budget with one
//! open, and a hung read makes the passes stop (`share_timeout`) or cancel instead of hanging.
//!
//! The counters are global and the tests of one binary run on parallel threads, so every test
//! here holds [`serial`] for its whole run; this binary holds no other tests.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nas_sync_engine::archive::Archive;
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::content_io::{self, ContentReads};
use nas_sync_engine::probe::{self, MediaInfo, Probe};
use nas_sync_engine::runtime::after_job::{IndexStep, after_job};
use nas_sync_engine::scan::{self, ScanOptions};
use nas_sync_engine::sync::{self, SyncOptions};
use nas_sync_engine::{Config, Error};

mod common;
use common::{env_with, media_fixture, put_bytes_at};

static SERIAL: Mutex<()> = Mutex::new(());

/// Hold the counters for this test alone.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Large files made from the fixtures
// ---------------------------------------------------------------------------------------------

/// Top-level ISO BMFF boxes of a fixture (32-bit sizes): (type, whole box bytes).
fn top_boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        assert!(size >= 8 && pos + size <= data.len(), "box at {pos}");
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4 bytes");
        out.push((kind, &data[pos..pos + size]));
        pos += size;
    }
    out
}

/// A copy of an MP4/MOV fixture whose `moov` comes after its `mdat`, with the `mdat` grown to
/// make the file `total` bytes (a 64-bit `mdat`: the real media data, then a sparse hole).
fn bmff_moov_at_end(dir: &Path, fixture: &str, total: u64) -> PathBuf {
    let data = media_fixture(fixture);
    let boxes = top_boxes(&data);
    let kinds: Vec<[u8; 4]> = boxes.iter().map(|b| b.0).collect();
    let at = |k: &[u8; 4]| kinds.iter().position(|x| x == k).expect("box");
    assert!(at(b"mdat") < at(b"moov"), "{fixture}: moov at the end");
    let path = dir.join(format!("large_{fixture}"));
    let mut f = File::create(&path).expect("create");
    let pad = total.saturating_sub(data.len() as u64);
    for (kind, b) in boxes {
        if &kind == b"mdat" {
            let payload = &b[8..];
            f.write_all(&1u32.to_be_bytes()).expect("mdat size32");
            f.write_all(b"mdat").expect("mdat type");
            f.write_all(&(16 + payload.len() as u64 + pad).to_be_bytes())
                .expect("mdat largesize");
            f.write_all(payload).expect("mdat payload");
            let end = f.stream_position().expect("position") + pad;
            f.set_len(end).expect("extend sparse");
            f.seek(SeekFrom::Start(end)).expect("seek");
        } else {
            f.write_all(b).expect("write box");
        }
    }
    drop(f);
    path
}

/// An EBML variable-length integer at `b[0..]`: (value without marker, length).
fn ebml_vint(b: &[u8]) -> (u64, usize) {
    let len = b[0].leading_zeros() as usize + 1;
    let mut v = (b[0] as u64) & ((1u64 << (8 - len)) - 1);
    for &x in &b[1..len] {
        v = (v << 8) | x as u64;
    }
    (v, len)
}

/// `h264.mkv` with a sparse Void element of `void` bytes before the Segment's children.
fn mkv_with_void(dir: &Path, void: u64) -> PathBuf {
    let src = media_fixture("h264.mkv");
    let (ebml_size, ebml_len) = ebml_vint(&src[4..]);
    let seg_at = 4 + ebml_len + ebml_size as usize;
    let (_, seg_size_len) = ebml_vint(&src[seg_at + 4..]);
    let children = &src[seg_at + 4 + seg_size_len..];
    let size8 = |v: u64| ((1u64 << 56) | v).to_be_bytes();
    let path = dir.join("large_h264.mkv");
    let mut f = File::create(&path).expect("create");
    f.write_all(&src[..seg_at]).expect("EBML header");
    f.write_all(&[0x18, 0x53, 0x80, 0x67]).expect("segment id");
    f.write_all(&size8(1 + 8 + void + children.len() as u64))
        .expect("segment size");
    f.write_all(&[0xEC]).expect("void id");
    f.write_all(&size8(void)).expect("void size");
    let end = f.stream_position().expect("position") + void;
    f.set_len(end).expect("extend sparse");
    f.seek(SeekFrom::Start(end)).expect("seek");
    f.write_all(children).expect("segment children");
    drop(f);
    path
}

/// Packet index of every PES start with a PTS in a 188-byte-packet TS, with its PTS.
fn pes_pts_by_packet(ts: &[u8]) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    for (i, p) in ts.chunks_exact(188).enumerate() {
        let pid = (((p[1] & 0x1F) as u16) << 8) | p[2] as u16;
        let off = match (p[3] >> 4) & 3 {
            1 => 4,
            3 => 5 + p[4] as usize,
            _ => continue,
        };
        let pl = &p[off.min(188)..];
        if p[1] & 0x40 == 0 || pid == 0 || pl.len() < 14 || pl[..3] != [0, 0, 1] {
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

/// `h264.ts` split before the packet with the latest PTS and padded with real null packets to
/// `total` bytes, as in a long recording whose first and last frames are far apart.
fn ts_padded(dir: &Path, total: u64) -> PathBuf {
    let src = media_fixture("h264.ts");
    let latest = pes_pts_by_packet(&src)
        .into_iter()
        .max_by_key(|(_, t)| *t)
        .expect("PES with PTS")
        .0;
    let (head, tail) = src.split_at(latest * 188);
    let path = dir.join("large_h264.ts");
    let mut f = std::io::BufWriter::with_capacity(1 << 20, File::create(&path).expect("create"));
    f.write_all(head).expect("head");
    let mut null = [0xFFu8; 188];
    null[..4].copy_from_slice(&[0x47, 0x1F, 0xFF, 0x10]);
    let chunk = null.repeat(5000);
    let mut written = head.len() as u64;
    while written + (tail.len() as u64) < total {
        f.write_all(&chunk).expect("null packets");
        written += chunk.len() as u64;
    }
    f.write_all(tail).expect("tail");
    f.flush().expect("flush");
    drop(f);
    path
}

/// A temp dir in RAM when /dev/shm exists (the TS padding is written for real).
fn ram_tempdir() -> tempfile::TempDir {
    if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").expect("tempdir in /dev/shm")
    } else {
        tempfile::tempdir().expect("tempdir")
    }
}

/// One probe case: a file, what it must parse to, and its budget.
struct Case {
    format: &'static str,
    label: String,
    path: PathBuf,
    video: &'static str,
    size: (u32, u32),
    duration: f64,
}

/// The small fixtures and large versions of them (moov at the end of 64 MiB, a 64 MiB Void
/// before the Matroska tracks, a 48 MB TS).
fn cases(dir: &Path) -> Vec<Case> {
    let fx = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media")
            .join(name)
    };
    let case = |format, label: &str, path: PathBuf, video, size, duration| Case {
        format,
        label: label.to_string(),
        path,
        video,
        size,
        duration,
    };
    vec![
        case(
            "MP4",
            "h264_faststart.mp4",
            fx("h264_faststart.mp4"),
            "h264",
            (320, 240),
            1.0,
        ),
        case(
            "MP4",
            "h264_moov_end.mp4",
            fx("h264_moov_end.mp4"),
            "h264",
            (320, 240),
            1.0,
        ),
        case(
            "MP4",
            "long_moov_end.mp4 (5 min; a 143 KiB moov at the end)",
            fx("long_moov_end.mp4"),
            "h264",
            (64, 64),
            300.0,
        ),
        case(
            "MP4",
            "long_moov_end.mp4 padded to 64 MiB, moov at the end",
            bmff_moov_at_end(dir, "long_moov_end.mp4", 64 * MIB),
            "h264",
            (64, 64),
            300.0,
        ),
        case("MOV", "h264.mov", fx("h264.mov"), "h264", (320, 240), 1.0),
        case(
            "MOV",
            "prores.mov",
            fx("prores.mov"),
            "prores",
            (320, 240),
            0.6,
        ),
        case(
            "MOV",
            "h264.mov padded to 64 MiB, moov at the end",
            bmff_moov_at_end(dir, "h264.mov", 64 * MIB),
            "h264",
            (320, 240),
            1.0,
        ),
        case("MKV", "h264.mkv", fx("h264.mkv"), "h264", (320, 240), 1.0),
        case(
            "MKV",
            "h264.mkv with a 64 MiB Void before its tracks",
            mkv_with_void(dir, 64 * MIB),
            "h264",
            (320, 240),
            1.0,
        ),
        case("TS", "h264.ts", fx("h264.ts"), "h264", (320, 240), 1.0),
        case(
            "TS",
            "h264.ts padded to 48 MB",
            ts_padded(dir, 48_000_000),
            "h264",
            (320, 240),
            1.0,
        ),
    ]
}

/// Probe `path` and return what it found with the counters' delta.
fn probe_counted(path: &Path) -> (Probe, u64, ContentReads) {
    let before = ContentReads::now();
    let (p, bytes) = probe::probe_file(path, None);
    (p, bytes, ContentReads::now().since(before))
}

fn ext_of(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Probe budgets
// ---------------------------------------------------------------------------------------------

#[test]
fn each_probe_opens_the_file_once_and_reads_within_its_format_budget_small_or_large() {
    let _serial = serial();
    let tmp = ram_tempdir();
    for c in cases(tmp.path()) {
        let budget = probe::read_budget(&ext_of(&c.path)).expect("a built-in parser");
        let (p, bytes, reads) = probe_counted(&c.path);
        let info: MediaInfo = match p {
            Probe::Ok { info } => info,
            other => panic!("{}: {other:?}", c.label),
        };
        assert_eq!(info.video_codec.as_deref(), Some(c.video), "{}", c.label);
        assert_eq!(
            (info.width, info.height),
            (Some(c.size.0), Some(c.size.1)),
            "{}",
            c.label
        );
        let d = info.duration_sec.expect("duration");
        assert!(
            (d - c.duration).abs() <= 0.1,
            "{}: duration {d}, expected {}",
            c.label,
            c.duration
        );
        assert_eq!(reads.probe_opens, 1, "{}: one open per file", c.label);
        assert_eq!(
            reads.probe_bytes, bytes,
            "{}: every probe read goes through the counters",
            c.label
        );
        assert!(
            bytes <= budget,
            "{} ({}): read {bytes} bytes, budget {budget}",
            c.label,
            c.format
        );
        assert_eq!(reads.fingerprint_bytes, 0, "{}", c.label);
    }
}

/// The table of docs/benchmarks.md ("Content reads per file"):
/// `cargo test -p nas-sync-engine --test content_reads -- --ignored --nocapture`.
#[test]
#[ignore = "prints the table of docs/benchmarks.md"]
fn print_content_reads_per_file() {
    let _serial = serial();
    let tmp = ram_tempdir();
    println!("| Format | File | Size | Bytes read | Opens |");
    println!("|---|---|---:|---:|---:|");
    let all = cases(tmp.path());
    for c in &all {
        let len = fs::metadata(&c.path).expect("stat").len();
        let (p, bytes, reads) = probe_counted(&c.path);
        assert!(matches!(p, Probe::Ok { .. }), "{}: {p:?}", c.label);
        println!(
            "| {} | {} | {} | {bytes} | {} |",
            c.format,
            c.label,
            human(len),
            reads.probe_opens
        );
    }
    for c in all
        .iter()
        .filter(|c| c.label.contains("padded") || c.label == "h264_faststart.mp4")
    {
        let len = fs::metadata(&c.path).expect("stat").len();
        let before = ContentReads::now();
        nas_sync_engine::fingerprint::fingerprint(&c.path).expect("fingerprint");
        let reads = ContentReads::now().since(before);
        println!(
            "| fingerprint | {} | {} | {} | {} |",
            c.label,
            human(len),
            reads.fingerprint_bytes,
            reads.fingerprint_opens
        );
    }
}

fn human(n: u64) -> String {
    if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{:.1} KiB", n as f64 / KIB as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// A scan + sync of a tree, then a no-change rescan and sync
// ---------------------------------------------------------------------------------------------

/// Bytes `fingerprint` reads of a file of `size` bytes: the first 64 KiB, and the last 64 KiB
/// not already read.
fn fingerprint_bytes(size: u64) -> u64 {
    let edge = nas_sync_engine::fingerprint::EDGE;
    size.min(edge) + size.saturating_sub(edge).min(edge)
}

/// A sync (with its probe phase) and the after-job passes, as the monitor runs them.
fn sync_and_passes(cfg: &Config) {
    let r = sync::run_sync(cfg, &SystemClock, SyncOptions::default()).expect("sync");
    assert!(r.refused.is_none(), "sync refused: {:?}", r.refused);
    let after = after_job(cfg, true, IndexStep::Skip, &AtomicBool::new(false));
    after.passes.expect("fingerprint and probe passes");
}

#[test]
fn first_sync_fingerprints_only_shared_size_and_mtime_and_a_no_change_rescan_reads_nothing() {
    let _serial = serial();
    let mut env = env_with(|c| {
        c.probe_media = true;
        c.scan_workers = 2;
        c.probe_workers = 2;
    });
    env.cfg.ffprobe_path = Some(env.dir().join("no-ffprobe-here"));
    let root = env.root.clone();
    let mp4 = media_fixture("h264_faststart.mp4");
    // Shared (size, mtime): a backup copy, and two different files cut to one size at one time.
    put_bytes_at(&root, "WSOP/2024/day1.mp4", &mp4, 1_700_000_000);
    put_bytes_at(&root, "WSOP/backup/day1.mp4", &mp4, 1_700_000_000);
    let mut part = vec![7u8; 200 * 1024];
    put_bytes_at(&root, "PAD/a/Part1.mp4", &part, 1_700_000_100);
    part[0] = 8;
    put_bytes_at(&root, "PAD/b/Part1.mp4", &part, 1_700_000_100);
    // Unique: never fingerprinted.
    for (i, (rel, fixture)) in [
        ("HCL/ep1.ts", "h264.ts"),
        ("HCL/ep2.mkv", "h264.mkv"),
        ("HCL/ep3.mov", "h264.mov"),
        ("GGM/long.mp4", "long_moov_end.mp4"),
    ]
    .into_iter()
    .enumerate()
    {
        put_bytes_at(
            &root,
            rel,
            &media_fixture(fixture),
            1_700_001_000 + i as i64 * 100,
        );
    }
    put_bytes_at(&root, "GGM/notes.txt", b"not media", 1_700_002_000);

    let before = ContentReads::now();
    sync_and_passes(&env.cfg);
    let first = ContentReads::now().since(before);
    assert_eq!(first.fingerprint_opens, 4, "{first:?}");
    assert_eq!(
        first.fingerprint_bytes,
        2 * fingerprint_bytes(mp4.len() as u64) + 2 * fingerprint_bytes(part.len() as u64),
        "{first:?}"
    );
    assert_eq!(first.probe_opens, 8, "each video probed once: {first:?}");
    let archive = Archive::open(&env.archive).expect("archive.db");
    let mut fingerprinted: Vec<String> = archive
        .load_files()
        .expect("load")
        .into_iter()
        .filter(|f| f.fingerprint.is_some())
        .map(|f| f.path)
        .collect();
    fingerprinted.sort();
    assert_eq!(
        fingerprinted,
        [
            "PAD/a/Part1.mp4",
            "PAD/b/Part1.mp4",
            "WSOP/2024/day1.mp4",
            "WSOP/backup/day1.mp4"
        ]
    );
    drop(archive);

    let before = ContentReads::now();
    sync_and_passes(&env.cfg);
    assert_eq!(
        ContentReads::now().since(before),
        ContentReads::default(),
        "a no-change sync and its passes read no file content"
    );

    let before = ContentReads::now();
    let mut archive = Archive::open(&env.archive).expect("archive.db");
    let (report, _) =
        scan::run_scan(&env.cfg, &mut archive, &SystemClock, ScanOptions::default()).expect("scan");
    assert_eq!((report.added, report.removed, report.modified), (0, 0, 0));
    drop(archive);
    let after = after_job(&env.cfg, true, IndexStep::Skip, &AtomicBool::new(false));
    after.passes.expect("passes");
    assert_eq!(
        ContentReads::now().since(before),
        ContentReads::default(),
        "a no-change rescan and its passes read no file content"
    );
}

// ---------------------------------------------------------------------------------------------
// A hung share: the passes stop with share_timeout, and cancel within 2 s
// ---------------------------------------------------------------------------------------------

/// While alive, every counted open of a path whose name starts with `hang` blocks (as on a hung
/// SMB share) until the guard is dropped.
struct HangGuard(Arc<AtomicBool>);

fn hang_opens() -> HangGuard {
    let release = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&release);
    content_io::set_open_hook(Some(Arc::new(move |path: &Path| {
        let hangs = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("hang"));
        while hangs && !r.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
    })));
    HangGuard(release)
}

impl Drop for HangGuard {
    fn drop(&mut self) {
        content_io::set_open_hook(None);
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A share with `hang.mp4` and two other videos (all sharing one size and mtime, so the
/// fingerprint pass reads all three), scanned into archive.db.
fn hung_share(share_timeout_secs: u64) -> (common::Env, Archive) {
    let mut env = env_with(|c| {
        c.probe_media = true;
        c.probe_workers = 2;
        c.scan_workers = 2;
        c.share_timeout_secs = share_timeout_secs;
    });
    env.cfg.ffprobe_path = Some(env.dir().join("no-ffprobe-here"));
    let mp4 = media_fixture("h264_faststart.mp4");
    for rel in ["WSOP/hang.mp4", "WSOP/a.mp4", "WSOP/b.mp4"] {
        put_bytes_at(&env.root, rel, &mp4, 1_700_000_000);
    }
    let mut archive = Archive::open(&env.archive).expect("archive.db");
    scan::run_scan(&env.cfg, &mut archive, &SystemClock, ScanOptions::default()).expect("scan");
    (env, archive)
}

#[test]
fn a_hung_read_stops_the_probe_and_fingerprint_passes_with_share_timeout() {
    let _serial = serial();
    let (env, mut archive) = hung_share(1);
    let _hang = hang_opens();

    let t = Instant::now();
    let err = probe::probe_pending(&mut archive, &env.cfg, None, None).expect_err("times out");
    assert!(
        matches!(err, Error::ShareTimeout { secs: 1, .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "share_timeout");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let probed: i64 = archive
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM files WHERE probe_status = 'ok'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(probed, 2, "the files that answered are stored");

    let t = Instant::now();
    let err = scan::fingerprint_pending(&mut archive, &env.root, 2, None, Duration::from_secs(1))
        .expect_err("times out");
    assert!(
        matches!(err, Error::ShareTimeout { secs: 1, .. }),
        "{err:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let fingerprinted: i64 = archive
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM files WHERE fingerprint IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(fingerprinted, 2, "the files that answered are stored");
}

#[test]
fn cancel_stops_the_passes_within_2_s_while_a_read_hangs() {
    let _serial = serial();
    let (env, mut archive) = hung_share(600);
    let _hang = hang_opens();
    let cancel = Arc::new(AtomicBool::new(false));
    let cancel_soon = || {
        cancel.store(false, Ordering::Relaxed);
        let c = Arc::clone(&cancel);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            c.store(true, Ordering::Relaxed);
        });
    };

    cancel_soon();
    let t = Instant::now();
    let stats =
        probe::probe_pending(&mut archive, &env.cfg, Some(&cancel), None).expect("cancelled");
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "probe pass took {took:?}"
    );
    assert!(stats.remaining >= 1, "{stats:?}");

    cancel_soon();
    let t = Instant::now();
    scan::fingerprint_pending(
        &mut archive,
        &env.root,
        2,
        Some(&cancel),
        Duration::from_secs(600),
    )
    .expect("cancelled");
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "fingerprint pass took {took:?}"
    );
}
