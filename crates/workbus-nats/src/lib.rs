//! A NATS JetStream bridge for workbus: several nodes share one event stream.
//!
//! A workbus bus lives in one process. When several processes (nodes) run
//! pools and queues, each starts a [`NatsBridge`] on its bus, and every node
//! sees every node's events: in its subscribers, its websocket, its
//! `/api/events/filter`. workbus does not cluster by itself; NATS JetStream
//! keeps, replicates and delivers the events.
//!
//! ## Topology
//!
//! ```text
//!  node A                                  NATS JetStream                          node B
//!  pools, queues ─▶ registry ─▶ NatsPublisher ──▶ stream WORKBUS_EVENTS ──▶ durable "B" ─▶ NatsSource ─▶ registry ─▶ subscribers
//!  subscribers ◀─ registry ◀─ NatsSource ◀─ durable "A" ◀──  workbus.events.>  ◀── NatsPublisher ◀─ registry ◀─ pools, queues
//! ```
//!
//! - One stream ([`NatsConfig::stream`], default `WORKBUS_EVENTS`), created if
//!   missing, holding the subjects `workbus.events.>`; each event goes to
//!   `workbus.events.<event name>` (see [`subject_for`]).
//! - On each node a [`NatsPublisher`] actor subscribes to the bus and
//!   publishes every *local* event: its body is the event's Prefect JSON
//!   ([`SharedEvent::json`](workbus_events::SharedEvent::json), the bytes
//!   encoded once for every subscriber), the header `Nats-Msg-Id` is the
//!   event id and `Workbus-Origin` the node name.
//! - On each node a [`NatsSource`] actor pulls from the node's own durable
//!   consumer (named after the node, [`durable_name`]) and hands every other
//!   node's event to the bus with [`Bus::ingest`](workbus_core::Bus::ingest),
//!   marked with its origin.
//!
//! ## Guarantees
//!
//! - **No echo.** The publisher skips events whose origin is another node,
//!   and the source skips messages this node published: an event crosses
//!   the stream once and never comes back.
//! - **At-least-once transport, de-duplicated by id.** A publish counts only
//!   when JetStream acknowledges it, and is retried otherwise; the stream
//!   stores one copy per event id within its duplicate window. The consumer
//!   delivers at least once; the source acknowledges after ingesting, with a
//!   confirmed ack, and skips ids it has seen within a bounded window, so
//!   local subscribers get each remote event once.
//! - **Order.** Each node's events are stored in the order the node emitted
//!   them, and a node ingests them in that order.
//! - **Outages.** While NATS is away the publisher keeps local events in a
//!   bounded buffer ([`NatsConfig::buffer`]) and retries with a backoff;
//!   nothing that fits is lost. What does not fit is dropped, counted
//!   ([`PublisherStats::dropped_overflow`]) and logged. The bus itself never
//!   waits for NATS.
//! - **Restarts.** A node that comes back under the same name resumes from
//!   its durable consumer: the events published meanwhile, none twice.
//!
//! # Examples
//!
//! Two nodes in one process, each with its own bus, sharing events:
//!
//! ```no_run
//! use actix::prelude::*;
//! use workbus_core::{Bus, CreatePool, Deliver, SubscribeOptions};
//! use workbus_nats::{NatsBridge, NatsConfig};
//!
//! struct Print(&'static str);
//! impl Actor for Print { type Context = Context<Self>; }
//! impl Handler<Deliver> for Print {
//!     type Result = ();
//!     fn handle(&mut self, Deliver(e): Deliver, _: &mut Context<Self>) {
//!         println!("{} saw {} from {:?}", self.0, e.event, e.origin());
//!     }
//! }
//!
//! actix::System::new().block_on(async {
//!     let (a, b) = (Bus::start(), Bus::start());
//!     let url = "nats://127.0.0.1:4222";
//!     let bridge_a = NatsBridge::start(&a, NatsConfig::new(url, "node-a")).await?;
//!     let bridge_b = NatsBridge::start(&b, NatsConfig::new(url, "node-b")).await?;
//!     b.subscribe(Print("b").start().recipient(), SubscribeOptions::new("print")).await?;
//!     // Node b prints node a's events, with origin Some("node-a").
//!     a.create_pool(CreatePool::new("etl", "process")).await?;
//!     bridge_a.flush().await?;
//!     bridge_a.shutdown().await?;
//!     bridge_b.shutdown().await?;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .unwrap();
//! ```
//!
//! This crate reads no environment variable: the `workbus` binary turns the
//! bridge on with `--nats-url` (or `WORKBUS_NATS_URL`), parses its other
//! `--nats-*` flags once, and builds the [`NatsConfig`].
#![warn(missing_docs)]

mod bridge;
mod config;
mod dedup;
mod error;
mod names;
pub mod publisher;
mod setup;
pub mod source;

pub use bridge::{BridgeStats, NatsBridge};
pub use config::{
    default_node_name, Backoff, NatsConfig, StartFrom, DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX,
};
pub use error::Error;
pub use names::{durable_name, subject_for};
pub use publisher::{NatsPublisher, PublisherStats, MSG_ID_HEADER, ORIGIN_HEADER};
pub use source::{NatsSource, SourceStats, UNKNOWN_ORIGIN};

/// The examples of `docs/distributed.md`, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/distributed.md")]
struct DistributedDoc;
