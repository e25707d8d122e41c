//! The publishing side: a subscriber actor that sends every local event to JetStream.
//!
//! [`NatsPublisher`] subscribes to the bus like any other subscriber. Each
//! local event (its [`origin`](SharedEvent::origin) is `None`) goes into a
//! bounded FIFO buffer; events that came from another node are skipped, so
//! nothing is echoed back. The actor sends the buffer's head in batches of
//! up to [`max_in_flight`](crate::NatsConfig::max_in_flight) publishes, each
//! on `<prefix>.<event name>` with the event's Prefect JSON as body, the
//! header `Nats-Msg-Id` set to the event id and `Workbus-Origin` to the node
//! name, and waits for every acknowledgement. An event leaves the buffer
//! only once JetStream has acknowledged it.
//!
//! ## Failures
//!
//! When a publish fails, the batch's acknowledged head leaves the buffer and
//! the rest is sent again after a backoff (the toolkit's one
//! [`Backoff`], from
//! [`NatsConfig::retry`](crate::NatsConfig::retry)),
//! starting at the first unacknowledged event, so the order is kept.
//! Messages of the failed batch that did reach the stream are dropped by
//! JetStream's duplicate detection when they come again. An outage (no
//! answer, a broken connection, no stream) is retried for as long as the
//! event is buffered; a refusal by the server is retried
//! [`max_attempts`](crate::NatsConfig::max_attempts) times. While the buffer
//! is full, new local events are dropped.
//!
//! ## Counting
//!
//! Nothing is lost in silence: every drop is counted in [`PublisherStats`]
//! and logged (the first, then every 1,000th). For the local events offered,
//! `accepted + dropped_overflow` is their number, and
//! `accepted = published + duplicates + dropped_refused + dropped_shutdown + buffered`.
//!
//! ## Supervision
//!
//! The publisher is made of the subscriber toolkit of `workbus-subscribers`:
//! its [`Drain`], its
//! [`Backlog`], and its supervision. A
//! panic in a handler is caught ([`guard`]),
//! logged and counted in [`PublisherStats::restarts`], and the publisher
//! restarts with the same address, mailbox and buffer: the batch that was in
//! flight is sent again (JetStream drops what it already stored).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use workbus_core::Deliver;
use workbus_events::SharedEvent;
use workbus_subscribers::toolkit::{guard, Backlog, Backoff};

use crate::names::subject_for;

pub(crate) use workbus_subscribers::toolkit::Drain;

/// The header that carries the event id, for JetStream's duplicate detection.
///
/// To read it from a received [`async_nats::HeaderMap`], look it up as
/// [`async_nats::header::NATS_MESSAGE_ID`]: async-nats parses this standard
/// name into its own constant, and a lookup by this string does not find it.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// The header that carries the name of the node that published the event.
pub const ORIGIN_HEADER: &str = "Workbus-Origin";

workbus_subscribers::counters! {
    /// Counters of the publishing side, readable at any time.
    pub struct PublisherStats {
        /// Local events taken into the buffer.
        accepted: u64,
        /// Events JetStream acknowledged and stored.
        published: u64,
        /// Events JetStream acknowledged as already stored (same id within its duplicate window).
        duplicates: u64,
        /// Events that came from another node, not published again.
        skipped_remote: u64,
        /// Times the publisher had to wait and try again: a publish failed, or the connection was down.
        retries: u64,
        /// Local events dropped because the buffer was full.
        dropped_overflow: u64,
        /// Events dropped because the server refused them every time, or they exceed its maximum payload.
        dropped_refused: u64,
        /// Events still buffered when shutdown gave up waiting (or that came after it).
        dropped_shutdown: u64,
        /// Restarts after a panic in the publisher (logged with the panic's message).
        restarts: u64,
        /// Events waiting in the buffer now (including those in flight).
        buffered: usize,
    }
}

impl PublisherStats {
    /// Every local event that will never reach the stream.
    pub fn lost(&self) -> u64 {
        self.dropped_overflow() + self.dropped_refused() + self.dropped_shutdown()
    }
}

/// What the publisher needs besides the connection.
#[derive(Clone, Debug)]
pub(crate) struct PublisherSettings {
    pub(crate) node: Arc<str>,
    pub(crate) prefix: Arc<str>,
    pub(crate) stream: stream::Config,
    pub(crate) buffer: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) retry: crate::Backoff,
    pub(crate) max_attempts: u32,
}

/// The publishing subscriber actor. [`NatsBridge`](crate::NatsBridge) starts
/// and subscribes it; see the [module docs](self) for how it works.
pub struct NatsPublisher {
    js: jetstream::Context,
    client: async_nats::Client,
    settings: PublisherSettings,
    buffer: VecDeque<SharedEvent>,
    sending: bool,
    waiting: Option<SpawnHandle>,
    /// Kept (and cloned at each start) so that a restarted publisher still wakes up on reconnection.
    reconnected: tokio::sync::watch::Receiver<u64>,
    /// The one retry schedule of the toolkit, from the bridge's settings.
    backoff: Backoff,
    failures: u32,
    refusals: u32,
    backlog: Backlog,
    /// Set by [`Close`]: later events are counted as `dropped_shutdown`.
    closed: bool,
    stats: Arc<PublisherStats>,
}

impl NatsPublisher {
    pub(crate) fn new(
        client: async_nats::Client,
        js: jetstream::Context,
        settings: PublisherSettings,
        reconnected: tokio::sync::watch::Receiver<u64>,
        stats: Arc<PublisherStats>,
    ) -> Self {
        NatsPublisher {
            js,
            client,
            buffer: VecDeque::with_capacity(settings.buffer.min(1024)),
            backoff: settings.retry,
            settings,
            sending: false,
            waiting: None,
            reconnected,
            failures: 0,
            refusals: 0,
            backlog: Backlog::default(),
            closed: false,
            stats,
        }
    }

    /// The largest event body the server takes, leaving room for the headers.
    fn payload_limit(&self) -> usize {
        let max = self.client.server_info().max_payload;
        if max == 0 {
            return usize::MAX;
        }
        // "NATS/1.0\r\n", two headers with their names, the id, the node, and the blank line.
        let headers =
            10 + MSG_ID_HEADER.len() + 40 + ORIGIN_HEADER.len() + 4 + self.settings.node.len() + 2;
        max.saturating_sub(headers)
    }

    fn pop_done(&mut self) -> Option<SharedEvent> {
        let e = self.buffer.pop_front()?;
        self.backlog.finish(1);
        Some(e)
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.sending || self.waiting.is_some() {
            return;
        }
        let limit = self.payload_limit();
        while self.buffer.front().is_some_and(|e| e.json().len() > limit) {
            if let Some(e) = self.pop_done() {
                let n = self.stats.dropped_refused.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(event = %e.event, id = %e.id, size = e.json().len(), limit, dropped = n,
                    "event larger than the NATS server's maximum payload: not published");
            }
        }
        self.sync_stats();
        if self.buffer.is_empty() {
            return;
        }
        if self.client.connection_state() != async_nats::connection::State::Connected {
            // Sending now would only queue publishes in the client that time out; wait
            // for the reconnection (which wakes us) or the next retry, whichever comes first.
            let delay = self.backoff.delay(self.failures);
            self.failures = self.failures.saturating_add(1);
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            self.retry_later(delay, ctx);
            return;
        }
        let prefix = self.settings.prefix.clone();
        let batch: Vec<(String, String, Bytes)> = self
            .buffer
            .iter()
            .take(self.settings.max_in_flight)
            .take_while(|e| e.json().len() <= limit)
            .map(|e| {
                (
                    subject_for(&prefix, &e.event),
                    e.id.to_string(),
                    e.json().clone(),
                )
            })
            .collect();
        self.sending = true;
        let fut = publish_batch(
            self.js.clone(),
            self.settings.node.clone(),
            self.settings.stream.clone(),
            batch,
        );
        ctx.spawn(fut.into_actor(self).map(|outcome, act, ctx| {
            let stats = act.stats.clone();
            let settled = guard(
                ctx,
                "nats-publisher",
                || count_restart(&stats),
                || act.settle(outcome),
            );
            if let Some(retry_in) = settled {
                if let Some(delay) = retry_in {
                    act.retry_later(delay, ctx);
                }
                act.pump(ctx);
            }
        }));
    }

    /// Takes a batch's outcome; the caller pumps again (a retry waits for
    /// `waiting`'s timer, which this sets).
    fn settle(&mut self, outcome: Outcome) -> Option<std::time::Duration> {
        self.sending = false;
        let mut retry_in = None;
        if !outcome.acked.is_empty() {
            self.refusals = 0;
        }
        for duplicate in outcome.acked {
            self.pop_done();
            let counter = if duplicate {
                &self.stats.duplicates
            } else {
                &self.stats.published
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        match outcome.error {
            None => {
                if self.failures > 0 {
                    tracing::info!(node = %self.settings.node, failed_attempts = self.failures,
                        "publishing to NATS works again");
                }
                self.failures = 0;
            }
            Some(err) => {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                let outage = matches!(
                    err.kind(),
                    PublishErrorKind::TimedOut
                        | PublishErrorKind::BrokenPipe
                        | PublishErrorKind::StreamNotFound
                );
                if !outage {
                    self.refusals += 1;
                    if self.refusals >= self.settings.max_attempts {
                        self.refusals = 0;
                        if let Some(e) = self.pop_done() {
                            let n = self.stats.dropped_refused.fetch_add(1, Ordering::Relaxed) + 1;
                            tracing::error!(event = %e.event, id = %e.id, error = %err, attempts = self.settings.max_attempts,
                                dropped = n, "NATS refused the event every time: not published");
                        }
                    }
                }
                let delay = self.backoff.delay(self.failures);
                if self.failures == 0 {
                    tracing::warn!(node = %self.settings.node, error = %err, buffered = self.buffer.len(),
                        retry_in = ?delay, "publishing to NATS failed; retrying");
                } else {
                    tracing::debug!(node = %self.settings.node, error = %err, buffered = self.buffer.len(),
                        retry_in = ?delay, "publishing to NATS failed again");
                }
                self.failures = self.failures.saturating_add(1);
                retry_in = Some(delay);
            }
        }
        self.sync_stats();
        retry_in
    }

    fn retry_later(&mut self, delay: std::time::Duration, ctx: &mut Context<Self>) {
        self.waiting = Some(ctx.run_later(delay, |act, ctx| {
            act.waiting = None;
            act.pump(ctx);
        }));
    }

    fn sync_stats(&self) {
        self.stats
            .buffered
            .store(self.buffer.len(), Ordering::Relaxed);
    }
}

/// Counts a panic of the publisher (the guard logs it).
fn count_restart(stats: &PublisherStats) {
    stats.restarts.fetch_add(1, Ordering::Relaxed);
}

/// What became of a batch: whether each acknowledged head event was a
/// duplicate, and the error that stopped the batch, if one did.
struct Outcome {
    acked: Vec<bool>,
    error: Option<async_nats::jetstream::context::PublishError>,
}

/// Sends a batch and waits for its acknowledgements in order, stopping at the first failure.
async fn publish_batch(
    js: jetstream::Context,
    node: Arc<str>,
    stream: stream::Config,
    batch: Vec<(String, String, Bytes)>,
) -> Outcome {
    let mut pending = Vec::with_capacity(batch.len());
    let mut error = None;
    for (subject, id, payload) in batch {
        let publish = PublishMessage::build()
            .payload(payload)
            .message_id(id)
            .header(ORIGIN_HEADER, node.as_ref());
        match js.send_publish(subject, publish).await {
            Ok(ack) => pending.push(ack),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let mut acked = Vec::with_capacity(pending.len());
    for ack in pending {
        match ack.await {
            Ok(ack) => acked.push(ack.duplicate),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    if let Some(e) = &error {
        if e.kind() == PublishErrorKind::StreamNotFound {
            // Someone deleted the stream (or JetStream lost it): make it again before the retry.
            match js.get_or_create_stream(stream.clone()).await {
                Ok(_) => {
                    tracing::warn!(stream = %stream.name, "JetStream stream was missing: created it again")
                }
                Err(err) => {
                    tracing::debug!(stream = %stream.name, error = %err, "cannot create the JetStream stream yet")
                }
            }
        }
    }
    Outcome { acked, error }
}

impl Actor for NatsPublisher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The registry feeds subscribers with try_send, which respects this capacity;
        // what does not fit waits in the subscription's buffer in the registry.
        ctx.set_mailbox_capacity(workbus_subscribers::toolkit::MAILBOX);
        // Wake up as soon as the connection is back, rather than at the next retry.
        let reconnects =
            futures_util::stream::unfold(self.reconnected.clone(), |mut rx| async move {
                rx.changed().await.ok()?;
                Some((Reconnected, rx))
            });
        ctx.add_stream(reconnects);
        // After a restart: go on with what is buffered.
        self.pump(ctx);
    }

    /// Starts the publisher supervised, as every subscriber of the toolkit is:
    /// a panic in a handler restarts it with the same address and buffer.
    fn start(self) -> Addr<Self>
    where
        Self: Actor<Context = Context<Self>>,
    {
        Supervisor::start(move |_| self)
    }
}

impl Supervised for NatsPublisher {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // The futures of the batch in flight and of the retry timer are gone with
        // the old context: the buffer still holds the batch, send it again.
        self.sending = false;
        self.waiting = None;
        if !self.closed {
            tracing::info!(node = %self.settings.node, buffered = self.buffer.len(), "NATS publisher restarted");
        }
    }
}

/// The connection to NATS is back.
struct Reconnected;

impl StreamHandler<Reconnected> for NatsPublisher {
    fn handle(&mut self, _: Reconnected, ctx: &mut Context<Self>) {
        if let Some(timer) = self.waiting.take() {
            ctx.cancel_future(timer);
            self.failures = 0;
            self.pump(ctx);
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        // The connection is gone for good (the client was dropped); retries go on by the timer.
    }
}

impl Handler<Deliver> for NatsPublisher {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        let stats = self.stats.clone();
        let taken = guard(
            ctx,
            "nats-publisher",
            || count_restart(&stats),
            || self.take(event),
        );
        if taken == Some(true) {
            self.pump(ctx);
        }
    }
}

impl NatsPublisher {
    /// Buffers a local event; answers whether it was taken.
    fn take(&mut self, event: SharedEvent) -> bool {
        if event.origin().is_some() {
            self.stats.skipped_remote.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if self.closed {
            // An event the registry handed over before the unsubscribe took effect.
            self.stats.accepted.fetch_add(1, Ordering::Relaxed);
            let n = self.stats.dropped_shutdown.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(node = %self.settings.node, event = %event.event, id = %event.id, dropped = n,
                "NATS bridge already shut down: event not published");
            return false;
        }
        if self.buffer.len() >= self.settings.buffer {
            let n = self.stats.dropped_overflow.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(node = %self.settings.node, buffer = self.settings.buffer, dropped = n,
                    event = %event.event, id = %event.id, "NATS publish buffer full: event dropped");
            }
            return false;
        }
        self.buffer.push_back(event);
        self.backlog.take(1);
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.sync_stats();
        true
    }
}

/// Answers once every event accepted before it has left the buffer (published or counted as lost).
impl Handler<Drain> for NatsPublisher {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        self.backlog.drain()
    }
}

/// Stops the publisher; what is still buffered is counted as `dropped_shutdown` and logged.
#[derive(Debug, Message)]
#[rtype(result = "u64")]
pub(crate) struct Close;

impl Handler<Close> for NatsPublisher {
    type Result = u64;

    fn handle(&mut self, _: Close, ctx: &mut Context<Self>) -> u64 {
        let lost = self.buffer.len() as u64;
        if lost > 0 {
            self.stats
                .dropped_shutdown
                .fetch_add(lost, Ordering::Relaxed);
            tracing::error!(node = %self.settings.node, lost, "NATS bridge shut down with unpublished events");
        }
        self.buffer.clear();
        self.backlog.finish(lost);
        self.closed = true;
        self.sync_stats();
        // Supervised: it stops for good once the bridge lets go of its address;
        // until then a restart keeps it closed.
        ctx.stop();
        lost
    }
}
