//! Work pools and work queues as actix actors, emitting Prefect's events to a
//! registry that fans them out to subscriber actors.
//!
//! ## The actors
//!
//! Every work pool is a `WorkPool` actor and every work queue a
//! `WorkQueue` actor; each owns its state and nothing else changes it. A
//! pool owns its queues: it creates them, checks their names, and deletes
//! them. Both emit their events to the `Registry` actor, which keeps the
//! queue-to-pool links (so a queue's events carry its pool as related
//! resource) and fans every event out to the subscribers whose filter
//! matches.
//!
//! ## The handle
//!
//! [`Bus`] is the only way in: it sends each operation to the actor that owns
//! the state and answers when that actor has acted. The actors' messages are
//! private to this crate, so every producer goes through the bus's gate (see
//! [`Overflow::Block`]) and nothing can reorder what an actor does behind the
//! handle's back. It finds pools and
//! queues by name or id in shared tables, without asking an actor.
//!
//! ## Subscribers
//!
//! Any actix actor that handles [`Deliver`] subscribes with a filter and a
//! bounded buffer ([`SubscribeOptions`]). Each sees one resource's events in
//! the order they were emitted; an event it cannot take is buffered,
//! applied its [`Overflow`] policy, or counted ([`SubscriberStats`]).
//!
//! ## Time
//!
//! One injectable [`Clock`]; the default reads tokio's clock, so tests on
//! paused tokio time drive heartbeats and poll timeouts in milliseconds.
//!
//! # Examples
//!
//! ```
//! use actix::prelude::*;
//! use workbus_core::{Bus, CreatePool, Deliver, SubscribeOptions};
//!
//! struct Printer;
//! impl Actor for Printer { type Context = Context<Self>; }
//! impl Handler<Deliver> for Printer {
//!     type Result = ();
//!     fn handle(&mut self, Deliver(event): Deliver, _: &mut Context<Self>) {
//!         println!("{}", event.event);
//!     }
//! }
//!
//! actix::System::new().block_on(async {
//!     let bus = Bus::start();
//!     let printer = Printer.start();
//!     bus.subscribe(printer.recipient(), SubscribeOptions::new("printer")).await.unwrap();
//!     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
//!     bus.flush().await.unwrap();
//! });
//! ```
#![warn(missing_docs)]

mod beat;
mod bus;
pub mod clock;
mod config;
mod core;
mod directory;
mod error;
mod gate;
mod handoff;
mod journal;
pub mod model;
pub mod name;
mod pool;
mod priority;
mod queue;
mod record;
mod registry;
mod restore;
mod route;
mod stats;
pub mod subscription;
#[cfg(feature = "test-util")]
pub mod testing;

pub use bus::{Bus, BusBuilder, PoolKey, MAX_INGESTING, MAX_UNAWAITED};
pub use clock::{Clock, SystemClock, TokioClock};
pub use config::BusConfig;
pub use error::Error;
pub use model::{
    CreatePool, CreateQueue, Heartbeat, HeartbeatInterval, PoolInfo, PoolUpdate, QueueInfo,
    QueueUpdate, StorageConfiguration, WorkerInfo, WorkerStatus,
};
pub use route::{Answer, Call, Op, PoolRef, Router};
pub use stats::BusStats;
pub use subscription::{
    Deliver, Overflow, SubscribeOptions, SubscriberStats, Subscription, SubscriptionId,
    SubscriptionInfo,
};
pub use workbus_events::prefect::Status;
pub use workbus_events::{Event, EventFilter, SharedEvent, Timestamp};
