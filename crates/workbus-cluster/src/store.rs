//! The fleet's store: each pool's records in one document of a JetStream KV
//! bucket, written only by the node that holds the pool, fenced by revision.
//!
//! ## Fencing
//!
//! A node writes a pool's document with the revision it last read or wrote
//! (KV compare-and-set). A node that takes a pool over writes the document
//! first, as its own, which moves the revision on: from then on a write of the
//! node that held it before (paused, cut off, or simply late) is refused with
//! [`StoreError::Fenced`], and the bus drops that change and its events and
//! lets the pool go. So two nodes never both write a pool, and a node that
//! lost a pool emits nothing more for it.
//!
//! ## What is kept where
//!
//! Records (the pool, its queues, workers and their last times) are in the
//! document, under the pool's key; events travel on the event stream (the
//! NATS bridge), not here. A lazy batch (heartbeat times) for a pool this node
//! does not hold is dropped: it is not this node's to write.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use workbus_core::Clock;
use workbus_events::Timestamp;
use workbus_store::{Batch, Contents, Pending, Store, StoreError};

use crate::doc::Doc;
use crate::names::pool_key;
use crate::stats::{bump, ClusterStats};

/// Moves a scope to its next state, counting the pools held.
fn set(stats: &ClusterStats, st: &mut Scope, next: Scope) {
    let (was, is) = (
        matches!(st, Scope::Held { .. }),
        matches!(next, Scope::Held { .. }),
    );
    if is && !was {
        stats.held.fetch_add(1, Ordering::Relaxed);
    } else if was && !is {
        stats.held.fetch_sub(1, Ordering::Relaxed);
    }
    *st = next;
}

/// Where this node stands with a scope.
enum Scope {
    /// Not held, and not known to be anyone's: a creation may write it.
    Absent,
    /// Held: the document as last written, and its revision.
    Held { doc: Doc, revision: u64 },
    /// Taken over by another node, or handed over: every write is fenced.
    Lost,
}

/// What a claim found.
#[derive(Debug)]
pub(crate) enum Claim {
    /// Taken over: the records, and when the node that held it last wrote it.
    Taken(Box<Contents>, Timestamp),
    /// No such pool in the fleet.
    Missing,
    /// A live node holds it: wait until it hands it over.
    HeldBy(String),
}

struct Inner {
    stats: Arc<ClusterStats>,
    kv: kv::Store,
    node: Arc<str>,
    clock: Arc<dyn Clock>,
    scopes: Mutex<HashMap<Vec<u8>, Arc<tokio::sync::Mutex<Scope>>>>,
}

/// A [`Store`] on a JetStream KV bucket, a document per pool (see the module docs).
#[derive(Clone)]
pub struct KvStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore")
            .field("bucket", &self.inner.kv.name)
            .field("node", &self.inner.node)
            .finish()
    }
}

/// How long one KV operation may take: past it the write's fate is unknown
/// (answered as an engine error; a write that did land shows as a fence on
/// the next one, and the pool is taken over again).
const OP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A KV operation, bounded by [`OP_TIMEOUT`]: nothing here waits forever on NATS.
async fn bounded<T>(op: impl std::future::Future<Output = T>) -> Result<T, StoreError> {
    tokio::time::timeout(OP_TIMEOUT, op)
        .await
        .map_err(StoreError::engine)
}

fn fenced(scope: &[u8]) -> StoreError {
    StoreError::Fenced {
        scope: format!("work pool {:?}", String::from_utf8_lossy(scope)),
    }
}

impl KvStore {
    pub(crate) fn new(
        kv: kv::Store,
        node: &str,
        clock: Arc<dyn Clock>,
        stats: Arc<ClusterStats>,
    ) -> Self {
        KvStore {
            inner: Arc::new(Inner {
                stats,
                kv,
                node: node.into(),
                clock,
                scopes: Mutex::default(),
            }),
        }
    }

    fn cell(&self, scope: &[u8]) -> Arc<tokio::sync::Mutex<Scope>> {
        let mut scopes = self
            .inner
            .scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        scopes
            .entry(scope.to_vec())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Scope::Absent)))
            .clone()
    }

    /// Drops an absent scope's cell unless another task holds it: a call for a
    /// pool that does not exist must not leave a cell behind.
    fn forget_absent(&self, scope: &[u8], cell: &Arc<tokio::sync::Mutex<Scope>>) {
        let mut scopes = self
            .inner
            .scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let absent = cell.try_lock().is_ok_and(|st| matches!(*st, Scope::Absent));
        // Clones are made under this lock: two are the map's and the caller's.
        if absent && Arc::strong_count(cell) == 2 {
            scopes.remove(scope);
        }
    }

    /// The scopes this node holds.
    pub(crate) async fn held(&self) -> Vec<Vec<u8>> {
        let cells: Vec<(Vec<u8>, Arc<tokio::sync::Mutex<Scope>>)> = self
            .inner
            .scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for (k, cell) in cells {
            if matches!(*cell.lock().await, Scope::Held { .. }) {
                out.push(k);
            }
        }
        out
    }

    /// Takes a scope over, unless a live node other than this one holds it:
    /// writes its document back as this node's (the fence), and answers its records.
    pub(crate) async fn claim(
        &self,
        scope: &[u8],
        live: impl Fn(&str) -> bool,
    ) -> Result<Claim, StoreError> {
        let cell = self.cell(scope);
        let mut st = cell.lock().await;
        if let Scope::Held { doc, .. } = &*st {
            return Ok(Claim::Taken(
                Box::new(doc.contents()),
                Timestamp::from_micros(doc.written),
            ));
        }
        let key = pool_key(scope);
        let entry = bounded(self.inner.kv.entry(&key))
            .await?
            .map_err(StoreError::engine)?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            set(&self.inner.stats, &mut st, Scope::Absent);
            drop(st);
            self.forget_absent(scope, &cell);
            return Ok(Claim::Missing);
        };
        let mut doc = Doc::decode(&entry.value).map_err(|reason| StoreError::Corrupt {
            path: key.clone().into(),
            source: Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(reason)),
        })?;
        if let Some(owner) = doc.owner.as_deref() {
            if owner != &*self.inner.node && live(owner) {
                return Ok(Claim::HeldBy(owner.to_owned()));
            }
        }
        let alive = Timestamp::from_micros(doc.written);
        doc.owner = Some(self.inner.node.to_string());
        doc.written = self.inner.clock.now().as_micros();
        match bounded(
            self.inner
                .kv
                .update(&key, doc.encode().into(), entry.revision),
        )
        .await?
        {
            Ok(revision) => {
                let contents = doc.contents();
                set(&self.inner.stats, &mut st, Scope::Held { doc, revision });
                bump(&self.inner.stats.taken_over);
                Ok(Claim::Taken(Box::new(contents), alive))
            }
            // Another node claimed it first: it holds it now.
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                set(&self.inner.stats, &mut st, Scope::Lost);
                Ok(Claim::HeldBy(String::new()))
            }
            Err(e) => Err(StoreError::engine(e)),
        }
    }

    /// Forgets a scope without a write: this node's lease lapsed, so the
    /// scope is someone else's; every later write of this node is fenced.
    pub(crate) async fn forget(&self, scope: &[u8]) {
        let cell = self.cell(scope);
        let mut st = cell.lock().await;
        set(&self.inner.stats, &mut st, Scope::Lost);
    }

    /// Hands a scope over: its document says no node holds it, so the node
    /// that owns it now may claim it at once. Every later write of this node is fenced.
    pub(crate) async fn hand_over(&self, scope: &[u8]) -> Result<(), StoreError> {
        let cell = self.cell(scope);
        let mut st = cell.lock().await;
        let Scope::Held { doc, revision } = &*st else {
            return Ok(());
        };
        let mut doc = doc.clone();
        doc.owner = None;
        doc.written = self.inner.clock.now().as_micros();
        let result = bounded(
            self.inner
                .kv
                .update(pool_key(scope), doc.encode().into(), *revision),
        )
        .await?;
        set(&self.inner.stats, &mut st, Scope::Lost);
        match result {
            Ok(_) => {
                bump(&self.inner.stats.handed_over);
                Ok(())
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(fenced(scope)),
            Err(e) => Err(StoreError::engine(e)),
        }
    }

    async fn write(&self, batch: Batch) -> Result<(), StoreError> {
        // The bus's own beat and its clients' events: the event stream keeps events.
        let Some(scope) = batch.scope() else {
            return Ok(());
        };
        let cell = self.cell(scope);
        let mut st = cell.lock().await;
        let key = pool_key(scope);
        let now = self.inner.clock.now().as_micros();
        let node = Some(self.inner.node.to_string());
        match &mut *st {
            Scope::Lost => {
                bump(&self.inner.stats.fenced);
                Err(fenced(scope))
            }
            // Not this node's pool: its heartbeat times are not this node's to write.
            Scope::Absent if batch.is_lazy() => Ok(()),
            Scope::Absent => {
                let mut doc = Doc::default();
                doc.apply(&batch);
                if !doc.has_pool() {
                    bump(&self.inner.stats.fenced);
                    return Err(fenced(scope));
                }
                doc.owner = node;
                doc.written = now;
                match bounded(self.inner.kv.create(&key, doc.encode().into())).await? {
                    Ok(revision) => {
                        set(&self.inner.stats, &mut st, Scope::Held { doc, revision });
                        Ok(())
                    }
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                        set(&self.inner.stats, &mut st, Scope::Lost);
                        bump(&self.inner.stats.fenced);
                        Err(fenced(scope))
                    }
                    Err(e) => Err(StoreError::engine(e)),
                }
            }
            Scope::Held { doc, revision } => {
                let mut next = doc.clone();
                next.apply(&batch);
                next.owner = node;
                next.written = now;
                let result = if next.has_pool() {
                    bounded(self.inner.kv.update(&key, next.encode().into(), *revision))
                        .await?
                        .map(Some)
                } else {
                    bounded(self.inner.kv.delete_expect_revision(&key, Some(*revision)))
                        .await?
                        .map(|()| None)
                };
                match result {
                    Ok(Some(rev)) => {
                        *doc = next;
                        *revision = rev;
                        Ok(())
                    }
                    Ok(None) => {
                        set(&self.inner.stats, &mut st, Scope::Absent);
                        Ok(())
                    }
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                        set(&self.inner.stats, &mut st, Scope::Lost);
                        bump(&self.inner.stats.fenced);
                        Err(fenced(scope))
                    }
                    Err(e) => Err(StoreError::engine(e)),
                }
            }
        }
    }
}

impl Store for KvStore {
    fn commit(&self, batch: Batch) -> Pending {
        let this = self.clone();
        Box::pin(async move { this.write(batch).await })
    }

    /// Every commit is acknowledged by JetStream already.
    fn sync(&self) -> Pending {
        Box::pin(async { Ok(()) })
    }

    /// Nothing: a node starts empty and claims the pools it owns, one by one.
    fn load(&self) -> Result<Contents, StoreError> {
        Ok(Contents::default())
    }
}
