//! The benchmark's error type: which step failed and why. Any error ends the run with exit 1;
//! a missed target is not an error (the results table says FAIL).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An engine call failed.
    #[error("{step}: {source}")]
    Engine {
        step: String,
        #[source]
        source: nas_sync_engine::Error,
    },

    /// Our own SQLite access (the write counter on archive.db) failed.
    #[error("{step}: {source}")]
    Sql {
        step: String,
        #[source]
        source: rusqlite::Error,
    },

    /// A file system operation on the generated tree or an output file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A child process (`find`) could not run or failed.
    #[error("{command}: {message}")]
    Command { command: String, message: String },

    /// The run cannot give meaningful numbers (an unusable `--dir`, a sync that was refused,
    /// an engine answer that contradicts the generated tree).
    #[error("{0}")]
    Check(String),
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Attach the step name to engine and SQLite errors.
pub trait StepContext<T> {
    fn step(self, step: &str) -> Result<T>;
}

impl<T> StepContext<T> for std::result::Result<T, nas_sync_engine::Error> {
    fn step(self, step: &str) -> Result<T> {
        self.map_err(|source| BenchError::Engine {
            step: step.to_string(),
            source,
        })
    }
}

impl<T> StepContext<T> for std::result::Result<T, rusqlite::Error> {
    fn step(self, step: &str) -> Result<T> {
        self.map_err(|source| BenchError::Sql {
            step: step.to_string(),
            source,
        })
    }
}

/// Attach the path to I/O errors.
pub trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| BenchError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
