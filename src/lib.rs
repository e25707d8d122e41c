// The README is the crate doc. Its links are relative to the repository, which rustdoc
// cannot follow, so definitions for rustdoc go first: in Markdown the first definition of
// a label wins, so here the README's `[docs/….md]` links point into the repository (its
// URL from Cargo.toml) and `[`Bus`]` to the item, while a forge shows the README's own.
#![doc = concat!(
    "[`Deliver`]: crate::Deliver\n",
    "[`Bus`]: crate::Bus\n",
    "[docs/architecture.md]: ", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/architecture.md\n",
    "[docs/events.md]: ", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/events.md\n",
    "[docs/prefect-compatibility.md]: ", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/prefect-compatibility.md\n",
    "[docs/operations.md]: ", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/operations.md\n",
    "[docs/subscribers.md]: ", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/subscribers.md\n",
    "[docs/distributed.md]: ", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/distributed.md\n",
    "[docs/performance.md]: ", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/performance.md\n",
    "[docs/automations.md]: ", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/automations.md\n",
    "\n",
    include_str!("../README.md")
)]
#![warn(missing_docs)]

// Exported on purpose, one by one: the actors' protocol stays inside the core.
pub use workbus_core::{
    clock, model, name, Bus, BusBuilder, BusConfig, BusStats, Clock, CreatePool, CreateQueue,
    Deliver, Error, Event, EventFilter, Heartbeat, HeartbeatInterval, Overflow, PoolInfo, PoolKey,
    PoolUpdate, QueueInfo, QueueUpdate, SharedEvent, Status, StorageConfiguration,
    SubscribeOptions, SubscriberStats, Subscription, SubscriptionId, SubscriptionInfo, SystemClock,
    Timestamp, TokioClock, WorkerInfo, WorkerStatus,
};
pub use workbus_events as events;
pub use workbus_events::{prefect, EventKind, LabelPattern, Resource, Subject};

/// The built-in subscribers (logger, webhooks, metrics), with the `subscribers` feature.
#[cfg(feature = "subscribers")]
pub use workbus_subscribers as subscribers;

/// Paused time that gets deadlines right, and a collecting subscriber, with the `test-util` feature.
#[cfg(feature = "test-util")]
pub use workbus_core::testing;

/// What most code that embeds the bus needs: `use workbus::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Bus, CreatePool, CreateQueue, Deliver, Error, EventFilter, EventKind, Heartbeat,
        HeartbeatInterval, Overflow, PoolUpdate, QueueUpdate, Resource, SharedEvent, Status,
        SubscribeOptions, Subscription,
    };
}
