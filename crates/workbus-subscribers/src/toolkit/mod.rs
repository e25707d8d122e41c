//! The subscriber toolkit: the pieces every built-in subscriber (logger,
//! webhook, metrics) and the NATS publisher of `workbus-nats` are made of.
//!
//! - [`Drain`] and [`Backlog`]: the one way to ask a subscriber to finish
//!   what it holds, and to answer once it has.
//! - [`guard`], [`Guarded`] and [`EventHandler`]: the one supervision. A
//!   panic in a handler is caught, logged and counted, and becomes a stop,
//!   which actix's `Supervisor` turns into a restart with the same mailbox.
//!   A handler that also answers queries implements [`Answers`]; callers
//!   send it [`Ask`], under the same supervision.
//! - [`Backoff`]: the one retry schedule (exponential, capped, with jitter).
//! - [`counters!`](crate::counters): the one stats pattern, a struct of
//!   atomic counters with an accessor each.
//! - [`LineWriter`]: blocking line output (log files, dead-letter files) on a
//!   thread of its own, so that no actor handler blocks its arbiter.
//! - [`Handle`] and [`Feed`]: a subscribed subscriber and how it is fed.
//!
//! # Examples
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use workbus_core::{Bus, CreatePool, SharedEvent};
//! use workbus_subscribers::toolkit::{EventHandler, Guarded};
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

mod backlog;
mod backoff;
mod guard;
mod guarded;
mod handle;
mod stats;
mod writer;

pub use backlog::{Backlog, Drain};
pub use backoff::Backoff;
pub use guard::{guard, panic_message};
pub use guarded::{Answers, Ask, EventHandler, Guarded, Panicked};
pub use handle::{Feed, Handle, MAILBOX};
pub use writer::{LineError, LineWriter, WriterGone};
