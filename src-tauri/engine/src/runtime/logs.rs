//! The live log (PRD 4.2): `tracing` events become [`LogLine`]s kept in a ring buffer of the
//! last [`LOG_CAPACITY`] lines, appended to a size-rotated log file for administrators, and
//! pushed to subscribers (the web UI's `/ws/logs`, the desktop window's channel).
//!
//! Invariants:
//! - A subscriber gets the buffer first, then every later line, in order, with no gap between
//!   the two (both happen under one lock).
//! - Nothing here blocks the engine: a subscriber is a non-blocking [`LogSink`]; one that is full
//!   loses the line and the loss is counted ([`LogLine::missed_before`] tells it how many).
//! - Lines are numbered (`seq`), so a client that reconnects can tell what it already has.
//! - One event is one line: control characters in a message or a field value (a file name with a
//!   newline, say) are escaped when the [`LogLine`] is made ([`escape_controls`]), so nothing a
//!   file name contains can start a forged line in the log file or the live log.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Lines kept for a new subscriber (PRD 4.2: "최근 1000줄 버퍼").
pub const LOG_CAPACITY: usize = 1_000;
/// The log file is rotated when it passes this size; [`LOG_FILES_KEPT`] old files are kept.
pub const LOG_FILE_MAX_BYTES: u64 = 5 * 1024 * 1024;
pub const LOG_FILES_KEPT: usize = 3;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn from_tracing(l: &tracing::Level) -> Level {
        match *l {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::ERROR => Level::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One line of the live log.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS, schemars::JsonSchema)]
pub struct LogLine {
    /// 1, 2, 3, … in the order the engine emitted them.
    pub seq: u64,
    /// ISO 8601 UTC with milliseconds.
    pub time: String,
    pub level: Level,
    /// The message followed by its fields (`key=value`).
    pub message: String,
    /// The module that logged it (`nas_sync_engine::sync`).
    pub target: String,
    /// Lines this subscriber lost just before this one because it was too slow.
    #[serde(skip_serializing_if = "is_zero")]
    #[ts(as = "Option<u64>", optional)]
    pub missed_before: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a subscriber's non-blocking push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    Delivered,
    /// The subscriber is behind: the line is dropped and counted.
    Full,
    /// The subscriber went away: it is removed.
    Closed,
}

/// A subscriber. `push` must not block (use `try_send` on a bounded channel).
pub trait LogSink: Send + Sync {
    fn push(&self, line: &LogLine) -> Push;
}

/// A bounded std channel as a sink.
impl LogSink for mpsc::SyncSender<LogLine> {
    fn push(&self, line: &LogLine) -> Push {
        match self.try_send(line.clone()) {
            Ok(()) => Push::Delivered,
            Err(mpsc::TrySendError::Full(_)) => Push::Full,
            Err(mpsc::TrySendError::Disconnected(_)) => Push::Closed,
        }
    }
}

struct Subscriber {
    id: u64,
    sink: Box<dyn LogSink>,
    /// Lines dropped since the last one delivered.
    missed: u64,
    missed_total: u64,
}

struct Inner {
    lines: VecDeque<LogLine>,
    next_seq: u64,
    next_sub: u64,
    subscribers: Vec<Subscriber>,
    file: Option<LogFile>,
}

/// The live log's hub. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct LogHub {
    inner: Arc<Mutex<Inner>>,
    dropped: Arc<AtomicU64>,
}

impl Default for LogHub {
    fn default() -> Self {
        LogHub::new()
    }
}

/// Handle of a subscription; dropping it does not unsubscribe (the sink's `Closed` does), call
/// [`LogHub::unsubscribe`] to stop explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionId(u64);

impl LogHub {
    pub fn new() -> LogHub {
        LogHub {
            inner: Arc::new(Mutex::new(Inner {
                lines: VecDeque::with_capacity(LOG_CAPACITY),
                next_seq: 1,
                next_sub: 1,
                subscribers: Vec::new(),
                file: None,
            })),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Also append every line to `path` (created with its folder), rotated at
    /// [`LOG_FILE_MAX_BYTES`] into `path.1` … `path.N`.
    pub fn log_to_file(&self, path: &Path) -> std::io::Result<()> {
        let file = LogFile::open(path)?;
        self.lock().file = Some(file);
        Ok(())
    }

    /// Where the log file is, if any.
    pub fn log_file(&self) -> Option<PathBuf> {
        self.lock().file.as_ref().map(|f| f.path.clone())
    }

    /// Record one line: buffer, file, subscribers. Control characters in `message` and
    /// `target` are escaped ([`escape_controls`]).
    pub fn emit(&self, level: Level, target: &str, message: String) {
        let message = escape_controls(message);
        let target = escape_controls(target.to_string());
        let mut inner = self.lock();
        let line = LogLine {
            seq: inner.next_seq,
            time: crate::clock::iso_millis(chrono::Utc::now()),
            level,
            message,
            target,
            missed_before: 0,
        };
        inner.next_seq += 1;
        if let Some(f) = inner.file.as_mut() {
            f.write_line(&line);
        }
        let mut dropped = 0;
        inner.subscribers.retain_mut(|s| {
            let mut l = line.clone();
            l.missed_before = s.missed;
            match s.sink.push(&l) {
                Push::Delivered => {
                    s.missed = 0;
                    true
                }
                Push::Full => {
                    s.missed += 1;
                    s.missed_total += 1;
                    dropped += 1;
                    true
                }
                Push::Closed => false,
            }
        });
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        if inner.lines.len() == LOG_CAPACITY {
            inner.lines.pop_front();
        }
        inner.lines.push_back(line);
    }

    /// The buffered lines, oldest first.
    pub fn recent(&self) -> Vec<LogLine> {
        self.lock().lines.iter().cloned().collect()
    }

    /// Forget the buffered lines (the UI's Clear is local; this is for administrators/tests).
    pub fn clear(&self) {
        self.lock().lines.clear();
    }

    /// Subscribe: `sink` first receives the buffered lines (those it accepts), then the stream.
    pub fn subscribe(&self, sink: Box<dyn LogSink>) -> SubscriptionId {
        let mut inner = self.lock();
        let mut missed = 0;
        for l in &inner.lines {
            match sink.push(l) {
                Push::Delivered => {}
                Push::Full => missed += 1,
                Push::Closed => return SubscriptionId(0),
            }
        }
        let id = inner.next_sub;
        inner.next_sub += 1;
        inner.subscribers.push(Subscriber {
            id,
            sink,
            missed,
            missed_total: missed,
        });
        SubscriptionId(id)
    }

    /// A subscription over a bounded std channel of `capacity` lines.
    pub fn subscribe_channel(&self, capacity: usize) -> (SubscriptionId, mpsc::Receiver<LogLine>) {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        (self.subscribe(Box::new(tx)), rx)
    }

    pub fn unsubscribe(&self, id: SubscriptionId) {
        self.lock().subscribers.retain(|s| s.id != id.0);
    }

    pub fn subscriber_count(&self) -> usize {
        self.lock().subscribers.len()
    }

    /// Lines dropped for slow subscribers since start, all subscribers together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A `tracing` layer feeding this hub (add it to the process's subscriber).
    pub fn layer(&self) -> LogLayer {
        LogLayer { hub: self.clone() }
    }
}

/// Whether `c` must not appear as is in a log line: C0 and C1 controls and DEL (a newline or a
/// carriage return would start a line of its own; escape sequences can rewrite a terminal) and
/// the Unicode line and paragraph separators.
fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `text` with its control characters escaped: `\n`, `\r`, `\t`, and `\u{1b}` for the others
/// (see [`needs_escape`]). Every printable character (Hangul, emoji, backslashes) is kept as is;
/// text without control characters is returned unchanged, without copying.
pub fn escape_controls(text: String) -> String {
    if !text.chars().any(needs_escape) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The append-only, size-rotated log file.
struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
}

impl LogFile {
    fn open(path: &Path) -> std::io::Result<LogFile> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
        })
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut p = self.path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn write_line(&mut self, l: &LogLine) {
        let text = format!(
            "{} {:5} {}: {}\n",
            l.time,
            l.level.as_str(),
            l.target,
            l.message
        );
        if self.size + text.len() as u64 > LOG_FILE_MAX_BYTES && self.size > 0 {
            self.rotate();
        }
        // A full disk must not stop the engine; the line stays in the buffer and the stream.
        if self.file.write_all(text.as_bytes()).is_ok() {
            self.size += text.len() as u64;
        }
    }

    fn rotate(&mut self) {
        let _ = self.file.flush();
        for n in (1..LOG_FILES_KEPT).rev() {
            let _ = std::fs::rename(self.numbered(n), self.numbered(n + 1));
        }
        let _ = std::fs::rename(&self.path, self.numbered(1));
        if let Ok(f) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            self.file = f;
            self.size = 0;
        }
    }
}

/// `tracing` → [`LogHub`].
pub struct LogLayer {
    hub: LogHub,
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields
                .push_str(&format!(" {}={}", field.name(), quote(value)));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message.push_str(&format!("{value:?}"));
        } else {
            self.fields
                .push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

fn quote(v: &str) -> String {
    if v.contains(' ') || v.is_empty() {
        format!("{v:?}")
    } else {
        v.to_string()
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut v = MessageVisitor::default();
        event.record(&mut v);
        let meta = event.metadata();
        self.hub.emit(
            Level::from_tracing(meta.level()),
            meta.target(),
            format!("{}{}", v.message, v.fields),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_keeps_the_last_thousand_lines_numbered_in_order() {
        let hub = LogHub::new();
        for i in 0..1_500 {
            hub.emit(Level::Info, "t", format!("line {i}"));
        }
        let lines = hub.recent();
        assert_eq!(lines.len(), LOG_CAPACITY);
        assert_eq!(lines[0].message, "line 500");
        assert_eq!(lines[0].seq, 501);
        assert_eq!(lines.last().map(|l| l.seq), Some(1_500));
    }

    #[test]
    fn a_subscriber_gets_the_buffer_then_the_stream_without_a_gap() {
        let hub = LogHub::new();
        for i in 0..5 {
            hub.emit(Level::Info, "t", format!("before {i}"));
        }
        let (_id, rx) = hub.subscribe_channel(100);
        hub.emit(Level::Warn, "t", "after".into());
        let got: Vec<u64> = rx.try_iter().map(|l| l.seq).collect();
        assert_eq!(got, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_slow_subscriber_loses_lines_counted_and_never_blocks() {
        let hub = LogHub::new();
        let (_slow, slow_rx) = hub.subscribe_channel(2);
        let (_fast, fast_rx) = hub.subscribe_channel(100);
        for i in 0..10 {
            hub.emit(Level::Info, "t", format!("{i}"));
        }
        assert_eq!(fast_rx.try_iter().count(), 10, "the fast one gets all");
        let first: Vec<LogLine> = slow_rx.try_iter().collect();
        assert_eq!(first.len(), 2);
        assert_eq!(hub.dropped_total(), 8);
        hub.emit(Level::Info, "t", "next".into());
        let next: Vec<LogLine> = slow_rx.try_iter().collect();
        assert_eq!(next.len(), 1);
        assert_eq!(
            next[0].missed_before, 8,
            "the loss is reported with the next line"
        );
    }

    #[test]
    fn a_closed_subscriber_is_removed() {
        let hub = LogHub::new();
        let (_id, rx) = hub.subscribe_channel(10);
        assert_eq!(hub.subscriber_count(), 1);
        drop(rx);
        hub.emit(Level::Info, "t", "x".into());
        assert_eq!(hub.subscriber_count(), 0);
    }

    #[test]
    fn tracing_events_become_lines_with_fields() {
        use tracing_subscriber::layer::SubscriberExt;
        let hub = LogHub::new();
        let subscriber = tracing_subscriber::registry().with(hub.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(added = 3, path = "WSOP/a b.mp4", "동기화 완료");
            tracing::error!("실패");
        });
        let lines = hub.recent();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].level, Level::Info);
        assert_eq!(
            lines[0].message,
            "동기화 완료 added=3 path=\"WSOP/a b.mp4\""
        );
        assert_eq!(lines[1].level, Level::Error);
        let json = serde_json::to_value(&lines[1]).expect("json");
        assert_eq!(json["level"], "ERROR");
        assert!(json.get("missed_before").is_none());
    }

    #[test]
    fn control_characters_are_escaped_and_printable_text_is_kept() {
        assert_eq!(
            escape_controls("a\nb\rc\td\u{1b}[2Je\u{0}f\u{7f}g\u{85}h\u{2028}i\u{2029}".into()),
            "a\\nb\\rc\\td\\u{1b}[2Je\\u{0}f\\u{7f}g\\u{85}h\\u{2028}i\\u{2029}"
        );
        let kept = "동기화 완료 WSOP\\2024\\a b.mp4 🎬 \"q\"".to_string();
        assert_eq!(escape_controls(kept.clone()), kept);
    }

    #[test]
    fn a_forged_line_in_a_file_name_stays_inside_its_own_line() {
        use tracing_subscriber::layer::SubscriberExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/nas-sync.log");
        let hub = LogHub::new();
        hub.log_to_file(&path).expect("log file");
        let evil = "evil\n2026-01-01T00:00:00Z ERROR forged";
        let subscriber = tracing_subscriber::registry().with(hub.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("추가됨: {evil} / added");
            tracing::info!(path = evil, "필드 / field");
            tracing::info!(path = "a\rb\u{2028}c", "필드 / field");
        });
        let lines = hub.recent();
        assert_eq!(lines.len(), 3, "one LogLine per event: {lines:#?}");
        for l in &lines {
            assert!(
                !l.message.chars().any(needs_escape),
                "a control character reached the live log: {:?}",
                l.message
            );
        }
        assert_eq!(
            lines[0].message,
            "추가됨: evil\\n2026-01-01T00:00:00Z ERROR forged / added"
        );
        assert_eq!(
            lines[1].message,
            "필드 / field path=\"evil\\n2026-01-01T00:00:00Z ERROR forged\""
        );
        assert_eq!(lines[2].message, "필드 / field path=a\\rb\\u{2028}c");
        let text = std::fs::read_to_string(&path).expect("read log");
        let file_lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            file_lines.len(),
            3,
            "one line per event in the file: {text}"
        );
        assert!(
            file_lines[0].ends_with("추가됨: evil\\n2026-01-01T00:00:00Z ERROR forged / added"),
            "{text}"
        );
        assert!(
            !text.contains('\r') && !text.contains('\u{2028}'),
            "no raw separator in the file: {text:?}"
        );
        assert!(
            !file_lines
                .iter()
                .any(|l| l.starts_with("2026-01-01T00:00:00Z")),
            "a forged line: {text}"
        );
    }

    #[test]
    fn the_log_file_rotates_and_keeps_three_old_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/nas-sync.log");
        let hub = LogHub::new();
        hub.log_to_file(&path).expect("log file");
        let long = "x".repeat(100_000);
        for _ in 0..260 {
            hub.emit(Level::Info, "t", long.clone());
        }
        assert!(path.exists());
        for n in 1..=LOG_FILES_KEPT {
            let p = dir.path().join(format!("logs/nas-sync.log.{n}"));
            let len = std::fs::metadata(&p).expect("rotated file").len();
            assert!(len <= LOG_FILE_MAX_BYTES, "{} is {len} bytes", p.display());
        }
        assert!(
            !dir.path()
                .join(format!("logs/nas-sync.log.{}", LOG_FILES_KEPT + 1))
                .exists()
        );
        let current = std::fs::read_to_string(&path).expect("read log");
        assert!(current.ends_with(&format!("{long}\n")));
    }
}
