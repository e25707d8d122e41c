//! The errors of the bridge.

use thiserror::Error;

/// Why the bridge could not start, or could not shut down cleanly.
///
/// Once started, the bridge does not fail on an outage: it retries, and counts
/// what it could not send or take in (see [`PublisherStats`](crate::PublisherStats)
/// and [`SourceStats`](crate::SourceStats)).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range or malformed.
    #[error("invalid NATS bridge setting {setting}: {reason}")]
    InvalidConfig {
        /// The setting: a field of [`NatsConfig`](crate::NatsConfig).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The NATS server could not be reached.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The address tried.
        url: String,
        /// Why.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The JetStream stream could not be found or created.
    #[error("cannot create or open the JetStream stream {stream}: {source}")]
    Stream {
        /// The stream's name.
        stream: String,
        /// Why.
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
    /// The node's durable consumer could not be found or created.
    #[error("cannot create or open the durable consumer {durable} on stream {stream}: {source}")]
    Consumer {
        /// The stream's name.
        stream: String,
        /// The consumer's durable name.
        durable: String,
        /// Why.
        #[source]
        source: async_nats::jetstream::stream::ConsumerError,
    },
    /// The pull subscription on the durable consumer could not be started.
    #[error("cannot pull from the durable consumer {durable}: {source}")]
    Pull {
        /// The consumer's durable name.
        durable: String,
        /// Why.
        #[source]
        source: async_nats::jetstream::consumer::StreamError,
    },
    /// The bus refused an operation (subscribing the publisher, flushing).
    #[error("the bus refused the bridge: {0}")]
    Bus(#[from] workbus_core::Error),
    /// One of the bridge's actors has stopped.
    #[error("a bridge actor has stopped: {0}")]
    Mailbox(#[from] actix::MailboxError),
    /// Shutdown gave up waiting: some events were not published, or some acks not confirmed.
    /// They are counted in the stats.
    #[error("shutdown timed out after {0:?}; unsent events are counted in the stats")]
    ShutdownTimedOut(std::time::Duration),
}
