//! The bridge's settings: a plain struct with defaults, built in code.
//!
//! This crate reads no environment variable; the `workbus` binary parses its
//! `--nats-*` flags and their `WORKBUS_NATS_*` variables once and builds a [`NatsConfig`].

use std::time::Duration;

use crate::names::{valid_prefix, valid_stream_name};
use crate::Error;

/// The default stream name.
pub const DEFAULT_STREAM: &str = "WORKBUS_EVENTS";
/// The default subject prefix: events go to `workbus.events.<event name>`.
pub const DEFAULT_SUBJECT_PREFIX: &str = "workbus.events";

/// The retry schedule of the whole workspace: one backoff, from the subscriber toolkit.
pub use workbus_subscribers::toolkit::Backoff;

/// Where a node's durable consumer starts when it is created for the first
/// time. Afterwards it always resumes where it stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartFrom {
    /// Only events stored after the consumer is created (a new node does not replay history).
    #[default]
    New,
    /// Every event still in the stream.
    All,
}

/// The bridge's settings.
///
/// [`NatsConfig::new`] gives the defaults for a server address and a node
/// name (a unique one is [`default_node_name`]). The fields are public so
/// that a test or an embedding program can change any of them:
///
/// ```
/// use std::time::Duration;
/// use workbus_nats::NatsConfig;
///
/// let config = NatsConfig {
///     buffer: 100,
///     ack_timeout: Duration::from_millis(500),
///     ..NatsConfig::new("nats://127.0.0.1:4222", "node-a")
/// };
/// assert_eq!(config.stream, "WORKBUS_EVENTS");
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsConfig {
    /// The NATS server, such as `nats://127.0.0.1:4222` (several may be given, comma-separated).
    pub url: String,
    /// This node's name: the origin header of what it publishes, and its durable consumer's name.
    /// Give each node its own, and keep it across restarts to resume where it stopped.
    pub node: String,
    /// The JetStream stream (default [`DEFAULT_STREAM`]), created if missing.
    pub stream: String,
    /// The subject prefix (default [`DEFAULT_SUBJECT_PREFIX`]); the stream holds `<prefix>.>`.
    pub subject_prefix: String,
    /// How many local events wait for NATS at most; beyond, new events are dropped and counted.
    pub buffer: usize,
    /// How many publishes wait for their acknowledgement at once.
    pub max_in_flight: usize,
    /// How long a publish waits for its acknowledgement (and a consumer ack for its confirmation).
    pub ack_timeout: Duration,
    /// The retry schedule of failed publishes, of a consumer that has to be re-created, and of
    /// the stream and consumer at start when the server fails to make them.
    pub retry: Backoff,
    /// How often an event the server refuses (not an outage: a stream limit, say) is tried before
    /// it is dropped and counted. Outages are retried as long as the buffer holds the event.
    /// Also how often [`NatsBridge::start`](crate::NatsBridge::start) asks for the stream, and
    /// for the consumer, while the server fails on its side.
    pub max_attempts: u32,
    /// The reconnect schedule of the NATS connection.
    pub reconnect: Backoff,
    /// How long to wait for the first connection.
    pub connect_timeout: Duration,
    /// How many event ids a node remembers to deliver each remote event once.
    pub dedup_window: usize,
    /// The stream's duplicate window: a second publish of an event id within it is not stored.
    pub duplicate_window: Duration,
    /// How long the stream keeps events; a node that is away longer misses the older ones.
    pub max_age: Duration,
    /// Where a new durable consumer starts.
    pub start_from: StartFrom,
    /// How long the server waits for a consumer ack before it delivers a message again.
    pub ack_wait: Duration,
    /// How many messages the server delivers to a node before it has acked them.
    pub max_ack_pending: usize,
    /// How many messages one pull request asks for.
    pub pull_batch: usize,
    /// How long one pull request lives on the server.
    pub pull_expires: Duration,
    /// How long [`NatsBridge::shutdown`](crate::NatsBridge::shutdown) waits for pending publishes.
    pub shutdown_timeout: Duration,
}

impl NatsConfig {
    /// The defaults for a server and a node name.
    pub fn new(url: impl Into<String>, node: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            node: node.into(),
            stream: DEFAULT_STREAM.to_owned(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
            buffer: 10_000,
            max_in_flight: 256,
            ack_timeout: Duration::from_secs(5),
            retry: Backoff::new(Duration::from_millis(50), Duration::from_secs(5)),
            max_attempts: 10,
            reconnect: Backoff::new(Duration::from_millis(100), Duration::from_secs(2)),
            connect_timeout: Duration::from_secs(5),
            dedup_window: 65_536,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(24 * 3600),
            start_from: StartFrom::New,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
            pull_batch: 256,
            pull_expires: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// Checks the settings: a server address, a node name without control
    /// characters, a valid stream name and subject prefix, non-zero sizes and times.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |setting: &'static str, reason: &str| {
            Err(Error::InvalidConfig {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.url.trim().is_empty() {
            return bad("url", "empty");
        }
        if self.node.is_empty() || self.node.chars().any(char::is_control) {
            return bad("node", "empty, or has control characters");
        }
        if !valid_stream_name(&self.stream) {
            return bad("stream", "empty, or has whitespace or one of . * > / \\");
        }
        if !valid_prefix(&self.subject_prefix) {
            return bad(
                "subject_prefix",
                "needs non-empty dot-separated tokens without wildcards or whitespace",
            );
        }
        let counts = [
            ("buffer", self.buffer),
            ("max_in_flight", self.max_in_flight),
            ("dedup_window", self.dedup_window),
            ("max_ack_pending", self.max_ack_pending),
            ("pull_batch", self.pull_batch),
        ];
        if let Some((setting, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return bad(setting, "must be at least 1");
        }
        let times = [
            ("ack_timeout", self.ack_timeout),
            ("retry.initial", self.retry.initial),
            ("reconnect.initial", self.reconnect.initial),
            ("connect_timeout", self.connect_timeout),
            ("duplicate_window", self.duplicate_window),
            ("ack_wait", self.ack_wait),
            ("pull_expires", self.pull_expires),
        ];
        if let Some((setting, _)) = times.iter().find(|(_, t)| t.is_zero()) {
            return bad(setting, "must be longer than zero");
        }
        if self.pull_expires < Duration::from_millis(100) {
            return bad("pull_expires", "must be at least 100 ms");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "must be at least 1");
        }
        Ok(())
    }
}

/// A node name unique to this process: the host name, the process id and a
/// random suffix, such as `web-3-4711-1f2e3d4c`. A node that should resume
/// from its durable consumer after a restart needs a stable name instead
/// (`WORKBUS_NODE`).
pub fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "workbus".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_node_is_unique() {
        let c = NatsConfig::new("nats://h:1", default_node_name());
        assert!(c.node.contains(&std::process::id().to_string()));
        assert_ne!(default_node_name(), default_node_name());
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = |f: fn(&mut NatsConfig)| {
            let mut c = NatsConfig::new("nats://h:1", "n");
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(matches!(
            bad(|c| c.stream = "a.b".into()),
            Error::InvalidConfig {
                setting: "stream",
                ..
            }
        ));
        assert!(matches!(
            bad(|c| c.subject_prefix = "a.*".into()),
            Error::InvalidConfig {
                setting: "subject_prefix",
                ..
            }
        ));
        assert!(matches!(
            bad(|c| c.buffer = 0),
            Error::InvalidConfig {
                setting: "buffer",
                ..
            }
        ));
        assert!(matches!(
            bad(|c| c.node = "a\nb".into()),
            Error::InvalidConfig {
                setting: "node",
                ..
            }
        ));
        assert!(matches!(
            bad(|c| c.ack_timeout = Duration::ZERO),
            Error::InvalidConfig {
                setting: "ack_timeout",
                ..
            }
        ));
    }
}
