#![doc = include_str!("../README.md")]
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
