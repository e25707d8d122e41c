//! The workbus server: Prefect's work-pool, work-queue, worker and event API
//! over a [`workbus_core::Bus`], so that Prefect's own workers and clients
//! use it unchanged.
//!
//! [`Server::bind`] starts the bus, the event history and the HTTP server,
//! and answers with a handle that knows its bound address (bind port 0 for a
//! free one). [`app`] builds the actix-web application alone, for embedding.
//!
//! # Examples
//!
//! ```no_run
//! use workbus_server::{Server, ServerConfig};
//!
//! actix_rt::System::new().block_on(async {
//!     let server = Server::bind(ServerConfig::loopback()).await.unwrap();
//!     println!("PREFECT_API_URL={}", server.api_url());
//!     server.run_until_signal().await.unwrap();
//! });
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod auth;
mod automations;
mod blocks;
pub mod body;
pub mod config;
pub mod demo;
mod error;
pub mod events;
pub mod hub;
mod lead;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod request;
pub mod response;
mod ui;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Condition, Logger, NormalizePath};
use actix_web::{guard, web, App, HttpServer, Resource};
use workbus_core::{Bus, SubscribeOptions};
use workbus_nats::NatsBridge;
use workbus_subscribers::Subscribers;

pub use config::{LogFormat, ServeArgs, ServerConfig, Storage, WebsocketLimits};
pub use error::{ApiError, ServerError};
pub use hub::{History, StreamStats};
pub use lead::{AutomationsSlot, Fleet};
pub use ws::channel::{ChannelStats, WorkerChannels};

/// Extra routes for the application (the metrics endpoint, say), registered at the root.
pub type ExtraServices = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The bus.
    pub bus: Bus,
    /// The history and websocket fan-out.
    pub history: Addr<History>,
    /// Counters of the event streams.
    pub stream_stats: Arc<StreamStats>,
    /// The auth string, when auth is on.
    pub auth: Option<Arc<str>>,
    /// Events queued per websocket client before it is cut off.
    pub ws_buffer: usize,
    /// Largest request body.
    pub body_limit: usize,
    /// Bytes of request bodies all requests together may hold while they are read.
    pub body_budget: body::BodyBudget,
    /// Websocket connections open at once, at most.
    pub max_ws_clients: usize,
    /// Websocket handshakes under way at once, and their deadlines.
    pub limits: config::WebsocketLimits,
    /// The subscribers' metrics, rendered at `GET /metrics`.
    pub metrics: Option<workbus_subscribers::metrics::Metrics>,
    /// The NATS bridge's counters, when it runs.
    pub nats: Option<workbus_nats::BridgeStats>,
    /// The server's own metric families (streams, history, client faults,
    /// NATS), rendered at `GET /metrics` after the subscribers' ones.
    pub server_metrics: metrics::ServerMetrics,
    /// The workers connected on the worker channel, by pool.
    pub channels: Addr<ws::channel::WorkerChannels>,
    /// Counters of the worker channel (and of REST heartbeats, to compare).
    pub channel_stats: Arc<ws::channel::ChannelStats>,
    /// The automations this node evaluates and serves: all of them on a single
    /// node; in a fleet, those of the leader (none on the other nodes, which
    /// forward the automation routes to it).
    pub automations: AutomationsSlot,
    /// In a fleet: where the automation routes are forwarded.
    pub fleet: Option<Arc<lead::Fleet>>,
}

async fn not_found() -> actix_web::HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::NotFound)
}

async fn method_not_allowed() -> actix_web::HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed)
}

/// A resource that answers 405 in JSON for methods it does not route.
fn res(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// A fixed path that shadows a `{name}` path for one method only: for other methods the
/// router falls through to the named resource, so a pool called `filter` can still be
/// read, as on Prefect's router.
fn only(method: Method, path: &str) -> Resource {
    web::resource(path).guard(guard::Method(method))
}

/// The `/api` routes.
fn api_scope() -> actix_web::Scope {
    use api::*;
    web::scope("/api")
        // The router tries a scope's resources in order, a pattern match each (a regex
        // for a `{name}`): a worker's two calls, every few seconds from every worker,
        // come first. No resource before them could match their paths, so moving them
        // changes no answer.
        .service(only(Method::POST, "/work_pools/{name}/workers/heartbeat").to(heartbeat))
        .service(res("/work_pools/{name}/get_scheduled_flow_runs").post(get_scheduled_flow_runs))
        // HEAD too, as Starlette answers it on every GET route (load balancers probe with it).
        .service(res("/health").get(health).route(web::head().to(health)))
        .service(res("/ready").get(ready).route(web::head().to(ready)))
        .service(res("/version").get(version))
        .service(res("/admin/version").get(admin_version))
        .service(res("/csrf-token").get(csrf_token))
        .service(res("/work_pools").post(create_pool))
        .service(only(Method::POST, "/work_pools/filter").to(filter_pools))
        .service(
            res("/work_pools/{name}")
                .get(read_pool)
                .patch(update_pool)
                .delete(delete_pool),
        )
        .service(only(Method::POST, "/work_pools/{name}/workers/filter").to(filter_workers))
        .service(only(Method::GET, "/work_pools/{name}/workers/connect").to(ws::channel::connect))
        .service(res("/work_pools/{name}/workers/{worker}").delete(delete_worker))
        .service(res("/work_pools/{name}/queues").post(create_queue))
        .service(only(Method::POST, "/work_pools/{name}/queues/filter").to(filter_queues))
        .service(
            res("/work_pools/{name}/queues/{queue}")
                .get(read_queue)
                .patch(update_queue)
                .delete(delete_queue),
        )
        .service(res("/work_queues").post(legacy_create_queue))
        .service(
            res("/work_queues/{id}")
                .get(legacy_read_queue)
                .patch(legacy_update_queue)
                .delete(legacy_delete_queue),
        )
        .service(res("/work_queues/{id}/get_runs").post(legacy_get_runs))
        .service(res("/flow_runs/filter").post(empty_list))
        .service(res("/deployments/filter").post(empty_list))
        .service(res("/automations").post(automations::create))
        .service(only(Method::POST, "/automations/filter").to(automations::filter))
        .service(only(Method::POST, "/automations/count").to(automations::count))
        .service(res("/automations/related-to/{resource:.*}").get(automations::related_to))
        .service(res("/automations/owned-by/{resource:.*}").delete(automations::delete_owned_by))
        .service(
            res("/automations/{id}")
                .get(automations::read)
                .put(automations::replace)
                .patch(automations::patch)
                .delete(automations::delete),
        )
        .service(res("/block_types").post(blocks::create_type))
        .service(res("/block_types/filter").post(blocks::filter_types))
        .service(res("/block_types/slug/{slug}").get(blocks::type_by_slug))
        .service(res("/block_types/slug/{slug}/block_documents").get(blocks::documents_of_type))
        .service(
            res("/block_types/slug/{slug}/block_documents/name/{name}")
                .get(blocks::document_by_name),
        )
        .service(
            res("/block_types/{id}")
                .get(blocks::read_type)
                .patch(blocks::update_type),
        )
        .service(res("/block_schemas").post(blocks::create_schema))
        .service(res("/block_schemas/filter").post(blocks::filter_schemas))
        .service(res("/block_schemas/checksum/{checksum}").get(blocks::schema_by_checksum))
        .service(res("/block_schemas/{id}").get(blocks::read_schema))
        .service(res("/block_documents").post(blocks::create_document))
        .service(res("/block_documents/filter").post(blocks::filter_documents))
        .service(
            res("/block_documents/{id}")
                .get(blocks::read_document)
                .patch(blocks::update_document)
                .delete(blocks::delete_document),
        )
        .service(res("/events").post(ingest_events))
        .service(res("/events/filter").post(events::filter))
        .service(res("/events/filter/next").get(events::next))
        .service(res("/events/out").get(ws::events_out))
        .service(res("/events/in").get(ws::events_in))
}

/// The actix-web application: every route under `/api`, then `extra` at the root,
/// behind path normalisation (a trailing slash is optional), auth and request logging.
pub fn app(
    state: AppState,
    extra: &[ExtraServices],
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = state.body_limit;
    let auth = state.auth.clone();
    let (has_auth, in_fleet) = (auth.is_some(), state.fleet.is_some());
    let budget = state.body_budget.clone();
    let mut app = App::new()
        .app_data(web::Data::new(state))
        .app_data(body::BodyLimit(limit))
        .app_data(budget)
        .app_data(body::json_config(limit))
        .app_data(web::PayloadConfig::new(limit))
        .app_data(body::path_config())
        .app_data(body::query_config());
    if let Some(auth) = auth {
        app = app.app_data(web::Data::new(auth::AuthString(auth)));
    }
    let extra = extra.to_vec();
    // Extra services first: a `/metrics` of the embedder's wins over the built-in one.
    app.configure(move |cfg| extra.iter().for_each(|f| f(cfg)))
        .service(res("/metrics").get(metrics::metrics))
        .configure(ui::routes)
        .service(api_scope())
        .default_service(web::to(not_found))
        // A middleware of `from_fn` boxes a future and a service call on every
        // request, even one it passes through: the forwarding is there only in a
        // fleet and the check only with an auth string, as the access log below.
        .wrap(Condition::new(in_fleet, from_fn(lead::forward)))
        .wrap(Condition::new(has_auth, from_fn(auth::require_auth)))
        .wrap(NormalizePath::trim())
        // The access log renders each request's line whether or not it is written: when
        // `workbus::http` is off (RUST_LOG), it is left out, and costs nothing.
        .wrap(Condition::new(
            log::log_enabled!(target: "workbus::http", log::Level::Info),
            Logger::new("%r %s %Dms").log_target("workbus::http"),
        ))
}

/// Builds a [`Server`]: its settings, an existing bus, extra routes.
pub struct ServerBuilder {
    config: ServerConfig,
    bus: Option<Bus>,
    services: Vec<ExtraServices>,
}

impl ServerBuilder {
    /// Serves this bus instead of starting a new one (its own settings then apply).
    pub fn bus(mut self, bus: Bus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Adds routes at the root of the application (the metrics endpoint's hook).
    pub fn service(mut self, f: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static) -> Self {
        self.services.push(Arc::new(f));
        self
    }

    /// Starts the bus (unless given one), the history, the subscribers, the NATS
    /// bridge (when configured) and the HTTP server, in that order, so that no
    /// request is served before every subscriber listens.
    /// Call it inside an actix system; the bus's actors run on the current arbiter.
    pub async fn bind(self) -> Result<Server, ServerError> {
        let cfg = self.config;
        let mut node = None;
        let (bus, stored, kept) = match (self.bus, &cfg.cluster) {
            (Some(bus), _) => (bus, Vec::new(), None),
            (None, Some(cluster)) => {
                let joined = workbus_cluster::Node::join(
                    cluster.clone(),
                    Bus::builder().config(cfg.bus.clone()),
                )
                .await
                .map_err(ServerError::Cluster)?;
                let bus = joined.bus().clone();
                node = Some(joined);
                (bus, Vec::new(), None)
            }
            (None, None) => open_bus(&cfg)?,
        };
        let stream_stats = Arc::new(StreamStats::default());
        let history = {
            let (cap, bytes, stats) = (
                cfg.event_history,
                cfg.event_history_bytes,
                stream_stats.clone(),
            );
            History::create(move |_| {
                let mut history = History::new(cap, bytes, stats);
                history.preload(stored);
                history
            })
        };
        // Held by the server: its history leaves the bus when the server is dropped.
        let history_subscription = bus
            .subscribe(
                history.clone().recipient(),
                SubscribeOptions::new("history"),
            )
            .await?;
        // The worker channel's fan-out: one subscription for every connected worker.
        let channels = ws::channel::WorkerChannels::default().start();
        let channels_subscription = bus
            .subscribe(
                channels.clone().recipient(),
                SubscribeOptions::new("worker-channels")
                    .filter(workbus_core::EventFilter::prefix(["prefect.work-pool."])),
            )
            .await?;
        let channel_stats = Arc::new(ws::channel::ChannelStats::default());
        // Every node of a fleet sees every event: one node, the leader, evaluates
        // the automations; the others forward their routes to it.
        let mut lead = None;
        let mut fleet = None;
        let automations = match (&node, kept) {
            (Some(node), _) => {
                let slot = AutomationsSlot::default();
                let (l, f) = lead::Lead::start(node, bus.clone(), slot.clone());
                lead = Some(l);
                fleet = Some(Arc::new(f));
                slot
            }
            (None, kept) => {
                let config = workbus_automations::AutomationsConfig::default();
                let started = match kept {
                    Some((store, records)) => {
                        workbus_automations::Automations::open(&bus, config, store, records).await
                    }
                    None => workbus_automations::Automations::start_with(&bus, config).await,
                };
                AutomationsSlot::holding(Some(started.map_err(|e| match e {
                    workbus_automations::AutomationError::Bus(e) => ServerError::Bus(e),
                    other => ServerError::Automations(other),
                })?))
            }
        };
        let subscribers = match cfg.subscribers.clone() {
            Some(c) => Some(
                workbus_subscribers::install(&bus, c)
                    .await
                    .map_err(ServerError::Subscribers)?,
            ),
            None => None,
        };
        let bridge = match cfg.nats.clone() {
            Some(c) => match NatsBridge::start(&bus, c).await {
                Ok(b) => Some(b),
                Err(e) => {
                    if let Some(s) = subscribers {
                        s.shutdown().await;
                    }
                    return Err(ServerError::Nats(e));
                }
            },
            None => None,
        };
        let state = AppState {
            bus: bus.clone(),
            history,
            stream_stats: stream_stats.clone(),
            auth: cfg.api_auth_string.as_deref().map(Arc::from),
            ws_buffer: cfg.websocket_client_buffer.max(1),
            body_limit: cfg.body_limit,
            body_budget: body::BodyBudget::new(cfg.max_body_bytes_in_flight.max(cfg.body_limit)),
            max_ws_clients: cfg.max_websocket_clients.max(1),
            limits: config::WebsocketLimits {
                max_handshakes: cfg.websocket_limits.max_handshakes.max(1),
                ..cfg.websocket_limits
            },
            metrics: subscribers.as_ref().and_then(|s| s.metrics().cloned()),
            server_metrics: metrics::ServerMetrics::new(
                stream_stats.clone(),
                channel_stats.clone(),
                bridge.as_ref().map(NatsBridge::stats),
                node.as_ref().map(|n| n.stats().clone()),
                automations.clone(),
            ),
            nats: bridge.as_ref().map(NatsBridge::stats),
            channels,
            channel_stats,
            automations,
            fleet,
        };
        let services = self.services;
        let app_state = state.clone();
        let mut http = HttpServer::new(move || app(app_state.clone(), &services))
            .shutdown_timeout(cfg.shutdown_timeout.as_secs())
            .disable_signals();
        if cfg.http_workers > 0 {
            http = http.workers(cfg.http_workers);
        }
        let addr = SocketAddr::new(cfg.host, cfg.port);
        let http = match http.bind(addr) {
            Ok(http) => http,
            Err(source) => {
                stop_side_cars(bridge, subscribers).await;
                return Err(ServerError::Bind { addr, source });
            }
        };
        let addr = http.addrs().first().copied().unwrap_or(addr);
        if let (Some(lead), Some(node)) = (lead.as_mut(), node.as_ref()) {
            if let Err(error) = lead.serve(node, addr).await {
                tracing::error!(%error, "cannot take the automation requests forwarded to this node");
            }
        }
        let running = http.run();
        let handle = running.handle();
        let running = actix_rt::spawn(running);
        let demo = cfg.demo.then(|| actix_rt::spawn(demo::run(bus)));
        tracing::info!(%addr, "workbus listening; PREFECT_API_URL=http://{addr}/api");
        Ok(Server {
            addr,
            handle,
            running,
            state,
            demo,
            subscribers,
            bridge,
            node,
            lead,
            _subscriptions: [history_subscription, channels_subscription],
        })
    }
}

/// What the server opened: its bus, the stored events for its history, and the
/// store with its automations' and blocks' records (none in memory).
type Opened = (
    Bus,
    Vec<workbus_core::SharedEvent>,
    Option<(Arc<dyn workbus_store::Store>, workbus_automations::Stored)>,
);

/// The bus of `cfg.storage`: in memory, or rebuilt from the store in the data
/// directory, with the newest of the stored events for the history.
fn open_bus(cfg: &ServerConfig) -> Result<Opened, ServerError> {
    let dir = match &cfg.storage {
        config::Storage::InMemory => {
            return Ok((
                Bus::builder().config(cfg.bus.clone()).start(),
                Vec::new(),
                None,
            ))
        }
        config::Storage::Dir(dir) => dir,
    };
    let store = workbus_store::RedbStore::open_with(dir, cfg.event_retention)
        .map_err(ServerError::Store)?;
    let mut contents = workbus_store::Store::load(&store).map_err(ServerError::Store)?;
    let events = std::mem::take(&mut contents.events);
    let automations = workbus_automations::Stored::take(&mut contents);
    let (pools, queues) = (contents.pools.len(), contents.queues.len());
    let store: Arc<dyn workbus_store::Store> = Arc::new(store);
    let bus = Bus::builder()
        .config(cfg.bus.clone())
        .restore(store.clone(), contents)?;
    // The history holds the newest `event_history` of them; the store keeps the rest.
    let skip = events.len().saturating_sub(cfg.event_history);
    let mut stored = Vec::with_capacity(events.len() - skip);
    for e in events.into_iter().skip(skip) {
        match workbus_core::Event::from_json(&e.json) {
            Ok(event) => stored.push(workbus_core::SharedEvent::with_json(
                event,
                e.json.into(),
                None,
            )),
            Err(error) => {
                tracing::warn!(%error, seq = e.seq, "a stored event cannot be read; left out")
            }
        }
    }
    tracing::info!(
        dir = %dir.display(),
        pools,
        queues,
        events = stored.len(),
        automations = automations.automations.len(),
        blocks = automations.blocks.len(),
        "state restored from the data directory"
    );
    Ok((bus, stored, Some((store, automations))))
}

/// Stops the NATS bridge (its source first, then it publishes what it holds),
/// then the subscribers (each drains: webhooks deliver or dead-letter within
/// their retry budget). The bridge goes first so that every remote event it
/// ingested still reaches the local subscribers.
async fn stop_side_cars(bridge: Option<NatsBridge>, subscribers: Option<Subscribers>) {
    if let Some(bridge) = bridge {
        match bridge.shutdown().await {
            Ok(stats) => tracing::debug!(
                published = stats.publisher.published(),
                lost = stats.publisher.lost(),
                "NATS bridge shut down"
            ),
            Err(error) => {
                tracing::warn!(%error, "NATS bridge shutdown incomplete (what it left is counted)")
            }
        }
    }
    if let Some(subscribers) = subscribers {
        subscribers.shutdown().await;
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    handle: ServerHandle,
    running: actix_rt::task::JoinHandle<std::io::Result<()>>,
    state: AppState,
    demo: Option<actix_rt::task::JoinHandle<()>>,
    subscribers: Option<Subscribers>,
    bridge: Option<NatsBridge>,
    /// The fleet this node is part of, if any.
    node: Option<workbus_cluster::Node>,
    /// Its part in leading the fleet's automations.
    lead: Option<lead::Lead>,
    /// The history's and the worker channel's: they leave the bus when the server is dropped.
    _subscriptions: [workbus_core::Subscription; 2],
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Starts a server with these settings.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        Self::builder(config).bind().await
    }

    /// Starts building a server.
    pub fn builder(config: ServerConfig) -> ServerBuilder {
        ServerBuilder {
            config,
            bus: None,
            services: Vec::new(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give Prefect as `PREFECT_API_URL`: `http://<addr>/api`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The bus it serves.
    pub fn bus(&self) -> &Bus {
        &self.state.bus
    }

    /// Counters of its event streams (websocket clients, cut-offs, history size).
    pub fn stream_stats(&self) -> &Arc<StreamStats> {
        &self.state.stream_stats
    }

    /// The subscribers' metrics (what `GET /metrics` renders), when they are installed.
    pub fn metrics(&self) -> Option<&workbus_subscribers::metrics::Metrics> {
        self.state.metrics.as_ref()
    }

    /// Counters of the worker channel.
    pub fn channel_stats(&self) -> &Arc<ws::channel::ChannelStats> {
        &self.state.channel_stats
    }

    /// The NATS bridge's counters, when it runs.
    pub fn nats_stats(&self) -> Option<&workbus_nats::BridgeStats> {
        self.state.nats.as_ref()
    }

    /// Serves until SIGINT or SIGTERM (or the HTTP server fails), then shuts down gracefully.
    pub async fn run_until_signal(mut self) -> Result<(), ServerError> {
        #[cfg(unix)]
        let mut term =
            actix_rt::signal::unix::signal(actix_rt::signal::unix::SignalKind::terminate())?;
        #[cfg(unix)]
        let terminate = term.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = actix_rt::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            _ = terminate => tracing::info!("SIGTERM: shutting down"),
            r = &mut self.running => {
                return match r {
                    Ok(r) => r.map_err(ServerError::Io),
                    Err(e) => Err(ServerError::Io(std::io::Error::other(e))),
                };
            }
        }
        self.shutdown().await
    }

    /// Stops gracefully, in this order, so that nothing in flight is lost:
    ///
    /// 1. the demo stops, websocket clients are closed (1001), the listener
    ///    closes and open requests get the shutdown timeout to finish;
    /// 2. in a fleet, the node hands its pools over (their last heartbeat
    ///    times written) and leaves, so the others serve them at once;
    /// 3. the bus is flushed: every event of a finished operation is with its subscribers;
    /// 4. the NATS bridge stops pulling and publishes every local event it holds
    ///    (within its own shutdown timeout; what is left is counted);
    /// 5. the subscribers drain and stop: log lines written, webhooks delivered or
    ///    dead-lettered within their retry budget.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        if let Some(demo) = &self.demo {
            demo.abort();
        }
        let _ = self.state.history.send(hub::DetachAll).await;
        let _ = self.state.channels.send(ws::channel::CloseAll).await;
        self.handle.stop(true).await;
        let result = match self.running.await {
            Ok(r) => r.map_err(ServerError::Io),
            Err(e) => Err(ServerError::Io(std::io::Error::other(e))),
        };
        if let Some(lead) = self.lead {
            lead.step_down().await;
        }
        if let Some(node) = self.node {
            node.leave().await;
        }
        let flushed = self.state.bus.flush().await;
        stop_side_cars(self.bridge, self.subscribers).await;
        flushed?;
        tracing::info!("workbus stopped");
        result
    }
}
