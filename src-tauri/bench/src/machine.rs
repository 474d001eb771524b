//! The machine a run happened on, for the results header: CPUs, kernel, CPU model, RAM, date and
//! the file system the tree lives on.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `nproc`.
    pub nproc: String,
    /// `uname -r`.
    pub kernel: String,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// `MemTotal` from /proc/meminfo, in GiB.
    pub ram_gib: f64,
    /// `date`.
    pub date: String,
    /// /proc/loadavg's 1, 5 and 15 minute load averages when the run started: other work on the
    /// machine skews the timings.
    pub load_average: String,
}

fn command_line_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Machine {
    pub fn detect() -> Machine {
        let nproc = command_line_output("nproc", &[]).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into())
        });
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let (key, value) = l.split_once(':')?;
                    (key.trim() == "model name").then(|| value.trim().to_string())
                })
            })
            .unwrap_or_else(|| "unknown".into());
        let ram_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let kb = l.strip_prefix("MemTotal:")?;
                    kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
                })
            })
            .map(|kb| kb as f64 / (1024.0 * 1024.0))
            .unwrap_or(0.0);
        Machine {
            nproc,
            kernel: command_line_output("uname", &["-r"]).unwrap_or_else(|| "unknown".into()),
            cpu,
            ram_gib,
            date: command_line_output("date", &[]).unwrap_or_else(|| "unknown".into()),
            load_average: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| "unknown".into()),
        }
    }
}

/// The file system type of the mount that holds `path` (`tmpfs`, `ext4`, …), from /proc/mounts.
pub fn filesystem_of(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let (_dev, mount, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(mount)
                .then(|| (mount.len(), fstype.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fstype)| fstype)
}

/// The commit of the workspace this binary was built from (`git rev-parse --short HEAD`, read
/// only), or `None` outside a git checkout. Uncommitted changes are not detected.
pub fn source_commit() -> Option<String> {
    command_line_output(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    )
}
