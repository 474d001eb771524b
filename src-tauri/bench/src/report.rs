//! The results: one row per measurement with its target and verdict, the run's header, the
//! Markdown table printed on stdout and the JSON document written with `--json`.

use serde::Serialize;

use crate::machine::Machine;
use crate::measure::{Latency, fmt_count};
use crate::tree::Generated;

/// The file count the targets are stated for.
pub const TARGET_FILES: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Reported for context; no target.
    Info,
}

impl Verdict {
    fn of(pass: bool) -> Verdict {
        if pass { Verdict::Pass } else { Verdict::Fail }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "**FAIL**",
            Verdict::Info => "—",
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stable name for tools and tests (`scan_store`, `matching_status_new`, …).
    pub key: String,
    /// What was measured, for people.
    pub name: String,
    /// The main number: seconds, ms (p95 per call), MB, rows/s or a count (see `unit`).
    pub value: f64,
    pub unit: &'static str,
    /// The result as shown in the table.
    pub result: String,
    /// Queries only: the same query on one long-lived index.
    pub long_lived: Option<String>,
    pub target: Option<String>,
    pub verdict: Verdict,
    pub per_call_latency: Option<Latency>,
    pub long_lived_latency: Option<Latency>,
}

impl Row {
    pub fn info(key: &str, name: &str, value: f64, unit: &'static str, result: String) -> Row {
        Row {
            key: key.to_string(),
            name: name.to_string(),
            value,
            unit,
            result,
            long_lived: None,
            target: None,
            verdict: Verdict::Info,
            per_call_latency: None,
            long_lived_latency: None,
        }
    }

    pub fn checked(
        key: &str,
        name: &str,
        value: f64,
        unit: &'static str,
        result: String,
        target: &str,
        pass: bool,
    ) -> Row {
        Row {
            target: Some(target.to_string()),
            verdict: Verdict::of(pass),
            ..Row::info(key, name, value, unit, result)
        }
    }

    /// A query row: value = per-call p95; the verdict judges the per-call p95 against
    /// `max_p95_ms`, the latency of a CLI call or a server request that opens the index; the
    /// long-lived column is shown next to it for comparison.
    pub fn query(
        key: &str,
        name: &str,
        per_call: Latency,
        long_lived: Option<Latency>,
        max_p95_ms: Option<f64>,
    ) -> Row {
        let (target, verdict) = match max_p95_ms {
            Some(max) => (
                Some(format!("p95 ≤ {max} ms")),
                Verdict::of(per_call.p95_ms <= max),
            ),
            None => (None, Verdict::Info),
        };
        Row {
            key: key.to_string(),
            name: name.to_string(),
            value: per_call.p95_ms,
            unit: "ms",
            result: per_call.display(),
            long_lived: long_lived.map(|l| l.display()),
            target,
            verdict,
            per_call_latency: Some(per_call),
            long_lived_latency: long_lived,
        }
    }
}

/// Who, where, when and how.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub machine: Machine,
    pub files: u64,
    pub queries: u32,
    pub command: String,
    pub release_build: bool,
    /// `git rev-parse --short HEAD` of the checkout it was built from (working-tree changes
    /// are not shown).
    pub commit: String,
    pub dir: String,
    /// File system of `dir` (`tmpfs` for /dev/shm).
    pub filesystem: String,
    /// How the mass-delete guard was handled for the re-sync.
    pub mass_delete_guard: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub header: Header,
    pub generated: Generated,
    pub rows: Vec<Row>,
    /// Counts the engine reported along the way (what the smoke test checks).
    pub counts: serde_json::Value,
    pub notes: Vec<String>,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

impl Report {
    pub fn markdown(&self) -> String {
        let h = &self.header;
        let m = &h.machine;
        let mut out = String::new();
        out.push_str("## nas-sync-bench results\n\n");
        if !h.release_build {
            out.push_str(
                "> **WARNING: debug build — timings are not meaningful.** Use `cargo run --release -p nas-sync-bench`.\n\n",
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
            fmt_count(h.files),
            h.dir,
            h.filesystem
        ));
        out.push_str(&format!("- queries per measurement: {}\n", h.queries));
        out.push_str(&format!("- command: `{}`\n", h.command));
        out.push_str(&format!(
            "- build: {}\n",
            if h.release_build {
                "release"
            } else {
                "debug (timings not meaningful)"
            }
        ));
        out.push_str(&format!("- built from commit: {}\n", h.commit));
        out.push_str(&format!("- mass-delete guard: {}\n", h.mass_delete_guard));
        if h.files != TARGET_FILES {
            out.push_str(&format!(
                "- targets are stated for {} files; this run has {}\n",
                fmt_count(TARGET_FILES),
                fmt_count(h.files)
            ));
        }
        out.push('\n');
        out.push_str(
            "| measurement | result (per call for queries) | long-lived index | target | pass/fail |\n",
        );
        out.push_str("|---|---|---|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                cell(&r.name),
                cell(&r.result),
                cell(r.long_lived.as_deref().unwrap_or("")),
                cell(r.target.as_deref().unwrap_or("—")),
                r.verdict.label()
            ));
        }
        let failed: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| r.key.as_str())
            .collect();
        out.push('\n');
        if failed.is_empty() {
            out.push_str("All targets met.\n");
        } else {
            out.push_str(&format!(
                "Targets missed ({}): {}\n",
                failed.len(),
                failed.join(", ")
            ));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }
}
