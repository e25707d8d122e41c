//! What a subscriber receives, how it is fed, and what is counted about it.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Addr, Message};
use workbus_events::{EventFilter, SharedEvent};

use crate::registry::{Registry, Unsubscribe};

/// The message every subscriber handles: one event, shared.
///
/// Any actix actor with a `Handler<Deliver>` can subscribe, through its
/// `Recipient<Deliver>`.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct Deliver(pub SharedEvent);

/// What the registry does when a subscriber's buffer is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Lose nothing: keep the event, and make new operations on the bus wait
    /// until the subscriber has drained half its buffer. The registry and
    /// other subscribers keep going; only producers slow down. Operations that
    /// were already past the gate still land, up to twice the buffer and at
    /// least 65,536 events more than it: that is the hard bound, past which
    /// events are dropped and counted in
    /// [`SubscriberStats::dropped_overflow`], so memory stays bounded whatever
    /// the producers do.
    #[default]
    Block,
    /// Drop the new event, count it in [`SubscriberStats::dropped_overflow`]
    /// and log it. Producers never wait for this subscriber.
    DropNewest,
}

/// How a subscription is fed.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    /// A name for logs and metrics.
    pub name: String,
    /// Which events it wants.
    pub filter: EventFilter,
    /// How many events the registry holds for it while its mailbox is full.
    pub buffer: usize,
    /// What happens when that buffer is full too.
    pub overflow: Overflow,
}

impl SubscribeOptions {
    /// Every event, a buffer of 65,536, [`Overflow::Block`].
    pub fn new(name: impl Into<String>) -> Self {
        SubscribeOptions {
            name: name.into(),
            filter: EventFilter::all(),
            buffer: 65_536,
            overflow: Overflow::Block,
        }
    }

    /// Only the events this filter matches.
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Holds at most `buffer` events (at least 1) while the mailbox is full.
    pub fn buffer(mut self, buffer: usize) -> Self {
        self.buffer = buffer.max(1);
        self
    }

    /// What to do when the buffer is full.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }
}

/// A subscription's identity.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SubscriptionId(pub(crate) u64);

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sub-{}", self.0)
    }
}

/// Counters of one subscription, readable at any time without asking the registry.
///
/// For every event that matched its filter: `delivered + dropped + pending`
/// is the number offered, where `dropped` is the sum of both drop counters.
#[derive(Debug, Default)]
pub struct SubscriberStats {
    pub(crate) offered: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) dropped_overflow: AtomicU64,
    pub(crate) dropped_closed: AtomicU64,
    pub(crate) pending: AtomicUsize,
}

/// Adds one to a counter that only the registry writes: a plain load and
/// store, without the locked read-modify-write of `fetch_add`.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl SubscriberStats {
    /// Events that matched the filter.
    pub fn offered(&self) -> u64 {
        self.offered.load(Ordering::Relaxed)
    }
    /// Events placed in the subscriber's mailbox.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    /// Events dropped because the buffer was full ([`Overflow::DropNewest`]).
    pub fn dropped_overflow(&self) -> u64 {
        self.dropped_overflow.load(Ordering::Relaxed)
    }
    /// Events dropped because the subscriber had stopped.
    pub fn dropped_closed(&self) -> u64 {
        self.dropped_closed.load(Ordering::Relaxed)
    }
    /// Events held by the registry, waiting for room in the mailbox.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

/// What is known of a subscription: its id, name and counters. Cheap to clone,
/// and it never unsubscribes anything.
#[derive(Clone, Debug)]
pub struct SubscriptionInfo {
    /// Its id, for [`Bus::unsubscribe`](crate::Bus::unsubscribe).
    pub id: SubscriptionId,
    /// Its name.
    pub name: Arc<str>,
    /// Its counters.
    pub stats: Arc<SubscriberStats>,
}

/// A live subscription, and the guard that ends it: dropping it unsubscribes
/// (what the registry still held for the subscriber is counted as
/// `dropped_closed`). [`Subscription::keep`] leaves it subscribed for the
/// life of the bus instead.
///
/// It reads as its [`SubscriptionInfo`] (`sub.id`, `sub.stats`).
#[must_use = "dropping a Subscription unsubscribes at once; call keep() to stay subscribed"]
#[derive(Debug)]
pub struct Subscription {
    info: SubscriptionInfo,
    registry: Option<Addr<Registry>>,
}

impl Subscription {
    pub(crate) fn new(info: SubscriptionInfo, registry: Addr<Registry>) -> Self {
        Subscription {
            info,
            registry: Some(registry),
        }
    }

    /// Its id, name and counters, without the guard.
    pub fn info(&self) -> &SubscriptionInfo {
        &self.info
    }

    /// Stays subscribed for the life of the bus (or until
    /// [`Bus::unsubscribe`](crate::Bus::unsubscribe) with its id).
    pub fn keep(mut self) -> SubscriptionInfo {
        self.registry = None;
        self.info.clone()
    }

    /// Unsubscribes now and waits for the registry to have done it; answers
    /// whether it was still subscribed.
    pub async fn unsubscribe(mut self) -> Result<bool, crate::Error> {
        match self.registry.take() {
            Some(registry) => registry
                .send(Unsubscribe(self.info.id))
                .await
                .map_err(|_| crate::Error::Stopped),
            None => Ok(false),
        }
    }
}

impl std::ops::Deref for Subscription {
    type Target = SubscriptionInfo;

    fn deref(&self) -> &SubscriptionInfo {
        &self.info
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.take() {
            registry.do_send(Unsubscribe(self.info.id));
        }
    }
}
