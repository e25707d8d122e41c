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
//! [`Write`]. A line that cannot be written is counted in
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

use crate::supervise::{guard, Drain, Feed, Handle, MAILBOX};
use crate::telemetry::Telemetry;
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

enum Sink {
    Tracing,
    Stdout(std::io::Stdout),
    File(BufWriter<std::fs::File>, PathBuf),
    Writer(Arc<Mutex<dyn Write + Send>>),
}

impl Sink {
    fn open(output: &LogOutput) -> Result<Sink, Error> {
        Ok(match output {
            LogOutput::Tracing => Sink::Tracing,
            LogOutput::JsonLines(JsonTarget::Stdout) => Sink::Stdout(std::io::stdout()),
            LogOutput::JsonLines(JsonTarget::File(path)) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::Open {
                        path: path.clone(),
                        source,
                    })?;
                Sink::File(BufWriter::new(file), path.clone())
            }
            LogOutput::JsonLines(JsonTarget::Writer(w)) => Sink::Writer(w.clone()),
        })
    }

    /// Writes one line and flushes it.
    fn write_line(&mut self, json: &[u8]) -> std::io::Result<()> {
        fn line(w: &mut dyn Write, json: &[u8]) -> std::io::Result<()> {
            w.write_all(json)?;
            w.write_all(b"\n")?;
            w.flush()
        }
        match self {
            Sink::Tracing => Ok(()),
            Sink::Stdout(out) => line(&mut out.lock(), json),
            Sink::File(w, _) => line(w, json),
            Sink::Writer(w) => {
                // A writer that panicked mid-line poisons the lock; the line it
                // was writing is lost (and counted), the next ones are not.
                let mut w = w.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                line(&mut *w, json)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Tracing => Ok(()),
            Sink::Stdout(out) => out.flush(),
            Sink::File(w, _) => w.flush(),
            Sink::Writer(w) => w.lock().unwrap_or_else(|p| p.into_inner()).flush(),
        }
    }
}

/// The logger actor. Start it with [`Logger::subscribe`].
pub struct Logger {
    name: Arc<str>,
    sink: Sink,
    telemetry: Telemetry,
    write_errors: u64,
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
        let sink = Sink::open(&config.output)?;
        let name: Arc<str> = config.name.as_str().into();
        let addr = {
            let name = name.clone();
            Supervisor::start(move |_| Logger {
                name,
                sink,
                telemetry,
                write_errors: 0,
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

    fn log(&mut self, event: &SharedEvent) {
        if let Sink::Tracing = self.sink {
            trace_event(event);
            return;
        }
        if let Err(error) = self.sink.write_line(event.json()) {
            self.write_errors += 1;
            self.telemetry.dropped(&self.name, "write_failed");
            // The first failure and then every 1,000th, so a full disk does not flood the log.
            if self.write_errors == 1 || self.write_errors % 1000 == 0 {
                let path = match &self.sink {
                    Sink::File(_, p) => p.display().to_string(),
                    _ => String::new(),
                };
                tracing::error!(subscriber = %self.name, %error, path, event_id = %event.id,
                    failures = self.write_errors, "could not write event: it is lost to this log");
            }
        }
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

    fn stopped(&mut self, _: &mut Context<Self>) {
        let _ = self.sink.flush();
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
        guard(ctx, &name, &telemetry, || self.log(&event));
    }
}

impl Handler<Drain> for Logger {
    type Result = ();

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) {
        if let Err(error) = self.sink.flush() {
            tracing::error!(subscriber = %self.name, %error, "could not flush the event log");
        }
    }
}
