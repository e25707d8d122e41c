//! The webhook sender: POSTs each matching event's Prefect JSON to a URL,
//! signed, retried, in order per resource, and never dropped in silence.
//!
//! ## A request
//!
//! `POST <url>` with `Content-Type: application/json` and the event's Prefect
//! JSON as body: the bytes the bus encoded once and shares with every other
//! subscriber, never re-encoded. Headers after the
//! [Standard Webhooks](https://www.standardwebhooks.com/) scheme:
//!
//! - `webhook-id`: the event's id (a batch: `batch-` and its first event's id),
//!   the same on every retry, so the receiver can deduplicate;
//! - `webhook-timestamp`: unix seconds when the attempt was made (from the
//!   bus's clock);
//! - `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
//!   when a secret is set; the key is the base64 text after `whsec_`
//!   ([`Signer`]).
//!
//! ## Retries
//!
//! Each attempt has a timeout ([`WebhookConfig::timeout`]). Connection
//! errors, timeouts, `5xx`, `408` and `429` are retried with exponential
//! backoff and jitter ([`RetryPolicy`]); a `Retry-After` header (seconds or an
//! HTTP date) is honoured: the next attempt waits at least that long, up to
//! [`RetryPolicy::max_retry_after`]. Other `4xx` and `3xx` are not retried.
//!
//! ## Order and concurrency
//!
//! Events are kept in one lane per resource (`prefect.resource.id`): a lane
//! sends one request at a time, so one pool's or queue's events arrive in the
//! order they were emitted, retries included. Different lanes run in parallel,
//! up to [`WebhookConfig::concurrency`] requests at once.
//!
//! ## Dead letters
//!
//! An event that exhausted its retry budget, or was refused for good, goes to
//! the [`DeadLetterSink`]: a JSON-lines file, a [`DeadLetter`] message to an
//! actor of yours, or (the default) an `ERROR` log line carrying its JSON. Each
//! is counted in `workbus_webhook_dead_letters_total`. If the sink itself
//! fails, the event is logged with its JSON and counted in
//! `workbus_events_dropped_total{reason="dead_letter_failed"}`.
//!
//! ## Batching
//!
//! With [`WebhookConfig::batch`], events are sent as a JSON array of up to
//! `max_events` events, as soon as that many wait or the oldest has waited
//! `max_wait`. Batches are sent one at a time, in emission order.
//!
//! ## Supervision and shutdown
//!
//! A panic in the actor restarts it; requests that were in flight are sent
//! again (the receiver sees the same `webhook-id`), so delivery is at least
//! once. [`Handle::shutdown`] returns once every event emitted before it was
//! delivered or dead-lettered, each within its retry budget.
//!
//! # Examples
//!
//! ```
//! use actix_web::{web, App, HttpResponse, HttpServer};
//! use std::sync::{Arc, Mutex};
//! use workbus_core::{Bus, CreatePool};
//! use workbus_subscribers::webhook::{Webhook, WebhookConfig};
//!
//! actix::System::new().block_on(async {
//!     // A receiver that keeps the ids it was sent.
//!     let ids = Arc::new(Mutex::new(Vec::<String>::new()));
//!     let kept = ids.clone();
//!     let server = HttpServer::new(move || {
//!         let kept = kept.clone();
//!         App::new().route("/hook", web::post().to(move |req: actix_web::HttpRequest| {
//!             let kept = kept.clone();
//!             async move {
//!                 let id = req.headers().get("webhook-id").unwrap().to_str().unwrap().to_owned();
//!                 kept.lock().unwrap().push(id);
//!                 HttpResponse::NoContent().finish()
//!             }
//!         }))
//!     })
//!     .workers(1)
//!     .bind(("127.0.0.1", 0))
//!     .unwrap();
//!     let url = format!("http://{}/hook", server.addrs()[0]);
//!     let server = server.run();
//!     let stop = server.handle();
//!     actix::spawn(server);
//!
//!     let bus = Bus::start();
//!     let config = WebhookConfig::new("hook", url).secret("whsec_c2VjcmV0");
//!     let hook = Webhook::subscribe(&bus, config).await.unwrap();
//!     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
//!     hook.shutdown().await;
//!     assert_eq!(ids.lock().unwrap().len(), 3);
//!     stop.stop(true).await;
//! });
//! ```

mod batch;
mod config;
mod dead_letter;
mod lanes;
mod sign;
mod transport;

pub use config::{BatchConfig, RetryPolicy, WebhookConfig, DEFAULT_DEAD_LETTER_MAX_BYTES};
pub use dead_letter::{DeadLetter, DeadLetterSink};
pub use sign::Signer;
pub use transport::Outcome;

use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use futures_util::FutureExt as _;
use workbus_core::{Bus, Deliver, SharedEvent};

use crate::telemetry::Telemetry;
use crate::toolkit::{guard, panic_message, Backlog, Drain, Handle, MAILBOX};
use crate::Error;
use dead_letter::DeadLetters;
use lanes::{Lanes, Next};
use transport::{Failure, Target};

/// The webhook actor. Start it with [`Webhook::subscribe`].
pub struct Webhook {
    name: Arc<str>,
    target: Rc<Target>,
    concurrency: usize,
    batch: Option<BatchConfig>,
    lanes: Lanes,
    in_flight: usize,
    /// Bumped at each restart: answers of requests started before it are ignored.
    epoch: u64,
    backlog: Backlog,
    timer: Option<SpawnHandle>,
    dead: DeadLetters,
    telemetry: Telemetry,
}

impl Webhook {
    /// Starts a supervised webhook sender and subscribes it to `bus`.
    pub async fn subscribe(bus: &Bus, config: WebhookConfig) -> Result<Handle, Error> {
        Self::subscribe_with(bus, config, Telemetry::default()).await
    }

    /// Like [`subscribe`](Self::subscribe), counting into `metrics`.
    #[cfg(feature = "metrics")]
    pub async fn subscribe_counted(
        bus: &Bus,
        config: WebhookConfig,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Handle, Error> {
        Self::subscribe_with(bus, config, Telemetry::new(Some(metrics.clone()))).await
    }

    pub(crate) async fn subscribe_with(
        bus: &Bus,
        config: WebhookConfig,
        telemetry: Telemetry,
    ) -> Result<Handle, Error> {
        let (signer, headers) = config.checked()?;
        let name: Arc<str> = config.name.as_str().into();
        let tls = transport::tls_config(&config.name, &config.extra_root_certificates)?;
        let dead = DeadLetters::open(
            &name,
            &config.dead_letter,
            config.dead_letter_max_bytes,
            &telemetry,
        )?;
        let clock = bus.clock().clone();
        let addr = {
            let (name, telemetry) = (name.clone(), telemetry.clone());
            let (url, timeout, retry) = (config.url.clone(), config.timeout, config.retry.clone());
            let (concurrency, batch) = (config.concurrency, config.batch.clone());
            let refuse_private = config.refuse_private_addresses;
            Supervisor::start(move |_| Webhook {
                target: Rc::new(Target {
                    name: name.clone(),
                    url,
                    signer,
                    headers,
                    timeout,
                    retry,
                    client: transport::client(concurrency, timeout, refuse_private, tls.as_ref()),
                    clock,
                    telemetry: telemetry.clone(),
                }),
                name,
                concurrency,
                batch,
                lanes: Lanes::default(),
                in_flight: 0,
                epoch: 0,
                backlog: Backlog::default(),
                timer: None,
                dead,
                telemetry,
            })
        };
        Handle::subscribe(
            bus,
            &config.name,
            addr.clone().recipient(),
            addr.recipient(),
            &config.feed,
        )
        .await
    }

    /// Adds an event to its lane; [`pump`](Self::pump) starts it.
    fn enqueue(&mut self, event: SharedEvent) {
        self.lanes.push(event, self.batch.is_some());
        self.backlog.take(1);
    }

    /// Starts requests while there is room.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.in_flight < self.concurrency {
            match self
                .lanes
                .next(self.batch.as_ref(), self.backlog.is_draining())
            {
                Next::Unit(key, unit) => {
                    self.in_flight += 1;
                    self.send(key, unit, ctx);
                }
                Next::NotBefore(at) => {
                    if self.timer.is_none() {
                        let wait = at.saturating_duration_since(tokio::time::Instant::now());
                        self.timer = Some(ctx.run_later(wait, |act, ctx| {
                            act.timer = None;
                            act.lanes.wake(batch::BATCH_LANE);
                            act.pump(ctx);
                        }));
                    }
                }
                Next::Idle => break,
            }
        }
    }

    fn send(&mut self, key: Arc<str>, unit: Vec<SharedEvent>, ctx: &mut Context<Self>) {
        let (body, msg_id) = match unit.as_slice() {
            [one] => (one.json().clone(), one.id.to_string()),
            many => (
                batch::body(many),
                format!("batch-{}", many.first().map(|e| e.id).unwrap_or_default()),
            ),
        };
        let epoch = self.epoch;
        let fut = AssertUnwindSafe(self.target.clone().deliver(body, msg_id)).catch_unwind();
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            let result = result.unwrap_or_else(|panic| {
                Err(Failure {
                    reason: format!("panic while sending: {}", panic_message(panic.as_ref()))
                        .into(),
                    attempts: 0,
                })
            });
            let (name, telemetry) = (act.name.clone(), act.telemetry.clone());
            let finished = guard(
                ctx,
                &name,
                || telemetry.panicked(&name),
                || act.done(epoch, key, result),
            );
            if let Some(failed) = finished {
                if let Some(unit) = failed {
                    act.store_failed(unit, ctx);
                }
                act.pump(ctx);
            }
        }));
    }

    /// A unit finished: delivered (`None`), or given up (the unit, to dead-letter).
    fn done(
        &mut self,
        epoch: u64,
        key: Arc<str>,
        result: Result<u32, Failure>,
    ) -> Option<(Vec<SharedEvent>, Failure)> {
        if epoch != self.epoch {
            return None;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        let unit = self.lanes.finish(&key);
        match result {
            Ok(_) => {
                self.backlog.finish(unit.len() as u64);
                None
            }
            Err(failure) => Some((unit, failure)),
        }
    }

    /// Gives a unit that failed for good to the dead-letter sink.
    fn store_failed(
        &mut self,
        (unit, failure): (Vec<SharedEvent>, Failure),
        ctx: &mut Context<Self>,
    ) {
        let clock = self.target.clock.clone();
        self.dead.put(
            &self.name,
            &unit,
            &failure,
            clock.as_ref(),
            &self.telemetry,
            ctx,
        );
        self.backlog.finish(unit.len() as u64);
    }
}

impl Actor for Webhook {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        // After a restart: resume what was waiting or being sent.
        self.lanes.wake_all();
        self.pump(ctx);
    }
}

impl Supervised for Webhook {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // The futures of the requests in flight are gone: send their units again.
        self.epoch += 1;
        self.in_flight = 0;
        self.timer = None;
        let resent = self.lanes.resend_in_flight();
        tracing::info!(webhook = %self.name, resent, "webhook sender restarted");
    }
}

impl Handler<Deliver> for Webhook {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        let (name, telemetry) = (self.name.clone(), self.telemetry.clone());
        telemetry.latency(&name, event.emitted_at().elapsed());
        if guard(
            ctx,
            &name,
            || telemetry.panicked(&name),
            || self.enqueue(event),
        )
        .is_some()
        {
            self.pump(ctx);
        }
    }
}

impl Handler<Drain> for Webhook {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        // Registered first, so that a waiting batch goes now instead of at its deadline.
        let settled = self.backlog.drain();
        self.lanes.wake_all();
        self.pump(ctx);
        // Dead letters are written off the arbiter: wait for the file too.
        let flushed = self.dead.flushed();
        Box::pin(async move {
            settled.await;
            flushed.await;
        })
    }
}
