//! [`RedbStore`]: the embedded store, one redb file with a writer thread that group-commits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};
use tokio::sync::{mpsc, oneshot};

use crate::batch::{Batch, Contents, Retention, StoredEvent, Table, Write};
use crate::error::StoreError;
use crate::{Pending, Store};

/// The format this version writes and reads. A store records it when it is made.
pub const FORMAT: u64 = 1;

/// The file in the data directory.
const FILE: &str = "workbus.redb";
/// Batches waiting for the writer before `commit` waits for room.
const QUEUE: usize = 4096;
/// The engine's page cache (redb's default is 1 GiB): part of the server's memory bound.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Most batches in one commit (a bound on one transaction's size).
const MAX_GROUP: usize = 1024;

const POOLS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pools");
const QUEUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("queues");
const WORKERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("workers");
const BEATS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("beats");
/// Made on open in a store written before automations were kept (same format).
const AUTOMATIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("automations");
/// Likewise, in a store written before blocks were kept.
const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
/// seq → id (16 bytes), occurred (8 bytes, little-endian), JSON.
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

fn table(t: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    match t {
        Table::Pools => POOLS,
        Table::Queues => QUEUES,
        Table::Workers => WORKERS,
        Table::Beats => BEATS,
        Table::Automations => AUTOMATIONS,
        Table::Blocks => BLOCKS,
    }
}

/// What the writer has done, for tests, benches and metrics.
#[derive(Debug, Default)]
pub struct StoreStats {
    batches: AtomicU64,
    commits: AtomicU64,
    synced: AtomicU64,
    evicted: AtomicU64,
}

// Counts read on their own: Relaxed orders nothing else.
impl StoreStats {
    /// Batches applied.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Transactions committed (each holds one or more batches).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Commits that synced to disk.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Relaxed)
    }

    /// Events removed by the retention.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

enum Job {
    Commit(Batch, oneshot::Sender<Result<(), StoreError>>),
    Sync(oneshot::Sender<Result<(), StoreError>>),
}

impl Job {
    fn synced(&self) -> bool {
        match self {
            Job::Commit(b, _) => !b.lazy,
            Job::Sync(_) => true,
        }
    }
}

/// The embedded store: `workbus.redb` in a data directory, locked while open.
pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
    tx: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    stats: Arc<StoreStats>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or makes) the store in `dir`, with the default [`Retention`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, Retention::default())
    }

    /// Opens (or makes) the store in `dir`, keeping events as `retention` says.
    ///
    /// Refused with [`StoreError::Locked`] while another process has it open,
    /// [`StoreError::Corrupt`] when the file is not a store, and
    /// [`StoreError::Format`] when it was written in another format.
    pub fn open_with(dir: impl AsRef<Path>, retention: Retention) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
            path: dir.to_owned(),
            source: Arc::new(source),
        })?;
        let path = dir.join(FILE);
        let db = match Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
        {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::Locked { path }),
            Err(e) => {
                return Err(StoreError::Corrupt {
                    path,
                    source: Arc::new(e),
                })
            }
        };
        check_format(&db, &path)?;
        let db = Arc::new(db);
        let stats = Arc::new(StoreStats::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = {
            let (db, stats) = (db.clone(), stats.clone());
            std::thread::Builder::new()
                .name("workbus-store".into())
                .spawn(move || write_loop(&db, rx, retention, &stats))
                .map_err(|source| StoreError::Directory {
                    path: dir.to_owned(),
                    source: Arc::new(source),
                })?
        };
        Ok(RedbStore {
            db,
            path,
            tx: Some(tx),
            writer: Some(writer),
            stats,
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writer has done.
    pub fn stats(&self) -> &Arc<StoreStats> {
        &self.stats
    }

    fn send(&self, job: impl FnOnce(oneshot::Sender<Result<(), StoreError>>) -> Job) -> Pending {
        let tx = self.tx.clone();
        let (done, answer) = oneshot::channel();
        let job = job(done);
        Box::pin(async move {
            let tx = tx.ok_or(StoreError::Stopped)?;
            tx.send(job).await.map_err(|_| StoreError::Stopped)?;
            answer.await.map_err(|_| StoreError::Stopped)?
        })
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // The writer finishes what is queued, then stops; the file's lock goes with it.
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Store for RedbStore {
    fn commit(&self, batch: Batch) -> Pending {
        self.send(|done| Job::Commit(batch, done))
    }

    fn sync(&self) -> Pending {
        self.send(Job::Sync)
    }

    fn load(&self) -> Result<Contents, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::engine)?;
        let mut out = Contents::default();
        for t in Table::ALL {
            let into = out.table_mut(t);
            let records = txn.open_table(table(t)).map_err(StoreError::engine)?;
            for entry in records.iter().map_err(StoreError::engine)? {
                let (k, v) = entry.map_err(StoreError::engine)?;
                into.push((k.value().to_vec(), v.value().to_vec()));
            }
        }
        let events = txn.open_table(EVENTS).map_err(StoreError::engine)?;
        for entry in events.iter().map_err(StoreError::engine)? {
            let (seq, v) = entry.map_err(StoreError::engine)?;
            if let Some(e) = decode_event(seq.value(), v.value()) {
                out.events.push(e);
            }
        }
        Ok(out)
    }
}

fn check_format(db: &Database, path: &Path) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(StoreError::engine)?;
    {
        let mut meta = txn.open_table(META).map_err(StoreError::engine)?;
        let found = meta
            .get("format")
            .map_err(StoreError::engine)?
            .map(|v| v.value());
        match found {
            None => {
                meta.insert("format", FORMAT).map_err(StoreError::engine)?;
            }
            Some(FORMAT) => {}
            Some(found) => {
                let advice = if found > FORMAT {
                    "it was written by a newer workbus: run that version, or restore a backup made before the upgrade"
                } else {
                    "this format is too old to migrate: export with the version that wrote it"
                };
                return Err(StoreError::Format {
                    path: path.to_owned(),
                    found,
                    expected: FORMAT,
                    advice,
                });
            }
        }
        // Made now, so that a load of a new store finds every table.
        for t in Table::ALL {
            txn.open_table(table(t)).map_err(StoreError::engine)?;
        }
        txn.open_table(EVENTS).map_err(StoreError::engine)?;
    }
    txn.commit().map_err(StoreError::engine)
}

fn encode_event(id: &[u8; 16], occurred: i64, json: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(24 + json.len());
    v.extend_from_slice(id);
    v.extend_from_slice(&occurred.to_le_bytes());
    v.extend_from_slice(json);
    v
}

fn decode_event(seq: u64, v: &[u8]) -> Option<StoredEvent> {
    let id: [u8; 16] = v.get(..16)?.try_into().ok()?;
    let occurred = i64::from_le_bytes(v.get(16..24)?.try_into().ok()?);
    Some(StoredEvent {
        seq,
        id,
        occurred_micros: occurred,
        json: v[24..].to_vec(),
    })
}

fn write_loop(
    db: &Database,
    mut rx: mpsc::Receiver<Job>,
    retention: Retention,
    stats: &StoreStats,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let synced = jobs.iter().any(Job::synced);
        let result = apply(db, &jobs, synced, retention, stats);
        if let Err(e) = &result {
            tracing::error!(error = %e, "store commit failed");
        }
        for job in jobs {
            let done = match job {
                Job::Commit(_, done) | Job::Sync(done) => done,
            };
            let _ = done.send(result.clone());
        }
    }
}

fn apply(
    db: &Database,
    jobs: &[Job],
    synced: bool,
    retention: Retention,
    stats: &StoreStats,
) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(StoreError::engine)?;
    let durability = if synced {
        Durability::Immediate
    } else {
        Durability::None
    };
    txn.set_durability(durability).map_err(StoreError::engine)?;
    let mut batches = 0;
    let mut evicted = 0;
    {
        let mut meta = txn.open_table(META).map_err(StoreError::engine)?;
        let mut events = txn.open_table(EVENTS).map_err(StoreError::engine)?;
        let mut next = meta
            .get("next_seq")
            .map_err(StoreError::engine)?
            .map_or(0, |v| v.value());
        let mut newest = i64::MIN;
        for job in jobs {
            let Job::Commit(batch, _) = job else {
                continue;
            };
            batches += 1;
            for w in &batch.writes {
                match w {
                    Write::Put {
                        table: t,
                        key,
                        value,
                    } => {
                        let mut records = txn.open_table(table(*t)).map_err(StoreError::engine)?;
                        records
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(StoreError::engine)?;
                    }
                    Write::Delete { table: t, key } => {
                        let mut records = txn.open_table(table(*t)).map_err(StoreError::engine)?;
                        records.remove(key.as_slice()).map_err(StoreError::engine)?;
                    }
                    Write::DeletePrefix { table: t, prefix } => {
                        let mut records = txn.open_table(table(*t)).map_err(StoreError::engine)?;
                        let mut doomed = Vec::new();
                        for entry in records
                            .range(prefix.as_slice()..)
                            .map_err(StoreError::engine)?
                        {
                            let (k, _) = entry.map_err(StoreError::engine)?;
                            if !k.value().starts_with(prefix) {
                                break;
                            }
                            doomed.push(k.value().to_vec());
                        }
                        for k in doomed {
                            records.remove(k.as_slice()).map_err(StoreError::engine)?;
                        }
                    }
                    Write::Event {
                        id,
                        occurred_micros,
                        json,
                    } => {
                        events
                            .insert(next, encode_event(id, *occurred_micros, json).as_slice())
                            .map_err(StoreError::engine)?;
                        next += 1;
                        newest = newest.max(*occurred_micros);
                    }
                }
            }
        }
        meta.insert("next_seq", next).map_err(StoreError::engine)?;
        // Retention: the oldest go first, by count, then by age against the newest event.
        let cutoff =
            newest.saturating_sub(retention.max_age.as_micros().min(i64::MAX as u128) as i64);
        loop {
            let over = events.len().map_err(StoreError::engine)? > retention.max_events;
            let Some(oldest) = events.first().map_err(StoreError::engine)? else {
                break;
            };
            let (seq, old) = (oldest.0.value(), decode_event(0, oldest.1.value()));
            drop(oldest);
            let expired = newest != i64::MIN && old.is_some_and(|e| e.occurred_micros < cutoff);
            if !(over || expired) {
                break;
            }
            events.remove(seq).map_err(StoreError::engine)?;
            evicted += 1;
        }
    }
    txn.commit().map_err(StoreError::engine)?;
    stats.batches.fetch_add(batches, Ordering::Relaxed);
    stats.commits.fetch_add(1, Ordering::Relaxed);
    if synced {
        stats.synced.fetch_add(1, Ordering::Relaxed);
    }
    stats.evicted.fetch_add(evicted, Ordering::Relaxed);
    Ok(())
}
