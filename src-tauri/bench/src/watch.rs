//! `nas-sync-bench watch`: how long a file created on a local root takes to reach the screens
//! through the watcher (target: its row in `/api/matching` within 2 s at p95), and how fast the
//! dashboard answers right after each of those syncs (target: p95 ≤ 20 ms). One generated
//! archive-shaped tree, one first sync, then a [`Service`] with its monitor and watcher, as
//! `nas-sync serve` runs it; files are created one at a time in random leaf directories. Each
//! sample is timed from the file's creation to three points: its row visible in pokervod.db
//! (polled read-only every 2 ms), its row in the matching table (`Service::matching`, the call
//! behind `GET /api/matching`: newest first by mtime, so the new file is the first row; asked
//! every 20 ms, as a screen would, never in a tight loop) with any status, and that row `synced`. Once the watch job has ended, the dashboard (`Service::dashboard`, the
//! call behind `GET /api/dashboard`) is asked at once, three times, then every 200 ms for 3 s.
//! Before each file the monitor is idle (the previous watch job, with its probe and index
//! refresh, has ended), so a sample is one file on a quiet system, not a queue. Media probing is
//! off (the generated files are empty) and the fingerprint pass of the first sync is run before
//! the watcher starts, as on an archive in steady state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nas_sync_engine::Config;
use nas_sync_engine::archive::Archive;
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::index::Status;
use nas_sync_engine::matching::MatchingQuery;
use nas_sync_engine::runtime::monitor::{JobKind, JobResult};
use nas_sync_engine::runtime::{LogHub, Monitor, MonitorOptions, Service};
use nas_sync_engine::scan::ScanScope;
use nas_sync_engine::sync::{self, Force, SyncOptions};
use serde::Serialize;

use crate::error::{BenchError, IoContext, Result, StepContext};
use crate::machine::{Machine, filesystem_of, source_commit};
use crate::measure::{Latency, fmt_count, fmt_ms, fmt_secs, sample_ms, timed};
use crate::rng::XorShift;
use crate::{Log, WorkDir, command_line, tree};

/// The target: p95 of creation → the file's row in the matching table.
pub const TARGET_P95_MS: f64 = 2_000.0;
/// The target: p95 of the dashboard asked right after each watch sync.
pub const DASHBOARD_P95_MS: f64 = 20.0;
/// How long after each watch sync the dashboard is asked (every [`DASHBOARD_EVERY`]).
const DASHBOARD_WINDOW: Duration = Duration::from_secs(3);
const DASHBOARD_EVERY: Duration = Duration::from_millis(200);
/// Longest wait for one file (a miss is an error, not a slow sample).
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(120);
const SEED: u64 = 0x5741_5443_4845_5221;
/// How often the Target is polled for the new row (a read-only point query).
const POLL_TARGET: Duration = Duration::from_millis(2);
/// How often the matching table is asked: a screen refreshing itself, not a tight loop (a
/// query that has to rebuild or re-read the index must not be started again at once).
const POLL_MATCHING: Duration = Duration::from_millis(20);

#[derive(clap::Args, Debug, Clone)]
pub struct WatchArgs {
    /// Number of files in the generated tree.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..=5_000_000))]
    pub files: u64,
    /// Files created one by one (samples).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub samples: u32,
    /// Work directory (must be empty or not exist); default as for the main benchmark.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Keep the work directory at the end.
    #[arg(long)]
    pub keep: bool,
    /// `settle_secs` of the run: how long a new file must stay unchanged before it is synced.
    /// 0 (the default here) times the pipeline itself: each file is written whole in one call.
    /// With the application's default (60) a new file shows at once as `copying` and is
    /// synced about a minute later, by design.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub settle_secs: u64,
    /// Who starts each file's sync: `watcher` (the file-system watcher, as a host runs it) or
    /// `direct` (the bench starts the very job the watcher starts, scoped to the file's
    /// directory, after the watcher's 300 ms debounce, without the watcher: for trees whose
    /// events the watcher cannot keep up with; the rest of the path is the same).
    #[arg(long, value_enum, default_value_t = Trigger::Watcher)]
    pub trigger: Trigger,
    /// Also put this many files in one more folder (`BIG_DIR`) before the first sync, and create
    /// every sample there instead of in a random leaf: what a watcher sync in a large folder costs.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub big_dir: u64,
}

/// The folder `--big-dir` fills.
const BIG_DIR: &str = "WSOP/2025 WSOP/BIG FOLDER";

/// Who starts the sync that carries each file.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Watcher,
    Direct,
}

/// One file's trip.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub path: String,
    /// Creation → its Target row visible in pokervod.db.
    pub ms: f64,
    /// Creation → its row in the matching table (any status: `new` once the watch scan's
    /// records are in the index, before the sync's apply).
    pub matching_seen_ms: f64,
    /// Creation → its row in the matching table with status `synced`.
    pub matching_ms: f64,
    /// The dashboard asked right after the watch sync ended: the first call, then the rest.
    pub dashboard_ms: Vec<f64>,
    /// Directories the watch sync that carried it scanned (`None`: a full scan).
    pub scope: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WatchReport {
    pub machine: Machine,
    pub command: String,
    pub release_build: bool,
    pub commit: String,
    pub dir: String,
    pub filesystem: String,
    pub files: u64,
    pub settle_secs: u64,
    pub trigger: Trigger,
    /// Files in [`BIG_DIR`], where every sample is created (0: samples in random leaves).
    pub big_dir: u64,
    pub generate_secs: f64,
    pub first_sync_secs: f64,
    pub watch_start_ms: f64,
    /// The match index made current once before the first file (built after the first sync).
    pub index_ready_secs: f64,
    /// Creation → Target row.
    pub latency: Latency,
    /// Creation → row in the matching table, any status.
    pub matching_seen: Latency,
    /// Creation → row in the matching table, `synced` (the target).
    pub matching: Latency,
    pub pass: bool,
    /// The first dashboard call after each watch sync.
    pub dashboard_first: Latency,
    /// Every dashboard call in the [`DASHBOARD_WINDOW`] after each watch sync (the target).
    pub dashboard: Latency,
    pub dashboard_pass: bool,
    /// Watch syncs that ran a partial scan / a full scan.
    pub partial_syncs: u64,
    pub full_syncs: u64,
    pub samples: Vec<Sample>,
}

/// Run the watch benchmark in a fresh work directory; prints the table on stdout.
pub fn main(args: &WatchArgs, log: &Log) -> Result<()> {
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

fn wait_idle(m: &Monitor) -> Result<()> {
    let deadline = Instant::now() + SAMPLE_TIMEOUT;
    while m.status().job.is_some() {
        if Instant::now() > deadline {
            return Err(BenchError::Check(
                "the monitor stayed busy for two minutes".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The leaf directories of the tree (directories holding files), sorted.
fn leaf_dirs(archive_db: &Path) -> Result<Vec<String>> {
    let archive = Archive::open(archive_db).step("open archive.db")?;
    let mut dirs: Vec<String> = archive
        .load_files()
        .step("load archive.db")?
        .into_iter()
        .filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d.to_string()))
        .filter(|d| d.contains('/'))
        .collect();
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

/// The matching table newest first by mtime, one row: a file just created is that row.
fn newest_first() -> MatchingQuery {
    MatchingQuery {
        sort: Some("mtime".into()),
        desc: true,
        per_page: Some(1),
        ..MatchingQuery::default()
    }
}

/// The dashboard right after a watch sync ended: three calls at once, then one every
/// [`DASHBOARD_EVERY`] until [`DASHBOARD_WINDOW`] has passed. Milliseconds per call.
fn dashboard_after_sync(service: &Service) -> Result<Vec<f64>> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut call = || -> Result<()> {
        out.push(sample_ms(|| {
            service
                .dashboard()
                .map(|_| ())
                .map_err(|e| BenchError::Check(format!("dashboard: {}", e.message)))
        })?);
        Ok(())
    };
    for _ in 0..3 {
        call()?;
    }
    let mut next = start + DASHBOARD_EVERY;
    while next <= start + DASHBOARD_WINDOW {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        call()?;
        next += DASHBOARD_EVERY;
    }
    Ok(out)
}

pub fn run(args: &WatchArgs, dir: &Path, command: String, log: &Log) -> Result<WatchReport> {
    let machine = Machine::detect();
    let root = dir.join("ARCHIVE");
    log.say(&format!("generating {} files", fmt_count(args.files)));
    let (gen_time, generated) = timed(|| {
        tree::generate(&root, args.files, &|n| {
            log.say(&format!("  {} files written", fmt_count(n)))
        })
    })?;
    if args.big_dir > 0 {
        let big = root.join(BIG_DIR);
        std::fs::create_dir_all(&big).at(&big)?;
        for i in 0..args.big_dir {
            let path = big.join(format!("clip {i:07}.mp4"));
            std::fs::write(&path, vec![0u8; 512 + (i % 4096) as usize]).at(&path)?;
        }
    }
    let cfg = Config {
        root: Some(root.clone()),
        archive_db: Some(dir.join("state/archive.db")),
        target_db: Some(dir.join("state/pokervod.db")),
        // The generated files hold no media: probing them measures nothing (a real new file's
        // probe reads a few KiB of headers before the apply).
        probe_media: false,
        settle_secs: args.settle_secs,
        ..Config::default()
    };
    let archive_db = cfg.archive_db_path().step("archive_db")?;
    let target_db = dir.join("state/pokervod.db");

    log.say("first sync");
    let (first_sync, report) =
        timed(|| sync::run_sync(&cfg, &SystemClock, SyncOptions::default()).step("first sync"))?;
    if let Some(r) = &report.refused {
        return Err(BenchError::Check(format!(
            "the first sync was refused: {}",
            r.message
        )));
    }
    if report.added != generated.eligible_originals + args.big_dir {
        return Err(BenchError::Check(format!(
            "the first sync added {} rows, the tree has {} eligible originals",
            report.added,
            generated.eligible_originals + args.big_dir
        )));
    }
    // Steady state before the watcher: the fingerprint pass after the first sync done (the
    // monitor runs it after every job; on a fresh archive.db it would cover the whole tree).
    log.say("fingerprint pass");
    let never = std::sync::atomic::AtomicBool::new(false);
    nas_sync_engine::runtime::monitor::background_passes(&cfg, &never).step("fingerprint pass")?;
    let dirs = leaf_dirs(&archive_db)?;

    let service = Service::new(
        Monitor::new(
            cfg.clone(),
            Arc::new(SystemClock),
            LogHub::new(),
            MonitorOptions {
                schedule: false,
                ..MonitorOptions::default()
            },
        ),
        None,
        None,
    );
    let monitor = service.monitor().clone();
    // The screens' index, made current before the first file (a host warms it at start).
    let (index_ready, _) = timed(|| {
        service
            .matching(&newest_first())
            .map_err(|e| BenchError::Check(format!("matching: {}", e.message)))
    })?;
    log.say(&format!(
        "match index ready after {}",
        fmt_secs(index_ready)
    ));
    let t = Instant::now();
    if args.trigger == Trigger::Watcher {
        monitor
            .start_watching()
            .map_err(|why| BenchError::Check(why.message()))?;
    }
    let watch_start = t.elapsed();
    log.say(&format!(
        "watching {} ({} leaf directories) after {}",
        root.display(),
        fmt_count(dirs.len() as u64),
        fmt_ms(watch_start.as_secs_f64() * 1000.0)
    ));

    let target = rusqlite::Connection::open_with_flags(
        &target_db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .step("open pokervod.db read-only")?;
    target
        .busy_timeout(Duration::from_secs(30))
        .step("pokervod.db busy_timeout")?;
    let mut visible = target
        .prepare("SELECT 1 FROM files WHERE nas_path = ?1 AND status = 'active'")
        .step("prepare the Target poll")?;

    let mut rng = XorShift::new(SEED);
    let mut samples: Vec<Sample> = Vec::new();
    let jobs_before = monitor.jobs().len();
    for i in 0..args.samples {
        wait_idle(&monitor)?;
        let leaf = match args.big_dir {
            0 => rng.pick(&dirs).clone(),
            _ => BIG_DIR.to_string(),
        };
        let rel = format!("{leaf}/watch sample {i:04}.mp4");
        let path = root.join(&rel);
        let body = vec![0u8; 4096 + i as usize];
        let t0 = Instant::now();
        std::fs::write(&path, &body).at(&path)?;
        if args.trigger == Trigger::Direct {
            std::thread::sleep(nas_sync_engine::runtime::watch::DEBOUNCE);
            monitor.start_scoped(
                JobKind::Sync,
                Force::No,
                "watch",
                ScanScope::Dirs(vec![leaf.clone()]),
            );
        }
        let (mut in_target, mut seen, mut synced) = (None, None, None);
        let mut next_matching = t0;
        while in_target.is_none() || synced.is_none() {
            if in_target.is_none()
                && visible
                    .exists([&rel])
                    .step("poll the Target for the new row")?
            {
                in_target = Some(t0.elapsed());
            }
            if synced.is_none() && Instant::now() >= next_matching {
                next_matching = Instant::now() + POLL_MATCHING;
                let page = service
                    .matching(&newest_first())
                    .map_err(|e| BenchError::Check(format!("matching: {}", e.message)))?;
                let status = page
                    .items
                    .first()
                    .filter(|it| it.source.as_ref().is_some_and(|s| s.path == rel))
                    .map(|it| it.status);
                if let Some(status) = status {
                    let now = t0.elapsed();
                    seen.get_or_insert(now);
                    if status == Status::Synced {
                        synced = Some(now);
                    }
                }
            }
            if t0.elapsed() > SAMPLE_TIMEOUT {
                return Err(BenchError::Check(format!(
                    "{rel} did not reach the Target and the matching table within {} s",
                    SAMPLE_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(POLL_TARGET);
        }
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        // The sync that carried it is the newest finished or running watch job.
        wait_idle(&monitor)?;
        let dashboard_ms = dashboard_after_sync(&service)?;
        let scope = monitor
            .jobs()
            .into_iter()
            .find(|j| j.trigger == "watch")
            .and_then(|j| match j.result {
                Some(JobResult::Sync(r)) => r.scan.and_then(|s| s.scope),
                _ => None,
            });
        log.say(&format!(
            "  sample {i}: Target {}, matching {} (seen {}), dashboard first {} ({rel})",
            fmt_ms(ms(in_target)),
            fmt_ms(ms(synced)),
            fmt_ms(ms(seen)),
            fmt_ms(dashboard_ms.first().copied().unwrap_or(0.0)),
        ));
        samples.push(Sample {
            path: rel,
            ms: ms(in_target),
            matching_seen_ms: ms(seen),
            matching_ms: ms(synced),
            dashboard_ms,
            scope,
        });
    }
    let jobs: Vec<_> = monitor.jobs().into_iter().collect();
    let watch_jobs: Vec<_> = jobs[..jobs.len().saturating_sub(jobs_before)]
        .iter()
        .filter(|j| j.trigger == "watch")
        .collect();
    let partial_syncs = watch_jobs
        .iter()
        .filter(|j| {
            matches!(&j.result, Some(JobResult::Sync(r))
                if r.scan.as_ref().is_some_and(|s| s.scope.is_some()))
        })
        .count() as u64;
    let full_syncs = watch_jobs.len() as u64 - partial_syncs;
    monitor.shutdown(Duration::from_secs(60));
    drop(visible);

    let latency = Latency::from_samples(samples.iter().map(|s| s.ms).collect());
    let matching_seen = Latency::from_samples(samples.iter().map(|s| s.matching_seen_ms).collect());
    let matching = Latency::from_samples(samples.iter().map(|s| s.matching_ms).collect());
    let dashboard_first = Latency::from_samples(
        samples
            .iter()
            .filter_map(|s| s.dashboard_ms.first().copied())
            .collect(),
    );
    let dashboard = Latency::from_samples(
        samples
            .iter()
            .flat_map(|s| s.dashboard_ms.iter().copied())
            .collect(),
    );
    Ok(WatchReport {
        machine,
        command,
        release_build: !cfg!(debug_assertions),
        commit: source_commit().unwrap_or_else(|| "unknown".into()),
        dir: dir.display().to_string(),
        filesystem: filesystem_of(dir).unwrap_or_else(|| "unknown".into()),
        files: generated.files,
        settle_secs: args.settle_secs,
        trigger: args.trigger,
        big_dir: args.big_dir,
        generate_secs: gen_time.as_secs_f64(),
        first_sync_secs: first_sync.as_secs_f64(),
        watch_start_ms: watch_start.as_secs_f64() * 1000.0,
        index_ready_secs: index_ready.as_secs_f64(),
        pass: matching.p95_ms <= TARGET_P95_MS,
        latency,
        matching_seen,
        matching,
        dashboard_pass: dashboard.p95_ms <= DASHBOARD_P95_MS,
        dashboard_first,
        dashboard,
        partial_syncs,
        full_syncs,
        samples,
    })
}

impl WatchReport {
    /// The results in the main benchmark's table style.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        out.push_str("## nas-sync-bench watch results\n\n");
        if !self.release_build {
            out.push_str(
                "> **WARNING: debug build — timings are not meaningful.** Use `cargo run --release -p nas-sync-bench -- watch`.\n\n",
            );
        }
        out.push_str(&format!(
            "- machine: {} CPUs (nproc), {}, {:.1} GiB RAM, Linux {}\n",
            m.nproc, m.cpu, m.ram_gib, m.kernel
        ));
        out.push_str(&format!(
            "- date: {} (load average at the start: {})\n",
            m.date, m.load_average
        ));
        out.push_str(&format!(
            "- files: {} (tree in `{}`, {})\n",
            fmt_count(self.files),
            self.dir,
            self.filesystem
        ));
        out.push_str(&format!("- command: `{}`\n", self.command));
        if self.big_dir > 0 {
            out.push_str(&format!(
                "- every sample created in `{BIG_DIR}`, a folder of {} files\n",
                fmt_count(self.big_dir)
            ));
        }
        out.push_str(&format!(
            "- settle_secs: {} (a new file is held as `copying` until unchanged that long)\n",
            self.settle_secs
        ));
        out.push_str(&format!(
            "- sync started by: {}\n",
            match self.trigger {
                Trigger::Watcher => "the watcher (300 ms debounce)",
                Trigger::Direct =>
                    "the bench, 300 ms after the file (the watcher's job, scoped to its directory; no watcher)",
            }
        ));
        out.push_str(&format!(
            "- build: {}\n",
            if self.release_build {
                "release"
            } else {
                "debug (timings not meaningful)"
            }
        ));
        out.push_str(&format!("- built from commit: {}\n\n", self.commit));
        out.push_str("| measurement | result | target | pass/fail |\n|---|---|---|---|\n");
        let row = |out: &mut String, name: &str, result: String, target: &str, verdict: &str| {
            out.push_str(&format!("| {name} | {result} | {target} | {verdict} |\n"));
        };
        row(
            &mut out,
            "generate the tree",
            fmt_secs(Duration::from_secs_f64(self.generate_secs)),
            "—",
            "—",
        );
        row(
            &mut out,
            "first sync (scan + apply)",
            fmt_secs(Duration::from_secs_f64(self.first_sync_secs)),
            "—",
            "—",
        );
        row(
            &mut out,
            if self.trigger == Trigger::Watcher {
                "start the watcher (recursive, no file-id cache)"
            } else {
                "start the watcher: not started (`--trigger direct`)"
            },
            fmt_ms(self.watch_start_ms),
            "—",
            "—",
        );
        row(
            &mut out,
            "match index current before the first file (`Service::matching`)",
            fmt_secs(Duration::from_secs_f64(self.index_ready_secs)),
            "—",
            "—",
        );
        row(
            &mut out,
            &format!(
                "file created → Target row visible ({} files, one at a time)",
                self.latency.n
            ),
            self.latency.display(),
            "—",
            "—",
        );
        row(
            &mut out,
            "file created → its row in the matching table, any status",
            self.matching_seen.display(),
            "—",
            "—",
        );
        row(
            &mut out,
            "file created → its row in the matching table, `synced` (`Service::matching`)",
            self.matching.display(),
            &format!("p95 ≤ {} s", TARGET_P95_MS / 1000.0),
            if self.pass { "PASS" } else { "**FAIL**" },
        );
        row(
            &mut out,
            "dashboard, first call after each watch sync (`Service::dashboard`)",
            self.dashboard_first.display(),
            "—",
            "—",
        );
        row(
            &mut out,
            &format!(
                "dashboard, every call in the {} s after each watch sync ({} calls)",
                DASHBOARD_WINDOW.as_secs(),
                self.dashboard.n
            ),
            self.dashboard.display(),
            &format!("p95 ≤ {DASHBOARD_P95_MS} ms"),
            if self.dashboard_pass {
                "PASS"
            } else {
                "**FAIL**"
            },
        );
        row(
            &mut out,
            "watch syncs: partial scan / full scan",
            format!("{} / {}", self.partial_syncs, self.full_syncs),
            "—",
            "—",
        );
        out
    }
}
