//! `GET /metrics`: the subscribers' Prometheus metrics, then the server's own.
//!
//! The text is Prometheus's exposition format 0.0.4
//! ([`CONTENT_TYPE`](workbus_subscribers::metrics::CONTENT_TYPE)). It sits
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
//! | `workbus_nats_published_total`, `_ingested_total`, `_lost_total`, `_retries_total`, `_duplicates_total` | counter | the NATS bridge, when it runs |
//! | `workbus_nats_buffered` | gauge | local events waiting for NATS |

use std::fmt::Write as _;

use actix_web::{web, HttpResponse};

use crate::AppState;

fn family(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

/// Renders every metric as Prometheus text.
pub fn render(st: &AppState) -> String {
    let mut out = st
        .metrics
        .as_ref()
        .map(workbus_subscribers::metrics::Metrics::render)
        .unwrap_or_default();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let s = &st.stream_stats;
    family(
        &mut out,
        "workbus_websocket_connections",
        "gauge",
        "Websocket connections open, both event routes.",
        s.connections(),
    );
    family(
        &mut out,
        "workbus_websocket_clients",
        "gauge",
        "Websocket clients streaming events.",
        s.clients(),
    );
    family(
        &mut out,
        "workbus_websocket_cut_off_total",
        "counter",
        "Websocket clients closed for reading too slowly.",
        s.cut_off(),
    );
    family(
        &mut out,
        "workbus_websocket_refused_total",
        "counter",
        "Websocket connections refused at the client limit.",
        s.refused(),
    );
    family(
        &mut out,
        "workbus_websocket_queued_bytes",
        "gauge",
        "Bytes of live event frames waiting for websocket clients, all together.",
        s.queued_bytes(),
    );
    family(
        &mut out,
        "workbus_websocket_handshakes",
        "gauge",
        "Websocket connections still in their handshake.",
        s.handshakes(),
    );
    family(
        &mut out,
        "workbus_websocket_handshakes_refused_total",
        "counter",
        "Websocket upgrades refused at the handshake limit.",
        s.handshakes_refused(),
    );
    family(
        &mut out,
        "workbus_event_history_events",
        "gauge",
        "Events held in the history.",
        s.history_len(),
    );
    family(
        &mut out,
        "workbus_event_history_bytes",
        "gauge",
        "Bytes the history holds, as it estimates them.",
        s.history_bytes(),
    );
    family(
        &mut out,
        "workbus_event_history_evicted_total",
        "counter",
        "Events dropped from the history at its count or byte bound.",
        s.history_evicted(),
    );
    family(
        &mut out,
        "workbus_http_client_faults_total",
        "counter",
        "Malformed requests and broken connections reported by the HTTP layer.",
        crate::logging::client_faults(),
    );
    if let Some(n) = &st.nats {
        let (p, src) = (&n.publisher, &n.source);
        for (name, help, value) in [
            (
                "workbus_nats_published_total",
                "Local events JetStream acknowledged.",
                p.published(),
            ),
            (
                "workbus_nats_lost_total",
                "Local events that will never reach the stream (overflow, refused, shutdown).",
                p.lost(),
            ),
            (
                "workbus_nats_retries_total",
                "Publish retries.",
                p.retries(),
            ),
            (
                "workbus_nats_ingested_total",
                "Other nodes' events fed into this bus.",
                src.ingested(),
            ),
            (
                "workbus_nats_duplicates_total",
                "Other nodes' events received again and skipped.",
                src.duplicates(),
            ),
        ] {
            family(&mut out, name, "counter", help, value);
        }
        family(
            &mut out,
            "workbus_nats_buffered",
            "gauge",
            "Local events waiting for NATS.",
            p.buffered(),
        );
    }
    out
}

/// `GET /metrics`.
pub(crate) async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(workbus_subscribers::metrics::CONTENT_TYPE)
        .body(render(&st))
}
