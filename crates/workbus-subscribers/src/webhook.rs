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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use awc::error::SendRequestError;
use awc::http::header::{HeaderName, HeaderValue, HttpDate, CONTENT_TYPE, RETRY_AFTER};
use awc::http::{StatusCode, Uri};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::FutureExt as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::oneshot;
use tokio::time::Instant;
use workbus_core::{Bus, Clock, Deliver, EventFilter, Overflow, SharedEvent};

use crate::supervise::{guard, panic_message, Drain, Feed, Handle, MAILBOX};
use crate::telemetry::Telemetry;
use crate::Error;

/// How a webhook retries.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1; default 8).
    pub max_attempts: u32,
    /// The wait before the second attempt (default 500 ms).
    #[serde(
        deserialize_with = "millis::deserialize",
        rename = "initial_backoff_ms"
    )]
    pub initial_backoff: Duration,
    /// The longest wait between attempts (default 60 s).
    #[serde(deserialize_with = "millis::deserialize", rename = "max_backoff_ms")]
    pub max_backoff: Duration,
    /// How much each wait grows (default 2).
    pub multiplier: f64,
    /// The random part of each wait, from 0 to 1: a wait of `d` becomes one
    /// between `d × (1 − jitter)` and `d` (default 0.2).
    pub jitter: f64,
    /// The longest `Retry-After` honoured (default 300 s); a longer one waits this long.
    #[serde(
        deserialize_with = "millis::deserialize",
        rename = "max_retry_after_ms"
    )]
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), at least
    /// `retry_after` (capped at [`max_retry_after`](Self::max_retry_after)) when the server sent one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use workbus_subscribers::webhook::RetryPolicy;
    ///
    /// let p = RetryPolicy { jitter: 0.0, ..RetryPolicy::default() };
    /// assert_eq!(p.delay(1, None), Duration::from_millis(500));
    /// assert_eq!(p.delay(3, None), Duration::from_secs(2));
    /// assert_eq!(p.delay(30, None), Duration::from_secs(60));
    /// assert_eq!(p.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
    /// ```
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let base = self.initial_backoff.as_secs_f64() * self.multiplier.max(1.0).powi(exp);
        let base = base.min(self.max_backoff.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let waited = Duration::from_secs_f64((base * (1.0 - jitter * fastrand::f64())).max(0.0));
        match retry_after {
            Some(ra) => waited.max(ra.min(self.max_retry_after)),
            None => waited,
        }
    }
}

/// When a batch is sent.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Send once this many events wait (at least 1).
    pub max_events: usize,
    /// Send once the oldest waiting event has waited this long.
    #[serde(deserialize_with = "millis::deserialize", rename = "max_wait_ms")]
    pub max_wait: Duration,
}

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

/// One webhook: where, how it is signed, which events, and how it retries.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Its name in logs and metrics.
    pub name: String,
    /// An absolute `http://` URL.
    pub url: String,
    /// A Standard Webhooks secret, `whsec_` and base64; `None`: unsigned.
    pub secret: Option<String>,
    /// Extra headers on every request.
    pub headers: Vec<(String, String)>,
    /// Which events it sends, and what happens when it falls behind (default
    /// every event, losing none).
    pub feed: Feed,
    /// The timeout of one attempt, until the response's head (default 10 s).
    pub timeout: Duration,
    /// How it retries.
    pub retry: RetryPolicy,
    /// Requests in flight at once, over all resources (default 8).
    pub concurrency: usize,
    /// Batching; `None` (the default) sends one event per request.
    pub batch: Option<BatchConfig>,
    /// Where events go after the retry budget.
    pub dead_letter: DeadLetterSink,
    /// The largest a [`DeadLetterSink::File`] may grow, in bytes (default
    /// [`DEFAULT_DEAD_LETTER_MAX_BYTES`], 64 MiB). A dead letter that would
    /// take the file past it is not written: it is counted in
    /// `workbus_events_dropped_total{reason="dead_letter_full"}` and logged
    /// (without its body). Rotate or empty the file to make room.
    pub dead_letter_max_bytes: u64,
    /// The SSRF guard: refuse targets on loopback, private, link-local and
    /// unspecified addresses (see [`crate::ssrf`]). Off by default.
    pub refuse_private_addresses: bool,
}

/// The default cap of a dead-letter file: 64 MiB.
pub const DEFAULT_DEAD_LETTER_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "(set)"))
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("feed", &self.feed)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("concurrency", &self.concurrency)
            .field("batch", &self.batch)
            .field("dead_letter", &self.dead_letter)
            .field("dead_letter_max_bytes", &self.dead_letter_max_bytes)
            .field("refuse_private_addresses", &self.refuse_private_addresses)
            .finish()
    }
}

impl WebhookConfig {
    /// A webhook named `name` that POSTs every event to `url`, unsigned, with the defaults.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        WebhookConfig {
            name: name.into(),
            url: url.into(),
            secret: None,
            headers: Vec::new(),
            feed: Feed::default(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            concurrency: 8,
            batch: None,
            dead_letter: DeadLetterSink::Log,
            dead_letter_max_bytes: DEFAULT_DEAD_LETTER_MAX_BYTES,
            refuse_private_addresses: false,
        }
    }

    /// Turns the SSRF guard on or off (see [`crate::ssrf`]).
    pub fn refuse_private_addresses(mut self, on: bool) -> Self {
        self.refuse_private_addresses = on;
        self
    }

    /// Caps a dead-letter file at this many bytes.
    pub fn dead_letter_max_bytes(mut self, max: u64) -> Self {
        self.dead_letter_max_bytes = max;
        self
    }

    /// Signs requests with this secret (`whsec_` and base64).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Sends only the events this filter matches.
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.feed.filter = filter;
        self
    }

    /// The registry's buffer for it and what happens when it is full.
    pub fn buffer(mut self, buffer: usize, overflow: Overflow) -> Self {
        self.feed.buffer = buffer;
        self.feed.overflow = overflow;
        self
    }

    /// The timeout of one attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Requests in flight at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sends JSON arrays of up to `max_events`, or after `max_wait`.
    pub fn batch(mut self, max_events: usize, max_wait: Duration) -> Self {
        self.batch = Some(BatchConfig {
            max_events,
            max_wait,
        });
        self
    }

    /// Where events go after the retry budget.
    pub fn dead_letter(mut self, sink: DeadLetterSink) -> Self {
        self.dead_letter = sink;
        self
    }

    /// Adds a header to every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Checks the URL, the secret, the headers and the numbers.
    pub fn validate(&self) -> Result<(), Error> {
        self.checked().map(|_| ())
    }

    fn checked(&self) -> Result<(Option<Signer>, Headers), Error> {
        let bad_url = |reason: &str| Error::InvalidUrl {
            url: self.url.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e: awc::http::uri::InvalidUri| bad_url(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad_url(
                    "https is not supported by this build (awc without TLS): put a TLS-terminating proxy in front",
                ))
            }
            _ => return Err(bad_url("not an absolute http:// URL")),
        }
        let host = uri.host().unwrap_or_default();
        if host.is_empty() {
            return Err(bad_url("no host"));
        }
        if self.refuse_private_addresses {
            crate::ssrf::check_literal(host).map_err(|reason| bad_url(&reason))?;
        }
        let signer = match &self.secret {
            Some(s) => Some(Signer::new(s).map_err(|reason| Error::InvalidSecret {
                webhook: self.name.clone(),
                reason,
            })?),
            None => None,
        };
        let bad = |name: &str, value: &str, reason: String| Error::InvalidSetting {
            name: format!("webhook {:?} {name}", self.name),
            value: value.to_owned(),
            reason,
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (k, v) in &self.headers {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|e| bad("header name", k, e.to_string()))?;
            let value = HeaderValue::try_from(v.as_str())
                .map_err(|e| bad("header value", v, e.to_string()))?;
            headers.push((name, value));
        }
        if self.concurrency == 0 {
            return Err(bad("concurrency", "0", "at least 1".into()));
        }
        if self.retry.max_attempts == 0 {
            return Err(bad("max_attempts", "0", "at least 1".into()));
        }
        if self.timeout.is_zero() {
            return Err(bad("timeout", "0", "must be positive".into()));
        }
        if self.dead_letter_max_bytes == 0 {
            return Err(bad("dead_letter_max_bytes", "0", "at least 1".into()));
        }
        if let Some(b) = &self.batch {
            if b.max_events == 0 {
                return Err(bad("batch.max_events", "0", "at least 1".into()));
            }
        }
        Ok((signer, headers))
    }
}

/// Extra headers, checked.
type Headers = Vec<(HeaderName, HeaderValue)>;

/// Signs webhook requests after the Standard Webhooks scheme.
///
/// # Examples
///
/// ```
/// use workbus_subscribers::webhook::Signer;
///
/// // The test vector of the Standard Webhooks specification.
/// let signer = Signer::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let body = br#"{"test": 2432232314}"#;
/// assert_eq!(
///     signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body),
///     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/// );
/// ```
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer for `secret`: `whsec_` followed by the base64 of the key (the
    /// prefix may be left out). Refuses text that is not base64, or an empty key.
    pub fn new(secret: &str) -> Result<Signer, String> {
        let text = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD
            .decode(text.trim())
            .map_err(|e| format!("the text after whsec_ is not base64: {e}"))?;
        if key.is_empty() {
            return Err("the key is empty".into());
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|e| e.to_string())?;
        Ok(Signer { mac })
    }

    /// The `webhook-signature` header value: `v1,` and the base64 of
    /// HMAC-SHA256 over `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Everything one attempt needs, shared by the lanes' futures.
struct Target {
    name: Arc<str>,
    url: String,
    signer: Option<Signer>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    retry: RetryPolicy,
    client: awc::Client,
    clock: Arc<dyn Clock>,
    telemetry: Telemetry,
}

/// How one attempt ended.
enum Attempt {
    Delivered,
    Retry {
        outcome: &'static str,
        reason: String,
        retry_after: Option<Duration>,
    },
    GiveUp {
        outcome: &'static str,
        reason: String,
    },
}

/// Why a unit was given up.
#[derive(Debug)]
struct Failure {
    reason: Arc<str>,
    attempts: u32,
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date: HttpDate = value.parse().ok()?;
    let at: SystemTime = date.into();
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn classify(status: StatusCode, retry_after: Option<Duration>) -> Attempt {
    let reason = status.to_string();
    if status.is_success() {
        Attempt::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        Attempt::Retry {
            outcome: "rate_limited",
            reason,
            retry_after,
        }
    } else if status == StatusCode::REQUEST_TIMEOUT {
        Attempt::Retry {
            outcome: "request_timeout",
            reason,
            retry_after,
        }
    } else if status.is_server_error() {
        Attempt::Retry {
            outcome: "server_error",
            reason,
            retry_after,
        }
    } else if status.is_redirection() {
        Attempt::GiveUp {
            outcome: "redirect",
            reason,
        }
    } else {
        Attempt::GiveUp {
            outcome: "client_error",
            reason,
        }
    }
}

impl Target {
    async fn attempt(&self, body: &Bytes, msg_id: &str) -> Attempt {
        let ts = (self.clock.now().as_micros().div_euclid(1_000_000)).to_string();
        let mut req = self
            .client
            .post(self.url.as_str())
            .timeout(self.timeout)
            .insert_header((CONTENT_TYPE, "application/json"))
            .insert_header(("webhook-id", msg_id))
            .insert_header(("webhook-timestamp", ts.as_str()));
        if let Some(signer) = &self.signer {
            req = req.insert_header(("webhook-signature", signer.sign(msg_id, &ts, body)));
        }
        for (k, v) in &self.headers {
            req = req.insert_header((k.clone(), v.clone()));
        }
        match req.send_body(body.clone()).await {
            Ok(mut resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                // Read the answer so the connection can be reused; what it says does not matter.
                let _ = tokio::time::timeout(self.timeout, resp.body().limit(64 * 1024)).await;
                classify(status, retry_after)
            }
            Err(SendRequestError::Timeout) => Attempt::Retry {
                outcome: "timeout",
                reason: format!("no response within {:?}", self.timeout),
                retry_after: None,
            },
            Err(SendRequestError::Connect(awc::error::ConnectError::Resolver(e)))
                if e.is::<crate::ssrf::RefusedAddress>() =>
            {
                Attempt::GiveUp {
                    outcome: "refused_address",
                    reason: e.to_string(),
                }
            }
            Err(SendRequestError::Connect(e)) => Attempt::Retry {
                outcome: "connect_error",
                reason: e.to_string(),
                retry_after: None,
            },
            Err(
                e @ (SendRequestError::Url(_)
                | SendRequestError::Http(_)
                | SendRequestError::TunnelNotSupported),
            ) => Attempt::GiveUp {
                outcome: "send_error",
                reason: e.to_string(),
            },
            Err(e) => Attempt::Retry {
                outcome: "send_error",
                reason: e.to_string(),
                retry_after: None,
            },
        }
    }

    /// Sends one body until it is delivered, refused for good, or the budget is spent.
    async fn deliver(self: Rc<Self>, body: Bytes, msg_id: String) -> Result<u32, Failure> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (outcome, reason, retry_after) = match self.attempt(&body, &msg_id).await {
                Attempt::Delivered => {
                    self.telemetry.request(&self.name, "success");
                    return Ok(attempt);
                }
                Attempt::GiveUp { outcome, reason } => {
                    self.telemetry.request(&self.name, outcome);
                    return Err(Failure {
                        reason: format!("{outcome}: {reason} (not retried)").into(),
                        attempts: attempt,
                    });
                }
                Attempt::Retry {
                    outcome,
                    reason,
                    retry_after,
                } => (outcome, reason, retry_after),
            };
            self.telemetry.request(&self.name, outcome);
            if attempt >= self.retry.max_attempts {
                return Err(Failure {
                    reason: format!("{outcome}: {reason} (after {attempt} attempts)").into(),
                    attempts: attempt,
                });
            }
            let delay = self.retry.delay(attempt, retry_after);
            tracing::debug!(webhook = %self.name, webhook_id = %msg_id, attempt, outcome, reason,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "webhook attempt failed: retrying");
            self.telemetry.retry(&self.name);
            tokio::time::sleep(delay).await;
        }
    }
}

/// A dead-letter file and how much room is left in it.
struct DeadFile {
    writer: BufWriter<std::fs::File>,
    path: PathBuf,
    /// Bytes in the file (what it had when opened, plus what was written since).
    len: u64,
    max: u64,
    /// Dead letters refused because the file is full.
    refused: u64,
}

enum DeadLetters {
    Log,
    File(DeadFile),
    Recipient(Recipient<DeadLetter>),
}

/// Why a dead letter could not be stored.
enum Unstored {
    /// The sink failed.
    Failed(std::io::Error),
    /// The file has reached its cap.
    Full,
}

impl DeadLetters {
    fn open(sink: &DeadLetterSink, max: u64) -> Result<DeadLetters, Error> {
        Ok(match sink {
            DeadLetterSink::Log => DeadLetters::Log,
            DeadLetterSink::File(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::Open {
                        path: path.clone(),
                        source,
                    })?;
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                DeadLetters::File(DeadFile {
                    writer: BufWriter::new(file),
                    path: path.clone(),
                    len,
                    max,
                    refused: 0,
                })
            }
            DeadLetterSink::Recipient(r) => DeadLetters::Recipient(r.clone()),
        })
    }

    fn put(
        &mut self,
        webhook: &Arc<str>,
        unit: &[SharedEvent],
        failure: &Failure,
        clock: &dyn Clock,
        telemetry: &Telemetry,
    ) {
        for event in unit {
            let stored = match self {
                DeadLetters::Log => {
                    tracing::error!(webhook = %webhook, event_id = %event.id, event = %event.event,
                        reason = %failure.reason, attempts = failure.attempts,
                        body = %String::from_utf8_lossy(event.json()), "webhook gave up on an event (dead letter)");
                    Ok(())
                }
                DeadLetters::File(f) => {
                    let line = dead_letter_line(webhook, event, failure, clock);
                    let len = line.len() as u64;
                    if f.len.saturating_add(len) > f.max {
                        f.refused += 1;
                        Err(Unstored::Full)
                    } else {
                        f.len += len;
                        f.writer
                            .write_all(&line)
                            .and_then(|_| f.writer.flush())
                            .map_err(Unstored::Failed)
                    }
                }
                // `try_send`, not `do_send`: a dead-letter actor that falls behind
                // fills its bounded mailbox, and then a dead letter fails (counted)
                // instead of queueing without limit.
                DeadLetters::Recipient(r) => r
                    .try_send(DeadLetter {
                        webhook: webhook.clone(),
                        event: event.clone(),
                        reason: failure.reason.clone(),
                        attempts: failure.attempts,
                    })
                    .map_err(|e| {
                        Unstored::Failed(std::io::Error::other(match e {
                            SendError::Full(_) => "the dead-letter actor's mailbox is full",
                            SendError::Closed(_) => "the dead-letter actor has stopped",
                        }))
                    }),
            };
            match stored {
                Ok(()) => {
                    telemetry.dead_lettered(webhook, 1);
                    if !matches!(self, DeadLetters::Log) {
                        tracing::warn!(webhook = %webhook, event_id = %event.id, event = %event.event,
                            reason = %failure.reason, attempts = failure.attempts, "webhook gave up on an event (dead letter)");
                    }
                }
                Err(Unstored::Full) => {
                    telemetry.dropped(webhook, "dead_letter_full");
                    if let DeadLetters::File(f) = self {
                        // The first refusal, then every 1,000th: the log must not grow
                        // in the file's place.
                        if f.refused % 1000 == 1 {
                            tracing::error!(webhook = %webhook, event_id = %event.id, reason = %failure.reason,
                                path = %f.path.display(), max_bytes = f.max, refused = f.refused,
                                "webhook gave up on an event and its dead-letter file is full: it is lost (counted as dead_letter_full)");
                        }
                    }
                }
                Err(Unstored::Failed(error)) => {
                    telemetry.dropped(webhook, "dead_letter_failed");
                    let path = match self {
                        DeadLetters::File(f) => f.path.display().to_string(),
                        _ => String::new(),
                    };
                    tracing::error!(webhook = %webhook, event_id = %event.id, reason = %failure.reason,
                        %error, path, body = %String::from_utf8_lossy(event.json()),
                        "webhook gave up on an event and could not store it as a dead letter: it is lost");
                }
            }
        }
    }
}

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
    line.extend_from_slice(b"}\n");
    line
}

/// The JSON array of a batch, made of the events' shared JSON.
fn batch_body(unit: &[SharedEvent]) -> Bytes {
    let len = unit.iter().map(|e| e.json().len() + 1).sum::<usize>() + 2;
    let mut out = BytesMut::with_capacity(len);
    out.put_u8(b'[');
    for (i, e) in unit.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.extend_from_slice(e.json());
    }
    out.put_u8(b']');
    out.freeze()
}

#[derive(Default)]
struct Lane {
    /// Events waiting, with when they arrived.
    waiting: VecDeque<(Instant, SharedEvent)>,
    /// The unit being sent, kept until it is delivered or dead-lettered.
    sending: Option<Vec<SharedEvent>>,
    /// Whether its key is in the ready queue.
    queued: bool,
}

/// The lane key of every event when batching.
const BATCH_LANE: &str = "*";

/// The webhook actor. Start it with [`Webhook::subscribe`].
pub struct Webhook {
    name: Arc<str>,
    target: Rc<Target>,
    concurrency: usize,
    batch: Option<BatchConfig>,
    lanes: HashMap<Arc<str>, Lane>,
    ready: VecDeque<Arc<str>>,
    in_flight: usize,
    epoch: u64,
    draining: bool,
    drains: Vec<oneshot::Sender<()>>,
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
        let dead = DeadLetters::open(&config.dead_letter, config.dead_letter_max_bytes)?;
        let name: Arc<str> = config.name.as_str().into();
        let clock = bus.clock().clone();
        let addr = {
            let (name, telemetry) = (name.clone(), telemetry.clone());
            let (url, timeout, retry) = (config.url.clone(), config.timeout, config.retry.clone());
            let (concurrency, batch) = (config.concurrency, config.batch.clone());
            let refuse_private = config.refuse_private_addresses;
            Supervisor::start(move |_| {
                let connector = awc::Connector::new().limit(concurrency);
                let client = if refuse_private {
                    awc::Client::builder()
                        .connector(connector.connector(crate::ssrf::guarded_connector()))
                        .timeout(timeout)
                        .disable_redirects()
                        .finish()
                } else {
                    awc::Client::builder()
                        .connector(connector)
                        .timeout(timeout)
                        .disable_redirects()
                        .finish()
                };
                Webhook {
                    target: Rc::new(Target {
                        name: name.clone(),
                        url,
                        signer,
                        headers,
                        timeout,
                        retry,
                        client,
                        clock,
                        telemetry: telemetry.clone(),
                    }),
                    name,
                    concurrency,
                    batch,
                    lanes: HashMap::new(),
                    ready: VecDeque::new(),
                    in_flight: 0,
                    epoch: 0,
                    draining: false,
                    drains: Vec::new(),
                    timer: None,
                    dead,
                    telemetry,
                }
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
        let id: &str = if self.batch.is_some() {
            BATCH_LANE
        } else {
            event.resource.id()
        };
        let key: Arc<str> = match self.lanes.get_key_value(id) {
            Some((k, _)) => k.clone(),
            None => id.into(),
        };
        self.lanes
            .entry(key.clone())
            .or_default()
            .waiting
            .push_back((Instant::now(), event));
        self.wake(&key);
    }

    /// Puts a lane in the ready queue if it has something to send and is not sending.
    fn wake(&mut self, key: &Arc<str>) {
        if let Some(lane) = self.lanes.get_mut(key) {
            if !lane.queued && lane.sending.is_none() && !lane.waiting.is_empty() {
                lane.queued = true;
                self.ready.push_back(key.clone());
            }
        }
    }

    /// Starts requests while there is room.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.in_flight < self.concurrency {
            let Some(key) = self.ready.pop_front() else {
                break;
            };
            let Some(lane) = self.lanes.get_mut(&key) else {
                continue;
            };
            lane.queued = false;
            if lane.sending.is_some() || lane.waiting.is_empty() {
                continue;
            }
            let unit: Vec<SharedEvent> = match &self.batch {
                None => lane
                    .waiting
                    .pop_front()
                    .map(|(_, e)| e)
                    .into_iter()
                    .collect(),
                Some(b) => {
                    let oldest = lane
                        .waiting
                        .front()
                        .map(|(t, _)| *t)
                        .unwrap_or_else(Instant::now);
                    let due_at = oldest + b.max_wait;
                    if !(self.draining
                        || lane.waiting.len() >= b.max_events
                        || due_at <= Instant::now())
                    {
                        if self.timer.is_none() {
                            let wait = due_at.saturating_duration_since(Instant::now());
                            self.timer = Some(ctx.run_later(wait, |act, ctx| {
                                act.timer = None;
                                act.wake(&Arc::from(BATCH_LANE));
                                act.pump(ctx);
                            }));
                        }
                        continue;
                    }
                    let n = lane.waiting.len().min(b.max_events);
                    lane.waiting.drain(..n).map(|(_, e)| e).collect()
                }
            };
            lane.sending = Some(unit.clone());
            self.in_flight += 1;
            self.send(key, unit, ctx);
        }
    }

    fn send(&mut self, key: Arc<str>, unit: Vec<SharedEvent>, ctx: &mut Context<Self>) {
        let (body, msg_id) = match unit.as_slice() {
            [one] => (one.json().clone(), one.id.to_string()),
            many => (
                batch_body(many),
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
            if guard(ctx, &name, &telemetry, || act.done(epoch, key, result)).is_some() {
                act.pump(ctx);
                act.check_drained();
            }
        }));
    }

    /// A unit finished: delivered, or given up.
    fn done(&mut self, epoch: u64, key: Arc<str>, result: Result<u32, Failure>) {
        if epoch != self.epoch {
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(lane) = self.lanes.get_mut(&key) else {
            return;
        };
        let unit = lane.sending.take().unwrap_or_default();
        let empty = lane.waiting.is_empty();
        if let Err(failure) = result {
            let clock = self.target.clock.clone();
            self.dead
                .put(&self.name, &unit, &failure, clock.as_ref(), &self.telemetry);
        }
        if empty {
            self.lanes.remove(&key);
        } else {
            self.wake(&key);
        }
    }

    fn idle(&self) -> bool {
        self.in_flight == 0
            && self
                .lanes
                .values()
                .all(|l| l.waiting.is_empty() && l.sending.is_none())
    }

    fn check_drained(&mut self) {
        if !self.drains.is_empty() && self.idle() {
            self.draining = false;
            for tx in self.drains.drain(..) {
                let _ = tx.send(());
            }
        }
    }

    fn wake_all(&mut self, ctx: &mut Context<Self>) {
        let keys: Vec<Arc<str>> = self.lanes.keys().cloned().collect();
        for key in keys {
            self.wake(&key);
        }
        self.pump(ctx);
    }
}

impl Actor for Webhook {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        // After a restart: resume what was waiting or being sent.
        self.wake_all(ctx);
    }
}

impl Supervised for Webhook {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // The futures of the requests in flight are gone: send their units again.
        self.epoch += 1;
        self.in_flight = 0;
        self.ready.clear();
        self.timer = None;
        let now = Instant::now();
        let mut resent = 0usize;
        for lane in self.lanes.values_mut() {
            lane.queued = false;
            if let Some(unit) = lane.sending.take() {
                resent += unit.len();
                for e in unit.into_iter().rev() {
                    lane.waiting.push_front((now, e));
                }
            }
        }
        tracing::info!(webhook = %self.name, resent, "webhook sender restarted");
    }
}

impl Handler<Deliver> for Webhook {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        let (name, telemetry) = (self.name.clone(), self.telemetry.clone());
        telemetry.latency(&name, event.emitted_at().elapsed());
        if guard(ctx, &name, &telemetry, || self.enqueue(event)).is_some() {
            self.pump(ctx);
        }
    }
}

impl Handler<Drain> for Webhook {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        self.wake_all(ctx);
        if self.idle() {
            self.draining = false;
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.drains.push(tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

/// Durations as whole milliseconds in configuration files.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
