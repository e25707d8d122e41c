//! The bridge: one connection, the stream, the publisher and the source, started and stopped together.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{self, stream};
use workbus_core::{Bus, SubscribeOptions, SubscriberStats, Subscription};

use crate::config::{NatsConfig, StartFrom};
use crate::names::durable_name;
use crate::publisher::{Close, Drain, NatsPublisher, PublisherSettings, PublisherStats};
use crate::setup;
use crate::source::{pull_messages, NatsSource, SourceSettings, SourceStats, Stop};
use crate::Error;

/// The counters of a bridge. Cloning shares them; they stay readable after shutdown.
#[derive(Clone, Debug)]
pub struct BridgeStats {
    /// The publishing side.
    pub publisher: Arc<PublisherStats>,
    /// The consuming side.
    pub source: Arc<SourceStats>,
    /// The publisher's subscription to the bus (what the registry buffered or dropped for it).
    pub subscription: Arc<SubscriberStats>,
}

/// A running bridge between a [`Bus`] and a NATS JetStream stream.
///
/// It publishes every local event of the bus to the stream and feeds every
/// other node's event from the stream into the bus; see the
/// [crate docs](crate) for the topology and the guarantees. Start it inside
/// the actix system of the bus; stop it with [`shutdown`](Self::shutdown),
/// which sends what is still buffered first.
///
/// # Examples
///
/// ```no_run
/// use workbus_core::{Bus, CreatePool};
/// use workbus_nats::{NatsBridge, NatsConfig};
///
/// actix::System::new().block_on(async {
///     let bus = Bus::start();
///     let config = NatsConfig::new("nats://127.0.0.1:4222", "node-a");
///     let bridge = NatsBridge::start(&bus, config).await?;
///     // This event now reaches every other node on the stream.
///     bus.create_pool(CreatePool::new("etl", "process")).await?;
///     let stats = bridge.shutdown().await?;
///     println!("published {}", stats.publisher.published());
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })
/// .unwrap();
/// ```
pub struct NatsBridge {
    bus: Bus,
    client: async_nats::Client,
    node: Arc<str>,
    durable: String,
    stream: String,
    subscription: Subscription,
    publisher: Addr<NatsPublisher>,
    source: Addr<NatsSource>,
    stats: BridgeStats,
    shutdown_timeout: Duration,
    closed: bool,
}

impl std::fmt::Debug for NatsBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBridge")
            .field("node", &self.node)
            .field("stream", &self.stream)
            .field("durable", &self.durable)
            .field("stats", &self.stats)
            .finish()
    }
}

impl NatsBridge {
    /// Connects, creates the stream if it is missing, opens this node's
    /// durable consumer, and starts the source and the publisher on the
    /// current arbiter. Fails if NATS cannot be reached now; once started, it
    /// rides out outages.
    ///
    /// A stream or consumer the server fails to make on its side (a 5xx
    /// answer, such as NATS's "error creating store for stream", or no answer
    /// in time) is asked for again on the [`retry`](NatsConfig::retry)
    /// schedule, up to [`max_attempts`](NatsConfig::max_attempts) times; a
    /// refusal (a 4xx) fails at once.
    pub async fn start(bus: &Bus, config: NatsConfig) -> Result<NatsBridge, Error> {
        config.validate()?;
        let node: Arc<str> = config.node.as_str().into();
        let (reconnected_tx, reconnected) = tokio::sync::watch::channel(0u64);
        let client = connect(&config, node.clone(), reconnected_tx).await?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(config.ack_timeout);

        let stream_config = stream_config(&config);
        let stream = setup::retried("stream", &config.retry, config.max_attempts, || {
            js.get_or_create_stream(stream_config.clone())
        })
        .await
        .map_err(|source| Error::Stream {
            stream: config.stream.clone(),
            source,
        })?;
        let durable = durable_name(&config.node);
        let consumer_config = pull::Config {
            durable_name: Some(durable.clone()),
            description: Some(format!("workbus node {}", config.node)),
            deliver_policy: match config.start_from {
                StartFrom::New => DeliverPolicy::New,
                StartFrom::All => DeliverPolicy::All,
            },
            ack_policy: AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            max_ack_pending: i64::try_from(config.max_ack_pending).unwrap_or(i64::MAX),
            filter_subject: format!("{}.>", config.subject_prefix),
            ..Default::default()
        };
        let consumer: PullConsumer =
            setup::retried("consumer", &config.retry, config.max_attempts, || {
                stream.get_or_create_consumer(&durable, consumer_config.clone())
            })
            .await
            .map_err(|source| Error::Consumer {
                stream: config.stream.clone(),
                durable: durable.clone(),
                source,
            })?;
        let messages = pull_messages(&consumer, config.pull_batch, config.pull_expires)
            .await
            .map_err(|source| Error::Pull {
                durable: durable.clone(),
                source,
            })?;

        let source_stats = Arc::new(SourceStats::default());
        let source = NatsSource::new(
            bus.clone(),
            js.clone(),
            SourceSettings {
                node: node.clone(),
                stream: stream_config.clone(),
                durable: durable.clone(),
                consumer: consumer_config,
                dedup_window: config.dedup_window,
                pull_batch: config.pull_batch,
                pull_expires: config.pull_expires,
                retry: config.retry,
            },
            messages,
            source_stats.clone(),
        )
        .start();

        let publisher_stats = Arc::new(PublisherStats::default());
        let publisher = NatsPublisher::new(
            client.clone(),
            js,
            PublisherSettings {
                node: node.clone(),
                prefix: config.subject_prefix.as_str().into(),
                stream: stream_config,
                buffer: config.buffer,
                max_in_flight: config.max_in_flight,
                retry: config.retry,
                max_attempts: config.max_attempts,
            },
            reconnected,
            publisher_stats.clone(),
        )
        .start();
        let subscription = match bus
            .subscribe(
                publisher.clone().recipient(),
                SubscribeOptions::new(format!("nats-bridge:{}", config.node)),
            )
            .await
        {
            Ok(s) => s,
            Err(e) => {
                let _ = source.send(Stop).await;
                return Err(e.into());
            }
        };
        tracing::info!(node = %node, url = %config.url, stream = %config.stream, durable = %durable,
            "NATS bridge started");
        Ok(NatsBridge {
            bus: bus.clone(),
            client,
            node,
            durable,
            stream: config.stream,
            stats: BridgeStats {
                publisher: publisher_stats,
                source: source_stats,
                subscription: subscription.stats.clone(),
            },
            subscription,
            publisher,
            source,
            shutdown_timeout: config.shutdown_timeout,
            closed: false,
        })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// This node's durable consumer name.
    pub fn durable(&self) -> &str {
        &self.durable
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The counters of both sides.
    pub fn stats(&self) -> BridgeStats {
        self.stats.clone()
    }

    /// Whether the connection to NATS is up now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The NATS client the bridge uses (for health checks or other subjects).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Waits until every local event emitted by bus operations that have
    /// returned has left the publish buffer: stored by JetStream, or counted
    /// as lost. During an outage it waits for NATS to come back; wrap it in a
    /// timeout where that matters.
    pub async fn flush(&self) -> Result<(), Error> {
        self.bus.flush().await?;
        self.publisher.send(Drain).await?;
        Ok(())
    }

    /// Stops the bridge: no more pulls (acks already sent are confirmed),
    /// then every local event emitted so far is published, waiting at most
    /// [`shutdown_timeout`](NatsConfig::shutdown_timeout); what could not be
    /// sent by then is counted in `dropped_shutdown` and the call answers
    /// [`Error::ShutdownTimedOut`]. Answers the final counters.
    pub async fn shutdown(mut self) -> Result<BridgeStats, Error> {
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        let mut timed_out = false;
        if tokio::time::timeout_at(deadline, self.source.send(Stop))
            .await
            .is_err()
        {
            timed_out = true;
        }
        self.bus.flush().await?;
        self.bus.unsubscribe(self.subscription.id).await?;
        match tokio::time::timeout_at(deadline, self.publisher.send(Drain)).await {
            Ok(r) => r?,
            Err(_) => timed_out = true,
        }
        self.publisher.send(Close).await?;
        // Stopped; an early return above leaves the rest to Drop.
        self.closed = true;
        // The acks and publishes are confirmed already; this only pushes out
        // what is left in the connection, and gives up at the deadline.
        let deadline = deadline.max(tokio::time::Instant::now() + Duration::from_millis(100));
        match tokio::time::timeout_at(deadline, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::debug!(node = %self.node, error = %err, "NATS flush at shutdown failed")
            }
            Err(_) => tracing::debug!(node = %self.node, "NATS flush at shutdown timed out"),
        }
        tracing::info!(node = %self.node, published = self.stats.publisher.published(),
            ingested = self.stats.source.ingested(), lost = self.stats.publisher.lost(), "NATS bridge stopped");
        if timed_out {
            return Err(Error::ShutdownTimedOut(self.shutdown_timeout));
        }
        Ok(self.stats.clone())
    }
}

impl Drop for NatsBridge {
    /// A bridge dropped without [`shutdown`](NatsBridge::shutdown) stops at
    /// once: it unsubscribes, stops pulling, and counts what was still
    /// buffered as `dropped_shutdown` (logged), instead of running on unowned.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        tracing::warn!(node = %self.node, buffered = self.stats.publisher.buffered(),
            "NATS bridge dropped without shutdown(): stopping it now");
        // Dropping the bridge drops its subscription, which unsubscribes.
        self.source.do_send(Stop);
        self.publisher.do_send(Close);
    }
}

/// The stream the bridge creates when it is missing.
fn stream_config(config: &NatsConfig) -> stream::Config {
    stream::Config {
        name: config.stream.clone(),
        description: Some("workbus events, one subject per event name".to_owned()),
        subjects: vec![format!("{}.>", config.subject_prefix)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: config.duplicate_window,
        max_age: config.max_age,
        ..Default::default()
    }
}

async fn connect(
    config: &NatsConfig,
    node: Arc<str>,
    reconnected: tokio::sync::watch::Sender<u64>,
) -> Result<async_nats::Client, Error> {
    let reconnected = Arc::new(reconnected);
    let reconnect = config.reconnect;
    let addrs: Vec<String> = config
        .url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    async_nats::ConnectOptions::new()
        .name(format!("workbus-{node}"))
        .connection_timeout(config.connect_timeout)
        .max_reconnects(None)
        .reconnect_delay_callback(move |attempts| {
            let attempt = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
            reconnect.delay(attempt)
        })
        .event_callback(move |event| {
            let node = node.clone();
            let reconnected = reconnected.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!(node = %node, "NATS connected");
                        reconnected.send_modify(|n| *n += 1);
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!(node = %node, "NATS disconnected: reconnecting, publishes are buffered")
                    }
                    other => tracing::warn!(node = %node, event = %other, "NATS connection event"),
                }
            }
        })
        .connect(addrs.as_slice())
        .await
        .map_err(|source| Error::Connect {
            url: config.url.clone(),
            source,
        })
}
