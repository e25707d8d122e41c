//! `GET /metrics`: the subscribers' Prometheus metrics, then the server's own.
//!
//! The server's families are a prometheus-client [`Collector`] in a
//! [`Registry`] of their own ([`ServerMetrics`]), read from the server's
//! counters at each scrape, and rendered next to the subscribers' registry
//! ([`workbus_subscribers::metrics::Metrics`]).
//!
//! `GET /metrics` answers Prometheus's exposition format 0.0.4
//! ([`CONTENT_TYPE`](workbus_subscribers::metrics::CONTENT_TYPE)), [`render`];
//! [`render_openmetrics`] gives the same families and samples in the
//! OpenMetrics text format
//! ([`OPENMETRICS_CONTENT_TYPE`](workbus_subscribers::metrics::OPENMETRICS_CONTENT_TYPE)). It sits
//! behind the same auth as the API when `WORKBUS_API_AUTH_STRING` is set, as
//! every route of Prefect's server does: give the scraper `basic_auth` with the
//! auth string split at its first `:`.
//!
//! The server adds these families to the subscribers' ones:
//!
//! | family | type | meaning |
//! |---|---|---|
//! | `workbus_websocket_connections` | gauge | websocket connections open (both event routes) |
//! | `workbus_websocket_clients` | gauge | `/api/events/out` clients streaming events |
//! | `workbus_websocket_cut_off_total` | counter | clients closed with 1013 for reading too slowly |
//! | `workbus_websocket_refused_total` | counter | connections refused at `WORKBUS_MAX_WEBSOCKET_CLIENTS` |
//! | `workbus_websocket_queued_bytes` | gauge | bytes of live frames waiting for websocket clients |
//! | `workbus_websocket_handshakes` | gauge | websocket connections still in their handshake |
//! | `workbus_websocket_handshakes_refused_total` | counter | upgrades refused at `WORKBUS_MAX_WEBSOCKET_HANDSHAKES` |
//! | `workbus_event_history_events` | gauge | events held for `/api/events/filter` and backfill |
//! | `workbus_event_history_bytes` | gauge | bytes the history holds, as it estimates them |
//! | `workbus_event_history_evicted_total` | counter | events dropped from the history at its count or byte bound |
//! | `workbus_http_client_faults_total` | counter | malformed requests and broken connections, not logged at ERROR |
//! | `workbus_worker_channel_workers` | gauge | workers connected on the worker channel |
//! | `workbus_worker_channel_opened_total` | counter | worker channel handshakes that finished |
//! | `workbus_worker_channel_refused_total` | counter | worker channel handshakes refused (subprotocol, auth, hello, pool) |
//! | `workbus_worker_channel_closed_total` | counter | connected workers the server closed with one of Prefect's reasons |
//! | `workbus_worker_channel_snapshots_total` | counter | pool snapshots pushed after `worker.ready.v1` |
//! | `workbus_worker_heartbeats_channel_total` | counter | heartbeats received on the worker channel |
//! | `workbus_worker_heartbeats_rest_total` | counter | heartbeats received at `POST .../workers/heartbeat` |
//! | `workbus_nats_published_total`, `_ingested_total`, `_lost_total`, `_retries_total`, `_duplicates_total` | counter | the NATS bridge, when it runs |
//! | `workbus_nats_buffered` | gauge | local events waiting for NATS |
//! | `workbus_cluster_members` | gauge | live nodes of the fleet, in this node's view (in a fleet) |
//! | `workbus_cluster_pools_held` | gauge | pools this node holds (owns) now |
//! | `workbus_cluster_takeovers_total`, `_handovers_total` | counter | pools this node took over, handed over |
//! | `workbus_cluster_fenced_writes_total` | counter | writes refused because another node owns the pool now |
//! | `workbus_cluster_calls_forwarded_total` | counter | calls sent to the owner of their pool and answered |
//! | `workbus_cluster_leases_lapsed_total` | counter | times this node found its lease lapsed and let its pools go |
//! | `workbus_automations_firings_total` | counter | automations that fired |
//! | `workbus_automations_actions_executed_total`, `_actions_failed_total` | counter | actions that succeeded, that failed for good |
//! | `workbus_automations_action_retries_total` | counter | actions tried again after a refusal that passes |
//! | `workbus_automations_firings_dropped_total`, `_buckets_refused_total` | counter | firings dropped (too many waiting), events not counted (too many buckets) |

use std::fmt;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::{AppState, ChannelStats, StreamStats};

/// The server's own metrics: a prometheus-client registry holding one
/// collector that reads the server's counters (websocket streams, the event
/// history, HTTP client faults, the NATS bridge) at each render. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct ServerMetrics {
    registry: Arc<Registry>,
}

impl ServerMetrics {
    /// The server's families, read from `streams`, `channels` and, when the
    /// bridge runs, from `nats` (a `workbus_nats_*` family is there only when
    /// it runs), and in a fleet from `cluster` (likewise `workbus_cluster_*`).
    pub fn new(
        streams: Arc<StreamStats>,
        channels: Arc<ChannelStats>,
        nats: Option<workbus_nats::BridgeStats>,
        cluster: Option<Arc<workbus_cluster::ClusterStats>>,
        automations: crate::lead::AutomationsSlot,
    ) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ServerCollector {
            streams,
            channels,
            nats,
            cluster,
            automations,
        }));
        ServerMetrics {
            registry: Arc::new(registry),
        }
    }

    /// The registry, to render it with other registries or encoders.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Reads the server's counters into metric families at each scrape.
struct ServerCollector {
    streams: Arc<StreamStats>,
    channels: Arc<ChannelStats>,
    nats: Option<workbus_nats::BridgeStats>,
    cluster: Option<Arc<workbus_cluster::ClusterStats>>,
    /// The automations this node evaluates (their counters start over when a
    /// fleet's leadership comes to it).
    automations: crate::lead::AutomationsSlot,
}

impl fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCollector")
            .field("nats", &self.nats.is_some())
            .finish_non_exhaustive()
    }
}

/// One family without labels. `name` is the family's name: a counter's
/// sample gets `_total` from the encoder.
fn encode_one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Value,
) -> Result<(), fmt::Error> {
    match value {
        Value::Counter(n) => ConstCounter::new(n).encode(encoder.encode_descriptor(
            name,
            help,
            None,
            MetricType::Counter,
        )?),
        Value::Gauge(n) => ConstGauge::new(n).encode(encoder.encode_descriptor(
            name,
            help,
            None,
            MetricType::Gauge,
        )?),
    }
}

/// A family's one sample.
#[derive(Clone, Copy, Debug)]
enum Value {
    Counter(u64),
    Gauge(usize),
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = &self.streams;
        let families = [
            (
                "workbus_websocket_connections",
                "Websocket connections open, both event routes.",
                Value::Gauge(s.connections()),
            ),
            (
                "workbus_websocket_clients",
                "Websocket clients streaming events.",
                Value::Gauge(s.clients()),
            ),
            (
                "workbus_websocket_cut_off",
                "Websocket clients closed for reading too slowly.",
                Value::Counter(s.cut_off()),
            ),
            (
                "workbus_websocket_refused",
                "Websocket connections refused at the client limit.",
                Value::Counter(s.refused()),
            ),
            (
                "workbus_websocket_queued_bytes",
                "Bytes of live event frames waiting for websocket clients, all together.",
                Value::Gauge(s.queued_bytes()),
            ),
            (
                "workbus_websocket_handshakes",
                "Websocket connections still in their handshake.",
                Value::Gauge(s.handshakes()),
            ),
            (
                "workbus_websocket_handshakes_refused",
                "Websocket upgrades refused at the handshake limit.",
                Value::Counter(s.handshakes_refused()),
            ),
            (
                "workbus_event_history_events",
                "Events held in the history.",
                Value::Gauge(s.history_len()),
            ),
            (
                "workbus_event_history_bytes",
                "Bytes the history holds, as it estimates them.",
                Value::Gauge(s.history_bytes()),
            ),
            (
                "workbus_event_history_evicted",
                "Events dropped from the history at its count or byte bound.",
                Value::Counter(s.history_evicted()),
            ),
            (
                "workbus_http_client_faults",
                "Malformed requests and broken connections reported by the HTTP layer.",
                Value::Counter(crate::logging::client_faults()),
            ),
            (
                "workbus_worker_channel_workers",
                "Workers connected on the worker channel.",
                Value::Gauge(self.channels.open()),
            ),
            (
                "workbus_worker_channel_opened",
                "Worker channel handshakes that finished.",
                Value::Counter(self.channels.opened()),
            ),
            (
                "workbus_worker_channel_refused",
                "Worker channel handshakes refused.",
                Value::Counter(self.channels.refused()),
            ),
            (
                "workbus_worker_channel_closed",
                "Connected workers the server closed with one of Prefect's close reasons.",
                Value::Counter(self.channels.closed()),
            ),
            (
                "workbus_worker_channel_snapshots",
                "Pool snapshots pushed to connected workers after worker.ready.v1.",
                Value::Counter(self.channels.snapshots()),
            ),
            (
                "workbus_worker_heartbeats_channel",
                "Heartbeats received on the worker channel.",
                Value::Counter(self.channels.heartbeats()),
            ),
            (
                "workbus_worker_heartbeats_rest",
                "Heartbeats received at POST /api/work_pools/{name}/workers/heartbeat.",
                Value::Counter(self.channels.rest_heartbeats()),
            ),
        ];
        for (name, help, value) in families {
            encode_one(&mut encoder, name, help, value)?;
        }
        if let Some(n) = &self.nats {
            let (p, src) = (&n.publisher, &n.source);
            let families = [
                (
                    "workbus_nats_published",
                    "Local events JetStream acknowledged.",
                    Value::Counter(p.published()),
                ),
                (
                    "workbus_nats_lost",
                    "Local events that will never reach the stream (overflow, refused, shutdown).",
                    Value::Counter(p.lost()),
                ),
                (
                    "workbus_nats_retries",
                    "Publish retries.",
                    Value::Counter(p.retries()),
                ),
                (
                    "workbus_nats_ingested",
                    "Other nodes' events fed into this bus.",
                    Value::Counter(src.ingested()),
                ),
                (
                    "workbus_nats_duplicates",
                    "Other nodes' events received again and skipped.",
                    Value::Counter(src.duplicates()),
                ),
                (
                    "workbus_nats_buffered",
                    "Local events waiting for NATS.",
                    Value::Gauge(p.buffered()),
                ),
            ];
            for (name, help, value) in families {
                encode_one(&mut encoder, name, help, value)?;
            }
        }
        if let Some(c) = &self.cluster {
            let families = [
                (
                    "workbus_cluster_members",
                    "Live nodes of the fleet, in this node's view.",
                    Value::Gauge(c.members()),
                ),
                (
                    "workbus_cluster_pools_held",
                    "Pools this node holds (owns) now.",
                    Value::Gauge(c.held()),
                ),
                (
                    "workbus_cluster_takeovers",
                    "Pools this node took over from the fleet's store.",
                    Value::Counter(c.taken_over()),
                ),
                (
                    "workbus_cluster_handovers",
                    "Pools this node handed over to their new owner.",
                    Value::Counter(c.handed_over()),
                ),
                (
                    "workbus_cluster_fenced_writes",
                    "Writes refused because another node owns the pool now.",
                    Value::Counter(c.fenced()),
                ),
                (
                    "workbus_cluster_calls_forwarded",
                    "Calls sent to the owner of their pool and answered.",
                    Value::Counter(c.forwarded()),
                ),
                (
                    "workbus_cluster_leases_lapsed",
                    "Times this node found its lease lapsed and let its pools go.",
                    Value::Counter(c.lapsed()),
                ),
            ];
            for (name, help, value) in families {
                encode_one(&mut encoder, name, help, value)?;
            }
        }
        if let Some(a) = self.automations.get().map(|a| a.stats().clone()) {
            let families = [
                (
                    "workbus_automations_firings",
                    "Automations that fired.",
                    a.firings(),
                ),
                (
                    "workbus_automations_actions_executed",
                    "Automation actions that succeeded.",
                    a.actions_executed(),
                ),
                (
                    "workbus_automations_actions_failed",
                    "Automation actions that failed for good.",
                    a.actions_failed(),
                ),
                (
                    "workbus_automations_action_retries",
                    "Automation actions tried again after a refusal that passes.",
                    a.action_retries(),
                ),
                (
                    "workbus_automations_firings_dropped",
                    "Firings dropped because their automation had too many waiting.",
                    a.firings_dropped(),
                ),
                (
                    "workbus_automations_buckets_refused",
                    "Events not counted because their trigger had as many buckets as allowed.",
                    a.buckets_refused(),
                ),
            ];
            for (name, help, value) in families {
                encode_one(&mut encoder, name, help, Value::Counter(value))?;
            }
        }
        Ok(())
    }
}

/// Every metric as Prometheus text 0.0.4: the subscribers' families (when
/// they are installed), then the server's.
pub fn render(st: &AppState) -> String {
    let server = st.server_metrics.registry();
    match &st.metrics {
        Some(m) => m.render_with(&[server]),
        None => workbus_subscribers::metrics::encode_prometheus(&[server]),
    }
}

/// Every metric in the OpenMetrics text format: the same families and
/// samples as [`render`], ending with one `# EOF`.
pub fn render_openmetrics(st: &AppState) -> String {
    let server = st.server_metrics.registry();
    match &st.metrics {
        Some(m) => m.render_openmetrics_with(&[server]),
        None => workbus_subscribers::metrics::encode_openmetrics(&[server]),
    }
}

/// `GET /metrics`.
pub(crate) async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(workbus_subscribers::metrics::CONTENT_TYPE)
        .body(render(&st))
}

#[cfg(test)]
mod tests {
    use super::*;
    use workbus_subscribers::metrics::{encode_openmetrics, encode_prometheus};

    #[test]
    fn server_families_keep_their_names_and_text_in_both_formats() {
        let streams = Arc::new(StreamStats::default());
        let m = ServerMetrics::new(streams, Arc::default(), None, None, Default::default());

        // Prometheus text: what the hand-formatted families were, byte for byte.
        let text = encode_prometheus(&[m.registry()]);
        for family in [
            "# HELP workbus_websocket_connections Websocket connections open, both event routes.\n\
             # TYPE workbus_websocket_connections gauge\n\
             workbus_websocket_connections 0\n",
            "# HELP workbus_websocket_cut_off_total Websocket clients closed for reading too slowly.\n\
             # TYPE workbus_websocket_cut_off_total counter\n\
             workbus_websocket_cut_off_total 0\n",
            "# HELP workbus_event_history_evicted_total Events dropped from the history at its count or byte bound.\n\
             # TYPE workbus_event_history_evicted_total counter\n\
             workbus_event_history_evicted_total 0\n",
        ] {
            assert!(text.contains(family), "{family} not in:\n{text}");
        }
        assert!(
            !text.contains("workbus_nats"),
            "no bridge, no NATS families"
        );
        assert!(!text.contains("# EOF"));

        // OpenMetrics: a counter's family has no suffix, its sample has; one EOF.
        let open = encode_openmetrics(&[m.registry()]);
        assert!(
            open.contains(
                "# TYPE workbus_websocket_cut_off counter\nworkbus_websocket_cut_off_total 0\n"
            ),
            "{open}"
        );
        assert!(open.contains("# TYPE workbus_event_history_events gauge\n"));
        assert!(open.ends_with("# EOF\n"));
        assert_eq!(open.matches("# EOF").count(), 1);
    }
}
