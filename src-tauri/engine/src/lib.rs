//! NAS Sync Monitor's engine: scan a NAS archive into archive.db (the Source) and sync it into the
//! OTT catalog pokervod.db (the Target), safely.
//!
//! Data flows one way: share → [`scan`] → [`archive`] → [`rules`] + [`sync`] → [`target`].
//! [`reconcile`] compares all three without writing. This crate has no GUI, web or CLI
//! dependencies; the `nas-sync` CLI, the HTTP server and the Tauri shell are thin adapters over it.

pub mod admin_pin;
pub mod archive;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod fingerprint;
pub mod fsinfo;
pub mod index;
pub mod matching;
pub mod names;
pub mod probe;
pub mod query;
pub mod reconcile;
pub mod rules;
pub mod runtime;
pub mod scan;
pub mod sync;
pub mod target;

pub use config::Config;
pub use error::{Error, ErrorBody, ErrorCode, Guard, Result};
