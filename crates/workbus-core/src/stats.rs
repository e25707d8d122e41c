//! Counters of the whole bus, kept by the actors where anyone holding the
//! bus can read them without a message.
//!
//! Each counter is read on its own (a gauge, a total): no reader needs two
//! of them to agree, so every access is `Relaxed`; the atomics order nothing
//! else. A pool that changes status is taken from one count and then added
//! to the other, so a reader between the two sees it in neither for that
//! instant; each count is exact once the actor's handler has returned.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use workbus_events::prefect::Status;

use crate::subscription::{SubscriptionId, SubscriptionInfo};

/// Counters of the whole bus, readable at any time without asking the registry.
#[derive(Debug, Default)]
pub struct BusStats {
    pub(crate) published: AtomicU64,
    pub(crate) held_back: AtomicU64,
    pub(crate) subscribers: AtomicUsize,
    pub(crate) workers_online: AtomicUsize,
    pub(crate) subscriptions: dashmap::DashMap<SubscriptionId, SubscriptionInfo>,
    /// Pools by status, indexed by [`slot`].
    pub(crate) pools: [AtomicUsize; 3],
    /// Queues by status, indexed by [`slot`].
    pub(crate) queues: [AtomicUsize; 3],
}

/// Where a status is counted.
fn slot(status: Status) -> usize {
    match status {
        Status::Ready => 0,
        Status::NotReady => 1,
        Status::Paused => 2,
    }
}

/// Moves one from `from`'s count to `to`'s (`None`: created, or gone).
pub(crate) fn moved(counts: &[AtomicUsize; 3], from: Option<Status>, to: Option<Status>) {
    if from == to {
        return;
    }
    // Only the bus's pools and queues write these, and they all run on the
    // bus's one arbiter: a plain load and store (no locked read-modify-write)
    // loses nothing, as for the registry's own counters.
    if let Some(s) = from {
        let c = &counts[slot(s)];
        c.store(c.load(Ordering::Relaxed).wrapping_sub(1), Ordering::Relaxed);
    }
    if let Some(s) = to {
        let c = &counts[slot(s)];
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

impl BusStats {
    /// Events the registry has taken in.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
    /// Times the registry closed the bus's gate because 256 events or more
    /// waited for its next turn: operations then waited (and `_nowait` calls
    /// were refused as busy) until fewer than 128 did. Nothing is lost; a
    /// count that keeps growing says producers outrun the subscribers' arbiter.
    pub fn held_back(&self) -> u64 {
        self.held_back.load(Ordering::Relaxed)
    }
    /// Live subscriptions.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }
    /// Pools with this status now, read from the count the pools keep
    /// (for gauges: no event stream to follow, nothing to reconcile).
    pub fn pools(&self, status: Status) -> usize {
        self.pools[slot(status)].load(Ordering::Relaxed)
    }
    /// Queues with this status now, likewise.
    pub fn queues(&self, status: Status) -> usize {
        self.queues[slot(status)].load(Ordering::Relaxed)
    }
    /// Workers online, over all pools.
    pub fn workers_online(&self) -> usize {
        self.workers_online.load(Ordering::Relaxed)
    }
    /// The live subscriptions with their counters, by id.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        let mut out: Vec<SubscriptionInfo> = self
            .subscriptions
            .iter()
            .map(|e| e.value().clone())
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }
}
