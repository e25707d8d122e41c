//! Helpers for tests of code that uses the bus: paused time that gets
//! deadlines exactly right, and a subscriber that collects what it receives.
//! With the `test-util` feature.
//!
//! ## Deadlines on paused time
//!
//! A worker goes offline exactly at its heartbeat interval × the inactivity
//! multiple, and its pool's `not-ready` is stamped with that instant. To see
//! that in a test, the runtime must *start* paused ([`paused`]): pausing a
//! running runtime (`tokio::time::pause()`) leaves its clock a fraction of a
//! millisecond past the last whole millisecond, so a timer set for the
//! deadline fires one millisecond late. Then [`advance`] moves time and
//! waits until what became due has fired and its events reached the
//! subscribers, so a test can assert right after it.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use workbus_core::testing::{advance, bus_at, collect, paused};
//! use workbus_core::{BusConfig, CreatePool, EventFilter, Status};
//!
//! paused(|| async {
//!     let bus = bus_at("2026-12-01T00:00:00Z".parse().unwrap(), BusConfig::default());
//!     let seen = collect(&bus, EventFilter::prefix(["prefect.work-pool.not-ready"])).await;
//!     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
//!     bus.heartbeat("etl", "worker-1").await.unwrap();
//!     // Offline at 30 s × 3, not a millisecond later.
//!     advance(&bus, Duration::from_secs(90)).await;
//!     assert_eq!(bus.pool("etl").await.unwrap().status, Some(Status::NotReady));
//!     let last = seen.events().pop().unwrap();
//!     assert_eq!(last.occurred.to_string(), "2026-12-01T00:01:30.000000Z");
//! });
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix::prelude::*;
use workbus_events::{EventFilter, EventKind, SharedEvent, Timestamp};

use crate::{Bus, BusConfig, Deliver, SubscribeOptions, Subscription, TokioClock};

/// Runs `f` to completion on a new actix system whose tokio clock starts paused.
pub fn paused<F, Fut>(f: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    let sys = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap_or_else(|e| panic!("a paused test runtime: {e}"))
    });
    sys.block_on(f())
}

/// A bus whose clock reads `start` now and moves only with tokio's (paused) time.
pub fn bus_at(start: Timestamp, config: BusConfig) -> Bus {
    Bus::builder()
        .config(config)
        .clock(Arc::new(TokioClock::starting_at(start)))
        .start()
}

/// Moves paused time forward by `by`, then waits until every timer that came due
/// has fired and its events are with the subscribers.
pub async fn advance(bus: &Bus, by: Duration) {
    tokio::time::advance(by).await;
    settle(bus).await;
}

/// Waits until the actors have handled what is queued and the registry has
/// handed every event over, and the subscribers on this thread have run.
pub async fn settle(bus: &Bus) {
    for _ in 0..4 {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        // A flush that fails means the bus stopped: nothing more will arrive.
        let _ = bus.flush().await;
    }
}

/// A subscriber that keeps every event it receives, with room in its
/// mailbox for 65,536, so that the registry rarely holds events back.
struct Collector(Arc<Mutex<Vec<SharedEvent>>>);

impl Actor for Collector {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1 << 16);
    }
}

impl Handler<Deliver> for Collector {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, _: &mut Context<Self>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
}

/// What a collecting subscriber received so far (see [`collector`] and [`collect`]).
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<SharedEvent>>>);

impl Events {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SharedEvent>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every event so far, in the order received.
    pub fn events(&self) -> Vec<SharedEvent> {
        self.lock().clone()
    }

    /// Their names.
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|e| e.event.to_string()).collect()
    }

    /// Their kinds (`None` for events that are not one of the twelve).
    pub fn kinds(&self) -> Vec<Option<EventKind>> {
        self.lock().iter().map(|e| e.kind()).collect()
    }

    /// Their JSON, as subscribers receive it.
    ///
    /// # Panics
    ///
    /// If an event's JSON does not parse (a bug in its encoder).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lock()
            .iter()
            .map(|e| {
                serde_json::from_slice(e.json())
                    .unwrap_or_else(|err| panic!("an event's JSON parses: {err}"))
            })
            .collect()
    }

    /// Takes every event so far, leaving none.
    pub fn take(&self) -> Vec<SharedEvent> {
        std::mem::take(&mut *self.lock())
    }

    /// Takes every event so far and gives their names.
    pub fn take_names(&self) -> Vec<String> {
        self.take().iter().map(|e| e.event.to_string()).collect()
    }

    /// How many events so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none has come.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// A collecting subscriber, not yet subscribed: its recipient, to subscribe
/// as you like (to test subscribing itself), and what it receives.
pub fn collector() -> (Recipient<Deliver>, Events) {
    let events = Events::default();
    let addr = Collector(events.0.clone()).start();
    (addr.recipient(), events)
}

/// What a collecting subscriber received (see [`collect`]); its subscription
/// lasts as long as this does. It reads as [`Events`].
pub struct Collected {
    events: Events,
    _subscription: Subscription,
}

impl std::ops::Deref for Collected {
    type Target = Events;

    fn deref(&self) -> &Events {
        &self.events
    }
}

/// Subscribes a collecting subscriber with `filter`, lossless.
///
/// # Panics
///
/// If the bus has stopped.
pub async fn collect(bus: &Bus, filter: EventFilter) -> Collected {
    let (recipient, events) = collector();
    let subscription = bus
        .subscribe(
            recipient,
            SubscribeOptions::new("test-collector").filter(filter),
        )
        .await
        .unwrap_or_else(|e| panic!("subscribing a collector: {e}"));
    Collected {
        events,
        _subscription: subscription,
    }
}

/// An event as a client posts one: named `name`, about the resource with id
/// `resource`, occurred `at`, with a fresh UUID v7, nothing related and an
/// empty payload. For tests of [`Bus::ingest`] and of what consumes events.
///
/// # Examples
///
/// ```
/// use workbus_core::testing::client_event;
/// use workbus_events::Timestamp;
///
/// let e = client_event("acme.tick", "acme.thing.1", Timestamp::now());
/// assert_eq!(e.resource.id(), "acme.thing.1");
/// ```
pub fn client_event(
    name: impl Into<std::borrow::Cow<'static, str>>,
    resource: &str,
    at: Timestamp,
) -> SharedEvent {
    SharedEvent::new(workbus_events::Event {
        occurred: at,
        event: name.into(),
        resource: workbus_events::Resource::builder()
            .label("prefect.resource.id", resource)
            .build_unchecked(),
        related: workbus_events::no_related(),
        payload: Default::default(),
        id: uuid::Uuid::now_v7(),
        follows: None,
        received: None,
    })
}
