//! `nas-sync`: the command line over the engine. Each subcommand parses, calls the engine and
//! prints; no sync logic lives here.
//!
//! Exit codes: 0 applied; 1 error; 2 usage; 3 a safety guard refused to apply changes.

mod access;
mod openapi;
mod output;
mod serve;
mod static_files;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
use nas_sync_engine::clock::SystemClock;
use nas_sync_engine::runtime::after_job::{IndexStep, after_job};
use nas_sync_engine::scan::{self, ScanOptions};
use nas_sync_engine::sync::{self, SyncOptions};
use nas_sync_engine::{Config, Error, archive::Archive, demo, matching, query, reconcile};

#[derive(Parser, Debug)]
#[command(
    name = "nas-sync",
    version,
    about = "NAS Sync Monitor: scan the NAS archive into archive.db and sync it into the OTT catalog (pokervod.db).",
    after_help = "Exit codes: 0 applied, 1 error, 2 usage, 3 a safety guard refused to apply changes."
)]
struct Cli {
    /// Config file (TOML). Default: the OS config directory's nas-sync-monitor/nas-sync.toml.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Archive root: a local directory, a mounted share or a UNC path (overrides `root`).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Source database, archive.db (overrides `archive_db`).
    #[arg(long = "archive-db", global = true, value_name = "FILE")]
    archive_db: Option<PathBuf>,
    /// Target database, pokervod.db (overrides `target_db`).
    #[arg(long = "target-db", global = true, value_name = "FILE")]
    target_db: Option<PathBuf>,
    /// Print one JSON document on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Incremental scan of the share into archive.db.
    Scan {
        /// Report what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Scan, then apply the sync rules to pokervod.db.
    Sync {
        /// Report what would change; write to neither database.
        #[arg(long)]
        dry_run: bool,
        /// Apply even when the mass-delete guard refuses.
        #[arg(long)]
        force: bool,
        /// Sync archive.db as it is, without scanning the share first.
        #[arg(long)]
        no_scan: bool,
    },
    /// 정합성 검증: compare the share, archive.db and pokervod.db (read-only).
    Reconcile,
    /// Summary of the Source and the Target (PRD 7.2).
    Dashboard,
    /// Applied Target changes, newest first (PRD 4.3).
    History {
        /// Only this event: added, updated, moved, restored, deleted.
        #[arg(long)]
        event: Option<String>,
        /// Only this catalog (e.g. WSOP).
        #[arg(long)]
        catalog: Option<String>,
        /// Only changes at or after this date/time (2026-11-26 or 2026-11-26T09:30:00Z).
        #[arg(long)]
        since: Option<String>,
        /// At most this many rows (default 100, at most 10,000).
        #[arg(long)]
        limit: Option<u32>,
        /// Skip this many rows first (paging: --offset 100 --limit 100 is the second page).
        #[arg(long)]
        offset: Option<u64>,
    },
    /// 1:1 matching table: every Source file and every Target row no file holds (PRD 7.3).
    Matching {
        /// synced, synced_with_duplicates, new, copying, changed, deleted, duplicate, not_synced.
        #[arg(long)]
        status: Option<String>,
        /// Only this catalog (e.g. WSOP).
        #[arg(long)]
        catalog: Option<String>,
        /// Case-insensitive substring of the path (Hangul NFC/NFD alike; % and _ are literal).
        #[arg(long)]
        search: Option<String>,
        /// path, size, mtime, catalog or status (default path).
        #[arg(long)]
        sort: Option<String>,
        /// Reverse the sort.
        #[arg(long)]
        desc: bool,
        /// Page number, from 1.
        #[arg(long)]
        page: Option<u32>,
        /// Items per page (default 20, at most 200).
        #[arg(long)]
        per_page: Option<u32>,
    },
    /// Catalog tree with counts (PRD 7.4); `--path DIR` lists one directory's children.
    Tree {
        /// One directory (e.g. WSOP/2024; "" or / for the root) instead of the whole archive.
        #[arg(long)]
        path: Option<String>,
        /// With --path: skip this many files of the directory.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// With --path: at most this many files (default 500, at most 5,000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Probe media files: container, codecs, resolution, duration (headers only).
    Probe {
        /// Files to probe.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Serve the HTTP/WebSocket API (PRD 7.1) and the web UI; runs the schedule and the jobs.
    Serve {
        /// Address to listen on. A non-loopback address needs NAS_SYNC_OPERATOR_TOKEN and
        /// NAS_SYNC_ADMIN_TOKEN.
        #[arg(long, default_value = serve::DEFAULT_BIND)]
        bind: std::net::SocketAddr,
        /// The built web UI to serve at / (default: ui/dist next to the binary or the current
        /// directory, when present).
        #[arg(long, value_name = "DIR")]
        ui_dir: Option<PathBuf>,
        /// Do not run the automatic sync schedule.
        #[arg(long)]
        no_schedule: bool,
        /// Do not watch the root for changes.
        #[arg(long)]
        no_watch: bool,
        /// Another name (or name:port) the server may be reached by, e.g. behind a reverse
        /// proxy; repeatable. Also NAS_SYNC_ALLOWED_HOSTS (comma-separated). Requests with any
        /// other Host header are refused (DNS rebinding).
        #[arg(long = "allowed-host", value_name = "NAME")]
        allowed_hosts: Vec<String>,
    },
    /// Write a realistic demo archive and a config pointing at it.
    Demo {
        /// Directory to create the demo in (DIR/archive, DIR/nas-sync.toml).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Approximate number of files.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(15..=2_000_000))]
        files: u32,
    },
}

/// What a command produced: a JSON value, the human text, and the exit code.
pub struct Outcome {
    json: serde_json::Value,
    human: String,
    code: u8,
}

fn main() -> ExitCode {
    let code = run_main();
    // A sync copies pokervod.db's WAL into the file after its commit, on another thread; the
    // output is already printed, so the user does not wait for it, but the process does.
    nas_sync_engine::target::finish_checkpoints();
    code
}

fn run_main() -> ExitCode {
    let cli = Cli::parse();
    let hub = nas_sync_engine::runtime::LogHub::new();
    init_logging(&cli, &hub);
    if let Command::Serve {
        bind,
        ui_dir,
        no_schedule,
        no_watch,
        allowed_hosts,
    } = &cli.command
    {
        let mut hosts = allowed_hosts.clone();
        if let Ok(v) = std::env::var("NAS_SYNC_ALLOWED_HOSTS") {
            hosts.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(String::from),
            );
        }
        let opts = ServeOpts {
            bind: *bind,
            ui_dir: ui_dir.clone(),
            schedule: !no_schedule,
            watch: !no_watch,
            allowed_hosts: hosts,
        };
        return match run_serve(&cli, &hub, opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(match e {
                    Error::Invalid { .. } => 2,
                    _ => 1,
                })
            }
        };
    }
    match run(&cli) {
        Ok(o) => {
            // A closed stdout (`| head`) is not an error worth a panic.
            let mut out = std::io::stdout();
            if cli.json {
                let _ = writeln!(out, "{}", o.json);
            } else if !cli.quiet || o.code != 0 {
                let _ = write!(out, "{}", o.human);
            }
            ExitCode::from(o.code)
        }
        Err(e) => {
            let code = match &e {
                Error::Refused { .. } => 3,
                Error::Invalid { .. } => 2,
                _ => 1,
            };
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}})
                );
            }
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}

fn init_logging(cli: &Cli, hub: &nas_sync_engine::runtime::LogHub) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let serving = matches!(cli.command, Command::Serve { .. });
    let level = match (cli.quiet, cli.verbose, serving) {
        (true, _, _) => "off",
        (_, 0, false) => "error",
        (_, 0, true) | (_, 1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NAS_SYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter);
    // The live log (ring buffer, log file, /ws/logs) gets info and above while serving.
    let live = serving.then(|| {
        hub.layer()
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(live)
        .try_init();
}

/// `serve`'s flags.
struct ServeOpts {
    bind: std::net::SocketAddr,
    ui_dir: Option<PathBuf>,
    schedule: bool,
    watch: bool,
    allowed_hosts: Vec<String>,
}

fn run_serve(
    cli: &Cli,
    hub: &nas_sync_engine::runtime::LogHub,
    opts: ServeOpts,
) -> Result<(), Error> {
    let ServeOpts {
        bind,
        ui_dir,
        schedule,
        watch,
        allowed_hosts,
    } = opts;
    let settings_path = cli
        .config
        .clone()
        .or_else(nas_sync_engine::config::default_config_path);
    let ui_dir = ui_dir.or_else(|| {
        let mut candidates = vec![PathBuf::from("ui/dist")];
        if let Ok(exe) = std::env::current_exe()
            && let Some(dir) = exe.parent()
        {
            candidates.push(dir.join("ui"));
        }
        candidates
            .into_iter()
            .find(|d| d.join("index.html").is_file())
    });
    let token = |name: &str| std::env::var(name).ok().filter(|t| !t.trim().is_empty());
    serve::serve(
        serve::ServeArgs {
            bind,
            ui_dir,
            settings_path,
            operator_token: token("NAS_SYNC_OPERATOR_TOKEN"),
            admin_token: token("NAS_SYNC_ADMIN_TOKEN"),
            local_token: token("NAS_SYNC_LOCAL_TOKEN"),
            allowed_hosts,
            schedule,
            watch,
        },
        hub.clone(),
        |cfg| apply_overrides(cli, cfg),
    )
}

fn load_config(cli: &Cli) -> Result<Config, Error> {
    let (mut cfg, _origin) = Config::load(cli.config.as_deref())?;
    apply_overrides(cli, &mut cfg);
    cfg.validate()?;
    Ok(cfg)
}

/// `--root`, `--archive-db` and `--target-db` over the settings file's values.
fn apply_overrides(cli: &Cli, cfg: &mut Config) {
    if let Some(r) = &cli.root {
        cfg.root = Some(r.clone());
    }
    if let Some(a) = &cli.archive_db {
        cfg.archive_db = Some(a.clone());
    }
    if let Some(t) = &cli.target_db {
        cfg.target_db = Some(t.clone());
    }
}

/// The match index is refreshed after a change so the next query is fast; a failure here is a
/// warning (the next query tries again).
fn warn_index(r: Result<(), Error>) {
    if let Err(e) = r {
        eprintln!("warning: updating the match index: {e}");
    }
}

fn run(cli: &Cli) -> Result<Outcome, Error> {
    let clock = SystemClock;
    let show_progress = !cli.json && !cli.quiet && std::io::stderr().is_terminal();
    let progress = output::Progress::new(show_progress);
    let cb = |p: &scan::ScanProgress| progress.update(p);
    let cancel = AtomicBool::new(false);
    match &cli.command {
        // Runs before `run` (it keeps the process until shut down).
        Command::Serve { .. } => Err(Error::Invalid {
            field: "command".into(),
            message: "serve runs from main".into(),
        }),
        Command::Demo { dir, files } => {
            let r = demo::write_demo(dir, *files as usize)?;
            Ok(output::demo(&r))
        }
        Command::Scan { dry_run } => {
            let cfg = load_config(cli)?;
            let opts = ScanOptions {
                dry_run: *dry_run,
                progress: Some(&cb),
                cancel: Some(&cancel),
            };
            let res = if *dry_run {
                scan::preview(&cfg, &clock, opts).map(|p| p.report())
            } else {
                let _lock = nas_sync_engine::archive::SyncLock::acquire(
                    &cfg.archive_db_path()?,
                    cfg.busy_timeout_secs,
                )?;
                let mut archive = Archive::open(&cfg.archive_db_path()?)?;
                scan::run_scan(&cfg, &mut archive, &clock, opts).and_then(|(r, _)| {
                    progress.finish();
                    drop(archive);
                    let after = after_job(&cfg, true, IndexStep::Open, &cancel);
                    after.passes?;
                    warn_index(after.index);
                    Ok(r)
                })
            };
            progress.finish();
            Ok(output::scan(res?))
        }
        Command::Sync {
            dry_run,
            force,
            no_scan,
        } => {
            let cfg = load_config(cli)?;
            let opts = SyncOptions {
                dry_run: *dry_run,
                force: if *force {
                    sync::Force::Always
                } else {
                    sync::Force::No
                },
                no_scan: *no_scan,
                progress: Some(&cb),
                cancel: Some(&cancel),
            };
            let report = sync::run_sync(&cfg, &clock, opts);
            progress.finish();
            let report = report?;
            if !report.dry_run && report.refused.is_none() {
                // The sync is applied: a failure in the passes is a warning only.
                let after = after_job(&cfg, true, IndexStep::Open, &cancel);
                if let Err(e) = after.passes {
                    eprintln!("warning: fingerprint/probe pass after the sync: {e}");
                }
                warn_index(after.index);
            }
            Ok(output::sync(&report))
        }
        Command::Reconcile => {
            let cfg = load_config(cli)?;
            let r = reconcile::reconcile(&cfg, &clock)?;
            Ok(output::reconcile(&r))
        }
        Command::Probe { files } => {
            let cfg = load_config(cli)?;
            let ffprobe = nas_sync_engine::probe::ffprobe::locate(cfg.ffprobe_path.as_deref());
            let results: Vec<_> = files
                .iter()
                .map(|f| {
                    let (probe, bytes) = nas_sync_engine::probe::probe_file(f, ffprobe.as_deref());
                    output::ProbedFile {
                        path: f.display().to_string(),
                        probe,
                        bytes_read: bytes,
                    }
                })
                .collect();
            Ok(output::probe(&results))
        }
        Command::History {
            event,
            catalog,
            since,
            limit,
            offset,
        } => {
            let cfg = load_config(cli)?;
            let filter = query::HistoryFilter {
                event: event.clone(),
                catalog: catalog.clone(),
                since: since.clone(),
                limit: *limit,
                offset: *offset,
            };
            Ok(output::history(&query::history(&cfg, &filter)?))
        }
        Command::Matching {
            status,
            catalog,
            search,
            sort,
            desc,
            page,
            per_page,
        } => {
            let cfg = load_config(cli)?;
            let q = matching::MatchingQuery {
                status: status.clone(),
                catalog: catalog.clone(),
                search: search.clone(),
                sort: sort.clone(),
                desc: *desc,
                page: *page,
                per_page: *per_page,
            };
            Ok(output::matching(&matching::matching(&cfg, &q)?))
        }
        Command::Tree {
            path,
            offset,
            limit,
        } => {
            let cfg = load_config(cli)?;
            match path {
                Some(p) => Ok(output::tree_node(&matching::tree_node(
                    &cfg, p, *offset, *limit,
                )?)),
                None => Ok(output::tree(&matching::tree(&cfg)?)),
            }
        }
        Command::Dashboard => {
            let cfg = load_config(cli)?;
            let d = query::dashboard(&cfg)?;
            Ok(output::dashboard(&d))
        }
    }
}
