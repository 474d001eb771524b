//! The monitor runtime shared by the desktop app and the headless server: jobs (one at a time,
//! with progress and cancellation), the schedule, the watcher, the status and the live log.
//! No HTTP or Tauri types here; the adapters translate.

pub mod actions;
pub mod admin;
pub mod admin_pin;
pub mod after_job;
pub mod logs;
pub mod monitor;
pub mod service;

pub use admin::{Caller, CallerKind};
pub use logs::{LogHub, LogLine};
pub use monitor::{
    ForceApproval, JobInfo, JobKind, JobState, Monitor, MonitorOptions, Started, Status, StatusKind,
};
pub use service::{HostOptions, Service};
pub mod settings;
pub mod watch;
