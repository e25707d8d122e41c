//! [`Guarded`]: the supervised actor around an [`EventHandler`] of yours.

use std::sync::Arc;

use actix::prelude::*;
use workbus_core::{Bus, Deliver, SharedEvent};

use super::{guard, Drain, Feed, Handle, MAILBOX};
use crate::telemetry::Telemetry;

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
        guard(
            ctx,
            &name,
            || telemetry.panicked(&name),
            || handler.handle(&event),
        );
    }
}

impl<H: EventHandler> Handler<Drain> for Guarded<H> {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        let (name, telemetry) = (self.name.clone(), self.telemetry.clone());
        let handler = &mut self.handler;
        guard(ctx, &name, || telemetry.panicked(&name), || handler.drain());
    }
}
