//! The logger: every event as a `tracing` event with structured fields, or as
//! Prefect's JSON, one event per line.
//!
//! ## Tracing output ([`LogOutput::Tracing`])
//!
//! Each event becomes one `tracing` event with target `workbus::events` and
//! the message `workbus event`, carrying these fields (absent ones are left
//! out):
//!
//! | field | value |
//! |---|---|
//! | `event` | the event name, `prefect.work-pool.ready` |
//! | `event_id`, `follows` | the event's id and the id it follows |
//! | `occurred` | Prefect's timestamp, `2026-12-01T06:27:27.028685Z` |
//! | `resource_id`, `resource_name` | the primary resource |
//! | `pool_id`, `pool_name` | the related work pool (queue events) |
//! | `updated_fields` | for `*.updated`: the changed fields, comma-separated |
//! | `updates` | for `*.updated`: the `{field: {from, to}}` object as JSON |
//!
//! The level says how much it matters: a pool or queue going `not-ready` is
//! `WARN`, everything else `INFO`. Any `tracing-subscriber` layer formats
//! them: `fmt()` for people, `fmt().json()` for machines.
//!
//! ## JSON lines ([`LogOutput::JsonLines`])
//!
//! The event's Prefect JSON exactly as a webhook or websocket would send it
//! (the bytes the bus encoded once and shares, never re-encoded), followed by
//! a newline, to stdout, to a file opened for appending, or to any
//! [`Write`]. The lines are written by a thread of the logger's own (a
//! [`LineWriter`]), never on the arbiter, in the order of the events, and
//! flushed as soon as no line waits. A line that cannot be written is counted in
//! `workbus_events_dropped_total{reason="write_failed"}` and logged.
//!
//! ## Guarantees
//!
//! Supervised (a panic restarts it, the next events still arrive); fed with
//! [`Overflow::Block`](workbus_core::Overflow::Block) by default, so it loses
//! nothing; [`Handle::shutdown`] returns after every earlier event is written
//! and flushed.
//!
//! # Examples
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use workbus_core::{Bus, CreatePool};
//! use workbus_subscribers::logger::{JsonTarget, LogOutput, Logger, LoggerConfig};
//!
//! #[derive(Clone, Default)]
//! struct Lines(Arc<Mutex<Vec<u8>>>);
//! impl std::io::Write for Lines {
//!     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(b); Ok(b.len()) }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//!
//! actix::System::new().block_on(async {
//!     let bus = Bus::start();
//!     let out = Lines::default();
//!     let config = LoggerConfig::json_lines(JsonTarget::writer(out.clone()));
//!     let logger = Logger::subscribe(&bus, config).await.unwrap();
//!     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
//!     logger.shutdown().await;
//!     let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
//!     assert_eq!(text.lines().count(), 3);
//!     assert!(text.lines().all(|l| l.starts_with("{\"occurred\":")));
//! });
//! ```

use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use serde_json::Value;
use workbus_core::{Bus, Deliver, SharedEvent};
use workbus_events::prefect;

use crate::telemetry::{DropReason, Telemetry};
use crate::toolkit::{guard, Drain, Feed, Handle, LineError, LineWriter, MAILBOX};
use crate::Error;

/// Where JSON lines go.
#[derive(Clone)]
pub enum JsonTarget {
    /// The process's standard output.
    Stdout,
    /// A file, created if missing and appended to.
    File(PathBuf),
    /// Any writer (shared, so the configuration stays cloneable).
    Writer(Arc<Mutex<dyn Write + Send>>),
}

impl JsonTarget {
    /// A target that writes to `w`.
    pub fn writer(w: impl Write + Send + 'static) -> Self {
        JsonTarget::Writer(Arc::new(Mutex::new(w)))
    }
}

impl fmt::Debug for JsonTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonTarget::Stdout => f.write_str("Stdout"),
            JsonTarget::File(p) => f.debug_tuple("File").field(p).finish(),
            JsonTarget::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// What the logger writes.
#[derive(Clone, Debug)]
pub enum LogOutput {
    /// One `tracing` event per event, with structured fields.
    Tracing,
    /// The Prefect JSON of each event, one per line.
    JsonLines(JsonTarget),
}

/// The logger's configuration.
#[derive(Clone, Debug)]
pub struct LoggerConfig {
    /// Its name in logs and metrics (default `logger`).
    pub name: String,
    /// What it writes (default [`LogOutput::Tracing`]).
    pub output: LogOutput,
    /// Which events, and what happens when it falls behind.
    pub feed: Feed,
}

impl Default for LoggerConfig {
    fn default() -> Self {
        LoggerConfig {
            name: "logger".into(),
            output: LogOutput::Tracing,
            feed: Feed::default(),
        }
    }
}

impl LoggerConfig {
    /// Tracing events for every event.
    pub fn tracing() -> Self {
        Self::default()
    }

    /// Prefect JSON lines for every event, to `target`.
    pub fn json_lines(target: JsonTarget) -> Self {
        LoggerConfig {
            output: LogOutput::JsonLines(target),
            ..Self::default()
        }
    }
}

/// One JSON line: the event's shared bytes, never re-encoded.
struct Line(SharedEvent);

impl AsRef<[u8]> for Line {
    fn as_ref(&self) -> &[u8] {
        self.0.json()
    }
}

/// A [`JsonTarget::Writer`] as the writer thread uses it.
struct SharedWriter(Arc<Mutex<dyn Write + Send>>);

impl Write for SharedWriter {
    // A writer that panicked mid-line poisons the lock; the line it was
    // writing is lost (and counted), the next ones are not.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

enum Output {
    Tracing,
    Lines(LineWriter<Line>),
}

impl Output {
    fn open(name: &Arc<str>, output: &LogOutput, telemetry: &Telemetry) -> Result<Output, Error> {
        let target = match output {
            LogOutput::Tracing => return Ok(Output::Tracing),
            LogOutput::JsonLines(target) => target,
        };
        let path = match target {
            JsonTarget::File(path) => Some(path.clone()),
            _ => None,
        };
        let report = {
            let (name, telemetry, path) = (name.clone(), telemetry.clone(), path.clone());
            let mut failures = 0u64;
            move |line: &Line, written: Result<(), LineError>| {
                let Err(error) = written else { return };
                if let LineError::Panicked(panic) = &error {
                    // The writer thread goes on with the next line: the restart of a writer.
                    tracing::error!(subscriber = %name, %panic, event_id = %line.0.id,
                        "the log writer panicked: the line is lost");
                    telemetry.panicked(&name);
                    return;
                }
                failures += 1;
                telemetry.dropped(&name, DropReason::WriteFailed);
                // The first failure and then every 1,000th, so a full disk does not flood the log.
                if failures == 1 || failures.is_multiple_of(1000) {
                    let path = path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    tracing::error!(subscriber = %name, %error, path, event_id = %line.0.id,
                        failures, "could not write event: it is lost to this log");
                }
            }
        };
        let thread = format!("logger-{name}");
        let spawned = match target {
            JsonTarget::Stdout => LineWriter::spawn(&thread, std::io::stdout(), report),
            JsonTarget::File(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::Open {
                        path: path.clone(),
                        source,
                    })?;
                LineWriter::spawn(&thread, BufWriter::new(file), report)
            }
            JsonTarget::Writer(w) => LineWriter::spawn(&thread, SharedWriter(w.clone()), report),
        };
        spawned.map(Output::Lines).map_err(|source| Error::Open {
            path: path.unwrap_or_else(|| PathBuf::from("(writer thread)")),
            source,
        })
    }
}

/// The logger actor. Start it with [`Logger::subscribe`].
///
/// Tracing events are emitted in its handler; JSON lines are written by a
/// thread of its own ([`LineWriter`]), so a slow disk never blocks the arbiter.
pub struct Logger {
    name: Arc<str>,
    output: Output,
    telemetry: Telemetry,
}

impl Logger {
    /// Starts a supervised logger and subscribes it to `bus`.
    pub async fn subscribe(bus: &Bus, config: LoggerConfig) -> Result<Handle, Error> {
        Self::subscribe_with(bus, config, Telemetry::default()).await
    }

    pub(crate) async fn subscribe_with(
        bus: &Bus,
        config: LoggerConfig,
        telemetry: Telemetry,
    ) -> Result<Handle, Error> {
        let name: Arc<str> = config.name.as_str().into();
        let output = Output::open(&name, &config.output, &telemetry)?;
        let addr = {
            let name = name.clone();
            Supervisor::start(move |_| Logger {
                name,
                output,
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
}

/// Emits one `tracing` event for `event`, at the level its name deserves.
fn trace_event(event: &SharedEvent) {
    let name: &str = &event.event;
    let pool = event
        .related
        .iter()
        .find(|r| r.role() == Some("work-pool"))
        .or_else(|| {
            name.starts_with("prefect.work-pool.")
                .then_some(&event.resource)
        });
    let (pool_id, pool_name) = match pool {
        Some(p) => (Some(p.id()), p.get(workbus_events::RESOURCE_NAME)),
        None => (None, None),
    };
    let updated = name == prefect::POOL_UPDATED || name == prefect::QUEUE_UPDATED;
    let updated_fields = updated
        .then(|| match event.payload.get("updated_fields") {
            Some(Value::Array(fields)) => {
                let names: Vec<&str> = fields.iter().filter_map(Value::as_str).collect();
                Some(names.join(","))
            }
            _ => None,
        })
        .flatten();
    let updates = updated
        .then(|| event.payload.get("updates").map(Value::to_string))
        .flatten();
    let occurred = event.occurred.to_string();
    let follows = event.follows.map(|f| f.to_string());
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "workbus::events",
                $level,
                event = name,
                event_id = %event.id,
                follows = follows.as_deref(),
                occurred = occurred.as_str(),
                resource_id = event.resource.id(),
                resource_name = event.resource.get(workbus_events::RESOURCE_NAME),
                pool_id,
                pool_name,
                updated_fields = updated_fields.as_deref(),
                updates = updates.as_deref(),
                "workbus event"
            )
        };
    }
    if name == prefect::POOL_NOT_READY || name == prefect::QUEUE_NOT_READY {
        emit!(tracing::Level::WARN);
    } else {
        emit!(tracing::Level::INFO);
    }
}

impl Actor for Logger {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Supervised for Logger {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::info!(subscriber = %self.name, "logger restarted");
    }
}

impl Handler<Deliver> for Logger {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        let (name, telemetry) = (self.name.clone(), self.telemetry.clone());
        telemetry.latency(&name, event.emitted_at().elapsed());
        match &self.output {
            Output::Tracing => {
                guard(
                    ctx,
                    &name,
                    || telemetry.panicked(&name),
                    || trace_event(&event),
                );
            }
            Output::Lines(writer) => {
                if let Err(gone) = writer.write(Line(event), ctx) {
                    telemetry.dropped(&name, DropReason::WriteFailed);
                    tracing::error!(subscriber = %name, error = %gone, event_id = %gone.0 .0.id,
                        "could not write event: it is lost to this log");
                }
            }
        }
    }
}

impl Handler<Drain> for Logger {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        let Output::Lines(writer) = &self.output else {
            return Box::pin(async {});
        };
        let (flushed, name) = (writer.flush(), self.name.clone());
        Box::pin(async move {
            if let Err(error) = flushed.await {
                tracing::error!(subscriber = %name, %error, "could not flush the event log");
            }
        })
    }
}
