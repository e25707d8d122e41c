//! Rebuilding a bus from its store, and writing the beats lazily.
//!
//! ## What a restart does
//!
//! Every pool, queue and worker comes back with its fields, status and times;
//! the actors are started and the tables filled before [`Bus::open`](crate::BusBuilder::open)
//! answers. Deadlines are re-armed on the clock:
//!
//! - A deadline that had passed by the last time the bus was known to run
//!   (the last lazy write of the beats, every [`BusConfig::beats_every`](crate::BusConfig::beats_every))
//!   fires at once, with its events: the worker goes offline, the queue not ready.
//! - A deadline that passed while the bus was down gives the worker or queue a
//!   full window from the restart (its interval × the inactivity multiple, or
//!   the poll timeout): one still alive heartbeats or polls within it and
//!   nothing flaps; one that died is offline, or not ready, at its end.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use compact_str::CompactString;
use uuid::Uuid;
use workbus_events::prefect::{PoolLabels, QueueLabels};
use workbus_events::Timestamp;
use workbus_store::{Batch, Contents, Table};

use crate::core::Core;
use crate::directory::{PoolEntry, QueueEntry};
use crate::pool::{PoolShared, Restore, WorkPool};
use crate::queue::{NewQueue, WorkQueue};
use crate::record::{self, PoolRecord, QueueRecord, WorkerRecord};
use crate::registry::Link;
use crate::Error;

fn corrupt(what: &str, key: &[u8], e: impl std::fmt::Display) -> Error {
    Error::CorruptRecord {
        what: format!("{what} {}", hex(key)),
        reason: e.to_string(),
    }
}

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts the actors of everything `contents` holds and fills the tables.
/// `alive`, when given, is the last time the writer of `contents` was known to
/// run (otherwise its `alive` beat says).
pub(crate) fn restore(
    core: &Arc<Core>,
    contents: Contents,
    alive: Option<Timestamp>,
) -> Result<(), Error> {
    let now = core.now();
    let mut beats: HashMap<Vec<u8>, Timestamp> = HashMap::with_capacity(contents.beats.len());
    for (k, v) in contents.beats {
        let at = record::beat_time(&v).ok_or_else(|| corrupt("beat", &k, "not a time"))?;
        beats.insert(k, at);
    }
    let alive = alive
        .or_else(|| beats.get(record::ALIVE_KEY).copied())
        .unwrap_or(now);
    let mut queues: HashMap<Uuid, Vec<QueueRecord>> = HashMap::new();
    for (k, v) in contents.queues {
        let q: QueueRecord = serde_json::from_slice(&v).map_err(|e| corrupt("queue", &k, e))?;
        queues.entry(q.pool_id).or_default().push(q);
    }
    let mut workers: HashMap<Uuid, Vec<(WorkerRecord, Option<Timestamp>)>> = HashMap::new();
    for (k, v) in contents.workers {
        let w: WorkerRecord = serde_json::from_slice(&v).map_err(|e| corrupt("worker", &k, e))?;
        let pool = k
            .get(..16)
            .and_then(|b| Uuid::from_slice(b).ok())
            .ok_or_else(|| corrupt("worker", &k, "key too short"))?;
        let beat = beats.get(&k).copied();
        workers.entry(pool).or_default().push((w, beat));
    }
    let d = &core.directory;
    for (k, v) in contents.pools {
        let p: PoolRecord = serde_json::from_slice(&v).map_err(|e| corrupt("pool", &k, e))?;
        if d.pools.contains_key(p.name.as_str()) {
            // Adopted already (a fleet's node takes a pool over once).
            queues.remove(&p.id);
            continue;
        }
        let shared = Arc::new(PoolShared::new(p.id, &p.pool_type));
        let name: Arc<str> = p.name.as_str().into();
        let related = PoolLabels::new(p.id, &p.name, &p.pool_type).as_related();
        let mut qs = queues.remove(&p.id).unwrap_or_default();
        // The pool's list gives the order and the priorities.
        let order: HashMap<Uuid, (usize, i64, Option<Timestamp>)> = p
            .queues
            .iter()
            .enumerate()
            .map(|(i, (id, prio, shifted))| (*id, (i, *prio, *shifted)))
            .collect();
        qs.sort_by_key(|q| order.get(&q.id).map_or(usize::MAX, |o| o.0));
        for mut q in qs {
            if let Some((_, prio, shifted)) = order.get(&q.id) {
                q.priority = *prio;
                if let Some(at) = shifted {
                    q.updated = q.updated.max(*at);
                }
            }
            let (id, qname, priority) = (q.id, q.name.clone(), q.priority);
            let shifted = order.get(&id).and_then(|o| o.2);
            let polled_at = beats.get(&record::id_key(id)).copied();
            let queue = WorkQueue::restored(
                core.clone(),
                NewQueue {
                    labels: QueueLabels::new(id, &qname),
                    pool_id: p.id,
                    pool_name: name.clone(),
                    pool_related: related.clone(),
                    born: None,
                },
                q,
                polled_at,
                now,
                alive,
            );
            let polled = queue.polled();
            let addr = WorkQueue::start_in_arbiter(&core.arbiter, move |_| queue);
            core.registry.do_send(Link {
                queue: id,
                pool: related.clone(),
            });
            d.queues.insert(
                id,
                QueueEntry {
                    pool_id: p.id,
                    addr: addr.clone(),
                    polled: polled.clone(),
                },
            );
            shared.restore_queue(id, qname, priority, shifted, addr, polled);
        }
        let restore = Restore {
            workers: workers.remove(&p.id).unwrap_or_default(),
            now,
            alive,
        };
        let id = p.id;
        let pool = {
            let (core, shared, name) = (core.clone(), shared.clone(), name.clone());
            WorkPool::restored(core, shared, name, p, restore)
        };
        let addr = WorkPool::start_in_arbiter(&core.arbiter, move |_| pool);
        d.pools
            .insert(CompactString::from(&*name), PoolEntry { addr, shared });
        d.pool_names.insert(id, name);
    }
    if !queues.is_empty() {
        tracing::warn!(
            queues = queues.values().map(Vec::len).sum::<usize>(),
            "the store holds queues of pools it does not hold: left out"
        );
    }
    Ok(())
}

/// The beats that moved since they were last written, a batch per pool
/// (scoped by its name, as its other writes), and last the bus's own (it is alive now).
pub(crate) fn beats(core: &Core) -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut written = core
        .beats_written
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut now_written = HashMap::with_capacity(written.len());
    for pool in core.directory.pools.iter() {
        let id = pool.shared.id;
        let mut batch = Batch::new().scoped(pool.key().as_bytes());
        let mut note = |key: Vec<u8>, at: Timestamp| {
            let t = at.as_micros();
            if written.get(&key) != Some(&t) {
                batch.put(Table::Beats, key.clone(), record::beat_value(at));
            }
            now_written.insert(key, t);
        };
        pool.shared
            .worker_beats(|name, at| note(record::worker_key(id, name), at));
        for queue in pool.shared.queues().iter() {
            if let Some(at) = queue.polled.at() {
                note(record::id_key(queue.id), at);
            }
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
    }
    *written = now_written;
    let mut alive = Batch::new();
    alive.put(
        Table::Beats,
        record::ALIVE_KEY.to_vec(),
        record::beat_value(core.now()),
    );
    batches.push(alive);
    batches
}

/// One pool's beats, all of them (for a pool handed to another node).
pub(crate) fn pool_beats(core: &Core, name: &str) -> Option<Batch> {
    let pool = core.directory.pools.get(name)?;
    let id = pool.shared.id;
    let mut batch = Batch::new().scoped(name.as_bytes());
    pool.shared.worker_beats(|worker, at| {
        batch.put(
            Table::Beats,
            record::worker_key(id, worker),
            record::beat_value(at),
        );
    });
    for queue in pool.shared.queues().iter() {
        if let Some(at) = queue.polled.at() {
            batch.put(
                Table::Beats,
                record::id_key(queue.id),
                record::beat_value(at),
            );
        }
    }
    Some(batch)
}

/// Hands every batch of beats to the store before waiting for any (so that one
/// commit can take them all), then waits for each; the first failure is answered.
///
/// A batch refused as fenced is a pool another node has taken since `beats`
/// read the directory (it is let go here at its next change): its beats are
/// the new owner's to write now, so that is no failure of this node's flush.
pub(crate) async fn commit_all(
    store: &dyn workbus_store::Store,
    batches: Vec<Batch>,
    lazy: bool,
) -> Result<(), workbus_store::StoreError> {
    let pending: Vec<_> = batches
        .into_iter()
        .map(|b| store.commit(if lazy { b.lazy() } else { b }))
        .collect();
    let mut result = Ok(());
    for p in pending {
        match p.await {
            Ok(()) | Err(workbus_store::StoreError::Fenced { .. }) => {}
            Err(e) => {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
    }
    result
}

/// Writes the beats every `beats_every`, lazily (no sync of their own), until the bus is gone.
pub(crate) async fn write_beats(core: std::sync::Weak<Core>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(core) = core.upgrade() else { return };
        let Some(store) = core.store.clone() else {
            return;
        };
        let batches = beats(&core);
        drop(core);
        if let Err(error) = commit_all(&*store, batches, true).await {
            tracing::warn!(%error, "the beats could not be written");
        }
    }
}
