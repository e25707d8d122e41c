//! The built-in subscribers of workbus: a logger, a webhook sender and
//! Prometheus metrics, each an actix actor that plugs into the bus's
//! registry like any subscriber of yours.
//!
//! ## The pieces
//!
//! - [`logger`]: every event as a `tracing` event with structured fields
//!   (`not-ready` is a warning), or as Prefect JSON lines to stdout or a file.
//! - [`webhook`]: POSTs of the Prefect JSON, signed after Standard Webhooks,
//!   retried with backoff and jitter, in order per resource, with a
//!   dead-letter sink; several webhooks, each with its own filter.
//! - [`metrics`]: a `prometheus-client` registry with the bus's counters,
//!   rendered as text for `GET /metrics`.
//! - [`toolkit`]: what they are made of, and what the NATS publisher of
//!   `workbus-nats` uses too: one [`Drain`], one supervision
//!   (a panic in a handler restarts the subscriber, and the next events still
//!   arrive; use [`toolkit::Guarded`] for your own), one
//!   [`Backoff`](toolkit::Backoff), one stats pattern ([`counters!`]), and a
//!   [`LineWriter`](toolkit::LineWriter) that keeps file writes off the arbiter.
//!
//! Each sits behind a cargo feature of its name, all on by default.
//!
//! ## Guarantees
//!
//! - **Nothing lost in silence.** Each subscriber is fed by the registry with
//!   [`Overflow::Block`](workbus_core::Overflow::Block) unless configured
//!   otherwise: producers wait, no event is dropped. Every loss that can
//!   still happen (a drop by a configured overflow policy, a subscriber that
//!   stopped, a panic while handling an event, a write that failed, a
//!   dead-letter sink that failed) is counted in
//!   `workbus_events_dropped_total{subscriber,reason}` *and* logged.
//! - **Isolation.** Each subscriber has its own bounded mailbox; the
//!   registry never waits for one, so a slow subscriber slows neither the
//!   registry nor the others (with `Block`, it slows producers once its
//!   buffer is full).
//! - **Graceful shutdown.** [`Subscribers::shutdown`] returns once every
//!   event emitted before it reached every subscriber (webhooks: delivered or
//!   dead-lettered within their retry budget).
//!
//! ## Wiring it up
//!
//! [`install`] starts what a [`SubscribersConfig`] asks for (built in code;
//! this crate reads no environment variable, the `workbus` binary maps its
//! flags onto one) and returns the
//! [`Subscribers`]: the metrics to render, and the shutdown. The metrics can
//! still be rendered after [`Subscribers::shutdown`].
//!
//! # Examples
//!
//! ```
//! use workbus_core::{Bus, CreatePool};
//! use workbus_subscribers::{install, SubscribersConfig};
//!
//! actix::System::new().block_on(async {
//!     let bus = Bus::start();
//!     let subscribers = install(&bus, SubscribersConfig::default()).await.unwrap();
//!     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
//!     subscribers.shutdown().await;
//!     let text = subscribers.metrics().unwrap().render();
//!     assert!(text.contains("workbus_events_emitted_total{event=\"prefect.work-pool.created\"} 1"));
//! });
//! ```
#![warn(missing_docs)]

pub mod config;
mod error;
#[cfg(feature = "logger")]
pub mod logger;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "webhook")]
pub mod ssrf;
mod telemetry;
pub mod toolkit;
#[cfg(feature = "webhook")]
pub mod webhook;

/// The former name of [`toolkit`], kept so that paths such as
/// `supervise::Guarded` still work.
pub use toolkit as supervise;

pub use config::{LogFormat, SubscribersConfig};
pub use error::{Error, SecretError, UrlError};
pub use telemetry::DropReason;
pub use toolkit::{Drain, EventHandler, Feed, Guarded, Handle};

use workbus_core::Bus;

/// The subscribers [`install`] started.
#[derive(Debug)]
pub struct Subscribers {
    bus: Bus,
    handles: Vec<Handle>,
    /// Set by the first [`Subscribers::shutdown`]: a second one only waits.
    stopped: std::sync::atomic::AtomicBool,
    #[cfg(feature = "metrics")]
    metrics: Option<metrics::Metrics>,
}

/// Starts the subscribers `config` asks for on `bus`: the metrics first (so
/// the others count into them), then the logger, then the webhooks.
///
/// Call it inside an actix system; the subscribers run on the current arbiter.
#[cfg_attr(
    not(any(feature = "logger", feature = "metrics", feature = "webhook")),
    allow(unused_mut, unused_variables)
)]
pub async fn install(bus: &Bus, config: SubscribersConfig) -> Result<Subscribers, Error> {
    let mut handles = Vec::new();
    #[cfg(feature = "metrics")]
    let metrics = match config.metrics {
        Some(c) => {
            let m = metrics::Metrics::new();
            handles.push(m.subscribe_to(bus, c).await?);
            Some(m)
        }
        None => None,
    };
    #[cfg(feature = "metrics")]
    let telemetry = telemetry::Telemetry::new(metrics.clone());
    #[cfg(not(feature = "metrics"))]
    let telemetry = telemetry::Telemetry::default();
    #[cfg(feature = "logger")]
    if let Some(c) = config.logger {
        handles.push(logger::Logger::subscribe_with(bus, c, telemetry.clone()).await?);
    }
    #[cfg(feature = "webhook")]
    for c in config.webhooks {
        handles.push(webhook::Webhook::subscribe_with(bus, c, telemetry.clone()).await?);
    }
    let _ = telemetry;
    Ok(Subscribers {
        bus: bus.clone(),
        handles,
        stopped: std::sync::atomic::AtomicBool::new(false),
        #[cfg(feature = "metrics")]
        metrics,
    })
}

impl Subscribers {
    /// The metrics, to serve [`metrics::Metrics::render`] at `GET /metrics`.
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> Option<&metrics::Metrics> {
        self.metrics.as_ref()
    }

    /// The handles of the running subscribers, metrics first.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Stops gracefully: every event emitted before this call reaches every
    /// subscriber (webhooks: delivered or dead-lettered within their retry
    /// budget; the logger: written and flushed); then they leave the bus.
    ///
    /// It takes `&self`, so [`metrics`](Self::metrics) can still be rendered
    /// afterwards (the final counts). Calling it again is harmless: the
    /// subscribers have left already, and it only waits for them to drain.
    pub async fn shutdown(&self) {
        use std::sync::atomic::Ordering;
        if !self.stopped.swap(true, Ordering::AcqRel) {
            if self.bus.flush().await.is_err() {
                tracing::warn!("bus stopped before its events were flushed to the subscribers");
            }
            for h in &self.handles {
                h.unsubscribe().await;
            }
        }
        futures_util::future::join_all(self.handles.iter().map(Handle::drain_mailbox)).await;
    }
}
