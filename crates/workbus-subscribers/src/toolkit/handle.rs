//! A subscribed subscriber ([`Handle`]) and how the registry feeds it ([`Feed`]).

use std::sync::Arc;

use actix::prelude::*;
use workbus_core::{Bus, Deliver, EventFilter, Overflow, SubscribeOptions, SubscriptionInfo};

use super::Drain;

/// The mailbox size of the built-in subscribers. The registry buffers the
/// rest (its own buffer is bounded by [`SubscribeOptions::buffer`]).
pub const MAILBOX: usize = 1024;

/// How a subscriber is fed: its filter, and what happens when it falls
/// behind. The default takes every event and loses none
/// ([`Overflow::Block`] with a buffer of 65,536).
#[derive(Clone, Debug)]
pub struct Feed {
    /// Which events it wants.
    pub filter: EventFilter,
    /// How many events the registry holds for it beyond its mailbox.
    pub buffer: usize,
    /// What happens when that buffer is full.
    pub overflow: Overflow,
}

impl Default for Feed {
    fn default() -> Self {
        let o = SubscribeOptions::new("");
        Feed {
            filter: o.filter,
            buffer: o.buffer,
            overflow: o.overflow,
        }
    }
}

impl Feed {
    /// The registry's subscription options for a subscriber named `name`.
    pub fn options(&self, name: &str) -> SubscribeOptions {
        SubscribeOptions::new(name)
            .filter(self.filter.clone())
            .buffer(self.buffer)
            .overflow(self.overflow)
    }
}

/// A running, subscribed subscriber: its subscription (with the registry's
/// counters) and the way to stop it gracefully.
#[derive(Clone)]
pub struct Handle {
    name: Arc<str>,
    subscription: SubscriptionInfo,
    drain: Recipient<Drain>,
    bus: Bus,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.name)
            .field("subscription", &self.subscription.id)
            .finish()
    }
}

impl Handle {
    /// Subscribes `deliver` to `bus` under `name`, fed as `feed` says; `drain`
    /// is how [`Handle::drain`] and [`Handle::shutdown`] wait for it.
    pub async fn subscribe(
        bus: &Bus,
        name: &str,
        deliver: Recipient<Deliver>,
        drain: Recipient<Drain>,
        feed: &Feed,
    ) -> Result<Handle, crate::Error> {
        // The handle unsubscribes on shutdown, not when a copy of it is dropped.
        let subscription = bus.subscribe(deliver, feed.options(name)).await?.keep();
        Ok(Handle {
            name: name.into(),
            subscription,
            drain,
            bus: bus.clone(),
        })
    }

    /// The subscriber's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its subscription, with the registry's counters for it.
    pub fn subscription(&self) -> &SubscriptionInfo {
        &self.subscription
    }

    /// Waits until this subscriber has handled every event emitted so far
    /// (a webhook: sent or dead-lettered), without stopping it.
    pub async fn drain(&self) {
        if self.bus.flush().await.is_err() {
            tracing::warn!(subscriber = %self.name, "bus stopped before its events were flushed");
        }
        self.drain_mailbox().await;
    }

    pub(crate) async fn drain_mailbox(&self) {
        if self.drain.send(Drain).await.is_err() {
            tracing::warn!(subscriber = %self.name, "subscriber stopped before it drained");
        }
    }

    pub(crate) async fn unsubscribe(&self) {
        if let Err(error) = self.bus.unsubscribe(self.subscription.id).await {
            tracing::warn!(subscriber = %self.name, %error, "could not unsubscribe");
        }
    }

    /// Stops gracefully: every event emitted before this call is handled
    /// (webhooks: within their retry budget), then the subscriber leaves the
    /// bus and stops once the last handle to it is gone.
    pub async fn shutdown(self) {
        if self.bus.flush().await.is_err() {
            tracing::warn!(subscriber = %self.name, "bus stopped before its events were flushed");
        }
        self.unsubscribe().await;
        self.drain_mailbox().await;
    }
}
