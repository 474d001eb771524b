//! NAS Sync Monitor's engine: scan a NAS archive into archive.db (the Source) and sync it into the
//! OTT catalog pokervod.db (the Target), safely.
//!
//! Data flows one way: share → [`scan`] → [`archive`] → [`rules`] + [`sync`] → [`target`].
//! [`reconcile`] compares all three without writing. This crate has no GUI, web or CLI
//! dependencies; the `nas-sync` CLI, the HTTP server and the Tauri shell are thin adapters over it.

// In flow order: the share is scanned (`scan`) into the stores (`store`), media headers are
// probed (`probe`), the rules plan and the sync applies (`sync`), the screens query (`query`),
// and the runtime runs it all as jobs for the hosts (`runtime`).
pub mod clock;
pub mod config;
pub mod content_io;
pub mod demo;
pub mod error;
pub mod export;
pub mod names;
pub mod probe;
pub mod query;
pub mod runtime;
pub mod scan;
pub mod store;
pub mod sync;

// The modules by their own names too (`crate::archive`, `nas_sync_engine::rules`, …).
pub use query::{index, matching};
pub use runtime::admin_pin;
pub use scan::fingerprint;
pub use store::{archive, fsinfo, target};
pub use sync::{reconcile, rules};

pub use config::Config;
pub use error::{Error, ErrorBody, ErrorCode, Guard, Result};
