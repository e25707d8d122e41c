//! Prometheus metrics of the bus and its subscribers, rendered as text.
//!
//! [`Metrics::render`] returns Prometheus's text exposition format 0.0.4
//! (serve it with [`CONTENT_TYPE`]); [`Metrics::render_openmetrics`] returns
//! the OpenMetrics text format (serve it with [`OPENMETRICS_CONTENT_TYPE`]) for
//! scrapers that ask for it. Both hold the same families and samples.
//!
//! ## The families
//!
//! | family | type | labels | from |
//! |---|---|---|---|
//! | `workbus_events_emitted_total` | counter | `event` | every event the metrics subscriber receives (it subscribes to all, losing none) |
//! | `workbus_events_delivered_total` | counter | `subscriber` | the registry's count of events placed in each subscriber's mailbox |
//! | `workbus_events_dropped_total` | counter | `subscriber`, `reason` | `overflow` and `closed` from the registry; `panic`, `write_failed`, `dead_letter_failed`, `dead_letter_full` from the subscribers of this crate |
//! | `workbus_work_pools` | gauge | `status` | pools per status (`READY`, `NOT_READY`, `PAUSED`): the bus's count, read at each render |
//! | `workbus_work_queues` | gauge | `status` | queues per status, likewise |
//! | `workbus_workers_online` | gauge | | the bus's count, read at each render |
//! | `workbus_bus_held_back_total` | counter | | times the registry closed the bus's gate because 256 events or more waited for its next turn (producers waited; nothing lost) |
//! | `workbus_delivery_latency_seconds` | histogram | `subscriber` | from the bus taking an event in to a subscriber's handler receiving it |
//! | `workbus_webhook_requests_total` | counter | `webhook`, `outcome` | every HTTP attempt: `success`, `client_error`, `server_error`, `rate_limited`, `request_timeout`, `redirect`, `timeout`, `connect_error`, `send_error`, `refused_address` (the SSRF guard) |
//! | `workbus_webhook_retries_total` | counter | `webhook` | attempts after the first |
//! | `workbus_webhook_dead_letters_total` | counter | `webhook` | events given to the dead-letter sink |
//! | `workbus_subscriber_restarts_total` | counter | `subscriber` | restarts after a panic |
//!
//! A subscriber that leaves the bus keeps its delivered and dropped totals
//! (summed by name) once a render has seen it.
//!
//! ## Counting pools and queues
//!
//! The pool and queue actors keep their counts by status in the bus's
//! [`BusStats`] as they start, change status and
//! stop; a render reads them. So the gauges hold for pools and queues that
//! existed before the metrics subscribed, and for a queue created paused,
//! with nothing to reconcile.
//!
//! # Examples
//!
//! ```
//! use workbus_core::{Bus, CreatePool};
//! use workbus_subscribers::metrics::{Metrics, MetricsConfig};
//!
//! actix::System::new().block_on(async {
//!     let bus = Bus::start();
//!     let (metrics, handle) = Metrics::subscribe(&bus, MetricsConfig::default()).await.unwrap();
//!     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
//!     handle.drain().await;
//!     let text = metrics.render();
//!     assert!(text.contains("workbus_events_emitted_total{event=\"prefect.work-pool.created\"} 1"));
//!     assert!(text.contains("workbus_work_pools{status=\"NOT_READY\"} 1"));
//! });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::prelude::*;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use workbus_core::{Bus, BusStats, Deliver, SharedEvent, Status, SubscriptionId};

use crate::telemetry::{DropReason, Telemetry};
use crate::toolkit::{guard, Drain, Feed, Handle, MAILBOX};
use crate::Error;

/// The prometheus-client crate these metrics are built with, for
/// [`Metrics::render_with`]'s registries and their collectors.
pub use prometheus_client;

/// The `Content-Type` of [`Metrics::render`]'s output: Prometheus's text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `Content-Type` of [`Metrics::render_openmetrics`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

type One = [(&'static str, String); 1];
type Two = [(&'static str, String); 2];
type StatusLabel = [(&'static str, &'static str); 1];

const STATUSES: [Status; 3] = [Status::Ready, Status::NotReady, Status::Paused];

fn one(k: &'static str, v: &str) -> One {
    [(k, v.to_owned())]
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters stay meaningful after a panic elsewhere: take them as they are.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The metrics: a Prometheus registry shared by every subscriber of this
/// crate, cheap to clone, rendered with [`Metrics::render`].
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

#[cfg_attr(not(feature = "webhook"), allow(dead_code))]
struct Inner {
    registry: Registry,
    emitted: Family<One, Counter>,
    pools: Family<StatusLabel, Gauge>,
    queues: Family<StatusLabel, Gauge>,
    workers_online: Gauge,
    latency: Family<One, Histogram>,
    requests: Family<Two, Counter>,
    retries: Family<One, Counter>,
    dead_letters: Family<One, Counter>,
    restarts: Family<One, Counter>,
    deliveries: Arc<DeliveryCollector>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    // 10 µs to about 2.6 s, times 4 each step.
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

impl Metrics {
    /// An empty set of metrics, not attached to any bus.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let emitted = Family::<One, Counter>::default();
        let pools = Family::<StatusLabel, Gauge>::default();
        let queues = Family::<StatusLabel, Gauge>::default();
        let workers_online = Gauge::default();
        let latency =
            Family::<One, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let requests = Family::<Two, Counter>::default();
        let retries = Family::<One, Counter>::default();
        let dead_letters = Family::<One, Counter>::default();
        let restarts = Family::<One, Counter>::default();
        let deliveries = Arc::new(DeliveryCollector::default());
        for s in STATUSES {
            let _ = pools.get_or_create(&[("status", s.as_str())]);
            let _ = queues.get_or_create(&[("status", s.as_str())]);
        }
        registry.register(
            "workbus_events_emitted",
            "Events emitted on the bus, by event name",
            emitted.clone(),
        );
        registry.register("workbus_work_pools", "Work pools, by status", pools.clone());
        registry.register(
            "workbus_work_queues",
            "Work queues, by status",
            queues.clone(),
        );
        registry.register(
            "workbus_workers_online",
            "Workers online, over all pools",
            workers_online.clone(),
        );
        registry.register(
            "workbus_delivery_latency_seconds",
            "Time from the bus taking an event in to a subscriber's handler receiving it",
            latency.clone(),
        );
        registry.register(
            "workbus_webhook_requests",
            "Webhook HTTP attempts, by webhook and outcome",
            requests.clone(),
        );
        registry.register(
            "workbus_webhook_retries",
            "Webhook attempts after the first",
            retries.clone(),
        );
        registry.register(
            "workbus_webhook_dead_letters",
            "Events a webhook gave to its dead-letter sink after its retry budget",
            dead_letters.clone(),
        );
        registry.register(
            "workbus_subscriber_restarts",
            "Subscriber restarts after a panic in its handler",
            restarts.clone(),
        );
        registry.register_collector(Box::new(SharedCollector(deliveries.clone())));
        Metrics(Arc::new(Inner {
            registry,
            emitted,
            pools,
            queues,
            workers_online,
            latency,
            requests,
            retries,
            dead_letters,
            restarts,
            deliveries,
        }))
    }

    /// Reads the bus's counters (subscribers, workers online) at each render.
    pub fn attach(&self, bus: &Bus) {
        *lock(&self.0.deliveries.bus) = Some(bus.stats().clone());
    }

    /// Starts the metrics subscriber on `bus` and returns the metrics with
    /// its handle. Pools and queues that exist already are counted.
    pub async fn subscribe(bus: &Bus, config: MetricsConfig) -> Result<(Metrics, Handle), Error> {
        let metrics = Metrics::new();
        let handle = metrics.subscribe_to(bus, config).await?;
        Ok((metrics, handle))
    }

    /// Starts a metrics subscriber on `bus` that counts into these metrics.
    pub async fn subscribe_to(&self, bus: &Bus, config: MetricsConfig) -> Result<Handle, Error> {
        self.attach(bus);
        let name: Arc<str> = config.name.as_str().into();
        let addr = {
            let (metrics, name) = (self.clone(), name.clone());
            Supervisor::start(move |_| MetricsSubscriber {
                telemetry: Telemetry::new(Some(metrics.clone())),
                metrics,
                name,
            })
        };
        let handle = Handle::subscribe(
            bus,
            &config.name,
            addr.clone().recipient(),
            addr.clone().recipient(),
            &config.feed,
        )
        .await?;
        Ok(handle)
    }

    /// The metrics in Prometheus's text exposition format 0.0.4, for
    /// `GET /metrics` (serve it with [`CONTENT_TYPE`]): the families of
    /// [`render_openmetrics`](Self::render_openmetrics), with each counter's
    /// `# HELP` and `# TYPE` naming its samples (`…_total`), and without
    /// `# UNIT` and `# EOF` lines. Every Prometheus-format parser reads it.
    pub fn render(&self) -> String {
        self.render_with(&[])
    }

    /// [`render`](Self::render), followed by the families of other
    /// registries: an embedder's (the server's own, say), served on the same
    /// `GET /metrics`. Their names must not clash with these.
    pub fn render_with(&self, more: &[&Registry]) -> String {
        self.refresh();
        let mut all = Vec::with_capacity(1 + more.len());
        all.push(&self.0.registry);
        all.extend_from_slice(more);
        encode_prometheus(&all)
    }

    /// The metrics in the OpenMetrics text format (serve it with
    /// [`OPENMETRICS_CONTENT_TYPE`]), for scrapers that ask for it.
    pub fn render_openmetrics(&self) -> String {
        self.render_openmetrics_with(&[])
    }

    /// [`render_openmetrics`](Self::render_openmetrics), followed by the
    /// families of other registries, before the one `# EOF`.
    pub fn render_openmetrics_with(&self, more: &[&Registry]) -> String {
        self.refresh();
        let mut all = Vec::with_capacity(1 + more.len());
        all.push(&self.0.registry);
        all.extend_from_slice(more);
        encode_openmetrics(&all)
    }

    /// Reads the gauges from the counts the bus's actors keep (pools and
    /// queues by status, workers online), at each render: nothing to follow
    /// or reconcile between renders.
    fn refresh(&self) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        if let Some(stats) = lock(&self.0.deliveries.bus).as_ref() {
            self.0.workers_online.set(gauge(stats.workers_online()));
            for status in STATUSES {
                let label = [("status", status.as_str())];
                self.0
                    .pools
                    .get_or_create(&label)
                    .set(gauge(stats.pools(status)));
                self.0
                    .queues
                    .get_or_create(&label)
                    .set(gauge(stats.queues(status)));
            }
        }
    }

    pub(crate) fn observe_latency(&self, subscriber: &str, latency: Duration) {
        self.0
            .latency
            .get_or_create(&one("subscriber", subscriber))
            .observe(latency.as_secs_f64());
    }

    pub(crate) fn count_dropped(&self, subscriber: &str, reason: DropReason, n: u64) {
        *lock(&self.0.deliveries.local_drops)
            .entry((subscriber.to_owned(), reason))
            .or_default() += n;
    }

    pub(crate) fn count_restart(&self, subscriber: &str) {
        self.0
            .restarts
            .get_or_create(&one("subscriber", subscriber))
            .inc();
    }

    #[cfg_attr(not(feature = "webhook"), allow(dead_code))]
    pub(crate) fn count_request(&self, webhook: &str, outcome: &str) {
        self.0
            .requests
            .get_or_create(&[
                ("webhook", webhook.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    #[cfg_attr(not(feature = "webhook"), allow(dead_code))]
    pub(crate) fn count_retry(&self, webhook: &str) {
        self.0.retries.get_or_create(&one("webhook", webhook)).inc();
    }

    #[cfg_attr(not(feature = "webhook"), allow(dead_code))]
    pub(crate) fn count_dead_letters(&self, webhook: &str, n: u64) {
        self.0
            .dead_letters
            .get_or_create(&one("webhook", webhook))
            .inc_by(n);
    }

    fn count_emitted(&self, event: &str) {
        self.0.emitted.get_or_create(&one("event", event)).inc();
    }
}

/// Renders registries, one after the other, in Prometheus's text
/// exposition format 0.0.4 (serve it with [`CONTENT_TYPE`]).
///
/// [`Metrics::render_with`] does this with the subscribers' registry first;
/// this is for registries without it (the `metrics` subscriber not installed).
pub fn encode_prometheus(registries: &[&Registry]) -> String {
    let mut out = String::with_capacity(4096);
    for registry in registries {
        if let Err(error) = prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
        {
            // Writing to a String fails only if an encoder reports an error itself.
            tracing::error!(%error, "could not render the metrics");
        }
    }
    out
}

/// Renders registries, one after the other, in the OpenMetrics text format
/// (serve it with [`OPENMETRICS_CONTENT_TYPE`]), ending with one `# EOF`.
pub fn encode_openmetrics(registries: &[&Registry]) -> String {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let mut out = String::with_capacity(4096);
    let result = registries
        .iter()
        .try_for_each(|registry| encode_registry(&mut out, registry))
        .and_then(|()| encode_eof(&mut out));
    if let Err(error) = result {
        // Writing to a String fails only if an encoder reports an error itself.
        tracing::error!(%error, "could not render the metrics");
    }
    out
}

/// The metrics subscriber's configuration.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    /// Its name in logs and metrics (default `metrics`).
    pub name: String,
    /// Which events it counts (default all) and what happens when it falls
    /// behind (default: nothing is lost).
    pub feed: Feed,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            name: "metrics".into(),
            feed: Feed::default(),
        }
    }
}

/// Renders delivered and dropped counts from the bus's subscriptions and the
/// subscribers' own losses, keeping the totals of subscriptions that left.
#[derive(Default)]
struct DeliveryCollector {
    bus: Mutex<Option<Arc<BusStats>>>,
    seen: Mutex<Seen>,
    local_drops: Mutex<HashMap<(String, DropReason), u64>>,
}

#[derive(Default)]
struct Seen {
    live: HashMap<SubscriptionId, workbus_core::SubscriptionInfo>,
    /// Final (delivered, overflow, closed) of subscriptions that left, by name.
    retired: HashMap<Arc<str>, [u64; 3]>,
}

impl fmt::Debug for DeliveryCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryCollector").finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct SharedCollector(Arc<DeliveryCollector>);

impl Collector for SharedCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let c = &self.0;
        let stats = lock(&c.bus).clone();
        // Per name: delivered, dropped overflow, dropped closed.
        let mut totals: HashMap<Arc<str>, [u64; 3]> = HashMap::new();
        {
            let mut seen = lock(&c.seen);
            let live = stats
                .as_ref()
                .map(|s| s.subscriptions())
                .unwrap_or_default();
            let live_ids: std::collections::HashSet<SubscriptionId> =
                live.iter().map(|s| s.id).collect();
            let gone: Vec<SubscriptionId> = seen
                .live
                .keys()
                .filter(|id| !live_ids.contains(id))
                .copied()
                .collect();
            for id in gone {
                if let Some(sub) = seen.live.remove(&id) {
                    let r = seen.retired.entry(sub.name.clone()).or_default();
                    r[0] += sub.stats.delivered();
                    r[1] += sub.stats.dropped_overflow();
                    r[2] += sub.stats.dropped_closed();
                }
            }
            for sub in live {
                seen.live.insert(sub.id, sub);
            }
            for (name, r) in &seen.retired {
                let t = totals.entry(name.clone()).or_default();
                (0..3).for_each(|i| t[i] += r[i]);
            }
            for sub in seen.live.values() {
                let t = totals.entry(sub.name.clone()).or_default();
                t[0] += sub.stats.delivered();
                t[1] += sub.stats.dropped_overflow();
                t[2] += sub.stats.dropped_closed();
            }
        }
        let mut names: Vec<&Arc<str>> = totals.keys().collect();
        names.sort();

        let mut delivered = encoder.encode_descriptor(
            "workbus_events_delivered",
            "Events placed in each subscriber's mailbox",
            None,
            MetricType::Counter,
        )?;
        for name in &names {
            let labels = [("subscriber", name.as_ref())];
            ConstCounter::new(totals[*name][0]).encode(delivered.encode_family(&labels)?)?;
        }

        let mut rows: Vec<(String, &'static str, u64)> = Vec::new();
        for name in &names {
            let t = totals[*name];
            rows.push((name.to_string(), "overflow", t[1]));
            rows.push((name.to_string(), "closed", t[2]));
        }
        for ((name, reason), n) in lock(&c.local_drops).iter() {
            rows.push((name.clone(), reason.as_str(), *n));
        }
        rows.sort();
        let mut dropped = encoder.encode_descriptor(
            "workbus_events_dropped",
            "Events a subscriber did not get or lost, by reason",
            None,
            MetricType::Counter,
        )?;
        for (name, reason, n) in &rows {
            let labels = [("subscriber", name.as_str()), ("reason", *reason)];
            ConstCounter::new(*n).encode(dropped.encode_family(&labels)?)?;
        }

        let held_back = stats.as_ref().map_or(0, |s| s.held_back());
        ConstCounter::new(held_back).encode(encoder.encode_descriptor(
            "workbus_bus_held_back",
            "Times the registry held producers back because events waited for its next turn",
            None,
            MetricType::Counter,
        )?)?;
        Ok(())
    }
}

/// The actor that turns events into metrics.
struct MetricsSubscriber {
    metrics: Metrics,
    telemetry: Telemetry,
    name: Arc<str>,
}

impl MetricsSubscriber {
    fn count(&mut self, event: &SharedEvent) {
        self.metrics.count_emitted(&event.event);
    }
}

impl Actor for MetricsSubscriber {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Supervised for MetricsSubscriber {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::info!(subscriber = %self.name, "metrics subscriber restarted");
    }
}

impl Handler<Deliver> for MetricsSubscriber {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        let (name, telemetry) = (self.name.clone(), self.telemetry.clone());
        telemetry.latency(&name, event.emitted_at().elapsed());
        guard(
            ctx,
            &name,
            || telemetry.panicked(&name),
            || self.count(&event),
        );
    }
}

impl Handler<Drain> for MetricsSubscriber {
    type Result = ();

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) {}
}
