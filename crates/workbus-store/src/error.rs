//! Why a store cannot be opened, read or written.

use std::path::PathBuf;
use std::sync::Arc;

/// A store's failure, with what to do about it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be made or read.
    #[error("data directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: Arc<std::io::Error>,
    },
    /// Another process has the store open.
    #[error(
        "the store {path} is in use by another process: stop it, or give this one another data directory"
    )]
    Locked {
        /// The store's file.
        path: PathBuf,
    },
    /// The file is not a store this version can read.
    #[error(
        "the store {path} cannot be read ({source}): restore it from a backup, or move it away to start empty"
    )]
    Corrupt {
        /// The store's file.
        path: PathBuf,
        /// What the engine said.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The store was written in another format.
    #[error("the store {path} has format {found}, this workbus reads format {expected}: {advice}")]
    Format {
        /// The store's file.
        path: PathBuf,
        /// The format it records.
        found: u64,
        /// The format this version writes.
        expected: u64,
        /// What to do.
        advice: &'static str,
    },
    /// A read or a commit failed.
    #[error("store: {0}")]
    Engine(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// Another owner has written the scope since this one last read or wrote
    /// it (or holds it): the write is refused, so that a node that lost a
    /// pool (paused, cut off) cannot overwrite the new owner's state.
    #[error("{scope} is owned elsewhere now: this node's write was refused")]
    Fenced {
        /// The scope, as text.
        scope: String,
    },
    /// The writer has stopped (the store was dropped, or a commit failed before).
    #[error("the store's writer has stopped")]
    Stopped,
}

impl StoreError {
    /// A failure of the engine underneath.
    pub fn engine(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Engine(Arc::new(e))
    }
}

/// Two failures are equal when they say the same (their sources are not comparable).
impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for StoreError {}
