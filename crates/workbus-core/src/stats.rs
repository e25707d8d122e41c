//! Counters of the whole bus, kept by the actors where anyone holding the
//! bus can read them without a message.
//!
//! Each counter is read on its own (a gauge, a total): no reader needs two
//! of them to agree, so every access is `Relaxed`; the atomics order nothing
//! else.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::subscription::{SubscriptionId, SubscriptionInfo};

/// Counters of the whole bus, readable at any time without asking the registry.
#[derive(Debug, Default)]
pub struct BusStats {
    pub(crate) published: AtomicU64,
    pub(crate) subscribers: AtomicUsize,
    pub(crate) workers_online: AtomicUsize,
    pub(crate) subscriptions: dashmap::DashMap<SubscriptionId, SubscriptionInfo>,
}

impl BusStats {
    /// Events the registry has taken in.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
    /// Live subscriptions.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
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
