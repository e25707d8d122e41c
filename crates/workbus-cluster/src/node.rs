//! A node of the fleet: joins, keeps its membership, serves the calls routed
//! to it, and moves pools to their owners as members come and go.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::{CreateStreamError, CreateStreamErrorKind};
use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use workbus_core::{Bus, BusBuilder, Call, SystemClock};

use crate::lead::Leadership;
use crate::members::{Members, Renewal};
use crate::names::{automations_bucket, call_subject, leaders_bucket, nodes_bucket, pools_bucket};
use crate::router::{FleetRouter, Reply, Shared, Taken};
use crate::stats::{bump, ClusterStats};
use crate::store::KvStore;
use crate::tables::KvTables;
use crate::{ClusterConfig, ClusterError};

/// A node of a fleet, and the [`Bus`] it serves every pool of the fleet through.
///
/// Dropping it stops its work at once, as a crash would (its pools move
/// after the lease); [`leave`](Node::leave) hands its pools over first.
pub struct Node {
    shared: Arc<Shared>,
    bus: Bus,
    leaders: kv::Store,
    tables: KvTables,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("cluster", &self.shared.config.cluster)
            .field("node", &self.shared.config.node)
            .finish()
    }
}

fn setup(what: impl Into<String>) -> impl FnOnce(String) -> ClusterError {
    let what = what.into();
    move |reason| ClusterError::Setup { what, reason }
}

/// Whether NATS failed to make a stream on its side: a 5xx answer (it answers
/// 500 "error creating store for stream" for a store it could not make yet)
/// or none in time. Another try may succeed; a 4xx refusal would not.
fn transient(e: &CreateStreamError) -> bool {
    match e.kind() {
        CreateStreamErrorKind::JetStream(e) => e.code() >= 500,
        CreateStreamErrorKind::TimedOut => true,
        _ => false,
    }
}

/// Gets or creates `stream`, asking again after a [`transient`] failure,
/// from 20 ms doubling to 1 s apart, until `patience` has passed.
async fn stream_retried(
    js: &jetstream::Context,
    stream: jetstream::stream::Config,
    patience: Duration,
) -> Result<jetstream::stream::Stream, CreateStreamError> {
    let give_up = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(20);
    loop {
        match js.get_or_create_stream(stream.clone()).await {
            Err(e) if transient(&e) && tokio::time::Instant::now() + delay < give_up => {
                tracing::warn!(stream = %stream.name, error = %e, ?delay, "NATS failed to make a bucket; trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            done => return done,
        }
    }
}

/// Opens a KV bucket, creating it if needed (for up to `patience` while NATS
/// fails on its side). The bucket's stream is made here, as async-nats's
/// `create_key_value` would, because that call first reads the account's
/// info in a form NATS 2.9 does not answer.
async fn bucket(
    js: &jetstream::Context,
    config: kv::Config,
    patience: Duration,
) -> Result<kv::Store, ClusterError> {
    let name = config.bucket.clone();
    let stream = jetstream::stream::Config {
        name: format!("KV_{name}"),
        description: Some(config.description),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: config.history.max(1),
        max_messages: -1,
        max_bytes: -1,
        max_message_size: -1,
        max_age: config.max_age,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: 1,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    };
    stream_retried(js, stream, patience)
        .await
        .map_err(|e| setup(format!("bucket {name}"))(e.to_string()))?;
    js.get_key_value(&name)
        .await
        .map_err(|e| setup(format!("bucket {name}"))(e.to_string()))
}

impl Node {
    /// Joins the fleet: connects, takes this node's membership, and starts a
    /// bus built by `builder` whose calls for pools held elsewhere are routed
    /// to their owners. The node then takes over the pools it owns.
    pub async fn join(config: ClusterConfig, builder: BusBuilder) -> Result<Node, ClusterError> {
        config.validate()?;
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(config.connect_timeout)
            .name(format!("workbus-cluster {}", config.node))
            .connect(&config.url)
            .await
            .map_err(|source| ClusterError::Connect {
                url: config.url.clone(),
                source,
            })?;
        let js = jetstream::new(client.clone());
        // A bucket NATS fails to make is asked for again as long as a connection may take.
        let patience = config.connect_timeout;
        let nodes = bucket(
            &js,
            kv::Config {
                bucket: nodes_bucket(&config.cluster),
                description: "workbus: the fleet's live nodes".into(),
                history: 1,
                max_age: config.lease,
                ..Default::default()
            },
            patience,
        )
        .await?;
        let pools = bucket(
            &js,
            kv::Config {
                bucket: pools_bucket(&config.cluster),
                description: "workbus: a document per work pool".into(),
                history: 1,
                ..Default::default()
            },
            patience,
        )
        .await?;
        let leaders = bucket(
            &js,
            kv::Config {
                bucket: leaders_bucket(&config.cluster),
                description: "workbus: who leads the fleet's work that runs once".into(),
                history: 1,
                max_age: config.lease,
                ..Default::default()
            },
            patience,
        )
        .await?;
        let tables = KvTables::new(
            bucket(
                &js,
                kv::Config {
                    bucket: automations_bucket(&config.cluster),
                    description: "workbus: the fleet's automations and blocks".into(),
                    history: 1,
                    ..Default::default()
                },
                patience,
            )
            .await?,
        );
        let stats = Arc::new(ClusterStats::default());
        let members = Members::join(nodes, &config.node, config.lease, stats.clone()).await?;
        let store = KvStore::new(
            pools.clone(),
            &config.node,
            Arc::new(SystemClock),
            stats.clone(),
        );
        let shared = Arc::new(Shared::new(
            stats,
            config.clone(),
            client.clone(),
            store.clone(),
            members,
        ));
        let watch = pools
            .watch_all_from_revision(1)
            .await
            .map_err(|e| setup("a watch on the pools bucket")(e.to_string()))?;
        let calls = client
            .subscribe(call_subject(&config.cluster, &config.node))
            .await
            .map_err(|e| setup("the call subject")(e.to_string()))?;
        let bus = builder
            .router(Arc::new(FleetRouter(shared.clone())))
            .open(Arc::new(store))?;

        let mut tasks = Vec::new();
        {
            let shared = shared.clone();
            tasks.push(actix::spawn(async move {
                // The watch ends if its consumer is lost: watch again, from the first entry.
                let mut watch = Some(watch);
                loop {
                    if let Some(w) = watch.take() {
                        shared.view.follow(w).await;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match pools.watch_all_from_revision(1).await {
                        Ok(w) => watch = Some(w),
                        Err(error) => tracing::warn!(%error, "cannot watch the fleet's pools yet"),
                    }
                }
            }));
        }
        tasks.push(actix::spawn(serve_calls(
            shared.clone(),
            bus.clone(),
            calls,
        )));
        tasks.push(actix::spawn(keep_membership(shared.clone(), bus.clone())));
        tasks.push(actix::spawn(rebalance(shared.clone(), bus.clone())));
        tracing::info!(cluster = %config.cluster, node = %config.node, "joined the fleet");
        Ok(Node {
            shared,
            bus,
            leaders,
            tables,
            tasks,
        })
    }

    /// The bus: every call for every pool of the fleet, served here or at its owner.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.shared.config.node
    }

    /// This node's counters.
    pub fn stats(&self) -> &Arc<ClusterStats> {
        &self.shared.stats
    }

    /// Takes part in leading `name` (one node of the fleet at a time; see
    /// [`Leadership`]).
    pub fn lead(&self, name: &str) -> Leadership {
        Leadership::start(
            self.leaders.clone(),
            name,
            &self.shared.config.node,
            self.shared.config.lease,
        )
    }

    /// The fleet's automations and blocks, kept in JetStream KV.
    pub fn automations_store(&self) -> KvTables {
        self.tables.clone()
    }

    /// The NATS connection of this node (for requests between nodes).
    pub fn client(&self) -> &async_nats::Client {
        &self.shared.client
    }

    /// The fleet's name.
    pub fn cluster(&self) -> &str {
        &self.shared.config.cluster
    }

    /// The live nodes, as this node sees them.
    pub fn members(&self) -> Vec<String> {
        self.shared.members.live().to_vec()
    }

    /// The pools this node holds (owns) now.
    pub async fn held(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shared
            .store
            .held()
            .await
            .into_iter()
            .filter_map(|s| String::from_utf8(s).ok())
            .collect();
        names.sort_unstable();
        names
    }

    /// Leaves the fleet: stops taking calls, hands every pool it holds over
    /// (their last heartbeat times written), and removes its membership so
    /// the others take them at once.
    pub async fn leave(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        for scope in self.shared.store.held().await {
            let name = String::from_utf8_lossy(&scope).into_owned();
            hand_over(&self.shared, &self.bus, &name).await;
        }
        self.shared.members.leave().await;
        let _ = self.shared.client.flush().await;
        tracing::info!(node = %self.shared.config.node, "left the fleet");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Writes the pool's last times, stops its actors and marks it free.
async fn hand_over(shared: &Shared, bus: &Bus, name: &str) {
    if let Err(error) = bus.release(name).await {
        tracing::warn!(pool = %name, %error, "the pool's last times could not be written");
    }
    match shared.store.hand_over(name.as_bytes()).await {
        Ok(()) => tracing::info!(node = %shared.members.me(), pool = %name, "handed the pool over"),
        Err(error) => tracing::warn!(pool = %name, %error, "handing the pool over failed"),
    }
}

/// Serves the calls routed to this node, each in its own task.
async fn serve_calls(shared: Arc<Shared>, bus: Bus, mut calls: async_nats::Subscriber) {
    while let Some(msg) = calls.next().await {
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let (shared, bus) = (shared.clone(), bus.clone());
        actix::spawn(async move {
            let reply = match serde_json::from_slice::<Call>(&msg.payload) {
                Ok(call) => match shared.serve_here(&bus, &call).await {
                    Some(answer) => Reply::Answer(answer),
                    None => Reply::Retry,
                },
                Err(e) => Reply::Answer(Err(workbus_core::Error::CorruptRecord {
                    what: "a call from another node".into(),
                    reason: e.to_string(),
                })),
            };
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            if let Err(error) = shared.client.publish(reply_to, body.into()).await {
                tracing::debug!(%error, "could not answer a routed call");
            }
        });
    }
}

/// Renews this node's key every third of the lease, and lists the members
/// every quarter. A lapsed lease lets every pool go at once, then joins again.
async fn keep_membership(shared: Arc<Shared>, bus: Bus) {
    let lease = shared.config.lease;
    let mut renew = tokio::time::interval(lease / 3);
    let mut scan = tokio::time::interval(lease / 4);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = renew.tick() => {
                if shared.members.renew().await == Renewal::Lapsed {
                    bump(&shared.stats.lapsed);
                    for scope in shared.store.held().await {
                        shared.store.forget(&scope).await;
                        let _ = bus.release(&String::from_utf8_lossy(&scope)).await;
                    }
                    shared.members.rejoin().await;
                }
            }
            _ = scan.tick() => { shared.members.scan().await; }
        }
    }
}

/// Moves pools to their owners: when the members change (and every lease,
/// to catch what a change left), hands over the pools another node owns now
/// and takes over the pools this node owns and nobody live holds.
async fn rebalance(shared: Arc<Shared>, bus: Bus) {
    let mut changed = shared.members.subscribe();
    let mut tick = tokio::time::interval(shared.config.lease.max(Duration::from_millis(500)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            _ = tick.tick() => {}
        }
        let me = shared.members.me().to_owned();
        for scope in shared.store.held().await {
            let name = String::from_utf8_lossy(&scope).into_owned();
            if shared.members.owner(&name) != me {
                hand_over(&shared, &bus, &name).await;
            }
        }
        for name in shared.view.names() {
            if shared.members.owner(&name) == me && !bus.holds(&name) {
                match shared.take(&bus, &name).await {
                    Ok(Taken::Held | Taken::Missing | Taken::Wait) => {}
                    Err(error) => {
                        tracing::warn!(pool = %name, %error, "could not take the pool over")
                    }
                }
            }
        }
    }
}
