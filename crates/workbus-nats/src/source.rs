//! The consuming side: a node's durable consumer feeding other nodes' events into the local bus.
//!
//! [`NatsSource`] pulls from the node's durable consumer on the stream (its
//! name is [`durable_name`](crate::durable_name) of the node name), so a
//! node that stops and starts again under the same name resumes where it
//! stopped. For every message:
//!
//! - published by this node (the `Workbus-Origin` header is its own name):
//!   acknowledged and skipped, so a node never sees its own events twice;
//! - not valid Prefect JSON: terminated (never delivered again), counted and logged;
//! - an event id seen within the last
//!   [`dedup_window`](crate::NatsConfig::dedup_window) events: acknowledged
//!   and skipped, since JetStream delivers at least once;
//! - otherwise handed to the bus with [`Bus::ingest`], as a [`SharedEvent`]
//!   that keeps the received bytes and its origin, and acknowledged after.
//!
//! Acknowledgements are confirmed by the server (`double_ack`), so a
//! message acknowledged before a restart is not delivered again after it.
//! Order holds within a run; across a restart, a message the server had
//! already handed to the stopped pull (its request outlives it by up to
//! [`pull_expires`](crate::NatsConfig::pull_expires)) comes again only after
//! [`ack_wait`](crate::NatsConfig::ack_wait), behind later ones: once, but late.
//! A pull that fails (an outage, a missed heartbeat) is counted and logged;
//! the pull resumes by itself when the connection is back, and the consumer
//! is opened again, after a backoff, if it was deleted.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind};
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{self, AckKind};
use tokio::sync::oneshot;
use workbus_core::Bus;
use workbus_events::{Event, SharedEvent};

use crate::config::Backoff;
use crate::dedup::DedupWindow;
use crate::publisher::ORIGIN_HEADER;

/// The origin given to a message that carries no `Workbus-Origin` header (not published by workbus).
pub const UNKNOWN_ORIGIN: &str = "unknown";

workbus_subscribers::counters! {
    /// Counters of the consuming side, readable at any time.
    ///
    /// Of the messages `received`: `ingested + skipped_own + duplicates + invalid`.
    pub struct SourceStats {
        /// Messages delivered by the durable consumer.
        received: u64,
        /// Other nodes' events handed to the local bus.
        ingested: u64,
        /// This node's own events, skipped.
        skipped_own: u64,
        /// Events delivered again (same id within the window), skipped.
        duplicates: u64,
        /// Messages that were not valid events, terminated.
        invalid: u64,
        /// Acknowledgements the server did not confirm (the message will come again, and be skipped).
        ack_failures: u64,
        /// Failed pulls: missed heartbeats, no JetStream, a deleted consumer.
        pull_errors: u64,
        /// Times the consumer had to be opened again.
        reopened: u64,
        /// Acknowledgements sent and not confirmed yet.
        acks_pending: usize,
    }
}

/// How the source pulls and where it reopens its consumer.
#[derive(Clone, Debug)]
pub(crate) struct SourceSettings {
    pub(crate) node: Arc<str>,
    pub(crate) stream: jetstream::stream::Config,
    pub(crate) durable: String,
    pub(crate) consumer: pull::Config,
    pub(crate) dedup_window: usize,
    pub(crate) pull_batch: usize,
    pub(crate) pull_expires: Duration,
    pub(crate) retry: Backoff,
}

type Pulled = Result<jetstream::Message, pull::MessagesError>;

/// The consuming source actor. [`NatsBridge`](crate::NatsBridge) starts it;
/// see the [module docs](self) for how it works.
pub struct NatsSource {
    bus: Bus,
    js: jetstream::Context,
    settings: SourceSettings,
    dedup: DedupWindow,
    origins: HashMap<String, Arc<str>>,
    first: Option<pull::Stream>,
    pulling: Option<SpawnHandle>,
    healthy: bool,
    failures: u32,
    acks_pending: usize,
    stopping: bool,
    stopped: Vec<oneshot::Sender<()>>,
    stats: Arc<SourceStats>,
}

impl NatsSource {
    pub(crate) fn new(
        bus: Bus,
        js: jetstream::Context,
        settings: SourceSettings,
        messages: pull::Stream,
        stats: Arc<SourceStats>,
    ) -> Self {
        NatsSource {
            bus,
            js,
            dedup: DedupWindow::new(settings.dedup_window),
            settings,
            origins: HashMap::new(),
            first: Some(messages),
            pulling: None,
            healthy: true,
            failures: 0,
            acks_pending: 0,
            stopping: false,
            stopped: Vec::new(),
            stats,
        }
    }

    fn origin(&mut self, name: Option<&str>) -> Arc<str> {
        let name = name.unwrap_or(UNKNOWN_ORIGIN);
        if let Some(o) = self.origins.get(name) {
            return o.clone();
        }
        let o: Arc<str> = name.into();
        // A handful of nodes in practice; never let a stream of odd headers grow it without bound.
        if self.origins.len() < 4096 {
            self.origins.insert(name.to_owned(), o.clone());
        }
        o
    }

    fn ack(&mut self, msg: jetstream::Message, kind: AckKind, ctx: &mut Context<Self>) {
        self.acks_pending += 1;
        self.stats
            .acks_pending
            .store(self.acks_pending, Ordering::Relaxed);
        let fut = async move {
            match kind {
                AckKind::Ack => msg.double_ack().await,
                other => msg.ack_with(other).await,
            }
        };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            act.acks_pending -= 1;
            act.stats
                .acks_pending
                .store(act.acks_pending, Ordering::Relaxed);
            if let Err(err) = result {
                let n = act.stats.ack_failures.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n % 1000 == 0 {
                    tracing::warn!(node = %act.settings.node, error = %err, failures = n,
                        "NATS did not confirm an ack: the message will come again and be skipped");
                }
            }
            act.maybe_stopped(ctx);
        }));
    }

    fn maybe_stopped(&mut self, ctx: &mut Context<Self>) {
        if self.stopping && self.acks_pending == 0 {
            for tx in self.stopped.drain(..) {
                let _ = tx.send(());
            }
            ctx.stop();
        }
    }

    /// Opens the consumer again after a backoff, and pulls from it.
    fn reopen(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let delay = self.settings.retry.delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        let js = self.js.clone();
        let s = self.settings.clone();
        let fut = async move {
            tokio::time::sleep(delay).await;
            let stream = js
                .get_or_create_stream(s.stream.clone())
                .await
                .map_err(|e| e.to_string())?;
            let consumer: PullConsumer = stream
                .get_or_create_consumer(&s.durable, s.consumer.clone())
                .await
                .map_err(|e| e.to_string())?;
            pull_messages(&consumer, s.pull_batch, s.pull_expires)
                .await
                .map_err(|e| e.to_string())
        };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| match result {
            Ok(messages) => {
                act.stats.reopened.fetch_add(1, Ordering::Relaxed);
                tracing::info!(node = %act.settings.node, durable = %act.settings.durable, "NATS consumer reopened");
                if !act.stopping {
                    act.pulling = Some(ctx.add_stream(messages));
                }
            }
            Err(err) => {
                tracing::warn!(node = %act.settings.node, durable = %act.settings.durable, error = %err,
                    "cannot reopen the NATS consumer yet");
                act.reopen(ctx);
            }
        }));
    }
}

/// Starts pulling: batches of `batch`, each pull request living `expires`, heartbeats at a quarter of it.
pub(crate) async fn pull_messages(
    consumer: &PullConsumer,
    batch: usize,
    expires: Duration,
) -> Result<pull::Stream, async_nats::jetstream::consumer::StreamError> {
    consumer
        .stream()
        .max_messages_per_batch(batch)
        .expires(expires)
        .heartbeat(expires / 4)
        .messages()
        .await
}

impl Actor for NatsSource {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(messages) = self.first.take() {
            self.pulling = Some(ctx.add_stream(messages));
        }
    }
}

impl StreamHandler<Pulled> for NatsSource {
    fn handle(&mut self, item: Pulled, ctx: &mut Context<Self>) {
        let msg = match item {
            Ok(msg) => msg,
            Err(err) => {
                let n = self.stats.pull_errors.fetch_add(1, Ordering::Relaxed) + 1;
                if self.healthy {
                    tracing::warn!(node = %self.settings.node, error = %err, errors = n, "pulling from NATS failed");
                } else {
                    tracing::debug!(node = %self.settings.node, error = %err, errors = n, "pulling from NATS failed");
                }
                self.healthy = false;
                if err.kind() == MessagesErrorKind::ConsumerDeleted {
                    tracing::warn!(node = %self.settings.node, durable = %self.settings.durable,
                        "the NATS consumer was deleted: opening it again");
                }
                return;
            }
        };
        if !self.healthy {
            tracing::info!(node = %self.settings.node, "pulling from NATS works again");
            self.healthy = true;
        }
        self.failures = 0;
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let origin = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(ORIGIN_HEADER))
            .map(|v| v.as_str());
        if origin == Some(&*self.settings.node) {
            self.stats.skipped_own.fetch_add(1, Ordering::Relaxed);
            return self.ack(msg, AckKind::Ack, ctx);
        }
        let origin = origin.map(str::to_owned);
        match Event::from_json(&msg.payload) {
            Err(err) => {
                let n = self.stats.invalid.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(node = %self.settings.node, subject = %msg.subject, origin = ?origin, error = %err,
                    invalid = n, "a NATS message is not a valid event: dropped");
                self.ack(msg, AckKind::Term, ctx);
            }
            Ok(event) => {
                if !self.dedup.insert(event.id) {
                    self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(node = %self.settings.node, id = %event.id, "event delivered again: skipped");
                    return self.ack(msg, AckKind::Ack, ctx);
                }
                let origin = self.origin(origin.as_deref());
                let event = SharedEvent::with_json(event, msg.payload.clone(), Some(origin));
                // The source waits at the bus's gate: while a lossless subscriber is
                // full it reads no more from the stream, so JetStream holds the rest.
                let bus = self.bus.clone();
                ctx.wait(actix::fut::wrap_future(
                    // Another node's event: this node does not store it, so nothing is refused.
                    async move {
                        let _ = bus.ingest(event).await;
                    },
                ));
                self.stats.ingested.fetch_add(1, Ordering::Relaxed);
                self.ack(msg, AckKind::Ack, ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The pull ended (its consumer was deleted, or the connection closed): open it again.
        self.pulling = None;
        if !self.stopping {
            self.reopen(ctx);
        }
    }
}

/// Stops pulling, waits for the acks sent so far to be confirmed, and stops the source.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Stop;

impl Handler<Stop> for NatsSource {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        if let Some(handle) = self.pulling.take() {
            ctx.cancel_future(handle);
        }
        let (tx, rx) = oneshot::channel();
        self.stopped.push(tx);
        self.maybe_stopped(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
