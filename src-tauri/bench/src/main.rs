//! `nas-sync-bench`: NAS Sync Monitor's engine at archive scale, in one process on one generated
//! tree — tree generation, the `find` baseline, full scan, no-change rescan, first sync, re-sync
//! after 1 % changes, index rebuilds and the screens' query latencies — printed as a Markdown
//! table with targets (docs/benchmarks.md explains every line).
//!
//! Progress goes to stderr, the results to stdout (and to `--json FILE`). Exit 0 when the run
//! completed, whether or not every target was met; 1 when a step failed.

mod bench;
mod error;
mod machine;
mod measure;
mod queries;
mod report;
mod rng;
mod smb;
mod tree;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::error::{BenchError, IoContext, Result};

#[derive(Parser, Debug)]
#[command(
    name = "nas-sync-bench",
    version,
    about = "Benchmark NAS Sync Monitor's engine on a generated archive: scan, sync, index and query latencies against their targets."
)]
pub struct Args {
    /// Number of files in the generated tree.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..=20_000_000))]
    pub files: u64,
    /// Work directory (must be empty or not exist). Default: a new directory under /dev/shm
    /// when it exists, else under the temp directory. Removed at the end unless --keep.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Calls per query measurement.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub queries: u32,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Keep the work directory (tree, archive.db, pokervod.db, index) at the end.
    #[arg(long)]
    pub keep: bool,
    /// Stop after this step (for working on one part): `first-sync` ends the run after the
    /// first sync, before any index rebuild or query.
    #[arg(long, value_enum, default_value_t = Until::All)]
    pub until: Until,
    /// Another benchmark instead of the main one.
    #[command(subcommand)]
    pub mode: Option<Mode>,
}

#[derive(clap::Subcommand, Debug)]
pub enum Mode {
    /// Watch-to-Target latency: files created one by one on a watched root (src/watch.rs).
    Watch(watch::WatchArgs),
    /// The engine over a real SMB share (Samba on 127.0.0.1 + smbnetfs): listing baselines,
    /// scan, rescan, sync and the bytes read from file contents (src/smb.rs).
    Smb(smb::SmbArgs),
}

/// Where a run may stop early.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    FirstSync,
    All,
}

/// Progress lines on stderr, with the time since the start.
pub struct Log {
    start: Instant,
}

impl Log {
    pub fn say(&self, msg: &str) {
        eprintln!("[{:>7.1} s] {msg}", self.start.elapsed().as_secs_f64());
    }
}

/// The directory the run works in, and how much of it to remove at the end.
struct WorkDir {
    path: PathBuf,
    /// True when we created the directory itself (remove it); false for an existing empty
    /// `--dir` (remove only what we put in it).
    created: bool,
}

impl WorkDir {
    fn prepare(dir: Option<&Path>) -> Result<WorkDir> {
        let path = match dir {
            Some(d) => d.to_path_buf(),
            None => {
                let base = if Path::new("/dev/shm").is_dir() {
                    PathBuf::from("/dev/shm")
                } else {
                    std::env::temp_dir()
                };
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                base.join(format!("nas-sync-bench-{}-{nanos}", std::process::id()))
            }
        };
        if path.exists() {
            let mut entries = std::fs::read_dir(&path).at(&path)?;
            if entries.next().is_some() {
                return Err(BenchError::Check(format!(
                    "--dir {} is not empty; give an empty or new directory (the benchmark removes what it writes there)",
                    path.display()
                )));
            }
            Ok(WorkDir {
                path,
                created: false,
            })
        } else {
            std::fs::create_dir_all(&path).at(&path)?;
            Ok(WorkDir {
                path,
                created: true,
            })
        }
    }

    fn remove(&self) -> Result<()> {
        if self.created {
            return std::fs::remove_dir_all(&self.path).at(&self.path);
        }
        for entry in std::fs::read_dir(&self.path).at(&self.path)? {
            let p = entry.at(&self.path)?.path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p).at(&p)?;
            } else {
                std::fs::remove_file(&p).at(&p)?;
            }
        }
        Ok(())
    }
}

/// The command line as typed, with the program's file name only.
fn command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            let a = if i == 0 {
                Path::new(&a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(a)
            } else {
                a
            };
            if a.is_empty() || a.contains([' ', '\'', '"']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(args: &Args, log: &Log) -> Result<()> {
    if cfg!(debug_assertions) {
        log.say("WARNING: debug build — timings are not meaningful; use --release");
    }
    let work = WorkDir::prepare(args.dir.as_deref())?;
    log.say(&format!("work directory {}", work.path.display()));
    let outcome = bench::run(args, &work.path, command_line(), log);
    if args.keep {
        log.say(&format!("kept {}", work.path.display()));
    } else {
        log.say(&format!("removing {}", work.path.display()));
        if let Err(e) = work.remove() {
            log.say(&format!(
                "warning: could not remove the work directory: {e}"
            ));
        }
    }
    let report = outcome?;
    publish(&report.markdown(), &report, args.json.as_deref(), log)
}

/// The results: the table on stdout, and as JSON to `json` when given.
pub fn publish(
    markdown: &str,
    report: &impl serde::Serialize,
    json: Option<&Path>,
    log: &Log,
) -> Result<()> {
    print!("{markdown}");
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(report)
            .map_err(|e| BenchError::Check(format!("serialize the results: {e}")))?;
        std::fs::write(path, text + "\n").at(path)?;
        log.say(&format!("results written to {}", path.display()));
    }
    Ok(())
}

/// Engine log lines on stderr when `NAS_SYNC_LOG` is set (a `tracing` filter, as for `nas-sync`):
/// `NAS_SYNC_LOG=debug` shows the engine's own phase timings. Off by default.
fn init_engine_log() {
    if let Ok(filter) = std::env::var("NAS_SYNC_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_engine_log();
    let log = Log {
        start: Instant::now(),
    };
    let outcome = match &args.mode {
        Some(Mode::Watch(w)) => watch::main(w, &log),
        Some(Mode::Smb(a)) => smb::main(a, &log),
        None => run(&args, &log),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
