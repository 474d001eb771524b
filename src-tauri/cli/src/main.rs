//! `nas-sync`: the command line over the engine. Each subcommand parses, calls the engine and
//! prints; no sync logic lives here.
//!
//! Exit codes: 0 applied; 1 error; 2 usage; 3 a safety guard refused to apply changes.
//!
//! Settings come from the flags, then the environment (`NAS_SYNC_ROOT`, … — a container is
//! configured this way), then the settings file, then the defaults: [`env`] names them all.

mod access;
mod health;
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
use nas_sync_engine::query::filters;
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
    /// Config file (TOML); must exist. Else NAS_SYNC_CONFIG (may be absent: defaults), else the
    /// OS config directory's nas-sync-monitor/nas-sync.toml.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Archive root: a local directory, a mounted share or a UNC path (overrides NAS_SYNC_ROOT
    /// and `root`).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Source database, archive.db (overrides NAS_SYNC_ARCHIVE_DB and `archive_db`).
    #[arg(long = "archive-db", global = true, value_name = "FILE")]
    archive_db: Option<PathBuf>,
    /// Target database, pokervod.db (overrides NAS_SYNC_TARGET_DB and `target_db`).
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
    Reconcile {
        #[command(flatten)]
        export: ExportArgs,
    },
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
        /// Only changes at or after this date/time: 2026-11-26 (from local midnight) or
        /// 2026-11-26T09:30:00Z.
        #[arg(long)]
        since: Option<String>,
        /// Case-insensitive substring of the path or the old path (Hangul NFC/NFD alike; % and
        /// _ are literal).
        #[arg(long)]
        search: Option<String>,
        /// At most this many rows (default 100, at most 10,000).
        #[arg(long, conflicts_with = "csv")]
        limit: Option<u32>,
        /// Skip this many rows first (paging: --offset 100 --limit 100 is the second page).
        #[arg(long, conflicts_with = "csv")]
        offset: Option<u64>,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// 문제 목록: problems that last (unreadable folders and files, skipped names, rows the
    /// Target refused), newest first.
    Problems,
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
        /// 제외 사유: mxf, mkv, codec (an HLS extension whose codec HLS cannot play), subtitle
        /// or other.
        #[arg(long)]
        reason: Option<String>,
        /// 확장자: only files with this extension (mp4, mxf, …; any case).
        #[arg(long)]
        ext: Option<String>,
        /// 코덱: only files whose probed video codec is this (h264, hevc, …).
        #[arg(long)]
        codec: Option<String>,
        /// 같은 이름, 다른 크기: only duplicate-name groups whose files differ in size (a name
        /// collision, not a copy).
        #[arg(long)]
        collision: bool,
        /// Instead of a page: the values the filters can take, with their counts (extensions,
        /// codecs, exclusion reasons, name collisions).
        #[arg(long)]
        facets: bool,
        /// path, size, mtime, catalog or status (default path).
        #[arg(long)]
        sort: Option<String>,
        /// Reverse the sort.
        #[arg(long)]
        desc: bool,
        /// Page number, from 1.
        #[arg(long, conflicts_with = "csv")]
        page: Option<u32>,
        /// Items per page (default 20, at most 200).
        #[arg(long, conflicts_with = "csv")]
        per_page: Option<u32>,
        #[command(flatten)]
        export: ExportArgs,
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
        /// Address to listen on (else NAS_SYNC_BIND, else 127.0.0.1:8787). A non-loopback
        /// address needs NAS_SYNC_OPERATOR_TOKEN and NAS_SYNC_ADMIN_TOKEN.
        #[arg(long, value_name = "ADDR")]
        bind: Option<std::net::SocketAddr>,
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
    /// Ask a running server for /health: exit 0 when it answers 200, 1 otherwise (the
    /// container's health check).
    Health {
        /// The server's address or its /health URL (default: NAS_SYNC_BIND's port on loopback,
        /// else http://127.0.0.1:8787/health).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
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

/// `--csv`, `--output` and `--lang` of the commands that export (matching, history, reconcile).
#[derive(clap::Args, Debug, Clone)]
struct ExportArgs {
    /// Write CSV instead (UTF-8 with BOM, for Excel): every row the filters match, not one page.
    /// To stdout, or to --output.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// With --csv: write the CSV to this file (replaced only once complete) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE", requires = "csv")]
    output: Option<PathBuf>,
    /// With --csv: the header's language, ko (default) or en.
    #[arg(long, value_name = "LANG", default_value = "ko", requires = "csv")]
    lang: String,
}

/// What a command produced: a JSON value, the human text, and the exit code.
pub struct Outcome {
    json: serde_json::Value,
    human: String,
    code: u8,
}

/// A bare date (`2026-12-07`) as the instant that day starts in the local time zone, as an
/// operator means it (UTC midnight is 09:00 in Seoul); anything else as typed.
fn local_day_start(since: &str) -> String {
    use chrono::{Local, NaiveDate, TimeZone};
    NaiveDate::parse_from_str(since.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| Local.from_local_datetime(&t).earliest())
        .map(|t| t.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| since.to_string())
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
        let bind = match env::bind(*bind) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let mut hosts = allowed_hosts.clone();
        if let Ok(v) = std::env::var(env::ALLOWED_HOSTS) {
            hosts.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(String::from),
            );
        }
        let opts = ServeOpts {
            bind,
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
        // Colours only for a terminal: `docker logs`, a journal or a redirected file would show
        // the escape codes.
        .with_ansi(std::io::stderr().is_terminal())
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
        .or_else(|| env::path(env::CONFIG))
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
            operator_token: token(env::OPERATOR_TOKEN),
            admin_token: token(env::ADMIN_TOKEN),
            local_token: token(env::LOCAL_TOKEN),
            allowed_hosts,
            schedule,
            watch,
        },
        hub.clone(),
        |cfg| apply_overrides(cli, cfg),
    )
}

fn load_config(cli: &Cli) -> Result<Config, Error> {
    let (mut cfg, _origin) = match (&cli.config, env::path(env::CONFIG)) {
        (Some(flag), _) => Config::load(Some(flag))?,
        // A container names where its settings will live before any were saved.
        (None, Some(from_env)) => Config::load_at(&from_env, false)?,
        (None, None) => Config::load(None)?,
    };
    apply_overrides(cli, &mut cfg);
    cfg.validate()?;
    Ok(cfg)
}

/// `--root`, `--archive-db` and `--target-db`, else `NAS_SYNC_ROOT`, `NAS_SYNC_ARCHIVE_DB` and
/// `NAS_SYNC_TARGET_DB`, over the settings file's values.
fn apply_overrides(cli: &Cli, cfg: &mut Config) {
    for (flag, var, field) in [
        (&cli.root, env::ROOT, &mut cfg.root),
        (&cli.archive_db, env::ARCHIVE_DB, &mut cfg.archive_db),
        (&cli.target_db, env::TARGET_DB, &mut cfg.target_db),
    ] {
        if let Some(p) = flag.clone().or_else(|| env::path(var)) {
            *field = Some(p);
        }
    }
}

/// The environment variables the CLI and `serve` read (README "Configuration" has the table).
/// A variable set to the empty string counts as unset, so an env file can list every name.
mod env {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    pub const CONFIG: &str = "NAS_SYNC_CONFIG";
    pub const ROOT: &str = "NAS_SYNC_ROOT";
    pub const ARCHIVE_DB: &str = "NAS_SYNC_ARCHIVE_DB";
    pub const TARGET_DB: &str = "NAS_SYNC_TARGET_DB";
    pub const BIND: &str = "NAS_SYNC_BIND";
    pub const ALLOWED_HOSTS: &str = "NAS_SYNC_ALLOWED_HOSTS";
    // Secrets come from the environment only: a command line is visible to every user (`ps`),
    // and the settings file is shown on the settings screen.
    pub const OPERATOR_TOKEN: &str = "NAS_SYNC_OPERATOR_TOKEN";
    pub const ADMIN_TOKEN: &str = "NAS_SYNC_ADMIN_TOKEN";
    pub const LOCAL_TOKEN: &str = "NAS_SYNC_LOCAL_TOKEN";

    /// A path from the environment, when set and not empty.
    pub fn path(name: &str) -> Option<PathBuf> {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// `serve`'s address: `--bind`, else `NAS_SYNC_BIND`, else 127.0.0.1:8787.
    pub fn bind(flag: Option<SocketAddr>) -> Result<SocketAddr, String> {
        if let Some(b) = flag {
            return Ok(b);
        }
        match std::env::var(BIND) {
            Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| {
                format!(
                    "주소 형식이 아닙니다 / {BIND}={v:?} is not an address; expected IP:PORT, \
                     e.g. 0.0.0.0:8787"
                )
            }),
            _ => Ok(crate::serve::DEFAULT_BIND),
        }
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
        Command::Health { url } => {
            let url = match url {
                Some(u) => u.clone(),
                None => health::default_url(env::bind(None).map_err(|message| Error::Invalid {
                    field: env::BIND.into(),
                    message,
                })?),
            };
            let target = health::parse_url(&url).map_err(|message| Error::Invalid {
                field: "url".into(),
                message,
            })?;
            let probe = health::probe(&target, health::TIMEOUT);
            Ok(output::health(&target.url, &probe))
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
                scope: None,
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
        Command::Reconcile { export } => {
            let cfg = load_config(cli)?;
            if export.csv {
                // Every finding, not the first 1,000 of each section the screen lists.
                let r = reconcile::reconcile_listing(&cfg, &clock, usize::MAX)?;
                let opts = csv_options(export)?;
                return write_csv(cli, export, "reconcile", |out| {
                    nas_sync_engine::export::reconcile_csv(&r, &opts, out)
                });
            }
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
            search,
            limit,
            offset,
            export,
        } => {
            let cfg = load_config(cli)?;
            let filter = query::HistoryFilter {
                event: event.clone(),
                catalog: catalog.clone(),
                since: since.as_deref().map(local_day_start),
                search: search.clone(),
                limit: *limit,
                offset: *offset,
            };
            if export.csv {
                let opts = csv_options(export)?;
                return write_csv(cli, export, "history", |out| {
                    nas_sync_engine::export::history_csv(&cfg, &filter, &opts, out)
                });
            }
            Ok(output::history(&query::history(&cfg, &filter)?))
        }
        Command::Matching {
            status,
            catalog,
            search,
            reason,
            ext,
            codec,
            collision,
            facets,
            sort,
            desc,
            page,
            per_page,
            export,
        } => {
            let cfg = load_config(cli)?;
            if *facets {
                return Ok(output::matching_facets(&filters::facets(&cfg)?));
            }
            let q = matching::MatchingQuery {
                status: status.clone(),
                catalog: catalog.clone(),
                search: search.clone(),
                reason: reason.clone(),
                ext: ext.clone(),
                codec: codec.clone(),
                collision: *collision,
                sort: sort.clone(),
                desc: *desc,
                page: *page,
                per_page: *per_page,
            };
            if export.csv {
                let opts = csv_options(export)?;
                let index = nas_sync_engine::index::Index::open(&cfg)?;
                return write_csv(cli, export, "matching", |out| {
                    nas_sync_engine::export::matching_csv(&index, &q, &opts, out)
                });
            }
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
        Command::Problems => {
            let cfg = load_config(cli)?;
            Ok(output::problems(&query::problems(&cfg)?))
        }
        Command::Dashboard => {
            let cfg = load_config(cli)?;
            let d = query::dashboard(&cfg)?;
            Ok(output::dashboard(&d))
        }
    }
}

fn csv_options(a: &ExportArgs) -> Result<nas_sync_engine::export::CsvOptions, Error> {
    Ok(nas_sync_engine::export::CsvOptions {
        lang: nas_sync_engine::export::CsvLang::parse(&a.lang)?,
        zone: nas_sync_engine::export::Zone::Local,
    })
}

/// Run an export into stdout or `--output FILE`. A file is written next to its final name and
/// renamed when complete, so a failed export never leaves a file that looks whole. A reader
/// that stops early (`| head`) ends the export quietly. The row count goes to stderr for a file
/// (stdout is the CSV itself).
fn write_csv(
    cli: &Cli,
    a: &ExportArgs,
    what: &str,
    export: impl FnOnce(&mut dyn Write) -> Result<u64, Error>,
) -> Result<Outcome, Error> {
    let done = |rows: u64, human: String| Outcome {
        json: serde_json::json!({ "rows": rows }),
        human,
        code: 0,
    };
    let Some(path) = &a.output else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        return match export(&mut out).and_then(|rows| {
            out.flush().map(|_| rows).map_err(|e| Error::Io {
                path: PathBuf::from("stdout"),
                source: e,
            })
        }) {
            Ok(rows) => Ok(done(rows, String::new())),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
                Ok(done(0, String::new()))
            }
            Err(e) => Err(e),
        };
    };
    let io = |p: &std::path::Path| {
        let p = p.to_path_buf();
        move |e| Error::Io { path: p, source: e }
    };
    // A device or a pipe (`--output /dev/stdout`) is written as it is.
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file());
    let part = if special {
        path.clone()
    } else {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.part", std::process::id()));
        path.with_file_name(name)
    };
    let file = std::fs::File::create(&part).map_err(io(&part))?;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let written = export(&mut out).and_then(|rows| {
        let file = out.into_inner().map_err(|e| io(&part)(e.into_error()))?;
        file.sync_all().map_err(io(&part))?;
        Ok(rows)
    });
    let rows = match written {
        Ok(rows) => rows,
        Err(e) => {
            if !special {
                let _ = std::fs::remove_file(&part);
            }
            return Err(e);
        }
    };
    if !special {
        std::fs::rename(&part, path).map_err(io(path))?;
    }
    if !cli.quiet {
        eprintln!(
            "{what}: {rows}행을 {}에 저장했습니다 / {rows} rows written to {}",
            path.display(),
            path.display()
        );
    }
    Ok(done(rows, String::new()))
}
