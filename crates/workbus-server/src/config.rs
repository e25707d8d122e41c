//! The server's settings: flags with environment-variable fallbacks.
//!
//! Every `WORKBUS_*` variable is read here, once, by clap; the libraries' configs
//! ([`SubscribersConfig`], [`NatsConfig`]) are plain structs built from the parsed flags.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use workbus_core::BusConfig;
use workbus_nats::{default_node_name, NatsConfig};
use workbus_subscribers::config::webhooks_file;
use workbus_subscribers::logger::JsonTarget;
use workbus_subscribers::webhook::WebhookConfig;
use workbus_subscribers::SubscribersConfig;

use crate::error::ServerError;

/// Default largest request body, in bytes (1 MiB): Prefect's own work-pool bodies are
/// a few kilobytes, and a job template rarely reaches 100 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Default most websocket connections open at once (both event routes together).
pub const DEFAULT_MAX_WEBSOCKET_CLIENTS: usize = 1000;

/// Default most websocket connections in their handshake at once (before auth and filter).
pub const DEFAULT_MAX_WEBSOCKET_HANDSHAKES: usize = 64;

/// Default most bytes of events the history keeps (as it estimates them): 256 MiB.
pub const DEFAULT_EVENT_HISTORY_BYTES: usize = 256 * 1024 * 1024;

/// How long a websocket client has to finish its handshake, by default.
pub const DEFAULT_WEBSOCKET_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a closed websocket stays open for the client to read the close, by default.
pub const DEFAULT_WEBSOCKET_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many bytes of live frames may wait for one websocket client, by default.
pub const DEFAULT_WEBSOCKET_CLIENT_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// How many bytes of live frames may wait for all websocket clients together, by default.
pub const DEFAULT_WEBSOCKET_BUFFER_BYTES: usize = 256 * 1024 * 1024;

/// Bytes of request bodies all requests together may hold while they are read, by default.
pub const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT: usize = 64 * 1024 * 1024;

/// Connections the HTTP server holds open at once, by default (all workers together).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The websocket routes' limits, as every handler sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebsocketLimits {
    /// Connections in their handshake at once, at most; more get 503.
    pub max_handshakes: usize,
    /// How long a connection has from its upgrade to the end of its handshake.
    pub handshake_timeout: Duration,
    /// How long a connection stays open after the server's close frame, for the
    /// client to read it and answer.
    pub close_timeout: Duration,
    /// Bytes of live event frames that may wait for one client before it is cut off.
    pub client_buffer_bytes: usize,
    /// Bytes of live event frames that may wait for all clients together; a frame
    /// that would pass it cuts off the client it was for.
    pub all_buffer_bytes: usize,
}

impl Default for WebsocketLimits {
    fn default() -> Self {
        WebsocketLimits {
            max_handshakes: DEFAULT_MAX_WEBSOCKET_HANDSHAKES,
            handshake_timeout: DEFAULT_WEBSOCKET_HANDSHAKE_TIMEOUT,
            close_timeout: DEFAULT_WEBSOCKET_CLOSE_TIMEOUT,
            client_buffer_bytes: DEFAULT_WEBSOCKET_CLIENT_BUFFER_BYTES,
            all_buffer_bytes: DEFAULT_WEBSOCKET_BUFFER_BYTES,
        }
    }
}

/// How log lines are written; one setting for the server's own logs and the
/// event logger subscriber.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; events as `tracing` events among them.
    #[default]
    Pretty,
    /// One JSON object per line; events as Prefect JSON lines (to stdout, or `--log-file`).
    Json,
}

impl LogFormat {
    /// The value as the flag spells it (`pretty` or `json`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        }
    }
}

/// The flags of `workbus serve`; each has an environment variable as fallback.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WORKBUS_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "WORKBUS_PORT", default_value_t = 4200)]
    pub port: u16,
    /// A worker is offline after its heartbeat interval times this without a heartbeat.
    #[arg(long, env = "WORKBUS_WORKER_INACTIVITY_MULTIPLE", default_value_t = 3)]
    pub worker_inactivity_multiple: u32,
    /// Heartbeat interval assumed for workers that do not send one, in seconds (fractions allowed).
    #[arg(
        long,
        env = "WORKBUS_WORKER_FALLBACK_HEARTBEAT_SECONDS",
        default_value_t = 30.0
    )]
    pub worker_fallback_heartbeat_seconds: f64,
    /// A queue not polled for this many seconds goes NOT_READY (fractions allowed).
    #[arg(
        long,
        env = "WORKBUS_QUEUE_POLL_TIMEOUT_SECONDS",
        default_value_t = 60.0
    )]
    pub queue_poll_timeout_seconds: f64,
    /// How many recent events to keep for `/api/events/filter` and websocket backfill.
    #[arg(long, env = "WORKBUS_EVENT_HISTORY", default_value_t = 10_000)]
    pub event_history: usize,
    /// The most bytes of events the history keeps (estimated as three times each
    /// event's JSON, plus 512 bytes); the oldest go first.
    #[arg(long, env = "WORKBUS_EVENT_HISTORY_BYTES", default_value_t = DEFAULT_EVENT_HISTORY_BYTES)]
    pub event_history_bytes: usize,
    /// When set, every route but health and ready needs it as HTTP basic auth, and
    /// websockets need it as their `auth` token.
    #[arg(long, env = "WORKBUS_API_AUTH_STRING", hide_env_values = true)]
    pub api_auth_string: Option<String>,
    /// Log format, of the server's logs and of the event logger alike.
    #[arg(long, env = "WORKBUS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// With `--log-format json`: append the events' Prefect JSON lines to this file, not stdout.
    #[arg(long, env = "WORKBUS_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Send every event to this webhook (`http://` URL), signed when a secret is set.
    #[arg(long, env = "WORKBUS_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// The webhook's Standard Webhooks secret (`whsec_` and base64).
    #[arg(long, env = "WORKBUS_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// A JSON file defining more webhooks (see docs/subscribers.md).
    #[arg(long, env = "WORKBUS_WEBHOOKS_FILE")]
    pub webhooks_file: Option<PathBuf>,
    /// Refuse webhook targets on loopback, private, link-local and unspecified addresses (SSRF guard).
    #[arg(long, env = "WORKBUS_WEBHOOK_REFUSE_PRIVATE")]
    pub webhook_refuse_private: bool,
    /// Bridge events to this NATS JetStream server (comma-separated URLs); unset: one node alone.
    #[arg(long, env = "WORKBUS_NATS_URL")]
    pub nats_url: Option<String>,
    /// This node's name on NATS (stable across restarts; default: host, pid and a random suffix).
    #[arg(long, env = "WORKBUS_NODE")]
    pub node: Option<String>,
    /// The JetStream stream (default `WORKBUS_EVENTS`).
    #[arg(long, env = "WORKBUS_NATS_STREAM")]
    pub nats_stream: Option<String>,
    /// The subject prefix (default `workbus.events`).
    #[arg(long, env = "WORKBUS_NATS_SUBJECT_PREFIX")]
    pub nats_subject_prefix: Option<String>,
    /// Local events buffered while NATS is away (default 10000).
    #[arg(long, env = "WORKBUS_NATS_BUFFER")]
    pub nats_buffer: Option<usize>,
    /// Join this fleet (needs WORKBUS_NATS_URL): every node serves every pool,
    /// each pool's state in JetStream KV (the data directory is not used).
    #[arg(long, env = "WORKBUS_CLUSTER")]
    pub cluster: Option<String>,
    /// How long a node stays a member of the fleet without renewing, in
    /// milliseconds: a node that dies loses its pools this long after.
    #[arg(long, env = "WORKBUS_CLUSTER_LEASE_MS", default_value_t = 3000)]
    pub cluster_lease_ms: u64,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "WORKBUS_BODY_LIMIT_BYTES", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit_bytes: usize,
    /// Events queued for one websocket client before it is cut off as too slow.
    #[arg(long, env = "WORKBUS_WEBSOCKET_CLIENT_BUFFER", default_value_t = 1024)]
    pub websocket_client_buffer: usize,
    /// Websocket connections open at once, at most; more are refused with 503.
    #[arg(long, env = "WORKBUS_MAX_WEBSOCKET_CLIENTS", default_value_t = DEFAULT_MAX_WEBSOCKET_CLIENTS)]
    pub max_websocket_clients: usize,
    /// Websocket connections in their handshake (before auth and filter) at once, at
    /// most; more are refused with 503. They never take the clients' places.
    #[arg(long, env = "WORKBUS_MAX_WEBSOCKET_HANDSHAKES", default_value_t = DEFAULT_MAX_WEBSOCKET_HANDSHAKES)]
    pub max_websocket_handshakes: usize,
    /// Seconds a websocket client has to finish its handshake (fractions allowed).
    #[arg(
        long,
        env = "WORKBUS_WEBSOCKET_HANDSHAKE_TIMEOUT_SECONDS",
        default_value_t = 5.0
    )]
    pub websocket_handshake_timeout_seconds: f64,
    /// Seconds a closed websocket stays open for the client to read the close (fractions allowed).
    #[arg(
        long,
        env = "WORKBUS_WEBSOCKET_CLOSE_TIMEOUT_SECONDS",
        default_value_t = 5.0
    )]
    pub websocket_close_timeout_seconds: f64,
    /// Bytes of events queued for one websocket client before it is cut off as too slow.
    #[arg(
        long,
        env = "WORKBUS_WEBSOCKET_CLIENT_BUFFER_BYTES",
        default_value_t = DEFAULT_WEBSOCKET_CLIENT_BUFFER_BYTES
    )]
    pub websocket_client_buffer_bytes: usize,
    /// Bytes of events queued for all websocket clients together; past it, the client a
    /// new event is for is cut off.
    #[arg(
        long,
        env = "WORKBUS_WEBSOCKET_BUFFER_BYTES",
        default_value_t = DEFAULT_WEBSOCKET_BUFFER_BYTES
    )]
    pub websocket_buffer_bytes: usize,
    /// The most work pools; one more is refused with 409.
    #[arg(long, env = "WORKBUS_MAX_POOLS", default_value_t = 1_000_000)]
    pub max_pools: usize,
    /// The most work queues in one pool, its default queue included; one more is refused with 409.
    #[arg(long, env = "WORKBUS_MAX_QUEUES_PER_POOL", default_value_t = 1_000)]
    pub max_queues_per_pool: usize,
    /// The most workers one pool knows; a heartbeat from one more is refused with 409.
    #[arg(long, env = "WORKBUS_MAX_WORKERS_PER_POOL", default_value_t = 10_000)]
    pub max_workers_per_pool: usize,
    /// Connections held open at once (all HTTP workers together); more wait to be accepted.
    #[arg(long, env = "WORKBUS_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Bytes of request bodies all requests together may hold while they are read and
    /// parsed; a request that would pass it gets 503. At least the body limit.
    #[arg(
        long,
        env = "WORKBUS_MAX_BODY_BYTES_IN_FLIGHT",
        default_value_t = DEFAULT_MAX_BODY_BYTES_IN_FLIGHT
    )]
    pub max_body_bytes_in_flight: usize,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "WORKBUS_HTTP_WORKERS", default_value_t = 0)]
    pub http_workers: usize,
    /// Seconds to let open requests finish on shutdown.
    #[arg(long, env = "WORKBUS_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 10)]
    pub shutdown_timeout_seconds: u64,
    /// Also run a simulated fleet of pools, queues and workers.
    #[arg(long, env = "WORKBUS_DEMO")]
    pub demo: bool,
    /// Where the state and the events are kept (default: a `workbus` folder in the
    /// user's data directory, `$XDG_DATA_HOME` or `~/.local/share`).
    #[arg(long, env = "WORKBUS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep nothing on disk: a restart starts with an empty fleet.
    #[arg(long, env = "WORKBUS_IN_MEMORY")]
    pub in_memory: bool,
    /// The most events the store keeps (the oldest go first).
    #[arg(
        long,
        env = "WORKBUS_EVENT_RETENTION_COUNT",
        default_value_t = 1_000_000
    )]
    pub event_retention_count: u64,
    /// How long the store keeps events, in days (Prefect keeps them 7 days).
    #[arg(long, env = "WORKBUS_EVENT_RETENTION_DAYS", default_value_t = 7.0)]
    pub event_retention_days: f64,
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 4200,
            worker_inactivity_multiple: 3,
            worker_fallback_heartbeat_seconds: 30.0,
            queue_poll_timeout_seconds: 60.0,
            event_history: 10_000,
            event_history_bytes: DEFAULT_EVENT_HISTORY_BYTES,
            api_auth_string: None,
            log_format: LogFormat::Pretty,
            log_file: None,
            webhook_url: None,
            webhook_secret: None,
            webhooks_file: None,
            webhook_refuse_private: false,
            nats_url: None,
            node: None,
            nats_stream: None,
            nats_subject_prefix: None,
            nats_buffer: None,
            cluster: None,
            cluster_lease_ms: 3000,
            body_limit_bytes: DEFAULT_BODY_LIMIT,
            websocket_client_buffer: 1024,
            max_websocket_clients: DEFAULT_MAX_WEBSOCKET_CLIENTS,
            max_websocket_handshakes: DEFAULT_MAX_WEBSOCKET_HANDSHAKES,
            websocket_handshake_timeout_seconds: 5.0,
            websocket_close_timeout_seconds: 5.0,
            websocket_client_buffer_bytes: DEFAULT_WEBSOCKET_CLIENT_BUFFER_BYTES,
            websocket_buffer_bytes: DEFAULT_WEBSOCKET_BUFFER_BYTES,
            max_pools: 1_000_000,
            max_queues_per_pool: 1_000,
            max_workers_per_pool: 10_000,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body_bytes_in_flight: DEFAULT_MAX_BODY_BYTES_IN_FLIGHT,
            http_workers: 0,
            shutdown_timeout_seconds: 10,
            demo: false,
            data_dir: None,
            in_memory: false,
            event_retention_count: 1_000_000,
            event_retention_days: 7.0,
        }
    }
}

/// Where the server keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Nothing on disk (the library's default, and `--in-memory`).
    InMemory,
    /// The redb store in this directory (the binary's default).
    Dir(PathBuf),
}

/// The binary's default data directory: `workbus` in `$XDG_DATA_HOME`, else in
/// `~/.local/share`, else in the current directory (as Prefect keeps `~/.prefect`).
pub fn default_data_dir() -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("workbus")
}

/// The checked settings the server runs with.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (0: any free port).
    pub port: u16,
    /// The bus's settings (heartbeats, poll timeout).
    pub bus: BusConfig,
    /// How many recent events to keep (0: none; queries and backfill find nothing).
    pub event_history: usize,
    /// The most bytes of events to keep, as the history estimates them.
    pub event_history_bytes: usize,
    /// Basic-auth string (`user:password` or any string), if auth is on.
    pub api_auth_string: Option<String>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Events queued for one websocket client before it is cut off.
    pub websocket_client_buffer: usize,
    /// Websocket connections open at once, at most (both event routes together).
    pub max_websocket_clients: usize,
    /// Websocket handshakes under way at once, and their deadlines.
    pub websocket_limits: WebsocketLimits,
    /// Connections held open at once, all HTTP workers together.
    pub max_connections: usize,
    /// Bytes of request bodies all requests together may hold while they are read.
    pub max_body_bytes_in_flight: usize,
    /// The subscribers to install (logger, metrics, webhooks); `None`: none, and
    /// `/metrics` shows only the server's own families.
    pub subscribers: Option<SubscribersConfig>,
    /// The NATS bridge; `None`: this node alone.
    pub nats: Option<NatsConfig>,
    /// The fleet this node joins; `None`: it serves its own pools, kept in [`storage`](Self::storage).
    pub cluster: Option<workbus_cluster::ClusterConfig>,
    /// HTTP worker threads (0: one per core).
    pub http_workers: usize,
    /// How long open requests may take to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Run the simulated fleet.
    pub demo: bool,
    /// Where the state and the events are kept ([`Storage::InMemory`] by default
    /// for the library; the binary's default is a data directory).
    pub storage: Storage,
    /// How long and how many events the store keeps.
    pub event_retention: workbus_store::Retention,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 4200,
            bus: BusConfig::default(),
            event_history: 10_000,
            event_history_bytes: DEFAULT_EVENT_HISTORY_BYTES,
            api_auth_string: None,
            body_limit: DEFAULT_BODY_LIMIT,
            websocket_client_buffer: 1024,
            max_websocket_clients: DEFAULT_MAX_WEBSOCKET_CLIENTS,
            websocket_limits: WebsocketLimits::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body_bytes_in_flight: DEFAULT_MAX_BODY_BYTES_IN_FLIGHT,
            subscribers: Some(SubscribersConfig::default()),
            nats: None,
            cluster: None,
            http_workers: 0,
            shutdown_timeout: Duration::from_secs(10),
            demo: false,
            storage: Storage::InMemory,
            event_retention: workbus_store::Retention::default(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    /// Every setting but the auth string, which shows as `(set)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("bus", &self.bus)
            .field("event_history", &self.event_history)
            .field("event_history_bytes", &self.event_history_bytes)
            .field(
                "api_auth_string",
                &self.api_auth_string.as_ref().map(|_| "(set)"),
            )
            .field("body_limit", &self.body_limit)
            .field("websocket_client_buffer", &self.websocket_client_buffer)
            .field("max_websocket_clients", &self.max_websocket_clients)
            .field("websocket_limits", &self.websocket_limits)
            .field("max_connections", &self.max_connections)
            .field("max_body_bytes_in_flight", &self.max_body_bytes_in_flight)
            .field("subscribers", &self.subscribers)
            .field("nats", &self.nats.as_ref().map(|n| (&n.stream, &n.node)))
            .field(
                "cluster",
                &self
                    .cluster
                    .as_ref()
                    .map(|c| (&c.cluster, &c.node, c.lease)),
            )
            .field("http_workers", &self.http_workers)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("demo", &self.demo)
            .field("storage", &self.storage)
            .field("event_retention", &self.event_retention)
            .finish()
    }
}

impl ServerConfig {
    /// A configuration for tests: loopback, a free port, one HTTP worker.
    pub fn loopback() -> Self {
        ServerConfig {
            port: 0,
            http_workers: 1,
            shutdown_timeout: Duration::from_secs(1),
            ..Self::default()
        }
    }
}

fn seconds(name: &'static str, value: f64) -> Result<Duration, ServerError> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(ServerError::Config(format!(
            "{name} must be a positive number of seconds, got {value}"
        )))
    }
}

impl TryFrom<ServeArgs> for ServerConfig {
    type Error = ServerError;

    fn try_from(a: ServeArgs) -> Result<Self, ServerError> {
        if a.worker_inactivity_multiple == 0 {
            return Err(ServerError::Config(
                "worker inactivity multiple must be at least 1".into(),
            ));
        }
        if a.body_limit_bytes == 0 {
            return Err(ServerError::Config(
                "body limit must be at least 1 byte".into(),
            ));
        }
        if a.websocket_client_buffer == 0 {
            return Err(ServerError::Config(
                "websocket client buffer must be at least 1".into(),
            ));
        }
        if a.api_auth_string.as_deref() == Some("") {
            return Err(ServerError::Config(
                "the API auth string must not be empty".into(),
            ));
        }
        if a.max_websocket_clients == 0 {
            return Err(ServerError::Config(
                "max websocket clients must be at least 1".into(),
            ));
        }
        if a.max_body_bytes_in_flight < a.body_limit_bytes {
            return Err(ServerError::Config(format!(
                "max body bytes in flight ({}) must be at least the body limit ({})",
                a.max_body_bytes_in_flight, a.body_limit_bytes
            )));
        }
        if a.max_connections == 0 {
            return Err(ServerError::Config(
                "max connections must be at least 1".into(),
            ));
        }
        if a.max_websocket_handshakes == 0 {
            return Err(ServerError::Config(
                "max websocket handshakes must be at least 1".into(),
            ));
        }
        let subscribers = subscribers_config(&a)?;
        let nats = nats_config(&a)?;
        let cluster = cluster_config(&a, nats.as_ref())?;
        let storage = match (a.in_memory, given_path(&a.data_dir)) {
            (true, Some(_)) => {
                return Err(ServerError::Config(
                    "--in-memory and --data-dir (WORKBUS_IN_MEMORY and WORKBUS_DATA_DIR) contradict each other: give one".into(),
                ))
            }
            (true, None) => Storage::InMemory,
            (false, Some(dir)) => Storage::Dir(dir.clone()),
            (false, None) => Storage::Dir(default_data_dir()),
        };
        if !(a.event_retention_days.is_finite()
            && a.event_retention_days > 0.0
            && a.event_retention_days < 1e6)
        {
            return Err(ServerError::Config(format!(
                "event retention must be a positive number of days, got {}",
                a.event_retention_days
            )));
        }
        let event_retention = workbus_store::Retention {
            max_events: a.event_retention_count.max(1),
            max_age: Duration::from_secs_f64(a.event_retention_days * 86_400.0),
        };
        Ok(ServerConfig {
            host: a.host,
            port: a.port,
            bus: BusConfig {
                worker_inactivity_multiple: a.worker_inactivity_multiple,
                fallback_heartbeat_interval: seconds(
                    "worker fallback heartbeat",
                    a.worker_fallback_heartbeat_seconds,
                )?,
                queue_poll_timeout: seconds("queue poll timeout", a.queue_poll_timeout_seconds)?,
                max_pools: a.max_pools,
                max_queues_per_pool: a.max_queues_per_pool.max(1),
                max_workers_per_pool: a.max_workers_per_pool,
                ..BusConfig::default()
            },
            event_history: a.event_history,
            event_history_bytes: a.event_history_bytes,
            api_auth_string: a.api_auth_string,
            body_limit: a.body_limit_bytes,
            websocket_client_buffer: a.websocket_client_buffer,
            max_websocket_clients: a.max_websocket_clients,
            websocket_limits: WebsocketLimits {
                max_handshakes: a.max_websocket_handshakes,
                handshake_timeout: seconds(
                    "websocket handshake timeout",
                    a.websocket_handshake_timeout_seconds,
                )?,
                close_timeout: seconds(
                    "websocket close timeout",
                    a.websocket_close_timeout_seconds,
                )?,
                client_buffer_bytes: a.websocket_client_buffer_bytes,
                all_buffer_bytes: a.websocket_buffer_bytes,
            },
            max_connections: a.max_connections,
            max_body_bytes_in_flight: a.max_body_bytes_in_flight,
            subscribers: Some(subscribers),
            nats,
            cluster,
            http_workers: a.http_workers,
            shutdown_timeout: Duration::from_secs(a.shutdown_timeout_seconds),
            demo: a.demo,
            storage,
            event_retention,
        })
    }
}

/// A text setting, or `None` when it is unset or blank (`WORKBUS_X=` counts as unset).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// A path setting, or `None` when it is unset or blank.
fn given_path(value: &Option<PathBuf>) -> Option<&PathBuf> {
    value
        .as_ref()
        .filter(|p| !p.to_str().is_some_and(|s| s.trim().is_empty()))
}

/// The subscribers from the flags: the logger's format and file, the webhook of
/// `--webhook-url`, those of `--webhooks-file`, and the SSRF guard over all of them.
fn subscribers_config(a: &ServeArgs) -> Result<SubscribersConfig, ServerError> {
    let mut config = SubscribersConfig::default();
    if a.log_format == LogFormat::Json {
        let target =
            given_path(&a.log_file).map_or(JsonTarget::Stdout, |p| JsonTarget::File(p.clone()));
        config = config.json_lines(target);
    }
    let secret = given(&a.webhook_secret);
    match (given(&a.webhook_url), secret) {
        (Some(url), secret) => {
            let hook = WebhookConfig {
                secret: secret.map(str::to_owned),
                ..WebhookConfig::new("webhook", url)
            };
            config = config.webhook(hook);
        }
        (None, Some(_)) => {
            return Err(ServerError::Config(
                "WORKBUS_WEBHOOK_SECRET (--webhook-secret) needs a URL: WORKBUS_WEBHOOK_URL is not set"
                    .into(),
            ));
        }
        (None, None) => {}
    }
    if let Some(path) = given_path(&a.webhooks_file) {
        // The file may name the variable that holds a secret (`secret_env`).
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        for hook in webhooks_file(path, &var).map_err(ServerError::Subscribers)? {
            config = config.webhook(hook);
        }
    }
    if a.webhook_refuse_private {
        config = config.refuse_private_addresses();
    }
    config.validate().map_err(ServerError::Subscribers)?;
    Ok(config)
}

/// The fleet from the flags; `None` without a cluster name. The node's name
/// is the bridge's, made of the characters a fleet allows (see
/// [`durable_name`](workbus_nats::durable_name)).
fn cluster_config(
    a: &ServeArgs,
    nats: Option<&NatsConfig>,
) -> Result<Option<workbus_cluster::ClusterConfig>, ServerError> {
    let Some(cluster) = given(&a.cluster) else {
        return Ok(None);
    };
    let Some(nats) = nats else {
        return Err(ServerError::Config(
            "WORKBUS_CLUSTER (--cluster) needs WORKBUS_NATS_URL: a fleet meets on NATS".into(),
        ));
    };
    let config = workbus_cluster::ClusterConfig {
        lease: Duration::from_millis(a.cluster_lease_ms),
        ..workbus_cluster::ClusterConfig::new(
            nats.url.clone(),
            cluster.trim(),
            workbus_nats::durable_name(&nats.node),
        )
    };
    config.validate().map_err(ServerError::Cluster)?;
    Ok(Some(config))
}

/// The NATS bridge from the flags; `None` without a NATS URL. Values are trimmed.
fn nats_config(a: &ServeArgs) -> Result<Option<NatsConfig>, ServerError> {
    let Some(url) = given(&a.nats_url) else {
        return Ok(None);
    };
    let node = given(&a.node).map_or_else(default_node_name, |n| n.trim().to_owned());
    let mut config = NatsConfig::new(url.trim(), node);
    if let Some(stream) = given(&a.nats_stream) {
        config.stream = stream.trim().to_owned();
    }
    if let Some(prefix) = given(&a.nats_subject_prefix) {
        config.subject_prefix = prefix.trim().to_owned();
    }
    if let Some(buffer) = a.nats_buffer {
        config.buffer = buffer;
    }
    config.validate().map_err(ServerError::Nats)?;
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_prefects() {
        let cfg = ServerConfig::try_from(ServeArgs::default()).unwrap();
        assert_eq!(cfg.port, 4200);
        assert_eq!(cfg.bus.worker_inactivity_multiple, 3);
        assert_eq!(cfg.bus.fallback_heartbeat_interval, Duration::from_secs(30));
        assert_eq!(cfg.bus.queue_poll_timeout, Duration::from_secs(60));
        assert_eq!(cfg.body_limit, DEFAULT_BODY_LIMIT);
    }

    #[test]
    fn the_binary_keeps_its_state_in_a_data_directory_unless_told_not_to() {
        let c = ServerConfig::try_from(ServeArgs::default()).unwrap();
        assert_eq!(c.storage, Storage::Dir(default_data_dir()));
        assert!(default_data_dir().ends_with("workbus"));
        let dir = ServeArgs {
            data_dir: Some("/srv/workbus".into()),
            ..ServeArgs::default()
        };
        let c = ServerConfig::try_from(dir).unwrap();
        assert_eq!(c.storage, Storage::Dir("/srv/workbus".into()));
        let mem = ServeArgs {
            in_memory: true,
            ..ServeArgs::default()
        };
        assert_eq!(
            ServerConfig::try_from(mem).unwrap().storage,
            Storage::InMemory
        );
        let both = ServeArgs {
            in_memory: true,
            data_dir: Some("/srv/workbus".into()),
            ..ServeArgs::default()
        };
        assert!(ServerConfig::try_from(both).is_err());
        let retention = ServeArgs {
            in_memory: true,
            event_retention_days: 0.0,
            ..ServeArgs::default()
        };
        assert!(ServerConfig::try_from(retention).is_err());
        // The library's default stays in memory.
        assert_eq!(ServerConfig::default().storage, Storage::InMemory);
        assert_eq!(ServerConfig::loopback().storage, Storage::InMemory);
    }

    #[test]
    fn fractions_of_seconds_and_bad_values() {
        let args = ServeArgs {
            worker_fallback_heartbeat_seconds: 0.25,
            ..ServeArgs::default()
        };
        let cfg = ServerConfig::try_from(args).unwrap();
        assert_eq!(
            cfg.bus.fallback_heartbeat_interval,
            Duration::from_millis(250)
        );
        for bad in [
            ServeArgs {
                worker_inactivity_multiple: 0,
                ..ServeArgs::default()
            },
            ServeArgs {
                queue_poll_timeout_seconds: 0.0,
                ..ServeArgs::default()
            },
            ServeArgs {
                worker_fallback_heartbeat_seconds: f64::NAN,
                ..ServeArgs::default()
            },
            ServeArgs {
                api_auth_string: Some(String::new()),
                ..ServeArgs::default()
            },
            ServeArgs {
                body_limit_bytes: 0,
                ..ServeArgs::default()
            },
            ServeArgs {
                websocket_client_buffer: 0,
                ..ServeArgs::default()
            },
        ] {
            assert!(ServerConfig::try_from(bad).is_err());
        }
    }

    /// The flags of `serve`, parsed by clap as the binary parses them.
    fn parse(flags: &[&str]) -> Result<ServeArgs, clap::Error> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let argv = std::iter::once("workbus").chain(flags.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.serve)
    }

    #[test]
    fn no_nats_url_means_the_bridge_is_off() {
        let off = |a: ServeArgs| ServerConfig::try_from(a).unwrap().nats.is_none();
        assert!(off(ServeArgs {
            node: Some("a".into()),
            ..ServeArgs::default()
        }));
        assert!(off(ServeArgs {
            nats_url: Some("  ".into()),
            ..ServeArgs::default()
        }));
    }

    #[test]
    fn nats_settings_are_read_from_the_flags() {
        let a = parse(&[
            "--nats-url",
            "nats://h:1",
            "--node",
            "n1",
            "--nats-stream",
            "S",
            "--nats-subject-prefix",
            "a.b",
            "--nats-buffer",
            "7",
        ])
        .unwrap();
        let c = ServerConfig::try_from(a).unwrap().nats.unwrap();
        assert_eq!(
            (c.url.as_str(), c.node.as_str(), c.stream.as_str()),
            ("nats://h:1", "n1", "S")
        );
        assert_eq!((c.subject_prefix.as_str(), c.buffer), ("a.b", 7));
        // Without --node, a unique name.
        let a = parse(&["--nats-url", "nats://h:1"]).unwrap();
        let c = ServerConfig::try_from(a).unwrap().nats.unwrap();
        assert!(c.node.contains(&std::process::id().to_string()));
        assert_eq!(c.buffer, 10_000);
    }

    #[test]
    fn bad_nats_settings_are_refused() {
        assert!(parse(&["--nats-url", "x", "--nats-buffer", "many"]).is_err());
        let a = ServeArgs {
            nats_url: Some("nats://h:1".into()),
            nats_stream: Some("a.b".into()),
            ..ServeArgs::default()
        };
        let err = ServerConfig::try_from(a).err().unwrap();
        assert!(matches!(
            err,
            ServerError::Nats(workbus_nats::Error::InvalidConfig {
                setting: "stream",
                ..
            })
        ));
        assert!(err.is_config());
    }

    #[test]
    fn subscribers_from_the_flags() {
        use workbus_subscribers::logger::LogOutput;
        let a = parse(&[
            "--log-format",
            "json",
            "--log-file",
            "/tmp/events.jsonl",
            "--webhook-url",
            "http://127.0.0.1:9/hook",
            "--webhook-secret",
            "whsec_c2VjcmV0",
        ])
        .unwrap();
        let c = ServerConfig::try_from(a).unwrap().subscribers.unwrap();
        assert_eq!(c.log_format, workbus_subscribers::LogFormat::Json);
        match c.logger.unwrap().output {
            LogOutput::JsonLines(JsonTarget::File(p)) => {
                assert_eq!(p.to_str(), Some("/tmp/events.jsonl"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.webhooks.len(), 1);
        assert_eq!(c.webhooks[0].name, "webhook");
        assert_eq!(c.webhooks[0].url, "http://127.0.0.1:9/hook");
        assert_eq!(c.webhooks[0].secret.as_deref(), Some("whsec_c2VjcmV0"));
        assert!(!c.webhooks[0].refuse_private_addresses);

        // Nothing set: the pretty logger and the metrics; blank values count as unset.
        let a = ServeArgs {
            webhook_url: Some(" ".into()),
            log_file: Some("/tmp/ignored-without-json".into()),
            ..ServeArgs::default()
        };
        let c = ServerConfig::try_from(a).unwrap().subscribers.unwrap();
        assert_eq!(c.log_format, workbus_subscribers::LogFormat::Pretty);
        assert!(matches!(c.logger.unwrap().output, LogOutput::Tracing));
        assert!(c.metrics.is_some());
        assert!(c.webhooks.is_empty());
    }

    #[test]
    fn bad_subscriber_settings_are_refused() {
        assert!(parse(&["--log-format", "xml"]).is_err());
        // `WORKBUS_WEBHOOK_REFUSE_PRIVATE=maybe`: tests/binary.rs, as it takes the environment.
        let secret_alone = ServeArgs {
            webhook_secret: Some("whsec_c2VjcmV0".into()),
            ..ServeArgs::default()
        };
        let err = ServerConfig::try_from(secret_alone)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("WORKBUS_WEBHOOK_URL is not set"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
        // The SSRF guard covers the webhook of --webhook-url too.
        let guarded = ServeArgs {
            webhook_url: Some("http://127.0.0.1:4300/hook".into()),
            webhook_refuse_private: true,
            ..ServeArgs::default()
        };
        let err = ServerConfig::try_from(guarded).err().unwrap();
        assert!(err.is_config());
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }
}
