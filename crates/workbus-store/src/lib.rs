//! Durable state for workbus: records and events, as bytes, in an embedded store.
//!
//! The bus keeps its state in its actors' memory and answers from there; a
//! [`Store`] is where that state and the events outlive the process. The store
//! knows nothing of pools or events: a record is a key and a value in one of
//! three [`Table`]s, an event is its id, its time and its JSON. That keeps the
//! interface small enough for another engine (NATS JetStream KV, for the
//! cluster) to hold the same state.
//!
//! ## Group commits
//!
//! [`Store::commit`] hands a [`Batch`] (the writes of one change and the events
//! it caused) to the store's writer, and answers once the batch is on disk.
//! The writer takes every batch waiting when it starts a transaction and
//! commits them together with one sync, so many concurrent changes share one
//! `fsync`; a batch is applied whole or not at all, so after a crash a change
//! is there with its events, or neither is. A [`Batch::lazy`] batch (the
//! times of heartbeats that changed nothing) costs no sync of its own: it is
//! written with the next synced commit, or by [`Store::sync`].
//!
//! ## The embedded store
//!
//! [`RedbStore`] keeps everything in one file, `workbus.redb`, in a data
//! directory. [redb](https://docs.rs/redb) was chosen over SQLite (a C build,
//! and SQL for what is a key-value map) and fjall (an LSM tree, tuned for far
//! more data than a fleet holds): it is pure Rust, ACID with copy-on-write
//! pages (a crash leaves the last commit), takes a lock on its file (a second
//! process is refused), and needs nothing but the file.
//!
//! The store records its format version ([`FORMAT`]); a store of another
//! version is refused with a message that says what to do. Its page cache is
//! [`CACHE_BYTES`] (redb's default of 1 GiB would not fit a memory bound).
//!
//! The choice was made on these properties, not on a measured comparison: the
//! figures of this store are in `docs/performance.md` (`benches/durable.rs`).
//!
//! [`MemoryStore`] keeps the same contract in memory, committed at once: for
//! tests on paused time, where a commit must not wait for a disk.
//!
//! # Examples
//!
//! ```
//! use workbus_store::{Batch, RedbStore, Store, Table};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("workbus-doc-{}", std::process::id()));
//! let store = RedbStore::open(&dir).unwrap();
//! let mut batch = Batch::new();
//! batch.put(Table::Pools, b"etl".to_vec(), br#"{"name":"etl"}"#.to_vec());
//! batch.event(*b"0123456789abcdef", 1_700_000_000_000_000, br#"{"event":"x"}"#.to_vec());
//! store.commit(batch).await.unwrap();
//! let contents = store.load().unwrap();
//! assert_eq!(contents.pools.len(), 1);
//! assert_eq!(contents.events.len(), 1);
//! # drop(store);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```
#![warn(missing_docs)]

mod batch;
mod error;
mod memory;
mod records;
#[cfg(feature = "redb")]
mod redb_store;

pub use batch::{Batch, Contents, Retention, StoredEvent, Table, Write};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use records::Records;
#[cfg(feature = "redb")]
pub use redb_store::{RedbStore, StoreStats, CACHE_BYTES, FORMAT};

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A commit on its way: resolves once the batch is on disk (or failed).
pub type Pending = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Where the bus's state and events outlive the process.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Applies `batch` whole, with other waiting batches in one commit; the
    /// future resolves once it is durable (a lazy batch: once it is written).
    fn commit(&self, batch: Batch) -> Pending;

    /// Writes what lazy batches left unsynced to disk.
    fn sync(&self) -> Pending;

    /// Everything stored, to rebuild the bus from.
    fn load(&self) -> Result<Contents, StoreError>;
}
