//! [`Guarded`]: the supervised actor around an [`EventHandler`] of yours,
//! which may also answer queries ([`Answers`], sent as [`Ask`]).

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
        Self::attach(bus, name, &Self::start(name, handler), feed).await
    }

    /// Subscribes an already started `Guarded` (see [`Guarded::start`]) to
    /// `bus` under `name`: for a handler whose address you keep, to [`Ask`] it.
    pub async fn attach(
        bus: &Bus,
        name: &str,
        addr: &Addr<Self>,
        feed: Feed,
    ) -> Result<Handle, crate::Error> {
        Handle::subscribe(
            bus,
            name,
            addr.clone().recipient(),
            addr.clone().recipient(),
            &feed,
        )
        .await
    }
}

/// A handler that answers the query `Q` (an actix [`Message`] of yours)
/// besides handling events: its [`Guarded`] actor then handles [`Ask<Q>`],
/// under the same supervision as its events.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use workbus_core::{Bus, CreatePool, SharedEvent};
/// use workbus_subscribers::toolkit::{Answers, Ask, EventHandler, Guarded};
///
/// #[derive(Default)]
/// struct Counter(u64);
/// impl EventHandler for Counter {
///     fn handle(&mut self, _: &SharedEvent) {
///         self.0 += 1;
///     }
/// }
///
/// #[derive(Message)]
/// #[rtype(result = "u64")]
/// struct HowMany;
/// impl Answers<HowMany> for Counter {
///     fn answer(&mut self, _: HowMany) -> u64 {
///         self.0
///     }
/// }
///
/// actix::System::new().block_on(async {
///     let bus = Bus::start();
///     let counter = Guarded::start("counter", Counter::default());
///     let handle = Guarded::attach(&bus, "counter", &counter, Default::default()).await.unwrap();
///     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
///     handle.drain().await;
///     assert_eq!(counter.send(Ask(HowMany)).await.unwrap(), Ok(3));
/// });
/// ```
pub trait Answers<Q: Message>: EventHandler {
    /// Answers `query`. A panic here loses the query (the caller gets
    /// [`Panicked`]) and restarts the actor, as a panic in an event does.
    fn answer(&mut self, query: Q) -> Q::Result;
}

/// A query `Q` for a [`Guarded`] handler that [`Answers`] it.
#[derive(Debug)]
pub struct Ask<Q>(pub Q);

impl<Q> Message for Ask<Q>
where
    Q: Message,
    Q::Result: 'static,
{
    type Result = Result<Q::Result, Panicked>;
}

/// The handler panicked while answering: the query has no answer, and the
/// actor was restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the subscriber panicked while answering; it has been restarted")]
pub struct Panicked;

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

impl<H, Q> Handler<Ask<Q>> for Guarded<H>
where
    H: Answers<Q>,
    Q: Message + 'static,
    Q::Result: 'static,
{
    type Result = MessageResult<Ask<Q>>;

    fn handle(&mut self, Ask(query): Ask<Q>, ctx: &mut Context<Self>) -> Self::Result {
        let (name, telemetry) = (self.name.clone(), self.telemetry.clone());
        let handler = &mut self.handler;
        MessageResult(
            guard(
                ctx,
                &name,
                || telemetry.panicked(&name),
                || handler.answer(query),
            )
            .ok_or(Panicked),
        )
    }
}
