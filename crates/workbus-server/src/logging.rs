//! The server's logs: `RUST_LOG` or `info`, and client faults kept out of ERROR.
//!
//! actix-http logs a malformed request, a connection that breaks the
//! protocol, or a head larger than its buffer at ERROR (`stream error: …`,
//! `MAX_BUFFER_SIZE unprocessed data reached`). Those are a client's doing,
//! so any client could write ERROR lines at will; ERROR is kept for faults
//! of the server. [`init`] drops the WARN and ERROR lines of actix-http's
//! HTTP/1 connection handling from the log and counts them instead
//! ([`client_faults`], `workbus_http_client_faults_total` at `/metrics`).
//! `RUST_LOG=actix_http=debug` brings them back, at their own level.

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::LogFormat;

static CLIENT_FAULTS: AtomicU64 = AtomicU64::new(0);

/// Connection-level faults of clients (malformed requests, oversized heads,
/// protocol errors) that actix-http reported, since the process started.
pub fn client_faults() -> u64 {
    CLIENT_FAULTS.load(Ordering::Relaxed)
}

/// Whether an event is actix-http's report of a client's fault.
fn is_client_fault(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::WARN
        && (meta.target().starts_with("actix_http::h1")
            || meta.target().starts_with("actix_http::ws"))
}

/// Counts client faults, whatever the log shows.
struct CountClientFaults;

impl<S: tracing::Subscriber> Layer<S> for CountClientFaults {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        CLIENT_FAULTS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Installs the process's logger: `RUST_LOG` if set (then nothing is hidden), else
/// `info` without actix-http's reports of client faults. Does nothing if a logger
/// is already installed.
pub fn init(format: LogFormat) {
    let (filter, hide_client_faults) = match EnvFilter::try_from_default_env() {
        Ok(f) => (f, false),
        Err(_) => (EnvFilter::new("info"), true),
    };
    let shown = filter_fn(move |meta| !(hide_client_faults && is_client_fault(meta)));
    let counter = CountClientFaults.with_filter(filter_fn(is_client_fault));
    let fmt = tracing_subscriber::fmt::layer();
    let registry = tracing_subscriber::registry().with(counter);
    let _ = match format {
        LogFormat::Pretty => registry
            .with(fmt.with_filter(filter).with_filter(shown))
            .try_init(),
        LogFormat::Json => registry
            .with(fmt.json().with_filter(filter).with_filter(shown))
            .try_init(),
    };
}
