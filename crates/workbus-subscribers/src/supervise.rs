//! Supervision: a panic in a subscriber's handler restarts the subscriber, and
//! the events after it still arrive.
//!
//! Actix's [`Supervisor`] restarts an actor that *stopped*, keeping its
//! address and its mailbox, so the registry never notices. A panic, though,
//! does not stop an actor: it unwinds through the arbiter's task and takes
//! the actor (and its mailbox) with it. So every built-in subscriber runs the
//! body of its handler inside [`std::panic::catch_unwind`]; a panic is logged
//! with its message, counted (`workbus_subscriber_restarts_total` and, for
//! the event that caused it, `workbus_events_dropped_total{reason="panic"}`),
//! and turned into a stop, which the supervisor turns into a restart. The
//! messages still in the mailbox are handled by the restarted actor.
//!
//! [`Guarded`] gives the same to your own subscribers: implement
//! [`EventHandler`] and start it with [`Guarded::subscribe`].
//!
//! # Examples
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use workbus_core::{Bus, CreatePool, SharedEvent};
//! use workbus_subscribers::supervise::{EventHandler, Guarded};
//!
//! struct Fragile(Arc<Mutex<Vec<String>>>, u32);
//! impl EventHandler for Fragile {
//!     fn handle(&mut self, event: &SharedEvent) {
//!         self.1 += 1;
//!         if self.1 == 2 {
//!             panic!("the second event is too much");
//!         }
//!         self.0.lock().unwrap().push(event.event.to_string());
//!     }
//! }
//!
//! actix::System::new().block_on(async {
//!     let bus = Bus::start();
//!     let seen = Arc::new(Mutex::new(Vec::new()));
//!     let handle = Guarded::subscribe(&bus, "fragile", Fragile(seen.clone(), 0), Default::default())
//!         .await
//!         .unwrap();
//!     // Emits: queue created, pool created, pool not-ready.
//!     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
//!     handle.shutdown().await;
//!     assert_eq!(*seen.lock().unwrap(), ["prefect.work-queue.created", "prefect.work-pool.not-ready"]);
//! });
//! ```

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use actix::prelude::*;
use workbus_core::{
    Bus, Deliver, EventFilter, Overflow, SharedEvent, SubscribeOptions, SubscriptionInfo,
};

use crate::telemetry::Telemetry;

/// The mailbox size of the built-in subscribers. The registry buffers the
/// rest (its own buffer is bounded by [`SubscribeOptions::buffer`]).
pub(crate) const MAILBOX: usize = 1024;

/// Asks a subscriber to finish what it holds. Answered once every event that
/// was in its mailbox before this message is handled (for a webhook: sent,
/// or dead-lettered after its retry budget).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Runs `f`; if it panics, logs the panic, counts the event as dropped and
/// the subscriber as restarted, and stops the actor so that its supervisor
/// restarts it. Returns `None` after a panic.
pub(crate) fn guard<A, R>(
    ctx: &mut Context<A>,
    subscriber: &str,
    telemetry: &Telemetry,
    f: impl FnOnce() -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(panic) => {
            tracing::error!(
                subscriber,
                panic = panic_message(panic.as_ref()),
                "subscriber panicked: the event it was handling is lost, restarting it"
            );
            telemetry.dropped(subscriber, "panic");
            telemetry.restarted(subscriber);
            ctx.stop();
            None
        }
    }
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(not a string)"
    }
}

/// A subscriber's logic, without the actor around it. See [`Guarded`].
pub trait EventHandler: Unpin + 'static {
    /// Handles one event. A panic here loses this event (counted and logged)
    /// and restarts the subscriber; the next events arrive as usual.
    fn handle(&mut self, event: &SharedEvent);

    /// Called after a panic, before the next event: reset what the panic may
    /// have left half-done. The default does nothing.
    fn restarting(&mut self) {}

    /// Called on [`Drain`], after every event before it: flush buffers. The
    /// default does nothing.
    fn drain(&mut self) {}
}

/// How a [`Guarded`] subscriber is fed: its filter, and what happens when it
/// falls behind. The default takes every event and loses none
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
    pub(crate) fn options(&self, name: &str) -> SubscribeOptions {
        SubscribeOptions::new(name)
            .filter(self.filter.clone())
            .buffer(self.buffer)
            .overflow(self.overflow)
    }
}

/// An actor around an [`EventHandler`], supervised: a panic in the handler
/// restarts it and the later events still arrive.
pub struct Guarded<H: EventHandler> {
    name: Arc<str>,
    handler: H,
    telemetry: Telemetry,
}

impl<H: EventHandler> Guarded<H> {
    /// Starts `handler` supervised on the current arbiter, without subscribing it.
    pub fn start(name: &str, handler: H) -> Addr<Self> {
        Self::start_with(name.into(), handler, Telemetry::default())
    }

    pub(crate) fn start_with(name: Arc<str>, handler: H, telemetry: Telemetry) -> Addr<Self> {
        Supervisor::start(move |_| Guarded {
            name,
            handler,
            telemetry,
        })
    }

    /// Starts `handler` supervised and subscribes it to `bus` under `name`.
    pub async fn subscribe(
        bus: &Bus,
        name: &str,
        handler: H,
        feed: Feed,
    ) -> Result<Handle, crate::Error> {
        let addr = Self::start(name, handler);
        Handle::subscribe(bus, name, addr.clone().recipient(), addr.recipient(), &feed).await
    }
}

impl<H: EventHandler> Actor for Guarded<H> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl<H: EventHandler> Supervised for Guarded<H> {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::info!(subscriber = %self.name, "subscriber restarted");
        self.handler.restarting();
    }
}

impl<H: EventHandler> Handler<Deliver> for Guarded<H> {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        self.telemetry
            .latency(&self.name, event.emitted_at().elapsed());
        let (name, telemetry) = (self.name.clone(), self.telemetry.clone());
        let handler = &mut self.handler;
        guard(ctx, &name, &telemetry, || handler.handle(&event));
    }
}

impl<H: EventHandler> Handler<Drain> for Guarded<H> {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        let (name, telemetry) = (self.name.clone(), self.telemetry.clone());
        let handler = &mut self.handler;
        guard(ctx, &name, &telemetry, || handler.drain());
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
    pub(crate) async fn subscribe(
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
