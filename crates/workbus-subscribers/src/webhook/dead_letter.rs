//! Dead letters: where events go after their retry budget ([`DeadLetterSink`]).
//!
//! A file sink is written by a [`LineWriter`] thread, never in the actor's
//! handler, and is capped ([`WebhookConfig::dead_letter_max_bytes`](super::WebhookConfig::dead_letter_max_bytes)).

use std::fmt;
use std::fs::OpenOptions;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use workbus_core::{Clock, SharedEvent};

use super::transport::Failure;
use crate::telemetry::{DropReason, Telemetry};
use crate::toolkit::{LineError, LineWriter};
use crate::Error;

/// A message to the dead-letter actor: one event a webhook gave up on.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct DeadLetter {
    /// The webhook's name.
    pub webhook: Arc<str>,
    /// The event.
    pub event: SharedEvent,
    /// Why it was given up, such as `server_error: 503 Service Unavailable`.
    pub reason: Arc<str>,
    /// How many attempts were made.
    pub attempts: u32,
}

/// Where events go after their retry budget.
#[derive(Clone, Default)]
pub enum DeadLetterSink {
    /// An `ERROR` log line with the event's JSON (the default).
    #[default]
    Log,
    /// A JSON-lines file, appended to: one
    /// `{"webhook":…,"reason":…,"attempts":…,"dead_at":…,"event":{…}}` per event.
    File(PathBuf),
    /// A [`DeadLetter`] message per event to an actor of yours.
    Recipient(Recipient<DeadLetter>),
}

impl fmt::Debug for DeadLetterSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadLetterSink::Log => f.write_str("Log"),
            DeadLetterSink::File(p) => f.debug_tuple("File").field(p).finish(),
            DeadLetterSink::Recipient(_) => f.write_str("Recipient(..)"),
        }
    }
}

/// One line of a dead-letter file, with what its report needs.
struct DeadLine {
    line: Vec<u8>,
    event: SharedEvent,
    reason: Arc<str>,
}

impl AsRef<[u8]> for DeadLine {
    fn as_ref(&self) -> &[u8] {
        &self.line
    }
}

/// A dead-letter file and how much room is left in it.
pub(super) struct DeadFile {
    writer: LineWriter<DeadLine>,
    path: PathBuf,
    /// Bytes in the file (what it had when opened, plus what was queued since).
    len: u64,
    max: u64,
    /// Dead letters refused because the file is full.
    refused: u64,
}

/// A webhook's open dead-letter sink.
pub(super) enum DeadLetters {
    Log,
    File(DeadFile),
    Recipient(Recipient<DeadLetter>),
}

impl DeadLetters {
    pub(super) fn open(
        webhook: &Arc<str>,
        sink: &DeadLetterSink,
        max: u64,
        telemetry: &Telemetry,
    ) -> Result<DeadLetters, Error> {
        Ok(match sink {
            DeadLetterSink::Log => DeadLetters::Log,
            DeadLetterSink::File(path) => {
                let open_error = |source| Error::Open {
                    path: path.clone(),
                    source,
                };
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(open_error)?;
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                let report = {
                    let (webhook, telemetry, path) =
                        (webhook.clone(), telemetry.clone(), path.clone());
                    move |dead: &DeadLine, written: Result<(), LineError>| match written {
                        Ok(()) => telemetry.dead_lettered(&webhook, 1),
                        Err(error) => {
                            telemetry.dropped(&webhook, DropReason::DeadLetterFailed);
                            tracing::error!(webhook = %webhook, event_id = %dead.event.id, reason = %dead.reason,
                                %error, path = %path.display(), body = %String::from_utf8_lossy(dead.event.json()),
                                "webhook gave up on an event and could not store it as a dead letter: it is lost");
                        }
                    }
                };
                let writer = LineWriter::spawn(
                    &format!("dead-letters-{webhook}"),
                    BufWriter::new(file),
                    report,
                )
                .map_err(open_error)?;
                DeadLetters::File(DeadFile {
                    writer,
                    path: path.clone(),
                    len,
                    max,
                    refused: 0,
                })
            }
            DeadLetterSink::Recipient(r) => DeadLetters::Recipient(r.clone()),
        })
    }

    /// Resolves once every dead letter given so far is in the file (at once
    /// for the other sinks).
    pub(super) fn flushed(&self) -> impl std::future::Future<Output = ()> + 'static {
        let writer = match self {
            DeadLetters::File(f) => Some(f.writer.clone()),
            _ => None,
        };
        async move {
            if let Some(w) = writer {
                if let Err(error) = w.flush().await {
                    tracing::error!(%error, "could not flush a dead-letter file");
                }
            }
        }
    }

    pub(super) fn put<A>(
        &mut self,
        webhook: &Arc<str>,
        unit: &[SharedEvent],
        failure: &Failure,
        clock: &dyn Clock,
        telemetry: &Telemetry,
        ctx: &mut Context<A>,
    ) where
        A: Actor<Context = Context<A>>,
    {
        for event in unit {
            if !matches!(self, DeadLetters::Log) {
                tracing::warn!(webhook = %webhook, event_id = %event.id, event = %event.event,
                    reason = %failure.reason, attempts = failure.attempts, "webhook gave up on an event (dead letter)");
            }
            match self {
                DeadLetters::Log => {
                    tracing::error!(webhook = %webhook, event_id = %event.id, event = %event.event,
                        reason = %failure.reason, attempts = failure.attempts,
                        body = %String::from_utf8_lossy(event.json()), "webhook gave up on an event (dead letter)");
                    telemetry.dead_lettered(webhook, 1);
                }
                DeadLetters::File(f) => {
                    let line = dead_letter_line(webhook, event, failure, clock);
                    // The writer adds the newline.
                    let len = line.len() as u64 + 1;
                    if f.len.saturating_add(len) > f.max {
                        f.refused += 1;
                        telemetry.dropped(webhook, DropReason::DeadLetterFull);
                        // The first refusal, then every 1,000th: the log must not grow
                        // in the file's place.
                        if f.refused % 1000 == 1 {
                            tracing::error!(webhook = %webhook, event_id = %event.id, reason = %failure.reason,
                                path = %f.path.display(), max_bytes = f.max, refused = f.refused,
                                "webhook gave up on an event and its dead-letter file is full: it is lost (counted as dead_letter_full)");
                        }
                        continue;
                    }
                    f.len += len;
                    let dead = DeadLine {
                        line,
                        event: event.clone(),
                        reason: failure.reason.clone(),
                    };
                    // Counted by the writer thread once written (or failed).
                    if let Err(gone) = f.writer.write(dead, ctx) {
                        telemetry.dropped(webhook, DropReason::DeadLetterFailed);
                        tracing::error!(webhook = %webhook, event_id = %gone.0.event.id, reason = %failure.reason,
                            error = %gone, path = %f.path.display(), body = %String::from_utf8_lossy(event.json()),
                            "webhook gave up on an event and could not store it as a dead letter: it is lost");
                    }
                }
                // `try_send`, not `do_send`: a dead-letter actor that falls behind
                // fills its bounded mailbox, and then a dead letter fails (counted)
                // instead of queueing without limit.
                DeadLetters::Recipient(r) => {
                    let sent = r.try_send(DeadLetter {
                        webhook: webhook.clone(),
                        event: event.clone(),
                        reason: failure.reason.clone(),
                        attempts: failure.attempts,
                    });
                    match sent {
                        Ok(()) => telemetry.dead_lettered(webhook, 1),
                        Err(e) => {
                            let error = match e {
                                SendError::Full(_) => "the dead-letter actor's mailbox is full",
                                SendError::Closed(_) => "the dead-letter actor has stopped",
                            };
                            telemetry.dropped(webhook, DropReason::DeadLetterFailed);
                            tracing::error!(webhook = %webhook, event_id = %event.id, reason = %failure.reason,
                                error, body = %String::from_utf8_lossy(event.json()),
                                "webhook gave up on an event and could not store it as a dead letter: it is lost");
                        }
                    }
                }
            }
        }
    }
}

/// One dead-letter line, without its newline.
fn dead_letter_line(
    webhook: &str,
    event: &SharedEvent,
    failure: &Failure,
    clock: &dyn Clock,
) -> Vec<u8> {
    let json = event.json();
    let mut line = Vec::with_capacity(json.len() + 160);
    line.extend_from_slice(b"{\"webhook\":");
    line.extend_from_slice(serde_json::Value::from(webhook).to_string().as_bytes());
    line.extend_from_slice(b",\"reason\":");
    line.extend_from_slice(
        serde_json::Value::from(&*failure.reason)
            .to_string()
            .as_bytes(),
    );
    line.extend_from_slice(
        format!(
            ",\"attempts\":{},\"dead_at\":\"{}\",\"event\":",
            failure.attempts,
            clock.now()
        )
        .as_bytes(),
    );
    line.extend_from_slice(json);
    line.push(b'}');
    line
}
