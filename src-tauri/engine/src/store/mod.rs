//! The databases and the file systems under them: archive.db (the Source: files, scan runs,
//! history, Target links), pokervod.db (the Target, someone else's catalog) and what kind of
//! file system a path is on; the SQLite plumbing archive.db and the Target share (`sqlite`).

pub mod archive;
pub mod fsinfo;
pub(crate) mod sqlite;
pub mod target;
