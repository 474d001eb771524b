//! `nas-sync-bench smb`: the engine over a real SMB share — the generated tree exported by
//! Samba on 127.0.0.1 and mounted with smbnetfs (`scripts/smb-testbed.sh`), the product's real
//! medium. In one run: the listing baselines over the same mount (`fdfind`, a parallel lister,
//! and `find`), the full scan + store and the no-change rescan against them, the after-scan
//! fingerprint pass, the first sync and a no-change sync; for each engine step the bytes it read
//! from file contents (the engine's own counters, [`nas_sync_engine::content_io`]) and opens per
//! file, cross-checked with `/proc/self/io` `rchar` (which also counts SQLite's reads of the
//! local databases, so it is an upper bound). Needs root, `/dev/fuse`, and Debian's samba,
//! smbnetfs, fuse3 and fd-find.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nas_sync_engine::Config;
use nas_sync_engine::archive::Archive;
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::content_io::ContentReads;
use nas_sync_engine::scan::{self, ScanOptions};
use nas_sync_engine::sync::{self, SyncOptions};
use serde::Serialize;

use crate::bench::WriteCounter;
use crate::error::{BenchError, Result, StepContext};
use crate::machine::{Machine, source_commit};
use crate::measure::{fmt_count, fmt_secs, timed};
use crate::{Log, WorkDir, command_line, tree};

/// Scan + store over SMB against the listing that learns the same facts (every file's size and
/// modification time) on the same mount: `fdfind -S +0b`, a parallel lister that stats each file.
const SCAN_MAX_RATIO: f64 = 1.2;
/// No-change rescan over SMB against the same listing.
const RESCAN_MAX_RATIO: f64 = 1.1;

#[derive(clap::Args, Debug, Clone)]
pub struct SmbArgs {
    /// Number of files in the generated tree.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1_000..=2_000_000))]
    pub files: u64,
    /// Work directory (must be empty or not exist); default as for the main benchmark.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Keep the work directory at the end.
    #[arg(long)]
    pub keep: bool,
    /// The test bed script.
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/smb-testbed.sh"))]
    pub testbed: PathBuf,
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct SmbRow {
    pub key: &'static str,
    pub name: String,
    pub seconds: Option<f64>,
    /// The step's time over `fdfind`'s (names only, measured next to it).
    pub ratio_fd: Option<f64>,
    /// The step's time over `fdfind -S +0b`'s (names, sizes and times, measured next to it): the
    /// baseline the targets are judged against.
    pub ratio_fd_stat: Option<f64>,
    pub content_bytes: Option<u64>,
    pub content_opens: Option<u64>,
    pub rchar: Option<u64>,
    pub rows_written: Option<u64>,
    pub target: Option<String>,
    pub pass: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SmbReport {
    pub machine: Machine,
    pub command: String,
    pub release_build: bool,
    pub commit: String,
    pub files: u64,
    pub dirs: u64,
    pub backup_copies: u64,
    pub rows: Vec<SmbRow>,
}

/// The test bed, stopped when dropped.
struct Testbed {
    script: PathBuf,
    state: PathBuf,
}

impl Testbed {
    fn start(script: &Path, state: &Path, dir: &Path) -> Result<(Testbed, PathBuf)> {
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(dir)
            .env("SMB_TESTBED", state)
            .output()
            .map_err(|e| BenchError::Command {
                command: format!("bash {} start", script.display()),
                message: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(BenchError::Command {
                command: format!("bash {} start {}", script.display(), dir.display()),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let mount = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok((
            Testbed {
                script: script.to_path_buf(),
                state: state.to_path_buf(),
            },
            mount,
        ))
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .env("SMB_TESTBED", &self.state)
            .status();
    }
}

/// `rchar` of `/proc/self/io`: bytes this process asked `read` for (any file).
fn rchar() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("rchar:").map(|v| v.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

/// Time a lister over the mount; its output is counted (it must see every file).
fn time_lister(program: &str, args: &[&str], root: &Path, expect: u64) -> Result<Duration> {
    let command = format!("{program} {}", args.join(" "));
    let (elapsed, out) = timed(|| {
        Command::new(program)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .map_err(|e| BenchError::Command {
                command: command.clone(),
                message: format!("{e} (apt-get install fd-find findutils)"),
            })
    })?;
    let lines = out.stdout.iter().filter(|&&b| b == b'\n').count() as u64;
    if lines != expect {
        return Err(BenchError::Check(format!(
            "`{command}` over {} listed {lines} files, the tree has {expect}",
            root.display()
        )));
    }
    Ok(elapsed)
}

struct Reads {
    content: ContentReads,
    rchar: u64,
}

impl Reads {
    fn now() -> Reads {
        Reads {
            content: ContentReads::now(),
            rchar: rchar(),
        }
    }

    fn since(&self) -> (ContentReads, u64) {
        (
            ContentReads::now().since(self.content),
            rchar().saturating_sub(self.rchar),
        )
    }
}

pub fn main(args: &SmbArgs, log: &Log) -> Result<()> {
    if cfg!(debug_assertions) {
        log.say("WARNING: debug build — timings are not meaningful; use --release");
    }
    let work = WorkDir::prepare(args.dir.as_deref())?;
    log.say(&format!("work directory {}", work.path.display()));
    let outcome = run(args, &work.path, command_line(), log);
    if args.keep {
        log.say(&format!("kept {}", work.path.display()));
    } else if let Err(e) = work.remove() {
        log.say(&format!(
            "warning: could not remove the work directory: {e}"
        ));
    }
    let report = outcome?;
    crate::publish(&report.markdown(), &report, args.json.as_deref(), log)
}

fn run(args: &SmbArgs, dir: &Path, command: String, log: &Log) -> Result<SmbReport> {
    let machine = Machine::detect();
    let n = args.files;
    let tree_dir = dir.join("archive");
    log.say(&format!("generating {} files", fmt_count(n)));
    let generated = tree::generate(&tree_dir, n, &|done| {
        log.say(&format!("  {} files written", fmt_count(done)))
    })?;
    let (testbed, mount) = Testbed::start(&args.testbed, &dir.join("testbed"), &tree_dir)?;
    log.say(&format!("the tree over SMB at {}", mount.display()));
    let root = mount.display().to_string();
    // The two listings timed next to every engine step: names only (`fdfind` reads the type from
    // the directory entry, no per-file call), and names with sizes and times (its size filter
    // stats every file, as the scan must). Over a FUSE client without READDIRPLUS, such as
    // smbnetfs, each stat is a LOOKUP round trip the listing cannot answer.
    let fd = |log: &Log| -> Result<Listings> {
        log.say("fdfind over the mount (names; then names + sizes)");
        Ok(Listings {
            names: time_lister("fdfind", &["-u", "-t", "f", ".", &root], &mount, n)?,
            stat: time_lister(
                "fdfind",
                &["-u", "-t", "f", "-S", "+0b", ".", &root],
                &mount,
                n,
            )?,
        })
    };
    let mut cfg = Config {
        root: Some(mount.clone()),
        archive_db: Some(dir.join("db/archive.db")),
        target_db: Some(dir.join("db/pokervod.db")),
        // The generated files hold no media (the probe's reads are measured on real media:
        // docs/benchmarks.md, "Content reads per file").
        probe_media: false,
        max_delete_count: n,
        ..Config::default()
    };
    cfg.normalize();
    cfg.validate().step("benchmark config")?;
    let archive_db = cfg.archive_db_path().step("archive_db")?;
    std::fs::create_dir_all(dir.join("db")).map_err(|e| BenchError::Check(e.to_string()))?;
    let mut rows = Vec::new();

    // The listings: one warm-up of each (smbnetfs connects, the server's caches fill), then
    // fdfind next to every engine step.
    let fd_warm = fd(log)?;
    log.say("find over the mount");
    let find = time_lister(
        "find",
        &[&root, "-type", "f", "-printf", "%s %T@ %p\\n"],
        &mount,
        n,
    )?;
    rows.push(info(
        "fd_first",
        "`fdfind -u -t f` over the mount, first run",
        fd_warm.names,
    ));
    rows.push(info(
        "fd_stat_first",
        "`fdfind -u -t f -S +0b` (stats every file) over the mount, first run",
        fd_warm.stat,
    ));
    rows.push(info(
        "find",
        "`find -type f -printf '%s %T@ %p\\n'` over the mount",
        find,
    ));

    // Full scan + store.
    let fd_scan = fd(log)?;
    log.say("full scan + store");
    let reads = Reads::now();
    let (scan_time, report) = timed(|| {
        let mut archive = Archive::open(&archive_db).step("open archive.db")?;
        scan::run_scan(&cfg, &mut archive, &SystemClock, ScanOptions::default())
            .step("full scan")
            .map(|(r, _)| r)
    })?;
    if report.files_seen != n {
        return Err(BenchError::Check(format!(
            "the scan saw {} files over SMB; the tree has {n}",
            report.files_seen
        )));
    }
    let (content, rc) = reads.since();
    rows.push(step(
        "scan_store",
        "full scan + store over SMB",
        scan_time,
        fd_scan,
        content,
        rc,
        None,
        SCAN_MAX_RATIO,
    ));

    // The passes after it (fingerprints of ambiguous files; the probe is off).
    log.say("after-scan passes (fingerprints)");
    let reads = Reads::now();
    let never = AtomicBool::new(false);
    let (passes, ()) = timed(|| {
        nas_sync_engine::runtime::monitor::background_passes(&cfg, &never).step("passes")
    })?;
    let (content, rc) = reads.since();
    rows.push(SmbRow {
        key: "fingerprint_pass",
        name: format!(
            "after-scan fingerprint pass ({} backup copies share a size and mtime with their original)",
            fmt_count(generated.backup_copies)
        ),
        seconds: Some(passes.as_secs_f64()),
        ratio_fd: None,
        ratio_fd_stat: None,
        content_bytes: Some(content.bytes()),
        content_opens: Some(content.fingerprint_opens + content.probe_opens),
        rchar: Some(rc),
        rows_written: None,
        target: None,
        pass: None,
    });

    // No-change rescan.
    let fd_rescan = fd(log)?;
    log.say("no-change rescan");
    let counter = WriteCounter::install(&archive_db)?;
    let reads = Reads::now();
    let (rescan_time, _) = timed(|| {
        let mut archive = Archive::open(&archive_db).step("open archive.db")?;
        scan::run_scan(&cfg, &mut archive, &SystemClock, ScanOptions::default())
            .step("no-change rescan")
            .map(|(r, _)| r)
    })?;
    let (content, rc) = reads.since();
    let written = counter.finish()?;
    rows.push(step(
        "rescan_no_change",
        "no-change rescan over SMB",
        rescan_time,
        fd_rescan,
        content,
        rc,
        Some(written),
        RESCAN_MAX_RATIO,
    ));

    // First sync (no scan: the archive is scanned), then a no-change sync with its scan.
    log.say("first sync");
    let reads = Reads::now();
    let (sync_time, first) = timed(|| {
        sync::run_sync(
            &cfg,
            &SystemClock,
            SyncOptions {
                no_scan: true,
                ..SyncOptions::default()
            },
        )
        .step("first sync")
    })?;
    let (content, rc) = reads.since();
    rows.push(SmbRow {
        key: "first_sync",
        name: format!("first sync ({} rows added)", fmt_count(first.added)),
        seconds: Some(sync_time.as_secs_f64()),
        ratio_fd: None,
        ratio_fd_stat: None,
        content_bytes: Some(content.bytes()),
        content_opens: Some(content.fingerprint_opens + content.probe_opens),
        rchar: Some(rc),
        rows_written: None,
        target: None,
        pass: None,
    });
    let fd_sync = fd(log)?;
    log.say("no-change sync (scan + apply)");
    let counter = WriteCounter::install(&archive_db)?;
    let reads = Reads::now();
    let (again_time, again) = timed(|| {
        sync::run_sync(&cfg, &SystemClock, SyncOptions::default()).step("no-change sync")
    })?;
    let (content, rc) = reads.since();
    let written = counter.finish()?;
    let changed = again.added + again.updated + again.moved + again.deleted;
    if changed != 0 {
        return Err(BenchError::Check(format!(
            "the no-change sync changed {changed} Target rows"
        )));
    }
    rows.push(step(
        "sync_no_change",
        "no-change sync over SMB (scan + apply)",
        again_time,
        fd_sync,
        content,
        rc,
        Some(written),
        f64::INFINITY,
    ));
    drop(testbed);
    Ok(SmbReport {
        machine,
        command,
        release_build: !cfg!(debug_assertions),
        commit: source_commit().unwrap_or_else(|| "unknown".into()),
        files: n,
        dirs: generated_dirs(&tree_dir),
        backup_copies: generated.backup_copies,
        rows,
    })
}

fn generated_dirs(root: &Path) -> u64 {
    fn count(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .map(|it| {
                it.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| 1 + count(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
    }
    count(root)
}

fn info(key: &'static str, name: &str, d: Duration) -> SmbRow {
    SmbRow {
        key,
        name: name.to_string(),
        seconds: Some(d.as_secs_f64()),
        ratio_fd: None,
        ratio_fd_stat: None,
        content_bytes: None,
        content_opens: None,
        rchar: None,
        rows_written: None,
        target: None,
        pass: None,
    }
}

/// The listing baselines measured next to one engine step.
#[derive(Clone, Copy)]
struct Listings {
    /// `fdfind -u -t f`: names only.
    names: Duration,
    /// `fdfind -u -t f -S +0b`: names, and a stat of every file.
    stat: Duration,
}

/// An engine step over the share, judged against `fdfind -S` (when `max_ratio` is finite), 0
/// content bytes when it is a no-change step (`rows_written` given), and 0 rows written.
#[allow(clippy::too_many_arguments)]
fn step(
    key: &'static str,
    name: &str,
    d: Duration,
    fd: Listings,
    content: ContentReads,
    rc: u64,
    rows_written: Option<u64>,
    max_ratio: f64,
) -> SmbRow {
    let ratio = d.as_secs_f64() / fd.names.as_secs_f64().max(1e-9);
    let ratio_stat = d.as_secs_f64() / fd.stat.as_secs_f64().max(1e-9);
    let mut targets = Vec::new();
    let mut pass = true;
    if max_ratio.is_finite() {
        targets.push(format!("≤ {max_ratio}× fdfind -S"));
        pass &= ratio_stat <= max_ratio;
    }
    if let Some(w) = rows_written {
        targets.push("0 rows, 0 content bytes".to_string());
        pass &= w == 0 && content.bytes() == 0;
    }
    SmbRow {
        key,
        name: name.to_string(),
        seconds: Some(d.as_secs_f64()),
        ratio_fd: Some(ratio),
        ratio_fd_stat: Some(ratio_stat),
        content_bytes: Some(content.bytes()),
        content_opens: Some(content.fingerprint_opens + content.probe_opens),
        rchar: Some(rc),
        rows_written,
        target: (!targets.is_empty()).then(|| targets.join("; ")),
        pass: (!targets.is_empty()).then_some(pass),
    }
}

fn bytes_text(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

impl SmbReport {
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::from("## nas-sync-bench smb results\n\n");
        if !self.release_build {
            out.push_str("> **WARNING: debug build — timings are not meaningful.**\n\n");
        }
        out.push_str(&format!(
            "- machine: {} CPUs (nproc), {}, {:.1} GiB RAM, Linux {}; {} (load {})\n",
            m.nproc, m.cpu, m.ram_gib, m.kernel, m.date, m.load_average
        ));
        out.push_str(&format!(
            "- tree: {} files in {} directories ({} backup copies), served by Samba on 127.0.0.1 and mounted with smbnetfs (FUSE)\n",
            fmt_count(self.files),
            fmt_count(self.dirs),
            fmt_count(self.backup_copies)
        ));
        out.push_str(&format!(
            "- command: `{}`; built from commit {}\n",
            self.command, self.commit
        ));
        out.push_str(
            "- targets are judged against `fdfind -S +0b`, which learns what the scan must: every \
             file's size and modification time. Over this FUSE client (smbnetfs: no READDIRPLUS, \
             one request at a time) each of those is a LOOKUP round trip that names-only `fdfind` \
             never makes. On Windows the listing itself carries both (`scan/list/windows.rs`).\n\n",
        );
        out.push_str("| step over SMB | time | vs fdfind | vs fdfind -S | content bytes read (per file) | opens per file | rchar | rows written | target | pass/fail |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        let per_file = |b: u64| b as f64 / self.files as f64;
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.name,
                r.seconds
                    .map(|s| fmt_secs(Duration::from_secs_f64(s)))
                    .unwrap_or_default(),
                r.ratio_fd.map(|x| format!("{x:.2}×")).unwrap_or_default(),
                r.ratio_fd_stat
                    .map(|x| format!("{x:.2}×"))
                    .unwrap_or_default(),
                r.content_bytes
                    .map(|b| format!("{} ({:.0} B)", bytes_text(b), per_file(b)))
                    .unwrap_or_default(),
                r.content_opens
                    .map(|o| format!("{:.3}", o as f64 / self.files as f64))
                    .unwrap_or_default(),
                r.rchar.map(bytes_text).unwrap_or_default(),
                r.rows_written.map(fmt_count).unwrap_or_default(),
                r.target.as_deref().unwrap_or("—"),
                match r.pass {
                    Some(true) => "PASS",
                    Some(false) => "**FAIL**",
                    None => "—",
                }
            ));
        }
        out
    }
}
